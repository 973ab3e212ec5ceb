"""From a λ-like estimate to intensity and display: the ONE shared exposure step.

Every method (the network and the baselines alike) produces ``λ``: the charge per
step, in thresholds, of an ideal FPN-free in-focus pixel (despike.md "What the
network predicts"). This module maps it to a **linear intensity** with one scale
factor and zero black level, then to display (sRGB) — so comparisons measure
restoration, not exposure.

Exposure modes (despike.md "``spikerestore run``: the contract")
------------------------------------------------------------------
``camera`` (oracle exposure, simulated data)
    The camera response is ``λ = k · E`` for an ideal pixel, and a dataset scene of
    linear value ``v`` in [0, 1] is lit at ``E = illuminance · v``; so
    ``v = λ / (k · illuminance)``. With the sample's ``k`` and ``illuminance`` this
    is exactly the scale of the target ``sharp.png``.
``auto`` (bare captures, the default there)
    ``v = λ / P`` with ``P`` the ``settings.AUTO_EXPOSURE_PERCENTILE`` (99.5th)
    percentile of ``λ`` over the image: that percentile maps to 1 and values above
    it clip on display. A zero image stays zero.

Display: ``srgb_encode(clip(v, 0, 1))`` (IEC 61966-2-1), values in [0, 1]; this is
what the PNG holds and what PSNR/SSIM are computed on.
"""

from __future__ import annotations

import math

import numpy as np

from spikesim.errors import InputError
from spikesim.images import srgb_encode

from . import settings

EXPOSURES = ("auto", "camera")


def camera_scale(k: float, illuminance: float) -> float:
    """The factor ``1 / (k · illuminance)`` that turns λ into the scene's linear value."""
    for name, v in (("k", k), ("illuminance", illuminance)):
        if v is None or not math.isfinite(float(v)) or float(v) <= 0:
            raise InputError(name, v, "a positive number",
                             "the camera exposure needs the sample's responsivity k and "
                             "illuminance; use --exposure auto for bare captures")
    return 1.0 / (float(k) * float(illuminance))


def auto_scale(lam, percentile: float = settings.AUTO_EXPOSURE_PERCENTILE) -> float:
    """The factor that maps the ``percentile`` of ``lam`` to 1 (1.0 for an all-zero image)."""
    lam = np.asarray(lam, dtype=np.float64)
    top = float(np.percentile(lam, percentile)) if lam.size else 0.0
    return 1.0 / top if top > 0 else 1.0


def expose(lam, mode: str = "auto", *, k: float | None = None,
           illuminance: float | None = None) -> tuple[np.ndarray, float]:
    """Linear intensity ``v = scale · λ`` and the scale used.

    Parameters
    ----------
    lam : (H, W) float, λ estimate (thresholds per step).
    mode : "auto" or "camera" (needs ``k`` in thresholds/(lux·step) and
        ``illuminance`` in lux).

    Returns ``(v (H, W) float32, scale float)``; ``v`` is not clipped.
    """
    if mode not in EXPOSURES:
        raise InputError("exposure", mode, "one of " + ", ".join(EXPOSURES),
                         "use auto for bare captures, camera for dataset samples")
    scale = camera_scale(k, illuminance) if mode == "camera" else auto_scale(lam)
    return (np.asarray(lam, dtype=np.float64) * scale).astype(np.float32), scale


def to_display(linear) -> np.ndarray:
    """sRGB-encoded display image in [0, 1] (float32, (H, W)); values outside [0, 1] clip."""
    return srgb_encode(np.clip(np.asarray(linear, dtype=np.float32), 0.0, 1.0))
