"""``--classes-file``: the class names a run uses, read once for every reader."""

from __future__ import annotations

from pathlib import Path

from .errors import InputError, OptionsError


def read_classes_file(path: str | Path) -> list[str]:
    """The names in a classes file, one per line (blank lines skipped). A problem names the classes
    file, never the labels being read."""
    path = Path(path)
    try:
        names = [ln.strip() for ln in path.read_text(encoding="utf-8-sig").splitlines()]
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the classes file ({exc})") from None
    names = [n for n in names if n]
    if not names:
        raise InputError(f"{path}: the classes file lists no class")
    seen: set[str] = set()
    for number, name in enumerate(names, start=1):
        if name in seen:
            raise OptionsError(f"{path}: the classes file names '{name}' twice (the second time on its "
                               f"non-blank line {number})", hint="every class needs one name of its own")
        seen.add(name)
    return names
