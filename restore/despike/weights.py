"""The DeSpike weights format: one module that training writes with and inference reads.

A weights file is a ``torch.save`` dict, read back with ``torch.load(weights_only=True)``
(tensors and plain data only, no pickled code)::

    {"format": settings.DESPIKE_WEIGHTS_FORMAT, "kind": "despike-weights",
     "config": <the model configuration as plain data>,
     "state_dict": {name: tensor}, "meta": {steps, wall_s, seed, validation, ...}}

The bundled weights live in ``restore/despike/weights/``: ``despike-natural.pt`` (the
default, :func:`bundled_weights_path`: the despike-small network fine-tuned on photographs
and procedural scenes) and ``despike-small.pt`` (its procedural-only first stage), each with
its card ``MODEL_CARD_<stem>.md`` (:func:`card_path`). Training
checkpoints (``RUN_DIR/checkpoint.pt``) are another kind of file and are refused by
:func:`read_weights` with a pointer to ``best.pt``; :func:`read_checkpoint` is their
reader (``spikerestore train --resume``). Both check everything before anything is used:
the schema, the configuration, the parameter names and shapes, finite values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from spikesim.atomic import atomic_path, file_sha256
from spikesim.errors import InputError

from restore import settings

from .configs import config_to_dict, differing_keys, model_config
from .device import inference_layout, resolve_device
from .model import DeSpikeNet

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def bundled_weights_path() -> Path:
    """Path of the default bundled weights (``despike-natural.pt``)."""
    return WEIGHTS_DIR / settings.DESPIKE_WEIGHTS_FILE


def procedural_weights_path() -> Path:
    """Path of the bundled procedural-only weights (``despike-small.pt``), the default's
    first stage."""
    return WEIGHTS_DIR / settings.DESPIKE_PROCEDURAL_WEIGHTS_FILE


def card_path(weights_path) -> Path:
    """The model card beside a bundled weights file: ``MODEL_CARD_<stem>.md``."""
    weights_path = Path(weights_path)
    return weights_path.parent / f"MODEL_CARD_{weights_path.stem}.md"


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


def split_identity(identity: str) -> tuple[Path, str]:
    """``(PATH, digest)`` of a :func:`weights_identity` string (the digest is the 12-hex
    prefix, or ``"absent"``)."""
    path, _, rest = str(identity).rpartition(" (sha256 ")
    return Path(path), rest.rstrip(")")


def _torch_load(path: Path, what: str, expected: str, fix: str):
    """``torch.load(weights_only=True)`` of ``path``: tensors and plain data, nothing
    pickled is executed; any failure is one :class:`InputError`."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # zip/pickle errors, truncated files, foreign objects
        raise InputError(what, str(path), expected,
                         f"the file is corrupt or not one ({type(exc).__name__}); {fix}") \
            from None


_NUMPY_FLOATS = (torch.float16, torch.float32, torch.float64, torch.complex64, torch.complex128)


def _finite(tensor: torch.Tensor) -> bool:
    """Whether every value of a floating or complex tensor is finite. Read through numpy
    on the CPU (types numpy lacks widened exactly to float32 / complex64): one torch
    reduction per tensor cost about 1 ms each on a busy 2-core machine, 0.15 s for the
    bundled network's 144 tensors, against 1 ms for all of them here."""
    if tensor.device.type != "cpu" or tensor.layout != torch.strided:
        return bool(torch.isfinite(tensor).all())
    if tensor.dtype not in _NUMPY_FLOATS:          # bfloat16, float8, complex32: widened,
        tensor = tensor.to(torch.complex64 if tensor.is_complex() else torch.float32)  # exact
    return bool(np.isfinite(tensor.detach().resolve_conj().resolve_neg().numpy()).all())


def _check_tensors(tensors, path: Path, what: str, key: str) -> dict:
    """``tensors`` a dict ``{name: tensor}`` whose floating tensors are all finite."""
    if not isinstance(tensors, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in tensors.items()):
        raise InputError(what, f"{path} key {key!r}", "a mapping of parameter names to tensors",
                         "the file is damaged; use RUN_DIR/best.pt of a training run")
    for name, tensor in tensors.items():
        if (tensor.is_floating_point() or tensor.is_complex()) and not _finite(tensor):
            raise InputError(what, f"{path} tensor {name!r} holds NaN or infinite values",
                             "finite parameters", "the training diverged or the file is "
                             "damaged; use an earlier best.pt or train again")
    return tensors


