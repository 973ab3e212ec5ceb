"""Spike streams: the ecosystem's raw ``.dat`` format, dense arrays and packed ``.npz``.

A stream is ``T`` binary frames of ``H x W`` pixels, time first, rows top-down
(upright) whenever it is shown as an array. In memory the frames stay bit-packed
in the ``.dat`` file layout (formats.md):

- frame ``t`` is ``packed[t]``, ``H * W_file / 8`` bytes, no header;
- pixels are row-major and packed **LSB first** (pixel ``k`` is bit ``k % 8`` of
  byte ``k // 8``);
- rows are stored **bottom-up** (``flipped=True``, the ecosystem's convention):
  upright pixel ``(y, x)`` is bit index ``(H - 1 - y) * W_file + x``;
- a 416-wide frame of a real first-generation camera carries a 16-column line
  header at the right; ``head_crop`` keeps the file's frames as they are and shows
  only the first 400 columns.

Writing a stream is therefore a raw dump, and counting spikes per pixel never
unpacks to one byte per pixel (see :func:`count_spikes`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from . import settings
from .atomic import atomic_path, check_writable
from .errors import InputError, OutputExistsError, StreamFormatError

log = logging.getLogger(__name__)

AXES_CHOICES = ("THW", "HWT", "TWH", "WHT", "HTW", "WTH")


def packed_pixel_index(y, x, height: int, width: int, flipped: bool = True):
    """Bit index of upright pixel ``(y, x)`` in a packed frame of ``height x width``."""
    row = (height - 1 - y) if flipped else y
    return row * width + x


def frame_bytes(width: int, height: int, allow_padding: bool = False) -> int:
    """Bytes of one packed frame.

    The ``.dat`` format needs ``width * height`` to be a multiple of 8; in memory
    (``allow_padding``) the last byte of a frame may carry unused zero bits.
    """
    if allow_padding:
        return -(-width * height // 8)
    if (width * height) % 8:
        raise InputError("size", f"{width}x{height}", "W*H a multiple of 8",
                         "bit-packed frames need whole bytes; check the resolution")
    return width * height // 8


def _check_binary(dense: np.ndarray, what: str = "spikes") -> np.ndarray:
    """Return ``dense`` as uint8 after checking every value is 0 or 1."""
    if dense.dtype == np.bool_:
        return dense.view(np.uint8)
    if not (np.issubdtype(dense.dtype, np.integer) or np.issubdtype(dense.dtype, np.floating)):
        raise InputError(what, str(dense.dtype), "a bool or integer array of 0/1 values",
                         "convert the spikes to uint8 0/1")
    bad = (dense != 0) & (dense != 1)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InputError(what, f"value {dense[where].item()!r} at index {where}",
                         "binary spikes (0 or 1 only)",
                         "threshold or binarise the array before writing a spike stream")
    return dense.astype(np.uint8, copy=False)


def pack_frames(dense, flipped: bool = True) -> np.ndarray:
    """Pack upright binary frames into the ``.dat`` layout.

    Parameters
    ----------
    dense : (T, H, W) array of 0/1 (bool or integer), rows top-down
    flipped : store rows bottom-up (the ecosystem's convention)

    Returns
    -------
    (T, H * W // 8) uint8
    """
    dense = np.asarray(dense)
    if dense.ndim != 3:
        raise InputError("spikes", f"an array of shape {dense.shape}", "a (T, H, W) array",
                         "pass frames with time first, or give the axis order")
    t, h, w = dense.shape
    dense = _check_binary(dense)
    if flipped:
        dense = dense[:, ::-1, :]
    return np.packbits(dense.reshape(t, h * w), axis=1, bitorder="little")


def unpack_frames(packed, height: int, width: int, flipped: bool = True,
                  file_width: int | None = None) -> np.ndarray:
    """Unpack ``.dat``-layout frames into upright ``(T, H, W)`` uint8 0/1 frames.

    ``file_width`` is the stored row length when it differs from ``width``
    (a 416-wide head-cropped frame shows its first ``width`` columns).
    """
    file_width = file_width or width
    packed = np.asarray(packed, dtype=np.uint8)
    t = packed.shape[0]
    bits = np.unpackbits(packed.reshape(t, -1), axis=1, bitorder="little")
    frames = bits[:, : height * file_width].reshape(t, height, file_width)
    if flipped:
        frames = frames[:, ::-1, :]
    if file_width != width:
        frames = frames[:, :, :width]
    return np.ascontiguousarray(frames)


def count_spikes(packed, height: int, width: int, start: int = 0, stop: int | None = None,
                 flipped: bool = True, file_width: int | None = None) -> np.ndarray:
    """Spikes per pixel over frames ``[start, stop)`` of packed frames (compiled popcount).

    Parameters
    ----------
    packed : (T, H * W_file // 8) uint8, ``.dat`` layout (may be a memory map)

    Returns
    -------
    (H, W) int64 counts, upright.
    """
    from ._popcount import accumulate_counts, padded_words_buffer, use_parallel

    file_width = file_width or width
    t, nbytes = packed.shape
    start, stop = _check_range(start, stop, t)
    parallel = use_parallel((stop - start) * nbytes)
    step = settings.COUNT_CHUNK_FRAMES
    buffer = padded_words_buffer(min(step, max(stop - start, 1)), nbytes)
    counts = np.zeros(buffer.shape[1] * 64, dtype=np.int64)
    for t0 in range(start, stop, step):
        accumulate_counts(packed[t0:min(t0 + step, stop)], counts, buffer, parallel)
    return _counts_to_map(counts, height, width, flipped, file_width)


def _count_file(path, offset: int, nbytes: int, start: int, stop: int) -> np.ndarray:
    """Per-bit counts of frames ``[start, stop)`` of a raw file, read in chunks.

    Each chunk is read with one scatter read (``os.readv``) straight into the rows of a
    reused word-padded buffer, so memory stays bounded and nothing is copied twice.
    """
    from ._popcount import accumulate_words, padded_words_buffer, use_parallel

    parallel = use_parallel((stop - start) * nbytes)
    chunk = settings.COUNT_CHUNK_FRAMES
    buffer = padded_words_buffer(min(chunk, max(stop - start, 1)), nbytes)
    rows = buffer.view(np.uint8).reshape(buffer.shape[0], -1)
    views = [memoryview(rows[i, :nbytes]) for i in range(rows.shape[0])]
    counts = np.zeros(buffer.shape[1] * 64, dtype=np.int64)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.lseek(fd, offset + start * nbytes, os.SEEK_SET)
        t = start
        while t < stop:
            n = min(len(views), stop - t)
            got = os.readv(fd, views[:n])
            if got != n * nbytes:
                raise StreamFormatError("file", str(path), f"{n * nbytes} more bytes",
                                        "the file changed or was truncated while reading")
            accumulate_words(buffer, n, counts, parallel)
            t += n
    finally:
        os.close(fd)
    return counts


def _counts_to_map(counts, height, width, flipped, file_width):
    img = counts[: height * file_width].reshape(height, file_width)
    if flipped:
        img = img[::-1]
    return np.ascontiguousarray(img[:, :width])


def _check_range(start, stop, t):
    stop = t if stop is None else stop
    if not (0 <= start <= stop <= t):
        raise InputError("frame range", f"[{start}, {stop})", f"a range within [0, {t}]",
                         f"the stream holds {t} frames")
    return int(start), int(stop)


def candidate_resolutions(file_size: int, user_size=None) -> list[str]:
    """Resolutions (of the known ones and the user's) whose frame divides ``file_size``."""
    sizes = list(settings.KNOWN_RESOLUTIONS)
    if user_size and tuple(user_size) not in sizes:
        sizes.append(tuple(user_size))
    fits = []
    for w, h in sizes:
        fb = w * h // 8
        if file_size and file_size % fb == 0:
            fits.append(f"{w}x{h} ({file_size // fb} frames)")
    return fits


def read_sidecar(path) -> dict:
    """The optional ``NAME.dat.yaml`` sidecar of ``path``, validated, or ``{}``.

    Returns the keys it gives among ``width``, ``height`` (``int`` pixels, both or
    neither), ``readout_hz`` (``float``, steps per second) and ``flipped`` (``bool``);
    other keys (provenance) are ignored. A sidecar that is present but unreadable or
    holds a wrong value is a :class:`StreamFormatError` naming the file and the key:
    the resolution is not in the ``.dat``, so a sidecar is never guessed around.
    """
    from .yamlio import read_yaml

    side = Path(str(path) + ".yaml")
    if not side.is_file():
        return {}
    data = read_yaml(side, "sidecar")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise StreamFormatError(str(side), type(data).__name__, "a YAML mapping (width, "
                                "height, readout_hz, flipped)", "rewrite or delete the sidecar")
    out = {}

    def bad(key, expected):
        return StreamFormatError(f"{side}: {key}", data[key], expected,
                                 f"correct `{key}` or delete the sidecar and pass --size WxH")

    for key in ("width", "height"):
        if key in data:
            v = data[key]
            if isinstance(v, bool) or not isinstance(v, int) \
                    or not 1 <= v <= settings.MAX_FRAME_SIDE:
                raise bad(key, f"a whole number of pixels in [1, {settings.MAX_FRAME_SIDE}]")
            out[key] = int(v)
    if ("width" in out) != ("height" in out):
        missing = "height" if "width" in out else "width"
        raise StreamFormatError(f"{side}: {missing}", "missing", "width and height together",
                                f"add `{missing}` or delete the sidecar and pass --size WxH")
    if "readout_hz" in data:
        v = data["readout_hz"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) \
                or v <= 0:
            raise bad("readout_hz", "a positive number of steps per second")
        out["readout_hz"] = float(v)
    if "flipped" in data:
        if not isinstance(data["flipped"], bool):
            raise bad("flipped", "true or false (rows stored bottom-up)")
        out["flipped"] = data["flipped"]
    if "frames" in data:
        v = data["frames"]
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise bad("frames", "a whole number of frames >= 0")
        out["frames"] = int(v)
    return out


class SpikeStream:
    """A binary spike stream, ``(T, H, W)``, kept bit-packed in the ``.dat`` layout.

    Parameters
    ----------
    packed : (T, H * W_file // 8) uint8 array or memory map, ``.dat`` layout
    height, width : int, the visible frame size in pixels
    readout_hz : float, readout steps per second
    flipped : bool, rows stored bottom-up (the ecosystem's convention)
    file_width : int, stored row length (``width`` unless head-cropped)
    """

    def __init__(self, packed, height: int, width: int,
                 readout_hz: float = settings.DEFAULT_READOUT_HZ, flipped: bool = True,
                 file_width: int | None = None, source: str | None = None):
        for name, value in (("height", height), ("width", width),
                            ("file_width", width if file_width is None else file_width)):
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
                    or not 1 <= int(value) <= settings.MAX_FRAME_SIDE:
                raise InputError(name, value,
                                 f"a whole number of pixels in [1, {settings.MAX_FRAME_SIDE}]",
                                 "give the camera's resolution")
        self.height = int(height)
        self.width = int(width)
        self.file_width = int(file_width or width)
        if self.file_width < self.width:
            raise InputError("file_width", self.file_width, f"at least the width {self.width}",
                             "the stored row holds the visible one")
        self.readout_hz = float(readout_hz)
        if not (np.isfinite(self.readout_hz) and self.readout_hz > 0):
            raise InputError("readout_hz", readout_hz, "a positive number of steps per second",
                             "give the camera's readout rate, e.g. 20000")
        self.flipped = bool(flipped)
        self.source = source
        nbytes = frame_bytes(self.file_width, self.height, allow_padding=True)
        packed = np.asarray(packed) if not isinstance(packed, np.memmap) else packed
        if packed.dtype != np.uint8 or packed.ndim != 2 or packed.shape[1] != nbytes:
            raise InputError("packed", f"array {packed.dtype}{tuple(packed.shape)}",
                             f"uint8 (T, {nbytes}) for {self.file_width}x{self.height} frames",
                             "pack frames with spikesim.stream.pack_frames")
        self.packed = packed
        self._file = None            # (path, offset) when backed by a .dat file

    # -- shape -------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.packed.shape[0])

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(T, H, W)``."""
        return (len(self), self.height, self.width)

    @property
    def duration_s(self) -> float:
        """Duration in seconds at the readout rate."""
        return len(self) / self.readout_hz

    def __repr__(self) -> str:
        t, h, w = self.shape
        return (f"SpikeStream(T={t}, H={h}, W={w}, readout_hz={self.readout_hz:g}"
                + (f", source={self.source!r}" if self.source else "") + ")")

    def __getitem__(self, item) -> "SpikeStream":
        """``stream[a:b]``: a sub-stream of frames ``[a, b)`` (a view; step 1 only)."""
        if not isinstance(item, slice) or item.step not in (None, 1):
            raise TypeError("index a SpikeStream with a frame slice, e.g. stream[100:300]; "
                            "use .window(a, b) for dense frames")
        start, stop, _ = item.indices(len(self))
        stop = max(start, stop)
        sub = SpikeStream(self.packed[start:stop], self.height, self.width, self.readout_hz,
                          self.flipped, self.file_width, self.source)
        if self._file is not None:
            path, offset = self._file
            sub._file = (path, offset + start * self.packed.shape[1])
        return sub

    # -- decoding ----------------------------------------------------------------------
    def window(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Dense upright frames ``[start, stop)``: ``(stop - start, H, W)`` uint8 0/1.

        Only that window is read and decoded.
        """
        start, stop = _check_range(start, stop, len(self))
        if stop == start:
            return np.zeros((0, self.height, self.width), np.uint8)
        return unpack_frames(self.packed[start:stop], self.height, self.width,
                             self.flipped, self.file_width)

    def to_dense(self, axes: str = "THW") -> np.ndarray:
        """The whole stream as a dense uint8 array in axis order ``axes``."""
        dense = self.window()
        return np.ascontiguousarray(np.transpose(dense, _axes_perm("THW", axes)))

    def counts(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Spikes per pixel over frames ``[start, stop)``: ``(H, W)`` int64, upright.

        A file-backed stream is read in chunks into one reused buffer, so the
        resident memory stays bounded whatever the file length.
        """
        start, stop = _check_range(start, stop, len(self))
        if self._file is None:
            return count_spikes(self.packed, self.height, self.width, start, stop,
                                self.flipped, self.file_width)
        path, offset = self._file
        counts = _count_file(path, offset, self.packed.shape[1], start, stop)
        return _counts_to_map(counts, self.height, self.width, self.flipped, self.file_width)

    def rate(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Mean spikes per step over ``[start, stop)``: ``(H, W)`` float64."""
        start, stop = _check_range(start, stop, len(self))
        if stop == start:
            raise InputError("frame range", f"[{start}, {stop})", "at least one frame",
                             "choose a non-empty window")
        return self.counts(start, stop) / float(stop - start)

    # -- constructors --------------------------------------------------------------------
    @classmethod
    def from_dense(cls, dense, axes: str = "THW", readout_hz: float = settings.DEFAULT_READOUT_HZ,
                   source: str | None = None) -> "SpikeStream":
        """A stream from a dense binary array whose axis order is ``axes`` (e.g. ``"HWT"``)."""
        dense = np.asarray(dense)
        axes = _check_axes(axes)
        if dense.ndim != 3:
            raise InputError("spikes", f"an array of shape {dense.shape}",
                             f"a 3-D array with axes {axes}", "give the frames as (T, H, W)")
        dense = np.transpose(dense, _axes_perm(axes, "THW"))
        return cls(pack_frames(dense), dense.shape[1], dense.shape[2], readout_hz, source=source)

    @classmethod
    def read_dat(cls, path, size=None, strict: bool = False, head_crop: bool | None = None,
                 flipped: bool | None = None, readout_hz: float | None = None) -> "SpikeStream":
        """Open a raw ``.dat`` file lazily (memory map; nothing is decoded).

        Parameters
        ----------
        path : the file
        size : ``(W, H)``; default the sidecar's, else 400x250
        strict : a trailing partial frame is an error (default: warn and drop it)
        head_crop : crop 416-wide frames to 400 (default: when the width is 416)
        flipped : rows stored bottom-up (default: the sidecar's, else True)
        readout_hz : default the sidecar's, else 20 kHz
        """
        path = Path(path)
        if not path.exists():
            raise InputError("file", str(path), "an existing spike file", "check the path")
        if path.is_dir():
            raise InputError("file", str(path), "a .dat file, not a directory",
                             "give the capture file inside it")
        side = read_sidecar(path)
        if "width" in side:
            recorded = (side["width"], side["height"])
            if size is not None and tuple(int(v) for v in size) != recorded:
                raise InputError("--size", f"{size[0]}x{size[1]}",
                                 f"the {recorded[0]}x{recorded[1]} that {path}.yaml records",
                                 "drop --size (the sidecar knows the resolution), or fix "
                                 "or delete the sidecar")
            size = recorded
        user_size = size
        width, height = size or (settings.DEFAULT_WIDTH, settings.DEFAULT_HEIGHT)
        if not all(isinstance(v, (int, np.integer)) and 1 <= v <= settings.MAX_FRAME_SIDE
                   for v in (width, height)):
            raise InputError("--size", f"{width}x{height}", "whole numbers of pixels in "
                             f"[1, {settings.MAX_FRAME_SIDE}], WxH", "e.g. --size 400x250")
        if flipped is None:
            flipped = side.get("flipped", True)
        if readout_hz is None:
            readout_hz = side.get("readout_hz", settings.DEFAULT_READOUT_HZ)
        if head_crop is None:
            head_crop = width == settings.HEAD_CROP_WIDTH
        nbytes = frame_bytes(width, height)
        file_size = path.stat().st_size
        if file_size == 0:
            raise StreamFormatError("file", f"{path} (0 bytes)", "a non-empty spike stream",
                                    "the capture is empty; record again or pick another file")
        frames, rest = divmod(file_size, nbytes)
        if "frames" in side and (frames, rest) != (side["frames"], 0):
            raise StreamFormatError("file", f"{path} ({file_size} bytes)",
                                    f"the {side['frames']} frames of {width}x{height} that its "
                                    f"sidecar records ({side['frames'] * nbytes} bytes)",
                                    "the file and its .yaml do not belong together (an "
                                    "interrupted write?): write the capture again")
        if rest:
            fits = candidate_resolutions(file_size, user_size)
            hint = ("resolutions that fit: " + ", ".join(fits) + "; pass --size WxH") if fits \
                else "no common resolution fits; pass the camera's --size WxH"
            message_value = (f"{path} ({file_size} bytes, {frames} whole frames of {nbytes} "
                             f"bytes for {width}x{height} and {rest} bytes left over)")
            if strict or frames == 0:
                raise StreamFormatError("size", message_value,
                                        f"a multiple of the frame size {nbytes} bytes", hint)
            log.warning("%s: dropping a trailing partial frame of %d bytes (%s)",
                        path, rest, hint)
        packed = np.memmap(path, dtype=np.uint8, mode="r", shape=(frames, nbytes))
        vis_width = width
        if head_crop:
            if width != settings.HEAD_CROP_WIDTH:
                raise InputError("head_crop", width, f"frames {settings.HEAD_CROP_WIDTH} wide",
                                 "only 416-wide frames carry a line header")
            vis_width = width - settings.HEAD_CROP_COLUMNS
        stream = cls(packed, height, vis_width, readout_hz, flipped, file_width=width,
                     source=str(path))
        stream._file = (str(path), 0)
        return stream

    def write_dat(self, path, overwrite: bool = False, sidecar: bool = True,
                  provenance: dict | None = None) -> Path:
        """Write the stream as a raw ``.dat`` (a byte-for-byte dump of the packed frames).

        The write is atomic; an existing file is refused unless ``overwrite``. With
        ``sidecar`` a ``NAME.dat.yaml`` records resolution, readout rate and flip.
        """
        if (self.file_width * self.height) % 8:
            raise InputError("output", str(path), "frames whose W*H is a multiple of 8 for .dat",
                             f"{self.file_width}x{self.height} frames do not fill whole bytes; "
                             "save them with save_npz (.npz) instead")
        path = check_writable(path, overwrite, "output")
        side = Path(str(path) + ".yaml")
        if sidecar and side.exists() and not overwrite:
            raise OutputExistsError(side, "sidecar")
        chunk = settings.COUNT_CHUNK_FRAMES
        # The sidecar is renamed into place first, the .dat last: a run killed in between
        # leaves a sidecar without its .dat (replaced with --overwrite), never a .dat
        # without the resolution it needs; an old .dat beside a new sidecar is caught by
        # the reader's frame count.
        with atomic_path(path, overwrite=True) as tmp:
            with open(tmp, "wb") as fh:
                for t0 in range(0, len(self), chunk):
                    fh.write(np.ascontiguousarray(self.packed[t0:t0 + chunk]).tobytes())
                fh.flush()
                os.fsync(fh.fileno())
            if sidecar:
                self._write_sidecar(side, provenance)
        return path

    def _write_sidecar(self, side: Path, provenance: dict | None) -> None:
        from . import __version__
        from .atomic import write_yaml

        meta = {"width": self.file_width, "height": self.height,
                "readout_hz": self.readout_hz, "flipped": self.flipped,
                "frames": len(self), "layout": "LSB-first, row-major, rows bottom-up"
                if self.flipped else "LSB-first, row-major, rows top-down",
                "written_by": f"spikesim {__version__}"}
        if provenance:
            meta["provenance"] = provenance
        write_yaml(side, meta, overwrite=True)

    def save_npz(self, path, overwrite: bool = False) -> Path:
        """Save as a packed ``.npz`` (keys ``packed, height, width, file_width, readout_hz,
        flipped``)."""
        from .atomic import save_npz
        from .memory import check_fits

        check_writable(path, overwrite, "output")
        check_fits(2 * self.packed.nbytes, "output", str(path),      # frames + compressed copy
                   f"a packed .npz of {len(self)} frames", "write a .dat instead (streamed "
                   "to disk frame by frame)")
        return save_npz(path, packed=np.ascontiguousarray(self.packed), height=self.height,
                        width=self.width, file_width=self.file_width,
                        readout_hz=self.readout_hz, flipped=self.flipped)

    @classmethod
    def load_npz(cls, path, axes: str | None = None, key: str | None = None) -> "SpikeStream":
        """Load a packed ``.npz`` written by :meth:`save_npz`, or a dense one.

        A dense ``.npz`` holds a 0/1 array (``key``, default the only 3-D array, or
        ``spk``/``arr_0``) whose axis order must be given by ``axes`` unless its last two
        axes are a known camera resolution (then ``THW``); e.g. ``outdoor_fence.npz`` is
        ``axes="HWT"``. Nothing else is guessed.
        """
        path = Path(path)
        if not path.is_file():
            raise InputError("file", str(path), "an existing .npz file", "check the path")
        try:
            data = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise StreamFormatError("file", str(path), "a readable .npz",
                                    f"the file is not a numpy archive ({type(exc).__name__})") \
                from None
        if not hasattr(data, "files"):
            raise StreamFormatError("file", str(path), "an .npz archive, not a single .npy array",
                                    "save the spikes with numpy.savez")
        try:
            with data:
                if "packed" in data.files:
                    return cls._from_packed_npz(data, path)
                dense = cls._dense_npz_array(data, path, key)
        except InputError:
            raise
        except ValueError as exc:        # object arrays (allow_pickle=False), bad members
            raise StreamFormatError("file", str(path), "plain numeric arrays",
                                    f"the archive holds something else ({str(exc)[:80]})") \
                from None
        if axes is None:
            axes = _unambiguous_axes(dense.shape, path)
        stream = cls.from_dense(dense, axes, source=str(path))
        if len(stream) == 0:
            raise StreamFormatError("file", f"{path} (0 frames)", "a stream of at least one frame",
                                    "the array is empty; record again or pick another file")
        return stream

    @classmethod
    def _from_packed_npz(cls, data, path: Path) -> "SpikeStream":
        """A stream from an archive written by :meth:`save_npz` (every key checked)."""
        needed = ("packed", "height", "width", "file_width", "readout_hz", "flipped")
        missing = [k for k in needed if k not in data.files]
        if missing:
            raise StreamFormatError(f"{path}: {missing[0]}", "missing", "the keys " +
                                    ", ".join(needed), "write it with SpikeStream.save_npz")
        scalars = {}
        for k in needed[1:]:
            v = data[k]
            if v.shape != () or not (np.issubdtype(v.dtype, np.number) or v.dtype == np.bool_):
                raise StreamFormatError(f"{path}: {k}", f"an array of shape {v.shape} ({v.dtype})",
                                        "a number", "write it with SpikeStream.save_npz")
            scalars[k] = v.item()
        for k in ("height", "width", "file_width"):
            if not float(scalars[k]).is_integer():
                raise StreamFormatError(f"{path}: {k}", scalars[k], "a whole number of pixels",
                                        "write it with SpikeStream.save_npz")
            scalars[k] = int(scalars[k])
        packed = data["packed"]
        if packed.dtype != np.uint8 or packed.ndim != 2:
            raise StreamFormatError(f"{path}: packed", f"{packed.dtype} of shape {packed.shape}",
                                    "(T, H*W/8) uint8", "write it with SpikeStream.save_npz")
        try:
            return cls(packed, scalars["height"], scalars["width"], scalars["readout_hz"],
                       bool(scalars["flipped"]), scalars["file_width"], source=str(path))
        except InputError as exc:
            raise StreamFormatError(f"{path}: {exc.param}", exc.value, exc.expected,
                                    exc.fix) from None

    @staticmethod
    def _dense_npz_array(data, path: Path, key):
        """The 3-D 0/1 array of a dense archive: ``key``, else ``spk``/``spikes``/``arr_0``,
        else the only 3-D array."""
        from .memory import check_dense_npz, npz_headers

        headers = npz_headers(data)                  # shapes without loading the arrays
        arrays = [k for k in data.files if k in headers and len(headers[k][0]) == 3]
        if key is None:
            key = next((k for k in ("spk", "spikes", "arr_0") if k in arrays),
                       arrays[0] if len(arrays) == 1 else None)
        if key is None or key not in data.files:
            raise InputError("key", key, "one of the 3-D arrays " + (", ".join(arrays) or
                             f"(none in {path})"), "name the array holding the spikes")
        if key in headers:
            check_dense_npz(*headers[key], path)
        return data[key]

    @classmethod
    def open(cls, path, size=None, axes: str | None = None, strict: bool = False,
             readout_hz: float | None = None) -> "SpikeStream":
        """Open a ``.dat`` (lazily) or an ``.npz`` (packed or dense) by its suffix."""
        path = Path(path)
        if path.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".gif", ".bmp"):
            raise InputError("file", str(path), "a spike file (.dat or .npz)",
                             "this is an image; give the spike capture")
        if path.suffix.lower() == ".npz":
            stream = cls.load_npz(path, axes=axes)
            if readout_hz:
                stream.readout_hz = float(readout_hz)
            return stream
        return cls.read_dat(path, size=size, strict=strict, readout_hz=readout_hz)


def _unambiguous_axes(shape: tuple, path) -> str:
    """``"THW"`` when a dense array's last two axes are a known camera resolution
    (``(250, 400)``...); anything else is ambiguous: nothing is guessed."""
    known = {(h, w) for w, h in settings.KNOWN_RESOLUTIONS}
    if len(shape) == 3 and tuple(shape[1:]) in known:
        return "THW"
    raise InputError("axes", f"none given for an array of shape {tuple(shape)} in {path}",
                     "the axis order of a dense array (THW, HWT, ...)",
                     "pass --axes, e.g. --axes HWT when time is last")


def _check_axes(axes: str) -> str:
    axes = str(axes).upper()
    if axes not in AXES_CHOICES:
        raise InputError("axes", axes, "an order of the letters T, H, W (e.g. THW or HWT)",
                         "say which axis of the array is time, height and width")
    return axes


def _axes_perm(src: str, dst: str) -> tuple[int, ...]:
    src, dst = _check_axes(src), _check_axes(dst)
    return tuple(src.index(a) for a in dst)
