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
from bceweights.engines.merge import add_partials
from bceweights.errors import InputError, OptionsError, UsageError
from bceweights.policy import ValuePolicy
from bceweights.readers import arrays
from bceweights.readers.base import PlanHints, SameClasses
from bceweights.spec import POLICY_OPTIONS, InputSpec

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
    batches = list(readers.get("npy").rows(tmp_path / "y.npy", InputSpec()))
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
    source = readers.get("npz").open(tmp_path / "c.npz", InputSpec(key="labels"))
    assert isinstance(source, arrays._NpzStream)
    assert_counts(api.count(tmp_path / "c.npz", key="labels"), y, ["a", "b", "c"])
    with pytest.raises(OptionsError, match="--key nope"):
        api.count(tmp_path / "c.npz", key="nope")
    np.savez(tmp_path / "f.npz", np.asfortranarray(y))  # one array: no --key needed; loaded whole
    assert isinstance(readers.get("npz").open(tmp_path / "f.npz", InputSpec()), arrays._ArraySource)
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
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith(f"Error: {tmp_path / 'o.pt'}: holds Python objects that torch.load(weights_only=True) "
                               "refuses to unpickle (Unsupported global: GLOBAL test_arrays.Custom")
    assert len(lines[0]) < 400  # torch's own message is a paragraph


@pytest.mark.parametrize("what", [{"labels": [1, 0]}, "tensor"])
def test_a_plain_pickle_is_one_line_without_a_warning(tmp_path, cli, what):
    import pickle

    with open(tmp_path / "p.pt", "wb") as fh:
        pickle.dump(torch.zeros(3, 2) if what == "tensor" else what, fh, protocol=4)
    result = cli("compute", tmp_path / "p.pt", "-o", tmp_path / "w.pt")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: {tmp_path / 'p.pt'}: a plain pickle (pickle.dump), not a file written by torch.save; bceweights "
        "never unpickles Python objects (hint: save the labels with torch.save(tensor, path) or np.save)"]


