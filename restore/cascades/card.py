"""Model cards of the learned cascades, written by ``spikerestore card`` for a
``spikerestore train-cascade`` run directory (one with ``cascade.yaml``).

As ``despike``'s cards (:mod:`restore.despike.card`), every figure is read from files:
the weights (record, meta, sha256), the run directory (``cascade.yaml``,
``summary.json``, ``val.csv``), the first stage's run beside its weights when it is
there, the photograph list (``examples/photos/photos.yaml``: the licences of the
photographs the run's data read), a reference budget (``despike``'s training configs),
optional notes and ``spikerestore eval -o`` outputs copied verbatim.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import yaml

from spikesim.atomic import file_sha256
from spikesim.errors import InputError
from spikesim.yamlio import read_yaml

from restore import settings
from restore.despike.card import _read, evaluation_section, read_validation, validation_lines
from restore.despike.weights import card_path as weights_card_path, split_identity

from .infer import check_record, method_of
from .model import ReconstructThenDeblur, stage_record
from .train import STAGE_FILE, budget
from .weights import bundled_path, load_stage

CARD_HEADER = "<!-- written by `spikerestore card` (restore/cascades/card.py); do not edit -->"
METHOD_WORDS = {
    "spk2imgnet": "the Spk2ImgNet-style reconstruction network alone: window features → λ",
    "spk2imgnet+gkmnet": "the Spk2ImgNet-style network (frozen), then the GKMNet-style "
                         "deblurring network",
    "tfp+gkmnet": "TFP (the 192-step window's calibrated rate, the longest window "
                  "feature), then the GKMNet-style deblurring network",
}


def bundle(path, method: str, overwrite: bool = False) -> Path:
    """Copy a stage's weights file to the bundled name of ``method``
    (:func:`.weights.bundled_path`) after checking it loads and is ``method``'s stage;
    the copy is byte for byte (the same sha256). Returns the bundled path."""
    from spikesim.atomic import check_writable, write_bytes

    check_record(method, stage_record(load_stage(path)), path)
    dest = bundled_path(method)
    check_writable(dest, overwrite, "--bundle")
    write_bytes(dest, Path(path).read_bytes(), overwrite=overwrite, what="--bundle")
    return dest


def card_path(method: str) -> Path:
    """Where the model card of ``method``'s bundled weights lives (``MODEL_CARD_<stem>.md``
    beside them, as for ``despike``'s files)."""
    return weights_card_path(bundled_path(method))


def is_cascade_run(run_dir) -> bool:
    """Whether a run directory is a ``spikerestore train-cascade`` run."""
    return (Path(run_dir) / STAGE_FILE).is_file()


def spent(summary: dict, meta: dict) -> dict:
    """``{"steps", "examples", "pixels"}`` a run has spent so far: the step it reached
    (``summary.json``) × processes × batch, × crop² — not only up to the selected
    weights, which :func:`restore.cascades.train.budget` counts."""
    crop = int(meta["train_config"]["data"]["crop"])
    steps = int(summary.get("step", meta["steps"]))
    examples = steps * int(summary.get("processes", meta.get("processes", 1))) \
        * int(meta["batch_size"])
    return {"steps": steps, "examples": examples, "pixels": examples * crop * crop}


def reference_budget(configs) -> dict:
    """The budget of a chain of ``spikerestore train`` configs (``despike``'s recipe):
    ``{"label", "steps", "pixels"}``, the sum of steps × batch × crop² over them."""
    from restore.despike.configs import train_config

    cfgs = [train_config(Path(c)) for c in configs]
    return {"label": " + ".join(f"{Path(c).name} ({t.steps:,} × {t.batch_size} × "
                                f"{t.data.crop}²)" for c, t in zip(configs, cfgs)),
            "steps": sum(t.steps for t in cfgs),
            "pixels": sum(t.steps * t.batch_size * t.data.crop ** 2 for t in cfgs)}


def _budget_text(b: dict) -> str:
    return f"{b['steps']:,} steps, {b['examples']:,} crops, {b['pixels']:,} px"


def _run_spent(path) -> dict | None:
    """What the run that wrote the weights file ``path`` spent, counting the weights it
    was itself continued from (``meta.init.budget``), or ``None`` when the file or its
    run's ``summary.json`` is no longer beside it."""
    path = Path(path)
    summary = path.parent / "summary.json"
    if not (path.is_file() and summary.is_file()):
        return None
    meta = load_stage(path).meta
    out = spent(json.loads(summary.read_text(encoding="utf-8")), meta)
    prior = (meta.get("init") or {}).get("budget")
    return {k: out[k] + int(prior[k]) for k in out} if prior else out


