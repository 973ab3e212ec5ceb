"""Compiled kernel of :mod:`spikesim.png16`: the PNG scanline filters undone.

Assumes validated, C-contiguous inputs and a preallocated output (the public wrapper is
:func:`spikesim.png16.read_png16`). Filter types (PNG specification §9): 0 None, 1 Sub,
2 Up, 3 Average, 4 Paeth; arithmetic modulo 256 on bytes, ``bpp`` bytes per pixel.
"""

from __future__ import annotations

import numba
import numpy as np

from . import settings


@numba.njit(cache=settings.NUMBA_CACHE)
def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    if pb <= pc:
        return b
    return c


@numba.njit(cache=settings.NUMBA_CACHE)
def unfilter(filters, rows, bpp, out) -> None:
    """``out[y]`` = scanline ``y`` of ``rows`` ``(H, stride)`` uint8 with filter
    ``filters[y]`` undone, using the already reconstructed ``out[y - 1]``."""
    height, stride = rows.shape
    for y in range(height):
        kind = filters[y]
        for i in range(stride):
            a = np.int32(out[y, i - bpp]) if i >= bpp else 0
            b = np.int32(out[y - 1, i]) if y > 0 else 0
            c = np.int32(out[y - 1, i - bpp]) if (y > 0 and i >= bpp) else 0
            x = np.int32(rows[y, i])
            if kind == 1:
                x += a
            elif kind == 2:
                x += b
            elif kind == 3:
                x += (a + b) // 2
            elif kind == 4:
                x += _paeth(a, b, c)
            out[y, i] = np.uint8(x & 0xFF)
