"""Multi-hot arrays: ``.npy`` (memory-mapped), ``.npz`` (``--key``) and ``.pt`` tensors, counted in chunks.

Layout: a 2-D array is ``[N, C]``, N samples × C classes. ``--class-axis`` names the class axis of any
other layout: ``--class-axis 0`` for ``[C, N]``; for an N-D array every other axis is a sample axis
(``[N, H, W, C]`` with ``--class-axis 3`` counts N·H·W samples). A 1-D array is one class. An array of
3 or more axes needs ``--class-axis``: it may as well be a stack of masks (``--mask-mode``). A 2-D
array that would be more than :data:`MANY_CLASSES` classes, over 8 times more classes than samples
(``[14, 78468]``: ChestX-ray14's labels saved as ``[C, N]``), needs ``--class-axis`` too: read as
``[N, C]`` it would be 78,468 classes of 14 samples. An array with no class (a class axis of length 0)
is an error.

Values go through the value policy (:mod:`bceweights.policy`): 0/1, soft values in [0, 1], -1
(uncertain), NaN (missing); anything else is an error naming the sample.

* ``.npy`` is memory-mapped and read ``CHUNK_ELEMENTS`` values at a time; the Dask engine splits a
  large one into runs of samples.
* ``.npz``: the array named by ``--key`` (or the only array; a ``classes`` / ``class_names`` array of
  strings names the classes). A C-ordered member whose class axis is last is streamed from the archive
  in chunks, compressed or not; another layout is loaded whole.
* ``.pt``: loaded with ``torch.load(weights_only=True)`` (memory-mapped where the file allows): a
  tensor, or a dict holding it under ``--key`` (or its only tensor) and optionally ``classes``.

Class names: ``--classes-file``, else the file's own (``classes`` in a ``.npz``/``.pt``), else
``0 .. C-1``. Every file of a run must hold the same classes, in the same order.

:class:`MultiHotReader` is what these readers and the ARFF reader share: counting label rows with both
cores, the same-classes rule, and whole files grouped into Dask partitions.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from tokenize import TokenError
from typing import ClassVar

import numpy as np

from ..classnames import read_classes_file
from ..counts import Counts, merge_same_classes, short_names
from ..errors import PARSER_ERRORS, InputError, OptionsError, UsageError, describe, reader_boundary, require
from ..locations import as_path, is_url, load_npy, open, source  # local paths and URLs alike
from ..policy import apply_policy
from ..spec import POLICY_OPTIONS, InputSpec
from .base import (
    Finished,
    LabelBatch,
    Partition,
    Plan,
    PlanHints,
    Progress,
    Reader,
    SameClasses,
)

CHUNK_ELEMENTS = 1 << 22
#: What NumPy's ``.npy`` header parser and zipfile raise on damaged bytes besides ValueError and OSError
#: (a cut header dict: SyntaxError, tokenize.TokenError).
_NUMPY_ERRORS = (*PARSER_ERRORS, TokenError)
#: A 2-D array with more classes than this, and over 8x more classes than samples, is taken for a
#: transposed ``[C, N]`` and needs ``--class-axis`` (0 for ``[C, N]``, 1 to count that many classes).
MANY_CLASSES = 1024
#: Below twice this many rows a batch is counted in one piece (a thread hand-off costs ~50 µs).
SPLIT_ROWS = 8192
#: At most this many whole files in one Dask partition.
MAX_FILES = 1000
NAME_KEYS = ("classes", "class_names")


# ----------------------------------------------------------------------------------- the readers


class MultiHotReader(Reader):
    """A reader of ``[N, C]`` label rows whose files must all hold the same classes in the same order
    (arrays, ARFF): a difference is a mistake, not new classes.

    Subclasses implement :meth:`rows`. A reader whose files split into runs of samples also implements
    :meth:`runs` and :meth:`run_rows` (the Dask engine then spreads one large file over the cluster).
    """

    kind: ClassVar[str] = "array"
    parallel: ClassVar[str] = "inline"

    def plan(self, files: Sequence[Path], spec: InputSpec, hints: PlanHints) -> Plan:
        """One partition per file locally; for Dask, a large file in runs of samples (where the format
        allows) and consecutive small files grouped up to ``hints.block`` bytes, in input order.

        Locally the partials are added file by file, so a file whose classes differ is named against
        the first file. A Dask partition is added in a tree, so each one gets the first file's classes
        (its ``context``) to check its own files against: the error is then the local one."""
        if not hints.split:
            return super().plan(files, spec, hints)
        first = (str(files[0]), self.classes(as_path(files[0]), spec)) if len(files) > 1 else None
        out: list[Partition] = []
        small: list[str] = []
        size = 0

        def flush() -> None:
            nonlocal small, size
            if small:
                out.append(Partition(self.name, tuple(small), size=size, context=first))
            small, size = [], 0

        for path in map(as_path, files):
            nbytes = _size(path)
            runs = self.runs(path, spec, hints.block) if nbytes > hints.block else None
            if runs is None:
                small.append(str(path))
                size += nbytes
                if size >= hints.block or len(small) >= MAX_FILES:
                    flush()
                continue
            flush()  # whole files keep their place in the merge order
            samples = runs[-1][1]
            for number, (start, stop) in enumerate(runs):
                out.append(Partition(self.name, (str(path),), size=round(nbytes * (stop - start) / samples),
                                     part=(start, stop), context=first,
                                     label=f"block {number + 1} of {len(runs)}: samples {start + 1}-{stop}"))
        flush()
        return Plan(out, spec)

    def classes(self, path: Path, spec: InputSpec) -> list[str]:
        """The class names of ``path``, as its rows will name them (by default from its first batch)."""
        for batch in self.rows(path, spec):
            return list(batch.classes)
        raise InputError(f"{path}: holds no sample")

    def runs(self, path: Path, spec: InputSpec, block: int) -> list[tuple[int, int]] | None:
        """``(start, stop)`` runs of samples of ``path``, about ``block`` bytes each, or None to read it
        whole."""
        return None

    def run_rows(self, path: Path, spec: InputSpec, run: tuple[int, int]) -> Iterator[LabelBatch]:
        """The label rows of one run of :meth:`runs`, numbered as in the whole file."""
        raise NotImplementedError

    def count(self, partition: Partition, spec: InputSpec, progress: Progress | None = None) -> SameClasses:
        """The counts of the partition's files (or run of samples); a file whose classes differ from
        the first one's (the first of the whole set where the plan says, see :meth:`plan`) is an error."""
        total: Counts | None = None
        first: str | None = None
        expected = partition.context
        with _Halves(spec.worker_count()) as halves:
            for path in map(as_path, partition.paths):
                if partition.part is None:
                    batches = self.rows(path, spec)
                else:
                    batches = self.run_rows(path, spec, tuple(partition.part))
                counts = _count_file(path, spec, progress, batches, halves, expected)
                if total is None:
                    total, first = counts, str(path)
                else:
                    merge_same_classes(total, counts, path=path, first=first, kind="array")
        assert total is not None and first is not None, "a partition names at least one file"
        return SameClasses(total, first, kind="array")

    def finish(self, partial: SameClasses, spec: InputSpec) -> Finished:
        return Finished(partial.counts, spec)


