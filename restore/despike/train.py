"""Training of DeSpike: ``spikerestore train --config CFG.yaml -o RUN_DIR [--resume]``.

Run directory::

    RUN_DIR/config.yaml        the full resolved config (resume refuses a different one)
    RUN_DIR/checkpoint.pt      latest state: model, optimiser, step (atomic, every ckpt_every)
    RUN_DIR/best.pt            weights of the best validation PSNR (the weights format)
    RUN_DIR/final.pt           weights at the last step
    RUN_DIR/log.csv            one row per log_every steps: step, lr, loss terms, time
    RUN_DIR/val.csv            one row per validation: step, loss, PSNR/SSIM of model and TFP
    RUN_DIR/summary.json       the run so far: steps, wall time, best, last validation
    RUN_DIR/cache/             calibrations of the simulated cameras and the training pool
                               (``cache_dir``/``--cache`` puts them elsewhere, e.g. shared)

Reproducibility: the model is initialised from ``seed`` (inside a forked RNG, no global
seeding); every example is a pure function of (data config, seed, index), and the
indices of step ``s`` on rank ``r`` are ``(s·world + r)·B + b``; the learning rate is a
pure function of the step (warm-up, cosine). A run stopped after a checkpoint and
resumed therefore continues to the same parameters, bit for bit on CPU.

Multi-process: started by ``torchrun --nproc_per_node N``, each process reads
``RANK``/``WORLD_SIZE`` and joins a process group (gloo on CPU, NCCL on CUDA); the model
is wrapped in ``DistributedDataParallel`` (gradients averaged). Rank 0 validates and
writes every file.
"""

from __future__ import annotations

import csv
import datetime
import io
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from spikesim.atomic import atomic_path, check_writable_dir, write_json, write_yaml
from spikesim.errors import InputError

from .configs import TrainConfig, config_to_dict, differing_keys, train_config
from .data import GeneratedDirDataset, ProceduralDataset, collate, generator_config
from .device import resolve_device
from .grow import grow
from .loss import DeSpikeLoss
from .model import DeSpikeNet, count_parameters
from .validation import Validator, selection_score, val_fields
from .weights import load_model, read_checkpoint, save_torch, weights_payload

log = logging.getLogger("spikes")

# the other ranks wait at a barrier while rank 0 fills the cache (a pool of 3600 samples:
# 593 s with 2 workers, docs/despike.md §2; a large pool without workers takes hours):
# torch's default of 30 minutes would end such a run
DDP_TIMEOUT = datetime.timedelta(hours=6)
LOG_FIELDS = ["step", "lr", "loss", "mse_grid", "mse_final", "fft", "perc", "grad_norm",
              "examples", "wall_s"]


@dataclass(frozen=True)
class Recipe:
    """What the loop trains; the default is DeSpike. Another network trained on the same
    examples, validation and checkpoints (restore.cascades) passes its own: ``build(cfg)``
    the model (called inside the seeded RNG fork), ``loss(cfg)`` the loss module,
    ``payload(model, meta)`` the weights file's dict, ``init(model, cfg)`` loads
    ``cfg.init`` and returns its record (a wrong file is an :class:`InputError`, raised
    before the run directory is touched), ``checkpoint(path, cfg)`` reads and checks a
    resumed run's checkpoint, ``run_files(run_dir, resume)`` writes the recipe's own files
    into the run directory once the checks have passed (rank 0). ``build`` writes
    nothing."""

    build: Callable = lambda cfg: DeSpikeNet(cfg.model)
    loss: Callable = lambda cfg: DeSpikeLoss(cfg.loss, cfg.model)
    payload: Callable = weights_payload
    init: Callable = lambda model, cfg: _init_from(model, cfg)
    checkpoint: Callable = lambda path, cfg: read_checkpoint(path, cfg.model)
    run_files: Callable = lambda run_dir, resume: None


def lr_at(cfg: TrainConfig, step: int) -> float:
    """Learning rate of ``step`` (0-based): linear warm-up then cosine to ``min_lr_ratio``."""
    if cfg.warmup and step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    span = max(1, cfg.steps - cfg.warmup)
    t = min(1.0, (step - cfg.warmup) / span)
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + (cfg.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * t))


