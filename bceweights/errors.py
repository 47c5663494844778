"""The one exception family.

Every error a user can cause by their data or options is a :class:`BceWeightsError`; the CLI turns it
into a single ``Error: ...`` line on stderr and exit code 1. Anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations


class BceWeightsError(Exception):
    """Base class: a problem with the user's data, files or options.

    ``hint`` is a short suggestion of how to fix it, appended to the message.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message} (hint: {hint})")


class InputError(BceWeightsError):
    """A label file that cannot be read or holds values that are not labels."""


class OptionsError(BceWeightsError):
    """Options that do not fit the data (a column that does not exist, a bad threshold)."""


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
