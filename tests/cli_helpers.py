"""What the CLI tests share: invoking a command, the one-line error contract, the files a
run left behind, and the tiny DeSpike training config that trains in seconds."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result


def invoke(main, *args) -> Result:
    """Run the click command ``main`` with ``args`` (any objects, passed as ``str``)."""
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(res: Result, *words: str) -> None:
    """Exit status 2 and a single ``Error:`` line that contains every word."""
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert res.exit_code == 2, res.output
    assert len(lines) == 1 and lines[0].startswith("Error:"), res.output
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert "Traceback" not in res.output


def files_under(root: Path) -> list[str]:
    """Every file below ``root``, relative and sorted (``[]`` when ``root`` is absent)."""
    root = Path(root)
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def tiny_model(name: str) -> dict:
    """A DeSpike model config of a few hundred parameters (two windows, no transformer)."""
    return {"name": name, "encoder_channels": 2, "num_kernels": 2, "kernel_size": 3,
            "widths": [4, 4, 4], "depths": [0, 0, 0], "heads": [1, 1, 1],
            "fusion_key_dim": 2, "windows": [16, 32]}


def tiny_train_config(name: str, *, data: dict | None = None, **keys) -> dict:
    """A two-step training config of :func:`tiny_model` on 16-px crops; ``data`` keys are
    merged into its ``data:``, other keys set at the top level."""
    config = {
        "model": tiny_model(name),
        "loss": {"window_beta": [0.5, 1.0]},
        "steps": 2, "batch_size": 1, "warmup": 1, "val_every": 2, "ckpt_every": 1,
        "log_every": 1,
        "data": {"crop": 16, "steps": 192, "cameras": 1, "calib_steps": 200, "val_samples": 1,
                 "val_size": 16, "val_cameras": 1, **(data or {})},
    }
    config.update(keys)
    return config
