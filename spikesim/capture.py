"""One simulated capture end to end: scene -> defocus -> sensor -> files.

What ``spikesim render`` does, as a library: :func:`load_scene` (a procedural scene or a
user image with depth), :func:`render_capture` (defocus through the lens, the camera's
spikes) and :func:`write_capture` (the output directory).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import rng
from .camera import Camera
from .config import CameraProfile, Lens, to_mapping
from .errors import InputError
from .memory import check_render, check_scene
from .render import Defocused, exposure_illuminance, render_scene
from .scenes import Scene
from .stream import SpikeStream

CAPTURE_FILES = ("capture.dat", "capture.dat.yaml", "sharp_srgb.png", "defocused_srgb.png",
                 "sigma.png", "maps.npz", "preview.png", "render.yaml")


@dataclass
class Capture:
    """A simulated capture: the scene, its defocused irradiance and the camera's spikes."""

    scene: Scene
    defocused: Defocused
    stream: SpikeStream
    illuminance: float          # lux of a scene value of 1
    camera: Camera
    lens: Lens
    seed: int                   # the sensor seed (phase, threshold noise)

    def summary(self) -> dict:
        """Plain-data record of the capture (``render.yaml``)."""
        s = self.defocused.sigma
        steps = len(self.stream)
        profile = self.camera.profile
        return {
            "scene_kind": self.scene.kind,
            "size": f"{profile.width}x{profile.height}",
            "illuminance_lux": float(self.illuminance),
            "lambda_p99_ideal": float(np.percentile(self.defocused.irradiance, 99))
            * profile.k,
            "steps": steps, "fpn_seed": self.camera.fpn_seed, "seed": self.seed,
            "layers": int(self.defocused.layers),
            "sigma_px": {"min": float(s.min()), "median": float(np.median(s)),
                         "max": float(s.max())},
            "coc_px_median": float(np.median(self.defocused.coc)),
            "spike_density": float(self.stream.counts().sum() / (steps * s.size)),
            "lens": to_mapping(self.lens), "camera": to_mapping(profile),
        }


def load_scene(image: str, profile: CameraProfile, lens: Lens, seed: int = 0,
               depth_file=None, depth_m: float | None = None, encoding: str = "srgb",
               **depth_options) -> Scene:
    """``scene:KIND`` (a procedural scene drawn from ``seed``) or an image file with depth.

    ``profile`` gives the size. The procedural scene's generator is
    ``default_rng([seed, rng.RENDER_SCENE])`` (:mod:`spikesim.rng`'s seed purposes). An
    image without depth is placed at the focus distance; its size must be the camera's
    (no silent resizing).
    """
    if image.startswith("scene:"):
        from .scenes import make_scene

        if depth_file is not None or depth_m is not None:
            raise InputError("--depth", "given with a procedural scene",
                             "no depth option (scenes carry their own depth)",
                             "drop --depth/--depth-m")
        check_scene(profile.height, profile.width)
        return make_scene(image.split(":", 1)[1], profile.height, profile.width,
                          np.random.default_rng([seed, rng.RENDER_SCENE]))
    from .inputs import load_user_scene

    if depth_file is None and depth_m is None:
        depth_m = lens.focus_distance
    opts = depth_options if depth_file is not None else {}
    scene = load_user_scene(Path(image), depth=depth_file, depth_m=depth_m,
                            encoding=encoding, **opts)
    if scene.image.shape != (profile.height, profile.width):
        h, w = scene.image.shape
        raise InputError("IMAGE", f"{image} ({w}x{h})",
                         f"the camera's size {profile.width}x{profile.height}",
                         "crop/resize the image, or give --camera with a profile of "
                         f"width {w} and height {h}")
    return scene


def render_capture(scene: Scene, camera: Camera, lens: Lens, steps: int, seed: int = 0,
                   illuminance: float | None = None, focus_sweep=None, translate_m=None,
                   key_frames: int = 8) -> Capture:
    """Defocus ``scene`` through ``lens`` and capture ``steps`` readout steps with
    ``camera`` (sensor seed ``seed``).

    ``illuminance`` (lux of a scene value of 1) defaults to the exposure that puts the
    scene's 99th percentile at λ ≈ 0.6 (physics.md §4b). A scene that changes over the
    capture (:mod:`spikesim.timevary`, key frames interpolated linearly in time):
    ``focus_sweep`` (focus distances in metres, one key frame each, the lens's own
    focus distance ignored) or ``translate_m`` ((tx, ty) metres: the camera moves
    sideways from 0 to there over ``key_frames`` key frames). The returned
    ``defocused`` maps are those of the first key frame.
    """
    if focus_sweep is not None and translate_m is not None:
        raise InputError("--focus-sweep", "given with --translate-m",
                         "one kind of time variation", "drop one of them")
    profile = camera.profile
    frames = len(focus_sweep) if focus_sweep is not None else (
        key_frames if translate_m is not None else 1)
    check_render(scene.depth, lens, profile.pixel_pitch, steps, frames, focus_sweep)
    if illuminance is None:
        illuminance = exposure_illuminance(scene.image, profile.k)
    first_lens = lens
    if focus_sweep is not None:
        from .timevary import focus_sweep as sweep

        irradiance = sweep(scene.image, scene.depth, lens, profile.pixel_pitch, illuminance,
                           focus_sweep)
        first_lens = dataclasses.replace(lens, focus_distance=float(focus_sweep[0]))
    elif translate_m is not None:
        from .timevary import camera_translation

        irradiance = camera_translation(scene.image, scene.depth, lens, profile.pixel_pitch,
                                        illuminance, translate_m, key_frames)
    else:
        irradiance = None
    defocused = render_scene(scene.image, scene.depth, first_lens, profile.pixel_pitch,
                             illuminance)
    stream = camera.capture(defocused.irradiance if irradiance is None else irradiance, steps,
                            seed)
    return Capture(scene, defocused, stream, float(illuminance), camera, first_lens, seed)


def write_capture(cap: Capture, output, window: int = 41, overwrite: bool = False,
                  provenance: dict | None = None) -> dict:
    """Write :data:`CAPTURE_FILES` into ``output``; returns the summary.

    Every file is written atomically; existing files are refused without ``overwrite``
    (all are checked before anything is written).
    """
    from .atomic import check_writable, save_npz, write_yaml
    from .images import colormap, normalise, write_png, write_png_srgb
    from .inspect import window_mean

    output = Path(output)
    for name in CAPTURE_FILES:
        check_writable(output / name, overwrite, "--output")
    output.mkdir(parents=True, exist_ok=True)
    d = cap.defocused
    cap.stream.write_dat(output / "capture.dat", overwrite=overwrite, provenance=provenance)
    write_png_srgb(output / "sharp_srgb.png", cap.scene.image, overwrite)
    write_png_srgb(output / "defocused_srgb.png", d.irradiance / cap.illuminance, overwrite)
    write_png(output / "sigma.png", colormap(d.sigma, 0.0, max(float(d.sigma.max()), 1e-6)),
              overwrite)
    save_npz(output / "maps.npz", overwrite, depth=cap.scene.depth, sigma=d.sigma, coc=d.coc,
             irradiance=d.irradiance, sharp=cap.scene.image)
    mean = window_mean(cap.stream, None, min(window, len(cap.stream)))
    write_png_srgb(output / "preview.png", normalise(mean), overwrite)
    summary = dict(provenance or {}) | cap.summary()
    write_yaml(output / "render.yaml", summary, overwrite)
    return summary
