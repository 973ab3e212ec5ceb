"""``spikerestore run``: restore one capture, one dataset sample or a whole dataset;
with ``--every``, a capture or a sample as a sequence (video, GIF or numbered PNGs)."""

import contextlib
from pathlib import Path

import click

from cli.options import (SIZE, echo_json, given_on_command_line, json_option,
                         overwrite_option, progress, quiet_report, verbosity_options)
from cli.stream_args import AXES
from restore.settings import ANCHOR_DEFAULT, DEFAULT_METHOD, METHOD_NAMES
from spikesim.errors import InputError


@click.command("run")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("--method", default=DEFAULT_METHOD, show_default=True,
              help="One of: " + ", ".join(METHOD_NAMES) + ".")
@click.option("--calib", "calib_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Calibration .npz of the camera (spikecal fit); "
              "default: uncalibrated (a network with the calibration flag is told the "
              "calibration is absent: the mode it was trained for).")
@click.option("--center", type=int, default=None,
              help="Key step (default: the sample's, else the middle of the stream).")
@click.option("--every", type=int, default=None,
              help="Restore a sequence: a frame every N steps (key steps START, START+N, ...); "
              "-o is then a .mp4, a .gif or a directory of numbered PNGs.")
@click.option("--start", type=int, default=None,
              help="First key step of --every (default: the first whose window fits).")
@click.option("--stop", type=int, default=None,
              help="Key steps of --every stay below this (default: past the last whose "
              "window fits).")
@click.option("--fps", type=float, default=10.0, show_default=True,
              help="Frames per second of a .mp4/.gif sequence.")
@click.option("--batch", type=int, default=1, show_default=True,
              help="Frames per forward pass of the network with --every (1: each frame bit "
              "for bit the single-frame restoration; more: equal to float32 rounding, "
              "faster on some machines).")
@click.option("--window", type=int, default=None,
              help="Steps around the key step (default 192, clipped to the stream).")
@click.option("--size", type=SIZE, default=None, help="Frame size WxH of a .dat.")
@click.option("--axes", type=AXES, default=None,
              help="Axis order of a dense .npz, e.g. HWT (default THW).")
@click.option("--sigma", type=float, default=None,
              help="PSF s.d. in px for the cascades (default: the sample's oracle σ, "
              "else estimated from the image).")
@click.option("--exposure", type=click.Choice(["auto", "camera"]), default=None,
              help="auto: 99.5th percentile -> 1 (default for captures); camera: the "
              "sample's known response (default for dataset samples).")
@click.option("--dead-time", type=click.FloatRange(min=0), default=None,
              help="Dead time in steps for the uncalibrated rate inversion "
              "(default: calibration's, else the sample camera's, else 1).")
@click.option("--anchor/--no-anchor", default=ANCHOR_DEFAULT, show_default=True,
              help="With --calib, a network's output is matched to the calibrated TFP "
              "through the estimated blur at low frequencies (restore/anchor.py).")
@click.option("--linear", is_flag=True, help="Also write a 16-bit linear PNG (NAME_linear.png).")
@click.option("--device", default="cpu", show_default=True, help="Torch device of the network.")
@click.option("--weights", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The network's weights file (despike, despike-x8: DeSpike weights, default "
                   "the bundled despike-natural.pt, restore/despike/weights/despike-small.pt "
                   "the procedural one; a learned cascade: its train-cascade "
                   "best.pt).")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Output PNG (a directory when INPUT is a dataset; with --every a .mp4, "
              ".gif or PNG directory).")
