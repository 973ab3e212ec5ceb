"""Issue 18, families "Sidecars" and "Configs": every bad YAML a one-line error, exit 2.

Each case reproduces an audit finding through the CLI (exit code, the one line, the
files left behind); the property tests at the end feed the strict YAML reader and the
sidecar reader arbitrary bytes: the result is data or the toolkit's own error, never
another exception.
"""

import datetime
import time

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st

from cli.spikesim_cli import main as spikesim
from spikesim.errors import ToolkitError
from spikesim.stream import SpikeStream, read_sidecar
from spikesim.yamlio import MAX_ALIASES, parse_yaml
from tests.cli_helpers import invoke, one_line_error

W, H = 400, 250
BILLION_LAUGHS = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{c}: &{c} [" + ",".join([f"*{p}"] * 9) + "]" for p, c in zip("abcdefgh", "bcdefghi")])


def run(*args):
    return invoke(spikesim, *args)


@pytest.fixture
def dat(tmp_path):
    """A 400x250 stream of 10 frames with its sidecar."""
    rng = np.random.default_rng(0)
    s = SpikeStream.from_dense((rng.random((10, H, W)) < 0.1).astype(np.uint8))
    path = tmp_path / "x.dat"
    s.write_dat(path)
    return path


# ------------------------------------------------------------------- sidecars
@pytest.mark.parametrize("text, key", [
    ("width: 0\nheight: 250\n", "width"),
    ("width: -400\nheight: 250\n", "width"),
    ("width: abc\nheight: 250\n", "width"),
    ("width: 400.7\nheight: 250\n", "width"),
    ("width: 400\nheight: 250\nreadout_hz: abc\n", "readout_hz"),
    ("width: 400\nheight: 250\nreadout_hz: 0\n", "readout_hz"),
    ("width: 400\nheight: 250\nflipped: \"no\"\n", "flipped"),
    ("width: 400\n", "height"),
])
def test_bad_sidecar_value_names_the_file_and_key(dat, text, key):
    side = dat.with_name(dat.name + ".yaml")
    side.write_text(text)
    one_line_error(run("info", dat), str(side), key)


def test_sidecar_that_is_not_utf8_is_one_line(dat):
    dat.with_name(dat.name + ".yaml").write_bytes(b"width: 400\nheight: \xff250\n")
    one_line_error(run("info", dat), "UTF-8")


def test_size_contradicting_the_sidecar_is_refused(dat):
    """The audit: ``--size 200x250`` silently overrode a 400x250 sidecar."""
    one_line_error(run("info", dat, "--size", "200x250"), "--size", "400x250")
    assert run("info", dat, "--size", "400x250").exit_code == 0      # agreeing is fine


def test_convert_does_not_replace_a_sidecar_without_overwrite(dat, tmp_path):
    """The audit: ``convert x.dat v.dat`` replaced an existing ``v.dat.yaml`` (data loss)."""
    target = tmp_path / "v.dat"
    notes = target.with_name("v.dat.yaml")
    notes.write_text("width: 64\nheight: 64\nmy_notes: keep me\n")
    one_line_error(run("convert", dat, target), str(notes), "--overwrite")
    assert notes.read_text().endswith("keep me\n") and not target.exists()
    assert run("convert", dat, target, "--overwrite").exit_code == 0
    assert SpikeStream.read_dat(target).shape == (10, H, W)


def test_dat_beside_a_sidecar_of_another_write_is_refused(dat, tmp_path):
    """An old .dat beside a newer sidecar (a write killed between the two renames) is
    caught by the frame count the sidecar records, not read as the wrong stream."""
    small = tmp_path / "small.dat"
    SpikeStream.from_dense(np.zeros((3, 64, 64), np.uint8)).write_dat(small)
    small.with_name("small.dat.yaml").write_bytes(dat.with_name("x.dat.yaml").read_bytes())
    one_line_error(run("info", small), "do not belong together")


def test_sidecar_is_in_place_before_the_dat(tmp_path, monkeypatch):
    """A kill after the first rename leaves the sidecar alone, never the .dat alone."""
    import os

    import spikesim.atomic as atomic

    renamed = []
    real = os.replace

    def spy(src, dst):
        renamed.append(str(dst))
        return real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", spy)
    SpikeStream.from_dense(np.zeros((2, 8, 8), np.uint8)).write_dat(tmp_path / "a.dat")
    assert [p.rsplit("/", 1)[-1] for p in renamed] == ["a.dat.yaml", "a.dat"]


@pytest.mark.parametrize("build, words", [
    (lambda p: np.savez(p, spikes=np.zeros((0, 250, 400), np.uint8)), ["0 frames"]),
    (lambda p: np.savez(p, spikes=np.array([[[None]]], dtype=object)), ["plain numeric"]),
    (lambda p: np.savez(p, packed=np.zeros((2, 8), np.uint8), width=8, file_width=8,
                        readout_hz=20000.0, flipped=True), ["height", "missing"]),
    (lambda p: np.savez(p, packed=np.zeros((2, 8), np.uint8), height=-8, width=8,
                        file_width=8, readout_hz=20000.0, flipped=True), ["height"]),
    (lambda p: np.savez(p, spikes=np.zeros((100, 250, 250), np.uint8)), ["--axes"]),
])
def test_bad_npz_streams_are_one_line(tmp_path, build, words):
    path = tmp_path / "s.npz"
    build(path)
    one_line_error(run("info", path), *words)


