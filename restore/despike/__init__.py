"""DeSpike: end-to-end restoration of defocused spike streams (despike.md).

Public entry points: :func:`restore_despike` (inference), :func:`build_model`,
:data:`PRESETS`, :func:`train` (in :mod:`.train`). Importing this package imports torch.
"""

from .configs import PRESETS, ModelConfig, model_config, train_config
from .model import DeSpikeNet, build_model, count_parameters

__all__ = ["PRESETS", "ModelConfig", "model_config", "train_config", "DeSpikeNet",
           "build_model", "count_parameters", "restore_despike"]


def __getattr__(name):
    if name == "restore_despike":
        from .infer import restore_despike

        return restore_despike
    raise AttributeError(name)
