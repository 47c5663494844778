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

    ``options`` are the CLI's options as keywords: the :class:`InputSpec` fields (``columns=``,
    ``list_column=``, ``where=`` ...), the value policy's (``uncertain=``, ``missing=``,
    ``ignore_values=``, ``hard=``, ``binarize=``) and the :class:`WeightOptions` fields (``scheme=``,
    ``normalize=``, ``clip=`` ...), which are checked but do not change counts, so that one set of
    keywords serves :func:`count`, :func:`compute` and :func:`bceweights.loss`. A str where names are
    expected is one name (``exclude_columns="No Finding"``); ``where`` takes ``"column=value"``, a
    mapping or pairs. A bad option is a :class:`~bceweights.errors.UsageError` naming the keyword.
    Per class c: ``P_c`` = sum of y, ``N_c`` = sum of 1 - y over every row (pixel) whose value is
    not ignored. An input given twice is counted once, with a :class:`UserWarning`.

    >>> from pathlib import Path
    >>> from bceweights import count
    >>> csv = Path(__file__).parents[1] / "sample_data" / "chest_xray_labels.csv"
    >>> counts = count(csv, where=(("split", "train"),))
    >>> counts.samples, counts.classes[0], counts.pos[:2].tolist(), counts.neg[:2].tolist()
    (691, 'Atelectasis', [85.0, 18.0], [606.0, 673.0])
    """
    spec, _ = _options(spec, None, options, "count")
    tally = count_paths(paths, spec, progress=progress, engine=engine, scheduler=scheduler)
    _warn(tally.warnings)
    return tally.counts


def _warn(messages: Sequence[str]) -> None:
    import warnings

    for message in messages:
        warnings.warn(message, UserWarning, stacklevel=3)


#: The value policy's fields, taken as keywords by count() and compute(); ``ignore_value`` as the CLI
#: spells it.
_POLICY_KEYWORDS = {"uncertain": "uncertain", "missing": "missing", "ignore_values": "ignore_values",
                    "ignore_value": "ignore_values", "hard": "hard", "binarize": "binarize"}


def _options(spec: InputSpec | None, weight_options: WeightOptions | None, options: dict[str, Any],
             caller: str) -> tuple[InputSpec, WeightOptions | None]:
    """``spec`` and ``weight_options`` (defaults when None) with the keywords of ``options`` applied,
    each to the one it belongs to; an unknown keyword, a value of the wrong type or one that cannot
    work is a :class:`~bceweights.errors.UsageError` that names it."""
    from dataclasses import fields, replace

    from .errors import BceWeightsError, UsageError

    spec_names = {f.name for f in fields(InputSpec)}
    weight_names = {f.name for f in fields(WeightOptions)}
    spec_changes, policy_changes, weight_changes = {}, {}, {}
    for name, value in options.items():
        if name in spec_names:
            spec_changes[name] = value
        elif name in _POLICY_KEYWORDS:
            policy_changes[_POLICY_KEYWORDS[name]] = value
        elif name in weight_names:
            weight_changes[name] = value
        else:
            import difflib

            known = sorted(spec_names | set(_POLICY_KEYWORDS) | weight_names)
            close = difflib.get_close_matches(name, known, n=1)
            raise UsageError(f"{caller}() got an unknown option {name}=",
                             hint=f"did you mean {close[0]}=?" if close else
                             f"the options are {', '.join(known)}")
    base = spec or InputSpec()
    if "policy" in spec_changes:
        base = base.with_(policy=spec_changes.pop("policy"))
    if "ignore_values" in policy_changes:
        value = policy_changes["ignore_values"]
        policy_changes["ignore_values"] = (value,) if isinstance(value, (int, float)) else tuple(value)
    if policy_changes:
        spec_changes["policy"] = replace(base.policy, **policy_changes)
    spec = base.with_(**spec_changes).check()
    if weight_changes:
        clip = weight_changes.get("clip")
        try:
            if isinstance(clip, str):
                from .weights import parse_clip

                weight_changes["clip"] = parse_clip(clip)
            weight_options = replace(weight_options or WeightOptions(), **weight_changes)
        except BceWeightsError as exc:
            raise UsageError(exc.message, hint=exc.hint) from None
        except (TypeError, ValueError) as exc:
            raise UsageError(f"{caller}(): a weight option has a value of the wrong type ({exc})") from None
    return spec, weight_options


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
    """Count the labels and compute ``pos_weight`` and class weights: the whole ``compute`` job.

    ``options`` are the keywords of :func:`count`, the weight options (``scheme=``, ``normalize=``,
    ``zero_positives=``, ``beta=``, ``enet_k=``, ``min_count=``, ``clip=`` as ``(min, max)`` or
    ``"MIN:MAX"``, ``smoothing=``) included, applied over ``weight_options``. Warnings (a class without
    positives, an input given twice) are in ``result.weights.warnings`` and raised as
    :class:`UserWarning`."""
    spec, weight_options = _options(spec, weight_options, options, "compute")
    result, tally = _compute(paths, spec, weight_options, progress=progress, engine=engine, scheduler=scheduler)
    _warn(result.weights.warnings)
    return result


def _compute(paths, spec: InputSpec, weight_options: WeightOptions | None, *, progress, engine: str,
             scheduler, outputs: Sequence[tuple[str, str | Path]] = ()) -> tuple[Result, Tally]:
    """The result, and the tally behind it (what the checks and the per-sample pass read with)."""
    started = time.perf_counter()
    tally = count_paths(paths, spec, progress=progress, engine=engine, scheduler=scheduler, outputs=outputs)
    counts = tally.counts
    weights = compute_weights(counts, weight_options)
    weights.warnings[:0] = tally.warnings  # the inputs' warnings first: they concern every count
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
    spec, _ = _options(spec, None, {}, "validate_paths")
    payload = io.load(weights)
    tally = count_paths(labels, spec, progress=progress, engine=engine, scheduler=scheduler)
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
    import sys

    from . import io
    from .errors import UsageError
    from .outputs import check_distinct

    spec, weight_options = _options(spec, weight_options, options, "run_compute")
    output, files = Path(output), files or ReportFiles()
    if io.is_stdout(output) and sys.stdout.isatty():
        raise UsageError("-o -: stdout is a terminal, and a .pt is binary",
                         hint="redirect it (-o - > weights.pt) or pipe it into the program that reads it")
    if io.is_stdout(sample_weights):
        raise UsageError("--sample-weights -: only -o and --json write to stdout",
                         hint="give --sample-weights a file name")
    io.check_output_path(output)
    files.check()
    if sample_weights is not None:
        io.check_output_path(sample_weights)
    outputs = [("-o", output), *files.named(), ("--sample-weights", sample_weights)]
    outputs = [(flag, path) for flag, path in outputs if path is not None]
    check_distinct(outputs, [("--classes-file", spec.classes_file), ("--file-list", spec.file_list)])
    if validate:
        from .validate import resolve_device

        resolve_device(device)  # before the scan: no GPU is a usage problem, not a late surprise
    # A display (a sink that is a context manager) is shown for the scan only: it must be gone before
    # anything is printed, and with --json - the JSON goes to stdout, where a live display redirects.
    display = progress if isinstance(progress, AbstractContextManager) else nullcontext(progress)
    with display as sink:
        result, tally = _compute(paths, spec, weight_options, progress=sink, engine=engine, scheduler=scheduler,
                                 outputs=outputs)
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
    from .outputs import check_distinct

    files = files or ReportFiles()
    files.check()
    check_distinct(files.named(), [("WEIGHTS.pt", weights)])
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
