"""DeSpike training: resume equivalence, DDP on loopback, weights loading and its errors."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from spikesim.errors import InputError
from tests.tolerances import tol

from restore.despike.train import train
from restore.despike.infer import dihedral, dihedral_inverse, predict, restore_despike
from restore import settings
from restore.despike.weights import (bundled_weights_path, card_path, load_model,
                                     procedural_weights_path, read_weights, save_torch,
                                     weights_payload)
from restore.despike.model import DeSpikeNet

ROOT = Path(__file__).resolve().parents[1]

TINY_TRAIN = {
    "model": {"name": "tiny", "encoder_channels": 2, "num_kernels": 2, "kernel_size": 3,
              "widths": [8, 4, 4], "depths": [1, 0, 0], "heads": [1, 1, 1],
              "fusion_key_dim": 2, "windows": [16, 32, 64]},
    "loss": {"window_beta": [0.3, 0.6, 1.0]},
    "steps": 4, "batch_size": 1, "warmup": 1, "val_every": 2, "ckpt_every": 2, "log_every": 1,
    "data": {"crop": 16, "steps": 192, "cameras": 2, "calib_steps": 200, "val_samples": 1,
             "val_size": 16, "val_cameras": 1},
}


def _state(path):
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("straight")
    summary = train(TINY_TRAIN, run)
    return run, summary


def test_run_directory_contents(straight_run):
    run, summary = straight_run
    for name in ("config.yaml", "checkpoint.pt", "best.pt", "final.pt", "log.csv", "val.csv",
                 "summary.json"):
        assert (run / name).is_file(), name
    rows = (run / "log.csv").read_text().splitlines()
    assert rows[0].startswith("step,lr,loss") and len(rows) == 1 + 4
    assert summary["step"] == 4 and np.isfinite(summary["best"]["psnr"])


def test_resume_continues_to_the_same_parameters(straight_run, tmp_path):
    """N steps straight == N/2, interruption, resume, N/2 (bit for bit on CPU)."""
    run, _ = straight_run
    train(TINY_TRAIN, tmp_path, stop_after=2)
    assert not (tmp_path / "final.pt").exists()
    train(TINY_TRAIN, tmp_path, resume=True)
    a, b = _state(run / "final.pt"), _state(tmp_path / "final.pt")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert (tmp_path / "log.csv").read_text().count("\n") == 5     # no duplicated rows


def test_dataloader_workers_give_the_same_run(straight_run, tmp_path):
    """Examples are pure functions of their index: a worker process changes nothing."""
    run, _ = straight_run
    train(TINY_TRAIN, tmp_path, workers=1)
    a, b = _state(run / "final.pt"), _state(tmp_path / "final.pt")
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_new_run_refuses_a_used_directory_and_resume_a_changed_config(straight_run):
    run, _ = straight_run
    with pytest.raises(InputError, match="--resume"):
        train(TINY_TRAIN, run)
    changed = dict(TINY_TRAIN, lr=0.5)
    with pytest.raises(InputError, match="lr"):
        train(changed, run, resume=True)


def test_runs_share_a_cache_and_make_the_pool_once(tmp_path):
    """``cache_dir`` (``--cache``): a second run of the same data and seed reuses the first
    run's pool chunks and calibrations untouched, and trains exactly as with its own cache."""
    cfg = dict(TINY_TRAIN, steps=2, val_every=2, ckpt_every=2,
               data=dict(TINY_TRAIN["data"], pool=2, pool_size=24))
    shared = tmp_path / "shared"
    train(cfg, tmp_path / "a", cache_dir=shared)
    entries = sorted(shared.rglob("*.npz"))
    assert any(p.parent.name.startswith("pool-") for p in entries)
    assert any(p.name.startswith("calib-") for p in entries)
    stamps = {p: p.stat().st_mtime_ns for p in entries}
    train(cfg, tmp_path / "b", cache_dir=shared)
    assert not (tmp_path / "a" / "cache").exists() and not (tmp_path / "b" / "cache").exists()
    assert sorted(shared.rglob("*.npz")) == entries                      # nothing new made
    assert {p: p.stat().st_mtime_ns for p in entries} == stamps          # nothing rewritten
    train(cfg, tmp_path / "c")                                            # its own cache
    assert (tmp_path / "c" / "cache").is_dir()
    # interrupted, then resumed without naming the cache: the checkpoint's cache is kept
    train(cfg, tmp_path / "d", cache_dir=shared, stop_after=1)
    train(cfg, tmp_path / "d", resume=True)
    assert not (tmp_path / "d" / "cache").exists()
    assert {p: p.stat().st_mtime_ns for p in entries} == stamps
    a, b, c, d = (_state(tmp_path / r / "final.pt") for r in "abcd")
    for k in a:
        assert torch.equal(a[k], b[k]) and torch.equal(a[k], c[k]) and torch.equal(a[k], d[k]), k


