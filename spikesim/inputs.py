"""User inputs: an image with a depth map, an image at one depth, the DPDD layout.

Images are read as linear Rec. 709 luminance ``(H, W)`` float32 in [0, 1] (8-bit and
16-bit PNGs, 16-bit RGB at full depth, are sRGB-decoded by default; ``encoding="linear"``
for linear files; float images with negative or NaN values are refused), via
:mod:`spikesim.images`. Depth maps are object distances in metres, ``(H, W)`` float32:

- ``.npy``: float values in metres (times ``scale``, default 1); an integer ``.npy``
  needs ``scale`` (its unit is not guessed); complex values are refused;
- 16-bit PNG/TIFF: integer values times ``scale`` metres (default
  ``settings.DEPTH_PNG_SCALE`` = 1e-3: millimetres). A zero (the usual "no data") is an
  error, never silently filled;
- disparity (``kind="disparity"``, either format, in pixels): ``depth = f_px · B / d`` with
  the focal length in pixels and the stereo baseline in metres.

DPDD (Abuolaim & Brown 2020) layout: ``ROOT/{train,val,test}_c/{source,target}/*.png``,
16-bit or 8-bit sRGB. The defocused ``source`` is real optical blur and is used as the
irradiance as it is (no synthetic blur); ``target`` (the all-in-focus capture) is the label.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import settings
from .errors import InputError
from .images import read_raw_image
from .scenes import Scene

DEPTH_KINDS = ("depth", "disparity")
DPDD_SPLITS = ("train", "val", "test")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def load_image(path, encoding: str = "srgb") -> np.ndarray:
    """Linear luminance ``(H, W)`` float32 in [0, 1] of an image file (see module doc)."""
    from .images import read_image_linear

    return np.ascontiguousarray(read_image_linear(path, encoding=encoding), dtype=np.float32)


def _read_raw(path: Path) -> np.ndarray:
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise InputError("depth", str(path), "a plain numeric .npy array",
                             f"could not load it ({exc})") from None
        return arr
    arr = read_raw_image(path, "depth")
    if arr.dtype == np.uint8:
        raise InputError("depth", f"{path} (8-bit)", "a 16-bit PNG/TIFF or a .npy depth map",
                         "8-bit maps hold relative depth only; save metric depth as 16-bit "
                         "millimetres or as a float .npy in metres")
    return arr


def load_depth(path, kind: str = "depth", scale: float | None = None,
               focal_length_px: float | None = None, baseline_m: float | None = None,
               shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a depth (or disparity) map as object distances in metres, ``(H, W)`` float32.

    Parameters
    ----------
    path : .npy, 16-bit PNG or TIFF file.
    kind : ``"depth"`` or ``"disparity"`` (pixels; needs ``focal_length_px`` and
        ``baseline_m``).
    scale : metres per stored unit for depth (default 1 for .npy, 1e-3 for integer
        images); for disparity, pixels per stored unit (default 1; KITTI PNGs use 1/256).
    shape : expected ``(H, W)`` (the image's); a different size is an error.
    """
    from .optics import check_depth

    path = Path(path)
    if kind not in DEPTH_KINDS:
        raise InputError("depth kind", kind, "one of " + ", ".join(DEPTH_KINDS), "pick one")
    if not path.is_file():
        raise InputError("depth", str(path), "an existing depth file", "check the path")
    raw = _read_raw(path)
    if raw.ndim == 3 and raw.shape[2] == 1:
        raw = raw[..., 0]
    if raw.ndim != 2 or raw.dtype.kind not in "uif":
        raise InputError("depth", f"{path}: array of shape {raw.shape}, dtype {raw.dtype}",
                         "a single-channel (H, W) map of real numbers",
                         "save one channel of real values (not complex, not bool)")
    integer = np.issubdtype(raw.dtype, np.integer)
    if integer and kind == "depth" and scale is None and path.suffix.lower() == ".npy":
        raise InputError("depth", f"{path} (integer .npy, {raw.dtype})",
                         "a float .npy in metres, or --depth-scale for an integer map",
                         "save float metres, or give the unit: --depth-scale 0.001 for "
                         "millimetres, 1 for metres")
    if scale is None:
        scale = settings.DEPTH_PNG_SCALE if (integer and kind == "depth") else 1.0
    if not (np.isfinite(scale) and scale > 0):
        raise InputError("depth scale", scale, "a positive number of metres (or px) per unit",
                         "e.g. 0.001 for millimetres")
    values = raw.astype(np.float64) * float(scale)
    if shape is not None and tuple(values.shape) != tuple(shape):
        raise InputError("depth", f"{path}: shape {values.shape} (H, W)",
                         f"the image's shape {tuple(shape)}",
                         "resize the depth map to the image (same height and width)")
    if kind == "disparity":
        for name, v in (("focal_length_px", focal_length_px), ("baseline_m", baseline_m)):
            if v is None or not np.isfinite(v) or v <= 0:
                raise InputError(name, v, "a positive number", "disparity needs the focal "
                                 "length in pixels and the stereo baseline in metres")
        bad = ~np.isfinite(values) | (values <= 0)
        if bad.any():
            raise InputError("disparity", f"{int(bad.sum())} value(s) <= 0 or NaN",
                             "disparities > 0 px", "fill or mask invalid disparities")
        values = float(focal_length_px) * float(baseline_m) / values
    check_depth(values, "depth")
    return values.astype(np.float32)


