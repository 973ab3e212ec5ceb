"""A GKMNet-style single-image defocus deblurring network, written from the paper's
description.

Quan, Wu and Ji, "Gaussian Kernel Mixture Network for Single Image Defocus Deblurring",
NeurIPS 2021: the spatially variant defocus kernel at each pixel is a mixture of fixed
Gaussians, ``k_p = Σ_m β_m(p) G_{σ_m}`` with per-pixel mixing coefficients; deblurring
unrolls a fixed-point iteration of ``y = K x``; the coefficients are estimated by a
lightweight scale-recurrent network with a scale-recurrent attention module. Here:

- **Gaussian kernel mixture.** ``num_kernels`` fixed, normalised Gaussian kernels of
  ``kernel_size`` px, σ log-spaced from ``sigma_min`` (almost the identity) to
  ``sigma_max``, not trained. ``K_t x = Σ_m β_{t,m} ⊙ (G_m * x)`` with ``β_t`` the
  per-pixel softmax over the kernels (a valid PSF at every pixel, summing to 1).
- **Fixed-point unrolling.** The fixed point of ``x = x + (y − K x)`` solves ``y = K x``;
  each scale makes ``iterations`` such steps from its initial estimate, each with its own
  mixture ``β_t``: ``x ← x + (y − K_t x) + r_t``. The correction ``r_t`` (a 3x3
  convolution of the features, starting at zero) is this toolkit's addition: a pure
  Gaussian-mixture step can only sharpen, and the input here is a spike reconstruction
  (TFP over 32 steps is far noisier than the photographs GKMNet was made for), which the
  network must also be able to denoise.
- **Scale recurrence.** The image ``y`` (divided by its scale) is area-averaged to
  ``scales`` resolutions, coarse to fine. At each, one U-Net (weights shared by all
  scales: the recurrence) reads the blurred image at that scale, the current estimate
  (the coarser scale's result upsampled; ``y`` at the coarsest) and the coarser scale's
  features upsampled (the recurrent state; zero at the coarsest); a 3x3 convolution of
  its features gives the mixing logits (the attention over kernels) of every step, and
  another the corrections.

Input ``y (B, H, W)``: a first stage's λ estimate (:mod:`.model`). Output: the estimate at
every scale, coarse to fine, ``[(B, 1, h_s, w_s)]`` (the multi-scale loss reads them all).
Sides are replicate-padded to multiples of ``4 · 2^(scales-1)`` and cropped back.
"""

from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F

from .blocks import conv3, res_stack
from .configs import GKMNetConfig


def gaussian_bank(count: int, size: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """``(count, 1, size, size)`` normalised Gaussian kernels, σ log-spaced (px)."""
    if count == 1:
        sigmas = [sigma_min]
    else:
        ratio = math.log(sigma_max / sigma_min) / (count - 1)
        sigmas = [sigma_min * math.exp(ratio * m) for m in range(count)]
    r = torch.arange(size, dtype=torch.float64) - size // 2
    d2 = r.view(-1, 1) ** 2 + r.view(1, -1) ** 2
    kernels = torch.stack([torch.exp(-d2 / (2 * s * s)) for s in sigmas])
    kernels = kernels / kernels.sum(dim=(-2, -1), keepdim=True)
    return kernels.unsqueeze(1).float()


class UNet(nn.Module):
    """Three levels (1, 1/2, 1/4) of ``c``, ``2c``, ``4c`` channels with skips:
    ``(B, inputs, h, w) -> (B, c, h, w)``; ``h`` and ``w`` multiples of 4."""

    def __init__(self, inputs: int, c: int, blocks):
        super().__init__()
        self.enc1 = nn.Sequential(conv3(inputs, c), nn.ReLU(), res_stack(c, blocks[0]))
        self.enc2 = nn.Sequential(conv3(c, 2 * c, 2), nn.ReLU(), res_stack(2 * c, blocks[1]))
        self.enc3 = nn.Sequential(conv3(2 * c, 4 * c, 2), nn.ReLU(), res_stack(4 * c, blocks[2]))
        self.up3 = nn.ConvTranspose2d(4 * c, 2 * c, 2, stride=2)
        self.dec2 = nn.Sequential(nn.Conv2d(4 * c, 2 * c, 1), res_stack(2 * c, blocks[1]))
        self.up2 = nn.ConvTranspose2d(2 * c, c, 2, stride=2)
        self.dec1 = nn.Sequential(nn.Conv2d(2 * c, c, 1), res_stack(c, blocks[0]))

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        d2 = self.dec2(torch.cat([self.up3(e3), e2], 1))
        return self.dec1(torch.cat([self.up2(d2), e1], 1))


class GKMNet(nn.Module):
    """The deblurring network of one :class:`GKMNetConfig` (module doc)."""

    def __init__(self, config: GKMNetConfig):
        super().__init__()
        self.config = config
        c, m = config.channels, config.num_kernels
        self.register_buffer("kernels", gaussian_bank(m, config.kernel_size, config.sigma_min,
                                                      config.sigma_max), persistent=False)
        self.backbone = UNet(2 + c, c, config.blocks)
        self.mixing = conv3(c, config.iterations * m)
        self.correction = conv3(c, config.iterations)
        nn.init.zeros_(self.correction.weight)
        nn.init.zeros_(self.correction.bias)

    @property
    def multiple(self) -> int:
        """Frame sides are padded to multiples of this (U-Net x scales)."""
        return 4 * 2 ** (self.config.scales - 1)

    def blur_stack(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 1, h, w) -> (B, m, h, w)``: the image through every kernel (replicate
        borders)."""
        p = self.config.kernel_size // 2
        return F.conv2d(F.pad(x, (p, p, p, p), mode="replicate"), self.kernels)

    def forward(self, y: torch.Tensor) -> list[torch.Tensor]:
        """``y (B, H, W)`` (scale-normalised) -> estimates ``[(B, 1, h_s, w_s)]``, coarse
        to fine, the finest at ``(H, W)``."""
        b, h, w = y.shape
        k = self.multiple
        ph, pw = (-h) % k, (-w) % k
        y = y.unsqueeze(1)
        if ph or pw:
            y = F.pad(y, (0, pw, 0, ph), mode="replicate")
        cfg = self.config
        pyramid = [F.avg_pool2d(y, 2 ** s) if s else y for s in range(cfg.scales - 1, -1, -1)]
        x, state, outs = pyramid[0], None, []
        for ys in pyramid:
            hs, ws = ys.shape[-2:]
            if x.shape[-1] != ws:
                x = F.interpolate(x, size=(hs, ws), mode="bilinear", align_corners=False)
                state = F.interpolate(state, size=(hs, ws), mode="bilinear",
                                      align_corners=False)
            if state is None:
                state = ys.new_zeros(b, cfg.channels, hs, ws)
            state = self.backbone(torch.cat([ys, x, state], 1))
            beta = torch.softmax(self.mixing(state).view(b, cfg.iterations, cfg.num_kernels,
                                                         hs, ws), dim=2)
            corrections = self.correction(state)
            for t in range(cfg.iterations):
                x = (x + ys - (beta[:, t] * self.blur_stack(x)).sum(1, keepdim=True)
                     + corrections[:, t:t + 1])
            outs.append(x)
        fine = outs[-1][..., :h, :w]
        coarse = [o[..., :math.ceil(h / 2 ** s), :math.ceil(w / 2 ** s)]
                  for o, s in zip(outs[:-1], range(cfg.scales - 1, 0, -1))]
        return coarse + [fine]
