"""Issue 18, families "Calibration files and fields" and "Weights": one-line errors, exit 2.

Each case reproduces an audit finding through the CLI (exit code, the one line, the
files left behind). The property tests at the end feed the one calibration-file reader
(:mod:`spikesim.calibration_file`, behind ``calibration.calfile`` and ``--camera-maps``),
the weights reader and the checkpoint reader (:mod:`restore.despike.weights`) mutated and
arbitrary files: the result is valid (and usable: ``spikecal show`` prints it, the
network loads it, the optimiser steps) or the toolkit's own error, never another
exception.
"""

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from calibration.calfile import MAP_KEYS, Calibration, load_calibration
from calibration.fit import calibrate
from calibration.rates import FieldRates
from calibration.report import summary_lines
from cli.spikecal_cli import main as spikecal
from cli.spikerestore_cli import main as spikerestore
from cli.spikesim_cli import main as spikesim
from restore.despike.configs import config_to_dict, model_config, train_config
from restore.despike.model import DeSpikeNet
from restore.despike.weights import (bundled_weights_path, load_model, read_checkpoint,
                                     read_weights, weights_payload)
from spikesim.calibration_file import read_calibration_file
from spikesim.camera_maps import read_calibration_maps
from spikesim.errors import ToolkitError
from spikesim.stream import SpikeStream
from tests.cli_helpers import invoke, one_line_error, tiny_model, tiny_train_config

H, W = 8, 16
FIELD_SIDE = 16                  # px, the uniform-field captures of the fields.yaml cases
TINY_MODEL = tiny_model("tiny-rel")


# ============================================================ calibration files
@pytest.fixture(scope="module")
def good_calibration(tmp_path_factory):
    """A valid calibration file (an identity camera with a textured gain and offset)."""
    calib = Calibration.identity(H, W)
    rng = np.random.default_rng(0)
    calib.gain = rng.uniform(0.9, 1.1, (H, W)).astype(np.float32)
    calib.q = (calib.q_ref / calib.gain).astype(np.float32)
    calib.offset = rng.uniform(0, 5, (H, W)).astype(np.float32)
    path = tmp_path_factory.mktemp("cal") / "good.npz"
    calib.save(path)
    return path


def _arrays(path) -> dict:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _with_meta(arrays, **changes) -> dict:
    meta = json.loads(str(arrays["meta"]))
    meta.update(changes)
    return {**arrays, "meta": np.array(json.dumps(meta))}


BAD_CALIBRATIONS = {
    # name: (change to the good file's arrays, key named, words of the error)
    "meta [1, 2]": (lambda a: {**a, "meta": np.array("[1, 2]")}, "meta", ["[1, 2]"]),
    "meta null": (lambda a: {**a, "meta": np.array("null")}, "meta", ["None"]),
    "dead_time abc": (lambda a: _with_meta(a, dead_time={"value": "abc"}), "meta",
                      ["dead_time"]),
    "dead_time a text": (lambda a: _with_meta(a, dead_time="abc"), "meta", ["dead_time"]),
    "dead_time NaN": (lambda a: _with_meta(a, dead_time={"value": float("nan")}), "meta",
                      ["NaN"]),
    "q_ref 0": (lambda a: _with_meta(a, q_ref=0), "meta", ["q_ref 0"]),
    "operating_level -1": (lambda a: _with_meta(a, operating_level=-1), "meta",
                           ["operating_level"]),
    "summary prnu abc": (lambda a: _with_meta(a, summary={"prnu_pct": "abc"}), "meta",
                         ["summary.prnu_pct"]),
    "object gain": (lambda a: {**a, "gain": np.array([[None]], dtype=object)}, "gain",
                    ["pickled objects are never loaded"]),
    "object meta": (lambda a: {**a, "meta": np.array([{"a": 1}], dtype=object)}, "meta",
                    ["pickled objects are never loaded"]),
    "defects of strings": (lambda a: {**a, "defects": np.full((H, W), "a")}, "defects",
                           ["<U1"]),
    "defects 300": (lambda a: {**a, "defects": np.full((H, W), 300, np.int32)}, "defects",
                    ["0..255"]),
    "weight -1": (lambda a: {**a, "weight": -np.ones((H, W), np.float32)}, "weight",
                  ["<= 0"]),
    "gamma 0": (lambda a: {**a, "gamma": np.zeros((H, W), np.float32)}, "gamma", ["<= 0"]),
    "q 0": (lambda a: {**a, "q": np.zeros((H, W), np.float32)}, "q", ["<= 0"]),
    "gain NaN": (lambda a: {**a, "gain": np.full((H, W), np.nan, np.float32)}, "gain",
                 ["NaN"]),
    "offset 3-D": (lambda a: {**a, "offset": np.zeros((2, H, W), np.float32)}, "offset",
                   ["(2, 8, 16)"]),
    "ratio other shape": (lambda a: {**a, "ratio": np.ones((H, W + 8), np.float32)}, "ratio",
                          ["(8, 24)"]),
    "gain complex": (lambda a: {**a, "gain": np.ones((H, W), np.complex64)}, "gain",
                     ["complex64"]),
    "resolution other": (lambda a: _with_meta(a, resolution={"width": 4, "height": 4}),
                         "meta", ["16x8"]),
    "missing q": (lambda a: {k: v for k, v in a.items() if k != "q"}, "q", ["missing"]),
}


