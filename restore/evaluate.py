"""``spikerestore eval``: every method on a generated dataset, the honest numbers.

Protocol (despike.md "How it is judged")
----------------------------------------
- Each method's λ estimate goes through the one shared exposure step with the
  sample's **oracle exposure** (``--exposure camera``: ``v = λ / (k · illuminance)``,
  :mod:`restore.exposure`), then sRGB encoding; the target is ``sharp.png`` (linear
  [0, 1]) encoded the same way. PSNR, SSIM and LPIPS (AlexNet, the grey images
  replicated to three channels; ``lpips=False`` leaves it out) (:mod:`restore.metrics`)
  compare the two.
- Windows: ``full`` (the stream around the key step, at most 192 steps), and ``64`` /
  ``32``: the method is **given only that many steps** of stream, centred on the key
  step (``[t_c − w//2, t_c − w//2 + w)``).
- Breakdowns: blur bins of the sample's median σ ``[0,1) [1,2) [2,4) [4,∞)`` px and the
  focus side (front / on / back), both as recorded in the sample's ``sample.yaml``.
- Time per image: the method's own wall time (reading the sample and the metrics
  excluded), single process.

Method specifications (``--methods``)
-------------------------------------
``NAME`` from :data:`restore.methods.METHODS`; a deconvolution cascade (``+wiener``,
``+rl``) takes its σ from the sample (a network, the learned cascades included, takes
none and refuses a suffix): ``tfp+wiener`` uses the **oracle** σ (the median of the
sample's σ map), ``tfp+wiener@est`` the estimator (:mod:`restore.sigma_estimate`),
``tfp+wiener@map`` the true per-pixel σ map (the upper bound, not the bar).

Calibration (``--calib-mode``)
------------------------------
``off``: uncalibrated TFP/TFI (the rate inverted with the camera's dead time; gain
and dark offset left in). ``oracle``: each sample's camera is calibrated with its
**true** fixed-pattern maps (``camera.npz``) put into a
:class:`calibration.calfile.Calibration` by :func:`oracle_calibration`, and corrected
by the calibration module's full inverse — the best a calibration can do, so the
calibrated baselines are not handicapped by a fit's error. ``both``: every method
twice. The network (``despike``) always receives the sample's calibration under
``oracle``/``both`` and an identity calibration under ``off`` (a network trained with
the calibration flag, ``model.calibration_flag``, reads an identity calibration as
"calibration absent": :func:`restore.despike.encoding.measured`). ``off`` is the
issue's "uncalibrated": its rows are the methods without ``+cal``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spikesim.dataset import BLUR_BIN_LABELS, FOCUS_SIDES, blur_bin, blur_bin_label
from spikesim.errors import InputError, ToolkitError

from . import settings
from .eval_weights import check_weights_files, check_weights_target, weights_for
from .exposure import expose, to_display
from .methods import METHODS, check_method, is_network, restore
from .metrics import lpips_batch, psnr, ssim

log = logging.getLogger(__name__)

SIGMA_MODES = {"": "oracle", "est": "estimate", "map": "map"}
CALIB_MODES = ("off", "oracle", "both")
NOREF_METRICS = ("niqe", "piqe", "gradient", "contrast")   # restore.noref: no target needed
METRICS = ("psnr", "ssim", "lpips") + NOREF_METRICS      # every metric a Row can hold, in order
METRIC_NAMES = {"psnr": "PSNR", "ssim": "SSIM", "lpips": "LPIPS", "niqe": "NIQE",
                "piqe": "PIQE", "gradient": "gradient", "contrast": "contrast"}
METRIC_UNITS = {"psnr": "dB"}
METRIC_DIGITS = {"psnr": 2, "ssim": 3, "lpips": 3, "niqe": 3, "piqe": 2, "gradient": 4,
                 "contrast": 4}
ANCHOR_NOTE = ("Low-frequency anchor: on (`--anchor`; restore/anchor.py): the networks' "
               "calibrated rows are matched to the calibrated TFP through the estimated "
               "blur at low frequencies; uncalibrated and classical rows are unchanged.")
LPIPS_NOTE = ("LPIPS: AlexNet, v0.1 (lower is better), on the same sRGB display images as "
              "PSNR and SSIM; the grey images are replicated to three channels.")
DEFAULT_METHODS = settings.DEFAULT_METHODS
FULL_GRID_METHODS = ("tfp,tfi,tfp+wiener,tfp+rl,tfi+wiener,tfi+rl,"
                     "tfp+wiener@est,tfp+rl@est,tfi+wiener@est,tfi+rl@est,"
                     "tfp+wiener@map,tfp+rl@map")


@dataclass(frozen=True)
class MethodSpec:
    """One column of the results: a registry method, its σ source and calibration."""

    method: str
    sigma_mode: str | None = None      # "oracle", "estimate", "map" (+wiener/+rl only)
    calibrated: bool = False

    @property
    def label(self) -> str:
        text = self.method
        if self.sigma_mode == "estimate":
            text += "@est"
        elif self.sigma_mode == "map":
            text += "@map"
        return text + (" +cal" if self.calibrated else "")

    @property
    def is_cascade(self) -> bool:
        return "+" in self.method

    @property
    def kind(self) -> str:
        """``"network"``, ``"cascade"`` (one σ per image), ``"cascade-map"`` (a σ map: an
        upper bound, not the bar) or ``"reconstruction"`` (TFP/TFI alone)."""
        if is_network(self.method):
            return "network"
        if self.is_cascade:
            return "cascade-map" if self.sigma_mode == "map" else "cascade"
        return "reconstruction"


def parse_methods(text: str, calib_mode: str = "off") -> list[MethodSpec]:
    """``"tfp,tfp+rl@est"`` -> specs (see the module doc); errors list the valid names."""
    if calib_mode not in CALIB_MODES:
        raise InputError("--calib-mode", calib_mode, "one of " + ", ".join(CALIB_MODES),
                         "use off, oracle or both")
    items = [t.strip() for t in str(text).split(",") if t.strip()]
    if not items:
        raise InputError("--methods", text, "a comma-separated list of methods",
                         "e.g. --methods " + DEFAULT_METHODS)
    specs = []
    for item in items:
        name, _, suffix = item.partition("@")
        check_method(name)
        if suffix not in SIGMA_MODES:
            raise InputError("--methods", item, "NAME, NAME@est or NAME@map",
                             "the σ suffix is @est (estimated) or @map (per-pixel map)")
        takes_sigma = "+" in name and not is_network(name)   # TFP/TFI + Wiener/RL
        if suffix and not takes_sigma:
            why = (f"no σ suffix on a network ({name} learns its deblurring)"
                   if is_network(name)
                   else "a σ suffix only on a deconvolution cascade (NAME+wiener/rl)")
            raise InputError("--methods", item, why, f"write {name} without @{suffix}")
        mode = SIGMA_MODES[suffix] if takes_sigma else None
        cals = {"off": (False,), "oracle": (True,), "both": (False, True)}[calib_mode]
        for cal in cals:
            spec = MethodSpec(name, mode, cal)
            if spec not in specs:
                specs.append(spec)
    return specs


def parse_windows(text: str) -> list[int | None]:
    """``"full,64,32"`` -> ``[None, 64, 32]`` (None: the full window)."""
    out = []
    for item in [t.strip() for t in str(text).split(",") if t.strip()]:
        if item == "full":
            out.append(None)
            continue
        try:
            w = int(item)
            if w < 2:
                raise ValueError
        except ValueError:
            raise InputError("--windows", item, "full or a number of steps >= 2",
                             "e.g. --windows full,64,32") from None
        out.append(w)
    if not out:
        raise InputError("--windows", text, "at least one window", "e.g. --windows full,64,32")
    return out


def window_label(w: int | None) -> str:
    return "full" if w is None else str(w)


# ------------------------------------------------------------------------ calibration
def oracle_calibration(camera: dict, operating_level: float | None = None):
    """The sample camera's calibration from its TRUE maps (``camera.npz`` keys):
    :meth:`calibration.calfile.Calibration.from_truth` (``operating_level`` lux, default
    300), the best a calibration can do."""
    from calibration.calfile import Calibration

    return Calibration.from_truth(camera, operating_level)


# ------------------------------------------------------------------------ one sample
@dataclass
class Row:
    """One (sample, method, window) result."""

    sample: int
    method: str
    window: str
    psnr: float
    ssim: float
    lpips: float                    # NaN when LPIPS was not computed
    seconds: float
    sigma: float | None
    blur_bin: str
    focus_side: str
    sigma_median: float
    niqe: float = math.nan          # the no-reference scores (restore.noref), when asked for
    piqe: float = math.nan
    gradient: float = math.nan
    contrast: float = math.nan

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _sample_meta(sample) -> tuple[str, str, float]:
    p = sample.params
    s_med = p.get("sigma_median", np.median(sample.sigma))
    s_med = float("nan") if s_med is None else float(s_med)      # None: blur unknown (dpdd)
    bin_label = p.get("blur_bin") or blur_bin_label(blur_bin(s_med))
    return str(bin_label), str(p.get("focus_side", "on")), s_med


def run_on_sample(sample, spec: MethodSpec, window: int | None, calib_cache: dict | None = None,
                  device: str = "cpu", weights=None, anchor: bool = settings.ANCHOR_DEFAULT):
    """Run ``spec`` on a dataset sample; return ``(Restored, seconds)``.

    The stream is cut to ``window`` steps around the key step when ``window`` is given;
    ``weights`` is ``None``, one file or ``{network: file}``
    (:func:`restore.eval_weights.weights_for`); ``anchor``: the networks' calibrated
    outputs are matched to the calibrated TFP at low frequencies (:mod:`restore.anchor`).
    """
    from .baselines import resolve_window

    stream = sample.stream
    key = sample.key_step
    given = None
    if window is not None:
        win = resolve_window(len(stream), key, window, minimum=2)
        stream = stream[win.start:win.stop]
        key = win.center - win.start
        given = win.length
    calib = None
    dead_time = float(sample.camera.get("dead_time", settings.DEFAULT_DEAD_TIME))
    if spec.calibrated or is_network(spec.method):
        cache = calib_cache if calib_cache is not None else {}
        ckey = (sample.id, spec.calibrated)
        if ckey not in cache:
            if spec.calibrated:
                cache[ckey] = oracle_calibration(sample.camera, sample.illuminance * 0.5)
            else:
                from calibration.calfile import Calibration

                cache[ckey] = Calibration.identity(stream.height, stream.width, dead_time,
                                                   q_ref=1.0)
        calib = cache[ckey]
    sigma = sigma_map = None
    if spec.sigma_mode == "oracle":
        sigma = float(sample.params.get("sigma_median", np.median(sample.sigma)))
    elif spec.sigma_mode == "map":
        sigma_map = sample.sigma
    t0 = time.perf_counter()
    res = restore(stream, spec.method, center=key, window=given, calib=calib,
                  dead_time=dead_time, sigma=sigma, sigma_map=sigma_map, device=device,
                  weights=weights_for(weights, spec.method), anchor=anchor)
    return res, time.perf_counter() - t0


def display_of(lam, sample) -> np.ndarray:
    """sRGB display image of a λ estimate under the sample's oracle exposure."""
    lin, _ = expose(lam, "camera", k=float(sample.params["camera"]["k"]),
                    illuminance=sample.illuminance)
    return to_display(lin)


