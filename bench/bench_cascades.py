"""Benchmark: the learned cascades' cost against despike-small, at 400x256 on this machine.

    PYTHONPATH=. python bench/bench_cascades.py [--threads 2] [--repeats 3] [--published]
        [--train-step] [--weights METHOD=FILE ...] [--no-networks]

Prints one markdown table: parameters (all of a cascade's, the frozen first stage's
included), GFLOP of one forward pass at 400x256 (convolutions and matrix products counted
by torch on the meta device: independent of the machine's load; every model, the
published sizes included; inference's pass, without the training grid; element-wise
products, such as despike's folded candidate attention, about 0.1 GFLOP, are not
counted), median and min latency of one forward pass (window features -> λ, no grad, the
network only: the features cost the same for every method) at 400x256, the latency as a
multiple of ``despike-small``'s (the median of the ratios of each round: all models run
round-robin in one subprocess with the same threads, so a busy machine slows them alike),
and peak memory (the growth of the peak RSS of a fresh subprocess over one forward pass
of the model alone). ``--published`` times the published sizes too
(several seconds a pass on a 2-core CPU); ``--train-step`` adds the median time of one
training step (forward, loss-free backward of the mean output, batch 8 of 96 px crops),
the unit of the training budget. Forward passes run as inference does (channels-last
weights, the final output only); training steps in training's layout (NCHW, the grid).

A second table is the issue's Table 3 for every method a user runs (despike with the
default despike-natural and the procedural despike-small, both bundled, the three learned cascades, TFP and TFP +
Richardson-Lucy for reference): each method **standalone**, in a fresh process of its own
that reads a 400x256, 256-step .dat capture (uncalibrated, as ``spikerestore run`` without
``--calib``), restores it once to warm up and then ``--repeats`` times with
``restore.methods.restore`` (the whole method: window features, network, tiling); its
median latency and the process's peak resident memory (python, torch, the model and the
restoration together, read by bench._util's wrapper) beside the same process's peak
without any restoration (imports and the capture only). A learned cascade without bundled
weights or ``--weights METHOD=FILE`` runs on untrained weights of its CPU preset (the cost
does not depend on the weights' values; the table says so). ``--no-networks`` prints only
this table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._util import run_child, table  # noqa: E402

#: the methods of the standalone table: (label, method, weights: None bundled, or a path)
STANDALONE = (("despike-small", "despike", "restore/despike/weights/despike-small.pt"),
              ("despike-natural", "despike", None),
              ("tfp+gkmnet", "tfp+gkmnet", None), ("spk2imgnet", "spk2imgnet", None),
              ("spk2imgnet+gkmnet", "spk2imgnet+gkmnet", None),
              ("tfp", "tfp", None), ("tfp+rl", "tfp+rl", None))

CPU_MODELS = ("despike-small", "spk2imgnet-cpu", "spk2imgnet-cpu+gkmnet-cpu", "tfp+gkmnet-cpu")
PUBLISHED_MODELS = ("spk2imgnet", "spk2imgnet+gkmnet", "tfp+gkmnet")

BUILD = r"""
import json, resource, statistics, time
import torch
from restore.cascades.configs import PRESETS, feature_config
from restore.cascades.gkmnet import GKMNet
from restore.cascades.model import ReconstructThenDeblur
from restore.cascades.spk2imgnet import Spk2ImgNet
from restore.despike.device import inference_layout
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

# inference as `spikerestore run` does it: channels-last weights (inference(model)), only
# the final output; grid=True for a training step
def run(model, x, grid=False):
    return model(x, calibrated=torch.ones(x.shape[0]), grid=grid)["out"]

def inference(model):
    return inference_layout(model.eval())

def timed(fn):
    t = time.perf_counter(); fn(); return time.perf_counter() - t
"""

# every model in one process, timed round-robin: a busy machine slows all of them alike
TIMING = BUILD + r"""
names, repeats, train_step = {names!r}, {repeats}, {train_step}
models = {{n: inference(build(n)) for n in names}}
x = torch.rand(1, 5, 256, 400) * 0.4 + 0.02
xb = torch.rand(8, 5, 96, 96) * 0.4 + 0.02
times = {{n: [] for n in names}}
steps = {{n: [] for n in names}}

def step(model):
    run(model, xb, grid=True).mean().backward()
    model.zero_grad(set_to_none=True)

with torch.no_grad():
    for m in models.values():
        run(m, x)
    for _ in range(repeats):
        for n, m in models.items():
            times[n].append(timed(lambda: run(m, x)))
if train_step:
    models = {{n: build(n).train() for n in names}}      # training's layout (NCHW)
    for m in models.values():
        step(m)
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
              calibrated=torch.ones(1, device="meta"), grid=False)
    print(json.dumps({{"gflop_" + n: counter.get_total_flops() / 1e9,
                       "params_" + n: sum(p.numel() for p in model.parameters())}}))
"""

# one model alone in a fresh process: the growth of its peak RSS over one forward pass
MEMORY = BUILD + r"""
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
model = inference(build({name!r}))
with torch.no_grad():
    run(model, torch.rand(1, 5, 256, 400) * 0.4 + 0.02)
