"""Spatially varying defocus from a depth map (physics.md §3).

The scene is cut into ``K`` layers spaced evenly in inverse depth (the blur diameter is
linear in ``1/s``, so equal steps in ``1/s`` are equal steps of blur), a new layer every
``settings.LAYER_SIGMA_STEP`` px of defocus sigma. Layers are composited back to front
with premultiplied alpha in linear irradiance: for layer ``k`` with mask ``a_k`` and PSF
``G_k``::

    A = G_k * a_k,   B = G_k * (a_k E)
    out = B + (1 - A) out,   cov = A + (1 - A) cov,   image = out / cov

so nearer layers spread over what lies behind them and never the reverse, and the
coverage normalisation removes the dark seam two layers of one continuous surface would
otherwise leave (about 25 % at the boundary).

Known artefact (occluder edges): nothing is known behind a near object, so where its
blurred edge turns semi-transparent the missing background is replaced, through the
``out / cov`` normalisation, by the visible colours around it (the near layer's own
colour dominates inside its silhouette). A real lens would show a little of the hidden
background there; the error is confined to a band of about one blur radius inside the
occluder's silhouette.

Convolution is correlation with a symmetric kernel; image borders are handled by
half-sample symmetric reflection (``scipy.ndimage`` ``mode="reflect"``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from . import settings
from .errors import InputError
from .optics import (check_depth, check_lens, check_pixel_pitch, coc_per_inverse_depth,
                     disk_psf, gaussian_kernel1d, gaussian_radius, sigma_px)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Defocused:
    """The output of :func:`render_defocus`; all maps ``(H, W)`` float32, upright.

    irradiance : lux at the sensor after defocus.
    sigma : per-pixel Gaussian PSF s.d. in px, ``sqrt((|c|/4)^2 + sigma_0^2)`` (for the
        disk PSF, the s.d. of the equivalent Gaussian).
    coc : signed blur-circle diameter in px (positive behind the focal plane).
    layers : number of depth layers used (1 = single-depth fast path).
    """

    irradiance: np.ndarray
    sigma: np.ndarray
    coc: np.ndarray
    layers: int = 1


def check_irradiance(irradiance, where: str = "irradiance") -> np.ndarray:
    """Return ``irradiance`` as a C-contiguous float32 ``(H, W)`` array of finite values >= 0."""
    arr = np.asarray(irradiance)
    if arr.ndim != 2 or min(arr.shape) < 1:
        raise InputError(where, f"an array of shape {arr.shape}", "an (H, W) map (lux)",
                         "convert colour images to luminance first")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise InputError(where, f"dtype {arr.dtype}", "real numbers (lux)", "cast to float")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise InputError(where, "NaN/inf values", "finite irradiance (lux)", "fill the bad pixels")
    if (arr < 0).any():
        raise InputError(where, f"min {arr.min():g}", "irradiance >= 0 (lux)",
                         "irradiance is a photon flux and cannot be negative")
    return arr


def blur(image, coc_px: float, lens, psf: str | None = None) -> np.ndarray:
    """Blur a whole ``(H, W)`` or ``(C, H, W)`` float array with the lens's PSF for one
    signed blur diameter ``coc_px`` (the single-depth case). Returns float32."""
    psf = psf or lens.psf
    arr = np.asarray(image, dtype=np.float32)
    out = _blur_stack(arr[None] if arr.ndim == 2 else arr, coc_px, lens.sigma_floor, psf)
    return out[0] if arr.ndim == 2 else out


def _blur_radius(coc_px: float, sigma_floor: float, psf: str) -> int:
    if psf == "gaussian":
        return gaussian_radius(sigma_px(coc_px, sigma_floor))
    return int(math.ceil(abs(coc_px) / 2.0)) + gaussian_radius(sigma_floor)


def _blur_stack(stack: np.ndarray, coc_px: float, sigma_floor: float, psf: str,
                inner_cols: tuple[int, int] | None = None) -> np.ndarray:
    """Blur each ``(h, w)`` plane of ``stack`` (float32, C-contiguous) in place-free fashion.

    ``inner_cols`` = (x0, x1): only those columns are non-zero in ``stack``; the vertical
    pass of the separable Gaussian is then computed on them alone (the horizontal pass
    spreads them afterwards), which is exact and saves work on narrow layers.
    """
    from scipy import ndimage

    if psf == "gaussian":
        k = gaussian_kernel1d(sigma_px(coc_px, sigma_floor))
        if k.size == 1:
            return stack.copy()
        if inner_cols is not None:
            x0, x1 = inner_cols
            tmp = np.zeros_like(stack)
            tmp[:, :, x0:x1] = ndimage.correlate1d(stack[:, :, x0:x1], k, axis=1, mode="reflect")
        else:
            tmp = ndimage.correlate1d(stack, k, axis=1, mode="reflect")
        return ndimage.correlate1d(tmp, k, axis=2, mode="reflect")
    # disk (non-separable): FFT convolution of the reflect-padded planes, then the floor
    from scipy.signal import fftconvolve

    kern = disk_psf(coc_px)
    r = kern.shape[0] // 2
    out = stack
    if r > 0:
        padded = np.pad(stack, ((0, 0), (r, r), (r, r)), mode="symmetric")
        out = fftconvolve(padded, kern[None].astype(np.float32), mode="valid", axes=(1, 2))
        out = np.ascontiguousarray(out, dtype=np.float32)
    kf = gaussian_kernel1d(sigma_floor)
    if kf.size > 1:
        out = ndimage.correlate1d(out, kf, axis=1, mode="reflect")
        out = ndimage.correlate1d(out, kf, axis=2, mode="reflect")
    elif out is stack:
        out = stack.copy()
    return np.maximum(out, 0, out=out)   # FFT round-off can leave tiny negatives


def layer_count(inv_depth_min: float, inv_depth_max: float, coc_scale: float,
                step: float | None = None) -> int:
    """Number of inverse-depth layers for a scene spanning ``[1/s_max, 1/s_min]``.

    One layer per ``step`` px of defocus sigma (``settings.LAYER_SIGMA_STEP``):
    sigma changes by ``coc_scale / 4`` px per unit of ``1/s`` (1/m).
    """
    step = settings.LAYER_SIGMA_STEP if step is None else float(step)
    if not (math.isfinite(step) and step > 0):
        raise InputError("layer_step", step, "a positive number of px of sigma",
                         "use e.g. 0.25")
    spread = (inv_depth_max - inv_depth_min) * coc_scale / 4.0
    return max(1, int(math.ceil(spread / step - 1e-9)))


def render_defocus(irradiance, depth, lens, pixel_pitch: float, psf: str | None = None,
                   layer_step: float | None = None) -> Defocused:
    """Render the defocused sensor irradiance of a scene with a depth map.

    Parameters
    ----------
    irradiance : (H, W) array, lux
        The in-focus (pinhole) irradiance, linear, >= 0.
    depth : (H, W) array or float, metres
        Object distance of every pixel (finite, beyond the focal length). A scalar means
        one depth for the whole frame.
    lens : spikesim.config.Lens
    pixel_pitch : float, metres
    psf : "gaussian" or "disk", optional
        Overrides ``lens.psf``.
    layer_step : float, optional
        Px of defocus sigma between layers (default ``settings.LAYER_SIGMA_STEP``).

    Returns
    -------
    Defocused
        ``irradiance`` (lux, float32), ``sigma`` and signed ``coc`` maps (px), the number
        of layers. A scene whose blur spread fits in one layer is blurred once (fast path).
    """
    check_lens(lens)
    pitch = check_pixel_pitch(pixel_pitch)
    psf = psf or lens.psf
    if psf not in ("gaussian", "disk"):
        raise InputError("psf", psf, "one of gaussian, disk", "pick one of them")
    E = check_irradiance(irradiance)
    if np.ndim(depth) == 0:
        depth = np.full(E.shape, float(depth), dtype=np.float64)
    d = check_depth(depth, "depth", lens.focal_length)
    if d.shape != E.shape:
        raise InputError("depth", f"shape {d.shape}", f"the image's shape {E.shape} (H, W)",
                         "resize the depth map to the image (or the image to the map)")
    scale = coc_per_inverse_depth(lens, pitch)
    u_f = 1.0 / lens.focus_distance
    u = 1.0 / d
    coc = (scale * (u_f - u)).astype(np.float32)
    sigma = sigma_px(coc, lens.sigma_floor)
    u_min, u_max = float(u.min()), float(u.max())
    K = layer_count(u_min, u_max, scale, layer_step)
    if K > settings.MAX_LAYERS:
        log.warning("depth range needs %d layers; capped at %d (layer step widened to %.3g px)",
                    K, settings.MAX_LAYERS,
                    (u_max - u_min) * scale / 4.0 / settings.MAX_LAYERS)
        K = settings.MAX_LAYERS
    if K == 1:
        c_mid = scale * (u_f - 0.5 * (u_min + u_max))
        out = _blur_stack(E[None], c_mid, lens.sigma_floor, psf)[0]
        return Defocused(np.ascontiguousarray(out, np.float32), sigma, coc, 1)
    out = _composite(E, u, u_min, u_max, K, scale, u_f, lens.sigma_floor, psf)
    return Defocused(out, sigma, coc, K)


def layer_index(u: np.ndarray, u_min: float, u_max: float, K: int) -> np.ndarray:
    """Layer of each pixel, 0 (farthest) .. K-1 (nearest), from inverse depth ``u``."""
    idx = np.floor((u - u_min) * (K / (u_max - u_min))).astype(np.intp)
    return np.clip(idx, 0, K - 1)


def _composite(E, u, u_min, u_max, K, scale, u_f, sigma_floor, psf) -> np.ndarray:
    """Back-to-front premultiplied-alpha compositing with coverage normalisation."""
    H, W = E.shape
    idx = layer_index(u, u_min, u_max, K).ravel()
    order = np.argsort(idx, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(idx, minlength=K))])
    flat_e = E.ravel()
    out = np.zeros((H, W), np.float32)
    cov = np.zeros((H, W), np.float32)
    width = (u_max - u_min) / K
    for k in range(K):                                   # far (small 1/s) to near
        pix = order[bounds[k]:bounds[k + 1]]
        if pix.size == 0:
            continue
        ys, xs = np.divmod(pix, W)
        c_k = scale * (u_f - (u_min + (k + 0.5) * width))
        r = _blur_radius(c_k, sigma_floor, psf)
        ymin, ymax, xmin, xmax = ys.min(), ys.max(), xs.min(), xs.max()
        y0, y1 = max(ymin - r, 0), min(ymax + r + 1, H)
        x0, x1 = max(xmin - r, 0), min(xmax + r + 1, W)
        stack = np.zeros((2, y1 - y0, x1 - x0), np.float32)
        stack[0, ys - y0, xs - x0] = 1.0
        stack[1, ys - y0, xs - x0] = flat_e[pix]
        inner = (xmin - x0, xmax + 1 - x0) if psf == "gaussian" else None
        A, B = _blur_stack(stack, c_k, sigma_floor, psf, inner_cols=inner)
        o = out[y0:y1, x0:x1]
        c = cov[y0:y1, x0:x1]
        keep = 1.0 - A
        o *= keep
        o += B
        c *= keep
        c += A
    res = np.zeros_like(out)
    np.divide(out, cov, out=res, where=cov > settings.COVERAGE_EPS)
    return res


def reference_render(irradiance, depth, lens, pixel_pitch, psf=None, layer_step=None):
    """Slow, obvious reference of :func:`render_defocus`: every layer blurred over the
    whole frame with a full 2-D PSF (``scipy.ndimage.convolve``), no cropping."""
    from scipy import ndimage

    from .optics import psf_for

    E = check_irradiance(irradiance)
    d = check_depth(depth, "depth", lens.focal_length)
    psf = psf or lens.psf
    lens_p = lens if psf == lens.psf else type(lens)(**{**lens.__dict__, "psf": psf})
    scale = coc_per_inverse_depth(lens, pixel_pitch)
    u_f, u = 1.0 / lens.focus_distance, 1.0 / d
    K = min(layer_count(u.min(), u.max(), scale, layer_step), settings.MAX_LAYERS)
    if K == 1:
        kern = psf_for(scale * (u_f - 0.5 * (u.min() + u.max())), lens_p)
        return ndimage.convolve(E.astype(np.float64), kern, mode="reflect")
    idx = layer_index(u, u.min(), u.max(), K)
    width = (u.max() - u.min()) / K
    out = np.zeros(E.shape)
    cov = np.zeros(E.shape)
    for k in range(K):
        a = (idx == k).astype(np.float64)
        kern = psf_for(scale * (u_f - (u.min() + (k + 0.5) * width)), lens_p)
        A = ndimage.convolve(a, kern, mode="reflect")
        B = ndimage.convolve(a * E, kern, mode="reflect")
        out = B + (1 - A) * out
        cov = A + (1 - A) * cov
    return np.where(cov > settings.COVERAGE_EPS, out / np.maximum(cov, settings.COVERAGE_EPS), 0)


def exposure_illuminance(image, k: float, lambda_p99: float | None = None,
                         percentile: float | None = None) -> float:
    """Illuminance (lux) that maps a linear scene ``image`` (H, W) to irradiance so that
    its ``percentile`` (default 99th) gives a charge per step ``lambda_p99`` (default
    ``settings.EXPOSURE_LAMBDA_P99`` = 0.6) for responsivity ``k`` (thresholds per lux per
    step), gain 1 and no dark signal (physics.md §4b): ``lambda_p99 / (k · p99)``."""
    lam = settings.EXPOSURE_LAMBDA_P99 if lambda_p99 is None else float(lambda_p99)
    pct = settings.EXPOSURE_PERCENTILE if percentile is None else float(percentile)
    if not (math.isfinite(lam) and lam > 0):
        raise InputError("lambda_p99", lambda_p99, "a positive charge per step", "e.g. 0.6")
    if not (math.isfinite(k) and k > 0):
        raise InputError("k", k, "a positive responsivity (thresholds / lux / step)",
                         "check the camera profile")
    top = float(np.percentile(np.asarray(image, np.float64), pct))
    if not (math.isfinite(top) and top > 0):
        raise InputError("image", f"{pct:g}th percentile {top:g}", "a scene with light in it",
                         "the image is black: give --illuminance explicitly or another image")
    return lam / (k * top)


def render_scene(image, depth, lens, pixel_pitch: float, illuminance: float,
                 psf: str | None = None) -> Defocused:
    """Irradiance ``illuminance · image`` (lux) of a linear scene ``image`` in [0, 1],
    defocused by :func:`render_defocus` through ``lens`` for the given depth map."""
    if not (isinstance(illuminance, (int, float, np.floating)) and math.isfinite(illuminance)
            and illuminance > 0):
        raise InputError("illuminance", illuminance, "a positive number of lux",
                         "e.g. 300")
    img = check_irradiance(image, "image")
    return render_defocus(img * np.float32(illuminance), depth, lens, pixel_pitch, psf=psf)
