"""Counter-based random numbers: the same draws from numpy and from numba kernels.

The sensor needs random numbers that depend only on *what* they are for, never on
the order in which a kernel happens to visit pixels: a draw is a pure function of
``(seed, stream, pixel, counter)``. Results are therefore identical whatever the
thread count, the block size or the chunking (physics.md §4), and the slow numpy
reference reproduces the compiled kernel bit for bit.

Construction
------------
- :func:`stream_key` folds a user seed (any integer >= 0) and a stream id (what the
  numbers are for, ``SENSOR_*`` in the table of seed purposes) into a 32-bit key with splitmix64
  (Steele, Lea & Flood 2014), in Python, once per call.
- :func:`pixel_key` mixes the key with the pixel index (two hash rounds).
- :func:`draw_bits` gives 32 random bits for event ``counter`` of a pixel: one round
  of the ``lowbias32`` integer hash (C. Wellons' "hash prospector"; a bijective
  xorshift-multiply mixer) of the Weyl sequence ``pkey + counter * 0x9E3779B9``
  (mod 2**32).
- :func:`bits_to_uniform`: float32 in ``[0, 1)`` from the top 24 bits.
- :func:`bits_to_normal`: float32 standard normal from the top 23 bits by an
  inverse-CDF approximation that needs only ``sqrt``, ``*``, ``+`` and comparisons
  (all correctly rounded in numpy and in LLVM, unlike ``log``/``cos`` whose last bit
  differs between libraries): with ``u = (m + 1/2) / 2**23`` and
  ``w = min(u, 1 - u)`` (exact), ``s = w**(1/8)`` (three square roots; Tukey's
  lambda transform) and ``z = -+P(a s + b)``, a degree-12 polynomial fitted
  offline (Chebyshev basis, iteratively reweighted least squares towards minimax)
  to the normal quantile; ``tests/test_sensor.py`` checks it against
  ``scipy.special.ndtri``. On the whole 2**23-point grid, evaluated in float32:
  max |z - Phi^-1(u)| = 3.0e-5, max CDF error 1.2e-5, mean exactly 0 (the grid and
  the arithmetic are mirror-symmetric), range +-5.29.

Seed purposes
-------------
Every random stream of the toolkit is derived from a user seed and a *purpose*, an
integer that says what the numbers are for, so two uses of one seed never share numbers.
The purposes are the one table below (``SENSOR_*`` ... ``POOL_EXAMPLE``), each with what
it seeds and how it is combined with the seed. Their values are part of the
reproducibility contract (same seeds, same files): never change one; a new use gets a new
name and value.

Arithmetic is 32-bit: numpy ``uint32`` arrays wrap modulo 2**32, and in numba the
integer steps are LLVM ``i32`` intrinsics (so they vectorise 16 lanes wide) behind
``overload``\\ s of the same public functions. Call the public functions with numpy
arrays (or scalars) from Python, and with scalars inside ``@njit`` code.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload, register_jitable

# --- seed purposes: what every derived random stream is for (one table) -------------
# Counter-based sensor streams, stream_key(seed, purpose) (spikesim.sensor):
SENSOR_PHASE = 1            # initial potential V ~ U(0, 1), one draw per pixel
SENSOR_THRESHOLD = 2        # per-spike threshold noise, event index = the pixel's spike count
# numpy generators, default_rng(SeedSequence([fpn_seed, purpose])) (spikesim.fpn):
FPN_MAPS = 3                # a camera's fixed-pattern maps (gain, dark, hot, dead)
FPN_STRUCTURE = 4           # a camera's structured components, one generator each:
#                             SeedSequence([fpn_seed, purpose, component]), component the
#                             index in spikesim.fpn.STRUCTURE_COMPONENTS
FPN_IMPORTED_HOT = 5        # dark offsets of the hot pixels of a camera read from a
#                             calibration file (spikesim.camera_maps)
# numpy generators, default_rng([seed, purpose]) (spikesim.capture):
RENDER_SCENE = 1            # spikesim render: the procedural scene (scene:KIND)
# derive_seed(seed, purpose, i) (spikesim.uniform):
UNIFORM_FIELD = 0x756E69    # "uni": the sensor seed of uniform field i (spikesim uniform)
# spikesim generate, SeedSequence(config.seed, spawn_key=(i, purpose)) of sample i
# (spikesim.dataset.draws):
SAMPLE_PARAMS = 0           # the sample's parameters: geometry, exposure, drawn camera
SAMPLE_SCENE = 1            # the scene: procedural scene, picture crop, DPDD flips
SAMPLE_SENSOR = 2           # the sample's sensor seed (phase, threshold noise)
SAMPLE_FPN = 3              # a drawn camera's fpn_seed (camera_mode: random)
SAMPLE_CAMERA_STRUCTURE = 4  # a drawn camera's structured components and dark spread
SAMPLE_BOKEH = 5            # photo_bokeh's draws: σ_max and the focus quantile
#                             (camera_ranges' keys added after the first seven)
# spikesim generate, one offset per run, SeedSequence(config.seed, spawn_key=(purpose,))
# (spikesim.dataset.shares):
DATASET_SOURCE_SHARE = 0x4D4958   # "MIX": which part of source: mixed sample i comes from
DATASET_LAYOUT_SHARE = 0x4C4159   # "LAY": which depth layout photograph sample i gets
DATASET_BOKEH_SHARE = 0x424F4B    # "BOK": whether photograph sample i keeps a photographic bokeh
# DeSpike training (restore.despike):
POOL_CAMERA = 0xCA4E7A      # camera i of the training pool:
#                             SeedSequence(generator seed, spawn_key=(i, purpose))
CALIBRATION_FIELD = 0x5EED_CA1B   # uniform field i calibrating a training camera:
#                             SeedSequence(seed, spawn_key=(fpn_seed mod 2**32, i, purpose))
PROCEDURAL_EXAMPLE = 0xA06  # crop, flips, short stream of on-the-fly example i:
#                             default_rng(SeedSequence([seed, i, purpose]))
DIRECTORY_EXAMPLE = 0xD1    # the same for example i read from a generated directory
POOL_EXAMPLE = 0xB001       # the same for example i drawn from the cached pool
CALIBRATION_WITHHELD = 0xCA1_0FF   # whether example i is shown without its calibration:
#                             default_rng(SeedSequence([seed, i, purpose]))


_MASK64 = (1 << 64) - 1
_C1 = 0x7FEB352D
_C2 = 0x846CA68B
_GOLDEN = 0x9E3779B9

_U32 = np.uint32
_INV_2_24 = np.float32(2.0 ** -24)
_INV_2_23 = np.float32(2.0 ** -23)
_HALF = np.float32(0.5)
_ONE = np.float32(1.0)
# z = P(A s + B) on the lower half, s = min(u, 1 - u) ** (1/8); power-basis
# coefficients of x**0 .. x**12 (see the module docstring).
_A = np.float32(2.5252397060394287)
_B = np.float32(-1.315654993057251)
_P = tuple(np.float32(c) for c in (
    -2.5472235679626465, 2.121466875076294, -0.09046059846878052, 0.33280301094055176,
    -0.0009483433677814901, 0.054676610976457596, -0.0767427459359169, 0.2072705626487732,
    0.16455642879009247, -0.19437620043754578, -0.1678195744752884, 0.12548193335533142,
    0.07128646224737167))
(_P0, _P1, _P2, _P3, _P4, _P5, _P6, _P7, _P8, _P9, _P10, _P11, _P12) = _P

# --- seeds (Python integers) ---------------------------------------------------------

def splitmix64(x: int) -> int:
    """The splitmix64 output function of a Python integer (mod 2**64)."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def stream_key(seed: int, stream: int) -> int:
    """A 32-bit key for ``(seed, stream)``; ``seed`` is any integer >= 0.

    Seeds wider than 64 bits are folded 64 bits at a time.
    """
    seed = int(seed)
    if seed < 0:
        raise ValueError("seed must be >= 0")
    h = splitmix64(int(stream) & _MASK64)
    while True:
        h = splitmix64(h ^ (seed & _MASK64))
        seed >>= 64
        if seed == 0:
            break
    return h >> 32


