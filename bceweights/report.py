"""The class-imbalance report: one data structure (:func:`build_report`), several renderings.

The dict from :func:`build_report` has stable keys and is exactly what ``--json`` writes; the Rich
table (:func:`render`), Markdown (:func:`to_markdown`), CSV (:func:`to_csv`) and the plot
(:mod:`bceweights.plot`) are views of it. A report rebuilt from a saved ``.pt``
(:func:`bceweights.api.result_from_payload`) is the same dict, so ``bceweights report WEIGHTS.pt``
prints what ``compute`` printed.

JSON document (``None`` where a figure does not apply; non-finite floats are written as ``null``):

``summary``
    ``kind`` (table, array, mask ...), ``dataset`` (a short name from the inputs), ``unit``
    (``"sample"``, or ``"pixel"`` for masks), ``samples`` (rows; images for masks), ``classes``,
    ``label_cardinality`` (mean positives per sample), ``label_density`` (cardinality / classes),
    ``no_positive_samples``, ``imbalance_ratio`` (positives of the most / the least frequent class
    among classes with positives), ``rarest_class`` and ``most_frequent_class`` (``{class, positives, negatives,
    prevalence, pos_weight, class_weight}``, classes with positives only), ``absent_classes`` (names),
    ``flag_counts`` (classes per flag), ``inputs``, ``options`` (reader options and value policy),
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
"""

from __future__ import annotations

import csv
import io as _io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import BceWeightsError, OptionsError

#: A class with fewer positives than this (but some) is flagged ``rare``.
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
    parents = {Path(p).parent for p in inputs}
    folder = parents.pop().name if len(parents) == 1 else ""
    return f"{folder} ({len(inputs)} files)" if folder else f"{len(inputs)} files"


def _class_summary(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("class", "positives", "negatives", "prevalence", "pos_weight", "class_weight")}


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
    # Classes under the user's --min-count are rare too, whatever RARE_POSITIVES says.
    rare = set(getattr(weights, "rare", ()) or ())
    for i, name in enumerate(counts.classes):
        valid = pos[i] + neg[i]
        prevalence = float(pos[i] / valid) if valid > 0 else 0.0
        flags = []
        if pos[i] <= 0:
            flags.append("absent")
        elif pos[i] < RARE_POSITIVES or name in rare:
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
        "unit": "pixel" if spatial else "sample",
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
    if counts.cooccurrence is not None:
        report["top_pairs"] = top_pairs(counts.classes, counts.cooccurrence)
    return report


def top_pairs(classes, matrix, k: int = TOP_PAIRS) -> list[dict[str, Any]]:
    """The ``k`` most frequent label pairs (i < j) of a co-occurrence matrix; ties by class order.

    >>> top_pairs(["a", "b", "c"], [[5, 2, 0], [2, 4, 3], [0, 3, 3]])
    [{'a': 'b', 'b': 'c', 'count': 3}, {'a': 'a', 'b': 'b', 'count': 2}]
    """
    import numpy as np

    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] < 2:
        return []
    i, j = np.triu_indices(m.shape[0], k=1)
    values = m[i, j]
    keep = np.flatnonzero(values > 0)
    # A stable sort on -count keeps the (i, j) order of the upper triangle among equal counts.
    order = keep[np.argsort(-values[keep], kind="stable")][:k]
    return [{"a": classes[i[o]], "b": classes[j[o]], "count": _num(values[o])} for o in order]


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


def optional_columns(report: dict[str, Any]) -> list[str]:
    rows = report["classes"]
    cols = [c for c in OPTIONAL_COLUMNS if any(r.get(c) for r in rows)]
    if any("images" in r for r in rows):
        cols.append("images")
    return cols


# ---------------------------------------------------------------------------------------------------
# Text pieces shared by the terminal and Markdown


def fmt_count(value: float) -> str:
    value = float(value)
    return f"{int(value):,}" if value.is_integer() else f"{value:,.2f}"


