"""The reader registry: which reader handles a path.

Readers register in the ``bceweights.readers`` entry-point group (the built-in ones too, in
``pyproject.toml``), so a third party adds a format by installing a package (``docs/readers.md``).
Dispatch, as in imageio: an explicit ``--format`` → the file's extension (the longest match; a shared
extension is settled by :meth:`~bceweights.readers.base.Reader.claims`, then by sniffing) → the content
(the highest :meth:`~bceweights.readers.base.Reader.sniff` score). Reader modules are imported when the
registry is first used, never by ``bceweights --help``; their heavy packages load inside their methods.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError, UsageError
from ..locations import as_path, open  # local paths and URLs alike

if TYPE_CHECKING:
    from ..spec import InputSpec
    from .base import Reader

GROUP = "bceweights.readers"

#: The built-in readers, as ``pyproject.toml`` registers them (a test keeps the two equal). Used as they
#: are when the package's metadata cannot be found (run from a source tree that was never installed).
BUILTIN: dict[str, str] = {
    # Before csv, which shares .txt: an empty YOLO label file (an image without objects) sniffs as
    # nothing, and a tie goes to the first reader.
    "yolo": "bceweights.readers.yolo:YoloReader",
    "csv": "bceweights.readers.delimited:CsvReader",
    "tsv": "bceweights.readers.delimited:TsvReader",
    "parquet": "bceweights.readers.parquet:ParquetReader",
    "arrow": "bceweights.readers.arrow:ArrowReader",
    "jsonl": "bceweights.readers.jsonl:JsonlReader",
    "npy": "bceweights.readers.arrays:NpyReader",
    "npz": "bceweights.readers.arrays:NpzReader",
    "pt": "bceweights.readers.arrays:PtReader",
    "arff": "bceweights.readers.arff:ArffReader",
    "png": "bceweights.readers.masks:PngReader",
    "tiff": "bceweights.readers.masks:TiffReader",
    "nifti": "bceweights.readers.masks:NiftiReader",
    "npy-mask": "bceweights.readers.masks:NpyMaskReader",
    "coco": "bceweights.readers.coco:CocoReader",
    "voc": "bceweights.readers.voc:VocReader",
}

#: Bytes read from a file to sniff its format.
SNIFF_BYTES = 4096


def _load_target(target: str):
    module, _, attr = target.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


def _instance(obj) -> Reader:
    from .base import Reader

    reader = obj() if isinstance(obj, type) else obj
    if not isinstance(reader, Reader) or not reader.name:
        raise TypeError(f"{obj!r} is not a bceweights reader (a named subclass of bceweights.readers.base.Reader)")
    return reader


@functools.cache
def builtin() -> dict[str, Reader]:
    """The built-in readers, by name, in their order."""
    return {name: _instance(_load_target(target)) for name, target in BUILTIN.items()}


@functools.cache
def readers() -> dict[str, Reader]:
    """Every registered reader by name: the built-ins first, in their order, then the installed
    third-party ones by name. A third-party reader may not take a built-in's name."""
    from importlib.metadata import entry_points

    out = dict(builtin())
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        if ep.name in BUILTIN:
            continue  # our own entry (installed) or a clash with a built-in name, which keeps the built-in
        try:
            reader = _instance(ep.load())
        except Exception as exc:  # a broken plugin must not take the built-in formats down with it
            import warnings

            warnings.warn(f"bceweights: cannot load the reader {ep.name!r} ({ep.value}): {exc}", stacklevel=2)
            continue
        if reader.name != ep.name:
            raise TypeError(f"the reader registered as {ep.name!r} is named {reader.name!r}")
        out[ep.name] = reader
    return out


def register(reader: Reader | type[Reader]) -> Reader:
    """Add (or replace) a reader at run time, for a script or a test; installed readers use the
    ``bceweights.readers`` entry-point group instead."""
    instance = _instance(reader)
    readers()[instance.name] = instance
    _by_extension.cache_clear()
    _builtin_extensions.cache_clear()
    return instance


