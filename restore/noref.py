"""No-reference image scores: NIQE, PIQE, mean gradient and RMS contrast.

For restorations that have no ground truth (real captures). Every score reads a grey
display image ``(H, W)`` in [0, 1] (sRGB-encoded, as ``spikerestore run`` writes it);
NIQE and PIQE see it quantised to 8-bit grey levels (0..255), the scale their constants
and NIQE's pristine model were made for, so scoring a written PNG and scoring the image
in memory give the same numbers. Lower NIQE and PIQE are better; neither knows what the
scene should look like, so read them beside the images (a denoised image and a sharp
noisy one can score alike).

NIQE (Mittal, Soundararajan and Bovik, "Making a completely blind image quality
analyzer", IEEE SPL 2013)
    1. MSCN coefficients ``Î = (I − μ) / (σ + 1)``, μ and σ the local mean and standard
       deviation under a 7×7 Gaussian window (σ_w = 7/6), borders replicated.
    2. The image is cut to whole 96×96 patches. Per patch, 18 features: the zero-mode
       generalised Gaussian fit (shape α, scale β) of its MSCN coefficients, and for the
       products of horizontally, vertically and diagonally neighbouring coefficients
       (shifts (0, 1), (1, 0), (1, 1), (−1, 1), circular within the patch) the
       asymmetric generalised Gaussian fit (α, mean η, left and right scales β_l, β_r).
       Both are moment matching over the shape grid α = 0.2, 0.201, ..., 10; as in the
       authors' release (whose features the pristine model holds), the coefficients' fit
       is the asymmetric one with β the mean of its two scales.
    3. The same 18 features at half scale (bicubic resize by 1/2 with an antialiasing
       kernel, symmetric borders, as MATLAB's ``imresize``; 48×48 patches): 36 a patch.
    4. A multivariate Gaussian (mean, covariance with n − 1) is fitted to the patches'
       features; the score is the distance to the pristine model's Gaussian,
       ``sqrt((ν₁ − ν₂)ᵀ pinv((Σ₁ + Σ₂)/2) (ν₁ − ν₂))``.
    The pristine model is the standard one (:mod:`restore.niqe_params`), fitted by the
    paper's authors with **sharpness selection**: only patches whose mean local σ is at
    least 0.75 of the image's sharpest patch enter it. :func:`fit_pristine_model` fits a
    model the same way to your own sharp images; scoring uses every patch, as the
    paper's release does.

PIQE (Venkatanath et al., "Blind image quality evaluation using perception based
features", NCC 2015)
    The same MSCN coefficients, cut into 16×16 blocks. A block is spatially active when
    the variance ν of its coefficients exceeds 0.1; only active blocks count. An active
    block shows a *noticeable artifact* when one of its four edges has a segment of 6
    pixels whose coefficients' standard deviation is below 0.1 (a flat edge through
    detail: blocking, or a smear), and *noise* when its standard deviation σ exceeds
    ``2β``, ``β = |σ_centre / σ_surround − σ|`` with the centre its two middle columns.
    A block scores 1 for a noticeable artifact, else ``min(ν, 1)`` for noise, else 0;
    ``PIQE = 100 · (Σ scores + 1) / (active blocks + 1)``, in [0, 100]. The thresholds
    are the paper's; the centre region and the block scores are this module's reading of
    it (MATLAB's ``piqe`` was not available to compare against).

Mean gradient and RMS contrast are :mod:`restore.realdata`'s.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import ndimage, special

from spikesim.errors import InputError

from .realdata import mean_gradient_magnitude, rms_contrast

GREY_LEVELS = 255.0              # NIQE/PIQE constants are for 8-bit grey levels
MSCN_WINDOW = 7                  # Gaussian window side, px
MSCN_WINDOW_SIGMA = 7.0 / 6.0    # its standard deviation, px
MSCN_C = 1.0                     # the stabilising constant, grey levels
SHAPE_GRID = (0.2, 10.0, 0.001)  # α grid of the GGD / AGGD moment matching
NIQE_PATCH = 96                  # patch side at full scale, px
NIQE_SHARPNESS_FRACTION = 0.75   # pristine-model patch selection (the paper's 0.75)
NIQE_SHIFTS = ((0, 1), (1, 0), (1, 1), (-1, 1))
PIQE_BLOCK = 16
PIQE_ACTIVITY = 0.1              # MSCN variance above which a block is spatially active
PIQE_SEGMENT = 6                 # edge segment length, px
PIQE_FLAT_SEGMENT = 0.1          # segment standard deviation below which it is flat
PIQE_C = 1.0
SCORES = ("niqe", "piqe", "gradient", "contrast")


# ------------------------------------------------------------------------ shared pieces
def to_grey_levels(display) -> np.ndarray:
    """``(H, W)`` display image in [0, 1] -> float64 8-bit grey levels (rounded, clipped)."""
    img = np.asarray(display, dtype=np.float64)
    if img.ndim != 2:
        raise InputError("image", f"shape {img.shape}", "a grey (H, W) image",
                         "convert colour images to grey first")
    return np.round(np.clip(img, 0.0, 1.0) * GREY_LEVELS)


@functools.lru_cache(maxsize=1)
def gaussian_window() -> np.ndarray:
    """The 7×7 Gaussian (σ = 7/6 px) summing to 1, float64."""
    r = np.arange(MSCN_WINDOW) - (MSCN_WINDOW - 1) / 2.0
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2.0 * MSCN_WINDOW_SIGMA ** 2))
    return g / g.sum()


def mscn(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MSCN coefficients and the local standard deviation σ of a grey-level image.

    ``grey`` (H, W) float64 in grey levels; returns ``(Î, σ)``, both (H, W) float64.
    """
    w = gaussian_window()
    mu = ndimage.correlate(grey, w, mode="nearest")
    var = ndimage.correlate(grey * grey, w, mode="nearest") - mu * mu
    sigma = np.sqrt(np.abs(var))
    return (grey - mu) / (sigma + MSCN_C), sigma


