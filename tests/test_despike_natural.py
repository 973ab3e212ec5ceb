"""Training for real cameras and natural images (issue 17): the calibration flag and its
growth from flagless weights, withheld calibrations, the natural validation set and the
choice of best.pt, LPIPS as the loss's perceptual term."""

import csv

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from spikesim.errors import ConfigError, InputError
from tests.tolerances import tol

from restore.despike.configs import train_config
from restore.despike.data import ProceduralDataset, calibration_withheld
from restore.despike.grow import grow
from restore.despike.infer import predict, restore_despike
from restore.despike.model import DeSpikeNet
from restore.despike.train import train

TINY_MODEL = {"name": "tiny", "encoder_channels": 2, "num_kernels": 2, "kernel_size": 3,
              "widths": [8, 4, 4], "depths": [1, 0, 0], "heads": [1, 1, 1],
              "fusion_key_dim": 2, "windows": [16, 32, 64]}
TINY_TRAIN = {
    "model": TINY_MODEL, "loss": {"window_beta": [0.3, 0.6, 1.0]},
    "steps": 3, "batch_size": 2, "warmup": 0, "lr": 0.02, "val_every": 1, "ckpt_every": 3,
    "log_every": 1,
    "data": {"crop": 16, "steps": 192, "cameras": 2, "calib_steps": 200, "val_samples": 2,
             "val_size": 16, "val_cameras": 1},
}


