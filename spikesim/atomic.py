"""Atomic output: a file is either absent or complete, never half written.

Files are written to a temporary name in the destination directory,
``.NAME.<host>-<pid>.<random>.part<suffix>``, and renamed into place (``os.replace`` is atomic on
POSIX within one file system). A full disk is the toolkit's one-line error naming the
output and the space left (:class:`DiskFullError`), with nothing left under the final name.
The temporary files of a writer that was killed are removed by the next write of the same
output (:func:`remove_leftovers`).
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import shutil
import tempfile
from pathlib import Path

from .errors import InputError, OutputExistsError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()
LOCK = ".lock"                  # held by the one run writing an output directory (writer_lock)
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class DiskFullError(InputError):
    """An output that did not fit: the disk (or quota) is full. Nothing was left under
    the output's final name."""


def _free_space(directory: Path) -> str:
    """Free space of ``directory``'s file system, e.g. ``"12.0 MiB"`` (``"unknown"``)."""
    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        return "unknown"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if free < 1024 or unit == "GiB":
            return f"{free:.0f} {unit}" if unit == "B" else f"{free:.1f} {unit}"
        free /= 1024.0
    return "unknown"   # pragma: no cover


def disk_full_error(exc: OSError, path, what: str = "output") -> DiskFullError | None:
    """The toolkit's error for ``exc`` when it says the disk is full, else ``None``."""
    if not isinstance(exc, OSError) or exc.errno not in _DISK_FULL:
        return None
    path = Path(path)
    return DiskFullError(what, f"{path} ({exc.strerror.lower() if exc.strerror else 'disk full'};"
                         f" {_free_space(path.parent)} free there)",
                         "room on the disk for the output",
                         "free some space or write to another disk; nothing was left under "
                         "the output's name")


def check_writable(path, overwrite: bool = False, what: str = "output") -> Path:
    """Validate an output path before expensive work starts.

    Raises :class:`InputError` when ``path`` is an existing directory (a file name is
    needed) or its directory cannot be created or written, and
    :class:`OutputExistsError` when ``path`` exists and ``overwrite`` is false.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(what, f"{path} (an existing directory)", "the path of a file",
                         f"name the file, e.g. {path / 'out'}{''.join(path.suffixes)}")
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

    On any exception the temporary file is removed and ``path`` is untouched; a full
    disk becomes :class:`DiskFullError` naming ``path`` and the space left.
    """
    path = check_writable(path, overwrite=overwrite, what=what)
    remove_leftovers(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=part_prefix(path), suffix=".part" + path.suffix,
                                   dir=path.parent)
    except OSError as exc:
        raise disk_full_error(exc, path, what) or exc from None
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)        # mkstemp makes 0600; give the usual permissions
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        full = disk_full_error(exc, path, what) if isinstance(exc, OSError) else None
        if full is not None:
            raise full from None
        raise


def _host_tag() -> str:
    import hashlib
    import socket

    return hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:6]


_HOST = _host_tag()


def part_prefix(path) -> str:
    """The name start of :func:`atomic_path`'s temporary files for ``path``:
    ``.NAME.<host>-<pid>.`` (``host``: 6 hex digits of the host name's sha1), so a later
    run can tell the leftovers of a killed writer from a live writer's file."""
    return f".{Path(path).name}.{_HOST}-{os.getpid()}."


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:          # someone else's live process
        return True
    return True


def remove_leftovers(path) -> list[Path]:
    """Remove the temporary files a killed writer of ``path`` left beside it; returns them.

    Only names of :func:`atomic_path`'s own pattern for this very output
    (``.NAME.<host>-<pid>.<random>.part<suffix>``) written on this host by a process that
    no longer runs are removed: a live writer's file, another host's (a shared file
    system) or anything else is left alone.
    """
    import re

    path = Path(path)
    pattern = re.compile(re.escape(f".{path.name}.") + r"([0-9a-f]{6})-(\d+)\.[^/]+\.part"
                         + re.escape(path.suffix) + "$")
    removed = []
    try:
        names = os.listdir(path.parent if str(path.parent) else ".")
    except OSError:
        return removed
    for name in names:
        match = pattern.match(name)
        if not match or match.group(1) != _HOST or int(match.group(2)) == os.getpid():
            continue
        if not _pid_alive(int(match.group(2))):
            leftover = path.parent / name
            with contextlib.suppress(FileNotFoundError):
                if leftover.is_dir() and not leftover.is_symlink():   # a staging directory
                    shutil.rmtree(leftover)
                else:
                    os.unlink(leftover)
                removed.append(leftover)
    return removed


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


@contextlib.contextmanager
def writer_lock(out_dir, what: str = "output"):
    """Hold ``out_dir/.lock`` (``fcntl.flock``) while a run writes the directory: one
    writer at a time. A second run is refused with the holder's pid, host, start time and
    command. The directory is created if needed (and removed again, when this run
    created it and leaves it empty); the lock file is removed on release."""
    import fcntl
    import socket
    import sys
    import time

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(what, str(out_dir), "a directory", "choose a directory path")
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / LOCK
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 4096).decode("utf-8", "replace").strip() or "another run"
            os.close(fd)
            raise InputError(what, f"{out_dir} (being written by {holder})",
                             "a directory no other run is writing",
                             "wait for that run to finish or stop it, or choose another -o; "
                             "one writer at a time") from None
        except OSError as exc:             # a file system without locks (some NFS mounts)
            if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP):
                os.close(fd)
                raise
            import logging

            logging.getLogger(__name__).warning("%s: the file system does not lock files; "
                                                "make sure no other run writes here", out_dir)
            break
        try:                               # the file may have been released and removed
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    command = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))
    info = (f"pid {os.getpid()} on {socket.gethostname()} since "
            f"{time.strftime('%Y-%m-%dT%H:%M:%S')}: {command[:200]}")
    with contextlib.suppress(OSError):     # the holder's name is a courtesy: a full disk
        os.ftruncate(fd, 0)                # must not leave the lock held or the file open
        os.write(fd, info.encode("utf-8", "replace"))
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)
        if created:
            with contextlib.suppress(OSError):
                out_dir.rmdir()            # only when this run left it empty
