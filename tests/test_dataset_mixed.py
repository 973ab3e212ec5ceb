"""source: mixed, depth layouts, scaled photograph crops, stated shares, the natural test sets.

Pictures are small synthetic files written by the tests (a few dozen pixels) and samples
are 24x32 px with 192 steps, so the module stays fast; the photo list tests read
examples/photos/photos.yaml only (no photograph needs to be installed).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from spikesim import dataset as ds
from spikesim.dataset import layouts, shares
from spikesim.dataset.draws import random_depth, sample_seed_sequence
from spikesim.dataset.sources import images, mixed
from spikesim.errors import ConfigError, InputError
from spikesim.images import as_png16
from spikesim.inputs import load_image
from spikesim.rng import DATASET_LAYOUT_SHARE, DATASET_SOURCE_SHARE, SAMPLE_SCENE

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "examples" / "configs"
SMALL = {"name": "mixed-tiny", "width": 32, "height": 24, "steps": 192, "num": 6, "seed": 3,
         "stratified": True}


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory) -> Path:
    """Three 8-bit pictures of 60x90 px: smooth random content, distinct from each other."""
    import imageio.v3 as iio
    from scipy.ndimage import gaussian_filter

    d = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for k in range(3):
        img = gaussian_filter(rng.random((60, 90)), 2.0)
        img = (img - img.min()) / (img.max() - img.min())
        iio.imwrite(d / f"p{k}.png", np.round(20 + 220 * img).astype(np.uint8))
    return d


def _cfg(photo_dir, **keys):
    return ds.load_dataset_config({**SMALL, "image_dir": str(photo_dir), **keys})


# --- stated shares --------------------------------------------------------------------

WEIGHT_SETS = [{"procedural": 0.4, "images": 0.6}, layouts.DEFAULT_LAYOUT_WEIGHTS,
               {"a": 1.0, "b": 1.0, "c": 1.0}, {"a": 0.1, "b": 0.9}]


def _positions(n, alpha, seed, purpose):
    """frac(i alpha + u) for i < n, vectorised like shares.share_position."""
    return (np.arange(n) * alpha + shares.share_offset(seed, purpose)) % 1.0


@pytest.mark.parametrize("alpha, purpose", [(shares.ALPHA_GOLDEN, DATASET_SOURCE_SHARE),
                                            (shares.ALPHA_SILVER, DATASET_LAYOUT_SHARE)])
@pytest.mark.parametrize("seed", [0, 3, 20261206])
def test_shares_are_near_exact_over_any_run(alpha, purpose, seed):
    """Over the first n samples (every n <= 20,000) each name's count is within
    MAX_SHARE_DEVIATION of weight * n, and within 6 for each focus side of a stratified set
    (i % 3); allot agrees with the vectorised positions sample by sample."""
    n = 20_000
    x = _positions(n, alpha, seed, purpose)
    for weights in WEIGHT_SETS:
        names = sorted(weights)
        w = np.array([weights[k] for k in names], float)
        edges = np.concatenate([[0.0], np.cumsum(w / w.sum())])
        for k, name in enumerate(names):
            inside = (x >= edges[k]) & (x < edges[k + 1])
            share = edges[k + 1] - edges[k]
            dev = np.abs(np.cumsum(inside) - share * np.arange(1, n + 1))
            assert dev.max() <= shares.MAX_SHARE_DEVIATION, (weights, name)
            for r in range(3):
                sub = inside[r::3]
                assert np.abs(np.cumsum(sub) - share * np.arange(1, sub.size + 1)).max() <= 6
        got = [shares.allot(weights, i, seed, purpose, alpha) for i in range(300)]
        want = [names[min(int(np.searchsorted(edges[1:], v, side="right")), len(names) - 1)]
                for v in x[:300]]
        assert got == want


def test_allot_ignores_mapping_order_and_never_picks_a_zero_weight():
    a = {"plane": 1.0, "random": 0.0, "objects": 2.0}
    b = {"objects": 2.0, "random": 0.0, "plane": 1.0}
    picks = [shares.allot(a, i, 5, DATASET_LAYOUT_SHARE, shares.ALPHA_SILVER) for i in range(600)]
    assert picks == [shares.allot(b, i, 5, DATASET_LAYOUT_SHARE, shares.ALPHA_SILVER)
                     for i in range(600)]
    assert "random" not in picks and abs(picks.count("objects") - 400) <= 5


def test_mixed_parts_follow_mix_exactly_over_a_run(photo_dir):
    cfg = _cfg(photo_dir, source="mixed", mix={"procedural": 1, "images": 3}, seed=9)
    parts = [mixed.part_of(cfg, i) for i in range(400)]
    assert abs(parts.count("images") - 300) <= shares.MAX_SHARE_DEVIATION
    assert set(parts) == {"procedural", "images"}


# --- depth layouts --------------------------------------------------------------------

def _affine_residual(u):
    """Max |u - best plane a + b y + c x| of a (H, W) map."""
    H, W = u.shape
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    A = np.stack([np.ones(u.size), yy.ravel(), xx.ravel()], axis=1)
    coef, *_ = np.linalg.lstsq(A, u.ravel().astype(np.float64), rcond=None)
    return float(np.abs(A @ coef - u.ravel()).max())


@pytest.mark.parametrize("seed", range(4))
def test_each_layout_gives_depth_of_its_kind(seed):
    H, W = 40, 56
    rng = lambda: np.random.default_rng(seed)  # noqa: E731
    plane = layouts.make_layout("plane", H, W, rng())
    assert np.unique(plane.depth).size == 1 and plane.cover is None

    ramp = layouts.make_layout("ramp", H, W, rng())
    inv = 1.0 / ramp.depth.astype(np.float64)
    assert _affine_residual(inv) < 1e-6 * inv.max()
    assert inv.min() == pytest.approx(1 / layouts.FAR_DEPTH_M, rel=1e-6)
    assert inv.max() == pytest.approx(1 / layouts.NEAR_DEPTH_M, rel=1e-6)

    obj = layouts.make_layout("objects", H, W, rng())
    levels = np.unique(obj.depth)
    assert levels.size == 2 and levels[0] < levels[1]            # near < far
    near = obj.depth == levels[0]
    assert np.array_equal(near, obj.cover >= 0.5)
    assert 0 < near.mean() < 0.9
    edge = (obj.cover > 0) & (obj.cover < 1)
    assert edge.any()                                           # anti-aliased outline

    rand = layouts.make_layout("random", H, W, rng())
    assert np.array_equal(rand.depth, random_depth(H, W, rng()))


@pytest.mark.parametrize("kind", ["plane", "ramp", "objects"])
def test_a_sample_keeps_its_layout_kind_through_the_optics(photo_dir, kind):
    """sample_geometry remaps inverse depth affinely: a plane stays constant, a ramp
    linear in inverse depth, objects two levels with the near one nearer; the near
    objects show another picture's crop."""
    cfg = _cfg(photo_dir, source="images", depth_layouts={kind: 1}, crop_scale=[0.5, 1.0],
               coc_spread=[4.0, 16.0])
    for i in range(3):
        made = ds.SampleMaker(cfg).compute(i)
        depth, params = made.content.depth.astype(np.float64), made.params
        assert params["depth_layout"] == kind
        if kind == "plane":
            assert np.unique(depth).size == 1
        elif kind == "ramp":
            assert _affine_residual(1.0 / depth) < 1e-5 * (1.0 / depth).max()
            assert np.ptp(1.0 / depth) > 0
        else:
            levels = np.unique(depth)
            assert levels.size == 2 and levels[0] < levels[1]
            assert params["objects"]["image"] != params["image"]


