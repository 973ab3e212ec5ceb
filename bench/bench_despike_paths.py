"""Benchmark: DeSpike's fast paths against their slow references, in the same run.

    PYTHONPATH=. python bench/bench_despike_paths.py [--rounds 4] [--repeats 3] [--threads 2]

The network's function has one definition; four implementation choices make it faster
and each has a reference it must match (tests/test_despike.py, tests/test_despike_train.py):

- ``grid=False`` (inference): only the longest window's head at the finest level, not
  the training loss's whole (window, level) grid;
- the folded candidate attention (``attention.candidate_attention_folded``): the keys'
  projection folded into the query, loops without gradients, broadcast products with
  them; the reference forms the keys explicitly (``candidate_attention``);
- the split head (``refine.Level._head``): the shared reconstruction convolved once, not
  once per window; the reference convolves the concatenation ``[rec, enc_i]``;
- channels-last layouts: the weights of inference (``weights.load_model``), and inside
  every pass the kernel bank's and the feed-forward's depthwise convolutions
  (``device.cpu_channels_last``); the reference runs them in NCHW.

Cases, each in a **fresh process**, alternated over ``--rounds`` (this machine is shared
and noisy: medians of rounds × repeats, after one warm-up):

- inference, one 400x256 frame with the bundled weights, no gradients: the reference
  (explicit keys, whole grid, NCHW: the forward as it ran before these paths), then the
  paths added one by one; ``max |Δ|`` is the largest difference of ``out`` from the
  reference's (λ in thresholds/step; the output's largest value is printed too);
- a training step, a batch of 8 crops of 96x96 with the whole grid, forward, backward and
  an Adam step: explicit keys against the folded broadcast products; ``grad rel`` is
  ``|g − g_ref| / |g_ref|`` of all gradients at the first step.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench._util import cpu_name  # noqa: E402

CHILD = r"""
import json, sys, time
import torch
sys.path.insert(0, ROOT)
torch.set_num_threads(THREADS)
import restore.despike.attention as attention
import restore.despike.device as device
import restore.despike.refine as refine
from restore.despike.weights import load_model

if not FAST:       # the references the tests compare with: explicit keys, concatenated head
    attention.candidate_attention_folded = attention.candidate_attention_explicit
    refine.Level._head = refine.Level.head_concatenated
    device.CPU_CHANNELS_LAST = False                 # NCHW depthwise convolutions
model = load_model()
if not CHANNELS_LAST:
    model = model.to(memory_format=torch.contiguous_format)
torch.manual_seed(0)
times = []
if KIND == "inference":
    x = torch.rand(1, 5, 256, 400) * 0.4
    with torch.no_grad():
        out = model(x, calibrated=1.0, grid=GRID)["out"]
        for _ in range(REPEATS):
            t = time.perf_counter(); model(x, calibrated=1.0, grid=GRID)
            times.append(time.perf_counter() - t)
    torch.save(out, OUT)
else:
    model.train()
    x = torch.rand(8, 5, 96, 96) * 0.4
    if CHANNELS_LAST:
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), 1e-5)
    for step in range(REPEATS + 1):
        t = time.perf_counter()
        loss = sum(((g - 0.2) ** 2).mean() for g in model(x, calibrated=1.0)["grid"])
        opt.zero_grad(); loss.backward()
        if step == 0:
            torch.save(torch.cat([p.grad.flatten() for p in model.parameters()
                                  if p.grad is not None]), OUT)
        opt.step()
        if step:
            times.append(time.perf_counter() - t)
print(json.dumps(times))
"""

# (label, kind, fast attention / head / layouts inside, grid, channels-last weights)
CASES = [
    ("reference (as before, grid, NCHW)", "inference", False, True, False),
    ("+ no grid", "inference", False, False, False),
    ("+ folded attention, split head, layouts", "inference", True, False, False),
    ("+ channels-last weights (shipped)", "inference", True, False, True),
    ("reference (as before)", "train step", False, True, False),
    ("folded, split head, layouts (shipped)", "train step", True, True, False),
    ("+ channels-last weights", "train step", True, True, True),
]


def run_case(i: int, case, repeats: int, threads: int, tmp: Path) -> list[float]:
    label, kind, fast, grid, cl = case
    code = CHILD
    for key, value in (("ROOT", repr(str(ROOT))), ("THREADS", str(threads)),
                       ("FAST", str(fast)), ("CHANNELS_LAST", str(cl)),
                       ("GRID", str(grid)), ("KIND", repr(kind)),
                       ("REPEATS", str(repeats)), ("OUT", repr(str(tmp / f"case{i}.pt")))):
        code = code.replace(key, value)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"case {label!r} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    import tempfile

    import torch
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        times = {i: [] for i in range(len(CASES))}
        for r in range(args.rounds):
            for i, case in enumerate(CASES):
                times[i] += run_case(i, case, args.repeats, args.threads, tmp)
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
        saved = {i: torch.load(tmp / f"case{i}.pt") for i in range(len(CASES))}
    print(f"{cpu_name()}, {os.cpu_count()} cpu(s), {args.threads} torch threads; bundled "
          f"weights; medians of {args.rounds} rounds x {args.repeats} repeats, each case "
          "a fresh process, cases alternated")
    print(f"{'case':<42}{'kind':<12}{'median ms':>10}{'min ms':>9}{'x ref':>7}  check")
    ref = {}
    for i, (label, kind, *_rest) in enumerate(CASES):
        med = statistics.median(times[i])
        if kind not in ref:
            ref[kind] = (i, med)
        j, ref_med = ref[kind]
        diff = saved[i] - saved[j]
        check = (f"max |Δ| {diff.abs().max().item():.1e} (out max {saved[j].abs().max().item():.2f})"
                 if kind == "inference" else
                 f"grad rel {(diff.norm() / saved[j].norm()).item():.1e}")
        print(f"{label:<42}{kind:<12}{med * 1e3:>10.0f}{min(times[i]) * 1e3:>9.0f}"
              f"{med / ref_med:>7.2f}  {check}")
    return times


if __name__ == "__main__":
    main()
