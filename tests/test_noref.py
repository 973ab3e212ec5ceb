"""No-reference scores (restore.noref, restore.niqe_params, ``spikerestore score``).

NIQE is cross-checked against basicsr 1.4.2's own ``niqe`` (an independent
implementation of the same paper, run from the pinned sdist that setup keeps beside the
model), on the two REDS ground-truth frames of ``../shared/data/interop`` and noisy and
blurred versions of them. Tests that need the model skip, saying so, when setup has not
fetched it; those that need the REDS frames skip when ``../shared`` is absent.
"""

import json
import sys
import tarfile
import types

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import ndimage, stats

from restore import niqe_params, noref
from spikesim.errors import InputError
from spikesim.images import read_image, write_png

# ours against basicsr's niqe on the same 8-bit grey levels: measured |Δ| ≤ 2e-5 on these
# images (NIQE 4.3-12.1); the difference is float summation order in the filters/resize
NIQE_CROSSCHECK_RTOL = 1e-5


@pytest.fixture(scope="module")
def model():
    try:
        return niqe_params.load_model()
    except InputError as err:
        pytest.skip(f"NIQE model not fetched ({err})")


@pytest.fixture(scope="module")
def reds_frames(shared_data):
    """The two REDS targets (grey, [0, 1]) and noisy (σ 0.05) / blurred (σ 2 px) versions."""
    rng = np.random.default_rng(0)
    out = {}
    for part in ("part1", "part3"):
        img = read_image(shared_data / "interop" / f"reds_200_{part}_key151_gt.png")
        img = img if img.ndim == 2 else img[..., 0]
        out[f"{part} clean"] = img
        out[f"{part} noisy"] = np.clip(img + rng.normal(0, 0.05, img.shape), 0, 1)
        out[f"{part} blurred"] = ndimage.gaussian_filter(img, 2.0)
    return out


def _basicsr_niqe(monkeypatch):
    """basicsr 1.4.2's ``niqe(img, mu, cov, window)`` loaded from the kept sdist.

    Its module imports cv2 and basicsr's registry only for the wrapper we do not call;
    those names are stubbed, ``matlab_functions`` (its MATLAB-style imresize) is loaded
    from the sdist as it is.
    """
    path = niqe_params.sdist_path()
    if not path.is_file():
        pytest.skip(f"the basicsr sdist is not kept at {path}; run ./run setup")
    stubs = {name: types.ModuleType(name) for name in (
        "cv2", "basicsr", "basicsr.metrics", "basicsr.utils", "basicsr.metrics.metric_util",
        "basicsr.utils.registry", "basicsr.utils.matlab_functions", "basicsr.metrics.niqe")}
    stubs["basicsr.metrics.metric_util"].reorder_image = None
    stubs["basicsr.metrics.metric_util"].to_y_channel = None
    stubs["basicsr.utils.registry"].METRIC_REGISTRY = types.SimpleNamespace(
        register=lambda: (lambda f: f))
    for name, mod in stubs.items():
        monkeypatch.setitem(sys.modules, name, mod)
    if "scipy.ndimage.filters" not in sys.modules:
        monkeypatch.setitem(sys.modules, "scipy.ndimage.filters", ndimage)
    with tarfile.open(path) as tar:
        for member, name in (("utils/matlab_functions.py", "basicsr.utils.matlab_functions"),
                             ("metrics/niqe.py", "basicsr.metrics.niqe")):
            source = tar.extractfile(f"basicsr-1.4.2/basicsr/{member}").read().decode()
            exec(compile(source, member, "exec"), stubs[name].__dict__)
    return stubs["basicsr.metrics.niqe"].niqe


