"""``spikesim``: simulate defocused spike captures and inspect spike files."""

import click

from cli.options import LazyGroup, common_group_options


@click.group(cls=LazyGroup, lazy_commands={
    "info": "cli.sim_info:info",
    "preview": "cli.sim_info:preview",
    "convert": "cli.sim_info:convert",
    "render": "cli.sim_render:render",
    "uniform": "cli.sim_uniform:uniform",
    "generate": "cli.sim_generate:generate",
    "export": "cli.sim_export:export",
})
@common_group_options
def main():
    """Simulate defocused spike-camera captures and inspect spike streams.

    Arrays are (T, H, W), time first; sizes are WxH (400x250).
    """


if __name__ == "__main__":
    main()
