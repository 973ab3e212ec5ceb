"""``source: images``: photographs as scenes.

Sample ``i`` is picture ``i % n`` of the ``n`` images in ``image_dir`` (sorted by name,
:func:`spikesim.inputs.image_files`; linear luminance), then the synthetic blur. With
the default keys: a random ``height`` x ``width`` crop at the picture's own resolution
with random flips (and transpose, for square crops), given a smooth random depth
(:func:`~spikesim.dataset.draws.random_depth`). Two keys opt into the natural-photograph
recipe that ``source: mixed`` uses for its photographs (:mod:`.mixed`):

``crop_scale: [lo, hi]``
    crops at random scales (:func:`scaled_crop`): a region of the sample's shape,
    ``s`` (log-uniform in ``[lo, hi]``) times the largest such region the picture holds
    (for a landscape sample of a landscape picture, ``s`` of the picture's short side),
    resampled to the sample size in linear light with an antialiasing Lanczos-3 filter,
    never upsampled by more than ``settings.DATASET_PHOTO_MAX_UPSAMPLE`` (and only when the
    picture is smaller than the sample), transposed (when the picture holds the
    transposed region without upsampling) and flipped, each with p = 1/2.
``depth_layouts: {name: weight}``
    a depth layout (:mod:`spikesim.dataset.layouts`: random, plane, ramp, objects) in the
    stated proportions (:func:`spikesim.dataset.shares.allot`); the ``objects`` layout
    pastes a crop of another picture of the folder (the next ``1 .. n-1`` in name order,
    drawn) into its near objects.

``image_dir`` is read where the samples are computed (relative to the working directory).
Each process decodes a picture once: the source's inputs are a :class:`Pictures` that
keeps decoded pictures up to ``settings.DATASET_PICTURE_CACHE_MB``.
"""

from __future__ import annotations

import math

import numpy as np

from ... import settings
from ...errors import ConfigError
from ...rng import DATASET_BOKEH_SHARE, DATASET_LAYOUT_SHARE, SAMPLE_BOKEH, SAMPLE_SCENE
from ..draws import loguniform, random_depth, sample_seed_sequence
from ..layouts import make_layout
from ..shares import ALPHA_BRONZE, ALPHA_SILVER, allot
from .base import Content, Source, rounded
from .defocus import defocused_content

LANCZOS_SUPPORT = 3          # Lanczos-3: input px of support per output px, each side


class Pictures:
    """The pictures of a folder: their ``Path``\\ s, sorted by name (indexable like a
    tuple), and :meth:`load`, which decodes picture ``i`` once and keeps it while the
    decoded pictures held stay within ``budget_mb`` (first come, first kept).

    A run's :class:`~spikesim.dataset.sample.SampleMaker` holds one (the source's
    inputs); a copy sent to another process (pickled) starts with nothing decoded. What
    it returns does not depend on what it keeps.
    """

    def __init__(self, paths, budget_mb: float):
        self.paths = tuple(paths)
        self.budget = int(budget_mb * 2**20)
        self._decoded: dict[int, np.ndarray] = {}
        self._held = 0

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        return self.paths[i]

    def load(self, i: int) -> np.ndarray:
        """Picture ``i`` as linear luminance (H, W) float32, read-only
        (:func:`spikesim.inputs.load_image`)."""
        from ...inputs import load_image

        photo = self._decoded.get(i)
        if photo is None:
            photo = load_image(self.paths[i])
            photo.flags.writeable = False
            if self._held + photo.nbytes <= self.budget:
                self._decoded[i] = photo
                self._held += photo.nbytes
        return photo

    def __getstate__(self) -> dict:
        return {"paths": self.paths, "budget": self.budget, "_decoded": {}, "_held": 0}


def inputs(config) -> Pictures:
    """The pictures of ``image_dir``, sorted by name (:class:`Pictures`)."""
    from ...inputs import image_files

    return Pictures(image_files(config.image_dir), settings.DATASET_PICTURE_CACHE_MB)


