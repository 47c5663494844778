"""Table files as streams of Arrow batches: CSV/TSV (any one-character delimiter, gzip/bz2) and Parquet,
whole or in parts (a byte range of a CSV, a run of Parquet row groups) for partitions.

Text is read as pandas reads it (see :mod:`.records`): a UTF-8 byte-order mark, blank lines and lines
of spaces before the header are skipped, LF, CRLF and CR end a line, a quoted field may hold line
ends anywhere in the file. gzip is inflated by :mod:`bceweights.inflate`, which checks every member's
CRC and length. Nothing is held beyond about ``BLOCK_SIZE`` bytes of text: a chunk of whole records,
read by a fast scanner when the caller has one for it (see :meth:`TableSource.batches`), else parsed
by Arrow on every core, while the previous chunk is counted.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from ..errors import InputError, UsageError
from ..locations import open, source  # local paths and URLs alike
from ..spec import InputSpec
from . import records

BLOCK_SIZE = 1 << 22
SAMPLE_BYTES = 1 << 20
#: A header (or a first line, without one) longer than this is refused rather than read whole.
MAX_HEADER_BYTES = 1 << 26
#: A record longer than this (an unterminated quote holds the rest of the file) is left to Arrow's
#: streaming reader instead of being gathered in memory.
MAX_RECORD_BYTES = 1 << 26
DELIMITERS = (",", "\t", ";", "|", " ")
NULL_VALUES = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"]


def file_size(path: Path, what: str) -> int:
    """The size of the file ``path``, which must exist, be a file (not a folder) and hold something."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not {what}")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{path}: the file is empty")
    return size


@dataclass
class Scanned:
    """A chunk read by the caller's fast scanner instead of Arrow: what it returned, and its rows."""

    value: Any
    rows: int


