"""Arrow IPC label tables and Hugging Face datasets saved with ``save_to_disk`` (a folder).

Read with every table layout; a Hugging Face dataset's label column is found from its features when
exactly one column is a ``ClassLabel`` or a list of ``ClassLabel`` (``list<int64>`` ids named by the
features), else ``--list-column`` / ``--class-column`` name it (see :mod:`bceweights.tables.names`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..locations import as_path
from ..tables.reader import TABLE_OPTIONS, TableReader
from .base import Partition, Plan, PlanHints

if TYPE_CHECKING:
    from ..spec import InputSpec
    from ..tables.source import TableSource


class ArrowReader(TableReader):
    name = "arrow"
    extensions = (".arrow", ".feather", ".ipc", ".arrows")
    description = "Arrow IPC files and streams, Hugging Face datasets (save_to_disk folders, cache files)"
    options = TABLE_OPTIONS - {"no_header", "delimiter", "quote"}

    def sniff(self, head: bytes, path: Path) -> float:
        if head.startswith(b"ARROW1"):
            return 1.0
        # A stream: the continuation marker, then the schema message's length.
        return 0.9 if head.startswith(b"\xff\xff\xff\xff") and len(head) >= 8 else 0.0

    def claims_folder(self, path: Path, spec: InputSpec) -> bool:
        from ..tables.arrow_source import is_dataset_folder

        return is_dataset_folder(path)

    def open(self, path: Path, spec: InputSpec) -> TableSource:
        from ..tables.arrow_source import ArrowSource

        return ArrowSource.open_arrow(as_path(path))

    def plan(self, files: Sequence[Path], spec: InputSpec, hints: PlanHints) -> Plan:
        """One partition per input; with ``hints.split``, runs of record batches of about
        ``hints.block`` bytes (a dataset's shards apart)."""
        plan = super().plan(files, spec, PlanHints(split=False, block=hints.block, workers=hints.workers))
        if not hints.split:
            return plan
        out: list[Partition] = []
        for whole in plan.partitions:
            src = whole.context.source
            runs = src.runs(hints.block)
            if runs is None:
                out.append(whole)
                continue
            for number, run in enumerate(runs):
                index, start, stop, _ = run
                shard = f"{Path(src.files[index]).name} " if len(src.files) > 1 else ""
                batches = f"record batch {start}" if stop - start == 1 else f"record batches {start}-{stop - 1}"
                out.append(Partition(self.name, whole.paths, size=round(src.size / len(runs)), part=run,
                                     context=whole.context,
                                     label=f"block {number + 1} of {len(runs)}: {shard}{batches}"))
        return Plan(out, plan.spec)

    def _source(self, partition: Partition, rows_before: int | None = None) -> TableSource:
        src = partition.context.source
        return src if partition.part is None else src.part(partition.part)