class _ArrayFileReader(MultiHotReader):
    """What the three array formats share: a file opens as a :class:`_Source` of ``[n, C]`` blocks."""

    options: ClassVar[frozenset[str]] = frozenset({"key", "class_axis", "classes_file", *POLICY_OPTIONS})

    def open(self, path: Path, spec: InputSpec) -> _Source:
        raise NotImplementedError

    def classes(self, path: Path, spec: InputSpec) -> list[str]:
        source = _opened(self, as_path(path), spec)  # a header, a memory map: no sample is read
        return _names(as_path(path), spec, source.names, source.num_classes)

    def rows(self, path: Path, spec: InputSpec, *, classes: Sequence[str] | None = None,
             id_column: str | None = None) -> Iterator[LabelBatch]:
        """The array's samples in order as label batches ``[n, C]``, after the value policy (arrays
        have no sample ids)."""
        path = as_path(path)
        return _batches(path, spec, _opened(self, path, spec), classes)


class NpyReader(_ArrayFileReader):
    """``.npy`` multi-hot arrays, memory-mapped; the Dask engine reads a large one in runs of samples."""

    name = "npy"
    extensions = (".npy",)
    description = "NumPy multi-hot array [N, C] (memory-mapped); masks with --mask-mode"
    # --key is for archives; a run of .npy alone refuses it (exit 2) instead of ignoring it.
    options = frozenset({"class_axis", "classes_file", *POLICY_OPTIONS})

    def claims(self, path: Path, spec: InputSpec) -> bool:
        # An explicit --mask-mode says these .npy files are masks (the npy-mask reader).
        return spec.mask_mode == "auto"

    def sniff(self, head: bytes, path: Path) -> float:
        return 1.0 if head.startswith(b"\x93NUMPY") else 0.0

    def open(self, path: Path, spec: InputSpec) -> _ArraySource:
        if spec.key is not None:
            raise UsageError(f"--key {spec.key}: a .npy file holds one array; --key is for .npz and .pt")
        with reader_boundary(path, "the .npy file"), open(path, "rb") as fh:
            magic = fh.read(6)
        if magic[:4] == b"PK\x03\x04":  # np.load would open it as an NpzFile
            raise InputError(f"{path}: is an .npz archive, not an .npy array", hint="pass --format npz")
        if magic != b"\x93NUMPY":
            # np.load would try it as a pickle and say so: the file is simply not an array.
            raise InputError(f"{path}: not a .npy file (it does not start with NumPy's magic bytes)",
                             hint="is it a label file of another format? pass --format")
        with reader_boundary(path, "the .npy file", also=_NUMPY_ERRORS):
            array = load_npy(path)  # a URL: rows read by range
        return _ArraySource(path, array, spec)

    def runs(self, path: Path, spec: InputSpec, block: int) -> list[tuple[int, int]] | None:
        samples = _opened(self, path, spec).view.shape[0]  # the header and a memory map: nothing read
        n = min(samples, math.ceil(_size(path) / block))
        if n < 2:
            return None
        edges = [round(i * samples / n) for i in range(n + 1)]
        return [(edges[i], edges[i + 1]) for i in range(n)]

    def run_rows(self, path: Path, spec: InputSpec, run: tuple[int, int]) -> Iterator[LabelBatch]:
        path = as_path(path)
        source = _opened(self, path, spec)
        assert isinstance(source, _ArraySource)
        return _batches(path, spec, source.sliced(*run), None)