@dataclass
class TableSource:
    """One table file: its column names and a way to stream selected columns.

    ``data_offset``: where the first data record starts in the (decompressed) text; ``first_line``:
    its line number, which numbers rows in messages."""

    path: Path
    parquet: bool
    names: list[str]
    delimiter: str | None = None
    header: bool = True
    compression: str | None = None
    size: int = 0
    data_offset: int = 0
    first_line: int = 1
    #: The quote character of delimited text; False: quotes are plain text (``--quote none``).
    quote: str | bool = '"'
    #: A whole file with a header and no row is a mistake; a part of one (a Dask block) may be empty.
    empty_is_error = True

    @classmethod
    def open(cls, path: Path, spec: InputSpec) -> TableSource:
        size = file_size(path, "a label table")
        if spec.format == "parquet" or path.name.lower().endswith((".parquet", ".pq")) or _is_parquet(path):
            import pyarrow.parquet as pq

            try:
                schema = pq.ParquetFile(source(path)).schema_arrow
            except (pa.ArrowException, OSError) as exc:
                raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
            names = list(schema.names)
            src = cls(path, True, names, size=size)
        else:
            src = _open_text(cls, path, spec, size)
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
        return self.first_line

    def _open_stream(self) -> tuple[Any, Callable[[int], int]]:
        """(the text's bytes as a binary stream, from its first data record; the file's bytes read
        for a number of text bytes read, for progress)."""
        fh, done = _open_text_stream(self.path, self.compression, self.size)
        try:
            _skip(fh, self.data_offset)
        except BaseException:
            fh.close()
            raise
        return fh, lambda read: done(read + self.data_offset)

    def batches(self, columns: list[str], types: dict[str, pa.DataType], block_size: int | None = None,
                fast: Callable[[bytes], Scanned | None] | None = None) -> Iterator[tuple[Any, int]]:
        """Yield (batch, bytes of the file read so far) with only ``columns``, cast to ``types``.

        ``fast``: a scanner for a CSV chunk of whole records (no header), called on every chunk
        before Arrow; where it answers, its :class:`Scanned` is yielded in place of the chunk's
        batches, and where it returns None the chunk is parsed by Arrow. It runs in the read-ahead
        thread, so a chunk is scanned while the caller counts the previous one."""
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
        items = self._csv_items(columns, types, block_size or BLOCK_SIZE, fast)
        try:
            with contextlib.closing(_ahead(items)) as chunks:
                for item, done in chunks:
                    if isinstance(item, Scanned):
                        yield item, done
                        continue
                    for batch in item.to_batches():
                        yield batch, done
        except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
            raise _csv_error(self, exc) from None

    def _csv_items(self, columns: list[str], types: dict[str, pa.DataType], chunk_size: int,
                   fast) -> Iterator[tuple[Any, int]]:
        """(a Scanned or an Arrow table, bytes read) for each chunk of whole records."""
        names = list(self.names)
        delimiter = self.delimiter.encode("utf-8")
        # float64 label columns are parsed as int8 first: lossless for 0/1/-1/blank, a quarter of the
        # bytes, and Arrow's parse then proves the values are integers. A chunk that is not (soft
        # labels, "1.0") is parsed again as asked, and so is the rest of the file.
        narrow = {name: pa.int8() for name, kind in types.items() if kind == pa.float64()}
        blank = records.blank_lines(delimiter)
        one_column = len(names) == 1
        options = pacsv.ReadOptions(block_size=min(chunk_size, _PARSE_BLOCK), column_names=names)

        def parse_once(text: bytes) -> pa.Table:
            nonlocal narrow
            # Line ends inside quoted values only where there are quotes: Arrow's chunking is
            # slower with them on.
            parse = pacsv.ParseOptions(delimiter=self.delimiter, newlines_in_values=text.find(b'"') >= 0)
            if narrow:
                try:
                    return _parse_chunk(text, options, parse, columns, {**types, **narrow})
                except pa.ArrowInvalid as exc:
                    if "conversion error" not in str(exc):
                        raise
                    narrow = {}
            return _parse_chunk(text, options, parse, columns, types)

        def parse(text: bytes) -> pa.Table:
            try:
                return parse_once(text)
            except pa.ArrowInvalid:
                # Lines of only spaces are blank lines to pandas and a short row to Arrow.
                cleaned = blank(text) if blank is not None else None
                if cleaned is None:
                    raise
                return parse_once(cleaned or b"\n")  # an empty buffer is an error to Arrow, a line is not

        fh, done = self._open_stream()
        if self.quote != '"':
            # Another quote character, or none: the record ends and the kernels know only '"', so
            # Arrow's streaming reader reads the whole file with the file's quoting.
            try:
                yield from self._stream_rest(_Rest(b""), fh, columns, types, 0, done)
            finally:
                fh.close()
            return
        try:
            for text, read in _record_chunks(fh, chunk_size, delimiter):
                if isinstance(text, _Rest):
                    yield from self._stream_rest(text, fh, columns, types, read, done)
                    return
                if one_column and blank is not None and records.may_hold_blank_lines(text, delimiter):
                    cleaned = blank(text)
                    text = text if cleaned is None else cleaned or b"\n"
                if fast is not None:
                    scanned = fast(text)
                    if scanned is not None:
                        yield scanned, done(read)
                        continue
                yield parse(text).combine_chunks(), done(read)
        finally:
            fh.close()

    def _stream_rest(self, rest: _Rest, fh, columns, types, read: int, done) -> Iterator[tuple[pa.Table, int]]:
        """The rest of the file through Arrow's streaming reader, whose quote handling is exact where
        quote parity is not (a quote inside an unquoted field)."""
        stream = _Prefixed(rest.data, fh)
        convert = _convert_options(columns, types)
        reader = pacsv.open_csv(
            stream, read_options=pacsv.ReadOptions(block_size=_PARSE_BLOCK, column_names=list(self.names)),
            parse_options=pacsv.ParseOptions(delimiter=self.delimiter, quote_char=self.quote,
                                             newlines_in_values=self.quote is not False),
            convert_options=convert)
        base = read - len(rest.data)
        for batch in reader:
            yield pa.Table.from_batches([batch]), done(base + stream.read_count)


#: Arrow's parallel unit inside a chunk: one block per task.
_PARSE_BLOCK = 1 << 20
_END = object()


@dataclass
class _Rest:
    """The text from a record start on, whose quotes parity cannot follow (see records)."""

    data: bytes


class _Prefixed(io.RawIOBase):
    """``data``, then the rest of ``stream``: a readable stream for Arrow's streaming reader."""

    def __init__(self, data: bytes, stream) -> None:
        super().__init__()
        self._data, self._stream, self.read_count = memoryview(data), stream, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._data:
            n = min(len(buffer), len(self._data))
            memoryview(buffer).cast("B")[:n] = self._data[:n]
            self._data = self._data[n:]
        else:
            got = self._stream.read(len(buffer))
            n = len(got)
            memoryview(buffer).cast("B")[:n] = got
        self.read_count += n
        return n


def _ahead(items: Iterator) -> Iterator:
    """``items`` produced one ahead in a thread: the next chunk is read and parsed (Arrow and NumPy
    release the GIL) while the caller counts this one. At most two chunks are held besides the
    caller's."""
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


