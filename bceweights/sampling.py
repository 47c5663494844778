"""Per-sample weights for ``torch.utils.data.WeightedRandomSampler``, and LVIS repeat factors.

Weights need every count first, so this is a second streaming pass over the rows, after the counts
(memory: the ``[N]`` output, nothing else grows with the data).

**Groups.** The rows are weighed by ``C + 1`` groups: the C classes and one more, *no label*, the rows
without any positive label (positives of the group: those rows; negatives: the other rows). The
group weights are the class weights of the chosen scheme computed over these C + 1 groups with the
same options (``--normalize``, ``--smoothing``, ``--zero-positives``, ``--min-count``, ``--clip``; the
no-label group itself is never flagged; when every row has a positive, the group is empty, weighs 0
and the classes are weighed alone). With the default ``inverse`` scheme the group's weight is its
inverse frequency ``n / ((C + 1) · P_none)``, on the same scale as the classes'. Only ratios matter to
the sampler, which draws a row with probability ``weight / sum(weights)``.

**A row's weight**: over its positive labels (``y > 0``; a soft label counts, an ignored value does
not), the largest group weight (``reduce="max"``, default) or their plain mean (``"mean"``); a row
with no positive label gets the no-label group's weight.

**Repeat factors** (LVIS, Gupta et al. 2019), with threshold t: ``f_c = P_c / N`` (the fraction of
the N rows containing c; the expected fraction for soft labels), ``r_c = max(1, sqrt(t / f_c))``
(1 for a class without positives), and a row's ``r = max`` of ``r_c`` over its positive labels (1 for
a row without any).

**The file** (``--sample-weights FILE.pt``; ``torch.load(FILE, weights_only=True)``), a dict:

* ``weights`` — float64 ``[N]``, one per row in row order (files in the order given, rows kept by
  ``--where``): pass it to ``WeightedRandomSampler(w["weights"], num_samples=N)``;
* ``repeat_factors`` — float64 ``[N]``, only with ``--repeat-threshold``;
* ``ids`` — list of N str, the row ids from the id column (``--id-column``, or detected: see
  :meth:`bceweights.readers.base.Reader.rows`), only when there is one;
* ``rows`` — int64 ``[N]``, each row's line number in its file (the header is line 1);
* ``file_index`` — int64 ``[N]``, each row's file, an index into ``files``; ``files`` — list of str;
* ``classes`` — list of C str; ``groups`` — the C classes then ``"(no label)"``;
* ``group_weight`` — float64 ``[C + 1]``, the weights the rows were given from;
* ``class_repeat_factor`` — float64 ``[C]``, ``r_c``, only with ``--repeat-threshold``;
* ``meta`` — plain values: ``reduce``, ``repeat_threshold``, ``id_column``, ``weights`` (the weight
  options), ``samples``, ``no_label_rows``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .errors import InputError, OptionsError
from .weights import WeightOptions, flag_classes, refuse_flagged, weigh

NO_LABEL = "(no label)"
Reduce = Literal["max", "mean"]


@dataclass(frozen=True)
class SampleOptions:
    """How rows are weighed: ``reduce`` over a row's positive labels, the LVIS ``repeat_threshold``
    (None: no repeat factors), and the ``id_column`` (``"auto"``: detected; None: no ids)."""

    reduce: Reduce = "max"
    repeat_threshold: float | None = None
    id_column: str | None = "auto"

    def __post_init__(self) -> None:
        if self.reduce not in ("max", "mean"):
            raise OptionsError(f"unknown --sample-reduce {self.reduce!r}; choose max or mean")
        t = self.repeat_threshold
        if t is not None and not (t > 0 and math.isfinite(t)):
            raise OptionsError(f"--repeat-threshold must be a positive fraction, got {t:g}",
                               hint="LVIS uses 0.001")


def group_weights(counts, options: WeightOptions | None = None) -> np.ndarray:
    """``[C + 1]``: the weights of the C classes then of the no-label group (see the module text).

    Worked example (inverse, 4 rows: [1, 0], [1, 1], [0, 0], [0, 0]): 4 rows over 3 groups; P = 2, 1
    and 2 (no label), so 4 / (3·2), 4 / (3·1), 4 / (3·2).

    >>> from bceweights.counts import Counts
    >>> c = Counts(["a", "b"])
    >>> c.update(np.array([[1, 0], [1, 1], [0, 0], [0, 0]]))
    >>> (group_weights(c) * 3).round(6).tolist()
    [2.0, 4.0, 2.0]
    """
    options = options or WeightOptions()
    pos, neg = np.asarray(counts.pos, dtype=np.float64), np.asarray(counts.neg, dtype=np.float64)
    zero, rare = flag_classes(pos, options)
    # The same refusal as the class weights (the scheme's own errors come from ``weigh``).
    refuse_flagged([c for c, z in zip(counts.classes, zero) if z], [c for c, r in zip(counts.classes, rare) if r],
                   options)
    image_pixels = getattr(counts, "image_pixels", None)
    none = float(counts.no_positive)
    if none <= 0:
        # No row needs the group: weigh the classes alone, so the group cannot shift their scale.
        _, weights = weigh(pos, neg, options, zero=zero, rare=rare, image_pixels=image_pixels)
        return np.append(weights, 0.0)
    _, weights = weigh(
        np.append(pos, none), np.append(neg, float(counts.samples) - none), options,
        zero=np.append(zero, False), rare=np.append(rare, False),
        image_pixels=None if image_pixels is None else np.append(image_pixels, 0),
    )
    return weights


def class_repeat_factors(counts, threshold: float) -> np.ndarray:
    """LVIS ``r_c = max(1, sqrt(t / f_c))`` with ``f_c = P_c / N``; 1 for a class without positives.

    Source: Gupta et al. 2019, "LVIS: A Dataset for Large Vocabulary Instance Segmentation", §4.3.

    Worked example, t = 0.5, N = 100: P = 2 gives sqrt(0.5 / 0.02) = 5, P = 50 gives max(1, 1) = 1.

    >>> from bceweights.counts import Counts
    >>> class_repeat_factors(Counts(["rare", "common"], pos=[2, 50], neg=[98, 50], samples=100), 0.5).tolist()
    [5.0, 1.0]
    """
    pos = np.asarray(counts.pos, dtype=np.float64)
    samples = float(counts.samples)
    out = np.ones(pos.shape)
    present = (pos > 0) & (samples > 0)
    out[present] = np.maximum(1.0, np.sqrt(threshold / (pos[present] / samples)))
    return out


def row_weights(labels, group_weight, *, reduce: Reduce = "max") -> np.ndarray:
    """Each row's weight from ``[n, C]`` labels and the ``[C + 1]`` group weights.

    >>> labels = np.array([[1, 0], [1, 1], [0, 0], [np.nan, 0.2]])
    >>> row_weights(labels, [2.0, 5.0, 3.0]).tolist()
    [2.0, 5.0, 3.0, 5.0]
    >>> row_weights(labels, [2.0, 5.0, 3.0], reduce="mean").tolist()
    [2.0, 3.5, 3.0, 5.0]
    """
    present, w = _present(labels), np.asarray(group_weight, dtype=np.float64)
    classes, none = w[:-1], w[-1]
    out = np.full(present.shape[0], none)
    has = present.any(axis=1)
    if not has.any():
        return out
    if reduce == "max":
        out[has] = np.where(present[has], classes, -np.inf).max(axis=1)
    else:
        out[has] = (present[has] * classes).sum(axis=1) / present[has].sum(axis=1)
    return out


def row_repeat_factors(labels, class_factor) -> np.ndarray:
    """Each row's ``max`` of ``r_c`` over its positive labels; 1 for a row without any.

    >>> row_repeat_factors(np.array([[1, 0], [1, 1], [0, 0]]), [5.0, 2.0]).tolist()
    [5.0, 5.0, 1.0]
    """
    present = _present(labels)
    factors = np.where(present, np.asarray(class_factor, dtype=np.float64), 1.0)
    return factors.max(axis=1, initial=1.0)


def _present(labels) -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim != 2:
        raise ValueError(f"expected labels shaped [n, C], got {list(y.shape)}")
    # NaN (ignored) compares False, so an ignored value is never a positive label.
    return y > 0


@dataclass
class SampleWeights:
    """Per-row weights and what they were made from; :meth:`payload` is the saved dict."""

    weights: np.ndarray
    rows: np.ndarray
    file_index: np.ndarray
    files: list[str]
    classes: list[str]
    group_weight: np.ndarray
    repeat_factors: np.ndarray | None = None
    class_repeat_factor: np.ndarray | None = None
    ids: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        import torch

        out: dict[str, Any] = {
            "weights": torch.tensor(self.weights, dtype=torch.float64),
            "rows": torch.tensor(self.rows, dtype=torch.int64),
            "file_index": torch.tensor(self.file_index, dtype=torch.int64),
            "files": list(self.files),
            "classes": list(self.classes),
            "groups": [*self.classes, NO_LABEL],
            "group_weight": torch.tensor(self.group_weight, dtype=torch.float64),
            "meta": dict(self.meta),
        }
        if self.repeat_factors is not None:
            out["repeat_factors"] = torch.tensor(self.repeat_factors, dtype=torch.float64)
            out["class_repeat_factor"] = torch.tensor(self.class_repeat_factor, dtype=torch.float64)
        if self.ids is not None:
            out["ids"] = list(self.ids)
        return out

    def save(self, path: str | Path) -> Path:
        """Write :meth:`payload` atomically (``bceweights.io.save``)."""
        from .io import save

        return save(self.payload(), path)


def sample_weights(
    paths: str | Path | Sequence[str | Path],
    spec=None,
    counts=None,
    weight_options: WeightOptions | None = None,
    options: SampleOptions | None = None,
    *,
    tally=None,
) -> SampleWeights:
    """Per-row weights (and repeat factors) over every row of ``paths``, in row order.

    ``counts`` are the counts of the same inputs with the same ``spec`` (counted here when None);
    ``tally`` is the count that produced them (``bceweights.engines.count_paths``), whose settled
    options read the rows exactly as the count did. The rows are streamed a second time, file by file.
    """
    from .engines import count_paths
    from .spec import InputSpec

    spec = spec or InputSpec()
    options = options or SampleOptions()
    weight_options = weight_options or WeightOptions()
    if tally is None:
        tally = count_paths(paths, spec)
    if counts is None:
        counts = tally.counts
    group_weight = group_weights(counts, weight_options)
    class_factor = (None if options.repeat_threshold is None
                    else class_repeat_factors(counts, options.repeat_threshold))
    index = {name: i for i, name in enumerate(counts.classes)}
    # One array per batch in each list; ``total`` counts the rows so far (a sum over the parts per
    # file would be quadratic in the number of files).
    weight_parts: list[np.ndarray] = []
    row_parts: list[np.ndarray] = []
    file_parts: list[np.ndarray] = []
    repeat_parts: list[np.ndarray] = []
    total = 0
    ids: list[str] | None = [] if options.id_column is not None else None
    id_columns: set[str] = set()
    for number, path in enumerate(tally.files):
        group = tally.group_of(path)
        file_ids: list[str] | None = [] if ids is not None else None
        for batch in group.reader.rows(path, group.spec, classes=list(counts.classes), id_column=options.id_column):
            try:
                columns = np.array([index[c] for c in batch.classes], dtype=np.int64)
            except KeyError as exc:
                raise InputError(f"{path}: class {exc.args[0]!r} was not there when the labels were "
                                 "counted; did the file change?") from None
            labels = _dense(batch.labels)
            groups = np.append(group_weight[columns], group_weight[-1])
            w = row_weights(labels, groups, reduce=options.reduce)
            weight_parts.append(w)
            row_parts.append(np.asarray(batch.rows, dtype=np.int64))
            file_parts.append(np.full(len(w), number, dtype=np.int64))
            if class_factor is not None:
                repeat_parts.append(row_repeat_factors(labels, class_factor[columns]))
            total += len(w)
            if file_ids is not None:
                if batch.ids is None:
                    file_ids = None
                else:
                    file_ids.extend(batch.ids)
                    id_columns.add(batch.id_name or "id")
        if ids is not None:
            if file_ids is None:
                if options.id_column != "auto":
                    raise OptionsError(f"{path}: --id-column {options.id_column} gives no id for its rows")
                ids = None
            else:
                ids.extend(file_ids)
    if total != counts.samples:
        raise InputError(f"the inputs hold {total} rows now but {counts.samples} when they were counted; "
                         "did a file change?")
    return SampleWeights(
        weights=_concat(weight_parts, np.float64),
        rows=_concat(row_parts, np.int64),
        file_index=_concat(file_parts, np.int64),
        files=[str(f) for f in tally.files],
        classes=list(counts.classes),
        group_weight=group_weight,
        repeat_factors=None if class_factor is None else _concat(repeat_parts, np.float64),
        class_repeat_factor=class_factor,
        ids=ids,
        meta={
            "reduce": options.reduce,
            "repeat_threshold": options.repeat_threshold,
            "id_column": sorted(id_columns)[0] if len(id_columns) == 1 else sorted(id_columns) or None,
            "weights": weight_options.describe(),
            "samples": int(counts.samples),
            "no_label_rows": int(counts.no_positive),
        },
    )


def _dense(labels) -> np.ndarray:
    to_dense = getattr(labels, "to_dense", None)
    return to_dense() if to_dense is not None else np.asarray(labels)


def _concat(parts: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype)


def _extend_ids(ids, module, path, spec, id_column, expected, seen) -> list[str] | None:
    """Add one file's row ids; None (no ids at all) when a file has no id column."""
    reader = getattr(module, "row_ids", None)
    if reader is None:
        if id_column != "auto":
            raise OptionsError(f"{path}: --id-column is only read from label tables")
        return None
    column, values = reader(path, spec, id_column)
    if column is None:
        return None
    if len(values) != expected:
        raise InputError(f"{path}: {len(values)} ids for {expected} rows; did the file change?")
    seen.add(column)
    ids.extend(values)
    return ids
