"""Benchmark: sequence restoration (``spikerestore run --every``) at 400x250, 2 threads.

    PYTHONPATH=. python bench/bench_sequence.py [--frames 6] [--every 64] [--repeats 3]

Measured in one run, on one capture (a ``spikesim render`` focus sweep of the reference
400x250 camera), every process with 2 torch / numba / OpenMP threads:

1. the **bare forward pass** of the bundled network on one frame's features
   (``restore.despike.infer.predict``, median of ``repeats``), and the same per frame
   with batches of 2 and 4 frames (does batching help on this machine?);
2. **sequence mode** in process (``restore.run.run_sequence`` into a PNG directory) for
   ``tfp``, ``tfp+rl`` and ``despike``: the median time per frame after the first (steady
   state) and its ratio to the forward pass; frames per second over the whole sequence;
3. the **commands** in fresh processes, as a user runs them: ``spikerestore run
   --every`` (frames per second including start-up, peak RSS as ``/usr/bin/time -v``
   reports it) and the single-frame ``spikerestore run --center`` (median wall time,
   peak RSS), with the single frame's
   time split into stages (interpreter and CLI, torch import, weights, features,
   forward, exposure and PNG) by a child that runs the command's library calls in order;
   with ``--baseline DIR`` (repeatable) the same for other checkouts, so the start-up cost before and
   after a change is compared in one run.

The machine's load average is printed before and after: on a shared machine compare
the ratios (measured in the same run), not the absolute times.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench._util import command_peak, cpu_name  # noqa: E402
THREADS = 2
ENV = dict(os.environ, OMP_NUM_THREADS=str(THREADS), MKL_NUM_THREADS=str(THREADS),
           NUMBA_NUM_THREADS=str(THREADS), PYTHONPATH=str(ROOT))
METHODS = ("tfp", "tfp+rl", "despike")

STAGES = r"""
import json, os, sys, time
def started():                     # wall and CPU seconds at this process's start
    ticks = os.sysconf("SC_CLK_TCK")
    with open("/proc/self/stat") as f:
        start = int(f.read().rsplit(")", 1)[1].split()[19]) / ticks
    with open("/proc/uptime") as f:
        return time.perf_counter() - (float(f.read().split()[0]) - start), 0.0
marks = [started(), (time.perf_counter(), time.process_time())]
mark = lambda: marks.append((time.perf_counter(), time.process_time()))
import cli.spikerestore_cli, restore.run, restore.methods
from cli.stream_args import open_stream
mark()
import torch
torch.set_num_threads(2)
mark()
from restore.despike.infer import predict
from restore.despike.weights import load_model
model = load_model()
mark()
from restore.despike.encoding import network_input
stream = open_stream(sys.argv[1])
try:                                       # what `spikerestore run` counts with
    from restore.sequence import shared_counts
    stream = shared_counts(stream, "despike")
except ImportError:                        # a tree before sequences: the stream itself
    pass
x, cal, _ = network_input(stream, None, model.config, int(sys.argv[2]), 1.0)
mark()
lam = predict(model, torch.from_numpy(x)[None], "cpu", calibrated=cal)[0]
mark()
from restore.exposure import expose
from spikesim.images import write_png_srgb
lin, _ = expose(lam, "auto")
write_png_srgb(sys.argv[3], lin.clip(0, 1))
mark()
names = ("interpreter", "cli_imports", "torch_import", "weights", "features", "forward", "expose_write")
print(json.dumps({"wall": {n: b[0] - a[0] for n, a, b in zip(names, marks, marks[1:])},
                  "cpu": {n: b[1] - a[1] for n, a, b in zip(names, marks, marks[1:])}}))
"""

def command(args, tree: Path = ROOT) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MB) and CPU seconds (user + system) of ``spikerestore
    ARGS`` in a fresh interpreter, with the code of ``tree`` (this checkout, or a
    baseline's). The CPU time is this process's ``RUSAGE_CHILDREN`` before and after:
    the command and its small wrapper (:func:`bench._util.command_peak`)."""
    def children_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    cpu0 = children_cpu()
    wall, rss = command_peak([sys.executable, "-m", "cli.spikerestore_cli", *args],
                             env=dict(ENV, PYTHONPATH=str(tree)), cwd=tree)
    return wall, rss, children_cpu() - cpu0


