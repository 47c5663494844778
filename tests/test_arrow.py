"""Arrow IPC files and Hugging Face datasets (cache files, save_to_disk folders, Parquet): list<int64> ids
named by the features, list<string>, ClassLabel integers; counts checked against a plain Python count."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bceweights import api, count, readers
from bceweights.errors import InputError, OptionsError
from bceweights.sampling import SampleOptions, sample_weights
from bceweights.spec import InputSpec

NAMES = ["anger", "joy", "neutral", "sad"]
LIST_OF_LABELS = {"feature": {"names": NAMES, "_type": "ClassLabel"}, "_type": "List"}


def features(**columns):
    return {"text": {"dtype": "string", "_type": "Value"}, **columns}


def hf_table(lists, column="labels", feature=LIST_OF_LABELS, **more) -> pa.Table:
    """A table as ``datasets`` writes it: the features in the schema's ``huggingface`` metadata."""
    data = {"text": pa.array([f"t{i}" for i in range(len(lists))]), column: lists, **more}
    table = pa.table(data)
    meta = {b"huggingface": json.dumps({"info": {"features": features(**{column: feature})}}).encode()}
    return table.replace_schema_metadata(meta)


def write_stream(path: Path, table: pa.Table, chunk: int | None = None) -> Path:
    with pa.ipc.new_stream(str(path), table.schema) as out:
        out.write_table(table, max_chunksize=chunk)
    return path


def write_file(path: Path, table: pa.Table, chunk: int | None = None) -> Path:
    with pa.ipc.new_file(str(path), table.schema) as out:
        out.write_table(table, max_chunksize=chunk)
    return path


def save_to_disk(folder: Path, table: pa.Table, shards: int = 3) -> Path:
    """The layout of ``Dataset.save_to_disk`` (datasets 5.2): streams named data-0000i-of-0000n.arrow,
    state.json listing them, dataset_info.json with the features."""
    folder.mkdir()
    names = [f"data-{i:05d}-of-{shards:05d}.arrow" for i in range(shards)]
    bounds = np.linspace(0, table.num_rows, shards + 1).astype(int)
    for name, lo, hi in zip(names, bounds, bounds[1:]):
        write_stream(folder / name, table.slice(lo, hi - lo))
    (folder / "state.json").write_text(json.dumps({
        "_data_files": [{"filename": name} for name in names], "_fingerprint": "f1", "_format_columns": None,
        "_format_kwargs": {}, "_format_type": None, "_output_all_columns": False, "_split": None}))
    info = json.loads(table.schema.metadata[b"huggingface"])["info"]
    (folder / "dataset_info.json").write_text(json.dumps({"citation": "", "description": "", **info}))
    return folder


def random_lists(n=400, seed=0, classes=4):
    rng = np.random.default_rng(seed)
    return [sorted(rng.choice(classes, rng.integers(0, 3), replace=False).tolist()) for _ in range(n)]


def expected(lists, classes=4):
    pos = np.zeros(classes)
    for labels in lists:
        for k in set(labels):
            pos[k] += 1
    return pos.tolist(), (len(lists) - pos).tolist()


@pytest.mark.parametrize("writer", ["stream", "file", "parquet"])
def test_list_of_class_label_ids_named_by_the_features(tmp_path, writer):
    lists = random_lists()
    table = hf_table(lists)
    path = tmp_path / ("data.parquet" if writer == "parquet" else "data.arrow")
    {"stream": write_stream, "file": write_file}.get(writer, lambda p, t: pq.write_table(t, p, row_group_size=64))(
        path, table)
    counts = count(path)  # the label column is found from the features
    assert counts.classes == NAMES
    assert [counts.pos.tolist(), counts.neg.tolist()] == list(expected(lists))
    assert any("dataset's features" in note for note in counts.notes)


@pytest.mark.parametrize("feature", [
    {"feature": {"names": NAMES, "_type": "ClassLabel"}, "_type": "Sequence", "length": -1},  # datasets 2.x
    [{"names": NAMES, "_type": "ClassLabel"}],  # a list feature written as a JSON list
    {"feature": {"num_classes": 4, "_type": "ClassLabel"}, "_type": "LargeList"},
])
def test_older_and_other_spellings_of_a_label_list(tmp_path, feature):
    lists = random_lists(seed=1)
    path = write_stream(tmp_path / "data.arrow", hf_table(lists, feature=feature))
    counts = count(path)
    assert counts.classes == (NAMES if "num_classes" not in json.dumps(feature) else ["0", "1", "2", "3"])
    assert counts.pos.tolist() == expected(lists)[0]


def test_class_label_integers_are_one_class_per_row(tmp_path):
    labels = [0, 3, 3, 1, 0, 3]
    path = write_stream(tmp_path / "data.arrow",
                        hf_table(labels, column="label", feature={"names": NAMES, "_type": "ClassLabel"}))
    counts = count(path)
    assert counts.classes == NAMES and counts.pos.tolist() == [2, 1, 0, 3] and counts.neg.tolist() == [4, 5, 6, 3]


def test_list_of_strings_and_a_choice_among_label_columns(tmp_path):
    tags = [["a", "b"], [], ["b"], ["c", "a", "a"]]
    table = hf_table(random_lists(4), tags=pa.array(tags))
    table = table.replace_schema_metadata({b"huggingface": json.dumps({"info": {"features": features(
        labels=LIST_OF_LABELS, other={"names": ["x", "y"], "_type": "ClassLabel"})}}).encode()})
    table = table.append_column("other", pa.array([0, 1, 1, 0]))
    path = write_stream(tmp_path / "data.arrow", table)
    with pytest.raises(OptionsError, match="several columns hold class labels"):
        count(path)
    counts = count(path, list_column="tags")
    assert counts.classes == ["a", "b", "c"] and counts.pos.tolist() == [2, 2, 1]
    assert count(path, class_column="other").classes == ["x", "y"]
    with pytest.raises(OptionsError, match="holds lists of labels"):
        count(path, class_column="tags")


