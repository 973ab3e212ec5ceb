"""Attention fusion of the ``n × m`` candidates and transformer blocks linear in pixels.

:class:`CandidateFusion`
    per pixel, a query from the context (all windows' encodings and the previous
    level's reconstruction) weighs the ``N = n·m`` candidates ``D_ij`` (keys and values
    projected from them, plus a learned embedding telling which window and kernel each
    is): ``out = Σ_ij softmax_ij(q·k_ij/√d) v_ij``, multi-head. Cost O(N·C) per pixel.
    Ablation (``attention=False``): the candidates and context are concatenated and
    mixed by a 1x1 convolution.
:class:`TransformerBlock`
    Restormer-style: MDTA (multi-Dconv head *transposed* attention: a C×C channel
    attention per head, cost linear in the pixel count) and GDFN (gated depthwise-conv
    feed-forward), each after a channel LayerNorm with a residual. Ablation: MDTA
    becomes plain QKV mixing (the value path only, no attention map).
"""

from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F


class ChannelNorm(nn.Module):
    """LayerNorm over the channel axis of ``(B, C, H, W)`` (with bias)."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        mu = x.mean(1, keepdim=True)
        var = (x - mu).pow(2).mean(1, keepdim=True)
        x = (x - mu) / torch.sqrt(var + 1e-5)
        return x * self.weight[:, None, None] + self.bias[:, None, None]


class MDTA(nn.Module):
    """Multi-Dconv head transposed attention (channel attention), or QKV mixing."""

    def __init__(self, channels: int, heads: int, attention: bool = True):
        super().__init__()
        self.heads = heads
        self.attention = attention
        n = 3 if attention else 1
        self.qkv = nn.Conv2d(channels, channels * n, 1)
        self.dw = nn.Conv2d(channels * n, channels * n, 3, padding=1, groups=channels * n)
        self.proj = nn.Conv2d(channels, channels, 1)
        if attention:
            self.temperature = nn.Parameter(torch.ones(heads, 1, 1))

    def forward(self, x):
        b, c, h, w = x.shape
        y = self.dw(self.qkv(x))
        if not self.attention:
            return self.proj(y)
        q, k, v = y.chunk(3, dim=1)
        q = F.normalize(q.reshape(b, self.heads, -1, h * w), dim=-1)
        k = F.normalize(k.reshape(b, self.heads, -1, h * w), dim=-1)
        v = v.reshape(b, self.heads, -1, h * w)
        attn = torch.softmax((q @ k.transpose(-2, -1)) * self.temperature, dim=-1)
        return self.proj((attn @ v).reshape(b, c, h, w))


class GDFN(nn.Module):
    """Gated depthwise-conv feed-forward network."""

    def __init__(self, channels: int, expansion: float):
        super().__init__()
        hidden = max(1, int(round(channels * expansion)))
        self.inp = nn.Conv2d(channels, hidden * 2, 1)
        self.dw = nn.Conv2d(hidden * 2, hidden * 2, 3, padding=1, groups=hidden * 2)
        self.out = nn.Conv2d(hidden, channels, 1)

    def forward(self, x):
        a, g = self.dw(self.inp(x)).chunk(2, dim=1)
        return self.out(F.gelu(a) * g)


class TransformerBlock(nn.Module):
    def __init__(self, channels: int, heads: int, expansion: float, attention: bool = True):
        super().__init__()
        self.norm1 = ChannelNorm(channels)
        self.attn = MDTA(channels, heads, attention)
        self.norm2 = ChannelNorm(channels)
        self.ffn = GDFN(channels, expansion)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


def candidate_attention(q, k, v):
    """Per-pixel softmax attention over candidates.

    ``q (B, h, d, H, W)``, ``k (B, N, h, d, H, W)``, ``v (B, N, c, H, W)`` ->
    ``(B, h, c, H, W)`` (every head weighs the full candidate values), and the weights
    ``softmax_N(q·k/√d)``, ``(B, N, h, H, W)``.
    """
    logits = (q.unsqueeze(1) * k).sum(3) / math.sqrt(q.shape[2])
    a = torch.softmax(logits, dim=1)
    return torch.einsum("bnhxy,bncxy->bhcxy", a, v), a


class CandidateFusion(nn.Module):
    """Fuse ``(B, N, Ce, H, W)`` candidates under a ``(B, C, H, W)`` context -> ``(B, C, H, W)``.

    Queries come from the context, keys from the candidates (a 1x1 projection to
    ``key_dim`` per head plus a learned per-candidate embedding), values are the
    candidates themselves; the heads' outputs are concatenated and projected to ``C``.
    Projecting after the weighted sum keeps the cost at O(N·Ce·heads) per pixel.
    """

    def __init__(self, cand_channels: int, width: int, heads: int, num_candidates: int,
                 attention: bool = True, key_dim: int = 8):
        super().__init__()
        self.attention = attention
        self.heads = heads
        self.key_dim = key_dim
        if attention:
            self.q = nn.Conv2d(width, heads * key_dim, 1)
            self.k = nn.Conv2d(cand_channels, heads * key_dim, 1)
            self.embed = nn.Parameter(torch.zeros(num_candidates, heads * key_dim))
            self.proj = nn.Conv2d(heads * cand_channels, width, 1)
        else:
            self.mix = nn.Conv2d(num_candidates * cand_channels + width, width, 1)

    def forward(self, cands, ctx, return_weights: bool = False):
        b, n, ce, h, w = cands.shape
        if not self.attention:
            out = self.mix(torch.cat([cands.reshape(b, n * ce, h, w), ctx], 1))
            return (out, None) if return_weights else out
        hd, d = self.heads, self.key_dim
        q = self.q(ctx).view(b, hd, d, h, w)
        # a 1x1 convolution written as einsum (faster than conv2d on N tiny batches)
        k = torch.einsum("oc,bncxy->bnoxy", self.k.weight[:, :, 0, 0], cands)
        k = k + (self.k.bias.view(1, 1, -1) + self.embed.view(1, n, -1)).view(1, n, hd * d, 1, 1)
        k = k.view(b, n, hd, d, h, w)
        out, a = candidate_attention(q, k, cands)
        out = self.proj(out.reshape(b, hd * ce, h, w))
        return (out, a) if return_weights else out
