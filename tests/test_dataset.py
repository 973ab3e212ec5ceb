"""Generated datasets: determinism across workers and Dask, resume, refusal, manifest truth.

Datasets here are tiny (32x32 px, 192 steps, a few samples) so the suite stays fast; the
byte-identity claims do not depend on the size.
"""

from __future__ import annotations

import dataclasses
import filecmp
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml

from spikesim import dataset as ds
from spikesim import settings
from spikesim.config import CameraProfile, Lens
from spikesim.errors import ConfigError, InputError

TINY = {"name": "tiny", "width": 32, "height": 32, "steps": 192, "num": 4, "seed": 11,
        "stratified": True}


def tree_bytes(root: Path) -> dict:
    """Every file under ``root`` (relative path -> bytes)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def assert_same_tree(a: Path, b: Path) -> None:
    ta, tb = tree_bytes(a), tree_bytes(b)
    assert sorted(ta) == sorted(tb)
    differing = [k for k in ta if ta[k] != tb[k]]
    assert differing == []


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The tiny dataset made in this process with one worker."""
    out = tmp_path_factory.mktemp("ref") / "ds"
    manifest = ds.generate_dataset(TINY, out)
    assert manifest["complete"] is True and manifest["done"] == TINY["num"]
    return out


# ------------------------------------------------------------------------ layout
def test_layout_matches_architecture(reference):
    assert sorted(p.name for p in reference.iterdir()) == ["config.yaml", "manifest.yaml",
                                                          "samples"]
    names = sorted(p.name for p in (reference / "samples").iterdir())
    assert names == ["000000", "000001", "000002", "000003"]
    for name in names:
        assert sorted(p.name for p in (reference / "samples" / name).iterdir()) == \
            sorted(ds.SAMPLE_FILES)
    manifest = ds.read_manifest(reference)
    assert manifest["seed"] == 11 and manifest["num"] == 4
    assert [s["id"] for s in manifest["samples"]] == [0, 1, 2, 3]
    from spikesim import __version__
    assert manifest["toolkit_version"] == __version__
    assert manifest["config"] == yaml.safe_load((reference / "config.yaml").read_text())


def test_sample_made_in_memory_equals_the_one_read_back(reference):
    """compute_sample (training's path, no files) == load_sample of the written sample,
    array for array and key for key: the two ways to a sample cannot drift apart."""
    config = ds.load_dataset_config(TINY)
    for index in range(TINY["num"]):
        made = ds.compute_sample(config, index)
        read = ds.load_sample(reference / ds.SAMPLES / ds.sample_name(index))
        assert made.params == read.params
        assert np.array_equal(made.stream.window(), read.stream.window())
        for name in ("sharp", "defocused", "depth", "sigma", "coc", "irradiance"):
            a, b = getattr(made, name), getattr(read, name)
            assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True), name
        assert sorted(made.camera) == sorted(read.camera)
        for key, value in read.camera.items():
            assert made.camera[key].dtype == value.dtype and np.array_equal(
                made.camera[key], value), key


def test_same_bytes_from_a_second_run(reference, tmp_path):
    ds.generate_dataset(TINY, tmp_path / "again")
    assert_same_tree(reference, tmp_path / "again")


def test_two_workers_give_the_same_bytes_as_one(reference, tmp_path):
    ds.generate_dataset(TINY, tmp_path / "w2", workers=2)
    assert_same_tree(reference, tmp_path / "w2")


def test_dask_local_cluster_gives_the_same_bytes_as_one_worker(reference, tmp_path):
    distributed = pytest.importorskip("distributed", reason="dask[distributed] is an optional extra")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  host="127.0.0.1", protocol="tcp://",
                                  dashboard_address=":0") as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        ds.generate_dataset(TINY, tmp_path / "dask", scheduler=cluster.scheduler_address)
    assert_same_tree(reference, tmp_path / "dask")


