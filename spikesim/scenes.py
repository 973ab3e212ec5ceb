"""Procedural scenes with depth, built in (no download).

Every scene is an ``image`` (H, W) float32 of linear scene values in [0, 1] (reflectance
times illumination; the camera's illuminance scales it to lux) and a ``depth`` (H, W)
float32 map of object distances in metres, within ``settings.DEPTH_MIN_M`` ..
``settings.DEPTH_MAX_M`` (0.3 - 20 m). Scenes are deterministic given the
``numpy.random.Generator`` passed in.

Kinds (``SCENE_KINDS``):

- ``dead_leaves``: occluding leaves (discs, ellipses, rectangles) with radius density
  ``∝ r^-3``, each textured (smooth shading gradients, 1/f noise, soft stripes) and at its
  own depth; leaves drawn later in paint order are nearer, so depth is consistent with
  occlusion.
- ``tiled_plane``: a slanted floor or wall of tiles receding in depth (inverse depth is
  affine in image coordinates for a plane), with a smooth sky/background beyond it.
- ``bricks``: a brick wall (running bond, mortar, per-brick colour) seen at a slant.
- ``grille``: a bar grille or wire mesh at a near depth in front of a textured background.
- ``text``: lines of text on a softly shaded slanted sheet, sometimes a nearer sign.
- ``smooth``: 1/f-noise surfaces with soft shading and a smoothly varying depth (skies,
  soft gradients), to keep a network trained on these scenes honest on smooth content.
- ``random``: one of the above, drawn from ``rng`` (``RANDOM_WEIGHTS``).

The textures follow despike.md "Training data": smooth shading and gradients, 1/f-noise
textures and a wide spread of contrast and edge density, not only flat patches.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

import numpy as np

from . import settings
from .errors import InputError

SCENE_KINDS = ("dead_leaves", "tiled_plane", "bricks", "grille", "text", "smooth", "random")
RANDOM_WEIGHTS = {"dead_leaves": 0.35, "tiled_plane": 0.15, "bricks": 0.1, "grille": 0.15,
                  "text": 0.1, "smooth": 0.15}


@dataclass(frozen=True)
class Scene:
    """A scene: ``image`` (H, W) float32 linear in [0, 1]; ``depth`` (H, W) float32 metres;
    ``kind`` the generator's name (for ``random``, the kind actually drawn)."""

    image: np.ndarray
    depth: np.ndarray
    kind: str


# --------------------------------------------------------------------------- helpers

def pink_noise(height: int, width: int, rng, beta: float = 2.0) -> np.ndarray:
    """Zero-mean, unit-s.d. noise with power spectrum ``∝ 1/f^beta`` (natural images:
    beta ≈ 2). ``(H, W)`` float32; periodic (it tiles)."""
    white = rng.standard_normal((height, width))
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    f = np.sqrt(fx * fx + fy * fy)
    f[0, 0] = 1.0
    spec = np.fft.rfft2(white) / f ** (beta / 2.0)
    spec[0, 0] = 0.0
    n = np.fft.irfft2(spec, s=(height, width))
    sd = n.std()
    return (n / sd if sd > 0 else n).astype(np.float32)


def _reflectance(rng, size=None):
    """Base reflectances with a natural spread: uniform in sRGB code values in
    [0.04, 0.96], decoded to linear (mean linear value ≈ 0.25)."""
    from .images import srgb_decode

    return srgb_decode(rng.uniform(0.04, 0.96, size))


def _grid(height, width):
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    return yy, xx


def _lighting(height, width, rng, strength: float = 0.35) -> np.ndarray:
    """A smooth illumination field (mean ≈ 1): a random linear gradient times a very
    low-frequency 1/f field. Shape (H, W) float32."""
    yy, xx = _grid(height, width)
    s = max(height, width)
    ang = rng.uniform(0, 2 * np.pi)
    g = ((xx - width / 2) * np.cos(ang) + (yy - height / 2) * np.sin(ang)) / s
    low = pink_noise(height, width, rng, beta=4.0)
    field = np.exp(strength * (rng.uniform(0.3, 1.5) * g + 0.5 * rng.uniform(0, 1) * low))
    return (field / field.mean()).astype(np.float32)