def _bad_calibration(name, good, tmp_path):
    change, key, words = BAD_CALIBRATIONS[name]
    path = tmp_path / "bad.npz"
    np.savez(path, **change(_arrays(good)))
    return path, key, words


@pytest.mark.parametrize("name", sorted(BAD_CALIBRATIONS))
def test_bad_calibration_file_is_one_line_in_show(name, good_calibration, tmp_path):
    """``spikecal show`` printed "nan" and exited 0 for a NaN dead time; object arrays,
    strings, non-physical values and a meta of another type were tracebacks."""
    path, key, words = _bad_calibration(name, good_calibration, tmp_path)
    one_line_error(invoke(spikecal, "show", path), str(path), f"key {key!r}", *words)


@pytest.mark.parametrize("name", ["meta [1, 2]", "dead_time abc", "dead_time NaN", "q_ref 0",
                                  "weight -1", "object gain"])
def test_bad_calibration_file_is_one_line_in_restore_and_writes_nothing(
        name, good_calibration, tmp_path):
    """``spikerestore run --calib`` crashed (TypeError / ValueError) or restored a black
    image with exit 0."""
    path, key, words = _bad_calibration(name, good_calibration, tmp_path)
    stream = tmp_path / "x.dat"
    SpikeStream.from_dense(np.zeros((16, H, W), np.uint8)).write_dat(stream)
    out = tmp_path / "out.png"
    one_line_error(invoke(spikerestore, "run", stream, "--method", "tfp", "--calib", path,
                          "-o", out), str(path), f"key {key!r}")
    assert not out.exists()


def test_bad_calibration_is_one_line_as_camera_maps(good_calibration, tmp_path):
    """The simulator reads calibration files through the same validated reader."""
    path, _, _ = _bad_calibration("dead_time NaN", good_calibration, tmp_path)
    out = tmp_path / "fields"
    one_line_error(invoke(spikesim, "uniform", "--levels", "0,100", "--steps", 8,
                          "--camera-maps", path, "-o", out), str(path), "key 'meta'")
    assert not out.exists()


def test_valid_file_reads_the_same_everywhere(good_calibration):
    calib = load_calibration(good_calibration)
    read = read_calibration_file(good_calibration)
    for key in MAP_KEYS:
        np.testing.assert_array_equal(getattr(calib, key), read.maps[key])
    assert calib.meta == read.meta and calib.dead_time == 1.0
    assert read.sha256 == hashlib.sha256(good_calibration.read_bytes()).hexdigest()


