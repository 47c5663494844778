"""Segmentation masks: PNG, TIFF, ``.npy`` and NIfTI; 2-D images and 3-D volumes, decoded in worker processes.

Modes (``--mask-mode``):

* ``index``: each pixel holds a class id; classes ``0 .. C-1`` with C = ``--num-classes`` (or the
  number of ``--classes-file`` names), default the largest id seen + 1. P_c = pixels of class c,
  N_c = valid pixels not of class c; pixels whose value is an ``--ignore-index`` count as neither.
* ``binary``: any non-zero, non-ignored pixel is foreground; one class.
* ``channels``: each file holds ``[C, H, W]`` (or ``[C, D, H, W]``) channels of 0/1 (or soft values
  in [0, 1]); an ``--ignore-index`` value (or NaN) in a channel counts as neither for that class.
* ``auto`` (default): decided once, over the whole mask set, and recorded in ``Counts.notes``:
  values only {0, 255} → binary (255 is the foreground, as in ISBI membranes, not void); only {0, 1} →
  binary; class ids with 255 above a gap (VOC) → index with 255 void; otherwise index. Auto never picks
  ``channels``.

PNG palette ("P") images are read as their indices, never as colours; 8- and 16-bit PNG and TIFF
(compressed too) are histogrammed in their own dtype. A float mask must hold whole numbers (NaN is void).

Counting: each file is decoded once and histogrammed where it is decoded (``np.bincount`` of its raw
values). A :class:`MaskScan` holds only such histograms, so scans of files and workers merge by
addition, in any order, to the same integers: the result does not depend on ``--workers``. The mode and
class list are settled after the scan by :func:`scan_to_counts`. Memory is one decoded mask per worker.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..counts import Counts
from ..errors import BceWeightsError, InputError, OptionsError, reader_boundary, require
from ..spec import InputSpec

MASK_EXTENSIONS = (".png", ".tif", ".tiff", ".npy", ".nii", ".nii.gz")
MODES = ("auto", "index", "binary", "channels")
#: Above this many classes, auto mode stops: such ids are object instances, not classes.
MAX_AUTO_CLASSES = 1024
#: Values above this are not histogrammed densely (a class id this large is a mistake).
MAX_DENSE_VALUE = 1 << 20
#: Where VOC-style void sits: an id this high, above a gap, is read as void in auto mode.
VOID_VALUE = 255

Progress = Callable[..., None]


# ---------------------------------------------------------------------------------------------- scan


def _zeros(n: int = 0, dtype=np.int64) -> np.ndarray:
    return np.zeros(n, dtype=dtype)


def _add_padded(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) < len(b):
        a = np.concatenate([a, _zeros(len(b) - len(a), a.dtype)])
    out = a.copy()
    out[: len(b)] += b
    return out


@dataclass
class MaskScan:
    """Additive raw statistics of a set of masks (merge with :meth:`merge`).

    Value modes (index, binary, auto): ``hist[v]`` pixels holding value v, ``images[v]`` masks holding
    v at least once. Channels mode: per-class ``ch_pos``, ``ch_neg``, ``ch_ign``, ``ch_images``.
    """

    files: int = 0
    pixels: int = 0
    hist: np.ndarray = field(default_factory=_zeros)
    images: np.ndarray = field(default_factory=_zeros)
    #: void pixels that are not in ``hist`` (negative ignore values, NaN in float masks)
    void_other: int = 0
    #: masks with a non-zero, non-ignored pixel (binary foreground)
    fg_files: int = 0
    #: masks with no valid pixel at all
    empty_files: int = 0
    #: masks whose valid pixels are all 255 (they become empty when auto mode reads 255 as void)
    only_void_files: int = 0
    #: spatial ndim → the first mask with it (to name both when a set mixes 2-D and 3-D)
    ndims: dict[int, str] = field(default_factory=dict)
    ch_pos: np.ndarray | None = None
    ch_neg: np.ndarray | None = None
    ch_ign: np.ndarray | None = None
    ch_images: np.ndarray | None = None
    ch_no_positive: int = 0
    ch_source: str = ""

    def merge(self, other: MaskScan) -> MaskScan:
        self.files += other.files
        self.pixels += other.pixels
        self.hist = _add_padded(self.hist, other.hist)
        self.images = _add_padded(self.images, other.images)
        self.void_other += other.void_other
        self.fg_files += other.fg_files
        self.empty_files += other.empty_files
        self.only_void_files += other.only_void_files
        for ndim, path in other.ndims.items():
            self.ndims.setdefault(ndim, path)
        if other.ch_pos is not None:
            if self.ch_pos is None:
                self.ch_pos, self.ch_neg = other.ch_pos.copy(), other.ch_neg.copy()
                self.ch_ign, self.ch_images = other.ch_ign.copy(), other.ch_images.copy()
                self.ch_source = other.ch_source
            elif len(self.ch_pos) != len(other.ch_pos):
                raise InputError(
                    f"{other.ch_source}: {len(other.ch_pos)} channels, but {self.ch_source} has "
                    f"{len(self.ch_pos)}; every mask needs the same channels"
                )
            else:
                self.ch_pos += other.ch_pos
                self.ch_neg += other.ch_neg
                self.ch_ign += other.ch_ign
                self.ch_images += other.ch_images
            self.ch_no_positive += other.ch_no_positive
        return self


def _mask_format(path: Path, spec: InputSpec | None) -> str:
    fmt = (spec.format or "").lower() if spec is not None else ""
    if fmt in ("png", "tiff", "nifti", "npy", "npy-mask"):
        return "npy" if fmt == "npy-mask" else fmt
    name = path.name.lower()
    if name.endswith(".png"):
        return "png"
    if name.endswith((".tif", ".tiff")):
        return "tiff"
    if name.endswith((".nii", ".nii.gz")):
        return "nifti"
    if name.endswith(".npy"):
        return "npy"
    from ._legacy import _sniff

    sniffed = _sniff(path)
    if sniffed in ("png", "tiff", "npy"):
        return sniffed
    raise InputError(f"{path}: not a mask file (PNG, TIFF, .npy or NIfTI)", hint="pass --format png|tiff|nifti")


def read_mask(path: str | Path, spec: InputSpec | None = None) -> np.ndarray:
    """Decode one mask file into an array of its raw values (no class mapping, no copy beyond the
    decoder's own): ``[H, W]`` or ``[D, H, W]`` (``[C, ...]`` for channel masks)."""
    path = Path(path)
    fmt = _mask_format(path, spec)
    with reader_boundary(path, f"the {fmt.upper() if fmt != 'nifti' else 'NIfTI'} mask"):
        if fmt == "png":
            return _read_png(path)
        if fmt == "tiff":
            return _read_tiff(path)
        if fmt == "nifti":
            return _read_nifti(path)
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
        if arr.dtype.kind not in "biuf":
            raise InputError(f"{path}: holds {arr.dtype} values, not a mask")
        return arr


_INDEX_MODES = {"P", "L", "1", "I", "I;16", "I;16B", "I;16L", "I;16N"}


def _read_png(path: Path) -> np.ndarray:
    Image = require("PIL.Image", feature="PNG masks", extra="images", package="pillow")
    with Image.open(path) as im:
        if im.mode not in _INDEX_MODES:
            raise InputError(
                f"{path}: a colour ({im.mode}) image, not a mask of class ids",
                hint="save masks as palette (P) or grayscale PNGs whose values are class ids",
            )
        # For "P" this is the palette index of each pixel, never its colour.
        return np.asarray(im)


def _read_tiff(path: Path) -> np.ndarray:
    try:
        import tifffile
    except ImportError:
        tifffile = None
    if tifffile is None:
        Image = require("PIL.Image", feature="TIFF masks", extra="images", package="tifffile")
        with Image.open(path) as im:
            if im.mode not in _INDEX_MODES:
                raise InputError(f"{path}: a colour ({im.mode}) TIFF, not a mask of class ids")
            return np.asarray(im)
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        if getattr(page, "samplesperpixel", 1) > 1:
            raise InputError(f"{path}: a TIFF with {page.samplesperpixel} samples per pixel (colour), "
                             "not a mask of class ids")
        return tif.series[0].asarray()


def _read_nifti(path: Path) -> np.ndarray:
    nib = require("nibabel", feature="NIfTI masks", extra="nifti")
    img = nib.load(str(path))
    # Without a scale (slope 1, intercept 0) this is the stored integer dtype, not float.
    return np.asanyarray(img.dataobj)


def _spatial(path: Path, arr: np.ndarray, mode: str) -> np.ndarray:
    """Drop trailing axes of length 1 (a NIfTI 4th axis, ``[H, W, 1]``) and check the rank."""
    while arr.ndim > (3 if mode != "channels" else 4) and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if mode == "channels":
        if arr.ndim not in (3, 4):
            raise InputError(
                f"{path}: a {arr.ndim}-D array {list(arr.shape)}; channel masks are [C, H, W] or [C, D, H, W]"
            )
        return arr
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3):
        raise InputError(
            f"{path}: a {arr.ndim}-D array {list(arr.shape)}; masks are [H, W] images or [D, H, W] volumes",
            hint="for [C, H, W] channel masks pass --mask-mode channels",
        )
    return arr