def load_user_scene(image, depth=None, depth_m: float | None = None, encoding: str = "srgb",
                    **depth_options) -> Scene:
    """An image file with a depth map (file or array) or at one depth ``depth_m`` (metres).

    Returns ``Scene(image (H,W) linear [0,1], depth (H,W) metres, kind="user")``.
    """
    from .optics import check_depth

    img = load_image(image, encoding) if not isinstance(image, np.ndarray) else \
        np.asarray(image, np.float32)
    if depth is not None and depth_m is not None:
        raise InputError("depth", "both a depth map and a single depth", "one of them",
                         "drop --depth or --depth-m")
    if depth is None and depth_m is None:
        raise InputError("depth", "none", "a depth map or a single depth in metres",
                         "give --depth FILE or --depth-m D")
    if depth_m is not None:
        check_depth(depth_m, "depth_m")
        dep = np.full(img.shape, float(depth_m), np.float32)
    elif isinstance(depth, np.ndarray):
        dep = check_depth(depth, "depth").astype(np.float32)
        if dep.shape != img.shape:
            raise InputError("depth", f"shape {dep.shape}", f"the image's shape {img.shape}",
                             "resize the depth map to the image")
    else:
        dep = load_depth(depth, shape=img.shape, **depth_options)
    return Scene(img, dep, "user")


# --------------------------------------------------------------------------- DPDD

