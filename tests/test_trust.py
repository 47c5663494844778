"""The trust battery (issue 14, items 1, 4 and 6), run as a user would: no file is ever destroyed, every
usage mistake is one line and exit 2, bad data one line and exit 1, nothing from the data reaches the
terminal as a control sequence, warnings reach stderr even under ``-q``, and the library takes and
checks its options as the CLI does.

Each case states the exact message and exit code, and checks that no file was replaced. Runs in
``tmp_path`` with relative names, so the messages compare whole. Device nodes are made here
(``os.mknod``, ``os.mkfifo``), never taken from ``/dev``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import stat
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bceweights
from bceweights.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
LABELS = "a,b,c\n1,0,0\n0,1,0\n1,1,0\n0,0,1\n1,0,1\n"
HINT_OTHER = "(hint: choose another output path)"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BCEWEIGHTS_DEBUG", raising=False)


def write(name: str, text: str | bytes = LABELS) -> Path:
    path = Path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def error_line(result, code: int) -> str:
    """The one ``Error:`` line of a failed run: right code, nothing else on stderr, no traceback."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def brute_counts(text: str, columns: list[str]) -> tuple[list[float], list[float]]:
    df = pd.read_csv(io.StringIO(text))
    return df[columns].sum().astype(float).tolist(), (len(df) - df[columns].sum()).astype(float).tolist()


