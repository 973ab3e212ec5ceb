"""DeSpike network: encoding, kernel bank, attention, architecture switches, loss, inference."""

import numpy as np
import pytest
import torch

from spikesim.errors import InputError
from tests.naive import if_features_reference
from tests.tolerances import tol

from restore.despike.configs import PRESETS, LossConfig, ModelConfig, model_config, replace
from restore.despike.encoding import if_features, linearize_rate, window_bounds
from restore.despike.loss import DeSpikeLoss
from restore.despike.model import DeSpikeNet, count_parameters
from restore.despike.psf_bank import PSFBank, gaussian_kernels, psf_bank_conv
from restore.despike.attention import (CandidateFusion, candidate_attention,
                                      candidate_attention_explicit,
                                      candidate_attention_folded)

TINY = ModelConfig(name="tiny", encoder_channels=2, num_kernels=2, kernel_size=5,
                   widths=[8, 4, 4], depths=[1, 1, 0], heads=[2, 1, 1], fusion_key_dim=2)


def _spikes(t=40, h=8, w=12, seed=0, p=0.3):
    return (np.random.default_rng(seed).random((t, h, w)) < p).astype(np.uint8)


# ---------------------------------------------------------------- windows and encoding
def test_windows_centred_on_key_step():
    bounds, notes = window_bounds(400, (64, 96, 192), key_step=200)
    assert bounds == [(168, 232), (152, 248), (104, 296)]
    assert notes == []


def test_short_stream_clips_windows_and_says_so():
    bounds, notes = window_bounds(64, (64, 96, 128, 160, 192))
    assert [b - a for a, b in bounds] == [64, 64, 64, 64, 64]
    assert all(0 <= a and b <= 64 for a, b in bounds)
    assert len(notes) == 4 and "clipped to 64" in notes[0]


def test_window_near_the_end_is_shifted_inside():
    bounds, notes = window_bounds(200, (64, 192), key_step=190)
    assert bounds == [(136, 200), (8, 200)]
    assert len(notes) == 2 and "shifted" in notes[0]


def test_stream_too_short_for_any_window():
    with pytest.raises(InputError, match="at least 8 steps"):
        window_bounds(4, (64, 96))
    with pytest.raises(InputError, match="center"):
        window_bounds(100, (64,), key_step=100)


def test_if_features_match_step_by_step_integration():
    s = _spikes()
    w = np.random.default_rng(1).uniform(0.9, 1.1, s.shape[1:])
    fast = if_features(s, w, (8, 16, 32), key_step=20).features
    ref = if_features_reference(s, w, (8, 16, 32), key_step=20)
    np.testing.assert_allclose(fast, ref, **tol(np.float32))
    # unweighted features are exact spike rates
    plain = if_features(s, None, (8,), key_step=20).features[0]
    np.testing.assert_array_equal(plain, s[16:24].sum(0).astype(np.float32) / np.float32(8))


def test_if_features_of_a_packed_stream_equal_the_dense_ones():
    from spikesim.stream import SpikeStream

    s = _spikes(h=8, w=16)
    w = np.random.default_rng(2).uniform(0.9, 1.1, s.shape[1:])
    a = if_features(SpikeStream.from_dense(s), w, (8, 16, 32)).features
    b = if_features(s, w, (8, 16, 32)).features
    np.testing.assert_array_equal(a, b)


def test_weight_map_shape_is_checked():
    with pytest.raises(InputError, match="calibration weight"):
        if_features(_spikes(), np.ones((3, 3)), (8,))


@pytest.mark.parametrize("dead_time", [0, 1])
def test_linearize_inverts_the_dead_time_law(dead_time):
    lam = np.linspace(0.01, 1.5, 50)
    rate = 1.0 / (dead_time + 1.0 / lam)       # physics.md §4
    np.testing.assert_allclose(linearize_rate(rate, dead_time), lam, rtol=1e-12)


# ---------------------------------------------------------------- kernel bank, attention
def test_gaussian_bank_is_normalised_and_symmetric():
    k = gaussian_kernels([0.5, 1.0, 2.0], 9, torch.float64)
    np.testing.assert_allclose(k.sum((1, 2)).numpy(), 1.0, rtol=1e-12)
    assert torch.equal(k, k.flip(-1)) and torch.equal(k, k.transpose(-1, -2))
    # wider sigma -> lower peak
    assert k[0, 4, 4] > k[1, 4, 4] > k[2, 4, 4]