def dpdd_pairs(root, split: str = "train") -> list[tuple[Path, Path]]:
    """Matched ``(source, target)`` PNG paths of a DPDD split, sorted by file name.

    Every source needs a target of the same name and vice versa.
    """
    if split not in DPDD_SPLITS:
        raise InputError("split", split, "one of " + ", ".join(DPDD_SPLITS), "pick one")
    base = Path(root) / f"{split}_c"
    src_dir, tgt_dir = base / "source", base / "target"
    for d in (src_dir, tgt_dir):
        if not d.is_dir():
            raise InputError("dpdd root", str(root), f"a DPDD directory with {d.relative_to(root)}",
                             "point at the folder holding train_c/, val_c/, test_c/")
    src = {p.name: p for p in src_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    tgt = {p.name: p for p in tgt_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    if not src:
        raise InputError("dpdd root", str(src_dir), "PNG images", "the split is empty")
    missing = sorted(set(src) ^ set(tgt))
    if missing:
        raise InputError("dpdd root", f"{len(missing)} unmatched file(s), e.g. {missing[0]}",
                         "source/ and target/ with the same file names",
                         "remove or restore the unmatched files")
    return [(src[n], tgt[n]) for n in sorted(src)]


def image_files(directory) -> list[Path]:
    """Image files (``IMAGE_SUFFIXES``, not hidden) directly inside ``directory``, sorted
    by name."""
    d = Path(directory)
    if not d.is_dir():
        raise InputError("image_dir", str(directory), "an existing directory of images",
                         "check the path (relative paths are from the working directory)")
    files = sorted(f for f in d.iterdir() if f.is_file() and not f.name.startswith(".")
                   and f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError("image_dir", str(directory), "at least one image ("
                         + ", ".join(IMAGE_SUFFIXES) + ")", "put photographs in it")
    return files


def check_picture(photo: np.ndarray, name: str, min_shape: tuple[int, int]) -> None:
    """Refuse a decoded picture that is not 2-D or smaller than ``min_shape`` ``(H, W)``,
    naming ``image_dir`` and ``name``."""
    H, W = photo.shape[:2]
    if photo.ndim != 2 or H < min_shape[0] or W < min_shape[1]:
        raise InputError("image_dir", f"{name} ({W}x{H})",
                         f"images at least the sample size {min_shape[1]}x{min_shape[0]}",
                         "lower width/height or remove the image")


def image_catalogue(directory, min_shape: tuple[int, int]) -> list[dict]:
    """``[{"name", "width", "height", "sha256"}]`` of :func:`image_files`, each decoded once:
    every image must be a 2-D picture of at least ``min_shape`` ``(H, W)`` pixels. A
    dataset records this list, so a resumed dataset is made from the same pictures."""
    from .atomic import file_sha256

    out = []
    for path in image_files(directory):
        try:
            photo = load_image(path)
        except InputError as exc:
            raise InputError("image_dir", f"{path.name} in {directory}", "images that decode",
                             f"remove or re-save the file ({exc})") from None
        check_picture(photo, f"{path.name} in {directory}", min_shape)
        H, W = photo.shape
        out.append({"name": path.name, "width": int(W), "height": int(H),
                    "sha256": file_sha256(path)})
    return out


def load_dpdd_pair(source, target) -> tuple[np.ndarray, np.ndarray]:
    """``(source, target)`` as linear luminance ``(H, W)`` float32 in [0, 1] (sRGB-decoded,
    8- or 16-bit). ``source`` is the real defocused image, used as the irradiance."""
    s, t = load_image(source), load_image(target)
    if s.shape != t.shape:
        raise InputError("dpdd target", f"{target}: shape {t.shape}",
                         f"the source's shape {s.shape}", "the pair must be the same size")
    return s, t


def augment_pair(source, target, crop: tuple[int, int] | None, rng):
    """The DPDD paper's augmentation: a random crop ``(h, w)`` at the same place in both,
    then random horizontal flip, vertical flip and transpose (each with p = 1/2; the
    transpose only for square crops, so the output shape stays ``crop``)."""
    s, t = np.asarray(source), np.asarray(target)
    H, W = s.shape[:2]
    if crop is not None:
        h, w = (int(v) for v in crop)
        if not (0 < h <= H and 0 < w <= W):
            raise InputError("crop", crop, f"a size within the image ({H}, {W})",
                             "use a smaller crop")
        y = int(rng.integers(0, H - h + 1))
        x = int(rng.integers(0, W - w + 1))
        s, t = s[y:y + h, x:x + w], t[y:y + h, x:x + w]
    if rng.random() < 0.5:
        s, t = s[:, ::-1], t[:, ::-1]
    if rng.random() < 0.5:
        s, t = s[::-1], t[::-1]
    if rng.random() < 0.5 and s.shape[0] == s.shape[1]:
        s, t = s.swapaxes(0, 1), t.swapaxes(0, 1)
    return np.ascontiguousarray(s), np.ascontiguousarray(t)


class DPDDDataset:
    """Indexable DPDD split: item ``i`` is ``(source, target)`` linear luminance float32,
    augmented (``crop`` not None) with a generator keyed by ``(seed, epoch, i)`` so items
    are reproducible and independent of the order they are read in."""

    def __init__(self, root, split: str = "train", crop: tuple[int, int] | None = None,
                 seed: int = 0, augment: bool = True):
        self.pairs = dpdd_pairs(root, split)
        self.crop = crop
        self.seed = int(seed)
        self.augment = augment
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int):
        s, t = load_dpdd_pair(*self.pairs[i])
        if not self.augment:
            return s, t
        rng = np.random.default_rng([self.seed, self.epoch, int(i)])
        return augment_pair(s, t, self.crop, rng)
