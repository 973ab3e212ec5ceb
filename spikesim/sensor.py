"""The spike sensor: integrate-and-fire with dead time, saturation and noise.

Per pixel ``p`` and readout step ``t`` (physics.md §4)::

    λ_p(t) = k · g_p · (E_p(t) + L_d,p)         charge per step, in thresholds
    V_p ← V_p + λ_p(t)                            (skipped while blind)
    if V_p ≥ θ_p,n:  S_p(t) = 1;  V_p ← V_p − θ_p,n;  blind for δ steps

- reset by subtraction (default, the residual is kept) or to zero (``reset="zero"``);
- saturation: after a reset ``V`` stays below the next threshold, so at most one
  threshold of residual is carried and the rate saturates at ``1 / (1 + δ)``;
- at most one spike per step; dead time ``δ`` steps during which nothing integrates;
- random phase ``V_p(0) = u · θ_p,0``, ``u ~ U(0, 1)``;
- threshold noise ``θ_p,n = 1 + ε``, ``ε ~ N(0, σ_θ²)``, a fresh draw per spike ``n``.

All randomness comes from :mod:`spikesim.rng`, keyed by ``(seed, stream, pixel, n)``
with ``pixel`` the bit index of the pixel in the ``.dat`` layout
(``(H - 1 - y) * W + x``), so results do not depend on threads or chunking.

Two backends, chosen explicitly and never swapped silently: ``"numba"`` (the
compiled kernel, writing packed frames directly) and ``"numpy"`` (the slow,
obviously correct reference: one vectorised step per readout step, dense frames,
then packed). They perform the same float32 operations and agree bit for bit.
"""

from __future__ import annotations

import numpy as np

from . import rng, settings
from ._sensor_kernels import (F32_ONE, if_step, initial_potential, select,
                              threshold_from_normal)
from .config import CameraProfile
from .errors import InputError
from .fpn import FixedPattern
from .stream import SpikeStream


def charge_per_step(irradiance, profile: CameraProfile, fpn: FixedPattern) -> np.ndarray:
    """Charge per readout step ``λ = k · g · (E + L_d)``, in thresholds.

    Parameters
    ----------
    irradiance : (H, W) or (F, H, W) array, lux (finite, >= 0), rows top-down
    profile : the camera (``k`` in thresholds per lux per step)
    fpn : its fixed-pattern maps, (H, W)

    Returns
    -------
    float32 array, the shape of ``irradiance`` (computed in float64, then rounded).
    """
    e = np.asarray(irradiance)
    if e.ndim not in (2, 3) or tuple(e.shape[-2:]) != tuple(fpn.shape):
        raise InputError("irradiance", f"shape {tuple(e.shape)}",
                         f"(H, W) or (F, H, W) with (H, W) = {tuple(fpn.shape)} (the camera)",
                         "resize the scene or use a camera profile of its size")
    if not np.issubdtype(e.dtype, np.number) or np.issubdtype(e.dtype, np.complexfloating):
        raise InputError("irradiance", str(e.dtype), "a real-valued array in lux",
                         "convert it to float32")
    _check_finite_nonneg(e, "irradiance", "lux")
    lam = profile.k * fpn.gain.astype(np.float64) * (e.astype(np.float64)
                                                     + fpn.dark.astype(np.float64))
    return lam.astype(np.float32)


def _check_finite_nonneg(a, param, unit):
    if a.size and not np.isfinite(a).all():
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
        raise InputError(param, f"{a[where]!r} at index {where}", f"finite values ({unit})",
                         "replace NaN/inf before simulating")
    if a.size and (a < 0).any():
        where = tuple(int(i) for i in np.argwhere(a < 0)[0])
        raise InputError(param, f"{a[where]!r} at index {where}", f"values >= 0 ({unit})",
                         "light cannot be negative; clip or rescale the input yourself")


def _check_int(value, param, low, high=None):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputError(param, value, "an integer", "pass a whole number")
    if value < low or (high is not None and value > high):
        rng_text = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise InputError(param, value, f"an integer {rng_text}", "use a value within the range")
    return int(value)


def _check_charge(charge) -> np.ndarray:
    lam = np.asarray(charge)
    if lam.ndim == 2:
        lam = lam[None]
    if lam.ndim != 3 or lam.shape[0] < 1:
        raise InputError("charge", f"shape {tuple(np.shape(charge))}",
                         "(H, W) or (F, H, W) charge per step", "pass a λ map or key frames")
    if not np.issubdtype(lam.dtype, np.floating) and not np.issubdtype(lam.dtype, np.integer):
        raise InputError("charge", str(lam.dtype), "a real-valued array", "convert to float32")
    _check_finite_nonneg(lam, "charge", "thresholds per step")
    if (lam.shape[1] * lam.shape[2]) % 8:
        raise InputError("charge", f"shape {tuple(lam.shape)}", "H*W a multiple of 8",
                         "bit-packed .dat frames need whole bytes; crop or pad the frame")
    return np.ascontiguousarray(lam, dtype=np.float32)


