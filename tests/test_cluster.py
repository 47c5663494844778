"""A real cluster: ``dask scheduler`` and two ``dask worker`` processes (each under its nanny) on
loopback, reading labels from local paths and from ``s3://`` (a moto S3 server, also its own process).
Local engine, cluster and cluster on ``s3://`` give the same ``.pt`` tensors; a worker killed with
SIGKILL while it counts costs a retry, not a count; the client reads only what the plan needs."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from bceweights import api, locations, readers
from bceweights.engines import dask as dask_engine
from bceweights.errors import BceWeightsError

distributed = pytest.importorskip("distributed")
pytest.importorskip("moto")
pytest.importorskip("s3fs")

import cluster_preload  # noqa: E402
from sample_inputs import KINDS, write_csv  # noqa: E402
from services import S3Server, assert_same, dask_cluster, s3_server  # noqa: E402

pytestmark = pytest.mark.cluster

PRELOAD = Path(cluster_preload.__file__)
#: Seconds a held partition may wait for its test to see it, and a retried run to finish.
WAIT = 90


@pytest.fixture(scope="module")
def s3(tmp_path_factory) -> S3Server:
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with s3_server(log) as server, pytest.MonkeyPatch.context() as patch:
        for name, value in server.env.items():
            patch.setenv(name, value)
        yield server


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, s3):
    folder = tmp_path_factory.mktemp("cluster")
    gate = folder / "gate"
    gate.mkdir()
    cluster_preload.dask_setup()  # this process plans with the gate reader too
    try:
        with dask_cluster(folder, workers=2, env={**s3.env, cluster_preload.GATE: str(gate)},
                          preload=PRELOAD) as started:
            started.gate = gate
            yield started
    finally:
        readers.clear()


@pytest.fixture(scope="module")
def client(cluster):
    with cluster.client() as c:
        yield c


@pytest.fixture
def small_blocks(monkeypatch):
    """Partitions of about 2 kB: small files split into many blocks (the plan is made here)."""
    monkeypatch.setattr(dask_engine, "MIN_BLOCK", 2000)
    monkeypatch.setattr(dask_engine, "MAX_BLOCK", 2000)


@pytest.fixture
def prefix(request, s3) -> str:
    return f"cluster/{request.node.name.replace('[', '-').replace(']', '')}"


# -------------------------------------------------------------------------- the same tensors everywhere


@pytest.mark.parametrize("kind", ["csv", "label-lists", "parquet", "npy", "npz", "png-masks", "npy-masks"])
def test_local_cluster_and_s3_give_the_same_tensors(kind, tmp_path, s3, cluster, prefix, small_blocks):
    write, options = KINDS[kind]
    local = write(tmp_path)
    address = s3.upload(local, prefix)
    expected = api.compute(local, **options)
    on_cluster = api.compute(local, engine="dask", scheduler=cluster.address, **options)
    from_s3 = api.compute(address, engine="dask", scheduler=cluster.address, **options)
    assert_same(expected, on_cluster)
    assert_same(expected, from_s3)
    assert all(i.startswith("s3://") for i in from_s3.meta["inputs"])


def test_the_cli_on_the_cluster_from_s3_writes_the_local_pt(tmp_path, s3, cluster, prefix, cli):
    import torch

    local = write_csv(tmp_path)
    address = s3.upload(local, prefix)
    assert cli("compute", local, "-q", "-o", tmp_path / "local.pt").exit_code == 0
    result = cli("compute", address, "-q", "-o", tmp_path / "cluster.pt", "--engine", "dask",
                 "--scheduler", cluster.address)
    assert result.exit_code == 0, result.stderr
    a = torch.load(tmp_path / "local.pt", weights_only=True)
    b = torch.load(tmp_path / "cluster.pt", weights_only=True)
    for key in ("pos_count", "neg_count", "pos_weight", "class_weight"):
        assert torch.equal(a[key], b[key]), key


def test_the_client_reads_heads_and_the_workers_read_the_data(tmp_path, s3, cluster, prefix, monkeypatch):
    """The bytes this process fetches from the store: the heads the plan reads, not the rows."""
    import s3fs

    rows = 2_000_000
    lines = ["a,b,c,d"] + [f"{i % 2},{i % 3 // 2},{i % 5 // 4},{i % 7 // 6}" for i in range(rows)]
    local = tmp_path / "big.csv"
    local.write_text("\n".join(lines) + "\n")
    size = local.stat().st_size
    address = s3.upload(local, prefix)
    fetched = []
    fs, _ = locations.filesystem(address)  # the store's client in this process (fsspec keeps one)
    assert isinstance(fs, s3fs.S3FileSystem)
    real = fs.cat_file

    def counted(path, *args, **kwargs):
        data = real(path, *args, **kwargs)
        fetched.append(len(data))
        return data

    monkeypatch.setattr(fs, "cat_file", counted)
    result = api.compute(address, engine="dask", scheduler=cluster.address)
    assert result.counts.samples == rows
    i = np.arange(rows)
    assert result.counts.pos.tolist() == [(i % 2).sum(), (i % 3 // 2).sum(), (i % 5 // 4).sum(), (i % 7 // 6).sum()]
    # The plan reads a head (the delimiter, the header, the label columns) and each block's first line.
    assert 0 < sum(fetched) < 3 << 20 < size / 4, (sum(fetched), size)


# ---------------------------------------------------------------------------------- a worker killed


def _hold_and_kill(client, gate: Path, name: str, run):
    """Start ``run`` (a compute on the cluster), wait until a worker holds the gated partition of the
    file ``name``, SIGKILL that worker, and return what ``run`` returns or raises."""
    marker = gate / f"{name}.held"
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(run)
        deadline = time.monotonic() + WAIT
        while not (marker.exists() and marker.read_text()):
            assert time.monotonic() < deadline, "no worker reached the held partition"
            assert not future.done(), future.result()
            time.sleep(0.05)
        pid = int(marker.read_text())
        assert pid in _worker_pids(client)  # a worker of the cluster, in the middle of a task
        os.kill(pid, signal.SIGKILL)
        try:
            return future.result(timeout=WAIT)
        finally:
            # The nanny starts a new worker: the next test finds two again, neither of them this one.
            while True:
                pids = _worker_pids(client)
                if len(pids) == 2 and pid not in pids:
                    break
                assert time.monotonic() < deadline + WAIT, pids
                time.sleep(0.1)


def _worker_pids(client) -> list[int]:
    """The pids of the workers that answer (a killed one may still be listed by the scheduler)."""
    return list(client.run(os.getpid, on_error="ignore").values())


def test_a_worker_killed_mid_run_gives_the_same_counts(tmp_path, s3, cluster, client, prefix, small_blocks):
    allowed = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures)
    assert allowed >= 1  # a partition whose worker dies is run again
    local = write_csv(tmp_path, "killed.csv")
    address = s3.upload(local, prefix)
    result = _hold_and_kill(client, cluster.gate, local.name,
                            lambda: api.compute(address, engine="dask", scheduler=cluster.address, format="gatecsv"))
    assert_same(api.compute(local), result)


def test_past_allowed_failures_a_killed_worker_is_one_error(tmp_path, s3, cluster, client, prefix, small_blocks):
    local = write_csv(tmp_path, "fatal.csv")
    address = s3.upload(local, prefix)

    def allow(n: int) -> None:
        client.run_on_scheduler(lambda dask_scheduler: setattr(dask_scheduler, "allowed_failures", n))

    allow(0)
    try:
        error = _hold_and_kill(client, cluster.gate, local.name, lambda: _raises(
            lambda: api.compute(address, engine="dask", scheduler=cluster.address, format="gatecsv")))
    finally:
        allow(3)
    assert isinstance(error, BceWeightsError), error
    # The held partition, or one queued behind it on the killed worker: the scheduler counts the
    # death against every task it had given that worker.
    assert error.message.startswith(f"{address} (block ")
    assert "the Dask workers counting it died, once" in error.message
    assert "allowed-failures is 0" in error.message and "\n" not in error.message


def _raises(run):
    try:
        run()
    except BaseException as exc:
        return exc
    return None


# ------------------------------------------------------------------------------------------ progress


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def start(self, total, unit, description):
        self.events.append(("start", total, unit, description))

    def advance(self, amount, **fields):
        self.events.append(("advance", amount))


def test_progress_counts_partitions_done_on_the_cluster(tmp_path, cluster, small_blocks):
    from bceweights import inputs
    from bceweights.readers.base import PlanHints
    from bceweights.spec import InputSpec

    local = write_csv(tmp_path)
    files = inputs.expand_paths(local, InputSpec())
    hints = PlanHints(split=True, block=dask_engine.block_size(local.stat().st_size, 2), workers=2)
    partitions = readers.get("csv").plan(files, InputSpec(), hints).partitions
    assert len(partitions) > 10
    recorder = Recorder()
    api.compute(local, engine="dask", scheduler=cluster.address, progress=recorder)
    assert recorder.events[0] == ("start", len(partitions), "partitions", "counting on Dask")
    assert recorder.events[1:] == [("advance", 1)] * len(partitions)
