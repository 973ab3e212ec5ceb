"""Photographic bokeh kept in a photograph's sharp target (``photo_bokeh``).

A photograph taken with a shallow depth of field holds soft, out-of-focus regions in the
picture itself: in a target made from it they are scene content, not the spike camera's
defocus, and a restoration should leave them soft. Natural test photographs have them
(docs/results.md, "Where the fine-tune loses to plain TFP"); most training photographs and
every procedural scene do not, so a network learns to sharpen every soft edge.

``photo_bokeh: p`` gives a share ``p`` of the photograph samples such a target: the
photograph is blurred by a second, virtual "photographer's" lens focused at a depth of
the sample's own depth map, **before** the camera's optics act on it. The blur is
Gaussian with a standard deviation that grows with the defocus of that lens,

    σ_b(x) = σ_max · |1/z(x) − 1/z_f| / max_x |1/z(x) − 1/z_f|      (px),

(the thin-lens circle of confusion is proportional to ``|1/z − 1/z_f|``), ``σ_max`` drawn
from ``photo_bokeh_sigma`` and ``z_f`` a random quantile of the depth map. It is a gather
blur (each output pixel a blend of the picture blurred at the two nearest of
``settings.DATASET_BOKEH_LEVELS`` σ levels), enough for a soft target; the camera's own
defocus stays the physical layered renderer of :mod:`spikesim.render`.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from .. import settings
from ..config import Lens
from ..errors import InputError
from ..optics import coc_per_inverse_depth


def bokeh_sigma(depth, focus_depth: float, sigma_max: float) -> np.ndarray:
    """``σ_b (H, W)`` px of the module doc for ``depth (H, W)`` m, focused at
    ``focus_depth`` m; 0 everywhere when the depth map is flat at the focus."""
    inv = np.abs(1.0 / np.asarray(depth, np.float64) - 1.0 / float(focus_depth))
    top = float(inv.max())
    if top <= 0.0 or sigma_max <= 0.0:
        return np.zeros(inv.shape, np.float64)
    return float(sigma_max) * inv / top


def photographic_bokeh(image, sigma, levels: int = settings.DATASET_BOKEH_LEVELS) -> np.ndarray:
    """``image (H, W[, C])`` linear, blurred per pixel by ``sigma (H, W)`` px: the image
    Gaussian-blurred at ``levels`` σ evenly spaced from 0 to ``sigma.max()`` (0: the image
    itself), each pixel linearly interpolated between its two neighbouring levels. Where
    ``sigma`` is 0 the pixel is unchanged; where it is the maximum it is exactly the
    image blurred at the maximum. Returns float32 of ``image``'s shape."""
    image = np.asarray(image, np.float32)
    sigma = np.asarray(sigma, np.float64)
    top = float(sigma.max()) if sigma.size else 0.0
    if top <= 0.0:
        return image.copy()
    if levels < 2:
        raise ValueError(f"levels must be at least 2, got {levels}")
    steps = np.linspace(0.0, top, levels)
    extra = (0.0,) * (image.ndim - 2)                  # never blur across colour channels
    stack = np.stack([image] + [gaussian_filter(image, (s, s) + extra, mode="reflect")
                                for s in steps[1:]])
    pos = sigma / top * (levels - 1)
    k = np.minimum(np.floor(pos).astype(np.int64), levels - 2)
    t = (pos - k).astype(np.float32)
    if image.ndim > 2:                                 # one weight per pixel, every channel
        k, t = k[..., None], t[..., None]
    lower = np.take_along_axis(stack, k[None], axis=0)[0]
    upper = np.take_along_axis(stack, k[None] + 1, axis=0)[0]
    return ((1.0 - t) * lower + t * upper).astype(np.float32)


def matching_lens(depth, focus_depth: float, sigma_max: float, pixel_pitch: float,
                  focal_length: float = 0.025):
    """The thin lens whose own defocus σ map on ``depth`` ((H, W) m) is
    :func:`bokeh_sigma` ``(depth, focus_depth, sigma_max)``: focused at ``focus_depth`` m,
    no σ floor (σ = |c| / 4), on pixels of ``pixel_pitch`` m, focal length ``focal_length``
    m, and the f-number that makes the largest σ ``sigma_max`` px (the CoC per dioptre,
    ``A v_f / p``, is inversely proportional to ``N``). A soft picture seen through an
    in-focus camera and the sharp picture seen through this lens reach the sensor alike
    (examples/bokeh_ambiguity.py). Returns a :class:`spikesim.config.Lens`."""
    spread = float(np.abs(1.0 / np.asarray(depth, np.float64) - 1.0 / float(focus_depth)).max())
    if spread <= 0.0 or not sigma_max > 0.0:
        bad = ("sigma_max", sigma_max) if not sigma_max > 0.0 else ("depth", "flat at the focus")
        raise InputError(bad[0], bad[1], "sigma_max > 0 px and depth off the focus",
                         "give a depth map that varies, or a positive sigma_max")
    at_f1 = Lens(focal_length=focal_length, f_number=1.0, focus_distance=float(focus_depth),
                 sigma_floor=0.0)
    needed = 4.0 * float(sigma_max) / spread             # px of CoC per dioptre
    return Lens(focal_length=focal_length,
                f_number=coc_per_inverse_depth(at_f1, pixel_pitch) / needed,
                focus_distance=float(focus_depth), sigma_floor=0.0)
