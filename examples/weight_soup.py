"""Interpolate two DeSpike weights files: ``(1 - alpha) * A + alpha * B`` (a weight soup).

    python examples/weight_soup.py A.pt B.pt ALPHA OUT.pt

The two files must have the same architecture except that ``A`` may have the calibration
flag and ``B`` not. ``B`` is then grown to ``A``'s (:func:`restore.despike.grow.grow`: the
flag's input channel with zero weights), so ``A`` may be the natural fine-tune and ``B``
the procedural weights it started from. Every other difference is refused, depths too:
growth would append blocks whose weights are random apart from their zeroed outputs, and
a soup would mix them in. Tried in issue 17 (session 16, experiments/README.md, "Natural photographs,
session 16"): α 0.25 and 0.5 each gained on the procedural development set and lost on
the natural one.
"""

from __future__ import annotations

import sys
from pathlib import Path

from restore.despike.configs import config_to_dict, differing_keys
from restore.despike.grow import grow
from restore.despike.model import DeSpikeNet
from restore.despike.weights import load_model, save_torch, weights_payload
from spikesim.errors import InputError


def soup(path_a, path_b, alpha: float) -> DeSpikeNet:
    """``A``'s network holding ``(1 - alpha) * A + alpha * grown(B)``; alpha in [0, 1]."""
    if not 0.0 <= alpha <= 1.0:
        raise InputError("ALPHA", alpha, "a number in [0, 1]", "use e.g. 0.25")
    net, b_own = load_model(path_a), load_model(path_b)
    ca, cb = config_to_dict(net.config), config_to_dict(b_own.config)
    keys = differing_keys(ca, cb, ignore=("name", "calibration_flag"))
    if keys or (cb["calibration_flag"] and not ca["calibration_flag"]):
        what = f"differs in {', '.join(keys)}" if keys else "has a calibration flag A lacks"
        raise InputError("B", str(path_b), "weights of A's architecture (the calibration "
                         "flag may be A's alone)", f"it {what}; soup weights of one architecture")
    b = DeSpikeNet(net.config)
    grow(b, b_own, where=str(path_b))
    sa, sb = net.state_dict(), b.state_dict()
    net.load_state_dict({k: (1 - alpha) * v + alpha * sb[k] if v.is_floating_point() else v
                         for k, v in sa.items()})
    return net


def main(argv) -> int:
    if len(argv) != 4:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    a, b, alpha, out = argv
    try:
        value = float(alpha)
    except ValueError:
        raise InputError("ALPHA", alpha, "a number in [0, 1]", "use e.g. 0.25") from None
    net = soup(a, b, value)
    save_torch(weights_payload(net, {"soup": {"a": a, "b": b, "alpha": value}}), Path(out))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
