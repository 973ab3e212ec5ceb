"""Calibration maths on synthetic rate maps: exact recovery, invariants, bad input.

Synthetic fields follow the model of physics.md §4 exactly: ``lambda = k g (L + L_d)``,
``r = 1 / (delta + 1/lambda)``; counts are ``floor(r T + u)`` with ``u ~ U(0, 1)`` (the
count of a regular integrate-and-fire pixel with a random phase), so the only error is
the count quantisation.
"""

import json

import numpy as np
import pytest

from calibration import settings
from calibration.calfile import MAP_KEYS, Calibration, load_calibration
from calibration.correct import correct_rate, full_inverse, weight_spikes, weighted_counts
from calibration.fit import calibrate
from calibration.solvers import charge_from_rate, estimate_dead_time, weighted_line
from calibration.rates import FieldRates, check_fields, rate_noise
from spikesim.errors import InputError
from spikesim.rate_law import rate_from_charge
from spikesim.stream import SpikeStream
from tests.tolerances import tol

K_REF = 1 / 800          # reference camera responsivity (physics.md §4b)
LEVELS = (0.0, 153.0, 335.0)


def synth_camera(h=40, w=50, seed=0, hot=(), dead=()):
    rng = np.random.default_rng(seed)
    gain = rng.normal(1, 0.04, (h, w))
    dark = 3 * np.exp(0.5 * rng.normal(size=(h, w)))
    for y, x in hot:
        dark[y, x] = 150.0
    for y, x in dead:
        gain[y, x] = 0.0
    return gain, dark


def synth_fields(gain, dark, delta, levels=LEVELS, steps=20000, seed=1, exact=False):
    rng = np.random.default_rng(seed)
    out = []
    for level in levels:
        lam = K_REF * gain * (level + dark)
        with np.errstate(divide="ignore"):
            r = np.where(lam > 0, 1 / (delta + 1 / np.where(lam > 0, lam, 1)), 0.0)
        r = np.minimum(r, 1 / (1 + delta))
        c = r * steps if exact else np.floor(r * steps + rng.uniform(0, 1, r.shape))
        out.append(FieldRates.from_counts(c.astype(np.int64) if not exact else c, steps,
                                          source=f"field_{level:g}"))
    return out


def exact_rates_fields(gain, dark, delta, levels=LEVELS, steps=1 << 20):
    """Fields whose integer counts approximate the exact rate to 1/steps."""
    fields = []
    for level in levels:
        lam = K_REF * gain * (level + dark)
        r = 1 / (delta + 1 / lam)
        fields.append(FieldRates.from_counts(np.round(r * steps).astype(np.int64), steps))
    return fields


def normalised(g, mask):
    return g / np.median(g[mask])


# -- elementary pieces ---------------------------------------------------------------
def test_charge_rate_round_trip():
    lam = np.linspace(0, 0.99, 100)
    for delta in (0.0, 1.0, 2.0):
        np.testing.assert_allclose(charge_from_rate(rate_from_charge(lam, delta), delta), lam,
                                   **tol(np.float64))
    # D = 1/r - 1 for delta = 1 (Eq. 9): lambda = 1/D
    r = np.array([0.1, 0.25, 0.4])
    np.testing.assert_allclose(charge_from_rate(r, 1.0), 1 / (1 / r - 1), **tol(np.float64))


def test_weighted_line_matches_polyfit():
    """Reference: numpy.polyfit with w = sqrt(weights) minimises the same chi^2."""
    rng = np.random.default_rng(3)
    x = np.array([0.0, 100.0, 250.0, 400.0])
    y = rng.normal(size=(4, 7)) + 0.01 * x[:, None]
    w = rng.uniform(0.5, 2.0, size=(4, 7))
    fit = weighted_line(x, y, w)
    for p in range(7):
        a, b = np.polyfit(x, y[:, p], 1, w=np.sqrt(w[:, p]))
        np.testing.assert_allclose([fit.a[p], fit.b[p]], [a, b], rtol=1e-9, atol=1e-12)
        chi2 = np.sum(w[:, p] * (y[:, p] - a * x - b) ** 2)
        np.testing.assert_allclose(fit.chi2[p], chi2, rtol=1e-9)


