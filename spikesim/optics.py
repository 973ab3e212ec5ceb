"""Thin-lens optics: circle of confusion and point-spread functions (physics.md §2).

Conventions
-----------
- Distances (focal length ``f``, focus distance ``s_f``, object depth ``s``) and the
  pixel pitch ``p`` are in metres; blur sizes are in pixels.
- The aperture diameter is ``A = f / N``; the sensor sits at the image distance
  ``v_f = f s_f / (s_f - f)`` of the focus distance.
- The *signed* blur-circle diameter is ``c = A v_f (1/s_f - 1/s) / p`` pixels: positive
  for objects farther than the focus distance (behind the focal plane), negative for
  nearer ones, zero at the focus distance, and linear in inverse depth ``1/s``.
- The Gaussian PSF matches the second moment of the blur disk: ``sigma = |c| / 4``,
  combined in quadrature with the in-focus floor ``sigma_0`` (optics + pixel integration).
- PSF kernels are odd-sized, centred, float64 and sum to 1 (a blur conserves energy).
"""

from __future__ import annotations

import math

import numpy as np

from . import settings
from .errors import InputError


def check_lens(lens, where: str = "lens") -> None:
    """Validate a :class:`spikesim.config.Lens` (or any object with its fields).

    Raises :class:`InputError` naming the field: a focal length or f-number that is not
    a positive finite number, a focus distance not beyond the focal length, a negative
    in-focus floor, an unknown PSF shape.
    """
    f = getattr(lens, "focal_length", None)
    n = getattr(lens, "f_number", None)
    sf = getattr(lens, "focus_distance", None)
    floor = getattr(lens, "sigma_floor", 0.0)
    for name, value in (("focal_length", f), ("f_number", n), ("focus_distance", sf)):
        if not _positive_finite(value):
            raise InputError(f"{where}.{name}", value, "a positive finite number"
                             + (" (metres)" if name != "f_number" else ""),
                             f"set {name} to a value > 0"
                             + (" (f/1.4 to f/8 are typical)" if name == "f_number" else ""))
    if sf <= f:
        raise InputError(f"{where}.focus_distance", sf,
                         f"a distance beyond the focal length ({f} m)",
                         "a thin lens cannot focus closer than its focal length; increase it")
    if not (isinstance(floor, (int, float, np.floating)) and math.isfinite(floor) and floor >= 0):
        raise InputError(f"{where}.sigma_floor", floor, "a finite number >= 0 (px)",
                         "use e.g. 0.5")
    psf = getattr(lens, "psf", "gaussian")
    if psf not in ("gaussian", "disk"):
        raise InputError(f"{where}.psf", psf, "one of gaussian, disk", "pick one of them")


def _positive_finite(value) -> bool:
    return (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            and math.isfinite(value) and value > 0)


def check_pixel_pitch(pixel_pitch, where: str = "pixel_pitch") -> float:
    """Return ``pixel_pitch`` as float after checking it is a positive finite length (m)."""
    if not _positive_finite(pixel_pitch):
        raise InputError(where, pixel_pitch, "a positive finite length in metres (e.g. 20e-6)",
                         "give the sensor's pixel pitch in metres")
    if pixel_pitch > 1e-3:
        raise InputError(where, pixel_pitch, "a pixel pitch in metres (<= 1 mm)",
                         "the value looks like micrometres; write 20e-6 for 20 µm")
    return float(pixel_pitch)


