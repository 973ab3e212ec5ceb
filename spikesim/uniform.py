"""Uniform-field captures of one simulated camera (formats.md), the input of calibration.

:func:`uniform_fields` is the capture itself, a pure function of
``(camera, levels, steps, seed)``: one :class:`UniformField` (level, seed, spike stream)
per level, made one at a time. :func:`capture_uniform_fields` writes them into
``out_dir``:

- ``field_<level>.dat`` per level (``<level>`` as the user wrote it, e.g.
  ``field_153.dat``), each with its ``.dat.yaml`` sidecar;
- ``fields.yaml``: levels in order (lux), their file names, steps per field,
  resolution, readout rate, the full camera profile, ``fpn_seed``, the sensor seed
  and the derived seed of every field;
- ``truth.npz``: the camera's true maps (:meth:`spikesim.camera.Camera.save_truth`).

Every field gets its own seed derived from ``seed`` and the field's position
(:func:`field_seed`), so the fields are independent captures and the whole directory is
reproducible from ``(profile, fpn_seed, levels, steps, seed)``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from . import __version__, rng
from .atomic import LOCK, write_yaml, writer_lock
from .camera import Camera
from .config import to_mapping
from .errors import InputError, OutputExistsError
from .memory import check_capture
from .stream import SpikeStream


def level_label(level) -> str:
    """The text used in ``field_<level>.dat`` for a numeric level (``153.0`` -> ``153``)."""
    value = float(level)
    return str(int(value)) if value.is_integer() else repr(value)


def check_levels(levels, param: str = "levels") -> list[tuple[str, float]]:
    """``[(label, lux), ...]`` from numbers or strings; each finite and >= 0, labels unique.

    Strings keep the user's spelling as the label (``"153"`` -> ``field_153.dat``).
    """
    if isinstance(levels, (str, bytes)) or not hasattr(levels, "__iter__"):
        raise InputError(param, levels, "a list of illuminance levels in lux",
                         "pass e.g. [0, 153, 335]")
    out = []
    for item in levels:
        if isinstance(item, bool):
            raise InputError(param, item, "numbers (lux)", "replace it with a number")
        if isinstance(item, str):
            label = item.strip()
            try:
                value = float(label)
            except ValueError:
                raise InputError(param, item, "numbers (lux)",
                                 f"replace {item!r} with a number, e.g. 153") from None
        elif isinstance(item, (int, float, np.integer, np.floating)):
            value = float(item)
            label = level_label(value)
        else:
            raise InputError(param, item, "numbers (lux)", "replace it with a number")
        if not math.isfinite(value) or value < 0:
            raise InputError(param, item, "finite illuminance levels >= 0 (lux)",
                             "use 0 for a dark field; light cannot be negative")
        if "/" in label or os.sep in label or not label:
            raise InputError(param, item, "a plain number", "write the level as a number")
        out.append((label, value))
    if not out:
        raise InputError(param, levels, "at least one level", "pass e.g. 0,153,335")
    labels = [lab for lab, _ in out]
    dup = sorted({lab for lab in labels if labels.count(lab) > 1})
    if dup:
        raise InputError(param, ", ".join(dup), "distinct levels", "remove the repeated level")
    return out


def field_seed(seed: int, index: int) -> int:
    """The sensor seed of field number ``index`` (0-based, in the order given)."""
    return rng.derive_seed(seed, rng.UNIFORM_FIELD, index)


@dataclass(frozen=True)
class UniformField:
    """One uniform-field capture.

    label : str, the level as written (``field_<label>.dat``)
    level : float, lux
    seed : int, the sensor seed of this field
    stream : SpikeStream, ``(steps, H, W)``
    """

    label: str
    level: float
    seed: int
    stream: SpikeStream


def _check_seed(seed, param: str) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(param, seed, "an integer >= 0", "pass e.g. --seed 0")
    return int(seed)


def uniform_fields(camera: Camera, levels, steps: int, seed: int = 0, *, field_seeds=None,
                   threads: int | None = None) -> Iterator[UniformField]:
    """Uniform-field captures of ``camera``, one per level, in the order given.

    Parameters
    ----------
    camera : the :class:`~spikesim.camera.Camera`
    levels : sequence of illuminances in lux (numbers or numeric strings), >= 0
    steps : readout steps per field
    seed : int >= 0; field ``i`` is captured with ``field_seed(seed, i)``
    field_seeds : optional sequence of one sensor seed per level, used instead of
        ``seed`` (a caller with its own seed derivation, e.g. DeSpike training)
    threads : numba threads (the bytes do not depend on it)

    Returns
    -------
    An iterator of :class:`UniformField`, made one at a time (a 20,000-step 400x250
    field is 250 MB packed). Arguments are checked at the call, before any capture.
    """
    if not isinstance(camera, Camera):
        raise InputError("camera", type(camera).__name__, "a spikesim.camera.Camera",
                         "build it with Camera(profile, fpn_seed)")
    parsed = check_levels(levels)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise InputError("steps", steps, "an integer >= 1", "pass e.g. --steps 20000")
    if field_seeds is None:
        seeds = [field_seed(_check_seed(seed, "seed"), i) for i in range(len(parsed))]
    else:
        seeds = [_check_seed(s, "field_seeds") for s in field_seeds]
        if len(seeds) != len(parsed):
            raise InputError("field_seeds", f"{len(seeds)} seeds", f"{len(parsed)}, one per level",
                             "give one seed per level")
    return _capture_fields(camera, parsed, int(steps), seeds, threads)


def _capture_fields(camera, parsed, steps, seeds, threads) -> Iterator[UniformField]:
    for (label, lux), s in zip(parsed, seeds):
        irradiance = np.full(camera.shape, lux, dtype=np.float32)
        yield UniformField(label, lux, s, camera.capture(irradiance, steps, s, threads=threads))


def capture_uniform_fields(camera: Camera, levels, steps: int, out_dir, seed: int = 0,
                           overwrite: bool = False, *, threads: int | None = None,
                           progress=None) -> dict:
    """Capture the uniform fields of ``camera`` (:func:`uniform_fields`) into ``out_dir``.

    Parameters
    ----------
    camera : the :class:`~spikesim.camera.Camera`
    levels : sequence of illuminances in lux (numbers or numeric strings), >= 0
    steps : readout steps per field
    out_dir : output directory; must be absent or empty unless ``overwrite``
    seed : int >= 0, seed of the temporal randomness (one derived seed per field)
    threads : numba threads (the bytes do not depend on it)
    progress : optional callable ``progress(label)`` called after each field

    Returns
    -------
    dict, the content written to ``fields.yaml``.
    """
    fields_iter = uniform_fields(camera, levels, steps, seed, threads=threads)
    check_capture(steps, camera.height, camera.width)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError("output", str(out_dir), "a directory", "choose a directory path")
    with writer_lock(out_dir):                    # one run writes the directory at a time
        if any(p.name != LOCK for p in out_dir.iterdir()) and not overwrite:
            raise OutputExistsError(out_dir, "output")
        return _write_fields(camera, fields_iter, steps, out_dir, seed, overwrite, progress)


def _write_fields(camera, fields_iter, steps, out_dir: Path, seed, overwrite, progress) -> dict:
    """The files of :func:`capture_uniform_fields`, under the directory's writer lock."""
    profile = camera.profile
    fields = []
    for field in fields_iter:
        name = f"field_{field.label}.dat"
        field.stream.write_dat(out_dir / name, overwrite=overwrite,
                               provenance={"kind": "uniform field", "level_lux": field.level,
                                           "camera": profile.name,
                                           "fpn_seed": camera.fpn_seed, "seed": field.seed})
        fields.append({"level": field.level, "label": field.label, "file": name,
                       "seed": field.seed})
        if progress is not None:
            progress(field.label)
    camera.save_truth(out_dir / "truth.npz", overwrite=overwrite)
    meta = {
        "levels": [f["level"] for f in fields],
        "fields": fields,
        "steps": int(steps),
        "width": camera.width,
        "height": camera.height,
        "resolution": f"{camera.width}x{camera.height}",
        "readout_hz": profile.readout_hz,
        "camera": to_mapping(profile),
        "fpn_seed": camera.fpn_seed,
        "seed": int(seed),
        "truth": "truth.npz",
        "written_by": f"spikesim {__version__}",
    }
    write_yaml(out_dir / "fields.yaml", meta, overwrite=True)
    return meta