def test_bank_keeps_constants_and_applies_each_kernel_to_each_channel(device):
    bank = PSFBank(3, 4, 7, 0.5, 3.0, physical=True).to(device)
    x = torch.full((2, 3, 10, 12), 0.7, device=device)
    y = bank(x)
    assert y.shape == (2, 4, 3, 10, 12)
    torch.testing.assert_close(y, torch.full_like(y, 0.7), **tol(torch.float32))
    z = torch.zeros(1, 2, 9, 9, dtype=torch.float64, device=device)
    z[0, 1, 4, 4] = 1.0                        # an impulse in channel 1
    k = gaussian_kernels([1.0, 2.0], 5, torch.float64).to(device)
    out = psf_bank_conv(z, k)
    torch.testing.assert_close(out[0, 1, 1, 2:7, 2:7], k[1], **tol(torch.float64))
    assert float(out[0, :, 0].abs().sum()) == 0.0


def test_bank_and_attention_gradcheck_float64(device):
    f64 = {"dtype": torch.float64, "device": device, "requires_grad": True}
    x = torch.rand(1, 2, 6, 6, **f64)
    k = gaussian_kernels([0.8, 1.5], 3, torch.float64).to(device).requires_grad_(True)
    assert torch.autograd.gradcheck(psf_bank_conv, (x, k))
    q = torch.rand(1, 2, 3, 4, 4, **f64)
    kk = torch.rand(1, 5, 2, 3, 4, 4, **f64)
    v = torch.rand(1, 5, 2, 4, 4, **f64)
    assert torch.autograd.gradcheck(lambda a, b, c: candidate_attention(a, b, c)[0], (q, kk, v))


def test_candidate_attention_weights_are_a_distribution(device):
    fusion = CandidateFusion(3, 8, 2, 6, attention=True, key_dim=4).to(device)
    out, a = fusion(torch.rand(2, 6, 3, 5, 7, device=device), torch.rand(2, 8, 5, 7, device=device),
                    return_weights=True)
    assert out.shape == (2, 8, 5, 7) and a.shape == (2, 6, 2, 5, 7)
    torch.testing.assert_close(a.sum(1), torch.ones(2, 2, 5, 7, device=device), **tol(a.dtype))


@pytest.mark.parametrize("grad", [False, True], ids=["inference", "training"])
@pytest.mark.parametrize("d", [8, 5], ids=["c<=d", "c>d"])
def test_folded_attention_matches_the_explicit_keys(device, grad, d):
    """The network's attention folds the keys' projection into the query (inference: loops;
    training: broadcast products, or explicit keys when the candidates are wider than the
    keys); each must equal the reference with explicit keys, for the kernel bank's strided
    (B, n, m, c, H, W) layout as for (B, N, c, H, W)."""
    gen = torch.Generator().manual_seed(3)
    f64 = {"dtype": torch.float64, "generator": gen}
    b, n, m, hd, c = 2, 3, 4, 2, 6
    q = torch.randn(b, hd, d, 7, 9, **f64)
    wk, kb = torch.randn(hd, d, c, **f64), torch.randn(n * m, hd, d, **f64)
    # the bank's layout: (B·n, c, m, H, W) in memory, read as (B, n, m, c, H, W)
    v6 = torch.randn(b * n, c, m, 7, 9, **f64).view(b, n, c, m, 7, 9).transpose(2, 3)
    v = v6.reshape(b, n * m, c, 7, 9)
    q, wk, kb, v6, v = (t.to(device) for t in (q, wk, kb, v6, v))
    keys = torch.einsum("hdc,bncxy->bnhdxy", wk, v) + kb[None, :, :, :, None, None]
    ref_out, ref_a = candidate_attention(q, keys, v)
    # the library's reference forms the same keys, for either candidate layout
    for cands in (v6, v):
        out, a = candidate_attention_explicit(q, wk, kb, cands)
        torch.testing.assert_close(out, ref_out, **tol(torch.float64))
    for cands in (v6, v):
        leaves = [t.clone().requires_grad_(grad) for t in (q, wk, kb, cands)]
        with torch.set_grad_enabled(grad):
            out, a = candidate_attention_folded(*leaves)
        torch.testing.assert_close(out, ref_out, **tol(torch.float64))
        torch.testing.assert_close(a, ref_a, **tol(torch.float64))
    # the gradients, against the reference's through the same leaves
    leaves = [t.clone().requires_grad_(True) for t in (q, wk, kb, v)]
    w = torch.randn(ref_out.shape, **f64).to(device)
    (candidate_attention_folded(*leaves)[0] * w).sum().backward()
    ref = [t.clone().requires_grad_(True) for t in (q, wk, kb, v)]
    (candidate_attention_explicit(*ref)[0] * w).sum().backward()
    for got, want in zip(leaves, ref):
        torch.testing.assert_close(got.grad, want.grad, **tol(torch.float64))


