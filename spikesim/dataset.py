"""Generated datasets: defocused spike captures with their targets (``spikesim generate``).

A dataset is a directory laid out as docs/ARCHITECTURE.md fixes it::

    DIR/manifest.yaml       toolkit_version, seed, config (full), num, complete, samples
    DIR/config.yaml         the configuration the samples were made with (resume checks it)
    DIR/samples/000000/     one directory a sample (spikes.dat, sharp.png, maps.npz, ...)
    DIR/images.yaml         source: images only - name, size and sha256 of every picture

Reproducibility
---------------
Everything sample ``i`` holds is a pure function of ``(config, i)`` (and, for the
``images`` and ``dpdd`` sources, of the pictures read): its random numbers
come from ``numpy.random.SeedSequence(config.seed, spawn_key=(i, purpose))``, one
independent stream per purpose (parameters, scene, sensor noise, camera). The same
config therefore gives the same bytes with one worker, several worker processes, or a
Dask cluster, and whether or not the run was interrupted and resumed.

Sampling (one sample)
---------------------
1. A scene kind (``scene_kinds`` / ``scene_weights``) and a procedural scene with a
   depth map (:func:`spikesim.scenes.make_scene`).
2. A focus side, front / on / back of the focal plane, with ``side_weights``. Front
   and back samples draw a target median blur ``sigma`` from ``sigma_range``
   (log-uniform by default); on-focus samples a median signed CoC within
   ``±on_focus_coc`` px. With ``stratified: true`` (test sets) sample ``i`` instead
   takes side ``("front", "on", "back")[i % 3]`` and, for front/back, cycles over the
   blur bins of ``sigma_range`` (:func:`stratum`): exact proportions.
3. A lens (focal length, f-number, log-uniform), a CoC spread across the scene
   (``coc_spread``, px) and a median scene depth (log-uniform within ``depth_range``).
   The scene's depth map is remapped affinely in inverse depth (order, occlusions and
   planarity are preserved) so that its median and spread are the drawn ones, and the
   focus distance is solved in closed form so that the median signed CoC is the target.
4. The draw is kept when the realised focus side and blur bin (median sigma in
   [0, 1), [1, 2), [2, 4), [4, inf) px) are the target's; otherwise step 3 is redrawn
   (at most ``settings.DATASET_MAX_TRIES`` times; then the closest draw is kept and
   ``target.met: false`` says so in ``sample.yaml`` and the manifest).
5. Exposure: the illuminance is set so that the 99th percentile of the defocused
   irradiance gives the charge per step ``lambda_p99`` (drawn from its range) on an
   ideal pixel: ``illuminance = lambda_p99 / (k * p99(defocused value))``.
6. A camera: the fixed one (``camera_mode: fixed``: ``camera`` + ``fpn_seed`` for every
   sample) or one drawn per sample from ``camera_ranges`` (physics.md §4b), with its own
   ``fpn_seed``; its fixed pattern is saved as ground truth (``camera.npz``).

Sizes: ``width`` x ``height`` pixels (the crop), ``steps`` readout steps (>= 192, the
network's longest window), key step ``key_step`` (default the middle). The scene is
static over the steps.

Conventions: "front" means the scene (its median) is nearer than the focus distance
(negative signed CoC), "back" farther; "on" means a median sigma below 1 px.

``source: images`` uses photographs instead of procedural scenes (step 1): sample ``i``
is picture ``i % n`` of the ``n`` images in ``image_dir`` (sorted by name; hidden files
skipped; sRGB-decoded to linear luminance; each at least ``width`` x ``height``), a random
``height`` x ``width`` crop with random flips (and transpose, for square crops), given a
smooth random depth map (:func:`random_depth`: a tilted plane plus 1/f^3.5 noise in
inverse depth, independent of the picture); steps 2-6 are the procedural ones. Every
picture is checked before anything is written and listed with its sha256 in
``images.yaml``; a resumed dataset must find the same pictures. ``image_dir`` is read
where the samples are computed (relative to the working directory; a Dask cluster's
workers need it too). It is how natural images are put through the toolkit's own
defocus and sensor (``examples/configs/natural_reds.yaml``: the REDS frames of
``../shared/data/interop``).

``source: dpdd`` takes pair ``i % len(pairs)`` of a DPDD split instead: its real
defocused ``source`` image is the irradiance (no synthetic blur) and ``target`` the
label, cropped to ``height`` x ``width`` with random flips/transpose; depth, sigma and
CoC are unknown (NaN maps; ``focus_side``/``blur_bin`` ``unknown``, sigma stats null).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import math
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from . import settings
from .config import CameraProfile, Lens, from_mapping, read_yaml_mapping, spec, to_mapping
from .errors import ConfigError, InputError
from .inspect import shifted_window

log = logging.getLogger(__name__)

FOCUS_SIDES = ("front", "on", "back")
SOURCES = ("procedural", "images", "dpdd")
SAMPLE_FILES = ("spikes.dat", "spikes.dat.yaml", "sharp.png", "sharp_srgb.png", "defocused.png",
                "defocused_srgb.png", "maps.npz", "camera.npz", "sample.yaml", "preview.png")
MANIFEST = "manifest.yaml"
CONFIG = "config.yaml"
SAMPLES = "samples"
PARTIAL = ".partial"
IMAGES = "images.yaml"          # source: images - the pictures the dataset is made from
_OWN_ENTRIES = (MANIFEST, CONFIG, SAMPLES, PARTIAL, IMAGES)

# seed purposes: independent random streams of one sample
_PURPOSE_PARAMS, _PURPOSE_SCENE, _PURPOSE_SENSOR, _PURPOSE_FPN = 0, 1, 2, 3


# ---------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------
def _default_kinds() -> list:
    """Every concrete scene kind (``random`` is a mixture of them, not a kind of its own)."""
    from .scenes import RANDOM_WEIGHTS

    return list(RANDOM_WEIGHTS)


def _known_kinds() -> list:
    from .scenes import SCENE_KINDS

    return list(SCENE_KINDS)


@dataclass(frozen=True)
class CameraRanges:
    """Per-sample camera draws (physics.md §4b, "range to support"); ``[low, high]`` each.

    ``k_scale`` multiplies the base camera's responsivity ``k`` (log-uniform); the others
    are uniform; ``dead_time`` is an integer drawn uniformly from ``low..high`` inclusive.
    The base camera's other fields (pitch, readout rate, dark log-s.d., hot-pixel levels)
    are kept.
    """

    k_scale: list[float] = spec([0.3, 3.0], "x k", 0.0, None, low_open=True,
                         doc="responsivity factor on camera.k (log-uniform)")
    gain_sd: list[float] = spec([0.0, 0.08], "", 0.0, 0.5, doc="relative gain s.d.")
    dark_median: list[float] = spec([0.0, 10.0], "lux", 0.0, None, doc="median dark offset L_d")
    hot_fraction: list[float] = spec([0.0, 0.005], "", 0.0, 0.1, doc="fraction of hot pixels")
    dead_fraction: list[float] = spec([0.0, 0.001], "", 0.0, 0.1, doc="fraction of dead pixels")
    theta_sd: list[float] = spec([0.0, 0.03], "thresholds", 0.0, 0.5, doc="threshold noise s.d.")
    dead_time: list[int] = spec([0, 1], "steps", 0, 16, doc="dead time after a spike (integers)")

    def validate(self, where: str = "camera_ranges") -> None:
        for f in dataclasses.fields(self):
            _check_range(getattr(self, f.name), f"{where}.{f.name}")
        if any(float(v) != int(v) for v in self.dead_time):
            raise ConfigError(f"{where}.dead_time", self.dead_time, "integer steps",
                              "write whole numbers, e.g. [0, 1]")


@dataclass(frozen=True)
class DatasetConfig:
    """What ``spikesim generate`` makes. Every field has its unit; ranges are ``[low, high]``.

    See the module docstring for how a sample is drawn from these ranges.
    """

    name: str = spec("dataset", doc="a label stored in the manifest")
    width: int = spec(128, "px", 8, 8192, doc="sample width W (W*H a multiple of 8)")
    height: int = spec(128, "px", 1, 8192, doc="sample height H")
    steps: int = spec(256, "steps", 192, 10_000_000,
                      doc="readout steps per sample (>= 192, the longest network window)")
    key_step: Optional[int] = spec(None, "step", 0, None,
                                   doc="key step (the frame the target describes); default middle")
    num: int = spec(16, "", 1, 100_000_000, doc="number of samples")
    seed: int = spec(0, "", 0, 2**63 - 1, doc="seed of every random draw")
    source: str = spec("procedural", choices=SOURCES,
                       doc="procedural scenes with depth, photographs with a random depth "
                           "(image_dir), or a DPDD directory (real blur)")
    image_dir: str = spec("", doc="directory of photographs for source: images")
    dpdd_root: str = spec("", doc="DPDD root ({train,val,test}_c/{source,target}) for source: dpdd")
    dpdd_split: str = spec("train", choices=("train", "val", "test"), doc="DPDD split")
    scene_kinds: list[str] = spec([], doc="procedural scene kinds (default: every concrete kind, "
                                           "mixed as spikesim.scenes.RANDOM_WEIGHTS)")
    scene_weights: list[float] = spec([], "", 0.0, None,
                                      doc="relative weights of scene_kinds (default equal)")
    side_weights: list[float] = spec([1.0, 1.0, 1.0], "", 0.0, None,
                              doc="relative weights of front / on / back of the focal plane")
    sigma_range: list[float] = spec([1.0, 10.0], "px", 0.0, 50.0,
                             doc="target median sigma of front/back samples")
    sigma_log_uniform: bool = spec(True, doc="draw the target sigma log-uniformly (else uniformly)")
    stratified: bool = spec(False, doc="cycle sample i over focus sides and blur bins (exact "
                                       "proportions, for test sets) instead of drawing them")
    on_focus_coc: float = spec(1.0, "px", 0.0, 3.0,
                               doc="on-focus samples: |median signed CoC| below this")
    coc_spread: list[float] = spec([0.0, 16.0], "px", 0.0, 200.0,
                            doc="signed-CoC difference between the nearest and farthest point")
    focal_length: list[float] = spec([0.008, 0.050], "m", 0.0, 1.0, low_open=True, doc="focal length f")
    f_number: list[float] = spec([1.4, 8.0], "", 0.0, 64.0, low_open=True, doc="f-number N")
    focus_distance: list[float] = spec([0.1, 1000.0], "m", 0.0, None, low_open=True,
                                doc="allowed focus distances")
    depth_range: list[float] = spec([0.3, 20.0], "m", 0.0, None, low_open=True,
                             doc="scene depths (every pixel's distance lies within)")
    sigma_floor: float = spec(0.5, "px", 0.0, 5.0, doc="in-focus PSF s.d. (quadrature)")
    psf: str = spec("gaussian", choices=("gaussian", "disk"), doc="PSF shape")
    lambda_p99: list[float] = spec([0.2, 1.2], "thresholds / step", 0.0, 10.0, low_open=True,
                            doc="charge per step at the 99th-percentile irradiance")
    camera_mode: str = spec("random", choices=("random", "fixed"),
                            doc="one camera for all samples, or one drawn per sample")
    camera: CameraProfile = field(default_factory=CameraProfile, metadata={
        "doc": "the fixed camera, or the base of the drawn ones; width/height are replaced "
               "by the dataset's"})
    fpn_seed: int = spec(0, "", 0, 2**63 - 1, doc="the fixed camera's fpn_seed (camera_mode: fixed)")
    camera_ranges: CameraRanges = field(default_factory=CameraRanges, metadata={
        "doc": "per-sample camera ranges (camera_mode: random)"})

    def validate(self, where: str = "") -> None:
        p = f"{where}." if where and where != "DatasetConfig" else ""
        if (self.width * self.height) % 8:
            raise ConfigError(f"{p}width", self.width, "W*H a multiple of 8 (bit-packed frames)",
                              f"W*H = {self.width * self.height}; change width or height")
        if self.key_step is not None and self.key_step >= self.steps:
            raise ConfigError(f"{p}key_step", self.key_step, f"a step in [0, {self.steps})",
                              "leave it out for the middle step")
        for name in ("sigma_range", "coc_spread", "focal_length", "f_number", "focus_distance",
                     "depth_range", "lambda_p99"):
            _check_range(getattr(self, name), f"{p}{name}")
        if self.sigma_range[0] <= self.sigma_floor or self.sigma_range[0] < settings.DATASET_ON_FOCUS_SIGMA:
            raise ConfigError(f"{p}sigma_range", self.sigma_range,
                              f"a low end >= {settings.DATASET_ON_FOCUS_SIGMA} px and above "
                              f"sigma_floor ({self.sigma_floor} px)",
                              "front/back samples are blurred ones; on-focus ones come from "
                              "side_weights")
        if len(self.side_weights) != 3 or sum(self.side_weights) <= 0:
            raise ConfigError(f"{p}side_weights", self.side_weights,
                              "three weights >= 0 (front, on, back) with a positive sum",
                              "e.g. [1, 1, 1]")
        if self.depth_range[0] <= self.focal_length[1]:
            raise ConfigError(f"{p}depth_range", self.depth_range,
                              f"depths beyond the longest focal length ({self.focal_length[1]} m)",
                              "raise the near end of depth_range")
        if self.focus_distance[0] <= self.focal_length[1]:
            raise ConfigError(f"{p}focus_distance", self.focus_distance,
                              f"distances beyond the longest focal length ({self.focal_length[1]} m)",
                              "raise the near end of focus_distance")
        if self.scene_weights and len(self.scene_weights) != len(self.scene_kinds or _default_kinds()):
            raise ConfigError(f"{p}scene_weights", self.scene_weights,
                              "one weight per scene kind", "match the length of scene_kinds")
        if self.scene_weights and sum(self.scene_weights) <= 0:
            raise ConfigError(f"{p}scene_weights", self.scene_weights, "a positive sum",
                              "give at least one kind a weight > 0")
        if self.source == "procedural" and self.scene_kinds:
            known = _known_kinds()
            for i, kind in enumerate(self.scene_kinds):
                if known and kind not in known:
                    raise ConfigError(f"{p}scene_kinds[{i}]", kind, "one of " + ", ".join(known),
                                      "pick a known scene kind")
        if self.source == "images" and not self.image_dir:
            raise ConfigError(f"{p}image_dir", self.image_dir, "a directory of photographs",
                              "set image_dir for source: images")
        if self.source == "dpdd" and not self.dpdd_root:
            raise ConfigError(f"{p}dpdd_root", self.dpdd_root, "the DPDD directory",
                              "set dpdd_root for source: dpdd")

    @property
    def key(self) -> int:
        """The key step (``key_step`` or the middle ``steps // 2``)."""
        return self.steps // 2 if self.key_step is None else int(self.key_step)

    def kinds(self) -> tuple[list, list]:
        """Scene kinds in use and their relative weights.

        Default: every concrete kind with the scene module's natural mix
        (``spikesim.scenes.RANDOM_WEIGHTS``); ``scene_kinds`` without weights: equal weights.
        """
        if self.scene_kinds:
            kinds = list(self.scene_kinds)
            return kinds, list(self.scene_weights) or [1.0] * len(kinds)
        from .scenes import RANDOM_WEIGHTS

        kinds = list(RANDOM_WEIGHTS)
        return kinds, list(self.scene_weights) or [float(RANDOM_WEIGHTS[k]) for k in kinds]


def _check_range(value, where: str) -> None:
    if len(value) != 2:
        raise ConfigError(where, value, "[low, high]", "write a two-item list")
    if value[0] > value[1]:
        raise ConfigError(where, value, "low <= high", "swap the bounds")


def load_dataset_config(source, **overrides) -> DatasetConfig:
    """Load a :class:`DatasetConfig` from a YAML file, a YAML mapping or a config.

    ``overrides`` (e.g. ``num=8``, ``seed=3``) replace top-level keys; ``None`` values are
    ignored. Errors name the key path (:class:`~spikesim.errors.ConfigError`).
    """
    if isinstance(source, DatasetConfig):
        data = to_mapping(source)
    else:
        data = read_yaml_mapping(source)
    for key, value in overrides.items():
        if value is not None:
            data[key] = value
    return from_mapping(DatasetConfig, data)


def config_mapping(config: DatasetConfig) -> dict:
    """The config as plain YAML-safe data (what ``config.yaml`` and the manifest hold)."""
    return to_mapping(config)


# ---------------------------------------------------------------------------------------
# per-sample randomness and parameters
# ---------------------------------------------------------------------------------------
def sample_seed_sequence(seed: int, index: int, purpose: int) -> np.random.SeedSequence:
    """The seed sequence of sample ``index`` for one ``purpose`` (0 params, 1 scene, 2 sensor, 3 FPN)."""
    return np.random.SeedSequence(int(seed), spawn_key=(int(index), int(purpose)))


def _seed_int(seed: int, index: int, purpose: int) -> int:
    """A 32-bit integer seed (YAML-friendly) for a sub-system that takes an integer seed."""
    return int(sample_seed_sequence(seed, index, purpose).generate_state(1, np.uint32)[0])


def _loguniform(rng, lo: float, hi: float) -> float:
    if lo == hi:
        return float(lo)
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def blur_bin(sigma_median: float) -> int:
    """Index of the median-sigma bin: 0 ``[0,1)``, 1 ``[1,2)``, 2 ``[2,4)``, 3 ``[4,inf)`` px."""
    return int(np.searchsorted(settings.DATASET_BLUR_BIN_EDGES, float(sigma_median), side="right"))


def blur_bin_label(index: int) -> str:
    """``"[1,2)"`` etc. for a :func:`blur_bin` index."""
    edges = (0.0,) + tuple(settings.DATASET_BLUR_BIN_EDGES) + (math.inf,)
    return f"[{edges[index]:g},{edges[index + 1]:g})"


def focus_side(sigma_median: float, coc_median: float) -> str:
    """``"on"`` when the median sigma < 1 px, else the sign of the median signed CoC:
    ``"front"`` (negative: the scene is nearer than the focus distance) or ``"back"``."""
    if sigma_median < settings.DATASET_ON_FOCUS_SIGMA:
        return "on"
    return "front" if coc_median < 0 else "back"


def sample_camera(config: DatasetConfig, rng, index: int) -> tuple[CameraProfile, int]:
    """The camera profile and ``fpn_seed`` of sample ``index`` (``rng``: its parameter stream)."""
    base = dataclasses.replace(config.camera, width=config.width, height=config.height)
    if config.camera_mode == "fixed":
        return base, int(config.fpn_seed)
    r = config.camera_ranges
    profile = dataclasses.replace(
        base,
        name=f"{config.name}-camera-{index:0{settings.DATASET_SAMPLE_DIGITS}d}",
        k=float(base.k * _loguniform(rng, *r.k_scale)),
        gain_sd=float(rng.uniform(*r.gain_sd)),
        dark_median=float(rng.uniform(*r.dark_median)),
        hot_fraction=float(rng.uniform(*r.hot_fraction)),
        dead_fraction=float(rng.uniform(*r.dead_fraction)),
        theta_sd=float(rng.uniform(*r.theta_sd)),
        dead_time=int(rng.integers(int(r.dead_time[0]), int(r.dead_time[1]) + 1)),
    )
    return profile, _seed_int(config.seed, index, _PURPOSE_FPN)


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
    edges = tuple(settings.DATASET_BLUR_BIN_EDGES) + (math.inf,)
    lo, hi = float(sigma_range[0]), float(sigma_range[1])
    out = []
    for a, b in zip(edges[:-1], edges[1:]):
        a2, b2 = max(a, lo), min(b, hi)
        if a2 < b2 or (a2 == b2 == lo == hi):
            out.append((a2, b2))
    return out


def stratum(config: DatasetConfig, index: int) -> tuple[str, Optional[tuple[float, float]]]:
    """With ``stratified``: sample ``index``'s focus side (cycling front, on, back) and, for
    front/back, the sigma interval of its blur bin (cycling over :func:`sigma_strata`)."""
    side = FOCUS_SIDES[index % 3]
    if side == "on":
        return side, None
    strata = sigma_strata(config.sigma_range)
    return side, strata[(index // 3) % len(strata)]


def sample_geometry(config: DatasetConfig, scene_depth: np.ndarray, rng,
                    cell: Optional[tuple] = None) -> Geometry:
    """Draw a lens, focus distance and remapped depth meeting a drawn focus side and blur.

    ``scene_depth`` : (H, W) metres, the scene's own depth (only its order in inverse depth
    is used). ``rng`` : the sample's parameter stream. ``cell`` : ``(side, (sigma_low,
    sigma_high) or None)`` imposed by :func:`stratum`; default drawn from ``side_weights``
    and ``sigma_range``. See the module docstring.
    """
    from .optics import coc_signed_px, sigma_px

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
        target_sigma = (_loguniform(rng, s_lo, s_hi) if config.sigma_log_uniform
                        else float(rng.uniform(s_lo, s_hi)))
        c_abs = 4.0 * math.sqrt(max(target_sigma ** 2 - floor ** 2, 0.0))
        c_target = -c_abs if side == "front" else c_abs
        want_bin = blur_bin(target_sigma)
    u_near, u_far = 1.0 / config.depth_range[0], 1.0 / config.depth_range[1]
    x_lo, x_hi = 1.0 / config.focus_distance[1], 1.0 / config.focus_distance[0]
    best = None
    for tries in range(1, settings.DATASET_MAX_TRIES + 1):
        f = _loguniform(rng, *config.focal_length)
        n = _loguniform(rng, *config.f_number)
        spread = float(rng.uniform(*config.coc_spread))
        af = (f / n) * f                      # A f, m^2
        k0 = af / pitch                       # px per dioptre (v_f ~ f)
        width = min(spread / k0, u_near - u_far)
        m_lo, m_hi = u_far + width * t_med, u_near - width * (1.0 - t_med)
        u_med = 1.0 / _loguniform(rng, 1.0 / m_hi, 1.0 / m_lo) if m_hi > m_lo else m_lo
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


# ---------------------------------------------------------------------------------------
# one sample
# ---------------------------------------------------------------------------------------
def _round(x, digits: int = 6):
    """A summary statistic for YAML, 6 significant digits (the maps keep full precision;
    parameters that reproduce the sample - lens, camera, illuminance - are stored exactly)."""
    x = float(x)
    return float(f"{x:.{digits}g}") if math.isfinite(x) else x


@dataclass
class _Content:
    """What a sample shows before the camera: the target, the defocused value and the optics."""

    sharp: np.ndarray            # (H, W) float32 linear [0, 1]
    value: np.ndarray            # (H, W) float32 defocused value (irradiance / illuminance)
    depth: np.ndarray            # (H, W) float32 m (NaN: unknown)
    sigma: np.ndarray            # (H, W) float32 px (NaN: unknown)
    coc: np.ndarray              # (H, W) float32 px (NaN: unknown)
    params: dict                 # source-specific sample.yaml entries


def _procedural_content(config: DatasetConfig, index: int, rng) -> _Content:
    from .scenes import make_scene

    kinds, weights = config.kinds()
    w = np.asarray(weights, dtype=np.float64)
    kind = kinds[int(rng.choice(len(kinds), p=w / w.sum()))]
    scene_rng = np.random.default_rng(sample_seed_sequence(config.seed, index, _PURPOSE_SCENE))
    scene = make_scene(kind, config.height, config.width, scene_rng)
    return _defocused_content(config, index, rng, scene.image, scene.depth,
                              {"scene_kind": scene.kind})


def _defocused_content(config: DatasetConfig, index: int, rng, image, depth,
                       head: dict) -> _Content:
    """Steps 2-4 of the module docstring for a sharp ``image`` (H, W, linear) with the
    scene's own ``depth`` (H, W, metres): geometry drawn from ``rng``, then the defocus.
    ``head``: the source's first sample.yaml entries (``scene_kind`` ...)."""
    from .render import render_defocus

    geo = sample_geometry(config, depth, rng, stratum(config, index) if config.stratified else None)
    image = np.asarray(image, dtype=np.float32)
    defoc = render_defocus(image, geo.depth, geo.lens, config.camera.pixel_pitch)
    params = {
        **head,
        "lens": to_mapping(geo.lens),
        "render_layers": int(defoc.layers),
        "target": {"side": geo.target_side,
                   "sigma": None if geo.target_sigma is None else _round(geo.target_sigma),
                   "coc": _round(geo.target_coc), "coc_spread": _round(geo.coc_spread),
                   "met": bool(geo.met), "tries": int(geo.tries)},
    }
    return _Content(image, np.asarray(defoc.irradiance, np.float32), geo.depth.astype(np.float32),
                    np.asarray(defoc.sigma, np.float32), np.asarray(defoc.coc, np.float32), params)


@functools.lru_cache(maxsize=4)
def _image_index(directory: str) -> tuple:
    from .inputs import image_files

    return tuple(image_files(directory))


def random_depth(height: int, width: int, rng) -> np.ndarray:
    """A smooth random depth map ``(H, W)`` in metres (1-2 m): a tilted plane plus 1/f^3.5
    noise, in inverse depth. Only its order matters: :func:`sample_geometry` remaps it."""
    from .scenes import pink_noise

    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    tilt = rng.normal(size=2) * np.array([1.0 / height, 1.0 / width])
    u = tilt[0] * (yy - height / 2) + tilt[1] * (xx - width / 2)
    u = u + rng.uniform(0.3, 1.0) * pink_noise(height, width, rng, beta=3.5)
    span = float(u.max() - u.min())
    u = (u - u.min()) / span if span > 0 else np.zeros_like(u)
    return (1.0 / (0.5 + 0.5 * u)).astype(np.float32)


def _image_content(config: DatasetConfig, index: int, rng) -> _Content:
    """Photograph ``index % len(images)``: a random crop with flips, a random smooth depth,
    then the procedural path's geometry and defocus."""
    from .inputs import augment_pair, check_picture, load_image

    files = _image_index(str(Path(config.image_dir).resolve()))
    path = files[index % len(files)]
    photo = load_image(path)
    check_picture(photo, path.name, (config.height, config.width))
    scene_rng = np.random.default_rng(sample_seed_sequence(config.seed, index, _PURPOSE_SCENE))
    image, _ = augment_pair(photo, photo, (config.height, config.width), scene_rng)
    depth = random_depth(config.height, config.width, scene_rng)
    return _defocused_content(config, index, rng, image, depth,
                              {"scene_kind": "image", "image": path.name})


@functools.lru_cache(maxsize=4)
def _dpdd_index(root: str, split: str) -> tuple:
    from .inputs import dpdd_pairs

    return tuple(dpdd_pairs(root, split))


def _dpdd_content(config: DatasetConfig, index: int, rng) -> _Content:
    """DPDD pair ``index % len(pairs)``: the real defocused ``source`` is the irradiance, the
    ``target`` the label, with the paper's crop / flip / transpose augmentation."""
    from .inputs import augment_pair, load_dpdd_pair

    pairs = _dpdd_index(str(config.dpdd_root), config.dpdd_split)
    src, tgt = pairs[index % len(pairs)]
    source, target = load_dpdd_pair(src, tgt)
    aug_rng = np.random.default_rng(sample_seed_sequence(config.seed, index, _PURPOSE_SCENE))
    source, target = augment_pair(source, target, (config.height, config.width), aug_rng)
    unknown = np.full((config.height, config.width), np.nan, dtype=np.float32)
    params = {"scene_kind": "dpdd", "dpdd_pair": src.name, "dpdd_split": config.dpdd_split,
              "lens": None, "render_layers": 0,
              "target": {"side": None, "sigma": None, "coc": None, "coc_spread": None,
                         "met": True, "tries": 0}}
    return _Content(np.asarray(target, np.float32), np.asarray(source, np.float32), unknown,
                    unknown.copy(), unknown.copy(), params)


def _stat(x, fn):
    x = np.asarray(x)
    return None if np.isnan(x).all() else _round(fn(x))


def build_sample(config: DatasetConfig, index: int, out: Path, fpn_cache: dict | None = None) -> dict:
    """Compute sample ``index`` and write its files into the existing directory ``out``.

    Returns the manifest summary of the sample (plain data). Deterministic: depends only
    on ``(config, index)``.
    """
    made = _compute_sample(config, index, fpn_cache)
    _write_sample(made, config, Path(out))
    return manifest_entry(made.params)


def compute_sample(config: DatasetConfig, index: int, fpn_cache: dict | None = None) -> "Sample":
    """Sample ``index`` made in memory: equal, array for array, to what :func:`load_sample`
    reads back from :func:`build_sample`'s files (the images quantised as their 16-bit
    PNGs, ``params`` as its YAML), with ``path`` ``None`` and the stream in memory."""
    import yaml

    from .images import as_png16
    from .fpn import truth_arrays

    made = _compute_sample(config, index, fpn_cache)
    params = yaml.safe_load(yaml.safe_dump(made.params, sort_keys=False))
    return Sample(None, params, made.stream, as_png16(made.content.sharp),
                  as_png16(made.content.value), depth=made.content.depth,
                  sigma=made.content.sigma, coc=made.content.coc, irradiance=made.irradiance,
                  camera=truth_arrays(made.fpn, made.profile, made.fpn_seed))


@dataclass
class _Made:
    """Everything one sample is written from."""

    content: "_Content"
    irradiance: np.ndarray
    stream: object
    fpn: object
    profile: CameraProfile
    fpn_seed: int
    lam_target: float
    params: dict


def _compute_sample(config: DatasetConfig, index: int, fpn_cache: dict | None) -> _Made:
    from .fpn import draw_fixed_pattern
    from .sensor import capture

    rng = np.random.default_rng(sample_seed_sequence(config.seed, index, _PURPOSE_PARAMS))
    if config.source == "dpdd":
        content = _dpdd_content(config, index, rng)
    elif config.source == "images":
        content = _image_content(config, index, rng)
    else:
        content = _procedural_content(config, index, rng)
    lam_target = float(rng.uniform(*config.lambda_p99))
    profile, fpn_seed = sample_camera(config, rng, index)
    sensor_seed = _seed_int(config.seed, index, _PURPOSE_SENSOR)
    value = content.value
    p99 = float(np.percentile(value, settings.EXPOSURE_PERCENTILE))
    if not p99 > 0:
        raise InputError("scene", f"sample {index} ({content.params['scene_kind']})",
                         "a scene with light in it",
                         "the defocused scene is black at its 99th percentile")
    illuminance = lam_target / (profile.k * p99)
    irradiance = (value * np.float32(illuminance)).astype(np.float32)
    key = (profile, fpn_seed)
    fpn = fpn_cache.get(key) if fpn_cache is not None else None
    if fpn is None:
        fpn = draw_fixed_pattern(profile, fpn_seed)
        if fpn_cache is not None and config.camera_mode == "fixed":
            fpn_cache[key] = fpn
    stream = capture(irradiance, profile, fpn_seed, config.steps, sensor_seed, fpn=fpn)

    s_med = _stat(content.sigma, np.median)
    c_med = _stat(content.coc, np.median)
    known = s_med is not None
    extra = dict(content.params)
    params = {
        "id": int(index),
        "source": config.source,
        "scene_kind": extra.pop("scene_kind"),
        "width": config.width, "height": config.height,
        "steps": config.steps, "key_step": config.key, "readout_hz": profile.readout_hz,
        **{k: extra.pop(k) for k in ("lens",)},
        "pixel_pitch": profile.pixel_pitch,
        "illuminance": float(illuminance),
        "lambda_p99": float(lam_target),
        "exposure_p99_value": _round(p99),
        "depth_min": _stat(content.depth, np.min), "depth_median": _stat(content.depth, np.median),
        "depth_max": _stat(content.depth, np.max),
        "sigma_min": _stat(content.sigma, np.min), "sigma_median": s_med,
        "sigma_max": _stat(content.sigma, np.max),
        "coc_median": c_med,
        "focus_side": focus_side(float(np.median(content.sigma)), float(np.median(content.coc)))
        if known else "unknown",
        "blur_bin": blur_bin_label(blur_bin(float(np.median(content.sigma)))) if known else "unknown",
        **extra,
        "camera_mode": config.camera_mode,
        "fpn_seed": int(fpn_seed),
        "sensor_seed": int(sensor_seed),
        "camera": to_mapping(profile),
        "spikes": {"total": int(stream.counts().sum())},
    }
    return _Made(content, irradiance, stream, fpn, profile, int(fpn_seed), lam_target, params)


def _write_sample(made: _Made, config: DatasetConfig, out: Path) -> None:
    """Write a computed sample's files (formats.md's sample directory) into ``out``."""
    from . import images
    from .atomic import save_npz, write_yaml
    from .fpn import save_truth

    content, stream, profile = made.content, made.stream, made.profile
    stream.write_dat(out / "spikes.dat", overwrite=True,
                     provenance={"dataset": config.name, "sample": int(made.params["id"])})
    images.write_png16(out / "sharp.png", content.sharp)
    images.write_png_srgb(out / "sharp_srgb.png", content.sharp)
    images.write_png16(out / "defocused.png", content.value)
    images.write_png_srgb(out / "defocused_srgb.png", content.value)
    # float32 maps barely compress (about 10 %); stored plainly, they load and save faster
    save_npz(out / "maps.npz", compressed=False, depth=content.depth, sigma=content.sigma,
             coc=content.coc, irradiance=made.irradiance)
    save_truth(out / "camera.npz", made.fpn, profile, overwrite=True, fpn_seed=made.fpn_seed)
    w0, w1 = shifted_window(config.steps, config.key, settings.DATASET_PREVIEW_WINDOW)
    rate = stream.counts(w0, w1).astype(np.float32) / float(w1 - w0)
    rate_p99 = 1.0 / (profile.dead_time + 1.0 / min(made.lam_target, 1.0))
    images.write_png_srgb(out / "preview.png", rate / np.float32(rate_p99))
    write_yaml(out / "sample.yaml", made.params)


_ENTRY_KEYS = ("id", "scene_kind", "focus_side", "blur_bin", "sigma_min", "sigma_median",
               "sigma_max", "coc_median", "depth_min", "depth_max", "illuminance", "lambda_p99",
               "fpn_seed", "sensor_seed")


def manifest_entry(params: dict) -> dict:
    """The compact per-sample record the manifest lists (the full one is ``sample.yaml``)."""
    entry = {k: params[k] for k in _ENTRY_KEYS}
    lens = params["lens"] or {}
    entry.update(focal_length=lens.get("focal_length"), f_number=lens.get("f_number"),
                 focus_distance=lens.get("focus_distance"), camera_k=params["camera"]["k"],
                 dead_time=params["camera"]["dead_time"], target_met=params["target"]["met"])
    return entry


def sample_name(index: int) -> str:
    """Directory name of sample ``index`` (``000042``)."""
    return f"{int(index):0{settings.DATASET_SAMPLE_DIGITS}d}"


# ---------------------------------------------------------------------------------------
# worker entry points (top-level: importable by spawned processes and Dask workers)
# ---------------------------------------------------------------------------------------
_WORKER_FPN_CACHE: dict = {}


def _init_worker(threads: int) -> None:
    """Process-pool initializer: share the cores between worker processes."""
    try:
        import numba

        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    except ImportError:  # pragma: no cover - numba is a dependency
        pass


@contextlib.contextmanager
def _staged_sample(out_dir: Path, index: int, tag: str):
    """Yield a fresh directory in ``out_dir/.partial``; on success rename it to
    ``samples/NNNNNN`` (atomic), on any error remove it."""
    tmp = out_dir / PARTIAL / f"{sample_name(index)}.{tag}.{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        yield tmp
        _fsync_dir(tmp)
        os.rename(tmp, out_dir / SAMPLES / sample_name(index))
        _fsync_dir(out_dir / SAMPLES)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _sample_into_dataset(config: DatasetConfig, index: int, out_dir: str) -> dict:
    """Build sample ``index`` in ``out_dir/.partial`` and rename it into ``samples/`` (atomic)."""
    with _staged_sample(Path(out_dir), index, str(os.getpid())) as tmp:
        entry = build_sample(config, index, tmp, _WORKER_FPN_CACHE)
    return entry


def _sample_as_bytes(config: DatasetConfig, index: int) -> tuple[dict, dict]:
    """Build sample ``index`` in a local temporary directory and return its files' bytes.

    For Dask workers, which need not share a file system with the client.
    """
    import tempfile

    with tempfile.TemporaryDirectory(prefix="spikesim-sample-") as tmp:
        entry = build_sample(config, index, Path(tmp), _WORKER_FPN_CACHE)
        files = {p.name: p.read_bytes() for p in sorted(Path(tmp).iterdir()) if p.is_file()}
    return entry, files


def _write_sample_files(out_dir: Path, index: int, files: dict) -> None:
    """Write a sample's files (from a Dask worker) into ``.partial`` and rename into place."""
    with _staged_sample(out_dir, index, "client") as tmp:
        for name, data in files.items():
            if "/" in name or name.startswith("."):
                raise InputError("sample file", name, "a plain file name", "worker error")
            with open(tmp / name, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------
# the dataset directory
# ---------------------------------------------------------------------------------------
def _first_difference(old, new, path: str = "") -> Optional[tuple[str, object, object]]:
    """The first key path where two plain mappings differ, with both values."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in old or key not in new:
                return sub, old.get(key, "<absent>"), new.get(key, "<absent>")
            diff = _first_difference(old[key], new[key], sub)
            if diff:
                return diff
        return None
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new)):
            diff = _first_difference(a, b, f"{path}[{i}]")
            if diff:
                return diff
        return None
    return None if old == new else (path, old, new)


def _is_leftover(name: str) -> bool:
    """A temporary file of an atomic manifest/config write that was interrupted."""
    return any(name.startswith(f".{own}.") and ".part" in name for own in (MANIFEST, CONFIG))


def _prepare_directory(config: DatasetConfig, out_dir: Path, resume: bool, overwrite: bool) -> None:
    """Refuse a non-empty directory unless resume (same config) or overwrite (start over)."""
    import yaml

    if resume and overwrite:
        raise InputError("--resume/--overwrite", "both", "at most one of them",
                         "--resume continues a dataset, --overwrite starts it over; pick one")
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError("output", str(out_dir), "a directory", "choose a directory path")
    entries = sorted(p.name for p in out_dir.iterdir()) if out_dir.is_dir() else []
    if resume or overwrite:
        for e in [e for e in entries if _is_leftover(e)]:     # a write killed mid-way
            (out_dir / e).unlink()
            entries.remove(e)
    if entries and not (resume or overwrite):
        raise InputError("output", f"{out_dir} (not empty: {', '.join(entries[:4])}"
                         f"{', ...' if len(entries) > 4 else ''})", "an empty or new directory",
                         "pass --resume to continue the dataset there, --overwrite to start "
                         "it over, or choose another -o")
    if entries and overwrite:
        foreign = [e for e in entries if e not in _OWN_ENTRIES]
        if foreign:
            raise InputError("output", f"{out_dir} (holds {', '.join(foreign[:4])})",
                             "a dataset directory (manifest.yaml, config.yaml, samples/)",
                             "--overwrite only replaces a dataset; choose another -o")
        for e in entries:
            target = out_dir / e
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        entries = []
    if entries and resume:
        cfg_path = out_dir / CONFIG
        if not cfg_path.is_file():
            raise InputError("output", str(out_dir), "a dataset directory with config.yaml",
                             "--resume continues a dataset made by spikesim generate; choose "
                             "another -o or --overwrite")
        try:
            old = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            raise InputError(str(cfg_path), "invalid YAML", "the config of the dataset",
                             "restore it or start over with --overwrite") from None
        old_cfg = from_mapping(DatasetConfig, old, "config.yaml")
        old_map, new_map = config_mapping(old_cfg), config_mapping(config)
        old_map.pop("num"), new_map.pop("num")
        diff = _first_difference(old_map, new_map)
        if diff:
            key, was, now = diff
            raise ConfigError(f"config.{key}", f"{now!r} (the dataset in {out_dir} was made "
                              f"with {was!r})", "the configuration of the dataset being resumed",
                              "resume with the original config, or pass --overwrite to start "
                              "over, or choose another -o")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / SAMPLES).mkdir(exist_ok=True)
    partial = out_dir / PARTIAL
    if partial.exists():
        shutil.rmtree(partial)     # half-built samples of an interrupted run


def _keep_catalogue(out_dir: Path, catalogue: list) -> None:
    """Write ``images.yaml``; a resumed dataset must find the same pictures."""
    import yaml

    from .atomic import write_yaml

    path = out_dir / IMAGES
    if path.is_file():
        old = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        if old != catalogue:
            was = {e["name"]: e["sha256"] for e in old}
            now = {e["name"]: e["sha256"] for e in catalogue}
            changed = sorted(n for n in set(was) | set(now) if was.get(n) != now.get(n))
            raise InputError("image_dir", f"{len(changed)} picture(s) changed since the "
                             f"dataset in {out_dir} was started, e.g. "
                             f"{changed[0] if changed else 'their sizes'}",
                             "the pictures listed in its images.yaml",
                             "restore them, or pass --overwrite to start over, or choose "
                             "another -o")
        return
    write_yaml(path, catalogue)


def _existing_ids(out_dir: Path) -> set:
    ids = set()
    for p in (out_dir / SAMPLES).iterdir():
        if p.is_dir() and p.name.isdigit() and (p / "sample.yaml").is_file():
            ids.add(int(p.name))
    return ids


def _read_entry(out_dir: Path, index: int) -> dict:
    import yaml

    path = out_dir / SAMPLES / sample_name(index) / "sample.yaml"
    return manifest_entry(yaml.safe_load(path.read_text(encoding="utf-8")))


def _write_manifest(out_dir: Path, config: DatasetConfig, entries: dict, complete: bool) -> None:
    from . import __version__
    from .atomic import write_yaml

    manifest = {
        "toolkit_version": __version__,
        "name": config.name,
        "seed": int(config.seed),
        "num": int(config.num),
        "done": len(entries),
        "complete": bool(complete),
        "width": config.width, "height": config.height, "steps": config.steps,
        "key_step": config.key,
        "config": config_mapping(config),
        "samples": [entries[i] for i in sorted(entries)],
    }
    write_yaml(out_dir / MANIFEST, manifest)


def generate_dataset(config, out_dir, num: int | None = None, workers: int = 1,
                     scheduler=None, resume: bool = False, overwrite: bool = False,
                     progress=None) -> dict:
    """Generate (or continue) a dataset in ``out_dir``.

    Parameters
    ----------
    config : DatasetConfig, a mapping or a YAML path
    out_dir : the dataset directory (created; a non-empty one needs ``resume``/``overwrite``)
    num : number of samples (overrides ``config.num``). With ``resume`` it may grow a dataset:
        sample ``i`` does not depend on ``num``.
    workers : local worker processes (spawned, so a script calling this with workers > 1
        needs the usual ``if __name__ == "__main__":`` guard; 1 = in this process)
    scheduler : address of a Dask distributed scheduler (``tcp://host:8786``) or a
        ``distributed.Client``; samples are computed on its workers and written here
        (workers need no shared file system, but need this package installed). Needs the
        ``dask`` extra.
    resume : continue an interrupted dataset; its ``config.yaml`` must match (except ``num``)
    overwrite : delete the dataset in ``out_dir`` and start over
    progress : optional callable ``progress(n)`` told of ``n`` newly finished samples

    Returns
    -------
    dict : the manifest written to ``out_dir/manifest.yaml``.
    """
    from .atomic import write_yaml

    config = load_dataset_config(config, num=num)
    out_dir = Path(out_dir)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError("--workers", workers, "an integer >= 1", "use --workers 1 or more")
    if scheduler is not None and workers != 1:
        raise InputError("--workers", workers, "1 with --scheduler (the cluster's workers "
                         "compute the samples)", "drop --workers, or drop --scheduler to use "
                         "local processes")
    if config.source == "dpdd":
        _dpdd_index(str(config.dpdd_root), config.dpdd_split)     # a missing layout fails early
    catalogue = None
    if config.source == "images":                # every picture checked before any write
        from .inputs import image_catalogue

        catalogue = image_catalogue(config.image_dir, (config.height, config.width))
    client = _dask_client(scheduler) if scheduler is not None else None
    _prepare_directory(config, out_dir, resume, overwrite)
    if catalogue is not None:
        _keep_catalogue(out_dir, catalogue)
    done = _existing_ids(out_dir)
    if done and max(done) >= config.num:
        raise InputError("--num", config.num, f"at least {max(done) + 1}, the samples the "
                         f"dataset in {out_dir} already holds", "resume with a larger --num "
                         "(a dataset can grow, not shrink), or --overwrite")
    write_yaml(out_dir / CONFIG, config_mapping(config))
    entries = {i: _read_entry(out_dir, i) for i in sorted(done)}
    pending = [i for i in range(config.num) if i not in done]
    if progress is not None and entries:
        progress(len(entries))
    _write_manifest(out_dir, config, entries, complete=not pending)
    if not pending:
        return read_manifest(out_dir)

    last = [time.monotonic(), 0.0]          # time of the last manifest write, its duration

    def finished(index: int, entry: dict) -> None:
        entries[index] = entry
        if progress is not None:
            progress(1)
        now = time.monotonic()
        # a large manifest takes a while to dump: keep that under ~10 % of the run
        if now - last[0] >= max(settings.DATASET_MANIFEST_EVERY_S, 10.0 * last[1]):
            _write_manifest(out_dir, config, entries, complete=False)
            last[0], last[1] = time.monotonic(), time.monotonic() - now

    try:
        if client is not None:
            _run_dask(client, config, out_dir, pending, finished)
        elif workers == 1:
            for i in pending:
                finished(i, _sample_into_dataset(config, i, str(out_dir)))
        else:
            _run_pool(config, out_dir, pending, workers, finished)
    finally:
        _write_manifest(out_dir, config, entries, complete=len(entries) >= config.num)
        if client is not None and isinstance(scheduler, str):
            client.close()
        try:
            (out_dir / PARTIAL).rmdir()        # only when empty (nothing half-built left)
        except OSError:
            pass
    return read_manifest(out_dir)


def _run_pool(config, out_dir: Path, pending: list, workers: int, finished) -> None:
    import concurrent.futures as cf
    import multiprocessing

    threads = max(1, (os.cpu_count() or 1) // workers)
    ctx = multiprocessing.get_context("spawn")
    limit = workers * settings.DATASET_INFLIGHT_PER_WORKER
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                initargs=(threads,)) as pool:
        todo = iter(pending)
        running = {}
        try:
            for i in todo:
                running[pool.submit(_sample_into_dataset, config, i, str(out_dir))] = i
                if len(running) >= limit:
                    break
            while running:
                ready, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                for fut in ready:
                    index = running.pop(fut)
                    finished(index, fut.result())
                    nxt = next(todo, None)
                    if nxt is not None:
                        running[pool.submit(_sample_into_dataset, config, nxt, str(out_dir))] = nxt
        except BaseException:
            for fut in running:
                fut.cancel()
            raise


def _dask_client(scheduler):
    try:
        from dask.distributed import Client
    except ImportError:
        raise InputError("--scheduler", str(scheduler), "dask[distributed] installed",
                         "pip install 'spike-defocus[dask]' (dask[distributed]), or use "
                         "--workers for local processes") from None
    if isinstance(scheduler, Client):
        return scheduler
    try:
        return Client(str(scheduler), timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise InputError("--scheduler", str(scheduler), "the address of a running Dask scheduler",
                         f"could not connect ({exc.__class__.__name__}); start one with "
                         "`dask scheduler` and give its tcp://HOST:PORT") from None


def _run_dask(client, config, out_dir: Path, pending: list, finished) -> None:
    from dask.distributed import as_completed

    nthreads = max(1, sum(client.nthreads().values()))
    limit = nthreads * settings.DATASET_INFLIGHT_PER_WORKER
    token = uuid.uuid4().hex[:12]
    todo = iter(pending)
    first = [client.submit(_sample_as_bytes, config, i, key=f"spikesim-sample-{token}-{i}")
             for i in _take(todo, limit)]
    index_of = {f.key: i for f, i in zip(first, pending[:len(first)])}
    queue = as_completed(first)
    for fut in queue:
        index = index_of.pop(fut.key)
        entry, files = fut.result()
        fut.release()
        _write_sample_files(out_dir, index, files)
        finished(index, entry)
        nxt = next(todo, None)
        if nxt is not None:
            new = client.submit(_sample_as_bytes, config, nxt, key=f"spikesim-sample-{token}-{nxt}")
            index_of[new.key] = nxt
            queue.add(new)


def _take(it, n: int) -> list:
    out = []
    for x in it:
        out.append(x)
        if len(out) >= n:
            break
    return out


# ---------------------------------------------------------------------------------------
# reading a dataset back
# ---------------------------------------------------------------------------------------
def read_manifest(dataset_dir) -> dict:
    """The manifest of a dataset directory (plain data).

    Raises :class:`InputError` when ``dataset_dir`` holds no ``manifest.yaml``.
    """
    import yaml

    d = Path(dataset_dir)
    path = d / MANIFEST
    if not path.is_file():
        raise InputError("dataset", str(d), "a directory written by `spikesim generate` "
                         "(with manifest.yaml)",
                         "check the path, or make one with `spikesim generate --config CFG.yaml "
                         f"-o {d}`")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError:
        raise InputError(str(path), "invalid YAML", "a dataset manifest",
                         "regenerate it with `spikesim generate --resume`") from None
    if not isinstance(data, dict) or "samples" not in data:
        raise InputError(str(path), "no samples list", "a dataset manifest",
                         "regenerate it with `spikesim generate --resume`")
    return data


@dataclass
class Sample:
    """One generated sample, read back.

    stream : SpikeStream ``(T, H, W)`` (memory-mapped ``spikes.dat``)
    sharp : (H, W) float32, linear scene value in [0, 1] (the target, from the 16-bit PNG)
    defocused : (H, W) float32, defocused value = irradiance / illuminance (16-bit PNG)
    depth, sigma, coc, irradiance : (H, W) float32 maps: metres, px, signed px, lux
    camera : dict of the camera's true maps (``gain, dark, hot, dead, k, dead_time, theta_sd``)
    params : the full ``sample.yaml``
    """

    path: Optional[Path]         # None for a sample made in memory (compute_sample)
    params: dict
    stream: object
    sharp: np.ndarray
    defocused: np.ndarray
    depth: np.ndarray
    sigma: np.ndarray
    coc: np.ndarray
    irradiance: np.ndarray
    camera: dict

    @property
    def id(self) -> int:
        return int(self.params["id"])

    @property
    def key_step(self) -> int:
        return int(self.params["key_step"])

    @property
    def illuminance(self) -> float:
        """Lux of a scene value of 1."""
        return float(self.params["illuminance"])

    @property
    def target_lambda(self) -> np.ndarray:
        """The network's target: ``k * illuminance * sharp``, charge per step of an ideal,
        FPN-free, in-focus pixel, (H, W) float32."""
        k = float(self.params["camera"]["k"])
        return (np.float32(k * self.illuminance) * self.sharp).astype(np.float32)


def load_sample(sample_dir) -> Sample:
    """Read one sample directory (``DIR/samples/000000``) back; see :class:`Sample`."""
    import yaml

    from .images import read_image
    from .stream import SpikeStream

    d = Path(sample_dir)
    missing = [n for n in SAMPLE_FILES if not (d / n).is_file()]
    if missing:
        raise InputError("sample", str(d), "a sample directory written by `spikesim generate`",
                         f"missing {', '.join(missing)}; check the path")
    params = yaml.safe_load((d / "sample.yaml").read_text(encoding="utf-8"))
    size = (int(params["width"]), int(params["height"]))
    stream = SpikeStream.read_dat(d / "spikes.dat", size=size, strict=True)
    with np.load(d / "maps.npz", allow_pickle=False) as z:
        maps = {k: z[k] for k in ("depth", "sigma", "coc", "irradiance")}
    with np.load(d / "camera.npz", allow_pickle=False) as z:
        camera = {k: z[k] for k in z.files}
    return Sample(d, params, stream, read_image(d / "sharp.png"), read_image(d / "defocused.png"),
                  camera=camera, **maps)


def iter_samples(dataset_dir) -> Iterator[Sample]:
    """Yield the samples the manifest lists, in id order."""
    d = Path(dataset_dir)
    for entry in read_manifest(d)["samples"]:
        yield load_sample(d / SAMPLES / sample_name(entry["id"]))
