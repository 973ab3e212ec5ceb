"""The DeSpike network (despike.md; paper Sec. "Key Designs").

Input: the linearised IF features ``x (B, n, H, W)`` (charge per step of each window,
:mod:`.encoding`), ``H`` and ``W`` multiples of 4 (:func:`pad_to_multiple`).
The network works in normalised units: each image is divided by a scale ``s`` (the
mean of its longest-window feature, floored) and every prediction multiplied back, so
one model serves every light level. Output: predictions of ``λ`` (thresholds/step, the
in-focus response of an ideal FPN-free pixel) for every (level, window) pair (the
training loss's grid; ``grid=False``, as inference calls it, skips them), and the final
``(B, H, W)`` estimate.

With ``calibration_flag`` the shared encoder reads one more constant channel beside each
window's feature: ``calibrated (B,)``, 1 when the features went through the camera's
calibration and 0 when it is absent (plain rates). Its weights may start at zero
(:func:`.grow.grow`), so a network grown from one without the flag computes that
network's function exactly, whatever the flag.
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from restore import settings

from .configs import ModelConfig, model_config
from .psf_bank import PSFBank
from .refine import Level


def image_scale(x: torch.Tensor) -> torch.Tensor:
    """Per-image normalisation ``(B,)`` of features ``(B, n, H, W)``: the mean of the
    longest window, floored (every network of the toolkit divides its input by it)."""
    return x[:, -1].mean(dim=(-2, -1)).clamp(min=settings.DESPIKE_SCALE_EPS)


def flag_values(calibrated, b: int, x: torch.Tensor) -> torch.Tensor:
    """``(B,)`` calibration flags (1 calibrated, 0 absent) from one value or ``(B,)``."""
    if calibrated is None:
        raise ValueError("this network has a calibration flag: pass calibrated (1: the "
                         "features are calibrated, 0: no calibration) per image")
    flag = torch.as_tensor(calibrated, dtype=x.dtype, device=x.device).reshape(-1)
    if flag.numel() not in (1, b):
        raise ValueError(f"calibrated has {flag.numel()} values for a batch of {b}")
    return flag.expand(b)


class Encoder(nn.Module):
    """Shared shallow encoder: one window's feature ``(B, inputs, H, W) -> (B, Ce, H, W)``
    (``inputs`` 1, or 2 with the calibration flag channel)."""

    def __init__(self, channels: int, inputs: int = 1):
        super().__init__()
        self.c1 = nn.Conv2d(inputs, channels, 3, padding=1, padding_mode="replicate")
        self.c2 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="replicate")

    def forward(self, x):
        return self.c2(F.gelu(self.c1(x)))


class DeSpikeNet(nn.Module):
    """DeSpike restoration network for one :class:`ModelConfig`."""

    def __init__(self, config: ModelConfig | str | None = None):
        super().__init__()
        cfg = model_config(config)
        self.config = cfg
        n = len(cfg.used_windows)
        ce = cfg.encoder_channels
        self.encoder = Encoder(ce, 2 if cfg.calibration_flag else 1)
        self.bank = PSFBank(ce, cfg.num_kernels, cfg.kernel_size, cfg.sigma_min,
                            cfg.sigma_max, cfg.physical_kernels)
        idx = cfg.used_levels
        self.factors = tuple(4 // (2 ** i) for i in idx)        # (4, 2, 1) or (1,)
        levels, prev = [], None
        for i in idx:
            levels.append(Level(ce, cfg.widths[i], cfg.depths[i], cfg.heads[i],
                                cfg.fusion_heads, n, cfg.num_kernels, cfg.ffn_expansion,
                                cfg.attention, prev, cfg.fusion_key_dim))
            prev = cfg.widths[i]
        self.levels = nn.ModuleList(levels)

    @property
    def n_windows(self) -> int:
        return len(self.config.used_windows)

    image_scale = staticmethod(image_scale)

    def forward(self, x: torch.Tensor, scale: torch.Tensor | None = None,
                calibrated=None, grid: bool = True) -> dict:
        """``x (B, n, H, W)`` -> ``{"out": (B, H, W), "grid": [(B, n, h_s, w_s)], "scale": (B,)}``.

        ``grid`` lists the levels coarse to fine; all values are in thresholds/step.
        With ``grid=False`` (inference) only ``out`` is computed, the same values
        without the other windows' and levels' predictions, and ``"grid"`` is ``None``.
        ``calibrated`` (a ``(B,)`` tensor or one number; 1 calibrated, 0 absent) is
        required by a model with ``calibration_flag`` and ignored by one without.
        """
        b, n, h, w = x.shape
        if n != self.n_windows:
            raise ValueError(f"expected {self.n_windows} windows, got {n}")
        if h % 4 or w % 4:
            raise ValueError(f"frame sides must be multiples of 4, got {h}x{w}; pad first")
        if scale is None:
            scale = self.image_scale(x)
        flag = self._flag(calibrated, b, x)
        xn = x / scale.view(b, 1, 1, 1)
        preds, prev, last = [], None, len(self.levels) - 1
        for i, (f, level) in enumerate(zip(self.factors, self.levels)):
            xs = F.avg_pool2d(xn, f) if f > 1 else xn
            hs, ws = xs.shape[-2:]
            inp = xs.reshape(b * n, 1, hs, ws)
            if flag is not None:
                inp = torch.cat([inp, flag.expand(b, n, 1, hs, ws).reshape(b * n, 1, hs, ws)], 1)
            enc = self.encoder(inp)
            ce = enc.shape[1]
            cands = self.bank(enc).view(b, n, -1, ce, hs, ws)      # (B, n, m, Ce, h, w), a view
            heads = "all" if grid else ("last" if i == last else "none")
            prev, res = level(enc.view(b, n, ce, hs, ws), cands, prev, heads)
            if grid:
                preds.append((xs + res) * scale.view(b, 1, 1, 1))
        if not grid:
            return {"out": (xs[:, -1] + res[:, 0]) * scale.view(b, 1, 1),
                    "grid": None, "scale": scale}
        return {"out": preds[-1][:, -1], "grid": preds, "scale": scale}


    def _flag(self, calibrated, b: int, x: torch.Tensor) -> torch.Tensor | None:
        """``(B, 1, 1, 1, 1)`` flag values for the encoder, or None without the flag."""
        if not self.config.calibration_flag:
            return None
        return flag_values(calibrated, b, x).view(b, 1, 1, 1, 1)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def build_model(config=None) -> DeSpikeNet:
    """A freshly initialised :class:`DeSpikeNet` (``config``: preset name, path, mapping)."""
    return DeSpikeNet(model_config(config))


def pad_to_multiple(x: torch.Tensor, multiple: int = 4):
    """Replicate-pad the last two axes up to multiples of ``multiple``; returns (x, (h, w))."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x, (h, w)