def min_picture_shape(config, crop_scale) -> tuple[int, int]:
    """``(H, W)`` a picture needs: the sample size, or with scaled crops the sample size
    over ``settings.DATASET_PHOTO_MAX_UPSAMPLE`` (rounded up)."""
    if not crop_scale:
        return config.height, config.width
    up = settings.DATASET_PHOTO_MAX_UPSAMPLE
    return math.ceil(config.height / up), math.ceil(config.width / up)


def catalogue_with(config, crop_scale) -> list[dict]:
    """Every picture decoded and checked against :func:`min_picture_shape`, with its sha256."""
    from ...inputs import image_catalogue

    return image_catalogue(config.image_dir, min_picture_shape(config, crop_scale))


def catalogue(config) -> list[dict]:
    """Every picture decoded and checked against the sample size, with its sha256."""
    return catalogue_with(config, config.crop_scale)


def _resample(photo: np.ndarray, box: tuple[int, int, int, int], out_hw: tuple[int, int]):
    """The region ``box = (x, y, width, height)`` px of ``photo`` (H, W) resampled to
    ``out_hw`` with Pillow's Lanczos-3 (float32, antialiased: the kernel widens with the
    reduction); the pixels around the region feed the filter's support."""
    from PIL import Image

    x, y, cw, ch = box
    H, W = photo.shape
    m = LANCZOS_SUPPORT * math.ceil(max(cw / out_hw[1], ch / out_hw[0])) + 1
    y0, y1, x0, x1 = max(0, y - m), min(H, y + ch + m), max(0, x - m), min(W, x + cw + m)
    part = Image.fromarray(np.ascontiguousarray(photo[y0:y1, x0:x1], dtype=np.float32), mode="F")
    out = part.resize((out_hw[1], out_hw[0]), Image.LANCZOS,
                      box=(x - x0, y - y0, x - x0 + cw, y - y0 + ch))
    return np.asarray(out, dtype=np.float32)


def scaled_crop(photo: np.ndarray, shape: tuple[int, int], scale_range, rng):
    """A crop of ``photo`` (H, W, linear) at a random scale, resampled to ``shape`` (h, w):
    see the module doc. Returns ``(image (h, w) float32 in [0, 1], crop)`` with ``crop``
    the draw: ``box`` ``[x, y, width, height]`` px of the picture, ``scale`` ``s``,
    ``transpose``, ``flip_h``, ``flip_v``. Output pixel ``(i, j)`` (before the transpose
    and flips) is centred on picture point ``(y + (i + 1/2) height / h', x + (j + 1/2)
    width / w')``, ``(h', w')`` the shape before the transpose."""
    h, w = shape
    H, W = photo.shape
    transpose = bool(rng.random() < 0.5) and min(H / w, W / h) >= 1.0
    oh, ow = (w, h) if transpose else (h, w)
    f_max = min(H / oh, W / ow)
    s = loguniform(rng, *scale_range)
    f = max(s * f_max, min(1.0, f_max))          # picture px per sample px
    ch, cw = min(H, max(1, round(f * oh))), min(W, max(1, round(f * ow)))
    y, x = int(rng.integers(0, H - ch + 1)), int(rng.integers(0, W - cw + 1))
    if (ch, cw) == (oh, ow):
        image = np.array(photo[y:y + ch, x:x + cw], dtype=np.float32)
    else:
        image = _resample(photo, (x, y, cw, ch), (oh, ow))
    if transpose:
        image = image.T
    flip_h, flip_v = bool(rng.random() < 0.5), bool(rng.random() < 0.5)
    if flip_h:
        image = image[:, ::-1]
    if flip_v:
        image = image[::-1]
    crop = {"box": [x, y, cw, ch], "scale": rounded(s), "transpose": transpose,
            "flip_h": flip_h, "flip_v": flip_v}
    return np.ascontiguousarray(np.clip(image, 0.0, 1.0), dtype=np.float32), crop


