"""Defect pixels: dead, hot, unstable, ill-conditioned and poorly fitted (bit flags).

Every rule is a plain threshold from :mod:`calibration.settings`, stated here:

- **dead** (1): the pixel's response above dark in the brightest field is below
  ``DEAD_GAIN_MAX`` of the median response (a pixel that never fires is dead);
- **hot** (2): its dark offset exceeds the median by ``HOT_ROBUST_Z`` clipped standard
  deviations *and* ``HOT_MIN_LEVEL_FRACTION`` of the level span (one-field ``ratio``:
  its rate exceeds the median by ``RATIO_OUTLIER_Z`` s.d.);
- **unstable** (4): in some field the two halves of the capture differ by more than
  ``UNSTABLE_Z`` s.d. of that field's half differences and ``UNSTABLE_MIN_COUNTS`` spikes;
- **ill-conditioned** (8): the chosen method cannot solve the pixel (saturated in a field,
  ``D_medium >= D_dark`` in ``paper``, a non-positive slope in ``lsq``, non-finite values);
- **poor fit** (16): ``lsq`` with ``K >= 3``: the RMS normalised residual exceeds
  ``POOR_FIT_Z`` (times the camera's median residual / 0.6745 when that exceeds 1, i.e.
  when the halves underestimate the noise).
"""

from __future__ import annotations

import numpy as np

from . import settings
from .rates import FieldRates, robust_sd

DEAD = settings.DEFECT_DEAD
HOT = settings.DEFECT_HOT
UNSTABLE = settings.DEFECT_UNSTABLE
ILL_CONDITIONED = settings.DEFECT_ILL_CONDITIONED
POOR_FIT = settings.DEFECT_POOR_FIT
NAMES = settings.DEFECT_NAMES


def unstable_mask(fields: list[FieldRates]) -> np.ndarray:
    """(H, W) bool: pixels whose two halves disagree in some field beyond the noise."""
    out = np.zeros(fields[0].shape, dtype=bool)
    for f in fields:
        # compare counts scaled to the first half's length
        diff = f.counts_a - f.counts_b * (f.steps_a / f.steps_b)
        sd = max(robust_sd(diff), settings.MIN_COUNT_SD)
        out |= (np.abs(diff) > settings.UNSTABLE_Z * sd) & \
               (np.abs(diff) > settings.UNSTABLE_MIN_COUNTS)
    return out


def saturated_mask(rate: np.ndarray, dead_time: float) -> np.ndarray:
    """(..., H, W) bool: rates at the saturation rate ``1 / (1 + dead_time)``."""
    return rate >= settings.SATURATION_FRACTION / (1.0 + dead_time)


def hot_by_offset(offset: np.ndarray, candidates: np.ndarray, level_span: float) -> np.ndarray:
    """(H, W) bool: offsets far above the others (robust z and a fraction of the span)."""
    ref = offset[candidates]
    if ref.size < 2:
        return np.zeros(offset.shape, dtype=bool)
    med = float(np.median(ref))
    sd = robust_sd(ref)
    limit = max(med + settings.HOT_ROBUST_Z * sd, settings.HOT_MIN_LEVEL_FRACTION * level_span)
    return offset > limit


def outliers_by_rate(rate: np.ndarray, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One field only: (high, low) bool maps of rates far from the others (robust z)."""
    ref = rate[candidates]
    med = float(np.median(ref)) if ref.size else 0.0
    sd = robust_sd(ref) if ref.size > 1 else 0.0
    high = rate > med + settings.RATIO_OUTLIER_Z * sd if sd > 0 else np.zeros(rate.shape, bool)
    low = rate < settings.DEAD_GAIN_MAX * med
    return high, low


def counts_by_reason(defects: np.ndarray) -> dict:
    """``{"dead": n, "hot": n, ...}`` (a pixel with two reasons counts in both) and ``total``."""
    defects = np.asarray(defects, dtype=np.uint8)
    out = {name: int(np.count_nonzero(defects & bit)) for bit, name in NAMES.items()}
    out["total"] = int(np.count_nonzero(defects))
    return out


def reasons(value: int) -> list[str]:
    """Names of the bits set in one defect value."""
    return [name for bit, name in NAMES.items() if int(value) & bit]
