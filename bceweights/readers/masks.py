"""Segmentation masks: PNG, TIFF, ``.npy`` and NIfTI; 2-D images and 3-D volumes.

The four readers (``png``, ``tiff``, ``nifti``, ``npy-mask``) are one family: the masks of a run are
counted together, whatever their formats, because auto mode decides over the whole set. A partition is
a group of files; counting it decodes each file once and histograms it where it is decoded
(:mod:`bceweights.readers.maskfiles`), into a :class:`~bceweights.maskmath.MaskScan` that merges by
addition, so the result does not depend on ``--workers`` or the engine. :meth:`MaskReader.finish`
settles the mode and class list on the merged scan (:func:`bceweights.maskmath.to_counts`) and returns
the spec with those decisions explicit, so the checks read a sample of masks exactly as the count did.
Modes and their rules: :mod:`bceweights.maskmath`. Memory: one decoded mask per worker.

``.npy`` files are masks only when ``--mask-mode`` is given (index, binary or channels); otherwise they
are multi-hot arrays (the arrays reader).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .. import maskmath
from ..errors import BceWeightsError, InputError
from ..maskmath import MaskScan, MaskValueError, Rules
from ..spec import InputSpec
from . import maskfiles
from .base import TARGET_BUDGET, Finished, Partition, Plan, PlanHints, Progress, Reader, TargetSample

#: Files per partition on the local engine: large enough that a partition's pickling and merge are
#: noise against its decoding, small enough that the progress bar moves and the workers finish together.
GROUP_FILES = 64
#: At most this many files in one partition on Dask.
MAX_FILES = 1000
#: A full one-hot larger than this (elements per mask) is cropped before it is made, on the path the
#: loss checks take today (:func:`sample_targets`).
LEGACY_ONE_HOT = 16 * TARGET_BUDGET


class MaskReader(Reader):
    """What the four mask readers share: everything but their names, extensions and magic numbers."""

    kind = "mask"
    family = "mask"
    parallel = "process"
    unit = "files"
    progress_label = "decoding masks"
    options = frozenset({"mask_mode", "num_classes", "ignore_index", "classes_file"})

    def plan(self, files: Sequence[Path], spec: InputSpec, hints: PlanHints) -> Plan:
        """Consecutive files: about :data:`GROUP_FILES` a partition locally (fewer when that leaves a
        worker idle); on Dask up to ``hints.block`` bytes and :data:`MAX_FILES` files."""
        rules_of(spec)
        paths = [str(p) for p in files]
        if hints.split:
            groups: list[list[str]] = []
            size = 0
            for path in paths:
                if not groups or size >= hints.block or len(groups[-1]) >= MAX_FILES:
                    groups.append([])
                    size = 0
                groups[-1].append(path)
                size += _bytes(path)
        else:
            per = max(1, min(GROUP_FILES, -(-len(paths) // (max(1, hints.workers) * 4))))
            groups = [paths[i:i + per] for i in range(0, len(paths), per)]
        return Plan([Partition(self.name, tuple(g), size=len(g)) for g in groups], spec)

    def count(self, partition: Partition, spec: InputSpec, progress: Progress | None = None) -> MaskScan:
        """The merged scan of the partition's files; the first bad file (in order) is the one named."""
        scan = scan_files([Path(p) for p in partition.paths], spec)
        if progress is not None:
            progress(scan.files, **self.progress_fields(scan))
        return scan

    def progress_fields(self, partial: MaskScan) -> dict[str, float]:
        return {"pixels": partial.pixels}

    def finish(self, partial: MaskScan, spec: InputSpec) -> Finished:
        """Counts from the scan of the whole set, and the spec that reads the masks the same way without
        deciding anything: the mode, the ignore set (a void 255 that auto mode chose included) and the
        number of classes made explicit."""
        rules = rules_of(spec)
        counts, decision = maskmath.to_counts(partial, rules, class_names(spec))
        settled = spec.with_(mask_mode=decision.mode)
        added = tuple(sorted(decision.ignore - rules.ids))
        if added:
            settled = settled.with_(ignore_index=(*spec.ignore_index, *added))
        if decision.mode in ("index", "channels"):
            settled = settled.with_(num_classes=counts.num_classes)
        return Finished(counts, settled)

    def sample_targets(self, files: Sequence[Path], spec: InputSpec, *, limit: int,
                       budget: int = TARGET_BUDGET) -> TargetSample:
        """At most ``limit`` masks of one size (the commonest among the first files) as float32
        ``[N, C, *spatial]`` (one-hot from value masks, NaN where void), read with ``spec`` (the settled
        spec of :meth:`finish`; an ``auto`` spec decides on the sample). The raw masks are centre-cropped
        to about ``budget`` elements before the one-hot is made."""
        sample = _sample(files, spec, limit, _fit(budget))
        first = Path(files[0]) if files else Path("?")
        more = f" (and {len(sample.values) - 1} more)" if len(sample.values) > 1 else ""
        crop = f", centre crop {sample.cropped} of {sample.shape}" if sample.cropped else ""
        return TargetSample(sample.values, sample.names, f"{len(sample.values):,} masks from {first}{more}{crop}")


