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


def run_child(code: str, timeout: float = 600) -> dict:
    """Run ``code`` in a fresh interpreter; it must print one JSON object last.

    The result gains ``maxrss_mb``: the child's peak resident memory.
    """
    wrapper = (code + "\nimport resource, json as _j\n"
               "print(_j.dumps({'maxrss_mb': resource.getrusage(resource.RUSAGE_SELF)"
               ".ru_maxrss / 1024}))\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True,
                         env=env, cwd=ROOT, timeout=timeout)
    if out.returncode:
        raise RuntimeError(out.stderr)
    result = {}
    for line in out.stdout.splitlines():
        if line.startswith("{"):
            result.update(json.loads(line))
    return result


def table(rows: list[dict], columns: list[str]) -> str:
    """A markdown table of ``rows`` restricted to ``columns``."""
    def fmt(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)
