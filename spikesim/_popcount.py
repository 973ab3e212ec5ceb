"""Compiled positional popcount over packed spike frames (private kernel).

Frames are processed as 64-bit words: for word ``w`` and bit ``j`` in 0..7,
``(w >> j) & 0x0101010101010101`` isolates bit ``j`` of each of the word's 8 bytes,
one per byte lane, so adding it to accumulator ``acc[j]`` counts 8 pixels at once.
A byte lane holds 255 additions before it is flushed into the int64 counts. The
loop over words has no branches and vectorises.

The kernel assumes validated, C-contiguous input and a preallocated output; the
public wrappers are :func:`spikesim.stream.count_spikes` and
:meth:`spikesim.stream.SpikeStream.counts`, which feed it word-padded frames.
"""

import numpy as np
from numba import njit, prange

from .settings import NUMBA_CACHE, POPCOUNT_BLOCK_WORDS, POPCOUNT_PARALLEL_BYTES

_LANE_LIMIT = 255                          # additions a byte lane holds before a flush
_LANE_MASK = np.uint64(0x0101010101010101)


@njit(cache=NUMBA_CACHE, nogil=True)
def _accumulate_block(words, n_frames, counts, blk):
    """Add the per-bit spike counts of word block ``blk`` of ``words[:n_frames]`` to
    ``counts`` in place.

    words  : (N, nw) uint64, C-contiguous; frame t's bytes, zero-padded to whole words
    counts : (nw * 64,) int64; bit k of byte b (pixel 8 b + k) accumulates in counts[8 b + k]
    blk    : words ``blk * POPCOUNT_BLOCK_WORDS`` up to the next block or ``nw``
    """
    nw = words.shape[1]
    w0 = blk * POPCOUNT_BLOCK_WORDS
    w1 = min(w0 + POPCOUNT_BLOCK_WORDS, nw)
    width = w1 - w0
    acc = np.zeros((8, width), dtype=np.uint64)
    t = 0
    while t < n_frames:
        t_end = min(t + _LANE_LIMIT, n_frames)
        for tt in range(t, t_end):
            row = words[tt, w0:w1]
            for j in range(8):
                accj = acc[j]
                for i in range(width):
                    accj[i] += (row[i] >> np.uint64(j)) & _LANE_MASK
        for i in range(width):
            base = 64 * (w0 + i)
            for j in range(8):
                a = acc[j, i]
                for m in range(8):
                    counts[base + 8 * m + j] += (a >> np.uint64(8 * m)) & np.uint64(0xFF)
                acc[j, i] = 0
        t = t_end


# Two kernels over the same block: the parallel one for large inputs and a serial one for
# small windows, where waking threads costs more than the work (and a thread that the OS
# deschedules on a busy machine stalls the whole parallel region). They are two Python
# functions on purpose: numba keys its on-disk cache by the function's name and line, not
# by ``parallel``, so one function compiled twice would share one cache entry and the
# "serial" kernel would load the parallel build.
@njit(cache=NUMBA_CACHE, parallel=True, nogil=True)
def _accumulate_words(words, n_frames, counts):
    """Per-bit spike counts of ``words[:n_frames]`` added to ``counts``, the word blocks
    spread over numba's threads (shapes as :func:`_accumulate_block`)."""
    for blk in prange((words.shape[1] + POPCOUNT_BLOCK_WORDS - 1) // POPCOUNT_BLOCK_WORDS):
        _accumulate_block(words, n_frames, counts, blk)


@njit(cache=NUMBA_CACHE, nogil=True)
def _accumulate_words_serial(words, n_frames, counts):
    """:func:`_accumulate_words` on the calling thread alone."""
    for blk in range((words.shape[1] + POPCOUNT_BLOCK_WORDS - 1) // POPCOUNT_BLOCK_WORDS):
        _accumulate_block(words, n_frames, counts, blk)


def padded_words_buffer(n_frames: int, nbytes: int) -> np.ndarray:
    """A reusable ``(n_frames, ceil(nbytes / 8))`` uint64 buffer, zero-initialised."""
    return np.zeros((n_frames, -(-nbytes // 8)), dtype=np.uint64)


def accumulate_counts(frames: np.ndarray, counts: np.ndarray, buffer=None,
                      parallel: bool | None = None) -> None:
    """Validated entry to the kernel: ``counts += per-bit spike counts of frames``.

    frames : (n, nbytes) uint8 packed frames (any strides)
    counts : (ceil(nbytes / 8) * 64,) int64
    buffer : optional reusable word buffer from :func:`padded_words_buffer`
    parallel : use the multi-threaded kernel (default: when the frames hold at least
        ``POPCOUNT_PARALLEL_BYTES``)
    """
    n, nbytes = frames.shape
    if buffer is None or buffer.shape[0] < n:
        buffer = padded_words_buffer(n, nbytes)
    as_bytes = buffer.view(np.uint8).reshape(buffer.shape[0], -1)
    as_bytes[:n, :nbytes] = frames
    accumulate_words(buffer, n, counts, parallel)


def use_parallel(total_bytes: int) -> bool:
    """Whether counting ``total_bytes`` of packed frames is worth several threads."""
    return total_bytes >= POPCOUNT_PARALLEL_BYTES


def accumulate_words(buffer: np.ndarray, n: int, counts: np.ndarray,
                     parallel: bool | None = None) -> None:
    """Checked call of the kernel on the first ``n`` rows of a padded word buffer."""
    if (buffer.dtype != np.uint64 or buffer.ndim != 2 or not buffer.flags.c_contiguous
            or counts.dtype != np.int64 or counts.shape != (buffer.shape[1] * 64,)):
        raise ValueError("internal: buffer must be (N, nw) uint64 C-contiguous and counts "
                         "(nw*64,) int64")
    if parallel is None:
        parallel = use_parallel(n * buffer.shape[1] * 8)
    if n:
        (_accumulate_words if parallel else _accumulate_words_serial)(buffer, n, counts)
