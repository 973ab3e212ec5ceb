"""The low-frequency anchor of the networks' calibrated outputs (restore/anchor.py)."""
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from restore import methods, settings
from restore.anchor import anchor_scale, lowfreq_anchor
from restore.baselines import resolve_window, tfp
from restore.evaluate import oracle_calibration
from spikesim.camera import Camera, CameraProfile


def _texture(shape=(64, 80), seed=0, grain=1.5):
    """A random texture around 0.3 with features of about ``grain`` px."""
    rng = np.random.default_rng(seed)
    field = gaussian_filter(rng.standard_normal(shape), grain)
    return (0.3 + 0.05 * field / field.std()).astype(np.float32)


def test_scale_follows_the_estimated_blur_with_a_floor():
    assert anchor_scale(0.0) == settings.ANCHOR_MIN_SCALE
    assert anchor_scale(-1.0) == settings.ANCHOR_MIN_SCALE
    assert anchor_scale(3.0) == pytest.approx(settings.ANCHOR_SCALE_PER_SIGMA * 3.0)
    assert anchor_scale(3.0, scale_per_sigma=2.0, min_scale=10.0) == 10.0


def _blur(x, sigma):
    """A Gaussian blur built apart from the code's: symmetric padding, a sampled 2-D kernel
    truncated at 4σ and normalised, an FFT convolution."""
    from scipy.signal import fftconvolve

    r = int(4.0 * sigma + 0.5)
    t = np.arange(-r, r + 1)
    k = np.exp(-(t[:, None] ** 2 + t[None, :] ** 2) / (2 * sigma ** 2))
    return fftconvolve(np.pad(np.asarray(x, np.float64), r, mode="symmetric"), k / k.sum(),
                       mode="valid")


def test_agreeing_estimates_are_left_alone():
    """A network output that is the scene exactly, compared through the capture's blur
    with a reference that is that scene blurred, is unchanged (and without a blur, an
    output equal to the reference); without the re-blur the anchor would pull part of the
    blur back into the output."""
    x = _texture(grain=4.0)
    np.testing.assert_allclose(lowfreq_anchor(x, x, 4.0), x, atol=1e-7)
    blurred = _blur(x, 3.0)
    kept = np.abs(lowfreq_anchor(x, blurred, 6.0, blur=3.0) - x).max()
    pulled = np.abs(lowfreq_anchor(x, blurred, 6.0) - x).max()
    assert kept < 1e-5 and pulled > 3e-3, (kept, pulled)


def test_a_smooth_tone_error_is_taken_away_and_the_mean_is_the_references():
    """A network output = truth + a tone drift far broader than the scale: the anchor
    returns the truth (the drift lives below the low-pass), with or without a blur between
    them; the image mean is exactly the reference's (a reflecting Gaussian keeps the sum)."""
    x = _texture()
    yy, xx = np.mgrid[0:64, 0:80]
    drift = 0.01 + 0.004 * np.exp(-((yy - 20) ** 2 + (xx - 50) ** 2) / (2 * 60.0 ** 2))
    out = lowfreq_anchor(x + drift, x, 4.0)
    assert np.abs(out - x).max() < 0.03 * drift.min()
    out_b = lowfreq_anchor(x + drift, _blur(x, 1.0), 4.0, blur=1.0)
    assert np.abs(out_b - x).max() < 0.03 * drift.min()
    np.testing.assert_allclose(out.mean(), x.mean(), rtol=1e-6)


def test_detail_above_the_scale_is_the_networks():
    """The reference lacks a fine pattern the network restored (a 2-px checkerboard):
    the anchor keeps it (a Gaussian of σ 2 passes exp(-2π² σ² f²) ≈ 5e-9 of it) away
    from the borders, where the reflection breaks the pattern's alternation."""
    x = _texture()
    yy, xx = np.mgrid[0:64, 0:80]
    pattern = 0.05 * np.where((yy + xx) % 2 == 0, 1.0, -1.0)
    out = lowfreq_anchor(x + pattern, x, 2.0)
    err = np.abs(out - (x + pattern))
    assert err[8:-8, 8:-8].max() < 1e-3 * 0.05
    assert err.max() < 0.1 * 0.05
    with pytest.raises(ValueError, match="differ in shape"):
        lowfreq_anchor(x, x[:-1], 2.0)


def _fpn_capture():
    profile = CameraProfile(width=48, height=40)
    camera = Camera(profile, 3)
    scene = 150.0 + 250.0 * np.linspace(0, 1, 48, dtype=np.float32)[None, :].repeat(40, 0)
    stream = camera.capture(scene.astype(np.float32), 200, 5)
    return stream, oracle_calibration(camera.truth_arrays(), 300.0)


