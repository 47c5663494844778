"""The label-table kernels against Arrow: whenever a kernel answers, its answer is what the reader's
Arrow path reads from the same bytes; where Arrow would fail or read otherwise, the kernel says None."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bceweights import fastscan
from bceweights.fastscan import BLANK, scan_lists, scan_wide

NULL_VALUES = list(fastscan.NULL_VALUES)
DELIMITERS = [",", "\t", ";", "|", " "]


@pytest.fixture
def tiny_parts(monkeypatch):
    """Parts of a few bytes, so that small inputs go through the cutting and the thread pool."""
    monkeypatch.setattr(fastscan, "PART_BYTES", 7)
    monkeypatch.setattr(fastscan, "MIN_PART_BYTES", 5)


def test_null_values_are_the_readers():
    from bceweights.tables.source import NULL_VALUES as reader_nulls

    assert list(fastscan.NULL_VALUES) == list(reader_nulls)


# ------------------------------------------------------------------------------------------ reference


def arrow_read(data: bytes, delimiter: str, num_fields: int, columns: list[int], kind: pa.DataType):
    """The reader's parse of a chunk (tables._parse_chunk's options), or the exception it raises."""
    names = [f"f{i}" for i in range(num_fields)]
    wanted = [names[i] for i in columns]
    read = pacsv.ReadOptions(column_names=names, block_size=max(len(data) + 1, 1 << 10), use_threads=False)
    parse = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=False)
    convert = pacsv.ConvertOptions(include_columns=wanted, column_types={c: kind for c in wanted},
                                   null_values=NULL_VALUES, strings_can_be_null=True,
                                   quoted_strings_can_be_null=True)
    try:
        table = pacsv.read_csv(pa.py_buffer(data), read_options=read, parse_options=parse, convert_options=convert)
    except pa.ArrowInvalid as exc:
        return exc
    return [table.column(c).combine_chunks() for c in wanted]


def arrow_wide(data: bytes, delimiter: str, num_fields: int, fields: list[int]):
    got = arrow_read(data, delimiter, num_fields, fields, pa.float64())
    if isinstance(got, Exception):
        return got
    return np.stack([c.to_numpy(zero_copy_only=False) for c in got], axis=1).reshape(-1, len(fields))


def arrow_lists(data: bytes, delimiter: str, num_fields: int, field: int, separator: str):
    """(row of each label, each label) as tables._list_batches reads them: split, trim, blanks out."""
    got = arrow_read(data, delimiter, num_fields, [field], pa.string())
    if isinstance(got, Exception):
        return got
    text = got[0]
    lists = pc.split_pattern(text, separator)
    parents = pc.list_parent_indices(lists).to_numpy()
    labels = pc.utf8_trim_whitespace(pc.list_flatten(lists))
    present = pc.and_kleene(pc.is_valid(labels), pc.cast(pc.utf8_length(labels), pa.bool_()))
    keep = present.to_numpy(zero_copy_only=False)
    return len(text), parents[keep], labels.filter(present).to_pylist()


def check_wide(data: bytes, delimiter: str, num_fields: int, fields: list[int], *, uncertain: bool,
               blank: bool, threads: int = 1) -> np.ndarray | None:
    block = scan_wide(data, delimiter=delimiter.encode(), num_fields=num_fields, label_fields=fields,
                      allow_uncertain=uncertain, allow_blank=blank, threads=threads)
    if block is None:
        return None
    want = arrow_wide(data, delimiter, num_fields, fields)
    assert not isinstance(want, Exception), f"the kernel answered where Arrow fails: {want}"
    assert block.dtype == np.int8 and block.shape == want.shape
    got = np.where(block == BLANK, np.nan, block.astype(np.float64))
    np.testing.assert_array_equal(got, want)
    allowed = {0, 1} | ({-1} if uncertain else set()) | ({BLANK} if blank else set())
    assert set(np.unique(block).tolist()) <= allowed
    return block


def check_lists(data: bytes, delimiter: str, num_fields: int, field: int, separator: str, threads: int = 1):
    got = scan_lists(data, delimiter=delimiter.encode(), num_fields=num_fields, list_field=field,
                     separator=separator.encode(), threads=threads)
    if got is None:
        return None
    want = arrow_lists(data, delimiter, num_fields, field, separator)
    assert not isinstance(want, Exception), f"the kernel answered where Arrow fails: {want}"
    rows, parents, labels = want
    assert got.num_rows == rows
    assert got.rows.tolist() == parents.tolist()
    assert [got.names[c] for c in got.codes] == labels
    assert got.names == list(dict.fromkeys(labels))  # first-seen order
    return got


# ----------------------------------------------------------------------------------- generated tables

ODD_CELLS = ["2", "1.0", " 1", "0 ", " ", "NA", "nan", "+1", "01", '"1"', "-0", "x", "1\r", "0\r0", "--1", "0-1"]
ID_ALPHABET = "abcXYZ0189_./-é "
ODD_BYTES = '"\r,\t;| '


@st.composite
def wide_tables(draw):
    """Tables that are mostly readable: 0/1 labels, or 0/1/-1/blank ("policy"), or a few odd cells and
    odd bytes ("dirty"); CRLF on all, some or no lines; empty lines; the last line's end dropped."""
    delimiter = draw(st.sampled_from(DELIMITERS))
    num_fields = draw(st.integers(1, 7))
    fields = draw(st.lists(st.integers(0, num_fields - 1), min_size=1, max_size=num_fields, unique=True))
    mode = draw(st.sampled_from(["clean", "policy", "dirty"]))
    values = ["0", "1"] + (["-1", ""] if mode == "policy" else [])
    rare = draw(st.integers(2, 200))  # one cell in about this many is odd (dirty tables)

    def label():
        if mode == "dirty" and draw(st.integers(0, rare)) == 0:
            return draw(st.sampled_from(ODD_CELLS + ["-1", ""]))
        return draw(st.sampled_from(values))

    def text():
        alphabet = ID_ALPHABET.replace(delimiter, "")
        if mode == "dirty" and draw(st.integers(0, rare)) == 0:
            alphabet += ODD_BYTES
        return draw(st.text(alphabet, max_size=draw(st.sampled_from([0, 3, 12]))))

    crlf = draw(st.sampled_from(["no", "all", "mixed"]))
    lines = []
    for i in range(draw(st.integers(1, 25))):
        cells = [label() if j in fields else text() for j in range(num_fields)]
        if mode == "dirty" and draw(st.integers(0, rare)) == 0:  # a ragged row
            cells = cells[:-1] if len(cells) > 1 and draw(st.booleans()) else cells + ["0"]
        end = "\r\n" if crlf == "all" or (crlf == "mixed" and i % 2) else "\n"
        lines.append(delimiter.join(cells) + end)
        if draw(st.integers(0, 12)) == 0:
            lines.append(draw(st.sampled_from(["\n", "\r\n"])))  # an empty line
    text = "".join(lines)
    if text and draw(st.booleans()):
        text = text.rstrip("\r\n") if draw(st.booleans()) else text.rstrip("\n")  # last line without end
    return text.encode("utf-8"), delimiter, num_fields, sorted(fields) if draw(st.booleans()) else fields


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=wide_tables(), uncertain=st.booleans(), blank=st.booleans())
def test_scan_wide_reads_what_arrow_reads(table, uncertain, blank):
    data, delimiter, num_fields, fields = table
    check_wide(data, delimiter, num_fields, fields, uncertain=uncertain, blank=blank)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(table=wide_tables(), uncertain=st.booleans(), blank=st.booleans(), threads=st.sampled_from([1, 2, 3]))
