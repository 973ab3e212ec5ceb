"""Training data for DeSpike: procedural scenes over a spread of cameras, lenses and light.

Two sources, one example format (:func:`make_example`):

:class:`ProceduralDataset`
    sample ``i`` is made on the fly by the toolkit's own dataset generator
    (:func:`spikesim.dataset.build_sample`: procedural scene with depth, thin-lens
    defocus, the integrate-and-fire sensor) — a pure function of ``(data config, seed,
    i)``, so DataLoader workers, processes and resumed runs all see the same samples.
:class:`GeneratedDirDataset`
    streams a ``spikesim generate`` directory (:func:`spikesim.dataset.load_sample`).

Cameras and calibration. Every sample's camera is drawn from the generator's
``camera_ranges`` (physics.md §4b). To keep the calibration cost bounded, on-the-fly
samples draw their camera from a pool of ``cameras`` distinct cameras (sample ``i`` uses
camera ``i mod cameras``). The network never sees the true FPN: each camera is
calibrated by the toolkit itself (:func:`calibrate_camera`: simulated uniform fields at
``calib_levels`` lux, ``calib_steps`` steps each, fitted by
:func:`calibration.fit.calibrate` with the dead time estimated), exactly what a user
does with ``spikesim uniform`` + ``spikecal fit``; the result is cached per camera.

Calibration withheld (``calib_withheld``: a share of the samples). Whether sample ``i``
is shown without its calibration is a pure function of ``(seed, i)``
(:func:`calibration_withheld`); its features are then the plain rates linearised with the
camera's dead time (what ``spikerestore eval --calib-mode off`` gives every method, and
``spikerestore run`` without ``--calib`` given ``--dead-time``), and its ``calibrated``
flag is 0 (:mod:`.model`).

Examples. ``x (n, h, w) float32``: linearised IF features (charge per step) of the
windows, from :func:`.encoding.if_features` with the calibration's spike weight
``w`` and :func:`.encoding.linearize_rate` with its dead time; ``target (h, w)``:
``λ = k · illuminance · sharp`` (docs/ARCHITECTURE.md); ``to_value (,)``: ``1/(k ·
illuminance)`` (maps λ back to the scene value in [0, 1]); ``calibrated (,)``: 1 when
``x`` went through the calibration, else 0. Augmentation (the paper's):
random crop, horizontal / vertical flips, transpose, applied identically to features
and target.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import torch

from spikesim.errors import InputError
from spikesim.inspect import shifted_window
from spikesim.rng import (CALIBRATION_FIELD, CALIBRATION_WITHHELD, DIRECTORY_EXAMPLE, POOL_CAMERA,
                          PROCEDURAL_EXAMPLE)

from .configs import DataConfig, ModelConfig, merge_mappings
from .encoding import features_for

log = logging.getLogger("spikes")

def calibration_withheld(seed: int, index: int, share: float) -> bool:
    """Whether sample ``index`` of a run with ``seed`` is shown without its calibration:
    an independent draw per index, true with probability ``share``."""
    return share > 0 and float(_seed_for(seed, index, CALIBRATION_WITHHELD).random()) < share


def generator_config(data: DataConfig, width: int, height: int, seed: int,
                     over: dict | None = None):
    """The :class:`spikesim.dataset.DatasetConfig` of the generator at a given size;
    ``over`` (e.g. ``data.val_natural``) replaces keys of ``data.generator`` (nested
    mappings key by key)."""
    from spikesim.dataset import load_dataset_config

    mapping = merge_mappings(data.generator or {}, over or {})
    mapping.update(width=int(width), height=int(height), steps=int(data.steps), seed=int(seed))
    mapping.setdefault("name", "despike-train")
    return load_dataset_config(mapping)


def pool_camera(gen_cfg, camera_index: int):
    """Camera ``camera_index`` of a pool, a :class:`spikesim.camera.Camera` drawn from the
    generator's ``camera_ranges`` (deterministic: seed purpose ``POOL_CAMERA``)."""
    from spikesim.camera import Camera
    from spikesim.dataset import sample_camera

    cfg = dataclasses.replace(gen_cfg, camera_mode="random")
    key = (camera_index, POOL_CAMERA)
    rng = np.random.default_rng(np.random.SeedSequence(gen_cfg.seed, spawn_key=key))
    return Camera(*sample_camera(cfg, rng, camera_index))


