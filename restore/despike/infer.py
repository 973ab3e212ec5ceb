"""Inference with a trained DeSpike network: ``restore_despike(stream, calib)``.

The output is the network's estimate of ``λ``: the charge per step (thresholds/step) an
ideal, FPN-free pixel would integrate if the scene were in focus (despike.md), an
``(H, W) float32`` map, upright. Intensity and display images follow from it through
the camera response, one shared step for every method (``restore.exposure``).

Weights files are ``torch.save`` dicts read with ``torch.load(weights_only=True)``
(no pickled code): ``{"format", "kind": "despike-weights", "config", "state_dict",
"meta"}``. The bundled weights live in ``restore/despike/weights/`` (``despike-natural.pt``, the
default, and the procedural ``despike-small.pt``).

Frames of any size: sides are replicate-padded to multiples of 4; frames larger than
``tile`` px are cut into overlapping tiles blended with linear ramps, with the
normalisation scale of the whole frame so the tiles agree.

Self-ensemble (``self_ensemble=True``, the method ``despike-x8``): the network runs on the
8 flips and transposes of its input (the dihedral group of the square; the defocus,
the sensor and the fixed pattern have no preferred orientation, and training augments
with the same group), each output is mapped back and the 8 are averaged. It costs 8
passes.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from spikesim.errors import InputError

from restore import settings

from .device import resolve_device
from .encoding import network_input
from .model import DeSpikeNet, pad_to_multiple
from .weights import load_model

log = logging.getLogger("spikes")

def _ramp(n: int, overlap: int, first: bool, last: bool) -> np.ndarray:
    w = np.ones(n, np.float32)
    if overlap > 0:
        r = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
        if not first:
            w[:overlap] = r
        if not last:
            w[-overlap:] = r[::-1]
    return w


def _starts(size: int, tile: int, overlap: int) -> list[int]:
    if size <= tile:
        return [0]
    step = tile - overlap
    out = list(range(0, size - tile, step)) + [size - tile]
    return sorted(set(out))


_FLIPS = ((), (-1,), (-2,), (-1, -2))      # axes flipped by dihedral(k) for k % 4


def dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """The ``k``-th (0..7) of the 8 flips/transposes of the last two axes; 0 is identity."""
    if k >= 4:
        x = x.transpose(-1, -2)
    return x.flip(_FLIPS[k % 4]) if _FLIPS[k % 4] else x


def dihedral_inverse(x: torch.Tensor, k: int) -> torch.Tensor:
    """Undo :func:`dihedral`: ``dihedral_inverse(dihedral(x, k), k) == x``."""
    x = x.flip(_FLIPS[k % 4]) if _FLIPS[k % 4] else x
    return x.transpose(-1, -2) if k >= 4 else x


@torch.no_grad()
def predict(model: DeSpikeNet, x, device="cpu", tile: int | None = None,
            overlap: int | None = None, self_ensemble: bool = False,
            calibrated=None) -> np.ndarray:
    """Run the network on features ``x (B, n, H, W)`` (any H, W); returns ``(B, H, W)`` λ.

    Frames with a side above ``tile`` px are processed in overlapping tiles. With
    ``self_ensemble`` the result is the mean over the 8 flips/transposes (module doc).
    ``calibrated`` (1: calibrated features, 0: none; one value or ``(B,)``) is the
    calibration flag of a model that has one (:mod:`.model`).
    ``model`` is called as ``model(x, scale, calibrated, grid=False)``: a network of the
    toolkit (DeSpike or a learned cascade), which then computes only its final output.
    """
    dev = resolve_device(device)
    tile = int(tile or settings.DESPIKE_TILE)
    overlap = int(settings.DESPIKE_TILE_OVERLAP if overlap is None else overlap)
    if tile % 4 or tile <= 2 * overlap:
        raise InputError("tile", tile, f"a multiple of 4 larger than twice the overlap "
                         f"({overlap})", "use the default")
    x = torch.as_tensor(np.asarray(x, np.float32) if not torch.is_tensor(x) else x)
    model = model.to(dev)
    scale = model.image_scale(x)          # of the whole frame: the same for every transform
    if calibrated is not None:
        calibrated = torch.as_tensor(calibrated, dtype=torch.float32, device=dev)
    if not self_ensemble:
        return _predict_tiled(model, x, dev, tile, overlap, scale, calibrated)
    total = None
    for k in range(8):
        out = _predict_tiled(model, dihedral(x, k).contiguous(), dev, tile, overlap, scale,
                             calibrated)
        out = dihedral_inverse(torch.from_numpy(out), k)
        total = out if total is None else total + out
    return (total / 8).numpy()


def _predict_tiled(model, x, dev, tile, overlap, scale, calibrated) -> np.ndarray:
    b, n, h, w = x.shape
    out = np.zeros((b, h, w), np.float32)
    norm = np.zeros((h, w), np.float32)
    ys, xs = _starts(h, tile, overlap), _starts(w, tile, overlap)
    for y0 in ys:
        for x0 in xs:
            th, tw = min(tile, h), min(tile, w)
            sub = x[:, :, y0:y0 + th, x0:x0 + tw]
            sub, (sh, sw) = pad_to_multiple(sub, 4)
            res = model(sub.to(dev), scale.to(dev), calibrated, grid=False)["out"][:, :sh, :sw]
            res = res.float().cpu().numpy()
            wy = _ramp(th, overlap, y0 == 0, y0 + th >= h)
            wx = _ramp(tw, overlap, x0 == 0, x0 + tw >= w)
            wt = wy[:, None] * wx[None, :]
            out[:, y0:y0 + th, x0:x0 + tw] += res * wt
            norm[y0:y0 + th, x0:x0 + tw] += wt
    return out / norm


def check_calibration_size(stream, calib) -> None:
    """Refuse a calibration whose maps are not the stream's ``(H, W)`` (``stream``:
    ``(T, H, W)`` or ``(H, W)``; ``calib`` ``None`` passes): a one-line ``InputError``."""
    if calib is None:
        return
    h, w = (stream.shape[1:] if len(stream.shape) == 3 else stream.shape)
    if tuple(calib.weight.shape) != (int(h), int(w)):
        raise InputError("calibration", f"{calib.weight.shape[1]}x{calib.weight.shape[0]}",
                         f"the stream's resolution {w}x{h}",
                         "use the calibration of the camera that recorded the stream")


_MODEL_CACHE: dict = {}


def restore_despike(stream, calib=None, center=None, device="cpu", config=None, weights=None,
                    model: DeSpikeNet | None = None, tile: int | None = None,
                    dead_time: float | None = None, self_ensemble: bool = False) -> np.ndarray:
    """Restore one capture with DeSpike.

    Parameters
    ----------
    stream : SpikeStream ``(T, H, W)`` or a ``(T, H, W)`` 0/1 array
    calib : :class:`calibration.calfile.Calibration` of the camera (its spike weight
        ``w`` and dead time are used), or ``None`` for an uncalibrated camera
        (weight 1, dead time 1 step). A model with the calibration flag sets it to 0
        for ``None`` or an identity calibration (trained for that case with
        ``data.calib_withheld``); models without it use the calibration as given.
    center : key step (default the middle); windows are clipped to the stream
    device : ``"cpu"`` or ``"cuda"``
    config, weights : see :func:`load_model` (default: the bundled ``despike-natural.pt``)
    model : an already loaded model (overrides ``config``/``weights``)
    tile : tile size in pixels for large frames (overlapping tiles), None: whole frame
    dead_time : steps, the rate inversion's δ when no calibration corrects the rate
        (default: the calibration's, else 1)
    self_ensemble : average the network over the 8 flips/transposes (8x the time)

    Returns
    -------
    (H, W) float32: estimated in-focus charge per step ``λ`` (thresholds/step).
    """
    if model is None:
        key = (str(weights), str(config), str(device))
        if key not in _MODEL_CACHE:
            _MODEL_CACHE.clear()
            _MODEL_CACHE[key] = load_model(weights, config, device)
        model = _MODEL_CACHE[key]
    check_calibration_size(stream, calib)
    x, calibrated, notes = network_input(stream, calib, model.config, center, dead_time)
    for note in notes:
        log.warning("despike: %s", note)
    return predict(model, torch.from_numpy(x)[None], device, tile,
                   self_ensemble=self_ensemble, calibrated=calibrated)[0]
