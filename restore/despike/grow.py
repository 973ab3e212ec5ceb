"""Growing a network from smaller weights so that it starts from their exact function.

A training config's ``init`` names a weights file; :func:`grow` copies it into the model
being trained, which may differ from the file's architecture in two ways only:

- **deeper levels** (``depths``): each level's first blocks take the file's blocks; each
  appended transformer block gets zero output projections (MDTA ``proj`` and GDFN
  ``out``), so with its residual it is exactly the identity;
- **the calibration flag** (``calibration_flag``, added): the shared encoder's first
  convolution gets one more input channel whose weights are zero, so the flag changes
  nothing until training moves them.

Either way the grown network computes the file's function at step 0 (the tests check the
outputs are equal). Every other configuration key must be equal.
"""

from __future__ import annotations

import torch

from spikesim.errors import InputError

from .configs import config_to_dict, differing_keys
from .model import DeSpikeNet

FLAG_INPUT = 1          # index of the flag channel among the encoder's inputs
ENCODER_INPUT = "encoder.c1.weight"


def grow(model: DeSpikeNet, start: DeSpikeNet, where: str = "weights") -> None:
    """Copy ``start``'s parameters into ``model`` (module doc); an :class:`InputError`
    naming ``where`` when the two architectures differ otherwise."""
    a, b = config_to_dict(model.config), config_to_dict(start.config)
    keys = differing_keys(a, b, ignore=("name", "depths", "calibration_flag"))
    levels = model.config.used_levels                          # module j is level levels[j]
    deeper = all(a["depths"][lvl] >= b["depths"][lvl] for lvl in levels)
    flag_ok = a["calibration_flag"] or not b["calibration_flag"]
    if keys or not deeper or not flag_ok:
        what = (f"differs in {', '.join(keys)}" if keys else
                f"has depths {b['depths']}, deeper than {a['depths']} at some level"
                if not deeper else "has a calibration flag this model lacks")
        raise InputError("init", where, f"weights of this architecture ({a['name']}, depths "
                         f"{a['depths']}) or of a shallower one of the same widths, with or "
                         "without the calibration flag",
                         f"the file {what}; point `init` at matching weights")
    appended = [blk for j, lvl in enumerate(levels)
                for blk in model.levels[j].blocks[b["depths"][lvl]:]]
    new = {id(p) for blk in appended for p in blk.parameters()}
    own = dict(model.named_parameters())
    state = start.state_dict()
    if a["calibration_flag"] and not b["calibration_flag"]:
        state[ENCODER_INPUT] = _with_flag_channel(state[ENCODER_INPUT], own[ENCODER_INPUT])
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(k not in own or id(own[k]) not in new for k in missing):
        raise InputError("init", where, "parameters matching the stored configuration",
                         "the file's tensors do not fit the model; retrain the first stage")
    with torch.no_grad():
        for blk in appended:
            for layer in (blk.attn.proj, blk.ffn.out):
                layer.weight.zero_()
                layer.bias.zero_()


def _with_flag_channel(weight: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The encoder's first convolution ``(Ce, 1, k, k)`` with a zero flag channel appended:
    ``(Ce, 2, k, k)``, the shape of ``like``."""
    grown = torch.zeros_like(like)
    grown[:, :FLAG_INPUT] = weight
    return grown
