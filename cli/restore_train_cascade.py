"""``spikerestore train-cascade``: train one stage of a learned cascade from a YAML config."""

import click

from cli.train_common import run_training, training_options


@click.command("train-cascade")
@training_options(
    config_help="Stage config YAML (experiments/configs/cascade_*.yaml).",
    output_help="Run directory: checkpoints, logs, best.pt weights, cascade.yaml.",
    workers_help="Processes making examples or the pool (results do not depend on it).",
    cache_help="Directory of the camera calibrations and the training pool (default: "
               "the run's cache/); a despike run of the same data and features shares it.")
def train_cascade(config, run_dir, device, bf16, seed, stop_after, workers, cache_dir, resume,
                  overwrite):
    """Train one stage of a learned cascade (docs/cascades.md) on DeSpike's training loop."""
    from restore.cascades.train import train_stage

    run_training(train_stage, config, run_dir, resume=resume, device=device, bf16=bf16,
                 seed=seed, stop_after=stop_after, overwrite=overwrite, workers=workers,
                 cache_dir=cache_dir)
