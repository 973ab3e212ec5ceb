"""Options shared by commands that read a spike file."""

import click

from cli.options import SIZE

AXES = click.Choice(["THW", "HWT", "TWH", "WHT", "HTW", "WTH"], case_sensitive=False)


def stream_options(f):
    """``--size``, ``--axes``, ``--strict`` and ``--readout-hz`` for reading a capture."""
    f = click.option("--readout-hz", type=click.FloatRange(min=0, min_open=True), default=None,
                     help="Readout steps per second (default: sidecar, else 20000).")(f)
    f = click.option("--strict", is_flag=True,
                     help="A trailing partial frame is an error (default: warn and drop it).")(f)
    f = click.option("--axes", type=AXES, default=None,
                     help="Axis order of a dense .npz array, e.g. HWT (default THW).")(f)
    f = click.option("--size", type=SIZE, default=None,
                     help="Frame size WxH of a .dat (default: sidecar, else 400x250).")(f)
    return f


def open_stream(path, size=None, axes=None, strict=False, readout_hz=None):
    """Open a capture by suffix (.dat lazily, .npz packed or dense)."""
    from spikesim.stream import SpikeStream

    return SpikeStream.open(path, size=size, axes=axes, strict=strict, readout_hz=readout_hz)
