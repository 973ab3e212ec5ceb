"""Configuration files: YAML loaded into validated dataclasses.

Every field carries its unit and allowed range in ``metadata``; loading checks the
type and the range of every value and rejects unknown keys with the nearest valid
key as a suggestion. Errors are :class:`~spikesim.errors.ConfigError` naming the
key path (``camera.gain_sd``), the value and what is allowed. Files are read by
:mod:`spikesim.yamlio` (safe, strict: UTF-8, no duplicate keys, no alias bombs).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError


def spec(default, unit: str = "", low=None, high=None, choices=None, doc: str = "",
         low_open: bool = False):
    """A dataclass field with its unit, its allowed range or choices and a doc line."""
    meta = {"unit": unit, "low": low, "high": high, "choices": choices, "doc": doc,
            "low_open": low_open}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return field(default=default, metadata=meta)


def _allowed(meta) -> str:
    if meta.get("choices"):
        return "one of " + ", ".join(map(str, meta["choices"]))
    low, high = meta.get("low"), meta.get("high")
    lo_br = "(" if meta.get("low_open") else "["
    if low is not None and high is not None:
        text = f"a number in {lo_br}{low}, {high}]"
    elif low is not None:
        text = f"a number {'>' if meta.get('low_open') else '>='} {low}"
    elif high is not None:
        text = f"a number <= {high}"
    else:
        text = "a value"
    unit = meta.get("unit")
    return text + (f" ({unit})" if unit else "")


def _check_number(value, meta, where, kind):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(where, value, _allowed(meta) if kind is float else "an integer",
                          "write a plain number")
    if kind is int and not float(value).is_integer():
        raise ConfigError(where, value, "an integer", "drop the fractional part")
    value = kind(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(where, value, _allowed(meta), "use a finite number")
    low, high = meta.get("low"), meta.get("high")
    if low is not None and (value < low or (meta.get("low_open") and value == low)):
        raise ConfigError(where, value, _allowed(meta), f"use a value within the range")
    if high is not None and value > high:
        raise ConfigError(where, value, _allowed(meta), f"use a value within the range")
    return value


def _convert(value, tp, meta, where):
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return from_mapping(tp, value, where)
    if origin is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _convert(value, args[0], meta, where)
    if origin in (list, tuple):
        (item_tp, *_) = typing.get_args(tp) or (object,)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(where, value, f"a list of {_allowed(meta)}", "write a YAML list [a, b]")
        items = [_convert(v, item_tp, meta, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is float:
        return _check_number(value, meta, where, float)
    if tp is int:
        return _check_number(value, meta, where, int)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(where, value, "true or false", "write true or false")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(where, value, _allowed(meta) if meta.get("choices") else "a string",
                              "quote the value")
        if meta.get("choices") and value not in meta["choices"]:
            near = difflib.get_close_matches(value, list(meta["choices"]), n=1)
            raise ConfigError(where, value, _allowed(meta),
                              f"did you mean {near[0]!r}?" if near else "pick one of them")
        return value
    return value


def from_mapping(cls, mapping, where: str = ""):
    """Build dataclass ``cls`` from a plain mapping, validating every key and value.

    ``where`` is the key path of ``mapping`` in the file, used in error messages.
    """
    label = where or cls.__name__
    if mapping is None:
        mapping = {}
    if isinstance(mapping, cls):
        return mapping
    if not isinstance(mapping, dict):
        raise ConfigError(label, mapping, f"a mapping of {cls.__name__} keys",
                          "write key: value pairs")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in mapping.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in fields:
            near = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f"did you mean {near[0]!r}?" if near else "remove it"
            raise ConfigError(path, "an unknown key", "one of " + ", ".join(fields), hint)
        kwargs[key] = _convert(value, hints[key], dict(fields[key].metadata), path)
    obj = cls(**kwargs)
    check = getattr(obj, "validate", None)
    if check is not None:
        check(label)
    return obj


def to_mapping(obj) -> dict:
    """A dataclass as plain YAML-safe data (tuples become lists)."""
    def plain(v):
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v

    return plain(obj)


def read_yaml_mapping(source, where: str = "config") -> dict:
    """A plain mapping from a YAML file path or a mapping (copied).

    Files are read by :func:`spikesim.yamlio.read_yaml_mapping_file`: a missing file,
    bytes that are not UTF-8, a syntax error, a duplicate key, an alias bomb or a
    document that is not a mapping is a :class:`ConfigError` naming the file.
    """
    from .yamlio import read_yaml_mapping_file

    if isinstance(source, dict):
        return dict(source)
    return read_yaml_mapping_file(source, where)


def load_yaml_config(source, cls, where: str = ""):
    """Load ``cls`` from a YAML file path or a mapping, validating every key and value."""
    if dataclasses.is_dataclass(source):
        return from_mapping(cls, source, where)
    return from_mapping(cls, read_yaml_mapping(source, where or "config"), where)


def describe(cls) -> list[dict]:
    """Rows of (key, default, unit, allowed, doc) for documentation tables."""
    rows = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        rows.append({"key": f.name, "default": default, "unit": f.metadata.get("unit", ""),
                     "allowed": _allowed(f.metadata), "doc": f.metadata.get("doc", "")})
    return rows


@dataclass(frozen=True)
class CameraProfile:
    """A spike camera (physics.md §4, §4b). Defaults are the reference camera.

    A camera is one profile plus one ``fpn_seed``: the fixed-pattern maps are drawn
    from the profile's distributions with that seed (:func:`spikesim.fpn.draw_fixed_pattern`),
    or read from a calibration file when ``maps`` names one (``--camera-maps``).

    The relative gain is ``1 + column + row + shading + pixel`` (the ``gain_*_sd`` keys;
    ``gain_sd`` is the spatially white pixel part), the dark offset
    ``dark_median * exp(column + row + shading + pixel)`` (the ``dark_*_sd`` keys, log
    s.d.; ``dark_log_sd`` the pixel part); a white-noise camera has the column, row and
    shading parts at 0.
    """

    name: str = spec("reference-400x250", doc="profile name")
    width: int = spec(400, "px", 8, 8192, doc="frame width W (W*H must be a multiple of 8)")
    height: int = spec(250, "px", 1, 8192, doc="frame height H")
    readout_hz: float = spec(20_000.0, "Hz", 0.0, None, low_open=True,
                             doc="readout steps per second")
    k: float = spec(1.0 / 1700.0, "thresholds / (lux step)", 0.0, None, low_open=True,
                    doc="responsivity: charge per step per lux, in thresholds")
    gain_column_sd: float = spec(0.041, "", 0.0, 0.2,
                                 doc="s.d. of the gain's column part (one value per column)")
    gain_row_sd: float = spec(0.026, "", 0.0, 0.2,
                              doc="s.d. of the gain's row part (one value per row)")
    gain_shading_sd: float = spec(0.008, "", 0.0, 0.2,
                                  doc="s.d. of the gain's smooth shading part")
    gain_sd: float = spec(0.026, "", 0.0, 0.5,
                          doc="s.d. of the gain's pixel part (spatially white, mean 1)")
    dark_median: float = spec(7.7, "lux", 0.0, None, doc="median dark offset L_d")
    dark_column_sd: float = spec(0.0, "", 0.0, 3.0,
                                 doc="log-s.d. of the dark offset's column part")
    dark_row_sd: float = spec(0.0, "", 0.0, 3.0, doc="log-s.d. of the dark offset's row part")
    dark_shading_sd: float = spec(0.0, "", 0.0, 3.0,
                                  doc="log-s.d. of the dark offset's smooth shading part")
    dark_log_sd: float = spec(0.42, "", 0.0, 3.0,
                              doc="log-s.d. of the dark offset's pixel part (spatially white)")
    shading_scale: float = spec(16.0, "px", 0.0, 512.0, low_open=True,
                                doc="size of the smooth shading: s.d. of the Gaussian that "
                                    "smooths white noise into it")
    hot_fraction: float = spec(0.0028, "", 0.0, 0.1,
                               doc="fraction of hot pixels (the dark offset's tail)")
    hot_low: float = spec(23.1, "lux", 0.0, None, doc="hot-pixel dark offset, lower bound")
    hot_high: float = spec(380.0, "lux", 0.0, None, doc="hot-pixel dark offset, upper bound")
    dead_fraction: float = spec(0.0001, "", 0.0, 0.1, doc="fraction of dead pixels (g = 0)")
    theta_sd: float = spec(0.01, "thresholds", 0.0, 0.5,
                           doc="threshold noise s.d., drawn per spike")
    dead_time: int = spec(1, "steps", 0, 16, doc="blind steps after each spike")
    pixel_pitch: float = spec(20e-6, "m", 0.0, None, low_open=True, doc="pixel pitch")
    maps: str = spec("", doc="a calibration file (spikecal fit) whose maps are this camera's "
                             "fixed pattern instead of drawn ones (written by --camera-maps)")
    maps_sha256: str = spec("", doc="sha256 of the maps file, checked when it is read")

    def validate(self, where: str = "camera") -> None:
        if (self.width * self.height) % 8:
            raise ConfigError(f"{where}.width", self.width,
                              "W*H a multiple of 8 (bit-packed frames)",
                              f"W*H = {self.width * self.height}; change width or height")
        if self.hot_high < self.hot_low:
            raise ConfigError(f"{where}.hot_high", self.hot_high,
                              f">= hot_low ({self.hot_low})", "swap the bounds")
        digest = self.maps_sha256
        if digest and (len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest)):
            raise ConfigError(f"{where}.maps_sha256", digest, "64 lowercase hex digits or ''",
                              "leave it out, or copy it from `sha256sum` of the maps file")
        if digest and not self.maps:
            raise ConfigError(f"{where}.maps_sha256", digest, "a digest only with maps",
                              "give maps: the calibration file, or drop maps_sha256")

    @property
    def size(self) -> tuple[int, int]:
        """``(W, H)``."""
        return (self.width, self.height)


@dataclass(frozen=True)
class Lens:
    """A thin lens focused at ``focus_distance`` (physics.md §2)."""

    focal_length: float = spec(0.025, "m", 0.0, None, low_open=True, doc="focal length f")
    f_number: float = spec(2.0, "", 0.0, None, low_open=True, doc="f-number N (A = f/N)")
    focus_distance: float = spec(1.5, "m", 0.0, None, low_open=True,
                                 doc="focus distance s_f (must exceed f)")
    sigma_floor: float = spec(0.5, "px", 0.0, 5.0,
                              doc="in-focus PSF s.d. (optics + pixel), added in quadrature")
    psf: str = spec("gaussian", choices=("gaussian", "disk"), doc="PSF shape")

    def validate(self, where: str = "lens") -> None:
        if self.focus_distance <= self.focal_length:
            raise ConfigError(f"{where}.focus_distance", self.focus_distance,
                              f"a distance beyond the focal length ({self.focal_length} m)",
                              "a thin lens cannot focus closer than f; increase it")

    @property
    def aperture(self) -> float:
        """Aperture diameter ``A = f / N`` in metres."""
        return self.focal_length / self.f_number
