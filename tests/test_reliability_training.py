"""Training's output and multi-process runs (issue 18's audit of `spikerestore train`).

- every progress line is printed once, in one format;
- ``--stop-after`` before the first validation: ``summary.json`` stores ``best: null``
  and the command says "no validation yet" (not a -1e9 dB best at step -1);
- the documented multi-process command, ``torchrun --no-python --nproc_per_node 2
  spikerestore train ...`` (plain ``torchrun ... spikerestore`` asks python to open a
  file named spikerestore), runs on CPU (gloo); only rank 0 reports;
- under DDP rank 0 fills the cache (pool or calibrations) while the other ranks wait
  at a barrier, then read it.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.cli_helpers import tiny_train_config

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

TINY = tiny_train_config("tiny-ddp", threads=1,
                         data={"pool": 2, "pool_size": 16, "short_lengths": [32]})


def _tool(name):
    exe = BIN / name
    if not exe.exists():
        pytest.skip(f"{name} is not installed beside {sys.executable}")
    return str(exe)


def _run(argv, tmp_path, timeout=240):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    return subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture()
def tiny_config(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


def test_progress_printed_once_and_no_best_before_validation(tmp_path, tiny_config):
    from click.testing import CliRunner

    from cli.spikerestore_cli import main

    run = tmp_path / "run"
    res = CliRunner().invoke(main, ["train", "--config", str(tiny_config), "-o", str(run),
                                    "--stop-after", "1"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()          # stdout and stderr, interleaved
    progress = [ln for ln in lines if ln.startswith("step ")]
    assert len(progress) == 1 and progress[0].startswith("step 1/2 loss "), lines
    summary = json.loads((run / "summary.json").read_text())
    assert summary["step"] == 1 and summary["best"] is None
    assert "no validation yet" in res.stdout and "-1000000000" not in res.output


def test_documented_torchrun_command_runs_two_processes(tmp_path, tiny_config):
    """The command of docs/despike.md, 2 processes on CPU for 2 steps (~30 s here)."""
    docs = (ROOT / "docs" / "despike.md").read_text(encoding="utf-8")
    assert "torchrun --no-python --nproc_per_node N spikerestore train" in docs
    run = tmp_path / "run"
    res = _run([_tool("torchrun"), "--no-python", "--nproc_per_node", "2",
                "--master_addr", "127.0.0.1", "--master_port", "29547",
                _tool("spikerestore"), "train", "--config", str(tiny_config), "-o", str(run)],
               tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    reports = [ln for ln in res.stdout.splitlines() if ln.startswith("tiny-ddp: ")]
    assert len(reports) == 1 and "2/2 steps" in reports[0], res.stdout
    assert "-1000000000" not in res.stdout + res.stderr
    progress = [ln for ln in res.stderr.splitlines() if ln.startswith("step ")]
    assert len(progress) == 2, res.stderr             # rank 0's two log rows, once each
    summary = json.loads((run / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["best"]["step"] == 2
    pools = list((run / "cache").glob("pool-*"))
    assert len(pools) == 1 and len(list(pools[0].glob("chunk-*.npz"))) == 1


@pytest.mark.parametrize("rank", [0, 1])
def test_rank_zero_fills_the_cache_while_the_others_wait(monkeypatch, tmp_path, rank):
    """Order of events in ``_training_data`` under a 2-process group (barrier stubbed)."""
    import torch.distributed as dist

    from restore.despike import train as train_mod
    from restore.despike.configs import train_config

    events = []

    class Recorder:
        def __init__(self, *args, **kwargs):
            events.append("dataset")

        def calibration(self, camera):
            events.append(f"calibration {camera}")

    monkeypatch.setattr(dist, "barrier", lambda: events.append("barrier"))
    monkeypatch.setattr(train_mod, "ProceduralDataset", Recorder)
    cfg = train_config(dict(TINY, data=dict(TINY["data"], pool=0, cameras=3)))
    run = train_mod._Run(tmp_path, tmp_path / "cache", None)
    proc = train_mod._Processes(None, 2, rank, False)
    train_mod._training_data(cfg, run, 0, proc)
    if rank == 0:
        assert events == ["dataset", "calibration 0", "calibration 1", "calibration 2",
                          "barrier"]
    else:
        assert events == ["barrier", "dataset"]


def test_single_process_run_has_no_barrier(monkeypatch, tmp_path):
    import torch.distributed as dist

    from restore.despike import train as train_mod
    from restore.despike.configs import train_config

    monkeypatch.setattr(dist, "barrier", lambda: pytest.fail("barrier in a 1-process run"))
    monkeypatch.setattr(train_mod, "ProceduralDataset", lambda *a, **k: "dataset")
    cfg = train_config(dict(TINY, data=dict(TINY["data"], pool=0)))
    run = train_mod._Run(tmp_path, tmp_path / "cache", None)
    ds, _ = train_mod._training_data(cfg, run, 0, train_mod._Processes(None, 1, 0, False))
    assert ds == "dataset"



# --------------------------------------------------------------- bad training configs
# issue 18, "Configs": each is one line, exit 2, and nothing is written (the corrected
# rerun needs no --overwrite).
BAD_CONFIGS = {
    "preset-list": ({"preset": ["x"]}, ("preset", "['x']")),
    "model-text": ({"preset": "despike-small", "model": "big"}, ("model",)),
    "generator-int": (tiny_train_config("t", data={"generator": 5}), ("data.generator", "5")),
    "generator-source": (tiny_train_config("t", data={"generator": {"source": "nope"}}),
                         ("data.generator.source", "nope")),
    "val-natural-dir": (tiny_train_config("t", data={"val_natural": {
        "source": "images", "image_dir": "no/such/dir"}}), ("data.val_natural",)),
    "init-missing": (tiny_train_config("t", init="no/such/weights.pt"),
                     ("init", "no/such/weights.pt")),
    "empty": ({}, ("config", "empty")),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_train_config_is_one_line_before_anything_is_written(tmp_path, case):
    from cli.spikerestore_cli import main
    from tests.cli_helpers import files_under, invoke, one_line_error

    mapping, words = BAD_CONFIGS[case]
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(mapping) if mapping else "")
    run = tmp_path / "run"
    res = invoke(main, "train", "--config", cfg, "-o", run, "--stop-after", 1)
    one_line_error(res, *words)
    assert not run.exists(), files_under(run)