@functools.lru_cache(maxsize=1)
def _shape_grid() -> tuple[np.ndarray, np.ndarray]:
    """α grid and ``ρ(α) = Γ(2/α)² / (Γ(1/α) Γ(3/α))`` on it."""
    lo, hi, step = SHAPE_GRID
    alpha = np.arange(lo, hi + step / 2, step)
    rho = special.gamma(2 / alpha) ** 2 / (special.gamma(1 / alpha) * special.gamma(3 / alpha))
    return alpha, rho


def aggd_fit(x: np.ndarray) -> tuple[float, float, float]:
    """Asymmetric generalised Gaussian fit by moment matching: ``(α, β_l, β_r)``.

    ``β = σ·sqrt(Γ(1/α)/Γ(3/α))`` are the scales of the two sides, from the root mean
    squares σ of the negative and the positive values; α is the grid shape whose
    ``ρ(α)`` is nearest the sample's normalised ratio (Mittal et al. 2012, BRISQUE §III).
    A side without values (a flat or one-signed patch) has a NaN scale and the shape is the
    grid's first, as in basicsr's ``estimate_aggd_param``; :func:`niqe` leaves such patches
    out of the covariance.
    """
    x = np.ravel(np.asarray(x, np.float64))
    alpha, rho = _shape_grid()
    neg, pos = x[x < 0], x[x > 0]
    nan = np.float64("nan")
    left = np.sqrt(np.mean(neg ** 2)) if neg.size else nan
    right = np.sqrt(np.mean(pos ** 2)) if pos.size else nan
    with np.errstate(divide="ignore", invalid="ignore"):
        g = left / right
        r_hat = np.mean(np.abs(x)) ** 2 / np.mean(x * x)
        r_norm = r_hat * (g ** 3 + 1) * (g + 1) / (g ** 2 + 1) ** 2
    a = float(alpha[np.argmin((rho - r_norm) ** 2)])
    scale = np.sqrt(special.gamma(1 / a) / special.gamma(3 / a))
    return a, float(left * scale), float(right * scale)


# ------------------------------------------------------------------------ NIQE
def _patch_features(coef: np.ndarray) -> list:
    """The 18 features of one patch of MSCN coefficients: ``(α, β)`` of the coefficients
    (β the mean of the two sides' scales), then ``(α, η, β_l, β_r)`` of each product of
    neighbours, ``η = (β_r − β_l) Γ(2/α) / Γ(1/α)`` (the paper's Eq. 8)."""
    a, b_left, b_right = aggd_fit(coef)
    feats = [a, (b_left + b_right) / 2.0]
    for shift in NIQE_SHIFTS:
        a, b_left, b_right = aggd_fit(coef * np.roll(coef, shift, axis=(0, 1)))
        eta = (b_right - b_left) * special.gamma(2 / a) / special.gamma(1 / a)
        feats += [a, eta, b_left, b_right]
    return feats


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel (a = −0.5), MATLAB ``imresize``'s ``bicubic``."""
    ax = np.abs(x)
    return ((1.5 * ax ** 3 - 2.5 * ax ** 2 + 1) * (ax <= 1)
            + (-0.5 * ax ** 3 + 2.5 * ax ** 2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2)))


