"""The method registry (restore.methods), the shared exposure step (restore.exposure),
the evaluation's oracle calibration and the no-reference figures (restore.realdata)."""

import numpy as np
import pytest

from restore import methods
from restore.exposure import auto_scale, expose, to_display
from restore.realdata import consecutive_spike_fraction, mean_gradient_magnitude, rms_contrast
from spikesim.errors import InputError
from spikesim.images import srgb_encode
from spikesim.sensor import simulate_spikes
from spikesim.stream import SpikeStream


def test_registry_names_follow_the_contract():
    assert set(methods.METHODS) == {"despike", "despike-x8", "tfp", "tfi", "tfp+wiener", "tfp+rl",
                                    "tfi+wiener", "tfi+rl", "spk2imgnet", "spk2imgnet+gkmnet",
                                    "tfp+gkmnet"}
    assert methods.split_method("tfi+rl") == ("tfi", "rl")
    with pytest.raises(InputError, match="tfp\\+wiener"):
        methods.check_method("wiener")


@pytest.mark.skipif(not methods.despike_available(), reason="bundled DeSpike weights absent")
def test_despike_x8_is_the_self_ensemble_through_the_registry():
    """``despike-x8`` follows a transpose of the capture exactly (the group mean is
    equivariant), and is not the one-pass ``despike`` (which does not)."""
    lam = np.tile(np.linspace(0.05, 0.6, 24, dtype=np.float32), (20, 1))
    lam[6:11, 4:9] = 0.9
    dense = simulate_spikes(lam, 96, dead_time=1, seed=5).to_dense()
    flipped = SpikeStream.from_dense(np.ascontiguousarray(dense.transpose(0, 2, 1)))
    stream = SpikeStream.from_dense(dense)
    x8 = methods.restore(stream, "despike-x8").lam
    x8_t = methods.restore(flipped, "despike-x8").lam
    np.testing.assert_allclose(x8_t.T, x8, rtol=1e-4, atol=1e-5)
    one = methods.restore(stream, "despike").lam
    one_t = methods.restore(flipped, "despike").lam
    assert np.abs(one_t.T - one).max() > 1e-4
    assert np.abs(x8 - one).max() > 1e-4


def test_despike_missing_module_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(methods, "DESPIKE_MODULE", "restore.no_such_module_for_test")
    stream = SpikeStream.from_dense(np.zeros((8, 2, 4), np.uint8))
    with pytest.raises(InputError, match="not available.*use one of tfp"):
        methods.restore(stream, "despike")


def test_cascade_sigma_sources():
    lam = np.tile(np.r_[np.full(16, 0.1), np.full(16, 0.6)], (24, 1)).astype(np.float32)
    stream = simulate_spikes(lam, 192, dead_time=1, seed=2)
    given = methods.restore(stream, "tfp+wiener", sigma=1.5)
    assert (given.sigma, given.sigma_source) == (1.5, "given")
    est = methods.restore(stream, "tfp+rl")
    assert est.sigma_source == "estimated" and 0.0 <= est.sigma < 1.5   # a sharp step
    smap = methods.restore(stream, "tfp+rl", sigma_map=np.full(lam.shape, 2.0))
    assert smap.sigma_source == "map" and smap.sigma == 2.0
    plain = methods.restore(stream, "tfp")
    assert plain.sigma is None and plain.window == 192


def test_camera_exposure_maps_the_target_lambda_to_the_scene_value():
    rng = np.random.default_rng(0)
    sharp = rng.random((8, 8)).astype(np.float32)
    k, lux = 1 / 800, 412.0
    v, scale = expose(k * lux * sharp, "camera", k=k, illuminance=lux)
    np.testing.assert_allclose(v, sharp, rtol=1e-6)
    assert scale == pytest.approx(1 / (k * lux))
    with pytest.raises(InputError, match="auto"):
        expose(sharp, "camera")


def test_auto_exposure_is_one_scale_with_zero_black_level():
    lam = np.linspace(0, 2, 1001).reshape(7, 143)
    v, scale = expose(lam, "auto")
    assert np.percentile(v, 99.5) == pytest.approx(1.0)
    assert v.min() == 0.0                                      # zero stays zero
    np.testing.assert_allclose(v, lam * scale, rtol=1e-6)      # linear, no offset
    assert auto_scale(np.zeros((4, 4))) == 1.0
    np.testing.assert_allclose(to_display(np.array([[0.0, 0.5, 2.0]])),
                               srgb_encode(np.array([[0.0, 0.5, 1.0]])))


def test_no_reference_figures():
    ramp = np.tile(np.linspace(0, 1, 101), (5, 1))             # slope 0.01 per pixel
    assert mean_gradient_magnitude(ramp) == pytest.approx(0.01)
    half = np.r_[np.zeros(50), np.ones(50)][None, :].repeat(4, axis=0)
    assert rms_contrast(half) == pytest.approx(0.5)
    dense = np.zeros((10, 1, 8), np.uint8)
    dense[[2, 3, 6], 0, 0] = 1                                  # intervals 1 and 3
    assert consecutive_spike_fraction(SpikeStream.from_dense(dense)) == pytest.approx(0.5)


def test_despike_uses_the_given_dead_time_without_calibration():
    """--dead-time reaches the network's rate inversion (it was once silently ignored):
    for a bare stream, δ = 0 and δ = 1 must give different inputs, hence outputs."""
    from restore.methods import despike_available, restore

    if not despike_available():
        pytest.skip("no bundled DeSpike weights in this checkout")
    rng = np.random.default_rng(0)
    dense = (rng.random((64, 16, 24)) < 0.4).astype(np.uint8)
    stream = SpikeStream.from_dense(dense)
    a = restore(stream, "despike", dead_time=0).lam
    b = restore(stream, "despike", dead_time=1).lam
    assert a.shape == b.shape == (16, 24)
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(b))
    assert not np.allclose(a, b)
