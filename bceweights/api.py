"""The library entry points: count labels, compute weights, build and save the ``.pt``."""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .counts import Counts
from .engines import ProgressSink, Tally, count_paths
from .outputs import ReportFiles
from .result import Result
from .spec import InputSpec
from .weights import WeightOptions, compute_weights

if TYPE_CHECKING:
    from .sampling import SampleOptions
    from .validate import ValidationReport


def count(
    paths: str | Path | Sequence[str | Path],
    spec: InputSpec | None = None,
    *,
    progress: ProgressSink | None = None,
    engine: str = "local",
    scheduler: str | None = None,
    **options: Any,
) -> Counts:
    """Count positives and negatives per class over every input file.

    ``options`` are :class:`InputSpec` fields, the CLI's input options (``columns=``,
    ``list_column=``, ``where=`` ...). Per class c: ``P_c`` = sum of y, ``N_c`` = sum of 1 - y over
    every row (pixel) whose value is not ignored.

    >>> from pathlib import Path
    >>> from bceweights import count
    >>> csv = Path(__file__).parents[1] / "sample_data" / "chest_xray_labels.csv"
    >>> counts = count(csv, where=(("split", "train"),))
    >>> counts.samples, counts.classes[0], counts.pos[:2].tolist(), counts.neg[:2].tolist()
    (691, 'Atelectasis', [85.0, 18.0], [606.0, 673.0])
    """
    return count_paths(paths, _spec(spec, options), progress=progress, engine=engine,
                       scheduler=scheduler).counts


def _spec(spec: InputSpec | None, options: dict[str, Any]) -> InputSpec:
    """``spec`` (the defaults when None) with the InputSpec fields given as keywords."""
    return (spec or InputSpec()).with_(**options)


def compute(
    paths: str | Path | Sequence[str | Path],
    spec: InputSpec | None = None,
    weight_options: WeightOptions | None = None,
    *,
    progress: ProgressSink | None = None,
    engine: str = "local",
    scheduler: str | None = None,
    **options: Any,
) -> Result:
    """Count the labels and compute ``pos_weight`` and class weights: the whole ``compute`` job."""
    return _compute(paths, _spec(spec, options), weight_options, progress=progress, engine=engine,
                    scheduler=scheduler)[0]


def _compute(paths, spec: InputSpec, weight_options: WeightOptions | None, *, progress, engine: str,
             scheduler) -> tuple[Result, Tally]:
    """The result, and the tally behind it (what the checks and the per-sample pass read with)."""
    started = time.perf_counter()
    tally = count_paths(paths, spec, progress=progress, engine=engine, scheduler=scheduler)
    counts = tally.counts
    weights = compute_weights(counts, weight_options)
    meta = {
        "bceweights_version": __version__,
        "inputs": [str(p) for p in tally.files],
        "kind": tally.kind,
        "samples": int(counts.samples),
        "options": spec.describe(),
        "engine": engine,
        "seconds": round(time.perf_counter() - started, 3),
    }
    return Result(counts, weights, meta), tally


def check_result(result: Result, tally: Tally, *, device: str = "cpu",
                 flat: bool | None = None) -> ValidationReport:
    """The loss checks for a freshly computed result, on a real target batch of the labels counted
    (what ``compute`` runs before saving)."""
    from .targets import sample_targets
    from .validate import resolve_device, validate

    device = resolve_device(device)
    batch = sample_targets(tally, classes=result.counts.classes)
    return validate(result, batch, result.counts, device=device, flat=flat)


def validate_paths(weights: str | Path, labels: str | Path | Sequence[str | Path], spec: InputSpec | None = None,
                   *, device: str = "cpu", progress: ProgressSink | None = None, engine: str = "local",
                   scheduler: str | None = None) -> ValidationReport:
    """``bceweights validate``: load a ``.pt`` (``weights_only=True``), count the labels again and run
    every check against them."""
    from . import io
    from .targets import sample_targets
    from .validate import resolve_device, validate

    device = resolve_device(device)
    payload = io.load(weights)
    tally = count_paths(labels, spec or InputSpec(), progress=progress, engine=engine, scheduler=scheduler)
    batch = sample_targets(tally, classes=tally.counts.classes)
    return validate(payload, batch, tally.counts, device=device)


# ------------------------------------------------------------------------------------------------- jobs


