"""How the Dask engine splits the work: partitions that fit each kind of input.

Counts are sums, so any split works; a partition is a unit that is cheap to describe (a few strings and
ints, pickled to a worker), reads only its own part of the data, and returns a :class:`Counts`.

* **CSV/TSV files** larger than a block: byte ranges. A range starts at the first line that begins at
  or after its nominal offset (the table reader parses with ``newlines_in_values=False``, so a newline
  always ends a row); each worker finds its own boundaries, so the driver reads only the header. The
  header is parsed once on the driver and handed to every block as column names, and label columns
  that would be detected, a classes file and a list separator that would be guessed are resolved once
  on the driver from the file's head, exactly as the local engine does, so every block counts the same
  columns. Compressed files cannot be split: one partition per file.
* **Parquet files**: runs of row groups.
* **Smaller table files, arrays**: groups of whole files, counted by the reader's own ``count``.
* **Large ``.npy`` arrays**: runs of samples along the first axis, read from a memory map.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .counts import Counts
from .errors import InputError
from .readers._legacy import ReaderInfo
from .spec import InputSpec

#: Largest partition, in bytes of input (Dask's own default block size for CSV).
MAX_BLOCK = 64 << 20
#: Smallest partition that is worth a task.
MIN_BLOCK = 4 << 20
#: At most this many files in one file-group partition.
MAX_FILES = 1000
#: Partitions per worker thread to aim for, so a slow partition does not leave the others idle.
PER_THREAD = 4


@dataclass(frozen=True)
class Partition:
    """A unit of work; :meth:`run` executes on a worker and returns counts (None: nothing in it)."""

    group: int
    paths: tuple[str, ...]
    spec: InputSpec
    size: int

    #: Whether the partition is a part of one file (its errors then say which part).
    is_slice = False

    def run(self) -> Counts | None:
        raise NotImplementedError

    def where(self) -> str:
        """The data a partition covers, for error messages."""
        if len(self.paths) == 1:
            return self.paths[0]
        return f"{self.paths[0]} … {self.paths[-1]} ({len(self.paths)} files)"


@dataclass(frozen=True)
class FileGroup(Partition):
    """Whole files, counted by their reader's ``count(paths, spec, None)`` in one worker process."""

    module: str = ""

    def run(self):
        import importlib

        reader = importlib.import_module(self.module)
        return reader.count([Path(p) for p in self.paths], self.spec, None)


@dataclass(frozen=True)
class TableSlice(Partition):
    """A row block of one table: ``[start, stop)`` in bytes (CSV) or in row groups (Parquet)."""

    start: int = 0
    stop: int = 0
    number: int = 0
    of: int = 1
    parquet: bool = False
    names: tuple[str, ...] = ()
    delimiter: str | None = None
    header: bool = True
    data_start: int = 0
    rows_before: int = 0
    #: Class names replacing the column names (a classes file), in the same order.
    rename: tuple[str, ...] | None = None
    #: Notes of the whole file (what detection found), carried by the first block only.
    notes: tuple[str, ...] = ()

    is_slice = True

    def run(self) -> Counts | None:
        from .readers import tables

        source = self._source(rows_before=self.rows_before if self.parquet else None)
        try:
            counts = tables.count_file(Path(self.paths[0]), self.spec, None, source=source)
        except InputError:
            if self.parquet:
                raise
            # Row numbers in messages need the rows before the block: counted only now, on error.
            source = self._source(rows_before=self._count_rows_before())
            counts = tables.count_file(Path(self.paths[0]), self.spec, None, source=source)
        if source.rows == 0:
            return None  # a block of blank lines only
        if self.rename is not None:
            counts.classes = list(self.rename)
        counts.notes = list(dict.fromkeys([*self.notes, *counts.notes]))
        return counts

    def where(self) -> str:
        return f"{self.paths[0]} ({self.block()})"

    def block(self) -> str:
        """Which part of the file, e.g. ``block 3 of 8: rows in bytes 8388608-12582912``."""
        if self.parquet:
            what = (f"row group {self.start}" if self.stop - self.start == 1
                    else f"row groups {self.start}-{self.stop - 1}")
        else:
            what = f"rows in bytes {self.start}-{self.stop}"
        return f"block {self.number + 1} of {self.of}: {what}"

    def _source(self, rows_before: int | None):
        csv_block, parquet_slice = _source_classes()
        cls = parquet_slice if self.parquet else csv_block
        return cls(Path(self.paths[0]), self.parquet, list(self.names), self.delimiter, False,
                   None, self.size, start=self.start, stop=self.stop, data_start=self.data_start,
                   rows_before=rows_before, file_header=self.header)

    def _count_rows_before(self) -> int:
        with open(self.paths[0], "rb") as fh:
            start = _line_start(fh, self.start, self.data_start)
            fh.seek(self.data_start)
            rows, todo = 0, start - self.data_start
            while todo > 0:
                chunk = fh.read(min(todo, 1 << 24))
                if not chunk:
                    break
                rows += chunk.count(b"\n")
                todo -= len(chunk)
        return rows


