"""The torch device a command runs on (``cpu`` or ``cuda[:i]``, checked once) and the
memory layout its work uses there.

Training and inference both call :func:`resolve_device`; neither falls back silently
to another device. On a CPU the networks' depthwise convolutions run about 2x faster in
channels-last layout (oneDNN; bench/bench_despike_paths.py): inference's weights take it
(:func:`inference_layout`, every network of the toolkit) and the kernel bank's and the
feed-forward's convolutions take it inside every pass, training's too
(:func:`cpu_channels_last`). The values are the same to rounding. A GPU keeps the default
layout (not measured there).
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


# channels-last inside a pass on a CPU (cpu_channels_last); bench_despike_paths.py turns it
# off to time the reference
CPU_CHANNELS_LAST = True


def cpu_channels_last(x: torch.Tensor) -> torch.Tensor:
    """``x`` in channels-last memory format on a CPU (module doc); unchanged elsewhere."""
    if CPU_CHANNELS_LAST and x.device.type == "cpu":
        return x.contiguous(memory_format=torch.channels_last)
    return x


def inference_layout(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` (in place) with channels-last weights when it is on a CPU (module doc)."""
    if next(model.parameters()).device.type == "cpu":
        model.to(memory_format=torch.channels_last)
    return model
