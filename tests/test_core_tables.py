"""The table reader: three layouts, delimiters, gzip, where-filters, several files."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bceweights import count, readers
from bceweights.errors import InputError, OptionsError
from bceweights.tables import source as tables


def write(path, text):
    path.write_text(text)
    return path


def test_wide_layout_detects_label_columns_and_skips_ids(tmp_path):
    f = write(tmp_path / "l.csv", "id,age,A,B,C\n1,30,1,0,0\n2,40,1,1,0\n3,50,0,0,0\n4,60,0,1,1\n")
    c = count(f)
    assert c.classes == ["A", "B", "C"]
    assert c.pos.tolist() == [2, 2, 1] and c.neg.tolist() == [2, 2, 3]
    assert c.samples == 4 and c.no_positive == 1


def test_explicit_columns_exclude_and_order(tmp_path):
    f = write(tmp_path / "l.csv", "A,B,C\n1,0,0\n1,1,0\n")
    assert count(f, columns=("C", "A")).classes == ["C", "A"]
    assert count(f, exclude_columns=("B",)).classes == ["A", "C"]


@pytest.mark.parametrize("delimiter,name", [("\t", "l.tsv"), (";", "l.csv"), ("|", "l.txt"), (" ", "l.txt")])
def test_delimiters_are_detected(tmp_path, delimiter, name):
    rows = [["A", "B"], ["1", "0"], ["0", "0"], ["1", "1"]]
    f = write(tmp_path / name, "\n".join(delimiter.join(r) for r in rows) + "\n")
    c = count(f)
    assert c.classes == ["A", "B"] and c.pos.tolist() == [2, 1]


def test_gzip_and_several_files_are_counted_together(tmp_path):
    a = write(tmp_path / "a.csv", "A,B\n1,0\n0,1\n")
    b = tmp_path / "b.csv.gz"
    with gzip.open(b, "wt") as fh:
        fh.write("A,B\n1,1\n1,0\n0,0\n")
    c = count([a, b])
    assert c.pos.tolist() == [3, 2] and c.neg.tolist() == [2, 3] and c.samples == 5


def test_files_with_different_label_columns_are_refused(tmp_path):
    a = write(tmp_path / "a.csv", "A,B\n1,0\n")
    b = write(tmp_path / "b.csv", "A,C\n1,0\n")
    with pytest.raises(InputError, match="differ"):
        count([a, b])


def test_label_lists_count_a_repeated_label_once(tmp_path):
    f = write(tmp_path / "l.csv", "img,tags\n1,cat dog\n2,dog dog\n3,\n4,bird  cat\n")
    c = count(f, list_column="tags")
    assert c.classes == ["bird", "cat", "dog"]
    assert c.pos.tolist() == [1, 2, 2] and c.neg.tolist() == [3, 2, 2]
    assert c.no_positive == 1
    assert c.cooccurrence[1, 2] == 1  # cat & dog once


@pytest.mark.parametrize("sep", ["|", ";", ","])
def test_list_separator_detection(tmp_path, sep):
    quoted = f'"a{sep}b"' if sep == "," else f"a{sep}b"
    f = write(tmp_path / "l.csv", f"id,labels\n1,{quoted}\n2,b\n")
    c = count(f, list_column="labels")
    assert c.classes == ["a", "b"] and c.pos.tolist() == [1, 2]


def test_list_exclusion_of_a_none_label(tmp_path):
    f = write(tmp_path / "l.csv", "id,labels\n1,No Finding\n2,Mass|Nodule\n3,Mass\n")
    c = count(f, list_column="labels", exclude_columns=("No Finding",))
    assert c.classes == ["Mass", "Nodule"] and c.pos.tolist() == [2, 1] and c.neg.tolist() == [1, 2]
    assert c.no_positive == 1


def test_class_column_one_vs_rest(tmp_path):
    f = write(tmp_path / "l.csv", "id,dx\n1,nevus\n2,melanoma\n3,nevus\n4,bcc\n")
    c = count(f, class_column="dx")
    assert c.classes == ["bcc", "melanoma", "nevus"]
    assert c.pos.tolist() == [1, 1, 2] and c.neg.tolist() == [3, 3, 2]


def test_where_keeps_matching_rows(tmp_path):
    f = write(tmp_path / "l.csv", "split,A\ntrain,1\nval,1\ntrain,0\ntest,1\n")
    assert count(f, where=(("split", "train"),)).pos.tolist() == [1]
    assert count(f, where=(("split", "train"), ("split", "val"))).pos.tolist() == [2]
    with pytest.raises(OptionsError, match="'fold'"):
        count(f, where=(("fold", "1"),))


def test_no_header_with_classes_file(tmp_path):
    f = write(tmp_path / "l.txt", "a.png 1 0\nb.png 1 1\nc.png 0 0\n")
    names = write(tmp_path / "classes.txt", "Cat\nDog\n")
    c = count(f, no_header=True, classes_file=names)
    assert c.classes == ["Cat", "Dog"] and c.pos.tolist() == [2, 1] and c.samples == 3
    bad = write(tmp_path / "three.txt", "Cat\nDog\nBird\n")
    with pytest.raises(OptionsError, match="3 classes"):
        count(f, no_header=True, classes_file=bad)


def test_classes_file_picks_columns_by_name_with_header(tmp_path):
    f = write(tmp_path / "l.csv", "A,B,C\n1,0,1\n")
    names = write(tmp_path / "classes.txt", "C\nA\n")
    assert count(f, classes_file=names).classes == ["C", "A"]


def test_parquet_matches_csv(tmp_path):
    df = pd.DataFrame({"id": ["a", "b", "c"], "A": [1, 0, 1], "B": [0, 0, 1]})
    df.to_parquet(tmp_path / "l.parquet")
    df.to_csv(tmp_path / "l.csv", index=False)
    p, c = count(tmp_path / "l.parquet"), count(tmp_path / "l.csv")
    assert p.classes == c.classes == ["A", "B"]
    assert p.pos.tolist() == c.pos.tolist() == [2, 1]


def test_bad_value_names_column_row_and_value(tmp_path):
    f = write(tmp_path / "l.csv", "A,B\n1,0\n0,2\n")
    with pytest.raises(InputError, match=r"column 'B', row 3: value 2 is not a label"):
        count(f, columns=("A", "B"))


def test_streams_many_small_batches(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, size=(5000, 3))
    pd.DataFrame(y, columns=list("ABC")).to_csv(tmp_path / "l.csv", index=False)
    monkeypatch.setattr(tables, "BLOCK_SIZE", 1 << 12)  # ~700 rows a batch
    from bceweights.spec import InputSpec

    assert len(list(readers.get("csv").rows(tmp_path / "l.csv", InputSpec()))) > 5
    c = count(tmp_path / "l.csv")
    assert c.pos.tolist() == y.sum(axis=0).tolist() and c.samples == 5000


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5).flatmap(lambda c: st.lists(st.lists(st.integers(0, 1), min_size=c, max_size=c),
                                                    min_size=1, max_size=50)),
       st.integers(6, 12))
def test_any_csv_of_labels_counts_like_numpy(tmp_path_factory, rows, log_block):
    y = np.array(rows)
    path = tmp_path_factory.mktemp("h") / "l.csv"
    pd.DataFrame(y, columns=[f"k{i}" for i in range(y.shape[1])]).to_csv(path, index=False)
    old = tables.BLOCK_SIZE
    tables.BLOCK_SIZE = 1 << log_block
    try:
        c = count(path, columns=tuple(f"k{i}" for i in range(y.shape[1])))
    finally:
        tables.BLOCK_SIZE = old
    assert c.pos.tolist() == y.sum(axis=0).tolist()
    assert c.neg.tolist() == (1 - y).sum(axis=0).tolist()
