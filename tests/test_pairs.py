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
    np.testing.assert_array_equal(s[::-1].to_dense(), s.to_dense()[::-1])
    if rows:
        np.testing.assert_array_equal(s[np.array([-1])].to_dense(), s.to_dense()[[-1]])
    # From exploded (row, class) pairs in any order.
    pairs = [(r, i) for r, labels in enumerate(rows) for i in labels]
    order = data.draw(st.permutations(range(len(pairs))))
    shuffled = [pairs[k] for k in order]
    again = SparseLabels.from_pairs(np.array([p[0] for p in shuffled], dtype=np.int64),
                                    np.array([p[1] for p in shuffled], dtype=np.int64), len(rows), c)
    np.testing.assert_array_equal(again.to_dense(), s.to_dense())


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 30), st.integers(0, 70), st.sampled_from(["uint8", "bool", "int64", "float64"]),
       st.booleans(), st.floats(0, 1), st.integers(0, 2**32 - 1))
def test_nonzero_rows_equals_numpy(n, c, dtype, fortran, density, seed):
    from bceweights.pairs import nonzero_rows

    rng = np.random.default_rng(seed)
    y = (rng.random((n, c)) < density).astype(dtype)
    if fortran:
        y = np.asfortranarray(y)
    rows, cols = nonzero_rows(y)
    want = np.nonzero(y)
    np.testing.assert_array_equal(rows, want[0])
    np.testing.assert_array_equal(cols, want[1])
    np.testing.assert_array_equal(SparseLabels.from_dense(y).to_dense(), (y != 0).astype(np.uint8))


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


# ------------------------------------------------------------------- partials, merges, class growth


def rows_strategy(universe: int):
    """Rows as {class: value}: hard rows (1s) or float rows (0.5, 1, NaN for ignored)."""
    hard = st.dictionaries(st.integers(0, universe - 1), st.just(1.0), max_size=5)
    soft = st.dictionaries(st.integers(0, universe - 1), st.sampled_from([0.5, 1.0, np.nan]), max_size=5)
    return st.one_of(hard, soft)


@st.composite
def partials(draw):
    """Partials of batches over a universe of classes, each batch dense (uint8 or float) or sparse;
    each partial meets its classes in its own order, as label lists do."""
    universe = draw(st.integers(1, 8))
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        batches = []
        for _ in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(["sparse", "uint8", "float"]))
            rows = draw(st.lists(rows_strategy(universe), max_size=12))
            if kind != "float":
                rows = [{k: 1.0 for k in r} for r in rows]
            batches.append((kind, rows))
        parts.append(batches)
    return universe, parts


def count_partial(batches) -> Counts:
    counts = Counts([]).track_cooccurrence()
    for kind, rows in batches:
        met = list(dict.fromkeys([*counts.classes, *(f"c{k}" for r in rows for k in r)]))
        counts.extend_classes(met)
        col = {name: i for i, name in enumerate(counts.classes)}
        c = counts.num_classes
        if kind == "sparse":
            counts.update(rows_to_sparse([[col[f"c{k}"] for k in r] for r in rows], c))
            continue
        y = np.zeros((len(rows), c), dtype=np.uint8 if kind == "uint8" else np.float64)
        for i, r in enumerate(rows):
            for k, v in r.items():
                y[i, col[f"c{k}"]] = v
        counts.update(y)
    return counts


def brute_all(universe: int, parts) -> dict:
    rows = [r for batches in parts for _, rs in batches for r in rs]
    y = np.zeros((len(rows), universe))
    for i, r in enumerate(rows):
        for k, v in r.items():
            y[i, k] = v
    nan = np.isnan(y)
    y0 = np.where(nan, 0.0, y)
    return {"pos": y0.sum(axis=0), "neg": (~nan).sum(axis=0) - y0.sum(axis=0), "ignored": nan.sum(axis=0),
            "samples": len(rows), "no_positive": int((y0.sum(axis=1) == 0).sum()), "cooc": y0.T @ y0}


