"""Prove the weights by running the loss they are meant for.

Each check runs ``torch.nn.BCEWithLogitsLoss`` (or optimises it) and returns a :class:`CheckResult`;
:func:`validate` gathers them into a :class:`ValidationReport`. The checks:

* **sanity**: the file's classes are the labels' classes, in the same order; its counts are the
  labels' counts; every weight is finite and non-negative. Warns on weights above
  :data:`EXTREME_WEIGHT` and on classes with fewer than :data:`FEW_POSITIVES` positives.
* **broadcast**: on a real target batch (and on probe shapes where the class count equals another
  axis), each weight tensor is filled with distinct values and the loss of every element is read back:
  element ``(n, c, ...)`` must carry class c's value, never one picked along another axis.
* **numeric**: with the real weights, the loss on random logits equals the formula
  ``w_c·[p_c·y·softplus(-x) + (1-y)·softplus(x)]`` computed independently in float64, to 1e-6 relative.
* **balance**: per class, the best constant logit b_c of the weighted loss on the dataset's counts
  (found with autograd Newton steps) is 0 with ``pos_weight = N/P``, against log(P/N) without; class
  weights make each class's weighted positive mass equal where the scheme promises it.

The library functions return reports and never print; the CLI renders them and exits 1 on a failure.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .counts import Counts
from .errors import CheckFailed, OptionsError
from .readers.base import TARGET_BUDGET, TargetSample
from .report import EXTREME_WEIGHT, RARE_POSITIVES, fmt_weight, option_words, plural, rare_below

#: A class with fewer positives than this gets a pos_weight estimated from a handful of examples: the
#: report's *rare* (``--min-count`` when the file records one).
FEW_POSITIVES = RARE_POSITIVES
#: Loss elements the checks may hold at once (float64): keeps a check well under a second.
ELEMENT_BUDGET = TARGET_BUDGET
NUMERIC_RTOL = 1e-6
#: float32 rounding of a stored pos_weight moves the optimum by ~1e-7; a wrong weight moves it by far more.
BALANCE_ATOL = 1e-4
CLASS_WEIGHT_RTOL = 1e-5
COUNT_RTOL = 1e-6

_AXIS_NAMES = {2: "NC", 3: "NCL", 4: "NCHW", 5: "NCDHW"}

#: Per class-weight scheme: (what is equal across classes, that quantity from pos, neg, weight).
#: A scheme absent here has no equal-total property to check; the balance check says so.
CLASS_WEIGHT_INVARIANTS: dict[str, tuple[str, Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]]] = {
    # w_c = n_c / (C·P_c): the weighted positives w_c·P_c are n_c / C, the same share of every class's
    # valid samples (exactly equal when no value is ignored).
    "inverse": ("w_c·P_c/n_c", lambda pos, neg, w: w * pos / (pos + neg)),
}


# ------------------------------------------------------------------------------------------ results


@dataclass
class CheckResult:
    """One check: ``passed`` is False only for a failure; a skipped check has ``skipped`` set."""

    name: str
    passed: bool
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    skipped: bool = False
    hint: str | None = None

    @property
    def status(self) -> str:
        if not self.passed:
            return "fail"
        return "skip" if self.skipped else "pass"


@dataclass
class ValidationReport:
    checks: list[CheckResult]
    device: str = "cpu"
    target_shape: list[int] = field(default_factory=list)
    source: str = ""
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed]

    @property
    def warnings(self) -> list[str]:
        return [w for c in self.checks for w in c.warnings]

    def __repr__(self) -> str:
        """One line: passed or failed, which checks, how many warnings; the first failure's message cut
        short (``to_dict()`` and the CLI have the whole of it)."""
        from .report import plural

        by_status = {status: [c.name for c in self.checks if c.status == status] for status in ("fail", "pass", "skip")}
        parts = [f"{word} {', '.join(names)}" for word, names in
                 (("failed", by_status["fail"]), ("passed", by_status["pass"]), ("skipped", by_status["skip"]))
                 if names]
        if self.warnings:
            parts.append(plural(len(self.warnings), "warning"))
        text = f"ValidationReport({'; '.join(parts) or 'no check'}; {self.device}, target {list(self.target_shape)}"
        if self.failures:
            message = self.failures[0].message
            text += f"; {self.failures[0].name}: {message[:77] + '...' if len(message) > 80 else message}"
        return text + ")"

    def __getitem__(self, name: str) -> CheckResult:
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "device": self.device,
            "target_shape": list(self.target_shape),
            "source": self.source,
            "seconds": self.seconds,
            "checks": [{**asdict(c), "status": c.status} for c in self.checks],
        }

    def raise_if_failed(self, suffix: str = "") -> None:
        """Raise :class:`CheckFailed` naming the first failure (and how many more)."""
        failures = self.failures
        if not failures:
            return
        first = failures[0]
        more = f" (also failed: {', '.join(c.name for c in failures[1:])})" if len(failures) > 1 else ""
        raise CheckFailed(f"{first.name} check failed: {first.message}{more}{suffix}", hint=first.hint)


#: Real targets ``[N, C, *spatial]`` (float32, NaN = ignored) with their class names and source.
TargetBatch = TargetSample


# ------------------------------------------------------------------------------------------ helpers


def _names(names: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(f"'{n}'" for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _fmt(value: float) -> str:
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}"


def _torch():
    from .errors import require

    return require("torch", feature="validating weights")


def resolve_device(device: str | None) -> str:
    """``cpu`` or ``cuda``; ``cuda`` only where torch sees a GPU."""
    device = (device or "cpu").lower()
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise OptionsError(f"unknown --device {device!r}; choose cpu or cuda")
    if device.startswith("cuda"):
        torch = _torch()
        if not torch.cuda.is_available():
            built = "built without CUDA" if torch.version.cuda is None else "no GPU is visible"
            raise OptionsError(
                f"--device {device}: torch {torch.__version__} cannot use a GPU here ({built})",
                hint="run the checks with --device cpu",
            )
    return device


def _as_tensor(value):
    torch = _torch()
    if isinstance(value, torch.Tensor):
        return value
    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError):
        return None


def _payload_of(obj, flat: bool | None = None) -> tuple[dict[str, Any], Counts | None]:
    """(payload dict, the counts behind it if known) from a ``.pt`` dict or an ``api.Result``."""
    if isinstance(obj, dict):
        return obj, None
    if hasattr(obj, "payload") and hasattr(obj, "counts"):
        if flat is None:
            flat = bool(getattr(obj, "meta", {}).get("flat"))
        return obj.payload(flat=flat), obj.counts
    raise TypeError(f"expected a weights dict or a Result, got {type(obj).__name__}")


def _counts_from_payload(payload: dict[str, Any]) -> Counts:
    from .payload import decode

    return decode(payload).counts


# ------------------------------------------------------------------------------------ target batches


def align(batch: TargetBatch, classes: list[str]) -> TargetBatch:
    """Reorder the batch's class axis to ``classes``; a class the sample never met is a negative,
    except where every class is ignored (a void pixel)."""
    unknown = [c for c in batch.classes if c not in classes]
    if unknown:
        raise CheckFailed(f"the target batch has classes the counts do not: {_names(unknown)}")
    values = batch.values
    shape = list(values.shape)
    shape[1] = len(classes)
    out = np.zeros(shape, dtype=np.float32)
    if values.shape[1]:
        void = np.isnan(values).all(axis=1)
        out[:] = np.where(void, np.nan, 0.0)[:, None]
    index = {c: i for i, c in enumerate(classes)}
    for j, name in enumerate(batch.classes):
        out[:, index[name]] = values[:, j]
    return TargetBatch(out, classes, batch.source)


def synthetic_targets(counts: Counts, seed: int = 0) -> TargetBatch:
    """Bernoulli targets at each class's prevalence, for formats whose reader cannot sample."""
    c = counts.num_classes
    spatial = [3 if c != 3 else 4] * counts.spatial_ndim
    n = max(1, min(256, ELEMENT_BUDGET // max(1, c * int(np.prod(spatial or [1])))))
    valid = counts.valid
    prevalence = np.divide(counts.pos, valid, out=np.zeros(c), where=valid > 0)
    rng = np.random.default_rng(seed)
    shape = [n, c, *spatial]
    values = (rng.random(shape) < prevalence.reshape([1, c] + [1] * len(spatial))).astype(np.float32)
    return TargetBatch(values, list(counts.classes), f"synthetic batch {shape} at the counted prevalences")


def _fit_budget(values: np.ndarray, budget: int = ELEMENT_BUDGET) -> tuple[np.ndarray, bool]:
    """Fewer samples, then a centre crop (:func:`bceweights.maskmath.crop_sizes`, the crop the mask
    readers take before their one-hot), so the batch fits the budget. A crop keeps every spatial size
    that is 1 or equal to C (those decide how a weight broadcasts) while it can."""
    from .maskmath import centre, crop_sizes

    n, c = values.shape[:2]
    spatial = list(values.shape[2:])
    per = c * int(np.prod(spatial or [1]))
    if per <= budget:
        return values[: max(1, min(n, budget // max(per, 1)))], False
    sizes = crop_sizes(spatial, c, budget)
    return values[(slice(0, 1), slice(None), *centre(spatial, sizes))], True


# -------------------------------------------------------------------------------------------- checks


def check_sanity(payload: dict[str, Any], counts: Counts) -> CheckResult:
    """Classes, counts, finiteness and sign; warnings for extreme weights and rare classes."""
    failures: list[str] = []
    hint = None
    warnings: list[str] = []
    details: dict[str, Any] = {}
    file_classes = [str(c) for c in payload.get("classes", [])]
    labels = list(counts.classes)
    if file_classes != labels:
        if sorted(file_classes) == sorted(labels):
            at = next(i for i, (a, b) in enumerate(zip(file_classes, labels)) if a != b)
            moved = [c for i, c in enumerate(file_classes) if labels[i] != c]
            failures.append(
                f"class order differs: the file lists {_names(file_classes)}, the labels {_names(labels)} "
                f"(first difference at position {at}: '{file_classes[at]}' in the file, '{labels[at]}' in the "
                f"labels; {len(moved)} classes moved: {_names(moved)})"
            )
            hint = "recompute the weights from these labels, or reorder the model's outputs to the file's classes"
        else:
            only_file = [c for c in file_classes if c not in set(labels)]
            only_labels = [c for c in labels if c not in set(file_classes)]
            parts = []
            if only_file:
                parts.append(f"only in the file: {_names(only_file)}")
            if only_labels:
                parts.append(f"only in the labels: {_names(only_labels)}")
            failures.append(f"the file's {len(file_classes)} classes differ from the labels' {len(labels)} "
                            f"({'; '.join(parts) or 'duplicates'})")
            hint = "pass the same label options (--columns, --exclude-columns, --classes-file ...) as compute"
        details["classes_match"] = False
        return CheckResult("sanity", False, "; ".join(failures), details, hint=hint)
    details["classes_match"] = True
    c = len(labels)
    tensors = {}
    for key in ("pos_weight", "class_weight", "pos_count", "neg_count"):
        t = _as_tensor(payload.get(key))
        if t is None or not t.is_floating_point():
            failures.append(f"{key} is not a float tensor ({type(payload.get(key)).__name__})")
            continue
        if t.numel() != c:
            failures.append(f"{key} has {t.numel()} values for {c} classes (shape {list(t.shape)})")
            continue
        tensors[key] = t.detach().reshape(-1).to("cpu", dtype=_torch().float64).numpy()
    for key in ("pos_weight", "class_weight"):
        if key not in tensors:
            continue
        v = tensors[key]
        bad = ~np.isfinite(v)
        if bad.any():
            named = [f"'{labels[i]}' ({_fmt(v[i])})" for i in np.flatnonzero(bad)[:8]]
            failures.append(f"{key} is not finite for {int(bad.sum())} classes: {', '.join(named)}; the loss "
                            "would be inf or NaN")
            hint = "recompute with bceweights compute (a class without positives gets pos_weight 1)"
        neg = np.isfinite(v) & (v < 0)
        if neg.any():
            failures.append(f"{key} is negative for {_names([labels[i] for i in np.flatnonzero(neg)])}")
        big = np.isfinite(v) & (v > EXTREME_WEIGHT)
        if big.any():
            named = [f"'{labels[i]}' ({fmt_weight(v[i])})" for i in np.flatnonzero(big)[:8]]
            more = f" and {int(big.sum()) - 8:,} more" if big.sum() > 8 else ""
            # --normalize rescales class weights only; --clip bounds both, --smoothing lifts tiny counts.
            fix = "--clip :1000 or --smoothing 1" if key == "pos_weight" else "--clip :1000 or --normalize mean"
            warnings.append(f"{key} above {EXTREME_WEIGHT:,.0f} for {', '.join(named)}{more}: one element "
                            f"outweighs a thousand others; consider {fix}")
        details[f"{key}_range"] = [float(np.nanmin(v)), float(np.nanmax(v))] if np.isfinite(v).any() else None
    pos, neg_counts = counts.pos, counts.neg
    absent = [labels[i] for i in np.flatnonzero(pos <= 0)]
    meta = payload.get("meta") if isinstance(payload.get("meta"), dict) else {}
    few_below = rare_below((meta.get("weights") or {}).get("min_count") if isinstance(meta.get("weights"), dict)
                           else None)
    few = [f"'{labels[i]}' ({_fmt(pos[i])})" for i in np.flatnonzero((pos > 0) & (pos < few_below))]
    if absent:
        warnings.append(f"no positives for {_names(absent)}: pos_weight there is a placeholder (1), not a ratio")
    if few:
        warnings.append(f"fewer than {few_below:g} positives (rare) for {', '.join(few[:8])}"
                        f"{' and more' if len(few) > 8 else ''}: their pos_weight rests on a handful of examples")
    if "pos_count" in tensors and "neg_count" in tensors:
        stale = ~(np.isclose(tensors["pos_count"], pos, rtol=COUNT_RTOL, atol=1e-9)
                  & np.isclose(tensors["neg_count"], neg_counts, rtol=COUNT_RTOL, atol=1e-9))
        if stale.any():
            named = [f"'{labels[i]}' ({_fmt(tensors['pos_count'][i])}/{_fmt(tensors['neg_count'][i])} in the file, "
                     f"{_fmt(pos[i])}/{_fmt(neg_counts[i])} in the labels)" for i in np.flatnonzero(stale)[:4]]
            failures.append(f"the file's positive/negative counts differ from the labels' for {int(stale.sum())} "
                            f"classes: {', '.join(named)}")
            used = (payload.get("meta") or {}).get("options") if isinstance(payload.get("meta"), dict) else None
            hint = hint or ("the weights were computed from other files or options; pass the same ones to validate"
                            + (f" (the file records {' '.join(option_words(used)) or 'the default options'})"
                               if isinstance(used, dict) else ""))
    details["warnings"] = len(warnings)
    if failures:
        return CheckResult("sanity", False, "; ".join(failures), details, warnings, hint=hint)
    rng = details.get("pos_weight_range")
    message = (f"{plural(c, 'class')} {'matches' if c == 1 else 'match'} the labels, in order; counts match; "
               "all weights finite"
               + (f", pos_weight in [{fmt_weight(rng[0])}, {fmt_weight(rng[1])}]" if rng else ""))
    return CheckResult("sanity", True, message, details, warnings)


def _expected_shape(c: int, ndim: int) -> list[int]:
    return [c] + [1] * (ndim - 2)


def _probe_shapes(target_shape: Sequence[int], budget: int) -> list[list[int]]:
    """Shapes where C equals one other axis (batch or spatial) and the rest are 1: a weight that
    broadcasts along that axis cannot pass by chance on them."""
    ndim, c = len(target_shape), target_shape[1]
    if c < 2 or c * c > budget:
        return []
    shapes = []
    for axis in [0, *range(2, ndim)]:
        shape = [1] * ndim
        shape[1] = c
        shape[axis] = c
        if shape != list(target_shape):
            shapes.append(shape)
    return shapes


def _identify(weight, key: str, shape: Sequence[int], classes: list[str], device: str) -> str | None:
    """Run the loss with ``weight``'s shape filled with 1..numel and check element (n, c, ...) reads
    class c's value. Returns a failure message, or None."""
    torch = _torch()
    c = shape[1]
    axes = _AXIS_NAMES.get(len(shape), "N" + "C" + "".join(f"S{i}" for i in range(len(shape) - 2)))
    shape_txt = f"{list(shape)} [{', '.join(axes)}]"
    labelled = torch.arange(1, weight.numel() + 1, dtype=torch.float64, device=device).reshape(weight.shape)
    logits = torch.zeros(tuple(shape), dtype=torch.float64, device=device)
    if key == "pos_weight":
        target = torch.ones_like(logits)
        loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=labelled, reduction="none")
    else:
        target = torch.zeros_like(logits)
        loss_fn = torch.nn.BCEWithLogitsLoss(weight=labelled, reduction="none")
    try:
        loss = loss_fn(logits, target)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        return f"{key} shaped {list(weight.shape)} does not broadcast over a target {shape_txt} ({first})"
    if list(loss.shape) != list(shape):
        return (f"{key} shaped {list(weight.shape)} turns a target {shape_txt} into a loss shaped "
                f"{list(loss.shape)}: it adds axes instead of lining up with the class axis")
    got = loss / math.log(2.0)
    expected = torch.arange(1, c + 1, dtype=torch.float64, device=device).reshape(_expected_shape(c, len(shape)))
    wrong = (got - expected).abs() > 1e-9 * expected
    if not bool(wrong.any()):
        return None
    index = [int(i) for i in torch.nonzero(wrong)[0].tolist()]
    value = float(got[tuple(index)])
    along = [axes[a] for a in range(len(shape))
             if shape[a] > 1 and bool((got != got.narrow(a, 0, 1)).any())]
    cls = classes[index[1]] if index[1] < len(classes) else str(index[1])
    which = int(round(value)) - 1
    other = f"the weight of class '{classes[which]}'" if weight.numel() == c and 0 <= which < len(classes) \
        else f"value #{which + 1} of the tensor"
    wrong_axes = "/".join(a for a in along if a != "C") or "another axis"
    return (f"{key} shaped {list(weight.shape)} varies along {wrong_axes} of a target {shape_txt}, not along the "
            f"class axis C: element {tuple(index)} (class '{cls}') gets {other}")


def check_broadcast(payload: dict[str, Any], batch: TargetBatch, device: str) -> CheckResult:
    """Every element gets its own class's pos_weight and class_weight, on the real target shape and on
    probe shapes where C equals another axis."""
    shape = list(batch.values.shape)
    classes = batch.classes
    shapes = [shape, *_probe_shapes(shape, ELEMENT_BUDGET)]
    failures: list[str] = []
    for key in ("pos_weight", "class_weight"):
        weight = _as_tensor(payload.get(key))
        if weight is None:
            failures.append(f"{key} is not a tensor")
            continue
        for probe in shapes:
            problem = _identify(weight.to(device), key, probe, classes, device)
            if problem:
                failures.append(problem)
                break
    details = {"target_shape": shape, "probe_shapes": shapes[1:],
               "pos_weight_shape": list(getattr(payload.get("pos_weight"), "shape", [])),
               "class_weight_shape": list(getattr(payload.get("class_weight"), "shape", []))}
    if failures:
        fix = _expected_shape(len(classes), len(shape))
        return CheckResult("broadcast", False, "; ".join(failures), details,
                           hint=f"store each weight as {fix} for a target of rank {len(shape)} "
                           "(bceweights compute writes that shape for this kind of labels)")
    probes = f" and {len(shapes) - 1} probe shape{'s' if len(shapes) > 2 else ''} with C on another axis" \
        if len(shapes) > 1 else ""
    return CheckResult("broadcast", True,
                       f"pos_weight {details['pos_weight_shape']} and class_weight {details['class_weight_shape']} "
                       f"apply along the class axis of the target {shape}{probes}", details)


def _class_view(vector: np.ndarray, ndim: int) -> np.ndarray:
    return vector.reshape([1, -1] + [1] * (ndim - 2))


def reference_loss(logits: np.ndarray, targets: np.ndarray, pos_weight: np.ndarray,
                   class_weight: np.ndarray) -> np.ndarray:
    """``w_c·[p_c·y·softplus(-x) + (1-y)·softplus(x)]`` in float64, per element, with the weights
    indexed by class (axis 1) explicitly rather than broadcast from a stored shape.

    >>> float(reference_loss(np.zeros((1, 1)), np.ones((1, 1)), np.array([3.0]), np.array([2.0]))[0, 0] / np.log(2))
    6.0
    """
    x = np.asarray(logits, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64)
    p = _class_view(np.asarray(pos_weight, dtype=np.float64).reshape(-1), x.ndim)
    w = _class_view(np.asarray(class_weight, dtype=np.float64).reshape(-1), x.ndim)
    with np.errstate(invalid="ignore", over="ignore"):
        return w * (p * y * np.logaddexp(0.0, -x) + (1.0 - y) * np.logaddexp(0.0, x))


def check_numeric(payload: dict[str, Any], batch: TargetBatch, device: str, seed: int = 0) -> CheckResult:
    """The loss torch computes with the file's weights equals the float64 reference formula."""
    torch = _torch()
    # The real targets and their complement: a crop or sample without positives of some class still
    # exercises both terms of every class.
    values = np.concatenate([batch.values, 1.0 - batch.values])
    valid = ~np.isnan(values)
    y = np.where(valid, values, 0.0).astype(np.float64)
    # Logits in [-6, 6]: both formulas stay exact to ~1e-13 there, so 1e-6 tests the weights, not rounding.
    logits = np.random.default_rng(seed).uniform(-6.0, 6.0, size=values.shape)
    pw = _as_tensor(payload.get("pos_weight"))
    cw = _as_tensor(payload.get("class_weight"))
    classes = batch.classes
    try:
        loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pw.to(device, torch.float64),
                                             weight=cw.to(device, torch.float64), reduction="none")
        got = loss_fn(torch.as_tensor(logits, device=device), torch.as_tensor(y, device=device))
        got32 = torch.nn.BCEWithLogitsLoss(pos_weight=pw.to(device, torch.float32),
                                           weight=cw.to(device, torch.float32), reduction="none")(
            torch.as_tensor(logits, dtype=torch.float32, device=device),
            torch.as_tensor(y, dtype=torch.float32, device=device))
    except RuntimeError as exc:
        return CheckResult("numeric", False, f"the loss cannot be computed with these weights "
                           f"({str(exc).strip().splitlines()[0]})")
    if list(got.shape) != list(values.shape):
        return CheckResult("numeric", False, f"the loss came out shaped {list(got.shape)} for a target "
                           f"{list(values.shape)}")
    got_np = got.cpu().numpy()
    ref = reference_loss(logits, y, pw.reshape(-1).cpu().numpy(), cw.reshape(-1).cpu().numpy())
    nonfinite = valid & ~(np.isfinite(got_np) & np.isfinite(ref))
    details: dict[str, Any] = {"elements": int(valid.sum()), "ignored": int((~valid).sum())}
    if nonfinite.any():
        per_class = nonfinite.reshape(values.shape[0], values.shape[1], -1).any(axis=(0, 2))
        named = [f"'{classes[i]}'" for i in np.flatnonzero(per_class)[:8]]
        sample = tuple(int(i) for i in np.argwhere(nonfinite)[0])
        return CheckResult("numeric", False,
                           f"the loss is {_fmt(got_np[sample])} at element {sample}: not finite for classes "
                           f"{', '.join(named)}", details,
                           hint="every pos_weight and class_weight must be finite")
    err = np.abs(got_np - ref)
    scale = np.abs(ref)
    bad = valid & (err > NUMERIC_RTOL * scale)
    rel = np.divide(err, scale, out=np.zeros_like(err), where=scale > 0)
    max_rel = float(rel[valid].max()) if valid.any() else 0.0
    mean64 = float(ref[valid].mean()) if valid.any() else 0.0
    mean32 = float(got32.cpu().double().numpy()[valid].mean()) if valid.any() else 0.0
    rel32 = abs(mean32 - mean64) / abs(mean64) if mean64 else 0.0
    details.update(max_relative_error=max_rel, mean_loss=mean64, float32_mean_relative_error=rel32)
    warnings = []
    if rel32 > 1e-4:
        warnings.append(f"in float32 the mean loss is off by {rel32:.1e} relative: weights this large lose precision")
    if bad.any():
        sample = tuple(int(i) for i in np.argwhere(bad)[0])
        return CheckResult("numeric", False,
                           f"torch gives {_fmt(got_np[sample])} at element {sample} (class '{classes[sample[1]]}') "
                           f"where w_c·[p_c·y·softplus(-x) + (1-y)·softplus(x)] gives {_fmt(ref[sample])}; "
                           f"{int(bad.sum()):,} elements differ by more than {NUMERIC_RTOL:g} relative",
                           details, warnings, hint="the weights are not applied per class")
    return CheckResult("numeric", True,
                       f"loss equals the float64 formula on {int(valid.sum()):,} elements (targets and 1 - targets) "
                       f"(max relative error {max_rel:.1e}; float32 mean {rel32:.1e})", details, warnings)


def optimal_constant_logit(pos, neg, pos_weight=None, *, device: str = "cpu", steps: int = 100) -> np.ndarray:
    """Per class, the constant logit b minimising ``p·P·softplus(-b) + N·softplus(b)``, by Newton
    steps on autograd's gradient and (diagonal) Hessian. NaN where P or N is 0 (no finite optimum).

    Newton from b = 0 converges monotonically here (σ(b) is convex on one side of 0, concave on the
    other), so no line search is needed; the analytic optimum is log(p·P/N).

    >>> optimal_constant_logit([1.0, 10.0], [9.0, 10.0]).round(6).tolist()
    [-2.197225, 0.0]
    """
    torch = _torch()
    pos = np.asarray(pos, dtype=np.float64)
    neg = np.asarray(neg, dtype=np.float64)
    if not pos.size:
        return np.zeros(0)
    p = np.ones_like(pos) if pos_weight is None else np.asarray(pos_weight, dtype=np.float64).reshape(-1)
    a = p * pos
    ok = (a > 0) & (neg > 0) & np.isfinite(a)
    total = np.where(ok, a + neg, 1.0)
    # Shares instead of raw counts (up to billions of pixels) keep the Hessian O(1).
    qa = torch.as_tensor(np.where(ok, a / total, 0.5), device=device)
    qn = torch.as_tensor(np.where(ok, neg / total, 0.5), device=device)
    b = torch.zeros(len(pos), dtype=torch.float64, device=device, requires_grad=True)
    softplus = torch.nn.functional.softplus
    for _ in range(steps):
        loss = (qa * softplus(-b) + qn * softplus(b)).sum()
        (grad,) = torch.autograd.grad(loss, b, create_graph=True)
        # The loss is a sum of one-variable terms: the gradient of sum(grad) is the Hessian's diagonal.
        (hess,) = torch.autograd.grad(grad.sum(), b)
        step = grad.detach() / hess.clamp_min(1e-300)
        b = (b.detach() - step).requires_grad_()
        if float(step.abs().max()) < 1e-12:
            break
    out = b.detach().cpu().numpy()
    return np.where(ok, out, np.nan)


def _design(payload: dict[str, Any]) -> dict[str, Any]:
    """The weighting options recorded in the file's meta (defaults for a hand-made payload)."""
    meta = payload.get("meta") or {}
    info = meta.get("weights") if isinstance(meta, dict) else None
    return info if isinstance(info, dict) else {}


def check_balance(payload: dict[str, Any], counts: Counts, device: str) -> CheckResult:
    """``pos_weight`` puts each class's best constant logit at 0; class weights equalise the weighted
    positives where the scheme promises it.

    Only what the file's options promise is checked: a class adjusted by design (``--smoothing``,
    ``--clip``, ``--min-count``, no positives) has its optimum reported, not required to be 0.
    """
    classes = list(counts.classes)
    pos, neg = counts.pos.astype(np.float64), counts.neg.astype(np.float64)
    pw = _as_tensor(payload["pos_weight"]).reshape(-1).double().cpu().numpy()
    cw = _as_tensor(payload["class_weight"]).reshape(-1).double().cpu().numpy()
    b_weighted = optimal_constant_logit(pos, neg, pw, device=device)
    b_plain = optimal_constant_logit(pos, neg, None, device=device)
    measured = np.isfinite(b_weighted)
    design = _design(payload)
    smoothing = float(design.get("smoothing") or 0.0)
    clip = design.get("clip") or (None, None)
    low = -np.inf if clip[0] is None else float(clip[0])
    high = np.inf if clip[1] is None else float(clip[1])
    flagged = set(design.get("zero_positive_classes") or []) | set(design.get("rare_classes") or [])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(pos > 0, neg / pos, np.nan)
    adjusted: dict[str, list[str]] = {}
    if smoothing > 0:
        adjusted["--smoothing"] = [c for c, m in zip(classes, measured) if m]
    clipped = measured & ((ratio < low) | (ratio > high))
    if clipped.any():
        adjusted["--clip"] = [classes[i] for i in np.flatnonzero(clipped)]
    capped = [c for c, m in zip(classes, measured) if m and c in flagged]
    if capped:
        adjusted["--min-count"] = capped
    by_design = np.array([any(c in names for names in adjusted.values()) for c in classes], dtype=bool)
    promised = measured & ~by_design
    log2 = math.log(2.0)
    details: dict[str, Any] = {
        "classes": classes,
        "b_weighted": b_weighted.tolist(),
        "b_unweighted": b_plain.tolist(),
        # Loss mass an untrained (zero-logit) model sees, per class, with both weights applied.
        "positive_mass": (cw * pw * pos * log2).tolist(),
        "negative_mass": (cw * neg * log2).tolist(),
        "adjusted_by_design": adjusted,
    }
    failures: list[str] = []
    off = promised & (np.abs(np.where(promised, b_weighted, 0.0)) > BALANCE_ATOL)
    if off.any():
        named = [f"'{classes[i]}' (b={_fmt(b_weighted[i])}: pos_weight {_fmt(pw[i])}, N/P {_fmt(ratio[i])})"
                 for i in np.flatnonzero(off)[:6]]
        failures.append(f"pos_weight does not balance {int(off.sum())} classes: their best constant logit is not 0: "
                        f"{', '.join(named)}")
    parts = []
    if measured.any():
        lo, hi = np.nanmin(b_plain[measured]), np.nanmax(b_plain[measured])
        parts.append(f"best constant logit unweighted log(P/N) in [{_fmt(lo)}, {_fmt(hi)}]")
    if promised.any():
        parts.append(f"with pos_weight it is 0 (max |b| {np.abs(b_weighted[promised]).max():.1e}, "
                     f"{plural(int(promised.sum()), 'class')})")
    if adjusted:
        moved = np.abs(b_weighted[by_design & measured])
        parts.append(f"{plural(int((by_design & measured).sum()), 'class')} moved by {', '.join(adjusted)} by design "
                     f"(max |b| {moved.max():.2g})")
    unmeasured = [classes[i] for i in np.flatnonzero(~measured)]
    if unmeasured:
        parts.append(f"{len(unmeasured)} without positives or negatives not measured")
    scheme = str(design.get("scheme", "inverse"))
    invariant = CLASS_WEIGHT_INVARIANTS.get(scheme)
    # Classes whose class weight the options changed after the formula do not follow it.
    use = (pos > 0) & np.isfinite(cw) & (cw > 0) & np.array([c not in flagged for c in classes], dtype=bool)
    if clip != (None, None):
        use &= (cw > low) & (cw < high)
    if invariant is None:
        parts.append(f"class_weight scheme '{scheme}' does not equalise the classes' weighted totals: not checked")
        details["class_weight_invariant"] = None
    elif use.sum() >= 2:
        label, fn = invariant
        q = fn(pos[use] + smoothing, neg[use] + smoothing, cw[use])
        spread = float((q.max() - q.min()) / abs(q.mean())) if q.mean() else 0.0
        details["class_weight_invariant"] = {"quantity": label, "values": q.tolist(), "relative_spread": spread}
        if spread > CLASS_WEIGHT_RTOL:
            names = np.array(classes)[use]
            failures.append(f"class_weight ({scheme}) does not make {label} equal across classes: it ranges from "
                            f"{_fmt(q.min())} ('{names[int(np.argmin(q))]}') to {_fmt(q.max())} "
                            f"('{names[int(np.argmax(q))]}')")
        else:
            parts.append(f"{label} equal across {plural(int(use.sum()), 'class')} ({scheme}, spread {spread:.1e})")
    else:
        parts.append("class_weight: fewer than 2 classes keep their formula's weight (not compared)")
    details["unmeasured_classes"] = unmeasured
    if failures:
        return CheckResult("balance", False, "; ".join(failures), details,
                           hint="the weights do not belong to these counts: recompute them with bceweights compute")
    return CheckResult("balance", True, "; ".join(parts) or "nothing to measure", details,
                       skipped=not measured.any())


# ------------------------------------------------------------------------------------------- drivers


def _one_torch_thread(func):
    """Run ``func`` with torch on one CPU thread, then restore the caller's setting: the checks' tensors
    are small (``ELEMENT_BUDGET``), and with two threads on a busy 2-core machine the first loss calls
    wait on OpenMP's pool, 0.05 s → up to 0.5 s (benchmarks/RESULTS.md)."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        torch = _torch()
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return func(*args, **kwargs)
        finally:
            torch.set_num_threads(threads)

    return wrapper


@_one_torch_thread
def validate(
    payload_or_result,
    targets: TargetBatch | np.ndarray | None = None,
    counts: Counts | None = None,
    *,
    device: str = "cpu",
    flat: bool | None = None,
) -> ValidationReport:
    """Run every check on a weights dict (a loaded ``.pt``) or an ``api.Result``.

    ``counts`` are the labels' counts (defaults to those behind the weights); ``targets`` a real target
    batch ``[N, C, *spatial]`` aligned to ``counts.classes`` (defaults to a synthetic one).
    """
    started = time.perf_counter()
    device = resolve_device(device)
    payload, own_counts = _payload_of(payload_or_result, flat)
    counts = counts or own_counts or _counts_from_payload(payload)
    if targets is None:
        targets = synthetic_targets(counts)
    elif not isinstance(targets, TargetBatch):
        targets = TargetBatch(np.asarray(targets, dtype=np.float32), list(counts.classes), "given batch")
    if targets.classes != list(counts.classes):
        targets = align(targets, list(counts.classes))
    values, cropped = _fit_budget(targets.values)
    batch = TargetBatch(values, targets.classes,
                        targets.source + (f", centre crop {list(values.shape[2:])}" if cropped else ""))
    payload, flat_note = _unflatten(payload, batch.values.ndim)
    checks = [check_sanity(payload, counts)]
    if not checks[0].details.get("classes_match") or not checks[0].passed and _unusable(payload, counts):
        reason = checks[0].message if not checks[0].details.get("classes_match") else "the weights are unusable"
        for name in ("broadcast", "numeric", "balance"):
            checks.append(CheckResult(name, True, f"not run: {reason.split(';')[0]}", skipped=True))
    else:
        checks.append(check_broadcast(payload, batch, device))
        if flat_note:
            checks[-1].warnings.append(flat_note)
        checks.append(check_numeric(payload, batch, device))
        checks.append(check_balance(payload, counts, device))
    return ValidationReport(checks, device, list(batch.values.shape), batch.source,
                            round(time.perf_counter() - started, 3))


def _unflatten(payload: dict[str, Any], ndim: int) -> tuple[dict[str, Any], str | None]:
    """A file saved with ``--flat`` holds ``[C]`` weights for masks on purpose: check them as
    ``bceweights.load(path, ndim=...)`` hands them to the loss, and say so."""
    meta = payload.get("meta") if isinstance(payload.get("meta"), dict) else {}
    if ndim <= 2 or not meta.get("flat"):
        return payload, None
    torch = _torch()
    out = dict(payload)
    for key in ("pos_weight", "class_weight"):
        t = out.get(key)
        if isinstance(t, torch.Tensor) and t.ndim == 1:
            out[key] = t.reshape(-1, *([1] * (ndim - 2)))
    c = len(out.get("classes", []))
    return out, (f"the file is flat (--flat): its [{c}] weights broadcast over a rank-{ndim} target only after "
                 f"a reshape to {_expected_shape(c, ndim)}, e.g. bceweights.load(path, ndim={ndim}); "
                 "checked after that reshape")


def _unusable(payload: dict[str, Any], counts: Counts) -> bool:
    """True when a weight tensor is missing or has the wrong number of values (nothing to run)."""
    for key in ("pos_weight", "class_weight"):
        t = _as_tensor(payload.get(key))
        if t is None or not t.is_floating_point() or t.numel() != counts.num_classes:
            return True
    return False
