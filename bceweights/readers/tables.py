"""TRANSITION: the former module functions of the table reader, for the callers not yet on the reader
contract (validate.py, sampling.py, the arrays reader). The reader is :mod:`bceweights.tables`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..classnames import read_classes_file as _read_classes_file  # noqa: F401
from ..readers.base import LabelBatch
from ..spec import InputSpec


def _reader(path: Path, spec: InputSpec):
    from . import resolve

    return resolve(Path(path), spec)


def iter_label_batches(path: Path, spec: InputSpec, classes: list[str] | None = None) -> Iterator[LabelBatch]:
    yield from _reader(path, spec).rows(Path(path), spec, classes=classes)


def row_ids(path: Path, spec: InputSpec, id_column: str | None = "auto") -> tuple[str | None, list[str]]:
    from ..tables.layout import row_ids as ids
    from ..tables.layout import settle

    reader = _reader(path, spec)
    src = reader.open(Path(path), spec)
    return ids(src, settle(src, spec), id_column)


from ..memory import release_heap  # noqa: E402,F401
