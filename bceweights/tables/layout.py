"""How a table is read as labels: its layout (wide 0/1 columns, label lists, one class per row),
settled once per file from its header and first block, and the label batches built from Arrow batches.

* **wide** multi-hot: one column per class holding 0/1 (or soft values, -1, blanks; see
  :mod:`bceweights.policy`). Columns come from ``--columns``, ``--classes-file`` or are detected: the
  columns whose values in the first block are all 0, 1, -1 or blank, skipping id-like columns (a
  column of fractions is a feature, never a soft label: soft labels are counted in named columns);
* **label lists**: ``--list-column`` holding ``A|B|C`` (separator detected among ``|``, ``;``, ``,``
  and space); a label repeated within a row counts once;
* **one class per row**: ``--class-column``; each distinct value is a class, one-vs-rest;
* **long** (Open Images): ``--class-column`` with ``--id-column``: the rows of one id are one sample
  (:mod:`bceweights.tables.long`).

Label lists and one class per row may hold ids named by ``--classes-file`` (:mod:`.names`); a Parquet,
Arrow or JSON list column is a label list as it is (``native``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..classnames import read_classes_file
from ..counts import SparseLabels
from ..errors import InputError, OptionsError, UsageError
from ..policy import apply_policy, format_value
from ..readers.base import LabelBatch
from ..spec import InputSpec
from . import source
from .names import class_codes, column_of, column_type, is_list_type, unknown_label
from .source import TableSource

#: Share of 0/1/-1 values above which an integer column is taken as a label column holding bad values.
DIRTY_LABEL_SHARE = 0.9
LIST_SEPARATORS = ("|", ";", ",", " ")
#: Up to this many classes, label lists are counted as dense 0/1 blocks of ``LIST_BLOCK_ROWS`` rows (the
#: fastest form for few classes: 1M rows of 50 classes in 0.14 s against 0.2 s sparse); above it as sparse
#: rows, whose memory follows the labels, not rows x classes.
DENSE_LIST_CLASSES = 256
LIST_BLOCK_ROWS = 1 << 14
ID_LIKE = re.compile(
    r"(^|[\s_\-./])(id|ids|idx|index|key|uid|uuid|path|file|filename|name|image|img|patient|subject|case)"
    r"($|[\s_\-./#])",
    re.IGNORECASE,
)


def layout_kind(spec: InputSpec) -> str:
    """``wide``, ``list``, ``class`` or ``long``: the layout the options ask for (two at once is a usage
    error)."""
    chosen = [name for name, value in (("list", spec.list_column), ("class", spec.class_column),
                                       ("wide", spec.columns)) if value]
    if len(chosen) > 1:
        raise UsageError("choose one layout: --columns, --list-column or --class-column")
    kind = chosen[0] if chosen else "wide"
    if kind == "class" and spec.id_column:
        return "long"
    for value, flag in ((spec.confidence_column, "--confidence-column"), (spec.negatives, "--negatives")):
        if value is not None:
            raise UsageError(f"{flag} reads the long layout: give --id-column and --class-column too")
    return kind


@dataclass(frozen=True)
class Layout:
    """How one table file is read, settled once (so every part of a file reads the same columns).

    ``columns``/``classes``: the wide layout's label columns and their class names (a classes file may
    rename them); ``column``: the label-list or class column; ``separator``: the list separator, given
    or guessed from the first rows; ``where``: ``--where`` as (column, values); ``notes``: what was
    detected, for the report (carried by the first batch); ``detected``: the label columns were
    detected from their first values (0/1, -1, blank), so a soft value later is an error."""

    kind: str
    columns: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    column: str | None = None
    separator: str | None = None
    where: tuple[tuple[str, tuple[str, ...]], ...] = ()
    notes: tuple[str, ...] = ()
    #: The label-list column is a list column of the file (Parquet, Arrow, JSON): no separator.
    native: bool = False
    detected: bool = False

    @property
    def where_map(self) -> dict[str, list[str]]:
        return {column: list(values) for column, values in self.where}

    @property
    def read_columns(self) -> list[str]:
        """Every column the layout reads from the file (labels, then --where columns)."""
        labels = list(self.columns) if self.kind == "wide" else [self.column]
        return labels + [c for c, _ in self.where if c not in labels]


def settle(src: TableSource, spec: InputSpec) -> Layout:
    """The layout of ``src`` under ``spec``: label columns detected, the list separator guessed."""
    kind = layout_kind(spec)
    where = where_columns(src, spec)
    frozen_where = tuple((column, tuple(values)) for column, values in where.items())
    if kind == "wide":
        columns, classes, skipped = wide_columns(src, spec, where)
        return Layout("wide", tuple(columns), tuple(classes), where=frozen_where,
                      notes=detection_notes(src, columns, skipped), detected=skipped is not None)
    flag = "--list-column" if kind == "list" else "--class-column"
    column = column_of(src, spec.list_column if kind == "list" else spec.class_column)
    require_columns(src, [column], flag)
    native = is_list_type(column_type(src, column))
    if native and kind != "list":
        raise OptionsError(f"{src.path}: column '{column}' holds lists of labels",
                           hint=f"read it with --list-column {column}")
    separator = spec.separator
    if kind == "list" and separator is None and not native:
        separator = _first_separator(src, column, where)
    return Layout(kind, column=column, separator=separator, where=frozen_where, native=native)


def _first_separator(src: TableSource, column: str, where: dict[str, list[str]]) -> str:
    """The separator guessed from the first batch of the file (after --where)."""
    types = {column: pa.string(), **{c: pa.string() for c in where}}
    first = next(src.batches([column] + [c for c in where if c != column], types), None)
    if first is None:
        return "|"
    batch = first[0]
    text = batch.column(column)
    keep = row_filter(batch, where)
    if keep is not None:
        text = text.filter(pa.array(keep))
    return guess_list_separator(text)


def label_batches(src: TableSource, layout: Layout, spec: InputSpec,
                  classes: list[str] | None = None) -> Iterator[LabelBatch]:
    """Stream ``src`` as label batches in row order (after ``--where`` and the value policy).

    ``classes`` fixes the class list of label-list layouts (a label outside it is an error); without
    it, classes are added as they are first seen, so ``batch.classes`` may grow between batches."""
    if layout.kind == "wide":
        yield from wide_batches(src, layout, spec)
    else:
        yield from list_batches(src, layout, spec, split=layout.kind == "list", classes=classes)


def require_columns(src: TableSource, columns, flag: str) -> None:
    missing = [c for c in columns if c not in src.names]
    if missing:
        raise OptionsError(
            f"{src.path}: {flag} names column(s) not in the file: {', '.join(map(repr, missing))}; "
            f"the columns are: {', '.join(src.names)}"
        )



def where_columns(src: TableSource, spec: InputSpec) -> dict[str, list[str]]:
    where: dict[str, list[str]] = {}
    for column, value in spec.where:
        where.setdefault(column, []).append(value)
    require_columns(src, list(where), "--where")
    return where


def row_filter(batch: pa.RecordBatch, where: dict[str, list[str]]) -> np.ndarray | None:
    """Boolean mask of rows kept by ``--where`` (several values of one column: any; columns: all)."""
    if not where:
        return None
    keep = np.ones(batch.num_rows, dtype=bool)
    for column, values in where.items():
        text = pc.utf8_trim_whitespace(batch.column(column).cast(pa.string()))
        hit = pc.is_in(text, value_set=pa.array(values, pa.string()))
        keep &= hit.fill_null(False).to_numpy(zero_copy_only=False)
    return keep


def detect_label_columns(
    src: TableSource, spec: InputSpec, where: dict[str, list[str]]
) -> tuple[list[str], list[str]]:
    """Label-like columns in the first block, and the columns passed over (for the report)."""
    candidates = [n for n in src.names if n not in spec.exclude_columns and n not in where]
    if not candidates:
        return [], src.names
    if src.parquet:
        import pyarrow.parquet as pq

        with source.parquet_errors(src.path):
            pf = pq.ParquetFile(source.source(src.path))
            sample = next(pf.iter_batches(batch_size=1 << 14, columns=candidates), None)
        if sample is None:
            raise InputError(f"{src.path}: the table has a header but no rows")
    else:
        first = next(src.batches(candidates, {}, block_size=source.SAMPLE_BYTES), None)
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
    if ID_LIKE.search(name):
        return False
    values = numbers(column.drop_null()).astype(np.float64)
    labels = (values == -1) | (values == 0) | (values == 1)
    if labels.all():
        return True
    # A 0/1 column with a few stray integers (a 2 where a tag was repeated) is a label column with bad
    # values: taking it makes the scan stop at the first bad value with its row, where skipping it
    # would silently drop a class from the weights.
    integral = bool(np.all(np.isfinite(values) & (values == np.round(values))))
    return integral and bool(values.min() >= -1) and labels.mean() >= DIRTY_LABEL_SHARE


def wide_columns(src: TableSource, spec: InputSpec, where) -> tuple[list[str], list[str], list[str] | None]:
    """(file columns to read, class names, columns passed over by detection or None) for the wide
    layout."""
    class_names = read_classes_file(spec.classes_file) if spec.classes_file else None
    if spec.columns:
        columns = list(spec.columns)
        require_columns(src, columns, "--columns")
        skipped = None
    elif class_names and src.header:
        columns = class_names
        require_columns(src, columns, "--classes-file")
        return columns, columns, None
    else:
        columns, skipped = detect_label_columns(src, spec, where)
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


def detection_notes(src: TableSource, columns: list[str], skipped: list[str] | None) -> tuple[str, ...]:
    """The report's note on detected label columns (none when they were given): the local reader and
    the Dask planner both add it."""
    if skipped is None:
        return ()
    return (f"{src.path.name}: label columns detected: {_listed(columns)}"
            + (f"; skipped {len(skipped)} (id-like, or values other than 0/1, -1 and blank; name the label "
               f"columns with --columns): {_listed(skipped)}" if skipped else ""),)


def _listed(names: list[str], most: int = 12) -> str:
    if len(names) <= most:
        return ", ".join(names)
    return f"{', '.join(names[:most - 2])}, ... {', '.join(names[-2:])}"


def wide_batches(src: TableSource, layout: Layout, spec: InputSpec) -> Iterator[LabelBatch]:
    columns, classes, notes, where = list(layout.columns), list(layout.classes), layout.notes, layout.where_map
    types = {c: pa.float64() for c in columns}
    types.update({c: pa.string() for c in where})
    line = src.first_data_line
    plain = not spec.policy.ignore_values and spec.policy.binarize is None
    nothing = np.zeros(len(columns))
    fast = _wide_scanner(src, layout, spec)
    for item, done in src.batches(columns + [c for c in where if c not in columns], types, fast=fast):
        if isinstance(item, source.Scanned):
            rows = np.arange(line, line + item.rows)
            line += item.rows
            yield _scanned_batch(item.value, rows, done, classes, notes, plain, spec, src, columns)
            notes = ()
            continue
        batch = item
        n = batch.num_rows
        rows = np.arange(line, line + n)
        line += n
        binary = _binary_block([batch.column(name) for name in columns], n) if plain else None
        if binary is not None:
            keep = row_filter(batch, where)
            if keep is not None:
                binary, rows = binary[keep], rows[keep]
            yield LabelBatch(binary, classes, rows, done, nothing.copy(), nothing.copy(), notes)
            notes = ()
            continue
        values = np.empty((n, len(columns)), dtype=np.float64)
        for j, name in enumerate(columns):
            values[:, j] = numbers(batch.column(name))
        keep = row_filter(batch, where)
        if keep is not None:
            values, rows = values[keep], rows[keep]
        if layout.detected and spec.policy.binarize is None:
            _refuse_fractions(values, columns, rows, src)
        result = apply_policy(values, spec.policy, columns=columns, row_numbers=rows, source=str(src.path))
        yield LabelBatch(result.labels, classes, rows, done, result.missing, result.uncertain, notes)
        notes = ()
    if line == src.first_data_line and src.empty_is_error:
        raise InputError(f"{src.path}: the table has a header but no rows")


#: A fast scanner that declines this many chunks in a row is not asked again for the file: a file of
#: soft labels or quoted fields would otherwise pay a failed scan on every chunk.
FAST_GIVE_UP = 3


def _scan_threads(spec: InputSpec) -> int:
    """Threads for a chunk's scan: two on two cores or more (each half of a chunk on its own core)."""
    return max(1, min(2, spec.worker_count()))


