"""Record boundaries of delimited text (``bceweights.tables.records``) against a character-by-character
state machine of what pandas and Arrow read: a chunk is cut only where a record ends."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bceweights.tables import records
from bceweights.tables import source as tables


def reference_ends(data: bytes, delimiter: bytes) -> tuple[list[int], bool]:
    """(the position after each record's line end, whether a quote stood inside an unquoted field or
    after a closing quote, where quote parity cannot be trusted): the CSV state machine pandas and
    Arrow share (quotes open only at a field's start, a doubled quote inside quotes is one quote)."""
    ends, stray = [], False
    field_start, quoted, i = True, False, 0
    while i < len(data):
        c = data[i:i + 1]
        if quoted:
            if c == b'"':
                if data[i + 1:i + 2] == b'"':
                    i += 2
                    continue
                quoted = False
                nxt = data[i + 1:i + 2]
                if nxt not in (delimiter, b"\n", b"\r", b""):
                    stray = True
            i += 1
            continue
        if c in (b"\n", b"\r"):
            if c == b"\r" and data[i + 1:i + 2] == b"\n":
                i += 1
            ends.append(i + 1)
            field_start = True
        elif c == delimiter:
            field_start = True
        elif c == b'"' and field_start:
            quoted, field_start = True, False
        else:
            stray |= c == b'"'
            field_start = False
        i += 1
    return ends, stray


field = st.one_of(
    st.text(alphabet="ab1 ", max_size=4),
    st.text(alphabet='ab,\n\r" ', max_size=5).map(lambda t: '"' + t.replace('"', '""') + '"'),
)
record = st.lists(field, min_size=1, max_size=4).map(",".join)
table = st.tuples(st.lists(record, min_size=1, max_size=12),
                  st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=12, max_size=12))


def joined(rows, ends) -> bytes:
    return "".join(r + e for r, e in zip(rows, ends)).encode()


@settings(max_examples=300, deadline=None)
@given(table=table, cut=st.integers(0, 200))
def test_last_record_end_is_a_record_end(table, cut):
    data = joined(*table)
    part = data[:cut]
    ends, stray = reference_ends(data, b",")
    assert not stray
    got = records.last_record_end(part, b",")
    inside = [e for e in ends if e <= len(part)]
    # A CR as the part's last byte may be the first half of a CRLF: not yet a record end.
    safe = [e for e in inside if not (e == len(part) and part.endswith(b"\r"))]
    assert got == (safe[-1] if safe else 0)
    assert records.last_record_end(data, b",", final=True) == ends[-1]


@settings(max_examples=200, deadline=None)
@given(table=table, stray_at=st.integers(0, 200))
def test_a_stray_quote_is_ambiguous_or_read_right(table, stray_at):
    data = joined(*table)
    at = min(stray_at, len(data))
    data = data[:at] + b'x"' + data[at:]  # after a letter: a quote that opens no field, or ends one early
    ends, stray = reference_ends(data, b",")
    try:
        got = records.last_record_end(data, b",", final=True)
    except records.AmbiguousQuotes:
        assert stray  # only a quote that parity cannot follow is refused
        return
    assert got == (ends[-1] if ends else 0)


@settings(max_examples=200, deadline=None)
@given(table=table)
def test_first_record_end(table):
    data = joined(*table)
    ends, _ = reference_ends(data, b",")
    assert records.first_record_end(data, 0, b",", final=True) == ends[0]


@pytest.mark.parametrize("data,start,skipped", [
    (b"A,B\n", 0, 0),
    (b"\xef\xbb\xbfA,B\n", 3, 0),
    (b"\n\r\n\rA,B\n", 4, 3),
    (b"  \n\t \r\nA\n", 7, 2),
    (b"\xef\xbb\xbf\n A,B\n", 4, 1),  # a line that starts with a space and holds a name is the header
])
def test_skip_preamble(data, start, skipped):
    assert records.skip_preamble(data) == (start, skipped)


def test_blank_lines_empties_lines_of_spaces_outside_quotes():
    clean = records.blank_lines(b",")
    assert clean(b"a,b\n  \n1,2\n\t\n") == b"a,b\n\n1,2\n\n"
    assert clean(b'a,"x\n  \ny"\n \r') == b'a,"x\n  \ny"\n\r'
    assert clean(b"a,b\n1,2\n") is None
    assert records.blank_lines(b"\t")(b"a\tb\n \n\t\n") == b"a\tb\n\n\t\n"  # a tab is a field there
    assert records.blank_lines(b" ")(b"a b\n\t\n") == b"a b\n\n"


def test_a_stray_quote_leaves_the_rest_to_arrow_at_once(tmp_path):
    """A quote inside an unquoted field must not make every later line end look quoted (which would
    gather the rest of the file in memory): the chunker hands the rest over to Arrow's reader."""
    import io

    body = b"".join(b"r%d,1\n" % i for i in range(5000))
    data = b'r"x,1\n' + body
    pieces = list(tables._record_chunks(io.BytesIO(data), 1 << 12, b","))
    assert isinstance(pieces[0][0], tables._Rest) and len(pieces) == 1
    assert pieces[0][1] <= 1 << 18  # handed over after the first read, not at the file's end
