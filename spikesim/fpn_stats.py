"""Statistics of a camera's fixed pattern: what a camera engineer reads first.

For a gain map and a dark-offset map, upright ``(H, W)`` (a simulated camera's truth,
:func:`fixed_pattern_stats`, or a calibration's fitted maps,
``calibration.report.calibration_pattern_stats``), the figures the real camera of
physics.md §4b was described by, measured the same way:

Gain (over good pixels, normalised to a median of 1):

- ``rel_sd_pct``: s.d. / mean, in %;
- a two-way decomposition of ``x = g - mean``: the **column** part ``c[x]`` (the mean of
  each column), the **row** part ``r[y]`` (the mean of each row of ``x - c``), the
  **smooth** part (the residual ``x - c - r`` smoothed by a Gaussian of
  ``settings.PATTERN_SHADING_SIGMA`` = 8 px, masked pixels left out by normalised
  convolution) and the **pixel** part (what is left). ``*_sd_pct`` is each part's s.d. in
  %, ``*_share_pct`` its variance over the variance of ``x``, in % (the four shares sum to
  about 100; ``row_column_share_pct`` is column + row). The column and row parts include
  the average of the white parts over a column or row (``s.d./sqrt(H)`` and
  ``s.d./sqrt(W)``: 0.25 % and 0.2 % for a 4 % white gain on 400x250);
- ``neighbour_corr`` (and ``neighbour_corr_<d>`` at the distances of
  ``settings.PATTERN_NEIGHBOUR_LAGS``): the Pearson correlation between a pixel's value
  and the mean of its four neighbours at distance ``d`` (left, right, up, down), over the
  good pixels whose four neighbours are good. Stripes keep it at any distance; white
  noise gives 0.

Dark offset (over the pixels whose offset is known):

- ``dark_median``; ``dark_spread_pct``: s.d. / median of the offsets at most
  ``settings.PATTERN_TAIL_FACTOR`` (3) times the median, in %; ``dark_neighbour_corr`` on
  those pixels; ``dark_tail_pct``: the pixels above 3x the median, in % (``hot_unknown``
  adds pixels known to lie there whose offset is not stored, e.g. a calibration's hot
  flags); ``dark_max``.
"""

from __future__ import annotations

import numpy as np

from . import settings
from .errors import InputError

GAIN_PARTS = ("column", "row", "smooth", "pixel")


def _check_map(a, name: str, shape=None) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 2 or (shape is not None and a.shape != shape):
        raise InputError(name, f"an array of shape {a.shape}",
                         f"an (H, W) map{'' if shape is None else f' of shape {shape}'}",
                         "maps are upright (H, W)")
    return a


def neighbour_correlation(values, mask, lag: int = 1) -> float:
    """Correlation between a pixel and the mean of its four neighbours ``lag`` px away.

    values : (H, W) map; mask : (H, W) bool, the pixels that count (a pixel counts when it
    and its four neighbours are in the mask). NaN when fewer than 3 pixels count or
    either side is constant.
    """
    v = np.asarray(values, dtype=np.float64)
    m = np.asarray(mask, dtype=bool)
    d = int(lag)
    h, w = v.shape
    if h <= 2 * d or w <= 2 * d:
        return float("nan")
    inner = (slice(d, h - d), slice(d, w - d))
    shifts = [(slice(0, h - 2 * d), slice(d, w - d)), (slice(2 * d, h), slice(d, w - d)),
              (slice(d, h - d), slice(0, w - 2 * d)), (slice(d, h - d), slice(2 * d, w))]
    ok = m[inner].copy()
    for s in shifts:
        ok &= m[s]
    if ok.sum() < 3:
        return float("nan")
    centre = v[inner][ok]
    around = sum(v[s][ok] for s in shifts) / 4.0
    if centre.std() == 0 or around.std() == 0:
        return float("nan")
    return float(np.corrcoef(centre, around)[0, 1])


def _masked_mean(x, m, axis):
    n = m.sum(axis=axis)
    return np.where(n > 0, (x * m).sum(axis=axis) / np.maximum(n, 1), 0.0)


def gain_parts(gain, good) -> dict:
    """The column, row, smooth and pixel parts of a gain map (module docstring).

    Returns ``{part: (H, W) float64}`` (0 outside ``good``) for :data:`GAIN_PARTS`, and
    ``"normalised"``: the gain divided by its median over ``good``.
    """
    from scipy import ndimage

    g = _check_map(gain, "gain").astype(np.float64)
    m = _check_map(good, "good", g.shape).astype(bool)
    if m.sum() < 2:
        raise InputError("good", f"{int(m.sum())} good pixels", "at least 2",
                         "check the defect masks")
    g = g / np.median(g[m])
    mf = m.astype(np.float64)
    x = np.where(m, g - g[m].mean(), 0.0)
    col = _masked_mean(x, mf, 0)[None, :] * mf
    row = _masked_mean(x - col, mf, 1)[:, None] * mf
    resid = (x - col - row) * mf
    sigma = settings.PATTERN_SHADING_SIGMA
    num = ndimage.gaussian_filter(resid, sigma, mode="reflect")
    den = ndimage.gaussian_filter(mf, sigma, mode="reflect")
    smooth = np.where(m, num / np.maximum(den, 1e-12), 0.0)
    return {"column": col, "row": row, "smooth": smooth, "pixel": resid - smooth,
            "normalised": g}


