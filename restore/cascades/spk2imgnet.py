"""A Spk2ImgNet-style spike reconstruction network, written from the paper's description.

Zhao et al., "Spk2ImgNet: Learning to reconstruct dynamic scene from continuous spike
stream", CVPR 2021: a hierarchical, multi-window representation of the spikes around the
key frame, a spatially adaptive light inference that chooses per pixel among the windows,
the alignment of neighbouring windows' features, and a residual reconstruction body.
Here, from the same input as ``despike`` (:mod:`restore.cascades.configs`):

1. **Hierarchical multi-window representation.** The ``n`` window features ``x (B, n,
   H, W)`` (charge per step over 64 ... 192 steps around the key step, calibrated as
   for ``despike``), each divided by the image's scale (the mean of the longest window,
   as ``despike``), go through one light inference module with shared weights (a 3x3
   convolution and ``window_blocks`` residual blocks; with the calibration flag a second
   constant input channel, as ``despike``'s encoder): ``f_i (B, Ce, H, W)``.
2. **Alignment of neighbouring windows.** Each window's features are aligned to its
   next-longer neighbour, already aligned, down from the longest (the reference):
   ``a_n = f_n``, ``a_i = f_i + A([f_i, a_{i+1}])``, ``A`` two 3x3 convolutions shared by
   all pairs. The paper predicts deformable-convolution offsets from such a pair (motion
   between sub-streams); deformable convolution is not available in this toolkit's torch
   (no torchvision), and the windows here are nested and centred on the same key step of
   a static capture, so the alignment is offset-free: a learned correction of each pair.
3. **Spatially adaptive fusion.** A 1x1 convolution of all aligned features gives ``n``
   logits per pixel; their softmax weighs the windows (long windows where the light is
   steady and dim, short ones elsewhere): ``g = Σ_i w_i a_i``.
4. **Residual reconstruction.** ``g`` -> 3x3 convolution to ``C`` channels ->
   ``body_blocks`` residual blocks (with a long skip) -> 3x3 convolution to one channel,
   added to the longest window and multiplied back by the scale. The last convolution
   starts at zero, so an untrained network returns the longest window (TFP through the
   calibration): training learns a correction of TFP.

Output: ``{"out": (B, H, W) λ, "grid": [(B, 1, H, W)], "scale": (B,)}``, the layout of
``despike``'s outputs, so the DeSpike training loop, validation and inference serve it.
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from restore.despike.configs import ModelConfig
from restore.despike.model import flag_values, image_scale

from .blocks import conv3, res_stack
from .configs import Spk2ImgNetConfig


class NeighbourAlign(nn.Module):
    """Offset-free alignment of one window's features to its aligned neighbour:
    ``f + conv(relu(conv([f, ref])))`` (module doc, step 2)."""

    def __init__(self, channels: int):
        super().__init__()
        self.c1 = conv3(2 * channels, channels)
        self.c2 = conv3(channels, channels)

    def forward(self, f, ref):
        return f + self.c2(F.relu(self.c1(torch.cat([f, ref], 1))))


class Spk2ImgNet(nn.Module):
    """The reconstruction network of one :class:`Spk2ImgNetConfig` over the windows of
    ``features`` (a DeSpike :class:`ModelConfig`: windows and calibration flag)."""

    def __init__(self, config: Spk2ImgNetConfig, features: ModelConfig):
        super().__init__()
        self.config, self.features = config, features
        self.n_windows = len(features.used_windows)
        ce, c, n = config.window_channels, config.channels, self.n_windows
        self.light = nn.Sequential(conv3(2 if features.calibration_flag else 1, ce),
                                   nn.ReLU(), res_stack(ce, config.window_blocks))
        self.align = NeighbourAlign(ce)
        self.select = nn.Conv2d(n * ce, n, 1)
        self.head = conv3(ce, c)
        self.body = res_stack(c, config.body_blocks)
        self.tail = conv3(c, 1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    image_scale = staticmethod(image_scale)

    def forward(self, x: torch.Tensor, scale: torch.Tensor | None = None,
                calibrated=None, grid: bool = True) -> dict:
        """``x (B, n, H, W)`` charge per step -> outputs (module doc); ``calibrated`` is
        required with the calibration flag and ignored without. ``grid`` is accepted for
        the call every network of the toolkit shares; the grid is always computed."""
        b, n, h, w = x.shape
        if n != self.n_windows:
            raise ValueError(f"expected {self.n_windows} windows, got {n}")
        scale = image_scale(x) if scale is None else scale
        xn = x / scale.view(b, 1, 1, 1)
        inp = xn.reshape(b * n, 1, h, w)
        if self.features.calibration_flag:
            flag = flag_values(calibrated, b, x).view(b, 1, 1, 1, 1)
            inp = torch.cat([inp, flag.expand(b, n, 1, h, w).reshape(b * n, 1, h, w)], 1)
        f = self.light(inp).view(b, n, -1, h, w)
        aligned = [f[:, -1]]
        for i in range(n - 2, -1, -1):
            aligned.insert(0, self.align(f[:, i], aligned[0]))
        a = torch.stack(aligned, 1)                               # (B, n, Ce, H, W)
        weights = torch.softmax(self.select(a.flatten(1, 2)), dim=1)
        g = (weights.unsqueeze(2) * a).sum(1)
        feat = self.head(g)
        res = self.tail(F.relu(self.body(feat) + feat))
        out = (xn[:, -1:] + res) * scale.view(b, 1, 1, 1)
        return {"out": out[:, 0], "grid": [out], "scale": scale}
