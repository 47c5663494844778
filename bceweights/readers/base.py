"""The reader contract: what a label format provides so that every engine, the loss checks and the
per-sample pass can use it without knowing its insides.

A reader is one class (usually one module) registered in the ``bceweights.readers`` entry-point group.
It declares:

* ``name``, ``extensions``, ``kind`` and ``description``; :meth:`Reader.sniff` recognises its files by
  their first bytes, :meth:`Reader.claims` settles an extension two readers share, and
  :meth:`Reader.claims_folder` takes a whole folder as one input (a dataset saved as a folder);
* ``options``: the :class:`~bceweights.spec.InputSpec` fields it reads. An option that no reader of a run
  reads is refused (exit 2) instead of being silently ignored.

and it counts in four steps that any engine can schedule:

1. :meth:`Reader.plan` splits the files into :class:`Partition` s (byte ranges, row groups, runs of
   samples, groups of files), small picklable descriptions, and settles from the files' heads what every
   partition must read the same way (detected label columns, a guessed separator): the returned
   :class:`Plan` carries those decisions in its ``spec``;
2. :meth:`Reader.count` counts one partition into a *partial*: anything with ``merge(other)`` that adds
   (a :class:`~bceweights.counts.Counts`, or the reader's own, such as a mask histogram);
3. the engine adds the partials (in partition order, in a process pool or on a Dask cluster);
4. :meth:`Reader.finish` turns the sum into :class:`~bceweights.counts.Counts`, settling what needs the
   whole set (the auto mask mode), and returns the spec with those decisions made explicit.

The checks read a target batch with :meth:`Reader.sample_targets`, and per-sample weights enumerate
rows with :meth:`Reader.rows`, both given the settled spec, so they read the labels exactly as the count
did. A reader that yields label rows only needs :meth:`Reader.rows`: the default :meth:`Reader.count`
and :meth:`Reader.sample_targets` are built on it. ``docs/readers.md`` shows a complete small reader.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from ..locations import as_path

if TYPE_CHECKING:
    import numpy as np

    from ..counts import Counts
    from ..spec import InputSpec

#: Called with the amount of work done since the last call (bytes, files ... see ``Reader.unit``), and
#: optionally running totals for the display as keywords (``pixels=`` for masks).
Progress = Callable[..., None]

#: What the checks may hold of a target batch (float32 elements, N·C·spatial); see ``sample_targets``.
TARGET_BUDGET = 250_000


class Partial(Protocol):
    """A reader's partial result: adding another one into it is all an engine does with it."""

    def merge(self, other: Any) -> Any: ...


@dataclass
class LabelBatch:
    """A batch of label rows in file order.

    ``labels``: ``[n, C]`` in [0, 1] with NaN for an ignored value (or 0/1 integers), or a
    :class:`~bceweights.counts.SparseLabels` when the classes are many; ``classes`` names its columns
    (label lists meet classes as they go, so a later batch may have more); ``rows``: each row's
    1-based number in its file (its line for text files); ``done``: the bytes of the file read so far;
    ``missing`` / ``uncertain``: per-class blanks and -1 values in the batch (for the report); ``notes``:
    what the reader decided that the user should know; ``ids``: each row's sample id (an image name),
    when the format has them, and ``id_name`` where they come from.
    """

    labels: Any
    classes: list[str]
    rows: np.ndarray
    done: int = 0
    missing: np.ndarray | None = None
    uncertain: np.ndarray | None = None
    notes: tuple[str, ...] = ()
    ids: Sequence[str] | None = None
    id_name: str | None = None


@dataclass(frozen=True)
class Partition:
    """A unit of counting work: cheap to pickle, reads only its own part of the data.

    ``part`` is the reader's own locator (plain values: a byte range, row-group numbers, a sample run);
    ``context`` what the planner settled for this file (plain values, e.g. the header's column names);
    ``label`` says which part of a file it is, for messages (``"block 3 of 8: rows in bytes ..."``);
    ``size`` is its share of the work in the reader's ``unit`` (for progress and scheduling).
    """

    reader: str
    paths: tuple[str, ...]
    size: float = 0
    part: Any = None
    context: Any = None
    label: str = ""

    def where(self) -> str:
        """The data a partition covers, for error messages."""
        if len(self.paths) == 1:
            return f"{self.paths[0]} ({self.label})" if self.label else self.paths[0]
        return f"{self.paths[0]} … {self.paths[-1]} ({len(self.paths)} files)"