def check_depth(depth, where: str = "depth", focal_length: float | None = None) -> np.ndarray:
    """Return ``depth`` as a float64 array after checking every value is finite and > 0.

    With ``focal_length`` given, depths must also exceed it (an object inside the focal
    length forms no real image). Errors name the count and first position of bad values.
    """
    arr = np.asarray(depth, dtype=np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        raise InputError(where, f"{int(bad.sum())} NaN/inf value(s) (first at index "
                         f"{np.unravel_index(int(np.argmax(bad)), arr.shape) if arr.ndim else ()})",
                         "finite depths in metres", "fill or mask the missing depths")
    nonpos = arr <= 0
    if nonpos.any():
        raise InputError(where, f"{int(nonpos.sum())} value(s) <= 0 (min {arr.min():g})",
                         "depths > 0 in metres",
                         "depth must be a distance in metres; check the scale/sign of the map")
    if focal_length is not None and (arr <= focal_length).any():
        raise InputError(where, f"min {arr.min():g} m", f"depths beyond the focal length "
                         f"({focal_length} m)", "objects that close form no image; clip the map")
    return arr


def image_distance(distance, focal_length: float):
    """Thin-lens image distance ``v = f s / (s - f)`` (metres) of an object at ``s > f``."""
    s = np.asarray(distance, dtype=np.float64)
    v = focal_length * s / (s - focal_length)
    return float(v) if v.ndim == 0 else v


def sensor_distance(lens) -> float:
    """Image distance of the focus distance, ``v_f`` (metres): where the sensor sits."""
    check_lens(lens)
    return image_distance(lens.focus_distance, lens.focal_length)


def coc_per_inverse_depth(lens, pixel_pitch: float) -> float:
    """``dc/d(1/s)`` in px·m: the signed CoC is ``this * (1/s_f - 1/s)``."""
    check_lens(lens)
    pitch = check_pixel_pitch(pixel_pitch)
    return lens.aperture * sensor_distance(lens) / pitch


def coc_signed_px(depth, lens, pixel_pitch: float):
    """Signed blur-circle diameter in pixels, ``c = A v_f (1/s_f - 1/s) / p``.

    Parameters
    ----------
    depth : float or array, metres
        Object distances ``s`` (finite, > focal length).
    lens : spikesim.config.Lens
    pixel_pitch : float, metres

    Returns
    -------
    float32 array of ``depth``'s shape (a Python float for a scalar): positive behind
    the focal plane (``s > s_f``), negative in front of it, zero at ``s_f``.
    """
    scale = coc_per_inverse_depth(lens, pixel_pitch)
    s = check_depth(depth, "depth", lens.focal_length)
    c = scale * (1.0 / lens.focus_distance - 1.0 / s)
    return float(c) if c.ndim == 0 else c.astype(np.float32)


def sigma_px(coc_px, sigma_floor: float = 0.5):
    """Gaussian PSF standard deviation ``sqrt((|c|/4)^2 + sigma_0^2)`` in pixels.

    ``coc_px`` : signed or unsigned blur diameter(s) in pixels; ``sigma_floor`` : px.
    Returns float32 for arrays, a float for scalars.
    """
    if not (isinstance(sigma_floor, (int, float, np.floating)) and math.isfinite(sigma_floor)
            and sigma_floor >= 0):
        raise InputError("sigma_floor", sigma_floor, "a finite number >= 0 (px)", "use e.g. 0.5")
    c = np.asarray(coc_px, dtype=np.float64)
    if not np.isfinite(c).all():
        raise InputError("coc_px", "non-finite values", "finite blur diameters (px)",
                         "check the depth map")
    s = np.sqrt((np.abs(c) / 4.0) ** 2 + float(sigma_floor) ** 2)
    return float(s) if s.ndim == 0 else s.astype(np.float32)


def gaussian_radius(sigma: float) -> int:
    """Half-width of the Gaussian kernel, ``ceil(GAUSS_TRUNCATE * sigma)`` (>= 0)."""
    return int(math.ceil(settings.GAUSS_TRUNCATE * float(sigma)))


def gaussian_kernel1d(sigma: float, radius: int | None = None) -> np.ndarray:
    """Normalised, sampled 1-D Gaussian of s.d. ``sigma`` px on ``[-radius, radius]``."""
    sigma = float(sigma)
    if not (math.isfinite(sigma) and sigma >= 0):
        raise InputError("sigma", sigma, "a finite number >= 0 (px)", "check the blur size")
    r = gaussian_radius(sigma) if radius is None else int(radius)
    if r < 0:
        raise InputError("radius", radius, "an integer >= 0", "use None for the default")
    if sigma < settings.MIN_BLUR_SIGMA or r == 0:
        k = np.zeros(2 * r + 1)
        k[r] = 1.0
        return k
    x = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def gaussian_psf(sigma: float, radius: int | None = None) -> np.ndarray:
    """2-D Gaussian PSF ``(2r+1, 2r+1)`` float64, sums to 1 (``r`` = ``gaussian_radius``)."""
    k = gaussian_kernel1d(sigma, radius)
    psf = np.outer(k, k)
    return psf / psf.sum()


def disk_psf(diameter: float, supersample: int | None = None) -> np.ndarray:
    """Anti-aliased pillbox of the given ``diameter`` (px), float64, sums to 1.

    Each pixel's weight is the fraction of its area inside the disk, estimated with
    ``supersample``² sub-samples (``settings.DISK_SUPERSAMPLE``). A diameter below one
    pixel gives (nearly) a delta. The kernel is ``(2r+1, 2r+1)`` with
    ``r = ceil(diameter/2)``.
    """
    d = float(abs(diameter))
    if not math.isfinite(d):
        raise InputError("diameter", diameter, "a finite blur diameter (px)", "check the depth")
    n = int(supersample or settings.DISK_SUPERSAMPLE)
    radius = d / 2.0
    r = int(math.ceil(radius))
    if radius * 2 < 1.0 / n:
        k = np.zeros((2 * r + 1, 2 * r + 1))
        k[r, r] = 1.0
        return k
    offs = (np.arange(n) + 0.5) / n - 0.5                    # sub-sample offsets in a pixel
    grid = (np.arange(-r, r + 1)[:, None] + offs[None, :]).ravel()   # (2r+1)*n positions
    inside = (grid[:, None] ** 2 + grid[None, :] ** 2) <= radius ** 2
    k = inside.reshape(2 * r + 1, n, 2 * r + 1, n).mean(axis=(1, 3))
    if k.sum() == 0:                                         # a disk smaller than the sub-grid
        k[r, r] = 1.0
    return k / k.sum()


def psf_for(coc_px: float, lens) -> np.ndarray:
    """The lens's PSF for one signed blur diameter: a Gaussian of ``sigma_px`` or a disk of
    diameter ``|c|`` convolved with the in-focus Gaussian floor."""
    check_lens(lens)
    if lens.psf == "gaussian":
        return gaussian_psf(sigma_px(coc_px, lens.sigma_floor))
    disk = disk_psf(coc_px)
    if lens.sigma_floor > 0:
        from scipy.signal import convolve2d

        disk = convolve2d(disk, gaussian_psf(lens.sigma_floor))
    return disk / disk.sum()