def test_camera_from_calibration_reads_the_file_once(good_calibration, monkeypatch):
    import spikesim.calibration_file as calibration_file
    from spikesim.camera import Camera

    calls = []
    real = calibration_file.read_calibration_file

    def counting(path, what="calibration"):
        calls.append(path)
        return real(path, what)

    monkeypatch.setattr("spikesim.camera_maps.read_calibration_file", counting)
    camera = Camera.from_calibration(good_calibration)
    assert len(calls) == 1 and camera.fpn.gain.shape == (H, W)


# ------------------------------------------------------------ spikecal show --level
@pytest.fixture(scope="module")
def uniform_dir(tmp_path_factory):
    """``spikesim uniform`` fields of a 16x16 reference-like camera (3 levels + a check)."""
    root = tmp_path_factory.mktemp("uniform")
    cam = root / "cam.yaml"
    cam.write_text(yaml.safe_dump({"width": FIELD_SIDE, "height": FIELD_SIDE}))
    res = invoke(spikesim, "uniform", "--camera", cam, "--levels", "0,153,335,250",
                 "--steps", 400, "-o", root / "f")
    assert res.exit_code == 0, res.output
    spec = yaml.safe_load((root / "f" / "fields.yaml").read_text())
    spec["levels"], spec["fields"] = spec["levels"][:3], spec["fields"][:3]
    (root / "f" / "fields.yaml").write_text(yaml.safe_dump(spec))
    return root / "f"


def test_show_check_at_level_zero(uniform_dir, tmp_path):
    """``spikecal show --check F --level 0`` was a TypeError (a bias in % of 0)."""
    cam = tmp_path / "cam.npz"
    assert invoke(spikecal, "fit", uniform_dir, "-o", cam).exit_code == 0
    res = invoke(spikecal, "show", cam, "--check", uniform_dir / "field_0.dat", "--level", 0)
    assert res.exit_code == 0, res.output
    assert "level 0 recovered as" in res.output and "no relative bias" in res.output
    for level in ("-5", "nan"):
        one_line_error(invoke(spikecal, "show", cam, "--check", uniform_dir / "field_0.dat",
                              "--level", level), "--level", level)


# ------------------------------------------------------------------- fields.yaml
def _fields_copy(uniform_dir, tmp_path, edit=None, raw=None):
    """A copy of the fields directory with fields.yaml edited (a dict change) or replaced."""
    d = tmp_path / "fields"
    shutil.copytree(uniform_dir, d)
    spec = d / "fields.yaml"
    if raw is not None:
        spec.write_bytes(raw)
    elif edit is not None:
        data = yaml.safe_load(spec.read_text())
        edit(data)
        spec.write_text(yaml.safe_dump(data))
    return d


FIELDS_CASES = {
    "levels [a, b, c]": (lambda d: d.update(levels=["a", "b", "c"]), ["levels"]),
    "levels null": (lambda d: d.update(levels=None), ["levels"]),
    "resolution 0x0": (lambda d: d.update(resolution="0x0"), ["resolution", "0x0"]),
    "resolution -64x-64": (lambda d: d.update(resolution="-64x-64"), ["resolution"]),
    "resolution against the sidecars": (lambda d: d.update(resolution="8x8"),
                                        ["resolution", "16x16 that field_0.dat.yaml records"]),
    "absolute file": (lambda d: d.update(files=["/etc/passwd", "field_153.dat",
                                                "field_335.dat"]), ["/etc/passwd"]),
    "file through ..": (lambda d: d.update(files=["../f/field_0.dat", "field_153.dat",
                                                  "field_335.dat"]), ["../f/field_0.dat"]),
    "one file for every level": (lambda d: d.update(files=["field_153.dat"] * 3),
                                 ["one distinct file per level"]),
    "steps: abc": (lambda d: d.update(steps="abc"), ["steps"]),
}


@pytest.mark.parametrize("name", sorted(FIELDS_CASES))
def test_bad_fields_yaml_is_one_line_and_writes_nothing(name, uniform_dir, tmp_path):
    edit, words = FIELDS_CASES[name]
    d = _fields_copy(uniform_dir, tmp_path, edit)
    out = tmp_path / "cam.npz"
    one_line_error(invoke(spikecal, "fit", d, "-o", out), *words)
    assert not out.exists()


