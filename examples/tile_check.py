"""Does tiling change the network's score? ``spikerestore eval`` of ``despike`` with the
inference tile set to each size given (docs/despike.md §2, "Inference tiles").

The channel attention pools its statistics over the whole input, and training sees
96 px crops; this measures whether cutting test frames into training-size tiles helps.

    PYTHONPATH=. python examples/tile_check.py DATASET 512:32 192:48 128:32 96:24

Each ``TILE:OVERLAP`` (px) runs the eval once (oracle calibration, 192 steps) and prints
its tables; 512 px is the default (one pass for frames up to 512 px). The tile is a
setting of the library (``restore.settings.DESPIKE_TILE``), set here for the process.
"""

import sys

from restore import settings
from cli.spikerestore_cli import main


def check(dataset: str, sizes: list[str]) -> None:
    for size in sizes:
        tile, overlap = (int(v) for v in size.split(":"))
        settings.DESPIKE_TILE, settings.DESPIKE_TILE_OVERLAP = tile, overlap
        print(f"tile {tile} px, overlap {overlap} px", flush=True)
        code = main(["eval", dataset, "--methods", "despike", "--calib-mode", "oracle",
                     "--montage", "0"], standalone_mode=False)
        if code:
            sys.exit(f"eval failed for tile {tile}:{overlap} (exit {code})")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    check(sys.argv[1], sys.argv[2:])
