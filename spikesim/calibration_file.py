"""The calibration file's layout and its one validated reader (formats.md "Calibration file").

``spikecal fit`` writes one ``.npz`` a camera; two places read it: the calibration
(:func:`calibration.calfile.load_calibration`, for correction and reports) and the
simulator (:mod:`spikesim.camera_maps`, ``--camera-maps``). Both go through
:func:`read_calibration_file`, and an in-memory :class:`calibration.calfile.Calibration`
through :func:`check_calibration`, so a file is judged the same way everywhere. The
module lives in ``spikesim`` because the simulator may not import ``calibration`` (data
flows one way).

What is checked, each failure one :class:`~spikesim.errors.InputError` naming the file
and the key:

- the container: an existing ``.npz`` of at most :data:`MAX_FILE_BYTES`, read once (its
  SHA-256 comes from the same bytes); every member a plain ``.npy`` whose header is read
  before its data (object arrays, pickled data and oversized shapes are never loaded);
- the maps (:data:`MAP_KEYS`): numeric, 2-D, one shape, finite after the cast to
  float32; physical: ``gain``, ``q``, ``gamma``, ``weight`` > 0, ``ratio`` and
  ``residual`` >= 0; ``defects`` whole numbers made of the bits of :data:`DEFECT_BITS`;
- ``meta``: one JSON object string, no NaN or infinity anywhere in it; ``format`` and
  ``format_version`` when present; ``resolution`` the maps' size; ``dead_time.value`` a
  finite number of steps in ``[0, MAX_DEAD_TIME]``; ``q_ref`` and ``operating_level``
  finite and > 0; ``levels`` finite numbers >= 0; the types of the keys the reports print.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError

MAP_KEYS = ("gain", "offset", "q", "gamma", "weight", "ratio", "defects", "residual")
FORMAT_NAME = "spikecal-calibration"
FORMAT_VERSION = 1
DEFECT_BITS = 1 | 2 | 4 | 8 | 16       # dead, hot, unstable, ill-conditioned, poor fit
MAX_DEAD_TIME = 16                     # steps: the simulator's largest dead time
MAX_FILE_BYTES = 4 * 2**30             # 8 float32 maps of 8192 x 8192 fit
MAX_META_CHARS = 16 * 2**20            # meta is a few kB
POSITIVE = ("gain", "q", "gamma", "weight")
NON_NEGATIVE = ("ratio", "residual")
SUMMARY_NUMBERS = ("prnu_pct", "dsnu", "offset_median", "defect_fraction_pct",
                   "noise_floor_pct_median", "gain_uncertainty_pct", "offset_uncertainty",
                   "residual_median")
SUMMARY_LISTS = ("noise_floor_pct", "mean_rates")
FIX = "use a calibration file written by `spikecal fit` (fit the camera again)"


@dataclass(frozen=True)
class CalibrationFile:
    """A calibration file read and checked.

    maps : {key: (H, W) array}, float32 (``defects`` uint8), for every key of MAP_KEYS
    meta : the ``meta`` JSON object
    sha256 : hex digest of the file's bytes
    """

    maps: dict
    meta: dict
    sha256: str

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)``."""
        return tuple(self.maps["gain"].shape)


def _bad(where: str, key: str, got: str, expected: str, fix: str = FIX) -> InputError:
    return InputError(where, f"key {key!r} {got}", expected, fix)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# --------------------------------------------------------------------------- the maps
def check_maps(maps: dict, where: str = "calibration") -> dict:
    """The maps of :data:`MAP_KEYS` checked and cast: float32 ``(H, W)``, ``defects`` uint8.

    ``where`` names the calibration in errors (``"calibration PATH"``).
    """
    shape = None
    out = {}
    for key in MAP_KEYS:
        if key not in maps:
            raise _bad(where, key, "missing", "the keys " + ", ".join(MAP_KEYS))
        a = np.asarray(maps[key])
        allowed = "biuf" if key == "defects" else "iuf"
        if a.dtype.kind not in allowed:
            raise _bad(where, key, f"of dtype {a.dtype}",
                       "integer bit flags" if key == "defects" else "a numeric map")
        if a.ndim != 2 or min(a.shape) < 1:
            raise _bad(where, key, f"of shape {a.shape}", "an (H, W) map")
        shape = shape or a.shape
        if a.shape != shape:
            raise _bad(where, key, f"of shape {a.shape}", f"the shape of gain, {shape}")
        out[key] = _defects(where, a) if key == "defects" else _float_map(where, key, a)
    return out


