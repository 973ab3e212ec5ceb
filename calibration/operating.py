"""The operating-point maps of a calibration: Eq. 12's ``gamma`` and Eq. 14's spike weight.

Under the pixel model (physics.md §4) a pixel with ``q_p`` (level-units x steps per
threshold) and dark offset ``L_d,p`` fires, at the scene level ``L``, with the interval
``D_p = q_p / (L + L_d,p)`` between spikes (dead time excluded); the ideal pixel
(``q_ref``, no offset) with ``I = q_ref / L``. At the *operating level* ``L``:

- ``gamma = D_p / I`` (Eq. 12) acts on the interval: ``D_p = gamma · I``;
- ``weight = (δ + D_p) / (δ + I)`` (Eq. 14) acts on the rate: the ideal pixel's rate
  ``1 / (δ + I)`` is ``weight`` times the pixel's ``1 / (δ + D_p)``, so integrating
  ``V += w S`` makes every pixel respond like the ideal one at that level.

Both are exact only at ``L`` (the dark offset is additive); the full inverse of
:mod:`calibration.correct` is exact at every level. ``spikecal fit`` and
:meth:`calibration.calfile.Calibration.from_truth` both compute them here.
"""

from __future__ import annotations

import numpy as np

from . import settings


def operating_maps(q, offset, q_ref: float, level: float, dead_time: float):
    """``(gamma, weight)`` maps at the operating ``level`` (Eq. 12 and Eq. 14).

    Parameters
    ----------
    q : (H, W) or (N,) float64, ``q_p`` in level-units x steps per threshold
    offset : same shape, the dark offset ``L_d,p`` in level units
    q_ref : float, ``q`` of the ideal pixel
    level : float > 0, the operating level (level units, e.g. lux)
    dead_time : float, ``δ`` in steps

    Returns
    -------
    gamma, weight : float64 arrays of ``q``'s shape (``L + L_d`` is floored at
    ``settings.MIN_OPERATING_LEVEL`` so a large negative offset stays finite).
    """
    ideal = q_ref / level                                          # I of Eq. 12
    level_p = np.maximum(level + offset, settings.MIN_OPERATING_LEVEL)
    d_p = q / level_p
    return d_p / ideal, (dead_time + d_p) / (dead_time + ideal)
