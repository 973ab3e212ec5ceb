"""The samples where the network falls furthest below plain TFP: a table and a montage.

    PYTHONPATH=. python bench/worst_samples.py DATASET RESULTS_CSV [--weights W] [-n 3]
        [--calib-mode oracle] [--cascade tfp+rl] [-o docs/images/natural_worst.png]

``RESULTS_CSV`` is the ``results.csv`` that ``spikerestore eval DATASET ... -o DIR`` wrote
(full window). Prints, for every sample, the network's PSNR margin over TFP (both with the
same calibration mode), sorted worst first, with the count of samples more than 0.5 dB
below TFP (issue 17's bar); then re-runs the worst ``n`` samples and writes a montage of
input mean, TFP, the cascade, the network and the target, with crops at 2x of the place
where the network's error exceeds TFP's most (a 64x64 window).
"""

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

from restore.evaluate import evaluate_sample, parse_methods
from spikesim.dataset import load_sample, sample_name
from spikesim.images import montage, write_png

BAR_DB = 0.5
CROP = 64


def margins(csv_path: Path, network: str, reference: str) -> list[tuple[float, int, float]]:
    """``[(network - reference dB, sample id, median σ)]``, worst first (full window)."""
    psnr: dict = {}
    sigma: dict = {}
    with open(csv_path, newline="") as f:
        for row in csv.DictReader(f):
            if row["window"] != "full":
                continue
            psnr.setdefault(int(row["sample"]), {})[row["method"]] = float(row["psnr"])
            sigma[int(row["sample"])] = float(row["sigma_median"])
    out = [(v[network] - v[reference], s, sigma[s]) for s, v in psnr.items()
           if network in v and reference in v]
    if not out:
        sys.exit(f"{csv_path}: no rows for both {network!r} and {reference!r}")
    return sorted(out)


def worst_crop(err_net: np.ndarray, err_ref: np.ndarray) -> tuple[int, int]:
    """Top-left corner of the ``CROP``-square where the network's squared error exceeds the
    reference's most (box sums by an integral image)."""
    d = np.pad((err_net ** 2 - err_ref ** 2).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    box = d[CROP:, CROP:] - d[:-CROP, CROP:] - d[CROP:, :-CROP] + d[:-CROP, :-CROP]
    y, x = np.unravel_index(int(np.argmax(box)), box.shape)
    return int(y), int(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("results_csv", type=Path)
    ap.add_argument("--weights", default=None, help="network weights (default: bundled)")
    ap.add_argument("--calib-mode", default="oracle", choices=["off", "oracle"])
    ap.add_argument("--cascade", default="tfp+rl", help="the cascade shown beside TFP")
    ap.add_argument("-n", type=int, default=3, help="worst samples shown")
    ap.add_argument("-o", "--output", type=Path, default=None, help="montage PNG")
    args = ap.parse_args()
    specs = parse_methods(f"tfp,{args.cascade},despike", args.calib_mode)
    ref, net = specs[0].label, specs[-1].label
    rows = margins(args.results_csv, net, ref)
    below = [r for r in rows if r[0] < -BAR_DB]
    print(f"| sample | median σ (px) | {net} − {ref} (dB) |\n|---|---|---|")
    for m, s, sig in rows:
        print(f"| {s} | {sig:.2f} | {m:+.2f} |")
    print(f"\n{len(below)} of {len(rows)} samples more than {BAR_DB} dB below {ref}; "
          f"mean margin {np.mean([r[0] for r in rows]):+.2f} dB")
    if args.output is None:
        return
    tiles, labels = [], []
    for m, s, _ in rows[:args.n]:
        sample = load_sample(args.dataset / "samples" / sample_name(s))
        _, images = evaluate_sample(sample, specs, [None], keep_images=True,
                                    weights=args.weights, with_lpips=False)
        target = images["target"]
        y, x = worst_crop(np.abs(images[net] - target), np.abs(images[ref] - target))
        for j, (name, img) in enumerate(images.items()):
            tiles.append(np.kron(img[y:y + CROP, x:x + CROP], np.ones((2, 2))))
            labels.append(f"#{s} {m:+.1f} dB {name}" if j == 0 else name)
    write_png(args.output, montage(tiles, labels, ncols=len(specs) + 2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
