"""Statistics of a fixed pattern (spikesim.fpn_stats, issue 16 item 3) and the reference
camera judged by them, from its truth and from a ``spikecal fit`` of its uniform fields."""

import dataclasses

import numpy as np
import pytest

from calibration.fit import calibrate
from calibration.rates import measure_stream
from calibration.report import calibration_pattern_stats
from spikesim.camera import Camera
from spikesim.config import CameraProfile
from spikesim.errors import InputError
from spikesim.fpn import draw_fixed_pattern
from spikesim.fpn_stats import (dark_stats, fixed_pattern_stats, gain_stats,
                                neighbour_correlation, pattern_lines)
from spikesim.uniform import uniform_fields

H, W = 500, 800


def _stripes(seed, col, row, pix):
    gen = np.random.default_rng(seed)
    return (1.0 + gen.normal(0, col, W)[None, :] + gen.normal(0, row, H)[:, None]
            + gen.normal(0, pix, (H, W)))


def test_white_noise_has_no_structure():
    """A 4 % white gain: column and row parts are the white part averaged over a column
    (s.d./sqrt(H)) and a row (s.d./sqrt(W)), the neighbour correlation is ~0 (s.e.
    1/sqrt(N) = 0.0016 here; bound 5 s.e.)."""
    s = gain_stats(_stripes(0, 0, 0, 0.04), np.ones((H, W), bool))
    assert s["rel_sd_pct"] == pytest.approx(4.0, rel=0.01)
    assert s["column_sd_pct"] == pytest.approx(4.0 / np.sqrt(H), rel=0.15)
    assert s["row_sd_pct"] == pytest.approx(4.0 / np.sqrt(W), rel=0.15)
    assert s["pixel_share_pct"] > 98
    for key in ("neighbour_corr", "neighbour_corr_16"):
        assert abs(s[key]) < 0.008


def test_stripes_are_measured_with_their_sizes_and_correlation():
    """Known column (4 %, 800 values: s.e. 2.5 %), row (2.6 %, 500 values: 3.2 %) and white
    (2.6 %) parts; the neighbour correlation of stripes is the same at 1 and 16 px and
    equals (C + R) / 2 / sqrt(T (T + (C + R) / 2) / 4) with the sample variances."""
    g = _stripes(1, 0.04, 0.026, 0.026)
    s = gain_stats(g, np.ones((H, W), bool))
    assert s["column_sd_pct"] == pytest.approx(4.0, rel=5 * 0.025)
    assert s["row_sd_pct"] == pytest.approx(2.6, rel=5 * 0.032)
    assert s["pixel_sd_pct"] == pytest.approx(2.6, rel=0.02)
    assert s["smooth_share_pct"] < 0.5
    c, r = s["column_sd_pct"] ** 2, s["row_sd_pct"] ** 2
    t = c + r + s["pixel_sd_pct"] ** 2 + s["smooth_sd_pct"] ** 2
    assert s["row_column_share_pct"] == pytest.approx(100 * (c + r) / t, rel=0.01)
    expected = (c + r) / 2 / np.sqrt(t * (t + (c + r) / 2) / 4)
    assert s["neighbour_corr"] == pytest.approx(expected, abs=0.01)
    assert s["neighbour_corr_16"] == pytest.approx(expected, abs=0.01)


def test_masked_pixels_do_not_count():
    g = _stripes(2, 0.03, 0.02, 0.02)
    good = np.random.default_rng(3).random((H, W)) > 0.01
    spoiled = np.where(good, g, 50.0)
    a, b = gain_stats(g, good), gain_stats(spoiled, good)
    for key in a:
        assert a[key] == pytest.approx(b[key], rel=1e-9, abs=1e-12), key
    assert neighbour_correlation(spoiled, good, 1) == pytest.approx(a["neighbour_corr"])


def test_dark_figures():
    """Median, spread of the body (<= 3x the median), the tail with pixels of unknown
    offset added, its maximum; a white dark offset has no neighbour correlation."""
    gen = np.random.default_rng(4)
    dark = 10.0 * np.exp(0.3 * gen.standard_normal((H, W)))
    known = np.ones((H, W), bool)
    tail = gen.permutation(H * W)[:400]
    dark.ravel()[tail] = 200.0
    known.ravel()[tail[:100]] = False                 # 100 tail pixels of unknown offset
    s = dark_stats(dark, known, hot_unknown=100)
    body = dark[known & (dark <= 3 * s["dark_median"])]
    assert s["dark_median"] == np.median(dark[known])
    assert s["dark_spread_pct"] == pytest.approx(100 * body.std() / s["dark_median"])
    above = (known & (dark > 3 * s["dark_median"])).sum()
    assert above >= 300
    assert s["dark_tail_pct"] == pytest.approx(100 * (above + 100) / (known.sum() + 100))
    assert s["dark_max"] == 200.0 and abs(s["dark_neighbour_corr"]) < 0.01


