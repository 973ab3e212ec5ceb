"""The same crops across methods, as the DeSpike paper's Fig. 10-11 (issue 20, item 5).

    python examples/cascade_montage.py DATASET -o MONTAGE.png \\
        [--methods tfp,tfp+rl,tfp+gkmnet,spk2imgnet,spk2imgnet+gkmnet,despike] \\
        [--weights NETWORK=FILE ...] [--calib-mode oracle] [--window full]

Rows are samples, columns the target then each method, each tile the same crop of the
sample's restoration (zoomed 2x, nearest neighbour). Every method is run again on the
chosen samples exactly as ``spikerestore eval`` runs it (restore.evaluate.run_on_sample,
the sample's oracle exposure and sRGB display; ``--calib-mode oracle``: the sample's true
calibration, as eval's ``+cal`` rows). Learned cascades without weights (bundled or given
with --weights) are left out with a note, so the montage shows what is present.

Choice rule, fixed before looking at any restoration (never by which method wins):

- samples: per blur bin of the manifest ([0,1), [1,2), [2,4), [4,inf)), the sample with the
  lowest id in that bin (``--per-bin`` samples each);
- crop: the ``--crop``-pixel square of the *target* with the largest mean gradient
  magnitude (the most detailed part of the sharp image), on a grid of 8-pixel steps, ties
  to the top-left. The rule reads the target only.

Each tile's label is the method (the first tile: the sample id, blur bin, focus side).
A ``.txt`` beside the PNG lists the samples, crops and the weights of every network.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from restore.eval_weights import resolve_weights, weights_record  # noqa: E402
from restore.evaluate import display_of, parse_methods, run_on_sample  # noqa: E402
from restore.exposure import to_display  # noqa: E402
from spikesim.dataset import BLUR_BIN_LABELS, load_sample, read_manifest, sample_name  # noqa: E402
from spikesim.errors import ToolkitError  # noqa: E402

DEFAULT_METHODS = "tfp,tfp+rl,tfp+gkmnet,spk2imgnet,spk2imgnet+gkmnet,despike"
GRID_STEP = 8
ZOOM = 2


def choose_samples(entries: list[dict], per_bin: int) -> list[dict]:
    """Per blur bin, the ``per_bin`` samples of lowest id (the module's rule)."""
    chosen = []
    for label in BLUR_BIN_LABELS:
        in_bin = sorted((e for e in entries if e.get("blur_bin") == label),
                        key=lambda e: int(e["id"]))
        chosen += in_bin[:per_bin]
    return chosen


def choose_crop(target: np.ndarray, size: int) -> tuple[int, int]:
    """``(y, x)`` of the ``size`` square of ``target`` (H, W) with the largest mean
    gradient magnitude, on an 8-px grid (ties: the first in row-major order)."""
    h, w = target.shape
    size = min(size, h, w)
    gy, gx = np.gradient(target.astype(np.float64))
    mag = np.hypot(gy, gx)
    integral = np.pad(mag.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    best, where = -1.0, (0, 0)
    for y in range(0, h - size + 1, GRID_STEP):
        for x in range(0, w - size + 1, GRID_STEP):
            s = (integral[y + size, x + size] - integral[y, x + size]
                 - integral[y + size, x] + integral[y, x])
            if s > best:
                best, where = s, (y, x)
    return where


def _zoom(tile: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(tile, ZOOM, axis=0), ZOOM, axis=1)


def _available(methods: list[str], weights: dict) -> tuple[list[str], list[str]]:
    """The methods that can run (learned cascades need bundled or given weights)."""
    from restore.cascades.weights import bundled_path
    from restore.methods import is_learned_cascade

    keep, notes = [], []
    for m in methods:
        if is_learned_cascade(m) and m not in weights and not bundled_path(m).is_file():
            notes.append(f"{m}: left out (no bundled weights and no --weights {m}=FILE)")
            continue
        keep.append(m)
    return keep, notes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("-o", "--output", type=Path, required=True, help="the montage PNG")
    ap.add_argument("--methods", default=DEFAULT_METHODS)
    ap.add_argument("--weights", action="append", default=[], metavar="[NETWORK=]FILE",
                    help="as spikerestore eval --weights (repeatable)")
    ap.add_argument("--calib-mode", choices=("off", "oracle"), default="oracle")
    ap.add_argument("--window", default="full", help="full, 64 or 32 (steps given)")
    ap.add_argument("--per-bin", type=int, default=1, help="samples per blur bin")
    ap.add_argument("--crop", type=int, default=96, help="crop side, px")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)

    try:
        specs_all = parse_methods(args.methods, args.calib_mode)
        weights = resolve_weights(specs_all, args.weights)
        methods, notes = _available([s.method for s in specs_all], weights)
        specs = [s for s in specs_all if s.method in methods]
        window = None if args.window == "full" else int(args.window)
        entries = choose_samples(read_manifest(args.dataset)["samples"], args.per_bin)
        tiles, labels, lines = [], [], []
        for entry in entries:
            sample = load_sample(args.dataset / "samples" / sample_name(entry["id"]))
            target = to_display(sample.sharp)
            y, x = choose_crop(target, args.crop)
            c = min(args.crop, *target.shape)
            cut = (slice(y, y + c), slice(x, x + c))
            tiles.append(_zoom(target[cut]))
            labels.append(f"#{entry['id']} {entry['blur_bin']} {entry['focus_side']}")
            lines.append(f"sample {entry['id']}: blur bin {entry['blur_bin']}, focus side "
                         f"{entry['focus_side']}, median sigma {entry['sigma_median']} px; "
                         f"crop y {y}, x {x}, {c} px")
            cache: dict = {}
            for spec in specs:
                res, _ = run_on_sample(sample, spec, window, cache, args.device, weights)
                tiles.append(_zoom(display_of(res.lam, sample)[cut]))
                labels.append(spec.label)
        from spikesim.images import montage, write_png

        write_png(args.output, montage(tiles, labels, ncols=len(specs) + 1))
        record = weights_record(specs, weights)
        lines += [f"weights of {k}: {v}" for k, v in record.items()] + notes
        lines += [f"calibration: {args.calib_mode}; window: {args.window}; columns: target, "
                  + ", ".join(s.label for s in specs)]
        args.output.with_suffix(".txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    except ToolkitError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    for note in notes:
        print(note, file=sys.stderr)
    print(f"wrote {args.output} and {args.output.with_suffix('.txt')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