def evaluate_sample(sample, specs, windows, calib_cache=None, device="cpu",
                    keep_images: bool = False, weights=None, with_lpips: bool = True,
                    noref_model: dict | None = None, anchor: bool = settings.ANCHOR_DEFAULT):
    """All (method, window) rows of one sample; with ``keep_images`` also the full-window
    display images ``{label: (H, W)}`` plus ``"input mean"`` and ``"target"``. Without
    ``with_lpips`` the rows' ``lpips`` is NaN; with a ``noref_model`` (NIQE's
    ``{"mu", "cov"}``) the rows hold the no-reference scores of each display image."""
    target = to_display(sample.sharp)
    bin_label, side, s_med = _sample_meta(sample)
    rows, images, displays = [], {}, []
    for window in windows:
        for spec in specs:
            res, secs = run_on_sample(sample, spec, window, calib_cache, device, weights,
                                      anchor)
            disp = display_of(res.lam, sample)
            displays.append(disp)
            rows.append(Row(sample.id, spec.label, window_label(window), psnr(disp, target),
                            ssim(disp, target), float("nan"), secs, res.sigma, bin_label, side,
                            s_med))
            if keep_images and window is None:
                images[spec.label] = disp
    if with_lpips:                 # one batched LPIPS call per sample
        for row, dist in zip(rows, lpips_batch(displays, target)):
            row.lpips = dist
    if noref_model is not None:
        from .noref import no_reference_scores

        for row, disp in zip(rows, displays):
            for name, value in no_reference_scores(disp, noref_model).items():
                setattr(row, name, value)
    if keep_images:
        from .baselines import resolve_window

        win = resolve_window(len(sample.stream), sample.key_step)
        rate = sample.stream.counts(win.start, win.stop) / float(win.length)
        images = {"input mean": to_display(rate / max(np.percentile(rate, 99.5), 1e-12)),
                  **images, "target": target}
    return rows, images


