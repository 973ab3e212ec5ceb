"""Benchmark: DeSpike latency (median) and peak memory at 400x256 on this machine.

    PYTHONPATH=. python bench/bench_despike.py [--device cpu|cuda] [--repeats 5]
        [--capture DIR/capture.dat]

Prints one table: parameters, median / min latency of one inference forward pass
(features -> λ, no grad, inference's weight layout, no training grid) at 400x256 for ``despike-small`` and ``despike-paper``, with the ratio to a
reference measured in the same run (TFP + the 5-window IF encoding of a 192-step
stream, i.e. the classical baseline's own cost), and peak memory; then the peak memory
and wall time of the whole command ``spikerestore run --method despike`` on a 400x250,
256-step capture (rendered here unless ``--capture`` names one).

Peak memory is measured in a **fresh process per case**, and is the whole process's
peak resident memory (interpreter, torch, weights, activations): the high-water mark
``VmHWM`` of ``/proc/self/status`` read at the end of the model's child (a new address
space at ``exec`` starts its own mark), and ``ru_maxrss`` of ``RUSAGE_CHILDREN`` read by
a tiny wrapper process around the command. Not ``ru_maxrss`` of the measuring process
itself: Linux carries it across ``exec``, so a child forked from a large parent starts
at the parent's size (the earlier version subtracted that inherited start and
understated the peak: 347 MB for ``despike-small`` against 805 MB measured standalone).
``torch MB`` is the resident memory once torch is imported, before the model. On CUDA
``peak MB`` is ``torch.cuda.max_memory_allocated``.
The paper's Table 3: 9.50 M parameters, 154 ms and 3.15 GB on an RTX 3090.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench._util import command_peak, cpu_name  # noqa: E402

PROC_STATUS = r"""
def _status_mb(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
"""

CHILD = PROC_STATUS + r"""
import json, statistics, sys, time
import numpy as np, torch
sys.path.insert(0, {root!r})
from restore.despike.model import DeSpikeNet, count_parameters
name, device, repeats, threads = {name!r}, {device!r}, {repeats}, {threads}
if threads:
    torch.set_num_threads(threads)
torch_mb = _status_mb("VmRSS")
torch.manual_seed(0)
# inference as `spikerestore run` does it: its weights' layout (weights.load_model), only
# the final output (grid=False); bench_despike_paths.py compares with the reference
from restore.despike.device import inference_layout
model = inference_layout(DeSpikeNet(name).eval().to(device))
x = (torch.rand(1, len(model.config.used_windows), 256, 400) * 0.4).to(device)
times = []
with torch.no_grad():
    model(x, grid=False)                        # warm-up
    if device == "cuda":
        torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
    for _ in range(repeats):
        t = time.perf_counter(); model(x, grid=False)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
peak = (torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else _status_mb("VmHWM"))
print(json.dumps({{"name": name, "params": count_parameters(model), "median_s": statistics.median(times),
                  "min_s": min(times), "peak_mb": peak, "torch_mb": torch_mb,
                  "threads": torch.get_num_threads()}}))
"""

def reference(repeats: int) -> float:
    """Median seconds of the classical front end: IF features of 5 windows + rate inversion.

    Run in a child process too, so this process stays small for the ones it starts."""
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r})\n" + r"""
import statistics, time
import numpy as np
from restore.despike.encoding import if_features, linearize_rate
rng = np.random.default_rng(0)
spikes = (rng.random((256, 256, 400)) < 0.2).astype(np.uint8)
times = []
for _ in range(REPEATS):
    t = time.perf_counter()
    linearize_rate(if_features(spikes, None, (64, 96, 128, 160, 192)).features, 1.0)
    times.append(time.perf_counter() - t)
print(statistics.median(times))
""".replace("REPEATS", str(int(repeats))))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def model_case(name: str, device: str, repeats: int, threads: int) -> dict:
    code = CHILD.format(root=str(ROOT), name=name, device=device, repeats=repeats,
                        threads=threads)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def command_case(argv: list[str]) -> dict:
    """Wall time and peak resident memory of one command, in a fresh process."""
    wall, peak = command_peak(argv)
    return {"wall_s": wall, "peak_mb": peak}


def _tool(name: str) -> str:
    exe = Path(sys.executable).with_name(name)
    return str(exe) if exe.exists() else name


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--models", default="despike-small,despike-paper")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch CPU threads (0: torch's default, the core count)")
    ap.add_argument("--capture", default=None,
                    help="a .dat for the `spikerestore run` case (default: render one)")
    args = ap.parse_args(argv)
    ref = reference(args.repeats)
    rows = [model_case(name, args.device, args.repeats, args.threads)
            for name in args.models.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        capture = args.capture
        if capture is None:
            subprocess.run([_tool("spikesim"), "render", "scene:dead_leaves",
                            "--fpn-seed", "7", "--seed", "1", "--steps", "256",
                            "-o", f"{tmp}/capture"], check=True, capture_output=True)
            capture = f"{tmp}/capture/capture.dat"
        run = command_case([_tool("spikerestore"), "run", capture, "--method", "despike",
                            "--device", args.device, "-o", f"{tmp}/despike.png"])
    print(f"{cpu_name()}, {os.cpu_count()} cpu(s); device {args.device} ({rows[0]['threads']} torch threads), "
          f"400x256, {args.repeats} repeats; reference (IF features of "
          f"5 windows + inversion, 256-step stream): {ref * 1e3:.1f} ms")
    print(f"{'model':<15}{'params':>10}{'median ms':>11}{'min ms':>9}{'x ref':>8}"
          f"{'peak MB':>9}{'torch MB':>10}")
    for r in rows:
        print(f"{r['name']:<15}{r['params'] / 1e6:>9.3f}M{r['median_s'] * 1e3:>11.1f}"
              f"{r['min_s'] * 1e3:>9.1f}{r['median_s'] / ref:>8.1f}{r['peak_mb']:>9.0f}"
              f"{r['torch_mb']:>10.0f}")
    print(f"spikerestore run --method despike (400x250, 256 steps): {run['wall_s']:.1f} s, "
          f"peak {run['peak_mb']:.0f} MB")
    print("paper (RTX 3090): despike 9.50 M, 154 ms, 3.15 GB")
    return rows, run


if __name__ == "__main__":
    main()
