"""The network's input: multi-temporal-scale IF integration with the FPN spike weight.

:func:`if_features` integrates the windows (paper Eq. 14); :func:`features_for` turns a
stream and its calibration into the network input ``(n, H, W)`` exactly as training and
inference both use it (it imports nothing from training); :func:`network_input` adds the
value of the calibration flag for models that have one.

For each window ``T_i`` around the key step ``t_c`` a non-spiking IF neuron integrates
``V(t) = V(t-1) + w_p S_p(t)`` (physics.md §5: ``w`` is the calibration's spike weight,
the rate ratio that makes Eq. 14 exact at the operating level), and the feature is the
weighted rate ``F_i = V / T_i`` (spikes per step). Because ``w_p`` is constant in time,
``V = w_p · count``; the counts of all windows come from one cumulative sum over the
segments between window boundaries.

Windows (despike.md): window ``T`` covers ``[t_c - T//2, t_c - T//2 + T)``. A stream of
``L`` steps clips every window longer than ``L`` to ``L``, and a window that would run
past either end is shifted inside the stream (its length kept), so the network always
receives all its inputs. What was clipped is reported in :attr:`IFFeatures.clipped`.

The network predicts charge per step ``λ`` (thresholds/step); the rate is mapped to it
by inverting the dead-time law ``r = 1/(δ + 1/λ)`` (physics.md §4): ``λ = r/(1 - δ r)``
with the calibrated dead time ``δ`` (:func:`linearize_rate`, the same inversion and
denominator floor as the TFP baseline).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from spikesim.errors import InputError
from spikesim.inspect import shifted_window

from restore import settings
from restore.baselines import linearize_rate

from .configs import ModelConfig

log = logging.getLogger("spikes")


@dataclass
class IFFeatures:
    """Features of one stream: ``features (n, H, W) float32`` weighted rates F_i."""

    features: np.ndarray
    bounds: list = field(default_factory=list)      # [(start, stop)] per window
    windows: tuple = ()                              # the requested lengths
    clipped: list = field(default_factory=list)      # human-readable notes

    @property
    def lengths(self) -> list[int]:
        return [b - a for a, b in self.bounds]


def window_bounds(length: int, windows, key_step: int | None = None):
    """Steps ``[(start, stop)]`` of each window and notes about what was clipped.

    Parameters
    ----------
    length : int
        Steps in the stream ``L``.
    windows : sequence of int
        Requested window lengths (steps), increasing.
    key_step : int, optional
        The key step ``t_c``; default the middle ``L // 2``.
    """
    length = int(length)
    if length < settings.DESPIKE_MIN_STEPS:
        raise InputError("stream", f"{length} steps",
                         f"at least {settings.DESPIKE_MIN_STEPS} steps (shortest usable window)",
                         "give a longer capture (the network's windows are "
                         f"{', '.join(map(str, windows))} steps; shorter streams are clipped)")
    key = length // 2 if key_step is None else int(key_step)
    if not 0 <= key < length:
        raise InputError("center", key, f"a step in [0, {length - 1}]",
                         "choose a key step inside the stream or leave the default (middle)")
    bounds, notes = [], []
    for w in windows:
        w = int(w)
        if w < 1:
            raise InputError("windows", w, "positive window lengths", "use e.g. 64, 96, 128")
        start, stop = shifted_window(length, key, w)
        wc = stop - start
        bounds.append((start, stop))
        if wc < w:
            notes.append(f"window {w} clipped to {wc} steps (stream has {length})")
        elif start != key - wc // 2:
            notes.append(f"window {w} shifted to [{start}, {start + wc}) to stay inside the stream")
    return bounds, notes


def _segment_counts(spikes, edges):
    """Counts ``(len(edges)-1, H, W) int64`` between consecutive edges."""
    if hasattr(spikes, "counts"):
        return np.stack([np.asarray(spikes.counts(a, b), dtype=np.int64)
                         for a, b in zip(edges[:-1], edges[1:])])
    arr = np.asarray(spikes)
    return np.stack([arr[a:b].sum(axis=0, dtype=np.int64) for a, b in zip(edges[:-1], edges[1:])])


def if_features(spikes, weight=None, windows=settings.DESPIKE_WINDOWS,
                key_step: int | None = None) -> IFFeatures:
    """Weighted IF features ``F_i = V_i / T_i`` of every window.

    Parameters
    ----------
    spikes : SpikeStream or (T, H, W) array of 0/1
        The stream (time first, rows top-down). A ``SpikeStream`` is counted with its
        compiled popcount, without unpacking.
    weight : (H, W) array, optional
        The calibration's spike weight ``w`` (Eq. 14); ``None`` means 1 (uncalibrated).
    windows : sequence of int
        Window lengths in steps.
    key_step : int, optional
        The key step (default: the middle).

    Returns
    -------
    IFFeatures
        ``features`` is ``(n, H, W) float32`` in weighted spikes per step.
    """
    if hasattr(spikes, "counts"):
        length = len(spikes)
        height, width = spikes.shape[1:] if len(spikes.shape) == 3 else spikes.shape
    else:
        arr = np.asarray(spikes)
        if arr.ndim != 3:
            raise InputError("spikes", f"shape {arr.shape}", "a (T, H, W) stream",
                             "pass a SpikeStream or a time-first array")
        length, height, width = arr.shape
    bounds, notes = window_bounds(length, windows, key_step)
    for note in notes:
        log.debug("despike: %s", note)
    edges = sorted({e for b in bounds for e in b})
    seg = _segment_counts(spikes, edges)
    cum = np.concatenate([np.zeros((1, height, width), np.int64), np.cumsum(seg, axis=0)])
    index = {e: i for i, e in enumerate(edges)}
    feats = np.empty((len(bounds), height, width), np.float32)
    if weight is None:
        w = np.ones((height, width), np.float64)
    else:
        w = np.asarray(weight, dtype=np.float64)
        if w.shape != (height, width):
            raise InputError("calibration weight", f"shape {w.shape}",
                             f"the stream's frame shape {(height, width)}",
                             "use the calibration of this camera (same resolution)")
        if not np.all(np.isfinite(w)):
            raise InputError("calibration weight", "non-finite values", "finite weights",
                             "recalibrate or repair the calibration file")
    for i, (a, b) in enumerate(bounds):
        count = cum[index[b]] - cum[index[a]]
        feats[i] = (w * count / float(b - a)).astype(np.float32)
    return IFFeatures(feats, bounds, tuple(int(x) for x in windows), notes)


def features_for(stream, calib, model: ModelConfig, key_step=None,
                 dead_time: float | None = None) -> tuple[np.ndarray, list]:
    """Network input ``(n, H, W) float32``: every window's charge per step ``λ̂``.

    With a calibration and ``use_calibration`` (default):

    - ``correction: full`` (default): the IF rate of each window goes through the
      calibration module's full inverse (:func:`calibration.correct.full_inverse`,
      ``output="charge"``): the ideal pixel's charge per step, exact at every light
      level (gain, dark offset and dead time corrected);
    - ``correction: weight``: the paper's Eq. 14, ``V += w S`` with the calibration's
      spike weight, then the dead-time inversion (exact at the operating level only).

    Without calibration (``calib=None`` or the w/o NC ablation) the plain rate is
    inverted with ``dead_time`` (steps) when given, else the calibrated dead time when
    known, else 1 step.
    """
    if dead_time is None:
        dead_time = 1.0 if calib is None else calib.dead_time
    use = calib is not None and model.use_calibration
    feats = if_features(stream, None, model.used_windows, key_step)
    if use and model.correction == "full":
        from calibration.correct import full_inverse

        x = full_inverse(feats.features, calib, output="charge")
    else:
        x = feats.features
        if use:        # Eq. 14: w constant in time, so weighting the rate = weighting V
            from calibration.correct import weight_spikes

            x = weight_spikes(x, calib)
        if model.linearize:
            x = linearize_rate(x, dead_time)
    return np.ascontiguousarray(x, np.float32), feats.clipped


def measured(calib):
    """``calib`` when it measures the camera; ``None`` for no calibration or an identity
    one (:meth:`calibration.calfile.Calibration.identity`: every pixel assumed ideal,
    nothing measured, as ``spikerestore eval --calib-mode off`` passes)."""
    if calib is None or not calib.measured:
        return None
    return calib


def network_input(stream, calib, model: ModelConfig, key_step=None,
                  dead_time: float | None = None) -> tuple[np.ndarray, float, list]:
    """``(features (n, H, W) float32, calibrated, notes)`` of one capture for a model.

    A model without ``calibration_flag`` gets :func:`features_for` of ``calib`` as given
    (an identity calibration included, as before the flag existed). A model with the flag
    gets the calibrated features and flag 1.0 only for a :func:`measured` calibration
    (and ``use_calibration``); otherwise the plain rates linearised with ``dead_time``
    (default: the identity calibration's, else 1 step) and flag 0.0 — what training
    shows it for withheld calibrations (``data.calib_withheld``). ``calibrated`` is 1.0
    exactly when the features went through a calibration, else 0.0.
    """
    if model.calibration_flag and calib is not None and measured(calib) is None:
        dead_time = calib.dead_time if dead_time is None else dead_time
        calib = None
    x, notes = features_for(stream, calib, model, key_step, dead_time)
    return x, float(calib is not None and model.use_calibration), notes