@dataclass(frozen=True)
class PlanHints:
    """What an engine asks of a plan. ``split``: whether parts of one file may be counted apart (the
    Dask engine spreads them over a cluster; the local engine streams a file whole); ``block``: the
    bytes of input a partition should hold at most; ``workers``: how many run at once."""

    split: bool = False
    block: int = 64 << 20
    workers: int = 1


@dataclass
class Plan:
    """The partitions, in merge order, and the spec every partition reads with."""

    partitions: list[Partition]
    spec: InputSpec


@dataclass
class Finished:
    """The counts of a whole input set, and the spec with what the reader decided made explicit, so the
    checks and the per-sample pass read the labels the way the count did."""

    counts: Counts
    spec: InputSpec


@dataclass
class TargetSample:
    """A real target batch ``[N, C, *spatial]`` (float32, NaN where ignored), its class names and where
    it came from, in words."""

    values: np.ndarray
    classes: list[str]
    source: str = ""


@dataclass
class SameClasses:
    """A partial of counts whose parts must all hold the same classes in the same order (wide tables,
    arrays: a difference is a mistake, not new classes). ``source`` names the first file it covers and
    ``kind`` (``table`` or ``array``) picks the words of the error."""

    counts: Counts
    source: str
    kind: str = "table"

    def merge(self, other: SameClasses) -> SameClasses:
        from ..counts import merge_same_classes

        merge_same_classes(self.counts, other.counts, path=other.source, first=self.source, kind=self.kind)
        return self


