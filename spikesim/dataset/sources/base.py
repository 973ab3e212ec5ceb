"""What a source is: the :class:`Source` record and the :class:`Content` it makes.

A source decides what a sample shows before the camera (the sharp target, the defocused
value and the optics maps); :mod:`spikesim.dataset.sample` then exposes it and puts it
through the camera. ``config`` is a :class:`spikesim.dataset.config.DatasetConfig`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass
class Content:
    """What a sample shows before the camera: the target, the defocused value and the optics."""

    sharp: np.ndarray            # (H, W) float32 linear [0, 1]
    value: np.ndarray            # (H, W) float32 defocused value (irradiance / illuminance)
    depth: np.ndarray            # (H, W) float32 m (NaN: unknown)
    sigma: np.ndarray            # (H, W) float32 px (NaN: unknown)
    coc: np.ndarray              # (H, W) float32 px (NaN: unknown)
    params: dict                 # source-specific sample.yaml entries; must hold "scene_kind",
                                 # "lens" (a mapping or None) and "target" (with "met")


def _reads_nothing(config) -> None:
    return None


def _needs_nothing(config, where: str) -> None:
    return None


@dataclass(frozen=True)
class Source:
    """A source of sample content, as the registry (:data:`spikesim.dataset.sources.SOURCES`)
    holds it.

    content : ``(config, index, rng, inputs) -> Content``
        Sample ``index``'s content. ``rng`` is its parameter stream (the sample draws its
        exposure and camera from it afterwards); other randomness comes from
        ``sample_seed_sequence(config.seed, index, SAMPLE_SCENE)``. ``inputs`` is what
        :attr:`inputs` returned.
    inputs : ``(config) -> object``
        What the source reads (e.g. a sorted file list), listed once per run, before
        anything is written, so a missing input fails early; ``None`` by default.
    check : ``(config, where) -> None``
        Raises :class:`~spikesim.errors.ConfigError` (key path prefixed by ``where``)
        when a config key the source needs is missing or wrong; runs in
        ``DatasetConfig.validate``.
    catalogue : ``(config) -> list[dict] or None``
        Every picture decoded, checked and listed with its sha256 before anything is
        written; ``spikesim generate`` keeps the list as ``images.yaml`` and a resumed
        dataset must find the same pictures. ``None`` (default): nothing to record.
    """

    content: Callable
    inputs: Callable = _reads_nothing
    check: Callable = _needs_nothing
    catalogue: Callable = _reads_nothing


def rounded(x, digits: int = 6):
    """A summary statistic for YAML, 6 significant digits (the maps keep full precision;
    parameters that reproduce the sample - lens, camera, illuminance - are stored exactly)."""
    x = float(x)
    return float(f"{x:.{digits}g}") if math.isfinite(x) else x
