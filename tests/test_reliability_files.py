"""Issue 18, families "Outputs and disk", "Interruption and concurrency", the ``source:
dpdd`` audit defect and ``-q``/``-qq``.

Each case reproduces an audit finding through the CLI: the exit code, the one line on
stderr and the files left behind. A full disk is simulated by making ``os.fsync`` (every
atomic write of a ``.dat`` or ``.npz`` syncs before its rename) fail with ``ENOSPC``.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import yaml

from cli.spikecal_cli import main as spikecal
from cli.spikerestore_cli import main as spikerestore
from cli.spikesim_cli import main as spikesim
from spikesim import atomic
from spikesim.atomic import writer_lock
from spikesim.dataset import SAMPLE_FILES, read_manifest
from spikesim.stream import SpikeStream
from tests.cli_helpers import files_under, invoke as run, one_line_error

ROOT = Path(__file__).resolve().parents[1]
TINY = {"name": "tiny", "width": 32, "height": 32, "steps": 192, "num": 2, "seed": 4}


@pytest.fixture
def dat(tmp_path):
    """A 40x16 stream of 12 frames with its sidecar."""
    rng = np.random.default_rng(0)
    path = tmp_path / "x.dat"
    SpikeStream.from_dense((rng.random((12, 16, 40)) < 0.2).astype(np.uint8)).write_dat(path)
    return path


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


@pytest.fixture
def disk_full(monkeypatch):
    """``os.fsync`` fails with ENOSPC (a write that does not fit on the disk)."""
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)


# ------------------------------------------------------------------- disk full
@pytest.mark.parametrize("dest", ["v.dat", "v.npz"])
def test_convert_on_a_full_disk_is_one_line_and_leaves_nothing(dat, tmp_path, disk_full, dest):
    out = tmp_path / "out"
    out.mkdir()
    one_line_error(run(spikesim, "convert", dat, out / dest), "no space left on device",
                   "free there", str(out / dest))
    assert files_under(out) == []                   # no partial file, no sidecar alone


def test_uniform_on_a_full_disk_is_one_line(tmp_path, disk_full):
    out = tmp_path / "u"
    res = run(spikesim, "uniform", "--levels", "0,100", "--steps", 16, "-o", out)
    one_line_error(res, "field_0.dat", "no space left on device")
    assert not any(".part" in f for f in files_under(out))
    assert not (out / "field_0.dat").exists()


def test_generate_on_a_full_disk_is_one_line(tmp_path, config, disk_full):
    out = tmp_path / "ds"
    one_line_error(run(spikesim, "generate", "--config", config, "-o", out),
                   "no space left on device")
    assert not (out / "samples" / "000000").exists()
    assert not any(".part" in f for f in files_under(out))


def test_a_full_disk_outside_the_atomic_writers_is_one_line(tmp_path, config, monkeypatch):
    """A sample's staging directory that cannot be made (ENOSPC from mkdir)."""
    real = Path.mkdir

    def mkdir(self, *args, **kwargs):
        if ".partial" in str(self):
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    one_line_error(run(spikesim, "generate", "--config", config, "-o", tmp_path / "ds"),
                   ".partial", "no space left on device", "free there")


def test_render_on_a_full_disk_is_one_line(tmp_path, disk_full):
    out = tmp_path / "r"
    res = run(spikesim, "render", "scene:smooth", "--camera", _small_camera(tmp_path),
              "--steps", 8, "-o", out)
    one_line_error(res, "capture.dat", "no space left on device")
    assert not (out / "capture.dat").exists() and not any(".part" in f for f in files_under(out))


def test_spikecal_fit_on_a_full_disk_is_one_line(tmp_path, monkeypatch):
    out = tmp_path / "u"
    assert run(spikesim, "uniform", "--levels", "0,100,200", "--steps", 200,
               "--camera", _small_camera(tmp_path), "-o", out).exit_code == 0
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(
        OSError(errno.ENOSPC, "No space left on device")))
    one_line_error(run(spikecal, "fit", out, "-o", tmp_path / "cam.npz"),
                   "cam.npz", "no space left on device")
    assert not (tmp_path / "cam.npz").exists()
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]


