"""The DeSpike weights format: one module that training writes with and inference reads.

A weights file is a ``torch.save`` dict, read back with ``torch.load(weights_only=True)``
(tensors and plain data only, no pickled code)::

    {"format": settings.DESPIKE_WEIGHTS_FORMAT, "kind": "despike-weights",
     "config": <the model configuration as plain data>,
     "state_dict": {name: tensor}, "meta": {steps, wall_s, seed, validation, ...}}

The bundled ``despike-small`` weights live in ``restore/despike/weights/``. Training
checkpoints (``RUN_DIR/checkpoint.pt``) are another kind of file and are refused here
with a pointer to ``best.pt``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from spikesim.atomic import atomic_path, file_sha256
from spikesim.errors import InputError

from restore import settings

from .configs import config_to_dict, differing_keys, model_config
from .device import resolve_device
from .model import DeSpikeNet

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def bundled_weights_path() -> Path:
    """Path of the bundled ``despike-small`` weights."""
    return WEIGHTS_DIR / settings.DESPIKE_WEIGHTS_FILE


def weights_identity(path=None) -> str:
    """``"PATH (sha256 0123456789ab)"`` of a weights file (``None``: the bundled one),
    so a results table names exactly the weights it measured."""
    path = Path(path) if path is not None else bundled_weights_path()
    digest = file_sha256(path)[:12] if path.is_file() else "absent"
    try:                                  # inside the working directory: a relative path
        path = path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        pass
    return f"{path} (sha256 {digest})"


def read_weights(path) -> dict:
    """Read and check a weights file; clear :class:`InputError` for every failure."""
    path = Path(path)
    if not path.is_file():
        if path == bundled_weights_path():
            raise InputError("weights", str(path), "the bundled DeSpike weights",
                             "they are not installed in this checkout; train them with the "
                             "command of docs/despike.md §2 (examples/configs/"
                             "train_wide.yaml) or pass --weights")
        raise InputError("weights", str(path), "an existing weights file", "check the path")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # zip/pickle errors, truncated files, foreign objects
        raise InputError("weights", str(path),
                         "a DeSpike weights file (torch.save, loadable with weights_only=True)",
                         f"the file is corrupt or not a weights file ({type(exc).__name__}); "
                         "re-copy it or use RUN_DIR/best.pt of a training run") from None
    if not isinstance(payload, dict) or payload.get("kind") != "despike-weights":
        hint = ("this is a training checkpoint; use RUN_DIR/best.pt or final.pt"
                if isinstance(payload, dict) and "optim" in payload
                else "use RUN_DIR/best.pt of a training run")
        raise InputError("weights", str(path), "a DeSpike weights file", hint)
    if int(payload.get("format", -1)) != settings.DESPIKE_WEIGHTS_FORMAT:
        raise InputError("weights", str(path),
                         f"weights format {settings.DESPIKE_WEIGHTS_FORMAT}",
                         f"the file has format {payload.get('format')}; retrain or convert it")
    return payload


def load_model(weights=None, config=None, device="cpu") -> DeSpikeNet:
    """A :class:`DeSpikeNet` with trained weights, in eval mode on ``device``.

    Parameters
    ----------
    weights : path of a weights file; ``None`` is the bundled ``despike-small``
    config : the configuration the caller expects (preset name, YAML, mapping); weights
        of another configuration are refused with a clear error. ``None`` accepts the
        configuration stored in the file.
    device : ``"cpu"`` or ``"cuda"``
    """
    dev = resolve_device(device)
    path = Path(weights) if weights is not None else bundled_weights_path()
    payload = read_weights(path)
    try:
        stored = model_config(payload["config"])
    except InputError as exc:
        raise InputError("weights", str(path), "a valid stored configuration",
                         f"its config does not validate ({exc})") from None
    if config is not None:
        wanted = model_config(config)
        a, b = config_to_dict(wanted), config_to_dict(stored)
        if a != b:
            keys = differing_keys(a, b)
            raise InputError("weights", str(path), f"weights of configuration {wanted.name!r}",
                             f"the file holds {stored.name!r} (differs in {', '.join(keys)}); "
                             "pass the matching --config or other weights")
    model = DeSpikeNet(stored)
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except (RuntimeError, KeyError, TypeError) as exc:
        first = str(exc).splitlines()[0][:200]
        raise InputError("weights", str(path), f"parameters of configuration {stored.name!r}",
                         f"the tensors do not match the stored config ({first})") from None
    model.eval()
    model.meta = dict(payload.get("meta") or {})
    return model.to(dev)


def weights_payload(model: DeSpikeNet, meta: dict) -> dict:
    """What a weights file holds (loadable with ``torch.load(weights_only=True)``)."""
    return {"format": settings.DESPIKE_WEIGHTS_FORMAT, "kind": "despike-weights",
            "config": config_to_dict(model.config),
            "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
            "meta": meta}


def save_torch(obj, path: Path) -> None:
    """``torch.save`` atomically (temporary file + rename)."""
    with atomic_path(path, overwrite=True, what=str(path)) as tmp:
        torch.save(obj, tmp)
