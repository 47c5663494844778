"""The library entry points: count labels, compute weights, build and save the ``.pt``."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .counts import Counts
from .engines import ProgressSink, count_paths
from .spec import InputSpec
from .weights import DEFAULT_BETA, DEFAULT_ENET_K, WeightOptions, Weights, compute_weights


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
        if counts.cooccurrence is not None:
            out["cooccurrence"] = torch.tensor(counts.cooccurrence, dtype=torch.float64)
        meta = dict(self.meta)
        # The report shows the saved weight shape; `bceweights report` reads it back from here.
        meta["flat"] = bool(flat or meta.get("flat"))
        meta["counts"] = {k: v for k, v in counts.to_dict().items() if k != "cooccurrence"}
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
    counts, _, _ = _count(paths, spec, progress=progress, engine=engine, scheduler=scheduler, **options)
    return counts


def _count(paths, spec, *, progress=None, engine="local", scheduler=None, **options):
    if isinstance(paths, (str, Path)):
        paths = [paths]
    spec = (spec or InputSpec()).with_(**options) if options else (spec or InputSpec())
    return count_paths(paths, spec, progress=progress, engine=engine, scheduler=scheduler)


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
    spec = (spec or InputSpec()).with_(**options) if options else (spec or InputSpec())
    counts, files, kind = _count(paths, spec, progress=progress, engine=engine, scheduler=scheduler)
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
    if "cooccurrence" in data:
        counts_dict["cooccurrence"] = data["cooccurrence"].tolist()
    counts = Counts.from_dict(counts_dict)
    info = meta.pop("weights", {})
    options = WeightOptions(
        scheme=info.get("scheme", "inverse"),
        normalize=info.get("normalize", "none"),
        zero_positives=info.get("zero_positives", "warn"),
        beta=info.get("beta", DEFAULT_BETA),
        enet_k=info.get("enet_k", DEFAULT_ENET_K),
        min_count=info.get("min_count", 0.0),
        clip=None if info.get("clip") is None else tuple(info["clip"]),
        smoothing=info.get("smoothing", 0.0),
    )
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
