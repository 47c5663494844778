"""What the CLI prints, with Rich: the report, the checks' pass/fail lines and the progress bar. The
library builds the report (:mod:`bceweights.report`) and the checks (:mod:`bceweights.validate`) as
data; only this module knows about the terminal."""

from __future__ import annotations

import re
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
#: Flag names of the narrowest table, explained by the legend under it.
_SHORT_FLAGS = {"absent": "absent", "rare": "rare", "no-negatives": "no-neg", "extreme-weight": "extreme"}
#: The pieces of a class name that a narrow column may put on separate lines: a word with the
#: spaces after it, or a word ending in ``_ - / . :``.
_SPLIT_WORDS = re.compile(r"[^\s_\-/.:]*[_\-/.:]+|[^\s_\-/.:]+\s*|\s+")


def wrap(text, width: int, indent: int = 2) -> list:
    """``text`` (a :class:`rich.text.Text`) cut into lines of at most ``width`` cells at spaces, the
    lines after the first indented by ``indent``; a word longer than a whole line is the only thing
    ever cut. Styles are kept."""
    from rich.cells import cell_len
    from rich.text import Text

    plain = text.plain
    later = max(width - indent, 1)
    lines: list[Text] = []
    start, room = 0, max(width, 1)

    def close(end: int) -> None:
        line = text[start:end]
        line.rstrip()
        lines.append(line)

    for match in re.finditer(r"\S+\s*", plain):
        word_start = match.start()
        word_end = word_start + len(match.group().rstrip())
        if cell_len(plain[start:word_end]) > room and plain[start:word_start].strip():
            close(word_start)  # the line holds words already: this one starts the next
            start, room = word_start, later
        while cell_len(plain[start:word_end]) > room:
            cut = start + room  # a word wider than a whole line: cut it, the only word ever split
            lines.append(text[start:cut])
            start, room = cut, later
    close(len(plain))
    return [line if i == 0 else Text(" " * indent) + line for i, line in enumerate(lines)]


def _printer(console):
    """print(text, indent): a Text wrapped to the console's width with a hanging indent in a terminal,
    one whole line otherwise (a pipe or a file keeps every name whole, for grep)."""

    def emit(text, indent: int = 2) -> None:
        if console.is_terminal:
            for line in wrap(text, console.width, indent):
                console.print(line, soft_wrap=True, highlight=False)
        else:
            console.print(text, soft_wrap=True, highlight=False)

    return emit


def _fact(key: str, value: str, style: str = ""):
    from rich.text import Text

    return Text.assemble((f"{key}: ", "bold"), (value, style))


def render_report(doc: dict[str, Any], console, *, show_usage: str | None = None, sort: str | None = None,
                  top: int | None = None, replaced: bool = False, unsaved: str | None = None) -> None:
    """Print the report with Rich: colour in a terminal (``NO_COLOR`` honoured by Rich), plain text
    otherwise. In a terminal every line fits its width: text wraps at spaces with an indent, the
    table drops its bar, then the rarer count columns, then takes two-line headers and short flags
    explained by its legend, and wraps class names at word boundaries; when not a terminal nothing
    is cut, so names stay whole. Sections are separated by a blank line.

    ``show_usage``: the saved ``.pt``, shown with the code that loads it (``replaced``: it replaced a
    file of that name); ``unsaved``: the ``.pt`` that ``--no-save`` did not write."""
    from rich.text import Text

    emit = _printer(console)
    for key, value in report.summary_lines(doc):
        style = "red" if key.startswith("no ") else "cyan" if key in ("rarest class", "class") else ""
        emit(_fact(key, value, style))

    spread = report.distribution_lines(doc)
    if spread:
        console.print()
        _render_distribution(doc, spread, console, emit)

    shown = report.shown_rows(doc, sort=sort, top=top)
    console.print()
    dropped, names = _render_table(doc, shown, console)
    legend = report.flag_legend(doc, names=names)
    if legend:
        emit(Text(legend, style="dim"))
    if dropped:
        emit(Text(f"({', '.join(dropped)} not shown: the terminal is too narrow; see --csv)", style="dim"))
    elif any(c in report.optional_columns(doc) for c in ("ignored", "uncertain", "missing")):
        emit(Text(_columns_legend(report.optional_columns(doc)), style="dim"))
    if shown.note:
        emit(Text(shown.note, style="dim"))

    pairs = doc.get("top_pairs") or []
    if pairs:
        console.print()
        samples = doc["summary"]["samples"]
        emit(Text("most frequent label pairs:", style="bold"))
        for pair in pairs[:report.SHOWN_PAIRS]:
            share = f" ({report.fmt_pct(pair['count'] / samples)} of samples)" if samples else ""
            emit(Text(f"  {pair['a']} + {pair['b']}: {report.fmt_count(pair['count'])}{share}"), indent=4)
        mode = doc.get("cooccurrence") or {}
        if mode.get("mode", "dense") != "dense":
            emit(Text(f"  {mode['note']}", style="dim"), indent=4)

    warnings = doc.get("warnings", [])
    if warnings:
        console.print()
    for warning in warnings:
        emit(Text.assemble(("warning: ", "yellow"), report.elide_lists(warning)))

    if show_usage or unsaved:
        console.print()
    if show_usage:
        emit(Text.assemble(("weights: ", "bold"), show_usage,
                           (" (it replaced the file of that name that was there)", "yellow") if replaced else "",
                           "; use them with:"))
        for line in report.usage_lines(doc, show_usage):
            # Never wrapped: a copied line must run as it is (a long path overflows, it is not cut).
            console.print(Text(f"  {line}"), soft_wrap=True, highlight=False)
    elif unsaved:
        emit(Text.assemble(("not saved", "bold"), f" (--no-save): run again without --no-save to write "
                           f"{unsaved}"))