def test_scan_wide_in_parts_and_threads(tiny_parts, table, uncertain, blank, threads):
    data, delimiter, num_fields, fields = table
    block = check_wide(data, delimiter, num_fields, fields, uncertain=uncertain, blank=blank, threads=threads)
    whole = scan_wide(data, delimiter=delimiter.encode(), num_fields=num_fields, label_fields=fields,
                      allow_uncertain=uncertain, allow_blank=blank)
    assert (block is None) == (whole is None) or block is None or whole is None
    if block is not None and whole is not None:
        np.testing.assert_array_equal(block, whole)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.tuples(st.text("abc012_", max_size=9), st.lists(st.sampled_from("01"), min_size=3,
                                                                        max_size=3)), min_size=1, max_size=40),
       delimiter=st.sampled_from(DELIMITERS))
def test_scan_wide_answers_on_simple_tables(rows, delimiter):
    """An id column and 0/1 labels: the kernel must answer (a fallback here would be a lost speed-up)."""
    data = "".join(delimiter.join([name, *bits]) + "\n" for name, bits in rows).encode()
    block = check_wide(data, delimiter, 4, [1, 2, 3], uncertain=False, blank=False)
    assert block is not None
    assert block.tolist() == [[int(b) for b in bits] for _, bits in rows]


