"""The ``.pt`` payload: what a weights file holds, how a result becomes one and how one is read back.

Keys (the contract): ``classes`` (list of str), ``pos_count`` and ``neg_count`` (float64 ``[C]``),
``pos_weight`` and ``class_weight`` (float32; ``[C]`` for tables and arrays, ``[C, 1, 1]`` for 2-D masks,
``[C, 1, 1, 1]`` for 3-D volumes), ``image_count`` (int64 ``[C]``, masks only), ``cooccurrence`` (float64
``[C, C]``, label rows only), ``meta`` (plain values, with ``format_version``). It loads with
``torch.load(path, weights_only=True)``; bceweights never loads with ``weights_only=False``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from .counts import Counts
from .errors import InputError
from .weights import WeightOptions, Weights

FORMAT_NAME = "bceweights"
#: Written into ``meta["format_version"]``; a file of a newer version is refused, not misread.
FORMAT_VERSION = 1
REQUIRED_KEYS = ("classes", "pos_count", "neg_count", "pos_weight", "class_weight", "meta")


def weight_shape(num_classes: int, spatial_ndim: int, *, flat: bool = False) -> list[int]:
    """``[C]`` for tables and arrays (or ``flat``), ``[C, 1, 1]`` for 2-D masks, ``[C, 1, 1, 1]`` for 3-D
    volumes: the shape that broadcasts over a channels-first target."""
    return [num_classes] if flat or not spatial_ndim else [num_classes] + [1] * spatial_ndim


def encode(counts: Counts, weights: Weights, meta: dict[str, Any], *, flat: bool = False) -> dict[str, Any]:
    """The ``.pt`` dict of counts, the weights computed from them and what produced them."""
    import torch

    shape = weight_shape(counts.num_classes, counts.spatial_ndim, flat=flat)
    out: dict[str, Any] = {
        "classes": list(counts.classes),
        "pos_count": torch.tensor(counts.pos, dtype=torch.float64),
        "neg_count": torch.tensor(counts.neg, dtype=torch.float64),
        "pos_weight": torch.tensor(weights.pos_weight, dtype=torch.float32).reshape(shape),
        "class_weight": torch.tensor(weights.class_weight, dtype=torch.float32).reshape(shape),
    }
    if counts.image_count is not None:
        out["image_count"] = torch.tensor(counts.image_count, dtype=torch.int64)
    if counts.cooccurrence is not None:
        out["cooccurrence"] = torch.tensor(counts.cooccurrence, dtype=torch.float64)
    meta = dict(meta)
    meta["format_version"] = FORMAT_VERSION
    # The report shows the saved weight shape; `bceweights report` reads it back from here.
    meta["flat"] = bool(flat or meta.get("flat"))
    meta["counts"] = {k: v for k, v in counts.to_dict().items() if k != "cooccurrence"}
    meta["weights"] = {
        **weights.options.describe(),
        "shape": shape,
        "zero_positive_classes": list(weights.zero_positive),
        "rare_classes": list(weights.rare),
        "zero_negative_classes": list(weights.zero_negative),
        "warnings": list(weights.warnings),
    }
    out["meta"] = meta
    return out


@dataclass
class Decoded:
    """A payload read back: its counts, weights and meta (no label is re-read)."""

    counts: Counts
    weights: Weights
    meta: dict[str, Any]


def decode(data: dict[str, Any]) -> Decoded:
    """Counts, weights and meta from a loaded ``.pt`` (see :func:`problem` for what is checked)."""
    meta = dict(data["meta"])
    version = meta.get("format_version", 1)
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise InputError(f"the weights file is of format version {version}; this bceweights reads up to "
                         f"{FORMAT_VERSION}", hint="upgrade bceweights: pip install -U bceweights")
    counts_dict = dict(meta.pop("counts", {}))
    if not counts_dict:
        counts_dict = {"classes": data["classes"], "pos": data["pos_count"].tolist(),
                       "neg": data["neg_count"].tolist()}
    if "cooccurrence" in data:
        counts_dict["cooccurrence"] = data["cooccurrence"].tolist()
    counts = Counts.from_dict(counts_dict)
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
    return Decoded(counts, weights, meta)


def problem(data: Any) -> str | None:
    """What makes ``data`` (a loaded file) not one of our payloads, or None."""
    import torch

    if not isinstance(data, dict):
        return f"it holds a {type(data).__name__}, not a dict with keys {', '.join(REQUIRED_KEYS)}"
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        return f"keys missing: {', '.join(missing)}"
    classes = data["classes"]
    if not isinstance(classes, (list, tuple)) or not all(isinstance(c, str) for c in classes):
        return "'classes' is not a list of names"
    for key in ("pos_count", "neg_count", "pos_weight", "class_weight"):
        value = data[key]
        if not isinstance(value, torch.Tensor) or value.numel() != len(classes):
            return f"'{key}' is not a tensor with one value per class ({len(classes)})"
    if not isinstance(data["meta"], dict):
        return "'meta' is not a dict"
    return None
