"""The torch device a command runs on: ``cpu`` or ``cuda[:i]``, checked once.

Training and inference both call :func:`resolve_device`; neither falls back silently
to another device.
"""

from __future__ import annotations

import torch

from spikesim.errors import InputError


def resolve_device(device) -> torch.device:
    """``cpu`` or ``cuda[:i]`` (a string or a :class:`torch.device`); a clear error when
    CUDA is asked for and absent."""
    device = str(device or "cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError("--device", device, "cpu (this torch build or machine has no CUDA)",
                             "use --device cpu, or install a CUDA build of torch on a GPU machine")
        return torch.device(device)
    if device != "cpu":
        raise InputError("--device", device, "cpu or cuda", "use --device cpu or --device cuda")
    return torch.device("cpu")