def test_save_to_disk_folder_reads_its_shards_in_order(tmp_path, cli):
    import torch

    lists = random_lists(300, seed=2)
    table = hf_table(lists, id=pa.array([f"id{i}" for i in range(300)]))
    folder = save_to_disk(tmp_path / "train", table)
    counts = count(folder)
    assert counts.classes == NAMES and counts.pos.tolist() == expected(lists)[0] and counts.samples == 300
    result = cli("compute", folder, "-o", tmp_path / "w.pt", "--sample-weights", tmp_path / "s.pt", "-q")
    assert result.exit_code == 0, result.stderr
    saved = torch.load(tmp_path / "s.pt", weights_only=True)
    # Rows are numbered across the shards from 1, and the ids are the detected id column.
    assert saved["rows"].tolist() == list(range(1, 301)) and saved["ids"] == [f"id{i}" for i in range(300)]
    # A folder of splits is refused, naming them.
    splits = tmp_path / "dict"
    splits.mkdir()
    (splits / "dataset_dict.json").write_text(json.dumps({"splits": ["train", "validation"]}))
    result = cli("compute", splits, "-o", tmp_path / "w.pt")
    assert result.exit_code == 1 and "holds several splits (train, validation)" in result.stderr
    assert f"{splits / 'train'}" in result.stderr


def test_features_from_dataset_info_beside_a_file_without_metadata(tmp_path):
    lists = random_lists(50, seed=3)
    table = hf_table(lists)
    path = write_stream(tmp_path / "data.arrow", table.replace_schema_metadata(None))
    info = json.loads(table.schema.metadata[b"huggingface"])["info"]
    assert count(path, list_column="labels").classes == ["0", "1", "2", "3"]
    (tmp_path / "dataset_info.json").write_text(json.dumps(info))
    assert count(path).classes == NAMES


def test_arrow_found_by_content_and_a_bad_file_is_one_error(tmp_path):
    path = write_stream(tmp_path / "labels.bin", hf_table(random_lists(20)))
    assert readers.resolve(path, InputSpec()).name == "arrow"
    file_format = write_file(tmp_path / "labels.dat", hf_table(random_lists(20)))
    assert readers.resolve(file_format, InputSpec()).name == "arrow"
    cut = tmp_path / "cut.arrow"
    cut.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(InputError, match=r"cut.arrow: cannot read the Arrow file"):
        count(cut)


def test_sample_weights_take_the_id_column(tmp_path):
    lists = [[0], [1, 2], [], [3]]
    path = write_stream(tmp_path / "data.arrow", hf_table(lists, id=pa.array(["a", "b", "c", "d"])))
    got = sample_weights(path, InputSpec(), options=SampleOptions())
    assert got.ids == ["a", "b", "c", "d"] and got.rows.tolist() == [1, 2, 3, 4]


def test_both_engines_give_the_same_tensors(tmp_path):
    distributed = pytest.importorskip("distributed")
    from bceweights.engines import dask as dask_engine

    lists = random_lists(3000, seed=4)
    stream = write_stream(tmp_path / "data.arrow", hf_table(lists), chunk=100)
    folder = save_to_disk(tmp_path / "train", hf_table(lists))
    mp = pytest.MonkeyPatch()
    mp.setattr(dask_engine, "MIN_BLOCK", 4000)
    mp.setattr(dask_engine, "MAX_BLOCK", 4000)
    try:
        hints = readers.base.PlanHints(split=True, block=4000)
        parts = readers.get("arrow").plan([stream], InputSpec(), hints).partitions
        assert len(parts) > 3 and all("record batch" in p.label for p in parts)
        cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                           dashboard_address=None, silence_logs=50)
        with distributed.Client(cluster) as client:
            for path in (stream, folder):
                local = api.compute(path)
                dask = api.compute(path, engine="dask", scheduler=client)
                assert dask.counts.to_dict() == local.counts.to_dict()
                assert local.counts.pos.tolist() == expected(lists)[0]
        cluster.close()
    finally:
        mp.undo()


@pytest.mark.realdata
def test_hugging_face_cache_file_counts_like_pyarrow(shared_data):
    path = shared_data / "hf_arrow_goemotions" / "go_emotions-validation.arrow"
    with pa.memory_map(str(path)) as source:
        table = pa.ipc.open_stream(source).read_all()
    names = json.loads(table.schema.metadata[b"huggingface"])["info"]["features"]["labels"]["feature"]["names"]
    lists = table.column("labels").to_pylist()
    counts = api.compute(path).counts
    assert counts.classes == names and counts.samples == table.num_rows == 5426
    assert [counts.pos.tolist(), counts.neg.tolist()] == list(expected(lists, len(names)))


@pytest.mark.realdata
def test_hugging_face_cache_file_on_dask_equals_local(shared_data):
    distributed = pytest.importorskip("distributed")
    from bceweights.engines import dask as dask_engine

    path = shared_data / "hf_arrow_goemotions" / "go_emotions-validation.arrow"
    mp = pytest.MonkeyPatch()
    mp.setattr(dask_engine, "MIN_BLOCK", 50_000)
    mp.setattr(dask_engine, "MAX_BLOCK", 50_000)
    try:
        cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                           dashboard_address=None, silence_logs=50)
        with distributed.Client(cluster) as client:
            local = api.compute(path)
            dask = api.compute(path, engine="dask", scheduler=client)
        cluster.close()
    finally:
        mp.undo()
    assert dask.counts.to_dict() == local.counts.to_dict()
