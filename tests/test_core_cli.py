"""The compute command end to end: exit codes, the .pt contract, JSON, help."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch


def labels_csv(tmp_path):
    path = tmp_path / "labels.csv"
    rows = ["id,A,B,C,D"]
    for i in range(1000):
        rows.append(f"{i},{int(i < 600)},{int(i < 550)},{int(i < 200)},{int(i < 100)}")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_compute_writes_the_pt_contract(tmp_path, cli):
    out = tmp_path / "w.pt"
    result = cli("compute", labels_csv(tmp_path), "-o", out)
    assert result.exit_code == 0, result.stderr
    w = torch.load(out, weights_only=True)
    assert w["classes"] == ["A", "B", "C", "D"]
    assert w["pos_count"].dtype == torch.float64 and w["pos_count"].tolist() == [600, 550, 200, 100]
    assert w["neg_count"].dtype == torch.float64 and w["neg_count"].tolist() == [400, 450, 800, 900]
    assert w["pos_weight"].dtype == torch.float32 and w["pos_weight"].shape == (4,)
    assert [round(v, 3) for v in w["pos_weight"].tolist()] == [0.667, 0.818, 4.0, 9.0]
    assert w["class_weight"].dtype == torch.float32
    torch.testing.assert_close(w["class_weight"], torch.tensor([1000 / (4 * p) for p in (600, 550, 200, 100)]))
    assert w["meta"]["samples"] == 1000
    assert w["meta"]["inputs"] == [str(tmp_path / "labels.csv")]
    assert "bceweights_version" in w["meta"]
    assert "pos_weight" in result.stdout and "weights_only=True" in result.stdout


def test_default_output_is_weights_pt(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli("compute", labels_csv(tmp_path), "-q").exit_code == 0
    assert (tmp_path / "weights.pt").is_file()


def test_json_to_stdout_is_the_report(tmp_path, cli):
    result = cli("compute", labels_csv(tmp_path), "-o", tmp_path / "w.pt", "--json", "-")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert [r["positives"] for r in doc["classes"]] == [600, 550, 200, 100]
    assert doc["summary"]["samples"] == 1000


def test_zero_positive_class_warns_and_strict_fails(tmp_path, cli):
    path = tmp_path / "l.csv"
    path.write_text("A,Never\n1,0\n0,0\n")
    out = tmp_path / "w.pt"
    ok = cli("compute", path, "--columns", "A,Never", "-o", out)
    assert ok.exit_code == 0
    assert "no positive example for Never" in ok.stderr and "no positive example" not in ok.stdout
    w = torch.load(out, weights_only=True)
    assert torch.isfinite(w["pos_weight"]).all() and torch.isfinite(w["class_weight"]).all()
    out.unlink()
    strict = cli("compute", path, "--columns", "A,Never", "-o", out, "--strict")
    assert strict.exit_code == 1
    assert strict.stderr.startswith("Error: 1 class(es) have no positive example: Never")
    assert not out.exists()


def test_bad_data_exits_1_with_one_line(tmp_path, cli):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,0\n0,7\n")
    result = cli("compute", bad, "--columns", "a,b", "-o", tmp_path / "w.pt")
    assert result.exit_code == 1, result.stderr
    assert result.stderr.startswith(f"Error: {bad}: column 'b', row 3: value 7 is not a label")
    assert result.stderr.count("\n") == 1


def test_a_missing_path_is_a_usage_error(tmp_path, cli):
    result = cli("compute", tmp_path / "missing.csv", "-o", tmp_path / "w.pt")
    assert result.exit_code == 2
    assert result.stderr.strip() == f"Error: {tmp_path / 'missing.csv'}: no such file or directory"


def test_usage_errors_exit_2(tmp_path, cli):
    assert cli("compute").exit_code == 2
    assert cli("compute", labels_csv(tmp_path), "--normalize", "median").exit_code == 2
    assert cli("compute", labels_csv(tmp_path), "--where", "nocolon").exit_code == 2


@pytest.mark.parametrize("command", ["compute", "validate", "report"])
def test_every_option_has_help_with_an_example(cli, command):
    # Issue 2: "--help of every command explains every option with an example".
    import typer.main

    from bceweights.cli import app

    click_command = typer.main.get_command(app).commands[command]
    options = [p for p in click_command.params if p.param_type_name == "option"
               and not {"--help", "--version", "--debug"} & set(p.opts)]
    assert len(options) >= {"compute": 40, "validate": 25, "report": 8}[command]
    no_example = [p.opts[0] for p in options if not p.help or ("e.g." not in p.help and "[cyan]" not in p.help)]
    assert no_example == [], f"{command}: options without an example in --help: {no_example}"
    result = cli(command, "--help")
    assert result.exit_code == 0 and "Example" in result.stdout


def test_python_dash_m_and_help_without_heavy_imports():
    code = ("import sys\nfrom bceweights.cli import app\n"
            "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'pandas', 'pyarrow', 'numpy') if m in sys.modules]\n"
            "print('HEAVY', heavy)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout
    version = subprocess.run([sys.executable, "-m", "bceweights", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("bceweights ")


def test_outputs_get_the_usual_file_mode(tmp_path, cli):
    import os

    umask = os.umask(0o022)
    try:
        out = tmp_path / "w.pt"
        assert cli("compute", labels_csv(tmp_path), "-o", out, "-q", "--json", tmp_path / "r.json").exit_code == 0
    finally:
        os.umask(umask)
    assert oct(out.stat().st_mode & 0o777) == oct(0o644)
    assert oct((tmp_path / "r.json").stat().st_mode & 0o777) == oct(0o644)


def test_where_matching_no_row_is_an_error_and_keeps_the_old_weights(tmp_path, cli):
    # A typo in the split name must not replace good weights with the all-1 weights of no data.
    path = tmp_path / "l.csv"
    path.write_text("split,A\ntrain,1\ntrain,0\n")
    out = tmp_path / "w.pt"
    out.write_bytes(b"earlier weights")
    result = cli("compute", path, "--where", "split=training", "-o", out)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: {path}: --where split=training matched no row, so there is nothing to count "
        "(hint: the match is exact and case-sensitive: check the value in the file)")
    assert out.read_bytes() == b"earlier weights"


def test_rarest_class_line_uses_the_counted_samples(tmp_path, cli):
    path = tmp_path / "l.csv"
    path.write_text("A,B\n1,1\n0,-1\n0,-1\n1,0\n")  # B: two -1 ignored, 1 positive of 2 counted
    result = cli("compute", path, "-o", tmp_path / "w.pt")
    assert result.exit_code == 0, result.stderr
    assert "rarest class: B (1 positive of 2 samples counted, 50.00%)" in result.stdout


def test_flat_mask_weights_come_with_a_loading_line_that_reshapes(tmp_path, cli):
    import numpy as np

    for i in range(2):
        np.save(tmp_path / f"m{i}.npy", np.arange(12, dtype=np.uint8).reshape(3, 4) % 3)
    out = tmp_path / "flat.pt"
    result = cli("compute", str(tmp_path / "m*.npy"), "--mask-mode", "index", "--flat", "-o", out)
    assert result.exit_code == 0, result.stderr
    assert f'w = bceweights.load("{out}", ndim=4)' in result.stdout
    assert "# [3, 1, 1] broadcasts over [N, C, H, W]" in result.stdout


def test_the_report_names_every_other_file_written(tmp_path, cli):
    samples, markdown = tmp_path / "samples.pt", tmp_path / "balance.md"
    result = cli("compute", labels_csv(tmp_path), "-o", tmp_path / "w.pt", "--no-validate", "--sample-weights", samples,
                 "--markdown", markdown)
    assert result.exit_code == 0, result.stderr
    assert f"also written: {samples}, {markdown}" in result.stdout
    assert samples.is_file() and markdown.is_file()


def test_an_option_the_table_reader_does_not_read_exits_2(cli, tmp_path):
    """Issue 13: an option no reader of the run reads is refused, not silently ignored."""
    path = tmp_path / "t.csv"
    path.write_text("id,a,b\n1,0,1\n2,1,1\n")
    result = cli("compute", path, "--num-classes", "7", "-o", tmp_path / "w.pt")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "Error: --num-classes does not apply to csv input (a label table); drop it (hint: bceweights compute "
        "--help says which options each kind of input reads)"]
    assert not (tmp_path / "w.pt").exists()


def test_two_layouts_at_once_exit_2(cli, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("id,a,b\n1,0,1\n2,1,1\n")
    result = cli("compute", path, "--list-column", "a", "--columns", "b", "-o", tmp_path / "w.pt")
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: choose one layout: --columns, --list-column or --class-column"
