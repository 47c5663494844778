"""The NIfTI reader (bceweights.nifti) and the gzip inflater under it (bceweights.inflate): volumes
written by nibabel, compared with nibabel's array and a brute-force count; corrupt, truncated and
damaged files; every installed gzip backend and the zlib fallback."""

from __future__ import annotations

import collections
import gzip
import io
import re
import struct
import sys
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bceweights import inflate, nifti
from bceweights.errors import InputError

nib = pytest.importorskip("nibabel")

RNG = np.random.default_rng(17)
INT_DTYPES = ["uint8", "int8", "int16", "uint16", "int32", "uint32", "int64", "uint64"]
ALL_DTYPES = [*INT_DTYPES, "float32", "float64"]


# ------------------------------------------------------------------------------------------ helpers


def volume(dtype: str, shape=(5, 6, 7), rng=RNG) -> np.ndarray:
    """Label-like values: mostly 0, a few classes, negatives (void) for signed types, NaN for floats."""
    values = rng.choice([0, 0, 0, 1, 2, 3, 7, 12], size=shape)
    kind = np.dtype(dtype).kind
    if kind in "if":
        values = np.where(rng.random(shape) < 0.1, -1, values)
        values.flat[0] = -100
    arr = values.astype(dtype)
    if kind == "f":
        arr.flat[1] = np.nan
    return arr


def write(path: Path, arr: np.ndarray, *, version: int = 1, endian: str = "<", slope=None, inter=None) -> Path:
    """Save ``arr`` with nibabel (NIfTI-1 or -2, either byte order, optional scaling)."""
    header = (nib.Nifti1Header if version == 1 else nib.Nifti2Header)(endianness=endian)
    cls = nib.Nifti1Image if version == 1 else nib.Nifti2Image
    img = cls(arr, np.eye(4), header=header, dtype=arr.dtype)
    if slope is not None:
        img.header.set_slope_inter(slope, inter)
    nib.save(img, str(path))
    return path


def nibabel_array(path: Path) -> np.ndarray:
    return np.asanyarray(nib.load(str(path)).dataobj)


def brute_force(arr: np.ndarray):
    """(counts, negative, nan) counted one value at a time, in Python."""
    tally = collections.Counter()
    nan = 0
    for v in np.asarray(arr).ravel().tolist():
        if v != v:
            nan += 1
        else:
            tally[int(v)] += 1
    top = max((v for v in tally if v >= 0), default=-1)
    counts = np.array([tally.get(v, 0) for v in range(top + 1)], dtype=np.int64)
    negative = {v: k for v, k in sorted(tally.items()) if v < 0}
    return counts, negative, nan


def assert_histogram(hist: nifti.VolumeHistogram, arr: np.ndarray) -> None:
    counts, negative, nan = brute_force(arr)
    np.testing.assert_array_equal(hist.counts, counts)
    assert hist.negative == negative
    assert hist.nan == nan
    assert hist.above == 0
    assert hist.voxels == arr.size
    assert hist.shape == arr.shape


def assert_same_array(ours: np.ndarray, theirs: np.ndarray) -> None:
    assert type(ours) is np.ndarray
    assert ours.dtype == theirs.dtype
    assert ours.shape == theirs.shape
    assert ours.flags.f_contiguous and theirs.flags.f_contiguous
    np.testing.assert_array_equal(ours, theirs)  # NaN == NaN here


def gzip_members(data: bytes, cuts: list[int], padding: int = 0) -> bytes:
    """``data`` as several gzip members, split at ``cuts``, with zero padding after the last."""
    bounds = [0, *sorted(cuts), len(data)]
    return b"".join(gzip.compress(data[a:b]) for a, b in zip(bounds, bounds[1:])) + b"\0" * padding


@pytest.fixture
def kits_like(tmp_path) -> tuple[Path, np.ndarray]:
    """A small .nii.gz with the layout of a KiTS19 label volume (uint8, background, 2 classes)."""
    arr = np.zeros((40, 48, 32), dtype=np.uint8)
    arr[10:20, 5:30, 3:9] = 1
    arr[14:16, 8:12, 4:6] = 2
    return write(tmp_path / "seg.nii.gz", arr), arr


