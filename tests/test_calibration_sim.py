"""Calibration proven on simulated cameras (issue 4, items 1 and 2).

The camera is the reference profile of physics.md §4b simulated by ``spikesim.sensor``
(integrate-and-fire with threshold noise 0.01, dead time 1) with two changes, to keep
the suite fast and still meaningful: a **64x64** frame (not 400x250), and hot and dead
fractions raised to 0.2 % each so that the small frame holds planted defects of both
kinds (8 of each). Fields: 0, 153, 335 lux (RSIR's levels) and a held-out 250 lux, each
**20,000 steps**. The second camera is identical with dead time 0.

Thresholds are the issue's: gain median error <= 0.05 % (lsq, paper), offset median
error < 5 % of its spread, held-out residual <= 1.5 x the noise floor, every hot/dead
pixel flagged with <= 0.1 % false flags; on the dead-time-0 camera the paper misjudges
the gain by ~2 % while lsq (dead time estimated) stays within 0.1 %.
"""

import dataclasses

import numpy as np
import pytest

from calibration.fit import calibrate
from calibration.rates import measure_stream
from calibration.report import check_field, evaluate
from spikesim.camera import Camera
from spikesim.config import CameraProfile
from spikesim.fpn import draw_fixed_pattern

SIZE = 64
STEPS = 20_000
FIT_LEVELS = (0.0, 153.0, 335.0)
HELD_OUT = 250.0


def _camera(dead_time):
    # hot pixels at 80-300 lux, all far above the offsets: the reference camera's tail
    # starts at 3x the median offset, where no fit can tell a hot pixel from a bright one
    profile = dataclasses.replace(CameraProfile(), width=SIZE, height=SIZE, dead_time=dead_time,
                                  hot_fraction=0.002, dead_fraction=0.002, hot_low=80.0,
                                  hot_high=300.0)
    camera = Camera(profile, 11)
    fields = {}
    for i, level in enumerate(FIT_LEVELS + (HELD_OUT,)):
        stream = camera.capture(np.full((SIZE, SIZE), level, np.float32), STEPS, seed=200 + i)
        fields[level] = measure_stream(stream, source=f"field_{level:g}")
    return profile, camera.fpn, fields


@pytest.fixture(scope="module")
def ref_camera():
    return _camera(1)


@pytest.fixture(scope="module")
def zero_dead_time_camera():
    return _camera(0)


def _fit(camera, method):
    profile, fpn, fields = camera
    calib = calibrate([fields[v] for v in FIT_LEVELS], FIT_LEVELS, method=method)
    truth = (fpn, {"dead_time": profile.dead_time})
    return calib, evaluate(calib, truth), check_field(calib, fields[HELD_OUT], HELD_OUT)


@pytest.mark.parametrize("method", ["lsq", "paper"])
def test_reference_camera(ref_camera, method):
    calib, ev, chk = _fit(ref_camera, method)
    assert ev["gain_error_median_pct"] <= 0.05
    assert ev["offset_error_median_pct_of_spread"] < 5.0
    assert chk["nu_full_pct"] <= 1.5 * chk["floor_pct"]
    assert chk["nu_weight_pct"] > chk["nu_full_pct"]          # reported beside it
    assert abs(chk["level_bias_pct"]) < 0.1                    # the full inverse gives lux
    assert ev["hot_true"] == 8 and ev["dead_true"] == 8
    assert ev["hot_hits_same_reason"] == ev["hot_true"]
    assert ev["dead_hits_same_reason"] == ev["dead_true"]
    assert ev["false_flag_pct"] <= 0.1
    if method == "lsq":
        assert calib.dead_time == pytest.approx(1.0, abs=0.01)
        assert "estimated" in calib.meta["dead_time"]["source"]


def test_ratio_is_biased_by_the_offset(ref_camera):
    """Eq. 13 assumes response proportional to gain: the dark offset biases it."""
    profile, fpn, fields = ref_camera
    calib = calibrate([fields[335.0]], [335.0], method="ratio")
    ev = evaluate(calib, (fpn, {"dead_time": 1}))
    assert ev["gain_error_median_pct"] > 0.1
    assert ev["dead_hits"] == ev["dead_true"]      # one field cannot separate offset from gain


