"""``source: dpdd``: real defocus blur from a DPDD split.

Sample ``i`` takes pair ``i % len(pairs)`` of ``dpdd_root``'s ``dpdd_split``: its real
defocused ``source`` image is the irradiance (no synthetic blur) and ``target`` the
label, cropped to ``height`` x ``width`` with random flips/transpose. Depth, sigma and
CoC are unknown (NaN maps; the sample's focus side and blur bin are ``unknown``).
"""

from __future__ import annotations

import numpy as np

from ...errors import ConfigError
from ...rng import SAMPLE_SCENE
from ..draws import sample_seed_sequence
from .base import Content, Source


def inputs(config) -> tuple:
    """The split's matched ``(source, target)`` paths, sorted by file name; every pair is
    checked to hold the ``height`` x ``width`` crop (sizes read from the file headers),
    so a crop larger than a picture fails before anything is written."""
    from ...inputs import dpdd_pairs

    pairs = tuple(dpdd_pairs(str(config.dpdd_root), config.dpdd_split))
    for src, tgt in pairs:
        for path in (src, tgt):
            width, height = _picture_size(path)
            if height < config.height or width < config.width:
                raise ConfigError("width/height", f"{config.width}x{config.height} (larger than "
                                  f"{path}, {width}x{height})",
                                  "a crop that fits every DPDD picture",
                                  "lower width/height or remove the small picture")
    return pairs


def _picture_size(path) -> tuple[int, int]:
    """``(width, height)`` of an image file from its header (nothing decoded)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return img.size
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise ConfigError("dpdd_root", str(path), "readable PNG pictures",
                          f"remove or re-save the file ({exc.__class__.__name__})") from None


def content(config, index: int, rng, pairs) -> Content:
    """DPDD pair ``index % len(pairs)``: the real defocused ``source`` is the irradiance, the
    ``target`` the label, with the paper's crop / flip / transpose augmentation."""
    from ...inputs import augment_pair, load_dpdd_pair

    src, tgt = pairs[index % len(pairs)]
    source, target = load_dpdd_pair(src, tgt)
    aug_rng = np.random.default_rng(sample_seed_sequence(config.seed, index, SAMPLE_SCENE))
    source, target = augment_pair(source, target, (config.height, config.width), aug_rng)
    unknown = np.full((config.height, config.width), np.nan, dtype=np.float32)
    params = {"scene_kind": "dpdd", "dpdd_pair": src.name, "dpdd_split": config.dpdd_split,
              "lens": None, "render_layers": 0,
              "target": {"side": None, "sigma": None, "coc": None, "coc_spread": None,
                         "met": True, "tries": 0}}
    return Content(np.asarray(target, np.float32), np.asarray(source, np.float32), unknown,
                   unknown.copy(), unknown.copy(), params)


def check(config, where: str) -> None:
    """``dpdd_root`` is set."""
    if not config.dpdd_root:
        raise ConfigError(f"{where}dpdd_root", config.dpdd_root, "the DPDD directory",
                          "set dpdd_root for source: dpdd")


SOURCE = Source(content=content, inputs=inputs, check=check)
