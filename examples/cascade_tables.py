"""The paper's tables, ours (issue 20, item 5): one Markdown file from the evaluations of
``examples/evaluate_cascades.sh``.

    python examples/cascade_tables.py RESULTS_DIR [-o RESULTS_DIR/tables.md]

RESULTS_DIR holds ``SET/CALIB/WINDOW/GROUP/results.json`` (``spikerestore eval -o``: one
window, one calibration mode and one group of methods each, on the same samples; a
window's groups are joined). For every test set and calibration mode: PSNR /
SSIM / LPIPS of every method at each window, then by blur bin and by focus side at each
window, then who is best where (the best mean of each metric per window and per blur bin:
higher PSNR and SSIM, lower LPIPS). Every figure is copied from the results files (their
``overall``, ``by_blur`` and ``by_side``); nothing is re-measured. Each set's commands and
network weights (sha256) are listed under its tables.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

WINDOWS = ("full", "64", "32")
SET_ORDER = ("natural_testset", "natural_lowlight", "procedural")
GROUP_ORDER = ("despike", "classical", "tfp+gkmnet", "spk2imgnet", "spk2imgnet+gkmnet")
DIGITS = {"psnr": 2, "ssim": 3, "lpips": 3}
NAMES = {"psnr": "PSNR", "ssim": "SSIM", "lpips": "LPIPS"}
BETTER = {"psnr": max, "ssim": max, "lpips": min}


def _f(x, metric) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.{DIGITS[metric]}f}"


def _cell(values: dict, metrics) -> str:
    return " / ".join(_f(values.get(m), m) for m in metrics)


def _order(path: Path) -> tuple:
    """Sets in the issue's order (natural, low light, procedural), groups as
    evaluate_cascades.sh runs them (despike, classical, the learned cascades), then by name."""
    group, name = path.parent.name, path.parents[3].name
    return (SET_ORDER.index(name) if name in SET_ORDER else len(SET_ORDER), name,
            path.parents[2].name, path.parents[1].name,
            GROUP_ORDER.index(group) if group in GROUP_ORDER else len(GROUP_ORDER), group)


def merge(summaries: list[dict]) -> dict:
    """One window's summary from its groups' (``spikerestore eval`` runs of different
    methods on the same samples): methods, rows, breakdowns, commands and weights joined."""
    counts = {s["num_samples"] for s in summaries}
    if len(counts) != 1:
        raise SystemExit(f"Error: groups of one window evaluated different sample counts "
                         f"{sorted(counts)}; run examples/evaluate_cascades.sh again")
    out = {"num_samples": counts.pop(), "methods": [], "overall": [], "by_blur": [],
           "by_side": [], "commands": [], "weights": {},
           "metrics": [m for m in summaries[0].get("metrics", ())
                       if all(m in s.get("metrics", ()) for s in summaries)]}
    for s in summaries:
        for key in ("methods", "overall", "by_blur", "by_side"):
            out[key] += s[key]
        out["commands"].append(s.get("command", "?"))
        out["weights"].update(s.get("weights") or {})
    return out


def load(results: Path) -> dict:
    """``{set: {calib: {window: summary}}}`` of the ``SET/CALIB/WINDOW/GROUP/results.json``
    files below ``results``, each window's groups merged (:func:`merge`)."""
    groups: dict = {}
    for path in sorted(results.glob("*/*/*/*/results.json"), key=_order):
        window, calib, name = path.parents[1].name, path.parents[2].name, path.parents[3].name
        summary = json.loads(path.read_text(encoding="utf-8"))
        groups.setdefault(name, {}).setdefault(calib, {}).setdefault(window, []).append(summary)
    return {name: {calib: {w: merge(ss) for w, ss in wins.items()}
                   for calib, wins in calibs.items()} for name, calibs in groups.items()}


def _windows(runs: dict) -> list[str]:
    return [w for w in WINDOWS if w in runs] + sorted(w for w in runs if w not in WINDOWS)


def _methods(runs: dict) -> list[str]:
    seen = []
    for w in _windows(runs):
        seen += [m for m in runs[w]["methods"] if m not in seen]
    return seen


