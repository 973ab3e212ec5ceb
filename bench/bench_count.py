"""Benchmark: spikes per pixel over a 20,000-frame 400x250 .dat (250 MB, warm page cache).

Targets (issue 2): >= 2 GB/s, >= 5x numpy's unpackbits-and-sum measured in the same
run, peak resident memory < 200 MB whatever the file length. Each method runs in a
fresh child process so its maxrss is its own; the figures are medians.

    python bench/bench_count.py [--frames 20000] [--repeat 5]
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._util import run_child, table  # noqa: E402

FAST = """
import time, json, numpy as np
from spikesim.stream import SpikeStream
s = SpikeStream.read_dat({path!r}, size=(400, 250))
s[:64].counts()                                   # compile / load the cached kernel
times = []
for _ in range({repeat}):
    t0 = time.perf_counter(); c = s.counts(); times.append(time.perf_counter() - t0)
print(json.dumps({{'median_s': sorted(times)[len(times)//2], 'total': int(c.sum())}}))
"""

NUMPY = """
import time, json, numpy as np
path, nbytes, frames = {path!r}, 12500, {frames}
def count():
    acc = np.zeros(nbytes * 8, np.int64)
    mm = np.memmap(path, np.uint8, 'r', shape=(frames, nbytes))
    for t0 in range(0, frames, 1024):
        acc += np.unpackbits(mm[t0:t0 + 1024], axis=1, bitorder='little').sum(0, dtype=np.int64)
    return acc
times = []
for _ in range({repeat}):
    t0 = time.perf_counter(); c = count(); times.append(time.perf_counter() - t0)
print(json.dumps({{'median_s': sorted(times)[len(times)//2], 'total': int(c.sum())}}))
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_count_"))
    path = tmp / "capture.dat"
    rng = np.random.default_rng(0)
    # The parent stays small: a child's maxrss starts from its parent's at fork.
    with open(path, "wb") as fh:                  # a random stream at density ~0.25
        for t0 in range(0, args.frames, 100):
            n = min(100, args.frames - t0)
            bits = rng.random((n, 100_000), dtype=np.float32) < 0.25
            fh.write(np.packbits(bits, axis=1, bitorder="little").tobytes())
    size = path.stat().st_size
    with open(path, "rb") as fh:                  # warm the page cache
        while fh.read(1 << 24):
            pass
    fast = run_child(FAST.format(path=str(path), repeat=args.repeat))
    ref = run_child(NUMPY.format(path=str(path), frames=args.frames, repeat=args.repeat))
    assert fast["total"] == ref["total"], "the two counters disagree"
    rows = []
    for name, r in (("spikesim counts (compiled popcount)", fast),
                    ("numpy unpackbits + sum (chunked)", ref)):
        rows.append({"method": name, "median s": r["median_s"],
                     "GB/s": size / r["median_s"] / 1e9, "maxrss MB": r["maxrss_mb"]})
    print(f"{args.frames} frames of 400x250 = {size / 1e6:.0f} MB, {os.cpu_count()} cores, "
          f"medians of {args.repeat}")
    print(table(rows, ["method", "median s", "GB/s", "maxrss MB"]))
    print(f"\nspeed-up over numpy: {ref['median_s'] / fast['median_s']:.1f}x "
          "(targets: >= 2 GB/s, >= 5x, maxrss < 200 MB)")
    path.unlink()
    tmp.rmdir()


if __name__ == "__main__":
    main()