def _histogram(path: Path, arr: np.ndarray, ignore: frozenset[int], *, binary: bool = False
               ) -> tuple[np.ndarray, int]:
    """(``bincount`` of the non-negative values, number of void pixels not in it: NaN and negative
    ignore values). Raises on values that cannot be class ids."""
    if arr.dtype == np.bool_:
        arr = arr.view(np.uint8)
    extra = 0
    if arr.dtype.kind == "f":
        nan = np.isnan(arr)
        n_nan = int(np.count_nonzero(nan))
        if n_nan:
            extra += n_nan
            arr = arr[~nan]
        whole = np.isfinite(arr) & (arr == np.floor(arr))  # inf == floor(inf)
        if not whole.all():
            bad = arr[~whole].flat[0]
            raise InputError(f"{path}: value {bad:g} is not a class id (masks hold whole numbers)",
                             hint="soft masks in [0, 1] are read with --mask-mode channels")
        arr = arr.astype(np.int64)
    if arr.dtype.kind == "i" and arr.size and arr.min() < 0:
        below = arr < 0
        values, counts = np.unique(arr[below], return_counts=True)
        unknown = [int(v) for v in values if int(v) not in ignore]
        if unknown:
            raise InputError(f"{path}: negative value {unknown[0]} in the mask",
                             hint=f"class ids are 0, 1, 2 ...; pass --ignore-index {unknown[0]} if it marks void")
        extra += int(counts.sum())
        arr = arr[~below]
    flat = arr.reshape(-1, order="A")  # a view for C- and Fortran-ordered (NIfTI) arrays alike
    if flat.size and flat.dtype.itemsize > 2 and int(flat.max()) > MAX_DENSE_VALUE:
        if not binary:
            raise InputError(
                f"{path}: value {int(flat.max())} is too large for a class id",
                hint="for instance masks (one id per object) pass --mask-mode binary",
            )
        # Binary only needs zero / ignored / other: fold every other value into 1.
        keep = np.isin(flat, [0, *[v for v in ignore if v >= 0]])
        flat = np.where(keep, flat, 1)
    if flat.dtype.kind == "u" and flat.dtype.itemsize > 4:
        flat = flat.astype(np.int64)
    return _chunked_bincount(flat), extra