def test_bad_maps():
    with pytest.raises(InputError, match="good"):
        gain_stats(np.ones((4, 4)), np.zeros((4, 4), bool))
    with pytest.raises(InputError, match="good"):
        gain_stats(np.ones((4, 4)), np.ones((4, 5), bool))
    with pytest.raises(InputError, match="gain"):
        gain_stats(np.ones(16), np.ones(16, bool))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reference_camera_is_judged_by_its_truth(seed):
    """Issue 16's criteria on the reference camera's true maps (400x250)."""
    s = fixed_pattern_stats(draw_fixed_pattern(CameraProfile(), seed))
    assert 5.0 <= s["rel_sd_pct"] <= 6.5
    assert s["row_column_share_pct"] >= 60
    assert s["neighbour_corr"] >= 0.6 and s["neighbour_corr_16"] >= 0.6
    assert abs(s["dark_neighbour_corr"]) < 0.1
    assert s["dark_median"] == pytest.approx(7.7, rel=0.02)
    assert s["dark_spread_pct"] == pytest.approx(45, abs=2)
    assert s["dark_tail_pct"] == pytest.approx(0.7, abs=0.1)
    assert 300 <= s["dark_max"] <= 380
    assert len(pattern_lines(s)) == 4


def test_truth_and_fit_agree():
    """Uniform fields (0, 153, 335 lux, 2,000 steps) of the reference camera, fitted by
    ``spikecal fit``'s solver: every figure in % within 0.5 percentage points of the truth's,
    correlations within 0.02 (the fit adds its per-pixel noise, 0.3 % here)."""
    camera = Camera(CameraProfile(), 0)
    fields = [measure_stream(f.stream) for f in uniform_fields(camera, (0, 153, 335), 2000, 1)]
    fit = calibration_pattern_stats(calibrate(fields, [0.0, 153.0, 335.0]))
    true = fixed_pattern_stats(camera.fpn)
    for key in ("rel_sd_pct", "column_sd_pct", "row_sd_pct", "smooth_sd_pct", "pixel_sd_pct",
                "column_share_pct", "row_share_pct", "row_column_share_pct", "pixel_share_pct",
                "dark_spread_pct", "dark_tail_pct"):
        assert fit[key] == pytest.approx(true[key], abs=0.5), key
    for key in ("neighbour_corr", "neighbour_corr_16", "dark_neighbour_corr"):
        assert fit[key] == pytest.approx(true[key], abs=0.02), key
    assert fit["dark_median"] == pytest.approx(true["dark_median"], rel=0.01)


def test_white_cameras_stay_white():
    """A camera with the structured parts at 0 (the datasets' default ranges) measures as
    white noise: row + column share below 2 %, neighbour correlation ~0."""
    p = dataclasses.replace(CameraProfile(), gain_column_sd=0.0, gain_row_sd=0.0,
                            gain_shading_sd=0.0, gain_sd=0.04)
    s = fixed_pattern_stats(draw_fixed_pattern(p, 0))
    assert s["row_column_share_pct"] < 2 and abs(s["neighbour_corr"]) < 0.02


def test_spikecal_show_prints_the_shares_and_the_report_draws_the_parts(tmp_path):
    """What a camera engineer reads first, through the CLI: the column/row shares of the
    fitted gain (text and --json) and cal_pattern.png in the report."""
    import json

    import imageio.v3 as iio
    from click.testing import CliRunner

    from cli.spikecal_cli import main as spikecal

    camera = Camera(dataclasses.replace(CameraProfile(), width=64, height=48), 1)
    fields = [measure_stream(f.stream) for f in uniform_fields(camera, (0, 153, 335), 1000, 1)]
    calib = calibrate(fields, [0.0, 153.0, 335.0])
    path = calib.save(tmp_path / "cam.npz")
    res = CliRunner().invoke(spikecal, ["show", str(path), "--report", str(tmp_path / "rep")])
    assert res.exit_code == 0, res.output
    stats = calibration_pattern_stats(calib)
    assert f"(row + column {stats['row_column_share_pct']:.1f} %)" in res.output
    assert "gain neighbour correlation" in res.output and "dark offset: median" in res.output
    picture = iio.imread(tmp_path / "rep" / "cal_pattern.png")
    assert picture.shape[1] >= 2 * 64 and picture.ndim == 3
    res = CliRunner().invoke(spikecal, ["show", str(path), "--json"])
    shown = json.loads(res.output)["pattern"]
    assert shown["row_column_share_pct"] == pytest.approx(stats["row_column_share_pct"])
