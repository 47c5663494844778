"""Label tables: CSV/TSV (any delimiter, gzip/bz2) and Parquet, streamed batch by batch.

Three layouts:

* **wide** multi-hot: one column per class holding 0/1 (or soft values, -1, blanks; see
  :mod:`bceweights.policy`). Columns come from ``--columns``, ``--classes-file`` or are detected: the
  numeric columns whose values in the first block are all in {-1} ∪ [0, 1], skipping id-like columns;
* **label lists**: ``--list-column`` holding ``A|B|C`` (separator detected among ``|``, ``;``, ``,``
  and space); a label repeated within a row counts once;
* **one class per row**: ``--class-column``; each distinct value is a class, one-vs-rest.

Nothing is held beyond one batch (about ``BLOCK_SIZE`` bytes of text).
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ..counts import Counts, merge_same_classes
from ..errors import InputError, OptionsError, reader_boundary
from ..policy import apply_policy
from ..spec import InputSpec

BLOCK_SIZE = 1 << 22
SAMPLE_BYTES = 1 << 20
#: Share of 0/1/-1 values above which an integer column is taken as a label column holding bad values.
DIRTY_LABEL_SHARE = 0.9
LIST_SEPARATORS = ("|", ";", ",", " ")
DELIMITERS = (",", "\t", ";", "|", " ")
NULL_VALUES = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"]
_ID_LIKE = re.compile(
    r"(^|[\s_\-./])(id|ids|idx|index|key|uid|uuid|path|file|filename|name|image|img|patient|subject|case)"
    r"($|[\s_\-./#])",
    re.IGNORECASE,
)
# Dense one-hot blocks for label lists: rows per block, so a block stays small for many classes.
LIST_BLOCK_ROWS = 1 << 14

Progress = Callable[[int], None]


def count(paths: list[Path], spec: InputSpec, progress: Progress | None = None) -> Counts:
    """Counts over every row of every table in ``paths`` (rows kept by ``--where``), to merge with
    those of other files and then finish (:func:`finish_counts`)."""
    total: Counts | None = None
    first: Path | None = None
    for path in map(Path, paths):
        counts = count_file(path, spec, progress)
        if total is None:
            total, first = counts, path
            continue
        same = "table" if _layout(spec) == "wide" else None
        merge_same_classes(total, counts, path=path, first=first, kind=same)
    assert total is not None
    release_heap()
    return total


def finish_counts(counts: Counts, spec: InputSpec) -> Counts:
    """The engines' last step, once the counts of every file are merged: classes met in label lists
    (or one class per row) are sorted by name, whichever file or block met them first."""
    if _layout(spec) == "wide":
        return counts
    return counts.reorder(sorted(counts.classes))


def release_heap() -> None:
    """Hand the scan's freed heap back to the OS (glibc keeps it for reuse): what comes next, torch's
    import for the save, then starts from the scan's working set instead of its high-water mark
    (about 15 MB less peak RSS on a 1M-row CSV; benchmarks/RESULTS.md)."""
    import ctypes
    import sys

    pa.default_memory_pool().release_unused()
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        ctypes.CDLL(None).malloc_trim(0)


def _layout(spec: InputSpec) -> str:
    chosen = [name for name, value in (("list", spec.list_column), ("class", spec.class_column),
                                       ("wide", spec.columns)) if value]
    if len(chosen) > 1:
        raise OptionsError("choose one layout: --columns, --list-column or --class-column")
    return chosen[0] if chosen else "wide"


# --------------------------------------------------------------------------------------------- sources


@dataclass
class _Source:
    """One table file: its column names and a way to stream selected columns."""

    path: Path
    parquet: bool
    names: list[str]
    delimiter: str | None = None
    header: bool = True
    compression: str | None = None
    size: int = 0
    #: A whole file with a header and no row is a mistake; a part of one (a Dask block) may be empty.
    empty_is_error = True

    @classmethod
    def open(cls, path: Path, spec: InputSpec) -> _Source:
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
                schema = pq.ParquetFile(path).schema_arrow
            except (pa.ArrowException, OSError) as exc:
                raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
            names = list(schema.names)
            src = cls(path, True, names, size=size)
        else:
            compression = _compression(path)
            head = _head_text(path, compression)
            delimiter = spec.delimiter or _guess_delimiter(path, head)
            first = next(csv.reader(io.StringIO(head.split("\n", 1)[0]), delimiter=delimiter), [])
            if spec.delimiter is None and delimiter == " ":
                first = [f for f in first if f != ""]
            if not first:
                raise InputError(f"{path}: the first line is empty", hint="remove leading blank lines")
            if spec.no_header:
                names = [f"column_{i + 1}" for i in range(len(first))]
            else:
                names = [n.strip() for n in first]
            src = cls(path, False, names, delimiter, not spec.no_header, compression, size)
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
        return pa.OSFile(str(self.path))

    def batches(self, columns: list[str], types: dict[str, pa.DataType],
                block_size: int | None = None) -> Iterator[tuple[pa.RecordBatch, int]]:
        """Yield (batch, bytes read so far) with only ``columns``, cast to ``types``."""
        if self.parquet:
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(self.path)
            total_rows = max(pf.metadata.num_rows, 1)
            done = 0
            for batch in pf.iter_batches(batch_size=1 << 16, columns=columns):
                batch = _cast_batch(batch, types, self.path)
                done += batch.num_rows
                yield batch, int(self.size * done / total_rows)
            return
        # Arrow's streaming reader parses on one core; ``read_csv`` on a chunk of whole lines parses
        # its blocks on all cores, and a chunk is all that is held (see benchmarks/RESULTS.md).
        chunk_size = block_size or BLOCK_SIZE
        parse = pacsv.ParseOptions(delimiter=self.delimiter, newlines_in_values=False)
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

            with gzip.open(path, "rb") as fh:
                data = fh.read(SAMPLE_BYTES)
        elif compression == "bz2":
            import bz2

            with bz2.open(path, "rb") as fh:
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


def _guess_delimiter(path: Path, head: str) -> str:
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


def _cast_batch(batch: pa.RecordBatch, types: dict[str, pa.DataType], path: Path) -> pa.RecordBatch:
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


def _csv_error(src: _Source, exc: Exception) -> InputError:
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


def _text_lines(src: _Source):
    """The file's lines as text, undecodable bytes replaced (only used to locate an error)."""
    if src.compression in ("gzip", "bz2"):
        mod = __import__(src.compression)
        return mod.open(src.path, "rt", encoding="utf-8", errors="replace", newline="")
    return open(src.path, encoding="utf-8", errors="replace", newline="")