def _trained_like(config, seed=0):
    """A network whose zero-initialised parts are made non-zero, so every path counts."""
    gen = torch.Generator().manual_seed(seed)
    net = DeSpikeNet(config).double()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn(p.shape, dtype=p.dtype, generator=gen) * 0.1)
    return net.eval()


def test_head_shared_part_equals_the_concatenated_convolution(device):
    """The head convolves ``rec`` once and each window's encoding on its own; the sum must
    equal the one convolution of ``[rec, enc_i]`` that the weights define."""
    level = _trained_like(TINY).levels[-1].to(device)
    gen = torch.Generator().manual_seed(5)
    rec = torch.randn(2, 4, 6, 7, dtype=torch.float64, generator=gen).to(device)
    enc = torch.randn(2, 5, 2, 6, 7, dtype=torch.float64, generator=gen).to(device)
    inp = torch.cat([rec.unsqueeze(1).expand(2, 5, 4, 6, 7), enc], 2).reshape(10, 6, 6, 7)
    with torch.no_grad():
        want = level.head(inp).view(2, 5, 6, 7)
        torch.testing.assert_close(level.head_concatenated(rec, enc), want,
                                   **tol(torch.float64))
        torch.testing.assert_close(level._head(rec, enc), want, **tol(torch.float64))
        torch.testing.assert_close(level._head(rec, enc[:, -1:])[:, 0], want[:, -1],
                                   **tol(torch.float64))


@pytest.mark.parametrize("config", [TINY, replace(TINY, calibration_flag=True),
                                    replace(TINY, multi_scale=False),
                                    replace(TINY, attention=False)],
                         ids=["full", "flag", "no-mss", "no-attention"])
def test_inference_output_equals_the_training_grid_output(device, config):
    """``grid=False`` (inference: only the longest window's head at the finest level)
    gives the same ``out`` as the full grid, in NCHW and channels-last layouts."""
    net = _trained_like(config).to(device)
    x = (torch.rand(2, 5, 16, 24, dtype=torch.float64) + 0.1).to(device)
    with torch.no_grad():
        full = net(x, calibrated=1.0)
        fast = net(x, calibrated=1.0, grid=False)
        assert fast["grid"] is None
        assert not torch.allclose(full["out"], x[:, -1])
        torch.testing.assert_close(fast["out"], full["out"], **tol(torch.float64))
        net = net.to(memory_format=torch.channels_last)
        torch.testing.assert_close(net(x, calibrated=1.0, grid=False)["out"], full["out"],
                                   **tol(torch.float64))


# ---------------------------------------------------------------- architecture
def test_paper_config_has_the_papers_parameter_count():
    """The paper reports 9.498 M parameters (supplementary Table 3)."""
    n = count_parameters(DeSpikeNet("despike-paper"))
    assert abs(n - 9.498e6) / 9.498e6 < 0.05, n


def test_small_config_is_much_smaller():
    """The despike-small preset (the network of both bundled files) trains on a 2-core CPU: 655,992 parameters (docs/despike.md §1),
    under a tenth of the paper's."""
    n = count_parameters(DeSpikeNet("despike-small"))
    assert n == 655_992 and n < count_parameters(DeSpikeNet("despike-paper")) / 10


