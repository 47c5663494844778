"""Sparse label batches and bounded label-pair counts equal a brute-force NumPy count."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bceweights.counts import Counts, SparseLabels

# ------------------------------------------------------------------------------------------ helpers


def names(c: int) -> list[str]:
    return [f"c{i}" for i in range(c)]


def brute(y: np.ndarray) -> dict:
    """Per-class sums and the full pair matrix by plain NumPy on the dense block."""
    y = y.astype(np.float64)
    return {"pos": y.sum(axis=0), "neg": len(y) - y.sum(axis=0), "samples": len(y),
            "no_positive": int((y.sum(axis=1) == 0).sum()), "cooc": y.T @ y}


def rows_to_sparse(rows: list[list[int]], c: int) -> SparseLabels:
    """A label list as SparseLabels, repeats and order as given."""
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    indices = np.array([i for r in rows for i in r], dtype=np.int64)
    return SparseLabels(indptr, indices, c)


def rows_to_dense(rows: list[list[int]], c: int) -> np.ndarray:
    out = np.zeros((len(rows), c), dtype=np.uint8)
    for r, labels in enumerate(rows):
        out[r, labels] = 1
    return out


label_rows = st.integers(1, 9).flatmap(
    lambda c: st.tuples(st.just(c), st.lists(st.lists(st.integers(0, c - 1), max_size=6), max_size=40)))


# ------------------------------------------------------------------------------------- SparseLabels


@settings(max_examples=80, deadline=None)
@given(label_rows)
def test_sparse_labels_count_like_the_dense_block(case):
    c, rows = case
    sparse = Counts(names(c)).track_cooccurrence()
    sparse.update(rows_to_sparse(rows, c))
    dense = Counts(names(c)).track_cooccurrence()
    dense.update(rows_to_dense(rows, c))
    want = brute(rows_to_dense(rows, c))
    assert sparse == dense
    np.testing.assert_array_equal(sparse.pos, want["pos"])
    np.testing.assert_array_equal(sparse.neg, want["neg"])
    assert (sparse.samples, sparse.no_positive) == (want["samples"], want["no_positive"])
    np.testing.assert_array_equal(sparse.cooccurrence, want["cooc"])


@settings(max_examples=60, deadline=None)
@given(label_rows, st.data())
def test_sparse_labels_canonical_form_and_row_selection(case, data):
    c, rows = case
    s = rows_to_sparse(rows, c)
    # Repeats dropped, each row sorted: the dense block is the same.
    assert [s.indices[s.indptr[r]:s.indptr[r + 1]].tolist() for r in range(len(rows))] == \
        [sorted(set(r)) for r in rows]
    np.testing.assert_array_equal(s.to_dense(), rows_to_dense(rows, c))
    np.testing.assert_array_equal(SparseLabels.from_dense(rows_to_dense(rows, c)).to_dense(), s.to_dense())
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=len(rows), max_size=len(rows))), dtype=bool)
    np.testing.assert_array_equal(s[mask].to_dense(), s.to_dense()[mask])
    picks = data.draw(st.lists(st.integers(0, max(len(rows) - 1, 0)), max_size=10)) if rows else []
    np.testing.assert_array_equal(s[np.array(picks, dtype=np.int64)].to_dense(), s.to_dense()[picks])
    lo, hi = sorted(data.draw(st.lists(st.integers(0, len(rows)), min_size=2, max_size=2)))
    np.testing.assert_array_equal(s[lo:hi].to_dense(), s.to_dense()[lo:hi])
    np.testing.assert_array_equal(s[::2].to_dense(), s.to_dense()[::2])
    # From exploded (row, class) pairs in any order.
    pairs = [(r, i) for r, labels in enumerate(rows) for i in labels]
    order = data.draw(st.permutations(range(len(pairs))))
    shuffled = [pairs[k] for k in order]
    again = SparseLabels.from_pairs(np.array([p[0] for p in shuffled], dtype=np.int64),
                                    np.array([p[1] for p in shuffled], dtype=np.int64), len(rows), c)
    np.testing.assert_array_equal(again.to_dense(), s.to_dense())


def test_sparse_labels_refuse_bad_structure():
    with pytest.raises(ValueError, match="outside"):
        SparseLabels(np.array([0, 1]), np.array([3]), 3)
    with pytest.raises(ValueError, match="indptr"):
        SparseLabels(np.array([0, 2]), np.array([1]), 3)
    with pytest.raises(ValueError, match="indptr"):
        SparseLabels(np.array([0, 2, 1, 2]), np.array([1, 0]), 3)
    with pytest.raises(ValueError, match="expected a batch of 4"):
        Counts(names(4)).update(SparseLabels(np.array([0, 1]), np.array([1]), 3))


def test_sparse_labels_widen_for_classes_met_later():
    counts = Counts(["a", "b"])
    counts.update(SparseLabels(np.array([0, 2]), np.array([0, 1]), 2))
    counts.extend_classes(["c"])
    counts.update(SparseLabels(np.array([0, 1, 2]), np.array([0, 1]), 2).with_num_classes(3))
    assert counts.pos.tolist() == [2, 2, 0] and counts.neg.tolist() == [1, 1, 3]


def test_add_batch_takes_sparse_rows():
    class Batch:
        classes = ["x", "y", "z"]
        labels = SparseLabels(np.array([0, 2, 3, 3]), np.array([2, 0, 2]), 3)
        missing = uncertain = None
        notes = ("read as a list",)

    counts = Counts([])
    counts.add_batch(Batch())
    counts.add_batch(Batch(), Batch.labels[np.array([True, False, True])])
    assert counts.classes == ["x", "y", "z"]
    assert counts.pos.tolist() == [2, 0, 3] and counts.samples == 5 and counts.no_positive == 2
    assert counts.notes == ["read as a list"]


def test_sparse_rows_with_many_labels_pair_in_chunks(monkeypatch):
    from bceweights import pairs

    monkeypatch.setattr(pairs, "_CHUNK_LABELS", 7)
    rng = np.random.default_rng(3)
    y = (rng.random((50, 12)) < 0.5).astype(np.uint8)
    counts = Counts(names(12)).track_cooccurrence()
    counts.update(SparseLabels.from_dense(y))
    chunks = list(pairs.csr_pair_chunks(SparseLabels.from_dense(y).indptr, SparseLabels.from_dense(y).indices,
                                        max_pairs=5))
    assert len(chunks) > 10
    np.testing.assert_array_equal(counts.cooccurrence, brute(y)["cooc"])
