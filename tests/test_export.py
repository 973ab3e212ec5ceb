"""``spikesim export``: Spike-Zoo's layout and dense .npz, byte for byte; atomic, no clobbering.

The exported ``.dat`` files are checked three ways: their bytes are the sample's
``spikes.dat``; a decoder written here from the format's definition (no header, H·W/8
bytes a frame, LSB first, rows bottom-up: /work/shared/spec/formats.md), the convention
of Spike-Zoo's ``load_vidar_dat`` and SpikeCV's ``SpikeStream.get_spike_matrix``, gives
the sample's frames; and the same decoder agrees with our reader on a third-party file
of ``../shared/data/interop`` (Spike-Zoo sample data).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from spikesim import dataset as ds
from spikesim import export
from spikesim.errors import InputError, OutputExistsError
from spikesim.stream import SpikeStream

TINY = {"name": "tiny-export", "width": 32, "height": 24, "steps": 192, "num": 3, "seed": 5}


def decode_dat(data: bytes, height: int, width: int) -> np.ndarray:
    """(T, H, W) uint8 frames of raw .dat bytes, by the format's definition."""
    frame = height * width // 8
    usable = len(data) // frame * frame
    bits = np.unpackbits(np.frombuffer(data[:usable], np.uint8), bitorder="little")
    return bits.reshape(-1, height, width)[:, ::-1, :]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "ds"
    ds.generate_dataset(TINY, out)
    return out


def _samples(dataset: Path):
    return [ds.load_sample(dataset / "samples" / ds.sample_name(i)) for i in range(TINY["num"])]


def test_spikezoo_layout_is_byte_identical(dataset, tmp_path):
    out = tmp_path / "zoo"
    info = export.export_dataset(dataset, "spikezoo", out)
    assert (info["width"], info["height"], info["num"]) == (32, 24, 3)
    assert yaml.safe_load((out / "export.yaml").read_text())["split"] == "test"
    assert sorted(p.name for p in out.iterdir()) == ["export.yaml", "test"]
    for sample in _samples(dataset):
        name = ds.sample_name(sample.id)
        dat = (out / "test" / "spike" / f"{name}.dat").read_bytes()
        assert dat == (sample.path / "spikes.dat").read_bytes()
        np.testing.assert_array_equal(decode_dat(dat, 24, 32),
                                      sample.stream.window(0, len(sample.stream)))
        gt = out / "test" / "gt" / f"{name}.png"
        assert gt.read_bytes() == (sample.path / "sharp_srgb.png").read_bytes()


def test_linear_targets_and_train_split(dataset, tmp_path):
    import imageio.v3 as iio

    out = tmp_path / "zoo"
    export.export_dataset(dataset, "spikezoo", out, split="train", gt="linear", limit=2)
    assert sorted(p.name for p in (out / "train" / "gt").iterdir()) == ["000000.png",
                                                                        "000001.png"]
    sample = _samples(dataset)[1]
    gt = iio.imread(out / "train" / "gt" / "000001.png")
    assert gt.dtype == np.uint8
    np.testing.assert_array_equal(gt, np.round(np.clip(sample.sharp, 0, 1) * 255))


def test_npz_holds_dense_frames_and_targets(dataset, tmp_path):
    out = tmp_path / "dense"
    export.export_dataset(dataset, "npz", out)
    for sample in _samples(dataset):
        path = out / "test" / f"{ds.sample_name(sample.id)}.npz"
        with np.load(path, allow_pickle=False) as z:
            assert z["spk"].shape == (TINY["steps"], 24, 32) and z["spk"].dtype == np.uint8
            np.testing.assert_array_equal(z["spk"], sample.stream.window(0, TINY["steps"]))
            np.testing.assert_array_equal(z["sharp"], sample.sharp)
            np.testing.assert_array_equal(z["sigma"], sample.sigma)
            assert int(z["key_step"]) == sample.key_step
        again = SpikeStream.load_npz(path, axes="THW")
        assert again.packed.tobytes() == (sample.path / "spikes.dat").read_bytes()


def test_third_party_dat_reads_as_the_definition_says(shared_data):
    """Spike-Zoo sample data (shared/data/interop): our reader equals the definition."""
    path = shared_data / "interop" / "reds_200_part1_key151_250x400.dat"
    ours = SpikeStream.read_dat(path, size=(400, 250))
    frames = 41
    np.testing.assert_array_equal(ours.window(0, frames),
                                  decode_dat(path.read_bytes()[:frames * 12_500], 250, 400))


def test_existing_output_is_kept(dataset, tmp_path):
    out = tmp_path / "zoo"
    export.export_dataset(dataset, "spikezoo", out, limit=1)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    with pytest.raises(OutputExistsError):
        export.export_dataset(dataset, "spikezoo", out)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    export.export_dataset(dataset, "npz", out, overwrite=True)        # an export: replaced
    assert (out / "test" / "000002.npz").is_file() and not (out / "test" / "spike").exists()
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="replaces only exports"):
        export.export_dataset(dataset, "npz", other, overwrite=True)
    assert (other / "notes.txt").read_text() == "keep me"
    empty = tmp_path / "empty"
    empty.mkdir()
    export.export_dataset(dataset, "npz", empty, limit=1)             # an empty folder is new
    assert (empty / "export.yaml").is_file()