def _float_map(where: str, key: str, a: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        a = a.astype(np.float32, copy=False)
    if not np.isfinite(a).all():
        raise _bad(where, key, "with NaN or infinite values (or beyond float32)",
                   "finite values (defect pixels carry neutral values)")
    if key in POSITIVE and not (a > 0).all():
        raise _bad(where, key, f"with values <= 0 (min {float(a.min()):.4g})",
                   "values > 0: a pixel's gain, q, gamma and weight are positive")
    if key in NON_NEGATIVE and (a < 0).any():
        raise _bad(where, key, f"with negative values (min {float(a.min()):.4g})",
                   "values >= 0")
    return a


def _defects(where: str, a: np.ndarray) -> np.ndarray:
    if a.dtype.kind == "f":
        if not (np.isfinite(a) & (a == np.round(a))).all():
            raise _bad(where, "defects", "with values that are not whole numbers",
                       "uint8 bit flags")
    if (a < 0).any() or (a > 255).any():
        raise _bad(where, "defects", "with values outside 0..255", "uint8 bit flags")
    flags = a.astype(np.uint8)
    if (flags & ~np.uint8(DEFECT_BITS)).any():
        raise _bad(where, "defects", "with unknown bits",
                   "flags made of 1 dead, 2 hot, 4 unstable, 8 ill-conditioned, 16 poor fit")
    return flags


# --------------------------------------------------------------------------- meta
def check_meta(meta, shape, where: str = "calibration") -> dict:
    """``meta`` checked against the maps' ``(H, W)`` ``shape`` (module docstring)."""
    if not isinstance(meta, dict):
        raise _bad(where, "meta", f"holding {_short(meta)}", "a JSON object")
    _finite_everywhere(meta, where)
    if "format" in meta and meta["format"] != FORMAT_NAME:
        raise _bad(where, "meta", f"with format {meta['format']!r}", f"format {FORMAT_NAME!r}")
    version = meta.get("format_version", FORMAT_VERSION)
    if not (isinstance(version, int) and not isinstance(version, bool)
            and 1 <= version <= FORMAT_VERSION):
        raise _bad(where, "meta", f"with format_version {version!r}",
                   f"format_version 1..{FORMAT_VERSION}", "use a newer toolkit or fit again")
    res = meta.get("resolution")
    if not isinstance(res, dict) or (res.get("height"), res.get("width")) != tuple(shape):
        raise _bad(where, "meta", f"with resolution {res!r}",
                   f"the maps' {shape[1]}x{shape[0]}", "the file is inconsistent; fit again")
    dt = meta.get("dead_time")
    value = dt.get("value") if isinstance(dt, dict) else None
    if not (_is_number(value) and 0 <= value <= MAX_DEAD_TIME):
        raise _bad(where, "meta", f"with dead_time {dt!r}",
                   f"dead_time.value, a finite number of steps in [0, {MAX_DEAD_TIME}]")
    if not (isinstance(dt.get("source", ""), str)
            and (dt.get("sd") is None or _is_number(dt["sd"]) and dt["sd"] >= 0)):
        raise _bad(where, "meta", f"with dead_time {dt!r}",
                   "dead_time.source a text and dead_time.sd a number >= 0 or null")
    for key in ("q_ref", "operating_level"):
        if not (_is_number(meta.get(key)) and meta[key] > 0):
            raise _bad(where, "meta", f"with {key} {meta.get(key)!r}", f"{key}, a number > 0")
    levels = meta.get("levels")
    if not (isinstance(levels, list) and all(_is_number(v) and v >= 0 for v in levels)):
        raise _bad(where, "meta", f"with levels {levels!r}", "levels, a list of numbers >= 0")
    _check_printed_keys(meta, where)
    return meta


def _finite_everywhere(obj, where: str, depth: int = 0) -> None:
    """No NaN or infinity in ``meta`` (the file's promise), at any depth."""
    if depth > 32:
        raise _bad(where, "meta", "nested too deep", "a JSON object of ordinary depth")
    if isinstance(obj, float) and not math.isfinite(obj):
        raise _bad(where, "meta", f"holding {obj!r}", "finite numbers only (no NaN or inf)")
    if isinstance(obj, dict):
        for v in obj.values():
            _finite_everywhere(v, where, depth + 1)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _finite_everywhere(v, where, depth + 1)


def _check_printed_keys(meta: dict, where: str) -> None:
    """The types of what ``spikecal show`` prints (method, levels_auto, steps per field,
    assumptions, the summary figures)."""
    def need(ok: bool, key: str, value, expected: str):
        if not ok:
            raise _bad(where, "meta", f"with {key} {_short(value)}", expected)

    def whole(v, low: int) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= low

    need(isinstance(meta.get("method"), str), "method", meta.get("method"), "method, a text")
    for key, kind, expected in (("levels_auto", bool, "true or false"),
                                ("assumptions", str, "a text")):
        need(isinstance(meta.get(key, kind()), kind), key, meta.get(key), expected)
    steps = meta.get("steps_per_field")
    need(steps is None or isinstance(steps, list) and all(whole(v, 1) for v in steps),
         "steps_per_field", steps, "a list of whole numbers >= 1")
    summary = meta.get("summary", {})
    need(isinstance(summary, dict), "summary", summary, "a JSON object of figures")
    for key in SUMMARY_NUMBERS:
        v = summary.get(key)
        need(v is None or _is_number(v), f"summary.{key}", v, "a number or null")
    for key in SUMMARY_LISTS:
        v = summary.get(key, [])
        need(isinstance(v, list) and all(_is_number(x) for x in v), f"summary.{key}", v,
             "a list of numbers")
    counts = summary.get("defects", {})
    need(isinstance(counts, dict) and all(whole(v, 0) for v in counts.values()),
         "summary.defects", counts, "counts by reason (whole numbers >= 0)")


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_calibration(maps: dict, meta, where: str = "calibration") -> tuple[dict, dict]:
    """``(maps, meta)`` checked (:func:`check_maps`, :func:`check_meta`); what an in-memory
    calibration and a file must both satisfy."""
    maps = check_maps(maps, where)
    return maps, check_meta(meta, maps["gain"].shape, where)


# --------------------------------------------------------------------------- the file
def read_calibration_file(path, what: str = "calibration") -> CalibrationFile:
    """Read and check the calibration file ``path`` (module docstring), reading it once.

    ``what`` names it in errors (``"calibration"``, ``"camera maps"``).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(what, str(path), "an existing calibration .npz",
                         "run `spikecal fit` first or check the path")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InputError(what, f"{path} ({size} bytes)",
                         f"a calibration file of at most {MAX_FILE_BYTES // 2**30} GiB",
                         "give the calibration file of one camera")
    raw = path.read_bytes()
    where = f"{what} {path}"
    arrays = _read_members(raw, path, what, where)
    meta = _parse_meta(arrays.pop("meta"), where)
    maps, meta = check_calibration(arrays, meta, where)
    return CalibrationFile(maps=maps, meta=meta, sha256=hashlib.sha256(raw).hexdigest())


def _read_members(raw: bytes, path: Path, what: str, where: str) -> dict:
    """The arrays of :data:`MAP_KEYS` and ``meta``, each header checked before its data."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise InputError(what, str(path), "a calibration .npz (a numpy archive)",
                         "the file is not one; write it with `spikecal fit`") from None
    out = {}
    with archive:
        names = set(archive.namelist())
        missing = [k for k in MAP_KEYS + ("meta",) if f"{k}.npy" not in names]
        if missing:
            raise _bad(where, missing[0], "missing", "the keys " + ", ".join(MAP_KEYS)
                       + ", meta", "missing " + ", ".join(missing)
                       + "; write it with `spikecal fit`")
        for key in MAP_KEYS + ("meta",):
            out[key] = _read_member(archive, key, where)
    return out


