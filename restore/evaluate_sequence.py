"""Evaluate methods on a simulated sequence: ``spikerestore eval CAPTURE_DIR``.

``CAPTURE_DIR`` is a ``spikesim render … --truth-every N`` directory (``capture.dat``,
``render.yaml``, ``sequence_truth.npz``). Every method restores the capture at each truth
step whose longest window fits the stream (``W // 2 ≤ t ≤ T - W + W // 2`` with
``W = 192``, so no frame has a shifted window), through the same frame loop as
``spikerestore run --every`` (:func:`restore.sequence.restore_frames`), uncalibrated
(the network told the calibration is absent, the camera's dead time for the inversion),
with the camera exposure of the capture (``k`` and the illuminance of ``render.yaml``).

Per frame: PSNR and SSIM of the sRGB display image against the truth's sharp target at
that step (:mod:`restore.metrics`). Per method: their means and s.d. over the frames and
the **temporal flicker** ``mean_k mean_px |e_{k+1} - e_k|`` with ``e_k`` the display error
(restored − target) of frame ``k``: how much the error changes between consecutive frames,
in display units (0 for an error that stays put, however large). A method that is right
on average but jitters from frame to frame has a high flicker.

Cascades take σ, in order of the ``@`` suffix: the oracle (the median of the truth σ map
at that step), ``@est`` (estimated per frame) or ``@map`` (the truth σ map at that step).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spikesim.errors import InputError

from . import settings
from .exposure import camera_scale, to_display
from .metrics import psnr, ssim

SEQUENCE_FILES = ("sequence_results.md", "sequence_results.csv", "sequence_results.json")


def is_sequence_capture(path) -> bool:
    """Whether ``path`` is a ``spikesim render`` directory (it has ``render.yaml``)."""
    p = Path(path)
    return p.is_dir() and (p / "render.yaml").is_file() and (p / "capture.dat").is_file()


@dataclass
class SequenceRow:
    """One frame of one method."""

    method: str
    window: str
    index: int
    step: int
    psnr: float
    ssim: float
    seconds: float


def frames_in_range(truth_steps, length: int, window: int = settings.DEFAULT_WINDOW):
    """Indices of the truth steps whose window of ``window`` steps fits the stream."""
    lo, hi = window // 2, length - window + window // 2
    return [i for i, s in enumerate(np.asarray(truth_steps)) if lo <= int(s) <= hi]


def temporal_flicker(errors) -> float:
    """``mean_k mean |e_{k+1} - e_k|`` of display errors ``(F, H, W)``; NaN for F < 2."""
    e = np.asarray(errors, np.float64)
    if e.shape[0] < 2:
        return float("nan")
    return float(np.mean(np.abs(np.diff(e, axis=0))))


def _capture(capture_dir):
    from spikesim.sequence_truth import TRUTH_FILE, read_sequence_truth
    from spikesim.stream import SpikeStream
    from spikesim.yamlio import read_yaml_mapping_file

    d = Path(capture_dir)
    info = read_yaml_mapping_file(d / "render.yaml", "render.yaml")
    truth = read_sequence_truth(d / TRUTH_FILE)
    stream = SpikeStream.read_dat(d / "capture.dat")
    camera = info.get("camera") or {}
    scale = camera_scale(camera.get("k"), info.get("illuminance_lux"))
    if truth["sharp"].shape[1:] != (stream.height, stream.width):
        raise InputError("truth", str(d / TRUTH_FILE), f"frames of {stream.width}x"
                         f"{stream.height} like capture.dat", "render the capture again")
    return stream, truth, scale, float(camera.get("dead_time", settings.DEFAULT_DEAD_TIME))


def evaluate_sequence(capture_dir, specs, windows, *, device: str = "cpu", weights=None,
                      progress=None) -> dict:
    """Every (method spec × window) over the truth frames of ``capture_dir``.

    ``specs`` from :func:`restore.evaluate.parse_methods` (uncalibrated only),
    ``windows`` from :func:`restore.evaluate.parse_windows`. ``progress(i, n)`` after each
    (method, window). Returns the summary (plain data): ``overall`` rows per method and
    window (``psnr``, ``psnr_std``, ``ssim``, ``ssim_std``, ``flicker``, ``n``,
    ``ms_per_frame``) and ``frames`` (every :class:`SequenceRow` as a dict).
    """
    from .eval_weights import weights_for
    from .evaluate import machine_info, window_label
    from .sequence import restore_frames

    if any(s.calibrated for s in specs):
        raise InputError("--calib-mode", "oracle", "off for a sequence capture",
                         "a render capture is evaluated uncalibrated; drop --calib-mode")
    stream, truth, scale, dead_time = _capture(capture_dir)
    idx = frames_in_range(truth["steps"], len(stream))
    if not idx:
        raise InputError("truth", f"steps {truth['steps'].tolist()[:4]}...",
                         f"a truth step whose {settings.DEFAULT_WINDOW}-step window fits the "
                         f"{len(stream)}-step capture", "render a longer capture")
    steps = [int(truth["steps"][i]) for i in idx]
    targets = [to_display(truth["sharp"][i]) for i in idx]
    rows, overall, t0 = [], [], time.perf_counter()
    jobs = [(w, s) for w in windows for s in specs]
    for j, (window, spec) in enumerate(jobs):
        errors, mine = [], []
        frames = _frames(stream, steps, idx, truth, spec, window, dead_time, device,
                         weights_for(weights, spec.method), restore_frames)
        t_prev = time.perf_counter()
        for k, frame in enumerate(frames):
            disp = to_display((np.asarray(frame.lam, np.float64) * scale).astype(np.float32))
            now = time.perf_counter()
            mine.append(SequenceRow(spec.label, window_label(window), k, frame.step,
                                    psnr(disp, targets[k]), ssim(disp, targets[k]),
                                    now - t_prev))
            t_prev = now
            errors.append(disp.astype(np.float64) - targets[k])
        rows += mine
        overall.append({"method": spec.label, "window": window_label(window), "n": len(mine),
                        "psnr": float(np.mean([r.psnr for r in mine])),
                        "psnr_std": float(np.std([r.psnr for r in mine])),
                        "ssim": float(np.mean([r.ssim for r in mine])),
                        "ssim_std": float(np.std([r.ssim for r in mine])),
                        "flicker": temporal_flicker(errors),
                        "ms_per_frame": 1000.0 * float(np.median([r.seconds for r in mine]))})
        if progress is not None:
            progress(j + 1, len(jobs))
    return {"capture": str(capture_dir), "frames_evaluated": len(idx), "steps": steps,
            "every": int(truth["every"]) if "every" in truth else None,
            "overall": overall, "frames": [r.__dict__ for r in rows],
            "wall_s": time.perf_counter() - t0, "machine": machine_info()}


def _frames(stream, steps, idx, truth, spec, window, dead_time, device, weights,
            restore_frames):
    """Frames of one spec: one loop for one σ per sequence; per frame for truth σ."""
    if spec.sigma_mode in ("oracle", "map"):
        from .methods import restore
        from .sequence import Frame

        for k, (i, step) in enumerate(zip(idx, steps)):
            sig = float(np.median(truth["sigma"][i])) if spec.sigma_mode == "oracle" else None
            smap = truth["sigma"][i] if spec.sigma_mode == "map" else None
            res = restore(stream, spec.method, center=step, window=window, dead_time=dead_time,
                          sigma=sig, sigma_map=smap, device=device, weights=weights)
            yield Frame(k, step, res.lam, res.window, res.sigma, res.sigma_source)
        return
    yield from restore_frames(stream, steps, spec.method, window=window, dead_time=dead_time,
                              device=device, weights=weights)


def to_markdown(summary: dict) -> str:
    """The per-method table: mean PSNR / SSIM over the frames and the temporal flicker."""
    lines = [f"Sequence {summary['capture']}: {summary['frames_evaluated']} frames "
             f"(truth steps {summary['steps'][0]}..{summary['steps'][-1]})", "",
             "| method | window | PSNR dB | SSIM | flicker | ms/frame |",
             "|---|---|---|---|---|---|"]
    for r in summary["overall"]:
        lines.append(f"| {r['method']} | {r['window']} | {r['psnr']:.2f} ± {r['psnr_std']:.2f} "
                     f"| {r['ssim']:.3f} ± {r['ssim_std']:.3f} | {r['flicker']:.4f} "
                     f"| {r['ms_per_frame']:.0f} |")
    lines += ["", "flicker: mean |e(k+1) - e(k)| of the display error e between consecutive "
              "frames (lower is steadier)."]
    return "\n".join(lines) + "\n"


def to_csv(summary: dict) -> str:
    """Per-frame rows: method, window, index, step, psnr, ssim, seconds."""
    keys = ("method", "window", "index", "step", "psnr", "ssim", "seconds")
    out = [",".join(keys)]
    for r in summary["frames"]:
        out.append(",".join(f"{r[k]:.6g}" if isinstance(r[k], float) else str(r[k])
                            for k in keys))
    return "\n".join(out) + "\n"


def write_outputs(out_dir, summary: dict, overwrite: bool = False) -> list:
    """``sequence_results.{md,csv,json}`` into ``out_dir`` (atomic); the paths written."""
    from spikesim.atomic import write_json, write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md, csv, js = (out / n for n in SEQUENCE_FILES)
    write_text(md, to_markdown(summary), overwrite, "-o")
    write_text(csv, to_csv(summary), overwrite, "-o")
    write_json(js, summary, overwrite, "-o")
    return [md, csv, js]