# -- exact recovery ------------------------------------------------------------------
@pytest.mark.parametrize("delta", [1.0, 0.0, 0.73])
def test_lsq_recovers_model_and_dead_time(delta):
    gain, dark = synth_camera()
    fields = exact_rates_fields(gain, dark, delta)
    calib = calibrate(fields, LEVELS, method="lsq")
    good = calib.good
    assert good.all()
    assert abs(calib.dead_time - delta) < 1e-3
    assert "estimated" in calib.meta["dead_time"]["source"]
    np.testing.assert_allclose(calib.gain, normalised(gain, good), rtol=2e-5)
    np.testing.assert_allclose(calib.offset, dark, atol=2e-3)
    assert np.median(calib.gain[good]) == pytest.approx(1.0, abs=1e-6)


def test_paper_exact_for_its_model_and_wrong_for_zero_dead_time():
    """physics.md §5: exact under D = 1/r - 1; the issue: ~2 % gain error when delta = 0."""
    gain, dark = synth_camera()
    calib = calibrate(exact_rates_fields(gain, dark, 1.0), LEVELS, method="paper")
    np.testing.assert_allclose(calib.gain, normalised(gain, calib.good), rtol=2e-5)
    np.testing.assert_allclose(calib.offset, dark, atol=2e-3)
    bad = calibrate(exact_rates_fields(gain, dark, 0.0), LEVELS, method="paper")
    err = np.median(np.abs(bad.gain - normalised(gain, bad.good)))
    assert 0.01 < err < 0.04


def test_full_inverse_exact_at_every_level_weight_only_at_operating_level():
    gain, dark = synth_camera()
    calib = calibrate(exact_rates_fields(gain, dark, 1.0), LEVELS, method="lsq",
                      operating_level=153.0)
    for level in (40.0, 153.0, 250.0, 500.0):
        (field,) = exact_rates_fields(gain, dark, 1.0, levels=(level,))
        e = full_inverse(field.rate, calib)
        np.testing.assert_allclose(e, level, rtol=1e-4, atol=0.02)
        ideal = correct_rate(field.rate, calib, "full")
        assert np.std(ideal) / np.mean(ideal) < 1e-4
        nu_w = np.std(correct_rate(field.rate, calib, "weight")) / np.mean(field.rate)
        if level == 153.0:
            assert nu_w < 1e-4                       # exact at the operating level
        else:
            assert nu_w > 1e-3                       # the dark offset is additive
    # Eq. 12's gamma used as a spike weight leaves ~1 % non-uniformity (physics.md §5)
    (field,) = exact_rates_fields(gain, dark, 1.0, levels=(153.0,))
    nu_g = np.std(correct_rate(field.rate, calib, "gamma")) / np.mean(field.rate)
    assert nu_g > 5e-3


def test_gamma_and_weight_definitions():
    """gamma acts on the interval: D_p = gamma I; the weight on the rate: w = r_ideal / r_p."""
    gain, dark = synth_camera()
    calib = calibrate(exact_rates_fields(gain, dark, 1.0), LEVELS, method="lsq",
                      operating_level=200.0)
    (field,) = exact_rates_fields(gain, dark, 1.0, levels=(200.0,))
    d_p = 1 / field.rate - calib.dead_time
    ideal_interval = calib.q_ref / 200.0
    np.testing.assert_allclose(calib.gamma, d_p / ideal_interval, rtol=1e-4)
    r_ideal = 1 / (calib.dead_time + ideal_interval)
    np.testing.assert_allclose(calib.weight, r_ideal / field.rate, rtol=1e-4)


def test_noisy_fields_accuracy_and_uncertainty():
    gain, dark = synth_camera(h=60, w=80)
    fields = synth_fields(gain, dark, 1.0, steps=20000)
    calib = calibrate(fields, LEVELS, method="lsq")
    err = np.abs(calib.gain - normalised(gain, calib.good))[calib.good]
    assert np.median(err) < 5e-4
    s = calib.summary()
    assert 0 < s["gain_uncertainty_pct"] < 0.05
    assert 3.0 < s["prnu_pct"] < 5.0


# -- defects and neutral values ----------------------------------------------------------
def test_defects_flagged_with_reason_and_neutral_values():
    hot, dead = [(3, 4), (10, 20)], [(5, 5), (30, 40)]
    gain, dark = synth_camera(hot=hot, dead=dead)
    fields = synth_fields(gain, dark, 1.0)
    # an unstable pixel: its second half fires far less in the bright field
    fields[2].counts_b[7, 7] //= 2
    calib = calibrate(fields, LEVELS, method="lsq")
    for y, x in hot:
        assert calib.defects[y, x] & settings.DEFECT_HOT
    for y, x in dead:
        assert calib.defects[y, x] & settings.DEFECT_DEAD
    assert calib.defects[7, 7] & settings.DEFECT_UNSTABLE
    assert np.count_nonzero(calib.defects) == 5
    bad = ~calib.good
    for key in ("gain", "gamma", "weight", "ratio"):
        assert np.all(getattr(calib, key)[bad] == 1.0)
    s = calib.summary()["defects"]
    assert (s["hot"], s["dead"], s["unstable"], s["total"]) == (2, 2, 1, 5)


