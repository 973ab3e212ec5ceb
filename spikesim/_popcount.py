"""Compiled positional popcount over packed spike frames (private kernel).

The kernel assumes validated, C-contiguous input and a preallocated output; the
public wrappers are :func:`spikesim.stream.count_spikes` and
:meth:`spikesim.stream.SpikeStream.counts`.
"""

import numpy as np
from numba import njit, prange

from .settings import NUMBA_CACHE

# LUT[b] spreads the 8 bits of byte b into the 8 bytes of a uint64 (bit j -> byte j),
# so adding LUT values counts each bit position in its own byte lane (<= 255 adds).
_LUT = np.zeros(256, dtype=np.uint64)
for _b in range(256):
    _LUT[_b] = sum(((_b >> _j) & 1) << (8 * _j) for _j in range(8))
_LANE_LIMIT = 255                       # adds a byte lane holds before it must be flushed
_BLOCK_BYTES = 512                      # byte positions per parallel task (fits in L1)


@njit(cache=NUMBA_CACHE, parallel=True, nogil=True)
def _accumulate_counts(frames, lut, counts):
    """Add the per-bit spike counts of ``frames`` to ``counts`` in place.

    frames : (n, nbytes) uint8, C-contiguous, packed frames
    lut    : (256,) uint64 bit-spreading table
    counts : (nbytes * 8,) int64, bit k of byte b accumulates in counts[8 b + k]
    """
    n, nbytes = frames.shape
    nblocks = (nbytes + _BLOCK_BYTES - 1) // _BLOCK_BYTES
    for blk in prange(nblocks):
        b0 = blk * _BLOCK_BYTES
        b1 = min(b0 + _BLOCK_BYTES, nbytes)
        acc = np.zeros(b1 - b0, dtype=np.uint64)
        t = 0
        while t < n:
            t_end = min(t + _LANE_LIMIT, n)
            for tt in range(t, t_end):
                row = frames[tt]
                for b in range(b0, b1):
                    acc[b - b0] += lut[row[b]]
            for b in range(b0, b1):
                word = acc[b - b0]
                for j in range(8):
                    counts[8 * b + j] += (word >> np.uint64(8 * j)) & np.uint64(0xFF)
                acc[b - b0] = 0
            t = t_end


def accumulate_counts(frames: np.ndarray, counts: np.ndarray) -> None:
    """Validated entry to the kernel: ``counts += per-bit spike counts of frames``."""
    frames = np.ascontiguousarray(frames, dtype=np.uint8)
    if frames.ndim != 2 or counts.shape != (frames.shape[1] * 8,) or counts.dtype != np.int64:
        raise ValueError("internal: frames must be (n, nbytes) and counts (nbytes*8,) int64")
    if frames.shape[0]:
        _accumulate_counts(frames, _LUT, counts)


def accumulate_counts_reference(frames: np.ndarray, counts: np.ndarray) -> None:
    """Slow, obviously correct reference: unpack every bit and sum (numpy)."""
    bits = np.unpackbits(np.asarray(frames, dtype=np.uint8), axis=1, bitorder="little")
    counts += bits.sum(axis=0, dtype=np.int64)
