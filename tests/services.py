"""Services the cloud and cluster tests start as separate processes on loopback: an S3-compatible server
(moto in server mode) and a Dask cluster (``dask scheduler`` and ``dask worker`` processes, each worker
under its nanny, as on a real cluster). Not a test module: test_cloud.py and test_cluster.py use it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Seconds a service may take to start on a loaded 2-core machine.
START_TIMEOUT = 90


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment for a child: this checkout's bceweights first on its path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.update(extra or {})
    return env


def stop(process: subprocess.Popen, timeout: float = 10) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


# -------------------------------------------------------------------------------------------- S3


@dataclass
class S3Server:
    """A moto S3 server: ``endpoint``, and ``env`` (credentials, region, endpoint) for a client."""

    endpoint: str
    process: subprocess.Popen

    @property
    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_EC2_METADATA_DISABLED": "true"}

    def filesystem(self):
        import s3fs

        return s3fs.S3FileSystem(key="testing", secret="testing", endpoint_url=self.endpoint,
                                 skip_instance_cache=True)

    def upload(self, local: Path, prefix: str) -> str:
        """Upload a file, or a folder's files under their relative names; the URL of the result."""
        fs = self.filesystem()
        bucket = prefix.split("/", 1)[0]
        if not fs.exists(bucket):
            fs.mkdir(bucket)
        if local.is_dir():
            for path in sorted(p for p in local.rglob("*") if p.is_file()):
                fs.pipe(f"{prefix}/{path.relative_to(local).as_posix()}", path.read_bytes())
            return f"s3://{prefix}/"
        fs.pipe(f"{prefix}/{local.name}", local.read_bytes())
        return f"s3://{prefix}/{local.name}"


@contextlib.contextmanager
def s3_server(log: Path) -> Iterator[S3Server]:
    port = free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                   stdout=out, stderr=subprocess.STDOUT, env=child_env())
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"moto server exited: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(endpoint + "/moto-api/", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.2)
        yield S3Server(endpoint, process)
    finally:
        stop(process)


# ------------------------------------------------------------------------------------------ Dask


@dataclass
class Cluster:
    """A scheduler and worker processes (each a nanny and its worker)."""

    address: str
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen] = field(default_factory=list)

    def client(self):
        import distributed

        return distributed.Client(self.address, timeout=START_TIMEOUT)


@contextlib.contextmanager
def dask_cluster(folder: Path, *, workers: int = 2, env: dict[str, str] | None = None,
                 preload: Path | None = None) -> Iterator[Cluster]:
    """``dask scheduler`` and ``workers`` × ``dask worker`` (one thread each) on loopback, with ``env``
    on top of this process's environment; ``preload``: a module every worker imports at start."""
    folder.mkdir(parents=True, exist_ok=True)
    environ = child_env(env)
    scheduler_file = folder / "scheduler.json"
    logs = []

    def start(args: list[str], name: str) -> subprocess.Popen:
        log = open(folder / f"{name}.log", "wb")  # noqa: SIM115 (closed at teardown)
        logs.append(log)
        return subprocess.Popen([sys.executable, "-m", "dask", *args], stdout=log, stderr=subprocess.STDOUT,
                                env=environ, cwd=folder)

    scheduler = start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                       "--scheduler-file", str(scheduler_file)], "scheduler")
    cluster = Cluster("", scheduler)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not scheduler_file.exists() or not scheduler_file.read_text().strip():
            if scheduler.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the scheduler did not start: {(folder / 'scheduler.log').read_text()[-2000:]}")
            time.sleep(0.1)
        cluster.address = json.loads(scheduler_file.read_text())["address"]
        for i in range(workers):
            args = ["worker", cluster.address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
                    "--name", f"w{i}", "--memory-limit", "0", "--local-directory", str(folder / f"w{i}"),
                    "--host", "127.0.0.1", "--death-timeout", "60"]
            if preload is not None:
                args += ["--preload", str(preload)]
            cluster.workers.append(start(args, f"worker{i}"))
        with cluster.client() as client:
            client.wait_for_workers(workers, timeout=START_TIMEOUT)
        yield cluster
    finally:
        for process in cluster.workers:
            stop(process)
        stop(scheduler)
        for log in logs:
            log.close()


# ----------------------------------------------------------------------------------------- checks


def assert_same(expected, got) -> None:
    """Two results with the same counts and the same ``.pt`` tensors, bit for bit."""
    import torch

    assert got.counts.to_dict() == expected.counts.to_dict()
    a, b = expected.payload(), got.payload()
    assert a.keys() == b.keys()
    for key, value in a.items():
        if isinstance(value, torch.Tensor):
            assert value.dtype == b[key].dtype and value.shape == b[key].shape, key
            assert torch.equal(value, b[key]), key
    assert a["classes"] == b["classes"]
