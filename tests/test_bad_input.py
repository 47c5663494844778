"""The battery of bad inputs (issue 9): each one exits with the right code and one exact ``Error:`` line
naming the file (and the row/column or value when known) with a hint; never a traceback.

Tests run in ``tmp_path`` with relative file names, so the messages can be compared whole.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from bceweights import io
from bceweights.errors import BceWeightsError, InputError, OutputError

VALUE_ALLOWED = "(0, 1, a soft label in [0, 1], -1 for uncertain, or blank)"
VALUE_HINT = ("(hint: pick the label columns with --columns or --exclude-columns, pass --ignore-value {v} "
              "for a sentinel, or --binarize THRESHOLD)")
NOT_OURS_HINT = "(hint: create one with: bceweights compute LABELS -o weights.pt)"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BCEWEIGHTS_DEBUG", raising=False)


def write(name: str, text: str | bytes) -> Path:
    path = Path(name)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def error_line(result, code: int = 1) -> str:
    """The single stderr line of a failed run (and no traceback, nothing on stdout)."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def no_leftovers() -> list[str]:
    """Files a failed run must not leave behind: outputs or temp files."""
    return sorted(p.name for p in Path(".").iterdir() if p.suffix in (".pt", ".tmp", ".json"))


OK = "a,b\n1,0\n0,1\n"


# ------------------------------------------------------------------------------------------ tables


def test_missing_path(cli):
    # A path that does not exist is a usage mistake (exit 2), as for any command-line tool.
    assert error_line(cli("compute", "nope.csv"), 2) == "Error: nope.csv: no such file or directory"
    assert no_leftovers() == []


def test_empty_file(cli):
    write("empty.csv", "")
    assert error_line(cli("compute", "empty.csv")) == "Error: empty.csv: the file is empty"
    write("blank.csv", "\n\n  \n")
    assert error_line(cli("compute", "blank.csv")) == "Error: blank.csv: the file is empty"
    assert no_leftovers() == []


@pytest.mark.parametrize("extra", [[], ["--columns", "a,b"], ["--list-column", "a"], ["--class-column", "b"]])
def test_header_only(cli, extra):
    write("header.csv", "a,b\n")
    assert error_line(cli("compute", "header.csv", *extra)) == (
        "Error: header.csv: the table has a header but no rows")
    assert no_leftovers() == []


def test_no_label_columns_lists_columns_and_how_to_choose(cli):
    write("meta.csv", "patient_id,age,sex\np1,34,F\np2,51,M\n")
    assert error_line(cli("compute", "meta.csv")) == (
        "Error: meta.csv: no label columns found (a label column holds only 0/1, -1 or blanks); the "
        "columns are: patient_id, age, sex (hint: choose them with --columns A,B,C, or use --list-column "
        "/ --class-column)")


def test_text_in_a_label_column_names_column_row_and_value(cli):
    write("text.csv", "id,a,b\nx1,1,0\nx2,0,1\nx3,1,0\nx4,yes,1\n")
    assert error_line(cli("compute", "text.csv", "--columns", "a,b")) == (
        "Error: text.csv: column 'a', row 5: value 'yes' is not a label (hint: pick the label columns "
        "with --columns or --exclude-columns; a column of label names is read with --list-column or "
        "--class-column)")


def test_value_outside_the_allowed_set(cli):
    write("two.csv", "a,b\n1,0\n0,1\n1,2\n")
    assert error_line(cli("compute", "two.csv", "--columns", "a,b")) == (
        f"Error: two.csv: column 'b', row 4: value 2 is not a label {VALUE_ALLOWED} "
        + VALUE_HINT.format(v=2))


def test_mostly_binary_column_with_a_stray_integer_is_an_error_not_dropped(cli):
    # Detection must not silently skip a 0/1 column because one row holds a 2 (a repeated tag).
    rows = "".join(f"{i % 2},{int(i % 3 == 0)}\n" for i in range(40))
    write("stray.csv", "a,b\n" + rows + "1,2\n")
    assert error_line(cli("compute", "stray.csv")) == (
        f"Error: stray.csv: column 'b', row 42: value 2 is not a label {VALUE_ALLOWED} "
        + VALUE_HINT.format(v=2))
    # ... while an integer column that is not mostly 0/1 is simply not a label column.
    write("age.csv", "a,age\n" + "".join(f"{i % 2},{20 + i}\n" for i in range(40)))
    result = cli("compute", "age.csv", "--json", "-")
    assert result.exit_code == 0, result.stderr
    assert '"class": "a"' in result.stdout and '"class": "age"' not in result.stdout


