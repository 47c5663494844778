"""YOLO label folders: one ``.txt`` per image, a line ``class x y w h`` per object.

Lines may carry more numbers (segment polygons, keypoints, oriented boxes): only the class, the first
number, is read; the others must be numbers. An empty file is an image without objects (a negative of
every class). A ``.txt`` whose first line does not start with a class number (``classes.txt``, a
``README.txt``) is no label file: skipped, with a note.

Class names: ``--classes-file``: a YOLO data YAML (``names:`` as a list or an id-to-name mapping), a
text file with one name per line (darknet's ``obj.names``) or an id,name CSV. Every class it names is a
class, present in the labels or not; a class id it does not name is an error. Without it the classes
are the ids, ``0`` to the largest id met.

Sample ids: each label file's path under the folder given, without ``.txt`` (the image's name without
its extension). A folder is read as one input; single files (``labels/*.txt``) are recognised by their
lines, since ``.txt`` is also a table extension.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..counts import Counts
from ..errors import InputError
from ..locations import as_path, is_url, open  # local paths and URLs alike
from ..spec import InputSpec
from .annotations import FileSetReader, Sample
from .base import Finished

#: Files whose heads are looked at to decide whether a folder is a YOLO label folder.
CLAIM_SAMPLE = 16


class YoloReader(FileSetReader):
    """YOLO ``.txt`` label files, a folder of them or single files."""

    name = "yolo"
    extensions = (".txt",)
    suffix = ".txt"
    description = "YOLO label folders: one .txt per image, 'class x y w h' lines"
    options = frozenset({"classes_file", "id_column"})
    id_name = "label_file"

    def sniff(self, head: bytes, path: Path) -> float:
        """Every complete line in ``head`` is ``class x y w h ...`` with coordinates in [0, 1] (YOLO's
        normalised boxes), one at least with a decimal point: a table of 0/1 columns is no YOLO file."""
        return 0.5 if _looks_yolo(head) == "yolo" else 0.0

    def claims_folder(self, path: Path, spec: InputSpec) -> bool:
        """A folder whose ``.txt`` files (the first few at its top, else one level down: darknet keeps
        ``train.txt`` beside ``obj_train_data/``) are YOLO labels: some have YOLO lines and, with the
        empty ones (images without objects), they outnumber files of other numeric rows; or all are
        empty."""
        for txt in _some_txt(as_path(path)):
            kinds = []
            for file in txt:
                try:
                    with open(file, "rb") as fh:
                        kinds.append(_looks_yolo(fh.read(4096)))
                except OSError:
                    continue
            # A broken label file among many must not hand the folder to the table reader (its error
            # would say nothing about the broken line), but numeric tables are no YOLO folder.
            yolo, empty = kinds.count("yolo"), kinds.count("empty")
            if (yolo and yolo + empty > kinds.count("numbers")) or (kinds and empty == len(kinds)):
                return True
            if "numbers" in kinds:
                return False
        return False

    def fixed_classes(self, spec: InputSpec) -> list[str] | None:
        return None if spec.classes_file is None else _class_names(spec.classes_file).names

    def natural_order(self, names: Sequence[str]) -> list[str]:
        return sorted(names, key=int)

    def finish(self, partial: Counts, spec: InputSpec) -> Finished:
        """Classes in the classes file's order; without one, ``0`` to the largest id met (an id between
        them that no file uses is a class without positives)."""
        if spec.classes_file is None:
            largest = max((int(c) for c in partial.classes), default=-1)
            partial.extend_classes(str(i) for i in range(largest + 1))
            partial.notes.append(f"YOLO: classes named by their ids 0-{largest}; --classes-file data.yaml "
                                 "(or obj.names) names them")
        return super().finish(partial, spec)

    def parse(self, path: str, spec: InputSpec, base: str) -> Sample | None:
        try:
            with open(path, "rb") as fh:
                text = fh.read().decode("utf-8-sig")
        except OSError as exc:
            raise InputError(f"{path}: cannot read the file ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise InputError(f"{path}: not a text file (not UTF-8)") from None
        labels: set[str] = set()
        coordinates: list[str] = []
        for line in text.splitlines():
            fields = line.split()
            if not fields:
                continue
            if not labels and not _is_number(fields[0]):
                return None  # classes.txt, a README: not a label file
            if len(fields) < 5:
                return self._refuse(path, text)
            labels.add(fields[0])
            coordinates.extend(fields[1:])
        try:
            finite = all(map(math.isfinite, map(float, coordinates)))
        except ValueError:
            finite = False
        ids = [_class_id(label) for label in labels]
        if not finite or None in ids:
            return self._refuse(path, text)
        names = None if spec.classes_file is None else _class_names(spec.classes_file)
        if names is None:
            found = [str(i) for i in ids]
        else:
            found = [names.name_of(str(i)) for i in ids]
            if None in found:
                return self._refuse(path, text, names, spec.classes_file)
        return Sample(_sample_id(path, base), sorted(found))

    def _refuse(self, path: str, text: str, names=None, classes_file=None) -> None:
        """Raise the error of the first bad line (the fast path of :meth:`parse` only knows there is one)."""
        for number, line in enumerate(text.splitlines(), start=1):
            fields = line.split()
            if not fields:
                continue
            label = _class_id(fields[0])
            if label is None:
                raise InputError(f"{path}: line {number}: the class {fields[0]!r} is not a class id (an "
                                 "integer from 0)")
            if len(fields) < 5:
                raise InputError(f"{path}: line {number}: expected 'class x y w h', found {len(fields)} "
                                 "field" + ("s" if len(fields) != 1 else ""))
            for value in fields[1:]:
                try:
                    ok = math.isfinite(float(value))
                except ValueError:
                    ok = False
                if not ok:
                    raise InputError(f"{path}: line {number}: {value!r} is not a coordinate")
            if names is not None and names.name_of(str(label)) is None:
                raise InputError(f"{path}: line {number}: the class id {label} is not in {classes_file} "
                                 f"({len(names.names)} classes)")
        raise AssertionError("a line was refused but none is bad")

    def skipped_note(self, path: str) -> str:
        return f"skipped {path}: not a YOLO label file (its first line is no 'class x y w h')"


def _sample_id(path: str, base: str) -> str:
    """The label file's path under the input folder, without ``.txt`` (its stem for a single file)."""
    if path == base:
        relative = os.path.basename(path)
    else:
        relative = path[len(base):].lstrip(os.sep).replace(os.sep, "/")
    return relative[:-len(".txt")] if relative.lower().endswith(".txt") else relative


