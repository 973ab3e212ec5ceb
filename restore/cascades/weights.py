"""Weights of the cascade stages: ``despike``'s weights format with its own kind.

A weights file is a ``torch.save`` dict read back with ``torch.load(weights_only=True)``
(tensors and plain data only)::

    {"format": settings.DESPIKE_WEIGHTS_FORMAT, "kind": "cascade-weights",
     "config": <the stage record, restore.cascades.model>,
     "state_dict": {name: tensor}, "meta": {steps, wall_s, seed, validation, ...}}

A deblur stage's file holds its first stage's parameters too: one file is the whole
cascade. Bundled files live in ``restore/cascades/weights/`` under the names of
``settings.CASCADE_WEIGHTS_FILES`` (:func:`.card.bundle`, ``spikerestore card
RUN_DIR --bundle``), each with its model card (:mod:`.card`).
"""

from __future__ import annotations

from pathlib import Path

import torch

from spikesim.errors import InputError

from restore import settings

from .model import build_from_record, stage_record

KIND = "cascade-weights"
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def bundled_path(method: str) -> Path:
    """Where the bundled weights of a learned-cascade method would be."""
    return WEIGHTS_DIR / settings.CASCADE_WEIGHTS_FILES[method]


def stage_payload(model, meta: dict) -> dict:
    """What a stage's weights file holds (loadable with ``weights_only=True``)."""
    return {"format": settings.DESPIKE_WEIGHTS_FORMAT, "kind": KIND,
            "config": stage_record(model),
            "state_dict": {k: v.detach().cpu().clone(memory_format=torch.contiguous_format)
                           for k, v in model.state_dict().items()},
            "meta": meta}


def read_stage_weights(path) -> dict:
    """Read and check a stage's weights file; a clear :class:`InputError` for every
    failure."""
    path = Path(path)
    if not path.is_file():
        raise InputError("weights", str(path), "an existing cascade weights file",
                         "check the path (a training run's RUN_DIR/best.pt)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # zip/pickle errors, truncated files, foreign objects
        raise InputError("weights", str(path),
                         "a cascade weights file (torch.save, loadable with weights_only=True)",
                         f"the file is corrupt or not a weights file ({type(exc).__name__})"
                         ) from None
    if not isinstance(payload, dict) or payload.get("kind") != KIND:
        hint = ("this is a training checkpoint; use RUN_DIR/best.pt or final.pt"
                if isinstance(payload, dict) and "optim" in payload
                else "use RUN_DIR/best.pt of a `spikerestore train-cascade` run")
        raise InputError("weights", str(path), "a cascade weights file", hint)
    if int(payload.get("format", -1)) != settings.DESPIKE_WEIGHTS_FORMAT:
        raise InputError("weights", str(path), f"weights format {settings.DESPIKE_WEIGHTS_FORMAT}",
                         f"the file has format {payload.get('format')}; retrain it")
    return payload


def load_stage(path, device="cpu"):
    """The stage model of a weights file, in eval mode on ``device``; ``model.meta`` is
    the file's meta."""
    payload = read_stage_weights(path)
    model = build_from_record(payload["config"], where=f"weights {path}")
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except (RuntimeError, KeyError, TypeError) as exc:
        first = str(exc).splitlines()[0][:200]
        raise InputError("weights", str(path), "parameters of the stored stage",
                         f"the tensors do not match its config ({first})") from None
    model.eval()
    model.meta = dict(payload.get("meta") or {})
    return model.to(device)