def overall_table(runs: dict, metrics) -> list[str]:
    wins = _windows(runs)
    lines = ["| method | " + " | ".join(f"{w} steps" if w != "full" else "full (192)"
                                        for w in wins) + " |",
             "|---|" + "---|" * len(wins)]
    for method in _methods(runs):
        cells = []
        for w in wins:
            row = next((r for r in runs[w]["overall"] if r["method"] == method), None)
            cells.append(_cell(row, metrics) if row else "–")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return lines


def breakdown_table(summary: dict, key: str, metrics) -> list[str]:
    """``by_blur`` or ``by_side`` of one window's summary as a table."""
    rows = summary[key]
    if not rows:
        return []
    groups = [g for g in rows[0] if g not in ("method", "window")]
    lines = ["| method | " + " | ".join(f"{g} (n={rows[0][g]['n']})" for g in groups) + " |",
             "|---|" + "---|" * len(groups)]
    for r in rows:
        lines.append(f"| {r['method']} | " + " | ".join(_cell(r[g], metrics) for g in groups)
                     + " |")
    return lines


def winners(summary: dict, metrics) -> list[str]:
    """The best method of each metric overall and in each blur bin of one window."""
    def best(rows, get, m):
        scored = [(get(r), r["method"]) for r in rows
                  if get(r) is not None and math.isfinite(get(r))]
        if not scored:
            return "–"
        pick = BETTER[m]
        value = pick(v for v, _ in scored)
        return ", ".join(name for v, name in scored if v == value) + f" ({_f(value, m)})"
    groups = [g for g in summary["by_blur"][0] if g not in ("method", "window")] \
        if summary["by_blur"] else []
    lines = ["| metric | all | " + " | ".join(groups) + " |",
             "|---|---|" + "---|" * len(groups)]
    for m in metrics:
        cells = [best(summary["overall"], lambda r: r.get(m), m)]
        cells += [best(summary["by_blur"], lambda r, g=g: r[g].get(m) if r[g]["n"] else None,
                       m) for g in groups]
        lines.append(f"| {NAMES[m]} | " + " | ".join(cells) + " |")
    return lines


def set_section(name: str, calibs: dict) -> list[str]:
    lines = [f"## {name}", ""]
    provenance = []
    for calib, runs in calibs.items():
        first = runs[_windows(runs)[0]]
        metrics = [m for m in ("psnr", "ssim", "lpips") if m in first.get("metrics", ())]
        what = " / ".join(NAMES[m] for m in metrics)
        lines += [f"### calibration {calib}: {what} by window ({first['num_samples']} "
                  "samples)", "", *overall_table(runs, metrics), ""]
        for w in _windows(runs):
            s = runs[w]
            lines += [f"{what} by blur bin (median σ, px), calibration {calib}, window {w}:",
                      "", *breakdown_table(s, "by_blur", metrics), "",
                      f"{what} by focus side, calibration {calib}, window {w}:", "",
                      *breakdown_table(s, "by_side", metrics), "",
                      f"Best mean of each metric, calibration {calib}, window {w}:", "",
                      *winners(s, metrics), ""]
            provenance += [f"- `{c}`" for c in s["commands"]]
            for net, ident in (s.get("weights") or {}).items():
                line = f"  - {net}: `{ident}`"
                if line not in provenance:
                    provenance.append(line)
    return lines + ["Commands and weights:", "", *provenance, ""]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path)
    ap.add_argument("-o", "--output", type=Path, default=None,
                    help="default RESULTS/tables.md")
    args = ap.parse_args(argv)
    data = load(args.results)
    if not data:
        print(f"Error: no SET/CALIB/WINDOW/GROUP/results.json under {args.results}; run "
              "examples/evaluate_cascades.sh first")
        return 2
    text = ["# Learned and classical cascades against despike (issue 20)", "",
            "Written by examples/cascade_tables.py from the results.json files of "
            "examples/evaluate_cascades.sh; cells are PSNR (dB) / SSIM / LPIPS (AlexNet, "
            "lower is better), means over the samples of the set. `+cal`: the sample's "
            "true calibration (oracle); without it the methods are uncalibrated (the "
            "networks are told the calibration is absent).", ""]
    for name, calibs in data.items():
        text += set_section(name, calibs)
    out = args.output or args.results / "tables.md"
    out.write_text("\n".join(text), encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