def _find_value_line(src: _Source, index: int, value: str) -> int | None:
    """The line of the first row whose field ``index`` is ``value`` (only called on error)."""
    try:
        with _text_lines(src) as fh:
            rows = csv.reader(fh, delimiter=src.delimiter or ",")
            for number, row in enumerate(rows, start=1):
                if number >= src.first_data_line and index < len(row) and row[index].strip() == value:
                    return number
    except (OSError, EOFError, csv.Error):
        return None
    return None


def _find_non_utf8_line(src: _Source) -> int | None:
    try:
        with _text_lines(src) as fh:
            for number, line in enumerate(fh, start=1):
                if "\ufffd" in line:
                    return number
    except (OSError, EOFError):
        return None
    return None


def _find_ragged_line(src: _Source) -> int | None:
    """Find the first line whose field count differs from the header's (only called on error)."""
    try:
        with _text_lines(src) as fh:
            expected = len(src.names)
            for number, row in enumerate(csv.reader(fh, delimiter=src.delimiter or ","), start=1):
                if row and len(row) != expected:
                    return number
    except (OSError, EOFError, csv.Error):
        return None
    return None


# ------------------------------------------------------------------------------------------- counting


def _require_columns(src: _Source, columns, flag: str) -> None:
    missing = [c for c in columns if c not in src.names]
    if missing:
        raise OptionsError(
            f"{src.path}: {flag} names column(s) not in the file: {', '.join(map(repr, missing))}; "
            f"the columns are: {', '.join(src.names)}"
        )


def _where_columns(src: _Source, spec: InputSpec) -> dict[str, list[str]]:
    where: dict[str, list[str]] = {}
    for column, value in spec.where:
        where.setdefault(column, []).append(value)
    _require_columns(src, list(where), "--where")
    return where


