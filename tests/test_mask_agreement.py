"""One mask arithmetic: ``compute`` on mask files and ``count_dataset`` on the same masks agree exactly
(pos, neg, ignored, images, image_pixels, the weights with median-frequency included), and both equal a
brute-force count; the readers' settled spec and target sample read the masks as the count did."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st
from PIL import Image
from test_masks import write_nifti
from torch.utils.data import Dataset

from bceweights import api, count_dataset, maskmath, readers
from bceweights.engines import count_paths
from bceweights.errors import InputError, UsageError
from bceweights.policy import ValuePolicy
from bceweights.readers import maskfiles
from bceweights.readers.base import TARGET_BUDGET, Partition
from bceweights.spec import InputSpec
from bceweights.targets import sample_targets_of
from bceweights.weights import WeightOptions, compute_weights

RNG = np.random.default_rng(17)
SCHEMES = ("inverse", "median-frequency", "effective-number")


class Targets(Dataset):
    """(input, target) pairs whose targets are the masks given (arrays, tensors or PIL images)."""

    def __init__(self, targets):
        self.targets = list(targets)

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        target = self.targets[i]
        return torch.zeros(1), target() if callable(target) else target


def brute(arrays, num_classes, void=()):
    """Per class, written plainly: pixels of the class, valid pixels of other classes, masks holding
    it, and the valid pixels of those masks. An ignored id is a class without positives."""
    pos = np.zeros(num_classes)
    neg = np.zeros(num_classes)
    images = np.zeros(num_classes, dtype=np.int64)
    image_pixels = np.zeros(num_classes, dtype=np.int64)
    for m in arrays:
        m = np.asarray(m).reshape(-1)
        valid = m[~np.isin(m, list(void))]
        for c in range(num_classes):
            hit = int((valid == c).sum())
            pos[c] += hit
            neg[c] += valid.size - hit
            images[c] += hit > 0
            image_pixels[c] += valid.size if hit else 0
    return pos, neg, images, image_pixels


def assert_agree(files_counts, dataset_counts):
    """Every count and every scheme's weights equal; only the notes (how each was read) differ."""
    a, b = files_counts.to_dict(), dataset_counts.to_dict()
    a.pop("notes"), b.pop("notes")
    assert a == b
    for scheme in SCHEMES:
        wa = compute_weights(files_counts, WeightOptions(scheme=scheme))
        wb = compute_weights(dataset_counts, WeightOptions(scheme=scheme))
        assert wa.pos_weight.tolist() == wb.pos_weight.tolist(), scheme
        assert wa.class_weight.tolist() == wb.class_weight.tolist(), scheme


def save_pngs(folder: Path, arrays) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, m in enumerate(arrays):
        Image.fromarray(np.asarray(m, dtype=np.uint8), mode="L").save(folder / f"m{i:03d}.png")
        paths.append(folder / f"m{i:03d}.png")
    return paths


# ------------------------------------------------------------------------------------ index masks


@settings(max_examples=25, deadline=None)
@given(
    shapes=st.lists(st.tuples(st.integers(1, 9), st.integers(1, 9)), min_size=1, max_size=5),
    pool=st.lists(st.sampled_from([0, 1, 2, 3, 4, 255]), min_size=1, max_size=6),
    void=st.sampled_from([(), (255,), (0,), (2, 255)]),
    seed=st.integers(0, 2**16),
)
def test_index_pngs_and_dataset_agree_with_brute_force(tmp_path_factory, shapes, pool, void, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.choice(pool, size=s).astype(np.uint8) for s in shapes]
    folder = tmp_path_factory.mktemp("index")
    save_pngs(folder, arrays)
    files = api.count(folder, mask_mode="index", num_classes=256, ignore_index=void, workers=1)
    data = count_dataset(Targets(arrays), num_classes=256, ignore_index=list(void), progress=False)
    pos, neg, images, image_pixels = brute(arrays, 256, void)
    assert files.pos.tolist() == pos.tolist() and files.neg.tolist() == neg.tolist()
    assert files.image_count.tolist() == images.tolist()
    assert files.image_pixels.tolist() == image_pixels.tolist()
    assert_agree(files, data)


