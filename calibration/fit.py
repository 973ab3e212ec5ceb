"""Fits of the fixed-pattern noise from uniform fields (physics.md §5, paper Eq. 9-13).

:func:`calibrate` turns the spike counts of ``K`` uniform fields into a
:class:`~calibration.calfile.Calibration`, in named phases: check the request, stack the
fields, find the dead time, fit every pixel and flag defects, normalise to the
reference pixel, compute the maps at the operating level, estimate the uncertainty from
the two halves, summarise. The per-pixel fits live in :mod:`calibration.solvers`:

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

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spikesim.errors import InputError

from . import defects as dfx
from . import settings
from .calfile import FORMAT_NAME, FORMAT_VERSION, Calibration
from .operating import operating_maps
from .rates import FieldRates, check_fields, noise_floor_pct, rate_noise, robust_sd
from .solvers import charge_from_rate, estimate_dead_time, solve

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
# levels
# --------------------------------------------------------------------------------------
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
# the whole calibration
# --------------------------------------------------------------------------------------
def _check_saturated_fields(fields, rates, dead_time, source: str):
    """Refuse a field with most pixels at the saturation rate ``1/(1 + delta)``.

    Saturation is judged by the rate law alone, at the dead time the fit uses (assumed,
    or estimated from all the fields). A field where most pixels fire at *one* rate is not
    saturated for that reason: a camera with little PRNU and a short capture puts almost
    every pixel within a spike or two of the median at any level. A saturated field
    cannot hide from an estimated dead time: its rates stop following the level, the
    estimate rises until ``1/D`` is linear again, and the field's rates then sit at or
    above the estimate's saturation rate (the search never goes past the rate the
    brightest pixels allow, :func:`calibration.solvers.estimate_dead_time`).
    """
    ceiling = 1.0 / (1.0 + dead_time)
    for i, f in enumerate(fields):
        frac = float(np.mean(dfx.saturated_mask(rates[i], dead_time)))
        if frac > settings.SATURATED_FIELD_FRACTION:
            raise InputError(
                "fields", f"{f.source}: median rate {np.median(rates[i]):.4g}, {100 * frac:.0f} "
                f"% of pixels at or above the saturation rate 1/(1 + delta) = {ceiling:.4g} "
                f"(dead time {dead_time:.4g} steps, {source})",
                "fields below saturation", "lower that field's level or leave it out")


def _check_fields_respond(fields, data: "_Stack", levels) -> None:
    """Each field must be brighter than the one before it, as its level says.

    Under the model every pixel's rate grows with the level, so the mean rate over pixels
    of field ``k`` exceeds that of field ``k - 1`` by far more than the noise of a mean
    over ``N`` pixels (``RESPONSE_Z`` standard errors). The same capture given for two
    levels (or two copies of it) fails this exactly; fitted anyway it gives absurd offsets
    and flags most pixels.
    """
    n = data.rates.shape[1]
    means = data.rates.mean(axis=1)
    for k in range(1, len(fields)):
        noise = math.hypot(data.sd_rate[k], data.sd_rate[k - 1]) / math.sqrt(n)
        if not means[k] - means[k - 1] > settings.RESPONSE_Z * noise:
            raise InputError(
                "fields", f"{Path(fields[k].source).name} (level {levels[k]:g}) no brighter "
                f"than {Path(fields[k - 1].source).name} (level {levels[k - 1]:g}): mean rates "
                f"{means[k]:.6g} and {means[k - 1]:.6g} spikes/step",
                "one capture per level, each brighter than the one before",
                "give each level its own capture, darkest first (the same field given twice?)")


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


@dataclass
class _Stack:
    """The fields of one calibration as per-pixel arrays (``K`` fields, ``N`` pixels).

    rates, rates_a, rates_b : (K, N) float64, spikes per step over the whole capture
        and each half
    sd_rate : (K,) each field's temporal rate noise (spikes per step)
    never : (N,) bool, pixels that never fired in any field
    unstable : (N,) bool, pixels whose halves disagree (:func:`defects.unstable_mask`)
    """

    rates: np.ndarray
    rates_a: np.ndarray
    rates_b: np.ndarray
    sd_rate: np.ndarray
    never: np.ndarray
    unstable: np.ndarray

    @classmethod
    def of(cls, fields: list[FieldRates]) -> "_Stack":
        return cls(rates=np.stack([f.rate.ravel() for f in fields]),
                   rates_a=np.stack([f.rate_a.ravel() for f in fields]),
                   rates_b=np.stack([f.rate_b.ravel() for f in fields]),
                   sd_rate=np.array([rate_noise(f) for f in fields]),
                   never=sum(f.counts for f in fields).ravel() == 0,
                   unstable=dfx.unstable_mask(fields).ravel())

    @property
    def candidates(self) -> np.ndarray:
        """(N,) bool, pixels that fire and are stable: those a camera-wide estimate uses."""
        return ~self.never & ~self.unstable


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

    The phases, in order: check the request, stack the fields, find the dead time,
    fit every pixel and flag defects, normalise to the reference pixel, the maps at
    the operating level, the uncertainty from the two halves, the summary.
    """
    levels, levels_auto = _check_request(fields, levels, method, dead_time, operating_level)
    h, w = fields[0].shape
    ref_px = _parse_reference(reference, (h, w))
    data = _Stack.of(fields)
    if not levels_auto:
        _check_fields_respond(fields, data, levels)

    dt = _dead_time(fields, data, levels, levels_auto, method, dead_time)
    delta = dt["value"]
    _check_saturated_fields(fields, data.rates, delta, dt["source"])
    saturated = dfx.saturated_mask(data.rates, delta).any(axis=0)
    if levels_auto:
        levels = auto_levels(data.rates, delta, data.candidates & ~saturated
                             if data.candidates.any() else None)
    levels = np.asarray(levels, dtype=np.float64)

    sol = solve(method, data.rates, levels, delta, data.sd_rate)
    flags = _defect_flags(method, sol, data, levels, delta, saturated)
    good = flags == 0
    if not good.any():
        raise InputError("fields", "every pixel flagged as a defect", "a camera with good pixels",
                         "check the captures, their levels and --size")
    ref = _reference(method, sol, data, levels, delta, good, ref_px, flags, w)
    if operating_level is None:
        operating_level = float(np.median(levels))
    op = _at_operating_level(method, ref, data, levels, delta, good, ref_px, w,
                             float(operating_level))
    unc = _half_uncertainty(method, data, levels, delta, good)

    residual = np.nan_to_num(sol["residual"], nan=0.0, posinf=0.0, neginf=0.0)
    summary = _summary(method, fields, data, ref, residual, flags, good, unc, (h, w))
    meta = _meta(method, fields, levels, levels_auto, dt, ref, op, data, summary, (h, w))
    maps = {name: arr.reshape(h, w) for name, arr in
            (("gain", ref["gain"]), ("offset", ref["offset"]), ("q", ref["q"]),
             ("gamma", op["gamma"]), ("weight", op["weight"]), ("ratio", op["ratio"]),
             ("residual", residual))}
    return Calibration(defects=flags.reshape(h, w), meta=meta, **maps)