def derive_seed(seed: int, *labels: int) -> int:
    """A child seed (63 bits) of ``seed`` for integer ``labels`` (e.g. a field index)."""
    h = splitmix64(int(seed) & _MASK64)
    for label in labels:
        h = splitmix64(h ^ (int(label) & _MASK64))
    return h >> 1


# --- numpy implementations (uint32 arrays wrap modulo 2**32) -------------------------

def _u32(x):
    return np.asarray(x).astype(np.uint32, copy=False)


def mix32(x):
    """``lowbias32``: a bijective mixer of 32-bit values (uint32 in, uint32 out)."""
    x = _u32(x)
    with np.errstate(over="ignore"):
        x = x ^ (x >> _U32(16))
        x = x * _U32(_C1)
        x = x ^ (x >> _U32(15))
        x = x * _U32(_C2)
        x = x ^ (x >> _U32(16))
    return x


def pixel_key(key, pixel):
    """The per-pixel key (uint32) of a 32-bit stream key and a pixel index (< 2**32)."""
    key = _u32(key)
    return mix32(mix32(key ^ _u32(pixel)) ^ key)


def draw_bits(pkey, counter):
    """32 random bits (uint32) for event ``counter`` (< 2**32) of a pixel key."""
    with np.errstate(over="ignore"):
        return mix32(_u32(pkey) + _u32(counter) * _U32(_GOLDEN))


