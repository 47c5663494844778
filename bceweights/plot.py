"""The report as a picture, in one of three views chosen by the number of classes:

* one class (a binary mask, a single 0/1 column): its positives against its negatives (foreground
  against background for a mask), with the ``pos_weight`` that balances them;
* up to :data:`BARS_MAX` classes: positives per class as bars (log axis, most frequent first) over a
  second panel with ``pos_weight`` per class (log axis), so that no label ever meets a marker;
* more classes: a rank-frequency view on log-log axes (positives, then ``pos_weight``, against the
  class's rank), with the most frequent and the rarest classes named in a box.

Titled with ``--title`` or the dataset, its classes and samples; counts read as 1, 20, 300, 4k, 1.2M,
in pixels and images for 2-D masks, voxels and volumes for 3-D ones.

matplotlib is an optional extra (``pip install "bceweights[plot]"``), imported only here and only when
a plot is asked for. The figure is drawn with :class:`matplotlib.figure.Figure` and the Agg canvas, so
no GUI backend or pyplot global state is involved.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .errors import OptionsError, require
from .report import EXTREME_WEIGHT, fmt_ratio, plural, sorted_rows, unit_words

FORMATS = ("png", "svg", "pdf")
DPI = 150
#: Above this many classes the bars (and their names) no longer read: the rank-frequency view instead.
BARS_MAX = 100
#: Up to this many classes each bar and each pos_weight marker carries its value.
LABELLED_MAX = 25
#: Classes named at each end of the rank-frequency view.
NAMED_ENDS = 3

_BAR = "#4C72B0"
_WEIGHT = "#DD8452"
_ABSENT = "#C44E52"
_GRID = "#dddddd"


def check_plot_path(path: Path | str) -> str:
    """The image format of ``path`` (from its extension); checks matplotlib is installed."""
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise OptionsError(f"{path}: --plot writes .png, .svg or .pdf, not {Path(path).suffix or 'no extension'}",
                           hint="e.g. --plot balance.png")
    require("matplotlib", feature="--plot", extra="plot")
    return fmt


def layout(num_classes: int, longest_label: int) -> dict[str, Any]:
    """Figure size (inches), tick-label font size, rotation and label step for ``num_classes`` bars.

    Few classes get a slide-shaped 10-inch-wide figure with horizontal or slanted labels; many classes
    get a wider figure (up to 16 in) with vertical labels, thinned so that they never overlap.

    >>> layout(5, 12)["rotation"], layout(5, 12)["step"]
    (0, 1)
    >>> big = layout(100, 10)
    >>> big["width"], big["rotation"], big["step"] > 1
    (10.5, 90, True)
    """
    c = max(num_classes, 1)
    width = min(16.0, max(10.0, 2.5 + 0.08 * c))
    if c <= 40:
        fontsize = 10.0 if c <= 20 else 8.0
    else:
        fontsize = max(6.0, 8.0 - (c - 40) / 40)
    # Room for one label along the axis: horizontal labels need their length, rotated ones their height.
    axis_inches = width * 0.8
    per_bar = axis_inches / c
    char_in = fontsize * 0.6 / 72
    if longest_label * char_in <= per_bar * 0.9:
        rotation = 0
    elif c <= 40:
        rotation = 45
    else:
        rotation = 90
    line_in = fontsize * 1.3 / 72
    step = 1 if rotation != 90 else max(1, math.ceil(line_in / per_bar))
    label_in = min(longest_label, 40) * char_in
    drop = 0.0 if rotation == 0 else label_in * (0.72 if rotation == 45 else 1.0)
    height = (6.4 if c <= 40 else 7.4) + max(0.0, drop - 0.6)
    return {"width": width, "height": min(height, 10.0), "fontsize": fontsize, "rotation": rotation,
            "step": step}


def _words(summary: dict[str, Any]) -> tuple[str, str]:
    """(positives, samples) in the report's units: ("pixels", "images"), ("voxels", "volumes") ..."""
    positive, sample = unit_words(summary)
    return ("positives" if positive == "positive" else positive + "s"), sample + "s"


