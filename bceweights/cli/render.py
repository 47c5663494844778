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
    """A class name in lines of at most ``width`` cells, broken at spaces or after ``_ - / . :``, the
    lines after the first indented by one space (so that "Isle of man" / " tt" is not read as a class
    "tt"); a piece longer than a line is cut (nothing else can be done with it)."""
    from rich.cells import cell_len

    if cell_len(name) <= width:
        return name
    lines, line, room = [], "", width
    for piece in _SPLIT_WORDS.findall(name):
        if line.strip() and cell_len(line) + cell_len(piece.rstrip()) > room:
            lines.append(line.rstrip())
            line, room = piece.lstrip(), max(width - 1, 1)
        else:
            line += piece
        while cell_len(line.rstrip()) > room:
            cut = _fit(line, room)
            lines.append(line[:cut])
            line, room = line[cut:], max(width - 1, 1)
    if line.strip():
        lines.append(line.rstrip())
    return "\n".join(lines[:1] + [" " + rest for rest in lines[1:]])


def _fit(text: str, cells: int) -> int:
    """How many characters of ``text`` fill at most ``cells`` cells (wide characters count two)."""
    from rich.cells import cell_len

    used = 0
    for i, char in enumerate(text):
        used += cell_len(char)
        if used > cells:
            return max(i, 1)
    return len(text)


#: Spaces between two columns of the class table.
_GAP = 2


def _table_text(columns: list[tuple[str, bool, str, list[list[list[tuple[str, str]]]]]]):
    """The table as one :class:`rich.text.Text`: headers on their last lines in bold, a rule, then each
    row on as many lines as its tallest cell. ``columns``: (header, right-aligned, style, cells); a
    cell is its lines, a line its (text, style) pieces. Built as one string with style spans (a Text
    per cell costs seconds for 20,000 rows)."""
    from rich.cells import cell_len
    from rich.text import Span, Text

    def line_width(pieces) -> int:
        return sum(cell_len(text) for text, _ in pieces)

    headers = [header.split("\n") for header, *_ in columns]
    widths = [max([len(h) for h in head] + [line_width(line) for cell in cells for line in cell])
              for head, (_, _, _, cells) in zip(headers, columns)]
    tall = max(len(head) for head in headers)
    chunks: list[str] = []
    spans: list[Span] = []
    at = 0

    def emit(line: list[tuple[str, str]]) -> None:
        nonlocal at
        while line and not line[-1][0].strip():
            line.pop()
        if line:
            line[-1] = (line[-1][0].rstrip(), line[-1][1])
        for text, style in line:
            if style:
                spans.append(Span(at, at + len(text), style))
            chunks.append(text)
            at += len(text)
        chunks.append("\n")
        at += 1

    def row_line(cells_line, default_styles) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for i, (pieces, (_, right, style, _), width) in enumerate(zip(cells_line, columns, widths)):
            pad = (" " * (width - line_width(pieces)), "")
            styled = [(text, piece_style or (style if default_styles else "")) for text, piece_style in pieces]
            out += [pad, *styled] if right else [*styled, pad]
            if i < len(columns) - 1:
                out.append((" " * _GAP, ""))
        return out

    for k in range(tall):
        emit(row_line([[(head[k - (tall - len(head))], "bold")] if k >= tall - len(head) else []
                       for head in headers], False))
    emit([("─" * (sum(widths) + _GAP * (len(columns) - 1)), "")])
    for row in range(len(columns[0][3])):
        height = max(len(cells[row]) for *_, cells in columns)
        for k in range(height):
            emit(row_line([cells[row][k] if k < len(cells[row]) else [] for *_, cells in columns], True))
    chunks.pop()  # the last newline: console.print ends the line
    return Text("".join(chunks), spans=spans)