def test_never_firing_pixel_is_dead_and_file_is_finite(tmp_path):
    gain, dark = synth_camera()
    gain[0, 0] = 0.0
    dark[0, 0] = 0.0
    calib = calibrate(synth_fields(gain, dark, 1.0), LEVELS, method="paper")
    assert calib.defects[0, 0] & settings.DEFECT_DEAD
    calib.save(tmp_path / "c.npz")
    with np.load(tmp_path / "c.npz", allow_pickle=False) as data:
        for key in MAP_KEYS:
            assert np.isfinite(data[key]).all()


# -- the file ------------------------------------------------------------------------
def test_file_round_trip_and_contract(tmp_path):
    gain, dark = synth_camera()
    calib = calibrate(synth_fields(gain, dark, 1.0), LEVELS, method="lsq")
    path = calib.save(tmp_path / "cam.npz")
    with np.load(path, allow_pickle=False) as data:
        assert set(data.files) == set(MAP_KEYS) | {"meta"}
        assert data["defects"].dtype == np.uint8
        meta = json.loads(str(data["meta"]))
    for key in ("resolution", "levels", "steps_per_field", "method", "operating_level",
                "dead_time", "reference", "summary", "toolkit_version"):
        assert key in meta
    for key in ("prnu_pct", "dsnu", "defects", "noise_floor_pct"):
        assert key in meta["summary"]
    back = load_calibration(path)
    for key in MAP_KEYS:
        np.testing.assert_array_equal(getattr(back, key), getattr(calib, key))
    assert back.meta == json.loads(json.dumps(calib.meta, sort_keys=True))
    with pytest.raises(InputError, match="--overwrite"):
        calib.save(path)


def test_identity_calibration_changes_nothing():
    ident = Calibration.identity(4, 6)
    rate = np.random.default_rng(0).uniform(0, 0.4, (4, 6))
    np.testing.assert_allclose(correct_rate(rate, ident, "full"), rate, **tol(np.float64))
    np.testing.assert_allclose(full_inverse(rate, ident, "charge"), rate / (1 - rate),
                               **tol(np.float64))
    counts = np.arange(24).reshape(4, 6)
    np.testing.assert_array_equal(weighted_counts(counts, ident), counts)


def test_weighted_counts_from_stream_and_spikes():
    rng = np.random.default_rng(5)
    dense = (rng.uniform(size=(50, 4, 8)) < 0.3).astype(np.uint8)
    stream = SpikeStream.from_dense(dense)
    calib = Calibration.identity(4, 8)
    calib.weight = rng.uniform(0.9, 1.1, (4, 8)).astype(np.float32)
    expect = (dense[10:40] * calib.weight.astype(np.float64)).sum(axis=0)
    np.testing.assert_allclose(weighted_counts(stream, calib, 10, 40), expect, rtol=1e-12)
    per_step = weight_spikes(dense, calib)
    np.testing.assert_allclose(per_step.sum(axis=0), dense.sum(0) * calib.weight, rtol=1e-5)
    torch = pytest.importorskip("torch")
    t = weight_spikes(torch.from_numpy(dense), calib)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    np.testing.assert_allclose(t.numpy(), per_step, rtol=1e-6)


# -- bad input (issue item 3) -----------------------------------------------------------
def test_levels_not_increasing_or_wrong_count():
    gain, dark = synth_camera()
    fields = synth_fields(gain, dark, 1.0)
    with pytest.raises(InputError, match="strictly increasing"):
        calibrate(fields, (0, 335, 153))
    with pytest.raises(InputError, match="one level per field"):
        calibrate(fields, (0, 153))
    with pytest.raises(InputError, match="exactly 3 fields"):
        calibrate(fields[:2], (0, 153), method="paper")


def test_fields_of_different_resolution_or_length():
    gain, dark = synth_camera()
    fields = synth_fields(gain, dark, 1.0)
    small = synth_fields(gain[:20], dark[:20], 1.0)
    with pytest.raises(InputError, match="one resolution"):
        check_fields([fields[0], small[1], fields[2]])
    short = synth_fields(gain, dark, 1.0, steps=10000)
    with pytest.raises(InputError, match="same number of steps"):
        calibrate([fields[0], short[1], fields[2]], LEVELS)


