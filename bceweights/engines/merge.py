"""What every engine does with a reader's partials: add them in partition order, then finish."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError

if TYPE_CHECKING:
    from ..readers.base import Finished, Reader
    from ..spec import InputSpec


def add_partials(partials) -> Any:
    """The sum of partials in order (None: a partition without samples); None when all are None."""
    total = None
    for partial in partials:
        if partial is None:
            continue
        total = partial if total is None else total.merge(partial)
    return total


def finish(reader: Reader, partial: Any, spec: InputSpec, files: Sequence[Path]) -> Finished:
    """The reader's finish on the sum of every partition (an input set without any sample is an error)."""
    if partial is None:
        inputs = str(files[0]) if len(files) == 1 else f"{len(files)} files"
        raise InputError(f"{inputs}: no sample to count")
    return reader.finish(partial, spec)
