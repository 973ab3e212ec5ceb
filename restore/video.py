"""Writers of a restored sequence, frame by frame: ``.mp4``, ``.gif`` or a PNG directory.

The output kind is the suffix of the path (:func:`output_kind`):

- ``.mp4`` — H.264 (``libx264``, ``yuv420p``) through imageio's ffmpeg plugin, which
  needs the optional extra ``video`` (``pip install 'spike-defocus[video]'``: the
  ``imageio-ffmpeg`` wheel ships the ffmpeg binary). A frame with an odd side is padded
  by repeating its last row/column (4:2:0 chroma needs even sides).
- ``.gif`` — an endlessly looping grey GIF, written frame by frame with Pillow's GIF
  encoder (no frame is kept in memory).
- no suffix (or an existing directory) — numbered 8-bit sRGB PNGs ``frame_000000.png``,
  ``frame_000001.png``, ... and with ``linear`` the 16-bit linear PNGs
  ``frame_000000_linear.png``, ... Frames of an earlier sequence that this one would not
  replace are refused (and removed with ``overwrite``), so a directory holds one sequence.

Atomicity: a video or GIF is written to a temporary file beside its final name and
renamed into place when the last frame is in (``spikesim.atomic.atomic_path``); on any
error nothing is left under the final name. Each PNG of a directory is atomic.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from spikesim.errors import InputError, OutputExistsError

VIDEO_SUFFIXES = (".mp4", ".gif")
VIDEO_EXTRA = "video"
VIDEO_PIP = "pip install 'spike-defocus[video]'"
FRAME_PATTERN = "frame_{:06d}"
MIN_FPS = 0.01                   # imageio hands ffmpeg the rate with two decimals
MAX_GIF_FPS = 100.0              # a GIF frame lasts at least one centisecond
MAX_FPS = 1000.0
H264_CRF = 18                    # x264 constant rate factor: visually lossless for grey frames
_GIF_LOOP = b"!\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"   # application extension: loop forever


def output_kind(path) -> str:
    """``"mp4"``, ``"gif"`` or ``"dir"`` for an output path; other suffixes are refused."""
    p = Path(path)
    if p.is_dir() or p.suffix == "":
        return "dir"
    if p.suffix.lower() in VIDEO_SUFFIXES:
        return p.suffix.lower()[1:]
    raise InputError("-o", str(p), "a .mp4 or .gif file, or a directory (no suffix) for "
                     "numbered PNGs", "rename the output, e.g. " + str(p.with_suffix(".mp4")))


def check_ffmpeg(path) -> None:
    """Refuse an ``.mp4`` output when imageio's ffmpeg plugin is not installed."""
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        raise InputError("-o", str(path), "an output the installed packages can write",
                         f".mp4 needs the optional extra '{VIDEO_EXTRA}': {VIDEO_PIP} "
                         "(or write .gif or a PNG directory)") from None


def check_fps(fps: float, kind: str) -> None:
    """Refuse a rate the container cannot store: a GIF's delay is whole centiseconds
    (1 to 65535: 0.0016 to 100 fps); imageio passes an .mp4's rate to ffmpeg with two
    decimals (0.01 fps and up). Below or above, Pillow overflowed or ffmpeg refused
    "0.00" with a traceback."""
    low, high = (MIN_FPS, MAX_GIF_FPS) if kind == "gif" else (MIN_FPS, MAX_FPS)
    if not (np.isfinite(fps) and low <= fps <= high):
        raise InputError("--fps", fps, f"frames per second in [{low:g}, {high:g}]"
                         + (" for a GIF (delays are whole centiseconds)" if kind == "gif"
                            else ""), "e.g. 10")


def frame_paths(directory, index: int, linear: bool) -> tuple[Path, Path | None]:
    """The PNG (and linear PNG) of frame ``index`` in a PNG directory."""
    stem = FRAME_PATTERN.format(index)
    d = Path(directory)
    return d / f"{stem}.png", (d / f"{stem}_linear.png" if linear else None)


def stale_frames(directory, frames: int, linear: bool) -> list[Path]:
    """Frame PNGs of an earlier sequence in ``directory`` that this one (``frames`` frames,
    ``linear`` or not) would not replace: left there, they would mix the two sequences."""
    import re

    d = Path(directory)
    if not d.is_dir():
        return []
    pattern = re.compile(r"frame_(\d{6})(_linear)?\.png$")
    stale = []
    for p in sorted(d.iterdir()):
        m = pattern.match(p.name)
        if m and (int(m.group(1)) >= frames or (m.group(2) and not linear)):
            stale.append(p)
    return stale


