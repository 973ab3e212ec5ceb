"""A pool of procedural samples made once and reused: cheap training examples on a CPU.

Making a procedural example (scene, defocus, 256 steps of the sensor, features) took
0.05 s per 96 px example on the 2-core CPU: 0.4 s for a batch of 8 beside a 1 s
training step of the small network. (Samples are now made in memory,
:func:`spikesim.dataset.compute_sample`: 0.054 s for a 128 px sample against 0.106 s
written to files and read back, one thread, median of 8.) With ``data.pool: N`` the first ``N``
samples of :class:`.data.ProceduralDataset` (side ``pool_size``) are made once, and every
training example is a random view of one of them: a crop of ``crop`` px, a stream length
(all steps, or with probability ``short_prob`` one of ``short_lengths`` around the key
step, so the windows are clipped as at evaluation with 64 or 32 steps) and the paper's
flips and transpose.

Views are exact: the IF features are per-pixel (a count over each window through the
per-pixel calibration), so the features of a crop are the crop of the features. Each
pooled sample therefore keeps its features for every stream length, ``(1 + len(short_lengths),
n, S, S)`` stored as float16 (relative step 5e-4, ten times finer than the count
quantisation of the longest window), with its target and ``to_value``. A pooled sample
whose calibration is withheld (``calib_withheld``, decided per pooled sample:
:meth:`.data.ProceduralDataset.withheld`) keeps uncalibrated features, and every view of
it has ``calibrated`` 0.

The pool is written in chunks under ``CACHE/pool-<digest>/`` (``CACHE``: the run's
``cache/``, or the directory ``--cache`` names; the digest covers every setting the
examples depend on, not the code version), so a resumed run reloads it, runs of the same
data share it, and chunks are made by ``workers`` processes when asked. Item ``i``
depends only on ``(seed, i)`` and the pool.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import zipfile
from pathlib import Path

import numpy as np
import torch

from spikesim.atomic import atomic_path
from spikesim.rng import POOL_EXAMPLE

from .configs import DataConfig, ModelConfig, config_to_dict
from .data import (ProceduralDataset, _seed_for, augment, calibration_withheld, features_for,
                   short_stream, uncalibrated_dead_time)

log = logging.getLogger("spikes")

CHUNK = 50          # pooled samples per file
CHUNK_KEYS = ("x", "target", "to_value")


def _pool_digest(data: DataConfig, model: ModelConfig, seed: int) -> str:
    keys = {"data": config_to_dict(data), "seed": int(seed),
            "model": {k: v for k, v in config_to_dict(model).items()
                      if k in ("windows", "multi_temporal", "use_calibration", "linearize",
                               "correction")}}
    for k in ("pool", "crop", "short_prob", "val_samples", "val_size", "val_seed",
              "val_cameras", "augment", "val_natural", "val_natural_samples"):
        keys["data"].pop(k, None)          # views and validation do not change the pool
    if not data.calib_withheld:            # the digest of pools made before the key existed
        keys["data"].pop("calib_withheld")
    return hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()[:16]


def pooled_sample(source: ProceduralDataset, index: int, lengths) -> dict:
    """Features of sample ``index`` for the full stream and every short ``length``
    (uncalibrated when ``source.withheld(index)``).

    Returns ``{"x": (1 + len(lengths), n, S, S) float16, "target": (S, S) float32,
    "to_value": float}``.
    """
    sample, calib = source.sample(int(index))
    calib = None if source.withheld(int(index)) else calib
    dead_time = uncalibrated_dead_time(sample, calib)
    params = sample.params
    k, illum = float(params["camera"]["k"]), float(params["illuminance"])
    stream = sample.stream
    key = int(params.get("key_step", len(stream) // 2))
    feats = [features_for(stream, calib, source.model, key, dead_time)[0]]
    for length in lengths:
        part, part_key = short_stream(stream, key, int(length))
        feats.append(features_for(part, calib, source.model, part_key, dead_time)[0])
    return {"x": np.stack(feats).astype(np.float16), "target": sample.target_lambda,
            "to_value": 1.0 / (k * illum)}


def _make_chunk(data: DataConfig, model: ModelConfig, seed: int, cache_dir: str,
                first: int, stop: int, path: str) -> str:
    """Make pooled samples ``[first, stop)`` and write them to ``path`` (atomic)."""
    source = ProceduralDataset(data, model, seed=seed, size=data.pool_size, augment=False,
                               cache_dir=cache_dir)
    items = [pooled_sample(source, i, data.short_lengths) for i in range(first, stop)]
    with atomic_path(Path(path), overwrite=True) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, x=np.stack([it["x"] for it in items]),
                     target=np.stack([it["target"] for it in items]),
                     to_value=np.array([it["to_value"] for it in items], np.float64))
    return path


def build_pool(data: DataConfig, model: ModelConfig, seed: int, cache_dir,
               workers: int = 0) -> dict:
    """Make (or reload) the pool: ``{"x": (N, V, n, S, S) float16, "target": (N, S, S),
    "to_value": (N,)}``. Chunks already on disk are reused; only the chunks of this
    pool's partition (``CHUNK`` samples each) are loaded, so pools of other sizes may
    share the cache directory."""
    root = Path(cache_dir) / f"pool-{_pool_digest(data, model, seed)}"
    root.mkdir(parents=True, exist_ok=True)
    pool: dict = {}

    def put(first: int, chunk: dict) -> None:
        """Copy a chunk into its rows of the pool (allocated at the first chunk), so the
        peak is the pool plus one chunk and every chunk is read once."""
        for key in CHUNK_KEYS:
            if key not in pool:
                pool[key] = np.empty((data.pool,) + chunk[key].shape[1:], chunk[key].dtype)
            pool[key][first:first + len(chunk[key])] = chunk[key]

    jobs = []
    for first in range(0, data.pool, CHUNK):
        stop = min(first + CHUNK, data.pool)
        path = root / f"chunk-{first:07d}-{stop:07d}.npz"
        chunk = _load_chunk(path)
        if chunk is None:
            jobs.append((first, stop, str(path)))
        else:
            put(first, chunk)
    if jobs:
        t0 = time.perf_counter()
        log.info("making the training pool: %d samples of %d px in %d chunks (%s)",
                 data.pool, data.pool_size, len(jobs), root)
        args = [(data, model, seed, str(cache_dir), *job) for job in jobs]
        if workers > 0:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as ex:
                for done, _ in enumerate(ex.map(_make_chunk_args, args), 1):
                    log.info("pool chunk %d/%d (%.0f s)", done, len(jobs),
                             time.perf_counter() - t0)
        else:
            for done, a in enumerate(args, 1):
                _make_chunk(*a)
                log.info("pool chunk %d/%d (%.0f s)", done, len(jobs), time.perf_counter() - t0)
    for first, _, path in jobs:
        chunk = _load_chunk(Path(path))
        if chunk is None:
            raise RuntimeError(f"pool chunk {path} was just made and does not read back: "
                               f"check the disk holding {root}")
        put(first, chunk)
    return pool


def _load_chunk(path: Path) -> dict | None:
    """A chunk's arrays, or None when it is missing or does not read back whole. Chunks
    are written atomically, but a shared cache outlives crashes and copies: an unreadable
    one is made again (the same bytes: it is a pure function of the configuration)
    instead of failing every run that shares it."""
    if not path.is_file():
        return None
    try:
        with np.load(path) as z:
            return {key: z[key] for key in CHUNK_KEYS}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("pool chunk %s is unreadable (%s): making it again", path, exc)
        return None


def _make_chunk_args(args):
    return _make_chunk(*args)


class PooledDataset(torch.utils.data.Dataset):
    """Random views of a pool (see the module docstring); item ``i`` is a pure function
    of ``(seed, i)`` and the pool."""

    def __init__(self, data: DataConfig, model: ModelConfig, seed: int, cache_dir,
                 workers: int = 0, length: int = 10**9):
        self.data, self.model, self.seed = data, model, int(seed)
        self.length = int(length)
        self.pool = build_pool(data, model, seed, cache_dir, workers)
        self.calibrated = np.array(
            [model.use_calibration and not calibration_withheld(seed, p, data.calib_withheld)
             for p in range(data.pool)], np.float32)

    def __len__(self):
        return self.length

    def __getitem__(self, index: int) -> dict:
        d = self.data
        rng = _seed_for(self.seed, index, POOL_EXAMPLE)
        p = int(rng.integers(d.pool))
        variant = 0
        if d.augment and d.short_prob > 0 and d.short_lengths and rng.random() < d.short_prob:
            variant = 1 + int(rng.integers(len(d.short_lengths)))
        size, crop = d.pool_size, d.crop          # validated: crop <= pool_size
        y0, x0 = (int(v) for v in rng.integers(0, size - crop + 1, size=2))
        x = self.pool["x"][p, variant, :, y0:y0 + crop, x0:x0 + crop].astype(np.float32)
        target = self.pool["target"][p, y0:y0 + crop, x0:x0 + crop]
        if d.augment:
            x, target = augment(x, target, rng)
        return {"x": torch.from_numpy(np.ascontiguousarray(x)),
                "target": torch.from_numpy(np.ascontiguousarray(target, dtype=np.float32)),
                "to_value": torch.tensor(float(self.pool["to_value"][p]), dtype=torch.float32),
                "calibrated": torch.tensor(float(self.calibrated[p])),
                "index": int(index)}
