"""The long layout (Open Images): a sample is a distinct id, its rows anywhere in the file; counts
checked against a brute-force count of (id, class, value) rows, on both engines and on real files."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bceweights import api, count
from bceweights.errors import InputError, UsageError
from bceweights.policy import ValuePolicy
from bceweights.sampling import SampleOptions, group_weights, sample_weights
from bceweights.spec import InputSpec
from bceweights.tables import long

LONG = dict(id_column="ImageID", class_column="LabelName", confidence_column="Confidence")


def write_long(path: Path, rows, header=("ImageID", "LabelName", "Confidence")) -> Path:
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(header)
        out.writerows(rows)
    return path


def reference(rows, negatives="verified", confidence=True):
    """Per class (P, N, neither), samples, ids without a positive, and the positive pairs, by brute force."""
    states: dict[tuple[str, str], set[int]] = defaultdict(set)
    ids: list[str] = []
    for row in rows:
        image, label = row[0], row[1]
        if image not in ids:
            ids.append(image)
        if label:
            states[(image, label)].add(int(row[2]) if confidence else 1)
    classes = sorted({label for _, label in states})
    out = {}
    for c in classes:
        pos = sum(1 for i in ids if 1 in states.get((i, c), ()))
        if negatives == "verified":
            neg = sum(1 for i in ids if states.get((i, c)) == {0})
        else:
            neg = len(ids) - pos
        out[c] = (pos, neg, len(ids) - pos - neg)
    positives = {i: sorted(c for c in classes if 1 in states.get((i, c), ())) for i in ids}
    pairs = np.zeros((len(classes), len(classes)))
    for labels in positives.values():
        for a in labels:
            for b in labels:
                pairs[classes.index(a), classes.index(b)] += 1
    no_positive = sum(1 for labels in positives.values() if not labels)
    return classes, out, len(ids), no_positive, pairs, ids, positives


def assert_counts(counts, rows, negatives="verified", confidence=True):
    classes, expected, samples, no_positive, pairs, _, _ = reference(rows, negatives, confidence)
    assert counts.classes == classes
    assert counts.samples == samples and counts.no_positive == no_positive
    got = {c: (counts.pos[j], counts.neg[j], counts.ignored[j]) for j, c in enumerate(counts.classes)}
    assert got == expected
    assert np.array_equal(counts.cooccurrence, pairs)


def test_open_images_rules_on_a_small_table(tmp_path):
    rows = [("a", "cat", 1), ("a", "dog", 0), ("b", "cat", 0), ("b", "cat", 1), ("c", "dog", 1),
            ("a", "cat", 1), ("d", "dog", 0)]
    path = write_long(tmp_path / "labels.csv", rows)
    verified = count(path, **LONG)
    # cat: a and b positive (b's 0 and 1 conflict: positive), c and d never verified for cat.
    assert verified.pos.tolist() == [2, 1] and verified.neg.tolist() == [0, 2]
    assert verified.ignored.tolist() == [2, 1] and verified.samples == 4 and verified.no_positive == 1
    implicit = count(path, negatives="implicit", **LONG)
    assert implicit.pos.tolist() == [2, 1] and implicit.neg.tolist() == [2, 3] and implicit.ignored.tolist() == [0, 0]
    notes = " ".join(verified.notes)
    assert "4 ids are the samples, from 7 label rows" in notes
    assert "1 row repeats" in notes and "1 (id, class) pair is both 1 and 0, counted as positive: cat (1)" in notes


ids = st.sampled_from(["a", "b", "c", "img_0000000001", "img_0000000002", "x" * 300, "é"])
labels = st.sampled_from(["cat", "dog", "/m/0bird", "", "cat"])
long_rows = st.lists(st.tuples(ids, labels, st.sampled_from([0, 1, 1])), min_size=1, max_size=60)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=long_rows, negatives=st.sampled_from(["verified", "implicit"]))
def test_any_long_table_counts_like_brute_force(tmp_path, rows, negatives):
    if not any(label for _, label, _ in rows):
        return
    path = write_long(tmp_path / "labels.csv", rows)
    assert_counts(count(path, negatives=negatives, **LONG), rows, negatives)


def test_without_a_confidence_column_every_row_is_a_positive(tmp_path):
    rows = [("a", "cat"), ("b", "dog"), ("a", "dog"), ("c", ""), ("a", "cat")]
    path = write_long(tmp_path / "labels.csv", rows, header=("ImageID", "LabelName"))
    counts = count(path, id_column="ImageID", class_column="LabelName")
    # "c" has a row without a class: a sample with no positive, a negative of every class.
    assert_counts(counts, rows, "implicit", confidence=False)
    assert counts.samples == 3 and counts.neg.tolist() == [2, 1]


def test_partials_merge_whatever_the_split(monkeypatch):
    """Ids spread over partitions count once: any split of the rows, merged, gives the whole."""
    import pyarrow as pa

    monkeypatch.setattr(long, "COMPACT_MIN", 8)  # many merges of pending triples
    rng = np.random.default_rng(0)
    n = 3000
    image = [f"i{k}" for k in rng.integers(0, 400, n)]
    label = [f"c{k}" for k in rng.integers(0, 30, n)]
    state = rng.integers(0, 2, n).astype(np.uint32)

    def partial(lo, hi):
        part = long.LongPartial([], "verified")
        names = sorted(set(label[lo:hi]), reverse=lo % 2 == 1)  # partitions meet classes in other orders
        part.classes[:] = names
        codes = np.array([names.index(x) for x in label[lo:hi]], dtype=np.uint32)
        part.add(long.hash_ids(pa.array(image[lo:hi])), (codes << 2) | state[lo:hi])
        part.label_rows = hi - lo
        return part

    whole = long.finish_counts(partial(0, n), InputSpec(id_column="i", class_column="c"))
    for cuts in ([0, 1000, 2000, n], [0, 17, 2999, n], [0, 1500, n]):
        parts = [partial(a, b) for a, b in zip(cuts, cuts[1:])]
        total = parts[0]
        for other in parts[1:]:
            total = total.merge(other)
        assert long.finish_counts(total, InputSpec(id_column="i", class_column="c")) == whole


def test_hash_ids_is_one_to_one_for_short_ids_and_fixed_across_processes():
    import pyarrow as pa

    short = [format(i, "x") for i in range(70000)] + ["", "a" * 7, "\x00", "\x00\x00"]
    codes = long.hash_ids(pa.array(short))
    assert len(np.unique(codes)) == len(short)
    # Open Images' ids (16 hex digits) are decoded, not hashed: ids one bit apart stay apart.
    hexes = [format(1 << k, "016x") for k in range(64)] + [format(i, "016x") for i in range(50000)]
    hexes = list(dict.fromkeys(hexes)) + ["0001EEAF4AED83F9", "0001eeaf4aed83fg"]  # not canonical: hashed
    assert len(np.unique(long.hash_ids(pa.array(hexes + short)))) == len(hexes) + len(short)
    values = np.array([0, 1, 0x0001EEAF4AED83F9, 2**64 - 1], dtype=np.uint64)
    decoded = long._mix(values ^ long._HEX_SEED)  # the code is a bijection of the id's value
    assert long.hash_ids(pa.array([format(int(v), "016x") for v in values])).tolist() == decoded.tolist()
    # Sliced arrays and long (word-chained, or hashlib for the longest) ids hash by value alone.
    values = pa.array(["x", "0001eeaf4aed83f9", "y" * 40, "z" * 1000, "0001eeaf4aed83f9"])
    assert long.hash_ids(values.slice(1))[0] == long.hash_ids(values)[1] == long.hash_ids(values)[4]
    assert long.hash_ids(pa.array(["a"])).tolist() == long.hash_ids(pa.array(["a", "b"]))[:1].tolist()


def test_hash_codes_do_not_change_between_processes():
    import subprocess
    import sys

    script = ("import pyarrow as pa; from bceweights.tables.long import hash_ids; "
              "print(hash_ids(pa.array(['ab', '0001eeaf4aed83f9', 'x' * 500])).tolist())")
    runs = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                           env={**__import__('os').environ, "PYTHONHASHSEED": seed}).stdout
            for seed in ("1", "2")}
    assert len(runs) == 1


def test_classes_file_names_open_images_ids(tmp_path):
    rows = [("a", "/m/01", 1), ("b", "/m/02", 1), ("b", "/m/01", 0)]
    path = write_long(tmp_path / "labels.csv", rows)
    names = tmp_path / "class-descriptions.csv"
    names.write_text("/m/02,Dog\n/m/01,Cat\n/m/03,\"Bird, small\"\n")
    counts = count(path, classes_file=names, **LONG)
    # The file's classes, in its order; /m/03 occurs nowhere and is still a class.
    assert counts.classes == ["Dog", "Cat", "Bird, small"]
    assert counts.pos.tolist() == [1, 1, 0] and counts.neg.tolist() == [0, 1, 0]
    assert any("class-descriptions.csv" in n for n in counts.notes)
    write_long(path, rows + [("c", "/m/99", 1)])
    with pytest.raises(InputError, match=r"row 5: label '/m/99' is neither a class of .* nor one of its ids"):
        count(path, classes_file=names, **LONG)


def test_confidence_values_and_policies(tmp_path):
    path = write_long(tmp_path / "labels.csv", [("a", "cat", 1), ("b", "cat", 0.7)])
    with pytest.raises(InputError, match=r"row 3: confidence 0.7 is neither 1 .* nor 0"):
        count(path, **LONG)
    counts = count(path, policy=ValuePolicy(binarize=0.5), **LONG)
    assert counts.pos.tolist() == [2]
    path = write_long(tmp_path / "labels.csv", [("a", "cat", 1), ("b", "cat", 9), ("c", "cat", 0)])
    counts = count(path, policy=ValuePolicy(ignore_values=(9.0,)), negatives="implicit", **LONG)
    # b's row is ignored: neither for cat, though b is a sample (implicit negatives would count it).
    assert (counts.pos.tolist(), counts.neg.tolist(), counts.ignored.tolist(), counts.samples) == ([1], [1], [1], 3)


def test_option_mistakes_are_usage_errors(tmp_path, cli):
    path = write_long(tmp_path / "labels.csv", [("a", "cat", 1)])
    for args, message in (
        (["--confidence-column", "Confidence"], "--confidence-column reads the long layout"),
        (["--id-column", "ImageID", "--class-column", "LabelName", "--negatives", "verified"],
         "--negatives verified needs --confidence-column"),
        (["--id-column", "ImageID", "--class-column", "ImageID"], "must name different columns"),
        (["--id-column", "ImageID"], "--class-column"),
    ):
        result = cli("compute", path, *args, "-o", tmp_path / "w.pt")
        assert result.exit_code == 2, args
        assert message in result.stderr + result.output, (args, result.stderr)


def test_cli_and_sample_weights_one_row_per_id(tmp_path, cli):
    import torch

    rows = [("b", "dog", 1), ("a", "cat", 1), ("b", "cat", 0), ("c", "dog", 0), ("a", "dog", 1), ("d", "cat", 1)]
    path = write_long(tmp_path / "labels.csv", rows)
    result = cli("compute", path, "--id-column", "ImageID", "--class-column", "LabelName", "--confidence-column",
                 "Confidence", "-o", tmp_path / "w.pt", "--sample-weights", tmp_path / "s.pt", "-q")
    assert result.exit_code == 0, result.stderr
    saved = torch.load(tmp_path / "s.pt", weights_only=True)
    # One row per id, in the order ids first appear, with the line of that first row.
    assert saved["ids"] == ["b", "a", "c", "d"] and saved["rows"].tolist() == [2, 3, 5, 7]
    counts = count(path, **LONG)
    groups = group_weights(counts)
    _, _, _, _, _, ids, positives = reference(rows)
    expected = [max(groups[counts.classes.index(c)] for c in positives[i]) if positives[i] else groups[-1]
                for i in ["b", "a", "c", "d"]]
    assert saved["weights"].tolist() == pytest.approx(expected)
    direct = sample_weights(path, InputSpec(**LONG), options=SampleOptions(id_column=None))
    assert direct.weights.tolist() == pytest.approx(expected)


def test_parquet_long_table(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [("a", "cat", 1), ("b", "cat", 0), ("a", "dog", 1), ("c", "dog", 0), ("a", "cat", 0)]
    path = tmp_path / "labels.parquet"
    pq.write_table(pa.table({"ImageID": [r[0] for r in rows], "LabelName": [r[1] for r in rows],
                             "Confidence": [r[2] for r in rows]}), path, row_group_size=2)
    assert_counts(count(path, **LONG), rows)


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None,
                                       silence_logs=50)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def test_both_engines_give_the_same_tensors(tmp_path, client):
    from bceweights.engines import dask as dask_engine

    rng = np.random.default_rng(5)
    rows = [(f"img{rng.integers(0, 700):05d}", f"/m/{rng.integers(0, 40)}", int(rng.random() < 0.7))
            for _ in range(6000)]  # ids spread over the whole file, so over every block
    path = write_long(tmp_path / "labels.csv", rows)
    local = api.compute(path, **LONG)
    assert_counts(local.counts, rows)
    mp = pytest.MonkeyPatch()
    mp.setattr(dask_engine, "MIN_BLOCK", 4000)
    mp.setattr(dask_engine, "MAX_BLOCK", 4000)
    try:
        dask = api.compute(path, engine="dask", scheduler=client, **LONG)
    finally:
        mp.undo()
    assert dask.counts.to_dict() == local.counts.to_dict()
    a, b = local.payload(), dask.payload()
    assert all(np.array_equal(a[k], b[k]) for k in ("pos_count", "neg_count", "pos_weight", "class_weight"))


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["segmentation_validation_labels_5k.csv", "detection_validation_labels_5k.csv"])
def test_open_images_validation_labels_count_like_pandas(shared_data, name):
    import pandas as pd

    path = shared_data / "openimages" / "mpeg_vcm_oiv6_val5k" / name
    df = pd.read_csv(path, dtype={"ImageID": str, "LabelName": str})
    ids = df["ImageID"].nunique()
    state = df.groupby(["ImageID", "LabelName"])["Confidence"].agg(lambda s: 1 if (s == 1).any() else 0)
    pos = state[state == 1].groupby(level="LabelName").size()
    verified = state[state == 0].groupby(level="LabelName").size()
    for negatives in ("verified", "implicit"):
        counts = count(path, negatives=negatives, **LONG)
        assert counts.classes == sorted(df["LabelName"].unique()) and counts.samples == ids
        want_pos = pos.reindex(counts.classes, fill_value=0).to_numpy()
        assert counts.pos.tolist() == want_pos.tolist()
        want_neg = verified.reindex(counts.classes, fill_value=0).to_numpy() if negatives == "verified" \
            else ids - want_pos
        assert counts.neg.tolist() == want_neg.tolist()
        holders = state[state == 1].reset_index()["ImageID"].nunique()
        assert counts.no_positive == ids - holders
    both = int(df.groupby(["ImageID", "LabelName"])["Confidence"].agg(lambda s: {0, 1} <= set(s)).sum())
    repeated = len(df) - len(df.drop_duplicates())
    notes = " ".join(counts.notes)
    assert (f"{both:,} (id, class) pair" in notes and "both 1 and 0" in notes) == (both > 0)
    assert (f"{repeated:,} row" in notes) == (repeated > 0)


@pytest.mark.realdata
def test_open_images_on_dask_equals_local(shared_data, client):
    from bceweights.engines import dask as dask_engine

    path = shared_data / "openimages" / "mpeg_vcm_oiv6_val5k" / "segmentation_validation_labels_5k.csv"
    local = api.compute(path, **LONG)
    mp = pytest.MonkeyPatch()
    mp.setattr(dask_engine, "MIN_BLOCK", 20000)
    mp.setattr(dask_engine, "MAX_BLOCK", 20000)
    try:
        dask = api.compute(path, engine="dask", scheduler=client, **LONG)
    finally:
        mp.undo()
    assert dask.counts.to_dict() == local.counts.to_dict()


def test_negatives_without_the_long_layout_is_a_usage_error(tmp_path):
    path = write_long(tmp_path / "labels.csv", [("a", "cat", 1)])
    with pytest.raises(UsageError, match="--negatives reads the long layout"):
        count(path, class_column="LabelName", negatives="implicit")


def test_where_and_excluded_labels(tmp_path):
    rows = [("a", "cat", 1, "train"), ("b", "dog", 1, "train"), ("a", "dog", 1, "val"), ("c", "bird", 1, "train"),
            ("d", "cat", 0, "val")]
    path = write_long(tmp_path / "labels.csv", rows, header=("ImageID", "LabelName", "Confidence", "split"))
    counts = count(path, where=(("split", "train"),), exclude_columns=("bird",), negatives="implicit", **LONG)
    # Only train rows; c's only label is left out, so c is a sample without a positive.
    assert counts.classes == ["cat", "dog"] and counts.samples == 3 and counts.no_positive == 1
    assert counts.pos.tolist() == [1, 1] and counts.neg.tolist() == [2, 2]


def test_blank_id_is_an_error_naming_the_row(tmp_path):
    path = write_long(tmp_path / "labels.csv", [("a", "cat", 1), ("", "dog", 1)])
    with pytest.raises(InputError, match=r"row 3: the id \('ImageID'\) is blank"):
        count(path, **LONG)


@pytest.mark.realdata
def test_open_images_boxes_without_confidence_count_images(shared_data):
    import pandas as pd

    path = shared_data / "openimages" / "mpeg_vcm_oiv6_val5k" / "detection_validation_5k_bbox.csv"
    df = pd.read_csv(path, dtype={"ImageID": str, "LabelName": str})
    pos = df.drop_duplicates(["ImageID", "LabelName"]).groupby("LabelName").size()
    ids = df["ImageID"].nunique()
    counts = count(path, id_column="ImageID", class_column="LabelName")
    # Every box is a positive row: an image with three cars is one positive of car.
    assert counts.classes == sorted(pos.index) and counts.samples == ids
    assert counts.pos.tolist() == pos.to_numpy().tolist()
    assert counts.neg.tolist() == (ids - pos.to_numpy()).tolist()