#: Elements per ``np.bincount`` call. bincount casts its input to int64: on a whole CT volume that is a
#: copy 8x the volume's size, and 5x slower than counting it in cache-sized slices.
BINCOUNT_CHUNK = 1 << 22


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


def _ignored_in(hist: np.ndarray, ignore: frozenset[int]) -> int:
    return int(sum(int(hist[v]) for v in ignore if 0 <= v < len(hist)))


def scan_file(path: str | Path, spec: InputSpec) -> MaskScan:
    """Decode and histogram one mask."""
    path = Path(path)
    mode = spec.mask_mode
    ignore = frozenset(spec.ignore_index)
    if mode != "channels" and _mask_format(path, spec) == "png":
        with reader_boundary(path, "the PNG mask"):
            fast = _png_histogram(path)
        if fast is not None:
            hist, pixels = fast
            return _value_scan(path, hist, 0, pixels, 2, spec, ignore)
    return _decoded_scan(path, spec, ignore)


def _decoded_scan(path: Path, spec: InputSpec, ignore: frozenset[int]) -> MaskScan:
    """Decode a mask to an array and histogram it (what Pillow's own histogram cannot do: 16-bit PNG,
    TIFF, NIfTI, .npy, channel masks)."""
    mode = spec.mask_mode
    arr = _spatial(path, read_mask(path, spec), mode)
    if mode == "channels":
        return _scan_channels(path, arr, spec)
    hist, void_other = _histogram(path, arr, ignore, binary=mode == "binary")
    return _value_scan(path, hist, void_other, int(arr.size), arr.ndim, spec, ignore)


def _png_histogram(path: Path) -> tuple[np.ndarray, int] | None:
    """(histogram, pixels) of an 8-bit grayscale or palette PNG, taken by Pillow where it decodes (no
    array copy, no ``np.bincount``: about half the cost per mask); None for other PNG modes."""
    Image = require("PIL.Image", feature="PNG masks", extra="images", package="pillow")
    with Image.open(path) as im:
        if im.mode not in ("L", "P"):
            return None
        # For "P" these are the counts of palette indices, never of colours.
        hist = np.array(im.histogram(), dtype=np.int64)
        width, height = im.size
    return hist, width * height


