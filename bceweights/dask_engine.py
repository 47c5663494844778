"""The Dask engine: the local engine's readers, run partition by partition on a Dask cluster.

``count_groups`` splits the inputs (:mod:`bceweights.partitions`), submits one task per partition,
shows progress as the futures complete, and merges the partial counts with a tree reduce on the
cluster, in partition order, so the classes come out in the same order as with the local engine.
Without a scheduler address it starts a ``LocalCluster`` of processes on this machine; with one, it
uses that cluster (whose workers must see the same files under the same paths).

An error in a partition cancels the rest and surfaces as one :class:`BceWeightsError` naming the file
and, for a block of a table, which block.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import errors
from .counts import Counts, merge_same_classes
from .errors import BceWeightsError, InputError, OptionsError
from .partitions import Partition, Plan, plan
from .readers._legacy import ReaderInfo
from .spec import InputSpec

#: Partial results merged per reduce task.
FAN_IN = 8
#: Seconds to wait for a scheduler given by address.
CONNECT_TIMEOUT = 20


def count_groups(groups: dict[ReaderInfo, list[Path]], spec: InputSpec, *, scheduler: Any = None,
                 progress=None) -> Counts:
    """Count every reader group on a Dask cluster; equal to the local engine's counts.

    ``scheduler``: None (a ``LocalCluster`` of ``spec.workers`` processes, default one per core), a
    scheduler address such as ``tcp://10.0.0.5:8786``, or a ``distributed.Client``.
    """
    errors.require("dask.distributed", feature="--engine dask", extra="dask")
    with _client(scheduler, spec) as client:
        if not client.nthreads():
            try:
                client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
            except (TimeoutError, OSError):
                raise OptionsError(f"the Dask cluster at {client.scheduler.address} has no workers",
                                   hint="start workers with: dask worker SCHEDULER_ADDRESS") from None
        threads = sum(client.nthreads().values()) or 1
        work = plan(groups, spec, threads=threads)
        return run(client, work, spec, progress=progress)


@contextlib.contextmanager
def _client(scheduler: Any, spec: InputSpec) -> Iterator[Any]:
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        yield scheduler
        return
    if scheduler is None:
        import dask

        workers = spec.worker_count()
        # Dask's nannies set MALLOC_TRIM_THRESHOLD_=65536 for long-lived workers; it makes glibc give
        # memory back after every decoded mask and counting masks ~3x slower. This cluster lives for
        # one job, so its workers keep glibc's default.
        environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
        environ.pop("MALLOC_TRIM_THRESHOLD_", None)
        with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}), warnings.catch_warnings():
            # No dashboard is asked for; a busy default port is no news to the user.
            warnings.filterwarnings("ignore", message="Port .* is already in use")
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.CRITICAL)
        try:
            with Client(cluster) as client:
                yield client
        finally:
            cluster.close()
        return
    address = str(scheduler)
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise OptionsError(f"cannot reach the Dask scheduler at {address} ({errors.describe(exc)})",
                           hint="pass the address the scheduler prints, e.g. tcp://10.0.0.5:8786") from None
    with client:
        yield client


# ------------------------------------------------------------------------------------------- running


def run(client: Any, work: Plan, spec: InputSpec, *, progress=None) -> Counts:
    """Submit the partitions, reduce them per reader group on the cluster, and merge the groups."""
    from distributed import as_completed

    token = uuid.uuid4().hex[:8]
    futures = [client.submit(_run_partition, part, key=f"bceweights-count-{token}-{i}", pure=False)
               for i, part in enumerate(work.partitions)]
    part_of = {f.key: part for f, part in zip(futures, work.partitions)}
    finals = []
    for index, info in enumerate(work.groups):
        mine = [f for f, part in zip(futures, work.partitions) if part.group == index]
        finals.append(_reduce(client, mine, strict=_strict_columns(info, spec), token=token))
    if progress is not None:
        progress.start(sum(p.size for p in work.partitions), "bytes", "counting on Dask")
    try:
        for future in as_completed(futures):
            if future.status == "error":
                raise _user_error(future.exception(), part_of[future.key])
            if progress is not None:
                progress.advance(part_of[future.key].size)
        results = []
        for future in finals:
            try:
                results.append(future.result())
            except Exception as exc:
                raise _user_error(exc, None) from None
    except BaseException:
        client.cancel(futures + finals)
        raise
    total: Counts | None = None
    for info, result in zip(work.groups, results):
        if result.counts is None:
            continue
        # What the reader settles over the whole set (the local engine does the same).
        counts = info.load().finish_counts(result.counts, spec)
        total = counts if total is None else total.merge(counts)
    if total is None:
        raise InputError("the inputs hold no rows")
    return total


def _strict_columns(info: ReaderInfo, spec: InputSpec) -> str | None:
    """The kind of input whose parts must all have the same classes (wide tables, arrays), or None."""
    if info.kind == "array":
        return "array"
    if info.kind != "table":
        return None
    from .readers import tables

    return "table" if tables._layout(spec) == "wide" else None


def _reduce(client: Any, futures: list, *, strict: str | None, token: str):
    level = 0
    while len(futures) > 1:
        futures = [
            client.submit(_merge, strict, *futures[i:i + FAN_IN],
                          key=f"bceweights-merge-{token}-{level}-{i}", pure=False)
            for i in range(0, len(futures), FAN_IN)
        ]
        level += 1
    if not futures:
        return client.submit(_merge, strict, key=f"bceweights-merge-{token}-empty", pure=False)
    return futures[0]


# --------------------------------------------------------------------------------- on the workers


@dataclass
class _Part:
    """A partition's (or a reduce's) counts and the first file they cover."""

    counts: Any
    path: str


class PartitionFailed(Exception):
    """A :class:`BceWeightsError` raised on a worker, in a form that always pickles."""

    def __init__(self, kind: str, message: str, hint: str | None) -> None:
        super().__init__(message)
        self.kind, self.message, self.hint = kind, message, hint

    def __reduce__(self):
        return (PartitionFailed, (self.kind, self.message, self.hint))


def _run_partition(part: Partition) -> _Part:
    try:
        with errors.reader_boundary(part.where()):
            return _Part(part.run(), part.paths[0])
    except BceWeightsError as exc:
        raise PartitionFailed(type(exc).__name__, exc.message, exc.hint) from None


def _merge(strict: str | None, *parts: _Part) -> _Part:
    import copy

    out: _Part | None = None
    try:
        for part in parts:
            if part.counts is None:
                continue
            if out is None:
                # Never add into an input: it is another task's result, which Dask may reuse.
                out = _Part(copy.deepcopy(part.counts), part.path)
                continue
            if strict:
                merge_same_classes(out.counts, part.counts, path=part.path, first=out.path, kind=strict)
            else:
                out.counts.merge(part.counts)
    except BceWeightsError as exc:
        raise PartitionFailed(type(exc).__name__, exc.message, exc.hint) from None
    return out if out is not None else _Part(None, parts[0].path if parts else "")


# ---------------------------------------------------------------------------------------- errors


def _user_error(exc: BaseException, part: Partition | None) -> BaseException:
    """The one-line error for a failed partition (or merge); bugs keep their type and traceback."""
    where = part.where() if part is not None else None
    if isinstance(exc, PartitionFailed):
        message = exc.message
        if part is not None and not any(p in message for p in part.paths):
            message = f"{message} [in {where}]"
        elif part is not None and part.is_slice:
            message = f"{message} [{part.block()}]"
        cls = getattr(errors, exc.kind, None)
        if isinstance(cls, type) and issubclass(cls, BceWeightsError) and cls is not errors.MissingDependency:
            return cls(message, hint=exc.hint)
        return BceWeightsError(message, hint=exc.hint)
    if isinstance(exc, ImportError):
        return BceWeightsError(
            f"{where or 'a merge'}: a Dask worker cannot import {exc.name or 'a module'} "
            f"({errors.describe(exc)})",
            hint="install bceweights, with the extras its inputs need, on every worker",
        )
    if type(exc).__name__ == "KilledWorker":
        return BceWeightsError(f"{where or 'a merge'}: the Dask worker counting it died ({exc})",
                               hint="give the workers more memory, or see the worker logs")
    if where is not None and hasattr(exc, "add_note"):
        exc.add_note(f"in the Dask partition {where}")
    return exc