def _small_camera(tmp_path) -> Path:
    path = tmp_path / "cam16.yaml"
    path.write_text("width: 40\nheight: 16\n")
    return path


# --------------------------------------------------------------- output paths
def test_output_naming_an_existing_directory_is_named_plainly(dat, tmp_path):
    """The audit: ``-o DIR`` reported the internal temporary file's name."""
    target = tmp_path / "somewhere"
    target.mkdir()
    for flags in ([], ["--overwrite"]):
        res = run(spikerestore, "run", dat, "-o", target, *flags)
        one_line_error(res, str(target), "an existing directory")
        assert ".part" not in res.output
    assert list(target.iterdir()) == []


def test_fit_report_into_an_unwritable_directory_writes_nothing(tmp_path):
    """The audit: ``spikecal fit --report DIR`` wrote the .npz, then failed on DIR (here
    DIR cannot be made: its parent is a file, which holds for root too)."""
    out = tmp_path / "u"
    assert run(spikesim, "uniform", "--levels", "0,100,200", "--steps", 200,
               "--camera", _small_camera(tmp_path), "-o", out).exit_code == 0
    blocker = tmp_path / "afile"
    blocker.write_text("not a directory")
    one_line_error(run(spikecal, "fit", out, "-o", tmp_path / "cam.npz",
                       "--report", blocker / "rep"), "--report", "cannot create")
    assert not (tmp_path / "cam.npz").exists()


def test_fit_report_holding_a_report_is_refused_before_the_npz(tmp_path):
    out = tmp_path / "u"
    assert run(spikesim, "uniform", "--levels", "0,100,200", "--steps", 200,
               "--camera", _small_camera(tmp_path), "-o", out).exit_code == 0
    rep = tmp_path / "rep"
    rep.mkdir()
    (rep / "summary.txt").write_text("an older report\n")
    one_line_error(run(spikecal, "fit", out, "-o", tmp_path / "cam.npz", "--report", rep),
                   "--report", "summary.txt", "--overwrite")
    assert not (tmp_path / "cam.npz").exists()


def test_leftovers_of_a_killed_writer_are_removed_by_the_next_write(dat, tmp_path):
    """A ``.NAME.*.part*`` of a dead writer of the same output goes; a live writer's, or
    another output's, or a file that only looks alike, stays."""
    target = tmp_path / "v.dat"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    host = atomic.part_prefix(target).split(".")[-2].split("-")[0]
    stale = tmp_path / f".v.dat.{host}-{dead_pid}.abcd1234.part.dat"
    live = tmp_path / f".v.dat.{host}-{os.getppid()}.efgh5678.part.dat"
    other_host = tmp_path / f".v.dat.000000-{dead_pid}.ijkl9012.part.dat"
    other_output = tmp_path / f".w.dat.{host}-{dead_pid}.mnop3456.part.dat"
    lookalike = tmp_path / ".v.dat.notes.part.dat"
    for p in (stale, live, other_host, other_output, lookalike):
        p.write_bytes(b"half written")
    assert run(spikesim, "convert", dat, target).exit_code == 0
    assert not stale.exists()
    assert all(p.exists() for p in (live, other_host, other_output, lookalike))


# ----------------------------------------------------- interruption, concurrency
def test_a_directory_has_one_writer_at_a_time(tmp_path, config):
    out = tmp_path / "ds"
    with writer_lock(out):                       # another run holds the directory
        res = run(spikesim, "generate", "--config", config, "-o", out)
        one_line_error(res, "being written by pid", str(os.getpid()), "one writer at a time")
        res = run(spikesim, "generate", "--config", config, "-o", out, "--resume")
        one_line_error(res, "being written by pid")
        assert [p.name for p in out.iterdir()] == [".lock"]
        res = run(spikesim, "uniform", "--levels", "0", "--steps", 8, "-o", out)
        one_line_error(res, "being written by pid")
    assert not out.exists()                      # the lock's directory, left empty, is gone
    assert run(spikesim, "generate", "--config", config, "-o", out).exit_code == 0
    assert not (out / ".lock").exists() and read_manifest(out)["complete"]