@pytest.fixture
def zlib_only(monkeypatch):
    """The backend chooser as it runs without zlib-ng and ISA-L installed."""
    monkeypatch.setitem(sys.modules, "zlib_ng", None)
    monkeypatch.setitem(sys.modules, "zlib_ng.zlib_ng", None)
    monkeypatch.setitem(sys.modules, "isal", None)
    monkeypatch.setitem(sys.modules, "isal.isal_zlib", None)
    inflate._choose.cache_clear()
    yield
    inflate._choose.cache_clear()


# ------------------------------------------------------------------------------------- nibabel equality


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("endian", ["<", ">"])
def test_every_dtype_matches_nibabel(tmp_path, dtype, suffix, version, endian):
    arr = volume(dtype)
    path = write(tmp_path / f"v{suffix}", arr, version=version, endian=endian)
    theirs = nibabel_array(path)
    if endian == ">" and arr.dtype.itemsize > 1:
        assert theirs.dtype.byteorder == ">"  # the file really is big-endian

    header = nifti.read_header(path)
    assert (header.version, header.shape, header.dtype) == (version, arr.shape, theirs.dtype)
    assert header.compressed == (suffix == ".nii.gz")
    assert not header.scaled
    assert_same_array(nifti.read_array(path), theirs)
    assert_histogram(nifti.histogram(path), theirs)


