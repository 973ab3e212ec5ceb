"""Real captures: no ground truth, so side-by-side images and no-reference figures.

Figures (computed on the sRGB display image in [0, 1], after the shared exposure step
``--exposure auto``, so every method is judged on the same scale):

- **mean gradient magnitude** ``G = mean(sqrt(gx² + gy²))`` with central differences
  (``numpy.gradient``, one-sided at the border), in display units per pixel: higher
  is sharper, but noise raises it too, so read it beside the images;
- **RMS contrast** (Peli 1990) ``C = sd(I)``, the population standard deviation of the
  display values ``I`` in [0, 1].

Neither is a quality score on its own: deconvolution raises both by sharpening and by
amplifying noise. They are reported as the paper reports its real-data contrast.
"""

from __future__ import annotations

import numpy as np

from spikesim.errors import InputError


def mean_gradient_magnitude(display) -> float:
    """Mean of ``|∇I|`` (central differences) of an ``(H, W)`` display image in [0, 1]."""
    img = _check(display)
    gy, gx = np.gradient(img)
    return float(np.mean(np.hypot(gx, gy)))


def rms_contrast(display) -> float:
    """Population standard deviation of an ``(H, W)`` display image in [0, 1]."""
    return float(_check(display).std())


def no_reference_figures(display) -> dict:
    """``{"gradient": ..., "contrast": ...}`` of a display image."""
    return {"gradient": mean_gradient_magnitude(display), "contrast": rms_contrast(display)}


def consecutive_spike_fraction(stream, start: int = 0, stop: int | None = None) -> float:
    """Fraction of inter-spike intervals of length 1 (spikes on consecutive steps).

    A camera with dead time ``δ ≥ 1`` never produces them (physics.md §4), so a
    noticeable fraction says the capture is better inverted with ``δ = 0``.
    """
    dense = stream.window(start, stop).astype(bool)
    pairs = np.count_nonzero(dense[1:] & dense[:-1])
    intervals = max(int(dense.sum()) - int(np.count_nonzero(dense.any(axis=0))), 1)
    return pairs / intervals


def _check(display) -> np.ndarray:
    img = np.asarray(display, dtype=np.float64)
    if img.ndim != 2 or min(img.shape) < 2:
        raise InputError("image", f"shape {img.shape}", "an (H, W) image of at least 2×2",
                         "pass a grey display image")
    return img