@settings(max_examples=150, deadline=None)
@given(partials(), st.sampled_from([1, 2, 3, 100]), st.data())
def test_partials_merged_in_any_order_equal_brute_force(case, bound, data):
    from bceweights import pairs

    universe, parts = case
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pairs, "DENSE_MAX_CLASSES", bound)
        counted = [count_partial(batches) for batches in parts]
        order = data.draw(st.permutations(range(len(counted))))
        total = counted[order[0]].copy()
        for k in order[1:]:
            total = total + counted[k] if data.draw(st.booleans()) else total.merge(counted[k])
        want = brute_all(universe, parts)
        met = [int(name[1:]) for name in total.classes]
        # Classes no partial met are in no Counts; every met one is compared in universe order.
        ordered = total.reorder([f"c{k}" for k in sorted(met)])
        keep = sorted(met)
        np.testing.assert_array_equal(ordered.pos, want["pos"][keep])
        np.testing.assert_array_equal(ordered.neg, want["neg"][keep])
        np.testing.assert_array_equal(ordered.ignored, want["ignored"][keep])
        assert (ordered.samples, ordered.no_positive) == (want["samples"], want["no_positive"])
        np.testing.assert_array_equal(ordered.pairs.dense(), want["cooc"][np.ix_(keep, keep)])
        assert ordered.pairs.mode == ("dense" if len(keep) <= bound else "sparse")
        assert (ordered.pairs.matrix is None) == (len(keep) > bound)
        # Round trips: plain values, copies, pickles.
        import pickle

        assert Counts.from_dict(ordered.to_dict()) == ordered
        assert ordered.copy() == ordered and pickle.loads(pickle.dumps(ordered)) == ordered
        assert ordered != Counts(ordered.classes)


@settings(max_examples=40, deadline=None)
@given(st.integers(17, 40), st.integers(0, 50), st.floats(0, 0.6), st.sampled_from([0, 4000, 10**12]),
       st.booleans(), st.integers(0, 2**32 - 1))
def test_pairs_or_product_whichever_is_cheaper_count_the_same(c, n, density, cost, fortran, seed):
    """Above 16 classes a dense-mode batch goes by its label pairs or by the product, by their cost;
    both ways, from blocks and from SparseLabels, equal the brute force."""
    from bceweights import counts as counts_module

    rng = np.random.default_rng(seed)
    y = (rng.random((n, c)) < density).astype(np.uint8)
    if fortran:
        y = np.asfortranarray(y)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(counts_module, "_PAIR_COST", cost)
        for batch in (y, SparseLabels.from_dense(y)):
            counts = Counts(names(c)).track_cooccurrence()
            counts.update(batch)
            want = brute(y)
            assert counts.pairs.mode == "dense"
            np.testing.assert_array_equal(counts.cooccurrence, want["cooc"])
            np.testing.assert_array_equal(counts.pos, want["pos"])
            np.testing.assert_array_equal(counts.neg, want["neg"])
            assert (counts.samples, counts.no_positive) == (want["samples"], want["no_positive"])


def test_crossing_the_bound_mid_count_turns_sparse_and_stays_exact(monkeypatch):
    from bceweights import pairs

    monkeypatch.setattr(pairs, "DENSE_MAX_CLASSES", 3)
    counts = Counts(["a", "b"]).track_cooccurrence()
    counts.update(np.array([[1, 1], [1, 0]], dtype=np.uint8))
    assert counts.pairs.mode == "dense"
    counts.extend_classes(["c", "d"])
    assert counts.pairs.mode == "sparse" and counts.pairs.matrix is None
    counts.update(SparseLabels(np.array([0, 3, 5]), np.array([0, 1, 3, 2, 3]), 4))
    assert counts.pairs.dense().tolist() == [[3, 2, 0, 1], [2, 2, 0, 1], [0, 0, 1, 1], [1, 1, 1, 2]]
    with pytest.raises(ValueError, match="kept sparse"):
        _ = counts.cooccurrence
    assert counts.reorder(["d", "c", "b", "a"]).pairs.dense().tolist() == \
        [[2, 1, 1, 1], [1, 1, 0, 0], [1, 0, 2, 2], [1, 0, 2, 3]]


def test_a_partial_without_pairs_drops_them():
    a = Counts(["x"]).track_cooccurrence()
    a.update(np.array([[1]], dtype=np.uint8))
    b = Counts(["x"])
    b.update(np.array([[1]], dtype=np.uint8))
    assert (a + b).pairs is None and (b + a).pairs is None


# ------------------------------------------------------------------------- the memory cap (top pairs)


def truth_pairs(y: np.ndarray) -> dict[tuple[int, int], float]:
    g = y.T.astype(np.float64) @ y.astype(np.float64)
    return {(a, b): g[a, b] for a in range(len(g)) for b in range(a + 1, len(g)) if g[a, b]}