# ------------------------------------------------------------------------ the dataset
@dataclass
class EvalResult:
    rows: list
    specs: list
    windows: list
    num_samples: int
    wall_s: float
    montage: np.ndarray | None = None
    info: dict = field(default_factory=dict)
    metrics: tuple = METRICS            # the metrics the rows hold (LPIPS may be left out)
    anchor: bool = False                # the networks' calibrated rows were anchored


def evaluate(dataset_dir, specs, windows, *, limit: int | None = None, device: str = "cpu",
             montage_samples: int = settings.MONTAGE_SAMPLES, progress=None,
             weights=None, with_lpips: bool = True, with_noref: bool = False,
             anchor: bool = settings.ANCHOR_DEFAULT) -> EvalResult:
    """Evaluate ``specs`` × ``windows`` on every sample of a generated dataset.

    ``progress(i, n)`` is called after each sample; ``weights`` the networks' weights:
    ``None`` (each its bundled file), one file (the one network's) or ``{network: file}``
    (:mod:`restore.eval_weights`; every network's file is loaded before any work);
    ``with_lpips`` adds LPIPS beside
    PSNR and SSIM (about 0.1 s per 400×256 image on 2 CPU cores); ``with_noref`` the
    no-reference scores of :mod:`restore.noref` (NIQE needs samples of at least 192×96);
    ``anchor`` the low-frequency anchor of the networks' calibrated outputs.
    A directory without ``manifest.yaml`` is an :class:`InputError` (from
    ``read_manifest``).
    """
    from spikesim.dataset import load_sample, read_manifest, sample_name

    d = Path(dataset_dir)
    if not d.is_dir():
        raise InputError("DATASET", str(d), "a dataset directory written by `spikesim generate`",
                         "check the path")
    manifest = read_manifest(d)
    entries = list(manifest["samples"])
    if limit is not None:
        entries = entries[:int(limit)]
    if not entries:
        raise InputError("DATASET", str(d), "a dataset with at least one sample",
                         "generate samples first (`spikesim generate`)")
    if with_lpips:                  # missing LPIPS weights: a clear error before any work
        from .lpips_weights import load_weights
        from .metrics import LPIPS_NET

        load_weights(LPIPS_NET)
    _check_sigma_known(entries, specs)
    check_weights_files(specs, weights, device)
    noref_model = _noref_model(manifest) if with_noref else None
    show = _montage_choice(entries, montage_samples)
    rows, tiles, labels = [], [], []
    cache: dict = {}
    t0 = time.perf_counter()
    for i, entry in enumerate(entries):
        sample = load_sample(d / "samples" / sample_name(entry["id"]))
        keep = entry["id"] in show
        sample_rows, images = evaluate_sample(sample, specs, windows, cache, device, keep,
                                              weights, with_lpips, noref_model, anchor)
        cache.clear()
        rows.extend(sample_rows)
        if keep:
            tiles.extend(images.values())
            labels.extend(f"#{sample.id} {name}" if j == 0 else name
                          for j, name in enumerate(images))
        if progress is not None:
            progress(i + 1, len(entries))
    wall = time.perf_counter() - t0
    montage = None
    if tiles:
        from spikesim.images import montage as make_montage

        montage = make_montage(tiles, labels, ncols=len(specs) + 2)
    metrics = tuple(m for m in METRICS if (m != "lpips" or with_lpips)
                    and (m not in NOREF_METRICS or with_noref))
    return EvalResult(rows, list(specs), list(windows), len(entries), wall, montage,
                      machine_info(), metrics, bool(anchor))