def _record_chunks(stream, size: int, delimiter: bytes, first: int = 1 << 18) -> Iterator[tuple[Any, int]]:
    """(piece, text bytes read so far): the stream's bytes in pieces of about ``size`` that end at a
    record's end (the last may not), or a :class:`_Rest` with the text from a record start on, as
    the last piece, when quote parity cannot place the record ends.

    Without quotes a read's last line end is the cut, and a piece is the previous read's unfinished
    record joined to the read up to the cut: one copy (fresh or zeroed buffers cost more in page
    faults than copies: 0.15 against 0.06 s of CPU for 432 MB). The pieces start at ``first`` bytes
    and double: a caller that needs only the first rows (label column detection, the checks' target
    sample) then parses, and has read ahead, ~1 MB instead of 8 MB."""
    rest = b""
    step = min(size, first)
    read = 0
    while True:
        data = stream.read(step)
        step = min(size, step * 2)
        read += len(data)
        if not data:
            if rest:
                yield rest, read
            return
        if data.find(b'"') < 0 and rest.find(b'"') < 0:
            # A record end in ``rest`` would have been cut before: the last one is in ``data``.
            cut = records.last_record_end(data, delimiter)
            if cut:
                piece = b"".join((rest, memoryview(data)[:cut])) if rest else data[:cut]
                rest = data[cut:]
                yield piece, read
                continue
            whole = rest + data
        else:
            whole = rest + data
            try:
                cut = records.last_record_end(whole, delimiter)
            except records.AmbiguousQuotes:
                yield _Rest(whole), read
                return
            if cut:
                rest = whole[cut:]
                yield whole[:cut], read
                continue
        if len(whole) > MAX_RECORD_BYTES:  # an unterminated quote: Arrow's reader decides
            yield _Rest(whole), read
            return
        rest = whole


def _convert_options(columns: list[str], types: dict[str, pa.DataType]) -> pacsv.ConvertOptions:
    return pacsv.ConvertOptions(
        include_columns=columns,
        column_types=types,
        null_values=NULL_VALUES,
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )


def _parse_chunk(text: bytes, read: pacsv.ReadOptions, parse: pacsv.ParseOptions, columns: list[str],
                 types: dict[str, pa.DataType]) -> pa.Table:
    convert = _convert_options(columns, types)
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


# ----------------------------------------------------------------------------------- text and header


def _open_text_stream(path: Path, compression: str | None, size: int) -> tuple[Any, Callable[[int], int]]:
    """(the file's text as a binary stream, the file's bytes read for a number of text bytes read)."""
    if compression == "gzip":
        from .. import inflate

        # Every member inflated to its trailer, CRC-32 and length checked (Arrow's gzip stream and
        # Python's gzip stop where the data ends and miss a corrupt byte; bceweights.inflate).
        fh = inflate.open_gzip(path)
        expected = _gzip_length(path)

        def gzip_done(read: int) -> int:
            total = expected
            while total and read > total:  # the trailer holds the length modulo 2**32
                total += 1 << 32
            return size if not total else min(size, int(size * read / total))

        return fh, gzip_done
    raw = open(path, "rb")
    if compression == "bz2":
        import bz2

        return bz2.BZ2File(raw), lambda read: raw.tell()
    return raw, lambda read: read


def _gzip_length(path: Path) -> int:
    """The gzip trailer's ISIZE: the last member's length modulo 2**32 (0 when unreadable)."""
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        if fh.tell() < 18:
            return 0
        fh.seek(-4, 2)
        return int.from_bytes(fh.read(4), "little")


def _skip(fh, count: int) -> None:
    while count > 0:
        got = fh.read(min(count, 1 << 20))
        if not got:
            return
        count -= len(got)


def _read_head(path: Path, compression: str | None, limit: int) -> tuple[bytes, bool]:
    """(the first ``limit`` bytes of the text, whether that is all of it)."""
    try:
        fh, _ = _open_text_stream(path, compression, 0)
        with fh:
            data = fh.read(limit)
            complete = len(data) < limit or not fh.read(1)
    except (OSError, EOFError) as exc:
        if compression:  # bz2 raises EOFError on a cut file and OSError on garbage
            raise InputError(f"{path}: the {compression} file is truncated or corrupt ({exc})",
                             hint="download or copy the file again") from None
        raise InputError(f"{path}: cannot read the file ({exc})") from None
    return data, complete


