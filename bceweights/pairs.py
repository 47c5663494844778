"""Label-pair counts (co-occurrence) with bounded memory.

Pairs of labels within a row are generated from CSR rows (row pointers and sorted class indices), so
the work is the number of pairs that occur, never rows x C².
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

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
