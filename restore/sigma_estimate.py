"""Estimate one Gaussian defocus σ from a blurred image (the "estimated σ" cascades).

Estimator: a fit of the image's **radially averaged power spectrum** by a power-law
scene seen through a Gaussian blur, plus white noise::

    P(f) = A · f^(-α) · exp(-4π² σ² f²) + N        (f in cycles/px)

1. Remove the mean, apply a separable Blackman window (its leakage is ~58 dB down,
   so a heavily blurred image's spectrum is not buried under the window's own
   side lobes), take ``|FFT|²``.
2. Average ``|FFT|²`` over ``SIGMA_EST_BINS`` rings from ``SIGMA_EST_FMIN`` to the
   Nyquist frequency 0.5 (empty rings dropped); add a floor of
   ``SIGMA_EST_FLOOR`` times the largest ring, so the fit spans at most 60 dB (a
   noise-free synthetic blur otherwise fits numerical dust).
3. Fit ``log P`` over ``(log A, α, σ, log N)`` by least squares
   (``scipy.optimize.least_squares``), from each start in ``SIGMA_EST_STARTS``; the
   best fit's σ, bounded to ``[0, SIGMA_EST_MAX]``, is the estimate.

Why a spectrum and not edges: the earlier estimator (re-blur gradient ratio at edge
maxima, Zhuo and Sim 2011) assumed every strong gradient is an isolated step edge.
The procedural scenes are full of 1-px outlines, strokes and pixel textures, whose
gradients a re-blur lowers far more than a step's: more than half of the edge pixels
read "sharper than a sharp step" and the median clipped to 0 — even on a noise-free
uniform blur of a test-set scene (σ 0.5 / 1 / 2 / 3 / 4 px gave 0 / 0 / 1.39 / 2.37 /
3.34) and on the demo capture. The spectrum makes no assumption about the shape of
the structures, only that their power falls as a power of frequency.

What it can and cannot do (bench/sigma_estimate.py; tests/test_restore_sigma.py):

- **One blur over the image** (a planar scene, a uniform blur): synthetic blurs of
  piecewise-constant scenes, σ 0.5–8 px, within 15 % + 0.1 px noise-free and with 1 %
  noise, and within 15 % + 0.2 px through the spike camera (tests). Planar captures of
  dead leaves, bricks and text rendered by ``spikesim render``'s pipeline at σ 0.5–4 px
  (reference camera, TFP of 192 steps, uncalibrated): median absolute error 0.20 px
  over 15 captures, the largest misses at σ 4 px on dead leaves and bricks (3.0 and
  2.9: little of the spectrum is left above the noise to fit).
- **Depth varying within the image**: the high frequencies come only from the
  sharpest parts, so the estimate follows the **in-focus part**, not the median of the
  σ map, and is biased low. The procedural test set (per-pixel σ spread over a range):
  median absolute error 0.33 px against the sample's median σ (uncalibrated TFP, 192
  steps; 0.21 px with the oracle calibration), median error −0.14 px, no estimate of 0
  (the edge estimator: 0.86 px, 15 estimates of 0). The demo capture (dead leaves over
  23 depth layers, σ 0.5–3.55 px, median 1.84, 16 % of its pixels below 0.8 px) gets
  0.3 px (the edge estimator: 0): no single σ describes it, and deconvolving its
  in-focus leaves by the median would ring.
- **Natural photographs** (the two REDS frames through the simulator,
  ``experiments/configs/natural_reds.yaml``, 24 samples): median absolute error 0.37 px
  with the calibration; in focus (σ 0.5 px) it reads 0.56–0.75 px, which 20
  Richardson–Lucy iterations turn into over-sharpening (docs/despike.md).
- A scene whose spectrum is not a power law (a regular grille, a page of text) adds
  an error of a few tenths of a pixel; uncalibrated fixed pattern and spike noise
  are absorbed by ``N`` as long as they are white.

The estimate is global and deterministic (no random starts); a flat image returns 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spikesim.errors import InputError

from . import settings


@dataclass(frozen=True)
class SpectrumFit:
    """The fitted model ``P(f) = A f^-alpha exp(-4 pi^2 sigma^2 f^2) + N``.

    ``sigma`` px; ``alpha`` the scene's power-law exponent; ``log_amplitude`` and
    ``log_noise`` natural logs of ``A`` and ``N`` (the spectrum's units: image
    units² per px²); ``rms`` the root mean square residual of ``log P`` (nepers).
    """

    sigma: float
    alpha: float
    log_amplitude: float
    log_noise: float
    rms: float


def _check(image) -> np.ndarray:
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2 or min(img.shape) < 16:
        raise InputError("image", f"shape {img.shape}", "a 2-D image of at least 16×16 px",
                         "estimate σ on a larger crop, or give --sigma")
    if not np.isfinite(img).all():
        raise InputError("image", "non-finite values", "finite values", "replace NaN/inf first")
    return img


def radial_spectrum(image, bins: int = settings.SIGMA_EST_BINS,
                    fmin: float = settings.SIGMA_EST_FMIN):
    """``(f, P)``: the Blackman-windowed power spectrum of ``(H, W)`` ``image`` averaged
    over rings; ``f`` each ring's mean frequency (cycles/px, ascending), ``P`` its mean
    ``|FFT|²``. Empty rings (small images) are dropped."""
    img = _check(image)
    h, w = img.shape
    window = np.outer(np.blackman(h), np.blackman(w))
    power = np.abs(np.fft.fft2((img - img.mean()) * window)) ** 2
    freq = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :])
    ring = np.digitize(freq.ravel(), np.linspace(fmin, 0.5, bins + 1)) - 1
    inside = (ring >= 0) & (ring < bins)
    count = np.bincount(ring[inside], minlength=bins)
    total = np.bincount(ring[inside], power.ravel()[inside], minlength=bins)
    fsum = np.bincount(ring[inside], freq.ravel()[inside], minlength=bins)
    keep = count > 0
    return fsum[keep] / count[keep], total[keep] / count[keep]


def fit_spectrum(image) -> SpectrumFit | None:
    """Fit the module's spectrum model to ``(H, W)`` ``image``; None for a flat image."""
    from scipy.optimize import least_squares

    img = _check(image)
    if np.ptp(img) <= 1e-9 * np.abs(img).max():      # flat up to rounding
        return None
    f, power = radial_spectrum(img)
    if f.size < settings.SIGMA_EST_MIN_BINS:
        raise InputError("image", f"{f.size} frequency rings",
                         f"at least {settings.SIGMA_EST_MIN_BINS}",
                         "estimate σ on a larger crop, or give --sigma")
    peak = float(power.max())
    y = np.log(power + settings.SIGMA_EST_FLOOR * peak)
    logf, f2 = np.log(f), 4.0 * np.pi ** 2 * f ** 2

    def residual(p):
        log_a, alpha, sigma, log_n = p
        return np.logaddexp(log_a - alpha * logf - sigma ** 2 * f2, log_n) - y

    lower = [-np.inf, 0.0, 0.0, -np.inf]
    upper = [np.inf, 5.0, settings.SIGMA_EST_MAX, np.inf]
    best = None
    for start in settings.SIGMA_EST_STARTS:
        p0 = [y[0] + 2.0 * logf[0], 2.0, start, float(y.min())]
        r = least_squares(residual, p0, bounds=(lower, upper))
        if best is None or r.cost < best.cost:
            best = r
    log_a, alpha, sigma, log_n = (float(v) for v in best.x)
    return SpectrumFit(sigma, alpha, log_a, log_n, float(np.sqrt(np.mean(best.fun ** 2))))


def estimate_sigma(image) -> float:
    """One Gaussian blur σ (px) for the whole ``(H, W)`` image (module doc).

    Returns 0.0 (nothing to deblur) for a flat image, and for one whose spectrum the
    model does not describe (rms residual of ``log P`` above ``SIGMA_EST_MAX_RMS``: a
    lone straight edge, a few pure tones; natural and procedural scenes fit within
    0.75 nepers): deconvolving by a σ the image does not support does more harm than
    leaving it.
    """
    fit = fit_spectrum(image)
    if fit is None or fit.rms > settings.SIGMA_EST_MAX_RMS:
        return 0.0
    return float(np.clip(fit.sigma, 0.0, settings.SIGMA_EST_MAX))
