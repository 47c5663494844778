"""Mask arithmetic: how segmentation masks become counts, whether they come from files (the mask
readers) or from a ``Dataset`` (:func:`bceweights.count_dataset`).

A :class:`MaskScan` holds only sums over masks: per raw value, the pixels holding it, the masks holding
it and the valid pixels of those masks; per channel, the positive, negative and ignored pixels. Scans of
files, groups of files, workers and Dask partitions merge by addition, in any order, to the same
integers. What needs the whole set (the auto mode, the class list) is settled once, on the merged scan,
by :func:`to_counts`.

Modes (``--mask-mode``):

* ``index``: each pixel holds a class id; classes ``0 .. C-1`` with C = ``num_classes`` (or the number of
  class names), default the largest id seen + 1. P_c = pixels of class c, N_c = valid pixels not of
  class c; pixels whose value is ignored count as neither.
* ``binary``: any non-zero, non-ignored pixel is foreground; one class.
* ``channels``: each mask is ``[C, *spatial]`` channels of 0/1 (or soft values in [0, 1]); an ignored
  value (or NaN) in a channel counts as neither for that class.
* ``auto``: decided once over the whole set (:func:`decide`): values only {0, 255} → binary (255 is the
  foreground, as in ISBI membranes, not void); only {0, 1} → binary; class ids with 255 above a gap
  (VOC) → index with 255 void; otherwise index. Auto never picks ``channels``.

Per class, ``image_pixels`` (for ``median-frequency``) is the sum of the valid pixels of the masks that
contain the class. Auto mode may decide after the scan that 255 is void, which removes the 255 pixels
from every mask's valid pixels: the scan therefore also keeps, per value, the 255 pixels of the masks
holding that value (``void_images``), and :func:`to_counts` takes them off.

Nothing here opens a file or knows a flag's spelling for a value error: a value that cannot be read
raises :class:`MaskValueError`, which the caller words for its user (a file and ``--ignore-index`` for
the readers, a sample number and ``ignore_index=`` for ``count_dataset``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .counts import Counts
from .errors import InputError, OptionsError

MODES = ("auto", "index", "binary", "channels")
#: Above this many classes, auto mode stops: such ids are object instances, not classes.
MAX_AUTO_CLASSES = 1024
#: Values above this are not histogrammed densely (a class id this large is a mistake).
MAX_DENSE_VALUE = 1 << 20
#: ``index`` mode without a number of classes reads ids below this: one stray id (a void 65535, an
#: instance id) would otherwise make that many classes, each with a weight, silently. ImageNet-21k's
#: 21,841 classes fit; more need ``num_classes``.
MAX_INDEX_CLASSES = 1 << 15
#: Where VOC-style void sits: an id this high, above a gap, is read as void in auto mode.
VOID_VALUE = 255
#: Elements per ``np.bincount`` call. bincount casts its input to int64: on a whole CT volume that is a
#: copy 8x the volume's size, and 5x slower than counting it in cache-sized slices.
BINCOUNT_CHUNK = 1 << 22


class MaskValueError(Exception):
    """A mask value the rules cannot read: ``reason`` is ``negative`` (below 0, not ignored),
    ``fraction`` (not a whole number), ``large`` (above :data:`MAX_DENSE_VALUE`), ``above`` (at or above
    ``limit``, the number of classes), ``many`` (at or above ``limit`` = :data:`MAX_INDEX_CLASSES` in
    index mode without a number of classes) or ``channel`` (a channel value outside 0/1, or [0, 1] for
    floats).
    ``sample`` is the mask's position in a stacked batch, ``channel`` the channel it was found in.

    Not a user error by itself: the caller knows what it read (a file, a Dataset sample) and words it."""

    def __init__(self, reason: str, value: float, *, sample: int = 0, channel: int | None = None,
                 limit: int | None = None) -> None:
        super().__init__(f"{reason} value {value}")
        self.reason, self.value, self.sample, self.channel, self.limit = reason, value, sample, channel, limit


@dataclass(frozen=True)
class Rules:
    """How mask values are read: the ``mode`` (one of :data:`MODES`), the ``ignore`` values (void) and
    the number of classes when it is fixed."""

    mode: str = "auto"
    ignore: tuple[float, ...] = ()
    num_classes: int | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise OptionsError(f"--mask-mode {self.mode!r}: choose one of {', '.join(MODES)}")
        if self.num_classes is not None and self.num_classes < 1:
            raise OptionsError(f"--num-classes {self.num_classes}: give 1 or more")

    @property
    def ids(self) -> frozenset[int]:
        """The ignore values that can be class ids (whole numbers)."""
        return frozenset(int(v) for v in self.ignore if float(v).is_integer())


# ---------------------------------------------------------------------------------------------- scan


def _zeros(n: int = 0) -> np.ndarray:
    return np.zeros(n, dtype=np.int64)


def _add_padded(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) < len(b):
        a = np.concatenate([a, _zeros(len(b) - len(a))])
    out = a.copy()
    out[: len(b)] += b
    return out


def _add(a: np.ndarray | None, b: np.ndarray) -> np.ndarray:
    return b.copy() if a is None else a + b


@dataclass
class MaskScan:
    """Additive raw statistics of a set of masks (add another with :meth:`merge`).

    Value modes (index, binary, auto), per raw value v: ``hist[v]`` pixels holding v, ``images[v]``
    masks holding v, ``image_pixels[v]`` the valid pixels of those masks (valid under the ignore set of
    the scan), ``void_images[v]`` their pixels of value :data:`VOID_VALUE`. Channels mode, per channel:
    ``ch_pos``, ``ch_neg``, ``ch_ign``, ``ch_soft`` (values strictly between 0 and 1), ``ch_images``
    (masks with a positive) and ``ch_image_pixels`` (their valid pixels of that channel).
    """

    files: int = 0
    pixels: int = 0
    hist: np.ndarray = field(default_factory=_zeros)
    images: np.ndarray = field(default_factory=_zeros)
    image_pixels: np.ndarray = field(default_factory=_zeros)
    void_images: np.ndarray = field(default_factory=_zeros)
    #: void pixels that are not in ``hist`` (negative ignore values, NaN in float masks)
    void_other: int = 0
    #: masks with a non-zero, non-ignored pixel (binary foreground), and their valid pixels
    fg_files: int = 0
    fg_pixels: int = 0
    #: masks with no valid pixel at all
    empty_files: int = 0
    #: masks whose valid pixels are all 255 (they become empty when auto mode reads 255 as void)
    only_void_files: int = 0
    #: spatial ndim → the first mask with it (to name both when a set mixes 2-D and 3-D)
    ndims: dict[int, str] = field(default_factory=dict)
    ch_pos: np.ndarray | None = None
    ch_neg: np.ndarray | None = None
    ch_ign: np.ndarray | None = None
    ch_soft: np.ndarray | None = None
    ch_images: np.ndarray | None = None
    ch_image_pixels: np.ndarray | None = None
    ch_no_positive: int = 0
    ch_source: str = ""
    #: the first mask whose channels differ from those before it, said as an error by :func:`to_counts`
    ch_conflict: str | None = None

    def merge(self, other: MaskScan) -> MaskScan:
        self.files += other.files
        self.pixels += other.pixels
        for name in ("hist", "images", "image_pixels", "void_images"):
            setattr(self, name, _add_padded(getattr(self, name), getattr(other, name)))
        for name in ("void_other", "fg_files", "fg_pixels", "empty_files", "only_void_files", "ch_no_positive"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for ndim, source in other.ndims.items():
            self.ndims.setdefault(ndim, source)
        if self.ch_conflict is None:
            self.ch_conflict = other.ch_conflict
        if other.ch_pos is not None:
            if self.ch_pos is not None and len(self.ch_pos) != len(other.ch_pos):
                # Said by to_counts: a merge only adds, so no engine is left holding a half-read set.
                self.ch_conflict = self.ch_conflict or (
                    f"{other.ch_source}: {len(other.ch_pos)} channels, but {self.ch_source} has "
                    f"{len(self.ch_pos)}; every mask needs the same channels")
                return self
            if self.ch_pos is None:
                self.ch_source = other.ch_source
            for name in ("ch_pos", "ch_neg", "ch_ign", "ch_soft", "ch_images", "ch_image_pixels"):
                setattr(self, name, _add(getattr(self, name), getattr(other, name)))
        return self


def histogram(values: np.ndarray, ignore: frozenset[int], *, binary: bool = False) -> tuple[np.ndarray, int]:
    """(``bincount`` of the non-negative values, the void pixels not in it: NaN and ignored values that
    are negative or too large for a dense histogram) of one mask, in any memory order.

    Raises :class:`MaskValueError` on a value that cannot be a class id. ``binary`` folds every value
    above :data:`MAX_DENSE_VALUE` into 1 (instance ids: only zero / ignored / other matters)."""
    arr = np.asarray(values)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)  # not a view: a bool array from Pillow may hold the byte 255
    extra = 0
    if arr.dtype.kind == "f":
        nan = np.isnan(arr)
        n_nan = int(np.count_nonzero(nan))
        if n_nan:
            extra += n_nan
            arr = arr[~nan]
        whole = np.isfinite(arr) & (arr == np.floor(arr))  # inf == floor(inf)
        if not whole.all():
            raise MaskValueError("fraction", float(arr[~whole].flat[0]))
        arr = arr.astype(np.int64)
    if arr.dtype.kind == "i" and arr.size and arr.min() < 0:
        below = arr < 0
        found, counts = np.unique(arr[below], return_counts=True)
        unknown = [int(v) for v in found if int(v) not in ignore]
        if unknown:
            raise MaskValueError("negative", unknown[0])
        extra += int(counts.sum())
        arr = arr[~below]
    flat = arr.reshape(-1, order="A")  # a view for C- and Fortran-ordered (NIfTI) arrays alike
    if flat.size and flat.dtype.itemsize > 2 and int(flat.max()) > MAX_DENSE_VALUE:
        flat, void = _large_values(flat, ignore, binary)
        extra += void
    if flat.dtype.kind == "u" and flat.dtype.itemsize > 4:
        flat = flat.astype(np.int64)
    return _chunked_bincount(flat), extra


def _large_values(flat: np.ndarray, ignore: frozenset[int], binary: bool) -> tuple[np.ndarray, int]:
    """Values above :data:`MAX_DENSE_VALUE`: void when ignored, folded into 1 for binary masks, else an
    error (before a histogram that large is allocated)."""
    large_ignored = [v for v in ignore if v > MAX_DENSE_VALUE]
    void = 0
    if large_ignored:
        hit = np.isin(flat, large_ignored)
        void = int(np.count_nonzero(hit))
        flat = flat[~hit]
    if not flat.size or int(flat.max()) <= MAX_DENSE_VALUE:
        return flat, void
    if not binary:
        raise MaskValueError("large", int(flat.max()))
    keep = np.isin(flat, [0, *[v for v in ignore if 0 <= v <= MAX_DENSE_VALUE]])
    return np.where(keep, flat, 1), void


def _chunked_bincount(flat: np.ndarray) -> np.ndarray:
    minlength = 256 if flat.dtype.itemsize == 1 else 0
    if flat.size <= BINCOUNT_CHUNK:
        return np.bincount(flat, minlength=minlength).astype(np.int64, copy=False)
    # One pass for the length, so every slice's counts add into the same array.
    length = max(minlength, int(flat.max()) + 1)
    hist = np.zeros(length, dtype=np.int64)
    for start in range(0, flat.size, BINCOUNT_CHUNK):
        hist += np.bincount(flat[start:start + BINCOUNT_CHUNK], minlength=length)
    return hist


def stack_histograms(hists: Sequence[np.ndarray]) -> np.ndarray:
    """``[n, K]`` from histograms of different lengths (zero-padded)."""
    width = max((len(h) for h in hists), default=0)
    out = np.zeros((len(hists), width), dtype=np.int64)
    for i, h in enumerate(hists):
        out[i, : len(h)] = h
    return out


def scan_histograms(hists: np.ndarray, pixels: Sequence[int] | np.ndarray, void_other: Sequence[int] | np.ndarray,
                    *, ndim: int, rules: Rules, first: str) -> MaskScan:
    """The merged scan of ``n`` value masks of one spatial rank from their ``[n, K]`` histograms (see
    :func:`histogram`), their pixels and their void pixels outside the histogram. ``first`` names the
    first mask (for the error on a set that mixes 2-D and 3-D masks).

    The masks are checked together: the first one (in order) holding a value at or above
    ``rules.num_classes`` raises :class:`MaskValueError` with its position (index and auto modes); in
    index mode without a number of classes, one at or above :data:`MAX_INDEX_CLASSES` (``many``)."""
    hists = np.asarray(hists, dtype=np.int64)
    if hists.ndim == 1:
        hists = hists[None]
    n, width = hists.shape
    pixels = np.asarray(pixels, dtype=np.int64)
    void_other = np.asarray(void_other, dtype=np.int64)
    ignored = sorted(v for v in rules.ids if 0 <= v < width)
    present = hists > 0
    valid_present = present.copy()
    valid_present[:, ignored] = False
    valid = pixels - void_other - hists[:, ignored].sum(axis=1)
    limit, reason = rules.num_classes, "above"
    if limit is None and rules.mode == "index":
        limit, reason = MAX_INDEX_CLASSES, "many"
    if limit is not None and rules.mode in ("index", "auto") and limit < width:
        above = valid_present[:, limit:].any(axis=1)
        if above.any():
            i = int(np.argmax(above))
            raise MaskValueError(reason, int(np.flatnonzero(valid_present[i])[-1]), sample=i, limit=limit)
    kinds = valid_present.sum(axis=1)
    foreground = valid_present[:, 1:].any(axis=1)
    holds = present.astype(np.int64)
    void = hists[:, VOID_VALUE] if width > VOID_VALUE else np.zeros(n, dtype=np.int64)
    only_void = (valid_present[:, VOID_VALUE] & (kinds == 1)) if width > VOID_VALUE else np.zeros(n, bool)
    return MaskScan(
        files=n, pixels=int(pixels.sum()), hist=hists.sum(axis=0), images=holds.sum(axis=0),
        image_pixels=valid @ holds, void_images=void @ holds, void_other=int(void_other.sum()),
        fg_files=int(foreground.sum()), fg_pixels=int(valid[foreground].sum()),
        empty_files=int((kinds == 0).sum()), only_void_files=int(only_void.sum()), ndims={ndim: first},
    )


def scan_channels(arr: np.ndarray, rules: Rules, *, source: str) -> MaskScan:
    """The scan of one channel mask ``[C, *spatial]``: 0/1 integers (or bool), or floats in [0, 1]
    (soft), with NaN and the ignore values void. Raises :class:`MaskValueError` (with ``channel``) on
    another value."""
    c = arr.shape[0]
    spatial = int(np.prod(arr.shape[1:]))
    pos, neg, ign, soft = np.zeros(c), np.zeros(c), np.zeros(c), np.zeros(c)
    ids = rules.ids
    for k in range(c):
        ch = np.asarray(arr[k])
        try:
            if ch.dtype.kind == "f":
                pos[k], neg[k], ign[k], soft[k] = _float_channel(ch, rules.ignore)
            else:
                pos[k], neg[k], ign[k] = _integer_channel(ch, ids)
        except MaskValueError as exc:
            exc.channel = k
            raise
    images = (pos > 0).astype(np.int64)
    return MaskScan(files=1, pixels=spatial, ndims={arr.ndim - 1: source}, ch_pos=pos, ch_neg=neg, ch_ign=ign,
                    ch_soft=soft, ch_images=images, ch_image_pixels=((spatial - ign) * images).astype(np.int64),
                    ch_no_positive=int(not images.any()), ch_source=source)


def _float_channel(ch: np.ndarray, ignore: tuple[float, ...]) -> tuple[float, float, float, float]:
    void = np.isnan(ch)
    if ignore:
        void |= np.isin(ch, [float(v) for v in ignore])
    y = ch[~void] if void.any() else ch.reshape(-1)
    if y.size and (y.min() < 0 or y.max() > 1):
        raise MaskValueError("channel", float(y[(y < 0) | (y > 1)].flat[0]))
    p = float(y.sum(dtype=np.float64))
    return p, y.size - p, float(np.count_nonzero(void)), float(np.count_nonzero((y > 0) & (y < 1)))


def _integer_channel(ch: np.ndarray, ids: frozenset[int]) -> tuple[float, float, float]:
    try:
        hist, void = histogram(ch, ids)
    except MaskValueError as exc:
        if exc.reason != "large":
            raise
        raise MaskValueError("channel", exc.value) from None
    void += sum(int(hist[v]) for v in ids if 0 <= v < len(hist))
    other = [v for v in np.flatnonzero(hist) if v > 1 and v not in ids]
    if other:
        flat = ch.reshape(-1, order="A")
        bad = (flat > 1) & ~np.isin(flat, list(ids))
        raise MaskValueError("channel", int(flat[np.flatnonzero(bad)[0]]))
    return (float(hist[1]) if len(hist) > 1 and 1 not in ids else 0.0,
            float(hist[0]) if len(hist) and 0 not in ids else 0.0, float(void))


# -------------------------------------------------------------------------------- scan → counts


@dataclass(frozen=True)
class Decision:
    """What :func:`decide` settled: the mode, the full ignore set (an auto-decided void 255 included)
    and the notes saying why."""

    mode: str
    ignore: frozenset[int]
    notes: tuple[str, ...]


def _fmt_values(values: Sequence[int]) -> str:
    return ", ".join(str(int(v)) for v in values)


def decide(scan: MaskScan, rules: Rules, *, names: bool = False) -> Decision:
    """The mode and ignore set: the explicit mode, or auto's choice over the whole set. ``names``: class
    names were given (``--classes-file``), which makes auto read class ids."""
    ignore = rules.ids
    if rules.mode != "auto":
        return Decision(rules.mode, ignore, (f"mask mode: {rules.mode} (--mask-mode {rules.mode})",))
    vs = {int(v) for v in np.flatnonzero(scan.hist)} - ignore
    if rules.num_classes is not None or names:
        why = "--num-classes" if rules.num_classes is not None else "--classes-file"
        return Decision("index", ignore, (f"mask mode: index (auto), because {why} is given",))
    if vs <= {0, VOID_VALUE} and VOID_VALUE in vs:
        return Decision("binary", ignore, (
            "mask mode: binary (auto), because the masks hold only the values 0 and 255: 255 is read as "
            "the foreground, not as void (pass --ignore-index 255 if it marks void pixels)",))
    if vs <= {0, 1}:
        why = "only the values 0 and 1" if 1 in vs else "only zeros (no foreground anywhere)"
        return Decision("binary", ignore, (
            f"mask mode: binary (auto), because the masks hold {why} "
            "(pass --mask-mode index to count the background as a class too)",))
    below = vs - {VOID_VALUE}
    if VOID_VALUE in vs and below and max(below) < VOID_VALUE // 2:
        return Decision("index", ignore | {VOID_VALUE}, (
            f"mask mode: index (auto), because the values are class ids 0..{max(below)}; 255 is read as "
            "void (ignored, the Pascal VOC convention) since no other id comes near it (pass "
            "--ignore-index 255 to say so, or --mask-mode index to count 255 as a class)",))
    top = max(vs) if vs else 0
    if top + 1 > MAX_AUTO_CLASSES:
        raise InputError(
            f"the masks hold values up to {top}: too many for class ids (auto mode stops at "
            f"{MAX_AUTO_CLASSES} classes)",
            hint="for instance masks pass --mask-mode binary; for class ids pass --mask-mode index "
            "(and --ignore-index for void values)",
        )
    notes = [f"mask mode: index (auto), because the values are class ids 0..{top} "
             f"({top + 1} classes: the largest id + 1; pass --num-classes to fix the number)"]
    gaps = sorted(set(range(top + 1)) - vs)
    if gaps:
        shown = _fmt_values(gaps[:10]) + (" ..." if len(gaps) > 10 else "")
        notes.append(f"class ids never seen: {shown} (if the values are object instances rather than "
                     "classes, pass --mask-mode binary)")
    return Decision("index", ignore, tuple(notes))


def to_counts(scan: MaskScan, rules: Rules, names: Sequence[str] | None = None) -> tuple[Counts, Decision]:
    """Counts (with the notes on how they were read) from the merged scan of a whole mask set, and the
    decision they were read with."""
    if scan.files == 0:
        raise InputError("no mask to count")
    if len(scan.ndims) > 1:
        (d1, p1), (d2, p2) = sorted(scan.ndims.items())[:2]
        raise InputError(f"the inputs mix {d1}-D masks ({p1}) and {d2}-D masks ({p2}); count one kind at a time")
    ndim = next(iter(scan.ndims))
    names = None if names is None else list(names)
    if rules.mode == "channels":
        return _channel_counts(scan, rules, ndim, names), Decision("channels", rules.ids, ())
    decision = decide(scan, rules, names=names is not None)
    ignore, notes = decision.ignore, list(decision.notes)
    hist = scan.hist
    void = scan.void_other + int(sum(int(hist[v]) for v in ignore if 0 <= v < len(hist)))
    valid = scan.pixels - void
    if void:
        values: list = [v for v in sorted(ignore) if 0 <= v < len(hist) and hist[v]]
        if scan.void_other:  # not in the histogram: negative or large ignore values, or NaN in float masks
            values += [v for v in sorted(ignore) if v < 0 or v > MAX_DENSE_VALUE] or ["NaN"]
        notes.append(f"ignored pixels: {void:,} with value {', '.join(map(str, values))}, counted as "
                     "neither positive nor negative")
    if decision.mode == "binary":
        classes = names or ["foreground"]
        if len(classes) != 1:
            raise OptionsError(f"--classes-file names {len(classes)} classes, but binary masks have one")
        zeros = int(hist[0]) if len(hist) and 0 not in ignore else 0
        counts = Counts(classes, pos=[valid - zeros], neg=[zeros], ignored=[void], samples=scan.files,
                        pixels=scan.pixels, spatial_ndim=ndim, image_count=[scan.fg_files],
                        image_pixels=[scan.fg_pixels], no_positive=scan.files - scan.fg_files, notes=notes)
        return counts, decision
    present = [v for v in np.flatnonzero(hist) if int(v) not in ignore]
    seen = int(present[-1]) + 1 if present else 0
    c = rules.num_classes or (len(names) if names else seen)
    if names is not None and len(names) != c:
        raise OptionsError(f"--classes-file names {len(names)} classes but --num-classes is {c}")
    if c == 0:
        raise InputError("every pixel of every mask is ignored: nothing to count")
    if seen > c:
        raise InputError(f"the masks hold the class id {seen - 1}, but there are {c} classes",
                         hint=f"pass --ignore-index {seen - 1} if it marks void pixels, or a larger --num-classes")
    pos, images, image_pixels = (_first(a, c) for a in (hist, scan.images, scan.image_pixels))
    voided = VOID_VALUE in ignore - rules.ids  # decided after the scan: its pixels were counted as valid
    if voided:
        image_pixels -= _first(scan.void_images, c)
    for v in ignore:
        if 0 <= v < c:
            pos[v] = images[v] = image_pixels[v] = 0
    empty = scan.empty_files + (scan.only_void_files if voided else 0)
    counts = Counts(names or [str(i) for i in range(c)], pos=pos, neg=valid - pos, ignored=np.full(c, float(void)),
                    samples=scan.files, pixels=scan.pixels, spatial_ndim=ndim, image_count=images,
                    image_pixels=image_pixels, no_positive=empty, notes=notes)
    return counts, decision


def _first(values: np.ndarray, c: int) -> np.ndarray:
    out = np.zeros(c, dtype=np.int64)
    out[: min(c, len(values))] = values[:c]
    return out


def _channel_counts(scan: MaskScan, rules: Rules, ndim: int, names: list[str] | None) -> Counts:
    if scan.ch_conflict is not None:
        raise InputError(scan.ch_conflict)
    if scan.ch_pos is None:
        raise InputError("no channel mask to count")
    c = len(scan.ch_pos)
    if rules.num_classes is not None and rules.num_classes != c:
        raise OptionsError(f"--num-classes {rules.num_classes}, but the masks have {c} channels")
    if names is not None and len(names) != c:
        raise OptionsError(f"--classes-file names {len(names)} classes, but the masks have {c} channels")
    notes = ["mask mode: channels (--mask-mode channels): channel c of each mask is class c"]
    if scan.ch_ign.any():
        notes.append(f"ignored pixels: {int(scan.ch_ign.sum()):,} channel values (void or NaN), "
                     "counted as neither positive nor negative")
    return Counts(names or [str(i) for i in range(c)], pos=scan.ch_pos, neg=scan.ch_neg, ignored=scan.ch_ign,
                  soft=scan.ch_soft, samples=scan.files, pixels=scan.pixels, spatial_ndim=ndim,
                  image_count=scan.ch_images, image_pixels=scan.ch_image_pixels, no_positive=scan.ch_no_positive,
                  notes=notes)


# ---------------------------------------------------------------------------------- target batches


def crop_sizes(spatial: Sequence[int], num_classes: int, budget: int) -> list[int]:
    """The spatial sizes of a centre crop whose one-hot (``num_classes`` x the sizes) fits ``budget``
    elements: every size as it is when it fits, else each capped at 256, 128 ... 2, keeping the sizes
    that are 1 or equal to C (they decide how a weight broadcasts) while it can."""
    c = max(1, num_classes)
    spatial = list(spatial)
    if c * int(np.prod(spatial or [1])) <= budget:
        return spatial
    for cap in (256, 128, 64, 32, 16, 4, 2):
        cap = cap + 1 if cap == c else cap
        sizes = [d if d in (1, c) else min(d, cap) for d in spatial]
        if c * int(np.prod(sizes)) <= budget:
            return sizes
    return [min(d, 2) for d in spatial]


def centre(spatial: Sequence[int], sizes: Sequence[int]) -> tuple[slice, ...]:
    """The slices of a centre crop of ``sizes`` out of ``spatial``."""
    return tuple(slice((d - s) // 2, (d - s) // 2 + s) for d, s in zip(spatial, sizes))


def one_hot(stack: np.ndarray, *, mode: str, ignore: frozenset[int], num_classes: int) -> np.ndarray:
    """Float32 ``[N, C, *spatial]`` targets from ``[N, *spatial]`` value masks (``binary``: one channel,
    any non-zero value; ``index``: channel k where the value is k), NaN where a pixel is void (an
    ignored value, NaN). Crop the masks before: this holds C floats per pixel."""
    stack = np.asarray(stack)
    if stack.dtype.kind == "f":
        void = np.isnan(stack)
        stack = np.where(void, 0, stack).astype(np.int64)
    else:
        void = np.zeros(stack.shape, dtype=bool)
    if ignore:
        void |= np.isin(stack, list(ignore))
    if mode == "binary":
        out = (stack != 0).astype(np.float32)[:, None]
    else:
        out = np.zeros((stack.shape[0], num_classes, *stack.shape[1:]), dtype=np.float32)
        for k in range(num_classes):
            out[:, k] = stack == k
    out[np.broadcast_to(void[:, None], out.shape)] = np.nan
    return out


def channel_targets(stack: np.ndarray, ignore: Sequence[float]) -> np.ndarray:
    """Float32 ``[N, C, *spatial]`` targets from channel masks, NaN where a value is ignored."""
    batch = np.asarray(stack).astype(np.float32)
    for v in ignore:
        batch[batch == v] = np.nan
    return batch