def test_train_cli_takes_a_cache_and_refuses_one_it_cannot_write(tmp_path, monkeypatch):
    import yaml
    from click.testing import CliRunner

    from cli.spikerestore_cli import main

    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(dict(TINY_TRAIN, steps=1, val_every=1, ckpt_every=1)))
    ok = CliRunner().invoke(main, ["train", "--config", str(cfg), "-o", str(tmp_path / "run"),
                                   "--cache", str(tmp_path / "shared")])
    assert ok.exit_code == 0, ok.output
    assert list((tmp_path / "shared").glob("calib-*.npz"))
    assert not (tmp_path / "run" / "cache").exists()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    bad = CliRunner().invoke(main, ["train", "--config", str(cfg), "-o", str(tmp_path / "run2"),
                                    "--cache", str(blocker / "cache")])
    assert bad.exit_code == 2
    assert "--cache" in bad.output and "writable directory" in bad.output
    assert not (tmp_path / "run2").exists()            # refused before anything is written
    # a directory that exists but is not writable (root ignores permissions: simulated)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: (
        False if Path(p) == tmp_path / "locked" and mode & os.W_OK
        else real_access(p, mode, **kw)))
    (tmp_path / "locked").mkdir()
    denied = CliRunner().invoke(main, ["train", "--config", str(cfg), "-o",
                                       str(tmp_path / "run3"), "--cache", str(tmp_path / "locked")])
    assert denied.exit_code == 2 and "--cache" in denied.output and "not writable" in denied.output
    assert not (tmp_path / "run3").exists()


def test_training_keeps_the_thread_count_it_was_given(tmp_path):
    """numba's OpenMP layer resets the OpenMP thread count when examples are made in this
    process; the training steps must still run on ``threads`` torch threads."""
    seen = []
    cfg = dict(TINY_TRAIN, threads=1, steps=2, val_every=1, ckpt_every=2)
    before = torch.get_num_threads()
    try:
        train(cfg, tmp_path, progress=lambda *a: seen.append(torch.get_num_threads()))
    finally:
        torch.set_num_threads(before)
    assert seen == [1, 1]


