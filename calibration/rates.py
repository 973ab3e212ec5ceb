"""Per-pixel firing rates of uniform-field captures, from the streaming spike counter.

A capture is never decoded whole: the spikes of each half are counted with
:meth:`spikesim.stream.SpikeStream.counts` (a compiled popcount reading the file in
chunks into one reused buffer). The two halves give the temporal-noise floor and the
unstable-pixel test (physics.md §5).

Units: counts are spikes, rates are spikes per readout step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spikesim.errors import InputError

from . import settings


@dataclass
class FieldRates:
    """Spike counts of one uniform-field capture, split into two halves.

    Attributes
    ----------
    counts_a, counts_b : (H, W) int64, spikes in the first / second half
    steps_a, steps_b : int, readout steps in each half (``steps_b >= steps_a``)
    source : str, where the counts came from (a file name or ``"array"``)
    """

    counts_a: np.ndarray
    counts_b: np.ndarray
    steps_a: int
    steps_b: int
    source: str = "array"

    def __post_init__(self):
        self.counts_a = np.asarray(self.counts_a, dtype=np.int64)
        self.counts_b = np.asarray(self.counts_b, dtype=np.int64)
        if self.counts_a.ndim != 2 or self.counts_a.shape != self.counts_b.shape:
            raise InputError("counts", f"halves of shapes {self.counts_a.shape} and "
                             f"{self.counts_b.shape}", "two (H, W) maps of one shape",
                             "count both halves of the same capture")
        if self.steps_a < 1 or self.steps_b < 1:
            raise InputError(self.source, f"{self.steps_a + self.steps_b} steps",
                             "a capture of at least 2 steps", "record a longer field")
        if (self.counts_a < 0).any() or (self.counts_a > self.steps_a).any() \
                or (self.counts_b < 0).any() or (self.counts_b > self.steps_b).any():
            raise InputError(self.source, "counts outside [0, steps]",
                             "at most one spike per pixel and step",
                             "check the capture's resolution and length")

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)``."""
        return self.counts_a.shape

    @property
    def steps(self) -> int:
        """Readout steps of the whole capture."""
        return self.steps_a + self.steps_b

    @property
    def counts(self) -> np.ndarray:
        """(H, W) int64 spikes of the whole capture."""
        return self.counts_a + self.counts_b

    @property
    def rate(self) -> np.ndarray:
        """(H, W) float64 spikes per step over the whole capture (the paper's ``I_k``)."""
        return self.counts / float(self.steps)

    @property
    def rate_a(self) -> np.ndarray:
        """(H, W) float64 rate of the first half."""
        return self.counts_a / float(self.steps_a)

    @property
    def rate_b(self) -> np.ndarray:
        """(H, W) float64 rate of the second half."""
        return self.counts_b / float(self.steps_b)

    @classmethod
    def from_counts(cls, counts, steps: int, rng=None, source: str = "array") -> "FieldRates":
        """Split whole-capture ``counts`` into two halves (for synthetic rate maps in tests).

        Without ``rng`` the split is the even share (``counts // 2`` in the first
        half); with a ``numpy.random.Generator`` it is binomial.
        """
        counts = np.asarray(counts, dtype=np.int64)
        steps = int(steps)
        steps_a = steps // 2
        if rng is None:
            a = (counts * steps_a) // max(steps, 1)
        else:
            a = rng.binomial(counts, steps_a / steps)
        a = np.clip(a, counts - (steps - steps_a), steps_a)
        return cls(a, counts - a, steps_a, steps - steps_a, source)


def measure_stream(stream, source: str | None = None) -> FieldRates:
    """Count the spikes of both halves of a :class:`~spikesim.stream.SpikeStream`.

    The first half is steps ``[0, T // 2)``, the second ``[T // 2, T)``.
    """
    t = len(stream)
    if t < 2:
        raise InputError(source or stream.source or "field", f"{t} steps",
                         "a capture of at least 2 steps", "record a longer field")
    half = t // 2
    a = stream.counts(0, half)
    b = stream.counts(half, t)
    return FieldRates(a, b, half, t - half, source or stream.source or "stream")


def measure_field(path, size=None) -> FieldRates:
    """Rates of a ``.dat`` (or ``.npz``) capture file, read lazily in chunks.

    Parameters
    ----------
    path : the capture
    size : ``(W, H)`` or None (the sidecar's, else 400x250)
    """
    from spikesim.stream import SpikeStream

    stream = SpikeStream.open(path, size=size)
    return measure_stream(stream, source=str(path))