def _value_scan(path: Path, hist: np.ndarray, void_other: int, pixels: int, ndim: int, spec: InputSpec,
                ignore: frozenset[int]) -> MaskScan:
    scan = MaskScan(files=1, pixels=pixels, hist=hist, images=(hist > 0).astype(np.int64),
                    void_other=void_other, ndims={ndim: str(path)})
    valid = hist.copy()
    for v in ignore:
        if 0 <= v < len(valid):
            valid[v] = 0
    present = np.flatnonzero(valid)
    scan.fg_files = int(bool(len(present) and present[-1] > 0))
    scan.empty_files = int(not len(present))
    scan.only_void_files = int(len(present) == 1 and present[0] == VOID_VALUE)
    if spec.num_classes is not None and spec.mask_mode in ("index", "auto") and len(present) \
            and present[-1] >= spec.num_classes:
        raise InputError(
            f"{path}: value {int(present[-1])} is not a class id below --num-classes {spec.num_classes}",
            hint=f"pass --ignore-index {int(present[-1])} if it marks void pixels",
        )
    return scan


def _scan_channels(path: Path, arr: np.ndarray, spec: InputSpec) -> MaskScan:
    ignore = frozenset(spec.ignore_index)
    c = arr.shape[0]
    pos, neg, ign = np.zeros(c), np.zeros(c), np.zeros(c)
    for k in range(c):
        ch = np.asarray(arr[k])
        if ch.dtype.kind == "f":
            void = np.isnan(ch)
            if ignore:
                void |= np.isin(ch, list(ignore))
            y = ch[~void] if void.any() else ch.reshape(-1)
            if y.size and (y.min() < 0 or y.max() > 1):
                bad = y[(y < 0) | (y > 1)].flat[0]
                raise InputError(f"{path}: channel {k} holds {bad:g}; channel masks hold values in [0, 1]")
            pos[k] = float(y.sum(dtype=np.float64))
            neg[k] = y.size - pos[k]
            ign[k] = int(np.count_nonzero(void))
            continue
        hist, extra = _histogram(path, ch, ignore)
        ign_k = extra + _ignored_in(hist, ignore)
        other = [v for v in np.flatnonzero(hist) if v > 1 and v not in ignore]
        if other:
            raise InputError(f"{path}: channel {k} holds the value {int(other[0])}; channel masks hold 0/1",
                             hint=f"pass --ignore-index {int(other[0])} if it marks void pixels")
        pos[k] = int(hist[1]) if len(hist) > 1 and 1 not in ignore else 0
        neg[k] = int(hist[0]) if 0 not in ignore else 0
        ign[k] = ign_k
    spatial = int(np.prod(arr.shape[1:]))
    return MaskScan(files=1, pixels=spatial, ndims={arr.ndim - 1: str(path)}, ch_pos=pos, ch_neg=neg,
                    ch_ign=ign, ch_images=(pos > 0).astype(np.int64), ch_no_positive=int(not (pos > 0).any()),
                    ch_source=str(path))


# ------------------------------------------------------------------------------------- worker pool


@dataclass
class _Failure:
    """An error raised in a worker, carried back as text (exceptions with keyword-only arguments do
    not survive pickling)."""

    kind: str
    message: str

    def exception(self) -> BceWeightsError:
        cls = {"InputError": InputError, "OptionsError": OptionsError}.get(self.kind, BceWeightsError)
        return cls(self.message)


def _scan_group(paths: Sequence[Path], spec: InputSpec) -> tuple[MaskScan, int, _Failure | None]:
    """(the merged scan of ``paths``, how many were scanned, the first error): a worker returns one
    merged scan per group of files, not one per file, so pickling and merging cost per group.

    8-bit PNGs (most masks) are histogrammed by Pillow and checked together, as one ``[files, 256]``
    array, which keeps the per-file Python work to the decode (benchmarks/RESULTS.md)."""
    total = MaskScan()
    ignore = frozenset(spec.ignore_index)
    pending: list[tuple[Path, np.ndarray, int]] = []
    fast = spec.mask_mode != "channels"
    done = 0
    for done, path in enumerate(paths):  # noqa: B007 (the count of files scanned when one fails)
        try:
            if fast and _mask_format(path, spec) == "png":
                with reader_boundary(path, "the PNG mask"):
                    found = _png_histogram(path)
                if found is not None:
                    pending.append((path, *found))
                    continue
            if pending:
                total.merge(_png_scans(pending, spec, ignore))
                pending.clear()
            # The PNG fast path was tried above (a 16-bit PNG falls through): decode it, once.
            total.merge(_decoded_scan(path, spec, ignore))
        except BceWeightsError as exc:
            failure = _Failure(type(exc).__name__, str(exc))
            break
    else:
        done, failure = len(paths), None
    if pending:
        try:
            total.merge(_png_scans(pending, spec, ignore))
        except BceWeightsError as exc:  # an earlier file than ``failure``'s
            failure = _Failure(type(exc).__name__, str(exc))
    return total, done, failure


