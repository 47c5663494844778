"""The counts accumulator: chunked updates and merges equal a brute-force count."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bceweights.counts import Counts, merge_all


def brute_force(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pos = np.array([sum(float(v) for v in y[:, c]) for c in range(y.shape[1])])
    neg = np.array([sum(1.0 - float(v) for v in y[:, c]) for c in range(y.shape[1])])
    return pos, neg


multi_hot = st.integers(1, 6).flatmap(
    lambda c: arrays(np.uint8, st.tuples(st.integers(0, 60), st.just(c)), elements=st.integers(0, 1))
)


@settings(max_examples=60, deadline=None)
@given(multi_hot, st.data())
def test_chunked_and_merged_counts_equal_brute_force(y, data):
    classes = [f"c{i}" for i in range(y.shape[1])]
    cuts = sorted(data.draw(st.lists(st.integers(0, len(y)), max_size=5)))
    chunks = np.split(y, cuts)
    parts = []
    for chunk in chunks:
        part = Counts(classes).track_cooccurrence()
        part.update(chunk)
        parts.append(part)
    total = merge_all(parts)
    pos, neg = brute_force(y)
    np.testing.assert_array_equal(total.pos, pos)
    np.testing.assert_array_equal(total.neg, neg)
    assert total.samples == len(y)
    assert total.no_positive == int((y.sum(axis=1) == 0).sum())
    np.testing.assert_array_equal(total.cooccurrence, y.T.astype(float) @ y.astype(float))


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 40), st.integers(1, 4)),
              elements=st.one_of(st.floats(0, 1), st.just(np.nan))))
def test_soft_labels_and_ignored_values(y):
    counts = Counts([f"c{i}" for i in range(y.shape[1])])
    counts.update(y)
    valid = ~np.isnan(y)
    np.testing.assert_allclose(counts.pos, np.where(valid, y, 0).sum(axis=0), atol=1e-9)
    np.testing.assert_allclose(counts.neg, np.where(valid, 1 - y, 0).sum(axis=0), atol=1e-9)
    np.testing.assert_array_equal(counts.ignored, (~valid).sum(axis=0))
    np.testing.assert_array_equal(counts.soft, (valid & (y > 0) & (y < 1)).sum(axis=0))


def test_negatives_are_per_class_not_all_zero_rows():
    # Row 2 has a positive for A only: it is a negative of B, though it is not an all-zero row.
    counts = Counts(["A", "B"])
    counts.update(np.array([[1, 1], [1, 0], [0, 0]]))
    assert counts.neg.tolist() == [1.0, 2.0]
    assert counts.no_positive == 1


def test_merge_matches_classes_by_name_and_counts_new_classes_as_negatives():
    a = Counts(["x", "y"])
    a.update(np.array([[1, 0], [0, 1], [0, 0]]))
    b = Counts(["z", "x"])
    b.update(np.array([[1, 1]]))
    a.merge(b)
    assert a.classes == ["x", "y", "z"]
    assert a.pos.tolist() == [2.0, 1.0, 1.0]
    assert a.neg.tolist() == [2.0, 3.0, 3.0]
    assert a.samples == 4


def test_merge_is_order_independent():
    rng = np.random.default_rng(0)
    parts = []
    for names in (["a", "b"], ["b", "c"], ["c", "a", "d"]):
        part = Counts(names)
        part.update(rng.integers(0, 2, size=(20, len(names))))
        parts.append(part)
    forward = merge_all(parts)
    backward = merge_all(parts[::-1]).reorder(forward.classes)
    np.testing.assert_array_equal(forward.pos, backward.pos)
    np.testing.assert_array_equal(forward.neg, backward.neg)
    assert forward.samples == backward.samples == 60


def test_round_trip_through_dict():
    counts = Counts(["a", "b"], spatial_ndim=2).track_cooccurrence()
    counts.update(np.array([[1, 0], [0.25, np.nan]]))
    counts.add(pos=[1, 2], neg=[3, 4], pixels=10, image_count=[1, 0])
    assert Counts.from_dict(counts.to_dict()) == counts


def test_bad_batch_shape_and_duplicate_classes():
    with pytest.raises(ValueError, match=r"\[n, 2\]"):
        Counts(["a", "b"]).update(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="duplicate"):
        Counts(["a", "a"])


def test_mask_counts_extend_with_void_pixels_for_new_classes():
    first = Counts(["0", "1"], spatial_ndim=2)
    first.add(pos=[6, 2], neg=[2, 6], ignored=[2, 2], pixels=10, samples=1)
    second = Counts(["0", "1", "2"], spatial_ndim=2)
    second.add(pos=[1, 1, 2], neg=[3, 3, 2], ignored=[0, 0, 0], pixels=4, samples=1)
    total = first.merge(second)
    # class "2" was a negative of every valid pixel of the first mask (10 - 2 void).
    assert total.pos.tolist() == [7, 3, 2]
    assert total.neg.tolist() == [5, 9, 10]
    assert total.ignored.tolist() == [2, 2, 2]
