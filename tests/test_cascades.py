"""The learned cascades (restore.cascades): sizes against their targets, the networks'
invariants, training on DeSpike's loop (resume bit for bit), weights, and the methods."""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

from spikesim.errors import InputError
from spikesim.sensor import simulate_spikes
from tests.tolerances import tol

from restore import methods, settings
from restore.cascades import catalog
from restore.cascades.configs import (CPU_TARGETS, DESPIKE_SMALL_PARAMETERS, PRESETS,
                                      PUBLISHED_PARAMETERS, feature_config, stage_config)
from restore.cascades.gkmnet import GKMNet, gaussian_bank
from restore.cascades.model import ReconstructThenDeblur, build_from_record, stage_record
from restore.cascades.spk2imgnet import Spk2ImgNet
from restore.cascades.train import budget, train_stage
from restore.cascades.weights import load_stage, read_stage_weights
from restore.despike.model import count_parameters
from restore.despike.weights import bundled_weights_path, load_model, procedural_weights_path

FEATURES = {"windows": [16, 32, 64], "calibration_flag": True}
TINY_SPK = {"preset": "spk2imgnet-cpu", "name": "spk2imgnet-tiny", "window_channels": 4,
            "channels": 8, "body_blocks": 2}
TINY_GKM = {"preset": "gkmnet-cpu", "name": "gkmnet-tiny", "channels": 4, "blocks": [1, 1, 1],
            "num_kernels": 4, "kernel_size": 7}
TINY_TRAIN = {
    "loss": {"window_beta": [0.3, 0.6, 1.0]},
    "steps": 2, "batch_size": 1, "warmup": 1, "val_every": 2, "ckpt_every": 1, "log_every": 1,
    "threads": 1,
    "data": {"crop": 16, "steps": 192, "cameras": 2, "calib_steps": 200, "pool": 2,
             "pool_size": 16, "val_samples": 1, "val_size": 16, "val_cameras": 1},
}


def _stage(stage, network, first_stage=""):
    return {"stage": stage, "network": network, "first_stage": first_stage,
            "features": FEATURES, "train": TINY_TRAIN}


def _state(path):
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


# ---- sizes ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["spk2imgnet", "gkmnet"])
def test_published_sizes_match_the_paper(name):
    """Spk2ImgNet 3.90 M (DeSpike paper, Table 3); GKMNet 5.31 - 3.90 M (its cascade with
    Spk2ImgNet in the same table), within 2 %."""
    got = catalog.preset_parameters(name)
    assert abs(got / PUBLISHED_PARAMETERS[name] - 1) < 0.02, got


def test_cpu_sizes_match_the_bundled_despike():
    """spk2imgnet-cpu within ±25 % of the bundled despike's count (the issue's rule; in
    fact within 2 %), gkmnet-cpu within 5 % of the published ratio applied to it."""
    if procedural_weights_path().is_file():
        assert count_parameters(load_model(procedural_weights_path())) == \
            DESPIKE_SMALL_PARAMETERS
    if bundled_weights_path().is_file():            # + the calibration flag's input
        assert 0 < count_parameters(load_model()) - DESPIKE_SMALL_PARAMETERS < 100
    spk = catalog.preset_parameters("spk2imgnet-cpu")
    assert abs(spk / DESPIKE_SMALL_PARAMETERS - 1) < 0.25
    assert abs(spk / CPU_TARGETS["spk2imgnet-cpu"] - 1) < 0.02
    assert abs(catalog.preset_parameters("gkmnet-cpu") / CPU_TARGETS["gkmnet-cpu"] - 1) < 0.05


