"""The dataset configuration: :class:`DatasetConfig` (with :class:`CameraRanges`), its
validation and loading.

Every field carries its unit and range (:func:`spikesim.config.spec`); loading rejects
unknown keys and names the key path of any error (:class:`~spikesim.errors.ConfigError`).
``source`` accepts the names of the source registry (:data:`.sources.SOURCES`), and each
source checks the keys it needs. How a sample is drawn from these ranges:
:mod:`spikesim.dataset` ("Sampling").
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Optional

from .. import settings
from ..config import CameraProfile, from_mapping, read_yaml_mapping, spec, to_mapping
from ..errors import ConfigError
from .layouts import DEFAULT_LAYOUT_WEIGHTS, LAYOUTS
from .sources import SOURCES
from .sources.mixed import DEFAULT_CROP_SCALE, DEFAULT_MIX, PARTS


def _default_kinds() -> list:
    """Every concrete scene kind (``random`` is a mixture of them, not a kind of its own)."""
    from ..scenes import RANDOM_WEIGHTS

    return list(RANDOM_WEIGHTS)


@dataclass(frozen=True)
class CameraRanges:
    """Per-sample camera draws (physics.md §4b, "range to support"); ``[low, high]`` each.

    ``k_scale`` multiplies ``settings.K_SCALE_REFERENCE`` (1/800 threshold per lux per
    step, log-uniform); ``dead_time`` is an integer drawn uniformly from ``low..high``
    inclusive; the others are uniform. The defaults draw white-noise cameras (the column,
    row and shading parts of the gain 0; the dark offset's log-s.d. 0.5, hot pixels at
    80-300 lux). The **structured** style opts in: give ``gain_column_sd``,
    ``gain_row_sd``, ``gain_shading_sd`` ranges (and ``structured_fraction`` < 1 to keep
    some white-noise cameras), e.g. physics.md §4b's block. ``hot_levels`` is not drawn:
    it is every drawn camera's ``[hot_low, hot_high]``. The base camera's other fields
    (pitch, readout rate, shading scale, dark structure) are kept.
    """

    k_scale: list[float] = spec([0.3, 3.0], "x 1/800", 0.0, None, low_open=True,
                         doc="responsivity k / K_SCALE_REFERENCE (log-uniform)")
    gain_sd: list[float] = spec([0.0, 0.08], "", 0.0, 0.5,
                                doc="s.d. of the gain's pixel (white) part")
    dark_median: list[float] = spec([0.0, 10.0], "lux", 0.0, None, doc="median dark offset L_d")
    hot_fraction: list[float] = spec([0.0, 0.005], "", 0.0, 0.1, doc="fraction of hot pixels")
    dead_fraction: list[float] = spec([0.0, 0.001], "", 0.0, 0.1, doc="fraction of dead pixels")
    theta_sd: list[float] = spec([0.0, 0.03], "thresholds", 0.0, 0.5, doc="threshold noise s.d.")
    dead_time: list[int] = spec([0, 1], "steps", 0, 16, doc="dead time after a spike (integers)")
    # drawn from their own stream (seed purpose SAMPLE_CAMERA_STRUCTURE): the seven above
    # draw exactly what they drew before these existed
    gain_column_sd: list[float] = spec([0.0, 0.0], "", 0.0, 0.2,
                                       doc="s.d. of the gain's column part")
    gain_row_sd: list[float] = spec([0.0, 0.0], "", 0.0, 0.2, doc="s.d. of the gain's row part")
    gain_shading_sd: list[float] = spec([0.0, 0.0], "", 0.0, 0.2,
                                        doc="s.d. of the gain's smooth shading part")
    structured_fraction: float = spec(1.0, "", 0.0, 1.0,
                                      doc="share of drawn cameras that get the column, row "
                                          "and shading parts (the others: white noise only)")
    dark_log_sd: list[float] = spec([0.5, 0.5], "", 0.0, 3.0,
                                    doc="log-s.d. of the dark offset's pixel part")
    hot_levels: list[float] = spec([80.0, 300.0], "lux", 0.0, None,
                                   doc="hot pixels' dark offset range [hot_low, hot_high] "
                                       "of every drawn camera (not drawn)")

    def validate(self, where: str = "camera_ranges") -> None:
        for f in dataclasses.fields(self):
            if f.name != "structured_fraction":
                _check_range(getattr(self, f.name), f"{where}.{f.name}")
        if any(float(v) != int(v) for v in self.dead_time):
            raise ConfigError(f"{where}.dead_time", self.dead_time, "integer steps",
                              "write whole numbers, e.g. [0, 1]")


@dataclass(frozen=True)
class DatasetConfig:
    """What ``spikesim generate`` makes. Every field has its unit; ranges are ``[low, high]``.

    See :mod:`spikesim.dataset` ("Sampling") for how a sample is drawn from these ranges.
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
    # choices: the source registry itself, so a source registered at run time is accepted
    source: str = spec("procedural", choices=SOURCES,
                       doc="procedural scenes with depth, photographs with a random depth "
                           "(image_dir), a DPDD directory (real blur), or a mix of them (mix)")
    image_dir: str = spec("", doc="directory of photographs for source: images")
    dpdd_root: str = spec("", doc="DPDD root ({train,val,test}_c/{source,target}) for source: dpdd")
    dpdd_split: str = spec("train", choices=("train", "val", "test"), doc="DPDD split")
    mix: dict = spec(DEFAULT_MIX, "", 0.0, None,
                     doc="source: mixed: relative weights of its parts (procedural, images, "
                         "dpdd); each sample's part by spikesim.dataset.shares (near-exact "
                         "proportions over any run)")
    crop_scale: list[float] = spec([], "", 0.0, 1.0, low_open=True,
                                   doc="photographs: [lo, hi] crops at random scales, a fraction "
                                       "(log-uniform) of the largest crop of the sample's shape, "
                                       "resampled (Lanczos-3, linear light); []: source: images "
                                       "crops at the picture's own resolution, source: mixed "
                                       f"uses {DEFAULT_CROP_SCALE}")
    depth_layouts: dict = spec({}, "", 0.0, None,
                               doc="photographs: relative weights of the depth layouts ("
                                   + ", ".join(LAYOUTS) + "; spikesim.dataset.layouts); {}: "
                                   "source: images gives every picture a random depth, source: "
                                   f"mixed uses {DEFAULT_LAYOUT_WEIGHTS}")
    photo_bokeh: float = spec(0.0, "", 0.0, 1.0,
                              doc="photographs: the share of samples whose sharp target keeps a "
                                  "photographic bokeh (a virtual lens's Gaussian blur growing "
                                  "with |1/depth - 1/focus|, applied before the camera's optics; "
                                  "spikesim.dataset.bokeh); 0: none")
    photo_bokeh_sigma: list[float] = spec([1.0, 4.0], "px", 0.0, 20.0,
                                          doc="photo_bokeh: [lo, hi] of the blur's largest σ "
                                              "(uniform)")
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
        _check_shares(self.mix, PARTS, f"{p}mix", "e.g. {procedural: 0.4, images: 0.6}")
        if self.depth_layouts:
            _check_shares(self.depth_layouts, LAYOUTS, f"{p}depth_layouts",
                          "e.g. {random: 0.3, plane: 0.15, ramp: 0.25, objects: 0.3}")
        if self.crop_scale:
            _check_range(self.crop_scale, f"{p}crop_scale")
        _check_range(self.photo_bokeh_sigma, f"{p}photo_bokeh_sigma")
        if self.camera.maps and self.camera_mode != "fixed":
            raise ConfigError(f"{p}camera_mode", self.camera_mode,
                              "fixed with camera.maps (one camera, read from a calibration)",
                              "set camera_mode: fixed")
        if self.camera.maps and (self.width, self.height) != self.camera.size:
            raise ConfigError(f"{p}width", f"{self.width}x{self.height}",
                              f"the size of the camera maps {self.camera.maps} "
                              f"({self.camera.width}x{self.camera.height})",
                              "set width and height to the maps' (no crop of a real camera)")
        SOURCES[self.source].check(self, p)

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
        from ..scenes import RANDOM_WEIGHTS

        kinds = list(RANDOM_WEIGHTS)
        return kinds, list(self.scene_weights) or [float(RANDOM_WEIGHTS[k]) for k in kinds]


def _check_range(value, where: str) -> None:
    if len(value) != 2:
        raise ConfigError(where, value, "[low, high]", "write a two-item list")
    if value[0] > value[1]:
        raise ConfigError(where, value, "low <= high", "swap the bounds")


def _check_shares(weights, names, where: str, example: str) -> None:
    """``weights``: a mapping of some of ``names`` to numbers >= 0 with a positive sum."""
    if not isinstance(weights, dict) or not weights:
        raise ConfigError(where, weights, "a mapping of names to weights", example)
    for name, weight in weights.items():
        if name not in names:
            raise ConfigError(f"{where}.{name}", "an unknown name", "one of " + ", ".join(names),
                              "remove it or fix its spelling")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) \
                or not weight >= 0 or weight == float("inf"):
            raise ConfigError(f"{where}.{name}", weight, "a finite weight >= 0",
                              "write a plain number")
    if sum(float(w) for w in weights.values()) <= 0:
        raise ConfigError(where, weights, "a positive sum of weights", example)


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