def default_title(report: dict[str, Any]) -> str:
    """``dataset: 14 classes, 78,468 samples`` (images and pixels, volumes and voxels for masks)."""
    s = report["summary"]
    positive, sample = unit_words(s)
    size = plural(s["samples"], sample)
    if "pixels" in s:
        size += ", " + _short_count(s["pixels"]) + f" {positive}s"
    return f"{s['dataset']}: {plural(s['classes'], 'class')}, {size}"


def figure(report: dict[str, Any], *, title: str | None = None):
    """The matplotlib :class:`~matplotlib.figure.Figure` of a report (see :func:`save_plot`)."""
    require("matplotlib", feature="--plot", extra="plot")
    from matplotlib.figure import Figure

    rows = sorted_rows(report, "count")  # most frequent first; ties keep the data's order
    c = len(rows)
    if c <= 1:
        fig = Figure(figsize=(8, 5.6), dpi=DPI, layout="constrained")
        _single_class(fig.add_subplot(), report)
    elif c <= BARS_MAX:
        geo = layout(c, max(len(r["class"]) for r in rows))
        fig = Figure(figsize=(geo["width"], geo["height"]), dpi=DPI, layout="constrained")
        top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.5]})
        _bars(top, bottom, report, rows, geo)
    else:
        fig = Figure(figsize=(11, 7.4), dpi=DPI, layout="constrained")
        top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.5]})
        _rank_frequency(top, bottom, report, rows)
    fig.suptitle(title or default_title(report), fontsize=13, fontweight="bold")
    return fig


def draw(report: dict[str, Any], ax):
    """Draw the report into an existing matplotlib Axes (a notebook's subplot): positives per class
    (bars, or rank-frequency above :data:`BARS_MAX` classes) on ``ax``, ``pos_weight`` as points on a
    twin axis, without value labels; returns ``ax``."""
    rows = sorted_rows(report, "count")
    if len(rows) <= 1:
        _single_class(ax, report)
        return ax
    positives, _ = _words(report["summary"])
    present = [r for r in rows if r["positives"] > 0]
    many = len(rows) > BARS_MAX
    x = list(range(1, len(present) + 1)) if many else list(range(len(rows)))
    counts = [float(r["positives"]) for r in (present if many else rows)]
    if many:
        ax.loglog(x, counts, color=_BAR, linewidth=1.5, label=positives)
        ax.set_xlabel("class rank by positives (log scale)")
    else:
        ax.bar(x, [v if v > 0 else math.nan for v in counts], color=_BAR, linewidth=0, label=positives)
        ax.set_yscale("log")
        ax.set_xticks(x)
        ax.set_xticklabels([r["class"] for r in rows], rotation=90, fontsize=7)
    _log_ticks(ax.yaxis, counts)
    ax.set_ylabel(f"{positives} per class (log)")
    twin = ax.twinx()
    weights = [r["pos_weight"] if r["positives"] > 0 else math.nan for r in (present if many else rows)]
    twin.plot(x, weights, linestyle="none", marker="o", markersize=3, color=_WEIGHT, label="pos_weight")
    twin.set_yscale("log")
    _log_ticks(twin.yaxis, weights)
    twin.set_ylabel("pos_weight (log)")
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], loc="upper right", fontsize=8, frameon=False)
    return ax


