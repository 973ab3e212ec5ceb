"""The DeSpike loss over the (window × level) grid (despike.md).

``L = λ1 Σ_i Σ_s β_i β_s MSE_{i,s} + λ2 L_FFT + λ3 L_perc``

- the grid: every window ``i`` (β rising with its length, 0.1 ... 1.0) at every level
  ``s`` (1/4, 1/2, 1; ``scale_beta``), against the target area-averaged to that level;
- ``L_FFT`` (MIMO-UNet): L1 between the real and imaginary parts of the 2-D FFTs of
  the final output and the target, orthonormal FFT so the term does not grow with the
  image size;
- ``L_perc`` (``loss.perceptual``), on the final output:

  - ``substitute`` (the bundled models'; LPIPS's weights were not available when they
    were trained): a multi-scale structural term, at full, 1/2 and 1/4 resolution,
    ``(1 - SSIM) + L1 of the image gradients`` (SSIM of Wang et al. 2004, Gaussian
    window 11, σ 1.5);
  - ``lpips-vgg`` / ``lpips-alex``: the paper's term, LPIPS v0.1 (:mod:`restore.lpips`,
    VGG16 as usual for a loss, or AlexNet) of the grey display images replicated to
    three channels, the batch mean; its network is frozen (weights fetched at setup).

Where the terms are computed (``loss.space``):

- ``display`` (default): on the sRGB-encoded scene value ``srgb(λ · to_value)``, the
  space in which the evaluation scores PSNR and SSIM (``to_value = 1 / (k · E)``, the
  oracle exposure; restore/exposure.py). sRGB weighs an error in a dark region up to
  ~3x more than the same error in a bright one, which a linear loss ignores. The encoding
  is continued outside [0, 1] (the linear toe below 0, the power law above 1) so a
  prediction out of range still gets a gradient back;
- ``linear``: on ``λ`` divided by the per-image scale the network uses (every light level
  weighs the same), the first bundled model's choice.
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from .configs import LossConfig, ModelConfig

_C1, _C2 = 0.01 ** 2, 0.03 ** 2      # SSIM constants for a dynamic range of 1


def _gauss_window(dtype, device, size: int = 11, sigma: float = 1.5):
    x = torch.arange(size, dtype=dtype, device=device) - size // 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of ``(B, H, W)`` images (valid region, Gaussian 11-tap, σ 1.5)."""
    g = _gauss_window(x.dtype, x.device)
    size = g.numel()
    if min(x.shape[-2:]) < size:
        return torch.ones((), dtype=x.dtype, device=x.device)

    def blur(z):
        z = z.unsqueeze(1)
        z = F.conv2d(z, g.view(1, 1, 1, -1))
        return F.conv2d(z, g.view(1, 1, -1, 1)).squeeze(1)

    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cxy = blur(x * y) - mx * my
    s = ((2 * mx * my + _C1) * (2 * cxy + _C2)) / ((mx * mx + my * my + _C1) * (vx + vy + _C2))
    return s.mean()


def gradient_l1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """L1 between horizontal and vertical finite differences of ``(B, H, W)`` images."""
    dx = (x[..., :, 1:] - x[..., :, :-1]) - (y[..., :, 1:] - y[..., :, :-1])
    dy = (x[..., 1:, :] - x[..., :-1, :]) - (y[..., 1:, :] - y[..., :-1, :])
    return dx.abs().mean() + dy.abs().mean()


def srgb_continued(x: torch.Tensor) -> torch.Tensor:
    """sRGB encoding (IEC 61966-2-1) continued outside [0, 1]: linear toe (slope 12.92)
    for every value below 0.0031308, the power law above (also past 1)."""
    return torch.where(x <= 0.0031308, 12.92 * x,
                       1.055 * x.clamp(min=0.0031308) ** (1 / 2.4) - 0.055)


def fft_l1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """MIMO-UNet frequency loss: L1 of the real and imaginary FFT differences (ortho)."""
    d = torch.fft.rfft2(x.float(), norm="ortho") - torch.fft.rfft2(y.float(), norm="ortho")
    return d.real.abs().mean() + d.imag.abs().mean()