def pt_counts(path_or_bytes) -> tuple[list[float], list[float]]:
    source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    data = torch.load(source, weights_only=True)
    return data["pos_count"].tolist(), data["neg_count"].tolist()


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """The CLI as a real process (the in-process runner does not see Click's own error output path
    or the process's stdout as a pipe)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    env.pop("BCEWEIGHTS_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "bceweights", *args], capture_output=True, env=env,
                          input=stdin.encode() if stdin else None, timeout=120)


# ======================================================================================= 1. outputs


@pytest.mark.parametrize("flag", ["-o", "--json", "--csv", "--markdown", "--cooccurrence",
                                  "--sample-weights", "--plot"])
def test_an_output_on_the_input_is_refused_and_the_labels_survive(cli, flag):
    # --plot writes .png: a table named .png (read with --format csv) is what it could overwrite.
    labels = write("labels.png" if flag == "--plot" else "labels.csv")
    before = digest(labels)
    args = ["compute", labels, "--format", "csv", flag, labels]
    if flag != "-o":
        args += ["-o", "w.pt"]
    line = error_line(cli(*args), 2)
    assert line == (f"Error: {flag} {labels}: is also an input of this run; writing it would destroy the "
                    f"labels {HINT_OTHER}")
    assert digest(labels) == before and not Path("w.pt").exists()


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_an_output_that_is_the_input_by_a_link_is_refused(cli, link):
    labels = write("labels.csv")
    before = digest(labels)
    (os.symlink if link == "symlink" else os.link)("labels.csv", "other.csv")
    line = error_line(cli("compute", "labels.csv", "-o", "other.csv"), 2)
    assert line == ("Error: -o other.csv: is the same file as the input labels.csv; writing it would "
                    f"destroy the labels {HINT_OTHER}")
    assert digest(labels) == before and Path("other.csv").is_symlink() == (link == "symlink")


@pytest.mark.parametrize("first, second", [("-o", "--json"), ("--json", "--csv"), ("-o", "--sample-weights"),
                                           ("--markdown", "--cooccurrence")])
def test_two_outputs_on_one_file_are_refused(cli, first, second):
    write("labels.csv")
    old = write("out.pt", b"an earlier file")
    args = ["compute", "labels.csv", first, "out.pt", second, "out.pt"]
    if "-o" not in (first, second):
        args += ["-o", "w.pt"]
    line = error_line(cli(*args), 2)
    order = [f for f in ("-o", "--cooccurrence", "--json", "--markdown", "--csv", "--sample-weights")
             if f in (first, second)]
    assert line == (f"Error: {order[1]} out.pt: is also the output of {order[0]}; each output needs its own "
                    f"file {HINT_OTHER}")
    assert old.read_bytes() == b"an earlier file" and not Path("w.pt").exists()


def test_two_outputs_on_one_file_through_a_symlink_are_refused(cli):
    write("labels.csv")
    os.symlink("w.json", "link.json")
    line = error_line(cli("compute", "labels.csv", "--json", "w.json", "--csv", "link.json"), 2)
    assert line == ("Error: --csv link.json: is also the output of --json (w.json); each output needs its own "
                    f"file {HINT_OTHER}")


def test_an_output_on_the_classes_file_is_refused(cli):
    write("labels.csv", "1,0\n0,1\n")
    classes = write("classes.txt", "a\nb\n")
    line = error_line(cli("compute", "labels.csv", "--no-header", "--classes-file", "classes.txt",
                          "--markdown", "classes.txt"), 2)
    assert line == ("Error: --markdown classes.txt: is also the --classes-file input; writing it would "
                    f"destroy it {HINT_OTHER}")
    assert classes.read_text() == "a\nb\n"


def test_report_refuses_to_write_over_its_weights(cli):
    write("labels.csv")
    assert cli("compute", "labels.csv", "-o", "w.pt", "-q").exit_code == 0
    before = digest("w.pt")
    line = error_line(cli("report", "w.pt", "--json", "w.pt"), 2)
    assert line == f"Error: --json w.pt: is also the WEIGHTS.pt input; writing it would destroy it {HINT_OTHER}"
    assert digest("w.pt") == before


def _char_device(path: str) -> Path:
    try:
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # what /dev/null is, made here
    except PermissionError:
        pytest.skip("making a device node needs root")
    return Path(path)


def test_a_character_device_is_written_through_never_replaced(cli):
    write("labels.csv")
    node = _char_device("null")
    st_before = os.stat(node)
    result = cli("compute", "labels.csv", "-o", "null", "--json", "null", "--csv", "null", "-q")
    assert result.exit_code == 0, result.stderr
    st_after = os.stat(node)
    assert stat.S_ISCHR(st_after.st_mode) and st_after.st_ino == st_before.st_ino
    assert st_after.st_rdev == st_before.st_rdev and sorted(os.listdir(".")) == ["labels.csv", "null"]


def test_a_fifo_is_written_through_and_read_by_its_reader(cli):
    write("labels.csv")
    os.mkfifo("pipe.pt")
    got: list[bytes] = []

    def reader():
        with open("pipe.pt", "rb") as fh:
            got.append(fh.read())

    thread = threading.Thread(target=reader, daemon=True)  # a FIFO renamed over would block it forever
    thread.start()
    result = cli("compute", "labels.csv", "-o", "pipe.pt", "-q")
    assert result.exit_code == 0, result.stderr
    assert stat.S_ISFIFO(os.stat("pipe.pt").st_mode)
    thread.join(30)
    assert pt_counts(got[0]) == brute_counts(LABELS, ["a", "b", "c"])


def test_a_symlinked_output_stays_a_link_to_the_new_file(cli):
    write("labels.csv")
    Path("runs").mkdir()
    write("runs/w.pt", b"old")
    os.symlink("runs/w.pt", "latest.pt")
    assert cli("compute", "labels.csv", "-o", "latest.pt", "-q").exit_code == 0
    assert Path("latest.pt").is_symlink() and os.readlink("latest.pt") == "runs/w.pt"
    assert pt_counts(Path("runs/w.pt")) == brute_counts(LABELS, ["a", "b", "c"])


def test_a_descriptor_path_is_written_in_place_keeping_its_file(tmp_path):
    from bceweights import io as bio

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("no /proc/self/fd here")
    target = tmp_path / "redirected.json"
    with open(target, "w") as fh:  # what a shell's "> redirected.json" holds open
        fd_path = f"/proc/self/fd/{fh.fileno()}"
        inode = os.stat(target).st_ino
        assert bio.written_in_place(fd_path) and not bio.written_in_place(target)
        bio.write_text(fd_path, '{"ok": true}\n')
        assert os.stat(target).st_ino == inode and target.read_text() == '{"ok": true}\n'
    assert sorted(os.listdir(tmp_path)) == ["redirected.json"]


def test_dash_o_dash_writes_the_pt_to_stdout_and_the_report_to_stderr(cli):
    write("labels.csv")
    result = cli("compute", "labels.csv", "-o", "-")
    assert result.exit_code == 0, result.stderr
    assert pt_counts(result.stdout_bytes) == brute_counts(LABELS, ["a", "b", "c"])
    assert "samples: 5" in result.stderr and "PASS  sanity" in result.stderr
    assert not Path("-").exists()


def test_dash_o_dash_through_a_real_pipe():
    write("labels.csv")
    proc = run("compute", "labels.csv", "-o", "-", "-q")
    assert proc.returncode == 0 and proc.stderr == b""
    assert pt_counts(proc.stdout) == brute_counts(LABELS, ["a", "b", "c"])


def test_dash_o_dash_refuses_a_terminal(monkeypatch):
    from bceweights import api

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    write("labels.csv")
    monkeypatch.setattr(sys, "stdout", Terminal())
    with pytest.raises(UsageError) as refused:
        api.run_compute("labels.csv", output="-")
    assert str(refused.value) == ("-o -: stdout is a terminal, and a .pt is binary (hint: redirect it "
                                  "(-o - > weights.pt) or pipe it into the program that reads it)")
    assert sys.stdout.getvalue() == ""


@pytest.mark.parametrize("args, message", [
    (["-o", "-", "--json", "-"], "-o - and --json -: both write to stdout (hint: give one of them a file name)"),
    (["--csv", "-"], "--csv -: only -o and --json write to stdout (hint: give --csv a file name (a file named "
                     "'-' is ./-))"),
    (["--sample-weights", "-"], "--sample-weights -: only -o and --json write to stdout (hint: give "
                                "--sample-weights a file name)"),
])
def test_stdout_is_one_output_at_most(cli, args, message):
    write("labels.csv")
    assert error_line(cli("compute", "labels.csv", *args), 2) == f"Error: {message}"
    assert sorted(os.listdir(".")) == ["labels.csv"]


def _masks(folder: str, count: int = 3) -> list[np.ndarray]:
    from PIL import Image

    rng = np.random.default_rng(7)
    arrays = [rng.integers(0, 3, (6, 5), dtype=np.uint8) for _ in range(count)]
    Path(folder).mkdir()
    for i, m in enumerate(arrays):
        Image.fromarray(m).save(f"{folder}/m{i}.png")
    return arrays


def _index_pos(arrays: list[np.ndarray], k: int) -> list[float]:
    return [float(sum((m == c).sum() for m in arrays)) for c in range(k)]


def test_a_mask_folder_skips_the_runs_output_and_other_kinds_with_notes(cli):
    arrays = _masks("masks")
    write("masks/README.txt", "label ids\n0 background\n")
    first = cli("compute", "masks", "-o", "masks/weights.pt", "--flat")
    assert first.exit_code == 0, first.stderr
    assert "note: masks: skipped README.txt: not segmentation masks like the other 3 files" in first.stdout
    again = cli("compute", "masks", "-o", "masks/weights.pt", "--flat")
    assert again.exit_code == 0, again.stderr
    assert "note: masks: skipped weights.pt: an output of this run" in again.stdout
    assert pt_counts(Path("masks/weights.pt"))[0] == _index_pos(arrays, 3)


def test_a_table_folder_skips_an_old_weights_file(cli):
    write("tables/part1.csv", "a,b\n1,0\n0,1\n")
    write("tables/part2.csv", "a,b\n1,1\n")
    write("tables/old.pt", b"not labels")
    result = cli("compute", "tables", "-o", "w.pt")
    assert result.exit_code == 0, result.stderr
    assert "note: tables: skipped old.pt: not label tables like the other 2 files" in result.stdout
    assert pt_counts(Path("w.pt")) == ([2.0, 2.0], [1.0, 1.0])


def test_an_output_among_labels_of_its_kind_is_refused_not_skipped(cli):
    # A report CSV beside label CSVs, or -o on a mask, may be labels: refused, never overwritten.
    write("data/x.csv")
    write("data/y.csv", "class,positives\nA,3\n")
    line = error_line(cli("compute", "data/*.csv", "-o", "w.pt", "--csv", "data/y.csv"), 2)
    assert line == ("Error: --csv data/y.csv: is also an input of this run (matched by data/*.csv); writing it "
                    f"would destroy it {HINT_OTHER}")
    _masks("masks")
    before = digest("masks/m1.png")
    line = error_line(cli("compute", "masks", "-o", "masks/m1.png"), 2)
    assert line == ("Error: -o masks/m1.png: is also an input of this run (in masks); writing it would destroy "
                    f"it {HINT_OTHER}")
    write("train.txt", "m0\nm1\n")
    line = error_line(cli("compute", "masks", "--file-list", "train.txt", "--json", "masks/m1.png"), 2)
    assert line == ("Error: --json masks/m1.png: is also an input of this run (listed in train.txt); writing it "
                    f"would destroy it {HINT_OTHER}")
    assert digest("masks/m1.png") == before and not Path("w.pt").exists()


@pytest.mark.parametrize("second", ["labels.csv", "./labels.csv", "hard.csv", "soft.csv"])
def test_an_input_given_twice_is_counted_once_with_a_warning(cli, second):
    write("labels.csv")
    os.link("labels.csv", "hard.csv")
    os.symlink("labels.csv", "soft.csv")
    result = cli("compute", "labels.csv", second, "-o", "w.pt", "-q")
    assert result.exit_code == 0 and result.stdout == ""
    shown = "" if str(Path(second)) == "labels.csv" else f" (as labels.csv and {second})"
    assert result.stderr == f"warning: labels.csv: the same file is given twice{shown}; counted once\n"
    assert pt_counts(Path("w.pt")) == brute_counts(LABELS, ["a", "b", "c"])


def test_a_file_list_counts_a_line_twice_as_listed_with_a_note(cli):
    arrays = _masks("masks", 2)
    write("train.txt", "m0\nm1\nm1\n")
    result = cli("compute", "masks", "--file-list", "train.txt", "-o", "w.pt", "--flat", "--num-classes", "3")
    assert result.exit_code == 0, result.stderr
    assert ("note: train.txt: lists m1.png more than once; counted as often as listed, as a loader reading "
            "the list sees them") in result.stdout
    assert pt_counts(Path("w.pt"))[0] == _index_pos([arrays[0], arrays[1], arrays[1]], 3)


# ======================================================================= 2. one line, right exit code


@pytest.mark.parametrize("args, message", [
    (["report"], "Missing argument 'WEIGHTS.pt'. (hint: bceweights report -h shows the usage)"),
    (["validate", "w.pt"], "Missing argument 'LABELS'. (hint: bceweights validate -h shows the usage)"),
    (["compute"], "Missing argument 'LABELS'. (hint: bceweights compute -h shows the usage)"),
    (["bogus"], "No such command 'bogus'. (hint: bceweights -h shows the usage)"),
    (["compute", "labels.csv", "--no-such"], "No such option: --no-such*(hint: bceweights compute -h shows the "
                                             "usage)"),
    (["compute", "labels.csv", "--normalize", "median"],
     "Invalid value for '--normalize': 'median' is not one of 'none', 'mean', 'sum'. (hint: bceweights "
     "compute -h shows the usage)"),
    (["compute", "labels.csv", "--top", "x"], None),
])
def test_clicks_usage_errors_are_one_line_and_exit_2(cli, args, message):
    write("labels.csv")
    line = error_line(cli(*args), 2)
    if message is not None:
        # "*": what Click adds in some versions (a "Possible options" suggestion)
        head, _, tail = f"Error: {message}".partition("*")
        assert line.startswith(head) and line.endswith(tail) if tail else line == head
    assert "╭" not in line and "Usage:" not in line


@pytest.mark.parametrize("args, message", [
    (["--smoothing", "inf"], "Invalid value for --smoothing: inf is not a finite number"),
    (["--smoothing", "nan"], "Invalid value for --smoothing: nan is not a finite number"),
    (["--smoothing", "-1"], "Invalid value for --smoothing: -1 is not in [0, ∞]"),
    (["--min-count", "inf"], "Invalid value for --min-count: inf is not a finite number"),
    (["--beta", "nan"], "Invalid value for --beta: nan is not a finite number"),
    (["--enet-k", "inf"], "Invalid value for --enet-k: inf is not a finite number"),
    (["--clip", "nan:1"], "Invalid value for --clip: --clip bounds must be finite and >= 0, got nan"),
])
def test_a_bad_weight_flag_value_exits_2(cli, args, message):
    write("labels.csv")
    line = error_line(cli("compute", "labels.csv", *args), 2)
    assert line == f"Error: {message} (hint: bceweights compute -h shows the usage)"
    assert not Path("weights.pt").exists()


@pytest.mark.parametrize("args, message", [
    (["--binarize", "nan"], "--binarize nan: the threshold must be a finite number (hint: e.g. --binarize 0.5 "
                            "counts y >= 0.5 as positive)"),
    (["--binarize", "inf"], "--binarize inf: the threshold must be a finite number (hint: e.g. --binarize 0.5 "
                            "counts y >= 0.5 as positive)"),
    (["--ignore-value", "nan"], "--ignore-value nan: NaN (a blank) is a missing value, not a sentinel (hint: "
                                "pass --missing ignore to count missing values as neither)"),
    (["--columns", "a", "--exclude-columns", "a"], "--columns and --exclude-columns both name 'a' (hint: a "
                                                   "column is either a label or left out)"),
    (["--delimiter", "::"], "--delimiter '::': the delimiter is one character (not a quote or a line end) "
                            "(hint: e.g. ',' ';' '|' or tab)"),
    (["--separator", ""], "--separator '': the separator is empty (hint: e.g. '|' or ' '; leave it out to "
                          "detect it)"),
    (["--format", "bogus"], None),
    (["--list-column", "a", "--class-column", "b"], "choose one layout: --columns, --list-column or "
                                                    "--class-column"),
    (["--where", "nocolon"], "Invalid value for --where: expected COLUMN=VALUE, got 'nocolon' (hint: "
                             "bceweights compute -h shows the usage)"),
])
def test_a_bad_input_flag_value_or_a_conflict_exits_2(cli, args, message):
    write("labels.csv")
    line = error_line(cli("compute", "labels.csv", *args), 2)
    if message is not None:
        assert line == f"Error: {message}"
    assert not Path("weights.pt").exists()


@pytest.mark.parametrize("args, message", [
    (["compute", "nope.csv"], "nope.csv: no such file or directory"),
    (["compute", "nope/*.csv"], "nope/*.csv: the pattern matches no file"),
    (["compute", "labels.csv", "--classes-file", "nope.txt"], "--classes-file nope.txt: no such file"),
    (["compute", "masks", "--file-list", "nope.txt"], "--file-list nope.txt: no such file"),
    (["report", "nope.pt"], "nope.pt: no such file (hint: create one with: bceweights compute LABELS -o "
                            "weights.pt)"),
    (["validate", "nope.pt", "labels.csv"], "nope.pt: no such file (hint: create one with: bceweights "
                                            "compute LABELS -o weights.pt)"),
])
def test_a_missing_path_exits_2(cli, args, message):
    write("labels.csv")
    Path("masks").mkdir()
    assert error_line(cli(*args), 2) == f"Error: {message}"


def test_bad_data_exits_1(cli):
    write("labels.csv", "a,b\n1,0\n0,7\n")
    line = error_line(cli("compute", "labels.csv", "--columns", "a,b"), 1)
    assert line.startswith("Error: labels.csv: column 'b', row 3: value 7 is not a label")


def test_a_usage_error_as_a_real_process_is_one_line_without_a_box():
    proc = run("report")
    assert proc.returncode == 2 and proc.stdout == b""
    assert proc.stderr.decode() == ("Error: Missing argument 'WEIGHTS.pt'. (hint: python -m bceweights report -h "
                                    "shows the usage)\n")


# ------------------------------------------------------------------------------ control characters

ESC_HEADER = "ok,\x1b[2Jwipe,\x1b]0;pwned\x07title,bidi\u202eevil\n1,0,1,0\n0,1,1,1\n"
RAW = ("\x1b[2J", "\x1b]0;", "\x07", "\u202e")


def _no_raw_control(text: str) -> None:
    for seq in RAW:
        assert seq not in text


def test_control_sequences_in_a_header_are_escaped_in_the_report(cli):
    write("esc.csv", ESC_HEADER)
    result = cli("compute", "esc.csv", "-o", "w.pt", "--markdown", "r.md")
    assert result.exit_code == 0, result.stderr
    _no_raw_control(result.stdout + result.stderr)
    assert "\\x1b[2Jwipe" in result.stdout and "\\x1b]0;pwned\\x07title" in result.stdout
    assert "bidi\\u202eevil" in result.stdout
    _no_raw_control(Path("r.md").read_text())
    # The .pt keeps the names exact: they are the data's.
    names = torch.load("w.pt", weights_only=True)["classes"]
    assert "\x1b[2Jwipe" in names


def test_control_sequences_are_escaped_in_errors_and_warnings(cli):
    write("esc.csv", ESC_HEADER)
    line = error_line(cli("compute", "esc.csv", "--columns", "nope"), 1)
    _no_raw_control(line)
    assert "\\x1b[2Jwipe" in line
    write("zero.csv", "\x1b[2Jnever,b\n0,1\n0,0\n")
    warned = cli("compute", "zero.csv", "--columns", "\x1b[2Jnever,b", "-o", "w.pt", "-q")
    assert warned.exit_code == 0
    assert warned.stderr.startswith("warning: no positive example for \\x1b[2Jnever")
    _no_raw_control(warned.stderr)


def test_a_control_sequence_in_a_path_is_escaped():
    proc = run("compute", "\x1b]0;pwned\x07.csv")
    assert proc.returncode == 2
    assert proc.stderr.decode() == "Error: \\x1b]0;pwned\\x07.csv: no such file or directory\n"


def test_control_sequences_are_escaped_in_a_colour_terminal():
    write("esc.csv", ESC_HEADER)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FORCE_COLOR": "1", "TERM": "xterm-256color"}
    proc = subprocess.run([sys.executable, "-m", "bceweights", "compute", "esc.csv", "-o", "w.pt"],
                          capture_output=True, env=env, timeout=120)
    assert proc.returncode == 0
    out = proc.stdout.decode() + proc.stderr.decode()
    assert "\x1b[" in out  # Rich's own colours are there: the test sees a terminal's bytes
    _no_raw_control(out)


# --------------------------------------------------------------------------------------- warnings


def test_warnings_go_to_stderr_and_survive_quiet(cli):
    write("zero.csv", "a,never\n1,0\n0,0\n")
    loud = cli("compute", "zero.csv", "--columns", "a,never", "-o", "w.pt")
    quiet = cli("compute", "zero.csv", "--columns", "a,never", "-o", "w.pt", "-q")
    warning = "warning: no positive example for never"
    assert loud.exit_code == quiet.exit_code == 0
    assert warning in loud.stderr and warning not in loud.stdout and "samples: 2" in loud.stdout
    assert quiet.stdout == "" and quiet.stderr.startswith(warning) and quiet.stderr.count("\n") == 1


def test_json_to_stdout_stays_json_with_warnings_on_stderr(cli):
    write("zero.csv", "a,never\n1,0\n0,0\n")
    result = cli("compute", "zero.csv", "--columns", "a,never", "-o", "w.pt", "--json", "-")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["warnings"][0].startswith("no positive example for never")
    assert "warning: no positive example for never" in result.stderr


def test_report_of_a_saved_pt_repeats_its_warnings_on_stderr(cli):
    write("zero.csv", "a,never\n1,0\n0,0\n")
    assert cli("compute", "zero.csv", "--columns", "a,never", "-o", "w.pt", "-q").exit_code == 0
    result = cli("report", "w.pt", "-q")
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr.startswith("warning: no positive example for never")


# ========================================================================================= 3. library


CSV = ROOT / "sample_data" / "chest_xray_labels.csv"
CLASSES = ["Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia", "Hernia"]


def test_a_string_where_names_are_expected_is_one_name():
    df = pd.read_csv(CSV)
    left = bceweights.count(CSV, exclude_columns="Hernia")
    assert left.classes == CLASSES[:-1]
    assert left.pos.tolist() == df[CLASSES[:-1]].sum().astype(float).tolist()
    one = bceweights.count(CSV, columns="Mass")
    assert one.classes == ["Mass"] and one.pos.tolist() == [float(df["Mass"].sum())]


@pytest.mark.parametrize("where", ["split=train", {"split": "train"}, [("split", "train")], ["split=train"],
                                   (("split", "train"),)])
def test_where_takes_a_string_a_mapping_or_pairs(where):
    df = pd.read_csv(CSV)
    train = df[df["split"] == "train"]
    counts = bceweights.count(CSV, where=where)
    assert counts.samples == len(train)
    assert counts.pos.tolist() == train[CLASSES].sum().astype(float).tolist()


def test_where_values_of_one_column_are_alternatives():
    df = pd.read_csv(CSV)
    kept = df[df["split"].isin(["train", "val"])]
    counts = bceweights.count(CSV, where={"split": ["train", "val"]})
    assert counts.samples == len(kept)
    assert counts.neg.tolist() == (len(kept) - kept[CLASSES].sum()).astype(float).tolist()


@pytest.mark.parametrize("options, message", [
    ({"where": "split"}, "where='split': expected 'column=value', a mapping {column: value} or (column, value) "
                         "pairs"),
    ({"where": 5}, "where=5: expected 'column=value', a mapping {column: value} or (column, value) pairs"),
    ({"columns": 3}, "columns=3: expected a name or a list of names"),
    ({"columns": []}, "columns=[]: no name given (hint: leave columns out (None) to detect them)"),
    ({"binarize": float("nan")}, "--binarize nan: the threshold must be a finite number (hint: e.g. --binarize "
                                 "0.5 counts y >= 0.5 as positive)"),
    ({"delimiter": "::"}, "delimiter='::': the delimiter is one character (not a quote or a line end) (hint: "
                          "e.g. ',' ';' '|' or tab)"),
    ({"columns": "Mass", "exclude_columns": "Mass"}, "columns= and exclude_columns= both name 'Mass' (hint: a "
                                                     "column is either a label or left out)"),
    ({"colums": "Mass"}, "compute() got an unknown option colums= (hint: did you mean columns=?)"),
    ({"scheme": "bogus"}, "unknown scheme 'bogus'; choose one of inverse, inverse-sqrt, effective-number, "
                          "median-frequency, enet"),
    ({"smoothing": -1.0}, "--smoothing must be a finite number >= 0, got -1"),
])
def test_library_errors_name_the_argument_never_the_file(options, message):
    with pytest.raises(UsageError) as refused:
        bceweights.compute(CSV, **options)
    assert str(refused.value) == message
    assert str(CSV) not in str(refused.value)


def test_compute_and_count_take_the_weight_options_as_keywords():
    reference = bceweights.compute(CSV, weight_options=bceweights.WeightOptions(
        scheme="inverse-sqrt", normalize="mean", clip=(0.5, 20.0), smoothing=1.0))
    keywords = bceweights.compute(CSV, scheme="inverse-sqrt", normalize="mean", clip="0.5:20", smoothing=1.0)
    assert np.array_equal(keywords.weights.pos_weight, reference.weights.pos_weight)
    assert np.array_equal(keywords.weights.class_weight, reference.weights.class_weight)
    df = pd.read_csv(CSV)
    pos, n = df[CLASSES].sum().to_numpy(float), len(df)
    assert np.allclose(keywords.weights.pos_weight, np.clip((n - pos + 1) / (pos + 1), 0.5, 20.0))
    counts = bceweights.count(CSV, scheme="inverse-sqrt", smoothing=1.0)  # one set of keywords for all three
    assert counts == reference.counts
    loss = bceweights.loss(counts, scheme="inverse-sqrt", normalize="mean", clip=(0.5, 20.0), smoothing=1.0)
    assert np.allclose(loss.pos_weight.numpy(), reference.weights.pos_weight)
    with pytest.raises(UsageError, match=r"^unknown scheme 'x'"):
        bceweights.count(CSV, scheme="x")


def test_compute_takes_the_value_policy_as_keywords():
    path = write("u.csv", "a,b\n1,-1\n0,1\n-1,\n1,0\n")
    ones = bceweights.count(path, uncertain="positive", missing="ignore")
    assert ones.pos.tolist() == [3.0, 2.0] and ones.neg.tolist() == [1.0, 1.0]
    binary = bceweights.count(write("s.csv", "a\n0.2\n0.7\n0.5\n"), columns="a", binarize=0.5)
    assert binary.pos.tolist() == [2.0] and binary.neg.tolist() == [1.0]


def test_the_library_warns_about_an_input_given_twice_and_a_class_without_positives():
    path = write("zero.csv", "a,never\n1,0\n0,0\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = bceweights.compute([path, Path("./zero.csv")], columns=["a", "never"])
    messages = [str(w.message) for w in caught]
    assert messages[0] == "zero.csv: the same file is given twice; counted once"
    assert messages[1].startswith("no positive example for never")
    assert result.counts.samples == 2 and result.weights.warnings[0] == messages[0]


# ======================================================================================= fuzzing


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["x", "", "1e999"])),
       flag=st.sampled_from(["--smoothing", "--min-count", "--beta", "--enet-k", "--binarize", "--ignore-value",
                             "--repeat-threshold"]))
def test_any_numeric_flag_value_exits_0_or_2_with_one_line(cli, value, flag):
    write("labels.csv")
    args = ["compute", "labels.csv", flag, str(value), "-o", "w.pt", "-q", "--no-validate"]
    if flag == "--repeat-threshold":
        args += ["--sample-weights", "s.pt"]
    result = cli(*args)
    assert result.exit_code in (0, 2), (result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr
    if result.exit_code == 2:
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
    number = float(value) if isinstance(value, float) else None
    if number is not None and not np.isfinite(number) and flag != "--ignore-value":
        assert result.exit_code == 2
    if number is not None and np.isnan(number):
        assert result.exit_code == 2


NAME_CHARS = st.characters(codec="utf-8", exclude_characters=",\"\n\r")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.text(NAME_CHARS, min_size=1, max_size=8).filter(lambda s: s.strip() == s and s),
                      min_size=1, max_size=3, unique=True))
def test_no_header_reaches_the_terminal_raw(cli, names):
    write("h.csv", ",".join(names) + "\n" + ",".join("1" for _ in names) + "\n"
          + ",".join("0" for _ in names) + "\n")
    result = cli("compute", "h.csv", "--columns", ",".join(names), "-o", "w.pt", "--no-validate")
    out = result.stdout + result.stderr
    assert "Traceback" not in out
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", out), out
    if result.exit_code != 0:
        assert result.exit_code in (1, 2) and result.stderr.count("\n") == 1
