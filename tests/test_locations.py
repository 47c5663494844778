"""bceweights.locations on fsspec's in-memory store (``memory://``, no server): reads and seeks give
what a local file gives, ``.npy`` slices what NumPy gives, a store's errors one line naming the URL.
The same code against a real S3 server: tests/test_cloud.py."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bceweights import locations
from bceweights.errors import InputError

fsspec = pytest.importorskip("fsspec")


@pytest.fixture
def memory(request):
    """A fresh folder on the in-memory store, and what bceweights remembers about it forgotten after."""
    fs = fsspec.filesystem("memory")
    root = f"/bceweights-{request.node.name.replace('[', '-').replace(']', '')}"
    yield fs, root
    if fs.exists(root):
        fs.rm(root, recursive=True)
    locations.forget()


DATA = bytes(range(256)) * 2000  # 512,000 bytes, every offset recognisable modulo 256


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["read", "seek", "seek_end", "seek_cur", "line"]),
                          st.integers(-1, 300_000)), max_size=25))
def test_reads_and_seeks_give_what_a_local_file_gives(ops):
    fs = fsspec.filesystem("memory")
    fs.pipe("/bceweights-ops/data.bin", DATA)
    remote = locations.open("memory://bceweights-ops/data.bin", "rb")
    local = io.BufferedReader(io.BytesIO(DATA))
    for op, n in ops:
        if op == "read":
            assert remote.read(n) == local.read(n)
        elif op == "line":
            assert remote.readline() == local.readline()
        elif op == "seek":
            assert remote.seek(abs(n)) == local.seek(abs(n))
        elif op == "seek_end":
            assert remote.seek(-min(abs(n), len(DATA)), 2) == local.seek(-min(abs(n), len(DATA)), 2)
        else:
            target = max(-local.tell(), n - 150_000)
            assert remote.seek(target, 1) == local.seek(target, 1)
        assert remote.tell() == local.tell()
    remote.close()


def test_requests_grow_while_a_file_is_read_in_order(memory, monkeypatch):
    fs, root = memory
    fs.pipe(f"{root}/big.bin", b"x" * (40 << 20))
    raw = locations.RemoteFile(f"memory://{root.lstrip('/')}/big.bin")
    fetched = []
    real = raw._fs.cat_file

    def counted(path, start, end):
        fetched.append(end - start)
        return real(path, start=start, end=end)

    monkeypatch.setattr(raw._fs, "cat_file", counted)
    assert raw.read(4) == b"xxxx"
    assert fetched == [locations.FIRST_AHEAD + 4]  # a sniff costs a small request
    while raw.read(1 << 20):
        pass
    assert max(fetched) <= (1 << 20) + locations.READ_BLOCK
    assert len(fetched) < 15  # 40 MiB in requests that doubled up to READ_BLOCK ahead
    assert sum(fetched) == 40 << 20  # and nothing fetched twice
    raw.seek(123)
    fetched.clear()
    raw.read(10)
    assert fetched == [locations.FIRST_AHEAD + 10]  # a seek elsewhere starts small again


def test_a_server_that_ignores_ranges_still_gives_the_right_bytes(memory, monkeypatch):
    fs, root = memory
    fs.pipe(f"{root}/d.bin", DATA)
    address = f"memory://{root.lstrip('/')}/d.bin"
    real = fs.cat_file
    monkeypatch.setattr(fs, "cat_file", lambda path, start=None, end=None: real(path))  # always all of it
    with locations.open(address, "rb") as fh:
        fh.seek(1000)
        assert fh.read(300) == DATA[1000:1300]
    assert locations.read_range(address, 70_000, 70_100) == DATA[70_000:70_100]


@pytest.mark.parametrize("shape,axis", [((1000, 7), 1), ((1000,), 0), ((50, 4, 3, 5), 3), ((50, 4, 3, 5), 1),
                                         ((6, 300), 0)])
def test_a_ranged_npy_gives_what_numpy_gives(memory, shape, axis):
    fs, root = memory
    array = np.random.default_rng(1).integers(0, 2, size=shape).astype(np.uint8)
    buffer = io.BytesIO()
    np.save(buffer, array)
    fs.pipe(f"{root}/a.npy", buffer.getvalue())
    remote = locations.load_npy(f"memory://{root.lstrip('/')}/a.npy")
    assert isinstance(remote, locations.RangedArray)
    assert remote.shape == array.shape and remote.dtype == array.dtype and remote.ndim == array.ndim
    expected = array[:, None] if array.ndim == 1 else np.moveaxis(array, axis, -1)
    view = remote[:, None] if array.ndim == 1 else np.moveaxis(remote, axis, -1)
    assert view.shape == expected.shape
    assert np.array_equal(np.asarray(view[3:17]), expected[3:17])
    assert np.array_equal(np.asarray(view[:]), expected)


def test_a_fortran_npy_is_read_whole(memory):
    fs, root = memory
    array = np.asfortranarray(np.arange(60, dtype=np.int16).reshape(6, 10))
    buffer = io.BytesIO()
    np.save(buffer, array)
    fs.pipe(f"{root}/f.npy", buffer.getvalue())
    got = locations.load_npy(f"memory://{root.lstrip('/')}/f.npy")
    assert isinstance(got, np.ndarray) and np.array_equal(got, array)


def test_text_mode_and_remote_paths(memory):
    fs, root = memory
    fs.pipe(f"{root}/t/a.txt", "é,1\nb,0\n".encode())
    fs.pipe(f"{root}/t/sub/b.csv", b"x\n")
    address = f"memory://{root.lstrip('/')}/t"
    with locations.open(f"{address}/a.txt", encoding="utf-8") as fh:
        assert fh.read().splitlines() == ["é,1", "b,0"]
    folder = locations.as_path(address)
    assert folder.is_dir() and not folder.is_file() and folder.exists()
    assert (folder / "a.txt").stat().st_size == len("é,1\nb,0\n".encode())
    assert (folder / "a.txt").read_bytes() == "é,1\nb,0\n".encode()
    assert sorted(p.name for p in folder.iterdir()) == ["a.txt", "sub"]
    assert not (folder / "nope").exists()
    assert locations.size(folder / "a.txt") == 8 + 1  # é is two bytes
    found = locations.expand(address, (".csv",))
    assert [str(p) for p in found] == [f"{address}/sub/b.csv"]


class NoCredentialsError(Exception):
    """Named as botocore names it: the class name is what the store's errors are told by."""


class EndpointConnectionError(Exception):
    pass


@pytest.mark.parametrize("raised,expected", [
    (FileNotFoundError("gone"), "s3://b/k.csv: no such file or object"),
    (PermissionError("Forbidden"), "s3://b/k.csv: access denied (Forbidden)"),
    (NoCredentialsError("Unable to locate credentials"), "s3://b/k.csv: no credentials found"),
    (EndpointConnectionError("Could not connect"), "s3://b/k.csv: cannot reach the store (Could not connect)"),
    (RuntimeError("odd"), "s3://b/k.csv: cannot read (RuntimeError: odd)"),
])
def test_store_errors_are_one_line_naming_the_url(raised, expected):
    with pytest.raises(InputError) as info, locations._store_errors("s3://b/k.csv"):
        raise raised
    assert info.value.message.startswith(expected)
    assert "\n" not in str(info.value)
