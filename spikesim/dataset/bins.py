"""How a sample is classed: its blur bin and its focus side, defined once for the toolkit.

The bin edges and the on-focus threshold are numbers in :mod:`spikesim.settings`
(``DATASET_BLUR_BIN_EDGES``, ``DATASET_ON_FOCUS_SIGMA``); this module turns them into the
bins, their labels and the focus sides that ``sample.yaml``, the manifest, ``spikesim
generate``'s summary and ``spikerestore eval``'s breakdowns use. A sample whose blur is
not known (``source: dpdd``) is classed :data:`UNKNOWN` on both.
"""

from __future__ import annotations

import math

import numpy as np

from .. import settings

FOCUS_SIDES = ("front", "on", "back")
UNKNOWN = "unknown"


def blur_bin_edges() -> tuple[float, ...]:
    """Every bin boundary of the median sigma, px: ``(0, 1, 2, 4, inf)``."""
    return (0.0,) + tuple(settings.DATASET_BLUR_BIN_EDGES) + (math.inf,)


def blur_bin(sigma_median: float) -> int:
    """Index of the median-sigma bin: 0 ``[0,1)``, 1 ``[1,2)``, 2 ``[2,4)``, 3 ``[4,inf)`` px."""
    return int(np.searchsorted(settings.DATASET_BLUR_BIN_EDGES, float(sigma_median), side="right"))


def blur_bin_label(index: int) -> str:
    """``"[1,2)"`` etc. for a :func:`blur_bin` index."""
    edges = blur_bin_edges()
    return f"[{edges[index]:g},{edges[index + 1]:g})"


BLUR_BIN_LABELS = tuple(blur_bin_label(i) for i in range(len(blur_bin_edges()) - 1))


def focus_side(sigma_median: float, coc_median: float) -> str:
    """``"on"`` when the median sigma < 1 px, else the sign of the median signed CoC:
    ``"front"`` (negative: the scene is nearer than the focus distance) or ``"back"``."""
    if sigma_median < settings.DATASET_ON_FOCUS_SIGMA:
        return "on"
    return "front" if coc_median < 0 else "back"
