"""Label-pair counts (co-occurrence) with bounded memory: :class:`PairCounts`.

Three modes, stated in the report, the JSON, the ``.pt`` meta and the ``--cooccurrence`` file:

``dense``
    up to :data:`DENSE_MAX_CLASSES` classes: the full symmetric C x C float64 matrix (32 MiB at the
    bound), exact.
``sparse``
    above the bound: exact counts of the pairs that occur, as sorted int64 pair codes
    (``a << 32 | b``, ``a < b``) with float64 counts, plus the diagonal (sum of y², the positives for
    0/1 labels) as a ``[C]`` array; merged by addition with periodic compaction. Memory is 16 bytes a
    distinct pair, so O(pairs that occur), never O(C²).
``top``
    approximate: the distinct pairs outgrew :data:`MAX_PAIRS` (the memory cap), so only the most
    frequent are kept (the lossy-counting scheme of Misra and Gries). Exact: the diagonal, and every
    per-class count of :class:`~bceweights.counts.Counts`. Not exact: a listed pair's count may be
    up to ``error`` below the truth (never above it), and a pair not listed occurred at most
    ``unlisted`` times. A ``.pt`` that keeps only the :data:`PAYLOAD_MAX_PAIRS` most frequent of an
    exact sparse count is ``top`` too, with ``error`` 0: its listed counts are exact.

Pairs of labels within a row are generated from CSR rows (row pointers and sorted class indices), so
the work is the number of pairs that occur, never rows x C².
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

#: Up to this many classes the pairs are a dense C x C float64 matrix (2,048: 32 MiB, the size of one
#: 16,384-row uint8 batch of 2,048 classes); above it, exact sparse pairs. Read at call time, so a test
#: may lower it.
DENSE_MAX_CLASSES = 2048
#: The memory cap above the bound: distinct pairs kept exactly (16 bytes each: 2**23 pairs = 128 MiB,
#: about twice that while compacting). Beyond it the count turns ``top`` (approximate).
MAX_PAIRS = 1 << 23
#: Pairs a ``.pt`` keeps above the bound (int64 [K, 2] + float64 [K]: 24 MB at 10**6), the most
#: frequent ones; a count with more is saved as ``top`` with exact listed counts.
PAYLOAD_MAX_PAIRS = 1_000_000
#: Pending pair codes that trigger a compaction (at least; also half the pairs stored).
_COMPACT_MIN = 1 << 21
_SHIFT = np.int64(32)
_LOW = np.int64((1 << 32) - 1)

#: Label positions expanded into pairs at a time: bounds the transient arrays of one step (about
#: 40 bytes a pair) whatever the row lengths.
_CHUNK_PAIRS = 1 << 22
#: Rows whose positions are prepared at once (three int64 arrays per label position).
_CHUNK_LABELS = 1 << 20


def csr_pair_chunks(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray | None = None,
                    max_pairs: int = _CHUNK_PAIRS) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """Every pair of labels of the same row, as ``(a, b, weight)`` arrays with ``a < b``.

    ``indices`` must be strictly increasing within each row (:class:`bceweights.counts.SparseLabels`
    guarantees it), which is what makes ``a < b``. ``weight`` is ``data[a] * data[b]`` (soft labels),
    or None for 0/1 rows. At most about ``max_pairs`` pairs per chunk, whatever the row lengths.

    >>> [(a.tolist(), b.tolist()) for a, b, _ in csr_pair_chunks(np.array([0, 3, 3, 5]), np.array([1, 4, 7, 0, 2]))]
    [([1, 1, 4, 0], [4, 7, 7, 2])]
    """
    indptr = np.asarray(indptr, dtype=np.int64)
    n = len(indptr) - 1
    row = 0
    while row < n:
        # Rows in blocks of about _CHUNK_LABELS label positions (at least one row).
        stop = int(np.searchsorted(indptr, indptr[row] + _CHUNK_LABELS, side="right")) - 1
        stop = min(max(stop, row + 1), n)
        lo, hi = int(indptr[row]), int(indptr[stop])
        if hi - lo >= 2:
            lengths = np.diff(indptr[row:stop + 1])
            ends = np.repeat(indptr[row + 1:stop + 1] - lo, lengths)
            after = ends - np.arange(hi - lo) - 1  # later labels of the same row, per position
            yield from _position_pairs(after, indices[lo:hi], None if data is None else data[lo:hi], max_pairs)
        row = stop


def _position_pairs(after: np.ndarray, indices: np.ndarray, data: np.ndarray | None, max_pairs: int):
    cum = np.cumsum(after)
    start, m = 0, len(after)
    while start < m:
        base = int(cum[start - 1]) if start else 0
        stop = max(int(np.searchsorted(cum, base + max_pairs, side="right")), start + 1)
        count = after[start:stop]
        total = int(cum[stop - 1]) - base
        if total:
            first = np.repeat(np.arange(start, stop), count)
            # Each position pairs with the positions right after it, up to its row's end.
            second = first + 1 + (np.arange(total) - np.repeat(cum[start:stop] - count - base, count))
            weight = None if data is None else data[first] * data[second]
            yield indices[first], indices[second], weight
        start = stop


def nonzero_rows(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.nonzero`` of a ``[n, C]`` block, in row-major order, several times faster on the sparse
    one-byte blocks of label lists and tables: a 16,384 x 20,000 uint8 block is scanned in 0.2 s
    instead of 1.7 s, eight bytes a step, and only the non-zero words are looked into.

    >>> [a.tolist() for a in nonzero_rows(np.array([[0, 1, 0], [1, 0, 1]], dtype=np.uint8))]
    [[0, 1, 1], [1, 0, 2]]
    """
    block = np.asarray(block)
    if block.ndim != 2:
        raise ValueError(f"expected a [n, C] block, got {list(block.shape)}")
    n, c = block.shape
    if block.flags.c_contiguous:
        return np.divmod(_flat_nonzero(block.reshape(-1)), c) if c else (np.zeros(0, np.int64),) * 2
    if block.flags.f_contiguous and n:
        # Column-stacked (tables): scanned column by column, then put in row order.
        cols, rows = np.divmod(_flat_nonzero(block.T.reshape(-1)), n)
        order = np.argsort(rows * c + cols)
        return rows[order], cols[order]
    return np.nonzero(block)


