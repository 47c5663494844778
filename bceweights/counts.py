"""The streaming counts accumulator.

Everything bceweights knows about a label set is a sum, so counts from a chunk, a file, a worker
process or a Dask partition merge by plain addition (:meth:`Counts.merge`), in any order, with the same
result. A :class:`Counts` never keeps rows: memory is O(C), plus the label pairs when co-occurrence is
tracked, bounded by :mod:`bceweights.pairs` (a dense C x C only up to ``DENSE_MAX_CLASSES`` classes),
whatever the size of the data.

Definitions (per class c):

* ``pos[c]``: positives, the sum of y over samples (pixels for masks) where y is not ignored; a soft
  label y in [0, 1] adds y.
* ``neg[c]``: negatives, the sum of 1 - y over the same samples. Negatives are counted **per class**:
  a row whose column c is 0 is a negative of c, whatever its other columns hold.
* ``ignored[c]``: values that count as neither (uncertain under ``ignore``, blanks under ``ignore``,
  ``--ignore-value``, void pixels).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import InitVar, dataclass, field
from typing import Any

import numpy as np

from .errors import InputError
from .pairs import PairCounts, nonzero_rows

_PER_CLASS = ("pos", "neg", "ignored", "missing", "uncertain", "soft")
#: Per-class integer sums only masks have (None until a reader adds them).
_PER_CLASS_OPTIONAL = ("image_count", "image_pixels")
#: Rows per float32 co-occurrence product: far below 2**24, where float32 sums of 0/1 stop being exact.
_GRAM_ROWS = 1 << 20
#: Up to this many classes, label pairs are counted from a histogram of row codes (2**C bins), not a product.
_HIST_BITS = 16
#: A label pair costs about this many n·C² product terms (benchmarks: 30 ns against 15 ps at 2,048
#: classes, with a margin of two): dense-mode blocks with fewer pairs than n·C² / this go by pairs.
_PAIR_COST = 4000


def _zeros(n: int) -> np.ndarray:
    return np.zeros(n, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class SparseLabels:
    """A batch of 0/1 label rows in CSR form: row ``r`` holds the classes
    ``indices[indptr[r]:indptr[r + 1]]``, every value 1. It counts exactly like the dense ``[n, C]`` 0/1
    block it stands for, in O(labels) memory (a label list over 20,000 classes is a few bytes a row,
    where the dense block is 20 KB).

    The constructor puts each row's classes in increasing order and drops repeats (a label given
    twice in a row counts once), so producers need not sort; already sorted rows cost one check.

    >>> s = SparseLabels(np.array([0, 2, 2, 4]), np.array([3, 1, 0, 0]), num_classes=4)
    >>> s.indices.tolist(), s.indptr.tolist(), s.shape
    ([1, 3, 0], [0, 2, 2, 3], (3, 4))
    >>> s.to_dense().tolist()
    [[0, 1, 0, 1], [0, 0, 0, 0], [1, 0, 0, 0]]
    """

    indptr: np.ndarray
    indices: np.ndarray
    num_classes: int

    def __post_init__(self) -> None:
        indptr = np.asarray(self.indptr, dtype=np.int64)
        indices = np.asarray(self.indices)
        if indices.dtype.kind not in "iu":
            raise ValueError(f"SparseLabels indices must be integers, not {indices.dtype}")
        indices = indices.astype(np.int64, copy=False)
        c = int(self.num_classes)
        if indptr.ndim != 1 or len(indptr) < 1 or indptr[0] != 0 or indices.ndim != 1 \
                or indptr[-1] != len(indices) or (np.diff(indptr) < 0).any():
            raise ValueError("SparseLabels: indptr must rise from 0 to len(indices)")
        if len(indices) and (indices.min() < 0 or indices.max() >= c):
            raise ValueError(f"SparseLabels: a class index outside [0, {c})")
        step = np.diff(indices)
        # A step at a row start may go down; inside a row it must go up.
        inside = np.ones(len(step), dtype=bool)
        starts = indptr[1:-1]
        inside[starts[(starts > 0) & (starts < len(indices))] - 1] = False
        if (step[inside] <= 0).any():
            rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
            codes = np.unique(rows * c + indices)
            indices = codes % c
            indptr = np.concatenate([[0], np.cumsum(np.bincount(codes // c, minlength=len(indptr) - 1))])
        object.__setattr__(self, "indptr", indptr)
        object.__setattr__(self, "indices", indices)
        object.__setattr__(self, "num_classes", c)

    @classmethod
    def from_dense(cls, block: np.ndarray) -> SparseLabels:
        """The non-zero entries of a ``[n, C]`` block (any non-zero value is a 1)."""
        block = np.asarray(block)
        rows, cols = nonzero_rows(block)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=block.shape[0]))])
        return cls(indptr, cols, block.shape[1])

    @classmethod
    def from_pairs(cls, rows: np.ndarray, classes: np.ndarray, n: int, num_classes: int) -> SparseLabels:
        """From (row, class) pairs in any order, ``rows`` in ``[0, n)``: a label list exploded."""
        rows = np.asarray(rows, dtype=np.int64)
        classes = np.asarray(classes, dtype=np.int64)
        if len(rows) != len(classes):
            raise ValueError("SparseLabels.from_pairs: rows and classes differ in length")
        if len(rows) and (rows.min() < 0 or rows.max() >= n):
            raise ValueError(f"SparseLabels.from_pairs: a row outside [0, {n})")
        if len(rows) > 1 and (np.diff(rows) < 0).any():
            order = np.argsort(rows, kind="stable")
            rows, classes = rows[order], classes[order]
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))])
        return cls(indptr, classes, num_classes)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.indptr) - 1, self.num_classes

    def __len__(self) -> int:
        return len(self.indptr) - 1

    @property
    def nnz(self) -> int:
        return len(self.indices)

    def row_lengths(self) -> np.ndarray:
        """Labels per row."""
        return np.diff(self.indptr)

    def __getitem__(self, rows: slice | np.ndarray | list[int]) -> SparseLabels:
        """Rows by slice, integer positions or a boolean mask, like a NumPy block's ``block[rows]``."""
        if isinstance(rows, slice):
            start, stop, step = rows.indices(len(self))
            if step == 1:
                stop = max(stop, start)
                lo, hi = self.indptr[start], self.indptr[stop]
                return SparseLabels(self.indptr[start:stop + 1] - lo, self.indices[lo:hi], self.num_classes)
            rows = np.arange(start, stop, step)
        rows = np.asarray(rows)
        if rows.dtype == bool:
            if rows.shape != (len(self),):
                raise IndexError(f"a boolean mask of {rows.shape} for {len(self)} rows")
            rows = np.flatnonzero(rows)
        rows = rows.astype(np.int64, copy=False)
        n = len(self)
        if len(rows) and (rows.min() < -n or rows.max() >= n):
            raise IndexError(f"a row index outside [-{n}, {n})")
        rows = np.where(rows < 0, rows + n, rows)  # indptr has n + 1 entries: -1 is not the last row's
        lengths = self.row_lengths()[rows]
        starts = self.indptr[rows]
        # Positions of the kept labels: each row's start plus 0 .. length - 1.
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        taken = self.indices[np.repeat(starts, lengths) + offsets]
        return SparseLabels(np.concatenate([[0], np.cumsum(lengths)]), taken, self.num_classes)

    def with_num_classes(self, num_classes: int) -> SparseLabels:
        """The same rows in a wider class space (classes appended since the batch was made)."""
        if num_classes < self.num_classes:
            raise ValueError(f"cannot narrow {self.num_classes} classes to {num_classes}")
        return SparseLabels(self.indptr, self.indices, num_classes)

    def to_dense(self, dtype: np.dtype | type = np.uint8) -> np.ndarray:
        """The ``[n, C]`` block (for small batches and tests: this is the memory the type avoids)."""
        out = np.zeros(self.shape, dtype=dtype)
        out[np.repeat(np.arange(len(self)), self.row_lengths()), self.indices] = 1
        return out