class NpzReader(_ArrayFileReader):
    """``.npz`` archives: the array named by ``--key`` (or the only one), streamed where its layout allows."""

    name = "npz"
    extensions = (".npz",)
    description = "NumPy .npz archive (--key)"

    def sniff(self, head: bytes, path: Path) -> float:
        # Any zip starts so (a .pt too): an .npz's first member is an .npy.
        name = _first_zip_member(head)
        return 1.0 if name is not None and name.endswith(b".npy") else 0.0

    def open(self, path: Path, spec: InputSpec) -> _Source:
        return _open_npz(path, spec)


class PtReader(_ArrayFileReader):
    """``.pt`` tensors, loaded with ``torch.load(weights_only=True)``: a tensor, or a dict of them."""

    name = "pt"
    extensions = (".pt", ".pth")
    description = "PyTorch tensor file (loaded with weights_only=True; --key for a dict)"

    def sniff(self, head: bytes, path: Path) -> float:
        name = _first_zip_member(head)
        if name is not None:
            return 1.0 if name.endswith(b"/data.pkl") else 0.0  # torch.save's zip: <archive>/data.pkl first
        return 1.0 if _legacy_torch(head) else 0.0

    def open(self, path: Path, spec: InputSpec) -> _Source:
        return _open_pt(path, spec)


#: torch's legacy serialization magic number as a pickled int (opcode LONG1), how files written by
#: torch before 1.6 (or with ``_use_new_zipfile_serialization=False``) begin, after the protocol (and,
#: from protocol 4, a frame) opcode: ``\x80\x02`` + this for the default protocol 2.
_LEGACY_TORCH_LONG = b"\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"


def _legacy_torch(head: bytes) -> bool:
    """Whether ``head`` starts a legacy torch.save file (a pickle whose first object is the magic number)."""
    return head[:1] == b"\x80" and _LEGACY_TORCH_LONG in head[2:2 + 9 + len(_LEGACY_TORCH_LONG)]


def _first_zip_member(head: bytes) -> bytes | None:
    """The name of a zip's first member, from its local file header (None: not a zip that starts so)."""
    if not head.startswith(b"PK\x03\x04") or len(head) < 30:
        return None
    length = int.from_bytes(head[26:28], "little")
    return head[30:30 + length]


