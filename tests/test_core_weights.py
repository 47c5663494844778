"""Base formulas: pos_weight, inverse frequency, normalisation, zero-positive classes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bceweights.counts import Counts
from bceweights.errors import ZeroPositivesError
from bceweights.weights import (
    ZERO_POSITIVE_POS_WEIGHT,
    WeightOptions,
    compute_weights,
    inverse_frequency,
    normalize_weights,
    pos_weight,
)


def counts_of(pos, n):
    pos = np.asarray(pos, dtype=float)
    return Counts([f"c{i}" for i in range(len(pos))], pos=pos, neg=n - pos, samples=n)


def test_worked_example_1000_images():
    w = compute_weights(counts_of([600, 550, 200, 100], 1000))
    np.testing.assert_allclose(w.pos_weight, [400 / 600, 450 / 550, 4, 9])
    assert np.round(w.pos_weight, 3).tolist() == [0.667, 0.818, 4.0, 9.0]
    # inverse: n / (C * P)
    np.testing.assert_allclose(w.class_weight, [1000 / (4 * p) for p in (600, 550, 200, 100)])


def test_worked_example_100_samples():
    w = compute_weights(counts_of([90, 80], 100))
    np.testing.assert_allclose(w.pos_weight, [10 / 90, 20 / 80])


def test_single_class_gives_length_one():
    w = compute_weights(counts_of([25], 100))
    assert w.pos_weight.shape == (1,) and w.pos_weight[0] == 3.0
    assert w.class_weight.shape == (1,) and w.class_weight[0] == 4.0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 1000)), min_size=1, max_size=8),
       st.sampled_from(["none", "mean", "sum"]), st.sampled_from(["warn", "skip"]))
def test_weights_are_finite_and_match_brute_force(pairs, normalize, zero):
    pos = np.array([p for p, _ in pairs], dtype=float)
    neg = np.array([n for _, n in pairs], dtype=float)
    counts = Counts([f"c{i}" for i in range(len(pos))], pos=pos, neg=neg)
    w = compute_weights(counts, WeightOptions(normalize=normalize, zero_positives=zero))
    assert np.isfinite(w.pos_weight).all() and np.isfinite(w.class_weight).all()
    for c in range(len(pos)):
        # A class without positives, or without negatives (N/P = 0), gets the neutral 1.
        expected = neg[c] / pos[c] if pos[c] > 0 and neg[c] > 0 else ZERO_POSITIVE_POS_WEIGHT
        assert w.pos_weight[c] == pytest.approx(expected)
    present = pos > 0
    if present.any() and normalize == "none":
        expected = (pos + neg)[present] / (len(pos) * pos[present])
        np.testing.assert_allclose(w.class_weight[present], expected)
    if present.any() and normalize == "mean":
        # warn: absent classes take part in the scale with their filled value; skip: they do not.
        scaled = w.class_weight if zero == "warn" else w.class_weight[present]
        assert scaled.mean() == pytest.approx(1.0)
    if zero == "skip":
        assert (w.class_weight[~present] == 0).all()


def test_inverse_frequency_preserves_total_effect_when_balanced():
    # scikit-learn's invariant: sum over classes of w_c * P_c equals n when every row has one label.
    pos = np.array([50.0, 30.0, 20.0])
    w = inverse_frequency(pos=pos, neg=100 - pos)
    assert float((w * pos).sum()) == pytest.approx(100.0)


def test_normalize():
    assert normalize_weights([2.0, 6.0], normalize="mean").tolist() == [0.5, 1.5]
    assert normalize_weights([2.0, 6.0], normalize="sum").tolist() == [0.25, 0.75]
    assert normalize_weights([2.0, 6.0], normalize="none").tolist() == [2.0, 6.0]


def test_zero_positive_class_warns_with_finite_values():
    w = compute_weights(Counts(["a", "absent"], pos=[10, 0], neg=[90, 100]))
    assert w.pos_weight.tolist() == [9.0, 1.0]
    assert w.class_weight.tolist() == [5.0, 5.0]
    assert w.zero_positive == ["absent"]
    assert "absent" in w.warnings[0]


def test_zero_positive_class_is_an_error_when_asked():
    with pytest.raises(ZeroPositivesError, match="absent"):
        compute_weights(Counts(["a", "absent"], pos=[10, 0], neg=[90, 100]),
                        WeightOptions(zero_positives="error"))


def test_all_positive_class_is_flagged():
    w = compute_weights(Counts(["always"], pos=[10], neg=[0]))
    assert w.pos_weight.tolist() == [1.0]  # N/P = 0 would delete the class's positive loss term
    assert w.zero_negative == ["always"]
    assert "no negative example for always: pos_weight set to 1" in w.warnings[0]


def test_pos_weight_never_divides_by_zero():
    with np.errstate(all="raise"):
        assert pos_weight(pos=[0, 5], neg=[3, 5]).tolist() == [1.0, 1.0]
