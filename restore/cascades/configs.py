"""Configurations of the learned cascades: the two networks and a training stage.

Network presets (:data:`PRESETS`; parameter counts by ``spikerestore models``):

``spk2imgnet``
    the reconstruction network at the published size of Spk2ImgNet (3.90 M parameters in
    the DeSpike paper's Table 3).
``spk2imgnet-cpu``
    the same at the bundled ``despike``'s parameter count (655,992; within ±25 %).
``gkmnet``
    the deblurring network at GKMNet's published size (≈ 1.4 M: the paper's Spk2ImgNet +
    GKMNet total 5.31 M less Spk2ImgNet's 3.90 M).
``gkmnet-cpu``
    the same scaled by the ratio the two published sizes have to the bundled ``despike``
    (1.41 / 3.90 × 655,992 ≈ 237 k), so a CPU cascade is the published one shrunk evenly.

A training stage (:class:`StageConfig`, ``spikerestore train-cascade --config``)::

    stage: reconstruct | deblur
    network: {preset: spk2imgnet-cpu, ...}   # keys of the network's config over a preset
    first_stage: tfp | PATH                  # deblur only: TFP, or a reconstruct stage's
                                             # weights (its best.pt), frozen
    features: {calibration_flag: true, ...}  # the DeSpike input features (FEATURE_KEYS)
    train: {steps: ..., data: ..., ...}      # every TrainConfig key but model/preset;
                                             # init: a run's weights of this same stage
                                             # to continue from (its budget is counted)

The networks receive exactly what ``despike`` receives: the calibrated window features of
:func:`restore.despike.encoding.features_for` (charge per step of each window) and, with
``calibration_flag``, the flag saying whether a calibration went into them. ``features``
holds the keys of :class:`restore.despike.configs.ModelConfig` that define those features
and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from spikesim.config import from_mapping, read_yaml_mapping, spec, to_mapping
from spikesim.errors import ConfigError, InputError

from restore.despike.configs import (ModelConfig, TrainConfig, check_gaussian_kernels,
                                     merge_mappings, train_config)

FEATURE_KEYS = ("windows", "multi_temporal", "use_calibration", "linearize",
                "calibration_flag", "correction")
STAGES = ("reconstruct", "deblur")
FIRST_TFP = "tfp"


@dataclass(frozen=True)
class Spk2ImgNetConfig:
    """A Spk2ImgNet-style reconstruction network (:mod:`.spk2imgnet`)."""

    name: str = spec("spk2imgnet-cpu", doc="configuration name (stored in the weights)")
    architecture: str = spec("spk2imgnet", choices=("spk2imgnet",), doc="network family")
    window_channels: int = spec(16, "", 1, 1024, doc="features of each window (light inference)")
    window_blocks: int = spec(1, "", 0, 64, doc="residual blocks of the light inference module")
    channels: int = spec(48, "", 1, 1024, doc="width of the reconstruction body")
    body_blocks: int = spec(15, "", 0, 256, doc="residual blocks of the reconstruction body")


@dataclass(frozen=True)
class GKMNetConfig:
    """A GKMNet-style deblurring network (:mod:`.gkmnet`)."""

    name: str = spec("gkmnet-cpu", doc="configuration name (stored in the weights)")
    architecture: str = spec("gkmnet", choices=("gkmnet",), doc="network family")
    channels: int = spec(16, "", 1, 1024, doc="U-Net width at full resolution (x2, x4 deeper)")
    blocks: list[int] = spec([1, 1, 2], "", 0, 64,
                             doc="residual blocks per U-Net level, full to 1/4 resolution")
    num_kernels: int = spec(8, "", 1, 128, doc="Gaussian kernels of the mixture")
    kernel_size: int = spec(15, "px", 1, 63, doc="side of each Gaussian kernel (odd)")
    sigma_min: float = spec(0.3, "px", 0.0, 20.0, low_open=True, doc="narrowest kernel's s.d.")
    sigma_max: float = spec(3.5, "px", 0.0, 20.0, low_open=True, doc="widest kernel's s.d.")
    scales: int = spec(3, "", 1, 5, doc="scales of the recurrence (1, 1/2, 1/4, ...)")
    iterations: int = spec(1, "", 1, 16, doc="unrolled fixed-point steps at each scale")

    def validate(self, where: str = "network") -> None:
        if len(self.blocks) != 3:
            raise ConfigError(f"{where}.blocks", self.blocks, "three values (U-Net levels)",
                              "give three numbers, full to 1/4 resolution")
        check_gaussian_kernels(self, where)


NETWORK_CLASSES = {"spk2imgnet": Spk2ImgNetConfig, "gkmnet": GKMNetConfig}
STAGE_ARCHITECTURE = {"reconstruct": "spk2imgnet", "deblur": "gkmnet"}

PRESETS = {
    "spk2imgnet": Spk2ImgNetConfig(name="spk2imgnet", window_channels=64, window_blocks=3,
                                   channels=64, body_blocks=48),
    "spk2imgnet-cpu": Spk2ImgNetConfig(),
    "gkmnet": GKMNetConfig(name="gkmnet", channels=32, blocks=[2, 2, 3], num_kernels=21,
                           kernel_size=21, sigma_max=5.0),
    "gkmnet-cpu": GKMNetConfig(),
}
#: what the DeSpike paper's Table 3 gives (Spk2ImgNet 3.90 M; GKMNet 5.31 - 3.90 M) and
#: the CPU targets derived from the bundled despike-small network's 655,992 (module doc;
#: the default weights, despike-natural.pt, add 72 for their calibration-flag input)
PUBLISHED_PARAMETERS = {"spk2imgnet": 3_900_000, "gkmnet": 1_410_000}
DESPIKE_SMALL_PARAMETERS = 655_992
CPU_TARGETS = {"spk2imgnet-cpu": DESPIKE_SMALL_PARAMETERS,
               "gkmnet-cpu": round(DESPIKE_SMALL_PARAMETERS * 1.41 / 3.90)}


def network_config(source, architecture: str | None = None):
    """A network config from a preset name, a mapping (``preset`` + overrides) or a
    config; ``architecture`` (``spk2imgnet`` / ``gkmnet``) is the family the caller
    needs, refused clearly when the source is another."""
    if isinstance(source, (Spk2ImgNetConfig, GKMNetConfig)):
        cfg = source
    else:
        if isinstance(source, str):
            source = {"preset": source}
        if not isinstance(source, dict):
            raise ConfigError("network", repr(source), "a preset name or a mapping",
                              "e.g. {preset: spk2imgnet-cpu}")
        source = dict(source)
        preset = source.pop("preset", None)
        base = {}
        if preset is not None:
            if preset not in PRESETS:
                raise ConfigError("network.preset", preset, "one of " + ", ".join(PRESETS),
                                  "pick a preset")
            base = to_mapping(PRESETS[preset])
        mapping = merge_mappings(base, source)
        family = mapping.get("architecture", architecture or "spk2imgnet")
        if family not in NETWORK_CLASSES:
            raise ConfigError("network.architecture", family,
                              "one of " + ", ".join(NETWORK_CLASSES), "pick a preset")
        cfg = from_mapping(NETWORK_CLASSES[family], mapping, "network")
    if architecture is not None and cfg.architecture != architecture:
        raise ConfigError("network", cfg.name, f"a {architecture} network",
                          f"use a {architecture} preset for this stage")
    return cfg


def feature_config(name: str, features: dict | None) -> ModelConfig:
    """The DeSpike :class:`ModelConfig` whose input features a cascade network receives
    (named after the network; only :data:`FEATURE_KEYS` may be given)."""
    features = dict(features or {})
    extra = sorted(set(features) - set(FEATURE_KEYS))
    if extra:
        raise ConfigError("features." + extra[0], features[extra[0]],
                          "one of the feature keys " + ", ".join(FEATURE_KEYS),
                          "the networks' own keys go under network:")
    return from_mapping(ModelConfig, dict(features, name=name), "features")


def feature_mapping(model: ModelConfig) -> dict:
    """The :data:`FEATURE_KEYS` of a :class:`ModelConfig` as plain data."""
    full = to_mapping(model)
    return {k: full[k] for k in FEATURE_KEYS}


@dataclass(frozen=True)
class StageConfig:
    """One training stage of a cascade as written in YAML (module doc)."""

    stage: str = spec("reconstruct", choices=STAGES, doc="reconstruct (spikes -> image) or "
                      "deblur (image -> sharp image)")
    network: dict = spec({}, doc="the network: {preset: NAME, key: value...}")
    first_stage: str = spec("", doc="deblur: 'tfp' or the weights of a reconstruct stage")
    features: dict = spec({}, doc="DeSpike feature keys: " + ", ".join(FEATURE_KEYS))
    train: dict = spec({}, doc="TrainConfig keys (no model or preset)")

    def validate(self, where: str = "") -> None:
        if self.stage == "deblur" and not self.first_stage:
            raise ConfigError("first_stage", self.first_stage,
                              "'tfp' or the weights file of a reconstruct stage",
                              "train the reconstruct stage first and name its best.pt")
        if self.stage == "reconstruct" and self.first_stage:
            raise ConfigError("first_stage", self.first_stage, "nothing for a reconstruct stage",
                              "drop first_stage")
        for key in ("model", "preset"):
            if key in self.train:
                raise ConfigError(f"train.{key}", self.train[key], "no such key here",
                                  "the network is `network:` and its inputs `features:`")


@dataclass(frozen=True)
class Stage:
    """A resolved stage: the network config, its input features and the training config
    the DeSpike loop runs (``train.model`` is ``features``)."""

    stage: str
    network: Spk2ImgNetConfig | GKMNetConfig
    first_stage: str
    features: ModelConfig
    train: TrainConfig

    def to_mapping(self) -> dict:
        """Plain data of the resolved stage (``cascade.yaml`` of a run)."""
        return {"stage": self.stage, "network": to_mapping(self.network),
                "first_stage": self.first_stage, "features": feature_mapping(self.features),
                "train": to_mapping(self.train)}


def stage_config(source, seed: int | None = None) -> Stage:
    """A :class:`Stage` from a YAML path, a mapping or a :class:`StageConfig`."""
    if isinstance(source, Stage):
        return source
    if isinstance(source, (str, Path)):
        if not Path(source).is_file():
            raise InputError("--config", str(source), "a cascade stage YAML file",
                             "see experiments/configs/cascade_*.yaml")
        source = read_yaml_mapping(source)
    raw = source if isinstance(source, StageConfig) else from_mapping(StageConfig, source, "")
    net = network_config(raw.network or STAGE_ARCHITECTURE[raw.stage] + "-cpu",
                         STAGE_ARCHITECTURE[raw.stage])
    features = feature_config(net.name, raw.features)
    train = train_config(dict(raw.train, model=to_mapping(features)), seed=seed)
    return Stage(raw.stage, net, raw.first_stage, features, train)