def single_frame(capture: Path, key: int, tmp: Path, repeats: int, tree: Path) -> dict:
    """The single-frame command with ``tree``'s code: median wall, peak RSS, and the
    median of each stage (a child running the command's library calls in order)."""
    command(["run", capture, "--center", key, "-q", "--overwrite", "-o", tmp / "w.png"],
            tree)                                             # warm caches (numba, files)
    walls, rss, cpus, stages = [], [], [], []
    for _ in range(repeats):
        w, r, c = command(["run", capture, "--center", key, "--method", "despike", "-q",
                           "--overwrite", "-o", tmp / "one.png"], tree)
        walls.append(w)
        rss.append(r)
        cpus.append(c)
        out = subprocess.run([sys.executable, "-c", STAGES, str(capture), str(key),
                              str(tmp / "stages.png")], capture_output=True, text=True,
                             env=dict(ENV, PYTHONPATH=str(tree)), cwd=tree, check=True)
        stages.append(json.loads(out.stdout.strip().splitlines()[-1]))
    med = {kind: {k: statistics.median(r[kind][k] for r in stages) for k in stages[0][kind]}
           for kind in ("wall", "cpu")}
    return {"wall_s": statistics.median(walls), "maxrss_mb": max(rss),
            "cpu_s": statistics.median(cpus), "stages": med["wall"], "stages_cpu": med["cpu"],
            "overhead_s": sum(v for k, v in med["wall"].items() if k != "forward"),
            "overhead_cpu_s": sum(v for k, v in med["cpu"].items() if k != "forward")}


def make_capture(directory: Path, steps: int) -> Path:
    subprocess.run([sys.executable, "-m", "cli.spikesim_cli", "render", "scene:dead_leaves",
                    "--steps", str(steps), "--focus-sweep", "0.8,1.5,3", "-q",
                    "-o", str(directory / "sweep")], check=True, env=ENV, cwd=ROOT,
                   capture_output=True)
    return directory / "sweep" / "capture.dat"


def forward_times(capture: Path, steps: list, repeats: int) -> dict:
    import numpy as np
    import torch

    from cli.stream_args import open_stream
    from restore.despike.encoding import network_input
    from restore.despike.infer import predict
    from restore.despike.weights import load_model

    torch.set_num_threads(THREADS)
    model = load_model()
    stream = open_stream(capture)
    feats = [network_input(stream, None, model.config, s, 1.0)[:2] for s in steps[:4]]
    x1 = torch.from_numpy(feats[0][0])[None]
    predict(model, x1, "cpu", calibrated=feats[0][1])               # warm-up
    out = {}
    for batch in (1, 2, 4):
        x = torch.from_numpy(np.stack([f[0] for f in feats[:batch]]))
        cal = [f[1] for f in feats[:batch]]
        n = repeats if batch == 1 else 1
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            predict(model, x, "cpu", calibrated=cal)
            times.append((time.perf_counter() - t0) / batch)
        out[batch] = statistics.median(times)
    return out


