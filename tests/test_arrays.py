"""Multi-hot arrays (.npy, .npz, .pt) and multi-label ARFF against independent NumPy counts."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays as np_arrays

from bceweights import api, readers
from bceweights.engines import add_partials
from bceweights.errors import InputError, OptionsError
from bceweights.readers import arrays
from bceweights.readers.base import PlanHints
from bceweights.spec import InputSpec

RNG = np.random.default_rng(11)


def multi_hot(n=50, c=4, p=0.3, dtype=np.int8):
    return (RNG.random((n, c)) < p).astype(dtype)


def reader_counts(name, paths, spec=None, hints=None):
    """The counts of ``paths`` by the reader ``name`` alone: its plan, a count of every partition, the
    partials added in order, its finish (what an engine does, without one)."""
    spec = spec or InputSpec()
    reader = readers.get(name)
    plan = reader.plan([Path(p) for p in paths], spec, hints or PlanHints())
    partials = [reader.count(part, plan.spec) for part in plan.partitions]
    return reader.finish(add_partials(partials), plan.spec).counts


def assert_counts(counts, y, classes=None):
    """y: [N, C] hard 0/1 labels."""
    y = np.asarray(y, dtype=np.float64)
    np.testing.assert_array_equal(counts.pos, y.sum(axis=0))
    np.testing.assert_array_equal(counts.neg, (1 - y).sum(axis=0))
    assert counts.samples == len(y)
    assert counts.no_positive == int((y.sum(axis=1) == 0).sum())
    if classes is not None:
        assert counts.classes == classes
    if counts.cooccurrence is not None:
        np.testing.assert_array_equal(counts.cooccurrence, y.T @ y)


# -------------------------------------------------------------------------------------------- .npy


def test_npy_is_counted_in_chunks(tmp_path, monkeypatch):
    y = multi_hot(1003, 5)
    np.save(tmp_path / "y.npy", y)
    monkeypatch.setattr(arrays, "CHUNK_ELEMENTS", 40)  # 8 rows a chunk: 126 chunks
    batches = list(arrays.iter_label_batches(tmp_path / "y.npy", InputSpec()))
    assert len(batches) == 126 and batches[-1].rows[-1] == 1003
    counts = api.count(tmp_path / "y.npy")
    assert_counts(counts, y, ["0", "1", "2", "3", "4"])
    assert counts.cooccurrence is not None


def test_npy_policy_values(tmp_path):
    y = np.array([[1, 0], [-1, 1], [np.nan, 0], [0.25, 1]], dtype=np.float32)
    np.save(tmp_path / "y.npy", y)
    counts = api.count(tmp_path / "y.npy")
    assert counts.pos.tolist() == [1.25, 2] and counts.neg.tolist() == [1.75, 2]
    assert counts.uncertain.tolist() == [1, 0] and counts.missing.tolist() == [1, 0]
    assert counts.ignored.tolist() == [1, 0]
    np.save(tmp_path / "bad.npy", np.array([[0, 3]]))
    with pytest.raises(InputError, match="bad.npy"):
        api.count(tmp_path / "bad.npy")


def test_class_axis(tmp_path):
    y = multi_hot(30, 3)
    np.save(tmp_path / "cn.npy", np.ascontiguousarray(y.T))
    assert_counts(api.count(tmp_path / "cn.npy", class_axis=0), y)
    cube = (RNG.random((4, 6, 3)) < 0.4).astype(np.uint8)  # [N, T, C]: N·T samples
    np.save(tmp_path / "cube.npy", cube)
    assert_counts(api.count(tmp_path / "cube.npy", class_axis=-1), cube.reshape(-1, 3))
    with pytest.raises(InputError, match="--class-axis.*--mask-mode"):
        api.count(tmp_path / "cube.npy")
    with pytest.raises(OptionsError, match="--class-axis 3"):
        api.count(tmp_path / "cube.npy", class_axis=3)


def test_one_d_array_is_one_class(tmp_path):
    y = np.array([1, 0, 0, 1, 1], dtype=bool)
    np.save(tmp_path / "y.npy", y)
    assert_counts(api.count(tmp_path / "y.npy"), y[:, None], ["0"])


def test_several_files_must_agree(tmp_path):
    a, b = multi_hot(10, 3), multi_hot(7, 3)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    assert_counts(api.count(tmp_path), np.vstack([a, b]))
    np.save(tmp_path / "c.npy", multi_hot(5, 4))
    with pytest.raises(InputError, match="c.npy: classes"):
        api.count(tmp_path)


@settings(max_examples=30, deadline=None)
@given(y=np_arrays(np.uint8, st.tuples(st.integers(1, 40), st.integers(1, 5)), elements=st.integers(0, 1)))
def test_npy_counts_equal_brute_force(tmp_path_factory, y):
    path = tmp_path_factory.mktemp("h") / "y.npy"
    np.save(path, y)
    assert_counts(reader_counts("npy", [path]), y)


# -------------------------------------------------------------------------------------------- .npz


def test_npz_key_names_and_streaming(tmp_path, monkeypatch):
    y = multi_hot(101, 3)
    np.savez_compressed(tmp_path / "c.npz", labels=y, other=np.zeros(3), classes=np.array(["a", "b", "c"]))
    with pytest.raises(OptionsError, match=r"several arrays \(labels, other\)"):
        api.count(tmp_path / "c.npz")
    monkeypatch.setattr(arrays, "CHUNK_ELEMENTS", 30)
    source = arrays._open(tmp_path / "c.npz", InputSpec(key="labels"))
    assert isinstance(source, arrays._NpzStream)
    assert_counts(api.count(tmp_path / "c.npz", key="labels"), y, ["a", "b", "c"])
    with pytest.raises(OptionsError, match="--key nope"):
        api.count(tmp_path / "c.npz", key="nope")
    np.savez(tmp_path / "f.npz", np.asfortranarray(y))  # one array: no --key needed; loaded whole
    assert isinstance(arrays._open(tmp_path / "f.npz", InputSpec()), arrays._ArraySource)
    assert_counts(api.count(tmp_path / "f.npz"), y)


def test_truncated_npz_is_a_clean_error(tmp_path):
    np.savez(tmp_path / "y.npz", y=multi_hot(1000, 4))
    data = (tmp_path / "y.npz").read_bytes()
    (tmp_path / "t.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="t.npz"):
        api.count(tmp_path / "t.npz")
    assert zipfile.is_zipfile(tmp_path / "y.npz")


# --------------------------------------------------------------------------------------------- .pt


def test_pt_tensor_and_dict(tmp_path):
    y = multi_hot(40, 3, dtype=np.float32)
    torch.save(torch.from_numpy(y), tmp_path / "t.pt")
    assert_counts(api.count(tmp_path / "t.pt"), y)
    torch.save({"targets": torch.from_numpy(y).bfloat16(), "classes": ["x", "y", "z"]}, tmp_path / "d.pt")
    assert_counts(api.count(tmp_path / "d.pt"), y, ["x", "y", "z"])
    with pytest.raises(OptionsError, match="single tensor"):
        api.count(tmp_path / "t.pt", key="targets")


class Custom:
    pass


def test_pt_with_objects_is_refused(tmp_path, cli):
    torch.save({"labels": torch.zeros(2, 2), "obj": Custom()}, tmp_path / "o.pt")
    result = cli("compute", tmp_path / "o.pt", "-o", tmp_path / "w.pt")
    assert result.exit_code == 1
    assert "weights_only" in result.stderr and "Traceback" not in result.stderr


def test_cli_array_weights_are_flat(tmp_path, cli):
    y = multi_hot(60, 4)
    np.save(tmp_path / "y.npy", y)
    result = cli("compute", tmp_path / "y.npy", "-o", tmp_path / "w.pt", "-q")
    assert result.exit_code == 0, result.stderr
    w = torch.load(tmp_path / "w.pt", weights_only=True)
    assert list(w["pos_weight"].shape) == [4]
    np.testing.assert_allclose(w["pos_weight"].numpy(), (1 - y).sum(0) / y.sum(0), rtol=1e-6)


def test_sample_targets_rows(tmp_path):
    y = np.array([[1, 0], [-1, 1], [0, 0]], dtype=np.float32)
    np.save(tmp_path / "y.npy", y)
    batch, names = arrays.sample_targets([tmp_path / "y.npy"], InputSpec(), 2)
    assert names == ["0", "1"] and batch.dtype == np.float32
    np.testing.assert_array_equal(batch, [[1, 0], [np.nan, 1]])


# -------------------------------------------------------------------------------------------- ARFF

DENSE = """% a comment
@relation 'tiny'
@attribute f1 numeric
@attribute 'label b' {0,1}
@attribute f2 numeric
@attribute la {0,1}
@attribute lc {0,1}

