"""The trainable stages of a cascade and their record (what a weights file stores).

``reconstruct``: a :class:`.spk2imgnet.Spk2ImgNet` from the window features to ``λ``.

``deblur``: :class:`ReconstructThenDeblur`, a frozen first stage followed by a
:class:`.gkmnet.GKMNet`. The first stage is TFP — the longest window's feature,
``x[:, -1]``: the spikes of the 192-step window through the same correction as every
feature (the calibration's full inverse, or the dead-time inversion without one; it skips
the defect inpainting of :func:`restore.baselines.tfp`) — or a trained Spk2ImgNet whose
parameters are part of the model (so one weights file holds the whole cascade) and are
never trained here. GKMNet reads the first stage's ``λ`` divided by the image's scale
(the mean of the longest window, as ``despike``) and its outputs are multiplied back.

Both take ``(x (B, n, H, W), scale=None, calibrated=None, grid=True)`` (``grid`` is
accepted for the call every network shares and ignored) and return ``despike``'s
output layout, ``{"out": (B, H, W), "grid": [(B, 1, h_s, w_s)], "scale": (B,)}``.

The record (:func:`stage_record`, :func:`build_from_record`)::

    {"stage": "reconstruct" | "deblur", "network": <network config>,
     "features": <the FEATURE_KEYS of the input>,
     "first_stage": None | "tfp" | {"network": <a Spk2ImgNet config>}}
"""

from __future__ import annotations

import torch
from torch import nn

from restore.despike.model import image_scale
from spikesim.config import to_mapping
from spikesim.errors import InputError

from .configs import FIRST_TFP, feature_config, feature_mapping, network_config
from .gkmnet import GKMNet
from .spk2imgnet import Spk2ImgNet


class ReconstructThenDeblur(nn.Module):
    """A frozen first stage (``None``: TFP) followed by a trainable :class:`GKMNet`."""

    def __init__(self, deblur: GKMNet, first: Spk2ImgNet | None, features):
        super().__init__()
        self.deblur, self.first, self.features = deblur, first, features
        if first is not None:
            first.requires_grad_(False)
            first.eval()

    image_scale = staticmethod(image_scale)

    def train(self, mode: bool = True):
        """Training mode for GKMNet only: the first stage stays as it was trained."""
        super().train(mode)
        if self.first is not None:
            self.first.eval()
        return self

    def first_estimate(self, x, scale, calibrated):
        """The first stage's ``λ (B, H, W)``, without gradients."""
        if self.first is None:
            return x[:, -1]
        with torch.no_grad():
            return self.first(x, scale, calibrated)["out"]

    def forward(self, x, scale=None, calibrated=None, grid: bool = True) -> dict:
        """Outputs (module doc). ``grid`` is accepted for the call every network of the
        toolkit shares (:func:`restore.despike.infer.predict`); the grid is cheap here and
        always computed."""
        b = x.shape[0]
        scale = image_scale(x) if scale is None else scale
        y = self.first_estimate(x, scale, calibrated).detach()
        grid = [o * scale.view(b, 1, 1, 1) for o in self.deblur(y / scale.view(b, 1, 1))]
        return {"out": grid[-1][:, 0], "grid": grid, "scale": scale}


def stage_record(model: nn.Module) -> dict:
    """The record of a stage model (module doc)."""
    if isinstance(model, Spk2ImgNet):
        return {"stage": "reconstruct", "network": to_mapping(model.config),
                "features": feature_mapping(model.features), "first_stage": None}
    first = (FIRST_TFP if model.first is None
             else {"network": to_mapping(model.first.config)})
    return {"stage": "deblur", "network": to_mapping(model.deblur.config),
            "features": feature_mapping(model.features), "first_stage": first}


def build_from_record(record: dict, where: str = "weights") -> nn.Module:
    """A freshly initialised stage model of a record; a record that does not validate is
    an :class:`InputError` naming ``where``."""
    try:
        stage = record["stage"]
        if stage == "reconstruct":
            net = network_config(record["network"], "spk2imgnet")
            return Spk2ImgNet(net, feature_config(net.name, record["features"]))
        if stage != "deblur":
            raise KeyError("stage")
        net = network_config(record["network"], "gkmnet")
        features = feature_config(net.name, record["features"])
        first = record["first_stage"]
        if first == FIRST_TFP:
            return ReconstructThenDeblur(GKMNet(net), None, features)
        first_net = network_config(first["network"], "spk2imgnet")
        return ReconstructThenDeblur(GKMNet(net), Spk2ImgNet(first_net, features), features)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(where, repr(record)[:120], "a cascade stage record",
                         f"it does not validate ({str(exc).splitlines()[0][:160]})") from None
