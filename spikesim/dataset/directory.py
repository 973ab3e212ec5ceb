"""The dataset directory: its layout, its life cycle and its manifest.

A dataset is a directory laid out as docs/ARCHITECTURE.md fixes it::

    DIR/manifest.yaml       toolkit_version, seed, config (full), num, complete, samples
    DIR/config.yaml         the configuration the samples were made with (resume checks it)
    DIR/samples/000000/     one directory a sample (spikes.dat, sharp.png, maps.npz, ...)
    DIR/images.yaml         source: images only - name, size and sha256 of every picture

A new or empty directory is filled; a non-empty one needs ``resume`` (same config, except
``num``) or ``overwrite`` (only a dataset is deleted). Samples are built in
``DIR/.partial`` and renamed into ``samples/`` (atomic), so an interrupted run leaves
only whole samples, and a resumed one makes the missing ones.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections import Counter
from pathlib import Path
from typing import Iterator, Optional

from .. import settings
from ..atomic import LOCK, disk_full_error
from ..config import from_mapping
from ..errors import ConfigError, InputError
from .bins import BLUR_BIN_LABELS, FOCUS_SIDES, UNKNOWN
from .config import DatasetConfig, config_mapping
from .sample import Sample, load_sample, manifest_entry

MANIFEST = "manifest.yaml"
CONFIG = "config.yaml"
SAMPLES = "samples"
PARTIAL = ".partial"
IMAGES = "images.yaml"          # source: images - the pictures the dataset is made from
_OWN_ENTRIES = (MANIFEST, CONFIG, SAMPLES, PARTIAL, IMAGES)


def sample_name(index: int) -> str:
    """Directory name of sample ``index`` (``000042``)."""
    return f"{int(index):0{settings.DATASET_SAMPLE_DIGITS}d}"


def _first_difference(old, new, path: str = "") -> Optional[tuple[str, object, object]]:
    """The first key path where two plain mappings differ, with both values."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in old or key not in new:
                return sub, old.get(key, "<absent>"), new.get(key, "<absent>")
            diff = _first_difference(old[key], new[key], sub)
            if diff:
                return diff
        return None
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new)):
            diff = _first_difference(a, b, f"{path}[{i}]")
            if diff:
                return diff
        return None
    return None if old == new else (path, old, new)


def _is_leftover(name: str) -> bool:
    """A temporary file of an atomic manifest/config write that was interrupted."""
    return any(name.startswith(f".{own}.") and ".part" in name for own in (MANIFEST, CONFIG))


def prepare_directory(config: DatasetConfig, out_dir: Path, resume: bool, overwrite: bool) -> None:
    """Refuse a non-empty directory unless resume (same config) or overwrite (start over)."""
    import yaml

    if resume and overwrite:
        raise InputError("--resume/--overwrite", "both", "at most one of them",
                         "--resume continues a dataset, --overwrite starts it over; pick one")
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError("output", str(out_dir), "a directory", "choose a directory path")
    entries = sorted(p.name for p in out_dir.iterdir() if p.name != LOCK) \
        if out_dir.is_dir() else []
    if resume or overwrite:
        for e in [e for e in entries if _is_leftover(e)]:     # a write killed mid-way
            (out_dir / e).unlink()
            entries.remove(e)
    if entries and not (resume or overwrite):
        raise InputError("output", f"{out_dir} (not empty: {', '.join(entries[:4])}"
                         f"{', ...' if len(entries) > 4 else ''})", "an empty or new directory",
                         "pass --resume to continue the dataset there, --overwrite to start "
                         "it over, or choose another -o")
    if entries and overwrite:
        foreign = [e for e in entries if e not in _OWN_ENTRIES]
        if foreign:
            raise InputError("output", f"{out_dir} (holds {', '.join(foreign[:4])})",
                             "a dataset directory (manifest.yaml, config.yaml, samples/)",
                             "--overwrite only replaces a dataset; choose another -o")
        for e in entries:
            target = out_dir / e
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        entries = []
    if entries and resume:
        cfg_path = out_dir / CONFIG
        if not cfg_path.is_file():
            raise InputError("output", str(out_dir), "a dataset directory with config.yaml",
                             "--resume continues a dataset made by spikesim generate; choose "
                             "another -o or --overwrite")
        try:
            old = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            raise InputError(str(cfg_path), "invalid YAML", "the config of the dataset",
                             "restore it or start over with --overwrite") from None
        old_cfg = from_mapping(DatasetConfig, old, "config.yaml")
        old_map, new_map = config_mapping(old_cfg), config_mapping(config)
        old_map.pop("num"), new_map.pop("num")
        diff = _first_difference(old_map, new_map)
        if diff:
            key, was, now = diff
            raise ConfigError(f"config.{key}", f"{now!r} (the dataset in {out_dir} was made "
                              f"with {was!r})", "the configuration of the dataset being resumed",
                              "resume with the original config, or pass --overwrite to start "
                              "over, or choose another -o")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / SAMPLES).mkdir(exist_ok=True)
    partial = out_dir / PARTIAL
    if partial.exists():
        shutil.rmtree(partial)     # half-built samples of an interrupted run


