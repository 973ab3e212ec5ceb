"""``spikerestore card``: the model card of a training run's weights, from its files; for a
learned cascade's run (``spikerestore train-cascade``) also the bundling of its weights."""

from pathlib import Path

import click

from cli.options import overwrite_option, verbosity_options

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO / "examples" / "photos" / "photos.yaml"
#: despike-natural's recipe: the budget a cascade's card compares with (docs/cascades.md §3)
DESPIKE_RECIPE = (REPO / "examples" / "configs" / "train_wide.yaml",
                  REPO / "examples" / "configs" / "train_natural.yaml",
                  REPO / "experiments" / "configs" / "train_natural_photoshare.yaml",
                  REPO / "experiments" / "configs" / "train_natural_long.yaml")


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
@click.option("--bundle", is_flag=True,
              help="A learned cascade's run only: copy its weights to "
                   "restore/cascades/weights/ under the method's name (so `spikerestore "
                   "run/eval --method` read them without --weights) and write the card "
                   "beside them (MODEL_CARD_<name>.md) unless -o names another file.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The card to write (Markdown), e.g. MODEL_CARD.md; required without "
                   "--bundle.")
@overwrite_option
@verbosity_options
def card(run_dir, weights, notes, evaluations, machine_note, bundle, output, overwrite):
    """Write the model card of RUN_DIR's weights: config, steps, time, budget, validation,
    evaluations (a `spikerestore train` or `train-cascade` run)."""
    from spikesim.atomic import check_writable, write_text
    from spikesim.errors import InputError

    from restore.cascades.card import is_cascade_run

    cascade = is_cascade_run(run_dir)
    if bundle and not cascade:
        raise InputError("--bundle", str(run_dir), "a `spikerestore train-cascade` run "
                         "directory (with cascade.yaml)", "bundle only a learned cascade's "
                         "weights; despike's are copied by hand (docs/despike.md)")
    if output is None and not bundle:
        raise InputError("-o", "missing", "the card to write",
                         "give -o MODEL_CARD.md (or --bundle for a learned cascade)")
    if not cascade:
        from restore.despike.card import model_card

        check_writable(output, overwrite, "-o")
        text = model_card(run_dir, weights, machine_note, notes=notes, evaluations=evaluations)
        write_text(output, text + "\n")
        click.echo(f"wrote {output}")
        return
    _cascade_card(run_dir, weights, notes, evaluations, machine_note, bundle, output, overwrite)


def _cascade_card(run_dir, weights, notes, evaluations, machine_note, bundle, output,
                  overwrite):
    from spikesim.atomic import check_writable, write_text

    from restore.cascades import card as cc
    from restore.cascades.model import stage_record
    from restore.cascades.weights import load_stage

    method = cc.method_of(stage_record(load_stage(Path(run_dir) / weights)))
    output = output if output is not None else cc.card_path(method)
    check_writable(output, overwrite, "-o")
    reference = (cc.reference_budget(DESPIKE_RECIPE)
                 if all(p.is_file() for p in DESPIKE_RECIPE) else None)
    bundled = cc.bundled_path(method)
    try:                                      # relative to the working directory when inside
        shown = str(bundled.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        shown = str(bundled)
    text = cc.cascade_card(run_dir, weights, machine_note, notes=notes, evaluations=evaluations,
                           photos_yaml=PHOTOS if PHOTOS.is_file() else None,
                           reference=reference, bundled_as=shown if bundle else None)
    if bundle:
        cc.bundle(Path(run_dir) / weights, method, overwrite)
        click.echo(f"wrote {bundled}")
    write_text(output, text + "\n")
    click.echo(f"wrote {output}")
