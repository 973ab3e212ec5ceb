"""``spikesim generate``: a dataset of defocused spike captures with targets."""

from pathlib import Path

import click

from cli.options import (camera_maps_option, echo_json, json_option, overwrite_option, progress,
                         resume_option, verbosity, verbosity_options)


@click.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="Dataset config (YAML); see examples/configs/.")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Dataset directory (new or empty; or see --resume / --overwrite).")
@click.option("--num", type=click.IntRange(min=1), default=None,
              help="Number of samples (overrides the config's num).")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Seed of every random draw (overrides the config's seed).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Local worker processes.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run on a Dask distributed scheduler (tcp://HOST:PORT); needs dask[distributed].")
@camera_maps_option
@resume_option
@overwrite_option
@json_option
@verbosity_options
def generate(config_path, output, num, seed, workers, scheduler, camera_maps, resume, overwrite,
             as_json):
    """Generate a dataset: per sample a spike stream, the sharp target, the defocused
    irradiance, depth / sigma / CoC maps and the camera's true fixed pattern.

    The same config and seed give the same bytes with any --workers or a --scheduler;
    an interrupted run continues with --resume.
    """
    from spikesim.dataset import generate_dataset, load_dataset_config, manifest_summary

    config = load_dataset_config(config_path, num=num, seed=seed)
    if camera_maps is not None:
        from spikesim.dataset.camera_maps import with_camera_maps

        config = with_camera_maps(config, camera_maps)
    with progress(length=config.num, label="samples") as bar:
        manifest = generate_dataset(config, output, workers=workers, scheduler=scheduler,
                                    resume=resume, overwrite=overwrite, progress=bar.update)
    summary = {"output": str(output), **manifest_summary(manifest)}
    if as_json:
        echo_json(summary)
        return
    if verbosity() < -1:                 # -qq: nothing
        return
    click.echo(f"wrote {summary['done']} of {summary['num']} samples to {output}")
    if verbosity() < 0:                  # -q: only what was written
        return
    click.echo("  focus side   " + "  ".join(f"{k}={v}" for k, v in summary["focus_side"].items()))
    click.echo("  blur bins    " + "  ".join(f"{k}={v}" for k, v in summary["blur_bin"].items()))
    if summary["target_missed"]:
        click.echo(f"  {summary['target_missed']} samples missed their drawn focus side / blur "
                   "bin (see target in sample.yaml)")