def test_models_lists_the_networks_and_the_methods(no_bundled):
    from cli.spikerestore_cli import main

    res = CliRunner().invoke(main, ["models", "--json"])
    assert res.exit_code == 0, res.output
    import json

    rows = {r["name"] + ("@method" if r.get("method") else ""): r for r in json.loads(res.output)}
    for name in PRESETS:
        assert rows[name]["parameters"] == catalog.preset_parameters(name)
    assert (rows["spk2imgnet+gkmnet@method"]["parameters"]
            == rows["spk2imgnet-cpu"]["parameters"] + rows["gkmnet-cpu"]["parameters"])
    assert rows["tfp+gkmnet@method"]["bundled_weights"] is None
    for path in bundled_weights_path().parent.glob("*.pt"):     # every bundled despike file
        assert rows[path.name]["bundled_weights"] == str(path)
        assert rows[path.name]["parameters"] == count_parameters(load_model(path))
    if procedural_weights_path().is_file():     # the preset whose exact config a file holds
        assert rows["despike-small"]["bundled_weights"] == str(procedural_weights_path())
    assert rows["despike-small-v2"]["bundled_weights"] is None


# ---- the networks ------------------------------------------------------------------


def _features(b=2, h=20, w=28, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, h, w, generator=g) * 0.4 + 0.05


def test_untrained_spk2imgnet_returns_the_longest_window(device):
    """Its last convolution starts at zero: training starts from TFP (the longest
    window), whatever the calibration flag."""
    torch.manual_seed(0)
    net = Spk2ImgNet(PRESETS["spk2imgnet-cpu"], feature_config("t", FEATURES)).to(device)
    x = _features().to(device)
    out = net(x, calibrated=torch.tensor([1.0, 0.0], device=device))
    assert out["out"].shape == (2, 20, 28) and out["grid"][0].shape == (2, 1, 20, 28)
    torch.testing.assert_close(out["out"], x[:, -1], **tol(torch.float32))
    with pytest.raises(ValueError, match="calibrated"):
        net(x)
    with pytest.raises(ValueError, match="expected 3 windows"):
        net(x[:, :2], calibrated=1.0)


def test_gaussian_bank_is_normalised_and_widening():
    bank = gaussian_bank(5, 15, 0.3, 3.5)
    assert bank.shape == (5, 1, 15, 15)
    torch.testing.assert_close(bank.sum(dim=(-2, -1)), torch.ones(5, 1))
    centre = bank[:, 0, 7, 7]
    assert bool((centre[1:] < centre[:-1]).all()) and float(centre[0]) > 0.98   # σ 0.3 px: almost a delta


def test_gkmnet_scales_shapes_and_constant_fixed_point(device):
    """Outputs coarse to fine, the finest the input's size (any size: padded and cropped);
    a constant image is a fixed point of every step (each mixture is a normalised PSF, the
    correction starts at zero), so an untrained network returns it unchanged."""
    torch.manual_seed(1)
    net = GKMNet(PRESETS["gkmnet-cpu"]).to(device)
    outs = net(torch.rand(2, 18, 22, device=device))
    assert [tuple(o.shape) for o in outs] == [(2, 1, 5, 6), (2, 1, 9, 11), (2, 1, 18, 22)]
    flat = torch.full((1, 18, 22), 0.7, device=device)
    torch.testing.assert_close(net(flat)[-1][:, 0], flat, rtol=1e-5, atol=1e-5)
    step = net(torch.rand(1, 16, 16, device=device))[-1]
    assert step.shape == (1, 1, 16, 16) and bool(torch.isfinite(step).all())


def test_tfp_cascade_deblurs_the_longest_window_and_round_trips_its_record():
    torch.manual_seed(2)
    features = feature_config("gkmnet-tiny", FEATURES)
    model = ReconstructThenDeblur(GKMNet(stage_config(_stage("deblur", TINY_GKM, "tfp")).network),
                                  None, features)
    x = _features(1, 16, 16)
    torch.testing.assert_close(model.first_estimate(x, model.image_scale(x), 1.0), x[:, -1])
    out = model(x, calibrated=1.0)
    assert out["out"].shape == (1, 16, 16) and len(out["grid"]) == 3
    again = build_from_record(stage_record(model))
    again.load_state_dict(model.state_dict())
    torch.testing.assert_close(again(x, calibrated=1.0)["out"], out["out"])


