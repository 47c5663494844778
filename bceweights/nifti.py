"""A NIfTI-1 / NIfTI-2 reader for label volumes: ``.nii`` and ``.nii.gz``, either byte order.

Made for counting: :func:`histogram` counts the voxel values while the file inflates, a cache-sized
slice at a time, so a volume is never held whole and every gzip member's CRC-32 and length are
checked (nibabel, which stops reading at the end of the data, never sees a corrupt byte's effect on
the trailer). :func:`read_array` returns the same array as nibabel's
``np.asanyarray(nib.load(path).dataobj)`` (values, dtype, shape, Fortran order), for the few volumes
the checks sample.

Differences from nibabel, all on files nibabel reads wrongly or refuses: a single-file header whose
``vox_offset`` is 0 is read from the end of the header (352 or 544 bytes, as NIfTI's reference C
library does; nibabel reads the header itself as voxels); header/image pairs (``.hdr``/``.img``), the
FreeSurfer large-vector shape hack and non-label datatypes (complex, RGB, float128) are refused.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from bceweights import inflate
from bceweights.errors import InputError
from bceweights.locations import open  # local paths and URLs alike
from bceweights.locations import size as _size_of

#: The largest class id a volume may hold: a bincount is an array of that many counts, and a larger
#: value is an instance id, a float volume or a corrupt file (same bound as the mask reader).
MAX_ID = 1 << 20

_HINT_FLOAT = "soft masks in [0, 1] are read with --mask-mode channels"
_HINT_LARGE = "for instance masks (one id per object) pass --mask-mode binary"

# NIfTI datatype codes a label volume can have; the others (complex, RGB, float128, binary) cannot.
_DTYPES = {2: "u1", 4: "i2", 8: "i4", 16: "f4", 64: "f8", 256: "i1", 512: "u2", 768: "u4", 1024: "i8",
           1280: "u8"}
_DTYPE_NAMES = {0: "none", 1: "binary", 32: "complex64", 128: "RGB24", 255: "all", 1536: "float128",
                1792: "complex128", 2048: "complex256", 2304: "RGBA32"}

# Equality passes that cost less than one bincount (which casts every value to int64 first), by item
# size: measured per element on 1 MiB slices, uint8 == and count_nonzero 0.05 ns vs bincount 1.3 ns,
# int64 0.12 ns vs 1.1 ns. Kept below the break-even point.
_EQ_PASSES = {1: 16, 2: 12, 4: 8, 8: 4}
# A slice with at most 1/8 non-zero values is compressed to those before a bincount.
_SPARSE = 8
# Elements per bincount call (its int64 copy stays cache-sized).
_BINCOUNT_SLICE = 1 << 18


@dataclass(frozen=True)
class NiftiHeader:
    """What a label reader needs from a NIfTI header.

    ``shape`` keeps trailing axes of length 1 as stored (``dim[1:dim[0] + 1]``); ``dtype`` is the
    stored dtype with its byte order; ``scl_slope`` / ``scl_inter`` follow nibabel: a slope of 0 or
    NaN (or infinite) means no scaling, given as 1.0 / 0.0.
    """

    path: str
    version: int
    shape: tuple[int, ...]
    dtype: np.dtype
    vox_offset: int
    scl_slope: float = 1.0
    scl_inter: float = 0.0
    compressed: bool = False

    @property
    def scaled(self) -> bool:
        """Whether values are ``stored * scl_slope + scl_inter`` (float64, as nibabel gives them)."""
        return (self.scl_slope, self.scl_inter) != (1.0, 0.0)

    @property
    def voxels(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes of voxel data the header promises."""
        return self.voxels * self.dtype.itemsize

    @property
    def value_dtype(self) -> np.dtype:
        """The dtype of the values as read: float64 when scaled, else the stored dtype."""
        return np.dtype(np.float64) if self.scaled else self.dtype


