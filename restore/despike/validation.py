"""Validation during training and the choice of ``best.pt``.

Two fixed sets, made once per run from ``(data config, val_seed)`` (:class:`Validator`):

``procedural``
    ``val_samples`` procedural samples of ``val_size`` px (the generator's scenes), its
    own seed and ``val_cameras`` cameras: the curve every earlier run logged;
``natural`` (when ``data.val_natural`` is set)
    ``val_natural_samples`` samples of the same size, seed and cameras whose generator
    keys are ``data.generator`` with ``data.val_natural`` over them, e.g. the held-out
    validation photographs (``{source: images, image_dir: data/photos/val}``).

Both are scored like the evaluation (PSNR and SSIM of the sRGB-encoded scene value under
the oracle exposure), beside TFP of the same input; ``data.calib_withheld`` applies to
them as to training (per sample index, with ``val_seed``). ``best.pt`` is the model of
the best **selection score** (:func:`selection_score`): the natural PSNR, the
procedural one or their mean (``select_on``; ``auto``: natural when the set exists).

``val.csv`` columns: ``step, loss, psnr, ssim, psnr_tfp, ssim_tfp`` (procedural), then
with a natural set ``nat_loss, nat_psnr, nat_ssim, nat_psnr_tfp, nat_ssim_tfp, select``,
then ``wall_s``; a run without a natural set writes the columns runs always wrote.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .configs import TrainConfig
from .data import ProceduralDataset, collate
from .loss import srgb_continued, ssim

METRICS = ("loss", "psnr", "ssim", "psnr_tfp", "ssim_tfp")
NATURAL_PREFIX = "nat_"


def val_fields(cfg: TrainConfig) -> list[str]:
    """The columns of ``val.csv`` for this config (module doc)."""
    natural = [NATURAL_PREFIX + m for m in METRICS] + ["select"] if cfg.data.val_natural else []
    return ["step", *METRICS, *natural, "wall_s"]


def selection_score(val: dict, selection: str) -> float:
    """The validation PSNR that picks ``best.pt``: ``natural``, ``procedural`` or ``mean``
    of the two. A validation record without natural scores (a run made before natural
    validation existed) is scored by its procedural PSNR."""
    nat = val.get(NATURAL_PREFIX + "psnr")
    if selection == "natural" and nat is not None:
        return float(nat)
    if selection == "mean" and nat is not None:
        return 0.5 * (float(nat) + float(val["psnr"]))
    return float(val["psnr"])


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return 10.0 * math.log10(1.0 / max(mse, 1e-12))


def srgb(x: torch.Tensor) -> torch.Tensor:
    """sRGB encoding of linear values clipped to [0, 1] (the evaluation's display)."""
    return srgb_continued(x.clamp(0.0, 1.0))


class Validator:
    """The fixed validation sets (module doc), made once; ``__call__`` scores a model."""

    def __init__(self, cfg: TrainConfig, cache_dir):
        d = cfg.data
        sets = {"procedural": ({}, d.val_samples)}
        if d.val_natural:
            sets["natural"] = (d.val_natural, d.val_natural_samples)
        self.batches = {}
        for name, (generator, count) in sets.items():
            ds = ProceduralDataset(d, cfg.model, seed=d.val_seed, size=d.val_size,
                                   augment=False, cache_dir=cache_dir, cameras=d.val_cameras,
                                   generator=generator)
            self.batches[name] = collate([ds[i] for i in range(count)])
        self.selection = cfg.selection

    @torch.no_grad()
    def __call__(self, model, loss_fn, device, bf16=False) -> dict:
        """``{loss, psnr, ssim, psnr_tfp, ssim_tfp[, nat_*], select}`` of ``model``."""
        model.eval()
        out = {}
        for name, batch in self.batches.items():
            prefix = NATURAL_PREFIX if name == "natural" else ""
            scores = _score(model, loss_fn, batch, device, bf16)
            out.update({prefix + k: v for k, v in scores.items()})
        model.train()
        out["select"] = selection_score(out, self.selection)
        return out


def _score(model, loss_fn, batch: dict, device, bf16: bool) -> dict:
    """Mean loss, PSNR and SSIM of the model and of TFP (its longest window) on a batch,
    one sample at a time."""
    rows = []
    for i in range(batch["x"].shape[0]):
        x = batch["x"][i:i + 1].to(device)
        tgt = batch["target"][i:i + 1].to(device)
        tv = batch["to_value"][i].to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = model(x, calibrated=batch["calibrated"][i:i + 1].to(device))
            loss, _ = loss_fn(out, tgt, tv.view(1))
        ref = srgb(tgt.float() * tv)
        est = srgb(out["out"].float() * tv)
        tfp = srgb(x[:, -1].float() * tv)
        rows.append((float(loss), _psnr(est, ref), float(ssim(est, ref)), _psnr(tfp, ref),
                     float(ssim(tfp, ref))))
    return {k: float(np.mean(column)) for k, column in zip(METRICS, zip(*rows))}