def _randomised(model: DeSpikeNet, seed: int = 0) -> DeSpikeNet:
    """The model with its (zero-initialised) heads drawn at random, so the output depends
    on everything before them (at zero heads the output is the input, whatever the rest)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for level in model.levels:
            for prm in level.head.parameters():
                prm.copy_(torch.randn(prm.shape, generator=g) * 0.3)
    return model.eval()


def _flagged(seed: int = 0) -> DeSpikeNet:
    """A tiny flagged model whose flag channel matters (its weights not zero)."""
    torch.manual_seed(seed)
    model = _randomised(DeSpikeNet(dict(TINY_MODEL, calibration_flag=True)), seed)
    with torch.no_grad():
        model.encoder.c1.weight[:, 1].normal_(0.0, 0.5)
    return model


def test_grown_flag_channel_computes_the_flagless_function(device):
    """A flagged model grown from flagless weights equals them on calibrated input (flag 1;
    and at step 0 with flag 0 too: the new channel's weights are zero), and the channel
    gets gradient from calibrated examples, so training can use it."""
    torch.manual_seed(1)
    start = _randomised(DeSpikeNet(TINY_MODEL)).to(device)
    grown = DeSpikeNet(dict(TINY_MODEL, calibration_flag=True)).to(device)
    grow(grown, start)
    assert not grown.encoder.c1.weight[:, 1].any()
    x = (torch.rand(2, 3, 16, 24) + 0.2).to(device)
    with torch.no_grad():
        ref = start(x)["out"]
        torch.testing.assert_close(grown(x, calibrated=torch.ones(2))["out"], ref,
                                   **tol(torch.float32))
        torch.testing.assert_close(grown(x, calibrated=0.0)["out"], ref, **tol(torch.float32))
        assert not torch.allclose(ref, x[:, -1])             # the network reaches the output
    grown(x, calibrated=1.0)["out"].square().mean().backward()
    assert grown.encoder.c1.weight.grad[:, 1].abs().sum() > 0
    # flagged weights cannot grow into a flagless model
    with pytest.raises(InputError, match="calibration flag"):
        grow(DeSpikeNet(TINY_MODEL), grown)


def test_a_flagged_model_needs_the_flag():
    model = DeSpikeNet(dict(TINY_MODEL, calibration_flag=True))
    with pytest.raises(ValueError, match="calibrated"):
        model(torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match="2 values for a batch of 3"):
        model(torch.rand(3, 3, 16, 16), calibrated=torch.ones(2))


def _stream_and_calibration():
    from calibration.calfile import Calibration

    rng = np.random.default_rng(2)
    rates = np.linspace(0.05, 0.45, 32 * 24).reshape(24, 32)
    stream = (rng.random((100, 24, 32)) < rates).astype(np.uint8)
    gain = 1.0 + 0.05 * rng.standard_normal((24, 32))
    truth = {"gain": gain, "dark": np.full((24, 32), 2.0), "hot": np.zeros((24, 32), bool),
             "dead": np.zeros((24, 32), bool), "k": 0.01, "dead_time": 1}
    return stream, Calibration.from_truth(truth), Calibration.identity(24, 32, dead_time=1)


def test_restore_despike_sets_the_flag_from_the_calibration(device):
    """``calib=None`` and an identity calibration (``eval --calib-mode off``) give flag 0 and
    the plain rates; a measured calibration gives flag 1 and the calibrated features; a
    model without the flag uses the calibration as given, as before."""
    from restore.despike.encoding import features_for

    model = _flagged().to(device)
    stream, calib, identity = _stream_and_calibration()
    plain, _ = features_for(stream, None, model.config, dead_time=1.0)
    calibrated, _ = features_for(stream, calib, model.config)

    def direct(x, flag):
        return predict(model, torch.from_numpy(x)[None], device, calibrated=flag)[0]

    none = restore_despike(stream, None, model=model, device=device, dead_time=1.0)
    np.testing.assert_array_equal(none, direct(plain, 0.0))
    assert not np.allclose(none, direct(plain, 1.0))                 # the flag matters
    np.testing.assert_array_equal(restore_despike(stream, identity, model=model,
                                                  device=device), none)
    np.testing.assert_array_equal(restore_despike(stream, calib, model=model, device=device),
                                  direct(calibrated, 1.0))
    flagless = _randomised(DeSpikeNet(TINY_MODEL)).to(device)
    with_identity, _ = features_for(stream, identity, flagless.config)
    np.testing.assert_array_equal(
        restore_despike(stream, identity, model=flagless, device=device),
        predict(flagless, torch.from_numpy(with_identity)[None], device)[0])


def test_run_without_calib_uses_the_flag(tmp_path):
    """``spikerestore run`` without ``--calib`` on a flagged model's weights: flag 0."""
    import imageio.v3 as iio

    from cli.spikerestore_cli import main
    from restore.despike.weights import save_torch, weights_payload
    from restore.exposure import expose, to_display
    from spikesim.stream import SpikeStream

    model = _flagged()
    weights = tmp_path / "flagged.pt"
    save_torch(weights_payload(model, {}), weights)
    stream, _, _ = _stream_and_calibration()
    path = tmp_path / "cap.npz"
    SpikeStream.from_dense(stream).save_npz(path)
    out = tmp_path / "out.png"
    res = CliRunner().invoke(main, ["run", str(path), "--weights", str(weights),
                                    "--dead-time", "1", "-o", str(out)])
    assert res.exit_code == 0, res.output
    from restore.despike.encoding import features_for

    plain, _ = features_for(stream, None, model.config, dead_time=1.0)
    png = iio.imread(out)
    for flag, same in ((0.0, True), (1.0, False)):
        lam = predict(model, torch.from_numpy(plain)[None], calibrated=flag)[0]
        expect = np.round(to_display(expose(lam, "auto")[0]) * 255).astype(np.uint8)
        assert np.array_equal(png, expect) == same, flag


def test_withheld_share_is_deterministic_per_index():
    """The draw is a pure function of (seed, index, share): repeatable, near the share, none
    at 0 and all at 1, other for another seed."""
    a = [calibration_withheld(5, i, 0.25) for i in range(4000)]
    assert a == [calibration_withheld(5, i, 0.25) for i in range(4000)]
    assert abs(np.mean(a) - 0.25) < 4 * np.sqrt(0.25 * 0.75 / 4000)
    assert a != [calibration_withheld(6, i, 0.25) for i in range(4000)]
    assert not any(calibration_withheld(5, i, 0.0) for i in range(100))
    assert all(calibration_withheld(5, i, 1.0) for i in range(100))


def test_withheld_examples_are_uncalibrated_and_flagged_zero(tmp_path):
    """A withheld example's features are the plain rates linearised with the camera's dead
    time and its flag is 0; the others are calibrated with flag 1; in the pool the same
    rule holds per pooled sample."""
    from restore.despike.data import make_example
    from restore.despike.pool import PooledDataset

    cfg = train_config(dict(TINY_TRAIN, model=dict(TINY_MODEL, calibration_flag=True),
                            data=dict(TINY_TRAIN["data"], calib_withheld=0.5)))
    ds = ProceduralDataset(cfg.data, cfg.model, seed=3, size=16, augment=False,
                           cache_dir=tmp_path)
    flags = {i: ds.withheld(i) for i in range(12)}
    assert set(flags.values()) == {True, False}
    for i, withheld in flags.items():
        ex = ds[i]
        sample, calib = ds.sample(i)
        expect = make_example(sample, None if withheld else calib, cfg.model)
        assert float(ex["calibrated"]) == (0.0 if withheld else 1.0)
        torch.testing.assert_close(ex["x"], expect["x"], rtol=0, atol=0)
    pooled_cfg = train_config(dict(TINY_TRAIN, model=dict(TINY_MODEL, calibration_flag=True),
                                   data=dict(TINY_TRAIN["data"], calib_withheld=0.5, pool=6,
                                             pool_size=16)))
    pooled = PooledDataset(pooled_cfg.data, pooled_cfg.model, seed=3, cache_dir=tmp_path)
    assert [f == 0.0 for f in pooled.calibrated] == [flags[p] for p in range(6)]
    for p in range(6):
        np.testing.assert_allclose(pooled.pool["x"][p, 0].astype(np.float32),
                                   ds[p]["x"].numpy(), **tol(np.float16))


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    """Three small 'photographs' (smooth gradients with texture) for ``source: images``."""
    import imageio.v3 as iio

    d = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:40, 0:48] / 48.0
    for i in range(3):
        img = 0.5 + 0.3 * np.sin(6 * xx + 4 * i * yy) + 0.1 * rng.standard_normal((40, 48))
        iio.imwrite(d / f"photo{i}.png", (np.clip(img, 0, 1) * 255).astype(np.uint8))
    return d


