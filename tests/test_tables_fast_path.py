"""The label-table kernels inside the CSV reader (issue 17.1): every chunk they read counts exactly as
Arrow's path counts it, every chunk they decline goes to Arrow, and errors name the same rows."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bceweights import count, fastscan
from bceweights.errors import InputError
from bceweights.policy import ValuePolicy
from bceweights.spec import InputSpec
from bceweights.tables import layout
from bceweights.tables import source as tables


def _outcome(path, spec: InputSpec, fast: bool, monkeypatch):
    monkeypatch.setattr(layout, "FAST_GIVE_UP", 3 if fast else 0)
    try:
        c = count(path, spec)
    except InputError as exc:
        return ("error", str(exc))
    return ("counts", c.to_dict(), c.classes)


@pytest.fixture
def kernel_calls(monkeypatch):
    """Every answer of the two kernels, as the reader calls them."""
    calls = {"wide": [], "lists": []}
    wide, lists = fastscan.scan_wide, fastscan.scan_lists

    def spy_wide(*args, **kwargs):
        out = wide(*args, **kwargs)
        calls["wide"].append(out is not None)
        return out

    def spy_lists(*args, **kwargs):
        out = lists(*args, **kwargs)
        calls["lists"].append(out is not None)
        return out

    monkeypatch.setattr(fastscan, "scan_wide", spy_wide)
    monkeypatch.setattr(fastscan, "scan_lists", spy_lists)
    return calls


def test_the_wide_kernel_reads_clean_chunks(tmp_path, monkeypatch, kernel_calls):
    rng = np.random.default_rng(0)
    y = (rng.random((5000, 6)) < np.geomspace(0.5, 0.01, 6)).astype(np.uint8)
    lines = ["id," + ",".join(f"k{j}" for j in range(6))] + [f"r{i}," + ",".join(map(str, r)) for i, r in enumerate(y)]
    (tmp_path / "l.csv").write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(tables, "BLOCK_SIZE", 1 << 12)
    c = count(tmp_path / "l.csv")
    assert c.classes == [f"k{j}" for j in range(6)]
    assert c.pos.tolist() == y.sum(axis=0).tolist() and c.samples == 5000
    assert c.cooccurrence.tolist() == (y.T.astype(np.int64) @ y).tolist()
    assert len(kernel_calls["wide"]) > 10 and all(kernel_calls["wide"])


def test_the_list_kernel_reads_chunks_after_the_first(tmp_path, monkeypatch, kernel_calls):
    rows = ["a|b", "", "b", "c|a|c", "b|b"] * 600
    (tmp_path / "l.csv").write_text("id,tags\n" + "\n".join(f"{i},{r}" for i, r in enumerate(rows)) + "\n")
    monkeypatch.setattr(tables, "BLOCK_SIZE", 1 << 11)
    c = count(tmp_path / "l.csv", list_column="tags")
    assert c.classes == ["a", "b", "c"]
    assert c.pos.tolist() == [1200.0, 1800.0, 600.0] and c.no_positive == 600
    assert c.cooccurrence.tolist() == [[1200, 600, 600], [600, 1800, 0], [600, 0, 600]]
    assert len(kernel_calls["lists"]) > 5 and all(kernel_calls["lists"])


def test_a_declining_kernel_is_not_asked_again(tmp_path, monkeypatch, kernel_calls):
    """Soft labels everywhere: after FAST_GIVE_UP declines in a row, Arrow reads the rest alone."""
    lines = ["A,B"] + ["0.5,1", "1,0.25"] * 3000
    (tmp_path / "l.csv").write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(tables, "BLOCK_SIZE", 1 << 10)
    c = count(tmp_path / "l.csv", columns=("A", "B"))
    assert c.pos.tolist() == [4500.0, 3750.0]
    assert kernel_calls["wide"] == [False] * layout.FAST_GIVE_UP


def test_where_is_read_by_arrow(tmp_path, kernel_calls):
    (tmp_path / "l.csv").write_text("split,A\ntrain,1\nval,1\ntrain,0\n")
    assert count(tmp_path / "l.csv", where=(("split", "train"),)).pos.tolist() == [1.0]
    assert kernel_calls["wide"] == []


WIDE_CELLS = ["0", "1", "0", "1", "0", "1", "-1", "", "0.5", "1.0", "2", "x", "NA", " 1"]
POLICIES = [ValuePolicy(), ValuePolicy(uncertain="positive", missing="ignore"), ValuePolicy(ignore_values=(-1.0,)),
            ValuePolicy(binarize=0.5), ValuePolicy(hard=True), ValuePolicy(uncertain="negative")]


@st.composite
def wide_table(draw):
    ncols = draw(st.integers(1, 5))
    nrows = draw(st.integers(1, 400))
    special = draw(st.floats(0, 0.02))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    grid = rng.choice(np.array(["0", "1"]), size=(nrows, ncols))
    odd = rng.random((nrows, ncols)) < special
    grid[odd] = rng.choice(np.array(WIDE_CELLS, dtype=object), size=int(odd.sum()))
    lead = draw(st.sampled_from(["", "id,"]))
    lines = [lead + ",".join(f"k{j}" for j in range(ncols))]
    lines += [(f"r{i}," if lead else "") + ",".join(row) for i, row in enumerate(grid)]
    end = draw(st.sampled_from(["\n", "\r\n"]))
    return (end.join(lines) + end).encode(), ncols


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=wide_table(), policy=st.sampled_from(POLICIES), block=st.sampled_from([1 << 7, 1 << 10, 1 << 22]),
       cooccurrence=st.booleans())
def test_wide_kernel_and_arrow_give_the_same_counts_and_errors(tmp_path_factory, monkeypatch, table, policy,
                                                               block, cooccurrence):
    data, ncols = table
    path = tmp_path_factory.mktemp("w") / "l.csv"
    path.write_bytes(data)
    monkeypatch.setattr(tables, "BLOCK_SIZE", block)
    spec = InputSpec(columns=tuple(f"k{j}" for j in range(ncols)), policy=policy, cooccurrence=cooccurrence)
    assert _outcome(path, spec, True, monkeypatch) == _outcome(path, spec, False, monkeypatch)


@st.composite
def list_table(draw):
    nrows = draw(st.integers(1, 300))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    vocab = np.array(["cat", "dog", "No Finding", "bird", "x y", "é", ""], dtype=object)
    sep = draw(st.sampled_from(["|", ";", " "]))
    cells = []
    for _ in range(nrows):
        k = int(rng.integers(0, 4))
        cells.append(sep.join(rng.choice(vocab, size=k)))
    if draw(st.booleans()):
        cells[int(rng.integers(0, nrows))] = draw(st.sampled_from(["NA", "  cat ", "3"]))
    lines = ["id,labels"] + [f"r{i},{c}" for i, c in enumerate(cells)]
    return ("\n".join(lines) + "\n").encode(), sep


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=list_table(), block=st.sampled_from([1 << 7, 1 << 10, 1 << 22]), exclude=st.booleans())
def test_list_kernel_and_arrow_give_the_same_counts_and_errors(tmp_path_factory, monkeypatch, table, block, exclude):
    data, sep = table
    path = tmp_path_factory.mktemp("l") / "l.csv"
    path.write_bytes(data)
    monkeypatch.setattr(tables, "BLOCK_SIZE", block)
    spec = InputSpec(list_column="labels", separator=sep, exclude_columns=("No Finding",) if exclude else ())
    assert _outcome(path, spec, True, monkeypatch) == _outcome(path, spec, False, monkeypatch)


def test_a_bad_value_past_clean_chunks_names_its_row(tmp_path, monkeypatch, kernel_calls):
    """The kernel reads the clean chunks, declines the one with the 2; Arrow's path then names its row."""
    lines = ["id,a,b"] + [f"r{i},{i % 2},0" for i in range(3000)]
    lines[2501] = "r2500,2,0"
    (tmp_path / "l.csv").write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(tables, "BLOCK_SIZE", 1 << 11)
    with pytest.raises(InputError, match=r"column 'a', row 2502: value 2 is not a label"):
        count(tmp_path / "l.csv", columns=("a", "b"))
    assert True in kernel_calls["wide"] and False in kernel_calls["wide"]


