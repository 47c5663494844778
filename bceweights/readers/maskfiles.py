"""Decoding mask files: PNG, TIFF, ``.npy`` and NIfTI into arrays of their raw values, and the shortcut
for the commonest mask, an 8-bit PNG, whose histogram Pillow takes where it decodes.

Values are never mapped: PNG palette ("P") images are read as their indices, never as colours; 8- and
16-bit PNG and TIFF (compressed too) keep their dtype; a 1-bit PNG is 0/1. Every third-party decode call
runs inside :func:`_decoding` (:func:`bceweights.errors.reader_boundary`, and the built-in exceptions
the image parsers also fall over with on damaged bytes), so a broken file is one "cannot read FILE" line.

NIfTI is read by :mod:`bceweights.nifti` (no nibabel): counting histograms a volume while it inflates
(:func:`file_histogram`), a cache-sized slice at a time, so a volume is never held whole and every gzip
member's CRC-32 and length are checked (a corrupt byte is an error naming the file, never a new
class); the checks' few sampled volumes are decoded whole by :func:`read_nifti`.

TIFF: every page is counted, or the file is refused. A stack of same-shaped pages is one series, read
as a ``[D, H, W]`` volume; a file of several series (pages of different shapes), or whose series leave
pages out (thumbnails, reduced resolutions), is refused rather than counted in part.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import PARSER_ERRORS, InputError, reader_boundary, require
from ..locations import load_npy, source
from ..maskmath import MAX_DENSE_VALUE, MaskValueError

#: The mask formats, as ``--format`` names them (``npy-mask`` reads as ``npy``).
FORMATS = ("png", "tiff", "nifti", "npy")

_WHAT = {"png": "the PNG mask", "tiff": "the TIFF mask", "nifti": "the NIfTI mask", "npy": "the NPY mask"}
_INDEX_MODES = {"P", "L", "1", "I", "I;16", "I;16B", "I;16L", "I;16N"}
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "png"), (b"II*\x00", "tiff"), (b"MM\x00*", "tiff"), (b"II+\x00", "tiff"),
          (b"MM\x00+", "tiff"), (b"\x93NUMPY", "npy"))


def mask_format(path: Path, explicit: str | None = None) -> str:
    """Which decoder reads ``path``: ``--format`` when it names a mask format, else the extension, else
    the content."""
    fmt = (explicit or "").lower()
    if fmt in FORMATS or fmt == "npy-mask":
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
    sniffed = sniff(_head(path))
    if sniffed is not None:
        return sniffed
    raise InputError(f"{path}: not a mask file (PNG, TIFF, .npy or NIfTI)", hint="pass --format png|tiff|nifti")


def sniff(head: bytes) -> str | None:
    """The mask format whose magic number starts ``head`` (inflated when gzip), or None."""
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    if is_nifti(head):
        return "nifti"
    return None


def is_nifti(head: bytes) -> bool:
    """A NIfTI-1 (``n+1`` / ``ni1`` at byte 344) or NIfTI-2 (``n+2`` / ``ni2`` at byte 4) header."""
    return head[344:348] in (b"n+1\x00", b"ni1\x00") or head[4:8] in (b"n+2\x00", b"ni2\x00")


def _head(path: Path) -> bytes:
    from . import head

    return head(path)


def read_mask(path: Path, fmt: str) -> np.ndarray:
    """Decode one mask file into an array of its raw values (no class mapping, no copy beyond the
    decoder's own): ``[H, W]`` or ``[D, H, W]`` (``[C, ...]`` for channel masks)."""
    with _decoding(path, _WHAT[fmt]):
        if fmt == "png":
            return _read_png(path)
        if fmt == "tiff":
            return _read_tiff(path)
        if fmt == "nifti":
            return read_nifti(path)
        arr = load_npy(path, ranged=False)
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{path}: holds {arr.dtype} values, not a mask")
    return arr


def _decoding(path: Path, what: str):
    """The reader boundary for an image decoder: tifffile and Pillow also fall over with built-in
    exceptions on damaged bytes (an IFD offset past the end: IndexError)."""
    return reader_boundary(path, what, also=PARSER_ERRORS)


def _quiet(name: str):
    """Silence a library's logger while it reads: tifffile logs its complaints about a damaged file on
    stderr, besides raising; the error that follows says it in one line."""
    import contextlib
    import logging

    @contextlib.contextmanager
    def quiet():
        logger = logging.getLogger(name)
        level = logger.level
        logger.setLevel(logging.CRITICAL + 1)
        try:
            yield
        finally:
            logger.setLevel(level)

    return quiet()


def _pixels(im) -> np.ndarray:
    # A 1-bit image comes out of Pillow as a bool array holding the bytes 0 and 255: cast, do not view.
    arr = np.asarray(im)
    return arr.astype(np.uint8) if arr.dtype == np.bool_ else arr


def _read_png(path: Path) -> np.ndarray:
    Image = require("PIL.Image", feature="PNG masks", extra="images", package="pillow")
    with Image.open(source(path)) as im:
        if im.mode not in _INDEX_MODES:
            raise InputError(
                f"{path}: a colour ({im.mode}) image, not a mask of class ids",
                hint="save masks as palette (P) or grayscale PNGs whose values are class ids",
            )
        # For "P" this is the palette index of each pixel, never its colour.
        return _pixels(im)


def _read_tiff(path: Path) -> np.ndarray:
    try:
        import tifffile
    except ImportError:
        tifffile = None
    if tifffile is None:
        Image = require("PIL.Image", feature="TIFF masks", extra="images", package="tifffile")
        with Image.open(source(path)) as im:
            if im.mode not in _INDEX_MODES:
                raise InputError(f"{path}: a colour ({im.mode}) TIFF, not a mask of class ids")
            if getattr(im, "n_frames", 1) > 1:
                raise InputError(f"{path}: a TIFF of {im.n_frames} pages; save one mask per file",
                                 hint="pip install tifffile to read a page stack as one volume")
            return _pixels(im)
    with _quiet("tifffile"), tifffile.TiffFile(source(path)) as tif:
        page = tif.pages[0]
        if getattr(page, "samplesperpixel", 1) > 1:
            raise InputError(f"{path}: a TIFF with {page.samplesperpixel} samples per pixel (colour), "
                             "not a mask of class ids")
        if len(tif.series) > 1:
            # Only the first would be counted: refuse rather than count part of the file.
            shapes = ", ".join(str(list(x.shape)) for x in tif.series[:4]) + (" ..." if len(tif.series) > 4 else "")
            raise InputError(f"{path}: a TIFF of {len(tif.series)} separate images ({shapes}); only one image "
                             "(or one stack of pages) per file is read", hint="save one mask per file")
        series = tif.series[0]
        covered = len(series.pages)
        if covered < len(tif.pages):
            raise InputError(f"{path}: a TIFF of {len(tif.pages)} pages whose image uses {covered} "
                             "(the others are thumbnails, reduced resolutions or of another kind); save one "
                             "mask per file")
        return series.asarray()


def read_nifti(path: Path) -> np.ndarray:
    """A whole NIfTI volume as nibabel gives it (the stored dtype, or float64 when the header scales
    it; Fortran order), every gzip member's CRC checked: for the checks' sample and channel masks;
    counting index and binary masks goes through :func:`file_histogram`. A URL is streamed."""
    from .. import nifti

    return nifti.read_array(path)


@dataclass
class FileHistogram:
    """A mask's value histogram (see ``maskmath.histogram``) taken without an array of the mask: its
    void pixels outside the histogram and its shape."""

    hist: np.ndarray
    void_other: int
    shape: tuple[int, ...]

    @property
    def pixels(self) -> int:
        return int(np.prod(self.shape))


def file_histogram(path: Path, fmt: str, ignore: frozenset[int] = frozenset(), *,
                   binary: bool = False) -> FileHistogram | None:
    """The histogram of a mask where the decoder takes it without handing over an array, or None to
    decode the mask instead: 8-bit grayscale and palette PNGs (Pillow counts while it decodes: no array
    copy, no ``np.bincount``, about half the cost per mask) and NIfTI volumes (counted while they
    inflate, see :func:`nifti_histogram`). ``ignore`` and ``binary`` as for
    :func:`bceweights.maskmath.histogram`, whose result this equals."""
    if fmt == "nifti":
        return nifti_histogram(path, ignore, binary=binary)
    if fmt != "png":
        return None
    Image = require("PIL.Image", feature="PNG masks", extra="images", package="pillow")
    with _decoding(path, _WHAT[fmt]), Image.open(source(path)) as im:
        if im.mode not in ("L", "P"):
            return None
        # For "P" these are the counts of palette indices, never of colours.
        hist = np.array(im.histogram(), dtype=np.int64)
        width, height = im.size
    return FileHistogram(hist, 0, (height, width))


def nifti_histogram(path: Path, ignore: frozenset[int] = frozenset(), *, binary: bool = False) -> FileHistogram | None:
    """:func:`bceweights.maskmath.histogram` of a NIfTI volume, counted while it inflates
    (:func:`bceweights.nifti.histogram`): the same ``(hist, void_other)`` and the same refusals, raised
    as :class:`~bceweights.maskmath.MaskValueError` (negative ids) or :class:`InputError` naming the
    file (fractions, ids too large, a corrupt or truncated file). None (decode the volume instead) when
    an ignore value is above ``MAX_DENSE_VALUE``, which the streaming count cannot tell apart."""
    from .. import nifti

    if any(abs(v) > MAX_DENSE_VALUE for v in ignore):
        return None
    with reader_boundary(path, _WHAT["nifti"]):
        found = nifti.histogram(path, max_id=MAX_DENSE_VALUE, large_ids="count" if binary else "error")
    unknown = [v for v in found.negative if v not in ignore]
    if unknown:
        raise MaskValueError("negative", unknown[0])
    hist = found.counts
    if found.above:
        # Binary masks of instance ids: as maskmath folds them, every value but 0 and the ignored ones
        # becomes foreground (1), so both paths hand over the same histogram.
        kept = [0, *(v for v in ignore if 0 <= v < len(hist))]
        folded = np.zeros(max(len(hist), 2), dtype=np.int64)
        folded[kept] = hist[kept]
        folded[1] += int(hist.sum()) - int(hist[kept].sum()) + found.above
        hist = np.trim_zeros(folded, "b")
    if len(hist) < 256 and found.header.value_dtype.itemsize == 1:
        hist = np.concatenate([hist, np.zeros(256 - len(hist), dtype=np.int64)])  # as bincount's minlength
    return FileHistogram(hist, sum(found.negative.values()) + found.nan, tuple(found.shape))


def spatial_shape(path: Path, shape: tuple[int, ...], channels: bool) -> tuple[int, ...]:
    """``shape`` without trailing axes of length 1 (a NIfTI 4th axis, ``[H, W, 1]``), its rank checked:
    ``[H, W]`` or ``[D, H, W]``; ``[C, H, W]`` or ``[C, D, H, W]`` for channel masks."""
    shape = tuple(shape)
    while len(shape) > (4 if channels else 3) and shape[-1] == 1:
        shape = shape[:-1]
    if channels:
        if len(shape) not in (3, 4):
            raise InputError(
                f"{path}: a {len(shape)}-D array {list(shape)}; channel masks are [C, H, W] or [C, D, H, W]"
            )
        return shape
    if len(shape) == 3 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) not in (2, 3):
        raise InputError(
            f"{path}: a {len(shape)}-D array {list(shape)}; masks are [H, W] images or [D, H, W] volumes",
            hint="for [C, H, W] channel masks pass --mask-mode channels",
        )
    return shape


def spatial(path: Path, arr: np.ndarray, channels: bool) -> np.ndarray:
    """``arr`` as its :func:`spatial_shape` (a view)."""
    shape = spatial_shape(path, arr.shape, channels)
    while arr.ndim > len(shape):
        arr = arr[..., 0]
    return arr