def _open_text(cls, path: Path, spec: InputSpec, size: int) -> TableSource:
    """Open a delimited text file: skip what precedes the header, guess the delimiter, read the
    header's names (or count the first record's fields), note where the data starts."""
    quote = quote_char(spec)
    compression = _compression(path)
    given = spec.delimiter.encode("utf-8") if spec.delimiter else None
    limit = SAMPLE_BYTES
    while True:
        head, complete = _read_head(path, compression, limit)
        start, skipped = records.skip_preamble(head, given)
        if start < len(head) or complete:
            if start >= len(head):
                raise InputError(f"{path}: the file is empty" if not head.strip() else
                                 f"{path}: the file holds only blank lines")
            text = _head_text(path, head, start, complete)
            delimiter = spec.delimiter or guess_delimiter(path, text)
            try:
                end = records.first_record_end(head, start, delimiter.encode("utf-8"), final=complete,
                                               quotes=quote == '"')
            except records.AmbiguousQuotes:  # a quote inside a name: the line's end ends the header
                end = records.first_record_end(head, start, b"", final=complete, quotes=False)
            if end is not None:
                break
        if limit >= MAX_HEADER_BYTES:
            raise InputError(f"{path}: the first line is longer than {MAX_HEADER_BYTES >> 20} MB",
                             hint="check --delimiter and the line ends")
        limit *= 8
    record = head[start:end]
    fields = split_record(record, delimiter, path, quote)
    if spec.delimiter is None and delimiter == " ":
        fields = [f for f in fields if f != ""]
    if not fields or fields == [""]:
        raise InputError(f"{path}: the first line is empty", hint="remove leading blank lines")
    if spec.no_header:
        names = [f"column_{i + 1}" for i in range(len(fields))]
        offset, first_line = start, skipped + 1
    else:
        names = [n.strip() for n in fields]
        offset, first_line = end, skipped + records.count_line_ends(record) + 1
    return cls(path, False, names, delimiter, not spec.no_header, compression, size, offset, first_line, quote)


def split_record(record: bytes, delimiter: str, path: Path, quote: str | bool = '"') -> list[str]:
    """One record's fields, quotes resolved (its line end dropped)."""
    for end in (b"\r\n", b"\n", b"\r"):
        if record.endswith(end):
            record = record[: -len(end)]
            break
    try:
        text = record.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: the first line holds bytes that are not UTF-8",
                         hint="re-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)") from None
    with _long_fields():
        try:
            return next(csv.reader([text], delimiter=delimiter, **csv_quoting(quote)), [])
        except csv.Error:
            return text.split(delimiter)


@contextlib.contextmanager
def _long_fields() -> Iterator[None]:
    """Python's csv module refuses fields over 128 KB; pandas and Arrow read them."""
    old = csv.field_size_limit()
    csv.field_size_limit(1 << 30)
    try:
        yield
    finally:
        csv.field_size_limit(old)


