"""``spikecal``: fixed-pattern-noise calibration of a spike camera."""

import click

from cli.options import LazyGroup, common_group_options


@click.group(cls=LazyGroup, lazy_commands={
    "fit": "cli.cal_fit:fit",
    "show": "cli.cal_show:show",
    "eval": "cli.cal_eval:eval_",
})
@common_group_options
def main():
    """Calibrate a spike camera's fixed-pattern noise from uniform-field captures."""


if __name__ == "__main__":
    main()
