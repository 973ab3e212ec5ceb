"""Benchmark what one training-pool sample costs to make, by data source.

    PYTHONPATH=. python bench/bench_pool_sample.py [--num 10] [--size 128]

A pooled sample is made by the dataset generator (scene or photograph, depth layout,
optics, sensor) at the pool's size; the training step itself reads views of the pool and
does not depend on the source (docs/despike.md §2, "Cost"). For each source — the
procedural scenes, the training photographs, and the photographs with every target's
photographic bokeh (``photo_bokeh: 1``, so its cost shows in full; at a share ``p`` the
mean cost is ``(1 - p)`` of the plain photograph's plus ``p`` of this) — the same ``--num``
sample indices are made in one thread, interleaved across sources in a rotating order,
after one warm-up
sample each. Prints the median seconds per sample and the ratio to the plain
photographs, all measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

BASE = {"name": "bench-pool", "steps": 256, "seed": 4,
        "depth_layouts": {"random": 0.25, "plane": 0.25, "ramp": 0.25, "objects": 0.25},
        "crop_scale": [0.35, 1.0], "lambda_p99": [0.05, 1.2]}
SOURCES = {
    "procedural": {"source": "procedural"},
    "photographs": {"source": "images", "image_dir": "data/photos/train"},
    "photographs, bokeh targets": {"source": "images", "image_dir": "data/photos/train",
                                   "photo_bokeh": 1.0, "photo_bokeh_sigma": [1.0, 4.0]},
}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--num", type=int, default=10, help="samples per source (median over them)")
    ap.add_argument("--size", type=int, default=128, help="sample width and height, px")
    args = ap.parse_args(argv)

    from bench._util import cpu_name
    from spikesim.dataset import load_dataset_config
    from spikesim.dataset.sample import SampleMaker

    photos = ROOT / "data" / "photos" / "train"
    if not photos.is_dir() or not any(photos.iterdir()):
        sys.exit(f"no photographs in {photos}: run examples/photos/check_photos.py --install "
                 "first (README, 'Datasets')")
    makers = {}
    for name, keys in SOURCES.items():
        cfg = dict(BASE, width=args.size, height=args.size, num=args.num + 1, **keys)
        if "image_dir" in cfg:
            cfg["image_dir"] = str(ROOT / cfg["image_dir"])
        makers[name] = SampleMaker(load_dataset_config(cfg))
        makers[name].sample(args.num)                        # warm-up: numba, file lists
    times = {name: [] for name in makers}
    names = list(makers)
    for i in range(args.num):
        for name in names[i % len(names):] + names[:i % len(names)]:   # rotate the order
            t0 = time.perf_counter()
            makers[name].sample(i)
            times[name].append(time.perf_counter() - t0)
    ref = statistics.median(times["photographs"])
    print(f"one pool sample of {args.size}x{args.size} px, 256 steps; 1 thread; "
          f"median of {args.num}; CPU: {cpu_name()}")
    print("| source | s / sample | vs photographs |")
    print("|---|---|---|")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"| {name} | {med:.3f} | {med / ref:.2f}x |")


if __name__ == "__main__":
    main()
