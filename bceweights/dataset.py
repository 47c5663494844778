"""The torch side: count the targets of a ``Dataset`` or ``DataLoader``, and build the loss.

Two lines take a user from a dataset to a weighted loss::

    counts = bceweights.count_dataset(train_ds)      # one pass over the training targets
    loss_fn = bceweights.loss(counts)                # BCEWithLogitsLoss(pos_weight=N/P, shaped)

Targets are read as ``BCEWithLogitsLoss`` reads them: the class axis is the first axis of a sample's
target (the second of a batch). Per class c, ``P_c`` is the sum of the target over every sample (every
pixel of every mask) and ``N_c`` the sum of ``1 - y``: negatives are counted **per class**. Counting is
exact (float64 sums), and the counts merge by addition like every other :class:`~bceweights.Counts`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from . import maskmath
from .counts import Counts
from .errors import BceWeightsError, InputError, OptionsError
from .policy import format_value

if TYPE_CHECKING:
    import torch

    from .api import Result
    from .weights import WeightOptions, Weights

Mode = Literal["auto", "multi-hot", "index"]
Target = Callable[[Any], Any] | int | str


# ---------------------------------------------------------------------------------------------------
# Counting targets


class _Pick:
    """``sample[key]``, as a picklable object (DataLoader workers may pickle it)."""

    def __init__(self, key: int | str) -> None:
        self.key = key

    def __call__(self, sample: Any) -> Any:
        try:
            return sample[self.key]
        except (IndexError, KeyError, TypeError) as exc:
            kind = type(sample).__name__
            raise OptionsError(
                f"cannot take target {self.key!r} from a sample of type {kind}",
                hint="pass target=, e.g. target=lambda s: s['mask'] or target=lambda s: s",
            ) from exc


class _Targets:
    """A map-style dataset of the targets only, so DataLoader workers ship masks, not images."""

    def __init__(self, dataset: Any, target: Callable[[Any], Any]) -> None:
        self.dataset, self.target = dataset, target

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        return self.target(self.dataset[index])


def _identity(x: Any) -> Any:
    return x


def count_dataset(
    data: Any,
    target: Target = 1,
    *,
    mode: Mode = "auto",
    num_classes: int | None = None,
    classes: Sequence[str] | None = None,
    ignore_index: int | float | Sequence[int | float] = (),
    batched: bool | None = None,
    num_workers: int = 0,
    progress: bool | None = None,
) -> Counts:
    """Count per-class positives and negatives over the targets a ``Dataset`` or ``DataLoader`` yields.

    ``target`` picks the target from a sample: a callable (``lambda s: s["mask"]``) or a key
    (default ``1``: ``sample[1]`` of an ``(input, target)`` pair). Targets may be tensors, NumPy arrays,
    numbers or PIL images. A **sample's** target is one of:

    * ``[C]`` multi-hot (or soft) labels: ``P_c = Σ y_c``, ``N_c = Σ (1 - y_c)`` over samples;
    * ``[C, H, W]`` / ``[C, D, H, W]`` per-class channels: the same sums over every pixel (voxel);
    * ``[H, W]`` / ``[D, H, W]`` index masks (pass ``num_classes`` or ``mode="index"``): ``P_c`` =
      pixels of class c, ``N_c`` = valid pixels not of class c; ``ignore_index`` pixels count as neither;
    * a scalar class id (index mode): one-vs-rest counts per class.

    ``mode="auto"`` reads targets as index masks when ``num_classes`` is given and as multi-hot /
    channels otherwise; a 2-D ``[H, W]`` or scalar target without ``num_classes`` is ambiguous and is an
    error, never a guess. In multi-hot mode NaN and ``ignore_index`` values count as neither.

    A ``DataLoader`` is iterated as it is, with its own workers; its targets are batches (a leading
    ``N`` axis) when it collates (``batch_size`` not None), else samples — ``batched`` overrides. A
    ``Dataset`` is read sample by sample; ``num_workers > 0`` reads it through a DataLoader whose
    workers return only the targets (``target`` must then be picklable under ``spawn``).

    A progress bar (Rich, on stderr) is shown when ``progress`` is True, or when it is None and stderr
    is a terminal. Returns :class:`~bceweights.Counts` with ``spatial_ndim`` set, so
    :func:`bceweights.loss` shapes the weights for the target's rank.

    >>> import torch
    >>> y = torch.tensor([[1., 0, 1], [1, 1, 0], [0, 0, 0], [1, 0, 0]])
    >>> ds = torch.utils.data.TensorDataset(torch.zeros(4, 2), y)
    >>> c = count_dataset(ds, progress=False)
    >>> c.pos.tolist(), c.neg.tolist()
    ([3.0, 1.0, 1.0], [1.0, 3.0, 3.0])
    >>> masks = torch.tensor([[[0, 1], [2, 255]]])             # one 2x2 index mask, 255 = void
    >>> c = count_dataset(masks, target=lambda m: m, num_classes=3, ignore_index=255, progress=False)
    >>> c.pos.tolist(), c.neg.tolist(), c.spatial_ndim
    ([1.0, 1.0, 1.0], [2.0, 2.0, 2.0], 2)
    """
    if mode not in ("auto", "multi-hot", "index"):
        raise OptionsError(f"unknown mode {mode!r}; choose auto, multi-hot or index")
    if isinstance(ignore_index, (int, float)):
        ignore_index = (ignore_index,)
    counter = _Counter(
        mode=mode, num_classes=num_classes, classes=classes, ignore=tuple(ignore_index)
    )
    pick = target if callable(target) else _Pick(target)
    items, is_batched, total, unit = _iterate(data, pick, batched=batched, num_workers=num_workers)
    with _progress_bar(progress, total, unit) as advance:
        for item in items:
            if is_batched and isinstance(item, (list, tuple)):
                # A custom collate_fn that keeps targets as a list (masks of different sizes).
                for one in item:
                    counter.add(one, batched=False)
            else:
                counter.add(item, batched=is_batched)
            advance(1)
    return counter.result()


def _iterate(data: Any, pick: Callable[[Any], Any], *, batched: bool | None, num_workers: int):
    """(an iterator of targets, whether they are batched, the total for the bar, its unit)."""
    from torch.utils.data import DataLoader, IterableDataset

    if isinstance(data, DataLoader):
        is_batched = data.batch_sampler is not None if batched is None else batched
        return (pick(b) for b in data), is_batched, _len(data), "batches" if is_batched else "samples"
    if num_workers and num_workers > 0:
        if isinstance(data, IterableDataset):
            raise OptionsError(
                "num_workers with an IterableDataset would read every sample once per worker",
                hint="pass a DataLoader over it, with the dataset sharding itself by get_worker_info()",
            )
        loader = DataLoader(_Targets(data, pick), batch_size=None, num_workers=num_workers,
                            collate_fn=_identity)
        return iter(loader), bool(batched), _len(data), "samples"
    if not isinstance(data, IterableDataset) and hasattr(data, "__getitem__") and _len(data) is not None:
        # A map-style Dataset need not stop iteration by IndexError, so index it explicitly.
        samples: Iterable[Any] = (data[i] for i in range(len(data)))
    else:
        samples = data
    return (pick(s) for s in samples), bool(batched), _len(data), "samples"


def _len(obj: Any) -> int | None:
    try:
        return len(obj)
    except TypeError:
        return None


class _progress_bar:
    """A transient Rich bar on stderr (samples or batches), or nothing."""

    def __init__(self, enabled: bool | None, total: int | None, unit: str) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.total, self.unit = total, unit
        self._progress: Any = None

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda n: None
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("counting targets"), BarColumn(), MofNCompleteColumn(), TextColumn(self.unit),
            TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True), transient=True,
        )
        self._progress.__enter__()
        task = self._progress.add_task("count", total=self.total)
        return lambda n: self._progress.advance(task, n)

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)


class _Counter:
    """Adds targets up, checking they keep one layout. Rows and class ids go into one :class:`Counts`;
    spatial targets (index masks, ``[C, ...]`` channels) into a :class:`~bceweights.maskmath.MaskScan`,
    the arithmetic the mask readers use, turned into counts at the end. NumPy does the counting: one
    ``bincount`` per index mask and per-class reductions, no per-element Python work."""

    #: Unbatched ``[C]`` targets are stacked and counted this many at a time.
    BUFFER = 4096
    #: Index masks whose histograms are checked and added at once (and the histogram bins they may
    #: hold: 16-bit masks have long histograms).
    MASKS = 256
    MASKS_WIDTH = 1 << 20

    def __init__(self, *, mode: Mode, num_classes: int | None, classes: Sequence[str] | None,
                 ignore: tuple[float, ...]) -> None:
        if num_classes is not None and num_classes < 1:
            raise OptionsError(f"num_classes must be at least 1, got {num_classes}")
        if classes is not None and num_classes is not None and len(classes) != num_classes:
            raise OptionsError(f"{len(classes)} class names given for num_classes={num_classes}")
        self.index = mode == "index" or (mode == "auto" and num_classes is not None)
        self.explicit = mode != "auto"
        if self.index and num_classes is None and classes is not None:
            num_classes = len(classes)
        self.num_classes = num_classes
        self.class_names = None if classes is None else [str(c) for c in classes]
        self.ignore = ignore
        self.rules = maskmath.Rules("index" if self.index else "channels", tuple(ignore),
                                    num_classes if self.index else None)
        self.started = False
        self.counts: Counts | None = None
        self.scan: maskmath.MaskScan | None = None
        self.width = 0
        self.note = ""
        self.spatial = 0
        self.seen = 0
        self._rows: list[np.ndarray] = []
        self._rows_start = 0
        self._masks: list[tuple[int, np.ndarray, int, int]] = []
        self._masks_width = 0

    # -- dispatch -------------------------------------------------------------------------------------

    def add(self, value: Any, *, batched: bool) -> None:
        try:
            self._add(value, batched=batched)
        except BceWeightsError:
            self._flush_masks()  # a mask before this one, not yet checked, may hold the first error
            raise

    def _add(self, value: Any, *, batched: bool) -> None:
        a = _as_array(value, self.seen)
        if batched and a.ndim == 0:
            raise InputError(f"sample {self.seen}: a batched target has a batch axis; got a scalar",
                             hint="pass batched=False")
        if not self.started:
            self._first(a[None] if not batched else a, batched)
        # Small unbatched targets ([C] rows, class ids) are stacked and counted in bulk.
        if not batched and not self.spatial and a.ndim == (0 if self.index else 1):
            if not self._rows:
                self._rows_start = self.seen
            self._rows.append(a)
            self.seen += 1
            if len(self._rows) >= self.BUFFER:
                self._flush()
            return
        a = a[None] if not batched else a
        if self.index:
            self._add_index(a, self.seen)
        else:
            self._add_multi_hot(a, self.seen)
        self.seen += a.shape[0]

    def _flush(self) -> None:
        if self._rows:
            rows, self._rows = self._rows, []
            if self.index:
                self._add_index(np.stack(rows), self._rows_start)
                return
            shapes = {r.shape for r in rows}
            if len(shapes) > 1:
                first = next(i for i, r in enumerate(rows) if r.shape != rows[0].shape)
                raise InputError(f"sample {self._rows_start + first}: target with {rows[first].shape[0]} "
                                 f"classes after {rows[0].shape[0]}; every target must have the same classes")
            self._add_multi_hot(np.stack(rows), self._rows_start)

    def _first(self, a: np.ndarray, batched: bool) -> None:
        rank = a.ndim - 1  # a sample's rank
        shown = list(a.shape[1:])
        if not self.index and not self.explicit and rank in (0, 2):
            what = "a scalar" if rank == 0 else f"a 2-D target {shown}"
            raise OptionsError(
                f"{what} is ambiguous: an index mask (or class id), or one-class / [C, L] labels",
                hint="pass num_classes=C for class ids (index masks), or mode='multi-hot' for 0/1 "
                "labels; a one-class [H, W] mask is clearer as [1, H, W] "
                "(target=lambda s: s[1].unsqueeze(0))",
            )
        if self.index:
            spatial = rank
            layout = f"index targets {shown or 'scalar'}"
            names = self.class_names or [str(i) for i in range(self.num_classes or 0)]
        else:
            spatial = max(rank - 1, 0)
            c = a.shape[1] if rank else 1
            layout = f"multi-hot targets {shown or [1]}"
            if self.class_names is not None and len(self.class_names) != c:
                raise OptionsError(f"{len(self.class_names)} class names given for targets with {c} "
                                   f"classes ({shown})")
            names = self.class_names or [str(i) for i in range(c)]
        if spatial > 3:
            raise InputError(f"a target shaped {shown} has {spatial} spatial axes; at most 3 (D, H, W)")
        read_as = "index" if self.index else "multi-hot"
        if self.explicit:
            why = f"mode={read_as!r}"
        else:
            why = "num_classes was given" if self.index else "no num_classes was given"
        self.note = (f"count_dataset: {layout} ({'batched' if batched else 'per sample'}), "
                     f"read as {read_as} because {why}")
        self.started = True
        self.spatial = spatial
        self.width = len(names)
        if spatial:
            self.scan = maskmath.MaskScan()
            return
        self.counts = Counts(names, spatial_ndim=0, notes=[self.note])
        if not self.index:
            self.counts.track_cooccurrence()

    def _check_rank(self, a: np.ndarray, expected: int, start: int) -> None:
        if a.ndim - 1 != expected:
            raise InputError(
                f"sample {start}: target shaped {list(a.shape[1:])} after targets of rank {expected}; "
                "every target must have the same layout"
            )

    # -- multi-hot / channels -------------------------------------------------------------------------

    def _add_multi_hot(self, a: np.ndarray, start: int) -> None:
        if a.ndim == 1:
            a = a[:, None]
        self._check_rank(a, self.spatial + 1, start)
        if a.shape[1] != self.width:
            raise InputError(f"sample {start}: target with {a.shape[1]} classes after "
                             f"{self.width}; every target must have the same classes")
        if self.spatial:
            assert self.scan is not None
            for i, sample in enumerate(a):
                try:
                    self.scan.merge(maskmath.scan_channels(sample, self.rules, source=f"sample {start + i}"))
                except maskmath.MaskValueError as exc:
                    raise _not_a_label(start + i, exc.channel, exc.value) from None
            return
        counts = self.counts
        assert counts is not None
        floating = a.dtype.kind == "f"
        ignored = np.isnan(a) if floating else None
        if ignored is not None and not ignored.any():
            ignored = None
        for v in self.ignore:
            hit = a == v
            if hit.any():
                ignored = hit if ignored is None else ignored | hit
        if ignored is not None:
            a = np.where(ignored, 0, a)
        if a.size and (a.min() < 0 or a.max() > 1):
            bad = np.argwhere((a < 0) | (a > 1))[0]
            raise _not_a_label(start + int(bad[0]), int(bad[1]), a[tuple(bad)])
        y = a.astype(np.float64)
        if ignored is not None:
            y[ignored] = np.nan
        counts.update(y)

    # -- index masks and class ids --------------------------------------------------------------------

    def _add_index(self, a: np.ndarray, start: int) -> None:
        self._check_rank(a, self.spatial, start)
        if a.dtype.kind == "f":
            if not np.isfinite(a).all() or (a != np.round(a)).any():
                raise InputError(f"sample {start}: an index target holds non-integer values",
                                 hint="class ids must be whole numbers; multi-hot targets need no "
                                 "num_classes")
            a = a.astype(np.int64)
        if not self.spatial:
            self._add_class_ids(a.reshape(-1), start)
            return
        # One histogram per mask now; checked and added together, many masks at a time.
        for i, mask in enumerate(a):
            try:
                hist, void = maskmath.histogram(mask, self.rules.ids)
            except maskmath.MaskValueError as exc:
                raise self._not_a_class(start + i, exc.value) from None
            self._masks.append((start + i, hist, mask.size, void))
            self._masks_width += len(hist)
        if len(self._masks) >= self.MASKS or self._masks_width > self.MASKS_WIDTH:
            self._flush_masks()

    def _flush_masks(self) -> None:
        if not self._masks:
            return
        masks, self._masks, self._masks_width = self._masks, [], 0
        assert self.scan is not None
        try:
            self.scan.merge(maskmath.scan_histograms(
                maskmath.stack_histograms([m[1] for m in masks]), [m[2] for m in masks], [m[3] for m in masks],
                ndim=self.spatial, rules=self.rules, first=f"sample {masks[0][0]}"))
        except maskmath.MaskValueError as exc:
            raise self._not_a_class(masks[exc.sample][0], exc.value) from None

    def _add_class_ids(self, values: np.ndarray, start: int) -> None:
        """A batch of scalar class ids: one-vs-rest counts per class (an ignored id is a sample without
        any positive)."""
        counts = self.counts
        assert counts is not None
        if not values.size:
            return
        try:
            hist, void = maskmath.histogram(values, self.rules.ids)
        except maskmath.MaskValueError as exc:
            raise self._not_a_class(start + int(np.argmax(values == exc.value)), exc.value) from None
        for v in self.rules.ids:
            if 0 <= v < len(hist):
                void += int(hist[v])
                hist[v] = 0
        present = np.flatnonzero(hist)
        limit = self.num_classes
        if limit is not None and len(present) and present[-1] >= limit:
            value = int(present[-1])
            raise self._not_a_class(start + int(np.argmax(values == value)), value)
        if len(present) and limit is None and present[-1] >= maskmath.MAX_INDEX_CLASSES:
            value = int(present[-1])  # a stray id would make that many classes
            raise self._not_a_class(start + int(np.argmax(values == value)), value)
        if len(present) and limit is None and present[-1] >= counts.num_classes:
            counts.extend_classes(str(i) for i in range(counts.num_classes, int(present[-1]) + 1))
        k = counts.num_classes
        pos = np.zeros(k)
        pos[: min(k, len(hist))] = hist[:k]
        valid = float(pos.sum())
        counts.add(pos=pos, neg=valid - pos, ignored=np.full(k, float(void)), samples=values.size,
                   no_positive=void)

    def _not_a_class(self, sample: int, value: float) -> InputError:
        limit = self.num_classes
        if limit is None and value >= maskmath.MAX_INDEX_CLASSES:
            return InputError(f"sample {sample}: mask value {value} is too large for a class id",
                              hint="pass num_classes=C, or ignore_index=V if it marks void pixels")
        valid = f"0..{limit - 1}" if limit is not None else "0 or more"
        return InputError(
            f"sample {sample}: mask value {value} is not a class id ({valid})",
            hint="pass ignore_index=V for void pixels (255 in VOC), or the right num_classes",
        )

    def result(self) -> Counts:
        self._flush()
        self._flush_masks()
        if not self.started:
            raise InputError("the dataset yielded no target", hint="is the dataset (or the split) empty?")
        if self.scan is not None:
            counts, _ = maskmath.to_counts(self.scan, self.rules, self.class_names)
            counts.notes = [self.note]
            return counts
        assert self.counts is not None
        return self.counts


def _not_a_label(sample: int, channel: int | None, value: Any) -> InputError:
    return InputError(
        f"sample {sample}: value {format_value(value)} at class {channel} is "
        "not a label (0, 1 or a soft label in [0, 1])",
        hint="for an index mask pass num_classes=C (and ignore_index=V for void pixels); for a "
        "sentinel pass ignore_index=V",
    )


def _as_array(value: Any, index: int) -> np.ndarray:
    """A target as a NumPy array (zero-copy for CPU tensors); bool as uint8."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor, without importing torch
        t = value.detach().cpu()
        if not t.dtype.is_floating_point or t.dtype.itemsize >= 4:
            array = t.numpy()
        else:  # float16 / bfloat16: NumPy has no bfloat16
            array = t.float().numpy()
    else:
        try:
            array = np.asarray(value)
        except (TypeError, ValueError) as exc:
            raise InputError(f"sample {index}: cannot read a target of type {type(value).__name__} "
                             "as an array", hint="pass target= returning a tensor or an array") from exc
    if array.dtype == np.bool_:
        # A cast, not a view: a 1-bit PIL image's bool array holds the bytes 0 and 255.
        array = array.astype(np.uint8)
    if array.dtype.kind not in "fiu":
        raise InputError(f"sample {index}: a target of dtype {array.dtype} is not a label",
                         hint="pass target= returning the label tensor of each sample")
    return array