# -- the phases of calibrate ---------------------------------------------------------------
def _check_request(fields, levels, method, dead_time, operating_level):
    """Validate everything the user chose: ``(levels or "auto", levels_auto)``."""
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
    if operating_level is not None and not (float(operating_level) > 0
                                            and math.isfinite(float(operating_level))):
        raise InputError("--operating-level", operating_level, "a level > 0",
                         "give the scene level at which gamma and the weight are exact")
    return levels, levels_auto


def _dead_time(fields, data: _Stack, levels, levels_auto: bool, method: str,
               dead_time: float | None) -> dict:
    """The dead time: given, the paper's, estimated (lsq, K >= 3, known levels) or assumed.

    Returns ``{"value", "source", "sd"}`` (plus ``chi2_reduced`` when estimated).
    """
    k = len(fields)
    if dead_time is not None:
        return {"value": float(dead_time), "source": "assumed (--dead-time)", "sd": 0.0}
    if method == "paper":
        return {"value": settings.PAPER_DEAD_TIME,
                "source": "assumed (the paper: D = 1/r - 1)", "sd": 0.0}
    if not (method == "lsq" and k >= 3 and not levels_auto):
        why = "auto levels" if levels_auto else ("one field" if k < 3 else "assumed")
        return {"value": settings.DEFAULT_DEAD_TIME, "source": f"assumed ({why})", "sd": 0.0}
    rates, candidates = data.rates, data.candidates
    pre = charge_from_rate(rates, settings.DEFAULT_DEAD_TIME)
    # leave hot pixels out of the estimate: dark response far above the others
    dark = pre[0]
    hot_pre = dark > np.median(dark[candidates]) + settings.HOT_ROBUST_Z * \
        robust_sd(dark[candidates]) if candidates.any() else np.zeros(rates.shape[1], bool)
    use = candidates & ~hot_pre
    if use.sum() < 3:
        raise InputError("fields", f"{int(use.sum())} usable pixels", "pixels that fire",
                         "check the captures: almost every pixel is dead or unstable")
    est = estimate_dead_time(rates[:, use], levels, data.sd_rate)
    return {"value": est["value"], "source": "estimated (1/D linear in the level)",
            "sd": est["sd"] if math.isfinite(est["sd"]) else None,    # None: not measurable
            "chi2_reduced": est["chi2_reduced"]}


