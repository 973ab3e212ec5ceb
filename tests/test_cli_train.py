"""``spikerestore models`` and ``spikerestore train`` through click's CliRunner."""

import json

import pytest
import torch
import yaml
from click.testing import CliRunner

from cli.spikerestore_cli import main

TINY = {
    "model": {"name": "tiny-cli", "encoder_channels": 2, "num_kernels": 2, "kernel_size": 3,
              "widths": [4, 4, 4], "depths": [0, 0, 0], "heads": [1, 1, 1],
              "fusion_key_dim": 2, "windows": [16, 32]},
    "loss": {"window_beta": [0.5, 1.0]},
    "steps": 2, "batch_size": 1, "warmup": 1, "val_every": 2, "ckpt_every": 1, "log_every": 1,
    "data": {"crop": 16, "steps": 192, "cameras": 1, "calib_steps": 200, "val_samples": 1,
             "val_size": 16, "val_cameras": 1},
}


def test_models_lists_configs_with_parameter_counts():
    res = CliRunner().invoke(main, ["models", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.output)}
    assert set(rows) >= {"despike-small", "despike-paper"}
    assert abs(rows["despike-paper"]["parameters"] - 9.498e6) / 9.498e6 < 0.05
    assert rows["despike-small"]["parameters"] < rows["despike-paper"]["parameters"] / 50
    text = CliRunner().invoke(main, ["models"])
    assert text.exit_code == 0 and "despike-paper" in text.output and " M parameters" in text.output


def test_train_writes_a_run_and_refuses_to_clobber_it(tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    run = tmp_path / "run"
    res = CliRunner().invoke(main, ["train", "--config", str(cfg), "-o", str(run)])
    assert res.exit_code == 0, res.output
    assert "tiny-cli: 2/2 steps" in res.output
    payload = torch.load(run / "best.pt", weights_only=True)
    assert payload["kind"] == "despike-weights" and payload["config"]["name"] == "tiny-cli"
    again = CliRunner().invoke(main, ["train", "--config", str(cfg), "-o", str(run)])
    assert again.exit_code == 2 and "--resume" in again.output
    resumed = CliRunner().invoke(main, ["train", "--config", str(cfg), "-o", str(run), "--resume"])
    assert resumed.exit_code == 0 and "2/2 steps" in resumed.output


@pytest.mark.parametrize("content,needle", [("steps: -3\n", "steps"),
                                            ("model: {kernel_size: 4}\n", "model.kernel_size"),
                                            ("lrr: 0.1\n", "did you mean 'lr'")])
def test_train_config_errors_exit_2_naming_the_key(tmp_path, content, needle):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(content)
    res = CliRunner().invoke(main, ["train", "--config", str(cfg), "-o", str(tmp_path / "r")])
    assert res.exit_code == 2 and needle in res.output, res.output


def test_train_on_cuda_without_cuda_is_a_clear_error(tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    res = CliRunner().invoke(main, ["train", "--config", str(cfg), "-o", str(tmp_path / "r"),
                                    "--device", "cuda"])
    if torch.cuda.is_available():       # a GPU machine runs it
        assert res.exit_code == 0, res.output
    else:
        assert res.exit_code == 2 and "--device" in res.output and "cpu" in res.output
