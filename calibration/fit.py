"""Fits of the fixed-pattern noise from uniform fields (physics.md §5, paper Eq. 9-13).

The model (physics.md §4): a pixel's charge per step is ``lambda = (L + L_d) / q`` with
``q = 1 / (k g)``, and its rate is ``r = 1 / (delta + 1 / lambda)``, so

    D = 1/r - delta = q / (L + L_d)       1/D = lambda = L / q + L_d / q.

All three methods work in ``lambda = r / (1 - delta r)`` (``= 1/D``), which is zero, not
infinite, for a pixel that never fires.

- ``paper`` (Eq. 9-12, exactly three fields, ``delta = 1`` as the paper assumes):
  ``rho = D_2 / D_1``, ``L_d = (L_2 rho - L_1) / (1 - rho)``, ``q = D_3 (L_3 + L_d)``.
- ``lsq``: per pixel, the weighted least-squares line of ``1/D`` against ``L`` over all
  ``K >= 2`` fields (weights from each field's temporal noise); ``q = 1/slope``,
  ``L_d = intercept/slope``; with ``K >= 3`` the dead time is estimated as the ``delta``
  that makes ``1/D`` most linear in ``L`` over all good pixels (minimum total chi^2).
- ``ratio`` (Eq. 13, one field): the response ratio ``R_ref / R_p``; it assumes the
  response is proportional to the gain (no dark offset, no dead-time compression).

Gains are normalised to a median of 1 over good pixels; ``q_ref`` is the ``q`` of that
median (ideal) pixel, or of ``--reference``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from spikesim import rate_law
from spikesim.errors import InputError

from . import defects as dfx
from . import settings
from .calfile import FORMAT_NAME, FORMAT_VERSION, Calibration
from .operating import operating_maps
from .rates import FieldRates, check_fields, noise_floor_pct, rate_noise, robust_sd

log = logging.getLogger(__name__)

ASSUMPTIONS = {
    "paper": "Eq. 9-12 as physics.md §5 reads them: D = 1/r - delta with the dead time "
             "assumed (1 step, the paper's D = 1/r - 1 unless --dead-time); the first field "
             "gives the offset with the second, the third the gain; no residual to test it",
    "lsq": "1/D = L/q + L_d/q is a straight line in the level (physics.md §4); weighted "
           "least squares over all fields; the dead time is estimated when K >= 3 and the "
           "levels are known, else assumed",
    "ratio": "Eq. 13: the response (rate) is proportional to the gain: no dark offset and "
             "no dead-time compression; offsets are reported as 0",
}


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


def auto_levels(rates, dead_time: float, mask=None) -> np.ndarray:
    """Relative levels of the fields from their rates: darkest 0, brightest 1.

    Under the model ``lambda`` is affine in the level for every pixel, so each pixel
    gives ``(lambda_k - lambda_1) / (lambda_K - lambda_1)`` = ``(L_k - L_1) / (L_K - L_1)``;
    the level is the median of that over pixels. It assumes the darkest field is dark
    (level 0): offsets then come out in units of the brightest field's level. One field
    gets level 1.
    """
    rates = np.asarray(rates, dtype=np.float64)
    lam = charge_from_rate(rates, dead_time)
    if mask is not None:
        lam = lam[:, mask]
    if lam.shape[0] == 1:
        return np.ones(1)
    span = lam[-1] - lam[0]
    ok = span > 0
    if not ok.any():
        raise InputError("--levels", "auto", "a brightest field brighter than the darkest",
                         "order the field files from darkest to brightest, or give --levels")
    levels = np.median((lam[:, ok] - lam[0, ok]) / span[ok], axis=1)
    if not np.all(np.diff(levels) > 0):
        raise InputError("--levels", "auto", "fields given from darkest to brightest",
                         "order the field files by brightness (relative levels "
                         + ", ".join(f"{v:.4g}" for v in levels) + "), or give --levels")
    return levels


def check_levels(levels, k: int, method: str) -> np.ndarray:
    """Levels must match the fields, be finite, >= 0 and strictly increasing."""
    levels = np.asarray(levels, dtype=np.float64).ravel()
    shown = ",".join(f"{v:g}" for v in levels)
    if levels.size != k:
        raise InputError("--levels", shown, f"{k} levels, one per field",
                         f"give one level per field file ({k} files)")
    if not np.all(np.isfinite(levels)) or np.any(levels < 0):
        raise InputError("--levels", shown, "finite levels >= 0", "fix the level values")
    if k > 1 and not np.all(np.diff(levels) > 0):
        raise InputError("--levels", shown, "strictly increasing levels (dark to bright)",
                         "order the fields and their levels from darkest to brightest")
    if method == "ratio" and levels[0] <= 0:
        raise InputError("--levels", shown, "a level > 0 for the one ratio field",
                         "Eq. 13 needs a lit field; give its level")
    return levels


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


def _solve(method, rates, levels, dead_time, sd_rate):
    if method == "lsq":
        return solve_lsq(rates, levels, dead_time, sd_rate)
    if method == "paper":
        return solve_paper(rates, levels, dead_time)
    return solve_ratio(rates, levels, dead_time)


# --------------------------------------------------------------------------------------
# the whole calibration
# --------------------------------------------------------------------------------------
def _check_saturated_fields(fields, rates, dead_time, assumed: bool):
    """Refuse fields whose pixels sit at the saturation rate (most of them)."""
    for i, f in enumerate(fields):
        frac = float(np.mean(dfx.saturated_mask(rates[i], dead_time)))
        collapsed = _collapsed(rates[i], f.steps)
        if frac > settings.SATURATED_FIELD_FRACTION or (collapsed and i > 0 and
                                                        not _collapsed(rates[0], fields[0].steps)):
            raise InputError(
                "fields", f"{f.source}: median rate {np.median(rates[i]):.4g} "
                f"({100 * frac:.0f} % of pixels at 1/(1 + delta) = {1 / (1 + dead_time):.4g}"
                + (" for the assumed dead time" if assumed else "") + ")",
                "fields below saturation", "lower that field's level or leave it out")


def _collapsed(rate, steps) -> bool:
    """Most pixels at one rate (within 2 spikes) although the field is bright: saturation."""
    if float(np.median(rate)) < 1.0 / (1.0 + settings.DEAD_TIME_MAX):
        return False
    med = float(np.median(rate))
    return float(np.mean(np.abs(rate - med) <= 2.0 / steps)) > settings.SATURATED_FIELD_FRACTION


def _parse_reference(reference, shape):
    if reference is None:
        return None
    try:
        x, y = (int(v) for v in reference)
    except (TypeError, ValueError):
        raise InputError("--reference", reference, "a pixel X,Y", "e.g. --reference 200,125") \
            from None
    h, w = shape
    if not (0 <= x < w and 0 <= y < h):
        raise InputError("--reference", f"{x},{y}", f"a pixel inside {w}x{h}",
                         "x counts columns from the left, y rows from the top")
    return x, y


def calibrate(fields: list[FieldRates], levels="auto", method: str = settings.DEFAULT_METHOD,
              dead_time: float | None = None, reference=None,
              operating_level: float | None = None) -> Calibration:
    """Fit a camera's fixed-pattern noise from uniform fields.

    Parameters
    ----------
    fields : list of :class:`FieldRates`, darkest first, one resolution and length
    levels : sequence of K levels (e.g. lux), or ``"auto"`` (relative, darkest = 0)
    method : ``"lsq"`` (K >= 2), ``"paper"`` (K = 3) or ``"ratio"`` (K = 1)
    dead_time : steps, assumed; ``None`` estimates it (lsq, K >= 3, known levels) or
        assumes 1 step (the paper's model)
    reference : ``(x, y)`` reference pixel, or ``None`` for the median pixel
    operating_level : level of ``gamma`` and ``weight`` (default: the median level)

    Returns
    -------
    :class:`Calibration`; its ``meta["summary"]`` holds PRNU, DSNU, defect counts,
    noise floors and uncertainties.
    """
    check_fields(fields)
    if method not in settings.METHODS:
        raise InputError("--method", method, "one of " + ", ".join(settings.METHODS),
                         "lsq is the default")
    k = len(fields)
    need = {"paper": "exactly 3 fields (dark, medium, bright)", "ratio": "exactly 1 field",
            "lsq": "at least 2 fields"}[method]
    if (method == "paper" and k != 3) or (method == "ratio" and k != 1) or \
            (method == "lsq" and k < 2):
        raise InputError("fields", f"{k} field(s) for --method {method}", need,
                         "give the right number of fields or choose another --method")
    levels_auto = isinstance(levels, str)
    if levels_auto and levels != "auto":
        raise InputError("--levels", levels, "numbers L1,L2,... or auto", "e.g. 0,153,335")
    if not levels_auto:
        levels = check_levels(levels, k, method)
    if dead_time is not None and not (0 <= float(dead_time) <= settings.DEAD_TIME_MAX):
        raise InputError("--dead-time", dead_time, f"a dead time in [0, {settings.DEAD_TIME_MAX}] "
                         "steps", "the reference camera's is 1")
    h, w = fields[0].shape
    ref_px = _parse_reference(reference, (h, w))
    n = h * w
    rates = np.stack([f.rate.ravel() for f in fields])
    rates_a = np.stack([f.rate_a.ravel() for f in fields])
    rates_b = np.stack([f.rate_b.ravel() for f in fields])
    sd_rate = np.array([rate_noise(f) for f in fields])
    total = sum(f.counts for f in fields).ravel()
    never = total == 0
    unstable = dfx.unstable_mask(fields).ravel()

    # -- dead time ----------------------------------------------------------------------
    candidates = ~never & ~unstable
    if dead_time is not None:
        dt = {"value": float(dead_time), "source": "assumed (--dead-time)", "sd": 0.0}
    elif method == "paper":
        dt = {"value": settings.PAPER_DEAD_TIME, "source": "assumed (the paper: D = 1/r - 1)",
              "sd": 0.0}
    elif method == "lsq" and k >= 3 and not levels_auto:
        pre = charge_from_rate(rates, settings.DEFAULT_DEAD_TIME)
        _check_saturated_fields(fields, rates, 0.0, assumed=False)
        # leave hot pixels out of the estimate: dark response far above the others
        dark = pre[0]
        hot_pre = dark > np.median(dark[candidates]) + settings.HOT_ROBUST_Z * \
            robust_sd(dark[candidates]) if candidates.any() else np.zeros(n, bool)
        use = candidates & ~hot_pre
        if use.sum() < 3:
            raise InputError("fields", f"{int(use.sum())} usable pixels", "pixels that fire",
                             "check the captures: almost every pixel is dead or unstable")
        est = estimate_dead_time(rates[:, use], levels, sd_rate)
        dt = {"value": est["value"], "source": "estimated (1/D linear in the level)",
              "sd": est["sd"], "chi2_reduced": est["chi2_reduced"]}
    else:
        why = "auto levels" if levels_auto else ("one field" if k < 3 else "assumed")
        dt = {"value": settings.DEFAULT_DEAD_TIME, "source": f"assumed ({why})", "sd": 0.0}
    delta = dt["value"]
    _check_saturated_fields(fields, rates, delta, assumed="assumed" in dt["source"])
    saturated = dfx.saturated_mask(rates, delta).any(axis=0)

    if levels_auto:
        levels = auto_levels(rates, delta, candidates & ~saturated if candidates.any() else None)
    levels = np.asarray(levels, dtype=np.float64)

    # -- the fit ----------------------------------------------------------------------
    sol = _solve(method, rates, levels, delta, sd_rate)
    flags = np.zeros(n, dtype=np.uint8)
    ill = sol["ill"] | saturated | ~np.isfinite(sol["q"]) | ~np.isfinite(sol["offset"])
    lam = charge_from_rate(rates, delta)
    base = candidates & ~ill
    if method == "ratio":
        high, low = dfx.outliers_by_rate(rates[0], base if base.any() else candidates)
        dead = never | low
        hot = high & ~dead
    else:
        response = lam[-1] - lam[0]
        med_resp = float(np.median(response[base])) if base.any() else 0.0
        dead = never | (response < settings.DEAD_GAIN_MAX * med_resp)
        span = float(levels[-1] - levels[0])
        hot = dfx.hot_by_offset(sol["offset"], base & ~dead, span) & ~dead
    flags[dead] |= dfx.DEAD
    flags[hot] |= dfx.HOT
    flags[unstable] |= dfx.UNSTABLE
    flags[ill & ~never] |= dfx.ILL_CONDITIONED
    if method == "lsq" and k >= 3:
        # residuals are in units of the temporal noise measured from the halves; when the
        # whole camera misfits more than that (median |z| > 0.6745), scale the limit
        fitted = candidates & ~ill & ~hot & ~dead
        med_res = float(np.median(sol["residual"][fitted])) if fitted.any() else 0.0
        scale = max(1.0, med_res / settings.NORMAL_MEDIAN_ABS)
        flags[(sol["residual"] > settings.POOR_FIT_Z * scale) & ~never] |= dfx.POOR_FIT
    good = flags == 0
    if not good.any():
        raise InputError("fields", "every pixel flagged as a defect", "a camera with good pixels",
                         "check the captures, their levels and --size")

    # -- normalise, reference, neutral values -----------------------------------------
    med_gain = float(np.median(sol["gain_raw"][good]))
    gain = sol["gain_raw"] / med_gain
    med_offset = float(np.median(sol["offset"][good]))
    if ref_px is None:
        if method == "ratio":
            lam_med = float(charge_from_rate(np.median(rates[0][good]), delta))
            q_ref = float(levels[0]) / lam_med
        else:
            q_ref = 1.0 / med_gain                      # gain = q_ref / q has median 1
        ref_meta = {"kind": "median", "note": "the median pixel over good pixels"}
    else:
        x, y = ref_px
        p = y * w + x
        if not good[p]:
            raise InputError("--reference", f"{x},{y}", "a good pixel",
                             f"that pixel is flagged {', '.join(dfx.reasons(flags[p]))}; "
                             "choose another or leave --reference out (median pixel)")
        q_ref = float(sol["q"][p])
        ref_meta = {"kind": "pixel", "x": x, "y": y}
    bad = ~good
    gain = np.where(bad, 1.0, gain)
    offset = np.where(bad, med_offset, sol["offset"])
    q = np.where(bad, q_ref, sol["q"])

    # -- operating level: gamma (interval) and weight (rate) ---------------------------
    if operating_level is None:
        operating_level = float(np.median(levels))
    operating_level = float(operating_level)
    if not (operating_level > 0 and math.isfinite(operating_level)):
        raise InputError("--operating-level", operating_level, "a level > 0",
                         "give the scene level at which gamma and the weight are exact")
    gamma, weight = operating_maps(q, offset, q_ref, operating_level, delta)
    gamma = np.where(bad, 1.0, gamma)
    weight = np.where(bad, 1.0, weight)
    k_star = int(np.argmin(np.abs(levels - operating_level)))
    r_star = rates[k_star]
    r_ref = float(np.median(r_star[good])) if ref_px is None else float(r_star[ref_px[1] * w
                                                                              + ref_px[0]])
    ratio = np.where(bad | ~(r_star > 0), 1.0, r_ref / np.where(r_star > 0, r_star, 1.0))
    if method == "ratio":
        weight = ratio.copy()
        gamma = np.where(bad, 1.0, 1.0 / gain)
    residual = np.nan_to_num(sol["residual"], nan=0.0, posinf=0.0, neginf=0.0)

    # -- uncertainty from the two halves (same dead time and levels) ---------------------
    halves = [_solve(method, r, levels, delta, sd_rate * math.sqrt(2)) for r in (rates_a, rates_b)]
    ga = halves[0]["gain_raw"] / np.median(halves[0]["gain_raw"][good])
    gb = halves[1]["gain_raw"] / np.median(halves[1]["gain_raw"][good])
    gain_unc = 100 * robust_sd(ga - gb, good) / 2
    off_unc = robust_sd(halves[0]["offset"] - halves[1]["offset"], good) / 2

    # -- summary --------------------------------------------------------------------------
    defects2d = flags.reshape(h, w)
    good2d = good.reshape(h, w)
    floors = [noise_floor_pct(f, good2d) for f in fields]
    summary = {
        "prnu_pct": float(100 * np.std(gain[good]) / np.mean(gain[good])),
        "dsnu": float(np.std(offset[good])) if method != "ratio" else None,
        "offset_median": med_offset if method != "ratio" else None,
        "defects": dfx.counts_by_reason(flags),
        "defect_fraction_pct": float(100 * np.mean(~good)),
        "noise_floor_pct": floors,
        "noise_floor_pct_median": float(np.median(floors)),
        "gain_uncertainty_pct": float(gain_unc),
        "offset_uncertainty": float(off_unc) if method != "ratio" else None,
        "residual_median": float(np.median(residual[good])) if method == "lsq" and k > 2
        else None,
        "mean_rates": [float(np.mean(rates[i][good])) for i in range(k)],
    }
    from spikesim import __version__

    meta = {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION,
        "toolkit_version": __version__,
        "resolution": {"width": w, "height": h},
        "method": method, "assumptions": ASSUMPTIONS[method],
        "levels": [float(v) for v in levels], "levels_auto": bool(levels_auto),
        "level_unit": "relative (darkest field 0, brightest 1)" if levels_auto else "lux",
        "steps_per_field": [int(f.steps) for f in fields],
        "fields": [str(f.source) for f in fields],
        "operating_level": operating_level, "ratio_field_level": float(levels[k_star]),
        "dead_time": dt, "reference": ref_meta, "q_ref": float(q_ref),
        "rate_noise": [float(v) for v in sd_rate],
        "keys": {"gamma": "Eq. 12 at the operating level; acts on the interval D",
                 "weight": "Eq. 14 spike weight at the operating level; acts on the rate",
                 "ratio": "Eq. 13 from the field nearest the operating level",
                 "residual": "lsq RMS residual / temporal noise" if method == "lsq"
                 else "not available for this method (zeros)"},
        "summary": summary,
    }
    maps = {name: arr.reshape(h, w) for name, arr in
            (("gain", gain), ("offset", offset), ("q", q), ("gamma", gamma),
             ("weight", weight), ("ratio", ratio), ("residual", residual))}
    return Calibration(defects=defects2d, meta=meta, **maps)