def calibration_field_seeds(seed: int, fpn_seed: int, count: int) -> list[int]:
    """The sensor seeds of the ``count`` uniform fields that calibrate the camera
    ``fpn_seed`` (seed purpose ``CALIBRATION_FIELD``)."""
    keys = [(int(fpn_seed) % (2**32), i, CALIBRATION_FIELD) for i in range(count)]
    return [int(np.random.SeedSequence(seed, spawn_key=k).generate_state(1)[0]) for k in keys]


def calibrate_camera(camera, levels, steps: int, seed: int = 0, cache_dir=None):
    """The toolkit's calibration of a simulated camera from its uniform fields.

    ``camera`` is a :class:`spikesim.camera.Camera`; ``levels`` are in thresholds/step of
    the nominal pixel (``lux = level / profile.k``), so every camera is calibrated below
    its saturation, as a user would choose the levels. Captures one uniform field per
    level of ``steps`` steps (:func:`spikesim.uniform.uniform_fields`, seeds
    :func:`calibration_field_seeds`) and fits them with :func:`calibration.fit.calibrate`
    (lsq, dead time estimated). Cached as ``cache_dir/<hash>.npz`` when ``cache_dir`` is
    given.
    """
    from calibration.calfile import load_calibration
    from calibration.fit import calibrate
    from calibration.rates import measure_stream
    from spikesim.config import to_mapping
    from spikesim.uniform import uniform_fields

    profile, fpn_seed = camera.profile, camera.fpn_seed
    key = json.dumps({"profile": to_mapping(profile), "fpn_seed": int(fpn_seed),
                      "levels": [float(v) for v in levels], "steps": int(steps),
                      "seed": int(seed)}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    path = Path(cache_dir) / f"calib-{digest}.npz" if cache_dir else None
    if path is not None and path.is_file():
        try:
            return load_calibration(path)
        except Exception:  # a corrupt cache entry (interrupted writer): recompute
            path.unlink(missing_ok=True)
    lux = [float(v) / profile.k for v in levels]
    seeds = calibration_field_seeds(seed, fpn_seed, len(lux))
    fields = [measure_stream(f.stream, source=f"uniform {f.level} lux")
              for f in uniform_fields(camera, lux, int(steps), field_seeds=seeds)]
    try:
        calib = calibrate(fields, levels=lux)
    except InputError as exc:
        # The multi-field fit refuses fields it cannot use (e.g. a level above a drawn
        # camera's saturation). Fall back to the paper's one-field ratio (Eq. 13) on the
        # middle field.
        mid = len(fields) // 2
        log.warning("calibration of camera %s (fpn_seed %d) by lsq failed (%s); using the "
                    "one-field ratio (Eq. 13) at %.4g lux", profile.name, fpn_seed, exc,
                    lux[mid])
        calib = calibrate([fields[mid]], levels=[lux[mid]], method="ratio", dead_time=1.0)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        calib.save(path, overwrite=True)
    return calib


def augment(x: np.ndarray, target: np.ndarray, rng: np.random.Generator):
    """The paper's augmentation: random flips and transpose (same for input and target)."""
    if rng.random() < 0.5:
        x, target = x[..., ::-1], target[..., ::-1]
    if rng.random() < 0.5:
        x, target = x[..., ::-1, :], target[..., ::-1, :]
    if x.shape[-1] == x.shape[-2] and rng.random() < 0.5:
        x, target = np.swapaxes(x, -1, -2), np.swapaxes(target, -1, -2)
    return np.ascontiguousarray(x), np.ascontiguousarray(target)


def short_stream(stream, key: int, length: int):
    """The ``length`` steps around ``key`` (shifted inside the stream, the toolkit's window
    convention :func:`spikesim.inspect.shifted_window`): ``(stream, key within it)``."""
    start, stop = shifted_window(len(stream), key, length)
    part = stream[start:stop] if isinstance(stream, np.ndarray) else stream.window(start, stop)
    return part, key - start


def make_example(sample, calib, model: ModelConfig, crop: int | None = None,
                 rng: np.random.Generator | None = None, do_augment: bool = False,
                 short_prob: float = 0.0, short_lengths=()) -> dict:
    """One training example from a :class:`spikesim.dataset.Sample`-like object.

    ``sample`` needs ``stream``, ``sharp``, ``params`` (``illuminance``, ``camera.k``,
    ``camera.dead_time``, ``key_step``). A ``crop`` (px, square) is cut at a random place
    (``rng``) before the features are computed. With probability ``short_prob`` only
    ``L`` steps (drawn from ``short_lengths``) around the key step are kept, so the
    windows are clipped as in the evaluation with short streams. ``calib=None``: the
    calibration withheld (:func:`uncalibrated_dead_time`).
    """
    params = sample.params
    k = float(params["camera"]["k"])
    illum = float(params["illuminance"])
    stream, sharp = sample.stream, np.asarray(sample.sharp, np.float32)
    h, w = sharp.shape
    if crop is not None and (crop < h or crop < w):
        rng = rng if rng is not None else np.random.default_rng(0)
        ch, cw = min(crop, h), min(crop, w)
        y0 = int(rng.integers(0, h - ch + 1))
        x0 = int(rng.integers(0, w - cw + 1))
        dense = stream.window(0, len(stream))[:, y0:y0 + ch, x0:x0 + cw]
        stream = dense
        sharp = sharp[y0:y0 + ch, x0:x0 + cw]
        if calib is not None:
            calib = _crop_calibration(calib, y0, x0, ch, cw)
    key = int(params.get("key_step", len(stream) // 2))
    rng = rng if rng is not None else np.random.default_rng(0)
    if short_prob > 0 and short_lengths and rng.random() < short_prob:
        stream, key = short_stream(stream, key, int(rng.choice(list(short_lengths))))
    x, _ = features_for(stream, calib, model, key, uncalibrated_dead_time(sample, calib))
    target = (sharp * np.float32(k * illum)).astype(np.float32)
    if do_augment:
        x, target = augment(x, target, rng)
    return {"x": torch.from_numpy(x), "target": torch.from_numpy(target),
            "to_value": torch.tensor(1.0 / (k * illum), dtype=torch.float32),
            "calibrated": torch.tensor(float(calib is not None and model.use_calibration))}


def uncalibrated_dead_time(sample, calib) -> float | None:
    """The dead time (steps) that linearises a sample's rates when ``calib`` is ``None``:
    the camera's own (``params.camera.dead_time``), as the evaluation's uncalibrated
    methods get it; ``None`` (the calibration's) when a calibration is given."""
    return None if calib is not None else float(sample.params["camera"]["dead_time"])


def _crop_calibration(calib, y0, x0, h, w):
    """The calibration of a crop of the sensor (maps sliced, resolution updated)."""
    from calibration.calfile import MAP_KEYS, Calibration

    maps = {k: np.ascontiguousarray(getattr(calib, k)[y0:y0 + h, x0:x0 + w]) for k in MAP_KEYS}
    meta = dict(calib.meta, resolution={"width": int(w), "height": int(h)})
    return Calibration(**maps, meta=meta)


def _seed_for(*keys) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(k) % (2**63) for k in keys]))


