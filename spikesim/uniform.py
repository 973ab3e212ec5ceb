"""Uniform-field captures of one simulated camera (formats.md), the input of calibration.

``capture_uniform_fields`` writes into ``out_dir``:

- ``field_<level>.dat`` per level (``<level>`` as the user wrote it, e.g.
  ``field_153.dat``), each with its ``.dat.yaml`` sidecar;
- ``fields.yaml``: levels in order (lux), their file names, steps per field,
  resolution, readout rate, the full camera profile, ``fpn_seed``, the sensor seed
  and the derived seed of every field;
- ``truth.npz``: the camera's true maps (:func:`spikesim.fpn.save_truth`).

Every field gets its own seed derived from ``seed`` and the field's position, so
the fields are independent captures and the whole directory is reproducible from
``(profile, fpn_seed, levels, steps, seed)``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from . import __version__, rng
from .atomic import write_yaml
from .config import CameraProfile, to_mapping
from .errors import InputError, OutputExistsError
from .fpn import check_fpn_seed, draw_fixed_pattern, save_truth
from .sensor import capture


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
    return rng.derive_seed(seed, 0x756E69, index)      # 0x756E69: "uni"


def capture_uniform_fields(profile: CameraProfile | None, fpn_seed: int, levels, steps: int,
                           out_dir, seed: int = 0, overwrite: bool = False, *,
                           threads: int | None = None, progress=None) -> dict:
    """Capture uniform fields of the camera ``(profile, fpn_seed)`` into ``out_dir``.

    Parameters
    ----------
    profile : camera profile (``None``: the reference camera)
    fpn_seed : int >= 0, which camera of that profile
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
    profile = profile if profile is not None else CameraProfile()
    fpn_seed = check_fpn_seed(fpn_seed)
    parsed = check_levels(levels)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise InputError("steps", steps, "an integer >= 1", "pass e.g. --steps 20000")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError("seed", seed, "an integer >= 0", "pass e.g. --seed 0")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError("output", str(out_dir), "a directory", "choose a directory path")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise OutputExistsError(out_dir, "output")
    out_dir.mkdir(parents=True, exist_ok=True)

    fpn = draw_fixed_pattern(profile, fpn_seed)
    h, w = profile.height, profile.width
    fields = []
    for index, (label, lux) in enumerate(parsed):
        s = field_seed(seed, index)
        irradiance = np.full((h, w), lux, dtype=np.float32)
        stream = capture(irradiance, profile, fpn_seed, int(steps), s, fpn=fpn, threads=threads)
        name = f"field_{label}.dat"
        stream.write_dat(out_dir / name, overwrite=overwrite,
                         provenance={"kind": "uniform field", "level_lux": lux,
                                     "camera": profile.name, "fpn_seed": fpn_seed,
                                     "seed": s})
        fields.append({"level": lux, "label": label, "file": name, "seed": s})
        if progress is not None:
            progress(label)
    save_truth(out_dir / "truth.npz", fpn, profile, overwrite=overwrite, fpn_seed=fpn_seed)
    meta = {
        "levels": [f["level"] for f in fields],
        "fields": fields,
        "steps": int(steps),
        "width": w,
        "height": h,
        "resolution": f"{w}x{h}",
        "readout_hz": profile.readout_hz,
        "camera": to_mapping(profile),
        "fpn_seed": fpn_seed,
        "seed": int(seed),
        "truth": "truth.npz",
        "written_by": f"spikesim {__version__}",
    }
    write_yaml(out_dir / "fields.yaml", meta, overwrite=True)
    return meta
