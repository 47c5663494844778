"""Where the records of delimited text begin and end, as pandas and Arrow read them.

A record ends at a LF, a CR or a CRLF outside quotes; a quoted field may hold line ends and doubled
quotes. Before the header, a UTF-8 byte-order mark and blank lines (empty, or only spaces and tabs)
are skipped; later, lines of only spaces and tabs are blank lines too (pandas skips them, Arrow would
read a field), unless the delimiter is one of those characters.

Quotes are followed by their parity: with every opening quote at a field's start and every closing one
before a delimiter, a line end or a doubled quote, the quotes before a line end tell whether it is
inside a field. A quote anywhere else (``ab"c``, ``"a"b``, a space before an opening quote) makes the
parity unsafe: :class:`AmbiguousQuotes` is raised, and the caller leaves the rest of the file to
Arrow's streaming reader, whose own state machine decides.

Only NumPy and :mod:`re` are used, on bytes.
"""

from __future__ import annotations

import re

import numpy as np

BOM = b"\xef\xbb\xbf"
LF, CR, QUOTE = 10, 13, 34


class AmbiguousQuotes(Exception):
    """A quote that is neither at a field's start nor at its end: quote parity cannot place the
    record ends."""


def _blank_pattern(delimiter: bytes) -> re.Pattern[bytes] | None:
    spaces = b"".join(c for c in (b" ", b"\t") if c != delimiter)
    if not spaces:
        return None
    cls = re.escape(spaces).decode("ascii")
    return re.compile(rf"(?:(?<=[\r\n])|\A)[{cls}]+(?=[\r\n]|\Z)".encode("ascii"))


def skip_preamble(data: bytes, delimiter: bytes | None = None) -> tuple[int, int]:
    """(where the first non-blank line starts, how many lines were skipped): a BOM, then empty lines
    and lines of only spaces and tabs (those that are not the delimiter), as pandas skips them."""
    pos = len(BOM) if data.startswith(BOM) else 0
    spaces = b"".join(c for c in (b" ", b"\t") if c != delimiter)
    pattern = re.compile(b"[" + re.escape(spaces) + b"]*(?:\r\n|\n|\r)" if spaces else b"(?:\r\n|\n|\r)")
    lines = 0
    while (found := pattern.match(data, pos)) is not None:
        pos, lines = found.end(), lines + 1
    return pos, lines