class Reader:
    """Base class of every reader; see the module's text for the contract.

    Subclasses set the class attributes and implement :meth:`rows` (label rows), or :meth:`count` and
    :meth:`sample_targets` (formats that are not rows, such as masks).
    """

    #: The registry name, also ``--format NAME``.
    name: ClassVar[str] = ""
    #: File name endings, lower case, with the dot (``".csv.gz"``); the longest match wins.
    extensions: ClassVar[tuple[str, ...]] = ()
    #: ``table``, ``array``, ``mask`` or ``annotation``: inputs of one run are all of one kind.
    kind: ClassVar[str] = "table"
    description: ClassVar[str] = ""
    #: The InputSpec fields this reader reads (``format``, ``workers`` and the path options are common).
    options: ClassVar[frozenset[str]] = frozenset()
    #: Readers of one family count one set together (PNG, TIFF and NIfTI masks decide auto mode over all).
    family: ClassVar[str | None] = None
    #: ``process``: the local engine runs partitions in worker processes (CPU-bound decoding);
    #: ``inline``: in this process, one after another (the reader streams and uses threads itself).
    parallel: ClassVar[str] = "inline"
    #: What ``Partition.size`` and progress count: ``bytes`` or ``files``.
    unit: ClassVar[str] = "bytes"
    #: What the progress bar says while this reader counts.
    progress_label: ClassVar[str] = "counting"

    # -- dispatch -------------------------------------------------------------------------------------

    def claims(self, path: Path, spec: InputSpec) -> bool:
        """Whether this reader takes ``path`` among those whose extension matched (e.g. ``.npy`` are
        arrays unless ``--mask-mode`` says masks)."""
        return True

    def sniff(self, head: bytes, path: Path) -> float:
        """How surely ``head`` (the first bytes of the file, decompressed where the reader would) is this
        format: 0 not at all, 1 a magic number; the highest score wins when the name does not tell."""
        return 0.0

    def claims_folder(self, path: Path, spec: InputSpec) -> bool:
        """Whether this reader reads the folder ``path`` as one input (instead of its files)."""
        return False

    def group(self) -> str:
        """Readers with the same group count one set together (see ``family``)."""
        return self.family or self.name

    # -- counting -------------------------------------------------------------------------------------

    def plan(self, files: Sequence[Path], spec: InputSpec, hints: PlanHints) -> Plan:
        """Partitions of ``files``; by default one per file."""
        return Plan([Partition(self.name, (str(p),), size=_size(p)) for p in files], spec)

    def count(self, partition: Partition, spec: InputSpec, progress: Progress | None = None) -> Partial | None:
        """The partial counts of one partition (None: it holds no sample, e.g. a block of blank lines).

        The default counts :meth:`rows` into :class:`~bceweights.counts.Counts`, with co-occurrence when
        ``spec.cooccurrence``."""
        from ..counts import Counts

        counts = Counts([])
        if spec.cooccurrence:
            counts.track_cooccurrence()
        for path in partition.paths:
            add_batches(counts, self.rows(as_path(path), spec), progress)
        return counts

    def finish(self, partial: Any, spec: InputSpec) -> Finished:
        """Counts from the sum of every partition's partial (by default the partial is the counts)."""
        return Finished(partial, spec)

    def progress_fields(self, partial: Any) -> dict[str, float]:
        """Extra running totals for the progress display, from one partition's partial."""
        return {}

    # -- checks and per-sample weights ----------------------------------------------------------------

    def rows(self, path: Path, spec: InputSpec, *, classes: Sequence[str] | None = None,
             id_column: str | None = None) -> Iterator[LabelBatch]:
        """Stream the label rows of one file in order, as :class:`LabelBatch` es.

        ``classes`` fixes the class list where the reader meets classes as it goes (a label outside it
        is an error); ``id_column`` asks for each row's sample id (``"auto"``: the format's own, or one
        detected; None: no ids needed)."""
        from ..errors import OptionsError

        raise OptionsError(f"{path}: the {self.name} reader gives no label rows "
                           "(per-sample weights need a label per sample)")

    def sample_targets(self, files: Sequence[Path], spec: InputSpec, *, limit: int,
                       budget: int = TARGET_BUDGET) -> TargetSample:
        """A real target batch for the checks: at most ``limit`` samples and about ``budget`` elements,
        read with the settled ``spec``. The default takes the first rows of :meth:`rows`."""
        import numpy as np

        pieces: list[tuple[np.ndarray, list[str]]] = []
        taken = 0
        for path in map(Path, files):
            for batch in self.rows(path, spec):
                width = max(1, len(batch.classes))
                want = min(limit, max(1, budget // width)) - taken
                labels = _dense(batch.labels, len(batch.classes))[:want].astype(np.float32, copy=False)
                pieces.append((labels, list(batch.classes)))
                taken += len(labels)
                if taken >= min(limit, max(1, budget // width)):
                    break
            else:
                continue
            break
        names: list[str] = []
        for _, batch_classes in pieces:
            names.extend(c for c in batch_classes if c not in set(names))
        index = {c: i for i, c in enumerate(names)}
        out = np.zeros((taken, len(names)), dtype=np.float32)
        row = 0
        for labels, batch_classes in pieces:
            out[row:row + len(labels), [index[c] for c in batch_classes]] = labels
            row += len(labels)
        first = as_path(files[0]) if files else Path("?")
        more = f" (and {len(files) - 1} more files)" if len(files) > 1 else ""
        rows = "rows matching --where" if getattr(spec, "where", ()) else "rows"
        return TargetSample(out, names, f"first {taken:,} {rows} of {first}{more}")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def add_batches(counts: Counts, batches, progress: Progress | None = None) -> None:
    """Add a file's label batches into ``counts``, reporting the bytes each one advances; the batches
    are closed at once on any exception (Ctrl-C included), so a reader's threads end with the loop."""
    reported = 0
    with closing(batches) as items:
        for batch in items:
            counts.add_batch(batch)
            if progress is not None:
                progress(batch.done - reported)
                reported = batch.done


@contextlib.contextmanager
def closing(batches) -> Iterator:
    """Iterate ``batches`` and close it on leaving, whatever happens (a generator's ``finally`` then
    runs at once: a reader's thread or open file ends with the loop, not at garbage collection)."""
    iterator = iter(batches)
    try:
        yield iterator
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


def _dense(labels: Any, num_classes: int):
    """A batch's labels as a dense ``[n, C]`` array (sparse rows expanded; only for small samples)."""
    to_dense = getattr(labels, "to_dense", None)
    return to_dense() if to_dense is not None else labels


def _size(path: Path | str) -> int:
    try:
        from ..locations import size

        return size(path)
    except OSError:
        return 0
