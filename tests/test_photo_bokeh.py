"""photo_bokeh: a share of photograph samples whose sharp target keeps a photographic bokeh
(spikesim.dataset.bokeh), applied before the camera's optics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from spikesim import dataset as ds
from spikesim.dataset.bokeh import bokeh_sigma, photographic_bokeh
from spikesim.errors import ConfigError

SMALL = {"name": "bokeh-tiny", "width": 32, "height": 24, "steps": 192, "num": 6, "seed": 3,
         "stratified": True, "source": "images", "crop_scale": [0.5, 1.0],
         "depth_layouts": {"ramp": 1, "plane": 1}}


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory) -> Path:
    """Two 8-bit pictures of 60x90 px with hard edges (blocks of random grey)."""
    import imageio.v3 as iio

    d = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(1)
    for k in range(2):
        blocks = rng.random((6, 9))
        img = np.kron(blocks, np.ones((10, 10)))
        iio.imwrite(d / f"p{k}.png", np.round(20 + 220 * img).astype(np.uint8))
    return d


def _image(shape=(24, 32), seed=0):
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def test_zero_sigma_leaves_the_image_and_the_maximum_is_the_plain_blur():
    img = _image()
    assert np.array_equal(photographic_bokeh(img, np.zeros(img.shape)), img)
    full = photographic_bokeh(img, np.full(img.shape, 2.5))
    assert np.allclose(full, gaussian_filter(img, 2.5, mode="reflect"), atol=1e-6)


def test_a_pixel_on_a_level_is_that_level_and_between_levels_a_blend():
    """σ levels 0, 1, 2, 3 (levels=4, maximum 3): a pixel at σ 2 is the σ-2 blur exactly,
    one at σ 1.5 the mean of the σ-1 and σ-2 blurs; pixels at σ 0 are untouched."""
    img = _image(seed=4)
    sigma = np.zeros(img.shape)
    sigma[0, 0], sigma[5, 7], sigma[10, 3] = 3.0, 2.0, 1.5
    out = photographic_bokeh(img, sigma, levels=4)
    b1, b2 = (gaussian_filter(img, s, mode="reflect") for s in (1.0, 2.0))
    assert out[5, 7] == pytest.approx(b2[5, 7], abs=1e-6)
    assert out[10, 3] == pytest.approx(0.5 * (b1[10, 3] + b2[10, 3]), abs=1e-6)
    untouched = sigma == 0
    assert np.array_equal(out[untouched], img[untouched])


def test_colour_channels_are_blurred_apart():
    rgb = np.stack([_image(seed=s) for s in range(3)], axis=-1)
    sigma = np.linspace(0, 2, rgb.shape[0] * rgb.shape[1]).reshape(rgb.shape[:2])
    out = photographic_bokeh(rgb, sigma)
    for c in range(3):
        assert np.allclose(out[..., c], photographic_bokeh(rgb[..., c], sigma), atol=1e-6)


def test_bokeh_sigma_is_zero_at_the_focus_and_largest_farthest_in_dioptres():
    depth = np.array([[1.0, 2.0, 4.0, 8.0]])
    s = bokeh_sigma(depth, 2.0, 3.0)
    assert s[0, 1] == 0.0 and s.max() == pytest.approx(3.0)
    assert np.argmax(s) == 0                   # |1/1 - 1/2| = 0.5 beats |1/8 - 1/2| = 0.375
    assert np.all(bokeh_sigma(np.full((2, 2), 2.0), 2.0, 3.0) == 0.0)


@pytest.mark.parametrize("layout", ["ramp", "plane"])
def test_photo_bokeh_share_softens_targets_and_changes_nothing_else(photo_dir, layout):
    """photo_bokeh: 1 gives every photograph sample on a slanted depth a softer target
    (less gradient energy), recorded in sample.yaml; on a flat depth it stays sharp (the
    virtual lens is focused on the plane: largest σ 0). The crop, depth and camera are
    those of photo_bokeh: 0, which records nothing and equals a config without the key."""
    keys = {**SMALL, "image_dir": str(photo_dir), "depth_layouts": {layout: 1}}
    plain = ds.load_dataset_config(keys)
    none = ds.load_dataset_config({**keys, "photo_bokeh": 0.0})
    soft = ds.load_dataset_config({**keys, "photo_bokeh": 1.0, "photo_bokeh_sigma": [2.0, 3.0]})
    for i in range(3):
        a, n, b = (ds.SampleMaker(c).compute(i) for c in (plain, none, soft))
        assert np.array_equal(a.content.sharp, n.content.sharp) and "bokeh" not in a.params
        assert np.array_equal(a.content.depth, b.content.depth)
        assert a.params["crop"] == b.params["crop"] and a.params["camera"] == b.params["camera"]
        if layout == "plane":
            assert b.params["bokeh"]["sigma_max"] == 0.0
            assert np.array_equal(a.content.sharp, b.content.sharp)
            continue
        assert 2.0 <= b.params["bokeh"]["sigma_max"] <= 3.0

        def energy(x):
            x = np.asarray(x, np.float64)
            return float(np.mean(np.diff(x, axis=0) ** 2) + np.mean(np.diff(x, axis=1) ** 2))

        assert energy(b.content.sharp) < 0.9 * energy(a.content.sharp), i


def test_photo_bokeh_share_is_near_exact(photo_dir):
    """photo_bokeh: 0.25 picks 10 of 40 samples, give or take the shares' bound."""
    from spikesim.dataset.sources.images import _with_bokeh

    cfg = ds.load_dataset_config({**SMALL, "image_dir": str(photo_dir), "photo_bokeh": 0.25})
    depth = np.tile(1.0 + np.arange(32) / 32.0, (24, 1))
    heads = [{} for _ in range(40)]
    for i, head in enumerate(heads):
        _with_bokeh(cfg, i, _image(), depth, head)
    assert abs(sum("bokeh" in h for h in heads) - 10) <= 2


