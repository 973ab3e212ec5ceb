"""A user's own camera: simulating the camera of a calibration file (issue 16, item 2).

``Camera.from_calibration`` / ``--camera-maps`` take gain, dark offset, defects, the
responsivity ``q`` implies and the dead time from a ``spikecal fit`` file; the loop closes
(fit -> simulate with the fitted maps -> fit again recovers the gain); bad files are one
line naming the file and the key, exit status 2, through every command that takes them.
"""

import dataclasses
import json
import pickle

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from calibration.calfile import Calibration, load_calibration
from calibration.fit import calibrate
from calibration.rates import measure_stream
from cli.spikesim_cli import main as spikesim
from spikesim import settings
from spikesim.camera import Camera
from spikesim.camera_maps import profile_from_calibration, read_calibration_maps
from spikesim.config import CameraProfile
from spikesim.errors import InputError
from spikesim.uniform import uniform_fields

W, H = 64, 48
LEVELS = (0.0, 153.0, 335.0)


def _camera(**kw):
    return Camera(dataclasses.replace(CameraProfile(), width=W, height=H, hot_fraction=0.01,
                                      dead_fraction=0.005, **kw), 3)


@pytest.fixture(scope="module")
def true_camera():
    return _camera()


@pytest.fixture(scope="module")
def truth_calibration(tmp_path_factory, true_camera):
    """The calibration of the camera's TRUE maps (Calibration.from_truth), saved."""
    path = tmp_path_factory.mktemp("cal") / "truth_cal.npz"
    Calibration.from_truth(true_camera.truth_arrays()).save(path)
    return path


def _fit(camera, steps, seed):
    fields = [measure_stream(f.stream) for f in uniform_fields(camera, LEVELS, steps, seed)]
    return calibrate(fields, LEVELS)


def test_the_camera_of_a_calibration_is_its_maps(true_camera, truth_calibration):
    own = Camera.from_calibration(truth_calibration, fpn_seed=5)
    true = true_camera.fpn
    assert own.shape == (H, W) and own.profile.maps.endswith("truth_cal.npz")
    assert own.profile.k == pytest.approx(true_camera.profile.k, rel=1e-6)
    assert own.profile.dead_time == true_camera.profile.dead_time
    np.testing.assert_array_equal(own.fpn.hot, true.hot)
    np.testing.assert_array_equal(own.fpn.dead, true.dead)
    np.testing.assert_allclose(own.fpn.gain, true.gain, rtol=1e-6)
    np.testing.assert_array_equal(own.fpn.dark[true.good], true.dark[true.good])
    # a calibration file does not keep hot offsets: drawn in the profile's hot range
    hot = own.fpn.dark[true.hot]
    assert hot.min() >= own.profile.hot_low and hot.max() <= own.profile.hot_high
    other = Camera.from_calibration(truth_calibration, fpn_seed=6)
    assert not np.array_equal(other.fpn.dark[true.hot], hot)
    np.testing.assert_array_equal(other.fpn.gain, own.fpn.gain)
    # what the fit measures, per pixel: charge = (E + L_d) / q
    calib = load_calibration(truth_calibration)
    good = calib.good
    lam = own.charge(np.full((H, W), 100.0, np.float32))
    np.testing.assert_allclose(lam[good], ((100.0 + calib.offset) / calib.q)[good], rtol=1e-5)


def test_fit_simulate_fit_recovers_the_gain(tmp_path, true_camera):
    """The loop closes. Stated bound for these short fields (2,000 steps, 64x48): median
    |gain difference| <= 0.1 % and its 95th percentile <= 2x the gain uncertainty the
    first fit reports (bench/bench_camera_maps.py measures 20,000-step 400x250 fields)."""
    first = _fit(true_camera, 2000, seed=1)
    path = first.save(tmp_path / "cam.npz")
    again = _fit(Camera.from_calibration(path), 2000, seed=2)      # other temporal noise
    both = first.good & again.good
    assert both.mean() > 0.95
    diff = 100 * np.abs(first.gain / np.median(first.gain[both])
                        - again.gain / np.median(again.gain[both]))[both]
    assert np.median(diff) <= 0.1
    assert np.percentile(diff, 95) <= 2 * first.summary()["gain_uncertainty_pct"]
    assert again.dead_time == pytest.approx(first.dead_time, abs=0.01)