def check_fields(fields: list[FieldRates]) -> None:
    """All fields must share one resolution and one length; errors name the odd one."""
    if not fields:
        raise InputError("fields", "none", "at least one uniform-field capture",
                         "give the capture files (or a `spikesim uniform` directory)")
    first = fields[0]
    for f in fields[1:]:
        if f.shape != first.shape:
            raise InputError("fields", f"{Path(f.source).name} is "
                             f"{f.shape[1]}x{f.shape[0]} but {Path(first.source).name} is "
                             f"{first.shape[1]}x{first.shape[0]}",
                             "fields of one resolution (one camera)",
                             "capture every field with the same camera and --size")
        if f.steps != first.steps:
            raise InputError("fields", f"{Path(f.source).name} has {f.steps} steps but "
                             f"{Path(first.source).name} has {first.steps}",
                             "fields of one length (equal statistics per level)",
                             "capture every field for the same number of steps, or trim them")
    for f in fields:
        if not f.counts.any():
            raise InputError("fields", f"{Path(f.source).name}: no spike at all in "
                             f"{f.steps} steps", "a capture in which pixels fire",
                             "the capture is all zero: check the camera, exposure or --size")


def robust_sd(x, mask=None) -> float:
    """Standard deviation after iterative clipping at ``SIGMA_CLIP`` s.d. (outliers ignored).

    Suited to the discrete half differences of very regular pixels, where the MAD
    can be zero.
    """
    x = np.asarray(x, dtype=np.float64)
    if mask is not None:
        x = x[mask]
    x = x[np.isfinite(x)]
    if x.size < 2:
        return 0.0
    keep = np.ones(x.size, dtype=bool)
    sd = float(np.std(x))
    for _ in range(settings.SIGMA_CLIP_ITERATIONS):
        centre = float(np.median(x[keep]))
        new_keep = np.abs(x - centre) <= settings.SIGMA_CLIP * sd if sd > 0 else keep
        if new_keep.sum() < 2:
            break
        keep = new_keep
        new_sd = float(np.std(x[keep]))
        if new_sd == sd:
            break
        sd = new_sd
    return sd


def rate_noise(field: FieldRates, mask=None) -> float:
    """Temporal noise of the whole capture's rate, spikes per step (one figure per field).

    ``sd(A - B) / 2`` over pixels (physics.md §5), clipped against outliers, and never
    below ``MIN_COUNT_SD`` spikes (count quantisation) over the capture length.
    """
    diff = field.rate_a - field.rate_b
    sd = robust_sd(diff, mask) / 2.0
    return max(sd, settings.MIN_COUNT_SD / field.steps)


def noise_floor_pct(field: FieldRates, mask=None) -> float:
    """The temporal-noise floor of physics.md §5, in %: ``sd(A - B) / 2`` over the mean rate.

    Plain (unclipped) standard deviation over the pixels of ``mask`` (the good pixels).
    """
    diff = field.rate_a - field.rate_b
    rate = field.rate
    if mask is not None:
        diff, rate = diff[mask], rate[mask]
    mean = float(np.mean(rate)) if rate.size else 0.0
    if mean <= 0 or diff.size < 2:
        return 0.0
    return 100.0 * float(np.std(diff)) / 2.0 / mean


