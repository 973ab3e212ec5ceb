"""Shared fixtures: the third-party data beside the checkout, a tolerance table, a tiny
generated dataset."""

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout; skip when it is absent (a user's clone)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"third-party reference data not found at {SHARED_DATA} "
                    "(it sits beside the checkout in CI; a plain clone does not have it)")
    return SHARED_DATA


def _torch_devices() -> list:
    """``cpu`` always, ``cuda`` when this machine has one: torch tests that take the
    ``device`` fixture run on each, so a GPU run reuses them (none is skipped here)."""
    try:
        import torch
    except ImportError:                        # the numpy-only parts of the suite
        return ["cpu"]
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=_torch_devices())
def device(request) -> str:
    """The torch device a test runs on (parametrised: ``cpu``, and ``cuda`` when present)."""
    return request.param


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    """A generated dataset of two 48x32, 192-step samples (seed 7), per test module."""
    from spikesim.dataset import generate_dataset, load_dataset_config

    out = tmp_path_factory.mktemp("ds") / "data"
    cfg = load_dataset_config({"width": 48, "height": 32, "steps": 192, "num": 2, "seed": 7})
    generate_dataset(cfg, out, workers=1)
    return out