@pytest.mark.realdata
def test_planet_count_vectorizer_2_is_an_error(cli, shared_data):
    path = shared_data / "planet_amazon" / "count_vectorizer.csv"
    assert error_line(cli("compute", path)) == (
        f"Error: {path}: column 'cultivation', row 1467: value 2 is not a label {VALUE_ALLOWED} "
        + VALUE_HINT.format(v=2))


def test_inf_is_an_error_nan_is_a_blank(cli):
    write("inf.csv", "a,b\n1,0.5\n0,inf\n")
    assert error_line(cli("compute", "inf.csv", "--columns", "a,b")) == (
        f"Error: inf.csv: column 'b', row 3: value inf is not a label {VALUE_ALLOWED} (hint: fix the "
        "value in the file, or pass --ignore-value to skip a sentinel)")
    # In a CSV "nan" (like NA or a blank) is a missing value: the --missing policy decides.
    write("nan.csv", "a,b\n1,0.5\n0,nan\n")
    result = cli("compute", "nan.csv", "--columns", "a,b", "--missing", "ignore", "--json", "-")
    assert result.exit_code == 0, result.stderr
    import json

    rows = {r["class"]: r for r in json.loads(result.stdout)["classes"]}
    assert (rows["b"]["positives"], rows["b"]["negatives"], rows["b"]["missing"]) == (0.5, 0.5, 1)


def test_ragged_row_names_the_line(cli):
    write("ragged.csv", "a,b\n1,0\n0,1\n0,1,1\n1,1\n")
    assert error_line(cli("compute", "ragged.csv")) == (
        "Error: ragged.csv: line 4: ragged row: Expected 2 columns, got 3: 0,1,1 (hint: every row needs "
        "the same number of fields as the header; check --delimiter)")


def test_non_utf8_bytes_name_the_line(cli):
    write("latin1.csv", b"a,b\n1,0\n" + "0,1\nCaf\xe9,1\n".encode("latin-1"))
    assert error_line(cli("compute", "latin1.csv")) == (
        "Error: latin1.csv: line 4: bytes that are not UTF-8 (b'\\xe9,1\\n') (hint: re-save the file as "
        "UTF-8 (e.g. iconv -f latin1 -t utf-8))")


def test_non_utf8_bytes_past_the_sample_in_a_label_list(cli, monkeypatch):
    from bceweights.tables import source

    monkeypatch.setattr(source, "SAMPLE_BYTES", 64)  # the bad byte lies beyond the sniffed head
    data = ("id,tags\n" + "".join(f"r{i},cat|dog\n" for i in range(20))).encode() + b"r20,caf\xe9\n"
    write("tags.csv", data)
    assert error_line(cli("compute", "tags.csv", "--list-column", "tags")) == (
        "Error: tags.csv: line 22: bytes that are not UTF-8 (hint: re-save the file as UTF-8 (e.g. iconv "
        "-f latin1 -t utf-8))")


