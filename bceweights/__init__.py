"""bceweights: per-class positive/negative counts, ``pos_weight`` and class weights for
``torch.nn.BCEWithLogitsLoss``, over a whole training set.

Per class c, with ``P_c`` positives and ``N_c`` negatives (counted per class, over every sample or
pixel): ``pos_weight_c = N_c / P_c``.

>>> import bceweights
>>> bceweights.pos_weight(pos=[90, 80], neg=[10, 20]).round(4).tolist()
[0.1111, 0.25]

From a ``torch.utils.data.Dataset`` of ``(input, target)`` pairs, in two lines:

>>> import torch
>>> ds = torch.utils.data.TensorDataset(torch.zeros(4, 8), torch.tensor([[1., 0], [1, 0], [1, 1], [0, 0]]))
>>> counts = bceweights.count_dataset(ds, progress=False)
>>> loss_fn = bceweights.loss(counts)
>>> loss_fn.pos_weight.tolist()
[0.3333333432674408, 3.0]

From label files, with the CLI's options: ``bceweights.compute("train.csv", where=(("split", "train"),))``.
Heavy modules (NumPy readers, torch) are imported on first use, so importing the package is instant.
"""

from __future__ import annotations

import importlib
import sys
import types
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
    "inverse_sqrt_frequency": "bceweights.weights",
    "effective_number": "bceweights.weights",
    "median_frequency": "bceweights.weights",
    "enet": "bceweights.weights",
    "normalize_weights": "bceweights.weights",
    "SCHEMES": "bceweights.weights",
    "sample_weights": "bceweights.sampling",
    "SampleOptions": "bceweights.sampling",
    "Result": "bceweights.result",
    "count": "bceweights.api",
    "compute": "bceweights.api",
    "count_dataset": "bceweights.dataset",
    "loss": "bceweights.dataset",
    "save": "bceweights.io",
    "load": "bceweights.io",
    "shape_for": "bceweights.io",
    "validate": "bceweights.validate",
    "validate_paths": "bceweights.api",
    "ValidationReport": "bceweights.validate",
    "BceWeightsError": "bceweights.errors",
    "InputError": "bceweights.errors",
    "OptionsError": "bceweights.errors",
    "CheckFailed": "bceweights.errors",
    "ZeroPositivesError": "bceweights.errors",
    "MissingDependency": "bceweights.errors",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    from .api import compute, count, validate_paths
    from .counts import Counts, merge_all
    from .dataset import count_dataset, loss
    from .errors import (
        BceWeightsError,
        CheckFailed,
        InputError,
        MissingDependency,
        OptionsError,
        ZeroPositivesError,
    )
    from .io import load, save, shape_for
    from .policy import ValuePolicy
    from .result import Result
    from .sampling import SampleOptions, sample_weights
    from .spec import InputSpec
    from .validate import ValidationReport, validate
    from .weights import (
        SCHEMES,
        WeightOptions,
        Weights,
        compute_weights,
        effective_number,
        enet,
        inverse_frequency,
        inverse_sqrt_frequency,
        median_frequency,
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


class _Package(types.ModuleType):
    """The package module, keeping exported functions over same-named submodules.

    Importing the submodule ``bceweights.validate`` makes the import system bind the *module* to the
    package attribute ``validate``, hiding the exported function ``validate``. The binding is dropped,
    so ``bceweights.validate(...)`` stays the function; the module is ``sys.modules["bceweights.validate"]``
    and ``from bceweights.validate import ...`` works as usual.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _EXPORTS.get(name) == value.__name__:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