# ------------------------------------------------------------------------------------ targeted cases


def wide(data: bytes, fields=(1, 2), num_fields=3, **kw):
    return scan_wide(data, delimiter=kw.pop("delimiter", b","), num_fields=num_fields, label_fields=list(fields),
                     **kw)


@pytest.mark.parametrize("data, why", [
    (b'a,1,0\n"b",0,1\n', "a quote"),
    (b'a,1,0\nb,"0",1\n', "a quoted label"),
    (b"a,1,0\rb,0,1\n", "a bare CR ends a line for Arrow"),
    (b"a,1,0\nb,0,1\r", "a CR at the very end"),
    (b"a,1,0\nb,0\n", "a short row"),
    (b"a,1,0\nb,0,1,1\n", "a long row"),
    (b"a,1,0\nb,0,1,\n", "a trailing delimiter"),
    (b"a,1,0\nb,2,1\n", "a 2"),
    (b"a,1,0\nb,1.0,1\n", "a float"),
    (b"a,1,0\nb, 1,1\n", "a space before the value (Arrow reads 1)"),
    (b"a,1,0\nb,NA,1\n", "a null value other than blank"),
    (b"a,1,0\nb,-1,1\n", "-1 without allow_uncertain"),
    (b"a,1,0\nb,,1\n", "a blank without allow_blank"),
    (b"a,1,0\nb,01,1\n", "a zero-padded value"),
    (b"a,1,0\nb,+1,1\n", "a plus sign"),
    (b"a,1,0\nb,-0,1\n", "minus zero"),
    (b"a,1,0\nb,--,1\n", "two dashes"),
    (b"a,1,0\nb,-,1\n", "a dash"),
    (b"a,1,0\nb,1-,1\n", "a trailing dash"),
    (b"a,1,0\nb,--1,1\n", "-1 after a dash"),
    (b"a,1,0\nb,0-1,1\n", "-1 after a digit"),
    (b"a,1,0\nb,1,+-1\n", "-1 after a plus, last field"),
    (b"a,1,0\nb, ,1\n", "a space"),
    (b"a,1,0\nb,1, \n", "a space, last field"),
    (b",1,0\n,0,\n,-1,x\n", "empty ids: fine, but the value 'x'"),
    (b"1,0\n", "a first line shorter than its fields"),
    (b"a,b,1\n", "a label field that is text"),
])
def test_scan_wide_falls_back(data, why):
    assert wide(data) is None, why
    assert wide(data, threads=2) is None, why
    if "without allow" not in why:
        assert wide(data, allow_uncertain=True, allow_blank=True) is None, why


@pytest.mark.parametrize("fields", [(1, 2), (1,), (2,), (0, 1), (1, 3)])
def test_scan_wide_falls_back_on_ragged_rows_that_balance(fields):
    """One row a field short and one a field long: the chunk's delimiter count is right, the rows not."""
    data = b"a,1,0,x\nb,1,0,x,y\nc,1,0\nd,0,1,z\n"
    assert isinstance(arrow_wide(data, ",", 4, list(fields)), Exception)
    assert wide(data, fields=fields, num_fields=4) is None
    assert wide(data, fields=fields, num_fields=4, allow_uncertain=True, allow_blank=True) is None
    assert lists(data, num_fields=4, field=fields[-1]) is None


def test_scan_wide_falls_back_on_unsupported_delimiters():
    for delimiter in (b"0", b"1", b"-", b'"', b"\n", b"\r", b",,", b""):
        assert wide(b"a,1,0\n", delimiter=delimiter) is None


