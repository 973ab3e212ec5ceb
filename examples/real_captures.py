"""Every method on the real captures of ../shared/data/real/: a montage and figures.

    PYTHONPATH=. python examples/real_captures.py [REAL_DIR] [-o docs/images]

No ground truth exists, so: bare-capture settings (no calibration is available for
these cameras, the cascades' σ is estimated from the image, ``--exposure auto``),
side-by-side images, and the no-reference figures of restore.realdata (mean gradient
magnitude, RMS contrast). The dead time of the rate inversion is chosen per capture
from the data: a camera whose pixels fire on consecutive steps (more than 1 % of its
intervals) cannot have δ ≥ 1, so δ = 0 is used there (physics.md §4: the brightest
pixels of outdoor_fence.npz do this), otherwise the reference camera's δ = 1.
"""

import argparse
from pathlib import Path

import numpy as np

from restore.exposure import expose, to_display
from restore.despike.weights import procedural_weights_path
from restore.methods import despike_available, restore
from restore.realdata import consecutive_spike_fraction, no_reference_figures
from spikesim.images import montage, write_png
from spikesim.stream import SpikeStream

CAPTURES = (("outdoor_fence.npz", "HWT", "fence"), ("uhsr_helicopter.npz", "THW", "helicopter"))
BASELINES = ("tfp", "tfi", "tfp+wiener", "tfp+rl", "tfi+wiener", "tfi+rl")
CONSECUTIVE_LIMIT = 0.01


def main():
    here = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("real_dir", nargs="?", default=str(here.parent / "shared" / "data" / "real"))
    ap.add_argument("-o", "--output", default=str(here / "docs" / "images"))
    args = ap.parse_args()
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    # the default weights (despike-natural.pt) and the procedural-only ones beside them
    methods = (("despike", "despike-small") if despike_available() else ()) + BASELINES
    lines = ["| capture | method | σ (px) | mean gradient | RMS contrast |",
             "|---|---|---|---|---|"]
    for fname, axes, short in CAPTURES:
        stream = SpikeStream.load_npz(Path(args.real_dir) / fname, axes=axes)
        frac = consecutive_spike_fraction(stream)
        dead_time = 0 if frac > CONSECUTIVE_LIMIT else 1
        print(f"{fname}: {stream.shape}, consecutive-spike intervals {100 * frac:.2f} % "
              f"-> dead time {dead_time}")
        tiles, labels = [], []
        for m in methods:
            procedural = m == "despike-small"
            res = restore(stream, "despike" if procedural else m, dead_time=dead_time,
                          weights=procedural_weights_path() if procedural else None)
            disp = to_display(expose(res.lam, "auto")[0])
            fig = no_reference_figures(disp)
            sig = "" if res.sigma is None else f"{res.sigma:.2f}"
            lines.append(f"| {short} | {m} | {sig or '-'} | {fig['gradient']:.4f} | "
                         f"{fig['contrast']:.4f} |")
            tiles.append(disp)
            labels.append(m + (f" s={sig}" if sig else ""))
        path = out / f"real_{short}.png"
        write_png(path, montage(tiles, labels, ncols=4 if len(tiles) > 6 else 3))
        print(f"wrote {path}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
