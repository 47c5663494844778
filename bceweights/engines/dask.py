"""The Dask engine: a reader's partitions counted on a Dask cluster, partials added there.

Each partition is one task (the reader's ``count`` on a worker, which looks the reader up by name in its
own registry, so a third-party reader must be installed on the workers too); partials are added with a
tree reduce on the cluster in partition order; ``finish`` runs here. Without a scheduler address a
``LocalCluster`` of processes is started on this machine; with one, its workers must see local inputs
under the same paths.

URLs (``s3://``, ``gs://``, ``az://``, ``https://`` ...) travel in the partitions as they are: this
machine reads only what the plan needs (a table's head, an array's header, sizes from the listing)
and each worker opens its partitions' URLs itself, with its own credentials (its environment,
``~/.aws``, an instance role) and ``AWS_ENDPOINT_URL``. Progress counts partitions as the cluster
finishes them.

A worker that dies (killed, out of memory) while counting a partition costs nothing but time: the
scheduler runs the partition again on another worker, up to its ``distributed.scheduler.allowed-failures``
(3 by default); counting is a pure function of the partition, so the counts are the same. Past that, or
on an error in a partition, the rest is cancelled and the error surfaces as the reader's own one line,
naming the file and, for a part of one, which part.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .. import errors
from ..errors import BceWeightsError, OptionsError
from .merge import finish

if TYPE_CHECKING:
    from ..inputs import Group
    from ..readers.base import Finished, Partition
    from ..spec import InputSpec

#: Partial results added per reduce task.
FAN_IN = 8
#: Seconds to wait for a scheduler given by address.
CONNECT_TIMEOUT = 20
#: Largest partition, in bytes of input (Dask's own default block size for CSV).
MAX_BLOCK = 64 << 20
#: Smallest partition that is worth a task.
MIN_BLOCK = 4 << 20
#: Partitions per worker thread to aim for, so a slow partition does not leave the others idle.
PER_THREAD = 4


def block_size(total_bytes: int, threads: int) -> int:
    """Bytes per partition: enough partitions for every thread a few times over, within bounds."""
    target = total_bytes / max(1, threads * PER_THREAD)
    return int(min(MAX_BLOCK, max(MIN_BLOCK, target)))


def count_groups(groups: Sequence[Group], spec: InputSpec, *, scheduler: Any = None,
                 progress=None) -> list[Finished]:
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
        return [_count_group(client, group, spec, threads, progress) for group in groups]


def _count_group(client: Any, group: Group, spec: InputSpec, threads: int, progress) -> Finished:
    from distributed import as_completed

    from ..readers.base import PlanHints, _size

    reader = group.reader
    total = sum(_size(p) for p in group.files)
    hints = PlanHints(split=True, block=block_size(total, threads), workers=threads)
    plan = reader.plan(group.files, spec.with_(workers=1), hints)
    token = uuid.uuid4().hex[:8]
    futures = [client.submit(_count_partition, reader.name, part, plan.spec,
                             key=f"bceweights-count-{token}-{i}", pure=False)
               for i, part in enumerate(plan.partitions)]
    part_of = {f.key: part for f, part in zip(futures, plan.partitions)}
    final = _reduce(client, futures, token)
    if progress is not None:
        # Partitions finish out of order and their partials stay on the cluster: the bar counts them.
        progress.start(len(plan.partitions), "partitions", f"{reader.progress_label} on Dask")
    try:
        for future in as_completed(futures):
            if future.status == "error":
                raise _user_error(future.exception(), part_of[future.key])
            if progress is not None:
                progress.advance(1)
        try:
            partial = final.result()
        except Exception as exc:
            raise _user_error(exc, None) from None
    except BaseException:
        # Each key once: the sum of one partition is that partition's own future.
        client.cancel(list({f.key: f for f in [*futures, final]}.values()))
        raise
    return finish(reader, partial, plan.spec.with_(workers=spec.workers), group.files)


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


def _reduce(client: Any, futures: list, token: str):
    level = 0
    while len(futures) > 1:
        futures = [client.submit(_add, *futures[i:i + FAN_IN], key=f"bceweights-merge-{token}-{level}-{i}",
                                 pure=False)
                   for i in range(0, len(futures), FAN_IN)]
        level += 1
    if not futures:
        return client.submit(_add, key=f"bceweights-merge-{token}-empty", pure=False)
    return futures[0]


# --------------------------------------------------------------------------------- on the workers


def _count_partition(reader_name: str, part: Partition, spec: InputSpec):
    from .. import readers

    return readers.get(reader_name).count(part, spec, None)


def _add(*partials):
    import copy

    out = None
    for partial in partials:
        if partial is None:
            continue
        # Never add into an input: it is another task's result, which Dask may reuse.
        out = copy.deepcopy(partial) if out is None else out.merge(partial)
    return out


# ---------------------------------------------------------------------------------------- errors


def _user_error(exc: BaseException, part: Partition | None) -> BaseException:
    """The one-line error for a failed partition (or sum); bugs keep their type and traceback."""
    where = part.where() if part is not None else None
    if isinstance(exc, BceWeightsError):
        if part is not None and not any(p in exc.message for p in part.paths):
            return _with_message(exc, f"{exc.message} [in {where}]")
        if part is not None and part.label and part.label not in exc.message:
            return _with_message(exc, f"{exc.message} [{part.label}]")
        return exc
    if isinstance(exc, ImportError):
        return BceWeightsError(
            f"{where or 'a merge'}: a Dask worker cannot import {exc.name or 'a module'} "
            f"({errors.describe(exc)})",
            hint="install bceweights, with the extras its inputs need, on every worker",
        )
    if type(exc).__name__ == "KilledWorker":
        allowed = getattr(exc, "allowed_failures", None)
        times = ("once" if allowed == 0 else f"{allowed + 1} times") if isinstance(allowed, int) else "again and again"
        return BceWeightsError(
            f"{where or 'a merge'}: the Dask workers counting it died, {times} (the scheduler's "
            f"distributed.scheduler.allowed-failures is {allowed if isinstance(allowed, int) else 'reached'})",
            hint="give the workers more memory, or see the worker logs",
        )
    if where is not None and hasattr(exc, "add_note"):
        exc.add_note(f"in the Dask partition {where}")
    return exc


def _with_message(exc: BceWeightsError, message: str) -> BceWeightsError:
    if isinstance(exc, errors.MissingDependency):
        return BceWeightsError(message, hint=exc.hint)
    return type(exc)(message, hint=exc.hint)
