"""TFP and TFI (restore.baselines): the issue's item 1, the kernel/reference agreement,
and the window convention."""

import numpy as np
import pytest

from restore import baselines
from restore.baselines import rate_to_lambda, resolve_window, tfi, tfi_rate, tfp
from restore.evaluate import oracle_calibration
from spikesim.camera import Camera
from spikesim.config import CameraProfile
from spikesim.errors import InputError
from spikesim.sensor import simulate_spikes
from spikesim.stream import SpikeStream
from tests.naive import tfi_rate_reference

LAMBDAS = np.linspace(0.05, 0.9, 24, dtype=np.float32)


def _ramp(h=4):
    return np.tile(LAMBDAS, (h, 1))          # (4, 24): one constant λ per column


@pytest.mark.parametrize("dead_time", [0, 1])
@pytest.mark.parametrize("window", [192, 64])
def test_tfp_reproduces_constant_input_within_window_quantisation(dead_time, window):
    """A window of w steps holds w r spikes ± 1 (STYLE.md invariant), so
    r̂ ∈ [r − 1/w, r + 1/w] and λ̂ lies between the inversions of those bounds."""
    stream = simulate_spikes(_ramp(), 400, dead_time=dead_time, seed=3)
    lam = tfp(stream, 200, window, dead_time=dead_time)
    r = LAMBDAS / (1 + dead_time * LAMBDAS)
    lo = rate_to_lambda(np.clip(r - 1.0 / window, 0, None), dead_time)
    hi = rate_to_lambda(r + 1.0 / window, dead_time)
    assert np.all(lam >= lo[None, :] - 1e-6) and np.all(lam <= hi[None, :] + 1e-6)
    # and it is unbiased on average over the rows' random phases
    np.testing.assert_allclose(lam.mean(axis=0), LAMBDAS, rtol=0.1, atol=0.01)


@pytest.mark.parametrize("dead_time", [0, 1])
def test_tfi_reproduces_constant_input_within_interval_quantisation(dead_time):
    """Noise-free IF intervals are floor or ceil of the period P = δ + 1/λ, so
    λ̂ = 1/(Δ − δ) lies in [1/(ceil(P) − δ), 1/(floor(P) − δ)]."""
    stream = simulate_spikes(_ramp(), 300, dead_time=dead_time, seed=5)
    lam = tfi(stream, 150, 192, dead_time=dead_time)
    period = dead_time + 1.0 / LAMBDAS.astype(np.float64)
    lo = 1.0 / (np.ceil(period) - dead_time)
    hi = 1.0 / np.maximum(np.floor(period) - dead_time, 1e-9)
    assert np.all(lam >= lo[None, :] * (1 - 1e-5)) and np.all(lam <= hi[None, :] * (1 + 1e-5))


def test_tfi_kernel_agrees_with_reference_bit_for_bit():
    rng = np.random.default_rng(0)
    dense = (rng.random((50, 12, 16)) < rng.uniform(0.01, 0.5, (12, 16))).astype(np.uint8)
    stream = SpikeStream.from_dense(dense)
    for center, window in ((25, 40), (3, 10), (49, 16), (10, 50)):
        win = resolve_window(50, center, window)
        fast = tfi_rate(stream, win)
        slow = tfi_rate_reference(dense[win.start:win.stop], win.center - win.start)
        np.testing.assert_array_equal(fast, slow)


def test_tfi_fast_path_ran():
    stream = SpikeStream.from_dense(np.ones((8, 2, 4), np.uint8))
    tfi_rate(stream, resolve_window(8, 4, 8))
    from restore import _tfi_kernels

    assert _tfi_kernels._tfi_rate_kernel.signatures, "the compiled TFI kernel was not used"


def test_pixel_without_spikes_gets_zero_and_sparse_pixel_gets_tfp():
    dense = np.zeros((64, 1, 8), np.uint8)
    dense[10, 0, 1] = 1                        # one spike only: TFP fallback 1/64
    dense[5::20, 0, 2] = 1                     # spikes at 5, 25, 45: interval 20 brackets 32
    stream = SpikeStream.from_dense(dense)
    r = tfi_rate(stream, resolve_window(64, 32, 64))
    assert r[0, 0] == 0.0 and r[0, 1] == 1.0 / 64 and r[0, 2] == 1.0 / 20
    assert tfp(stream, 32, 64, dead_time=0)[0, 0] == 0.0


def test_window_convention_and_shift():
    w = resolve_window(256, 128, 64)
    assert (w.start, w.stop) == (128 - 32, 128 - 32 + 64)
    w = resolve_window(256, 5, 64)           # crosses the start: shifted, same length
    assert (w.start, w.stop, w.center) == (0, 64, 5)
    w = resolve_window(100)                   # default 192 clipped to the stream
    assert (w.start, w.stop, w.clipped) == (0, 100, True)


def test_bad_windows_and_key_steps():
    with pytest.raises(InputError, match="shorter than the window"):
        resolve_window(100, 50, 192)
    with pytest.raises(InputError, match="center"):
        resolve_window(100, 100)
    with pytest.raises(InputError, match="center"):
        resolve_window(100, -1)


def _nonuniformity(img, good):
    v = img[good]
    return float(v.std() / v.mean())


