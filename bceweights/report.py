"""The class-imbalance report: one data structure (:func:`build_report`), several renderings.

The dict from :func:`build_report` has stable keys and is exactly what ``--json`` writes; the Rich
table (:func:`render`), Markdown (:func:`to_markdown`), CSV (:func:`to_csv`) and the plot
(:mod:`bceweights.plot`) are views of it. A report rebuilt from a saved ``.pt``
(:func:`bceweights.api.result_from_payload`) is the same dict, so ``bceweights report WEIGHTS.pt``
prints what ``compute`` printed.

JSON document (``None`` where a figure does not apply; non-finite floats are written as ``null``):

``summary``
    ``kind`` (table, array, mask ...), ``dataset`` (a short name from the inputs), ``unit``
    (``"sample"``; ``"pixel"`` for 2-D masks, ``"voxel"`` for 3-D volumes), ``samples`` (rows; images
    or volumes for masks), ``classes``,
    ``label_cardinality`` (mean positives per sample), ``label_density`` (cardinality / classes),
    ``no_positive_samples``, ``imbalance_ratio`` (positives of the most / the least frequent class
    among classes with positives), ``rarest_class`` and ``most_frequent_class`` (``{class, positives, negatives,
    prevalence, pos_weight, class_weight}``, classes with positives only), ``absent_classes`` (names),
    ``flag_counts`` (classes per flag), ``rare_below`` (a class with fewer positives than this, but
    some, is ``rare``: ``--min-count`` when given, else :data:`RARE_POSITIVES`),
    ``positives_distribution`` (classes per decade of positives: ``{min, max, classes}`` from 0 up to
    the decade of the most frequent class), ``median_positives``,
    ``inputs``, ``options`` (reader options and value policy),
    ``scheme``, ``normalize``, ``zero_positives``, ``weight_shape``, ``soft_labels``, ``notes`` (what
    the readers decided); masks add ``pixels``, ``images`` and ``spatial_ndim``; ``output`` the ``.pt``.
``classes``
    one row per class, in the data's class order: ``class``, ``positives``, ``negatives``,
    ``prevalence`` (positives / (positives + negatives), a fraction), ``pos_weight``, ``class_weight``
    (as saved in the ``.pt``: float32 values),
    ``ignored`` (counted as neither), ``missing`` (blanks), ``uncertain`` (-1 values), ``soft`` (values
    strictly between 0 and 1), ``flags`` (``absent``, ``rare``, ``no-negatives``, ``extreme-weight``);
    masks add ``images`` (images that contain the class).
``warnings``
    the weighting warnings, as printed.
``top_pairs``
    (multi-label tables) the most frequent label pairs, ``{a, b, count}``, most frequent first.
``cooccurrence``
    (with ``top_pairs``) how the pairs were counted (:meth:`bceweights.pairs.PairCounts.describe`):
    ``mode`` (``dense``: the full matrix, up to ``dense_max_classes`` classes; ``sparse``: the pairs
    that occur, exact; ``top``: the most frequent pairs only), ``classes``, ``dense_max_classes``,
    ``max_pairs`` (the memory cap of the sparse count), ``pairs`` (pairs listed), ``exact``,
    ``count_error`` (how far below the truth a listed count may be), ``unlisted_at_most`` (the most a
    pair not listed occurred) and ``note`` (one line saying so).
"""

from __future__ import annotations

import csv
import io as _io
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import BceWeightsError, OptionsError

#: A class with fewer positives than this (but some) is flagged ``rare``, unless ``--min-count K`` says
#: otherwise: then K is the bound, the one the weights act on. The checks warn with the same bound.
RARE_POSITIVES = 10
#: A ``pos_weight`` or class weight above this is flagged ``extreme-weight`` (and warned about by the
#: checks): the loss of one element then dwarfs a whole batch, and training is likely to diverge.
EXTREME_WEIGHT = 1000.0
#: Label pairs kept in the JSON (``top_pairs``) and shown in the terminal.
TOP_PAIRS = 10
SHOWN_PAIRS = 5
SORT_KEYS = ("name", "count", "weight")
FLAGS = ("absent", "rare", "no-negatives", "extreme-weight")
#: Per-class counters shown as a column only when some class has a non-zero value.
OPTIONAL_COLUMNS = ("ignored", "uncertain", "missing", "soft")
CSV_FIELDS = ("class", "positives", "negatives", "prevalence", "pos_weight", "class_weight", "ignored",
              "missing", "uncertain", "soft", "images", "flags")