@pytest.mark.parametrize("dtype", ["int16", "float64", "uint16"])
@given(chunk=st.integers(1, 97), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_values_split_across_chunks(tmp_path, dtype, chunk, seed):
    """A value whose bytes straddle two inflated chunks is put together, not dropped or misread."""
    arr = volume(dtype, shape=(3, 4, 5), rng=np.random.default_rng(seed))
    path = write(tmp_path / "s.nii.gz", arr, endian=">" if seed % 2 else "<")
    assert_histogram(nifti.histogram(path, chunk_size=chunk), nibabel_array(path))


def test_trailing_axes_of_length_one_kept(tmp_path):
    arr = volume("uint8", shape=(4, 5, 6, 1))
    for name in ("4d.nii", "4d.nii.gz"):
        path = write(tmp_path / name, arr)
        assert nifti.read_header(path).shape == (4, 5, 6, 1)
        ours = nifti.read_array(path)
        assert ours.shape == (4, 5, 6, 1)
        assert_same_array(ours, nibabel_array(path))
        assert_histogram(nifti.histogram(path), arr)


@pytest.mark.parametrize("dtype", ["int16", "uint8", "float32"])
@pytest.mark.parametrize("version", [1, 2])
def test_scaled_volume_as_nibabel_scales_it(tmp_path, dtype, version):
    raw = volume(dtype)
    path = write(tmp_path / "scaled.nii.gz", raw, version=version, slope=2.0, inter=1.0)
    theirs = nibabel_array(path)
    assert theirs.dtype == np.float64  # nibabel scales in float64
    header = nifti.read_header(path)
    assert header.scaled and (header.scl_slope, header.scl_inter) == (2.0, 1.0)
    assert header.value_dtype == np.float64
    assert_same_array(nifti.read_array(path), theirs)
    assert_histogram(nifti.histogram(path), theirs)


@pytest.mark.parametrize("slope", [0.0, float("nan")])
def test_slope_zero_or_nan_means_no_scaling(tmp_path, slope):
    arr = volume("int16")
    path = write(tmp_path / "plain.nii", arr)
    data = bytearray(path.read_bytes())
    data[112:120] = struct.pack("<2f", slope, 5.0)  # scl_slope, scl_inter: the intercept is unused too
    path.write_bytes(bytes(data))
    theirs = nibabel_array(path)
    header = nifti.read_header(path)
    assert not header.scaled and (header.scl_slope, header.scl_inter) == (1.0, 0.0)
    assert_same_array(nifti.read_array(path), theirs)
    assert_histogram(nifti.histogram(path), arr)


def test_scaled_values_that_are_not_whole_are_refused(tmp_path):
    raw = np.array([[[0, 1, 2, 3]]], dtype=np.int16)
    path = write(tmp_path / "half.nii.gz", raw, slope=0.5, inter=0.0)
    np.testing.assert_array_equal(nifti.read_array(path), nibabel_array(path))  # 0, 0.5, 1, 1.5
    with pytest.raises(InputError, match=r"half\.nii\.gz: value 0\.5 is not a class id"):
        nifti.histogram(path)


def test_multi_member_gzip_and_zero_padding(tmp_path):
    arr = volume("int32", shape=(6, 7, 8))
    plain = write(tmp_path / "v.nii", arr).read_bytes()
    path = tmp_path / "members.nii.gz"
    # Cuts inside the header, at the data's first byte and in the middle of a value.
    path.write_bytes(gzip_members(plain, [100, 352, 1001, 1500], padding=5))
    theirs = nibabel_array(path)
    assert_same_array(nifti.read_array(path), theirs)
    assert_histogram(nifti.histogram(path), theirs)
    for backend in inflate.available_backends():
        assert b"".join(inflate.iter_decompressed(path, backend=backend, chunk_size=333)) == plain


def test_vox_offset_past_the_header_and_extensions(tmp_path):
    arr = volume("uint16")
    img = nib.Nifti1Image(arr, np.eye(4), dtype=arr.dtype)
    img.header.extensions.append(nib.nifti1.Nifti1Extension(6, b"a comment that moves the data" * 3))
    path = tmp_path / "ext.nii.gz"
    nib.save(img, str(path))
    header = nifti.read_header(path)
    assert header.vox_offset > 352
    assert_same_array(nifti.read_array(path), nibabel_array(path))
    assert_histogram(nifti.histogram(path), arr)


# ------------------------------------------------------------------------------------------ counting


def test_histogram_paths_match_bincount(tmp_path):
    """Each counting path (all background, few classes, sparse, dense many-valued) on one volume."""
    arr = np.zeros((64, 64, 64), dtype=np.uint16)
    arr[:, :, 8:16] = RNG.integers(0, 3, size=(64, 64, 8))  # a few classes: equality passes
    arr[:, :, 16:24] = RNG.integers(0, 300, size=(64, 64, 8))  # dense, many values: bincount
    arr[:, :, 24:32] = np.where(RNG.random((64, 64, 8)) < 0.05, RNG.integers(1, 5000, (64, 64, 8)), 0)
    path = write(tmp_path / "paths.nii.gz", arr)
    hist = nifti.histogram(path, chunk_size=64 * 64 * 2 * 4)  # four slices per chunk
    np.testing.assert_array_equal(hist.counts, np.bincount(arr.ravel()))


@pytest.mark.parametrize("dtype", ["int32", "uint64", "float64"])
def test_ids_over_the_bound_refused_or_counted(tmp_path, dtype):
    arr = np.array([[[0, 1, 5, 2_000_000, 2_000_000, 3]]], dtype=dtype)
    path = write(tmp_path / "big.nii", arr)
    with pytest.raises(InputError, match=r"big\.nii: value 2000000 is too large for a class id"):
        nifti.histogram(path)
    hist = nifti.histogram(path, large_ids="count")
    assert hist.above == 2
    np.testing.assert_array_equal(hist.counts, [1, 1, 0, 1, 0, 1])
    assert hist.voxels == arr.size


def test_negative_values_counted_by_value(tmp_path):
    arr = np.array([[[-1, -1, 0, 2, -100, -1]]], dtype=np.int16)
    hist = nifti.histogram(write(tmp_path / "neg.nii", arr))
    assert hist.negative == {-100: 1, -1: 3}
    np.testing.assert_array_equal(hist.counts, [1, 0, 1])
    with pytest.raises(InputError, match="too large"):
        nifti.histogram(write(tmp_path / "neg2.nii", np.array([[[-5_000_000, 0]]], dtype=np.int32)))


@pytest.mark.parametrize("value", [2.5, float("inf"), -float("inf"), 1e30])
def test_float_values_that_are_not_class_ids(tmp_path, value):
    arr = np.zeros((3, 3, 3), dtype=np.float32)
    arr[1, 2, 0] = value
    path = write(tmp_path / "soft.nii.gz", arr)
    with pytest.raises(InputError, match=r"soft\.nii\.gz: value .* (not a class id|too large)"):
        nifti.histogram(path)


def test_empty_volume(tmp_path):
    path = write(tmp_path / "empty.nii.gz", np.zeros((0, 4, 4), dtype=np.uint8))
    hist = nifti.histogram(path)
    assert hist.voxels == 0 and len(hist.counts) == 0
    assert nifti.read_array(path).shape == (0, 4, 4)


def test_histogram_never_holds_the_volume(tmp_path):
    """A 32 MB volume is counted with a few chunks in memory; reading it whole takes the 32 MB."""
    arr = np.zeros((512, 256, 256), dtype=np.uint8)
    arr[100:200, 100:200, 50:150] = 1
    arr[::7, ::5, ::3] = 2
    path = write(tmp_path / "big.nii.gz", arr)
    counts = np.bincount(arr.ravel())
    del arr
    tracemalloc.start()
    try:
        hist = nifti.histogram(path)
        _, streaming_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        nifti.read_array(path)
        _, whole_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(hist.counts, counts)
    assert streaming_peak < 12 * 2**20
    assert whole_peak > 32 * 2**20


# ------------------------------------------------------------------------------- corrupt and truncated


def test_corrupt_crc_trailer_is_caught_where_nibabel_is_not(kits_like):
    path, arr = kits_like
    data = bytearray(path.read_bytes())
    data[-8] ^= 0x01  # the CRC-32's first byte
    path.write_bytes(bytes(data))
    np.testing.assert_array_equal(nibabel_array(path), arr)  # nibabel never reaches the trailer
    for read in (nifti.histogram, nifti.read_array):
        with pytest.raises(InputError, match=r"seg\.nii\.gz: the gzip data is corrupt \(incorrect data check\)"):
            read(path)


def test_corruption_is_reported_before_the_value_it_made(tmp_path):
    """A damaged byte that turns a voxel into 2.5 is reported as the damage, not as a soft label."""
    arr = np.zeros((8, 8, 8), dtype=np.float32)
    arr[3, 3, 3] = 1
    original = write(tmp_path / "v.nii", arr).read_bytes()
    damaged = bytearray(original)
    at = 352 + 4 * (3 + 8 * 3 + 64 * 3)  # the voxel [3, 3, 3] in Fortran order
    assert struct.unpack_from("<f", damaged, at) == (1.0,)
    struct.pack_into("<f", damaged, at, 2.5)
    packed = bytearray(gzip.compress(bytes(damaged)))
    struct.pack_into("<I", packed, len(packed) - 8, zlib.crc32(original))  # the trailer of the original
    path = tmp_path / "flip.nii.gz"
    path.write_bytes(bytes(packed))
    with pytest.raises(InputError, match=r"flip\.nii\.gz: the gzip data is corrupt \(incorrect data check\)"):
        nifti.histogram(path, chunk_size=512)  # the value is met chunks before the trailer
    path.write_bytes(gzip.compress(bytes(damaged)))  # the same value, intact gzip: a value error
    with pytest.raises(InputError, match=r"flip\.nii\.gz: value 2\.5 is not a class id"):
        nifti.histogram(path, chunk_size=512)


def test_corrupt_byte_inside_the_deflate_stream(kits_like):
    path, _ = kits_like
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x5A
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"seg\.nii\.gz: the gzip data is (corrupt|truncated)"):
        nifti.histogram(path)


