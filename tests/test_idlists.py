"""Label lists and one class per row whose values are ids named by --classes-file; --quote; columns of a
file without header by position; the order of classes met in lists."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from bceweights import api, count
from bceweights.errors import InputError, OptionsError, UsageError


def goemotions_like(path, rows):
    path.write_text("".join(f"{text}\t{ids}\t{key}\n" for text, ids, key in rows), encoding="utf-8")
    return path


ROWS = [("I love it", "0,3", "e1"), ('"Yes" she said', "2", "e2"), ("meh", "3", "e3"), ("so\"odd", "0,0", "e4")]
NAMES = "admiration\namusement\nanger\nneutral"


def test_ids_are_named_by_the_classes_file_in_its_order(tmp_path):
    path = goemotions_like(tmp_path / "train.tsv", ROWS)
    names = tmp_path / "labels.txt"
    names.write_text(NAMES)  # no newline at the end, as GoEmotions' labels.txt
    counts = count(path, no_header=True, delimiter="\t", quote="none", list_column="1", separator=",",
                   classes_file=names)
    # Every class of the file, in its order, "amusement" with no positive; "0,0" counts once.
    assert counts.classes == ["admiration", "amusement", "anger", "neutral"]
    assert counts.pos.tolist() == [2, 0, 1, 2] and counts.neg.tolist() == [2, 4, 3, 2]
    assert any("labels.txt" in note and "4 classes" in note for note in counts.notes)


def test_without_names_integer_classes_sort_numerically(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("id,labels\na,10 2\nb,2\nc,1 10\n")
    counts = count(path, list_column="labels", separator=" ")
    assert counts.classes == ["1", "2", "10"] and counts.pos.tolist() == [1, 2, 2]


def test_an_id_outside_the_classes_file_is_an_error(tmp_path):
    path = goemotions_like(tmp_path / "train.tsv", ROWS + [("new", "4", "e5")])
    names = tmp_path / "labels.txt"
    names.write_text(NAMES)
    with pytest.raises(InputError, match=r"row 5: label '4' is neither a class of .*labels.txt nor one of its ids 0-3"):
        count(path, no_header=True, delimiter="\t", quote="none", list_column="1", separator=",", classes_file=names)


def test_names_and_ids_mix_and_exclusion_takes_names(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("f,labels\na,anger|0\nb,3\nc,neutral|amusement\n")
    names = tmp_path / "labels.txt"
    names.write_text(NAMES)
    counts = count(path, list_column="labels", classes_file=names, exclude_columns=("neutral",))
    # "3" is neutral's id: excluded with it; b is a sample with no positive.
    assert counts.classes == ["admiration", "amusement", "anger"]
    assert counts.pos.tolist() == [1, 1, 1] and counts.samples == 3 and counts.no_positive == 1


def test_class_column_of_ids_with_an_id_name_csv(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("image,label\na,/m/02\nb,/m/01\nc,/m/02\n")
    names = tmp_path / "oidv6-class-descriptions.csv"
    names.write_text("/m/01,Cat\n/m/02,Dog\n")
    counts = count(path, class_column="label", classes_file=names)
    assert counts.classes == ["Cat", "Dog"] and counts.pos.tolist() == [1, 2] and counts.neg.tolist() == [2, 1]


def test_quote_none_reads_quotes_as_text(tmp_path):
    # An unbalanced quote: with quoting on, the field runs to the end of the line and the row is ragged.
    path = goemotions_like(tmp_path / "train.tsv", [("fine", "x", "e1"), ('"oops', "y", "e2"), ("ok", "y", "e3")])
    with pytest.raises(InputError):
        count(path, no_header=True, delimiter="\t", list_column="1", separator=",")
    counts = count(path, no_header=True, delimiter="\t", quote="none", list_column="1", separator=",")
    assert counts.classes == ["x", "y"] and counts.pos.tolist() == [1, 2]
    # Another quote character: a delimiter inside it is text.
    other = tmp_path / "q.csv"
    other.write_text("id,labels\n'a,b',x|y\n'c',y\n")
    assert count(other, list_column="labels", quote="'").pos.tolist() == [1, 2]


def test_quote_mistakes_are_usage_errors(tmp_path, cli):
    path = tmp_path / "labels.csv"
    path.write_text("id,a\n1,1\n")
    result = cli("compute", path, "--quote", "ab", "-o", tmp_path / "w.pt")
    assert result.exit_code == 2 and "--quote" in result.stderr
    parquet = tmp_path / "labels.parquet"
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": [1, 0]}), parquet)
    result = cli("compute", parquet, "--quote", "none", "-o", tmp_path / "w.pt")
    assert result.exit_code == 2 and "--quote" in result.stderr


def test_positions_name_columns_of_a_file_without_header(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("x1,cat|dog,z\nx2,dog,z\n")
    by_position = count(path, no_header=True, list_column="1")
    assert by_position.classes == ["cat", "dog"] and by_position.pos.tolist() == [1, 2]
    assert count(path, no_header=True, list_column="column_2").to_dict() == by_position.to_dict()
    with pytest.raises(OptionsError, match="column position 7 is past the last column"):
        count(path, no_header=True, list_column="7")
    with pytest.raises(UsageError):
        count(path, no_header=True, list_column="1", class_column="2")


@pytest.mark.realdata
@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_goemotions_counts_like_pandas(shared_data, split):
    import pandas as pd

    folder = shared_data / "goemotions"
    names = (folder / "labels.txt").read_text().split("\n")
    df = pd.read_csv(folder / f"{split}.tsv", sep="\t", header=None, quoting=csv.QUOTE_NONE, dtype=str,
                     keep_default_na=False)
    pos = np.zeros(len(names))
    for cell in df[1]:
        for k in {int(v) for v in cell.split(",")}:
            pos[k] += 1
    result = api.compute(folder / f"{split}.tsv", no_header=True, delimiter="\t", quote="none", list_column="1",
                         separator=",", classes_file=folder / "labels.txt")
    counts = result.counts
    assert counts.classes == names and counts.samples == len(df)
    assert counts.pos.tolist() == pos.tolist() and counts.neg.tolist() == (len(df) - pos).tolist()


@pytest.mark.realdata
def test_goemotions_cli_line_of_the_issue(shared_data, tmp_path, cli):
    import torch

    folder = shared_data / "goemotions"
    result = cli("compute", folder / "dev.tsv", "--no-header", "--delimiter", "\\t", "--quote", "none",
                 "--list-column", "1", "--separator", ",", "--classes-file", folder / "labels.txt",
                 "-o", tmp_path / "w.pt", "--sample-weights", tmp_path / "s.pt", "--id-column", "2", "-q")
    assert result.exit_code == 0, result.stderr
    saved = torch.load(tmp_path / "w.pt", weights_only=True)
    assert saved["classes"][-1] == "neutral" and len(saved["classes"]) == 28
    samples = torch.load(tmp_path / "s.pt", weights_only=True)
    assert len(samples["ids"]) == 5426 and samples["ids"][0] == "edgurhb"


@pytest.mark.realdata
def test_goemotions_on_dask_equals_local(shared_data):
    distributed = pytest.importorskip("distributed")
    from bceweights.engines import dask as dask_engine

    folder = shared_data / "goemotions"
    options = dict(no_header=True, delimiter="\t", quote="none", list_column="1", separator=",",
                   classes_file=folder / "labels.txt")
    mp = pytest.MonkeyPatch()
    mp.setattr(dask_engine, "MIN_BLOCK", 200_000)  # train.tsv (3.5 MB) in ~18 byte ranges
    mp.setattr(dask_engine, "MAX_BLOCK", 200_000)
    try:
        cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                           dashboard_address=None, silence_logs=50)
        with distributed.Client(cluster) as client:
            for split in ("train", "dev"):
                local = api.compute(folder / f"{split}.tsv", **options)
                dask = api.compute(folder / f"{split}.tsv", engine="dask", scheduler=client, **options)
                assert dask.counts.to_dict() == local.counts.to_dict()
        cluster.close()
    finally:
        mp.undo()