def test_init_starts_from_another_runs_weights(straight_run, tmp_path):
    """A second stage (``init``) starts from the first stage's final weights, not from its
    seed; its weights record the lineage; another architecture is refused under ``init``."""
    from restore.despike.card import model_card

    run, _ = straight_run
    first = _state(run / "final.pt")
    stage = dict(TINY_TRAIN, init=str(run / "final.pt"), steps=1, lr=1e-12, warmup=0,
                 val_every=1, ckpt_every=1, seed=7)
    train(stage, tmp_path / "stage2")
    second = _state(tmp_path / "stage2" / "final.pt")
    fresh = DeSpikeNet(TINY_TRAIN["model"]).state_dict()
    assert any(not torch.allclose(first[k], fresh[k]) for k in first)
    for k in first:      # one step of 1e-12 moves nothing measurable
        assert torch.allclose(first[k], second[k], rtol=0, atol=1e-9), k
    meta = torch.load(tmp_path / "stage2" / "final.pt", weights_only=True)["meta"]
    assert meta["init"]["steps"] == 4 and meta["steps"] == 1
    card = model_card(tmp_path / "stage2", "final.pt")
    assert "all stages together: 5 optimiser steps" in card

    # a resumed stage needs no init file: its start is in the checkpoint
    import shutil

    moved = tmp_path / "stage1.pt"
    shutil.copy(run / "final.pt", moved)
    split = dict(stage, init=str(moved), steps=2)
    train(split, tmp_path / "split", stop_after=1)
    moved.unlink()
    train(split, tmp_path / "split", resume=True)
    meta_split = torch.load(tmp_path / "split" / "final.pt", weights_only=True)["meta"]
    assert meta_split["steps"] == 2 and meta_split["init"]["path"] == str(moved)
    assert meta_split["init"]["steps"] == 4

    # a wrong, missing or junk start file: refused before the run directory is made, so
    # the same command with the right file then starts (no "pass --resume")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not weights")
    other = dict(stage, model=dict(TINY_TRAIN["model"], widths=[8, 8, 4]))
    for name, cfg in (("other", other), ("missing", dict(stage, init=str(tmp_path / "no.pt"))),
                      ("junk", dict(stage, init=str(junk)))):
        with pytest.raises(InputError, match="^init: "):
            train(cfg, tmp_path / name)
        assert not (tmp_path / name).exists(), name


def test_init_grows_depth_with_identity_blocks(straight_run, tmp_path):
    """A deeper stage (``init`` from shallower weights, same widths) starts from exactly the
    file's function: its appended blocks are the identity until trained, and they train
    (their output projections get gradient). A shallower target is refused."""
    from restore.despike.grow import grow as grow_depths

    run, _ = straight_run
    start = load_model(run / "final.pt")
    deep_cfg = dict(TINY_TRAIN["model"], depths=[2, 1, 2])
    torch.manual_seed(3)
    deep = DeSpikeNet(deep_cfg)
    start = start.to(memory_format=torch.contiguous_format)   # training's layout, as _init_from
    grow_depths(deep, start)
    x = torch.rand(2, 3, 16, 24) + 0.2
    with torch.no_grad():
        a, b = start(x)["out"], deep(x)["out"]
    assert torch.equal(a, b)
    new_block = deep.levels[2].blocks[1]
    assert not torch.equal(new_block.ffn.inp.weight, torch.zeros_like(new_block.ffn.inp.weight))
    deep(x)["out"].square().mean().backward()
    assert new_block.ffn.out.weight.grad.abs().sum() > 0
    assert new_block.attn.proj.weight.grad.abs().sum() > 0
    # the grown weights train in a stage: the file's blocks are where training starts
    stage = dict(TINY_TRAIN, model=deep_cfg, init=str(run / "final.pt"), steps=1,
                 lr=1e-12, warmup=0, val_every=1, ckpt_every=1)
    train(stage, tmp_path / "deep")
    grown = _state(tmp_path / "deep" / "final.pt")
    first = _state(run / "final.pt")
    for k in first:
        assert torch.allclose(first[k], grown[k], rtol=0, atol=1e-9), k
    shallow = dict(stage, model=dict(TINY_TRAIN["model"], depths=[0, 0, 0]))
    with pytest.raises(InputError, match="^init: .*deeper than"):
        train(shallow, tmp_path / "shallow")
    # one level only (w/o MSS): module 0 is the finest level, grown by depths[2]; the
    # unused levels' depths do not count. The head is randomised first: at its zero
    # initialisation the output is the input whatever the blocks do.
    single = dict(TINY_TRAIN["model"], multi_scale=False, depths=[1, 0, 1])
    one, one_deep = DeSpikeNet(single), DeSpikeNet(dict(single, depths=[0, 0, 3]))
    with torch.no_grad():
        for prm in one.levels[0].head.parameters():
            prm.normal_(0, 0.3)
    grow_depths(one_deep, one)
    for blk in one_deep.levels[0].blocks[1:]:
        assert not blk.attn.proj.weight.any() and not blk.ffn.out.weight.any()
    with torch.no_grad():
        ref = one(x)["out"]
        assert not torch.allclose(ref, x[:, -1])          # the blocks reach the output
        assert torch.equal(ref, one_deep(x)["out"])


