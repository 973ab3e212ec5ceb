"""Benchmark of the restoration baselines (issue 5, item 6). Prints a table of medians.

    PYTHONPATH=. python bench/bench_restore.py [--dataset DIR] [--repeats 30]

- TFP and TFI of a 400x250, 192-step window (target: <= 5 ms each, medians), against
  a numpy reference measured in the same run (unpack the window, then mean / the
  vectorised interval search);
- Wiener and Richardson-Lucy of a 400x256 image (tuned settings);
- with ``--dataset``: the wall time of `spikerestore eval`'s default set (tfp, tfi,
  tfp+wiener, tfp+rl, oracle sigma, all 192 steps) on that dataset (target <= 120 s
  for the 32+-sample public test set).
"""

import argparse
import os
import time

import numpy as np


def _median_ms(fn, repeats):
    fn()                                              # warm-up (compilation, caches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000.0 * float(np.median(times))


def _numpy_tfi(dense, center):
    """Vectorised numpy TFI rate (the reference of the table)."""
    w = dense.shape[0]
    t = np.arange(w)[:, None, None]
    before = np.where((dense > 0) & (t <= center), t, -1).max(axis=0)
    after = np.where((dense > 0) & (t > center), t, w + 1).min(axis=0)
    ok = (before >= 0) & (after <= w)
    return np.where(ok, 1.0 / np.maximum(after - before, 1), dense.sum(axis=0) / w)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default=None)
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()

    from restore import baselines
    from restore.deconv import regularisation, richardson_lucy, wiener
    from spikesim.sensor import simulate_spikes

    rng = np.random.default_rng(0)
    lam = rng.uniform(0.05, 0.9, (250, 400)).astype(np.float32)
    stream = simulate_spikes(lam, 256, dead_time=1, seed=1)
    win = baselines.resolve_window(len(stream), 128, 192)
    rows = []

    def ref_tfp():
        return stream.window(win.start, win.stop).mean(axis=0)

    def ref_tfi():
        return _numpy_tfi(stream.window(win.start, win.stop), win.center - win.start)

    np.testing.assert_array_equal(_numpy_tfi(stream.window(win.start, win.stop),
                                             win.center - win.start),
                                  baselines.tfi_rate(stream, win))
    t_tfp = _median_ms(lambda: baselines.tfp(stream, 128, 192), args.repeats)
    t_tfi = _median_ms(lambda: baselines.tfi(stream, 128, 192), args.repeats)
    r_tfp = _median_ms(ref_tfp, max(5, args.repeats // 3))
    r_tfi = _median_ms(ref_tfi, max(5, args.repeats // 3))
    rows.append(("TFP 400x250, 192 steps", t_tfp, r_tfp, "<= 5 ms"))
    rows.append(("TFI 400x250, 192 steps", t_tfi, r_tfi, "<= 5 ms"))

    img = rng.random((256, 400))
    nsr = regularisation("wiener", "tfp", False, 192)
    iters = regularisation("rl", "tfp", True, 192)
    rows.append((f"Wiener 400x256 (sigma 3, nsr {nsr:g})",
                 _median_ms(lambda: wiener(img, 3.0, nsr), max(5, args.repeats // 3)),
                 None, ""))
    rows.append((f"RL 400x256 (sigma 3, {iters} iterations)",
                 _median_ms(lambda: richardson_lucy(img, 3.0, iters),
                            max(3, args.repeats // 10)), None, ""))

    print(f"machine: {os.cpu_count()} cores; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'case':44s} {'median ms':>10s} {'numpy ref ms':>13s} {'speed-up':>9s}  target")
    for name, t, ref, target in rows:
        ref_s = f"{ref:13.2f}" if ref else f"{'-':>13s}"
        ratio = f"{ref / t:8.1f}x" if ref else f"{'-':>9s}"
        print(f"{name:44s} {t:10.2f} {ref_s} {ratio}  {target}")

    if args.dataset:
        from restore import evaluate as ev

        specs = ev.parse_methods(ev.DEFAULT_METHODS, "off")
        t0 = time.perf_counter()
        res = ev.evaluate(args.dataset, specs, [None], montage_samples=0)
        wall = time.perf_counter() - t0
        print(f"eval default set ({ev.DEFAULT_METHODS}, oracle sigma, 192 steps) on "
              f"{res.num_samples} samples: {wall:.1f} s (target <= 120 s)")


if __name__ == "__main__":
    main()
