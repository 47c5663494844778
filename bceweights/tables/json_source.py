"""JSON Lines (``.jsonl``, ``.ndjson``, gzip too) and JSON arrays of records (``[{...}, {...}]``) as
table sources, streamed: chunks of whole records are parsed by Arrow's JSON reader on every core, and
only a chunk is held at a time.

Each record is a row and its fields are the columns; a nested object is flattened (``{"labels":
{"cat": 1}}`` gives the column ``labels.cat``); ``true``/``false`` read as 1/0. A list field is a label
list as it is (``--list-column labels``), numeric 0/1 fields are wide label columns, detected as in a
CSV. The column types are those of the first chunk (a field that is null there takes the type it has
later); a field whose values change type later is an error naming the row. Rows are numbered by record
from 1 (blank lines of a JSON Lines file are skipped).

A JSON array is cut into records by a vectorised scan of its structure (strings, escapes and nesting),
so a pretty-printed file of any size streams like JSON Lines.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson

from ..errors import InputError
from ..locations import arrow_file, open  # local paths and URLs alike
from .source import TableSource, cast_batch, file_size

CHUNK_BYTES = 1 << 22
#: The first chunks are smaller: detecting label fields needs the first records only.
FIRST_CHUNK = 1 << 18
_PARSE_BLOCK = 1 << 20
#: Bytes read to tell JSON Lines from a JSON array (and from a file that is neither).
HEAD_BYTES = 1 << 20
LINES_EXTENSIONS = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")
_BOM = b"\xef\xbb\xbf"


def _compression(path: Path) -> str | None:
    with open(path, "rb") as fh:
        return "gzip" if fh.read(2) == b"\x1f\x8b" else None


def records_kind(head: bytes) -> str | None:
    """``"array"`` (a JSON array of objects), ``"lines"`` (JSON Lines) or None, from a file's first
    bytes. A single object whose first line does not end within ``head`` is not records (a COCO file
    is one large object), nor is one with ``images`` or ``annotations`` at its top."""
    text = head.removeprefix(_BOM).lstrip()
    if text.startswith(b"["):
        rest = text[1:].lstrip()
        return "array" if rest[:1] in (b"{", b"]") else None
    if not text.startswith(b"{"):
        return None
    line, newline, _ = text.partition(b"\n")
    if not newline:
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or {"images", "annotations"} & set(record):
        return None
    return "lines"


def _escaped(view: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Whether the byte at each of ``positions`` follows an odd run of backslashes."""
    backslash = view == 92
    if not backslash.any() or not len(positions):
        return np.zeros(len(positions), dtype=bool)
    index = np.arange(len(view))
    last_other = np.maximum.accumulate(np.where(backslash, -1, index))
    before = positions - 1
    run = np.where(before >= 0, before - last_other[np.maximum(before, 0)], 0)
    return run % 2 == 1