# --- crops at random scales -----------------------------------------------------------

def _unorient(image, crop):
    """Undo a crop's flips and transpose: the image as resampled from the picture."""
    if crop["flip_v"]:
        image = image[::-1]
    if crop["flip_h"]:
        image = image[:, ::-1]
    return image.T if crop["transpose"] else image


@pytest.mark.parametrize("seed", range(6))
def test_scaled_crop_is_the_picture_region_at_the_drawn_scale(seed):
    """On a linear ramp picture (which Lanczos resampling reproduces) every output pixel
    whose filter support lies inside the picture equals the picture at its centre in the
    recorded box, so the box is where the crop came from; the box is the drawn scale times
    the largest region of the sample's shape (or the sample size when that would upsample)."""
    H, W, shape, scale = 300, 500, (24, 40), (0.3, 1.0)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    picture = (0.05 + 0.0006 * yy + 0.0012 * xx).astype(np.float32)   # within [0, 1]
    image, crop = images.scaled_crop(picture, shape, scale, np.random.default_rng(seed))
    assert image.shape == shape and image.dtype == np.float32
    x, y, cw, ch = crop["box"]
    out = _unorient(image, crop)
    oh, ow = out.shape
    assert 0 <= x and x + cw <= W and 0 <= y and y + ch <= H
    assert cw / ow == pytest.approx(ch / oh, rel=0.03)                 # aspect kept
    f_max = min(H / oh, W / ow)
    assert scale[0] <= crop["scale"] <= scale[1]
    assert ch / oh == pytest.approx(max(crop["scale"] * f_max, 1.0), rel=0.03)
    cy = y + (np.arange(oh) + 0.5) * ch / oh - 0.5
    cx = x + (np.arange(ow) + 0.5) * cw / ow - 0.5
    want = 0.05 + 0.0006 * cy[:, None] + 0.0012 * cx[None, :]
    # Lanczos-3 reaches 3 output px (3 x the reduction in picture px) each side; the
    # picture's border truncates it, so only pixels whose support is inside are exact
    ok_y = (cy - 3 * ch / oh >= -0.5) & (cy + 3 * ch / oh <= H - 0.5)
    ok_x = (cx - 3 * cw / ow >= -0.5) & (cx + 3 * cw / ow <= W - 0.5)
    assert ok_y.sum() >= oh - 6 and ok_x.sum() >= ow - 6
    assert np.abs(out - want)[np.ix_(ok_y, ok_x)].max() < 2e-5