def read_uniform_dir(directory) -> dict:
    """The capture list of a ``spikesim uniform -o DIR`` directory (formats.md).

    Reads ``DIR/fields.yaml`` (:mod:`spikesim.yamlio`, strict): the levels in order, the
    steps and the resolution; the field files are ``DIR/field_<level>.dat`` (or the file
    names the YAML lists under ``files``/``fields``: plain relative names inside ``DIR``,
    never absolute or through ``..``; formats.md). Levels must be distinct finite numbers
    >= 0, the field files distinct files, and the resolution and steps those of the files
    (their sidecars, their sizes).

    Returns ``{"paths": [...], "levels": [...], "size": (W, H) or None, "truth": path or None}``.
    """
    from spikesim.yamlio import read_yaml

    directory = Path(directory)
    spec = directory / "fields.yaml"
    if not spec.is_file():
        raise InputError("FIELDS", str(directory), "a `spikesim uniform` directory with fields.yaml",
                         "give the field files and --levels, or the directory spikesim wrote")
    data = read_yaml(spec, "fields.yaml")
    if not isinstance(data, dict) or "levels" not in data:
        raise InputError(str(spec), "no `levels` key", "the levels of the fields in order",
                         "write it with `spikesim uniform`")
    raw_levels = data["levels"]
    if not isinstance(raw_levels, list) or len(raw_levels) < 1 or not all(
            _is_number(v) and np.isfinite(float(v)) and float(v) >= 0 for v in raw_levels):
        raise InputError(f"{spec}: levels", raw_levels,
                         "a list of illuminances in lux (finite numbers >= 0)",
                         "write it with `spikesim uniform`, e.g. levels: [0, 153, 335]")
    levels = [float(v) for v in raw_levels]
    if len(set(levels)) != len(levels):
        raise InputError(f"{spec}: levels", raw_levels, "distinct levels",
                         "each field is one illuminance; list each once")
    files = data.get("files") or data.get("fields")
    if isinstance(files, list) and files and all(isinstance(f, str) for f in files):
        names = list(files)
    elif isinstance(files, list) and files and all(isinstance(f, dict) for f in files):
        names = [str(f.get("file", f.get("path", ""))) for f in files]
    else:
        names = [f"field_{_level_name(v, raw)}.dat" for v, raw in zip(levels, raw_levels)]
    if len(names) != len(levels):
        raise InputError(f"{spec}: files", f"{len(names)} files for {len(levels)} levels",
                         "one field file per level", "list one file per level, in order")
    paths = []
    for name in names:
        p = Path(name)
        if p.is_absolute() or ".." in p.parts or not name:
            raise InputError(f"{spec}: files", name, "a file name inside the directory",
                             "fields.yaml lists the files beside it; move them there")
        paths.append(directory / p)
    if len({str(p.resolve()) for p in paths}) != len(paths):
        raise InputError(f"{spec}: files", ", ".join(names), "one distinct file per level",
                         "each level needs its own capture; list each file once")
    size = _resolution(data, spec)
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise InputError("FIELDS", ", ".join(missing), "the field files fields.yaml lists",
                         "the directory is incomplete; run `spikesim uniform` again")
    _check_against_files(spec, paths, size, data.get("steps"))
    truth = directory / "truth.npz"
    return {"paths": paths, "levels": levels, "size": size,
            "truth": truth if truth.is_file() else None}


def _check_against_files(spec: Path, paths, size, steps) -> None:
    """fields.yaml must describe its files: its resolution the one each field's sidecar
    records, and ``steps`` frames of that resolution the size of each ``.dat`` (a wrong
    resolution would otherwise be read as another number of frames of another size)."""
    from spikesim.stream import frame_bytes, read_sidecar

    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int)
                              or steps < 1):
        raise InputError(f"{spec}: steps", steps, "the steps of each field, a whole number >= 1",
                         "write it with `spikesim uniform`, e.g. steps: 20000")
    for path in paths:
        side = read_sidecar(path)
        if size is not None and "width" in side and (side["width"], side["height"]) != size:
            raise InputError(f"{spec}: resolution", f"{size[0]}x{size[1]}",
                             f"the {side['width']}x{side['height']} that {path.name}.yaml "
                             "records", "correct fields.yaml's resolution (the sidecar comes "
                             "from the capture)")
        w, h = (side["width"], side["height"]) if "width" in side else size or (None, None)
        if steps is not None and w is not None and path.suffix == ".dat" and w * h % 8 == 0:
            expected = steps * frame_bytes(w, h)
            got = path.stat().st_size
            if got != expected:
                raise InputError(f"{spec}: steps, resolution", f"{path.name} of {got} bytes",
                                 f"{steps} frames of {w}x{h} ({expected} bytes)",
                                 "fields.yaml does not describe this file; correct its "
                                 "resolution and steps, or capture the field again")


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _resolution(data: dict, spec: Path):
    """``(W, H)`` from fields.yaml's ``resolution``/``size`` (``"WxH"``, ``[W, H]`` or a
    mapping) or top-level ``width``/``height``; ``None`` when it gives none."""
    res = data.get("resolution") or data.get("size")
    raw = res
    if isinstance(res, dict) and "width" in res and "height" in res:
        res = (res["width"], res["height"])
    elif isinstance(res, str) and res.lower().count("x") == 1:
        res = tuple(res.lower().split("x"))
    elif res is None and "width" in data and "height" in data:
        res = raw = (data["width"], data["height"])
    if res is None:
        return None
    try:
        w, h = (int(v) if not isinstance(v, bool) and str(v).strip().isdigit() else None
                for v in res)
    except (TypeError, ValueError):
        w = h = None
    if not w or not h or w * h % 8:
        raise InputError(f"{spec}: resolution", raw,
                         "WxH in pixels, positive, with W·H a multiple of 8",
                         "write it with `spikesim uniform`, e.g. resolution: 400x250")
    return (w, h)


def _level_name(value: float, raw) -> str:
    """``field_<level>.dat``: the level as written (``153``, ``0.5``)."""
    if isinstance(raw, str):
        return raw
    return f"{value:g}" if not float(value).is_integer() else str(int(value))