def _read_member(archive: zipfile.ZipFile, key: str, where: str) -> np.ndarray:
    name = f"{key}.npy"
    plain = "a plain numeric array (pickled objects are never loaded)"
    try:
        with archive.open(name) as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                raise ValueError(f"npy version {version}")
        if dtype.hasobject:
            raise _bad(where, key, f"of dtype {dtype}", plain)
        count = math.prod(shape)
        limit = MAX_META_CHARS * 4 if key == "meta" else MAX_FILE_BYTES
        if count * max(dtype.itemsize, 1) > limit:
            raise _bad(where, key, f"of shape {shape} ({dtype})", "a map of one camera")
        with archive.open(name) as fh:
            return np.lib.format.read_array(fh, allow_pickle=False)
    except InputError:                  # an InputError is a ValueError too
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, NotImplementedError,
            RuntimeError, MemoryError, zlib.error) as exc:
        # damaged data, unsupported compression, encrypted members (RuntimeError)
        raise _bad(where, key, f"unreadable ({type(exc).__name__})", plain) from None


def _parse_meta(raw: np.ndarray, where: str) -> dict:
    if raw.dtype.kind not in "US" or raw.ndim != 0:
        raise _bad(where, "meta", f"of dtype {raw.dtype} and shape {raw.shape}",
                   "a JSON object string")
    text = raw.item()
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise _bad(where, "meta", "that is not UTF-8", "a JSON object string") from None

    def refuse(constant):
        raise ValueError(constant)

    try:
        meta = json.loads(text, parse_constant=refuse)
    except RecursionError:
        raise _bad(where, "meta", "nested too deep", "a JSON object of ordinary depth") \
            from None
    except ValueError as exc:           # JSONDecodeError, or NaN / Infinity
        raise _bad(where, "meta", f"that is not finite JSON ({str(exc)[:60]})",
                   "a JSON object with finite numbers") from None
    return meta
