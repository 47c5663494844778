"""A bceweights reader for MXNet ``im2rec`` list files (``.lst``) with multi-hot labels.

Each line is ``index<TAB>label_1<TAB>...<TAB>label_C<TAB>image path``: the labels are 0/1 (or soft)
values, one per class. Class names come from ``--classes-file``, else ``0 .. C-1``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bceweights.classnames import read_classes_file
from bceweights.errors import InputError
from bceweights.readers.base import LabelBatch, Reader

BATCH_ROWS = 4096


class LstReader(Reader):
    name = "mxnet-lst"
    extensions = (".lst",)
    kind = "table"
    description = "MXNet im2rec list files with multi-hot labels"
    options = frozenset({"classes_file"})

    def sniff(self, head: bytes, path: Path) -> float:
        first = head.split(b"\n", 1)[0].split(b"\t")
        return 0.5 if len(first) >= 3 and first[0].strip().isdigit() else 0.0

    def rows(self, path, spec, *, classes=None, id_column=None):
        names = read_classes_file(spec.classes_file) if spec.classes_file else None
        values, images, numbers = [], [], []
        with open(path, encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                fields = line.rstrip("\n").split("\t")
                if not line.strip():
                    continue
                try:
                    row = [float(v) for v in fields[1:-1]]
                except ValueError:
                    raise InputError(f"{path}: line {number}: the labels are not numbers") from None
                if names is None:
                    names = [str(i) for i in range(len(row))]
                if len(row) != len(names) or not all(0 <= v <= 1 for v in row):
                    raise InputError(f"{path}: line {number}: expected {len(names)} labels in [0, 1]")
                values.append(row)
                images.append(fields[-1])
                numbers.append(number)
                if len(values) == BATCH_ROWS:
                    yield self._batch(values, names, numbers, images, id_column)
                    values, images, numbers = [], [], []
        if values:
            yield self._batch(values, names, numbers, images, id_column)

    def _batch(self, values, names, numbers, images, id_column):
        return LabelBatch(np.array(values), list(names), np.array(numbers),
                          ids=list(images) if id_column else None, id_name="image path")