def test_scan_wide_reads_uncertain_and_blank():
    data = b"a,-1,1\nbb,,0\r\nccc,1,\n\n"
    block = check_wide(data, ",", 3, [1, 2], uncertain=True, blank=True)
    assert block.tolist() == [[-1, 1], [BLANK, 0], [1, BLANK]]
    # Empty ids on the first lines: the field-by-field read looks before the chunk's first byte.
    block = check_wide(b",,1\n,1,\n,-1,-1\n", ",", 3, [1, 2], uncertain=True, blank=True)
    assert block.tolist() == [[BLANK, 1], [1, BLANK], [-1, -1]]
    assert wide(data, allow_uncertain=True) is None  # blanks not allowed
    assert wide(data, allow_blank=True) is None  # -1 not allowed


def test_scan_wide_layouts():
    # Labels first, in the middle, out of order, the whole line, a one-byte text field in the run.
    assert check_wide(b"1,0,x\n0,1,yy\n", ",", 3, [1, 0], uncertain=False, blank=False).tolist() == [[0, 1], [1, 0]]
    assert check_wide(b"x,1,y,0\nxx,0,yy,1\n", ",", 4, [3, 1], uncertain=False, blank=False).tolist() == [
        [0, 1], [1, 0]]
    assert check_wide(b"1;0;1\n0;0;0\n", ";", 3, [0, 1, 2], uncertain=False, blank=False).tolist() == [
        [1, 0, 1], [0, 0, 0]]
    assert check_wide(b"id,1,x,0\nid,0,y,1\n", ",", 4, [1, 3], uncertain=False, blank=False).tolist() == [
        [1, 0], [0, 1]]
    assert check_wide(b"id,1,xy,0\nid,0,y,1\n", ",", 4, [1, 3], uncertain=False, blank=False).tolist() == [
        [1, 0], [0, 1]]
    assert check_wide(b"a,b,1,0\nc,d,0,1\n", ",", 4, [2, 3], uncertain=False, blank=False).tolist() == [
        [1, 0], [0, 1]]
    # Two text fields before the labels where one row moves a delimiter: the per-line count catches it.
    assert wide(b"a,b,1,0\nc,,d1,0\n", fields=(2, 3), num_fields=4) is None
    assert wide(b"a,b,1,0\n,cd,0,1\n", fields=(2, 3), num_fields=4).tolist() == [[1, 0], [0, 1]]


def test_scan_wide_line_ends_and_empty_lines():
    data = b"\n\r\na,1,0\r\n\nb,0,1\n\r\nc,1,1"
    assert check_wide(data, ",", 3, [1, 2], uncertain=False, blank=False).tolist() == [[1, 0], [0, 1], [1, 1]]
    assert wide(b"") is None  # Arrow: "Empty CSV file"
    assert wide(b"\n\n\r\n").shape == (0, 2)


def test_scan_wide_single_field():
    assert check_wide(b"1\n0\n\n1", ",", 1, [0], uncertain=False, blank=False).tolist() == [[1], [0], [1]]
    assert wide(b"1\n-1\n", fields=(0,), num_fields=1, allow_uncertain=True).tolist() == [[1], [-1]]


def test_scan_wide_accepts_any_buffer():
    data = b"a,1,0\nb,0,1\n"
    for buffer in (bytearray(data), memoryview(data), pa.py_buffer(data), np.frombuffer(data, np.uint8)):
        assert wide(buffer).tolist() == [[1, 0], [0, 1]]
    assert wide(bytearray(b'a,1,0\n"b",0,1\n')) is None
    assert wide(memoryview(b"a,1,0\rb,0,1\n")) is None


def test_scan_wide_rejects_bad_field_indices():
    with pytest.raises(ValueError):
        wide(b"a,1,0\n", fields=(1, 3))
    with pytest.raises(ValueError):
        wide(b"a,1,0\n", fields=(1, 1))
    with pytest.raises(ValueError):
        wide(b"a,1,0\n", fields=())


