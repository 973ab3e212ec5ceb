"""``spikesim uniform``: uniform-field captures of one simulated camera (for calibration)."""

from pathlib import Path

import click

from cli.options import (camera_maps_option, echo_json, json_option, overwrite_option,
                         parse_float_list, progress, verbosity, verbosity_options)


@click.command()
@click.option("--camera", "camera_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Camera profile (YAML); default: the reference camera "
              "(physics.md §4b, 400x250 at 20 kHz).")
@camera_maps_option
@click.option("--levels", required=True, metavar="L1,L2,...",
              help="Uniform illuminance levels in lux, comma-separated (e.g. 0,153,335).")
@click.option("--steps", type=click.IntRange(min=1), default=20000, show_default=True,
              help="Readout steps per field.")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output directory (new or empty, or --overwrite).")
@click.option("--fpn-seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Which camera of the profile: seed of its fixed-pattern maps.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the temporal randomness (phase, threshold noise).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Numba threads (the output does not depend on it).")
@overwrite_option
@json_option
@verbosity_options
def uniform(camera_path, camera_maps, levels, steps, output, fpn_seed, seed, threads, overwrite, as_json):
    """Capture uniform fields of one simulated camera: DIR/field_<level>.dat per level,
    DIR/fields.yaml and the camera's true maps DIR/truth.npz (the input of
    `spikecal fit DIR`).
    """
    from spikesim.camera import Camera
    from spikesim.camera_maps import profile_from_calibration
    from spikesim.config import CameraProfile, load_yaml_config
    from spikesim.uniform import capture_uniform_fields, check_levels

    items = [v.strip() for v in str(levels).split(",") if v.strip()]
    parse_float_list(levels, "--levels")            # one-line error on a non-number
    parsed = check_levels(items, "--levels")
    profile = load_yaml_config(camera_path, CameraProfile, "camera") if camera_path else None
    if camera_maps is not None:
        profile = profile_from_calibration(camera_maps, profile)
    profile = profile or CameraProfile()
    camera = Camera(profile, fpn_seed)
    with progress(length=len(parsed), label="fields") as bar:
        meta = capture_uniform_fields(camera, [lab for lab, _ in parsed], steps, output,
                                      seed=seed, overwrite=overwrite, threads=threads,
                                      progress=lambda label: bar.update(1))
    if as_json:
        echo_json({"output": str(output), "files": [f["file"] for f in meta["fields"]],
                   "levels": meta["levels"], "steps": meta["steps"],
                   "resolution": meta["resolution"], "fpn_seed": meta["fpn_seed"]})
        return
    if verbosity() < -1:                 # -qq: nothing
        return
    click.echo(f"wrote {len(meta['fields'])} uniform fields ({meta['resolution']}, "
               f"{meta['steps']} steps each) and truth.npz to {output}")
