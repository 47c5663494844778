"""The ``.pt`` payload: what a weights file holds, how a result becomes one and how one is read back.

Keys (the contract): ``classes`` (list of str), ``pos_count`` and ``neg_count`` (float64 ``[C]``),
``pos_weight`` and ``class_weight`` (float32; ``[C]`` for tables and arrays, ``[C, 1, 1]`` for 2-D masks,
``[C, 1, 1, 1]`` for 3-D volumes), ``image_count`` (int64 ``[C]``, masks only), label pairs for label rows
(``cooccurrence``, float64 ``[C, C]``, up to ``pairs.DENSE_MAX_CLASSES`` classes; above it the most
frequent pairs as ``cooccurrence_index`` int64 ``[K, 2]`` and ``cooccurrence_count`` float64 ``[K]``),
``meta`` (plain values, with ``format_version``). It loads with
``torch.load(path, weights_only=True)``; bceweights never loads with ``weights_only=False``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from .counts import Counts
from .errors import InputError
from .pairs import from_payload as pairs_from_payload
from .pairs import to_payload as pairs_payload
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
    pairs_info = None
    if counts.pairs is not None:
        # Dense [C, C] up to the bound, else the most frequent pairs as index + count.
        pair_tensors, pairs_info = pairs_payload(counts.pairs)
        out.update(pair_tensors)
    meta = dict(meta)
    meta["format_version"] = FORMAT_VERSION
    # The report shows the saved weight shape; `bceweights report` reads it back from here.
    meta["flat"] = bool(flat or meta.get("flat"))
    meta["counts"] = counts.to_dict(pairs=False)
    if pairs_info is not None:
        meta["cooccurrence"] = pairs_info
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
    return Decoded(counts, weights, meta)


#: Keys that hold one value per class.
PER_CLASS_KEYS = ("pos_count", "neg_count", "pos_weight", "class_weight")
#: Optional tensors of a payload (``image_count`` per class; the label pairs).
OPTIONAL_TENSORS = ("image_count", "cooccurrence", "cooccurrence_index", "cooccurrence_count")


def problem(data: Any) -> str | None:
    """What makes ``data`` (a loaded file) not one of our payloads, or None.

    Checked so that reading the file back can neither raise nor misread: the required keys; at least
    one class, named by strings; one value per class in ``pos_count``, ``neg_count``, ``pos_weight`` and
    ``class_weight``; every tensor (optional ones too) a plain dense tensor with data on a real device
    (not sparse, nested, quantized or on ``meta``), of real numbers (not complex, not float8, not bool);
    ``meta`` a dict whose recorded counts and options read back."""
    import torch

    if not isinstance(data, dict):
        return f"it holds a {type(data).__name__}, not a dict with keys {', '.join(REQUIRED_KEYS)}"
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        return f"keys missing: {', '.join(missing)}"
    classes = data["classes"]
    if not isinstance(classes, (list, tuple)) or not all(isinstance(c, str) for c in classes):
        return "'classes' is not a list of names"
    if not classes:
        return "it holds no class"
    for key in (*PER_CLASS_KEYS, *OPTIONAL_TENSORS):
        if key not in data:
            continue
        value = data[key]
        if not isinstance(value, torch.Tensor):
            return f"'{key}' is a {type(value).__name__}, not a tensor"
        kind = _tensor_problem(value)
        if kind:
            return f"'{key}' is {kind}"
        if key in PER_CLASS_KEYS and value.numel() != len(classes):
            return f"'{key}' is not a tensor with one value per class ({len(classes)})"
    if not isinstance(data["meta"], dict):
        return "'meta' is not a dict"
    try:
        counts = decode(data).counts
    except InputError:
        raise
    except Exception as exc:  # a hand-edited meta: wrong types, values that are not numbers
        from .errors import describe

        return f"its meta cannot be read back ({type(exc).__name__}: {describe(exc)})"
    lengths = {len(v) for v in vars(counts).values() if isinstance(v, np.ndarray) and v.ndim == 1}
    if counts.num_classes != len(classes) or lengths - {len(classes)}:
        # (the same classes in another order is for the checks to say: validate names both orders)
        return f"its meta cannot be read back (the counts it records are not of {len(classes)} classes)"
    return None


#: Tensor dtypes a payload may hold: real numbers of the widths torch computes with.
_NUMBER_DTYPES = ("float16", "bfloat16", "float32", "float64", "int8", "uint8", "int16", "int32", "int64")


def _tensor_problem(tensor: Any) -> str | None:
    """Why a tensor cannot be one of ours (read with NumPy, reshaped, fed to the loss), or None."""
    import torch

    if getattr(tensor, "is_nested", False):
        return "a nested tensor, not a dense one"
    if tensor.layout != torch.strided:
        return f"a {str(tensor.layout).replace('torch.', '')} tensor, not a dense one"
    if tensor.is_quantized:
        return "a quantized tensor"
    if tensor.device.type == "meta":
        return "a meta tensor (it has a shape but no values)"
    name = str(tensor.dtype).replace("torch.", "")
    if name not in _NUMBER_DTYPES:
        return f"of dtype {name}, not real numbers"
    return None
