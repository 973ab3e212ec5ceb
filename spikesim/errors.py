"""Typed errors of the toolkit.

Every error a user can cause names the parameter, the value it got, what was
expected and how to fix it. The command-line tools turn any :class:`ToolkitError`
into exit status 2 and a one-line message; a traceback is shown only with ``-v``.
"""

from __future__ import annotations


class ToolkitError(Exception):
    """Base class of the errors the toolkit raises on purpose."""


class InputError(ToolkitError, ValueError):
    """Bad user input: a parameter, file or configuration value that cannot be used.

    Parameters
    ----------
    param : str
        The parameter, option, file or config key path (``"lens.f_number"``).
    value : object
        The offending value (shown with ``repr`` unless already a string).
    expected : str
        What would have been accepted.
    fix : str, optional
        What the user should do.
    """

    def __init__(self, param: str, value, expected: str, fix: str = ""):
        self.param = param
        self.value = value
        self.expected = expected
        self.fix = fix
        shown = value if isinstance(value, str) else repr(value)
        message = f"{param}: got {shown}; expected {expected}"
        if fix:
            message += f". Fix: {fix}"
        super().__init__(message)

    def __reduce__(self):
        """Rebuilt from its four fields, so the error survives a worker process (pickle)."""
        return InputError._rebuild, (type(self), self.param, self.value, self.expected, self.fix)

    @staticmethod
    def _rebuild(cls, param, value, expected, fix):
        err = InputError.__new__(cls)
        InputError.__init__(err, param, value, expected, fix)
        return err


class StreamFormatError(InputError):
    """A spike file that does not decode with the requested layout."""


class ConfigError(InputError):
    """A configuration key or value that does not validate."""


class OutputExistsError(InputError):
    """An output that exists and would be clobbered without ``--overwrite``."""

    def __init__(self, path, what: str = "output"):
        super().__init__(
            str(what), str(path), "a path that does not exist yet",
            "choose another output path or pass --overwrite",
        )
