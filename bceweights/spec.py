"""What to read and how: every reader option in one frozen value, shared by the CLI and the API."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from .policy import ValuePolicy


@dataclass(frozen=True)
class InputSpec:
    """Reader options. Defaults are the CLI's defaults; unknown-to-a-reader options are ignored by it.

    Tables: ``columns`` (wide multi-hot), ``list_column`` + ``separator`` (label lists) or
    ``class_column`` (one class per row); ``where`` keeps rows whose column equals a value.
    """

    format: str | None = None
    # tables
    columns: tuple[str, ...] | None = None
    exclude_columns: tuple[str, ...] = ()
    list_column: str | None = None
    separator: str | None = None
    class_column: str | None = None
    no_header: bool = False
    delimiter: str | None = None
    classes_file: Path | None = None
    where: tuple[tuple[str, str], ...] = ()
    cooccurrence: bool = True
    # value policy (tables and arrays)
    policy: ValuePolicy = field(default_factory=ValuePolicy)
    # arrays
    key: str | None = None
    class_axis: int | None = None
    label_attributes: tuple[str, ...] | None = None
    # masks
    mask_mode: str = "auto"
    num_classes: int | None = None
    ignore_index: tuple[int, ...] = ()
    file_list: Path | None = None
    root: Path | None = None
    # annotations (COCO, Pascal VOC, YOLO)
    no_crowd: bool = False
    voc_split: str | None = None
    difficult: str = "ignore"
    # execution
    workers: int | None = None

    def worker_count(self) -> int:
        """``workers``, or the cores this process may run on when it is not set."""
        if self.workers is not None:
            return self.workers
        import os

        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not on Linux
            return max(1, os.cpu_count() or 1)

    def with_(self, **changes) -> InputSpec:
        return replace(self, **changes)

    def given(self) -> dict[str, str]:
        """The options set to something other than their default, as ``{field: CLI flag}`` (a value
        policy field as ``policy.NAME``): what a reader must read, or refuse."""
        default = InputSpec()
        out: dict[str, str] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name == "policy":
                for sub in value.__dataclass_fields__:
                    if getattr(value, sub) != getattr(default.policy, sub):
                        out[f"policy.{sub}"] = FLAGS[f"policy.{sub}"]
            elif value != getattr(default, name):
                out[name] = FLAGS.get(name, name)
        return out

    def describe(self) -> dict[str, object]:
        """Plain values for the report and ``meta`` (only what differs from the defaults)."""
        default = InputSpec()
        out: dict[str, object] = {}
        for name in self.__dataclass_fields__:
            if name == "workers":
                continue
            value = getattr(self, name)
            if name == "policy":
                out["policy"] = value.describe()
            elif value != getattr(default, name):
                out[name] = _plain(value)
        return out


#: The CLI flag of each option, for messages that name what the user typed.
FLAGS: dict[str, str] = {
    "format": "--format", "columns": "--columns", "exclude_columns": "--exclude-columns",
    "list_column": "--list-column", "separator": "--separator", "class_column": "--class-column",
    "no_header": "--no-header", "delimiter": "--delimiter", "classes_file": "--classes-file",
    "where": "--where", "cooccurrence": "cooccurrence", "policy.uncertain": "--uncertain",
    "policy.missing": "--missing", "policy.ignore_values": "--ignore-value", "policy.hard": "--hard",
    "policy.binarize": "--binarize", "key": "--key", "class_axis": "--class-axis",
    "label_attributes": "--label-attributes", "mask_mode": "--mask-mode", "num_classes": "--num-classes",
    "ignore_index": "--ignore-index", "file_list": "--file-list", "root": "--root", "workers": "--workers",
    "no_crowd": "--no-crowd", "voc_split": "--voc-split", "difficult": "--difficult",
}

#: Options every run may take, whatever its reader: they are read by the engines and the path expansion.
COMMON_OPTIONS = frozenset({"format", "workers", "file_list", "root", "cooccurrence"})

#: The value policy's options, as a reader lists them in ``Reader.options``.
POLICY_OPTIONS = frozenset(f"policy.{name}" for name in ("uncertain", "missing", "ignore_values", "hard",
                                                         "binarize"))


def _plain(value):
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value
