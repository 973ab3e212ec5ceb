"""Fixed-pattern maps of a simulated camera (physics.md §4b) and the truth file."""

import dataclasses

import numpy as np
import pytest

from spikesim import rng
from spikesim.config import CameraProfile
from spikesim.errors import InputError, OutputExistsError
from spikesim.fpn import (STRUCTURE_COMPONENTS, TRUTH_KEYS, draw_fixed_pattern, load_truth,
                          save_truth, structure_components)

WHITE = dict(gain_column_sd=0.0, gain_row_sd=0.0, gain_shading_sd=0.0)
NO_DEFECTS = dict(hot_fraction=0.0, dead_fraction=0.0)


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
    """Sample statistics of 100,000 pixels against the §4b table. The total gain s.d. is
    the root sum of squares of the parts; its sampling error is dominated by the 400
    column values (relative s.e. of an s.d. ~ 1/sqrt(2 n) = 3.5 %): 5 s.e. = 18 %."""
    profile, fpn = reference
    assert fpn.gain.shape == (250, 400) and fpn.gain.dtype == np.float32
    good = fpn.good
    assert np.median(fpn.gain[good]) == pytest.approx(1.0, abs=1e-6)
    total = np.sqrt(profile.gain_column_sd ** 2 + profile.gain_row_sd ** 2
                    + profile.gain_shading_sd ** 2 + profile.gain_sd ** 2)
    assert fpn.gain[good].std() == pytest.approx(total, rel=0.18)
    assert np.median(fpn.dark[good]) == pytest.approx(profile.dark_median, rel=0.02)
    assert np.log(fpn.dark[good]).std() == pytest.approx(profile.dark_log_sd, rel=0.03)
    assert fpn.hot.sum() == round(profile.hot_fraction * 100_000) == 280
    assert fpn.dead.sum() == round(profile.dead_fraction * 100_000) == 10
    assert not (fpn.hot & fpn.dead).any()
    assert (fpn.gain[fpn.dead] == 0).all() and (fpn.gain[~fpn.dead] > 0).all()
    hot = fpn.dark[fpn.hot]
    assert hot.min() >= profile.hot_low and hot.max() <= profile.hot_high
    assert (fpn.dark >= 0).all()


def test_each_component_has_its_profile_size():
    """On a 2000 x 1000 frame each part's sample s.d. matches its key within 5 standard
    errors (column: 2000 values, s.e. 1.6 %; row: 1000 values, 2.2 %); the shading is
    scaled to its s.d. exactly; parts are constant along their stripes."""
    p = CameraProfile(width=2000, height=1000, gain_column_sd=0.05, gain_row_sd=0.03,
                      gain_shading_sd=0.01, dark_column_sd=0.2, dark_row_sd=0.1,
                      dark_shading_sd=0.3, shading_scale=20.0)
    parts = structure_components(p, 3)
    assert set(parts) == set(STRUCTURE_COMPONENTS)
    for name, (key, kind) in STRUCTURE_COMPONENTS.items():
        part, sd = parts[name], getattr(p, key)
        assert part.shape == (1000, 2000)
        if kind == "column":
            assert np.ptp(part, axis=0).max() == 0
            assert part[0].std() == pytest.approx(sd, rel=5 / np.sqrt(2 * 2000))
        elif kind == "row":
            assert np.ptp(part, axis=1).max() == 0
            assert part[:, 0].std() == pytest.approx(sd, rel=5 / np.sqrt(2 * 1000))
        else:
            assert part.std() == pytest.approx(sd, rel=1e-12)
            # smooth: neighbours nearly equal (a Gaussian of 20 px: correlation ~0.999)
            assert np.corrcoef(part[:, :-1].ravel(), part[:, 1:].ravel())[0, 1] > 0.99


def test_components_are_independent_draws():
    """Each part has its own generator: changing one size scales it and leaves the others."""
    p = CameraProfile(width=64, height=40, gain_column_sd=0.04, gain_row_sd=0.02)
    q = dataclasses.replace(p, gain_row_sd=0.05, gain_shading_sd=0.0)
    a, b = structure_components(p, 9), structure_components(q, 9)
    np.testing.assert_array_equal(a["gain_column"], b["gain_column"])
    np.testing.assert_allclose(b["gain_row"], a["gain_row"] * 2.5, rtol=1e-12)
    assert "gain_shading" in a and "gain_shading" not in b
    # the pixel part is the white camera's whatever the structure: the striped gain is
    # (white pixel part + column part) / its median, a linear combination of the two
    white = draw_fixed_pattern(dataclasses.replace(p, **WHITE, **NO_DEFECTS), 9)
    only_col = dataclasses.replace(p, gain_row_sd=0.0, gain_shading_sd=0.0, **NO_DEFECTS)
    striped = draw_fixed_pattern(only_col, 9)
    basis = np.stack([white.gain.ravel(), a["gain_column"].ravel()], axis=1).astype(np.float64)
    coef, *_ = np.linalg.lstsq(basis, striped.gain.ravel().astype(np.float64), rcond=None)
    assert np.abs(basis @ coef - striped.gain.ravel()).max() < 1e-6