def _check_shapes(tensors: dict, reference: dict, path: Path, what: str, cfg_name: str):
    """The names and shapes of ``tensors`` are those of ``reference`` (a model's)."""
    missing = sorted(set(reference) - set(tensors))
    extra = sorted(set(tensors) - set(reference))
    wrong = [k for k in reference if k in tensors and tensors[k].shape != reference[k].shape]
    if missing or extra or wrong:
        first = (f"missing {missing[0]!r}" if missing else f"unexpected {extra[0]!r}"
                 if extra else f"{wrong[0]!r} of shape {tuple(tensors[wrong[0]].shape)} "
                 f"instead of {tuple(reference[wrong[0]].shape)}")
        raise InputError(what, f"{path}: {first}", f"the parameters of configuration "
                         f"{cfg_name!r}", "the tensors do not match the stored configuration; "
                         "the file is damaged or was edited")


def read_weights(path) -> dict:
    """Read and check a weights file; one :class:`InputError` for every failure.

    Checked: the ``torch.save`` dict loads with ``weights_only=True``; ``kind`` and
    ``format``; ``config`` a mapping that validates (:func:`.configs.model_config`);
    ``state_dict`` the parameter names and shapes of that configuration, every floating
    tensor finite; ``meta`` a mapping (or absent). Returns the payload with ``meta``
    always a dict.
    """
    path = Path(path)
    if not path.is_file():
        if path == bundled_weights_path():
            raise InputError("weights", str(path), "the bundled DeSpike weights",
                             "they are not installed in this checkout; train them with the "
                             "commands of docs/despike.md §2 (examples/configs/"
                             "train_wide.yaml, then train_natural.yaml and its "
                             "continuations) or pass --weights")
        raise InputError("weights", str(path), "an existing weights file", "check the path")
    payload = _torch_load(path, "weights", "a DeSpike weights file (torch.save, loadable with "
                          "weights_only=True)", "re-copy it or use RUN_DIR/best.pt of a "
                          "training run")
    if not isinstance(payload, dict) or payload.get("kind") != "despike-weights":
        hint = ("this is a training checkpoint; use RUN_DIR/best.pt or final.pt"
                if isinstance(payload, dict) and "optim" in payload
                else "use RUN_DIR/best.pt of a training run")
        raise InputError("weights", str(path), "a DeSpike weights file", hint)
    fmt = payload.get("format")
    if isinstance(fmt, bool) or fmt != settings.DESPIKE_WEIGHTS_FORMAT:
        raise InputError("weights", str(path),
                         f"weights format {settings.DESPIKE_WEIGHTS_FORMAT}",
                         f"the file has format {fmt!r}; retrain or convert it")
    if not isinstance(payload.get("config"), dict):
        raise InputError("weights", f"{path} key 'config'",
                         "the model configuration as a mapping", "the file is damaged; use "
                         "RUN_DIR/best.pt of a training run")
    try:
        stored = model_config(payload["config"])
    except InputError as exc:
        raise InputError("weights", str(path), "a valid stored configuration",
                         f"its config does not validate ({exc})") from None
    meta = payload.get("meta")
    if meta is not None and not isinstance(meta, dict):
        raise InputError("weights", f"{path} key 'meta'", "a mapping (steps, wall_s, ...)",
                         "the file is damaged; use RUN_DIR/best.pt of a training run")
    state = _check_tensors(payload.get("state_dict"), path, "weights", "state_dict")
    _check_shapes(state, DeSpikeNet(stored).state_dict(), path, "weights", stored.name)
    return {**payload, "meta": meta or {}}


def read_checkpoint(path, config, model=None) -> dict:
    """Read and check a training checkpoint (``RUN_DIR/checkpoint.pt``) for ``config``
    (the run's :class:`~.configs.ModelConfig`); one :class:`InputError` for every failure.
    ``model``: the network the checkpoint must fit (default ``DeSpikeNet(config)``; the
    cascades of :mod:`restore.cascades` pass theirs).

    Checked: it loads with ``weights_only=True``; ``model`` holds the configuration's
    parameter names and shapes, all finite; ``optim`` is an AdamW state of those
    parameters (every moment of a parameter's shape, finite); ``step`` a whole number
    >= 0; ``best`` a mapping; ``wall_s`` a finite number >= 0; ``init`` a mapping or
    null; ``cache_dir`` a path or null.
    """
    path = Path(path)
    what = "--resume checkpoint"
    fix = "delete it to start over (or restore a copy), or start a new run directory"
    state = _torch_load(path, what, "a training checkpoint (torch.save, weights_only=True)",
                        fix)
    needed = ("model", "optim", "step")
    if not isinstance(state, dict) or any(k not in state for k in needed):
        hint = ("this is a weights file, not a checkpoint; " if isinstance(state, dict)
                and state.get("kind") == "despike-weights" else "")
        raise InputError(what, str(path), "a training checkpoint (model, optim, step)",
                         hint + fix)

    def bad(key, expected):
        return InputError(what, f"{path} key {key!r}", expected, "the checkpoint is damaged; "
                          + fix)

    step, wall = state["step"], state.get("wall_s", 0.0)
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise bad("step", "a whole number of steps >= 0")
    if isinstance(wall, bool) or not isinstance(wall, (int, float)) or not 0 <= wall < 1e12:
        raise bad("wall_s", "a finite number of seconds >= 0")
    if not isinstance(state.get("best", {}), dict):
        raise bad("best", "a mapping (step, psnr, ...)")
    if not isinstance(state.get("init"), (dict, type(None))):
        raise bad("init", "a mapping or null")
    if not isinstance(state.get("cache_dir"), (str, type(None))):
        raise bad("cache_dir", "a directory path or null")
    cfg = model_config(config)
    model = DeSpikeNet(cfg) if model is None else model
    tensors = _check_tensors(state["model"], path, what, "model")
    _check_shapes(tensors, model.state_dict(), path, what, cfg.name)
    _check_optimiser(state["optim"], model, path, bad)
    return state