def test_all_zero_capture_is_refused():
    gain, dark = synth_camera()
    fields = synth_fields(gain, dark, 1.0)
    zero = FieldRates(np.zeros_like(fields[0].counts_a), np.zeros_like(fields[0].counts_b),
                      fields[0].steps_a, fields[0].steps_b, "zero.dat")
    with pytest.raises(InputError, match="no spike at all"):
        calibrate([zero, fields[1], fields[2]], LEVELS)


@pytest.mark.parametrize("method", ["lsq", "paper"])
def test_saturated_field_is_refused(method):
    gain, dark = synth_camera()
    fields = synth_fields(gain, dark, 1.0, levels=(0.0, 153.0, 5000.0))
    assert np.median(fields[2].rate) == pytest.approx(0.5)
    with pytest.raises(InputError, match="saturation"):
        calibrate(fields, (0.0, 153.0, 5000.0), method=method)


def test_saturated_pixels_are_flagged_not_fitted():
    gain, dark = synth_camera()
    gain[2, 3] = 3.0                        # saturates in the bright field
    calib = calibrate(synth_fields(gain, dark, 1.0), LEVELS, method="lsq")
    assert calib.defects[2, 3] & settings.DEFECT_ILL_CONDITIONED
    assert calib.gain[2, 3] == 1.0


def test_calibration_on_another_resolution_is_refused():
    calib = Calibration.identity(4, 8)
    stream = SpikeStream.from_dense(np.zeros((3, 8, 8), np.uint8))
    with pytest.raises(InputError, match="8x4 calibration for a 8x8 stream"):
        weighted_counts(stream, calib)
    with pytest.raises(InputError, match="resolution"):
        full_inverse(np.zeros((8, 8)), calib)


def test_reference_pixel_must_be_good():
    hot = [(3, 4)]
    gain, dark = synth_camera(hot=hot)
    fields = synth_fields(gain, dark, 1.0)
    with pytest.raises(InputError, match="hot"):
        calibrate(fields, LEVELS, reference=(4, 3))
    calib = calibrate(fields, LEVELS, reference=(0, 0))
    assert calib.meta["reference"] == {"kind": "pixel", "x": 0, "y": 0}
    assert calib.q_ref == pytest.approx(float(calib.q[0, 0]), rel=1e-6)


def test_auto_levels_relative_and_stated():
    gain, dark = synth_camera()
    calib = calibrate(exact_rates_fields(gain, dark, 1.0), "auto", method="lsq")
    lv = calib.meta["levels"]
    assert calib.meta["levels_auto"] and lv[0] == 0 and lv[-1] == 1
    # lambda is affine in the level for every pixel: relative levels are exact
    assert lv[1] == pytest.approx(153 / 335, rel=1e-4)
    np.testing.assert_allclose(calib.offset, dark / 335, rtol=1e-3, atol=1e-5)
    assert "assumed" in calib.meta["dead_time"]["source"]
    np.testing.assert_allclose(calib.gain, normalised(gain, calib.good), rtol=5e-3)


def test_dead_time_estimate_needs_three_fields():
    with pytest.raises(InputError, match="at least 3"):
        estimate_dead_time(np.ones((2, 5)) * 0.1, [0, 1], [1e-4, 1e-4])
    gain, dark = synth_camera()
    fields = synth_fields(gain, dark, 1.0)
    assert rate_noise(fields[2]) > 0


def test_ratio_full_inverse_is_exact_on_its_own_field_without_dark_offset():
    """Eq. 13's own assumption (no dark offset): the one-field calibration's full inverse
    must return the field's level at every pixel, whatever the gain (dead time 1)."""
    from calibration.correct import full_inverse
    from calibration.fit import calibrate
    from calibration.rates import FieldRates

    rng = np.random.default_rng(3)
    gain = rng.normal(1.0, 0.06, (16, 16))
    level, k = 335.0, 1 / 800
    rate = rate_from_charge(k * gain * level, 1.0)
    steps = 1_000_000
    counts = np.rint(rate * steps).astype(np.int64)
    field = FieldRates.from_counts(counts, steps)
    calib = calibrate([field], levels=[level], method="ratio", dead_time=1.0)
    recovered = full_inverse(field.rate, calib)
    assert np.abs(recovered / level - 1).max() < 1e-4