def _png_scans(found: Sequence[tuple[Path, np.ndarray, int]], spec: InputSpec, ignore: frozenset[int]) -> MaskScan:
    """What :func:`_value_scan` gives for each of these 2-D 8-bit masks, merged, from their stacked
    histograms; the first mask (in order) with a value at or above ``--num-classes`` is named."""
    hists = np.stack([h for _, h, _ in found])
    valid = hists.copy()
    for v in ignore:
        if 0 <= v < valid.shape[1]:
            valid[:, v] = 0
    present = valid > 0
    if spec.num_classes is not None and spec.mask_mode in ("index", "auto") and spec.num_classes < valid.shape[1]:
        above = present[:, spec.num_classes:].any(axis=1)
        if above.any():
            i = int(np.argmax(above))
            top = int(np.flatnonzero(present[i])[-1])
            raise InputError(
                f"{found[i][0]}: value {top} is not a class id below --num-classes {spec.num_classes}",
                hint=f"pass --ignore-index {top} if it marks void pixels",
            )
    kinds = present.sum(axis=1)
    return MaskScan(files=len(found), pixels=sum(p for _, _, p in found), hist=hists.sum(axis=0),
                    images=(hists > 0).sum(axis=0, dtype=np.int64), ndims={2: str(found[0][0])},
                    fg_files=int(present[:, 1:].any(axis=1).sum()), empty_files=int((kinds == 0).sum()),
                    only_void_files=int((present[:, VOID_VALUE] & (kinds == 1)).sum()))


#: Files per task: large enough that a task's pickling and merge are noise against its decoding, small
#: enough that the progress bar moves and the two workers finish together.
GROUP_FILES = 64