def test_shapes_of_the_prediction_grid(device):
    net = DeSpikeNet(TINY).to(device)
    x = torch.rand(2, 5, 16, 24, device=device)
    out = net(x)
    assert [g.shape for g in out["grid"]] == [(2, 5, 4, 6), (2, 5, 8, 12), (2, 5, 16, 24)]
    assert torch.equal(out["out"], out["grid"][-1][:, -1])
    with pytest.raises(ValueError, match="multiples of 4"):
        net(torch.rand(1, 5, 10, 12, device=device))


def test_network_is_equivariant_to_the_light_level(device):
    """Normalising by the image scale makes λ-predictions scale with the input."""
    gen = torch.Generator().manual_seed(0)
    net = DeSpikeNet(TINY).double()
    for level in net.levels:                  # heads start at zero: make the test non-trivial
        torch.nn.init.normal_(level.head.weight, std=0.2, generator=gen)
    net = net.to(device)
    x = (torch.rand(1, 5, 16, 16, dtype=torch.float64, generator=gen) + 0.1).to(device)
    a, b = net(x)["out"], net(3.0 * x)["out"]
    assert not torch.allclose(a, x[:, -1])
    torch.testing.assert_close(b, 3.0 * a, **tol(torch.float64))


def test_untrained_network_returns_each_windows_rate(device):
    """Zero-initialised residual heads: training starts from the TFP estimate."""
    net = DeSpikeNet(TINY).to(device)
    x = torch.rand(2, 5, 16, 16, device=device) + 0.1
    out = net(x)
    torch.testing.assert_close(out["grid"][-1], x, **tol(x.dtype))
    torch.testing.assert_close(out["grid"][0], torch.nn.functional.avg_pool2d(x, 4),
                               **tol(x.dtype))


def test_ablation_switches_change_the_architecture():
    full = DeSpikeNet(TINY)
    names = {n for n, _ in full.named_parameters()}
    assert "bank.kernels" in names and any("temperature" in n for n in names)
    assert any(n.endswith("fusion.embed") for n in names)

    no_kernel = DeSpikeNet(replace(TINY, physical_kernels=False))
    assert not hasattr(no_kernel.bank, "kernels") and hasattr(no_kernel.bank, "conv")

    no_attn = DeSpikeNet(replace(TINY, attention=False))
    n2 = {n for n, _ in no_attn.named_parameters()}
    assert not any("temperature" in n or "embed" in n for n in n2)
    assert any("fusion.mix" in n for n in n2)

    no_mss = DeSpikeNet(replace(TINY, multi_scale=False))
    assert len(no_mss.levels) == 1
    assert len(no_mss(torch.rand(1, 5, 8, 8))["grid"]) == 1

    no_mts = DeSpikeNet(replace(TINY, multi_temporal=False))
    assert no_mts.n_windows == 1 and no_mts.config.used_windows == (192,)
    assert no_mts(torch.rand(1, 1, 8, 8))["out"].shape == (1, 8, 8)


def test_without_calibration_the_weight_is_ignored():
    from restore.despike.encoding import features_for

    class Cal:
        weight = np.full((8, 12), 1.1)
        dead_time = 1.0

        def check_resolution(self, height, width, what):
            assert (height, width) == self.weight.shape

    s = _spikes(t=200)
    weighted = replace(TINY, correction="weight")        # the paper's Eq. 14 input
    with_nc, _ = features_for(s, Cal(), weighted)
    without, _ = features_for(s, Cal(), replace(weighted, use_calibration=False))
    plain, _ = features_for(s, None, weighted)
    assert np.array_equal(without, plain)
    assert not np.allclose(with_nc, plain)


# ---------------------------------------------------------------- loss
def test_loss_weights_follow_beta():
    """Error in one (window, level) cell costs β_window · β_level times its MSE."""
    loss = DeSpikeLoss(LossConfig(scale_beta=[0.25, 0.5, 1.0], lambda_fft=0.0, lambda_perc=0.0,
                                  space="linear"), TINY)
    target = torch.ones(1, 8, 8)
    for level, (h, bs) in enumerate([(2, 0.25), (4, 0.5), (8, 1.0)]):
        for i, bw in enumerate([0.1, 0.3, 0.5, 0.7, 1.0]):
            grid = [torch.ones(1, 5, s, s) for s in (2, 4, 8)]
            grid[level][0, i] += 0.5                 # squared error 0.25 everywhere
            out = {"grid": grid, "out": grid[-1][:, -1], "scale": torch.ones(1)}
            total, _ = loss(out, target)
            assert float(total) == pytest.approx(bs * bw * 0.25, rel=1e-6)
    w = DeSpikeLoss(LossConfig(), replace(TINY, multi_temporal=False)).weights()
    assert w.tolist() == [[1.0], [1.0], [1.0]]