def _opened(reader: _ArrayFileReader, path: Path, spec: InputSpec) -> _Source:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    return reader.open(path, spec)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# ------------------------------------------------------------------------------------------ counting


def _count_file(path: Path, spec: InputSpec, progress: Progress | None, batches: Iterator[LabelBatch],
                halves: _Halves, expected: tuple[str, list[str]] | None = None) -> Counts:
    """The counts of one file; ``expected``: (first file, its classes), which this file must have."""
    counts: Counts | None = None
    helper: Counts | None = None
    reported = 0
    for batch in batches:
        if counts is None:
            counts, helper = Counts(batch.classes), Counts(batch.classes)
            if expected is not None:
                merge_same_classes(Counts(expected[1]), counts, path=path, first=expected[0], kind="array")
            if spec.cooccurrence:  # dense up to pairs.DENSE_MAX_CLASSES, sparse pairs above
                counts.track_cooccurrence()
                helper.track_cooccurrence()
        halves.add(counts, helper, batch)
        if progress is not None:
            progress(batch.done - reported)
            reported = batch.done
    if counts is None:
        raise InputError(f"{path}: holds no sample")
    return counts.merge(helper)


class _Halves:
    """Counts a large batch in two halves, one in a helper thread (NumPy and BLAS release the GIL),
    into two :class:`Counts` merged at the end: the co-occurrence product is the bulk of the work and
    runs on one BLAS thread in the CLI, so this is what puts both cores to work on a ``.npy``."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool = None

    def add(self, counts: Counts, helper: Counts, batch: LabelBatch) -> None:
        labels = batch.labels
        if self.workers < 2 or len(labels) < 2 * SPLIT_ROWS:
            counts.add_batch(batch)
            return
        if self.pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self.pool = ThreadPoolExecutor(1, thread_name_prefix="bceweights-count")
        half = len(labels) // 2
        other = self.pool.submit(helper.update, labels[half:])
        counts.add_batch(batch, labels[:half])
        other.result()

    def __enter__(self) -> _Halves:
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)


def _batches(path: Path, spec: InputSpec, source: _Source, classes: Sequence[str] | None) -> Iterator[LabelBatch]:
    """``source``'s samples in order as label batches ``[n, C]`` (after the value policy), its rows
    numbered as in the whole file (a run of samples too), so errors name the sample the user sees."""
    names = _names(path, spec, source.names, source.num_classes)
    if classes is not None and list(classes) != names:
        raise InputError(f"{path}: classes {short_names(names)} differ from {short_names(list(classes))}")
    size = max(_size(path), 1)
    start = source.first_row
    plain = not spec.policy.ignore_values and spec.policy.binarize is None
    nothing = np.zeros(len(names))
    for block in _read_blocks(path, source):
        n = len(block)
        rows = np.arange(start + 1, start + n + 1)
        start += n
        # 0/1 integers need no value policy: skipping its float64 copy makes a uint8 .npy ~8x
        # faster to count (benchmarks/RESULTS.md).
        if plain and block.dtype.kind in "biu" and (n == 0 or (block.min() >= 0 and block.max() <= 1)):
            done = int(size * start / max(source.samples, 1))
            yield LabelBatch(block, names, rows, done, nothing.copy(), nothing.copy())
            continue
        try:
            result = apply_policy(block, spec.policy, columns=names, row_numbers=rows, source=str(path))
        except InputError as exc:
            if not isinstance(source, _ArraySource) or not path.name.lower().endswith(".npy"):
                raise
            raise InputError(exc.message, hint=f"{exc.hint + '; ' if exc.hint else ''}if these .npy files "
                             "are segmentation masks, pass --mask-mode index (or binary, channels)") from None
        done = int(size * start / max(source.samples, 1))
        yield LabelBatch(result.labels, names, rows, done, result.missing, result.uncertain)


def _read_blocks(path: Path, source: _Source) -> Iterator[np.ndarray]:
    """``source.blocks()``, each read inside the decode boundary (a truncated archive, a bad page)."""
    blocks = source.blocks()
    while True:
        with reader_boundary(path, "the array", also=_NUMPY_ERRORS):
            block = next(blocks, None)
        if block is None:
            return
        yield block


def _names(path: Path, spec: InputSpec, own: list[str] | None, c: int) -> list[str]:
    if spec.classes_file is not None:
        names = read_classes_file(spec.classes_file)
        if len(names) != c:
            raise OptionsError(f"{spec.classes_file} names {len(names)} classes but {path} has {c}")
        return names
    if own is not None:
        if len(own) != c:
            raise InputError(f"{path}: names {len(own)} classes but the array has {c}")
        names = [str(n) for n in own]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise InputError(f"{path}: names the class {twice[0]!r} twice",
                             hint="pass --classes-file with one name per class")
        return names
    return [str(i) for i in range(c)]


# ------------------------------------------------------------------------------------------- sources


class _Source:
    """One array with its class axis settled: ``blocks()`` yields ``[n, C]`` chunks in sample order."""

    def __init__(self, path: Path, shape: tuple[int, ...], spec: InputSpec, names: list[str] | None = None):
        self.path = path
        self.shape = tuple(int(s) for s in shape)
        self.axis = _class_axis(path, self.shape, spec.class_axis)
        self.num_classes = 1 if len(self.shape) == 1 else self.shape[self.axis]
        if self.num_classes == 0:
            raise InputError(f"{path}: holds no class (an array {list(self.shape)} whose class axis "
                             f"{self.axis} has length 0)", hint="check --class-axis, or the array that was saved")
        self.samples = int(np.prod(self.shape)) // max(self.num_classes, 1)
        self.names = names
        #: Rows (after flattening the non-class axes) before this source's first one.
        self.first_row = 0

    def blocks(self) -> Iterator[np.ndarray]:
        raise NotImplementedError


def _class_axis(path: Path, shape: tuple[int, ...], class_axis: int | None) -> int:
    ndim = len(shape)
    if ndim == 0:
        raise InputError(f"{path}: holds a single number, not an array of labels")
    if class_axis is not None:
        if not -ndim <= class_axis < ndim:
            raise OptionsError(f"--class-axis {class_axis}: {path} has {ndim} axes {list(shape)}")
        return class_axis % ndim
    if ndim == 2 and shape[1] > MANY_CLASSES and shape[1] > 8 * shape[0]:
        # Counting it as [N, C] would take minutes and hold a weight per sample: ask which it is.
        raise InputError(
            f"{path}: an array {list(shape)} would be {shape[1]:,} classes of {shape[0]:,} samples; "
            "multi-hot arrays are [N, C] (samples x classes)",
            hint=f"if it is [C, N] ({shape[0]:,} classes) pass --class-axis 0; to count {shape[1]:,} classes "
            "pass --class-axis 1",
        )
    if ndim <= 2:
        return ndim - 1
    raise InputError(
        f"{path}: a {ndim}-D array {list(shape)}; multi-hot arrays are [N, C]",
        hint="pass --class-axis for another layout, or --mask-mode index|binary|channels if these are "
        "segmentation masks",
    )


def _rows_per_block(shape: tuple[int, ...]) -> int:
    per_row = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    return max(1, CHUNK_ELEMENTS // max(per_row, 1))


class _ArraySource(_Source):
    """A NumPy array or memmap (``.npy``; ``.npz`` members loaded whole)."""

    def __init__(self, path: Path, array: np.ndarray, spec: InputSpec, names: list[str] | None = None):
        super().__init__(path, array.shape, spec, names)
        if array.dtype.kind not in "biuf":
            raise InputError(f"{path}: holds {array.dtype} values, not labels")
        self.view = array[:, None] if array.ndim == 1 else np.moveaxis(array, self.axis, -1)

    def sliced(self, start: int, stop: int) -> _ArraySource:
        """Samples ``[start, stop)`` along the first axis."""
        import copy

        part = copy.copy(self)
        part.view = self.view[start:stop]
        per_row = int(np.prod(self.view.shape[1:-1])) if self.view.ndim > 2 else 1
        part.first_row = start * per_row
        return part

    def blocks(self) -> Iterator[np.ndarray]:
        view, c = self.view, self.num_classes
        step = _rows_per_block(view.shape)
        release = _page_release(view)
        for i in range(0, view.shape[0], step):
            yield np.asarray(view[i:i + step]).reshape(-1, c)
            release(i + step)


def _page_release(view: np.ndarray) -> Callable[[int], None]:
    """For a C-ordered memory map, a function that drops the pages of the rows read so far from this
    process (they stay in the page cache): a mapped file's pages count in RSS, so without it counting
    a 500 MB .npy would hold 500 MB (benchmarks/RESULTS.md)."""
    mm = getattr(view, "_mmap", None) if isinstance(view, np.memmap) else None
    if mm is None or not view.flags.c_contiguous or not hasattr(mm, "madvise"):
        return lambda rows: None
    import mmap

    base = np.frombuffer(mm, dtype=np.uint8)
    start = view.ctypes.data - base.ctypes.data  # where the rows begin inside the mapping
    del base
    row_bytes = view.strides[0] if view.ndim else view.itemsize
    done = 0

    def release(rows: int) -> None:
        nonlocal done
        end = (start + min(rows, view.shape[0]) * row_bytes) // mmap.PAGESIZE * mmap.PAGESIZE
        if end > done:
            mm.madvise(mmap.MADV_DONTNEED, done, end - done)
            done = end

    return release


class _NpzStream(_Source):
    """A C-ordered ``.npz`` member whose class axis is last, read from the archive chunk by chunk."""

    def __init__(self, path: Path, member: str, shape, dtype: np.dtype, spec: InputSpec, names):
        super().__init__(path, shape, spec, names)
        self.member, self.dtype = member, dtype

    def blocks(self) -> Iterator[np.ndarray]:
        per_row = int(np.prod(self.shape[1:])) if len(self.shape) > 1 else 1
        step = _rows_per_block(self.shape)
        with zipfile.ZipFile(source(self.path)) as zf, zf.open(self.member) as fh:
            _read_npy_header(fh)
            left = self.shape[0]
            while left > 0:
                n = min(step, left)
                want = n * per_row * self.dtype.itemsize
                data = fh.read(want)
                if len(data) != want:
                    raise InputError(f"{self.path}: the array {self.member!r} is truncated")
                yield np.frombuffer(data, dtype=self.dtype).reshape(-1, self.num_classes)
                left -= n


class _TensorSource(_Source):
    def __init__(self, path: Path, tensor, spec: InputSpec, names: list[str] | None = None):
        import torch

        if getattr(tensor, "is_nested", False) or tensor.layout != torch.strided:
            kind = "nested" if getattr(tensor, "is_nested", False) else str(tensor.layout).replace("torch.", "")
            raise InputError(f"{path}: holds a {kind} tensor; labels are read from dense tensors",
                             hint="save labels.to_dense()")
        if tensor.device.type == "meta":
            raise InputError(f"{path}: holds a meta tensor (a shape without values), not labels")
        super().__init__(path, tuple(tensor.shape), spec, names)
        if tensor.is_complex() or tensor.is_quantized:
            raise InputError(f"{path}: holds {tensor.dtype} values, not labels")
        self.view = tensor[:, None] if tensor.ndim == 1 else tensor.movedim(self.axis, -1)

    def blocks(self) -> Iterator[np.ndarray]:
        import torch

        view, c = self.view, self.num_classes
        step = _rows_per_block(tuple(view.shape))
        for i in range(0, view.shape[0], step):
            block = view[i:i + step].reshape(-1, c)
            if block.dtype.is_floating_point and block.dtype not in (torch.float32, torch.float64):
                block = block.float()  # float16, bfloat16, float8: NumPy has no such dtype (or none at all)
            yield block.numpy()


def _pick_key(path: Path, keys: list[str], key: str | None, what: str) -> str:
    candidates = [k for k in keys if k not in NAME_KEYS]
    if key is not None:
        if key not in keys:
            raise OptionsError(f"--key {key}: {path} holds no {what} named so; it holds: {', '.join(keys) or 'none'}")
        return key
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise InputError(f"{path}: holds no {what}")
    raise OptionsError(f"{path}: holds several {what}s ({', '.join(candidates)}); choose one with --key",
                       hint=f"e.g. --key {candidates[0]}")


def _read_npy_header(fh) -> tuple[tuple[int, ...], bool, np.dtype]:
    from numpy.lib import format as npformat

    version = npformat.read_magic(fh)
    if version == (1, 0):
        return npformat.read_array_header_1_0(fh)
    return npformat.read_array_header_2_0(fh)


def _open_npz(path: Path, spec: InputSpec) -> _Source:
    with reader_boundary(path, "the .npz file", also=_NUMPY_ERRORS):
        zf = zipfile.ZipFile(source(path))
    with zf:
        members = {n[:-4]: n for n in zf.namelist() if n.endswith(".npy")}
        key = _pick_key(path, list(members), spec.key, "array")
        names = None
        for name_key in NAME_KEYS:
            if name_key in members and name_key != key:
                with reader_boundary(path, "the .npz file", also=_NUMPY_ERRORS), zf.open(members[name_key]) as fh:
                    values = np.lib.format.read_array(fh, allow_pickle=False)
                if values.dtype.kind in "US":
                    names = [str(v) for v in values.reshape(-1)]
        with reader_boundary(path, "the .npz file", also=_NUMPY_ERRORS), zf.open(members[key]) as fh:
            shape, fortran, dtype = _read_npy_header(fh)
    probe = _Source(path, shape, spec)  # settles the class axis (or fails) before any data is read
    if not fortran and not dtype.hasobject and dtype.kind in "biuf" and probe.axis == len(shape) - 1:
        return _NpzStream(path, members[key], shape, dtype, spec, names)
    with reader_boundary(path, "the .npz file", also=_NUMPY_ERRORS), np.load(source(path), allow_pickle=False) as data:
        array = data[key]
    return _ArraySource(path, array, spec, names)


def _unpickler_reason(exc: BaseException) -> str:
    """The line of torch's long weights-only error that says what it refused."""
    import re

    match = re.search(r"WeightsUnpickler error:\s*([^\n]+)", str(exc))
    reason = match.group(1).strip() if match else describe(exc)
    if reason.startswith("Unsupported operand"):  # the pickle protocol's opcodes, not an object
        reason += ": a pickle protocol torch's safe loader cannot read; save again with torch.save"

    return reason if len(reason) <= 160 else reason[:157] + "..."


