"""``spikecal fit``: calibrate a camera from uniform-field captures."""

from pathlib import Path

import click

from cli.options import (echo_json, json_option, overwrite_option, parse_float_list,
                         size_option, verbosity, verbosity_options)


@click.command()
@click.argument("fields", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--levels", default=None,
              help="Level of each field, darkest first (e.g. 0,153,335 lux), or 'auto' "
                   "(relative levels from the mean rates). Default: fields.yaml of a DIR.")
@click.option("--method", type=click.Choice(["lsq", "paper", "ratio"]), default="lsq",
              show_default=True,
              help="lsq: least-squares line of 1/D vs level (K >= 2, estimates the dead time "
                   "with K >= 3); paper: Eq. 9-12 (3 fields); ratio: Eq. 13 (1 field).")
@size_option()
@click.option("--reference", default=None, metavar="X,Y",
              help="Reference pixel (column, row from the top); default the median pixel.")
@click.option("--dead-time", "dead_time", type=float, default=None,
              help="Assume this dead time (steps) instead of estimating it (lsq) or the "
                   "paper's 1.")
@click.option("--operating-level", "operating_level", type=float, default=None,
              help="Level at which gamma and the Eq. 14 weight are exact (default: the "
                   "median level).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The calibration file CAM.npz.")
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Also write the report (PNG maps, histograms, summary) here.")
@overwrite_option
@json_option
@verbosity_options
def fit(fields, levels, method, size, reference, dead_time, operating_level, output,
        report_dir, overwrite, as_json):
    """Fit gain, offset, dead time and defects from FIELD.dat files (or a DIR from
    `spikesim uniform`), darkest first."""
    from spikesim.atomic import check_writable
    from spikesim.errors import InputError

    from calibration.fit import calibrate
    from calibration.rates import measure_field, read_uniform_dir
    from calibration.report import check_report_dir, summary_lines, write_report

    check_writable(output, overwrite, "--output")
    if report_dir is not None:           # every output checked before the first is written
        check_report_dir(report_dir, overwrite)
    paths = list(fields)
    if len(paths) == 1 and paths[0].is_dir():
        spec = read_uniform_dir(paths[0])
        paths = spec["paths"]
        size = size or spec["size"]
        if levels is None:
            levels = ",".join(f"{v:g}" for v in spec["levels"])
    if levels is None:
        raise InputError("--levels", "missing", "the level of each field, or auto",
                         "e.g. --levels 0,153,335 (lux), or --levels auto")
    lv = "auto" if levels.strip().lower() == "auto" else parse_float_list(levels, "--levels")
    ref = None
    if reference is not None:
        ref = parse_float_list(reference, "--reference")
        if len(ref) != 2 or any(not float(v).is_integer() for v in ref):
            raise InputError("--reference", reference, "a pixel X,Y (two integers)",
                             "e.g. --reference 200,125")
        ref = (int(ref[0]), int(ref[1]))
    rates = [measure_field(p, size=size) for p in paths]
    calib = calibrate(rates, lv, method=method, dead_time=dead_time, reference=ref,
                      operating_level=operating_level)
    calib.save(output, overwrite=overwrite)
    if report_dir is not None:
        write_report(calib, report_dir, overwrite=overwrite)
    if as_json:
        echo_json({"output": str(output), **{k: calib.meta[k] for k in
                   ("method", "levels", "levels_auto", "dead_time", "operating_level",
                    "q_ref", "summary")}})
        return
    click.echo(f"wrote {output}")
    if verbosity() >= 0:                 # -q: only the file name
        for line in summary_lines(calib):
            click.echo("  " + line)