def _depth_range(rng, depth_range):
    """``(near, far)`` in metres: given (validated) or drawn log-uniformly in 0.3-20 m."""
    lo, hi = settings.DEPTH_MIN_M, settings.DEPTH_MAX_M
    if depth_range is None:
        near = math.exp(rng.uniform(math.log(lo), math.log(3.0)))
        far = min(hi, near * math.exp(rng.uniform(math.log(1.5), math.log(30.0))))
        return near, far
    try:
        near, far = (float(v) for v in depth_range)
    except (TypeError, ValueError):
        raise InputError("depth_range", depth_range, "two numbers (near, far) in metres",
                         "e.g. depth_range=(0.5, 8)") from None
    if not (lo <= near < far <= hi):
        raise InputError("depth_range", depth_range,
                         f"near < far within [{lo}, {hi}] m", "e.g. depth_range=(0.5, 8)")
    return near, far


def _finish(image, depth, kind) -> Scene:
    img = np.maximum(np.asarray(image, np.float64), 0.0)
    img = (img / max(1.0, float(img.max()))).astype(np.float32)   # rescaled, never clipped
    dep = np.clip(depth, settings.DEPTH_MIN_M, settings.DEPTH_MAX_M).astype(np.float32)
    return Scene(np.ascontiguousarray(img), np.ascontiguousarray(dep), kind)


def _texture_bank(height, width, rng):
    """Three 1/f fields of different roughness (beta 1.5, 2, 3), (3, H, W)."""
    return np.stack([pink_noise(height, width, rng, b) for b in (1.5, 2.0, 3.0)])


# --------------------------------------------------------------------------- dead leaves

def _sample_radii(rng, n, rmin, rmax):
    """Radii with density ∝ r^-3 on [rmin, rmax] (inverse CDF)."""
    a, b = rmin ** -2, rmax ** -2
    return (a - rng.random(n) * (a - b)) ** -0.5


def _leaf_inside(leaf, yy, xx):
    """Whether pixel centres (yy, xx) (px, broadcastable) lie inside ``leaf`` =
    (cx, cy, r, shape, ratio, angle); shape 0 disc, 1 ellipse, 2 rotated rectangle."""
    cx, cy, r, shape, ratio, ang = leaf
    dy, dx = yy + 0.5 - cy, xx + 0.5 - cx
    if shape == 0:
        return dx * dx + dy * dy <= r * r
    c, s = math.cos(ang), math.sin(ang)
    u = (dx * c + dy * s) / r
    v = (-dx * s + dy * c) / (r * ratio)
    if shape == 1:
        return u * u + v * v <= 1
    return (np.abs(u) <= 0.8) & (np.abs(v) <= 0.8)


def dead_leaves_labels(height, width, rng, rmin, rmax, max_leaves):
    """Place leaves front to back: ``(label (H, W) int32, leaves list)``; ``label`` is
    the index of the leaf seen at each pixel (-1: none), ``leaves[i]`` its
    ``(cx, cy, r, shape, ratio, angle)``. Leaf ``i`` is in front of every leaf ``j > i``."""
    label = np.full((height, width), -1, np.int32)
    todo = height * width
    batch = 256
    leaves = []
    n = 0
    while todo > 0 and n < max_leaves:
        radii = _sample_radii(rng, batch, rmin, rmax)
        cx = rng.uniform(-0.1 * width, 1.1 * width, batch)
        cy = rng.uniform(-0.1 * height, 1.1 * height, batch)
        shape = rng.choice(3, batch, p=[0.6, 0.25, 0.15])     # disc, ellipse, rectangle
        ratio = rng.uniform(0.4, 1.0, batch)
        ang = rng.uniform(0, np.pi, batch)
        for i in range(batch):
            if todo <= 0 or n >= max_leaves:
                break
            r = radii[i]
            x0, x1 = max(int(cx[i] - r), 0), min(int(cx[i] + r) + 2, width)
            y0, y1 = max(int(cy[i] - r), 0), min(int(cy[i] + r) + 2, height)
            n += 1
            if x0 >= x1 or y0 >= y1:
                continue
            sub = label[y0:y1, x0:x1]
            free = sub < 0
            if not free.any():
                continue
            leaf = (float(cx[i]), float(cy[i]), float(r), int(shape[i]), float(ratio[i]),
                    float(ang[i]))
            inside = _leaf_inside(leaf, np.arange(y0, y1, dtype=np.float64)[:, None],
                                  np.arange(x0, x1, dtype=np.float64)[None, :])
            new = inside & free
            cnt = int(new.sum())
            if cnt:
                sub[new] = len(leaves)
                leaves.append(leaf)
                todo -= cnt
    return label, leaves


