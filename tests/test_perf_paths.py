"""The fast paths of issue 7 count exactly what the reference paths count.

The wide CSV reader parses chunks of whole lines with Arrow's multi-threaded ``read_csv``, as int8 when
it can (falling back to float64 for the rest of the file), and hands clean 0/1 batches to
``Counts.update`` as uint8 without the value policy; ``Counts.update`` has an integer path and
computes co-occurrence from the rows with two or more labels. Each is checked against a brute-force
count here, across chunk boundaries.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bceweights.api import count
from bceweights.counts import Counts
from bceweights.readers import tables


def _brute(y: np.ndarray) -> dict:
    """Reference counts of clean labels in [0, 1] (no NaN)."""
    y = y.astype(np.float64)
    return {"pos": y.sum(0).tolist(), "neg": (1 - y).sum(0).tolist(), "samples": len(y),
            "no_positive": int((y.sum(1) == 0).sum()), "cooc": (y.T @ y).tolist()}


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 7), st.integers(0, 300), st.floats(0.0, 1.0), st.booleans(), st.integers(0, 2**31))
def test_integer_update_equals_brute_force(classes, rows, density, transposed, seed):
    rng = np.random.default_rng(seed)
    y = (rng.random((rows, classes)) < density).astype(np.uint8)
    labels = np.ascontiguousarray(y.T).T if transposed else y  # the CSV reader hands a transposed view
    c = Counts([f"c{i}" for i in range(classes)]).track_cooccurrence()
    c.update(labels)
    want = _brute(y)
    assert c.pos.tolist() == want["pos"] and c.neg.tolist() == want["neg"]
    assert c.samples == want["samples"] and c.no_positive == want["no_positive"]
    assert c.cooccurrence.tolist() == want["cooc"]
    as_float = Counts(c.classes).track_cooccurrence()
    as_float.update(y.astype(np.float64))
    assert as_float == c


def test_cooccurrence_is_exact_beyond_float32_precision(monkeypatch):
    """float32 sums of 0/1 are exact only below 2**24: the product is taken in row slices."""
    from bceweights import counts as counts_module

    monkeypatch.setattr(counts_module, "_GRAM_ROWS", 4)
    y = np.ones((11, 2), dtype=np.uint8)
    c = Counts(["a", "b"]).track_cooccurrence()
    c.update(y)
    assert c.cooccurrence.tolist() == [[11, 11], [11, 11]]


def _write_csv(path, y: np.ndarray, cells=None) -> None:
    lines = ["id," + ",".join(f"k{j}" for j in range(y.shape[1]))]
    for i, row in enumerate(y):
        lines.append(f"{i}," + ",".join(cells(i, j, v) if cells else str(int(v)) for j, v in enumerate(row)))
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("block", [1 << 9, 1 << 12, 1 << 22])
def test_wide_chunks_count_like_numpy(tmp_path, monkeypatch, block):
    rng = np.random.default_rng(block)
    y = (rng.random((3000, 5)) < [0.5, 0.1, 0.01, 0.9, 0.0]).astype(np.uint8)
    _write_csv(tmp_path / "l.csv", y)
    monkeypatch.setattr(tables, "BLOCK_SIZE", block)
    c = count(tmp_path / "l.csv")
    want = _brute(y)
    assert c.classes == [f"k{j}" for j in range(5)]
    assert c.pos.tolist() == want["pos"] and c.neg.tolist() == want["neg"]
    assert c.samples == 3000 and c.no_positive == want["no_positive"]
    assert c.cooccurrence.tolist() == want["cooc"]


def test_soft_labels_after_clean_chunks_fall_back_to_float(tmp_path, monkeypatch):
    """int8 parsing fails on the chunk holding 0.25; that chunk and the rest are read as float64."""
    y = np.zeros((2000, 2))
    y[::3, 0] = 1
    y[1500, 1] = 0.25
    y[1900, 1] = 1
    _write_csv(tmp_path / "l.csv", y, cells=lambda i, j, v: "0.25" if v == 0.25 else str(int(v)))
    monkeypatch.setattr(tables, "BLOCK_SIZE", 1 << 10)
    c = count(tmp_path / "l.csv", columns=("k0", "k1"))
    assert c.pos.tolist() == [667.0, 1.25]
    assert c.neg.tolist() == [1333.0, 1998.75]
    assert c.soft.tolist() == [0.0, 1.0]


def test_blanks_and_uncertain_in_a_later_chunk_keep_the_policy(tmp_path, monkeypatch):
    y = np.zeros((1500, 2), dtype=int)
    y[::2, 0] = 1
    cells = {(1200, 0): "", (1300, 1): "-1", (1400, 1): "1"}
    _write_csv(tmp_path / "l.csv", y, cells=lambda i, j, v: cells.get((i, j), str(v)))
    monkeypatch.setattr(tables, "BLOCK_SIZE", 1 << 10)
    c = count(tmp_path / "l.csv", columns=("k0", "k1"))
    # row 1200 (even: a 1) is blank → a negative by default; -1 is ignored by default
    assert c.pos.tolist() == [749.0, 1.0]
    assert c.neg.tolist() == [751.0, 1498.0]
    assert c.missing.tolist() == [1.0, 0.0] and c.uncertain.tolist() == [0.0, 1.0]
    assert c.ignored.tolist() == [0.0, 1.0]


def test_bad_value_in_a_later_chunk_names_its_row(tmp_path, monkeypatch):
    y = np.zeros((1500, 2), dtype=int)
    _write_csv(tmp_path / "l.csv", y, cells=lambda i, j, v: "2" if (i, j) == (1234, 1) else str(v))
    monkeypatch.setattr(tables, "BLOCK_SIZE", 1 << 10)
    with pytest.raises(Exception, match=r"column 'k1', row 1236: value 2 is not a label"):
        count(tmp_path / "l.csv", columns=("k0", "k1"))


@pytest.mark.parametrize("ending", ["\r\n", "\n"])
def test_crlf_no_trailing_newline_and_quoted_header(tmp_path, monkeypatch, ending):
    text = ending.join(['"first label",b', *(["1,0", "0,1", "1,1"] * 400)])  # no final line end
    (tmp_path / "l.csv").write_bytes(text.encode())
    monkeypatch.setattr(tables, "BLOCK_SIZE", 1 << 9)
    c = count(tmp_path / "l.csv")
    assert c.classes == ["first label", "b"]
    assert c.pos.tolist() == [800.0, 800.0] and c.samples == 1200


def test_label_lists_across_chunks(tmp_path, monkeypatch):
    rows = ["a|b", "", "b", "c|a|c", "b|b"] * 300
    (tmp_path / "l.csv").write_text("id,tags\n" + "\n".join(f"{i},{r}" for i, r in enumerate(rows)) + "\n")
    monkeypatch.setattr(tables, "BLOCK_SIZE", 1 << 9)
    c = count(tmp_path / "l.csv", list_column="tags")
    assert c.classes == ["a", "b", "c"]
    assert c.pos.tolist() == [600.0, 900.0, 300.0]  # "c|a|c" and "b|b" count once per row
    assert c.no_positive == 300
    assert c.cooccurrence.tolist() == [[600, 300, 300], [300, 900, 0], [300, 0, 300]]


@pytest.mark.parametrize("array", [
    pa.array([1, None, 0, -1, 1], pa.int8()).slice(1),
    pa.array([0.5, None, 1.0], pa.float64()),
    pa.array(range(20), pa.uint16()).slice(7, 5),
    pa.array([None] * 9 + [1, 0], pa.int64()).slice(8),
    pa.array([], pa.int8()),
])
def test_numbers_reads_arrow_buffers_like_to_numpy(array):
    got = tables._numbers(array)
    assert np.array_equal(got, array.to_numpy(zero_copy_only=False), equal_nan=True)


def test_counting_tables_does_not_import_pandas_or_torch(tmp_path):
    """pyarrow's to_numpy and Python scalars import pandas (0.4 s, 50 MB a process)."""
    _write_csv(tmp_path / "w.csv", np.eye(3, dtype=int))
    (tmp_path / "l.csv").write_text("id,tags\n1,a|b\n2,\n3,b\n")
    code = (f"import sys; from bceweights.api import count; count({str(tmp_path / 'w.csv')!r}); "
            f"count({str(tmp_path / 'l.csv')!r}, list_column='tags'); "
            "print(sorted(m for m in ('pandas', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
