"""A scanner made for label tables: NumPy over the raw bytes of a chunk of whole lines.

A 0/1 label field is one byte between two separators, so finding the line ends once and reading the
label bytes at their offsets beats a general CSV parser several times over. The kernels here only
answer when the chunk is *provably simple*; for anything else they return ``None`` and the caller
parses that chunk with Arrow, which gives the same counts and, on bad input, the exact error with its
row number. So a kernel never returns a block for input that Arrow would reject or read differently:
any quote character, a bare CR, a row with another field count, a label value outside the allowed
single-byte forms, a NUL byte in a label list ... all give ``None``.

What Arrow does that the kernels copy exactly (with the reader's options: ``newlines_in_values=False``,
no escape character, ``NULL_VALUES``): LF and CRLF end a line; empty lines are skipped; the chunk's last
line may lack its line end; a blank field is null.

Only NumPy is imported: both kernels run on any install, and NumPy releases the GIL in the loops that
matter, so ``threads=2`` counts two halves of a chunk on two cores.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

#: The int8 value ``scan_wide`` puts where a label field is blank (``allow_blank``): the caller applies
#: its missing-value policy to it. Arrow reads such a field as null.
BLANK = -128
#: The cells Arrow reads as null (the table reader's ``NULL_VALUES``): a label-list cell equal to one of
#: them is null in Arrow (no labels), so ``scan_lists`` leaves such chunks to Arrow.
NULL_VALUES = ("", "NA", "N/A", "NaN", "nan", "null", "NULL", "None")
#: Below this many bytes a chunk is not worth a second thread (the pool's hand-off costs ~50 µs).
MIN_PART_BYTES = 1 << 20
#: Chunks are scanned in parts of about this size (see ``_map_parts``).
PART_BYTES = 1 << 19

_LF, _CR, _QUOTE, _ZERO, _ONE, _MINUS = 10, 13, 34, 48, 49, 45
# Bytes that may never be a delimiter or a list separator here: line ends, the quote, label characters.
_RESERVED = frozenset(b'\n\r"01-')
# Arrow's utf8_trim_whitespace strips these ASCII bytes (measured on pyarrow 26: Unicode White_Space
# plus the bidi separators, i.e. \t \n \v \f \r, 0x1C-0x1F and space).
_ASCII_SPACE = np.zeros(256, dtype=bool)
_ASCII_SPACE[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True


# ----------------------------------------------------------------------------------------------- wide


def scan_wide(data, *, delimiter: bytes, num_fields: int, label_fields: Sequence[int],
              allow_uncertain: bool = False, allow_blank: bool = False, threads: int = 1) -> np.ndarray | None:
    """The label fields of a chunk of whole lines as an int8 ``[n_rows, len(label_fields)]`` block, in
    row order and in the order of ``label_fields`` (0-based field indices), or ``None`` when the chunk
    is not provably simple and must be parsed by Arrow.

    Values are 0 and 1; -1 where ``allow_uncertain`` and the field is ``-1``; :data:`BLANK` (-128)
    where ``allow_blank`` and the field is empty. ``data`` is bytes-like and ends at a line end (or is
    the file's last line without one); it holds no header. ``threads`` > 1 splits a big chunk at line
    ends and scans the parts at once. The block may be a view into a scratch array (not contiguous).
    """
    delim = _one_byte(delimiter)
    fields = [int(f) for f in label_fields]
    if num_fields < 1 or not fields or len(set(fields)) != len(fields) or not all(
            0 <= f < num_fields for f in fields):
        raise ValueError(f"label_fields {list(label_fields)} do not index {num_fields} distinct fields")
    a = _bytes_view(data)
    if delim is None or delim in _RESERVED or len(a) == 0:  # no byte at all is an "empty CSV file" to Arrow
        return None
    cr = _line_ends_ok(data, a)
    if cr is None:
        return None
    plan = _WidePlan(delim, num_fields, fields, allow_uncertain, allow_blank)
    parts = _map_parts(lambda part: _wide_part(part, cr, plan), a, threads)
    if parts is None:
        return None
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


class _WidePlan:
    """What every part of a chunk shares: the label fields and the fixed-width run they may form."""

    def __init__(self, delim: int, num_fields: int, fields: list[int], uncertain: bool, blank: bool) -> None:
        self.delim, self.num_fields, self.fields = delim, num_fields, fields
        self.uncertain, self.blank = uncertain, blank
        # The run of fields from the first label field to the last, when every one is one byte:
        # "<d>v<d>v...<d>v" before its anchor, the line end or the delimiter after the last label
        # field ("v<d>v...v" from the line start when it starts at field 0). Checked against a
        # template with one XOR and one AND over the gathered bytes.
        self.first = first = min(fields)
        self.last = last = max(fields)
        self.trailing = last == num_fields - 1
        self.run = last - first + 1
        self.width = 2 * self.run if first else 2 * self.run - 1
        labels = set(fields)
        value_at = {f: 2 * (f - first) + (1 if first else 0) for f in range(first, last + 1)}
        template = np.full(self.width, delim, dtype=np.uint8)
        mask = np.full(self.width, 0xFF, dtype=np.uint8)
        for f, pos in value_at.items():
            # Label bytes XOR '0' leave 0 or 1, so the mask ignores bit 0; other fields' bytes are kept
            # as they are (XOR 0, mask 0) and checked on their own.
            template[pos], mask[pos] = (_ZERO, 0xFE) if f in labels else (0, 0)
        # The same widened on the left to whole 8-byte words (bytes not looked at), so that the check
        # runs on uint64: used when the first line is long enough.
        self.span = -(-self.width // 8) * 8
        pad = self.span - self.width
        self.template8 = np.concatenate([np.zeros(pad, np.uint8), template]).view(np.uint64)
        self.mask8 = np.concatenate([np.zeros(pad, np.uint8), mask]).view(np.uint64)
        self.template, self.mask = template, mask
        self.others = [value_at[f] for f in value_at if f not in labels]
        columns = [value_at[f] for f in fields]
        step = columns[1] - columns[0] if len(columns) > 1 else 1
        if step > 0 and columns == list(range(columns[0], columns[-1] + 1, step)):
            self.columns: slice | list[int] = slice(columns[0], columns[-1] + 1, step)
        else:
            self.columns = columns
        self.pad = pad
        self.contiguous = fields == list(range(first, last + 1))
        # A chunk that fails the template can still be read field by field when a label may be "-1" or
        # blank, or when the run holds a wider non-label field.
        self.general_may_help = uncertain or blank or bool(self.others)

    def shifted(self, by: int) -> slice | list[int]:
        if isinstance(self.columns, slice):
            return slice(self.columns.start + by, self.columns.stop + by, self.columns.step)
        return [c + by for c in self.columns]


def _wide_part(a: np.ndarray, cr: bool, plan: _WidePlan) -> np.ndarray | None:
    starts, cend = _lines(a, cr)
    if len(starts) == 0:
        return np.empty((0, len(plan.fields)), dtype=np.int8)
    if plan.trailing:
        block = _fixed_run(a, starts, cend, cend, plan)
        if block is not None or not plan.general_may_help:
            return block
        return _field_by_field(a, starts, cend, plan, _delimiters(a, starts, cend, plan.delim, plan.num_fields))
    # Fields after the labels: every delimiter's position gives both the field counts and the anchors.
    pos = _delimiters(a, starts, cend, plan.delim, plan.num_fields)
    if pos is None:
        return None
    block = _fixed_run(a, starts, cend, pos[:, plan.last], plan, counted=True)
    if block is not None or not plan.general_may_help:
        return block
    return _field_by_field(a, starts, cend, plan, pos)


def _delimiters(a: np.ndarray, starts: np.ndarray, cend: np.ndarray, delim: int,
                num_fields: int) -> np.ndarray | None:
    """Every delimiter's position as ``[n, num_fields - 1]``, or None when a line has another count.

    The positions are sorted and there are n·(num_fields - 1) of them; when each line's block starts
    and ends inside that line, every line holds exactly its block (empty lines hold none)."""
    n = len(starts)
    pos = np.flatnonzero(a == delim)
    if len(pos) != n * (num_fields - 1):
        return None
    pos = pos.reshape(n, num_fields - 1)
    if num_fields > 1 and not (np.all(pos[:, 0] >= starts) and np.all(pos[:, -1] < cend)):
        return None
    return pos


def _fixed_run(a: np.ndarray, starts: np.ndarray, cend: np.ndarray, anchors: np.ndarray, plan: _WidePlan,
               counted: bool = False) -> np.ndarray | None:
    """The labels when the run from the first to the last label field is one byte per field, the run
    ending at ``anchors`` (each line's content end, or the delimiter after its last label field).
    ``counted``: every line's field count is known to be right."""
    width = plan.width
    if plan.first == 0 and not np.all(anchors - starts == width):
        return None
    if anchors[0] >= plan.span:
        # Each line's run and the bytes before it up to whole words: one contiguous copy per line.
        block = np.lib.stride_tricks.sliding_window_view(a, plan.span)[anchors - plan.span]
        words = block.view(np.uint64)
        words ^= plan.template8
        if (words & plan.mask8).any():
            return None
        shift = plan.pad
    elif anchors[0] >= width:
        block = np.lib.stride_tricks.sliding_window_view(a, width)[anchors - width]
        block ^= plan.template
        if (block & plan.mask).any():
            return None
        shift = 0
    else:  # the first line is too short for the run (and its window would wrap)
        return None
    if plan.others:
        # Non-label fields in the run: one byte each, so neither a delimiter (an empty field) nor the
        # previous line's end (a line shorter than the run).
        raw = block[:, [p + shift for p in plan.others]]
        if ((raw == plan.delim) | (raw == _LF) | (raw == _CR)).any():
            return None
    # The run holds exactly its own delimiters and no line end, so each line is what comes before it
    # (first - 1 delimiters wanted) and the run. One id column before the labels (the common layout)
    # needs no per-line count: no delimiter at all outside the runs.
    if counted or plan.first == 0:
        pass
    elif plan.first == 1:
        if np.count_nonzero(a == plan.delim) != len(starts) * plan.run:
            return None
    elif not _field_counts_ok(a, starts, plan.delim, plan.num_fields):
        return None
    return block.view(np.int8)[:, plan.shifted(shift)]


def _field_by_field(a: np.ndarray, starts: np.ndarray, cend: np.ndarray, plan: _WidePlan,
                    pos: np.ndarray | None) -> np.ndarray | None:
    """The labels from every field's bounds (``pos``: every delimiter's position, per line): slower,
    any field layout and the multi-byte values "-1" and blank."""
    if pos is None:
        return None
    n, nf, k = len(starts), plan.num_fields, len(plan.fields)
    # (Below 3 bytes a negative index below would not wrap: the general path.)
    if plan.contiguous and plan.first > 0 and len(a) >= 3:
        # Each label field read from the bytes before its end (the delimiter after it or the line's
        # end): "<d>0" "<d>1" "<d>-1" or a blank "<d>" before the end. Three plain gathers (a window
        # view gathered as [n, k, 3] costs four times more).
        first, last = plan.first, plan.last
        inner = min(last, nf - 2) + 1  # the label fields that end at a delimiter
        back = np.empty((n, k), dtype=np.int64)
        np.subtract(pos[:, first:inner], 3, out=back[:, :inner - first])
        if last == nf - 1:
            back[:, -1] = cend - 3
        # Indices before the part's start (a first line ",1,..." or ",,...") wrap to its end; the
        # bytes read there never decide: the field's own last byte already rules those cases.
        final = a[back + 2]
        second = a[back + 1]
        digit = final - np.uint8(_ZERO)
        one = (second == plan.delim) & (digit <= 1)
        ok, out = one, digit * one
        if plan.uncertain:
            minus = (final == _ONE) & (second == _MINUS) & (a[back] == plan.delim)
            ok = ok | minus
            out += minus * np.uint8(255)  # -1 as int8
        if plan.blank:
            blank = final == plan.delim
            ok = ok | blank
            out += blank * np.uint8(128)  # BLANK as int8
        return out.view(np.int8) if ok.all() else None
    fields = np.asarray(plan.fields)
    left = np.empty((n, k), dtype=np.int64)  # each field's first byte
    right = np.empty((n, k), dtype=np.int64)  # one past its last byte
    inner = fields > 0
    left[:, inner] = pos[:, fields[inner] - 1] + 1
    left[:, ~inner] = starts[:, None]
    inner = fields < nf - 1
    right[:, inner] = pos[:, fields[inner]]
    right[:, ~inner] = cend[:, None]
    width = right - left
    top = len(a) - 1
    first_byte = a[np.minimum(left, top)]
    second_byte = a[np.minimum(left + 1, top)]
    out = (first_byte - _ZERO).view(np.int8)
    ok = (width == 1) & (out.view(np.uint8) <= 1)
    if plan.uncertain:
        minus = (width == 2) & (first_byte == _MINUS) & (second_byte == _ONE)
        ok |= minus
        out = np.where(minus, np.int8(-1), out)
    if plan.blank:
        blank = width == 0
        ok |= blank
        out = np.where(blank, np.int8(BLANK), out)
    return out if ok.all() else None


# ---------------------------------------------------------------------------------------------- lists


class ListScan(NamedTuple):
    """Label lists in CSR form: ``rows[i]`` (0-based row of the chunk) holds class ``codes[i]``, in row
    order, labels in the order they appear in a row (a label repeated in a row is repeated here);
    ``names[c]`` is class ``c``, in first-seen order; ``num_rows`` counts the rows, with or without
    labels."""

    rows: np.ndarray
    codes: np.ndarray
    names: list[str]
    num_rows: int


def scan_lists(data, *, delimiter: bytes, num_fields: int, list_field: int, separator: bytes,
               null_values: Sequence[str] = NULL_VALUES, threads: int = 1) -> ListScan | None:
    """The label lists of field ``list_field`` (``A|B|C``; Planet's ``haze primary``) of a chunk of
    whole lines, as Arrow's ``split_pattern`` + ``utf8_trim_whitespace`` + dropping blanks reads them,
    or ``None`` when the chunk is not provably simple (see the module's notes; also a cell equal to one
    of ``null_values``, a label that starts or ends with a non-ASCII character that is not a letter or a
    digit, a NUL byte, bytes that are not UTF-8).
    """
    delim, sep = _one_byte(delimiter), _one_byte(separator)
    if not 0 <= list_field < num_fields:
        raise ValueError(f"list_field {list_field} does not index {num_fields} fields")
    a = _bytes_view(data)
    if delim is None or sep is None or delim in _RESERVED or sep in b'\n\r"' or sep == delim or len(a) == 0:
        return None
    cr = _line_ends_ok(data, a)
    if cr is None or _contains(data, a, 0):
        return None
    nulls = sorted({v.encode("utf-8") for v in null_values})
    parts = _map_parts(lambda part: _list_part(part, cr, delim, sep, num_fields, list_field, nulls), a, threads)
    if parts is None:
        return None
    return _merge_lists(parts)


#: ``_id_and_list``'s answer for chunks of another layout (None would mean "leave it to Arrow").
_OTHER_LAYOUT = object()


class _Tokens(NamedTuple):
    rows: np.ndarray
    codes: np.ndarray
    names: list[bytes]
    num_rows: int


def _list_part(a: np.ndarray, cr: bool, delim: int, sep: int, num_fields: int, field: int,
               nulls: list[bytes]) -> _Tokens | None:
    if num_fields == 2 and field == 1:
        found = _id_and_list(a, cr, delim, sep, nulls)
        if found is not _OTHER_LAYOUT:
            return found
    starts, cend = _lines(a, cr)
    n = len(starts)
    if n == 0:
        return _Tokens(np.zeros(0, np.int64), np.zeros(0, np.int32), [], 0)
    lo, hi = _cells(a, starts, cend, delim, num_fields, field)
    if lo is None:
        return None
    length = hi - lo
    if _has_null_cell(a, lo, length, nulls):
        return None
    filled = np.flatnonzero(length)  # blank cells hold no label
    if len(filled) < n:
        lo, hi, length = lo.take(filled), hi.take(filled), length.take(filled)
    if len(filled) == 0:
        return _Tokens(np.zeros(0, np.int64), np.zeros(0, np.int32), [], n)
    # The mask has one more (False) byte, so that a cell ending the chunk is a valid segment start.
    is_sep = np.zeros(len(a) + 1, dtype=bool)
    np.equal(a, sep, out=is_sep[:-1])
    seps = np.flatnonzero(is_sep)
    if len(seps) == 0:
        t_lo, t_hi, rows = lo, hi, filled
    else:
        t_lo, t_hi, per_cell = _split_cells(is_sep, seps, lo, hi, int(length.max()))
        rows = np.repeat(filled, per_cell)
    return _tokens(a, t_lo, t_hi, rows, n)


def _id_and_list(a: np.ndarray, cr: bool, delim: int, sep: int, nulls: list[bytes]):
    """``id<d>A|B|C`` lines (the common label-list layout) from one pass over the structural bytes.

    The line ends, delimiters and separators, in order, must read ``D S* LF`` on every line: then a
    token runs from each D or S to the next event. Anything else (an empty line, a separator in the
    id, another field count) is ``_OTHER_LAYOUT``, for the general path to decide."""
    events = np.flatnonzero((a == _LF) | (a == delim) | (a == sep))
    if len(a) and a[-1] != _LF:
        events = np.append(events, len(a))  # the last line's end
    kind = a[np.minimum(events, len(a) - 1)]
    if len(events) and events[-1] == len(a):
        kind[-1] = _LF
    is_end = kind == _LF
    ends = np.flatnonzero(is_end)
    n = len(ends)
    if n == 0:
        return _OTHER_LAYOUT
    # Every line opens with its one delimiter: the first event and each one after a line end is a
    # delimiter, and there are exactly n delimiters, so none is elsewhere.
    heads = np.empty(n, dtype=np.int64)
    heads[0] = 0
    heads[1:] = ends[:-1] + 1
    if not np.all(kind[heads] == delim):
        return _OTHER_LAYOUT
    if int(np.count_nonzero(kind == delim)) != n:
        return _OTHER_LAYOUT
    lo = events[heads] + 1  # each cell's first byte
    hi = events[ends]
    if cr:  # a CR is only ever before a LF (checked): it ends the cell, not part of it
        hi = hi - ((hi > lo) & (a[hi - 1] == _CR))
    if _has_null_cell(a, lo, hi - lo, nulls):
        return None
    # A token from each delimiter or separator to the next event; its row counts the line ends before.
    opens = np.flatnonzero(~is_end)
    t_lo = events.take(opens) + 1
    t_hi = events.take(opens + 1)
    rows = np.repeat(np.arange(n), ends - heads)  # a line's events before its end open its tokens
    return _tokens(a, t_lo, t_hi, rows, n)


def _tokens(a: np.ndarray, t_lo: np.ndarray, t_hi: np.ndarray, rows: np.ndarray, n: int) -> _Tokens | None:
    """Tokens trimmed, blanks dropped, encoded."""
    trimmed = _trim(a, t_lo, t_hi)
    if trimmed is None:
        return None
    t_lo, t_hi = trimmed
    kept = np.flatnonzero(t_hi > t_lo)  # indices, then take: much faster than three boolean masks
    if len(kept) < len(t_lo):
        t_lo, t_hi, rows = t_lo.take(kept), t_hi.take(kept), rows.take(kept)
    encoded = _encode(a, t_lo, t_hi)
    if encoded is None:
        return None
    return _Tokens(rows, *encoded, n)


def _cells(a: np.ndarray, starts: np.ndarray, cend: np.ndarray, delim: int, num_fields: int,
           field: int) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
    """Each line's bounds of field ``field``, or (None, None) when a line has another field count."""
    pos = _delimiters(a, starts, cend, delim, num_fields)
    if pos is None:
        return None, None
    lo = pos[:, field - 1] + 1 if field else starts
    hi = pos[:, field] if field < num_fields - 1 else cend
    return lo, hi


def _split_cells(is_sep: np.ndarray, seps: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                 longest: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(token starts, token ends, tokens per cell) of non-blank cells split at the separators."""
    bounds = np.empty(2 * len(lo), dtype=np.int64)
    bounds[0::2], bounds[1::2] = lo, hi
    # Sums over [lo, hi) (the odd segments, between cells, may wrap in a narrow type: not used).
    kind = np.uint8 if longest < 1 << 8 else np.uint16 if longest < 1 << 16 else np.int64
    inside = np.add.reduceat(is_sep, bounds, dtype=kind)[0::2]
    if int(inside.sum(dtype=np.int64)) != len(seps):
        # Separators outside the list cells too (in an id): keep those inside, by their cell.
        cell = np.searchsorted(lo, seps, side="right") - 1
        seps = seps[(cell >= 0) & (seps < hi[np.maximum(cell, 0)])]
    per_cell = inside.astype(np.int64) + 1
    first = np.cumsum(per_cell) - per_cell  # each cell's first token
    last = first + per_cell - 1
    total = int(last[-1]) + 1
    t_lo = np.empty(total, dtype=np.int64)
    t_hi = np.empty(total, dtype=np.int64)
    # A token starts at its cell's start or after a separator, and ends at a separator or its cell's end.
    after = np.ones(total, dtype=bool)
    after[first] = False
    t_lo[after] = seps + 1
    t_lo[first] = lo
    before = np.ones(total, dtype=bool)
    before[last] = False
    t_hi[before] = seps
    t_hi[last] = hi
    return t_lo, t_hi, per_cell


def _has_null_cell(a: np.ndarray, lo: np.ndarray, length: np.ndarray, nulls: list[bytes]) -> bool:
    """Whether a cell equals a null value (Arrow reads it as null: no labels, whatever it splits into)."""
    sizes = {len(raw) for raw in nulls if raw}
    if not sizes:
        return False
    short = np.flatnonzero((length > 0) & (length <= max(sizes)))
    for size in sizes:
        candidates = lo[short[length[short] == size]]
        if len(candidates) == 0:
            continue
        cells = a[candidates[:, None] + np.arange(size)]
        for raw in nulls:
            if len(raw) == size and (cells == np.frombuffer(raw, dtype=np.uint8)).all(axis=1).any():
                return True
    return False


def _trim(a: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Token bounds without the leading and trailing ASCII whitespace Arrow trims (None past 16 bytes
    of it: left to Arrow)."""
    top = len(a) - 1
    for _ in range(16):
        lead = (hi > lo) & _ASCII_SPACE[a[np.minimum(lo, top)]]
        if not lead.any():
            break
        lo = lo + lead
    else:
        return None
    for _ in range(16):
        trail = (hi > lo) & _ASCII_SPACE[a[hi - 1]]
        if not trail.any():
            return lo, hi
        hi = hi - trail
    return None


#: ``_KEEP[k]``: the low k bytes of a little-endian uint64 word.
_KEEP = np.array([(1 << (8 * k)) - 1 for k in range(9)], dtype=np.uint64)


def _encode(a: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, list[bytes]] | None:
    """Each token's class code (first-seen order within the part) and the classes' bytes."""
    count = len(lo)
    if count == 0:
        return np.zeros(0, np.int32), []
    length = hi - lo
    words = -(-int(length.max()) // 8)
    # Each token as ``words`` uint64 words, the bytes past its end zeroed: unambiguous, since the
    # chunk holds no NUL byte.
    keys = np.empty((count, words), dtype=np.uint64)
    if int(lo[-1]) + 8 * words > len(a):  # a token near the part's end: read past it from zeros
        a = np.concatenate([a, np.zeros(8 * words, np.uint8)])
    # Every byte offset as the start of a little-endian uint64 (unaligned): a word per token in one take.
    unaligned = np.ndarray((len(a) - 7,), dtype="<u8", buffer=a, strides=(1,))
    for j in range(words):
        keys[:, j] = unaligned[lo + 8 * j if j else lo]
        keys[:, j] &= _KEEP[np.clip(length - 8 * j, 0, 8)]
    key = keys[:, 0]
    if words > 1:
        key = key.copy()
        for j in range(1, words):
            key *= np.uint64(0x9E3779B97F4A7C15)
            key ^= keys[:, j]
    rep = _first_of_key(key)
    if words > 1 and not np.array_equal(keys[rep], keys):  # a hash collision between two labels
        return None
    seen = np.zeros(count, dtype=bool)
    seen[rep] = True
    firsts = np.flatnonzero(seen)  # each class's first token, in order
    code_of = np.empty(count, dtype=np.int32)
    code_of[firsts] = np.arange(len(firsts), dtype=np.int32)
    return code_of[rep], [a[lo[i]:hi[i]].tobytes() for i in firsts]


def _first_of_key(key: np.ndarray) -> np.ndarray:
    """For each key, the index of its first occurrence; linear passes over a hash table instead of a
    sort (a chunk holds a few distinct labels among many tokens).

    Round by round: each bucket keeps its smallest token index; the tokens whose key equals their
    bucket's winner are resolved (the winner is their key's first occurrence, since all of a key's
    tokens share a bucket and none was resolved before); the rest try again with another hash."""
    count = len(key)
    rep = np.empty(count, dtype=np.int64)
    todo = None  # all tokens, in the first round
    k = key
    bits = 12  # a 32 KiB table stays in cache; labels are few, and collisions only cost a round
    mult = 0x9E3779B97F4A7C15
    for _ in range(64):
        bucket = ((k * np.uint64(mult)) >> np.uint64(64 - bits)).astype(np.int64)
        table = np.full(1 << bits, count, dtype=np.int64)
        np.minimum.at(table, bucket, np.arange(count) if todo is None else todo)
        winner = table[bucket]
        hit = key[winner] == k
        if todo is None and hit.all():
            return winner
        if todo is None:
            todo = np.arange(count)
        rep[todo[hit]] = winner[hit]
        todo = todo[~hit]
        if len(todo) == 0:
            return rep
        k = key[todo]
        mult = (mult * 0xBF58476D1CE4E5B9 + 2) % (1 << 64) | 1
        bits = min(bits + 3, 22)
    raise AssertionError("hash rounds did not converge")  # never: each round resolves a key per bucket


def _merge_lists(parts: list[_Tokens]) -> ListScan | None:
    names: list[str] = []
    index: dict[bytes, int] = {}
    rows, codes = [], []
    offset = 0
    for part in parts:
        remap = np.empty(len(part.names), dtype=np.int32)
        for i, raw in enumerate(part.names):
            if raw not in index:
                try:
                    name = raw.decode("utf-8")
                except UnicodeDecodeError:  # Arrow's error, with its row, is the caller's to give
                    return None
                if not (_plain_edge(name[0]) and _plain_edge(name[-1])):
                    return None
                index[raw] = len(names)
                names.append(name)
            remap[i] = index[raw]
        rows.append(part.rows + offset)
        codes.append(remap[part.codes])
        offset += part.num_rows
    return ListScan(np.concatenate(rows), np.concatenate(codes), names, offset)


def _plain_edge(char: str) -> bool:
    """Whether Arrow's trim keeps this first or last character of a label as it is: ASCII (the ASCII
    whitespace is already trimmed) or a letter or digit; other non-ASCII characters may be Unicode
    whitespace, which is left to Arrow."""
    return char.isascii() or char.isalnum()


# --------------------------------------------------------------------------------------------- shared


def _one_byte(value) -> int | None:
    if isinstance(value, str):
        value = value.encode("utf-8")
    return value[0] if len(value) == 1 else None


def _bytes_view(data) -> np.ndarray:
    return np.frombuffer(data, dtype=np.uint8)


def _contains(data, a: np.ndarray, byte: int) -> bool:
    if isinstance(data, (bytes, bytearray)):
        return data.find(bytes((byte,))) >= 0  # memchr
    return bool(np.any(a == byte))


def _line_ends_ok(data, a: np.ndarray) -> bool | None:
    """Whether the chunk has CRs (all of them in CRLF), or ``None`` when it has a quote or a CR that
    ends a line on its own (Arrow's "\\r" line end, and any quoting, are left to Arrow)."""
    if _contains(data, a, _QUOTE):
        return None
    if not _contains(data, a, _CR):
        return False
    if isinstance(data, (bytes, bytearray)):
        paired = data.count(b"\r") == data.count(b"\r\n")
    else:
        cr = np.flatnonzero(a == _CR)
        paired = bool(cr[-1] + 1 < len(a)) and bool(np.all(a[cr + 1] == _LF))
    return True if paired else None


def _lines(a: np.ndarray, cr: bool) -> tuple[np.ndarray, np.ndarray]:
    """(each non-empty line's first byte, one past its last content byte): LF or CRLF ends a line, the
    last line may have no end, empty lines are dropped as Arrow drops them."""
    ends = np.flatnonzero(a == _LF)
    if len(a) and a[-1] != _LF:
        ends = np.append(ends, len(a))
    starts = np.empty_like(ends)
    if len(ends):
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
    cend = ends
    if cr and len(ends):
        # Every CR is followed by LF (checked), so a CR before a line end belongs to that line.
        cend = ends - (a[np.maximum(ends - 1, 0)] == _CR)
    empty = cend == starts
    if empty.any():
        keep = ~empty
        starts, cend = starts[keep], cend[keep]
    return starts, cend


def _field_counts_ok(a: np.ndarray, starts: np.ndarray, delim: int, num_fields: int) -> bool:
    """Whether every line has ``num_fields - 1`` delimiters: per-line sums over the delimiter mask,
    in the narrowest type a line's length allows (uint8 sums are the fastest)."""
    longest = max(int(np.diff(starts).max()) if len(starts) > 1 else 0, len(a) - int(starts[-1]))
    kind = np.uint8 if longest < 1 << 8 else np.uint16 if longest < 1 << 16 else np.int64
    if num_fields - 1 >= np.iinfo(kind).max:
        kind = np.int64
    # Each segment runs from a line's start to the next kept line's start: it may include skipped
    # empty lines, which hold no delimiter.
    counts = np.add.reduceat(a == delim, starts, dtype=kind)
    return bool(np.all(counts == num_fields - 1))


_POOL: ThreadPoolExecutor | None = None
_POOL_SIZE = 0
_POOL_LOCK = threading.Lock()


def _pool(workers: int) -> ThreadPoolExecutor:
    """One pool for the process, grown when more threads are asked for (its threads idle between
    chunks; starting threads per chunk would cost more than a part's scan)."""
    global _POOL, _POOL_SIZE
    from concurrent.futures import ThreadPoolExecutor

    with _POOL_LOCK:
        if _POOL is None or workers > _POOL_SIZE:
            # The old pool is not shut down: another thread may be submitting to it; once unused, its
            # idle threads end with it.
            _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bceweights-scan")
            _POOL_SIZE = workers
        return _POOL


def _map_parts(func, a: np.ndarray, threads: int) -> list | None:
    """``func`` over parts of ``a`` of about :data:`PART_BYTES` cut at line ends, in order, or ``None``
    when any part gives ``None``. Small parts keep every pass over a part in the CPU's cache and the
    temporaries under glibc's mmap threshold (4 MiB temporaries cost more in page faults than in
    work); with ``threads`` > 1, runs of parts go to the pool and the first run to this thread."""
    parts = _split(a, max(1, -(-len(a) // PART_BYTES)))
    runs = max(1, min(int(threads), len(a) // MIN_PART_BYTES, len(parts)))

    def run(group: list[np.ndarray]) -> list | None:
        out = []
        for part in group:
            result = func(part)
            if result is None:
                return None
            out.append(result)
        return out

    bounds = [len(parts) * i // runs for i in range(runs + 1)]
    groups = [parts[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]
    futures = [_pool(runs - 1).submit(run, group) for group in groups[1:]]
    results = [run(groups[0])] + [f.result() for f in futures]
    if any(r is None for r in results):
        return None
    return [item for group in results for item in group]


def _split(a: np.ndarray, count: int) -> list[np.ndarray]:
    cuts = [0]
    for i in range(1, count):
        at = max(len(a) * i // count, cuts[-1])
        found = np.flatnonzero(a[at:at + (1 << 16)] == _LF)
        if len(found) == 0:
            continue  # a line over 64 KiB: fewer parts
        cut = at + int(found[0]) + 1
        if cut > cuts[-1]:
            cuts.append(cut)
    cuts.append(len(a))
    return [a[lo:hi] for lo, hi in zip(cuts[:-1], cuts[1:]) if hi > lo] or [a]
