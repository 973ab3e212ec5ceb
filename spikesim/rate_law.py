"""The sensor's rate law and its inverse: charge per step <-> firing rate (physics.md §4).

A pixel that integrates ``λ`` thresholds per step and is blind for ``δ`` steps after
each spike fires, on average, every ``δ + 1/λ`` steps::

    r = 1 / (δ + 1/λ) = λ / (1 + δ λ)          (rate_from_charge)
    λ = r / (1 − δ r)                           (charge_from_rate)

with ``r`` in spikes per step, ``λ`` in thresholds per step and ``δ`` in steps. The law
is the sensor's for ``λ <= 1`` (at most one spike per step): the sensor saturates at
``λ = 1``, ``r = 1 / (1 + δ)`` (one spike, then ``δ`` blind steps). The inverse
diverges at ``r = 1/δ``; a measured rate near or past it (noise, a dead time assumed
too long) would give a huge or negative charge, so :func:`charge_from_rate` floors the
denominator ``1 − δ r`` at ``min_denom`` (``λ <= r / min_denom``) and may cap the
result at ``max_charge``. The floor and the cap are the caller's choice (calibration
fits and reconstruction use different ones) and are always named where it calls.

Both functions work on numpy arrays, and :func:`charge_from_rate` also on torch
tensors (duck-typed: this module never imports torch); the dtype of the input is kept
(a float32 rate gives a float32 charge).
"""

from __future__ import annotations

import numpy as np


def inversion_denominator(rate, dead_time: float, *, min_denom: float):
    """``max(1 − δ r, min_denom)``: the floored denominator of :func:`charge_from_rate`.

    Also the slope of the law: ``dλ/dr = 1 / (1 − δ r)²``.
    """
    denom = 1.0 - float(dead_time) * rate
    if hasattr(denom, "clamp"):                      # a torch tensor
        return denom.clamp(min=min_denom)
    return np.maximum(denom, min_denom)


def charge_from_rate(rate, dead_time: float, *, min_denom: float,
                     max_charge: float | None = None):
    """Charge per step from a firing rate: ``λ = r / max(1 − δ r, min_denom)``.

    Parameters
    ----------
    rate : array or tensor, spikes per step (any shape)
    dead_time : float, ``δ`` in steps (``0``: the plain ``λ = r`` camera)
    min_denom : float > 0, floor of ``1 − δ r`` (so ``λ <= r / min_denom``)
    max_charge : float or None, cap of ``λ`` in thresholds per step (None: no cap)

    Returns
    -------
    ``λ`` in thresholds per step, the shape and floating dtype of ``rate`` (a tensor
    stays a tensor).
    """
    if not hasattr(rate, "clamp"):
        rate = np.asarray(rate)
    lam = rate / inversion_denominator(rate, dead_time, min_denom=min_denom)
    if hasattr(lam, "clamp"):                        # a torch tensor
        return lam if max_charge is None else lam.clamp(max=max_charge)
    return lam if max_charge is None else np.minimum(lam, max_charge)


def rate_from_charge(charge, dead_time: float) -> np.ndarray:
    """Firing rate from charge per step: ``r = λ / (1 + δ λ)``; ``λ <= 0`` gives 0.

    Parameters
    ----------
    charge : array, ``λ`` in thresholds per step (any shape)
    dead_time : float, ``δ`` in steps

    Returns
    -------
    float64 array of spikes per step, in ``[0, 1 / (1 + δ))``.
    """
    lam = np.maximum(np.asarray(charge, dtype=np.float64), 0.0)
    return lam / (1.0 + float(dead_time) * lam)
