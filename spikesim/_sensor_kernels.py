"""Integrate-and-fire: the pure step functions and the compiled kernel (private).

The step functions are the single source of the sensor's arithmetic. Each works
element-wise on numpy arrays (the reference backend, :mod:`spikesim.sensor`) and,
compiled inline by numba, on scalars inside the kernels (:func:`_simulate_packed`
with threshold noise, :func:`_simulate_packed_clean` without), so the two
backends perform the same float32 operations in the same order and agree bit for
bit. They use no ``min``/``max`` ufuncs (numba widens those to float64 on float32
scalars); :func:`select` is ``numpy.where`` for arrays and a conditional expression
in compiled code.

Conventions (physics.md §4): ``v`` potential and ``lam`` charge per step in
thresholds (float32), ``blind`` remaining dead-time steps (integer), ``theta`` the
current threshold, ``theta_next`` the threshold that follows a spike (float32),
``spike`` bool.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, types
from numba.extending import overload, register_jitable

from . import rng, settings

F32_ZERO = np.float32(0.0)
F32_ONE = np.float32(1.0)
MARGIN = np.float32(settings.SATURATION_MARGIN)
THETA_FLOOR = np.float32(settings.THETA_FLOOR)
I32_ZERO = np.int32(0)
I32_ONE = np.int32(1)
BLOCK_BYTES = settings.SENSOR_BLOCK_BYTES
FASTMATH = set(settings.SENSOR_FASTMATH)


def select(cond, a, b):
    """``a`` where ``cond`` else ``b`` (``numpy.where``; a branch in compiled code)."""
    return np.where(cond, a, b)


@overload(select)
def _select_scalar(cond, a, b):
    if isinstance(cond, types.Array):
        return None

    def impl(cond, a, b):
        return a if cond else b

    return impl


# --- the named steps of integrate-and-fire -------------------------------------

@register_jitable
def charge(v, lam, active):
    """Charge: ``V + λ`` where the pixel integrates; unchanged while blind."""
    return v + select(active, lam, F32_ZERO)


@register_jitable
def fire(v, theta, active):
    """Fire: a spike where an integrating pixel reached its threshold (``V >= θ``)."""
    return active & (v >= theta)


@register_jitable
def reset_subtract(v, theta, theta_next, spike):
    """Reset by subtraction: ``V - θ`` after a spike, the residual kept.

    Saturation: at most one threshold is carried past a spike, ``V`` is capped at
    ``θ_next - SATURATION_MARGIN`` (strictly below the next threshold), charge
    beyond that is lost.
    """
    after = v - theta
    cap = theta_next - MARGIN
    after = select(after < cap, after, cap)
    return select(spike, after, v)


@register_jitable
def reset_zero(v, theta, theta_next, spike):
    """Reset to zero: the residual charge is discarded after a spike."""
    return select(spike, F32_ZERO, v)


@register_jitable
def refractory(blind, spike, dead_time):
    """Dead time: a spike makes the pixel blind for ``dead_time`` steps.

    A spike only happens where ``blind == 0``, so the count-down and the new dead
    time never overlap.
    """
    left = blind - I32_ONE
    left = select(left > I32_ZERO, left, I32_ZERO)
    return left + select(spike, dead_time, I32_ZERO)


@register_jitable
def if_step(v, blind, lam, theta, theta_next, dead_time, zero_reset):
    """One readout step of integrate-and-fire: charge, fire, reset, dead time.

    Returns ``(v, blind, spike)``. ``zero_reset`` picks :func:`reset_zero` instead
    of :func:`reset_subtract`.
    """
    active = blind == I32_ZERO
    v = charge(v, lam, active)
    spike = fire(v, theta, active)
    if zero_reset:
        v = reset_zero(v, theta, theta_next, spike)
    else:
        v = reset_subtract(v, theta, theta_next, spike)
    blind = refractory(blind, spike, dead_time)
    return v, blind, spike


@register_jitable
def threshold_from_normal(z, theta_sd):
    """``θ = 1 + σ_θ z`` (float32), never below ``THETA_FLOOR``."""
    theta = F32_ONE + theta_sd * z
    return select(theta > THETA_FLOOR, theta, THETA_FLOOR)


@register_jitable
def initial_potential(u, theta0):
    """Random phase: ``V0 = u θ0`` with ``u ~ U(0, 1)``, kept strictly below ``θ0``."""
    v0 = u * theta0
    cap = theta0 - MARGIN
    return select(v0 < cap, v0, cap)


# --- the compiled kernel ---------------------------------------------------------

@register_jitable
def _clean_pass(v, blind, lam, dt, zero_reset, acc):
    """One noise-free step of a block (θ = 1); spikes OR-ed into ``acc`` bit ``i``."""
    bb = acc.shape[0]
    for i in range(8):
        for b in range(bb):
            vv, bl, spike = if_step(v[i, b], blind[i, b], lam[i, b], F32_ONE, F32_ONE, dt,
                                    zero_reset)
            v[i, b] = vv
            blind[i, b] = bl
            acc[b] |= np.int32(spike) << i


@register_jitable
def _noisy_pass(v, blind, theta, theta_next, count, lam, dt, zero_reset, acc):
    """One step of a block with per-spike threshold noise (``theta_next`` drawn beforehand
    by :func:`_simulate_packed`); branch-free, so the loop vectorises."""
    bb = acc.shape[0]
    for i in range(8):
        for b in range(bb):
            th = theta[i, b]
            th_next = theta_next[i, b]
            vv, bl, spike = if_step(v[i, b], blind[i, b], lam[i, b], th, th_next, dt,
                                    zero_reset)
            v[i, b] = vv
            blind[i, b] = bl
            theta[i, b] = select(spike, th_next, th)
            count[i, b] = count[i, b] + np.uint32(spike)
            acc[b] |= np.int32(spike) << i


@njit(cache=settings.NUMBA_CACHE, parallel=True, fastmath=FASTMATH)
def _simulate_packed(lanes, f0, w0, w1, nbytes, dead_time, zero_reset, theta_sd,
                     phase_key, threshold_key, out):
    """Simulate all steps of every pixel block with per-spike threshold noise and write
    packed frames into ``out`` (the noise-free case is :func:`_simulate_packed_clean`).

    lanes : (F, nblocks, 8, B) float32, charge per step of key frame ``f`` for the
        pixel of packed bit index ``8 * (blk * B + b) + i`` at ``[f, blk, i, b]``
        (zero in the padding past the last byte).
    f0, w0, w1 : (T,) int64, float32, float32: step ``t`` integrates
        ``w0[t] * lanes[f0[t]] + w1[t] * lanes[f0[t] + 1]`` (``F == 1``: ``lanes[0]``).
    nbytes : bytes per frame (``H * W // 8``)
    phase_key, threshold_key : uint32 stream keys (:func:`spikesim.rng.stream_key`)
    out : (T, nbytes) uint8, the ``.dat`` layout; fully overwritten.

    Each block of ``B`` output bytes (8 B pixels) runs over all steps with its state
    in small local arrays; the loops over ``b`` are branch-free so they vectorise.
    The next threshold of every pixel is drawn every ``δ + 1`` steps, whether or not
    it fired (cheaper than a branch per spike once vectorised): the draw is keyed by
    pixel and event index, so redrawing it for a pixel that has not fired gives the
    same value, and a pixel that fires is blind for ``δ`` steps, so its next threshold
    is ready before it can fire again. Blocks
    are independent and all randomness is keyed by pixel and event index, so the
    result does not depend on the thread count.
    """
    nframes, nblocks = lanes.shape[0], lanes.shape[1]
    steps = out.shape[0]
    dt = np.int32(dead_time)
    sd = np.float32(theta_sd)
    bb = BLOCK_BYTES
    for blk in prange(nblocks):
        b0 = blk * bb
        nb = min(bb, nbytes - b0)
        v = np.empty((8, BLOCK_BYTES), dtype=np.float32)
        blind = np.zeros((8, BLOCK_BYTES), dtype=np.int32)
        theta = np.ones((8, BLOCK_BYTES), dtype=np.float32)
        theta_next = np.ones((8, BLOCK_BYTES), dtype=np.float32)
        count = np.zeros((8, BLOCK_BYTES), dtype=np.uint32)
        tkey = np.zeros((8, BLOCK_BYTES), dtype=np.uint32)
        lam = np.empty((8, BLOCK_BYTES), dtype=np.float32)
        acc = np.zeros(BLOCK_BYTES, dtype=np.int32)
        for i in range(8):
            for b in range(bb):
                pix = np.uint32(8 * (b0 + b) + i)
                tk = rng.pixel_key(threshold_key, pix)
                tkey[i, b] = tk
                z = rng.bits_to_normal(rng.draw_bits(tk, np.uint32(0)))
                theta[i, b] = threshold_from_normal(z, sd)
                u = rng.bits_to_uniform(rng.draw_bits(rng.pixel_key(phase_key, pix),
                                                      np.uint32(0)))
                v[i, b] = initial_potential(u, theta[i, b])
                lam[i, b] = lanes[0, blk, i, b]
        full = nb == BLOCK_BYTES
        for t in range(steps):
            if nframes > 1:
                fa = f0[t]
                wa = w0[t]
                wb = w1[t]
                for i in range(8):
                    for b in range(bb):
                        lam[i, b] = wa * lanes[fa, blk, i, b] + wb * lanes[fa + 1, blk, i, b]
            if t % (dt + 1) == 0:          # θ of event count + 1 (see the docstring)
                for i in range(8):
                    for b in range(BLOCK_BYTES):
                        z = rng.bits_to_normal(rng.draw_bits(tkey[i, b],
                                                             count[i, b] + np.uint32(1)))
                        theta_next[i, b] = threshold_from_normal(z, sd)
            # literal reset modes so that the branch in if_step folds away; a full
            # block in the byte-outer order of _simulate_packed_clean (see there)
            if full:
                orow = out[t]
                if zero_reset:
                    for b in range(BLOCK_BYTES):
                        byte = np.int32(0)
                        for i in range(8):
                            th = theta[i, b]
                            thn = theta_next[i, b]
                            vv, bl, spike = if_step(v[i, b], blind[i, b], lam[i, b], th, thn,
                                                    dt, True)
                            v[i, b] = vv
                            blind[i, b] = bl
                            theta[i, b] = select(spike, thn, th)
                            count[i, b] = count[i, b] + np.uint32(spike)
                            byte |= np.int32(spike) << i
                        orow[np.uint64(b0 + b)] = np.uint8(byte)
                else:
                    for b in range(BLOCK_BYTES):
                        byte = np.int32(0)
                        for i in range(8):
                            th = theta[i, b]
                            thn = theta_next[i, b]
                            vv, bl, spike = if_step(v[i, b], blind[i, b], lam[i, b], th, thn,
                                                    dt, False)
                            v[i, b] = vv
                            blind[i, b] = bl
                            theta[i, b] = select(spike, thn, th)
                            count[i, b] = count[i, b] + np.uint32(spike)
                            byte |= np.int32(spike) << i
                        orow[np.uint64(b0 + b)] = np.uint8(byte)
            else:
                for b in range(bb):
                    acc[b] = 0
                if zero_reset:
                    _noisy_pass(v, blind, theta, theta_next, count, lam, dt, True, acc)
                else:
                    _noisy_pass(v, blind, theta, theta_next, count, lam, dt, False, acc)
                for b in range(nb):
                    out[t, b0 + b] = np.uint8(acc[b])


@njit(cache=settings.NUMBA_CACHE, parallel=True, fastmath=FASTMATH)
def _simulate_packed_clean(lanes, f0, w0, w1, nbytes, dead_time, zero_reset, phase_key, out):
    """The noise-free kernel (θ = 1 for every spike): the arguments of
    :func:`_simulate_packed` without the noise parameters.

    Loop order in a full block: bytes outer, the 8 bits of a byte inner, so that the
    bit loop unrolls, the byte loop vectorises (16 bytes per AVX-512 iteration) and
    each byte is assembled in a register and stored once, straight into the frame;
    about 2.5x faster than the bit-plane order of :func:`_clean_pass` (which the
    last, partial block still uses). What makes LLVM vectorise it (measured; each
    one alone drops the speed 20-50x): the state arrays have the compile-time shape
    ``(8, BLOCK_BYTES)`` (with a runtime row length LLVM cannot prove that rows do
    not overlap), the loops are written inline (not in a helper, whose argument
    shapes are unknown when it is vectorised) and the store index is unsigned (no
    negative-index wrap-around, so the byte stores are contiguous). Measured on the
    benchmark (Zen 4, AVX-512), dropping any one of these costs 2x to 50x.
    A ``raise`` anywhere in this function also stops the vectorisation (measured:
    25x slower), so the kernel does not check its arguments: ``lanes`` must have
    ``B == BLOCK_BYTES``, as :func:`spikesim.sensor.simulate_packed` builds it.
    """
    nframes, nblocks = lanes.shape[0], lanes.shape[1]
    steps = out.shape[0]
    dt = np.int32(dead_time)
    bb = BLOCK_BYTES
    for blk in prange(nblocks):
        b0 = blk * bb
        nb = min(bb, nbytes - b0)
        v = np.empty((8, BLOCK_BYTES), dtype=np.float32)
        blind = np.zeros((8, BLOCK_BYTES), dtype=np.int32)
        lam = np.empty((8, BLOCK_BYTES), dtype=np.float32)
        acc = np.zeros(BLOCK_BYTES, dtype=np.int32)
        for i in range(8):
            for b in range(bb):
                pix = np.uint32(8 * (b0 + b) + i)
                u = rng.bits_to_uniform(rng.draw_bits(rng.pixel_key(phase_key, pix),
                                                      np.uint32(0)))
                v[i, b] = initial_potential(u, F32_ONE)
                lam[i, b] = lanes[0, blk, i, b]
        full = nb == BLOCK_BYTES
        for t in range(steps):
            if nframes > 1:
                fa = f0[t]
                wa = w0[t]
                wb = w1[t]
                for i in range(8):
                    for b in range(bb):
                        lam[i, b] = wa * lanes[fa, blk, i, b] + wb * lanes[fa + 1, blk, i, b]
            # literal reset modes so that the branch in if_step folds away
            if full:
                orow = out[t]                 # bytes outer, bits inner, byte in a register
                if zero_reset:
                    for b in range(BLOCK_BYTES):
                        byte = np.int32(0)
                        for i in range(8):
                            vv, bl, spike = if_step(v[i, b], blind[i, b], lam[i, b], F32_ONE,
                                                    F32_ONE, dt, True)
                            v[i, b] = vv
                            blind[i, b] = bl
                            byte |= np.int32(spike) << i
                        orow[np.uint64(b0 + b)] = np.uint8(byte)
                else:
                    for b in range(BLOCK_BYTES):
                        byte = np.int32(0)
                        for i in range(8):
                            vv, bl, spike = if_step(v[i, b], blind[i, b], lam[i, b], F32_ONE,
                                                    F32_ONE, dt, False)
                            v[i, b] = vv
                            blind[i, b] = bl
                            byte |= np.int32(spike) << i
                        orow[np.uint64(b0 + b)] = np.uint8(byte)
            else:
                for b in range(bb):
                    acc[b] = 0
                if zero_reset:
                    _clean_pass(v, blind, lam, dt, True, acc)
                else:
                    _clean_pass(v, blind, lam, dt, False, acc)
                for b in range(nb):
                    out[t, b0 + b] = np.uint8(acc[b])
