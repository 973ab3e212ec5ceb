"""Physical discrete PSF prior: a bank of learnable kernels initialised as Gaussians.

``D_ij = k_j * F_i`` (despike.md): every kernel ``k_j`` is applied to every channel of
every window's encoded features (depthwise, one kernel shared by all channels), giving
``m`` candidates per window. Kernels start as normalised Gaussians with ``σ`` spread
geometrically over ``[sigma_min, sigma_max]`` (the defocus levels; at the coarser levels
of the refinement the same kernel spans 2x and 4x the σ in full-resolution pixels) and
are learned freely. Convolution here is correlation (torch's), identical for the
symmetric initial kernels. Borders are replicated.

``physical=False`` is the paper's "w/o physical kernel" ablation: ``m`` ordinary,
randomly initialised 3x3 convolutions mixing all channels.
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from .device import cpu_channels_last


def gaussian_kernels(sigmas, size: int, dtype=torch.float32) -> torch.Tensor:
    """``(m, size, size)`` normalised Gaussians (each sums to 1), one per ``σ`` (px)."""
    r = size // 2
    x = torch.arange(-r, r + 1, dtype=torch.float64)
    out = []
    for s in sigmas:
        g = torch.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2.0 * float(s) ** 2))
        out.append(g / g.sum())
    return torch.stack(out).to(dtype)


def bank_sigmas(m: int, sigma_min: float, sigma_max: float) -> list[float]:
    """``m`` values spread geometrically over ``[sigma_min, sigma_max]`` (px)."""
    if m == 1:
        return [float(sigma_min)]
    ratio = (sigma_max / sigma_min) ** (1.0 / (m - 1))
    return [float(sigma_min * ratio ** j) for j in range(m)]


def psf_bank_conv(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Apply every kernel to every channel.

    Parameters
    ----------
    x : (B, C, H, W) tensor
    kernels : (m, K, K) tensor, K odd

    Returns
    -------
    (B, m, C, H, W) tensor: ``out[:, j, c] = kernels[j] ⋆ x[:, c]`` (correlation,
    replicated borders, same size), a strided view of the convolution's output (read it
    through views, as the candidate attention does, or copy it with ``reshape``).
    """
    b, c, h, w = x.shape
    m, k, _ = kernels.shape
    pad = k // 2
    xp = F.pad(x, (pad, pad, pad, pad), mode="replicate") if pad else x
    weight = kernels.unsqueeze(1).repeat(c, 1, 1, 1)          # (c*m, 1, K, K): o = c*m + j
    # channels-last on a CPU (device.py): this depthwise convolution and its backward run
    # about 2x faster in that layout there; the values are the same
    y = F.conv2d(cpu_channels_last(xp), weight, groups=c)
    return y.view(b, c, m, h, w).transpose(1, 2)


class PSFBank(nn.Module):
    """The kernel bank as a module: ``(B, C, H, W) -> (B, m, C, H, W)``."""

    def __init__(self, channels: int, num_kernels: int, kernel_size: int,
                 sigma_min: float, sigma_max: float, physical: bool = True):
        super().__init__()
        self.physical = physical
        self.channels = channels
        self.num_kernels = num_kernels
        if physical:
            sig = bank_sigmas(num_kernels, sigma_min, sigma_max)
            self.sigmas = sig
            self.kernels = nn.Parameter(gaussian_kernels(sig, kernel_size))
        else:
            self.sigmas = []
            self.conv = nn.Conv2d(channels, channels * num_kernels, 3, padding=1,
                                  padding_mode="replicate")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.physical:
            return psf_bank_conv(x, self.kernels)
        b, c, h, w = x.shape
        return self.conv(x).view(b, self.num_kernels, c, h, w)
