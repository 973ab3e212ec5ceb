"""Issue 18, families "Sizes that exhaust memory" and "Images and depth".

Memory: every size the audit found ending in a numpy ``MemoryError`` is refused up front
with one line naming the parameter, the estimate and the memory available; the memory
the system has is fixed in these tests (``spikesim.memory.available_bytes``), so they do
not depend on the machine. The estimates are checked against what the code allocates.
Images: integer ``.npy`` depth, complex depth, 16-bit RGB PNGs and negative float images.
"""

from __future__ import annotations

import struct
import tracemalloc
import zlib

import imageio.v3 as iio
import numpy as np
import pytest
import yaml

from cli.spikesim_cli import main as spikesim
from spikesim import memory
from spikesim.images import luminance, read_raw_image, srgb_decode
from spikesim.stream import SpikeStream
from tests.cli_helpers import files_under, invoke, one_line_error

W, H = 40, 16
GiB = 1 << 30


def run(*args):
    return invoke(spikesim, *args)


@pytest.fixture
def four_gib(monkeypatch):
    """The system has 4 GiB available, whatever this machine has."""
    monkeypatch.setattr(memory, "available_bytes", lambda: 4 * GiB)


@pytest.fixture
def camera(tmp_path):
    path = tmp_path / "cam.yaml"
    path.write_text(f"width: {W}\nheight: {H}\n")
    return path


# ----------------------------------------------------------------- sizes
def test_lens_f_number_whose_blur_cannot_fit(tmp_path, four_gib):
    """The audit: ``f_number: 1e-7`` passed validation, then a 2.9 GiB allocation."""
    lens = tmp_path / "lens.yaml"
    lens.write_text("f_number: 1.0e-7\n")
    out = tmp_path / "r"
    one_line_error(run("render", "scene:smooth", "--lens", lens, "-o", out),
                   "lens.f_number", "1e-07", "blur circle", "4.0 GiB of memory available")
    one_line_error(run("render", "scene:smooth", "--f-number", "1e-7", "-o", out),
                   "lens.f_number")
    assert files_under(out) == []


def test_camera_of_8192x8192_is_refused_before_the_scene(tmp_path, four_gib):
    big = tmp_path / "big.yaml"
    big.write_text("width: 8192\nheight: 8192\n")
    one_line_error(run("render", "scene:bricks", "--camera", big, "-o", tmp_path / "r"),
                   "camera width x height", "8192x8192", "GiB", "memory available")
    assert files_under(tmp_path / "r") == []


def test_render_steps_beyond_memory(tmp_path, four_gib):
    out = tmp_path / "r"
    one_line_error(run("render", "scene:smooth", "--steps", 1_000_000_000, "-o", out),
                   "--steps", "1000000000", "11.4 TiB", "fewer steps")
    assert files_under(out) == []


def test_render_truth_every_beyond_memory(tmp_path, camera, monkeypatch):
    """--truth-every 1 keeps three float32 maps a step: 10^6 steps of 40x16 need 51 GB,
    found after the capture was written (a MemoryError, the capture without its truth)."""
    monkeypatch.setattr(memory, "available_bytes", lambda: 64 << 20)
    out = tmp_path / "r"
    one_line_error(run("render", "scene:smooth", "--camera", camera, "--steps", 1_000_000,
                       "--truth-every", 1, "-o", out),
                   "--truth-every", "1000000 frames of 40x16", "larger --truth-every")
    assert files_under(out) == []
    assert 1_000 * W * H * memory.TRUTH_BYTES_PER_PIXEL_FRAME < 64 << 20   # 1000 frames fit
    res = run("render", "scene:smooth", "--camera", camera, "--steps", 1_000,
              "--truth-every", 1, "-o", out)
    assert res.exit_code == 0, res.output


def test_uniform_steps_beyond_memory(tmp_path, four_gib):
    """The audit: ``uniform --steps 10000000000`` (4.7 TiB): nothing is written."""
    out = tmp_path / "u"
    one_line_error(run("uniform", "--levels", "0,153", "--steps", 10_000_000_000, "-o", out),
                   "--steps", "10000000000", "TiB")
    assert not out.exists()


