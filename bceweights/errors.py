"""The one exception family.

Every error a user can cause by their data or options is a :class:`BceWeightsError`; the CLI turns it
into a single ``Error: ...`` line on stderr, exit code 2 for a :class:`UsageError` (how the command was
called) and 1 for the rest (the data). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import re


class BceWeightsError(Exception):
    """Base class: a problem with the user's data, files or options.

    ``hint`` is a short suggestion of how to fix it, appended to the message.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message} (hint: {hint})")

    def __reduce__(self):
        # Rebuilt by keyword on the other side of a process pool or a Dask cluster (the default
        # pickling passes ``args`` positionally, which loses ``hint`` and breaks subclasses).
        return (_rebuild, (type(self), self.message, self.hint))


def _rebuild(cls, message: str, hint: str | None) -> BceWeightsError:
    error = cls.__new__(cls)
    BceWeightsError.__init__(error, message, hint=hint)
    return error


class InputError(BceWeightsError):
    """A label file that cannot be read or holds values that are not labels."""


class OptionsError(BceWeightsError):
    """Options that do not fit the data (a column that does not exist, a bad threshold)."""


class UsageError(OptionsError):
    """A mistake in how the command was called: an unknown ``--format``, options that conflict, an option
    the chosen reader does not read. The CLI exits with code 2, as for any usage error."""


class MissingPathError(UsageError, InputError):
    """A path the user named does not exist (a label file, a glob matching nothing, a weights file, a
    classes file). A usage mistake (exit 2), and still an :class:`InputError` for code that catches
    those."""


class OutputError(BceWeightsError):
    """An output path that cannot be written (a directory, a missing or read-only folder)."""


class ZeroPositivesError(BceWeightsError):
    """A class has no positive example and the user asked for this to be an error."""


class CheckFailed(BceWeightsError):
    """A validation check of the weights failed."""


class MissingDependency(BceWeightsError):
    """An optional package needed by the requested feature is not installed."""

    def __init__(self, package: str, feature: str, extra: str | None = None) -> None:
        install = f'pip install "bceweights[{extra}]"' if extra else f"pip install {package}"
        super().__init__(f"{feature} needs the optional package '{package}'", hint=install)


def require(module: str, *, feature: str, extra: str | None = None, package: str | None = None):
    """Import an optional module lazily, failing with an install hint instead of an ImportError."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(package or module.split(".")[0], feature, extra) from exc


# Packages whose exceptions, raised while parsing a user's file, mean "this file is bad", not "bug".
_READER_PACKAGES = frozenset({"pyarrow", "PIL", "tifffile", "imagecodecs", "nibabel", "zipfile", "zlib",
                              "gzip", "bz2", "lzma", "struct", "pickle", "csv", "_csv", "numpy"})


def is_file_error(exc: BaseException) -> bool:
    """Whether ``exc`` is what a parser raises on a bad or unreadable file (OSError, EOFError,
    ValueError — numpy's and pyarrow's included — or an error class of a reader package)."""
    if isinstance(exc, (OSError, EOFError, ValueError)):
        return True
    return any(cls.__module__.split(".")[0] in _READER_PACKAGES for cls in type(exc).__mro__[:-2])


def describe(exc: BaseException) -> str:
    """The first line of an exception's message, short enough for a one-line error."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror and not exc.filename:
        first = exc.strerror
    return first if len(first) <= 200 else first[:197] + "..."


#: Built-in exceptions that parsers (tifffile, Pillow, NumPy's ``.npy`` header) also raise on damaged
#: bytes: pass them as ``reader_boundary(..., also=PARSER_ERRORS)`` around such a parser.
PARSER_ERRORS: tuple[type[BaseException], ...] = (
    IndexError, KeyError, TypeError, AttributeError, ZeroDivisionError, OverflowError, SyntaxError, RuntimeError,
)


def reader_boundary(path, what: str = "the file", *, also: tuple[type[BaseException], ...] = ()):
    """Context manager for the edge between bceweights and a third-party parser: an exception that a
    bad file raises there (see :func:`is_file_error`, and the types in ``also``) becomes an
    :class:`InputError` naming ``path``, so the user gets one line, not a traceback (``--debug`` still
    shows the cause)."""
    import contextlib

    @contextlib.contextmanager
    def boundary():
        try:
            yield
        except BceWeightsError:
            raise
        except Exception as exc:
            if not (is_file_error(exc) or isinstance(exc, also)):
                raise
            raise InputError(
                f"{path}: cannot read {what} ({type(exc).__name__}: {describe(exc)})",
                hint="check that the file is complete and in the expected format; --debug shows where "
                "it failed",
            ) from exc

    return boundary()


# C0 and C1 control characters, DEL, and the bidirectional overrides that reorder what a terminal shows.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` with every terminal control character written as an escape (ESC as ``\\x1b``, a tab as
    ``\\t``): a column name, a value or a path from a user's file is shown, never obeyed, by the
    terminal (an escape sequence in a CSV header could recolour, retitle or clear it)."""
    return _CONTROL.sub(_escape_control, text)


def _escape_control(match: re.Match[str]) -> str:
    char = match.group()
    return {"\t": "\\t", "\n": "\\n", "\r": "\\r"}.get(char) or (
        f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")