def test_scaled_crop_filters_before_it_subsamples():
    """A one-pixel checkerboard reduced 2.5x comes out flat grey (point sampling would
    alias it to a pattern of full contrast)."""
    board = (np.indices((200, 200)).sum(axis=0) % 2).astype(np.float32)
    image, crop = images.scaled_crop(board, (40, 40), (0.5, 0.5), np.random.default_rng(1))
    assert crop["box"][2] == 100
    assert abs(float(image.mean()) - 0.5) < 0.01 and float(image.std()) < 0.02


def test_scaled_crops_upsample_small_pictures_at_most_a_little(tmp_path):
    """A 400x250 picture (the REDS frames) makes 400x256 samples (1.024x); a picture more
    than 10 % below the sample size is refused, naming it."""
    import imageio.v3 as iio

    frame = np.random.default_rng(0).random((250, 400)).astype(np.float32)
    image, crop = images.scaled_crop(frame, (256, 400), (0.35, 1.0), np.random.default_rng(2))
    assert image.shape == (256, 400) and crop["box"][3] == 250 and not crop["transpose"]
    iio.imwrite(tmp_path / "small.png", np.full((220, 400), 128, np.uint8))
    cfg = ds.load_dataset_config({**SMALL, "width": 400, "height": 256, "source": "mixed",
                                  "image_dir": str(tmp_path)})
    with pytest.raises(InputError, match="small.png"):
        mixed.catalogue(cfg)


