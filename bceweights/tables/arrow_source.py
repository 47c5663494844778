"""Arrow IPC files (the stream and the file format: ``.arrow``, ``.feather`` v2, ``.ipc``) and Hugging
Face ``save_to_disk`` folders as table sources, read a record batch at a time from a memory map (no
copy of the columns that are not read).

A ``save_to_disk`` folder holds ``state.json`` (its ``_data_files``, in order), ``dataset_info.json``
(the features) and the ``.arrow`` shards (streams); it is read as one table, its shards in order. A
``DatasetDict`` folder (``dataset_dict.json``, one folder per split) is refused with its splits named.
The features come from the schema's ``huggingface`` metadata, else from a ``dataset_info.json`` beside
the file (see :mod:`bceweights.tables.names` for what they settle).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from ..errors import InputError
from ..locations import as_path
from .source import TableSource, cast_batch

#: The magic bytes of the Arrow IPC file format (and Feather v2).
FILE_MAGIC = b"ARROW1"
#: An IPC stream's first message starts with this continuation marker.
STREAM_MARKER = b"\xff\xff\xff\xff"


def is_dataset_folder(path: Path) -> bool:
    """A Hugging Face ``save_to_disk`` folder (one split) or a ``DatasetDict`` folder."""
    return path.is_dir() and ((path / "state.json").is_file() or (path / "dataset_dict.json").is_file())


def data_files(path: Path) -> list[Path]:
    """The ``.arrow`` shards of a ``save_to_disk`` folder, in order."""
    if (path / "dataset_dict.json").is_file() and not (path / "state.json").is_file():
        splits = _splits(path)
        raise InputError(f"{path}: a DatasetDict folder holds several splits ({', '.join(splits) or 'none'})",
                         hint=f"pass one split's folder, e.g. {path / (splits[0] if splits else 'train')}")
    try:
        state = json.loads((path / "state.json").read_text(encoding="utf-8"))
        names = [entry["filename"] for entry in state["_data_files"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: state.json does not list the dataset's files ({exc})") from None
    files = [path / name for name in names]
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise InputError(f"{path}: state.json lists {missing[0].name}, which is not in the folder")
    if not files:
        raise InputError(f"{path}: the dataset has no data file")
    return files


def _splits(path: Path) -> list[str]:
    try:
        return [str(s) for s in json.loads((path / "dataset_dict.json").read_text(encoding="utf-8"))["splits"]]
    except (OSError, ValueError, KeyError, TypeError):
        return sorted(p.name for p in path.iterdir() if (p / "state.json").is_file())


class _Batches:
    """The record batches of one IPC file (either format), memory-mapped; ``where()`` is the byte
    position reached."""

    def __init__(self, path: Path) -> None:
        from ..locations import arrow_file, is_url

        # A URL is read in ranged requests; a local file is mapped (its batches then cost no copy).
        self.map = arrow_file(path) if is_url(path) else pa.memory_map(str(path))
        head = self.map.read(6)
        self.map.seek(0)
        if head == FILE_MAGIC:
            self.file = pa.ipc.open_file(self.map)
            self.stream = None
            self.schema = self.file.schema
        else:
            self.file = None
            self.stream = pa.ipc.open_stream(self.map)
            self.schema = self.stream.schema

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        if self.file is not None:
            for i in range(self.file.num_record_batches):
                yield self.file.get_batch(i)
        else:
            yield from self.stream

    def where(self, done: int, total: int) -> int:
        return self.map.tell() if self.stream is not None else done

    def close(self) -> None:
        self.map.close()


def _read_errors(path: Path):
    """An IPC file pyarrow cannot decode as one error naming it."""
    import contextlib

    @contextlib.contextmanager
    def boundary():
        try:
            yield
        except (pa.ArrowException, OSError) as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(f"{path}: cannot read the Arrow file ({message})",
                             hint="an Arrow IPC stream or file (Feather v2) is expected; check that it is "
                             "complete") from None

    return boundary()


@dataclass
class ArrowSource(TableSource):
    """One Arrow IPC file or a ``save_to_disk`` folder; ``files`` are the IPC files read in order."""

    files: tuple[str, ...] = ()
    schema: pa.Schema | None = None
    metadata: dict | None = None

    @classmethod
    def open_arrow(cls, path: Path) -> ArrowSource:
        if not path.exists():
            raise InputError(f"{path}: no such file or folder")
        files = data_files(path) if path.is_dir() else [path]
        if not path.is_dir() and path.stat().st_size == 0:
            raise InputError(f"{path}: the file is empty")
        with _read_errors(files[0]):
            batches = _Batches(files[0])
            schema = batches.schema
            batches.close()
        metadata = dict(schema.metadata or {})
        if b"huggingface" not in metadata:
            info = (path if path.is_dir() else path.parent) / "dataset_info.json"
            if info.is_file():
                try:
                    features = json.loads(info.read_text(encoding="utf-8")).get("features")
                except (OSError, ValueError):
                    features = None
                if isinstance(features, dict):
                    metadata[b"huggingface"] = json.dumps({"info": {"features": features}}).encode()
        size = sum(f.stat().st_size for f in files)
        return cls(path, False, list(schema.names), size=size, files=tuple(str(f) for f in files),
                   schema=schema, metadata=metadata)

    @property
    def first_data_line(self) -> int:
        return 1

    def batches(self, columns: list[str], types: dict[str, pa.DataType], block_size: int | None = None,
                fast=None) -> Iterator[tuple[pa.RecordBatch, int]]:
        """(batch of ``columns`` cast to ``types``, bytes read so far), file after file (``fast``, the
        kernels of delimited text, does not apply)."""
        done_before = 0
        for name in self.files:
            path = as_path(name)
            size = path.stat().st_size
            with _read_errors(path):
                batches = _Batches(path)
            try:
                if list(batches.schema.names) != list(self.names):
                    raise InputError(f"{path}: its columns differ from those of {self.files[0]}")
                rows = 0
                with _read_errors(path):
                    for batch in self._select(batches):
                        rows += batch.num_rows
                        yield cast_batch(batch.select(columns), types, path), \
                            done_before + min(size, batches.where(rows, size))
            finally:
                batches.close()
            done_before += size

    def _select(self, batches: _Batches) -> Iterator[pa.RecordBatch]:
        return iter(batches)

    def runs(self, block: int) -> list[tuple[int, int, int, int]] | None:
        """(file index, first batch, stop batch, rows before) runs of about ``block`` bytes for parts of
        the source (a cluster's partitions), or None when it is one part."""
        if self.size <= block:
            return None
        out: list[tuple[int, int, int, int]] = []
        rows = 0
        for index, name in enumerate(self.files):
            with _read_errors(as_path(name)):
                batches = _Batches(as_path(name))
                try:
                    first, held, before, count = 0, 0, rows, 0
                    for number, batch in enumerate(batches):
                        held += batch.nbytes
                        rows += batch.num_rows
                        count = number + 1
                        if held >= block:
                            out.append((index, first, count, before))
                            first, held, before = count, 0, rows
                    if first < count:
                        out.append((index, first, count, before))
                finally:
                    batches.close()
        return out if len(out) > 1 else None

    def part(self, run: tuple[int, int, int, int]) -> ArrowSlice:
        index, start, stop, rows_before = run
        return ArrowSlice(self.path, False, list(self.names), size=self.size, files=(self.files[index],),
                          schema=self.schema, metadata=self.metadata, start=start, stop=stop,
                          rows_before=rows_before)


@dataclass
class ArrowSlice(ArrowSource):
    """Record batches ``[start, stop)`` of one IPC file; rows are numbered from the file's first."""

    start: int = 0
    stop: int = 0
    rows_before: int = 0
    empty_is_error = False

    @property
    def first_data_line(self) -> int:
        return 1 + self.rows_before

    def _select(self, batches: _Batches) -> Iterator[pa.RecordBatch]:
        for number, batch in enumerate(batches):
            if number >= self.stop:
                return
            if number >= self.start:
                yield batch
