"""Per-sample weights and LVIS repeat factors against a brute force, from the library and the CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bceweights.counts import Counts
from bceweights.errors import ZeroPositivesError
from bceweights.sampling import (
    NO_LABEL,
    SampleOptions,
    class_repeat_factors,
    group_weights,
    row_weights,
    sample_weights,
)
from bceweights.spec import InputSpec
from bceweights.weights import WeightOptions, compute_weights


def write_wide(path, labels: np.ndarray, *, split=None) -> None:
    header = ["image_id"] + [f"k{j}" for j in range(labels.shape[1])] + (["split"] if split else [])
    lines = [",".join(header)]
    for i, row in enumerate(labels):
        # NaN is written as -1: uncertain, ignored under the default --uncertain ignore.
        cells = [f"img{i:03d}"] + ["-1" if np.isnan(v) else f"{v:g}" for v in row]
        lines.append(",".join(cells + ([split[i]] if split else [])))
    path.write_text("\n".join(lines) + "\n")


def brute_force(labels: np.ndarray, scheme_options: WeightOptions, reduce: str, threshold: float | None):
    """Row by row, from the definitions: counts by loops, the no-label group as one more class of
    ``compute_weights``, then max/mean over each row's positive labels."""
    n, c = labels.shape
    pos, neg = [0.0] * c, [0.0] * c
    none = 0
    for row in labels:
        for j, v in enumerate(row):
            if not math.isnan(v):
                pos[j] += v
                neg[j] += 1 - v
        none += not any(v > 0 for v in row)
    if none:
        groups = Counts([*(f"k{j}" for j in range(c)), NO_LABEL], pos=[*pos, none], neg=[*neg, n - none])
        gw = compute_weights(groups, scheme_options).class_weight
    else:  # an empty group is left out, so it cannot change the classes' scale
        classes = Counts([f"k{j}" for j in range(c)], pos=pos, neg=neg)
        gw = [*compute_weights(classes, scheme_options).class_weight, 0.0]
    weights, repeats = [], []
    for row in labels:
        present = [j for j, v in enumerate(row) if v > 0]
        if not present:
            weights.append(gw[c])
        elif reduce == "max":
            weights.append(max(gw[j] for j in present))
        else:
            weights.append(sum(gw[j] for j in present) / len(present))
        if threshold is not None:
            r = [max(1.0, math.sqrt(threshold / (pos[j] / n))) for j in present]
            repeats.append(max(r, default=1.0))
    return np.array(weights), np.array(repeats) if threshold is not None else None


cell = st.sampled_from([0.0, 0.0, 0.0, 1.0, 1.0, math.nan, 0.25, 0.75])


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 30).flatmap(lambda n: st.integers(1, 4).flatmap(
        lambda c: st.lists(st.lists(cell, min_size=c, max_size=c), min_size=n, max_size=n))),
    st.sampled_from(["inverse", "inverse-sqrt", "enet", "effective-number"]),
    st.sampled_from(["none", "mean"]),
    st.sampled_from(["max", "mean"]),
    st.sampled_from([None, 0.3]),
)
def test_sample_weights_match_brute_force(tmp_path_factory, rows, scheme, normalize, reduce, threshold):
    labels = np.array(rows, dtype=np.float64)
    path = tmp_path_factory.mktemp("sw") / "labels.csv"
    write_wide(path, labels)
    spec = InputSpec(columns=tuple(f"k{j}" for j in range(labels.shape[1])))
    options = WeightOptions(scheme=scheme, normalize=normalize)
    got = sample_weights(path, spec, weight_options=options,
                         options=SampleOptions(reduce=reduce, repeat_threshold=threshold))
    expected, repeats = brute_force(labels, options, reduce, threshold)
    np.testing.assert_allclose(got.weights, expected, rtol=1e-12)
    assert np.isfinite(got.weights).all() and (got.weights >= 0).all()
    if threshold is not None:
        np.testing.assert_allclose(got.repeat_factors, repeats, rtol=1e-12)
    assert got.ids == [f"img{i:03d}" for i in range(len(labels))]
    assert got.rows.tolist() == list(range(2, len(labels) + 2))


