"""What ``spikerestore models`` lists of the learned cascades: every network preset and
every cascade method, with parameter counts (computed from the configurations; a
method's count is its CPU networks', trainable and frozen together)."""

from __future__ import annotations

from restore import settings
from restore.despike.model import count_parameters

from .configs import CPU_TARGETS, PRESETS, PUBLISHED_PARAMETERS, feature_config
from .gkmnet import GKMNet
from .spk2imgnet import Spk2ImgNet
from .weights import bundled_path

#: the CPU presets that make each method
METHOD_NETWORKS = {"spk2imgnet": ("spk2imgnet-cpu",),
                   "spk2imgnet+gkmnet": ("spk2imgnet-cpu", "gkmnet-cpu"),
                   "tfp+gkmnet": ("gkmnet-cpu",)}
#: the input the bundled despike-natural gets (natural recipe: the calibration flag)
FEATURES = {"calibration_flag": True}


def preset_parameters(name: str) -> int:
    """Parameters of a network preset (with the calibration-flag input of :data:`FEATURES`
    for Spk2ImgNet)."""
    cfg = PRESETS[name]
    if cfg.architecture == "spk2imgnet":
        return count_parameters(Spk2ImgNet(cfg, feature_config(cfg.name, FEATURES)))
    return count_parameters(GKMNet(cfg))


def cascade_rows() -> list[dict]:
    """One row per network preset and per cascade method."""
    rows = []
    for name, cfg in PRESETS.items():
        target = PUBLISHED_PARAMETERS.get(name) or CPU_TARGETS[name]
        rows.append({"name": name, "parameters": preset_parameters(name), "target": target,
                     "description": f"{cfg.architecture}-style network, "
                                    + ("published size" if name in PUBLISHED_PARAMETERS
                                       else "CPU size") + f" (target {target:,})",
                     "bundled_weights": None})
    for method in settings.LEARNED_CASCADE_METHODS:
        path = bundled_path(method)
        nets = METHOD_NETWORKS[method]
        rows.append({"name": method, "method": method,
                     "parameters": sum(preset_parameters(n) for n in nets),
                     "description": "method: " + " then ".join(nets),
                     "bundled_weights": str(path) if path.is_file() else None})
    return rows
