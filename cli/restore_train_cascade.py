"""``spikerestore train-cascade``: train one stage of a learned cascade from a YAML config."""

from pathlib import Path

import click

from cli.options import overwrite_option, resume_option, show_progress, verbosity_options


@click.command("train-cascade")
@click.option("--config", "config", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Stage config YAML (experiments/configs/cascade_*.yaml).")
@click.option("-o", "--output", "run_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Run directory: checkpoints, logs, best.pt weights, cascade.yaml.")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
@click.option("--bf16", is_flag=True, help="Autocast in bfloat16.")
@click.option("--seed", type=int, default=None,
              help="Override the config's seed (initialisation and data).")
@click.option("--stop-after", type=int, default=None,
              help="Stop after this step (checkpointed); resume later with --resume.")
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="Processes making examples or the pool (results do not depend on it).")
@click.option("--cache", "cache_dir", default=None,
              type=click.Path(file_okay=False, path_type=Path),
              help="Directory of the camera calibrations and the training pool (default: "
                   "the run's cache/); a despike run of the same data and features shares it.")
@resume_option
@overwrite_option
@verbosity_options
def train_cascade(config, run_dir, device, bf16, seed, stop_after, workers, cache_dir, resume,
                  overwrite):
    """Train one stage of a learned cascade (docs/cascades.md) on DeSpike's training loop."""
    from restore.cascades.train import train_stage

    def report(step, total, row):
        if show_progress():
            click.echo(f"step {step}/{total}  loss {row['loss']}  lr {row['lr']}  "
                       f"{row['wall_s']} s", err=True)

    summary = train_stage(config, run_dir, resume=resume, device=device, bf16=bf16, seed=seed,
                          stop_after=stop_after, overwrite=overwrite, progress=report,
                          workers=workers, cache_dir=cache_dir)
    best = summary.get("best") or {}
    found = ("no validation yet" if best.get("step", -1) < 0 else
             f"best validation ({summary['selection']}) at step {best['step']}: PSNR "
             f"{best['psnr']:.2f} dB (TFP {best['psnr_tfp']:.2f} dB)")
    click.echo(f"{summary['model']}: {summary['step']}/{summary['steps']} steps in "
               f"{summary['wall_s']} s; {found} -> {run_dir}")