def key_frame_weights(frames: int, steps: int):
    """Linear interpolation of ``frames`` key frames spread evenly over ``steps``.

    Key frame ``f`` sits at step ``f (T - 1) / (F - 1)``. Step ``t`` uses
    ``w0[t] * frame[f0[t]] + w1[t] * frame[f0[t] + 1]``.

    Returns ``f0`` (T,) int64, ``w0``, ``w1`` (T,) float32 (``F == 1``: 0, 1, 0).
    """
    t = np.arange(steps, dtype=np.float64)
    if frames == 1:
        return (np.zeros(steps, np.int64), np.ones(steps, np.float32),
                np.zeros(steps, np.float32))
    x = t * (frames - 1) / max(steps - 1, 1)
    f0 = np.minimum(np.floor(x).astype(np.int64), frames - 2)
    a = x - f0
    return f0, (1.0 - a).astype(np.float32), a.astype(np.float32)


def packed_index_map(height: int, width: int) -> np.ndarray:
    """(H, W) int64: the ``.dat`` bit index of each upright pixel, ``(H-1-y) W + x``."""
    y, x = np.mgrid[0:height, 0:width]
    return (height - 1 - y) * width + x


def _keys(seed: int):
    return (rng.stream_key(seed, rng.SENSOR_PHASE),
            rng.stream_key(seed, rng.SENSOR_THRESHOLD))


def simulate_reference(charge: np.ndarray, steps: int, dead_time: int, theta_sd: float,
                       seed: int, reset: str = "subtract") -> np.ndarray:
    """The slow numpy reference: dense ``(T, H, W)`` uint8 spikes (inputs validated).

    ``charge`` is ``(F, H, W)`` float32 key frames. One call of the pure
    :func:`~spikesim._sensor_kernels.if_step` per readout step, on whole frames.
    """
    nframes, h, w = charge.shape
    phase_key, threshold_key = _keys(seed)
    pix = packed_index_map(h, w).astype(np.uint32)
    noisy = theta_sd > 0
    sd = np.float32(theta_sd)
    tkeys = rng.pixel_keys(threshold_key, pix)
    count = np.zeros((h, w), dtype=np.uint32)

    def threshold(n):
        z = rng.bits_to_normal(rng.draw_bits(tkeys, n))
        return threshold_from_normal(z, sd)

    theta = threshold(count) if noisy else np.full((h, w), F32_ONE)
    u = rng.bits_to_uniform(rng.draw_bits(rng.pixel_keys(phase_key, pix), 0))
    v = initial_potential(u, theta)
    blind = np.zeros((h, w), dtype=np.int32)
    dt = np.int32(dead_time)
    f0, w0, w1 = key_frame_weights(nframes, steps)
    zero_reset = reset == "zero"
    out = np.zeros((steps, h, w), dtype=np.uint8)
    for t in range(steps):
        lam = charge[0] if nframes == 1 else w0[t] * charge[f0[t]] + w1[t] * charge[f0[t] + 1]
        theta_next = threshold(count + np.uint32(1)) if noisy else theta
        v, blind, spike = if_step(v, blind, lam, theta, theta_next, dt, zero_reset)
        theta = select(spike, theta_next, theta)
        count = count + spike.astype(np.uint32)
        out[t] = spike
    return out


