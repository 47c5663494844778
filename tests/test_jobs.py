"""The command jobs of the library (``api.run_compute``, ``api.run_report``) that the CLI only renders,
and the output checks that run before any label is read."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from bceweights import api
from bceweights.errors import CheckFailed, OutputError
from bceweights.sampling import SampleOptions
from bceweights.validate import CheckResult
from bceweights.weights import WeightOptions

# 10 rows: a has 4 positives, b has 1 → pos_weight [6/4, 9/1]; inverse class weight n/(C·P) = [10/8, 10/2].
ROWS = [(1, 0), (1, 0), (1, 1), (1, 0), (0, 0), (0, 0), (0, 0), (0, 0), (0, 0), (0, 0)]


@pytest.fixture
def table(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "labels.csv"
    path.write_text("id,a,b\n" + "".join(f"r{i},{a},{b}\n" for i, (a, b) in enumerate(ROWS)))
    return path


def fail_numeric(monkeypatch) -> None:
    # The module itself: ``bceweights.validate`` the package attribute is the function of that name.
    monkeypatch.setattr(sys.modules["bceweights.validate"], "check_numeric",
                        lambda *a, **k: CheckResult("numeric", False, "torch gives 1 where the formula gives 2"))


# ------------------------------------------------------------------------------- output checks first

NODIR = "Error: nodir/{name}: the directory nodir does not exist (hint: create it first: mkdir -p nodir)"


@pytest.mark.parametrize("flag,name", [("-o", "w.pt"), ("--markdown", "r.md"), ("--csv", "r.csv"),
                                       ("--plot", "p.png"), ("--cooccurrence", "c.csv"),
                                       ("--sample-weights", "s.pt")])
def test_every_output_is_checked_before_the_scan_with_json_to_stdout(cli, tmp_path, monkeypatch, flag, name):
    # The input does not exist: an error about it would mean the scan started before the check.
    monkeypatch.chdir(tmp_path)
    args = ["compute", "absent.csv", "--json", "-", flag, f"nodir/{name}"]
    if flag != "-o":
        args += ["-o", "w.pt"]
    result = cli(*args)
    assert result.exit_code == 1
    assert result.stderr.strip() == NODIR.format(name=name)
    assert result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_json_file_is_checked_before_the_scan(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("compute", "absent.csv", "--json", "nodir/r.json")
    assert (result.exit_code, result.stderr.strip()) == (1, NODIR.format(name="r.json"))


def test_run_compute_checks_outputs_before_counting(table, monkeypatch):
    def no_scan(*args, **kwargs):
        raise AssertionError("the labels were read before the output check")

    monkeypatch.setattr(api, "count_paths", no_scan)
    for kwargs in ({"output": "nodir/w.pt"}, {"files": api.ReportFiles(json="-", csv="nodir/r.csv")},
                   {"sample_weights": "nodir/s.pt"}):
        with pytest.raises(OutputError, match=r"^nodir/\w\.\w+: the directory nodir does not exist"):
            api.run_compute(table, **kwargs)


# --------------------------------------------------------------------------------------- run_compute


def test_run_compute_saves_checks_and_reports(table):
    files = api.ReportFiles(json="r.json", markdown="r.md", sort="weight", top=1)
    job = api.run_compute(table, output="w.pt", files=files, sample_weights="s.pt",
                          sample_options=SampleOptions(id_column="id"))
    assert job.written == [Path("w.pt"), Path("s.pt"), Path("r.json"), Path("r.md")]
    assert job.result.counts.pos.tolist() == [4.0, 1.0] and job.result.counts.neg.tolist() == [6.0, 9.0]
    assert not job.failed and [c.status for c in job.checks.checks] == ["pass"] * 4
    job.raise_if_failed()  # nothing to raise

    saved = torch.load("w.pt", weights_only=True)
    assert saved["pos_weight"].tolist() == pytest.approx([1.5, 9.0])
    assert saved["class_weight"].tolist() == pytest.approx([1.25, 5.0])
    rows = torch.load("s.pt", weights_only=True)
    # "no label" is a third group for the scheme, n / (3·P): a 10/12, b 10/3, no label 10/18; a row
    # takes the largest weight of its labels.
    assert rows["weights"].tolist() == pytest.approx([10 / 12, 10 / 12, 10 / 3, 10 / 12] + [10 / 18] * 6)
    assert rows["ids"] == [f"r{i}" for i in range(10)]

    doc = json.loads(Path("r.json").read_text())
    assert doc == json.loads(json.dumps(job.report))
    assert doc["summary"]["output"] == "w.pt" and doc["validation"]["passed"] is True
    assert "| b |" in Path("r.md").read_text() and "| a |" not in Path("r.md").read_text()  # --top 1 by weight


def test_run_compute_without_validation_has_no_checks(table):
    job = api.run_compute(table, output="w.pt", validate=False, device="no-such-device", flat=True)
    assert job.checks is None and not job.failed and job.written == [Path("w.pt")]
    assert job.result.meta["flat"] is True


def test_a_failed_check_writes_the_report_but_not_the_weights(table, monkeypatch):
    fail_numeric(monkeypatch)
    job = api.run_compute(table, output="w.pt", files=api.ReportFiles(json="r.json"), sample_weights="s.pt")
    assert job.failed and job.written == [Path("r.json")]
    assert not Path("w.pt").exists() and not Path("s.pt").exists()
    assert "output" not in job.report["summary"] and job.report["validation"]["passed"] is False
    with pytest.raises(CheckFailed, match=r"^numeric check failed: torch gives 1 where the formula gives 2; "
                                          r"w\.pt was not written$"):
        job.raise_if_failed()


def test_a_progress_display_is_shown_for_the_scan_only(table):
    events: list[str] = []

    class Display:
        def __enter__(self):
            events.append("enter")
            return self

        def __exit__(self, *exc):
            events.append("exit: .pt exists" if Path("w.pt").exists() else "exit")

        def start(self, total, unit, description):
            events.append(f"start {unit}")

        def advance(self, amount, **fields):
            if events[-1] != "advance":
                events.append("advance")

    api.run_compute(table, output="w.pt", progress=Display())
    assert events == ["enter", "start bytes", "advance", "exit"]


# ---------------------------------------------------------------------------------------- run_report


def test_run_report_rebuilds_the_report_of_a_saved_file(table, capsys):
    computed = api.run_compute(table, output="w.pt", validate=False)
    job = api.run_report("w.pt", api.ReportFiles(csv="r.csv", json="-"))
    assert job.weights == Path("w.pt") and job.checks is None and job.written == [Path("r.csv")]
    assert job.report["classes"] == computed.report["classes"]
    assert json.loads(capsys.readouterr().out)["classes"] == computed.report["classes"]
    assert Path("r.csv").read_text().splitlines()[1].startswith("a,4,6,0.4,1.5,1.25")


def test_run_report_reads_back_every_weight_option(table):
    options = WeightOptions(scheme="inverse-sqrt", normalize="mean", clip=(1.0, 2.5), smoothing=0.5,
                            min_count=2)
    api.run_compute(table, None, options, output="w.pt", validate=False)
    assert api.run_report("w.pt").result.weights.options == options