def _bars(ax, wax, report: dict[str, Any], rows: list[dict[str, Any]], geo: dict[str, Any]) -> None:
    summary = report["summary"]
    positives, _ = _words(summary)
    c = len(rows)
    x = list(range(c))
    names = [r["class"] for r in rows]
    pos = [float(r["positives"]) for r in rows]
    present = [p > 0 for p in pos]
    labelled = c <= LABELLED_MAX
    font = geo["fontsize"]

    bars = ax.bar(x, [p if ok else math.nan for p, ok in zip(pos, present)], width=0.8 if c <= 60 else 0.9,
                  linewidth=0, color=_BAR, zorder=2)
    ax.set_yscale("log")
    drawn = [p for p in pos if p > 0] or [1.0]
    low, high = min(drawn), max(drawn)
    # Room above the tallest bar for its label (a factor on a log axis), and below the shortest for the
    # marks of classes without positives.
    ax.set_ylim(low / 3, high * (4 if labelled else 1.6))
    _log_ticks(ax.yaxis, [low, high])
    ax.set_ylabel(f"{positives} per class (log)")
    ax.grid(axis="y", which="major", color=_GRID, zorder=0)
    ax.set_xlim(-0.6, c - 0.4)
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    if labelled:
        for rect, p, ok in zip(bars, pos, present):
            if ok:
                ax.annotate(_short_count(p), (rect.get_x() + rect.get_width() / 2, p), xytext=(0, 2),
                            textcoords="offset points", ha="center", va="bottom", fontsize=font - 1,
                            color="#333333")
    missing = [i for i in x if not present[i]]
    if missing:
        # A log axis has no room for 0: mark those classes on the floor so they are not just a gap.
        ax.plot(missing, [low / 2.2] * len(missing), linestyle="none", marker="x", color=_ABSENT,
                markersize=7 if c <= 40 else 4, label=f"no {positives}", zorder=3, clip_on=False)
        ax.legend(loc="upper right", fontsize=9, frameon=False)
    rarest = summary.get("rarest_class")
    if rarest:
        n = rarest["positives"]
        word = positives if n != 1 or positives != "positives" else "positive"
        ratio = summary.get("imbalance_ratio")
        ax.set_title(f"rarest: {rarest['class']} ({_short_count(n)} {word}, pos_weight "
                     f"{_weight_label(rarest['pos_weight'])})"
                     + (f"; imbalance ratio {fmt_ratio(ratio)}" if ratio else ""), fontsize=10, color="#444444")

    weights = [r["pos_weight"] if ok else math.nan for r, ok in zip(rows, present)]
    finite = [w for w in weights if w == w and w > 0] or [1.0]
    wax.plot(x, weights, linestyle="-" if c <= 60 else "none", linewidth=1.0, marker="o",
             markersize=5 if c <= 40 else 3, color=_WEIGHT, zorder=3)
    wax.set_yscale("log")
    wlow, whigh = min(finite), max(finite)
    extreme = whigh > EXTREME_WEIGHT
    wax.set_ylim(wlow / 2.5, max(whigh, EXTREME_WEIGHT if extreme else whigh) * (5 if labelled else 2))
    _log_ticks(wax.yaxis, [wlow, whigh], short=True)
    wax.set_ylabel("pos_weight (log)")
    wax.grid(axis="y", which="major", color=_GRID, zorder=0)
    wax.spines["top"].set_visible(False)
    wax.spines["right"].set_visible(False)
    if extreme:
        wax.axhline(EXTREME_WEIGHT, color=_ABSENT, linewidth=0.8, linestyle="--", zorder=1)
        _extreme_label(wax)
    if labelled:
        for i, w in zip(x, weights):
            if w == w:
                wax.annotate(_weight_label(w), (i, w), xytext=(0, 5), textcoords="offset points",
                             ha="center", va="bottom", fontsize=font - 2, color="#8c4a1c")

    ticks = x[:: geo["step"]]
    wax.set_xticks(ticks)
    wax.set_xticklabels([names[i] for i in ticks], rotation=geo["rotation"], fontsize=font,
                        ha="right" if geo["rotation"] == 45 else "center",
                        rotation_mode="anchor" if geo["rotation"] == 45 else "default")
    for label, i in zip(wax.get_xticklabels(), ticks):
        if not present[i]:
            label.set_color(_ABSENT)
    xlabel = "class, most frequent first"
    if geo["step"] > 1:
        xlabel += f" (every {_ordinal(geo['step'])} name shown; all {c:,} are in --csv)"
    wax.set_xlabel(xlabel)