@dataclass
class Counts:
    """Per-class sums over a label set; merge by addition.

    >>> import numpy as np
    >>> c = Counts(["cat", "dog"])
    >>> c.update(np.array([[1, 0], [1, 1], [0, 0]]))
    >>> c.pos.tolist(), c.neg.tolist(), c.samples
    ([2.0, 1.0], [1.0, 2.0], 3)
    """

    classes: list[str]
    pos: np.ndarray = field(default=None)  # type: ignore[assignment]
    neg: np.ndarray = field(default=None)  # type: ignore[assignment]
    ignored: np.ndarray = field(default=None)  # type: ignore[assignment]
    missing: np.ndarray = field(default=None)  # type: ignore[assignment]
    uncertain: np.ndarray = field(default=None)  # type: ignore[assignment]
    soft: np.ndarray = field(default=None)  # type: ignore[assignment]
    samples: int = 0
    no_positive: int = 0
    pixels: int = 0
    spatial_ndim: int = 0
    image_count: np.ndarray | None = None
    #: Masks: per class, the pixels of the images that contain it (for ``median-frequency``).
    image_pixels: np.ndarray | None = None
    #: Label pairs (:class:`~bceweights.pairs.PairCounts`), None unless :meth:`track_cooccurrence`.
    pairs: PairCounts | None = None
    #: What a reader decided and the user should know (e.g. "mask mode: index, because ..."); merged
    #: as a union, in first-seen order.
    notes: list[str] = field(default_factory=list)
    #: A dense C×C pair matrix to start from (becomes :attr:`pairs`); reading ``counts.cooccurrence``
    #: gives the dense matrix back (see :func:`_dense_cooccurrence`).
    cooccurrence: InitVar[np.ndarray | None] = None

    def __post_init__(self, cooccurrence: np.ndarray | None = None) -> None:
        self.classes = [str(c) for c in self.classes]
        self.notes = list(self.notes)
        if len(set(self.classes)) != len(self.classes):
            dupes = sorted({c for c in self.classes if self.classes.count(c) > 1})
            raise ValueError(f"duplicate class names: {dupes}")
        n = len(self.classes)
        for name in _PER_CLASS:
            value = getattr(self, name)
            setattr(self, name, _zeros(n) if value is None else np.asarray(value, dtype=np.float64).copy())
        for name in _PER_CLASS_OPTIONAL:
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, np.asarray(value, dtype=np.int64).copy())
        if cooccurrence is not None:
            self.pairs = PairCounts.from_dense(cooccurrence)
        if self.pairs is not None and self.pairs.num_classes != n:
            raise ValueError(f"pair counts of {self.pairs.num_classes} classes for {n} classes")

    def __repr__(self) -> str:
        """One line: the classes (the first and last few), the samples and the range of positives;
        never the per-class arrays or the pair counts."""
        from .report import fmt_count, plural, unit_words

        positive, sample = unit_words({"unit": "pixel" if self.spatial_ndim else "sample",
                                       "spatial_ndim": self.spatial_ndim})
        names = self.classes if len(self.classes) <= 6 else [*self.classes[:3], "...", *self.classes[-2:]]
        size = plural(self.samples, sample) + (f", {plural(self.pixels, positive)}" if self.spatial_ndim else "")
        text = f"Counts({plural(self.num_classes, 'class')}: {', '.join(names)}; {size}"
        if self.num_classes:
            text += f"; positives {fmt_count(self.pos.min())} to {fmt_count(self.pos.max())}"
        if self.pairs is not None:
            text += "; label pairs counted"
        return text + ")"

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def valid(self) -> np.ndarray:
        """Per class, the samples (pixels) that counted: ``pos + neg``."""
        return self.pos + self.neg

    def track_cooccurrence(self) -> Counts:
        """Start counting label pairs (dense C×C up to ``pairs.DENSE_MAX_CLASSES`` classes, the pairs
        that occur above it); only meaningful before the first update."""
        if self.pairs is None:
            self.pairs = PairCounts(self.num_classes)
        return self

    def update(self, labels: np.ndarray | SparseLabels) -> None:
        """Add a batch of labels shaped ``[n, C]``, dense or :class:`SparseLabels`.

        Values are in [0, 1]; NaN marks an ignored value (it counts as neither positive nor negative).
        Value policies (uncertain, missing, sentinels) are applied before, by the readers. A
        :class:`SparseLabels` batch counts exactly like its dense 0/1 block.
        """
        if isinstance(labels, SparseLabels):
            self._update_sparse(labels)
            return
        labels = np.asarray(labels)
        if labels.ndim != 2 or labels.shape[1] != self.num_classes:
            raise ValueError(f"expected a batch shaped [n, {self.num_classes}], got {list(labels.shape)}")
        n = labels.shape[0]
        if n == 0:
            return
        if labels.dtype.kind in "biu":
            self._update_binary(labels)
            return
        y = labels.astype(np.float64, copy=False)
        nan_mask = np.isnan(y)
        if nan_mask.any():
            self.ignored += nan_mask.sum(axis=0)
            y = np.where(nan_mask, 0.0, y)
        else:
            nan_mask = None
        is_soft = (y > 0) & (y < 1)
        if is_soft.any():
            self.soft += is_soft.sum(axis=0)
        pos = y.sum(axis=0, dtype=np.float64)
        valid = np.full(self.num_classes, n, dtype=np.float64)
        if nan_mask is not None:
            valid -= nan_mask.sum(axis=0)
        self.pos += pos
        self.neg += valid - pos
        self.samples += n
        self.no_positive += int(np.count_nonzero(y.sum(axis=1) == 0))
        if self.pairs is not None:
            self._add_gram(y)

    def _update_sparse(self, labels: SparseLabels) -> None:
        """0/1 rows as CSR: sums over the stored labels only, O(labels + C) per batch."""
        if labels.num_classes != self.num_classes:
            raise ValueError(f"expected a batch of {self.num_classes} classes, got {labels.num_classes}")
        n, c = labels.shape
        if n == 0:
            return
        if self.pairs is not None and self.pairs.matrix is not None and c > _HIST_BITS \
                and _pair_count(labels) * _PAIR_COST >= n * c * c:
            # Rows so full that the product is cheaper; the block is at most [n, DENSE_MAX_CLASSES].
            self._gram_rows(labels.to_dense())
            return
        pos = np.bincount(labels.indices, minlength=self.num_classes)
        self.pos += pos
        self.neg += n - pos
        self.samples += n
        self.no_positive += n - int(np.count_nonzero(labels.row_lengths()))
        if self.pairs is not None:
            self.pairs.add_csr(labels.indptr, labels.indices)

    def add_batch(self, batch: Any, labels: np.ndarray | SparseLabels | None = None) -> None:
        """Add a reader's label batch (``readers.base.LabelBatch``): its classes not yet here (label
        lists meet them as they go), its per-class blanks and -1 counts, its notes and its labels.

        ``labels``: count only these rows of the batch, the others being counted elsewhere into
        counts merged in later (the arrays reader's two halves)."""
        if batch.classes != self.classes:
            self.extend_classes(batch.classes)
        if batch.missing is not None:
            self.missing += batch.missing
            self.uncertain += batch.uncertain
        if batch.notes:
            self.notes.extend(n for n in batch.notes if n not in self.notes)
        self.update(batch.labels if labels is None else labels)

    def _update_binary(self, labels: np.ndarray) -> None:
        """0/1 integers (the common case, often a transposed view of per-column arrays): integer sums
        on the narrow type, no float copy except the one the co-occurrence product needs."""
        n = labels.shape[0]
        if self.pairs is not None and self.pairs.matrix is None:
            # Above the dense bound: one scan for the non-zero entries, then O(labels) sums and pairs
            # (three passes over a 328 MB block of 20,000 classes were 2.1 s, this is 0.3 s).
            self._update_sparse(SparseLabels.from_dense(labels))
            return
        if self.pairs is not None:
            if not self._few_pairs(labels):
                self._gram_rows(labels)
            return
        pos = labels.sum(axis=0, dtype=np.int64)
        self.pos += pos
        self.neg += n - pos
        self.samples += n
        per_row = labels.sum(axis=1, dtype=np.uint8 if self.num_classes < 256 else np.int64)
        self.no_positive += n - int(np.count_nonzero(per_row))

    def _gram_rows(self, labels: np.ndarray) -> None:
        for start in range(0, labels.shape[0], _GRAM_ROWS):
            self._update_binary_gram(labels[start:start + _GRAM_ROWS])

    def _few_pairs(self, labels: np.ndarray) -> bool:
        """Count a 0/1 block through its label pairs (and return True) when they are far fewer than the
        product's n·C² work: a pair costs about 2,000 times a product term at 2,048 classes (30 ns
        against 15 ps), so 8 labels a row over 2,048 classes take 0.05 s per 16,384 rows, not 1.2 s."""
        n, c = labels.shape
        if c <= _HIST_BITS:
            return False
        nnz = int(np.count_nonzero(labels))
        # Labels spread evenly over the rows make the fewest pairs: a lower bound, checked exactly below.
        if nnz * max(nnz / n - 1.0, 0.0) / 2 * _PAIR_COST >= n * c * c:
            return False
        sparse = SparseLabels.from_dense(labels)
        if _pair_count(sparse) * _PAIR_COST >= n * c * c:
            return False
        self._update_sparse(sparse)
        return True

    def _update_binary_gram(self, labels: np.ndarray) -> None:
        """Counts and co-occurrence of 0/1 rows (fewer than 2**24 of them, so float32 sums are exact).

        Up to 16 classes, each row's labels become a code (a product with powers of two) and a
        histogram of the codes gives every pair: n·C work instead of the product's n·C². Above that,
        one float32 copy feeds BLAS for everything: the product's diagonal is ``pos`` and a product with
        ones the labels per row, which skips the integer reductions (slower than the product on a
        row-major uint8 ``[n, C]``). A 500 MB ``.npy`` of 50 classes: 1.24 → 0.95 s of CPU
        (benchmarks/RESULTS.md).
        """
        n, c = labels.shape
        self.samples += n
        if c <= _HIST_BITS:
            code = (labels.astype(np.float32) @ (2.0 ** np.arange(c, dtype=np.float32))).astype(np.int64)
            hist = np.bincount(code, minlength=1 << c)
            self.no_positive += int(hist[0])
            present = np.flatnonzero(hist)
            bits = ((present[:, None] >> np.arange(c)) & 1).astype(np.float64)
            gram = (bits * hist[present, None]).T @ bits
            pos = np.diagonal(gram).copy()
        else:
            yf = None
            if labels.flags.f_contiguous:
                # Column-stacked batches (tables): the integer row sum is cheap on this layout.
                per_row = labels.sum(axis=1, dtype=np.uint8 if c < 256 else np.int64)
            else:
                yf = labels.astype(np.float32)
                per_row = yf @ np.ones(c, dtype=np.float32)
            self.no_positive += n - int(np.count_nonzero(per_row))
            multi = per_row > 1
            shared_rows = int(np.count_nonzero(multi))
            if shared_rows > n // 2:
                yf = labels.astype(np.float32) if yf is None else yf
                gram = (yf.T @ yf).astype(np.float64)
                pos = np.diagonal(gram).copy()
            else:
                # A row with one label adds only to the diagonal (which is ``pos``): the product is
                # needed for rows with two or more, a small share of sparse label sets (6x less work
                # at 17%).
                pos = labels.sum(axis=0, dtype=np.int64).astype(np.float64)
                shared = (labels if yf is None else yf)[multi].astype(np.float32, copy=False)
                gram = (shared.T @ shared).astype(np.float64)
                diagonal = np.arange(c)
                gram[diagonal, diagonal] = pos
        self.pos += pos
        self.neg += n - pos
        self.pairs.matrix += gram

    def _add_gram(self, y: np.ndarray) -> None:
        if self.pairs.matrix is None:
            self.pairs.add_rows(y)
            return
        # float32 BLAS is ~50x faster than an integer matmul; its sums of 0/1 products stay exact while
        # below 2**24, hence the row slices.
        for start in range(0, y.shape[0], _GRAM_ROWS):
            yf = y[start:start + _GRAM_ROWS].astype(np.float32)
            self.pairs.matrix += (yf.T @ yf).astype(np.float64)

    def add(
        self,
        *,
        pos: Sequence[float] | np.ndarray,
        neg: Sequence[float] | np.ndarray,
        ignored: Sequence[float] | np.ndarray | None = None,
        samples: int = 0,
        pixels: int = 0,
        no_positive: int = 0,
        image_count: Sequence[int] | np.ndarray | None = None,
        image_pixels: Sequence[int] | np.ndarray | None = None,
    ) -> None:
        """Add totals computed elsewhere (a mask histogram, a column sum)."""
        self.pos += np.asarray(pos, dtype=np.float64)
        self.neg += np.asarray(neg, dtype=np.float64)
        if ignored is not None:
            self.ignored += np.asarray(ignored, dtype=np.float64)
        self.samples += int(samples)
        self.pixels += int(pixels)
        self.no_positive += int(no_positive)
        self._add_optional(image_count=image_count, image_pixels=image_pixels)

    def _add_optional(self, **values: Sequence[int] | np.ndarray | None) -> None:
        """Add per-class integer sums of :data:`_PER_CLASS_OPTIONAL`, starting them at zero."""
        for name, value in values.items():
            if value is None:
                continue
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(self.num_classes, dtype=np.int64))
            setattr(self, name, getattr(self, name) + np.asarray(value, dtype=np.int64))

    def extend_classes(self, names: Iterable[str]) -> None:
        """Append classes not seen so far (label lists, index masks); their counts start at zero."""
        known = set(self.classes)  # once, not per name: O(C) at 20,000 classes, not O(C²)
        new = [str(n) for n in names if str(n) not in known]
        new = list(dict.fromkeys(new))
        if not new:
            return
        k = len(new)
        for name in _PER_CLASS:
            setattr(self, name, np.concatenate([getattr(self, name), _zeros(k)]))
        # A new class has been a negative in every valid sample (pixel) already counted.
        self.neg[-k:], self.ignored[-k:] = self._baseline_for_new_class(n_old=len(self.classes))
        for name in _PER_CLASS_OPTIONAL:
            if getattr(self, name) is not None:
                setattr(self, name, np.concatenate([getattr(self, name), np.zeros(k, dtype=np.int64)]))
        if self.pairs is not None:
            self.pairs.grow(self.num_classes + k)
        self.classes = self.classes + new

    def _baseline_for_new_class(self, n_old: int | None = None) -> tuple[float, float]:
        """(negatives, ignored) of a class first seen now: every valid sample counted so far was a
        negative of it. For masks, void pixels are void for every class alike."""
        n_old = self.num_classes if n_old is None else n_old
        if not self.spatial_ndim:
            return float(self.samples), 0.0
        void = float(self.ignored[0]) if n_old else 0.0
        return float(self.pixels) - void, void

    def reorder(self, classes: Sequence[str]) -> Counts:
        """The same counts with classes in the given order (all names must be known)."""
        index = {c: i for i, c in enumerate(self.classes)}
        unknown = [c for c in classes if c not in index]
        if unknown or len(classes) != self.num_classes:
            raise ValueError(f"cannot reorder {self.classes} as {list(classes)}")
        order = np.array([index[c] for c in classes], dtype=np.int64)
        out = self.copy()
        out.classes = list(classes)
        for name in _PER_CLASS:
            setattr(out, name, getattr(self, name)[order])
        for name in _PER_CLASS_OPTIONAL:
            if getattr(self, name) is not None:
                setattr(out, name, getattr(self, name)[order])
        if self.pairs is not None:
            new_of_old = np.empty_like(order)
            new_of_old[order] = np.arange(len(order))
            out.pairs = self.pairs.remapped(new_of_old, self.num_classes)
        return out

    def merge(self, other: Counts) -> Counts:
        """Add ``other`` into ``self`` (classes matched by name) and return ``self``."""
        if self.spatial_ndim != other.spatial_ndim and self.samples and other.samples:
            raise ValueError(
                f"cannot merge counts of {self.spatial_ndim}-D and {other.spatial_ndim}-D samples"
            )
        if other.classes != self.classes:
            self.extend_classes(other.classes)
            other = _aligned(other, self)
        for name in _PER_CLASS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.samples += other.samples
        self.pixels += other.pixels
        self.no_positive += other.no_positive
        self.spatial_ndim = max(self.spatial_ndim, other.spatial_ndim)
        self.notes = list(dict.fromkeys([*self.notes, *other.notes]))
        self._add_optional(**{name: getattr(other, name) for name in _PER_CLASS_OPTIONAL})
        if other.pairs is not None or self.pairs is not None:
            if self.pairs is None or other.pairs is None:
                # Pairs of some partials only would be wrong, so drop them rather than report half.
                self.pairs = None
            else:
                self.pairs.merge(other.pairs)
        return self

    def __add__(self, other: Counts) -> Counts:
        return self.copy().merge(other)

    def copy(self) -> Counts:
        # Not through to_dict: millions of pairs as Python lists would cost seconds and gigabytes.
        out = Counts(list(self.classes), samples=self.samples, no_positive=self.no_positive, pixels=self.pixels,
                     spatial_ndim=self.spatial_ndim, notes=list(self.notes),
                     **{name: getattr(self, name) for name in (*_PER_CLASS, *_PER_CLASS_OPTIONAL)})
        out.pairs = None if self.pairs is None else self.pairs.copy()
        return out

    def to_dict(self, *, pairs: bool = True) -> dict[str, Any]:
        """Plain Python values (lists, ints, floats): JSON- and ``weights_only``-safe. ``pairs=False``
        leaves out ``cooccurrence`` (the ``.pt`` stores the pairs as tensors)."""
        out: dict[str, Any] = {"classes": list(self.classes)}
        for name in _PER_CLASS:
            out[name] = getattr(self, name).tolist()
        out.update(
            samples=int(self.samples),
            no_positive=int(self.no_positive),
            pixels=int(self.pixels),
            spatial_ndim=int(self.spatial_ndim),
            **{name: None if getattr(self, name) is None else getattr(self, name).tolist()
               for name in _PER_CLASS_OPTIONAL},
            notes=list(self.notes),
        )
        if pairs:
            out["cooccurrence"] = None if self.pairs is None else self.pairs.to_plain()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Counts:
        """Back from :meth:`to_dict` (``cooccurrence``: a dense matrix as lists, or the sparse dict)."""
        known = {"classes", *_PER_CLASS, *_PER_CLASS_OPTIONAL, "samples", "no_positive", "pixels",
                 "spatial_ndim", "notes"}
        out = cls(**{k: v for k, v in data.items() if k in known})
        if data.get("cooccurrence") is not None:
            out.pairs = PairCounts.from_plain(data["cooccurrence"], out.num_classes)
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Counts):
            return NotImplemented
        scalars = ("classes", "samples", "no_positive", "pixels", "spatial_ndim", "notes")
        if any(getattr(self, k) != getattr(other, k) for k in scalars):
            return False
        for name in (*_PER_CLASS, *_PER_CLASS_OPTIONAL):
            a, b = getattr(self, name), getattr(other, name)
            if (a is None) != (b is None) or (a is not None and not np.array_equal(a, b)):
                return False
        return self.pairs == other.pairs


