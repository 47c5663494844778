"""JSON Lines and JSON arrays of records as label tables (see :mod:`bceweights.tables.json_source`).

``.jsonl`` / ``.ndjson`` (gzip too) are always records; a ``.json`` file is taken when its first bytes
are records (``[{`` or an object per line without COCO's ``images``/``annotations``), so a COCO file goes
to its own reader.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..locations import as_path
from ..tables.reader import TABLE_OPTIONS, TableReader
from .base import Plan, PlanHints

if TYPE_CHECKING:
    from ..spec import InputSpec
    from ..tables.source import TableSource


class JsonlReader(TableReader):
    name = "jsonl"
    extensions = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz", ".json", ".json.gz")
    description = "JSON Lines and JSON arrays of records (one object per sample)"
    options = TABLE_OPTIONS - {"no_header", "delimiter", "quote"}

    def claims(self, path: Path, spec: InputSpec) -> bool:
        name = Path(path).name.lower()
        if not name.endswith((".json", ".json.gz")) or spec.format == self.name:
            return True
        from . import head

        return self.sniff(head(Path(path)), Path(path)) > 0

    def sniff(self, head: bytes, path: Path) -> float:
        from ..tables.json_source import records_kind

        return 0.6 if records_kind(head) is not None else 0.0

    def open(self, path: Path, spec: InputSpec) -> TableSource:
        from ..tables.json_source import JsonSource

        return JsonSource.open_json(as_path(path))

    def plan(self, files: Sequence[Path], spec: InputSpec, hints: PlanHints) -> Plan:
        """One partition per file: records are cut from the start (a JSON array has no line to resync on)."""
        return super().plan(files, spec, PlanHints(split=False, block=hints.block, workers=hints.workers))