def _render_distribution(doc, spread, console, emit) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    positive, _ = report.unit_words(doc["summary"])
    emit(Text(f"classes by {positive}s (median class: {report.fmt_count(doc['summary']['median_positives'])}):",
              style="bold"))
    ascii_only = not (console.encoding or "").lower().startswith("utf")
    largest = max((n for _, n in spread), default=0)
    table = Table(box=box.SIMPLE, show_header=False, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    table.add_column(no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    table.add_column(no_wrap=True, style="blue")
    for label, n in spread:
        table.add_row(f"  {label}", report.fmt_count(n), report.bar(n / largest if largest else 0, 20,
                                                                      ascii_only=ascii_only))
    console.print(table)


def _wrap_name(name: str, width: int) -> str:
    """A class name in lines of at most ``width`` cells, broken at spaces or after ``_ - / . :``; a
    piece longer than ``width`` is cut (nothing else can be done with it)."""
    if len(name) <= width:
        return name
    lines, line = [], ""
    for piece in _SPLIT_WORDS.findall(name):
        if line and len(line) + len(piece.rstrip()) > width:
            lines.append(line.rstrip())
            line = piece.lstrip()
        else:
            line += piece
        while len(line.rstrip()) > width:
            lines.append(line[:width])
            line = line[width:]
    if line.strip():
        lines.append(line.rstrip())
    return "\n".join(lines)


def _render_table(doc, shown, console) -> tuple[list[str], dict[str, str] | None]:
    """The class table, as wide as it needs and no wider than a terminal; returns the count columns
    left out for room and the flag abbreviations used (None: full names)."""
    from rich import box
    from rich.markup import escape
    from rich.measure import Measurement
    from rich.table import Table

    rows = shown.rows
    terminal = console.is_terminal
    extra = report.optional_columns(doc)
    ascii_only = not (console.encoding or "").lower().startswith("utf")
    max_prev = max((r["prevalence"] for r in doc["classes"]), default=0.0)
    longest = max((len(r["class"]) for r in rows), default=5)
    positive, sample = report.unit_words(doc["summary"])
    unit = positive if "pixels" in doc["summary"] else sample

    def build(with_bar: bool, extra: list[str], compact: bool, stacked: bool, name_width: int) -> Table:
        # compact: headers on two lines at a space ("% of samples" for prevalence), flags abbreviated
        # (the legend under the table says what they mean); stacked: a row's flags one under another
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
        table.add_column("class", style="bold", no_wrap=True)
        table.add_column("positives", justify="right", no_wrap=True)
        table.add_column("negatives", justify="right", no_wrap=True)
        table.add_column(f"% of\n{unit}s" if compact else "prevalence", justify="right", no_wrap=True)
        if with_bar:
            table.add_column("", no_wrap=True, style="blue", min_width=report.BAR_WIDTH)
        table.add_column("pos_weight", justify="right", no_wrap=True)
        table.add_column("class\nweight" if compact else "class_weight", justify="right", no_wrap=True)
        for name in extra:
            table.add_column(name, justify="right", no_wrap=True)
        table.add_column("flags", no_wrap=True)
        gap_cells = ["..." if ascii_only else "⋯"] + [""] * (len(table.columns) - 1)
        for i, row in enumerate(rows):
            if i == shown.gap:
                table.add_row(*gap_cells, style="dim")
            cells = [escape(_wrap_name(row["class"], name_width)), report.fmt_count(row["positives"]),
                     report.fmt_count(row["negatives"]), report.fmt_pct(row["prevalence"])]
            if with_bar:
                frac = row["prevalence"] / max_prev if max_prev > 0 else 0.0
                cells.append(report.bar(frac, ascii_only=ascii_only))
            cells += [report.fmt_weight(row["pos_weight"]), report.fmt_weight(row["class_weight"])]
            cells += [report.fmt_count(row.get(name, 0)) for name in extra]
            flags = [(_SHORT_FLAGS[f] if compact else f, _FLAG_STYLE[f]) for f in row["flags"]]
            cells.append(("\n" if stacked else " ").join(f"[{style}]{name}[/{style}]" for name, style in flags))
            table.add_row(*cells)
        return table

    def width_of(table: Table) -> int:
        return Measurement.get(console, console.options.update(max_width=100_000), table).maximum

    if not terminal:
        table = build(True, extra, False, False, longest)
        # Console.print caps ``width`` at the console's width (80 for a pipe), so widen the console.
        saved = console.width
        console.width = max(width_of(table), saved)
        try:
            console.print(table)
        finally:
            console.width = saved
        return [], None

    # Wider layouts first: the bar goes first, then the headers fold at a space (flags abbreviated),
    # then the ignored/uncertain/missing/images columns go (they stay in --csv and --json), then a
    # row's flags stack. Only when no layout holds the names whole does a name wrap, at its word
    # boundaries (spaces and ``_ - / . :``), in the first layout without the bar where no word of a
    # name is cut; a word is cut only when even the narrowest layout has no room for it.
    layouts = [(True, extra, False, False), (False, extra, False, False), (False, extra, True, False),
               (False, [], False, False), (False, [], True, False), (False, [], True, True)]
    longest_word = max((len(piece.strip()) for r in rows for piece in _SPLIT_WORDS.findall(r["class"])), default=1)
    chosen = None
    for layout in layouts:
        if width_of(build(*layout, longest)) <= console.width:
            chosen = layout, longest
            break
    if chosen is None:
        for layout in layouts:
            if layout[0]:
                continue  # a name is worth more than its bar
            room = longest - (width_of(build(*layout, longest)) - console.width)
            if room >= longest_word or layout == layouts[-1]:
                chosen = layout, max(room, 4)
                break
    (with_bar, columns, compact, stacked), name_width = chosen
    console.print(build(with_bar, columns, compact, stacked, name_width))
    return [c for c in extra if c not in columns], _SHORT_FLAGS if compact else None


_LEGEND = {
    "ignored": "ignored: counted as neither positive nor negative",
    "uncertain": "uncertain: -1 values",
    "missing": "missing: blanks (see label values above)",
}


def _columns_legend(shown) -> str:
    """What the optional count columns mean: only those the table shows."""
    return "; ".join(text for column, text in _LEGEND.items() if column in shown)


_TAGS = {"pass": ("PASS", "green"), "fail": ("FAIL", "bold red"), "skip": ("SKIP", "dim")}


def render_checks(checks, console) -> None:
    """One pass/fail line per check, then its warnings (Rich); in a terminal, a long line wraps under
    its message, past the tag and the check's name."""
    from rich.text import Text

    emit = _printer(console)
    console.print()
    emit(Text.assemble(("checks", "bold"), f" ({checks.device}, target {checks.target_shape}: {checks.source})"))
    for check in checks.checks:
        tag, style = _TAGS[check.status]
        emit(Text.assemble("  ", (tag, style), f"  {check.name:<9}  ", report.elide_lists(check.message)),
             indent=19)
        for warning in check.warnings:
            emit(Text.assemble("  ", ("WARN", "yellow"), f"  {'':<9}  ", report.elide_lists(warning)), indent=19)


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