def _val_rows(run):
    with open(run / "val.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("select_on,column", [("auto", "nat_psnr"), ("procedural", "psnr"),
                                              ("mean", None)])
def test_best_is_chosen_on_the_configured_validation_set(photo_dir, tmp_path, select_on,
                                                         column):
    """With a natural validation set val.csv logs both sets, and best.pt is the step of
    the best selection score: the natural PSNR by default, the procedural one or the mean
    when asked (the natural set is made of the photographs, not procedural scenes)."""
    mapping = dict(TINY_TRAIN, select_on=select_on,
                   data=dict(TINY_TRAIN["data"], val_natural={
                       "source": "images", "image_dir": str(photo_dir)},
                       val_natural_samples=2))
    summary = train(mapping, tmp_path / "run")
    rows = _val_rows(tmp_path / "run")
    assert list(rows[0]) == ["step", "loss", "psnr", "ssim", "psnr_tfp", "ssim_tfp",
                             "nat_loss", "nat_psnr", "nat_ssim", "nat_psnr_tfp",
                             "nat_ssim_tfp", "select", "wall_s"]
    assert len(rows) == 3 and rows[0]["psnr_tfp"] != rows[0]["nat_psnr_tfp"]

    def score(r):
        if column is None:
            return (float(r["psnr"]) + float(r["nat_psnr"])) / 2
        return float(r[column])

    best = max(rows, key=score)
    assert summary["best"]["step"] == int(best["step"])
    assert float(best["select"]) == pytest.approx(score(best), abs=1e-4)
    meta = torch.load(tmp_path / "run" / "best.pt", weights_only=True)["meta"]
    assert meta["steps"] == int(best["step"])
    if select_on == "auto":                  # the model card shows the natural curve too
        from restore.despike.card import model_card

        card = model_card(tmp_path / "run", "final.pt")
        assert "natural validation set" in card and "| natural PSNR |" in card
        assert f"| {float(rows[-1]['nat_psnr']):.2f} |" in card


def test_natural_selection_needs_a_natural_set():
    with pytest.raises(ConfigError, match="select_on"):
        train_config(dict(TINY_TRAIN, select_on="natural"))
    assert train_config(TINY_TRAIN).selection == "procedural"


def test_lpips_loss_term_is_lpips_of_the_display_images(device):
    """``loss.perceptual: lpips-alex``: λ3's term is restore.lpips's distance of the display
    images (batch mean) and gives the output a gradient; LPIPS needs the display space."""
    from restore.despike.configs import LossConfig, ModelConfig
    from restore.despike.loss import DeSpikeLoss, srgb_continued
    from restore.lpips import LPIPS

    model = ModelConfig(**dict(TINY_MODEL, windows=[16, 32, 64]))
    loss_fn = DeSpikeLoss(LossConfig(window_beta=[0.3, 0.6, 1.0], perceptual="lpips-alex"),
                          model).to(device)
    g = torch.Generator().manual_seed(0)
    target = (torch.rand(2, 32, 32, generator=g) * 0.4 + 0.05).to(device)
    out = (target + 0.05 * torch.randn(2, 32, 32, generator=g).to(device)).requires_grad_()
    grid = [out.unsqueeze(1).expand(2, 3, 32, 32)]
    tv = torch.full((2,), 2.0, device=device)
    total, terms = loss_fn({"out": out, "grid": grid, "scale": torch.ones(2, device=device)},
                           target, tv)
    ref = LPIPS("alex").to(device)(srgb_continued(out * 2.0).unsqueeze(1),
                                   srgb_continued(target * 2.0).unsqueeze(1)).mean()
    assert terms["perc"] == pytest.approx(float(ref.detach()), rel=1e-5)
    total.backward()
    assert out.grad.abs().sum() > 0
    with pytest.raises(ConfigError, match="perceptual"):
        train_config(dict(TINY_TRAIN, loss={"window_beta": [0.3, 0.6, 1.0], "space": "linear",
                                            "perceptual": "lpips-vgg"}))


def test_train_natural_config_grows_from_the_procedural_weights():
    """examples/configs/train_natural.yaml validates, selects on its natural set, withholds a
    quarter of the calibrations, and its init (the procedural despike-small.pt, relative to
    the checkout) grows into its flagged model with that file's function on calibrated input."""
    import dataclasses
    from pathlib import Path

    from restore.despike.train import _init_from
    from restore.despike.weights import load_model

    root = Path(__file__).resolve().parents[1]
    cfg = train_config(root / "examples" / "configs" / "train_natural.yaml")
    assert cfg.selection == "natural" and cfg.data.calib_withheld == 0.25
    assert cfg.model.calibration_flag and cfg.data.generator["source"] == "mixed"
    assert (root / cfg.init).is_file()
    model = DeSpikeNet(cfg.model)
    init = str(root / cfg.init)
    meta = _init_from(model, dataclasses.replace(cfg, init=init))
    assert meta["path"] == init and meta["steps"] > 0
    bundled = load_model(init)
    x = torch.rand(1, 5, 32, 32) * 0.3 + 0.05
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x, calibrated=1.0)["out"], bundled(x)["out"],
                                   **tol(torch.float32))
