"""The registry of restoration methods, by the names of despike.md's contract.

``despike`` (the bundled network), ``despike-x8`` (the same network averaged over the
8 flips/transposes of its input: self-ensemble, 8x the time), the learned cascades
``spk2imgnet``, ``spk2imgnet+gkmnet`` and ``tfp+gkmnet`` (:mod:`restore.cascades`,
docs/cascades.md), ``tfp``, ``tfi``,
``tfp+wiener``, ``tfp+rl``, ``tfi+wiener``, ``tfi+rl``. Every method returns a λ estimate
``(H, W)`` float32: the charge per step of an ideal, FPN-free, in-focus pixel at the key step
(:mod:`restore.exposure` turns it into intensity, the same way for all).

Cascades ("reconstruct, then deblur") deblur the TFP/TFI estimate with a Gaussian
PSF whose σ comes, in this order, from:

1. ``sigma_map`` — the true per-pixel σ map (the oracle upper bound,
   :func:`restore.deconv.sigma_map_blend`);
2. ``sigma`` — one σ for the image (the oracle median σ of a dataset sample, or the
   user's ``--sigma``);
3. otherwise the estimator :func:`restore.sigma_estimate.estimate_sigma` applied to
   the reconstruction itself.

The regularisation (Wiener NSR, RL iterations) is the value tuned on the training
distribution for the reconstruction (TFP/TFI), calibrated or not, and the window
length actually used (:func:`restore.deconv.regularisation`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field, replace

import numpy as np

from spikesim.errors import InputError

from . import settings
from .baselines import resolve_window, tfi, tfp

METHODS = settings.METHOD_NAMES
DEFAULT_METHOD = settings.DEFAULT_METHOD
DESPIKE_MODULE = "restore.despike.infer"
DESPIKE_WEIGHTS_MODULE = "restore.despike.weights"
CASCADE_MODULE = "restore.cascades.infer"
DESCRIPTIONS = {
    "despike": "the bundled DeSpike-style network",
    "despike-x8": "the network averaged over the 8 flips/transposes of its input (8x time)",
    "spk2imgnet": "a Spk2ImgNet-style reconstruction network, trained here",
    "spk2imgnet+gkmnet": "the Spk2ImgNet-style network, then a GKMNet-style deblurring network",
    "tfp+gkmnet": "TFP, then a GKMNet-style deblurring network, trained here",
    "tfp": "window mean of the spikes (texture from playback)",
    "tfi": "inverse inter-spike interval at the key step",
    "tfp+wiener": "TFP, then Wiener deconvolution (Gaussian PSF)",
    "tfp+rl": "TFP, then Richardson-Lucy deconvolution (Gaussian PSF)",
    "tfi+wiener": "TFI, then Wiener deconvolution (Gaussian PSF)",
    "tfi+rl": "TFI, then Richardson-Lucy deconvolution (Gaussian PSF)",
}


@dataclass
class Restored:
    """A method's output: ``lam`` (H, W) float32 λ estimate, and how it was made."""

    lam: np.ndarray
    method: str
    window: int
    sigma: float | None = None          # σ used by a cascade (px); None otherwise
    sigma_source: str | None = None     # "given", "estimated" or "map"
    anchor_scale: float | None = None   # px, the low-frequency anchor's scale; None: not anchored
    anchor_sigma: float | None = None   # px, the blur σ̂ it compared through
    notes: list = field(default_factory=list)


def is_network(name: str) -> bool:
    """Whether a method is a trained network: DeSpike (``despike``, ``despike-x8``) or a
    learned cascade (:func:`is_learned_cascade`); they take the same inputs."""
    return name in settings.NETWORK_METHODS or is_learned_cascade(name)


def is_learned_cascade(name: str) -> bool:
    """Whether a method is a learned cascade of :mod:`restore.cascades`."""
    return name in settings.LEARNED_CASCADE_METHODS


def check_method(name: str) -> str:
    """Return ``name`` if it is a method; otherwise an InputError listing the valid ones."""
    if name not in METHODS:
        import difflib

        near = difflib.get_close_matches(str(name), METHODS, n=1)
        raise InputError("method", name, "one of " + ", ".join(METHODS),
                         (f"did you mean {near[0]!r}? " if near else "") + "pick one of them")
    return name


def split_method(name: str) -> tuple[str, str | None]:
    """``"tfp+rl"`` -> ``("tfp", "rl")``; ``"tfi"`` -> ``("tfi", None)``."""
    check_method(name)
    base, _, deblur = name.partition("+")
    return base, (deblur or None)