def test_auto_void_255_keeps_image_pixels_right(tmp_path):
    """Auto mode decides after the scan that 255 is void: the valid pixels of every mask holding a
    class lose their 255 pixels, as if --ignore-index 255 had been given (a mask of 255 only is empty)."""
    arrays = [RNG.choice([0, 1, 2, 3, 255], size=(13, 17), p=[0.5, 0.2, 0.1, 0.1, 0.1]).astype(np.uint8)
              for _ in range(6)]
    arrays[2][:] = 255
    arrays[4][:] = 0
    save_pngs(tmp_path / "m", arrays)
    auto = api.count(tmp_path / "m", workers=1)
    assert any("255 is read as void" in n for n in auto.notes)
    given_void = api.count(tmp_path / "m", ignore_index=(255,), workers=2)
    data = count_dataset(Targets(arrays), num_classes=4, ignore_index=255, progress=False)
    pos, neg, images, image_pixels = brute(arrays, 4, (255,))
    assert auto.image_pixels.tolist() == image_pixels.tolist()
    assert auto.no_positive == data.no_positive == 1
    assert_agree(auto, data)
    assert_agree(given_void, data)


def test_3d_nifti_volumes_agree(tmp_path):
    nib = pytest.importorskip("nibabel")
    vols = [RNG.choice([0, 1, 2, 9], size=(5, 7, 4), p=[0.7, 0.15, 0.1, 0.05]).astype(np.uint8) for _ in range(3)]
    for i, v in enumerate(vols):
        nib.save(nib.Nifti1Image(v, np.eye(4)), str(tmp_path / f"v{i}.nii.gz"))
    files = api.count(tmp_path, num_classes=3, ignore_index=(9,), workers=1)
    data = count_dataset(Targets(torch.from_numpy(v) for v in vols), num_classes=3, ignore_index=9,
                         progress=False)
    assert files.spatial_ndim == data.spatial_ndim == 3
    assert files.image_pixels.tolist() == brute(vols, 3, (9,))[3].tolist()
    assert_agree(files, data)


# ---------------------------------------------------------------------------------------- channels


def test_channel_masks_agree_soft_nan_and_void(tmp_path):
    soft = RNG.random((3, 6, 5)).astype(np.float32)
    soft[soft < 0.3] = 0
    soft[0, 0, 0] = np.nan
    soft[1, 2, :] = 255
    hard = RNG.choice([0, 1, 255], size=(3, 6, 5), p=[0.6, 0.3, 0.1]).astype(np.uint8)
    hard[2] = 0
    np.save(tmp_path / "a.npy", soft)
    np.save(tmp_path / "b.npy", hard)
    files = api.count(tmp_path, mask_mode="channels", ignore_index=(255,), workers=1)
    data = count_dataset(Targets([soft, hard]), mode="multi-hot", ignore_index=255, progress=False)
    assert files.soft.sum() > 0
    stack = np.stack([soft.astype(np.float64), hard.astype(np.float64)])
    stack[stack == 255] = np.nan
    valid = ~np.isnan(stack)
    present = np.nan_to_num(stack).reshape(2, 3, -1).max(axis=2) > 0
    assert files.image_count.tolist() == present.sum(axis=0).tolist()
    assert files.image_pixels.tolist() == (present * valid.reshape(2, 3, -1).sum(axis=2)).sum(axis=0).tolist()
    assert files.ignored.tolist() == (~valid).sum(axis=(0, 2, 3)).tolist()
    assert_agree(files, data)


