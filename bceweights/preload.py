"""Importing torch while the labels are counted, for a command that needs it once they are.

``import torch`` costs about 1 s of CPU in every process that saves a ``.pt``; the command line asks for
it only after counting (the loss checks, ``torch.save``). A reader that streams in this process on
NumPy and Arrow, which release the GIL for their loops (label tables), calls
:func:`start_torch_import` when it starts: the import then runs on the other core while the scan runs
(benchmarks/RESULTS.md). Nothing starts outside :func:`torch_soon`, which the command enters, so a
library call never imports torch behind the caller's back, and readers that fork worker processes
(masks) never call it: a fork must not happen while another thread imports.
``BCEWEIGHTS_PRELOAD_TORCH=0`` turns it off (the benchmarks compare both).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator

_wanted = False
_started: threading.Thread | None = None
_lock = threading.Lock()


@contextlib.contextmanager
def torch_soon() -> Iterator[None]:
    """Inside: this process imports torch once the labels are counted (the ``compute`` command)."""
    global _wanted
    previous, _wanted = _wanted, True
    try:
        yield
    finally:
        _wanted = previous


def start_torch_import() -> None:
    """Import torch in a daemon thread, once, inside :func:`torch_soon` and when it is not loaded.
    A later ``import torch`` elsewhere waits for this one (Python's import lock) and gets the module."""
    global _started
    if not _wanted or "torch" in sys.modules or os.environ.get("BCEWEIGHTS_PRELOAD_TORCH") == "0":
        return
    with _lock:
        if _started is None:
            _started = threading.Thread(target=_import, name="bceweights-torch-import", daemon=True)
            _started.start()


def _import() -> None:
    # A failure here is met again, and reported, by the main thread's own import.
    with contextlib.suppress(Exception):
        import torch  # noqa: F401
