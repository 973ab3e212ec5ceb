"""Which weights file each network of an evaluation reads (``spikerestore eval --weights``).

An evaluation may hold several networks: ``despike`` (``despike-x8`` reads the same file)
and each learned cascade (``spk2imgnet``, ``spk2imgnet+gkmnet``, ``tfp+gkmnet``). Each
reads its bundled file unless ``--weights`` names another:

- ``--weights FILE``: the one network among ``--methods`` (refused when there is none or
  more than one: the file would be ambiguous);
- ``--weights NETWORK=FILE``, repeatable: that network's file (``despike-x8=`` is
  ``despike=``); every other network keeps its bundled file.

:func:`resolve_weights` turns the option's values into ``{network: Path}``;
:func:`weights_for` gives the file of one method (``None``: its bundled one);
:func:`weights_record` names every network's file with its sha256 for the results.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from spikesim.errors import InputError

from . import settings
from .methods import METHODS, is_learned_cascade, is_network


def network_of(method: str) -> str:
    """The weights a network method reads: ``despike`` for ``despike`` and ``despike-x8``,
    the method itself for a learned cascade."""
    return "despike" if method in settings.NETWORK_METHODS else method


def _networks(specs) -> list[str]:
    return sorted({network_of(s.method) for s in specs if is_network(s.method)})


def check_weights_target(specs, weights) -> None:
    """Refuse one bare ``--weights FILE`` that no method or more than one network would
    read: the file serves the one network in ``specs``."""
    if weights is None:
        return
    networks = _networks(specs)
    if len(networks) == 1:
        return
    names = ", ".join(s.label for s in specs)
    if not networks:
        raise InputError("--weights", str(weights), f"a network among --methods ({names})",
                         "add the network to --methods (despike, despike-x8 or a learned "
                         "cascade) or leave --weights out")
    raise InputError("--weights", str(weights), "one network's weights, not those of "
                     f"{' and '.join(networks)} at once",
                     "name the network it is for: --weights " + networks[0] + "=FILE "
                     "(repeatable; the others keep their bundled weights)")


def _split(value) -> tuple[str | None, Path]:
    """``"tfp+gkmnet=run/best.pt"`` -> ``("tfp+gkmnet", Path)``; a plain path -> ``(None,
    Path)``. A prefix that is a method but no network is refused."""
    text = str(value)
    name, sep, path = text.partition("=")
    if not sep or name not in METHODS:
        return None, Path(text)
    if not is_network(name):
        raise InputError("--weights", text, "NETWORK=FILE for a network method",
                         f"{name} reads no weights; name despike or a learned cascade")
    if not path:
        raise InputError("--weights", text, "NETWORK=FILE", f"give the file after {name}=")
    return network_of(name), Path(path)


def resolve_weights(specs, values) -> dict[str, Path]:
    """``{network: file}`` from ``--weights`` values (``FILE`` or ``NETWORK=FILE``).

    Raises a one-line :class:`InputError` for a bare file that is ambiguous (see
    :func:`check_weights_target`), a bare file beside named ones, a network named twice,
    or a named network that is not among ``specs``.
    """
    pairs = [_split(v) for v in (values or ())]
    bare = [p for name, p in pairs if name is None]
    if bare and len(pairs) > 1:
        raise InputError("--weights", str(bare[0]), "NETWORK=FILE when --weights is given "
                         "more than once", "name the network of every file, e.g. "
                         f"--weights despike={bare[0]}")
    if bare:
        check_weights_target(specs, bare[0])
        return {_networks(specs)[0]: bare[0]}
    wanted, out = _networks(specs), {}
    for name, path in pairs:
        if name in out:
            raise InputError("--weights", f"{name}={path}", "one file per network",
                             f"{name} is already given {out[name]}; drop one")
        if name not in wanted:
            names = ", ".join(s.label for s in specs)
            raise InputError("--weights", f"{name}={path}", f"a network among --methods "
                             f"({names})", f"add {name} to --methods or drop this --weights")
        out[name] = path
    return out


def weights_for(weights, method: str):
    """The weights file ``method`` reads: ``weights`` is ``None`` (every network its
    bundled file), one path (the single network's) or ``{network: path}``; ``None`` means
    the method's bundled file."""
    if weights is None or not is_network(method):
        return None
    if isinstance(weights, Mapping):
        return weights.get(network_of(method))
    return weights


def bundled_file(network: str) -> Path:
    """The bundled weights file of a network (which may be absent)."""
    if is_learned_cascade(network):
        from .cascades.weights import bundled_path

        return bundled_path(network)
    from .despike.weights import bundled_weights_path

    return bundled_weights_path()


def weights_record(specs, weights) -> dict[str, str]:
    """``{network: "PATH (sha256 0123456789ab)"}`` of every network in ``specs``: the file
    each read, bundled or given."""
    from .despike.weights import weights_identity

    out = {}
    for name in _networks(specs):
        given = weights_for(weights, name)
        out[name] = weights_identity(given if given is not None else bundled_file(name))
    return out


def check_weights_files(specs, weights, device: str = "cpu") -> None:
    """Load every network's weights once before any work, so a missing bundled file, a
    file of another kind or of another cascade's stage is one line at the start."""
    for name in _networks(specs):
        given = weights_for(weights, name)
        if is_learned_cascade(name):
            from .cascades.infer import cascade_model

            cascade_model(name, given, device)
        else:
            from .despike.weights import read_weights

            read_weights(given if given is not None else bundled_file(name))