def _line_start(fh, offset: int, data_start: int) -> int:
    """The first position at or after ``offset`` that begins a line (the file's end if none)."""
    if offset <= data_start:
        return data_start
    fh.seek(offset - 1)
    position = offset - 1
    while True:
        chunk = fh.read(1 << 16)
        if not chunk:
            return position
        found = chunk.find(b"\n")
        if found >= 0:
            return position + found + 1
        position += len(chunk)


class _Range:
    """A read-only file view of bytes ``[start, stop)``, for Arrow's streaming CSV reader."""

    def __init__(self, fh, start: int, stop: int) -> None:
        self._fh, self._left, self._start = fh, stop - start, start
        fh.seek(start)
        self.closed = False

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        n = self._left if n is None or n < 0 else min(n, self._left)
        data = self._fh.read(n)
        self._left -= len(data)
        return data

    def tell(self) -> int:
        return self._fh.tell() - self._start

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self._fh.close()
        self.closed = True


@dataclass(frozen=True)
class ArrayRows(Partition):
    """Samples ``[start, stop)`` (along the first axis) of one memory-mapped ``.npy`` array."""

    start: int = 0
    stop: int = 0
    number: int = 0
    of: int = 1
    is_slice = True

    def run(self) -> Counts:
        from .readers import arrays

        return arrays.count_batches([Path(self.paths[0])], self.spec, None, self._batches)

    def block(self) -> str:
        return f"block {self.number + 1} of {self.of}: samples {self.start + 1}-{self.stop}"

    def where(self) -> str:
        return f"{self.paths[0]} ({self.block()})"

    def _batches(self, path: Path, spec: InputSpec):
        from .readers import arrays

        return arrays.iter_label_batches(path, spec, samples=(self.start, self.stop))


@functools.cache
def _source_classes():
    """The block sources subclass the table reader's ``_Source`` (so blocks parse exactly as whole
    files do); defined on first use so that importing this module does not import pyarrow."""
    import pyarrow as pa

    from .readers import tables

    @dataclass
    class _Slice(tables._Source):
        """A part of one table file; ``rows`` counts the rows it has yielded (zero: the part held
        only blank lines). ``rows_before`` numbers rows from the file's first one in messages."""

        start: int = 0
        stop: int = 0
        data_start: int = 0
        rows_before: int | None = None
        file_header: bool = True
        rows: int = 0
        empty_is_error = False

        def batches(self, columns, types, block_size=None):
            for batch, done in self._read(columns, types, block_size):
                self.rows += batch.num_rows
                yield batch, done

        def _read(self, columns, types, block_size):
            return super().batches(columns, types, block_size)

    @dataclass
    class CsvBlock(_Slice):
        """The lines of ``[start, stop)`` (boundaries moved to line starts), parsed with the file's
        column names: ``header`` is False here, ``file_header`` says whether the file has one."""

        @property
        def first_data_line(self) -> int:
            return (2 if self.file_header else 1) + (self.rows_before or 0)

        def _open_raw(self):
            fh = open(self.path, "rb")
            start = _line_start(fh, self.start, self.data_start)
            stop = _line_start(fh, self.stop, self.data_start)
            return pa.PythonFile(_Range(fh, start, max(start, stop)), mode="r")

    @dataclass
    class ParquetSlice(_Slice):
        """Row groups ``[start, stop)`` of a Parquet file."""

        @property
        def first_data_line(self) -> int:
            return 2 + (self.rows_before or 0)

        def _read(self, columns, types, block_size):
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(self.path)
            for batch in pf.iter_batches(batch_size=1 << 16, row_groups=list(range(self.start, self.stop)),
                                         columns=columns):
                yield tables._cast_batch(batch, types, self.path), 0

    return CsvBlock, ParquetSlice


