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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InputError, MissingPathError, OptionsError, UsageError

if TYPE_CHECKING:
    from .readers.base import Reader
    from .spec import InputSpec


def expand_paths(paths: str | Path | Sequence[str | Path], spec: InputSpec, *,
                 outputs: Sequence[tuple[str, str | Path]] = ()) -> list[Path]:
    """Expand globs, folders and ``--file-list`` (one path or a sequence) into the inputs to read
    (:func:`gather` without its notes and warnings)."""
    return gather(paths, spec, outputs=outputs).files


@dataclass
class Inputs:
    """The files a run reads, and what the expansion has to say: ``notes`` (files a folder or glob
    held that were skipped) for the report, ``warnings`` (an input given twice) for stderr."""

    files: list[Path]
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def gather(paths: str | Path | Sequence[str | Path], spec: InputSpec, *,
           outputs: Sequence[tuple[str, str | Path]] = ()) -> Inputs:
    """Expand globs, folders and ``--file-list`` into the inputs to read, each file once.

    ``outputs`` are the run's own output files as ``(flag, path)``. One named as an input is refused
    (exit 2: it would be overwritten); one that a folder or glob holds among files of another kind
    (``masks/weights.pt`` from an earlier run) is skipped with a note, but one of its neighbours' kind,
    or named by a file list, may be labels: refused too. A folder holding files of several kinds
    (masks and a ``README.txt``) is read as its most common kind, the others skipped with a note. A
    file given twice (the same inode, by any path or link) is read once, with a warning naming it.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    own = _identities(outputs)
    found = _Found(own)
    if spec.file_list is not None:
        found.add_listed(str(spec.file_list), [_regular(p) for p in files_from_list(paths, spec)], spec)
        return found.inputs()
    if spec.root is not None:
        raise UsageError("--root is where --file-list entries are looked up; it needs --file-list")
    from . import locations

    for raw in paths:
        text = local_path(raw if isinstance(raw, str) else os.fspath(raw))
        if locations.is_url(text):
            found.add_many(text, _expand_url(text, spec), spec)
            continue
        path = Path(text)
        if not path.exists() and any(ch in text for ch in "*?["):
            # os.path.isfile on the strings: one Path per match, not two (10,000 masks: 0.14 → 0.04 s)
            matches = sorted(Path(p) for p in glob.glob(text, recursive=True) if os.path.isfile(p))
            if not matches:
                raise MissingPathError(f"{text}: the pattern matches no file")
            found.add_many(text, matches, spec)
        elif path.is_dir():
            if _claimed_folder(path, spec):
                found.add(path)
                continue
            files = found.add_folder(path, spec)
            if not files:
                raise InputError(f"{path}: the directory holds no label file",
                                 hint="pass the files, or a glob such as 'masks/*.png'")
        elif not path.exists():
            raise MissingPathError(f"{path}: no such file or directory")
        else:
            found.add(_regular(path), explicit=True)
    if not found.files:
        raise UsageError("no input given", hint="bceweights compute LABELS... (a file, directory or glob)")
    return found.inputs()


def _identity(path: str | Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _identities(outputs: Sequence[tuple[str, str | Path]]) -> dict[tuple[int, int], tuple[str, str]]:
    """The existing regular files among ``outputs``, by inode: (flag, path)."""
    own: dict[tuple[int, int], tuple[str, str]] = {}
    for flag, path in outputs:
        if path is None or str(path) == "-":
            continue
        try:
            st = os.stat(path)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            own.setdefault((st.st_dev, st.st_ino), (flag, str(path)))
    return own


class _Found:
    """The inputs in order, each inode once, with the notes and warnings of their expansion."""

    def __init__(self, own: dict[tuple[int, int], tuple[str, str]]) -> None:
        self.own = own
        self.files: list[Path] = []
        self.seen: dict[tuple[int, int], Path] = {}
        self.twice: dict[Path, list[Path]] = {}
        self.notes: list[str] = []

    def add(self, path: Path, *, explicit: bool = False, key: tuple[int, int] | None = None) -> bool:
        key = key or _identity(path)
        if key is not None and key in self.own and explicit:
            flag, out = self.own[key]
            what = "also an input of this run" if out == str(path) else f"the same file as the input {path}"
            raise UsageError(f"{flag} {out}: is {what}; writing it would destroy the labels",
                             hint="choose another output path")
        if key is not None and key in self.seen:
            self.twice.setdefault(self.seen[key], []).append(path)
            return False
        if key is not None:
            self.seen[key] = path
        self.files.append(path)
        return True

    def add_many(self, origin: str, paths: Sequence[Path], spec: InputSpec) -> list[Path]:
        """Files a glob named: an earlier output of this run among them is skipped (see
        :meth:`_not_own`)."""
        keyed = [(p, _identity(p)) for p in paths]
        return [p for p, k in self._not_own(origin, keyed, spec) if self.add(p, key=k)]

    def _not_own(self, origin: str, keyed: list[tuple[Path, tuple[int, int] | None]], spec: InputSpec,
                 *, listed: bool = False) -> list[tuple[Path, tuple[int, int] | None]]:
        """``keyed`` without the run's outputs. An output among files of another kind (a
        ``weights.pt`` of an earlier run among masks) is skipped with a note; one of the same kind as
        its neighbours, or named by a file list, may be labels: writing it is refused."""
        own = [(p, k) for p, k in keyed if k in self.own]
        if not own:
            return keyed
        rest = [(p, k) for p, k in keyed if k not in self.own]
        kinds = _kinds([p for p, _ in rest], spec)
        for path, key in own:
            if listed or not rest or _kind(path, spec) in kinds:
                flag, out = self.own[key]
                how = "listed in" if listed else "matched by" if any(c in origin for c in "*?[") else "in"
                raise UsageError(f"{flag} {out}: is also an input of this run ({how} {origin}); writing it "
                                 "would destroy it", hint="choose another output path")
        skipped = [p for p, _ in own]
        self.notes.append(f"{origin}: skipped {_some(skipped)}: "
                          f"{'an output' if len(skipped) == 1 else 'outputs'} of this run")
        return rest

    def add_listed(self, origin: str, paths: Sequence[Path], spec: InputSpec) -> None:
        """The files of a ``--file-list``, as many times as listed: a list defines the training set
        as a loader reading it sees it, a line twice included (said in a note)."""
        keyed = self._not_own(origin, [(p, _identity(p)) for p in paths], spec, listed=True)
        times: dict[object, int] = {}
        for p, k in keyed:
            self.files.append(p)
            times[k] = times.get(k, 0) + 1
        again = list(dict.fromkeys(p.name for p, k in keyed if times[k] > 1))
        if again:
            self.notes.append(f"{origin}: lists {_some([Path(n) for n in again])} more than once; counted "
                              "as often as listed, as a loader reading the list sees them")

    def add_folder(self, folder: Path, spec: InputSpec) -> list[Path]:
        from . import readers

        known = readers.known_extensions()
        files = []
        # Sorted as Paths sort (by parts), without 120,000 Path comparisons for 10,000 files.
        for p in sorted(folder.rglob("*"), key=lambda p: p.parts):
            if p.name.lower().endswith(known):
                with _suppress_os_error():
                    st = os.stat(p)
                    if stat.S_ISREG(st.st_mode):
                        files.append((p, (st.st_dev, st.st_ino)))
        kept = _one_kind(folder, self._not_own(str(folder), files, spec), spec, self.notes)
        return [p for p, k in kept if self.add(p, key=k)]

    def inputs(self) -> Inputs:
        warnings = []
        for first, again in self.twice.items():
            names = list(dict.fromkeys(str(p) for p in [first, *again]))
            shown = "" if len(names) == 1 else f" (as {', '.join(names[:-1])} and {names[-1]})"
            warnings.append(f"{first}: the same file is given {_times(len(again) + 1)}{shown}; counted once")
        return Inputs(self.files, self.notes, warnings)


def _times(n: int) -> str:
    return {2: "twice", 3: "three times"}.get(n, f"{n} times")


def _suppress_os_error():
    import contextlib

    return contextlib.suppress(OSError)


def _some(paths: Sequence[Path], shown: int = 5) -> str:
    names = [p.name for p in paths[:shown]]
    more = f" and {len(paths) - shown:,} more" if len(paths) > shown else ""
    return ", ".join(names) + more


def _kind(path: Path, spec: InputSpec) -> str | None:
    from . import readers
    from .errors import BceWeightsError

    try:
        return readers.resolve(path, spec).kind
    except BceWeightsError:
        return None


def _kinds(paths: Sequence[Path], spec: InputSpec) -> set[str | None]:
    """The kinds of labels among ``paths``, one file looked at per file type."""
    one_each = {_ending(p.name): p for p in paths}
    return {_kind(p, spec) for p in one_each.values()}


def _ending(name: str) -> str:
    """The file type part of a name: ``.png``, ``.nii.gz``, ``.csv.bz2``."""
    stem, ext = os.path.splitext(name.lower())
    return os.path.splitext(stem)[1] + ext if ext in (".gz", ".bz2", ".xz", ".zst") else ext


def _one_kind(folder: Path, keyed: list[tuple[Path, Any]], spec: InputSpec, notes: list[str]
              ) -> list[tuple[Path, Any]]:
    """The files of the folder's most common kind of labels (a mask folder's ``README.txt`` or
    ``weights.pt`` are not masks); the others are named in a note. A folder of one file type is
    taken as it is, without a look at each file. Items are ``(path, anything)``."""
    from . import readers

    if len({_ending(p.name) for p, _ in keyed}) < 2:
        return keyed
    kinds = [readers.resolve(p, spec).kind for p, _ in keyed]
    tally: dict[str, int] = {}
    for kind in kinds:
        tally[kind] = tally.get(kind, 0) + 1
    ranked = sorted(tally.items(), key=lambda item: -item[1])
    if len(ranked) < 2 or ranked[0][1] == ranked[1][1]:
        return keyed  # one kind, or no majority: group_by_reader says what is mixed
    kind = ranked[0][0]
    others = [p for (p, _), k in zip(keyed, kinds) if k != kind]
    notes.append(f"{folder}: skipped {_some(others)}: not {_KIND_PLURAL.get(kind, kind + ' files')} like "
                 f"the other {ranked[0][1]:,} files")
    return [item for item, k in zip(keyed, kinds) if k == kind]


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
        if spec.classes_file is not None and not Path(spec.classes_file).exists():
            raise MissingPathError(f"--classes-file {spec.classes_file}: no such file")
        return
    names = sorted(set(unread.values()))
    flags = " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
    which = " and ".join(dict.fromkeys(g.reader.name for g in groups))
    kind = _KIND_WORDS.get(groups[0].reader.kind, groups[0].reader.kind)
    one = len(names) == 1
    raise UsageError(f"{flags} {'does' if one else 'do'} not apply to {which} input ({kind}); "
                     f"drop {'it' if one else 'them'}",
                     hint="bceweights compute --help says which options each kind of input reads")


_KIND_PLURAL = {"table": "label tables", "array": "multi-hot arrays", "mask": "segmentation masks",
                "annotation": "annotation files"}

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
    if not file_list.exists():
        raise MissingPathError(f"--file-list {file_list}: no such file")
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