class PngReader(MaskReader):
    name = "png"
    extensions = (".png",)
    description = "PNG masks: palette (P) indices, 8- or 16-bit grayscale"

    def sniff(self, head: bytes, path: Path) -> float:
        return 1.0 if maskfiles.sniff(head) == "png" else 0.0


class TiffReader(MaskReader):
    name = "tiff"
    extensions = (".tif", ".tiff")
    description = "TIFF masks, 8/16-bit, compressed too"

    def sniff(self, head: bytes, path: Path) -> float:
        return 1.0 if maskfiles.sniff(head) == "tiff" else 0.0


class NiftiReader(MaskReader):
    name = "nifti"
    extensions = (".nii", ".nii.gz")
    description = "NIfTI label volumes"

    def sniff(self, head: bytes, path: Path) -> float:
        return 1.0 if maskfiles.is_nifti(head) else 0.0


class NpyMaskReader(MaskReader):
    """``.npy`` masks. No sniffing: a ``.npy`` is a mask only when ``--mask-mode`` says so."""

    name = "npy-mask"
    extensions = (".npy",)
    description = ".npy masks (chosen by --mask-mode)"

    def claims(self, path: Path, spec: InputSpec) -> bool:
        return spec.mask_mode != "auto"


def _bytes(path: str) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0


# ---------------------------------------------------------------------------------------- the spec


def rules_of(spec: InputSpec) -> Rules:
    """How the spec reads mask values (an unknown mode or a zero ``--num-classes`` is refused here)."""
    return Rules(spec.mask_mode, tuple(spec.ignore_index), spec.num_classes)


def class_names(spec: InputSpec) -> list[str] | None:
    """The ``--classes-file`` names, one a line (blank lines skipped), or None."""
    if spec.classes_file is None:
        return None
    path = Path(spec.classes_file)
    try:
        names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the classes file ({exc})") from None
    names = [n for n in names if n]
    if not names:
        raise InputError(f"{path}: the classes file lists no class")
    twice = sorted(n for n, k in Counter(names).items() if k > 1)
    if twice:
        raise InputError(f"{path}: the classes file names {', '.join(map(repr, twice[:5]))} more than once")
    return names


# -------------------------------------------------------------------------------------------- scan


def scan_files(paths: Sequence[Path], spec: InputSpec) -> MaskScan:
    """Decode and histogram ``paths`` in order into one scan.

    8-bit PNGs (most masks) are histogrammed by Pillow and checked together, as one ``[files, 256]``
    array, which keeps the per-file Python work to the decode (benchmarks/RESULTS.md). Whatever fails,
    the error is the one of the first bad file in order."""
    rules = rules_of(spec)
    total = MaskScan()
    pending: list[tuple[Path, maskfiles.FileHistogram]] = []
    for path in paths:
        try:
            fmt = maskfiles.mask_format(path, spec.format)
            found = maskfiles.file_histogram(path, fmt) if rules.mode != "channels" else None
            if found is not None and len(found.hist) == 256 and len(found.shape) == 2:
                pending.append((path, found))
                continue
            _flush(pending, total, rules)
            total.merge(_scan_found(path, found, rules) if found is not None else scan_file(path, fmt, rules))
        except BceWeightsError:
            _flush(pending, total, rules)  # an earlier file's error comes first
            raise
    _flush(pending, total, rules)
    return total