# ---------------------------------------------------------------------------------------------- planning


@dataclass
class Plan:
    """The partitions, in merge order, and how each reader group finishes (see ``finish``)."""

    partitions: list[Partition] = field(default_factory=list)
    groups: list[ReaderInfo] = field(default_factory=list)


def block_size(total_bytes: int, threads: int) -> int:
    """Bytes per partition: enough partitions for every thread a few times over, within bounds."""
    target = total_bytes / max(1, threads * PER_THREAD)
    return int(min(MAX_BLOCK, max(MIN_BLOCK, target)))


def plan(groups: dict[ReaderInfo, list[Path]], spec: InputSpec, *, threads: int = 1) -> Plan:
    """Split every reader group into partitions (see the module's docstring)."""
    out = Plan()
    total = sum(_size(p) for files in groups.values() for p in files)
    block = block_size(total, threads)
    worker_spec = spec.with_(workers=1)
    for index, (info, files) in enumerate(groups.items()):
        out.groups.append(info)
        if info.kind == "table":
            out.partitions.extend(_plan_tables(index, info, files, worker_spec, block))
        elif info.name == "npy":
            out.partitions.extend(_plan_arrays(index, info, files, worker_spec, block))
        else:
            out.partitions.extend(_plan_files(index, info, files, worker_spec, block))
    return out


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _plan_files(index: int, info: ReaderInfo, files: Sequence[Path], spec: InputSpec,
                block: int) -> Iterator[Partition]:
    """Consecutive files, up to ``block`` bytes (and ``MAX_FILES`` files) per partition."""
    chunk: list[Path] = []
    size = 0
    for path in files:
        chunk.append(path)
        size += _size(path)
        if size >= block or len(chunk) >= MAX_FILES:
            yield FileGroup(index, tuple(map(str, chunk)), spec, size, module=info.module)
            chunk, size = [], 0
    if chunk:
        yield FileGroup(index, tuple(map(str, chunk)), spec, size, module=info.module)


def _plan_tables(index: int, info: ReaderInfo, files: Sequence[Path], spec: InputSpec,
                 block: int) -> Iterator[Partition]:
    from .readers import tables

    small: list[Path] = []
    for path in files:
        if _size(path) <= block:
            small.append(path)
            continue
        src = tables._Source.open(path, spec)
        split = _row_groups(src, block) if src.parquet else _byte_blocks(src, block)
        if split is None:
            small.append(path)
            continue
        # Whole files keep their order in the merge: flush the small ones gathered before this one.
        if small:
            yield from _plan_files(index, info, small, spec, block)
            small = []
        yield from _slices(index, src, spec, split)
    if small:
        yield from _plan_files(index, info, small, spec, block)


