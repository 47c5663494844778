"""The report files a run writes besides the ``.pt``: JSON, Markdown, CSV, a plot and the co-occurrence
CSV, each checked before the scan and written atomically after it; and the check that no two outputs,
and no output and input, are one file."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import io, report
from .errors import UsageError, printable


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
        return [Path(p) for p in paths if p is not None and not io.is_stdout(p)]

    def named(self) -> list[tuple[str, str | Path]]:
        """Every output asked for as ``(flag, path)``, stdout (``-``) included."""
        pairs = (("--cooccurrence", self.cooccurrence), ("--json", self.json), ("--markdown", self.markdown),
                 ("--csv", self.csv), ("--plot", self.plot))
        return [(flag, path) for flag, path in pairs if path is not None]

    def check(self) -> None:
        """Fail before a long scan: unwritable paths, an unknown plot format, matplotlib missing, ``-``
        where only a file can go."""
        for flag, path in self.named():
            if io.is_stdout(path) and flag != "--json":
                raise UsageError(f"{flag} -: only -o and --json write to stdout",
                                 hint=f"give {flag} a file name (a file named '-' is ./-)")
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
            # Read in a terminal as often as rendered: names from the data are shown, not obeyed.
            io.write_text(self.markdown, report.to_markdown(printable_doc(doc), sort=self.sort, top=self.top,
                                                              title=self.title))
        if self.csv is not None:
            io.write_text(self.csv, report.to_csv(doc, sort=self.sort))
        if self.plot is not None:
            from .plot import save_plot

            save_plot(doc, self.plot, title=self.title)
        return self.paths()


def printable_doc(value: Any) -> Any:
    """A copy of a report (any nesting of dicts, lists and strings) with the terminal control
    characters of every string escaped (:func:`bceweights.errors.printable`)."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {printable_doc(k): printable_doc(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(printable_doc(v) for v in value)
    return value


def check_distinct(outputs: Sequence[tuple[str, str | Path | None]],
                   inputs: Sequence[tuple[str, str | Path | None]] = ()) -> None:
    """Refuse (:class:`UsageError`, exit 2) two outputs that are one file, or an output that is one
    of ``inputs`` (the label files are checked as they are expanded, see
    :func:`bceweights.inputs.gather`): compared by inode when the file exists, so hard links and
    symlinks count, else by the resolved path. ``-`` (stdout) may be used once; a character device
    (``/dev/null``) by any number of outputs. Each item is ``(flag, path)``; a None path is skipped."""
    seen: dict[object, tuple[str, str]] = {}
    for label, path in inputs:
        if path is not None:
            seen.setdefault(_key(path), (label, str(path)))
    read = set(seen)
    for flag, path in outputs:
        if path is None:
            continue
        key = _key(path)
        if key not in seen:
            seen[key] = (flag, str(path))
            continue
        other_flag, other = seen[key]
        if key == "stdout":
            raise UsageError(f"{other_flag} - and {flag} -: both write to stdout",
                             hint="give one of them a file name")
        if _device(path):
            continue
        if key in read:
            what = (f"also the {other_flag} input" if other == str(path)
                    else f"the same file as the {other_flag} input {other}")
            raise UsageError(f"{flag} {path}: is {what}; writing it would destroy it",
                             hint="choose another output path")
        shown = "" if other == str(path) else f" ({other})"
        raise UsageError(f"{flag} {path}: is also the output of {other_flag}{shown}; each output needs its "
                         "own file", hint="choose another output path")


def _key(path: str | Path) -> object:
    if io.is_stdout(path):
        return "stdout"
    try:
        st = os.stat(path)
    except OSError:
        return os.path.realpath(path)
    return st.st_dev, st.st_ino


def _device(path: str | Path) -> bool:
    try:
        return stat.S_ISCHR(os.stat(path).st_mode)
    except OSError:
        return False
