"""The ``.pt`` file: a plain dict of tensors and plain values, written atomically.

Keys (the contract): ``classes`` (list of str), ``pos_count`` and ``neg_count`` (float64 ``[C]``),
``pos_weight`` and ``class_weight`` (float32; ``[C]`` for tables and arrays, ``[C, 1, 1]`` for 2-D masks,
``[C, 1, 1, 1]`` for 3-D volumes), ``image_count`` (int64 ``[C]``, masks only), ``meta`` (plain values).
It loads with ``torch.load(path, weights_only=True)``; bceweights never loads with ``weights_only=False``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from .errors import BceWeightsError, InputError

FORMAT_NAME = "bceweights"
FORMAT_VERSION = 1
REQUIRED_KEYS = ("classes", "pos_count", "neg_count", "pos_weight", "class_weight", "meta")


def check_output_path(path: Path | str) -> Path:
    """Fail early, before a long scan, when ``path`` cannot be written."""
    path = Path(path)
    if path.is_dir():
        raise BceWeightsError(f"{path}: is a directory", hint="give a file name, e.g. weights.pt")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise BceWeightsError(f"{path}: the directory {parent} does not exist",
                              hint=f"create it first: mkdir -p {parent}")
    if not os.access(parent, os.W_OK):
        raise BceWeightsError(f"{path}: the directory {parent} is not writable")
    return path


@contextlib.contextmanager
def atomic_write(path: Path | str, mode: str = "wb") -> Iterator[IO[Any]]:
    """Write to a temp file beside ``path`` and rename it over ``path`` only on success: a failure or
    Ctrl-C leaves any earlier file intact and no partial one."""
    path = check_output_path(path)
    parent = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


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

    import torch

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a weights file")
    try:
        data = torch.load(path, map_location=device or "cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, AttributeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: not a weights file written by bceweights ({first[:200]})") from None
    if not isinstance(data, dict) or any(k not in data for k in REQUIRED_KEYS):
        raise InputError(
            f"{path}: not a weights file written by bceweights (expected a dict with keys "
            f"{', '.join(REQUIRED_KEYS)})",
            hint="create one with: bceweights compute LABELS -o weights.pt",
        )
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