def test_failure_leaves_nothing(dataset, tmp_path, monkeypatch):
    calls = []

    def failing(sample, split_dir, name, gt):
        calls.append(name)
        if len(calls) == 2:
            raise OSError("disk trouble")
        real(sample, split_dir, name, gt)

    real = export._write_spikezoo
    monkeypatch.setattr(export, "_write_spikezoo", failing)
    with pytest.raises(OSError):
        export.export_dataset(dataset, "spikezoo", tmp_path / "zoo")
    assert list(tmp_path.iterdir()) == []


def test_a_killed_exports_staging_directory_is_removed_by_the_next(dataset, tmp_path):
    """A killed export left its staging directory beside OUT for good (README: the
    temporary files of a killed writer are removed by the next write of the output)."""
    import os
    import subprocess
    import sys

    from spikesim.atomic import part_prefix

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "zoo.v1"
    stale = tmp_path / (part_prefix(out).replace(f"-{os.getpid()}.", f"-{dead.pid}.")
                        + "abc123.part.v1")
    (stale / "test" / "spike").mkdir(parents=True)
    (stale / "test" / "spike" / "000000.dat").write_bytes(b"\0" * 96)
    export.export_dataset(dataset, "spikezoo", out, limit=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["zoo.v1"]



def test_a_kill_between_the_renames_of_overwrite_hides_nothing_for_good(dataset, tmp_path,
                                                                     monkeypatch):
    """``--overwrite`` renames the earlier export aside, then the new one in: a kill
    between the two left the earlier export hidden under a name nothing cleaned. Its
    aside name is now this writer's temporary pattern, removed by the next export."""
    import os
    import subprocess
    import sys

    out = tmp_path / "zoo"
    export.export_dataset(dataset, "spikezoo", out, limit=1)
    real_rename = os.rename
    renames = []

    def killed_after_first(src, dst):
        renames.append(dst)
        if len(renames) == 2:
            raise KeyboardInterrupt          # the kill, after the earlier export moved aside
        real_rename(src, dst)

    monkeypatch.setattr(export.os, "rename", killed_after_first)
    with pytest.raises(KeyboardInterrupt):
        export.export_dataset(dataset, "spikezoo", out, overwrite=True)
    monkeypatch.setattr(export.os, "rename", real_rename)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])   # leftovers of a dead writer
    dead.wait()
    for name in os.listdir(tmp_path):
        real_rename(tmp_path / name, tmp_path / name.replace(f"-{os.getpid()}.",
                                                              f"-{dead.pid}."))
    export.export_dataset(dataset, "spikezoo", out, limit=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["zoo"]

def test_cli_errors_are_one_line(dataset, tmp_path):
    from cli.spikesim_cli import main

    runner = CliRunner()
    ok = runner.invoke(main, ["export", str(dataset), str(tmp_path / "z"), "--to", "spikezoo",
                              "--json"])
    assert ok.exit_code == 0, ok.output
    for args in (["export", str(dataset), str(tmp_path / "z"), "--to", "spikezoo"],
                 ["export", str(tmp_path / "nowhere"), str(tmp_path / "y"), "--to", "npz"],
                 ["export", str(dataset), str(tmp_path / "y"), "--to", "zoo"]):
        bad = runner.invoke(main, args)
        assert bad.exit_code == 2, args
        assert bad.output.count("\n") == 1 and bad.output.startswith("Error:"), bad.output
    assert not (tmp_path / "y").exists()
    shutil.rmtree(tmp_path / "z")


def test_export_into_the_dataset_is_refused(dataset):
    """OUT inside DATASET would put a folder that is not a sample under samples/."""
    from cli.spikesim_cli import main
    from tests.cli_helpers import invoke, one_line_error

    before = sorted(p.name for p in (dataset / "samples").iterdir())
    res = invoke(main, "export", dataset, dataset / "samples" / "x", "--to", "npz")
    one_line_error(res, "OUT", "outside the dataset")
    assert sorted(p.name for p in (dataset / "samples").iterdir()) == before


def test_quiet_export_prints_only_what_it_wrote(dataset, tmp_path):
    from cli.spikesim_cli import main
    from tests.cli_helpers import invoke

    quiet = invoke(main, "export", dataset, tmp_path / "q", "--to", "npz", "--limit", 1, "-q")
    assert quiet.exit_code == 0 and quiet.output.strip() == f"wrote {tmp_path / 'q'}"
    silent = invoke(main, "export", dataset, tmp_path / "s", "--to", "npz", "--limit", 1,
                    "-qq")
    assert silent.exit_code == 0 and silent.output.strip() == ""
