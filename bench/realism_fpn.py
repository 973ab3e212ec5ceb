"""The fixed pattern of the reference camera against a real camera's (issue 16, item 3).

The real camera is a 400x250 spike camera whose makers published its calibration maps
(gain ``Nl``, dark offset ``Nd``, RSIR-style); its figures are those of issue 16's table,
measured with the same estimators as ``spikesim.fpn_stats`` (column and row parts as the
s.d. of column / row means, the smooth part after a Gaussian of 8 px, neighbour
correlation with the mean of the four neighbours, the dark tail above 3x the median).
Printed beside them: the reference camera's true maps (``CameraProfile()``, ``--fpn-seed``),
and optionally

- ``--fit STEPS``: a ``spikecal fit`` (lsq) of its uniform fields at 0, 153 and 335 lux of
  STEPS steps each, and the difference fit - truth;
- ``--round-trip``: with ``--fit``, the loop of ``--camera-maps``: the fitted calibration
  simulated (``Camera.from_calibration``), its fields (other sensor seeds) fitted again,
  and the median |gain difference| between the two fits over pixels good in both;
- ``FILE``: any camera's maps, a ``truth.npz`` / ``camera.npz`` or a calibration file.

Run: ``python bench/realism_fpn.py [FILE ...] [--fit 20000 [--round-trip]] [--fpn-seed 0]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

# issue 16's table: the real camera's published maps, measured as spikesim.fpn_stats does
REAL_CAMERA = {"rel_sd_pct": 5.6, "column_sd_pct": 4.1, "row_sd_pct": 2.6, "smooth_sd_pct": 0.6,
               "pixel_sd_pct": 2.6, "row_column_share_pct": 70.0, "neighbour_corr": 0.74,
               "neighbour_corr_16": 0.69, "dark_median": 7.7, "dark_spread_pct": 45.0,
               "dark_neighbour_corr": 0.02, "dark_tail_pct": 0.7, "dark_max": 380.0}
ROWS = (("gain rel. s.d., %", "rel_sd_pct", ".2f"), ("column part, %", "column_sd_pct", ".2f"),
        ("row part, %", "row_sd_pct", ".2f"), ("smooth part, %", "smooth_sd_pct", ".2f"),
        ("pixel part, %", "pixel_sd_pct", ".2f"),
        ("row+column share, %", "row_column_share_pct", ".1f"),
        ("column share, %", "column_share_pct", ".1f"), ("row share, %", "row_share_pct", ".1f"),
        ("neighbour corr.", "neighbour_corr", ".2f"),
        ("neighbour corr. at 16 px", "neighbour_corr_16", ".2f"),
        ("dark median, lux", "dark_median", ".2f"), ("dark spread, %", "dark_spread_pct", ".1f"),
        ("dark neighbour corr.", "dark_neighbour_corr", ".2f"),
        ("dark tail (>3x median), %", "dark_tail_pct", ".2f"), ("dark max, lux", "dark_max", ".0f"))
LEVELS = (0.0, 153.0, 335.0)


def file_stats(path) -> dict:
    """Pattern figures of a ``truth.npz`` / ``camera.npz`` or of a calibration file."""
    with np.load(path, allow_pickle=False) as data:
        is_truth = {"gain", "dark", "hot", "dead"} <= set(data.files)
    if is_truth:
        from spikesim.fpn import load_truth
        from spikesim.fpn_stats import fixed_pattern_stats

        return fixed_pattern_stats(load_truth(path)[0])
    from calibration.calfile import load_calibration
    from calibration.report import calibration_pattern_stats

    return calibration_pattern_stats(load_calibration(path))


def fit_fields(camera, steps: int, seed: int):
    """``spikecal fit``'s solver on the camera's uniform fields at :data:`LEVELS`."""
    from calibration.fit import calibrate
    from calibration.rates import measure_stream
    from spikesim.uniform import uniform_fields

    fields = [measure_stream(f.stream) for f in uniform_fields(camera, LEVELS, steps, seed)]
    return calibrate(fields, list(LEVELS))


def round_trip(first, steps: int, seed: int, path) -> dict:
    """Simulate the calibration ``first`` (saved to ``path``) and fit it again: the median
    and 95th percentile |gain difference| in %, over pixels good in both fits."""
    from spikesim.camera import Camera

    first.save(path, overwrite=True)
    again = fit_fields(Camera.from_calibration(path), steps, seed)
    both = first.good & again.good
    diff = 100 * np.abs(first.gain / np.median(first.gain[both])
                        - again.gain / np.median(again.gain[both]))[both]
    return {"median_pct": float(np.median(diff)), "p95_pct": float(np.percentile(diff, 95)),
            "pixels": int(both.sum()),
            "gain_uncertainty_pct": first.summary().get("gain_uncertainty_pct")}


def print_table(columns: list) -> None:
    """One row per figure of :data:`ROWS`; a column labelled ``fit - truth`` gets 3 decimals."""
    print(f"{'statistic':<28}" + "".join(f"{label:>22}" for label, _ in columns))
    for name, key, fmt in ROWS:
        cells = []
        for label, stats in columns:
            value = stats.get(key)
            form = ".3f" if label == "fit - truth" else fmt
            cells.append(f"{value:>22{form}}" if value is not None else f"{'':>22}")
        print(f"{name:<28}" + "".join(cells))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="truth/camera/calibration .npz")
    parser.add_argument("--fpn-seed", type=int, default=0)
    parser.add_argument("--fit", type=int, default=0, metavar="STEPS",
                        help="also fit the reference camera's uniform fields of STEPS steps")
    parser.add_argument("--round-trip", action="store_true",
                        help="with --fit: simulate the fitted maps and fit again")
    parser.add_argument("--out", type=Path, default=Path("/tmp/realism_fpn_calibration.npz"),
                        help="where --round-trip keeps the first calibration")
    args = parser.parse_args(argv)
    from spikesim.camera import Camera
    from spikesim.fpn_stats import fixed_pattern_stats

    camera = Camera(None, args.fpn_seed)
    truth = fixed_pattern_stats(camera.fpn)
    columns = [("real camera (issue 16)", REAL_CAMERA),
               (f"reference, truth ({args.fpn_seed})", truth)]
    first = None
    if args.fit:
        t0 = time.perf_counter()
        first = fit_fields(camera, args.fit, seed=1)
        from calibration.report import calibration_pattern_stats

        fitted = calibration_pattern_stats(first)
        columns.append((f"its fit, {args.fit} steps", fitted))
        columns.append(("fit - truth", {k: fitted[k] - truth[k] for k in fitted
                                        if isinstance(fitted[k], float)}))
        print(f"(fields 0/153/335 lux x {args.fit} steps simulated and fitted in "
              f"{time.perf_counter() - t0:.1f} s)")
    for path in args.files:
        columns.append((path.name, file_stats(path)))
    print("fixed pattern (spikesim.fpn_stats):")
    print_table(columns)
    if args.round_trip and first is not None:
        rt = round_trip(first, args.fit, seed=2, path=args.out)
        print(f"\n--camera-maps round trip ({args.fit}-step fields, other sensor seeds): median "
              f"|gain difference| {rt['median_pct']:.4f} %, 95th percentile "
              f"{rt['p95_pct']:.4f} % over {rt['pixels']} pixels (the first fit's gain "
              f"uncertainty {rt['gain_uncertainty_pct']:.4f} % per pixel)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