def test_stage_configs_refuse_what_does_not_belong():
    with pytest.raises(InputError, match="first_stage"):
        stage_config(_stage("deblur", TINY_GKM))
    with pytest.raises(InputError, match="a gkmnet network"):
        stage_config(_stage("deblur", TINY_SPK, "tfp"))
    with pytest.raises(InputError, match="train.model"):
        stage_config(dict(_stage("reconstruct", TINY_SPK), train={"model": {}}))
    with pytest.raises(InputError, match="features.widths"):
        stage_config(dict(_stage("reconstruct", TINY_SPK), features={"widths": [1, 2, 3]}))


# ---- methods without weights --------------------------------------------------------


def _stream(h=16, w=20, steps=96, seed=3):
    lam = np.tile(np.linspace(0.05, 0.6, w, dtype=np.float32), (h, 1))
    return simulate_spikes(lam, steps, dead_time=1, seed=seed)


@pytest.fixture
def no_bundled(tmp_path, monkeypatch):
    """An empty bundled-weights directory (whatever restore/cascades/weights/ holds)."""
    from restore.cascades import weights

    folder = tmp_path / "bundled"
    folder.mkdir()
    monkeypatch.setattr(weights, "WEIGHTS_DIR", folder)
    return folder


@pytest.mark.parametrize("method", settings.LEARNED_CASCADE_METHODS)
def test_methods_without_bundled_weights_say_how_to_train_them(method, no_bundled):
    with pytest.raises(InputError) as err:
        methods.restore(_stream(), method)
    text = str(err.value)
    assert "\n" not in text and "no weights are bundled yet" in text
    assert "spikerestore train-cascade --config experiments/configs/cascade_" in text
    assert "--weights" in text


def test_run_cli_without_cascade_weights_exits_2_with_one_line(tmp_path, no_bundled):
    from cli.spikerestore_cli import main

    path = tmp_path / "c.dat"
    _stream().write_dat(path)
    res = CliRunner().invoke(main, ["run", str(path), "--size", "20x16", "--method",
                                    "tfp+gkmnet", "-o", str(tmp_path / "out.png")])
    assert res.exit_code == 2
    assert "no weights are bundled yet" in res.output and len(res.output.strip().splitlines()) == 1


