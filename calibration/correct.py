"""Applying a calibration: the one correction reconstruction uses (numpy; torch-free).

Two corrections, both from a :class:`~calibration.calfile.Calibration`:

- **Eq. 14, the weighted integration** ``V(t) = V(t-1) + w_p S_p(t)`` with the spike
  weight ``w`` (``calib.weight``), *not* Eq. 12's ``gamma`` (which acts on the interval
  and leaves about 1 % non-uniformity when used on spikes, physics.md §5). A single
  weight is exact only at the calibration's operating level (the dark offset is additive).
- **The full inverse** ``E_p = q_p / D_p - L_d,p`` with ``D_p = 1/r_p - delta`` and the
  calibrated dead time ``delta``: the scene level (lux) that produced rate ``r_p``, exact
  at every level under the model of physics.md §4. (physics.md §5 writes ``q_ref / D_p``
  there; with ``D_p`` in the pixel's own interval that must be the pixel's ``q_p`` —
  ``q_ref / D_p`` would keep the gain pattern — or equivalently ``q_ref`` over the
  gain-corrected interval ``D_p q_ref / q_p``.) From ``E`` an ideal pixel's charge per step
  is ``E / q_ref`` and its rate ``1 / (delta + q_ref / E)``.

Shapes: maps are upright ``(H, W)``; spike arrays ``(T, H, W)`` with time first. Rates
are spikes per step, charges thresholds per step, levels the unit of the calibration's
levels (lux unless the levels were ``auto``).
"""

from __future__ import annotations

import numpy as np

from spikesim.errors import InputError
from spikesim.rate_law import rate_from_charge

from .calfile import Calibration
from .solvers import charge_from_rate

OUTPUTS = ("level", "charge", "rate")


def _map_shape_check(arr, calib: Calibration, what: str) -> None:
    """The last two axes of ``arr`` must be the calibration's ``(H, W)``."""
    shape = tuple(np.shape(arr))
    if len(shape) < 2:
        raise InputError(what, f"an array of shape {shape}", "(..., H, W) maps",
                         "pass upright maps with height and width last")
    calib.check_resolution(shape[-2], shape[-1], what)


def weighted_counts(source, calib: Calibration, start: int = 0, stop: int | None = None,
                    weights: str = "weight") -> np.ndarray:
    """Eq. 14 summed over a window: ``sum_t w_p S_p(t)``, ``(H, W)`` float64 (weighted spikes).

    Parameters
    ----------
    source : a :class:`~spikesim.stream.SpikeStream` (frames ``[start, stop)`` are counted
        with the streaming popcount), or an ``(H, W)`` count map (``start``/``stop`` ignored)
    calib : the camera's calibration (its resolution must match)
    weights : ``"weight"`` (the Eq. 14 rate weight, default), ``"ratio"`` (Eq. 13) or
        ``"gamma"`` (Eq. 12, only to show why it is the wrong weight for spikes)
    """
    w = _weight_map(calib, weights)
    if hasattr(source, "counts") and hasattr(source, "height"):
        calib.check_stream(source)
        counts = source.counts(start, stop)
    else:
        counts = np.asarray(source)
        if counts.ndim != 2:
            raise InputError("counts", f"an array of shape {counts.shape}",
                             "an (H, W) count map or a SpikeStream",
                             "sum the spikes over time first, or pass the stream")
        _map_shape_check(counts, calib, "count map")
    return counts.astype(np.float64) * w


def weight_spikes(spikes, calib: Calibration, weights: str = "weight"):
    """Eq. 14 increments per step: ``w_p S_p(t)`` for ``(T, H, W)`` (or ``(..., H, W)``) spikes.

    A numpy array gives float32 numpy; a torch tensor gives a tensor of its device and
    floating dtype (duck-typed: this module never imports torch).
    """
    w = _weight_map(calib, weights)
    _map_shape_check(spikes, calib, "spike array")
    if hasattr(spikes, "new_tensor"):                       # a torch tensor
        dtype = spikes.dtype if spikes.is_floating_point() else spikes.new_zeros(()).float().dtype
        wt = spikes.new_tensor(w, dtype=dtype)
        return spikes.to(dtype) * wt
    return np.asarray(spikes, dtype=np.float32) * w.astype(np.float32)


def _weight_map(calib: Calibration, weights: str) -> np.ndarray:
    if weights not in ("weight", "ratio", "gamma"):
        raise InputError("weights", weights, "weight, ratio or gamma",
                         "use weight (the Eq. 14 spike weight)")
    return getattr(calib, weights).astype(np.float64)


def full_inverse(rate, calib: Calibration, output: str = "level") -> np.ndarray:
    """Invert the pixel model: rate -> the scene level that produced it.

    Parameters
    ----------
    rate : (..., H, W) spikes per step (e.g. a window's counts / its length)
    calib : the camera's calibration; its dead time ``delta`` is used
    output : ``"level"`` ``E_p = q_p / D_p - L_d,p`` (unit of the levels, may be
        slightly negative from noise in the dark), ``"charge"`` the ideal pixel's charge
        per step ``max(E, 0) / q_ref``, or ``"rate"`` the ideal pixel's rate
        ``1 / (delta + q_ref / E)``.

    Returns float64 of ``rate``'s shape; finite everywhere (defect pixels carry neutral
    maps: use ``calib.good`` to mask or inpaint them).
    """
    if output not in OUTPUTS:
        raise InputError("output", output, "one of " + ", ".join(OUTPUTS), "use level")
    rate = np.asarray(rate, dtype=np.float64)
    _map_shape_check(rate, calib, "rate map")
    lam = charge_from_rate(rate, calib.dead_time)            # 1 / D_p
    level = calib.q.astype(np.float64) * lam - calib.offset.astype(np.float64)
    if output == "level":
        return level
    charge = np.maximum(level, 0.0) / calib.q_ref
    if output == "charge":
        return charge
    return rate_from_charge(charge, calib.dead_time)


def correct_rate(rate, calib: Calibration, mode: str = "full") -> np.ndarray:
    """A rate map as an ideal pixel would have produced it (spikes per step).

    ``mode="full"``: through the full inverse (exact at every level);
    ``"weight"``: ``w_p r_p`` (Eq. 14's weight, exact at the operating level);
    ``"ratio"``: Eq. 13; ``"none"``: unchanged.
    """
    rate = np.asarray(rate, dtype=np.float64)
    if mode == "full":
        return full_inverse(rate, calib, output="rate")
    if mode in ("weight", "ratio", "gamma"):
        _map_shape_check(rate, calib, "rate map")
        return rate * _weight_map(calib, mode)
    if mode == "none":
        return rate
    raise InputError("mode", mode, "full, weight, ratio or none", "use full")
