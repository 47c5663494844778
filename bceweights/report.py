"""The class-imbalance report: one data structure (:func:`build_report`), several renderings.

The dict from :func:`build_report` has stable keys and is exactly what ``--json`` writes; the Rich
table, Markdown and CSV are views of it.
"""

from __future__ import annotations

import json
import math
from typing import Any

RARE_POSITIVES = 10
EXTREME_WEIGHT = 1000.0


def _num(value: float) -> float | int:
    value = float(value)
    return int(value) if value.is_integer() else value


def build_report(result, *, output: str | None = None) -> dict[str, Any]:
    """Every figure of the report as plain values (the ``--json`` document)."""
    counts, weights = result.counts, result.weights
    pos, neg = counts.pos, counts.neg
    rows = []
    for i, name in enumerate(counts.classes):
        valid = pos[i] + neg[i]
        prevalence = float(pos[i] / valid) if valid > 0 else 0.0
        flags = []
        if pos[i] <= 0:
            flags.append("absent")
        elif pos[i] < RARE_POSITIVES:
            flags.append("rare")
        if neg[i] <= 0 and pos[i] > 0:
            flags.append("no-negatives")
        if max(weights.pos_weight[i], weights.class_weight[i]) > EXTREME_WEIGHT:
            flags.append("extreme-weight")
        row = {
            "class": name,
            "positives": _num(pos[i]),
            "negatives": _num(neg[i]),
            "prevalence": prevalence,
            "pos_weight": float(weights.pos_weight[i]),
            "class_weight": float(weights.class_weight[i]),
            "ignored": _num(counts.ignored[i]),
            "missing": _num(counts.missing[i]),
            "uncertain": _num(counts.uncertain[i]),
            "soft": _num(counts.soft[i]),
            "flags": flags,
        }
        if counts.image_count is not None:
            row["images"] = int(counts.image_count[i])
        rows.append(row)
    present = [r["positives"] for r in rows if r["positives"] > 0]
    samples = counts.samples
    total_pos = float(pos.sum())
    summary: dict[str, Any] = {
        "kind": result.meta.get("kind", "table"),
        "samples": int(samples),
        "classes": counts.num_classes,
        "label_cardinality": total_pos / samples if samples and not counts.spatial_ndim else None,
        "label_density": total_pos / (samples * counts.num_classes)
        if samples and counts.num_classes and not counts.spatial_ndim else None,
        "no_positive_samples": int(counts.no_positive),
        "imbalance_ratio": max(present) / min(present) if present else None,
        "inputs": list(result.meta.get("inputs", [])),
        "options": result.meta.get("options", {}),
        "scheme": weights.options.scheme,
        "normalize": weights.options.normalize,
        "weight_shape": result.weight_shape(flat=bool(result.meta.get("flat"))),
        "soft_labels": bool(counts.soft.sum() > 0),
    }
    if counts.spatial_ndim:
        summary["pixels"] = int(counts.pixels)
        summary["spatial_ndim"] = counts.spatial_ndim
    if output:
        summary["output"] = output
    report: dict[str, Any] = {"summary": summary, "classes": rows, "warnings": list(weights.warnings)}
    if counts.cooccurrence is not None:
        report["top_pairs"] = top_pairs(counts.classes, counts.cooccurrence)
    return report


def top_pairs(classes, matrix, k: int = 10) -> list[dict[str, Any]]:
    """The ``k`` most frequent label pairs (i < j) of a co-occurrence matrix."""
    pairs = []
    n = len(classes)
    for i in range(n):
        for j in range(i + 1, n):
            if matrix[i][j] > 0:
                pairs.append((float(matrix[i][j]), classes[i], classes[j]))
    pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
    return [{"a": a, "b": b, "count": _num(c)} for c, a, b in pairs[:k]]


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


def _fmt_count(value: float) -> str:
    value = float(value)
    return f"{int(value):,}" if value.is_integer() else f"{value:,.2f}"


def _fmt_weight(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"


def usage_lines(report: dict[str, Any], path: str = "weights.pt") -> list[str]:
    """The lines of code that use the saved file."""
    shape = report["summary"]["weight_shape"]
    lines = [
        "import torch",
        f'w = torch.load("{path}", weights_only=True)',
        'loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=w["pos_weight"])'
        + (f"  # {shape} broadcasts over [N, C{', ...' if len(shape) > 1 else ''}]"),
        '# or weight the whole loss per class: BCEWithLogitsLoss(weight=w["class_weight"])',
    ]
    return lines


def render(report: dict[str, Any], console, *, show_usage: str | None = None) -> None:
    """Print the report with Rich (plain text when the console is not a terminal)."""
    from rich import box
    from rich.table import Table

    summary = report["summary"]
    facts = [("samples", f"{summary['samples']:,}"), ("classes", str(summary["classes"]))]
    if "pixels" in summary:
        facts.insert(1, ("pixels", f"{summary['pixels']:,}"))
    if summary.get("label_cardinality") is not None:
        facts.append(("labels per sample", f"{summary['label_cardinality']:.3f}"))
        facts.append(("label density", f"{summary['label_density']:.4f}"))
    facts.append(("samples with no positive", f"{summary['no_positive_samples']:,}"))
    if summary.get("imbalance_ratio") is not None:
        facts.append(("imbalance ratio", f"{summary['imbalance_ratio']:.1f} (most / least frequent)"))
    facts.append(("class weight", f"{summary['scheme']}, normalize={summary['normalize']}"))
    facts.append(("weight shape", str(summary["weight_shape"])))
    inputs = summary.get("inputs", [])
    if inputs:
        facts.append(("inputs", inputs[0] if len(inputs) == 1 else f"{len(inputs)} files ({inputs[0]}, ...)"))
    for key, value in facts:
        console.print(f"[bold]{key}:[/bold] {value}", highlight=False)

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("class", style="bold")
    table.add_column("positives", justify="right")
    table.add_column("negatives", justify="right")
    table.add_column("prevalence", justify="right")
    table.add_column("pos_weight", justify="right")
    table.add_column("class_weight", justify="right")
    table.add_column("flags")
    for row in report["classes"]:
        flag_style = "red" if "absent" in row["flags"] or "extreme-weight" in row["flags"] else "yellow"
        table.add_row(
            row["class"],
            _fmt_count(row["positives"]),
            _fmt_count(row["negatives"]),
            f"{100 * row['prevalence']:.2f}%",
            _fmt_weight(row["pos_weight"]),
            _fmt_weight(row["class_weight"]),
            f"[{flag_style}]{' '.join(row['flags'])}[/{flag_style}]" if row["flags"] else "",
        )
    console.print(table)
    for warning in report.get("warnings", []):
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    if show_usage:
        console.print(f"[bold]saved[/bold] {show_usage}; use it with:", highlight=False)
        for line in usage_lines(report, show_usage):
            console.print(f"  {line}", highlight=False, markup=False)
