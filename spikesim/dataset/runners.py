"""Where the samples of a run are computed: this process, local worker processes, or Dask.

Every runner takes the pending sample ids and calls ``finished(index, entry)`` (in this
process, in completion order) once sample ``index`` is in ``samples/``. Each worker holds
one :class:`~.sample.SampleMaker` for the whole run (the source's inputs, the fixed
camera's pattern): a pool worker gets it from the pool's initializer, a Dask worker a
broadcast copy. The bytes written do not depend on the runner.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from .. import settings
from ..errors import InputError
from .directory import staged_sample, write_sample_files
from .sample import SampleMaker

_worker_maker: SampleMaker | None = None     # a pool worker process's maker (_init_worker)


def _sample_into_dataset(maker: SampleMaker, index: int, out_dir: str) -> dict:
    """Build sample ``index`` in ``out_dir/.partial`` and rename it into ``samples/`` (atomic)."""
    with staged_sample(Path(out_dir), index, str(os.getpid())) as tmp:
        entry = maker.build(index, tmp)
    return entry


def run_in_process(maker: SampleMaker, out_dir: Path, pending: list, finished) -> None:
    """One sample after the other, in this process."""
    for i in pending:
        finished(i, _sample_into_dataset(maker, i, str(out_dir)))


# ----------------------------------------------------------------- local worker processes
def _init_worker(threads: int, maker: SampleMaker, parent: int | None = None) -> None:
    """Process-pool initializer: share the cores between worker processes, keep the
    run's maker for this process's samples and exit when the parent process ``parent``
    dies (:func:`_exit_with_parent`)."""
    global _worker_maker
    _worker_maker = maker
    if parent is not None:
        _exit_with_parent(parent)
    try:
        import numba

        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    except ImportError:  # pragma: no cover - numba is a dependency
        pass


def _exit_with_parent(parent: int) -> None:
    """Watch, from a daemon thread, that ``parent`` is still this process's parent; when
    it is gone (``kill -9`` of ``spikesim generate``) exit at once, leaving the sample
    being made in ``.partial`` (removed by the next run), instead of writing on alone."""
    import threading
    import time

    def watch():
        while os.getppid() == parent:
            time.sleep(settings.DATASET_ORPHAN_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _pool_sample(index: int, out_dir: str) -> dict:
    """A pool task (top-level, importable by spawned processes): sample ``index`` with the
    worker's maker."""
    return _sample_into_dataset(_worker_maker, index, out_dir)


def run_pool(maker: SampleMaker, out_dir: Path, pending: list, workers: int, finished) -> None:
    """``workers`` spawned processes, at most ``settings.DATASET_INFLIGHT_PER_WORKER``
    samples in flight per worker; the cores are shared between them."""
    import concurrent.futures as cf
    import multiprocessing

    threads = max(1, (os.cpu_count() or 1) // workers)
    ctx = multiprocessing.get_context("spawn")
    limit = workers * settings.DATASET_INFLIGHT_PER_WORKER
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                initargs=(threads, maker, os.getpid())) as pool:
        todo = iter(pending)
        running = {}
        try:
            for i in todo:
                running[pool.submit(_pool_sample, i, str(out_dir))] = i
                if len(running) >= limit:
                    break
            while running:
                ready, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                for fut in ready:
                    index = running.pop(fut)
                    finished(index, fut.result())
                    nxt = next(todo, None)
                    if nxt is not None:
                        running[pool.submit(_pool_sample, nxt, str(out_dir))] = nxt
        except BaseException:
            for fut in running:
                fut.cancel()
            raise


# ----------------------------------------------------------------------------- Dask
def dask_client(scheduler):
    """A ``distributed.Client`` for ``scheduler`` (an address, or a client, returned as is)."""
    try:
        from dask.distributed import Client
    except ImportError:
        raise InputError("--scheduler", str(scheduler), "dask[distributed] installed",
                         "pip install 'spike-defocus[dask]' (dask[distributed]), or use "
                         "--workers for local processes") from None
    if isinstance(scheduler, Client):
        return scheduler
    try:
        return Client(str(scheduler), timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise InputError("--scheduler", str(scheduler), "the address of a running Dask scheduler",
                         f"could not connect ({exc.__class__.__name__}); start one with "
                         "`dask scheduler` and give its tcp://HOST:PORT") from None


def _sample_as_bytes(maker: SampleMaker, index: int) -> tuple[dict, dict]:
    """Build sample ``index`` in a local temporary directory and return its files' bytes.

    For Dask workers, which need not share a file system with the client.
    """
    import tempfile

    with tempfile.TemporaryDirectory(prefix="spikesim-sample-") as tmp:
        entry = maker.build(index, Path(tmp))
        files = {p.name: p.read_bytes() for p in sorted(Path(tmp).iterdir()) if p.is_file()}
    return entry, files


def run_dask(client, config, out_dir: Path, pending: list, finished) -> None:
    """The cluster's workers compute the samples (each lists the source's inputs itself,
    where it runs); their files come back as bytes and are written here."""
    from dask.distributed import as_completed

    nthreads = max(1, sum(client.nthreads().values()))
    limit = nthreads * settings.DATASET_INFLIGHT_PER_WORKER
    token = uuid.uuid4().hex[:12]
    maker = client.scatter(SampleMaker(config, list_inputs=False), broadcast=True)
    todo = iter(pending)
    first = [client.submit(_sample_as_bytes, maker, i, key=f"spikesim-sample-{token}-{i}")
             for i in _take(todo, limit)]
    index_of = {f.key: i for f, i in zip(first, pending[:len(first)])}
    queue = as_completed(first)
    for fut in queue:
        index = index_of.pop(fut.key)
        entry, files = fut.result()
        fut.release()
        write_sample_files(out_dir, index, files)
        finished(index, entry)
        nxt = next(todo, None)
        if nxt is not None:
            new = client.submit(_sample_as_bytes, maker, nxt, key=f"spikesim-sample-{token}-{nxt}")
            index_of[new.key] = nxt
            queue.add(new)


def _take(it, n: int) -> list:
    out = []
    for x in it:
        out.append(x)
        if len(out) >= n:
            break
    return out