def bits_to_uniform(bits):
    """float32 uniform in ``[0, 1)`` from 32 random bits (the top 24 are used)."""
    return (_u32(bits) >> _U32(8)).astype(np.float32) * _INV_2_24


def bits_to_normal(bits):
    """float32 standard normal deviate from 32 random bits (the top 23 are used)."""
    return _normal_from_m23((_u32(bits) >> _U32(9)).astype(np.float32))


@register_jitable
def _normal_from_m23(m):
    """Normal quantile of ``u = (m + 1/2) / 2**23`` for float32 ``m`` in ``[0, 2**23)``."""
    u = (m + _HALF) * _INV_2_23
    lower = u < _HALF
    w = _where(lower, u, _ONE - u)
    x = np.sqrt(np.sqrt(np.sqrt(w))) * _A + _B
    p = _P12 * x + _P11
    p = p * x + _P10
    p = p * x + _P9
    p = p * x + _P8
    p = p * x + _P7
    p = p * x + _P6
    p = p * x + _P5
    p = p * x + _P4
    p = p * x + _P3
    p = p * x + _P2
    p = p * x + _P1
    p = p * x + _P0
    return _where(lower, p, -p)


def _where(cond, a, b):
    """``numpy.where`` for arrays; a conditional expression in compiled code."""
    return np.where(cond, a, b)


@overload(_where)
def _where_ov(cond, a, b):
    if isinstance(cond, types.Boolean):
        return lambda cond, a, b: a if cond else b


# --- numba: i32 intrinsics and overloads of the same functions ------------------------

def _i32(value):
    return ir.Constant(ir.IntType(32), value)


def _mix32_ir(builder, x):
    x = builder.xor(x, builder.lshr(x, _i32(16)))
    x = builder.mul(x, _i32(_C1))
    x = builder.xor(x, builder.lshr(x, _i32(15)))
    x = builder.mul(x, _i32(_C2))
    return builder.xor(x, builder.lshr(x, _i32(16)))


@intrinsic
def _mix32_i(typingctx, x):
    sig = types.uint32(types.uint32)

    def codegen(context, builder, signature, args):
        return _mix32_ir(builder, args[0])

    return sig, codegen


@intrinsic
def _draw_i(typingctx, pkey, counter):
    sig = types.uint32(types.uint32, types.uint32)

    def codegen(context, builder, signature, args):
        pk, n = args
        return _mix32_ir(builder, builder.add(pk, builder.mul(n, _i32(_GOLDEN))))

    return sig, codegen


@intrinsic
def _top_bits_f32(typingctx, x, shift):
    """float32 of ``x >> shift`` (uint32 x, literal shift)."""
    if not isinstance(shift, types.IntegerLiteral):
        return None
    sig = types.float32(types.uint32, shift)
    amount = shift.literal_value

    def codegen(context, builder, signature, args):
        v = builder.lshr(args[0], _i32(amount))
        return builder.uitofp(v, ir.FloatType())

    return sig, codegen


def _scalar(*args):
    return all(isinstance(a, (types.Integer, types.Float, types.Boolean)) for a in args)


@overload(mix32)
def _mix32_ov(x):
    if _scalar(x):
        return lambda x: _mix32_i(np.uint32(x))


@overload(pixel_key)
def _pixel_key_ov(key, pixel):
    if _scalar(key, pixel):
        def impl(key, pixel):
            k = np.uint32(key)
            return _mix32_i(_mix32_i(k ^ np.uint32(pixel)) ^ k)
        return impl


@overload(draw_bits)
def _draw_bits_ov(pkey, counter):
    if _scalar(pkey, counter):
        return lambda pkey, counter: _draw_i(np.uint32(pkey), np.uint32(counter))


@overload(bits_to_uniform)
def _uniform_ov(bits):
    if _scalar(bits):
        return lambda bits: _top_bits_f32(np.uint32(bits), 8) * _INV_2_24


@overload(bits_to_normal)
def _normal_ov(bits):
    if _scalar(bits):
        return lambda bits: _normal_from_m23(_top_bits_f32(np.uint32(bits), 9))


# --- conveniences --------------------------------------------------------------------

def pixel_keys(key: int, pixels) -> np.ndarray:
    """:func:`pixel_key` over an integer array of pixel indices -> uint32 array."""
    return pixel_key(_U32(key), pixels)


def uniforms(key: int, pixels, counters) -> np.ndarray:
    """float32 uniforms in ``[0, 1)`` for broadcast arrays of pixels and counters."""
    return bits_to_uniform(draw_bits(pixel_keys(key, pixels), counters))


def normals(key: int, pixels, counters) -> np.ndarray:
    """float32 standard normals for broadcast arrays of pixels and counters."""
    return bits_to_normal(draw_bits(pixel_keys(key, pixels), counters))
