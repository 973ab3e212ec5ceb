"""``spikesim info``, ``preview`` and ``convert`` through click's CliRunner."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cli.spikesim_cli import main
from spikesim.images import read_image
from spikesim.stream import SpikeStream

ROOT = Path(__file__).resolve().parents[1]
PART1 = "interop/reds_200_part1_key151_250x400.dat"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_info_json_on_interop_file(shared_data):
    res = run("info", shared_data / PART1, "--json")
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["frames"] == 301 and (info["height"], info["width"]) == (250, 400)
    assert info["duration_s"] == pytest.approx(301 / 20000)
    assert info["spike_density"] == pytest.approx(0.288, abs=0.001)
    assert info["rate_percentiles"]["p1"] <= info["rate_percentiles"]["p50"] <= \
        info["rate_percentiles"]["p99"]
    assert info["never_firing_pixels"] == 0


def test_preview_png_correlates_with_ground_truth(shared_data, tmp_path):
    out = tmp_path / "p.png"
    res = run("preview", shared_data / PART1, "--center", 151, "--window", 41, "-o", out)
    assert res.exit_code == 0, res.output
    img = read_image(out)
    gt = read_image(shared_data / "interop/reds_200_part1_key151_gt.png")
    assert img.shape == (250, 400)
    assert np.corrcoef(img.ravel(), gt.ravel())[0, 1] >= 0.98
    again = run("preview", shared_data / PART1, "-o", out)          # no clobbering
    assert again.exit_code == 2 and "--overwrite" in again.output


def test_preview_gif_is_animated(shared_data, tmp_path):
    import imageio.v3 as iio

    out = tmp_path / "p.gif"
    res = run("preview", shared_data / PART1, "--window", 41, "-o", out)
    assert res.exit_code == 0, res.output
    frames = iio.imread(out, index=None)
    assert frames.shape[0] > 10 and frames.shape[1:3] == (250, 400)


def test_convert_dense_hwt_npz_to_dat_and_back(tmp_path):
    dense = np.random.default_rng(0).integers(0, 2, (16, 8, 5), dtype=np.uint8)   # H, W, T
    np.savez(tmp_path / "d.npz", arr_0=dense)
    res = run("convert", tmp_path / "d.npz", tmp_path / "d.dat", "--axes", "HWT")
    assert res.exit_code == 0, res.output
    back = SpikeStream.read_dat(tmp_path / "d.dat")                  # size from the sidecar
    assert np.array_equal(back.to_dense("HWT"), dense)


def test_bad_inputs_are_one_line_errors(tmp_path):
    empty = tmp_path / "empty.dat"
    empty.write_bytes(b"")
    res = run("info", empty)
    assert res.exit_code == 2 and "empty" in res.output and "Traceback" not in res.output

    odd = tmp_path / "odd.dat"
    odd.write_bytes(bytes(12500 * 2 + 7))
    res = run("info", odd, "--strict")
    assert res.exit_code == 2
    assert "25007 bytes" in res.output and "12500" in res.output and "--size" in res.output

    three = tmp_path / "three.dat"
    three.write_bytes(bytes(125_000 * 3))          # three 1000x1000 frames
    res = run("info", three, "--size", "400x256", "--strict")
    assert res.exit_code == 2
    assert "375000 bytes" in res.output and "12800" in res.output
    assert "1000x1000 (3 frames)" in res.output and "400x250 (30 frames)" in res.output

    res = run("info", tmp_path / "missing.dat")
    assert res.exit_code == 2 and "missing.dat" in res.output

    ok = tmp_path / "ok.dat"
    ok.write_bytes(bytes(12500 * 3))
    res = run("preview", ok, "-o", "/proc/forbidden/p.png")
    assert res.exit_code == 2 and "forbidden" in res.output

    res = run("preview", ok, "--center", 10, "-o", tmp_path / "x.png")
    assert res.exit_code == 2 and "center" in res.output and "3 steps" in res.output

    bad = np.zeros((2, 4, 4), dtype=np.uint8)
    bad[0, 1, 1] = 3
    np.savez(tmp_path / "bad.npz", spikes=bad)
    res = run("convert", tmp_path / "bad.npz", tmp_path / "bad.dat", "--axes", "THW")
    assert res.exit_code == 2 and "binary" in res.output and not (tmp_path / "bad.dat").exists()

    res = run("info", ok, "--readout-hz", 0)
    assert res.exit_code == 2 and "--readout-hz" in res.output

    res = run("info", ok, "--size", "401x3")
    assert res.exit_code == 2 and "multiple of 8" in res.output


def test_verbose_shows_traceback(tmp_path):
    empty = tmp_path / "empty.dat"
    empty.write_bytes(b"")
    res = CliRunner().invoke(main, ["-v", "info", str(empty)])
    assert res.exit_code == 2 and "Traceback" in res.output


def test_help_is_fast_and_imports_no_heavy_modules():
    code = ("import sys, time; t=time.perf_counter(); from cli.spikesim_cli import main\n"
            "from click.testing import CliRunner; r=CliRunner().invoke(main, ['--help'])\n"
            "for c in ['info','preview','render','uniform','generate']:\n"
            "    CliRunner().invoke(main, [c, '--help'])\n"
            "print(r.exit_code, sorted(m for m in ('torch','numba','scipy') if m in sys.modules),"
            " time.perf_counter()-t)")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, cwd=ROOT, check=True).stdout.split(maxsplit=1)
    assert out[0] == "0"
    assert "[]" in out[1], f"--help imported heavy modules: {out[1]}"
