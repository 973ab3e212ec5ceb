"""``spikerestore score``: no-reference scores of restored images (no ground truth needed)."""

import math
from pathlib import Path

import click

from cli.options import echo_json, json_option, verbosity_options

COLUMNS = (("niqe", "NIQE", 3), ("piqe", "PIQE", 2), ("gradient", "mean gradient", 4),
           ("contrast", "RMS contrast", 4))


@click.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@json_option
@verbosity_options
def score(images, as_json):
    """NIQE, PIQE, mean gradient and RMS contrast of each of IMAGES (PNG, JPEG, TIFF).

    Lower NIQE / PIQE are better. Score the sRGB PNG that `spikerestore run` writes;
    NIQE needs at least two 96x96 patches (e.g. 192x96) and is "nan" below that.
    NIQE's model is fetched at setup (`./run setup`); nothing is downloaded here.
    """
    from restore.niqe_params import load_model
    from restore.noref import score_image_file

    model = load_model()
    rows = [{"image": str(p), **score_image_file(p, model)} for p in images]
    if as_json:
        echo_json([{k: (None if isinstance(v, float) and math.isnan(v) else v)
                    for k, v in r.items()} for r in rows])
        return
    click.echo("| image | " + " | ".join(name for _, name, _ in COLUMNS) + " |")
    click.echo("|---|" + "---|" * len(COLUMNS))
    for r in rows:
        click.echo(f"| {r['image']} | " + " | ".join(f"{r[k]:.{d}f}" for k, _, d in COLUMNS)
                   + " |")