def _half_weights(n_in: int) -> np.ndarray:
    """``(ceil(n_in/2), n_in)`` matrix of the antialiased bicubic resize by 1/2."""
    scale = 0.5
    n_out = int(np.ceil(n_in * scale))
    width = 4.0 / scale
    u = np.arange(1, n_out + 1) / scale + 0.5 * (1 - 1 / scale)       # 1-based input coords
    left = np.floor(u - width / 2)
    taps = int(np.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]
    w = scale * _cubic(scale * (u[:, None] - idx))
    w /= w.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(n_in), np.arange(n_in)[::-1]])  # symmetric borders
    cols = mirror[np.mod(idx.astype(int) - 1, 2 * n_in)]
    out = np.zeros((n_out, n_in))
    np.add.at(out, (np.repeat(np.arange(n_out), taps), cols.ravel()), w.ravel())
    return out


def resize_half(grey: np.ndarray) -> np.ndarray:
    """Bicubic resize by 1/2 with antialiasing (MATLAB ``imresize(I, 0.5)``), float64."""
    return _half_weights(grey.shape[0]) @ grey @ _half_weights(grey.shape[1]).T


def niqe_defined(shape) -> bool:
    """Whether an image of ``(H, W)`` holds the two whole patches NIQE's covariance needs."""
    return (shape[0] // NIQE_PATCH) * (shape[1] // NIQE_PATCH) >= 2


def niqe_features(grey: np.ndarray, sharpness_fraction: float | None = None) -> np.ndarray:
    """``(n_patches, 36)`` NIQE features of a grey-level image (cut to whole patches).

    With ``sharpness_fraction`` only the patches whose mean local σ (full scale) is at
    least that fraction of the sharpest patch's are kept (the pristine-model selection).
    """
    h = grey.shape[0] // NIQE_PATCH * NIQE_PATCH
    w = grey.shape[1] // NIQE_PATCH * NIQE_PATCH
    if not niqe_defined(grey.shape):
        raise InputError("image", f"{grey.shape[1]}x{grey.shape[0]}",
                         f"at least two {NIQE_PATCH}x{NIQE_PATCH} patches (e.g. "
                         f"{2 * NIQE_PATCH}x{NIQE_PATCH})", "NIQE needs a larger image")
    img = grey[:h, :w]
    per_scale, sharpness = [], None
    for scale in (1, 2):
        coef, sigma = mscn(img)
        p = NIQE_PATCH // scale
        blocks = [(r, c) for r in range(0, h // scale, p) for c in range(0, w // scale, p)]
        per_scale.append([_patch_features(coef[r:r + p, c:c + p]) for r, c in blocks])
        if scale == 1:
            sharpness = np.array([sigma[r:r + p, c:c + p].mean() for r, c in blocks])
            img = resize_half(img)             # the second scale's image
    feats = np.hstack([np.asarray(f) for f in per_scale])
    if sharpness_fraction is not None:
        feats = feats[sharpness >= sharpness_fraction * sharpness.max()]
    return feats


def gaussian_distance(mu1, cov1, mu2, cov2) -> float:
    """``sqrt((μ₁ − μ₂)ᵀ pinv((Σ₁ + Σ₂)/2) (μ₁ − μ₂))``."""
    d = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
    return float(np.sqrt(d @ np.linalg.pinv((cov1 + cov2) / 2.0) @ d))


def fit_pristine_model(displays) -> dict:
    """A NIQE model ``{"mu": (36,), "cov": (36, 36)}`` from sharp display images in [0, 1],
    with the paper's sharpness selection (:data:`NIQE_SHARPNESS_FRACTION`)."""
    feats = np.vstack([niqe_features(to_grey_levels(d), NIQE_SHARPNESS_FRACTION)
                       for d in displays])
    if len(feats) < 2:
        raise InputError("images", f"{len(feats)} patch(es)", "at least two sharp patches",
                         "give more or larger images")
    return {"mu": feats.mean(axis=0), "cov": np.cov(feats, rowvar=False)}


def niqe(display, model: dict | None = None) -> float:
    """NIQE of an ``(H, W)`` display image in [0, 1] (at least 192×96; lower is better);
    NaN when fewer than two patches have texture on both sides of their mean (a flat image).

    ``model`` is ``{"mu", "cov"}``; default the standard pristine model
    (:func:`restore.niqe_params.load_model`, fetched at setup).
    """
    if model is None:
        from .niqe_params import load_model

        model = load_model()
    feats = niqe_features(to_grey_levels(display))
    whole = feats[np.isfinite(feats).all(axis=1)]     # flat patches have NaN scales
    if len(whole) < 2:
        return float("nan")                           # (nearly) flat: undefined
    with np.errstate(invalid="ignore"):
        mu = np.nanmean(feats, axis=0)                # basicsr's nanmean and nancov
    return gaussian_distance(model["mu"], model["cov"], mu, np.cov(whole, rowvar=False))


# ------------------------------------------------------------------------ PIQE
def _var_rows(x: np.ndarray) -> np.ndarray:
    """Population variance of each row of ``(..., n)`` values, ``(...)``, in ``np.var``'s
    order of operations (mean, deviations, their squares' mean). numpy reduces a
    strided block as it reduces the block's values copied in a row (pairwise
    summation), so a block flattened into a contiguous row gets the same bits."""
    x = np.ascontiguousarray(x)
    n = x.shape[-1]
    dev = x - (x.sum(axis=-1) / n)[..., None]
    return (dev * dev).sum(axis=-1) / n


def _var_blocks(x: np.ndarray) -> np.ndarray:
    """``np.var`` of each of ``(N, R, C)`` blocks, ``(N,)``."""
    return _var_rows(x.reshape(x.shape[0], -1))


def _flat_edge_segments(blocks: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: a block edge has a segment of :data:`PIQE_SEGMENT` px that is flat
    (its coefficients' standard deviation below :data:`PIQE_FLAT_SEGMENT`)."""
    edges = np.stack([blocks[:, 0, :], blocks[:, -1, :], blocks[:, :, 0], blocks[:, :, -1]],
                     axis=1)                                             # (N, 4, B)
    segs = np.lib.stride_tricks.sliding_window_view(edges, PIQE_SEGMENT, axis=2)
    return (np.sqrt(_var_rows(segs)) < PIQE_FLAT_SEGMENT).any(axis=(1, 2))


def _noisy(blocks: np.ndarray, var: np.ndarray) -> np.ndarray:
    """``(N,)`` bool, the centre–surround criterion: σ > 2β, β = |σ_centre / σ_surround −
    σ|, the centre the block's two middle columns (False where the surround is flat)."""
    mid = blocks.shape[2] // 2
    centre = _var_blocks(blocks[:, :, mid - 1:mid + 1])
    surround = np.concatenate([blocks[:, :, :mid - 1], blocks[:, :, mid + 1:]], axis=2)
    sd_sur = np.sqrt(_var_blocks(surround))
    sd = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = np.abs(np.sqrt(centre) / sd_sur - sd)
    return (sd_sur != 0) & (sd > 2.0 * beta)


def piqe(display) -> float:
    """PIQE of an ``(H, W)`` display image in [0, 1] (at least 16×16), in [0, 100];
    lower is better. See the module doc for the criteria. Every block at once: the
    blocks' statistics are computed in numpy's order for one block, so the score is
    the block-by-block loop's (tests/test_noref.py keeps that loop as the reference)."""
    grey = to_grey_levels(display)
    b = PIQE_BLOCK
    h, w = grey.shape[0] // b * b, grey.shape[1] // b * b
    if h == 0 or w == 0:
        raise InputError("image", f"{grey.shape[1]}x{grey.shape[0]}",
                         f"at least {b}x{b}", "PIQE needs a larger image")
    coef, _ = mscn(grey[:h, :w])
    blocks = coef.reshape(h // b, b, w // b, b).swapaxes(1, 2).reshape(-1, b, b)  # row-major
    var = _var_blocks(blocks)
    active = var > PIQE_ACTIVITY
    blocks, var = blocks[active], var[active]
    total = 0.0
    if len(blocks):
        artifact = _flat_edge_segments(blocks)
        noise = ~artifact & _noisy(blocks, var)
        scores = np.where(artifact, 1.0, np.where(noise, np.minimum(var, 1.0), 0.0))
        total = float(np.cumsum(scores)[-1])                 # summed in block order
    return 100.0 * (total + PIQE_C) / (int(active.sum()) + PIQE_C)


# ------------------------------------------------------------------------ all of them
def no_reference_scores(display, model: dict | None = None) -> dict:
    """``{"niqe", "piqe", "gradient", "contrast"}`` of an ``(H, W)`` display image in
    [0, 1], all on its 8-bit quantisation. NIQE is NaN for an image under two 96×96
    patches (it is undefined there)."""
    grey = to_grey_levels(display) / GREY_LEVELS
    return {"niqe": niqe(grey, model) if niqe_defined(grey.shape) else float("nan"),
            "piqe": piqe(grey), "gradient": mean_gradient_magnitude(grey),
            "contrast": rms_contrast(grey)}


def score_image_file(path, model: dict | None = None) -> dict:
    """:func:`no_reference_scores` of an image file as stored (8- or 16-bit, scaled to
    [0, 1]; a colour image by its luminance ``0.2126 R + 0.7152 G + 0.0722 B`` of the
    stored values). Score the sRGB PNG ``spikerestore run`` writes, not the ``--linear``
    one."""
    from spikesim.images import luminance, read_image

    return no_reference_scores(luminance(read_image(path)), model)
