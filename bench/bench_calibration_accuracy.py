"""Accuracy of paper / lsq / ratio against the truth of simulated cameras (issue 4, item 1-2).

For the reference camera (physics.md §4b, dead time 1) and the same camera with dead
time 0, simulates uniform fields at 0, 153, 335 lux (fit) and 250 lux (held out) with
1,000, 5,000 and 20,000 steps per field, fits each method, and prints per row: gain
median absolute error (%, both maps normalised to median 1 over pixels good in both),
offset median absolute error (lux, and % of the offset spread), held-out residual
non-uniformity with the full inverse and with the Eq. 14 weight alone, the noise floor,
the dead time used, and defects (hot/dead found of planted, false flags). The reference
in each row group is the temporal-noise floor of the held-out field (ratio column).

    PYTHONPATH=. python bench/bench_calibration_accuracy.py [--size 400x250] [--steps 1000,5000,20000]

The full 400x250 frame takes a few minutes of simulation on 2 cores; ``--size 200x125``
is about 4x faster. The numbers quoted in docs/calibration.md say which size they used.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from calibration.fit import calibrate
from calibration.rates import measure_stream
from calibration.report import check_field, evaluate
from spikesim.camera import Camera
from spikesim.config import CameraProfile

FIT = (0.0, 153.0, 335.0)
HELD = 250.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="400x250")
    ap.add_argument("--steps", default="1000,5000,20000")
    ap.add_argument("--fpn-seed", type=int, default=0)
    a = ap.parse_args()
    w, h = (int(v) for v in a.size.lower().split("x"))
    steps_list = [int(v) for v in a.steps.split(",")]
    print(f"camera: reference profile {w}x{h}, fpn_seed {a.fpn_seed}; fit 0/153/335 lux, "
          f"held-out 250 lux")
    head = (f"{'camera':<8}{'steps':>7}{'method':>7}{'gain err %':>11}{'off err':>9}"
            f"{'%spread':>9}{'NU full %':>10}{'NU w %':>9}{'floor %':>9}{'full/flr':>9}"
            f"{'delta':>8}{'hot':>7}{'dead':>6}{'false':>6}")
    print(head)
    for dead_time in (1, 0):
        profile = dataclasses.replace(CameraProfile(), width=w, height=h, dead_time=dead_time)
        camera = Camera(profile, a.fpn_seed)
        truth = (camera.fpn, {"dead_time": dead_time})
        for steps in steps_list:
            t0 = time.perf_counter()
            fields = {}
            for i, level in enumerate(FIT + (HELD,)):
                s = camera.capture(np.full((h, w), level, np.float32), steps,
                                   seed=1000 * steps + i)
                fields[level] = measure_stream(s, source=f"field_{level:g}")
            for method in ("paper", "lsq", "ratio"):
                use = [fields[335.0]] if method == "ratio" else [fields[v] for v in FIT]
                lv = [335.0] if method == "ratio" else list(FIT)
                c = calibrate(use, lv, method=method)
                ev = evaluate(c, truth)
                ck = check_field(c, fields[HELD], HELD)
                print(f"{'delta=' + str(dead_time):<8}{steps:>7}{method:>7}"
                      f"{ev['gain_error_median_pct']:>11.4f}{ev['offset_error_median']:>9.4f}"
                      f"{ev['offset_error_median_pct_of_spread']:>9.2f}{ck['nu_full_pct']:>10.4f}"
                      f"{ck['nu_weight_pct']:>9.4f}{ck['floor_pct']:>9.4f}"
                      f"{ck['ratio_full']:>9.2f}{c.dead_time:>8.4f}"
                      f"{ev['hot_hits']:>3}/{ev['hot_true']:<3}{ev['dead_hits']:>3}/"
                      f"{ev['dead_true']:<2}{ev['false_flags']:>6}")
            print(f"  ({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