def test_channel_errors_name_the_file_and_the_sample(tmp_path):
    bad = np.zeros((2, 3, 3), np.uint8)
    bad[1, 2, 0] = 7
    np.save(tmp_path / "a.npy", bad)
    with pytest.raises(InputError, match=r"a\.npy: channel 1 holds the value 7"):
        api.count(tmp_path, mask_mode="channels", workers=1)
    with pytest.raises(InputError, match=r"sample 1: value 7 at class 1 is not a label"):
        count_dataset(Targets([np.zeros((2, 3, 3), np.uint8), bad]), mode="multi-hot", progress=False)
    huge = np.zeros((2, 3, 3), np.int64)
    huge[0, 1, 1] = 2**40
    np.save(tmp_path / "a.npy", huge)
    with pytest.raises(InputError, match=r"a\.npy: channel 0 holds the value 1099511627776"):
        api.count(tmp_path, mask_mode="channels", workers=1)


def test_masks_with_other_channels_fail_and_leave_no_worker(tmp_path):
    import multiprocessing

    np.save(tmp_path / "a.npy", np.zeros((2, 4, 5), np.uint8))
    np.save(tmp_path / "b.npy", np.zeros((3, 4, 5), np.uint8))
    for workers in (1, 2):
        with pytest.raises(InputError, match=r"b\.npy: 3 channels, but .*a\.npy has 2; every mask needs the same"):
            api.count(tmp_path, mask_mode="channels", workers=workers)
        assert multiprocessing.active_children() == []


# ------------------------------------------------------------------------------------- median-frequency


def test_median_frequency_from_a_png_folder(tmp_path, cli):
    arrays = [RNG.choice([0, 1, 2, 11], size=(9, 12), p=[0.6, 0.2, 0.1, 0.1]).astype(np.uint8) for _ in range(5)]
    arrays[3][:] = 0
    save_pngs(tmp_path / "m", arrays)
    out = tmp_path / "w.pt"
    result = cli("compute", tmp_path / "m", "--mask-mode", "index", "--num-classes", "3", "--ignore-index", "11",
                 "--scheme", "median-frequency", "--workers", "1", "-o", out, "-q")
    assert result.exit_code == 0, result.stderr
    pos, _, _, image_pixels = brute(arrays, 3, (11,))
    f = pos / image_pixels
    saved = torch.load(out, weights_only=True)
    np.testing.assert_allclose(saved["class_weight"].reshape(-1).numpy(), np.median(f) / f, rtol=1e-6)
    data = count_dataset(Targets(arrays), num_classes=3, ignore_index=11, progress=False)
    want = compute_weights(data, WeightOptions(scheme="median-frequency")).class_weight
    np.testing.assert_array_equal(saved["class_weight"].reshape(-1).numpy(), want.astype(np.float32))


# ------------------------------------------------------------------------------ the settled spec


def test_finish_settles_the_spec_so_a_sample_reads_as_the_count(tmp_path):
    arrays = [RNG.choice([0, 1, 3, 255], size=(10, 11)).astype(np.uint8) for _ in range(3)]
    paths = save_pngs(tmp_path, arrays)
    tally = count_paths(tmp_path, InputSpec(workers=1))
    (group,) = tally.groups
    assert group.spec.mask_mode == "index" and group.spec.ignore_index == (255,) and group.spec.num_classes == 4
    assert tally.counts.classes == ["0", "1", "2", "3"]
    sample = group.reader.sample_targets(paths, group.spec, limit=2)
    assert sample.values.shape == (2, 4, 10, 11) and sample.classes == tally.counts.classes
    for k in range(2):
        void = arrays[k] == 255
        assert np.isnan(sample.values[k][:, void]).all()
        np.testing.assert_array_equal(sample.values[k][:, ~void].argmax(axis=0), arrays[k][~void])
    # An explicit mode is kept, and binary sets no class count.
    binary = api.count(tmp_path, mask_mode="binary", workers=1)
    reader = readers.get("png")
    done = reader.finish(reader.count(Partition("png", tuple(map(str, paths))), InputSpec(mask_mode="binary")),
                         InputSpec(mask_mode="binary"))
    assert done.spec.mask_mode == "binary" and done.spec.num_classes is None
    assert done.counts.to_dict() == binary.to_dict()


