"""Sources of sample content, and the registry that names them.

``SOURCES`` maps a config's ``source`` to its :class:`~.base.Source`; ``DatasetConfig``
accepts exactly the names it holds. A new source is one module defining a ``SOURCE``
record (see :class:`~.base.Source` and :mod:`.images` for an example) and one line here.
"""

from __future__ import annotations

from ...errors import ConfigError
from . import dpdd, images, mixed, procedural
from .base import Content, Source

SOURCES: dict[str, Source] = {
    "procedural": procedural.SOURCE,
    "images": images.SOURCE,
    "dpdd": dpdd.SOURCE,
    "mixed": mixed.SOURCE,
}


def register_source(name: str, source: Source) -> None:
    """Add ``source`` to the registry as ``name`` (a name not taken).

    A source registered at run time is known to this process only: generate with it
    in-process (``workers=1``), or register it in a module the worker processes import.
    """
    if not isinstance(source, Source):
        raise TypeError(f"register_source needs a Source record, got {type(source).__name__}")
    if not name or name in SOURCES:
        raise ConfigError("source", name, "a new, non-empty source name",
                          "taken: " + ", ".join(SOURCES))
    SOURCES[name] = source


__all__ = ["SOURCES", "Content", "Source", "register_source"]
