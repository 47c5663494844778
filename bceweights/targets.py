"""The one path by which the checks get a real target batch, whatever the format: the first reader
group's ``sample_targets``, read with the spec its count settled (so the checks read the labels as the
count did: the auto mask mode, a void value, detected label columns), aligned to the counted classes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .readers.base import TARGET_BUDGET
from .validate import TargetBatch, align

if TYPE_CHECKING:
    from .engines import Tally
    from .spec import InputSpec

#: Rows (tables, arrays) or masks read for the target batch; one mask already has the shape that matters.
TABLE_SAMPLE_ROWS = 2048
MASK_SAMPLE_LIMIT = 1


def sample_targets(tally: Tally, classes: Sequence[str] | None = None, *, limit: int | None = None,
                   budget: int = TARGET_BUDGET) -> TargetBatch | None:
    """A real target batch from the first inputs of a count, aligned to ``classes`` when given (a
    class the sample never met is a negative there)."""
    group = tally.groups[0]
    reader = group.reader
    limit = limit or (MASK_SAMPLE_LIMIT if reader.kind == "mask" else TABLE_SAMPLE_ROWS)
    sample = reader.sample_targets(group.files, group.spec, limit=limit, budget=budget)
    batch = TargetBatch(np.asarray(sample.values, dtype=np.float32), [str(n) for n in sample.classes],
                        sample.source)
    given = list(classes) if classes is not None else None
    if given is not None and given != batch.classes:
        batch = align(batch, given)
    return batch
def sample_targets_of(paths: str | Path | Sequence[str | Path], spec: InputSpec | None = None, *,
                      classes: Sequence[str] | None = None, limit: int | None = None) -> TargetBatch | None:
    """:func:`sample_targets` for label files: they are counted first, since what the count decides over
    the whole set (the auto mask mode) decides how a sample is read."""
    from .engines import count_paths

    tally = count_paths(paths, spec)
    return sample_targets(tally, tally.counts.classes if classes is None else classes, limit=limit)