@overwrite_option
@json_option
@verbosity_options
def run(input_path, method, calib_path, center, every, start, stop, fps, batch, window, size,
        axes, sigma, exposure, dead_time, anchor, linear, device, weights, output, overwrite,
        as_json):
    """Restore a sharp image from INPUT: a .dat, an .npz, a dataset sample or a dataset.

    The PNG is sRGB-encoded and linear in scene intensity up to one scale (zero
    black level).
    """
    from restore import run as runner
    from restore.methods import check_method, is_network

    check_method(method)
    if weights is not None and not is_network(method):
        raise InputError("--weights", str(weights), f"a network method, not {method}",
                         "leave --weights out, or choose --method despike, despike-x8 or a "
                         "learned cascade")
    if every is None and (start is not None or stop is not None):
        raise InputError("--start" if start is not None else "--stop",
                         start if start is not None else stop, "a key-step range with --every",
                         "add --every N, or use --center for one frame")
    anchor_asked = anchor and given_on_command_line("anchor")
    if anchor_asked:
        _check_anchor(method, calib_path, is_network)
    if every is not None and center is not None:
        raise InputError("--center", center, "no --center with --every",
                         "give the range with --start/--stop")
    kind = runner.input_kind(input_path)
    calib = None
    if calib_path is not None:
        from calibration.calfile import load_calibration

        calib = load_calibration(calib_path)
        if anchor_asked and not calib.measured:
            raise InputError("--calib", str(calib_path), "a measured calibration for "
                             "--anchor, not an identity one", "fit one with spikecal fit, "
                             "or drop --anchor")
    common = dict(method=method, calib=calib, center=center, window=window, sigma=sigma,
                  dead_time=dead_time, linear=linear, overwrite=overwrite, device=device,
                  weights=weights, anchor=anchor)
    if every is not None:
        _sequence(input_path, kind, output, every, start, stop, fps, batch, exposure, size,
                  axes, common, as_json)
        return
    if kind == "dataset":
        from spikesim.dataset import read_manifest

        n = len(read_manifest(input_path)["samples"])
        with progress(length=n, label="restoring") as bar:
            results = runner.run_dataset(input_path, output, exposure=exposure,
                                         progress=lambda i, total: bar.update(1), **common)
    elif kind == "sample":
        results = [runner.run_sample(input_path, output, exposure=exposure, **common)]
    else:
        from cli.stream_args import open_stream

        stream = open_stream(input_path, size, axes)
        results = [runner.run_capture(stream, output, exposure=exposure or "auto",
                                      source=str(input_path), **common)]
    if as_json:
        echo_json([r.as_dict() for r in results])
        return
    if quiet_report(*(r.output for r in results)):
        return
    for r in results:
        sig = "" if r.sigma is None else f", sigma {r.sigma:.2f} px ({r.sigma_source})"
        anc = ("" if r.anchor_scale is None else f", anchored to the calibrated TFP above "
               f"{r.anchor_scale:.1f} px (blur {r.anchor_sigma:.2f} px)")
        click.echo(f"{r.output}: {r.method}, {r.window} steps{sig}{anc}, exposure "
                   f"{r.exposure} (scale {r.scale:.4g})")


def _check_anchor(method, calib_path, is_network) -> None:
    """``--anchor`` asked for where it cannot act: one error instead of a silent no-op."""
    if not is_network(method):
        raise InputError("--method", method, "a network method for --anchor (despike, "
                         "despike-x8 or a learned cascade)", "drop --anchor for the classical "
                         "methods")
    if calib_path is None:
        raise InputError("--calib", "none given", "a measured calibration for --anchor (it "
                         "compares with the calibrated TFP)", "add --calib CAL.npz (spikecal "
                         "fit), or drop --anchor")


def _sequence(input_path, kind, output, every, start, stop, fps, batch, exposure, size, axes,
              common, as_json):
    from restore import run as runner

    stream = None
    if kind == "capture":
        from cli.stream_args import open_stream

        stream = open_stream(input_path, size, axes)
    with contextlib.ExitStack() as stack:
        bars = []

        def tick(i, total):
            if not bars:
                bars.append(stack.enter_context(progress(length=total, label="restoring")))
            bars[0].update(1)

        options = {k: v for k, v in common.items() if k != "center"}
        result = runner.run_sequence(input_path, output, every=every, start=start, stop=stop,
                                     fps=fps, batch=batch, exposure=exposure, stream=stream,
                                     progress=tick, **options)
    if as_json:
        echo_json(result.as_dict())
        return
    if quiet_report(result.output):
        return
    steps = [f["step"] for f in result.frames]
    click.echo(f"{result.output}: {len(steps)} frames of {result.method} at steps "
               f"{steps[0]}..{steps[-1]} every {result.every}, exposure {result.exposure} "
               f"(scale {result.scale:.4g})")
