"""A run of ``spikesim generate``: from a config to a complete dataset directory.

The order is fixed so that nothing is written before every input is checked: the
arguments, the source's pictures (``images.yaml``) and inputs, the Dask scheduler, then
the directory (new, resumed or overwritten), the config, the manifest, and the pending
samples on the chosen runner (:mod:`.runners`), the manifest rewritten as they finish.
The memory a sample needs is checked first (:mod:`spikesim.memory`), and the directory
has one writer at a time (:func:`spikesim.atomic.writer_lock`).
"""

from __future__ import annotations

import time
from pathlib import Path

from .. import settings
from ..atomic import writer_lock
from ..errors import InputError
from ..memory import check_samples
from .config import config_mapping, load_dataset_config
from .directory import (CONFIG, PARTIAL, existing_ids, keep_catalogue, prepare_directory,
                        read_entry, read_manifest, write_manifest)
from .runners import dask_client, run_dask, run_in_process, run_pool
from .sample import SampleMaker
from .sources import SOURCES


def generate_dataset(config, out_dir, num: int | None = None, workers: int = 1,
                     scheduler=None, resume: bool = False, overwrite: bool = False,
                     progress=None) -> dict:
    """Generate (or continue) a dataset in ``out_dir``.

    Parameters
    ----------
    config : DatasetConfig, a mapping or a YAML path
    out_dir : the dataset directory (created; a non-empty one needs ``resume``/``overwrite``)
    num : number of samples (overrides ``config.num``). With ``resume`` it may grow a dataset:
        sample ``i`` does not depend on ``num``.
    workers : local worker processes (spawned, so a script calling this with workers > 1
        needs the usual ``if __name__ == "__main__":`` guard; 1 = in this process)
    scheduler : address of a Dask distributed scheduler (``tcp://host:8786``) or a
        ``distributed.Client``; samples are computed on its workers and written here
        (workers need no shared file system, but need this package installed). Needs the
        ``dask`` extra.
    resume : continue an interrupted dataset; its ``config.yaml`` must match (except ``num``)
    overwrite : delete the dataset in ``out_dir`` and start over
    progress : optional callable ``progress(n)`` told of ``n`` newly finished samples

    Returns
    -------
    dict : the manifest written to ``out_dir/manifest.yaml``.
    """
    config = load_dataset_config(config, num=num)
    out_dir = Path(out_dir)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError("--workers", workers, "an integer >= 1", "use --workers 1 or more")
    if scheduler is not None and workers != 1:
        raise InputError("--workers", workers, "1 with --scheduler (the cluster's workers "
                         "compute the samples)", "drop --workers, or drop --scheduler to use "
                         "local processes")
    check_samples(config.steps, config.height, config.width,
                  workers if scheduler is None else 1)
    source = SOURCES[config.source]
    catalogue = source.catalogue(config)         # every picture checked before any write
    maker = SampleMaker(config)                  # the source's inputs: a missing one fails here
    client = dask_client(scheduler) if scheduler is not None else None
    with writer_lock(out_dir):
        return _fill_directory(config, out_dir, maker, client, scheduler, workers, resume,
                               overwrite, catalogue, progress)


def _fill_directory(config, out_dir: Path, maker, client, scheduler, workers, resume,
                    overwrite, catalogue, progress) -> dict:
    """The directory's part of :func:`generate_dataset`, under its writer lock."""
    from ..atomic import write_yaml

    prepare_directory(config, out_dir, resume, overwrite)
    if catalogue is not None:
        keep_catalogue(out_dir, catalogue)
    done = existing_ids(out_dir, config)
    if done and max(done) >= config.num:
        raise InputError("--num", config.num, f"at least {max(done) + 1}, the samples the "
                         f"dataset in {out_dir} already holds", "resume with a larger --num "
                         "(a dataset can grow, not shrink), or --overwrite")
    write_yaml(out_dir / CONFIG, config_mapping(config))
    entries = {i: read_entry(out_dir, i) for i in sorted(done)}
    pending = [i for i in range(config.num) if i not in done]
    if progress is not None and entries:
        progress(len(entries))
    write_manifest(out_dir, config, entries, complete=not pending)
    if not pending:
        return read_manifest(out_dir)

    last = [time.monotonic(), 0.0]          # time of the last manifest write, its duration

    def finished(index: int, entry: dict) -> None:
        entries[index] = entry
        if progress is not None:
            progress(1)
        now = time.monotonic()
        # a large manifest takes a while to dump: keep that under ~10 % of the run
        if now - last[0] >= max(settings.DATASET_MANIFEST_EVERY_S, 10.0 * last[1]):
            write_manifest(out_dir, config, entries, complete=False)
            last[0], last[1] = time.monotonic(), time.monotonic() - now

    try:
        if client is not None:
            run_dask(client, config, out_dir, pending, finished)
        elif workers == 1:
            run_in_process(maker, out_dir, pending, finished)
        else:
            run_pool(maker, out_dir, pending, workers, finished)
    finally:
        write_manifest(out_dir, config, entries, complete=len(entries) >= config.num)
        if client is not None and isinstance(scheduler, str):
            client.close()
        try:
            (out_dir / PARTIAL).rmdir()        # only when empty (nothing half-built left)
        except OSError:
            pass
    return read_manifest(out_dir)