def test_empty_window_and_bad_sizes():
    s = SpikeStream.from_dense(np.zeros((5, 8, 8), np.uint8))
    assert s.window(3, 3).shape == (0, 8, 8)
    with pytest.raises(ToolkitError, match="width"):
        SpikeStream(np.zeros((1, 0), np.uint8), 1, 0)


def test_valid_sidecar_round_trips(dat):
    assert read_sidecar(dat) == {"width": W, "height": H, "readout_hz": 20000.0,
                                 "flipped": True, "frames": 10}


# ------------------------------------------------------------------- configs
@pytest.mark.parametrize("text, words", [
    (b"name: x\nnum: \xfe\n", ["UTF-8", "offset"]),
    (b"name: a\nname: b\n", ["duplicate key 'name'", "line 2"]),
    (BILLION_LAUGHS.encode(), [f"more than {MAX_ALIASES} aliases"]),
])
def test_generate_config_errors_are_one_line_and_write_nothing(tmp_path, text, words):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_bytes(text)
    out = tmp_path / "out"
    t0 = time.perf_counter()
    res = run("generate", "--config", cfg, "-o", out)
    assert time.perf_counter() - t0 < 10          # the alias bomb took 60-70 s and 3 GB
    one_line_error(res, str(cfg), *words)
    assert not out.exists()


def test_render_camera_config_not_utf8(tmp_path):
    cam = tmp_path / "cam.yaml"
    cam.write_bytes(b"gain_sd: 0.04\nk: \xe9\n")
    one_line_error(run("render", "scene:smooth", "--camera", cam, "--steps", 8,
                       "-o", tmp_path / "cap"), "UTF-8")
    assert not (tmp_path / "cap").exists()


def test_small_aliases_still_work():
    data = parse_yaml("base: &b {x: 1}\nuse: *b\n")
    assert data == {"base": {"x": 1}, "use": {"x": 1}}


# ------------------------------------------------------------------- properties
@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_yaml_reader_gives_data_or_its_own_error(blob):
    """Any bytes: plain YAML data, or the toolkit's error in one line (any other
    exception fails the test)."""
    try:
        data = parse_yaml(blob, "fuzz.yaml")
    except ToolkitError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    plain = (dict, list, str, int, float, bool, type(None), datetime.date)
    assert isinstance(data, plain), type(data)


_keys = st.sampled_from(["width", "height", "readout_hz", "flipped", "frames", "other"])
_values = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
                    st.lists(st.integers(), max_size=3))


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(_keys, _values, max_size=5))
def test_sidecar_reader_gives_valid_values_or_its_own_error(tmp_path, mapping):
    import yaml

    path = tmp_path / "f.dat"
    path.with_name("f.dat.yaml").write_text(yaml.safe_dump(mapping))
    try:
        side = read_sidecar(path)
    except ToolkitError:
        return
    if "width" in side:
        assert isinstance(side["width"], int) and side["width"] >= 1 and side["height"] >= 1
    if "readout_hz" in side:
        assert np.isfinite(side["readout_hz"]) and side["readout_hz"] > 0
    if "flipped" in side:
        assert isinstance(side["flipped"], bool)


# ------------------------------------------------------------------- click usage
@pytest.mark.parametrize("tool, args, words", [
    ("spikesim", ["render", "--steps", "abc", "scene:smooth"],
     ["--steps", "spikesim render --help"]),
    ("spikesim", ["nosuch"], ["No such command", "spikesim --help"]),
    ("spikecal", ["fit"], ["Missing argument", "spikecal fit --help"]),
    ("spikerestore", ["run", "x.dat"], ["Missing option", "spikerestore run --help"]),
])
def test_usage_errors_are_one_line(tool, args, words):
    """The audit: click printed three lines (Usage / Try / Error), not the promised one."""
    import importlib

    group = importlib.import_module(f"cli.{tool}_cli").main
    res = CliRunner().invoke(group, args, prog_name=tool)
    one_line_error(res, *words)


@pytest.mark.parametrize("size", [(1, 0), (0, 250), (-400, 250), (400.5, 250)])
def test_read_dat_refuses_a_size_that_is_not_whole_pixels(tmp_path, size):
    """``read_dat(size=(1, 0))`` divided by zero (issue 18): now the toolkit's error."""
    from spikesim.errors import InputError
    from spikesim.stream import SpikeStream

    path = tmp_path / "x.dat"
    path.write_bytes(bytes(125_000))
    with pytest.raises(InputError, match="--size"):
        SpikeStream.read_dat(path, size=size)
