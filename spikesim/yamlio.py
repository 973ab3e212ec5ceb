"""The one YAML reader of the toolkit: configs, ``.dat.yaml`` sidecars, ``fields.yaml``.

``yaml.safe_load`` alone builds no objects, but it still accepts what a person never
means and what an attacker sends:

- bytes that are not UTF-8 (a ``UnicodeDecodeError`` traceback);
- a key written twice (the last one silently wins);
- anchors and aliases nested into a "billion laughs" (370 bytes that expand into
  gigabytes once anything walks the result).

:func:`read_yaml` refuses each with a one-line :class:`~spikesim.errors.ConfigError`
naming the file, what was found and the fix. Configs need no aliases; a few are allowed
(:data:`MAX_ALIASES`), so the largest expansion a document can reach stays small.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from .errors import ConfigError

MAX_ALIASES = 32                 # aliases (*name) per document; expansion <= 3**10 nodes
MAX_BYTES = 16 * 2**20           # a config or sidecar is a few kB


class _StrictSafeLoader(yaml.SafeLoader):
    """``SafeLoader`` that counts aliases and refuses duplicate keys."""

    def __init__(self, stream):
        super().__init__(stream)
        self.aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                event = self.peek_event()
                raise yaml.constructor.ConstructorError(
                    None, None, f"more than {MAX_ALIASES} aliases (*name): refused, a YAML "
                    "alias bomb expands without bound", event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                continue                    # the base class reports unhashable keys
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark,
                    f"duplicate key {key!r} (first at line {seen[key] + 1})",
                    key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text, name: str = "YAML"):
    """The document in ``text`` (``str`` or UTF-8 ``bytes``), strictly; ``name`` names it
    in errors. Returns plain Python data (dict, list, str, int, float, bool, None)."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(name, f"a byte 0x{text[exc.start]:02x} at offset {exc.start}",
                              "UTF-8 text", "save the file as UTF-8") from None
    loader = None
    try:
        loader = _StrictSafeLoader(text)        # the reader already checks characters
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise ConfigError(name, _describe(exc), "a well-formed YAML document (no duplicate "
                          "keys, at most a few aliases)", "fix the syntax there") from None
    except RecursionError:
        raise ConfigError(name, "nesting too deep", "a YAML document of ordinary depth",
                          "flatten the document") from None
    finally:
        if loader is not None:
            loader.dispose()


def _describe(exc: yaml.YAMLError) -> str:
    """``"duplicate key 'a' (first at line 1) at line 2, column 1"`` from a YAML error."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return " ".join(f"{problem}{where}".split())[:300]


def read_yaml(path, what: str = "YAML file"):
    """The YAML document of the file ``path``, strictly (see :func:`parse_yaml`).

    A missing or oversized file is a :class:`ConfigError` naming ``what`` and the path.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(what, str(path), "an existing YAML file", "check the path")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ConfigError(what, f"{path} ({size} bytes)",
                          f"a YAML file of at most {MAX_BYTES // 2**20} MiB",
                          "give the configuration file, not a data file")
    return parse_yaml(path.read_bytes(), str(path))


def read_yaml_mapping_file(path, what: str = "YAML file") -> dict:
    """Like :func:`read_yaml`, for a document that must be a mapping (empty: ``{}``)."""
    data = read_yaml(path, what)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), type(data).__name__, "a YAML mapping of keys",
                          "write key: value pairs")
    return data