@dataclass
class ArrayRecords:
    """Cuts a JSON array of objects into JSON Lines, chunk by chunk (``feed``), holding only the bytes of
    an unfinished record between chunks."""

    path: Path
    carry: bytes = b""
    started: bool = False
    closed: bool = False
    records: int = 0

    def feed(self, data: bytes, final: bool) -> bytes:
        buf = self.carry + data
        self.carry = b""
        if self.closed:
            if buf.strip():
                raise InputError(f"{self.path}: text after the closing ']' of the JSON array")
            return b""
        start = 0
        if not self.started:
            body = buf.removeprefix(_BOM).lstrip()
            if not body:
                if final:
                    raise InputError(f"{self.path}: the file is empty")
                self.carry = buf
                return b""
            if not body.startswith(b"["):
                raise InputError(f"{self.path}: not a JSON array of records (it starts with {body[:20]!r})")
            start = len(buf) - len(body) + 1
            self.started = True
        view = np.frombuffer(buf, dtype=np.uint8)[start:]
        quotes = np.flatnonzero(view == 34)
        quotes = quotes[~_escaped(view, quotes)]
        brackets = np.flatnonzero((view == 123) | (view == 125) | (view == 91) | (view == 93))
        # A bracket is structure when an even number of quotes come before it (outside any string).
        brackets = brackets[np.searchsorted(quotes, brackets) % 2 == 0]
        chars = view[brackets]
        step = np.where((chars == 123) | (chars == 91), 1, -1)
        depth = 1 + np.cumsum(step)  # after each bracket; the array itself is depth 1
        opens = brackets[(chars == 123) & (depth == 2)]
        closes = brackets[(chars == 125) & (depth == 1)]
        end = brackets[depth == 0]
        stop = int(end[0]) if len(end) else len(view)
        opens, closes = opens[opens < stop], closes[closes < stop]
        complete = min(len(opens), len(closes))
        opens, closes = opens[:complete], closes[:complete]
        if len(end):
            if len(opens) != len(closes) or (complete and opens[-1] > closes[-1]):
                raise InputError(f"{self.path}: the JSON array closes inside a record")
            self.closed = True
            if view[stop + 1:].tobytes().strip():
                raise InputError(f"{self.path}: text after the closing ']' of the JSON array")
            consumed = stop
        else:
            consumed = int(closes[-1]) + 1 if complete else 0
        self._check_gaps(view, opens, closes, consumed)
        if not self.closed:
            self.carry = view[consumed:].tobytes()
            if final:
                raise InputError(f"{self.path}: the JSON array ends before its closing ']' (is the file cut?)")
        self.records += complete
        body = view.tobytes()
        return b"\n".join(body[a:b + 1].replace(b"\n", b" ").replace(b"\r", b" ")
                          for a, b in zip(opens.tolist(), closes.tolist()))

    def _check_gaps(self, view: np.ndarray, opens: np.ndarray, closes: np.ndarray, consumed: int) -> None:
        """Between records only commas and white space: anything else is an element that is not a
        record (a number, a string, a list)."""
        inside = np.zeros(consumed + 1, dtype=np.int32)
        np.add.at(inside, opens, 1)
        np.add.at(inside, np.minimum(closes + 1, consumed), -1)
        gap = np.cumsum(inside)[:consumed] == 0
        between = view[:consumed][gap]
        allowed = (between == 44) | (between == 32) | (between == 10) | (between == 13) | (between == 9)
        if not allowed.all():
            position = int(np.flatnonzero(gap)[np.flatnonzero(~allowed)[0]])
            record = self.records + int(np.searchsorted(closes, position)) + 1
            raise InputError(f"{self.path}: record {record}: an element of the JSON array is not an object "
                             f"({view[position:position + 20].tobytes()!r}...)",
                             hint="a JSON array of records holds one object per sample")


def _flatten(table: pa.Table) -> pa.Table:
    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    return table


def _unsettled(kind: pa.DataType) -> bool:
    """A type the first records cannot settle: null, or a list of nulls (only empty lists seen)."""
    if pa.types.is_null(kind):
        return True
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return _unsettled(kind.value_type)
    return False