def test_a_sample_target_is_its_recorded_crop(photo_dir):
    """The sample's sharp target is scaled_crop of its picture drawn from the sample's scene
    stream, and sample.yaml records that crop."""
    cfg = _cfg(photo_dir, source="images", crop_scale=[0.4, 1.0])
    for i in range(3):
        s = ds.compute_sample(cfg, i)
        rng = np.random.default_rng(sample_seed_sequence(cfg.seed, i, SAMPLE_SCENE))
        picture = load_image(photo_dir / s.params["image"])
        image, crop = images.scaled_crop(picture, (cfg.height, cfg.width), cfg.crop_scale, rng)
        assert s.params["crop"] == crop
        assert np.array_equal(s.sharp, as_png16(image))


# --- the mixed source -----------------------------------------------------------------

def test_mixed_sample_is_its_part_sample(photo_dir):
    """Sample i of source: mixed has the content of sample i of its part: the procedural
    source's, or the images source's with the natural-photograph recipe (mixed defaults)."""
    cfg = _cfg(photo_dir, source="mixed")
    as_images = dataclasses.replace(cfg, source="images", crop_scale=mixed.DEFAULT_CROP_SCALE,
                                    depth_layouts=layouts.DEFAULT_LAYOUT_WEIGHTS)
    as_procedural = dataclasses.replace(cfg, source="procedural")
    seen = set()
    for i in range(6):
        part = mixed.part_of(cfg, i)
        seen.add(part)
        other = as_images if part == "images" else as_procedural
        a, b = ds.SampleMaker(cfg).compute(i), ds.SampleMaker(other).compute(i)
        for name in ("sharp", "value", "depth", "sigma"):
            assert np.array_equal(getattr(a.content, name), getattr(b.content, name)), (i, name)
        assert a.params["source"] == "mixed" and a.params["scene_kind"] == b.params["scene_kind"]
    assert seen == {"procedural", "images"}


def test_mixed_dataset_is_the_same_with_one_and_two_workers(photo_dir, tmp_path):
    from test_dataset import assert_same_tree

    cfg = {**SMALL, "source": "mixed", "image_dir": str(photo_dir), "num": 6,
           "depth_layouts": {"objects": 1, "ramp": 1}}
    ds.generate_dataset(cfg, tmp_path / "one", workers=1)
    ds.generate_dataset(cfg, tmp_path / "two", workers=2)
    assert_same_tree(tmp_path / "one", tmp_path / "two")
    assert (tmp_path / "one" / ds.IMAGES).is_file()


def test_images_source_random_layout_equals_the_default(photo_dir):
    """depth_layouts: {random: 1} is today's random depth: the same arrays as the default
    keys (which keep source: images byte-identical), plus the depth_layout entry."""
    plain = _cfg(photo_dir, source="images")
    opted = _cfg(photo_dir, source="images", depth_layouts={"random": 1})
    for i in range(2):
        a, b = ds.SampleMaker(plain).compute(i), ds.SampleMaker(opted).compute(i)
        for name in ("sharp", "value", "depth"):
            assert np.array_equal(getattr(a.content, name), getattr(b.content, name))
        assert "depth_layout" not in a.params and b.params["depth_layout"] == "random"
        assert "crop" not in a.params


@pytest.mark.parametrize("keys, path", [
    ({"mix": {"photos": 1}}, "mix.photos"),
    ({"mix": {"images": -1}}, "mix.images"),
    ({"mix": {"images": 0}}, "mix"),
    ({"depth_layouts": {"tilted": 1}}, "depth_layouts.tilted"),
    ({"crop_scale": [0.5]}, "crop_scale"),
    ({"crop_scale": [0.0, 1.0]}, "crop_scale[0]"),
    ({"crop_scale": [0.5, 1.5]}, "crop_scale[1]"),
    ({"source": "mixed", "image_dir": ""}, "image_dir"),
])
def test_bad_mixed_keys_name_their_path(photo_dir, keys, path):
    with pytest.raises(ConfigError) as err:
        ds.load_dataset_config({**SMALL, "image_dir": str(photo_dir), **keys})
    assert str(err.value).startswith(path + ":")