def fmt_weight(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"


def fmt_pct(fraction: float) -> str:
    pct = 100 * fraction
    if pct == 0 or pct >= 0.01:
        return f"{pct:.2f}%"
    return f"{pct:.1e}%"


def plural(n: float, word: str) -> str:
    return f"{fmt_count(n)} {word}{'' if n == 1 else 's'}"


def unit_words(summary: dict[str, Any]) -> tuple[str, str]:
    """(what a positive is, what a sample is): ("pixel", "image") for masks."""
    return ("pixel", "image") if summary.get("unit") == "pixel" else ("positive", "sample")


def _class_line(summary: dict[str, Any], info: dict[str, Any]) -> str:
    positive, _ = unit_words(summary)
    # The prevalence's own denominator: ignored values (-1, blanks under ignore, void pixels) are out.
    total = summary["pixels"] if "pixels" in summary else summary["samples"]
    counted = info["positives"] + info["negatives"]
    of = plural(counted, "pixel" if "pixels" in summary else "sample") + ("" if counted == total else " counted")
    return (f"{info['class']} ({plural(info['positives'], positive)} of {of}, "
            f"{fmt_pct(info['prevalence'])}): pos_weight {fmt_weight(info['pos_weight'])}, "
            f"class weight {fmt_weight(info['class_weight'])}")


def _options_text(options: dict[str, Any], *, masks: bool = False) -> list[tuple[str, str]]:
    """The reader options and value policy as (label, text) lines; only what was set. The value policy
    (-1, blanks) is a table and array matter: masks hold class ids."""
    out = []
    policy = options.get("policy")
    if isinstance(policy, dict) and not masks:
        parts = [f"uncertain (-1) = {policy.get('uncertain')}", f"missing (blank) = {policy.get('missing')}"]
        if policy.get("ignore_values"):
            parts.append("ignore values " + ", ".join(f"{v:g}" for v in policy["ignore_values"]))
        if policy.get("hard"):
            parts.append("hard labels only")
        if policy.get("binarize") is not None:
            parts.append(f"binarize at {policy['binarize']:g}")
        out.append(("label values", "; ".join(parts)))
    rest = []
    for key, value in options.items():
        if key == "policy":
            continue
        if key == "where" and isinstance(value, list):
            text = ", ".join(f"{c}={v}" for c, v in value)
        elif isinstance(value, list):
            text = ",".join(map(str, value))
        elif isinstance(value, str) and value != value.strip() or value == "":
            text = repr(value)  # a space or tab separator would otherwise be invisible
        else:
            text = str(value)
        rest.append(f"{key.replace('_', '-')} {text}")
    if rest:
        out.append(("reader options", "; ".join(rest)))
    return out


def summary_lines(report: dict[str, Any]) -> list[tuple[str, str]]:
    """The summary above the table as (label, text) pairs, in display order."""
    s = report["summary"]
    positive, sample = unit_words(s)
    facts: list[tuple[str, str]] = [("dataset", s["dataset"])]
    if "pixels" in s:
        facts.append(("images", fmt_count(s["images"])))
        facts.append(("pixels", fmt_count(s["pixels"])))
    else:
        facts.append(("samples", fmt_count(s["samples"])))
    facts.append(("classes", str(s["classes"])))
    if s.get("label_cardinality") is not None:
        facts.append(("labels per sample", f"{s['label_cardinality']:.3f} (label cardinality)"))
        facts.append(("label density", f"{s['label_density']:.4f}"))
    if "pixels" not in s:
        share = s["no_positive_samples"] / s["samples"] if s["samples"] else 0.0
        facts.append((f"{sample}s with no positive label",
                      f"{fmt_count(s['no_positive_samples'])} ({fmt_pct(share)})"))
    if s.get("imbalance_ratio") is not None:
        most, least = s["most_frequent_class"], s["rarest_class"]
        facts.append(("imbalance ratio", f"{s['imbalance_ratio']:,.1f} (most / least frequent: "
                                         f"{most['class']} {fmt_count(most['positives'])} / "
                                         f"{least['class']} {fmt_count(least['positives'])})"))
    if s.get("rarest_class"):
        facts.append(("rarest class", _class_line(s, s["rarest_class"])))
    if s.get("absent_classes"):
        names = s["absent_classes"]
        shown = ", ".join(names[:10]) + (f", ... ({len(names)} in all)" if len(names) > 10 else "")
        facts.append((f"no {positive}s", shown))
    weight_text = f"{s['scheme']}, normalize={s['normalize']}, zero positives={s.get('zero_positives', 'warn')}"
    defaults = _default_weight_options()
    for key, value in (s.get("weight_options") or {}).items():
        if key not in ("scheme", "normalize", "zero_positives") and key in defaults \
                and value != defaults[key]:
            weight_text += f", {key.replace('_', '-')}={value}"
    facts.append(("class weight", weight_text))
    facts.append(("weight shape", str(s["weight_shape"])))
    facts.extend(_options_text(s.get("options") or {}, masks="pixels" in s))
    inputs = s.get("inputs", [])
    if inputs:
        facts.append(("inputs", inputs[0] if len(inputs) == 1 else
                      f"{len(inputs)} files ({', '.join(inputs[:2])}{', ...' if len(inputs) > 2 else ''})"))
    for note in s.get("notes", []):
        facts.append(("note", note))
    return facts


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


def hidden_line(hidden: int, sort: str | None) -> str:
    order = {"count": "most positives", "weight": "largest pos_weight", "name": "name"}.get(sort or "count")
    return (f"... {hidden:,} more class{'es' if hidden != 1 else ''} not shown (--top, by {order}); "
            "every class is in --json and --csv")


def usage_lines(report: dict[str, Any], path: str = "weights.pt") -> list[str]:
    """The lines of code that use the saved file, for the target shape the labels have."""
    summary = report["summary"]
    shape = summary["weight_shape"]
    spatial = int(summary.get("spatial_ndim") or 0)
    target = "[N, C" + {0: "", 2: ", H, W", 3: ", D, H, W"}.get(spatial, ", ...") + "]"
    if spatial and len(shape) == 1:
        # A flat [C] vector would weigh the last spatial axis: load it reshaped for the target instead.
        load = [f'w = bceweights.load("{path}", ndim={2 + spatial})  # [C] saved flat, reshaped to '
                f'{[shape[0]] + [1] * spatial} for {target}']
        first = "import bceweights, torch"
        shown = [shape[0]] + [1] * spatial
    else:
        load = [f'w = torch.load("{path}", weights_only=True)']
        first = "import torch"
        shown = shape
    return [
        first,
        *load,
        f'loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=w["pos_weight"])  # {shown} broadcasts over {target}',
        '# or weight the whole loss per class: BCEWithLogitsLoss(weight=w["class_weight"])',
    ]


# ---------------------------------------------------------------------------------------------------
# Files


def _md(text: Any) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def to_markdown(report: dict[str, Any], *, sort: str | None = None, top: int | None = None) -> str:
    """The report as Markdown (a summary list, the class table, pairs, warnings): for a model card."""
    s = report["summary"]
    lines = [f"## Class balance: {_md(s['dataset'])}", ""]
    lines += [f"- **{_md(k)}:** {_md(v)}" for k, v in summary_lines(report)]
    rows, hidden = select_rows(report, sort=sort, top=top)
    extra = optional_columns(report)
    head = ["class", "positives", "negatives", "prevalence", "pos_weight", "class_weight", *extra, "flags"]
    align = [":--"] + ["--:"] * (len(head) - 2) + [":--"]
    lines += ["", "| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    for r in rows:
        cells = [_md(r["class"]), fmt_count(r["positives"]), fmt_count(r["negatives"]),
                 fmt_pct(r["prevalence"]), fmt_weight(r["pos_weight"]), fmt_weight(r["class_weight"]),
                 *[fmt_count(r.get(c, 0)) for c in extra], ", ".join(r["flags"])]
        lines.append("| " + " | ".join(cells) + " |")
    if hidden:
        lines += ["", f"_{_md(hidden_line(hidden, sort))}_"]
    pairs = report.get("top_pairs") or []
    if pairs:
        lines += ["", "Most frequent label pairs:", ""]
        lines += [f"- {_md(p['a'])} + {_md(p['b'])}: {fmt_count(p['count'])}" for p in pairs]
    warnings = report.get("warnings") or []
    if warnings:
        lines += [""] + [f"> **Warning:** {_md(w)}" for w in warnings]
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
    """The full C×C co-occurrence matrix with class names as header row and first column. The
    diagonal holds each class's positives (sum of y²: the positives for hard labels)."""
    if counts.cooccurrence is None:
        raise BceWeightsError(
            "no co-occurrence counts for these labels (they are kept for label tables only)",
            hint="drop --cooccurrence, or recompute the .pt from a label table",
        )
    buf = _io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["class", *counts.classes])
    for name, row in zip(counts.classes, counts.cooccurrence):
        writer.writerow([name, *(_num(v) for v in row)])
    return buf.getvalue()