def keep_catalogue(out_dir: Path, catalogue: list) -> None:
    """Write ``images.yaml``; a resumed dataset must find the same pictures."""
    import yaml

    from ..atomic import write_yaml

    path = out_dir / IMAGES
    if path.is_file():
        old = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        if old != catalogue:
            was = {e["name"]: e["sha256"] for e in old}
            now = {e["name"]: e["sha256"] for e in catalogue}
            changed = sorted(n for n in set(was) | set(now) if was.get(n) != now.get(n))
            raise InputError("image_dir", f"{len(changed)} picture(s) changed since the "
                             f"dataset in {out_dir} was started, e.g. "
                             f"{changed[0] if changed else 'their sizes'}",
                             "the pictures listed in its images.yaml",
                             "restore them, or pass --overwrite to start over, or choose "
                             "another -o")
        return
    write_yaml(path, catalogue)


def existing_ids(out_dir: Path, config: DatasetConfig | None = None) -> set:
    """Ids of the whole samples in ``samples/``: every file of :data:`SAMPLE_FILES` there
    (and, given ``config``, a ``spikes.dat`` of its size). An incomplete sample directory
    (a run killed or disturbed while it was written) is removed, so it is made again."""
    from ..memory import stream_bytes
    from .sample import SAMPLE_FILES

    dat_size = (stream_bytes(config.steps, config.height, config.width)
                if config is not None else None)
    ids = set()
    for p in (out_dir / SAMPLES).iterdir():
        if not (p.is_dir() and p.name.isdigit()):
            continue
        whole = all((p / n).is_file() for n in SAMPLE_FILES) and (
            dat_size is None or (p / "spikes.dat").stat().st_size == dat_size)
        if whole:
            ids.add(int(p.name))
        else:
            shutil.rmtree(p)
    return ids


def read_entry(out_dir: Path, index: int) -> dict:
    import yaml

    path = out_dir / SAMPLES / sample_name(index) / "sample.yaml"
    return manifest_entry(yaml.safe_load(path.read_text(encoding="utf-8")))


def write_manifest(out_dir: Path, config: DatasetConfig, entries: dict, complete: bool) -> None:
    from .. import __version__
    from ..atomic import write_yaml

    manifest = {
        "toolkit_version": __version__,
        "name": config.name,
        "seed": int(config.seed),
        "num": int(config.num),
        "done": len(entries),
        "complete": bool(complete),
        "width": config.width, "height": config.height, "steps": config.steps,
        "key_step": config.key,
        "config": config_mapping(config),
        "samples": [entries[i] for i in sorted(entries)],
    }
    write_yaml(out_dir / MANIFEST, manifest)


@contextlib.contextmanager
def staged_sample(out_dir: Path, index: int, tag: str):
    """Yield a fresh directory in ``out_dir/.partial``; on success rename it to
    ``samples/NNNNNN`` (atomic), on any error remove it."""
    tmp = out_dir / PARTIAL / f"{sample_name(index)}.{tag}.{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        yield tmp
        _fsync_dir(tmp)
        os.rename(tmp, out_dir / SAMPLES / sample_name(index))
        _fsync_dir(out_dir / SAMPLES)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_sample_files(out_dir: Path, index: int, files: dict) -> None:
    """Write a sample's files (from a Dask worker) into ``.partial`` and rename into place."""
    with staged_sample(out_dir, index, "client") as tmp:
        for name, data in files.items():
            if "/" in name or name.startswith("."):
                raise InputError("sample file", name, "a plain file name", "worker error")
            try:
                with open(tmp / name, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
            except OSError as exc:
                raise disk_full_error(exc, out_dir / SAMPLES / sample_name(index) / name) \
                    or exc from None


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def read_manifest(dataset_dir) -> dict:
    """The manifest of a dataset directory (plain data).

    Raises :class:`InputError` when ``dataset_dir`` holds no ``manifest.yaml``.
    """
    import yaml

    d = Path(dataset_dir)
    path = d / MANIFEST
    if not path.is_file():
        raise InputError("dataset", str(d), "a directory written by `spikesim generate` "
                         "(with manifest.yaml)",
                         "check the path, or make one with `spikesim generate --config CFG.yaml "
                         f"-o {d}`")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError:
        raise InputError(str(path), "invalid YAML", "a dataset manifest",
                         "regenerate it with `spikesim generate --resume`") from None
    if not isinstance(data, dict) or "samples" not in data:
        raise InputError(str(path), "no samples list", "a dataset manifest",
                         "regenerate it with `spikesim generate --resume`")
    return data


def iter_samples(dataset_dir) -> Iterator[Sample]:
    """Yield the samples the manifest lists, in id order."""
    d = Path(dataset_dir)
    for entry in read_manifest(d)["samples"]:
        yield load_sample(d / SAMPLES / sample_name(entry["id"]))


def manifest_summary(manifest: dict) -> dict:
    """What a manifest holds, counted: ``num``, ``done``, ``complete``, samples per focus
    side (every side of :data:`~.bins.FOCUS_SIDES`, then ``unknown`` when some sample's
    blur is not known), per blur bin (the bins present, in bin order, ``unknown`` last)
    and ``target_missed`` (samples that missed their drawn side / bin)."""
    samples = manifest["samples"]
    sides = Counter(s["focus_side"] for s in samples)
    bins = Counter(s["blur_bin"] for s in samples)
    order = {label: i for i, label in enumerate(BLUR_BIN_LABELS + (UNKNOWN,))}
    return {"num": manifest["num"], "done": manifest["done"], "complete": manifest["complete"],
            "focus_side": {**{k: sides.get(k, 0) for k in FOCUS_SIDES},
                           **{k: n for k, n in sides.items() if k not in FOCUS_SIDES}},
            "blur_bin": dict(sorted(bins.items(), key=lambda kv: order.get(kv[0], len(order)))),
            "target_missed": sum(1 for s in samples if not s["target_met"])}