def test_corrupt_length_trailer(kits_like):
    path, _ = kits_like
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01  # ISIZE
    path.write_bytes(bytes(data))
    # zlib and zlib-ng say "length check"; ISA-L does not tell the CRC and the length apart.
    with pytest.raises(InputError, match=r"seg\.nii\.gz: the gzip data is corrupt \(incorrect (length|data) check\)"):
        nifti.histogram(path)


@pytest.mark.parametrize("keep", [0.3, 0.9, -4])
def test_truncated_gzip(kits_like, keep):
    path, _ = kits_like
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep) if keep > 0 else keep])
    for read in (nifti.histogram, nifti.read_array):
        with pytest.raises(InputError, match=r"seg\.nii\.gz: the gzip data is truncated"):
            read(path)


def test_garbage_after_the_last_member(kits_like):
    path, _ = kits_like
    path.write_bytes(path.read_bytes() + b"PK\x03\x04 appended")
    with pytest.raises(InputError, match=r"seg\.nii\.gz: the gzip data is corrupt \(data after the last member"):
        nifti.histogram(path)


@pytest.fixture(scope="module")
def fuzz_volume(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    arr = np.zeros((12, 10, 8), dtype=np.int16)
    arr[2:9, 3:7, 1:6] = 1
    arr[4:6, 4:6, 2:4] = 2
    arr[0, 0, :3] = -1
    path = write(folder / "fuzz.nii.gz", arr)
    return folder, path.read_bytes(), brute_force(arr)


@given(data=st.data())
@settings(max_examples=300, deadline=None)
def test_fuzz_flipped_bytes_give_exact_counts_or_input_error(fuzz_volume, data):
    folder, original, (counts, negative, nan) = fuzz_volume
    flips = data.draw(st.lists(st.tuples(st.integers(0, len(original) - 1), st.integers(1, 255)),
                               min_size=1, max_size=3))
    damaged = bytearray(original)
    for at, xor in flips:
        damaged[at] ^= xor
    path = folder / "damaged.nii.gz"
    path.write_bytes(bytes(damaged))
    try:
        hist = nifti.histogram(path)
    except InputError as exc:
        assert "damaged.nii.gz" in str(exc)
        assert "\n" not in str(exc)
        return
    # A flip the checks let through (the gzip header's MTIME or OS byte, a deflate bit whose change
    # does not change the output) has left the data intact.
    np.testing.assert_array_equal(hist.counts, counts)
    assert (hist.negative, hist.nan) == (negative, nan)


@given(cut=st.integers(0, 10_000))
@settings(max_examples=60, deadline=None)
def test_fuzz_any_truncation_is_an_input_error(fuzz_volume, cut):
    folder, original, _ = fuzz_volume
    path = folder / "cut.nii.gz"
    path.write_bytes(original[: cut % len(original)])
    with pytest.raises(InputError, match="cut.nii.gz"):
        nifti.histogram(path)


# ------------------------------------------------------------------------------------------ header errors


def _patched(tmp_path: Path, name: str, offset: int, fmt: str, value) -> Path:
    path = write(tmp_path / "ok.nii", volume("uint8"))
    data = bytearray(path.read_bytes())
    struct.pack_into(fmt, data, offset, value)
    out = tmp_path / name
    out.write_bytes(bytes(data))
    return out


@pytest.mark.parametrize("offset,fmt,value,message", [
    (0, "<i", 349, r"not a NIfTI file \(sizeof_hdr is 349"),
    (344, "4s", b"abc\0", r"not a NIfTI file \(magic"),
    (344, "4s", b"ni1\0", r"the header of a NIfTI header/image pair"),
    (70, "<h", 32, r"datatype 32 \(complex64\) is not a label datatype"),
    (70, "<h", 999, r"unknown NIfTI datatype code 999"),
    (40, "<h", 0, r"dim\[0\] is 0"),
    (40, "<h", 9, r"dim\[0\] is 9"),
    (42, "<h", -5, r"negative axis length"),
    (108, "<f", 100.0, r"vox_offset 100 points inside the header"),
    (112, "<2f", None, r"intercept of inf"),
])
def test_header_errors_name_the_file(tmp_path, offset, fmt, value, message):
    if value is None:  # a valid slope with an infinite intercept
        path = write(tmp_path / "ok.nii", volume("uint8"))
        data = bytearray(path.read_bytes())
        struct.pack_into(fmt, data, offset, 2.0, float("inf"))
        path = tmp_path / "bad.nii"
        path.write_bytes(bytes(data))
    else:
        path = _patched(tmp_path, "bad.nii", offset, fmt, value)
    for read in (nifti.read_header, nifti.histogram, nifti.read_array):
        with pytest.raises(InputError, match=r"bad\.nii: .*" + message):
            read(path)


def test_data_shorter_than_the_header_promises(tmp_path):
    path = write(tmp_path / "short.nii", volume("int16"))
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    gz = tmp_path / "short.nii.gz"
    gz.write_bytes(gzip.compress(data[:-10]))
    for p in (path, gz):
        for read in (nifti.histogram, nifti.read_array):
            with pytest.raises(InputError, match=r"short\.nii(\.gz)?: the NIfTI data is shorter than its header"):
                read(p)


def test_a_huge_promise_is_refused_before_allocating(tmp_path):
    path = tmp_path / "huge.nii.gz"
    data = bytearray(write(tmp_path / "ok.nii", volume("uint8")).read_bytes())
    struct.pack_into("<8h", data, 40, 4, 32000, 32000, 32000, 2000, 1, 1, 1)  # 65 PB of voxels
    path.write_bytes(gzip.compress(bytes(data)))
    for read in (nifti.histogram, nifti.read_array):
        with pytest.raises(InputError, match=r"huge\.nii\.gz: the NIfTI header promises .* more than the file holds"):
            read(path)


def test_missing_and_non_nifti_files(tmp_path):
    with pytest.raises(InputError, match=r"absent\.nii\.gz: cannot read the file"):
        nifti.histogram(tmp_path / "absent.nii.gz")
    text = tmp_path / "notes.nii"
    text.write_text("not a volume at all " * 30)
    with pytest.raises(InputError, match=r"notes\.nii: not a NIfTI file"):
        nifti.read_header(text)
    tiny = tmp_path / "tiny.nii.gz"
    tiny.write_bytes(gzip.compress(b"abc"))
    with pytest.raises(InputError, match=r"tiny\.nii\.gz: not a NIfTI file \(only 3 bytes"):
        nifti.histogram(tiny)


def test_zero_vox_offset_reads_after_the_header(tmp_path):
    """nibabel reads a single file with vox_offset 0 from byte 0 (the header as voxels); we start
    after the header, as NIfTI's reference library does."""
    path = _patched(tmp_path, "zero.nii", 108, "<f", 0.0)
    arr = nibabel_array(tmp_path / "ok.nii")
    assert nifti.read_header(path).vox_offset == 352
    np.testing.assert_array_equal(nifti.read_array(path), arr)
    assert not np.array_equal(nibabel_array(path), arr)


# ------------------------------------------------------------------------------------------ backends


@pytest.mark.parametrize("backend", inflate.available_backends())
def test_each_backend_inflates_and_checks(tmp_path, backend):
    payload = RNG.integers(0, 4, 300_000, dtype=np.uint8).tobytes() + bytes(200_000)
    path = tmp_path / "x.gz"
    path.write_bytes(gzip_members(payload, [7, 250_000]))
    assert b"".join(inflate.iter_decompressed(path, backend=backend)) == payload
    assert b"".join(inflate.iter_decompressed(path, backend=backend, chunk_size=4093)) == payload
    single = gzip.compress(payload)
    for damage, reason in ((-8, "corrupt (incorrect data check)"), (len(single) // 3, "corrupt")):
        data = bytearray(single)
        data[damage] ^= 0x10
        path.write_bytes(bytes(data))
        with pytest.raises(InputError, match=r"x\.gz: the gzip data is " + re.escape(reason)):
            b"".join(inflate.iter_decompressed(path, backend=backend))
    path.write_bytes(single[:-3])
    with pytest.raises(InputError, match=r"x\.gz: the gzip data is truncated"):
        b"".join(inflate.iter_decompressed(path, backend=backend))


@pytest.mark.parametrize("backend", inflate.available_backends())
def test_each_backend_counts_volumes_and_catches_corruption(kits_like, backend):
    path, arr = kits_like
    assert_histogram(nifti.histogram(path, backend=backend, chunk_size=5000), arr)
    assert_same_array(nifti.read_array(path, backend=backend), nibabel_array(path))
    data = bytearray(path.read_bytes())
    data[-6] ^= 0x20
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"seg\.nii\.gz: the gzip data is corrupt \(incorrect data check\)"):
        nifti.histogram(path, backend=backend)


def test_fastest_installed_backend_is_chosen():
    installed = inflate.available_backends()
    assert installed[-1] == "zlib"
    assert inflate.backend_name() == installed[0]


def test_zlib_fallback(zlib_only, kits_like):
    path, arr = kits_like
    assert inflate.available_backends() == ("zlib",)
    assert inflate.backend_name() == "zlib"
    assert_histogram(nifti.histogram(path), arr)
    data = bytearray(path.read_bytes())
    data[-7] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="incorrect data check"):
        nifti.histogram(path)


def test_unknown_backend_is_a_programming_error(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(b"x"))
    with pytest.raises(ValueError, match="unknown gzip backend"):
        list(inflate.iter_decompressed(path, backend="brotli"))


def test_not_gzip(tmp_path):
    path = tmp_path / "plain.gz"
    path.write_bytes(b"id,label\n1,0\n")
    assert not inflate.is_gzip(path)
    with pytest.raises(InputError, match=r"plain\.gz: not a gzip file"):
        list(inflate.iter_decompressed(path))
    path.write_bytes(b"")
    with pytest.raises(InputError, match=r"plain\.gz: the gzip data is truncated"):
        list(inflate.iter_decompressed(path))


def test_open_gzip_reads_text_and_checks_the_trailer(tmp_path):
    text = "".join(f"img{i},{i % 2},{i % 3}\n" for i in range(50_000))
    raw = text.encode()
    path = tmp_path / "labels.csv.gz"
    path.write_bytes(gzip_members(raw, [len(raw) // 2]))
    with inflate.open_gzip(path) as fh:
        assert fh.readline() == b"img0,0,0\n"
        assert io.TextIOWrapper(fh, encoding="utf-8").read() == text[len("img0,0,0\n"):]
    data = bytearray(gzip.compress(raw))
    data[-6] ^= 0x02
    path.write_bytes(bytes(data))
    with inflate.open_gzip(path) as fh, pytest.raises(InputError, match="labels.csv.gz: the gzip data is corrupt"):
        fh.read()


# ------------------------------------------------------------------------------------------ real data


KITS_SUBSET = ["case_00002", "case_00015", "case_00039", "case_00100"]  # 00015 and 00039 are uint16


@pytest.mark.realdata
def test_kits19_volumes_equal_nibabel(shared_data):
    folder = shared_data / "kits19_nifti" / "data"
    if not folder.is_dir():
        pytest.skip("kits19_nifti is not present")
    dtypes = set()
    for case in KITS_SUBSET:
        path = folder / case / "segmentation.nii.gz"
        theirs = nibabel_array(path)
        dtypes.add(theirs.dtype.name)
        hist = nifti.histogram(path)
        np.testing.assert_array_equal(hist.counts, np.bincount(theirs.ravel(order="K")))
        assert (hist.shape, hist.negative, hist.nan, hist.voxels) == (theirs.shape, {}, 0, theirs.size)
        if case == "case_00015":
            assert_same_array(nifti.read_array(path), theirs)
    assert dtypes == {"uint8", "uint16"}