@dataclass
class VolumeHistogram:
    """The voxel values of one volume, counted.

    ``counts[v]`` is the number of voxels holding the whole value ``v >= 0`` (the array is as long
    as the largest such value + 1); ``negative`` maps each negative value to its count; ``nan``
    counts NaN voxels; ``above`` counts the voxels over ``max_id`` when they were counted rather
    than refused. ``voxels`` is the total of all of them.
    """

    header: NiftiHeader
    counts: np.ndarray
    negative: dict[int, int] = field(default_factory=dict)
    nan: int = 0
    above: int = 0

    @property
    def shape(self) -> tuple[int, ...]:
        return self.header.shape

    @property
    def voxels(self) -> int:
        return int(self.counts.sum()) + sum(self.negative.values()) + self.nan + self.above


# ------------------------------------------------------------------------------------------- header


def _read_prefix(path: str, size: int, backend: str | None) -> tuple[bytes, bool]:
    """The first ``size`` bytes of the (decompressed) file, and whether it is gzip."""
    try:
        gz = inflate.is_gzip(path)
        if not gz:
            with open(path, "rb") as fh:
                return fh.read(size), False
    except OSError as exc:
        raise InputError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
    head = bytearray()
    chunks = inflate.iter_decompressed(path, chunk_size=max(size, 4096), backend=backend)
    try:
        for chunk in chunks:
            head += chunk
            if len(head) >= size:
                break
    finally:
        chunks.close()
    return bytes(head[:size]), True


def _parse_header(path: str, head: bytes, compressed: bool) -> NiftiHeader:
    if len(head) < 348:
        raise InputError(f"{path}: not a NIfTI file (only {len(head)} bytes, a header has 348 or 540)")
    version = endian = None
    for order in "<>":
        size = struct.unpack_from(order + "i", head, 0)[0]
        if size in (348, 540):
            version, endian = (1 if size == 348 else 2), order
            break
    if version is None:
        raise InputError(f"{path}: not a NIfTI file (sizeof_hdr is "
                         f"{struct.unpack_from('<i', head, 0)[0]}, not 348 or 540)")
    if version == 2 and len(head) < 540:
        raise InputError(f"{path}: the NIfTI-2 header is cut short ({len(head)} of 540 bytes)")
    e = endian
    if version == 1:
        magic = head[344:348]
        dim = struct.unpack_from(e + "8h", head, 40)
        code = struct.unpack_from(e + "h", head, 70)[0]
        raw_offset = struct.unpack_from(e + "f", head, 108)[0]
        slope, inter = (float(v) for v in struct.unpack_from(e + "2f", head, 112))
        single, header_end = b"n+1\0", 352
    else:
        magic = head[4:8]
        eol = head[8:12]
        if eol not in (b"\r\n\x1a\n", b"\0\0\0\0"):
            raise InputError(f"{path}: the NIfTI-2 header's end-of-line check is damaged "
                             "(the file went through a text-mode conversion)")
        code = struct.unpack_from(e + "h", head, 12)[0]
        dim = struct.unpack_from(e + "8q", head, 16)
        raw_offset = struct.unpack_from(e + "q", head, 168)[0]
        slope, inter = struct.unpack_from(e + "2d", head, 176)
        single, header_end = b"n+2\0", 544
    if magic != single:
        if magic in (b"ni1\0", b"ni2\0"):
            raise InputError(f"{path}: the header of a NIfTI header/image pair (.hdr + .img); only "
                             "single-file .nii and .nii.gz are read",
                             hint="nibabel converts a pair: nib.save(nib.load('x.hdr'), 'x.nii.gz')")
        raise InputError(f"{path}: not a NIfTI file (magic {magic!r}, expected {single!r})")
    if code not in _DTYPES:
        name = _DTYPE_NAMES.get(code)
        if name is None:
            raise InputError(f"{path}: unknown NIfTI datatype code {code}")
        raise InputError(f"{path}: NIfTI datatype {code} ({name}) is not a label datatype "
                         "(integers, float32 or float64)")
    ndim = dim[0]
    if not 1 <= ndim <= 7:
        raise InputError(f"{path}: the NIfTI header's dim[0] is {ndim}, not a number of axes (1-7)")
    shape = tuple(int(d) for d in dim[1:ndim + 1])
    if any(d < 0 for d in shape):
        raise InputError(f"{path}: the NIfTI header gives a negative axis length {list(shape)}")
    if not math.isfinite(raw_offset):
        raise InputError(f"{path}: the NIfTI header's vox_offset is {raw_offset}")
    offset = int(raw_offset)
    if offset == 0:
        offset = header_end
    elif offset < header_end:
        raise InputError(f"{path}: the NIfTI header's vox_offset {offset} points inside the header "
                         f"(at least {header_end})")
    # nibabel: a slope of 0 or not finite means no scaling; then the intercept is not used either.
    if slope == 0 or not math.isfinite(slope):
        slope, inter = 1.0, 0.0
    elif not math.isfinite(inter):
        raise InputError(f"{path}: the NIfTI header has a scale slope {slope:g} but an intercept of {inter}")
    dtype = np.dtype(_DTYPES[code]).newbyteorder(e)
    return NiftiHeader(os.fspath(path), version, shape, dtype, offset, slope, inter, compressed)