# ---------------------------------------------------------------------------------------------------
# The loss


def loss(
    source: Counts | Result | Weights | dict[str, Any] | str | Path,
    *,
    ndim: int | None = None,
    pos_weight: bool = True,
    class_weight: bool = False,
    reduction: Literal["mean", "sum", "none"] = "mean",
    device: str | torch.device | None = None,
    options: WeightOptions | None = None,
    **weight_options: Any,
) -> torch.nn.BCEWithLogitsLoss:
    """``torch.nn.BCEWithLogitsLoss`` with the weights of ``source``, shaped for the target.

    ``source`` is a :class:`~bceweights.Counts` (weights are computed here, with ``options`` or
    :class:`~bceweights.WeightOptions` fields as keywords, e.g. ``scheme="inverse"``), a
    :class:`~bceweights.Result`, a :class:`~bceweights.Weights`, a loaded ``.pt`` dict or the path of one.

    * ``pos_weight`` (default on): ``p_c = N_c / P_c`` multiplies the positive term of class c,
      ``ℓ = -[p_c · y · log σ(x) + (1 - y) · log(1 - σ(x))]``;
    * ``class_weight`` (off by default): ``w_c`` multiplies the whole element loss, as ``weight=``.

    Both are shaped ``[C, 1, ..., 1]`` for a channels-first target of rank ``ndim`` (2 for ``[N, C]``,
    4 for ``[N, C, H, W]``, 5 for ``[N, C, D, H, W]``); by default the rank the counts came from.

    >>> from bceweights import Counts
    >>> c = Counts(["a", "b"], pos=[600, 200], neg=[400, 800])
    >>> [round(v, 3) for v in loss(c).pos_weight.tolist()]
    [0.667, 4.0]
    >>> loss(c, ndim=4).pos_weight.shape
    torch.Size([2, 1, 1])
    """
    import torch

    from .io import load, shape_for

    if not (pos_weight or class_weight):
        raise OptionsError("loss() with neither pos_weight nor class_weight is an unweighted loss",
                           hint="use torch.nn.BCEWithLogitsLoss() directly")
    if isinstance(source, (str, Path)):
        source = load(source)
    if (weight_options or options is not None) and not isinstance(source, Counts):
        raise OptionsError("weight options apply to Counts only; these weights are computed already")
    pw, cw, spatial = _weights_of(source, options, weight_options)
    rank = 2 + spatial if ndim is None else ndim
    if rank < 2:
        raise OptionsError(f"ndim={rank}: a BCE target has at least 2 dimensions, [N, C]")

    def tensor(values: Any) -> torch.Tensor:
        out = torch.as_tensor(np.asarray(values, dtype=np.float32).reshape(-1))
        return shape_for(out, rank).to(device) if device is not None else shape_for(out, rank)

    return torch.nn.BCEWithLogitsLoss(
        weight=tensor(cw) if class_weight else None,
        pos_weight=tensor(pw) if pos_weight else None,
        reduction=reduction,
    )