def test_restore_anchors_networks_only_with_a_measured_calibration():
    """Through the registry: a calibrated network output is the anchor of the raw one to
    the calibrated TFP through the estimated blur, at its scale (recorded); uncalibrated (None or an
    identity calibration) or with ``anchor=False`` it is the raw output; the classical
    methods are never touched; the default is settings.ANCHOR_DEFAULT."""
    from calibration.calfile import Calibration
    from restore.sigma_estimate import estimate_sigma

    if not methods.despike_available():
        pytest.skip("no bundled DeSpike weights in this checkout")
    stream, cal = _fpn_capture()
    raw = methods.restore(stream, "despike", calib=cal, anchor=False)
    anchored = methods.restore(stream, "despike", calib=cal, anchor=True)
    assert raw.anchor_scale is None
    default = methods.restore(stream, "despike", calib=cal)
    assert (default.anchor_scale is not None) == settings.ANCHOR_DEFAULT
    win = resolve_window(len(stream), None)
    ref = tfp(stream, win.center, win.length, calib=cal)
    scale = anchor_scale(estimate_sigma(ref))
    assert anchored.anchor_scale == pytest.approx(scale)
    np.testing.assert_allclose(anchored.lam,
                               lowfreq_anchor(raw.lam, ref, scale, blur=estimate_sigma(ref)),
                               atol=1e-6)
    assert np.abs(anchored.lam - raw.lam).max() > 1e-5
    identity = Calibration.identity(40, 48)
    for calib in (None, identity):
        a = methods.restore(stream, "despike", calib=calib, anchor=True)
        b = methods.restore(stream, "despike", calib=calib, anchor=False)
        assert a.anchor_scale is None
        np.testing.assert_array_equal(a.lam, b.lam)
    # a short window at the stream's end: the reference is the tfp method's own output
    short = methods.restore(stream, "despike", calib=cal, window=64, center=190, anchor=False)
    ref64 = methods.restore(stream, "tfp", calib=cal, window=64, center=190).lam
    short_a = methods.restore(stream, "despike", calib=cal, window=64, center=190, anchor=True)
    np.testing.assert_allclose(
        short_a.lam, lowfreq_anchor(short.lam, ref64, anchor_scale(estimate_sigma(ref64)),
                                    blur=estimate_sigma(ref64)), atol=1e-6)
    assert short_a.anchor_sigma == pytest.approx(estimate_sigma(ref64))
    for name in ("tfp", "tfp+rl"):
        a = methods.restore(stream, name, calib=cal, sigma=1.0, anchor=True)
        b = methods.restore(stream, name, calib=cal, sigma=1.0, anchor=False)
        np.testing.assert_array_equal(a.lam, b.lam)


def test_eval_anchor_option_changes_the_networks_calibrated_rows_only(tiny_dataset, tmp_path):
    """``spikerestore eval --anchor``: calibrated network rows change, everything else is
    the same; the command line and results.md say the anchor was on."""
    import json

    from cli.spikerestore_cli import main
    from tests.cli_helpers import invoke

    if not methods.despike_available():
        pytest.skip("no bundled DeSpike weights in this checkout")
    args = ["eval", tiny_dataset, "--methods", "despike,tfp", "--calib-mode", "both",
            "--no-lpips", "--json"]
    plain = json.loads(invoke(main, *args, "--no-anchor").stdout)
    res = invoke(main, *args, "--anchor", "-o", tmp_path / "e")
    assert res.exit_code == 0, res.output
    anchored = json.loads(res.stdout)
    assert anchored["command"].endswith("--anchor") and anchored["anchor"] is True
    assert "Low-frequency anchor: on" in (tmp_path / "e" / "results.md").read_text()
    rows = {r["method"]: r["psnr"] for r in plain["overall"]}
    rows_a = {r["method"]: r["psnr"] for r in anchored["overall"]}
    assert set(rows) == {"despike", "despike +cal", "tfp", "tfp +cal"} == set(rows_a)
    for name in ("despike", "tfp", "tfp +cal"):
        assert rows_a[name] == rows[name], name
    assert rows_a["despike +cal"] != rows["despike +cal"]


@pytest.fixture()
def capture_and_cal(tmp_path):
    from calibration.calfile import Calibration
    from spikesim.stream import SpikeStream

    rng = np.random.default_rng(1)
    cap = tmp_path / "cap.npz"
    SpikeStream.from_dense((rng.random((300, 24, 32)) < 0.2).astype(np.uint8)).save_npz(cap)
    cal = Calibration.identity(24, 32)
    cal.meta["method"] = "oracle"            # a measured calibration of this size
    cal.save(tmp_path / "cal.npz")
    return cap, tmp_path / "cal.npz"