def _old_white_draw(profile, fpn_seed):
    """The white-noise draw as the code before structured patterns had it (247f85f)."""
    h, w = profile.height, profile.width
    n = h * w
    gen = np.random.default_rng(np.random.SeedSequence([int(fpn_seed), rng.FPN_MAPS]))
    gain = gen.normal(1.0, profile.gain_sd, n)
    bad = gain <= 0.0
    while bad.any():
        gain[bad] = gen.normal(1.0, profile.gain_sd, int(bad.sum()))
        bad = gain <= 0.0
    dark = profile.dark_median * np.exp(profile.dark_log_sd * gen.standard_normal(n))
    n_hot, n_dead = int(round(profile.hot_fraction * n)), int(round(profile.dead_fraction * n))
    order = gen.permutation(n)
    hot, dead = np.zeros(n, bool), np.zeros(n, bool)
    hot[order[:n_hot]] = True
    dead[order[n_hot:n_hot + n_dead]] = True
    dark[hot] = gen.uniform(profile.hot_low, profile.hot_high, n_hot)
    good = ~(hot | dead)
    gain = gain / np.median(gain[good])
    gain[dead] = 0.0
    return [a.reshape(h, w) for a in (gain.astype(np.float32), dark.astype(np.float32), hot, dead)]


@pytest.mark.parametrize("seed", [0, 12345])
def test_white_noise_cameras_draw_what_they_drew_before(seed):
    """Structured parts at 0: the maps are bit for bit those of the white-noise model
    (the public test set's cameras stay the same)."""
    p = CameraProfile(width=80, height=50, k=1 / 800, gain_sd=0.3, dark_median=3.0,
                      dark_log_sd=0.5, hot_fraction=0.004, hot_low=80.0, hot_high=300.0,
                      dead_fraction=0.002, **WHITE)
    fpn = draw_fixed_pattern(p, seed)
    for got, want in zip((fpn.gain, fpn.dark, fpn.hot, fpn.dead), _old_white_draw(p, seed)):
        np.testing.assert_array_equal(got, want)


def test_structured_gain_is_normalised_and_positive():
    """Huge stripes: the summed gain is clipped at GAIN_FLOOR (before the median
    normalisation) and its median over good pixels is 1; dead pixels are 0."""
    p = CameraProfile(width=200, height=100, gain_column_sd=0.2, gain_row_sd=0.2,
                      gain_sd=0.3, hot_fraction=0.01, dead_fraction=0.01)
    fpn = draw_fixed_pattern(p, 4)
    assert np.median(fpn.gain[fpn.good]) == pytest.approx(1.0, abs=1e-6)
    assert (fpn.gain[~fpn.dead] > 0).all() and (fpn.gain[fpn.dead] == 0).all()
    # total s.d. 0.41: about 1 % of the sums fall below the floor; they share its value
    lowest = fpn.gain[~fpn.dead].min()
    assert (fpn.gain == lowest).sum() > 10


def test_dark_structure_is_in_log_units():
    p = CameraProfile(width=64, height=32, dark_column_sd=0.3, dark_log_sd=0.0, **NO_DEFECTS)
    fpn = draw_fixed_pattern(p, 2)
    logd = np.log(fpn.dark.astype(np.float64) / p.dark_median)
    assert np.ptp(logd, axis=0).max() < 1e-6                 # one value per column
    assert logd[0].std() == pytest.approx(0.3, rel=5 / np.sqrt(2 * 64))


def test_profile_ranges():
    p = CameraProfile(width=64, height=32, gain_sd=0.0, dark_median=0.0, hot_fraction=0.0,
                      dead_fraction=0.0, **WHITE)
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
    with pytest.raises(InputError, match="fpn_seed"):
        structure_components(CameraProfile(), -1)
    np.savez(tmp_path / "x.npz", gain=np.ones(3))
    with pytest.raises(InputError, match="truth"):
        load_truth(tmp_path / "x.npz")
