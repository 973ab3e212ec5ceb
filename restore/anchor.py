"""Low-frequency anchor: a network's λ estimate keeps the capture's own local means.

Defocus moves light, it does not make or lose it: the thin-lens PSF ``h`` integrates to 1,
so a Gaussian low-pass at a scale ``s`` well beyond the blur sees nearly the same thing in
the blurred and in the sharp in-focus response (``G_s * h ≈ G_sqrt(s² + σ²)``, within
3 % of ``G_s`` in width at ``s = 4σ``). Those low frequencies need no deblurring: the
in-focus-response estimate of TFP measures them directly, and with the calibration
applied, without the fixed pattern's bias. A network that restores the high frequencies
may still drift in local tone (issue 17: on smooth photographs `despike` lost up to 6 dB
to plain TFP through a few tenths of a percent of low-frequency error). The anchor keeps
the network's detail and takes its local means from TFP::

    out = net + G_s * (ref - net),   s = max(min_scale, scale_per_sigma * σ̂)

with ``σ̂`` the blur estimated from the reference itself
(:func:`restore.sigma_estimate.estimate_sigma`), so the anchor never looks below the blur
it cannot see through. Applied only to calibrated restorations: uncalibrated, TFP's local
means carry the fixed pattern (column and row stripes, gain) that the network removes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import settings


@dataclass(frozen=True)
class Anchor:
    """What the anchor did: ``scale`` px (Gaussian σ of the low-pass), ``sigma`` px (σ̂)."""

    scale: float
    sigma: float


def anchor_scale(sigma: float, scale_per_sigma: float = settings.ANCHOR_SCALE_PER_SIGMA,
                 min_scale: float = settings.ANCHOR_MIN_SCALE) -> float:
    """Low-pass scale in px for a blur of ``sigma`` px: ``max(min_scale, scale_per_sigma σ)``."""
    return max(float(min_scale), float(scale_per_sigma) * max(float(sigma), 0.0))


def lowfreq_anchor(lam, reference, scale: float) -> np.ndarray:
    """``lam + G_scale * (reference - lam)``, clipped at 0.

    Parameters
    ----------
    lam : (H, W) a network's λ estimate (charge per step).
    reference : (H, W) the in-focus-response estimate of the same window (TFP), same units.
    scale : px, σ of the Gaussian low-pass (reflecting borders).

    Returns the (H, W) float32 λ whose local means at ``scale`` are the reference's and
    whose detail above it is ``lam``'s.
    """
    from scipy.ndimage import gaussian_filter

    lam = np.asarray(lam, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if lam.shape != reference.shape:
        raise ValueError(f"lam {lam.shape} and reference {reference.shape} differ in shape")
    out = lam + gaussian_filter(reference - lam, float(scale), mode="reflect")
    return np.clip(out, 0.0, None).astype(np.float32)


def anchor_to_tfp(lam, stream, center: int, window: int, calib,
                  dead_time: float = settings.DEFAULT_DEAD_TIME) -> tuple[np.ndarray, Anchor]:
    """Anchor a network's ``lam`` to the calibrated TFP of the same ``window`` steps.

    ``stream`` (T, H, W) holding the window, ``center`` its key step, ``calib`` a measured
    :class:`calibration.Calibration` (``dead_time`` as the ``tfp`` method receives it).
    Returns the anchored (H, W) λ and the :class:`Anchor`.
    """
    from .baselines import tfp
    from .sigma_estimate import estimate_sigma

    ref = tfp(stream, center, window, dead_time=dead_time, calib=calib)
    sigma = float(estimate_sigma(ref))
    scale = anchor_scale(sigma)
    return lowfreq_anchor(lam, ref, scale), Anchor(scale, sigma)
