"""``source: images``: photographs as scenes.

Sample ``i`` is picture ``i % n`` of the ``n`` images in ``image_dir`` (sorted by name,
:func:`spikesim.inputs.image_files`), a random ``height`` x ``width`` crop with random
flips (and transpose, for square crops), given a smooth random depth
(:func:`~spikesim.dataset.draws.random_depth`), then the synthetic blur. ``image_dir`` is
read where the samples are computed (relative to the working directory).
"""

from __future__ import annotations

import numpy as np

from ...errors import ConfigError
from ...rng import SAMPLE_SCENE
from ..draws import random_depth, sample_seed_sequence
from .base import Content, Source
from .defocus import defocused_content


def inputs(config) -> tuple:
    """The pictures of ``image_dir``, sorted by name (``Path``\\ s)."""
    from ...inputs import image_files

    return tuple(image_files(config.image_dir))


def catalogue(config) -> list[dict]:
    """Every picture decoded and checked against the sample size, with its sha256."""
    from ...inputs import image_catalogue

    return image_catalogue(config.image_dir, (config.height, config.width))


def content(config, index: int, rng, files) -> Content:
    """Photograph ``index % len(files)``: a random crop with flips, a random smooth depth,
    then the procedural path's geometry and defocus."""
    from ...inputs import augment_pair, check_picture, load_image

    path = files[index % len(files)]
    photo = load_image(path)
    check_picture(photo, path.name, (config.height, config.width))
    scene_rng = np.random.default_rng(sample_seed_sequence(config.seed, index, SAMPLE_SCENE))
    image, _ = augment_pair(photo, photo, (config.height, config.width), scene_rng)
    depth = random_depth(config.height, config.width, scene_rng)
    return defocused_content(config, index, rng, image, depth,
                             {"scene_kind": "image", "image": path.name})


def check(config, where: str) -> None:
    """``image_dir`` is set."""
    if not config.image_dir:
        raise ConfigError(f"{where}image_dir", config.image_dir, "a directory of photographs",
                          "set image_dir for source: images")


SOURCE = Source(content=content, inputs=inputs, check=check, catalogue=catalogue)
