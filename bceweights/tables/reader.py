"""The reader of label tables (CSV/TSV and Parquet share it: they differ only in how a file is opened
and split), under the reader contract of :mod:`bceweights.readers.base`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError, reader_boundary
from ..locations import as_path
from ..readers.base import (
    TARGET_BUDGET,
    Finished,
    LabelBatch,
    Partition,
    Plan,
    PlanHints,
    Progress,
    Reader,
    SameClasses,
    TargetSample,
    add_batches,
)
from ..spec import POLICY_OPTIONS, InputSpec

if TYPE_CHECKING:
    from .layout import Layout
    from .source import TableSource

# The table machinery (pyarrow: ~60 ms and 35 MB) is imported by the methods that read a table, so the
# registry lists this reader without it.

TABLE_OPTIONS = frozenset({"columns", "exclude_columns", "list_column", "separator", "class_column",
                           "no_header", "delimiter", "classes_file", "where", "id_column", "confidence_column",
                           "negatives", "quote", "class_names"}) | POLICY_OPTIONS


@dataclass(frozen=True)
class FileContext:
    """What the planner settled for one file: how it opens and how it is read as labels."""

    source: TableSource
    layout: Layout


@dataclass(frozen=True)
class Block:
    """A part of one file: bytes ``[start, stop)`` of a CSV (``extra``: where its data starts) or row
    groups ``[start, stop)`` of a Parquet file (``extra``: the rows before them)."""

    start: int
    stop: int
    extra: int


class TableReader(Reader):
    """Label tables in three layouts (see :mod:`bceweights.tables.layout`), streamed batch by batch."""

    kind = "table"
    options = TABLE_OPTIONS

    def open(self, path: Path, spec: InputSpec) -> TableSource:
        from .source import TableSource

        with reader_boundary(path):
            return TableSource.open(as_path(path), spec)

    # -- counting -------------------------------------------------------------------------------------

    def plan(self, files: Sequence[Path], spec: InputSpec, hints: PlanHints) -> Plan:
        """One partition per file, settled from its head; with ``hints.split``, a file larger than
        ``hints.block`` becomes byte ranges (CSV, uncompressed) or runs of row groups (Parquet), each
        worker finding its own line boundaries."""
        from .layout import layout_kind
        from .names import dataset_spec
        from .source import byte_blocks, row_group_runs

        # Two layouts at once fail before any file is opened (InputSpec.check refused the other usage
        # mistakes, a delimiter of several characters, a column both chosen and excluded).
        layout_kind(spec)
        partitions: list[Partition] = []
        for number, path in enumerate(files):
            src = self.open(path, spec)
            if number == 0:
                spec = dataset_spec(src, spec)  # a Hugging Face dataset's label column and names
            context = FileContext(src, self.settle(src, spec))
            split = None
            if hints.split and src.size > hints.block:
                split = row_group_runs(src, hints.block) if src.parquet else byte_blocks(src, hints.block)
            if split is None:
                partitions.append(Partition(self.name, (str(path),), size=src.size, context=context))
                continue
            total_groups = split[-1][1]
            for number, (start, stop, extra) in enumerate(split):
                if src.parquet:
                    what = f"row group {start}" if stop - start == 1 else f"row groups {start}-{stop - 1}"
                    size = round(src.size * (stop - start) / max(1, total_groups))
                else:
                    what, size = f"rows in bytes {start}-{stop}", stop - start
                partitions.append(Partition(self.name, (str(path),), size=size, part=Block(start, stop, extra),
                                            context=context, label=f"block {number + 1} of {len(split)}: {what}"))
        return Plan(partitions, spec)

    def count(self, partition: Partition, spec: InputSpec, progress: Progress | None = None):
        from ..counts import Counts
        from .source import CsvBlock, PartSource

        context: FileContext = partition.context
        path = partition.paths[0]

        def tally(src: TableSource) -> Counts:
            if context.layout.kind == "long":
                from .long import count_source

                return count_source(src, context.layout, spec, progress)
            counts = Counts([])
            if spec.cooccurrence:
                counts.track_cooccurrence()
            add_batches(counts, self._batches(src, context.layout, spec), progress)
            return counts

        src = self._source(partition)
        try:
            counts = tally(src)
        except InputError:
            if not isinstance(src, CsvBlock):
                raise
            # Row numbers in messages need the lines before the block: counted only now, on error.
            src = self._source(partition, rows_before=src.count_rows_before())
            counts = tally(src)
        if isinstance(src, PartSource) and src.rows == 0:
            return None  # a block of blank lines only
        if context.layout.kind == "wide":
            return SameClasses(counts, path, "table")
        return counts

    def finish(self, partial, spec: InputSpec) -> Finished:
        """Classes met in label lists (or one class per row) are sorted by name (numerically when all
        are integers), whichever file or block met them first; ids named by a classes file keep its
        order (see :mod:`bceweights.tables.names`). The long layout's partial becomes counts here."""
        from .layout import layout_kind
        from .names import class_order, named_classes, names_note

        kind = layout_kind(spec)
        if kind == "long":
            from .long import finish_counts

            return Finished(finish_counts(partial, spec), spec)
        counts = partial.counts if isinstance(partial, SameClasses) else partial
        if kind != "wide":
            order = class_order(counts.classes, spec)
            counts.extend_classes(order)  # a named class no row held (every row dropped by --where)
            counts = counts.reorder(order)
            named = named_classes(spec)
            if named is not None:
                counts.notes.append(names_note(named, "--list-column" if kind == "list" else "--class-column"))
        return Finished(counts, spec)

    def settle(self, src: TableSource, spec: InputSpec) -> Layout:
        """How ``src`` is read as labels (see :mod:`bceweights.tables.layout`), settled once per file."""
        from .layout import layout_kind, settle

        if layout_kind(spec) == "long":
            from .long import settle as settle_long

            return settle_long(src, spec)
        return settle(src, spec)

    def _source(self, partition: Partition, rows_before: int | None = None) -> TableSource:
        from .source import CsvBlock, ParquetSlice

        src = partition.context.source
        block: Block | None = partition.part
        if block is None:
            return src
        if src.parquet:
            return ParquetSlice(src.path, True, list(src.names), size=src.size, start=block.start,
                                stop=block.stop, rows_before=block.extra)
        return CsvBlock(src.path, False, list(src.names), src.delimiter, False, None, src.size,
                        first_line=src.first_line, start=block.start, stop=block.stop, data_start=block.extra,
                        rows_before=rows_before, file_header=src.header, quote=src.quote)

    def _batches(self, src: TableSource, layout: Layout, spec: InputSpec,
                 classes: list[str] | None = None) -> Iterator[LabelBatch]:
        from .layout import label_batches

        return label_batches(src, layout, spec, classes)

    # -- checks and per-sample weights ----------------------------------------------------------------

    def rows(self, path: Path, spec: InputSpec, *, classes: Sequence[str] | None = None,
             id_column: str | None = None) -> Iterator[LabelBatch]:
        from .layout import row_ids

        src = self.open(path, spec)
        layout = self.settle(src, spec)
        if layout.kind == "long":
            from .long import long_rows

            yield from long_rows(src, layout, spec, classes=classes)
            return
        ids: list[str] | None = None
        id_name = None
        if id_column is not None:
            # A pass of its own, so counting never pays for the id column.
            id_name, found = row_ids(self.open(path, spec), layout, id_column)
            ids = found if id_name is not None else None
        taken = 0
        for batch in self._batches(src, layout, spec, None if classes is None else list(classes)):
            if ids is not None:
                batch.ids, batch.id_name = ids[taken:taken + len(batch.rows)], id_name
            taken += len(batch.rows)
            yield batch

    def sample_targets(self, files: Sequence[Path], spec: InputSpec, *, limit: int,
                       budget: int = TARGET_BUDGET) -> TargetSample:
        from .layout import layout_kind

        if layout_kind(spec) == "long":
            from .long import sample_targets

            return sample_targets(self, files, spec, limit=limit, budget=budget)
        return super().sample_targets(files, spec, limit=limit, budget=budget)