def test_resume_repairs_a_sample_with_missing_files(tmp_path, config):
    """The audit: a sample with 3 of its 10 files while the manifest said complete, never
    repaired. Resume checks every file of every sample and remakes the incomplete ones."""
    out, fresh = tmp_path / "ds", tmp_path / "fresh"
    assert run(spikesim, "generate", "--config", config, "-o", out).exit_code == 0
    assert run(spikesim, "generate", "--config", config, "-o", fresh).exit_code == 0
    broken = out / "samples" / "000001"
    for name in SAMPLE_FILES[3:]:
        (broken / name).unlink()
    (out / "samples" / "000000" / "spikes.dat").write_bytes(b"\0" * 10)   # cut short
    assert read_manifest(out)["complete"] is True
    res = run(spikesim, "generate", "--config", config, "-o", out, "--resume")
    assert res.exit_code == 0, res.output
    for i in ("000000", "000001"):
        for name in SAMPLE_FILES:
            assert ((out / "samples" / i / name).read_bytes()
                    == (fresh / "samples" / i / name).read_bytes()), (i, name)


def test_workers_exit_when_generate_is_killed(tmp_path):
    """The audit: after ``kill -9`` of ``generate --workers 2`` the workers went on
    writing samples, then stayed alive idle."""
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({**TINY, "num": 400}))
    out = tmp_path / "ds"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from cli.spikesim_cli import main; main()", "generate",
         "--config", str(cfg), "-o", str(out), "--workers", "2", "-qq"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if (out / "samples").is_dir() and any((out / "samples").iterdir()):
                children = _children(proc.pid)
                if len(children) >= 2:
                    break
            time.sleep(0.2)
        assert proc.poll() is None and len(children) >= 2, "no workers seen"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_alive(c) for c in children):
        time.sleep(0.2)
    assert not any(_alive(c) for c in children)
    settled = files_under(out / "samples")
    time.sleep(1.0)
    assert files_under(out / "samples") == settled            # nobody writes on
    res = run(spikesim, "generate", "--config", cfg, "-o", out, "--resume", "--num", 3)
    assert res.exit_code in (0, 2), res.output    # 2: more than 3 samples were made already


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_kill_between_the_renames_never_leaves_a_dat_without_its_sidecar(tmp_path,
                                                                          monkeypatch):
    """The .dat is renamed into place last: a run killed after the first rename leaves
    the sidecar alone (refused without --overwrite), never a .dat that a reader would
    take for a 400x250 stream."""
    real = os.replace

    def killed_after_one(src, dst):
        real(src, dst)
        if str(dst).endswith(".yaml"):
            raise KeyboardInterrupt               # the kill, right after the sidecar
    monkeypatch.setattr(atomic.os, "replace", killed_after_one)
    with pytest.raises(KeyboardInterrupt):
        SpikeStream.from_dense(np.zeros((3, 64, 64), np.uint8)).write_dat(tmp_path / "s.dat")
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.dat.yaml"]


# ----------------------------------------------------------------- source: dpdd
def _fake_dpdd(root: Path, side: int) -> None:
    rng = np.random.default_rng(0)
    for sub in ("source", "target"):
        (root / "test_c" / sub).mkdir(parents=True)
        iio.imwrite(root / "test_c" / sub / "a.png",
                    rng.integers(1, 256, (side, side), dtype=np.uint8))


