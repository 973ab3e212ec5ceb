"""``spikesim render``: one defocused capture of an image with depth, or of a procedural scene."""

from pathlib import Path

import click

from cli.options import overwrite_option, seed_option, verbosity_options

OUTPUTS = ("capture.dat", "capture.dat.yaml", "sharp_srgb.png", "defocused_srgb.png",
           "sigma.png", "maps.npz", "preview.png", "render.yaml")


@click.command()
@click.argument("image")
@click.option("--depth", "depth_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Depth map: .npy (metres) or 16-bit PNG/TIFF "
              "(millimetres unless --depth-scale).")
@click.option("--depth-m", type=float, default=None,
              help="One depth for the whole image, metres (default: the focus distance).")
@click.option("--depth-scale", type=float, default=None,
              help="Metres per stored unit of the depth map (PNG default 0.001; .npy 1); "
                   "with --disparity, pixels per unit.")
@click.option("--disparity", is_flag=True,
              help="The --depth file holds disparity in pixels (needs --focal-px, --baseline-m).")
@click.option("--focal-px", type=float, default=None, help="Stereo focal length, pixels.")
@click.option("--baseline-m", type=float, default=None, help="Stereo baseline, metres.")
@click.option("--encoding", type=click.Choice(["srgb", "linear"]), default="srgb",
              show_default=True, help="Transfer of the input image.")
@click.option("--camera", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Camera profile YAML (default: the reference 400x250 camera).")
@click.option("--lens", "lens_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Lens YAML (default: 25 mm f/2 focused at 1.5 m).")
@click.option("--focus-m", type=float, default=None, help="Override the lens focus distance, m.")
@click.option("--f-number", type=float, default=None, help="Override the lens f-number.")
@click.option("--psf", type=click.Choice(["gaussian", "disk"]), default=None,
              help="Override the lens PSF shape.")
@click.option("--steps", type=click.IntRange(1, None), default=1000, show_default=True,
              help="Readout steps T (20,000 = 1 s on the reference camera).")
@click.option("--fpn-seed", type=click.IntRange(0, None), default=0, show_default=True,
              help="Which camera of the profile (its fixed-pattern maps).")
@seed_option
@click.option("--illuminance", type=float, default=None,
              help="Lux of a scene value of 1 (default: the 99th percentile gives λ≈0.6).")
@click.option("--window", type=click.IntRange(1, None), default=41, show_default=True,
              help="Steps in the preview's window mean.")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output directory.")
@overwrite_option
@verbosity_options
def render(image, depth_file, depth_m, depth_scale, disparity, focal_px, baseline_m, encoding,
           camera, lens_file, focus_m, f_number, psf, steps, fpn_seed, seed, illuminance,
           window, output, overwrite):
    """Render one defocused capture of IMAGE (a file, or scene:KIND for a procedural scene,
    KIND one of dead_leaves, tiled_plane, bricks, grille, text, smooth, random).

    Writes DIR/capture.dat (+ .yaml sidecar), sharp_srgb.png, defocused_srgb.png,
    sigma.png (per-pixel blur s.d. map), maps.npz (depth m, sigma px, signed coc px,
    irradiance lux, sharp), preview.png (window mean of the spikes) and render.yaml.
    """
    import dataclasses

    import numpy as np

    from spikesim.atomic import check_writable, save_npz, write_yaml
    from spikesim.config import CameraProfile, Lens, load_yaml_config, to_mapping
    from spikesim.errors import InputError
    from spikesim.images import colormap, normalise, write_png, write_png_srgb
    from spikesim.inspect import window_mean
    from spikesim.render import exposure_illuminance, render_scene
    from spikesim.sensor import capture

    profile = load_yaml_config(camera, CameraProfile, "camera") if camera else CameraProfile()
    lens = load_yaml_config(lens_file, Lens, "lens") if lens_file else Lens()
    overrides = {k: v for k, v in (("focus_distance", focus_m), ("f_number", f_number),
                                   ("psf", psf)) if v is not None}
    if overrides:
        lens = load_yaml_config({**to_mapping(lens), **overrides}, Lens, "lens")
    for name in OUTPUTS:
        check_writable(output / name, overwrite, "--output")

    if image.startswith("scene:"):
        from spikesim.scenes import make_scene

        if depth_file is not None or depth_m is not None:
            raise InputError("--depth", "given with a procedural scene",
                             "no depth option (scenes carry their own depth)",
                             "drop --depth/--depth-m")
        scene = make_scene(image.split(":", 1)[1], profile.height, profile.width,
                           np.random.default_rng([seed, 1]))
    else:
        from spikesim.inputs import load_user_scene

        if depth_file is None and depth_m is None:
            depth_m = lens.focus_distance
        opts = {}
        if depth_file is not None:
            opts = {"kind": "disparity" if disparity else "depth", "scale": depth_scale,
                    "focal_length_px": focal_px, "baseline_m": baseline_m}
        scene = load_user_scene(Path(image), depth=depth_file, depth_m=depth_m,
                                encoding=encoding, **opts)
        if scene.image.shape != (profile.height, profile.width):
            h, w = scene.image.shape
            raise InputError("IMAGE", f"{image} ({w}x{h})",
                             f"the camera's size {profile.width}x{profile.height}",
                             "crop/resize the image, or give --camera with a profile of "
                             f"width {w} and height {h}")
    if illuminance is None:
        illuminance = exposure_illuminance(scene.image, profile.k)
    defocused = render_scene(scene.image, scene.depth, lens, profile.pixel_pitch, illuminance)
    stream = capture(defocused.irradiance, profile, fpn_seed, steps, seed)

    provenance = {"command": "spikesim render", "image": image, "fpn_seed": fpn_seed,
                  "seed": seed, "steps": steps}
    output.mkdir(parents=True, exist_ok=True)
    stream.write_dat(output / "capture.dat", overwrite=overwrite, provenance=provenance)
    write_png_srgb(output / "sharp_srgb.png", scene.image, overwrite)
    write_png_srgb(output / "defocused_srgb.png", defocused.irradiance / illuminance, overwrite)
    write_png(output / "sigma.png", colormap(defocused.sigma, 0.0,
                                             max(float(defocused.sigma.max()), 1e-6)), overwrite)
    save_npz(output / "maps.npz", overwrite, depth=scene.depth, sigma=defocused.sigma,
             coc=defocused.coc, irradiance=defocused.irradiance, sharp=scene.image)
    mean = window_mean(stream, None, min(window, steps))
    write_png_srgb(output / "preview.png", normalise(mean), overwrite)
    lam_p99 = float(np.percentile(defocused.irradiance, 99)) * profile.k
    s = defocused.sigma
    summary = {
        "image": image, "scene_kind": scene.kind,
        "size": f"{profile.width}x{profile.height}",
        "illuminance_lux": float(illuminance), "lambda_p99_ideal": lam_p99,
        "steps": steps, "fpn_seed": fpn_seed, "seed": seed,
        "layers": int(defocused.layers),
        "sigma_px": {"min": float(s.min()), "median": float(np.median(s)),
                     "max": float(s.max())},
        "coc_px_median": float(np.median(defocused.coc)),
        "spike_density": float(stream.counts().sum() / (steps * s.size)),
        "lens": to_mapping(lens), "camera": to_mapping(dataclasses.replace(profile)),
    }
    write_yaml(output / "render.yaml", summary, overwrite)
    click.echo(f"{output}: {steps} steps of {profile.width}x{profile.height}, "
               f"{illuminance:.1f} lux, sigma {s.min():.2f}-{s.max():.2f} px "
               f"({defocused.layers} layers), density {summary['spike_density']:.3f}")
