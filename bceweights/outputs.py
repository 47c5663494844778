"""The report files a run writes besides the ``.pt``: JSON, Markdown, CSV, a plot and the co-occurrence
CSV, each checked before the scan and written atomically after it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import io, report


@dataclass(frozen=True)
class ReportFiles:
    """The report files to write, each optional, and the class-table order they (and the printed
    table) use. ``json="-"`` writes the JSON to stdout; ``title`` titles the plot and the Markdown."""

    json: str | Path | None = None
    markdown: str | Path | None = None
    csv: str | Path | None = None
    plot: str | Path | None = None
    cooccurrence: str | Path | None = None
    sort: str | None = None
    top: int | None = None
    title: str | None = None

    @property
    def json_to_stdout(self) -> bool:
        return self.json == "-"

    def paths(self) -> list[Path]:
        """The files to write (stdout is not one), in the order they are written."""
        paths = (self.cooccurrence, self.json, self.markdown, self.csv, self.plot)
        return [Path(p) for p in paths if p is not None and p != "-"]

    def check(self) -> None:
        """Fail before a long scan: unwritable paths, an unknown plot format, matplotlib missing."""
        for path in self.paths():
            io.check_output_path(path)
        if self.plot is not None:
            from .plot import check_plot_path

            check_plot_path(self.plot)

    def write(self, doc: dict[str, Any], counts, *, stdout=None) -> list[Path]:
        """Write every file asked for, each atomically; returns their paths."""
        if self.cooccurrence is not None:
            io.write_text(self.cooccurrence, report.cooccurrence_csv(counts))
        if self.json_to_stdout:
            import sys

            (stdout or sys.stdout).write(report.to_json(doc))
        elif self.json is not None:
            io.write_text(self.json, report.to_json(doc))
        if self.markdown is not None:
            io.write_text(self.markdown, report.to_markdown(doc, sort=self.sort, top=self.top,
                                                              title=self.title))
        if self.csv is not None:
            io.write_text(self.csv, report.to_csv(doc, sort=self.sort))
        if self.plot is not None:
            from .plot import save_plot

            save_plot(doc, self.plot, title=self.title)
        return self.paths()
