"""The paper's tables and montage of issue 20 (examples/cascade_tables.py,
examples/cascade_montage.py): the montage's choice rule reads the target only, and the
tables copy the evaluations' figures by window, blur bin and focus side."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from tests.cli_helpers import invoke

ROOT = Path(__file__).resolve().parents[1]


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


montage = _load("cascade_montage")
tables = _load("cascade_tables")


def test_crop_rule_picks_the_most_detailed_square_of_the_target():
    """A flat image with one textured 24-px patch: the 16-px crop lies inside the patch
    (on the 8-px grid), and the rule depends on the target alone."""
    rng = np.random.default_rng(0)
    target = np.full((64, 80), 0.5, np.float32)
    target[24:48, 40:64] = rng.random((24, 24))
    y, x = montage.choose_crop(target, 16)
    assert (y % 8, x % 8) == (0, 0)
    assert 24 <= y and y + 16 <= 48 and 40 <= x and x + 16 <= 64
    y, x = montage.choose_crop(target, 200)         # clipped to 64 px: holds the patch
    assert y == 0 and x <= 40 and x + 64 >= 64


def test_sample_rule_takes_the_lowest_id_of_each_blur_bin():
    entries = [{"id": i, "blur_bin": b} for i, b in
               [(5, "[0,1)"), (2, "[0,1)"), (7, "[2,4)"), (3, "[4,inf)"), (9, "[4,inf)")]]
    assert [e["id"] for e in montage.choose_samples(entries, 1)] == [2, 7, 3]
    assert [e["id"] for e in montage.choose_samples(entries, 2)] == [2, 5, 7, 3, 9]


@pytest.fixture(scope="module")
def evaluations(tmp_path_factory):
    """Two windows and two groups of methods of one tiny evaluation, laid out as
    evaluate_cascades.sh lays them out."""
    from cli.spikerestore_cli import main
    from spikesim.dataset import generate_dataset, load_dataset_config

    root = tmp_path_factory.mktemp("cascade_tables")
    data = root / "data"
    generate_dataset(load_dataset_config({"width": 48, "height": 32, "steps": 192, "num": 2,
                                          "seed": 5}), data, workers=1)
    results = root / "results"
    for window in ("full", "32"):
        for group, methods in (("classical", "tfp,tfp+rl"), ("other", "tfi")):
            res = invoke(main, "eval", data, "--methods", methods, "--windows", window,
                         "--calib-mode", "oracle", "--no-lpips", "--montage", "0",
                         "-o", results / "tiny" / "oracle" / window / group)
            assert res.exit_code == 0, res.output
    return results


def test_tables_copy_every_window_bin_and_side(evaluations):
    assert tables.main([str(evaluations)]) == 0
    text = (evaluations / "tables.md").read_text()
    def read(window, group):
        return json.loads((evaluations / "tiny/oracle" / window / group / "results.json")
                          .read_text())
    for window in ("full", "32"):
        assert f"by blur bin (median σ, px), calibration oracle, window {window}:" in text
        assert f"by focus side, calibration oracle, window {window}:" in text
        for group in ("classical", "other"):
            summary = read(window, group)
            for row in summary["overall"]:
                assert f"{row['psnr']:.2f} / {row['ssim']:.3f}" in text
            assert f"- `{summary['command']}`" in text
    header = next(ln for ln in text.splitlines() if ln.startswith("| method | full (192)"))
    assert header == "| method | full (192) | 32 steps |"
    rows = [ln.split("|")[1].strip() for ln in text.split("by window")[1].split("\n\n")[1]
            .splitlines()[2:]]
    assert rows == ["tfp +cal", "tfp+rl +cal", "tfi +cal"]      # the groups joined, in order
    best = max(read("full", "classical")["overall"] + read("full", "other")["overall"],
               key=lambda r: r["psnr"])
    assert f"| PSNR | {best['method']} ({best['psnr']:.2f})" in text


def test_tables_without_results_say_what_to_run(tmp_path):
    assert tables.main([str(tmp_path)]) == 2
