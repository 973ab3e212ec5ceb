"""Evaluate a DeSpike weights file (e.g. an ablation run's ``best.pt``) on a dataset.

``spikerestore eval`` evaluates the bundled weights only; this script runs the very
same protocol (:mod:`restore.evaluate`: oracle exposure, sRGB PSNR/SSIM, windows
clipped around the key step, the blur-bin and focus-side breakdowns, and the sample's
oracle calibration under ``--calib-mode oracle``) with the network's weights taken from
``--weights``. It does so by binding ``weights=`` on
:func:`restore.despike.infer.restore_despike`, the one function the ``despike`` method
calls, for the duration of the run; nothing else changes.

    PYTHONPATH=. python examples/eval_weights.py DATASET --weights RUN/best.pt \\
        --label "w/o NC" --windows full --calib-mode oracle -o OUT_DIR

The network always receives the sample's calibration under ``oracle`` (a w/o NC model
ignores its gain/offset maps by construction and uses only its dead time), and an
identity calibration under ``off``. Writes ``results.md``, ``results.csv``,
``results.json`` (and ``montage.png``) into ``OUT_DIR``; prints the markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import sys
from pathlib import Path


@contextlib.contextmanager
def weights_bound(weights: str | None):
    """Make the ``despike`` method use ``weights`` (None: the bundled file) meanwhile."""
    from restore.despike import infer

    original = infer.restore_despike
    if weights is not None:
        infer.restore_despike = functools.partial(original, weights=str(weights))
    try:
        yield
    finally:
        infer.restore_despike = original


class _Named:
    """A method spec shown under another label (e.g. ``despike (w/o NC) +cal``); the
    label keeps the ``despike`` prefix so the best-cascade pick never counts it."""

    def __init__(self, spec, label: str):
        self._spec, self.label = spec, label

    def __getattr__(self, name):
        return getattr(self._spec, name)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--weights", default=None, help="weights file (default: bundled)")
    ap.add_argument("--label", default=None, help="name of the method in the tables")
    ap.add_argument("--methods", default="despike",
                    help="methods as for spikerestore eval (despike uses --weights)")
    ap.add_argument("--windows", default="full")
    ap.add_argument("--calib-mode", default="oracle", choices=["off", "oracle", "both"])
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--montage", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("-o", "--output", type=Path, default=None)
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args(argv)

    from restore import evaluate as ev
    from restore.despike.infer import load_model

    model = load_model(args.weights)          # validates the file; clear error if bad
    cfg = model.config
    print(f"weights: {args.weights or 'bundled'} ({cfg.name}, "
          f"{sum(p.numel() for p in model.parameters())} parameters, "
          f"use_calibration={cfg.use_calibration}, multi_temporal={cfg.multi_temporal}, "
          f"multi_scale={cfg.multi_scale}, attention={cfg.attention}, "
          f"physical_kernels={cfg.physical_kernels})", file=sys.stderr)
    specs = ev.parse_methods(args.methods, args.calib_mode)
    wins = ev.parse_windows(args.windows)
    with weights_bound(args.weights):
        result = ev.evaluate(args.dataset, specs, wins, limit=args.limit, device=args.device,
                             montage_samples=args.montage)
    if args.label:
        rename = {s.label: s.label.replace("despike", f"despike ({args.label})", 1)
                  for s in specs if s.method == "despike"}
        result.specs = [_Named(s, rename[s.label]) if s.label in rename else s
                        for s in result.specs]
        for r in result.rows:
            r.method = rename.get(r.method, r.method)
    result.info["weights"] = str(args.weights or "bundled")
    summary = ev.summarise(result)
    print(ev.to_markdown(summary), end="")
    if args.output is not None:
        for p in ev.write_outputs(args.output, summary, result, args.overwrite):
            print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
