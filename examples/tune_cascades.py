"""Tune the cascades' regularisation on the TRAINING distribution (not the test set).

    spikesim generate --config examples/configs/trainset.yaml --num 24 -o /tmp/tune
    python examples/tune_cascades.py /tmp/tune

For each window length (192, 64, 32 steps), reconstruction (TFP, TFI) and calibration
(off / oracle), grid-search Wiener's noise-to-signal ratio and Richardson-Lucy's
iteration count with the oracle σ, maximising the mean PSNR (sRGB, oracle exposure,
as `spikerestore eval` measures). The training config has its own seed, so the tuned
values never see a test sample. Prints a table and the best value per window; the
values used are in restore/settings.py (WIENER_NSR, RL_ITERATIONS) and docs/results.md.
"""

import sys
from pathlib import Path

import numpy as np

from restore.baselines import resolve_window, tfi, tfp
from restore.deconv import richardson_lucy, wiener
from restore.evaluate import display_of, oracle_calibration
from restore.exposure import to_display
from restore.metrics import psnr
from spikesim.dataset import iter_samples

NSR_GRID = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0)
RL_GRID = (1, 2, 3, 5, 10, 20, 40)
WINDOWS = (192, 64, 32)


def main(dataset_dir):
    samples = list(iter_samples(dataset_dir))
    scores = {}   # (window, base, cal, kind, value) -> list of PSNR
    for s in samples:
        target = to_display(s.sharp)
        sigma = float(s.params["sigma_median"])
        dead = float(s.camera["dead_time"])
        cal = oracle_calibration(s.camera, s.illuminance * 0.5)
        for w in WINDOWS:
            win = resolve_window(len(s.stream), s.key_step, w, minimum=2)
            sub = s.stream[win.start:win.stop]
            for base, fn in (("tfp", tfp), ("tfi", tfi)):
                for use_cal in (False, True):
                    lam = fn(sub, win.center - win.start, dead_time=dead,
                             calib=cal if use_cal else None)
                    for nsr in NSR_GRID:
                        v = psnr(display_of(wiener(lam, sigma, nsr), s), target)
                        scores.setdefault((w, base, use_cal, "wiener", nsr), []).append(v)
                    for it in RL_GRID:
                        v = psnr(display_of(richardson_lucy(lam, sigma, it), s), target)
                        scores.setdefault((w, base, use_cal, "rl", it), []).append(v)
    print(f"{len(samples)} training samples from {dataset_dir}")
    for kind, grid in (("wiener", NSR_GRID), ("rl", RL_GRID)):
        print(f"\n{kind}: mean PSNR (dB) by " + ("NSR" if kind == "wiener" else "iterations"))
        print("window base cal | " + " ".join(f"{g:>7g}" for g in grid) + " | best")
        for w in WINDOWS:
            for base in ("tfp", "tfi"):
                for use_cal in (False, True):
                    m = [np.mean(scores[(w, base, use_cal, kind, g)]) for g in grid]
                    print(f"{w:6d} {base} {'on ' if use_cal else 'off'} | "
                          + " ".join(f"{x:7.2f}" for x in m) + f" | {grid[int(np.argmax(m))]:g}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/tune"))