BAR_WIDTH = 12
#: Above this many classes, a table without ``--top`` shows only :data:`AUTO_SHOWN` rows (the most and
#: the least frequent halves, or the first rows of ``--sort``), and says so: a terminal of 20,000 rows
#: reads as nothing. ``--top K`` shows K; ``--csv`` and ``--json`` always hold every class.
AUTO_TOP_ABOVE = 50
AUTO_SHOWN = 20
#: From this many classes the report adds the distribution of classes over decades of positives.
DISTRIBUTION_MIN_CLASSES = 20
#: A list longer than this in a note or a warning is cut to its first items and "... and N more".
LIST_SHOWN = 20


def _num(value: float) -> float | int:
    value = float(value)
    return int(value) if value.is_integer() else value


def dataset_name(inputs: Sequence[str]) -> str:
    """A short name for titles: the file name, or the folder and file count of several inputs.

    >>> dataset_name(["data/train.csv"])
    'train.csv'
    >>> dataset_name(["masks/a.png", "masks/b.png"])
    'masks (2 files)'
    """
    if not inputs:
        return "labels"
    if len(inputs) == 1:
        return Path(inputs[0]).name or str(inputs[0])
    folder = Path(_common_folder(inputs)).name
    return f"{folder} ({len(inputs):,} files)" if folder else f"{len(inputs):,} files"


def _common_folder(inputs: Sequence[str]) -> str:
    """The deepest folder holding every input ('' when they share none)."""
    try:
        return os.path.commonpath([str(Path(p).parent) for p in inputs])
    except ValueError:  # absolute and relative paths mixed, or other drives
        return ""


def _class_summary(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("class", "positives", "negatives", "prevalence", "pos_weight", "class_weight")}


def rare_below(min_count: float | None) -> float:
    """The bound under which a class with positives is *rare*: ``--min-count`` when set (the classes
    the weights then cap or skip), else :data:`RARE_POSITIVES`.

    >>> rare_below(0), rare_below(25)
    (10, 25)
    """
    return min_count if min_count and min_count > 0 else RARE_POSITIVES


def positives_distribution(positives: Sequence[float]) -> list[dict[str, Any]]:
    """Classes per decade of positives: 0, 1-9, 10-99 ... up to the decade of the largest count, every
    decade listed (an empty one too), as ``{min, max, classes}``; a fractional count (soft labels)
    falls in the decade of its integer part.

    >>> [(d["min"], d["max"], d["classes"]) for d in positives_distribution([0, 3, 5, 250])]
    [(0, 0, 1), (1, 9, 2), (10, 99, 0), (100, 999, 1)]
    """
    import numpy as np

    pos = np.floor(np.asarray(positives, dtype=np.float64))
    if pos.size == 0:
        return []
    top = int(pos.max())
    out = [{"min": 0, "max": 0, "classes": int((pos < 1).sum())}]
    low = 1
    while low <= top:
        high = low * 10 - 1
        out.append({"min": low, "max": high, "classes": int(((pos >= low) & (pos <= high)).sum())})
        low *= 10
    return out


