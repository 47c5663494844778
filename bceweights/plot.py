"""The report as a picture: per-class positives (bars, log axis, most frequent first) and
``pos_weight`` (points, second log axis), titled with the dataset and its sample count.

matplotlib is an optional extra (``pip install "bceweights[plot]"``), imported only here and only when
a plot is asked for. The figure is drawn with :class:`matplotlib.figure.Figure` and the Agg canvas, so
no GUI backend or pyplot global state is involved.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .errors import OptionsError, require
from .report import sorted_rows

FORMATS = ("png", "svg", "pdf")
DPI = 150


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

    Few classes get a slide-shaped 10x5.6 figure with horizontal or slanted labels; many classes get a
    wider figure (up to 20 in) with vertical labels, thinned so that they never overlap.

    >>> layout(5, 12)["rotation"], layout(5, 12)["step"]
    (0, 1)
    >>> big = layout(1000, 10)
    >>> big["width"], big["rotation"], big["step"] > 1
    (16.0, 90, True)
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
    height = (5.6 if c <= 40 else 7.0) + max(0.0, drop - 0.6)
    return {"width": width, "height": min(height, 9.0), "fontsize": fontsize, "rotation": rotation,
            "step": step}


def figure(report: dict[str, Any]):
    """The matplotlib :class:`~matplotlib.figure.Figure` of a report (see :func:`save_plot`)."""
    require("matplotlib", feature="--plot", extra="plot")
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator

    summary = report["summary"]
    # Most frequent first; ties keep the data's class order (a stable sort).
    rows = sorted_rows(report, "count")
    names = [r["class"] for r in rows]
    pos = [float(r["positives"]) for r in rows]
    present = [p > 0 for p in pos]
    pw = [r["pos_weight"] if ok else math.nan for r, ok in zip(rows, present)]
    c = len(rows)
    longest = max((len(n) for n in names), default=1)
    geo = layout(c, longest)

    fig = Figure(figsize=(geo["width"], geo["height"]), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    x = list(range(c))
    positive_word = "pixels" if summary.get("unit") == "pixel" else "positives"
    bars = ax.bar(x, [p if ok else math.nan for p, ok in zip(pos, present)], width=0.8 if c <= 100 else 1.0,
                  linewidth=0, color="#4C72B0", label=f"{positive_word} (left, log)", zorder=2)
    ax.set_yscale("log")
    floor = min((p for p in pos if p > 0), default=1.0)
    top_value = max(pos + [1.0])
    ax.set_ylim(max(floor / 2, 0.5) if floor >= 1 else floor / 2, top_value * 2)
    ax.set_ylabel(f"{positive_word} per class (log scale)")
    ax.yaxis.set_major_locator(LogLocator(base=10))
    ax.yaxis.set_major_formatter(FuncFormatter(_count_label))
    ax.grid(axis="y", which="major", color="#dddddd", zorder=0)
    ax.set_xlim(-0.6, c - 0.4)
    for side in ("top",):
        ax.spines[side].set_visible(False)

    if c <= 25:
        for rect, p, ok in zip(bars, pos, present):
            if ok:
                ax.annotate(_count_label(p), (rect.get_x() + rect.get_width() / 2, p),
                            xytext=(0, 2), textcoords="offset points", ha="center", va="bottom",
                            fontsize=geo["fontsize"] - 1, color="#333333")
    handles = [bars]
    missing_x = [i for i in x if not present[i]]
    if missing_x:
        # A log axis has no room for 0: mark those classes on the floor so they are not just a gap.
        handles += ax.plot(missing_x, [ax.get_ylim()[0] * 1.15] * len(missing_x), linestyle="none",
                           marker="x", color="#C44E52", markersize=7 if c <= 40 else 4,
                           label=f"no {positive_word}", zorder=3, clip_on=False)

    ax2 = ax.twinx()
    marker_size = 6 if c <= 40 else 3 if c <= 150 else 2
    handles += ax2.plot(x, pw, linestyle="-" if c <= 60 else "none", linewidth=1.2, marker="o",
                        markersize=marker_size, color="#DD8452", label="pos_weight (right, log)", zorder=3)
    ax2.set_yscale("log")
    finite = [w for w in pw if w == w and w > 0]
    if finite:
        ax2.set_ylim(min(finite) / 2, max(finite) * 2)
    ax2.set_ylabel("pos_weight = negatives / positives (log scale)")
    ax2.yaxis.set_major_formatter(FuncFormatter(_count_label))
    ax2.spines["top"].set_visible(False)

    ticks = x[:: geo["step"]]
    ax.set_xticks(ticks)
    ax.set_xticklabels([names[i] for i in ticks], rotation=geo["rotation"], fontsize=geo["fontsize"],
                       ha="right" if geo["rotation"] == 45 else "center",
                       rotation_mode="anchor" if geo["rotation"] == 45 else "default")
    for label, i in zip(ax.get_xticklabels(), ticks):
        if not present[i]:
            label.set_color("#C44E52")
    xlabel = "class, most frequent first"
    if geo["step"] > 1:
        xlabel += f" (every {_ordinal(geo['step'])} name shown; all {c} are in --csv)"
    ax.set_xlabel(xlabel)

    fig.legend(handles, [h.get_label() for h in handles], loc="outside lower center", ncol=len(handles),
               frameon=False, fontsize=9)
    if "pixels" in summary:
        size = f"{summary['images']:,} images, {summary['pixels']:,} pixels"
    else:
        size = f"{summary['samples']:,} samples"
    fig.suptitle(f"{summary['dataset']}: {c} classes, {size}", fontsize=13, fontweight="bold")
    rarest = summary.get("rarest_class")
    if rarest:
        n = rarest["positives"]
        word = positive_word if n != 1 else positive_word[:-1]
        ax.set_title(f"rarest: {rarest['class']} ({_count_label(n)} {word}, pos_weight "
                     f"{_weight_label(rarest['pos_weight'])}); imbalance ratio "
                     f"{summary['imbalance_ratio']:,.1f}", fontsize=10, color="#444444")
    return fig


def _weight_label(value: float) -> str:
    """690, 37.4, 4.28, 50,000: a weight as a person reads it."""
    return f"{value:,.0f}" if value >= 1000 else f"{value:.3g}"


def _ordinal(n: int) -> str:
    """2nd, 3rd, 4th, 11th, 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _count_label(value: float, _pos: Any = None) -> str:
    """1, 20, 300, 4k, 50k, 1.2M: short labels for a log axis."""
    if value <= 0 or not math.isfinite(value):
        return ""
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= div:
            return f"{value / div:.3g}{suffix}"
    return f"{value:.3g}" if value < 1 else f"{value:,.0f}" if float(value).is_integer() else f"{value:.3g}"


def save_plot(report: dict[str, Any], path: Path | str) -> Path:
    """Draw the report's figure and write it atomically to ``path`` (.png, .svg or .pdf)."""
    from .io import write_with

    fmt = check_plot_path(path)
    fig = figure(report)
    write_with(path, lambda fh: fig.savefig(fh, format=fmt, dpi=DPI))
    return Path(path)