def _head_text(path: Path, head: bytes, start: int, complete: bool) -> str:
    data = head[start:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if not complete and exc.start >= len(data) - 4:  # a character cut by the sample
            return data[: exc.start].decode("utf-8")
        line = records.count_line_ends(head[: start + exc.start]) + 1
        raise InputError(
            f"{path}: line {line}: bytes that are not UTF-8 ({data[exc.start:exc.start + 4]!r})",
            hint="re-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
        ) from None


def guess_delimiter(path: Path, head: str) -> str:
    name = path.name.lower()
    if ".tsv" in name or name.endswith(".tab"):
        return "\t"
    lines = [ln for ln in head.splitlines()[:50] if ln.strip()]
    if len(lines) > 1 and not head.endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample may cut the last line
    best, best_score = ",", -1.0
    with _long_fields():
        for delim in DELIMITERS:
            counts = [_field_count(ln, delim) for ln in lines]
            if min(counts, default=1) < 2:
                continue
            consistent = sum(c == counts[0] for c in counts) / len(counts)
            score = consistent * 1000 + counts[0] - (0.5 if delim == " " else 0)
            if score > best_score:
                best, best_score = delim, score
    return best


def _field_count(line: str, delimiter: str) -> int:
    if '"' not in line:
        return line.count(delimiter) + 1
    try:
        return len(next(csv.reader([line], delimiter=delimiter), []))
    except csv.Error:
        return line.count(delimiter) + 1


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
    """The file's text, undecodable bytes replaced, lines ended by LF, CRLF or CR and kept as they
    are (only used to locate an error)."""
    fh, _ = _open_text_stream(src.path, src.compression, src.size)
    return io.TextIOWrapper(fh, encoding="utf-8-sig", errors="replace", newline="")


def _records_with_lines(src: TableSource):
    """(line number where a record ends, its fields) of the file's records after the header, blank
    lines left out."""
    with _text_lines(src) as fh, _long_fields():
        rows = csv.reader(fh, delimiter=src.delimiter or ",", **csv_quoting(src.quote))
        for row in rows:
            if rows.line_num < src.first_data_line or not row or all(not f.strip(" \t") for f in row) \
                    and len(row) == 1:
                continue
            yield rows.line_num, row


def _find_value_line(src: TableSource, index: int, value: str) -> int | None:
    """The line of the first row whose field ``index`` is ``value`` (only called on error)."""
    try:
        for number, row in _records_with_lines(src):
            if index < len(row) and row[index].strip() == value:
                return number
    except (OSError, EOFError, csv.Error, InputError):
        return None
    return None


def _find_non_utf8_line(src: TableSource) -> int | None:
    try:
        with _text_lines(src) as fh:
            for number, line in enumerate(fh, start=1):
                if "\ufffd" in line:
                    return number
    except (OSError, EOFError, InputError):
        return None
    return None


def _find_ragged_line(src: TableSource) -> int | None:
    """Find the first line whose field count differs from the header's (only called on error)."""
    try:
        expected = len(src.names)
        for number, row in _records_with_lines(src):
            if len(row) != expected:
                return number
    except (OSError, EOFError, csv.Error, InputError):
        return None
    return None


# ------------------------------------------------------------------------------------- parts of a file


def line_start(fh, offset: int, data_start: int) -> int:
    """The first position at or after ``offset`` that begins a line (the file's end if none): after a
    LF, a CRLF or a CR."""
    if offset <= data_start:
        return data_start
    fh.seek(offset - 1)
    position = offset - 1
    while True:
        chunk = fh.read(1 << 16)
        if not chunk:
            return position
        found = [i for i in (chunk.find(b"\n"), chunk.find(b"\r")) if i >= 0]
        if found:
            at = min(found)
            if chunk[at:at + 2] == b"\r\n":
                at += 1
            return position + at + 1
        position += len(chunk)


class _Range(io.RawIOBase):
    """A read-only file view of bytes ``[start, stop)``."""

    def __init__(self, fh, start: int, stop: int) -> None:
        super().__init__()
        self._fh, self._left = fh, stop - start
        fh.seek(start)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._left <= 0:
            return 0
        view = memoryview(buffer).cast("B")[: self._left]
        n = self._fh.readinto(view)
        self._left -= n
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


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

    def batches(self, columns, types, block_size=None, fast=None):
        for batch, done in self._read(columns, types, block_size, fast):
            self.rows += batch.rows if isinstance(batch, Scanned) else batch.num_rows
            yield batch, done

    def _read(self, columns, types, block_size, fast):
        return super().batches(columns, types, block_size, fast)


@dataclass
class CsvBlock(PartSource):
    """The lines of ``[start, stop)`` (boundaries moved to line starts), parsed with the file's column
    names: ``header`` is False here, ``file_header`` says whether the file has one; ``first_line``
    is the file's first data line."""

    @property
    def first_data_line(self) -> int:
        return self.first_line + (self.rows_before or 0)

    def _open_stream(self):
        fh = open(self.path, "rb")
        start = line_start(fh, self.start, self.data_start)
        stop = line_start(fh, self.stop, self.data_start)
        return _Range(fh, start, max(start, stop)), lambda read: read

    def count_rows_before(self) -> int:
        """The lines of the file between its data start and this block's first line (only counted
        when an error needs row numbers)."""
        with open(self.path, "rb") as fh:
            start = line_start(fh, self.start, self.data_start)
            fh.seek(self.data_start)
            rows, todo, last = 0, start - self.data_start, b""
            while todo > 0:
                chunk = fh.read(min(todo, 1 << 24))
                if not chunk:
                    break
                rows += records.count_line_ends(chunk) - (last == b"\r" and chunk[:1] == b"\n")
                last = chunk[-1:]
                todo -= len(chunk)
        return rows


@dataclass
class ParquetSlice(PartSource):
    """Row groups ``[start, stop)`` of a Parquet file."""

    @property
    def first_data_line(self) -> int:
        return 2 + (self.rows_before or 0)

    def _read(self, columns, types, block_size, fast):
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
    data_start = src.data_offset
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