class ProceduralDataset(torch.utils.data.Dataset):
    """Examples made on the fly; item ``i`` depends only on ``(data, model, seed, i)``.

    ``size`` is the square side of the samples (the training crop, or the validation
    size); ``length`` the virtual length (indices are unbounded in practice);
    ``generator`` replaces keys of ``data.generator`` (the natural validation set's
    ``data.val_natural``).
    """

    def __init__(self, data: DataConfig, model: ModelConfig, seed: int, size: int,
                 length: int = 10**9, augment: bool | None = None, cache_dir=None,
                 cameras: int | None = None, generator: dict | None = None):
        self.data = data
        self.model = model
        self.seed = int(seed)
        self.size = int(size)
        self.length = int(length)
        self.augment = data.augment if augment is None else augment
        self.short_prob = data.short_prob if self.augment else 0.0
        self.cache_dir = cache_dir
        self.cameras = int(cameras or data.cameras)
        self.gen = generator_config(data, self.size, self.size, self.seed, generator)
        self._calibs: dict = {}

    def __len__(self):
        return self.length

    def calibration(self, camera_index: int):
        """(profile, fpn_seed, calibration) of pool camera ``camera_index`` (cached)."""
        if camera_index not in self._calibs:
            camera = pool_camera(self.gen, camera_index)
            calib = calibrate_camera(camera, self.data.calib_levels, self.data.calib_steps,
                                     seed=self.seed, cache_dir=self.cache_dir)
            self._calibs[camera_index] = (camera.profile, camera.fpn_seed, calib)
        return self._calibs[camera_index]

    def sample(self, index: int):
        """The :class:`spikesim.dataset.Sample` of item ``index`` (made in memory, stream
        dense ``(T, H, W)`` uint8) and its camera's calibration."""
        from spikesim.dataset import compute_sample

        profile, fpn_seed, calib = self.calibration(index % self.cameras)
        cfg = dataclasses.replace(self.gen, camera_mode="fixed", camera=profile,
                                  fpn_seed=int(fpn_seed))
        sample = compute_sample(cfg, int(index))
        sample.stream = np.ascontiguousarray(sample.stream.window(0, len(sample.stream)))
        return sample, calib

    def withheld(self, index: int) -> bool:
        """Whether item ``index`` is shown uncalibrated (:func:`calibration_withheld`)."""
        return calibration_withheld(self.seed, index, self.data.calib_withheld)

    def __getitem__(self, index: int) -> dict:
        sample, calib = self.sample(int(index))
        calib = None if self.withheld(index) else calib
        rng = _seed_for(self.seed, index, PROCEDURAL_EXAMPLE)
        ex = make_example(sample, calib, self.model, None, rng, self.augment,
                          self.short_prob, self.data.short_lengths)
        ex["index"] = int(index)
        return ex


