"""``source: mixed``: procedural scenes and photographs (and DPDD pairs) in stated proportions.

``mix`` (part -> weight; parts: ``procedural``, ``images``, ``dpdd``) says which part
sample ``i`` comes from, by :func:`spikesim.dataset.shares.allot` (seed purpose
``DATASET_SOURCE_SHARE``): a pure function of ``(mix, seed, i)``, the same with any number
of workers, with each part's count within ``shares.MAX_SHARE_DEVIATION`` samples of its
weight times the run's length. Sample ``i`` is then exactly that part's sample ``i``
(the same content as ``source: procedural`` or ``source: dpdd`` with this config), except
that photographs always follow the natural-photograph recipe of :mod:`.images`: crops at
random scales (``crop_scale``, default :data:`DEFAULT_CROP_SCALE`) and a depth layout
(``depth_layouts``, default :data:`spikesim.dataset.layouts.DEFAULT_LAYOUT_WEIGHTS`).
The optics and sensor that follow are every source's.

One key points the photographs at any folder: ``image_dir`` (the training split of
``examples/photos``, DIV2K's ``DIV2K_train_HR``, a DPDD ``target`` folder, your own).
"""

from __future__ import annotations

from ...errors import ConfigError
from ...rng import DATASET_SOURCE_SHARE
from ..layouts import DEFAULT_LAYOUT_WEIGHTS
from ..shares import ALPHA_GOLDEN, allot
from . import dpdd, images, procedural
from .base import Content, Source

PARTS = {"procedural": procedural.SOURCE, "images": images.SOURCE, "dpdd": dpdd.SOURCE}
DEFAULT_MIX = {"procedural": 0.4, "images": 0.6}
DEFAULT_CROP_SCALE = [0.35, 1.0]      # of the largest crop of the sample's shape


def crop_scale(config) -> list:
    """The photographs' ``crop_scale`` (the config's, else :data:`DEFAULT_CROP_SCALE`)."""
    return list(config.crop_scale) or list(DEFAULT_CROP_SCALE)


def layout_weights(config) -> dict:
    """The photographs' ``depth_layouts`` (the config's, else the layouts' defaults)."""
    return dict(config.depth_layouts) or dict(DEFAULT_LAYOUT_WEIGHTS)


def used_parts(config) -> list[str]:
    """The parts of ``mix`` with a weight above 0, in name order."""
    return sorted(name for name, weight in config.mix.items() if float(weight) > 0)


def part_of(config, index: int) -> str:
    """Which part sample ``index`` comes from (see the module doc)."""
    return allot(config.mix, index, config.seed, DATASET_SOURCE_SHARE, ALPHA_GOLDEN)


def inputs(config) -> dict:
    """Each used part's inputs (its ``Source.inputs``), listed once per run."""
    return {name: PARTS[name].inputs(config) for name in used_parts(config)}


def catalogue(config):
    """The photographs' catalogue (checked for scaled crops) when ``images`` is used."""
    if "images" not in used_parts(config):
        return None
    return images.catalogue_with(config, crop_scale(config))


def content(config, index: int, rng, parts_inputs) -> Content:
    """Sample ``index``'s content from its part (:func:`part_of`)."""
    name = part_of(config, index)
    if name == "images":
        return images.photo_content(config, index, rng, parts_inputs[name], crop_scale(config),
                                    layout_weights(config))
    return PARTS[name].content(config, index, rng, parts_inputs[name])


def check(config, where: str) -> None:
    """Each used part's keys (``image_dir`` for images, ``dpdd_root`` for dpdd, scene kinds)."""
    if not used_parts(config):
        raise ConfigError(f"{where}mix", config.mix, "a positive weight for some part",
                          "e.g. mix: {procedural: 0.4, images: 0.6}")
    for name in used_parts(config):
        PARTS[name].check(config, where)


def natural_validation(generator: dict | None = None,
                       image_dir: str = "data/photos/val") -> dict:
    """The generator mapping of a natural validation set for training: ``generator`` (the
    training run's ``spikesim generate`` keys: lenses, light, camera ranges) with
    ``source: mixed``, half procedural and half photographs of ``image_dir`` (the photo
    list's **val** split, ``check_photos.py --link data/photos``) and focus sides and blur
    bins cycled (``stratified: true``). The caller fixes size, steps and seed."""
    mapping = dict(generator or {})
    mapping.update(source="mixed", mix={"procedural": 0.5, "images": 0.5}, image_dir=image_dir,
                   stratified=True)
    return mapping


SOURCE = Source(content=content, inputs=inputs, check=check, catalogue=catalogue)