def _noref_model(manifest: dict) -> dict:
    """NIQE's pristine model, after checking the samples are large enough for NIQE."""
    from .niqe_params import load_model
    from .noref import NIQE_PATCH, niqe_defined

    w, h = int(manifest.get("width", 0)), int(manifest.get("height", 0))
    if not niqe_defined((h, w)):
        raise InputError("--no-reference", f"samples of {w}x{h}",
                         f"samples holding two {NIQE_PATCH}x{NIQE_PATCH} patches (NIQE)",
                         "evaluate a dataset of larger samples, e.g. 400x256")
    return load_model()


def _check_sigma_known(entries, specs) -> None:
    """Refuse oracle-σ cascades on samples whose blur is unknown (``source: dpdd``: real
    blur, ``sigma_median`` null), naming the methods that need no true σ."""
    unknown = sum(1 for e in entries if e.get("sigma_median") is None)
    oracle = [s.label for s in specs if s.sigma_mode == "oracle"]
    if unknown and oracle:
        usable = ",".join(s.label + "@est" if s.sigma_mode == "oracle" else s.label
                          for s in specs)
        raise InputError("--methods", f"{', '.join(oracle)} (oracle σ)",
                         f"methods that need no true σ: {unknown} sample(s) have an unknown "
                         "blur (real defocus, sigma_median null)",
                         f"estimate σ instead, e.g. --methods {usable}")


