"""Training of a cascade stage: ``spikerestore train-cascade --config CFG.yaml -o RUN_DIR``.

One stage a command, on DeSpike's loop (:func:`restore.despike.train.train` with a
:class:`~restore.despike.train.Recipe`): the same examples (pool, crops, flips, short
streams, withheld calibrations), validation sets and ``best.pt`` selection, learning-rate
schedule, checkpoints, resume (bit for bit on CPU), logs and run directory, plus
``RUN_DIR/cascade.yaml``, the resolved stage (a resumed run must have the same one).
The weights files (``best.pt``, ``final.pt``) are cascade weights (:mod:`.weights`).

A deblur stage after Spk2ImgNet loads the reconstruct stage's weights (``first_stage``)
when it starts and when it resumes; its features must be the reconstruct stage's. Its
weights record the first stage's file and budget (``meta.first_stage``), so a cascade's
whole training budget is on record (:func:`budget`).

``train.init`` continues a stage from the weights of an earlier run of the same stage
(the same network, features and first stage), as ``despike``'s fine-tunes continue its
weights; the start's own budget is recorded (``meta.init.budget``) and counted.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from spikesim.atomic import write_yaml
from spikesim.errors import InputError
from spikesim.yamlio import read_yaml

from restore.despike.configs import differing_keys
from restore.despike.train import Recipe, train
from restore.despike.weights import read_checkpoint, split_identity, weights_identity

from .configs import FIRST_TFP, Stage, feature_mapping, stage_config
from .gkmnet import GKMNet
from .loss import CascadeLoss
from .model import ReconstructThenDeblur, stage_record
from .spk2imgnet import Spk2ImgNet
from .weights import load_stage, stage_payload

STAGE_FILE = "cascade.yaml"


def own_budget(meta: dict) -> dict:
    """``{"steps", "examples", "pixels"}`` the stage's own network was trained with up to
    a weights file: its ``meta``'s steps x processes x batch (x crop² for pixels), plus
    the weights it was continued from (``meta.init.budget``, ``train.init``)."""
    crop = int(meta["train_config"]["data"]["crop"])
    examples = int(meta["steps"]) * int(meta.get("processes", 1)) * int(meta["batch_size"])
    out = {"steps": int(meta["steps"]), "examples": examples, "pixels": examples * crop * crop}
    start = meta.get("init") or {}
    if "budget" in start:
        out = {k: out[k] + int(start["budget"][k]) for k in out}
    return out


def budget(meta: dict) -> dict:
    """``{"steps", "examples", "pixels"}`` a weights file's training used:
    :func:`own_budget` plus, for a deblur stage after Spk2ImgNet, its first stage's
    (``meta.first_stage``)."""
    out = own_budget(meta)
    first = meta.get("first_stage") or {}
    if "budget" in first:
        out = {k: out[k] + int(first["budget"][k]) for k in out}
    return out


def _init_from(model, cfg, first: dict | None) -> dict:
    """Load ``cfg.init``, the weights of an earlier run of this same stage (the same
    network, features and first stage; after Spk2ImgNet the same first-stage weights,
    ``first`` being this stage's record of them), into ``model``'s trainable network (a
    deblur stage keeps its own first stage); returns the start's record for the meta:
    path, steps, wall time, its own start and its own budget. The loop calls it before
    the run directory is touched, so a refusal leaves nothing written."""
    try:
        start = load_stage(cfg.init)
    except InputError as exc:
        raise InputError("init", str(cfg.init), exc.expected, exc.fix) from None
    digest = (lambda rec: split_identity(rec["weights"])[1] if rec.get("weights") else None)
    if (stage_record(start) != stage_record(model)
            or digest(start.meta.get("first_stage") or {}) != digest(first or {})):
        raise InputError("init", str(cfg.init), "the weights of a run of this same stage "
                         "(network, features and first stage)",
                         "name the best.pt of a run of this stage's config, or drop init")
    trained = (lambda m: m.deblur) if isinstance(model, ReconstructThenDeblur) else (lambda m: m)
    trained(model).load_state_dict(trained(start).state_dict(), strict=True)
    return {"path": str(cfg.init), "steps": int(start.meta.get("steps", 0)),
            "wall_s": float(start.meta.get("wall_s", 0.0)), "init": start.meta.get("init"),
            "budget": own_budget(start.meta)}


def _first_stage(stage: Stage):
    """``(model or None, its record for the meta)`` of a deblur stage's first stage."""
    if stage.first_stage == FIRST_TFP:
        return None, {"method": FIRST_TFP}
    if not Path(stage.first_stage).is_file():
        raise InputError("first_stage", stage.first_stage, "the weights of a reconstruct stage",
                         "train it first (spikerestore train-cascade --config "
                         "experiments/configs/cascade_spk2imgnet.yaml -o "
                         "runs/cascade_spk2imgnet) or fix the path")
    model = load_stage(stage.first_stage)
    if not isinstance(model, Spk2ImgNet):
        raise InputError("first_stage", stage.first_stage, "the weights of a reconstruct stage",
                         "name the best.pt of a `stage: reconstruct` run")
    if feature_mapping(model.features) != feature_mapping(stage.features):
        diff = differing_keys(feature_mapping(model.features), feature_mapping(stage.features))
        raise InputError("features", ", ".join(diff), "the first stage's input features",
                         f"use the features of {stage.first_stage} (its cascade.yaml)")
    return model, {"method": "spk2imgnet", "weights": weights_identity(stage.first_stage),
                   "budget": budget(model.meta)}


def stage_recipe(stage: Stage) -> Recipe:
    """The :class:`Recipe` of a stage. Its run files hook writes ``cascade.yaml`` (a new
    run's, or a resumed run's killed before it wrote it: from then on compared) once the
    loop has checked the run directory. A deblur stage's first stage is read here, so a
    missing or wrong one is refused before anything is written."""
    first, record = None, {}
    if stage.stage == "deblur":
        first, record["first_stage"] = _first_stage(stage)

    def build(cfg):
        if stage.stage == "reconstruct":
            return Spk2ImgNet(stage.network, stage.features)
        return ReconstructThenDeblur(GKMNet(stage.network), copy.deepcopy(first),
                                     stage.features)

    def run_files(run_dir, resume):
        if not resume or not (run_dir / STAGE_FILE).is_file():
            write_yaml(run_dir / STAGE_FILE, stage.to_mapping())

    def payload(model, meta):
        return stage_payload(model, dict(meta, **record))

    def checkpoint(path, cfg):
        with torch.random.fork_rng(devices=[]):      # a reference model: no global draws
            return read_checkpoint(path, cfg.model, model=build(cfg))

    return Recipe(build=build, loss=lambda cfg: CascadeLoss(cfg.loss, cfg.model),
                  payload=payload, checkpoint=checkpoint, run_files=run_files,
                  init=lambda model, cfg: _init_from(model, cfg, record.get("first_stage")))


def train_stage(config, run_dir, resume: bool = False, device: str = "cpu", bf16: bool = False,
                seed: int | None = None, stop_after: int | None = None, overwrite: bool = False,
                progress=None, workers: int = 0, cache_dir=None) -> dict:
    """Train one cascade stage; returns the summary (``RUN_DIR/summary.json``).

    The parameters are :func:`restore.despike.train.train`'s; ``config`` is a stage
    (:class:`.configs.StageConfig` YAML path or mapping). A resumed run must have the
    same ``cascade.yaml``.
    """
    stage = stage_config(config, seed)
    run = Path(run_dir)
    recipe = stage_recipe(stage)
    if resume and (run / STAGE_FILE).is_file():
        old = read_yaml(run / STAGE_FILE, "cascade stage")
        if old != stage.to_mapping():
            diff = differing_keys(old, stage.to_mapping())
            raise InputError("--config", f"differs from {run / STAGE_FILE} in "
                             f"{', '.join(diff)}", "the run's own stage config",
                             "resume with the same config, or start a new run directory")
    return train(stage.train, run, resume=resume, device=device, bf16=bf16,
                 stop_after=stop_after, overwrite=overwrite, progress=progress,
                 workers=workers, cache_dir=cache_dir, recipe=recipe)
