"""Multi-label ARFF (MULAN, MEKA): dense and sparse (``{index value, ...}``) rows, streamed.

Which attributes are labels: ``--label-attributes`` (names), else the MULAN companion XML (the same name
with ``.xml``: ``<labels><label name="..."/>...``), else a MEKA header (``@relation 'name: -C 6'``: the
first 6 attributes; ``-C -6``: the last 6). Otherwise it is an error, since features and labels look alike.

Class order: **the ARFF's column order** (the order of the ``@attribute`` lines), whatever order the
XML or ``--label-attributes`` lists them in. MULAN's XML often lists the labels in another order than the
file (Emotions, Yeast, Birds ...); a model trained on the ARFF's columns outputs them in the file's
order, so that is the order of ``pos_weight``. A note records when the XML's order differs.

Values: ``0``/``1`` (or another number, through the value policy), ``?`` is missing. In a sparse row an
omitted attribute holds its first nominal value (``0`` for ``{0,1}``), as in Weka.

Refused, naming the file and the line, since each would count something else than the labels: a
sparse index outside the attributes (or given twice in a row, or without a value), a sparse row without
its closing ``}``, an empty field (ARFF writes a missing value as ``?``), a MEKA ``-C n`` that names
more attributes than the file declares, and ``-C 0`` (no label at all).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import InputError, OptionsError, reader_boundary
from ..locations import as_path, open  # local paths and URLs alike
from ..policy import apply_policy
from ..spec import POLICY_OPTIONS, InputSpec
from .arrays import MultiHotReader
from .base import LabelBatch

BATCH_ROWS = 8192
_ATTRIBUTE = re.compile(r"""@attribute\s+('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\S+)\s*(.*)$""", re.IGNORECASE)
_MEKA = re.compile(r"-C\s+(-?\d+)")


class ArffReader(MultiHotReader):
    """MULAN/MEKA ARFF files: the label attributes' values, row by row, in the ARFF's column order."""

    name = "arff"
    extensions = (".arff",)
    description = "MULAN/MEKA multi-label ARFF, dense or sparse rows"
    options = frozenset({"label_attributes", *POLICY_OPTIONS})

    def sniff(self, head: bytes, path: Path) -> float:
        """``@relation`` first, after blank lines and ``%`` comments, in a plain text file (``head`` is
        inflated from a gzip file, which this reader would read as its compressed bytes)."""
        if b"\x00" in head or _compressed(path):
            return 0.0
        for line in head.decode("utf-8", errors="replace").lstrip("\ufeff").splitlines():
            line = line.strip()
            if line and not line.startswith("%"):
                return 0.9 if line.lower().startswith("@relation") else 0.0
        return 0.0

    def classes(self, path: Path, spec: InputSpec) -> list[str]:
        header, columns, _ = label_columns(as_path(path), spec)
        return [header.names[i] for i in columns]

    def rows(self, path: Path, spec: InputSpec, *, classes: Sequence[str] | None = None,
             id_column: str | None = None) -> Iterator[LabelBatch]:
        """The label columns of an ARFF file as batches ``[n, C]`` in row order (ARFF rows have no
        sample ids); the header's notes ride on the first batch."""
        return _rows(as_path(path), spec, classes)


def _compressed(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(2) == b"\x1f\x8b"
    except OSError:
        return False


@dataclass
class _Header:
    relation: str
    names: list[str]
    nominal: list[list[str] | None]
    data_offset: int
    data_line: int


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1].replace("\\'", "'").replace('\\"', '"')
    return text


def _lines(fh, start: int) -> Iterator[tuple[int, int, str]]:
    """(line number, byte offset after the line, stripped text) of the lines from ``fh``'s position on,
    numbered from ``start``, skipping blank lines and ``%`` comments. Decoding is lenient: a stray
    byte in a comment or a feature value must not stop the count."""
    offset = fh.tell()
    for number, raw in enumerate(fh, start=start):
        offset += len(raw)
        line = raw.decode("utf-8", errors="replace").strip()
        if line and not line.startswith("%"):
            yield number, offset, line


def _read_header(path: Path) -> _Header:
    relation, names, nominal = "", [], []
    try:
        with open(path, "rb") as fh:
            for number, offset, line in _lines(fh, 1):
                low = line.lower()
                if low.startswith("@relation"):
                    relation = _unquote(line[len("@relation"):])
                elif low.startswith("@attribute"):
                    match = _ATTRIBUTE.match(line)
                    if match is None:
                        raise InputError(f"{path}: line {number}: cannot read the attribute {line[:80]!r}")
                    names.append(_unquote(match.group(1)))
                    kind = match.group(2).strip()
                    if kind.startswith("{"):
                        try:
                            values = next(csv.reader([kind.strip("{} \t")], quotechar="'",
                                                     skipinitialspace=True), [])
                        except csv.Error as exc:
                            raise InputError(f"{path}: line {number}: cannot read the attribute's values "
                                             f"({exc})") from None
                        nominal.append([_unquote(v) for v in values])
                    else:
                        nominal.append(None)
                elif low.startswith("@data"):
                    return _Header(relation, names, nominal, offset, number)
                elif not low.startswith("@"):
                    break
    except OSError as exc:
        raise InputError(f"{path}: cannot read the file ({exc})") from None
    raise InputError(f"{path}: not an ARFF file (no @attribute ... @data header)",
                     hint="for rows without the ARFF header (plain CSV) pass --format csv --no-header")


def _xml_labels(path: Path) -> list[str] | None:
    xml = path.with_suffix(".xml")
    if not xml.is_file():
        return None
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(xml).getroot()
    except (ET.ParseError, OSError) as exc:
        raise InputError(f"{xml}: cannot read the MULAN label file ({exc})") from None
    names = [el.get("name") for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "label" and el.get("name")]
    if not names:
        raise InputError(f"{xml}: names no label (expected <label name=\"...\"/> elements)")
    return [str(n) for n in names]


def label_columns(path: Path, spec: InputSpec) -> tuple[_Header, list[int], list[str]]:
    """(header, the label attributes' column indices in ARFF order, notes)."""
    header = _read_header(path)
    notes: list[str] = []
    if spec.label_attributes:
        wanted, source = list(spec.label_attributes), "--label-attributes"
    else:
        wanted, source = _xml_labels(path), path.with_suffix(".xml").name
        if wanted is None:
            match = _MEKA.search(header.relation)
            if match is None:
                raise OptionsError(
                    f"{path}: which attributes are the labels? There is no {path.with_suffix('.xml').name} "
                    "beside it and no MEKA '-C n' in @relation",
                    hint="pass --label-attributes NAME,NAME,... or put the MULAN .xml beside the .arff",
                )
            k = int(match.group(1))
            if k == 0 or abs(k) > len(header.names):
                # A bound past the attributes would count features (or nothing) as labels.
                what = ("no label attribute" if k == 0 else f"{abs(k)} label attributes, but the file "
                        f"declares {len(header.names)} attributes")
                raise InputError(f"{path}: the MEKA header's -C {k} names {what}",
                                 hint="fix -C in @relation, or pass --label-attributes NAME,NAME,...")
            wanted = header.names[:k] if k >= 0 else header.names[k:]
            source = f"the MEKA header (-C {k})"
    position = {name: i for i, name in enumerate(header.names)}
    unknown = [n for n in wanted if n not in position]
    if unknown:
        raise OptionsError(
            f"{path}: {source} names label attribute(s) not in the file: {', '.join(map(repr, unknown[:5]))}",
            hint=f"the attributes are: {', '.join(header.names[:8])}{' ...' if len(header.names) > 8 else ''}",
        )
    columns = sorted({position[n] for n in wanted})
    in_file = [header.names[i] for i in columns]
    if in_file != list(dict.fromkeys(wanted)):
        notes.append(f"{path.name}: {len(columns)} labels from {source}, in the ARFF's column order "
                     f"({', '.join(in_file[:4])}{' ...' if len(in_file) > 4 else ''}), not the order "
                     f"{source} lists them in")
    return header, columns, notes


def _number(text: str, path: Path, line: int, name: str) -> float:
    text = _unquote(text)
    if text == "?":
        return float("nan")
    if not text.strip():
        raise InputError(f"{path}: line {line}: label '{name}' is empty (ARFF writes a missing value as ?)")
    try:
        return float(text)
    except ValueError:
        raise InputError(f"{path}: line {line}: label '{name}' holds {text!r}, not 0/1",
                         hint="check --label-attributes or the .xml") from None


def _split_dense(line: str) -> list[str]:
    if "'" in line or '"' in line:
        quote = "'" if "'" in line else '"'
        return next(csv.reader([line], quotechar=quote, skipinitialspace=True, escapechar="\\"))
    return line.split(",")


def _rows(path: Path, spec: InputSpec, classes: Sequence[str] | None) -> Iterator[LabelBatch]:
    header, columns, notes = label_columns(path, spec)
    names = [header.names[i] for i in columns]
    if classes is not None and list(classes) != names:
        raise InputError(f"{path}: the labels {names} differ from {list(classes)}")
    slot = {col: j for j, col in enumerate(columns)}
    default = np.zeros(len(columns))
    for j, col in enumerate(columns):
        values = header.nominal[col]
        if values:
            default[j] = _number(values[0], path, header.data_line, names[j])
    width = len(header.names)
    rows: list[np.ndarray] = []
    lines: list[int] = []
    with reader_boundary(path, "the ARFF file"):
        fh = open(path, "rb")
    with fh:
        fh.seek(header.data_offset)
        for number, done, line in _lines(fh, header.data_line + 1):
            row = default.copy()
            if line.startswith("{"):
                _fill_sparse(row, line, width, slot, names, path, number)
            else:
                _fill_dense(row, line, width, columns, names, path, number)
            rows.append(row)
            lines.append(number)
            if len(rows) >= BATCH_ROWS:
                yield replace(_batch(rows, lines, names, spec, path, done), notes=tuple(notes))
                rows, lines, notes = [], [], []
        done = fh.tell()  # the last batch reports the whole file read, trailing comments included
    if rows or notes:  # the header's notes ride on the first batch, an empty one for a file of no row
        yield replace(_batch(rows, lines, names, spec, path, done), notes=tuple(notes))


def _fill_sparse(row: np.ndarray, line: str, width: int, slot: dict[int, int], names: list[str], path: Path,
                 number: int) -> None:
    """Set the label slots that a sparse row ``{index value, ...}`` names; the rest keep the default.
    Every index is checked, a feature's too: one past the attributes means the row is not the
    header's (a shifted or truncated file), and its labels cannot be trusted."""
    end = line.find("}")
    if end < 0:
        raise InputError(f"{path}: line {number}: a sparse row without its closing '}}'",
                         hint="the file may be truncated")
    seen: set[int] = set()
    for entry in line[1:end].split(","):
        entry = entry.strip()
        if not entry:
            continue
        index, _, value = entry.partition(" ")
        try:
            col = int(index)
        except ValueError:
            raise InputError(f"{path}: line {number}: bad sparse entry {entry!r}") from None
        if not 0 <= col < width:
            raise InputError(f"{path}: line {number}: sparse index {col} is outside the {width} attributes "
                             f"(0-{width - 1})")
        if col in seen:
            raise InputError(f"{path}: line {number}: sparse index {col} is given twice")
        seen.add(col)
        if not value.strip():
            raise InputError(f"{path}: line {number}: sparse entry {entry!r} has no value")
        j = slot.get(col)
        if j is not None:
            row[j] = _number(value, path, number, names[j])


def _fill_dense(row: np.ndarray, line: str, width: int, columns: list[int], names: list[str], path: Path,
                number: int) -> None:
    try:
        fields = _split_dense(line)
    except csv.Error as exc:  # a quoted field past csv's size limit
        raise InputError(f"{path}: line {number}: cannot read the row ({exc})") from None
    if len(fields) == width + 1 and fields[-1].strip().startswith("{"):
        fields = fields[:-1]  # an instance weight, "{w}"
    if len(fields) != width:
        raise InputError(f"{path}: line {number}: {len(fields)} values, but the header declares "
                         f"{width} attributes")
    for j, col in enumerate(columns):
        row[j] = _number(fields[col], path, number, names[j])


def _batch(rows, lines, names, spec: InputSpec, path: Path, done: int) -> LabelBatch:
    values = np.vstack(rows) if rows else np.zeros((0, len(names)))
    numbers = np.asarray(lines, dtype=np.int64)
    result = apply_policy(values, spec.policy, columns=names, row_numbers=numbers, source=str(path))
    return LabelBatch(result.labels, list(names), numbers, done, result.missing, result.uncertain)
