"""Configurations of the DeSpike network, its loss and its training.

Every configuration is a validated dataclass (:mod:`spikesim.config`): YAML files are
loaded with ``yaml.safe_load`` into them and errors name the key path.

Model presets (:data:`PRESETS`):

``despike-paper``
    sized like the paper (9.498 M parameters) by its widths and depths.
``despike-small``
    sized to train on a 2-core CPU; the network of both bundled files (655,992
    parameters; ``despike-natural.pt`` adds 72 for its calibration-flag input).
``despike-small-v2``
    the same at half the width (180,418 parameters): the second bundled model, and the
    architecture of the short-budget ablations.

Ablation switches (the paper's table, despike.md) are fields of :class:`ModelConfig`:
``multi_temporal`` (w/o MTS: only the longest window), ``multi_scale`` (w/o MSS: one level
at full resolution), ``use_calibration`` (w/o NC: spike weight 1 everywhere),
``attention`` (w/o transformer: candidate attention -> concatenation + 1x1 mixing and
MDTA -> plain value mixing), ``physical_kernels`` (w/o physical kernel: the Gaussian
kernel bank -> ordinary 3x3 convolutions).

``calibration_flag`` (not an ablation): one more constant input channel of the shared
encoder saying whether the features are calibrated (1) or the calibration is absent (0);
trained with ``data.calib_withheld``, so one model serves cameras with and without a
calibration (despike.md §2, "Calibration withheld").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from spikesim.config import from_mapping, read_yaml_mapping, spec, to_mapping
from spikesim.errors import ConfigError, InputError

from restore import settings


def check_gaussian_kernels(config, where: str) -> None:
    """Refuse a Gaussian kernel bank that cannot be built: ``config.kernel_size`` (px) must
    be odd and ``config.sigma_max`` (px) at least ``config.sigma_min`` (a ``ConfigError``
    naming ``where``'s key)."""
    if config.kernel_size % 2 == 0:
        raise ConfigError(f"{where}.kernel_size", config.kernel_size, "an odd size",
                          f"use {config.kernel_size + 1}")
    if config.sigma_max < config.sigma_min:
        raise ConfigError(f"{where}.sigma_max", config.sigma_max,
                          f">= sigma_min ({config.sigma_min})", "swap them")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a DeSpike network. Levels are listed coarse to fine (1/4, 1/2, 1)."""

    name: str = spec("despike-small", doc="configuration name (stored in the weights)")
    windows: list[int] = spec(list(settings.DESPIKE_WINDOWS), "steps", 1, 100_000,
                              doc="IF integration windows T_i around the key step")
    multi_temporal: bool = spec(True, doc="use all windows (false: only the longest; w/o MTS)")
    multi_scale: bool = spec(True, doc="three levels 1/4, 1/2, 1 (false: full res only; w/o MSS)")
    use_calibration: bool = spec(True, doc="weight spikes by the calibration's w (false: w/o NC)")
    attention: bool = spec(True, doc="attention fusion and MDTA "
                                     "(false: QKV mixing; w/o transformer)")
    physical_kernels: bool = spec(True, doc="Gaussian-initialised kernel bank (false: plain convs)")
    linearize: bool = spec(True, doc="map rates to charge per step with the calibrated dead time")
    calibration_flag: bool = spec(False, doc="one more encoder input channel: 1 when the "
                                  "features are calibrated, 0 when the calibration is absent "
                                  "(train with data.calib_withheld > 0)")
    correction: str = spec("full", choices=("full", "weight"),
                           doc="calibrated input: the calibration's full inverse of every "
                               "window's rate (exact at every level) or the paper's Eq. 14 "
                               "spike weight w (exact at the operating level only)")
    encoder_channels: int = spec(8, "", 1, 1024, doc="channels of the shared shallow encoder")
    num_kernels: int = spec(4, "", 1, 64, doc="m, kernels of the PSF bank")
    kernel_size: int = spec(7, "px", 1, 63, doc="side of each bank kernel (odd)")
    sigma_min: float = spec(0.5, "px", 0.0, 20.0, low_open=True, doc="smallest initial sigma")
    sigma_max: float = spec(3.0, "px", 0.0, 20.0, low_open=True, doc="largest initial sigma")
    widths: list[int] = spec([128, 64, 32], "", 1, 4096, doc="channels per level, coarse to fine")
    depths: list[int] = spec([3, 2, 1], "", 0, 64, doc="transformer blocks per level")
    heads: list[int] = spec([4, 2, 1], "", 1, 64, doc="MDTA heads per level")
    fusion_heads: int = spec(1, "", 1, 64, doc="heads of the candidate attention")
    fusion_key_dim: int = spec(8, "", 1, 256, doc="query/key channels per fusion head")
    ffn_expansion: float = spec(2.0, "", 0.0, 16.0, low_open=True, doc="GDFN expansion factor")

    def validate(self, where: str = "model") -> None:
        if len(self.windows) < 1:
            raise ConfigError(f"{where}.windows", self.windows, "at least one window",
                              "e.g. [64, 96, 128, 160, 192]")
        if list(self.windows) != sorted(set(self.windows)):
            raise ConfigError(f"{where}.windows", self.windows, "strictly increasing lengths",
                              "sort them and drop duplicates")
        for key in ("widths", "depths", "heads"):
            if len(getattr(self, key)) != 3:
                raise ConfigError(f"{where}.{key}", getattr(self, key),
                                  "three values (levels 1/4, 1/2, 1)", "give three numbers")
        for lvl, (w, h) in enumerate(zip(self.widths, self.heads)):
            if w % h:
                raise ConfigError(f"{where}.heads[{lvl}]", h, f"a divisor of widths[{lvl}]={w}",
                                  "choose heads that divide the width")
        check_gaussian_kernels(self, where)

    @property
    def used_windows(self) -> tuple[int, ...]:
        """The windows the network receives (only the longest without MTS)."""
        return tuple(self.windows) if self.multi_temporal else (max(self.windows),)

    @property
    def num_levels(self) -> int:
        return 3 if self.multi_scale else 1

    @property
    def used_levels(self) -> tuple[int, ...]:
        """Indices into ``widths``/``depths``/``heads`` of the levels built, coarse to fine."""
        return (0, 1, 2) if self.multi_scale else (2,)


@dataclass(frozen=True)
class LossConfig:
    """``L = λ1 Σ_i Σ_s β_i β_s MSE_{i,s} + λ2 L_FFT + λ3 L_perc`` (despike.md)."""

    window_beta: list[float] = spec([0.1, 0.3, 0.5, 0.7, 1.0], "", 0.0, None,
                                    doc="β per window, shortest to longest")
    scale_beta: list[float] = spec([1.0, 1.0, 1.0], "", 0.0, None,
                                   doc="β per level, coarse to fine")
    lambda_mse: float = spec(1.0, "", 0.0, None, doc="λ1")
    lambda_fft: float = spec(0.2, "", 0.0, None, doc="λ2 (MIMO-UNet FFT L1)")
    lambda_perc: float = spec(0.2, "", 0.0, None, doc="λ3, the perceptual term")
    perceptual: str = spec("substitute", choices=("substitute", "lpips-vgg", "lpips-alex"),
                           doc="the perceptual term: substitute (1-SSIM + gradient L1, "
                               "multi-scale) or LPIPS with VGG16 / AlexNet (restore.lpips; "
                               "needs space: display)")
    space: str = spec("display", choices=("display", "linear"),
                      doc="where every term is computed: display (the sRGB-encoded scene "
                          "value the evaluation scores) or linear (λ over the image scale)")

    def validate(self, where: str = "loss") -> None:
        if len(self.scale_beta) != 3:
            raise ConfigError(f"{where}.scale_beta", self.scale_beta, "three values",
                              "one per level, coarse to fine")
        if self.perceptual != "substitute" and self.space != "display":
            raise ConfigError(f"{where}.perceptual", self.perceptual,
                              "substitute with space: linear (LPIPS compares display images "
                              "in [0, 1])", "set space: display or perceptual: substitute")


@dataclass(frozen=True)
class DataConfig:
    """Training data: procedural scenes over a spread of cameras, lenses and light.

    ``source: procedural`` makes samples on the fly with the toolkit's dataset generator
    (``generator`` is a ``spikesim generate`` config mapping: scene kinds, blur, lenses,
    light, camera ranges; its width/height/steps/seed are set here); ``source:
    directory`` streams a ``spikesim generate`` directory ``train_dir``.
    """

    source: str = spec("procedural", choices=("procedural", "directory"), doc="data source")
    train_dir: str = spec("", doc="spikesim generate directory (source: directory)")
    generator: dict = spec({}, doc="spikesim generate config keys (ranges of scenes, "
                               "lenses, light, cameras); defaults: the generator's")
    crop: int = spec(96, "px", 16, 4096, doc="training crop side (multiple of 4)")
    steps: int = spec(256, "steps", 192, 100_000, doc="stream length simulated per sample")
    cameras: int = spec(64, "", 1, 1_000_000, doc="distinct simulated training cameras")
    calib_steps: int = spec(4000, "steps", 100, 1_000_000, doc="steps per uniform field")
    calib_levels: list[float] = spec([0.0, 0.2, 0.45], "thresholds/step", 0.0, None,
                                     doc="uniform field levels as the nominal pixel's charge "
                                         "per step (lux = level / k: each camera is "
                                         "calibrated within its own range, below saturation)")
    val_samples: int = spec(16, "", 1, 100_000, doc="fixed validation set size")
    val_size: int = spec(128, "px", 16, 4096, doc="validation sample side")
    val_seed: int = spec(1_000_003, "", 0, None, doc="seed of the validation set and cameras")
    val_cameras: int = spec(8, "", 1, 100_000, doc="distinct validation cameras")
    augment: bool = spec(True, doc="random flips and transposes (the paper's augmentation)")
    short_prob: float = spec(0.25, "", 0.0, 1.0,
                             doc="probability that an example keeps only a short stream "
                                 "(windows clipped, as at evaluation with 64 or 32 steps)")
    short_lengths: list[int] = spec([32, 64, 96, 128], "steps", 8, 100_000,
                                    doc="stream lengths drawn for the short examples")
    pool: int = spec(0, "", 0, 1_000_000,
                     doc="0: every example is a new procedural sample; N: make N samples "
                         "of pool_size once (cached: the run's cache/ or --cache) and draw random "
                         "crops, stream lengths and flips of them (much cheaper per step)")
    pool_size: int = spec(128, "px", 16, 4096, doc="side of the pooled samples")
    calib_withheld: float = spec(0.0, "", 0.0, 1.0,
                                 doc="share of samples whose calibration is withheld: "
                                     "uncalibrated features (the camera's dead time only), "
                                     "calibration flag 0; chosen per sample index, "
                                     "validation included")
    val_natural: dict = spec({}, doc="generator keys of a second, natural validation set "
                                     "over `generator` (e.g. {source: images, image_dir: "
                                     "data/photos/val}); empty: procedural validation only")
    val_natural_samples: int = spec(12, "", 1, 100_000,
                                    doc="size of the natural validation set (val_size, "
                                        "val_seed and val_cameras as the procedural one)")

    def validate(self, where: str = "data") -> None:
        for key in ("generator", "val_natural"):
            if not isinstance(getattr(self, key), dict):
                raise ConfigError(f"{where}.{key}", repr(getattr(self, key)),
                                  "a mapping of `spikesim generate` config keys",
                                  "write key: value pairs under it, or leave it out")
        if self.crop % 4 or self.val_size % 4:
            raise ConfigError(f"{where}.crop", self.crop, "a multiple of 4",
                              "the three levels need sides divisible by 4")
        if self.pool and self.pool_size < self.crop:
            raise ConfigError(f"{where}.pool_size", self.pool_size, f">= crop ({self.crop})",
                              "make the pooled samples at least as large as the crop")
        if self.source == "directory" and not self.train_dir:
            raise ConfigError(f"{where}.train_dir", self.train_dir, "a directory",
                              "set train_dir to a spikesim generate output")


@dataclass(frozen=True)
class TrainConfig:
    """A training run (``spikerestore train --config CFG.yaml``)."""

    model: ModelConfig = spec(ModelConfig(), doc="architecture (or preset: key)")
    preset: str = spec("", doc="start from a preset (despike-small, despike-paper)")
    init: str = spec("", doc="weights file to start from (another run's final.pt, same "
                     "architecture; relative to the working directory), a new schedule "
                     "over `steps`; empty: initialise from `seed`")
    loss: LossConfig = spec(LossConfig(), doc="loss weights")
    data: DataConfig = spec(DataConfig(), doc="training data")
    steps: int = spec(1000, "", 1, None, doc="optimiser steps")
    batch_size: int = spec(4, "", 1, 4096, doc="samples per step per process")
    lr: float = spec(2e-3, "", 0.0, None, low_open=True, doc="peak learning rate (AdamW)")
    weight_decay: float = spec(1e-4, "", 0.0, None, doc="AdamW weight decay")
    warmup: int = spec(100, "steps", 0, None, doc="linear warm-up steps")
    min_lr_ratio: float = spec(0.05, "", 0.0, 1.0, doc="cosine floor as a fraction of lr")
    grad_clip: float = spec(1.0, "", 0.0, None, doc="gradient norm clip (0: off)")
    val_every: int = spec(200, "steps", 1, None, doc="validation period")
    select_on: str = spec("auto", choices=("auto", "natural", "procedural", "mean"),
                          doc="validation PSNR that picks best.pt: the natural set, the "
                              "procedural one or their mean; auto: natural when "
                              "data.val_natural is set, else procedural")
    ckpt_every: int = spec(100, "steps", 1, None, doc="checkpoint period")
    log_every: int = spec(10, "steps", 1, None, doc="log period")
    seed: int = spec(0, "", 0, None, doc="seed of initialisation and data")
    threads: int = spec(0, "", 0, 256, doc="torch CPU threads (0: leave torch's default)")

    def validate(self, where: str = "") -> None:
        p = f"{where}." if where and where != "TrainConfig" else ""
        if self.select_on in ("natural", "mean") and not self.data.val_natural:
            raise ConfigError(f"{p}select_on", self.select_on,
                              "procedural (or auto) without a natural validation set",
                              "set data.val_natural, or select_on: procedural")

    @property
    def selection(self) -> str:
        """The validation PSNR that picks ``best.pt``: ``natural``, ``procedural`` or
        ``mean`` (``select_on: auto`` resolved)."""
        if self.select_on != "auto":
            return self.select_on
        return "natural" if self.data.val_natural else "procedural"


def merge_mappings(base: dict, over: dict) -> dict:
    """``base`` with the keys of ``over`` replaced (nested mappings merged key by key)."""
    out = dict(base)
    for key, value in (over or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_mappings(out[key], value)
        else:
            out[key] = value
    return out


PRESETS: dict[str, ModelConfig] = {
    "despike-small": ModelConfig(),
    "despike-small-v2": ModelConfig(name="despike-small-v2", widths=[64, 32, 16],
                                    heads=[2, 2, 1]),
    "despike-paper": ModelConfig(
        name="despike-paper", encoder_channels=32, num_kernels=6, kernel_size=15,
        sigma_min=0.5, sigma_max=4.0, widths=[192, 96, 48], depths=[18, 8, 4],
        heads=[8, 4, 2], fusion_heads=4, fusion_key_dim=4, ffn_expansion=2.66),
}


def differing_keys(a: dict, b: dict, ignore=()) -> list[str]:
    """Sorted top-level keys whose values differ between two config mappings."""
    return sorted(k for k in set(a) | set(b) if k not in ignore and a.get(k) != b.get(k))


def model_config(source=None) -> ModelConfig:
    """A :class:`ModelConfig` from a preset name, a YAML path, a mapping or a config.

    ``None`` gives ``despike-small`` (the bundled model). A mapping may name a
    ``preset`` and override some of its keys.
    """
    if source is None:
        return PRESETS["despike-small"]
    if isinstance(source, ModelConfig):
        return source
    if isinstance(source, str) and source in PRESETS:
        return PRESETS[source]
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise InputError("config", str(source),
                             "a preset (" + ", ".join(PRESETS) + ") or a YAML file",
                             "check the name or path")
        source = read_yaml_mapping(path)
        if "model" in source and isinstance(source["model"], dict):
            source = dict(source["model"], **({"preset": source["preset"]}
                                              if "preset" in source else {}))
    if not isinstance(source, dict):
        raise InputError("config", repr(source), "a preset name, a YAML file or a mapping",
                         "pass e.g. 'despike-small'")
    source = dict(source)
    preset = source.pop("preset", None)
    base = {}
    if preset:
        if preset not in PRESETS:
            raise ConfigError("model.preset", preset, "one of " + ", ".join(PRESETS),
                              "pick a preset")
        base = to_mapping(PRESETS[preset])
    return from_mapping(ModelConfig, merge_mappings(base, source), "model")


def train_config(source, seed: int | None = None) -> TrainConfig:
    """A :class:`TrainConfig` from a YAML path, a mapping or a config (``preset`` fills
    ``model``); ``seed`` (optional) replaces the config's ``seed``, validated as any key."""
    if isinstance(source, TrainConfig):
        cfg = source
    else:
        if isinstance(source, (str, Path)):
            source = read_yaml_mapping(source)
        if not isinstance(source, dict):
            raise ConfigError("config", repr(source), "a mapping", "write key: value pairs")
        if not source:
            raise ConfigError("config", "an empty mapping", "a training config (at least "
                              "`preset` or `model`, and `steps`)",
                              "start from examples/configs/train_natural.yaml")
        source = dict(source)
        preset = source.get("preset") or ""
        if not isinstance(preset, str):
            raise ConfigError("preset", repr(preset), "a preset name",
                              "one of " + ", ".join(PRESETS))
        if not isinstance(source.get("model") or {}, dict):
            raise ConfigError("model", repr(source["model"]), "a mapping of model keys",
                              "write key: value pairs under it, or leave it out")
        if preset:
            if preset not in PRESETS:
                raise ConfigError("preset", preset, "one of " + ", ".join(PRESETS),
                                  "pick a preset")
            source["model"] = merge_mappings(to_mapping(PRESETS[preset]),
                                             source.get("model") or {})
        cfg = from_mapping(TrainConfig, source, "")
    if seed is None:
        return cfg
    return from_mapping(TrainConfig, merge_mappings(to_mapping(cfg), {"seed": int(seed)}), "")


def config_to_dict(cfg) -> dict:
    """Plain YAML-safe data of any of these configs."""
    return to_mapping(cfg)


def replace(cfg, **changes):
    """``dataclasses.replace`` re-validated."""
    return from_mapping(type(cfg), merge_mappings(to_mapping(cfg), changes), type(cfg).__name__)
