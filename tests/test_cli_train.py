"""``spikerestore models`` and ``spikerestore train`` through click's CliRunner."""

import json

import pytest
import torch
import yaml
from click.testing import CliRunner

from cli.spikerestore_cli import main
from tests.cli_helpers import tiny_train_config

TINY = tiny_train_config("tiny-cli")


def test_models_lists_configs_with_parameter_counts():
    res = CliRunner().invoke(main, ["models", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.output)}
    assert set(rows) >= {"despike-small", "despike-paper"}
    assert abs(rows["despike-paper"]["parameters"] - 9.498e6) / 9.498e6 < 0.05
    assert rows["despike-small"]["parameters"] < rows["despike-paper"]["parameters"] / 10
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


def test_card_is_made_of_the_run_its_notes_and_its_evaluations(tmp_path):
    """`spikerestore card`: every number comes from a file (weights meta, val.csv, eval's
    results.md with the command that made it); a missing input is a clear error."""
    from spikesim.dataset import generate_dataset, load_dataset_config

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    run = tmp_path / "run"
    assert CliRunner().invoke(main, ["train", "--config", str(cfg), "-o", str(run)]).exit_code == 0
    data = tmp_path / "data"
    generate_dataset(load_dataset_config({"width": 48, "height": 32, "steps": 192, "num": 1,
                                          "seed": 3}), data, workers=1)
    ev = tmp_path / "eval_tiny"
    res = CliRunner().invoke(main, ["eval", str(data), "--methods", "despike,tfp", "--weights",
                                    str(run / "best.pt"), "--calib-mode", "both", "--limit",
                                    "1", "-o", str(ev)])
    assert res.exit_code == 0, res.output
    results = (ev / "results.md").read_text()
    import hashlib

    digest = hashlib.sha256((run / "best.pt").read_bytes()).hexdigest()[:12]
    assert results.splitlines()[0] == (
        f"Command: `spikerestore eval {data} --methods despike,tfp --windows full "
        f"--calib-mode both --limit 1 --weights {run / 'best.pt'}`")
    assert f"Network weights: `{run / 'best.pt'} (sha256 {digest})`" in results
    assert "| despike +cal | full |" in results and "| tfp | full |" in results
    notes = tmp_path / "notes.md"
    notes.write_text("## Recipe\n\nOne tiny stage.\n")
    out = tmp_path / "CARD.md"
    res = CliRunner().invoke(main, ["card", str(run), "--notes", str(notes), "--eval", str(ev),
                                    "-o", str(out)])
    assert res.exit_code == 0, res.output
    card = out.read_text()
    from restore.despike.model import DeSpikeNet, count_parameters

    assert f"- parameters: {count_parameters(DeSpikeNet(TINY['model']))}\n" in card
    val_steps = [line.split(",")[0] for line in (run / "val.csv").read_text().splitlines()[1:]]
    assert [ln.split("|")[1].strip() for ln in card.splitlines()
            if ln.startswith("| ") and ln.split("|")[1].strip().isdigit()] == val_steps
    assert "## Recipe\n\nOne tiny stage." in card
    assert "## Evaluation: `eval_tiny`\n\n" + results.strip() in card
    again = CliRunner().invoke(main, ["card", str(run), "-o", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.output
    missing = CliRunner().invoke(main, ["card", str(run), "--eval", str(tmp_path / "nope"),
                                        "-o", str(tmp_path / "c2.md")])
    assert missing.exit_code == 2 and "--eval" in missing.output and "nope" in missing.output
    not_run = CliRunner().invoke(main, ["card", str(data), "-o", str(tmp_path / "c3.md")])
    assert not_run.exit_code == 2 and "RUN_DIR" in not_run.output
