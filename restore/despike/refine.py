"""Multi-spatial-scale iterative refinement (three levels: 1/4, 1/2, 1).

At level ``s`` (despike.md, ``Rec_j = M(T(F), Rec_{j-1}↑ ⊗ ∪_p k_p * F)``):

1. the IF features are resampled (area average) to the level's size and lifted by the
   shared shallow encoder, window by window;
2. the shared kernel bank gives the ``n × m`` candidates ``k_p * F``;
3. the context is the concatenation of all windows' encodings, mixed to the level's
   width, plus the previous level's reconstruction upsampled (``Rec_{j-1}↑``); the
   candidate attention (``⊗``) fuses the candidates under that context;
4. ``M`` is element-wise addition of context and fused candidates, followed by the
   transformer blocks ``T`` -> ``Rec_j`` (features).

Per-(window, level) predictions (the loss grid): a light head shared by all windows of
a level reads ``Rec_j`` together with window ``i``'s own encoding and adds a residual to
that window's (normalised, linearised) rate. The final output is the finest level's
prediction for the longest window, which depends on every window through ``Rec_j``.
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from .attention import CandidateFusion, TransformerBlock


HEADS = ("all", "last", "none")          # which predictions a level makes (Level.forward)


class Level(nn.Module):
    """One refinement level (its own widths; encoder and kernel bank are shared)."""

    def __init__(self, enc_channels: int, width: int, depth: int, heads: int,
                 fusion_heads: int, n_windows: int, n_kernels: int, expansion: float,
                 attention: bool, prev_width: int | None, key_dim: int = 8):
        super().__init__()
        self.n_windows = n_windows
        self.context = nn.Conv2d(n_windows * enc_channels, width, 1)
        self.prev = nn.Conv2d(prev_width, width, 1) if prev_width else None
        self.fusion = CandidateFusion(enc_channels, width, fusion_heads,
                                      n_windows * n_kernels, attention, key_dim)
        self.blocks = nn.Sequential(*[TransformerBlock(width, heads, expansion, attention)
                                      for _ in range(depth)])
        self.head = nn.Conv2d(width + enc_channels, 1, 3, padding=1, padding_mode="replicate")
        # zero-initialised residual head: an untrained network returns each window's
        # linearised rate (TFP), and training starts from the classical estimate
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, enc, cands, prev=None, heads: str = "all"):
        """``enc (B, n, Ce, h, w)``, ``cands (B, n, m, Ce, h, w)``, ``prev (B, C', h/2, w/2)``.

        Returns ``rec (B, C, h, w)`` and the residuals: ``(B, n, h, w)`` per window with
        ``heads="all"`` (training's loss grid), ``(B, 1, h, w)`` of the longest window
        only with ``heads="last"`` (inference: the same values, 1/n of the head's cost),
        ``None`` with ``heads="none"`` (a coarse level at inference).
        """
        if heads not in HEADS:
            raise ValueError(f"heads must be one of {HEADS}, got {heads!r}")
        b, n, ce, h, w = enc.shape
        ctx = self.context(enc.reshape(b, n * ce, h, w))
        if prev is not None:
            up = F.interpolate(prev, size=(h, w), mode="bilinear", align_corners=False)
            ctx = ctx + self.prev(up)
        rec = self.blocks(ctx + self.fusion(cands, ctx))
        if heads == "none":
            return rec, None
        return rec, self._head(rec, enc[:, -1:] if heads == "last" else enc)

    def _head(self, rec, enc):
        """The head on ``[rec, enc_i]`` for every window ``i`` of ``enc (B, k, Ce, h, w)``
        -> ``(B, k, h, w)``. The convolution is linear, so the shared ``rec`` part is
        convolved once, not once per window (the weights are the one ``head``
        convolution's, split by input channel): the same values as convolving the
        concatenation, about 5x less of the head's work."""
        b, k, ce, h, w = enc.shape
        width = rec.shape[1]
        weight, pad = self.head.weight, self.head.padding[0]
        shared = _conv_replicate(rec, weight[:, :width], None, pad)          # (B, 1, h, w)
        own = _conv_replicate(enc.reshape(b * k, ce, h, w), weight[:, width:], self.head.bias, pad)
        return own.view(b, k, h, w) + shared

    def head_concatenated(self, rec, enc):
        """:meth:`_head` as the weights define it, one convolution of ``[rec, enc_i]`` per
        window: the reference it must match (tests, bench/bench_despike_paths.py)."""
        b, k, ce, h, w = enc.shape
        inp = torch.cat([rec.unsqueeze(1).expand(b, k, rec.shape[1], h, w), enc], 2)
        return self.head(inp.reshape(b * k, -1, h, w)).view(b, k, h, w)


def _conv_replicate(x, weight, bias, pad: int):
    """``conv2d`` with ``pad`` replicated border pixels on every side (the head's padding)."""
    return F.conv2d(F.pad(x, (pad,) * 4, mode="replicate"), weight, bias)
