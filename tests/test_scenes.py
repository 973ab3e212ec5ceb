"""Procedural scenes: ranges, determinism, dead-leaves statistics and occlusion, natural
spectra (despike.md "Training data")."""

import numpy as np
import pytest

from spikesim import scenes, settings
from spikesim.errors import InputError
from spikesim.scenes import SCENE_KINDS, make_scene, pink_noise

H, W = 48, 64


@pytest.mark.parametrize("kind", SCENE_KINDS)
def test_scene_ranges_and_determinism(kind):
    a = make_scene(kind, H, W, np.random.default_rng(3))
    b = make_scene(kind, H, W, np.random.default_rng(3))
    c = make_scene(kind, H, W, np.random.default_rng(4))
    assert a.image.shape == a.depth.shape == (H, W)
    assert a.image.dtype == a.depth.dtype == np.float32
    assert np.isfinite(a.image).all() and a.image.min() >= 0 and a.image.max() <= 1
    assert a.image.max() > 0.05                      # not black
    assert a.depth.min() >= settings.DEPTH_MIN_M and a.depth.max() <= settings.DEPTH_MAX_M
    assert a.kind in SCENE_KINDS and a.kind != "random"
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.depth, b.depth)
    assert not np.array_equal(a.image, c.image)


def test_random_kind_mixes_kinds():
    kinds = {make_scene("random", 24, 32, np.random.default_rng(s)).kind for s in range(30)}
    assert len(kinds) >= 4


def test_depth_range_is_respected():
    for kind in ("dead_leaves", "tiled_plane", "grille", "text", "smooth", "bricks"):
        s = make_scene(kind, H, W, np.random.default_rng(0), depth_range=(0.5, 4.0))
        assert s.depth.min() >= 0.5 * (1 - 1e-6) and s.depth.max() <= 4.0 * (1 + 1e-6), kind


def test_leaf_radii_follow_inverse_cube_density():
    """Density ∝ r^-3 on [1, 100]: counts per log-spaced bin ∝ r^-2, i.e. each decade
    holds 100x fewer leaves than the one before (here within 10 %)."""
    r = scenes._sample_radii(np.random.default_rng(0), 400_000, 1.0, 100.0)
    assert r.min() >= 1.0 and r.max() <= 100.0
    counts = np.histogram(r, bins=[1, 10, 100])[0]
    assert counts[0] / counts[1] == pytest.approx(100.0, rel=0.1)
    # closed form of the CDF at r = 2: (1 - 2^-2) / (1 - 100^-2)
    assert (r <= 2).mean() == pytest.approx(0.75 / (1 - 1e-4), abs=3e-3)


def test_dead_leaves_depth_is_consistent_with_occlusion():
    """The leaf seen at a pixel is the nearest of all leaves whose shape covers it, and
    leaf depth grows with placement order (leaf 0 is the nearest)."""
    seed = 7
    scene = make_scene("dead_leaves", H, W, np.random.default_rng(seed))
    rng = np.random.default_rng(seed)                     # replay the generator's draws
    scenes._depth_range(rng, None)
    rmin, rmax = max(1.5, min(H, W) / 80.0), 0.4 * min(H, W)
    label, leaves = scenes.dead_leaves_labels(H, W, rng, rmin, rmax, 10000)
    assert len(leaves) > 20 and (label >= 0).all()
    yy = np.arange(H, dtype=np.float64)[:, None]
    xx = np.arange(W, dtype=np.float64)[None, :]
    for i, leaf in enumerate(leaves):
        inside = scenes._leaf_inside(leaf, yy, xx)
        assert (label[inside] <= i).all()                 # only nearer leaves hide it
        assert (label == i).any() and inside[label == i].all()
    depth_of = np.array([scene.depth[label == i][0] for i in range(len(leaves))])
    for i in range(len(leaves)):                          # one depth per leaf
        assert (scene.depth[label == i] == depth_of[i]).all()
    assert (np.diff(depth_of) >= 0).all()


def _spectrum_slope(img):
    """Slope of the radially averaged power spectrum in log-log (natural images ≈ -2)."""
    f = np.abs(np.fft.fft2(img - img.mean())) ** 2
    h, w = img.shape
    fy, fx = np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij")
    fr = np.hypot(fx, fy)
    bins = np.geomspace(2.0 / min(h, w), 0.4, 12)
    idx = np.digitize(fr, bins)
    power = np.array([f[idx == k].mean() for k in range(1, len(bins))])
    centres = np.sqrt(bins[1:] * bins[:-1])
    return np.polyfit(np.log(centres), np.log(power), 1)[0]


def test_pink_noise_has_the_requested_spectrum():
    n = pink_noise(128, 128, np.random.default_rng(0), beta=2.0)
    assert n.mean() == pytest.approx(0, abs=1e-6) and n.std() == pytest.approx(1, rel=1e-5)
    assert _spectrum_slope(n) == pytest.approx(-2.0, abs=0.25)


@pytest.mark.parametrize("kind", ["dead_leaves", "smooth", "tiled_plane", "grille"])
def test_scenes_have_natural_power_spectra(kind):
    """Natural images have power spectra ∝ 1/f^2 (slopes -1.6 to -3 typical); a
    piecewise-flat or white-noise scene would fall outside [-3.5, -1.3]."""
    slopes = [_spectrum_slope(np.log(make_scene(kind, 96, 96, np.random.default_rng(s)).image
                                     + 1e-3)) for s in range(3)]
    assert -3.5 < np.median(slopes) < -1.3, slopes


def test_scenes_contain_smooth_gradients_not_only_flat_patches():
    """Within leaves the shading varies: the fraction of exactly-flat neighbour pairs is
    small (a flat-patch dead-leaves image would have most pairs equal)."""
    img = make_scene("dead_leaves", 96, 96, np.random.default_rng(0)).image
    equal = np.mean(img[:, 1:] == img[:, :-1])
    assert equal < 0.05
    contrast = [np.std(np.log(make_scene("random", 64, 64, np.random.default_rng(s)).image
                              + 1e-3)) for s in range(12)]
    assert max(contrast) > 2 * min(contrast)              # a spread of contrast


@pytest.mark.parametrize("args, kwargs, param", [
    (("dead_leafs", H, W, 0), {}, "scene kind"),
    (("dead_leaves", 0, W, 0), {}, "height"),
    (("dead_leaves", H, 2.5, 0), {}, "width"),
    (("dead_leaves", H, W, "seed"), {}, "rng"),
    (("dead_leaves", H, W, 0), {"depth_range": (5, 1)}, "depth_range"),
    (("dead_leaves", H, W, 0), {"depth_range": (0.1, 1)}, "depth_range"),
    (("text", H, W, 0), {"rmin": 3}, "scene parameter 'rmin'"),
])
def test_bad_scene_arguments_are_refused(args, kwargs, param):
    with pytest.raises(InputError) as exc:
        make_scene(*args, **kwargs)
    assert exc.value.param == param


def test_unknown_kind_suggests_the_nearest():
    with pytest.raises(InputError, match="dead_leaves"):
        make_scene("dead_leafs", H, W, 0)