def _wide_scanner(src: TableSource, layout: Layout, spec: InputSpec):
    """The label-table kernel for this file's chunks (``fastscan.scan_wide``), or None where Arrow
    reads every chunk (Parquet, ``--where``)."""
    # The kernels know '"' quoting only: another quote character (or none) goes through Arrow.
    if src.parquet or layout.where or not src.delimiter or getattr(src, "quote", '"') != '"':
        return None
    from .. import fastscan

    fields = [src.names.index(c) for c in layout.columns]
    if len(set(fields)) != len(fields):
        return None
    delimiter, num_fields, threads = src.delimiter.encode("utf-8"), len(src.names), _scan_threads(spec)
    declined = 0

    def scan(text: bytes) -> source.Scanned | None:
        nonlocal declined
        if declined >= FAST_GIVE_UP:
            return None
        # -1 and blanks are read too: the value policy decides about them, as on Arrow's path.
        block = fastscan.scan_wide(text, delimiter=delimiter, num_fields=num_fields, label_fields=fields,
                                   allow_uncertain=True, allow_blank=True, threads=threads)
        if block is None:
            declined += 1
            return None
        declined = 0
        return source.Scanned(block, len(block))

    return scan


def _scanned_batch(block: np.ndarray, rows: np.ndarray, done: int, classes: list[str], notes, plain: bool,
                   spec: InputSpec, src: TableSource, columns: list[str]) -> LabelBatch:
    """A kernel's int8 block (0, 1, -1 and BLANK) as a label batch: plain 0/1 as they are, else as the
    float64 values Arrow's path reads (-1, NaN for a blank) through the value policy."""
    from ..fastscan import BLANK

    if plain and (len(block) == 0 or block.min() >= 0):
        nothing = np.zeros(len(columns))
        return LabelBatch(block.view(np.uint8), classes, rows, done, nothing, nothing.copy(), notes)
    values = block.astype(np.float64)
    values[block == BLANK] = np.nan
    result = apply_policy(values, spec.policy, columns=columns, row_numbers=rows, source=str(src.path))
    return LabelBatch(result.labels, classes, rows, done, result.missing, result.uncertain, notes)


