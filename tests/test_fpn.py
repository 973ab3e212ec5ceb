"""Fixed-pattern maps of a simulated camera (physics.md §4b) and the truth file."""

import numpy as np
import pytest

from spikesim.config import CameraProfile
from spikesim.errors import InputError, OutputExistsError
from spikesim.fpn import TRUTH_KEYS, draw_fixed_pattern, load_truth, save_truth


@pytest.fixture(scope="module")
def reference():
    return CameraProfile(), draw_fixed_pattern(CameraProfile(), 0)


def test_same_camera_same_maps(reference):
    profile, fpn = reference
    again = draw_fixed_pattern(profile, 0)
    for name in ("gain", "dark", "hot", "dead"):
        assert np.array_equal(getattr(fpn, name), getattr(again, name))
    other = draw_fixed_pattern(profile, 1)
    assert not np.array_equal(fpn.gain, other.gain)


def test_statistics_match_the_reference_profile(reference):
    """Sample statistics of 100,000 pixels against the §4b table (tolerances ~5 s.e.)."""
    profile, fpn = reference
    assert fpn.gain.shape == (250, 400) and fpn.gain.dtype == np.float32
    good = fpn.good
    assert np.median(fpn.gain[good]) == pytest.approx(1.0, abs=1e-6)
    assert fpn.gain[good].std() == pytest.approx(profile.gain_sd, rel=0.03)
    assert np.median(fpn.dark[good]) == pytest.approx(profile.dark_median, rel=0.02)
    assert np.log(fpn.dark[good]).std() == pytest.approx(profile.dark_log_sd, rel=0.03)
    assert fpn.hot.sum() == round(profile.hot_fraction * 100_000) == 100
    assert fpn.dead.sum() == round(profile.dead_fraction * 100_000) == 10
    assert not (fpn.hot & fpn.dead).any()
    assert (fpn.gain[fpn.dead] == 0).all() and (fpn.gain[~fpn.dead] > 0).all()
    hot = fpn.dark[fpn.hot]
    assert hot.min() >= profile.hot_low and hot.max() <= profile.hot_high
    assert (fpn.dark >= 0).all()


def test_profile_ranges():
    p = CameraProfile(width=64, height=32, gain_sd=0.0, dark_median=0.0, hot_fraction=0.0,
                      dead_fraction=0.0)
    fpn = draw_fixed_pattern(p, 5)
    assert (fpn.gain == 1).all() and (fpn.dark == 0).all()
    assert not fpn.hot.any() and not fpn.dead.any()


def test_truth_round_trip(tmp_path):
    profile = CameraProfile(width=24, height=8, hot_fraction=0.05, dead_fraction=0.05,
                            theta_sd=0.02, dead_time=0)
    fpn = draw_fixed_pattern(profile, 7)
    path = save_truth(tmp_path / "truth.npz", fpn, profile, fpn_seed=7)
    with np.load(path, allow_pickle=False) as data:           # plain arrays, formats.md keys
        assert set(TRUTH_KEYS) <= set(data.files)
        assert data["hot"].dtype == bool and data["gain"].dtype == np.float32
        assert float(data["k"]) == profile.k
    back, scalars = load_truth(path)
    for name in ("gain", "dark", "hot", "dead"):
        assert np.array_equal(getattr(back, name), getattr(fpn, name))
    assert scalars == {"k": profile.k, "dead_time": 0, "theta_sd": 0.02, "fpn_seed": 7}
    with pytest.raises(OutputExistsError):
        save_truth(path, fpn, profile)


def test_bad_input(tmp_path):
    with pytest.raises(InputError, match="fpn_seed"):
        draw_fixed_pattern(CameraProfile(), -1)
    np.savez(tmp_path / "x.npz", gain=np.ones(3))
    with pytest.raises(InputError, match="truth"):
        load_truth(tmp_path / "x.npz")
