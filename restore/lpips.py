"""LPIPS, the learned perceptual image distance (Zhang et al., CVPR 2018), version 0.1.

The toolkit's own torch implementation, written from the paper's description; the
weights are the reference LPIPS v0.1 values, fetched at setup by
:mod:`restore.lpips_weights` (nothing is downloaded at run time).

For two images ``x0, x1`` in [0, 1]:

1. scale to [-1, 1] (``2x - 1``), then normalise each channel as LPIPS v0.1 does,
   ``(x - shift) / scale`` with :data:`INPUT_SHIFT` / :data:`INPUT_SCALE`;
2. run the ImageNet backbone (AlexNet or VGG16) and keep five ReLU feature maps
   (:data:`BACKBONES`);
3. unit-normalise every feature vector over channels, ``f / ||f||``;
4. square the difference of the two images' normalised features, weight the channels
   with the learned non-negative 1x1 ``lin`` layer of that level (a weighted sum over
   channels), and average over the map;
5. sum the five levels.

Identical images give exactly 0. AlexNet is the metric the paper reports; VGG16 is the
usual choice for a loss. Images are compared as given: pass **sRGB-encoded** values in
[0, 1], as for PSNR and SSIM (:mod:`restore.metrics`). **Grey images are replicated to
three channels** (the network was trained on RGB). Both sides must be at least
:data:`MIN_SIDE` pixels.

Two entry points:

- :class:`LPIPS` — a frozen ``nn.Module``; ``LPIPS(net)(a, b)`` takes ``(N, C, H, W)``
  tensors (``C`` 1 or 3) and returns ``(N,)`` distances, differentiable in the inputs
  (for use as a loss). Its weights are non-persistent buffers: they move with ``.to()``
  but are not parameters of a model that holds it and are not saved in its state dict.
- :func:`lpips_distance` — numpy images in, float (or ``(N,)`` float64 array) out, batched,
  on CPU or CUDA.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from spikesim.errors import InputError

from . import lpips_weights

# LPIPS v0.1's input normalisation, applied to images scaled to [-1, 1] (per RGB channel)
INPUT_SHIFT = (-0.030, -0.088, -0.188)
INPUT_SCALE = (0.458, 0.448, 0.450)
# epsilon of the channel normalisation: f / sqrt(sum f^2 + eps^2) (see _unit_normalise)
NORM_EPS = 1e-10

# backbone layout: five stages, each an optional max pool (kernel, stride) and then
# convolutions (index, stride, padding), each followed by a ReLU; the output of each
# stage's last ReLU is one LPIPS level.
#   AlexNet: relu1..relu5 (torchvision's AlexNet features).
#   VGG16: relu1_2, relu2_2, relu3_3, relu4_3, relu5_3.
BACKBONES = {
    "alex": (
        (None, ((0, 4, 2),)),
        ((3, 2), ((1, 1, 2),)),
        ((3, 2), ((2, 1, 1),)),
        (None, ((3, 1, 1),)),
        (None, ((4, 1, 1),)),
    ),
    "vgg": (
        (None, ((0, 1, 1), (1, 1, 1))),
        ((2, 2), ((2, 1, 1), (3, 1, 1))),
        ((2, 2), ((4, 1, 1), (5, 1, 1), (6, 1, 1))),
        ((2, 2), ((7, 1, 1), (8, 1, 1), (9, 1, 1))),
        ((2, 2), ((10, 1, 1), (11, 1, 1), (12, 1, 1))),
    ),
}
# smallest image side (px) whose every level has at least one pixel
MIN_SIDE = {"alex": 31, "vgg": 16}
DEFAULT_BATCH = 16


def _unit_normalise(features: torch.Tensor) -> torch.Tensor:
    """``f / sqrt(Σ_c f² + ε²)`` over the channel axis of ``(N, C, H, W)``.

    The same values as ``f / (||f|| + ε)`` to float precision, with a finite gradient
    where a feature vector is zero.
    """
    return features * torch.rsqrt(features.square().sum(dim=1, keepdim=True) + NORM_EPS ** 2)


def backbone_features(x: torch.Tensor, weights: dict, net: str) -> list:
    """The five ReLU feature maps ``[(N, C_k, H_k, W_k)]`` of normalised input ``x``."""
    levels = []
    for pool, convs in BACKBONES[net]:
        if pool is not None:
            x = F.max_pool2d(x, kernel_size=pool[0], stride=pool[1])
        for index, stride, padding in convs:
            x = F.conv2d(x, weights[f"conv{index}.weight"], weights[f"conv{index}.bias"],
                         stride=stride, padding=padding)
            x = F.relu(x)
        levels.append(x)
    return levels


def lpips_tensor(a: torch.Tensor, b: torch.Tensor, weights: dict, net: str = "alex") -> torch.Tensor:
    """LPIPS between two batches of images; the functional core of :class:`LPIPS`.

    Parameters
    ----------
    a, b : (N, C, H, W) tensors, C = 1 or 3, values in [0, 1] (sRGB-encoded).
        ``C = 1`` is replicated to three channels.
    weights : dict of tensors
        ``conv{i}.weight/bias``, ``lin{k}.weight``, ``shift``, ``scale`` (``(1, 3, 1, 1)``)
        on the inputs' device and dtype (what :class:`LPIPS` holds).
    net : "alex" or "vgg"

    Returns
    -------
    (N,) tensor, the distances (0 for identical images).
    """
    _check_tensors(a, b, net)
    both = torch.cat([a, b]).expand(-1, 3, -1, -1)
    both = ((2.0 * both - 1.0) - weights["shift"]) / weights["scale"]
    n = a.shape[0]
    total = torch.zeros(n, dtype=a.dtype, device=a.device)
    for k, level in enumerate(backbone_features(both, weights, net)):
        level = _unit_normalise(level)
        diff = (level[:n] - level[n:]).square()
        total = total + F.conv2d(diff, weights[f"lin{k}.weight"]).mean(dim=(1, 2, 3))
    return total


def _check_tensors(a: torch.Tensor, b: torch.Tensor, net: str) -> None:
    if a.ndim != 4 or a.shape != b.shape or a.shape[1] not in (1, 3):
        raise InputError("images", f"shapes {tuple(a.shape)} and {tuple(b.shape)}",
                         "two (N, C, H, W) batches of the same shape, C = 1 or 3",
                         "stack the images and move channels to axis 1")
    if min(a.shape[2:]) < MIN_SIDE[net]:
        raise InputError("images", f"{a.shape[3]}x{a.shape[2]} px",
                         f"both sides at least {MIN_SIDE[net]} px for LPIPS-{net}",
                         "compare larger images or crops")


class LPIPS(nn.Module):
    """Frozen LPIPS v0.1 (``net`` "alex" — the paper's metric — or "vgg").

    ``forward(a, b)``: ``(N, C, H, W)`` tensors in [0, 1] (C = 1 is replicated to three
    channels) -> ``(N,)`` distances. Values are not clipped, so a loss may pass network
    outputs slightly outside [0, 1]. Gradients flow to the inputs; the weights never
    train (non-persistent buffers, not parameters).

    Raises :class:`~spikesim.errors.InputError` when the weights have not been fetched.
    """

    def __init__(self, net: str = "alex"):
        super().__init__()
        self.net = net
        for name, array in lpips_weights.load_weights(net).items():
            self.register_buffer(name.replace(".", "_"), torch.from_numpy(array), persistent=False)
        self.register_buffer("shift", torch.tensor(INPUT_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(INPUT_SCALE).view(1, 3, 1, 1), persistent=False)
        self.eval()

    def weights(self) -> dict:
        """The buffers under the names :func:`lpips_tensor` reads."""
        return {name.replace("_", "."): buf for name, buf in self.named_buffers()}

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return lpips_tensor(a, b, self.weights(), self.net)

    def extra_repr(self) -> str:
        return f"net={self.net!r}"


@functools.lru_cache(maxsize=4)
def _cached_model(net: str, device: str) -> LPIPS:
    return LPIPS(net).to(device)


def _as_batch(image, name: str) -> np.ndarray:
    """``(N, 3 or 1, H, W)`` float32 from (H, W), (H, W, 3), (N, H, W) or (N, H, W, 3)."""
    arr = np.asarray(image)
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] != 3):
        arr = arr[..., None]                              # grey: one channel
    if arr.ndim == 3:
        arr = arr[None]                                   # one image
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3):
        raise InputError(name, f"shape {np.shape(image)}",
                         "(H, W), (H, W, 3), (N, H, W) or (N, H, W, 3)",
                         "pass grey or RGB images, channels last")
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all() or arr.min() < 0.0 or arr.max() > 1.0:
        raise InputError(name, f"values in [{np.nanmin(arr):.3g}, {np.nanmax(arr):.3g}]",
                         "finite sRGB-encoded values in [0, 1]",
                         "clip to [0, 1] first (restore.exposure.to_display does)")
    return np.ascontiguousarray(arr.transpose(0, 3, 1, 2))


def lpips_distance(a, b, net: str = "alex", device: str = "cpu",
                   batch_size: int = DEFAULT_BATCH):
    """LPIPS v0.1 distance between numpy images in [0, 1].

    Parameters
    ----------
    a, b : arrays of the same shape, sRGB-encoded values in [0, 1]
        One image ``(H, W)`` (grey, replicated to three channels) or ``(H, W, 3)`` (RGB),
        or a batch ``(N, H, W)`` / ``(N, H, W, 3)``. A 3-D array whose last axis has
        length 3 is one RGB image. Sides of at least :data:`MIN_SIDE` px.
    net : "alex" (the paper's metric) or "vgg"
    device : str
        Torch device, "cpu" or "cuda"; the model is loaded once per (net, device).
    batch_size : int
        Images a forward pass (bounds memory).

    Returns
    -------
    float for one image pair, ``(N,) float64`` for a batch.
    """
    lpips_weights.check_net(net)
    if np.shape(a) != np.shape(b):
        raise InputError("images", f"shapes {np.shape(a)} and {np.shape(b)}",
                         "two images (or batches) of the same shape",
                         "crop or resize so both match")
    single = np.ndim(a) == 2 or (np.ndim(a) == 3 and np.shape(a)[-1] == 3)
    xa, xb = _as_batch(a, "image"), _as_batch(b, "reference")
    if batch_size < 1:
        raise InputError("batch_size", batch_size, "an integer >= 1")
    model = _cached_model(net, str(torch.device(device)))
    out = []
    with torch.no_grad():
        for start in range(0, len(xa), batch_size):
            ta = torch.from_numpy(xa[start:start + batch_size]).to(model.shift.device)
            tb = torch.from_numpy(xb[start:start + batch_size]).to(model.shift.device)
            out.append(model(ta, tb).double().cpu().numpy())
    distances = np.concatenate(out)
    return float(distances[0]) if single else distances
