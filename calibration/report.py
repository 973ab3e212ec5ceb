"""Reports a person can read: summary text, PNG maps and histograms, held-out checks,
and errors against a simulated camera's truth.

Figures (physics.md §5, EMVA 1288 in spirit):

- PRNU: spatial s.d. / mean of the gain over good pixels, in %;
- DSNU: spatial s.d. of the dark offset over good pixels, in the unit of the levels;
- temporal-noise floor of a capture: ``sd(A - B) / 2`` over the mean rate, in %, with
  ``A``, ``B`` the rate maps of its two halves (good pixels);
- residual non-uniformity of a held-out uniform field: s.d. / mean, in %, over good
  pixels, of the rate corrected by the full inverse (as an ideal pixel's rate), beside
  the same for the Eq. 14 weight alone and for no correction;
- the structure of the fixed pattern (:func:`calibration_pattern_stats`,
  :mod:`spikesim.fpn_stats`): the gain's column / row / smooth / pixel parts and their
  shares of its variance, its neighbour correlation, the dark offset's median, spread and
  tail. ``cal_pattern.png`` draws the four parts of the gain on one colour scale, so
  column and row stripes stand out from the pixel noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spikesim.errors import InputError

from . import defects as dfx
from .calfile import Calibration
from .correct import correct_rate, full_inverse
from .rates import FieldRates, noise_floor_pct

DEFECT_COLOURS = {0: (0.15, 0.15, 0.15), 1: (0.2, 0.4, 1.0), 2: (1.0, 0.25, 0.2),
                  4: (1.0, 0.85, 0.1), 8: (0.8, 0.3, 0.9), 16: (0.2, 0.9, 0.4)}


def calibration_pattern_stats(calib: Calibration) -> dict:
    """The fixed-pattern figures of a calibration (:func:`spikesim.fpn_stats.pattern_stats`):
    the gain over good pixels; the offsets over good pixels, the pixels flagged hot (but
    not dead) counted in the dark tail (a calibration file does not keep their offsets)."""
    from spikesim.fpn_stats import pattern_stats

    hot = ((calib.defects & dfx.HOT) > 0) & ((calib.defects & dfx.DEAD) == 0)
    return pattern_stats(calib.gain, calib.offset, calib.good, hot_unknown=int(hot.sum()))


def pattern_summary_lines(calib: Calibration) -> list[str]:
    """:func:`calibration_pattern_stats` as text lines (what ``spikecal show`` prints)."""
    from spikesim.fpn_stats import pattern_lines

    unit = "" if calib.meta.get("levels_auto") else " lux"
    return pattern_lines(calibration_pattern_stats(calib), unit)


def summary_lines(calib: Calibration) -> list[str]:
    """The summary as text lines (method, levels, dead time, PRNU, DSNU, defects, floor,
    and the structure of the fixed pattern: :func:`pattern_summary_lines`)."""
    m, s = calib.meta, calib.summary()
    unit = "" if m.get("levels_auto") else " lux"
    dt = m.get("dead_time", {})
    lines = [f"calibration of a {calib.width}x{calib.height} camera, method {m.get('method')}",
             "levels: " + ", ".join(f"{v:g}" for v in m.get("levels", [])) + unit
             + (" (estimated from mean rates: darkest 0, brightest 1)" if m.get("levels_auto")
                else ""),
             f"steps per field: {m.get('steps_per_field')}",
             f"dead time: {dt.get('value', float('nan')):.4f} steps"
             + (f" +- {dt['sd']:.2g}" if dt.get("sd") else "") + f", {dt.get('source', '')}",
             f"operating level (gamma, weight): {m.get('operating_level', float('nan')):g}{unit}"]
    if s:
        lines.append(f"PRNU: {s.get('prnu_pct', float('nan')):.3f} %  (gain uncertainty "
                     f"{s.get('gain_uncertainty_pct', float('nan')):.4f} % per pixel)")
        if s.get("dsnu") is not None:
            lines.append(f"DSNU: {s['dsnu']:.4g}{unit}  (median offset {s['offset_median']:.4g}"
                         f"{unit}, uncertainty {s.get('offset_uncertainty', float('nan')):.3g})")
        d = s.get("defects", {})
        order = list(dfx.NAMES.values()) + ["total"]
        lines.append("defects: " + ", ".join(f"{k} {d[k]}" for k in order if k in d)
                     + f"  ({s.get('defect_fraction_pct', 0):.3f} % of pixels)")
        lines.append("temporal-noise floor per field: "
                     + ", ".join(f"{v:.4f} %" for v in s.get("noise_floor_pct", [])))
        if s.get("residual_median") is not None:
            lines.append(f"lsq residual (median, in noise s.d.): {s['residual_median']:.3f}")
    if calib.good.sum() >= 2:
        lines += pattern_summary_lines(calib)
    lines.append("assumes: " + str(m.get("assumptions", "")))
    return lines


def check_field(calib: Calibration, field: FieldRates, level: float | None = None) -> dict:
    """Residual non-uniformity of a held-out uniform field after correction, vs its floor.

    Returns (all in %, over the calibration's good pixels): ``nu_full_pct`` (full
    inverse), ``nu_weight_pct`` (Eq. 14 weight alone), ``nu_raw_pct`` (uncorrected),
    ``floor_pct``, ``ratio_full`` (= nu_full / floor), and with ``level`` the mean level
    recovered by the full inverse and its bias in %.
    """
    if field.shape != calib.shape:
        calib.check_resolution(field.shape[0], field.shape[1], "field")
    if level is not None and not (np.isfinite(level) and level >= 0):
        raise InputError("--level", level, "the held-out field's level, a number >= 0",
                         "give the level the field was captured at (e.g. 200)")
    good = calib.good
    rate = field.rate

    def nu(x):
        x = x[good]
        mean = float(np.mean(x))
        return 100.0 * float(np.std(x)) / mean if mean > 0 else float("nan")

    floor = noise_floor_pct(field, good)
    out = {"nu_full_pct": nu(correct_rate(rate, calib, "full")),
           "nu_weight_pct": nu(correct_rate(rate, calib, "weight")),
           "nu_raw_pct": nu(rate), "floor_pct": floor}
    out["ratio_full"] = out["nu_full_pct"] / floor if floor > 0 else float("inf")
    out["ratio_weight"] = out["nu_weight_pct"] / floor if floor > 0 else float("inf")
    if level is not None:
        mean_level = float(np.mean(full_inverse(rate, calib)[good]))
        out["level"] = float(level)
        out["level_recovered"] = mean_level
        out["level_bias_pct"] = 100.0 * (mean_level - level) / level if level else None
    return out


def evaluate(calib: Calibration, truth) -> dict:
    """Recovered maps against a simulated camera's truth (``spikesim.fpn.load_truth``).

    Gains are compared after normalising both to a median of 1 over pixels good in both;
    offsets in the unit of the levels (lux; with ``auto`` levels they are relative and the
    comparison is made after a least-squares scale, said in ``offset_note``). Defects:
    a true hot or dead pixel is a *hit* when flagged (any reason), a *miss* otherwise;
    *false flags* are flagged pixels that are neither.
    """
    fpn, scalars = truth
    if tuple(fpn.shape) != calib.shape:
        calib.check_resolution(fpn.shape[0], fpn.shape[1], "truth")
    true_bad = fpn.hot | fpn.dead
    both = calib.good & ~true_bad
    if not both.any():
        raise InputError("truth", "no pixel good in both", "a truth of this camera",
                         "check that the truth belongs to the calibrated camera")
    g_est = calib.gain / np.median(calib.gain[both])
    g_true = fpn.gain / np.median(fpn.gain[both])
    gerr = 100.0 * np.abs(g_est - g_true)[both]
    off_true = fpn.dark.astype(np.float64)[both]
    off_est = calib.offset.astype(np.float64)[both]
    note = "lux"
    if calib.meta.get("levels_auto"):
        scale = float(off_est @ off_true / max(off_est @ off_est, 1e-300))
        off_est = off_est * scale
        note = f"auto levels: offsets scaled by {scale:.4g} (least squares) before comparing"
    oerr = np.abs(off_est - off_true)
    spread = float(np.std(off_true))
    flagged = calib.defects > 0
    out = {
        "pixels_compared": int(both.sum()),
        "gain_error_median_pct": float(np.median(gerr)),
        "gain_error_p95_pct": float(np.percentile(gerr, 95)),
        "gain_error_max_pct": float(np.max(gerr)),
        "offset_error_median": float(np.median(oerr)),
        "offset_error_median_pct_of_spread": float(100 * np.median(oerr) / spread)
        if spread > 0 else None,
        "offset_spread": spread, "offset_note": note,
        "dead_time_true": scalars.get("dead_time"),
        "dead_time_found": calib.dead_time,
        "dead_time_source": calib.meta.get("dead_time", {}).get("source"),
    }
    for name, mask, bit in (("hot", fpn.hot, dfx.HOT), ("dead", fpn.dead, dfx.DEAD)):
        out[f"{name}_true"] = int(mask.sum())
        out[f"{name}_hits"] = int((mask & flagged).sum())
        out[f"{name}_hits_same_reason"] = int((mask & ((calib.defects & bit) > 0)).sum())
        out[f"{name}_misses"] = int((mask & ~flagged).sum())
    false = flagged & ~true_bad
    out["false_flags"] = int(false.sum())
    out["false_flag_pct"] = float(100 * false.sum() / false.size)
    return out


# --------------------------------------------------------------------------------------
# pictures (numpy + the toolkit's PNG writer; no plotting library)
# --------------------------------------------------------------------------------------
def defect_image(defects: np.ndarray) -> np.ndarray:
    """(H, W, 3) colours: grey good, blue dead, red hot, yellow unstable, purple
    ill-conditioned, green poor fit (lowest bit wins)."""
    img = np.empty(defects.shape + (3,), np.float32)
    img[:] = DEFECT_COLOURS[0]
    for bit in (16, 8, 4, 2, 1):                       # lowest bit drawn last (wins)
        img[(defects & bit) > 0] = DEFECT_COLOURS[bit]
    return img


def histogram_image(values, bins: int = 64, height: int = 120, width: int = 256,
                    label: str = "") -> np.ndarray:
    """A bar histogram drawn with numpy: ``(height + 14, width, 3)`` float32 in [0, 1].

    The range is the 0.1-99.9 percentiles of ``values``; the label line shows it.
    """
    from spikesim.images import montage

    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    img = np.ones((height, width, 3), np.float32)
    if v.size:
        lo, hi = np.percentile(v, [0.1, 99.9])
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        hist, _ = np.histogram(np.clip(v, lo, hi), bins=bins, range=(lo, hi))
        top = hist.max() or 1
        colw = width / bins
        for i, n in enumerate(hist):
            x0, x1 = int(round(i * colw)), max(int(round((i + 1) * colw)) - 1, int(i * colw) + 1)
            h = int(round((height - 2) * n / top))
            img[height - h:, x0:x1] = (0.23, 0.32, 0.55)
        label = f"{label} [{lo:.4g}, {hi:.4g}]"
    return montage([img], [label], pad=0)


def pattern_image(calib: Calibration) -> np.ndarray:
    """The gain's column, row, smooth and pixel parts (:func:`spikesim.fpn_stats.gain_parts`)
    as a 2x2 montage on ONE colour scale (the 1st-99th percentiles of the gain minus its
    mean, symmetric), each labelled with its s.d. and share of the gain variance."""
    from spikesim.fpn_stats import GAIN_PARTS, gain_parts
    from spikesim.images import colormap, montage

    good = calib.good
    parts = gain_parts(calib.gain, good)
    g = parts.pop("normalised")
    lo, hi = np.percentile(g[good] - g[good].mean(), [1, 99])
    half = max(abs(lo), abs(hi), 1e-6)
    total = float(np.var(g[good]))
    tiles, labels = [], []
    for name in GAIN_PARTS:
        var = float(np.var(parts[name][good]))
        tiles.append(colormap(np.where(good, parts[name], 0.0), -half, half))
        share = 100.0 * var / total if total > 0 else float("nan")
        labels.append(f"{name}: s.d. {100 * var ** 0.5:.2f} %, {share:.0f} % of variance")
    return montage(tiles, labels, ncols=2)


REPORT_FILES = ("cal_gain.png", "cal_offset.png", "cal_gamma.png", "cal_weight.png",
                "cal_defects.png", "cal_histograms.png", "cal_pattern.png", "summary.txt",
                "summary.json")


def check_report_dir(out_dir, overwrite: bool = False) -> None:
    """Refuse a report directory that cannot be written, or holds a report without
    ``overwrite``, before anything is written (:data:`REPORT_FILES`)."""
    from spikesim.atomic import check_writable

    for n in REPORT_FILES:
        check_writable(Path(out_dir) / n, overwrite, "--report")


def write_report(calib: Calibration, out_dir, check: dict | None = None,
                 overwrite: bool = False) -> list[Path]:
    """Write ``cal_gain.png``, ``cal_offset.png``, ``cal_gamma.png``, ``cal_weight.png``,
    ``cal_defects.png``, ``cal_histograms.png``, ``cal_pattern.png`` (:func:`pattern_image`),
    ``summary.txt`` and ``summary.json`` to ``out_dir``; existing files are refused unless
    ``overwrite``.

    Maps use a blue-to-yellow colour ramp over the 1st-99th percentiles of good pixels.
    """
    from spikesim.atomic import check_writable, write_json, write_text
    from spikesim.images import colormap, montage, write_png

    out_dir = Path(out_dir)
    check_report_dir(out_dir, overwrite)
    good = calib.good
    written = []
    for key in ("gain", "offset", "gamma", "weight"):
        m = getattr(calib, key)
        ref = m[good] if good.any() else m.ravel()
        lo, hi = np.percentile(ref, [1, 99])
        tile = colormap(m, lo, hi)
        img = montage([tile], [f"{key} [{lo:.4g}, {hi:.4g}]"], pad=0)
        written.append(write_png(out_dir / f"cal_{key}.png", img, overwrite=True))
    written.append(write_png(out_dir / "cal_defects.png",
                             montage([defect_image(calib.defects)],
                                     ["defects: blue dead, red hot, yellow unstable"], pad=0),
                             overwrite=True))
    hists = [histogram_image(calib.gain[good], label="gain"),
             histogram_image(calib.offset[good], label="offset"),
             histogram_image(calib.weight[good], label="weight")]
    written.append(write_png(out_dir / "cal_histograms.png", montage(hists, ncols=1),
                             overwrite=True))
    written.append(write_png(out_dir / "cal_pattern.png", pattern_image(calib), overwrite=True))
    lines = summary_lines(calib)
    if check:
        lines += check_lines(check)
    written.append(write_text(out_dir / "summary.txt", "\n".join(lines) + "\n", overwrite=True))
    payload = {"meta": calib.meta, "pattern": calibration_pattern_stats(calib)}
    if check:
        payload["check"] = check
    written.append(write_json(out_dir / "summary.json", payload, overwrite=True))
    return written


def check_lines(check: dict) -> list[str]:
    """Text lines of a held-out check (see :func:`check_field`)."""
    out = [f"held-out field: residual non-uniformity {check['nu_full_pct']:.4f} % with the full "
           f"inverse ({check['ratio_full']:.2f} x the noise floor {check['floor_pct']:.4f} %)",
           f"  with the Eq. 14 weight alone {check['nu_weight_pct']:.4f} % "
           f"({check['ratio_weight']:.2f} x floor); uncorrected {check['nu_raw_pct']:.4f} %"]
    if "level_recovered" in check:
        bias = check["level_bias_pct"]
        out.append(f"  level {check['level']:g} recovered as {check['level_recovered']:.4g} "
                   + (f"(bias {bias:+.3f} %)" if bias is not None else
                      "(a level of 0 has no relative bias)"))
    return out
