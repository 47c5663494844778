"""Table files as streams of Arrow batches: CSV/TSV (any delimiter, gzip/bz2) and Parquet, whole or in
parts (a byte range of a CSV, a run of Parquet row groups) for partitions.

Nothing is held beyond about ``BLOCK_SIZE`` bytes of text (a chunk of whole lines, parsed by Arrow on
every core while the previous chunk is counted).
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from ..errors import InputError
from ..locations import arrow_file, open, source  # local paths and URLs alike
from ..spec import InputSpec

BLOCK_SIZE = 1 << 22
SAMPLE_BYTES = 1 << 20
DELIMITERS = (",", "\t", ";", "|", " ")
NULL_VALUES = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"]


@dataclass
class TableSource:
    """One table file: its column names and a way to stream selected columns."""

    path: Path
    parquet: bool
    names: list[str]
    delimiter: str | None = None
    header: bool = True
    compression: str | None = None
    size: int = 0
    #: The quote character of delimited text; False: quotes are plain text (``--quote none``).
    quote: str | bool = '"'
    #: A whole file with a header and no row is a mistake; a part of one (a Dask block) may be empty.
    empty_is_error = True

    @classmethod
    def open(cls, path: Path, spec: InputSpec) -> TableSource:
        if not path.exists():
            raise InputError(f"{path}: no such file")
        if path.is_dir():
            raise InputError(f"{path}: is a directory, not a label table")
        size = path.stat().st_size
        if size == 0:
            raise InputError(f"{path}: the file is empty")
        if spec.format == "parquet" or path.name.lower().endswith((".parquet", ".pq")) or _is_parquet(path):
            import pyarrow.parquet as pq

            try:
                schema = pq.ParquetFile(source(path)).schema_arrow
            except (pa.ArrowException, OSError) as exc:
                raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
            names = list(schema.names)
            src = cls(path, True, names, size=size)
        else:
            compression = _compression(path)
            head = _head_text(path, compression)
            delimiter = spec.delimiter or guess_delimiter(path, head)
            quote = quote_char(spec)
            first = next(csv.reader(io.StringIO(head.split("\n", 1)[0]), delimiter=delimiter,
                                    **csv_quoting(quote)), [])
            if spec.delimiter is None and delimiter == " ":
                first = [f for f in first if f != ""]
            if not first:
                raise InputError(f"{path}: the first line is empty", hint="remove leading blank lines")
            if spec.no_header:
                names = [f"column_{i + 1}" for i in range(len(first))]
            else:
                names = [n.strip() for n in first]
            src = cls(path, False, names, delimiter, not spec.no_header, compression, size, quote)
        dupes = sorted({n for n in src.names if src.names.count(n) > 1})
        if dupes:
            raise InputError(
                f"{path}: duplicate column names {dupes}",
                hint="rename the columns so each label has one column; if the first line is data, "
                "pass --no-header",
            )
        return src

    @property
    def first_data_line(self) -> int:
        return 2 if self.header else 1

    def _open_raw(self):
        """The text file's bytes as an Arrow stream; the Dask engine's row blocks read a byte range."""
        return arrow_file(self.path)

    def batches(self, columns: list[str], types: dict[str, pa.DataType],
                block_size: int | None = None) -> Iterator[tuple[pa.RecordBatch, int]]:
        """Yield (batch, bytes read so far) with only ``columns``, cast to ``types``."""
        if self.parquet:
            import pyarrow.parquet as pq

            with parquet_errors(self.path):
                pf = pq.ParquetFile(source(self.path))
                total_rows = max(pf.metadata.num_rows, 1)
                done = 0
                for batch in pf.iter_batches(batch_size=1 << 16, columns=columns):
                    batch = cast_batch(batch, types, self.path)
                    done += batch.num_rows
                    yield batch, int(self.size * done / total_rows)
            return
        # Arrow's streaming reader parses on one core; ``read_csv`` on a chunk of whole lines parses
        # its blocks on all cores, and a chunk is all that is held (see benchmarks/RESULTS.md).
        chunk_size = block_size or BLOCK_SIZE
        parse = pacsv.ParseOptions(delimiter=self.delimiter, quote_char=self.quote, newlines_in_values=False)
        # float64 label columns are parsed as int8 first: lossless for 0/1/-1/blank, a quarter of the
        # bytes, and Arrow's parse then proves the values are integers. A chunk that is not (soft
        # labels, "1.0") is parsed again as asked, and so is the rest of the file.
        narrow = {name: pa.int8() for name, kind in types.items() if kind == pa.float64()}
        raw = self._open_raw()
        stream = pa.CompressedInputStream(raw, self.compression) if self.compression else raw

        def parsed() -> Iterator[tuple[pa.Table, int]]:
            nonlocal narrow
            names = None if self.header else list(self.names)
            for text in _line_chunks(stream, chunk_size):
                if names is None:
                    header, _, text = text.partition(b"\n")
                    names = _header_names(header, parse)
                if not text:
                    continue
                read = pacsv.ReadOptions(block_size=min(chunk_size, _PARSE_BLOCK), column_names=names)
                table = None
                if narrow:
                    try:
                        table = _parse_chunk(text, read, parse, columns, {**types, **narrow})
                    except pa.ArrowInvalid:
                        narrow = {}
                if table is None:
                    table = _parse_chunk(text, read, parse, columns, types)
                yield table.combine_chunks(), raw.tell()

        try:
            with contextlib.closing(_ahead(parsed())) as chunks:
                for table, done in chunks:
                    for batch in table.to_batches():
                        yield batch, done
        except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
            raise _csv_error(self, exc) from None
        finally:
            raw.close()


#: Arrow's parallel unit inside a chunk: one block per task.
_PARSE_BLOCK = 1 << 20
_END = object()


def _ahead(items: Iterator) -> Iterator:
    """``items`` produced one ahead in a thread: the next chunk is read and parsed (Arrow releases the
    GIL) while the caller counts this one. At most two chunks are held besides the caller's."""
    import queue
    import threading

    ready: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(value) -> bool:
        while not stop.is_set():
            try:
                ready.put(value, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_END, None))
        except BaseException as exc:  # handed to the caller, raised there
            put((_END, exc))
        finally:
            items.close()

    thread = threading.Thread(target=work, name="bceweights-csv", daemon=True)
    thread.start()
    try:
        while True:
            item, exc = ready.get()
            if item is _END:
                if exc is not None:
                    raise exc
                return
            yield item
    finally:
        stop.set()
        thread.join()


