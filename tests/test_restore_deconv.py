"""Deconvolution sanity checks (restore.deconv): the issue's item 3."""

import numpy as np
import pytest

from restore.deconv import (blur, deconvolve, gaussian_kernel, richardson_lucy,
                            sigma_map_blend, tuned, wiener)
from restore.metrics import psnr
from spikesim.errors import InputError
from tests.tolerances import tol


def _scene(rng, h=96, w=112):
    img = np.full((h, w), 0.3)
    for _ in range(10):
        y0, x0 = rng.integers(0, h - 8), rng.integers(0, w - 8)
        hh, ww = rng.integers(6, 40, 2)
        img[y0:y0 + hh, x0:x0 + ww] = rng.uniform(0.05, 1.0)
    return img


def test_psf_sums_to_one_and_is_symmetric():
    for s in (0.3, 1.0, 2.5, 7.0):
        k = gaussian_kernel(s)
        assert k.sum() == pytest.approx(1.0, abs=1e-12)
        np.testing.assert_array_equal(k, k[::-1, ::-1])
        np.testing.assert_array_equal(k, k.T)
    assert gaussian_kernel(0).shape == (1, 1)


def test_blur_matches_direct_convolution_of_the_symmetric_extension():
    """DCT-domain blur = direct 2-D convolution of numpy.pad(mode="symmetric"), everywhere."""
    rng = np.random.default_rng(3)
    img = rng.random((40, 50))
    k = gaussian_kernel(1.5)
    r = k.shape[0] // 2
    big = np.pad(img, r, mode="symmetric")
    direct = np.zeros_like(img)
    for y in range(40):
        for x in range(50):
            direct[y, x] = np.sum(big[y:y + 2 * r + 1, x:x + 2 * r + 1] * k)
    np.testing.assert_allclose(blur(img, 1.5), direct, atol=1e-12)


def _symmetric_source(n: int, r: int) -> np.ndarray:
    """Index of the pixel each entry of ``numpy.pad(a, r, mode="symmetric")`` copies."""
    j = np.arange(-r, n + r)
    return np.where(j < 0, -j - 1, np.where(j >= n, 2 * n - j - 1, j))


@pytest.mark.parametrize("sigma", [0.7, 1.5, 3.0])
def test_blur_passes_the_adjoint_test(sigma):
    """<A x, y> = <x, Aᵀ y> for random x, y, with ``A = blur`` (the DCT-domain operator)
    and ``Aᵀ`` built independently from the boundary handling the code states: the
    transpose of the direct convolution of the half-sample symmetric extension (the
    kernel's taps scattered onto the padded grid, then the padding folded back onto the
    pixels it copies). Aᵀ y also equals ``blur(y)``: the operator is symmetric, which
    Richardson–Lucy's correction step (``Kᵀ = K``) relies on."""
    rng = np.random.default_rng(11)
    h, w = 23, 31                               # non-square, larger than the kernel radius
    x, y = rng.standard_normal((h, w)), rng.standard_normal((h, w))
    k = gaussian_kernel(sigma)
    r = k.shape[0] // 2
    scattered = np.zeros((h + 2 * r, w + 2 * r))
    for a in range(2 * r + 1):
        for b in range(2 * r + 1):
            scattered[a:a + h, b:b + w] += k[a, b] * y
    adjoint_y = np.zeros((h, w))
    np.add.at(adjoint_y, (_symmetric_source(h, r)[:, None], _symmetric_source(w, r)[None, :]),
              scattered)
    np.testing.assert_allclose(np.vdot(blur(x, sigma), y), np.vdot(x, adjoint_y),
                               **tol(np.float64))
    np.testing.assert_allclose(blur(y, sigma), adjoint_y, **tol(np.float64))
    # Aᵀ 1 = 1: every pixel's light is spread, none lost (RL's flux conservation)
    np.testing.assert_allclose(blur(np.ones((h, w)), sigma), 1.0, **tol(np.float64))


@pytest.mark.parametrize("sigma", [1.0, 2.0, 4.0])
def test_wiener_with_true_sigma_raises_psnr(sigma):
    rng = np.random.default_rng(int(sigma * 10))
    sharp = _scene(rng)
    blurred = blur(sharp, sigma)
    restored = np.clip(wiener(blurred, sigma, nsr=1e-4), 0, 1)
    before, after = psnr(np.clip(blurred, 0, 1), sharp), psnr(restored, sharp)
    assert after > before + 3.0, (before, after)