def _picture(pictures: Pictures, index: int, config, crop_scale, rng):
    """Picture ``index % n`` cropped for the sample: ``(image, name, crop or None)``."""
    from ...inputs import augment_pair, check_picture

    name = pictures[index % len(pictures)].name
    photo = pictures.load(index % len(pictures))
    check_picture(photo, name, min_picture_shape(config, crop_scale))
    shape = (config.height, config.width)
    if crop_scale:
        image, crop = scaled_crop(photo, shape, crop_scale, rng)
        return image, name, crop
    image, _ = augment_pair(photo, photo, shape, rng)
    return np.array(image, dtype=np.float32), name, None      # a copy, never the kept picture


def photo_content(config, index: int, rng, pictures: Pictures, crop_scale,
                  layout_weights) -> Content:
    """Photograph ``index % len(pictures)`` as a scene: cropped (``crop_scale`` ``[lo, hi]``, or
    empty for crops at the picture's resolution), given a depth (``layout_weights``
    name -> weight, or empty for :func:`random_depth`), then the geometry and defocus of
    :func:`.defocus.defocused_content`. Randomness: the sample's scene stream."""
    scene_rng = np.random.default_rng(sample_seed_sequence(config.seed, index, SAMPLE_SCENE))
    image, name, crop = _picture(pictures, index, config, crop_scale, scene_rng)
    head = {"scene_kind": "image", "image": name}
    if crop is not None:
        head["crop"] = crop
    if not layout_weights:
        depth = random_depth(config.height, config.width, scene_rng)
    else:
        kind = allot(layout_weights, index, config.seed, DATASET_LAYOUT_SHARE, ALPHA_SILVER)
        layout = make_layout(kind, config.height, config.width, scene_rng)
        head["depth_layout"] = kind
        depth = layout.depth
        if layout.cover is not None:
            n = len(pictures)
            other = (index + 1 + int(scene_rng.integers(n - 1))) % n if n > 1 else index % n
            inner, inner_name, inner_crop = _picture(pictures, other, config, crop_scale,
                                                     scene_rng)
            image = (layout.cover * inner + (1.0 - layout.cover) * image).astype(np.float32)
            head["objects"] = {"image": inner_name, "crop": inner_crop,
                               "near_fraction": rounded(float(np.mean(layout.cover >= 0.5)))}
    image = _with_bokeh(config, index, image, depth, head)
    return defocused_content(config, index, rng, image, depth, head)


def _with_bokeh(config, index: int, image, depth, head: dict):
    """``image``, or for photo_bokeh's share of the samples the image with a photographic
    bokeh (:mod:`..bokeh`; ``head["bokeh"]`` records the largest σ reached, 0 on a flat
    depth map, and the focus depth). Draws
    come from the sample's own ``SAMPLE_BOKEH`` stream, so the other draws, and every
    sample of a config without the key, are unchanged."""
    share = float(config.photo_bokeh)
    if share <= 0.0 or allot({"bokeh": share, "none": 1.0 - share}, index, config.seed,
                             DATASET_BOKEH_SHARE, ALPHA_BRONZE) != "bokeh":
        return image
    from ..bokeh import bokeh_sigma, photographic_bokeh

    rng = np.random.default_rng(sample_seed_sequence(config.seed, index, SAMPLE_BOKEH))
    lo, hi = config.photo_bokeh_sigma
    sigma_max = float(rng.uniform(lo, hi))
    q_lo, q_hi = settings.DATASET_BOKEH_FOCUS_QUANTILES
    focus = float(np.quantile(depth, rng.uniform(q_lo, q_hi)))
    sigma = bokeh_sigma(depth, focus, sigma_max)     # all 0 for a flat depth map
    head["bokeh"] = {"sigma_max": rounded(float(sigma.max())), "focus_depth": rounded(focus)}
    return photographic_bokeh(image, sigma)


def content(config, index: int, rng, pictures: Pictures) -> Content:
    """Photograph ``index % len(pictures)`` with the recipe the config's keys choose (module doc)."""
    return photo_content(config, index, rng, pictures, config.crop_scale, config.depth_layouts)


def check(config, where: str) -> None:
    """``image_dir`` is set."""
    if not config.image_dir:
        raise ConfigError(f"{where}image_dir", config.image_dir, "a directory of photographs",
                          f"set image_dir for source: {config.source}")


SOURCE = Source(content=content, inputs=inputs, check=check, catalogue=catalogue)