def test_fields_yaml_not_utf8(uniform_dir, tmp_path):
    d = _fields_copy(uniform_dir, tmp_path, raw=b"levels: [0, 153, 335]\nsteps: \xff\n")
    one_line_error(invoke(spikecal, "fit", d, "-o", tmp_path / "c.npz"), "UTF-8")
    assert not (tmp_path / "c.npz").exists()


def test_resolution_without_sidecars_is_checked_against_the_file_size(uniform_dir, tmp_path):
    """Without sidecars a wrong resolution read the fields as other frames of another
    size and wrote a calibration of the wrong size."""
    d = _fields_copy(uniform_dir, tmp_path, lambda data: data.update(resolution="8x8"))
    for side in d.glob("*.dat.yaml"):
        side.unlink()
    one_line_error(invoke(spikecal, "fit", d, "-o", tmp_path / "c.npz"),
                   "steps, resolution", "400 frames of 8x8")
    assert not (tmp_path / "c.npz").exists()


def test_the_same_field_for_three_levels_is_refused(uniform_dir, tmp_path):
    """It exited 0 with an offset of 6.5e17 lux and 67 % of the pixels flagged."""
    d = _fields_copy(uniform_dir, tmp_path)
    for name in ("field_0.dat", "field_335.dat"):                # copies, other names
        shutil.copy(d / "field_153.dat", d / name)
    one_line_error(invoke(spikecal, "fit", d, "-o", tmp_path / "c.npz"),
                   "no brighter than", "the same field given twice?")
    field = uniform_dir / "field_153.dat"
    one_line_error(invoke(spikecal, "fit", field, field, field, "--levels", "0,153,335",
                          "-o", tmp_path / "c.npz"), "no brighter than")
    assert not (tmp_path / "c.npz").exists()


# ------------------------------------------------------------ low-PRNU camera
def test_low_prnu_camera_fits_and_gamma_is_accurate(tmp_path):
    """``spikecal fit`` refused a valid camera with gain s.d. 0.002 and delta 1 as
    "saturated" ("0 % of pixels at 1/(1 + delta) = 1"): most pixels of such a camera fire
    within two spikes of the median, which the fit took for saturation. Now: the fit
    succeeds, the dead time is 1 and gamma matches the truth's (Calibration.from_truth at
    the same operating level) to a fraction of its own spread."""
    cam = tmp_path / "cam.yaml"
    cam.write_text(yaml.safe_dump({
        "width": 32, "height": 32, "gain_column_sd": 0.0, "gain_row_sd": 0.0,
        "gain_shading_sd": 0.0, "gain_sd": 0.002, "dark_log_sd": 0.0, "hot_fraction": 0.0,
        "dead_fraction": 0.0, "dead_time": 1}))
    k = yaml.safe_load(cam.read_text()).get("k", 1 / 1700)
    lux = ",".join(f"{v / k:.6g}" for v in (0.0, 0.2, 0.45))   # thresholds/step, as training
    res = invoke(spikesim, "uniform", "--camera", cam, "--levels", lux, "--steps", 4000,
                 "-o", tmp_path / "f")
    assert res.exit_code == 0, res.output
    res = invoke(spikecal, "fit", tmp_path / "f", "-o", tmp_path / "c.npz")
    assert res.exit_code == 0, res.output
    calib = load_calibration(tmp_path / "c.npz")
    assert calib.dead_time == pytest.approx(1.0, abs=0.01)
    truth = Calibration.from_truth(_arrays(tmp_path / "f" / "truth.npz"),
                                   operating_level=calib.operating_level)
    good = calib.good & truth.good
    assert good.mean() > 0.99
    err = np.abs(calib.gamma[good] / truth.gamma[good] - 1)
    spread = float(np.std(truth.gamma[good]))               # ~0.2 %: the camera's PRNU
    assert np.median(err) < spread / 4 and np.percentile(err, 99) < 2 * spread