def clear() -> None:
    """Forget every reader found so far (after installing a package, the next use looks again)."""
    builtin.cache_clear()
    readers.cache_clear()
    _by_extension.cache_clear()
    _builtin_extensions.cache_clear()


def get(name: str) -> Reader:
    """The reader called ``name`` (``--format NAME``); an unknown name is a usage error."""
    name = name.lower()
    found = builtin().get(name) or readers().get(name)
    if found is None:
        raise UsageError(f"unknown --format {name!r}; choose one of {', '.join(names())}")
    return found


def names() -> list[str]:
    return sorted(readers())


def known_extensions() -> tuple[str, ...]:
    return tuple(dict.fromkeys(ext for _, ext in _by_extension()))


@functools.cache
def _by_extension() -> list[tuple[Reader, str]]:
    """Every (reader, extension), the longest extensions first (ties in registration order)."""
    return _extension_table(readers().values())


@functools.cache
def _builtin_extensions() -> list[tuple[Reader, str]]:
    return _extension_table(builtin().values())


def _extension_table(found) -> list[tuple[Reader, str]]:
    pairs = [(reader, ext) for reader in found for ext in reader.extensions]
    return sorted(pairs, key=lambda pair: -len(pair[1]))


def head(path: Path, size: int = SNIFF_BYTES) -> bytes:
    """The first bytes of ``path``, inflated when it is gzip (a ``.gz`` of text sniffs as text); b"" when
    it cannot be read."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(size)
    except OSError:
        return b""
    if data[:2] == b"\x1f\x8b":
        import zlib

        try:
            return zlib.decompressobj(wbits=31).decompress(data, size)
        except zlib.error:
            return data
    return data


def resolve(path: Path, spec: InputSpec) -> Reader:
    """The reader for ``path``: ``--format``, else the longest matching extension (a shared one
    settled by ``claims`` and sniffing), else the content."""
    path = as_path(path)
    if spec.format:
        named = get(spec.format)
        if named.claims(path, spec):
            return named
        # The named format defers to another reader of its files under these options (--format npy
        # with --mask-mode index reads .npy masks).
        shared = set(named.extensions)
        return next((r for r in readers().values()
                     if r is not named and shared & set(r.extensions) and r.claims(path, spec)), named)
    if path.is_dir():
        for reader in readers().values():
            if reader.claims_folder(path, spec):
                return reader
        raise InputError(f"{path}: is a folder no reader takes as a whole")
    name = path.name.lower()
    # The built-ins first: the installed third-party readers are looked up (an entry-point scan, ~30 ms)
    # only for a file no built-in takes by its extension.
    candidates = _by_name(name, path, spec, _builtin_extensions()) or _by_name(name, path, spec, _by_extension())
    if len(candidates) == 1:
        return candidates[0]
    data = head(path)
    best = _best_sniff(candidates or readers().values(), data, path)
    if best is not None:
        return best
    if candidates:
        return candidates[0]
    raise InputError(
        f"{path}: cannot tell the format from the name or the content",
        hint=f"pass --format, one of {', '.join(names())}",
    )


def _by_name(name: str, path: Path, spec: InputSpec, table: list[tuple[Reader, str]]) -> list[Reader]:
    """The readers whose longest matching extension ends ``name`` and that claim the file."""
    candidates: list[Reader] = []
    matched = 0
    for reader, ext in table:
        if len(ext) < matched:
            break
        if name.endswith(ext) and reader.claims(path, spec):
            candidates.append(reader)
            matched = len(ext)
    return candidates


def _best_sniff(candidates: Iterable[Reader], data: bytes, path: Path) -> Reader | None:
    if not data:
        return None
    best, best_score = None, 0.0
    for reader in candidates:
        score = reader.sniff(data, path)
        if score > best_score:
            best, best_score = reader, score
    return best