def perceptual_substitute(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``mean over 3 scales of (1 - SSIM) + gradient L1`` (the documented LPIPS substitute)."""
    total = 0.0
    for f in (1, 2, 4):
        xs = F.avg_pool2d(x.unsqueeze(1), f).squeeze(1) if f > 1 else x
        ys = F.avg_pool2d(y.unsqueeze(1), f).squeeze(1) if f > 1 else y
        total = total + (1.0 - ssim(xs, ys)) + gradient_l1(xs, ys)
    return total / 3.0


class DeSpikeLoss(nn.Module):
    """The loss of one configuration; ``forward(outputs, target, to_value) -> (total, terms)``."""

    def __init__(self, loss: LossConfig, model: ModelConfig):
        super().__init__()
        self.cfg = loss
        windows = list(model.windows)
        used = list(model.used_windows)
        beta = list(loss.window_beta)
        if len(beta) != len(windows):
            from spikesim.errors import ConfigError

            raise ConfigError("loss.window_beta", beta, f"{len(windows)} values (one per window)",
                              "give one β per window of model.windows")
        self.window_beta = [beta[windows.index(w)] for w in used]
        self.scale_beta = list(loss.scale_beta) if model.multi_scale else [loss.scale_beta[-1]]
        self.lpips = None
        if loss.perceptual != "substitute" and loss.lambda_perc:
            from restore.lpips import LPIPS

            self.lpips = LPIPS(loss.perceptual.removeprefix("lpips-"))

    def perceptual(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """λ3's term of ``(B, H, W)`` display images: LPIPS (batch mean) or the substitute."""
        if self.lpips is not None:
            return self.lpips(out.unsqueeze(1), target.unsqueeze(1)).mean()
        return perceptual_substitute(out, target)

    def weights(self) -> torch.Tensor:
        """``(levels, windows)`` β products used for the MSE grid."""
        return torch.tensor([[bs * bw for bw in self.window_beta] for bs in self.scale_beta])

    def forward(self, outputs: dict, target: torch.Tensor, to_value: torch.Tensor | None = None):
        """``outputs`` from :class:`~.model.DeSpikeNet`; ``target (B, H, W)`` in λ units;
        ``to_value (B,)`` maps λ to the scene value (needed by ``space: display``)."""
        if self.cfg.space == "display":
            if to_value is None:
                raise ValueError("loss space 'display' needs to_value (1 / (k · E)) per image")
            tv = to_value.detach().view(-1, 1, 1).to(target.dtype)

            def to_space(v):
                return srgb_continued(v * (tv.unsqueeze(1) if v.dim() == 4 else tv))
        else:
            scale = outputs["scale"].detach().view(-1, 1, 1)

            def to_space(v):
                return v / (scale.unsqueeze(1) if v.dim() == 4 else scale)
        mse = 0.0
        terms = {}
        for bs, pred in zip(self.scale_beta, outputs["grid"]):
            f = target.shape[-1] // pred.shape[-1]
            tl = F.avg_pool2d(target.unsqueeze(1), f).squeeze(1) if f > 1 else target
            ts = to_space(tl)
            p = to_space(pred)
            per_window = ((p - ts.unsqueeze(1)) ** 2).mean(dim=(0, 2, 3))
            for bw, m in zip(self.window_beta, per_window):
                mse = mse + bs * bw * m
        t = to_space(target)
        out = to_space(outputs["out"])
        terms["mse_grid"] = mse
        terms["mse_final"] = ((out - t) ** 2).mean()
        terms["fft"] = fft_l1(out, t) if self.cfg.lambda_fft else out.new_zeros(())
        terms["perc"] = self.perceptual(out, t) if self.cfg.lambda_perc else out.new_zeros(())
        total = (self.cfg.lambda_mse * mse + self.cfg.lambda_fft * terms["fft"]
                 + self.cfg.lambda_perc * terms["perc"])
        return total, {k: float(v.detach()) for k, v in terms.items()}