def _row_filter(batch: pa.RecordBatch, where: dict[str, list[str]]) -> np.ndarray | None:
    """Boolean mask of rows kept by ``--where`` (several values of one column: any; columns: all)."""
    if not where:
        return None
    keep = np.ones(batch.num_rows, dtype=bool)
    for column, values in where.items():
        text = pc.utf8_trim_whitespace(batch.column(column).cast(pa.string()))
        hit = pc.is_in(text, value_set=pa.array(values, pa.string()))
        keep &= hit.fill_null(False).to_numpy(zero_copy_only=False)
    return keep


def _read_classes_file(path: Path) -> list[str]:
    try:
        names = [ln.strip() for ln in Path(path).read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the classes file ({exc})") from None
    names = [n for n in names if n]
    if not names:
        raise InputError(f"{path}: the classes file lists no class")
    return names


def _detect_label_columns(
    src: _Source, spec: InputSpec, where: dict[str, list[str]]
) -> tuple[list[str], list[str]]:
    """Label-like columns in the first block, and the columns passed over (for the report)."""
    candidates = [n for n in src.names if n not in spec.exclude_columns and n not in where]
    if not candidates:
        return [], src.names
    if src.parquet:
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(src.path)
        sample = next(pf.iter_batches(batch_size=1 << 14, columns=candidates), None)
        if sample is None:
            raise InputError(f"{src.path}: the table has a header but no rows")
    else:
        first = next(src.batches(candidates, {}, block_size=SAMPLE_BYTES), None)
        sample = first[0] if first is not None else None
        if sample is None or sample.num_rows == 0:
            raise InputError(f"{src.path}: the table has a header but no rows")
    chosen, skipped = [], []
    for name in candidates:
        column = sample.column(name)
        if _is_label_like(name, column):
            chosen.append(name)
        else:
            skipped.append(name)
    return chosen, skipped


def _is_label_like(name: str, column: pa.Array) -> bool:
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        return False
    if column.null_count == len(column):
        return False
    if _ID_LIKE.search(name):
        return False
    values = _numbers(column.drop_null()).astype(np.float64)
    labels = (values == -1) | ((values >= 0) & (values <= 1))
    if labels.all():
        return True
    # A 0/1 column with a few stray integers (a 2 where a tag was repeated) is a label column with bad
    # values: taking it makes the scan stop at the first bad value with its row, where skipping it
    # would silently drop a class from the weights.
    integral = bool(np.all(np.isfinite(values) & (values == np.round(values))))
    return integral and bool(values.min() >= -1) and labels.mean() >= DIRTY_LABEL_SHARE


def _wide_columns(src: _Source, spec: InputSpec, where) -> tuple[list[str], list[str], list[str] | None]:
    """(file columns to read, class names, columns passed over by detection or None) for the wide
    layout."""
    class_names = _read_classes_file(spec.classes_file) if spec.classes_file else None
    if spec.columns:
        columns = list(spec.columns)
        _require_columns(src, columns, "--columns")
        skipped = None
    elif class_names and src.header:
        columns = class_names
        _require_columns(src, columns, "--classes-file")
        return columns, columns, None
    else:
        columns, skipped = _detect_label_columns(src, spec, where)
        if not columns:
            raise InputError(
                f"{src.path}: no label columns found (a label column holds only 0/1, -1 or blanks); "
                f"the columns are: {', '.join(src.names)}",
                hint="choose them with --columns A,B,C, or use --list-column / --class-column",
            )
    columns = [c for c in columns if c not in spec.exclude_columns]
    if class_names:
        if len(class_names) != len(columns):
            raise OptionsError(
                f"{spec.classes_file} names {len(class_names)} classes but {src.path} has "
                f"{len(columns)} label columns ({', '.join(columns)})",
                hint="pass --columns to choose the label columns the names belong to",
            )
        return columns, class_names, skipped
    return columns, columns, skipped


@dataclass
class LabelBatch:
    """One batch of rows as labels, in file order.

    ``labels`` is ``[n, C]`` in [0, 1] with NaN for ignored values (uint8 for label lists);
    ``rows`` the 1-based line numbers; ``missing``/``uncertain`` per-class counts of blanks and -1 in
    the batch (wide layout only); ``done`` the bytes read so far (for progress).
    """

    labels: np.ndarray
    classes: list[str]
    rows: np.ndarray
    done: int = 0
    missing: np.ndarray | None = None
    uncertain: np.ndarray | None = None
    notes: tuple[str, ...] = ()


def iter_label_batches(path: Path, spec: InputSpec, classes: list[str] | None = None, *,
                       source: _Source | None = None) -> Iterator[LabelBatch]:
    """Stream a table as label batches in row order (after ``--where`` and the value policy).

    ``classes`` fixes the class list of label-list layouts (a label outside it is an error); without
    it, classes are added as they are first seen, so ``batch.classes`` may grow between batches.
    ``source`` replaces the opened file by a part of it (the Dask engine's row blocks).
    """
    with reader_boundary(path):
        yield from _label_batches(Path(path), spec, classes, source)


def _label_batches(path: Path, spec: InputSpec, classes: list[str] | None,
                   source: _Source | None = None) -> Iterator[LabelBatch]:
    src = source if source is not None else _Source.open(path, spec)
    layout = _layout(spec)
    where = _where_columns(src, spec)
    if layout == "wide":
        yield from _wide_batches(src, spec, where)
        return
    column = spec.list_column if layout == "list" else spec.class_column
    flag = "--list-column" if layout == "list" else "--class-column"
    _require_columns(src, [column], flag)
    yield from _list_batches(src, spec, column, where, split=layout == "list", classes=classes)


def count_file(path: Path, spec: InputSpec, progress: Progress | None = None, *,
               source: _Source | None = None) -> Counts:
    counts = Counts([])
    if spec.cooccurrence:
        counts.track_cooccurrence()
    reported = 0
    for batch in iter_label_batches(path, spec, source=source):
        counts.add_batch(batch)
        if progress is not None:
            progress(batch.done - reported)
            reported = batch.done
    return counts


def detection_notes(src: _Source, columns: list[str], skipped: list[str] | None) -> tuple[str, ...]:
    """The report's note on detected label columns (none when they were given): the local reader and
    the Dask planner both add it."""
    if skipped is None:
        return ()
    return (f"{src.path.name}: label columns detected: {', '.join(columns)}"
            + (f"; other columns: {', '.join(skipped)}" if skipped else ""),)


def _wide_batches(src: _Source, spec: InputSpec, where) -> Iterator[LabelBatch]:
    columns, classes, skipped = _wide_columns(src, spec, where)
    notes = detection_notes(src, columns, skipped)
    types = {c: pa.float64() for c in columns}
    types.update({c: pa.string() for c in where})
    line = src.first_data_line
    plain = not spec.policy.ignore_values and spec.policy.binarize is None
    nothing = np.zeros(len(columns))
    for batch, done in src.batches(columns + [c for c in where if c not in columns], types):
        n = batch.num_rows
        rows = np.arange(line, line + n)
        line += n
        binary = _binary_block([batch.column(name) for name in columns], n) if plain else None
        if binary is not None:
            keep = _row_filter(batch, where)
            if keep is not None:
                binary, rows = binary[keep], rows[keep]
            yield LabelBatch(binary, classes, rows, done, nothing.copy(), nothing.copy(), notes)
            notes = ()
            continue
        values = np.empty((n, len(columns)), dtype=np.float64)
        for j, name in enumerate(columns):
            values[:, j] = _numbers(batch.column(name))
        keep = _row_filter(batch, where)
        if keep is not None:
            values, rows = values[keep], rows[keep]
        result = apply_policy(values, spec.policy, columns=columns, row_numbers=rows, source=str(src.path))
        yield LabelBatch(result.labels, classes, rows, done, result.missing, result.uncertain, notes)
        notes = ()
    if line == src.first_data_line and src.empty_is_error:
        raise InputError(f"{src.path}: the table has a header but no rows")


def _numbers(column: pa.Array) -> np.ndarray:
    """A numeric Arrow array as NumPy (NaN for nulls), read from its buffers: pyarrow's own
    ``to_numpy`` imports pandas (0.4 s and 50 MB per process) and counting needs none of it."""
    kind = ("i" if pa.types.is_signed_integer(column.type) else "u" if pa.types.is_unsigned_integer(column.type)
            else "f" if pa.types.is_floating(column.type) and column.type.bit_width > 16 else None)
    if kind is None:
        return column.to_numpy(zero_copy_only=False)
    dtype = np.dtype(f"{kind}{column.type.bit_width // 8}")
    n = len(column)
    if n == 0:
        return np.zeros(0, dtype)
    values = np.frombuffer(column.buffers()[1], dtype=dtype, count=n, offset=column.offset * dtype.itemsize)
    if column.null_count:
        bits = np.frombuffer(column.buffers()[0], dtype=np.uint8)
        valid = np.unpackbits(bits, count=column.offset + n, bitorder="little")[column.offset:]
        values = np.where(valid.astype(bool), values, np.nan)
    return values


def _nonblank(text: pa.Array) -> pa.Array:
    """True where a string is neither null nor empty, never null. Built without a Python scalar:
    converting one (``pc.not_equal(text, "")``, ``fill_null(False)``) imports pandas."""
    return pc.and_kleene(pc.is_valid(text), pc.cast(pc.utf8_length(text), pa.bool_()))


def _bits(mask: pa.Array) -> np.ndarray:
    """A boolean Arrow array without nulls as a NumPy bool array (see :func:`_numbers`)."""
    n = len(mask)
    if n == 0:
        return np.zeros(0, dtype=bool)
    bits = np.frombuffer(mask.buffers()[1], dtype=np.uint8)
    return np.unpackbits(bits, count=mask.offset + n, bitorder="little")[mask.offset:].astype(bool)


def _binary_block(columns: list[pa.Array], n: int) -> np.ndarray | None:
    """The batch as ``[n, C]`` uint8 when every value is 0 or 1 (no blank, no -1), else None.

    The common case needs no value policy: one byte a value, stacked class by class (contiguous
    copies) and handed on as the transposed view."""
    if not columns or not all(pa.types.is_integer(c.type) and c.null_count == 0 for c in columns):
        return None
    arrays = [_numbers(c) for c in columns]
    block = np.empty((len(arrays), n), dtype=np.result_type(*arrays))
    for j, values in enumerate(arrays):
        block[j] = values
    if n and (block.min() < 0 or block.max() > 1):
        return None
    return block.astype(np.uint8, copy=False).T


def _list_batches(src: _Source, spec: InputSpec, column: str, where, *, split: bool,
                  classes: list[str] | None) -> Iterator[LabelBatch]:
    excluded = set(spec.exclude_columns)
    separator = spec.separator
    types = {column: pa.string()}
    types.update({c: pa.string() for c in where})
    known: list[str] = list(classes or [])
    code_of: dict[str, int] = {name: i for i, name in enumerate(known)}
    line = src.first_data_line
    checked = False
    for batch, done in src.batches([column] + [c for c in where if c != column], types):
        rows = np.arange(line, line + batch.num_rows)
        line += batch.num_rows
        text = batch.column(column)
        keep = _row_filter(batch, where)
        if keep is not None:
            text = text.filter(pa.array(keep))
            rows = rows[keep]
        n = len(text)
        if split and not checked:
            checked = _reject_numeric_list(src, column, text, rows)
        if split:
            if separator is None:
                separator = _guess_list_separator(text)
            # A blank cell splits into a null list, which flattening drops: no fill_null needed.
            lists = pc.split_pattern(text, separator)
            parents = _numbers(pc.list_parent_indices(lists))
            labels = pc.utf8_trim_whitespace(pc.list_flatten(lists))
        else:
            parents = np.arange(n)
            labels = pc.utf8_trim_whitespace(text.cast(pa.string()))
        present = _nonblank(labels)
        if excluded:
            present = pc.and_(present, pc.invert(pc.is_in(labels, value_set=pa.array(sorted(excluded)))))
        labels = labels.filter(present)
        parents = parents[_bits(present)]
        encoded = pc.dictionary_encode(labels)
        names = encoded.dictionary.to_pylist()
        new = [s for s in names if s not in code_of]
        if new and classes is not None:
            first = new[0]
            row = int(rows[parents[np.flatnonzero(np.asarray(labels.to_pylist(), dtype=object) == first)[0]]])
            raise InputError(f"{src.path}: row {row}: label '{first}' is not one of the known classes")
        for name in new:
            code_of[name] = len(known)
            known.append(name)
        remap = np.array([code_of[s] for s in names], dtype=np.int64)
        codes = remap[_numbers(encoded.indices)] if names else np.zeros(0, np.int64)
        for start, block in _indicator_blocks(n, parents, codes, len(known)):
            yield LabelBatch(block, list(known), rows[start:start + len(block)], done)
    if line == src.first_data_line and src.empty_is_error:
        raise InputError(f"{src.path}: the table has a header but no rows")


def _reject_numeric_list(src: _Source, column: str, text: pa.Array, rows: np.ndarray) -> bool:
    """A --list-column whose cells are all single numbers is a count or a 0/1 column, not lists of
    label names: counting "0" and "1" as classes would be silently wrong. Lists of class ids ("3 7")
    stay allowed. Returns whether the check could be made (a block with a non-blank cell)."""
    cells = pc.utf8_trim_whitespace(text.cast(pa.string()))
    filled = _nonblank(cells)
    present = cells.filter(filled)
    if len(present) == 0:
        return False
    try:
        pc.cast(present, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return True
    first = int(np.flatnonzero(filled.to_numpy(zero_copy_only=False))[0])
    raise InputError(
        f"{src.path}: --list-column '{column}' holds numbers (row {int(rows[first])}: "
        f"'{present[0].as_py()}'), not lists of label names",
        hint=f"a 0/1 label column is read with --columns {column}; one class id per row with "
        f"--class-column {column}",
    )


def _indicator_blocks(n: int, parents: np.ndarray, codes: np.ndarray, num_classes: int):
    """Rows given as (row, class) pairs, as dense 0/1 blocks of at most ``LIST_BLOCK_ROWS`` rows, so a
    label repeated in a row counts once and co-occurrence is a plain product."""
    for start in range(0, n, LIST_BLOCK_ROWS):
        stop = min(start + LIST_BLOCK_ROWS, n)
        lo, hi = np.searchsorted(parents, [start, stop])
        block = np.zeros((stop - start, num_classes), dtype=np.uint8)
        block[parents[lo:hi] - start, codes[lo:hi]] = 1
        yield start, block


def _guess_list_separator(text: pa.Array) -> str:
    sample = [s for s in text.slice(0, 2000).to_pylist() if s]
    for sep in LIST_SEPARATORS:
        if any(sep in s.strip() for s in sample):
            return sep
    return "|"


# -------------------------------------------------------------------------------------------- row ids


def row_ids(path: Path, spec: InputSpec, id_column: str | None = "auto") -> tuple[str | None, list[str]]:
    """(the id column, its values for the rows kept by ``--where``, in row order): the row ids that go
    with per-sample weights (:mod:`bceweights.sampling`). ``"auto"`` picks the first column that is not
    a label column and whose name looks like an id (path, image, id, file, name ...), or the first
    such column of a file without header; ``(None, [])`` when there is none. It is a pass of its own,
    so counting never pays for it."""
    with reader_boundary(path):
        src = _Source.open(Path(path), spec)
        where = _where_columns(src, spec)
        layout = _layout(spec)
        if layout == "wide":
            taken = set(_wide_columns(src, spec, where)[0])
        else:
            taken = {spec.list_column if layout == "list" else spec.class_column}
        if id_column == "auto":
            id_column = next((n for n in src.names
                              if n not in taken and (not src.header or _ID_LIKE.search(n))), None)
        if id_column is None:
            return None, []
        _require_columns(src, [id_column], "--id-column")
        wanted = list(dict.fromkeys([id_column, *where]))
        ids: list[str] = []
        for batch, _ in src.batches(wanted, {c: pa.string() for c in wanted}):
            values = batch.column(id_column)
            keep = _row_filter(batch, where)
            if keep is not None:
                values = values.filter(pa.array(keep))
            ids.extend("" if v is None else v for v in values.to_pylist())
        return id_column, ids
