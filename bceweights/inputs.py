"""What the LABELS arguments name: files, folders, globs and ``--file-list`` split files, expanded into
the files to read, and which reader reads each.

Folders and globs expand in a stable (sorted) order; a folder that a reader takes as a whole (a dataset
saved as a folder) stays one input. Only regular files are read: a FIFO or a device among the inputs
would block or never end. URLs (``s3://bucket/prefix/``, ``gs://b/**/*.png``, ``https://host/f.csv``)
expand the same way, listed by the store itself (:mod:`bceweights.locations`), into
:class:`~bceweights.locations.RemotePath` s; ``file://`` URLs are local paths.
"""

from __future__ import annotations

import glob
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import InputError, OptionsError, UsageError

if TYPE_CHECKING:
    from .readers.base import Reader
    from .spec import InputSpec


def expand_paths(paths: str | Path | Sequence[str | Path], spec: InputSpec) -> list[Path]:
    """Expand globs, folders and ``--file-list`` (one path or a sequence) into the inputs to read."""
    from . import locations, readers

    if isinstance(paths, (str, Path)):
        paths = [paths]
    if spec.file_list is not None:
        return [_regular(p) for p in files_from_list(paths, spec)]
    if spec.root is not None:
        raise UsageError("--root is where --file-list entries are looked up; it needs --file-list")
    out: list[Path] = []
    for raw in paths:
        text = local_path(raw if isinstance(raw, str) else os.fspath(raw))
        if locations.is_url(text):
            out.extend(_expand_url(text, spec))
            continue
        path = Path(text)
        if not path.exists() and any(ch in text for ch in "*?["):
            # os.path.isfile on the strings: one Path per match, not two (10,000 masks: 0.14 → 0.04 s)
            matches = sorted(Path(p) for p in glob.glob(text, recursive=True) if os.path.isfile(p))
            if not matches:
                raise InputError(f"{text}: the pattern matches no file")
            out.extend(matches)
        elif path.is_dir():
            if _claimed_folder(path, spec):
                out.append(path)
                continue
            known = readers.known_extensions()
            files = sorted(p for p in path.rglob("*") if p.name.lower().endswith(known) and p.is_file())
            if not files:
                raise InputError(f"{path}: the directory holds no label file",
                                 hint="pass the files, or a glob such as 'masks/*.png'")
            out.extend(files)
        elif not path.exists():
            raise InputError(f"{path}: no such file or directory")
        else:
            out.append(_regular(path))
    if not out:
        raise UsageError("no input given", hint="bceweights compute LABELS... (a file, directory or glob)")
    return out


def _expand_url(text: str, spec: InputSpec) -> list[Path]:
    """A URL's objects: a glob or a prefix listed by the store, a prefix that a reader takes as a
    whole kept as one input."""
    from . import locations, readers

    address = locations.url(text)
    assert address is not None
    found = locations.expand(address, ())
    if isinstance(found, list):
        return list(found)
    if found.is_dir():
        if _claimed_folder(found, spec):
            return [found]
        found = locations.expand(address, readers.known_extensions())
        assert isinstance(found, list)
        return list(found)
    return [found]


def _claimed_folder(path: Path, spec: InputSpec) -> bool:
    from . import readers

    if spec.format:
        return readers.get(spec.format).claims_folder(path, spec)
    return any(reader.claims_folder(path, spec) for reader in readers.readers().values())