def test_calibrated_tfp_lowers_residual_nonuniformity():
    """A uniform field seen by a simulated FPN camera (reference profile, gain s.d. 4 %,
    lognormal dark offset, hot/dead pixels): TFP corrected by the calibration module's
    full inverse (oracle maps) is far more uniform than uncalibrated TFP."""
    profile = CameraProfile(width=64, height=48, hot_fraction=0.002, dead_fraction=0.001)
    camera = Camera(profile, 11)
    fpn = camera.fpn
    stream = camera.capture(np.full((48, 64), 300.0, np.float32), 2000, 4)
    cal = oracle_calibration(camera.truth_arrays(), 300.0)
    good = cal.good
    raw = tfp(stream, 1000, 2000)
    corrected = tfp(stream, 1000, 2000, calib=cal)
    nu_raw, nu_cal = _nonuniformity(raw, good), _nonuniformity(corrected, good)
    assert nu_raw > 0.03 and nu_cal < nu_raw / 3, (nu_raw, nu_cal)
    # and the corrected level is the ideal pixel's λ = k E
    assert np.median(corrected[good]) == pytest.approx(profile.k * 300.0, rel=0.01)
    # defects are filled from their neighbours: no black dead pixels remain
    assert corrected[fpn.dead].min() > 0.5 * profile.k * 300.0


def test_calibration_of_wrong_resolution_is_refused():
    from calibration.calfile import Calibration

    stream = SpikeStream.from_dense(np.zeros((10, 8, 16), np.uint8))
    with pytest.raises(InputError, match="calibration"):
        tfp(stream, calib=Calibration.identity(16, 8))


def test_tfp_rate_counts_the_window_exactly():
    """TFP's rate is the window's spike count over its length, checked against the dense
    sum with more than 255 frames (the popcount's byte lanes flush mid-window)."""
    rng = np.random.default_rng(4)
    dense = (rng.random((600, 10, 24)) < 0.6).astype(np.uint8)
    stream = SpikeStream.from_dense(dense)
    for start, stop in ((0, 600), (17, 300), (5, 6)):
        win = baselines.Window(start, stop, start)
        np.testing.assert_array_equal(np.rint(baselines.tfp_rate(stream, win) * (stop - start)),
                                      dense[start:stop].sum(axis=0))


def test_best_cascade_is_a_deblurring_cascade_and_margins_are_per_window():
    """The bar is the best *cascade* (reconstruct, then deblur) with one σ per image:
    a calibrated plain TFP ("tfp +cal") is not one even when it scores higher, nor is a
    σ-map cascade; the network's margin is taken against its own window's best."""
    from restore.evaluate import best_cascade, network_margins, to_markdown

    from restore.evaluate import parse_methods

    kinds = {s.label: s.kind for s in parse_methods(
        "tfp,tfp+rl,tfp+rl@map,tfp+wiener,tfp+wiener@est,despike", "both")}

    def row(method, window, psnr, ssim):
        return {"method": method, "window": window, "psnr": psnr, "ssim": ssim,
                "psnr_std": 0.0, "ssim_std": 0.0, "ms_per_image": 1.0, "kind": kinds[method]}

    overall = [row("tfp +cal", "full", 30.0, 0.80), row("tfp+rl +cal", "full", 26.0, 0.70),
               row("tfp+rl@map +cal", "full", 29.0, 0.75), row("tfp+wiener", "full", 25.0, 0.6),
               row("despike +cal", "full", 27.5, 0.78),
               row("tfp+rl +cal", "64", 25.0, 0.66), row("tfp+wiener@est +cal", "64", 25.5, 0.6),
               row("despike +cal", "64", 26.0, 0.70)]
    summary = {"overall": overall, "by_blur": [], "by_side": [], "num_samples": 1,
               "wall_s": 0.0}
    assert best_cascade(summary)["method"] == "tfp+rl +cal"
    assert best_cascade(summary, "64")["method"] == "tfp+wiener@est +cal"
    margins = {(m["method"], m["window"]): m for m in network_margins(summary)}
    assert margins[("despike +cal", "full")]["psnr"] == pytest.approx(1.5)
    assert margins[("despike +cal", "full")]["ssim"] == pytest.approx(0.08)
    assert margins[("despike +cal", "64")]["psnr"] == pytest.approx(0.5)
    assert margins[("despike +cal", "64")]["cascade"] == "tfp+wiener@est +cal"
    assert "| despike +cal | full | tfp+rl +cal | +1.50 | +0.080 |" in to_markdown(summary)


def test_margins_carry_lpips_when_the_summary_has_it():
    """The margin table gets an LPIPS column (network minus cascade: negative is a gain);
    the cascade is still the one of best PSNR."""
    from restore.evaluate import best_cascade, network_margins, to_markdown

    def row(method, kind, psnr, ssim, lpips):
        return {"method": method, "window": "full", "psnr": psnr, "ssim": ssim,
                "lpips": lpips, "psnr_std": 0.0, "ssim_std": 0.0, "lpips_std": 0.0,
                "ms_per_image": 1.0, "kind": kind}

    summary = {"metrics": ["psnr", "ssim", "lpips"], "by_blur": [], "by_side": [],
               "num_samples": 1, "wall_s": 0.0,
               "overall": [row("tfp+rl +cal", "cascade", 26.0, 0.70, 0.40),
                           row("tfp+wiener +cal", "cascade", 25.0, 0.72, 0.30),
                           row("despike +cal", "network", 27.0, 0.78, 0.25)]}
    assert best_cascade(summary) == {"method": "tfp+rl +cal", "psnr": 26.0, "ssim": 0.70,
                                     "lpips": 0.40}
    (margin,) = network_margins(summary)
    assert margin["lpips"] == pytest.approx(-0.15)
    text = to_markdown(summary)
    assert "| PSNR − cascade (dB) | SSIM − cascade | LPIPS − cascade |" in text
    assert "| despike +cal | full | tfp+rl +cal | +1.00 | +0.080 | -0.150 |" in text