def _refuse_fractions(values: np.ndarray, columns: list[str], rows: np.ndarray, src: TableSource) -> None:
    """Detected label columns hold 0/1, -1 and blanks: a fraction further on means the detection
    took a feature column for labels, or the labels are soft, which only named columns count."""
    fractional = np.isfinite(values) & (np.floor(values) != values)
    if not fractional.any():
        return
    row, col = (int(i[0]) for i in np.nonzero(fractional))
    raise InputError(
        f"{src.path}: column '{columns[col]}', row {int(rows[row])}: value {format_value(values[row, col])} "
        "in a column detected as 0/1 labels from its first rows",
        hint="name the label columns with --columns (soft labels are counted only in columns named)",
    )


def numbers(column: pa.Array) -> np.ndarray:
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
    arrays = [numbers(c) for c in columns]
    block = np.empty((len(arrays), n), dtype=np.result_type(*arrays))
    for j, values in enumerate(arrays):
        block[j] = values
    if n and (block.min() < 0 or block.max() > 1):
        return None
    return block.astype(np.uint8, copy=False).T


def list_batches(src: TableSource, layout: Layout, spec: InputSpec, *, split: bool,
                 classes: list[str] | None) -> Iterator[LabelBatch]:
    column, separator, where = layout.column, layout.separator, layout.where_map
    # A native list column is read as it is; a text one as strings to split.
    types = {} if layout.native else {column: pa.string()}
    types.update({c: pa.string() for c in where if c != column})
    known, code_of, named, dropped = class_codes(spec, classes)
    excluded = set(spec.exclude_columns) | dropped
    fixed = classes is not None or named is not None
    line = src.first_data_line
    # Ids named by a classes file are numbers on purpose, and a native list is a list whatever it holds;
    # the kernel reads chunks only once Arrow's path has checked that the cells are lists, not numbers.
    checked = not split or named is not None or layout.native
    fast = _list_scanner(src, layout, spec, lambda: checked) if split and not layout.native else None
    for item, done in src.batches([column] + [c for c in where if c != column], types, fast=fast):
        if isinstance(item, source.Scanned):
            found = item.value
            n = found.num_rows
            rows = np.arange(line, line + n)
            line += n
            parents, local, names = found.rows, found.codes, found.names
            if excluded and any(name in excluded for name in names):
                keep = np.array([name not in excluded for name in names])
                kept = np.flatnonzero(keep[local])
                parents, local = parents.take(kept), (np.cumsum(keep) - 1)[local.take(kept)]
                names = [name for name in names if name not in excluded]
        else:
            rows = np.arange(line, line + item.num_rows)
            line += item.num_rows
            text = item.column(column)
            keep = row_filter(item, where)
            if keep is not None:
                text = text.filter(pa.array(keep))
                rows = rows[keep]
            n = len(text)
            if not checked:
                checked = _reject_numeric_list(src, column, text, rows)
            how = "native" if layout.native else separator if split else None
            parents, local, names = _arrow_labels(text, how, excluded)
        new = [s for s in names if s not in code_of]
        if new and fixed:
            first = new[0]
            row = int(rows[parents[np.flatnonzero(local == names.index(first))[0]]])
            raise unknown_label(src.path, row, first, named)
        for name in new:
            code_of[name] = len(known)
            known.append(name)
        remap = np.array([code_of[s] for s in names], dtype=np.int64)
        codes = remap[local] if names else np.zeros(0, np.int64)
        if len(known) > DENSE_LIST_CLASSES:
            # Sparse rows: memory follows the labels, not rows x classes (20,000 classes would be 328 MB
            # a dense block); a label repeated in a row counts once.
            yield LabelBatch(SparseLabels.from_pairs(parents, codes, n, len(known)), list(known), rows, done)
            continue
        for start, block in _indicator_blocks(n, parents, codes, len(known)):
            yield LabelBatch(block, list(known), rows[start:start + len(block)], done)
    if line == src.first_data_line and src.empty_is_error:
        raise InputError(f"{src.path}: the table has a header but no rows")