def test_sample_does_not_depend_on_num_and_resume_grows_a_dataset(reference, tmp_path):
    out = tmp_path / "grow"
    first = ds.generate_dataset(TINY, out, num=2)
    assert first["num"] == 2 and first["complete"]
    for name in ("000000", "000001"):
        assert filecmp.dircmp(out / "samples" / name, reference / "samples" / name).diff_files == []
    ds.generate_dataset(TINY, out, num=4, resume=True)
    assert_same_tree(reference, out)


# ------------------------------------------------------------------------ resume / refuse
def test_interrupted_run_resumes_to_the_same_bytes(reference, tmp_path):
    out = tmp_path / "cut"
    seen = []

    def stop_after_two(n):
        seen.append(n)
        if sum(seen) >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ds.generate_dataset(TINY, out, progress=stop_after_two)
    manifest = ds.read_manifest(out)
    assert manifest["complete"] is False and manifest["done"] == 2
    # a crash in the middle of a sample leaves only a temporary directory behind
    junk = out / ds.PARTIAL / "000002.123.deadbeef"
    junk.mkdir(parents=True)
    (junk / "spikes.dat").write_bytes(b"\0" * 10)
    ds.generate_dataset(TINY, out, resume=True)
    assert_same_tree(reference, out)


def test_non_empty_directory_is_refused_without_resume_or_overwrite(tmp_path):
    out = tmp_path / "full"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(InputError) as err:
        ds.generate_dataset(TINY, out)
    assert "--resume" in str(err.value) and "--overwrite" in str(err.value)
    # --overwrite only replaces a dataset, never someone's other files
    with pytest.raises(InputError, match="notes.txt"):
        ds.generate_dataset(TINY, out, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"


def test_overwrite_starts_over(reference, tmp_path):
    out = tmp_path / "ow"
    ds.generate_dataset({**TINY, "seed": 5}, out, num=1)
    ds.generate_dataset(TINY, out, overwrite=True)
    assert_same_tree(reference, out)


@pytest.mark.parametrize("change, key", [
    ({"seed": 12}, "config.seed"),
    ({"camera_ranges": {"gain_sd": [0.0, 0.05]}}, "config.camera_ranges.gain_sd"),
    ({"steps": 200}, "config.steps"),
])
def test_resume_with_another_config_names_the_key(reference, tmp_path, change, key):
    out = tmp_path / "other"
    ds.generate_dataset(TINY, out, num=1)
    with pytest.raises(ConfigError) as err:
        ds.generate_dataset({**TINY, **change}, out, resume=True)
    assert err.value.param.startswith(key)
    assert "--overwrite" in str(err.value)


def test_resume_and_overwrite_together_are_refused(tmp_path):
    with pytest.raises(InputError, match="pick one"):
        ds.generate_dataset(TINY, tmp_path / "x", resume=True, overwrite=True)


def test_missing_manifest_is_a_clear_error(tmp_path):
    with pytest.raises(InputError) as err:
        ds.read_manifest(tmp_path)
    assert "manifest.yaml" in str(err.value) and "spikesim generate" in str(err.value)


def test_missing_dask_is_a_clear_error(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    with pytest.raises(InputError) as err:
        ds.generate_dataset(TINY, tmp_path / "d", scheduler="tcp://127.0.0.1:1")
    assert err.value.param == "--scheduler" and "dask" in str(err.value)
    assert not (tmp_path / "d").exists()


# ------------------------------------------------------------------------ manifest truth
def test_sample_parameters_agree_with_the_maps(reference):
    """sample.yaml and the manifest describe the maps, the camera and the stream saved."""
    from spikesim.fpn import draw_fixed_pattern
    from spikesim.optics import coc_signed_px, sigma_px

    manifest = ds.read_manifest(reference)
    samples = list(ds.iter_samples(reference))
    assert [s.id for s in samples] == [0, 1, 2, 3]
    for s, entry in zip(samples, manifest["samples"]):
        p = s.params
        assert entry["sigma_median"] == p["sigma_median"]
        assert p["sigma_median"] == pytest.approx(float(np.median(s.sigma)), rel=1e-5)
        assert p["coc_median"] == pytest.approx(float(np.median(s.coc)), rel=1e-5, abs=1e-6)
        assert p["sigma_min"] == pytest.approx(float(s.sigma.min()), rel=1e-5)
        assert p["sigma_max"] == pytest.approx(float(s.sigma.max()), rel=1e-5)
        # focus side from the maps: "on" below 1 px, else the sign of the median CoC
        med_sigma, med_coc = float(np.median(s.sigma)), float(np.median(s.coc))
        side = "on" if med_sigma < 1.0 else ("front" if med_coc < 0 else "back")
        assert p["focus_side"] == entry["focus_side"] == side
        # the maps follow the thin lens of the recorded parameters
        lens = Lens(**p["lens"])
        coc = coc_signed_px(s.depth, lens, p["pixel_pitch"])
        np.testing.assert_allclose(s.coc, coc, rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(s.sigma, sigma_px(s.coc, lens.sigma_floor), rtol=1e-6)
        # exposure: irradiance = illuminance x defocused value (16-bit PNG quantisation)
        np.testing.assert_allclose(s.irradiance / s.illuminance, s.defocused,
                                   atol=1.0 / 65535, rtol=1e-4)
        lam99 = p["camera"]["k"] * np.percentile(s.irradiance, settings.EXPOSURE_PERCENTILE)
        assert lam99 == pytest.approx(p["lambda_p99"], rel=1e-4)
        # the camera truth is that of (profile, fpn_seed)
        fpn = draw_fixed_pattern(CameraProfile(**p["camera"]), p["fpn_seed"])
        np.testing.assert_array_equal(s.camera["gain"], fpn.gain)
        np.testing.assert_array_equal(s.camera["dead"], fpn.dead)
        assert float(s.camera["k"]) == p["camera"]["k"]
        # the stream
        assert s.stream.shape == (TINY["steps"], TINY["height"], TINY["width"])
        assert int(s.stream.counts().sum()) == p["spikes"]["total"]
        assert s.key_step == TINY["steps"] // 2
        np.testing.assert_allclose(s.target_lambda,
                                   p["camera"]["k"] * p["illuminance"] * s.sharp, rtol=1e-6)


def test_camera_ranges_are_respected(reference):
    r = ds.CameraRanges()
    for s in ds.iter_samples(reference):
        cam = s.params["camera"]
        assert r.k_scale[0] <= cam["k"] / settings.K_SCALE_REFERENCE <= r.k_scale[1]
        assert r.gain_sd[0] <= cam["gain_sd"] <= r.gain_sd[1]
        assert r.dark_median[0] <= cam["dark_median"] <= r.dark_median[1]
        assert r.theta_sd[0] <= cam["theta_sd"] <= r.theta_sd[1]
        assert cam["dead_time"] in (0, 1)
        assert (cam["width"], cam["height"]) == (TINY["width"], TINY["height"])


def test_fixed_camera_mode_uses_one_camera(tmp_path):
    cfg = {**TINY, "num": 2, "camera_mode": "fixed", "fpn_seed": 9,
           "camera": {"gain_sd": 0.05}}
    ds.generate_dataset(cfg, tmp_path / "fixed")
    a, b = ds.iter_samples(tmp_path / "fixed")
    assert a.params["fpn_seed"] == b.params["fpn_seed"] == 9
    assert a.params["camera"] == b.params["camera"]
    assert a.params["camera"]["gain_sd"] == 0.05
    np.testing.assert_array_equal(a.camera["gain"], b.camera["gain"])
    assert a.params["sensor_seed"] != b.params["sensor_seed"]


# ------------------------------------------------------------------------ sampling design
def _scene_depth(seed: int) -> np.ndarray:
    from spikesim.scenes import make_scene

    return make_scene("dead_leaves", 32, 32, np.random.default_rng(seed)).depth


def test_focus_sides_follow_their_weights_and_targets_are_met():
    """Cheap geometry draws (no rendering): proportions within 4.5 binomial s.d."""
    cfg = ds.load_dataset_config({**TINY, "side_weights": [1.0, 2.0, 1.0]})
    depth = _scene_depth(0)
    n = 240
    rng = np.random.default_rng(1)
    geos = [ds.sample_geometry(cfg, depth, rng) for _ in range(n)]
    sides = Counter(g.side for g in geos)
    for side, p in (("front", 0.25), ("on", 0.5), ("back", 0.25)):
        assert abs(sides[side] / n - p) <= 4.5 * math.sqrt(p * (1 - p) / n)
    assert sum(g.met for g in geos) >= 0.95 * n
    for g in geos:
        if g.met and g.target_sigma is not None:
            assert ds.blur_bin(g.sigma_median) == ds.blur_bin(g.target_sigma)
        if g.met:
            assert g.side == ds.focus_side(g.sigma_median, g.coc_median) == g.target_side


def test_focus_distance_solution_gives_the_target_median_coc():
    """The closed-form focus distance puts the median signed CoC on the target."""
    cfg = ds.load_dataset_config({**TINY, "side_weights": [1.0, 0.0, 1.0]})
    rng = np.random.default_rng(2)
    for seed in range(30):
        g = ds.sample_geometry(cfg, _scene_depth(seed), rng)
        assert g.coc_median == pytest.approx(g.target_coc, rel=1e-3, abs=1e-3)
        # remapped depths stay inside the configured range (float32 rounding aside)
        assert g.depth.min() >= cfg.depth_range[0] * (1 - 1e-6)
        assert g.depth.max() <= cfg.depth_range[1] * (1 + 1e-6)


def test_remapped_depth_keeps_the_scene_order():
    depth = _scene_depth(3)
    cfg = ds.load_dataset_config(TINY)
    g = ds.sample_geometry(cfg, depth, np.random.default_rng(4))
    order = np.argsort(depth.ravel(), kind="stable")
    assert np.all(np.diff(g.depth.ravel()[order]) >= 0)


def test_stratified_cycles_sides_and_bins():
    cfg = ds.load_dataset_config({**TINY, "num": 18})
    cells = [ds.stratum(cfg, i) for i in range(18)]
    assert Counter(side for side, _ in cells) == {"front": 6, "on": 6, "back": 6}
    assert ds.sigma_strata([1.0, 10.0]) == [(1.0, 2.0), (2.0, 4.0), (4.0, 10.0)]
    bins = Counter(iv for side, iv in cells if side != "on")
    assert bins == {(1.0, 2.0): 4, (2.0, 4.0): 4, (4.0, 10.0): 4}


def test_per_sample_seeds_are_independent_of_each_other():
    a = ds.sample_seed_sequence(11, 0, 0).generate_state(4)
    b = ds.sample_seed_sequence(11, 1, 0).generate_state(4)
    c = ds.sample_seed_sequence(11, 0, 1).generate_state(4)
    assert not np.array_equal(a, b) and not np.array_equal(a, c)
    np.testing.assert_array_equal(a, ds.sample_seed_sequence(11, 0, 0).generate_state(4))


# ------------------------------------------------------------------------ config errors
@pytest.mark.parametrize("bad, key", [
    ({"sigma_range": [0.4, 5.0]}, "sigma_range"),
    ({"sigma_range": [5.0, 2.0]}, "sigma_range"),
    ({"focal_lenght": [0.01, 0.02]}, "focal_lenght"),
    ({"key_step": 300}, "key_step"),
    ({"steps": 64}, "steps"),
    ({"width": 33, "height": 33}, "width"),
    ({"side_weights": [0, 0, 0]}, "side_weights"),
    ({"scene_kinds": ["dead_leafs"]}, "scene_kinds[0]"),
    ({"camera_ranges": {"dead_time": [0, 1.5]}}, "camera_ranges.dead_time[1]"),
    ({"depth_range": [0.01, 20.0]}, "depth_range"),
])
def test_bad_config_names_the_key(bad, key):
    with pytest.raises(ConfigError) as err:
        ds.load_dataset_config({**TINY, **bad})
    assert err.value.param == key


def test_unknown_key_suggests_the_nearest():
    with pytest.raises(ConfigError, match="focal_length"):
        ds.load_dataset_config({"focal_lenght": [0.01, 0.02]})


def test_load_sample_names_missing_files(reference, tmp_path):
    import shutil

    copy = tmp_path / "s"
    shutil.copytree(reference / "samples" / "000000", copy)
    (copy / "maps.npz").unlink()
    with pytest.raises(InputError, match="maps.npz"):
        ds.load_sample(copy)


def test_example_configs_load():
    root = Path(__file__).resolve().parents[1] / "examples" / "configs"
    test = ds.load_dataset_config(root / "testset.yaml")
    assert test.num >= 32 and (test.width, test.height) == (400, 256)
    assert test.steps == 256 and test.key == 128 and test.stratified
    assert test.camera_mode == "random"
    train = ds.load_dataset_config(root / "trainset.yaml")
    assert train.seed != test.seed and train.num > test.num
    # same generator: only name, size, num, seed and stratification differ
    diff = {k for k, v in dataclasses.asdict(train).items() if dataclasses.asdict(test)[k] != v}
    assert diff <= {"name", "width", "height", "num", "seed", "stratified"}
    smoke = ds.load_dataset_config(root / "smoke.yaml")
    assert smoke.width * smoke.height <= 64 * 64 and smoke.num <= 4


# ------------------------------------------------------------------------ DPDD source
def _orientations(a: np.ndarray):
    for t in (a, a.T):
        for f in (t, t[:, ::-1], t[::-1], t[::-1, ::-1]):
            yield f


def _locate(patch: np.ndarray, image: np.ndarray):
    """(orientation index, y, x) where ``patch`` is a crop of an orientation of ``image``."""
    h, w = patch.shape
    for k, img in enumerate(_orientations(image)):
        H, W = img.shape
        for y in range(H - h + 1):
            for x in range(W - w + 1):
                if np.array_equal(img[y:y + h, x:x + w], patch):
                    return k, y, x
    return None


def test_dpdd_source_uses_the_real_blur_as_irradiance(tmp_path):
    """A DPDD layout of two 8-bit sRGB pairs: each sample's target and defocused images
    are the same crop (and flip/transpose) of one pair's target and source."""
    import imageio.v3 as iio

    from spikesim.inputs import load_dpdd_pair

    rng = np.random.default_rng(0)
    root = tmp_path / "dpdd"
    originals = {}
    for name in ("a.png", "b.png"):
        src = rng.integers(1, 256, (24, 24), dtype=np.uint8)
        tgt = rng.integers(1, 256, (24, 24), dtype=np.uint8)
        for sub, img in (("source", src), ("target", tgt)):
            (root / "test_c" / sub).mkdir(parents=True, exist_ok=True)
            iio.imwrite(root / "test_c" / sub / name, img)
        originals[name] = load_dpdd_pair(root / "test_c" / "source" / name,
                                         root / "test_c" / "target" / name)
    cfg = {"width": 16, "height": 16, "steps": 192, "num": 3, "seed": 1, "source": "dpdd",
           "dpdd_root": str(root), "dpdd_split": "test"}
    ds.generate_dataset(cfg, tmp_path / "out")
    manifest = ds.read_manifest(tmp_path / "out")
    for s, entry in zip(ds.iter_samples(tmp_path / "out"), manifest["samples"]):
        p = s.params
        assert p["source"] == "dpdd" and p["dpdd_pair"] == ("a.png", "b.png")[s.id % 2]
        assert p["focus_side"] == entry["focus_side"] == "unknown" and p["sigma_median"] is None
        assert np.isnan(s.sigma).all() and np.isnan(s.depth).all()
        src, tgt = originals[p["dpdd_pair"]]
        q = lambda a: np.round(np.clip(a, 0, 1) * 65535).astype(np.uint16)  # noqa: E731
        where = _locate(q(s.sharp), q(tgt))
        assert where is not None
        k, y, x = where
        src_view = list(_orientations(q(src)))[k]
        np.testing.assert_array_equal(q(s.defocused), src_view[y:y + 16, x:x + 16])
        lam99 = p["camera"]["k"] * np.percentile(s.irradiance, settings.EXPOSURE_PERCENTILE)
        assert lam99 == pytest.approx(p["lambda_p99"], rel=1e-4)


def test_dpdd_source_without_the_directory_is_a_clear_error(tmp_path):
    cfg = {**TINY, "source": "dpdd", "dpdd_root": str(tmp_path / "nope")}
    with pytest.raises(InputError, match="train_c"):
        ds.generate_dataset(cfg, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------ images source
def test_images_source_defocuses_crops_of_the_photographs(tmp_path):
    """``source: images``: each sample's sharp target is a crop (and flip) of its
    photograph, its depth is positive and its blur follows the stratified side and bin
    exactly as procedural samples do; the same config gives the same bytes twice."""
    import imageio.v3 as iio

    from spikesim.inputs import load_image

    rng = np.random.default_rng(0)
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("b.png", "a.png"):
        iio.imwrite(photos / name, rng.integers(1, 256, (28, 36), dtype=np.uint8))
    (photos / "notes.txt").write_text("not an image")
    cfg = {"width": 32, "height": 24, "steps": 192, "num": 6, "seed": 3, "source": "images",
           "image_dir": str(photos), "stratified": True}
    ds.generate_dataset(cfg, tmp_path / "out")
    q = lambda a: np.round(np.clip(a, 0, 1) * 65535).astype(np.uint16)  # noqa: E731
    sides = []
    for s in ds.iter_samples(tmp_path / "out"):
        p = s.params
        assert p["source"] == "images" and p["scene_kind"] == "image"
        assert p["image"] == ("a.png", "b.png")[s.id % 2]          # sorted by name
        assert _locate(q(s.sharp), q(load_image(photos / p["image"]))) is not None
        side, interval = ds.stratum(ds.load_dataset_config(cfg), s.id)
        want = 0 if interval is None else ds.blur_bin(math.sqrt(interval[0] * interval[1]))
        assert p["target"]["met"] and ds.blur_bin(p["sigma_median"]) == want
        sides.append(p["focus_side"])
    assert sides == ["front", "on", "back"] * 2
    ds.generate_dataset(cfg, tmp_path / "again")
    assert_same_tree(tmp_path / "out" / "samples", tmp_path / "again" / "samples")


@pytest.mark.parametrize("case, match", [("missing", "existing directory"),
                                         ("empty", "at least one image"),
                                         ("small", "at least the sample size")])
def test_images_source_bad_directory_is_a_clear_error(tmp_path, case, match):
    import imageio.v3 as iio

    photos = tmp_path / "photos"
    if case != "missing":
        photos.mkdir()
    if case == "small":
        iio.imwrite(photos / "tiny.png", np.full((8, 8), 128, np.uint8))
    cfg = {**TINY, "source": "images", "image_dir": str(photos)}
    with pytest.raises(InputError, match=match) as err:
        ds.generate_dataset(cfg, tmp_path / "out")
    assert str(err.value).startswith("image_dir: ") and not (tmp_path / "out").exists()


def test_images_source_resume_needs_the_same_pictures(tmp_path):
    """images.yaml lists the pictures: resuming after one changed is refused by name, and
    two workers give the same bytes as one."""
    import imageio.v3 as iio

    rng = np.random.default_rng(1)
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.png", "b.png"):
        iio.imwrite(photos / name, rng.integers(1, 256, (20, 20), dtype=np.uint8))
    cfg = {"width": 16, "height": 16, "steps": 192, "num": 2, "seed": 5, "source": "images",
           "image_dir": str(photos)}
    ds.generate_dataset(cfg, tmp_path / "one")
    ds.generate_dataset(cfg, tmp_path / "two", workers=2)
    assert_same_tree(tmp_path / "one", tmp_path / "two")
    iio.imwrite(photos / "b.png", rng.integers(1, 256, (20, 20), dtype=np.uint8))
    with pytest.raises(InputError, match="b.png"):
        ds.generate_dataset(cfg, tmp_path / "one", num=3, resume=True)


def test_images_source_sample_made_in_memory_checks_its_picture(tmp_path):
    """compute_sample (the training pool's path, which skips generate's up-front check)
    refuses a too-small picture by the same rule, naming image_dir."""
    import imageio.v3 as iio

    (tmp_path / "p").mkdir()
    iio.imwrite(tmp_path / "p" / "tiny.png", np.full((8, 8), 128, np.uint8))
    cfg = ds.load_dataset_config({**TINY, "source": "images", "image_dir": str(tmp_path / "p")})
    with pytest.raises(InputError, match=r"^image_dir: got tiny.png \(8x8\)"):
        ds.compute_sample(cfg, 0)


def test_images_source_needs_its_directory():
    with pytest.raises(ConfigError, match="image_dir"):
        ds.load_dataset_config({**TINY, "source": "images"})


def test_images_source_reads_the_reds_frames(shared_data, tmp_path):
    """natural_reds.yaml's pictures: the two REDS ground-truth frames (8-bit, 400x250) are
    the only images in their folder, and a sample's target is a crop of its frame."""
    from spikesim.inputs import image_catalogue, load_image

    folder = shared_data / "interop"
    names = [e["name"] for e in image_catalogue(folder, (240, 400))]
    assert names == ["reds_200_part1_key151_gt.png", "reds_200_part3_key151_gt.png"]
    cfg = {"width": 64, "height": 48, "steps": 192, "num": 1, "seed": 2, "source": "images",
           "image_dir": str(folder)}
    ds.generate_dataset(cfg, tmp_path / "out")
    s = next(iter(ds.iter_samples(tmp_path / "out")))
    q = lambda a: np.round(np.clip(a, 0, 1) * 65535).astype(np.uint16)  # noqa: E731
    assert _locate(q(s.sharp), q(load_image(folder / names[0]))) is not None


def test_natural_config_loads_and_matches_the_test_recipe():
    """experiments/configs/natural_reds.yaml is the public test set's recipe on photographs."""
    root = Path(__file__).resolve().parents[1]
    nat = dataclasses.asdict(ds.load_dataset_config(root / "experiments/configs/natural_reds.yaml"))
    test = dataclasses.asdict(ds.load_dataset_config(root / "examples/configs/testset.yaml"))
    diff = {k for k in nat if nat[k] != test[k]}
    assert diff == {"name", "height", "num", "seed", "source", "image_dir"}


def test_resume_cannot_shrink_a_dataset(reference, tmp_path):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(reference, out)
    with pytest.raises(InputError) as err:
        ds.generate_dataset(TINY, out, num=2, resume=True)
    assert err.value.param == "--num" and "at least 4" in str(err.value)
    # resuming a complete dataset changes nothing
    ds.generate_dataset(TINY, out, resume=True)
    assert_same_tree(reference, out)


@pytest.mark.parametrize("kwargs", [{"workers": 0}, {"workers": 2, "scheduler": "tcp://x:1"}])
def test_bad_worker_settings_are_refused_before_any_output(tmp_path, kwargs):
    with pytest.raises(InputError) as err:
        ds.generate_dataset(TINY, tmp_path / "w", **kwargs)
    assert err.value.param == "--workers"
    assert not (tmp_path / "w").exists()


# ------------------------------------------------------------------------ the source registry
def _ramp_source(calls: list):
    """A test source: sample ``i`` shows a horizontal ramp (flipped for odd ``i``), in focus,
    at 2 m; its ``inputs`` hook (the ramp) counts its calls in ``calls``."""
    def inputs(config):
        calls.append(config.name)
        return np.tile(np.linspace(0.1, 0.9, config.width, dtype=np.float32), (config.height, 1))

    def content(config, index, rng, ramp):
        sharp = ramp if index % 2 == 0 else ramp[:, ::-1].copy()
        full = lambda v: np.full(sharp.shape, v, np.float32)  # noqa: E731
        params = {"scene_kind": "ramp", "lens": None, "render_layers": 0,
                  "target": {"side": "on", "sigma": None, "coc": 0.0, "coc_spread": 0.0,
                             "met": True, "tries": 0}}
        return ds.Content(sharp, sharp.copy(), full(2.0), full(0.5), full(0.0), params)

    return ds.Source(content=content, inputs=inputs)


def test_a_registered_source_is_all_a_new_source_needs(tmp_path):
    """One Source record registered under a new name: the config accepts the name (and
    refused it before), generate lists the source's inputs once per run, and every sample
    shows exactly the source's content, classed from its maps."""
    cfg = {**TINY, "source": "ramp", "num": 2, "stratified": False}
    with pytest.raises(ConfigError, match="^source: got ramp; expected one of procedural"):
        ds.load_dataset_config(cfg)
    calls = []
    ds.register_source("ramp", _ramp_source(calls))
    try:
        with pytest.raises(ConfigError, match="^source: got ramp; expected a new"):
            ds.register_source("ramp", _ramp_source(calls))         # a name is taken once
        ds.generate_dataset(cfg, tmp_path / "out")
        assert calls == ["tiny"]
        ramp = _ramp_source([]).inputs(ds.load_dataset_config(cfg))
        q = lambda a: np.round(np.clip(a, 0, 1) * 65535).astype(np.uint16)  # noqa: E731
        samples = list(ds.iter_samples(tmp_path / "out"))
        assert [s.id for s in samples] == [0, 1]
        for s in samples:
            want = ramp if s.id % 2 == 0 else ramp[:, ::-1]
            np.testing.assert_array_equal(q(s.sharp), q(want))
            np.testing.assert_array_equal(q(s.defocused), q(want))
            assert s.params["source"] == "ramp" and s.params["scene_kind"] == "ramp"
            assert (s.params["focus_side"], s.params["blur_bin"]) == ("on", "[0,1)")
            assert np.all(s.depth == 2.0)
    finally:
        ds.SOURCES.pop("ramp")


# ------------------------------------------------------------------------ bins and summary
def test_bin_labels_follow_the_edges_in_settings():
    """One definition: the labels are made from settings.DATASET_BLUR_BIN_EDGES, each edge
    opens its bin, and evaluation breaks results down by the same labels and sides."""
    from restore import evaluate

    edges = settings.DATASET_BLUR_BIN_EDGES
    assert len(ds.BLUR_BIN_LABELS) == len(edges) + 1
    for i, e in enumerate(edges):
        assert ds.blur_bin(e) == i + 1 and ds.blur_bin(np.nextafter(e, 0.0)) == i
        assert ds.BLUR_BIN_LABELS[i + 1].startswith(f"[{e:g},")
    assert ds.BLUR_BIN_LABELS[-1].endswith(",inf)")
    assert evaluate.BLUR_BIN_LABELS is ds.BLUR_BIN_LABELS
    assert evaluate.FOCUS_SIDES is ds.FOCUS_SIDES


def test_manifest_summary_counts_in_bin_order_with_unknown_last():
    entry = lambda side, b, met=True: {"focus_side": side, "blur_bin": b,  # noqa: E731
                                       "target_met": met}
    samples = [entry("back", "[4,inf)"), entry("unknown", "unknown"), entry("on", "[0,1)"),
               entry("front", "[2,4)", met=False), entry("back", "[4,inf)")]
    summary = ds.manifest_summary({"num": 6, "done": 5, "complete": False, "samples": samples})
    assert summary["focus_side"] == {"front": 1, "on": 1, "back": 2, "unknown": 1}
    assert list(summary["blur_bin"].items()) == [("[0,1)", 1), ("[2,4)", 1), ("[4,inf)", 2),
                                                 ("unknown", 1)]
    assert (summary["done"], summary["num"], summary["target_missed"]) == (5, 6, 1)
