"""``--classes-file``: the class names a run uses, read once for every reader. One option names classes
everywhere, in three forms told apart by the file's extension:

* a text file (any other extension): one name per line, in class order (blank lines skipped);
* a YOLO data YAML (``.yaml``/``.yml``): its ``names:``, a list or an id-to-name mapping;
* an id-to-name CSV without header (``.csv``): ``id,name`` rows, as Open Images'
  ``class-descriptions.csv`` (``/m/011k07,Tortoise``), in class order; a name given to several ids is
  suffixed with the id (``Ball (/m/018xm)``).

Label values that are ids (YOLO class numbers, Open Images' ``/m/...``, GoEmotions' list indices) are
named through :meth:`ClassNames.name_of`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError


@dataclass(frozen=True)
class ClassNames:
    """The names of a classes file, in class order, and how label ids map to them: by position (a text
    file, a YOLO list: id ``k`` is the k-th name) or by the file's own ids (a YOLO mapping, a CSV)."""

    path: Path
    names: list[str]
    ids: dict[str, int] = field(default_factory=dict)

    def name_of(self, label: str) -> str | None:
        """The class name of a label value that is an id (``"3"``, ``"/m/011k07"``), or None."""
        index = self.ids.get(label)
        if index is None and not self.ids:
            text = label.strip()
            if text.isdigit() or (text.startswith("-") and text[1:].isdigit()):
                index = int(text)
        return self.names[index] if index is not None and 0 <= index < len(self.names) else None


def read_classes_file(path: str | Path) -> list[str]:
    """The class names of a classes file, in order (see the module's text for its forms)."""
    return read_class_names(path).names


def read_class_names(path: str | Path) -> ClassNames:
    """A classes file read once: names and ids. A problem names the classes file, never the labels."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the classes file ({exc})") from None
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        names, ids = _yolo_yaml(path, text)
    elif suffix == ".csv":
        names, ids = _id_csv(path, text)
    else:
        names, ids = [ln.strip() for ln in text.splitlines() if ln.strip()], {}
    if not names:
        raise InputError(f"{path}: the classes file lists no class")
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InputError(f"{path}: the classes file names '{name}' twice",
                             hint="every class needs a name of its own")
        seen.add(name)
    return ClassNames(path, names, ids)


def _yolo_yaml(path: Path, text: str) -> tuple[list[str], dict[str, int]]:
    from .errors import require

    yaml = require("yaml", feature="a YOLO data YAML as --classes-file", package="pyyaml")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not a readable YAML file ({str(exc).splitlines()[0]})") from None
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, list):
        return [str(n).strip() for n in names], {}
    if isinstance(names, dict):
        try:
            order = sorted((int(k), str(v).strip()) for k, v in names.items())
        except (TypeError, ValueError):
            raise InputError(f"{path}: the ids of 'names:' are not integers") from None
        wanted = list(range(len(order)))
        if [k for k, _ in order] != wanted:
            missing = sorted(set(wanted) - {k for k, _ in order})
            raise InputError(f"{path}: 'names:' has no name for the class id {missing[0] if missing else order[-1][0]}",
                             hint="YOLO class ids run 0 .. C-1")
        return [name for _, name in order], {}
    raise InputError(f"{path}: a YAML file without a 'names:' list or mapping",
                     hint="a YOLO data YAML names its classes under 'names:'")


def _id_csv(path: Path, text: str) -> tuple[list[str], dict[str, int]]:
    import csv
    import io

    names: list[str] = []
    ids: dict[str, int] = {}
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) != 2:
            raise InputError(f"{path}: line {number}: expected 'id,name' ({len(row)} fields)",
                             hint="a .csv classes file holds id,name rows without a header; a list of names "
                             "goes in a .txt file")
        label, name = row[0].strip(), row[1].strip()
        if label in ids:
            raise InputError(f"{path}: line {number}: the id '{label}' is listed twice")
        ids[label] = len(names)
        names.append(name)
    # Open Images gives one display name to several ids ("Ball"): each such class is named with its id
    # too, so classes stay apart and every name says which id it is.
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    if any(n > 1 for n in counts.values()):
        by_index = {index: label for label, index in ids.items()}
        names = [f"{name} ({by_index[i]})" if counts[name] > 1 else name for i, name in enumerate(names)]
    return names, ids
