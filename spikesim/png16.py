"""16-bit colour PNGs decoded at their full depth.

Pillow opens a 16-bit RGB or RGBA PNG (DPDD's pictures, many camera exports) as 8-bit
``RGB``, dropping the low byte of every sample without a word. :func:`read_png16` decodes
such files itself (PNG specification, ISO/IEC 15948: chunks, zlib stream, the five
scanline filters) into ``(H, W, C)`` uint16; :func:`is_png16_colour` tells, from the
header alone, which files need it. Grey 16-bit PNGs Pillow reads exactly and are left to
it. The zlib stream is inflated to at most the size the header implies, so a
decompression bomb is refused, and the picture's pixel count is bounded as Pillow bounds
it (``Image.MAX_IMAGE_PIXELS``).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from .errors import InputError

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {2: 3, 6: 4}            # colour type -> samples per pixel (RGB, RGBA)


def _header(data: bytes):
    """``(width, height, bit_depth, colour_type, interlace)`` of a PNG, or None."""
    if len(data) < 33 or data[:8] != SIGNATURE or data[12:16] != b"IHDR":
        return None
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    return width, height, depth, colour, interlace


def is_png16_colour(path) -> bool:
    """Whether ``path`` is a 16-bit RGB/RGBA PNG (read from its first 33 bytes)."""
    with open(path, "rb") as fh:
        head = _header(fh.read(33))
    return head is not None and head[2] == 16 and head[3] in CHANNELS


def read_png16(path, what: str = "image") -> np.ndarray:
    """Decode a 16-bit RGB/RGBA PNG into ``(H, W, C)`` uint16 (``C`` 3 or 4).

    Raises :class:`InputError` naming ``what`` for an interlaced, truncated, corrupt or
    oversized file.
    """
    from PIL import Image

    path = Path(path)
    data = path.read_bytes()
    head = _header(data)
    if head is None or head[2] != 16 or head[3] not in CHANNELS:
        raise InputError(what, str(path), "a 16-bit RGB or RGBA PNG", "check the file")
    width, height, _, colour, interlace = head
    if interlace:
        raise InputError(what, f"{path} (interlaced 16-bit PNG)", "a non-interlaced PNG",
                         "re-save it without interlacing")
    limit = Image.MAX_IMAGE_PIXELS or 0
    if width < 1 or height < 1 or (limit and width * height > 2 * limit):
        raise InputError(what, f"{path} ({width}x{height})", "a picture of a sensible size",
                         "resize it")
    bpp = 2 * CHANNELS[colour]
    stride = width * bpp
    raw = _inflate(_idat(data, path, what), height * (stride + 1), path, what)
    rows = np.frombuffer(raw, np.uint8).reshape(height, stride + 1)
    filters = np.ascontiguousarray(rows[:, 0])
    if filters.max(initial=0) > 4:
        raise InputError(what, f"{path} (scanline filter {int(filters.max())})",
                         "a PNG with filters 0-4", "the file is corrupt; re-save it")
    pixels = _unfilter(filters, np.ascontiguousarray(rows[:, 1:]), bpp)
    return pixels.view(">u2").astype(np.uint16).reshape(height, width, CHANNELS[colour])


def _idat(data: bytes, path, what) -> bytes:
    """The concatenated IDAT payloads (chunk lengths checked against the file)."""
    pos, parts = 8, []
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if pos + 12 + length > len(data):
            break
        if kind == b"IDAT":
            parts.append(data[pos + 8:pos + 8 + length])
        elif kind == b"IEND":
            return b"".join(parts)
        pos += 12 + length
    raise InputError(what, f"{path} (truncated PNG)", "a complete PNG file",
                     "the file is cut short; copy it again")


def _inflate(stream: bytes, expected: int, path, what) -> bytes:
    """Inflate at most ``expected`` bytes; fewer is a truncated file."""
    try:
        out = zlib.decompressobj().decompress(stream, expected)
    except zlib.error:
        out = b""
    if len(out) != expected:
        raise InputError(what, f"{path} (corrupt image data)", "a complete PNG file",
                         "the file is damaged; copy or re-save it")
    return out


def _unfilter(filters: np.ndarray, rows: np.ndarray, bpp: int) -> np.ndarray:
    """Undo the scanline filters (PNG spec §9) of ``rows`` ``(H, stride)`` uint8."""
    from ._png_kernels import unfilter

    out = np.empty_like(rows)
    unfilter(filters, rows, bpp, out)
    return out