# ---- training and the methods end to end -------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Three 2-step stage runs sharing one cache: reconstruct, deblur after it, deblur
    after TFP."""
    root = tmp_path_factory.mktemp("cascades")
    cache = root / "cache"
    train_stage(_stage("reconstruct", TINY_SPK), root / "rec", cache_dir=cache)
    train_stage(_stage("deblur", TINY_GKM, str(root / "rec" / "final.pt")), root / "deb",
                cache_dir=cache)
    train_stage(_stage("deblur", TINY_GKM, "tfp"), root / "tfp", cache_dir=cache)
    return root


def test_stage_runs_write_the_despike_run_layout_and_cascade_weights(trained):
    for run in ("rec", "deb", "tfp"):
        for name in ("config.yaml", "cascade.yaml", "checkpoint.pt", "best.pt", "final.pt",
                     "log.csv", "val.csv", "summary.json"):
            assert (trained / run / name).is_file(), (run, name)
    rec = read_stage_weights(trained / "rec" / "final.pt")
    assert rec["config"]["stage"] == "reconstruct"
    deb = load_stage(trained / "deb" / "final.pt")
    # the first stage is frozen: its parameters are the reconstruct run's, unchanged
    first = {k.removeprefix("first."): v for k, v in _state(trained / "deb" / "final.pt").items()
             if k.startswith("first.")}
    assert first.keys() == _state(trained / "rec" / "final.pt").keys()
    for k, v in _state(trained / "rec" / "final.pt").items():
        assert torch.equal(first[k], v), k
    # the budget on record: 2 steps x 1 x 16² here, plus the first stage's
    assert budget(rec["meta"]) == {"steps": 2, "examples": 2, "pixels": 512}
    assert budget(deb.meta) == {"steps": 4, "examples": 4, "pixels": 1024}


def test_resumed_stage_continues_to_the_same_parameters(trained, tmp_path):
    """N steps straight == 1 step, interruption, resume (bit for bit on CPU), for the
    deblur stage after Spk2ImgNet (the first stage reloaded on resume)."""
    cfg = _stage("deblur", TINY_GKM, str(trained / "rec" / "final.pt"))
    train_stage(cfg, tmp_path, cache_dir=trained / "cache", stop_after=1)
    assert not (tmp_path / "final.pt").exists()
    train_stage(cfg, tmp_path, resume=True)
    a, b = _state(trained / "deb" / "final.pt"), _state(tmp_path / "final.pt")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    changed = dict(cfg, network=dict(TINY_GKM, num_kernels=5))
    with pytest.raises(InputError, match="cascade.yaml"):
        train_stage(changed, tmp_path, resume=True)
    # a run killed before it wrote cascade.yaml: the resume writes it, so the next
    # resume compares the stage again
    (tmp_path / "cascade.yaml").unlink()
    train_stage(cfg, tmp_path, resume=True)
    assert (tmp_path / "cascade.yaml").is_file()
    with pytest.raises(InputError, match="cascade.yaml"):
        train_stage(changed, tmp_path, resume=True)


def test_a_stage_continued_with_init_starts_from_its_weights_and_counts_their_budget(
        trained, tmp_path):
    """``train.init`` (a retrained despike's cascades continue, issue 20): step 0 computes
    the start's function (its GKMNet loaded, the first stage its own), the budget on
    record is the start's plus the continuation's, and the card counts both; weights of
    another stage or another first stage are refused, naming init."""
    from restore.cascades.card import budget_lines

    base = _stage("deblur", TINY_GKM, str(trained / "rec" / "final.pt"))
    cont = dict(base, train=dict(TINY_TRAIN, init=str(trained / "deb" / "final.pt")))
    train_stage(cont, tmp_path / "c", cache_dir=trained / "cache")
    meta = load_stage(tmp_path / "c" / "final.pt").meta
    assert meta["init"]["budget"] == {"steps": 2, "examples": 2, "pixels": 512}
    # 2 own + 2 continued + 2 of the first stage
    assert budget(meta) == {"steps": 6, "examples": 6, "pixels": 1536}
    summary = yaml.safe_load((tmp_path / "c" / "summary.json").read_text())   # JSON is YAML
    text = "\n".join(budget_lines(meta, summary, None))
    assert "continued from" in text and "6 steps, 6 crops, 1,536 px spent" in text
    # a resumed continuation reads its start from the checkpoint, not the init file
    start_copy = tmp_path / "start.pt"
    start_copy.write_bytes((trained / "deb" / "final.pt").read_bytes())
    again = dict(base, train=dict(TINY_TRAIN, init=str(start_copy)))
    train_stage(again, tmp_path / "r", cache_dir=trained / "cache", stop_after=1)
    start_copy.write_bytes(b"not weights any more")
    train_stage(again, tmp_path / "r", resume=True)
    for k, v in _state(tmp_path / "c" / "final.pt").items():
        assert torch.equal(v, _state(tmp_path / "r" / "final.pt")[k]), k
    for other in ("rec", "tfp"):   # a reconstruct stage's; the TFP cascade's (first stage)
        with pytest.raises(InputError, match="^init: "):
            train_stage(dict(base, train=dict(TINY_TRAIN, init=str(trained / other / "final.pt"))),
                        tmp_path / other, cache_dir=trained / "cache")
        assert not (tmp_path / other).exists()          # refused before anything is written


def test_card_counts_what_the_start_run_spent(trained, tmp_path):
    """The budget section counts a continued stage's start, and a first stage, by what
    their runs spent when the run is beside the weights (its summary.json), as selected
    weights otherwise; the start's own start is counted too."""
    import json
    import shutil

    from restore.cascades.card import budget_lines

    start = tmp_path / "start" / "best.pt"          # selected at step 2 of a 5-step run
    start.parent.mkdir()
    shutil.copy(trained / "deb" / "final.pt", start)
    (start.parent / "summary.json").write_text(json.dumps({"step": 5, "steps": 5}))
    meta = dict(load_stage(trained / "deb" / "final.pt").meta,
                init={"path": str(start), "budget": {"steps": 2, "examples": 2, "pixels": 512}})
    text = "\n".join(budget_lines(meta, {"step": 2, "steps": 2}, None))
    # 2 own + 5 spent by the start's run + 2 spent by the first stage's run
    assert "the whole cascade: 9 steps, 9 crops, 2,304 px spent" in text, text
    (start.parent / "summary.json").unlink()
    text = "\n".join(budget_lines(meta, {"step": 2, "steps": 2}, None))
    assert "the whole cascade: 6 steps" in text and "spent unknown" in text, text


def test_init_loads_the_start_function_exactly(trained):
    """The continued model before its first step is the start's model: same outputs."""
    from restore.cascades.configs import stage_config
    from restore.cascades.train import _init_from

    stage = stage_config(dict(_stage("deblur", TINY_GKM, "tfp"),
                              train=dict(TINY_TRAIN, init=str(trained / "tfp" / "final.pt"))))
    torch.manual_seed(5)
    model = ReconstructThenDeblur(GKMNet(stage.network), None, stage.features)
    record = _init_from(model, stage.train, {"method": "tfp"})
    start = load_stage(trained / "tfp" / "final.pt")
    assert record["steps"] == 2 and record["budget"]["steps"] == 2
    x = _features(1, 16, 16)
    torch.testing.assert_close(model.eval()(x, calibrated=1.0)["out"],
                               start(x, calibrated=1.0)["out"])


def test_train_cascade_cli_reports_each_step_once(trained, tmp_path):
    """One progress path (the loop's log line, as ``spikerestore train``): each logged
    step appears once on stderr, none with -q; the summary line once on stdout."""
    import yaml

    from cli.spikerestore_cli import main

    cfg = tmp_path / "stage.yaml"
    cfg.write_text(yaml.safe_dump(_stage("deblur", TINY_GKM, "tfp")))
    args = ["train-cascade", "--config", str(cfg), "--cache", str(trained / "cache")]
    res = CliRunner().invoke(main, args + ["-o", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    for step in (1, 2):
        assert sum(f"step {step}/2 " in line for line in res.stderr.splitlines()) == 1, \
            res.stderr
    assert res.stdout.count("gkmnet-tiny: 2/2 steps in") == 1, res.stdout
    quiet = CliRunner().invoke(main, args + ["-o", str(tmp_path / "quiet"), "-q"])
    assert quiet.exit_code == 0 and "step 1/2" not in quiet.output, quiet.output


def test_cascade_methods_run_end_to_end_with_trained_weights(trained):
    stream = _stream()
    files = {"spk2imgnet": "rec", "spk2imgnet+gkmnet": "deb", "tfp+gkmnet": "tfp"}
    for method, run in files.items():
        res = methods.restore(stream, method, weights=trained / run / "final.pt")
        assert res.method == method and res.lam.shape == (16, 20)
        assert res.lam.dtype == np.float32 and np.isfinite(res.lam).all()
        assert 0.0 < float(np.median(res.lam)) < 2.0
    with pytest.raises(InputError, match="weights of the method tfp\\+gkmnet"):
        methods.restore(stream, "tfp+gkmnet", weights=trained / "deb" / "final.pt")
    with pytest.raises(InputError, match="cascade weights file"):
        methods.restore(stream, "spk2imgnet", weights=trained / "rec" / "checkpoint.pt")


# ---- the training configs -------------------------------------------------------------

CONFIGS = ("cascade_spk2imgnet.yaml", "cascade_spk2imgnet_gkmnet.yaml", "cascade_tfp_gkmnet.yaml")


def test_cascade_configs_use_despikes_data_and_budget():
    """The stage configs: train_natural.yaml's data and validation key for key (the same
    pool digest, so its cache serves them) and the continuation train_natural_long.yaml's, and
    each cascade's total steps x batch x crop² equal to despike-natural's recipe, the
    chain of configs card.py compares with (cli.restore_card.DESPIKE_RECIPE: 10,000 +
    900 + 600 + 2,000 steps, batch 8, crop 96)."""
    from cli.restore_card import DESPIKE_RECIPE
    from restore.despike.configs import train_config
    from restore.despike.pool import _pool_digest

    root = Path(__file__).resolve().parents[1]
    recipe = [train_config(p) for p in DESPIKE_RECIPE]
    despike = sum(c.steps * c.batch_size * c.data.crop ** 2 for c in recipe)
    assert [c.steps for c in recipe] == [10000, 900, 600, 2000]
    natural, long_run = recipe[1], recipe[3]
    stages = {name: stage_config(root / "experiments/configs" / name)
              for name in CONFIGS + ("cascade_tfp_gkmnet_long.yaml",)}
    for name, stage in stages.items():
        like = long_run if name == "cascade_tfp_gkmnet_long.yaml" else natural
        assert stage.train.data == like.data and stage.train.loss == like.loss
        assert stage.train.selection == like.selection
        assert (_pool_digest(stage.train.data, stage.train.model, stage.train.seed)
                == _pool_digest(like.data, like.model, like.seed))
    pixels = {n: s.train.steps * s.train.batch_size * s.train.data.crop ** 2
              for n, s in stages.items()}
    assert pixels["cascade_spk2imgnet.yaml"] + pixels["cascade_spk2imgnet_gkmnet.yaml"] == despike
    assert pixels["cascade_tfp_gkmnet.yaml"] + pixels["cascade_tfp_gkmnet_long.yaml"] == despike
    assert stages["cascade_tfp_gkmnet_long.yaml"].train.init == "runs/cascade_tfp_gkmnet/final.pt"
    assert stages["cascade_spk2imgnet_gkmnet.yaml"].first_stage.startswith(
        "runs/cascade_spk2imgnet/")
    assert settings.CASCADE_TRAINING["spk2imgnet+gkmnet"] == tuple(
        f"experiments/configs/{n}" for n in CONFIGS[:2])


def test_a_missing_first_stage_is_refused_before_anything_is_written(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(InputError, match="first_stage.*train it first"):
        train_stage(_stage("deblur", TINY_GKM, str(tmp_path / "no.pt")), run)
    assert not run.exists()


def test_cascade_inference_imports_nothing_from_training():
    """As for despike (tests/test_architecture.py): running a method needs no training code."""
    from tests.test_architecture import _imports, _is_parent, _modules

    mods = _modules()
    training = {"restore.despike.train", "restore.despike.data", "restore.despike.pool",
                "restore.despike.loss", "restore.cascades.train", "restore.cascades.loss"}
    seen, todo = set(), ["restore.cascades.infer"]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(t for t in _imports(m, mods[m], set(mods)) if not _is_parent(t, m))
    assert not seen & training, sorted(seen & training)
    assert {"restore.cascades.weights", "restore.despike.encoding"} <= seen


# ---- bundling, model cards, several networks in one evaluation ------------------------


def _sha(path):
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_card_bundle_makes_the_method_run_without_weights(trained, tmp_path, no_bundled):
    """`spikerestore card RUN --bundle`: the weights byte for byte under the method's
    bundled name, the card beside them; `run --method tfp+gkmnet` then needs no
    --weights (the same image as with them), `models` lists it as bundled, the methods
    without bundled weights keep their one-line error; bundling again needs --overwrite."""
    import json

    from cli.spikerestore_cli import main
    from tests.cli_helpers import invoke, one_line_error

    src = trained / "tfp" / "final.pt"
    res = invoke(main, "card", trained / "tfp", "--weights", "final.pt", "--bundle")
    assert res.exit_code == 0, res.output
    bundled = no_bundled / settings.CASCADE_WEIGHTS_FILES["tfp+gkmnet"]
    card = (no_bundled / "MODEL_CARD_tfp+gkmnet-cpu.md").read_text()
    assert _sha(bundled) == _sha(src) and f"sha256 `{_sha(src)}`" in card
    assert "# Model card: tfp+gkmnet (final.pt of" in card
    assert "| deblur | gkmnet-tiny | 10,261 | trained by this run |" in card
    assert "- this stage: 2 steps, 2 crops, 512 px spent (step 2 of 2 planned" in card
    val_steps = [ln.split(",")[0] for ln in (trained / "tfp" / "val.csv").read_text()
                 .splitlines()[1:]]
    assert [ln.split("|")[1].strip() for ln in card.splitlines()
            if ln.startswith("| ") and ln.split("|")[1].strip().isdigit()] == val_steps

    path = tmp_path / "c.dat"
    _stream().write_dat(path)
    common = ["run", path, "--size", "20x16", "--method", "tfp+gkmnet"]
    assert invoke(main, *common, "-o", tmp_path / "a.png").exit_code == 0
    assert invoke(main, *common, "--weights", src, "-o", tmp_path / "b.png").exit_code == 0
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    one_line_error(invoke(main, "run", path, "--size", "20x16", "--method", "spk2imgnet",
                          "-o", tmp_path / "s.png"), "no weights are bundled yet")
    rows = {r["name"]: r for r in json.loads(invoke(main, "models", "--json").output)
            if r.get("method")}
    assert rows["tfp+gkmnet"]["bundled_weights"] == str(bundled)
    assert rows["spk2imgnet"]["bundled_weights"] is None
    one_line_error(invoke(main, "card", trained / "tfp", "--weights", "final.pt", "--bundle"),
                   "--overwrite")


def test_card_of_a_deblur_stage_counts_its_first_stage(trained, tmp_path):
    """The card of spk2imgnet+gkmnet lists both networks (the first frozen) and adds the
    first stage's run to the budget; a card needs -o or --bundle; a weights file of
    another stage is refused by the bundling."""
    from cli.spikerestore_cli import main
    from restore.cascades.card import bundle
    from tests.cli_helpers import invoke, one_line_error

    out = tmp_path / "card.md"
    res = invoke(main, "card", trained / "deb", "--weights", "final.pt", "-o", out)
    assert res.exit_code == 0, res.output
    card = out.read_text()
    assert "| reconstruct | spk2imgnet-tiny | 3,556 | frozen" in card
    assert "its run spent 2 steps, 2 crops, 512 px" in card
    assert "- the whole cascade: 4 steps, 4 crops, 1,024 px spent" in card
    one_line_error(invoke(main, "card", trained / "deb", "--weights", "final.pt"), "-o")
    with pytest.raises(InputError, match="weights of the method tfp\\+gkmnet"):
        bundle(trained / "deb" / "final.pt", "tfp+gkmnet")


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    from spikesim.dataset import generate_dataset, load_dataset_config

    data = tmp_path_factory.mktemp("cascade_eval") / "data"
    generate_dataset(load_dataset_config({"width": 48, "height": 32, "steps": 192, "num": 1,
                                          "seed": 3}), data, workers=1)
    return data


def test_eval_runs_every_network_with_its_own_weights(trained, tiny_set, tmp_path, no_bundled):
    """One evaluation of despike and the three cascades: bundled cascades read their
    bundled files, NETWORK=FILE overrides one network; every network's file is on record
    with its sha256, and a cascade's rows equal those of its own evaluation."""
    import json

    from cli.spikerestore_cli import main
    from restore.cascades.card import bundle
    from tests.cli_helpers import invoke

    bundle(trained / "tfp" / "final.pt", "tfp+gkmnet")
    bundle(trained / "deb" / "final.pt", "spk2imgnet+gkmnet")
    res = invoke(main, "eval", tiny_set, "--methods",
                 "despike,tfp,tfp+gkmnet,spk2imgnet,spk2imgnet+gkmnet", "--no-lpips",
                 "--weights", f"spk2imgnet={trained / 'rec' / 'final.pt'}",
                 "--weights", f"despike-x8={bundled_weights_path()}", "--json")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert {r["method"] for r in summary["overall"]} == {
        "despike", "tfp", "tfp+gkmnet", "spk2imgnet", "spk2imgnet+gkmnet"}
    record = summary["weights"]
    assert sorted(record) == ["despike", "spk2imgnet", "spk2imgnet+gkmnet", "tfp+gkmnet"]
    assert record["spk2imgnet"].endswith(f"(sha256 {_sha(trained / 'rec' / 'final.pt')[:12]})")
    assert record["tfp+gkmnet"].endswith(f"(sha256 {_sha(trained / 'tfp' / 'final.pt')[:12]})")
    alone = invoke(main, "eval", tiny_set, "--methods", "tfp+gkmnet", "--no-lpips",
                   "--weights", trained / "tfp" / "final.pt", "--json")
    assert alone.exit_code == 0, alone.output
    psnr = {r["method"]: r["psnr"] for r in summary["overall"]}
    assert json.loads(alone.stdout)["overall"][0]["psnr"] == psnr["tfp+gkmnet"]


@pytest.mark.parametrize("methods,weights,words", [
    ("despike,tfp+gkmnet", ["w.pt"], ["not those of despike and tfp+gkmnet", "despike=FILE"]),
    ("tfp,tfp+gkmnet", ["tfp=w.pt"], ["tfp reads no weights"]),
    ("tfp,tfp+gkmnet", ["despike=w.pt"], ["despike=w.pt", "add despike to --methods"]),
    ("despike,tfp+gkmnet", ["despike=a.pt", "despike-x8=b.pt"], ["one file per network"]),
    ("despike,tfp+gkmnet", ["a.pt", "tfp+gkmnet=b.pt"], ["NETWORK=FILE", "despike=a.pt"]),
])
def test_eval_weights_name_their_network(tiny_set, tmp_path, methods, weights, words):
    """Ambiguous or mismatched --weights: one line (exit 2), nothing written."""
    from cli.spikerestore_cli import main
    from tests.cli_helpers import invoke, one_line_error

    args = [a for w in weights for a in ("--weights", w)]
    res = invoke(main, "eval", tiny_set, "--methods", methods, *args, "-o", tmp_path / "out")
    one_line_error(res, *words)
    assert not (tmp_path / "out").exists()


def test_eval_refuses_a_cascade_file_given_to_despike_before_any_work(trained, tiny_set,
                                                                      tmp_path):
    from cli.spikerestore_cli import main
    from tests.cli_helpers import files_under, invoke, one_line_error

    res = invoke(main, "eval", tiny_set, "--methods", "tfp,despike", "--weights",
                 f"despike={trained / 'tfp' / 'final.pt'}", "-o", tmp_path / "out")
    one_line_error(res, "a DeSpike weights file")
    assert files_under(tmp_path / "out") == []


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[1] / "restore"
                                         / "cascades" / "weights").glob("*.pt")),
                         ids=lambda p: p.name)
def test_bundled_cascade_weights_have_a_true_card_and_despikes_budget(path):
    """Every bundled cascade file loads as its method's stage, its card beside it names
    its sha256, and the card's budget line says the run spent despike's budget within
    10 % (issue 20: "budgets recorded and equal within 10 %"); the reconstruct stage
    bundled alone (spk2imgnet) spent its planned share of spk2imgnet+gkmnet's, which the
    card says."""
    import hashlib
    import re

    import yaml

    from restore.cascades.card import card_path
    from restore.cascades.weights import load_stage

    method = next(m for m, name in settings.CASCADE_WEIGHTS_FILES.items() if name == path.name)
    load_stage(path)
    card = card_path(method).read_text()
    assert hashlib.sha256(path.read_bytes()).hexdigest() in card
    ratio = float(re.search(r"the cascade spent ([0-9.]+) × that", card).group(1))
    if method == "spk2imgnet":
        root = Path(__file__).resolve().parents[1]
        steps = [yaml.safe_load((root / c).read_text())["train"]["steps"]
                 for c in settings.CASCADE_TRAINING["spk2imgnet+gkmnet"]]
        assert abs(ratio / (steps[0] / sum(steps)) - 1) < 0.01, (ratio, steps)
        assert "The reconstruct stage alone has part of the budget by design" in card
    else:
        assert 0.9 <= ratio <= 1.1, ratio
