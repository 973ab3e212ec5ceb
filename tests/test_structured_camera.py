"""Training data spanning white-noise and structured cameras (issue 16, item 1):
``camera_ranges``' structured style, its seed stream, and the default white cameras."""

import dataclasses

import numpy as np
import pytest

from spikesim import dataset as ds
from spikesim import settings
from spikesim.config import CameraProfile
from spikesim.dataset.draws import sample_camera
from spikesim.errors import ConfigError
from spikesim.fpn import draw_fixed_pattern
from spikesim.fpn_stats import fixed_pattern_stats

STRUCTURED = {"gain_column_sd": [0.0, 0.082], "gain_row_sd": [0.0, 0.052],
              "gain_shading_sd": [0.0, 0.016], "gain_sd": [0.0, 0.052],
              "structured_fraction": 0.75, "dark_log_sd": [0.3, 0.6],
              "hot_levels": [23.1, 380.0]}
TINY = {"name": "s", "width": 32, "height": 32, "steps": 192, "num": 4, "seed": 7}


def _draw(ranges, n=200, seed=5):
    cfg = ds.load_dataset_config({**TINY, "seed": seed, "camera_ranges": ranges})
    out = []
    for i in range(n):
        rng = np.random.default_rng(ds.sample_seed_sequence(cfg.seed, i, 0))
        out.append(sample_camera(cfg, rng, i))
    return cfg, out


def test_default_ranges_draw_white_noise_cameras():
    """Whatever the reference camera is, the default ranges draw the white-noise cameras
    of the public test set: no structure, dark log-s.d. 0.5, hot pixels at 80-300 lux,
    k relative to 1/800."""
    _, cams = _draw({})
    for profile, _ in cams:
        assert profile.gain_column_sd == profile.gain_row_sd == profile.gain_shading_sd == 0
        assert profile.dark_log_sd == 0.5
        assert (profile.hot_low, profile.hot_high) == (80.0, 300.0)
        assert 0.3 <= profile.k / settings.K_SCALE_REFERENCE <= 3.0
    assert settings.K_SCALE_REFERENCE == 1 / 800 != CameraProfile().k


def test_structured_ranges_span_both_kinds():
    """With structured_fraction 0.75 about three cameras in four get stripes (200 draws:
    s.e. 3 %), each part inside its range; the first seven draws are those of the default
    ranges (their own stream), so opting in changes nothing else."""
    _, white = _draw({})
    _, cams = _draw(STRUCTURED)
    striped = [p for p, _ in cams if p.gain_column_sd > 0]
    assert 0.6 <= len(striped) / len(cams) <= 0.9
    for (p, seed), (w, wseed) in zip(cams, white):
        assert seed == wseed
        for key in ("k", "gain_sd", "dark_median", "hot_fraction", "dead_fraction", "theta_sd",
                    "dead_time"):
            if key != "gain_sd":
                assert getattr(p, key) == getattr(w, key), key
        for key in ("gain_column_sd", "gain_row_sd", "gain_shading_sd", "gain_sd",
                    "dark_log_sd"):
            lo, hi = STRUCTURED[key]
            assert lo <= getattr(p, key) <= hi, key
        assert (p.hot_low, p.hot_high) == (23.1, 380.0)
    # a drawn structured camera measures as one
    p, seed = max(cams, key=lambda c: c[0].gain_column_sd)
    s = fixed_pattern_stats(draw_fixed_pattern(dataclasses.replace(p, width=256, height=128),
                                               seed))
    assert s["row_column_share_pct"] > 50


def test_structured_dataset_same_bytes_with_two_workers(tmp_path):
    cfg = {**TINY, "camera_ranges": STRUCTURED}
    ds.generate_dataset(cfg, tmp_path / "one")
    ds.generate_dataset(cfg, tmp_path / "two", workers=2)
    one = {str(p.relative_to(tmp_path / "one")): p.read_bytes()
           for p in sorted((tmp_path / "one").rglob("*")) if p.is_file()}
    two = {str(p.relative_to(tmp_path / "two")): p.read_bytes()
           for p in sorted((tmp_path / "two").rglob("*")) if p.is_file()}
    assert one == two


@pytest.mark.parametrize("ranges, where", [
    ({"gain_column_sd": [0.05, 0.01]}, "camera_ranges.gain_column_sd"),
    ({"gain_row_sd": [0.0, 0.3]}, "camera_ranges.gain_row_sd"),
    ({"structured_fraction": 1.5}, "camera_ranges.structured_fraction"),
    ({"hot_levels": [300.0, 80.0]}, "camera_ranges.hot_levels"),
])
def test_bad_structured_ranges(ranges, where):
    with pytest.raises(ConfigError, match=where.replace(".", r"\.")):
        ds.load_dataset_config({**TINY, "camera_ranges": ranges})
