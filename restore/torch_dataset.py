"""A plain ``torch.utils.data.Dataset`` over any ``spikesim generate`` directory.

For training your own models on the toolkit's defocus data; nothing here is specific to
DeSpike. Importing this module imports torch (the rest of the toolkit does not need it
to load).

    from restore.torch_dataset import SpikeDataset
    data = SpikeDataset("data/smoke", window=64, crop=32, flips=True)
    loader = torch.utils.data.DataLoader(data, batch_size=8, shuffle=True, num_workers=2)

Item ``i`` (a dict of tensors; ``h, w`` the crop, ``T`` the window):

===================  ======================================================================
``spikes``           ``(T, h, w)`` uint8 0/1, time first, rows upright (``packed=False``);
                     or ``(T, h, ceil(w/8))`` uint8, each row's pixels bit-packed LSB first
                     (``packed=True``; :func:`unpack_spikes` undoes it, on any device)
``key``              int64 ``()``: the sample's key step within the window (the target's step)
``target``           ``(h, w)`` float32: the sharp scene value, linear, in [0, 1]
``to_lambda``        float32 ``()``: ``k · illuminance``; ``target · to_lambda`` is the charge
                     per step an ideal in-focus pixel integrates (the rate's scale)
``sigma``            ``(h, w)`` float32: the defocus PSF's standard deviation, px
``depth``            ``(h, w)`` float32: scene depth, m
``calibration``      with ``calibration="oracle"``: a dict of ``(h, w)`` maps ``gain, offset,
                     q, gamma, weight, ratio, residual`` (float32) and ``defects`` (uint8)
                     (:mod:`calibration.calfile`), the sample camera's **true** maps put into
                     a calibration as ``spikerestore eval --calib-mode oracle`` does
                     (:func:`restore.evaluate.oracle_calibration`), and ``dead_time``
                     (float32 ``()``, steps); absent with ``calibration="none"``
``index``            int64 ``()``
===================  ======================================================================

Options. ``window``: the steps around the key step (the toolkit's window convention,
:func:`spikesim.inspect.shifted_window`), default the whole stream. ``crop``: a random
``crop × crop`` (or ``(h, w)``) region, the same for every array of the item. ``flips``:
the DeSpike paper's augmentation, a horizontal flip, a vertical flip and (square crops) a
transpose, each with probability 1/2, applied to every spatial array alike. The random
draws of item ``i`` come from ``SeedSequence(seed, spawn_key=(epoch, i))``: the same for
any number of DataLoader workers; :meth:`SpikeDataset.set_epoch` draws new ones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from spikesim.errors import InputError

CALIBRATION_MODES = ("oracle", "none")
SPATIAL_KEYS = ("target", "sigma", "depth")


class SpikeDataset(torch.utils.data.Dataset):
    """Items of a ``spikesim generate`` directory (see the module doc for what an item holds).

    Parameters
    ----------
    directory : the dataset (with ``manifest.yaml``)
    window : int or None
        Steps around each sample's key step (default: the whole stream).
    packed : bool
        Bit-pack the spikes along each row (8× smaller batches; :func:`unpack_spikes`).
    crop : int, (int, int) or None
        Random crop side (or ``(h, w)``), at most the sample size.
    flips : bool
        The paper's flips and transpose.
    calibration : ``"oracle"`` or ``"none"``
    seed : int
        Seed of the crops and flips.
    """

    def __init__(self, directory, window: int | None = None, packed: bool = False,
                 crop=None, flips: bool = False, calibration: str = "oracle", seed: int = 0):
        from spikesim.dataset import SAMPLES, read_manifest, sample_name

        self.directory = Path(directory)
        entries = read_manifest(self.directory)["samples"]
        if not entries:
            raise InputError("directory", str(directory), "a dataset with at least one sample",
                             "generate samples first (`spikesim generate`)")
        if calibration not in CALIBRATION_MODES:
            raise InputError("calibration", calibration, "oracle or none",
                             "oracle: the sample camera's true maps; none: no calibration")
        if window is not None and int(window) < 1:
            raise InputError("window", window, "a number of steps >= 1 or None",
                             "e.g. window=64")
        self.paths = [self.directory / SAMPLES / sample_name(e["id"]) for e in entries]
        self.window = None if window is None else int(window)
        self.packed = bool(packed)
        self.crop = _crop_shape(crop)
        self.flips = bool(flips)
        self.calibration = calibration
        self.seed = int(seed)
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.paths)

    def set_epoch(self, epoch: int) -> None:
        """New random crops and flips for every item (call before each epoch)."""
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> dict:
        from spikesim.dataset import load_sample
        from spikesim.inspect import shifted_window

        index = int(index)
        sample = load_sample(self.paths[index])
        key = sample.key_step
        start, stop = (0, len(sample.stream)) if self.window is None else \
            shifted_window(len(sample.stream), key, self.window)
        arrays = {"spikes": sample.stream.window(start, stop),
                  "target": sample.sharp, "sigma": sample.sigma, "depth": sample.depth}
        calib = None
        if self.calibration == "oracle":
            from .evaluate import oracle_calibration

            calib = oracle_calibration(sample.camera, sample.illuminance * 0.5)
            from calibration.calfile import MAP_KEYS

            arrays.update({f"calibration.{k}": np.asarray(getattr(calib, k)) for k in MAP_KEYS})
        rng = np.random.default_rng(np.random.SeedSequence(self.seed,
                                                           spawn_key=(self.epoch, index)))
        arrays = _augment(_crop(arrays, self.crop, rng, self.paths[index]), self.flips, rng)
        item = {"spikes": torch.from_numpy(pack_rows(arrays["spikes"]) if self.packed
                                           else arrays["spikes"]),
                "key": torch.tensor(key - start, dtype=torch.int64),
                "to_lambda": torch.tensor(float(sample.params["camera"]["k"])
                                          * sample.illuminance, dtype=torch.float32),
                "index": torch.tensor(index, dtype=torch.int64)}
        for name in SPATIAL_KEYS:
            item[name] = torch.from_numpy(arrays[name].astype(np.float32))
        if calib is not None:
            maps = {k.split(".", 1)[1]: torch.from_numpy(v) for k, v in arrays.items()
                    if k.startswith("calibration.")}
            maps["dead_time"] = torch.tensor(float(calib.dead_time), dtype=torch.float32)
            item["calibration"] = maps
        return item


def pack_rows(dense: np.ndarray) -> np.ndarray:
    """``(..., w)`` 0/1 -> ``(..., ceil(w/8))`` uint8, pixel ``x`` in bit ``x % 8`` (LSB
    first) of byte ``x // 8``."""
    return np.packbits(np.asarray(dense, dtype=np.uint8), axis=-1, bitorder="little")