@pytest.mark.parametrize("keys, path", [
    ({"photo_bokeh": 1.5}, "photo_bokeh"),
    ({"photo_bokeh": -0.1}, "photo_bokeh"),
    ({"photo_bokeh_sigma": [3.0, 1.0]}, "photo_bokeh_sigma"),
    ({"photo_bokeh_sigma": [1.0]}, "photo_bokeh_sigma"),
    ({"photo_bokeh_sigma": [1.0, 50.0]}, "photo_bokeh_sigma[1]"),
])
def test_bad_photo_bokeh_keys_name_their_path(photo_dir, keys, path):
    with pytest.raises(ConfigError) as err:
        ds.load_dataset_config({**SMALL, "image_dir": str(photo_dir), **keys})
    assert path in str(err.value)


@pytest.mark.parametrize("sigma_max", [2.0, 4.0])
def test_a_bokeh_matches_the_camera_defocus_of_its_matching_lens(sigma_max):
    """``matching_lens`` gives the lens whose own defocus σ map is the bokeh's, and the
    photographic bokeh of that map approximates the lens's layered defocus (the basis of
    examples/bokeh_ambiguity.py: a soft picture seen in focus and the sharp picture seen
    through that lens reach the sensor alike). Borders aside, the two images differ by a
    small part of the blur's own effect (measured 0.12 and 0.15; 0.2 allowed), where a σ
    map off by a factor 1.5 gives 0.37 and 0.31 (0.27 required)."""
    from spikesim.dataset.bokeh import matching_lens
    from spikesim.render import render_defocus
    from spikesim.scenes import pink_noise

    h, w, pitch, focus = 64, 96, 20e-6, 1.2
    img = (0.5 + 0.15 * pink_noise(h, w, np.random.default_rng(1))).clip(0, 1).astype(np.float32)
    depth = np.broadcast_to(1.0 / np.linspace(1 / 0.4, 1 / 6.0, w), (h, w)).astype(np.float32)
    cam = render_defocus(img, depth, matching_lens(depth, focus, sigma_max, pitch), pitch)
    np.testing.assert_allclose(cam.sigma, bokeh_sigma(depth, focus, sigma_max), rtol=1e-5,
                               atol=1e-6)
    inner = (slice(8, -8), slice(8, -8))

    def rms(a):
        return float(np.sqrt(np.mean(a[inner] ** 2)))

    effect = rms(photographic_bokeh(img, cam.sigma) - img)
    assert rms(photographic_bokeh(img, cam.sigma) - cam.irradiance) < 0.2 * effect
    assert rms(photographic_bokeh(img, 1.5 * cam.sigma) - cam.irradiance) > 0.27 * effect
