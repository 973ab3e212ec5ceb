"""``spikecal show``: summarise a calibration, draw its maps, check it on a held-out field."""

from pathlib import Path

import click

from cli.options import echo_json, json_option, overwrite_option, size_option, verbosity_options


@click.command()
@click.argument("calibration", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Write PNG maps (gain, offset, gamma, weight, defects), "
                                 "histograms and the summary here.")
@click.option("--check", "check_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="A held-out uniform field (not used in the fit).")
@click.option("--level", type=float, default=None, help="The held-out field's level.")
@size_option()
@overwrite_option
@json_option
@verbosity_options
def show(calibration, report_dir, check_file, level, size, overwrite, as_json):
    """Print PRNU, DSNU, defects, noise floor, method and levels of CAM.npz, and the
    structure of its fixed pattern (the gain's column / row / smooth / pixel shares, its
    neighbour correlation, the dark offset's median, spread and tail)."""
    from spikesim.errors import InputError

    from calibration.calfile import load_calibration
    from calibration.rates import measure_field
    from calibration.report import (calibration_pattern_stats, check_field, check_lines,
                                   summary_lines, write_report)

    calib = load_calibration(calibration)
    check = None
    if level is not None and check_file is None:
        raise InputError("--level", level, "--check FIELD.dat with it",
                         "give the held-out field file too")
    if check_file is not None:
        field = measure_field(check_file, size=size or (calib.width, calib.height))
        check = check_field(calib, field, level)
    if report_dir is not None:
        write_report(calib, report_dir, check=check, overwrite=overwrite)
    if as_json:
        echo_json({"meta": calib.meta, "pattern": calibration_pattern_stats(calib),
                   **({"check": check} if check else {})})
        return
    for line in summary_lines(calib) + (check_lines(check) if check else []):
        click.echo(line)
