"""``spikecal eval``: errors of a calibration against a simulated camera's truth."""

from pathlib import Path

import click

from cli.options import echo_json, json_option, verbosity_options


@click.command("eval")
@click.argument("calibration", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--truth", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="truth.npz written by `spikesim uniform`.")
@json_option
@verbosity_options
def eval_(calibration, truth, as_json):
    """Gain and offset errors and defect detection of CAM.npz against TRUTH."""
    from spikesim.fpn import load_truth

    from calibration.calfile import load_calibration
    from calibration.report import evaluate

    calib = load_calibration(calibration)
    result = evaluate(calib, load_truth(truth))
    if as_json:
        echo_json(result)
        return
    r = result
    click.echo(f"{calibration} against {truth} ({r['pixels_compared']} pixels good in both)")
    click.echo(f"  gain error: median {r['gain_error_median_pct']:.4f} %, "
               f"95th pct {r['gain_error_p95_pct']:.4f} %, max {r['gain_error_max_pct']:.4f} %")
    spread = r["offset_error_median_pct_of_spread"]
    click.echo(f"  offset error: median {r['offset_error_median']:.4g} ({r['offset_note']})"
               + (f", {spread:.2f} % of the offset spread {r['offset_spread']:.3g}"
                  if spread is not None else ""))
    click.echo(f"  dead time: found {r['dead_time_found']:.4f} ({r['dead_time_source']}), "
               f"true {r['dead_time_true']}")
    for name in ("hot", "dead"):
        click.echo(f"  {name} pixels: {r[name + '_hits']}/{r[name + '_true']} flagged "
                   f"({r[name + '_hits_same_reason']} as {name}), {r[name + '_misses']} missed")
    click.echo(f"  false flags: {r['false_flags']} ({r['false_flag_pct']:.4f} % of pixels)")