def gain_stats(gain, good) -> dict:
    """Gain figures (module docstring), in % and correlations, over ``good`` pixels."""
    parts = gain_parts(gain, good)
    m = np.asarray(good, dtype=bool)
    g = parts.pop("normalised")
    total = float(np.var(g[m]))
    out = {"pixels": int(m.sum()), "rel_sd_pct": 100.0 * float(np.std(g[m]) / np.mean(g[m]))}
    for name in GAIN_PARTS:
        var = float(np.var(parts[name][m]))
        out[f"{name}_sd_pct"] = 100.0 * var ** 0.5
        out[f"{name}_share_pct"] = 100.0 * var / total if total > 0 else float("nan")
    out["row_column_share_pct"] = out["column_share_pct"] + out["row_share_pct"]
    for lag in settings.PATTERN_NEIGHBOUR_LAGS:
        key = "neighbour_corr" if lag == 1 else f"neighbour_corr_{lag}"
        out[key] = neighbour_correlation(g, m, lag)
    return out


def dark_stats(dark, known, hot_unknown: int = 0) -> dict:
    """Dark-offset figures (module docstring) over the ``known`` pixels; ``hot_unknown``
    more pixels lie in the tail with offsets not stored."""
    d = _check_map(dark, "dark").astype(np.float64)
    m = _check_map(known, "known", d.shape).astype(bool)
    if not m.any():
        raise InputError("known", "no pixel", "some pixels with a known offset",
                         "check the defect masks")
    med = float(np.median(d[m]))
    out = {"dark_median": med, "dark_max": float(d[m].max())}
    n = int(m.sum()) + int(hot_unknown)
    if med > 0:
        body = m & (d <= settings.PATTERN_TAIL_FACTOR * med)
        out["dark_spread_pct"] = 100.0 * float(np.std(d[body])) / med
        out["dark_tail_pct"] = 100.0 * (int((m & ~body).sum()) + int(hot_unknown)) / n
        out["dark_neighbour_corr"] = neighbour_correlation(d, body, 1)
    else:
        out.update(dark_spread_pct=float("nan"), dark_tail_pct=float("nan"),
                   dark_neighbour_corr=float("nan"))
    return out


def pattern_stats(gain, dark, good, dark_known=None, hot_unknown: int = 0) -> dict:
    """Gain figures over ``good`` and dark figures over ``dark_known`` (default ``good``)."""
    out = gain_stats(gain, good)
    out.update(dark_stats(dark, good if dark_known is None else dark_known, hot_unknown))
    return out


def fixed_pattern_stats(fpn) -> dict:
    """:func:`pattern_stats` of a :class:`~spikesim.fpn.FixedPattern` (a camera's truth):
    gain over good pixels, dark offsets over every pixel but the dead (hot pixels are the
    tail)."""
    return pattern_stats(fpn.gain, fpn.dark, fpn.good, dark_known=~fpn.dead)


def pattern_lines(stats: dict, unit: str = " lux") -> list[str]:
    """The figures as text lines (``spikecal show``, ``bench/realism_fpn.py``)."""
    s = stats
    lag = [d for d in settings.PATTERN_NEIGHBOUR_LAGS if d != 1]
    far = "".join(f", {s[f'neighbour_corr_{d}']:.2f} at {d} px" for d in lag)
    return [
        f"gain: relative s.d. {s['rel_sd_pct']:.2f} %; column {s['column_sd_pct']:.2f} %, "
        f"row {s['row_sd_pct']:.2f} %, smooth {s['smooth_sd_pct']:.2f} %, pixel "
        f"{s['pixel_sd_pct']:.2f} %",
        f"gain variance shares: column {s['column_share_pct']:.1f} %, row "
        f"{s['row_share_pct']:.1f} % (row + column {s['row_column_share_pct']:.1f} %), smooth "
        f"{s['smooth_share_pct']:.1f} %, pixel {s['pixel_share_pct']:.1f} %",
        f"gain neighbour correlation {s['neighbour_corr']:.2f}{far}",
        f"dark offset: median {s['dark_median']:.3g}{unit}, spread {s['dark_spread_pct']:.1f} %"
        f", neighbour correlation {s['dark_neighbour_corr']:.2f}, tail "
        f"{s['dark_tail_pct']:.2f} % above {settings.PATTERN_TAIL_FACTOR:g}x the median "
        f"(max {s['dark_max']:.4g}{unit})",
    ]
