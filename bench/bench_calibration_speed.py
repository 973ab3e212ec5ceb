"""Speed and memory of ``spikecal fit`` on three 20,000-step 400x250 fields (issue 4, item 4).

Writes three uniform-field captures of the reference camera (0, 153, 335 lux; 250 MB
each, 750 MB in all) to a scratch directory, warms the page cache by reading them, then
runs ``spikecal fit DIR`` (lsq, dead time estimated) ``--repeats`` times, each in a fresh
subprocess, and reports the median wall time and the median peak resident memory
(``ru_maxrss`` of the child). The reference measured in the same run is the time to
merely read the 750 MB (``cat > /dev/null``): the ratio says how far the fit is from I/O.

To keep the set-up short the captures are 2,000 simulated steps repeated 10 times
(timing does not depend on the spike pattern).

Target: median wall <= 2 s, maxrss <= 300 MB.

    PYTHONPATH=. python bench/bench_calibration_speed.py [--dir SCRATCH] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LEVELS = (0, 153, 335)


def make_fields(out: Path, steps: int = 20_000, block: int = 2_000) -> None:
    import numpy as np
    import yaml

    from spikesim.camera import Camera
    from spikesim.config import CameraProfile

    profile = CameraProfile()
    camera = Camera(profile, 0)
    out.mkdir(parents=True, exist_ok=True)
    for i, level in enumerate(LEVELS):
        path = out / f"field_{level}.dat"
        if path.exists() and path.stat().st_size == steps * profile.width * profile.height // 8:
            continue
        s = camera.capture(np.full((profile.height, profile.width), float(level), np.float32),
                           block, seed=i)
        data = np.ascontiguousarray(s.packed).tobytes()
        with open(path, "wb") as fh:
            for _ in range(steps // block):
                fh.write(data)
    (out / "fields.yaml").write_text(yaml.safe_dump(
        {"levels": list(LEVELS), "steps": steps,
         "resolution": {"width": profile.width, "height": profile.height}}))


CHILD = r"""
import resource, sys, time
t0 = time.perf_counter()
from cli.spikecal_cli import main
try:
    main(sys.argv[1:], standalone_mode=True)
except SystemExit as e:
    if e.code:
        raise
"""


def run_child(args):
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD] + args, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(proc.stdout + proc.stderr)
    return wall


def child_maxrss_mb(args):
    """Peak RSS of one child (via wait4's rusage), MB."""
    pid = os.fork()
    if pid == 0:
        os.chdir(ROOT)
        os.environ["PYTHONPATH"] = str(ROOT)
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.execv(sys.executable, [sys.executable, "-c", CHILD] + args)
    _, status, usage = os.wait4(pid, 0)
    if status:
        raise SystemExit(f"child failed with status {status}")
    return usage.ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "spikecal_bench")
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    make_fields(a.dir)
    files = [a.dir / f"field_{v}.dat" for v in LEVELS]
    read_times = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        for f in files:
            with open(f, "rb") as fh:
                while fh.read(1 << 24):
                    pass
        read_times.append(time.perf_counter() - t0)
    out = a.dir / "cam.npz"
    args = ["fit", str(a.dir), "-o", str(out), "--overwrite", "-q"]
    run_child(args)                                      # warm-up: numba cache, page cache
    walls, rss = [], []
    for _ in range(a.repeats):
        walls.append(run_child(args))
        rss.append(child_maxrss_mb(args))
    total_mb = sum(f.stat().st_size for f in files) / 1e6
    read_med = statistics.median(read_times)
    wall_med = statistics.median(walls)
    print(f"spikecal fit on {len(files)} fields, {total_mb:.0f} MB, cpus={os.cpu_count()}, "
          f"repeats={a.repeats}")
    print(f"{'what':<34}{'median':>10}{'min':>10}{'max':>10}")
    print(f"{'read 750 MB (reference), s':<34}{read_med:>10.3f}{min(read_times):>10.3f}"
          f"{max(read_times):>10.3f}")
    print(f"{'spikecal fit wall, s':<34}{wall_med:>10.3f}{min(walls):>10.3f}{max(walls):>10.3f}")
    print(f"{'spikecal fit maxrss, MB':<34}{statistics.median(rss):>10.1f}{min(rss):>10.1f}"
          f"{max(rss):>10.1f}")
    print(f"ratio fit / read: {wall_med / read_med:.2f}; target wall <= 2 s: "
          f"{'met' if wall_med <= 2 else 'NOT met'}; maxrss <= 300 MB: "
          f"{'met' if statistics.median(rss) <= 300 else 'NOT met'}")


if __name__ == "__main__":
    main()
