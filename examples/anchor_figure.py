"""The low-frequency anchor on the demo capture, where it hurts: a figure for the docs.

    ./run demo                                   # writes out/demo (capture + calibration)
    PYTHONPATH=. python examples/anchor_figure.py [--demo out/demo] [-o docs/images/anchor_demo.png]

Target, calibrated TFP, `despike` and `despike --anchor` on the demo's capture (its blur
varies across the frame), each under the camera's exposure like `spikerestore eval`.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo", type=Path, default=Path("out/demo"))
    ap.add_argument("-o", "--output", type=Path, default=Path("docs/images/anchor_demo.png"))
    args = ap.parse_args(argv)

    from calibration.calfile import load_calibration
    from restore.exposure import auto_scale, to_display
    from restore.methods import restore
    from spikesim.images import montage, read_image, write_png
    from spikesim.stream import SpikeStream

    stream = SpikeStream.open(args.demo / "capture" / "capture.dat")
    calib = load_calibration(args.demo / "camera.npz")
    target = read_image(args.demo / "capture" / "sharp_srgb.png")
    tiles, labels = [target], ["target"]
    tfp = restore(stream, "tfp", calib=calib).lam
    scale = auto_scale(tfp)                      # one exposure for all three estimates
    plain = restore(stream, "despike", calib=calib).lam
    anchored = restore(stream, "despike", calib=calib, anchor=True)
    for lam, label in ((tfp, "tfp +cal"), (plain, "despike +cal"),
                       (anchored.lam, f"despike +cal, --anchor (s = {anchored.anchor_scale:.1f} px)")):
        tiles.append(to_display(np.clip(lam * scale, 0, 1)))
        labels.append(label)
    write_png(args.output, montage(tiles, labels, ncols=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