# --- light ----------------------------------------------------------------------------

def test_exposure_reaches_down_to_0_05():
    assert ds.load_dataset_config({"lambda_p99": [0.05, 1.2]}).lambda_p99 == [0.05, 1.2]
    with pytest.raises(ConfigError, match="lambda_p99"):
        ds.load_dataset_config({"lambda_p99": [0.0, 1.2]})


def test_low_light_config_reaches_lambda_p99_0_1(photo_dir):
    """natural_lowlight.yaml: every sample's 99th-percentile irradiance gives 0.1 threshold
    per step on an ideal pixel (k * illuminance * p99 of the defocused value)."""
    cfg = ds.load_dataset_config(CONFIGS / "natural_lowlight.yaml", image_dir=str(photo_dir),
                                 width=32, height=24, num=2)
    for i in range(2):
        s = ds.compute_sample(cfg, i)
        k = s.params["camera"]["k"]
        assert s.params["lambda_p99"] == 0.1
        assert k * np.percentile(s.irradiance, 99.0) == pytest.approx(0.1, rel=1e-5)


# --- the natural test sets ------------------------------------------------------------

def _check_photos():
    spec = importlib.util.spec_from_file_location("check_photos",
                                                  ROOT / "examples" / "photos" / "check_photos.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_natural_configs_are_the_public_recipe_on_test_photographs():
    """natural_testset.yaml differs from testset.yaml only in the pictures, their recipe and
    the structured cameras; natural_lowlight.yaml from it only in the light."""
    nat = dataclasses.asdict(ds.load_dataset_config(CONFIGS / "natural_testset.yaml"))
    low = dataclasses.asdict(ds.load_dataset_config(CONFIGS / "natural_lowlight.yaml"))
    test = dataclasses.asdict(ds.load_dataset_config(CONFIGS / "testset.yaml"))
    assert {k for k in nat if nat[k] != test[k]} == {
        "name", "seed", "source", "image_dir", "crop_scale", "depth_layouts", "camera_ranges"}
    assert nat["image_dir"] == "data/photos/" + _check_photos().NATURAL_TEST
    assert (nat["width"], nat["height"], nat["num"]) == (400, 256, 36) and nat["stratified"]
    assert nat["camera_ranges"]["gain_column_sd"][0] > 0                # structured cameras
    assert {k for k in low if low[k] != nat[k]} == {"name", "lambda_p99"}
    assert low["lambda_p99"] == [0.1, 0.1]


def test_test_photographs_share_no_file_with_training_or_validation():
    cp = _check_photos()
    entries = cp.load_list()
    split = {s: [e for e in entries if e["split"] == s] for s in cp.SPLITS}
    for key in ("name", "path", "sha256"):
        test = {e[key] for e in split["test"]}
        assert test and not test & {e[key] for e in split["train"] + split["val"]}


def test_natural_test_folder_is_the_test_split_and_the_reds_frames(shared_data, tmp_path):
    """check_photos --link's natural-test folder: the test split's links and the two REDS
    frames, nothing of the training or validation splits."""
    cp = _check_photos()
    entries = cp.load_list()
    n = cp.link_natural_test(entries, tmp_path, shared_data / "interop")
    folder = tmp_path / cp.NATURAL_TEST
    names = {p.name for p in folder.iterdir()}
    test = {e["name"]: e["path"] for e in entries if e["split"] == "test"}
    assert names == set(test) | set(cp.REDS_FRAMES) and n == len(names)
    for name, path in test.items():
        assert str((folder / name).readlink()) == path
    assert not names & {e["name"] for e in entries if e["split"] != "test"}


def test_natural_validation_mapping_makes_a_stratified_mixed_set(photo_dir):
    """mixed.natural_validation: a training generator's keys, half photographs of the val
    split, stratified; loads as a dataset config."""
    gen = {"lambda_p99": [0.05, 1.2], "coc_spread": [0.0, 8.0]}
    mapping = mixed.natural_validation(gen, image_dir=str(photo_dir))
    cfg = ds.load_dataset_config({**mapping, "width": 32, "height": 24, "steps": 192})
    assert cfg.source == "mixed" and cfg.stratified and cfg.image_dir == str(photo_dir)
    assert cfg.lambda_p99 == [0.05, 1.2] and cfg.coc_spread == [0.0, 8.0]
    assert mixed.natural_validation()["image_dir"] == "data/photos/val"
    parts = [mixed.part_of(cfg, i) for i in range(12)]
    assert abs(parts.count("images") - 6) <= 1
    assert math.isclose(sum(cfg.mix.values()), 1.0)


def test_kept_pictures_change_nothing_and_stay_in_their_process(photo_dir):
    """A sample is the same whether its pictures were kept decoded or not (budget 0); a
    pickled Pictures (what a worker process gets) starts empty; kept pictures are read-only."""
    import pickle

    cfg = _cfg(photo_dir, source="mixed", depth_layouts={"objects": 1})
    keeping = ds.SampleMaker(cfg)
    pictures = keeping._list_inputs()["images"]
    for i in range(4):
        a = keeping.compute(i).content
        fresh = ds.SampleMaker(cfg)
        fresh._list_inputs()["images"].budget = 0
        b = fresh.compute(i).content
        assert np.array_equal(a.sharp, b.sharp) and np.array_equal(a.value, b.value)
    assert pictures._decoded and not pictures.load(0).flags.writeable
    copy = pickle.loads(pickle.dumps(pictures))
    assert copy.paths == pictures.paths and copy._decoded == {} and copy._held == 0


def test_makers_of_several_cameras_can_share_the_pictures(photo_dir):
    """SampleMaker(inputs=...) reuses one Pictures for configs that differ in the camera
    (the training pool's case): the same samples as makers that list their own."""
    cfg = _cfg(photo_dir, source="images", crop_scale=[0.5, 1.0], camera_mode="fixed")
    shared = images.inputs(cfg)
    for fpn_seed in (1, 2):
        one = dataclasses.replace(cfg, fpn_seed=fpn_seed)
        a = ds.SampleMaker(one, inputs=shared).sample(fpn_seed)
        b = ds.SampleMaker(one).sample(fpn_seed)
        assert np.array_equal(a.sharp, b.sharp) and a.params == b.params
    assert shared._decoded


def test_a_mix_can_hold_dpdd_pairs(photo_dir, tmp_path):
    """mix: {images, dpdd}: the dpdd part's samples are the dpdd source's (real blur, no
    depth), the photographs' are photographs; dpdd without dpdd_root is refused."""
    import imageio.v3 as iio

    rng = np.random.default_rng(0)
    for sub in ("source", "target"):
        (tmp_path / "dpdd" / "train_c" / sub).mkdir(parents=True)
        iio.imwrite(tmp_path / "dpdd" / "train_c" / sub / "a.png",
                    rng.integers(1, 256, (40, 40), dtype=np.uint8))
    cfg = _cfg(photo_dir, source="mixed", mix={"images": 1, "dpdd": 1},
               dpdd_root=str(tmp_path / "dpdd"))
    dpdd_cfg = dataclasses.replace(cfg, source="dpdd")
    kinds = set()
    for i in range(6):
        made = ds.SampleMaker(cfg).compute(i)
        kinds.add(made.params["scene_kind"])
        if mixed.part_of(cfg, i) == "dpdd":
            other = ds.SampleMaker(dpdd_cfg).compute(i)
            assert np.array_equal(made.content.value, other.content.value)
            assert np.isnan(made.content.depth).all()
    assert kinds == {"image", "dpdd"}
    with pytest.raises(ConfigError, match="dpdd_root"):
        _cfg(photo_dir, source="mixed", mix={"images": 1, "dpdd": 1})
