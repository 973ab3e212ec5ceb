"""``spikerestore train``: train a DeSpike model from a YAML config."""

import logging
from pathlib import Path

import click

from cli.options import overwrite_option, resume_option, verbosity_options


@click.command()
@click.option("--config", "config", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Training config YAML (see examples/configs/train_natural.yaml).")
@click.option("-o", "--output", "run_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Run directory: checkpoints, logs, best.pt weights.")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
@click.option("--bf16", is_flag=True, help="Autocast in bfloat16.")
@click.option("--seed", type=int, default=None,
              help="Override the config's seed (initialisation and data).")
@click.option("--stop-after", type=int, default=None,
              help="Stop after this step (checkpointed); resume later with --resume.")
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="DataLoader processes making examples (results do not depend on it).")
@click.option("--cache", "cache_dir", default=None,
              type=click.Path(file_okay=False, path_type=Path),
              help="Directory of the camera calibrations and the training pool "
                   "(default: the run directory's cache/; a resumed run keeps its own). "
                   "Runs with the same data, seed and feature switches can share one and "
                   "make the pool once; results do not depend on it.")
@resume_option
@overwrite_option
@verbosity_options
def train(config, run_dir, device, bf16, seed, stop_after, workers, cache_dir, resume,
          overwrite):
    """Train DeSpike (several processes: torchrun --no-python --nproc_per_node N
    spikerestore train ...; DDP, gloo on CPU)."""
    from restore.despike.train import reporting_process, train as run_training

    reporting = reporting_process()
    if not reporting:            # rank 0 alone reports; the others print only warnings
        logging.getLogger("spikes").setLevel(logging.WARNING)
    summary = run_training(config, run_dir, resume=resume, device=device, bf16=bf16, seed=seed,
                           stop_after=stop_after, overwrite=overwrite,
                           workers=workers, cache_dir=cache_dir)
    if not reporting:
        return
    best = summary.get("best") or {}
    if best.get("step", -1) < 0:
        found = "no validation yet"
    else:
        natural = (f", natural {best['nat_psnr']:.2f} dB (TFP {best['nat_psnr_tfp']:.2f} dB)"
                   if "nat_psnr" in best else "")
        found = (f"best validation ({summary['selection']}) at step {best['step']}: PSNR "
                 f"{best['psnr']:.2f} dB (TFP {best['psnr_tfp']:.2f} dB){natural}")
    click.echo(f"{summary['model']}: {summary['step']}/{summary['steps']} steps in "
               f"{summary['wall_s']} s; {found} -> {run_dir}")
