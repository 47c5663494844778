"""Where labels live: local paths, and URLs of object stores and web servers (``s3://``, ``gs://``,
``az://``, ``https://``, ``hf://`` ...), read through fsspec.

A location travels through bceweights as a :class:`~pathlib.Path`: a local file as it is, a URL as a
:class:`RemotePath`, a Path whose text keeps its ``scheme://``, so code that takes ``.name``,
``.suffix`` or ``str(path)`` works unchanged, and whose ``stat``, ``exists``, ``is_dir`` and ``open``
ask the store. ``Path("s3://b/k")`` collapses the ``//`` (``s3:/b/k``): every function here takes that
form too, as the URL it came from, and :func:`as_path` turns either back into a :class:`RemotePath`.

Reading, for the readers (each takes a local path, a URL or a collapsed URL):

* :func:`open`: a drop-in for the builtin; a URL opens as a seekable file read in ranged requests
  (never a full download), so a Parquet footer, a zip directory or a byte range of a CSV costs only
  its own bytes;
* :func:`source`: for a library that takes a path or a file object (pyarrow, Pillow, tifffile, zipfile,
  torch): the path itself for a local file (the library's own fast path), an open file for a URL;
* :func:`arrow_file`: a pyarrow input file; :func:`load_npy`: a memory map, or for a URL a
  :class:`RangedArray` whose row slices are ranged reads;
* :func:`size`, :func:`expand` (a prefix or a glob listed by the store itself).

Credentials are each file system's own standard chain (for S3: ``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``, ``AWS_PROFILE`` and ``~/.aws``, instance roles; for
GCS ``GOOGLE_APPLICATION_CREDENTIALS``; for Azure ``AZURE_STORAGE_CONNECTION_STRING`` or
``AZURE_STORAGE_ACCOUNT_NAME`` with a key or ``az login``). ``AWS_ENDPOINT_URL_S3`` or
``AWS_ENDPOINT_URL`` points ``s3://`` at another S3-compatible store (MinIO, Ceph, R2, moto). On a
Dask cluster every worker opens its partitions' URLs with its own environment's credentials.

A store error (missing object, access denied, no credentials, an unreachable endpoint) is one
:class:`~bceweights.errors.InputError` naming the URL, wherever the read fails.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import os
import re
import stat as _stat
from collections.abc import Iterator
from pathlib import Path, PosixPath, WindowsPath
from typing import Any

from .errors import BceWeightsError, InputError, MissingDependency, UsageError, describe

#: The most a request to a store fetches beyond what a read asks (see :class:`RemoteFile`); an .npy run
#: asks for exactly its own range.
READ_BLOCK = 8 << 20
#: The read-ahead of a file's first request, and after a seek.
FIRST_AHEAD = 64 << 10

#: The package that reads each scheme (fsspec names the rest when they are missing).
PACKAGES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs",
            "abfss": "adlfs", "adl": "adlfs", "http": "aiohttp", "https": "aiohttp", "hf": "huggingface_hub"}
#: Schemes that name local files (``file://`` URLs are turned into paths before anything is read).
LOCAL = frozenset({"file", "local"})

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):/+")
_GLOB = re.compile(r"[*?[]")


# ------------------------------------------------------------------------------------------- naming


def scheme_of(text: str) -> str | None:
    """The scheme of ``text`` written as a URL (``scheme://``), lower case; None for anything else
    (a one-letter scheme is a Windows drive)."""
    match = _SCHEME.match(text)
    if match is None or len(match.group(1)) < 2 or not text[match.end(1):].startswith("://"):
        return None
    return match.group(1).lower()


def url(location: str | os.PathLike) -> str | None:
    """The URL a location names (its ``//`` restored where a Path collapsed it), or None for a
    local path."""
    text = location if isinstance(location, str) else os.fspath(location)
    if ":/" not in text:
        return None
    match = _SCHEME.match(text)
    if match is None:
        return None
    scheme = match.group(1).lower()
    if scheme in LOCAL or scheme not in remote_schemes():
        return None
    return f"{scheme}://{text[match.end():]}"


def is_url(location: str | os.PathLike) -> bool:
    return url(location) is not None


def remote_schemes() -> frozenset[str]:
    """Schemes read as URLs: those of :data:`PACKAGES` and every protocol fsspec knows (when it is
    installed), but local files."""
    global _SCHEMES
    if _SCHEMES is None:
        known = set(PACKAGES)
        try:
            from fsspec.registry import known_implementations
        except ImportError:
            pass
        else:
            known.update(known_implementations)
        _SCHEMES = frozenset(known - LOCAL)
    return _SCHEMES


_SCHEMES: frozenset[str] | None = None

_PathBase = WindowsPath if os.name == "nt" else PosixPath


class RemotePath(_PathBase):
    """A URL as a :class:`~pathlib.Path`: ``name``, ``suffix``, ``parent`` and ``/`` work on its
    path part, ``str()`` gives the URL back, and the file operations a reader uses (``stat``,
    ``exists``, ``is_file``, ``is_dir``, ``open``, ``read_bytes``, ``iterdir``) ask the store."""

    __slots__ = ()

    def __str__(self) -> str:
        text = super().__str__()
        if os.name == "nt":
            text = text.replace("\\", "/")
        return url(text) or text

    def __fspath__(self) -> str:
        # A library that opens the path itself fails on the URL's name, not on a collapsed local path.
        return str(self)

    def __repr__(self) -> str:
        return f"RemotePath({str(self)!r})"

    @property
    def name(self) -> str:
        # A web URL's query (a presigned URL's signature) is not part of the file's name: the
        # extension before it picks the reader.
        name = super().name
        if self.parts and self.parts[0].lower() in ("http:", "https:"):
            return name.split("?", 1)[0]
        return name

    def as_uri(self) -> str:
        return str(self)

    @property
    def url(self) -> str:
        return str(self)

    def absolute(self) -> RemotePath:
        return self

    def resolve(self, strict: bool = False) -> RemotePath:
        return self

    def expanduser(self) -> RemotePath:
        return self

    def stat(self, *, follow_symlinks: bool = True) -> os.stat_result:
        info = _info(str(self))
        if info is None:
            raise FileNotFoundError(2, "no such file or object", str(self))
        mode = (_stat.S_IFDIR | 0o555) if info["type"] == "directory" else (_stat.S_IFREG | 0o444)
        return os.stat_result((mode, 0, 0, 1, 0, 0, info["size"], 0, 0, 0))

    def exists(self, *, follow_symlinks: bool = True) -> bool:
        return _info(str(self)) is not None

    def is_file(self) -> bool:
        info = _info(str(self))
        return info is not None and info["type"] == "file"

    def is_dir(self) -> bool:
        info = _info(str(self))
        return info is not None and info["type"] == "directory"

    def is_symlink(self) -> bool:
        return False

    def open(self, mode: str = "r", buffering: int = -1, encoding: str | None = None,
             errors: str | None = None, newline: str | None = None):
        return open(self, mode, buffering, encoding, errors, newline)

    def read_bytes(self) -> bytes:
        with open(self, "rb") as fh:
            return fh.read()

    def read_text(self, encoding: str | None = None, errors: str | None = None) -> str:
        with open(self, "r", encoding=encoding, errors=errors) as fh:
            return fh.read()

    def iterdir(self) -> Iterator[RemotePath]:
        address = str(self)
        fs, path = filesystem(address)
        with _store_errors(address):
            entries = fs.ls(path, detail=True)
        for entry in entries:
            _remember(fs, entry)
            yield RemotePath(fs.unstrip_protocol(entry["name"]))


def as_path(location: str | os.PathLike) -> Path:
    """A :class:`RemotePath` for a URL (either form), else ``Path(location)``."""
    if isinstance(location, RemotePath):
        return location
    address = url(location)
    return RemotePath(address) if address is not None else Path(location)


# ---------------------------------------------------------------------------------------- file systems


def filesystem(address: str) -> tuple[Any, str]:
    """The fsspec file system of a URL and the path inside it (``AWS_ENDPOINT_URL_S3`` or
    ``AWS_ENDPOINT_URL`` given to ``s3://`` explicitly, for botocore versions that do not read it)."""
    scheme = scheme_of(address) or ""
    package = PACKAGES.get(scheme, "fsspec")
    try:
        import fsspec.core
    except ImportError:
        raise MissingDependency("fsspec", f"{address}: reading {scheme}:// URLs", "cloud") from None
    options: dict[str, Any] = {}
    if scheme in ("s3", "s3a"):
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            options["endpoint_url"] = endpoint
    try:
        return fsspec.core.url_to_fs(address, **options)
    except ImportError as exc:
        raise _missing(address, package, exc) from None
    except ValueError as exc:  # fsspec: "Protocol not known"
        raise UsageError(f"{address}: cannot read {scheme}:// URLs ({describe(exc)})") from None


def _missing(address: str, package: str, exc: ImportError) -> MissingDependency:
    """The package a URL's file system needs (the ``cloud`` extra holds those of S3, GCS, Azure and
    the web; fsspec names the others)."""
    found = re.search(r"[Ii]nstall (\S+)", str(exc))
    name = found.group(1) if found and package == "fsspec" else package
    extra = "cloud" if name in ("s3fs", "gcsfs", "adlfs", "aiohttp", "fsspec") else None
    return MissingDependency(name, f"{address}: reading {scheme_of(address)}:// URLs", extra)


@contextlib.contextmanager
def _store_errors(address: str) -> Iterator[None]:
    """What a store raises, as one line naming the URL (a bug in bceweights is never caught here:
    only calls into fsspec run inside)."""
    try:
        yield
    except BceWeightsError:
        raise
    except FileNotFoundError:
        raise InputError(f"{address}: no such file or object") from None
    except IsADirectoryError:
        raise InputError(f"{address}: is a folder (a prefix), not a file") from None
    except PermissionError as exc:
        raise InputError(f"{address}: access denied ({describe(exc)})",
                         hint=_credentials_hint(address)) from None
    except ImportError as exc:
        scheme = scheme_of(address) or ""
        raise _missing(address, PACKAGES.get(scheme, "fsspec"), exc) from None
    except Exception as exc:
        name = type(exc).__name__
        if "Credential" in name:
            raise InputError(f"{address}: no credentials found ({describe(exc)})",
                             hint=_credentials_hint(address)) from None
        if isinstance(exc, ConnectionError) or "Connect" in name or "Timeout" in name:
            raise InputError(f"{address}: cannot reach the store ({describe(exc)})",
                             hint="check the network" + (", and AWS_ENDPOINT_URL for an S3-compatible store"
                                                         if address.startswith("s3") else "")) from None
        raise InputError(f"{address}: cannot read ({name}: {describe(exc)})") from None


def _credentials_hint(address: str) -> str:
    scheme = scheme_of(address)
    if scheme in ("s3", "s3a"):
        return ("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), and AWS_ENDPOINT_URL for "
                "a store other than AWS; on a Dask cluster, where the workers run too")
    if scheme in ("gs", "gcs"):
        return "set GOOGLE_APPLICATION_CREDENTIALS, or run gcloud auth application-default login"
    if scheme in ("az", "abfs", "abfss", "adl"):
        return "set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT_NAME with a key, or run az login"
    return "check the credentials for this store"


#: What the store said about each URL asked so far (or listed by an expansion): type and size. A run
#: reads a fixed set of objects, so each is asked once per process.
_INFO: dict[str, dict[str, Any] | None] = {}


def _remember(fs: Any, entry: dict[str, Any]) -> dict[str, Any]:
    info = {"type": "directory" if entry.get("type") == "directory" else "file",
            "size": int(entry.get("size") or 0)}
    _INFO[fs.unstrip_protocol(entry["name"])] = info
    return info


def _info(location: str | os.PathLike) -> dict[str, Any] | None:
    address = url(location)
    assert address is not None, location
    if address in _INFO:
        return _INFO[address]
    fs, path = filesystem(address)
    try:
        entry = fs.info(path)
    except FileNotFoundError:
        return None
    except Exception:
        with _store_errors(address):
            raise
    info = {"type": "directory" if entry.get("type") == "directory" else "file",
            "size": int(entry.get("size") or 0)}
    _INFO[address] = info
    return info


def forget() -> None:
    """Forget what the stores said (sizes, which names are folders): for a long-lived process whose
    objects change between runs."""
    _INFO.clear()


# ---------------------------------------------------------------------------------------- expanding


def expand(address: str, extensions: tuple[str, ...]) -> list[RemotePath] | RemotePath:
    """A URL as the store lists it: a glob (``*``, ``?``, ``[``; ``**`` spans folders) → the objects
    it matches; a prefix (a folder) → the object itself, returned alone, when ``extensions`` is empty,
    else every object under it whose name ends with one of ``extensions``; an object → itself. Sorted;
    one request per listing, whatever the number of objects."""
    fs, path = filesystem(address)
    if _GLOB.search(path):
        with _store_errors(address):
            found = fs.glob(path, detail=True)
        files = sorted(fs.unstrip_protocol(name) for name, entry in found.items()
                       if _remember(fs, entry)["type"] == "file")
        if not files:
            raise InputError(f"{address}: the pattern matches no object")
        return [RemotePath(f) for f in files]
    info = _info(address)
    if info is None:
        raise InputError(f"{address}: no such file, object or prefix")
    if info["type"] == "file":
        return RemotePath(address)
    if not extensions:
        return RemotePath(address)
    with _store_errors(address):
        found = fs.find(path, detail=True)
    files = sorted(fs.unstrip_protocol(name) for name, entry in found.items()
                   if _remember(fs, entry)["type"] == "file" and name.lower().endswith(extensions))
    if not files:
        raise InputError(f"{address}: the prefix holds no label file",
                         hint="pass the objects, or a glob such as 's3://bucket/masks/*.png'")
    return [RemotePath(f) for f in files]


# ------------------------------------------------------------------------------------------ reading


def size(location: str | os.PathLike) -> int:
    """The size in bytes of a file or object (``OSError`` for a missing local file, as
    ``os.path.getsize``)."""
    if url(location) is None:
        return os.path.getsize(location)
    info = _info(location)
    if info is None:
        raise FileNotFoundError(2, "no such file or object", url(location))
    return info["size"]


def open(file, mode: str = "r", buffering: int = -1, encoding: str | None = None, errors: str | None = None,
         newline: str | None = None, closefd: bool = True, opener=None):
    """The builtin ``open`` for local files; a URL opened for reading as a seekable stream of ranged
    reads (binary: a raw file object; text: decoded as the builtin would)."""
    address = url(file) if isinstance(file, (str, os.PathLike)) else None
    if address is None:
        return builtins.open(file, mode, buffering, encoding, errors, newline, closefd, opener)
    if any(ch in mode for ch in "wax+"):
        raise InputError(f"{address}: bceweights only reads URLs; write outputs to a local path")
    # Buffered, as the builtin's: lines (ARFF, error lookups) and small reads come from memory, large
    # reads go straight to the store's stream.
    stream = io.BufferedReader(RemoteFile(address), LINE_BUFFER)
    if "b" in mode:
        return stream
    return io.TextIOWrapper(stream, encoding=io.text_encoding(encoding), errors=errors, newline=newline)


#: The buffer in front of a URL's stream for line-by-line reading.
LINE_BUFFER = 1 << 16


def source(location: str | os.PathLike):
    """For a library that takes a path or a file object: a local path as it is (the library opens it
    its own way, memory-mapped or not), a URL as an open binary stream (see :func:`open`)."""
    return open(location, "rb") if is_url(location) else location


def arrow_file(location: str | os.PathLike):
    """A pyarrow input file: ``pa.OSFile`` for a local path, the URL's stream wrapped for a URL."""
    import pyarrow as pa

    address = url(location)
    if address is None:
        return pa.OSFile(os.fspath(location))
    return pa.PythonFile(RemoteFile(address), mode="r")


class RemoteFile(io.RawIOBase):
    """A URL opened for reading, seekable, fetched in ranged requests that grow while it is read in
    order: a request fetches what a read asks plus a read-ahead that starts at ``FIRST_AHEAD`` and
    doubles up to ``READ_BLOCK`` (a sniff of 4 bytes costs 64 KiB, a CSV streamed in 4 MiB chunks
    costs one request per chunk); a seek elsewhere starts small again (a Parquet footer, then its
    column chunks). Every store error is one :class:`~bceweights.errors.InputError` naming the URL,
    when a read fails midway as when the URL is opened."""

    def __init__(self, address: str) -> None:
        super().__init__()
        self.name = address
        self._fs, self._path = filesystem(address)
        info = _info(address)
        if info is None:
            raise InputError(f"{address}: no such file or object")
        if info["type"] == "directory":
            raise InputError(f"{address}: is a folder (a prefix), not a file")
        self.size: int = info["size"]
        self._pos = 0
        self._buffer = b""
        self._start = 0  # where the buffer starts in the file
        self._ahead = FIRST_AHEAD // 2  # doubled by the first request

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.closed:
            raise ValueError("read of a closed file")
        stop = self.size if size is None or size < 0 else min(self.size, self._pos + size)
        if stop <= self._pos:
            return b""
        end = self._start + len(self._buffer)
        if not self._start <= self._pos < end:
            self._fill(self._pos, stop)
        elif stop > end:
            kept = self._buffer[self._pos - self._start:]
            self._fill(end, stop)
            self._buffer, self._start = kept + self._buffer, self._pos
        data = self._buffer[self._pos - self._start:stop - self._start]
        self._pos += len(data)
        return data

    def _fill(self, start: int, stop: int) -> None:
        sequential = start == self._start + len(self._buffer)
        self._ahead = min(READ_BLOCK, self._ahead * 2) if sequential else FIRST_AHEAD
        end = min(self.size, stop + self._ahead)
        with _store_errors(self.name):
            data = self._fs.cat_file(self._path, start=start, end=end)
        if len(data) > end - start and len(data) == self.size:
            data = data[start:end]  # a web server that ignores ranges sends the whole file
        if len(data) < stop - start:
            raise InputError(f"{self.name}: the object is shorter than its listed size (changed while read?)")
        self._buffer, self._start = data, start

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[:len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 1:
            offset += self._pos
        elif whence == 2:
            offset += self.size
        if offset < 0:
            raise OSError(22, f"{self.name}: negative seek position {offset}")
        self._pos = offset
        return offset

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        self._buffer = b""
        super().close()

    def __repr__(self) -> str:
        return f"<RemoteFile {self.name!r}>"


def read_range(location: str | os.PathLike, start: int, stop: int) -> bytes:
    """Bytes ``[start, stop)`` of a file or object, in one request for a URL."""
    address = url(location)
    if address is None:
        with builtins.open(location, "rb") as fh:
            fh.seek(start)
            return fh.read(stop - start)
    fs, path = filesystem(address)
    with _store_errors(address):
        data = fs.cat_file(path, start=start, end=stop)
    # A range answer is never longer than asked: this is the whole file, from a server that ignores ranges.
    return data[start:stop] if len(data) > stop - start else data


# --------------------------------------------------------------------------------------------- .npy


def load_npy(location: str | os.PathLike, *, ranged: bool = True):
    """An ``.npy`` file as ``np.load(path, mmap_mode="r", allow_pickle=False)`` gives it for a local
    path (an ``.npz`` archive too, as an ``NpzFile``). For a URL: a :class:`RangedArray` (rows read
    by range as they are sliced) when the array is C-ordered and ``ranged``, else the whole array."""
    import numpy as np

    address = url(location)
    if address is None:
        return np.load(location, mmap_mode="r", allow_pickle=False)
    head = read_range(address, 0, 1 << 16)
    if ranged and head.startswith(b"\x93NUMPY"):
        from numpy.lib import format as npformat

        fh = io.BytesIO(head)
        version = npformat.read_magic(fh)
        reader = npformat.read_array_header_1_0 if version == (1, 0) else npformat.read_array_header_2_0
        with _store_errors(address):
            shape, fortran, dtype = reader(fh)
        if not fortran and not dtype.hasobject and len(shape) >= 1:
            return RangedArray(address, fh.tell(), dtype, tuple(shape))
    return np.load(open(address, "rb"), allow_pickle=False)


class RangedArray:
    """A C-ordered ``.npy`` in object storage, read by range: slicing the first axis reads nothing,
    ``np.asarray`` reads the rows of the slice in one request. It offers what the array readers use of
    a memory map: ``shape``, ``dtype``, ``ndim``, first-axis slices, ``[:, None]`` and ``transpose``
    (``np.moveaxis``) that keeps the first axis first; anything else reads the rows whole."""

    def __init__(self, address: str, offset: int, dtype, shape: tuple[int, ...], *, start: int = 0,
                 stop: int | None = None, view: tuple[int, ...] | None = None,
                 axes: tuple[int, ...] | None = None) -> None:
        self.address, self.offset, self.dtype, self.stored = address, offset, dtype, shape
        self.start = start
        self.stop = shape[0] if stop is None else stop
        self.view = view if view is not None else shape[1:]  # a row's shape (before ``axes``)
        self.axes = axes

    @property
    def shape(self) -> tuple[int, ...]:
        rows = (self.stop - self.start,)
        if self.axes is None:
            return rows + tuple(self.view)
        full = rows + tuple(self.view)
        return tuple(full[a] for a in self.axes)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        import math

        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def _with(self, **changes) -> RangedArray:
        out = RangedArray.__new__(RangedArray)
        out.__dict__.update(self.__dict__)
        out.__dict__.update(changes)
        return out

    def __getitem__(self, key):
        if isinstance(key, slice) and key.step in (None, 1):
            first, last, _ = key.indices(len(self))
            return self._with(start=self.start + first, stop=self.start + max(first, last))
        if (self.axes is None and len(self.view) == 0 and isinstance(key, tuple) and len(key) == 2
                and key[0] == slice(None) and key[1] is None):
            return self._with(view=(1,))
        return self.__array__()[key]

    def transpose(self, *axes):
        import numpy as np

        order = tuple(axes[0]) if len(axes) == 1 and isinstance(axes[0], (list, tuple)) else tuple(axes)
        if not order or order == tuple(range(self.ndim)):
            return self
        if self.axes is None and order[0] == 0:
            return self._with(axes=order)
        return np.asarray(self).transpose(order)

    def __array__(self, dtype=None, copy=None):
        import math

        import numpy as np

        row = math.prod(self.stored[1:]) * self.dtype.itemsize
        data = read_range(self.address, self.offset + self.start * row, self.offset + self.stop * row)
        if len(data) != (self.stop - self.start) * row:
            raise InputError(f"{self.address}: the .npy file is truncated")
        out = np.frombuffer(data, dtype=self.dtype).reshape((self.stop - self.start,) + tuple(self.view))
        if self.axes is not None:
            out = out.transpose(self.axes)
        return out if dtype is None else out.astype(dtype)

    def __repr__(self) -> str:
        return f"<RangedArray {self.address} rows {self.start}-{self.stop} of {self.stored}, {self.dtype}>"