def _lane_layout(charge: np.ndarray, block_bytes: int) -> np.ndarray:
    """(F, H, W) upright -> (F, nblocks, 8, B) in the kernel's lane order, zero padded."""
    nframes, h, w = charge.shape
    nbytes = h * w // 8
    nblocks = -(-nbytes // block_bytes)
    flat = np.zeros((nframes, nblocks * block_bytes * 8), dtype=np.float32)
    flat[:, :h * w] = charge[:, ::-1, :].reshape(nframes, h * w)
    lanes = flat.reshape(nframes, nblocks, block_bytes, 8).transpose(0, 1, 3, 2)
    return np.ascontiguousarray(lanes)


def simulate_packed(charge, steps: int, *, dead_time: int = 1, theta_sd: float = 0.0,
                    seed: int = 0, reset: str = "subtract", out=None) -> np.ndarray:
    """Run the compiled kernel; ``(T, H*W//8)`` uint8 packed frames (``.dat`` layout).

    Same parameters as :func:`simulate_spikes`; ``out`` may be a preallocated
    C-contiguous ``(T, H*W//8)`` uint8 array to fill (e.g. for benchmarks).
    Threads: numba's current setting (see :func:`simulate_spikes`). ``theta_sd == 0``
    runs the noise-free kernel, otherwise the noisy one; both equal the reference.
    """
    from ._sensor_kernels import BLOCK_BYTES, _simulate_packed, _simulate_packed_clean

    lam, steps, dead_time, theta_sd, seed, reset = _validate(charge, steps, dead_time,
                                                              theta_sd, seed, reset)
    nframes, h, w = lam.shape
    nbytes = h * w // 8
    if out is None:
        out = np.empty((steps, nbytes), dtype=np.uint8)
    elif (not isinstance(out, np.ndarray) or out.dtype != np.uint8 or out.shape != (steps, nbytes)
          or not out.flags.c_contiguous):
        raise InputError("out", f"{type(out).__name__}", f"C-contiguous uint8 ({steps}, {nbytes})",
                         "pass None to allocate")
    lanes = _lane_layout(lam, BLOCK_BYTES)
    f0, w0, w1 = key_frame_weights(nframes, steps)
    phase_key, threshold_key = _keys(seed)
    if theta_sd > 0:
        _simulate_packed(lanes, f0, w0, w1, nbytes, dead_time, reset == "zero", theta_sd,
                         np.uint32(phase_key), np.uint32(threshold_key), out)
    else:
        _simulate_packed_clean(lanes, f0, w0, w1, nbytes, dead_time, reset == "zero",
                               np.uint32(phase_key), out)
    return out


def _validate(charge, steps, dead_time, theta_sd, seed, reset):
    lam = _check_charge(charge)
    steps = _check_int(steps, "steps", 1)
    dead_time = _check_int(dead_time, "dead_time", 0, 1 << 20)
    if isinstance(theta_sd, bool) or not isinstance(theta_sd, (int, float, np.floating)) \
            or not np.isfinite(theta_sd) or theta_sd < 0:
        raise InputError("theta_sd", theta_sd, "a finite number >= 0 (thresholds)",
                         "use e.g. 0.01; 0 disables temporal noise")
    seed = _check_int(seed, "seed", 0)
    if reset not in settings.RESET_MODES:
        raise InputError("reset", reset, "one of " + ", ".join(settings.RESET_MODES),
                         "use 'subtract' (physics.md §4) or 'zero'")
    return lam, steps, dead_time, float(theta_sd), seed, reset


def simulate_spikes(charge, steps: int, *, dead_time: int = 1, theta_sd: float = 0.0,
                    seed: int = 0, backend: str = "numba", threads: int | None = None,
                    reset: str = "subtract",
                    readout_hz: float = settings.DEFAULT_READOUT_HZ) -> SpikeStream:
    """Integrate-and-fire spikes from a charge map (physics.md §4).

    Parameters
    ----------
    charge : (H, W) or (F, H, W) array, charge per step ``λ`` in thresholds (>= 0),
        rows top-down. ``(F, H, W)`` are key frames spread evenly over the steps
        (frame ``f`` at step ``f (T-1)/(F-1)``) and interpolated linearly.
    steps : int, readout steps ``T``
    dead_time : int, blind steps ``δ`` after each spike
    theta_sd : float, threshold noise ``σ_θ`` (thresholds), drawn per spike
    seed : int >= 0, seed of the random phase and the threshold noise
    backend : ``"numba"`` (compiled kernel) or ``"numpy"`` (slow reference); the
        two give identical bytes
    threads : numba threads for this call (``None``: numba's current setting); the
        result does not depend on it
    reset : ``"subtract"`` (physics.md §4) or ``"zero"``
    readout_hz : float, recorded in the stream

    Returns
    -------
    SpikeStream, ``(T, H, W)``, packed in the ``.dat`` layout.
    """
    if backend not in settings.SENSOR_BACKENDS:
        raise InputError("backend", backend, "one of " + ", ".join(settings.SENSOR_BACKENDS),
                         "pick 'numba' (fast) or 'numpy' (reference)")
    lam, steps, dead_time, theta_sd, seed, reset = _validate(charge, steps, dead_time,
                                                              theta_sd, seed, reset)
    _, h, w = lam.shape
    if backend == "numpy":
        dense = simulate_reference(lam, steps, dead_time, theta_sd, seed, reset)
        packed = np.packbits(dense[:, ::-1, :].reshape(steps, h * w), axis=1,
                             bitorder="little")
        return SpikeStream(packed, h, w, readout_hz)
    with numba_threads(threads):
        packed = simulate_packed(lam, steps, dead_time=dead_time, theta_sd=theta_sd,
                                 seed=seed, reset=reset)
    return SpikeStream(packed, h, w, readout_hz)


class numba_threads:
    """Context manager: run numba parallel code with ``threads`` threads (None: as is)."""

    def __init__(self, threads: int | None):
        import numba

        self.numba = numba
        self.threads = None
        if threads is not None:
            limit = numba.config.NUMBA_NUM_THREADS
            self.threads = _check_int(threads, "threads", 1, limit)

    def __enter__(self):
        self.previous = self.numba.get_num_threads()
        if self.threads is not None:
            self.numba.set_num_threads(self.threads)
        return self

    def __exit__(self, *exc):
        self.numba.set_num_threads(self.previous)
        return False