def _dpdd_config(tmp_path, side: int) -> Path:
    _fake_dpdd(tmp_path / "dpdd", side)
    cfg = tmp_path / "dpdd.yaml"
    cfg.write_text(yaml.safe_dump({**TINY, "source": "dpdd", "dpdd_split": "test",
                                   "dpdd_root": str(tmp_path / "dpdd")}))
    return cfg


def test_dpdd_crop_larger_than_the_pictures_is_refused_before_writing(tmp_path):
    cfg = _dpdd_config(tmp_path, 20)
    one_line_error(run(spikesim, "generate", "--config", cfg, "-o", tmp_path / "ds"),
                   "width/height", "32x32", "20x20")
    assert not (tmp_path / "ds").exists()


@pytest.fixture
def dpdd_dataset(tmp_path):
    out = tmp_path / "ds"
    res = run(spikesim, "generate", "--config", _dpdd_config(tmp_path, 40), "-o", out)
    assert res.exit_code == 0, res.output               # used to exit 1 after every sample
    assert read_manifest(out)["samples"][0]["sigma_median"] is None
    return out


def test_dpdd_eval_without_a_true_sigma_is_one_line(dpdd_dataset, tmp_path):
    res = run(spikerestore, "eval", dpdd_dataset, "-o", tmp_path / "ev", "--no-lpips")
    one_line_error(res, "--methods", "tfp+wiener", "oracle", "--methods tfp,tfi,tfp+wiener@est")
    res = run(spikerestore, "eval", dpdd_dataset, "-o", tmp_path / "ev", "--no-lpips",
              "--methods", "tfp,tfp+wiener@est")
    assert res.exit_code == 0, res.output
    rows = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert "tfp+wiener@est" in json.dumps(rows)


def test_dpdd_cascade_run_estimates_sigma(dpdd_dataset, tmp_path):
    for method in ("tfp+wiener", "tfi+rl"):
        out = tmp_path / f"{method}.png"
        res = run(spikerestore, "run", dpdd_dataset / "samples" / "000000", "--method", method,
                  "-o", out)
        assert res.exit_code == 0, res.output
        assert "(estimated)" in res.output and out.is_file()


# ------------------------------------------------------------------- -q / -qq
def test_quiet_silences_generate_and_render_summaries(tmp_path, config):
    res = run(spikesim, "generate", "--config", config, "-o", tmp_path / "a", "-q")
    assert res.exit_code == 0 and res.stdout.splitlines() == [
        f"wrote 2 of 2 samples to {tmp_path / 'a'}"]
    res = run(spikesim, "-qq", "generate", "--config", config, "-o", tmp_path / "b")
    assert res.exit_code == 0 and res.stdout == ""
    cam = _small_camera(tmp_path)
    res = run(spikesim, "render", "scene:smooth", "--camera", cam, "--steps", 8,
              "-o", tmp_path / "r1", "-q")
    assert res.exit_code == 0 and res.stdout == f"wrote {tmp_path / 'r1'}\n"
    res = run(spikesim, "render", "scene:smooth", "--camera", cam, "--steps", 8,
              "-o", tmp_path / "r2", "-qq")
    assert res.exit_code == 0 and res.stdout == ""
    res = run(spikesim, "uniform", "--levels", "0", "--steps", 8, "--camera", cam,
              "-o", tmp_path / "u", "-qq")
    assert res.exit_code == 0 and res.stdout == ""


def test_writer_lock_held_and_released_when_the_holder_text_cannot_be_written(tmp_path,
                                                                             monkeypatch):
    """A full disk while the lock file records its holder: the lock still works and is
    released (the file removed, the descriptor closed), not leaked before the try."""
    import errno
    import os

    real_write = os.write

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    out = tmp_path / "ds"
    opened = len(os.listdir("/proc/self/fd"))
    monkeypatch.setattr(os, "write", full)
    with writer_lock(out):
        assert (out / ".lock").exists()
    monkeypatch.setattr(os, "write", real_write)
    assert not (out / ".lock").exists()
    assert len(os.listdir("/proc/self/fd")) == opened
