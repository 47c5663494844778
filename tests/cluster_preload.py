"""Preloaded by the test cluster's workers (``dask worker --preload``, which calls ``dask_setup``) and
used by test_cluster.py: ``gatecsv``, the CSV reader with a gate that holds one chosen partition until
its worker is killed, so a test kills a worker that is certainly counting. Not a test module; importing
it registers nothing."""

from __future__ import annotations

import os
import time

from bceweights import readers
from bceweights.readers.delimited import CsvReader

#: Where a held partition writes its worker's pid (the folder is given to the workers' environment).
GATE = "BCEWEIGHTS_TEST_GATE"
#: The partition held: the second block of a file.
HELD = "block 2 of"


class GateCsvReader(CsvReader):
    name = "gatecsv"
    extensions = ()
    description = "CSV, with one partition held until its worker dies (tests only)"

    def count(self, partition, spec, progress=None):
        folder = os.environ.get(GATE)
        if folder and partition.label.startswith(HELD):
            marker = os.path.join(folder, os.path.basename(partition.paths[0]) + ".held")
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pass  # the partition's second try: count it
            else:
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
                time.sleep(300)  # the test kills this worker long before
        return super().count(partition, spec, progress)


def dask_setup(worker=None) -> None:
    readers.register(GateCsvReader)
