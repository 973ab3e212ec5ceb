"""``spikerestore run``: one input (a capture, a dataset sample or a whole dataset) to PNGs.

The library side of :mod:`cli.restore_run` (the command only parses and prints).

Inputs
------
- a ``.dat`` (``size`` needed unless a sidecar or the 400×250 default fits) or an
  ``.npz`` (packed, or dense with ``axes``): a **bare capture**. Exposure ``auto`` by
  default; ``camera`` for a ``spikesim render`` capture (its ``render.yaml`` beside the
  file records ``k`` and the illuminance: :func:`render_response`); cascades use
  ``sigma`` when given, otherwise the σ estimator; the dead time of the uncalibrated
  inversion is ``dead_time`` (default the calibration's, else 1).
- a dataset **sample** directory (with ``sample.yaml``): exposure ``camera`` by default
  (the sample's ``k`` and illuminance); cascades use the **oracle** σ (the median of
  the sample's σ map) unless ``sigma`` is given; the key step is the sample's.
- a **dataset** directory (with ``manifest.yaml``): every sample as above, one PNG each
  into the output directory (``<id>.png``).

With ``every`` (:func:`run_sequence`, a capture or a sample): the key steps of
:func:`restore.sequence.key_steps` into a ``.mp4``, a ``.gif`` or a directory of numbered
PNGs (:mod:`restore.video`), one exposure for the whole sequence.

Output contract (despike.md): an 8-bit sRGB PNG of an intensity estimate that is
linear in scene intensity up to one scale, with zero black level; with ``linear``
also a 16-bit PNG of the linear values (``<name>_linear.png``), clipped to [0, 1].
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spikesim.errors import InputError

from . import settings
from .exposure import expose
from .sequence import shared_counts

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """What was written for one input."""

    source: str
    output: str
    linear_output: str | None
    method: str
    window: int
    sigma: float | None
    sigma_source: str | None
    exposure: str
    scale: float
    anchor_scale: float | None = None     # px, the low-frequency anchor's; None: not anchored
    anchor_sigma: float | None = None     # px, the blur σ̂ it compared through

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def input_kind(path) -> str:
    """``"dataset"``, ``"sample"`` or ``"capture"`` for an input path."""
    p = Path(path)
    if p.is_dir():
        if (p / "sample.yaml").is_file():
            return "sample"
        if (p / "manifest.yaml").is_file():
            return "dataset"
        raise InputError("INPUT", str(p), "a spike file, a dataset sample (with sample.yaml) "
                         "or a dataset directory (with manifest.yaml)",
                         "this directory has neither manifest.yaml nor sample.yaml; make a "
                         "dataset with `spikesim generate` or give a spike file")
    if not p.exists():
        raise InputError("INPUT", str(p), "an existing file or directory", "check the path")
    return "capture"


def linear_path(out) -> Path:
    out = Path(out)
    return out.with_name(out.stem + "_linear.png")


def _write(lin, out, linear: bool, overwrite: bool):
    from spikesim.images import write_png16, write_png_srgb

    write_png_srgb(out, np.clip(lin, 0.0, 1.0), overwrite=overwrite)
    lp = None
    if linear:
        lp = linear_path(out)
        write_png16(lp, np.clip(lin, 0.0, 1.0), overwrite=overwrite)
    return lp


def check_outputs(out, linear: bool, overwrite: bool) -> None:
    """Refuse existing outputs before any work (never clobber without ``overwrite``)."""
    from spikesim.atomic import check_writable

    check_writable(out, overwrite, "-o")
    if linear:
        check_writable(linear_path(out), overwrite, "-o")


RENDER_RECORD = "render.yaml"     # written by `spikesim render` beside capture.dat


def render_response(stream) -> tuple[float, float] | None:
    """``(k, illuminance)`` of a ``spikesim render`` capture, else ``None``.

    Read from the ``render.yaml`` beside the stream's ``.dat`` when that record
    describes this stream (same size and number of steps): ``k`` (thresholds per lux
    per step) is its camera's, the illuminance (lux of a scene value of 1) its
    ``illuminance_lux``.
    """
    from spikesim.yamlio import read_yaml_mapping_file

    source = getattr(stream, "source", None)
    record = Path(source).parent / RENDER_RECORD if source else None
    if record is None or not record.is_file():
        return None
    info = read_yaml_mapping_file(record, RENDER_RECORD)
    camera = info.get("camera") if isinstance(info.get("camera"), dict) else {}
    if (info.get("steps") != len(stream)
            or info.get("size") != f"{stream.width}x{stream.height}"
            or "k" not in camera or "illuminance_lux" not in info):
        return None
    return camera["k"], info["illuminance_lux"]


def capture_exposure(stream, exposure: str) -> dict:
    """``expose`` keywords for a bare capture: ``camera`` needs :func:`render_response`."""
    if exposure != "camera":
        return {}
    response = render_response(stream)
    if response is None:
        raise InputError("--exposure", "camera", "auto for a bare capture",
                         "the camera response (k, illuminance) is known only for dataset "
                         f"samples and spikesim render captures (their {RENDER_RECORD}); "
                         "use --exposure auto")
    return {"k": response[0], "illuminance": response[1]}


def run_capture(stream, out, *, method: str = settings.DEFAULT_METHOD, calib=None,
                center=None, window=None, sigma=None, exposure: str = "auto",
                dead_time=None, linear: bool = False, overwrite: bool = False,
                device: str = "cpu", source: str = "", weights=None,
                anchor: bool = settings.ANCHOR_DEFAULT) -> RunResult:
    """Restore a bare capture (a SpikeStream) and write ``out`` (and its linear PNG);
    ``anchor``: a network's calibrated output is matched to the calibrated TFP at low
    frequencies (:mod:`restore.anchor`)."""
    from .methods import restore

    response = capture_exposure(stream, exposure)
    check_outputs(out, linear, overwrite)
    if dead_time is None:
        dead_time = calib.dead_time if calib is not None else settings.DEFAULT_DEAD_TIME
    res = restore(shared_counts(stream, method), method, center=center, window=window,
                  calib=calib, dead_time=dead_time, sigma=sigma, device=device, weights=weights,
                  anchor=anchor)
    lin, scale = expose(res.lam, exposure, **response)
    lp = _write(lin, out, linear, overwrite)
    return RunResult(source, str(out), str(lp) if lp else None, method, res.window, res.sigma,
                     res.sigma_source, exposure, scale, res.anchor_scale, res.anchor_sigma)


def run_sample(sample_dir, out, *, method: str = settings.DEFAULT_METHOD, calib=None,
               center=None, window=None, sigma=None, exposure: str | None = None,
               dead_time=None, linear: bool = False, overwrite: bool = False,
               device: str = "cpu", sample=None, weights=None,
               anchor: bool = settings.ANCHOR_DEFAULT) -> RunResult:
    """Restore a dataset sample (oracle σ and camera exposure by default)."""
    from spikesim.dataset import load_sample

    from .methods import restore

    check_outputs(out, linear, overwrite)
    sample = sample if sample is not None else load_sample(sample_dir)
    exposure = exposure or "camera"
    oracle = sample.params.get("sigma_median", np.median(sample.sigma))
    if sigma is None and "+" in method and oracle is not None:   # None: blur unknown (dpdd),
        sigma = float(oracle)                                       # so σ is estimated
        src = "oracle"
    else:
        src = None
    if dead_time is None:
        dead_time = (calib.dead_time if calib is not None
                     else float(sample.camera.get("dead_time", settings.DEFAULT_DEAD_TIME)))
    res = restore(shared_counts(sample.stream, method),
                  method, center=sample.key_step if center is None else center,
                  window=window, calib=calib, dead_time=dead_time, sigma=sigma, device=device,
                  weights=weights, anchor=anchor)
    lin, scale = expose(res.lam, exposure, k=float(sample.params["camera"]["k"]),
                        illuminance=sample.illuminance)
    lp = _write(lin, out, linear, overwrite)
    return RunResult(str(sample_dir), str(out), str(lp) if lp else None, method, res.window,
                     res.sigma, src or res.sigma_source, exposure, scale, res.anchor_scale,
                     res.anchor_sigma)


def run_dataset(dataset_dir, out_dir, *, progress=None, **kwargs) -> list:
    """Every sample of a dataset into ``out_dir/<id>.png``; ``progress(i, n)`` per sample."""
    from spikesim.dataset import read_manifest, sample_name

    d = Path(dataset_dir)
    entries = read_manifest(d)["samples"]
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError("-o", str(out_dir), "a directory for a dataset input",
                         "give a directory path with -o")
    out_dir.mkdir(parents=True, exist_ok=True)
    # refuse clobbering before any work
    for e in entries:
        check_outputs(out_dir / f"{sample_name(e['id'])}.png", kwargs.get("linear", False),
                      kwargs.get("overwrite", False))
    results = []
    for i, e in enumerate(entries):
        name = sample_name(e["id"])
        results.append(run_sample(d / "samples" / name, out_dir / f"{name}.png", **kwargs))
        if progress is not None:
            progress(i + 1, len(entries))
    return results


@dataclass
class SequenceResult:
    """What ``run --every`` wrote: the output and one record per frame."""

    source: str
    output: str
    kind: str                  # "mp4", "gif" or "dir"
    method: str
    every: int
    exposure: str
    scale: float
    frames: list               # [{"index", "step", "window", "sigma", "sigma_source", "files"}]

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def run_sequence(input_path, out, *, every, start=None, stop=None, fps: float = 10.0,
                 method: str = settings.DEFAULT_METHOD, calib=None, window=None, sigma=None,
                 exposure: str | None = None, dead_time=None, linear: bool = False,
                 overwrite: bool = False, device: str = "cpu", weights=None, stream=None,
                 batch: int = 1, progress=None,
                 anchor: bool = settings.ANCHOR_DEFAULT) -> SequenceResult:
    """Restore key steps ``start, start + every, …`` of a capture or a dataset sample.

    ``stream`` is the opened capture (a SpikeStream) when ``input_path`` is a spike
    file; a sample directory is read here (its camera exposure, oracle σ for the
    cascades and dead time, as :func:`run_sample`). Everything is validated before the
    first frame; ``progress(i, n)`` is called after each frame. Frame ``k`` equals
    :func:`run_capture` / :func:`run_sample` with ``center = start + k every`` (the
    exposure aside: one for the sequence, :mod:`restore.sequence`); ``batch`` frames per
    forward pass of the network (faster on some machines; equal to float32 rounding);
    ``anchor`` as :func:`run_capture`'s, frame by frame.
    """
    from .sequence import (check_batch, check_every_input, key_steps, restore_frames,
                           sequence_exposure)
    from .video import check_sequence_output, sequence_writer

    kind = input_kind(input_path)
    check_every_input(kind, every)
    check_batch(batch)
    src = None
    if kind == "sample":
        from spikesim.dataset import load_sample

        sample = load_sample(input_path)
        stream = sample.stream
        mode = exposure or "camera"
        response = {"k": float(sample.params["camera"]["k"]),
                    "illuminance": sample.illuminance}
        if sigma is None and "+" in method:
            sigma, src = float(sample.params.get("sigma_median", np.median(sample.sigma))), \
                "oracle"
        if dead_time is None and calib is None:
            dead_time = float(sample.camera.get("dead_time", settings.DEFAULT_DEAD_TIME))
    else:
        mode = exposure or "auto"
        response = capture_exposure(stream, mode)
    if dead_time is None:
        dead_time = calib.dead_time if calib is not None else settings.DEFAULT_DEAD_TIME
    steps = key_steps(len(stream), every, start, stop, window)
    out_kind = check_sequence_output(out, len(steps), linear, overwrite, fps)
    expo = sequence_exposure(mode, **response) if mode == "camera" else sequence_exposure(mode)
    records = []
    with sequence_writer(out, fps=fps, linear=linear, overwrite=overwrite) as writer:
        for frame in restore_frames(stream, steps, method, calib=calib, window=window,
                                    sigma=sigma, dead_time=dead_time, device=device,
                                    weights=weights, sigma_source=src, batch=batch,
                                    anchor=anchor):
            records.append(_write_frame(frame, expo, writer))
            del frame                    # nothing of this frame is kept while the next one
            if progress is not None:     # is restored
                progress(len(records), len(steps))
    return SequenceResult(str(input_path), str(out), out_kind, method, int(every), mode,
                          float(expo.scale), records)


def _write_frame(frame, expo, writer) -> dict:
    """Expose and write one frame of a sequence; its record for :class:`SequenceResult`."""
    lin, display = expo.apply(frame.lam)
    files = writer.write(display, lin)
    return {"index": frame.index, "step": frame.step, "window": frame.window,
            "sigma": frame.sigma, "sigma_source": frame.sigma_source, "files": files}
