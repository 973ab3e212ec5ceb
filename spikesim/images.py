"""Images: sRGB transfer, luminance, PNG reading and writing, labelled montages.

Conventions: "linear" images are float32 in [0, 1] proportional to light;
8-bit PNGs are sRGB-encoded for display; 16-bit PNGs hold linear values
(``value * 65535``). All writes are atomic.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .errors import InputError

REC709 = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)   # luminance weights


def srgb_encode(linear) -> np.ndarray:
    """Linear [0, 1] -> sRGB-encoded [0, 1] (IEC 61966-2-1); values are clipped first."""
    x = np.clip(np.asarray(linear, dtype=np.float32), 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(np.float32)


def srgb_decode(encoded) -> np.ndarray:
    """sRGB-encoded [0, 1] -> linear [0, 1]."""
    x = np.clip(np.asarray(encoded, dtype=np.float32), 0.0, 1.0)
    return np.where(x <= 0.04045, x / 12.92, np.power((x + 0.055) / 1.055, 2.4)).astype(np.float32)


def luminance(rgb) -> np.ndarray:
    """Rec. 709 luminance of a linear ``(H, W, 3)`` image; ``(H, W)`` passes through."""
    rgb = np.asarray(rgb, dtype=np.float32)
    if rgb.ndim == 2:
        return rgb
    if rgb.ndim == 3 and rgb.shape[2] >= 3:
        return rgb[..., :3] @ REC709
    if rgb.ndim == 3 and rgb.shape[2] in (1, 2):
        return rgb[..., 0]
    raise InputError("image", f"array of shape {rgb.shape}", "(H, W) or (H, W, 3)",
                     "pass a grey or RGB image")


def read_raw_image(path, what: str = "image") -> np.ndarray:
    """An image file's pixels exactly as stored (uint8, uint16, float ...), at full depth:
    16-bit RGB/RGBA PNGs, which Pillow would cut to 8 bits, are decoded by
    :mod:`spikesim.png16`.

    A missing or undecodable file is an :class:`InputError` naming ``what``.
    """
    import imageio.v3 as iio

    from .png16 import is_png16_colour, read_png16

    path = Path(path)
    if not path.is_file():
        raise InputError(what, str(path), "an existing image file", "check the path")
    try:
        if is_png16_colour(path):
            return read_png16(path, what)
        return iio.imread(path)
    except InputError:
        raise
    except Exception as exc:  # imageio raises many types for unreadable files
        raise InputError(what, str(path), "a readable PNG/JPEG/TIFF image",
                         f"the file could not be decoded ({exc.__class__.__name__})") from None


def read_image(path) -> np.ndarray:
    """Read an image file as stored, scaled to [0, 1] float32 (8- or 16-bit).

    Other images (float or 32-bit TIFFs) are taken as they are, but must be finite and
    >= 0 (light is never negative): anything else is refused, not clipped.
    """
    return _scaled(read_raw_image(path), path)


def _scaled(img, path) -> np.ndarray:
    """:func:`read_image` of the pixels ``img`` read from ``path``."""
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    if img.dtype == np.uint16:
        return img.astype(np.float32) / 65535.0
    if img.dtype.kind not in "uif":
        raise InputError("image", f"{path} ({img.dtype})", "integer or real pixel values",
                         "save it as an 8- or 16-bit PNG")
    img = img.astype(np.float32)
    if not np.isfinite(img).all():
        raise InputError("image", f"{path} (NaN/inf pixels)", "finite pixel values",
                         "fill the missing pixels")
    if img.size and img.min() < 0:
        raise InputError("image", f"{path} (min {float(img.min()):g})",
                         "pixel values >= 0 (light is never negative)",
                         "offset or clip the image yourself, e.g. to [0, 1]")
    return img


def read_image_linear(path, encoding: str = "srgb") -> np.ndarray:
    """Read an image as linear luminance ``(H, W)`` float32 in [0, 1].

    ``encoding="srgb"`` decodes the sRGB transfer (8-bit photos, DPDD);
    ``"linear"`` takes values as they are (our 16-bit linear PNGs).
    """
    if encoding not in ("srgb", "linear"):
        raise InputError("encoding", encoding, "srgb or linear", "pick one")
    raw = read_raw_image(path)
    if raw.ndim == 3 and raw.shape[2] == 4:
        raw = raw[..., :3]
    if encoding == "srgb" and raw.dtype in (np.uint8, np.uint16):
        img = srgb_decode_table(raw.dtype)[raw]     # = srgb_decode(read_image(path)), exactly
    else:
        img = _scaled(raw, path)
        img = srgb_decode(img) if encoding == "srgb" else img
    return luminance(img)


@functools.lru_cache(maxsize=2)
def srgb_decode_table(dtype) -> np.ndarray:
    """:func:`srgb_decode` of every code value of an 8- or 16-bit image, as
    :func:`read_image` scales it: indexing it with the pixels is the decode, value for
    value (the same float32 arithmetic on the same inputs), without a power per pixel
    (a 10.7-Mpx photograph of the training list: read and decoded in 0.27 s, 4.2 s with a
    power per pixel)."""
    dtype = np.dtype(dtype)
    top = float(np.iinfo(dtype).max)
    table = srgb_decode(np.arange(int(top) + 1, dtype=np.float32) / top)
    table.setflags(write=False)                  # shared by every caller (lru_cache)
    return table


def _to_uint(img, bits: int) -> np.ndarray:
    scale = (1 << bits) - 1
    dtype = np.uint8 if bits == 8 else np.uint16
    return np.round(np.clip(np.nan_to_num(img, nan=0.0), 0.0, 1.0) * scale).astype(dtype)


def write_png(path, image, overwrite: bool = True, bits: int = 8) -> Path:
    """Write ``image`` (values in [0, 1], grey or RGB) as a PNG with no transfer applied.

    Pillow directly (the bytes imageio's Pillow plugin writes, without its plugin
    look-up, which imports every Pillow format: 30 ms of a one-image command)."""
    from PIL import Image

    path = Path(path)
    with atomic_path(path, overwrite) as tmp:
        Image.fromarray(_to_uint(np.asarray(image, dtype=np.float32), bits)).save(
            tmp, format="PNG")
    return path


def write_png_srgb(path, linear, overwrite: bool = True) -> Path:
    """Write a linear [0, 1] image as an 8-bit sRGB PNG (values above 1 clip)."""
    return write_png(path, srgb_encode(linear), overwrite, bits=8)


def as_png16(linear) -> np.ndarray:
    """The values a 16-bit PNG of ``linear`` reads back as (:func:`read_image`), float32."""
    return _to_uint(np.asarray(linear, dtype=np.float32), 16).astype(np.float32) / 65535.0


def write_png16(path, linear, overwrite: bool = True) -> Path:
    """Write a linear [0, 1] image as a 16-bit PNG of linear values."""
    return write_png(path, linear, overwrite, bits=16)


def write_gif(path, frames, fps: float = 10.0, overwrite: bool = True) -> Path:
    """Write display-ready frames ``(N, H, W)`` in [0, 1] as an endlessly looping GIF."""
    import imageio.v3 as iio

    path = Path(path)
    data = _to_uint(np.asarray(frames, dtype=np.float32), 8)
    with atomic_path(path, overwrite) as tmp:
        iio.imwrite(tmp, data, extension=".gif", duration=1000.0 / fps, loop=0)
    return path


def normalise(image, percentile: float = 99.5) -> np.ndarray:
    """Scale so the ``percentile`` maps to 1 (one scale factor; zero stays zero)."""
    image = np.asarray(image, dtype=np.float32)
    top = float(np.percentile(image, percentile)) if image.size else 0.0
    return image / top if top > 0 else image


def colormap(values, vmin=None, vmax=None) -> np.ndarray:
    """A perceptually ordered blue-to-yellow colour map of ``(H, W)`` values -> ``(H, W, 3)``.

    ``vmin``/``vmax`` default to the 1st/99th percentiles of the finite values.
    """
    v = np.asarray(values, dtype=np.float64)
    finite = v[np.isfinite(v)]
    lo = np.percentile(finite, 1) if vmin is None and finite.size else (vmin or 0.0)
    hi = np.percentile(finite, 99) if vmax is None and finite.size else (vmax or 1.0)
    x = np.clip((np.nan_to_num(v, nan=lo) - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
    # anchor colours of a viridis-like ramp (dark blue, teal, green, yellow)
    anchors = np.array([[0.267, 0.005, 0.329], [0.230, 0.322, 0.546], [0.128, 0.567, 0.551],
                        [0.369, 0.789, 0.383], [0.993, 0.906, 0.144]])
    pos = x * (len(anchors) - 1)
    i = np.minimum(pos.astype(int), len(anchors) - 2)
    f = (pos - i)[..., None]
    return ((1 - f) * anchors[i] + f * anchors[i + 1]).astype(np.float32)


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    """Draw ``text`` in a strip above a display-ready tile ``(H, W, 3)``."""
    from PIL import Image, ImageDraw

    h, w = tile.shape[:2]
    strip = Image.new("RGB", (w, 14), (0, 0, 0))
    ImageDraw.Draw(strip).text((2, 1), text[: max(1, w // 6)], fill=(255, 255, 255))
    head = np.asarray(strip, dtype=np.float32) / 255.0
    return np.concatenate([head, tile], axis=0)


def montage(tiles, labels=None, ncols: int | None = None, pad: int = 2) -> np.ndarray:
    """Arrange display-ready tiles (grey ``(H, W)`` or ``(H, W, 3)`` in [0, 1]) in a grid.

    Tiles of different sizes are padded to the largest. Returns ``(H', W', 3)`` float32.
    """
    tiles = [np.asarray(t, dtype=np.float32) for t in tiles]
    tiles = [np.repeat(t[..., None], 3, axis=2) if t.ndim == 2 else t[..., :3] for t in tiles]
    if labels is not None:
        tiles = [_label(t, str(lab)) for t, lab in zip(tiles, labels)]
    n = len(tiles)
    if n == 0:
        raise InputError("tiles", "[]", "at least one image", "pass images to arrange")
    ncols = ncols or n
    nrows = -(-n // ncols)
    th = max(t.shape[0] for t in tiles)
    tw = max(t.shape[1] for t in tiles)
    out = np.ones((nrows * (th + pad) + pad, ncols * (tw + pad) + pad, 3), dtype=np.float32)
    for i, t in enumerate(tiles):
        r, c = divmod(i, ncols)
        y, x = pad + r * (th + pad), pad + c * (tw + pad)
        out[y:y + t.shape[0], x:x + t.shape[1]] = t
    return out
