"""Scenes that change over time: irradiance key frames ``(F, H, W)`` (lux) that
``spikesim.sensor.simulate_spikes`` spreads evenly over the readout steps and interpolates
linearly in time (physics.md §4, last paragraph).

- :func:`focus_sweep`: one static scene rendered at a sequence of focus distances.
- :func:`video_key_frames`: a sequence of (image, depth) frames (a video with depth),
  each defocused through the same lens.
- :func:`camera_translation`: a camera moving sideways, with parallax (near objects move
  more), each position defocused through the same lens.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .errors import InputError
from .optics import check_depth, sensor_distance
from .render import render_scene


def focus_sweep(image, depth, lens, pixel_pitch: float, illuminance: float,
                focus_distances) -> np.ndarray:
    """Defocused irradiance ``(F, H, W)`` float32 (lux) of one scene (``image`` (H, W)
    linear [0, 1], ``depth`` (H, W) metres) for each focus distance in metres."""
    dists = np.atleast_1d(np.asarray(focus_distances, dtype=np.float64))
    if dists.ndim != 1 or dists.size < 1:
        raise InputError("focus_distances", focus_distances, "a list of distances in metres",
                         "e.g. [0.5, 1, 2, 4]")
    frames = []
    for i, d in enumerate(dists):
        if not np.isfinite(d) or d <= lens.focal_length:
            raise InputError(f"focus_distances[{i}]", float(d),
                             f"a distance beyond the focal length ({lens.focal_length} m)",
                             "remove or increase it")
        lens_i = dataclasses.replace(lens, focus_distance=float(d))
        frames.append(render_scene(image, depth, lens_i, pixel_pitch, illuminance).irradiance)
    return np.stack(frames)


def video_key_frames(images, depths, lens, pixel_pitch: float,
                     illuminance: float) -> np.ndarray:
    """Defocused irradiance ``(F, H, W)`` float32 (lux) of video frames ``images``
    (F, H, W) linear [0, 1] with depth maps ``depths`` (F, H, W) metres (or one (H, W)
    map for all frames)."""
    imgs = np.asarray(images, dtype=np.float32)
    if imgs.ndim != 3:
        raise InputError("images", f"shape {imgs.shape}", "(F, H, W) frames",
                         "stack the frames along the first axis")
    deps = np.asarray(depths, dtype=np.float64)
    if deps.ndim == 2:
        deps = np.broadcast_to(deps, imgs.shape)
    if deps.shape != imgs.shape:
        raise InputError("depths", f"shape {deps.shape}", f"{imgs.shape} or {imgs.shape[1:]}",
                         "give one depth map per frame or one for all")
    return np.stack([render_scene(i, d, lens, pixel_pitch, illuminance).irradiance
                     for i, d in zip(imgs, deps)])


def parallax_shift_px(depth, lens, pixel_pitch: float, offset_m: float) -> np.ndarray:
    """Image displacement (pixels) of points at ``depth`` (metres) when the camera moves
    ``offset_m`` metres sideways: ``v_f · t / (s · p)`` (pinhole at the thin lens, the
    sensor at ``v_f``); the image moves opposite to the camera."""
    return -(sensor_distance(lens) * float(offset_m)) / (np.asarray(depth, np.float64)
                                                         * float(pixel_pitch))


def camera_translation(image, depth, lens, pixel_pitch: float, illuminance: float,
                       offset_m, frames: int = 8) -> np.ndarray:
    """Defocused irradiance ``(F, H, W)`` float32 (lux) of a static scene seen by a camera
    that moves from 0 to ``offset_m = (tx, ty)`` metres (x right, y down, in the sensor
    plane) over ``frames`` key frames.

    Each key frame backward-warps the scene and its depth by the parallax of every pixel
    (:func:`parallax_shift_px`, bilinear, edges repeated), so near objects move more than
    far ones; it then defocuses the warped scene. Backward warping with the pixel's own
    depth is exact for one depth and approximate at occlusion edges, where a thin band of
    the occluder's shift is used for the background (an accepted artefact for small
    motions; use video_key_frames for exact content).
    """
    return np.stack([render_scene(img_f, dep_f, lens, pixel_pitch, illuminance).irradiance
                     for img_f, dep_f in translated_views(image, depth, lens, pixel_pitch,
                                                          offset_m, frames)])


def translated_views(image, depth, lens, pixel_pitch: float, offset_m, frames: int = 8):
    """The scene and depth ``(H, W)`` seen from each of the ``frames`` camera positions
    of :func:`camera_translation` (before defocus), one ``(image, depth)`` at a time."""
    from scipy.ndimage import map_coordinates

    img = np.asarray(image, dtype=np.float32)
    dep = check_depth(depth, "depth", lens.focal_length)
    try:
        tx, ty = (float(v) for v in offset_m)
    except (TypeError, ValueError):
        raise InputError("offset_m", offset_m, "two numbers (tx, ty) in metres",
                         "e.g. (0.01, 0)") from None
    if not (np.isfinite(tx) and np.isfinite(ty)):
        raise InputError("offset_m", offset_m, "finite metres", "e.g. (0.01, 0)")
    if int(frames) < 2:
        raise InputError("frames", frames, "at least 2 key frames", "use e.g. 8")
    h, w = img.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    for a in np.linspace(0.0, 1.0, int(frames)):
        dx = parallax_shift_px(dep, lens, pixel_pitch, a * tx)
        dy = parallax_shift_px(dep, lens, pixel_pitch, a * ty)
        coords = np.stack([yy - dy, xx - dx])
        yield (map_coordinates(img, coords, order=1, mode="nearest").astype(np.float32),
               map_coordinates(dep, coords, order=1, mode="nearest"))