def _render_table(doc, shown, console) -> tuple[list[str], dict[str, str] | None]:
    """The class table, as wide as it needs and no wider than a terminal; returns the count columns
    left out for room and the flag abbreviations used (None: full names)."""
    from rich.cells import cell_len

    rows = shown.rows
    terminal = console.is_terminal
    extra = report.optional_columns(doc)
    ascii_only = not (console.encoding or "").lower().startswith("utf")
    max_prev = max((r["prevalence"] for r in doc["classes"]), default=0.0)
    longest = max((cell_len(r["class"]) for r in rows), default=5)
    positive, sample = report.unit_words(doc["summary"])
    unit = positive if "pixels" in doc["summary"] else sample
    gap = shown.gap

    def cells(values: list[str], style: str = "") -> list[list[list[tuple[str, str]]]]:
        """One single-line cell per row, and an empty one at the gap between most and least frequent."""
        out = [[[(v, style)]] for v in values]
        if gap is not None:
            out.insert(gap, [[("", "")]])
        return out

    # Every cell's text, once: the layouts below only choose among them.
    text = {
        "positives": cells([report.fmt_count(r["positives"]) for r in rows]),
        "negatives": cells([report.fmt_count(r["negatives"]) for r in rows]),
        "prevalence": cells([report.fmt_pct(r["prevalence"]) for r in rows]),
        "bar": cells([report.bar(r["prevalence"] / max_prev if max_prev > 0 else 0.0, ascii_only=ascii_only)
                      for r in rows], "blue"),
        "pos_weight": cells([report.fmt_weight(r["pos_weight"]) for r in rows]),
        "class_weight": cells([report.fmt_weight(r["class_weight"]) for r in rows]),
        **{name: cells([report.fmt_count(r.get(name, 0)) for r in rows]) for name in extra},
    }

    def flag_cells(compact: bool, stacked: bool):
        out = []
        for r in rows:
            pieces = [((_SHORT_FLAGS[f] if compact else f), _FLAG_STYLE[f]) for f in r["flags"]]
            if stacked:
                out.append([[piece] for piece in pieces] or [[]])
            else:
                out.append([[piece for i, p in enumerate(pieces) for piece in ([(" ", "")] if i else []) + [p]]])
        if gap is not None:
            out.insert(gap, [[]])
        return out

    def name_cells(width: int):
        out = [[[(line, "bold")] for line in _wrap_name(r["class"], width).split("\n")] for r in rows]
        if gap is not None:
            out.insert(gap, [[("..." if ascii_only else "⋯", "dim")]])
        return out

    def build(with_bar: bool, columns: list[str], compact: bool, stacked: bool, name_width: int):
        table = [("class", False, "bold", name_cells(name_width)), ("positives", True, "", text["positives"]),
                 ("negatives", True, "", text["negatives"]),
                 (f"% of\n{unit}s" if compact else "prevalence", True, "", text["prevalence"])]
        if with_bar:
            table.append(("", False, "blue", text["bar"]))
        table += [("pos_weight", True, "", text["pos_weight"]),
                  ("class\nweight" if compact else "class_weight", True, "", text["class_weight"])]
        table += [(name, True, "", text[name]) for name in columns]
        table.append(("flags", False, "", flag_cells(compact, stacked)))
        return table

    def width_of(with_bar: bool, columns: list[str], compact: bool, stacked: bool, name_width: int) -> int:
        """The table's width, from the widest cell of each column (names whole, or cut at name_width)."""
        heads = {"prevalence": f"% of {unit}s" if compact else "prevalence",
                 "class_weight": "class weight" if compact else "class_weight"}
        names = ["positives", "negatives", "prevalence", *(["bar"] if with_bar else []), "pos_weight",
                 "class_weight", *columns]
        total = max(min(longest, name_width), len("class"))
        for name in names:
            head = max((len(h) for h in heads.get(name, name if name != "bar" else "").split(" ")), default=0) \
                if compact else len(heads.get(name, name if name != "bar" else ""))
            total += _GAP + max([head] + [cell_len(c[0][0][0]) for c in text[name]])
        flags = [(_SHORT_FLAGS[f] if compact else f) for r in rows for f in r["flags"]]
        if stacked:
            total += _GAP + max([len("flags")] + [len(f) for f in flags])
        else:
            total += _GAP + max([len("flags")] + [len(" ".join((_SHORT_FLAGS[f] if compact else f) for f in r["flags"]))
                                                  for r in rows])
        return total

    chosen = (True, extra, False, False), longest
    if terminal:
        # Wider layouts first: the bar goes first, then the headers fold at a space (flags
        # abbreviated), then the ignored/uncertain/missing/images columns go (they stay in --csv and
        # --json), then a row's flags stack. Only when no layout holds the names whole does a name
        # wrap, at its word boundaries (spaces and ``_ - / . :``), in the first layout without the bar
        # where no word of a name is cut; a word is cut only when even the narrowest layout has no
        # room for it.
        layouts = [(True, extra, False, False), (False, extra, False, False), (False, extra, True, False),
                   (False, [], False, False), (False, [], True, False), (False, [], True, True)]
        longest_word = max((cell_len(piece.strip()) for r in rows for piece in _SPLIT_WORDS.findall(r["class"])),
                           default=1)
        fits = [layout for layout in layouts if width_of(*layout, longest) <= console.width]
        if fits:
            chosen = fits[0], longest
        else:
            for layout in layouts[1:]:  # a name is worth more than its bar
                room = longest - (width_of(*layout, longest) - console.width)
                if room > longest_word or layout == layouts[-1]:  # a continuation line has one cell less
                    chosen = layout, max(room, 4)
                    break
    (with_bar, columns, compact, stacked), name_width = chosen
    # One print for the whole table, never wrapped or cropped: in a terminal it fits by construction,
    # elsewhere (a pipe, a file) every name stays whole.
    console.print(_table_text(build(with_bar, columns, compact, stacked, name_width)), soft_wrap=True,
                  highlight=False)
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

    from ..errors import printable

    emit = _printer(console)
    console.print()
    # Class names and paths come from the data: shown with their control characters escaped, not obeyed.
    source = printable(checks.source)
    emit(Text.assemble(("checks", "bold"), f" ({checks.device}, target {checks.target_shape}: {source})"))
    for check in checks.checks:
        tag, style = _TAGS[check.status]
        message = printable(report.elide_lists(check.message))
        emit(Text.assemble("  ", (tag, style), f"  {check.name:<9}  ", message), indent=19)
        for warning in check.warnings:
            emit(Text.assemble("  ", ("WARN", "yellow"), f"  {'':<9}  ", printable(report.elide_lists(warning))),
                 indent=19)


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
