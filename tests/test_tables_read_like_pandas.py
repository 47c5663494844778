"""Tables are read the way pandas reads them (issue 14): every file here is a valid CSV that
``pandas.read_csv`` reads, and bceweights must count what pandas counts, in the first chunk and past
it, through the label-table kernel and through Arrow."""

from __future__ import annotations

import gzip
import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bceweights import count
from bceweights.errors import InputError, UsageError
from bceweights.tables import layout
from bceweights.tables import source as tables


def pandas_counts(data: bytes, **kwargs) -> dict[str, tuple[float, float]]:
    """{class: (positives, negatives)} of every 0/1 column pandas reads (names stripped), a blank
    counted as a negative (bceweights' default)."""
    df = pd.read_csv(io.BytesIO(data), **kwargs)
    df.columns = [str(c).strip() for c in df.columns]
    out = {}
    for name in df.columns:
        column = df[name]
        if column.dtype.kind in "iuf" and column.dropna().isin([0, 1]).all():
            pos = float(column.fillna(0).sum())
            out[name] = (pos, float(len(df) - pos))
    return out


def ours(path, **options) -> dict[str, tuple[float, float]]:
    c = count(path, **options)
    return {name: (float(p), float(n)) for name, p, n in zip(c.classes, c.pos, c.neg)}


@pytest.fixture(params=["kernel", "arrow"])
def path_kind(request, monkeypatch):
    """Each case read with the label-table kernel on (the default) and off (Arrow reads every chunk)."""
    if request.param == "arrow":
        monkeypatch.setattr(layout, "FAST_GIVE_UP", 0)
    return request.param


def rows_text(n: int, seed: int = 0, sep: str = ",") -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random((n, 3)) < [0.5, 0.2, 0.05]).astype(int)
    return [sep.join(map(str, r)) for r in y], y


