"""What the CLI prints, with Rich: the report, the checks' pass/fail lines and the progress bar. The
library builds the report (:mod:`bceweights.report`) and the checks (:mod:`bceweights.validate`) as
data; only this module knows about the terminal."""

from __future__ import annotations

import sys
from typing import Any

from .. import report


def stderr_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def stdout_console():
    from rich.console import Console

    return Console(highlight=False)


_FLAG_STYLE = {"absent": "bold red", "extreme-weight": "red", "rare": "yellow", "no-negatives": "magenta"}


def render_report(doc: dict[str, Any], console, *, show_usage: str | None = None, sort: str | None = None,
                  top: int | None = None) -> None:
    """Print the report with Rich: colour in a terminal (``NO_COLOR`` honoured by Rich), plain text
    otherwise; when not a terminal nothing is cut to the console width, so names stay whole."""
    from rich import box
    from rich.markup import escape
    from rich.measure import Measurement
    from rich.table import Table

    terminal = console.is_terminal
    plain = {"highlight": False, "soft_wrap": not terminal}
    for key, value in report.summary_lines(doc):
        style = "red" if key.startswith("no ") else "cyan" if key == "rarest class" else ""
        text = f"[{style}]{escape(value)}[/{style}]" if style else escape(value)
        console.print(f"[bold]{escape(key)}:[/bold] {text}", **plain)

    rows, hidden = report.select_rows(doc, sort=sort, top=top)
    extra = report.optional_columns(doc)
    ascii_only = not (console.encoding or "").lower().startswith("utf")
    max_prev = max((r["prevalence"] for r in doc["classes"]), default=0.0)

    longest = max((len(r["class"]) for r in rows), default=5)

    def build(with_bar: bool, extra: list[str], compact: bool = False) -> Table:
        # compact: two-line headers, for a narrow terminal
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        table.add_column("class", style="bold", overflow="fold", min_width=min(max(longest, 5), 16))
        table.add_column("positives", justify="right", no_wrap=True)
        table.add_column("negatives", justify="right", no_wrap=True)
        table.add_column("preva-\nlence" if compact else "prevalence", justify="right", no_wrap=True)
        if with_bar:
            table.add_column("", no_wrap=True, style="blue", min_width=report.BAR_WIDTH)
        table.add_column("pos_\nweight" if compact else "pos_weight", justify="right", no_wrap=True)
        table.add_column("class_\nweight" if compact else "class_weight", justify="right", no_wrap=True)
        for name in extra:
            table.add_column(name, justify="right", no_wrap=True)
        table.add_column("flags", overflow="fold", min_width=6 if any(r["flags"] for r in rows) else 5)
        for row in rows:
            cells = [escape(row["class"]), report.fmt_count(row["positives"]), report.fmt_count(row["negatives"]),
                     report.fmt_pct(row["prevalence"])]
            if with_bar:
                frac = row["prevalence"] / max_prev if max_prev > 0 else 0.0
                cells.append(report.bar(frac, ascii_only=ascii_only))
            cells += [report.fmt_weight(row["pos_weight"]), report.fmt_weight(row["class_weight"])]
            cells += [report.fmt_count(row.get(name, 0)) for name in extra]
            cells.append(" ".join(f"[{_FLAG_STYLE[f]}]{f}[/{_FLAG_STYLE[f]}]" for f in row["flags"]))
            table.add_row(*cells)
        return table

    def width_of(table: Table) -> int:
        return Measurement.get(console, console.options.update(max_width=100_000), table).maximum

    table = build(True, extra)
    needed = width_of(table)
    dropped: list[str] = []
    if terminal:
        # In a narrow terminal the bar goes first, then the ignored/uncertain/missing columns (they
        # stay in --csv and --json), so that names, counts and weights keep their room.
        if needed > console.width:
            table = build(False, extra)
        if extra and width_of(table) > console.width:
            table, dropped = build(False, []), extra
        if width_of(table) > console.width:
            table = build(False, [], compact=True)
        console.print(table)
    else:
        # Console.print caps ``width`` at the console's width (80 for a pipe), so widen the console.
        saved = console.width
        console.width = max(needed, saved)
        try:
            console.print(table)
        finally:
            console.width = saved
    if hidden:
        console.print(f"[dim]{report.hidden_line(hidden, sort)}[/dim]", **plain)
    if dropped:
        console.print(f"[dim]({', '.join(dropped)} not shown: the terminal is too narrow; see --csv)[/dim]",
                      **plain)
    elif any(c in extra for c in ("ignored", "uncertain", "missing")):
        console.print(f"[dim]{_columns_legend(extra)}[/dim]", **plain)
    pairs = doc.get("top_pairs") or []
    if pairs:
        samples = doc["summary"]["samples"]
        console.print("[bold]most frequent label pairs:[/bold]", **plain)
        for pair in pairs[:report.SHOWN_PAIRS]:
            share = f" ({report.fmt_pct(pair['count'] / samples)} of samples)" if samples else ""
            console.print(f"  {escape(pair['a'])} + {escape(pair['b'])}: {report.fmt_count(pair['count'])}{share}",
                          **plain)
    for warning in doc.get("warnings", []):
        console.print(f"[yellow]warning:[/yellow] {escape(warning)}", **plain)
    if show_usage:
        console.print(f"[bold]weights:[/bold] {escape(show_usage)}; use them with:", **plain)
        for line in report.usage_lines(doc, show_usage):
            console.print(f"  {line}", highlight=False, markup=False, soft_wrap=not terminal)