def build_report(result, *, output: str | None = None) -> dict[str, Any]:
    """Every figure of the report as plain values (the ``--json`` document; keys in the module doc)."""
    import numpy as np

    counts, weights = result.counts, result.weights
    pos, neg = counts.pos, counts.neg
    # The weights as the .pt stores them (float32): the figures the loss will use, and the same
    # whether the report comes from `compute` or from the saved file.
    pos_weight = np.asarray(weights.pos_weight, dtype=np.float32).astype(np.float64)
    class_weight = np.asarray(weights.class_weight, dtype=np.float32).astype(np.float64)
    rows = []
    rare_bound = rare_below(weights.options.min_count)
    for i, name in enumerate(counts.classes):
        valid = pos[i] + neg[i]
        prevalence = float(pos[i] / valid) if valid > 0 else 0.0
        flags = []
        if pos[i] <= 0:
            flags.append("absent")
        elif pos[i] < rare_bound:
            flags.append("rare")
        if neg[i] <= 0 and pos[i] > 0:
            flags.append("no-negatives")
        if max(pos_weight[i], class_weight[i]) > EXTREME_WEIGHT:
            flags.append("extreme-weight")
        row = {
            "class": name,
            "positives": _num(pos[i]),
            "negatives": _num(neg[i]),
            "prevalence": prevalence,
            "pos_weight": float(pos_weight[i]),
            "class_weight": float(class_weight[i]),
            "ignored": _num(counts.ignored[i]),
            "missing": _num(counts.missing[i]),
            "uncertain": _num(counts.uncertain[i]),
            "soft": _num(counts.soft[i]),
            "flags": flags,
        }
        if counts.image_count is not None:
            row["images"] = int(counts.image_count[i])
        rows.append(row)
    present = [r for r in rows if r["positives"] > 0]
    # Ties go to the first class in the data's order, so the answer does not depend on a sort.
    rarest = min(present, key=lambda r: r["positives"]) if present else None
    frequent = max(present, key=lambda r: r["positives"]) if present else None
    samples = counts.samples
    total_pos = float(pos.sum())
    spatial = bool(counts.spatial_ndim)
    inputs = [str(p) for p in result.meta.get("inputs", [])]
    summary: dict[str, Any] = {
        "kind": result.meta.get("kind", "table"),
        "dataset": dataset_name(inputs),
        "unit": ("voxel" if counts.spatial_ndim == 3 else "pixel") if spatial else "sample",
        "samples": int(samples),
        "classes": counts.num_classes,
        "label_cardinality": total_pos / samples if samples and not spatial else None,
        "label_density": total_pos / (samples * counts.num_classes)
        if samples and counts.num_classes and not spatial else None,
        "no_positive_samples": int(counts.no_positive),
        "imbalance_ratio": frequent["positives"] / rarest["positives"] if present else None,
        "rarest_class": _class_summary(rarest) if rarest else None,
        "most_frequent_class": _class_summary(frequent) if frequent else None,
        "absent_classes": [r["class"] for r in rows if "absent" in r["flags"]],
        "flag_counts": {f: sum(f in r["flags"] for r in rows) for f in FLAGS},
        "rare_below": _num(rare_bound),
        "positives_distribution": positives_distribution(pos),
        "median_positives": _num(np.median(pos)) if len(pos) else None,
        "inputs": inputs,
        "options": result.meta.get("options", {}),
        "scheme": weights.options.scheme,
        "normalize": weights.options.normalize,
        "zero_positives": weights.options.zero_positives,
        "weight_options": weights.options.describe(),
        "weight_shape": result.weight_shape(flat=bool(result.meta.get("flat"))),
        "soft_labels": bool(counts.soft.sum() > 0),
        "notes": list(counts.notes),
    }
    if spatial:
        summary["pixels"] = int(counts.pixels)
        summary["images"] = int(samples)
        summary["spatial_ndim"] = counts.spatial_ndim
    if output:
        summary["output"] = output
    report: dict[str, Any] = {"summary": summary, "classes": rows, "warnings": list(weights.warnings)}
    if counts.pairs is not None:
        report["top_pairs"] = top_pairs(counts.classes, counts.pairs)
        report["cooccurrence"] = counts.pairs.describe()
    return report


def top_pairs(classes, pairs, k: int = TOP_PAIRS) -> list[dict[str, Any]]:
    """The ``k`` most frequent label pairs (i < j) of a :class:`~bceweights.pairs.PairCounts` or a
    co-occurrence matrix; ties by class order.

    >>> top_pairs(["a", "b", "c"], [[5, 2, 0], [2, 4, 3], [0, 3, 3]])
    [{'a': 'b', 'b': 'c', 'count': 3}, {'a': 'a', 'b': 'b', 'count': 2}]
    """
    import numpy as np

    from .pairs import PairCounts

    if not isinstance(pairs, PairCounts):
        m = np.asarray(pairs, dtype=np.float64)
        if m.ndim != 2 or m.shape[0] < 2:
            return []
        pairs = PairCounts.from_dense(m)
    i, j, values = pairs.top(k)
    keep = values > 0
    return [{"a": classes[a], "b": classes[b], "count": _num(v)} for a, b, v in zip(i[keep], j[keep], values[keep])]


def to_json(report: dict[str, Any]) -> str:
    def clean(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(report), indent=2, allow_nan=False) + "\n"


# ---------------------------------------------------------------------------------------------------
# Choosing and ordering rows


def sorted_rows(report: dict[str, Any], sort: str | None = None) -> list[dict[str, Any]]:
    """The class rows in display order: the data's order (``None``), ``name`` (alphabetical), ``count``
    (most positives first) or ``weight`` (largest ``pos_weight`` first, i.e. rarest first)."""
    rows = list(report["classes"])
    if sort is None:
        return rows
    if sort == "name":
        return sorted(rows, key=lambda r: (r["class"].casefold(), r["class"]))
    if sort == "count":
        return sorted(rows, key=lambda r: -r["positives"])
    if sort == "weight":
        return sorted(rows, key=lambda r: -r["pos_weight"])
    raise OptionsError(f"unknown sort {sort!r}; choose one of {', '.join(SORT_KEYS)}")


def select_rows(report: dict[str, Any], *, sort: str | None = None,
                top: int | None = None) -> tuple[list[dict[str, Any]], int]:
    """The rows to show and how many are hidden. ``top`` keeps the first K rows of the ``sort`` order;
    without a ``sort`` it means the K most frequent classes (``count``)."""
    if top is not None and top < 1:
        raise OptionsError(f"--top must be at least 1, got {top}")
    if top is not None and sort is None:
        sort = "count"
    rows = sorted_rows(report, sort)
    if top is None or top >= len(rows):
        return rows, 0
    return rows[:top], len(rows) - top