def _append_csv(path: Path, fields: list[str], row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        if new:
            w.writeheader()
        w.writerow({k: row.get(k, "") for k in fields})


def _truncate_csv(path: Path, step: int) -> None:
    """Drop rows logged after ``step`` (work lost by an interruption is redone on resume)."""
    if not path.exists():
        return
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
        fields = list(rows[0].keys()) if rows else None
    if fields is None:
        return
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields)
    w.writeheader()
    for r in rows:
        if int(r["step"]) <= step:
            w.writerow(r)
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text(buf.getvalue(), encoding="utf-8")


def _pin_threads(threads: int) -> None:
    """Hold torch to ``threads`` CPU threads (0: leave torch's default).

    numba's OpenMP layer (sensor, calibration: run here when examples, the pool's
    cameras or the validation set are made in this process) sets the calling thread's
    OpenMP thread count to its own, which torch's OpenMP kernels then follow: a run
    asked for 1 thread silently used 2 and, side by side with another such run, did not
    make 10 steps in two minutes (oversubscribed OpenMP barriers), against 1.6 s per step
    once held to 1 thread. So this is re-applied before every step.
    """
    if threads:
        torch.set_num_threads(int(threads))


def _dist_env():
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    return world, rank


def reporting_process() -> bool:
    """Whether this process reports the run (prints progress and the summary): rank 0
    under ``torchrun``, or the only process."""
    return _dist_env()[1] == 0


def _cache_choice(cache_dir, state, run: Path) -> tuple[Path, str]:
    """``(directory, where the choice came from)``: the ``--cache`` given, else the one a
    resumed run's checkpoint names, else ``run/cache``. Nothing is touched."""
    if cache_dir is not None:
        return Path(cache_dir), "--cache"
    recorded = (state or {}).get("cache_dir")
    if recorded:
        if Path(recorded).is_dir():
            return Path(recorded), "the cache named by the run's checkpoint"
        log.warning("the cache named by %s (%s) is gone: using %s, where the pool and the "
                    "calibrations are made again (pass --cache to point elsewhere)",
                    run / "checkpoint.pt", recorded, run / "cache")
    return run / "cache", "the run's cache/"


def train(config, run_dir, resume: bool = False, device: str = "cpu", bf16: bool = False,
          seed: int | None = None, stop_after: int | None = None, overwrite: bool = False,
          progress=None, workers: int = 0, cache_dir: str | Path | None = None,
          recipe: Recipe | None = None) -> dict:
    """Train a DeSpike model; returns the summary (also written to ``summary.json``).

    See :func:`train_model` for the parameters (it also returns the model).
    """
    return train_model(config, run_dir, resume, device, bf16, seed, stop_after, overwrite,
                       progress, workers, cache_dir, recipe)[0]