@dataclass
class Job:
    """What :func:`run_compute` or :func:`run_report` did.

    ``weights`` is the ``.pt`` the report is about (the one ``compute`` was asked to save, or the one
    ``report`` read); ``checks`` the loss checks (None when not run); ``report`` the report dict
    (:func:`bceweights.report.build_report`); ``written`` every file written, in order; ``replaced``:
    the saved ``.pt`` took the place of a file that was there.
    """

    result: Result
    report: dict[str, Any]
    weights: Path
    checks: ValidationReport | None = None
    written: list[Path] = field(default_factory=list)
    replaced: bool = False

    @property
    def failed(self) -> bool:
        """A check failed: ``compute`` then saved nothing but the report files."""
        return self.checks is not None and not self.checks.passed

    def raise_if_failed(self) -> None:
        """Raise :class:`~bceweights.errors.CheckFailed` naming the first failed check."""
        if self.checks is not None:
            self.checks.raise_if_failed(f"; {self.weights} was not written")


def run_compute(
    paths: str | Path | Sequence[str | Path],
    spec: InputSpec | None = None,
    weight_options: WeightOptions | None = None,
    *,
    output: str | Path = "weights.pt",
    files: ReportFiles | None = None,
    flat: bool = False,
    save: bool = True,
    validate: bool = True,
    device: str = "cpu",
    sample_weights: str | Path | None = None,
    sample_options: SampleOptions | None = None,
    progress: ProgressSink | None = None,
    engine: str = "local",
    scheduler: str | None = None,
    **options: Any,
) -> Job:
    """The whole ``bceweights compute`` job: count, compute, check, save, and write the report files.

    Every output path (``output``, ``files``, ``sample_weights``) and the ``device`` are checked before
    the labels are read. With ``validate``, the loss checks run before saving: when one fails, neither
    the ``.pt`` nor the per-sample weights are written (the report files are, with the failure in
    them); call :meth:`Job.raise_if_failed` to turn that into an error. ``sample_options``: a
    :class:`bceweights.sampling.SampleOptions` for ``sample_weights`` (its defaults when None).
    ``progress`` sees the scan; when it is also a context manager, it is entered for the scan only.
    ``save=False`` (``--no-save``) writes no weights ``.pt``; the report and its files are the same.
    """
    from . import io

    paths, spec, output, files = paths, _spec(spec, options), Path(output), files or ReportFiles()
    io.check_output_path(output)
    files.check()
    if sample_weights is not None:
        io.check_output_path(sample_weights)
    if validate:
        from .validate import resolve_device

        resolve_device(device)  # before the scan: no GPU is a usage problem, not a late surprise
    # A display (a sink that is a context manager) is shown for the scan only: it must be gone before
    # anything is printed, and with --json - the JSON goes to stdout, where a live display redirects.
    display = progress if isinstance(progress, AbstractContextManager) else nullcontext(progress)
    with display as sink:
        result, tally = _compute(paths, spec, weight_options, progress=sink, engine=engine, scheduler=scheduler)
    if flat:
        result.meta["flat"] = True  # the report shows the saved shape
    checks = None
    if validate:
        checks = check_result(result, tally, device=device, flat=flat)
    saved = checks is None or checks.passed  # a failed check leaves no .pt behind
    written: list[Path] = []
    replaced = save and saved and output.exists()
    if saved:
        if save:
            written.append(result.save(output, flat=flat))
        if sample_weights is not None:
            from .sampling import sample_weights as weigh_samples

            rows = weigh_samples(paths, spec, result.counts, result.weights.options, sample_options, tally=tally)
            written.append(rows.save(sample_weights))
    doc = _build_report(result, output if saved and save else None, checks)
    return Job(result, doc, output, checks, written + files.write(doc, result.counts), replaced)


def run_report(weights: str | Path, files: ReportFiles | None = None) -> Job:
    """The ``bceweights report`` job: rebuild the report of a saved ``.pt`` (no label is re-read) and
    write its files."""
    from . import io

    files = files or ReportFiles()
    files.check()
    result = Result.from_payload(io.load(weights))
    doc = _build_report(result, weights)
    return Job(result, doc, Path(weights), written=files.write(doc, result.counts))


def _build_report(result: Result, weights: str | Path | None, checks=None) -> dict[str, Any]:
    from .report import build_report

    doc = build_report(result, output=None if weights is None else str(weights))
    if checks is not None:
        doc["validation"] = checks.to_dict()
    return doc


def result_from_payload(data: dict[str, Any]) -> Result:
    """Rebuild a :class:`Result` from a loaded ``.pt`` (no data is re-read)."""
    return Result.from_payload(data)