def _flush(pending: list[tuple[Path, maskfiles.FileHistogram]], total: MaskScan, rules: Rules) -> None:
    if not pending:
        return
    found = list(pending)
    pending.clear()
    try:
        total.merge(maskmath.scan_histograms(
            np.stack([f.hist for _, f in found]), [f.pixels for _, f in found], [f.void_other for _, f in found],
            ndim=2, rules=rules, first=str(found[0][0])))
    except MaskValueError as exc:
        raise value_error(found[exc.sample][0], exc) from None


def _scan_found(path: Path, found: maskfiles.FileHistogram, rules: Rules) -> MaskScan:
    shape = maskfiles.spatial_shape(path, found.shape, channels=False)
    try:
        return maskmath.scan_histograms(found.hist, [found.pixels], [found.void_other], ndim=len(shape),
                                        rules=rules, first=str(path))
    except MaskValueError as exc:
        raise value_error(path, exc) from None


def scan_file(path: Path, fmt: str, rules: Rules) -> MaskScan:
    """Decode one mask and histogram it (what Pillow's own histogram cannot do: 16-bit PNG, TIFF, NIfTI,
    ``.npy``, channel masks)."""
    arr = maskfiles.spatial(path, maskfiles.read_mask(path, fmt), channels=rules.mode == "channels")
    try:
        if rules.mode == "channels":
            return maskmath.scan_channels(arr, rules, source=str(path))
        hist, void_other = maskmath.histogram(arr, rules.ids, binary=rules.mode == "binary")
        return maskmath.scan_histograms(hist, [arr.size], [void_other], ndim=arr.ndim, rules=rules, first=str(path))
    except MaskValueError as exc:
        raise value_error(path, exc) from None


def value_error(path: Path, exc: MaskValueError) -> InputError:
    """A value the mask rules cannot read, said for a file."""
    v = exc.value
    if exc.reason == "negative":
        return InputError(f"{path}: negative value {v} in the mask",
                          hint=f"class ids are 0, 1, 2 ...; pass --ignore-index {v} if it marks void")
    if exc.reason == "fraction":
        return InputError(f"{path}: value {v:g} is not a class id (masks hold whole numbers)",
                          hint="soft masks in [0, 1] are read with --mask-mode channels")
    if exc.reason == "large":
        return InputError(f"{path}: value {v} is too large for a class id",
                          hint="for instance masks (one id per object) pass --mask-mode binary")
    if exc.reason == "above":
        return InputError(f"{path}: value {v} is not a class id below --num-classes {exc.limit}",
                          hint=f"pass --ignore-index {v} if it marks void pixels")
    if isinstance(v, float):
        return InputError(f"{path}: channel {exc.channel} holds {v:g}; channel masks hold values in [0, 1]")
    return InputError(f"{path}: channel {exc.channel} holds the value {v}; channel masks hold 0/1",
                      hint=f"pass --ignore-index {v} if it marks void pixels")


# ---------------------------------------------------------------------------------- sample targets


class _Sample:
    def __init__(self, values: np.ndarray, names: list[str], shape: list[int], cropped: list[int] | None):
        self.values, self.names, self.shape, self.cropped = values, names, shape, cropped


