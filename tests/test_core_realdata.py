"""Real public label tables (../shared/data): counts equal an independent pandas count exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from bceweights import count

pytestmark = pytest.mark.realdata


def pandas_list_counts(series: pd.Series, sep: str):
    labels = series.fillna("").map(lambda s: {t.strip() for t in s.split(sep) if t.strip()})
    classes = sorted(set().union(*labels))
    pos = [sum(c in row for row in labels) for c in classes]
    return classes, pos


@pytest.mark.parametrize("split", ["train_list.txt", "val_list.txt", "test_list.txt"])
def test_chestxray14_multihot_lists(shared_data, split):
    folder = shared_data / "chexnet_cxr14_multihot"
    names = (folder / "CLASS_ORDER.txt").read_text().split()
    df = pd.read_csv(folder / split, sep=" ", header=None)
    expected = df.iloc[:, 1:].to_numpy()
    c = count(folder / split, no_header=True, classes_file=folder / "CLASS_ORDER.txt")
    assert c.classes == names
    assert c.pos.tolist() == expected.sum(axis=0).tolist()
    assert c.neg.tolist() == (1 - expected).sum(axis=0).tolist()
    assert c.samples == len(df)


@pytest.mark.parametrize("path", ["nih_cxr14_capstone/Data_Entry_2017.csv", "nih_cxr14_sample/sample_labels.csv"])
def test_nih_finding_labels(shared_data, path):
    df = pd.read_csv(shared_data / path)
    classes, pos = pandas_list_counts(df["Finding Labels"], "|")
    c = count(shared_data / path, list_column="Finding Labels")
    assert c.classes == classes
    assert c.pos.tolist() == pos
    assert c.neg.tolist() == [len(df) - p for p in pos]


def test_planet_tags_count_a_repeated_tag_once(shared_data):
    df = pd.read_csv(shared_data / "planet_amazon/train_v2.csv")
    classes, pos = pandas_list_counts(df["tags"], " ")
    c = count(shared_data / "planet_amazon/train_v2.csv", list_column="tags", separator=" ")
    assert c.classes == classes and c.pos.tolist() == pos
    naive = df["tags"].str.split().explode().value_counts()
    assert naive["cultivation"] > c.pos[c.classes.index("cultivation")]  # the repeats are real


def test_isic_2019_one_hot_and_2020_class_column(shared_data):
    folder = shared_data / "isic_2019_2020"
    df = pd.read_csv(folder / "ISIC_2019_Training_GroundTruth.csv")
    c = count(folder / "ISIC_2019_Training_GroundTruth.csv")
    assert c.classes == list(df.columns[1:])
    assert c.pos.tolist() == df.iloc[:, 1:].sum().tolist()
    df20 = pd.read_csv(folder / "ISIC_2020_Training_GroundTruth.csv")
    c20 = count(folder / "ISIC_2020_Training_GroundTruth.csv", class_column="diagnosis")
    expected = df20["diagnosis"].value_counts()
    assert c20.classes == sorted(expected.index)
    assert c20.pos.tolist() == [expected[k] for k in c20.classes]
    target = count(folder / "ISIC_2020_Training_GroundTruth.csv", columns=("target",))
    assert target.pos.tolist() == [df20["target"].sum()]


def test_chexpert_default_policy(shared_data):
    path = shared_data / "chexpert_jfhealthcare/train.csv"
    df = pd.read_csv(path)
    labels = df.columns[5:]
    c = count(path)
    assert c.classes == list(labels)
    values = df[labels]
    assert c.pos.tolist() == (values == 1).sum().tolist()
    # blanks are negatives by default; -1 is ignored
    assert c.neg.tolist() == ((values == 0) | values.isna()).sum().tolist()
    assert c.uncertain.tolist() == (values == -1).sum().tolist()
    assert c.missing.tolist() == values.isna().sum().tolist()


def test_compute_cli_on_real_table_and_loss(shared_data, tmp_path, cli):
    folder = shared_data / "chexnet_cxr14_multihot"
    out = tmp_path / "w.pt"
    result = cli("compute", folder / "val_list.txt", "--no-header", "--classes-file",
                 folder / "CLASS_ORDER.txt", "-o", out)
    assert result.exit_code == 0, result.stderr
    w = torch.load(out, weights_only=True)
    df = pd.read_csv(folder / "val_list.txt", sep=" ", header=None).iloc[:, 1:].to_numpy()
    np.testing.assert_allclose(w["pos_weight"].numpy(), (1 - df).sum(0) / df.sum(0), rtol=1e-6)
    loss = torch.nn.BCEWithLogitsLoss(pos_weight=w["pos_weight"])(torch.zeros(8, 14), torch.ones(8, 14))
    assert torch.isfinite(loss)
