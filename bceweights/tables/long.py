"""The long layout (Open Images' image-level labels): one row per (sample id, class[, confidence]).

``--id-column ImageID --class-column LabelName [--confidence-column Confidence]``. A sample is a
distinct id, whose rows need not be adjacent; per class c:

* P_c: the ids with a row (c, 1) (every row is a 1 without a confidence column);
* ``--negatives verified`` (the default with a confidence column): N_c = the ids with a row (c, 0) and
  none (c, 1); every other id counts as neither for c (``ignored``);
* ``--negatives implicit`` (the default without one): N_c = the ids without a row (c, 1).

A pair (id, c) given twice counts once; given as both 1 and 0 it counts as a positive, and the report
says how often and for which classes. A row whose class is blank (or left out with ``--exclude-columns``)
still makes its id a sample; a confidence the value policy ignores (``--ignore-value``, ``-1`` under
``--uncertain ignore``) makes (id, c) neither. Confidences other than 0 and 1 are refused
(``--binarize T`` reads machine-generated scores).

**Memory.** The distinct (id, class, state) triples are needed (an id's rows may be anywhere), but never
as Python objects: each id is coded in 64 bits, one to one for ids of up to 7 bytes and for 16 hex
digits (Open Images' ImageID: exact counts), hashed otherwise (two ids share a code with probability
about n²/2⁶⁵: 3·10⁻⁸ at 1M ids, 2·10⁻⁶ at 9M); the class and state are packed in 32 bits; the triples
are kept in 16 buckets by the code's top bits, each as sorted unique ids (8 bytes an id), run lengths
(4) and class codes (4 bytes a triple), merged in as the file is read. Open Images' 60M rows over 9M
ids hold ~350 MB. A partition's partial is these buckets; partials of parts of a file (Dask) merge by a
sorted union, so an id spread over parts counts once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError, OptionsError, UsageError
from ..locations import as_path
from ..policy import apply_policy
from ..readers.base import LabelBatch, TargetSample
from .layout import numbers, require_columns, row_filter, where_columns
from .names import class_codes, class_order, column_of, column_type, is_list_type, names_note, unknown_label

if TYPE_CHECKING:
    from ..counts import Counts
    from ..spec import InputSpec
    from .source import TableSource

NEGATIVES = ("verified", "implicit")
#: States of a row: a negative (0), a positive (1), neither (an ignored confidence).
NEG, POS, IGNORED = 0, 1, 2
#: The class code of a row without a class (blank or excluded): its id is a sample all the same.
NO_CLASS = (1 << 30) - 1
BUCKET_BITS = 4
#: Pending triples of a bucket are merged into its sorted ones at this many, or a quarter of those held.
COMPACT_MIN = 1 << 19
#: Ids longer than this are hashed one by one (hashlib) instead of as padded words.
WORD_BYTES = 256
#: Elements of a dense label block handed to the checks and per-sample weights.
BLOCK_ELEMENTS = 1 << 20


@dataclass(frozen=True)
class LongLayout:
    """The long layout of one file: its id, class and confidence columns and how negatives count."""

    id: str
    column: str
    confidence: str | None
    negatives: str
    where: tuple[tuple[str, tuple[str, ...]], ...] = ()
    notes: tuple[str, ...] = ()
    kind: str = "long"

    @property
    def where_map(self) -> dict[str, list[str]]:
        return {column: list(values) for column, values in self.where}

    @property
    def read_columns(self) -> list[str]:
        columns = [self.id, self.column] + ([self.confidence] if self.confidence else [])
        return columns + [c for c, _ in self.where if c not in columns]


def settle(src: TableSource, spec: InputSpec) -> LongLayout:
    """The long layout of ``src``: its columns checked, the negatives rule settled."""
    where = where_columns(src, spec)
    id_column, class_column = column_of(src, spec.id_column), column_of(src, spec.class_column)
    confidence = column_of(src, spec.confidence_column)
    require_columns(src, [id_column], "--id-column")
    require_columns(src, [class_column], "--class-column")
    if confidence is not None:
        require_columns(src, [confidence], "--confidence-column")
    given = [c for c in (id_column, class_column, confidence) if c is not None]
    if len(set(given)) < len(given):
        raise UsageError("--id-column, --class-column and --confidence-column must name different columns")
    negatives = spec.negatives or ("verified" if confidence else "implicit")
    if negatives not in NEGATIVES:
        raise UsageError(f"unknown --negatives {negatives!r}; choose verified or implicit")
    if negatives == "verified" and confidence is None:
        raise UsageError("--negatives verified needs --confidence-column (the column whose 0 rows are the "
                         "verified negatives)")
    if is_list_type(column_type(src, class_column)):
        raise OptionsError(f"{src.path}: --class-column '{class_column}' holds lists of labels",
                           hint=f"read it with --list-column {class_column}")
    return LongLayout(id_column, class_column, confidence, negatives,
                      tuple((column, tuple(values)) for column, values in where.items()))


# ------------------------------------------------------------------------------------------------ ids

_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_LONG_SEED = np.uint64(0x9E3779B97F4A7C15)
_HEX_SEED = np.uint64(0xD6E8FEB86659FD93)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser, in place: a bijection of uint64 that spreads every input bit."""
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def hash_ids(values: pa.Array) -> np.ndarray:
    """64-bit codes of strings, the same in every process. One to one (no two such ids share a code): a
    string of up to 7 bytes (its bytes and length, mixed) and 16 lower-case hex digits (their value,
    mixed: Open Images' ImageID). Any other string goes through a chain of mixes over its 8-byte words.

    >>> codes = hash_ids(pa.array(["a", "b", "a", "0001eeaf4aed83f9"]))
    >>> codes.dtype.name, bool(codes[0] == codes[2]), len(set(codes.tolist()))
    ('uint64', True, 3)
    """
    values = values.cast(pa.large_string()) if not pa.types.is_large_string(values.type) else values
    n = len(values)
    out = np.empty(n, dtype=np.uint64)
    if n == 0:
        return out
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int64, count=n + 1, offset=values.offset * 8)
    buffer = values.buffers()[2]
    data = np.frombuffer(buffer, dtype=np.uint8) if buffer is not None else np.zeros(0, np.uint8)
    lengths = np.diff(offsets)
    huge = lengths > WORD_BYTES
    if huge.any():
        for i in np.flatnonzero(huge):
            digest = hashlib.blake2b(data[offsets[i]:offsets[i + 1]].tobytes(), digest_size=8).digest()
            out[i] = np.frombuffer(digest, dtype=np.uint64)[0]
    rows = np.flatnonzero(~huge) if huge.any() else None
    if rows is not None:
        lengths_kept = lengths[rows]
        starts = offsets[:-1][rows]
    else:
        lengths_kept, starts = lengths, offsets[:-1]
    m = len(lengths_kept)
    if m == 0:
        return out
    width = max(1, (int(lengths_kept.max()) + 7) // 8)
    padded = np.zeros((m, width * 8), dtype=np.uint8)
    first = int(lengths_kept[0])
    if rows is None and (lengths_kept == first).all():
        # Fixed-width ids (Open Images' 16 hex digits): one reshape, no index arrays.
        padded[:, :first] = data[starts[0]:starts[0] + m * first].reshape(m, first)
    else:
        total = int(lengths_kept.sum())
        row = np.repeat(np.arange(m), lengths_kept)
        column = np.arange(total) - np.repeat(np.cumsum(lengths_kept) - lengths_kept, lengths_kept)
        padded[row, column] = data[np.repeat(starts, lengths_kept) + column]
    words = padded.view("<u8")
    size = lengths_kept.astype(np.uint64) << np.uint64(56)
    short = lengths_kept <= 7
    codes = np.empty(m, dtype=np.uint64)
    codes[short] = _mix(words[short, 0] | size[short])
    hexadecimal = np.zeros(m, dtype=bool)
    if width == 2:
        sixteen = np.flatnonzero(lengths_kept == 16)
        digits = padded[sixteen, :16]
        decimal = (digits >= 48) & (digits <= 57)
        letter = (digits >= 97) & (digits <= 102)
        valid = (decimal | letter).all(axis=1)
        sixteen, digits, decimal = sixteen[valid], digits[valid], decimal[valid]
        nibbles = np.where(decimal, digits - 48, digits - 87).astype(np.uint64)
        value = np.zeros(len(sixteen), dtype=np.uint64)
        for i in range(16):
            value = (value << np.uint64(4)) | nibbles[:, i]
        codes[sixteen] = _mix(value ^ _HEX_SEED)
        hexadecimal[sixteen] = True
    if not (short | hexadecimal).all():
        longer = ~(short | hexadecimal)
        h = _mix(size[longer] ^ _LONG_SEED)
        for j in range(width):
            h ^= words[longer, j]
            h = _mix(h)
        codes[longer] = h
    if rows is None:
        return codes
    out[rows] = codes
    return out


def _id_codes(ids: pa.Array) -> np.ndarray:
    """:func:`hash_ids` of a column of ids, each distinct id coded once (an image has ~8 rows)."""
    encoded = pc.dictionary_encode(ids)
    return hash_ids(encoded.dictionary)[numbers(encoded.indices).astype(np.intp)]


# ------------------------------------------------------------------------------------------- partials

def _empty(dtype) -> np.ndarray:
    return np.zeros(0, dtype=dtype)


@dataclass
class Bucket:
    """The (id, class, state) triples of ids whose hash has the same top bits: ``ids`` sorted and
    unique, ``runs`` their triple counts, ``codes`` (class << 2 | state) sorted within each id; triples
    added since the last merge wait in ``pending``."""

    ids: np.ndarray = field(default_factory=lambda: _empty(np.uint64))
    runs: np.ndarray = field(default_factory=lambda: _empty(np.uint32))
    codes: np.ndarray = field(default_factory=lambda: _empty(np.uint32))
    pending: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    waiting: int = 0

    def add(self, ids: np.ndarray, codes: np.ndarray) -> None:
        if not len(ids):
            return
        self.pending.append((ids, codes))
        self.waiting += len(ids)
        if self.waiting >= max(COMPACT_MIN, len(self.codes) // 4):
            self.compact()

    def compact(self) -> None:
        """Merge the pending triples into the sorted ones: the ids by a sorted union, then one sort of
        64-bit keys (id position << 32 | code), whose held part is already in order."""
        if not self.pending:
            return
        new_ids = np.concatenate([p[0] for p in self.pending])
        new_codes = np.concatenate([p[1] for p in self.pending])
        self.pending, self.waiting = [], 0
        ids = np.union1d(self.ids, new_ids) if len(self.ids) else np.unique(new_ids)
        held = np.repeat(np.searchsorted(ids, self.ids).astype(np.uint64), self.runs)
        keys = np.concatenate([(held << np.uint64(32)) | self.codes.astype(np.uint64),
                               (np.searchsorted(ids, new_ids).astype(np.uint64) << np.uint64(32))
                               | new_codes.astype(np.uint64)])
        del held, new_ids, new_codes
        keys.sort()
        keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])] if len(keys) else keys
        self.ids = ids
        self.codes = (keys & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        self.runs = np.bincount((keys >> np.uint64(32)).astype(np.int64), minlength=len(ids)).astype(np.uint32)

    def triples(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Every triple, held and pending, as (ids, codes)."""
        return [(np.repeat(self.ids, self.runs), self.codes), *self.pending]

    def remapped(self, remap: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Every triple as (ids, codes) with class codes through ``remap``."""
        out = []
        for ids, codes in self.triples():
            classes = codes >> 2
            mapped = np.where(classes == NO_CLASS, NO_CLASS, remap[np.minimum(classes, len(remap) - 1)])
            out.append((ids, (mapped.astype(np.uint32) << 2) | (codes & 3)))
        return out


@dataclass
class LongPartial:
    """A partition's long-layout partial: its class names (codes index them; ``fixed`` when a classes
    file gave them all), the buckets of triples, and the rows read (``label_rows``: with a class),
    ``missing`` confidences (blank) and ``negatives``. Merges by a union of the triples."""

    classes: list[str]
    negatives: str
    fixed: bool = False
    notes: list[str] = field(default_factory=list)
    buckets: list[Bucket] = field(default_factory=lambda: [Bucket() for _ in range(1 << BUCKET_BITS)])
    label_rows: int = 0
    missing: int = 0

    def add(self, ids: np.ndarray, codes: np.ndarray) -> None:
        which = (ids >> np.uint64(64 - BUCKET_BITS)).astype(np.intp)
        order = np.argsort(which, kind="stable")
        ends = np.cumsum(np.bincount(which, minlength=len(self.buckets)))
        ids, codes = ids[order], codes[order]
        start = 0
        for bucket, end in zip(self.buckets, ends):
            if end > start:
                bucket.add(ids[start:end], codes[start:end])
            start = end

    def merge(self, other: LongPartial) -> LongPartial:
        known = {name: i for i, name in enumerate(self.classes)}
        for name in other.classes:
            if name not in known:
                known[name] = len(self.classes)
                self.classes.append(name)
        remap = np.array([known[name] for name in other.classes] or [0], dtype=np.uint32)
        same = other.classes == self.classes[:len(other.classes)]  # the same codes (a classes file)
        for mine, theirs in zip(self.buckets, other.buckets):
            for ids, codes in theirs.triples() if same else theirs.remapped(remap):
                mine.add(ids, codes)
        self.label_rows += other.label_rows
        self.missing += other.missing
        self.notes = list(dict.fromkeys([*self.notes, *other.notes]))
        return self

    def compacted(self) -> list[Bucket]:
        for bucket in self.buckets:
            bucket.compact()
        return self.buckets


# ------------------------------------------------------------------------------------------- counting

def _chunks(src: TableSource, layout: LongLayout, *, stop_after: int | None = None
            ) -> Iterator[tuple[pa.RecordBatch, np.ndarray, int]]:
    """(batch of the layout's columns after ``--where``, its row numbers, bytes read)."""
    types = {layout.id: pa.string(), layout.column: pa.string()}
    if layout.confidence:
        types[layout.confidence] = pa.float64()
    types.update({c: pa.string() for c, _ in layout.where if c not in types})
    where = layout.where_map
    line = src.first_data_line
    read = 0
    for batch, done in src.batches(layout.read_columns, types):
        rows = np.arange(line, line + batch.num_rows)
        line += batch.num_rows
        keep = row_filter(batch, where)
        if keep is not None:
            batch, rows = batch.filter(pa.array(keep)), rows[keep]
        yield batch, rows, done
        read += batch.num_rows
        if stop_after is not None and read >= stop_after:
            return
    if line == src.first_data_line and src.empty_is_error:
        raise InputError(f"{src.path}: the table has a header but no rows")


class _Coder:
    """Class labels of one file to class codes (names met as they go, or fixed by a classes file)."""

    def __init__(self, spec: InputSpec, partial: LongPartial) -> None:
        known, self.code_of, self.named, dropped = class_codes(spec)
        self.excluded = set(spec.exclude_columns) | dropped
        self._known: pa.Array | None = None
        self._known_codes = np.zeros(0, dtype=np.int64)
        self.partial = partial
        if self.named is not None:
            partial.classes[:] = known
            partial.fixed = True

    def codes(self, labels: pa.Array, rows: np.ndarray, path) -> np.ndarray:
        """Each row's class code, ``NO_CLASS`` for a blank or excluded label."""
        text = pc.utf8_trim_whitespace(labels)
        encoded = pc.dictionary_encode(text)
        dictionary = encoded.dictionary
        remap = np.full(len(dictionary) + 1, NO_CLASS, dtype=np.int64)  # the last: a null label
        # Labels seen before are looked up by Arrow; only new ones (and dropped ones) pass through Python.
        if self._known is None or len(self._known) != len(self.code_of):
            self._known = pa.array(list(self.code_of), pa.string())
            self._known_codes = np.fromiter(self.code_of.values(), dtype=np.int64, count=len(self.code_of))
        found = numbers(pc.index_in(dictionary, value_set=self._known)) if len(self._known) \
            else np.full(len(dictionary), np.nan)
        hit = ~np.isnan(found)
        remap[:-1][hit] = self._known_codes[found[hit].astype(np.int64)]
        for i in np.flatnonzero(~hit).tolist():
            name = dictionary[i].as_py()
            if not name or name in self.excluded:
                continue
            if self.partial.fixed:
                at = np.flatnonzero(numbers(encoded.indices) == i)[0]
                raise unknown_label(path, int(rows[at]), name, self.named)
            code = self.code_of[name] = len(self.partial.classes)
            self.partial.classes.append(name)
            remap[i] = code
        indices = numbers(encoded.indices)
        indices = np.where(np.isnan(indices), len(dictionary), indices).astype(np.int64) \
            if indices.dtype.kind == "f" else indices.astype(np.int64)
        return remap[indices]


def _states(batch: pa.RecordBatch, layout: LongLayout, spec: InputSpec, rows: np.ndarray, path,
            partial: LongPartial) -> np.ndarray:
    """Each row's state: 1 (positive), 0 (negative) or 2 (neither), from the confidence column and the
    value policy."""
    if layout.confidence is None:
        return np.full(batch.num_rows, POS, dtype=np.uint32)
    values = numbers(batch.column(layout.confidence)).astype(np.float64)[:, None]
    result = apply_policy(values, spec.policy, columns=[layout.confidence], row_numbers=rows, source=str(path))
    partial.missing += int(np.asarray(result.missing).sum())
    y = result.labels[:, 0].astype(np.float64)
    states = np.full(len(y), IGNORED, dtype=np.uint32)
    states[y == 1] = POS
    states[y == 0] = NEG
    soft = ~np.isnan(y) & (y != 0) & (y != 1)
    if soft.any():
        at = int(np.flatnonzero(soft)[0])
        raise InputError(f"{path}: column '{layout.confidence}', row {int(rows[at])}: confidence "
                         f"{values[at, 0]:g} is neither 1 (positive) nor 0 (verified negative)",
                         hint="--binarize T counts a confidence of at least T as a positive")
    return states


def count_source(src: TableSource, layout: LongLayout, spec: InputSpec, progress=None,
                 stop_after: int | None = None) -> LongPartial:
    """The partial of one file or part of one."""
    partial = LongPartial([], layout.negatives)
    coder = _Coder(spec, partial)
    reported = 0
    for batch, rows, done in _chunks(src, layout, stop_after=stop_after):
        if batch.num_rows:
            ids = batch.column(layout.id)
            blank = pc.invert(pc.fill_null(pc.cast(pc.utf8_length(ids), pa.bool_()), False))
            if pc.any(blank).as_py():
                at = int(np.flatnonzero(blank.to_numpy(zero_copy_only=False))[0])
                raise InputError(f"{src.path}: row {int(rows[at])}: the id ('{layout.id}') is blank",
                                 hint="every row of the long layout names its sample")
            codes = coder.codes(batch.column(layout.column), rows, src.path)
            states = _states(batch, layout, spec, rows, src.path, partial)
            partial.label_rows += int(np.count_nonzero(codes != NO_CLASS))
            packed = (codes.astype(np.uint32) << 2) | np.where(codes == NO_CLASS, 0, states).astype(np.uint32)
            partial.add(_id_codes(ids), packed)
        if progress is not None and done > reported:
            progress(done - reported)
            reported = done
    return partial


# ------------------------------------------------------------------------------------------ finishing

@dataclass
class _Samples:
    """Per id (in hash order): its positive classes and, for verified negatives, its negative and
    ignored ones (CSR over final class codes)."""

    ids: np.ndarray
    pos_ptr: np.ndarray
    pos: np.ndarray
    neg_ptr: np.ndarray
    neg: np.ndarray
    off_ptr: np.ndarray
    off: np.ndarray


def _pairs_of(bucket: Bucket, remap: np.ndarray):
    """A bucket's (id index, class, flags) per distinct (id, class), flags bit s set when state s was
    given, and the class of each; the classless markers dropped."""
    ids, runs, codes = bucket.ids, bucket.runs, bucket.codes
    owner = np.repeat(np.arange(len(ids)), runs)
    classes = (codes >> 2).astype(np.int64)
    if len(codes) == 0:
        return owner, classes, np.zeros(0, np.uint8)
    start = np.concatenate([[True], (owner[1:] != owner[:-1]) | (classes[1:] != classes[:-1])])
    first = np.flatnonzero(start)
    flags = np.bitwise_or.reduceat((1 << (codes & 3)).astype(np.uint8), first)
    owner, classes = owner[first], classes[first]
    real = classes != NO_CLASS
    owner, classes, flags = owner[real], classes[real], flags[real]
    return owner, remap[classes], flags


def finish_counts(partial: LongPartial, spec: InputSpec) -> Counts:
    """The counts of a whole input set from its merged partial (see the module's text)."""
    from ..counts import Counts

    order = class_order(partial.classes, spec)
    index = {name: i for i, name in enumerate(order)}
    remap = np.array([index[name] for name in partial.classes] or [0], dtype=np.int64)
    c = len(order)
    pos, neg, off = np.zeros(c), np.zeros(c), np.zeros(c)
    conflicts = np.zeros(c)
    samples = no_positive = entries = 0
    counts = Counts(order)
    if spec.cooccurrence:
        counts.track_cooccurrence()
    for bucket in partial.compacted():
        n = len(bucket.ids)
        owner, classes, flags = _pairs_of(bucket, remap)
        entries += int(np.count_nonzero((bucket.codes >> 2) != NO_CLASS))
        is_pos = (flags & (1 << POS)) != 0
        is_neg = (flags & (1 << NEG)) != 0
        pos += np.bincount(classes[is_pos], minlength=c)
        conflicts += np.bincount(classes[is_pos & is_neg], minlength=c)
        if partial.negatives == "verified":
            neg += np.bincount(classes[~is_pos & is_neg], minlength=c)
        else:
            off += np.bincount(classes[~is_pos & ~is_neg], minlength=c)
        samples += n
        p_owner = owner[is_pos]  # sorted: the triples are in id order
        no_positive += n - (int(np.count_nonzero(p_owner[1:] != p_owner[:-1])) + 1 if len(p_owner) else 0)
        if counts.pairs is not None and len(p_owner):
            # Within an id the triples follow the partial's class codes: sorted again in the final ones.
            keys = p_owner.astype(np.int64) * c + classes[is_pos]
            keys.sort()
            indptr = np.concatenate([[0], np.cumsum(np.bincount(p_owner, minlength=n))])
            counts.pairs.add_csr(indptr, keys % c)
    if partial.negatives == "verified":
        off = samples - pos - neg
    else:
        neg = samples - pos - off
    counts.pos += pos
    counts.neg += neg
    counts.ignored += off
    counts.samples = samples
    counts.no_positive = no_positive
    counts.notes.extend(_notes(partial, spec, order, samples, entries, conflicts))
    return counts


def _notes(partial: LongPartial, spec: InputSpec, order: list[str], samples: int, entries: int,
           conflicts: np.ndarray) -> list[str]:
    rule = ("verified: N_c counts the ids with a 0 row of c and no 1; the other ids are neither for c"
            if partial.negatives == "verified" else "implicit: N_c counts every id without a 1 row of c")
    notes = [f"long layout: {samples:,} ids are the samples, from {partial.label_rows:,} label rows; "
             f"negatives {rule}"]
    repeated = partial.label_rows - entries
    if repeated:
        verb = "rows repeat" if repeated > 1 else "row repeats"
        notes.append(f"long layout: {repeated:,} {verb} an (id, class, value) already given and count"
                     f"{'' if repeated > 1 else 's'} once")
    if conflicts.any():
        top = np.argsort(-conflicts, kind="stable")[:5]
        listed = ", ".join(f"{order[i]} ({int(conflicts[i]):,})" for i in top if conflicts[i])
        more = ", ..." if np.count_nonzero(conflicts) > 5 else ""
        both = int(conflicts.sum())
        notes.append(f"long layout: {both:,} (id, class) {'pairs are' if both > 1 else 'pair is'} both 1 and 0, "
                     f"counted as positive: {listed}{more}")
    if partial.missing:
        notes.append(f"long layout: {partial.missing:,} rows have a blank confidence (--missing "
                     f"{spec.policy.missing})")
    if partial.fixed:
        from .names import named_classes

        named = named_classes(spec)
        if named is not None:
            notes.append(names_note(named, "long layout"))
    return [*partial.notes, *notes]


# ---------------------------------------------------------------------------- rows and target samples

def _samples(partial: LongPartial, spec: InputSpec, order: list[str]) -> _Samples:
    """Every id of the partial (sorted by hash: the buckets in order) with its classes."""
    index = {name: i for i, name in enumerate(order)}
    remap = np.array([index.get(name, -1) for name in partial.classes] or [0], dtype=np.int64)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("ids", "pos_o", "pos", "neg_o", "neg", "off_o", "off")}
    base = 0
    for bucket in partial.compacted():
        owner, classes, flags = _pairs_of(bucket, remap)
        if (classes < 0).any():
            raise InputError(f"a class was not there when the labels were counted: "
                             f"'{partial.classes[int(np.flatnonzero(remap < 0)[0])]}'; did the file change?")
        is_pos = (flags & (1 << POS)) != 0
        is_neg = ((flags & (1 << NEG)) != 0) & ~is_pos
        is_off = ~is_pos & ~is_neg
        parts["ids"].append(bucket.ids)
        for key, mask in (("pos", is_pos), ("neg", is_neg), ("off", is_off)):
            parts[f"{key}_o"].append(owner[mask] + base)
            parts[key].append(classes[mask])
        base += len(bucket.ids)
    ids = np.concatenate(parts["ids"]) if parts["ids"] else _empty(np.uint64)

    def csr(key: str) -> tuple[np.ndarray, np.ndarray]:
        owner = np.concatenate(parts[f"{key}_o"]) if parts[key] else _empty(np.int64)
        classes = np.concatenate(parts[key]) if parts[key] else _empty(np.int64)
        sort = np.lexsort((classes, owner))
        return np.concatenate([[0], np.cumsum(np.bincount(owner, minlength=len(ids)))]), classes[sort]

    return _Samples(ids, *csr("pos"), *csr("neg"), *csr("off"))


def _gather(ptr: np.ndarray, values: np.ndarray, which: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row within ``which``, value) of the CSR rows ``which``."""
    lengths = ptr[which + 1] - ptr[which]
    rows = np.repeat(np.arange(len(which)), lengths)
    at = np.repeat(ptr[which], lengths) + (np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths,
                                                                                lengths))
    return rows, values[at]


def _block(table: _Samples, which: np.ndarray, c: int, negatives: str) -> np.ndarray:
    """Dense labels of the ids ``which``: 1 positive, 0 negative, NaN neither."""
    out = np.full((len(which), c), np.nan if negatives == "verified" else 0.0, dtype=np.float32)
    if negatives == "verified":
        out[_gather(table.neg_ptr, table.neg, which)] = 0.0
    else:
        out[_gather(table.off_ptr, table.off, which)] = np.nan
    out[_gather(table.pos_ptr, table.pos, which)] = 1.0
    return out


def long_rows(src: TableSource, layout: LongLayout, spec: InputSpec, *,
              classes: Sequence[str] | None = None) -> Iterator[LabelBatch]:
    """One label row per id, in the order ids first appear, with the id and its first row's number (a
    pass to count, a pass over the id column)."""
    partial = count_source(src, layout, spec)
    order = list(classes) if classes is not None else class_order(partial.classes, spec)
    table = _samples(partial, spec, order)
    n = len(table.ids)
    first_row = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    names = np.empty(n, dtype=object)
    for batch, rows, _ in _chunks(src, layout):
        if not batch.num_rows:
            continue
        ids = batch.column(layout.id)
        at = np.searchsorted(table.ids, _id_codes(ids))
        unique, first = np.unique(at, return_index=True)
        new = first_row[unique] == np.iinfo(np.int64).max
        first_row[unique[new]] = rows[first[new]]
        names[unique[new]] = ids.take(pa.array(first[new])).to_pylist()
    sequence = np.argsort(first_row, kind="stable")
    step = max(1, BLOCK_ELEMENTS // max(1, len(order)))
    notes = tuple(layout.notes)
    for start in range(0, n, step):
        which = sequence[start:start + step]
        yield LabelBatch(_block(table, which, len(order), layout.negatives), list(order), first_row[which],
                         ids=list(names[which]), id_name=layout.id, notes=notes)
        notes = ()


def sample_targets(reader, files: Sequence, spec: InputSpec, *, limit: int, budget: int) -> TargetSample:
    """The checks' target batch: the ids of the first rows of the first file, each with the labels those
    rows give (the file is not read again whole; an id whose rows go on later has only its first ones)."""
    path = as_path(files[0])
    src = reader.open(path, spec)
    layout = settle(src, spec)
    partial = count_source(src, layout, spec, stop_after=max(limit, 1) * 16)
    order = class_order(partial.classes, spec)
    table = _samples(partial, spec, order)
    take = min(len(table.ids), limit, max(1, budget // max(1, len(order))))
    values = _block(table, np.arange(take), len(order), layout.negatives)
    return TargetSample(values, order, f"{take:,} ids of the first rows of {path}")
