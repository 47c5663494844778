"""The library entry points: count labels, compute weights, build and save the ``.pt``."""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import __version__
from .counts import Counts
from .engines import ProgressSink, count_paths
from .pairs import from_payload as pairs_from_payload
from .pairs import to_payload as pairs_payload
from .spec import InputSpec
from .weights import WeightOptions, Weights, compute_weights

if TYPE_CHECKING:
    from .sampling import SampleOptions
    from .validate import ValidationReport


@dataclass
class Result:
    """Counts, the weights computed from them, and what produced them."""

    counts: Counts
    weights: Weights
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def classes(self) -> list[str]:
        return self.counts.classes

    @property
    def spatial_ndim(self) -> int:
        return self.counts.spatial_ndim

    def weight_shape(self, *, flat: bool = False) -> list[int]:
        """``[C]`` for tables and arrays (or ``flat``), ``[C, 1, 1]`` for 2-D masks, ``[C, 1, 1, 1]`` for
        3-D volumes: the shape that broadcasts over a channels-first target."""
        c = self.counts.num_classes
        return [c] if flat or not self.spatial_ndim else [c] + [1] * self.spatial_ndim

    def payload(self, *, flat: bool = False) -> dict[str, Any]:
        """The ``.pt`` dict (see :mod:`bceweights.io` for the contract)."""
        import torch

        shape = self.weight_shape(flat=flat)
        counts = self.counts
        out: dict[str, Any] = {
            "classes": list(counts.classes),
            "pos_count": torch.tensor(counts.pos, dtype=torch.float64),
            "neg_count": torch.tensor(counts.neg, dtype=torch.float64),
            "pos_weight": torch.tensor(self.weights.pos_weight, dtype=torch.float32).reshape(shape),
            "class_weight": torch.tensor(self.weights.class_weight, dtype=torch.float32).reshape(shape),
        }
        if counts.image_count is not None:
            out["image_count"] = torch.tensor(counts.image_count, dtype=torch.int64)
        pairs_info = None
        if counts.pairs is not None:
            # Dense [C, C] up to the bound, else the most frequent pairs as index + count.
            pair_tensors, pairs_info = pairs_payload(counts.pairs)
            out.update(pair_tensors)
        meta = dict(self.meta)
        # The report shows the saved weight shape; `bceweights report` reads it back from here.
        meta["flat"] = bool(flat or meta.get("flat"))
        meta["counts"] = counts.to_dict(pairs=False)
        if pairs_info is not None:
            meta["cooccurrence"] = pairs_info
        meta["weights"] = {
            **self.weights.options.describe(),
            "shape": shape,
            "zero_positive_classes": list(self.weights.zero_positive),
            "rare_classes": list(self.weights.rare),
            "zero_negative_classes": list(self.weights.zero_negative),
            "warnings": list(self.weights.warnings),
        }
        out["meta"] = meta
        return out

    def save(self, path: str | Path, *, flat: bool = False) -> Path:
        from .io import save

        return save(self.payload(flat=flat), path)


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
                       scheduler=scheduler)[0]


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
    started = time.perf_counter()
    spec = _spec(spec, options)
    counts, files, kind = count_paths(paths, spec, progress=progress, engine=engine,
                                      scheduler=scheduler)
    weights = compute_weights(counts, weight_options)
    meta = {
        "bceweights_version": __version__,
        "inputs": [str(p) for p in files],
        "kind": kind,
        "samples": int(counts.samples),
        "options": spec.describe(),
        "engine": engine,
        "seconds": round(time.perf_counter() - started, 3),
    }
    return Result(counts, weights, meta)