_LEGEND = {
    "ignored": "ignored: counted as neither positive nor negative",
    "uncertain": "uncertain: -1 values",
    "missing": "missing: blanks (see label values above)",
}


def _columns_legend(shown) -> str:
    """What the optional count columns mean: only those the table shows."""
    return "; ".join(text for column, text in _LEGEND.items() if column in shown)




_TAGS = {"pass": "[green]PASS[/green]", "fail": "[bold red]FAIL[/bold red]", "skip": "[dim]SKIP[/dim]"}


def render_checks(checks, console) -> None:
    """One pass/fail line per check, then its warnings (Rich)."""
    from rich.markup import escape

    console.print(f"[bold]checks[/bold] ({checks.device}, target {checks.target_shape}: {escape(checks.source)})",
                  soft_wrap=True)
    for check in checks.checks:
        console.print(f"  {_TAGS[check.status]}  {check.name:<9}  {escape(check.message)}", soft_wrap=True)
        for warning in check.warnings:
            console.print(f"  [yellow]WARN[/yellow]  {'':<9}  {escape(warning)}", soft_wrap=True)


class RichProgress:
    """A Rich progress bar on stderr; silent when stderr is not a terminal."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        amount, speed = _unit_columns()
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), amount, speed,
            TimeRemainingColumn(), console=stderr_console(), transient=True,
            disable=not sys.stderr.isatty(),
        )
        self._task = None
        self._pixels = 0.0

    def __enter__(self) -> RichProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.__exit__(*exc)

    def start(self, total: float, unit: str, description: str) -> None:
        self._task = self._progress.add_task(description, total=total, unit=unit, pixels=0.0)

    def advance(self, amount: float, **fields: float) -> None:
        if self._task is not None:
            self._pixels += fields.get("pixels", 0.0)
            self._progress.update(self._task, advance=amount, pixels=self._pixels)


def _unit_columns():
    """(amount, speed) columns: bytes and bytes/s for tables, files and pixels/s for masks."""
    from rich.progress import DownloadColumn, ProgressColumn, TransferSpeedColumn
    from rich.text import Text

    class Amount(ProgressColumn):
        def __init__(self) -> None:
            super().__init__()
            self._bytes = DownloadColumn()

        def render(self, task):
            unit = task.fields.get("unit", "bytes")
            if unit == "bytes":
                return self._bytes.render(task)
            return Text(f"{int(task.completed):,}/{int(task.total or 0):,} {unit}", style="progress.download")

    class Speed(ProgressColumn):
        def __init__(self) -> None:
            super().__init__()
            self._bytes = TransferSpeedColumn()

        def render(self, task):
            if task.fields.get("unit", "bytes") == "bytes":
                return self._bytes.render(task)
            elapsed = task.elapsed or 0.0
            if not elapsed or not task.fields.get("pixels"):
                return Text("?", style="progress.data.speed")
            rate = task.fields["pixels"] / elapsed
            for prefix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
                if rate >= scale:
                    return Text(f"{rate / scale:.1f} {prefix}px/s", style="progress.data.speed")
            return Text(f"{rate:.1f} px/s", style="progress.data.speed")

    return Amount(), Speed()