def test_generate_sizes_beyond_memory(tmp_path, four_gib):
    cfg = tmp_path / "big.yaml"
    cfg.write_text(yaml.safe_dump({"width": 8192, "height": 8192, "steps": 200, "num": 2}))
    one_line_error(run("generate", "--config", cfg, "-o", tmp_path / "a"),
                   "width x height", "8192x8192", "use a smaller frame")
    cfg.write_text(yaml.safe_dump({"width": 1024, "height": 1024, "steps": 200, "num": 2}))
    one_line_error(run("generate", "--config", cfg, "-o", tmp_path / "b", "--workers", 16),
                   "in 16 workers", "fewer workers")
    cfg.write_text(yaml.safe_dump({"width": 400, "height": 250, "steps": 10_000_000,
                                   "num": 2}))
    one_line_error(run("generate", "--config", cfg, "-o", tmp_path / "c"), "steps",
                   "10000000")
    assert not any((tmp_path / d).exists() for d in "abc")


def test_convert_to_npz_beyond_memory(tmp_path, monkeypatch):
    src = tmp_path / "x.dat"
    SpikeStream.from_dense(np.zeros((64, H, W), np.uint8)).write_dat(src)
    monkeypatch.setattr(memory, "available_bytes", lambda: 1000)
    one_line_error(run("convert", src, tmp_path / "v.npz"), "output", "v.npz",
                   "write a .dat instead")
    assert not (tmp_path / "v.npz").exists()
    assert run("convert", src, tmp_path / "v.dat").exit_code == 0     # streamed: no estimate


def test_dense_npz_beyond_memory_is_refused_before_loading(tmp_path, monkeypatch):
    src = tmp_path / "dense.npz"
    np.savez(src, spikes=np.zeros((50, 250, 400), np.float64))
    loaded = []
    real_load = np.lib.format.read_array
    monkeypatch.setattr(np.lib.format, "read_array",
                        lambda *a, **k: loaded.append(1) or real_load(*a, **k))
    monkeypatch.setattr(memory, "available_bytes", lambda: 10 << 20)
    one_line_error(run("convert", src, tmp_path / "v.dat"), "dense.npz", "50x250x400 float64",
                   "43.5 MiB")
    assert loaded == [] and not (tmp_path / "v.dat").exists()
    monkeypatch.setattr(memory, "available_bytes", lambda: 1 << 30)
    assert run("convert", src, tmp_path / "v.dat").exit_code == 0


def test_runs_that_fit_are_not_refused(tmp_path, camera, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 64 << 20)
    assert run("render", "scene:smooth", "--camera", camera, "--steps", 64,
               "-o", tmp_path / "r").exit_code == 0
    monkeypatch.setattr(memory, "available_bytes", lambda: None)   # not Linux: never refused
    assert run("uniform", "--levels", "0", "--steps", 64, "--camera", camera,
               "-o", tmp_path / "u").exit_code == 0


def test_available_memory_is_read_from_meminfo(tmp_path, monkeypatch):
    info = tmp_path / "meminfo"
    info.write_text("MemTotal:       16000000 kB\nMemAvailable:    1024 kB\n")
    monkeypatch.setattr(memory, "MEMINFO", str(info))
    assert memory.available_bytes() == 1024 * 1024
    monkeypatch.setattr(memory, "MEMINFO", str(tmp_path / "absent"))
    assert memory.available_bytes() is None
    memory.check_fits(10 ** 15, "p", 1, "anything", "nothing")       # unknown: not refused