def test_worked_example_inverse():
    # 4 rows over 2 classes + the no-label group (C + 1 = 3): P = 2, 1 and 2 (rows 3 and 4).
    counts = Counts(["a", "b"])
    counts.update(np.array([[1, 0], [1, 1], [0, 0], [0, 0]]))
    gw = group_weights(counts)
    np.testing.assert_allclose(gw, [4 / 6, 4 / 3, 4 / 6])
    labels = np.array([[1, 0], [1, 1], [0, 0], [0, 0]])
    np.testing.assert_allclose(row_weights(labels, gw), [4 / 6, 4 / 3, 4 / 6, 4 / 6])
    np.testing.assert_allclose(row_weights(labels, gw, reduce="mean"), [4 / 6, 1.0, 4 / 6, 4 / 6])


def test_repeat_factors_worked_example():
    # LVIS, t = 0.1 over 100 rows: f = 0.01 → sqrt(10); f = 0.1 → 1; f = 0.5 → 1; absent → 1.
    counts = Counts(["r", "t", "c", "z"], pos=[1, 10, 50, 0], neg=[99, 90, 50, 100], samples=100)
    np.testing.assert_allclose(class_repeat_factors(counts, 0.1), [math.sqrt(10), 1, 1, 1])


def test_every_row_has_a_positive_gives_an_unused_group():
    counts = Counts(["a", "b"])
    counts.update(np.array([[1, 0], [0, 1], [1, 1]]))
    gw = group_weights(counts)
    assert gw[-1] == 0.0
    np.testing.assert_allclose(gw[:2], compute_weights(counts).class_weight)


def test_zero_positive_classes_never_give_inf_in_sample_weights(tmp_path):
    labels = np.array([[1, 0, 0], [0, 0, 0], [1, 0, 1]], dtype=float)  # k1 has no positive
    path = tmp_path / "labels.csv"
    write_wide(path, labels)
    spec = InputSpec(columns=("k0", "k1", "k2"))
    for zero in ("warn", "skip"):
        got = sample_weights(path, spec, weight_options=WeightOptions(zero_positives=zero, normalize="mean"))
        assert np.isfinite(got.weights).all() and np.isfinite(got.group_weight).all()
    with pytest.raises(ZeroPositivesError, match="k1"):
        sample_weights(path, spec, weight_options=WeightOptions(zero_positives="error"))


def test_rare_group_is_never_flagged(tmp_path):
    # One row without a positive: below --min-count, yet the no-label group keeps its own weight.
    counts = Counts(["a"])
    counts.update(np.array([[1]] * 9 + [[0]]))
    gw = group_weights(counts, WeightOptions(min_count=5))
    np.testing.assert_allclose(gw, [10 / (2 * 9), 10 / (2 * 1)])


