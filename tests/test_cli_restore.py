"""``spikerestore run`` and ``spikerestore eval`` through click's CliRunner."""

import json

import numpy as np
import pytest

from tests.tolerances import tol
from click.testing import CliRunner

from cli.spikerestore_cli import main
from spikesim.stream import SpikeStream


@pytest.fixture()
def capture_npz(tmp_path):
    rng = np.random.default_rng(1)
    rates = np.linspace(0.05, 0.45, 32 * 24).reshape(24, 32)
    dense = (rng.random((100, 24, 32)) < rates).astype(np.uint8)
    path = tmp_path / "cap.npz"
    SpikeStream.from_dense(dense).save_npz(path)
    return path


def _run(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_run_capture_writes_linear_png_up_to_one_scale(capture_npz, tmp_path):
    import imageio.v3 as iio

    from restore.baselines import tfp

    out = tmp_path / "out.png"
    res = _run(["run", str(capture_npz), "-o", str(out), "--linear", "--method", "tfp"])
    assert res.exit_code == 0, res.output
    assert out.is_file() and (tmp_path / "out_linear.png").is_file()
    lin = iio.imread(tmp_path / "out_linear.png").astype(np.float64) / 65535
    lam = tfp(SpikeStream.load_npz(capture_npz)).astype(np.float64)
    expect = np.clip(lam / np.percentile(lam, 99.5), 0, 1)        # --exposure auto
    np.testing.assert_allclose(lin, expect, atol=1.0 / 65535)
    srgb = iio.imread(out)
    assert srgb.dtype == np.uint8 and srgb.shape == (24, 32)
    # refuses to clobber
    again = _run(["run", str(capture_npz), "-o", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.output


def test_run_sample_and_dataset(tiny_dataset, tmp_path):
    import imageio.v3 as iio

    from restore.exposure import to_display
    from restore.metrics import psnr
    from spikesim.dataset import load_sample

    sample_dir = tiny_dataset / "samples" / "000000"
    out = tmp_path / "s.png"
    res = _run(["run", str(sample_dir), "--method", "tfp+wiener", "-o", str(out), "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)[0]
    sample = load_sample(sample_dir)
    assert info["exposure"] == "camera" and info["sigma_source"] == "oracle"
    assert info["sigma"] == pytest.approx(float(sample.params["sigma_median"]))
    img = iio.imread(out).astype(np.float64) / 255
    assert psnr(img, to_display(sample.sharp)) > 10.0      # the right exposure scale
    outdir = tmp_path / "batch"
    res = _run(["run", str(tiny_dataset), "-o", str(outdir), "-q"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in outdir.iterdir()) == ["000000.png", "000001.png"]


def test_eval_writes_tables(tiny_dataset, tmp_path):
    out = tmp_path / "eval"
    res = _run(["eval", str(tiny_dataset), "--methods", "tfp,tfi,tfp+rl,tfp+wiener@est",
                "--windows", "full,32", "--calib-mode", "both", "-o", str(out), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["num_samples"] == 2
    labels = {r["method"] for r in summary["overall"]}
    assert labels == {"tfp", "tfi", "tfp+rl", "tfp+wiener@est", "tfp +cal", "tfi +cal",
                      "tfp+rl +cal", "tfp+wiener@est +cal"}
    assert {r["window"] for r in summary["overall"]} == {"full", "32"}
    assert all(5 < r["psnr"] < 60 and 0 < r["ssim"] <= 1 for r in summary["overall"])
    assert summary["best_cascade"]["method"] in labels
    for name in ("results.md", "results.csv", "results.json", "montage.png"):
        assert (out / name).is_file()
    csv_lines = (out / "results.csv").read_text().strip().splitlines()
    assert len(csv_lines) == 1 + 2 * 8 * 2          # header + samples × methods × windows
    assert "| tfp+rl +cal | full |" in (out / "results.md").read_text()

    # the table is the metrics of the restorations, recomputed here independently
    from restore.baselines import tfp
    from restore.evaluate import display_of, oracle_calibration
    from restore.exposure import to_display
    from restore.metrics import psnr, ssim
    from spikesim.dataset import iter_samples

    from restore.lpips import lpips_distance

    scores = {"tfp": [], "tfp +cal": []}
    for sample in iter_samples(tiny_dataset):
        target = to_display(sample.sharp)
        dead_time = float(sample.camera["dead_time"])
        calib = oracle_calibration(sample.camera, sample.illuminance * 0.5)
        for label, cal in (("tfp", None), ("tfp +cal", calib)):
            disp = display_of(tfp(sample.stream, sample.key_step, 192, dead_time=dead_time,
                                  calib=cal), sample)
            scores[label].append((psnr(disp, target), ssim(disp, target),
                                  lpips_distance(disp, target, net="alex")))
    for label, values in scores.items():
        row = next(r for r in summary["overall"]
                   if r["method"] == label and r["window"] == "full")
        for k, metric in enumerate(("psnr", "ssim")):
            assert row[metric] == pytest.approx(np.mean([v[k] for v in values]), abs=1e-9)
        # LPIPS is a float32 network, batched per sample in eval: equal up to float32
        # summation order
        np.testing.assert_allclose(row["lpips"], np.mean([v[2] for v in values]),
                                   **tol(np.float32))
    # LPIPS in every table: per row (csv), overall, by blur bin and side, with its note
    header = csv_lines[0].split(",")
    assert header[3:6] == ["psnr", "ssim", "lpips"]
    assert all(0 <= float(line.split(",")[5]) < 1.5 for line in csv_lines[1:])
    text = (out / "results.md").read_text()
    assert "| method | window | PSNR (dB) | SSIM | LPIPS | ms / image |" in text
    assert "PSNR / SSIM / LPIPS by blur bin" in text and "PSNR / SSIM / LPIPS by focus side" in text
    assert "replicated to three channels" in text
    assert all("lpips" in g for r in summary["by_blur"] + summary["by_side"]
               for g in r.values() if isinstance(g, dict))


def test_eval_without_lpips(tiny_dataset, tmp_path):
    """``--no-lpips`` leaves LPIPS out of the tables (and says so in the command), with
    the same PSNR and SSIM."""
    args = ["eval", str(tiny_dataset), "--methods", "tfp", "--json"]
    with_lpips = json.loads(_run(args).stdout)
    res = _run(args + ["--no-lpips", "-o", str(tmp_path / "e")])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["metrics"] == ["psnr", "ssim"] and "lpips" not in summary["overall"][0]
    assert summary["overall"][0]["psnr"] == with_lpips["overall"][0]["psnr"]
    assert summary["command"].endswith("--no-lpips")
    text = (tmp_path / "e" / "results.md").read_text()
    assert "LPIPS" not in text and "| method | window | PSNR (dB) | SSIM | ms / image |" in text


# --- bad input (issue item 5): each a clear error through the CLI ---------------------
def test_stream_shorter_than_the_window(capture_npz, tmp_path):
    res = _run(["run", str(capture_npz), "--window", "192", "-o", str(tmp_path / "a.png")])
    assert res.exit_code == 2
    assert "shorter than the window" in res.output and "100" in res.output


def test_key_step_outside_the_stream(capture_npz, tmp_path):
    res = _run(["run", str(capture_npz), "--center", "100", "-o", str(tmp_path / "a.png")])
    assert res.exit_code == 2 and "center" in res.output and "0..99" in res.output


@pytest.mark.parametrize("method", ["despike", "tfp", "tfi+rl"])
def test_calibration_of_the_wrong_resolution(capture_npz, tmp_path, method):
    from calibration.calfile import Calibration

    cal = tmp_path / "cal.npz"
    Calibration.identity(250, 400).save(cal)
    res = _run(["run", str(capture_npz), "--method", method, "--calib", str(cal),
                "-o", str(tmp_path / "a.png")])
    assert res.exit_code == 2
    assert "calibration" in res.output and "400x250" in res.output and "32x24" in res.output
    assert not (tmp_path / "a.png").exists()


def test_unknown_method_lists_the_valid_ones(capture_npz, tmp_path):
    res = _run(["run", str(capture_npz), "--method", "tfp+wienr", "-o", str(tmp_path / "a.png")])
    assert res.exit_code == 2
    assert "tfp+wiener" in res.output and "tfi+rl" in res.output and "despike" in res.output
    res = _run(["eval", str(tmp_path), "--methods", "tfp,sharpen"])
    assert res.exit_code == 2 and "one of despike, despike-x8, tfp" in res.output


def test_dataset_directory_without_manifest(tmp_path):
    empty = tmp_path / "notadataset"
    empty.mkdir()
    res = _run(["eval", str(empty)])
    assert res.exit_code == 2 and "manifest.yaml" in res.output
    res = _run(["run", str(empty), "-o", str(tmp_path / "o")])
    assert res.exit_code == 2 and "manifest.yaml" in res.output


def test_camera_exposure_needs_a_sample(capture_npz, tmp_path):
    res = _run(["run", str(capture_npz), "--exposure", "camera", "-o", str(tmp_path / "a.png")])
    assert res.exit_code == 2 and "--exposure auto" in res.output


def test_weights_option_of_run_and_eval(capture_npz, tiny_dataset, tmp_path):
    """--weights picks the network's weights file: the bundled file named explicitly gives
    the same image as the default; a file that is not weights is a clear error (exit 2);
    eval accepts it too and reports the network's rows."""
    from restore.despike.weights import bundled_weights_path

    default = tmp_path / "default.png"
    named = tmp_path / "named.png"
    assert _run(["run", str(capture_npz), "-o", str(default)]).exit_code == 0
    res = _run(["run", str(capture_npz), "--weights", str(bundled_weights_path()),
                "-o", str(named)])
    assert res.exit_code == 0, res.output
    assert named.read_bytes() == default.read_bytes()

    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    res = _run(["run", str(capture_npz), "--weights", str(junk), "-o", str(tmp_path / "x.png")])
    assert res.exit_code == 2 and "weights" in res.output and "junk.pt" in res.output
    res = _run(["run", str(capture_npz), "--method", "tfp", "--weights",     # was ignored
                str(bundled_weights_path()), "-o", str(tmp_path / "t.png")])
    assert res.exit_code == 2 and "--weights" in res.output and "not tfp" in res.output
    assert not (tmp_path / "t.png").exists()

    res = _run(["eval", str(tiny_dataset), "--methods", "despike,tfp", "--weights",
                str(bundled_weights_path()), "--json"])
    assert res.exit_code == 0, res.output
    assert {r["method"] for r in json.loads(res.stdout)["overall"]} == {"despike", "tfp"}


@pytest.mark.parametrize("item", ["tfp+gkmnet@est", "spk2imgnet+gkmnet@map", "despike@est",
                                  "tfp@est"])
def test_sigma_suffix_only_on_deconvolution_cascades(tmp_path, item):
    """A σ source means something only to +wiener/+rl (they are given σ): a network, a
    learned cascade included, or TFP/TFI alone refuses it in one line (exit 2)."""
    res = _run(["eval", str(tmp_path), "--methods", f"tfp,{item}"])
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
    assert item in res.output and f"write {item.partition('@')[0]} without" in res.output


def test_learned_cascades_take_no_sigma_source():
    """``tfp+gkmnet`` is a network: no σ mode (so no oracle σ is demanded of datasets whose
    blur is unknown), while tfp+rl keeps the oracle σ by default."""
    from restore.evaluate import parse_methods

    modes = {s.method: s.sigma_mode for s in parse_methods("tfp+gkmnet,spk2imgnet,tfp+rl")}
    assert modes == {"tfp+gkmnet": None, "spk2imgnet": None, "tfp+rl": "oracle"}


@pytest.mark.parametrize("methods,needle", [("tfp,tfp+rl", "a network among --methods"),
                                            ("despike,tfp+gkmnet",
                                             "not those of despike and tfp+gkmnet")])
def test_eval_weights_serve_exactly_one_network(tiny_dataset, tmp_path, methods, needle):
    """--weights is one network's file (despike and despike-x8 share one): refused in one
    line before any work when no method or two different networks would read it."""
    from restore.evaluate import check_weights_target, parse_methods

    check_weights_target(parse_methods("despike,despike-x8,tfp"), tmp_path / "w.pt")
    res = _run(["eval", str(tiny_dataset), "--methods", methods, "--weights",
                str(tmp_path / "w.pt"), "-o", str(tmp_path / "out")])
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
    assert needle in res.output and not (tmp_path / "out").exists()
