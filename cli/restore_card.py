"""``spikerestore card``: the model card of a training run's weights, from its files."""

from pathlib import Path

import click

from cli.options import overwrite_option, verbosity_options


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--weights", default="best.pt", show_default=True,
              help="Weights file inside RUN_DIR (best.pt or final.pt).")
@click.option("--notes", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Markdown copied into the card after the config (recipe, limits).")
@click.option("--eval", "evaluations", multiple=True,
              type=click.Path(path_type=Path),
              help="A `spikerestore eval -o` directory; its results.md becomes a section. "
                   "Repeatable.")
@click.option("--machine-note", default="", help="Appended to the card's machine line.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The card to write (Markdown), e.g. MODEL_CARD.md.")
@overwrite_option
@verbosity_options
def card(run_dir, weights, notes, evaluations, machine_note, output, overwrite):
    """Write the model card of RUN_DIR's weights: config, steps, time, validation, evaluations."""
    from restore.despike.card import model_card
    from spikesim.atomic import check_writable, write_text

    check_writable(output, overwrite, "-o")
    text = model_card(run_dir, weights, machine_note, notes=notes, evaluations=evaluations)
    write_text(output, text + "\n")
    click.echo(f"wrote {output}")
