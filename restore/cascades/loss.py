"""The loss of a cascade stage: DeSpike's terms on the network's own outputs.

``L = λ1 Σ_s β_s MSE_s + λ2 L_FFT + λ3 L_perc`` with the weights, the perceptual term and
the space (display or linear) of the training config's ``loss:``
(:class:`restore.despike.configs.LossConfig`), computed by the functions of
:mod:`restore.despike.loss`. The MSE sum runs over the network's outputs, coarse to fine
(GKMNet: its scales; Spk2ImgNet: its one output), weighted by the last entries of
``scale_beta`` and compared with the target area-averaged to each; ``window_beta`` does
not apply (the cascade networks predict one image per scale, not one per window).
"""

from __future__ import annotations

import torch.nn.functional as F

from restore.despike.loss import DeSpikeLoss, fft_l1, srgb_continued


class CascadeLoss(DeSpikeLoss):
    """``forward(outputs, target, to_value) -> (total, terms)``, the terms ``despike``'s
    training logs (``mse_grid``, ``mse_final``, ``fft``, ``perc``)."""

    def forward(self, outputs: dict, target, to_value=None):
        if self.cfg.space == "display":
            if to_value is None:
                raise ValueError("loss space 'display' needs to_value (1 / (k · E)) per image")
            tv = to_value.detach().view(-1, 1, 1, 1).to(target.dtype)

            def to_space(v):        # v (B, 1, h, w)
                return srgb_continued(v * tv)
        else:
            scale = outputs["scale"].detach().view(-1, 1, 1, 1)

            def to_space(v):
                return v / scale
        grid = outputs["grid"]
        betas = list(self.cfg.scale_beta)[-len(grid):]
        t = target.unsqueeze(1)
        mse = 0.0
        for beta, pred in zip(betas, grid):
            f = max(1, round(target.shape[-1] / pred.shape[-1]))
            tl = F.avg_pool2d(t, f) if f > 1 else t
            p = pred[..., :tl.shape[-2], :tl.shape[-1]]
            mse = mse + beta * ((to_space(p) - to_space(tl)) ** 2).mean()
        out, ts = to_space(outputs["out"].unsqueeze(1))[:, 0], to_space(t)[:, 0]
        terms = {"mse_grid": mse, "mse_final": ((out - ts) ** 2).mean(),
                 "fft": fft_l1(out, ts) if self.cfg.lambda_fft else out.new_zeros(()),
                 "perc": self.perceptual(out, ts) if self.cfg.lambda_perc else out.new_zeros(())}
        total = (self.cfg.lambda_mse * mse + self.cfg.lambda_fft * terms["fft"]
                 + self.cfg.lambda_perc * terms["perc"])
        return total, {k: float(v.detach()) for k, v in terms.items()}