def assert_honest_bounds(p, y: np.ndarray) -> None:
    """Listed counts are lower bounds at most ``error`` below the truth; unlisted pairs occurred at
    most ``unlisted`` times; the diagonal is exact."""
    true = truth_pairs(y)
    a, b, v = p.items()
    listed = {(int(i), int(j)): float(c) for i, j, c in zip(a, b, v)}
    for pair, count in listed.items():
        assert count <= true[pair] <= count + p.error
    for pair, count in true.items():
        if pair not in listed:
            assert count <= p.unlisted
    np.testing.assert_array_equal(p.sparse()[2], y.sum(axis=0))


@settings(max_examples=60, deadline=None)
@given(st.integers(5, 12), st.integers(1, 12), st.integers(0, 2**32 - 1), st.integers(1, 4))
def test_beyond_the_cap_the_most_frequent_pairs_with_honest_bounds(c, cap, seed, parts):
    from bceweights import pairs

    rng = np.random.default_rng(seed)
    # Zipf-like: a few frequent classes, a long tail.
    p = 1.0 / np.arange(1, c + 1)
    y = (rng.random((60, c)) < p * 0.6).astype(np.uint8)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pairs, "DENSE_MAX_CLASSES", 2)
        mp.setattr(pairs, "MAX_PAIRS", cap)
        mp.setattr(pairs, "_COMPACT_MIN", 1)
        counted = []
        for chunk in np.array_split(y, parts):
            part = Counts(names(c)).track_cooccurrence()
            for rows in np.array_split(chunk, 3):
                part.update(SparseLabels.from_dense(rows))
            counted.append(part)
        total = counted[0].copy()
        for part in counted[1:]:
            total.merge(part)
        np.testing.assert_array_equal(total.pos, y.sum(axis=0))
        assert_honest_bounds(total.pairs, y)
        distinct = len(truth_pairs(y))
        if total.pairs.mode == "top":
            assert not total.pairs.complete and total.pairs.unlisted > 0
            assert len(total.pairs.items()[0]) <= cap
            info = total.pairs.describe()
            assert info["mode"] == "top" and info["exact"] is False and "approximate" in info["note"]
        else:
            assert distinct <= cap
            np.testing.assert_array_equal(total.pairs.dense(), y.T.astype(float) @ y)


# ----------------------------------------------------------------------------------- the .pt, report


def _saved(tmp_path, counts):
    import torch

    from bceweights.api import Result, result_from_payload
    from bceweights.weights import compute_weights

    Result(counts, compute_weights(counts), {"inputs": ["x.csv"], "kind": "table"}).save(tmp_path / "w.pt")
    data = torch.load(tmp_path / "w.pt", weights_only=True)
    return data, result_from_payload(data)


@pytest.mark.parametrize("bound", [2, 100])
def test_pt_round_trip_dense_and_sparse(tmp_path, monkeypatch, bound):
    from bceweights import pairs

    monkeypatch.setattr(pairs, "DENSE_MAX_CLASSES", bound)
    rng = np.random.default_rng(7)
    y = (rng.random((40, 6)) < 0.4).astype(np.uint8)
    counts = Counts(names(6)).track_cooccurrence()
    counts.update(SparseLabels.from_dense(y))
    data, back = _saved(tmp_path, counts)
    assert back.counts == counts
    if bound == 100:
        assert data["cooccurrence"].shape == (6, 6) and "cooccurrence_index" not in data
        assert data["meta"]["cooccurrence"]["mode"] == "dense"
    else:
        assert "cooccurrence" not in data
        index, count = data["cooccurrence_index"], data["cooccurrence_count"]
        assert index.dtype == pairs_dtype("int64") and count.dtype == pairs_dtype("float64")
        import torch

        upper = torch.sparse_coo_tensor(index.T, count, (6, 6), check_invariants=True).to_dense().numpy()
        np.testing.assert_array_equal(upper, np.triu(y.T.astype(float) @ y))
        assert data["meta"]["cooccurrence"]["mode"] == "sparse" and data["meta"]["cooccurrence"]["exact"]


def pairs_dtype(name: str):
    import torch

    return getattr(torch, name)


def test_pt_keeps_the_most_frequent_pairs_with_exact_counts(tmp_path, monkeypatch):
    from bceweights import pairs, report

    monkeypatch.setattr(pairs, "DENSE_MAX_CLASSES", 2)
    monkeypatch.setattr(pairs, "PAYLOAD_MAX_PAIRS", 3)
    rng = np.random.default_rng(11)
    y = (rng.random((80, 7)) < np.linspace(0.9, 0.1, 7)).astype(np.uint8)
    counts = Counts(names(7)).track_cooccurrence()
    counts.update(y)
    assert counts.pairs.mode == "sparse"
    data, back = _saved(tmp_path, counts)
    assert len(data["cooccurrence_count"]) == 3 + 7  # three pairs and the diagonal
    p = back.counts.pairs
    assert p.mode == "top" and p.error == 0 and len(p.items()[0]) == 3
    assert_honest_bounds(p, y)
    true = truth_pairs(y)
    assert sorted(p.items()[2].tolist(), reverse=True) == sorted(true.values(), reverse=True)[:3]
    doc = report.build_report(back)
    assert doc["cooccurrence"]["mode"] == "top" and "exact counts" in doc["cooccurrence"]["note"]
    assert [d["count"] for d in doc["top_pairs"]] == sorted(true.values(), reverse=True)[:3]


