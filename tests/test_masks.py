"""Segmentation masks: every format and mode against an independent NumPy count, on small fixtures made
here and on the real masks in ../shared/data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from bceweights import api, maskmath, readers
from bceweights.errors import BceWeightsError, InputError, OptionsError
from bceweights.readers import maskfiles
from bceweights.readers.base import Partition
from bceweights.spec import InputSpec
from bceweights.weights import compute_weights

RNG = np.random.default_rng(7)


# ------------------------------------------------------------------------------------------ helpers


def reference(arrays, num_classes, ignore=()):
    """Independent per-class counts of index masks (one comparison per class, not the reader's
    histogram): pos, neg, ignored, image_count, pixels."""
    pos = np.zeros(num_classes)
    images = np.zeros(num_classes, dtype=np.int64)
    void = pixels = 0
    for m in arrays:
        m = np.asarray(m)
        pixels += m.size
        void += sum(int(np.count_nonzero(m == v)) for v in ignore)
        for c in range(num_classes):
            if c not in ignore:
                hit = int(np.count_nonzero(m == c))
                pos[c] += hit
                images[c] += hit > 0
    return pos, pixels - void - pos, void, images, pixels


def binary_reference(arrays, ignore=()):
    fg = bg = void = images = 0
    for m in arrays:
        m = np.asarray(m).astype(np.int64)
        bad = np.isin(m, list(ignore))
        fg += int(((m != 0) & ~bad).sum())
        bg += int(((m == 0) & ~bad).sum())
        void += int(bad.sum())
        images += bool(((m != 0) & ~bad).any())
    return fg, bg, void, images


def assert_index_counts(counts, arrays, num_classes, ignore=()):
    pos, neg, void, images, pixels = reference(arrays, num_classes, ignore)
    assert counts.classes == [str(i) for i in range(num_classes)]
    np.testing.assert_array_equal(counts.pos, pos)
    np.testing.assert_array_equal(counts.neg, neg)
    np.testing.assert_array_equal(counts.ignored, np.full(num_classes, void))
    np.testing.assert_array_equal(counts.image_count, images)
    assert counts.pixels == pixels
    assert counts.samples == len(arrays)


def save_palette_png(path: Path, m: np.ndarray) -> None:
    im = Image.fromarray(m.astype(np.uint8), mode="P")
    palette = (np.arange(256 * 3) % 256).astype(np.uint8).tolist()
    im.putpalette(palette)
    im.save(path)


def index_masks(n=5, shape=(23, 31), values=(0, 1, 2, 3, 255), p=None):
    return [RNG.choice(values, size=shape, p=p).astype(np.uint8) for _ in range(n)]


@pytest.fixture
def palette_dir(tmp_path):
    arrays = index_masks()
    arrays[2][:] = 0  # a mask with the background only
    for i, m in enumerate(arrays):
        save_palette_png(tmp_path / f"m{i:02d}.png", m)
    assert Image.open(tmp_path / "m00.png").mode == "P"
    return tmp_path, arrays


# ----------------------------------------------------------------------------------------- formats


def test_palette_png_read_as_indices_with_ignore(palette_dir):
    folder, arrays = palette_dir
    counts = api.count(folder, ignore_index=(255,), workers=1)
    assert_index_counts(counts, arrays, 4, ignore=(255,))
    assert counts.spatial_ndim == 2
    assert any("mask mode: index (auto)" in n for n in counts.notes)
    assert any("ignored pixels" in n for n in counts.notes)


def test_auto_reads_255_above_a_gap_as_void_and_says_so(palette_dir):
    folder, arrays = palette_dir
    counts = api.count(folder, workers=1)
    assert_index_counts(counts, arrays, 4, ignore=(255,))
    assert any("255 is read as void" in n for n in counts.notes)


def test_explicit_index_counts_255_as_a_class(palette_dir):
    folder, arrays = palette_dir
    counts = api.count(folder, mask_mode="index", workers=1)
    assert_index_counts(counts, arrays, 256)
    assert counts.notes[0] == "mask mode: index (--mask-mode index)"


def test_num_classes_and_out_of_range_value_names_the_file(palette_dir):
    folder, arrays = palette_dir
    counts = api.count(folder, ignore_index=(255,), num_classes=6, workers=1)
    assert_index_counts(counts, arrays, 6, ignore=(255,))
    with pytest.raises(InputError, match=r"m00\.png: value 3 is not a class id below --num-classes 3"):
        api.count(folder, ignore_index=(255,), num_classes=3, workers=1)


def test_only_0_and_255_is_binary_foreground_not_void(tmp_path):
    arrays = index_masks(4, values=(0, 255))
    arrays.append(np.zeros((23, 31), np.uint8))
    for i, m in enumerate(arrays):
        Image.fromarray(m, mode="L").save(tmp_path / f"{i}.png")
    counts = api.count(tmp_path, workers=1)
    fg, bg, void, images = binary_reference(arrays)
    assert counts.classes == ["foreground"]
    assert (counts.pos[0], counts.neg[0], counts.ignored[0]) == (fg, bg, 0)
    assert counts.image_count.tolist() == [images] == [4]
    assert counts.no_positive == 1
    assert "255 is read as the foreground" in counts.notes[0]


def test_16bit_png_and_compressed_16bit_tiff(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    arrays = [RNG.choice([0, 7, 300, 1000], size=(17, 19)).astype(np.uint16) for _ in range(4)]
    Image.fromarray(arrays[0]).save(tmp_path / "a.png")
    assert maskfiles.read_mask(tmp_path / "a.png", "png").dtype == np.uint16
    tifffile.imwrite(tmp_path / "b.tif", arrays[1], compression="zlib")
    tifffile.imwrite(tmp_path / "c.tiff", arrays[2], compression="lzw")
    tifffile.imwrite(tmp_path / "d.tif", arrays[3])
    counts = api.count(tmp_path, workers=1, num_classes=1001)
    assert_index_counts(counts, arrays, 1001)
    binary = api.count(tmp_path, mask_mode="binary", workers=1)
    fg, bg, _, images = binary_reference(arrays)
    assert (binary.pos[0], binary.neg[0], binary.image_count[0]) == (fg, bg, images)
    auto = api.count(tmp_path, workers=1)
    assert auto.num_classes == 1001
    assert any("never seen" in n and "--mask-mode binary" in n for n in auto.notes)


def test_nifti_volume_is_3d(tmp_path):
    nib = pytest.importorskip("nibabel")
    vols = [RNG.choice([0, 1, 2], size=(6, 9, 5), p=[0.8, 0.15, 0.05]).astype(np.uint8) for _ in range(2)]
    nib.save(nib.Nifti1Image(vols[0], np.eye(4)), str(tmp_path / "a.nii.gz"))
    nib.save(nib.Nifti1Image(vols[1].astype(np.uint16), np.eye(4)), str(tmp_path / "b.nii"))
    counts = api.count(tmp_path, workers=1)
    assert_index_counts(counts, vols, 3)
    assert counts.spatial_ndim == 3


_NIFTI_CODES = {"uint8": 2, "int16": 4, "int32": 8, "float32": 16, "float64": 64, "int8": 256, "uint16": 512}


def write_nifti(path: Path, arr: np.ndarray, *, slope: float = 0.0, inter: float = 0.0) -> Path:
    """A single-file NIfTI-1 written by hand (no nibabel): the 348-byte header, 4 bytes of extension
    flag, the voxels in Fortran order; gzip when the name ends in .gz."""
    import gzip
    import struct

    header = bytearray(348)
    struct.pack_into("<i", header, 0, 348)
    struct.pack_into("<8h", header, 40, arr.ndim, *arr.shape, *([1] * (7 - arr.ndim)))
    struct.pack_into("<hh", header, 70, _NIFTI_CODES[arr.dtype.name], arr.dtype.itemsize * 8)
    struct.pack_into("<8f", header, 76, 1, 1, 1, 1, 1, 1, 1, 1)
    struct.pack_into("<3f", header, 108, 352.0, slope, inter)
    header[344:348] = b"n+1\0"
    data = bytes(header) + bytes(4) + np.asarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes(order="F")
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def test_a_nifti_whose_crc_fails_is_refused_not_counted(tmp_path, cli):
    # A corrupt byte that inflates to class 9: nibabel stops before the gzip trailer and counted it.
    import gzip

    vol = RNG.choice([0, 1, 2], size=(6, 7, 5), p=[0.8, 0.15, 0.05]).astype(np.uint8)
    good = write_nifti(tmp_path / "good.nii.gz", vol).read_bytes()
    bad = vol.copy()
    bad[3, 3, 3] = 9
    damaged = bytearray(gzip.compress(gzip.decompress(write_nifti(tmp_path / "b.nii.gz", bad).read_bytes())))
    damaged[-8:-4] = good[-8:-4]  # the trailer of the intact volume: its CRC-32 no longer matches
    (tmp_path / "b.nii.gz").write_bytes(bytes(damaged))
    # What a reader that stops at the end of the voxels sees (nibabel): the volume with class 9.
    with gzip.open(tmp_path / "b.nii.gz") as fh:
        seen = fh.read(352 + bad.size)[352:]
    assert 9 in np.frombuffer(seen, np.uint8)
    result = cli("compute", tmp_path / "b.nii.gz", "-o", tmp_path / "w.pt")
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: {tmp_path / 'b.nii.gz'}: the gzip data is corrupt (incorrect data check)")
    assert not (tmp_path / "w.pt").exists()
    assert_index_counts(api.count(tmp_path / "good.nii.gz", workers=1), [vol], 3)


def test_nifti_masks_are_counted_and_sampled_without_nibabel(tmp_path, cli, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "nibabel", None)  # any import of it fails
    vols = [RNG.choice([0, 1, 2, 255], size=(5, 8, 6), p=[0.7, 0.15, 0.1, 0.05]).astype(np.uint8) for _ in range(2)]
    write_nifti(tmp_path / "a.nii.gz", vols[0])
    write_nifti(tmp_path / "b.nii", vols[1].astype(np.int16))
    counts = api.count(tmp_path, workers=1)  # auto: 255 above a gap is void
    assert_index_counts(counts, vols, 3, ignore=(255,))
    binary = api.count(tmp_path, workers=1, mask_mode="binary", ignore_index=(255,))
    fg, bg, void, images = binary_reference(vols, ignore=(255,))
    assert (binary.pos[0], binary.neg[0], binary.ignored[0], binary.image_count[0]) == (fg, bg, void, images)
    result = cli("compute", tmp_path, "--workers", "1", "-o", tmp_path / "w.pt")
    assert result.exit_code == 0 and result.stdout.count("PASS  ") == 4, result.stderr


def test_nifti_values_the_rules_refuse_name_the_file(tmp_path):
    neg = np.zeros((3, 4, 5), np.int16)
    neg[1, 1, 1] = -3
    write_nifti(tmp_path / "n.nii.gz", neg)
    with pytest.raises(InputError, match=r"n\.nii\.gz: negative value -3 in the mask"):
        api.count(tmp_path / "n.nii.gz", workers=1)
    voided = api.count(tmp_path / "n.nii.gz", workers=1, ignore_index=(-3,), mask_mode="index")
    assert voided.pos.tolist() == [59] and voided.ignored.tolist() == [1]
    large = np.zeros((3, 4, 5), np.int32)
    large[0, 0, 0] = 5_000_000
    write_nifti(tmp_path / "l.nii", large)
    with pytest.raises(InputError, match=r"l\.nii: value 5000000 is too large for a class id"):
        api.count(tmp_path / "l.nii", workers=1)
    instances = api.count(tmp_path / "l.nii", workers=1, mask_mode="binary")
    assert (instances.pos[0], instances.neg[0]) == (1, 59)
    soft = np.zeros((3, 4, 5), np.float32)
    soft[2, 2, 2] = 0.5
    write_nifti(tmp_path / "s.nii.gz", soft)
    with pytest.raises(InputError, match=r"s\.nii\.gz: value 0\.5 is not a class id"):
        api.count(tmp_path / "s.nii.gz", workers=1)


def test_a_damaged_tiff_is_one_line_without_tifffiles_log(tmp_path, cli):
    # Found by the fuzz test: 'II*' flipped to BigTIFF's 'II+' made tifffile raise IndexError (a
    # traceback) after logging "invalid offset to first page" on stderr.
    Image.fromarray(np.array([[2]], np.uint8)).save(tmp_path / "m.tif")
    data = bytearray((tmp_path / "m.tif").read_bytes())
    data[2] = ord("+")
    (tmp_path / "m.tif").write_bytes(bytes(data))
    result = cli("compute", tmp_path / "m.tif", "--mask-mode", "index", "--workers", "1", "-o", tmp_path / "w.pt")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {tmp_path / 'm.tif'}: cannot read the TIFF mask ("), lines


def test_npy_masks_need_an_explicit_mode(tmp_path, cli):
    arrays = index_masks(3, values=(0, 1, 4))
    for i, m in enumerate(arrays):
        np.save(tmp_path / f"{i}.npy", m)
    counts = api.count(tmp_path, mask_mode="index", workers=1)
    assert_index_counts(counts, arrays, 5)
    # without --mask-mode, .npy files are multi-hot arrays: class ids 4 are not labels
    result = cli("compute", tmp_path, "-o", tmp_path / "w.pt")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error:") and "pass --mask-mode index" in result.stderr


def test_channels_mode_with_ignored_values(tmp_path):
    arrays = [RNG.choice([0, 1, 255], size=(3, 8, 10), p=[0.6, 0.3, 0.1]).astype(np.uint8) for _ in range(3)]
    arrays[1][2] = 0  # channel 2 absent from mask 1
    for i, m in enumerate(arrays):
        np.save(tmp_path / f"{i}.npy", m)
    counts = api.count(tmp_path, mask_mode="channels", ignore_index=(255,), workers=1)
    stack = np.stack(arrays)
    pos = (stack == 1).sum(axis=(0, 2, 3))
    ign = (stack == 255).sum(axis=(0, 2, 3))
    neg = (stack == 0).sum(axis=(0, 2, 3))
    np.testing.assert_array_equal(counts.pos, pos)
    np.testing.assert_array_equal(counts.neg, neg)
    np.testing.assert_array_equal(counts.ignored, ign)
    np.testing.assert_array_equal(counts.image_count, (stack == 1).any(axis=(2, 3)).sum(axis=0))
    assert counts.pixels == 3 * 8 * 10 and counts.spatial_ndim == 2
    with pytest.raises(InputError, match="channel masks hold 0/1"):
        api.count(tmp_path, mask_mode="channels", workers=1)


def test_soft_float_channels_and_nan(tmp_path):
    y = RNG.random((2, 4, 5)).astype(np.float32)
    y[0, 0, 0] = np.nan
    np.save(tmp_path / "a.npy", y)
    counts = api.count(tmp_path / "a.npy", mask_mode="channels", workers=1)
    np.testing.assert_allclose(counts.pos, np.nansum(y, axis=(1, 2)), rtol=1e-6)
    np.testing.assert_allclose(counts.neg, np.nansum(1 - y, axis=(1, 2)), rtol=1e-6)
    assert counts.ignored.tolist() == [1, 0]


# ------------------------------------------------------------------------------------- properties


@settings(max_examples=40, deadline=None)
@given(
    masks_=st.lists(st.lists(st.integers(0, 6), min_size=12, max_size=12), min_size=1, max_size=4),
    ignore=st.sets(st.integers(0, 6), max_size=2),
)
def test_scan_equals_brute_force(masks_, ignore):
    arrays = [np.array(m, dtype=np.uint8).reshape(3, 4) for m in masks_]
    rules = maskmath.Rules("index", tuple(sorted(ignore)), 7)
    scan = maskmath.MaskScan()
    for i, m in enumerate(arrays):
        hist, extra = maskmath.histogram(m, frozenset(ignore))
        scan.merge(maskmath.scan_histograms(hist, [m.size], [extra], ndim=2, rules=rules, first=str(i)))
    counts, _ = maskmath.to_counts(scan, rules)
    pos, neg, void, images, _ = reference(arrays, 7, ignore)
    np.testing.assert_array_equal(counts.pos, pos)
    np.testing.assert_array_equal(counts.neg, neg)
    np.testing.assert_array_equal(counts.image_count, images)
    assert counts.ignored[0] == void
    valid = [m.size - int(np.isin(m, list(ignore)).sum()) for m in arrays]
    want = [0 if c in ignore else sum(v for m, v in zip(arrays, valid) if (m == c).any()) for c in range(7)]
    assert counts.image_pixels.tolist() == want


# ----------------------------------------------------------------------------- workers, progress


def test_result_does_not_depend_on_workers(palette_dir):
    folder, _ = palette_dir
    one = api.count(folder, ignore_index=(255,), workers=1)
    two = api.count(folder, ignore_index=(255,), workers=2)
    assert one.to_dict() == two.to_dict()


def test_the_first_bad_file_is_named_whatever_the_workers(palette_dir):
    folder, _ = palette_dir
    Image.new("RGB", (4, 4)).save(folder / "m01b.png")
    Image.new("RGB", (4, 4)).save(folder / "m03b.png")
    for workers in (1, 2):
        with pytest.raises(InputError, match=r"m01b\.png: a colour \(RGB\) image"):
            api.count(folder, workers=workers)


class Sink:
    def __init__(self):
        self.started, self.files, self.pixels = None, 0, 0

    def start(self, total, unit, description):
        self.started = (total, unit)

    def advance(self, amount, **fields):
        self.files += amount
        self.pixels += fields.get("pixels", 0)


def test_progress_counts_files_and_pixels(palette_dir):
    folder, arrays = palette_dir
    sink = Sink()
    api.count(folder, workers=2, progress=sink)
    assert sink.started == (len(arrays), "files")
    assert sink.files == len(arrays)
    assert sink.pixels == sum(m.size for m in arrays)


# ------------------------------------------------------------------------------------ file lists


def test_file_list_of_ids_under_root(palette_dir, tmp_path_factory):
    folder, arrays = palette_dir
    listing = tmp_path_factory.mktemp("lists") / "train.txt"
    listing.write_text("m01\nm03\n\nm03\n")
    counts = api.count([folder], file_list=listing, ignore_index=(255,), workers=1)
    assert_index_counts(counts, [arrays[1], arrays[3], arrays[3]], 4, ignore=(255,))
    missing = listing.with_name("bad.txt")
    missing.write_text("m01\nnope\n")
    with pytest.raises(InputError, match=r"bad\.txt: line 2: 'nope' is not found"):
        api.count([folder], file_list=missing, workers=1)


def test_file_list_of_foreign_image_mask_pairs(tmp_path):
    (tmp_path / "CamVid" / "trainannot").mkdir(parents=True)
    arrays = index_masks(3, values=(0, 1, 2, 11))
    for i, m in enumerate(arrays):
        Image.fromarray(m, mode="L").save(tmp_path / "CamVid" / "trainannot" / f"f{i}.png")
    listing = tmp_path / "CamVid" / "train.txt"
    listing.write_text("".join(f"/SegNet/CamVid/train/f{i}.png /SegNet/CamVid/trainannot/f{i}.png\n"
                               for i in (2, 0)))
    counts = api.count([tmp_path / "CamVid"], file_list=listing, ignore_index=(11,), workers=1)
    assert_index_counts(counts, [arrays[2], arrays[0]], 3, ignore=(11,))
    same = api.count(["."], file_list=listing, root=tmp_path / "CamVid", ignore_index=(11,), workers=1)
    assert same.to_dict() == counts.to_dict()


def test_ambiguous_id_is_an_error(tmp_path):
    for sub in ("SegmentationClass", "SegmentationObject"):
        (tmp_path / sub).mkdir()
        Image.fromarray(np.zeros((2, 2), np.uint8)).save(tmp_path / sub / "2007_000032.png")
    (tmp_path / "train.txt").write_text("2007_000032\n")
    with pytest.raises(InputError, match="matches several masks"):
        api.count([tmp_path], file_list=tmp_path / "train.txt")
    counts = api.count([tmp_path], file_list=tmp_path / "train.txt", root=tmp_path / "SegmentationClass")
    assert counts.samples == 1


# --------------------------------------------------------------------------------------- errors


def test_mixed_2d_and_3d_is_an_error(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((4, 4), np.uint8))
    np.save(tmp_path / "b.npy", np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(InputError, match="mix 2-D masks"):
        api.count(tmp_path, mask_mode="index", workers=1)


def test_negative_values_need_ignore_index(tmp_path):
    m = np.array([[0, 1], [-1, 2]], dtype=np.int16)
    np.save(tmp_path / "a.npy", m)
    with pytest.raises(InputError, match="negative value -1"):
        api.count(tmp_path / "a.npy", mask_mode="index", workers=1)
    counts = api.count(tmp_path / "a.npy", mask_mode="index", ignore_index=(-1,), workers=1)
    assert counts.pos.tolist() == [1, 1, 1] and counts.ignored[0] == 1


def test_bad_options(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((4, 4), np.uint8))
    with pytest.raises(OptionsError):
        api.count(tmp_path / "a.npy", mask_mode="stripes")
    with pytest.raises(BceWeightsError):
        api.count(tmp_path / "a.npy", mask_mode="index", workers=0)


# --------------------------------------------------------------------------- shapes, CLI, loss


def test_cli_saves_broadcastable_weights_and_flat(palette_dir, cli, tmp_path_factory):
    folder, arrays = palette_dir
    out = tmp_path_factory.mktemp("out")
    result = cli("compute", folder, "--ignore-index", "255", "--workers", "2", "-o", out / "w.pt")
    assert result.exit_code == 0, result.stderr
    w = torch.load(out / "w.pt", weights_only=True)
    assert list(w["pos_weight"].shape) == [4, 1, 1] and list(w["class_weight"].shape) == [4, 1, 1]
    pos, neg, _, images, _ = reference(arrays, 4, (255,))
    assert w["pos_count"].tolist() == pos.tolist() and w["neg_count"].tolist() == neg.tolist()
    assert w["image_count"].tolist() == images.tolist()
    np.testing.assert_allclose(w["pos_weight"].flatten().numpy(), neg / pos, rtol=1e-6)
    assert "mask mode: index (auto)" in result.stdout
    flat = cli("compute", folder, "--ignore-index", "255", "--flat", "-o", out / "f.pt", "-q")
    assert flat.exit_code == 0, flat.stderr
    assert list(torch.load(out / "f.pt", weights_only=True)["pos_weight"].shape) == [4]


def test_cli_help_lists_the_options(cli):
    text = cli("compute", "--help").stdout
    for flag in ("--key", "--class-axis", "--label-attributes", "--mask-mode", "--num-classes",
                 "--ignore-index", "--file-list", "--root", "--workers", "--flat"):
        assert flag in text


def test_sample_targets_one_hot_with_nan(palette_dir):
    folder, arrays = palette_dir
    spec = InputSpec(ignore_index=(255,))
    files = sorted(folder.glob("*.png"))
    png = readers.get("png")
    sample = png.sample_targets(files, spec, limit=3)
    batch, names = sample.values, sample.classes
    assert batch.shape == (3, 4, 23, 31) and batch.dtype == np.float32 and names == ["0", "1", "2", "3"]
    for k in range(3):
        void = arrays[k] == 255
        assert np.isnan(batch[k][:, void]).all()
        np.testing.assert_array_equal(batch[k][:, ~void].argmax(axis=0), arrays[k][~void])
        np.testing.assert_array_equal(batch[k][:, ~void].sum(axis=0), 1)
    sample = png.sample_targets(files, spec.with_(mask_mode="binary"), limit=2)
    binary, names = sample.values, sample.classes
    assert binary.shape == (2, 1, 23, 31) and names == ["foreground"]


def _loss_check(weights_path: Path, batch: np.ndarray) -> None:
    """BCEWithLogitsLoss with the saved pos_weight, unreshaped, equals the formula applied per class."""
    w = torch.load(weights_path, weights_only=True)
    target = torch.from_numpy(np.nan_to_num(batch, nan=0.0))
    logits = torch.randn(target.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float32)
    loss = torch.nn.BCEWithLogitsLoss(pos_weight=w["pos_weight"], reduction="none")(logits, target)
    assert loss.shape == target.shape
    pw = w["pos_weight"].reshape(-1)
    shape = [1, -1] + [1] * (target.ndim - 2)
    manual = -(pw.reshape(shape) * target * torch.nn.functional.logsigmoid(logits)
               + (1 - target) * torch.nn.functional.logsigmoid(-logits))
    torch.testing.assert_close(loss, manual, rtol=1e-5, atol=1e-6)


def test_3d_weights_broadcast_in_the_loss(tmp_path, cli):
    nib = pytest.importorskip("nibabel")
    vols = [RNG.choice([0, 1, 2], size=(4, 6, 5)).astype(np.uint8) for _ in range(2)]
    for i, v in enumerate(vols):
        nib.save(nib.Nifti1Image(v, np.eye(4)), str(tmp_path / f"{i}.nii.gz"))
    result = cli("compute", tmp_path, "--workers", "1", "-o", tmp_path / "w.pt", "-q")
    assert result.exit_code == 0, result.stderr
    assert list(torch.load(tmp_path / "w.pt", weights_only=True)["pos_weight"].shape) == [3, 1, 1, 1]
    batch = readers.get("nifti").sample_targets(sorted(tmp_path.glob("*.nii.gz")), InputSpec(), limit=2).values
    assert batch.shape == (2, 3, 4, 6, 5)
    _loss_check(tmp_path / "w.pt", batch)


# ------------------------------------------------------------------------------------- real data


def _pngs(paths):
    return [np.asarray(Image.open(p)) for p in paths]


@pytest.mark.realdata
def test_voc_subset300_with_ignore_255_and_the_loss(shared_data, tmp_path):
    folder = shared_data / "voc2012_segclass_subset300" / "SegmentationClass"
    files = sorted(folder.glob("*.png"))
    counts = api.count(folder, ignore_index=(255,), workers=2)
    assert_index_counts(counts, _pngs(files), 21, ignore=(255,))
    assert counts.spatial_ndim == 2 and counts.samples == 300
    result = api.Result(counts, compute_weights(counts))
    result.save(tmp_path / "voc.pt")
    assert list(torch.load(tmp_path / "voc.pt", weights_only=True)["pos_weight"].shape) == [21, 1, 1]
    sample = readers.get("png").sample_targets(files, InputSpec(ignore_index=(255,)), limit=3)
    batch, names = sample.values, sample.classes
    assert batch.shape[:2] == (3, 21) and names == counts.classes
    _loss_check(tmp_path / "voc.pt", batch)


@pytest.mark.realdata
def test_camvid_train_list_with_void_11(shared_data):
    root = shared_data / "camvid_segnet" / "CamVid"
    listing = root / "train.txt"
    names = [line.split()[1].rsplit("/", 1)[1] for line in listing.read_text().splitlines() if line.strip()]
    counts = api.count([root], file_list=listing, ignore_index=(11,), workers=2)
    assert_index_counts(counts, _pngs(root / "trainannot" / n for n in names), 11, ignore=(11,))
    assert counts.samples == 367


@pytest.mark.realdata
def test_isbi_0_255_masks_are_binary(shared_data):
    folder = shared_data / "isbi2012_membrane_unet" / "data" / "membrane" / "train" / "label"
    counts = api.count(folder, workers=2)
    fg, bg, void, images = binary_reference(_pngs(sorted(folder.glob("*.png"))))
    assert counts.classes == ["foreground"] and counts.samples == 30
    assert (counts.pos[0], counts.neg[0], counts.ignored[0], counts.image_count[0]) == (fg, bg, 0, images)
    assert "binary (auto)" in counts.notes[0]


@pytest.mark.realdata
def test_ctc_16bit_lzw_tiffs_binary(shared_data):
    tifffile = pytest.importorskip("tifffile")
    files = sorted((shared_data / "ctc_celltrack_tiff" / "SEG").glob("*.tif"))[::4]
    arrays = [tifffile.imread(f) for f in files]
    assert arrays[0].dtype == np.uint16
    counts = api.count(files, mask_mode="binary", workers=2)
    fg, bg, _, images = binary_reference(arrays)
    assert (counts.pos[0], counts.neg[0], counts.image_count[0]) == (fg, bg, images)
    assert counts.samples == len(files)


@pytest.mark.realdata
def test_kits19_nifti_volumes(shared_data):
    nib = pytest.importorskip("nibabel")
    cases = ("case_00061", "case_00038", "case_00015")  # the two smallest, and a uint16 one
    files = [shared_data / "kits19_nifti" / "data" / c / "segmentation.nii.gz" for c in cases]
    vols = [np.asarray(nib.load(str(f)).dataobj) for f in files]
    counts = api.count(files, workers=2)
    assert_index_counts(counts, vols, 3)
    assert counts.spatial_ndim == 3


@pytest.mark.parametrize("mode", ["auto", "channels"])
def test_partial_counts_merge_like_one_scan(tmp_path, mode):
    """What the Dask engine does (count per partition, merge, finish) equals one scan, even where a
    partition alone would look different (background only: binary)."""
    from bceweights.engines.merge import add_partials

    shape = (3, 5, 6) if mode == "channels" else (5, 6)
    values = (0, 1) if mode == "channels" else (0, 1, 2)
    arrays = [np.zeros(shape, np.uint8)] + [RNG.choice(values, size=shape).astype(np.uint8) for _ in range(3)]
    files = []
    for i, m in enumerate(arrays):
        np.save(tmp_path / f"{i}.npy", m)
        files.append(tmp_path / f"{i}.npy")
    spec = InputSpec(mask_mode="index" if mode == "auto" else mode, workers=1)
    if mode == "auto":
        spec = spec.with_(mask_mode="auto", format="npy-mask")
    reader = readers.get("npy-mask")
    whole = reader.finish(reader.count(Partition("npy-mask", tuple(map(str, files))), spec), spec).counts
    merged = add_partials([reader.count(Partition("npy-mask", (str(f),)), spec) for f in files[::-1]])
    assert reader.finish(merged, spec).counts.to_dict() == whole.to_dict()
    assert api.count(files, spec).to_dict() == whole.to_dict()


def test_sample_targets_channels_marks_void(tmp_path):
    m = np.array([[[0, 1], [255, 1]], [[1, 1], [0, 0]]], dtype=np.uint8)  # [C=2, 2, 2]
    np.save(tmp_path / "a.npy", m)
    sample = readers.get("npy-mask").sample_targets([tmp_path / "a.npy"],
                                                    InputSpec(mask_mode="channels", ignore_index=(255,)), limit=4)
    batch, names = sample.values, sample.classes
    assert batch.shape == (1, 2, 2, 2) and names == ["0", "1"]
    np.testing.assert_array_equal(batch[0], np.where(m == 255, np.nan, m).astype(np.float32))


def test_large_volumes_are_histogrammed_in_slices(tmp_path, monkeypatch):
    # A volume larger than one bincount slice counts the same as NumPy on the whole array.
    monkeypatch.setattr(maskmath, "BINCOUNT_CHUNK", 1000)
    rng = np.random.default_rng(5)
    volume = np.asfortranarray(rng.integers(0, 4, size=(7, 30, 40)).astype(np.uint16))
    np.save(tmp_path / "v.npy", volume)
    counts = api.count([tmp_path / "v.npy"], mask_mode="index", workers=1)
    expected = np.bincount(volume.ravel(), minlength=4)
    assert counts.pos.tolist() == expected.tolist()
    assert counts.neg.tolist() == (volume.size - expected).tolist()