@pytest.mark.parametrize("sigma", [1.0, 3.0])
def test_richardson_lucy_preserves_flux(sigma):
    rng = np.random.default_rng(5)
    y = blur(_scene(rng), sigma)
    assert y.sum() == pytest.approx(_scene(np.random.default_rng(5)).sum(), rel=1e-12)
    for it in (1, 5, 30):
        x = richardson_lucy(y, sigma, it).astype(np.float64)
        assert x.sum() == pytest.approx(y.sum(), rel=1e-6)   # float32 output
        assert x.min() >= 0


def test_richardson_lucy_sharpens():
    rng = np.random.default_rng(8)
    sharp = _scene(rng)
    y = blur(sharp, 2.0)
    assert psnr(np.clip(richardson_lucy(y, 2.0, 50), 0, 1), sharp) > psnr(y, sharp) + 2.0


def test_deconvolution_is_linear_in_scale():
    """Exposure scaling commutes with both deblurrings (the shared exposure step relies on it)."""
    rng = np.random.default_rng(9)
    y = blur(_scene(rng), 2.0)
    np.testing.assert_allclose(wiener(3.0 * y, 2.0, 0.01), 3.0 * wiener(y, 2.0, 0.01),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(richardson_lucy(3.0 * y, 2.0, 10),
                               3.0 * richardson_lucy(y, 2.0, 10), rtol=1e-4, atol=1e-5)


def test_sigma_zero_is_identity():
    img = np.random.default_rng(1).random((16, 16))
    np.testing.assert_allclose(wiener(img, 0.0, 0.01), img.astype(np.float32))
    np.testing.assert_allclose(richardson_lucy(img, 0.0, 10), img.astype(np.float32))


def test_sigma_map_blend_equals_single_deconvolution_for_a_constant_map():
    rng = np.random.default_rng(2)
    y = blur(_scene(rng), 2.0)
    smap = np.full(y.shape, 2.0)        # 2.0 is one of the levels
    np.testing.assert_allclose(sigma_map_blend(y, smap, "wiener", nsr=1e-3),
                               wiener(y, 2.0, 1e-3), atol=1e-6)
    # between levels: a convex combination of the bracketing results
    smap = np.full(y.shape, 2.5)
    mid = sigma_map_blend(y, smap, "wiener", nsr=1e-3)
    expect = 0.5 * wiener(y, 2.0, 1e-3) + 0.5 * wiener(y, 3.0, 1e-3)
    np.testing.assert_allclose(mid, expect, atol=1e-5)


def test_sigma_map_blend_beats_one_sigma_on_two_depths():
    """Left half blurred by 1 px, right half by 4 px: the map knows, one σ cannot."""
    rng = np.random.default_rng(4)
    sharp = _scene(rng, 96, 160)
    b1, b4 = blur(sharp, 1.0), blur(sharp, 4.0)
    y = b1.copy()
    y[:, 80:] = b4[:, 80:]
    smap = np.where(np.arange(160)[None, :] < 80, 1.0, 4.0) * np.ones((96, 1))
    ref = sharp[:, 8:-8]
    by_map = psnr(np.clip(sigma_map_blend(y, smap, "wiener", nsr=1e-3), 0, 1)[:, 8:-8], ref)
    for s in (1.0, 2.5, 4.0):
        one = psnr(np.clip(wiener(y, s, 1e-3), 0, 1)[:, 8:-8], ref)
        assert by_map > one, (s, by_map, one)


def test_tuned_picks_the_nearest_window():
    table = {192: 1, 64: 2, 32: 3}
    assert tuned(table, 192) == 1 and tuned(table, 100) == 2 and tuned(table, 20) == 3


def test_bad_parameters_are_input_errors():
    img = np.ones((16, 16))
    with pytest.raises(InputError, match="sigma"):
        wiener(img, -1.0, 0.01)
    with pytest.raises(InputError, match="nsr"):
        wiener(img, 1.0, 0.0)
    with pytest.raises(InputError, match="iterations"):
        richardson_lucy(img, 1.0, -2)
    with pytest.raises(InputError, match="deconvolution"):
        deconvolve(img, 1.0, "blind")