def test_zero_dead_time_camera(zero_dead_time_camera):
    paper, ev_p, chk_p = _fit(zero_dead_time_camera, "paper")
    lsq, ev_l, chk_l = _fit(zero_dead_time_camera, "lsq")
    assert 1.0 < ev_p["gain_error_median_pct"] < 4.0          # the issue: "about 2 %"
    assert chk_p["nu_full_pct"] > 0.3                          # "about 1 %" left
    assert ev_l["gain_error_median_pct"] <= 0.1
    assert lsq.dead_time == pytest.approx(0.0, abs=0.01)
    assert chk_l["nu_full_pct"] <= 1.5 * chk_l["floor_pct"]
    assert ev_l["false_flag_pct"] <= 0.1


def test_calibration_from_truth_is_what_the_fit_recovers(ref_camera):
    """``Calibration.from_truth`` (the oracle of evaluation) and ``spikecal fit`` on 20,000-
    step fields of the same camera agree within the fit's own uncertainty: the Eq. 14
    weight and Eq. 12 gamma to within 5x the gain uncertainty the fit reports from its
    two halves (max) and 1x (median), the defects exactly."""
    from calibration.calfile import Calibration
    from calibration.settings import DEFECT_DEAD, DEFECT_HOT
    from spikesim.fpn import truth_arrays

    profile, fpn, fields = ref_camera
    fit = calibrate([fields[v] for v in FIT_LEVELS], FIT_LEVELS)
    truth = Calibration.from_truth(truth_arrays(fpn, profile), fit.operating_level)
    np.testing.assert_array_equal(fit.defects & (DEFECT_DEAD | DEFECT_HOT), truth.defects)
    good = fit.good
    unc = fit.summary()["gain_uncertainty_pct"] / 100
    for key in ("gain", "gamma", "weight"):
        err = np.abs(getattr(fit, key)[good].astype(np.float64) - getattr(truth, key)[good])
        assert np.median(err) < unc and err.max() < 5 * unc, (key, np.median(err), err.max())
    assert truth.q_ref == 1 / profile.k and truth.dead_time == profile.dead_time
    assert fit.q_ref == pytest.approx(truth.q_ref, rel=1e-3)


def test_calibration_from_truth_weight_is_the_rate_ratio():
    """Eq. 14's weight is the ideal pixel's rate over the pixel's, ``r_ideal / r_p`` with
    ``r = λ / (1 + δλ)``: the spelling evaluation's oracle used before ``from_truth``
    (restore/evaluate.py at 247f85f); the stored float32 maps agree to float32 rounding."""
    from calibration.calfile import Calibration
    from spikesim.fpn import truth_arrays

    profile = dataclasses.replace(CameraProfile(), width=64, height=48, hot_fraction=0.01,
                                  dead_fraction=0.01)
    fpn = draw_fixed_pattern(profile, 5)
    level = 210.0
    cal = Calibration.from_truth(truth_arrays(fpn, profile), level)
    k, delta = profile.k, profile.dead_time
    g = np.where(cal.defects & 1, 1.0, fpn.gain.astype(np.float64))
    lam_p = k * g * (level + cal.offset.astype(np.float64))
    r_ideal, r_p = k * level / (1 + delta * k * level), lam_p / (1 + delta * lam_p)
    np.testing.assert_allclose(cal.weight, r_ideal / r_p, rtol=2e-7)
    np.testing.assert_allclose(cal.gamma, k * level / lam_p, rtol=2e-7)
    np.testing.assert_array_equal(cal.ratio, cal.weight)
    assert (cal.defects[fpn.dead] == 1).all() and (cal.defects[fpn.hot] == 2).all()
    dead_offsets = np.unique(cal.offset[fpn.dead])
    assert dead_offsets.size == 1 and (cal.gain[fpn.dead] == 1).all()
    assert dead_offsets[0] == np.float32(np.median(fpn.dark[~fpn.dead].astype(np.float64)))