def _weights_of(source: Any, options: Any, weight_options: dict[str, Any]):
    """(pos_weight, class_weight, spatial ndim) of any accepted source."""
    from .api import Result
    from .weights import WeightOptions, Weights, compute_weights

    if isinstance(source, Counts):
        opts = options or WeightOptions()
        if weight_options:
            from dataclasses import replace

            try:
                opts = replace(opts, **weight_options)
            except TypeError as exc:
                raise OptionsError(f"unknown weight option: {exc}") from None
        w = compute_weights(source, opts)
        return w.pos_weight, w.class_weight, source.spatial_ndim
    if isinstance(source, Result):
        return source.weights.pos_weight, source.weights.class_weight, source.counts.spatial_ndim
    if isinstance(source, Weights):
        return source.pos_weight, source.class_weight, 0
    if isinstance(source, dict) and "pos_weight" in source and "class_weight" in source:
        meta = source.get("meta") or {}
        spatial = (meta.get("counts") or {}).get("spatial_ndim")
        if spatial is None:
            spatial = max(source["pos_weight"].dim() - 1, 0)
        return (source["pos_weight"].reshape(-1).tolist(), source["class_weight"].reshape(-1).tolist(),
                int(spatial))
    raise OptionsError(f"cannot build a loss from {type(source).__name__}",
                       hint="pass Counts, a Result, Weights, a loaded .pt dict or its path")
