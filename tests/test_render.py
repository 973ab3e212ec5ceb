"""Spatially varying defocus by layered compositing (physics.md §3)."""

import numpy as np
import pytest
from scipy import ndimage

from spikesim import settings
from spikesim.config import Lens
from spikesim.errors import InputError
from spikesim.optics import (coc_per_inverse_depth, coc_signed_px, gaussian_radius, psf_for,
                             sigma_px)
from spikesim.render import reference_render, render_defocus

PITCH = 20e-6
LENS = Lens()                                   # 25 mm f/2 focused at 1.5 m
# float32 rendering of values up to ~300 lux: relative agreement to a few float32 ulps of
# the largest value (separable float32 passes vs a float64 reference).
REL = 2e-6


def depth_for_coc(coc, lens=LENS):
    """Depth (m) whose signed blur diameter is ``coc`` px (inverting physics.md §2)."""
    scale = coc_per_inverse_depth(lens, PITCH)
    return 1.0 / (1.0 / lens.focus_distance - np.asarray(coc, np.float64) / scale)


@pytest.fixture
def texture():
    return (np.random.default_rng(1).random((40, 56)) * 300).astype(np.float32)


@pytest.mark.parametrize("coc", [0.0, -6.0, 10.0])
def test_uniform_depth_equals_one_gaussian_blur(texture, coc):
    """A scene at one depth is one Gaussian blur of sigma_px(c): compared with
    scipy.ndimage.gaussian_filter (same radius, reflect borders); tolerance REL·max."""
    depth = np.full(texture.shape, depth_for_coc(coc))
    out = render_defocus(texture, depth, LENS, PITCH)
    sigma = sigma_px(coc_signed_px(depth_for_coc(coc), LENS, PITCH), LENS.sigma_floor)
    ref = ndimage.gaussian_filter(texture.astype(np.float64), sigma, mode="reflect",
                                  radius=gaussian_radius(sigma))
    assert out.layers == 1
    np.testing.assert_allclose(out.irradiance, ref, rtol=0, atol=REL * texture.max())
    np.testing.assert_allclose(out.sigma, sigma, rtol=1e-6)


def test_uniform_depth_disk_equals_disk_convolution(texture):
    coc = 9.0
    lens = Lens(psf="disk")
    out = render_defocus(texture, depth_for_coc(coc), lens, PITCH)
    ref = ndimage.convolve(texture.astype(np.float64), psf_for(coc, lens), mode="reflect")
    # interior (border reflection of the two-stage disk+floor blur differs at the edge)
    m = 8
    np.testing.assert_allclose(out.irradiance[m:-m, m:-m], ref[m:-m, m:-m], rtol=0,
                               atol=1e-5 * texture.max())


@pytest.mark.parametrize("psf", ["gaussian", "disk"])
def test_fast_cropped_layers_match_full_frame_reference(texture, psf):
    """The cropped, separable compositing equals the slow full-frame 2-D reference."""
    H, W = texture.shape
    coc = np.linspace(-9, 5, W)[None, :].repeat(H, 0)
    coc[10:25, 15:35] = -12.0                             # a near occluder
    depth = depth_for_coc(coc)
    lens = Lens(psf=psf)
    fast = render_defocus(texture, depth, lens, PITCH)
    slow = reference_render(texture, depth, lens, PITCH)
    assert fast.layers > 10
    np.testing.assert_allclose(fast.irradiance, slow, rtol=0, atol=1e-5 * texture.max())


def test_layer_count_follows_sigma_spread():
    """One layer per settings.LAYER_SIGMA_STEP px of sigma: a ramp from c = 0 to -24 px
    (sigma 0 -> 6 px of defocus) needs 6 / 0.25 = 24 layers."""
    coc = np.linspace(0, -24, 64)[None, :].repeat(8, 0)
    out = render_defocus(np.ones(coc.shape, np.float32), depth_for_coc(coc), LENS, PITCH)
    assert out.layers == round(6 / settings.LAYER_SIGMA_STEP) == 24


def test_continuous_ramp_has_no_seams():
    """A uniformly lit continuous surface (depth ramp across many layers) must render
    uniformly: without coverage normalisation each layer boundary would be ~25 % dark."""
    H, W = 32, 200
    coc = np.linspace(-24, 10, W)[None, :].repeat(H, 0)
    flat = np.full((H, W), 200.0, np.float32)
    out = render_defocus(flat, depth_for_coc(coc), LENS, PITCH)
    assert out.layers > 30
    np.testing.assert_allclose(out.irradiance, 200.0, rtol=1e-5)


def _two_planes(near_coc, far_coc, bright_near):
    """Left half near (bright or dark), right half far; returns E, depth, boundary col."""
    H, W, b = 16, 80, 40
    E = np.full((H, W), 50.0, np.float32)
    if bright_near:
        E[:, :b] = 250.0
    else:
        E[:, b:] = 250.0
    depth = np.empty((H, W))
    depth[:, :b] = depth_for_coc(near_coc)
    depth[:, b:] = depth_for_coc(far_coc)
    return E, depth, b