CASES = {
    "a byte-order mark": b"\xef\xbb\xbfA,B,C\n1,0,1\n0,1,1\n1,1,0\n",
    "spaces after the header's separators": b"A, B, C\n1, 0, 1\n0 ,1,1\n1,1 , 0\n",
    "CR line ends": b"A,B,C\r1,0,1\r0,1,1\r1,1,0\r",
    "a blank first line": b"\nA,B,C\n1,0,1\n0,1,1\n",
    "blank lines, lines of spaces and CRLF before the header": b"\r\n  \r\n\t\r\nA,B,C\r\n1,0,1\r\n0,1,1\r\n",
    "lines of spaces between rows": b"A,B,C\n1,0,1\n   \n0,1,1\n \t \n1,1,0\n",
    "a quoted newline": b'id,A,B,C\n"x\ny",1,0,1\n"z\r\nw",0,1,1\n"q\rr",1,1,0\n',
    "a quoted CR in the header": b'"A\rX",B,C\n1,0,1\n0,1,1\n',
    "a CR before the header's CRLF": b"A,B,C\r\r\n1,0,1\r\n0,1,1\r\n",
    "a quoted header over two lines": b'"first\nlabel",B,C\n1,0,1\n0,1,1\n',
    "doubled quotes and quoted separators": b'id,A,B,C\n"a ""b"", c",1,0,1\n"",0,1,1\n',
    "a 200 KB field": b"id,A,B,C\n" + b"x" * 200_000 + b",1,0,1\ny,0,1,1\n",
    "no final line end": b"A,B,C\n1,0,1\n0,1,1",
    "CRLF": b"A,B,C\r\n1,0,1\r\n0,1,1\r\n",
    "mixed line ends": b"A,B,C\r\n1,0,1\n0,1,1\r1,1,0\r\n",
    "quoted labels": b'A,B,C\n"1","0",1\n0,"1","1"\n',
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_valid_csvs_count_as_pandas_reads_them(tmp_path, path_kind, case):
    data = CASES[case]
    (tmp_path / "l.csv").write_bytes(data)
    want = pandas_counts(data)
    assert len(want) == 3  # the three label columns; an id column is text
    assert ours(tmp_path / "l.csv") == want


@pytest.mark.parametrize("where", ["first chunk", "later chunk"])
@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_quoted_line_ends_anywhere(tmp_path, monkeypatch, path_kind, where, ending):
    """Chunks are cut at record ends outside quotes: a quoted line end past the first chunk (which
    used to be cut at any LF) keeps its row whole."""
    lines, y = rows_text(4000, seed=3)
    at = 5 if where == "first chunk" else 3500
    # From row ``at`` on, every id holds a line end: some read ends inside one of them.
    text = ["id,A,B,C"] + [f'"r{i}{ending}x",{r}' if i >= at else f"r{i},{r}" for i, r in enumerate(lines)]
    data = ending.join(text).encode() + ending.encode()
    (tmp_path / "l.csv").write_bytes(data)
    monkeypatch.setattr(tables, "BLOCK_SIZE", 1 << 11)
    c = count(tmp_path / "l.csv", columns=("A", "B", "C"))
    assert c.samples == 4000
    assert c.pos.tolist() == y.sum(axis=0).tolist()
    assert ours(tmp_path / "l.csv", columns=("A", "B", "C")) == pandas_counts(data)


def test_a_quote_inside_a_field_is_read_by_arrows_streaming_reader(tmp_path, monkeypatch, path_kind):
    """``ab"c`` (a quote that neither opens nor closes a field) makes quote parity unsafe: the rest of
    the file goes to Arrow's own reader, which reads it as pandas does."""
    lines, y = rows_text(3000, seed=4)
    text = ["id,A,B,C"] + [f'r"{i},{r}' if i == 2000 else f'"r{i}\n",{r}' if i == 2500 else f"r{i},{r}"
                           for i, r in enumerate(lines)]
    data = ("\n".join(text) + "\n").encode()
    (tmp_path / "l.csv").write_bytes(data)
    monkeypatch.setattr(tables, "BLOCK_SIZE", 1 << 12)
    c = count(tmp_path / "l.csv", columns=("A", "B", "C"))
    assert c.samples == 3000 and c.pos.tolist() == y.sum(axis=0).tolist()
    assert ours(tmp_path / "l.csv", columns=("A", "B", "C")) == pandas_counts(data)


def test_row_numbers_count_the_lines_before_the_header(tmp_path, path_kind):
    (tmp_path / "l.csv").write_bytes(b"\n\n  \nA,B\n1,0\n0,2\n")
    with pytest.raises(InputError, match=r"column 'B', row 6: value 2 is not a label"):
        count(tmp_path / "l.csv", columns=("A", "B"))


def test_a_one_column_table_skips_lines_of_spaces(tmp_path, path_kind):
    data = b"A\n1\n  \n0\n\t\n1\n"
    (tmp_path / "l.csv").write_bytes(data)
    assert ours(tmp_path / "l.csv") == pandas_counts(data) == {"A": (2.0, 1.0)}


def test_crlf_cut_between_reads(tmp_path, monkeypatch, path_kind):
    """A read that ends between the CR and the LF of a line end must not make an empty line or a bare
    CR: the chunk is cut before the CR and the line end stays whole."""
    lines, y = rows_text(3000, seed=5)
    data = ("A,B,C\r\n" + "\r\n".join(lines) + "\r\n").encode()
    (tmp_path / "l.csv").write_bytes(data)
    for block in (1 << 10, (1 << 10) + 1, 1337):
        monkeypatch.setattr(tables, "BLOCK_SIZE", block)
        c = count(tmp_path / "l.csv")
        assert c.samples == 3000 and c.pos.tolist() == y.sum(axis=0).tolist()


@st.composite
def odd_but_valid_csv(draw):
    """A valid CSV of 0/1 labels with an id column, in any of the forms pandas reads."""
    n = draw(st.integers(1, 60))
    seed = draw(st.integers(0, 2**16))
    lines, _ = rows_text(n, seed)
    end = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    ids = []
    for i in range(n):
        kind = draw(st.sampled_from(["plain", "plain", "plain", "quoted", "newline", "doubled", "comma"]))
        ids.append({"plain": f"r{i}", "quoted": f'"r{i}"', "newline": f'"r{i}{end}z"',
                    "doubled": f'"r""{i}"""', "comma": f'"r,{i}"'}[kind])
    header = draw(st.sampled_from(["id,A,B,C", "id, A, B, C", '"id","A","B","C"', "id,A ,B,C"]))
    body = [f"{i},{r}" for i, r in zip(ids, lines)]
    for _ in range(draw(st.integers(0, 3))):
        body.insert(draw(st.integers(0, len(body))), draw(st.sampled_from(["", "  ", "\t", " \t "])))
    preamble = draw(st.sampled_from(["", end, end + "  " + end]))
    bom = draw(st.sampled_from(["", "\ufeff"]))
    final = draw(st.sampled_from([end, ""]))
    text = bom + preamble + end.join([header] + body) + final
    return text.encode()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=odd_but_valid_csv(), block=st.sampled_from([1 << 6, 1 << 8, 1 << 22]),
       compress=st.booleans(), fast=st.booleans())
def test_odd_but_valid_csvs_count_as_pandas(tmp_path_factory, monkeypatch, data, block, compress, fast):
    path = tmp_path_factory.mktemp("odd") / ("l.csv.gz" if compress else "l.csv")
    path.write_bytes(gzip.compress(data) if compress else data)
    monkeypatch.setattr(tables, "BLOCK_SIZE", block)
    monkeypatch.setattr(layout, "FAST_GIVE_UP", 3 if fast else 0)
    want = pandas_counts(data)
    got = ours(path, columns=("A", "B", "C"))
    assert got == {k: want[k] for k in ("A", "B", "C")}


# ------------------------------------------------------------------------------- detection, usage


def test_detection_takes_only_integer_label_columns_and_names_the_others(tmp_path):
    (tmp_path / "l.csv").write_text("id,f1,f2,A,B\n1,0.5,0.25,1,0\n2,0.1,0.9,0,-1\n3,0.0,1.0,1,\n")
    c = count(tmp_path / "l.csv")
    assert c.classes == ["A", "B"]
    assert c.pos.tolist() == [2.0, 0.0]
    assert any("label columns detected: A, B" in n and "skipped 3" in n and "id, f1, f2" in n for n in c.notes)


