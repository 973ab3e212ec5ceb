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

from .device import cpu_channels_last


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


def _layout(x: torch.Tensor) -> torch.memory_format:
    """The memory format of a 4-D tensor: channels-last or contiguous."""
    return (torch.channels_last if x.is_contiguous(memory_format=torch.channels_last)
            and not x.is_contiguous() else torch.contiguous_format)


class GDFN(nn.Module):
    """Gated depthwise-conv feed-forward network."""

    def __init__(self, channels: int, expansion: float):
        super().__init__()
        hidden = max(1, int(round(channels * expansion)))
        self.inp = nn.Conv2d(channels, hidden * 2, 1)
        self.dw = nn.Conv2d(hidden * 2, hidden * 2, 3, padding=1, groups=hidden * 2)
        self.out = nn.Conv2d(hidden, channels, 1)

    def forward(self, x):
        # channels-last inside on a CPU (device.py); the output keeps the input's layout
        layout = _layout(x)
        a, g = self.dw(self.inp(cpu_channels_last(x))).chunk(2, dim=1)
        return self.out(F.gelu(a) * g).contiguous(memory_format=layout)


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
    """Per-pixel softmax attention over candidates whose keys are given.

    ``q (B, h, d, H, W)``, ``k (B, N, h, d, H, W)``, ``v (B, N, c, H, W)`` ->
    ``(B, h, c, H, W)`` (every head weighs the full candidate values), and the weights
    ``softmax_N(q·k/√d)``, ``(B, N, h, H, W)``.
    """
    logits = (q.unsqueeze(1) * k).sum(3) / math.sqrt(q.shape[2])
    a = torch.softmax(logits, dim=1)
    return torch.einsum("bnhxy,bncxy->bhcxy", a, v), a


def candidate_attention_explicit(q, wk, kb, v):
    """:func:`candidate_attention` with the keys formed from the candidates,
    ``k_j = W v_j + kb_j``: the reference of :func:`candidate_attention_folded`, with its
    arguments (``v`` ``(B, N, c, H, W)`` or ``(B, n, m, c, H, W)``) and results."""
    v = v.flatten(1, 2) if v.dim() == 6 else v
    keys = torch.einsum("hdc,bncxy->bnhdxy", wk, v) + kb[None, :, :, :, None, None]
    return candidate_attention(q, keys, v)


def candidate_attention_folded(q, wk, kb, v):
    """:func:`candidate_attention` with the keys' 1x1 projection folded into the query.

    The keys are ``k_j = W v_j + kb_j`` (``W`` the per-head projection ``(h, d, c)``,
    ``kb (N, h, d)`` bias plus candidate embedding), so ``q·k_j = (Wᵀq)·v_j + q·kb_j``:
    the keys ``(B, N, h, d, H, W)`` are never formed. Per pixel this costs ``h·c·(d + N)
    + N·h·d`` multiply-adds instead of ``N·h·d·(c + 1)``. Without gradients (inference)
    the sums over ``c`` and the candidates are loops of whole-image multiply-adds (no
    ``(B, N, h, c, H, W)`` temporary, no batched tiny matrix products): about 8x faster
    than the explicit keys on a CPU at 400x256 with ``N = 20``. With gradients they are
    broadcast products, whose backward is about 1.8x faster than the explicit keys'
    (``bench/bench_despike_paths.py``), when ``c ≤ d`` (the small presets); with wider
    candidates than keys the explicit keys are formed, which hold fewer values.

    ``q (B, h, d, H, W)``, ``wk (h, d, c)``, ``kb (N, h, d)``, and the candidates ``v``
    either ``(B, N, c, H, W)`` or ``(B, n, m, c, H, W)`` with ``N = n·m`` in that order
    (window-major, the kernel bank's layout, read through strides without a copy) ->
    ``(B, h, c, H, W)`` and the weights ``(B, N, h, H, W)``, equal to
    :func:`candidate_attention`'s up to rounding.
    """
    if v.dim() == 5:
        v = v.unsqueeze(2)
    b, n, m, c = v.shape[:4]
    hd, size = q.shape[1], q.shape[-2:]
    training = torch.is_grad_enabled() and any(t.requires_grad for t in (q, wk, kb, v))
    if training and c > q.shape[2]:
        # wider candidates than keys (despike-paper): the broadcast products below would
        # hold N·h·c values a pixel against the explicit keys' N·h·d
        return candidate_attention_explicit(q, wk, kb, v)
    qw = torch.einsum("hdc,bhdxy->bhcxy", wk, q)                            # (B, h, c, H, W)
    logits = torch.einsum("nmhd,bhdxy->bnmhxy", kb.reshape(n, m, hd, -1), q)  # (B, n, m, h, ..)
    if training:
        # training: broadcast products (autograd through the loops below would make a
        # full-size zero gradient for every slice, 2x slower than the explicit keys)
        logits = logits + (v.unsqueeze(3) * qw[:, None, None]).sum(4)
        a = torch.softmax(logits.reshape(b, n * m, hd, *size) / math.sqrt(q.shape[2]), dim=1)
        return (a.view(b, n, m, hd, 1, *size) * v.unsqueeze(3)).sum((1, 2)), a
    for i in range(c):
        logits = logits + v[:, :, :, None, i] * qw[:, None, None, :, i]
    a = torch.softmax(logits.reshape(b, n * m, hd, *size) / math.sqrt(q.shape[2]), dim=1)
    out = None
    for j in range(n * m):
        term = a[:, j, :, None] * v[:, j // m, j % m, None]
        out = term if out is None else out + term
    return out, a


class CandidateFusion(nn.Module):
    """Fuse ``(B, N, Ce, H, W)`` candidates under a ``(B, C, H, W)`` context -> ``(B, C, H, W)``.

    Candidates come as ``(B, N, Ce, H, W)`` or as the kernel bank's ``(B, n, m, Ce, H, W)``
    (``N = n·m``, window-major). Queries come from the context, keys from the candidates
    (a 1x1 projection to ``key_dim`` per head plus a learned per-candidate embedding),
    values are the candidates themselves; the heads' outputs are concatenated and projected to ``C``.
    Projecting after the weighted sum keeps the cost at O(N·Ce·heads) per pixel; the
    keys' projection is folded into the query (:func:`candidate_attention_folded`).
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
        """``cands (B, N, Ce, H, W)`` or ``(B, n, m, Ce, H, W)`` (``N = n·m``, window-major),
        ``ctx (B, C, H, W)`` -> ``(B, C, H, W)`` (and the weights ``(B, N, heads, H, W)``)."""
        b, ce, h, w = cands.shape[0], *cands.shape[-3:]
        n = math.prod(cands.shape[1:-3])                      # candidates N
        if not self.attention:
            out = self.mix(torch.cat([cands.reshape(b, n * ce, h, w), ctx], 1))
            return (out, None) if return_weights else out
        hd, d = self.heads, self.key_dim
        q = self.q(ctx).view(b, hd, d, h, w)
        wk = self.k.weight[:, :, 0, 0].view(hd, d, ce)
        kb = (self.k.bias.view(1, -1) + self.embed).view(n, hd, d)
        out, a = candidate_attention_folded(q, wk, kb, cands)
        out = self.proj(out.reshape(b, hd * ce, h, w))
        return (out, a) if return_weights else out