def _ends_outside(a: np.ndarray, delimiter: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(every LF and CR position, the sorted quote positions or None without quotes)."""
    ends = np.flatnonzero((a == LF) | (a == CR))
    quotes = np.flatnonzero(a == QUOTE)
    if len(quotes) == 0:
        return ends, None
    before = np.searchsorted(quotes, ends)  # quotes before each line end
    return ends[(before & 1) == 0], quotes


def _check_quotes(a: np.ndarray, quotes: np.ndarray, delimiter: int, upto: int | None = None) -> None:
    """Raise :class:`AmbiguousQuotes` unless every quote of the data (which starts at a record start),
    or before ``upto``, opens a field or closes one. A chunk's are all checked, not only those before
    its cut: a stray quote would otherwise hold every later line end "inside quotes" and the rest of
    the file in memory."""
    if upto is not None:
        quotes = quotes[:np.searchsorted(quotes, upto)]
    if len(quotes) == 0:
        return
    opens, closes = quotes[0::2], quotes[1::2]
    closes = closes[closes + 1 < len(a)]  # the byte after the data's last quote is not read yet
    edge = np.zeros(256, dtype=bool)
    edge[[delimiter, LF, CR, QUOTE]] = True
    if not (edge[a[opens[opens > 0] - 1]].all() and edge[a[closes + 1]].all()):
        raise AmbiguousQuotes


def _pick_end(a: np.ndarray, ends: np.ndarray, final: bool, last: bool) -> int | None:
    """The position after the first (or last) record end among ``ends`` (a CRLF counts as one), or
    None when there is none yet: a CR as the data's last byte may be the first half of a CRLF."""
    if len(ends) == 0:
        return None
    if last:
        at = int(ends[-1])
        if a[at] == CR and at == len(a) - 1 and not final:
            return int(ends[-2]) + 1 if len(ends) > 1 else None
        return at + 1
    at = int(ends[0])
    if a[at] == CR:
        if at == len(a) - 1 and not final:
            return None
        if at + 1 < len(a) and a[at + 1] == LF:
            return at + 2
    return at + 1


def last_record_end(data, delimiter: bytes, *, final: bool = False) -> int:
    """Where the last whole record of ``data`` (which starts at a record's start) ends, after its line
    end; 0 when no record ends in it. ``final``: the data ends the file (a CR as its last byte is a
    line end). Raises :class:`AmbiguousQuotes`."""
    if isinstance(data, (bytes, bytearray)) and data.find(b'"') < 0:
        at = max(data.rfind(b"\n"), data.rfind(b"\r"))
        if at < 0:
            return 0
        if data[at] == CR and at == len(data) - 1 and not final:
            at = max(data.rfind(b"\n", 0, at), data.rfind(b"\r", 0, at))
            return at + 1
        return at + 1
    a = np.frombuffer(data, dtype=np.uint8)
    ends, quotes = _ends_outside(a, delimiter[0])
    if quotes is not None:
        _check_quotes(a, quotes, delimiter[0])
    cut = _pick_end(a, ends, final, last=True)
    return 0 if cut is None else cut


def first_record_end(data: bytes, start: int, delimiter: bytes, *, final: bool = False,
                     quotes: bool = True) -> int | None:
    """Where the record that starts at ``start`` ends (after its line end); the data's end when it
    is ``final`` and the record has no line end; None when more data is needed. Raises
    :class:`AmbiguousQuotes`; with ``quotes=False`` the first line end ends the record."""
    rest = data[start:]
    a = np.frombuffer(rest, dtype=np.uint8)
    if not quotes or rest.find(b'"') < 0:
        found = [i for i in (rest.find(b"\n"), rest.find(b"\r")) if i >= 0]
        ends = np.array(found[:1] if len(found) < 2 else [min(found)], dtype=np.int64)
        where = None
    else:
        ends, where = _ends_outside(a, delimiter[0])
    cut = _pick_end(a, ends, final, last=False)
    if where is not None:  # the header's quotes, or all of them when no line end is outside quotes
        _check_quotes(a, where, delimiter[0], upto=cut)
    if cut is None:
        return len(data) if final else None
    return start + cut


def count_line_ends(data: bytes) -> int:
    """Line ends in ``data`` (a CRLF is one), for the line number of a record."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def blank_lines(delimiter: bytes):
    """A function that empties the lines of only spaces and tabs outside quotes (Arrow skips empty
    lines; pandas skips both), or None when the delimiter leaves no such line (tab or space)."""
    pattern = _blank_pattern(delimiter)
    if pattern is None:
        return None

    def clean(data: bytes) -> bytes | None:
        """``data`` with those lines emptied, or None when it has none."""
        found = [m.span() for m in pattern.finditer(data)]
        if not found:
            return None
        if data.find(b'"') >= 0:
            quotes = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == QUOTE)
            found = [(lo, hi) for lo, hi in found if not int(np.searchsorted(quotes, lo)) & 1]
            if not found:
                return None
        parts, at = [], 0
        for lo, hi in found:
            parts.append(data[at:lo])
            at = hi
        parts.append(data[at:])
        return b"".join(parts)

    return clean


def may_hold_blank_lines(data: bytes, delimiter: bytes) -> bool:
    """Whether a line of ``data`` may be only spaces and tabs (a quick test for one-column tables,
    where such a line would otherwise be read as a value)."""
    if data[:1] in (b" ", b"\t"):
        return True
    return any(data.find(end + space) >= 0 for end in (b"\n", b"\r") for space in (b" ", b"\t")
               if space != delimiter)