def _rank_frequency(ax, wax, report: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    summary = report["summary"]
    positives, _ = _words(summary)
    present = [r for r in rows if r["positives"] > 0]
    rank = list(range(1, len(present) + 1))
    pos = [float(r["positives"]) for r in present] or [1.0]
    ax.loglog(rank or [1], pos, color=_BAR, linewidth=1.6, marker="o" if len(present) <= 400 else None,
              markersize=2.5, zorder=2)
    # The lower fifth of the panel is kept below the curve for the box of names: they never meet.
    span = max(math.log10(max(pos) / min(pos)), 1.0)
    ax.set_ylim(min(pos) / 10 ** (span * 0.3), max(pos) * 10 ** (span * 0.06))
    _log_ticks(ax.yaxis, pos)
    _log_ticks(ax.xaxis, [1, max(len(present), 2)])
    ax.set_ylabel(f"{positives} per class (log)")
    ax.grid(which="major", color=_GRID, zorder=0)
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    ratio = summary.get("imbalance_ratio")
    ax.set_title(f"rank-frequency: classes ranked by {positives}"
                 + (f"; imbalance ratio {fmt_ratio(ratio)}" if ratio else ""), fontsize=10, color="#444444")
    k = min(NAMED_ENDS, len(present) // 2)
    lines = []
    if k:
        lines.append("most frequent: " + ", ".join(f"{r['class']} ({_short_count(r['positives'])})"
                                                    for r in present[:k]))
        lines.append("rarest: " + ", ".join(f"{r['class']} ({_short_count(r['positives'])})"
                                            for r in reversed(present[-k:])))
    absent = len(rows) - len(present)
    if absent:
        lines.append(f"{plural(absent, 'class')} with no {positives} (not drawn on a log axis)")
    if lines:
        # Below the curve, which falls from the upper left: the lower left corner stays empty.
        ax.text(0.015, 0.03, "\n".join(_clip(line, 110) for line in lines), transform=ax.transAxes,
                fontsize=8.5, va="bottom", ha="left", color="#333333",
                bbox={"boxstyle": "round,pad=0.4", "facecolor": "white", "edgecolor": _GRID})

    weights = [r["pos_weight"] for r in present] or [1.0]
    wax.loglog(rank or [1], weights, color=_WEIGHT, linewidth=1.4, zorder=2)
    _log_ticks(wax.yaxis, weights, short=True)
    _log_ticks(wax.xaxis, [1, max(len(present), 2)])
    wax.set_ylabel("pos_weight (log)")
    wax.set_xlabel(f"class rank (1 = most {positives}; log scale); every class is in --csv")
    wax.grid(which="major", color=_GRID, zorder=0)
    wax.spines["top"].set_visible(False)
    wax.spines["right"].set_visible(False)
    if max(weights) > EXTREME_WEIGHT:
        wax.axhline(EXTREME_WEIGHT, color=_ABSENT, linewidth=0.8, linestyle="--", zorder=1)
        _extreme_label(wax)


def _extreme_label(wax) -> None:
    """Names the dashed line at the left end, above the most frequent classes: their weights are the
    smallest, so nothing is drawn there (the rarest, heaviest classes sit at the right)."""
    wax.annotate(f"extreme-weight (> {EXTREME_WEIGHT:,.0f})", (0.0, EXTREME_WEIGHT),
                 xycoords=("axes fraction", "data"), xytext=(4, 2), textcoords="offset points", ha="left",
                 va="bottom", fontsize=8, color=_ABSENT)


def _single_class(ax, report: dict[str, Any]) -> None:
    """One class: its positives against its negatives (a binary mask's foreground and background)."""
    summary = report["summary"]
    row = report["classes"][0] if report["classes"] else {"class": "class", "positives": 0, "negatives": 0,
                                                          "pos_weight": 1.0}
    positives, samples = _words(summary)
    masks = "pixels" in summary
    if masks:
        names = [row["class"], "background" if row["class"] == "foreground" else f"not {row['class']}"]
        ylabel = positives
    else:
        names = [f"{row['class']}: positives", "negatives"]
        ylabel = samples
    values = [float(row["positives"]), float(row["negatives"])]
    total = sum(values) or 1.0
    bars = ax.bar([0, 1], values, width=0.6, color=[_BAR, "#9aa5b1"], linewidth=0, zorder=2)
    ax.set_xticks([0, 1])
    ax.set_xticklabels(names, fontsize=11)
    ax.set_ylim(0, max(values + [1.0]) * 1.18)
    ax.yaxis.set_major_formatter(_formatter())
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", color=_GRID, zorder=0)
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    for rect, value in zip(bars, values):
        ax.annotate(f"{value:,.0f} ({100 * value / total:.2f}%)", (rect.get_x() + rect.get_width() / 2, value),
                    xytext=(0, 3), textcoords="offset points", ha="center", va="bottom", fontsize=10)
    ax.set_title(f"pos_weight = {names[1]} / {names[0]} = {_weight_label(row['pos_weight'])}",
                 fontsize=10, color="#444444")


def _formatter():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(_count_label)


def _log_ticks(axis, values, *, short: bool = False) -> None:
    """Decades labelled 1, 10, 100, 1k ... on every log axis of the figure, in one format; 2 and 5
    between them too when the values span less than three decades (``short``, a low panel: 3 when
    they span one to two decades, 2 and 5 under one), so that every axis has a few labels, never a
    crowd."""
    from matplotlib.ticker import LogLocator, NullFormatter

    finite = [v for v in values if v == v and v > 0]
    span = math.log10(max(finite) / min(finite)) if finite else 0.0
    if short:
        subs = (1.0,) if span >= 2 else (1.0, 3.0) if span >= 1 else (1.0, 2.0, 5.0)
    else:
        subs = (1.0,) if span >= 3 else (1.0, 2.0, 5.0)
    axis.set_major_locator(LogLocator(base=10, subs=subs, numticks=12))
    axis.set_major_formatter(_formatter())
    axis.set_minor_locator(LogLocator(base=10, subs=tuple(range(2, 10)), numticks=12))
    axis.set_minor_formatter(NullFormatter())


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _weight_label(value: float) -> str:
    """690, 37.4, 4.28, 50,000: a weight as a person reads it."""
    return f"{value:,.0f}" if value >= 1000 else f"{value:.3g}"


def _ordinal(n: int) -> str:
    """2nd, 3rd, 4th, 11th, 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _count_label(value: float, _pos: Any = None) -> str:
    """1, 20, 300, 4k, 50k, 1.2M, 0.05: short labels for an axis."""
    if value <= 0 or not math.isfinite(value):
        return "0" if value == 0 else ""
    return _short_count(value)


def _short_count(value: float) -> str:
    """1, 20, 300, 4k, 50k, 1.2M, 0.05."""
    value = float(value)
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= div:
            return f"{value / div:.3g}{suffix}"
    return f"{value:.3g}" if value < 1 else f"{value:,.0f}" if value.is_integer() else f"{value:.3g}"


def save_plot(report: dict[str, Any], path: Path | str, *, title: str | None = None) -> Path:
    """Draw the report's figure and write it atomically to ``path`` (.png, .svg or .pdf)."""
    from .io import write_with

    fmt = check_plot_path(path)
    fig = figure(report, title=title)
    write_with(path, lambda fh: fig.savefig(fh, format=fmt, dpi=DPI))
    return Path(path)