def test_saturated_field_message_agrees_with_itself():
    """A really saturated field is still refused, and the message's share is > 50 %."""
    rng = np.random.default_rng(1)
    gain = rng.normal(1, 0.03, (20, 20))
    fields = []
    for level in (0.0, 150.0, 5000.0):
        lam = gain * (level + 5) / 800
        r = np.minimum(1 / (1 + 1 / lam), 0.5)
        fields.append(FieldRates.from_counts(np.floor(r * 20000 + rng.uniform(0, 1, r.shape))
                                             .astype(np.int64), 20000, source=f"f{level:g}"))
    with pytest.raises(ToolkitError, match=r"f5000: median rate 0\.5, 100 % of pixels at or "
                                           r"above the saturation rate"):
        calibrate(fields, (0.0, 150.0, 5000.0))


# ===================================================================== weights
@pytest.fixture(scope="module")
def bundled_payload():
    return torch.load(bundled_weights_path(), map_location="cpu", weights_only=True)


def _nan_state(payload):
    return {**payload, "state_dict": {k: torch.full_like(v, float("nan"))
                                      if v.is_floating_point() else v
                                      for k, v in payload["state_dict"].items()}}


def _reshaped(payload):
    state = dict(payload["state_dict"])
    name = next(k for k, v in state.items() if v.ndim == 4 and v.shape[-1] > 1)
    state[name] = state[name][..., :1].clone()
    return {**payload, "state_dict": state}


BAD_WEIGHTS = {
    "no config": (lambda p: {k: v for k, v in p.items() if k != "config"}, ["'config'"]),
    "config a path": (lambda p: {**p, "config": "/etc/passwd"}, ["'config'"]),
    "format abc": (lambda p: {**p, "format": "abc"}, ["format 'abc'"]),
    "meta [1, 2]": (lambda p: {**p, "meta": [1, 2]}, ["'meta'"]),
    "NaN weights": (_nan_state, ["NaN or infinite"]),
    "a tensor of another shape": (_reshaped, ["instead of"]),
    "a missing tensor": (lambda p: {**p, "state_dict": dict(list(p["state_dict"].items())[1:])},
                         ["missing"]),
    "state_dict a list": (lambda p: {**p, "state_dict": [1, 2]}, ["'state_dict'"]),
}


@pytest.mark.parametrize("name", sorted(BAD_WEIGHTS))
def test_bad_weights_are_one_line_and_write_no_image(name, bundled_payload, tmp_path):
    """A dict without config was a KeyError, format 'abc' a ValueError, meta [1, 2] a
    TypeError; NaN weights gave an all-black PNG with exit 0."""
    change, words = BAD_WEIGHTS[name]
    weights = tmp_path / "w.pt"
    torch.save(change(bundled_payload), weights)
    stream = tmp_path / "x.dat"
    SpikeStream.from_dense(np.zeros((192, 32, 32), np.uint8)).write_dat(stream)
    out = tmp_path / "out.png"
    one_line_error(invoke(spikerestore, "run", stream, "--weights", weights, "-o", out),
                   str(weights), *words)
    assert not out.exists()


def test_truncated_weights_are_one_line(tmp_path):
    weights = tmp_path / "w.pt"
    weights.write_bytes(bundled_weights_path().read_bytes()[:5000])
    with pytest.raises(ToolkitError, match="corrupt or not one"):
        read_weights(weights)


# ------------------------------------------------------------------ checkpoints
TINY_TRAIN = tiny_train_config("tiny-rel")


def _checkpoint(steps: int = 1) -> dict:
    """A real checkpoint's layout: the tiny model after ``steps`` AdamW steps."""
    torch.manual_seed(0)
    model = DeSpikeNet(model_config(TINY_MODEL))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for _ in range(steps):
        opt.zero_grad()
        sum(p.sum() for p in model.parameters()).backward()
        opt.step()
    return {"model": model.state_dict(), "optim": opt.state_dict(), "step": steps,
            "best": {"psnr": -1e9, "step": -1}, "wall_s": 1.0, "init": None,
            "cache_dir": None}


def _tampered_optim(c):
    optim = c["optim"]
    state = {i: dict(s, exp_avg=s["exp_avg"].flatten()[:1]) for i, s in optim["state"].items()}
    return {**c, "optim": {**optim, "state": state}}