def _plan_arrays(index: int, info: ReaderInfo, files: Sequence[Path], spec: InputSpec,
                 block: int) -> Iterator[Partition]:
    """Large ``.npy`` arrays in runs of samples; the rest as file groups, in input order."""
    from .readers import arrays

    small: list[Path] = []
    for path in files:
        size = _size(path)
        if size <= block:
            small.append(path)
            continue
        samples = arrays._open(path, spec).view.shape[0]
        n = min(samples, math.ceil(size / block))
        if n < 2:
            small.append(path)
            continue
        if small:
            yield from _plan_files(index, info, small, spec, block)
            small = []
        edges = [round(i * samples / n) for i in range(n + 1)]
        for number in range(n):
            yield ArrayRows(index, (str(path),), spec, round(size * (edges[number + 1] - edges[number]) / samples),
                            start=edges[number], stop=edges[number + 1], number=number, of=n)
    if small:
        yield from _plan_files(index, info, small, spec, block)


def _byte_blocks(src, block: int) -> list[tuple[int, int, int]] | None:
    """(start, stop, rows before) byte ranges of a CSV file, or None to read it whole."""
    if src.compression or src.size <= block:
        return None
    data_start = 0
    if src.header:
        with open(src.path, "rb") as fh:
            data_start = _line_start(fh, 1, 0)
    n = math.ceil((src.size - data_start) / block)
    if n < 2:
        return None
    edges = [data_start + round(i * (src.size - data_start) / n) for i in range(n)] + [src.size]
    return [(edges[i], edges[i + 1], data_start) for i in range(n)]


def _row_groups(src, block: int) -> list[tuple[int, int, int]] | None:
    """(first, stop, rows before) runs of Parquet row groups of about ``block`` bytes, or None."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(src.path).metadata
    if meta.num_row_groups < 2 or src.size <= block:
        return None
    runs, first, size, rows, rows_at_first = [], 0, 0, 0, 0
    for i in range(meta.num_row_groups):
        group = meta.row_group(i)
        size += group.total_byte_size
        rows += group.num_rows
        if size >= block or i == meta.num_row_groups - 1:
            runs.append((first, i + 1, rows_at_first))
            first, size, rows_at_first = i + 1, 0, rows
    return runs if len(runs) > 1 else None


def _slices(index: int, src, spec: InputSpec, split: list[tuple[int, int, int]]) -> Iterator[Partition]:
    """The blocks of one file, with what the local engine would decide from the file's head (label
    columns, classes file, list separator) decided here once."""
    from .readers import tables

    layout = tables._layout(spec)
    where = tables._where_columns(src, spec)
    rename: tuple[str, ...] | None = None
    notes: tuple[str, ...] = ()
    if layout == "wide":
        columns, classes, skipped = tables._wide_columns(src, spec, where)
        notes = tables.detection_notes(src, columns, skipped)
        if list(classes) != list(columns):
            rename = tuple(classes)
        spec = spec.with_(columns=tuple(columns), classes_file=None, exclude_columns=())
    elif layout == "list" and spec.separator is None:
        spec = spec.with_(separator=_list_separator(src, spec, where))
    of = len(split)
    for number, (start, stop, extra) in enumerate(split):
        if src.parquet:
            data_start, rows_before, size = 0, extra, round(src.size * (stop - start) / max(1, split[-1][1]))
        else:
            data_start, rows_before, size = extra, 0, stop - start
        yield TableSlice(
            index, (str(src.path),), spec, size, start=start, stop=stop, number=number, of=of,
            parquet=src.parquet, names=tuple(src.names), delimiter=src.delimiter, header=src.header,
            data_start=data_start, rows_before=rows_before, rename=rename,
            notes=notes if number == 0 else (),
        )


def _list_separator(src, spec: InputSpec, where) -> str:
    """The separator the local reader would guess: from the first batch of the file, after --where."""
    import pyarrow as pa

    from .readers import tables

    column = spec.list_column
    types = {column: pa.string(), **{c: pa.string() for c in where}}
    first = next(src.batches([column] + [c for c in where if c != column], types), None)
    if first is None:
        return "|"
    batch = first[0]
    text = batch.column(column)
    keep = tables._row_filter(batch, where)
    if keep is not None:
        text = text.filter(pa.array(keep))
    return tables._guess_list_separator(text)