def test_truncated_gzip(cli):
    data = gzip.compress(OK.encode() * 50)
    write("cut.csv.gz", data[: len(data) // 2])
    assert error_line(cli("compute", "cut.csv.gz")) == (
        "Error: cut.csv.gz: the gzip data is truncated (hint: the file was cut short in transfer or "
        "storage; fetch it again)")


def test_truncated_gzip_past_the_sample(cli, monkeypatch):
    from bceweights.tables import source

    monkeypatch.setattr(source, "SAMPLE_BYTES", 256)
    rng = np.random.default_rng(0)
    body = "\n".join(",".join(map(str, r)) for r in rng.integers(0, 2, (20000, 3)))
    data = gzip.compress(("a,b,c\n" + body + "\n").encode())
    write("cut.csv.gz", data[: len(data) // 2])
    assert error_line(cli("compute", "cut.csv.gz")) == (
        "Error: cut.csv.gz: the gzip data is truncated (hint: the file was cut short in transfer or "
        "storage; fetch it again)")


def test_duplicate_column_names(cli):
    write("dup.csv", "a,b,a\n1,0,1\n")
    assert error_line(cli("compute", "dup.csv")) == (
        "Error: dup.csv: duplicate column names ['a'] (hint: rename the columns so each label has one "
        "column; if the first line is data, pass --no-header)")


def test_columns_naming_a_missing_column(cli):
    write("ok.csv", OK)
    assert error_line(cli("compute", "ok.csv", "--columns", "a,zz")) == (
        "Error: ok.csv: --columns names column(s) not in the file: 'zz'; the columns are: a, b")


def test_numeric_list_column(cli):
    write("num.csv", "id,count\nr1,\nr2,3\nr3,0\n")
    assert error_line(cli("compute", "num.csv", "--list-column", "count")) == (
        "Error: num.csv: --list-column 'count' holds numbers (row 3: '3'), not lists of label names "
        "(hint: a 0/1 label column is read with --columns count; one class id per row with "
        "--class-column count)")
    # Lists of class ids are still label lists.
    write("ids.csv", "id,labels\nr1,3 7\nr2,7\n")
    result = cli("compute", "ids.csv", "--list-column", "labels", "-q")
    assert result.exit_code == 0, result.stderr


def test_mixed_label_kinds(cli):
    write("ok.csv", OK)
    np.save("arr.npy", np.zeros((2, 2)))
    line = error_line(cli("compute", "ok.csv", "arr.npy"))
    assert line == ("Error: the inputs mix array and table files; count one kind of labels at a time")


# ------------------------------------------------------------------------------------------ outputs


def test_output_in_a_missing_directory(cli):
    write("ok.csv", OK)
    assert error_line(cli("compute", "ok.csv", "-o", "out/w.pt")) == (
        "Error: out/w.pt: the directory out does not exist (hint: create it first: mkdir -p out)")


def test_output_under_a_file(cli):
    write("ok.csv", OK)
    assert error_line(cli("compute", "ok.csv", "-o", "ok.csv/w.pt")) == (
        "Error: ok.csv/w.pt: ok.csv is a file, not a directory (hint: choose an output path inside a "
        "directory)")
    assert error_line(cli("compute", "ok.csv", "-o", "ok.csv/deeper/w.pt")) == (
        "Error: ok.csv/deeper/w.pt: ok.csv is a file, not a directory (hint: choose an output path inside "
        "a directory)")


def test_output_is_a_directory(cli):
    write("ok.csv", OK)
    Path("out").mkdir()
    assert error_line(cli("compute", "ok.csv", "-o", "out")) == (
        "Error: out: is a directory (hint: give a file name, e.g. weights.pt)")


def test_output_in_a_read_only_directory(cli, monkeypatch):
    # We run as root, for whom chmod 0555 changes nothing: fake the permission check instead ...
    write("ok.csv", OK)
    real_access = os.access
    monkeypatch.setattr(io.os, "access", lambda p, mode: False if mode == os.W_OK else real_access(p, mode))
    assert error_line(cli("compute", "ok.csv", "-o", "w.pt")) == (
        "Error: w.pt: the directory . is not writable (hint: choose another output path with -o)")
    assert no_leftovers() == []


@pytest.mark.skipif(not os.path.isdir("/sys/kernel"), reason="needs sysfs")
def test_output_where_even_root_cannot_write(cli):
    # ... and check the probe is honest where os.access says yes but creating a file fails (sysfs).
    write("ok.csv", OK)
    assert error_line(cli("compute", "ok.csv", "-o", "/sys/kernel/w.pt")).startswith(
        "Error: /sys/kernel/w.pt: cannot write in /sys/kernel (")


def test_json_output_failure_is_one_line(tmp_path):
    with pytest.raises(OutputError, match=r"^nodir/r\.json: the directory nodir does not exist"):
        io.write_text("nodir/r.json", "{}")


# ------------------------------------------------------------------------- .pt files that are not ours


class Custom:
    pass


def _not_ours(kind: str) -> Path:
    import pickle

    import torch

    path = Path(f"{kind}.pt")
    if kind == "tensor":
        torch.save(torch.randn(3), path)
    elif kind == "custom":
        torch.save({"classes": ["a"], "obj": Custom()}, path)
    elif kind == "pickle":
        path.write_bytes(pickle.dumps(Custom()))
    elif kind == "text":
        path.write_text("pos_weight = [1, 2]\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "partial":
        torch.save({"classes": ["a"], "pos_weight": torch.ones(1)}, path)
    elif kind == "wrong_length":
        torch.save({"classes": ["a", "b"], "pos_count": torch.ones(2), "neg_count": torch.ones(2),
                    "pos_weight": torch.ones(3), "class_weight": torch.ones(2), "meta": {}}, path)
    return path


NOT_OURS = {
    "tensor": "not a weights file written by bceweights (it holds a Tensor, not a dict with keys classes, "
              "pos_count, neg_count, pos_weight, class_weight, meta)",
    "custom": "not a weights file written by bceweights: it holds pickled Python objects, which "
              "bceweights never loads (it reads .pt files with weights_only=True)",
    "pickle": "not a weights file written by bceweights: it holds pickled Python objects, which "
              "bceweights never loads (it reads .pt files with weights_only=True)",
    "text": "not a weights file written by bceweights (not a PyTorch file: it starts with b'pos_')",
    "empty": "the file is empty, not a weights file",
    "partial": "not a weights file written by bceweights (keys missing: pos_count, neg_count, "
               "class_weight, meta)",
    "wrong_length": "not a weights file written by bceweights ('pos_weight' is not a tensor with one "
                    "value per class (2))",
}


@pytest.mark.parametrize("kind", sorted(NOT_OURS))
def test_load_rejects_a_pt_that_is_not_ours(kind):
    path = _not_ours(kind)
    with pytest.raises(InputError) as info:
        io.load(path)
    assert str(info.value) == f"{path}: {NOT_OURS[kind]} {NOT_OURS_HINT}"


def _commands(cli) -> set[str]:
    import typer.main

    from bceweights.cli import app

    return set(typer.main.get_command(app).commands)


@pytest.mark.parametrize("command", ["validate", "report"])
@pytest.mark.parametrize("kind", ["tensor", "custom", "text"])
def test_validate_and_report_reject_a_pt_that_is_not_ours(cli, command, kind):
    if command not in _commands(cli):
        pytest.skip(f"no '{command}' command yet")
    path = _not_ours(kind)
    write("ok.csv", OK)
    args = [command, path] + (["ok.csv"] if command == "validate" else [])
    assert error_line(cli(*args)) == f"Error: {path}: {NOT_OURS[kind]} {NOT_OURS_HINT}"


def test_missing_weights_file():
    with pytest.raises(InputError, match=r"^nope\.pt: no such file \(hint: create one with"):
        io.load("nope.pt")


# ------------------------------------------------------------------------------- debug and usage


def test_usage_error_is_exit_2(cli):
    write("ok.csv", OK)
    result = cli("compute", "ok.csv", "--no-such-option")
    assert result.exit_code == 2
    assert "No such option: --no-such-option" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("where", ["before", "after", "env"])
def test_debug_shows_the_traceback(cli, where):
    args = ["compute", "nope.csv"]
    if where == "before":
        args = ["--debug", *args]
    elif where == "after":
        args = [*args, "--debug"]
    env = {"BCEWEIGHTS_DEBUG": "1"} if where == "env" else None
    with pytest.raises(InputError, match="nope.csv: no such file or directory"):
        cli(*args, env=env)


def test_debug_after_a_double_dash_is_not_an_option(cli):
    # "--" ends the options: a file literally named --debug is an input, not the flag.
    result = cli("compute", "--", "--debug")
    assert error_line(result, 2) == "Error: --debug: no such file or directory"


def test_messages_from_libraries_stay_on_one_line(cli, monkeypatch):
    from bceweights import api

    def boom(*args, **kwargs):
        raise BceWeightsError("first line\nsecond line")

    monkeypatch.setattr(api, "count_paths", boom)
    assert error_line(cli("compute", "x.csv")) == "Error: first line second line"


# --------------------------------------------------------------------------- the reader boundary


@pytest.mark.parametrize("exc", [
    OSError(5, "Input/output error"),
    ValueError("cannot reshape array of size 3 into shape (2,2)"),
    EOFError("Ran out of input"),
    UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
])
def test_reader_boundary_turns_parser_errors_into_one_line(cli, monkeypatch, exc):
    from bceweights.tables.source import TableSource

    def broken(*args, **kwargs):
        raise exc

    monkeypatch.setattr(TableSource, "open", broken)
    write("ok.csv", OK)
    line = error_line(cli("compute", "ok.csv"))
    assert line.startswith(f"Error: ok.csv: cannot read the file ({type(exc).__name__}: ")
    assert line.endswith("(hint: check that the file is complete and in the expected format; --debug "
                         "shows where it failed)")


def test_reader_boundary_keeps_bugs_as_bugs(cli, monkeypatch):
    from bceweights.tables.source import TableSource

    def buggy(*args, **kwargs):
        raise KeyError("a bug, not a bad file")

    monkeypatch.setattr(TableSource, "open", buggy)
    write("ok.csv", OK)
    with pytest.raises(KeyError):
        cli("compute", "ok.csv")


def test_pyarrow_error_classes_count_as_file_errors():
    import pyarrow as pa

    from bceweights.errors import is_file_error

    assert is_file_error(pa.ArrowInvalid("x")) and is_file_error(pa.ArrowIOError("x"))
    assert not is_file_error(KeyError("x")) and not is_file_error(TypeError("x"))


# ------------------------------------------------------------------------------- masks and arrays


def _png(name: str, array) -> Path:
    from PIL import Image

    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(name)
    return Path(name)


def _mask() -> np.ndarray:
    m = np.zeros((4, 5), np.uint8)
    m[0] = 1
    m[1, 1] = 2
    return m


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupt_png(cli, damage):
    pytest.importorskip("bceweights.readers.masks")
    data = _png("good.png", _mask()).read_bytes()
    write("bad.png", data[: len(data) // 2] if damage == "truncated" else data[:8] + b"\0" * 64)
    assert error_line(cli("compute", "good.png", "bad.png")) == (
        "Error: bad.png: cannot read the PNG mask (UnidentifiedImageError: cannot identify image file "
        "'bad.png') (hint: check that the file is complete and in the expected format; --debug shows "
        "where it failed)")
    assert no_leftovers() == []


def test_masks_of_different_dimensionality(cli):
    pytest.importorskip("bceweights.readers.masks")
    _png("plane.png", _mask())
    np.save("volume.npy", np.zeros((3, 4, 5), np.uint8))
    assert error_line(cli("compute", "plane.png", "volume.npy", "--mask-mode", "index")) == (
        "Error: the inputs mix 2-D masks (plane.png) and 3-D masks (volume.npy); count one kind at a time")


def test_class_id_not_below_num_classes(cli):
    pytest.importorskip("bceweights.readers.masks")
    _png("m.png", _mask())
    assert error_line(cli("compute", "m.png", "--num-classes", "2")) == (
        "Error: m.png: value 2 is not a class id below --num-classes 2 (hint: pass --ignore-index 2 if it "
        "marks void pixels)")


def test_inf_in_a_float_mask(cli):
    pytest.importorskip("bceweights.readers.masks")
    np.save("f.npy", np.array([[0.0, 1.0], [np.inf, 0.0]]))
    assert error_line(cli("compute", "f.npy", "--mask-mode", "index")) == (
        "Error: f.npy: value inf is not a class id (masks hold whole numbers) (hint: soft masks in [0, 1] "
        "are read with --mask-mode channels)")


def test_inf_in_soft_labels_of_an_array(cli):
    pytest.importorskip("bceweights.readers.arrays")
    np.save("soft.npy", np.array([[0.5, 0.25], [1.0, np.inf]]))
    assert error_line(cli("compute", "soft.npy")).startswith(
        f"Error: soft.npy: column '1', row 2: value inf is not a label {VALUE_ALLOWED} (hint: fix the "
        "value in the file, or pass --ignore-value to skip a sentinel")


def test_nan_in_soft_labels_of_an_array_is_missing(cli):
    # Decided: NaN is "missing" in an array as in a CSV (Tox21-style label matrices use it so); the
    # --missing policy decides, and the report counts it. It is never a silent positive.
    pytest.importorskip("bceweights.readers.arrays")
    import json

    np.save("soft.npy", np.array([[0.5, np.nan], [1.0, 0.0], [0.0, 1.0]]))
    result = cli("compute", "soft.npy", "--missing", "ignore", "--json", "-")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)["classes"]
    assert [(r["positives"], r["negatives"], r["missing"]) for r in rows] == [(1.5, 1.5, 0), (1, 1, 1)]


@pytest.mark.parametrize("shape, message", [
    ((2, 3, 4), "three_axes.npy: a 3-D array [2, 3, 4]; multi-hot arrays are [N, C] (hint: pass "
                "--class-axis for another layout, or --mask-mode index|binary|channels if these are "
                "segmentation masks)"),
])
def test_npy_with_too_many_axes_for_a_label_matrix(cli, shape, message):
    pytest.importorskip("bceweights.readers.arrays")
    np.save("three_axes.npy", np.zeros(shape))
    assert error_line(cli("compute", "three_axes.npy")) == f"Error: {message}"


@pytest.mark.parametrize("shape", [(3,), (2, 2, 3, 4)])
def test_npy_mask_that_is_not_an_image_or_volume(cli, shape):
    pytest.importorskip("bceweights.readers.masks")
    np.save("m.npy", np.zeros(shape, np.uint8))
    assert error_line(cli("compute", "m.npy", "--mask-mode", "index")) == (
        f"Error: m.npy: a {len(shape)}-D array {list(shape)}; masks are [H, W] images or [D, H, W] volumes "
        "(hint: for [C, H, W] channel masks pass --mask-mode channels)")


def test_npy_that_is_not_numpy(cli):
    pytest.importorskip("bceweights.readers.arrays")
    write("bad.npy", b"\x93NUMPY garbage")
    line = error_line(cli("compute", "bad.npy"))
    assert line.startswith("Error: bad.npy: cannot read the .npy file (ValueError: ")
