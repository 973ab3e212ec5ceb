"""``spikesim export``: a generated dataset in another tool's layout (Spike-Zoo, dense .npz)."""

from pathlib import Path

import click

from cli.options import (echo_json, json_option, overwrite_option, progress, quiet_report,
                         verbosity_options)


@click.command()
@click.argument("dataset", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--to", "fmt", type=click.Choice(["spikezoo", "npz"]), required=True,
              help="spikezoo: {split}/spike/NAME.dat (the raw bytes) and {split}/gt/NAME.png "
              "(8-bit targets); npz: {split}/NAME.npz with dense (T, H, W) spikes and targets.")
@click.option("--split", type=click.Choice(["train", "test"]), default="test", show_default=True,
              help="The split every sample goes to (export a training and a test dataset "
              "separately for both).")
@click.option("--gt", type=click.Choice(["srgb", "linear"]), default="srgb", show_default=True,
              help="spikezoo targets: the 8-bit sRGB target, or the linear one in 8 bits.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N samples.")
@overwrite_option
@json_option
@verbosity_options
def export(dataset, out, fmt, split, gt, limit, overwrite, as_json):
    """Export DATASET (a `spikesim generate` directory) to OUT in another tool's layout.

    OUT appears complete or not at all; an existing OUT is replaced only with
    --overwrite and only when it is an earlier export.
    """
    from spikesim.dataset import read_manifest
    from spikesim.export import export_dataset

    n = len(read_manifest(dataset)["samples"])
    n = min(n, limit) if limit else n
    with progress(length=max(n, 1), label="exporting") as bar:
        info = export_dataset(dataset, fmt, out, split=split, gt=gt, overwrite=overwrite,
                              limit=limit, progress=lambda i, total: bar.update(1))
    if as_json:
        echo_json({k: v for k, v in info.items() if k != "samples"} | {"output": str(out)})
        return
    if quiet_report(out):
        return
    click.echo(f"exported {info['num']} samples ({info['width']}x{info['height']}) to "
               f"{out}/{split} as {fmt}")