@pytest.mark.filterwarnings("ignore::DeprecationWarning")   # basicsr's scipy.ndimage.filters
def test_niqe_matches_basicsr(model, reds_frames, monkeypatch):
    reference = _basicsr_niqe(monkeypatch)
    for label, img in reds_frames.items():
        grey = noref.to_grey_levels(img)
        ours = noref.niqe(img, model)
        theirs = reference(grey.copy(), model["mu"][None, :], model["cov"],
                           model["gaussian_window"])
        assert ours == pytest.approx(float(theirs), rel=NIQE_CROSSCHECK_RTOL), label


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::RuntimeWarning")       # basicsr's empty means
def test_flat_patches_are_left_out_as_basicsr_does(model, monkeypatch):
    """A black corner (one flat 96x96 patch) divided by zero in the AGGD fit: a traceback
    from `spikerestore score` of a frame with a clipped region. basicsr drops such patches
    from the covariance (nanmean, nancov); a wholly flat image has no NIQE."""
    rng = np.random.default_rng(3)
    img = np.clip(ndimage.gaussian_filter(rng.random((192, 288)), 1.5) * 2 - 0.5, 0, 1)
    img[:96, :96] = 0.0
    ours = noref.niqe(img, model)
    theirs = _basicsr_niqe(monkeypatch)(noref.to_grey_levels(img), model["mu"][None, :],
                                        model["cov"], model["gaussian_window"])
    assert np.isfinite(ours) and ours == pytest.approx(float(theirs), rel=NIQE_CROSSCHECK_RTOL)
    for level in (0.0, 1.0):
        assert np.isnan(noref.no_reference_scores(np.full((192, 192), level), model)["niqe"])


def test_niqe_and_piqe_rise_with_noise_and_blur(model, reds_frames):
    for part in ("part1", "part3"):
        clean = noref.no_reference_scores(reds_frames[f"{part} clean"], model)
        for worse in ("noisy", "blurred"):
            scores = noref.no_reference_scores(reds_frames[f"{part} {worse}"], model)
            assert scores["niqe"] > clean["niqe"] + 2.0, (part, worse)
            assert scores["piqe"] > clean["piqe"], (part, worse)
            assert 0.0 <= scores["piqe"] <= 100.0
        assert 3.0 < clean["niqe"] < 6.0          # a sharp natural frame: 4.3-4.8


def _piqe_block_loop(display) -> float:
    """PIQE block by block, as restore.noref computed it before it was vectorised
    (130 ms at 400x250): the reference the vectorised score must equal."""
    def flat_edge(coef):
        for edge in (coef[0], coef[-1], coef[:, 0], coef[:, -1]):
            segs = np.lib.stride_tricks.sliding_window_view(edge, noref.PIQE_SEGMENT)
            if np.any(segs.std(axis=1) < noref.PIQE_FLAT_SEGMENT):
                return True
        return False

    def noisy(coef):
        mid = coef.shape[1] // 2
        centre = coef[:, mid - 1:mid + 1]
        surround = np.concatenate([coef[:, :mid - 1], coef[:, mid + 1:]], axis=1)
        sd, sd_sur = coef.std(), surround.std()
        return bool(sd_sur != 0 and sd > 2.0 * abs(centre.std() / sd_sur - sd))

    grey = noref.to_grey_levels(display)
    b = noref.PIQE_BLOCK
    h, w = grey.shape[0] // b * b, grey.shape[1] // b * b
    coef, _ = noref.mscn(grey[:h, :w])
    total, active = 0.0, 0
    for r in range(0, h, b):
        for c in range(0, w, b):
            block = coef[r:r + b, c:c + b]
            var = float(block.var())
            if var <= noref.PIQE_ACTIVITY:
                continue
            active += 1
            if flat_edge(block):
                total += 1.0
            elif noisy(block):
                total += min(var, 1.0)
    return 100.0 * (total + noref.PIQE_C) / (active + noref.PIQE_C)


