"""bceweights: per-class positive/negative counts, ``pos_weight`` and class weights for
``torch.nn.BCEWithLogitsLoss``, over a whole training set.

>>> import bceweights
>>> bceweights.pos_weight(pos=[90, 80], neg=[10, 20]).round(4).tolist()
[0.1111, 0.25]

Heavy modules (NumPy readers, torch) are imported on first use, so importing the package is instant.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Counts": "bceweights.counts",
    "merge_all": "bceweights.counts",
    "InputSpec": "bceweights.spec",
    "ValuePolicy": "bceweights.policy",
    "WeightOptions": "bceweights.weights",
    "Weights": "bceweights.weights",
    "compute_weights": "bceweights.weights",
    "pos_weight": "bceweights.weights",
    "inverse_frequency": "bceweights.weights",
    "normalize_weights": "bceweights.weights",
    "SCHEMES": "bceweights.weights",
    "Result": "bceweights.api",
    "count": "bceweights.api",
    "compute": "bceweights.api",
    "save": "bceweights.io",
    "load": "bceweights.io",
    "BceWeightsError": "bceweights.errors",
    "InputError": "bceweights.errors",
    "OptionsError": "bceweights.errors",
    "CheckFailed": "bceweights.errors",
    "ZeroPositivesError": "bceweights.errors",
    "MissingDependency": "bceweights.errors",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    from .api import Result, compute, count
    from .counts import Counts, merge_all
    from .errors import (
        BceWeightsError,
        CheckFailed,
        InputError,
        MissingDependency,
        OptionsError,
        ZeroPositivesError,
    )
    from .io import load, save
    from .policy import ValuePolicy
    from .spec import InputSpec
    from .weights import (
        SCHEMES,
        WeightOptions,
        Weights,
        compute_weights,
        inverse_frequency,
        normalize_weights,
        pos_weight,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'bceweights' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
