"""What ``spikerestore train`` and ``train-cascade`` share: their options, who reports, and
the summary line.

Progress has one path: the training loop's log line (``step N/M loss … lr … (… s)`` on the
``spikes`` logger, silenced by ``-q`` and on every rank but 0); the commands add no
callback of their own, so each step is reported once.
"""

import logging
from pathlib import Path

import click

from cli.options import overwrite_option, resume_option, verbosity_options


def training_options(config_help: str, output_help: str, workers_help: str, cache_help: str):
    """The options of a training command, in the order ``--help`` shows them: ``--config``,
    ``-o/--output``, ``--device``, ``--bf16``, ``--seed``, ``--stop-after``, ``--workers``,
    ``--cache``, ``--resume``, ``--overwrite``, ``-v/-q``. The command receives ``config,
    run_dir, device, bf16, seed, stop_after, workers, cache_dir, resume, overwrite``."""
    options = [
        click.option("--config", "config", required=True,
                     type=click.Path(dir_okay=False, path_type=Path), help=config_help),
        click.option("-o", "--output", "run_dir", required=True,
                     type=click.Path(file_okay=False, path_type=Path), help=output_help),
        click.option("--device", default="cpu", show_default=True, help="cpu or cuda."),
        click.option("--bf16", is_flag=True, help="Autocast in bfloat16."),
        click.option("--seed", type=int, default=None,
                     help="Override the config's seed (initialisation and data)."),
        click.option("--stop-after", type=int, default=None,
                     help="Stop after this step (checkpointed); resume later with --resume."),
        click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
                     help=workers_help),
        click.option("--cache", "cache_dir", default=None,
                     type=click.Path(file_okay=False, path_type=Path), help=cache_help),
        resume_option,
        overwrite_option,
        verbosity_options,
    ]

    def decorate(f):
        for option in reversed(options):     # the first listed ends outermost: shown first
            f = option(f)
        return f
    return decorate


def summary_line(summary: dict, run_dir) -> str:
    """``MODEL: STEP/STEPS steps in WALL s; best validation … -> RUN_DIR`` from a run's
    summary (``restore.despike.train.train``'s), the natural set's PSNR when it was
    validated."""
    best = summary.get("best") or {}
    if best.get("step", -1) < 0:
        found = "no validation yet"
    else:
        natural = (f", natural {best['nat_psnr']:.2f} dB (TFP {best['nat_psnr_tfp']:.2f} dB)"
                   if "nat_psnr" in best else "")
        found = (f"best validation ({summary['selection']}) at step {best['step']}: PSNR "
                 f"{best['psnr']:.2f} dB (TFP {best['psnr_tfp']:.2f} dB){natural}")
    return (f"{summary['model']}: {summary['step']}/{summary['steps']} steps in "
            f"{summary['wall_s']} s; {found} -> {run_dir}")


def run_training(trainer, config, run_dir, **kwargs) -> None:
    """Run ``trainer(config, run_dir, **kwargs)`` (``train`` or ``train_stage``) and echo
    its summary line from the reporting process (rank 0 under ``torchrun``); the other
    ranks print only warnings."""
    from restore.despike.train import reporting_process

    reporting = reporting_process()
    if not reporting:
        logging.getLogger("spikes").setLevel(logging.WARNING)
    summary = trainer(config, run_dir, **kwargs)
    if reporting:
        click.echo(summary_line(summary, run_dir))
