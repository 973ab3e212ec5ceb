"""A simulated camera: a profile and its fixed-pattern maps, drawn once.

A camera is what ``spikesim render``, ``spikesim uniform``, ``spikesim generate`` and
DeSpike training expose to light. It holds

- ``profile``: the :class:`~spikesim.config.CameraProfile` (size, responsivity ``k``,
  dead time, threshold noise, the distributions of its fixed pattern; physics.md §4b);
- ``fpn_seed``: which camera of that profile;
- ``fpn``: its :class:`~spikesim.fpn.FixedPattern` maps (gain, dark, hot, dead), drawn
  from the profile with ``fpn_seed`` (:func:`spikesim.fpn.draw_fixed_pattern`) on first
  use and kept, so one camera is drawn once however many captures it takes.

The one way to expose it to irradiance: :meth:`Camera.charge` (``λ = k g (E + L_d)``,
charge per step) and :meth:`Camera.capture` (the spike stream). The maps come from
:meth:`Camera._draw_pattern`: drawn from the profile's distributions (column, row,
shading and pixel parts, hot and dead pixels), or, when the profile's ``maps`` names a
calibration file, read from it (:meth:`Camera.from_calibration`,
:mod:`spikesim.camera_maps`); everything downstream stays the same.

Example::

    camera = Camera(load_yaml_config("cam.yaml", CameraProfile), fpn_seed=7)
    stream = camera.capture(irradiance_lux, steps=1000, seed=1)    # (T, H, W) SpikeStream
    own = Camera.from_calibration("cam.npz")        # the camera `spikecal fit` measured
"""

from __future__ import annotations

import numpy as np

from .config import CameraProfile
from .errors import InputError
from .fpn import FixedPattern, check_fpn_seed, draw_fixed_pattern, save_truth, truth_arrays
from .sensor import charge_per_step, simulate_spikes
from .stream import SpikeStream


class Camera:
    """A simulated camera ``(profile, fpn_seed)`` whose maps are drawn once, on first use.

    Parameters
    ----------
    profile : CameraProfile, or None for the reference camera (physics.md §4b)
    fpn_seed : int >= 0, which camera of that profile (seed of its fixed-pattern maps)

    Two cameras of equal ``profile`` and ``fpn_seed`` have the same maps, on any machine.
    """

    def __init__(self, profile: CameraProfile | None = None, fpn_seed: int = 0):
        profile = profile if profile is not None else CameraProfile()
        if not isinstance(profile, CameraProfile):
            raise InputError("profile", type(profile).__name__, "a CameraProfile",
                             "load it with spikesim.config.load_yaml_config(path, CameraProfile)")
        self.profile = profile
        self.fpn_seed = check_fpn_seed(fpn_seed)
        self._fpn: FixedPattern | None = None

    def __repr__(self) -> str:
        return (f"Camera({self.profile.name!r}, {self.width}x{self.height}, "
                f"fpn_seed={self.fpn_seed})")

    # -- the camera's fixed pattern -----------------------------------------------------
    @property
    def fpn(self) -> FixedPattern:
        """The fixed-pattern maps, upright ``(H, W)``: drawn on first use, then kept."""
        if self._fpn is None:
            self._fpn = self._draw_pattern()
        return self._fpn

    def _draw_pattern(self) -> FixedPattern:
        """The source of the maps: the calibration file the profile's ``maps`` names, or
        else the profile's distributions drawn with ``fpn_seed``."""
        if self.profile.maps:
            from .camera_maps import pattern_from_calibration

            return pattern_from_calibration(self.profile, self.fpn_seed)
        return draw_fixed_pattern(self.profile, self.fpn_seed)

    @classmethod
    def from_calibration(cls, path, profile: CameraProfile | None = None,
                         fpn_seed: int = 0) -> "Camera":
        """The camera of a calibration file written by ``spikecal fit`` (``--camera-maps``).

        Gain, dark offset, dead and hot pixels, the responsivity ``k`` that ``q`` implies
        and the dead time come from the file (:mod:`spikesim.camera_maps`); ``profile``
        (default the reference camera) gives the rest: readout rate, threshold noise,
        pixel pitch, the hot pixels' offset range. ``fpn_seed`` draws only the hot
        pixels' offsets, which a calibration file does not keep. The file is read once,
        now, so a bad file fails here.
        """
        from .camera_maps import (pattern_from_calibration, profile_from_calibration,
                                  read_calibration_maps)

        maps = read_calibration_maps(path)
        camera = cls(profile_from_calibration(path, profile, maps=maps), fpn_seed)
        camera._fpn = pattern_from_calibration(camera.profile, camera.fpn_seed, maps=maps)
        return camera

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)``, rows and columns of the sensor."""
        return self.profile.height, self.profile.width

    @property
    def height(self) -> int:
        return self.profile.height

    @property
    def width(self) -> int:
        return self.profile.width

    # -- exposure to light --------------------------------------------------------------
    def charge(self, irradiance) -> np.ndarray:
        """Charge per readout step ``λ = k · g · (E + L_d)``, in thresholds.

        ``irradiance``: ``(H, W)`` or ``(F, H, W)`` lux at the sensor, rows top-down.
        Returns float32 of its shape (:func:`spikesim.sensor.charge_per_step`).
        """
        return charge_per_step(irradiance, self.profile, self.fpn)

    def capture(self, irradiance, steps: int, seed: int = 0, *, backend: str = "numba",
                threads: int | None = None) -> SpikeStream:
        """The camera end to end: irradiance (lux) -> spike stream.

        Parameters
        ----------
        irradiance : (H, W) or (F, H, W) lux at the sensor, rows top-down (key frames
            spread evenly over the steps, see :func:`spikesim.sensor.simulate_spikes`)
        steps : readout steps ``T``
        seed : int >= 0, seed of the temporal randomness (phase, threshold noise)
        backend : ``"numba"`` or ``"numpy"`` (the reference; same bytes)
        threads : numba threads (the bytes do not depend on it)

        Returns
        -------
        SpikeStream ``(T, H, W)`` at ``profile.readout_hz``, with the profile's dead time
        and threshold noise.
        """
        p = self.profile
        return simulate_spikes(self.charge(irradiance), steps, dead_time=p.dead_time,
                               theta_sd=p.theta_sd, seed=seed, backend=backend,
                               threads=threads, readout_hz=p.readout_hz)

    # -- ground truth -------------------------------------------------------------------
    def truth_arrays(self) -> dict:
        """The camera's true maps and scalars as a ``truth.npz`` holds them
        (:func:`spikesim.fpn.truth_arrays`; what ``Calibration.from_truth`` takes)."""
        return truth_arrays(self.fpn, self.profile, self.fpn_seed)

    def save_truth(self, path, overwrite: bool = False):
        """Write :meth:`truth_arrays` as ``.npz`` atomically (formats.md ``truth.npz``)."""
        return save_truth(path, self.fpn, self.profile, overwrite=overwrite,
                          fpn_seed=self.fpn_seed)
