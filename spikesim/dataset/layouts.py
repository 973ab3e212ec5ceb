"""Depth layouts for photographs: how far each pixel of a picture is, before the optics.

A photograph has no depth of its own; a layout gives it one, so that its blur varies in
space and across the focal plane. Only the order in inverse depth matters:
:func:`~spikesim.dataset.draws.sample_geometry` remaps the inverse depth affinely to the
drawn lens, median depth and CoC spread, which keeps every layout's kind (a constant
stays constant, a linear ramp linear, two levels two levels).

``random``
    today's smooth random depth (:func:`~spikesim.dataset.draws.random_depth`: a tilted
    plane plus 1/f^3.5 noise in inverse depth).
``plane``
    a fronto-parallel plane: one depth, so one blur over the whole picture.
``ramp``
    a slanted plane, tilted in a direction drawn uniformly: inverse depth linear in the
    pixel coordinates (a plane in space projects so), from the near edge to the far one.
``objects``
    one to three near objects over a far plane: smooth blobs (a circle with low-order
    harmonic wobble) or polygons (3-7 corners), drawn anti-aliased; ``cover`` (H, W) in
    [0, 1] is their coverage, to paste other content into them, and the depth has two
    levels, near where ``cover >= 0.5``. The renderer's layered compositing makes the
    occlusion (the near layer's blur spreads over the far one, never the reverse).

Which layout a sample gets: ``depth_layouts`` (name -> weight) through
:func:`spikesim.dataset.shares.allot`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .. import settings
from .draws import random_depth

LAYOUTS = ("random", "plane", "ramp", "objects")
# The proportions source: mixed uses when depth_layouts is empty (config.py documents them).
DEFAULT_LAYOUT_WEIGHTS = {"random": 0.3, "plane": 0.15, "ramp": 0.25, "objects": 0.3}
FAR_DEPTH_M = 2.0            # the layouts' own scale (inverse depth 0.5 .. 1 per metre);
NEAR_DEPTH_M = 1.0           # sample_geometry replaces it by the drawn one


@dataclass(frozen=True)
class Layout:
    """A depth layout of one picture.

    kind : one of :data:`LAYOUTS`
    depth : (H, W) float32, metres in [NEAR_DEPTH_M, FAR_DEPTH_M] (its order is what counts)
    cover : (H, W) float32 in [0, 1], the near objects' anti-aliased coverage
        (``objects`` only, else ``None``)
    """

    kind: str
    depth: np.ndarray
    cover: Optional[np.ndarray] = None


def _from_inverse(u: np.ndarray) -> np.ndarray:
    """Depth (m) of a normalised inverse depth ``u`` in [0, 1] (0: far, 1: near)."""
    return (1.0 / (1.0 / FAR_DEPTH_M + u * (1.0 / NEAR_DEPTH_M - 1.0 / FAR_DEPTH_M))
            ).astype(np.float32)


def ramp_inverse_depth(height: int, width: int, angle: float) -> np.ndarray:
    """Normalised inverse depth (H, W) float64 in [0, 1], linear in the pixel coordinates,
    rising along ``angle`` (radians; 0: nearer to the right, pi/2: nearer downwards)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    u = math.cos(angle) * (xx - (width - 1) / 2.0) + math.sin(angle) * (yy - (height - 1) / 2.0)
    span = float(u.max() - u.min())
    return (u - u.min()) / span if span > 0 else np.zeros_like(u)


def _outline(rng, cy: float, cx: float, r0: float) -> np.ndarray:
    """Corners (m, 2) as (x, y) px of one object: a wobbly blob or a polygon, turned and
    stretched at random."""
    if rng.random() < 0.5:                       # blob: r(t) = r0 (1 + sum a_k cos(k t + p_k))
        t = np.linspace(0.0, 2.0 * math.pi, settings.DATASET_BLOB_CORNERS, endpoint=False)
        k = np.arange(2, 6)
        amp = rng.uniform(0.0, 0.5, k.size) / k
        phase = rng.uniform(0.0, 2.0 * math.pi, k.size)
        r = r0 * (1.0 + (amp[:, None] * np.cos(k[:, None] * t + phase[:, None])).sum(0))
    else:                                        # polygon: 3-7 corners, jittered angles
        m = int(rng.integers(3, 8))
        t = 2.0 * math.pi * (np.arange(m) + rng.uniform(-0.3, 0.3, m)) / m
        r = r0 * rng.uniform(0.6, 1.0, m)
    stretch, turn = rng.uniform(0.6, 1.0), rng.uniform(0.0, 2.0 * math.pi)
    x, y = r * np.cos(t), stretch * r * np.sin(t)
    c, s = math.cos(turn), math.sin(turn)
    return np.stack([cx + c * x - s * y, cy + s * x + c * y], axis=1)


def objects_cover(height: int, width: int, rng) -> np.ndarray:
    """Coverage (H, W) float32 in [0, 1] of one to three near objects (see module doc),
    rasterised at ``settings.DATASET_OBJECT_SUPERSAMPLE`` x and box-averaged. Each object's
    centre lies in the middle 80 % of the frame; its radius is 12-30 % of the short side."""
    from PIL import Image, ImageDraw

    ss = settings.DATASET_OBJECT_SUPERSAMPLE
    canvas = Image.new("L", (width * ss, height * ss), 0)
    draw = ImageDraw.Draw(canvas)
    short = min(height, width)
    for _ in range(int(rng.integers(1, 4))):
        cy, cx = rng.uniform(0.1, 0.9) * height, rng.uniform(0.1, 0.9) * width
        corners = _outline(rng, cy, cx, rng.uniform(0.12, 0.30) * short) * ss
        draw.polygon([tuple(p) for p in corners], fill=255)
    hi = np.asarray(canvas, dtype=np.float32) / np.float32(255.0)
    return hi.reshape(height, ss, width, ss).mean(axis=(1, 3)).astype(np.float32)


def make_layout(kind: str, height: int, width: int, rng) -> Layout:
    """A :class:`Layout` of ``kind`` for an ``(height, width)`` picture, its randomness
    from ``rng`` (the sample's scene stream)."""
    if kind == "random":
        return Layout(kind, random_depth(height, width, rng))
    if kind == "plane":
        return Layout(kind, np.full((height, width), FAR_DEPTH_M, dtype=np.float32))
    if kind == "ramp":
        angle = rng.uniform(0.0, 2.0 * math.pi)
        return Layout(kind, _from_inverse(ramp_inverse_depth(height, width, angle)))
    if kind == "objects":
        cover = objects_cover(height, width, rng)
        return Layout(kind, _from_inverse((cover >= 0.5).astype(np.float64)), cover)
    raise ValueError(f"unknown depth layout {kind!r}; one of {', '.join(LAYOUTS)}")