def dead_leaves(height, width, rng, depth_range=None, rmin=None, rmax=None,
                max_leaves: int = 10000) -> Scene:
    """Dead-leaves scene with per-leaf depth. Leaves are placed front to back (the first
    placed is the nearest and covers what comes after), which is the same picture as
    painting back to front where later leaves are nearer. Radii in px: density ∝ r^-3 on
    [rmin, rmax] (defaults max(1.5, min(H, W)/80) px and 0.4·min(H, W)); pixels no
    leaf covers after ``max_leaves`` show a textured far plane."""
    near, far = _depth_range(rng, depth_range)
    rmin = max(1.5, min(height, width) / 80.0) if rmin is None else float(rmin)
    rmax = 0.4 * min(height, width) if rmax is None else float(rmax)
    if not (0 < rmin < rmax):
        raise InputError("rmin/rmax", (rmin, rmax), "0 < rmin < rmax (px)", "e.g. 1.5 and 100")
    label, params = dead_leaves_labels(height, width, rng, rmin, rmax, int(max_leaves))
    m = len(params)
    # per-leaf depth: nearest first (placed first), uniform in inverse depth
    inv = np.sort(rng.uniform(1.0 / far, 1.0 / near, m))[::-1]
    leaf_depth = (1.0 / inv).astype(np.float32)
    tex = _texture_bank(height, width, rng)
    base = _reflectance(rng, m).astype(np.float32)
    grad_amp = rng.uniform(0.0, 0.6, m).astype(np.float32) * (rng.random(m) < 0.7)
    grad_ang = rng.uniform(0, 2 * np.pi, m).astype(np.float32)
    noise_sel = rng.integers(0, 3, m)
    noise_amp = (rng.uniform(0.0, 0.5, m) ** 1.5).astype(np.float32)
    stripe_amp = (rng.uniform(0.0, 0.5, m) * (rng.random(m) < 0.2)).astype(np.float32)
    stripe_f = rng.uniform(0.03, 0.3, m).astype(np.float32)
    stripe_ang = rng.uniform(0, np.pi, m).astype(np.float32)
    shift = rng.integers(0, max(height, width), (m, 2))
    leaves = np.array([p[:3] for p in params], np.float32).reshape(-1, 3)
    background = label < 0
    lab = np.where(background, 0, label)
    yy, xx = _grid(height, width)
    if m:
        cxl, cyl, rl = leaves[lab, 0], leaves[lab, 1], leaves[lab, 2]
        dx, dy = (xx - cxl) / rl, (yy - cyl) / rl
        ga = grad_ang[lab]
        shade = 1.0 + grad_amp[lab] * (dx * np.cos(ga) + dy * np.sin(ga))
        ny = (yy.astype(np.intp) + shift[lab, 0]) % height
        nx = (xx.astype(np.intp) + shift[lab, 1]) % width
        noise = tex[noise_sel[lab], ny, nx]
        sa = stripe_ang[lab]
        stripe = np.sin(2 * np.pi * stripe_f[lab] * (xx * np.cos(sa) + yy * np.sin(sa)))
        value = base[lab] * np.maximum(shade, 0.2) * np.exp(noise_amp[lab] * noise) * (
            1.0 + stripe_amp[lab] * stripe)
        depth = leaf_depth[lab]
    else:
        value = np.zeros((height, width), np.float32)
        depth = np.full((height, width), far, np.float32)
    if background.any():                 # whatever no leaf covered: a textured far plane
        bg = _reflectance(rng) * np.exp(0.3 * tex[1])
        value = np.where(background, bg, value)
        depth = np.where(background, far, depth)
    value = value * _lighting(height, width, rng, strength=rng.uniform(0.0, 0.5))
    return _finish(value, depth, "dead_leaves")


