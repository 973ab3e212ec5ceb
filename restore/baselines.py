"""TFP and TFI: the classical spike-to-image reconstructions (Zhu et al., ICME 2019).

Both return a **λ-like estimate**: the charge per step (in thresholds) of the pixel,
i.e. the quantity the network predicts (despike.md "What the network predicts"),
before any exposure. :mod:`restore.exposure` maps it to intensity for every method.

Window convention
-----------------
A window of ``w`` steps centred on the key step ``t_c`` covers steps
``[t_c − w//2, t_c − w//2 + w)`` (despike.md). When that range crosses an end of
the stream it is **shifted** (same length) to lie inside it; the key step stays
``t_c``. :func:`resolve_window` does this and is shared by every method.

TFP (texture from playback)
    ``r = N / w``: the spikes ``N`` of the pixel in the window over its length. A
    pixel with no spike gets ``r = 0`` (λ = 0).

TFI (texture from inter-spike intervals)
    ``r = 1 / Δ`` with ``Δ = t_next − t_prev`` the interval that contains the key
    step: ``t_prev`` the last spike at or before ``t_c`` and ``t_next`` the first
    spike after ``t_c``, both inside the window. A pixel with no such pair in the
    window (too dark for the window) falls back to its TFP rate ``N / w`` (0 when it
    has no spike at all).

Rate to λ (dead-time-aware inversion)
    The sensor of physics.md §4 fires at ``r = 1 / (δ + 1/λ)`` with dead time ``δ``
    steps, so ``λ = r / (1 − δ r)``; for TFI this is ``λ = 1 / (Δ − δ)``, the
    interval minus the blind steps. The denominator is floored at
    ``settings.RATE_INVERSION_MIN_DENOM`` (a camera that fires faster than its
    assumed ``δ`` allows, e.g. on consecutive steps, stays finite). ``δ = 0`` is the
    plain ``λ = r`` camera.

Calibrated variants
    With a calibration (``calib``), the rate of each pixel is corrected by the
    calibration module's one correction function (paper Eq. 14 / the full inverse
    of physics.md §5; :func:`calibrated_lambda`) instead of the plain inversion, so
    gain and dark-offset non-uniformity are removed. ``calib=None`` is uncalibrated.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from spikesim import rate_law
from spikesim.errors import InputError
from spikesim.inspect import shifted_window

from . import settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Window:
    """A resolved window ``[start, stop)`` around the key step ``center`` (steps)."""

    start: int
    stop: int
    center: int
    clipped: bool = False     # the requested length was cut to the stream length

    @property
    def length(self) -> int:
        return self.stop - self.start


def resolve_window(length: int, center: int | None = None, window: int | None = None,
                   minimum: int = 1) -> Window:
    """The window of ``window`` steps around ``center`` in a stream of ``length`` steps.

    ``center`` defaults to ``length // 2``; ``window`` to ``settings.DEFAULT_WINDOW``
    clipped to the stream (logged). An explicit ``window`` longer than the stream, or
    a key step outside it, is an :class:`InputError`.
    """
    length = int(length)
    if length < minimum:
        raise InputError("stream", f"{length} steps", f"at least {minimum} steps",
                         "use a longer capture")
    if center is None:
        center = length // 2
    if isinstance(center, bool) or int(center) != center:
        raise InputError("center", center, "an integer step", "give e.g. --center 96")
    center = int(center)
    if not 0 <= center < length:
        raise InputError("center", center, f"a key step inside the stream, 0..{length - 1}",
                         f"the stream has {length} steps; choose a key step in that range")
    clipped = False
    if window is None:
        w = min(settings.DEFAULT_WINDOW, length)
        clipped = w < settings.DEFAULT_WINDOW
        if clipped:
            log.info("window clipped to the stream length: %d steps instead of %d",
                     w, settings.DEFAULT_WINDOW)
    else:
        if isinstance(window, bool) or int(window) != window:
            raise InputError("window", window, "an integer number of steps", "give e.g. 192")
        w = int(window)
        if w < minimum:
            raise InputError("window", w, f"at least {minimum} steps", "use a longer window")
        if w > length:
            raise InputError("window", w, f"at most the stream length ({length} steps)",
                             f"the stream is shorter than the window: use --window {length} "
                             "or less, or a longer capture")
    start, stop = shifted_window(length, center, w)
    return Window(start, stop, center, clipped)


def linearize_rate(rate, dead_time: float = settings.DEFAULT_DEAD_TIME):
    """Charge per step from a spike rate: ``λ = r / max(1 − δ r, MIN_DENOM)``, the
    inverse of ``r = 1 / (δ + 1/λ)`` (:func:`spikesim.rate_law.charge_from_rate`);
    ``δ`` the dead time in steps.

    The one rate inversion of reconstruction (TFP, TFI and the network's inputs), with
    reconstruction's floor ``settings.RATE_INVERSION_MIN_DENOM``. Works on numpy arrays
    and torch tensors alike (same dtype out).
    """
    return rate_law.charge_from_rate(rate, dead_time,
                                     min_denom=settings.RATE_INVERSION_MIN_DENOM)


def rate_to_lambda(rate, dead_time: float = settings.DEFAULT_DEAD_TIME) -> np.ndarray:
    """:func:`linearize_rate` of a rate map, with ``dead_time`` validated: float32 (H, W)."""
    d = float(dead_time)
    if not (np.isfinite(d) and d >= 0):
        raise InputError("dead_time", dead_time, "a number of steps >= 0", "use 1 (or 0)")
    return linearize_rate(np.asarray(rate, dtype=np.float64), d).astype(np.float32)


# ---------------------------------------------------------------------------- TFP
def tfp_rate(stream, win: Window) -> np.ndarray:
    """Spikes per step over the window: ``(H, W)`` float64.

    Counting is the stream's compiled popcount (single-threaded for a window this
    small, where waking threads would cost more than the work).
    """
    return stream.counts(win.start, win.stop) / float(win.length)


def tfp(stream, center: int | None = None, window: int | None = None, *,
        dead_time: float = settings.DEFAULT_DEAD_TIME, calib=None) -> np.ndarray:
    """TFP estimate of λ at the key step: ``(H, W)`` float32, thresholds per step.

    Parameters
    ----------
    stream : spikesim.stream.SpikeStream, (T, H, W)
    center : int, key step (default ``T // 2``)
    window : int, steps (default ``settings.DEFAULT_WINDOW`` clipped to T)
    dead_time : float, steps, for the uncalibrated inversion
    calib : calibration.Calibration or None (None: uncalibrated)
    """
    win = resolve_window(len(stream), center, window)
    rate = tfp_rate(stream, win)
    return _to_lambda(rate, win, calib, dead_time, stream)


# ---------------------------------------------------------------------------- TFI
def tfi_rate(stream, win: Window) -> np.ndarray:
    """TFI rate ``1/Δ`` at the key step (TFP fallback): ``(H, W)`` float64, compiled."""
    from ._tfi_kernels import _tfi_rate_kernel     # numba only when TFI runs

    packed = np.ascontiguousarray(stream.packed[win.start:win.stop])
    out = np.empty((stream.height, stream.width), dtype=np.float64)
    _tfi_rate_kernel(packed, stream.height, stream.width, stream.file_width,
                     bool(stream.flipped), win.center - win.start, out)
    return out


def tfi(stream, center: int | None = None, window: int | None = None, *,
        dead_time: float = settings.DEFAULT_DEAD_TIME, calib=None) -> np.ndarray:
    """TFI estimate of λ at the key step: ``(H, W)`` float32 (parameters as :func:`tfp`).

    The window needs at least 2 steps.
    """
    win = resolve_window(len(stream), center, window, minimum=2)
    rate = tfi_rate(stream, win)
    return _to_lambda(rate, win, calib, dead_time, stream)


# ---------------------------------------------------------------------------- calibration
def check_calibration(calib, stream) -> None:
    """A calibration of another resolution is an :class:`InputError` naming both."""
    calib.check_stream(stream)


def calibrated_lambda(rate, calib, inpaint: bool = True) -> np.ndarray:
    """λ of an ideal FPN-free pixel from measured rates, via the calibration module.

    Uses the calibration module's one correction, the full inverse
    (``calibration.correct.full_inverse(rate, calib, output="charge")``:
    ``λ = max(q_p / D_p − L_d,p, 0) / q_ref`` with the calibrated dead time), exact at
    every light level. Pixels the calibration flags as defective (``calib.defects``)
    are then filled with the median of their good 3×3 neighbours (``inpaint``).
    Returns ``(H, W)`` float32.
    """
    from calibration import correct

    lam = np.asarray(correct.full_inverse(rate, calib, output="charge"), dtype=np.float64)
    if inpaint:
        lam = inpaint_defects(lam, np.asarray(calib.defects) != 0)
    return lam.astype(np.float32)


def inpaint_defects(image: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """Replace ``bad`` pixels by the median of their good 3×3 neighbours (image median if none)."""
    out = np.array(image, dtype=np.float64, copy=True)
    if not bad.any():
        return out
    h, w = out.shape
    fallback = float(np.median(out[~bad])) if (~bad).any() else 0.0
    for y, x in zip(*np.nonzero(bad)):
        y0, y1, x0, x1 = max(y - 1, 0), min(y + 2, h), max(x - 1, 0), min(x + 2, w)
        patch = out[y0:y1, x0:x1][~bad[y0:y1, x0:x1]]
        out[y, x] = float(np.median(patch)) if patch.size else fallback
    return out


def _to_lambda(rate, win, calib, dead_time, stream) -> np.ndarray:
    if calib is None:
        return rate_to_lambda(rate, dead_time)
    check_calibration(calib, stream)
    return calibrated_lambda(rate, calib)
