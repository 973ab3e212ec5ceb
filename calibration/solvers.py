"""The per-pixel fits of the calibration and the camera's dead time (physics.md §5).

The model (physics.md §4): a pixel's charge per step is ``lambda = (L + L_d) / q`` with
``q = 1 / (k g)``, and its rate is ``r = 1 / (delta + 1 / lambda)``, so

    D = 1/r - delta = q / (L + L_d)       1/D = lambda = L / q + L_d / q.

All three methods work in ``lambda = r / (1 - delta r)`` (``= 1/D``, :func:`charge_from_rate`),
which is zero, not infinite, for a pixel that never fires. Each takes the ``(K, N)`` rates
of ``K`` fields and returns per-pixel ``q``, ``offset``, ``residual`` and an
ill-conditioned mask (:func:`solve`); :func:`estimate_dead_time` finds the ``delta`` that
makes ``1/D`` most linear in the level. :func:`calibration.fit.calibrate` puts them
together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spikesim import rate_law
from spikesim.errors import InputError

from . import settings


# --------------------------------------------------------------------------------------
# elementary pieces
# --------------------------------------------------------------------------------------
def charge_from_rate(rate, dead_time: float) -> np.ndarray:
    """``lambda = 1/D = r / (1 - delta r)``: charge per step (thresholds) from a rate.

    The sensor's rate law (:func:`spikesim.rate_law.charge_from_rate`) with the
    calibration's guards: the denominator is floored at ``MIN_DENOM`` (a saturated pixel
    gives a large but finite value) and the result is capped at ``CHARGE_MAX``.

    Parameters
    ----------
    rate : array, spikes per step (any shape)
    dead_time : float, steps

    Returns float64 of ``rate``'s shape.
    """
    return rate_law.charge_from_rate(np.asarray(rate, dtype=np.float64), dead_time,
                                     min_denom=settings.MIN_DENOM,
                                     max_charge=settings.CHARGE_MAX)


@dataclass
class LineFit:
    """Per-pixel weighted least-squares line ``y = a x + b`` (arrays of shape ``(N,)``)."""

    a: np.ndarray
    b: np.ndarray
    chi2: np.ndarray
    var_a: np.ndarray
    var_b: np.ndarray
    cov_ab: np.ndarray


def weighted_line(x, y, w) -> LineFit:
    """Fit ``y[:, p] = a_p x + b_p`` per column with weights ``w[:, p]`` (``1/variance``).

    ``x`` is ``(K,)``; ``y`` and ``w`` are ``(K, N)``. Degenerate columns (fewer than two
    distinct weighted levels) get ``a = b = 0`` and infinite variances.
    """
    x = np.asarray(x, dtype=np.float64)[:, None]
    s = w.sum(axis=0)
    sx = (w * x).sum(axis=0)
    sxx = (w * x * x).sum(axis=0)
    sy = (w * y).sum(axis=0)
    sxy = (w * x * y).sum(axis=0)
    det = s * sxx - sx * sx
    ok = det > 0
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    a = (s * sxy - sx * sy) * inv
    b = (sxx * sy - sx * sxy) * inv
    resid = y - a[None] * x - b[None]
    chi2 = (w * resid * resid).sum(axis=0)
    big = np.where(ok, 0.0, np.inf)
    return LineFit(a, b, chi2, s * inv + big, sxx * inv + big, -sx * inv)


def charge_weights(rates, sd_rate, dead_time: float) -> np.ndarray:
    """``1 / var(lambda)`` per field and pixel, propagating each field's rate noise.

    ``d lambda / d r = 1 / (1 - delta r)^2``.
    """
    denom = rate_law.inversion_denominator(rates, dead_time, min_denom=settings.MIN_DENOM)
    sd = np.asarray(sd_rate, dtype=np.float64)[:, None] / (denom * denom)
    return 1.0 / (sd * sd)


def _line_chi2(rates, levels, sd_rate, dead_time: float) -> np.ndarray:
    """Per-pixel chi^2 of the weighted line of ``1/D`` vs level at ``dead_time``."""
    lam = charge_from_rate(rates, dead_time)
    return weighted_line(levels, lam, charge_weights(rates, sd_rate, dead_time)).chi2


def dead_time_objective(rates, levels, sd_rate, dead_time: float) -> float:
    """Robust total misfit ``sum log(1 + chi2_p / cap)`` of the lines of ``1/D`` vs level.

    Quadratic (``chi2 / cap``) near the minimum, logarithmic for outliers (hot or odd
    pixels), and never flat far from it, so a coarse grid finds the basin.
    """
    chi2 = _line_chi2(rates, levels, sd_rate, dead_time)
    return float(np.log1p(chi2 / settings.DEAD_TIME_CHI2_CAP).sum())


def estimate_dead_time(rates, levels, sd_rate, high: float | None = None) -> dict:
    """The dead time that makes ``1/D`` most linear in the level (``K >= 3`` fields).

    A coarse grid over ``[0, high]`` then a golden-section refinement of the robust
    objective; the uncertainty is from the curvature of the total chi^2 of the pixels
    that fit (``delta chi^2 = 1``, scaled by the reduced chi^2 when it exceeds 1). At most
    ``DEAD_TIME_MAX_PIXELS`` pixels (an even stride) enter: one camera-wide scalar needs
    no more (its uncertainty is ~1e-4 steps at 20,000 steps per field).

    Parameters
    ----------
    rates : (K, N) spikes per step of the candidate pixels
    levels : (K,) levels
    sd_rate : (K,) each field's rate noise (spikes per step)

    Returns
    -------
    dict with ``value``, ``sd`` (steps), ``chi2_reduced`` and ``grid`` (pairs).
    """
    rates = np.asarray(rates, dtype=np.float64)
    levels = np.asarray(levels, dtype=np.float64)
    if rates.shape[1] > settings.DEAD_TIME_MAX_PIXELS:         # an even, deterministic subset
        step = -(-rates.shape[1] // settings.DEAD_TIME_MAX_PIXELS)
        rates = rates[:, ::step]
    k, n = rates.shape
    if k < 3 or n < 1:
        raise InputError("fields", f"{k} fields", "at least 3 fields to estimate the dead time",
                         "give three or more levels, or pass --dead-time")
    r_hi = float(np.percentile(rates.max(axis=0), 99.9))
    if high is None:
        high = settings.DEAD_TIME_MAX
        if r_hi > 0:
            high = min(high, (1.0 - 10 * settings.MIN_DENOM) / r_hi)

    def obj(d):
        return dead_time_objective(rates, levels, sd_rate, d)

    grid = np.linspace(0.0, high, settings.DEAD_TIME_GRID)
    values = np.array([obj(d) for d in grid])
    j = int(np.argmin(values))
    lo, hi = grid[max(j - 1, 0)], grid[min(j + 1, len(grid) - 1)]
    g = (math.sqrt(5) - 1) / 2
    c, d = hi - g * (hi - lo), lo + g * (hi - lo)
    fc, fd = obj(c), obj(d)
    while hi - lo > settings.DEAD_TIME_TOL:
        if fc < fd:
            hi, d, fd = d, c, fc
            c = hi - g * (hi - lo)
            fc = obj(c)
        else:
            lo, c, fc = c, d, fd
            d = lo + g * (hi - lo)
            fd = obj(d)
    best = (lo + hi) / 2
    if values[j] < obj(best):                 # a grid end point (e.g. delta = 0) is best
        best = float(grid[j])
    chi2 = _line_chi2(rates, levels, sd_rate, best)
    fits = chi2 < settings.DEAD_TIME_CHI2_CAP
    sub = rates[:, fits]

    def total(d):
        return float(_line_chi2(sub, levels, sd_rate, d).sum())

    dof = max(int(fits.sum()) * (k - 2) - 1, 1)
    red = total(best) / dof
    h = settings.DEAD_TIME_CURVATURE_STEP
    x0 = min(max(best, h), high - h)          # central difference inside [0, high]
    curv = (total(x0 + h) - 2 * total(x0) + total(x0 - h)) / (h * h)
    sd = math.sqrt(2.0 / curv * max(red, 1.0)) if curv > 0 else float("inf")
    return {"value": float(best), "sd": sd, "chi2_reduced": float(red),
            "grid": [[float(a), float(b)] for a, b in zip(grid, values)]}


# --------------------------------------------------------------------------------------
# the methods: (K, N) rates -> q, offset, residual, ill-conditioned
# --------------------------------------------------------------------------------------
def solve_lsq(rates, levels, dead_time: float, sd_rate) -> dict:
    """Per-pixel weighted lines of ``1/D`` vs level. Returns ``q, offset, residual, ill``
    (``(N,)`` each), ``gain_raw = 1/q`` and the standard errors ``sd_gain_rel, sd_offset``."""
    lam = charge_from_rate(rates, dead_time)
    fit = weighted_line(levels, lam, charge_weights(rates, sd_rate, dead_time))
    k = len(levels)
    ill = ~(fit.a > 0) | ~np.isfinite(fit.a) | ~np.isfinite(fit.b)
    a = np.where(ill, 1.0, fit.a)
    offset = np.where(ill, 0.0, fit.b / a)
    residual = np.sqrt(fit.chi2 / (k - 2)) if k > 2 else np.zeros_like(fit.chi2)
    var_off = fit.var_b / a**2 + fit.b**2 * fit.var_a / a**4 - 2 * fit.b * fit.cov_ab / a**3
    return {"gain_raw": a, "q": 1.0 / a, "offset": offset, "residual": residual, "ill": ill,
            "sd_gain_rel": np.sqrt(np.maximum(fit.var_a, 0)) / a,
            "sd_offset": np.sqrt(np.maximum(var_off, 0))}


def solve_paper(rates, levels, dead_time: float) -> dict:
    """Eq. 9-11 with ``D_k = 1/r_k - delta``; three fields (dark, medium, bright)."""
    lam = charge_from_rate(rates, dead_time)
    l1, l2, l3 = (float(v) for v in levels)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.where(lam[1] > 0, lam[0] / lam[1], np.inf)        # D_2 / D_1 = lam_1 / lam_2
        contrast = 1.0 - rho
        ill = ~(contrast > settings.PAPER_MIN_CONTRAST)
        offset = np.where(ill, 0.0, (l2 * rho - l1) / np.where(ill, 1.0, contrast))
        q = (l3 + offset) / np.where(lam[2] > 0, lam[2], 1.0)      # D_3 (L_3 + f_o1)
    ill |= ~(lam[2] > 0) | ~(l3 + offset > 0) | ~np.isfinite(offset) | ~np.isfinite(q)
    q = np.where(ill, 1.0, q)
    offset = np.where(ill, 0.0, offset)
    return {"gain_raw": 1.0 / q, "q": q, "offset": offset,
            "residual": np.zeros(q.shape), "ill": ill}


def solve_ratio(rates, levels, dead_time: float) -> dict:
    """Eq. 13 on one field: the response ratio; offset 0; ``q`` from the assumed dead time."""
    rate = rates[0]
    level = float(levels[0])
    ill = ~(rate > 0)
    gain_raw = np.where(ill, 1.0, rate)
    lam = charge_from_rate(gain_raw, dead_time)
    return {"gain_raw": gain_raw, "q": level / lam, "offset": np.zeros(rate.shape),
            "residual": np.zeros(rate.shape), "ill": ill}


def solve(method: str, rates, levels, dead_time: float, sd_rate) -> dict:
    """The fit of ``method`` (``"lsq"``, ``"paper"`` or ``"ratio"``) on ``(K, N)`` rates."""
    if method == "lsq":
        return solve_lsq(rates, levels, dead_time, sd_rate)
    if method == "paper":
        return solve_paper(rates, levels, dead_time)
    return solve_ratio(rates, levels, dead_time)