def test_a_float_column_with_integer_values_is_a_label_column(tmp_path):
    """CheXpert writes labels as 1.0 / 0.0 / -1.0: integer-valued floats are labels."""
    (tmp_path / "l.csv").write_text("A,B\n1.0,0.0\n0.0,-1.0\n1.0,\n")
    c = count(tmp_path / "l.csv")
    assert c.classes == ["A", "B"] and c.pos.tolist() == [2.0, 0.0] and c.uncertain.tolist() == [0.0, 1.0]


def test_a_fraction_later_in_a_detected_column_is_an_error(tmp_path, monkeypatch):
    """Columns are detected from the first rows; a fraction further on is not counted as a soft label
    (a feature column taken for labels would be silently wrong): it names --columns."""
    monkeypatch.setattr(tables, "SAMPLE_BYTES", 1 << 8)
    monkeypatch.setattr(tables, "BLOCK_SIZE", 1 << 9)
    lines = ["A,B"] + ["1,0"] * 500 + ["0.25,1"] + ["0,1"] * 10
    (tmp_path / "l.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"column 'A', row 502: value 0.25 in a column detected as 0/1 "
                                         r"labels.*--columns"):
        count(tmp_path / "l.csv")
    c = count(tmp_path / "l.csv", columns=("A", "B"))
    assert c.pos.tolist() == [500.25, 11.0] and c.soft.tolist() == [1.0, 0.0]


@pytest.mark.realdata
@pytest.mark.parametrize("name,labels", [("scene-train.arff", 6), ("yeast-train.arff", 14)])
def test_real_mulan_without_header_detects_only_the_labels(shared_data, name, labels):
    """MULAN scene as a header-less CSV: 294 float features in [0, 1] and 6 labels, once read as 300
    classes."""
    path = shared_data / "mulan_yeast_scene" / name
    c = count(path, format="csv", no_header=True)
    df = pd.read_csv(path, header=None)
    assert len(c.classes) == labels
    assert c.pos.tolist() == df.iloc[:, -labels:].sum().astype(float).tolist()
    assert c.samples == len(df)


@pytest.mark.parametrize("args", [
    ["--delimiter", "::"],
    ["--delimiter", '"'],
    ["--columns", "A", "--exclude-columns", "A"],
    ["--columns", "A,B", "--exclude-columns", "C,B"],
])
def test_usage_mistakes_exit_2_with_one_line(cli, tmp_path, args):
    (tmp_path / "l.csv").write_text("A,B,C\n1,0,1\n")
    result = cli("compute", tmp_path / "l.csv", "-o", tmp_path / "w.pt", *args)
    assert result.exit_code == 2
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert ("--delimiter" in lines[0]) if args[0] == "--delimiter" else ("'" + args[-1].split(",")[-1]) in lines[0]
    assert not (tmp_path / "w.pt").exists()


def test_usage_mistakes_in_the_library_raise_usage_error(tmp_path):
    (tmp_path / "l.csv").write_text("A,B\n1,0\n")
    with pytest.raises(UsageError, match="delimiter='::'"):
        count(tmp_path / "l.csv", delimiter="::")
    with pytest.raises(UsageError, match="both name 'A'"):
        count(tmp_path / "l.csv", columns=("A",), exclude_columns=("A",))


# ------------------------------------------------------------------------------------------- gzip


def _big_gzip(tmp_path, rows: int = 20000):
    lines, y = rows_text(rows, seed=9)
    data = gzip.compress(("A,B,C\n" + "\n".join(lines) + "\n").encode(), mtime=0)
    return data, y


def test_gzip_counts_through_the_crc_checked_inflater(tmp_path, monkeypatch):
    from bceweights import inflate

    data, y = _big_gzip(tmp_path)
    (tmp_path / "l.csv.gz").write_bytes(data)
    opened = []
    real = inflate.open_gzip
    monkeypatch.setattr(inflate, "open_gzip", lambda path, **kw: opened.append(path) or real(path, **kw))
    c = count(tmp_path / "l.csv.gz")
    assert c.pos.tolist() == y.sum(axis=0).tolist() and c.samples == len(y)
    assert opened  # the head and the rows both come through bceweights.inflate


@pytest.mark.parametrize("where", ["crc", "length", "data"])
def test_a_corrupt_gzip_byte_is_one_error_never_a_count(cli, tmp_path, where):
    data, _ = _big_gzip(tmp_path)
    data = bytearray(data)
    at = {"crc": len(data) - 6, "length": len(data) - 2, "data": len(data) * 2 // 3}[where]
    data[at] ^= 0x10
    (tmp_path / "bad.csv.gz").write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"bad\.csv\.gz: the gzip data is (corrupt|truncated)"):
        count(tmp_path / "bad.csv.gz")
    result = cli("compute", tmp_path / "bad.csv.gz", "-o", tmp_path / "w.pt")
    assert result.exit_code == 1 and not (tmp_path / "w.pt").exists()
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "bad.csv.gz" in lines[0] and "Traceback" not in result.stderr