@pytest.mark.parametrize("extra, words", [
    (["--method", "tfp+rl"], ["--method", "tfp+rl", "network method for --anchor"]),
    (["--no-calib"], ["--calib", "none given", "add --calib"]),
])
def test_run_refuses_the_anchor_where_it_cannot_act(capture_and_cal, tmp_path, extra, words):
    """One line instead of a silent no-op: classical methods, no calibration."""
    from cli.spikerestore_cli import main
    from tests.cli_helpers import invoke, one_line_error

    cap, cal = capture_and_cal
    calib = [] if "--no-calib" in extra else ["--calib", cal]
    extra = [e for e in extra if e != "--no-calib"]
    out = tmp_path / "out.png"
    res = invoke(main, "run", cap, *calib, *extra, "--anchor", "-o", out)
    one_line_error(res, *words)
    assert not out.exists()


def test_run_reports_the_anchor(capture_and_cal, tmp_path):
    import json

    from cli.spikerestore_cli import main
    from tests.cli_helpers import invoke

    if not methods.despike_available():
        pytest.skip("no bundled DeSpike weights in this checkout")
    cap, cal = capture_and_cal
    res = invoke(main, "run", cap, "--calib", cal, "--anchor", "--json", "-o", tmp_path / "a.png")
    assert res.exit_code == 0, res.output
    (row,) = json.loads(res.stdout)
    from calibration.calfile import load_calibration
    from restore.sigma_estimate import estimate_sigma
    from spikesim.stream import SpikeStream

    stream = SpikeStream.open(cap)
    win = resolve_window(len(stream), None)
    sig = estimate_sigma(tfp(stream, win.center, win.length, calib=load_calibration(cal)))
    assert row["anchor_sigma"] == pytest.approx(sig, rel=1e-6)
    assert row["anchor_scale"] == pytest.approx(anchor_scale(sig), rel=1e-6)
    res = invoke(main, "run", cap, "--calib", cal, "--no-anchor", "--json", "-o", tmp_path / "b.png")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)[0]["anchor_scale"] is None


def test_run_refuses_the_anchor_with_an_identity_calibration(capture_and_cal, tmp_path):
    from calibration.calfile import Calibration
    from cli.spikerestore_cli import main
    from tests.cli_helpers import invoke, one_line_error

    cap, _ = capture_and_cal
    Calibration.identity(24, 32).save(tmp_path / "identity.npz")
    res = invoke(main, "run", cap, "--calib", tmp_path / "identity.npz", "--anchor",
                 "-o", tmp_path / "x.png")
    one_line_error(res, "--calib", "identity.npz", "measured calibration", "spikecal fit")


@pytest.mark.parametrize("extra, words", [
    (["--methods", "tfp,tfp+rl", "--calib-mode", "both"], ["--methods", "network method"]),
    (["--methods", "despike", "--calib-mode", "off"], ["--calib-mode", "off", "oracle or both"]),
])
def test_eval_refuses_an_anchor_that_would_change_nothing(tiny_dataset, tmp_path, extra, words):
    from cli.spikerestore_cli import main
    from tests.cli_helpers import invoke, one_line_error

    res = invoke(main, "eval", tiny_dataset, *extra, "--anchor", "--no-lpips",
                 "-o", tmp_path / "e")
    one_line_error(res, *words)
    assert not (tmp_path / "e").exists()


@pytest.mark.parametrize("batch", [1, 2])
def test_sequence_frames_are_anchored_as_single_frames(batch):
    """``run --every``'s frames: frame k is the single-frame anchored restoration at its key
    step (bit for bit one frame per pass; within float32 rounding of batched convolutions
    with ``batch`` 2), including a key step whose window is shifted at the stream's end."""
    from restore.sequence import restore_frames

    if not methods.despike_available():
        pytest.skip("no bundled DeSpike weights in this checkout")
    stream, cal = _fpn_capture()
    steps = [96, 150, 199]
    frames = list(restore_frames(stream, steps, "despike", calib=cal, batch=batch, anchor=True))
    for frame, step in zip(frames, steps):
        single = methods.restore(stream, "despike", calib=cal, center=step, anchor=True)
        if batch == 1:
            np.testing.assert_array_equal(frame.lam, single.lam)
        else:
            np.testing.assert_allclose(frame.lam, single.lam, rtol=1e-4, atol=1e-5)
        plain = methods.restore(stream, "despike", calib=cal, center=step, anchor=False)
        assert np.abs(frame.lam - plain.lam).max() > 1e-5