@dataclass
class Shown:
    """The class rows a report shows: ``rows``; ``gap`` the index in ``rows`` before which rows were
    left out (the most / least frequent split of a long table), else None; ``hidden`` how many classes
    are not shown; ``note`` the line that says which are shown and how to see the others."""

    rows: list[dict[str, Any]]
    hidden: int = 0
    gap: int | None = None
    note: str | None = None


def shown_rows(report: dict[str, Any], *, sort: str | None = None, top: int | None = None) -> Shown:
    """The rows of the printed (and Markdown) table. ``top`` and ``sort`` as in :func:`select_rows`.
    Without ``top``, a report of more than :data:`AUTO_TOP_ABOVE` classes shows :data:`AUTO_SHOWN`: the
    most and the least frequent classes (or the first rows of ``sort``), and its note says so."""
    total = len(report["classes"])
    if top is None and total > AUTO_TOP_ABOVE:
        every = "every class is in --csv and --json"
        if sort is None:
            ranked = sorted_rows(report, "count")
            half = AUTO_SHOWN // 2
            rows = ranked[:half] + ranked[-half:]
            hidden = total - len(rows)
            note = (f"{len(rows)} of {total:,} classes shown: the {half} most and the {half} least frequent "
                    f"(the default above {AUTO_TOP_ABOVE} classes); --top K shows the K most frequent; {every}")
            return Shown(rows, hidden, half, note)
        rows = sorted_rows(report, sort)[:AUTO_SHOWN]
        hidden = total - len(rows)
        note = (f"{len(rows)} of {total:,} classes shown, by {_ORDER_WORDS[sort]} (the default above "
                f"{AUTO_TOP_ABOVE} classes); --top K shows K; {every}")
        return Shown(rows, hidden, None, note)
    rows, hidden = select_rows(report, sort=sort, top=top)
    return Shown(rows, hidden, None, hidden_line(hidden, sort) if hidden else None)


def constant_columns(report: dict[str, Any]) -> dict[str, float]:
    """The optional count columns whose value is the same non-zero number for every class (of two or
    more): void pixels, ignored on every class alike. The report states them once, not on every row."""
    rows = report["classes"]
    if len(rows) < 2:
        return {}
    out = {}
    for column in OPTIONAL_COLUMNS:
        values = {r.get(column) for r in rows}
        if len(values) == 1:
            value = values.pop()
            if value:
                out[column] = value
    return out


def optional_columns(report: dict[str, Any]) -> list[str]:
    """The per-class count columns worth a column: non-zero somewhere, and not the same on every row
    (that one is said once in the summary); ``images`` for masks."""
    rows = report["classes"]
    same = constant_columns(report)
    cols = [c for c in OPTIONAL_COLUMNS if c not in same and any(r.get(c) for r in rows)]
    if any("images" in r for r in rows):
        cols.append("images")
    return cols


# ---------------------------------------------------------------------------------------------------
# Numbers and words


def fmt_count(value: float) -> str:
    """1,234 or 1,234.5 (soft labels give fractional counts).

    >>> fmt_count(33120), fmt_count(2.5), fmt_count(1234.25)
    ('33,120', '2.5', '1,234.25')
    """
    value = float(value)
    if value.is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def fmt_weight(value: float) -> str:
    """A weight as a person writes it: four significant digits, thousands separated, never an exponent.

    >>> [fmt_weight(v) for v in (33120.4, 1518.2, 37.391, 0.65943, 0.00007255, 0.0)]
    ['33,120', '1,518', '37.39', '0.6594', '0.00007255', '0']
    """
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 1e-4:
        return f"{value:.4g}"
    # Below 1e-4 the 'g' format turns to an exponent: write the digits out (4 significant ones).
    decimals = min(3 - math.floor(math.log10(magnitude)), 20)
    return f"{value:.{decimals}f}"


def fmt_pct(fraction: float) -> str:
    """12.30%, <0.01%, >99.99%: two decimals, and a bound rather than a rounding to 0 or 100.

    >>> fmt_pct(0.123), fmt_pct(3e-5), fmt_pct(0.99999), fmt_pct(0), fmt_pct(1)
    ('12.30%', '<0.01%', '>99.99%', '0.00%', '100.00%')
    """
    pct = 100 * fraction
    if 0 < pct < 0.01:
        return "<0.01%"
    if 99.99 < pct < 100:
        return ">99.99%"
    return f"{pct:.2f}%"


def fmt_ratio(value: float) -> str:
    """An imbalance ratio: 131, 3.5, 1,508.

    >>> fmt_ratio(131.0), fmt_ratio(3.46), fmt_ratio(1507.7)
    ('131', '3.5', '1,508')
    """
    if value >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.1f}"


_PLURALS = {"class": "classes", "is": "are"}


