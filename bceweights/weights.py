"""Weighting schemes: pure, keyword-only functions of per-class counts.

Two different tensors go into ``torch.nn.BCEWithLogitsLoss``:

* ``pos_weight`` multiplies only the **positive** term of class c: ``-[p_c·y·log σ(x) + (1-y)·log(1-σ(x))]``.
  With ``p_c = N_c / P_c`` positives and negatives of class c carry equal total weight.
* ``weight`` rescales **every** element's loss; per class it is an inverse-frequency class weight.

A class with no positives never yields inf or NaN: see :data:`ZERO_POSITIVE_POS_WEIGHT` and
:func:`compute_weights`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .errors import OptionsError, ZeroPositivesError

Normalize = Literal["none", "mean", "sum"]
ZeroPolicy = Literal["warn", "error", "skip"]

#: ``pos_weight`` given to a class without positives. On this data its positive term never fires, so
#: 1.0 (no re-weighting) is the only value that cannot distort anything.
ZERO_POSITIVE_POS_WEIGHT = 1.0


def _as_array(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def pos_weight(*, pos, neg) -> np.ndarray:
    """``pos_weight_c = N_c / P_c`` — negatives over positives, per class.

    Classes with ``P_c = 0`` get :data:`ZERO_POSITIVE_POS_WEIGHT` instead of inf.

    >>> pos_weight(pos=[600, 550, 200, 100], neg=[400, 450, 800, 900]).round(3).tolist()
    [0.667, 0.818, 4.0, 9.0]
    """
    pos, neg = _as_array(pos), _as_array(neg)
    out = np.full(pos.shape, ZERO_POSITIVE_POS_WEIGHT)
    present = pos > 0
    out[present] = neg[present] / pos[present]
    return out


def inverse_frequency(*, pos, neg) -> np.ndarray:
    """``w_c = n_c / (C · P_c)`` with ``n_c = P_c + N_c``: scikit-learn's "balanced", per class.

    Source: ``sklearn.utils.class_weight.compute_class_weight("balanced")``, applied to each class's
    positives. Classes with ``P_c = 0`` come out as NaN here; :func:`compute_weights` replaces them.

    >>> inverse_frequency(pos=[50, 25], neg=[50, 75]).tolist()
    [1.0, 2.0]
    """
    pos, neg = _as_array(pos), _as_array(neg)
    n = pos + neg
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pos > 0, n / (len(pos) * pos), np.nan)


def normalize_weights(weights, *, normalize: Normalize = "none") -> np.ndarray:
    """Rescale weights: ``none`` as is; ``mean`` to a mean of 1 (so they sum to C); ``sum`` to a sum
    of 1. NaN entries (classes without positives) are left out of the scale and kept as NaN.

    >>> normalize_weights([1.0, 3.0], normalize="mean").tolist()
    [0.5, 1.5]
    >>> normalize_weights([1.0, 3.0], normalize="sum").tolist()
    [0.25, 0.75]
    """
    w = _as_array(weights)
    finite = w[np.isfinite(w)]
    if normalize == "none" or finite.size == 0:
        return w.copy()
    if normalize == "mean":
        scale = finite.mean()
    elif normalize == "sum":
        scale = finite.sum()
    else:
        raise OptionsError(f"unknown normalize {normalize!r}; choose none, mean or sum")
    if scale <= 0:
        return w.copy()
    return w / scale


SchemeFunction = Callable[..., np.ndarray]

#: Class-weight schemes by CLI name. Each takes keyword-only ``pos`` and ``neg`` (plus its own
#: parameters) and returns raw weights with NaN for classes it cannot weigh.
SCHEMES: dict[str, SchemeFunction] = {"inverse": inverse_frequency}


@dataclass(frozen=True)
class WeightOptions:
    """How to turn counts into weights (the CLI's weighting options)."""

    scheme: str = "inverse"
    normalize: Normalize = "none"
    zero_positives: ZeroPolicy = "warn"


@dataclass
class Weights:
    """The weights for one label set, with what was done to classes that needed care."""

    pos_weight: np.ndarray
    class_weight: np.ndarray
    options: WeightOptions
    zero_positive: list[str] = field(default_factory=list)
    zero_negative: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def compute_weights(counts, options: WeightOptions | None = None) -> Weights:
    """``pos_weight`` and the class weight of the chosen scheme, all finite.

    A class without positives gets ``pos_weight`` :data:`ZERO_POSITIVE_POS_WEIGHT` and, under
    ``zero_positives="warn"`` (default), the largest class weight of the other classes (it is at least
    as rare as the rarest one); under ``"skip"`` a class weight of 0 (it drops out of the loss); under
    ``"error"`` a :class:`ZeroPositivesError`.
    """
    options = options or WeightOptions()
    classes = list(counts.classes)
    pos, neg = _as_array(counts.pos), _as_array(counts.neg)
    absent = pos <= 0
    zero_positive = [c for c, a in zip(classes, absent) if a]
    zero_negative = [c for c, p, n in zip(classes, pos, neg) if p > 0 and n <= 0]
    warnings: list[str] = []
    if zero_positive:
        names = ", ".join(zero_positive)
        if options.zero_positives == "error":
            raise ZeroPositivesError(
                f"{len(zero_positive)} class(es) have no positive example: {names}",
                hint="check the split and the label columns, or pass --zero-positives warn",
            )
        warnings.append(
            f"no positive example for {names}: pos_weight set to {ZERO_POSITIVE_POS_WEIGHT:g}"
            + (", class weight set to 0" if options.zero_positives == "skip"
               else ", class weight set to the largest of the other classes")
        )
    if zero_negative:
        warnings.append(f"no negative example for {', '.join(zero_negative)}: pos_weight is 0")

    try:
        scheme = SCHEMES[options.scheme]
    except KeyError:
        raise OptionsError(
            f"unknown scheme {options.scheme!r}; choose one of {', '.join(SCHEMES)}"
        ) from None
    raw = scheme(pos=pos, neg=neg)
    if options.zero_positives == "skip":
        filled = np.where(np.isfinite(raw), raw, 0.0)
        class_weight = normalize_weights(np.where(absent, np.nan, filled), normalize=options.normalize)
        class_weight = np.where(np.isfinite(class_weight), class_weight, 0.0)
    else:
        finite = raw[np.isfinite(raw)]
        fill = finite.max() if finite.size else 1.0
        class_weight = normalize_weights(np.where(np.isfinite(raw), raw, fill), normalize=options.normalize)
    return Weights(
        pos_weight=pos_weight(pos=pos, neg=neg),
        class_weight=class_weight,
        options=options,
        zero_positive=zero_positive,
        zero_negative=zero_negative,
        warnings=warnings,
    )
