"""The calibration file (formats.md "Calibration file"): one ``.npz`` per camera.

Keys (upright ``(H, W)`` maps, float32 unless said):

==========  ===================================================================
``gain``     relative gain ``f_test`` (Eq. 11), median 1 over good pixels; > 1 is a
             more sensitive pixel
``offset``   ``f_o1`` = ``L_d``: dark-equivalent level, in the unit of the levels
``q``        ``D * (L + L_d)`` of Eq. 11 (level-units x steps); ``1/q`` is charge per
             step per level unit
``gamma``    Eq. 12 at the operating level: acts on the *interval* (``D_p = gamma * I``)
``weight``   the Eq. 14 spike weight at the operating level: acts on the *rate*
``ratio``    Eq. 13 from one field (``R_ref / R_p``)
``defects``  uint8 bit flags: 1 dead, 2 hot, 4 unstable, 8 ill-conditioned, 16 poor fit
``residual`` the fit's residual map (lsq: RMS residual in units of the temporal noise;
             zero for the other methods)
``meta``     a JSON string: resolution, levels, steps, method, operating level, dead
             time, reference, summary figures, toolkit version
==========  ===================================================================

Defect pixels carry neutral values (gain 1, gamma 1, weight 1, ratio 1, the median
offset, ``q = q_ref``); nothing in the file is NaN or infinite. Files and in-memory
calibrations are checked by one validated reader, :mod:`spikesim.calibration_file`
(shared with ``--camera-maps``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spikesim.calibration_file import (FORMAT_NAME, FORMAT_VERSION, MAP_KEYS,
                                       check_calibration, read_calibration_file)
from spikesim.errors import InputError

from . import settings

__all__ = ["Calibration", "load_calibration", "MAP_KEYS", "FORMAT_NAME", "FORMAT_VERSION"]


@dataclass
class Calibration:
    """A camera's fixed-pattern-noise calibration (all maps upright ``(H, W)``).

    See the module docstring for the meaning and units of every map. ``meta`` holds
    at least ``resolution``, ``method``, ``dead_time`` (``{"value", "source"}``),
    ``operating_level``, ``q_ref`` and ``levels``.
    """

    gain: np.ndarray
    offset: np.ndarray
    q: np.ndarray
    gamma: np.ndarray
    weight: np.ndarray
    ratio: np.ndarray
    defects: np.ndarray
    residual: np.ndarray
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        """Every map and ``meta`` checked as a file is (:mod:`spikesim.calibration_file`):
        one shape, finite, physical values; maps cast to float32 (``defects`` uint8)."""
        maps = {key: getattr(self, key) for key in MAP_KEYS}
        gain = np.asarray(self.gain)
        meta = dict(self.meta)
        if gain.ndim == 2:
            meta.setdefault("resolution", {"width": gain.shape[1], "height": gain.shape[0]})
        maps, self.meta = check_calibration(maps, meta)
        for key, arr in maps.items():
            setattr(self, key, arr)

    # -- properties ----------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)``."""
        return self.gain.shape

    @property
    def height(self) -> int:
        return self.gain.shape[0]

    @property
    def width(self) -> int:
        return self.gain.shape[1]

    @property
    def dead_time(self) -> float:
        """The calibrated (estimated or assumed) dead time, in steps."""
        return float(self.meta["dead_time"]["value"])

    @property
    def q_ref(self) -> float:
        """``q`` of the reference (ideal) pixel: level-units x steps per threshold."""
        return float(self.meta["q_ref"])

    @property
    def operating_level(self) -> float:
        """The level at which ``gamma`` and ``weight`` are exact, in the unit of the levels."""
        return float(self.meta["operating_level"])

    @property
    def measured(self) -> bool:
        """False for :meth:`identity` (every pixel assumed ideal, nothing measured)."""
        return self.meta.get("method") != "identity"

    @property
    def good(self) -> np.ndarray:
        """(H, W) bool, pixels with no defect flag."""
        return self.defects == 0

    # -- constructors --------------------------------------------------------------
    @classmethod
    def identity(cls, height: int, width: int, dead_time: float = settings.DEFAULT_DEAD_TIME,
                 q_ref: float = 1.0) -> "Calibration":
        """An uncalibrated camera: every pixel ideal, weights 1, no offset, no defect.

        With ``q_ref = 1`` the full inverse returns the charge per step ``lambda``.
        """
        height, width = int(height), int(width)
        if height < 1 or width < 1:
            raise InputError("size", f"{width}x{height}", "a positive resolution",
                             "give the stream's height and width")
        ones = np.ones((height, width), np.float32)
        meta = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "method": "identity",
                "resolution": {"width": width, "height": height}, "levels": [],
                "dead_time": {"value": float(dead_time), "source": "assumed"},
                "operating_level": 1.0, "q_ref": float(q_ref),
                "reference": {"kind": "identity"}, "summary": {}}
        return cls(gain=ones, offset=np.zeros_like(ones), q=ones * np.float32(q_ref),
                   gamma=ones.copy(), weight=ones.copy(), ratio=ones.copy(),
                   defects=np.zeros((height, width), np.uint8),
                   residual=np.zeros_like(ones), meta=meta)

    @classmethod
    def from_truth(cls, truth, operating_level: float | None = None) -> "Calibration":
        """The calibration of a simulated camera built from its TRUE maps (no fit).

        ``truth`` holds the keys of a ``truth.npz`` / ``camera.npz``
        (:func:`spikesim.fpn.truth_arrays`, ``Camera.truth_arrays()``): ``gain``, ``dark``
        (lux), ``hot``, ``dead``, ``k`` (thresholds per lux per step), ``dead_time``
        (steps). The ideal pixel has gain 1 and no dark offset: ``q_p = 1/(k g_p)``,
        ``q_ref = 1/k``, ``offset = L_d``; dead pixels carry gain 1 and the median dark
        offset and flag 1, hot pixels keep their true offset and flag 2. ``gamma`` and
        ``weight`` (and ``ratio``, equal to ``weight``) are Eq. 12 / Eq. 14 at
        ``operating_level`` lux (default ``settings.TRUTH_OPERATING_LEVEL``) by
        :func:`calibration.operating.operating_maps`, as ``spikecal fit`` computes them;
        the full inverse does not depend on the operating level.
        """
        from .operating import operating_maps

        gain = np.asarray(truth["gain"], dtype=np.float64)
        dark = np.asarray(truth["dark"], dtype=np.float64)
        dead = np.asarray(truth["dead"], dtype=bool) | (gain <= 0)
        hot = np.asarray(truth["hot"], dtype=bool)
        k = float(truth["k"])
        delta = float(truth["dead_time"])
        level = float(operating_level or settings.TRUTH_OPERATING_LEVEL)
        g = np.where(dead, 1.0, gain)
        off = np.where(dead, float(np.median(dark[~dead])) if (~dead).any() else 0.0, dark)
        q = 1.0 / (k * g)
        gamma, weight = operating_maps(q, off, 1.0 / k, level, delta)
        defects = (dead.astype(np.uint8) * settings.DEFECT_DEAD) | \
            (hot.astype(np.uint8) * settings.DEFECT_HOT)
        meta = {"method": "oracle-truth", "levels": [], "operating_level": level,
                "q_ref": 1.0 / k, "dead_time": {"value": delta, "source": "truth"},
                "reference": {"kind": "ideal pixel (gain 1, no dark offset)"}, "summary": {}}
        return cls(gain=g, offset=off, q=q, gamma=gamma, weight=weight, ratio=weight,
                   defects=defects, residual=np.zeros_like(g), meta=meta)

    # -- I/O -----------------------------------------------------------------------
    def save(self, path, overwrite: bool = False) -> Path:
        """Write the ``.npz`` atomically (refused when it exists, unless ``overwrite``)."""
        from spikesim.atomic import check_writable, save_npz

        check_writable(path, overwrite, "output")
        arrays = {k: getattr(self, k) for k in MAP_KEYS}
        meta = dict(self.meta)
        meta.setdefault("format", FORMAT_NAME)
        meta.setdefault("format_version", FORMAT_VERSION)
        return save_npz(path, overwrite=True, compressed=False,
                        meta=np.array(json.dumps(meta, sort_keys=True, allow_nan=False)),
                        **arrays)

    def check_resolution(self, height: int, width: int, what: str = "stream") -> None:
        """Raise :class:`InputError` when a ``height x width`` stream does not match."""
        if (int(height), int(width)) != self.shape:
            raise InputError(
                "calibration", f"{self.width}x{self.height} calibration for a "
                f"{int(width)}x{int(height)} {what}", "a calibration of the stream's resolution",
                "calibrate this camera at the stream's resolution or pass the right --size")

    def check_stream(self, stream) -> None:
        """:meth:`check_resolution` for a :class:`~spikesim.stream.SpikeStream`."""
        self.check_resolution(stream.height, stream.width, "stream")

    def summary(self) -> dict:
        """The summary figures stored in ``meta`` (PRNU, DSNU, defects, noise floor, ...)."""
        return dict(self.meta.get("summary", {}))


def load_calibration(path) -> Calibration:
    """Read a calibration ``.npz`` through the one validated reader
    (:func:`spikesim.calibration_file.read_calibration_file`: schema, dtypes, shapes,
    finite and physical values; nothing pickled is loaded)."""
    read = read_calibration_file(path, "calibration")
    return Calibration(meta=read.meta, **read.maps)