BAD_CHECKPOINTS = {
    "truncated": (None, ["corrupt or not one"]),
    "foreign bytes": (None, ["corrupt or not one"]),
    "a weights file": (lambda c: weights_payload(DeSpikeNet(model_config(TINY_MODEL)), {}),
                       ["a weights file, not a checkpoint"]),
    "step -1": (lambda c: {**c, "step": -1}, ["'step'"]),
    "NaN parameters": (lambda c: {**c, "model": {k: torch.full_like(v, float("nan"))
                                                 for k, v in c["model"].items()}},
                       ["NaN or infinite"]),
    "another model": (lambda c: {**c, "model": dict(list(c["model"].items())[2:])},
                      ["missing"]),
    "optimiser moments of another shape": (_tampered_optim, ["'optim'", "moments"]),
    "optimiser of another model": (lambda c: {**c, "optim": {"state": {}, "param_groups": []}},
                                   ["'optim'"]),
}


@pytest.mark.parametrize("name", sorted(BAD_CHECKPOINTS))
def test_resume_over_a_bad_checkpoint_is_one_line_and_touches_nothing(name, tmp_path):
    """``train --resume`` over a truncated, foreign or tampered checkpoint.pt: tracebacks
    before; now one line, and the run directory is left as it was."""
    from spikesim.atomic import write_yaml

    run = tmp_path / "run"
    run.mkdir()
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(TINY_TRAIN))
    write_yaml(run / "config.yaml", config_to_dict(train_config(TINY_TRAIN)))
    ckpt = run / "checkpoint.pt"
    change, words = BAD_CHECKPOINTS[name]
    if name == "truncated":
        torch.save(_checkpoint(), ckpt)
        ckpt.write_bytes(ckpt.read_bytes()[:3000])
    elif name == "foreign bytes":
        ckpt.write_bytes(b"not a checkpoint at all\n" * 10)
    else:
        torch.save(change(_checkpoint()), ckpt)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    res = invoke(spikerestore, "train", "--config", cfg, "-o", run, "--resume")
    one_line_error(res, str(ckpt), *words)
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def read_checkpoint_of(payload) -> dict:
    """:func:`read_checkpoint` of ``payload`` saved as a checkpoint of the tiny model."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "checkpoint.pt"
        torch.save(payload, path)
        return read_checkpoint(path, model_config(TINY_MODEL))


def test_a_real_checkpoint_reads_back():
    """The layout training writes passes, moments and all."""
    state = read_checkpoint_of(_checkpoint(steps=2))
    params = list(DeSpikeNet(model_config(TINY_MODEL)).parameters())
    assert state["step"] == 2 and len(state["optim"]["state"]) == len(params)


# ======================================================================= properties
_json = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6)
                     | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=6),
                     lambda c: st.lists(c, max_size=3)
                     | st.dictionaries(st.text(max_size=6), c, max_size=3), max_leaves=8)
_meta_keys = st.sampled_from(["resolution", "dead_time", "q_ref", "operating_level", "levels",
                              "method", "levels_auto", "steps_per_field", "summary", "format",
                              "format_version", "assumptions"])
_dtypes = st.sampled_from([np.float32, np.float64, np.int16, np.uint8, np.bool_,
                           np.complex64, "U2", "S3", object])
_fill = st.sampled_from([0.0, 1.0, -1.0, 0.5, 256.0, np.nan, np.inf, 1e39])


@st.composite
def _calibration_change(draw):
    """One mutation of a valid calibration file's arrays."""
    kind = draw(st.sampled_from(["map", "shape", "drop", "meta_key", "meta_whole",
                                 "valid_map", "valid_meta"]))
    if kind in ("map", "shape", "drop", "valid_map"):
        key = draw(st.sampled_from(MAP_KEYS + ("meta",)))
    else:
        key = draw(_meta_keys)
    dtype, fill = draw(_dtypes), draw(_fill)
    shape = draw(st.sampled_from([(H, W), (W, H), (1, 1), (H,), (), (2, H, W), (0, W)]))
    value = draw(_json)
    if kind == "valid_map":                 # plausible values: the reader must accept them
        dtype, fill = draw(st.sampled_from([np.float32, np.float64, np.int16])), \
            draw(st.sampled_from([1.0, 2.0, 4.0]))
    if kind == "valid_meta":
        value = draw(_VALID_META.get(key, st.none()))
    return kind, key, dtype, fill, shape, value


