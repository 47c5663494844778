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

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import maskmath
from ..classnames import read_classes_file
from ..errors import BceWeightsError, InputError, OptionsError
from ..locations import as_path, size
from ..maskmath import MaskScan, MaskValueError, Rules
from ..spec import InputSpec
from . import maskfiles
from .base import TARGET_BUDGET, Finished, LabelBatch, Partition, Plan, PlanHints, Progress, Reader, TargetSample

#: Files per partition on the local engine: large enough that a partition's pickling and merge are
#: noise against its decoding, small enough that the progress bar moves and the workers finish together.
GROUP_FILES = 64
#: At most this many files in one partition on Dask.
MAX_FILES = 1000


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
        scan = scan_files([as_path(p) for p in partition.paths], spec)
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

    def rows(self, path: Path, spec: InputSpec, *, classes: Sequence[str] | None = None,
             id_column: str | None = None) -> Iterator[LabelBatch]:
        """Masks label pixels, not samples: there is no row to weigh."""
        raise OptionsError(f"{path}: per-sample weights need labels given row by row (tables, arrays); "
                           "a mask labels pixels, so it has no row to weigh")

    def sample_targets(self, files: Sequence[Path], spec: InputSpec, *, limit: int,
                       budget: int = TARGET_BUDGET) -> TargetSample:
        """At most ``limit`` masks of one size (the commonest among the first files) as float32
        ``[N, C, *spatial]`` (one-hot from value masks, NaN where void), read with ``spec`` (the settled
        spec of :meth:`finish`; an ``auto`` spec decides on the sample). The raw masks are centre-cropped
        to about ``budget`` elements before the one-hot is made."""
        sample = _sample(files, spec, limit, budget)
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
        # .npy files are multi-hot arrays unless --mask-mode (or --format npy-mask) says masks.
        return spec.mask_mode != "auto" or (spec.format or "").lower() == self.name


def _bytes(path: str) -> int:
    try:
        return size(path)
    except OSError:
        return 0


# ---------------------------------------------------------------------------------------- the spec


def rules_of(spec: InputSpec) -> Rules:
    """How the spec reads mask values (an unknown mode or a zero ``--num-classes`` is refused here)."""
    return Rules(spec.mask_mode, tuple(spec.ignore_index), spec.num_classes)


def class_names(spec: InputSpec) -> list[str] | None:
    """The ``--classes-file`` names, or None."""
    return None if spec.classes_file is None else read_classes_file(spec.classes_file)


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
            found = None
            if rules.mode != "channels":
                try:
                    found = maskfiles.file_histogram(path, fmt, rules.ids, binary=rules.mode == "binary")
                except MaskValueError as exc:
                    raise value_error(path, exc) from None
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
    if exc.reason == "many":
        return InputError(f"{path}: value {v} would make {v + 1:,} classes (--mask-mode index without "
                          f"--num-classes reads ids below {exc.limit:,})",
                          hint=f"pass --ignore-index {v} if it marks void pixels, --num-classes if there are "
                          "that many classes, or --mask-mode binary for instance masks")
    if isinstance(v, float):
        return InputError(f"{path}: channel {exc.channel} holds {v:g}; channel masks hold values in [0, 1]")
    return InputError(f"{path}: channel {exc.channel} holds the value {v}; channel masks hold 0/1",
                      hint=f"pass --ignore-index {v} if it marks void pixels")


# ---------------------------------------------------------------------------------- sample targets


@dataclass
class _Sample:
    values: np.ndarray
    names: list[str]
    shape: list[int]
    cropped: list[int] | None


def _sample(files: Sequence[Path], spec: InputSpec, limit: int, budget: int) -> _Sample:
    """Up to ``limit`` masks as targets of about ``budget`` elements: the raw masks are centre-cropped
    before the one-hot (C floats per pixel) is made; fewer masks only when even the smallest crop of
    each does not fit."""
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
                scan.merge(maskmath.scan_histograms(hist, [arr.size], [void_other], ndim=arr.ndim, rules=rules,
                                                    first=str(path)))
            except MaskValueError as exc:
                raise value_error(path, exc) from None
        counts, decision = maskmath.to_counts(scan, rules, class_names(spec))
        names = counts.classes
        spatial = list(arrays[0].shape)
        c = 1 if decision.mode == "binary" else len(names)
    sizes = maskmath.crop_sizes(spatial, c, max(1, budget // len(arrays)))
    n = max(1, min(len(arrays), budget // max(1, c * int(np.prod(sizes)))))
    cut = ((slice(None),) if channels else ()) + maskmath.centre(spatial, sizes)
    stack = np.stack([np.asarray(a[cut]) for a in arrays[:n]])
    if channels:
        values = maskmath.channel_targets(stack, spec.ignore_index)
    else:
        values = maskmath.one_hot(stack, mode=decision.mode, ignore=decision.ignore, num_classes=len(names))
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