def test_ddp_two_processes_keep_identical_parameters(tmp_path):
    """torchrun, 2 processes, gloo on loopback: after the steps all replicas agree."""
    import yaml

    cfg = dict(TINY_TRAIN, steps=2, val_every=100, ckpt_every=100)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    script = tmp_path / "ddp.py"
    script.write_text(textwrap.dedent(f"""
        import os, sys, torch
        sys.path.insert(0, {str(ROOT)!r})
        from restore.despike.train import train_model
        summary, model = train_model({str(tmp_path / 'cfg.yaml')!r}, {str(tmp_path / 'run')!r})
        rank = int(os.environ["RANK"])
        torch.save(model.state_dict(), {str(tmp_path)!r} + f"/rank{{rank}}.pt")
    """))
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "--master_addr", "127.0.0.1", "--master_port", "29531",
                           str(script)], env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a = torch.load(tmp_path / "rank0.pt", weights_only=True)
    b = torch.load(tmp_path / "rank1.pt", weights_only=True)
    init = DeSpikeNet(TINY_TRAIN["model"]).state_dict()
    moved = False
    for k in a:
        assert torch.equal(a[k], b[k]), k
        moved |= not torch.equal(a[k], init[k])
    assert moved      # the steps did change the parameters


# ---------------------------------------------------------------- weights and inference
@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    d = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    model = DeSpikeNet(TINY_TRAIN["model"])
    for level in model.levels:        # non-zero residual heads (they start at zero)
        torch.nn.init.normal_(level.head.weight, std=0.2)
    save_torch(weights_payload(model, {"steps": 0}), d / "tiny.pt")
    return d / "tiny.pt", model


def test_weights_round_trip(tiny_weights):
    path, model = tiny_weights
    loaded = load_model(path, config=TINY_TRAIN["model"])
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)


def test_weights_of_another_config_are_refused(tiny_weights):
    path, _ = tiny_weights
    with pytest.raises(InputError, match="despike-small"):
        load_model(path, config="despike-small")


def test_corrupt_or_foreign_weights_are_refused(tiny_weights, tmp_path):
    path, _ = tiny_weights
    bad = tmp_path / "bad.pt"
    bad.write_bytes(path.read_bytes()[:200])
    with pytest.raises(InputError, match="corrupt"):
        read_weights(bad)
    torch.save({"model": {}, "optim": {}, "step": 3}, tmp_path / "ckpt.pt")
    with pytest.raises(InputError, match="checkpoint"):
        read_weights(tmp_path / "ckpt.pt")
    payload = torch.load(path, weights_only=True)
    payload["state_dict"].pop(next(iter(payload["state_dict"])))
    torch.save(payload, tmp_path / "missing.pt")
    with pytest.raises(InputError, match="do not match"):
        load_model(tmp_path / "missing.pt")


def test_cuda_request_without_cuda(tiny_weights):
    path, _ = tiny_weights
    if torch.cuda.is_available():
        assert next(load_model(path, device="cuda").parameters()).is_cuda
    else:
        with pytest.raises(InputError, match="--device"):
            load_model(path, device="cuda")


