"""Thin-lens optics (physics.md §2): circle of confusion and PSFs."""

import math

import numpy as np
import pytest

from spikesim.config import Lens
from spikesim.errors import InputError
from spikesim.optics import (coc_signed_px, disk_psf, gaussian_psf, image_distance, psf_for,
                             sensor_distance, sigma_px)
from tests.tolerances import tol

PITCH = 20e-6
LENS = Lens()            # reference lens: 25 mm, f/2, focused at 1.5 m


def test_coc_matches_closed_form_value():
    """Hand computation (physics.md §2): f = 25 mm, N = 2 -> A = 12.5 mm;
    v_f = 0.025*1.5/1.475 = 0.02542373 m; at s = 3 m,
    c = A v_f (1/1.5 - 1/3) / 20 µm = 0.0125 * 0.02542373 * 0.333333 / 20e-6 = 5.29661 px."""
    assert coc_signed_px(3.0, LENS, PITCH) == pytest.approx(5.29661, abs=1e-5)


@pytest.mark.parametrize("depth", [0.3, 0.8, 1.2, 2.0, 5.0, 20.0])
def test_coc_equals_geometric_form(depth):
    """The signed formula equals the paper's geometric form A |v - v_f| / v (independent
    route through both image distances), with the sign of (s - s_f)."""
    v = image_distance(depth, LENS.focal_length)
    vf = sensor_distance(LENS)
    geometric = LENS.aperture * abs(v - vf) / v / PITCH
    c = coc_signed_px(depth, LENS, PITCH)
    assert abs(c) == pytest.approx(geometric, rel=1e-9)
    assert math.copysign(1.0, c) == math.copysign(1.0, depth - LENS.focus_distance)


def test_coc_zero_at_focus_and_changes_sign():
    assert coc_signed_px(LENS.focus_distance, LENS, PITCH) == pytest.approx(0.0, abs=1e-12)
    depths = np.array([1.0, 1.4, 1.49, 1.51, 1.6, 3.0])
    c = coc_signed_px(depths, LENS, PITCH)
    assert c.dtype == np.float32
    assert (c[:3] < 0).all() and (c[3:] > 0).all()
    assert (np.diff(c) > 0).all()          # farther -> larger signed blur


def test_coc_linear_in_inverse_depth():
    u = np.linspace(1 / 20, 1 / 0.3, 41)
    c = coc_signed_px(1 / u, LENS, PITCH).astype(np.float64)
    slope = np.diff(c) / np.diff(u)
    np.testing.assert_allclose(slope, slope[0], rtol=1e-5)    # float32 output
    # slope is -A v_f / p
    assert slope[0] == pytest.approx(-LENS.aperture * sensor_distance(LENS) / PITCH, rel=1e-5)


def test_sigma_px_quadrature():
    assert sigma_px(0.0, 0.5) == pytest.approx(0.5)
    assert sigma_px(-8.0, 0.0) == pytest.approx(2.0)          # |c| / 4, sign ignored
    assert sigma_px(12.0, 0.5) == pytest.approx(math.sqrt(9 + 0.25))
    s = sigma_px(np.array([-4.0, 4.0]), 1.0)
    assert s[0] == s[1] == pytest.approx(math.sqrt(2))


@pytest.mark.parametrize("sigma", [0.0, 0.3, 0.5, 1.0, 2.7, 6.0])
def test_gaussian_psf_sums_to_one_and_has_its_variance(sigma):
    k = gaussian_psf(sigma)
    np.testing.assert_allclose(k.sum(), 1.0, **tol(np.float64))
    assert k.shape[0] % 2 == 1 and k.shape[0] == k.shape[1]
    np.testing.assert_allclose(k, k.T, **tol(np.float64))
    if sigma >= 1.0:                      # a well-sampled Gaussian keeps its second moment
        r = k.shape[0] // 2
        x = np.arange(-r, r + 1)
        var = (k.sum(axis=0) * x ** 2).sum()
        assert var == pytest.approx(sigma ** 2, rel=2e-3)


@pytest.mark.parametrize("diameter", [0.0, 0.5, 1.0, 3.3, 8.0, 24.0])
def test_disk_psf_sums_to_one(diameter):
    k = disk_psf(diameter)
    np.testing.assert_allclose(k.sum(), 1.0, **tol(np.float64))
    assert (k >= 0).all()
    np.testing.assert_allclose(k, k[::-1, ::-1], **tol(np.float64))


def test_disk_second_moment_matches_gaussian_sigma():
    """σ = |c|/4 is the second-moment match of a uniform disk of diameter c: the variance
    per axis of a disk of radius R is R²/4 (plus 1/12 px² of pixel integration)."""
    d = 24.0
    k = disk_psf(d)
    r = k.shape[0] // 2
    x = np.arange(-r, r + 1)
    var = (k.sum(axis=0) * x ** 2).sum()
    assert math.sqrt(var) == pytest.approx(d / 4, rel=1e-2)


@pytest.mark.parametrize("psf", ["gaussian", "disk"])
@pytest.mark.parametrize("coc", [-10.0, 0.0, 3.0])
def test_lens_psf_sums_to_one(psf, coc):
    lens = Lens(psf=psf)
    np.testing.assert_allclose(psf_for(coc, lens).sum(), 1.0, **tol(np.float64))


@pytest.mark.parametrize("lens, param", [
    (Lens(focal_length=0.05, focus_distance=0.04), "lens.focus_distance"),
    (Lens(focus_distance=0.025), "lens.focus_distance"),
    (Lens(f_number=0.0), "lens.f_number"),
    (Lens(f_number=-2.0), "lens.f_number"),
    (Lens(focal_length=float("nan")), "lens.focal_length"),
    (Lens(sigma_floor=-1.0), "lens.sigma_floor"),
])
def test_bad_lens_is_refused(lens, param):
    with pytest.raises(InputError) as exc:
        coc_signed_px(2.0, lens, PITCH)
    assert exc.value.param == param


@pytest.mark.parametrize("depth", [float("nan"), -1.0, 0.0, np.array([1.0, np.inf]),
                                   np.array([2.0, -0.5]), 0.01])
def test_bad_depth_is_refused(depth):
    with pytest.raises(InputError) as exc:
        coc_signed_px(depth, LENS, PITCH)
    assert exc.value.param == "depth"


@pytest.mark.parametrize("pitch", [0.0, -20e-6, float("nan"), 20.0])
def test_bad_pixel_pitch_is_refused(pitch):
    with pytest.raises(InputError) as exc:
        coc_signed_px(2.0, LENS, pitch)
    assert exc.value.param == "pixel_pitch"
