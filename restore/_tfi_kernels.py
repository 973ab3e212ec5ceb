"""Compiled TFI kernels (private): the nearest spikes around the key step per pixel.

The public, validating wrapper is :func:`restore.baselines.tfi_rate`; kept apart so that
importing the baselines does not import numba (a method that never runs TFI never pays
for the JIT start-up).
"""

import numpy as np
from numba import njit

from spikesim.settings import NUMBA_CACHE


@njit(cache=NUMBA_CACHE, nogil=True)
def _first_spikes(packed, t_first, t_end, step, first):
    """Record in ``first`` each bit's first spike walking frames ``t_first, t_first + step, …``.

    Stops at ``t_end`` (exclusive) or once every bit is resolved; ``first`` is -1 for a
    bit that never fires. Whole packed rows are read (contiguous memory).
    """
    nbytes = packed.shape[1]
    found = np.zeros(nbytes, dtype=np.uint8)
    remaining = nbytes * 8
    t = t_first
    while t != t_end and remaining > 0:
        for b in range(nbytes):
            v = packed[t, b] & ~found[b]
            if v:
                found[b] |= v
                for j in range(8):
                    if (v >> j) & 1:
                        first[8 * b + j] = t
                        remaining -= 1
        t += step


@njit(cache=NUMBA_CACHE, nogil=True)
def _tfi_rate_kernel(packed, height, width, file_width, flipped, center, out):
    """Interval rate at ``center`` per pixel from packed frames (TFP fallback).

    Walks frames backwards from ``center`` and forwards from ``center + 1``, recording
    each bit's nearest spike, and stops once every bit is resolved.
    packed : (n, nbytes) uint8, C-contiguous, .dat layout; out : (H, W) float64.
    """
    n, nbytes = packed.shape
    prev = np.full(nbytes * 8, -1, dtype=np.int64)
    nxt = np.full(nbytes * 8, -1, dtype=np.int64)
    _first_spikes(packed, center, -1, -1, prev)
    _first_spikes(packed, center + 1, n, 1, nxt)
    for y in range(height):
        row = (height - 1 - y) if flipped else y
        for x in range(width):
            k = row * file_width + x
            if prev[k] >= 0 and nxt[k] >= 0:
                out[y, x] = 1.0 / (nxt[k] - prev[k])
            else:                       # no bracketing pair: TFP of the window (rare)
                c = 0
                byte = k >> 3
                shift = k & 7
                for tt in range(n):
                    c += (packed[tt, byte] >> shift) & 1
                out[y, x] = c / n
