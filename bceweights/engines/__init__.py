"""Engines decide where a reader's partitions are counted; every engine ends in the same sum.

:func:`count_paths` expands the inputs, picks a reader for each (``bceweights.readers``), refuses
options no reader reads, then for each reader group: plan the partitions, count them (``local``: in
this process or a worker pool; ``dask``: on a cluster), add the partials in partition order, finish.
Neither engine knows a reader's insides: they see partitions and partials that merge by addition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import InputError, UsageError
from ..spec import InputSpec

if TYPE_CHECKING:
    from ..counts import Counts
    from ..readers.base import Reader

ENGINES = ("local", "dask")


class ProgressSink(Protocol):
    """Where engines report progress: ``start`` once with a total, then ``advance``."""

    def start(self, total: float, unit: str, description: str) -> None: ...

    def advance(self, amount: float, **fields: float) -> None:
        """``fields``: extra running totals for the display, e.g. ``pixels=`` for masks (counted in
        files)."""
        ...


@dataclass
class CountedGroup:
    """The inputs one reader counted, and the spec with what it decided (see ``Reader.finish``)."""

    reader: Reader
    files: list[Path]
    spec: InputSpec


@dataclass
class Tally:
    """What :func:`count_paths` counted: the counts, the files read, the kind of labels, and per reader
    the files and the settled spec (the checks and the per-sample pass read the labels with it)."""

    counts: Counts
    files: list[Path]
    kind: str
    groups: list[CountedGroup]
    spec: InputSpec
    #: What the expansion of the inputs warns about (a file given twice), for stderr.
    warnings: list[str] = field(default_factory=list)

    def group_of(self, path: Path) -> CountedGroup:
        for group in self.groups:
            if path in group.files:
                return group
        raise KeyError(path)


def count_paths(
    paths: str | Path | Sequence[str | Path],
    spec: InputSpec | None = None,
    *,
    progress: ProgressSink | None = None,
    engine: str = "local",
    scheduler: Any = None,
    outputs: Sequence[tuple[str, str | Path]] = (),
) -> Tally:
    """Count every input with its reader on the chosen engine. ``outputs``: the run's own files as
    ``(flag, path)``, never read as inputs (see :func:`bceweights.inputs.gather`)."""
    from ..inputs import check_options, gather, group_by_reader

    spec = spec or InputSpec()
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}; choose local or dask")
    found = gather(paths, spec, outputs=outputs)
    files = found.files
    groups = group_by_reader(files, spec)
    check_options(groups, spec)
    if engine == "dask":
        from . import dask

        finished = dask.count_groups(groups, spec, scheduler=scheduler, progress=progress)
    else:
        from . import local

        finished = local.count_groups(groups, spec, progress=progress)
    total: Counts | None = None
    counted = []
    for group, done in zip(groups, finished):
        counted.append(CountedGroup(group.reader, group.files, done.spec))
        total = done.counts if total is None else total.merge(done.counts)
    assert total is not None
    total.notes = list(dict.fromkeys([*found.notes, *total.notes]))
    return Tally(_some_samples(total, spec, files), files, groups[0].reader.kind, counted, spec, found.warnings)


def _some_samples(counts: Counts, spec: InputSpec, files: Sequence[Path]) -> Counts:
    """Weights from no sample at all are all 1: a typo in ``--where`` must not overwrite good weights
    with those."""
    if counts.samples:
        return counts
    inputs = str(files[0]) if len(files) == 1 else f"{len(files)} files"
    if spec.where:
        wanted = " ".join(f"--where {column}={value}" for column, value in spec.where)
        raise InputError(f"{inputs}: {wanted} matched no row, so there is nothing to count",
                         hint="the match is exact and case-sensitive: check the value in the file")
    raise InputError(f"{inputs}: no sample to count")
