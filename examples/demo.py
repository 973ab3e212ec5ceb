"""The main job end to end on built-in defaults: simulate, calibrate, restore, look.

    ./run demo            (or: python examples/demo.py [-o out/demo] [--fast])

1. ``spikesim render``   a procedural scene with depth, defocused by the reference
                          25 mm f/2 lens focused at 1.5 m, captured by the reference
                          400x250 camera (fixed-pattern noise from --fpn-seed);
2. ``spikesim uniform``  dark, medium and bright uniform fields of the same camera;
3. ``spikecal fit``      the camera's calibration (gain, offset, Eq. 14 weights) and
                          a report with maps;
4. ``spikerestore run``  every method on the capture, with the calibration;
5. a montage PNG of the scene, the defocused input, each restoration.

Each step is a real command-line call; the commands are printed so that a person
can run them by hand. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FPN_SEED = 7
SCENE = "scene:dead_leaves"


def call(group, args: list) -> None:
    """Run one CLI command in-process, echoing it; stop the demo on failure."""
    name = group.name
    args = [str(a) for a in args]
    print(f"\n$ {name} " + " ".join(shlex.quote(a) for a in args), flush=True)
    t0 = time.perf_counter()
    try:
        group.main(args, prog_name=name, standalone_mode=False)
    except SystemExit as exc:          # click exits on errors it reports itself
        if exc.code:
            raise SystemExit(f"demo stopped: '{name} {args[0]}' failed (exit {exc.code})")
    print(f"  ({time.perf_counter() - t0:.1f} s)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "out" / "demo")
    ap.add_argument("--fast", action="store_true",
                    help="shorter uniform fields (2,000 steps) for a quick look")
    args = ap.parse_args(argv)

    from cli.spikecal_cli import main as spikecal
    from cli.spikerestore_cli import main as spikerestore
    from cli.spikesim_cli import main as spikesim

    spikesim.name, spikecal.name, spikerestore.name = "spikesim", "spikecal", "spikerestore"

    out = args.output
    out.mkdir(parents=True, exist_ok=True)
    field_steps = 2000 if args.fast else 20000
    capture = out / "capture"
    call(spikesim, ["render", SCENE, "--fpn-seed", FPN_SEED, "--seed", 1, "--steps", 256,
                    "-o", capture, "--overwrite"])
    call(spikesim, ["uniform", "--levels", "0,153,335", "--steps", field_steps,
                    "--fpn-seed", FPN_SEED, "-o", out / "fields", "--overwrite"])
    call(spikecal, ["fit", out / "fields", "-o", out / "camera.npz",
                    "--report", out / "calibration", "--overwrite"])

    from restore.methods import METHODS, despike_available, is_network

    import numpy as np

    # The simulation knows the blur: the cascades get the scene's median σ (oracle),
    # as in `spikerestore eval`; a bare capture would use the σ estimator instead.
    with np.load(capture / "maps.npz", allow_pickle=False) as maps:
        sigma = float(np.median(maps["sigma"]))
    # the network in one pass; despike-x8 (8 passes) is left to `spikerestore run`
    methods = (["despike"] if despike_available() else []) + [m for m in METHODS
                                                              if not is_network(m)]
    restored = {}
    for method in methods:
        png = out / "restored" / f"{method.replace('+', '_')}.png"
        extra = ["--sigma", f"{sigma:.3f}"] if "+" in method else []
        call(spikerestore, ["run", capture / "capture.dat", "--method", method,
                            "--calib", out / "camera.npz", "-o", png, "--overwrite"] + extra)
        restored[method] = png

    from spikesim.images import montage, read_image, write_png

    tiles = [read_image(capture / "sharp_srgb.png"), read_image(capture / "defocused_srgb.png"),
             read_image(capture / "preview.png")]
    labels = ["sharp scene", "defocused", "spikes (window mean)"]
    for method, png in restored.items():
        tiles.append(read_image(png))
        labels.append(method + (f" (oracle sigma {sigma:.2f} px)" if "+" in method else ""))
    sheet = montage(tiles, labels, ncols=min(4, len(tiles)))
    write_png(out / "montage.png", np.clip(sheet, 0, 1))
    print(f"\nDone. Look at {out / 'montage.png'} (and the calibration report in "
          f"{out / 'calibration'}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