@functools.lru_cache(maxsize=4)
def _read_names(path: str, stamp: tuple[int, int]):
    from ..classnames import read_class_names

    return read_class_names(path)


def _class_names(path: Path):
    try:
        st = os.stat(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the classes file ({exc.strerror})") from None
    return _read_names(str(path), (st.st_size, st.st_mtime_ns))


def _class_id(token: str) -> int | None:
    """A class id: an integer from 0 (``3``, or ``3.0`` as some converters write it), else None."""
    if token.isdigit():
        return int(token)
    try:
        value = float(token)
    except ValueError:
        return None
    return int(value) if value.is_integer() and value >= 0 else None


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _looks_yolo(head: bytes) -> str:
    """``"yolo"``, ``"empty"``, ``"numbers"`` (numeric rows that are not YOLO boxes) or ``"other"``."""
    if not head.strip():
        return "empty"
    if b"\x00" in head:
        return "other"
    text = head.decode("utf-8", "replace").lstrip("\ufeff")
    lines = text.splitlines()
    if len(head) >= 4096 and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut
    decimal = False
    for line in lines:
        fields = line.split()
        if not fields:
            continue
        if not _is_number(fields[0]):
            return "other"
        if _class_id(fields[0]) is None or len(fields) < 5:
            return "numbers"
        try:
            values = [float(v) for v in fields[1:]]
        except ValueError:
            return "numbers"
        if not all(-0.01 <= v <= 1.01 for v in values):
            return "numbers"
        decimal = decimal or any("." in v for v in fields[1:])
    return "yolo" if decimal else "numbers"


def _some_txt(folder: Path) -> Iterator[list[Path]]:
    """Up to :data:`CLAIM_SAMPLE` ``.txt`` files of ``folder``'s top, then of its subfolders."""
    if is_url(folder):  # a prefix of an object store, listed by the store
        try:
            listed = sorted(folder.iterdir(), key=lambda p: p.name)
        except (OSError, InputError):
            return
        yield [p for p in listed if p.name.lower().endswith(".txt") and p.is_file()][:CLAIM_SAMPLE]
        return
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return
    yield [Path(e.path) for e in entries if e.name.lower().endswith(".txt") and e.is_file()][:CLAIM_SAMPLE]
    found: list[Path] = []
    for entry in entries:
        if entry.is_dir():
            try:
                inner = sorted(e.name for e in os.scandir(entry.path)
                               if e.name.lower().endswith(".txt") and e.is_file())
            except OSError:
                continue
            found.extend(Path(entry.path) / name for name in inner[:CLAIM_SAMPLE - len(found)])
            if len(found) >= CLAIM_SAMPLE:
                break
    yield found
