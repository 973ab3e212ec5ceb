"""``spikesim render`` through click's CliRunner: files written, reproducibility, errors."""

import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from cli.spikesim_cli import main
from spikesim.stream import SpikeStream

W, H, STEPS = 64, 48, 40
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def camera(tmp_path):
    path = tmp_path / "cam.yaml"
    path.write_text(yaml.safe_dump({"width": W, "height": H}))
    return path


def run(*args):
    return CliRunner().invoke(main, ["render", *map(str, args)])


def test_render_procedural_scene_writes_everything(tmp_path, camera):
    out = tmp_path / "out"
    res = run("scene:dead_leaves", "--camera", camera, "--steps", STEPS, "--seed", 3, "-o", out)
    assert res.exit_code == 0, res.output
    for name in ("capture.dat", "capture.dat.yaml", "sharp_srgb.png", "defocused_srgb.png",
                 "sigma.png", "maps.npz", "preview.png", "render.yaml"):
        assert (out / name).is_file(), name
    assert (out / "capture.dat").stat().st_size == STEPS * W * H // 8
    side = yaml.safe_load((out / "capture.dat.yaml").read_text())
    assert (side["width"], side["height"], side["flipped"]) == (W, H, True)
    stream = SpikeStream.read_dat(out / "capture.dat", size=(W, H))
    assert len(stream) == STEPS
    with np.load(out / "maps.npz", allow_pickle=False) as maps:
        assert set(maps.files) == {"depth", "sigma", "coc", "irradiance", "sharp"}
        assert all(maps[k].shape == (H, W) for k in maps.files)
        assert (maps["depth"] >= 0.3).all() and (maps["sigma"] >= 0.5 - 1e-6).all()
    assert iio.imread(out / "sigma.png").shape == (H, W, 3)
    info = yaml.safe_load((out / "render.yaml").read_text())
    assert info["scene_kind"] == "dead_leaves" and info["steps"] == STEPS
    # rate over the capture tracks the irradiance: brighter pixels fire more
    rate = stream.counts() / STEPS
    with np.load(out / "maps.npz", allow_pickle=False) as maps:
        assert np.corrcoef(rate.ravel(), maps["irradiance"].ravel())[0, 1] > 0.8


def test_render_is_reproducible_from_its_seeds(tmp_path, camera):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for out, seed in ((a, 1), (b, 1), (c, 2)):
        assert run("scene:grille", "--camera", camera, "--steps", STEPS, "--seed", seed,
                   "-o", out).exit_code == 0
    assert (a / "capture.dat").read_bytes() == (b / "capture.dat").read_bytes()
    assert (a / "capture.dat").read_bytes() != (c / "capture.dat").read_bytes()


def test_render_image_with_depth_map_and_default_exposure(tmp_path, camera):
    img = (np.random.default_rng(0).random((H, W)) * 255).astype(np.uint8)
    iio.imwrite(tmp_path / "img.png", img)
    depth = np.full((H, W), 1.5, np.float32)                  # all at the focus distance
    np.save(tmp_path / "depth.npy", depth)
    out = tmp_path / "out"
    res = run(tmp_path / "img.png", "--depth", tmp_path / "depth.npy", "--camera", camera,
              "--steps", STEPS, "-o", out)
    assert res.exit_code == 0, res.output
    info = yaml.safe_load((out / "render.yaml").read_text())
    # physics.md §4b: the 99th-percentile irradiance gives λ ≈ 0.6 (the in-focus floor
    # blur of a noise image lowers the p99 of the defocused irradiance a little)
    assert 0.45 < info["lambda_p99_ideal"] <= 0.6 + 1e-6
    with np.load(out / "maps.npz", allow_pickle=False) as maps:
        np.testing.assert_array_equal(maps["depth"], depth)
        assert abs(maps["coc"]).max() < 1e-4
    res = run(tmp_path / "img.png", "--depth-m", 3.0, "--camera", camera, "--steps", STEPS,
              "--illuminance", 250, "-o", tmp_path / "o2")
    assert res.exit_code == 0, res.output
    assert yaml.safe_load((tmp_path / "o2" / "render.yaml").read_text())[
        "illuminance_lux"] == 250.0


def test_existing_output_is_not_clobbered(tmp_path, camera):
    out = tmp_path / "out"
    assert run("scene:text", "--camera", camera, "--steps", 8, "-o", out).exit_code == 0
    before = (out / "capture.dat").read_bytes()
    res = run("scene:text", "--camera", camera, "--steps", 8, "--seed", 9, "-o", out)
    assert res.exit_code == 2 and "--overwrite" in res.output
    assert (out / "capture.dat").read_bytes() == before
    res = run("scene:text", "--camera", camera, "--steps", 8, "--seed", 9, "-o", out,
              "--overwrite")
    assert res.exit_code == 0 and (out / "capture.dat").read_bytes() != before


def test_a_render_directory_has_one_writer_at_a_time(tmp_path, camera):
    """render takes DIR/.lock as generate and uniform do: while another run holds it, a
    render (even with --overwrite) is refused in one line naming the holder and writes
    nothing; afterwards the lock is gone and the capture is complete."""
    import os

    from spikesim.atomic import writer_lock

    out = tmp_path / "out"
    args = ("scene:text", "--camera", camera, "--steps", 8, "-o", out)
    with writer_lock(out):                       # another run holds the directory
        res = run(*args, "--overwrite")
        assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
        assert f"being written by pid {os.getpid()}" in res.output
        assert [p.name for p in out.iterdir()] == [".lock"]
    assert not out.exists()                      # the lock's empty directory is removed
    assert run(*args).exit_code == 0
    assert (out / "render.yaml").is_file() and not (out / ".lock").exists()