def train_model(config, run_dir, resume: bool = False, device: str = "cpu", bf16: bool = False,
                seed: int | None = None, stop_after: int | None = None,
                overwrite: bool = False, progress=None, workers: int = 0,
                cache_dir: str | Path | None = None, recipe: Recipe | None = None):
    """Train a DeSpike model; returns ``(summary, model)`` (this process's replica).

    Parameters
    ----------
    config : TrainConfig, mapping or YAML path
    run_dir : output directory (created; must be empty unless ``resume``/``overwrite``)
    resume : continue from ``run_dir/checkpoint.pt`` (the config must match)
    device : ``"cpu"`` or ``"cuda"``; bf16 : autocast in bfloat16
    seed : overrides ``config.seed``
    stop_after : stop after this step (a checkpoint is written there), e.g. to split a
        run; the schedule still follows ``config.steps``
    progress : optional callable ``(step, total, row)`` called at every log row
    workers : processes making the examples (0: in this process; started with
        ``spawn``: numba's OpenMP layer must not be forked): DataLoader workers, or with
        ``data.pool`` the processes that make the pool; the examples are pure functions of
        their index, so results do not depend on it
    cache_dir : where the camera calibrations and the training pool are kept (default
        ``run_dir/cache``; a resumed run keeps the one its checkpoint names unless given
        another). Entries are keyed by the configuration they depend on (not the code
        version) and written atomically, so runs with the same data, seed and feature
        switches (``windows``, ``multi_temporal``, ``use_calibration``…) share one pool,
        and calibrations are shared more widely; results do not depend on it. Runs
        started at the same moment may both make a missing entry (the same bytes)
    recipe : what is trained (:class:`Recipe`; default DeSpike)

    The phases, in order: :func:`_start_processes` (device, process group, threads),
    :func:`_start_model` (the model and its start weights: a wrong ``init`` is refused
    here), :func:`_open_run` (checks and the run directory, before anything is made),
    :func:`_build` (optimiser, resumed state),
    :func:`_training_data`, :func:`_train_steps` (the loop: log, validate, checkpoint)
    and :func:`_finish` (final weights and summary).
    """
    cfg = train_config(config, seed=seed)
    recipe = recipe or Recipe()
    proc = _start_processes(cfg, device, bf16)
    model, init_meta = _start_model(cfg, Path(run_dir), resume, recipe)
    run = _open_run(cfg, Path(run_dir), resume, overwrite, cache_dir, proc, recipe)
    opt, loss_fn = _build(cfg, run, proc, recipe, model, init_meta)
    ds, workers = _training_data(cfg, run, workers, proc)
    validator = Validator(cfg, run.cache) if proc.rank == 0 else None
    if proc.rank == 0:
        log.info("training %s (%d parameters) on %s, %d process(es), steps %d..%d",
                 cfg.model.name, count_parameters(model), proc.device, proc.world, run.start,
                 cfg.steps)
    last = min(cfg.steps, stop_after) if stop_after is not None else cfg.steps
    val, wall = _train_steps(cfg, run, proc, model, opt, loss_fn, ds, validator, last,
                             workers, progress, recipe)
    return _finish(cfg, run, proc, model, last, wall, val, recipe), model


def _check_sources(cfg: TrainConfig) -> None:
    """What a new run will read, checked before it writes anything: the generator's
    configs (training, validation, natural validation) and their inputs as the source
    lists them (a folder of pictures must exist and hold some; the pictures are decoded
    when samples are made). The start weights are checked by :func:`_start_model`."""
    data = cfg.data
    checks = [("data.generator", data.crop, {})]
    if data.val_natural:
        checks.append(("data.val_natural", data.val_size, data.val_natural))
    from spikesim.dataset.sources import SOURCES

    for where, size, over in checks:
        try:
            gen = generator_config(data, size, size, cfg.seed, over)
            SOURCES[gen.source].inputs(gen)         # a missing folder or no pictures: here
        except InputError as exc:
            raise type(exc)(f"{where}.{exc.param}", exc.value, exc.expected, exc.fix) \
                from None


@dataclass
class _Processes:
    """Where this process trains: its device, the number of processes and its rank."""

    device: torch.device
    world: int
    rank: int
    bf16: bool


@dataclass
class _Run:
    """The run directory and the state a resumed run continues from."""

    dir: Path
    cache: Path
    state: dict | None              # the checkpoint read on --resume
    start: int = 0                  # first step to make
    best: dict = field(default_factory=lambda: {"psnr": -1e9, "step": -1})
    wall0: float = 0.0              # wall time spent before this process started
    init_meta: dict | None = None   # the start weights' record (cfg.init)


def _start_processes(cfg: TrainConfig, device: str, bf16: bool) -> _Processes:
    """Resolve the device, join the process group under ``torchrun``, pin threads."""
    import torch.distributed as dist

    dev = resolve_device(device)
    if bf16 and dev.type == "cpu" and not hasattr(torch, "bfloat16"):
        raise InputError("--bf16", True, "a torch with bfloat16", "drop --bf16")
    world, rank = _dist_env()
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo",
                                timeout=DDP_TIMEOUT)
    if dev.type == "cuda" and world > 1:
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(dev)
    _pin_threads(cfg.threads)
    return _Processes(dev, world, rank, bf16)