def _line_chunks(stream, size: int, first: int = 1 << 18) -> Iterator[bytes]:
    """The stream's bytes in pieces of about ``size`` that end at a line end (the last may not).

    The pieces start at ``first`` bytes and double: a caller that needs only the first rows (label
    column detection, the checks' target sample) then parses, and has read ahead, ~1 MB instead of
    8 MB (sample of a wide CSV 0.13 → 0.04 s)."""
    rest = b""
    step = min(size, first)
    while True:
        data = stream.read(step)
        step = min(size, step * 2)
        if not data:
            if rest:
                yield rest
            return
        data = rest + data if rest else data
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            rest = data
            continue
        rest = data[cut:]
        yield data[:cut]


def _header_names(header: bytes, parse: pacsv.ParseOptions) -> list[str]:
    """Column names as Arrow reads the header line (for the chunks after it)."""
    table = pacsv.read_csv(pa.py_buffer(header + b"\n"), parse_options=parse,
                           read_options=pacsv.ReadOptions(use_threads=False, block_size=len(header) + 2))
    return table.column_names


def _parse_chunk(text: bytes, read: pacsv.ReadOptions, parse: pacsv.ParseOptions, columns: list[str],
                 types: dict[str, pa.DataType]) -> pa.Table:
    convert = pacsv.ConvertOptions(
        include_columns=columns,
        column_types=types,
        null_values=NULL_VALUES,
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    try:
        return pacsv.read_csv(pa.py_buffer(text), read_options=read, parse_options=parse, convert_options=convert)
    except pa.ArrowInvalid as exc:
        # A line longer than Arrow's block (a long id or text column): parse this chunk as one block.
        if "straddl" not in str(exc) or read.block_size > len(text):
            raise
        whole = pacsv.ReadOptions(block_size=len(text) + 1, column_names=read.column_names)
        return pacsv.read_csv(pa.py_buffer(text), read_options=whole, parse_options=parse, convert_options=convert)


def quote_char(spec: InputSpec) -> str | bool:
    """``--quote``: one character, or ``none`` (False: quotes are plain text); default ``"``."""
    if spec.quote is None:
        return '"'
    if spec.quote.lower() == "none":
        return False
    if len(spec.quote) != 1:
        from ..errors import UsageError

        raise UsageError(f"--quote {spec.quote!r}: give one character, or none")
    return spec.quote


def csv_quoting(quote: str | bool) -> dict:
    """The ``csv.reader`` arguments for a quote character (False: no quoting)."""
    return {"quoting": csv.QUOTE_NONE} if quote is False else {"quotechar": quote}


def _is_parquet(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) == b"PAR1"


def _compression(path: Path) -> str | None:
    with open(path, "rb") as fh:
        magic = fh.read(3)
    if magic[:2] == b"\x1f\x8b":
        return "gzip"
    if magic == b"BZh":
        return "bz2"
    return None


def _head_text(path: Path, compression: str | None) -> str:
    try:
        if compression == "gzip":
            import gzip

            with gzip.open(source(path), "rb") as fh:
                data = fh.read(SAMPLE_BYTES)
        elif compression == "bz2":
            import bz2

            with bz2.open(source(path), "rb") as fh:
                data = fh.read(SAMPLE_BYTES)
        else:
            with open(path, "rb") as fh:
                data = fh.read(SAMPLE_BYTES)
    except (OSError, EOFError) as exc:
        if compression:  # gzip raises EOFError on a cut file and BadGzipFile (OSError) on garbage
            raise InputError(f"{path}: the {compression} file is truncated or corrupt ({exc})",
                             hint="download or copy the file again") from None
        raise InputError(f"{path}: cannot read the file ({exc})") from None
    if not data.strip():
        raise InputError(f"{path}: the file is empty")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if len(data) == SAMPLE_BYTES and exc.start >= len(data) - 4:  # a character cut by the sample
            return data[: exc.start].decode("utf-8")
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{path}: line {line}: bytes that are not UTF-8 ({data[exc.start:exc.start + 4]!r})",
            hint="re-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
        ) from None