@pytest.mark.parametrize("setup, extra, needle", [
    ("size", [], "depth"),
    ("nan", [], "depth"),
    ("negative", [], "depth"),
    (None, ["--depth-m", "-2"], "depth_m"),
    (None, ["--focus-m", "0.01"], "focus_distance"),
    (None, ["--f-number", "0"], "f_number"),
    (None, ["--depth-m", "2", "--illuminance", "-5"], "illuminance"),
])
def test_bad_inputs_exit_2_naming_the_parameter(tmp_path, camera, setup, extra, needle):
    iio.imwrite(tmp_path / "img.png", np.full((H, W), 100, np.uint8))
    args = [tmp_path / "img.png", "--camera", camera, "--steps", 4, "-o", tmp_path / "o"]
    if setup:
        d = {"size": np.ones((H + 1, W)), "nan": np.where(np.eye(H, W) > 0, np.nan, 1.0),
             "negative": -np.ones((H, W))}[setup]
        np.save(tmp_path / "d.npy", d)
        args += ["--depth", tmp_path / "d.npy"]
    res = run(*args, *extra)
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.startswith("Error")]
    assert len(lines) == 1 and needle in lines[0], res.output
    assert not (tmp_path / "o" / "capture.dat").exists()


def test_bad_scene_kind_and_image_size(tmp_path, camera):
    res = run("scene:dead_leafs", "--camera", camera, "-o", tmp_path / "o")
    assert res.exit_code == 2 and "dead_leaves" in res.output
    iio.imwrite(tmp_path / "img.png", np.full((10, 16), 100, np.uint8))
    res = run(tmp_path / "img.png", "--camera", camera, "-o", tmp_path / "o")
    assert res.exit_code == 2 and "16x10" in res.output and f"{W}x{H}" in res.output


def test_help_does_not_import_heavy_modules():
    code = ("import sys, cli.sim_render; "
            "print(any(m in sys.modules for m in ('scipy', 'numba', 'torch')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True, env={"PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------- --truth-every
def _truth(out):
    with np.load(out / "sequence_truth.npz", allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def test_truth_every_of_a_focus_sweep_follows_the_key_frames(tmp_path, camera):
    """The σ and defocused maps change over a sweep; at a key frame they are that key
    frame's render, in between the sensor's linear interpolation."""
    import dataclasses

    from spikesim.config import Lens
    from spikesim.render import render_scene
    from spikesim.sensor import key_frame_weights

    out, steps = tmp_path / "sweep", 61
    res = run("scene:dead_leaves", "--camera", camera, "--steps", steps, "--focus-sweep",
              "0.8,1.5,3", "--truth-every", 10, "-o", out)
    assert res.exit_code == 0, res.output
    t = _truth(out)
    assert t["steps"].tolist() == list(range(0, steps, 10)) and int(t["every"]) == 10
    assert all(t[k].shape == (7, H, W) and t[k].dtype == np.float32
               for k in ("sharp", "sigma", "defocused"))
    with np.load(out / "maps.npz", allow_pickle=False) as maps:
        info = yaml.safe_load((out / "render.yaml").read_text())
        np.testing.assert_array_equal(t["sigma"][0], maps["sigma"])          # key frame 0
        np.testing.assert_allclose(t["defocused"][0],
                                   maps["irradiance"] / np.float32(info["illuminance_lux"]))
        np.testing.assert_array_equal(t["sharp"][3], maps["sharp"])   # a sweep: one scene
        lens = dataclasses.replace(Lens(), focus_distance=3.0)
        last = render_scene(maps["sharp"], maps["depth"], lens, info["camera"]["pixel_pitch"],
                            info["illuminance_lux"])
    np.testing.assert_array_equal(t["sigma"][6], last.sigma)            # step 60: last key
    f0, w0, w1 = key_frame_weights(3, steps)
    assert 0 < w1[20] < 1 and f0[20] == 0                                 # between keys 0, 1
    assert t["sigma"][0].mean() > t["sigma"][2].mean() > t["sigma"][6].mean()


def test_truth_every_of_a_moving_camera_moves_the_target(tmp_path, camera):
    out, steps = tmp_path / "move", 41
    res = run("scene:dead_leaves", "--camera", camera, "--steps", steps, "--translate-m",
              "0.004,0", "--key-frames", 3, "--truth-every", 20, "-o", out)
    assert res.exit_code == 0, res.output
    t = _truth(out)
    with np.load(out / "maps.npz", allow_pickle=False) as maps:
        np.testing.assert_array_equal(t["sharp"][0], maps["sharp"])        # start: unmoved
    assert np.abs(t["sharp"][2] - t["sharp"][0]).mean() > 0.01             # end: moved
    static = tmp_path / "static"
    assert run("scene:dead_leaves", "--camera", camera, "--steps", steps, "--truth-every", 20,
               "-o", static).exit_code == 0
    s = _truth(static)
    assert np.array_equal(s["sharp"][0], s["sharp"][2])                     # nothing moves


@pytest.mark.parametrize("value", [0, -5])
def test_truth_every_must_be_positive(tmp_path, camera, value):
    res = run("scene:grille", "--camera", camera, "--steps", STEPS, "--truth-every", value,
              "-o", tmp_path / "o")
    assert res.exit_code == 2 and "--truth-every" in res.output
    assert not (tmp_path / "o").exists()