@data
0.5,1,2,0,1
1.5,0,3,1,1
2.5,?,4,0,0
'x',1,5,1,0
"""

SPARSE = """@relation 'sparse: -C -2'
@attribute w0 numeric
@attribute w1 numeric
@attribute w2 numeric
@attribute y1 {0,1}
@attribute y2 {0,1}
@data
{0 1,3 1}
{1 2}
{2 1,3 1,4 1}
{}
"""


def write_xml(path: Path, names):
    labels = "".join(f'<label name="{n}"/>' for n in names)
    path.write_text(f'<?xml version="1.0"?><labels xmlns="http://mulan.sourceforge.net/labels">{labels}</labels>')


def test_arff_dense_keeps_the_arff_order(tmp_path):
    (tmp_path / "t.arff").write_text(DENSE)
    write_xml(tmp_path / "t.xml", ["lc", "label b", "la"])
    counts = api.count(tmp_path / "t.arff")
    assert counts.classes == ["label b", "la", "lc"]
    assert counts.pos.tolist() == [2, 2, 2] and counts.neg.tolist() == [2, 2, 2]  # '?' missing → negative
    assert counts.missing.tolist() == [1, 0, 0]
    assert any("ARFF's column order" in n for n in counts.notes)
    picked = api.count(tmp_path / "t.arff", label_attributes=("lc", "la"))
    assert picked.classes == ["la", "lc"]


def test_arff_sparse_with_meka_header(tmp_path):
    (tmp_path / "s.arff").write_text(SPARSE)
    counts = api.count(tmp_path / "s.arff")
    assert counts.classes == ["y1", "y2"]
    assert_counts(counts, [[1, 0], [0, 0], [1, 1], [0, 0]])


def test_arff_without_labels_is_a_clear_error(tmp_path, cli):
    (tmp_path / "t.arff").write_text(DENSE)
    result = cli("compute", tmp_path / "t.arff", "-o", tmp_path / "w.pt")
    assert result.exit_code == 1 and "--label-attributes" in result.stderr
    with pytest.raises(OptionsError, match="'nope'"):
        api.count(tmp_path / "t.arff", label_attributes=("nope",))
    (tmp_path / "r.arff").write_text(DENSE.replace("0.5,1,2,0,1", "0.5,1,2,0"))
    with pytest.raises(InputError, match="line 10: 4 values"):
        api.count(tmp_path / "r.arff", label_attributes=("la",))


# --------------------------------------------------------------------------------------- real data


def _reference_arff(path: Path):
    """An independent reading of a MULAN ARFF: label names from the XML, values by column, dense or
    sparse. Returns (names in ARFF order, [N, C] labels)."""
    text = path.read_text()
    header, data = re.split(r"^@data\s*$", text, flags=re.IGNORECASE | re.MULTILINE)
    attributes = re.findall(r"^@attribute\s+('[^']*'|\S+)", header, flags=re.IGNORECASE | re.MULTILINE)
    attributes = [a.strip("'") for a in attributes]
    xml = path.with_suffix(".xml").read_text()
    labels = set(re.findall(r'name="([^"]+)"', xml))
    cols = [i for i, a in enumerate(attributes) if a in labels]
    rows = []
    for line in data.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            values = dict(e.split() for e in line.strip("{}").split(",") if e.strip())
            rows.append([float(values.get(str(c), 0)) for c in cols])
        else:
            fields = line.split(",")
            rows.append([float(fields[c]) for c in cols])
    return [attributes[c] for c in cols], np.array(rows)


@pytest.mark.realdata
@pytest.mark.parametrize("name,rows,empty", [("Emotions", 593, 0), ("Tmc2007_500", 28596, 0), ("Birds", 645, 294)])
def test_mulan_arff(shared_data, name, rows, empty):
    path = shared_data / "mulan_arff_eml2" / f"{name}.arff"
    names, y = _reference_arff(path)
    counts = api.count(path)
    assert counts.samples == rows == len(y)
    assert_counts(counts, y, names)
    assert counts.no_positive == empty


def test_sample_targets_from_arff_with_given_classes(tmp_path):
    (tmp_path / "s.arff").write_text(SPARSE)
    batch, names = arrays.sample_targets([tmp_path / "s.arff"], InputSpec(), 3, classes=["y2", "y1"])
    assert names == ["y2", "y1"]
    np.testing.assert_array_equal(batch, [[0, 1], [0, 0], [1, 1]])


def test_arff_without_its_header_points_to_the_csv_reader(tmp_path, cli):
    # MULAN files are often shared with the header stripped: plain CSV rows under an .arff name.
    path = tmp_path / "yeast-train.arff"
    path.write_text("1.09,-0.11,1,0\n0.02,0.14,0,1\n0.05,0.01,1,1\n")
    refused = cli("compute", path, "-o", tmp_path / "w.pt")
    assert refused.exit_code == 1
    assert refused.stderr.strip() == (
        f"Error: {path}: not an ARFF file (no @attribute ... @data header) (hint: for rows without the ARFF "
        "header (plain CSV) pass --format csv --no-header)")
    counted = cli("compute", path, "--format", "csv", "--no-header", "-o", tmp_path / "w.pt", "--json", "-")
    assert counted.exit_code == 0, counted.stderr
    doc = json.loads(counted.stdout)
    assert [r["class"] for r in doc["classes"]] == ["column_3", "column_4"]
    assert [r["positives"] for r in doc["classes"]] == [2, 2]
