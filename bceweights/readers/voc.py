"""Pascal VOC: the per-class image lists of ``ImageSets/Main``, and ``Annotations`` XML files.

**ImageSets/Main** (the folder, or a VOC root holding it) with ``--voc-split NAME``: the files
``{class}_{NAME}.txt``, lines ``image_id value``: ``1`` the image holds the class, ``-1`` it does not,
``0`` it holds only *difficult* objects of it. Other files (``train.txt``, other splits) are not read.
Without ``--voc-split``, a folder of one split reads it; with several it is a usage error that lists
them. Every class file of a split must list the same images. Sample ids: the image ids.

**Annotations** (a folder of ``.xml`` files, or single files): one image a file, its ``<object>`` s
named by ``<name>``, ``<difficult>1</difficult>`` marking a difficult one. A class is positive in an
image with a non-difficult object of it, *difficult-only* with only difficult ones, else negative.
``--voc-split NAME`` keeps the images of ``ImageSets/Main/NAME.txt`` beside the folder. Sample ids: the
``<filename>`` (else the file's name without ``.xml``).

``--difficult``: what a difficult-only class counts as in that image: ``ignore`` (default: neither, as
VOC's evaluation does), ``positive`` or ``negative``.

Classes: ``--classes-file`` (its order; every class it names is a class, and an object of another class
is an error), else the names met, sorted (VOC's own order is alphabetical: aeroplane ... tvmonitor).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError, UsageError
from ..locations import as_path, open  # local paths and URLs alike
from ..spec import InputSpec
from .annotations import BATCH_ROWS, FileSetReader, Sample, label_block
from .base import LabelBatch

DIFFICULT = ("ignore", "positive", "negative")
#: ``{class}_{split}.txt``: the class is everything before the last underscore.
_LIST_NAME = re.compile(r"^(.+)_([^_]+)\.txt$")
_LIST_LINE = re.compile(rb"^\s*(\S+)\s+(-?[01])\s*$")
_XML_ROOT = re.compile(rb"^(?:\s|<\?[^>]*\?>|<!--.*?-->|<!DOCTYPE[^>]*>)*<annotation[\s>]", re.S)
#: XML files looked at to decide whether a folder is a VOC Annotations folder.
CLAIM_SAMPLE = 8


class VocReader(FileSetReader):
    """Pascal VOC ``ImageSets/Main`` class lists and ``Annotations`` XML files."""

    name = "voc"
    extensions = ()
    suffix = ".xml"
    description = "Pascal VOC: ImageSets/Main class lists (--voc-split) or Annotations XML"
    options = frozenset({"voc_split", "difficult", "classes_file", "id_column"})
    id_name = "image"

    # -- dispatch -------------------------------------------------------------------------------------

    def sniff(self, head: bytes, path: Path) -> float:
        return 0.9 if _XML_ROOT.match(head.removeprefix(b"\xef\xbb\xbf")) else 0.0

    def claims_folder(self, path: Path, spec: InputSpec) -> bool:
        path = as_path(path)
        if _lists_folder(path) is not None:
            return True
        try:
            names = sorted(e.name for e in os.scandir(path) if e.name.lower().endswith(".xml") and e.is_file())
        except OSError:
            return False
        for name in names[:CLAIM_SAMPLE]:
            try:
                with open(path / name, "rb") as fh:
                    if self.sniff(fh.read(1024), path / name):
                        return True
            except OSError:
                continue
        return False

    def whole(self, path: Path, spec: InputSpec) -> bool:
        return as_path(path).is_dir() and _lists_folder(as_path(path)) is not None

    def fixed_classes(self, spec: InputSpec) -> list[str] | None:
        _difficult(spec)
        if spec.classes_file is None:
            return None
        from ..classnames import read_classes_file

        return read_classes_file(spec.classes_file)

    # -- Annotations XML ------------------------------------------------------------------------------

    def members(self, path: Path, spec: InputSpec) -> list[str]:
        """The folder's XML files, sorted; with ``--voc-split``, those of the split's image list."""
        path = as_path(path)
        if spec.voc_split is None:
            return super().members(path, spec)
        if not path.is_dir():
            raise UsageError(f"--voc-split {spec.voc_split}: picks the images of an Annotations folder or "
                             f"the lists of ImageSets/Main, not of the single file {path}")
        listing = path.parent / "ImageSets" / "Main" / f"{spec.voc_split}.txt"
        if not listing.is_file():
            raise UsageError(f"--voc-split {spec.voc_split}: there is no {listing} beside {path}",
                             hint="pass the ImageSets/Main folder instead, or no --voc-split")
        out = []
        for line in listing.read_text(encoding="utf-8", errors="replace").splitlines():
            image = line.split()[0] if line.strip() else None
            if image is None:
                continue
            xml = path / f"{image}.xml"
            if not xml.is_file():
                raise InputError(f"{listing}: the image {image!r} has no {xml.name} in {path}")
            out.append(str(xml))
        return out

    def parse(self, path: str, spec: InputSpec, base: str) -> Sample | None:
        import xml.etree.ElementTree as ET

        try:
            root = ET.parse(path).getroot()
        except ET.ParseError as exc:
            raise InputError(f"{path}: not a readable XML file ({exc})") from None
        except OSError as exc:
            raise InputError(f"{path}: cannot read the file ({exc.strerror})") from None
        if root.tag != "annotation":
            return None
        fixed = self.fixed_classes(spec)
        plain: set[str] = set()
        difficult: set[str] = set()
        for number, obj in enumerate(root.findall("object"), start=1):
            name = (obj.findtext("name") or "").strip()
            if not name:
                raise InputError(f"{path}: object {number} has no <name>")
            if fixed is not None and name not in fixed:
                raise InputError(f"{path}: object {number} is a {name!r}, which {spec.classes_file} does not "
                                 "name")
            flag = (obj.findtext("difficult") or "0").strip().lower()
            if flag in ("1", "true"):
                difficult.add(name)
            elif flag in ("0", "false", ""):
                plain.add(name)
            else:
                raise InputError(f"{path}: object {number} ({name}): <difficult> is {flag!r}, not 0 or 1")
        only = difficult - plain
        rule = _difficult(spec)
        positive = plain | only if rule == "positive" else plain
        ignored = only if rule == "ignore" else set()
        image = (root.findtext("filename") or "").strip() or os.path.splitext(os.path.basename(path))[0]
        return Sample(image, sorted(positive), sorted(ignored))

    def skipped_note(self, path: str) -> str:
        return f"skipped {path}: not a VOC annotation (its root is not <annotation>)"

    # -- ImageSets/Main -------------------------------------------------------------------------------

    def rows_whole(self, path: Path, spec: InputSpec, *, classes: Sequence[str] | None = None,
                   id_column: str | None = None) -> Iterator[LabelBatch]:
        """The images of a split, in the order of its first class file, as label batches."""
        folder = _lists_folder(as_path(path))
        assert folder is not None
        split, files = _split_files(folder, spec)
        fixed = self.fixed_classes(spec)
        notes: list[str] = []
        if fixed is not None:
            missing = [c for c in fixed if c not in files]
            if missing:
                raise InputError(f"{folder}: no {missing[0]}_{split}.txt for the class {missing[0]!r} of "
                                 f"{spec.classes_file}")
            extra = sorted(set(files) - set(fixed))
            if extra:
                notes.append(f"VOC: not in {spec.classes_file}, so not read: {', '.join(extra)}")
            names = list(fixed)
        else:
            names = sorted(files)
        if classes is not None:
            if sorted(classes) != sorted(names):
                raise InputError(f"{folder}: its classes differ from those counted; did the files change?")
            names = list(classes)
        images, lines, values = _read_lists(folder, split, [files[c] for c in names])
        rule = _difficult(spec)
        difficult = values == 0
        notes.append(f"VOC: {folder} split {split!r}: {len(images):,} images, {len(names)} classes"
                     + (f"; {int(difficult.sum()):,} difficult-only (image, class) pairs count as "
                        f"{'neither' if rule == 'ignore' else rule + 's'} (--difficult)" if difficult.any() else ""))
        for start in range(0, len(images), BATCH_ROWS):
            stop = min(len(images), start + BATCH_ROWS)
            part = values[start:stop]
            pos = np.nonzero((part == 1) | ((part == 0) & (rule == "positive")))
            ign = np.nonzero(part == 0) if rule == "ignore" else ((), ())
            block = label_block(stop - start, len(names), pos[0], pos[1], ign[0], ign[1])
            yield LabelBatch(block, names, lines[start:stop], notes=tuple(notes) if start == 0 else (),
                             ids=images[start:stop] if id_column is not None else None, id_name=self.id_name)


def _difficult(spec: InputSpec) -> str:
    if spec.difficult not in DIFFICULT:
        raise UsageError(f"--difficult {spec.difficult}: choose one of {', '.join(DIFFICULT)}")
    return spec.difficult


def _lists_folder(path: Path) -> Path | None:
    """The ImageSets/Main folder of ``path`` (itself, or ``path/ImageSets/Main`` for a VOC root), when
    it holds per-class lists."""
    for folder in (path, path / "ImageSets" / "Main"):
        if folder.is_dir() and _class_lists(folder):
            return folder
    return None


def _class_lists(folder: Path) -> dict[str, dict[str, Path]]:
    """``{split: {class: file}}`` of a folder whose ``{class}_{split}.txt`` files hold VOC lines (the
    first one of each split is looked at)."""
    try:
        names = sorted(e.name for e in os.scandir(folder) if e.name.endswith(".txt"))
    except OSError:
        return {}
    splits: dict[str, dict[str, Path]] = {}
    for name in names:
        match = _LIST_NAME.match(name)
        if match:
            splits.setdefault(match.group(2), {})[match.group(1)] = folder / name
    out = {}
    for split, files in splits.items():
        first = next(iter(files.values()))
        try:
            with open(first, "rb") as fh:
                line = fh.readline(256)
        except OSError:
            continue
        if _LIST_LINE.match(line):
            out[split] = files
    return out


def _split_files(folder: Path, spec: InputSpec) -> tuple[str, dict[str, Path]]:
    """The split to read (``--voc-split``, or the only one) and its class files."""
    splits = _class_lists(folder)
    if spec.voc_split is not None:
        if spec.voc_split not in splits:
            raise UsageError(f"--voc-split {spec.voc_split}: {folder} has no {{class}}_{spec.voc_split}.txt "
                             f"lists; its splits: {', '.join(sorted(splits))}")
        return spec.voc_split, splits[spec.voc_split]
    if len(splits) > 1:
        raise UsageError(f"{folder} holds the splits {', '.join(sorted(splits))}; pick one with --voc-split",
                         hint=f"e.g. --voc-split {'trainval' if 'trainval' in splits else sorted(splits)[0]}")
    ((split, files),) = splits.items()
    return split, files


def _read_lists(folder: Path, split: str, files: Sequence[Path]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The images of the first file (in its order), their line numbers, and ``[n, C]`` values."""
    images: list[str] = []
    lines: list[int] = []
    columns: list[np.ndarray] = []
    position: dict[str, int] = {}
    for column, path in enumerate(files):
        values = np.full(len(images), 2, dtype=np.int8) if column else None
        got: list[int] = []
        try:
            raw = path.read_bytes().decode("utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: cannot read the class list ({exc})") from None
        for number, line in enumerate(raw.splitlines(), start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or fields[1] not in ("1", "-1", "0"):
                raise InputError(f"{path}: line {number}: expected 'image_id 1|-1|0', found {line.strip()!r}")
            value = int(fields[1])
            if column == 0:
                if fields[0] in position:
                    raise InputError(f"{path}: line {number}: the image {fields[0]!r} is listed twice")
                position[fields[0]] = len(images)
                images.append(fields[0])
                lines.append(number)
                got.append(value)
                continue
            where = position.get(fields[0])
            if where is None:
                raise InputError(f"{path}: line {number}: the image {fields[0]!r} is not in {files[0].name}",
                                 hint="every class list of a split lists the same images")
            if values[where] != 2:
                raise InputError(f"{path}: line {number}: the image {fields[0]!r} is listed twice")
            values[where] = value
        if column == 0:
            values = np.array(got, dtype=np.int8)
        elif (values == 2).any():
            absent = images[int(np.flatnonzero(values == 2)[0])]
            raise InputError(f"{path}: the image {absent!r} of {files[0].name} is not listed",
                             hint="every class list of a split lists the same images")
        columns.append(values)
    if not images:
        raise InputError(f"{files[0]}: lists no image")
    return images, np.asarray(lines, dtype=np.int64), np.stack(columns, axis=1)
