"""restore.torch_dataset.SpikeDataset over a generated dataset, and the tiny-model example."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from restore.evaluate import oracle_calibration
from restore.torch_dataset import SpikeDataset, pack_rows, unpack_spikes
from spikesim import dataset as ds
from spikesim.errors import InputError

TINY = {"name": "tiny-torch", "width": 40, "height": 32, "steps": 192, "num": 3, "seed": 3}
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "train_tiny_model.py"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("torchds") / "ds"
    ds.generate_dataset(TINY, out)
    return out


def _sample(dataset: Path, i: int):
    return ds.load_sample(dataset / "samples" / ds.sample_name(i))


def test_items_hold_the_sample(dataset):
    data = SpikeDataset(dataset, window=64)
    assert len(data) == TINY["num"]
    sample = _sample(dataset, 1)
    item = data[1]
    key = sample.key_step
    start = key - 32
    np.testing.assert_array_equal(item["spikes"].numpy(), sample.stream.window(start, start + 64))
    assert int(item["key"]) == key - start
    np.testing.assert_array_equal(item["target"].numpy(), sample.sharp)
    np.testing.assert_array_equal(item["sigma"].numpy(), sample.sigma)
    np.testing.assert_array_equal(item["depth"].numpy(), sample.depth)
    k = float(sample.params["camera"]["k"])
    assert float(item["to_lambda"]) == pytest.approx(k * sample.illuminance, rel=1e-6)
    calib = oracle_calibration(sample.camera, sample.illuminance * 0.5)
    np.testing.assert_array_equal(item["calibration"]["weight"].numpy(), calib.weight)
    assert float(item["calibration"]["dead_time"]) == calib.dead_time
    assert "calibration" not in SpikeDataset(dataset, calibration="none")[0]
    whole = SpikeDataset(dataset, calibration="none")[0]["spikes"]
    assert whole.shape == (TINY["steps"], 32, 40)


def test_crops_and_flips_move_every_array_together(dataset):
    plain = SpikeDataset(dataset)[0]
    seen = set()
    for epoch in range(6):
        data = SpikeDataset(dataset, crop=16, flips=True, seed=4)
        data.set_epoch(epoch)
        item = data[0]
        assert item["spikes"].shape == (TINY["steps"], 16, 16)
        # locate the crop (with its flips / transpose) of the target in the full target
        found = None
        for t in range(8):
            tgt = item["target"].numpy()
            tgt = tgt.T if t & 4 else tgt
            tgt = tgt[::-1] if t & 2 else tgt
            tgt = tgt[:, ::-1] if t & 1 else tgt
            full = plain["target"].numpy()
            for y in range(32 - 15):
                for x in range(40 - 15):
                    if np.array_equal(full[y:y + 16, x:x + 16], tgt):
                        found = (t, y, x)
                        break
                if found:
                    break
            if found:
                break
        assert found is not None
        t, y, x = found
        seen.add((t, y, x))

        def undo(a):
            a = a.transpose(-1, -2) if t & 4 else a
            a = a.flip(-2) if t & 2 else a
            return a.flip(-1) if t & 1 else a
        for name in ("spikes", "sigma", "depth"):
            np.testing.assert_array_equal(undo(item[name]).numpy(),
                                          plain[name][..., y:y + 16, x:x + 16].numpy())
        np.testing.assert_array_equal(undo(item["calibration"]["gain"]).numpy(),
                                      plain["calibration"]["gain"][y:y + 16, x:x + 16].numpy())
    assert len(seen) > 1                       # epochs draw new crops / flips
    again = SpikeDataset(dataset, crop=16, flips=True, seed=4)
    again.set_epoch(5)
    assert torch.equal(again[0]["spikes"], item["spikes"])      # a pure function of the seed


def test_packed_spikes_round_trip(dataset):
    dense = SpikeDataset(dataset, window=32, crop=(24, 20))[2]["spikes"]
    packed = SpikeDataset(dataset, window=32, crop=(24, 20), packed=True)[2]["spikes"]
    assert packed.shape == (32, 24, 3) and packed.dtype == torch.uint8
    assert torch.equal(unpack_spikes(packed, 20), dense)
    np.testing.assert_array_equal(pack_rows(dense.numpy()), packed.numpy())


def test_bad_options_are_one_line_errors(dataset, tmp_path):
    with pytest.raises(InputError, match="calibration"):
        SpikeDataset(dataset, calibration="fitted")
    with pytest.raises(InputError, match="crop"):
        SpikeDataset(dataset, crop=64)[0]
    with pytest.raises(InputError, match="window"):
        SpikeDataset(dataset, window=0)
    with pytest.raises(InputError, match="manifest"):
        SpikeDataset(tmp_path)


def _example():
    spec = importlib.util.spec_from_file_location("train_tiny_model", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def one_thread():
    """One torch thread (a shared 2-core machine: no OpenMP oversubscription)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_example_trains(dataset, one_thread):
    example = _example()
    losses = example.train(dataset, steps=2, batch_size=2, log=lambda msg: None)
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses)
    # on one fixed batch a few steps lower the loss
    torch.manual_seed(0)
    batch = next(iter(torch.utils.data.DataLoader(
        SpikeDataset(dataset, window=32, crop=32, calibration="none"), batch_size=3)))
    model = example.tiny_model(32)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    fixed = [example.train_step(model, optimizer, batch) for _ in range(8)]
    assert all(math.isfinite(v) for v in fixed)
    assert fixed[-1] < 0.9 * fixed[0]