def despike_available() -> bool:
    """Whether the network can run: its inference module imports and weights are bundled."""
    try:
        weights = importlib.import_module(DESPIKE_WEIGHTS_MODULE)
    except ImportError:
        return False
    return weights.bundled_weights_path().is_file()


def _despike(method, stream, calib, center, device, dead_time, weights):
    try:
        infer = importlib.import_module(DESPIKE_MODULE)
    except ImportError as exc:
        raise InputError("method", method,
                         "a method whose code is installed: the network's inference module "
                         f"({DESPIKE_MODULE}) is not available ({exc})",
                         "use one of " + ", ".join(m for m in METHODS if not is_network(m))
                         ) from None
    return np.asarray(infer.restore_despike(stream, calib, center, device=device,
                                            dead_time=dead_time, weights=weights,
                                            self_ensemble=method != "despike"),
                      dtype=np.float32)


def anchored(res: Restored, anchor: bool, stream, center: int, calib,
             dead_time: float) -> Restored:
    """``res`` with :mod:`restore.anchor` applied when asked and the calibration measured;
    ``stream`` holds ``res``'s window of ``res.window`` steps around key step ``center``."""
    if not anchor:
        return res
    from .despike.encoding import measured

    if measured(calib) is None:
        return res
    from .anchor import anchor_to_tfp

    lam, how = anchor_to_tfp(res.lam, stream, center, res.window, calib, dead_time)
    return replace(res, lam=lam, anchor_scale=how.scale, anchor_sigma=how.sigma)


def restore(stream, method: str = DEFAULT_METHOD, *, center: int | None = None,
            window: int | None = None, calib=None,
            dead_time: float = settings.DEFAULT_DEAD_TIME, sigma: float | None = None,
            sigma_map=None, device: str = "cpu", weights=None,
            anchor: bool = settings.ANCHOR_DEFAULT) -> Restored:
    """Run one method on ``stream`` (a :class:`spikesim.stream.SpikeStream`, (T, H, W)).

    Parameters
    ----------
    method : a name of :data:`METHODS`.
    center : key step (default ``T // 2``); window : steps (default 192 clipped to T).
    calib : calibration.Calibration or None (uncalibrated).
    dead_time : steps, the uncalibrated rate inversion's δ.
    sigma : px, one σ for the cascades (oracle or user); None: estimated.
    sigma_map : (H, W) px, per-pixel σ (upper-bound cascades); overrides ``sigma``.
    device : torch device of the network.
    weights : the network's weights file (default: the bundled ``despike-natural.pt``, or
        the learned cascade's bundled file).
    anchor : a network's output, calibrated, is matched to the calibrated TFP of the same
        window through the estimated blur, at scales above the anchor's
        (:mod:`restore.anchor`); no effect on the classical methods or without a measured
        calibration.
    """
    base, deblur = split_method(method)
    cascade = is_learned_cascade(method)
    if cascade or is_network(base):
        if cascade:
            infer = importlib.import_module(CASCADE_MODULE)
            infer.cascade_model(method, weights, device)  # no weights: the error comes first
        win = resolve_window(len(stream), center, window)
        sub = stream if window is None else stream[win.start:win.stop]
        c = win.center if window is None else win.center - win.start
        if cascade:
            lam = infer.restore_cascade(sub, method, calib, c, device=device, weights=weights,
                                        dead_time=dead_time)
        else:
            lam = _despike(method, sub, calib, c, device, dead_time, weights)
        return anchored(Restored(np.asarray(lam, np.float32), method, win.length), anchor,
                        sub, c, calib, dead_time)
    win = resolve_window(len(stream), center, window, minimum=2 if base == "tfi" else 1)
    fn = tfp if base == "tfp" else tfi
    lam = fn(stream, win.center, win.length, dead_time=dead_time, calib=calib)
    if deblur is None:
        return Restored(lam, method, win.length)
    from .deconv import deconvolve, sigma_map_blend      # scipy: only for the cascades
    from .sigma_estimate import estimate_sigma
    if sigma_map is not None:
        out = sigma_map_blend(lam, sigma_map, deblur, window=win.length, base=base,
                              calibrated=calib is not None)
        return Restored(out, method, win.length, float(np.median(sigma_map)), "map")
    if sigma is None:
        s, source = estimate_sigma(lam), "estimated"
    else:
        s, source = float(sigma), "given"
    out = deconvolve(lam, s, deblur, window=win.length, base=base,
                     calibrated=calib is not None)
    return Restored(out, method, win.length, s, source)
