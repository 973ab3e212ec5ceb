"""``spikecal fit / show / eval`` through click's CliRunner.

Captures are written the way ``spikesim uniform`` lays them out (formats.md): a small
32x16 reference-profile camera (hot and dead fractions raised so the frame holds some),
4,000 steps per field, ``field_<level>.dat`` + ``fields.yaml`` + ``truth.npz``.
"""

import dataclasses
import json

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from cli.spikecal_cli import main
from spikesim.camera import Camera
from spikesim.config import CameraProfile

W, H, STEPS = 32, 16, 4000
LEVELS = (0, 153, 335)


@pytest.fixture(scope="module")
def uniform_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("uniform")
    profile = dataclasses.replace(CameraProfile(), width=W, height=H, hot_fraction=0.01,
                                  dead_fraction=0.004)
    camera = Camera(profile, 3)
    for i, level in enumerate(LEVELS + (250,)):
        stream = camera.capture(np.full((H, W), float(level), np.float32), STEPS, seed=10 + i)
        stream.write_dat(out / f"field_{level}.dat")
    (out / "fields.yaml").write_text(yaml.safe_dump(
        {"levels": list(LEVELS), "steps": STEPS, "resolution": {"width": W, "height": H},
         "fpn_seed": 3}))
    camera.save_truth(out / "truth.npz")
    return out


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_fit_directory_show_and_eval(uniform_dir, tmp_path):
    cam = tmp_path / "cam.npz"
    res = run("fit", uniform_dir, "-o", cam, "--report", tmp_path / "rep")
    assert res.exit_code == 0, res.output
    assert "PRNU" in res.output and "dead time" in res.output
    with np.load(cam, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        assert meta["levels"] == [0, 153, 335] and meta["method"] == "lsq"
        assert all(np.isfinite(data[k]).all() for k in data.files if k != "meta")
    for name in ("cal_gain.png", "cal_offset.png", "cal_gamma.png", "cal_defects.png",
                 "cal_histograms.png", "summary.json"):
        assert (tmp_path / "rep" / name).stat().st_size > 0
    import imageio.v3 as iio
    assert iio.imread(tmp_path / "rep" / "cal_gain.png").shape[1] == W

    res = run("show", cam, "--check", uniform_dir / "field_250.dat", "--level", 250,
              "--size", f"{W}x{H}", "--json")
    assert res.exit_code == 0, res.output
    chk = json.loads(res.output)["check"]
    assert chk["nu_full_pct"] < chk["nu_raw_pct"] / 5
    assert abs(chk["level_bias_pct"]) < 1

    res = run("eval", cam, "--truth", uniform_dir / "truth.npz", "--json")
    assert res.exit_code == 0, res.output
    ev = json.loads(res.output)
    assert ev["gain_error_median_pct"] < 0.2
    assert ev["hot_misses"] == 0 and ev["dead_misses"] == 0
    res = run("eval", cam, "--truth", uniform_dir / "truth.npz")
    assert res.exit_code == 0 and "gain error: median" in res.output


def test_fit_files_with_levels_paper_and_json(uniform_dir, tmp_path):
    files = [uniform_dir / f"field_{v}.dat" for v in LEVELS]
    res = run("fit", *files, "--levels", "0,153,335", "--method", "paper",
              "--size", f"{W}x{H}", "-o", tmp_path / "p.npz", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["dead_time"]["value"] == 1.0 and "assumed" in out["dead_time"]["source"]
    res = run("fit", *files, "--levels", "auto", "--size", f"{W}x{H}",
              "-o", tmp_path / "a.npz", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["levels_auto"] is True


def test_fit_refuses_to_clobber_and_bad_levels(uniform_dir, tmp_path):
    cam = tmp_path / "cam.npz"
    cam.write_bytes(b"x")
    res = run("fit", uniform_dir, "-o", cam)
    assert res.exit_code == 2 and "--overwrite" in res.output
    assert cam.read_bytes() == b"x"
    files = [uniform_dir / f"field_{v}.dat" for v in LEVELS]
    res = run("fit", *files, "--levels", "0,335,153", "--size", f"{W}x{H}",
              "-o", tmp_path / "b.npz")
    assert res.exit_code == 2 and "strictly increasing" in res.output
    assert not (tmp_path / "b.npz").exists()
    res = run("fit", *files, "--levels", "0,153", "--size", f"{W}x{H}", "-o", tmp_path / "b.npz")
    assert res.exit_code == 2 and "one level per field" in res.output
    res = run("fit", *files, "--size", f"{W}x{H}", "-o", tmp_path / "b.npz")
    assert res.exit_code == 2 and "--levels" in res.output


def test_fit_fields_of_different_lengths_and_zero_capture(uniform_dir, tmp_path):
    files = [uniform_dir / f"field_{v}.dat" for v in LEVELS]
    short = tmp_path / "short.dat"
    short.write_bytes(files[1].read_bytes()[: (W * H // 8) * 1000])
    res = run("fit", files[0], short, files[2], "--levels", "0,153,335", "--size", f"{W}x{H}",
              "-o", tmp_path / "c.npz")
    assert res.exit_code == 2 and "same number of steps" in res.output
    zero = tmp_path / "zero.dat"
    zero.write_bytes(bytes(files[0].stat().st_size))
    res = run("fit", zero, files[1], files[2], "--levels", "0,153,335", "--size", f"{W}x{H}",
              "-o", tmp_path / "c.npz")
    assert res.exit_code == 2 and "no spike at all" in res.output


def test_show_refuses_other_resolution(uniform_dir, tmp_path):
    cam = tmp_path / "cam.npz"
    assert run("fit", uniform_dir, "-o", cam).exit_code == 0
    res = run("show", cam, "--check", uniform_dir / "field_250.dat", "--level", 250,
              "--size", f"{W // 2}x{H * 2}")         # contradicts the field's sidecar
    assert res.exit_code == 2 and "--size" in res.output and "sidecar" in res.output
    bare = tmp_path / "bare.dat"                    # the same bytes without a sidecar
    bare.write_bytes((uniform_dir / "field_250.dat").read_bytes())
    res = run("show", cam, "--check", bare, "--level", 250, "--size", f"{W // 2}x{H * 2}")
    assert res.exit_code == 2 and "calibration" in res.output and "resolution" in res.output
    res = run("show", cam)
    assert res.exit_code == 0 and "PRNU" in res.output


def test_fit_quiet_prints_only_the_file_name(tmp_path):
    """-q silences the summary (the file is still written and named)."""
    import numpy as np

    from spikesim.rate_law import rate_from_charge
    from spikesim.stream import SpikeStream

    rng = np.random.default_rng(1)
    gain = rng.normal(1, 0.04, (8, 16))
    paths = []
    for level in (0.0, 153.0, 335.0):
        lam = rate_from_charge(gain * (level + 3.0) / 800, 1.0)
        spikes = (rng.random((2000, 8, 16)) < lam).astype(np.uint8)
        p = tmp_path / f"field_{level:g}.dat"
        SpikeStream.from_dense(spikes).write_dat(p)
        paths.append(str(p))
    out = tmp_path / "cam.npz"
    res = CliRunner().invoke(main, ["-q", "fit", *paths, "--levels", "0,153,335",
                                    "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert out.is_file()
    assert res.output.strip() == f"wrote {out}"