def test_where_filter_and_several_files(tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    write_wide(first, np.array([[1, 0], [0, 1], [0, 0]], float), split=["train", "val", "train"])
    write_wide(second, np.array([[0, 1], [1, 1]], float), split=["train", "train"])
    spec = InputSpec(columns=("k0", "k1"), where=(("split", "train"),))
    got = sample_weights([first, second], spec)
    assert got.rows.tolist() == [2, 4, 2, 3]
    assert got.file_index.tolist() == [0, 0, 1, 1]
    assert got.ids == ["img000", "img002", "img000", "img001"]
    # Kept rows: [1,0], [0,0], [0,1], [1,1]: P = 2, 2, none 1; n = 4; C + 1 = 3.
    gw = [4 / 6, 4 / 6, 4 / 3]
    np.testing.assert_allclose(got.group_weight, gw)
    np.testing.assert_allclose(got.weights, [gw[0], gw[2], gw[1], gw[0]])


def test_label_lists_map_classes_by_name(tmp_path):
    path = tmp_path / "lists.csv"
    path.write_text("Image Index,Finding Labels\nx1,B|A\nx2,No Finding\nx3,C\nx4,A\n")
    spec = InputSpec(list_column="Finding Labels", exclude_columns=("No Finding",))
    got = sample_weights(path, spec, options=SampleOptions(repeat_threshold=0.5))
    assert got.classes == ["A", "B", "C"]
    # P: A 2, B 1, C 1, none 1 (x2); n = 4, C + 1 = 4 → n / (4 P)
    gw = np.array([4 / 8, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(got.group_weight, gw)
    np.testing.assert_allclose(got.weights, [1.0, 1.0, 1.0, 0.5])
    # r: A f=0.5 → 1; B, C f=0.25 → sqrt(2)
    np.testing.assert_allclose(got.repeat_factors, [math.sqrt(2), 1.0, math.sqrt(2), 1.0])
    assert got.ids == ["x1", "x2", "x3", "x4"]


def test_id_column_choice(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("a,b,note\n1,0,p\n0,1,q\n")
    spec = InputSpec(columns=("a", "b"))
    assert sample_weights(path, spec).ids is None  # no id-like column
    assert sample_weights(path, spec, options=SampleOptions(id_column="note")).ids == ["p", "q"]
    assert sample_weights(path, spec, options=SampleOptions(id_column=None)).ids is None
    headless = tmp_path / "headless.txt"
    headless.write_text("img1.png 1 0\nimg2.png 0 1\n")
    got = sample_weights(headless, InputSpec(no_header=True, delimiter=" "))
    assert got.ids == ["img1.png", "img2.png"]


def test_cli_writes_the_documented_keys(tmp_path, cli):
    labels = np.array([[1, 0], [0, 0], [1, 1], [0, 1], [1, 0]], float)
    path = tmp_path / "labels.csv"
    write_wide(path, labels)
    out, samples = tmp_path / "w.pt", tmp_path / "samples.pt"
    result = cli("compute", path, "--columns", "k0,k1", "-o", out, "-q", "--sample-weights", samples,
                 "--sample-reduce", "mean", "--repeat-threshold", "0.5", "--normalize", "mean")
    assert result.exit_code == 0, result.stderr
    data = torch.load(samples, weights_only=True)
    assert set(data) == {"weights", "repeat_factors", "ids", "rows", "file_index", "files", "classes",
                         "groups", "group_weight", "class_repeat_factor", "meta"}
    assert data["weights"].dtype == torch.float64 and data["weights"].shape == (5,)
    expected, repeats = brute_force(labels, WeightOptions(normalize="mean"), "mean", 0.5)
    np.testing.assert_allclose(data["weights"].numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(data["repeat_factors"].numpy(), repeats, rtol=1e-12)
    assert data["groups"] == ["k0", "k1", NO_LABEL]
    assert data["ids"] == [f"img{i:03d}" for i in range(5)]
    assert data["meta"]["reduce"] == "mean" and data["meta"]["no_label_rows"] == 1
    sampler = torch.utils.data.WeightedRandomSampler(data["weights"], num_samples=5)
    assert len(list(sampler)) == 5


def test_cli_sampling_flags_need_sample_weights(tmp_path, cli):
    path = tmp_path / "labels.csv"
    write_wide(path, np.array([[1, 0], [0, 1]], float))
    for args in (["--repeat-threshold", "0.1"], ["--sample-reduce", "mean"], ["--id-column", "image_id"]):
        result = cli("compute", path, *args, "-o", tmp_path / "w.pt")
        assert result.exit_code == 2
        assert "--sample-weights" in result.output or "--sample-weights" in result.stderr


@pytest.mark.realdata
def test_chexpert_sample_weights(shared_data, tmp_path):
    import pandas as pd

    path = shared_data / "chexpert_jfhealthcare/train.csv"
    spec = InputSpec()
    got = sample_weights(path, spec, options=SampleOptions(repeat_threshold=0.01))
    df = pd.read_csv(path)
    labels = df[df.columns[5:]].to_numpy(dtype=float)
    labels[labels == -1] = np.nan  # U-Ignore
    labels = np.where(np.isnan(df[df.columns[5:]].to_numpy(dtype=float)), 0.0, labels)  # blank → 0
    expected, repeats = brute_force(labels, WeightOptions(), "max", 0.01)
    np.testing.assert_allclose(got.weights, expected, rtol=1e-12)
    np.testing.assert_allclose(got.repeat_factors, repeats, rtol=1e-12)
    assert got.ids == df["Path"].tolist()


def test_sample_weights_of_npy_masks_are_refused_like_other_masks(tmp_path, cli):
    # With --mask-mode, a .npy is a mask (as when counting), not rows of a multi-hot array.
    np.save(tmp_path / "m0.npy", np.arange(12, dtype=np.uint8).reshape(3, 4) % 3)
    result = cli("compute", tmp_path / "m0.npy", "--mask-mode", "index", "-o", tmp_path / "w.pt",
                 "--sample-weights", tmp_path / "s.pt", "--no-validate")
    assert result.exit_code == 1
    assert "per-sample weights need labels given row by row" in result.stderr
    assert not (tmp_path / "s.pt").exists()
