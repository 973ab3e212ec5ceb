"""Atomic output: a file is either absent or complete, never half written.

Files are written to a temporary name in the destination directory and renamed
into place (``os.replace`` is atomic on POSIX within one file system).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path

from .errors import InputError, OutputExistsError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def check_writable(path, overwrite: bool = False, what: str = "output") -> Path:
    """Validate an output path before expensive work starts.

    Raises :class:`OutputExistsError` when ``path`` exists and ``overwrite`` is
    false, and :class:`InputError` when its directory cannot be created or written.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(path, what)
    check_writable_dir(path.parent if str(path.parent) else Path("."), what, shown=path)
    return path


def check_writable_dir(directory, what: str = "output", shown=None) -> Path:
    """Create ``directory`` (and parents) and check it can be written, before work starts.

    Raises :class:`InputError` naming ``what`` (the parameter) and ``shown`` (the value the
    user gave; default the directory) when it cannot be created or written.
    """
    directory = Path(directory)
    shown = str(directory if shown is None else shown)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(what, shown, "a path in a writable directory",
                         f"cannot create {directory}: {exc.strerror}") from None
    if not os.access(directory, os.W_OK):
        raise InputError(what, shown, "a path in a writable directory",
                         f"{directory} is not writable; choose another path")
    return directory


@contextlib.contextmanager
def atomic_path(path, overwrite: bool = True, what: str = "output"):
    """Yield a temporary path beside ``path``; rename it into place on success.

    On any exception the temporary file is removed and ``path`` is untouched.
    """
    path = check_writable(path, overwrite=overwrite, what=what)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part" + path.suffix,
                               dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)        # mkstemp makes 0600; give the usual permissions
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes(path, data: bytes, overwrite: bool = True, what: str = "output") -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path, overwrite, what) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def write_text(path, text: str, overwrite: bool = True, what: str = "output") -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"), overwrite, what)


def write_json(path, obj, overwrite: bool = True, what: str = "output") -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n", overwrite, what)


def write_yaml(path, obj, overwrite: bool = True, what: str = "output") -> Path:
    """Write ``obj`` (plain dicts, lists, numbers, strings) as YAML, atomically."""
    import yaml

    return write_text(path, yaml.safe_dump(obj, sort_keys=False), overwrite, what)


def save_npz(path, overwrite: bool = True, what: str = "output", compressed: bool = True,
             **arrays) -> Path:
    """Save plain arrays to ``path`` (.npz) atomically; loads with ``allow_pickle=False``."""
    import numpy as np

    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return write_bytes(path, buf.getvalue(), overwrite, what)


def file_sha256(path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks (memory stays bounded)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