def plural(n: float, word: str, many: str | None = None) -> str:
    """The count and the word, singular for exactly 1.

    >>> plural(1, "sample"), plural(2, "class"), plural(12031, "file")
    ('1 sample', '2 classes', '12,031 files')
    """
    return f"{fmt_count(n)} {word if n == 1 else many or _PLURALS.get(word, word + 's')}"


def unit_words(summary: dict[str, Any]) -> tuple[str, str]:
    """(what a positive is, what a sample is): ("pixel", "image") for 2-D masks, ("voxel", "volume")
    for 3-D volumes, ("positive", "sample") otherwise."""
    if summary.get("unit") in ("pixel", "voxel"):
        return ("voxel", "volume") if summary.get("spatial_ndim") == 3 else ("pixel", "image")
    return "positive", "sample"


def elide_lists(text: str, shown: int = LIST_SHOWN) -> str:
    """Cut every comma-separated list of more than ``shown`` + 2 items in ``text`` (a note, a warning) to
    its first ``shown`` items and "... and N more". Lists end at ``;`` and ``:``.

    >>> elide_lists("no positives for a, b, c, d, e, f: pos_weight 1", shown=2)
    'no positives for a, b, ... and 4 more: pos_weight 1'
    """
    import re

    parts = re.split(r"(; |: )", text)
    for i in range(0, len(parts), 2):
        items = parts[i].split(", ")
        if len(items) > shown + 2:
            parts[i] = ", ".join(items[:shown]) + f", ... and {len(items) - shown:,} more"
    return "".join(parts)


def _quote(value: Any) -> str:
    """A value as a shell word: quoted when it holds a space or a shell character."""
    import shlex

    if isinstance(value, float):
        value = f"{value:g}"
    return shlex.quote(str(value))


def option_words(options: dict[str, Any]) -> list[str]:
    """The reader options of a run (``InputSpec.describe()``; the value policy apart) as the CLI
    spells them, one word group each: ``--where split=train``, ``--no-header``, ``--ignore-index 255``.

    >>> option_words({"where": [["split", "train"]], "no_header": True, "columns": ["A", "B"]})
    ['--where split=train', '--no-header', '--columns A,B']
    """
    from .spec import FLAGS as SPEC_FLAGS

    out = []
    for key, value in options.items():
        if key == "policy":
            continue
        flag = SPEC_FLAGS.get(key, "--" + key.replace("_", "-"))
        if not flag.startswith("--"):
            continue  # a setting of the library, not an option a user types
        if isinstance(value, bool):
            if value:
                out.append(flag)
            elif not flag.startswith("--no-"):
                out.append("--no-" + flag[2:])
            else:
                out.append(flag)
        elif key == "where" and isinstance(value, list):
            out += [f"{flag} {_quote(f'{column}={wanted}')}" for column, wanted in value]
        elif isinstance(value, list) and key in _REPEATED:
            out += [f"{flag} {_quote(v)}" for v in value]
        elif isinstance(value, list):
            out.append(f"{flag} {_quote(','.join(map(str, value)))}")
        elif value is not None:
            out.append(f"{flag} {_quote(value)}")
    return out


#: Options given once per value on the command line (``--ignore-index 0 --ignore-index 255``).
_REPEATED = frozenset({"ignore_index", "ignore_values"})


def _policy_text(policy: dict[str, Any]) -> str:
    parts = [f"-1 counts as {_POLICY_WORDS[policy.get('uncertain', 'ignore')]} "
             f"(--uncertain {policy.get('uncertain', 'ignore')})",
             f"a blank as {_POLICY_WORDS[policy.get('missing', 'negative')]} "
             f"(--missing {policy.get('missing', 'negative')})"]
    for value in policy.get("ignore_values") or ():
        parts.append(f"{value:g} as neither (--ignore-value {value:g})")
    if policy.get("hard"):
        parts.append("only 0 and 1 allowed (--hard)")
    if policy.get("binarize") is not None:
        parts.append(f"y >= {policy['binarize']:g} is a positive (--binarize {policy['binarize']:g})")
    return "; ".join(parts)


_POLICY_WORDS = {"ignore": "neither", "positive": "a positive", "negative": "a negative"}


def _clip_text(clip: Sequence[float | None]) -> str:
    low, high = clip
    return f"{'' if low is None else f'{low:g}'}:{'' if high is None else f'{high:g}'}"


