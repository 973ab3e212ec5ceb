"""A camera whose fixed pattern is read from a calibration file (``--camera-maps``).

A user calibrates a real camera with ``spikecal fit`` and simulates training data with
its exact fixed pattern: :func:`profile_from_calibration` makes the camera's profile
(``maps`` names the file, ``maps_sha256`` its digest, ``k`` and ``dead_time`` the
calibrated ones) and :func:`pattern_from_calibration` its maps, which
:class:`spikesim.camera.Camera` uses instead of drawing them (physics.md §4b).

The file is read and checked by :mod:`spikesim.calibration_file`, the one validated
reader of calibration files (``calibration.calfile`` uses it too; it lives in the
simulator because data flows one way). What the camera takes from it, per pixel,
upright ``(H, W)``:

- gain ``g``: the file's ``gain`` (median 1 over the calibration's good pixels),
  divided by its median over the camera's good pixels (neither hot nor dead), 0 on dead
  pixels;
- responsivity ``k``: the one the maps imply, ``λ = (L + L_d) / q = k g (L + L_d)``,
  so ``k = median(1 / (gain · q))`` (``1 / q_ref``) times that median;
- dark offset ``L_d``: the file's ``offset`` in lux (negative fitted offsets, noise around
  0, are taken as 0);
- defects: flag 1 dead (``g = 0``), flag 2 hot. A calibration file does not keep a hot
  pixel's offset (defects carry neutral values), so hot pixels draw ``L_d`` uniformly in
  the profile's ``[hot_low, hot_high]`` with ``fpn_seed`` (seed purpose
  ``FPN_IMPORTED_HOT``). The other flags (unstable, ill-conditioned, poor fit) keep the
  neutral values the file holds (gain 1, the median offset);
- dead time: the calibrated one, rounded to whole steps (refused when further than
  ``settings.IMPORTED_DEAD_TIME_TOL`` from one: refit with ``--dead-time``).

A file that cannot be used is one :class:`~spikesim.errors.InputError` naming the file
and the key: missing, not a plain numeric array (pickled objects are never loaded),
another shape, NaN or infinite, not positive where it must be, ``meta`` not a JSON
object, levels not in lux, a resolution other than the camera's.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import rng, settings
from .calibration_file import read_calibration_file
from .config import CameraProfile
from .errors import InputError
from .fpn import FixedPattern

# profile keys of a drawn pattern: 0 for a camera read from a file (they are not used)
_DRAWN_KEYS = ("gain_column_sd", "gain_row_sd", "gain_shading_sd", "gain_sd", "dark_median",
               "dark_column_sd", "dark_row_sd", "dark_shading_sd", "dark_log_sd",
               "hot_fraction", "dead_fraction")


@dataclass(frozen=True)
class CalibrationMaps:
    """What a camera takes from a calibration file (module docstring).

    gain : (H, W) float64, relative gain, median 1 over good pixels, 0 on dead pixels
    offset : (H, W) float64, dark offset in lux (>= 0; hot pixels: the file's neutral value)
    hot, dead : (H, W) bool
    k : float, thresholds per lux per step
    dead_time : int, steps (``dead_time_calibrated`` rounded)
    dead_time_calibrated : float, steps, as the file states it
    sha256 : hex digest of the file
    """

    gain: np.ndarray
    offset: np.ndarray
    hot: np.ndarray
    dead: np.ndarray
    k: float
    dead_time: int
    dead_time_calibrated: float
    sha256: str

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)``."""
        return tuple(self.gain.shape)


def _bad(path, key: str, got: str, expected: str, fix: str = "") -> InputError:
    return InputError(f"camera maps {path}", f"key {key!r} {got}", expected,
                      fix or "use a calibration file written by `spikecal fit`")


def _check_levels(path, meta: dict) -> None:
    if meta.get("levels_auto"):
        raise _bad(path, "meta", "with levels_auto: offsets in relative units",
                   "a calibration with levels in lux",
                   "fit the camera with the fields' illuminances (--levels L1,L2,...)")


def _dead_time(path, meta: dict) -> tuple[int, float]:
    """The file's dead time (checked finite in [0, 16] by the reader) as whole steps."""
    value = float(meta["dead_time"]["value"])
    whole = int(round(value))
    if abs(value - whole) > settings.IMPORTED_DEAD_TIME_TOL:
        raise _bad(path, "meta", f"with dead time {value:.4g} steps",
                   f"a dead time within {settings.IMPORTED_DEAD_TIME_TOL} of a whole step "
                   "(0..16; the simulator's dead time is whole steps)",
                   "fit the camera again assuming one, e.g. `spikecal fit ... --dead-time 1`")
    return whole, value


def read_calibration_maps(path) -> CalibrationMaps:
    """Read a calibration file through the one validated reader
    (:func:`spikesim.calibration_file.read_calibration_file`, the file read once) and
    derive what a camera takes from it (module docstring)."""
    path = Path(path)
    read = read_calibration_file(path, "camera maps")
    meta = read.meta
    _check_levels(path, meta)
    dead_time, calibrated = _dead_time(path, meta)
    maps = {key: read.maps[key].astype(np.float64) for key in ("gain", "offset", "q")}
    flags = read.maps["defects"]
    dead = (flags & settings.CALIBRATION_DEFECT_DEAD) > 0
    hot = ((flags & settings.CALIBRATION_DEFECT_HOT) > 0) & ~dead
    good = ~(dead | hot)
    if not good.any():
        raise _bad(path, "defects", "flagging every pixel", "some good pixels")
    per_pixel_k = 1.0 / (maps["gain"][good] * maps["q"][good])
    k = float(np.median(per_pixel_k))
    if np.max(np.abs(per_pixel_k / k - 1.0)) > 1e-3:
        raise _bad(path, "q", "that disagrees with gain", "gain * q the same on good pixels "
                   "(q = q_ref / gain)", "fit the camera again with `spikecal fit`")
    median_gain = float(np.median(maps["gain"][good]))
    gain = np.where(dead, 0.0, maps["gain"] / median_gain)
    return CalibrationMaps(gain=gain, offset=np.maximum(maps["offset"], 0.0), hot=hot,
                           dead=dead, k=k * median_gain, dead_time=dead_time,
                           dead_time_calibrated=calibrated, sha256=read.sha256)


def profile_from_calibration(path, base: CameraProfile | None = None,
                             what: str = "camera profile",
                             maps: CalibrationMaps | None = None) -> CameraProfile:
    """The profile of the camera of the calibration file ``path``.

    ``base`` (default the reference camera) gives what a calibration does not measure:
    readout rate, threshold noise ``theta_sd``, pixel pitch and the hot pixels' offset
    range. Its size must be the file's (else a one-line error naming ``what`` asked for
    that size), unless it is the default: then the file's size is taken. The profile's
    drawn-pattern keys are 0 (the maps are read, not drawn); ``maps`` is the file's
    absolute path. ``maps``: the file already read (:func:`read_calibration_maps`).
    """
    explicit = base is not None
    base = base if explicit else CameraProfile()
    maps = maps if maps is not None else read_calibration_maps(path)
    h, w = maps.shape
    if explicit and (base.height, base.width) != (h, w):
        raise size_mismatch(path, (h, w), (base.height, base.width), what)
    drawn = {key: 0.0 for key in _DRAWN_KEYS}
    return dataclasses.replace(base, name=f"calibration:{Path(path).name}", width=w, height=h,
                               k=maps.k, dead_time=maps.dead_time,
                               maps=str(Path(path).resolve()), maps_sha256=maps.sha256, **drawn)


def size_mismatch(path, maps_shape, wanted_shape, what: str) -> InputError:
    """The one-line error of maps ``(H, W)`` used where ``wanted_shape`` is asked for."""
    (mh, mw), (h, w) = maps_shape, wanted_shape
    return InputError(f"camera maps {path}", f"{mw}x{mh} maps", f"the {what}'s {w}x{h}",
                      "give maps of that resolution, or ask for the maps' size")


def pattern_from_calibration(profile: CameraProfile, fpn_seed: int,
                             maps: CalibrationMaps | None = None) -> FixedPattern:
    """The maps of the camera ``profile`` whose ``maps`` names a calibration file.

    Checks that the file is the one the profile records (``maps_sha256``) and that the
    profile's size, ``k`` and ``dead_time`` are the file's (:func:`profile_from_calibration`
    makes such a profile); hot pixels' offsets are drawn with ``fpn_seed``. ``maps``: the
    file already read (:func:`read_calibration_maps`), checked the same way.
    """
    path = profile.maps
    maps = maps if maps is not None else read_calibration_maps(path)
    if profile.maps_sha256 and maps.sha256 != profile.maps_sha256:
        raise InputError(f"camera maps {path}", f"sha256 {maps.sha256[:12]}...",
                         f"the file the camera was made with ({profile.maps_sha256[:12]}...)",
                         "the file changed; make the camera (or the dataset) again")
    if maps.shape != (profile.height, profile.width):
        raise size_mismatch(path, maps.shape, (profile.height, profile.width), "camera")
    if not math.isclose(profile.k, maps.k, rel_tol=1e-9) or profile.dead_time != maps.dead_time:
        raise InputError(f"camera maps {path}",
                         f"a profile with k {profile.k:.6g}, dead_time {profile.dead_time}",
                         f"the file's k {maps.k:.6g}, dead_time {maps.dead_time}",
                         "make the profile with --camera-maps (profile_from_calibration)")
    gen = np.random.default_rng(np.random.SeedSequence([int(fpn_seed), rng.FPN_IMPORTED_HOT]))
    dark = maps.offset.copy()
    dark[maps.hot] = gen.uniform(profile.hot_low, profile.hot_high, int(maps.hot.sum()))
    return FixedPattern(gain=maps.gain.astype(np.float32), dark=dark.astype(np.float32),
                        hot=maps.hot.copy(), dead=maps.dead.copy())