def test_scan_wide_threads_on_a_big_chunk():
    rng = np.random.default_rng(5)
    bits = rng.integers(0, 2, (60_000, 20))
    ids = rng.integers(0, 10**rng.integers(1, 9, 60_000))
    data = "".join(f"img{i}.png," + ",".join(map(str, row)) + "\n" for i, row in zip(ids, bits.tolist())).encode()
    assert len(data) > 2 * fastscan.MIN_PART_BYTES
    for threads in (1, 2, 4):
        block = wide(data, fields=range(1, 21), num_fields=21, threads=threads)
        np.testing.assert_array_equal(block, bits)
    # A bad value near the end of the second half: the whole chunk falls back.
    bad = data[:-3] + b"2\n"
    assert wide(bad, fields=range(1, 21), num_fields=21, threads=2) is None


# ----------------------------------------------------------------------------------------- label lists

TOKENS = ["cat", "dog", "class_03", "a", "bb", "No Finding", "Fracture", "x" * 20, "é", "naïve", "ß"]
ODD_TOKENS = ["", " cat", "dog ", "\tbb", "NA", "None", "nan", '"q"', "\u00a0sp", "\u3000", "a\rb", "\x00"]


@st.composite
def list_tables(draw):
    delimiter = draw(st.sampled_from(DELIMITERS))
    separator = draw(st.sampled_from([s for s in ["|", ";", " ", ","] if s != delimiter]))
    num_fields = draw(st.integers(1, 4))
    field = draw(st.integers(0, num_fields - 1))
    clean = draw(st.booleans())
    token = st.sampled_from(TOKENS if clean else TOKENS + ODD_TOKENS)
    cell = st.lists(token, max_size=4).map(lambda ts: separator.join(t.replace(separator, "") for t in ts))
    other = st.text("abc019_./-" + ("" if clean else separator + '"'), max_size=8).map(
        lambda s: s.replace(delimiter, ""))
    rows = draw(st.lists(st.tuples(*[cell if i == field else other for i in range(num_fields)]), max_size=25))
    end = draw(st.sampled_from(["\n", "\r\n"]))
    lines = []
    for row in rows:
        cells = [c.replace(delimiter, "") for c in row]
        if not clean and draw(st.integers(0, 30)) == 0:
            cells = cells + ["x"]
        lines.append(delimiter.join(cells) + end)
        if draw(st.integers(0, 12)) == 0:
            lines.append("\n")
    text = "".join(lines)
    if text and draw(st.booleans()):
        text = text.rstrip("\r\n")
    return text.encode("utf-8"), delimiter, num_fields, field, separator


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=list_tables())
def test_scan_lists_reads_what_arrow_reads(table):
    check_lists(*table)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(table=list_tables(), threads=st.sampled_from([1, 2, 3]))
def test_scan_lists_in_parts_and_threads(tiny_parts, table, threads):
    check_lists(*table, threads=threads)


def lists(data: bytes, separator=b"|", num_fields=2, field=1, **kw):
    return scan_lists(data, delimiter=kw.pop("delimiter", b","), num_fields=num_fields, list_field=field,
                      separator=separator, **kw)


def test_scan_lists_answers_and_orders_classes():
    got = check_lists(b"0,b|a\n1,\n2,a| c |a\n\n3,d", ",", 2, 1, "|")
    assert got.names == ["b", "a", "c", "d"]
    assert got.rows.tolist() == [0, 0, 2, 2, 2, 3]
    assert got.codes.tolist() == [0, 1, 1, 2, 1, 3]  # a repeated label stays: the caller counts it once
    assert got.num_rows == 4
    planet = check_lists(b"train_0,haze primary\ntrain_1,agriculture clear  primary water\n", ",", 2, 1, " ")
    assert planet.names == ["haze", "primary", "agriculture", "clear", "water"]
    # The list column in the middle, separators also in another column.
    assert check_lists(b"a|b,x|y,1\nc,z,2\n", ",", 3, 1, "|").names == ["x", "y", "z"]
    # Long labels (hashed over several words) with shared prefixes.
    long = [f"{'finding_' * 3}{i}" for i in range(40)]
    data = "".join(f"{i},{long[i % 40]}|{long[(3 * i) % 40]}\n" for i in range(300)).encode()
    assert check_lists(data, ",", 2, 1, "|").names[:3] == [long[0], long[1], long[3]]