def weight_option_words(options: dict[str, Any]) -> list[str]:
    """The weight options (``WeightOptions.describe()``) as the CLI spells them: the scheme, the
    normalisation and the zero-positives policy always, the others when not at their default.

    >>> weight_option_words({"scheme": "inverse", "normalize": "none", "zero_positives": "warn",
    ...                      "clip": [None, 50.0], "smoothing": 1.0})
    ['--scheme inverse', '--normalize none', '--zero-positives warn', '--clip :50', '--smoothing 1']
    """
    defaults = _default_weight_options()
    out = [f"--scheme {options.get('scheme', 'inverse')}", f"--normalize {options.get('normalize', 'none')}",
           f"--zero-positives {options.get('zero_positives', 'warn')}"]
    for key, value in options.items():
        if key in ("scheme", "normalize", "zero_positives") or value is None or value == defaults.get(key):
            continue
        if key == "clip":
            out.append(f"--clip {_clip_text(value)}")
        elif key in ("beta", "enet_k") and not _uses(options.get("scheme"), key):
            continue  # a parameter of a scheme not chosen changes nothing
        else:
            out.append(f"--{key.replace('_', '-')} {value:g}" if isinstance(value, float)
                       else f"--{key.replace('_', '-')} {value}")
    return out


def _uses(scheme: str | None, parameter: str) -> bool:
    return {"beta": "effective-number", "enet_k": "enet"}[parameter] == scheme


def _class_line(summary: dict[str, Any], info: dict[str, Any]) -> str:
    positive, _ = unit_words(summary)
    # The prevalence's own denominator: ignored values (-1, blanks under ignore, void pixels) are out.
    total = summary["pixels"] if "pixels" in summary else summary["samples"]
    counted = info["positives"] + info["negatives"]
    every = positive if "pixels" in summary else "sample"
    of = plural(counted, every) + ("" if counted == total else " counted")
    return (f"{info['class']} ({plural(info['positives'], positive)} of {of}, "
            f"{fmt_pct(info['prevalence'])}): pos_weight {fmt_weight(info['pos_weight'])}, "
            f"class weight {fmt_weight(info['class_weight'])}")


def _inputs_text(inputs: list[str]) -> str:
    """One input's path; several as their count, their common folder and the first three paths under it."""
    if len(inputs) == 1:
        return inputs[0]
    folder = _common_folder(inputs)
    names = [os.path.relpath(p, folder) for p in inputs] if folder else list(inputs)
    listed = ", ".join(names[:3]) + (f", ... and {len(names) - 3:,} more" if len(names) > 3 else "")
    return f"{len(inputs):,} files in {folder}: {listed}" if folder else f"{len(inputs):,} files: {listed}"


def summary_lines(report: dict[str, Any]) -> list[tuple[str, str]]:
    """The summary above the table as (label, text) pairs, in display order; every option in its CLI
    spelling, every list elided past :data:`LIST_SHOWN` items."""
    s = report["summary"]
    positive, sample = unit_words(s)
    facts: list[tuple[str, str]] = [("dataset", s["dataset"])]
    if "pixels" in s:
        facts.append((f"{sample}s", fmt_count(s["images"])))
        facts.append((f"{positive}s", fmt_count(s["pixels"])))
    else:
        facts.append(("samples", fmt_count(s["samples"])))
    facts.append(("classes", fmt_count(s["classes"])))
    if s.get("label_cardinality") is not None and s["classes"] > 1:  # one class: its prevalence, below
        facts.append(("labels per sample", f"{s['label_cardinality']:.3f} on average (label density "
                                           f"{fmt_weight(s['label_density'])})"))
    if "pixels" not in s:
        share = s["no_positive_samples"] / s["samples"] if s["samples"] else 0.0
        facts.append((f"{sample}s with no positive label",
                      f"{fmt_count(s['no_positive_samples'])} ({fmt_pct(share)})"))
    present = s["classes"] - len(s.get("absent_classes") or ())
    if s.get("imbalance_ratio") is not None and present >= 2:
        most, least = s["most_frequent_class"], s["rarest_class"]
        facts.append(("imbalance ratio", f"{fmt_ratio(s['imbalance_ratio'])} (most / least frequent: "
                                         f"{most['class']} ({fmt_count(most['positives'])}) / "
                                         f"{least['class']} ({fmt_count(least['positives'])}))"))
    if s.get("rarest_class"):
        facts.append(("rarest class" if s["classes"] >= 2 else "class", _class_line(s, s["rarest_class"])))
    if s.get("absent_classes"):
        facts.append((f"no {positive}s", elide_lists(", ".join(s["absent_classes"]))))
    for column, value in constant_columns(report).items():
        facts.append((f"{column} on every class", plural(value, positive if "pixels" in s else "value")))
    if s.get("options", {}).get("policy") and "pixels" not in s:
        facts.append(("label values", _policy_text(s["options"]["policy"])))
    words = option_words(s.get("options") or {})
    if words:
        facts.append(("options", " ".join(words)))
    facts.append(("weight options", " ".join(weight_option_words(s.get("weight_options") or {
        "scheme": s["scheme"], "normalize": s["normalize"], "zero_positives": s.get("zero_positives")}))))
    facts.append(("weight shape", str(s["weight_shape"])))
    inputs = s.get("inputs", [])
    if inputs:
        facts.append(("input" if len(inputs) == 1 else "inputs", _inputs_text(inputs)))
    for note in s.get("notes", []):
        facts.append(("note", elide_lists(note)))
    return facts