def _open_pt(path: Path, spec: InputSpec) -> _Source:
    torch = require("torch", feature=".pt arrays")
    import pickle
    import warnings

    with reader_boundary(path, "the .pt file"), open(path, "rb") as fh:
        head = fh.read(32)
    if head[:2] != b"PK" and head[:1] != b"\x80":
        raise InputError(f"{path}: cannot read the .pt file (neither a zip archive nor a pickle, which "
                         "torch.save writes)", hint="is it a label file of another format? pass --format")
    if head[:1] == b"\x80" and not _legacy_torch(head):
        # torch.load would unpickle it as far as weights_only allows and fail on an opcode or a class.
        raise InputError(f"{path}: a plain pickle (pickle.dump), not a file written by torch.save; bceweights "
                         "never unpickles Python objects", hint="save the labels with torch.save(tensor, path) "
                         "or np.save")
    try:
        with warnings.catch_warnings():
            # torch warns on stderr about pickle protocols and storages: the error below says it all.
            warnings.simplefilter("ignore")
            try:
                obj = torch.load(source(path), map_location="cpu", weights_only=True, mmap=not is_url(path))
            except RuntimeError:
                # Files in the legacy (non-zip) format cannot be memory-mapped.
                obj = torch.load(source(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise InputError(f"{path}: holds Python objects that torch.load(weights_only=True) refuses to "
                         f"unpickle ({_unpickler_reason(exc)})",
                         hint="save plain tensors (torch.save(labels_tensor, path))") from None
    except MemoryError:
        raise
    except Exception as exc:
        # torch's decoder reports a damaged or foreign file in many types (RuntimeError for a truncated
        # archive, KeyError for text): all mean the same to the user.
        raise InputError(f"{path}: cannot read the .pt file ({type(exc).__name__}: {describe(exc)})",
                         hint="check that the file is complete and in the expected format") from exc
    names: list[str] | None = None
    if isinstance(obj, dict):
        tensors = {str(k): k for k in obj if isinstance(obj[k], torch.Tensor)}  # keys may be ints
        key = _pick_key(path, list(tensors), spec.key, "tensor")
        for name_key in NAME_KEYS:
            value = obj.get(name_key)
            if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
                names = list(value)
        obj = obj[tensors[key]]
    elif spec.key is not None:
        raise OptionsError(f"--key {spec.key}: {path} holds a single tensor, not a dict")
    if not isinstance(obj, torch.Tensor):
        raise InputError(f"{path}: holds a {type(obj).__name__}, not a tensor of labels")
    return _TensorSource(path, obj.detach(), spec, names)
