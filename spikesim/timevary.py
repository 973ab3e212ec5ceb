"""Scenes that change over time: irradiance key frames ``(F, H, W)`` (lux) that
``spikesim.sensor.simulate_spikes`` spreads evenly over the readout steps and interpolates
linearly in time (physics.md §4, last paragraph).

- :func:`focus_sweep`: one static scene rendered at a sequence of focus distances.
- :func:`video_key_frames`: a sequence of (image, depth) frames (a video with depth),
  each defocused through the same lens.

A moving camera (parallax from a translation) is not implemented yet.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .errors import InputError
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