def _pair_count(labels: SparseLabels) -> float:
    lengths = labels.row_lengths().astype(np.float64)
    return float((lengths * (lengths - 1)).sum()) / 2


def _dense_cooccurrence(self: Counts) -> np.ndarray | None:
    """The dense C×C pair matrix (None when pairs are not tracked). Above ``pairs.DENSE_MAX_CLASSES``
    classes there is none: read ``counts.pairs`` instead."""
    if self.pairs is None:
        return None
    if self.pairs.matrix is None:
        raise ValueError(f"the label pairs of {self.num_classes:,} classes are kept sparse "
                         f"({self.pairs.mode}, see bceweights.pairs); read counts.pairs")
    return self.pairs.matrix


def _set_cooccurrence(self: Counts, matrix: np.ndarray | None) -> None:
    self.pairs = None if matrix is None else PairCounts.from_dense(matrix)


# Set after the dataclass is made: in the class body the property would be taken for the default of
# the ``cooccurrence`` init argument.
Counts.cooccurrence = property(_dense_cooccurrence, _set_cooccurrence)  # type: ignore[assignment]


def _aligned(other: Counts, target: Counts) -> Counts:
    """``other`` re-indexed to ``target``'s classes (which include all of other's); absent classes
    have been negatives in every one of ``other``'s samples."""
    out = Counts(target.classes, samples=other.samples, no_positive=other.no_positive,
                 pixels=other.pixels, spatial_ndim=other.spatial_ndim, notes=other.notes)
    where = {c: i for i, c in enumerate(target.classes)}
    index = np.array([where[c] for c in other.classes], dtype=np.int64)
    for name in _PER_CLASS:
        getattr(out, name)[index] = getattr(other, name)
    absent = np.ones(target.num_classes, dtype=bool)
    absent[index] = False
    out.neg[absent], out.ignored[absent] = other._baseline_for_new_class()
    for name in _PER_CLASS_OPTIONAL:
        if getattr(other, name) is not None:
            setattr(out, name, np.zeros(target.num_classes, dtype=np.int64))
            getattr(out, name)[index] = getattr(other, name)
    if other.pairs is not None:
        out.pairs = other.pairs.remapped(index, target.num_classes)
    return out