def _check_optimiser(optim, model: DeSpikeNet, path: Path, bad) -> None:
    """``optim`` loads into an AdamW of ``model``'s parameters, its moments of their shapes."""
    if not isinstance(optim, dict) or not isinstance(optim.get("state"), dict) \
            or not isinstance(optim.get("param_groups"), list):
        raise bad("optim", "an optimiser state (state, param_groups)")
    opt = torch.optim.AdamW(model.parameters())
    try:
        opt.load_state_dict(optim)
    except (ValueError, KeyError, TypeError, RuntimeError, IndexError) as exc:
        raise bad("optim", f"the optimiser state of this model ({type(exc).__name__})") \
            from None
    for param in model.parameters():
        for name, value in opt.state.get(param, {}).items():
            if not isinstance(value, torch.Tensor):
                raise bad("optim", f"tensors in the state of each parameter ({name!r})")
            if name != "step" and value.shape != param.shape:
                raise bad("optim", f"moments of each parameter's shape ({name!r} of shape "
                          f"{tuple(value.shape)} for {tuple(param.shape)})")
            if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                raise bad("optim", f"finite moments ({name!r} holds NaN or inf)")


def load_model(weights=None, config=None, device="cpu") -> DeSpikeNet:
    """A :class:`DeSpikeNet` with trained weights, in eval mode on ``device``; on a CPU its
    convolution weights in channels-last memory format (inference's faster layout there).

    Parameters
    ----------
    weights : path of a weights file; ``None`` is the default bundled ``despike-natural.pt``
    config : the configuration the caller expects (preset name, YAML, mapping); weights
        of another configuration are refused with a clear error. ``None`` accepts the
        configuration stored in the file.
    device : ``"cpu"`` or ``"cuda"``
    """
    dev = resolve_device(device)
    path = Path(weights) if weights is not None else bundled_weights_path()
    payload = read_weights(path)
    stored = model_config(payload["config"])
    if config is not None:
        wanted = model_config(config)
        a, b = config_to_dict(wanted), config_to_dict(stored)
        if a != b:
            keys = differing_keys(a, b)
            raise InputError("weights", str(path), f"weights of configuration {wanted.name!r}",
                             f"the file holds {stored.name!r} (differs in {', '.join(keys)}); "
                             "pass the matching --config or other weights")
    model = DeSpikeNet(stored)
    state = payload["state_dict"]
    # the file's tensors become the parameters (no copy, 35 ms of small torch ops on a
    # busy machine) when they have the model's dtypes; else copied, which converts them
    # (on a CPU inference_layout copies the 4-D weights once more)
    same_dtypes = all(state[k].dtype == v.dtype for k, v in model.state_dict().items())
    model.load_state_dict(state, strict=True, assign=same_dtypes)   # names, shapes checked
    model.eval()
    model.meta = dict(payload["meta"])
    return inference_layout(model.to(dev))        # channels-last on a CPU (device.py)


def weights_payload(model: DeSpikeNet, meta: dict) -> dict:
    """What a weights file holds (loadable with ``torch.load(weights_only=True)``)."""
    return {"format": settings.DESPIKE_WEIGHTS_FORMAT, "kind": "despike-weights",
            "config": config_to_dict(model.config),
            "state_dict": {k: v.detach().cpu().clone(memory_format=torch.contiguous_format)
                           for k, v in model.state_dict().items()},
            "meta": meta}


def save_torch(obj, path: Path) -> None:
    """``torch.save`` atomically (temporary file + rename)."""
    with atomic_path(path, overwrite=True, what=str(path)) as tmp:
        torch.save(obj, tmp)