def _defect_flags(method: str, sol: dict, data: _Stack, levels, delta: float,
                  saturated) -> np.ndarray:
    """(N,) uint8 defect bit flags (formats.md) from the fit and the fields."""
    rates, never, candidates = data.rates, data.never, data.candidates
    flags = np.zeros(rates.shape[1], dtype=np.uint8)
    ill = sol["ill"] | saturated | ~np.isfinite(sol["q"]) | ~np.isfinite(sol["offset"])
    base = candidates & ~ill
    if method == "ratio":
        high, low = dfx.outliers_by_rate(rates[0], base if base.any() else candidates)
        dead = never | low
        hot = high & ~dead
    else:
        lam = charge_from_rate(rates, delta)
        response = lam[-1] - lam[0]
        med_resp = float(np.median(response[base])) if base.any() else 0.0
        dead = never | (response < settings.DEAD_GAIN_MAX * med_resp)
        span = float(levels[-1] - levels[0])
        hot = dfx.hot_by_offset(sol["offset"], base & ~dead, span) & ~dead
    flags[dead] |= dfx.DEAD
    flags[hot] |= dfx.HOT
    flags[data.unstable] |= dfx.UNSTABLE
    flags[ill & ~never] |= dfx.ILL_CONDITIONED
    if method == "lsq" and len(levels) >= 3:
        # residuals are in units of the temporal noise measured from the halves; when the
        # whole camera misfits more than that (median |z| > 0.6745), scale the limit
        fitted = candidates & ~ill & ~hot & ~dead
        med_res = float(np.median(sol["residual"][fitted])) if fitted.any() else 0.0
        scale = max(1.0, med_res / settings.NORMAL_MEDIAN_ABS)
        flags[(sol["residual"] > settings.POOR_FIT_Z * scale) & ~never] |= dfx.POOR_FIT
    return flags


def _reference(method: str, sol: dict, data: _Stack, levels, delta: float, good, ref_px,
               flags, width: int) -> dict:
    """Normalise to the reference pixel; defects get neutral values.

    Returns ``gain`` (median 1 over good pixels), ``offset``, ``q`` (all ``(N,)``),
    ``q_ref``, ``med_offset`` and ``meta`` (how the reference was chosen).
    """
    med_gain = float(np.median(sol["gain_raw"][good]))
    gain = sol["gain_raw"] / med_gain
    med_offset = float(np.median(sol["offset"][good]))
    if ref_px is None:
        if method == "ratio":
            lam_med = float(charge_from_rate(np.median(data.rates[0][good]), delta))
            q_ref = float(levels[0]) / lam_med
        else:
            q_ref = 1.0 / med_gain                      # gain = q_ref / q has median 1
        ref_meta = {"kind": "median", "note": "the median pixel over good pixels"}
    else:
        x, y = ref_px
        p = y * width + x
        if not good[p]:
            raise InputError("--reference", f"{x},{y}", "a good pixel",
                             f"that pixel is flagged {', '.join(dfx.reasons(flags[p]))}; "
                             "choose another or leave --reference out (median pixel)")
        q_ref = float(sol["q"][p])
        ref_meta = {"kind": "pixel", "x": x, "y": y}
    bad = ~good
    return {"gain": np.where(bad, 1.0, gain), "offset": np.where(bad, med_offset, sol["offset"]),
            "q": np.where(bad, q_ref, sol["q"]), "q_ref": q_ref, "med_offset": med_offset,
            "meta": ref_meta}