def _earlier_line(label: str, selected: dict, run_spent: dict | None) -> str:
    """A budget line of weights this stage builds on: their own training up to the
    selected weights and, when their run is beside them, what the run spent."""
    line = f"- {label}: its selected weights {_budget_text(selected)}"
    if run_spent is None:
        return line + (" (its run directory is not beside it: spent unknown, counted as the "
                       "selected weights')")
    return line + f"; its run spent {_budget_text(run_spent)}"


def budget_lines(meta: dict, summary: dict, reference: dict | None) -> list[str]:
    """The card's budget section: this stage's, the weights it continued (``train.init``)
    and the first stage's, spent and up to the selected weights, and the total against
    ``reference`` (:func:`reference_budget`)."""
    own = spent(summary, meta)
    lines = ["## Budget (optimiser steps × processes × batch × crop²)", "",
             f"- this stage: {_budget_text(own)} spent (step {own['steps']:,} of "
             f"{int(summary.get('steps', 0)):,} planned; batch {meta['batch_size']}, crop "
             f"{meta['train_config']['data']['crop']} px)"]
    total = dict(own)
    start = meta.get("init") or {}
    first = meta.get("first_stage") or {}
    earlier = []
    if "budget" in start:
        earlier.append((f"continued from `{start['path']}`", start["budget"], start["path"]))
    if "budget" in first:
        earlier.append((f"first stage (`{first.get('weights')}`)", first["budget"],
                        split_identity(first["weights"])[0] if first.get("weights") else None))
    for label, selected, path in earlier:
        run_spent = _run_spent(path) if path is not None else None
        lines.append(_earlier_line(label, selected, run_spent))
        total = {k: total[k] + int((run_spent or selected)[k]) for k in total}
    lines.append(f"- the whole cascade: {_budget_text(total)} spent; up to these weights "
                 f"(`restore.cascades.train.budget`): {_budget_text(budget(meta))}")
    if reference is not None:
        lines.append(f"- `despike`'s recipe for comparison: {reference['label']} = "
                     f"{reference['steps']:,} steps, {reference['pixels']:,} px; the "
                     f"cascade spent {total['pixels'] / reference['pixels']:.3f} × that")
    return lines + [""]


def _photo_split(image_dir: str) -> str | None:
    name = Path(str(image_dir)).name
    return name if name in ("train", "val", "test") else None


def photo_licences(photos_yaml, split: str) -> str:
    """``"26 photographs: mate-backgrounds (7 GPL-2+), ..."`` for one split of the list."""
    entries = [e for e in read_yaml(Path(photos_yaml), "photograph list")["photos"]
               if e.get("split") == split]
    by_package: dict[str, Counter] = {}
    for e in entries:
        by_package.setdefault(e["package"], Counter())[e["licence"]] += 1
    parts = [f"{pkg} ({', '.join(f'{n} {lic}' for lic, n in sorted(c.items()))})"
             for pkg, c in sorted(by_package.items())]
    return f"{len(entries)} photographs: " + "; ".join(parts)


def data_lines(train_config: dict, photos_yaml) -> list[str]:
    """The card's data section: the generator, and the licences of the photographs read
    by training and natural validation (from ``photos_yaml``)."""
    data = train_config["data"]
    gen = data.get("generator") or {}
    lines = ["## Data", "",
             f"- training samples: `source: {gen.get('source', data.get('source'))}`"
             + (", " + ", ".join(f"{k} {v}" for k, v in gen["mix"].items())
                if gen.get("mix") else "")
             + f"; {data.get('cameras')} cameras, crops of {data.get('crop')} px from a pool "
             f"of {data.get('pool')} samples of {data.get('pool_size')} px; a share "
             f"{data.get('calib_withheld')} shown without their calibration (flag 0)"]
    dirs = {"training": gen.get("image_dir"),
            "natural validation": (data.get("val_natural") or {}).get("image_dir")}
    for what, image_dir in dirs.items():
        split = _photo_split(image_dir) if image_dir else None
        if split is None:
            continue
        if photos_yaml is None or not Path(photos_yaml).is_file():
            lines.append(f"- {what} photographs: `{image_dir}` (the photograph list was not "
                         "given, so their licences are not listed here)")
            continue
        lines.append(f"- {what} photographs (`{image_dir}`, split `{split}` of "
                     f"`{Path(photos_yaml).name}`): {photo_licences(photos_yaml, split)}")
    return lines + ["- scikit-image's bundled images: never used for training or tuning "
                    "(reserved for evaluation)", ""]


def config_check(stage: dict, config) -> str:
    """Whether a run's resolved stage is the repository's config ``config``, resolved."""
    from restore.despike.configs import differing_keys

    from .configs import stage_config

    if not Path(config).is_file():
        return f"(`{config}` is not here to compare with)"
    ours = stage_config(Path(config)).to_mapping()
    if ours == stage:
        return f"identical to `{config}` resolved"
    return f"**differs** from `{config}` resolved in: {', '.join(differing_keys(ours, stage))}"