def test_display_space_loss_is_the_mse_of_srgb_values():
    """space: display scores sRGB(λ · to_value), the space of the evaluation's PSNR: the
    same λ error costs more in a dark image than in a bright one, and a prediction below
    zero still gets a gradient back (the sRGB toe is continued)."""
    from restore.despike.loss import srgb_continued
    from restore.despike.validation import srgb

    loss = DeSpikeLoss(LossConfig(lambda_fft=0.0, lambda_perc=0.0), TINY)
    x = torch.linspace(-0.2, 1.3, 301)
    inside = (x >= 0) & (x <= 1)
    assert torch.allclose(srgb_continued(x)[inside], srgb(x)[inside], atol=1e-6)
    lo, hi = 0.0031308 - 1e-6, 0.0031308 + 1e-6        # continuous at the knee
    assert abs(float(srgb_continued(torch.tensor(hi)) - srgb_continued(torch.tensor(lo)))) < 1e-4

    def cost(level, err, to_value):
        t = torch.full((1, 8, 8), level)
        p = t + err
        grid = [p[:, None].expand(-1, 5, -1, -1)[..., ::f, ::f].contiguous() for f in (4, 2, 1)]
        total, terms = loss({"grid": grid, "out": p, "scale": torch.ones(1)}, t,
                            torch.tensor([to_value]))
        return terms["mse_final"]

    # λ error 0.01 on a scene value of 0.05 vs 0.8 (to_value 1): sRGB slope ratio squared
    dark, bright = cost(0.05, 0.01, 1.0), cost(0.8, 0.01, 1.0)
    expect = float((srgb(torch.tensor(0.06)) - srgb(torch.tensor(0.05))) ** 2)
    assert dark == pytest.approx(expect, rel=1e-4)
    assert dark > 8 * bright
    # to_value maps λ to the scene value: λ 0.5 with to_value 0.1 is a value of 0.05
    assert cost(0.5, 0.1, 0.1) == pytest.approx(dark, rel=1e-4)
    p = torch.full((1, 8, 8), -0.05, requires_grad=True)
    grid = [p[:, None].expand(-1, 5, -1, -1)[..., ::f, ::f] for f in (4, 2, 1)]
    total, _ = loss({"grid": grid, "out": p, "scale": torch.ones(1)},
                    torch.full((1, 8, 8), 0.3), torch.ones(1))
    total.backward()
    assert float(p.grad.min()) < 0           # pushes the negative prediction up
    with pytest.raises(ValueError, match="to_value"):
        loss({"grid": grid, "out": p, "scale": torch.ones(1)}, torch.ones(1, 8, 8))


def test_fft_and_perceptual_terms_vanish_at_the_target():
    loss = DeSpikeLoss(LossConfig(space="linear"), TINY)
    t = torch.rand(2, 16, 16) + 0.2
    grid = [torch.nn.functional.avg_pool2d(t[:, None], f).expand(-1, 5, -1, -1)
            for f in (4, 2, 1)]
    total, terms = loss({"grid": grid, "out": t, "scale": torch.ones(2)}, t)
    assert terms["fft"] == pytest.approx(0.0, abs=1e-6)
    assert terms["perc"] == pytest.approx(0.0, abs=1e-5)
    _, worse = loss({"grid": grid, "out": t.flip(-1), "scale": torch.ones(2)}, t)
    assert worse["fft"] > 0.01 and worse["perc"] > 0.01


# ---------------------------------------------------------------- configs
def test_config_errors_name_the_key():
    from spikesim.errors import ConfigError

    with pytest.raises(ConfigError, match="model.kernel_size"):
        model_config({"preset": "despike-small", "kernel_size": 8})
    with pytest.raises(ConfigError, match="widths"):
        model_config({"widths": [8, 8]})
    assert model_config("despike-paper") is PRESETS["despike-paper"]


