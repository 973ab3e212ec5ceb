"""``source: procedural``: a built-in scene with its own depth map (:mod:`spikesim.scenes`),
its kind drawn from ``scene_kinds`` / ``scene_weights``, then the synthetic blur."""

from __future__ import annotations

import numpy as np

from ...errors import ConfigError
from ...rng import SAMPLE_SCENE
from ..draws import sample_seed_sequence
from .base import Content, Source
from .defocus import defocused_content


def content(config, index: int, rng, inputs=None) -> Content:
    """A scene of a kind drawn from ``rng`` (the scene itself from the sample's scene
    stream), defocused by :func:`.defocus.defocused_content`."""
    from ...scenes import make_scene

    kinds, weights = config.kinds()
    w = np.asarray(weights, dtype=np.float64)
    kind = kinds[int(rng.choice(len(kinds), p=w / w.sum()))]
    scene_rng = np.random.default_rng(sample_seed_sequence(config.seed, index, SAMPLE_SCENE))
    scene = make_scene(kind, config.height, config.width, scene_rng)
    return defocused_content(config, index, rng, scene.image, scene.depth,
                             {"scene_kind": scene.kind})


def check(config, where: str) -> None:
    """Every name in ``scene_kinds`` is a known scene kind."""
    from ...scenes import SCENE_KINDS

    known = list(SCENE_KINDS)
    for i, kind in enumerate(config.scene_kinds):
        if known and kind not in known:
            raise ConfigError(f"{where}scene_kinds[{i}]", kind, "one of " + ", ".join(known),
                              "pick a known scene kind")


SOURCE = Source(content=content, check=check)
