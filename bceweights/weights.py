"""Weighting schemes: pure, keyword-only functions of per-class counts.

Two different tensors go into ``torch.nn.BCEWithLogitsLoss``:

* ``pos_weight`` multiplies only the **positive** term of class c: ``-[p_c·y·log σ(x) + (1-y)·log(1-σ(x))]``.
  With ``p_c = N_c / P_c`` positives and negatives of class c carry equal total weight.
* ``weight`` rescales **every** element's loss; per class it is the class weight of a scheme.

Class-weight schemes (``--scheme``), with P_c positives, N_c negatives, n_c = P_c + N_c and C classes:

==================== ===================================================== ==========================
name                 formula                                               source
==================== ===================================================== ==========================
``inverse``          ``w_c = n_c / (C · P_c)``                             scikit-learn "balanced"
``inverse-sqrt``     ``w_c = sqrt(n_c / P_c)``                             Mahajan et al. 2018
``effective-number`` ``w_c ∝ (1 - β) / (1 - β^P_c)``, mean 1              Cui et al. 2019
``median-frequency`` ``w_c = median(f) / f_c``, f_c = P_c / pixels of the  Eigen & Fergus 2015
                     images containing c
``enet``             ``w_c = 1 / ln(k + P_c / n_c)``                       Paszke et al. 2016 (ENet)
==================== ===================================================== ==========================

Then, in :func:`compute_weights`: ``--smoothing K`` adds K to P_c and N_c before every formula;
classes without positives (and with ``--min-count``, rare ones) are handled by ``--zero-positives``;
``--normalize`` rescales the class weights; ``--clip MIN:MAX`` bounds both tensors last. No value is
ever inf or NaN: see :data:`ZERO_POSITIVE_POS_WEIGHT` and :func:`compute_weights`.

No options give a class ``pos_weight`` 0: it would delete the class's positive loss term (the
term that teaches the model the class), silently. A class without negatives, whose N_c / P_c is 0,
gets :data:`ZERO_NEGATIVE_POS_WEIGHT` with a warning; ``--clip`` needs a MAX above 0. The one way to
take a class out of the loss is asked for by name: ``--zero-positives skip`` gives a class without
positives (or a rare one) class weight 0, which drops both of its terms, and ``pos_weight`` 1.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .errors import InputError, OptionsError, UsageError, ZeroPositivesError

Normalize = Literal["none", "mean", "sum"]
ZeroPolicy = Literal["warn", "error", "skip"]

#: ``pos_weight`` given to a class without positives. On this data its positive term never fires, so
#: 1.0 (no re-weighting) is the only value that cannot distort anything.
ZERO_POSITIVE_POS_WEIGHT = 1.0

#: ``pos_weight`` given to a class without negatives. N_c / P_c = 0 would delete its positive loss
#: term; on this data only that term fires, so 1.0 (no re-weighting) is the neutral value, as for a
#: class without positives.
ZERO_NEGATIVE_POS_WEIGHT = 1.0

#: The largest value a float32 tensor holds: weights are saved as float32, so nothing may exceed it.
FLOAT32_MAX = float(np.finfo(np.float32).max)
#: The smallest normal float32: a positive weight below it would be saved as 0 (or a denormal).
FLOAT32_TINY = float(np.finfo(np.float32).tiny)

DEFAULT_BETA = 0.999
DEFAULT_ENET_K = 1.02


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
    with np.errstate(over="ignore"):  # inf for extreme ratios: compute_weights bounds it to float32
        out[present] = neg[present] / pos[present]
    return out


def inverse_frequency(*, pos, neg) -> np.ndarray:
    """``inverse``: ``w_c = n_c / (C · P_c)`` with ``n_c = P_c + N_c``: scikit-learn's "balanced", per
    class.

    Source: ``sklearn.utils.class_weight.compute_class_weight("balanced")``, applied to each class's
    positives. Classes with ``P_c = 0`` come out as NaN here; :func:`compute_weights` replaces them.

    Worked example: n = 100 for both classes, C = 2: 100 / (2·50) = 1 and 100 / (2·25) = 2.

    >>> inverse_frequency(pos=[50, 25], neg=[50, 75]).tolist()
    [1.0, 2.0]
    """
    pos, neg = _as_array(pos), _as_array(neg)
    n = pos + neg
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.where(pos > 0, n / (len(pos) * pos), np.nan)


def inverse_sqrt_frequency(*, pos, neg) -> np.ndarray:
    """``inverse-sqrt``: ``w_c = sqrt(n_c / P_c)`` = ``1 / sqrt(f_c)`` with ``f_c = P_c / n_c``.

    A milder re-weighting than ``inverse``: a class 100× rarer gets 10× the weight. Source: the
    square-root re-weighting of Mahajan et al. 2018, "Exploring the Limits of Weakly Supervised
    Pretraining" (also Mikolov et al. 2013's sub-sampling). NaN for ``P_c = 0``.

    Worked example: n = 100; P = 25 gives sqrt(4) = 2, P = 4 gives sqrt(25) = 5.

    >>> inverse_sqrt_frequency(pos=[25, 4], neg=[75, 96]).tolist()
    [2.0, 5.0]
    """
    pos, neg = _as_array(pos), _as_array(neg)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.where(pos > 0, np.sqrt((pos + neg) / pos), np.nan)


def effective_number(*, pos, neg=None, beta: float = DEFAULT_BETA) -> np.ndarray:
    """``effective-number``: ``w_c = (1 - β) / (1 - β^P_c)``, rescaled to a mean of 1 over the classes
    it weighs (so the weights sum to C when every class has positives).

    Source: Cui et al. 2019, "Class-Balanced Loss Based on Effective Number of Samples" (CVPR), eq. 2
    and their normalisation to sum to the number of classes. ``0 ≤ β < 1``; β = 0 gives equal weights,
    β → 1 tends to ``inverse``. NaN for ``P_c = 0``. ``neg`` is not used.

    Worked example, β = 0.5: P = 1 gives 0.5 / 0.5 = 1, P = 2 gives 0.5 / 0.75 = 2/3; their mean is
    5/6, so the weights are 6/5 = 1.2 and 4/5 = 0.8.

    >>> effective_number(pos=[1, 2], neg=[9, 8], beta=0.5).round(6).tolist()
    [1.2, 0.8]
    """
    pos = _as_array(pos)
    _check_beta(beta)
    present = pos > 0
    raw = np.full(pos.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # 1 - β^P as -expm1(P·ln β): exact for β close to 1, where 1 - β^P loses its digits.
        log_beta = math.log(beta) if beta > 0 else -math.inf
        effective = -np.expm1(pos[present] * log_beta)
        raw[present] = (1.0 - beta) / effective
    finite = raw[np.isfinite(raw)]
    if finite.size and finite.mean() > 0:
        raw = raw / finite.mean()
    return raw


def median_frequency(*, pos, image_pixels) -> np.ndarray:
    """``median-frequency``: ``w_c = median(f) / f_c`` with ``f_c = P_c / image_pixels_c``, the pixels
    of class c over the pixels of the images that contain c; the median is over classes with f_c > 0.

    Source: Eigen & Fergus 2015, "Predicting Depth, Surface Normals and Semantic Labels with a Common
    Multi-Scale Convolutional Architecture" (ICCV), as used by SegNet. Needs per-class pixel totals of
    the images containing each class (``Counts.image_pixels``), which only segmentation masks have.
    NaN for ``P_c = 0``.

    Worked example: pixels [10, 30, 60] in images of [100, 100, 300] pixels: f = [0.1, 0.3, 0.2],
    median 0.2, weights [2, 2/3, 1].

    >>> median_frequency(pos=[10, 30, 60], image_pixels=[100, 100, 300]).round(4).tolist()
    [2.0, 0.6667, 1.0]
    """
    if image_pixels is None:
        raise OptionsError(
            "--scheme median-frequency needs, per class, the pixels of the images that contain it; "
            "only segmentation masks have them (label tables and arrays have no pixels)",
            hint="choose --scheme inverse, inverse-sqrt, effective-number or enet",
        )
    pos, totals = _as_array(pos), _as_array(image_pixels)
    if totals.shape != pos.shape:
        raise OptionsError(f"image_pixels has {totals.size} entries for {pos.size} classes")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        freq = np.where((pos > 0) & (totals > 0), pos / totals, np.nan)
    finite = freq[np.isfinite(freq) & (freq > 0)]
    if not finite.size:
        return np.full(pos.shape, np.nan)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.float64(np.median(finite)) / freq


def enet(*, pos, neg, k: float = DEFAULT_ENET_K) -> np.ndarray:
    """``enet``: ``w_c = 1 / ln(k + p_c)`` with ``p_c = P_c / n_c`` the class probability.

    Source: Paszke et al. 2016, "ENet: A Deep Neural Network Architecture for Real-Time Semantic
    Segmentation", with k = 1.02; weights are bounded by ``1 / ln(k)`` (about 50.5 for k = 1.02) as
    p_c → 0. ``k > 1``. NaN for ``P_c = 0`` (the class is handled by ``--zero-positives``).

    Worked example, k = 1.02: p = 0.5 gives 1 / ln(1.52) ≈ 2.3883, p = 0.1 gives 1 / ln(1.12) ≈ 8.8239.

    >>> enet(pos=[50, 10], neg=[50, 90]).round(4).tolist()
    [2.3883, 8.8239]
    """
    pos, neg = _as_array(pos), _as_array(neg)
    _check_enet_k(k)
    n = pos + neg
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        p = np.where(n > 0, pos / n, 0.0)
        return np.where(pos > 0, 1.0 / np.log(k + p), np.nan)


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
        raise UsageError(f"unknown normalize {normalize!r}; choose none, mean or sum")
    if not scale > 0 or not math.isfinite(scale):
        return w.copy()
    return w / scale


SchemeFunction = Callable[..., np.ndarray]

#: Class-weight schemes by CLI name. Each takes keyword-only arguments among ``pos``, ``neg``,
#: ``image_pixels``, ``beta`` and ``k`` and returns raw weights with NaN for classes it cannot weigh.
SCHEMES: dict[str, SchemeFunction] = {
    "inverse": inverse_frequency,
    "inverse-sqrt": inverse_sqrt_frequency,
    "effective-number": effective_number,
    "median-frequency": median_frequency,
    "enet": enet,
}


def _check_beta(beta: float) -> None:
    if not (0.0 <= beta < 1.0):
        raise UsageError(f"--beta must be in [0, 1), got {beta:g}",
                           hint="Cui et al. use 0.9, 0.99, 0.999 or 0.9999")


def _check_enet_k(k: float) -> None:
    if not (k > 1.0 and math.isfinite(k)):
        raise UsageError(f"--enet-k must be greater than 1, got {k:g}",
                           hint="ENet uses 1.02; ln(k + p) must stay positive for p = 0")


def parse_clip(text: str) -> tuple[float | None, float | None]:
    """``"MIN:MAX"`` → ``(min, max)``; either side may be empty (``":50"``, ``"0.1:"``).

    >>> parse_clip("0.1:50"), parse_clip(":10")
    ((0.1, 50.0), (None, 10.0))
    """
    low, sep, high = str(text).partition(":")
    if not sep:
        raise UsageError(f"--clip expects MIN:MAX (either side may be empty), got {text!r}")
    try:
        bounds = tuple(float(v) if v.strip() else None for v in (low, high))
    except ValueError:
        raise UsageError(f"--clip expects numbers as MIN:MAX, got {text!r}") from None
    return _check_clip(bounds)  # type: ignore[arg-type]


def _check_clip(clip) -> tuple[float | None, float | None]:
    try:
        low, high = (None if v is None else float(v) for v in clip)
    except (TypeError, ValueError):
        raise UsageError(f"--clip expects (MIN, MAX) numbers or None, got {clip!r}") from None
    for v in (low, high):
        if v is not None and not (v >= 0 and math.isfinite(v)):
            raise UsageError(f"--clip bounds must be finite and >= 0, got {v:g}")
    if high is not None and high <= 0:
        raise UsageError("--clip MAX must be above 0: a maximum of 0 sets every weight to 0, which deletes "
                         "the loss", hint="e.g. --clip 0.1:50")
    if low is not None and high is not None and low > high:
        raise UsageError(f"--clip MIN is above MAX ({low:g} > {high:g})")
    return low, high


@dataclass(frozen=True)
class WeightOptions:
    """How to turn counts into weights (the CLI's weighting options).

    ``min_count``: a class with ``0 < P_c < min_count`` positives is *rare* and handled by
    ``zero_positives`` like a class without positives (see :func:`compute_weights`); 0 turns it off.
    ``clip``: ``(min, max)`` bounds (either may be None) applied last to ``pos_weight`` and the class
    weights alike. ``smoothing``: K added to every P_c and N_c before the formulas.
    """

    scheme: str = "inverse"
    normalize: Normalize = "none"
    zero_positives: ZeroPolicy = "warn"
    beta: float = DEFAULT_BETA
    enet_k: float = DEFAULT_ENET_K
    min_count: float = 0.0
    clip: tuple[float | None, float | None] | None = None
    smoothing: float = 0.0

    def __post_init__(self) -> None:
        if self.scheme not in SCHEMES:
            raise UsageError(f"unknown scheme {self.scheme!r}; choose one of {', '.join(SCHEMES)}")
        if self.normalize not in ("none", "mean", "sum"):
            raise UsageError(f"unknown normalize {self.normalize!r}; choose none, mean or sum")
        if self.zero_positives not in ("warn", "error", "skip"):
            raise UsageError(f"unknown zero-positives policy {self.zero_positives!r}; "
                             "choose warn, error or skip")
        for name in ("beta", "enet_k", "min_count", "smoothing"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise UsageError(f"--{name.replace('_', '-')} expects a number, got {value!r}")
        _check_beta(self.beta)
        _check_enet_k(self.enet_k)
        if not (self.min_count >= 0 and math.isfinite(self.min_count)):
            raise UsageError(f"--min-count must be >= 0, got {self.min_count:g}")
        if not (self.smoothing >= 0 and math.isfinite(self.smoothing)):
            raise UsageError(f"--smoothing must be a finite number >= 0, got {self.smoothing:g}")
        if self.clip is not None:
            object.__setattr__(self, "clip", _check_clip(self.clip))

    def describe(self) -> dict[str, object]:
        """Plain values for ``meta`` and the report."""
        return {
            "scheme": self.scheme,
            "normalize": self.normalize,
            "zero_positives": self.zero_positives,
            "beta": self.beta,
            "enet_k": self.enet_k,
            "min_count": self.min_count,
            "clip": None if self.clip is None else list(self.clip),
            "smoothing": self.smoothing,
        }


@dataclass
class Weights:
    """The weights for one label set, with what was done to classes that needed care."""

    pos_weight: np.ndarray
    class_weight: np.ndarray
    options: WeightOptions
    zero_positive: list[str] = field(default_factory=list)
    zero_negative: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: Classes with ``0 < P_c < min_count`` positives.
    rare: list[str] = field(default_factory=list)


def flag_classes(pos, options: WeightOptions) -> tuple[np.ndarray, np.ndarray]:
    """(without positives, rare) masks from the raw (unsmoothed) positive counts."""
    pos = _as_array(pos)
    zero = ~(pos > 0)
    rare = ~zero & (pos < options.min_count)
    return zero, rare


def refuse_flagged(zero_positive: list[str], rare_classes: list[str], options: WeightOptions) -> None:
    """Under ``zero_positives="error"``, a :class:`ZeroPositivesError` naming the classes without
    positives and the rare ones; nothing otherwise."""
    if options.zero_positives != "error" or not (zero_positive or rare_classes):
        return
    parts = []
    if zero_positive:
        parts.append(f"{len(zero_positive)} class(es) have no positive example: {', '.join(zero_positive)}")
    if rare_classes:
        parts.append(f"{len(rare_classes)} class(es) have fewer than {options.min_count:g} "
                     f"positives (--min-count): {', '.join(rare_classes)}")
    raise ZeroPositivesError(
        "; ".join(parts),
        hint="check the split and the label columns, or pass --zero-positives warn",
    )


def compute_weights(counts, options: WeightOptions | None = None) -> Weights:
    """``pos_weight`` and the class weight of the chosen scheme, all finite.

    Steps, in order:

    1. Flags, from the raw counts: a class *without positives* (``P_c = 0``), with ``min_count`` K
       a *rare* class (``0 < P_c < K``), and a class *without negatives* (``P_c > 0 = N_c``).
    2. ``smoothing`` K adds K to every P_c and N_c; ``pos_weight = N_c / P_c`` and the scheme's class
       weights come from the smoothed counts. A class without negatives gets ``pos_weight``
       :data:`ZERO_NEGATIVE_POS_WEIGHT` (1, with or without smoothing) and a warning: N_c / P_c = 0
       would delete its positive loss term.
    3. ``zero_positives``:

       * ``warn`` (default): a class without positives gets ``pos_weight``
         :data:`ZERO_POSITIVE_POS_WEIGHT` and the largest class weight of the unflagged classes (it is
         at least as rare as the rarest one); a rare class keeps its own values, capped at the largest
         ``pos_weight`` and class weight of the unflagged classes; each named in a warning;
       * ``skip``: flagged classes get ``pos_weight`` 1 and class weight 0 (they drop out of the loss);
       * ``error``: :class:`ZeroPositivesError` naming them.

    4. ``normalize`` rescales the class weights (``warn``: over every class; ``skip``: over the
       unflagged ones, the skipped stay 0).
    5. ``clip`` (min, max) bounds ``pos_weight`` and the class weights (a skipped class stays 0).

    What comes out, for any counts and options: every value finite and at most the float32 maximum;
    every ``pos_weight`` positive, and at least the smallest normal float32, so it stays positive once
    saved (a 0 would silently delete the class's positive loss term); every class weight positive
    too, except the class weight 0 that ``zero_positives="skip"`` gives the classes it skips. Counts
    with no class at all are an :class:`~bceweights.errors.InputError`.
    """
    options = options or WeightOptions()
    classes = list(counts.classes)
    if not classes:
        raise InputError("the labels hold no class: there is nothing to weigh",
                         hint="check the label options (--columns, --label-attributes, --class-axis ...)")
    pos, neg = _as_array(counts.pos), _as_array(counts.neg)
    zero, rare = flag_classes(pos, options)
    zero_positive = [c for c, a in zip(classes, zero) if a]
    rare_classes = [c for c, r in zip(classes, rare) if r]
    zero_negative = [c for c, p, n in zip(classes, pos, neg) if p > 0 and n <= 0]
    warnings: list[str] = []
    refuse_flagged(zero_positive, rare_classes, options)
    skip = options.zero_positives == "skip"
    if zero_positive:
        warnings.append(
            f"no positive example for {', '.join(zero_positive)}: pos_weight set to "
            f"{ZERO_POSITIVE_POS_WEIGHT:g}"
            + (", class weight set to 0" if skip else ", class weight set to the largest of the other classes")
        )
    if rare_classes:
        warnings.append(
            f"fewer than {options.min_count:g} positives (--min-count) for {', '.join(rare_classes)}: "
            + ("pos_weight set to 1, class weight set to 0" if skip
               else "pos_weight and class weight capped at the largest of the other classes")
        )
    if zero_negative:
        warnings.append(f"no negative example for {', '.join(zero_negative)}: pos_weight set to "
                        f"{ZERO_NEGATIVE_POS_WEIGHT:g} (N/P = 0 would delete the positive loss term)")
    pw, cw = weigh(pos, neg, options, zero=zero, rare=rare,
                   image_pixels=getattr(counts, "image_pixels", None))
    return Weights(
        pos_weight=pw,
        class_weight=cw,
        options=options,
        zero_positive=zero_positive,
        zero_negative=zero_negative,
        warnings=warnings,
        rare=rare_classes,
    )


def scheme_weights(pos, neg, options: WeightOptions, *, image_pixels=None) -> np.ndarray:
    """The raw class weights of ``options.scheme`` (NaN where it cannot weigh a class)."""
    function = SCHEMES[options.scheme]
    available = {"pos": pos, "neg": neg, "beta": options.beta, "k": options.enet_k,
                 "image_pixels": image_pixels}
    wanted = inspect.signature(function).parameters
    return _as_array(function(**{k: v for k, v in available.items() if k in wanted}))


def weigh(pos, neg, options: WeightOptions, *, zero, rare, image_pixels=None) -> tuple[np.ndarray, np.ndarray]:
    """Steps 2 to 5 of :func:`compute_weights` for given flags: (pos_weight, class_weight), finite.

    Exposed so that :mod:`bceweights.sampling` can weigh one more group (rows without a positive)
    with exactly the same rules.
    """
    pos, neg = _as_array(pos), _as_array(neg)
    zero, rare = np.asarray(zero, dtype=bool), np.asarray(rare, dtype=bool)
    flagged = zero | rare
    k = float(options.smoothing)
    p, n = pos + k, neg + k
    pw = pos_weight(pos=p, neg=n)
    # N/P = 0 deletes the positive term of a class that only has positives: neutral 1 instead, from the
    # raw counts, like a class without positives (smoothing would leave it a fraction of K / P).
    pw = np.where((pos > 0) & ~(neg > 0), ZERO_NEGATIVE_POS_WEIGHT, pw)
    # Classes without positives are left to the zero-positive policy, so they must not enter the
    # schemes' own scales (effective-number's mean, median-frequency's median) through the smoothing.
    raw = scheme_weights(np.where(zero, 0.0, p), n, options, image_pixels=image_pixels)
    raw = np.where(np.isfinite(raw), raw, np.nan)
    if options.zero_positives == "skip":
        pw = np.where(flagged, 1.0, pw)
        kept = np.where(flagged, np.nan, raw)
        # A class the scheme could not weigh although it has positives (median-frequency without
        # pixels of its images) is not skipped: it gets the largest weight of the others.
        kept = np.where(~flagged & ~np.isfinite(raw), _largest(kept, default=1.0), kept)
        cw = normalize_weights(kept, normalize=options.normalize)
        cw = np.where(np.isfinite(cw) & ~flagged, cw, 0.0)
    else:
        pw_cap = _largest(pw[~flagged], default=None)
        cw_cap = _largest(raw[~flagged], default=_largest(raw, default=1.0))
        pw = np.where(zero, ZERO_POSITIVE_POS_WEIGHT, pw)
        if pw_cap is not None:
            pw = np.where(rare, np.minimum(pw, pw_cap), pw)
        capped = np.where(np.isfinite(raw), np.minimum(raw, cw_cap), cw_cap)
        cw = np.where(zero, cw_cap, np.where(rare, capped, raw))
        # A class the scheme could not weigh although it has positives (median-frequency without
        # pixels of its images): the same fill as a class without positives.
        cw = np.where(np.isfinite(cw), cw, cw_cap)
        cw = normalize_weights(cw, normalize=options.normalize)
    kept = ~flagged if options.zero_positives == "skip" else np.ones(cw.shape, dtype=bool)
    if options.clip is not None:
        low, high = options.clip
        pw = np.clip(pw, low, high)
        cw = np.where(kept, np.clip(cw, low, high), cw)
    pw, cw = _finite(pw), _finite(cw)
    # Weights stay positive in the saved float32 tensors, however extreme the ratios (N/P of soft
    # counts, a median over frequencies 1e300 apart): only a class skipped on purpose gets 0.
    pw = np.maximum(pw, FLOAT32_TINY)
    cw = np.where(kept, np.maximum(cw, FLOAT32_TINY), cw)
    return pw, cw


def _largest(values: np.ndarray, *, default):
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else default


def _finite(values: np.ndarray) -> np.ndarray:
    """Guard for the float32 tensors: never NaN, never above the float32 range."""
    out = np.nan_to_num(values, nan=1.0, posinf=FLOAT32_MAX, neginf=0.0)
    return np.clip(out, -FLOAT32_MAX, FLOAT32_MAX)