def merge_same_classes(total: Counts, part: Counts, *, path: Any, first: Any, kind: str | None) -> Counts:
    """Add ``part`` (the counts of ``path``) into ``total`` (from ``first`` on) and return ``total``.

    ``kind`` names inputs whose files must all hold the same classes in the same order, where a
    difference is a mistake rather than new classes: ``"table"`` (wide tables) or ``"array"``; it
    picks the words of the error. ``None``: classes merge as a union (label lists, masks). The local
    readers and the Dask engine's reduce raise the same error through this."""
    if kind is not None and part.classes != total.classes:
        if kind == "array":
            raise InputError(
                f"{path}: classes {short_names(part.classes)} differ from those of {first} "
                f"{short_names(total.classes)}",
                hint="every file must hold the same classes, in the same order",
            )
        raise InputError(
            f"{path}: label columns {part.classes} differ from those of the first file {total.classes}",
            hint="pass --columns so every file uses the same label columns",
        )
    return total.merge(part)


def short_names(names: Sequence[str]) -> str:
    """At most six class names and how many there are, for messages."""
    return f"[{', '.join(names[:6])}{', ...' if len(names) > 6 else ''}] ({len(names)})"


def merge_all(parts: Iterable[Counts]) -> Counts:
    """Sum an iterable of counts (the reduce step of every engine)."""
    total: Counts | None = None
    for part in parts:
        total = part.copy() if total is None else total.merge(part)
    if total is None:
        raise ValueError("nothing to merge")
    return total
