"""Regenerate the README's pictures of the report.

    python docs/make_pictures.py            # from the repository root, with bceweights importable

* ``docs/report.svg``: what ``bceweights compute`` prints for ``sample_data/chest_xray_labels.csv
  --where split=train``, in a terminal of 100 columns (Rich's ``Console(record=True)`` and
  ``save_svg``, the colours included);
* ``docs/plot_cxr14.png``: ``--plot`` of the ChestX-ray14 training labels (CheXNet's
  ``train_list.txt``, 78,468 images), read from ``../shared/data`` when it is there (skipped when not:
  that folder is not part of the repository).

The run writes its ``.pt`` to a temporary folder; the picture shows it as ``weights.pt``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SAMPLE = "sample_data/chest_xray_labels.csv"
CXR14 = ROOT.parent / "shared" / "data" / "chexnet_cxr14_multihot"
WIDTH = 100


def report_svg(out: Path) -> None:
    from rich.console import Console
    from rich.terminal_theme import MONOKAI

    from bceweights import api
    from bceweights.cli.render import render_checks, render_report

    console = Console(record=True, width=WIDTH, force_terminal=True, color_system="truecolor", highlight=False,
                      file=open("/dev/null", "w"))  # noqa: SIM115 - only the recording is wanted
    command = f"bceweights compute {SAMPLE} --where split=train"
    console.print(f"[bold green]$[/bold green] {command}", highlight=False)
    with tempfile.TemporaryDirectory() as tmp:
        job = api.run_compute(ROOT / SAMPLE, where=(("split", "train"),), output=Path(tmp) / "weights.pt")
    # The report as a user sees it: the input as typed, the output where it was asked for.
    job.report["summary"]["inputs"] = [SAMPLE]
    job.checks.source = job.checks.source.replace(str(ROOT / SAMPLE), SAMPLE)
    render_report(job.report, console, show_usage="weights.pt")
    render_checks(job.checks, console)
    console.save_svg(str(out), title=command, theme=MONOKAI)


def cxr14_plot(out: Path) -> bool:
    from bceweights import api

    labels = CXR14 / "train_list.txt"
    if not labels.is_file():
        print(f"skipped {out.name}: {labels} is not here")
        return False
    result = api.compute(labels, no_header=True, classes_file=CXR14 / "CLASS_ORDER.txt", delimiter=" ")
    result.plot(out, title="ChestX-ray14, CheXNet training split: 14 classes, 78,468 images")
    return True


def main() -> None:
    report_svg(DOCS / "report.svg")
    print(f"wrote {DOCS / 'report.svg'}")
    if cxr14_plot(DOCS / "plot_cxr14.png"):
        print(f"wrote {DOCS / 'plot_cxr14.png'}")


if __name__ == "__main__":
    main()
