"""``spikesim generate`` through click's CliRunner (and one killed subprocess)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cli.spikesim_cli import main
from spikesim.dataset import read_manifest

ROOT = Path(__file__).resolve().parents[1]
CFG = {"name": "cli-tiny", "width": 32, "height": 32, "steps": 192, "num": 3, "seed": 4,
       "stratified": True}


def tree_bytes(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(CFG))
    return path


def run(*args):
    return CliRunner().invoke(main, ["generate", *map(str, args)])


def test_generate_writes_a_dataset_and_reports_it(tmp_path, config):
    out = tmp_path / "ds"
    res = run("--config", config, "-o", out, "--json")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["done"] == summary["num"] == 3 and summary["complete"] is True
    # stratified: sample i has side front/on/back for i % 3 = 0/1/2
    assert summary["focus_side"] == {"front": 1, "on": 1, "back": 1}
    assert summary["blur_bin"]["[0,1)"] == 1
    manifest = read_manifest(out)
    assert [s["focus_side"] for s in manifest["samples"]] == ["front", "on", "back"]
    for i in range(3):
        assert (out / "samples" / f"{i:06d}" / "spikes.dat").stat().st_size == 192 * 32 * 32 // 8


def test_summary_of_a_dataset_whose_blur_is_unknown(tmp_path):
    """source: dpdd (real blur: sigma, side and bin unknown): the summary counts the
    samples as unknown, in --json and in text (it used to parse bin labels as numbers)."""
    import imageio.v3 as iio
    import numpy as np

    rng = np.random.default_rng(0)
    for sub in ("source", "target"):
        (tmp_path / "dpdd" / "test_c" / sub).mkdir(parents=True)
        iio.imwrite(tmp_path / "dpdd" / "test_c" / sub / "a.png",
                    rng.integers(1, 256, (40, 40), dtype=np.uint8))
    cfg = tmp_path / "dpdd.yaml"
    cfg.write_text(yaml.safe_dump({**CFG, "num": 2, "source": "dpdd", "dpdd_split": "test",
                                   "dpdd_root": str(tmp_path / "dpdd")}))
    res = run("--config", cfg, "-o", tmp_path / "ds", "--json")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["focus_side"] == {"front": 0, "on": 0, "back": 0, "unknown": 2}
    assert summary["blur_bin"] == {"unknown": 2} and summary["target_missed"] == 0
    res = run("--config", cfg, "-o", tmp_path / "ds", "--resume")
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[1:] == ["  focus side   front=0  on=0  back=0  unknown=2",
                         "  blur bins    unknown=2"]


def test_num_and_seed_override_the_config(tmp_path, config):
    out = tmp_path / "ds"
    res = run("--config", config, "-o", out, "--num", 1, "--seed", 9)
    assert res.exit_code == 0, res.output
    assert "wrote 1 of 1 samples" in res.output
    manifest = read_manifest(out)
    assert (manifest["num"], manifest["seed"]) == (1, 9)
    assert yaml.safe_load((out / "config.yaml").read_text())["seed"] == 9


def test_non_empty_output_is_refused(tmp_path, config):
    out = tmp_path / "full"
    out.mkdir()
    (out / "x.txt").write_text("keep")
    res = run("--config", config, "-o", out)
    assert res.exit_code == 2
    line = res.stderr.strip()
    assert line.startswith("Error: output") and "\n" not in line
    assert "--resume" in line and "--overwrite" in line
    assert (out / "x.txt").read_text() == "keep" and not (out / "samples").exists()


def test_resume_with_another_config_names_the_key(tmp_path, config):
    out = tmp_path / "ds"
    assert run("--config", config, "-o", out, "--num", 1).exit_code == 0
    res = run("--config", config, "-o", out, "--resume", "--seed", 5)
    assert res.exit_code == 2
    assert "config.seed" in res.stderr and "made with 4" in res.stderr


def test_bad_config_is_one_line_naming_the_key(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump({**CFG, "f_numbr": [2, 4]}))
    res = run("--config", cfg, "-o", tmp_path / "o")
    assert res.exit_code == 2
    assert res.stderr.strip().startswith("Error: f_numbr") and "f_number" in res.stderr
    res = run("--config", tmp_path / "missing.yaml", "-o", tmp_path / "o")
    assert res.exit_code == 2 and "missing.yaml" in res.stderr
    assert not (tmp_path / "o").exists()


def test_scheduler_without_dask_is_a_clear_error(tmp_path, config, monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    res = run("--config", config, "-o", tmp_path / "o", "--scheduler", "tcp://127.0.0.1:1")
    assert res.exit_code == 2 and "--scheduler" in res.stderr and "dask" in res.stderr


def test_killed_run_resumes_to_the_bytes_of_an_uninterrupted_run(tmp_path):
    """SIGKILL a real `spikesim generate` once its first samples exist, then --resume."""
    cfg = tmp_path / "cfg.yaml"
    num = 10
    cfg.write_text(yaml.safe_dump({**CFG, "width": 48, "height": 48, "num": num}))
    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from cli.spikesim_cli import main; main()", "generate",
         "--config", str(cfg), "-o", str(killed), "-q"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    samples = killed / "samples"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if samples.is_dir() and len(list(samples.iterdir())) >= 1:
                break
            time.sleep(0.005)
        assert proc.poll() is None, proc.stderr.read().decode()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()
    done = len(list(samples.iterdir()))
    assert 1 <= done < num                    # really interrupted mid-run
    assert read_manifest(killed)["complete"] is False
    for d in samples.iterdir():               # every sample present is complete
        assert (d / "sample.yaml").is_file() and (d / "preview.png").is_file()

    res = run("--config", cfg, "-o", killed, "--resume")
    assert res.exit_code == 0, res.output
    fresh = tmp_path / "fresh"
    assert run("--config", cfg, "-o", fresh).exit_code == 0
    a, b = tree_bytes(killed), tree_bytes(fresh)
    assert sorted(a) == sorted(b)
    assert [k for k in a if a[k] != b[k]] == []