@dataclass
class JsonSource(TableSource):
    """A JSON Lines file or a JSON array of records (``array``); ``schema`` is the first chunk's (its
    nested objects flattened), ``roots`` the top-level field of each column."""

    array: bool = False
    schema: pa.Schema | None = None
    top: pa.Schema | None = None
    roots: dict[str, str] = field(default_factory=dict)

    @classmethod
    def open_json(cls, path: Path) -> JsonSource:
        size = file_size(path, "a JSON file")
        compression = _compression(path)
        probe = cls(path, False, [], size=size, compression=compression)
        head = b""
        for text, _ in probe._raw_chunks(FIRST_CHUNK):
            head += text
            if len(head) >= HEAD_BYTES:
                break
        kind = records_kind(head)
        if kind is None and path.name.lower().endswith(LINES_EXTENSIONS) \
                and head.removeprefix(_BOM).lstrip().startswith(b"{"):
            kind = "lines"  # its first record is longer than the head
        if kind is None:
            raise InputError(f"{path}: neither JSON Lines (an object per line) nor a JSON array of records",
                             hint="a COCO file is read with --format coco")
        probe.array = kind == "array"
        first = None
        for records, _ in probe._records(FIRST_CHUNK):
            if records:
                first = probe._parse(records, None, 0)
                break
        if first is None:
            raise InputError(f"{path}: the file holds no record")
        top = first.schema
        flat = _flatten(first).schema
        roots: dict[str, str] = {}
        for root in top:
            for name in _flatten(pa.table({root.name: pa.nulls(0, root.type)})).schema.names:
                roots[name] = root.name
        return cls(path, False, list(flat.names), size=size, compression=compression, array=probe.array,
                   schema=flat, top=top, roots=roots)

    @property
    def first_data_line(self) -> int:
        return 1

    # -- bytes to records -----------------------------------------------------------------------------

    def _raw_chunks(self, first: int = FIRST_CHUNK) -> Iterator[tuple[bytes, int]]:
        """The file's (decompressed) bytes in pieces growing from ``first`` to ``CHUNK_BYTES``, and the
        compressed bytes read so far."""
        raw = arrow_file(self.path)  # a local file, or a URL read in ranged requests
        stream = pa.CompressedInputStream(raw, self.compression) if self.compression else raw
        step = first
        try:
            while True:
                try:
                    data = stream.read(step)
                except (pa.ArrowException, OSError, EOFError) as exc:
                    raise InputError(f"{self.path}: the {self.compression or ''} file is truncated or corrupt "
                                     f"({exc})".replace("  ", " ")) from None
                if not data:
                    return
                yield data, raw.tell()
                step = min(CHUNK_BYTES, step * 2)
        finally:
            raw.close()

    def _records(self, first: int = FIRST_CHUNK) -> Iterator[tuple[bytes, int]]:
        """Whole records as JSON Lines bytes, chunk by chunk, with the bytes read so far."""
        if self.array:
            cutter = ArrayRecords(self.path)
            pending: tuple[bytes, int] | None = None
            for data, done in self._raw_chunks(first):
                if pending is not None:
                    yield cutter.feed(pending[0], False), pending[1]
                pending = (data, done)
            if pending is not None:
                yield cutter.feed(pending[0], True), pending[1]
            else:
                raise InputError(f"{self.path}: the file is empty")
            return
        rest = b""
        for data, done in self._raw_chunks(first):
            data = rest + data if rest else data
            cut = data.rfind(b"\n") + 1
            rest = data[cut:]
            if cut:
                yield data[:cut], done
        if rest.strip():
            yield rest, self.size

    def _parse(self, records: bytes, schema: pa.Schema | None, rows_before: int, infer: bool = False) -> pa.Table:
        parse = pajson.ParseOptions(explicit_schema=schema,
                                    unexpected_field_behavior="infer" if schema is None or infer else "ignore")
        try:
            return pajson.read_json(io.BytesIO(records), read_options=pajson.ReadOptions(block_size=_PARSE_BLOCK),
                                    parse_options=parse)
        except pa.ArrowInvalid as exc:
            raise self._error(records, parse, rows_before, exc) from None

    def _error(self, records: bytes, parse, rows_before: int, exc: Exception) -> InputError:
        """Where a chunk fails: parsed again as one block, whose message counts rows from its start."""
        import re

        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        try:
            pajson.read_json(io.BytesIO(records), read_options=pajson.ReadOptions(block_size=len(records) + 1,
                                                                                  use_threads=False),
                             parse_options=parse)
        except pa.ArrowInvalid as again:
            message = str(again).strip().splitlines()[0]
        found = re.search(r"in row (\d+)", message)
        where = f"row {rows_before + int(found.group(1)) + 1}: " if found else ""
        message = re.sub(r"\s*in row \d+", "", message.removeprefix("JSON parse error: "))
        return InputError(f"{self.path}: {where}{message}",
                          hint="each record is one JSON object, and a field keeps one type in every record")

    # -- batches --------------------------------------------------------------------------------------

    def batches(self, columns: list[str], types: dict[str, pa.DataType], block_size: int | None = None,
                fast=None) -> Iterator[tuple[pa.RecordBatch, int]]:
        """(batch of ``columns`` cast to ``types``, bytes read so far; ``fast``, the kernels of delimited
        text, does not apply)."""
        missing = [c for c in columns if c not in self.roots]
        if missing:
            raise InputError(f"{self.path}: no field {missing[0]!r}; the fields are: {', '.join(self.names)}")
        roots = list(dict.fromkeys(self.roots[c] for c in columns))
        fields = []
        infer = False
        for root in roots:
            kind = self.top.field(root).type
            if _unsettled(kind):
                infer = True
                continue
            if types.get(root) == pa.float64() and pa.types.is_integer(kind):
                kind = pa.float64()  # a later soft label must not fail an integer parse
            fields.append(pa.field(root, kind))
        schema = pa.schema(fields)
        rows = 0
        for records, done in self._records(block_size or FIRST_CHUNK):
            if not records:
                continue
            table = _flatten(self._parse(records, schema, rows, infer))
            n = table.num_rows
            rows += n
            arrays = []
            for name in columns:
                if name in table.column_names:
                    column = table.column(name).combine_chunks()
                else:
                    column = pa.nulls(n, self.schema.field(name).type if name in self.schema.names else pa.null())
                if pa.types.is_boolean(column.type):
                    column = column.cast(pa.int8())
                if pa.types.is_null(column.type):
                    column = column.cast(types.get(name, pa.string()))
                arrays.append(column)
            batch = pa.RecordBatch.from_arrays(arrays, names=list(columns))
            yield cast_batch(batch, types, self.path), done
