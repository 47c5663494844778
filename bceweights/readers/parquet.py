"""Parquet label tables, read a row group at a time."""

from __future__ import annotations

from pathlib import Path

from ..tables.reader import TableReader


class ParquetReader(TableReader):
    name = "parquet"
    extensions = (".parquet", ".pq")
    description = "Parquet tables"
    options = TableReader.options - {"no_header", "delimiter", "quote"}

    def sniff(self, head: bytes, path: Path) -> float:
        return 1.0 if head.startswith(b"PAR1") else 0.0