_VALID_META = {"dead_time": st.fixed_dictionaries({"value": st.floats(0, 16)}),
               "q_ref": st.floats(1e-3, 1e6), "operating_level": st.floats(1e-3, 1e6),
               "levels": st.lists(st.floats(0, 1e4), max_size=4), "method": st.text(max_size=5),
               "levels_auto": st.booleans(), "assumptions": st.text(max_size=10),
               "steps_per_field": st.lists(st.integers(1, 10**6), max_size=3),
               "summary": st.fixed_dictionaries({"prnu_pct": st.floats(0, 10)}),
               "format_version": st.just(1)}


def _apply(arrays: dict, change) -> dict:
    kind, key, dtype, fill, shape, value = change
    a = dict(arrays)
    if kind == "drop":
        a.pop(key, None)
    elif kind == "valid_map":
        if key not in ("meta", "defects"):
            a[key] = np.full((H, W), fill).astype(dtype)
    elif kind in ("map", "shape"):
        target = shape if kind == "shape" else (H, W)
        if dtype is object:
            a[key] = np.full(target, None, dtype=object)
        else:
            with np.errstate(invalid="ignore", over="ignore"):
                a[key] = np.full(target, fill).astype(dtype) if np.dtype(dtype).kind in "fcib" \
                    or dtype is np.uint8 else np.full(target, str(fill), dtype=dtype)
    elif kind in ("meta_key", "valid_meta"):
        try:
            meta = json.loads(str(a.get("meta")))
        except ValueError:
            return a
        if isinstance(meta, dict):
            meta[key] = value
            a["meta"] = np.array(json.dumps(meta))
    else:
        a["meta"] = np.array(json.dumps(value))
    return a


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_calibration_change(), min_size=1, max_size=3))
def test_calibration_reader_gives_a_usable_calibration_or_its_own_error(
        good_calibration, tmp_path, changes):
    arrays = _arrays(good_calibration)
    for change in changes:
        arrays = _apply(arrays, change)
    path = tmp_path / "fuzz.npz"
    np.savez(path, **arrays)
    try:
        calib = load_calibration(path)
    except ToolkitError:
        return
    for key in MAP_KEYS:
        arr = getattr(calib, key)
        assert arr.shape == calib.shape and np.isfinite(arr).all()
    assert (calib.gain > 0).all() and (calib.q > 0).all() and (calib.weight > 0).all()
    assert np.isfinite(calib.dead_time) and calib.q_ref > 0 and calib.operating_level > 0
    summary_lines(calib)                                # what `spikecal show` prints
    try:
        read_calibration_maps(path)                     # --camera-maps: same reader
    except ToolkitError:
        pass


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400), st.integers(0, 4000))
def test_calibration_reader_on_arbitrary_or_truncated_bytes(good_calibration, tmp_path,
                                                           blob, cut):
    for data in (blob, good_calibration.read_bytes()[:cut]):
        path = tmp_path / "fuzz.npz"
        path.write_bytes(data)
        try:
            read_calibration_file(path)
        except ToolkitError:
            pass


@pytest.fixture(scope="module")
def tiny_payload():
    torch.manual_seed(0)
    return weights_payload(DeSpikeNet(model_config(TINY_MODEL)), {"steps": 1})


_tensor_fill = st.sampled_from([0.0, 1.0, float("nan"), float("inf")])


@st.composite
def _weights_change(draw):
    kind = draw(st.sampled_from(["top", "drop_top", "tensor", "drop_tensor", "add_tensor",
                                 "config_key", "same_shape", "meta_dict"]))
    return (kind, draw(st.sampled_from(["format", "kind", "config", "state_dict", "meta"])),
            draw(_json), draw(st.integers(0, 10**6)), draw(_tensor_fill),
            draw(st.sampled_from([(), (1,), (3, 3), (2, 2, 3, 3)])),
            draw(st.sampled_from([torch.float32, torch.float64, torch.int64, torch.bool])))