def _flat_nonzero(flat: np.ndarray) -> np.ndarray:
    if flat.dtype.itemsize != 1 or len(flat) < 64:
        return np.flatnonzero(flat)
    whole = len(flat) // 8 * 8
    words = np.flatnonzero(flat[:whole].view(np.uint64))
    # The bytes of each non-zero word, then the non-zero ones among them.
    inside = np.flatnonzero(flat[:whole].reshape(-1, 8)[words])
    found = words[inside // 8] * 8 + inside % 8
    tail = np.flatnonzero(flat[whole:]) + whole
    return np.concatenate([found, tail]) if len(tail) else found


def _reduce(keys: np.ndarray, weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique keys with their summed weights (``None``: each key counts 1)."""
    if weights is None:
        unique, times = np.unique(keys, return_counts=True)
        return unique, times.astype(np.float64)
    order = np.argsort(keys, kind="stable")
    keys, weights = keys[order], np.asarray(weights, dtype=np.float64)[order]
    if not len(keys):
        return keys, weights
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    return keys[starts], np.add.reduceat(weights, starts)


def _merge_sorted(keys: np.ndarray, values: np.ndarray, more_keys: np.ndarray, more_values: np.ndarray):
    """Two sorted unique key sets merged by adding the values of equal keys: O(n), no sort, and only
    the output's memory beside the inputs."""
    if not len(keys):
        return more_keys.copy(), more_values.astype(np.float64, copy=True)
    at = np.searchsorted(keys, more_keys)
    hit = at < len(keys)
    hit[hit] = keys[at[hit]] == more_keys[hit]
    values = values.copy()
    values[at[hit]] += more_values[hit]
    new = ~hit
    if not new.any():
        return keys, values
    return np.insert(keys, at[new], more_keys[new]), np.insert(values, at[new], more_values[new])


def _split(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return keys >> _SHIFT, keys & _LOW


def _join(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a.astype(np.int64) << _SHIFT) | b.astype(np.int64)


class PairCounts:
    """How often each pair of classes is positive in the same sample; merges by addition.

    The mode follows the class count (see the module doc): ``matrix`` (dense) or ``keys`` /
    ``values`` / ``diagonal`` (sparse, top). ``complete``: every pair that occurred is listed;
    ``error``: how far below the truth a listed count may be; ``unlisted``: the most a pair not
    listed may have occurred (both 0 while complete).

    >>> p = PairCounts(3)
    >>> p.add_csr(np.array([0, 2, 5]), np.array([0, 1, 0, 1, 2]))
    >>> p.mode, p.matrix.tolist()
    ('dense', [[2.0, 2.0, 1.0], [2.0, 2.0, 1.0], [1.0, 1.0, 1.0]])
    """

    def __init__(self, num_classes: int) -> None:
        self.num_classes = int(num_classes)
        self.matrix: np.ndarray | None = None
        self.diagonal: np.ndarray | None = None
        self.keys = np.zeros(0, dtype=np.int64)
        self.values = np.zeros(0, dtype=np.float64)
        self.complete = True
        self.error = 0.0
        self.unlisted = 0.0
        self._pending_keys: list[np.ndarray] = []
        self._pending_values: list[np.ndarray | None] = []
        self._pending = 0
        if self.num_classes <= DENSE_MAX_CLASSES:
            self.matrix = np.zeros((self.num_classes, self.num_classes), dtype=np.float64)
        else:
            self.diagonal = np.zeros(self.num_classes, dtype=np.float64)

    # -- state ----------------------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        """``"dense"``, ``"sparse"`` (exact) or ``"top"`` (the most frequent pairs only)."""
        if self.matrix is not None:
            return "dense"
        return "sparse" if self.complete else "top"

    @property
    def nbytes(self) -> int:
        """Bytes held by the counts (pending codes included)."""
        held = sum(a.nbytes for a in (self.matrix, self.diagonal, self.keys, self.values) if a is not None)
        return held + sum(k.nbytes for k in self._pending_keys) + \
            sum(v.nbytes for v in self._pending_values if v is not None)

    def _to_sparse(self) -> None:
        if self.matrix is None:
            return
        a, b = np.nonzero(np.triu(self.matrix, 1))
        self.keys, self.values = _join(a, b), self.matrix[a, b]
        self.diagonal = np.diagonal(self.matrix).copy()
        self.matrix = None

    def _to_dense(self) -> None:
        self._compact()
        matrix = np.zeros((self.num_classes, self.num_classes), dtype=np.float64)
        a, b = _split(self.keys)
        matrix[a, b] = self.values
        matrix[b, a] = self.values
        matrix[np.diag_indices(self.num_classes)] = self.diagonal
        self.matrix, self.diagonal = matrix, None
        self.keys, self.values = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)

    def _settle(self) -> None:
        """Dense exactly while the class count is within the bound (an incomplete list stays sparse)."""
        if self.matrix is not None and self.num_classes > DENSE_MAX_CLASSES:
            self._to_sparse()
        elif self.matrix is None and self.complete and self.num_classes <= DENSE_MAX_CLASSES:
            self._to_dense()

    # -- counting -------------------------------------------------------------------------------------

    def add_csr(self, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray | None = None) -> None:
        """Add rows in CSR form (``indices`` increasing within each row; ``data`` the values, None for
        all 1): the diagonal gets sum of y², each pair a < b of a row gets y_a * y_b."""
        indices = np.asarray(indices, dtype=np.int64)
        c = self.num_classes
        squares = None if data is None else np.asarray(data, dtype=np.float64) ** 2
        diagonal = np.bincount(indices, weights=squares, minlength=c).astype(np.float64, copy=False)
        if self.matrix is not None:
            # A view only on a contiguous matrix: a copy would drop the additions silently.
            self.matrix = np.ascontiguousarray(self.matrix)
            flat = self.matrix.reshape(-1)
            flat[np.arange(c) * (c + 1)] += diagonal
            for a, b, w in csr_pair_chunks(indptr, indices, data):
                codes = a * c + b
                if len(codes) * 8 > c * c:
                    # Many pairs for the matrix: one histogram pass beats sorting them.
                    half = np.bincount(codes, weights=w, minlength=c * c).reshape(c, c)
                    self.matrix += half
                    self.matrix += half.T
                    continue
                codes, sums = _reduce(codes, w)
                flat[codes] += sums
                flat[(codes % c) * c + codes // c] += sums
            return
        self.diagonal += diagonal
        for a, b, w in csr_pair_chunks(indptr, indices, data):
            self._push(_join(a, b), w)

    def add_rows(self, y: np.ndarray) -> None:
        """Add a dense ``[n, C]`` block of values in [0, 1] (NaN already zeroed), through its non-zero
        entries: O(labels) beyond the block itself."""
        rows, cols = nonzero_rows(y)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=y.shape[0]))])
        data = None
        if y.dtype.kind == "f":
            data = y[rows, cols].astype(np.float64)
            if (data == 1).all():
                data = None
        self.add_csr(indptr, cols, data)

    def _push(self, keys: np.ndarray, weights: np.ndarray | None) -> None:
        if not self.complete:
            # A pair dropped before and seen again is listed with only its new count.
            self.error = self.unlisted
        self._pending_keys.append(keys)
        self._pending_values.append(weights)
        self._pending += len(keys)
        if self._pending >= max(_COMPACT_MIN, len(self.keys) // 2):
            self._compact()

    def _compact(self) -> None:
        if not self._pending_keys:
            return
        keys = np.concatenate(self._pending_keys)
        weights = None
        if any(w is not None for w in self._pending_values):
            weights = np.concatenate([np.ones(len(k)) if w is None else w
                                      for k, w in zip(self._pending_keys, self._pending_values)])
        self._pending_keys, self._pending_values, self._pending = [], [], 0
        self._absorb(*_reduce(keys, weights))

    def _absorb(self, keys: np.ndarray, values: np.ndarray) -> None:
        """Add sorted unique pairs, then keep to the memory cap."""
        self.keys, self.values = _merge_sorted(self.keys, self.values, keys, values)
        if len(self.keys) > MAX_PAIRS:
            self._keep_top(MAX_PAIRS // 2, relisted=True)

    def _keep_top(self, keep: int, *, relisted: bool) -> None:
        """Keep the ``keep`` largest counts. ``relisted``: counting goes on, so a dropped pair may be
        listed again with only its later count (its error joins every listed count's)."""
        if len(self.keys) <= keep:
            return
        chosen = np.zeros(len(self.keys), dtype=bool)
        if keep > 0:
            chosen[np.argpartition(self.values, len(self.values) - keep)[len(self.values) - keep:]] = True
        dropped = float(self.values[~chosen].max())
        self.keys, self.values = self.keys[chosen], self.values[chosen]
        self.complete = False
        # A dropped pair had at most ``dropped`` listed, and at most ``error`` more unlisted.
        self.unlisted = max(self.unlisted, dropped + self.error)
        if relisted:
            self.error = self.unlisted

    def merge(self, other: PairCounts) -> PairCounts:
        """Add ``other`` (the same classes, in the same order) into ``self``; return ``self``."""
        if other.num_classes != self.num_classes:
            raise ValueError(f"cannot merge pairs of {other.num_classes} classes into {self.num_classes}")
        if self.matrix is not None and other.matrix is not None:
            self.matrix += other.matrix
            return self
        self._to_sparse()
        keys, values, diagonal = other.sparse()
        self.diagonal += diagonal
        if not (self.complete and other.complete):
            # A pair listed on one side may be unlisted on the other: the bounds add.
            bound = (0.0 if self.complete else self.unlisted) + (0.0 if other.complete else other.unlisted)
            self.complete, self.error, self.unlisted = False, bound, bound
        self._compact()
        self._absorb(keys, values)
        self._settle()
        return self

    # -- class lists ----------------------------------------------------------------------------------

    def grow(self, num_classes: int) -> None:
        """Append classes (all their pairs zero so far)."""
        k = num_classes - self.num_classes
        if k < 0:
            raise ValueError(f"cannot shrink {self.num_classes} classes to {num_classes}")
        if self.matrix is not None and num_classes <= DENSE_MAX_CLASSES:
            grown = np.zeros((num_classes, num_classes), dtype=np.float64)
            grown[: self.num_classes, : self.num_classes] = self.matrix
            self.matrix = grown
        else:
            self._to_sparse()
            self.diagonal = np.concatenate([self.diagonal, np.zeros(k)])
        self.num_classes = num_classes

    def remapped(self, index: np.ndarray, num_classes: int) -> PairCounts:
        """A copy where class ``i`` becomes class ``index[i]`` of ``num_classes`` (a reorder, or a
        partial aligned to a merged class list)."""
        index = np.asarray(index, dtype=np.int64)
        if self.matrix is not None and num_classes <= DENSE_MAX_CLASSES:
            out = PairCounts(num_classes)
            out.matrix[np.ix_(index, index)] = self.matrix
            return out
        keys, values, diagonal = self.sparse()
        a, b = _split(keys)
        a, b = index[a], index[b]
        moved = _join(np.minimum(a, b), np.maximum(a, b))
        order = np.argsort(moved)
        out = PairCounts(0)
        out.num_classes, out.matrix = num_classes, None
        out.keys, out.values = moved[order], values[order]
        out.diagonal = np.zeros(num_classes, dtype=np.float64)
        out.diagonal[index] = diagonal
        out.complete, out.error, out.unlisted = self.complete, self.error, self.unlisted
        out._settle()
        return out

    # -- reading --------------------------------------------------------------------------------------

    def sparse(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(keys, values, diagonal)`` whatever the mode: keys ``a << 32 | b`` (a < b), sorted."""
        if self.matrix is not None:
            a, b = np.nonzero(np.triu(self.matrix, 1))
            return _join(a, b), self.matrix[a, b], np.diagonal(self.matrix).copy()
        self._compact()
        return self.keys, self.values, self.diagonal

    def items(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The listed pairs ``(a, b, count)``, a < b, count > 0, in class order (a, then b)."""
        keys, values, _ = self.sparse()
        nonzero = values != 0
        a, b = _split(keys[nonzero])
        return a, b, values[nonzero]

    def top(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ``k`` most frequent pairs ``(a, b, count)``, ties in class order."""
        a, b, v = self.items()
        if len(v) > k > 0:
            kth = np.partition(v, len(v) - k)[len(v) - k]
            candidates = np.flatnonzero(v >= kth)
            order = candidates[np.argsort(-v[candidates], kind="stable")][:k]
        else:
            order = np.argsort(-v, kind="stable")[:max(k, 0)]
        return a[order], b[order], v[order]

    def limited(self, k: int) -> PairCounts:
        """At most ``k`` listed pairs, the most frequent (``self`` when it has no more): what a
        ``.pt`` keeps. The listed counts stay as they are; the dropped ones bound ``unlisted``."""
        if self.matrix is not None or len(self.sparse()[0]) <= k:
            return self
        out = self.copy()
        out._keep_top(k, relisted=False)
        return out

    def dense(self) -> np.ndarray:
        """The full C x C matrix (dense mode; for small class counts in tests otherwise)."""
        if self.matrix is not None:
            return self.matrix
        keys, values, diagonal = self.sparse()
        out = np.zeros((self.num_classes, self.num_classes), dtype=np.float64)
        a, b = _split(keys)
        out[a, b] = values
        out[b, a] = values
        out[np.diag_indices(self.num_classes)] = diagonal
        return out

    def describe(self) -> dict[str, Any]:
        """The mode and its bounds, for the report, the JSON and the ``.pt`` meta."""
        pairs = len(self.items()[2])
        return {"mode": self.mode, "classes": self.num_classes, "dense_max_classes": DENSE_MAX_CLASSES,
                "max_pairs": MAX_PAIRS, "pairs": pairs, "exact": self.complete, "count_error": self.error,
                "unlisted_at_most": self.unlisted, "note": self.note(pairs)}

    def note(self, pairs: int | None = None) -> str:
        """One line saying what the pair counts are, and how exact."""
        pairs = len(self.items()[2]) if pairs is None else pairs
        c, bound = self.num_classes, DENSE_MAX_CLASSES
        if self.mode == "dense":
            return f"co-occurrence: a dense {c} x {c} matrix (dense up to {bound:,} classes), exact"
        if self.mode == "sparse":
            return (f"co-occurrence: {c:,} classes, above the dense bound of {bound:,}: the {pairs:,} pairs "
                    "that occur, exact")
        unlisted = f"a pair not listed occurred at most {_count(self.unlisted)} times"
        if not self.error:
            return f"co-occurrence: the {pairs:,} most frequent pairs, exact counts; {unlisted}"
        return (f"co-occurrence: approximate, more than {MAX_PAIRS:,} distinct pairs (the memory cap): the "
                f"{pairs:,} most frequent kept; a listed count may be up to {_count(self.error)} below the "
                f"truth, never above; {unlisted}")

    # -- copies, plain values ---------------------------------------------------------------------------

    def copy(self) -> PairCounts:
        self._compact()
        out = PairCounts.__new__(PairCounts)
        out.__dict__.update(self.__dict__)
        out._pending_keys, out._pending_values, out._pending = [], [], 0
        for name in ("matrix", "diagonal", "keys", "values"):
            value = getattr(self, name)
            setattr(out, name, None if value is None else value.copy())
        return out

    def __getstate__(self) -> dict[str, Any]:
        self._compact()
        return dict(self.__dict__)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PairCounts):
            return NotImplemented
        if (self.num_classes, self.mode, self.complete, self.error, self.unlisted) != \
                (other.num_classes, other.mode, other.complete, other.error, other.unlisted):
            return False
        return all(np.array_equal(x, y) for x, y in zip(self.sparse(), other.sparse()))

    def to_plain(self) -> list[list[float]] | dict[str, Any]:
        """Plain Python values: the matrix as nested lists (dense), else a dict of lists."""
        if self.matrix is not None:
            return self.matrix.tolist()
        keys, values, diagonal = self.sparse()
        a, b = _split(keys)
        return {"mode": self.mode, "num_classes": self.num_classes, "pairs": np.stack([a, b], 1).tolist(),
                "counts": values.tolist(), "diagonal": diagonal.tolist(), "complete": self.complete,
                "error": self.error, "unlisted": self.unlisted}

    @classmethod
    def from_plain(cls, value: Any, num_classes: int) -> PairCounts:
        """Back from :meth:`to_plain` (or a dense matrix)."""
        if not isinstance(value, dict):
            # Reshaped: zero classes are [] as lists, not [[]].
            return cls.from_dense(np.asarray(value, dtype=np.float64).reshape(num_classes, num_classes))
        pairs = np.asarray(value["pairs"], dtype=np.int64).reshape(-1, 2)
        return cls.from_sparse(num_classes, pairs[:, 0], pairs[:, 1], np.asarray(value["counts"], dtype=np.float64),
                               np.asarray(value["diagonal"], dtype=np.float64), complete=bool(value["complete"]),
                               error=float(value["error"]), unlisted=float(value["unlisted"]))

    @classmethod
    def from_dense(cls, matrix: Any) -> PairCounts:
        matrix = np.asarray(matrix, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"a co-occurrence matrix must be square, not {list(matrix.shape)}")
        out = cls(0)
        out.num_classes, out.matrix, out.diagonal = matrix.shape[0], matrix.copy(), None
        out._settle()
        return out

    @classmethod
    def from_sparse(cls, num_classes: int, a: np.ndarray, b: np.ndarray, counts: np.ndarray,
                    diagonal: np.ndarray, *, complete: bool = True, error: float = 0.0,
                    unlisted: float = 0.0) -> PairCounts:
        """From listed pairs (any order; a pair given twice adds) and the ``[C]`` diagonal."""
        a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        if len(a) and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= num_classes or (a == b).any()):
            raise ValueError(f"co-occurrence pairs must be two different classes of {num_classes}")
        out = cls(0)
        out.num_classes, out.matrix = int(num_classes), None
        out.diagonal = np.asarray(diagonal, dtype=np.float64).copy()
        out.keys, out.values = _reduce(_join(np.minimum(a, b), np.maximum(a, b)),
                                       np.asarray(counts, dtype=np.float64))
        out.complete, out.error, out.unlisted = bool(complete), float(error), float(unlisted)
        out._settle()
        return out


def _count(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:.4g}"


# ------------------------------------------------------------------------------------------- the .pt


def to_payload(pairs: PairCounts) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``.pt`` tensors of the pair counts and their description for ``meta["cooccurrence"]``.

    Dense mode: ``cooccurrence`` (float64 ``[C, C]``). Above the bound: ``cooccurrence_index`` (int64
    ``[K, 2]``, rows ``(a, b)`` with ``a <= b`` in class order; ``a == b`` rows hold the diagonal) and
    ``cooccurrence_count`` (float64 ``[K]``), at most :data:`PAYLOAD_MAX_PAIRS` pairs besides the
    diagonal. ``torch.sparse_coo_tensor(index.T, count, (C, C))`` is the upper triangle.
    """
    import torch

    if pairs.matrix is not None:
        return {"cooccurrence": torch.from_numpy(pairs.matrix.copy())}, pairs.describe()
    saved = pairs.limited(PAYLOAD_MAX_PAIRS)
    a, b, counts = saved.items()
    d = np.flatnonzero(saved.diagonal)
    keys = np.concatenate([_join(a, b), _join(d, d)])
    order = np.argsort(keys, kind="stable")
    a, b = _split(keys[order])
    tensors = {"cooccurrence_index": torch.from_numpy(np.stack([a, b], 1)),
               "cooccurrence_count": torch.from_numpy(np.concatenate([counts, saved.diagonal[d]])[order])}
    return tensors, saved.describe()


def from_payload(data: dict[str, Any], num_classes: int, info: dict[str, Any] | None = None) -> PairCounts | None:
    """The pair counts of a loaded ``.pt`` (None when it has none); ``info`` its ``meta["cooccurrence"]``."""
    if "cooccurrence" in data:
        return PairCounts.from_dense(_numpy(data["cooccurrence"], np.float64))
    if "cooccurrence_index" not in data:
        return None
    index = _numpy(data["cooccurrence_index"], np.int64).reshape(-1, 2)
    counts = _numpy(data["cooccurrence_count"], np.float64)
    on_diagonal = index[:, 0] == index[:, 1]
    diagonal = np.zeros(num_classes, dtype=np.float64)
    np.add.at(diagonal, index[on_diagonal, 0], counts[on_diagonal])
    info = info or {}
    return PairCounts.from_sparse(num_classes, index[~on_diagonal, 0], index[~on_diagonal, 1], counts[~on_diagonal],
                                  diagonal, complete=bool(info.get("exact", True)),
                                  error=float(info.get("count_error", 0.0)),
                                  unlisted=float(info.get("unlisted_at_most", 0.0)))


def _numpy(tensor: Any, dtype: type) -> np.ndarray:
    if hasattr(tensor, "detach"):
        tensor = tensor.detach().cpu().numpy()
    return np.array(tensor, dtype=dtype)
