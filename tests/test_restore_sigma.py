"""The σ estimator (restore.sigma_estimate) recovers known blurs: the stated accuracy.

Stated in the module docstring and docs/results.md: on piecewise-constant scenes
blurred with σ in 0.5-5 px the median-of-edges estimate is within 12 % (+0.1 px)
noise-free, and within 20 % (+0.15 px) with additive noise of 1 % of the contrast
range; at σ = 8 px within 20 % noise-free.
"""

import numpy as np
import pytest

from restore.deconv import blur
from restore.sigma_estimate import estimate_sigma, ratio_table


def _scene(rng, h=128, w=160):
    img = np.full((h, w), 0.3)
    for _ in range(12):
        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        hh, ww = rng.integers(10, 50, 2)
        img[y0:y0 + hh, x0:x0 + ww] = rng.uniform(0.05, 1.0)
    return img


def test_ratio_table_is_monotonic():
    sig, rat = ratio_table()
    assert np.all(np.diff(rat[sig >= 0.3]) < 0)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0, 3.0, 5.0])
def test_recovers_known_sigma(sigma):
    rng = np.random.default_rng(int(sigma * 100))
    for _ in range(2):
        img = blur(_scene(rng), sigma)
        est = estimate_sigma(img)
        assert abs(est - sigma) <= 0.12 * sigma + 0.1, (sigma, est)
        noisy = img + 0.01 * 0.95 * rng.standard_normal(img.shape)
        est_n = estimate_sigma(noisy)
        assert abs(est_n - sigma) <= 0.20 * sigma + 0.15, (sigma, est_n)


def test_large_sigma_within_twenty_percent():
    rng = np.random.default_rng(800)
    est = estimate_sigma(blur(_scene(rng, 192, 240), 8.0))
    assert abs(est - 8.0) <= 0.2 * 8.0


def test_scale_invariant_and_flat_image():
    rng = np.random.default_rng(7)
    img = blur(_scene(rng), 2.0)
    # equal up to ties in the non-maximum suppression that rounding can flip
    assert estimate_sigma(5.0 * img) == pytest.approx(estimate_sigma(img), abs=1e-3)
    assert estimate_sigma(np.full((32, 32), 0.4)) == 0.0