def _apply_weights(payload: dict, change) -> dict:
    kind, top, value, index, fill, shape, dtype = change
    p = dict(payload)
    state = dict(p.get("state_dict")) if isinstance(p.get("state_dict"), dict) else {}
    names = sorted(state)
    if kind == "top":
        p[top] = value
    elif kind == "drop_top":
        p.pop(top, None)
    elif kind == "config_key" and isinstance(p.get("config"), dict) and p["config"]:
        cfg = dict(p["config"])
        cfg[sorted(cfg)[index % len(cfg)]] = value
        p["config"] = cfg
    elif names and kind in ("tensor", "drop_tensor"):
        name = names[index % len(names)]
        if kind == "drop_tensor":
            state.pop(name)
        else:
            state[name] = torch.full(shape, fill).to(dtype)
        p["state_dict"] = state
    elif names and kind == "same_shape":    # finite values of the right shape: accepted
        name = names[index % len(names)]
        if isinstance(state[name], torch.Tensor):
            state[name] = torch.full_like(state[name], float(index % 7) - 3.0)
        p["state_dict"] = state
    elif kind == "meta_dict":
        p["meta"] = {"steps": index, "note": value}
    elif kind == "add_tensor":
        state[f"extra{index}"] = torch.full(shape, fill)
        p["state_dict"] = state
    return p


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_weights_change(), min_size=1, max_size=3))
def test_weights_reader_gives_loadable_weights_or_its_own_error(tiny_payload, tmp_path,
                                                                changes):
    payload = tiny_payload
    for change in changes:
        payload = _apply_weights(payload, change)
    path = tmp_path / "fuzz.pt"
    torch.save(payload, path)
    try:
        read = read_weights(path)
    except ToolkitError:
        return
    assert isinstance(read["meta"], dict)
    model = load_model(path)                          # what inference does with it
    assert all(bool(torch.isfinite(t).all()) for t in model.state_dict().values()
               if t.is_floating_point())


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400), st.integers(0, 20000))
def test_weights_and_checkpoint_readers_on_arbitrary_or_truncated_bytes(
        tiny_payload, tmp_path, blob, cut):
    whole = tmp_path / "whole.pt"
    if not whole.exists():
        torch.save(tiny_payload, whole)
    for data in (blob, whole.read_bytes()[:cut]):
        path = tmp_path / "fuzz.pt"
        path.write_bytes(data)
        for reader in (read_weights, lambda p: read_checkpoint(p, model_config(TINY_MODEL))):
            try:
                reader(path)
            except ToolkitError:
                pass


_checkpoint_keys = st.sampled_from(["model", "optim", "step", "best", "wall_s", "init",
                                    "cache_dir"])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(_checkpoint_keys, st.one_of(_json, st.just("drop"))),
                min_size=1, max_size=3),
       st.integers(0, 10**6), _tensor_fill)
def test_checkpoint_reader_gives_a_resumable_state_or_its_own_error(changes, index, fill):
    state = _checkpoint()
    for key, value in changes:
        if value == "drop":
            state.pop(key, None)
        else:
            state[key] = value
    model = state.get("model")
    tensors = sorted(k for k, v in model.items() if isinstance(v, torch.Tensor)) \
        if isinstance(model, dict) else []
    if index % 3 == 0 and tensors:
        name = tensors[index % len(tensors)]
        state["model"] = {**model, name: torch.full_like(model[name], fill)}
    try:
        read = read_checkpoint_of(state)
    except ToolkitError:
        return
    model = DeSpikeNet(model_config(TINY_MODEL))     # what train --resume then does
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.load_state_dict(read["model"])
    opt.load_state_dict(read["optim"])
    int(read["step"]), dict(read.get("best", {})), float(read.get("wall_s", 0.0))
    sum(p.sum() for p in model.parameters()).backward()
    opt.step()