def _numel(module) -> int:
    """Parameters of a module, frozen ones included."""
    return sum(p.numel() for p in module.parameters())


def _stage_rows(model) -> list[str]:
    """The stage table: each network, its parameters, trained or frozen."""
    rows = ["| stage | network | parameters | here |", "|---|---|---:|---|"]
    if isinstance(model, ReconstructThenDeblur):
        if model.first is not None:
            rows.append(f"| reconstruct | {model.first.config.name} | "
                        f"{_numel(model.first):,} | frozen (the first stage's "
                        "weights) |")
        else:
            rows.append("| reconstruct | TFP | 0 | the longest window feature |")
        rows.append(f"| deblur | {model.deblur.config.name} | "
                    f"{_numel(model.deblur):,} | trained by this run |")
    else:
        rows.append(f"| reconstruct | {model.config.name} | {_numel(model):,} | "
                    "trained by this run |")
    return rows + [f"| total | | {_numel(model):,} | |", ""]


def cascade_card(run_dir, weights: str = "best.pt", machine_note: str = "", notes=None,
                 evaluations=(), photos_yaml=None, reference: dict | None = None,
                 bundled_as: str | None = None) -> str:
    """A Markdown model card of a cascade run's weights.

    Parameters
    ----------
    run_dir : a ``spikerestore train-cascade`` run directory
    weights : the weights file inside it (``best.pt``, ``final.pt``)
    machine_note : appended to the machine line
    notes : a Markdown file copied after the training section (recipe, limits)
    evaluations : ``spikerestore eval -o`` directories (or their ``results.md``)
    photos_yaml : the photograph list whose licences the data section lists
    reference : ``despike``'s budget (:func:`reference_budget`), or ``None``
    bundled_as : where the weights are bundled (a line of the card), or ``None``
    """
    run = Path(run_dir)
    for name in (STAGE_FILE, "summary.json"):
        if not (run / name).is_file():
            raise InputError("RUN_DIR", str(run), f"a train-cascade run directory with {name}",
                             "pass the -o directory of `spikerestore train-cascade`")
    path = run / weights
    if not path.is_file():
        raise InputError("--weights", weights, f"a weights file in {run}",
                         "an unfinished run has best.pt but no final.pt: pass --weights best.pt")
    model = load_stage(path)
    meta = model.meta
    method = method_of(stage_record(model))
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    stage = read_yaml(run / STAGE_FILE, "cascade stage")
    train = meta["train_config"]
    commands = [f"spikerestore train-cascade --config {c} -o runs/{Path(c).stem} --workers 2"
                for c in settings.CASCADE_TRAINING[method]]
    lines = [
        CARD_HEADER,
        f"# Model card: {method} ({weights} of `{run}`)",
        "",
        f"- method: `spikerestore run --method {method}`: {METHOD_WORDS[method]}",
        f"- weights: sha256 `{file_sha256(path)}`"
        + (f"; bundled as `{bundled_as}`" if bundled_as else ""),
        f"- selected step: {meta.get('steps')} ("
        + (f"best `{train.get('select_on')}` validation PSNR, validated every "
           f"{train.get('val_every')} steps" if weights == "best.pt" else f"`{weights}`")
        + f") of {summary.get('steps')} planned; the run reached step {summary.get('step')}",
        f"- wall time to these weights: {meta.get('wall_s')} s; whole run so far: "
        f"{summary.get('wall_s')} s",
        f"- machine: {meta.get('machine')}{(' — ' + machine_note) if machine_note else ''}; "
        f"torch {meta.get('torch')}; seed {meta.get('seed')}",
        "",
        *_stage_rows(model),
        *budget_lines(meta, summary, reference),
        *(["The reconstruct stage alone has part of the budget by design: the rest "
           "trains GKMNet after it (`spk2imgnet+gkmnet`, docs/cascades.md §3).", ""]
          if method == "spk2imgnet" else []),
        "## Training (one resumable command a stage; docs/cascades.md §3)",
        "",
        "```bash",
        "python examples/photos/check_photos.py --link data/photos",
        *commands,
        "```",
        "",
        f"The resolved stage of this run (`{STAGE_FILE}`, "
        f"{config_check(stage, settings.CASCADE_TRAINING[method][-1])}), exact:",
        "",
        "```yaml",
        yaml.safe_dump(stage, sort_keys=False).rstrip(),
        "```",
        "",
        *data_lines(train, photos_yaml),
        *validation_lines(meta.get("validation") or {}, read_validation(run)),
        "",
    ]
    if notes is not None:
        lines += [_read(Path(notes), "--notes", "pass an existing Markdown file").rstrip(), ""]
    for d in evaluations:
        lines += evaluation_section(d)
    return "\n".join(lines)
