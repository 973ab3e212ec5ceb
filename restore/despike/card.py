"""Model cards: a Markdown record of one run's weights, written by ``spikerestore card``.

Every figure in a card is read from files (only the optional machine note is typed):

- the weights' meta (steps, wall time, machine, seed, the stages they started from);
- the run directory (``config.yaml``, ``summary.json``, ``val.csv``: the validation curve);
- optional notes (a Markdown file: the recipe in words, limits), copied verbatim;
- optional evaluations: the ``results.md`` of ``spikerestore eval -o DIR`` runs, which
  carry the command that made them, copied verbatim.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import yaml

from spikesim.errors import InputError
from spikesim.yamlio import read_yaml

from .model import DeSpikeNet, count_parameters

CARD_HEADER = "<!-- written by `spikerestore card` (restore/despike/card.py); do not edit -->"


def _lineage(init, meta) -> list[str]:
    """Card lines for a run started from another run's weights (``init``), totals included."""
    if not init:
        return []
    lines, steps, wall = [], int(meta.get("steps") or 0), float(meta.get("wall_s") or 0.0)
    while init:
        lines.append(f"- started from `{init['path']}`: {init['steps']} steps, "
                     f"{init['wall_s']:.0f} s")
        steps, wall = steps + int(init["steps"]), wall + float(init["wall_s"])
        init = init.get("init")
    return lines + [f"- all stages together: {steps} optimiser steps, {wall:.0f} s"]


def _read(path: Path, what: str, fix: str) -> str:
    if not path.is_file():
        raise InputError(what, str(path), "an existing file", fix)
    return path.read_text(encoding="utf-8")


def evaluation_section(eval_dir) -> list[str]:
    """Card lines for one ``spikerestore eval -o DIR`` output (its ``results.md``)."""
    d = Path(eval_dir)
    path = d / "results.md" if d.is_dir() else d
    text = _read(path, "--eval", "pass the directory given to `spikerestore eval -o`")
    return [f"## Evaluation: `{path.parent.name}`", "", text.rstrip(), ""]


def _natural_validation(v: dict) -> list[str]:
    """Card lines for the natural validation set, when the run had one (train validation)."""
    if "nat_psnr" not in v:
        return []
    return [f"- these weights on the natural validation set (photographs of the validation "
            f"split, the same cameras and light): PSNR {v['nat_psnr']:.2f} dB, SSIM "
            f"{v['nat_ssim']:.4f}; TFP {v['nat_psnr_tfp']:.2f} dB, {v['nat_ssim_tfp']:.4f}"]


def read_validation(run: Path) -> list[dict]:
    """The rows of a run's ``val.csv`` (``[]`` when it has none yet)."""
    if not (run / "val.csv").is_file():
        return []
    with open(run / "val.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def validation_lines(v: dict, val_rows: list[dict]) -> list[str]:
    """The card's validation section: the weights' own figures ``v`` (their meta's
    ``validation``) and the run's validation curve (:func:`read_validation`)."""
    has_natural = "nat_psnr" in v
    lines = [
        "## Validation (fixed procedural set: its own seed and cameras, never trained on)",
        "",
        "PSNR / SSIM on sRGB-encoded scene values in [0, 1] (the estimate λ mapped back with "
        "the oracle exposure 1/(k·illuminance)); TFP is the longest window's calibrated "
        "rate (the network's own input feature) through the same mapping (no deblurring).",
        "",
        f"- these weights: PSNR {v.get('psnr', float('nan')):.2f} dB, SSIM "
        f"{v.get('ssim', float('nan')):.4f}",
        f"- TFP (192 steps, calibrated): PSNR {v.get('psnr_tfp', float('nan')):.2f} dB, SSIM "
        f"{v.get('ssim_tfp', float('nan')):.4f}",
        *_natural_validation(v),
        "",
        "| step | loss | PSNR | SSIM | PSNR TFP | SSIM TFP |"
        + (" natural PSNR | natural SSIM | natural PSNR TFP |" if has_natural else "")
        + " wall s |",
        "|---:|---:|---:|---:|---:|---:|" + ("---:|---:|---:|" if has_natural else "")
        + "---:|",
    ]
    for r in val_rows:
        natural = (f" {float(r['nat_psnr']):.2f} | {float(r['nat_ssim']):.4f} | "
                   f"{float(r['nat_psnr_tfp']):.2f} |" if has_natural else "")
        lines.append(f"| {r['step']} | {float(r['loss']):.4f} | {float(r['psnr']):.2f} | "
                     f"{float(r['ssim']):.4f} | {float(r['psnr_tfp']):.2f} | "
                     f"{float(r['ssim_tfp']):.4f} |{natural} {r['wall_s']} |")
    return lines


def model_card(run_dir, weights: str = "best.pt", machine_note: str = "",
               notes=None, evaluations=()) -> str:
    """A Markdown model card of a run's weights: config, data, steps, time, validation.

    Parameters
    ----------
    run_dir : a ``spikerestore train`` run directory
    weights : the weights file inside it (``best.pt``, ``final.pt``)
    machine_note : appended to the machine line
    notes : a Markdown file copied after the training config (recipe, limits)
    evaluations : ``spikerestore eval -o`` directories (or their ``results.md``), each
        copied as a section
    """
    from .weights import read_weights

    run = Path(run_dir)
    for name in ("config.yaml", "summary.json"):
        if not (run / name).is_file():
            raise InputError("RUN_DIR", str(run), f"a training run directory with {name}",
                             "pass the -o directory of `spikerestore train`")
    if not (run / weights).is_file():
        raise InputError("--weights", weights, f"a weights file in {run}",
                         "an unfinished run has best.pt but no final.pt: pass --weights best.pt")
    payload = read_weights(run / weights)
    meta = payload.get("meta") or {}
    cfg = read_yaml(run / "config.yaml", "run config")
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    model = DeSpikeNet(payload["config"])
    val_rows = read_validation(run)
    v = meta.get("validation") or {}
    lines = [
        CARD_HEADER,
        f"# Model card: {payload['config']['name']} ({weights})",
        "",
        f"- parameters: {count_parameters(model)}",
        f"- depths (transformer blocks per level, coarse to fine): "
        f"{list(payload['config']['depths'])}; widths {list(payload['config']['widths'])}",
        f"- optimiser steps: {meta.get('steps')} of {summary.get('steps')} planned "
        f"(batch {meta.get('batch_size')} per process, {meta.get('processes')} process(es))",
        f"- wall time to these weights: {meta.get('wall_s')} s; whole run so far: "
        f"{summary.get('wall_s')} s at step {summary.get('step')}",
        f"- machine: {meta.get('machine')}{(' — ' + machine_note) if machine_note else ''}; "
        f"torch {meta.get('torch')}",
        f"- seed: {meta.get('seed')}",
        *_lineage(meta.get("init"), meta),
        "",
        *validation_lines(v, val_rows),
    ]
    lines += ["", "## Training config (exact)", "", "```yaml",
              yaml.safe_dump(cfg, sort_keys=False).rstrip(), "```", ""]
    if notes is not None:
        lines += [_read(Path(notes), "--notes", "pass an existing Markdown file").rstrip(), ""]
    for d in evaluations:
        lines += evaluation_section(d)
    return "\n".join(lines)
