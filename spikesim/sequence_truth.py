"""Ground truth over time of a simulated capture: ``spikesim render --truth-every N``.

A capture whose scene changes (``--focus-sweep``, ``--translate-m``) is simulated from
``F`` key frames of defocused irradiance, spread evenly over the ``T`` steps and
interpolated linearly in time (:func:`spikesim.sensor.key_frame_weights`). The truth at
step ``t`` is built by the same rule from the key frames' truths:

``sharp``
    the in-focus scene the camera sees at the key frame (linear [0, 1]): the scene
    itself for a focus sweep, the parallax-warped scene for a moving camera;
``sigma``
    the per-pixel PSF s.d. (px) of that key frame (its focus distance, its warped depth);
``defocused``
    the defocused irradiance over the illuminance (linear, the scale of ``sharp``):
    exactly what the sensor integrates at step ``t``.

Interpolating the key frames is what the simulation does to the irradiance, so
``defocused`` is exact; ``sharp`` is the sharp image whose defocus (per key frame) the
sensor sees, and ``sigma`` the blur of each key frame blended with the same weights.

File: ``sequence_truth.npz`` in the capture directory (docs/formats.md): ``steps`` (F,)
int64, ``sharp``, ``sigma``, ``defocused`` (F, H, W) float32, ``every`` and
``key_frame_steps`` (the steps where the key frames sit).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .render import render_scene

TRUTH_FILE = "sequence_truth.npz"


@dataclass
class KeyFrameTruth:
    """The truths of the ``F`` key frames, each ``(F, H, W)`` float32."""

    sharp: np.ndarray
    sigma: np.ndarray
    defocused: np.ndarray


def key_frame_truth(scene, lens, pixel_pitch: float, illuminance: float, focus_sweep=None,
                    translate_m=None, key_frames: int = 8) -> KeyFrameTruth:
    """Sharp, σ and defocused maps of every key frame of a capture, as
    :func:`spikesim.capture.render_capture` renders them (one key frame for a static
    scene)."""
    views = [(scene.image, scene.depth, lens)]
    if focus_sweep is not None:
        views = [(scene.image, scene.depth, dataclasses.replace(lens, focus_distance=float(d)))
                 for d in focus_sweep]
    elif translate_m is not None:
        from .timevary import translated_views

        views = [(img, dep, lens) for img, dep in
                 translated_views(scene.image, scene.depth, lens, pixel_pitch, translate_m,
                                  key_frames)]
    sharp, sigma, defocused = [], [], []
    for img, dep, lens_f in views:
        d = render_scene(img, dep, lens_f, pixel_pitch, illuminance)
        sharp.append(np.asarray(img, np.float32))
        sigma.append(d.sigma)
        defocused.append(d.irradiance / np.float32(illuminance))
    return KeyFrameTruth(np.stack(sharp), np.stack(sigma).astype(np.float32),
                         np.stack(defocused).astype(np.float32))


def truth_steps(steps: int, every) -> np.ndarray:
    """Steps ``0, every, 2 every, …`` below ``steps`` (int64)."""
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
        raise InputError("--truth-every", every, "a whole number of steps >= 1",
                         "e.g. --truth-every 64")
    return np.arange(0, int(steps), int(every), dtype=np.int64)


def truth_at_steps(keys: KeyFrameTruth, total_steps: int, steps) -> dict:
    """The truth at ``steps``: key frames interpolated as the sensor does. Returns the
    arrays of ``sequence_truth.npz``."""
    from .sensor import key_frame_weights

    frames = keys.sharp.shape[0]
    f0, w0, w1 = key_frame_weights(frames, int(total_steps))
    steps = np.asarray(steps, np.int64)
    out = {"steps": steps}
    for name in ("sharp", "sigma", "defocused"):
        k = getattr(keys, name)
        if frames == 1:
            out[name] = np.repeat(k, len(steps), axis=0)
            continue
        a, b = k[f0[steps]], k[f0[steps] + 1]
        out[name] = (w0[steps, None, None] * a + w1[steps, None, None] * b).astype(np.float32)
    out["key_frame_steps"] = (np.arange(frames, dtype=np.float64) * (total_steps - 1)
                              / max(frames - 1, 1))
    return out


def write_sequence_truth(path, arrays: dict, every: int, overwrite: bool = False):
    """Write ``sequence_truth.npz`` atomically (refused if it exists without ``overwrite``)."""
    from .atomic import save_npz

    return save_npz(path, overwrite, every=np.int64(every), **arrays)


def read_sequence_truth(path) -> dict:
    """Read ``sequence_truth.npz`` (no pickles) and check its shapes; arrays by key."""
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise InputError("truth", str(path), f"a {TRUTH_FILE} written by spikesim render "
                         "--truth-every", "render the capture again with --truth-every N")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise InputError("truth", str(path), f"a readable {TRUTH_FILE}",
                         f"the file is damaged ({type(exc).__name__}); render again") from None
    need = ("steps", "sharp", "sigma", "defocused")
    missing = [k for k in need if k not in arrays]
    n = arrays["steps"].shape[0] if "steps" in arrays else -1
    if missing or any(arrays[k].ndim != 3 or arrays[k].shape[0] != n for k in need[1:]):
        raise InputError("truth", str(path), "steps (F,) and sharp, sigma, defocused (F, H, W)",
                         "render the capture again with --truth-every N")
    return arrays