def unpack_spikes(packed: torch.Tensor, width: int) -> torch.Tensor:
    """Undo ``packed=True``: ``(..., ceil(w/8))`` uint8 -> ``(..., w)`` uint8 0/1, on the
    tensor's device."""
    bits = torch.arange(8, device=packed.device, dtype=torch.uint8)
    dense = (packed.unsqueeze(-1) >> bits) & 1
    return dense.flatten(-2)[..., :int(width)]


def _crop_shape(crop) -> tuple[int, int] | None:
    if crop is None:
        return None
    try:
        h, w = (crop, crop) if np.isscalar(crop) else tuple(crop)
        h, w = int(h), int(w)
    except (TypeError, ValueError):
        raise InputError("crop", crop, "a side in px, (h, w) or None", "e.g. crop=64") from None
    if h < 1 or w < 1:
        raise InputError("crop", crop, "positive sides", "e.g. crop=64")
    return h, w


def _crop(arrays: dict, crop, rng: np.random.Generator, where) -> dict:
    """The same random region of every array (spatial axes last)."""
    if crop is None:
        return arrays
    h, w = arrays["target"].shape
    ch, cw = crop
    if ch > h or cw > w:
        raise InputError("crop", f"{cw}x{ch}", f"at most the sample size {w}x{h}",
                         f"choose a smaller crop ({where})")
    y0 = int(rng.integers(0, h - ch + 1))
    x0 = int(rng.integers(0, w - cw + 1))
    return {k: v[..., y0:y0 + ch, x0:x0 + cw] for k, v in arrays.items()}


def _augment(arrays: dict, flips: bool, rng: np.random.Generator) -> dict:
    """The paper's flips and transpose (square crops), the same for every array."""
    if flips:
        if rng.random() < 0.5:
            arrays = {k: v[..., ::-1] for k, v in arrays.items()}
        if rng.random() < 0.5:
            arrays = {k: v[..., ::-1, :] for k, v in arrays.items()}
        h, w = arrays["target"].shape
        if h == w and rng.random() < 0.5:
            arrays = {k: np.swapaxes(v, -1, -2) for k, v in arrays.items()}
    return {k: np.ascontiguousarray(v) for k, v in arrays.items()}