def _piqe_test_images():
    """Smooth, noisy, half-flat, posterised (blocky) and constant images of odd sizes."""
    rng = np.random.default_rng(0)
    images = []
    for k in range(8):
        h, w = (int(v) for v in rng.integers(16, 200, 2))
        img = ndimage.gaussian_filter(rng.random((h, w)), rng.uniform(0.5, 6))
        img = (img - img.min()) / (np.ptp(img) + 1e-9)
        img = np.clip(img + rng.normal(0, rng.uniform(0, 0.1), img.shape), 0, 1)
        if k % 3 == 0:
            img[: h // 2] = 0.5
        if k % 4 == 1:
            img = np.round(img * 4) / 4
        images.append(img)
    return images + [np.full((40, 40), 0.3), rng.random((250, 400))]


def test_piqe_equals_the_block_loop():
    """The vectorised PIQE is the block-by-block score, to the last bit (the blocks'
    statistics are summed in numpy's order for one block)."""
    scores = [(noref.piqe(img), _piqe_block_loop(img)) for img in _piqe_test_images()]
    for fast, slow in scores:
        assert fast == pytest.approx(slow, abs=1e-12, rel=0)
    assert [f for f, _ in scores] == [s for _, s in scores]
    assert len({round(f, 6) for f, _ in scores}) > 5           # the images differ in score


def test_gaussian_window_is_the_models(model):
    np.testing.assert_allclose(noref.gaussian_window(), model["gaussian_window"], atol=1e-15)


@pytest.mark.parametrize("alpha,scale", [(0.8, 0.5), (2.0, 1.0), (3.0, 2.0)])
def test_aggd_fit_recovers_a_generalised_gaussian(alpha, scale):
    """Symmetric samples of a known shape and scale: the fit finds both."""
    x = stats.gennorm.rvs(alpha, scale=scale, size=200_000, random_state=1)
    a, b_left, b_right = noref.aggd_fit(x)
    assert a == pytest.approx(alpha, rel=0.03)
    assert b_left == pytest.approx(scale, rel=0.03)
    assert b_right == pytest.approx(scale, rel=0.03)


def test_resize_half_keeps_constants_and_ramps():
    const = np.full((20, 30), 7.0)
    np.testing.assert_allclose(noref.resize_half(const), 7.0, rtol=1e-12)
    ramp = np.tile(np.arange(40.0), (12, 1))
    half = noref.resize_half(ramp)
    assert half.shape == (6, 20)
    # output pixel j covers input pixels 2j, 2j+1: its value is their mean (interior)
    np.testing.assert_allclose(half[:, 3:-3], np.tile(np.arange(40.0)[6:34:2] + 0.5, (6, 1)),
                               atol=1e-9)


def test_pristine_model_fit_prefers_its_own_images(reds_frames):
    clean = [reds_frames["part1 clean"], reds_frames["part3 clean"]]
    own = noref.fit_pristine_model(clean)
    assert own["mu"].shape == (36,) and own["cov"].shape == (36, 36)
    all_patches = noref.niqe_features(noref.to_grey_levels(clean[0]))
    sharp_patches = noref.niqe_features(noref.to_grey_levels(clean[0]),
                                        noref.NIQE_SHARPNESS_FRACTION)
    assert 1 <= len(sharp_patches) < len(all_patches)
    assert noref.niqe(reds_frames["part1 noisy"], own) > noref.niqe(clean[0], own)


def test_small_images():
    tiny = np.random.default_rng(0).random((64, 64))
    with pytest.raises(InputError, match="NIQE needs a larger image"):
        noref.niqe(tiny, {"mu": np.zeros(36), "cov": np.eye(36)})
    scores = noref.no_reference_scores(tiny, {"mu": np.zeros(36), "cov": np.eye(36)})
    assert np.isnan(scores["niqe"]) and 0 <= scores["piqe"] <= 100
    with pytest.raises(InputError, match="PIQE needs a larger image"):
        noref.piqe(tiny[:8, :8])


def test_model_file_is_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("SPIKE_DEFOCUS_DATA", str(tmp_path))
    with pytest.raises(InputError, match="niqe_params fetch"):
        niqe_params.load_model()
    (tmp_path / "niqe").mkdir()
    np.savez(niqe_params.model_path(), mu=np.zeros(36), cov=np.eye(36),
             gaussian_window=np.ones((7, 7)))
    with pytest.raises(InputError, match="was changed"):
        niqe_params.load_model()


def test_score_command(model, reds_frames, tmp_path):
    from cli.spikerestore_cli import main

    path = write_png(tmp_path / "frame.png", reds_frames["part1 noisy"])
    result = CliRunner().invoke(main, ["score", str(path), "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.output)[0]
    # the file holds the 8-bit quantisation every score reads: same numbers from memory
    expected = noref.no_reference_scores(reds_frames["part1 noisy"], model)
    for key in noref.SCORES:
        assert row[key] == pytest.approx(expected[key], rel=1e-12)
    bad = CliRunner().invoke(main, ["score", str(tmp_path / "missing.png")])
    assert bad.exit_code == 2
    assert bad.output.count("\n") == 1 and "missing.png" in bad.output


@pytest.fixture(scope="module")
def niqe_sized_dataset(tmp_path_factory):
    """One 192x96 sample (the smallest NIQE scores: two 96x96 patches)."""
    from spikesim import dataset as ds

    out = tmp_path_factory.mktemp("noref") / "ds"
    ds.generate_dataset({"name": "noref", "width": 192, "height": 96, "steps": 192, "num": 1,
                         "seed": 2}, out)
    return out


def test_eval_reports_the_scores(model, niqe_sized_dataset, tmp_path):
    from cli.spikerestore_cli import main
    from restore.evaluate import display_of
    from restore.methods import restore
    from spikesim.dataset import load_sample

    result = CliRunner().invoke(main, ["eval", str(niqe_sized_dataset), "--methods", "tfp",
                                       "--no-lpips", "--no-reference", "--montage", "0",
                                       "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "results.json").read_text())
    assert summary["metrics"] == ["psnr", "ssim", "niqe", "piqe", "gradient", "contrast"]
    assert "--no-reference" in summary["command"]
    sample = load_sample(niqe_sized_dataset / "samples" / "000000")
    res = restore(sample.stream, "tfp", center=sample.key_step,
                  dead_time=float(sample.camera["dead_time"]))
    expected = noref.no_reference_scores(display_of(res.lam, sample), model)
    row = summary["rows"][0]
    for key in noref.SCORES:
        assert row[key] == pytest.approx(expected[key], rel=1e-9), key
    header = (tmp_path / "out" / "results.csv").read_text().splitlines()[0]
    assert header.endswith("niqe,piqe,gradient,contrast")
    assert "| NIQE |" in (tmp_path / "out" / "results.md").read_text()


def test_eval_without_scores_keeps_its_columns(niqe_sized_dataset, tmp_path):
    from cli.spikerestore_cli import main

    result = CliRunner().invoke(main, ["eval", str(niqe_sized_dataset), "--methods", "tfp",
                                       "--no-lpips", "--montage", "0", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "niqe" not in (tmp_path / "results.csv").read_text()
    assert "niqe" not in json.loads((tmp_path / "results.json").read_text())["rows"][0]


def test_eval_refuses_samples_too_small_for_niqe(model, tmp_path):
    from cli.spikerestore_cli import main
    from spikesim import dataset as ds

    ds.generate_dataset({"name": "small", "width": 96, "height": 96, "steps": 192, "num": 1,
                         "seed": 2}, tmp_path / "ds")
    result = CliRunner().invoke(main, ["eval", str(tmp_path / "ds"), "--methods", "tfp",
                                       "--no-lpips", "--no-reference"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "--no-reference" in result.output


def _fake_download(archive_bytes: bytes):
    def download(directory, name, version, sha256, pip_args):
        assert (name, version, sha256) == (niqe_params.SDIST_NAME, niqe_params.SDIST_VERSION,
                                           niqe_params.SDIST_SHA256)
        assert "--no-build-isolation" in pip_args
        path = directory / niqe_params.SDIST_FILE
        path.write_bytes(archive_bytes)
        return path
    return download


def test_fetch_from_the_sdist_writes_the_pinned_model(model, tmp_path, monkeypatch):
    kept = niqe_params.sdist_path()
    if not kept.is_file():
        pytest.skip(f"the basicsr sdist is not kept at {kept}; run ./run setup")
    archive = kept.read_bytes()
    monkeypatch.setenv("SPIKE_DEFOCUS_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(niqe_params, "download_sdist", _fake_download(archive))
    niqe_params.fetch(log=lambda msg: None)
    fetched = niqe_params.load_model()
    for name in ("mu", "cov", "gaussian_window"):
        np.testing.assert_array_equal(fetched[name], model[name])
    assert niqe_params.sdist_path().read_bytes() == archive
    monkeypatch.setattr(niqe_params, "download_sdist", None)      # idempotent: no download
    niqe_params.fetch(log=lambda msg: None)


def test_fetch_refuses_other_parameters(tmp_path, monkeypatch):
    import io

    npz = io.BytesIO()
    np.savez(npz, mu_pris_param=np.zeros((1, 36)), cov_pris_param=np.eye(36),
             gaussian_window=np.ones((7, 7)) / 49)
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w:gz") as tar:
        info = tarfile.TarInfo(niqe_params.MEMBER)
        info.size = len(npz.getvalue())
        tar.addfile(info, io.BytesIO(npz.getvalue()))
    monkeypatch.setenv("SPIKE_DEFOCUS_DATA", str(tmp_path))
    monkeypatch.setattr(niqe_params, "download_sdist", _fake_download(tar_bytes.getvalue()))
    with pytest.raises(InputError, match="digest"):
        niqe_params.fetch(log=lambda msg: None)
    assert not niqe_params.model_path().exists() and not niqe_params.sdist_path().exists()
