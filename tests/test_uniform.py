"""`spikesim uniform`: uniform-field captures laid out as formats.md says."""

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from cli.spikesim_cli import main
from spikesim.camera import Camera
from spikesim.config import CameraProfile, load_yaml_config
from spikesim.errors import InputError
from spikesim.fpn import load_truth
from spikesim.stream import SpikeStream
from spikesim.uniform import capture_uniform_fields, check_levels, field_seed, uniform_fields


@pytest.fixture()
def camera(tmp_path):
    """A small noise-free camera with defects (so counts are exact to ±1)."""
    path = tmp_path / "cam.yaml"
    path.write_text("width: 32\nheight: 8\ntheta_sd: 0.0\nhot_fraction: 0.02\n"
                    "dead_fraction: 0.02\n")
    return path


def _run(*args):
    return CliRunner().invoke(main, list(map(str, args)), catch_exceptions=False)


def test_writes_the_formats_md_layout(tmp_path, camera):
    out = tmp_path / "fields"
    res = _run("uniform", "--camera", camera, "--levels", "0,153,335.5", "--steps", 400,
               "-o", out, "--fpn-seed", 4, "--seed", 1)
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in out.iterdir())
    assert {"field_0.dat", "field_153.dat", "field_335.5.dat", "fields.yaml",
            "truth.npz"} <= set(names)
    meta = yaml.safe_load((out / "fields.yaml").read_text())
    assert meta["levels"] == [0.0, 153.0, 335.5]
    assert meta["steps"] == 400 and meta["resolution"] == "32x8"
    assert meta["readout_hz"] == 20000.0 and meta["fpn_seed"] == 4
    assert meta["camera"]["width"] == 32 and meta["camera"]["theta_sd"] == 0.0
    assert (out / "field_153.dat").stat().st_size == 400 * 32 * 8 // 8
    seeds = [f["seed"] for f in meta["fields"]]
    assert len(set(seeds)) == 3                           # one derived seed per field

    # the fields follow the rate model with the true maps: counts within ±1
    fpn, scalars = load_truth(out / "truth.npz")
    profile = CameraProfile(width=32, height=8)
    for label, lux in (("0", 0.0), ("153", 153.0), ("335.5", 335.5)):
        s = SpikeStream.read_dat(out / f"field_{label}.dat", size=(32, 8))
        lam = scalars["k"] * fpn.gain.astype(np.float64) * (lux + fpn.dark)
        sub = lam <= 1
        expected = 400 / (scalars["dead_time"] + 1 / np.maximum(lam, 1e-12))
        assert np.abs(s.counts()[sub] - expected[sub]).max() <= 1
        assert (s.counts()[fpn.dead] == 0).all()
        assert (s.counts()[~sub] == 200).all()            # saturated hot pixels: 1/(1+δ)
    assert profile.k == scalars["k"]


def test_reproducible_and_camera_shared(tmp_path, camera):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for d, seed in ((a, 0), (b, 0), (c, 1)):
        assert _run("uniform", "--camera", camera, "--levels", "50", "--steps", 64,
                    "-o", d, "--seed", seed).exit_code == 0
    assert (a / "field_50.dat").read_bytes() == (b / "field_50.dat").read_bytes()
    assert (a / "field_50.dat").read_bytes() != (c / "field_50.dat").read_bytes()
    # same fpn_seed -> same camera whatever the sensor seed
    assert (a / "truth.npz").read_bytes() == (c / "truth.npz").read_bytes()


def test_refuses_non_empty_directory(tmp_path, camera):
    out = tmp_path / "f"
    res = _run("uniform", "--camera", camera, "--levels", "1", "--steps", 8, "-o", out)
    assert res.exit_code == 0
    res = _run("uniform", "--camera", camera, "--levels", "1", "--steps", 8, "-o", out)
    assert res.exit_code == 2 and "--overwrite" in res.output
    res = _run("uniform", "--camera", camera, "--levels", "1", "--steps", 8, "-o", out,
               "--overwrite")
    assert res.exit_code == 0


