"""Benchmark: the σ estimator (restore.sigma_estimate) against known blurs.

    PYTHONPATH=. python bench/sigma_estimate.py [--testset DIR] [--kinds dead_leaves,bricks,text]

1. **Planar captures at known σ**: ``spikesim render``'s pipeline (the reference
   400x250 camera, ``--fpn-seed 7``, 256 steps, default lens 25 mm f/2 focused at
   1.5 m) of procedural scenes whose depth map is replaced by one depth, chosen
   so that ``σ = sqrt((c/4)² + σ₀²)`` takes each value of ``--sigmas``; the estimate is
   made on the uncalibrated window mean (TFP, 192 steps), as ``spikerestore run`` does
   for a cascade without ``--sigma``. True σ: the median of the capture's σ map.
2. With ``--testset``: every sample of a generated dataset (``spikesim generate --config
   examples/configs/testset.yaml``), the estimate on TFP (192 steps, uncalibrated, and
   with the oracle calibration) against the sample's ``sigma_median``: depth varies
   within these scenes, which biases the estimate toward the in-focus parts.

Prints a table of true σ against the estimate and the median absolute error of each
part.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def depth_for_sigma(sigma: float, lens, pixel_pitch: float) -> float:
    """The depth (m, behind the focal plane when it exists, else in front) whose Gaussian
    PSF has s.d. ``sigma`` px (``sigma >= lens.sigma_floor``)."""
    from spikesim.optics import coc_per_inverse_depth

    coc = 4.0 * np.sqrt(max(sigma ** 2 - lens.sigma_floor ** 2, 0.0))
    inv = 1.0 / lens.focus_distance - coc / coc_per_inverse_depth(lens, pixel_pitch)
    if inv <= 0:
        inv = 1.0 / lens.focus_distance + coc / coc_per_inverse_depth(lens, pixel_pitch)
    return 1.0 / inv


def planar_case(kind: str, sigma: float, seed: int) -> dict:
    """Render ``scene:kind`` flat at the depth of ``sigma``; estimate on its TFP."""
    from restore.methods import restore
    from restore.sigma_estimate import estimate_sigma
    from spikesim.camera import Camera
    from spikesim.capture import load_scene, render_capture
    from spikesim.config import CameraProfile, Lens

    profile, lens = CameraProfile(), Lens()
    depth = depth_for_sigma(sigma, lens, profile.pixel_pitch)
    scene = load_scene(f"scene:{kind}", profile, lens, seed)
    flat = dataclasses.replace(scene, depth=np.full_like(scene.depth, depth))
    cap = render_capture(flat, Camera(profile, 7), lens, 256, seed)
    lam = restore(cap.stream, "tfp", dead_time=profile.dead_time).lam
    t0 = time.perf_counter()
    est = estimate_sigma(lam)
    return {"case": f"{kind} seed {seed}", "true": float(np.median(cap.defocused.sigma)),
            "estimate": est, "ms": 1e3 * (time.perf_counter() - t0)}


def testset_cases(directory: Path) -> list[dict]:
    """Every sample of a generated dataset: the estimate on TFP, uncalibrated and with
    the oracle calibration, against ``sigma_median``."""
    from restore import settings
    from restore.baselines import resolve_window, tfp
    from restore.evaluate import oracle_calibration
    from restore.sigma_estimate import estimate_sigma
    from spikesim.dataset import load_sample, read_manifest, sample_name

    rows = []
    for entry in read_manifest(directory)["samples"]:
        s = load_sample(directory / "samples" / sample_name(entry["id"]))
        dead_time = float(s.camera.get("dead_time", settings.DEFAULT_DEAD_TIME))
        win = resolve_window(len(s.stream), s.key_step, None)
        cal = oracle_calibration(s.camera, s.illuminance * 0.5)
        rows.append({
            "case": f"{sample_name(entry['id'])} {s.params.get('scene_kind', '')}",
            "true": float(s.params["sigma_median"]),
            "estimate": estimate_sigma(tfp(s.stream, win.center, win.length,
                                           dead_time=dead_time)),
            "estimate_cal": estimate_sigma(tfp(s.stream, win.center, win.length,
                                               dead_time=dead_time, calib=cal))})
    return rows


def _mae(rows, key="estimate") -> float:
    return float(np.median([abs(r[key] - r["true"]) for r in rows]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sigmas", default="0.5,1,2,3,4")
    ap.add_argument("--kinds", default="dead_leaves,bricks,text")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--testset", type=Path, default=None)
    args = ap.parse_args(argv)
    sigmas = [float(v) for v in args.sigmas.split(",")]
    rows = [planar_case(kind, s, args.seed) for kind in args.kinds.split(",") for s in sigmas]
    print("planar captures (reference camera, fpn-seed 7, 256 steps; TFP 192 steps, "
          "uncalibrated)")
    print(f"{'scene':<22}{'true σ':>8}{'estimate':>10}{'error':>8}{'ms':>7}")
    for r in rows:
        print(f"{r['case']:<22}{r['true']:>8.2f}{r['estimate']:>10.2f}"
              f"{r['estimate'] - r['true']:>+8.2f}{r['ms']:>7.0f}")
    print(f"median absolute error {_mae(rows):.2f} px over {len(rows)} captures")
    if args.testset is not None:
        test = testset_cases(args.testset)
        print(f"\ntest set {args.testset} (TFP 192 steps; σ of the sample: median of its map)")
        print(f"{'sample':<22}{'true σ':>8}{'estimate':>10}{'+cal':>8}")
        for r in test:
            print(f"{r['case']:<22}{r['true']:>8.2f}{r['estimate']:>10.2f}"
                  f"{r['estimate_cal']:>8.2f}")
        bias = float(np.median([r["estimate"] - r["true"] for r in test]))
        print(f"median absolute error {_mae(test):.2f} px uncalibrated, "
              f"{_mae(test, 'estimate_cal'):.2f} px calibrated; median error "
              f"{bias:+.2f} px; estimates of 0: "
              f"{sum(r['estimate'] == 0 for r in test)} of {len(test)}")
    return rows


if __name__ == "__main__":
    main()
