"""Memory a run needs, estimated before anything large is allocated.

A capture's largest arrays are known from its sizes before they exist: the packed spike
stream (``T · ⌈H·W/8⌉`` bytes), the per-pixel maps of the defocus render and the camera,
the key frames of a scene that changes over the capture and the blur kernel of the
widest layer. :func:`check_fits` compares an estimate with the memory the system has
available (``MemAvailable`` of ``/proc/meminfo``) and refuses a run that cannot fit with
the toolkit's one-line error naming the parameter, the figure and the memory available,
instead of a numpy ``MemoryError`` after minutes of work. Where ``/proc/meminfo`` cannot
be read (not Linux) nothing is refused.

The per-pixel constants below are peaks of the resident memory (``ru_maxrss``) this
toolkit's own code reached at 1024x1024, less the process's size before, measured for
every procedural scene kind (``scene:bricks`` is the largest), and rounded up:

- :data:`SCENE_BYTES_PER_PIXEL`: making a procedural scene (``load_scene("scene:KIND")``):
  bricks 554, tiled_plane 534, dead_leaves and grille 163, text 100, smooth 90 B/px;
- :data:`RENDER_BYTES_PER_PIXEL`: the layered defocus render and the camera (its fixed
  pattern, charge and kernel layout) of a loaded scene, beyond the packed stream: at most
  175 B/px (grille; smooth 146);
- :data:`SAMPLE_BYTES_PER_PIXEL`: one dataset sample, scene to written files, beyond the
  stream: bricks 554, tiled_plane 534, dead_leaves 195, smooth 189 B/px;
- :data:`KEY_FRAME_BYTES_PER_PIXEL`: a key frame of a scene that changes over the capture
  is held as irradiance, charge and the kernel's lane layout, float32 each.
"""

from __future__ import annotations

import math

from .errors import InputError

SCENE_BYTES_PER_PIXEL = 576          # a procedural scene being made (554 measured, bricks)
RENDER_BYTES_PER_PIXEL = 192         # render + camera, beyond the stream (175 measured)
SAMPLE_BYTES_PER_PIXEL = 576         # one dataset sample, beyond the stream (554 measured)
KEY_FRAME_BYTES_PER_PIXEL = 12       # irradiance, charge, lanes: float32 each
TRUTH_BYTES_PER_PIXEL_FRAME = 40     # sequence_truth.npz per truth frame: 3 float32 maps,
                                     # the float64 interpolation between key frames and the
                                     # compressed buffer; 35 measured (render --truth-every 1
                                     # of 1000 steps, 64x64, focus sweep; static scene 16)
GAUSS_KERNEL_BYTES_PER_TAP = 40      # float64 taps: positions, exp, kernel, 2 scipy line buffers
MEMINFO = "/proc/meminfo"


class MemoryNeedError(InputError):
    """A run whose estimated memory exceeds what the system has available."""


