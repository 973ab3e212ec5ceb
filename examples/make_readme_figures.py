"""Write the README's pictures to docs/images/: a procedural scene, its depth, the
defocused irradiance, the per-pixel blur and a window mean of the simulated spikes.

    PYTHONPATH=. python examples/make_readme_figures.py [--out docs/images] [--seed 4]

Everything comes from the library with the reference camera (physics.md §4b) and lens
(25 mm, f/2, focused at 1.5 m); the scene is a dead-leaves scene spanning 0.8-8 m, so
leaves in front of and behind the focal plane blur and the in-focus ones stay sharp.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from spikesim.config import CameraProfile, Lens
from spikesim.images import colormap, montage, normalise, write_png, write_png_srgb
from spikesim.render import exposure_illuminance, render_scene
from spikesim.scenes import make_scene


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("docs/images"))
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--steps", type=int, default=400)
    args = ap.parse_args()
    profile, lens = CameraProfile(), Lens()
    scene = make_scene("dead_leaves", profile.height, profile.width,
                       np.random.default_rng(args.seed), depth_range=(0.8, 8.0))
    lux = exposure_illuminance(scene.image, profile.k)
    out = render_scene(scene.image, scene.depth, lens, profile.pixel_pitch, lux)
    args.out.mkdir(parents=True, exist_ok=True)
    inv = 1.0 / scene.depth                     # near = bright in the depth picture
    depth_rgb = colormap(inv, 1 / 8.0, 1 / 0.8)
    sigma_rgb = colormap(out.sigma, 0.0, float(out.sigma.max()))
    write_png_srgb(args.out / "scene.png", scene.image)
    write_png(args.out / "depth.png", depth_rgb)
    write_png_srgb(args.out / "defocused.png", out.irradiance / lux)
    write_png(args.out / "sigma.png", sigma_rgb)
    tiles = [np.clip(scene.image, 0, 1) ** (1 / 2.2), depth_rgb,
             np.clip(out.irradiance / lux, 0, 1) ** (1 / 2.2), sigma_rgb]
    labels = ["scene (linear, shown with gamma)", "depth (near = yellow)",
              "defocused irradiance", f"sigma 0-{out.sigma.max():.1f} px"]
    try:
        from spikesim.inspect import window_mean
        from spikesim.camera import Camera
    except ImportError:                          # sensor not available: skip the spikes
        window_mean = None
    if window_mean is not None:
        stream = Camera(profile, 0).capture(out.irradiance, args.steps, seed=args.seed)
        spikes = normalise(window_mean(stream, None, 41))
        write_png_srgb(args.out / "spikes_window_mean.png", spikes)
        tiles.append(np.clip(spikes, 0, 1) ** (1 / 2.2))
        labels.append("window mean of 41 spike frames")
        frame = stream.window(args.steps // 2, args.steps // 2 + 1)[0].astype(np.float32)
        tiles.append(frame)
        labels.append("one spike frame")
    write_png(args.out / "overview.png", montage(tiles, labels, ncols=2))
    print(f"wrote {len(list(args.out.glob('*.png')))} PNGs to {args.out} "
          f"({lux:.0f} lux, sigma {out.sigma.min():.2f}-{out.sigma.max():.2f} px, "
          f"{out.layers} layers)")


if __name__ == "__main__":
    main()
