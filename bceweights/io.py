"""Files written safely: atomic writes (a temp file beside the target, renamed over it), the output
path checks done before a long scan, and loading a ``.pt`` with ``weights_only=True`` (its contents are
described in :mod:`bceweights.payload`).

What is never renamed over: a character device (``/dev/null``), a FIFO or a file reached through a
process's descriptors (``/dev/stdout``, ``/proc/self/fd/1``) is opened and written in place; a
symbolic link keeps pointing where it did (the file it points to is replaced). ``-`` is stdout.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from .errors import InputError, MissingPathError, OutputError, describe

#: The path that means stdout.
STDOUT = "-"


def is_stdout(path: Path | str | None) -> bool:
    """Whether ``path`` is ``-``, stdout (a file named ``-`` is ``./-``)."""
    return path is not None and str(path) == STDOUT


def written_in_place(path: Path | str) -> bool:
    """Whether ``path`` is written by opening it, not by a rename over it: an existing character device
    or FIFO, or a file reached through a process's descriptors (``/dev/stdout``, ``/dev/fd/N``,
    ``/proc/...``): when stdout is redirected to a file, that file is the shell's, and renaming over it
    would leave the shell writing to a deleted one."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        return True
    parts = Path(os.path.abspath(path)).parts[1:3]
    # A process's own descriptors (/dev/stdout, /dev/fd/N, /proc/self/fd/N), not /dev/shm's files.
    return stat.S_ISREG(mode) and bool(parts) and (
        parts[0] == "proc" or parts[0] == "dev" and len(parts) > 1 and parts[1] in ("stdout", "stderr", "fd"))