# --------------------------------------------------------------------------- planes

def _plane(height, width, rng, normal, distance, f_px, supersample=2):
    """Ray-plane intersection for a pinhole camera (looking along +Z, image y down).

    Returns depth Z (H*s, W*s) along the optical axis (inf where the ray misses the
    plane), plane coordinates (a, b) in metres and the pixel footprint in metres.
    """
    s = supersample
    yy, xx = np.mgrid[0:height * s, 0:width * s].astype(np.float64)
    rx = ((xx + 0.5) / s - width / 2) / f_px
    ry = ((yy + 0.5) / s - height / 2) / f_px
    n = np.asarray(normal, np.float64)
    n = n / np.linalg.norm(n)
    ndotr = n[0] * rx + n[1] * ry + n[2]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(ndotr > 1e-9, distance / ndotr, np.inf)
    # in-plane orthonormal basis
    # e1 horizontal on walls (bricks and text run level), along the floor otherwise
    helper = np.array([0.0, 1.0, 0.0]) if abs(n[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    e1 = np.cross(n, helper)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(n, e1)
    zf = np.where(np.isfinite(z), z, 0.0)
    px, py, pz = rx * zf, ry * zf, zf
    a = px * e1[0] + py * e1[1] + pz * e1[2]
    b = px * e2[0] + py * e2[1] + pz * e2[2]
    with np.errstate(divide="ignore", invalid="ignore"):
        footprint = np.where(np.isfinite(z), zf / (f_px * np.maximum(ndotr, 1e-3)), np.inf)
    return z, a, b, footprint


def _down(arr, s):
    """Box-average an (H*s, W*s) array down to (H, W)."""
    if s == 1:
        return arr
    h, w = arr.shape[0] // s, arr.shape[1] // s
    return arr.reshape(h, s, w, s).mean(axis=(1, 3))


def _aa(footprint, period):
    """Contrast kept for a pattern of ``period`` metres at a pixel footprint (anti-alias)."""
    return np.exp(-(footprint / (0.35 * period)) ** 2)


def _sky(height, width, rng, s):
    """Smooth background: a vertical gradient with soft 1/f clouds, (H*s, W*s)."""
    yy = np.linspace(0, 1, height * s, dtype=np.float32)[:, None]
    top, bottom = _reflectance(rng, 2)
    clouds = pink_noise(height * s, width * s, rng, beta=3.0)
    return (top + (bottom - top) * yy) * np.exp(rng.uniform(0.05, 0.35) * clouds)


def _random_plane_pose(rng, kind):
    """Unit normal (camera coordinates: X right, Y down, Z forward) of a floor seen by a
    camera pitched down, or of a wall seen at a yaw and tilt."""
    if kind == "floor":
        pitch = rng.uniform(0.1, 0.8)                 # radians the camera looks down
        n = np.array([rng.uniform(-0.1, 0.1), math.cos(pitch), math.sin(pitch)])
    else:
        yaw, tilt = rng.uniform(-1.1, 1.1), rng.uniform(-0.4, 0.4)
        n = np.array([math.sin(yaw), math.sin(tilt), math.cos(yaw) * math.cos(tilt)])
    return n / np.linalg.norm(n)


def _planar_scene(height, width, rng, depth_range, pattern, kind, f_px=None, pose=None):
    near, far = _depth_range(rng, depth_range)
    s = 2
    f_px = f_px or rng.uniform(0.8, 1.6) * max(height, width)
    pose = pose or ("floor" if rng.random() < 0.5 else "wall")
    normal = _random_plane_pose(rng, pose)
    z, a, b, fp = _plane(height, width, rng, normal, 1.0, f_px, s)   # unit plane distance
    zmin = float(z[np.isfinite(z)].min()) if np.isfinite(z).any() else 1.0
    scale = near / zmin * (1.0 if pose == "floor" else rng.uniform(1.0, 1.5))
    z, a, b, fp = z * scale, a * scale, b * scale, fp * scale   # nearest point at >= near
    on = np.isfinite(z) & (z <= far)
    tex = pattern(a, b, fp, rng)
    sky = _sky(height, width, rng, s)
    img = np.where(on, tex, sky)
    zz = np.where(on, z, far)
    image = _down(img, s)
    depth = 1.0 / _down(1.0 / zz, s)                     # average in inverse depth
    image = image * _lighting(height, width, rng, strength=rng.uniform(0.1, 0.5))
    return _finish(image, depth, kind)


def _value_noise(ia, ib, rng_table):
    """A pseudo-random value in [0, 1) per integer cell (ia, ib) from a lookup table."""
    t = rng_table
    return t[(ia * 7919 + ib * 104729) % t.size]


def _tile_pattern(a, b, fp, rng):
    size = rng.uniform(0.1, 0.6)
    grout = size * rng.uniform(0.02, 0.08)
    table = _reflectance(rng, 4096)
    checker = rng.random() < 0.35
    c1, c2 = _reflectance(rng, 2)
    ia, ib = np.floor(a / size).astype(np.int64), np.floor(b / size).astype(np.int64)
    if checker:
        base = np.where((ia + ib) % 2 == 0, c1, c2)
    else:
        var = rng.uniform(0.05, 0.6)
        base = c1 * np.exp(var * (_value_noise(ia, ib, table) - 0.5) * 2)
    fa, fb = a / size - ia, b / size - ib
    g = grout / size
    in_grout = (fa < g) | (fb < g)
    grout_val = _reflectance(rng)
    keep = _aa(fp, size)
    base = base * keep + (1 - keep) * base.mean()
    tex = np.where(in_grout, grout_val * keep + (1 - keep) * base, base)
    # subtle 1/f staining, sampled in image space (cheap), and per-tile shading
    stain = pink_noise(*a.shape, rng, beta=2.5)
    shade = 1.0 + rng.uniform(0.0, 0.3) * (fa + fb - 1.0) * keep
    return tex * shade * np.exp(rng.uniform(0.05, 0.3) * stain)


def tiled_plane(height, width, rng, depth_range=None) -> Scene:
    """A slanted tiled floor or wall receding in depth, sky beyond the horizon."""
    return _planar_scene(height, width, rng, depth_range, _tile_pattern, "tiled_plane")


def _brick_pattern(a, b, fp, rng):
    bw, bh = rng.uniform(0.18, 0.3), rng.uniform(0.05, 0.09)
    mortar = rng.uniform(0.006, 0.014)
    row = np.floor(b / bh).astype(np.int64)
    a_off = a + 0.5 * bw * (row % 2)
    col = np.floor(a_off / bw).astype(np.int64)
    fa, fb = a_off / bw - col, b / bh - row
    in_mortar = (fa * bw < mortar) | (fb * bh < mortar)
    base = _reflectance(rng)
    table = np.exp(rng.uniform(0.1, 0.5) * rng.standard_normal(4096)).astype(np.float32)
    brick = base * _value_noise(col, row, table)
    keep = _aa(fp, bh)
    brick = brick * keep + (1 - keep) * base
    mval = _reflectance(rng) * 0.5 + 0.25
    tex = np.where(in_mortar, mval * keep + (1 - keep) * brick, brick)
    rough = pink_noise(*a.shape, rng, beta=1.8)
    bevel = 1.0 + 0.15 * keep * np.sin(np.pi * fb)        # rounded brick faces catch light
    return tex * bevel * np.exp(rng.uniform(0.05, 0.25) * rough)


def bricks(height, width, rng, depth_range=None) -> Scene:
    """A brick wall (running bond) seen at a slant, sky where the wall ends."""
    return _planar_scene(height, width, rng, depth_range, _brick_pattern, "bricks", pose="wall")


# --------------------------------------------------------------------------- grille

def grille(height, width, rng, depth_range=None) -> Scene:
    """Bars or a wire mesh at a near depth in front of a textured background."""
    near, far = _depth_range(rng, depth_range)
    split = math.exp(rng.uniform(math.log(near), math.log(math.sqrt(near * far))))
    back_range = (min(max(split * 1.3, near * 1.2), far * 0.999), far)
    if back_range[0] >= back_range[1]:
        back_range = (far * 0.9, far)
    back_kind = rng.choice(["dead_leaves", "tiled_plane", "smooth", "bricks"])
    back = _GENERATORS[back_kind](height, width, rng, depth_range=back_range)
    yy, xx = _grid(height, width)
    period = rng.uniform(6, 40)
    bar = period * rng.uniform(0.15, 0.5)
    ang = rng.uniform(-0.3, 0.3) + (np.pi / 2 if rng.random() < 0.3 else 0.0)
    # perspective slant of the grille: the period changes smoothly across the frame
    slant = rng.uniform(-0.5, 0.5)
    pos = (xx * np.cos(ang) + yy * np.sin(ang))
    warp = pos * (1 + slant * (xx / width - 0.5))
    ph = np.mod(warp, period) / bar                       # 0..1 inside a bar
    mask = ph < 1.0
    profile = np.sin(np.pi * np.clip(ph, 0, 1))           # cylindrical shading across a bar
    if rng.random() < 0.5:                                # mesh: add crossing wires
        pos2 = (-xx * np.sin(ang) + yy * np.cos(ang))
        p2 = rng.uniform(6, 40)
        b2 = p2 * rng.uniform(0.1, 0.4)
        ph2 = np.mod(pos2 * (1 + slant * (xx / width - 0.5)), p2) / b2
        m2 = ph2 < 1.0
        profile = np.where(m2 & ~mask, np.sin(np.pi * np.clip(ph2, 0, 1)), profile)
        mask = mask | m2
    metal = _reflectance(rng) * (0.35 + 0.65 * profile) * np.exp(
        0.15 * pink_noise(height, width, rng, 2.0))
    # grille depth: a slightly slanted plane (inverse depth affine in x)
    u0 = 1.0 / split
    du = u0 * rng.uniform(-0.15, 0.15)
    gdepth = 1.0 / (u0 + du * (xx / width - 0.5))
    image = np.where(mask, metal, back.image)
    depth = np.where(mask, gdepth, back.depth)
    return _finish(image, depth, "grille")


# --------------------------------------------------------------------------- text

_WORDS = ("spike camera defocus depth of field lens aperture focus blur photon threshold "
          "integrate fire pixel sensor noise gain offset calibration restore sharp edge "
          "THE QUICK BROWN FOX JUMPS OVER 0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ").split()


def _font(size):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:                       # Pillow < 10.1: fixed-size bitmap font
        return ImageFont.load_default()


def _text_layer(height, width, rng):
    """A float mask (H, W) in [0, 1] of random lines of text (anti-aliased)."""
    from PIL import Image, ImageDraw

    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    y = rng.uniform(0, 10)
    while y < height:
        size = int(rng.uniform(8, max(10, height / 5)))
        line = " ".join(rng.choice(_WORDS, int(rng.integers(2, 8))))
        draw.text((rng.uniform(-20, 10), y), line, fill=255, font=_font(size))
        y += size * rng.uniform(1.1, 1.8)
    return np.asarray(canvas, np.float32) / 255.0


def text(height, width, rng, depth_range=None) -> Scene:
    """Text on a softly shaded, slightly slanted sheet; sometimes a nearer sign."""
    near, far = _depth_range(rng, depth_range)
    yy, xx = _grid(height, width)
    u_far, u_near = 1.0 / far, 1.0 / near
    u0 = rng.uniform(u_far, u_near)
    du = rng.uniform(-0.3, 0.3) * u0
    ang = rng.uniform(0, 2 * np.pi)
    g = ((xx / width - 0.5) * np.cos(ang) + (yy / height - 0.5) * np.sin(ang))
    depth = 1.0 / np.clip(u0 + du * g, u_far, u_near)
    paper = _reflectance(rng) * 0.5 + 0.4
    ink = _reflectance(rng) * 0.25
    if rng.random() < 0.3:
        paper, ink = ink, paper
    t = _text_layer(height, width, rng)
    image = (paper + (ink - paper) * t) * np.exp(0.08 * pink_noise(height, width, rng, 2.0))
    if rng.random() < 0.5:                                # a nearer sign
        h2, w2 = int(rng.uniform(0.2, 0.5) * height), int(rng.uniform(0.3, 0.6) * width)
        y0, x0 = int(rng.integers(0, height - h2 + 1)), int(rng.integers(0, width - w2 + 1))
        sign_d = 1.0 / rng.uniform(u0, u_near)
        p2, i2 = _reflectance(rng) * 0.5 + 0.4, _reflectance(rng) * 0.2
        t2 = _text_layer(h2, w2, rng)
        image[y0:y0 + h2, x0:x0 + w2] = p2 + (i2 - p2) * t2
        depth[y0:y0 + h2, x0:x0 + w2] = sign_d
    image = image * _lighting(height, width, rng, strength=rng.uniform(0.1, 0.5))
    return _finish(image, depth, "text")


# --------------------------------------------------------------------------- smooth

def smooth(height, width, rng, depth_range=None) -> Scene:
    """Smooth natural-like content: 1/f surfaces (beta 2.5-4) with soft shading, a few
    soft-edged blobs, and a depth that varies smoothly (a 1/f field in inverse depth)."""
    near, far = _depth_range(rng, depth_range)
    beta = rng.uniform(2.5, 4.0)
    base = _reflectance(rng)
    img = base * np.exp(rng.uniform(0.2, 0.8) * pink_noise(height, width, rng, beta))
    yy, xx = _grid(height, width)
    for _ in range(int(rng.integers(0, 6))):              # soft blobs (fur, clouds, skin)
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(0.05, 0.4) * max(height, width)
        w = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
        img = img * (1 - w) + w * _reflectance(rng) * np.exp(
            0.2 * pink_noise(height, width, rng, 2.0))
    d = pink_noise(height, width, rng, beta=4.0)
    lo, hi = 1.0 / far, 1.0 / near
    t = (d - d.min()) / max(float(d.max() - d.min()), 1e-6)
    depth = 1.0 / (lo + (hi - lo) * t)
    img = img * _lighting(height, width, rng, strength=rng.uniform(0.2, 0.7))
    img = img * (rng.uniform(0.3, 1.0) / max(float(np.percentile(img, 99)), 1e-6))
    return _finish(img, depth, "smooth")


_GENERATORS = {"dead_leaves": dead_leaves, "tiled_plane": tiled_plane, "bricks": bricks,
               "grille": grille, "text": text, "smooth": smooth}


def make_scene(kind: str, height: int, width: int, rng, **params) -> Scene:
    """Make a procedural scene.

    Parameters
    ----------
    kind : one of ``SCENE_KINDS`` (``"random"`` draws one with ``RANDOM_WEIGHTS``).
    height, width : int, pixels.
    rng : numpy.random.Generator (or an int seed); the only source of randomness.
    **params : generator options, e.g. ``depth_range=(near, far)`` in metres (default:
        drawn within 0.3-20 m); ``dead_leaves`` also takes ``rmin``, ``rmax`` (px),
        ``max_leaves``.

    Returns
    -------
    Scene(image (H, W) float32 linear [0, 1], depth (H, W) float32 metres, kind).
    """
    if kind not in SCENE_KINDS:
        near = difflib.get_close_matches(str(kind), SCENE_KINDS, n=1)
        raise InputError("scene kind", kind, "one of " + ", ".join(SCENE_KINDS),
                         f"did you mean {near[0]!r}?" if near else "pick one of them")
    for name, v in (("height", height), ("width", width)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 4 <= v <= 16384:
            raise InputError(name, v, "an integer number of pixels in [4, 16384]",
                             "give the frame size")
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        rng = np.random.default_rng(int(rng))
    if not isinstance(rng, np.random.Generator):
        raise InputError("rng", type(rng).__name__, "a numpy.random.Generator or an int seed",
                         "pass numpy.random.default_rng(seed)")
    if kind == "random":
        names = list(RANDOM_WEIGHTS)
        p = np.array([RANDOM_WEIGHTS[k] for k in names])
        kind = names[int(rng.choice(len(names), p=p / p.sum()))]
    gen = _GENERATORS[kind]
    import inspect

    allowed = set(inspect.signature(gen).parameters) - {"height", "width", "rng"}
    for key in params:
        if key not in allowed:
            near = difflib.get_close_matches(key, sorted(allowed), n=1)
            raise InputError(f"scene parameter {key!r}", params[key],
                             f"one of {', '.join(sorted(allowed))} for {kind}",
                             f"did you mean {near[0]!r}?" if near else "remove it")
    return gen(int(height), int(width), rng, **params)