@pytest.mark.parametrize("kind, message", [
    ("sparse", "holds a sparse_coo tensor; labels are read from dense tensors"),
    ("csr", "holds a sparse_csr tensor; labels are read from dense tensors"),
    ("nested", "holds a nested tensor; labels are read from dense tensors"),
    ("meta", "holds a meta tensor (a shape without values), not labels"),
    ("complex", "holds torch.complex64 values, not labels"),
])
def test_a_pt_tensor_that_is_not_dense_labels_is_one_line(tmp_path, cli, kind, message):
    import warnings

    y = torch.from_numpy(multi_hot(6, 2, dtype=np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nested tensors are a prototype
        tensor = {"sparse": lambda: y.to_sparse(), "csr": lambda: y.to_sparse_csr(),
                  "nested": lambda: torch.nested.nested_tensor(list(y)), "meta": lambda: y.to("meta"),
                  "complex": lambda: y.to(torch.complex64)}[kind]()
        torch.save(tensor, tmp_path / "t.pt")
    result = cli("compute", tmp_path / "t.pt", "-o", tmp_path / "w.pt")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[0].startswith(f"Error: {tmp_path / 't.pt'}: {message}")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize("dtype", [torch.float8_e4m3fn, torch.float8_e5m2, torch.float16, torch.bfloat16,
                                   torch.bool, torch.uint16, torch.uint64])
def test_pt_labels_of_every_real_dtype_are_counted(tmp_path, dtype):
    y = multi_hot(9, 3, dtype=np.float32)
    torch.save(torch.from_numpy(y).to(dtype), tmp_path / "t.pt")
    assert_counts(api.count(tmp_path / "t.pt"), y)


def test_a_legacy_torch_file_is_read(tmp_path):
    y = multi_hot(30, 3, dtype=np.float32)
    torch.save(torch.from_numpy(y), tmp_path / "old.pt", _use_new_zipfile_serialization=False)
    assert arrays.PtReader().sniff((tmp_path / "old.pt").read_bytes()[:64], tmp_path / "old.pt") == 1.0
    assert_counts(api.count(tmp_path / "old.pt"), y)


# ------------------------------------------------------------------- layouts that would be misread


def _save_as(tmp_path, fmt: str, data: np.ndarray) -> Path:
    path = tmp_path / f"y.{fmt}"
    if fmt == "npy":
        np.save(path, data)
    elif fmt == "npz":
        np.savez(path, labels=data)
    else:
        torch.save(torch.from_numpy(data), path)
    return path


@pytest.mark.parametrize("fmt", ["npy", "npz", "pt"])
def test_a_transposed_array_with_many_columns_asks_for_the_class_axis(tmp_path, cli, fmt):
    # ChestX-ray14's labels saved as [14, 78468] were read as 78,468 classes of 14 samples (139 s).
    y = multi_hot(1500, 3)
    path = _save_as(tmp_path, fmt, np.ascontiguousarray(y.T))
    with pytest.raises(InputError) as info:
        api.count(path)
    assert info.value.message == (f"{path}: an array [3, 1500] would be 1,500 classes of 3 samples; multi-hot "
                                  "arrays are [N, C] (samples x classes)")
    assert "--class-axis 0" in info.value.hint and "--class-axis 1" in info.value.hint
    assert_counts(api.count(path, class_axis=0), y)
    assert api.count(path, class_axis=1, cooccurrence=False).num_classes == 1500
    result = cli("compute", path, "-o", tmp_path / "w.pt")
    assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("shape", [(1500, 3), (200, 1025), (10, 80)])
def test_arrays_that_are_plainly_n_by_c_are_read_so(tmp_path, shape):
    y = (RNG.random(shape) < 0.3).astype(np.uint8)
    np.save(tmp_path / "y.npy", y)
    assert_counts(api.count(tmp_path / "y.npy", cooccurrence=False), y)


@pytest.mark.parametrize("fmt", ["npy", "npz", "pt"])
@pytest.mark.parametrize("shape, axis", [((5, 0), None), ((0, 5), 0), ((4, 3, 0), -1)])
def test_an_array_with_no_class_is_an_error(tmp_path, cli, fmt, shape, axis):
    path = _save_as(tmp_path, fmt, np.zeros(shape, dtype=np.uint8))
    args = [] if axis is None else ["--class-axis", str(axis)]
    result = cli("compute", path, *args, "-o", tmp_path / "w.pt")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {path}: holds no class (an array {list(shape)}"), lines


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
    sample = readers.get("npy").sample_targets([tmp_path / "y.npy"], InputSpec(), limit=2)
    assert sample.classes == ["0", "1"] and sample.values.dtype == np.float32
    np.testing.assert_array_equal(sample.values, [[1, 0], [np.nan, 1]])


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


@pytest.mark.parametrize("row, message", [
    ("{0 1,7 1}", "line 8: sparse index 7 is outside the 5 attributes (0-4)"),
    ("{0 1,5 1}", "line 8: sparse index 5 is outside the 5 attributes (0-4)"),
    ("{-1 1}", "line 8: sparse index -1 is outside the 5 attributes (0-4)"),
    ("{3 1,3 0}", "line 8: sparse index 3 is given twice"),
    ("{3}", "line 8: sparse entry '3' has no value"),
    ("{0 1,3 1", "line 8: a sparse row without its closing '}'"),
])
def test_arff_sparse_rows_that_do_not_fit_the_header_are_refused(tmp_path, cli, row, message):
    # Index 7 of a 5-attribute file used to be skipped: a shifted row's labels were counted.
    path = tmp_path / "s.arff"
    path.write_text(SPARSE.replace("{0 1,3 1}", row))
    with pytest.raises(InputError) as info:
        api.count(path)
    assert info.value.message == f"{path}: {message}"
    result = cli("compute", path, "-o", tmp_path / "w.pt")
    assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1


def test_arff_an_empty_field_is_not_a_missing_label(tmp_path):
    path = tmp_path / "t.arff"
    path.write_text(DENSE.replace("2.5,?,4,0,0", "2.5,,4,0,0"))
    with pytest.raises(InputError, match=r"line 12: label 'label b' is empty \(ARFF writes a missing value as \?\)"):
        api.count(path, label_attributes=("label b",))


@pytest.mark.parametrize("c, message", [
    ("30", "the MEKA header's -C 30 names 30 label attributes, but the file declares 5 attributes"),
    ("-6", "the MEKA header's -C -6 names 6 label attributes, but the file declares 5 attributes"),
    ("0", "the MEKA header's -C 0 names no label attribute"),
])
def test_arff_meka_label_count_beyond_the_attributes_is_refused(tmp_path, cli, c, message):
    # -C 30 on a 5-attribute file used to count the features as labels.
    path = tmp_path / "m.arff"
    path.write_text(SPARSE.replace("-C -2", f"-C {c}"))
    with pytest.raises(InputError) as info:
        api.count(path)
    assert info.value.message == f"{path}: {message}"
    result = cli("compute", path, "-o", tmp_path / "w.pt")
    assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("c, classes", [("5", ["w0", "w1", "w2", "y1", "y2"]), ("-5", ["w0", "w1", "w2", "y1", "y2"]),
                                        ("1", ["w0"])])
def test_arff_meka_label_counts_within_the_attributes_are_read(tmp_path, c, classes):
    path = tmp_path / "m.arff"
    path.write_text(SPARSE.replace("-C -2", f"-C {c}").replace("{1 2}", "{1 1}"))
    counts = api.count(path)
    assert counts.classes == classes
    full = [[1, 0, 0, 1, 0], [0, 1, 0, 0, 0], [0, 0, 1, 1, 1], [0, 0, 0, 0, 0]]
    assert_counts(counts, [row[:len(classes)] for row in full])


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
    from bceweights.targets import sample_targets_of

    batch = sample_targets_of(tmp_path / "s.arff", InputSpec(), classes=["y2", "y1"], limit=3)
    assert batch.classes == ["y2", "y1"]
    np.testing.assert_array_equal(batch.values, [[0, 1], [0, 0], [1, 1]])


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


# ------------------------------------------------------------------------------- the reader contract


def _one_file(folder: Path, fmt: str, y=None) -> Path:
    """A small label file of the format ``fmt`` holding ``y`` (default: 12 samples of 3 classes)."""
    y = multi_hot(12, 3) if y is None else y
    if fmt == "npy":
        np.save(folder / "y.npy", y)
    elif fmt == "npz":
        np.savez(folder / "y.npz", labels=y)
    elif fmt == "pt":
        torch.save(torch.from_numpy(np.asarray(y)), folder / "y.pt")
    else:
        head = ["@relation 'y: -C 3'"] + [f"@attribute c{j} {{0,1}}" for j in range(y.shape[1])] + ["@data"]
        (folder / "y.arff").write_text("\n".join(head + [",".join(map(str, row)) for row in y]) + "\n")
    return folder / f"y.{fmt}"


@pytest.mark.parametrize("fmt", ["npy", "npz", "pt", "arff"])
def test_readers_count_like_the_brute_force_by_their_own_plan(tmp_path, fmt):
    y = multi_hot(40, 3)
    path = _one_file(tmp_path, fmt, y)
    counts = reader_counts(fmt, [path])
    assert_counts(counts, y, [f"c{j}" for j in range(3)] if fmt == "arff" else ["0", "1", "2"])
    partial = readers.get(fmt).count(readers.get(fmt).plan([path], InputSpec(), PlanHints()).partitions[0],
                                     InputSpec())
    assert isinstance(partial, SameClasses) and partial.kind == "array" and partial.source == str(path)
    assert readers.get(fmt).kind == "array" and readers.resolve(path, InputSpec()).name == fmt


def test_partitions_and_partials_pickle(tmp_path):
    import pickle

    path = _one_file(tmp_path, "npy")
    reader = readers.get("npy")
    (part,) = reader.plan([path], InputSpec(), PlanHints()).partitions
    partial = reader.count(pickle.loads(pickle.dumps(part)), InputSpec())
    again = pickle.loads(pickle.dumps(partial))
    assert again.counts.to_dict() == partial.counts.to_dict() and again.source == partial.source


def test_files_with_other_classes_fail_in_the_merge_with_todays_message(tmp_path):
    np.save(tmp_path / "a.npy", multi_hot(10, 3))
    np.save(tmp_path / "b.npy", multi_hot(10, 3))
    np.save(tmp_path / "c.npy", multi_hot(5, 4))
    with pytest.raises(InputError) as local:
        api.count(tmp_path)
    assert local.value.message == (f"{tmp_path / 'c.npy'}: classes [0, 1, 2, 3] (4) differ from those of "
                                   f"{tmp_path / 'a.npy'} [0, 1, 2] (3)")
    assert local.value.hint == "every file must hold the same classes, in the same order"
    # the same rule inside one partition (a Dask group of small files)
    hints = PlanHints(split=True, block=1 << 20)
    (group,) = readers.get("npy").plan(sorted(tmp_path.glob("*.npy")), InputSpec(), hints).partitions
    assert len(group.paths) == 3
    with pytest.raises(InputError) as grouped:
        readers.get("npy").count(group, InputSpec())
    assert grouped.value.message == local.value.message


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 300), c=st.integers(1, 5), layout=st.sampled_from(["NC", "CN", "NTC"]),
       block=st.integers(64, 3000), small=st.integers(0, 3))
def test_runs_of_samples_cover_every_sample_once(tmp_path_factory, n, c, layout, block, small):
    """However a .npy is cut into runs (and small files grouped around it), the partitions keep the
    input order and their counts add up to the brute force."""
    folder = tmp_path_factory.mktemp("runs")
    rng = np.random.default_rng(n * 7 + c)
    spec = InputSpec(class_axis={"NC": None, "CN": 0, "NTC": -1}[layout])

    def laid_out(y):  # [N, C] as the file holds it; NTC: N/2 samples of 2 steps
        if layout == "CN":
            return np.ascontiguousarray(y.T)
        return y.reshape(len(y) // 2, 2, c) if layout == "NTC" else y

    names = ["b_big"] + [f"{'a' if i % 2 else 'c'}_{i}" for i in range(small)]
    labels = {}
    for name in names:
        labels[name] = (rng.random((2 * n if name == "b_big" else 4, c)) < 0.4).astype(np.uint8)
        np.save(folder / f"{name}.npy", laid_out(labels[name]))
    files = sorted(folder.glob("*.npy"))
    plan = readers.get("npy").plan(files, spec, PlanHints(split=True, block=block))
    order: list[str] = []
    for part in plan.partitions:
        order.extend(p for p in part.paths if not order or order[-1] != p)
    assert order == [str(f) for f in files]
    for path in files:
        runs = [p.part for p in plan.partitions if p.part is not None and p.paths == (str(path),)]
        if runs:
            edges = [r[0] for r in runs] + [runs[-1][1]]
            assert edges[0] == 0 and all(a < b for a, b in zip(edges, edges[1:]))
            rows = len(labels[path.stem])
            assert edges[-1] == (rows // 2 if layout == "NTC" else rows)  # samples along the first axis
    counts = reader_counts("npy", files, spec, PlanHints(split=True, block=block))
    assert_counts(counts, np.vstack([labels[f.stem] for f in files]))


# ----------------------------------------------------------------------------------- sniffing


def test_formats_are_told_by_their_content_without_an_extension(tmp_path):
    import zipfile as zf

    y = multi_hot(9, 3)
    np.save(tmp_path / "a.npy", y)
    np.savez_compressed(tmp_path / "b.npz", labels=y)
    torch.save(torch.from_numpy(y), tmp_path / "c.pt")
    torch.save(torch.from_numpy(y), tmp_path / "d.pt", _use_new_zipfile_serialization=False)
    (tmp_path / "e.arff").write_text("% MULAN\n\n" + SPARSE)
    want = {"a.npy": "npy", "b.npz": "npz", "c.pt": "pt", "d.pt": "pt", "e.arff": "arff"}
    for name, fmt in want.items():
        bare = tmp_path / name.split(".")[0]
        (tmp_path / name).rename(bare)
        assert readers.resolve(bare, InputSpec()).name == fmt, name
    assert_counts(api.count(tmp_path / "b"), y)  # counted as the reader sniffed it, checks included
    with zf.ZipFile(tmp_path / "docs", "w") as archive:  # a zip, but neither an .npz nor a .pt
        archive.writestr("README.txt", "hello")
    head = readers.head(tmp_path / "docs")
    assert readers.get("npz").sniff(head, tmp_path / "docs") == 0
    assert readers.get("pt").sniff(head, tmp_path / "docs") == 0
    pt_head = readers.head(tmp_path / "c")
    assert readers.get("npz").sniff(pt_head, tmp_path / "c") == 0  # torch.save writes a zip too
    import gzip

    (tmp_path / "g").write_bytes(gzip.compress(SPARSE.encode()))
    assert readers.get("arff").sniff(readers.head(tmp_path / "g"), tmp_path / "g") == 0
    assert readers.get("arff").sniff(b"a,b\n1,0\n", tmp_path / "t") == 0


def test_npy_claims_only_without_a_mask_mode(tmp_path):
    path = _one_file(tmp_path, "npy")
    assert readers.get("npy").claims(path, InputSpec())
    assert not readers.get("npy").claims(path, InputSpec(mask_mode="index"))


def test_an_npz_named_npy_is_one_clear_error(tmp_path):
    np.savez(tmp_path / "y.npz", labels=multi_hot())
    (tmp_path / "y.npz").rename(tmp_path / "y.npy")
    with pytest.raises(InputError, match=r"y.npy: is an .npz archive, not an .npy array \(hint: pass --format npz"):
        api.count(tmp_path / "y.npy")


# ------------------------------------------------------------------------------- options read


@pytest.mark.parametrize("fmt, option, flag", [
    ("npy", {"where": (("split", "train"),)}, "--where"),
    ("npy", {"key": "labels"}, "--key"),
    ("npy", {"label_attributes": ("c0",)}, "--label-attributes"),
    ("npz", {"num_classes": 3}, "--num-classes"),
    ("pt", {"list_column": "labels"}, "--list-column"),
    ("arff", {"class_axis": 0}, "--class-axis"),
    ("arff", {"key": "labels"}, "--key"),
    ("arff", {"classes_file": Path("classes.txt")}, "--classes-file"),
])
def test_an_option_the_reader_does_not_read_is_refused(tmp_path, fmt, option, flag):
    path = _one_file(tmp_path, fmt)
    with pytest.raises(UsageError) as refused:
        api.count(path, **option)
    assert refused.value.message.startswith(f"{flag} does not apply to {fmt} input (")


@pytest.mark.parametrize("fmt", ["npy", "npz", "pt"])
def test_the_options_an_array_reader_declares_change_the_count(tmp_path, fmt):
    y = np.array([[1, 0, -1], [0, 0, 1], [1, 0.25, 0]], dtype=np.float32)
    path = _one_file(tmp_path, fmt, np.ascontiguousarray(y.T))
    (tmp_path / "classes.txt").write_text("cat\ndog\nbird\n")
    counts = api.count(path, class_axis=0, classes_file=tmp_path / "classes.txt",
                       policy=ValuePolicy(uncertain="positive", binarize=0.5),
                       **({"key": "labels"} if fmt == "npz" else {}))
    assert counts.classes == ["cat", "dog", "bird"]
    assert counts.pos.tolist() == [2, 0, 2] and counts.neg.tolist() == [1, 3, 1]
    assert readers.get(fmt).options == {"class_axis", "classes_file", *POLICY_OPTIONS} | (
        {"key"} if fmt != "npy" else set())


def test_the_options_the_arff_reader_declares_change_the_count(tmp_path):
    (tmp_path / "t.arff").write_text(DENSE)
    counts = api.count(tmp_path / "t.arff", label_attributes=("label b", "lc"),
                       policy=ValuePolicy(missing="ignore"))
    assert counts.classes == ["label b", "lc"] and counts.ignored.tolist() == [1, 0]
    assert readers.get("arff").options == {"label_attributes", *POLICY_OPTIONS}


def test_key_on_an_npy_among_npz_files_is_a_usage_error(tmp_path):
    np.save(tmp_path / "a.npy", multi_hot())
    np.savez(tmp_path / "b.npz", labels=multi_hot())
    with pytest.raises(UsageError, match="--key labels: a .npy file holds one array"):
        api.count([tmp_path / "a.npy", tmp_path / "b.npz"], key="labels")


def test_cli_refuses_an_unread_option_in_one_line(tmp_path, cli):
    np.save(tmp_path / "y.npy", multi_hot())
    result = cli("compute", tmp_path / "y.npy", "--where", "split=train", "-o", tmp_path / "w.pt")
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: --where does not apply to npy input (")
    assert result.exit_code == 2 and not (tmp_path / "w.pt").exists()


def test_cli_exits_2_for_an_unread_option(tmp_path, cli):
    np.save(tmp_path / "y.npy", multi_hot())
    assert cli("compute", tmp_path / "y.npy", "--num-classes", "3", "-o", tmp_path / "w.pt").exit_code == 2


# ------------------------------------------------------------------------- one line for bad files


@pytest.mark.parametrize("damage, message", [
    ("truncated", "cannot read the .pt file (RuntimeError: PytorchStreamReader failed"),
    ("text", "cannot read the .pt file (neither a zip archive nor a pickle, which torch.save writes)"),
])
def test_a_damaged_pt_is_one_line(tmp_path, cli, damage, message):
    torch.save(torch.from_numpy(multi_hot(100, 3)), tmp_path / "good.pt")
    data = (tmp_path / "good.pt").read_bytes()
    (tmp_path / "bad.pt").write_bytes(data[: len(data) // 2] if damage == "truncated" else b"0,1\n1,0\n")
    result = cli("compute", tmp_path / "bad.pt", "-o", tmp_path / "w.pt")
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: {tmp_path / 'bad.pt'}: {message}")


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_an_array_header_cut_inside_its_dict_is_one_line(tmp_path, cli, suffix):
    # Found by the fuzz test: NumPy's header parser raised tokenize.TokenError (a traceback).
    header = (b"\x93NUMPY\x01\x00:\x00{'descr': '|u1', 'fortran_order': False, 'shape': (1, 1), }"
              + b" " * 58 + b"\n\x00")
    path = tmp_path / f"y{suffix}"
    if suffix == ".npy":
        path.write_bytes(header)
    else:
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("labels.npy", header)
    result = cli("compute", path, "-o", tmp_path / "w.pt")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {path}: cannot read the {suffix} file ("), lines


def test_a_pt_dict_with_integer_keys(tmp_path):
    y = multi_hot(20, 2, dtype=np.float32)
    torch.save({0: torch.from_numpy(y), 1: torch.zeros(3)}, tmp_path / "d.pt")
    assert_counts(api.count(tmp_path / "d.pt", key="0"), y)


def test_duplicate_class_names_name_their_file(tmp_path):
    np.save(tmp_path / "y.npy", multi_hot(10, 3))
    (tmp_path / "classes.txt").write_text("cat\ndog\ncat\n")
    with pytest.raises(InputError) as dup:
        api.count(tmp_path / "y.npy", classes_file=tmp_path / "classes.txt")
    assert dup.value.message == f"{tmp_path / 'classes.txt'}: the classes file names 'cat' twice"
    np.savez(tmp_path / "n.npz", labels=multi_hot(10, 2), classes=np.array(["a", "a"]))
    with pytest.raises(InputError, match=r"n.npz: names the class 'a' twice"):
        api.count(tmp_path / "n.npz")


def test_an_arff_row_csv_cannot_split_is_one_error_naming_the_line(tmp_path):
    long = "'" + "x" * 200_000 + "'"
    (tmp_path / "t.arff").write_text(DENSE.replace("'x',1,5,1,0", f"{long},1,5,1,0"))
    with pytest.raises(InputError, match=r"t.arff: line 13: cannot read the row \(field larger than field limit"):
        api.count(tmp_path / "t.arff", label_attributes=("la",))


@pytest.mark.parametrize("fmt", ["npy", "arff"])
def test_progress_adds_up_to_the_bytes_of_the_files(tmp_path, fmt, monkeypatch):
    monkeypatch.setattr(arrays, "CHUNK_ELEMENTS", 60)  # many batches

    class Sink:
        def start(self, total, unit, description):
            self.total, self.unit, self.done = total, unit, 0

        def advance(self, amount, **fields):
            self.done += amount

    folder_a, folder_b = tmp_path / "a", tmp_path / "b"
    folder_a.mkdir(), folder_b.mkdir()
    paths = [_one_file(folder_a, fmt, multi_hot(500, 3)), _one_file(folder_b, fmt, multi_hot(300, 3))]
    sink = Sink()
    api.count(paths, progress=sink, label_attributes=("c0", "c1", "c2") if fmt == "arff" else None)
    assert sink.unit == "bytes" and sink.done == sink.total == sum(p.stat().st_size for p in paths)


@pytest.mark.parametrize("fmt", ["npy", "arff"])
def test_the_checks_sample_of_a_reader_is_its_first_rows(tmp_path, fmt):
    y = np.array([[1, 0, 1], [0, 0, 1], [1, 1, 0], [0, 1, 1]], dtype=np.int8)
    path = _one_file(tmp_path, fmt, y)
    sample = readers.get(fmt).sample_targets([path], InputSpec(), limit=3)
    assert sample.values.dtype == np.float32 and sample.values.tolist() == y[:3].tolist()
    assert sample.classes == ([f"c{j}" for j in range(3)] if fmt == "arff" else ["0", "1", "2"])
    assert sample.source == f"first 3 rows of {path}"


def test_a_file_named_npy_that_is_not_an_array_says_so(tmp_path):
    (tmp_path / "y.npy").write_text("not numpy")
    with pytest.raises(InputError) as refused:
        api.count(tmp_path / "y.npy")
    path = tmp_path / "y.npy"
    assert refused.value.message == f"{path}: not a .npy file (it does not start with NumPy's magic bytes)"
