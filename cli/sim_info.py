"""``spikesim info`` and ``spikesim preview``."""

from pathlib import Path

import click

from cli.options import echo_json, json_option, overwrite_option, verbosity_options
from cli.stream_args import open_stream, stream_options


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@stream_options
@json_option
@verbosity_options
def info(file, size, axes, strict, readout_hz, as_json):
    """Summarise a spike file: frames, duration, density, per-pixel rates."""
    from spikesim.inspect import stream_info

    stream = open_stream(file, size, axes, strict, readout_hz)
    summary = stream_info(stream)
    if as_json:
        echo_json(summary)
        return
    p = summary["rate_percentiles"]
    click.echo(f"{file}: {summary['frames']} frames of {summary['width']}x{summary['height']}"
               f" ({summary['duration_s'] * 1e3:.2f} ms at {summary['readout_hz']:g} Hz)")
    click.echo(f"  spike density      {summary['spike_density']:.4f} spikes/pixel/step")
    click.echo("  rate percentiles   " + "  ".join(f"{k}={v:.3f}" for k, v in p.items()))
    click.echo(f"  never firing       {summary['never_firing_pixels']} pixels")
    click.echo(f"  always firing      {summary['always_firing_pixels']} pixels")


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--center", type=int, default=None, help="Key step (default: the middle).")
@click.option("--window", type=int, default=41, show_default=True,
              help="Window length in steps.")
@click.option("--scale", type=click.Choice(["linear", "srgb"]), default="linear",
              show_default=True,
              help="linear: rate / its 99.5th percentile written as grey levels; "
                   "srgb: the same, sRGB-encoded for display.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="OUT.png (window mean at --center) or OUT.gif (animation over the stream).")
@stream_options
@overwrite_option
@verbosity_options
def preview(file, center, window, scale, output, size, axes, strict, readout_hz, overwrite):
    """Write the window-mean image of a spike file (PNG) or an animation (GIF)."""
    from spikesim.atomic import check_writable
    from spikesim.errors import InputError
    from spikesim.images import write_gif, write_png
    from spikesim.inspect import preview_animation, preview_image

    suffix = output.suffix.lower()
    if suffix not in (".png", ".gif"):
        raise InputError("--output", str(output), "a .png or .gif file name",
                         "end the name in .png for an image or .gif for an animation")
    check_writable(output, overwrite)
    stream = open_stream(file, size, axes, strict, readout_hz)
    if suffix == ".png":
        write_png(output, preview_image(stream, center, window, scale), overwrite=True)
    else:
        write_gif(output, preview_animation(stream, window, scale), overwrite=True)
    click.echo(f"wrote {output}")


@click.command()
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("dest", type=click.Path(dir_okay=False, path_type=Path))
@stream_options
@overwrite_option
@verbosity_options
def convert(source, dest, size, axes, strict, readout_hz, overwrite):
    """Convert between .dat, packed .npz and dense .npz (give --axes for dense input).

    The output format follows DEST's suffix: .dat (raw, with a .dat.yaml sidecar)
    or .npz (packed bits).
    """
    from spikesim.errors import InputError

    suffix = dest.suffix.lower()
    if suffix not in (".dat", ".npz"):
        raise InputError("DEST", str(dest), "a .dat or .npz file name",
                         "end the output name in .dat or .npz")
    stream = open_stream(source, size, axes, strict, readout_hz)
    if suffix == ".dat":
        stream.write_dat(dest, overwrite=overwrite, provenance={"converted_from": str(source)})
    else:
        stream.save_npz(dest, overwrite=overwrite)
    click.echo(f"wrote {dest}: {len(stream)} frames of {stream.width}x{stream.height}")
