"""Benchmark: DeSpike latency (median) and peak memory at 400x256 on this machine.

    PYTHONPATH=. python bench/bench_despike.py [--device cpu|cuda] [--repeats 5]

Prints one table: parameters, median / min latency of one forward pass (features ->
λ, no grad) at 400x256 for ``despike-small`` and ``despike-paper``, and peak memory,
with the ratio to a reference measured in the same run (TFP + the 5-window IF encoding
of a 192-step stream, i.e. the classical baseline's own cost). Peak memory on CPU is the
growth of the process's peak RSS during the model's runs (each model in a fresh
subprocess so the figures do not mix); on CUDA ``torch.cuda.max_memory_allocated``.
The paper's Table 3: 9.50 M parameters, 154 ms and 3.15 GB on an RTX 3090.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, statistics, sys, time
import numpy as np, torch
sys.path.insert(0, {root!r})
from restore.despike.model import DeSpikeNet, count_parameters
name, device, repeats, threads = {name!r}, {device!r}, {repeats}, {threads}
if threads:
    torch.set_num_threads(threads)
torch.manual_seed(0)
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
model = DeSpikeNet(name).eval().to(device)
x = (torch.rand(1, len(model.config.used_windows), 256, 400) * 0.4).to(device)
times = []
with torch.no_grad():
    model(x)                                    # warm-up
    if device == "cuda":
        torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
    for _ in range(repeats):
        t = time.perf_counter(); model(x)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
peak = (torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else
        (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024)
print(json.dumps({{"name": name, "params": count_parameters(model), "median_s": statistics.median(times),
                  "min_s": min(times), "peak_mb": peak, "threads": torch.get_num_threads()}}))
"""


def reference(repeats: int) -> float:
    """Median seconds of the classical front end: IF features of 5 windows + rate inversion."""
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from restore.despike.encoding import if_features, linearize_rate

    rng = np.random.default_rng(0)
    spikes = (rng.random((256, 256, 400)) < 0.2).astype(np.uint8)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        linearize_rate(if_features(spikes, None, (64, 96, 128, 160, 192)).features, 1.0)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--models", default="despike-small,despike-paper")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch CPU threads (0: torch's default, the core count)")
    args = ap.parse_args(argv)
    ref = reference(args.repeats)
    rows = []
    for name in args.models.split(","):
        code = CHILD.format(root=str(ROOT), name=name, device=args.device, repeats=args.repeats,
                            threads=args.threads)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"device {args.device} ({rows[0]['threads']} torch threads), 400x256, "
          f"{args.repeats} repeats; reference (IF features of "
          f"5 windows + inversion, 256-step stream): {ref * 1e3:.1f} ms")
    print(f"{'model':<15}{'params':>10}{'median ms':>11}{'min ms':>9}{'x ref':>8}{'peak MB':>9}")
    for r in rows:
        print(f"{r['name']:<15}{r['params'] / 1e6:>9.3f}M{r['median_s'] * 1e3:>11.1f}"
              f"{r['min_s'] * 1e3:>9.1f}{r['median_s'] / ref:>8.1f}{r['peak_mb']:>9.0f}")
    print("paper (RTX 3090): despike 9.50 M, 154 ms, 3.15 GB")
    return rows


if __name__ == "__main__":
    main()
