"""The public API: ``from bceweights import ...``, counting a torch Dataset, and the loss helper."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset

import bceweights
from bceweights import Counts, InputError, OptionsError, count_dataset, loss

# ---------------------------------------------------------------------------------------------------
# References: brute-force counts, written independently of the library


def ref_multi_hot(targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """targets [N, C, *spatial] in [0, 1] (NaN = ignored) → (pos, neg) per class."""
    c = targets.shape[1]
    pos, neg = np.zeros(c), np.zeros(c)
    for k in range(c):
        values = targets[:, k].ravel()
        values = values[~np.isnan(values)]
        pos[k] = values.sum()
        neg[k] = (1 - values).sum()
    return pos, neg


def ref_index(masks: list[np.ndarray], k: int, void: tuple[int, ...] = ()):
    """Per class: pixels of the class, valid pixels of other classes, masks containing it."""
    pos, neg, images = np.zeros(k), np.zeros(k), np.zeros(k, dtype=np.int64)
    for mask in masks:
        valid = mask[~np.isin(mask, void)]
        for c in range(k):
            p = int((valid == c).sum())
            pos[c] += p
            neg[c] += valid.size - p
            images[c] += p > 0
    return pos, neg, images


class Pairs(Dataset):
    """A map-style dataset of (input, target) pairs, targets given as a list."""

    def __init__(self, targets):
        self.targets = targets

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        return torch.zeros(2), self.targets[i]


class Stream(IterableDataset):
    def __init__(self, targets):
        self.targets = targets

    def __iter__(self):
        for t in self.targets:
            yield {"image": None, "mask": t}


# ---------------------------------------------------------------------------------------------------
# The package surface


def test_import_is_light():
    code = ("import sys, bceweights; bceweights.__version__; "
            "print(sorted(m for m in ('numpy', 'torch', 'pandas', 'pyarrow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_export_resolves_and_is_documented():
    for name in bceweights.__all__:
        value = getattr(bceweights, name)
        if callable(value) and name != "__version__":
            assert (value.__doc__ or "").strip(), f"{name} has no docstring"
    assert set(bceweights.__all__) <= set(dir(bceweights))
    with pytest.raises(AttributeError):
        bceweights.no_such_name  # noqa: B018


def test_exports_are_typed():
    assert (Path(bceweights.__file__).parent / "py.typed").exists()
    assert "return" in bceweights.count_dataset.__annotations__
    assert "return" in bceweights.loss.__annotations__


# ---------------------------------------------------------------------------------------------------
# count_dataset: multi-hot [C]


def test_multi_hot_samples_match_brute_force():
    g = torch.Generator().manual_seed(1)
    y = (torch.rand(57, 5, generator=g) < torch.tensor([0.5, 0.2, 0.05, 0.9, 0.0])).float()
    counts = count_dataset(TensorDataset(torch.zeros(57, 3), y), progress=False)
    pos, neg = ref_multi_hot(y.numpy())
    assert counts.pos.tolist() == pos.tolist()
    assert counts.neg.tolist() == neg.tolist()
    assert counts.classes == ["0", "1", "2", "3", "4"]
    assert counts.samples == 57 and counts.spatial_ndim == 0
    assert counts.no_positive == int((y.sum(1) == 0).sum())
    assert np.array_equal(counts.cooccurrence, (y.T @ y).numpy())


def test_worked_example_per_class_negatives():
    """1000 images, 600/550/200/100 positives: pos_weight [0.667, 0.818, 4, 9]."""
    y = torch.zeros(1000, 4)
    for c, p in enumerate([600, 550, 200, 100]):
        y[torch.arange(p) * 7 % 1000, c] = 1  # any p distinct rows
    counts = count_dataset(TensorDataset(y, y), progress=False)
    assert counts.neg.tolist() == [400, 450, 800, 900]
    assert [round(v, 3) for v in loss(counts).pos_weight.tolist()] == [0.667, 0.818, 4.0, 9.0]


def test_batched_loader_and_workers_give_the_same_counts():
    g = torch.Generator().manual_seed(2)
    y = (torch.rand(40, 3, generator=g) < 0.3).float()
    ds = TensorDataset(torch.zeros(40, 1), y)
    one = count_dataset(ds, progress=False)
    batched = count_dataset(DataLoader(ds, batch_size=7), progress=False)
    workers = count_dataset(DataLoader(ds, batch_size=8, num_workers=2), progress=False)
    unbatched_loader = count_dataset(DataLoader(ds, batch_size=None), progress=False)
    own_workers = count_dataset(ds, num_workers=2, progress=False)
    for other in (batched, workers, unbatched_loader, own_workers):
        assert other.pos.tolist() == one.pos.tolist()
        assert other.neg.tolist() == one.neg.tolist()
        assert other.samples == 40


def test_soft_nan_and_ignore_values():
    y = np.array([[0.25, 1.0, -1.0], [1.0, np.nan, 0.0], [0.5, 0.0, 1.0]])
    counts = count_dataset(Pairs(list(y)), ignore_index=-1, progress=False)
    ref = y.copy()
    ref[ref == -1] = np.nan
    pos, neg = ref_multi_hot(ref)
    assert counts.pos.tolist() == pos.tolist() == [1.75, 1.0, 1.0]
    assert counts.neg.tolist() == neg.tolist() == [1.25, 1.0, 1.0]
    assert counts.ignored.tolist() == [0, 1, 1]
    assert counts.soft.tolist() == [2, 0, 0]


def test_targets_of_any_kind_and_key():
    samples = [{"x": 0, "y": [1, 0]}, {"x": 1, "y": np.array([1, 1])}, {"x": 2, "y": torch.tensor([0, 0])}]
    counts = count_dataset(samples, target="y", progress=False)
    assert counts.pos.tolist() == [2, 1] and counts.neg.tolist() == [1, 2]
    bools = count_dataset(Pairs([torch.tensor([True, False])] * 3), progress=False)
    assert bools.pos.tolist() == [3, 0]


def test_names_and_merge_by_addition():
    y = torch.tensor([[1.0, 0], [0, 1], [1, 1], [0, 0]])
    whole = count_dataset(Pairs(list(y)), classes=["cat", "dog"], progress=False)
    a = count_dataset(Pairs(list(y[:1])), classes=["cat", "dog"], progress=False)
    b = count_dataset(Pairs(list(y[1:])), classes=["cat", "dog"], progress=False)
    merged = a + b
    assert merged.classes == ["cat", "dog"]
    assert merged.pos.tolist() == whole.pos.tolist() and merged.neg.tolist() == whole.neg.tolist()
    assert merged.samples == whole.samples == 4


# ---------------------------------------------------------------------------------------------------
# count_dataset: channels [C, H, W] / [C, D, H, W]


@pytest.mark.parametrize("spatial", [(5, 6), (3, 4, 5)])
def test_channel_targets_match_brute_force(spatial):
    g = torch.Generator().manual_seed(3)
    y = (torch.rand(6, 3, *spatial, generator=g) < torch.tensor([0.5, 0.1, 0.0]).view(3, *[1] * len(spatial)))
    y = y.float()
    counts = count_dataset(y, target=lambda t: t, progress=False)
    pos, neg = ref_multi_hot(y.numpy())
    assert counts.pos.tolist() == pos.tolist()
    assert counts.neg.tolist() == neg.tolist()
    assert counts.spatial_ndim == len(spatial)
    assert counts.samples == 6 and counts.pixels == 6 * int(np.prod(spatial))
    present = y.flatten(2).amax(2) > 0  # [N, C]
    assert counts.image_count.tolist() == present.sum(0).tolist()
    assert counts.image_pixels.tolist() == (present.sum(0) * int(np.prod(spatial))).tolist()
    assert loss(counts).pos_weight.shape == (3, *[1] * len(spatial))
    batched = count_dataset(DataLoader(TensorDataset(y, y), batch_size=4), progress=False)
    assert batched.pos.tolist() == counts.pos.tolist()
    assert batched.image_count.tolist() == counts.image_count.tolist()


# ---------------------------------------------------------------------------------------------------
# count_dataset: index masks and class ids


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5), st.integers(1, 5)), min_size=1, max_size=4), st.integers(0, 2**16))
def test_index_masks_match_brute_force(shapes, seed):
    rng = np.random.default_rng(seed)
    masks = [rng.choice([0, 1, 2, 3, 255], size=s, p=[0.4, 0.2, 0.2, 0.1, 0.1]).astype(np.uint8)
             for s in shapes]
    counts = count_dataset(Pairs(masks), num_classes=4, ignore_index=255, progress=False)
    pos, neg, images = ref_index(masks, 4, (255,))
    assert counts.pos.tolist() == pos.tolist()
    assert counts.neg.tolist() == neg.tolist()
    assert counts.image_count.tolist() == images.tolist()
    void = sum(int((m == 255).sum()) for m in masks)
    assert counts.ignored.tolist() == [void] * 4
    assert counts.pixels == sum(m.size for m in masks) and counts.spatial_ndim == 2


def test_index_masks_batched_and_volumes():
    g = torch.Generator().manual_seed(4)
    masks = torch.randint(0, 3, (5, 4, 6), generator=g)
    masks[0, 0, 0] = 11
    one = count_dataset(Pairs(list(masks)), num_classes=3, ignore_index=11, progress=False)
    batched = count_dataset(DataLoader(Pairs(list(masks)), batch_size=2), num_classes=3, ignore_index=11,
                            progress=False)
    pos, neg, images = ref_index([m.numpy() for m in masks], 3, (11,))
    for c in (one, batched):
        assert c.pos.tolist() == pos.tolist() and c.neg.tolist() == neg.tolist()
        assert c.image_count.tolist() == images.tolist()
    volumes = count_dataset(masks.view(1, 5, 4, 6), target=lambda v: v, mode="index", ignore_index=11,
                            progress=False)
    assert volumes.spatial_ndim == 3 and volumes.pos.tolist() == pos.tolist()
    assert loss(volumes).pos_weight.shape == (3, 1, 1, 1)


def test_index_classes_grow_without_num_classes():
    masks = [np.array([[0, 1]]), np.array([[3, 3]])]
    counts = count_dataset(Pairs(masks), mode="index", progress=False)
    assert counts.classes == ["0", "1", "2", "3"]
    pos, neg, _ = ref_index(masks, 4)
    assert counts.pos.tolist() == pos.tolist() and counts.neg.tolist() == neg.tolist()


def test_class_ids_are_one_vs_rest():
    labels = [0, 2, 2, 1, 2, -1]
    counts = count_dataset(Pairs(labels), num_classes=3, ignore_index=-1, classes=["a", "b", "c"],
                           progress=False)
    assert counts.classes == ["a", "b", "c"]
    assert counts.pos.tolist() == [1, 1, 3] and counts.neg.tolist() == [4, 4, 2]
    assert counts.spatial_ndim == 0 and loss(counts).pos_weight.shape == (3,)


def test_pil_masks():
    from PIL import Image

    arr = np.array([[0, 1, 255], [1, 1, 0]], dtype=np.uint8)
    img = Image.fromarray(arr, mode="L").convert("P")
    counts = count_dataset([(None, img)], num_classes=2, ignore_index=255, progress=False)
    assert counts.pos.tolist() == [2, 3] and counts.neg.tolist() == [3, 2]


def test_custom_collate_lists_of_masks():
    masks = [torch.zeros(2, 3, dtype=torch.long), torch.ones(4, 1, dtype=torch.long)]
    loader = DataLoader(Pairs(masks), batch_size=2, collate_fn=lambda b: [t for _, t in b])
    counts = count_dataset(loader, target=lambda batch: batch, num_classes=2, progress=False)
    assert counts.pos.tolist() == [6, 4] and counts.neg.tolist() == [4, 6]


def test_iterable_dataset():
    counts = count_dataset(Stream([torch.tensor([1.0, 0.0])] * 3), target="mask", progress=False)
    assert counts.pos.tolist() == [3, 0]
    with pytest.raises(OptionsError, match="IterableDataset"):
        count_dataset(Stream([]), target="mask", num_workers=2, progress=False)


# ---------------------------------------------------------------------------------------------------
# count_dataset: errors are clear, never guesses


def test_ambiguous_2d_target_is_an_error():
    with pytest.raises(OptionsError, match="ambiguous") as info:
        count_dataset(Pairs([np.zeros((4, 4), dtype=np.int64)]), progress=False)
    assert "num_classes" in str(info.value)
    forced = count_dataset(Pairs([np.eye(2)]), mode="multi-hot", progress=False)
    assert forced.spatial_ndim == 1 and forced.pos.tolist() == [1, 1]


def test_bad_values_name_the_sample():
    with pytest.raises(InputError, match=r"sample 1: value 5 at class 0") as info:
        count_dataset(Pairs([torch.tensor([1, 0]), torch.tensor([5, 0])]), progress=False)
    assert "num_classes" in str(info.value)
    with pytest.raises(InputError, match=r"sample 2: mask value 7 is not a class id \(0..2\)"):
        count_dataset(Pairs([np.zeros((2, 2), int)] * 2 + [np.full((2, 2), 7)]), num_classes=3,
                      progress=False)
    with pytest.raises(InputError, match="non-integer"):
        count_dataset(Pairs([np.full((2, 2), 0.5)]), num_classes=3, progress=False)


def test_inconsistent_targets_are_errors():
    with pytest.raises(InputError, match="sample 1: target with 3 classes after 2"):
        count_dataset(Pairs([torch.ones(2), torch.ones(3)]), progress=False)
    with pytest.raises(InputError, match="same layout"):
        count_dataset(Pairs([torch.ones(2, 3, 3), torch.ones(2, 3)]), progress=False)
    with pytest.raises(InputError, match="no target"):
        count_dataset(Pairs([]), progress=False)
    with pytest.raises(OptionsError, match="2 class names"):
        count_dataset(Pairs([torch.ones(3)]), classes=["a", "b"], progress=False)
    with pytest.raises(OptionsError, match="unknown mode"):
        count_dataset(Pairs([torch.ones(3)]), mode="binary", progress=False)  # type: ignore[arg-type]
    with pytest.raises(OptionsError, match="cannot take target"):
        count_dataset([(torch.zeros(1), torch.ones(3))], target="mask", progress=False)


def test_progress_bar_goes_to_stderr(capsys):
    count_dataset(Pairs([torch.ones(2)] * 3), progress=True)
    out = capsys.readouterr()
    assert out.out == ""


# ---------------------------------------------------------------------------------------------------
# loss()


def test_loss_matches_the_formula():
    counts = Counts(["a", "b", "c"], pos=[10, 2, 0], neg=[30, 98, 100])
    fn = loss(counts, class_weight=True, reduction="none")
    weights = bceweights.compute_weights(counts)
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float32)
    y = torch.tensor([[1.0, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
    got = fn(x, y).double()
    xd, yd = x.double(), y.double()
    p = torch.tensor(weights.pos_weight)
    w = torch.tensor(weights.class_weight)
    expected = -w * (p * yd * F.logsigmoid(xd) + (1 - yd) * F.logsigmoid(-xd))
    assert torch.allclose(got, expected, rtol=1e-5)
    assert fn.pos_weight.tolist() == [3.0, 49.0, 1.0]  # N/P; no positive: 1, never inf
    assert torch.isfinite(fn.weight).all()


def test_loss_shapes_and_sources(tmp_path):
    counts = Counts(["a", "b"], pos=[4, 1], neg=[4, 7], spatial_ndim=2)
    assert loss(counts).pos_weight.shape == (2, 1, 1)
    assert loss(counts, ndim=2).pos_weight.shape == (2,)
    assert loss(counts, ndim=5).pos_weight.shape == (2, 1, 1, 1)
    result = bceweights.Result(counts, bceweights.compute_weights(counts))
    path = result.save(tmp_path / "w.pt")
    for source in (result, path, str(path), bceweights.load(path), torch.load(path, weights_only=True)):
        fn = loss(source)
        assert fn.pos_weight.flatten().tolist() == [1.0, 7.0]
        assert fn.pos_weight.shape == (2, 1, 1), type(source)
    only_weight = loss(result.weights, pos_weight=False, class_weight=True)
    assert only_weight.pos_weight is None and only_weight.weight.shape == (2,)
    # the weights broadcast on the class axis of a real [N, C, H, W] batch
    target = torch.zeros(2, 2, 3, 2)
    target[:, 1] = 1
    per_element = loss(counts, reduction="none")(torch.zeros_like(target), target)
    assert torch.allclose(per_element[:, 1], torch.full((2, 3, 2), 7 * np.log(2), dtype=torch.float32))
    assert torch.allclose(per_element[:, 0], torch.full((2, 3, 2), np.log(2), dtype=torch.float32))


def test_loss_weight_options_and_errors():
    counts = Counts(["a", "b"], pos=[50, 5], neg=[50, 95])
    inv = loss(counts, class_weight=True)
    assert inv.weight.tolist() == [1.0, 10.0]
    mean = loss(counts, class_weight=True, normalize="mean")
    assert torch.allclose(mean.weight, torch.tensor([2 / 11, 20 / 11]))
    opts = bceweights.WeightOptions(scheme="inverse-sqrt")
    assert torch.allclose(loss(counts, class_weight=True, options=opts).weight,
                          torch.tensor([2 ** 0.5, 20 ** 0.5]))
    result = bceweights.Result(counts, bceweights.compute_weights(counts))
    with pytest.raises(OptionsError, match="Counts only"):
        loss(result, normalize="mean")
    with pytest.raises(OptionsError, match="neither"):
        loss(counts, pos_weight=False)
    with pytest.raises(OptionsError, match="unknown weight option"):
        loss(counts, no_such_option=1)
    with pytest.raises(OptionsError, match="cannot build a loss"):
        loss([1, 2])  # type: ignore[arg-type]
    with pytest.raises(OptionsError, match="at least 2"):
        loss(counts, ndim=1)
    assert loss(counts, device="cpu").pos_weight.device.type == "cpu"


# ---------------------------------------------------------------------------------------------------
# Counting from paths, counts, weights, files


def test_count_and_compute_from_paths(sample_data):
    path = sample_data / "chest_xray_labels.csv"
    counts = bceweights.count(path, where=(("split", "train"),))
    df = pd.read_csv(path)
    train = df[df["split"] == "train"]
    classes = ["Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
               "Hernia"]
    assert counts.classes == classes
    assert counts.pos.tolist() == train[classes].sum().astype(float).tolist()
    assert counts.neg.tolist() == (len(train) - train[classes].sum()).astype(float).tolist()
    result = bceweights.compute([str(path)], where=(("split", "train"),))
    assert result.counts == counts
    expected = (len(train) - train[classes].sum()) / train[classes].sum()
    assert np.allclose(result.weights.pos_weight, expected.to_numpy())


def test_counts_update_merge_and_dicts():
    a = Counts(["x", "y"])
    a.update(np.array([[1, 0], [1, 1]]))
    b = Counts(["y", "z"])
    b.update(np.array([[0.5, 1.0]]))
    total = bceweights.merge_all([a, b])
    assert total.classes == ["x", "y", "z"]
    # x and z were negatives of every sample of the other part
    assert total.pos.tolist() == [2, 1.5, 1] and total.neg.tolist() == [1, 1.5, 2]
    again = Counts.from_dict(total.to_dict())
    assert again == total and again is not total
    assert a.merge(b) is a and a == total


def test_weight_functions():
    assert bceweights.pos_weight(pos=[600, 0], neg=[400, 10]).tolist() == [400 / 600, 1.0]
    assert bceweights.inverse_frequency(pos=[50, 25], neg=[50, 75]).tolist() == [1.0, 2.0]
    assert bceweights.inverse_sqrt_frequency(pos=[25, 4], neg=[75, 96]).tolist() == [2.0, 5.0]
    assert np.allclose(bceweights.effective_number(pos=[1, 2], neg=[9, 8], beta=0.5), [1.2, 0.8])
    assert np.allclose(bceweights.median_frequency(pos=[10, 30, 60], image_pixels=[100, 100, 300]),
                       [2.0, 2 / 3, 1.0])
    assert np.allclose(bceweights.enet(pos=[50], neg=[50]), [1 / np.log(1.52)])
    assert bceweights.normalize_weights([1.0, 3.0], normalize="sum").tolist() == [0.25, 0.75]
    assert set(bceweights.SCHEMES) >= {"inverse", "inverse-sqrt", "effective-number", "median-frequency",
                                       "enet"}


def test_median_frequency_from_a_mask_dataset():
    masks = [np.array([[0, 0, 0, 1]]), np.array([[0, 2, 2, 2]])]
    counts = count_dataset(Pairs(masks), num_classes=3, progress=False)
    assert counts.image_pixels.tolist() == [8, 4, 4]
    w = bceweights.compute_weights(counts, bceweights.WeightOptions(scheme="median-frequency"))
    freq = np.array([4 / 8, 1 / 4, 3 / 4])
    assert np.allclose(w.class_weight, np.median(freq) / freq)


def test_save_and_load(tmp_path):
    counts = Counts(["a", "b"], pos=[1, 3], neg=[3, 1], spatial_ndim=3)
    result = bceweights.Result(counts, bceweights.compute_weights(counts), {"note": "x"})
    path = bceweights.save(result.payload(), tmp_path / "w.pt")
    data = bceweights.load(path)
    assert data["pos_weight"].shape == (2, 1, 1, 1) and data["pos_count"].dtype == torch.float64
    assert data["pos_weight"].flatten().tolist() == [3.0, 1 / 3] or torch.allclose(
        data["pos_weight"].flatten(), torch.tensor([3.0, 1 / 3]))
    assert bceweights.load(path, ndim=2)["pos_weight"].shape == (2,)
    assert bceweights.load(path, ndim=4)["class_weight"].shape == (2, 1, 1)
    assert bceweights.shape_for(torch.ones(2), 5).shape == (2, 1, 1, 1)
    torch.save({"not": "ours"}, tmp_path / "other.pt")
    with pytest.raises(InputError, match="not a weights file"):
        bceweights.load(tmp_path / "other.pt")


def test_validate_from_the_package():
    counts = count_dataset(torch.tensor([[[0, 1], [1, 1]], [[0, 0], [2, 1]]]), target=lambda m: m,
                           num_classes=3, progress=False)
    result = bceweights.Result(counts, bceweights.compute_weights(counts))
    report = bceweights.validate(result)
    assert isinstance(report, bceweights.ValidationReport)
    assert report.passed, [c.message for c in report.checks]
    flat = result.payload()
    flat["pos_weight"] = flat["pos_weight"].reshape(-1)  # [C] against [N, C, H, W]: the classic bug
    broken = bceweights.validate(flat)
    assert not broken.passed and "broadcast" in [c.name for c in broken.failures]


def test_validate_paths(sample_data, tmp_path):
    path = sample_data / "chest_xray_labels.csv"
    weights = bceweights.compute(path).save(tmp_path / "w.pt")
    assert bceweights.validate_paths(weights, path).passed


# ---------------------------------------------------------------------------------------------------
# Real data


@pytest.mark.realdata
def test_voc_masks_through_a_dataset(shared_data):
    from PIL import Image

    folder = shared_data / "voc2012_segclass_subset300" / "SegmentationClass"
    files = sorted(folder.glob("*.png"))[:12]

    class Voc(Dataset):
        def __len__(self):
            return len(files)

        def __getitem__(self, i):
            return torch.zeros(1), Image.open(files[i])

    counts = count_dataset(Voc(), num_classes=21, ignore_index=255, progress=False)
    pos, neg, images = ref_index([np.array(Image.open(f)) for f in files], 21, (255,))
    assert counts.pos.tolist() == pos.tolist()
    assert counts.neg.tolist() == neg.tolist()
    assert counts.image_count.tolist() == images.tolist()
    fn = loss(counts)
    assert fn.pos_weight.shape == (21, 1, 1) and torch.isfinite(fn.pos_weight).all()


def test_exported_function_survives_its_submodule_import():
    code = ("import bceweights.validate, bceweights, sys; "
            "print(callable(bceweights.validate), type(sys.modules['bceweights.validate']).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "module"]
