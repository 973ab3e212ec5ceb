"""Restore a whole capture as a sequence: key steps ``S, S+N, …`` (``spikerestore run --every``).

Key steps (:func:`key_steps`)
-----------------------------
``start`` (default: the first key step whose window fits, ``W // 2``), ``start + every``,
… up to ``stop`` (exclusive; default: one past the last key step whose window fits,
``T - W + W // 2 + 1``), with ``W`` the method's window (``--window``, else 192: the
network's longest). A stream shorter than ``W`` gets one frame at its middle. Key steps
given explicitly may lie anywhere in ``[0, T)``: windows at the ends are shifted and
clipped exactly as a single-frame restoration at that key step does.

Frame ``k`` **is** the single-frame restoration at key step ``S + k N``
(``spikerestore run --center``): the same function runs on the same spikes. Counting
is shared between frames through running sums (:class:`RunningCounts`, exact integer
counts, so the result is bit for bit the same) where a method counts the default window
of the stream it is given; with ``--window`` the methods receive a slice of the stream
and count it afresh per frame (the same result, no sharing). The network's weights are
loaded once.

One exposure for the whole sequence (no flicker from per-frame auto-exposure):
``camera`` (dataset samples and ``spikesim render`` captures: the known response) or
``auto``, decided on the **first frame** (its 99.5th percentile of λ maps to 1) and
kept for every frame; later frames brighter than the first clip.

Memory is bounded whatever the capture length: a ``.dat`` is memory-mapped and counted
in chunks, the running sums keep only the cumulative counts of the current windows'
edges, and frames are handed to the writer as they come.
"""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass

import numpy as np

from spikesim.errors import InputError
from spikesim.stream import _counts_to_map

from . import settings
from .exposure import auto_scale, camera_scale, to_display

log = logging.getLogger(__name__)

# Ranges up to this many steps are counted with numpy (unpack and sum, in chunks of
# about NUMPY_COUNT_CHUNK_BYTES unpacked bytes) instead of the compiled popcount, whose
# JIT start-up (about 0.3 s per process) costs more than counting one window; both are
# exact. Small chunks (16 frames at 400x250) cost 1 ms more per window than 256-frame
# ones, whose 26 MB unpacked buffer set a single frame's peak memory and, once freed,
# stayed in the process (the allocator keeps freed blocks under its raised threshold).
NUMPY_COUNT_MAX_STEPS = 2048
NUMPY_COUNT_CHUNK_BYTES = 1 << 21


def key_steps(length: int, every, start=None, stop=None, window: int | None = None) -> list:
    """Key steps ``start, start + every, …`` (< ``stop``) of a stream of ``length`` steps.

    Defaults: the steps whose window of ``window`` steps (default 192) fits the stream
    (module doc). Raises :class:`InputError` for ``every < 1`` or a range outside
    ``[0, length)``.
    """
    length = int(length)
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
        raise InputError("--every", every, "a whole number of steps >= 1",
                         "e.g. --every 64 (one frame every 64 steps)")
    w = int(window or settings.DEFAULT_WINDOW)
    if w < length:
        fit_start, fit_stop = w // 2, length - w + w // 2 + 1
    else:
        fit_start, fit_stop = length // 2, length // 2 + 1
    s = fit_start if start is None else int(start)
    e = fit_stop if stop is None else int(stop)
    if not 0 <= s < length:
        raise InputError("--start", s, f"a step in [0, {length - 1}] (the stream has {length} "
                         "steps)", "choose a key step inside the stream")
    if not s < e <= length:
        raise InputError("--stop", e, f"a step in [{s + 1}, {length}] (after --start {s}, "
                         f"at most the stream's {length} steps)",
                         "choose a stop after the start, inside the stream")
    return list(range(s, e, int(every)))