def available_bytes() -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` in bytes, or ``None`` where it cannot be read."""
    try:
        with open(MEMINFO, encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def format_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"``; binary units up to TiB."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024.0
    return f"{n:.1f} TiB"


def check_fits(need: float, param: str, value, what: str, fix: str) -> None:
    """Raise :class:`MemoryNeedError` when ``need`` bytes exceed the memory available.

    ``param`` and ``value`` name what made the run this large (``--steps``, ``1000000000``),
    ``what`` says what the bytes are for, ``fix`` how to make it fit.
    """
    available = available_bytes()
    if available is None or need <= available:
        return
    raise MemoryNeedError(param, f"{value} ({what} needs about {format_bytes(need)}, "
                          f"{format_bytes(available)} of memory available)",
                          "a run that fits in memory", fix)


def stream_bytes(steps: int, height: int, width: int) -> int:
    """Bytes of a packed ``(T, H, W)`` spike stream: ``T · ⌈H·W/8⌉``."""
    return int(steps) * -(-int(height) * int(width) // 8)


def check_scene(height: int, width: int) -> None:
    """Refuse a procedural scene (:data:`SCENE_BYTES_PER_PIXEL`) that cannot fit."""
    check_fits(SCENE_BYTES_PER_PIXEL * int(height) * int(width), "camera width x height",
               f"{width}x{height}", f"a procedural scene of {width}x{height}",
               "use a smaller camera")


def capture_bytes(steps: int, height: int, width: int, key_frames: int = 1) -> int:
    """A camera capture with its render: the packed stream, the render's and camera's
    per-pixel maps and ``key_frames`` frames of irradiance and charge."""
    pixels = int(height) * int(width)
    return (stream_bytes(steps, height, width) + RENDER_BYTES_PER_PIXEL * pixels
            + KEY_FRAME_BYTES_PER_PIXEL * pixels * int(key_frames))


def sample_bytes(steps: int, height: int, width: int) -> int:
    """One dataset sample being made (content, render, camera, stream, its files)."""
    pixels = int(height) * int(width)
    return stream_bytes(steps, height, width) + SAMPLE_BYTES_PER_PIXEL * pixels


def blur_kernel_bytes(max_coc_px: float, sigma_floor: float, psf: str, height: int,
                      width: int) -> float:
    """Bytes the widest layer's blur allocates beyond the frame's maps.

    Gaussian: ``2r+1`` float64 taps (``r = ⌈4σ⌉``, σ of the widest blur) held
    :data:`GAUSS_KERNEL_BYTES_PER_TAP` / 8 times (kernel construction and scipy's
    extended line buffers). Disk: the anti-aliased pillbox (``(2r+1)²`` pixels at
    ``DISK_SUPERSAMPLE²`` boolean sub-samples, and two float64 copies) and the FFT of the
    two reflect-padded planes (``(H + 4r)(W + 4r)`` complex128 each, twice).
    """
    from . import settings

    coc = abs(float(max_coc_px))
    if psf == "gaussian":
        sigma = math.hypot(coc / 4.0, float(sigma_floor))
        taps = 2 * math.ceil(settings.GAUSS_TRUNCATE * sigma) + 1
        return float(GAUSS_KERNEL_BYTES_PER_TAP) * taps
    r = math.ceil(coc / 2.0)
    side = 2 * r + 1
    kernel = side * side * (settings.DISK_SUPERSAMPLE ** 2 + 16)
    fft = 2 * 2 * 16 * (int(height) + 4 * r) * (int(width) + 4 * r)
    return float(kernel + fft)


def check_capture(steps: int, height: int, width: int, key_frames: int = 1,
                  kernel: float = 0.0, steps_param: str = "--steps",
                  size_param: str = "camera width x height", workers: int = 1) -> None:
    """Refuse a capture (:func:`capture_bytes` plus ``kernel`` bytes, times ``workers``
    made at once) that cannot fit, naming ``steps_param`` when the packed stream is most
    of it and ``size_param`` otherwise."""
    need = workers * (capture_bytes(steps, height, width, key_frames) + kernel)
    _refuse_capture(need, steps, height, width, steps_param, size_param, workers)


def check_samples(steps: int, height: int, width: int, workers: int = 1) -> None:
    """Refuse a dataset run whose ``workers`` samples being made at once
    (:func:`sample_bytes` each) cannot fit; names the config keys."""
    need = workers * sample_bytes(steps, height, width)
    _refuse_capture(need, steps, height, width, "steps", "width x height", workers)


def _refuse_capture(need, steps, height, width, steps_param, size_param, workers) -> None:
    packed = stream_bytes(steps, height, width)
    what = f"{steps} steps of {width}x{height}" + (f" in {workers} workers" if workers > 1
                                                    else "")
    if 2 * workers * packed >= need:
        check_fits(need, steps_param, steps, what, "use fewer steps (the packed stream alone "
                   f"is {format_bytes(packed)})" + (" or fewer workers" if workers > 1 else ""))
    else:
        check_fits(need, size_param, f"{width}x{height}", what, "use a smaller frame"
                   + (" or fewer workers" if workers > 1 else ""))


def check_lens_blur(max_coc_px: float, sigma_floor: float, psf: str, height: int, width: int,
                    param: str, value) -> float:
    """Refuse a blur whose kernel cannot fit in memory (e.g. ``f_number: 1e-7``: a blur
    circle of billions of pixels); returns the kernel's bytes for :func:`check_capture`."""
    kernel = blur_kernel_bytes(max_coc_px, sigma_floor, psf, height, width)
    check_fits(kernel, param, value, f"a blur circle of {abs(max_coc_px):.3g} px",
               "check the lens (a typical f-number is 1.4 to 8) and the scene's depth range")
    return kernel


def check_render(depth, lens, pixel_pitch: float, steps: int, key_frames: int = 1,
                 focus_distances=None) -> None:
    """Refuse a render (:func:`spikesim.capture.render_capture`) that cannot fit: the
    widest blur of ``depth`` (metres, ``(H, W)``) through ``lens`` at each focus distance
    (default the lens's), then the capture with it. A depth map or lens that does not
    validate is left to the renderer's own errors."""
    import numpy as np

    from .optics import check_lens, coc_per_inverse_depth

    depth = np.asarray(depth, dtype=np.float64)
    height, width = depth.shape
    kernel = 0.0
    try:
        check_lens(lens)
        scale = coc_per_inverse_depth(lens, pixel_pitch)
    except InputError:
        return
    near, far = float(np.min(depth)), float(np.max(depth))
    if math.isfinite(near) and math.isfinite(far) and near > lens.focal_length:
        focus = [lens.focus_distance] if focus_distances is None else list(focus_distances)
        widest = max(abs(scale * (1.0 / f - 1.0 / d)) for f in focus for d in (near, far)
                     if f > 0)
        kernel = check_lens_blur(widest, lens.sigma_floor, lens.psf, height, width,
                                 "lens.f_number", lens.f_number)
    check_capture(steps, height, width, key_frames, kernel)


def check_sequence_truth(frames: int, height: int, width: int, every: int) -> None:
    """Refuse ``spikesim render --truth-every`` whose ``frames`` truth frames of
    ``height x width`` (sharp, sigma, defocused) cannot fit, before the capture is made."""
    check_fits(float(frames) * height * width * TRUTH_BYTES_PER_PIXEL_FRAME, "--truth-every",
               every, f"the sequence truth, {frames} frames of {width}x{height}",
               "a larger --truth-every (fewer truth frames)")


def npz_headers(npz) -> dict:
    """``{key: (shape, dtype)}`` of an open ``numpy.lib.npyio.NpzFile``, read from each
    member's ``.npy`` header (no array is loaded); a member whose header does not parse
    is left out (loading it gives the reader's own error)."""
    import numpy as np

    fmt = np.lib.format
    out = {}
    for key in npz.files:
        try:
            with npz.zip.open(key + ".npy") as fh:
                version = fmt.read_magic(fh)
                read = (fmt.read_array_header_1_0 if version == (1, 0)
                        else fmt.read_array_header_2_0)
                shape, _, dtype = read(fh)
        except (KeyError, ValueError, OSError, EOFError):
            continue
        out[key] = (tuple(shape), np.dtype(dtype))
    return out


def check_dense_npz(shape: tuple, dtype, path) -> None:
    """Refuse a dense spike array ``shape`` of ``dtype`` whose loading and packing (the
    array, a 0/1 copy and the packed bits) cannot fit."""
    import numpy as np

    elements = int(np.prod(shape, dtype=np.float64))
    need = elements * (np.dtype(dtype).itemsize + 1) + elements / 8.0
    check_fits(need, "file", str(path),
               f"its dense {'x'.join(map(str, shape))} {np.dtype(dtype)} array",
               "convert it in parts, or save it packed (SpikeStream.save_npz) or as a .dat "
               "where it was made")
