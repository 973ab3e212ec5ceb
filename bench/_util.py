"""Small helpers shared by the benchmarks: timing medians and child-process memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def median_time(fn, repeat: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeat`` runs after ``warmup``."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


# Peak memory of a command, read by a small wrapper process (RUSAGE_CHILDREN of the wrapper)
# instead of RUSAGE_SELF inside the command: Linux carries ``ru_maxrss`` across ``exec`` from
# the address space it was forked from, so a command started by a large bench process read
# as that process's size (tests/test_sequence.py shows it for bench_sequence.py).
RSS_WRAPPER = ("import resource, subprocess, sys\n"
               "code = subprocess.run(sys.argv[1:]).returncode\n"
               "print('MAXRSS_MB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,"
               " file=sys.stderr)\nsys.exit(code)\n")


def _wrapper_maxrss(stderr: str) -> float:
    """The peak resident memory (MB) :data:`RSS_WRAPPER` printed on ``stderr``."""
    return [float(line.split()[1]) for line in stderr.splitlines()
            if line.startswith("MAXRSS_MB")][-1]


def run_child(code: str, timeout: float = 600) -> dict:
    """Run ``code`` in a fresh interpreter; it must print one JSON object last.

    The result gains ``maxrss_mb``: the child's peak resident memory, measured by a
    wrapper process (:data:`RSS_WRAPPER`), whatever the size of the calling process.
    """
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", RSS_WRAPPER, sys.executable, "-c", code],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout)
    if out.returncode:
        raise RuntimeError(out.stderr)
    result = {}
    for line in out.stdout.splitlines():
        if line.startswith("{"):
            result.update(json.loads(line))
    result["maxrss_mb"] = _wrapper_maxrss(out.stderr)
    return result


def command_peak(argv: list[str], **kwargs) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MB) of the command ``argv`` in a fresh
    process, read by :data:`RSS_WRAPPER` (as ``/usr/bin/time -v`` reports it); extra
    ``kwargs`` go to :func:`subprocess.run` (``env``, ``cwd``). A failing command raises
    ``RuntimeError`` with its stderr."""
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", RSS_WRAPPER, *map(str, argv)],
                         capture_output=True, text=True, **kwargs)
    wall = time.perf_counter() - t0
    if out.returncode:
        raise RuntimeError(out.stderr)
    return wall, _wrapper_maxrss(out.stderr)


def cpu_name() -> str:
    """The CPU's model name (:func:`restore.evaluate.machine_info`: ``/proc/cpuinfo``,
    else ``platform``)."""
    from restore.evaluate import machine_info

    return machine_info()["cpu"]


def table(rows: list[dict], columns: list[str]) -> str:
    """A markdown table of ``rows`` restricted to ``columns``."""
    def fmt(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)
