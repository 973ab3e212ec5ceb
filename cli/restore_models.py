"""``spikerestore models``: the DeSpike configurations, the learned cascades' networks
and the cascade methods, with their parameter counts and bundled weights."""

import click

from cli.options import echo_json, json_option, verbosity_options


@click.command()
@json_option
@verbosity_options
def models(as_json):
    """List the DeSpike configurations and the learned cascades (networks and methods)
    with their parameter counts and bundled weights."""
    from restore.despike.configs import PRESETS, config_to_dict, model_config
    from restore.despike.weights import bundled_weights_path, read_weights
    from restore.despike.model import build_model, count_parameters

    bundled = bundled_weights_path()
    files = {}                                          # every bundled DeSpike file: config
    for path in sorted(bundled.parent.glob("*.pt")):
        try:
            files[path] = config_to_dict(model_config(read_weights(path)["config"]))
        except Exception:  # not listed; `spikerestore run --weights` gives the error
            continue
    rows = []
    for name, cfg in PRESETS.items():
        same = [p for p, c in files.items() if c == config_to_dict(cfg)]
        rows.append({"name": name, "parameters": count_parameters(build_model(cfg)),
                     "windows": list(cfg.used_windows), "widths": list(cfg.widths),
                     "depths": list(cfg.depths),
                     "bundled_weights": str(same[0]) if same else None})
    for path, cfg in files.items():
        use = ("the default of --method despike" if path == bundled else
               f"--weights {path.relative_to(bundled.parents[3])}")
        rows.append({"name": path.name, "parameters": count_parameters(build_model(cfg)),
                     "description": f"DeSpike weights ({cfg['name']}): {use}",
                     "bundled_weights": str(path)})
    from restore.cascades.catalog import cascade_rows

    rows += cascade_rows()
    if as_json:
        echo_json(rows)
        return
    names = [f"--method {r['name']}" if r.get("method") else r["name"] for r in rows]
    width = max(len(n) for n in names)
    for name, r in zip(names, rows):
        shape = (f"widths {r['widths']} depths {r['depths']}" if "widths" in r
                 else r["description"])
        weights = ("  [bundled weights]" if r["bundled_weights"]
                   else "  [no weights bundled yet]" if r.get("method") else "")
        click.echo(f"{name:<{width}} {r['parameters'] / 1e6:8.3f} M parameters  {shape}"
                   + weights)