def test_inference_any_size_batches_and_tiles(tiny_weights, device):
    path, _ = tiny_weights
    model = load_model(path, device=device)
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.uniform(0.1, 0.5, (2, 3, 37, 53)).astype(np.float32))
    whole = predict(model, x, device=device)
    assert whole.shape == (2, 37, 53) and np.isfinite(whole).all()
    one = predict(model, x[1:], device=device)
    np.testing.assert_allclose(one[0], whole[1], **tol(np.float32))
    assert not np.allclose(whole[:, :, :], x[:, -1].numpy(), atol=1e-3)
    tiled = predict(model, x, tile=24, overlap=4, device=device)
    assert tiled.shape == whole.shape and np.isfinite(tiled).all()
    # tiles share the frame's normalisation: the tiled estimate stays close to the whole one
    assert np.median(np.abs(tiled - whole)) < 0.1 * np.median(np.abs(whole))


def test_dihedral_transforms_invert_and_are_eight_distinct():
    x = torch.arange(2 * 3 * 5, dtype=torch.float32).reshape(1, 2, 3, 5)
    seen = set()
    for k in range(8):
        y = dihedral(x, k)
        assert torch.equal(dihedral_inverse(y, k), x)
        seen.add((tuple(y.shape), tuple(y.flatten().tolist())))
    assert len(seen) == 8                                  # 8 distinct maps of a 3x5 frame
    assert torch.equal(dihedral(x, 0), x)


def test_self_ensemble_is_equivariant_and_differs_from_one_pass(tiny_weights, device):
    """Averaging over the group makes the output follow any flip/transpose of the input
    exactly, which one pass of the (not equivariant) network does not."""
    path, _ = tiny_weights
    model = load_model(path, device=device)
    rng = np.random.default_rng(3)
    x = torch.from_numpy(rng.uniform(0.1, 0.5, (1, 3, 20, 28)).astype(np.float32))
    ens = predict(model, x, self_ensemble=True, device=device)
    one = predict(model, x, device=device)
    assert ens.shape == one.shape == (1, 20, 28)
    assert np.abs(ens - one).max() > 1e-5
    k = 6                                                   # transpose, then vertical flip
    ens_t = predict(model, dihedral(x, k).contiguous(), self_ensemble=True, device=device)
    np.testing.assert_allclose(dihedral_inverse(torch.from_numpy(ens_t), k).numpy(), ens,
                               rtol=1e-4, atol=1e-5)
    one_t = predict(model, dihedral(x, k).contiguous(), device=device)
    assert np.abs(dihedral_inverse(torch.from_numpy(one_t), k).numpy() - one).max() > 1e-5


def test_restore_despike_on_short_and_too_short_streams(tiny_weights):
    path, _ = tiny_weights
    s = (np.random.default_rng(0).random((40, 8, 16)) < 0.3).astype(np.uint8)
    lam = restore_despike(s, None, weights=path)       # windows 16/32/64 clipped to 40
    assert lam.shape == (8, 16) and lam.dtype == np.float32
    with pytest.raises(InputError, match="at least 8 steps"):
        restore_despike(s[:5], None, weights=path)
    from calibration.calfile import Calibration

    with pytest.raises(InputError, match="calibration"):
        restore_despike(s, Calibration.identity(4, 4), weights=path)
    same = restore_despike(s, Calibration.identity(8, 16), weights=path)
    np.testing.assert_allclose(same, lam, rtol=1e-5, atol=1e-6)   # identity == uncalibrated


# ---------------------------------------------------------------- data
def test_procedural_examples_are_deterministic_and_target_lambda(tmp_path):
    from restore.despike.configs import train_config
    from restore.despike.data import ProceduralDataset

    cfg = train_config(TINY_TRAIN)
    a = ProceduralDataset(cfg.data, cfg.model, seed=3, size=16, cache_dir=tmp_path)
    b = ProceduralDataset(cfg.data, cfg.model, seed=3, size=16, cache_dir=tmp_path,
                          augment=False)
    e1, e2 = a[5], a[5]
    assert torch.equal(e1["x"], e2["x"]) and torch.equal(e1["target"], e2["target"])
    assert e1["x"].shape == (3, 16, 16) and e1["target"].shape == (16, 16)
    sample, _ = b.sample(5)
    lam = sample.sharp * sample.params["camera"]["k"] * sample.params["illuminance"]
    ex = b[5]
    np.testing.assert_allclose(ex["target"].numpy(), lam, rtol=1e-6)
    np.testing.assert_allclose(float(ex["to_value"]) * ex["target"].numpy(), sample.sharp,
                               rtol=1e-5, atol=1e-6)
    assert not torch.equal(a[6]["x"], e1["x"])