def result_from_payload(data: dict[str, Any]) -> Result:
    """Rebuild a :class:`Result` from a loaded ``.pt`` (no data is re-read)."""
    meta = dict(data["meta"])
    counts_dict = dict(meta.pop("counts", {}))
    if not counts_dict:
        counts_dict = {"classes": data["classes"], "pos": data["pos_count"].tolist(),
                       "neg": data["neg_count"].tolist()}
    counts = Counts.from_dict(counts_dict)
    counts.pairs = pairs_from_payload(data, counts.num_classes, meta.pop("cooccurrence", None))
    info = meta.pop("weights", {})
    # meta["weights"] holds WeightOptions.describe() and more; an older file lacks the newer options.
    options = WeightOptions(**{f.name: info[f.name] for f in fields(WeightOptions) if f.name in info})
    weights = Weights(
        pos_weight=np.asarray(data["pos_weight"].reshape(-1).tolist(), dtype=np.float64),
        class_weight=np.asarray(data["class_weight"].reshape(-1).tolist(), dtype=np.float64),
        options=options,
        zero_positive=list(info.get("zero_positive_classes", [])),
        zero_negative=list(info.get("zero_negative_classes", [])),
        warnings=list(info.get("warnings", [])),
        rare=list(info.get("rare_classes", [])),
    )
    return Result(counts, weights, meta)


# ------------------------------------------------------------------------------------------------- jobs


@dataclass(frozen=True)
class ReportFiles:
    """The report files to write, each optional, and the class-table order they (and the printed
    table) use. ``json="-"`` writes the JSON to stdout."""

    json: str | Path | None = None
    markdown: str | Path | None = None
    csv: str | Path | None = None
    plot: str | Path | None = None
    cooccurrence: str | Path | None = None
    sort: str | None = None
    top: int | None = None

    @property
    def json_to_stdout(self) -> bool:
        return self.json == "-"

    def check(self) -> None:
        """Fail before a long scan: unwritable paths, an unknown plot format, matplotlib missing."""
        from . import report

        report.check_outputs(json_out=self.json, markdown=self.markdown, csv_out=self.csv, plot=self.plot,
                             cooccurrence=self.cooccurrence)

    def write(self, doc: dict[str, Any], counts: Counts) -> list[Path]:
        """Write every file asked for, each atomically; returns their paths (stdout is not one)."""
        from . import report

        report.write_outputs(doc, counts, json_out=self.json, markdown=self.markdown, csv_out=self.csv,
                             plot=self.plot, cooccurrence=self.cooccurrence, sort=self.sort, top=self.top)
        paths = (self.cooccurrence, self.json, self.markdown, self.csv, self.plot)
        return [Path(p) for p in paths if p is not None and p != "-"]


@dataclass
class Job:
    """What :func:`run_compute` or :func:`run_report` did.

    ``weights`` is the ``.pt`` the report is about (the one ``compute`` was asked to save, or the one
    ``report`` read); ``checks`` the loss checks (None when not run); ``report`` the report dict
    (:func:`bceweights.report.build_report`); ``written`` every file written, in order.
    """

    result: Result
    report: dict[str, Any]
    weights: Path
    checks: ValidationReport | None = None
    written: list[Path] = field(default_factory=list)

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
        result = compute(paths, spec, weight_options, progress=sink, engine=engine, scheduler=scheduler)
    if flat:
        result.meta["flat"] = True  # the report shows the saved shape
    checks = None
    if validate:
        from .validate import check_result

        checks = check_result(result, paths, spec, device=device, flat=flat)
    saved = checks is None or checks.passed  # a failed check leaves no .pt behind
    written: list[Path] = []
    if saved:
        written.append(result.save(output, flat=flat))
        if sample_weights is not None:
            from .sampling import sample_weights as weigh_samples

            rows = weigh_samples(paths, spec, result.counts, result.weights.options, sample_options)
            written.append(rows.save(sample_weights))
    doc = _build_report(result, output if saved else None, checks)
    return Job(result, doc, output, checks, written + files.write(doc, result.counts))


def run_report(weights: str | Path, files: ReportFiles | None = None) -> Job:
    """The ``bceweights report`` job: rebuild the report of a saved ``.pt`` (no label is re-read) and
    write its files."""
    from . import io

    files = files or ReportFiles()
    files.check()
    result = result_from_payload(io.load(weights))
    doc = _build_report(result, weights)
    return Job(result, doc, Path(weights), written=files.write(doc, result.counts))


def _build_report(result: Result, weights: str | Path | None, checks=None) -> dict[str, Any]:
    from .report import build_report

    doc = build_report(result, output=None if weights is None else str(weights))
    if checks is not None:
        doc["validation"] = checks.to_dict()
    return doc