def _arrow_labels(text: pa.Array, separator: str | None,
                  excluded: set[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(each label's row, its code, the codes' names) of a column of label lists (split at
    ``separator``; ``"native"``: a list column of the file, Parquet/Arrow/JSON) or of single labels
    (``None``), trimmed, blanks and ``excluded`` dropped."""
    if separator == "native":
        parents = numbers(pc.list_parent_indices(text))
        labels = pc.utf8_trim_whitespace(pc.list_flatten(text).cast(pa.string()))
    elif separator is not None:
        # A blank cell splits into a null list, which flattening drops: no fill_null needed.
        lists = pc.split_pattern(text, separator)
        parents = numbers(pc.list_parent_indices(lists))
        labels = pc.utf8_trim_whitespace(pc.list_flatten(lists))
    else:
        parents = np.arange(len(text))
        labels = pc.utf8_trim_whitespace(text.cast(pa.string()))
    present = _nonblank(labels)
    if excluded:
        present = pc.and_(present, pc.invert(pc.is_in(labels, value_set=pa.array(sorted(excluded)))))
    labels = labels.filter(present)
    parents = parents[_bits(present)]
    encoded = pc.dictionary_encode(labels)
    names = encoded.dictionary.to_pylist()
    local = numbers(encoded.indices) if names else np.zeros(0, np.int64)
    return parents, local, names


def _list_scanner(src: TableSource, layout: Layout, spec: InputSpec, checked):
    """The label-list kernel for this file's chunks (``fastscan.scan_lists``) once ``checked()``, or
    None where Arrow reads every chunk (Parquet, ``--where``, a separator of several characters)."""
    if src.parquet or layout.where or not src.delimiter or getattr(src, "quote", '"') != '"' \
            or len(layout.separator.encode("utf-8")) != 1:
        return None
    from .. import fastscan

    delimiter, separator = src.delimiter.encode("utf-8"), layout.separator.encode("utf-8")
    field, num_fields, threads = src.names.index(layout.column), len(src.names), _scan_threads(spec)
    declined = 0

    def scan(text: bytes) -> source.Scanned | None:
        nonlocal declined
        if declined >= FAST_GIVE_UP or not checked():
            return None
        found = fastscan.scan_lists(text, delimiter=delimiter, num_fields=num_fields, list_field=field,
                                    separator=separator, threads=threads)
        if found is None:
            declined += 1
            return None
        declined = 0
        return source.Scanned(found, found.num_rows)

    return scan


def _reject_numeric_list(src: TableSource, column: str, text: pa.Array, rows: np.ndarray) -> bool:
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


def guess_list_separator(text: pa.Array) -> str:
    sample = [s for s in text.slice(0, 2000).to_pylist() if s]
    for sep in LIST_SEPARATORS:
        if any(sep in s.strip() for s in sample):
            return sep
    return "|"


def row_ids(src: TableSource, layout: Layout, id_column: str | None = "auto") -> tuple[str | None, list[str]]:
    """(the id column, its values for the rows kept by ``--where``, in row order): the row ids that go
    with per-sample weights (:mod:`bceweights.sampling`). ``"auto"`` picks the first column that is not
    a label column and whose name looks like an id (path, image, id, file, name ...), or the first
    such column of a file without header; ``(None, [])`` when there is none. It is a pass of its own,
    so counting never pays for it."""
    where = layout.where_map
    taken = set(layout.columns) if layout.kind == "wide" else {layout.column}
    if id_column == "auto":
        id_column = next((n for n in src.names if n not in taken and (not src.header or ID_LIKE.search(n))), None)
    if id_column is None:
        return None, []
    id_column = column_of(src, id_column)
    require_columns(src, [id_column], "--id-column")
    wanted = list(dict.fromkeys([id_column, *where]))
    ids: list[str] = []
    for batch, _ in src.batches(wanted, {c: pa.string() for c in wanted}):
        values = batch.column(id_column)
        keep = row_filter(batch, where)
        if keep is not None:
            values = values.filter(pa.array(keep))
        ids.extend("" if v is None else v for v in values.to_pylist())
    return id_column, ids
