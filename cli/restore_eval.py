"""``spikerestore eval``: every method on a generated dataset; the results table."""

import shlex
from pathlib import Path

import click

from cli.options import (echo_json, given_on_command_line, json_option, overwrite_option,
                         progress, verbosity_options)
from restore.settings import ANCHOR_DEFAULT, DEFAULT_METHODS


@click.command("eval")
@click.argument("dataset", type=click.Path(path_type=Path))
@click.option("--methods", default=DEFAULT_METHODS, show_default=True,
              help="Comma-separated methods; a cascade uses the oracle σ, NAME@est the "
              "estimated σ, NAME@map the per-pixel σ map (upper bound).")
@click.option("--windows", default="full", show_default=True,
              help="Comma-separated windows: full (192 steps), 64, 32 ...")
@click.option("--calib-mode", type=click.Choice(["off", "oracle", "both"]), default="off",
              show_default=True, help="off: uncalibrated; oracle: each sample's true FPN "
              "maps through the calibration module; both: every method twice.")
@click.option("--full-grid", is_flag=True,
              help="Every method and σ source, calibration on and off, windows full,64,32 "
              "(overrides --methods, --windows, --calib-mode).")
@click.option("--lpips/--no-lpips", "with_lpips", default=True, show_default=True,
              help="LPIPS (AlexNet) beside PSNR and SSIM, about 0.1 s per 400x256 image "
              "on 2 CPU cores; --no-lpips for quick checks.")
@click.option("--anchor/--no-anchor", default=ANCHOR_DEFAULT, show_default=True,
              help="The networks' calibrated rows are matched to the calibrated TFP "
              "through the estimated blur at low frequencies (restore/anchor.py); needs a "
              "network in --methods and --calib-mode oracle or both.")
@click.option("--no-reference", "with_noref", is_flag=True,
              help="Also NIQE, PIQE, mean gradient and RMS contrast of every restored image "
              "(the scores of `spikerestore score`, which need no target); samples of at "
              "least 192x96.")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Only the first N samples.")
@click.option("--montage", "montage_samples", type=click.IntRange(min=0), default=4,
              show_default=True, help="Samples shown in montage.png.")
@click.option("--device", default="cpu", show_default=True, help="Torch device of the network.")
@click.option("--weights", "weights_given", multiple=True, metavar="[NETWORK=]FILE",
              help="A network's weights file instead of its bundled one. NETWORK=FILE, "
              "repeatable: despike (also read by despike-x8) or a learned cascade "
              "(spk2imgnet, spk2imgnet+gkmnet, tfp+gkmnet: a train-cascade run's best.pt), "
              "e.g. --weights despike=restore/despike/weights/despike-small.pt; a bare "
              "FILE when --methods holds one network. Networks not named read their "
              "bundled files.")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory for results.md, results.csv, results.json, montage.png.")
@overwrite_option
@json_option
@verbosity_options
def eval_(dataset, methods, windows, calib_mode, full_grid, with_lpips, anchor, with_noref,
          limit, montage_samples, device, weights_given, output, overwrite, as_json):
    """Evaluate methods on DATASET (a `spikesim generate` directory): PSNR, SSIM, LPIPS.

    DATASET may also be a `spikesim render --truth-every N` directory: per-frame PSNR and
    SSIM over the sequence and its temporal flicker.
    """
    from restore import evaluate as ev
    from restore.eval_weights import resolve_weights, weights_record
    from restore.methods import is_network

    if full_grid:
        methods, windows, calib_mode = ev.FULL_GRID_METHODS, "full,64,32", "both"
    specs = ev.parse_methods(methods, calib_mode)
    weights = resolve_weights(specs, weights_given)
    wins = ev.parse_windows(windows)
    from restore import evaluate_sequence as evs

    if evs.is_sequence_capture(dataset):      # a `spikesim render --truth-every` directory
        _refuse_dataset_options(("with_lpips", "--lpips", with_lpips),
                                ("anchor", "--anchor", anchor),
                                ("with_noref", "--no-reference", with_noref),
                                ("limit", "--limit", limit),
                                ("montage_samples", "--montage", montage_samples))
        _eval_sequence(evs, dataset, specs, wins, device, weights, output, overwrite, as_json)
        return
    if anchor and given_on_command_line("anchor"):
        _check_anchor(specs, calib_mode)
    if output is not None:
        from spikesim.atomic import check_writable

        for name in ("results.md", "results.csv", "results.json"):
            check_writable(output / name, overwrite, "-o")
    from spikesim.dataset import read_manifest

    n = len(read_manifest(dataset)["samples"]) if Path(dataset).is_dir() else 0
    n = min(n, limit) if limit else n
    with progress(length=max(n, 1), label="evaluating") as bar:
        result = ev.evaluate(dataset, specs, wins, limit=limit, device=device, weights=weights,
                             montage_samples=montage_samples, with_lpips=with_lpips,
                             with_noref=with_noref, anchor=anchor,
                             progress=lambda i, total: bar.update(1))
    summary = ev.summarise(result)
    summary["command"] = _command(dataset, methods, windows, calib_mode, limit, weights_given,
                                  device, with_lpips, with_noref, anchor)
    if any(is_network(s.method) for s in specs):
        summary["weights"] = weights_record(specs, weights)
    written = ev.write_outputs(output, summary, result, overwrite) if output is not None else []
    _report(summary, ev.to_markdown(summary), written, as_json)