def _at_operating_level(method: str, ref: dict, data: _Stack, levels, delta: float, good,
                        ref_px, width: int, operating_level: float) -> dict:
    """``gamma`` (Eq. 12), ``weight`` (Eq. 14) and ``ratio`` (Eq. 13) at the operating
    level, and ``k_star``, the field nearest it (whose rates give the ratio)."""
    bad = ~good
    gamma, weight = operating_maps(ref["q"], ref["offset"], ref["q_ref"], operating_level,
                                   delta)
    gamma = np.where(bad, 1.0, gamma)
    weight = np.where(bad, 1.0, weight)
    k_star = int(np.argmin(np.abs(levels - operating_level)))
    r_star = data.rates[k_star]
    r_ref = float(np.median(r_star[good])) if ref_px is None else \
        float(r_star[ref_px[1] * width + ref_px[0]])
    ratio = np.where(bad | ~(r_star > 0), 1.0, r_ref / np.where(r_star > 0, r_star, 1.0))
    if method == "ratio":
        weight = ratio.copy()
        gamma = np.where(bad, 1.0, 1.0 / ref["gain"])
    return {"gamma": gamma, "weight": weight, "ratio": ratio, "k_star": k_star,
            "level": operating_level}


def _half_uncertainty(method: str, data: _Stack, levels, delta: float, good) -> dict:
    """Gain (percent) and offset uncertainty from fitting the two halves separately
    (same dead time and levels): half the robust s.d. of their difference."""
    halves = [solve(method, r, levels, delta, data.sd_rate * math.sqrt(2))
              for r in (data.rates_a, data.rates_b)]
    ga = halves[0]["gain_raw"] / np.median(halves[0]["gain_raw"][good])
    gb = halves[1]["gain_raw"] / np.median(halves[1]["gain_raw"][good])
    return {"gain_pct": 100 * robust_sd(ga - gb, good) / 2,
            "offset": robust_sd(halves[0]["offset"] - halves[1]["offset"], good) / 2}


def _summary(method: str, fields, data: _Stack, ref: dict, residual, flags, good, unc: dict,
             shape) -> dict:
    """The figures of ``meta["summary"]``: PRNU, DSNU, defects, noise floors, uncertainty."""
    k = len(fields)
    gain, offset = ref["gain"], ref["offset"]
    floors = [noise_floor_pct(f, good.reshape(shape)) for f in fields]
    return {
        "prnu_pct": float(100 * np.std(gain[good]) / np.mean(gain[good])),
        "dsnu": float(np.std(offset[good])) if method != "ratio" else None,
        "offset_median": ref["med_offset"] if method != "ratio" else None,
        "defects": dfx.counts_by_reason(flags),
        "defect_fraction_pct": float(100 * np.mean(~good)),
        "noise_floor_pct": floors,
        "noise_floor_pct_median": float(np.median(floors)),
        "gain_uncertainty_pct": float(unc["gain_pct"]),
        "offset_uncertainty": float(unc["offset"]) if method != "ratio" else None,
        "residual_median": float(np.median(residual[good])) if method == "lsq" and k > 2
        else None,
        "mean_rates": [float(np.mean(data.rates[i][good])) for i in range(k)],
    }


def _meta(method: str, fields, levels, levels_auto: bool, dt: dict, ref: dict, op: dict,
          data: _Stack, summary: dict, shape) -> dict:
    """The calibration file's ``meta`` (formats.md)."""
    from spikesim import __version__

    h, w = shape
    return {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION,
        "toolkit_version": __version__,
        "resolution": {"width": w, "height": h},
        "method": method, "assumptions": ASSUMPTIONS[method],
        "levels": [float(v) for v in levels], "levels_auto": bool(levels_auto),
        "level_unit": "relative (darkest field 0, brightest 1)" if levels_auto else "lux",
        "steps_per_field": [int(f.steps) for f in fields],
        "fields": [str(f.source) for f in fields],
        "operating_level": op["level"], "ratio_field_level": float(levels[op["k_star"]]),
        "dead_time": dt, "reference": ref["meta"], "q_ref": float(ref["q_ref"]),
        "rate_noise": [float(v) for v in data.sd_rate],
        "keys": {"gamma": "Eq. 12 at the operating level; acts on the interval D",
                 "weight": "Eq. 14 spike weight at the operating level; acts on the rate",
                 "ratio": "Eq. 13 from the field nearest the operating level",
                 "residual": "lsq RMS residual / temporal noise" if method == "lsq"
                 else "not available for this method (zeros)"},
        "summary": summary,
    }