def test_bf16_autocast_inference_is_close_to_float32(device):
    """Validation may run under bf16 autocast without gradients: the inference path (the
    attention's loops) must stay within bf16's precision of the float32 output."""
    net = _trained_like(TINY).float().to(device)
    x = torch.rand(1, 5, 16, 16, device=device) + 0.1
    with torch.no_grad():
        want = net(x, grid=False)["out"]
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16):
            got = net(x, grid=False)["out"].float()
    assert not torch.allclose(want, x[:, -1], atol=1e-3)
    torch.testing.assert_close(got, want, rtol=0.05, atol=0.05 * float(want.abs().max()))


def test_bf16_autocast_forward_and_loss_are_finite(device):
    net = DeSpikeNet(TINY).to(device)
    loss = DeSpikeLoss(LossConfig(), TINY).to(device)
    x = torch.rand(1, 5, 16, 16, device=device) + 0.1
    with torch.autocast(torch.device(device).type, dtype=torch.bfloat16):
        out = net(x)
        total, terms = loss(out, x[:, -1], torch.ones(1, device=device))
    assert torch.isfinite(total) and all(np.isfinite(v) for v in terms.values())


def test_example_configs_are_the_presets_and_the_training_config_loads():
    from pathlib import Path

    from restore.despike.configs import train_config

    root = Path(__file__).resolve().parents[1] / "examples" / "configs"
    assert model_config(root / "despike_small.yaml") == PRESETS["despike-small"]
    assert model_config(root / "despike_paper.yaml") == PRESETS["despike-paper"]
    cfg = train_config(root / "train_wide.yaml")
    assert cfg.model == PRESETS["despike-small"] and cfg.data.source == "procedural"
    assert cfg.loss.space == "display" and cfg.data.pool > 0


# The paper's ablation rows: config-name suffix -> the ModelConfig switch it turns off.
ABLATION_SWITCHES = {"no_nc": "use_calibration", "no_mts": "multi_temporal",
                     "no_transformer": "attention", "no_mss": "multi_scale",
                     "no_physical_kernel": "physical_kernels"}


def _experiment_config(name):
    from pathlib import Path

    from restore.despike.configs import config_to_dict, train_config

    root = Path(__file__).resolve().parents[1] / "experiments" / "configs"
    return config_to_dict(train_config(root / name))


@pytest.mark.parametrize("prefix, base", [("ablation_", "train_small_v1.yaml"),
                                          ("ablation_v2_", "ablation_v2_full.yaml")])
def test_each_ablation_config_differs_from_its_base_by_one_switch(prefix, base):
    """The ablation rows of docs/despike.md §4 (both generations, experiments/configs/):
    every row of the paper's table exists, and each config is its base with exactly one
    model switch turned off and nothing else changed (data, loss, schedule, seed)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "experiments" / "configs"
    names = {p.name[len(prefix):-len(".yaml")] for p in root.glob(f"{prefix}no_*.yaml")}
    assert names == set(ABLATION_SWITCHES)
    ref = _experiment_config(base)
    for name, switch in ABLATION_SWITCHES.items():
        ab = _experiment_config(f"{prefix}{name}.yaml")
        assert {k for k in ref["model"] if ref["model"][k] != ab["model"][k]} == {switch}
        assert ref["model"][switch] is True and ab["model"][switch] is False
        assert {k: v for k, v in ab.items() if k != "model"} == \
            {k: v for k, v in ref.items() if k != "model"}


def test_v2_ablation_base_is_the_v2_preset():
    """The short-budget rows of docs/despike.md §4 are at the v2 architecture: their base's
    model is the user-visible preset despike-small-v2 (180,418 parameters), which is
    despike-small with half its widths and fewer heads, identical otherwise."""
    from restore.despike.configs import config_to_dict

    v2 = config_to_dict(PRESETS["despike-small-v2"])
    assert _experiment_config("ablation_v2_full.yaml")["model"] == v2
    assert _experiment_config("train_small_stage2.yaml")["model"] == v2
    assert count_parameters(DeSpikeNet("despike-small-v2")) == 180_418
    assert {k for k in v2 if v2[k] != config_to_dict(PRESETS["despike-small"])[k]} == \
        {"name", "widths", "heads"}