@pytest.mark.parametrize("data, why", [
    (b'0,a|b\n1,"c"\n', "a quote"),
    (b"0,a|b\r1,c\n", "a bare CR"),
    (b"0,a|b\n1,NA\n", "a null cell (Arrow: no labels)"),
    (b"0,a|b\n1,N/A\n", "a null cell that would split on /"),
    (b"0,a|b\n1,c,d\n", "a ragged row"),
    (b"0,a|b\n1,c\x00\n", "a NUL byte"),
    (b"0,a|\xff\n", "bytes that are not UTF-8"),
    (b"0,a|\xc2\xa0b\n", "a label starting with a non-ASCII space"),
    (b"0,a|b\xe3\x80\x80\n", "a label ending with a non-ASCII space"),
    (b"0,a|" + b" " * 40 + b"b\n", "a long run of blanks"),
])
def test_scan_lists_falls_back(data, why):
    assert lists(data) is None, why


def test_scan_lists_unsupported_separators():
    assert lists(b"0,a|b\n", separator=b",") is None
    assert lists(b"0,a|b\n", separator=b"||") is None
    assert lists(b"0,a|b\n", separator=b'"') is None
    with pytest.raises(ValueError):
        lists(b"0,a\n", field=2)


def test_scan_lists_non_ascii_inside_labels():
    got = check_lists("0,café|naïve\n1,ß\n".encode(), ",", 2, 1, "|")
    assert got.names == ["café", "naïve", "ß"]


def test_scan_lists_big_chunk_threads():
    rng = np.random.default_rng(9)
    names = [f"class_{i:02d}" for i in range(30)]
    rows = [[names[j] for j in rng.choice(30, rng.integers(0, 4), replace=False)] for _ in range(150_000)]
    data = "".join(f"{i},{'|'.join(r)}\n" for i, r in enumerate(rows)).encode()
    assert len(data) > 2 * fastscan.MIN_PART_BYTES
    want = [(i, t) for i, r in enumerate(rows) for t in r]
    for threads in (1, 2):
        got = lists(data, threads=threads)
        assert list(zip(got.rows.tolist(), [got.names[c] for c in got.codes])) == want
        assert got.num_rows == len(rows)


# ---------------------------------------------------------------------------------------------- real data


@pytest.mark.realdata
@pytest.mark.parametrize("split", ["train_list.txt", "val_list.txt"])
def test_real_chestxray14_space_separated(shared_data, split):
    data = (shared_data / "chexnet_cxr14_multihot" / split).read_bytes()
    block = check_wide(data, " ", 15, list(range(1, 15)), uncertain=False, blank=False, threads=2)
    assert block is not None and len(block) == len(data.splitlines())  # val_list.txt: no final newline


@pytest.mark.realdata
def test_real_planet_tags(shared_data):
    data = (shared_data / "planet_amazon" / "train_v2.csv").read_bytes().split(b"\n", 1)[1]
    got = check_lists(data, ",", 2, 1, " ", threads=2)
    assert got is not None and got.num_rows == 40_479 and len(got.names) == 17


@pytest.mark.realdata
def test_real_nih_finding_labels_in_the_middle(shared_data):
    data = (shared_data / "nih_cxr14_capstone" / "Data_Entry_2017.csv").read_bytes().split(b"\n", 1)[1]
    got = check_lists(data, ",", 11, 1, "|", threads=2)
    assert got is not None and "No Finding" in got.names and got.num_rows == 40_000


@pytest.mark.realdata
def test_real_count_vectorizer_falls_back_on_twos(shared_data):
    """Planet's wide table holds a few 2s (a repeated tag): the kernel must leave them to Arrow."""
    data = (shared_data / "planet_amazon" / "count_vectorizer.csv").read_bytes().split(b"\n", 1)[1]
    num_fields = data.split(b"\n", 1)[0].count(b",") + 1
    assert scan_wide(data, delimiter=b",", num_fields=num_fields, label_fields=list(range(num_fields))) is None