def _groups(paths: Sequence[Path], workers: int) -> list[Sequence[Path]]:
    size = max(1, min(GROUP_FILES, -(-len(paths) // (workers * 4))))
    return [paths[i:i + size] for i in range(0, len(paths), size)]


def _map_scans(paths: Sequence[Path], spec: InputSpec, workers: int
               ) -> Iterator[tuple[MaskScan, int, _Failure | None]]:
    """Group scans in input order (so the first bad file is the one named, whatever ``workers`` is)."""
    groups = _groups(paths, max(1, workers))
    if workers <= 1 or len(paths) <= 1:
        for group in groups:
            yield _scan_group(group, spec)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    ctx = mp.get_context(_start_method())
    if ctx.get_start_method() == "forkserver":
        ctx.set_forkserver_preload([__name__])
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init)
    try:
        yield from pool.map(_scan_group, groups, [spec] * len(groups))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _start_method() -> str:
    """fork where this process runs no other thread (the CLI with ``-q``, most scripts): workers start
    in milliseconds. Otherwise forkserver: a thread (Rich's refresh, a library's pool) could be holding
    a lock that a forked child would inherit held; starting the server costs ~0.3 s (an interpreter and
    NumPy). ``BCEWEIGHTS_START_METHOD`` overrides the choice."""
    import multiprocessing as mp
    import threading

    methods = mp.get_all_start_methods()
    chosen = os.environ.get("BCEWEIGHTS_START_METHOD", "")
    if chosen in methods:
        return chosen
    if "fork" in methods and threading.active_count() == 1:
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


def _worker_init() -> None:
    # Ctrl-C reaches the whole process group: the parent stops the pool, the workers stay quiet.
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _advance(progress: Progress | None, files: int, pixels: int) -> None:
    if progress is None or not files:
        return
    try:
        progress(files, pixels=pixels)
    except TypeError:  # a sink that only takes an amount
        progress(files)


def scan_paths(paths: Sequence[str | Path], spec: InputSpec, progress: Progress | None = None) -> MaskScan:
    """Scan every mask, in ``spec.workers`` processes (default: all cores)."""
    _check_spec(spec)
    paths = [Path(p) for p in paths]
    workers = spec.worker_count()
    if workers < 1:
        raise OptionsError(f"--workers {workers}: give 1 or more")
    total = MaskScan()
    for scan, done, failure in _map_scans(paths, spec, min(workers, len(paths))):
        total.merge(scan)
        _advance(progress, done, scan.pixels)
        if failure is not None:
            raise failure.exception()
    return total


def _check_spec(spec: InputSpec) -> None:
    if spec.mask_mode not in MODES:
        raise OptionsError(f"--mask-mode {spec.mask_mode!r}: choose one of {', '.join(MODES)}")
    if spec.num_classes is not None and spec.num_classes < 1:
        raise OptionsError(f"--num-classes {spec.num_classes}: give 1 or more")


# -------------------------------------------------------------------------------- scan → counts


def _class_names(spec: InputSpec) -> list[str] | None:
    if spec.classes_file is None:
        return None
    from .tables import _read_classes_file

    return _read_classes_file(spec.classes_file)


def _fmt_values(values: Sequence[int]) -> str:
    return ", ".join(str(int(v)) for v in values)


def decide_mode(scan: MaskScan, spec: InputSpec) -> tuple[str, frozenset[int], list[str]]:
    """(mode, the ignore set, notes): the explicit ``--mask-mode``, or auto's choice over the whole set."""
    ignore = frozenset(spec.ignore_index)
    if spec.mask_mode != "auto":
        return spec.mask_mode, ignore, [f"mask mode: {spec.mask_mode} (--mask-mode {spec.mask_mode})"]
    values = [int(v) for v in np.flatnonzero(scan.hist) if int(v) not in ignore]
    vs = set(values)
    if spec.num_classes is not None or spec.classes_file is not None:
        why = "--num-classes" if spec.num_classes is not None else "--classes-file"
        return "index", ignore, [f"mask mode: index (auto), because {why} is given"]
    if vs <= {0, VOID_VALUE} and VOID_VALUE in vs:
        return "binary", ignore, [
            "mask mode: binary (auto), because the masks hold only the values 0 and 255: 255 is read as "
            "the foreground, not as void (pass --ignore-index 255 if it marks void pixels)"]
    if vs <= {0, 1}:
        why = "only the values 0 and 1" if 1 in vs else "only zeros (no foreground anywhere)"
        return "binary", ignore, [
            f"mask mode: binary (auto), because the masks hold {why} "
            "(pass --mask-mode index to count the background as a class too)"]
    below = vs - {VOID_VALUE}
    if VOID_VALUE in vs and below and max(below) < VOID_VALUE // 2:
        ignore = ignore | {VOID_VALUE}
        return "index", ignore, [
            f"mask mode: index (auto), because the values are class ids 0..{max(below)}; 255 is read as "
            "void (ignored, the Pascal VOC convention) since no other id comes near it (pass "
            "--ignore-index 255 to say so, or --mask-mode index to count 255 as a class)"]
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
    return "index", ignore, notes


def scan_to_counts(scan: MaskScan, spec: InputSpec) -> Counts:
    """Counts (and the notes on how they were read) from the raw scan of a whole mask set."""
    if scan.files == 0:
        raise InputError("no mask to count")
    if len(scan.ndims) > 1:
        (d1, p1), (d2, p2) = sorted(scan.ndims.items())[:2]
        raise InputError(f"the inputs mix {d1}-D masks ({p1}) and {d2}-D masks ({p2}); count one kind at a time")
    ndim = next(iter(scan.ndims))
    names = _class_names(spec)
    if spec.mask_mode == "channels":
        return _channel_counts(scan, spec, ndim, names)
    mode, ignore, notes = decide_mode(scan, spec)
    hist = scan.hist
    void = scan.void_other + _ignored_in(hist, ignore)
    valid = scan.pixels - void
    if void:
        values = [v for v in sorted(ignore) if 0 <= v < len(hist) and hist[v]]
        if scan.void_other:  # not in the histogram: negative ignore values, or NaN in float masks
            values += [v for v in sorted(ignore) if v < 0] or ["NaN"]
        what = f"value {', '.join(map(str, values))}"
        notes.append(f"ignored pixels: {void:,} with {what}, counted as neither positive nor negative")
    if mode == "binary":
        classes = names or ["foreground"]
        if len(classes) != 1:
            raise OptionsError(f"--classes-file names {len(classes)} classes, but binary masks have one")
        zeros = int(hist[0]) if len(hist) and 0 not in ignore else 0
        return Counts(classes, pos=[valid - zeros], neg=[zeros], ignored=[void], samples=scan.files,
                      pixels=scan.pixels, spatial_ndim=ndim, image_count=[scan.fg_files],
                      no_positive=scan.files - scan.fg_files, notes=notes)
    present = [v for v in np.flatnonzero(hist) if int(v) not in ignore]
    seen = int(present[-1]) + 1 if present else 0
    c = spec.num_classes or (len(names) if names else seen)
    if names is not None and len(names) != c:
        raise OptionsError(f"--classes-file names {len(names)} classes but --num-classes is {c}")
    if c == 0:
        raise InputError("every pixel of every mask is ignored: nothing to count")
    if seen > c:
        raise InputError(f"the masks hold the class id {seen - 1}, but there are {c} classes",
                         hint=f"pass --ignore-index {seen - 1} if it marks void pixels, or a larger --num-classes")
    pos = np.zeros(c)
    pos[: min(c, len(hist))] = hist[:c]
    images = np.zeros(c, dtype=np.int64)
    images[: min(c, len(scan.images))] = scan.images[:c]
    for v in ignore:
        if 0 <= v < c:
            pos[v], images[v] = 0, 0
    empty = scan.empty_files + (scan.only_void_files if VOID_VALUE in ignore - set(spec.ignore_index) else 0)
    return Counts(names or [str(i) for i in range(c)], pos=pos, neg=valid - pos, ignored=np.full(c, float(void)),
                  samples=scan.files, pixels=scan.pixels, spatial_ndim=ndim, image_count=images,
                  no_positive=empty, notes=notes)


def _channel_counts(scan: MaskScan, spec: InputSpec, ndim: int, names: list[str] | None) -> Counts:
    c = len(scan.ch_pos)
    if spec.num_classes is not None and spec.num_classes != c:
        raise OptionsError(f"--num-classes {spec.num_classes}, but the masks have {c} channels")
    if names is not None and len(names) != c:
        raise OptionsError(f"--classes-file names {len(names)} classes, but the masks have {c} channels")
    notes = ["mask mode: channels (--mask-mode channels): channel c of each mask is class c"]
    if scan.ch_ign.any():
        notes.append(f"ignored pixels: {int(scan.ch_ign.sum()):,} channel values (void or NaN), "
                     "counted as neither positive nor negative")
    return Counts(names or [str(i) for i in range(c)], pos=scan.ch_pos, neg=scan.ch_neg, ignored=scan.ch_ign,
                  samples=scan.files, pixels=scan.pixels, spatial_ndim=ndim, image_count=scan.ch_images,
                  no_positive=scan.ch_no_positive, notes=notes)


def count_masks(paths: Sequence[str | Path], spec: InputSpec, progress: Progress | None = None) -> Counts:
    """Counts over every pixel (voxel) of every mask in ``paths``, the mode settled over all of them."""
    return scan_to_counts(scan_paths(paths, spec, progress), spec)


def count(paths: list[Path], spec: InputSpec, progress: Progress | None = None) -> Counts:
    """The engines' entry point: *partial* counts of ``paths`` that merge by addition with those of
    other files (Dask partitions), turned into the real counts once, by :func:`finish_counts`.

    Auto mode must see the whole set (a partition of background-only masks alone would look binary),
    so a partial holds the raw scan, encoded as pseudo-classes (see :func:`_scan_as_counts`).
    """
    return _scan_as_counts(scan_paths(paths, spec, progress))


def finish_counts(partial: Counts | MaskScan, spec: InputSpec) -> Counts:
    """The real counts from merged partial counts (see :func:`count`), or from a merged scan (what
    the Dask engine's partitions return, see ``partitions.FileGroup``)."""
    scan = partial if isinstance(partial, MaskScan) else _counts_as_scan(partial)
    return scan_to_counts(scan, spec)


_VALUE, _CHANNEL = "value=", "channel="
_SCALARS = ("void_other", "fg_files", "empty_files", "only_void_files", "ch_no_positive", "channels")


def _scan_as_counts(scan: MaskScan) -> Counts:
    """A :class:`MaskScan` as a :class:`Counts` whose merge is the scan's merge: one class per raw value
    present (``value=v``: pos = pixels, image_count = masks holding it) or channel (``channel=k``), and
    ``#name`` classes for the scalars (in pos). Only :func:`finish_counts` reads it."""
    values = np.flatnonzero(scan.hist)
    names = [f"{_VALUE}{v}" for v in values]
    pos = [float(scan.hist[v]) for v in values]
    neg = [0.0] * len(values)
    ign = [0.0] * len(values)
    images = [int(scan.images[v]) for v in values]
    c = 0 if scan.ch_pos is None else len(scan.ch_pos)
    for k in range(c):
        names.append(f"{_CHANNEL}{k}")
        pos.append(float(scan.ch_pos[k]))
        neg.append(float(scan.ch_neg[k]))
        ign.append(float(scan.ch_ign[k]))
        images.append(int(scan.ch_images[k]))
    # "channels" holds C per mask, so a set mixing channel counts is caught after a merge.
    scalars = {name: float(getattr(scan, name, 0)) for name in _SCALARS[:-1]}
    scalars["channels"] = float(c * scan.files)
    for name, value in scalars.items():
        names.append(f"#{name}")
        pos.append(value)
        neg.append(0.0)
        ign.append(0.0)
        images.append(0)
    ndim = next(iter(scan.ndims)) if scan.ndims else 0
    if len(scan.ndims) > 1:
        scan_to_counts(scan, InputSpec())  # raises the error naming both files
    return Counts(names, pos=pos, neg=neg, ignored=ign, image_count=images, samples=scan.files,
                  pixels=scan.pixels, spatial_ndim=ndim)


def _counts_as_scan(counts: Counts) -> MaskScan:
    index = {name: i for i, name in enumerate(counts.classes)}
    if "#fg_files" not in index:
        raise ValueError("not partial mask counts (from masks.count)")
    images = counts.image_count if counts.image_count is not None else np.zeros(len(index), np.int64)
    values = sorted(int(n[len(_VALUE):]) for n in index if n.startswith(_VALUE))
    top = values[-1] + 1 if values else 0
    hist, value_images = np.zeros(top, np.int64), np.zeros(top, np.int64)
    for v in values:
        i = index[f"{_VALUE}{v}"]
        hist[v], value_images[v] = int(counts.pos[i]), int(images[i])
    scalar = {name: int(counts.pos[index[f"#{name}"]]) for name in _SCALARS}
    scan = MaskScan(files=counts.samples, pixels=counts.pixels, hist=hist, images=value_images,
                    ndims={counts.spatial_ndim: "the masks"} if counts.samples else {},
                    **{k: v for k, v in scalar.items() if k != "channels"})
    c = sum(1 for n in index if n.startswith(_CHANNEL))
    if c:
        if scalar["channels"] != c * counts.samples:
            raise InputError("the masks do not all have the same number of channels")
        order = [index[f"{_CHANNEL}{k}"] for k in range(c)]
        scan.ch_pos, scan.ch_neg = counts.pos[order].copy(), counts.neg[order].copy()
        scan.ch_ign, scan.ch_images = counts.ignored[order].copy(), np.asarray(images)[order].astype(np.int64)
    return scan


# ---------------------------------------------------------------------------------- sample targets


def sample_targets(files: Sequence[Path], spec: InputSpec, limit: int, *,
                   classes: Sequence[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """A real target batch: at most ``limit`` masks as float32 ``[N, C, *spatial]`` (one-hot from index
    masks, NaN where ignored), and the class names. ``files`` are mask files, as
    ``engines.expand_paths`` gives them (no folder, glob or ``--file-list`` is expanded here).

    A batch has one size: the most common one among the first files (at most ``max(16 * limit, 64)``
    are looked at); masks of other sizes are passed over. ``classes``
    (e.g. from a saved ``.pt``) fixes the class list and, in auto mode, the mode: ``["foreground"]`` is
    binary, anything else index with ``len(classes)`` classes. Otherwise auto decides on the sample.
    """
    _check_spec(spec)
    files = [Path(p) for p in files]
    # First pass: the most common size among the first files (stopping as soon as one size fills the
    # batch), so one odd-sized first mask does not leave the batch with a single sample.
    by_shape: dict[tuple[int, ...], list[Path]] = {}
    for path in files[: max(16 * limit, 64)]:
        shape = _spatial(path, read_mask(path, spec), spec.mask_mode).shape
        group = by_shape.setdefault(shape, [])
        group.append(path)
        if len(group) >= limit:
            break
    used = max(by_shape.values(), key=len, default=[])[:limit]
    arrays = [np.asarray(_spatial(p, read_mask(p, spec), spec.mask_mode)) for p in used]
    if not arrays:
        raise InputError("no mask to sample")
    if spec.mask_mode == "channels":
        names = list(classes) if classes is not None else (_class_names(spec) or
                                                           [str(i) for i in range(arrays[0].shape[0])])
        batch = np.stack(arrays).astype(np.float32)
        for v in spec.ignore_index:
            batch[batch == v] = np.nan
        return batch, names
    spec_s = spec
    if classes is not None and spec.mask_mode == "auto":
        binary = list(classes) == ["foreground"]
        spec_s = spec.with_(mask_mode="binary" if binary else "index",
                            num_classes=None if binary else len(classes))
    scan = MaskScan()
    for arr, path in zip(arrays, used):
        hist, void_other = _histogram(path, arr, frozenset(spec_s.ignore_index))
        scan.merge(MaskScan(files=1, pixels=arr.size, hist=hist, images=(hist > 0).astype(np.int64),
                            void_other=void_other, ndims={arr.ndim: str(path)}))
    counts = scan_to_counts(scan, spec_s)
    mode, ignore, _ = decide_mode(scan, spec_s)
    names = list(classes) if classes is not None else counts.classes
    stack = np.stack(arrays)
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
        c = len(names)
        out = np.zeros((stack.shape[0], c, *stack.shape[1:]), dtype=np.float32)
        for k in range(c):
            out[:, k] = stack == k
    out[np.broadcast_to(void[:, None], out.shape)] = np.nan
    return out, names
