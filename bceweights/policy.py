"""Value policies: how raw label values become positives, negatives or "ignored".

Raw values come from tables and arrays as float64 with NaN for a blank. The rules:

* ``1`` positive, ``0`` negative; a value strictly between 0 and 1 is a soft label (adds y to the
  positives and 1 - y to the negatives) unless ``hard`` is set;
* ``-1`` is *uncertain* (CheXpert): ``ignore`` (default, U-Ignore), ``positive`` (U-Ones) or
  ``negative`` (U-Zeros);
* a blank / NaN is *missing*: ``negative`` (default, the CheXpert convention) or ``ignore``;
* values listed in ``ignore_values`` count as neither;
* with ``binarize=t``, any other value y becomes ``y >= t``;
* anything else (2, inf, a soft value under ``hard``) is an error naming the column, the row and the
  value: labels are never binarised silently.

The policy itself is checked when it is made: a ``binarize`` threshold must be a finite number (NaN
would make every label negative, since no comparison with NaN holds), an ``ignore_values`` entry must
not be NaN (a blank or NaN is *missing*: ``missing="ignore"`` ignores it), and ``uncertain`` /
``missing`` must be one of their choices. A bad value is a :class:`~bceweights.errors.UsageError`
naming the flag (exit code 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .errors import InputError, UsageError

Uncertain = Literal["ignore", "positive", "negative"]
Missing = Literal["negative", "ignore"]

_UNCERTAIN_VALUE = {"ignore": np.nan, "positive": 1.0, "negative": 0.0}
_MISSING_VALUE = {"ignore": np.nan, "negative": 0.0}


@dataclass(frozen=True)
class ValuePolicy:
    uncertain: Uncertain = "ignore"
    missing: Missing = "negative"
    ignore_values: tuple[float, ...] = ()
    hard: bool = False
    binarize: float | None = None

    def __post_init__(self) -> None:
        if self.uncertain not in _UNCERTAIN_VALUE:
            raise UsageError(f"--uncertain {self.uncertain!r}: choose one of {', '.join(_UNCERTAIN_VALUE)}")
        if self.missing not in _MISSING_VALUE:
            raise UsageError(f"--missing {self.missing!r}: choose one of {', '.join(_MISSING_VALUE)}")
        if self.binarize is not None:
            threshold = _number(self.binarize, "--binarize")
            if not math.isfinite(threshold):
                raise UsageError(f"--binarize {format_value(threshold)}: the threshold must be a finite number",
                                 hint="e.g. --binarize 0.5 counts y >= 0.5 as positive")
            object.__setattr__(self, "binarize", threshold)
        values = tuple(_number(v, "--ignore-value") for v in self.ignore_values)
        if any(math.isnan(v) for v in values):
            raise UsageError("--ignore-value nan: NaN (a blank) is a missing value, not a sentinel",
                             hint="pass --missing ignore to count missing values as neither")
        object.__setattr__(self, "ignore_values", values)

    def describe(self) -> dict[str, object]:
        return {
            "uncertain": self.uncertain,
            "missing": self.missing,
            "ignore_values": list(self.ignore_values),
            "hard": self.hard,
            "binarize": self.binarize,
        }


@dataclass
class PolicyResult:
    """Labels in [0, 1] with NaN for ignored values, and what the policy saw per class."""

    labels: np.ndarray
    missing: np.ndarray
    uncertain: np.ndarray


def apply_policy(
    values: np.ndarray,
    policy: ValuePolicy,
    *,
    columns: list[str],
    row_numbers: np.ndarray | None = None,
    source: str = "",
) -> PolicyResult:
    """Map raw ``[n, C]`` values to labels. ``row_numbers`` (1-based, as a user would count lines in
    the file) are only used to name the row of a bad value."""
    raw = np.asarray(values, dtype=np.float64)
    missing_mask = np.isnan(raw)
    uncertain_mask = raw == -1
    missing = missing_mask.sum(axis=0).astype(np.float64)
    uncertain = uncertain_mask.sum(axis=0).astype(np.float64)
    # Fast path: plain 0/1 labels with nothing special (the common case on big files).
    if not missing.any() and not uncertain.any() and not policy.ignore_values and policy.binarize is None:
        bad = (raw != 0) & (raw != 1)
        if not bad.any():
            return PolicyResult(raw, missing, uncertain)
    special = missing_mask | uncertain_mask
    if policy.ignore_values:
        ignore_mask = np.isin(raw, np.asarray(policy.ignore_values, dtype=np.float64))
        special |= ignore_mask
    else:
        ignore_mask = None
    labels = raw.copy()
    if policy.binarize is not None:
        plain = ~special & np.isfinite(raw)
        labels[plain] = (raw[plain] >= policy.binarize).astype(np.float64)
    check = ~special
    if policy.hard:
        bad = check & (labels != 0) & (labels != 1)
    else:
        bad = check & ~((labels >= 0) & (labels <= 1))
    if bad.any():
        row, col = (int(i[0]) for i in np.nonzero(bad))
        value = raw[row, col]
        line = int(row_numbers[row]) if row_numbers is not None else row + 1
        where = f"{source}: " if source else ""
        allowed = "0 or 1" if policy.hard else "0, 1, a soft label in [0, 1]"
        raise InputError(
            f"{where}column '{columns[col]}', row {line}: value {format_value(value)} is not a label "
            f"({allowed}, -1 for uncertain, or blank)",
            hint=_bad_value_hint(value, policy),
        )
    labels[uncertain_mask] = _UNCERTAIN_VALUE[policy.uncertain]
    labels[missing_mask] = _MISSING_VALUE[policy.missing]
    if ignore_mask is not None:
        labels[ignore_mask] = np.nan
    return PolicyResult(labels, missing, uncertain)


def _number(value, flag: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise UsageError(f"{flag} {value!r}: expected a number")
    return float(value)


def format_value(value: float) -> str:
    """A label value as a message shows it: ``2``, ``0.5``, ``nan``, ``inf``."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _bad_value_hint(value: float, policy: ValuePolicy) -> str:
    if policy.hard and 0 < value < 1:
        return "drop --hard to count soft labels, or pass --binarize THRESHOLD"
    if not np.isfinite(value):
        return "fix the value in the file, or pass --ignore-value to skip a sentinel"
    return ("pick the label columns with --columns or --exclude-columns, pass --ignore-value "
            f"{format_value(value)} for a sentinel, or --binarize THRESHOLD")