def _target(path: Path) -> Path:
    """The file a rename replaces: a symlink's target (so the link stays a link), else ``path``."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


_KINDS = ((stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"))


def check_output_path(path: Path | str) -> Path:
    """Fail early, before a long scan, when ``path`` cannot be written.

    The check is a real probe (a temp file created and removed beside ``path``), not ``os.access``
    alone: root passes ``os.access`` on read-only directories, NFS with root squash and pseudo file
    systems such as /sys, where writing still fails. ``-`` (stdout), a character device and a FIFO
    are written in place and need no probe.
    """
    if is_stdout(path):
        return Path(STDOUT)
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except OSError:
        mode = None
    if mode is not None and stat.S_ISDIR(mode):
        raise OutputError(f"{path}: is a directory", hint="give a file name, e.g. weights.pt")
    if mode is not None and not stat.S_ISREG(mode):
        kind = next((word for test, word in _KINDS if test(mode)), None)
        if kind is not None:
            raise OutputError(f"{path}: is {kind}; outputs are files, a character device (/dev/null) "
                              "or a FIFO", hint="choose another output path")
    if written_in_place(path):
        if not os.access(path, os.W_OK):
            raise OutputError(f"{path}: is not writable", hint="choose another output path")
        return path
    parent = _parent(_target(path))
    if not parent.exists():
        blocker = next((p for p in [parent, *parent.parents] if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            raise OutputError(f"{path}: {blocker} is a file, not a directory",
                              hint="choose an output path inside a directory")
        raise OutputError(f"{path}: the directory {parent} does not exist",
                          hint=f"create it first: mkdir -p {parent}")
    if not parent.is_dir():
        raise OutputError(f"{path}: {parent} is a file, not a directory",
                          hint="choose an output path inside a directory")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"{path}: the directory {parent} is not writable",
                          hint="choose another output path with -o")
    try:
        fd, probe = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=".tmp", dir=parent)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write in {parent} ({exc.strerror or exc})",
                          hint="choose another output path with -o") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return path


#: A temp file of ours older than this is left over by a killed run (SIGKILL, power loss) and removed
#: by the next write of the same path; a live write takes well under a second.
STALE_TEMP_SECONDS = 10.0


def _new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _parent(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def _temp_prefix(path: Path) -> str:
    # The pid tells a later run whether the writer of a leftover temp file is still alive.
    return f".{path.name}.{os.getpid()}-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. EPERM: it exists, owned by someone else
        return True
    return True


def remove_stale_temps(path: Path | str) -> list[Path]:
    """Remove temp files left beside ``path`` by an earlier, killed write of it (SIGKILL cannot be
    cleaned up after): those whose writer is gone, or that are older than an hour. Returns them."""
    import re
    import time

    path = Path(path)
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(\d+)-[^/]*\.tmp$")
    removed = []
    now = time.time()
    try:
        entries = list(os.scandir(_parent(path)))
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if not match or not entry.is_file(follow_symlinks=False):
            continue
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        pid = int(match.group(1))
        if age > STALE_TEMP_SECONDS and (age > 3600 or pid == os.getpid() or not _pid_alive(pid)):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


@contextlib.contextmanager
def atomic_write(path: Path | str, mode: str = "wb") -> Iterator[IO[Any]]:
    """Write to a temp file beside ``path`` and rename it over ``path`` only on success: a failure or
    Ctrl-C leaves any earlier file intact and no partial one. (A SIGKILL mid-write can leave the temp
    file ``.NAME.PID-XXXX.tmp``; the next write of ``path`` removes it.)

    ``-`` writes to stdout, all at once on success; a character device, a FIFO and what lies under
    ``/dev`` or ``/proc`` are written in place (see :func:`written_in_place`); a symbolic link keeps
    pointing where it did, at the new file."""
    if is_stdout(path):
        with _to_stdout(mode) as fh:
            yield fh
        return
    path = check_output_path(path)
    if written_in_place(path):
        with _in_place(path, mode) as fh:
            yield fh
        return
    user_path, path = path, _target(path)
    remove_stale_temps(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=".tmp", dir=_parent(path))
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    try:
        with _terminate_unwinds(), os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
            fh.flush()
            # mkstemp creates 0600; the result should have the mode any new file gets here.
            os.fchmod(fh.fileno(), _new_file_mode())
            os.fsync(fh.fileno())
            os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise OutputError(f"{user_path}: cannot write ({exc.strerror or exc}); any earlier file is "
                              "unchanged") from exc
        raise


@contextlib.contextmanager
def _to_stdout(mode: str) -> Iterator[IO[Any]]:
    """Collected in memory and written on success only: a failure leaves stdout without half a file."""
    import io as _io

    binary = "b" in mode
    buffer: IO[Any] = _io.BytesIO() if binary else _io.StringIO()
    yield buffer
    try:
        if binary:
            sys.stdout.flush()
            sys.stdout.buffer.write(buffer.getvalue())
            sys.stdout.buffer.flush()
        else:
            sys.stdout.write(buffer.getvalue())
            sys.stdout.flush()
    except OSError as exc:
        raise OutputError(f"stdout: cannot write ({exc.strerror or exc})") from exc


@contextlib.contextmanager
def _in_place(path: Path, mode: str) -> Iterator[IO[Any]]:
    """Opened and written as it is: a device or a FIFO has no "beside" to rename from."""
    try:
        with open(path, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from exc


@contextlib.contextmanager
def _terminate_unwinds() -> Iterator[None]:
    """While a temp file exists, SIGTERM raises SystemExit (like Ctrl-C raises KeyboardInterrupt), so
    the temp file is removed. Outside writes SIGTERM keeps its default: there is nothing to clean up,
    and a Python handler would let pyarrow's signal interception swallow it mid-scan."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous not in (signal.SIG_DFL, None):
        yield
        return

    def terminate(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def write_text(path: Path | str, text: str) -> None:
    with atomic_write(path, "w") as fh:
        fh.write(text)


def write_with(path: Path | str, writer: Callable[[IO[bytes]], None]) -> None:
    with atomic_write(path, "wb") as fh:
        writer(fh)


def save(payload: dict[str, Any], path: Path | str) -> Path:
    """Save a payload dict atomically with ``torch.save``."""
    import torch

    write_with(path, lambda fh: torch.save(payload, fh))
    return Path(path)


def load(path: Path | str, *, ndim: int | None = None, device: str | None = None) -> dict[str, Any]:
    """Load a bceweights ``.pt`` safely (``weights_only=True``) and check it is one of ours.

    ``ndim`` reshapes ``pos_weight`` and ``class_weight`` to broadcast over a channels-first target of
    that rank: 2 for ``[N, C]``, 4 for ``[N, C, H, W]``, 5 for ``[N, C, D, H, W]``.
    """
    import pickle
    import warnings

    import torch

    path = Path(path)
    if not path.exists():
        raise MissingPathError(f"{path}: no such file", hint="create one with: bceweights compute LABELS -o "
                               "weights.pt")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a weights file")
    hint = "create one with: bceweights compute LABELS -o weights.pt"
    with open(path, "rb") as fh:
        head = fh.read(4)
    if not head:
        raise InputError(f"{path}: the file is empty, not a weights file", hint=hint)
    if not head.startswith((b"PK", b"\x80")):  # torch.save writes a zip; old torch a pickle
        raise InputError(f"{path}: not a weights file written by bceweights (not a PyTorch file: it "
                         f"starts with {head!r})", hint=hint)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = torch.load(path, map_location=device or "cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only" in str(exc).lower():
            raise InputError(
                f"{path}: not a weights file written by bceweights: it holds pickled Python objects, "
                "which bceweights never loads (it reads .pt files with weights_only=True)", hint=hint,
            ) from None
        raise InputError(f"{path}: not a weights file written by bceweights (not a PyTorch file: "
                         f"{describe(exc)})", hint=hint) from None
    except Exception as exc:  # torch.load fails on foreign bytes with any of a dozen exception types
        raise InputError(f"{path}: not a weights file written by bceweights ({type(exc).__name__}: "
                         f"{describe(exc)})", hint=hint) from None
    from .payload import problem as payload_problem

    problem = payload_problem(data)
    if problem:
        raise InputError(f"{path}: not a weights file written by bceweights ({problem})", hint=hint)
    if ndim is not None:
        data = dict(data)
        for key in ("pos_weight", "class_weight"):
            data[key] = shape_for(data[key].reshape(-1), ndim)
    return data


def shape_for(vector, ndim: int):
    """A ``[C]`` vector reshaped as ``[C, 1, ..., 1]`` to broadcast over a target of rank ``ndim``
    whose class axis is 1 (``[N, C, *spatial]``)."""
    if ndim < 2:
        raise ValueError("a BCE target has at least 2 dimensions: [N, C]")
    return vector.reshape(-1, *([1] * (ndim - 2)))
