"""A photograph's own bokeh and the camera's defocus give the same spikes (issue 17).

Issue 17 asks that no natural test sample come out more than 0.5 dB below plain TFP. The
samples that stay below it are in-focus close-ups of photographs whose pictures hold
photographic bokeh: the target itself is soft there. This script shows why no restoration
of a single static capture can meet that bar on such a sample while it also deblurs:

- capture A: the photograph with a photographic bokeh (``spikesim.dataset.bokeh``, the
  ``photo_bokeh`` target of training) seen by a camera in focus; its target is the soft
  picture;
- capture B: the sharp photograph on the same depth map seen by a camera whose own thin-lens
  defocus has the same σ map (the bokeh's σ is the defocus σ of a virtual lens focused at
  the same depth, so a real lens matches it); its target is the sharp picture.

The two sensor irradiances differ by about as much as two captures of one scene do (the
script prints both: A against B, and A against A captured again with another sensor
seed), while the targets differ by far more. A method that returns one image ``y`` for
both has ``(mse_A(y) + mse_B(y)) / 2 >= mse(target_A, target_B) / 4``; in root-mean-square
terms, outputs ``δ`` apart give ``e_A + e_B >= |target_A - target_B| - δ``. So a method that
stays within 0.5 dB of TFP on A (TFP is right there: it returns the soft picture) can
gain on B only as much as its outputs on the two captures differ; the script prints that
ceiling for outputs as far apart as TFP's and as `despike`'s.

    PYTHONPATH=. python examples/bokeh_ambiguity.py [PHOTO] [-o OUT.png]

PHOTO defaults to one of the project's own validation photographs (data/photos/val, made by
``examples/fetch_photos.sh``); the figure (targets, TFP and ``despike`` with the oracle
calibration, each on A and B) goes to docs/images/bokeh_ambiguity.png by default.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PHOTO = ROOT / "data" / "photos" / "val" / "lomiri-Kleiber_by_Lukas_Baubkus.jpg"
H, W, STEPS = 256, 400, 256
NEAR, FAR, FOCUS = 0.4, 6.0, 1.2        # m: the depth ramp and the in-focus plane
SIGMA_MAX = 5.0                         # px: the bokeh's, and the matched lens's, largest σ


def crop_photo(path: Path) -> np.ndarray:
    """The photograph, linear grey, scaled so its short side is 1.25 × H, the centre H × W."""
    from scipy.ndimage import zoom

    from spikesim.images import luminance, read_image_linear

    img = read_image_linear(path)
    grey = luminance(img) if img.ndim == 3 else img
    f = 1.25 * max(H / grey.shape[0], W / grey.shape[1])
    small = np.clip(zoom(grey.astype(np.float32), f, order=1), 0.0, None)
    y0, x0 = (small.shape[0] - H) // 2, (small.shape[1] - W) // 2
    out = small[y0:y0 + H, x0:x0 + W]
    return (out / max(float(np.percentile(out, 99.5)), 1e-6)).clip(0.0, 1.0)


def depth_ramp() -> np.ndarray:
    """(H, W) m: inverse depth linear from NEAR (left) to FAR (right)."""
    from spikesim.dataset.layouts import ramp_inverse_depth

    u = ramp_inverse_depth(H, W, np.pi)        # 1 (near) at the left
    return (1.0 / (1.0 / FAR + u * (1.0 / NEAR - 1.0 / FAR))).astype(np.float32)


def rms(a, b) -> float:
    """Root-mean-square difference of two (H, W) display images in [0, 1]."""
    return float(np.sqrt(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)))


def db(rms_error: float) -> float:
    """PSNR in dB of a root-mean-square error on the [0, 1] display range."""
    return float(-20.0 * np.log10(rms_error))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("photo", nargs="?", default=str(DEFAULT_PHOTO))
    ap.add_argument("-o", "--output",
                    default=str(ROOT / "docs" / "images" / "bokeh_ambiguity.png"))
    args = ap.parse_args(argv)
    if not Path(args.photo).is_file():
        print(f"error: PHOTO {args.photo} does not exist: give a photograph, or run "
              "examples/fetch_photos.sh for the default", file=sys.stderr)
        return 2

    from calibration.calfile import Calibration
    from restore.exposure import expose, to_display
    from restore.methods import restore
    from restore.metrics import psnr
    from spikesim.camera import Camera
    from spikesim.config import CameraProfile
    from spikesim.dataset.bokeh import matching_lens, photographic_bokeh
    from spikesim.images import montage, write_png
    from spikesim.render import exposure_illuminance, render_defocus

    camera = Camera(CameraProfile(width=W, height=H), fpn_seed=3)
    pitch = camera.profile.pixel_pitch
    sharp, depth = crop_photo(Path(args.photo)), depth_ramp()
    lens = matching_lens(depth, FOCUS, SIGMA_MAX, pitch)
    b = render_defocus(sharp, depth, lens, pitch)            # B: the camera defocuses
    soft = photographic_bokeh(sharp, b.sigma)               # A: the picture is soft
    illum = exposure_illuminance(sharp, camera.profile.k)
    seen = {"A": soft, "B": b.irradiance}                    # what reaches the sensor / illum
    calib = Calibration.from_truth(camera.truth_arrays(), 0.5 * illum)
    streams = {name: camera.capture(illum * img, STEPS, seed=11) for name, img in seen.items()}
    again = camera.capture(illum * soft, STEPS, seed=12)

    def shown(lam):
        lin, _ = expose(lam, "camera", k=camera.profile.k, illuminance=illum)
        return to_display(lin)

    tfp_of = {n: shown(restore(s, "tfp", calib=calib).lam) for n, s in streams.items()}
    tfp_again = shown(restore(again, "tfp", calib=calib).lam)
    tA, tB = to_display(soft), to_display(sharp)
    print(f"photograph {Path(args.photo).name}; lens f/{lens.f_number:.2f} focused at "
          f"{FOCUS} m, defocus σ {float(b.sigma.min()):.2f}-{float(b.sigma.max()):.2f} px")
    print(f"sensor irradiance, A against B:             "
          f"{psnr(to_display(soft), to_display(b.irradiance)):6.2f} dB")
    print(f"TFP +cal, A against B (same sensor seed):    {psnr(tfp_of['A'], tfp_of['B']):6.2f} dB")
    print(f"TFP +cal, A against A (another sensor seed): {psnr(tfp_of['A'], tfp_again):6.2f} dB")
    gap = rms(tA, tB)
    print(f"target A against target B:                  {db(gap):6.2f} dB; one output y for "
          f"both: PSNR <= {db(gap / 2):.2f} dB on the pair's mean squared error")
    outputs, tiles, labels = {}, [tA, tB], ["target A: soft picture, camera in focus",
                                            "target B: sharp picture, camera defocused"]
    for method, anchor in (("tfp", False), ("despike", False), ("despike", True)):
        label = method + (" --anchor" if anchor else "")
        out = {n: (tfp_of[n] if method == "tfp" else
                   shown(restore(s, method, calib=calib, anchor=anchor).lam))
               for n, s in streams.items()}
        score = {"A": psnr(out["A"], tA), "B": psnr(out["B"], tB)}
        pair = db(np.sqrt((rms(out["A"], tA) ** 2 + rms(out["B"], tB) ** 2) / 2))
        print(f"{label:18s} A {score['A']:6.2f} dB   B {score['B']:6.2f} dB   pair {pair:6.2f} dB"
              f"   its outputs A against B {psnr(out['A'], out['B']):6.2f} dB")
        outputs[label] = out
        if not anchor:
            tiles += [out["A"], out["B"]]
            labels += [f"{label} on A: {score['A']:.1f} dB", f"{label} on B: {score['B']:.1f} dB"]
    near_tfp = rms(outputs["tfp"]["A"], tA) * 10 ** (0.5 / 20)    # within 0.5 dB of TFP on A
    apart = {"equal outputs": 0.0}
    apart.update({f"outputs as far apart as {m}'s": rms(outputs[m]["A"], outputs[m]["B"])
                  for m in ("tfp", "despike")})
    for name, delta in apart.items():           # e_B >= |tA - tB| - e_A - δ
        floor = gap - near_tfp - delta
        ceiling = f"{db(floor):.2f} dB" if floor > 0 else "no limit"
        print(f"within 0.5 dB of TFP on A, {name}: B at most {ceiling}")
    write_png(args.output, montage(tiles, labels, ncols=2))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
