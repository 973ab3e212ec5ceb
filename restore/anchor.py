"""Low-frequency anchor: a network's λ estimate keeps the capture's own local means.

Defocus moves light, it does not make or lose it: the thin-lens PSF ``h`` integrates to 1,
so at scales well beyond the blur the capture's in-focus-response estimate (TFP, with the
calibration applied) and the sharp scene have the same local means. A network that
restores the high frequencies may still drift in local tone (issue 17: on smooth
photographs `despike` lost up to 6 dB to plain TFP through a few tenths of a percent of
low-frequency error). The anchor checks the network against the capture through the
forward model and corrects only the low frequencies of the disagreement::

    out = net + G_s * (tfp - G_σ̂ * net),   s = max(min_scale, scale_per_sigma * σ̂)

with ``σ̂`` the blur estimated from TFP itself (:func:`restore.sigma_estimate.estimate_sigma`).
A network output that is exactly the sharp scene seen through a blur of ``σ̂`` is left
unchanged; a tone drift far broader than ``s`` is removed; detail finer than ``s`` stays
the network's. (Without the re-blur, ``net + G_s * (tfp - net)``, the anchor also pulls
back the part of the blur that reaches beyond ``s``; chosen against it on the development
sets, experiments/README.md.) Applied only to calibrated restorations: uncalibrated, TFP's
local means carry the fixed pattern (column and row stripes, gain) that the network removes.
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


def lowfreq_anchor(lam, reference, scale: float, blur: float = 0.0) -> np.ndarray:
    """``lam + G_scale * (reference - G_blur * lam)``, clipped at 0.

    Parameters
    ----------
    lam : (H, W) a network's λ estimate (charge per step).
    reference : (H, W) the in-focus-response estimate of the same window (TFP), same units.
    scale : px, σ of the Gaussian low-pass of the disagreement (reflecting borders).
    blur : px, σ of the Gaussian blur through which ``lam`` is compared with the
        reference (the capture's estimated defocus; 0: compared as it is).

    Returns the (H, W) float32 λ whose disagreement with the reference, through the blur,
    has no part left below ``scale`` and whose detail above it is ``lam``'s.
    """
    from scipy.ndimage import gaussian_filter

    lam = np.asarray(lam, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if lam.shape != reference.shape:
        raise ValueError(f"lam {lam.shape} and reference {reference.shape} differ in shape")
    seen = gaussian_filter(lam, float(blur), mode="reflect") if blur > 0 else lam
    out = lam + gaussian_filter(reference - seen, float(scale), mode="reflect")
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
    return lowfreq_anchor(lam, ref, scale, blur=sigma), Anchor(scale, sigma)
