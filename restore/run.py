"""``spikerestore run``: one input (a capture, a dataset sample or a whole dataset) to PNGs.

The library side of :mod:`cli.restore_run` (the command only parses and prints).

Inputs
------
- a ``.dat`` (``size`` needed unless a sidecar or the 400×250 default fits) or an
  ``.npz`` (packed, or dense with ``axes``): a **bare capture**. Exposure ``auto`` by
  default; cascades use ``sigma`` when given, otherwise the σ estimator; the dead time
  of the uncalibrated inversion is ``dead_time`` (default the calibration's, else 1).
- a dataset **sample** directory (with ``sample.yaml``): exposure ``camera`` by default
  (the sample's ``k`` and illuminance); cascades use the **oracle** σ (the median of
  the sample's σ map) unless ``sigma`` is given; the key step is the sample's.
- a **dataset** directory (with ``manifest.yaml``): every sample as above, one PNG each
  into the output directory (``<id>.png``).

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


def run_capture(stream, out, *, method: str = settings.DEFAULT_METHOD, calib=None,
                center=None, window=None, sigma=None, exposure: str = "auto",
                dead_time=None, linear: bool = False, overwrite: bool = False,
                device: str = "cpu", source: str = "", weights=None) -> RunResult:
    """Restore a bare capture (a SpikeStream) and write ``out`` (and its linear PNG)."""
    from .methods import restore

    if exposure == "camera":
        raise InputError("--exposure", "camera", "auto for a bare capture",
                         "the camera response (k, illuminance) is known only for dataset "
                         "samples; use --exposure auto")
    check_outputs(out, linear, overwrite)
    if dead_time is None:
        dead_time = calib.dead_time if calib is not None else settings.DEFAULT_DEAD_TIME
    res = restore(stream, method, center=center, window=window, calib=calib,
                  dead_time=dead_time, sigma=sigma, device=device, weights=weights)
    lin, scale = expose(res.lam, exposure)
    lp = _write(lin, out, linear, overwrite)
    return RunResult(source, str(out), str(lp) if lp else None, method, res.window, res.sigma,
                     res.sigma_source, exposure, scale)


def run_sample(sample_dir, out, *, method: str = settings.DEFAULT_METHOD, calib=None,
               center=None, window=None, sigma=None, exposure: str | None = None,
               dead_time=None, linear: bool = False, overwrite: bool = False,
               device: str = "cpu", sample=None, weights=None) -> RunResult:
    """Restore a dataset sample (oracle σ and camera exposure by default)."""
    from spikesim.dataset import load_sample

    from .methods import restore

    check_outputs(out, linear, overwrite)
    sample = sample if sample is not None else load_sample(sample_dir)
    exposure = exposure or "camera"
    if sigma is None and "+" in method:
        sigma = float(sample.params.get("sigma_median", np.median(sample.sigma)))
        src = "oracle"
    else:
        src = None
    if dead_time is None:
        dead_time = (calib.dead_time if calib is not None
                     else float(sample.camera.get("dead_time", settings.DEFAULT_DEAD_TIME)))
    res = restore(sample.stream, method, center=sample.key_step if center is None else center,
                  window=window, calib=calib, dead_time=dead_time, sigma=sigma, device=device,
                  weights=weights)
    lin, scale = expose(res.lam, exposure, k=float(sample.params["camera"]["k"]),
                        illuminance=sample.illuminance)
    lp = _write(lin, out, linear, overwrite)
    return RunResult(str(sample_dir), str(out), str(lp) if lp else None, method, res.window,
                     res.sigma, src or res.sigma_source, exposure, scale)


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
