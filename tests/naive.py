"""Slow, obviously correct references that the fast kernels are tested against.

Each function here computes what a compiled or vectorised kernel of the toolkit computes,
the plain way (loops, float64), so a test can compare the two, bit for bit where the
maths is deterministic. Nothing in the toolkit imports this module.
"""

import numpy as np

from restore.despike.encoding import window_bounds



def if_features_reference(spikes, weight, windows, key_step=None):
    """Slow obvious reference: integrate ``V += w S`` step by step for every window."""
    arr = np.asarray(spikes, dtype=np.float64)
    bounds, _ = window_bounds(arr.shape[0], windows, key_step)
    w = np.ones(arr.shape[1:]) if weight is None else np.asarray(weight, np.float64)
    out = []
    for a, b in bounds:
        v = np.zeros(arr.shape[1:])
        for t in range(a, b):
            v = v + w * arr[t]
        out.append(v / (b - a))
    return np.stack(out).astype(np.float32)


def tfi_rate_reference(dense_window, center):
    """TFI rate ``1/Δ`` at step ``center`` of dense upright frames ``(w, H, W)``: the
    interval between the last spike at or before ``center`` and the first after it,
    else the pixel's TFP rate ``N / w`` (what ``restore.baselines.tfi_rate`` computes)."""
    w, h, wd = dense_window.shape
    out = np.zeros((h, wd))
    for y in range(h):
        for x in range(wd):
            times = np.flatnonzero(dense_window[:, y, x])
            before = times[times <= center]
            after = times[times > center]
            if before.size and after.size:
                out[y, x] = 1.0 / (after[0] - before[-1])
            else:
                out[y, x] = times.size / w
    return out


def accumulate_counts_reference(frames, counts):
    """Add the spikes of packed frames ``(n, nbytes)`` to ``counts`` (bit index order):
    unpack every bit and sum (what ``spikesim._popcount.accumulate_counts`` computes)."""
    bits = np.unpackbits(np.asarray(frames, dtype=np.uint8), axis=1, bitorder="little")
    counts[: bits.shape[1]] += bits.sum(axis=0, dtype=np.int64)