def sequence_in_process(capture: Path, method: str, every: int, frames: int,
                        tmp: Path) -> dict:
    from cli.stream_args import open_stream
    from restore.run import run_sequence

    stamps = []
    t0 = time.perf_counter()
    stop = 96 + every * (frames - 1) + 1
    run_sequence(capture, tmp / f"seq-{method.replace('+', '_')}", every=every, start=96,
                 stop=stop, method=method, stream=open_stream(capture), exposure="auto",
                 progress=lambda i, n: stamps.append(time.perf_counter()))
    wall = time.perf_counter() - t0
    per = [b - a for a, b in zip(stamps[:-1], stamps[1:])]
    return {"frames": len(stamps), "wall_s": wall, "fps": len(stamps) / wall,
            "steady_s_per_frame": statistics.median(per) if per else wall}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--every", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None, help="Also write the figures here.")
    ap.add_argument("--baseline", type=Path, action="append", default=[],
                    help="Another checkout (e.g. `git archive REV | tar -x -C DIR`): its "
                    "single-frame command and stages measured in the same run; repeat the "
                    "option for several.")
    ap.add_argument("--single-only", action="store_true",
                    help="Only the forward pass and the single-frame command (no sequences).")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(THREADS)
    load_before = os.getloadavg()
    steps_total = 192 + args.every * (args.frames - 1) + 64
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        capture = make_capture(tmp, steps_total)
        keys = [96 + args.every * i for i in range(args.frames)]
        fwd = forward_times(capture, keys, args.repeats)
        if args.single_only:
            seq, cli_seq = {}, (float("nan"),) * 3
        else:
            seq = {m: sequence_in_process(capture, m, args.every, args.frames, tmp)
                   for m in METHODS}
            cli_seq = command(["run", capture, "--every", args.every, "--start", keys[0],
                               "--stop", keys[-1] + 1, "--method", "despike", "-q",
                               "-o", tmp / "cli.gif"])
        single = single_frame(capture, keys[0], tmp, args.repeats, ROOT)
        bases = {str(tree): single_frame(capture, keys[0], tmp, args.repeats, tree)
                 for tree in args.baseline}
    load_after = os.getloadavg()
    stages, single_wall, single_rss = single["stages"], single["wall_s"], single["maxrss_mb"]
    forward = fwd[1]
    report = {"cpu": cpu_name(), "threads": THREADS, "load_before": load_before,
              "load_after": load_after, "frames": args.frames, "every": args.every,
              "forward_s": forward, "forward_batch_s_per_frame": fwd,
              "sequence": seq, "cli_sequence": {"wall_s": cli_seq[0], "maxrss_mb": cli_seq[1],
                                                "fps": args.frames / cli_seq[0]},
              "single": single, "baseline_single": bases}
    print(f"CPU: {report['cpu']}, {THREADS} threads; load average before "
          f"{load_before[0]:.1f}, after {load_after[0]:.1f}; {args.frames} frames every "
          f"{args.every} steps of 400x250; medians of {args.repeats}\n")
    print(f"bare forward pass: {forward:.3f} s/frame; batched: 2 -> {fwd[2]:.3f}, "
          f"4 -> {fwd[4]:.3f} s/frame ({fwd[2] / forward:.2f}x, {fwd[4] / forward:.2f}x)\n")
    print("| method | frames/s (whole sequence) | s/frame (steady) | x forward pass |")
    print("|---|---|---|---|")
    for m, r in seq.items():
        print(f"| {m} | {r['fps']:.2f} | {r['steady_s_per_frame']:.3f} | "
              f"{r['steady_s_per_frame'] / forward:.2f} |")
    print(f"\n`spikerestore run --every` (despike, fresh process): {cli_seq[0]:.2f} s for "
          f"{args.frames} frames ({args.frames / cli_seq[0]:.2f} frames/s), peak RSS "
          f"{cli_seq[1]:.0f} MB")
    over = single_wall - forward
    print(f"`spikerestore run --center` (despike, one frame): {single_wall:.2f} s, peak RSS "
          f"{single_rss:.0f} MB; beyond the forward pass {over:.2f} s "
          f"({over / forward:.2f}x the forward pass)")
    print(f"  CPU time of the whole command {single['cpu_s']:.2f} s (its forward pass "
          "included: under load, its threads' waiting varies by seconds)")
    runs = [("now", single)] + list(bases.items())
    print("\n| single frame, stage | " + " | ".join(f"{n} wall s | {n} CPU s" for n, _ in runs)
          + " |")
    print("|---|" + "---|---|" * len(runs))
    for k in stages:
        print(f"| {k} | " + " | ".join(f"{r['stages'][k]:.3f} | {r['stages_cpu'][k]:.3f}"
                                       for _, r in runs) + " |")
    print("| beyond the forward pass | " + " | ".join(
        f"{r['overhead_s']:.3f} | {r['overhead_cpu_s']:.3f}" for _, r in runs) + " |")
    for name, base in bases.items():
        print(f"\noverhead beyond the forward pass, now / {name}: wall "
              f"{single['overhead_s'] / base['overhead_s']:.2f}, CPU time "
              f"{single['overhead_cpu_s'] / base['overhead_cpu_s']:.2f} (CPU time is what "
              "a busy machine distorts least)")
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
