"""Benchmark of the sensor kernel alone (issue 3, item 5, first bullet).

Input: a static λ map, float32, 400x250 (H=250, W=400), values spread uniformly in
[0.02, 0.6] thresholds per step (the reference exposure puts the 99th percentile at
λ ≈ 0.6, physics.md §4b). Output: the packed ``.dat`` layout in memory,
(20,000, 12,500) uint8, preallocated once and reused (first-touch page faults are
not timed). δ = 1, 20,000 steps, 2 numba threads.

Rows:
- numba kernel, noise-free (σθ = 0) — target ≥ 8.0e9 pixel-steps/s and ≥ 4x numpy;
- numba kernel, reference camera noise (σθ = 0.01) — target ≥ 2.0e9 (real time:
  400 x 250 x 20 kHz);
- numpy in-place loop, noise-free: one vectorised step per readout step with
  ``out=``/``where=`` ufuncs and ``packbits``; timed on ``--numpy-steps`` steps
  (default 400) and reported per pixel-step (it is linear in the steps), and checked
  equal to the kernel's first frames.

Every row is the median of ``--repeat`` runs in this process. The noisy kernel is also
run on 1 thread and its bytes compared with the 2-thread output. The machine is
shared: run it on an idle machine for figures to quote.

Run: ``python bench/bench_sensor.py [--steps 20000] [--repeat 5] [--threads 2]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

H, W = 250, 400
TARGET_CLEAN = 8.0e9
TARGET_NOISY = 2.0e9
TARGET_RATIO = 4.0


def lambda_map(seed: int = 0) -> np.ndarray:
    """(250, 400) float32 λ in [0.02, 0.6]."""
    return np.random.default_rng(seed).uniform(0.02, 0.6, (H, W)).astype(np.float32)


def numpy_inplace(lam: np.ndarray, steps: int, dead_time: int, seed: int) -> np.ndarray:
    """Noise-free integrate-and-fire with in-place numpy ufuncs, packed (steps, H*W/8)."""
    from spikesim import rng, settings
    from spikesim._sensor_kernels import initial_potential
    from spikesim.sensor import packed_index_map

    h, w = lam.shape
    lam_f = np.ascontiguousarray(lam[::-1]).ravel()          # .dat pixel order
    pix = np.arange(h * w, dtype=np.uint32)
    key = rng.stream_key(seed, rng.SENSOR_PHASE)
    u = rng.bits_to_uniform(rng.draw_bits(rng.pixel_keys(key, pix), 0))
    v = initial_potential(u, np.float32(1.0)).astype(np.float32)
    assert packed_index_map(h, w)[h - 1, 0] == 0
    blind = np.zeros(h * w, np.int32)
    active = np.empty(h * w, bool)
    spike = np.empty(h * w, bool)
    cap = np.float32(1.0 - settings.SATURATION_MARGIN)
    one = np.float32(1.0)
    out = np.empty((steps, h * w // 8), np.uint8)
    for t in range(steps):
        np.equal(blind, 0, out=active)
        np.add(v, lam_f, out=v, where=active)
        np.greater_equal(v, one, out=spike)
        spike &= active
        np.subtract(v, one, out=v, where=spike)
        np.minimum(v, cap, out=v, where=spike)
        np.subtract(blind, 1, out=blind, where=blind > 0)
        np.copyto(blind, dead_time, where=spike)
        out[t] = np.packbits(spike, bitorder="little")
    return out


def _median_time(fn, repeat):
    """Median wall time and median process CPU time (all threads) of ``repeat`` calls."""
    times, cpu = [], []
    for _ in range(repeat):
        c0 = time.process_time()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(times), statistics.median(cpu)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="sensor kernel benchmark")
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--numpy-steps", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import numba

    from spikesim import sensor
    from spikesim._sensor_kernels import _simulate_packed

    lam = lambda_map()
    steps, dt = args.steps, 1
    px = H * W
    out = np.empty((steps, px // 8), np.uint8)
    out1 = np.empty_like(out)

    # warm up: compile (or load from the cache) both variants
    sensor.simulate_packed(lam, 8, dead_time=dt, theta_sd=0.0, seed=args.seed)
    sensor.simulate_packed(lam, 8, dead_time=dt, theta_sd=0.01, seed=args.seed)
    assert _simulate_packed.signatures, "the compiled kernel did not run"

    rows = []
    with sensor.numba_threads(args.threads):
        t_clean, c_clean = _median_time(lambda: sensor.simulate_packed(
            lam, steps, dead_time=dt, theta_sd=0.0, seed=args.seed, out=out), args.repeat)
        clean_first = out[:args.numpy_steps].copy()
        clean_density = float(np.unpackbits(out[:2000]).mean())
        t_noisy, c_noisy = _median_time(lambda: sensor.simulate_packed(
            lam, steps, dead_time=dt, theta_sd=0.01, seed=args.seed, out=out), args.repeat)
    with sensor.numba_threads(1):
        t_noisy1, c_noisy1 = _median_time(lambda: sensor.simulate_packed(
            lam, steps, dead_time=dt, theta_sd=0.01, seed=args.seed, out=out1), 1)
    identical = bool(np.array_equal(out, out1))

    t_np, c_np = _median_time(lambda: numpy_inplace(lam, args.numpy_steps, dt, args.seed),
                           max(1, min(args.repeat, 3)))
    np_out = numpy_inplace(lam, args.numpy_steps, dt, args.seed)
    np_matches = bool(np.array_equal(np_out, clean_first))

    rate_clean = px * steps / t_clean
    rate_noisy = px * steps / t_noisy
    rate_noisy1 = px * steps / t_noisy1
    rate_np = px * args.numpy_steps / t_np
    rows = [
        (f"numba, noise-free, {args.threads} thr", t_clean, c_clean, steps, rate_clean,
         TARGET_CLEAN),
        (f"numba, σθ=0.01, {args.threads} thr", t_noisy, c_noisy, steps, rate_noisy,
         TARGET_NOISY),
        ("numba, σθ=0.01, 1 thr", t_noisy1, c_noisy1, steps, rate_noisy1, None),
        ("numpy in-place loop, noise-free", t_np, c_np, args.numpy_steps, rate_np, None),
    ]
    print(f"sensor kernel, static λ map {W}x{H} float32 in [0.02, 0.6], δ = {dt}, "
          f"packed output in memory; numba {numba.__version__}, "
          f"NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS}; spike density {clean_density:.3f}")
    print(f"{'variant':<34}{'steps':>8}{'median s':>11}{'pixel-steps/s':>16}{'target':>10}"
          f"{'ok':>5}{'per CPU-s':>12}")
    for name, t, c, n, rate, target in rows:
        ok = "" if target is None else ("yes" if rate >= target else "NO")
        tgt = "" if target is None else f"{target:.1e}"
        per_cpu = px * n / c if c > 0 else float("nan")
        print(f"{name:<34}{n:>8}{t:>11.4f}{rate:>16.3e}{tgt:>10}{ok:>5}{per_cpu:>12.3e}")
    print("(per CPU-s: pixel-steps per second of process CPU time, all threads; on a shared,"
          " busy machine wall-clock rates understate the kernel, this column does not)")
    ratio = rate_clean / rate_np
    print(f"\nratio numba noise-free / numpy in-place: {ratio:.1f}x (target >= {TARGET_RATIO:.0f}x;"
          f" numpy timed on {args.numpy_steps} steps, scaled per pixel-step)")
    print(f"ratio noise-free / noisy (numba): {rate_clean / rate_noisy:.2f}x")
    print(f"numpy loop output == kernel output on its {args.numpy_steps} steps: {np_matches}")
    print(f"noisy output identical on 1 and {args.threads} threads: {identical}")
    ok = (rate_clean >= TARGET_CLEAN and rate_noisy >= TARGET_NOISY and ratio >= TARGET_RATIO
          and identical and np_matches)
    print("all targets met" if ok else "some targets NOT met (see the table)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