def distribution_lines(report: dict[str, Any]) -> list[tuple[str, int]]:
    """The distribution of classes over decades of positives as (range, classes) pairs, from the first
    decade that holds a class, for reports of :data:`DISTRIBUTION_MIN_CLASSES` classes or more; empty
    otherwise."""
    s = report["summary"]
    buckets = list(s.get("positives_distribution") or [])
    if s["classes"] < DISTRIBUTION_MIN_CLASSES or not buckets:
        return []
    while not buckets[0]["classes"]:  # from the first decade that holds a class (masks start high)
        buckets.pop(0)
    return [("0" if b["max"] == 0 else f"{b['min']:,} to {b['max']:,}", b["classes"]) for b in buckets]


_FLAG_MEANING = {
    "absent": "no {positive}s",
    "rare": "fewer than {rare} {positive}s{min_count}",
    "no-negatives": "every counted {unit} is a positive",
    "extreme-weight": "pos_weight or class weight above {extreme}; --clip :{bound} bounds both",
}


def flag_legend(report: dict[str, Any], flags: Sequence[str] | None = None,
                names: dict[str, str] | None = None) -> str:
    """What each flag shown means (``names``: the abbreviations printed, if any), in one line: the one
    place the report defines *rare*."""
    s = report["summary"]
    positive, _ = unit_words(s)
    shown = [f for f in FLAGS if any(f in r["flags"] for r in report["classes"])] if flags is None else flags
    min_count = (s.get("weight_options") or {}).get("min_count") or 0
    unit = positive if "pixels" in s else "sample"
    words = {"positive": positive, "rare": fmt_count(s.get("rare_below", RARE_POSITIVES)), "unit": unit,
             "extreme": f"{EXTREME_WEIGHT:,.0f}", "bound": f"{EXTREME_WEIGHT:g}",
             "min_count": f" (--min-count {min_count:g}: {_min_count_effect(s)})" if min_count else
             " (with --min-count K: fewer than K, and their weights capped)"}
    return "; ".join(f"{(names or {}).get(f, f)}: {_FLAG_MEANING[f].format(**words)}" for f in shown)


def _min_count_effect(summary: dict[str, Any]) -> str:
    return {"warn": "weights capped at the largest of the others", "skip": "class weight 0",
            "error": "an error"}.get(summary.get("zero_positives", "warn"), "")


def _default_weight_options() -> dict[str, Any]:
    from .weights import WeightOptions

    return WeightOptions().describe()


