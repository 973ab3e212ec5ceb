"""``spikerestore run --every`` (restore.sequence, restore.video) and the sequence evaluation.

The contract under test: frame ``k`` of a sequence is the single-frame restoration at key
step ``S + k N`` (bit for bit), every output kind holds the right number of frames, bad
input is one line with exit 2 and leaves nothing under the final name.
"""

import json

import imageio.v3 as iio
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from cli.spikerestore_cli import main as restore_main
from cli.spikesim_cli import main as sim_main
from restore import sequence
from restore.sequence import RunningCounts, key_steps
from spikesim.errors import InputError
from spikesim.stream import SpikeStream

W, H, STEPS, EVERY = 64, 48, 480, 96


def _run(main, args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A focus-sweep render capture with its truth every 48 steps."""
    d = tmp_path_factory.mktemp("sweep")
    cam = d / "cam.yaml"
    cam.write_text(yaml.safe_dump({"width": W, "height": H}))
    res = _run(sim_main, ["render", "scene:dead_leaves", "--camera", cam, "--steps", STEPS,
                          "--focus-sweep", "0.8,3", "--truth-every", 48, "-o", d / "cap"])
    assert res.exit_code == 0, res.output
    return d / "cap"


def _frames(directory):
    return sorted(p for p in directory.glob("frame_*.png") if "_linear" not in p.name)


# ------------------------------------------------------------------------ key steps
def test_key_steps_default_to_the_windows_that_fit():
    steps = key_steps(1000, 64)
    assert steps[0] == 96 and steps[-1] <= 1000 - 192 + 96 and steps[1] - steps[0] == 64
    assert key_steps(1000, 64, window=64)[0] == 32
    assert key_steps(100, 10) == [50]                  # shorter than the window: the middle
    assert key_steps(1000, 300, start=0, stop=1000) == [0, 300, 600, 900]


@pytest.mark.parametrize("every, start, stop, param", [
    (0, None, None, "--every"), (-3, None, None, "--every"), (10, 1000, None, "--start"),
    (10, -1, None, "--start"), (10, None, 1001, "--stop"), (10, 500, 500, "--stop")])
def test_key_steps_refuse_ranges_outside_the_stream(every, start, stop, param):
    with pytest.raises(InputError, match=param):
        key_steps(1000, every, start, stop)


@pytest.mark.parametrize("chunk_bytes", [1 << 21, 17 * 8 * 5])   # one chunk; 5 frames each
def test_running_counts_equal_the_streams_counts(tmp_path, monkeypatch, chunk_bytes):
    """Exact counts of a file-backed stream whose rows are flipped and not whole bytes
    (17 px), counted in one chunk or in chunks of 5 frames; the kept edges stay few."""
    monkeypatch.setattr(sequence, "NUMPY_COUNT_CHUNK_BYTES", chunk_bytes)
    rng = np.random.default_rng(4)
    dense = (rng.random((700, 8, 17)) < 0.3).astype(np.uint8)
    path = tmp_path / "s.dat"
    SpikeStream.from_dense(dense).write_dat(path)
    stream = SpikeStream.read_dat(path)                 # file-backed: chunked counting
    shared = RunningCounts(stream)
    for c in range(0, 700, 53):                          # overlapping windows, increasing
        for half in (32, 48, 96):
            a, b = max(c - half, 0), min(c + half, 700)
            np.testing.assert_array_equal(shared.counts(a, b), dense[a:b].sum(0))
        shared.release_before(c + 53 - 96)
        assert len(shared._edges) <= 16                  # bounded: only the live edges
    np.testing.assert_array_equal(shared.counts(5, 9), dense[5:9].sum(0))   # before anchor


def test_running_counts_keep_only_the_next_windows_bases():
    """192-step windows every 64 steps: between frames only the two cumulative frames
    the next window is counted from are kept, three while a window is counted (five
    before: every edge above the next start stayed)."""
    dense = (np.random.default_rng(5).random((1200, 4, 8)) < 0.3).astype(np.uint8)
    shared = RunningCounts(SpikeStream.from_dense(dense))
    counting, between = [], []
    for key in range(96, 1200 - 96, 64):
        np.testing.assert_array_equal(shared.counts(key - 96, key + 96),
                                      dense[key - 96:key + 96].sum(0))
        counting.append(len(shared._cum))
        shared.keep_bases((key + 64 - 96, key + 64 + 96))
        between.append(len(shared._cum))
    assert max(counting) == 3 and max(between) == 2 and len(counting) > 10


# ------------------------------------------------------------------------ frame = single
@pytest.mark.parametrize("method", ["tfp", "tfp+rl", "despike"])
def test_frame_k_is_the_single_frame_restoration(sweep, tmp_path, method):
    out = tmp_path / "seq"
    res = _run(restore_main, ["run", sweep / "capture.dat", "--every", EVERY, "--method",
                              method, "--exposure", "camera", "--linear", "-o", out, "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    steps = [f["step"] for f in info["frames"]]
    assert steps == key_steps(STEPS, EVERY) and len(_frames(out)) == len(steps)
    for k in (0, len(steps) - 1):
        single = tmp_path / f"one{k}.png"
        r = _run(restore_main, ["run", sweep / "capture.dat", "--center", steps[k], "--method",
                                method, "--exposure", "camera", "--linear", "-o", single])
        assert r.exit_code == 0, r.output
        np.testing.assert_array_equal(iio.imread(out / f"frame_{k:06d}.png"),
                                      iio.imread(single))
        np.testing.assert_array_equal(iio.imread(out / f"frame_{k:06d}_linear.png"),
                                      iio.imread(tmp_path / f"one{k}_linear.png"))


def test_batched_network_frames_equal_single_frames_to_rounding(sweep):
    from restore.sequence import restore_frames
    from tests.tolerances import tol

    stream = SpikeStream.read_dat(sweep / "capture.dat")
    steps = key_steps(STEPS, EVERY)[:3]
    one = list(restore_frames(stream, steps, "despike", dead_time=1.0))
    batched = list(restore_frames(stream, steps, "despike", dead_time=1.0, batch=2))
    assert [f.step for f in batched] == steps and [f.window for f in batched] == \
        [f.window for f in one]
    for a, b in zip(one, batched):
        np.testing.assert_allclose(b.lam, a.lam, **tol(np.float32))
    with pytest.raises(InputError, match="--batch"):
        next(restore_frames(stream, steps, "despike", batch=0))


def test_auto_exposure_is_decided_once_for_the_sequence(sweep, tmp_path):
    from restore.exposure import auto_scale
    from restore.methods import restore

    res = _run(restore_main, ["run", sweep / "capture.dat", "--every", EVERY, "--method", "tfp",
                              "-o", tmp_path / "seq", "--json", "-q"])
    info = json.loads(res.output)
    stream = SpikeStream.read_dat(sweep / "capture.dat")
    first = restore(stream, "tfp", center=info["frames"][0]["step"]).lam
    assert info["exposure"] == "auto" and info["scale"] == auto_scale(first)


def test_sequence_of_a_dataset_sample(tmp_path):
    from restore.run import run_sample, run_sequence
    from spikesim.dataset import generate_dataset, load_dataset_config

    data = tmp_path / "data"
    generate_dataset(load_dataset_config({"width": 32, "height": 24, "steps": 300, "num": 1,
                                          "seed": 3}), data, workers=1)
    sample = next((data / "samples").iterdir())
    seq = run_sequence(sample, tmp_path / "seq", every=50, method="tfp+wiener")
    assert seq.exposure == "camera" and seq.frames[0]["sigma_source"] == "oracle"
    one = run_sample(sample, tmp_path / "one.png", method="tfp+wiener",
                     center=seq.frames[1]["step"])
    np.testing.assert_array_equal(iio.imread(seq.frames[1]["files"][0]),
                                  iio.imread(one.output))


# ------------------------------------------------------------------------ videos
def test_gif_and_mp4_hold_every_frame(sweep, tmp_path):
    pytest.importorskip("imageio_ffmpeg", reason="the optional extra 'video' is not installed")
    args = ["run", sweep / "capture.dat", "--every", EVERY, "--method", "tfp", "-q"]
    assert _run(restore_main, args + ["-o", tmp_path / "pngs"]).exit_code == 0
    n = len(key_steps(STEPS, EVERY))
    gif = tmp_path / "s.gif"
    res = _run(restore_main, args + ["-o", gif])
    assert res.exit_code == 0 and res.output == f"wrote {gif}\n"           # -q: one line
    frames = iio.imread(gif, index=None)
    assert frames.shape == (n, H, W)
    np.testing.assert_array_equal(frames[2], iio.imread(tmp_path / "pngs" / "frame_000002.png"))
    mp4 = tmp_path / "s.mp4"
    assert _run(restore_main, args + ["-o", mp4]).exit_code == 0
    video = iio.imread(mp4, index=None, plugin="FFMPEG")
    assert video.shape[:3] == (n, H, W)
    png = iio.imread(tmp_path / "pngs" / "frame_000002.png").astype(float)
    assert np.abs(video[2, ..., 0].astype(float) - png).mean() < 3.0    # H.264, near lossless
    assert not list(tmp_path.glob(".*part*"))


def test_quiet_single_frame_says_only_what_it_wrote(sweep, tmp_path):
    """-q: one line naming the PNG; -qq: nothing (as --every and the other commands)."""
    args = ["run", sweep / "capture.dat", "--method", "tfp", "--center", 200]
    res = _run(restore_main, args + ["-o", tmp_path / "a.png", "-q"])
    assert res.exit_code == 0 and res.output == f"wrote {tmp_path / 'a.png'}\n"
    res = _run(restore_main, args + ["-o", tmp_path / "b.png", "-qq"])
    assert res.exit_code == 0 and res.output == "" and (tmp_path / "b.png").is_file()


def test_gif_writer_keeps_no_frame(tmp_path):
    """Frames go to the file as they come: with the cyclic GC off, 40 noisy 120x90
    frames leave under a quarter of their encoded bytes behind (Pillow's encoder class
    made per call, about 2 KB each until the GC runs). Pillow returned each frame's
    bytes in a list that only the cyclic GC freed: all of them stayed (0.67 MB here)."""
    import gc
    import tracemalloc

    from restore.video import sequence_writer

    rng = np.random.default_rng(0)
    frames = [rng.random((90, 120)) for _ in range(41)]
    gc.collect()
    gc.disable()
    tracemalloc.start()
    try:
        with sequence_writer(tmp_path / "s.gif", fps=10) as writer:
            writer.write(frames[0], None)
            before = tracemalloc.get_traced_memory()[0]
            for frame in frames[1:]:
                writer.write(frame, None)
            grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        gc.enable()
    written = (tmp_path / "s.gif").stat().st_size
    assert grown < written / 4, (grown, written)
    assert iio.imread(tmp_path / "s.gif", index=None).shape == (41, 90, 120)


# ------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("extra, param", [
    (["--every", 0, "-o", "x.mp4"], "--every"),
    (["--every", 50, "--start", STEPS, "-o", "x.gif"], "--start"),
    (["--every", 50, "--stop", STEPS + 1, "-o", "x.gif"], "--stop"),
    (["--every", 50, "-o", "x.avi"], "-o"),
    (["--every", 50, "-o", "x.png"], "-o"),
    (["--every", 50, "--center", 100, "-o", "x.gif"], "--center"),
    (["--every", 50, "--linear", "-o", "x.gif"], "--linear"),
    (["--every", 50, "--fps", 1e-9, "-o", "x.gif"], "--fps"),       # GIF delay overflowed
    (["--every", 50, "--fps", 500, "-o", "x.gif"], "--fps"),        # GIF delay 0 cs
    (["--every", 50, "--fps", 1e-9, "-o", "x.mp4"], "--fps"),       # ffmpeg got "0.00"
    (["--every", 50, "--fps", 0, "-o", "frames"], "--fps")])
def test_bad_sequence_input_is_one_line(sweep, tmp_path, monkeypatch, extra, param):
    monkeypatch.chdir(tmp_path)
    res = _run(restore_main, ["run", sweep / "capture.dat", "--method", "tfp", *extra])
    assert res.exit_code == 2, res.output
    assert len(res.output.strip().splitlines()) == 1 and param in res.output
    assert list(tmp_path.iterdir()) == []                 # nothing written


def test_png_directory_holds_one_sequence(sweep, tmp_path):
    """A shorter sequence into a directory of a longer one left the old frames after the
    new: a mixed sequence. They are refused, and removed with --overwrite."""
    out = tmp_path / "frames"
    args = ["run", sweep / "capture.dat", "--method", "tfp", "-q", "-o", out]
    assert _run(restore_main, args + ["--every", EVERY // 2, "--linear"]).exit_code == 0
    before = sorted(p.name for p in out.iterdir())
    res = _run(restore_main, args + ["--every", EVERY])
    assert res.exit_code == 2 and "--overwrite" in res.output
    assert sorted(p.name for p in out.iterdir()) == before           # nothing touched
    assert _run(restore_main, args + ["--every", EVERY, "--overwrite"]).exit_code == 0
    n = len(key_steps(STEPS, EVERY))
    assert sorted(p.name for p in out.iterdir()) == [f"frame_{i:06d}.png" for i in range(n)]


def test_missing_ffmpeg_plugin_names_the_extra(sweep, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)     # import fails
    res = _run(restore_main, ["run", sweep / "capture.dat", "--every", 50, "--method", "tfp",
                              "-o", tmp_path / "x.mp4"])
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1
    assert "'video'" in res.output and "pip install 'spike-defocus[video]'" in res.output
    assert list(tmp_path.iterdir()) == []


def test_failure_midway_leaves_nothing_under_the_final_name(sweep, tmp_path, monkeypatch):
    import restore.sequence as seq

    real = seq.restore_frames

    def failing(*args, **kwargs):
        for frame in real(*args, **kwargs):
            if frame.index == 2:
                raise InputError("test", "frame 2", "no failure", "none")
            yield frame

    monkeypatch.setattr(seq, "restore_frames", failing)
    res = _run(restore_main, ["run", sweep / "capture.dat", "--every", 50, "--method", "tfp",
                              "-o", tmp_path / "x.gif"])
    assert res.exit_code == 2
    assert list(tmp_path.iterdir()) == []                 # no x.gif, no temporary file


def test_every_refuses_a_whole_dataset(tmp_path):
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "manifest.yaml").write_text("samples: []\n")
    res = _run(restore_main, ["run", tmp_path / "ds", "--every", 50, "-o", tmp_path / "o.gif"])
    assert res.exit_code == 2 and "--every" in res.output


# ------------------------------------------------------------------------ exposure, eval
def test_camera_exposure_of_a_render_capture(sweep, tmp_path):
    info = yaml.safe_load((sweep / "render.yaml").read_text())
    res = _run(restore_main, ["run", sweep / "capture.dat", "--method", "tfp", "--exposure",
                              "camera", "-o", tmp_path / "a.png", "--json"])
    assert res.exit_code == 0, res.output
    scale = json.loads(res.output)[0]["scale"]
    assert scale == pytest.approx(1.0 / (info["camera"]["k"] * info["illuminance_lux"]))


def test_temporal_flicker_measures_the_change_of_the_error():
    from restore.evaluate_sequence import temporal_flicker

    steady = np.full((5, 4, 4), 0.3)                      # a constant error: no flicker
    assert temporal_flicker(steady) == 0.0
    jitter = np.stack([np.full((4, 4), 0.1 * (-1) ** k) for k in range(5)])
    assert temporal_flicker(jitter) == pytest.approx(0.2)
    assert np.isnan(temporal_flicker(steady[:1]))


def test_eval_of_a_sequence_reports_per_frame_metrics_and_flicker(sweep, tmp_path):
    from restore.evaluate_sequence import frames_in_range
    from spikesim.sequence_truth import read_sequence_truth

    res = _run(restore_main, ["eval", sweep, "--methods", "tfp,tfp+rl", "--no-lpips", "--json",
                              "-o", tmp_path / "r"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    truth = read_sequence_truth(sweep / "sequence_truth.npz")
    n = len(frames_in_range(truth["steps"], STEPS))
    assert summary["frames_evaluated"] == n and len(summary["frames"]) == 2 * n
    assert all(96 <= s <= STEPS - 96 for s in summary["steps"])
    for row in summary["overall"]:
        assert 10 < row["psnr"] < 60 and 0 < row["flicker"] < 0.2
    assert (tmp_path / "r" / "sequence_results.md").is_file()


def test_bench_sequence_measures_the_commands_own_peak_memory():
    """bench/bench_sequence.py reports a command's peak RSS as ``/usr/bin/time -v`` does,
    not the size of the process that started it: from a parent holding 400 MB more, a
    ``spikerestore --version`` stays far below it (the bench once read ``ru_maxrss`` of
    RUSAGE_SELF in the command, which Linux carries across exec from the parent, and
    reported 2.5 GB for an 0.8 GB single frame)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "bench_sequence", Path(__file__).resolve().parents[1] / "bench" / "bench_sequence.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    ballast = np.ones(400 << 17)                 # 400 MB resident (float64 ones)
    wall, peak_mb, cpu_s = bench.command(["--version"])
    assert float(ballast[-1]) == 1.0
    assert 5 < peak_mb < 150, peak_mb
    assert 0 < cpu_s < 20, cpu_s                  # the child's CPU time, not this process's


@pytest.mark.parametrize("option", [["--lpips"], ["--no-reference"], ["--limit", "2"],
                                    ["--montage", "2"]])
def test_eval_of_a_sequence_refuses_dataset_options(sweep, tmp_path, option):
    """Options only a dataset's evaluation honours are refused, not silently ignored."""
    from tests.cli_helpers import one_line_error

    res = _run(restore_main, ["eval", sweep, "--methods", "tfp", *option,
                              "-o", tmp_path / "r"])
    one_line_error(res, option[0], "render capture")
    assert not (tmp_path / "r").exists()