def _montage_choice(entries, n: int) -> set:
    """Ids of up to ``n`` samples spread over the blur bins (sorted by median σ)."""
    if n <= 0:
        return set()
    order = sorted(entries, key=lambda e: (e.get("sigma_median") is None,
                                           float(e.get("sigma_median") or 0.0)))
    idx = np.unique(np.linspace(0, len(order) - 1, min(n, len(order))).round().astype(int))
    return {order[i]["id"] for i in idx}


def machine_info() -> dict:
    """The machine the numbers were measured on."""
    import os

    info = {"python": platform.python_version(), "numpy": np.__version__,
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "platform": platform.platform()}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return info


# ------------------------------------------------------------------------ tables
def _stats(values) -> tuple[float, float]:
    """Mean and population s.d. of a metric; +inf (a restoration identical to the
    target) is left out, a NaN (a failed restoration) is an error, never hidden."""
    values = list(values)
    if any(math.isnan(x) for x in values):
        raise ToolkitError("a restoration gave a NaN metric; run the method on its own "
                           "(spikerestore run) to see why")
    v = np.asarray([x for x in values if math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std())


def summarise(result: EvalResult) -> dict:
    """Plain-data summary: overall (method × window), by blur bin and by focus side."""
    labels = [s.label for s in result.specs]
    wins = [window_label(w) for w in result.windows]
    metrics = list(result.metrics)
    overall = []
    for w in wins:
        for spec in result.specs:
            sel = [r for r in result.rows if r.method == spec.label and r.window == w]
            if not sel:
                continue
            row = {"method": spec.label, "window": w, "n": len(sel)}
            for m in metrics:
                row[m], row[f"{m}_std"] = _stats([getattr(r, m) for r in sel])
            overall.append(dict(row, ms_per_image=1000.0 * float(np.median(
                [r.seconds for r in sel])), kind=spec.kind))
    def breakdown(key, groups):
        out = []
        for label in labels:
            for w in wins:
                row = {"method": label, "window": w}
                for g in groups:
                    sel = [r for r in result.rows
                           if r.method == label and r.window == w and getattr(r, key) == g]
                    row[g] = {"n": len(sel), **{m: _stats([getattr(r, m) for r in sel])[0]
                                                for m in metrics}}
                out.append(row)
        return out
    summary = {"num_samples": result.num_samples, "wall_s": result.wall_s,
               "methods": labels, "windows": wins, "metrics": metrics, "overall": overall,
               "by_blur": breakdown("blur_bin", BLUR_BIN_LABELS),
               "by_side": breakdown("focus_side", FOCUS_SIDES),
               "machine": result.info, "anchor": result.anchor}
    summary["best_cascade"] = best_cascade(summary)
    return summary


def best_cascade(summary: dict, window: str = "full") -> dict | None:
    """The best cascade using one σ per image (oracle or estimated) by mean PSNR.

    The σ-map cascades are an upper bound and excluded (despike.md).
    """
    cands = [r for r in summary["overall"] if r["window"] == window and r["kind"] == "cascade"]
    if not cands:
        return None
    best = max(cands, key=lambda r: r["psnr"])
    return {"method": best["method"], **{m: best[m] for m in _metrics(summary)}}


def _metrics(summary: dict) -> list:
    """The metrics a summary holds (summaries written before LPIPS: PSNR and SSIM)."""
    return list(summary.get("metrics", ("psnr", "ssim")))


def _f(x, digits=2):
    return "nan" if not math.isfinite(x) else f"{x:.{digits}f}"


def _heading(metric: str, what: str = "") -> str:
    """A column heading: ``PSNR (dB)``, ``SSIM − cascade``, ..."""
    unit = METRIC_UNITS.get(metric)
    return METRIC_NAMES[metric] + what + (f" ({unit})" if unit else "")


def _cell(summary: dict, values: dict) -> str:
    """``PSNR / SSIM[ / LPIPS]`` of one breakdown group."""
    return " / ".join(_f(values[m], METRIC_DIGITS[m]) for m in _metrics(summary))


def to_markdown(summary: dict) -> str:
    """The results as markdown tables (overall, by blur bin, by focus side, the network's
    margins over the best cascade); every metric the summary holds is a column."""
    metrics = _metrics(summary)
    out = []
    if summary.get("command"):
        out += [f"Command: `{summary['command']}`", ""]
    weights = summary.get("weights")       # {network: file}; older summaries: one string
    if isinstance(weights, dict) and len(weights) > 1:
        out += [f"Network weights ({name}): `{w}`" for name, w in weights.items()] + [""]
    elif weights:
        one = next(iter(weights.values())) if isinstance(weights, dict) else weights
        out += [f"Network weights: `{one}`", ""]
    out += [f"Samples: {summary['num_samples']}; evaluation wall time "
            f"{summary['wall_s']:.1f} s."]
    if summary.get("anchor"):
        out += ["", ANCHOR_NOTE]
    if "lpips" in metrics:
        out += ["", LPIPS_NOTE]
    out += ["", "| method | window | " + " | ".join(_heading(m) for m in metrics)
            + " | ms / image |",
            "|---|---|" + "---|" * (len(metrics) + 1)]
    for r in summary["overall"]:
        out.append(f"| {r['method']} | {r['window']} | " + " | ".join(
            f"{_f(r[m], METRIC_DIGITS[m])} ± {_f(r[m + '_std'], METRIC_DIGITS[m])}"
            for m in metrics) + f" | {r['ms_per_image']:.1f} |")
    names = " / ".join(METRIC_NAMES[m] for m in metrics)
    for title, key, groups in (("blur bin (median σ, px)", "by_blur", BLUR_BIN_LABELS),
                               ("focus side", "by_side", FOCUS_SIDES)):
        rows = [r for r in summary[key] if r["window"] == "full"] or summary[key]
        if not rows:
            continue
        ns = {g: rows[0][g]["n"] for g in groups}
        out += ["", f"{names} by {title}, window {rows[0]['window']}:", "",
                "| method | " + " | ".join(f"{g} (n={ns[g]})" for g in groups) + " |",
                "|---|" + "---|" * len(groups)]
        for r in rows:
            out.append(f"| {r['method']} | " + " | ".join(_cell(summary, r[g]) for g in groups)
                       + " |")
    best = summary.get("best_cascade")
    if best:
        scores = ", ".join(f"{METRIC_NAMES[m]} {_f(best[m], METRIC_DIGITS[m])}"
                           + (f" {METRIC_UNITS[m]}" if m in METRIC_UNITS else "")
                           for m in metrics)
        out += ["", "Best classical cascade (one σ per image, full window): "
                f"**{best['method']}** — {scores}."]
    margins = network_margins(summary)
    if margins:
        out += ["", "The network against the best one-σ cascade of the same window"
                + (" (a negative LPIPS margin is the network's gain)" if "lpips" in metrics
                   else "") + ":", "",
                "| method | window | best cascade | " + " | ".join(
                    _heading(m, " − cascade") for m in metrics) + " |",
                "|---|---|---|" + "---|" * len(metrics)]
        out += [f"| {m['method']} | {m['window']} | {m['cascade']} | " + " | ".join(
            f"{m[k]:+.{METRIC_DIGITS[k]}f}" for k in metrics) + " |" for m in margins]
    return "\n".join(out) + "\n"


def network_margins(summary: dict) -> list[dict]:
    """Each network row's metrics minus those of the best one-σ cascade of its window
    (the cascade chosen by PSNR; a negative LPIPS margin is the network's gain)."""
    rows = []
    for r in summary["overall"]:
        best = best_cascade(summary, r["window"]) if r["kind"] == "network" else None
        if best:
            rows.append({"method": r["method"], "window": r["window"],
                         "cascade": best["method"],
                         **{m: r[m] - best[m] for m in _metrics(summary)}})
    return rows


def to_csv(result: EvalResult) -> str:
    """Per-(sample, method, window) rows as CSV."""
    buf = io.StringIO()
    fields = _row_fields(result)
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for r in result.rows:
        writer.writerow(r.as_dict())
    return buf.getvalue()


def _row_fields(result: EvalResult) -> list:
    """A row's fields, the no-reference scores only when they were computed."""
    return [f for f in Row.__dataclass_fields__
            if f not in NOREF_METRICS or f in result.metrics]


def to_json(summary: dict, result: EvalResult) -> str:
    def clean(x):
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, list):
            return [clean(v) for v in x]
        return x
    fields = _row_fields(result)
    rows = [{k: v for k, v in r.as_dict().items() if k in fields} for r in result.rows]
    return json.dumps(clean({**summary, "rows": rows}), indent=2) + "\n"


def write_outputs(out_dir, summary: dict, result: EvalResult, overwrite: bool = False) -> list:
    """``results.md``, ``results.csv``, ``results.json`` and ``montage.png`` into ``out_dir``."""
    from spikesim.atomic import check_writable, write_text
    from spikesim.images import write_png

    d = Path(out_dir)
    names = ["results.md", "results.csv", "results.json"] + (
        ["montage.png"] if result.montage is not None else [])
    for n in names:
        check_writable(d / n, overwrite, "-o")
    write_text(d / "results.md", to_markdown(summary))
    write_text(d / "results.csv", to_csv(result))
    write_text(d / "results.json", to_json(summary, result))
    if result.montage is not None:
        write_png(d / "montage.png", result.montage)
    return [d / n for n in names]


__all__ = ["MethodSpec", "parse_methods", "parse_windows", "oracle_calibration", "evaluate",
           "evaluate_sample", "summarise", "best_cascade", "network_margins", "to_markdown",
           "to_csv", "to_json",
           "write_outputs", "check_weights_target",
           "DEFAULT_METHODS", "FULL_GRID_METHODS", "CALIB_MODES", "METHODS",
           "METRICS"]
