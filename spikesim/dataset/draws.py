"""Per-sample draws: seed streams, the camera, the optics geometry, strata, a random depth.

Every function here is pure given its ``rng``: sample ``i``'s streams come from
:func:`sample_seed_sequence` ``(config.seed, i, purpose)``, one independent stream per
purpose (``SAMPLE_*`` in :mod:`spikesim.rng`'s table of seed purposes). ``config`` is a
:class:`spikesim.dataset.config.DatasetConfig`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .. import settings
from ..config import CameraProfile, Lens
from ..errors import ConfigError
from ..rng import SAMPLE_CAMERA_STRUCTURE, SAMPLE_FPN
from .bins import FOCUS_SIDES, blur_bin, blur_bin_edges, focus_side

log = logging.getLogger(__name__)


def sample_seed_sequence(seed: int, index: int, purpose: int) -> np.random.SeedSequence:
    """The seed sequence of sample ``index`` for one ``purpose`` (``spikesim.rng.SAMPLE_*``)."""
    return np.random.SeedSequence(int(seed), spawn_key=(int(index), int(purpose)))


def seed_int(seed: int, index: int, purpose: int) -> int:
    """A 32-bit integer seed (YAML-friendly) for a sub-system that takes an integer seed."""
    return int(sample_seed_sequence(seed, index, purpose).generate_state(1, np.uint32)[0])


def loguniform(rng, lo: float, hi: float) -> float:
    """A draw uniform in ``log`` between ``lo`` and ``hi`` (> 0); ``lo`` when they are equal."""
    if lo == hi:
        return float(lo)
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def sample_camera(config, rng, index: int) -> tuple[CameraProfile, int]:
    """The camera profile and ``fpn_seed`` of sample ``index`` (``rng``: its parameter stream).

    ``camera_mode: fixed``: the config's camera at the dataset's size (its ``maps``, if
    any, must be of that size: checked when the config is loaded). ``random``: the base
    camera with the ``camera_ranges`` draws. The first seven ranges (``k_scale`` ...
    ``dead_time``) are drawn from ``rng`` in that order, as before the structured ranges
    existed; the structured parts, ``structured_fraction`` and the dark log-s.d. from the
    sample's own stream ``(config.seed, index, SAMPLE_CAMERA_STRUCTURE)``, always all of
    them, so ranges of zero width reproduce the white-noise cameras byte for byte.
    """
    base = dataclasses.replace(config.camera, width=config.width, height=config.height)
    if config.camera_mode == "fixed":
        return base, int(config.fpn_seed)
    if base.maps:
        raise ConfigError("camera.maps", base.maps, "camera_mode: fixed with maps",
                          "a camera read from a calibration file is one camera; set "
                          "camera_mode: fixed")
    r = config.camera_ranges
    drawn = dict(
        k=float(settings.K_SCALE_REFERENCE * loguniform(rng, *r.k_scale)),
        gain_sd=float(rng.uniform(*r.gain_sd)),
        dark_median=float(rng.uniform(*r.dark_median)),
        hot_fraction=float(rng.uniform(*r.hot_fraction)),
        dead_fraction=float(rng.uniform(*r.dead_fraction)),
        theta_sd=float(rng.uniform(*r.theta_sd)),
        dead_time=int(rng.integers(int(r.dead_time[0]), int(r.dead_time[1]) + 1)),
    )
    more = np.random.default_rng(sample_seed_sequence(config.seed, index,
                                                      SAMPLE_CAMERA_STRUCTURE))
    structured = float(more.uniform()) < r.structured_fraction
    for key in ("gain_column_sd", "gain_row_sd", "gain_shading_sd"):
        value = float(more.uniform(*getattr(r, key)))
        drawn[key] = value if structured else 0.0
    drawn["dark_log_sd"] = float(more.uniform(*r.dark_log_sd))
    profile = dataclasses.replace(
        base, name=f"{config.name}-camera-{index:0{settings.DATASET_SAMPLE_DIGITS}d}",
        hot_low=float(r.hot_levels[0]), hot_high=float(r.hot_levels[1]), **drawn)
    return profile, seed_int(config.seed, index, SAMPLE_FPN)


@dataclass(frozen=True)
class Geometry:
    """The optics of one sample: lens, remapped depth map and what they give."""

    lens: Lens
    depth: np.ndarray          # (H, W) float32, metres
    target_side: str
    target_sigma: Optional[float]   # px, front/back only
    target_coc: float          # px, median signed CoC aimed at
    coc_spread: float          # px, drawn spread (nearest - farthest)
    sigma_median: float
    coc_median: float
    side: str
    met: bool
    tries: int


def _remap_depth(u_norm: np.ndarray, u_median: float, u_width: float) -> np.ndarray:
    """Inverse depth ``u_median + (u_norm - median(u_norm)) * u_width`` as a depth map (m)."""
    t_med = float(np.median(u_norm))
    inv = u_median + (u_norm - t_med) * u_width
    return (1.0 / inv).astype(np.float32)


def sigma_strata(sigma_range) -> list[tuple[float, float]]:
    """The parts of ``sigma_range`` in each blur bin above ``[0, 1)``, as ``(low, high)`` px."""
    edges = blur_bin_edges()[1:]
    lo, hi = float(sigma_range[0]), float(sigma_range[1])
    out = []
    for a, b in zip(edges[:-1], edges[1:]):
        a2, b2 = max(a, lo), min(b, hi)
        if a2 < b2 or (a2 == b2 == lo == hi):
            out.append((a2, b2))
    return out


def stratum(config, index: int) -> tuple[str, Optional[tuple[float, float]]]:
    """With ``stratified``: sample ``index``'s focus side (cycling front, on, back) and, for
    front/back, the sigma interval of its blur bin (cycling over :func:`sigma_strata`)."""
    side = FOCUS_SIDES[index % 3]
    if side == "on":
        return side, None
    strata = sigma_strata(config.sigma_range)
    return side, strata[(index // 3) % len(strata)]


def sample_geometry(config, scene_depth: np.ndarray, rng,
                    cell: Optional[tuple] = None) -> Geometry:
    """Draw a lens, focus distance and remapped depth meeting a drawn focus side and blur.

    ``scene_depth`` : (H, W) metres, the scene's own depth (only its order in inverse depth
    is used). ``rng`` : the sample's parameter stream. ``cell`` : ``(side, (sigma_low,
    sigma_high) or None)`` imposed by :func:`stratum`; default drawn from ``side_weights``
    and ``sigma_range``. See :mod:`spikesim.dataset` ("Sampling").
    """
    from ..optics import coc_signed_px, sigma_px

    pitch = config.camera.pixel_pitch
    inv = 1.0 / np.asarray(scene_depth, dtype=np.float64)
    lo, hi = float(inv.min()), float(inv.max())
    u_norm = (inv - lo) / (hi - lo) if hi > lo else np.zeros_like(inv)
    t_med = float(np.median(u_norm))
    if cell is None:
        weights = np.asarray(config.side_weights, dtype=np.float64)
        side = FOCUS_SIDES[int(rng.choice(3, p=weights / weights.sum()))]
        s_lo, s_hi = config.sigma_range
    else:
        side, interval = cell
        s_lo, s_hi = interval if interval is not None else config.sigma_range
    floor = config.sigma_floor
    if side == "on":
        target_sigma = None
        c_target = float(rng.uniform(-config.on_focus_coc, config.on_focus_coc))
        want_bin = 0
    else:
        target_sigma = (loguniform(rng, s_lo, s_hi) if config.sigma_log_uniform
                        else float(rng.uniform(s_lo, s_hi)))
        c_abs = 4.0 * math.sqrt(max(target_sigma ** 2 - floor ** 2, 0.0))
        c_target = -c_abs if side == "front" else c_abs
        want_bin = blur_bin(target_sigma)
    u_near, u_far = 1.0 / config.depth_range[0], 1.0 / config.depth_range[1]
    x_lo, x_hi = 1.0 / config.focus_distance[1], 1.0 / config.focus_distance[0]
    best = None
    for tries in range(1, settings.DATASET_MAX_TRIES + 1):
        f = loguniform(rng, *config.focal_length)
        n = loguniform(rng, *config.f_number)
        spread = float(rng.uniform(*config.coc_spread))
        af = (f / n) * f                      # A f, m^2
        k0 = af / pitch                       # px per dioptre (v_f ~ f)
        width = min(spread / k0, u_near - u_far)
        m_lo, m_hi = u_far + width * t_med, u_near - width * (1.0 - t_med)
        u_med = 1.0 / loguniform(rng, 1.0 / m_hi, 1.0 / m_lo) if m_hi > m_lo else m_lo
        # exact: c = A f (x - m) / (p (1 - f x)) with x = 1/s_f  ->  solve for x
        x = (c_target * pitch + af * u_med) / (af + c_target * pitch * f)
        if not (x_lo <= x <= x_hi) or x * f >= 1.0:
            continue
        lens = Lens(focal_length=f, f_number=n, focus_distance=1.0 / x,
                    sigma_floor=floor, psf=config.psf)
        depth = _remap_depth(u_norm, u_med, width)
        coc = coc_signed_px(depth, lens, pitch)
        sig = sigma_px(coc, floor)
        s_med, c_med = float(np.median(sig)), float(np.median(coc))
        got_side = focus_side(s_med, c_med)
        geo = Geometry(lens, depth, side, target_sigma, c_target, spread, s_med, c_med, got_side,
                       got_side == side and blur_bin(s_med) == want_bin, tries)
        if geo.met:
            return geo
        score = (got_side != side, abs(blur_bin(s_med) - want_bin),
                 abs(math.log(s_med / (target_sigma or 0.5 * settings.DATASET_ON_FOCUS_SIGMA))))
        if best is None or score < best[0]:
            best = (score, geo)
    if best is None:
        raise ConfigError("focus_distance", config.focus_distance,
                          "a focus range that some drawn lens and scene depth can reach",
                          "widen focus_distance, depth_range or focal_length/f_number")
    geo = dataclasses.replace(best[1], tries=settings.DATASET_MAX_TRIES)
    log.warning("sample target (side %s, sigma %s) not met in %d draws; kept side %s, median "
                "sigma %.2f px", side, target_sigma, settings.DATASET_MAX_TRIES, geo.side,
                geo.sigma_median)
    return geo


def random_depth(height: int, width: int, rng) -> np.ndarray:
    """A smooth random depth map ``(H, W)`` in metres (1-2 m): a tilted plane plus 1/f^3.5
    noise, in inverse depth. Only its order matters: :func:`sample_geometry` remaps it."""
    from ..scenes import pink_noise

    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    tilt = rng.normal(size=2) * np.array([1.0 / height, 1.0 / width])
    u = tilt[0] * (yy - height / 2) + tilt[1] * (xx - width / 2)
    u = u + rng.uniform(0.3, 1.0) * pink_noise(height, width, rng, beta=3.5)
    span = float(u.max() - u.min())
    u = (u - u.min()) / span if span > 0 else np.zeros_like(u)
    return (1.0 / (0.5 + 0.5 * u)).astype(np.float32)
