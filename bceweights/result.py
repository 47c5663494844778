"""What ``compute`` returns: the counts, the weights computed from them, and what produced them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .counts import Counts
from .weights import Weights


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
        from .payload import weight_shape

        return weight_shape(self.counts.num_classes, self.spatial_ndim, flat=flat)

    def payload(self, *, flat: bool = False) -> dict[str, Any]:
        """The ``.pt`` dict (see :mod:`bceweights.payload` for the contract)."""
        from .payload import encode

        return encode(self.counts, self.weights, self.meta, flat=flat)

    def save(self, path: str | Path, *, flat: bool = False) -> Path:
        from .io import save

        return save(self.payload(flat=flat), path)

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> Result:
        """Rebuild a result from a loaded ``.pt`` (no data is re-read)."""
        from .payload import decode

        decoded = decode(data)
        return cls(decoded.counts, decoded.weights, decoded.meta)