def test_estimates_follow_what_the_code_allocates():
    """The stream term is exact; the per-pixel terms bound numpy's traced peak (which is
    below the resident peak the constants were measured with) without being absurd."""
    from spikesim.camera import Camera
    from spikesim.capture import load_scene, render_capture
    from spikesim.config import CameraProfile, Lens
    from spikesim.dataset import SampleMaker, load_dataset_config

    profile, lens = CameraProfile(width=96, height=64), Lens()
    cam = Camera(profile, 0)
    stream = cam.capture(np.full((64, 96), 50.0, np.float32), 200, 0)
    assert stream.packed.nbytes == memory.stream_bytes(200, 64, 96)

    tracemalloc.start()
    try:
        scene = load_scene("scene:bricks", profile, lens, 0)
        tracemalloc.reset_peak()
        render_capture(scene, Camera(profile, 0), lens, 200, 0)
        render_peak = tracemalloc.get_traced_memory()[1]
        maker = SampleMaker(load_dataset_config({"width": 96, "height": 64, "steps": 192,
                                                 "num": 1, "seed": 0}))
        tracemalloc.reset_peak()
        maker.compute(0)
        sample_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    render_estimate = memory.capture_bytes(200, 64, 96)
    sample_estimate = memory.sample_bytes(192, 64, 96)
    assert render_peak <= render_estimate <= 8 * render_peak
    assert sample_peak <= sample_estimate <= 8 * sample_peak


def test_gaussian_kernel_estimate_counts_its_taps():
    from spikesim.optics import gaussian_kernel1d, sigma_px

    coc = 40.0
    taps = gaussian_kernel1d(sigma_px(coc, 0.5)).size
    assert memory.blur_kernel_bytes(coc, 0.5, "gaussian", 10, 10) == \
        memory.GAUSS_KERNEL_BYTES_PER_TAP * taps


# ----------------------------------------------------------------- depth
@pytest.fixture
def image(tmp_path):
    path = tmp_path / "img.png"
    iio.imwrite(path, np.random.default_rng(0).integers(20, 230, (H, W), dtype=np.uint8))
    return path


def test_integer_npy_depth_needs_its_unit(tmp_path, image, camera):
    """The audit: an int64 ``.npy`` depth of 2000 was read as 2.0 m (documented: metres)."""
    depth = tmp_path / "d.npy"
    np.save(depth, np.full((H, W), 2000, np.int64))
    out = tmp_path / "r"
    one_line_error(run("render", image, "--depth", depth, "--camera", camera, "-o", out),
                   "integer .npy", "--depth-scale 0.001", "millimetres")
    assert files_under(out) == []
    for scale, metres in (("0.001", 2.0), ("1", 2000.0)):
        res = run("render", image, "--depth", depth, "--depth-scale", scale, "--camera",
                  camera, "--steps", 8, "-o", tmp_path / scale)
        assert res.exit_code == 0, res.output
        with np.load(tmp_path / scale / "maps.npz") as z:
            assert np.all(z["depth"] == np.float32(metres))


def test_float_npy_depth_stays_metres(tmp_path, image, camera):
    depth = tmp_path / "d.npy"
    np.save(depth, np.full((H, W), 2.5, np.float64))
    assert run("render", image, "--depth", depth, "--camera", camera, "--steps", 8,
               "-o", tmp_path / "r").exit_code == 0
    with np.load(tmp_path / "r" / "maps.npz") as z:
        assert np.all(z["depth"] == np.float32(2.5))


def test_complex_depth_is_refused(tmp_path, image, camera):
    """The audit: a complex ``.npy`` depth silently lost its imaginary part."""
    depth = tmp_path / "d.npy"
    np.save(depth, np.full((H, W), 2 + 1j, np.complex128))
    one_line_error(run("render", image, "--depth", depth, "--camera", camera,
                       "-o", tmp_path / "r"), "complex128", "real numbers")


# ----------------------------------------------------------------- images
def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if (pa <= pb and pa <= pc) else (b if pb <= pc else c)


