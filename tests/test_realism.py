"""Realism guard (issue 3, item 3): the default camera against a real capture.

Reference values are those published in ../shared/data/README.md for
``real/outdoor_fence.npz``: median ISI CV 0.047 / 0.084 / 0.129 in the rate bins
0.05-0.15 / 0.15-0.25 / 0.25-0.40 and a 20-step Fano factor of 0.038.
``bench/realism.py`` prints the full comparison.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from spikesim.config import CameraProfile

_SPEC = importlib.util.spec_from_file_location(
    "bench_realism", Path(__file__).resolve().parents[1] / "bench" / "realism.py")
realism = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(realism)


@pytest.fixture(scope="module")
def real(shared_data):
    return realism.load_real(shared_data / "real" / "outdoor_fence.npz")


def test_estimators_reproduce_the_published_statistics(real):
    """Our estimators on the real file agree with the README's numbers (within 7 %)."""
    assert real.shape == (500, 250, 400)
    cv = realism.binned_cv(real)
    np.testing.assert_allclose(cv, realism.REAL_CV, rtol=0.07)
    assert realism.fano(real) == pytest.approx(realism.REAL_FANO, rel=0.07)


def test_default_camera_matches_the_real_capture(real):
    result = realism.compare(real, CameraProfile(), seed=0)
    assert max(result["cv_rel_error"]) <= realism.CV_TOLERANCE, result
    assert realism.FANO_RANGE[0] <= result["sim_fano"] <= realism.FANO_RANGE[1], result
    assert result["sim_density"] == pytest.approx(result["real_density"], rel=0.02)
    assert realism.passes(result)


def test_per_step_poisson_would_fail(real):
    """The criteria discriminate: per-step Bernoulli firing at the same rates is rejected."""
    gen = np.random.default_rng(0)
    rate = real.mean(axis=0)
    poisson = (gen.random(real.shape) < rate[None]).astype(np.uint8)
    cv = realism.binned_cv(poisson)
    assert min(abs(c - r) / r for c, r in zip(cv, realism.REAL_CV)) > 1.0
    assert realism.fano(poisson) > realism.FANO_RANGE[1]