class GeneratedDirDataset(torch.utils.data.Dataset):
    """Examples from a ``spikesim generate`` directory (random crops when ``crop``).

    Each sample's camera (``camera`` profile and ``fpn_seed`` in ``sample.yaml``) is
    calibrated by :func:`calibrate_camera` from simulated uniform fields, once per camera.
    """

    def __init__(self, directory, data: DataConfig, model: ModelConfig, seed: int,
                 crop: int | None = None, augment: bool | None = None, cache_dir=None):
        from spikesim.dataset import read_manifest, sample_name, SAMPLES

        self.dir = Path(directory)
        if not (self.dir / "manifest.yaml").is_file():
            raise InputError("data.train_dir", str(directory),
                             "a directory written by `spikesim generate`",
                             "generate one first or fix the path")
        self.paths = [self.dir / SAMPLES / sample_name(e["id"])
                      for e in read_manifest(self.dir)["samples"]]
        if not self.paths:
            raise InputError("data.train_dir", str(directory), "at least one sample",
                             "the manifest lists no samples")
        self.data, self.model, self.seed = data, model, int(seed)
        self.crop = crop
        self.augment = data.augment if augment is None else augment
        self.cache_dir = cache_dir
        self._calibs: dict = {}

    def __len__(self):
        return len(self.paths)

    def _calibration(self, params):
        from spikesim.camera import Camera
        from spikesim.config import CameraProfile, from_mapping

        key = (json.dumps(params["camera"], sort_keys=True), int(params["fpn_seed"]))
        if key not in self._calibs:
            profile = from_mapping(CameraProfile, params["camera"], "camera")
            self._calibs[key] = calibrate_camera(Camera(profile, int(params["fpn_seed"])),
                                                 self.data.calib_levels, self.data.calib_steps,
                                                 seed=self.seed, cache_dir=self.cache_dir)
        return self._calibs[key]

    def __getitem__(self, index: int) -> dict:
        from spikesim.dataset import load_sample

        sample = load_sample(self.paths[int(index) % len(self.paths)])
        calib = self._calibration(sample.params)
        if calibration_withheld(self.seed, index, self.data.calib_withheld):
            calib = None
        rng = _seed_for(self.seed, index, DIRECTORY_EXAMPLE)
        ex = make_example(sample, calib, self.model, self.crop, rng, self.augment,
                          self.data.short_prob if self.augment else 0.0, self.data.short_lengths)
        ex["index"] = int(index)
        return ex


def collate(batch: list[dict]) -> dict:
    """Stack examples of one size into a batch."""
    return {"x": torch.stack([b["x"] for b in batch]),
            "target": torch.stack([b["target"] for b in batch]),
            "to_value": torch.stack([b["to_value"] for b in batch]),
            "calibrated": torch.stack([b["calibrated"] for b in batch]),
            "index": torch.tensor([b["index"] for b in batch])}
