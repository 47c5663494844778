"""The local engine: a reader's partitions counted on this machine, partials added in partition order.

Readers that stream and use threads themselves (``parallel = "inline"``: tables, arrays) count their
partitions here, one after another. CPU-bound decoders (``parallel = "process"``: masks) count them in a
pool of ``--workers`` processes; results are taken in partition order, so the first bad file named is
the same whatever the number of workers. The pool's workers end with the run: on an error, on Ctrl-C,
on SIGTERM, and (Linux) when this process dies.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from ..memory import release_heap
from ..readers.base import closing
from .merge import add_partials, finish

if TYPE_CHECKING:
    from ..inputs import Group
    from ..readers.base import Finished, Partition, Reader
    from ..spec import InputSpec


def count_groups(groups: Sequence[Group], spec: InputSpec, *, progress=None) -> list[Finished]:
    from ..readers.base import PlanHints

    workers = spec.worker_count()
    if workers < 1:
        from ..errors import UsageError

        raise UsageError(f"--workers {workers}: give 1 or more")
    out = []
    for group in groups:
        reader = group.reader
        plan = reader.plan(group.files, spec, PlanHints(split=False, workers=workers))
        if progress is not None:
            progress.start(sum(p.size for p in plan.partitions), reader.unit, reader.progress_label)
        # Closed on any error (a merge that raises included), so the pool and its workers end with it.
        with closing(_count(reader, plan.partitions, plan.spec, workers, progress)) as partials:
            total = add_partials(partials)
        out.append(finish(reader, total, plan.spec, group.files))
        release_heap()
    return out


def _count(reader: Reader, partitions: Sequence[Partition], spec: InputSpec, workers: int,
           progress) -> Iterator:
    pooled = reader.parallel == "process" and workers > 1 and len(partitions) > 1
    if not pooled:
        advance = progress.advance if progress is not None else None
        for part in partitions:
            yield reader.count(part, spec, advance)
        return
    with closing(_pool_map(reader, partitions, spec, min(workers, len(partitions)))) as results:
        for part, partial in zip(partitions, results):
            if progress is not None:
                progress.advance(part.size, **reader.progress_fields(partial))
            yield partial


def _count_one(reader_name: str, part: Partition, spec: InputSpec):
    from .. import readers

    return readers.get(reader_name).count(part, spec, None)


def _pool_map(reader: Reader, partitions: Sequence[Partition], spec: InputSpec, workers: int) -> Iterator:
    import multiprocessing as mp
    import signal
    from concurrent.futures import ProcessPoolExecutor

    ctx = mp.get_context(_start_method())
    if ctx.get_start_method() == "forkserver":
        ctx.set_forkserver_preload([type(reader).__module__])
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init)
    previous = signal.getsignal(signal.SIGTERM)
    handled = previous in (signal.SIG_DFL, None)
    if handled:
        # The default SIGTERM ends this process at once and leaves the workers running: unwind instead,
        # so the pool below is shut down (and the workers ended) like on Ctrl-C.
        signal.signal(signal.SIGTERM, _terminate)
    try:
        yield from pool.map(_count_one, [reader.name] * len(partitions), partitions, [spec] * len(partitions))
    finally:
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=5)
        if handled:
            signal.signal(signal.SIGTERM, previous)


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


def _start_method() -> str:
    """fork where this process runs no other thread (the CLI with ``-q``, most scripts): workers start
    in milliseconds. Otherwise forkserver: a thread (Rich's refresh, a library's pool) could be holding
    a lock that a forked child would inherit held; starting the server costs ~0.3 s (an interpreter and
    NumPy). ``BCEWEIGHTS_START_METHOD`` overrides the choice."""
    import multiprocessing as mp
    import threading

    methods = mp.get_all_start_methods()
    chosen = os.environ.get("BCEWEIGHTS_START_METHOD", "")
    if chosen in methods:
        return chosen
    if "fork" in methods and threading.active_count() == 1:
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


def _worker_init() -> None:
    import signal

    # Ctrl-C reaches the whole process group: the parent stops the pool, the workers stay quiet.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent()


def _die_with_parent() -> None:
    """Linux: the kernel sends SIGTERM to this worker when the process that started it dies, even by
    SIGKILL, so no worker outlives its run."""
    import sys

    if not sys.platform.startswith("linux"):
        return
    import contextlib
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM))
        if os.getppid() == 1:  # the parent died before the call above
            os._exit(1)