def test_blurred_near_plane_spreads_over_sharp_far_plane():
    E, depth, b = _two_planes(near_coc=-16.0, far_coc=0.0, bright_near=True)
    assert depth[0, 0] < depth[0, -1]
    out = render_defocus(E, depth, LENS, PITCH).irradiance
    row = out[8]
    # the far (dark) side next to the boundary is lit by the near plane's blur ...
    assert row[b] > 50.0 + 40.0 and row[b + 2] > 50.0 + 10.0
    # ... up to the blur's reach (4 sigma = 16 px) and not beyond
    reach = gaussian_radius(sigma_px(16.0, LENS.sigma_floor))
    np.testing.assert_allclose(row[b + reach + 1:], 50.0, rtol=1e-5)


def test_blurred_far_plane_never_spreads_over_sharp_near_plane():
    E, depth, b = _two_planes(near_coc=0.0, far_coc=10.0, bright_near=False)
    out = render_defocus(E, depth, LENS, PITCH).irradiance
    row = out[8]
    floor_reach = gaussian_radius(LENS.sigma_floor)
    # the sharp near (dark) plane stays exactly as it was beyond its own in-focus floor
    np.testing.assert_allclose(row[:b - floor_reach], 50.0, rtol=1e-5)
    # and the bright far plane does not leak into it: at the edge the near plane is no
    # brighter than with both planes in focus (only the in-focus floor mixes them)
    in_focus = render_defocus(E, LENS.focus_distance, LENS, PITCH).irradiance[8]
    assert row[b - 1] <= in_focus[b - 1] + 1e-3
    assert row[b - 2] < 50.5
    # the far plane, blurred behind the occluder, keeps its own level (normalised)
    np.testing.assert_allclose(row[b + floor_reach:], 250.0, rtol=1e-4)


def test_scalar_depth_and_outputs_shapes(texture):
    out = render_defocus(texture, 3.0, LENS, PITCH)
    assert out.irradiance.shape == out.sigma.shape == out.coc.shape == texture.shape
    assert out.irradiance.dtype == out.sigma.dtype == out.coc.dtype == np.float32
    assert out.coc[0, 0] == pytest.approx(coc_signed_px(3.0, LENS, PITCH), rel=1e-6)


def test_blur_conserves_energy_away_from_borders():
    E = np.zeros((64, 64), np.float32)
    E[28:36, 28:36] = 100.0
    coc = np.full(E.shape, -8.0)
    coc[:, 32:] = 6.0
    out = render_defocus(E, depth_for_coc(coc), LENS, PITCH).irradiance
    assert out.sum() == pytest.approx(E.sum(), rel=0.05)


@pytest.mark.parametrize("irr, depth, param", [
    (np.ones((8, 8)), np.ones((8, 9)), "depth"),
    (np.ones((8, 8)), np.full((8, 8), np.nan), "depth"),
    (np.ones((8, 8)), -np.ones((8, 8)), "depth"),
    (np.ones((8, 8)), np.zeros((8, 8)), "depth"),
    (-np.ones((8, 8)), np.ones((8, 8)), "irradiance"),
    (np.full((8, 8), np.nan), np.ones((8, 8)), "irradiance"),
    (np.ones((3, 8, 8)), np.ones((8, 8)), "irradiance"),
])
def test_bad_inputs_are_refused(irr, depth, param):
    with pytest.raises(InputError) as exc:
        render_defocus(irr, depth, LENS, PITCH)
    assert exc.value.param == param


def test_bad_lens_and_psf_are_refused():
    with pytest.raises(InputError) as exc:
        render_defocus(np.ones((8, 8)), 2.0, Lens(f_number=0.0), PITCH)
    assert exc.value.param == "lens.f_number"
    with pytest.raises(InputError) as exc:
        render_defocus(np.ones((8, 8)), 2.0, LENS, PITCH, psf="airy")
    assert exc.value.param == "psf"


def test_focus_sweep_is_sharpest_at_the_scene_depth(texture):
    """Key frames of a focus sweep over a scene at 2 m: the frame focused at 2 m keeps the
    most contrast, and each frame equals a plain render at its focus distance."""
    import dataclasses

    from spikesim.timevary import focus_sweep, video_key_frames

    img = texture / texture.max()
    frames = focus_sweep(img, np.full(img.shape, 2.0), LENS, PITCH, 300.0, [0.8, 2.0, 6.0])
    assert frames.shape == (3,) + img.shape and frames.dtype == np.float32
    contrast = frames.std(axis=(1, 2))
    assert contrast.argmax() == 1
    one = render_defocus(img * np.float32(300.0), 2.0,
                         dataclasses.replace(LENS, focus_distance=6.0), PITCH)
    np.testing.assert_array_equal(frames[2], one.irradiance)
    video = video_key_frames(np.stack([img, img[::-1]]), np.full(img.shape, 2.0), LENS, PITCH,
                             300.0)
    assert video.shape == (2,) + img.shape
    with pytest.raises(InputError) as exc:
        focus_sweep(img, 2.0, LENS, PITCH, 300.0, [1.0, 0.01])
    assert exc.value.param == "focus_distances[1]"