class RunningCounts:
    """A :class:`~spikesim.stream.SpikeStream` whose ``counts(a, b)`` come from running sums.

    Cumulative counts ``C(e)`` (spikes per pixel from an anchor step to ``e``, ``(H, W)``
    int32: fewer than 2**31 steps, else int64) are kept for the edges asked for; ``counts(a, b) = C(b) - C(a)``, each
    new edge counted from the nearest kept edge below it. Integer counts, so every
    result equals ``stream.counts(a, b)`` exactly (short ranges are counted with numpy,
    long ones with the stream's popcount). :meth:`release_before` forgets edges
    no later window needs (the memory stays a few frames' worth). Everything else is
    the wrapped stream's.
    """

    def __init__(self, stream):
        self.stream = stream
        self._edges: list[int] = []          # sorted steps with a kept C(e)
        self._cum: dict[int, np.ndarray] = {}
        self._floor: int | None = None       # no window starts below (release_before)
        self._dtype = np.int32 if len(stream) < 2 ** 31 else np.int64   # holds any count

    def __len__(self) -> int:
        return len(self.stream)

    def __getattr__(self, name):
        return getattr(self.stream, name)

    def __getitem__(self, item):
        return self.stream[item]

    def _reset(self, anchor: int) -> None:
        self._edges = [anchor]
        self._cum = {anchor: np.zeros((self.stream.height, self.stream.width), self._dtype)}

    def _count(self, a: int, b: int) -> np.ndarray:
        """Counts over ``[a, b)``: a short range unpacked and summed with numpy (no JIT
        start-up, which costs more than the counting for one window), else the
        stream's compiled popcount. Both are exact.

        The numpy path sums the unpacked bits of each chunk in file order (uint16: a
        chunk has fewer than 65,536 frames) and only then shapes the sum like a frame
        (rows flipped, a wider stored row cropped, as the stream's own counts are
        shaped): 5x faster than unpacking upright frames first."""
        if b - a > NUMPY_COUNT_MAX_STEPS:
            return np.asarray(self.stream.counts(a, b)).astype(self._dtype)
        s = self.stream
        file_width = s.file_width or s.width
        flat = np.zeros(s.packed.shape[1] * 8, self._dtype)
        chunk = min(max(1, NUMPY_COUNT_CHUNK_BYTES // flat.size), 2 ** 16 - 1)   # frames
        for t in range(a, b, chunk):
            packed = self._packed(t, min(t + chunk, b))
            flat += np.unpackbits(packed, axis=1, bitorder="little").sum(axis=0,
                                                                          dtype=np.uint16)
        return _counts_to_map(flat, s.height, s.width, s.flipped, file_width)

    def _packed(self, a: int, b: int) -> np.ndarray:
        """Packed frames ``[a, b)``; read from a ``.dat`` into a fresh buffer (not through
        the memory map, whose pages would stay resident as the capture is read)."""
        backing = getattr(self.stream, "_file", None)
        if backing is None:
            return self.stream.packed[a:b]
        path, offset = backing
        nbytes = self.stream.packed.shape[1]
        data = np.fromfile(path, dtype=np.uint8, count=(b - a) * nbytes,
                           offset=offset + a * nbytes)
        if data.size != (b - a) * nbytes:
            raise InputError("file", str(path), f"{(b - a) * nbytes} more bytes",
                             "the file changed or was truncated while reading")
        return data.reshape(b - a, nbytes)

    def _cumulative(self, e: int) -> np.ndarray:
        if e in self._cum:
            return self._cum[e]
        i = bisect.bisect_right(self._edges, e) - 1
        below = self._edges[i]
        value = self._count(below, e)
        value += self._cum[below]
        bisect.insort(self._edges, e)
        self._cum[e] = value
        if e == self._floor:                 # the edges below it are needed no more
            self.release_before(e)
        return value

    def counts(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Spikes per pixel over ``[start, stop)``: ``(H, W)`` int64 (as the stream's)."""
        stop = len(self) if stop is None else stop
        if not 0 <= start <= stop <= len(self):
            return self.stream.counts(start, stop)   # the stream's own error
        if not self._edges or start < self._edges[0]:
            self._reset(start)
        return np.subtract(self._cumulative(stop), self._cumulative(start), dtype=np.int64)

    def keep_bases(self, steps) -> None:
        """Keep only what counting ``steps`` (the next window's edges) will start from:
        for each, the kept cumulative count at or below it; no later window starts
        below the lowest (its anchor goes once that one is counted, as with
        :meth:`release_before`). Edges inside the next window are counted afresh from
        these bases (a few ms a frame) instead of kept (one frame of sums each)."""
        keep = set()
        for step in steps:
            i = bisect.bisect_right(self._edges, step) - 1
            if i >= 0:
                keep.add(self._edges[i])
        for e in self._edges:
            if e not in keep:
                del self._cum[e]
        self._edges = sorted(keep)
        self._floor = min(steps)

    def release_before(self, step: int) -> None:
        """Forget cumulative counts below ``step`` (keeping one anchor at or below it):
        no later window starts before ``step``. Once ``C(step)`` itself is counted,
        the anchor below it goes too."""
        self._floor = step
        i = bisect.bisect_right(self._edges, step) - 1
        if i > 0:
            for e in self._edges[:i]:
                del self._cum[e]
            self._edges = self._edges[i:]


def shared_counts(stream, method: str):
    """``stream`` wrapped in :class:`RunningCounts` for a method that counts windows
    (everything but TFI, whose kernel reads the packed frames itself)."""
    return stream if method.partition("+")[0] == "tfi" else RunningCounts(stream)


@dataclass
class Frame:
    """One restored frame of a sequence."""

    index: int
    step: int
    lam: np.ndarray           # (H, W) float32 λ estimate
    window: int
    sigma: float | None
    sigma_source: str | None


def restore_frames(stream, steps, method: str, *, calib=None, window=None, sigma=None,
                   dead_time: float = settings.DEFAULT_DEAD_TIME, device: str = "cpu",
                   weights=None, sigma_source: str | None = None, batch: int = 1,
                   anchor: bool = settings.ANCHOR_DEFAULT):
    """Yield a :class:`Frame` per key step of ``steps`` (increasing), restored by ``method``.

    Every frame is ``restore.methods.restore(stream, method, center=step, …)``; the
    stream is wrapped in :class:`RunningCounts` so overlapping windows share counting.
    With ``batch > 1`` the DeSpike network (``despike``, ``despike-x8``, full windows)
    runs on ``batch`` frames at once (:func:`_network_batches`); ``anchor`` as
    :func:`restore.methods.restore`'s, frame by frame.
    """
    from .methods import check_method

    shared = shared_counts(stream, check_method(method))
    if check_batch(batch) > 1 and method in settings.NETWORK_METHODS and window is None:
        yield from _network_batches(shared, steps, method, calib, dead_time, device, weights,
                                    int(batch), anchor)
        return
    from .baselines import resolve_window

    for i, step in enumerate(steps):
        following = (resolve_window(len(shared), int(steps[i + 1]), window)
                     if i + 1 < len(steps) else None)
        yield _restore_frame(shared, i, int(step), method, following, window=window,
                             calib=calib, dead_time=dead_time, sigma=sigma, device=device,
                             weights=weights, sigma_source=sigma_source, anchor=anchor)


def _restore_frame(shared, index: int, step: int, method: str, following, *, sigma_source,
                   **options) -> Frame:
    """Frame ``index`` at key step ``step``; then only the running sums the next frame's
    window (``following``, ``None`` after the last frame) is counted from are kept
    (every method's windows lie inside it). A function of its own, so the generator
    keeps no reference to a frame while the consumer writes it and the next one is
    restored."""
    from .methods import restore

    res = restore(shared, method, center=step, **options)
    if following is not None and isinstance(shared, RunningCounts):
        shared.keep_bases((following.start, following.stop))
    return Frame(index, step, res.lam, res.window, res.sigma,
                 sigma_source or res.sigma_source)


def check_batch(batch) -> int:
    """``batch`` if it is a whole number of frames >= 1, else :class:`InputError`."""
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise InputError("--batch", batch, "a whole number of frames >= 1", "e.g. --batch 4")
    return int(batch)


def _network_batches(shared, steps, method, calib, dead_time, device, weights, batch,
                     anchor: bool = settings.ANCHOR_DEFAULT):
    """DeSpike on ``batch`` frames per forward pass: the features of each frame exactly
    as a single frame's (:func:`restore.despike.encoding.network_input`), stacked; each
    frame then anchored as a single frame is (:func:`restore.methods.anchored`).

    Batched convolutions may sum in another order than one frame's, so a frame can
    differ from the single-frame restoration by float32 rounding (a few 1e-7 relative);
    ``batch=1`` is bit for bit the single-frame restoration.
    """
    import torch

    from .baselines import resolve_window
    from .despike.encoding import network_input
    from .despike.infer import predict
    from .despike.weights import load_model
    from .methods import Restored, anchored

    if calib is not None:
        calib.check_stream(shared)
    model = load_model(weights, None, device)
    for i in range(0, len(steps), batch):
        chunk = [int(s) for s in steps[i:i + batch]]
        inputs = [network_input(shared, calib, model.config, s, dead_time) for s in chunk]
        x = torch.from_numpy(np.stack([features for features, _, _ in inputs]))
        lam = predict(model, x, device, self_ensemble=method != "despike",
                      calibrated=[flag for _, flag, _ in inputs])
        frames = []
        for j, step in enumerate(chunk):        # anchored before the counts are released
            win = resolve_window(len(shared), step, None)
            res = anchored(Restored(lam[j], method, win.length), anchor, shared, win.center,
                           calib, dead_time)
            frames.append(Frame(i + j, step, res.lam, res.window, None, None))
        if i + batch < len(steps):
            shared.release_before(int(steps[i + batch]) - settings.DEFAULT_WINDOW // 2 - 1)
        yield from frames


@dataclass
class Exposure:
    """The one exposure of a sequence: ``mode`` ("auto"/"camera") and, once known, ``scale``."""

    mode: str
    scale: float | None = None

    def apply(self, lam) -> tuple[np.ndarray, np.ndarray]:
        """``(linear, display)`` of a λ frame; ``auto`` fixes the scale on its first frame."""
        if self.scale is None:
            self.scale = auto_scale(lam)
        linear = (np.asarray(lam, np.float64) * self.scale).astype(np.float32)
        return linear, to_display(linear)


def sequence_exposure(mode: str, k=None, illuminance=None) -> Exposure:
    """``Exposure("camera", 1 / (k E))`` or ``Exposure("auto")`` (scale set by frame 0)."""
    if mode == "camera":
        return Exposure("camera", camera_scale(k, illuminance))
    if mode != "auto":
        raise InputError("--exposure", mode, "auto or camera", "pick one of them")
    return Exposure("auto")


def check_every_input(kind: str, every) -> None:
    """``--every`` needs one stream (a capture or a sample), not a whole dataset."""
    if every is not None and kind == "dataset":
        raise InputError("--every", every, "a .dat, an .npz or a dataset sample as INPUT",
                         "give one sample directory (DATASET/samples/NAME) or a capture")