def test_profile_records_the_file_and_checks_it(tmp_path, truth_calibration):
    p = profile_from_calibration(truth_calibration)
    assert len(p.maps_sha256) == 64 and p.gain_column_sd == 0 and p.gain_sd == 0
    assert p.name == "calibration:truth_cal.npz" and p.theta_sd == CameraProfile().theta_sd
    mine = profile_from_calibration(truth_calibration,
                                    dataclasses.replace(CameraProfile(), width=W, height=H,
                                                        theta_sd=0.02))
    assert mine.theta_sd == 0.02                       # the rest comes from the base profile
    with pytest.raises(InputError, match=r"64x48 maps.*camera profile's 400x250"):
        profile_from_calibration(truth_calibration, CameraProfile())
    changed = tmp_path / "changed.npz"
    changed.write_bytes(truth_calibration.read_bytes())
    moved = dataclasses.replace(p, maps=str(changed))
    Camera(moved).fpn                                  # same bytes: accepted
    cal = load_calibration(changed)
    cal.offset[0, 0] += 1.0
    cal.save(changed, overwrite=True)
    with pytest.raises(InputError, match="the file changed"):
        Camera(moved).fpn
    with pytest.raises(InputError, match="k .*dead_time"):
        Camera(dataclasses.replace(p, k=p.k * 2)).fpn


