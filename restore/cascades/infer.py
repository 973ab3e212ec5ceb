"""Inference with a learned cascade: ``restore_cascade(stream, method, calib)``.

The methods (``settings.LEARNED_CASCADE_METHODS``): ``spk2imgnet`` (the reconstruction
network alone), ``spk2imgnet+gkmnet`` and ``tfp+gkmnet``. Each reads one weights file
(:mod:`.weights`): ``weights`` when given, else the bundled one of the method. The input
is ``despike``'s, made by the same function (:func:`restore.despike.encoding.network_input`:
the calibrated window features and the calibration flag), and the frame goes through
``despike``'s tiled prediction (:func:`restore.despike.infer.predict`). The output is an
``(H, W) float32`` λ estimate, as every method's.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from spikesim.errors import InputError

from restore import settings
from restore.despike.device import inference_layout, resolve_device
from restore.despike.encoding import network_input
from restore.despike.infer import check_calibration_size, predict

from .configs import FIRST_TFP
from .model import stage_record
from .weights import bundled_path, load_stage

log = logging.getLogger("spikes")

_MODEL_CACHE: dict = {}


def training_hint(method: str) -> str:
    """The commands that train ``method``'s weights (docs/cascades.md)."""
    configs = settings.CASCADE_TRAINING[method]
    steps = [f"spikerestore train-cascade --config {c} -o runs/{Path(c).stem}" for c in configs]
    return "train them with `" + "`, then `".join(steps) + "` (docs/cascades.md) and pass " \
        "--weights RUN_DIR/best.pt"


def method_of(record: dict) -> str | None:
    """The learned-cascade method a stage record makes (``None``: none of them)."""
    first = record.get("first_stage")
    if record.get("stage") == "reconstruct":
        return "spk2imgnet"
    if record.get("stage") == "deblur":
        return ("tfp+gkmnet" if first == FIRST_TFP
                else "spk2imgnet+gkmnet" if isinstance(first, dict) else None)
    return None


def check_record(method: str, record: dict, path) -> None:
    """Refuse weights of another stage than ``method`` needs."""
    first = record.get("first_stage")
    if method_of(record) != method:
        got = record.get("stage") + ("" if not first else
                                     f" after {first if first == FIRST_TFP else 'spk2imgnet'}")
        raise InputError("weights", str(path), f"weights of the method {method}",
                         f"the file holds a {got} stage; pass the weights of {method}")


def cascade_model(method: str, weights=None, device="cpu"):
    """The stage model of ``method``: ``weights`` or the bundled file (the last one
    loaded for each method is kept)."""
    if weights is None:
        path = bundled_path(method)
        if not path.is_file():
            raise InputError("method", method, "bundled weights",
                             "no weights are bundled yet for this learned cascade; "
                             + training_hint(method))
    else:
        path = Path(weights)
    key = (str(path), str(device))
    cached = _MODEL_CACHE.get(method)
    if cached is None or cached[0] != key:     # one model a method: an evaluation of the
        model = load_stage(path, resolve_device(device))   # three cascades loads each once
        check_record(method, stage_record(model), path)
        inference_layout(model)            # channels-last on a CPU: 1.4-1.8x faster there
        _MODEL_CACHE[method] = (key, model)
    return _MODEL_CACHE[method][1]


def restore_cascade(stream, method: str, calib=None, center=None, device="cpu", weights=None,
                    dead_time: float | None = None, tile: int | None = None) -> np.ndarray:
    """Restore one capture with a learned cascade.

    Parameters
    ----------
    stream : SpikeStream ``(T, H, W)`` or a ``(T, H, W)`` 0/1 array
    method : one of ``settings.LEARNED_CASCADE_METHODS``
    calib : the camera's calibration or ``None``; treated as ``despike`` treats it
        (with the calibration flag: flag 0 and plain rates for ``None`` or an identity
        calibration)
    center : key step (default the middle); device : ``"cpu"`` or ``"cuda"``
    weights : a weights file (default: the method's bundled one)
    dead_time : steps, the rate inversion's δ without a calibration (default: the
        calibration's, else 1)
    tile : tile side for large frames (default ``settings.DESPIKE_TILE``)

    Returns
    -------
    (H, W) float32: the estimated in-focus charge per step λ (thresholds/step).
    """
    model = cascade_model(method, weights, device)
    check_calibration_size(stream, calib)
    x, calibrated, notes = network_input(stream, calib, model.features, center, dead_time)
    for note in notes:
        log.warning("%s: %s", method, note)
    return predict(model, torch.from_numpy(x)[None], device, tile, calibrated=calibrated)[0]
