"""Delimited text label tables: CSV, TSV and any other delimiter, plain or gzip/bz2 compressed."""

from __future__ import annotations

from pathlib import Path

from ..tables.reader import TableReader


class CsvReader(TableReader):
    name = "csv"
    extensions = (".csv", ".csv.gz", ".txt", ".txt.gz", ".csv.bz2")
    description = "delimited text (CSV, TSV, any delimiter; gzip and bz2 too)"

    def sniff(self, head: bytes, path: Path) -> float:
        # Any text may be a table: the lowest score, so every more specific format wins.
        return 0.1 if head.strip() and b"\x00" not in head else 0.0


class TsvReader(TableReader):
    name = "tsv"
    extensions = (".tsv", ".tsv.gz", ".tab")
    description = "tab-separated text"
