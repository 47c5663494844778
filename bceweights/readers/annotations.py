"""What the annotation readers (COCO JSON, Pascal VOC, YOLO) share.

An annotation format labels *images*: one sample per image, a class is positive in an image that holds
an object of it and negative in one that does not (negatives per class: an image without any object is
a negative of every class). Some objects say less: a VOC ``difficult`` object, a COCO crowd region
under ``--no-crowd``, a class LVIS marks as not exhaustively annotated. Such an (image, class) pair
counts as neither (NaN in the label batch), never as a negative.

:class:`FileSetReader` is the base of the formats that keep one small file per image (VOC XML, YOLO
``.txt``): an input is a folder of them or single files; the local engine parses them in groups in
worker processes, Dask in groups on the cluster, and :meth:`FileSetReader.finish` puts the classes in
their settled order (the classes file's, else the format's natural order) whatever the partitions met.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..counts import Counts
from ..errors import InputError, UsageError
from ..locations import as_path, is_url, size
from ..spec import InputSpec
from .base import Finished, LabelBatch, Partition, Plan, PlanHints, Progress, Reader

#: Rows per label batch (fewer when the classes are many: a dense batch holds at most BATCH_ELEMENTS).
BATCH_ROWS = 4096
BATCH_ELEMENTS = 1 << 24
#: Files per partition on the local engine (its workers parse groups of files) and at most on Dask.
GROUP_FILES = 1024
MAX_FILES = 2000


def batch_rows(num_classes: int) -> int:
    return max(1, min(BATCH_ROWS, BATCH_ELEMENTS // max(1, num_classes)))


def label_block(n: int, num_classes: int, pos_rows, pos_cols, ignored_rows=(), ignored_cols=(),
                unknown_rows=(), neg_rows=(), neg_cols=()) -> np.ndarray:
    """An ``[n, C]`` label block: 1 at the positive (row, class) pairs, NaN at the ignored ones, 0
    elsewhere; a row of ``unknown_rows`` starts at NaN (only ``neg`` pairs are negatives there). uint8
    when nothing is ignored (the fast path of :class:`~bceweights.counts.Counts`), else float32."""
    if not len(ignored_rows) and not len(unknown_rows):
        block = np.zeros((n, num_classes), dtype=np.uint8)
        block[pos_rows, pos_cols] = 1
        return block
    block = np.zeros((n, num_classes), dtype=np.float32)
    block[np.asarray(unknown_rows, dtype=np.int64)] = np.nan
    block[neg_rows, neg_cols] = 0
    block[ignored_rows, ignored_cols] = np.nan
    block[pos_rows, pos_cols] = 1
    return block


class AnnotationReader(Reader):
    """Base of the annotation readers: one sample per image."""

    kind = "annotation"


# ----------------------------------------------------------------------------------- one file per image


@dataclass
class Sample:
    """One image's labels: the classes with an object (``positive``) and those that count as neither
    (``ignored``, e.g. difficult-only); ``id`` names the image; ``notes`` what the user should know."""

    id: str
    positive: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


class FileSetReader(AnnotationReader):
    """Formats of one small file per image, read from a folder (every ``suffix`` file under it, in
    sorted order) or given file by file.

    Subclasses implement :meth:`parse` (one file to a :class:`Sample`, or None for a file of another
    kind, skipped with a note) and :meth:`fixed_classes` / :meth:`natural_order`.
    """

    parallel = "process"
    unit = "files"
    progress_label = "reading annotations"
    #: The ending of the per-image files.
    suffix: ClassVar[str] = ""

    # -- what a subclass provides ---------------------------------------------------------------------

    def parse(self, path: str, spec: InputSpec, base: str) -> Sample | None:
        """The labels of one file; ``base`` is the input it was found under (ids are relative to it).
        Paths are strings: a Path per file costs more than parsing a YOLO file."""
        raise NotImplementedError

    def fixed_classes(self, spec: InputSpec) -> list[str] | None:
        """The classes, in order, when known before reading (a classes file); None: as met."""
        return None

    def natural_order(self, names: Sequence[str]) -> list[str]:
        """The order of classes met in the files when no classes file gives one."""
        return sorted(names)

    def members(self, path: Path, spec: InputSpec) -> list[str]:
        """The per-image files of an input: a folder's ``suffix`` files (sorted by relative path), or
        the file itself."""
        base = str(path)
        if not (as_path(path).is_dir() if is_url(base) else os.path.isdir(base)):
            return [base]
        return ["/".join((base.rstrip("/"), *rel)) if is_url(base) else os.path.join(base, *rel)
                for rel in sorted(_walk(base, self.suffix))]

    def skipped_note(self, path: str) -> str:
        return f"skipped {path}: not a {self.name} label file"

    # -- the contract ---------------------------------------------------------------------------------

    def plan(self, files: Sequence[Path], spec: InputSpec, hints: PlanHints) -> Plan:
        """Groups of consecutive per-image files: about :data:`GROUP_FILES` locally (fewer when that
        leaves a worker idle), up to ``hints.block`` bytes and :data:`MAX_FILES` files on Dask. A
        partition's ``part`` is, per file, (its input, its 1-based number in that input); an input
        :meth:`whole` is read as one partition (``part`` None)."""
        self.fixed_classes(spec)  # a bad classes file fails before any work
        out: list[Partition] = []
        entries: list[tuple[str, str, int]] = []

        def flush() -> None:
            if entries:
                out.extend(self._groups(entries, hints))
                entries.clear()

        for path in map(Path, files):
            if self.whole(path, spec):
                flush()  # inputs keep their place in the merge order
                out.append(Partition(self.name, (str(path),), size=1))
                continue
            members = self.members(path, spec)
            if not members:
                raise InputError(f"{path}: holds no {self.suffix} file")
            entries.extend((m, str(path), number) for number, m in enumerate(members, start=1))
        flush()
        return Plan(out, spec)

    def _groups(self, entries: list[tuple[str, str, int]], hints: PlanHints) -> list[Partition]:
        groups: list[list[tuple[str, str, int]]] = []
        if hints.split:
            size = 0
            for entry in entries:
                if not groups or size >= hints.block or len(groups[-1]) >= MAX_FILES:
                    groups.append([])
                    size = 0
                groups[-1].append(entry)
                size += _bytes(entry[0])
        else:
            per = max(1, min(GROUP_FILES, -(-len(entries) // (max(1, hints.workers) * 4))))
            groups = [entries[i:i + per] for i in range(0, len(entries), per)]
        return [Partition(self.name, tuple(e[0] for e in g), size=len(g), part=tuple((e[1], e[2]) for e in g))
                for g in groups]

    def whole(self, path: Path, spec: InputSpec) -> bool:
        """Whether the input ``path`` is read as a whole, by :meth:`rows` (VOC's per-class lists), not
        file by file."""
        return False

    def count(self, partition: Partition, spec: InputSpec, progress: Progress | None = None) -> Counts | None:
        """The counts of the partition's files, over the classes they meet (the classes file's when
        given); :meth:`finish` orders them."""
        if partition.part is None:
            return self._count_whole(as_path(partition.paths[0]), spec, progress)
        fixed = self.fixed_classes(spec)
        samples: list[Sample] = []
        notes: list[str] = []
        for member, (base, _) in zip(partition.paths, partition.part):
            sample = self.parse(member, spec, base)
            if sample is None:
                notes.append(self.skipped_note(member))
            else:
                samples.append(sample)
        if progress is not None:
            progress(len(partition.paths))
        if not samples:
            counts = Counts(fixed or [], notes=notes)
            if spec.cooccurrence:
                counts.track_cooccurrence()  # a partial without pairs would drop everyone's in the merge
            return counts
        block, classes = _block(samples, fixed)
        counts = Counts(classes, notes=notes)
        if spec.cooccurrence:
            counts.track_cooccurrence()
        counts.update(block)
        return counts

    def _count_whole(self, path: Path, spec: InputSpec, progress: Progress | None) -> Counts:
        counts = Counts([])
        if spec.cooccurrence:
            counts.track_cooccurrence()
        for batch in self.rows(path, spec):
            counts.add_batch(batch)
        if progress is not None:
            progress(1)
        return counts

    def finish(self, partial: Counts, spec: InputSpec) -> Finished:
        fixed = self.fixed_classes(spec)
        order = fixed if fixed is not None else self.natural_order(partial.classes)
        if not order:
            raise InputError(f"the {self.name} labels name no class: no image holds an object",
                             hint="pass --classes-file to name the classes (each then has no positive)")
        partial.extend_classes(order)
        return Finished(partial.reorder(order), spec)

    def rows(self, path: Path, spec: InputSpec, *, classes: Sequence[str] | None = None,
             id_column: str | None = None) -> Iterator[LabelBatch]:
        """The images of one input in order (its files sorted by relative path), as label batches over
        ``classes`` (else the classes file's, else the classes each batch meets); ids with
        ``id_column``."""
        path = as_path(path)
        if id_column not in (None, "auto", self.id_name):
            raise UsageError(f"--id-column {id_column}: {self.name} labels give the {self.id_name} of each "
                             "image", hint=f"pass --id-column {self.id_name}, or none")
        if self.whole(path, spec):
            yield from self.rows_whole(path, spec, classes=classes, id_column=id_column)
            return
        fixed = list(classes) if classes is not None else self.fixed_classes(spec)
        members = self.members(path, spec)
        per = batch_rows(len(fixed) if fixed else 64)
        samples: list[Sample] = []
        numbers: list[int] = []
        notes: list[str] = []
        base = str(path)
        for number, member in enumerate(members, start=1):
            sample = self.parse(member, spec, base)
            if sample is None:
                notes.append(self.skipped_note(member))
                continue
            samples.append(sample)
            numbers.append(number)
            if len(samples) == per:
                yield self._batch(samples, numbers, fixed, notes, id_column, path)
                samples, numbers, notes = [], [], []
        if samples:
            yield self._batch(samples, numbers, fixed, notes, id_column, path)

    def rows_whole(self, path: Path, spec: InputSpec, *, classes: Sequence[str] | None = None,
                   id_column: str | None = None) -> Iterator[LabelBatch]:
        """The label rows of an input read whole (see :meth:`whole`)."""
        raise NotImplementedError

    def _batch(self, samples, numbers, fixed, notes, id_column, path) -> LabelBatch:
        block, classes = _block(samples, fixed, path)
        return LabelBatch(block, classes, np.asarray(numbers, dtype=np.int64), notes=tuple(notes),
                          ids=[s.id for s in samples] if id_column is not None else None,
                          id_name=self.id_name)

    #: What the ids of :meth:`rows` are, for the per-sample file's meta.
    id_name: ClassVar[str] = "file"


def _block(samples: Sequence[Sample], fixed: Sequence[str] | None, where: Path | None = None
           ) -> tuple[np.ndarray, list[str]]:
    """The label block of parsed samples and its classes (``fixed``, else the sorted names met)."""
    if fixed is None:
        classes = sorted({c for s in samples for c in (*s.positive, *s.ignored)})
    else:
        classes = list(fixed)
    index = {c: i for i, c in enumerate(classes)}
    pos_rows, pos_cols, ign_rows, ign_cols = [], [], [], []
    try:
        for row, sample in enumerate(samples):
            for name in sample.positive:
                pos_rows.append(row)
                pos_cols.append(index[name])
            for name in sample.ignored:
                ign_rows.append(row)
                ign_cols.append(index[name])
    except KeyError as exc:
        # A class the count did not meet: the files changed between the passes.
        raise InputError(f"{where or 'the annotations'}: class {exc.args[0]!r} was not there when the "
                         "labels were counted; did the files change?") from None
    block = label_block(len(samples), len(classes), pos_rows, pos_cols, ign_rows, ign_cols)
    return block, classes


def _walk(folder: str, suffix: str, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The relative paths (as tuples of names, which sort as the paths do) of the regular files under
    ``folder`` whose names end with ``suffix`` (os.scandir: one stat a file at most; a URL's prefix is
    listed by its store)."""
    if is_url(folder):
        from ..locations import expand, url

        address = url(folder).rstrip("/") + "/"
        found = expand(address, (suffix,))
        for path in found if isinstance(found, list) else [found]:
            relative = str(path)[len(address):]
            if relative:
                yield (*prefix, *relative.split("/"))
        return
    try:
        entries = list(os.scandir(folder))
    except OSError as exc:
        raise InputError(f"{folder}: cannot list the folder ({exc.strerror})") from None
    for entry in entries:
        if entry.is_dir(follow_symlinks=True):
            yield from _walk(entry.path, suffix, (*prefix, entry.name))
        elif entry.name.lower().endswith(suffix) and entry.is_file(follow_symlinks=True):
            yield (*prefix, entry.name)


def _bytes(path: str) -> int:
    try:
        return size(path)
    except (OSError, InputError):
        return 0
