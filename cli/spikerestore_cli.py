"""``spikerestore``: sharp images from defocused spike captures."""

import click

from cli.options import LazyGroup, common_group_options


@click.group(cls=LazyGroup, lazy_commands={
    "run": "cli.restore_run:run",
    "eval": "cli.restore_eval:eval_",
    "models": "cli.restore_models:models",
    "train": "cli.restore_train:train",
    "train-cascade": "cli.restore_train_cascade:train_cascade",
    "card": "cli.restore_card:card",
    "score": "cli.restore_score:score",
})
@common_group_options
def main():
    """Restore sharp images from defocused spike streams (DeSpike and baselines)."""


if __name__ == "__main__":
    main()