@pytest.mark.parametrize("levels,needle", [("0,abc", "abc"), ("0,-5", "-5"), ("0,nan", "nan"),
                                           (",", "--levels"), ("3,3", "distinct")])
def test_bad_levels(tmp_path, camera, levels, needle):
    res = _run("uniform", "--camera", camera, "--levels", levels, "--steps", 8,
               "-o", tmp_path / "x")
    assert res.exit_code == 2
    assert "--levels" in res.output and needle in res.output
    assert not (tmp_path / "x").exists()


def test_default_camera_is_the_reference(tmp_path):
    res = _run("uniform", "--levels", "100", "--steps", 3, "-o", tmp_path / "r")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "r" / "field_100.dat").stat().st_size == 3 * 400 * 250 // 8
    meta = yaml.safe_load((tmp_path / "r" / "fields.yaml").read_text())
    assert meta["camera"]["name"] == CameraProfile().name and meta["resolution"] == "400x250"


def test_library_api_validation(tmp_path):
    assert check_levels([0, 153.0, "335.5"]) == [("0", 0.0), ("153", 153.0), ("335.5", 335.5)]
    camera = Camera(CameraProfile(width=8, height=1), 0)
    with pytest.raises(InputError, match="steps"):
        capture_uniform_fields(camera, [1], 0, tmp_path / "s")
    with pytest.raises(InputError, match="fpn_seed"):
        Camera(CameraProfile(width=8, height=1), -1)
    with pytest.raises(InputError, match="field_seeds"):
        uniform_fields(camera, [1, 2], 5, field_seeds=[3])
    with pytest.raises(InputError, match="camera"):
        uniform_fields(CameraProfile(width=8, height=1), [1], 5)
    assert not (tmp_path / "s").exists()


def test_uniform_fields_are_the_streams_spikesim_uniform_writes(tmp_path, camera):
    """The pure function and the command give the same streams, byte for byte (the files
    are its output written out), with the seeds ``fields.yaml`` records."""
    out = tmp_path / "fields"
    assert _run("uniform", "--camera", camera, "--levels", "0,153,335.5", "--steps", 300,
                "-o", out, "--fpn-seed", 4, "--seed", 9).exit_code == 0
    meta = yaml.safe_load((out / "fields.yaml").read_text())
    cam = Camera(load_yaml_config(camera, CameraProfile, "camera"), 4)
    fields = list(uniform_fields(cam, ["0", "153", "335.5"], 300, seed=9))
    assert [f.label for f in fields] == ["0", "153", "335.5"]
    assert [f.level for f in fields] == meta["levels"]
    assert [f.seed for f in fields] == [f["seed"] for f in meta["fields"]]
    assert [f.seed for f in fields] == [field_seed(9, i) for i in range(3)]
    for f in fields:
        assert f.stream.shape == (300, 8, 32)
        assert f.stream.packed.tobytes() == (out / f"field_{f.label}.dat").read_bytes()
    # explicit seeds: the same field from the same seed
    again = next(uniform_fields(cam, [153], 300, field_seeds=[fields[1].seed]))
    assert np.array_equal(again.stream.packed, fields[1].stream.packed)


def test_structured_camera_same_bytes_on_one_and_two_threads(tmp_path):
    """The reference camera's structured maps and its fields do not depend on the thread
    count (numpy/scipy draws, counter-based sensor noise)."""
    cam = tmp_path / "cam.yaml"
    cam.write_text("width: 64\nheight: 48\n")
    trees = []
    for threads in (1, 2):
        out = tmp_path / f"t{threads}"
        res = _run("uniform", "--camera", cam, "--levels", "0,153", "--steps", 500,
                   "--fpn-seed", 3, "--threads", threads, "-o", out)
        assert res.exit_code == 0, res.output
        trees.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert trees[0] == trees[1]
    fpn, _ = load_truth(tmp_path / "t1" / "truth.npz")
    assert np.ptp(fpn.gain[fpn.good]) > 0.1                  # a structured gain indeed
