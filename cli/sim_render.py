"""``spikesim render``: one defocused capture of an image with depth, or of a procedural scene."""

from pathlib import Path

import click

from cli.options import (camera_maps_option, overwrite_option, quiet_report, seed_option,
                         verbosity_options)


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
@camera_maps_option
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
@click.option("--lambda-p99", type=float, default=None,
              help="Exposure: the scene's 99th percentile gives this charge per step on an "
                   "ideal pixel (default 0.6; 0.05 is a low-light capture).")
@click.option("--focus-sweep", default=None, metavar="D1,D2,...",
              help="Sweep the focus over these distances (m) during the capture.")
@click.option("--translate-m", default=None, metavar="TX,TY",
              help="Move the camera sideways by (TX, TY) metres during the capture (parallax).")
@click.option("--key-frames", type=click.IntRange(2, None), default=8, show_default=True,
              help="Key frames of --translate-m (interpolated linearly in time).")
@click.option("--truth-every", type=int, default=None, metavar="N",
              help="Also write sequence_truth.npz: the sharp target, sigma map and defocused "
              "image at steps 0, N, 2N, ... (for spikerestore eval of a sequence).")
@click.option("--window", type=click.IntRange(1, None), default=41, show_default=True,
              help="Steps in the preview's window mean.")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output directory.")
@overwrite_option
@verbosity_options
def render(image, depth_file, depth_m, depth_scale, disparity, focal_px, baseline_m, encoding,
           camera, camera_maps, lens_file, focus_m, f_number, psf, steps, fpn_seed, seed,
           illuminance, lambda_p99, focus_sweep, translate_m, key_frames, truth_every, window,
           output, overwrite):
    """Render one defocused capture of IMAGE (a file, or scene:KIND for a procedural scene,
    KIND one of dead_leaves, tiled_plane, bricks, grille, text, smooth, random).

    Writes DIR/capture.dat (+ .yaml sidecar), sharp_srgb.png, defocused_srgb.png,
    sigma.png (per-pixel blur s.d. map), maps.npz (depth m, sigma px, signed coc px,
    irradiance lux, sharp; of the first key frame of a sweep or move), preview.png (window
    mean of the spikes) and render.yaml; with --truth-every, sequence_truth.npz.
    """
    from cli.options import parse_float_list
    from spikesim.atomic import check_writable, writer_lock
    from spikesim.camera import Camera
    from spikesim.camera_maps import profile_from_calibration
    from spikesim.capture import CAPTURE_FILES, load_scene, render_capture, write_capture
    from spikesim.render import exposure_illuminance
    from spikesim.errors import InputError
    from spikesim.config import CameraProfile, Lens, load_yaml_config, to_mapping

    profile = load_yaml_config(camera, CameraProfile, "camera") if camera else None
    if camera_maps is not None:
        profile = profile_from_calibration(camera_maps, profile)
    profile = profile or CameraProfile()
    if illuminance is not None and lambda_p99 is not None:
        raise InputError("--lambda-p99", lambda_p99, "either --illuminance or --lambda-p99",
                         "drop one of them")
    lens = load_yaml_config(lens_file, Lens, "lens") if lens_file else Lens()
    overrides = {k: v for k, v in (("focus_distance", focus_m), ("f_number", f_number),
                                   ("psf", psf)) if v is not None}
    if overrides:
        lens = load_yaml_config({**to_mapping(lens), **overrides}, Lens, "lens")
    with writer_lock(output, "--output"):     # one run writes the directory at a time
        if truth_every is not None:
            from spikesim.sequence_truth import TRUTH_FILE, truth_steps

            from spikesim.memory import check_sequence_truth

            frames = len(truth_steps(steps, truth_every))   # validates N before any work
            check_sequence_truth(frames, profile.height, profile.width, truth_every)
            check_writable(output / TRUTH_FILE, overwrite, "--output")
        for name in CAPTURE_FILES:
            check_writable(output / name, overwrite, "--output")
        scene = load_scene(image, profile, lens, seed, depth_file, depth_m, encoding,
                           kind="disparity" if disparity else "depth", scale=depth_scale,
                           focal_length_px=focal_px, baseline_m=baseline_m)
        sweep = parse_float_list(focus_sweep, "--focus-sweep") if focus_sweep else None
        move = parse_float_list(translate_m, "--translate-m") if translate_m else None
        if move is not None and len(move) != 2:
            raise InputError("--translate-m", translate_m, "two numbers TX,TY in metres",
                             "e.g. --translate-m 0.01,0")
        if lambda_p99 is not None:
            illuminance = exposure_illuminance(scene.image, profile.k, lambda_p99)
        cap = render_capture(scene, Camera(profile, fpn_seed), lens, steps, seed, illuminance,
                             focus_sweep=sweep, translate_m=move, key_frames=key_frames)
        provenance = {"command": "spikesim render", "image": image, "fpn_seed": fpn_seed,
                      "seed": seed, "steps": steps, "focus_sweep_m": sweep, "translate_m": move}
        if truth_every is not None:
            provenance["truth_every"] = truth_every
        summary = write_capture(cap, output, window, overwrite, provenance)
        if truth_every is not None:
            from spikesim import sequence_truth as st

            keys = st.key_frame_truth(scene, lens, profile.pixel_pitch, cap.illuminance,
                                      sweep, move, key_frames)
            at = st.truth_at_steps(keys, steps, truth_steps(steps, truth_every))
            st.write_sequence_truth(output / st.TRUTH_FILE, at, truth_every, overwrite)
    if quiet_report(output):
        return
    s = summary["sigma_px"]
    click.echo(f"{output}: {steps} steps of {summary['size']}, "
               f"{summary['illuminance_lux']:.1f} lux, sigma {s['min']:.2f}-{s['max']:.2f} px "
               f"({summary['layers']} layers), density {summary['spike_density']:.3f}")