def _open_run(cfg: TrainConfig, run: Path, resume: bool, overwrite: bool, cache_dir,
              proc: _Processes, recipe: Recipe) -> _Run:
    """Check the run directory and the cache, then (rank 0, new run) write ``config.yaml``.

    Every refusal happens before anything is written: a resumed run must have the same
    config; a new run needs an empty directory (or ``overwrite``); the cache must be
    writable.
    """
    import torch.distributed as dist

    cfg_dict = config_to_dict(cfg)
    ckpt_path = run / "checkpoint.pt"
    state = None
    if resume and ckpt_path.is_file():
        state = recipe.checkpoint(ckpt_path, cfg)     # validated: one-line errors
    cache, cache_source = _cache_choice(cache_dir, state, run)
    cache_param = "--cache" if cache_dir is not None else "-o"   # who to name in an error
    if proc.rank == 0:
        if resume:
            if not (run / "config.yaml").is_file():
                raise InputError("--resume", str(run), "a run directory with config.yaml",
                                 "start a new run without --resume")
            from spikesim.yamlio import read_yaml

            old = read_yaml(run / "config.yaml", "run config")
            try:        # read with today's defaults: keys added since the run keep theirs
                old = config_to_dict(train_config(old))
            except InputError:
                pass                    # then the comparison below names what differs
            if old != cfg_dict:
                diff = differing_keys(old, cfg_dict)
                raise InputError("--config", f"differs from {run / 'config.yaml'} in "
                                 f"{', '.join(sorted(diff))}", "the run's own config",
                                 "resume with the same config, or start a new run directory")
        elif run.exists() and any(run.iterdir()) and not overwrite:
            raise InputError("-o", str(run), "an empty or new run directory",
                             "pass --resume to continue it, --overwrite to start over, "
                             "or choose another directory")
        if not resume:
            _check_sources(cfg)
        check_writable_dir(cache, cache_param)      # before the run writes anything
        if not resume:
            run.mkdir(parents=True, exist_ok=True)
            for name in ("checkpoint.pt", "log.csv", "val.csv", "best.pt", "final.pt",
                         "summary.json"):
                (run / name).unlink(missing_ok=True)
            write_yaml(run / "config.yaml", cfg_dict)
        recipe.run_files(run, resume)
    log.info("cache of calibrations and pool: %s (%s)", cache, cache_source)
    if proc.world > 1:
        dist.barrier()
    return _Run(run, cache, state)


