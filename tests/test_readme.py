"""The README's two commands stay true: the quick-start job runs on sample_data/, and the test command
that .ci/run executes is the one the README shows."""

from __future__ import annotations

import re
import shlex

import torch
from conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_ci_runs_the_test_command_the_readme_shows():
    marker = re.search(r"^<!-- test-command --> (.+)$", README, re.M)
    assert marker, "README.md needs the '<!-- test-command -->' line that .ci/run reads"
    command = marker.group(1).strip()
    shown = re.findall(r"```bash\n(.*?)```", README, re.S)
    assert any(block.strip() == command for block in shown), f"the README does not show {command!r}"
    assert "test-command" in (ROOT / ".ci" / "run").read_text()


def test_quick_start_job_runs_on_sample_data(cli, tmp_path, monkeypatch):
    install_and_run = next(line for line in re.findall(r"```bash\n(.*?)```", README, re.S)
                           if "bceweights compute" in line and "pip install" in line).strip()
    job = shlex.split(install_and_run.split("&&", 1)[1])
    assert job[0] == "bceweights"
    monkeypatch.chdir(ROOT)
    args = [a if not a.endswith(".pt") else str(tmp_path / a) for a in job[1:]]
    result = cli(*args)
    assert result.exit_code == 0, result.stderr
    assert "rarest class" in result.stdout
    assert "first 691 rows matching --where of" in result.stdout  # the checks say what they read
    saved = torch.load(tmp_path / "weights.pt", weights_only=True)
    assert saved["meta"]["samples"] == 691  # the rows of the train split
