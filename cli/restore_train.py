"""``spikerestore train``: train a DeSpike model from a YAML config."""

import click

from cli.train_common import run_training, training_options


@click.command()
@training_options(
    config_help="Training config YAML (see examples/configs/train_natural.yaml).",
    output_help="Run directory: checkpoints, logs, best.pt weights.",
    workers_help="DataLoader processes making examples (results do not depend on it).",
    cache_help="Directory of the camera calibrations and the training pool "
               "(default: the run directory's cache/; a resumed run keeps its own). "
               "Runs with the same data, seed and feature switches can share one and "
               "make the pool once; results do not depend on it.")
def train(config, run_dir, device, bf16, seed, stop_after, workers, cache_dir, resume,
          overwrite):
    """Train DeSpike (several processes: torchrun --no-python --nproc_per_node N
    spikerestore train ...; DDP, gloo on CPU)."""
    from restore.despike.train import train as train_despike

    run_training(train_despike, config, run_dir, resume=resume, device=device, bf16=bf16,
                 seed=seed, stop_after=stop_after, overwrite=overwrite, workers=workers,
                 cache_dir=cache_dir)
