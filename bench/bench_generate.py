"""Benchmark ``spikesim generate``: samples per second and the numba cache at start-up.

    PYTHONPATH=. python bench/bench_generate.py [--num 6] [--repeats 3]

1. Throughput for 256x256-pixel, 256-step samples (the test set's generator, random
   cameras), with 1 and 2 local worker processes: the median over repeats of
   end-to-end samples/s (pool start-up included) and of steady-state samples/s (between
   the first and the last finished sample). The ratio is against 1 worker, same run.
2. Numba compilation cached: a fresh interpreter imports the CLI and the simulator and
   runs the sensor kernel once (what a CLI run does before its first sample), first with
   an empty numba cache directory (compiles) and then again (loads the cache); and the
   time from launching ``spikesim generate`` (smoke config) to its first sample on disk.
   Target (issue 3): a second CLI run starts computing within 2 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SAMPLE = {"name": "bench", "width": 256, "height": 256, "steps": 256, "seed": 3,
          "stratified": True}

STARTUP = """
import time
t0 = time.perf_counter()
from cli.spikesim_cli import main
import numpy as np
import spikesim.dataset, spikesim.render, spikesim.scenes
from spikesim.sensor import simulate_spikes
simulate_spikes(np.full((8, 8), 0.5, np.float32), 16, theta_sd=0.01)
print(time.perf_counter() - t0)
"""


def throughput(num: int, workers: int, repeats: int) -> tuple[float, float]:
    from spikesim.dataset import generate_dataset

    ends, steadies = [], []
    for r in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            stamps = []
            t0 = time.perf_counter()
            generate_dataset({**SAMPLE, "num": num}, Path(tmp) / "ds", workers=workers,
                             progress=lambda n: stamps.extend([time.perf_counter()] * n))
            total = time.perf_counter() - t0
        ends.append(num / total)
        steadies.append((len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else
                        float("nan"))
    return statistics.median(ends), statistics.median(steadies)


def python_env(cache_dir: str | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    return env


def startup(cache_dir: str | None) -> tuple[float, float]:
    """(in-process seconds to a first kernel call, wall seconds of the whole interpreter)."""
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", STARTUP], cwd=ROOT,
                         env=python_env(cache_dir), capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1]), time.perf_counter() - t0


def first_sample_time(cache_dir: str | None) -> float:
    """Seconds from launching `spikesim generate` (smoke config) to its first sample on disk."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ds"
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-W", "ignore", "-c", "from cli.spikesim_cli import main; main()",
             "generate", "--config", str(ROOT / "examples/configs/smoke.yaml"), "-o", str(out),
             "-q"], cwd=ROOT, env=python_env(cache_dir), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        first = None
        while proc.poll() is None or first is None:
            samples = out / "samples"
            if first is None and samples.is_dir() and any(samples.iterdir()):
                first = time.perf_counter() - t0
            if proc.poll() is not None and first is None:
                first = float("nan")
            time.sleep(0.002)
        proc.wait()
    return first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num", type=int, default=6, help="samples per timed run")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from spikesim.dataset import generate_dataset

    with tempfile.TemporaryDirectory() as tmp:               # warm-up: compile / load caches
        generate_dataset({**SAMPLE, "num": 1}, Path(tmp) / "w")

    print(f"spikesim generate, {SAMPLE['width']}x{SAMPLE['height']} px x {SAMPLE['steps']} "
          f"steps per sample, {args.num} samples a run, median of {args.repeats} runs, "
          f"{os.cpu_count()} cores")
    print(f"{'workers':>8} {'samples/s (end-to-end)':>24} {'samples/s (steady)':>20} "
          f"{'ratio vs 1 (steady)':>20}")
    base = None
    for workers in (1, 2):
        end, steady = throughput(args.num, workers, args.repeats)
        base = base or steady
        print(f"{workers:>8} {end:>24.2f} {steady:>20.2f} {steady / base:>20.2f}")

    print()
    with tempfile.TemporaryDirectory() as cache:
        cold_in, cold_wall = startup(cache)
        warm = [startup(cache) for _ in range(3)]
        first_warm = [first_sample_time(cache) for _ in range(3)]
    warm_in = statistics.median(w[0] for w in warm)
    warm_wall = statistics.median(w[1] for w in warm)
    print("numba cache: fresh interpreter, import CLI + simulator, first sensor-kernel call")
    print(f"{'run':>28} {'to first kernel call (s)':>26} {'interpreter wall (s)':>22}")
    print(f"{'empty cache (compiles)':>28} {cold_in:>26.2f} {cold_wall:>22.2f}")
    print(f"{'cached (median of 3)':>28} {warm_in:>26.2f} {warm_wall:>22.2f}")
    print(f"{'ratio cached / compiling':>28} {warm_in / cold_in:>26.3f} {warm_wall / cold_wall:>22.3f}")
    fs = statistics.median(first_warm)
    print(f"`spikesim generate` (smoke, 64x64) launch to its first finished sample on disk, "
          f"cached: {fs:.2f} s (median of 3)")
    print(f"target (issue 3): a second CLI run starts computing within 2 s -> "
          f"{'met' if fs <= 2.0 else 'NOT met'} (the first sample is finished after {fs:.2f} s)")


if __name__ == "__main__":
    main()
