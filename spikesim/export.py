"""Exports of a generated dataset to the layouts other tools read (``spikesim export``).

``spikezoo``: Spike-Zoo's dataset layout (``spikezoo.datasets.base_dataset``: spike files
``ROOT/{split}/spike/*.dat`` and targets ``ROOT/{split}/gt/*.png``, paired by sorted
name)::

    OUT/test/spike/000000.dat     the sample's spikes.dat, byte for byte
    OUT/test/gt/000000.png        its sharp target, 8-bit (sRGB by default, --gt linear)
    OUT/export.yaml               what was exported: source, width, height, steps, key steps

The ``.dat`` layout is the one Spike-Zoo's and SpikeCV's readers decode (no header,
``H·W/8`` bytes a frame, LSB first, rows bottom-up), so the bytes are copied, not
re-encoded. Spike-Zoo needs the frame size in its dataset config (``width``,
``height``: export.yaml has them) and takes the target at the stream's middle step
(``len // 2``); our samples' scenes are static over the steps, so any step's target is
the same picture (``key_step`` is in export.yaml).

``npz``: one ``OUT/{split}/NNNNNN.npz`` a sample with ``spk`` (T, H, W) uint8 0/1, rows
upright, time first; ``sharp`` (H, W) float32, the linear target in [0, 1]; ``sigma``
(px) and ``depth`` (m) maps, float32; ``key_step`` (int).
``SpikeStream.load_npz(path, axes="THW")`` reads it back.

Every sample goes to one split (``split``, default ``test``; export twice, from a
training and a test dataset, for both). The whole export is built in a temporary
directory beside ``OUT`` (``.OUT.<host>-<pid>.<random>.part``, removed by the next
export to ``OUT`` when its writer was killed) and renamed into place, so ``OUT`` is either
complete or absent; an existing ``OUT`` is replaced only with ``overwrite`` and only when it is an
earlier export (it holds ``export.yaml``).
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import numpy as np

from .errors import InputError, OutputExistsError

FORMATS = ("spikezoo", "npz")
SPLITS = ("train", "test")
GT_ENCODINGS = ("srgb", "linear")
MANIFEST = "export.yaml"


def export_dataset(dataset_dir, fmt: str, out_dir, split: str = "test", gt: str = "srgb",
                   overwrite: bool = False, limit: int | None = None, progress=None) -> dict:
    """Export the samples of a ``spikesim generate`` directory; returns what export.yaml holds.

    Parameters
    ----------
    dataset_dir : path of the dataset (with ``manifest.yaml``)
    fmt : ``"spikezoo"`` or ``"npz"``
    out_dir : the export's directory (must not exist unless ``overwrite``)
    split : ``"train"`` or ``"test"``, the sub-directory every sample goes to
    gt : ``"srgb"`` (the 8-bit sRGB target, ``sharp_srgb.png``) or ``"linear"`` (the
        linear target rounded to 8 bits); spikezoo only
    limit : only the first ``limit`` samples
    progress : ``progress(i, n)`` after each sample
    """
    from .dataset import load_sample, read_manifest, sample_name

    _check_choice("--to", fmt, FORMATS)
    _check_choice("--split", split, SPLITS)
    _check_choice("--gt", gt, GT_ENCODINGS)
    src = Path(dataset_dir)
    entries = list(read_manifest(src)["samples"])[:limit]
    if not entries:
        raise InputError("DATASET", str(src), "a dataset with at least one sample",
                         "generate samples first (`spikesim generate`)")
    out = Path(out_dir)
    if out.resolve().is_relative_to(src.resolve()):
        raise InputError("OUT", str(out), "a directory outside the dataset",
                         "export beside the dataset, not into it")
    _check_target(out, overwrite)
    from .atomic import part_prefix, remove_leftovers

    remove_leftovers(out)                 # the staging directory of a killed export
    tmp = out.parent / f"{part_prefix(out)}{uuid.uuid4().hex[:8]}.part{out.suffix}"
    tmp.mkdir()                           # the usual permissions (mkdtemp's are 0700)
    try:
        samples, size = [], None
        for i, entry in enumerate(entries):
            name = sample_name(entry["id"])
            sample = load_sample(src / "samples" / name)
            write = _write_spikezoo if fmt == "spikezoo" else _write_npz
            write(sample, tmp / split, name, gt)
            samples.append({"name": name, "key_step": sample.key_step,
                            "steps": len(sample.stream)})
            size = size or (sample.stream.width, sample.stream.height)
            if progress is not None:
                progress(i + 1, len(entries))
        info = {"format": fmt, "source": str(src), "split": split, "num": len(samples),
                "width": size[0], "height": size[1],
                "gt": (gt if fmt == "spikezoo" else "linear float32"), "samples": samples}
        from .atomic import write_yaml

        write_yaml(tmp / MANIFEST, info)
        _replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return info


def _check_choice(param: str, value: str, choices: tuple) -> None:
    if value not in choices:
        raise InputError(param, value, "one of " + ", ".join(choices), f"use e.g. {choices[0]}")


def _check_target(out: Path, overwrite: bool) -> None:
    """Refuse an existing ``out`` (other than an empty directory) unless ``overwrite`` and
    it is an earlier export."""
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        from .atomic import check_writable_dir

        check_writable_dir(out.parent if str(out.parent) else Path("."), "OUT", shown=out)
        return
    if not overwrite:
        raise OutputExistsError(out, "OUT")
    if not (out.is_dir() and (out / MANIFEST).is_file()):
        raise InputError("OUT", str(out), "a new directory or an earlier export (with "
                         f"{MANIFEST})", "choose another OUT; --overwrite replaces only exports")


def _replace(tmp: Path, out: Path) -> None:
    """Rename ``tmp`` to ``out``; an earlier export at ``out`` is removed after the swap.

    The earlier export is first renamed to a temporary name of this writer's pattern, so a
    kill between the two renames leaves nothing hidden for good: the next export of
    ``out`` removes it (:func:`spikesim.atomic.remove_leftovers`), as it does ``tmp``."""
    from .atomic import part_prefix

    old = None
    if out.exists():
        old = out.parent / f"{part_prefix(out)}{uuid.uuid4().hex[:8]}.old.part{out.suffix}"
        os.rename(out, old)
    os.rename(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_spikezoo(sample, split_dir: Path, name: str, gt: str) -> None:
    from .images import write_png

    (split_dir / "spike").mkdir(parents=True, exist_ok=True)
    (split_dir / "gt").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sample.path / "spikes.dat", split_dir / "spike" / f"{name}.dat")
    if gt == "srgb":
        shutil.copyfile(sample.path / "sharp_srgb.png", split_dir / "gt" / f"{name}.png")
    else:
        write_png(split_dir / "gt" / f"{name}.png", sample.sharp, bits=8)


def _write_npz(sample, split_dir: Path, name: str, gt: str) -> None:
    from .atomic import save_npz

    split_dir.mkdir(parents=True, exist_ok=True)
    save_npz(split_dir / f"{name}.npz", spk=sample.stream.window(0, len(sample.stream)),
             sharp=sample.sharp.astype(np.float32), sigma=sample.sigma.astype(np.float32),
             depth=sample.depth.astype(np.float32), key_step=np.int64(sample.key_step))