def test_report_states_the_mode_and_lists_top_pairs(monkeypatch):
    from bceweights import pairs, report
    from bceweights.api import Result
    from bceweights.weights import compute_weights

    rng = np.random.default_rng(5)
    y = (rng.random((50, 5)) < 0.5).astype(np.uint8)
    docs = {}
    for bound in (2, 100):
        monkeypatch.setattr(pairs, "DENSE_MAX_CLASSES", bound)
        counts = Counts(names(5)).track_cooccurrence()
        counts.update(SparseLabels.from_dense(y))
        docs[bound] = report.build_report(Result(counts, compute_weights(counts), {}))
    assert docs[2]["top_pairs"] == docs[100]["top_pairs"]
    true = truth_pairs(y)
    best = sorted(true.items(), key=lambda kv: (-kv[1], kv[0]))[:report.TOP_PAIRS]
    assert [(d["a"], d["b"], d["count"]) for d in docs[2]["top_pairs"]] == \
        [(f"c{a}", f"c{b}", c) for (a, b), c in best]
    assert docs[2]["cooccurrence"]["mode"] == "sparse" and docs[2]["cooccurrence"]["dense_max_classes"] == 2
    assert docs[100]["cooccurrence"]["mode"] == "dense"
    assert docs[2]["cooccurrence"]["pairs"] == len(true)


def test_cooccurrence_csv_long_rows_above_the_bound(monkeypatch):
    import csv
    import io

    from bceweights import pairs, report

    monkeypatch.setattr(pairs, "DENSE_MAX_CLASSES", 2)
    classes = ["a,1", "b", "c", "d"]
    y = np.array([[1, 1, 0, 1], [1, 0, 0, 1], [0, 0, 1, 0], [1, 1, 0, 0]], dtype=np.uint8)
    counts = Counts(classes).track_cooccurrence()
    counts.update(y)
    text = report.cooccurrence_csv(counts)
    first, rest = text.split("\n", 1)
    assert first.startswith("# co-occurrence: 4 classes, above the dense bound of 2") and "exact" in first
    rows = list(csv.reader(io.StringIO(rest)))
    assert rows[0] == ["class_a", "class_b", "count"]
    got = {(r[0], r[1]): float(r[2]) for r in rows[1:]}
    g = y.T.astype(float) @ y
    want = {(classes[i], classes[j]): g[i, j] for i in range(4) for j in range(i, 4) if g[i, j]}
    assert got == want
    # Class order, each class's diagonal row first.
    assert [tuple(r[:2]) for r in rows[1:4]] == [("a,1", "a,1"), ("a,1", "b"), ("a,1", "d")]


# ------------------------------------------------------------------ an id-like class column, for real


def test_an_id_like_class_column_never_allocates_c_by_c(tmp_path):
    import tracemalloc

    import torch

    from bceweights import api, pairs

    c = 6000
    assert c > pairs.DENSE_MAX_CLASSES
    path = tmp_path / "ids.csv"
    ids = [f"id{i:05d}" for i in range(c)]
    path.write_text("path,label\n" + "".join(f"img{i}.png,{ids[i % c]}\n" for i in range(2 * c)))
    tracemalloc.start()
    try:
        result = api.compute(path, class_column="label", workers=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    counts = result.counts
    assert counts.num_classes == c and counts.pos.tolist() == [2.0] * c
    p = counts.pairs
    assert p.mode == "sparse" and p.matrix is None and len(p.items()[0]) == 0
    np.testing.assert_array_equal(p.sparse()[2], counts.pos)
    assert p.nbytes <= 8 * c
    # One C x C float64 is 288 MB: the whole count stays well under half of it.
    assert peak < c * c * 8 // 2
    result.save(tmp_path / "w.pt")
    data = torch.load(tmp_path / "w.pt", weights_only=True)
    assert "cooccurrence" not in data and data["cooccurrence_index"].shape == (c, 2)
    assert (tmp_path / "w.pt").stat().st_size < 4 * 1024 * 1024