def _command(dataset, methods, windows, calib_mode, limit, weights, device,
             with_lpips, with_noref, anchor=ANCHOR_DEFAULT) -> str:
    """The command line that reproduces these results (recorded in results.md); the
    dataset path as given (relative to the working directory). ``--anchor`` is written
    whenever it is on, ``--no-anchor`` when it is off against an on default, so that
    results of either setting never share a command line."""
    args = ["spikerestore", "eval", str(dataset), "--methods", methods, "--windows", windows,
            "--calib-mode", calib_mode]
    args += ["--limit", str(limit)] if limit else []
    for w in weights:
        args += ["--weights", str(w)]
    args += ["--device", device] if device != "cpu" else []
    args += [] if with_lpips else ["--no-lpips"]
    args += ["--no-reference"] if with_noref else []
    args += ["--anchor"] if anchor else (["--no-anchor"] if ANCHOR_DEFAULT else [])
    return " ".join(shlex.quote(a) for a in args)


def _refuse_dataset_options(*options) -> None:
    """Options of a dataset's evaluation asked for on the command line (``(parameter,
    flag, value)``; ``--no-lpips`` asks for nothing) for a render capture's sequence
    evaluation, which scores PSNR, SSIM and flicker only: one error, not silently ignored."""
    from spikesim.errors import InputError

    for name, flag, value in options:
        if given_on_command_line(name) and value:
            raise InputError(flag, "given for a render capture", "options of a dataset's "
                             "evaluation", "drop it: a sequence is scored by per-frame PSNR, "
                             "SSIM and flicker")


def _check_anchor(specs, calib_mode: str) -> None:
    """``--anchor`` where it would change no row: one error, not a results.md that says
    "on" over tables it never touched."""
    from restore.methods import is_network
    from spikesim.errors import InputError

    if not any(is_network(s.method) for s in specs):
        raise InputError("--methods", ",".join(s.label for s in specs),
                         "a network method for --anchor (despike, despike-x8 or a learned "
                         "cascade)", "add one to --methods, or drop --anchor")
    if calib_mode == "off":
        raise InputError("--calib-mode", "off", "oracle or both for --anchor (it acts on "
                         "calibrated restorations only)", "use --calib-mode both, or drop "
                         "--anchor")


def _eval_sequence(evs, capture, specs, wins, device, weights, output, overwrite, as_json):
    """The sequence evaluation of a render capture directory (restore.evaluate_sequence)."""
    if output is not None:
        from spikesim.atomic import check_writable

        for name in evs.SEQUENCE_FILES:
            check_writable(output / name, overwrite, "-o")
    with progress(length=len(specs) * len(wins), label="evaluating") as bar:
        summary = evs.evaluate_sequence(capture, specs, wins, device=device, weights=weights,
                                        progress=lambda i, total: bar.update(1))
    written = evs.write_outputs(output, summary, overwrite) if output is not None else []
    _report(summary, evs.to_markdown(summary), written, as_json)


def _report(summary: dict, markdown: str, written: list, as_json: bool) -> None:
    """Print the summary (JSON, or its markdown table) and the files written."""
    if as_json:
        echo_json(summary | {"written": [str(p) for p in written]})
        return
    click.echo(markdown, nl=False)
    for p in written:
        click.echo(f"wrote {p}")