def test_per_sample_rows_and_ids_through_the_kernel(tmp_path, monkeypatch, kernel_calls):
    from bceweights import readers

    rng = np.random.default_rng(2)
    y = (rng.random((3000, 3)) < 0.3).astype(np.uint8)
    lines = ["path,a,b,c"] + [f"img{i}.png," + ",".join(map(str, r)) for i, r in enumerate(y)]
    (tmp_path / "l.csv").write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(tables, "BLOCK_SIZE", 1 << 12)
    batches = list(readers.get("csv").rows(tmp_path / "l.csv", InputSpec(columns=("a", "b", "c")), id_column="path"))
    rows = np.concatenate([b.rows for b in batches])
    labels = np.concatenate([np.asarray(b.labels) for b in batches])
    ids = [i for b in batches for i in b.ids]
    assert rows.tolist() == list(range(2, 3002))
    assert labels.tolist() == y.tolist()
    assert ids == [f"img{i}.png" for i in range(3000)]
    assert any(kernel_calls["wide"])


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".csv.bz2"])
def test_progress_adds_up_to_the_files_bytes(tmp_path, monkeypatch, suffix):
    import bz2
    import gzip

    rng = np.random.default_rng(4)
    y = (rng.random((20000, 4)) < 0.3).astype(np.uint8)
    text = ("\n\nid,a,b,c,d\n" + "".join(f"r{i}," + ",".join(map(str, r)) + "\n" for i, r in enumerate(y))).encode()
    data = {".csv": text, ".csv.gz": gzip.compress(text), ".csv.bz2": bz2.compress(text)}[suffix]
    path = tmp_path / f"l{suffix}"
    path.write_bytes(data)
    monkeypatch.setattr(tables, "BLOCK_SIZE", 1 << 14)

    class Sink:
        total, steps = 0.0, []

        def start(self, total, unit, description):
            self.total = total

        def advance(self, amount, **fields):
            self.steps.append(amount)

    sink = Sink()
    c = count(path, progress=sink)
    assert c.pos.tolist() == y.sum(axis=0).tolist()
    assert sink.total == len(data) and sum(sink.steps) == len(data)
    assert len(sink.steps) > 3 and min(sink.steps) >= 0

