"""Options shared by every command, defined once, and the error handling of the tools.

Nothing here imports numpy, numba or torch: ``--help`` must stay instant.
"""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path

import click

from spikesim.errors import InputError, ToolkitError

log = logging.getLogger("spikes")


class LazyGroup(click.Group):
    """A click group whose commands are imported only when used.

    ``lazy_commands`` maps a command name to ``"module:attribute"``.
    """

    def __init__(self, *args, lazy_commands=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self.lazy_commands))

    def get_command(self, ctx, name):
        if name in self.lazy_commands:
            module_name, attr = self.lazy_commands[name].split(":")
            return getattr(importlib.import_module(module_name), attr)
        return super().get_command(ctx, name)

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise OneLineUsageError.of(exc) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:          # a subcommand's options or arguments
            raise OneLineUsageError.of(exc) from None
        except ToolkitError as exc:
            _fail(ctx, exc)
        except click.exceptions.Exit:
            raise
        except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
            _fail(ctx, exc)
        except OSError as exc:                   # a full disk outside the atomic writers
            from spikesim.atomic import disk_full_error

            full = disk_full_error(exc, exc.filename or ".")
            if full is None:
                raise
            _fail(ctx, full)


class OneLineUsageError(click.UsageError):
    """A click usage error printed as the toolkit prints every error: one line
    ``Error: ...`` naming the command's ``--help`` (click prints three: Usage, Try, Error)."""

    @classmethod
    def of(cls, exc: click.UsageError) -> "OneLineUsageError":
        if isinstance(exc, cls):
            return exc
        return cls(exc.format_message(), exc.ctx)

    def show(self, file=None) -> None:
        where = f" (see '{self.ctx.command_path} --help')" if self.ctx is not None else ""
        message = " ".join(self.format_message().split())
        click.echo(f"Error: {message}{where}", file=file, err=file is None)


def _fail(ctx, exc):
    """Print one line (a traceback with -v) and exit with status 2."""
    verbose = (ctx.find_root().meta.get("verbosity", 0) or 0) > 0
    if verbose:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, OSError) and not isinstance(exc, ToolkitError):
        message = f"{exc.filename}: {exc.strerror}"
    else:
        message = str(exc)
    click.echo(f"Error: {message}", err=True)
    ctx.exit(2)


def _set_verbosity(ctx, param, value):
    if value is None:
        return value
    root = ctx.find_root()
    current = root.meta.get("verbosity", 0)
    delta = value if param.name == "verbose" else -value
    root.meta["verbosity"] = current + delta
    level = {-2: logging.ERROR, -1: logging.WARNING, 0: logging.INFO}.get(
        root.meta["verbosity"], logging.DEBUG if root.meta["verbosity"] > 0 else logging.ERROR)
    logging.basicConfig(format="%(message)s", level=level, force=True)
    return value


def verbosity_options(f):
    """``-v/--verbose`` (repeatable; tracebacks on error) and ``-q/--quiet``."""
    f = click.option("-q", "--quiet", count=True, expose_value=False, is_eager=True,
                     callback=_set_verbosity, help="Less output (repeatable).")(f)
    f = click.option("-v", "--verbose", count=True, expose_value=False, is_eager=True,
                     callback=_set_verbosity,
                     help="More output (repeatable); show tracebacks on error.")(f)
    return f


def verbosity(ctx=None) -> int:
    """The verbosity level set by -v/-q (0 by default)."""
    ctx = ctx or click.get_current_context(silent=True)
    return ctx.find_root().meta.get("verbosity", 0) if ctx else 0


def quiet_report(*written) -> bool:
    """With ``-q`` print only ``wrote PATH`` for each path ``written`` (``-qq``: nothing)
    and return True, so the command skips its usual report; False without ``-q``."""
    if verbosity() >= 0:
        return False
    for path in written if verbosity() == -1 else ():
        click.echo(f"wrote {path}")
    return True


def show_progress() -> bool:
    """Whether progress bars should be shown (not with -q)."""
    return verbosity() >= 0


overwrite_option = click.option("--overwrite", is_flag=True,
                                help="Replace existing outputs (never done without it).")
resume_option = click.option("--resume", is_flag=True,
                             help="Continue an interrupted job in the same output directory.")
json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print machine-readable JSON instead of text.")
seed_option = click.option("--seed", type=int, default=0, show_default=True,
                           help="Seed of all randomness (results are reproducible from it).")
camera_maps_option = click.option(
    "--camera-maps", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Simulate the camera of this calibration file (`spikecal fit`): its gain, dark "
         "offset, dead and hot pixels, responsivity and dead time; --camera gives the rest.")


class SizeType(click.ParamType):
    """A resolution written ``WxH`` (``400x250``: 400 wide, 250 high) -> ``(W, H)``."""

    name = "WxH"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        text = str(value).lower().replace("×", "x")
        parts = text.split("x")
        try:
            width, height = (int(p) for p in parts)
            if width <= 0 or height <= 0:
                raise ValueError
        except ValueError:
            self.fail(f"{value!r} is not a resolution; write it WxH, e.g. 400x250", param, ctx)
        if (width * height) % 8:
            self.fail(f"{value!r}: W*H = {width * height} is not a multiple of 8, which the "
                      "bit-packed .dat format needs", param, ctx)
        return (width, height)


SIZE = SizeType()


def size_option(default=None, help_text="Frame size WxH (400x250: 400 wide, 250 high)."):
    """``--size WxH``; default ``None`` means the file's sidecar or the camera profile."""
    return click.option("--size", type=SIZE, default=default, help=help_text)


def parse_float_list(value: str, param: str) -> list[float]:
    """Parse ``"0,153,335"`` into floats; an :class:`InputError` names the bad item."""
    items = [v.strip() for v in str(value).split(",") if v.strip()]
    out = []
    for item in items:
        try:
            out.append(float(item))
        except ValueError:
            raise InputError(param, item, "comma-separated numbers, e.g. 0,153,335",
                             f"replace {item!r} with a number") from None
    if not out:
        raise InputError(param, value, "at least one number", "give e.g. 0,153,335")
    return out


def given_on_command_line(name: str) -> bool:
    """Whether the current command's option ``name`` was given on the command line (not
    left at its default)."""
    from click.core import ParameterSource

    return click.get_current_context().get_parameter_source(name) == ParameterSource.COMMANDLINE


def echo_json(obj) -> None:
    """Print ``obj`` as JSON on stdout."""
    import json

    click.echo(json.dumps(obj, indent=2))


def common_group_options(f):
    """Options every group takes."""
    f = verbosity_options(f)
    f = click.version_option(package_name=None, version=_version())(f)
    return f


def _version() -> str:
    from spikesim import __version__

    return __version__


def progress(iterable=None, length=None, label=""):
    """A click progress bar on stderr, hidden with -q or when stderr is not a terminal."""
    return click.progressbar(iterable, length=length, label=label, file=sys.stderr,
                             show_pos=True, show_eta=True,
                             hidden=not (show_progress() and sys.stderr.isatty()))