def _fit(budget: int):
    """The crop of the contract: ``n`` masks of ``c`` classes fit ``budget`` elements (fewer masks only
    when even the smallest crop of each does not fit), centred."""
    def window(spatial: list[int], c: int, n: int) -> tuple[tuple[slice, ...], int]:
        sizes = maskmath.crop_sizes(spatial, c, max(1, budget // n))
        per = max(1, c * int(np.prod(sizes)))
        return maskmath.centre(spatial, sizes), max(1, min(n, budget // per))
    return window


def _sample(files: Sequence[Path], spec: InputSpec, limit: int, window) -> _Sample:
    rules = rules_of(spec)
    channels = rules.mode == "channels"
    arrays, used = _same_size(files, spec, max(1, limit), channels)
    if channels:
        names = class_names(spec) or [str(i) for i in range(arrays[0].shape[0])]
        spatial = list(arrays[0].shape[1:])
        c = len(names)
    else:
        scan = MaskScan()
        for path, arr in zip(used, arrays):
            try:
                hist, void_other = maskmath.histogram(arr, rules.ids, binary=rules.mode == "binary")
            except MaskValueError as exc:
                raise value_error(path, exc) from None
            scan.merge(maskmath.MaskScan(files=1, pixels=arr.size, hist=hist, void_other=void_other,
                                         ndims={arr.ndim: str(path)}))
        counts, decision = maskmath.to_counts(scan, rules, class_names(spec))
        names = counts.classes
        spatial = list(arrays[0].shape)
        c = 1 if decision.mode == "binary" else len(names)
    cut, n = window(spatial, c, len(arrays))
    lead = (slice(None),) if channels else ()
    stack = np.stack([np.asarray(a[(*lead, *cut)]) for a in arrays[:n]])
    if channels:
        values = maskmath.channel_targets(stack, spec.ignore_index)
    else:
        values = maskmath.one_hot(stack, mode=decision.mode, ignore=decision.ignore, num_classes=len(names))
    sizes = list(values.shape[2:])
    return _Sample(values, names, spatial, sizes if sizes != spatial else None)


def _same_size(files: Sequence[Path], spec: InputSpec, limit: int, channels: bool) -> tuple[list, list[Path]]:
    """Up to ``limit`` decoded masks of one size: the commonest among the first files (at most
    ``max(16 * limit, 64)`` are looked at, stopping as soon as one size fills the batch), so one
    odd-sized first mask does not leave the batch with a single sample."""
    by_shape: dict[tuple[int, ...], list[tuple[Path, np.ndarray]]] = {}
    for path in map(Path, list(files)[: max(16 * limit, 64)]):
        arr = maskfiles.spatial(path, maskfiles.read_mask(path, maskfiles.mask_format(path, spec.format)),
                                channels=channels)
        group = by_shape.setdefault(arr.shape, [])
        if len(group) < limit:
            group.append((path, arr))
        if len(group) >= limit:
            break
    chosen = max(by_shape.values(), key=len, default=[])
    if not chosen:
        raise InputError("no mask to sample")
    return [a for _, a in chosen], [p for p, _ in chosen]


def sample_targets(files: Sequence[Path], spec: InputSpec, limit: int, *,
                   classes: Sequence[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """TRANSITION (the loss checks call this until they take ``Reader.sample_targets`` with the settled
    spec): at most ``limit`` masks as float32 ``[N, C, *spatial]`` and the class names.

    ``classes`` (the counted classes) settles an ``auto`` spec as the count did: ``["foreground"]`` is
    binary; other names are index masks of that many classes, where 255, when it is not one of them, can
    only have been read as void. The checks crop the batch themselves (and say so in their report), so a
    mask is cropped here only where its full one-hot would be large, and never below what they keep."""
    spec_s = spec
    if classes is not None and spec.mask_mode == "auto":
        binary = list(classes) == ["foreground"] and spec.classes_file is None and spec.num_classes is None
        spec_s = spec.with_(mask_mode="binary" if binary else "index",
                            num_classes=None if binary else len(classes))
        if not binary and len(classes) <= maskmath.VOID_VALUE and maskmath.VOID_VALUE not in spec.ignore_index:
            spec_s = spec_s.with_(ignore_index=(*spec.ignore_index, maskmath.VOID_VALUE))
    sample = _sample(files, spec_s, limit, _checks_window)
    names = list(classes) if classes is not None else sample.names
    return sample.values, names


def _checks_window(spatial: list[int], c: int, n: int) -> tuple[tuple[slice, ...], int]:
    """A crop that the checks' own centre crop (``maskmath.crop_sizes`` with :data:`TARGET_BUDGET`) cuts
    down to exactly the pixels it would cut from the whole mask, and that it still crops (so its report
    still says so): each size capped at 259 (above every cap of ``crop_sizes``), doubled until the
    one-hot exceeds the budget, placed so that the two centrings land where one would."""
    if c * int(np.prod(spatial)) <= LEGACY_ONE_HOT:
        return tuple(slice(None) for _ in spatial), n
    keep = [d in (1, c) for d in spatial]
    cap = 259
    while True:
        sizes = [d if k else min(d, cap) for d, k in zip(spatial, keep)]
        if c * int(np.prod(sizes)) > TARGET_BUDGET or sizes == spatial:
            break
        cap *= 2
    final = maskmath.crop_sizes(spatial, c, TARGET_BUDGET)
    starts = [min(max(0, (d - f) // 2 - (s - f) // 2), d - s) for d, s, f in zip(spatial, sizes, final)]
    return tuple(slice(a, a + s) for a, s in zip(starts, sizes)), n
