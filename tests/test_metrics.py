"""PSNR and SSIM (restore.metrics) against scikit-image, the test-only reference.

Reference: scikit-image 0.26 ``structural_similarity(a, b, gaussian_weights=True,
sigma=1.5, use_sample_covariance=False, data_range=1)`` — Wang et al. 2004's
settings — and ``peak_signal_noise_ratio(..., data_range=1)``.
"""

import numpy as np
import pytest

from restore.metrics import gaussian_window_1d, psnr, ssim
from spikesim.errors import InputError

skm = pytest.importorskip("skimage.metrics", reason="scikit-image is the test-only reference")

TOL = 1e-4   # the agreement bound


def _sk_ssim(a, b):
    return skm.structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False, data_range=1.0)


def _pairs():
    rng = np.random.default_rng(12)
    a = rng.random((48, 64))
    yield "random", a, np.clip(a + 0.1 * rng.standard_normal(a.shape), 0, 1)
    y, x = np.mgrid[0:96, 0:128] / 16.0
    stripes = 0.5 + 0.5 * np.sin(x * 2.0) * np.cos(y * 0.7)
    yield "structured", stripes, np.clip(0.8 * stripes + 0.05, 0, 1)
    edges = np.zeros((64, 80))
    edges[16:48, 20:60] = 0.9
    edges[30:34, :] = 0.3
    shifted = np.roll(edges, 1, axis=1)
    yield "edges", edges, shifted
    yield "constant-vs-ramp", np.full((40, 40), 0.5), np.tile(np.linspace(0, 1, 40), (40, 1))


@pytest.mark.parametrize("name,a,b", list(_pairs()), ids=lambda v: v if isinstance(v, str) else "")
def test_ssim_matches_scikit_image(name, a, b):
    assert abs(ssim(a, b) - _sk_ssim(a, b)) < TOL
    assert abs(ssim(b, a) - _sk_ssim(b, a)) < TOL


@pytest.mark.parametrize("name,a,b", list(_pairs()), ids=lambda v: v if isinstance(v, str) else "")
def test_psnr_matches_scikit_image(name, a, b):
    assert abs(psnr(a, b) - skm.peak_signal_noise_ratio(b, a, data_range=1.0)) < TOL


def test_identity_and_known_psnr():
    rng = np.random.default_rng(0)
    a = rng.random((32, 32))
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    assert psnr(a, a) == float("inf")
    # a uniform error of 0.1 gives MSE 0.01, i.e. exactly 20 dB
    assert psnr(np.full((16, 16), 0.4), np.full((16, 16), 0.5)) == pytest.approx(20.0, abs=1e-9)


def test_window_is_wang_2004():
    w = gaussian_window_1d()
    assert w.size == 11 and w.sum() == pytest.approx(1.0)
    assert w[5] / w[4] == pytest.approx(np.exp(0.5 / 1.5 ** 2))


def test_bad_shapes_are_input_errors():
    with pytest.raises(InputError, match="shape"):
        ssim(np.zeros((20, 20)), np.zeros((20, 21)))
    with pytest.raises(InputError, match="11"):
        ssim(np.zeros((8, 20)), np.zeros((8, 20)))
    with pytest.raises(InputError):
        psnr(np.full((4, 4), np.nan), np.zeros((4, 4)))
