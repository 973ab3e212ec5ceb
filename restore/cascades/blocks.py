"""Building blocks shared by the cascade networks: 3x3 convolutions and residual blocks."""

from __future__ import annotations

from torch import nn
import torch.nn.functional as F


def conv3(inputs: int, outputs: int, stride: int = 1) -> nn.Conv2d:
    """A 3x3 convolution keeping the size (``stride`` 2: halving it)."""
    return nn.Conv2d(inputs, outputs, 3, stride=stride, padding=1)


class ResBlock(nn.Module):
    """``x + conv(relu(conv(x)))`` at ``channels`` channels (no normalisation layer)."""

    def __init__(self, channels: int):
        super().__init__()
        self.c1 = conv3(channels, channels)
        self.c2 = conv3(channels, channels)

    def forward(self, x):
        return x + self.c2(F.relu(self.c1(x)))


def res_stack(channels: int, count: int) -> nn.Sequential:
    """``count`` residual blocks in a row (the identity when ``count`` is 0)."""
    return nn.Sequential(*[ResBlock(channels) for _ in range(count)])