def read_header(path: str | os.PathLike, *, backend: str | None = None) -> NiftiHeader:
    """The header of a ``.nii`` or ``.nii.gz`` file (gzip detected by content, not name).

    Only the start of a gzip file is inflated, so this checks neither the data's length nor the gzip
    trailer; :func:`histogram` and :func:`read_array` do. ``backend``: see
    :func:`bceweights.inflate.iter_decompressed`.
    """
    path = os.fspath(path)
    head, compressed = _read_prefix(path, 544, backend)
    return _parse_header(path, head, compressed)


# ------------------------------------------------------------------------------------------- stream


class _Cursor:
    """Byte-exact reads over an iterator of chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._view = memoryview(b"")
        self.position = 0

    def _fill(self) -> bool:
        while not self._view:
            try:
                self._view = memoryview(next(self._chunks))
            except StopIteration:
                return False
        return True

    def read(self, n: int) -> bytes:
        parts = []
        while n > 0 and self._fill():
            piece = self._view[:n]
            self._view = self._view[len(piece):]
            parts.append(bytes(piece))
            n -= len(piece)
            self.position += len(piece)
        return b"".join(parts)

    def skip(self, n: int) -> None:
        while n > 0 and self._fill():
            step = min(n, len(self._view))
            self._view = self._view[step:]
            n -= step
            self.position += step

    def pieces(self, n: int, itemsize: int) -> Iterator[memoryview | bytes]:
        """Up to ``n`` bytes, in pieces whose lengths are multiples of ``itemsize`` (a value split
        across two chunks comes as a piece of its own)."""
        carry = b""
        while n > 0 and self._fill():
            piece = self._view[:n]
            self._view = self._view[len(piece):]
            n -= len(piece)
            self.position += len(piece)
            if carry:
                need = itemsize - len(carry)
                carry += bytes(piece[:need])
                piece = piece[need:]
                if len(carry) < itemsize:
                    continue
                yield carry
                carry = b""
            cut = len(piece) - len(piece) % itemsize
            if cut:
                yield piece[:cut]
            if cut < len(piece):
                carry = bytes(piece[cut:])

    def drain(self) -> None:
        for _ in self._chunks:
            pass
        self._view = memoryview(b"")

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


def _plain_chunks(path: str, chunk_size: int) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk_size)
            if not block:
                return
            yield block


def _open(path: str, chunk_size: int = inflate.CHUNK_SIZE, backend: str | None = None
          ) -> tuple[NiftiHeader, _Cursor]:
    """The header, and a cursor at the first voxel byte."""
    try:
        compressed = inflate.is_gzip(path)
        size = _size_of(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
    chunks = (inflate.iter_decompressed(path, chunk_size=chunk_size, backend=backend) if compressed
              else _plain_chunks(path, chunk_size))
    cursor = _Cursor(chunks)
    try:
        head = cursor.read(348)
        if len(head) >= 4 and struct.unpack("<i", head[:4])[0] in (540, 0x1C020000):
            head += cursor.read(540 - 348)
        header = _parse_header(path, head, compressed)
        end = header.vox_offset + header.nbytes
        if not compressed and end > size:
            raise _short(header, max(0, size - header.vox_offset))
        # Deflate expands at most ~1032x: a promise beyond that is a damaged header, refused before
        # anything is allocated for it.
        if compressed and end > size * 1032 + 1024:
            raise InputError(f"{path}: the NIfTI header promises {header.nbytes:,} bytes of voxels "
                             f"{list(header.shape)} from byte {header.vox_offset}, more than the file holds")
        cursor.skip(header.vox_offset - cursor.position)
    except BaseException:
        cursor.close()
        raise
    return header, cursor


def _short(header: NiftiHeader, got: int) -> InputError:
    return InputError(f"{header.path}: the NIfTI data is shorter than its header promises "
                      f"({got:,} of {header.nbytes:,} bytes for {list(header.shape)} {header.dtype.name})",
                      hint="the file is truncated or its header damaged")


def _prefer_corruption(header: NiftiHeader, cursor: _Cursor, error: InputError) -> InputError:
    """A value error in a gzip volume may come from corrupt data: if the rest of the stream fails its
    check, that is the error to report."""
    if header.compressed:
        try:
            cursor.drain()
        except InputError as corrupt:
            return corrupt
    return error


# ------------------------------------------------------------------------------------------- counting


class _Counter:
    def __init__(self, path: str, max_id: int, count_large: bool) -> None:
        self.path, self.max_id, self.count_large = path, max_id, count_large
        self.counts = np.zeros(256, dtype=np.int64)
        self.top = -1  # the largest value counted
        self.zeros = 0
        self.negative: dict[int, int] = {}
        self.nan = 0
        self.above = 0

    def _too_large(self, value) -> InputError:
        return InputError(f"{self.path}: value {value} is too large for a class id", hint=_HINT_LARGE)

    def _grow(self, top: int) -> None:
        if top >= len(self.counts):
            grown = np.zeros(max(top + 1, 2 * len(self.counts)), dtype=np.int64)
            grown[:len(self.counts)] = self.counts
            self.counts = grown
        self.top = max(self.top, top)

    def ints(self, c: np.ndarray) -> None:
        """Count a 1-D native-endian integer slice."""
        if c.dtype.kind == "i" and c.size:
            low = int(c.min())
            if low < 0:
                if low < -self.max_id:
                    raise self._too_large(low)
                below = c < 0
                values, counts = np.unique(c[below], return_counts=True)
                for v, k in zip(values.tolist(), counts.tolist()):
                    self.negative[v] = self.negative.get(v, 0) + k
                c = c[~below]
        nonzero = int(np.count_nonzero(c))
        self.zeros += c.size - nonzero
        if not nonzero:
            return  # most slices of a segmentation volume: background only
        top = int(c.max())
        if top > self.max_id:
            if not self.count_large:
                raise self._too_large(top)
            large = c > self.max_id
            n_large = int(np.count_nonzero(large))
            self.above += n_large
            nonzero -= n_large
            if not nonzero:
                return
            c = c[~large]
            top = int(c.max())
        self._grow(top)
        if top - 1 <= _EQ_PASSES[c.dtype.itemsize]:
            rest = nonzero
            for v in range(1, top):
                k = int(np.count_nonzero(c == v))
                self.counts[v] += k
                rest -= k
            self.counts[top] += rest
            return
        if nonzero * _SPARSE <= c.size:
            c = c[c != 0]
        if c.dtype.kind == "u" and c.dtype.itemsize >= 4:
            c = c.astype(np.int64)  # bincount refuses uint64; the values are <= max_id here
        for start in range(0, c.size, _BINCOUNT_SLICE):
            part = np.bincount(c[start:start + _BINCOUNT_SLICE])
            part[0] = 0  # zeros are counted above
            self.counts[:len(part)] += part

    def floats(self, f: np.ndarray) -> None:
        """Count a 1-D native-endian float slice: NaN apart, every other value a whole number."""
        nan = np.isnan(f)
        n_nan = int(np.count_nonzero(nan))
        if n_nan:
            self.nan += n_nan
            f = f[~nan]
        with np.errstate(invalid="ignore"):  # inf and values past int64 cast to garbage, caught below
            whole = f.astype(np.int64)
        bad = whole != f
        if bad.any():
            value = float(f[bad][0])
            if math.isfinite(value) and value == math.floor(value):
                raise self._too_large(f"{value:g}")
            raise InputError(f"{self.path}: value {value:g} is not a class id (masks hold whole numbers)",
                             hint=_HINT_FLOAT)
        self.ints(whole)

    def result(self, header: NiftiHeader) -> VolumeHistogram:
        counts = self.counts[:self.top + 1].copy() if self.top >= 0 else np.zeros(1 if self.zeros else 0,
                                                                                  dtype=np.int64)
        if len(counts):
            counts[0] = self.zeros
        return VolumeHistogram(header, counts, dict(sorted(self.negative.items())), self.nan, self.above)


def histogram(path: str | os.PathLike, *, max_id: int = MAX_ID, large_ids: str = "error",
              chunk_size: int = inflate.CHUNK_SIZE, backend: str | None = None) -> VolumeHistogram:
    """Count the voxel values of a ``.nii`` / ``.nii.gz`` label volume while it is read.

    The values are those nibabel gives (scaled by ``scl_slope`` / ``scl_inter`` when the header asks
    for it); each must be a whole number (or NaN), else :class:`InputError` names the file and the
    value. A value above ``max_id`` is refused before anything is allocated for it
    (``large_ids="error"``) or counted in ``above`` (``large_ids="count"``, for binary masks of
    instance ids); so is a value below ``-max_id``. A gzip file is inflated to its end, so its CRC and
    length are checked even past the voxels. ``chunk_size`` bytes are counted at a time; ``backend``
    names the gzip backend (default: the fastest installed, :func:`bceweights.inflate.backend_name`).
    """
    if large_ids not in ("error", "count"):
        raise ValueError("large_ids must be 'error' or 'count'")
    path = os.fspath(path)
    header, cursor = _open(path, chunk_size, backend)
    counter = _Counter(path, max_id, large_ids == "count")
    stored = header.dtype
    native = stored.newbyteorder("=")
    floats = stored.kind == "f" or header.scaled
    got = 0
    try:
        try:
            for piece in cursor.pieces(header.nbytes, stored.itemsize):
                got += len(piece)
                values = np.frombuffer(piece, dtype=stored)
                if not stored.isnative:
                    values = values.astype(native)
                if header.scaled:
                    values = _scale(values, header)
                if floats:
                    counter.floats(values)
                else:
                    counter.ints(values)
            if got < header.nbytes:
                raise _short(header, got)
        except InputError as exc:
            raise _prefer_corruption(header, cursor, exc) from None
        if header.compressed:
            cursor.drain()
    finally:
        cursor.close()
    return counter.result(header)


def _scale(values: np.ndarray, header: NiftiHeader) -> np.ndarray:
    """``values * slope + inter`` in float64, one operation at a time, as nibabel's
    ``apply_read_scaling`` rounds it."""
    out = values.astype(np.float64)
    if header.scl_slope != 1.0:
        out *= header.scl_slope
    if header.scl_inter != 0.0:
        out += header.scl_inter
    return out


# ------------------------------------------------------------------------------------------- arrays


def read_array(path: str | os.PathLike, *, backend: str | None = None) -> np.ndarray:
    """The volume as nibabel's ``np.asanyarray(nib.load(path).dataobj)`` gives it: the stored dtype
    (byte order included) or float64 when scaled, the header's shape, Fortran order. For the few
    volumes the checks sample; counting goes through :func:`histogram`."""
    path = os.fspath(path)
    header, cursor = _open(path, backend=backend)
    buffer = bytearray(header.nbytes)
    view = memoryview(buffer)
    got = 0
    try:
        for piece in cursor.pieces(header.nbytes, 1):
            view[got:got + len(piece)] = piece
            got += len(piece)
        if got < header.nbytes:
            raise _prefer_corruption(header, cursor, _short(header, got))
        if header.compressed:
            cursor.drain()
    finally:
        cursor.close()
    array = np.ndarray(header.shape, dtype=header.dtype, buffer=buffer, order="F")
    return _scale(array, header) if header.scaled else array