def test_pool_views_are_exact_crops_and_reload_identically(tmp_path):
    """A pooled view equals the features computed on the cropped stream with the cropped
    calibration (IF features are per pixel), short variants clip the windows as at
    evaluation, and a second dataset reloads the pool from disk and gives the same items."""
    from restore.despike.configs import train_config
    from restore.despike.data import ProceduralDataset, _crop_calibration
    from restore.despike.encoding import features_for
    from restore.despike.pool import PooledDataset, pooled_sample

    mapping = dict(TINY_TRAIN, data=dict(TINY_TRAIN["data"], pool=3, pool_size=24,
                                         short_prob=0.5, short_lengths=[40]))
    cfg = train_config(mapping)
    source = ProceduralDataset(cfg.data, cfg.model, seed=7, size=24, augment=False,
                               cache_dir=tmp_path)
    item = pooled_sample(source, 1, [40])
    assert item["x"].shape == (2, 3, 24, 24)
    sample, calib = source.sample(1)
    key = int(sample.params["key_step"])
    y0, x0, c = 5, 3, 16
    crop = np.ascontiguousarray(sample.stream[:, y0:y0 + c, x0:x0 + c])
    direct, _ = features_for(crop, _crop_calibration(calib, y0, x0, c, c), cfg.model, key)
    np.testing.assert_allclose(item["x"][0, :, y0:y0 + c, x0:x0 + c].astype(np.float32),
                               direct, rtol=1e-3, atol=1e-4)
    short = crop[key - 20:key + 20]
    direct_short, _ = features_for(short, _crop_calibration(calib, y0, x0, c, c), cfg.model, 20)
    np.testing.assert_allclose(item["x"][1, :, y0:y0 + c, x0:x0 + c].astype(np.float32),
                               direct_short, rtol=1e-3, atol=1e-4)
    # the pooled target and exposure are those of a plain example of the same sample
    from restore.despike.data import make_example

    plain = make_example(sample, calib, cfg.model)
    np.testing.assert_array_equal(item["target"], plain["target"].numpy())
    assert np.float32(item["to_value"]) == plain["to_value"].item()
    # window 64 is clipped to the 40 steps of the short variant; window 16 is not
    assert np.array_equal(item["x"][1, 0], item["x"][0, 0])
    assert not np.array_equal(item["x"][1, 2], item["x"][0, 2])

    a = PooledDataset(cfg.data, cfg.model, seed=7, cache_dir=tmp_path / "c")
    chunks = sorted((tmp_path / "c").glob("pool-*/chunk-*.npz"))
    stamp = [p.stat().st_mtime_ns for p in chunks]
    b = PooledDataset(cfg.data, cfg.model, seed=7, cache_dir=tmp_path / "c")
    assert [p.stat().st_mtime_ns for p in chunks] == stamp           # reloaded, not remade
    np.testing.assert_array_equal(a.pool["x"][1], item["x"])
    for i in (0, 5, 11):
        ea, eb = a[i], b[i]
        assert torch.equal(ea["x"], eb["x"]) and torch.equal(ea["target"], eb["target"])
        assert ea["x"].shape == (3, 16, 16)
    assert any(not torch.equal(a[i]["x"], a[0]["x"]) for i in range(1, 6))
    # an unreadable chunk (here: truncated) is made again, with the same bytes
    chunk = chunks[0]
    whole = chunk.read_bytes()
    chunk.write_bytes(whole[: len(whole) // 2])
    again = PooledDataset(cfg.data, cfg.model, seed=7, cache_dir=tmp_path / "c")
    assert chunk.read_bytes() == whole
    np.testing.assert_array_equal(again.pool["x"], a.pool["x"])
    # a smaller pool in the same cache loads its own chunks only (same samples, by index)
    small = train_config(dict(mapping, data=dict(mapping["data"], pool=2)))
    c = PooledDataset(small.data, small.model, seed=7, cache_dir=tmp_path / "c")
    assert len(c.pool["x"]) == 2
    np.testing.assert_array_equal(c.pool["x"][1], item["x"])


def test_directory_dataset_streams_a_generated_directory(tmp_path):
    from spikesim.dataset import generate_dataset, load_dataset_config
    from restore.despike.configs import train_config
    from restore.despike.data import GeneratedDirDataset

    gen = load_dataset_config({"width": 24, "height": 24, "steps": 192, "num": 2, "seed": 1})
    generate_dataset(gen, tmp_path / "ds")
    cfg = train_config(TINY_TRAIN)
    ds = GeneratedDirDataset(tmp_path / "ds", cfg.data, cfg.model, seed=0, crop=16,
                             cache_dir=tmp_path / "cache")
    assert len(ds) == 2
    ex = ds[1]
    assert ex["x"].shape == (3, 16, 16) and ex["target"].shape == (16, 16)
    assert torch.isfinite(ex["x"]).all() and float(ex["target"].mean()) > 0
    assert len(list((tmp_path / "cache").glob("calib-*.npz"))) == 1   # the camera, calibrated


def test_calibrated_features_flatten_a_uniform_field(tmp_path):
    """The toolkit's calibration (Eq. 14 weight) removes most FPN from the IF features."""
    import dataclasses

    from spikesim.camera import Camera
    from spikesim.config import CameraProfile
    from restore.despike.configs import model_config
    from restore.despike.data import calibrate_camera
    from restore.despike.encoding import features_for

    cam = dataclasses.replace(CameraProfile(), width=32, height=32, gain_sd=0.08,
                              hot_fraction=0.0, dead_fraction=0.0, theta_sd=0.0)
    calib = calibrate_camera(Camera(cam, 7), [0.0, 0.2, 0.45], 4000, seed=1, cache_dir=tmp_path)
    stream = Camera(cam, 7).capture(np.full((32, 32), 0.3 / cam.k, np.float32), 2000, seed=5)
    cfg = model_config({"preset": "despike-small", "windows": [1000, 2000]})
    raw, _ = features_for(stream, None, cfg)
    cor, _ = features_for(stream, calib, cfg)
    nu_raw = raw[-1].std() / raw[-1].mean()
    nu_cor = cor[-1].std() / cor[-1].mean()
    assert nu_raw > 0.05            # gain s.d. 8 % shows up
    assert nu_cor < 0.3 * nu_raw    # and is mostly corrected
    # the full inverse gives the ideal pixel's charge per step, λ = k E = 0.3 (no dark signal)
    assert abs(float(np.median(cor[-1])) - 0.3) < 0.01
    w = model_config({"preset": "despike-small", "windows": [1000, 2000], "correction": "weight"})
    cw, _ = features_for(stream, calib, w)
    assert cw[-1].std() / cw[-1].mean() < 0.3 * nu_raw


def test_short_stream_augmentation_clips_the_windows(tmp_path):
    """short_prob 1, L = 32: windows 32 and 64 both become the same 32 steps."""
    from restore.despike.configs import train_config
    from restore.despike.data import ProceduralDataset

    cfg = train_config(dict(TINY_TRAIN, data=dict(TINY_TRAIN["data"], short_prob=1.0,
                                                  short_lengths=[32])))
    ex = ProceduralDataset(cfg.data, cfg.model, seed=3, size=16, cache_dir=tmp_path)[0]
    assert torch.equal(ex["x"][1], ex["x"][2]) and not torch.equal(ex["x"][0], ex["x"][1])
    full = train_config(TINY_TRAIN)
    ex2 = ProceduralDataset(full.data, full.model, seed=3, size=16, cache_dir=tmp_path,
                            augment=False)[0]
    assert not torch.equal(ex2["x"][0], ex2["x"][2])


def test_bundled_weights_load_safely_and_are_the_small_preset():
    """Every bundled file loads with weights_only=True and is the despike-small network
    (the default adds the calibration flag input of the natural recipe), with its card."""
    import dataclasses

    from restore.despike.configs import PRESETS
    for path in (bundled_weights_path(), procedural_weights_path()):
        assert path.stat().st_size < 25 * 2**20
        payload = read_weights(path)              # torch.load(weights_only=True)
        assert payload["meta"]["steps"] > 0
        assert card_path(path).is_file()
    model = load_model(None, config=dataclasses.replace(PRESETS["despike-small"],
                                                        calibration_flag=True))
    assert model.config.widths == PRESETS["despike-small"].widths
    assert load_model(procedural_weights_path(), config="despike-small").config == \
        PRESETS["despike-small"]


@pytest.mark.parametrize("which", ["default", "procedural"])
def test_bundled_model_card_was_written_from_the_bundled_weights(which):
    """Each card is `spikerestore card`'s output for its weights (not hand-written): its
    header, parameter count, steps and validation figure are the weights' own, and the
    evaluations it quotes name these bytes (sha256)."""
    import hashlib

    from restore.despike.card import CARD_HEADER
    from restore.despike.model import count_parameters

    path = bundled_weights_path() if which == "default" else procedural_weights_path()
    card = card_path(path).read_text(encoding="utf-8")
    meta = read_weights(path)["meta"]
    assert card.startswith(CARD_HEADER + "\n")
    assert f"- parameters: {count_parameters(load_model(path))}\n" in card
    assert f"- optimiser steps: {meta['steps']} of " in card
    assert f"- these weights: PSNR {meta['validation']['psnr']:.2f} dB" in card
    assert "testset --methods despike," in card      # the procedural test set's evaluation
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    assert f"(sha256 {digest})`" in card


def test_procedural_weights_were_trained_by_the_shipped_configs():
    """Provenance: the procedural weights record the exact config they were trained with, and
    that is examples/configs/train_wide.yaml (one stage from scratch, no init), whose
    model is the despike-small preset — what the README's command reproduces. The stored
    config is read with today's defaults (keys added since keep theirs, e.g.
    ``calibration_flag: false``), as a resumed run's config is."""
    from restore.despike.configs import PRESETS, config_to_dict, train_config
    meta = read_weights(procedural_weights_path())["meta"]
    cfg = train_config(ROOT / "examples" / "configs" / "train_wide.yaml")
    assert config_to_dict(train_config(meta["train_config"])) == config_to_dict(cfg)
    assert cfg.init == "" and meta["init"] is None
    assert cfg.model == PRESETS["despike-small"]
    assert meta["steps"] <= cfg.steps


def test_default_weights_were_trained_by_the_natural_chain():
    """Provenance of the default: its last stage is train_natural_long.yaml exactly, and the
    chain of starts it records goes back through the photograph-share stage and
    train_natural.yaml to the procedural weights' run (docs/despike.md §2)."""
    from restore.despike.configs import config_to_dict, train_config
    meta = read_weights(bundled_weights_path())["meta"]
    cfg = train_config(ROOT / "experiments" / "configs" / "train_natural_long.yaml")
    assert config_to_dict(train_config(meta["train_config"])) == config_to_dict(cfg)
    starts, start = [], meta["init"]
    while start:
        starts.append(start)
        start = start.get("init")
    assert meta["steps"] == cfg.steps and len(starts) == 3
    assert starts[-1]["path"].endswith(settings.DESPIKE_PROCEDURAL_WEIGHTS_FILE)
    assert starts[-1]["steps"] == read_weights(procedural_weights_path())["meta"]["steps"]
