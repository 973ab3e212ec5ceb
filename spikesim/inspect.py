"""Summaries and previews of spike streams (what ``spikesim info`` and ``preview`` show)."""

from __future__ import annotations

import numpy as np

from .errors import InputError
from .stream import SpikeStream

RATE_PERCENTILES = (1, 5, 25, 50, 75, 95, 99)


def stream_info(stream: SpikeStream) -> dict:
    """Frames, duration, density, per-pixel rate percentiles, silent and saturated pixels.

    Rates are spikes per step; "always firing" pixels spike on every step.
    Counting uses the compiled popcount (nothing is decoded).
    """
    t, h, w = stream.shape
    counts = stream.counts() if t else np.zeros((h, w), dtype=np.int64)
    rate = counts / t if t else counts.astype(float)
    return {
        "source": stream.source,
        "frames": t,
        "height": h,
        "width": w,
        "readout_hz": stream.readout_hz,
        "duration_s": stream.duration_s,
        "spike_density": float(counts.sum() / (t * h * w)) if t else 0.0,
        "rate_percentiles": {f"p{p}": float(v) for p, v in
                             zip(RATE_PERCENTILES, np.percentile(rate, RATE_PERCENTILES))},
        "never_firing_pixels": int((counts == 0).sum()),
        "always_firing_pixels": int((counts == t).sum()) if t else 0,
    }


def shifted_window(length: int, center: int, window: int) -> tuple[int, int]:
    """Steps ``[start, stop)`` of ``min(window, length)`` steps centred on ``center``
    (``start = center − w//2``), shifted to lie inside ``[0, length)``, length kept.

    The one window convention of the toolkit (despike.md); callers validate ``center``.
    """
    w = min(int(window), int(length))
    start = min(max(int(center) - w // 2, 0), int(length) - w)
    return start, start + w


def window_bounds(length: int, center: int | None, window: int) -> tuple[int, int]:
    """Frames ``[c - w//2, c - w//2 + w)`` of a window centred on step ``center``.

    ``center`` defaults to the middle of the stream. A window that does not fit is an
    :class:`InputError` naming the stream length.
    """
    if window < 1:
        raise InputError("window", window, "a positive number of steps", "use e.g. --window 41")
    if length < 1:
        raise InputError("stream", "0 frames", "a stream with frames", "record a longer capture")
    center = length // 2 if center is None else int(center)
    if not 0 <= center < length:
        raise InputError("center", center, f"a step in [0, {length - 1}]",
                         f"the stream holds {length} steps")
    start = center - window // 2
    stop = start + window
    if start < 0 or stop > length:
        raise InputError("window", window,
                         f"a window of steps around {center} inside [0, {length})",
                         f"use --window {2 * min(center, length - center - 1) + 1} "
                         "or move --center")
    return start, stop


def window_mean(stream: SpikeStream, center: int | None = None, window: int = 41) -> np.ndarray:
    """Mean spikes per step over the window centred on ``center``: ``(H, W)`` float32."""
    start, stop = window_bounds(len(stream), center, window)
    return (stream.counts(start, stop) / float(stop - start)).astype(np.float32)


def animation_frames(stream: SpikeStream, window: int = 41, max_frames: int = 100) -> np.ndarray:
    """Window means at evenly spaced centres over the stream: ``(N, H, W)`` float32."""
    length = len(stream)
    window = min(window, length)
    first, last = window // 2, length - (window - window // 2)
    n = max(1, min(max_frames, last - first + 1))
    centers = np.linspace(first, last, n).round().astype(int)
    return np.stack([window_mean(stream, int(c), window) for c in centers])


def _display(values: np.ndarray, scale: str) -> np.ndarray:
    """Window means -> display values in [0, 1]: divided by their 99.5th percentile
    (one scale, zero stays zero), sRGB-encoded when ``scale == "srgb"``."""
    from .images import normalise, srgb_encode

    if scale not in ("linear", "srgb"):
        raise InputError("scale", scale, "linear or srgb", "pick one")
    out = np.clip(normalise(values), 0.0, 1.0)
    return srgb_encode(out) if scale == "srgb" else out


def preview_image(stream: SpikeStream, center: int | None = None, window: int = 41,
                  scale: str = "linear") -> np.ndarray:
    """The display image of ``spikesim preview``: ``(H, W)`` float32 in [0, 1]."""
    return _display(window_mean(stream, center, window), scale)


def preview_animation(stream: SpikeStream, window: int = 41, scale: str = "linear",
                      max_frames: int = 100) -> np.ndarray:
    """The display frames of ``spikesim preview -o X.gif``: ``(N, H, W)`` in [0, 1],
    one scale for all frames."""
    return _display(animation_frames(stream, window, max_frames), scale)