def _regular(path: Path) -> Path:
    """``path``, if it is a regular file (opening a FIFO would block, a device never end)."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise InputError(f"{path}: cannot read the file ({exc.strerror})") from None
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        raise InputError(f"{path}: not a regular file (a FIFO, socket or device); label files are read whole")
    return path


def local_path(text: str) -> str:
    """A ``file://`` URL as a local path; anything else unchanged (a URL of a store is read by
    :mod:`bceweights.locations`), but a scheme no installed file system reads (exit 2)."""
    from . import locations

    scheme = locations.scheme_of(text)
    if scheme is None:  # a path (C:// is a drive, not a scheme)
        return text
    if scheme == "file":
        from urllib.parse import unquote, urlparse

        return unquote(urlparse(text).path)
    if scheme not in locations.remote_schemes():
        raise UsageError(
            f"{text}: {scheme}:// is not a kind of location bceweights reads",
            hint="give local paths, file:// URLs, or s3://, gs://, az://, https:// or hf:// URLs "
            '(pip install "bceweights[cloud]")',
        )
    return text


# ------------------------------------------------------------------------------------------- readers


@dataclass
class Group:
    """Inputs read by one reader (readers of one family, such as PNG and NIfTI masks, share a group)."""

    reader: Reader
    files: list[Path]


def group_by_reader(files: Sequence[Path], spec: InputSpec) -> list[Group]:
    """The inputs by reader, in first-seen order; every input of a run must be of one kind."""
    from . import readers

    groups: dict[str, Group] = {}
    for path in files:
        reader = readers.resolve(path, spec)
        group = groups.get(reader.group())
        if group is None:
            groups[reader.group()] = Group(reader, [path])
        else:
            group.files.append(path)
    kinds = {g.reader.kind for g in groups.values()}
    if len(kinds) > 1:
        raise InputError(
            f"the inputs mix {' and '.join(sorted(kinds))} files; count one kind of labels at a time"
        )
    return list(groups.values())


def check_options(groups: Sequence[Group], spec: InputSpec) -> None:
    """Refuse (exit 2) an option that no reader of the run reads: it would be silently ignored."""
    from .spec import COMMON_OPTIONS

    read = set(COMMON_OPTIONS).union(*(g.reader.options for g in groups))
    unread = {name: flag for name, flag in spec.given().items() if name not in read}
    if not unread:
        return
    names = sorted(set(unread.values()))
    flags = " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
    which = " and ".join(dict.fromkeys(g.reader.name for g in groups))
    kind = _KIND_WORDS.get(groups[0].reader.kind, groups[0].reader.kind)
    one = len(names) == 1
    raise UsageError(f"{flags} {'does' if one else 'do'} not apply to {which} input ({kind}); "
                     f"drop {'it' if one else 'them'}",
                     hint="bceweights compute --help says which options each kind of input reads")


_KIND_WORDS = {"table": "a label table", "array": "a multi-hot array", "mask": "segmentation masks",
               "annotation": "annotation files"}


# -------------------------------------------------------------------------------------------- file lists

def files_from_list(paths: Sequence[str | Path], spec: InputSpec) -> list[Path]:
    """The mask files named by ``spec.file_list``, one per line, looked up under ``spec.root`` and then
    the LABELS folders (default: the list's folder).

    A line is a path, or an id without extension (VOC: ``2007_000032`` → ``<root>/**/2007_000032.png``),
    or "image mask" pairs (CamVid): the last field is the mask. A path that does not exist as written
    (lists often hold the paths of the machine they were made on, e.g. ``/SegNet/CamVid/trainannot/x.png``)
    is looked up by its longest tail that exists under a root (``<root>/trainannot/x.png``).
    """
    file_list = Path(spec.file_list)
    roots: list[Path] = []
    if spec.root is not None:
        if not Path(spec.root).is_dir():
            raise UsageError(f"--root {spec.root}: no such folder")
        roots.append(Path(spec.root))
    for raw in paths:
        path = Path(raw)
        if spec.root is not None and not path.is_absolute() and not path.exists():
            path = Path(spec.root) / path
        if not path.is_dir():
            raise OptionsError(f"{raw}: with --file-list, LABELS are the folders that hold the masks",
                               hint="e.g. bceweights compute VOC2012/SegmentationClass --file-list train.txt")
        roots.append(path)
    if not roots:
        roots.append(file_list.parent)
    try:
        lines = file_list.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{file_list}: cannot read the file list ({exc})") from None
    finder = _Finder(roots)
    out: list[Path] = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        found = finder.find(text) or finder.find(text.split()[-1])
        if found is None:
            raise InputError(
                f"{file_list}: line {number}: {text.split()[-1]!r} is not found under "
                f"{', '.join(str(r) for r in roots)}",
                hint="point --root (or LABELS) at the folder that holds the masks",
            )
        out.append(found)
    if not out:
        raise InputError(f"{file_list}: the file list names no file")
    return out


class _Finder:
    def __init__(self, roots: list[Path]) -> None:
        self.roots = roots
        self._index: list[dict[str, list[Path]]] | None = None

    def find(self, entry: str) -> Path | None:
        path = Path(entry)
        if path.is_absolute() and path.is_file():
            return path
        parts = [p for p in path.parts if p not in (path.anchor, "", ".")]
        has_ext = path.name.lower().endswith(_mask_extensions())
        for root in self.roots:
            if has_ext or path.suffix:
                for i in range(len(parts)):
                    candidate = root.joinpath(*parts[i:])
                    if candidate.is_file():
                        return candidate
        if has_ext or not parts:
            return None
        # An id (or an image path whose mask has the same stem): look it up among the masks.
        stem = path.name.split(".")[0] if path.suffix else path.name
        for root, index in zip(self.roots, self._indices()):
            hits = index.get(stem, [])
            if len(hits) > 1:
                raise InputError(
                    f"{entry!r} matches several masks under {root}: {hits[0]} and {hits[1]}",
                    hint="point --root at the one folder that holds the masks (e.g. VOC2012/SegmentationClass)",
                )
            if hits:
                return hits[0]
        return None

    def _indices(self) -> list[dict[str, list[Path]]]:
        if self._index is None:
            self._index = []
            for root in self.roots:
                index: dict[str, list[Path]] = {}
                for p in sorted(root.rglob("*")):
                    name = p.name.lower()
                    if name.endswith(_mask_extensions()) and p.is_file():
                        stem = p.name[: -len(".nii.gz")] if name.endswith(".nii.gz") else p.stem
                        index.setdefault(stem, []).append(p)
                self._index.append(index)
        return self._index


def _mask_extensions() -> tuple[str, ...]:
    """The endings of mask files: what a list entry without extension (an id) is looked up as."""
    from . import readers

    return tuple(dict.fromkeys(ext for reader in readers.readers().values() if reader.kind == "mask"
                               for ext in reader.extensions))