def check_sequence_output(path, frames: int, linear: bool, overwrite: bool,
                          fps: float = 10.0) -> str:
    """Validate the output before any work: kind, rate, plugin, no clobbering. Returns the
    kind."""
    from spikesim.atomic import check_writable, check_writable_dir

    kind = output_kind(path)
    check_fps(fps, kind)
    if kind == "mp4":
        check_ffmpeg(path)
    if kind == "dir":
        if Path(path).exists() and not Path(path).is_dir():
            raise InputError("-o", str(path), "a directory for numbered PNGs",
                             "give a directory path, or a .mp4/.gif file")
        check_writable_dir(path, "-o")
        stale = stale_frames(path, frames, linear)
        if stale and not overwrite:
            raise OutputExistsError(stale[0], "-o")
        for i in range(frames):
            png, lin = frame_paths(path, i, linear)
            for p in (png, lin) if lin else (png,):
                check_writable(p, overwrite, "-o")
    else:
        if linear:
            raise InputError("--linear", "with " + str(path), "a PNG directory output",
                             "16-bit linear frames are written only as PNGs: give -o DIR")
        check_writable(path, overwrite, "-o")
    return kind


class _PngDirectory:
    def __init__(self, directory, linear: bool, overwrite: bool):
        self.directory, self.linear, self.overwrite = Path(directory), linear, overwrite
        self.count = 0

    def write(self, display, linear) -> list[str]:
        from spikesim.images import write_png, write_png16

        png, lin = frame_paths(self.directory, self.count, self.linear)
        write_png(png, display, self.overwrite)
        written = [str(png)]
        if lin is not None:
            write_png16(lin, np.clip(linear, 0.0, 1.0), self.overwrite)
            written.append(str(lin))
        self.count += 1
        return written


class _Gif:
    def __init__(self, handle, fps: float):
        self.handle, self.duration_ms, self.count = handle, 1000.0 / fps, 0

    def write(self, display, linear) -> list[str]:
        from PIL import GifImagePlugin, Image

        im = Image.fromarray(_to_uint8(display), "L")
        if self.count == 0:
            header, _ = GifImagePlugin.getheader(im)
            data = b"".join(header)
            self.handle.write(b"GIF89a" + data[6:] + _GIF_LOOP)   # 89a: it has extensions
        chunks = GifImagePlugin.getdata(im, duration=self.duration_ms)
        for chunk in chunks:
            self.handle.write(chunk)
        chunks.clear()          # Pillow keeps the list on a class made per call, which only
        self.count += 1         # the cyclic GC frees: the frames' bytes would pile up
        return []


class _Mp4:
    def __init__(self, writer):
        self.writer, self.count = writer, 0

    def write(self, display, linear) -> list[str]:
        frame = _to_uint8(display)
        pad = (0, frame.shape[0] % 2), (0, frame.shape[1] % 2)
        if any(p[1] for p in pad):
            frame = np.pad(frame, pad, mode="edge")
        self.writer.append_data(frame)
        self.count += 1
        return []


def _to_uint8(display) -> np.ndarray:
    d = np.nan_to_num(np.asarray(display, np.float32), nan=0.0)
    return np.round(np.clip(d, 0.0, 1.0) * 255.0).astype(np.uint8)


@contextlib.contextmanager
def sequence_writer(path, *, fps: float = 10.0, linear: bool = False,
                    overwrite: bool = False):
    """A writer with ``write(display (H, W) [0, 1], linear (H, W)) -> [paths]``.

    ``display`` is the sRGB-encoded frame, ``linear`` the linear intensity (written
    only to a PNG directory with ``linear``). Video files appear under ``path`` only
    when the block exits without error.
    """
    from spikesim.atomic import atomic_path

    kind = output_kind(path)
    check_fps(fps, kind)
    if kind == "dir":
        Path(path).mkdir(parents=True, exist_ok=True)
        writer = _PngDirectory(path, linear, overwrite)
        yield writer
        if overwrite:                    # an earlier, longer sequence's frames
            for p in stale_frames(path, writer.count, linear):
                p.unlink(missing_ok=True)
        return
    with atomic_path(path, overwrite, "-o") as tmp:
        if kind == "gif":
            with open(tmp, "wb") as handle:
                writer = _Gif(handle, fps)
                yield writer
                handle.write(b";")
            return
        check_ffmpeg(path)
        import imageio.v2 as iio2

        mp4 = iio2.get_writer(tmp, format="FFMPEG", mode="I", fps=fps, codec="libx264",
                              pixelformat="yuv420p", macro_block_size=1,
                              ffmpeg_log_level="error",
                              output_params=["-crf", str(H264_CRF)])
        try:
            yield _Mp4(mp4)
        finally:
            mp4.close()
