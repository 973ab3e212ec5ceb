"""Benchmark: the learned cascades' cost against despike-small, at 400x256 on this machine.

    PYTHONPATH=. python bench/bench_cascades.py [--threads 2] [--repeats 3] [--published]
        [--train-step]

Prints one markdown table: parameters (all of a cascade's, the frozen first stage's
included), GFLOP of one forward pass at 400x256 (convolutions and matrix products counted
by torch on the meta device: independent of the machine's load; every model, the published
sizes included), median and min latency of one forward pass (window features -> λ, no grad, the
network only: the features cost the same for every method) at 400x256, the latency as a
multiple of ``despike-small``'s (the median of the ratios of each round: all models run
round-robin in one subprocess with the same threads, so a busy machine slows them alike),
and peak memory (the growth of the peak RSS of a fresh subprocess over one forward pass
of the model alone). ``--published`` times the published sizes too
(several seconds a pass on a 2-core CPU); ``--train-step`` adds the median time of one
training step (forward, loss-free backward of the mean output, batch 8 of 96 px crops),
the unit of the training budget.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._util import run_child, table  # noqa: E402

CPU_MODELS = ("despike-small", "spk2imgnet-cpu", "spk2imgnet-cpu+gkmnet-cpu", "tfp+gkmnet-cpu")
PUBLISHED_MODELS = ("spk2imgnet", "spk2imgnet+gkmnet", "tfp+gkmnet")

BUILD = r"""
import json, resource, statistics, time
import torch
from restore.cascades.configs import PRESETS, feature_config
from restore.cascades.gkmnet import GKMNet
from restore.cascades.model import ReconstructThenDeblur
from restore.cascades.spk2imgnet import Spk2ImgNet
from restore.despike.model import DeSpikeNet
torch.set_num_threads({threads})
torch.manual_seed(0)
features = feature_config("bench", {{"calibration_flag": True}})

def build(name):
    if name == "despike-small":
        return DeSpikeNet(name)
    first, _, deblur = name.rpartition("+") if "+" in name else (name, "", "")
    if not deblur:
        return Spk2ImgNet(PRESETS[name], features)
    spk = None if first == "tfp" else Spk2ImgNet(PRESETS[first], features)
    return ReconstructThenDeblur(GKMNet(PRESETS[deblur]), spk, features)

def run(model, x):
    return model(x, calibrated=torch.ones(x.shape[0]))["out"]

def timed(fn):
    t = time.perf_counter(); fn(); return time.perf_counter() - t
"""

# every model in one process, timed round-robin: a busy machine slows all of them alike
TIMING = BUILD + r"""
names, repeats, train_step = {names!r}, {repeats}, {train_step}
models = {{n: build(n).eval() for n in names}}
x = torch.rand(1, 5, 256, 400) * 0.4 + 0.02
xb = torch.rand(8, 5, 96, 96) * 0.4 + 0.02
times = {{n: [] for n in names}}
steps = {{n: [] for n in names}}

def step(model):
    run(model, xb).mean().backward()
    model.zero_grad(set_to_none=True)

with torch.no_grad():
    for m in models.values():
        run(m, x)
    for _ in range(repeats):
        for n, m in models.items():
            times[n].append(timed(lambda: run(m, x)))
if train_step:
    for m in models.values():
        m.train(); step(m)
    for _ in range(repeats):
        for n, m in models.items():
            steps[n].append(timed(lambda: step(m)))
ref = times[names[0]]
for n in names:
    row = {{"name": n, "params": sum(p.numel() for p in models[n].parameters()),
            "median_s": statistics.median(times[n]), "min_s": min(times[n]),
            "ratio": statistics.median([a / b for a, b in zip(times[n], ref)])}}
    if train_step:
        row["train_step_s"] = statistics.median(steps[n])
    print(json.dumps({{"row_" + n: row}}))
"""

# floating-point operations of one forward pass (convolutions and matrix products, counted
# by torch's FlopCounterMode on the meta device: no arithmetic is done, no load matters)
FLOPS = BUILD + r"""
from torch.utils.flop_counter import FlopCounterMode
for n in {names!r}:
    model = build(n).to("meta").eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.empty(1, 5, 256, 400, device="meta"),
              calibrated=torch.ones(1, device="meta"))
    print(json.dumps({{"gflop_" + n: counter.get_total_flops() / 1e9,
                       "params_" + n: sum(p.numel() for p in model.parameters())}}))
"""

# one model alone in a fresh process: the growth of its peak RSS over one forward pass
MEMORY = BUILD + r"""
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
model = build({name!r}).eval()
with torch.no_grad():
    run(model, torch.rand(1, 5, 256, 400) * 0.4 + 0.02)
print(json.dumps({{"peak_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024}}))
"""


def flops(names) -> list[dict]:
    """``{name, params, gflop}`` of every model (one subprocess, meta device)."""
    out = run_child(FLOPS.format(threads=1, names=list(names)))
    return [{"name": n, "params": out["params_" + n], "gflop": out["gflop_" + n]}
            for n in names]


def measure(names, repeats: int, threads: int, train_step: bool) -> list[dict]:
    """Rows of every model: latencies and their ratio to the first model's (round-robin
    in one subprocess), then each model's peak memory (a fresh subprocess each)."""
    code = TIMING.format(threads=threads, names=list(names), repeats=repeats,
                         train_step=train_step)
    out = run_child(code, timeout=3600)
    rows = [out["row_" + n] for n in names]
    for row in rows:
        row["peak_mb"] = run_child(MEMORY.format(threads=threads, name=row["name"]))["peak_mb"]
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--published", action="store_true", help="time the published sizes too (slow)")
    ap.add_argument("--train-step", action="store_true",
                    help="add one training step's time (batch 8 of 96 px)")
    args = ap.parse_args(argv)
    names = CPU_MODELS + (PUBLISHED_MODELS if args.published else ())
    timed_rows = {r["name"]: r for r in measure(names, args.repeats, args.threads,
                                                  args.train_step)}
    rows = [dict(r, **timed_rows.get(r["name"], {}))
            for r in flops(CPU_MODELS + PUBLISHED_MODELS)]
    for r in rows:
        if "median_s" not in r:
            continue
        r["x despike-small"] = r["ratio"]
        r["median_ms"] = 1000 * r["median_s"]
        r["min_ms"] = 1000 * r["min_s"]
    columns = ["name", "params", "gflop", "median_ms", "min_ms", "x despike-small", "peak_mb"]
    if args.train_step:
        columns.append("train_step_s")
    print(f"400x256, {args.threads} torch threads, median of {args.repeats} round-robin runs "
          "after a warm-up; x despike-small: median of the per-round ratios")
    print(table(rows, columns))


if __name__ == "__main__":
    main()
