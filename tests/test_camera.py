"""The camera object (spikesim.camera): maps drawn once, one way to expose it to light."""

import numpy as np
import pytest

from spikesim import camera as camera_module
from spikesim import sensor
from spikesim.camera import Camera
from spikesim.config import CameraProfile
from spikesim.errors import InputError
from spikesim.fpn import draw_fixed_pattern, load_truth

PROFILE = CameraProfile(width=16, height=8, hot_fraction=0.05, dead_fraction=0.05)


def test_maps_are_drawn_once_on_first_use(monkeypatch):
    calls = []

    def counting(profile, fpn_seed):
        calls.append((profile, fpn_seed))
        return draw_fixed_pattern(profile, fpn_seed)

    monkeypatch.setattr(camera_module, "draw_fixed_pattern", counting)
    cam = Camera(PROFILE, 3)
    assert calls == []                                   # nothing drawn at construction
    irr = np.full((8, 16), 200.0, np.float32)
    cam.capture(irr, 20, seed=1)
    cam.capture(irr, 20, seed=2)
    cam.charge(irr)
    assert cam.fpn is cam.fpn
    assert calls == [(PROFILE, 3)]


def test_same_profile_and_seed_same_maps():
    a, b, c = Camera(PROFILE, 3), Camera(PROFILE, 3), Camera(PROFILE, 4)
    for key in ("gain", "dark", "hot", "dead"):
        np.testing.assert_array_equal(getattr(a.fpn, key), getattr(b.fpn, key))
        np.testing.assert_array_equal(getattr(a.fpn, key), getattr(draw_fixed_pattern(PROFILE, 3),
                                                                    key))
    assert not np.array_equal(a.fpn.gain, c.fpn.gain)
    assert a.shape == (8, 16) == a.fpn.shape and (a.height, a.width) == (8, 16)
    assert Camera().profile == CameraProfile() and Camera().fpn_seed == 0


def test_capture_is_the_sensor_on_the_cameras_charge():
    """``capture`` = ``simulate_spikes`` of ``charge`` = k g (E + L_d) with the profile's
    dead time, threshold noise and readout rate; the same seed gives the same bytes."""
    cam = Camera(PROFILE, 3)
    irr = np.random.default_rng(0).uniform(0, 500, (8, 16)).astype(np.float32)
    lam = cam.charge(irr)
    np.testing.assert_array_equal(lam, sensor.charge_per_step(irr, PROFILE, cam.fpn))
    s = cam.capture(irr, 300, seed=2)
    direct = sensor.simulate_spikes(lam, 300, dead_time=PROFILE.dead_time,
                                    theta_sd=PROFILE.theta_sd, seed=2)
    assert np.array_equal(s.packed, direct.packed) and s.readout_hz == PROFILE.readout_hz
    assert np.array_equal(cam.capture(irr, 300, seed=2, backend="numpy").packed, s.packed)
    assert (s.counts()[cam.fpn.dead] == 0).all()


def test_truth_round_trips(tmp_path):
    cam = Camera(PROFILE, 5)
    cam.save_truth(tmp_path / "truth.npz")
    fpn, scalars = load_truth(tmp_path / "truth.npz")
    np.testing.assert_array_equal(fpn.gain, cam.fpn.gain)
    assert scalars["fpn_seed"] == 5 and scalars["k"] == PROFILE.k
    arrays = cam.truth_arrays()
    np.testing.assert_array_equal(arrays["dead"], cam.fpn.dead)


def test_bad_camera_arguments():
    with pytest.raises(InputError, match="fpn_seed"):
        Camera(PROFILE, -1)
    with pytest.raises(InputError, match="profile"):
        Camera({"width": 16}, 0)
    with pytest.raises(InputError, match="irradiance"):
        Camera(PROFILE, 0).capture(np.ones((4, 4)), 10)
