"""Frame deblurring with a Gaussian PSF: Wiener, Richardson–Lucy, per-pixel σ-map blend.

The second stage of the "reconstruct, then deblur" cascades (despike.md "Baselines").
Images are ``(H, W)`` float arrays of a λ-like estimate (charge per step); both
deconvolutions are linear in scale (Wiener exactly, RL for a positive scale), so the
exposure step that follows does not interact with them.

Conventions
-----------
- The PSF is the sampled Gaussian ``exp(-(x² + y²) / 2σ²)``, truncated at
  ``settings.PSF_TRUNCATE`` σ and normalised to sum 1 (σ in pixels). ``σ = 0`` is the
  identity: the image is returned unchanged (as float32).
- Blurring is **convolution** (the PSF is symmetric, so convolution = correlation).
- Boundaries: half-sample symmetric (``numpy.pad(mode="symmetric")``, what
  scipy.ndimage calls "reflect"). With them the blur by a symmetric kernel is
  diagonalised by the orthonormal DCT-II, so blurring, Wiener and RL are computed
  exactly in the DCT domain with no padding and no periodic wrap-around. The blur
  operator is then a symmetric matrix with unit row and column sums: it keeps
  constants, and RL conserves the total flux exactly.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft as sfft

from spikesim.errors import InputError

from . import settings


def _check_image(image, name="image") -> np.ndarray:
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2 or img.size == 0:
        raise InputError(name, f"shape {img.shape}", "a non-empty 2-D (H, W) image",
                         "pass one grey-level frame")
    if not np.isfinite(img).all():
        raise InputError(name, "non-finite values", "finite values", "replace NaN/inf first")
    return img


def _check_sigma(sigma, name="sigma") -> float:
    try:
        s = float(sigma)
    except (TypeError, ValueError):
        raise InputError(name, sigma, "a number of pixels >= 0", "give e.g. --sigma 2") from None
    if not math.isfinite(s) or s < 0:
        raise InputError(name, sigma, "a finite number of pixels >= 0", "give e.g. --sigma 2")
    return s


def gaussian_kernel(sigma: float, truncate: float = settings.PSF_TRUNCATE) -> np.ndarray:
    """The normalised 2-D Gaussian PSF of s.d. ``sigma`` px, shape ``(2r+1, 2r+1)``.

    ``r = ceil(truncate·σ)``; σ = 0 gives ``[[1.0]]``. Sums to 1 (float64).
    """
    s = _check_sigma(sigma)
    if s == 0:
        return np.ones((1, 1))
    r = max(1, int(math.ceil(truncate * s)))
    x = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-0.5 * (x / s) ** 2)
    k = np.outer(g, g)
    return k / k.sum()


def _eigenvalues_1d(sigma: float, n: int) -> np.ndarray:
    """Eigenvalues of the 1-D symmetric-boundary Gaussian blur on ``n`` samples.

    The half-sample symmetric extension of a signal of length ``n`` is
    ``2n``-periodic, and blurring it with a symmetric kernel ``h`` is diagonalised by
    the DCT-II with eigenvalues ``H(k) = h_0 + 2 Σ_j h_j cos(π k j / n)``, ``k < n``.
    """
    r = max(1, int(math.ceil(settings.PSF_TRUNCATE * sigma)))
    g = np.exp(-0.5 * (np.arange(-r, r + 1, dtype=np.float64) / sigma) ** 2)
    g /= g.sum()                           # the normalised 1-D factor of the separable PSF
    j = np.arange(1, r + 1)
    w = np.pi * np.arange(n)[:, None] / n
    return g[r] + 2.0 * np.sum(g[r + 1:][None, :] * np.cos(w * j[None, :]), axis=1)


def _transfer(sigma: float, shape) -> np.ndarray:
    """``(H, W)`` DCT-domain transfer function of the blur (separable, real)."""
    return np.outer(_eigenvalues_1d(sigma, shape[0]), _eigenvalues_1d(sigma, shape[1]))


def _dct(x):
    return sfft.dctn(x, type=2, norm="ortho", workers=1)


def _idct(x):
    return sfft.idctn(x, type=2, norm="ortho", workers=1)


def blur(image, sigma: float) -> np.ndarray:
    """Convolve ``image`` with the Gaussian PSF, symmetric boundaries (float64 ``(H, W)``).

    Equals direct convolution of the ``numpy.pad(mode="symmetric")`` extension;
    σ = 0 returns a copy. This is the forward model the deblurrings invert.
    """
    img = _check_image(image)
    s = _check_sigma(sigma)
    if s == 0:
        return img.copy()
    return _idct(_dct(img) * _transfer(s, img.shape))


def wiener(image, sigma: float, nsr: float) -> np.ndarray:
    """Wiener deconvolution with a Gaussian PSF and a constant noise-to-signal ratio.

    ``X = H Y / (H² + nsr)`` in the DCT domain (``H`` real: the symmetric PSF).

    Parameters
    ----------
    image : (H, W) float array, λ-like estimate (any positive scale).
    sigma : float, px, PSF s.d. (0: identity).
    nsr : float > 0, noise-to-signal power ratio (regularisation; tuned per window
        length in ``settings.WIENER_NSR``).

    Returns a float32 ``(H, W)`` array (not clipped; may ring slightly below 0).
    """
    img = _check_image(image)
    s = _check_sigma(sigma)
    nsr = float(nsr)
    if not (math.isfinite(nsr) and nsr > 0):
        raise InputError("nsr", nsr, "a noise-to-signal ratio > 0", "use e.g. 0.01")
    if s == 0:
        return img.astype(np.float32)
    h = _transfer(s, img.shape)
    return _idct(_dct(img) * (h / (h * h + nsr))).astype(np.float32)


def richardson_lucy(image, sigma: float, iterations: int) -> np.ndarray:
    """Richardson–Lucy deconvolution with a Gaussian PSF.

    ``x_{k+1} = x_k · (K^T (y / (K x_k)))`` with ``K`` the symmetric-boundary blur
    (``K^T = K``), started from ``x_0 = y``; negative input values are clipped to 0
    first and the denominator is floored at ``settings.RL_EPS`` times the image mean.
    The total flux ``Σ x`` equals ``Σ y`` at every iteration (module doc).

    Parameters
    ----------
    image : (H, W) float array >= 0, λ-like estimate.
    sigma : float, px, PSF s.d. (0: identity).
    iterations : int >= 0 (tuned per window length in ``settings.RL_ITERATIONS``).

    Returns a float32 ``(H, W)`` array >= 0.
    """
    img = _check_image(image)
    s = _check_sigma(sigma)
    if isinstance(iterations, bool) or int(iterations) != iterations or iterations < 0:
        raise InputError("iterations", iterations, "an integer >= 0", "use e.g. 20")
    y = np.clip(img, 0.0, None)
    if s == 0 or iterations == 0:
        return y.astype(np.float32)
    h = _transfer(s, y.shape)
    eps = settings.RL_EPS * max(float(y.mean()), 1e-12)
    x = y.copy()
    for _ in range(int(iterations)):
        est = _idct(_dct(x) * h)
        x = x * _idct(_dct(y / np.maximum(est, eps)) * h)
        np.clip(x, 0.0, None, out=x)
    return x.astype(np.float32)


def deconvolve(image, sigma: float, kind: str, *, nsr: float | None = None,
               iterations: int | None = None, window: int = settings.DEFAULT_WINDOW,
               base: str = "tfp", calibrated: bool = False) -> np.ndarray:
    """Dispatch to :func:`wiener` or :func:`richardson_lucy` (``kind`` "wiener" or "rl").

    The regularisation defaults to the value tuned on the training distribution for the
    reconstruction ``base`` ("tfp"/"tfi"), ``calibrated`` and the nearest tuned window
    length: :func:`regularisation`.
    """
    if kind == "wiener":
        return wiener(image, sigma,
                      regularisation("wiener", base, calibrated, window) if nsr is None else nsr)
    if kind == "rl":
        return richardson_lucy(image, sigma,
                               regularisation("rl", base, calibrated, window)
                               if iterations is None else iterations)
    raise InputError("deconvolution", kind, "'wiener' or 'rl'", "pick one of them")


def regularisation(kind: str, base: str, calibrated: bool, window: int):
    """The tuned Wiener NSR (``kind="wiener"``) or RL iteration count (``"rl"``).

    From ``settings.WIENER_NSR`` / ``settings.RL_ITERATIONS`` keyed by
    ``(base, calibrated)``, at the tuned window length nearest ``window`` (in log).
    """
    table = settings.WIENER_NSR if kind == "wiener" else settings.RL_ITERATIONS
    key = (base if base in ("tfp", "tfi") else "tfp", bool(calibrated))
    return tuned(table[key], window)


def tuned(table: dict, window: int):
    """The value of ``table`` (keyed by window length in steps) at the nearest length (log)."""
    key = min(table, key=lambda k: (abs(math.log(k) - math.log(max(int(window), 1))), k))
    return table[key]


def sigma_map_blend(image, sigma_map, kind: str, *, levels=settings.SIGMA_MAP_LEVELS,
                    **kwargs) -> np.ndarray:
    """Spatially varying deblurring from a per-pixel σ map (the oracle upper bound).

    The image is deconvolved at each σ of ``levels`` (plus σ = 0) and each pixel takes
    the linear interpolation, in σ, between the two results that bracket its own
    ``sigma_map`` value (values beyond the last level use the last level).

    Parameters
    ----------
    image : (H, W) float, λ-like estimate.
    sigma_map : (H, W) float, px, the true per-pixel PSF s.d.
    kind : "wiener" or "rl"; ``kwargs`` go to :func:`deconvolve`.

    Returns float32 ``(H, W)``.
    """
    img = _check_image(image)
    smap = _check_image(sigma_map, "sigma_map")
    if smap.shape != img.shape:
        raise InputError("sigma_map", f"shape {smap.shape}", f"the image shape {img.shape}",
                         "pass the sample's own maps.npz sigma")
    lv = np.unique(np.concatenate([[0.0], np.asarray(levels, dtype=np.float64)]))
    lo_needed = np.searchsorted(lv, smap.min(), side="right") - 1
    hi_needed = np.searchsorted(lv, smap.max(), side="left")
    idx = range(max(lo_needed, 0), min(hi_needed, lv.size - 1) + 1)
    s_clip = np.clip(smap, lv[0], lv[-1])
    out = np.zeros(img.shape)
    weight = np.zeros(img.shape)
    for i in idx:
        res = deconvolve(img, lv[i], kind, **kwargs).astype(np.float64)
        # hat function centred on lv[i]
        w = np.zeros(img.shape)
        if i > 0:
            left = (s_clip >= lv[i - 1]) & (s_clip <= lv[i])
            w[left] = (s_clip[left] - lv[i - 1]) / (lv[i] - lv[i - 1])
        if i < lv.size - 1:
            right = (s_clip >= lv[i]) & (s_clip < lv[i + 1])
            w[right] = (lv[i + 1] - s_clip[right]) / (lv[i + 1] - lv[i])
        else:
            w[s_clip >= lv[i]] = 1.0
        if i == 0:
            w[s_clip <= lv[0]] = 1.0
        out += w * res
        weight += w
    return (out / np.maximum(weight, 1e-12)).astype(np.float32)
