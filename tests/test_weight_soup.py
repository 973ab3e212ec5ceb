"""examples/weight_soup.py (issue 17, session 16): a weight soup interpolates two DeSpike
weights files, growing the second to the first's architecture first."""

import importlib.util
from pathlib import Path

import pytest
import torch

from spikesim.errors import InputError

from restore.despike.model import DeSpikeNet
from restore.despike.weights import load_model, save_torch, weights_payload

ROOT = Path(__file__).resolve().parents[1]
TINY = {"name": "tiny", "encoder_channels": 2, "num_kernels": 2, "kernel_size": 3,
        "widths": [8, 4, 4], "depths": [1, 0, 0], "heads": [1, 1, 1],
        "fusion_key_dim": 2, "windows": [16, 32, 64]}


def _soup_module():
    spec = importlib.util.spec_from_file_location("weight_soup", ROOT / "examples" / "weight_soup.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _random_weights(path, seed, **config):
    torch.manual_seed(seed)
    net = DeSpikeNet({**TINY, **config})
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 0.1)
    save_torch(weights_payload(net, {}), path)
    return net


def _run(net, x, flag=1.0):
    """The final output; a flagless network ignores ``flag``."""
    with torch.no_grad():
        return net(x, calibrated=flag, grid=False)["out"]


def test_soup_is_the_weighted_mean_and_its_ends_are_the_inputs(tmp_path):
    soup = _soup_module().soup
    a = _random_weights(tmp_path / "a.pt", 0, calibration_flag=True)
    b = _random_weights(tmp_path / "b.pt", 1, calibration_flag=True)
    mixed = soup(tmp_path / "a.pt", tmp_path / "b.pt", 0.25).state_dict()
    for k, v in a.state_dict().items():
        if v.is_floating_point():
            assert torch.allclose(mixed[k], 0.75 * v + 0.25 * b.state_dict()[k], atol=1e-7), k
    x = torch.rand(1, 3, 16, 16) + 0.1
    assert torch.allclose(_run(soup(tmp_path / "a.pt", tmp_path / "b.pt", 0.0), x), _run(a, x))
    assert not torch.allclose(_run(a, x), _run(b, x), atol=1e-3)


def test_a_flagless_second_file_is_grown_and_keeps_its_function(tmp_path):
    """alpha 1 with a flagless B: B's own function, whatever the flag says."""
    soup = _soup_module().soup
    _random_weights(tmp_path / "a.pt", 0, calibration_flag=True)
    b = _random_weights(tmp_path / "b.pt", 1)
    net = soup(tmp_path / "a.pt", tmp_path / "b.pt", 1.0)
    assert net.config.calibration_flag
    x = torch.rand(1, 3, 16, 16) + 0.1
    for flag in (0.0, 1.0):
        assert torch.allclose(_run(net, x, flag), _run(b, x), atol=1e-6)


def test_soup_refuses_alpha_outside_0_1_and_the_script_writes_loadable_weights(tmp_path):
    mod = _soup_module()
    _random_weights(tmp_path / "a.pt", 0, calibration_flag=True)
    _random_weights(tmp_path / "b.pt", 1, calibration_flag=True)
    with pytest.raises(InputError, match="ALPHA"):
        mod.soup(tmp_path / "a.pt", tmp_path / "b.pt", 1.5)
    assert mod.main([str(tmp_path / "a.pt"), str(tmp_path / "b.pt"), "0.5",
                     str(tmp_path / "s.pt")]) == 0
    assert load_model(tmp_path / "s.pt").meta["soup"]["alpha"] == 0.5


def test_soup_refuses_another_architecture_and_a_non_number(tmp_path):
    """Growth in depth appends blocks that are random apart from their zeroed outputs, and a
    flag B has and A lacks cannot be dropped: no soup of either."""
    mod = _soup_module()
    _random_weights(tmp_path / "a.pt", 0, calibration_flag=True, depths=[2, 0, 0])
    _random_weights(tmp_path / "b.pt", 1, calibration_flag=True)
    with pytest.raises(InputError, match="differs in depths"):
        mod.soup(tmp_path / "a.pt", tmp_path / "b.pt", 0.5)
    _random_weights(tmp_path / "plain.pt", 2, depths=[2, 0, 0])
    with pytest.raises(InputError, match="calibration flag A lacks"):
        mod.soup(tmp_path / "plain.pt", tmp_path / "a.pt", 0.5)
    with pytest.raises(InputError, match="ALPHA"):
        mod.main([str(tmp_path / "a.pt"), str(tmp_path / "a.pt"), "half", str(tmp_path / "s.pt")])