def _start_model(cfg: TrainConfig, run_dir: Path, resume: bool, recipe: Recipe):
    """``(model, init record or None)``: the model initialised from ``cfg.seed`` (inside a
    forked RNG, no global seeding) and, unless a checkpoint will be resumed (it holds its
    start record; the init file need not exist any more), grown from ``cfg.init``. Called
    before :func:`_open_run`, so a missing or wrong start file leaves nothing written."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = recipe.build(cfg)
    if not cfg.init or (resume and (run_dir / "checkpoint.pt").is_file()):
        return model, None
    if not Path(cfg.init).is_file():
        raise InputError("init", str(cfg.init), "an existing weights file",
                         "check the path (relative to the working directory)")
    return model, recipe.init(model, cfg)


def _build(cfg: TrainConfig, run: _Run, proc: _Processes, recipe: Recipe, model, init_meta):
    """``(optimiser, loss)`` of ``model`` (:func:`_start_model`) on the device, and a
    resumed run's parameters, optimiser state, best and wall time restored into ``run``."""
    state = run.state
    run.init_meta = state.get("init") if state else init_meta
    model.to(proc.device)
    loss_fn = recipe.loss(cfg).to(proc.device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optim"])
        run.start = int(state["step"])
        run.best = dict(state.get("best", run.best))
        run.wall0 = float(state.get("wall_s", 0.0))
        if proc.rank == 0:
            _truncate_csv(run.dir / "log.csv", run.start)
            _truncate_csv(run.dir / "val.csv", run.start)
            log.info("resumed %s at step %d", run.dir, run.start)
    return opt, loss_fn


def _training_data(cfg: TrainConfig, run: _Run, workers: int, proc: _Processes):
    """``(dataset, DataLoader workers)``: the pool, on-the-fly procedural examples or a
    generated directory (docs/despike.md §2).

    Under ``torchrun`` every rank reads the same cache: rank 0 fills it (the pool, or the
    calibrations of all ``data.cameras`` procedural cameras) while the other ranks wait
    at a barrier, then they read it instead of making the same entries again.
    (A generated directory's calibrations are made when first used, by any rank:
    written atomically, the same bytes.)
    """
    import torch.distributed as dist

    shared = proc.world > 1
    if shared and proc.rank != 0:
        dist.barrier()                   # rank 0 is filling the cache
    if cfg.data.source == "procedural" and cfg.data.pool:
        from .pool import PooledDataset

        ds = PooledDataset(cfg.data, cfg.model, seed=cfg.seed, cache_dir=run.cache,
                           workers=workers)
        workers = 0                      # views of the pool are cheap: made in this process
    elif cfg.data.source == "procedural":
        ds = ProceduralDataset(cfg.data, cfg.model, seed=cfg.seed, size=cfg.data.crop,
                               cache_dir=run.cache)
        if shared and proc.rank == 0:
            for camera in range(cfg.data.cameras):
                ds.calibration(camera)
    else:
        ds = GeneratedDirDataset(cfg.data.train_dir, cfg.data, cfg.model, seed=cfg.seed,
                                 crop=cfg.data.crop, cache_dir=run.cache)
    if shared and proc.rank == 0:
        dist.barrier()                   # the cache is filled: the other ranks read it
    return ds, workers


def _train_steps(cfg: TrainConfig, run: _Run, proc: _Processes, model, opt, loss_fn, ds,
                 validator, last: int, workers: int, progress, recipe: Recipe):
    """Steps ``run.start .. last``; returns ``(last validation or None, wall time)``.

    The examples of step ``s`` on rank ``r`` are ``(s·world + r)·B + b``; the learning
    rate is :func:`lr_at`. Rank 0 logs every ``log_every`` steps, validates every
    ``val_every`` (keeping ``best.pt``) and checkpoints every ``ckpt_every``.
    """
    import torch.distributed as dist

    dev, world, rank = proc.device, proc.world, proc.rank
    ddp = model
    if world > 1:
        ddp = torch.nn.parallel.DistributedDataParallel(model)
    t0 = time.perf_counter()
    model.train()
    val = None

    def indices(step):
        return [(step * world + rank) * cfg.batch_size + b for b in range(cfg.batch_size)]

    if workers > 0:
        loader = iter(torch.utils.data.DataLoader(
            ds, batch_sampler=[indices(s) for s in range(run.start, last)],
            num_workers=workers, collate_fn=collate,
            multiprocessing_context="spawn"))   # numba's OpenMP: no fork
    for step in range(run.start, last):
        batch = next(loader) if workers > 0 else collate([ds[i] for i in indices(step)])
        _pin_threads(cfg.threads)        # making examples (numba) may have reset it
        lr = lr_at(cfg, step)
        for g in opt.param_groups:
            g["lr"] = lr
        x, tgt = batch["x"].to(dev), batch["target"].to(dev)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=proc.bf16):
            out = ddp(x, calibrated=batch["calibrated"].to(dev))
            loss, terms = loss_fn(out, tgt, batch["to_value"].to(dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = float(torch.nn.utils.clip_grad_norm_(model.parameters(),
                                                   cfg.grad_clip if cfg.grad_clip else 1e30))
        opt.step()
        done = step + 1
        wall = run.wall0 + time.perf_counter() - t0
        if rank == 0 and (done % cfg.log_every == 0 or done == last):
            row = {"step": done, "lr": f"{lr:.6g}", "loss": f"{float(loss.detach()):.6g}",
                   "grad_norm": f"{gn:.4g}", "examples": done * world * cfg.batch_size,
                   "wall_s": f"{wall:.1f}", **{k: f"{v:.6g}" for k, v in terms.items()}}
            _append_csv(run.dir / "log.csv", LOG_FIELDS, row)
            log.info("step %d/%d loss %.5f lr %.2e (%.0f s)", done, cfg.steps,
                     float(loss.detach()), lr, wall)
            if progress:
                progress(done, cfg.steps, row)
        if rank == 0 and (done % cfg.val_every == 0 or done == cfg.steps):
            val = validator(model, loss_fn, dev, proc.bf16)
            _append_csv(run.dir / "val.csv", val_fields(cfg),
                        {"step": done, "wall_s": f"{wall:.1f}",
                         **{k: f"{v:.6g}" for k, v in val.items()}})
            log.info("validation at %d: PSNR %.2f dB (TFP %.2f), SSIM %.4f (TFP %.4f)%s",
                     done, val["psnr"], val["psnr_tfp"], val["ssim"], val["ssim_tfp"],
                     "; natural PSNR %.2f dB (TFP %.2f), SSIM %.4f (TFP %.4f)" % (
                         val["nat_psnr"], val["nat_psnr_tfp"], val["nat_ssim"],
                         val["nat_ssim_tfp"]) if "nat_psnr" in val else "")
            if selection_score(val, cfg.selection) > selection_score(run.best, cfg.selection):
                run.best = {"step": done, **val}
                save_torch(recipe.payload(model, _meta(cfg, done, wall, val, world,
                                                       run.init_meta)),
                           run.dir / "best.pt")
        if rank == 0 and (done % cfg.ckpt_every == 0 or done == last):
            save_torch({"model": model.state_dict(), "optim": opt.state_dict(), "step": done,
                        "best": run.best, "wall_s": wall, "init": run.init_meta,
                        "cache_dir": None if run.cache == run.dir / "cache"
                        else str(run.cache.resolve())},
                       run.dir / "checkpoint.pt")
            write_json(run.dir / "summary.json",
                       _summary(cfg, model, done, wall, run.best, val, world, dev))
        if world > 1 and done % cfg.ckpt_every == 0:
            dist.barrier()
    return val, run.wall0 + time.perf_counter() - t0


def _finish(cfg: TrainConfig, run: _Run, proc: _Processes, model, last: int, wall: float,
            val, recipe: Recipe) -> dict:
    """Rank 0 writes ``final.pt`` (when the schedule is complete) and ``summary.json``."""
    import torch.distributed as dist

    summary = _summary(cfg, model, last, wall, run.best, val, proc.world, proc.device)
    if proc.rank == 0:
        if last == cfg.steps:
            save_torch(recipe.payload(model, _meta(cfg, last, wall, val, proc.world,
                                                   run.init_meta)),
                       run.dir / "final.pt")
        write_json(run.dir / "summary.json", summary)
    if proc.world > 1:
        dist.barrier()
    return summary


def _init_from(model: DeSpikeNet, cfg: TrainConfig) -> dict:
    """Load ``cfg.init`` (a weights file) into ``model``.

    The file holds the same architecture, or one that differs only in ``depths`` (no
    level shallower than the file's) or lacks the calibration flag: :func:`.grow.grow`
    appends identity blocks and a zero flag channel, so the grown network computes the
    file's function at step 0.
    Returns the file's meta (its steps and wall time), so the card can count the whole
    training. Another architecture, or a file that is not weights, is a clear error.
    """
    try:
        start = load_model(cfg.init)
    except InputError as exc:
        raise InputError("init", cfg.init, exc.expected,
                         exc.fix or "train the first stage, or fix `init` in the config") \
            from None
    grow(model, start, where=str(cfg.init))
    return {"path": str(cfg.init), "steps": int(start.meta.get("steps", 0)),
            "wall_s": float(start.meta.get("wall_s", 0.0)),
            "init": start.meta.get("init")}


def _meta(cfg, step, wall, val, world, init=None) -> dict:
    import platform

    return {"init": init, "steps": int(step), "wall_s": round(float(wall), 1),
            "processes": int(world), "batch_size": int(cfg.batch_size), "seed": int(cfg.seed),
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip()
            + f", {os.cpu_count()} cpu(s)", "torch": str(torch.__version__),
            "validation": val or {}, "train_config": config_to_dict(cfg)}


def _summary(cfg, model, step, wall, best, val, world, dev) -> dict:
    return {"model": cfg.model.name, "parameters": count_parameters(model), "step": int(step),
            "steps": int(cfg.steps), "wall_s": round(float(wall), 1), "processes": int(world),
            "device": str(dev), "selection": cfg.selection,
            "best": best if best.get("step", -1) >= 0 else None,   # None: no validation yet
            "last_validation": val}