# ----------------------------------------------------------------------------- bad files
def _arrays(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _write(path, arrays):
    np.savez(path, **arrays)
    return path


def _meta(arrays, **changes):
    meta = json.loads(str(arrays["meta"]))
    meta.update(changes)
    return {**arrays, "meta": np.array(json.dumps(meta))}


def _bad_file(kind, good, tmp_path):
    """A broken copy of the calibration ``good``, and the key its error must name."""
    a = _arrays(good)
    out = tmp_path / f"{kind}.npz"
    if kind == "nan":
        a["gain"] = a["gain"].copy()
        a["gain"][3, 4] = np.nan
        return _write(out, a), "gain"
    if kind == "missing":
        del a["q"]
        return _write(out, a), "q"
    if kind == "object":
        a["offset"] = np.array([{"x": 1}] * 3, dtype=object)
        np.savez(out, **a)                             # numpy pickles it on save
        return out, "offset"
    if kind == "pickle":
        out.write_bytes(pickle.dumps({"gain": np.ones((H, W))}))
        return out, None
    if kind == "resolution":
        cal = load_calibration(good)
        big = {k: np.tile(getattr(cal, k), (2, 1)) for k in
               ("gain", "offset", "q", "gamma", "weight", "ratio", "defects", "residual")}
        Calibration(meta={**cal.meta, "resolution": {"width": W, "height": 2 * H}},
                    **big).save(out)
        return out, None
    if kind == "auto_levels":
        return _write(out, _meta(a, levels_auto=True)), "meta"
    if kind == "dead_time":
        return _write(out, _meta(a, dead_time={"value": 0.5, "source": "estimated"})), "meta"
    if kind == "q_disagrees":
        a["q"] = a["q"] * np.linspace(1, 2, a["q"].size).reshape(a["q"].shape)
        return _write(out, a), "q"
    raise AssertionError(kind)


BAD = ["nan", "missing", "object", "pickle", "auto_levels", "dead_time", "q_disagrees"]


@pytest.mark.parametrize("kind", BAD)
def test_bad_files_are_refused_naming_the_key(kind, tmp_path, truth_calibration):
    path, key = _bad_file(kind, truth_calibration, tmp_path)
    with pytest.raises(InputError) as err:
        read_calibration_maps(path)
    msg = str(err.value)
    assert str(path) in msg and "\n" not in msg
    if key:
        assert f"key {key!r}" in msg


def _camera_yaml(tmp_path):
    path = tmp_path / "cam.yaml"
    path.write_text(yaml.safe_dump({"width": W, "height": H}))
    return path


def _dataset_yaml(tmp_path, width=W, height=H):
    path = tmp_path / "ds.yaml"
    path.write_text(yaml.safe_dump({"name": "own", "width": width, "height": height,
                                    "steps": 192, "num": 2, "seed": 4}))
    return path


def _command(name, maps, tmp_path):
    out = tmp_path / f"out_{name}"
    if name == "render":
        return ["render", "scene:smooth", "--steps", "8", "--camera-maps", str(maps),
                "-o", str(out)], out
    if name == "uniform":
        return ["uniform", "--levels", "0,100", "--steps", "8", "--camera-maps", str(maps),
                "-o", str(out)], out
    return ["generate", "--config", str(_dataset_yaml(tmp_path)), "--camera-maps", str(maps),
            "-o", str(out)], out


@pytest.mark.parametrize("command", ["render", "uniform", "generate"])
@pytest.mark.parametrize("kind", BAD + ["resolution"])
def test_bad_files_through_the_cli(command, kind, tmp_path, truth_calibration):
    """Exit 2, one line naming the file (and the key), nothing written."""
    path, key = _bad_file(kind, truth_calibration, tmp_path)
    args, out = _command(command, path, tmp_path)
    if kind == "resolution" and command != "generate":
        args += ["--camera", str(_camera_yaml(tmp_path))]        # ask for 64x48
    res = CliRunner().invoke(spikesim, args)
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert str(path) in lines[0]
    if key:
        assert f"key {key!r}" in lines[0]
    if kind == "resolution":
        assert f"{W}x{2 * H} maps" in lines[0] and f"{W}x{H}" in lines[0]
    assert not out.exists()


def test_uniform_and_render_simulate_the_maps(tmp_path, truth_calibration, true_camera):
    res = CliRunner().invoke(spikesim, ["uniform", "--levels", "0,100", "--steps", "16",
                                        "--camera-maps", str(truth_calibration),
                                        "-o", str(tmp_path / "f")])
    assert res.exit_code == 0, res.output
    truth = _arrays(tmp_path / "f" / "truth.npz")
    np.testing.assert_allclose(truth["gain"], true_camera.fpn.gain, rtol=1e-6)
    fields = yaml.safe_load((tmp_path / "f" / "fields.yaml").read_text())
    assert fields["camera"]["maps"] == str(truth_calibration.resolve())
    res = CliRunner().invoke(spikesim, ["render", "scene:smooth", "--steps", "16",
                                        "--camera-maps", str(truth_calibration),
                                        "--lambda-p99", "0.05", "-o", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    rec = yaml.safe_load((tmp_path / "r" / "render.yaml").read_text())
    assert rec["camera"]["maps_sha256"] == profile_from_calibration(truth_calibration).maps_sha256
    sharp = _arrays(tmp_path / "r" / "maps.npz")["sharp"]       # the scene's p99 gives 0.05
    lam = rec["camera"]["k"] * rec["illuminance_lux"] * np.percentile(sharp, 99)
    assert lam == pytest.approx(0.05, rel=1e-6)


def test_generate_uses_the_maps_for_every_sample(tmp_path, truth_calibration, true_camera):
    out = tmp_path / "ds"
    res = CliRunner().invoke(spikesim, ["generate", "--config", str(_dataset_yaml(tmp_path)),
                                        "--camera-maps", str(truth_calibration), "-o", str(out)])
    assert res.exit_code == 0, res.output
    for sample in sorted((out / "samples").iterdir()):
        params = yaml.safe_load((sample / "sample.yaml").read_text())
        assert params["camera_mode"] == "fixed"
        assert params["camera"]["maps"] == str(truth_calibration.resolve())
        assert len(params["camera"]["maps_sha256"]) == 64
        cam = _arrays(sample / "camera.npz")
        np.testing.assert_allclose(cam["gain"], true_camera.fpn.gain, rtol=1e-6)
        assert float(cam["k"]) == pytest.approx(true_camera.profile.k, rel=1e-6)
    manifest = yaml.safe_load((out / "manifest.yaml").read_text())
    assert manifest["config"]["camera"]["maps"] == str(truth_calibration.resolve())
    # a dataset of another size: refused before anything is written
    res = CliRunner().invoke(spikesim, ["generate", "--config",
                                        str(_dataset_yaml(tmp_path, W, 2 * H)),
                                        "--camera-maps", str(truth_calibration),
                                        "-o", str(tmp_path / "ds2")])
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1
    assert f"{W}x{H} maps" in res.output and f"dataset's {W}x{2 * H}" in res.output
    assert not (tmp_path / "ds2").exists()


def test_defect_bits_are_the_calibration_files():
    from calibration import settings as cal_settings

    assert settings.CALIBRATION_DEFECT_DEAD == cal_settings.DEFECT_DEAD
    assert settings.CALIBRATION_DEFECT_HOT == cal_settings.DEFECT_HOT
