"""Stated shares over sample indices: which part of a mix, which depth layout, sample ``i`` gets.

A config states proportions as a mapping of names to weights (``mix: {procedural: 0.4,
images: 0.6}``, ``depth_layouts: {...}``). Sample ``i`` gets the name whose interval of
``[0, 1)`` (the weights normalised, names in sorted order) holds ``frac(i * alpha + u)``:
an additive recurrence (a Weyl sequence) with an irrational step ``alpha`` and an
offset ``u`` drawn once from ``(config.seed, purpose)``. So the choice is a pure
function of ``(weights, seed, i)``, the same with any number of workers, and the
proportions are nearly exact over every run, not only on average: over the first ``n``
samples each name's count is within :data:`MAX_SHARE_DEVIATION` of ``weight * n``
(measured for ``n`` up to 20,000 and every interval, ``tests/test_dataset_mixed.py``),
where independent draws would stray by ``sqrt(n)``. Being irrational, the steps never
lock onto the period of another cycle (a stratified set's focus sides, ``i % 3``, or
pictures, ``i % n``).

Two shares drawn for one sample use different steps (``ALPHA_*``: the golden ratio and
the silver ratio, rationally independent), so they are independent of each other too.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

ALPHA_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0   # 0.618..., the mix's step
ALPHA_SILVER = math.sqrt(2.0) - 1.0           # 0.414..., the depth layouts' step
ALPHA_BRONZE = (math.sqrt(13.0) - 3.0) / 2.0  # 0.303..., photo_bokeh's step
MAX_SHARE_DEVIATION = 5                       # samples, over any n <= 20,000 from index 0


def share_offset(seed: int, purpose: int) -> float:
    """The run's offset ``u`` in ``[0, 1)`` for one ``purpose`` (``spikesim.rng``'s table):
    53 random bits of ``SeedSequence(seed, spawn_key=(purpose,))``."""
    bits = np.random.SeedSequence(int(seed), spawn_key=(int(purpose),)).generate_state(2, np.uint32)
    return float((int(bits[0]) << 21 | int(bits[1]) >> 11) / 2.0 ** 53)


def share_position(index: int, alpha: float, offset: float) -> float:
    """``frac(index * alpha + offset)`` in ``[0, 1)`` (IEEE double arithmetic)."""
    return (int(index) * alpha + offset) % 1.0


def allot(weights: Mapping[str, float], index: int, seed: int, purpose: int,
          alpha: float) -> str:
    """The name that sample ``index`` gets from ``weights`` (name -> weight >= 0, positive
    sum; validated by the config): see the module doc. Names with weight 0 never come."""
    names = sorted(weights)
    w = np.array([float(weights[n]) for n in names], dtype=np.float64)
    edges = np.cumsum(w / w.sum())
    x = share_position(index, alpha, share_offset(seed, purpose))
    k = min(int(np.searchsorted(edges, x, side="right")), len(names) - 1)
    while w[k] == 0.0:          # only past the last edge (rounding): the last positive name
        k -= 1
    return names[k]
