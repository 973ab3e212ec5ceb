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

    def forward(self, enc, cands, prev=None):
        """``enc (B, n, Ce, h, w)``, ``cands (B, n·m, Ce, h, w)``, ``prev (B, C', h/2, w/2)``.

        Returns ``rec (B, C, h, w)`` and the residuals ``(B, n, h, w)`` per window.
        """
        b, n, ce, h, w = enc.shape
        ctx = self.context(enc.reshape(b, n * ce, h, w))
        if prev is not None:
            up = F.interpolate(prev, size=(h, w), mode="bilinear", align_corners=False)
            ctx = ctx + self.prev(up)
        rec = self.blocks(ctx + self.fusion(cands, ctx))
        rep = rec.unsqueeze(1).expand(b, n, rec.shape[1], h, w)
        inp = torch.cat([rep, enc], 2).reshape(b * n, -1, h, w)
        return rec, self.head(inp).view(b, n, h, w)
