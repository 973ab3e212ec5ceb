"""Full-reference image metrics: PSNR, SSIM (Wang et al. 2004) and LPIPS.

All are computed on **sRGB-encoded images in [0, 1]** (despike.md "How it is
judged"): the caller encodes linear intensities with
:func:`spikesim.images.srgb_encode` and clips to [0, 1] first
(:func:`restore.exposure.to_display` does both).

LPIPS (:func:`lpips`) is the learned perceptual distance of :mod:`restore.lpips`
(AlexNet, v0.1, the DeSpike paper's metric; lower is better), on the same grey images,
**replicated to three channels**; it imports torch when first called.

SSIM follows Wang, Bovik, Sheikh and Simoncelli, "Image quality assessment: from
error visibility to structural similarity", IEEE TIP 13(4), 2004:

- an 11×11 circular-symmetric Gaussian window of s.d. 1.5 px (separable, sampled,
  normalised to sum 1);
- local means, variances and covariance weighted by that window, with the
  *population* (not sample) covariance;
- ``C1 = (0.01 L)²``, ``C2 = (0.03 L)²`` with data range ``L = 1``;
- the SSIM map is averaged over the pixels whose window lies entirely inside the
  image (a margin of 5 px is dropped on every side), so no boundary padding enters.

This is what scikit-image's ``structural_similarity(..., gaussian_weights=True,
use_sample_covariance=False, data_range=1)`` computes; the tests check the two agree.
"""

from __future__ import annotations

import numpy as np

from spikesim.errors import InputError

from . import settings


def _check_pair(a, b, name_a="image", name_b="reference"):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2:
        raise InputError(name_a, f"shapes {a.shape} and {b.shape}", "two 2-D (H, W) images",
                         "convert colour images to luminance first")
    if a.shape != b.shape:
        raise InputError(name_a, f"shape {a.shape}", f"the shape of the {name_b} {b.shape}",
                         "crop or resize so both images match")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise InputError(name_a, "non-finite values", "finite values in [0, 1]",
                         "clip and replace NaN/inf before measuring")
    return a, b


def psnr(image, reference, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB: ``10 log10(L² / MSE)``.

    Parameters
    ----------
    image, reference : (H, W) float arrays, sRGB-encoded values in [0, 1].
    data_range : float
        ``L``, the peak value (1 for images in [0, 1]).

    Returns ``inf`` for identical images.
    """
    a, b = _check_pair(image, reference)
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(data_range ** 2 / mse))


def gaussian_window_1d(sigma: float = settings.SSIM_WINDOW_SIGMA,
                       radius: int = settings.SSIM_WINDOW_RADIUS) -> np.ndarray:
    """The sampled, normalised 1-D Gaussian ``exp(-x²/2σ²)``, ``x = -radius..radius``."""
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


def _filter_valid(img: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Separable correlation with ``w`` on both axes, 'valid' part only."""
    n = w.size
    h, wd = img.shape
    rows = np.zeros((h, wd - n + 1))
    for i in range(n):
        rows += w[i] * img[:, i:i + wd - n + 1]
    out = np.zeros((h - n + 1, wd - n + 1))
    for i in range(n):
        out += w[i] * rows[i:i + h - n + 1, :]
    return out


def ssim_map(image, reference, data_range: float = 1.0) -> np.ndarray:
    """The SSIM map over the valid region, shape ``(H - 10, W - 10)`` (see module doc)."""
    a, b = _check_pair(image, reference)
    win = gaussian_window_1d()
    if min(a.shape) < win.size:
        raise InputError("image", f"shape {a.shape}", f"at least {win.size}×{win.size} pixels",
                         "SSIM needs a full 11×11 window; use a larger crop")
    mu_a = _filter_valid(a, win)
    mu_b = _filter_valid(b, win)
    var_a = _filter_valid(a * a, win) - mu_a * mu_a
    var_b = _filter_valid(b * b, win) - mu_b * mu_b
    cov = _filter_valid(a * b, win) - mu_a * mu_b
    c1 = (settings.SSIM_K1 * data_range) ** 2
    c2 = (settings.SSIM_K2 * data_range) ** 2
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2)
    return num / den


def ssim(image, reference, data_range: float = 1.0) -> float:
    """Mean SSIM (Wang et al. 2004) of two (H, W) images in [0, 1]; 1 when identical."""
    return float(ssim_map(image, reference, data_range).mean())


LPIPS_NET = "alex"      # the backbone of the LPIPS metric (the paper reports AlexNet)


def lpips(image, reference, net: str = LPIPS_NET) -> float:
    """LPIPS v0.1 distance of two (H, W) sRGB-encoded grey images in [0, 1]; 0 when
    identical, lower is better. The grey images are replicated to three channels
    (:func:`restore.lpips.lpips_distance`, CPU); both sides at least 31 px (AlexNet)."""
    return float(lpips_batch([image], reference, net)[0])


def lpips_batch(images, reference, net: str = LPIPS_NET) -> list[float]:
    """:func:`lpips` of each (H, W) image against one reference, in one batched call."""
    pairs = [_check_pair(image, reference) for image in images]
    if not pairs:
        return []
    from .lpips import lpips_distance

    a = np.stack([p[0] for p in pairs]).astype(np.float32)
    b = np.broadcast_to(pairs[0][1].astype(np.float32), a.shape)
    return [float(d) for d in np.atleast_1d(lpips_distance(a, b, net=net))]