print(json.dumps({{"peak_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024}}))
"""


# one method alone in a fresh process, as a user runs it: read the capture, restore
STANDALONE_CODE = r"""
import json, statistics, time
import torch
torch.set_num_threads({threads})
from spikesim.stream import SpikeStream
from restore.methods import restore
stream = SpikeStream.open({capture!r}, size=(400, 256))
method, weights, repeats = {method!r}, {weights!r}, {repeats}
times = []
if method is not None:
    restore(stream, method, weights=weights)
    for _ in range(repeats):
        t = time.perf_counter()
        restore(stream, method, weights=weights)
        times.append(time.perf_counter() - t)
print(json.dumps({{"median_s": statistics.median(times) if times else None,
                   "min_s": min(times) if times else None}}))
"""


def _capture(folder: Path) -> Path:
    """A 400x256, 256-step .dat capture of a smooth scene with edges (seed 0)."""
    import numpy as np

    from spikesim.sensor import simulate_spikes

    y, x = np.mgrid[0:256, 0:400].astype(np.float32)
    lam = 0.05 + 0.3 * (0.5 + 0.5 * np.sin(x / 17.0) * np.cos(y / 23.0)) \
        + 0.25 * ((x // 50 + y // 50) % 2)
    path = folder / "capture.dat"
    simulate_spikes(lam.astype(np.float32), 256, dead_time=1, seed=0).write_dat(path)
    return path


def _untrained(method: str, folder: Path) -> Path:
    """A weights file of ``method``'s CPU presets with untrained parameters (seed 0)."""
    import torch

    from restore.cascades.catalog import FEATURES, METHOD_NETWORKS
    from restore.cascades.configs import PRESETS, feature_config
    from restore.cascades.gkmnet import GKMNet
    from restore.cascades.model import ReconstructThenDeblur
    from restore.cascades.spk2imgnet import Spk2ImgNet
    from restore.cascades.weights import stage_payload

    torch.manual_seed(0)
    nets = METHOD_NETWORKS[method]
    features = feature_config(nets[0], FEATURES)
    spk = Spk2ImgNet(PRESETS[nets[0]], features) if nets[0].startswith("spk2imgnet") else None
    model = spk if len(nets) == 1 and spk is not None else ReconstructThenDeblur(
        GKMNet(PRESETS[nets[-1]]), spk, features)
    path = folder / f"untrained-{method}.pt"
    torch.save(stage_payload(model, {"untrained": True}), path)
    return path


def standalone(repeats: int, threads: int, given: dict) -> list[dict]:
    """Rows of :data:`STANDALONE`: each method in a fresh process (module doc)."""
    import tempfile

    from restore.cascades.weights import bundled_path
    from restore.methods import is_learned_cascade, is_network

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        capture = _capture(folder)
        base = run_child(STANDALONE_CODE.format(threads=threads, capture=str(capture),
                                                method=None, weights=None, repeats=0))
        for label, method, weights in STANDALONE:
            note = ("–" if not is_network(method) else "bundled" if weights is None
                    else weights)
            weights = given.get(label, weights)
            if label in given:
                note = given[label]
            elif is_learned_cascade(method) and not bundled_path(method).is_file():
                weights, note = str(_untrained(method, folder)), "untrained (none bundled)"
            out = run_child(STANDALONE_CODE.format(threads=threads, capture=str(capture),
                                                   method=method, weights=weights,
                                                   repeats=repeats), timeout=3600)
            rows.append({"method": label, "weights": note,
                         "median_ms": 1000 * out["median_s"], "min_ms": 1000 * out["min_s"],
                         "peak_mb": out["maxrss_mb"], "baseline_mb": base["maxrss_mb"]})
    return rows


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
    ap.add_argument("--weights", action="append", default=[], metavar="METHOD=FILE",
                    help="weights of a standalone row (despike-small, despike-natural, "
                         "tfp+gkmnet, spk2imgnet, spk2imgnet+gkmnet); default: bundled")
    ap.add_argument("--no-networks", action="store_true",
                    help="only the standalone methods table")
    args = ap.parse_args(argv)
    given = dict(w.split("=", 1) for w in args.weights)
    unknown = sorted(set(given) - {label for label, _, _ in STANDALONE})
    if unknown:
        ap.error(f"--weights {unknown[0]}=...: a row of the standalone table, one of "
                 + ", ".join(label for label, _, _ in STANDALONE))
    if not args.no_networks:
        networks(args)
    rows = standalone(args.repeats, args.threads, given)
    print(f"\nEach method standalone: a fresh process reads a 400x256, 256-step .dat and "
          f"restores it (uncalibrated), {args.threads} torch threads, median of "
          f"{args.repeats} after a warm-up; peak_mb: the process's peak RSS, baseline_mb: "
          "the same process without restoring")
    print(table(rows, ["method", "weights", "median_ms", "min_ms", "peak_mb", "baseline_mb"]))


def networks(args) -> None:
    """The networks' table (module doc)."""
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
