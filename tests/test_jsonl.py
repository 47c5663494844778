"""JSON Lines and JSON arrays of records: label lists, wide 0/1 fields, nested objects, streamed in
chunks (a record cut anywhere), checked against json.loads."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bceweights import api, count, readers
from bceweights.errors import InputError
from bceweights.spec import InputSpec
from bceweights.tables import json_source


def reference(records, field="labels"):
    classes = sorted({label for r in records for label in r.get(field) or []})
    pos = [sum(1 for r in records if c in (r.get(field) or [])) for c in classes]
    return classes, pos, [len(records) - p for p in pos]


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


text = st.text(alphabet=st.sampled_from(list('ab{}[]",:\\\n é\t')), max_size=12)
record = st.fixed_dictionaries({"text": text, "labels": st.lists(st.sampled_from(["cat", "dog", "x{y", 'q"t']),
                                                                  max_size=3),
                                "meta": st.fixed_dictionaries({"note": text})})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(record, min_size=1, max_size=25), indent=st.sampled_from([None, 0, 2]),
       chunk=st.integers(1, 64), lines=st.booleans())
def test_any_records_count_like_json_loads(tmp_path, monkeypatch, records, indent, chunk, lines):
    # Chunks of a few bytes cut records, strings and escapes anywhere.
    monkeypatch.setattr(json_source, "FIRST_CHUNK", chunk)
    monkeypatch.setattr(json_source, "CHUNK_BYTES", chunk * 4)
    path = tmp_path / ("labels.jsonl" if lines else "labels.json")
    if lines:
        write_jsonl(path, records)
    else:
        path.write_text(json.dumps(records, indent=indent), encoding="utf-8")
    if not any(r["labels"] for r in records):
        return
    counts = count(path, list_column="labels")
    classes, pos, neg = reference(records)
    assert (counts.classes, counts.pos.tolist(), counts.neg.tolist()) == (classes, pos, neg)


def test_wide_fields_booleans_and_nested_objects_are_detected(tmp_path):
    records = [{"id": f"s{i}", "labels": {"cat": i % 2, "dog": int(i % 3 == 0)}, "flag": i % 4 == 0, "score": i / 7}
               for i in range(30)]
    path = write_jsonl(tmp_path / "labels.jsonl", records)
    counts = count(path)
    assert counts.classes == ["labels.cat", "labels.dog", "flag"]
    assert counts.pos.tolist() == [15, 10, 8] and counts.samples == 30
    assert ("skipped 2 (id-like, or values other than 0/1, -1 and blank; name the label columns with "
            "--columns): id, score") in " ".join(counts.notes)


def test_a_field_null_at_first_takes_its_later_type(tmp_path):
    records = [{"labels": []} for _ in range(5)] + [{"labels": ["a"]}, {"labels": None}, {}]
    path = write_jsonl(tmp_path / "labels.jsonl", records)
    counts = count(path, list_column="labels")
    assert counts.classes == ["a"] and counts.pos.tolist() == [1] and counts.samples == 8


def test_gzip_and_the_ids_of_records(tmp_path):
    records = [{"path": f"img{i}.jpg", "labels": ["a"] if i % 2 else ["b", "a"]} for i in range(6)]
    path = tmp_path / "labels.jsonl.gz"
    path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in records).encode()))
    result = api.compute(path, list_column="labels")
    assert result.counts.pos.tolist() == [6, 3]
    from bceweights.sampling import sample_weights

    got = sample_weights(path, InputSpec(list_column="labels"))
    assert got.ids == [f"img{i}.jpg" for i in range(6)] and got.rows.tolist() == list(range(1, 7))


@pytest.mark.parametrize("content, message", [
    ('[{"labels": ["a"]}, 3]', r"record 2: an element of the JSON array is not an object"),
    ('[{"labels": ["a"]}, {"labels": ["b"]}', r"ends before its closing"),
    ('[{"labels": ["a"]}] x', r"text after the closing"),
    ('{"labels": ["a"]}\n{"labels": "b"}\n', r"row 2: .*changed from array to string"),
    ('{"labels": ["a"]}\n{"labels": ["b"]\n', r"row 2: "),
])
def test_malformed_records_are_one_error_with_the_row(tmp_path, content, message):
    path = tmp_path / "labels.json"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        count(path, list_column="labels")


def test_json_is_shared_with_coco_by_content(tmp_path):
    records = tmp_path / "records.json"
    records.write_text(json.dumps([{"labels": ["a"]}]))
    lines = tmp_path / "lines.json"
    write_jsonl(lines, [{"labels": ["a"]}, {"labels": ["b"]}])
    coco = tmp_path / "instances.json"
    coco.write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    jsonl = readers.get("jsonl")
    assert jsonl.claims(records, InputSpec()) and jsonl.claims(lines, InputSpec())
    assert not jsonl.claims(coco, InputSpec())
    assert readers.resolve(records, InputSpec()).name == "jsonl"
    # A COCO file that starts like records on one line is still not records.
    coco.write_text(json.dumps({"images": [{"id": 1}], "annotations": []}) + "\n")
    assert not jsonl.claims(coco, InputSpec())


def test_both_engines_give_the_same_tensors(tmp_path):
    distributed = pytest.importorskip("distributed")
    rng = np.random.default_rng(0)
    records = [{"labels": [c for c in ("a", "b", "c") if rng.random() < 0.4], "w": int(rng.random() < 0.5)}
               for _ in range(2000)]
    path = write_jsonl(tmp_path / "labels.jsonl", records)
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None,
                                       silence_logs=50)
    with distributed.Client(cluster) as client:
        for options in ({"list_column": "labels"}, {}):
            local = api.compute(path, **options)
            dask = api.compute(path, engine="dask", scheduler=client, **options)
            assert dask.counts.to_dict() == local.counts.to_dict()
    cluster.close()
    assert local.counts.pos.tolist() == [sum(r["w"] for r in records)]