def guess_delimiter(path: Path, head: str) -> str:
    name = path.name.lower()
    if ".tsv" in name or name.endswith(".tab"):
        return "\t"
    lines = [ln for ln in head.splitlines()[:50] if ln.strip()]
    if len(lines) > 1 and not head.endswith("\n"):
        lines = lines[:-1]  # the sample may cut the last line
    best, best_score = ",", -1.0
    for delim in DELIMITERS:
        counts = [len(next(csv.reader([ln], delimiter=delim))) for ln in lines]
        if min(counts, default=1) < 2:
            continue
        consistent = sum(c == counts[0] for c in counts) / len(counts)
        score = consistent * 1000 + counts[0] - (0.5 if delim == " " else 0)
        if score > best_score:
            best, best_score = delim, score
    return best


@contextlib.contextmanager
def parquet_errors(path: Path) -> Iterator[None]:
    """A Parquet file that pyarrow cannot decode (cut, corrupt pages) as one error naming it."""
    try:
        yield
    except (pa.ArrowException, OSError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: cannot read the Parquet file ({message})",
                         hint="check that the file is complete; download or copy it again") from None


def cast_batch(batch: pa.RecordBatch, types: dict[str, pa.DataType], path: Path) -> pa.RecordBatch:
    arrays = []
    for name, column in zip(batch.schema.names, batch.columns):
        target = types.get(name)
        if target is not None and column.type != target:
            try:
                column = column.cast(target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise InputError(
                    f"{path}: column '{name}' holds {column.type} values, not labels",
                    hint="pick the label columns with --columns",
                ) from None
        arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


_CONVERSION = re.compile(
    r"In CSV column #(\d+): Row #(\d+): CSV conversion error to (\w+): invalid value '(.*)'"
)
_CONVERSION_NOROW = re.compile(r"In CSV column #(\d+): CSV conversion error to (\w+): invalid value '(.*)'")


def _csv_error(src: TableSource, exc: Exception) -> InputError:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    match = _CONVERSION.search(message) or _CONVERSION_NOROW.search(message)
    if match and "UTF8" not in message:
        groups = match.groups()
        column = src.names[int(groups[0])] if int(groups[0]) < len(src.names) else f"#{groups[0]}"
        value = groups[-1]
        line = int(groups[1]) if len(groups) == 4 else _find_value_line(src, int(groups[0]), value)
        row = f", row {line}" if line else ""
        return InputError(
            f"{src.path}: column '{column}'{row}: value '{value}' is not a label",
            hint="pick the label columns with --columns or --exclude-columns; a column of label names "
            "is read with --list-column or --class-column",
        )
    if "Expected" in message and "columns" in message:
        line = _find_ragged_line(src)
        where = f"line {line}: " if line else ""
        return InputError(
            f"{src.path}: {where}ragged row: {message.removeprefix('CSV parse error: ')}",
            hint="every row needs the same number of fields as the header; check --delimiter",
        )
    if isinstance(exc, UnicodeDecodeError) or "UTF8" in message or "UTF-8" in message:
        line = _find_non_utf8_line(src)
        where = f"line {line}: " if line else ""
        return InputError(f"{src.path}: {where}bytes that are not UTF-8",
                          hint="re-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)")
    lowered = message.lower()
    if src.compression and any(w in lowered for w in ("truncated", "gzip", "zlib", "bz2", "inflate",
                                                       "decompress", "compress", "end of stream")):
        return InputError(f"{src.path}: the {src.compression} file is truncated or corrupt ({message})",
                          hint="download or copy the file again")
    return InputError(f"{src.path}: cannot read the table ({message})")


def _text_lines(src: TableSource):
    """The file's lines as text, undecodable bytes replaced (only used to locate an error)."""
    if src.compression in ("gzip", "bz2"):
        mod = __import__(src.compression)
        return mod.open(source(src.path), "rt", encoding="utf-8", errors="replace", newline="")
    return open(src.path, encoding="utf-8", errors="replace", newline="")


def _find_value_line(src: TableSource, index: int, value: str) -> int | None:
    """The line of the first row whose field ``index`` is ``value`` (only called on error)."""
    try:
        with _text_lines(src) as fh:
            rows = csv.reader(fh, delimiter=src.delimiter or ",", **csv_quoting(src.quote))
            for number, row in enumerate(rows, start=1):
                if number >= src.first_data_line and index < len(row) and row[index].strip() == value:
                    return number
    except (OSError, EOFError, csv.Error):
        return None
    return None


def _find_non_utf8_line(src: TableSource) -> int | None:
    try:
        with _text_lines(src) as fh:
            for number, line in enumerate(fh, start=1):
                if "\ufffd" in line:
                    return number
    except (OSError, EOFError):
        return None
    return None


def _find_ragged_line(src: TableSource) -> int | None:
    """Find the first line whose field count differs from the header's (only called on error)."""
    try:
        with _text_lines(src) as fh:
            expected = len(src.names)
            for number, row in enumerate(csv.reader(fh, delimiter=src.delimiter or ",", **csv_quoting(src.quote)),
                                         start=1):
                if row and len(row) != expected:
                    return number
    except (OSError, EOFError, csv.Error):
        return None
    return None


# ------------------------------------------------------------------------------------- parts of a file


def line_start(fh, offset: int, data_start: int) -> int:
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


@dataclass
class PartSource(TableSource):
    """A part of one table file; ``rows`` counts the rows it has yielded (zero: the part held only
    blank lines). ``rows_before`` numbers rows from the file's first one in messages."""

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
class CsvBlock(PartSource):
    """The lines of ``[start, stop)`` (boundaries moved to line starts), parsed with the file's column
    names: ``header`` is False here, ``file_header`` says whether the file has one."""

    @property
    def first_data_line(self) -> int:
        return (2 if self.file_header else 1) + (self.rows_before or 0)

    def _open_raw(self):
        fh = open(self.path, "rb")
        start = line_start(fh, self.start, self.data_start)
        stop = line_start(fh, self.stop, self.data_start)
        return pa.PythonFile(_Range(fh, start, max(start, stop)), mode="r")

    def count_rows_before(self) -> int:
        """The lines of the file between its data start and this block's first line (only counted
        when an error needs row numbers)."""
        with open(self.path, "rb") as fh:
            start = line_start(fh, self.start, self.data_start)
            fh.seek(self.data_start)
            rows, todo = 0, start - self.data_start
            while todo > 0:
                chunk = fh.read(min(todo, 1 << 24))
                if not chunk:
                    break
                rows += chunk.count(b"\n")
                todo -= len(chunk)
        return rows


@dataclass
class ParquetSlice(PartSource):
    """Row groups ``[start, stop)`` of a Parquet file."""

    @property
    def first_data_line(self) -> int:
        return 2 + (self.rows_before or 0)

    def _read(self, columns, types, block_size):
        import pyarrow.parquet as pq

        with parquet_errors(self.path):
            pf = pq.ParquetFile(source(self.path))
            for batch in pf.iter_batches(batch_size=1 << 16, row_groups=list(range(self.start, self.stop)),
                                         columns=columns):
                yield cast_batch(batch, types, self.path), 0


def byte_blocks(src: TableSource, block: int) -> list[tuple[int, int, int]] | None:
    """(start, stop, data start) byte ranges of a CSV file, or None to read it whole (compressed
    files cannot be split)."""
    if src.compression or src.size <= block:
        return None
    data_start = 0
    if src.header:
        with open(src.path, "rb") as fh:
            data_start = line_start(fh, 1, 0)
    n = math.ceil((src.size - data_start) / block)
    if n < 2:
        return None
    edges = [data_start + round(i * (src.size - data_start) / n) for i in range(n)] + [src.size]
    return [(edges[i], edges[i + 1], data_start) for i in range(n)]


def row_group_runs(src: TableSource, block: int) -> list[tuple[int, int, int]] | None:
    """(first, stop, rows before) runs of Parquet row groups of about ``block`` bytes, or None."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(source(src.path)).metadata
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