def bar(fraction: float, width: int = BAR_WIDTH, *, ascii_only: bool = False) -> str:
    """A horizontal bar of ``fraction`` (0..1) of ``width`` cells; any non-zero value shows."""
    if fraction <= 0:
        return ""
    if ascii_only:
        return "#" * max(1, round(fraction * width))
    eighths = max(1, round(fraction * width * 8))
    return "█" * (eighths // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[eighths % 8]


_ORDER_WORDS = {"count": "most positives", "weight": "largest pos_weight", "name": "name"}


def hidden_line(hidden: int, sort: str | None) -> str:
    order = _ORDER_WORDS.get(sort or "count")
    return (f"... {plural(hidden, 'more class', 'more classes')} not shown (--top, by {order}); "
            "every class is in --csv and --json")


def usage_lines(report: dict[str, Any], path: str = "weights.pt") -> list[str]:
    """The lines of code that use the saved file, for the target shape the labels have; every comment
    on a line of its own, so that no code line is longer than it must be (it must survive a copy)."""
    summary = report["summary"]
    shape = summary["weight_shape"]
    spatial = int(summary.get("spatial_ndim") or 0)
    target = "[N, C" + {0: "", 2: ", H, W", 3: ", D, H, W"}.get(spatial, ", ...") + "]"
    if spatial and len(shape) == 1:
        # A flat [C] vector would weigh the last spatial axis: load it reshaped for the target instead.
        shown = [shape[0]] + [1] * spatial
        lines = ["import bceweights, torch",
                 f"# saved flat ({list(shape)}, --flat): bceweights.load reshapes it to {shown}",
                 f'w = bceweights.load("{path}", ndim={2 + spatial})']
    else:
        shown = shape
        lines = ["import torch", f'w = torch.load("{path}", weights_only=True)']
    return [
        *lines,
        f"# {shown} broadcasts over {target}",
        'loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=w["pos_weight"])',
        "# or weigh every element by its class:",
        '# loss_fn = torch.nn.BCEWithLogitsLoss(weight=w["class_weight"])',
    ]


# ---------------------------------------------------------------------------------------------------
# Files


def _md(text: Any) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def to_markdown(report: dict[str, Any], *, sort: str | None = None, top: int | None = None,
                title: str | None = None) -> str:
    """The report as Markdown (a summary list, the class table, pairs, warnings): for a model card.
    The table shows the rows of :func:`shown_rows`; ``title`` replaces the heading's dataset name."""
    s = report["summary"]
    lines = [f"## {_md(title)}" if title else f"## Class balance: {_md(s['dataset'])}", ""]
    lines += [f"- **{_md(k)}:** {_md(v)}" for k, v in summary_lines(report)]
    spread = distribution_lines(report)
    if spread:
        lines += ["", "Classes by positives:", "", "| positives | classes |", "|--:|--:|"]
        lines += [f"| {label} | {count:,} |" for label, count in spread]
    shown = shown_rows(report, sort=sort, top=top)
    extra = optional_columns(report)
    head = ["class", "positives", "negatives", "prevalence", "pos_weight", "class_weight", *extra, "flags"]
    align = [":--"] + ["--:"] * (len(head) - 2) + [":--"]
    lines += ["", "| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    for i, r in enumerate(shown.rows):
        if i == shown.gap:
            lines.append("| ... |" + " |" * (len(head) - 1))
        cells = [_md(r["class"]), fmt_count(r["positives"]), fmt_count(r["negatives"]),
                 fmt_pct(r["prevalence"]), fmt_weight(r["pos_weight"]), fmt_weight(r["class_weight"]),
                 *[fmt_count(r.get(c, 0)) for c in extra], ", ".join(r["flags"])]
        lines.append("| " + " | ".join(cells) + " |")
    legend = flag_legend(report)
    if legend:
        lines += ["", f"Flags: {_md(legend)}."]
    if shown.note:
        lines += ["", f"_{_md(shown.note)}_"]
    pairs = report.get("top_pairs") or []
    if pairs:
        lines += ["", "Most frequent label pairs:", ""]
        lines += [f"- {_md(p['a'])} + {_md(p['b'])}: {fmt_count(p['count'])}" for p in pairs]
    warnings = report.get("warnings") or []
    if warnings:
        lines += [""] + [f"> **Warning:** {_md(elide_lists(w))}" for w in warnings]
    return "\n".join(lines) + "\n"


def to_csv(report: dict[str, Any], *, sort: str | None = None) -> str:
    """One row per class, every class (in ``sort`` order), full-precision numbers; flags space-joined."""
    buf = _io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for r in sorted_rows(report, sort):
        writer.writerow(["" if r.get(k) is None else
                         (" ".join(r[k]) if k == "flags" else repr(r[k]) if isinstance(r[k], float) else r[k])
                         for k in CSV_FIELDS])
    return buf.getvalue()


def cooccurrence_csv(counts) -> str:
    """Up to ``pairs.DENSE_MAX_CLASSES`` classes, the full C×C co-occurrence matrix with class names as
    header row and first column. The diagonal holds each class's positives (sum of y²: the positives
    for hard labels).

    Above the bound, long rows ``class_a,class_b,count`` in class order, only the pairs listed (rows
    with ``class_a == class_b`` are the diagonal), after a first line starting with ``#`` that states
    the mode, the bound and how exact the counts are (``pandas.read_csv(path, skiprows=1)``)."""
    if counts.pairs is None:
        raise BceWeightsError(
            "no co-occurrence counts for these labels (they are kept for label tables only)",
            hint="drop --cooccurrence, or recompute the .pt from a label table",
        )
    buf = _io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    pairs = counts.pairs
    if pairs.matrix is not None:
        writer.writerow(["class", *counts.classes])
        for name, row in zip(counts.classes, pairs.matrix):
            writer.writerow([name, *(_num(v) for v in row)])
        return buf.getvalue()
    import numpy as np

    buf.write(f"# {pairs.note()}\n")
    writer.writerow(["class_a", "class_b", "count"])
    a, b, values = pairs.items()
    diagonal = pairs.sparse()[2]
    # The diagonal row of class i goes before its pairs (i, j > i): the class order of the .pt index.
    starts = np.searchsorted(a, np.arange(counts.num_classes))
    stops = np.searchsorted(a, np.arange(counts.num_classes), side="right")
    names = counts.classes
    for i, name in enumerate(names):
        if diagonal[i]:
            writer.writerow([name, name, _num(diagonal[i])])
        writer.writerows([name, names[j], _num(v)] for j, v in zip(b[starts[i]:stops[i]].tolist(),
                                                                  values[starts[i]:stops[i]].tolist()))
    return buf.getvalue()