def test_a_voc_like_folder_with_no_options_passes_its_own_checks(tmp_path, cli):
    arrays = [RNG.choice([0, 1, 2, 255], size=(20, 30), p=[0.7, 0.1, 0.1, 0.1]).astype(np.uint8) for _ in range(4)]
    save_pngs(tmp_path / "SegmentationClass", arrays)
    result = cli("compute", tmp_path / "SegmentationClass", "-o", tmp_path / "w.pt", "--workers", "1")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("PASS  ") == 4
    checked = cli("validate", tmp_path / "w.pt", tmp_path / "SegmentationClass")
    assert checked.exit_code == 0, checked.stderr


# ------------------------------------------------------------------------------- target samples


def _one_hot_reference(mask, num_classes, void):
    out = np.stack([(mask == k).astype(np.float32) for k in range(num_classes)])
    out[:, np.isin(mask, list(void))] = np.nan
    return out


def test_sample_targets_crops_the_raw_mask_before_the_one_hot(tmp_path):
    """A 1500x1400 mask of 21 classes: the full one-hot would be 176 MB; the sample stays within the
    budget, is the centre of the mask, and equals the one-hot of that centre."""
    mask = RNG.choice(np.arange(21, dtype=np.uint8), size=(1500, 1400))
    mask[::7, ::5] = 255
    Image.fromarray(mask, mode="L").save(tmp_path / "big.png")
    spec = InputSpec(mask_mode="index", num_classes=21, ignore_index=(255,))
    reader = readers.get("png")
    tracemalloc.start()
    try:
        sample = reader.sample_targets([tmp_path / "big.png"], spec, limit=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sample.values.size <= TARGET_BUDGET and sample.values.shape[:2] == (1, 21)
    assert peak < 20 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    h, w = sample.values.shape[2:]
    top, left = (1500 - h) // 2, (1400 - w) // 2
    want = _one_hot_reference(mask[top:top + h, left:left + w], 21, (255,))
    np.testing.assert_array_equal(sample.values[0], want)
    assert "centre crop" in sample.source


def test_sample_targets_keep_limit_masks_within_the_budget(tmp_path):
    arrays = [RNG.integers(0, 3, size=(300, 200), dtype=np.uint8) for _ in range(4)]
    paths = save_pngs(tmp_path, arrays)
    sample = readers.get("png").sample_targets(paths, InputSpec(mask_mode="index", num_classes=3), limit=4)
    assert sample.values.shape[:2] == (4, 3) and sample.values.size <= TARGET_BUDGET


@pytest.mark.parametrize("shape,num_classes", [((1500, 1400), 21), ((700, 900), 3), ((301, 299), 256)])
def test_the_checks_sample_the_centre_of_a_mask_as_the_count_read_it(tmp_path, shape, num_classes):
    """The checks' batch (auto mode, as ``compute`` reads a folder with no options) is the one-hot of the
    mask's centre, within the budget, with 255 void where the count read it so."""
    mask = RNG.integers(0, num_classes, size=shape).astype(np.uint8 if num_classes <= 256 else np.uint16)
    void = (255,) if num_classes < 255 else ()
    if void:
        mask[::3, ::4] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    batch = sample_targets_of([tmp_path / "m.png"], InputSpec())
    assert batch.classes == [str(i) for i in range(num_classes)]
    assert batch.values.size <= TARGET_BUDGET
    sizes = maskmath.crop_sizes(shape, num_classes, TARGET_BUDGET)
    assert list(batch.values.shape) == [1, num_classes, *sizes]
    assert ("centre crop" in batch.source) == (sizes != list(shape))
    want = _one_hot_reference(mask[maskmath.centre(shape, sizes)], num_classes, void)
    np.testing.assert_array_equal(batch.values[0], want)


# -------------------------------------------------------------------------------- dispatch, files


def test_npy_is_a_mask_only_with_an_explicit_mode(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((4, 4), np.uint8))
    reader = readers.get("npy-mask")
    assert reader.claims(tmp_path / "a.npy", InputSpec(mask_mode="index"))
    assert not reader.claims(tmp_path / "a.npy", InputSpec())
    assert readers.resolve(tmp_path / "a.npy", InputSpec(mask_mode="binary")).name == "npy-mask"


def test_formats_are_sniffed_without_an_extension(tmp_path):
    nib = pytest.importorskip("nibabel")
    Image.fromarray(np.array([[0, 1], [2, 0]], np.uint8)).save(tmp_path / "mask.png")
    (tmp_path / "mask.png").rename(tmp_path / "mask")
    nib.save(nib.Nifti1Image(np.zeros((2, 2, 2), np.uint8), np.eye(4)), str(tmp_path / "v.nii.gz"))
    (tmp_path / "v.nii.gz").rename(tmp_path / "volume")
    assert readers.resolve(tmp_path / "mask", InputSpec()).name == "png"
    assert readers.resolve(tmp_path / "volume", InputSpec()).name == "nifti"
    counts = api.count([tmp_path / "mask"], workers=1, mask_mode="index")
    assert counts.pos.tolist() == [2, 1, 1]


def test_a_1_bit_png_is_read_as_0_and_1(tmp_path):
    bits = RNG.random((9, 10)) < 0.3
    Image.fromarray(bits).save(tmp_path / "b.png")
    assert Image.open(tmp_path / "b.png").mode == "1"
    counts = api.count(tmp_path / "b.png", workers=1)
    assert counts.classes == ["foreground"] and "0 and 1" in counts.notes[0]
    assert counts.pos.tolist() == [int(bits.sum())] and counts.neg.tolist() == [int((~bits).sum())]
    data = count_dataset(Targets([Image.open(tmp_path / "b.png")]), num_classes=2, progress=False)
    assert data.pos.tolist() == [int((~bits).sum()), int(bits.sum())]


def test_a_tiff_of_several_series_is_refused(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    with tifffile.TiffWriter(tmp_path / "two.tif") as tif:
        tif.write(np.zeros((4, 4), np.uint8))
        tif.write(np.ones((3, 5), np.uint8))
    with pytest.raises(InputError, match=r"two\.tif: a TIFF of 2 separate images \(\[4, 4\], \[3, 5\]\)"):
        api.count(tmp_path / "two.tif", workers=1)


def test_every_page_of_a_tiff_stack_is_counted(tmp_path):
    # A page stack (as Pillow, ImageJ or a scanner write it) is one image: a [D, H, W] volume.
    pages = [RNG.choice([0, 1, 2], size=(6, 7)).astype(np.uint8) for _ in range(4)]
    images = [Image.fromarray(p) for p in pages]
    images[0].save(tmp_path / "stack.tif", save_all=True, append_images=images[1:])
    counts = api.count(tmp_path / "stack.tif", workers=1, mask_mode="index")
    assert counts.spatial_ndim == 3 and counts.samples == 1
    pos, neg, *_ = brute([np.stack(pages)], 3)
    assert counts.pos.tolist() == pos.tolist() and counts.neg.tolist() == neg.tolist()


def test_a_tiff_whose_image_leaves_pages_out_is_refused(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    with tifffile.TiffWriter(tmp_path / "thumb.tif") as tif:
        tif.write(np.zeros((8, 8), np.uint8))
        tif.write(np.full((2, 2), 9, np.uint8), subfiletype=1)  # a thumbnail: not part of the image
    with pytest.raises(InputError, match=r"thumb\.tif: a TIFF of 2 pages whose image uses 1"):
        api.count(tmp_path / "thumb.tif", workers=1)


def test_without_tifffile_a_page_stack_is_refused(tmp_path, monkeypatch):
    images = [Image.fromarray(np.full((3, 3), i, np.uint8)) for i in range(3)]
    images[0].save(tmp_path / "stack.tif", save_all=True, append_images=images[1:])
    monkeypatch.setitem(__import__("sys").modules, "tifffile", None)  # Pillow reads the TIFF
    with pytest.raises(InputError, match=r"stack\.tif: a TIFF of 3 pages; save one mask per file"):
        api.count(tmp_path / "stack.tif", workers=1)


def test_a_classes_file_naming_a_class_twice_names_the_classes_file(tmp_path):
    save_pngs(tmp_path / "m", [np.array([[0, 1]], np.uint8)])
    names = tmp_path / "names.txt"
    names.write_text("sky\nroad\nsky\n")
    with pytest.raises(InputError, match=r"names\.txt: the classes file names 'sky' twice"):
        api.count(tmp_path / "m", classes_file=names, workers=1)


@pytest.mark.parametrize("targets", [
    [np.array([5]), np.array([3, 1_000_000])],  # scalar class ids: would be 1,000,001 classes
    [np.zeros((4, 4), np.int32), np.full((4, 4), 1_000_000, np.int32)],  # a mask of them
])
def test_count_dataset_refuses_a_stray_class_id_before_making_its_classes(targets):
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match=r"sample 1: mask value 1000000 is too large for a class id"):
            count_dataset(Targets(targets), mode="index", progress=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, f"peak {peak / 2**20:.0f} MiB"  # 1M classes held ~340 MB
    wide = count_dataset(Targets([np.array([3]), np.array([maskmath.MAX_INDEX_CLASSES - 1])]), mode="index",
                         progress=False)
    assert wide.num_classes == maskmath.MAX_INDEX_CLASSES


def test_index_masks_refuse_a_stray_id_naming_the_file(tmp_path):
    masks = [np.zeros((5, 6), np.uint16) for _ in range(3)]
    masks[0][0, :3] = 1
    masks[2][1, 1] = 65535  # a void value nobody declared: 65,536 classes
    for i, m in enumerate(masks):
        np.save(tmp_path / f"m{i}.npy", m)
    for workers in (1, 2):
        with pytest.raises(InputError, match=r"m2\.npy: value 65535 would make 65,536 classes"):
            api.count(tmp_path, mask_mode="index", workers=workers)
    assert api.count(tmp_path, mask_mode="index", ignore_index=(65535,), workers=1).num_classes == 2
    declared = api.count(tmp_path, mask_mode="index", num_classes=65536, workers=1)
    assert declared.pos[65535] == 1 and declared.pos[1] == 3


def test_count_dataset_refuses_a_huge_class_id_before_allocating():
    mask = np.zeros((4, 4), np.int64)
    mask[1, 2] = 2**40
    with pytest.raises(InputError, match=r"sample 1: mask value 1099511627776 is too large for a class id"):
        count_dataset(Targets([np.zeros((4, 4), np.int64), mask]), mode="index", progress=False)
    counts = count_dataset(Targets([mask]), mode="index", ignore_index=2**40, progress=False)
    assert counts.classes == ["0"] and counts.ignored.tolist() == [1]


def test_count_dataset_names_the_first_bad_mask_though_masks_are_checked_in_bulk():
    masks_ = [np.zeros((2, 2), np.uint8) for _ in range(10)]
    masks_[3][0, 1] = 5  # checked with the next masks, after mask 7 is read
    masks_[7] = np.full((2, 2), -1, np.int64)
    with pytest.raises(InputError, match=r"sample 3: mask value 5 is not a class id \(0..2\)"):
        count_dataset(Targets(masks_), num_classes=3, progress=False)
    masks_[7] = np.full((2, 3), 0, np.uint8)  # a new size is fine; a new rank is not
    masks_[8] = np.zeros((2, 2, 2), np.uint8)
    with pytest.raises(InputError, match=r"sample 3: mask value 5"):
        count_dataset(Targets(masks_), num_classes=3, progress=False)
    masks_[3][0, 1] = 1
    with pytest.raises(InputError, match=r"sample 8: target shaped \[2, 2, 2\] after targets of rank 2"):
        count_dataset(Targets(masks_), num_classes=3, progress=False)


# ------------------------------------------------------------------------------------ options


def test_an_option_masks_do_not_read_is_refused(tmp_path, cli):
    save_pngs(tmp_path / "m", [np.array([[0, 1]], np.uint8)])
    with pytest.raises(UsageError, match=r"--where does not apply to png input \(segmentation masks\)"):
        api.count(tmp_path / "m", where=(("split", "train"),))
    with pytest.raises(UsageError, match=r"--uncertain does not apply to png input"):
        api.count(tmp_path / "m", policy=ValuePolicy(uncertain="positive"))
    result = cli("compute", tmp_path / "m", "--where", "split=train", "-o", tmp_path / "w.pt")
    assert result.exit_code == 2 and not (tmp_path / "w.pt").exists()
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--where does not apply to png input" in lines[0]


# ------------------------------------------------------------------------------------- real data


def _open_all(paths):
    return [np.asarray(Image.open(p)) for p in paths]


@pytest.mark.realdata
def test_voc_subset300_files_and_dataset_agree(shared_data):
    folder = shared_data / "voc2012_segclass_subset300" / "SegmentationClass"
    paths = sorted(folder.glob("*.png"))
    data = count_dataset(Targets([lambda p=p: Image.open(p) for p in paths]), num_classes=21, ignore_index=255,
                         progress=False)
    assert data.image_pixels.tolist() == brute(_open_all(paths), 21, (255,))[3].tolist()
    assert_agree(api.count(folder, workers=2), data)  # auto: 255 read as void
    assert_agree(api.count(folder, ignore_index=(255,), num_classes=21, workers=2), data)


@pytest.mark.realdata
def test_camvid_files_and_dataset_agree_and_median_frequency_exits_0(shared_data, tmp_path, cli):
    folder = shared_data / "camvid_segnet" / "CamVid" / "trainannot"
    paths = sorted(folder.glob("*.png"))
    data = count_dataset(Targets([lambda p=p: Image.open(p) for p in paths]), num_classes=11, ignore_index=11,
                         progress=False)
    files = api.count(folder, mask_mode="index", num_classes=11, ignore_index=(11,), workers=2)
    assert_agree(files, data)
    result = cli("compute", folder, "--mask-mode", "index", "--num-classes", "11", "--ignore-index", "11",
                 "--scheme", "median-frequency", "-o", tmp_path / "w.pt")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("PASS  ") == 4
    saved = torch.load(tmp_path / "w.pt", weights_only=True)
    want = compute_weights(data, WeightOptions(scheme="median-frequency")).class_weight
    np.testing.assert_array_equal(saved["class_weight"].reshape(-1).numpy(), want.astype(np.float32))


@pytest.mark.realdata
def test_kits19_volumes_files_and_dataset_agree(shared_data):
    nib = pytest.importorskip("nibabel")
    cases = ("case_00061", "case_00038", "case_00015")  # the two smallest, and a uint16 one
    paths = [shared_data / "kits19_nifti" / "data" / c / "segmentation.nii.gz" for c in cases]
    data = count_dataset(Targets([lambda p=p: np.asarray(nib.load(str(p)).dataobj) for p in paths]),
                         num_classes=3, progress=False)
    assert_agree(api.count(paths, workers=2), data)


@pytest.mark.realdata
def test_voc_folder_with_no_options_passes_its_checks(shared_data, tmp_path, cli):
    folder = shared_data / "voc2012_segclass_subset300" / "SegmentationClass"
    result = cli("compute", folder, "-o", tmp_path / "w.pt")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("PASS  ") == 4
    checked = cli("validate", tmp_path / "w.pt", folder)  # counted again: the same auto decision
    assert checked.exit_code == 0, checked.stderr
    assert checked.stdout.count("PASS  ") == 4


# ------------------------------------------- NIfTI counted while it inflates = the array's histogram

nifti_cases = st.tuples(
    st.sampled_from(["uint8", "int8", "int16", "uint16", "int32", "float32", "float64"]),
    st.tuples(st.lists(st.sampled_from([0, 0, 0, 1, 2, 5, 255, 300]), min_size=1, max_size=60),
              st.lists(st.sampled_from([-1, -7, 2_000_000, 0.5, np.nan]), max_size=2)).map(lambda t: t[0] + t[1]),
    st.sampled_from([(), (), (), (255,), (255,), (-1,), (-1, 5), (2_000_000,)]),
    st.sampled_from(["index", "binary", "auto"]),
    st.sampled_from([(0.0, 0.0), (2.0, 1.0)]),
)


@settings(max_examples=120, deadline=None)
@given(case=nifti_cases, gz=st.booleans())
def test_a_nifti_streamed_histogram_equals_the_histogram_of_its_array(tmp_path_factory, case, gz):
    """``maskfiles.file_histogram`` of a NIfTI (counted while it inflates) against ``maskmath.histogram``
    of the same volume decoded whole: the same histogram and void pixels, or the same refusal; and the
    readers count it as they count the same values saved as an .npy mask."""
    dtype, pool, ignore, mode, (slope, inter) = case
    raw = np.resize(np.asarray(pool, dtype=np.float64), (3, 4, 5))
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is not None:
        raw = np.where(np.isfinite(raw) & (raw == np.floor(raw)) & (raw >= info.min) & (raw <= info.max), raw, 0)
    arr = raw.astype(dtype)
    path = write_nifti(tmp_path_factory.mktemp("nii") / ("v.nii.gz" if gz else "v.nii"), arr, slope=slope,
                       inter=inter)
    values = arr * slope + inter if slope else arr  # what nibabel (and the checks) read
    ids, binary = frozenset(int(v) for v in ignore), mode == "binary"
    try:
        want = maskmath.histogram(values, ids, binary=binary)
    except maskmath.MaskValueError as exc:
        want = exc.reason
    try:
        found = maskfiles.file_histogram(path, "nifti", ids, binary=binary)
    except maskmath.MaskValueError as exc:
        got = exc.reason
    except InputError as exc:
        got = "fraction" if "not a class id" in exc.message else "large" if "too large" in exc.message else exc.message
    else:
        if found is None:  # an ignore id the stream cannot tell apart: the volume is decoded instead
            assert any(abs(v) > maskmath.MAX_DENSE_VALUE for v in ids)
            return
        got = (found.hist, found.void_other)
        assert found.shape == arr.shape
    event(f"refused: {want}" if isinstance(want, str) else "counted")
    if isinstance(want, str) or isinstance(got, str):
        if want == "negative" and got == "large":  # below -MAX_DENSE_VALUE: both refuse, in other words
            return
        assert got == want
        return
    width = max(len(want[0]), len(got[0]))
    np.testing.assert_array_equal(np.pad(got[0], (0, width - len(got[0]))), np.pad(want[0], (0, width - len(want[0]))))
    assert len(got[0]) == len(want[0])
    assert got[1] == want[1]


def test_the_checks_never_one_hot_a_whole_volume(tmp_path):
    # 192 x 192 x 128 voxels of 4 classes: the one-hot would be 72 MiB of float32; the raw volume 4.5 MiB
    # (its histogram takes int64 slices of 4M voxels, 32 MiB).
    vol = np.zeros((192, 192, 128), np.uint8)
    vol[40:120, 40:120, 20:70] = 1
    vol[70:90, 70:90, 40:50] = 2
    vol[100:110, 60:70, 60:64] = 3
    path = write_nifti(tmp_path / "v.nii.gz", vol)
    spec = readers.get("nifti").finish(readers.get("nifti").count(
        Partition("nifti", (str(path),)), InputSpec(workers=1)), InputSpec(workers=1)).spec
    tracemalloc.start()
    try:
        sample = readers.get("nifti").sample_targets([path], spec, limit=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sample.values.size <= TARGET_BUDGET and sample.values.shape[:2] == (1, 4)
    assert peak < 48 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    d, h, w = sample.values.shape[2:]
    cut = maskmath.centre(vol.shape, (d, h, w))
    np.testing.assert_array_equal(sample.values[0], _one_hot_reference(vol[cut], 4, ()))
