"""Benchmark of defocus rendering and scene generation (issue 3, item 5).

Target: a 400x250 frame with a continuous depth ramp (sigma 0 -> 6 px) rendered in
<= 100 ms on the 2-core reference machine. References measured in the same run: the same
layered compositing with every layer blurred over the full frame (no cropping, still
separable), and the slow 2-D reference ``spikesim.render.reference_render``.

    PYTHONPATH=. python bench/bench_render.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from spikesim import settings
from spikesim.config import Lens
from spikesim.optics import coc_per_inverse_depth, sigma_px
from spikesim.render import layer_index, reference_render, render_defocus
from spikesim.scenes import SCENE_KINDS, make_scene

H, W, PITCH = 250, 400, 20e-6
TARGET_MS = 100.0


def median_ms(fn, repeat):
    fn()                                       # warm-up (imports, caches)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def ramp_depth(lens, sigma_max=6.0):
    """Depth ramp left to right: signed CoC 0 -> -4 sigma_max px (in front of focus)."""
    scale = coc_per_inverse_depth(lens, PITCH)
    coc = np.linspace(0.0, -4 * sigma_max, W)[None, :].repeat(H, 0)
    return 1.0 / (1.0 / lens.focus_distance - coc / scale)


def full_frame_layers(E, depth, lens):
    """Same compositing, each layer blurred over the whole frame (no crop)."""
    from scipy import ndimage

    scale = coc_per_inverse_depth(lens, PITCH)
    u = 1.0 / depth
    u_min, u_max = u.min(), u.max()
    K = int(np.ceil((u_max - u_min) * scale / 4 / settings.LAYER_SIGMA_STEP - 1e-9))
    idx = layer_index(u, u_min, u_max, K)
    out = np.zeros(E.shape, np.float32)
    cov = np.zeros(E.shape, np.float32)
    width = (u_max - u_min) / K
    for k in range(K):
        a = (idx == k).astype(np.float32)
        s = sigma_px(scale * (1 / lens.focus_distance - (u_min + (k + 0.5) * width)),
                     lens.sigma_floor)
        A = ndimage.gaussian_filter(a, s, mode="reflect", truncate=settings.GAUSS_TRUNCATE)
        B = ndimage.gaussian_filter(a * E, s, mode="reflect", truncate=settings.GAUSS_TRUNCATE)
        out = B + (1 - A) * out
        cov = A + (1 - A) * cov
    return out / np.maximum(cov, settings.COVERAGE_EPS)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    lens = Lens()
    scene = make_scene("dead_leaves", H, W, np.random.default_rng(1))
    E = (scene.image * 500).astype(np.float32)
    depth = ramp_depth(lens)
    out = render_defocus(E, depth, lens, PITCH)
    print(f"ramp: sigma {out.sigma.min():.2f}-{out.sigma.max():.2f} px, {out.layers} layers, "
          f"{W}x{H}")
    rows = []
    ramp_ms = median_ms(lambda: render_defocus(E, depth, lens, PITCH), args.repeat)
    full_ms = median_ms(lambda: full_frame_layers(E, depth, lens), max(3, args.repeat // 5))
    ref_ms = median_ms(lambda: reference_render(E, depth, lens, PITCH), 1)
    rows.append(("ramp sigma 0-6, gaussian (render_defocus)", ramp_ms))
    rows.append(("ramp sigma 0-6, disk PSF",
                 median_ms(lambda: render_defocus(E, depth, Lens(psf="disk"), PITCH),
                           args.repeat)))
    rows.append(("one depth (fast path), sigma 3",
                 median_ms(lambda: render_defocus(E, 0.6, lens, PITCH), args.repeat)))
    rows.append(("dead-leaves scene depth",
                 median_ms(lambda: render_defocus(E, scene.depth, lens, PITCH), args.repeat)))
    rows.append(("reference: layers over the full frame", full_ms))
    rows.append(("reference: 2-D full-frame (reference_render)", ref_ms))
    print(f"\n{'case':48s} {'median ms':>10s} {'vs full-frame':>14s}")
    for name, ms in rows:
        print(f"{name:48s} {ms:10.1f} {full_ms / ms:13.1f}x")
    verdict = "PASS" if ramp_ms <= TARGET_MS else "FAIL"
    print(f"\ntarget: ramp <= {TARGET_MS:.0f} ms -> {ramp_ms:.1f} ms ({verdict}); "
          f"cropping speed-up {full_ms / ramp_ms:.1f}x, vs 2-D reference {ref_ms / ramp_ms:.0f}x")
    print(f"\n{'scene kind (256x256)':24s} {'median ms':>10s}")
    for kind in SCENE_KINDS:
        seeds = iter(range(1000))
        ms = median_ms(lambda: make_scene(kind, 256, 256, np.random.default_rng(next(seeds))),
                       max(3, args.repeat // 3))
        print(f"{kind:24s} {ms:10.1f}")


if __name__ == "__main__":
    main()