def encode_png16(pixels: np.ndarray, filters=(0,)) -> bytes:
    """A 16-bit RGB/RGBA PNG of ``pixels`` ``(H, W, C)`` uint16, row ``y`` filtered with
    ``filters[y % len(filters)]``: the slow, obvious encoder of PNG spec §9 (Pillow
    cannot write these files)."""
    h, w, c = pixels.shape
    bpp = 2 * c
    raw = pixels.astype(">u2").reshape(h, w * c).view(np.uint8).astype(int)
    body, prev = bytearray(), np.zeros(w * bpp, int)
    for y in range(h):
        kind, row = filters[y % len(filters)], raw[y]
        body.append(kind)
        for i in range(w * bpp):
            a = row[i - bpp] if i >= bpp else 0
            b, cc = prev[i], (prev[i - bpp] if i >= bpp else 0)
            body.append((row[i] - [0, a, b, (a + b) // 2, _paeth(a, b, cc)][kind]) & 0xFF)
        prev = row

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", w, h, 16, {3: 2, 4: 6}[c], 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(bytes(body))) + chunk(b"IEND", b""))


@pytest.mark.parametrize("channels", [3, 4])
def test_16bit_colour_png_is_decoded_at_full_depth(tmp_path, channels):
    """Every scanline filter, checked against the encoder, and against Pillow's 8-bit
    reading of the same file (the high bytes)."""
    from PIL import Image

    pixels = np.random.default_rng(channels).integers(0, 65536, (7, 9, channels),
                                                      dtype=np.uint16)
    path = tmp_path / "c.png"
    path.write_bytes(encode_png16(pixels, filters=(0, 1, 2, 3, 4)))
    got = read_raw_image(path)
    assert got.dtype == np.uint16 and np.array_equal(got, pixels)
    with Image.open(path) as im:
        assert np.array_equal(np.asarray(im), (pixels >> 8).astype(np.uint8))


def test_render_of_a_16bit_rgb_png_keeps_its_low_bits(tmp_path, camera):
    """The audit: a 16-bit RGB PNG was decoded as 8-bit without a word."""
    pixels = np.random.default_rng(1).integers(0, 65536, (H, W, 3), dtype=np.uint16)
    path = tmp_path / "img16.png"
    path.write_bytes(encode_png16(pixels, filters=(4,)))
    res = run("render", path, "--camera", camera, "--steps", 8, "-o", tmp_path / "r")
    assert res.exit_code == 0, res.output
    with np.load(tmp_path / "r" / "maps.npz") as z:
        sharp = z["sharp"]
    full = luminance(srgb_decode(pixels.astype(np.float32) / 65535.0))
    cut = luminance(srgb_decode((pixels >> 8).astype(np.float32) / 255.0))
    assert np.abs(sharp - full).max() < 1e-6 < np.abs(sharp - cut).max()


@pytest.mark.parametrize("damage, words", [
    (lambda b: b[:len(b) // 2], ["truncated"]),
    (lambda b: b[:41] + bytes([b[41] ^ 0xFF]) + b[42:], ["corrupt"]),
])
def test_damaged_16bit_png_is_one_line(tmp_path, camera, damage, words):
    data = encode_png16(np.zeros((H, W, 3), np.uint16))
    path = tmp_path / "bad.png"
    path.write_bytes(damage(data))
    one_line_error(run("render", path, "--camera", camera, "-o", tmp_path / "r"),
                   str(path), *words)


def test_16bit_png_bomb_is_inflated_only_to_its_header_size(tmp_path):
    """A small file whose zlib stream would inflate to 50 MiB: only the 4x4 picture its
    header states is inflated (the rest is never decompressed)."""
    header = struct.pack(">IIBBBBB", 4, 4, 16, 2, 0, 0, 0)
    body = zlib.compress(b"\0" * (50 << 20))

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    path = tmp_path / "bomb.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body)
                     + chunk(b"IEND", b""))
    read_raw_image(path)                  # the decoder compiled and loaded
    tracemalloc.start()
    try:
        got = read_raw_image(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got.shape == (4, 4, 3) and not got.any()
    assert peak < (1 << 20)


def test_float_image_with_negative_values_is_refused(tmp_path, camera):
    """The audit: a float image with negative values was silently clipped."""
    img = np.random.default_rng(2).random((H, W)).astype(np.float32)
    img[3, 5] = -0.25
    path = tmp_path / "neg.tif"
    iio.imwrite(path, img)
    one_line_error(run("render", path, "--encoding", "linear", "--camera", camera,
                       "-o", tmp_path / "r"), "neg.tif", "min -0.25", "never negative")
    img[3, 5] = 0.25
    iio.imwrite(path, img)
    assert run("render", path, "--encoding", "linear", "--camera", camera, "--steps", 8,
               "-o", tmp_path / "ok").exit_code == 0
