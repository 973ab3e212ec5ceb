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
