"""What to read and how: every reader option in one frozen value, shared by the CLI and the API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import UsageError
from .policy import ValuePolicy


@dataclass(frozen=True)
class InputSpec:
    """Reader options. Defaults are the CLI's defaults; unknown-to-a-reader options are ignored by it.

    Tables: ``columns`` (wide multi-hot), ``list_column`` + ``separator`` (label lists) or
    ``class_column`` (one class per row); ``where`` keeps rows whose column equals a value.
    ``id_column`` with ``class_column``: the long layout (rows of one id are one sample, see
    :mod:`bceweights.tables.long`), with ``confidence_column`` and ``negatives`` (``verified`` or
    ``implicit``); otherwise the ids written with per-sample weights. ``quote``: the quote character
    of delimited text (``"none"``: quotes are text). ``class_names``: the names of id-coded labels, in
    class order (the API's ``--classes-file``; Hugging Face datasets settle it from their features).

    Built from a script, a field takes what a person would write: a string where names are expected is
    one name (``exclude_columns="No Finding"``), ``where`` takes ``"column=value"``, a mapping
    ``{column: value or [values]}`` or ``(column, value)`` pairs, a path a string. A value of the
    wrong type is an :class:`~bceweights.errors.UsageError` naming the field; :meth:`check` refuses
    values of the right type that cannot work.
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
    # long layout, quoting, named ids (tables)
    id_column: str | None = None
    confidence_column: str | None = None
    negatives: str | None = None
    quote: str | None = None
    class_names: tuple[str, ...] | None = None
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

    def __post_init__(self) -> None:
        # What the library accepts as a person would write it, made the one form the readers read.
        # The CLI builds every field in that form already, so these errors name the keyword.
        put = object.__setattr__.__get__(self)
        for name in ("columns", "label_attributes"):
            value = getattr(self, name)
            if value is not None:
                put(name, _names(name, value, allow_empty=False))
        put("exclude_columns", _names("exclude_columns", self.exclude_columns))
        put("where", _where(self.where))
        put("ignore_index", _ints("ignore_index", self.ignore_index))
        for name in ("classes_file", "file_list", "root"):
            value = getattr(self, name)
            if isinstance(value, str):
                put(name, Path(value))
            elif value is not None and not isinstance(value, Path):
                raise UsageError(f"{name}={value!r}: expected a path (a str or a pathlib.Path)")
        for name in ("list_column", "separator", "class_column", "delimiter", "key", "format"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise UsageError(f"{name}={value!r}: expected a str")
        if not isinstance(self.policy, ValuePolicy):
            raise UsageError(f"policy={self.policy!r}: expected a bceweights.ValuePolicy")

    def check(self, *, cli: bool = False) -> InputSpec:
        """Refuse option values that cannot work, before any file is read: a :class:`UsageError`
        (exit 2) naming the option, as its CLI flag with ``cli``, else as the keyword (``binarize=``).
        Returns ``self``."""
        def name(field_name: str, value) -> str:
            if cli:
                return f"{FLAGS.get(field_name, field_name)} {_shown(value)}"
            return f"{field_name.split('.')[-1]}={str(value)!r}" if isinstance(value, Path) else \
                f"{field_name.split('.')[-1]}={value!r}"

        if self.delimiter is not None and (len(self.delimiter.encode()) != 1 or self.delimiter in '\r\n"'):
            raise UsageError(f"{name('delimiter', self.delimiter)}: the delimiter is one character (not a "
                             "quote or a line end)", hint="e.g. ',' ';' '|' or tab")
        if self.separator is not None and not self.separator:
            raise UsageError(f"{name('separator', self.separator)}: the separator is empty",
                             hint="e.g. '|' or ' '; leave it out to detect it")
        both = [c for c in self.exclude_columns if self.columns and c in self.columns]
        if both:
            flags = ("--columns and --exclude-columns" if cli else "columns= and exclude_columns=")
            raise UsageError(f"{flags} both name {', '.join(map(repr, both))}",
                             hint="a column is either a label or left out")
        # The value policy checks its own fields when it is made (bceweights.policy.ValuePolicy).
        if self.mask_mode not in ("auto", "index", "binary", "channels"):
            raise UsageError(f"{name('mask_mode', self.mask_mode)}: choose auto, index, binary or channels")
        for field_name in ("num_classes", "workers"):
            value = getattr(self, field_name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise UsageError(f"{name(field_name, value)}: expected a whole number >= 1")
        if self.class_axis is not None and (not isinstance(self.class_axis, int)
                                            or isinstance(self.class_axis, bool)):
            raise UsageError(f"{name('class_axis', self.class_axis)}: expected an axis number")
        return self

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
    "id_column": "--id-column", "confidence_column": "--confidence-column", "negatives": "--negatives",
    "quote": "--quote", "class_names": "class_names",
    "no_crowd": "--no-crowd", "voc_split": "--voc-split", "difficult": "--difficult",
}

#: Options every run may take, whatever its reader: they are read by the engines and the path expansion.
COMMON_OPTIONS = frozenset({"format", "workers", "file_list", "root", "cooccurrence"})

#: The value policy's options, as a reader lists them in ``Reader.options``.
POLICY_OPTIONS = frozenset(f"policy.{name}" for name in ("uncertain", "missing", "ignore_values", "hard",
                                                         "binarize"))


def _shown(value) -> str:
    """A value as a message shows it after its flag: text quoted (so '::' or ' ' stay visible), a path
    and a number as they are."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str):
        return repr(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _names(name: str, value, *, allow_empty: bool = True) -> tuple[str, ...]:
    """Column or attribute names: a str is one name, any other iterable of str the names."""
    if isinstance(value, str):
        names: tuple = (value,)
    elif isinstance(value, (Mapping, bytes)) or not hasattr(value, "__iter__"):
        raise UsageError(f"{name}={value!r}: expected a name or a list of names")
    else:
        names = tuple(value)
    bad = [v for v in names if not isinstance(v, str) or not v]
    if bad:
        raise UsageError(f"{name}={value!r}: {bad[0]!r} is not a name (names are non-empty strings)")
    if not names and not allow_empty:
        raise UsageError(f"{name}={value!r}: no name given", hint=f"leave {name} out (None) to detect them")
    return names


def _where(value) -> tuple[tuple[str, str], ...]:
    """``where`` as (column, value) pairs, from ``"col=value"``, a mapping (a list of values: any of
    them), pairs, or a sequence of ``"col=value"`` strings."""
    usage = "expected 'column=value', a mapping {column: value} or (column, value) pairs"

    def parse(text: str) -> tuple[str, str]:
        column, sep, wanted = text.partition("=")
        if not sep or not column.strip():
            raise UsageError(f"where={text!r}: {usage}")
        return column.strip(), wanted.strip()

    def scalar(column, wanted) -> tuple[str, str]:
        if not isinstance(column, str) or not column.strip():
            raise UsageError(f"where: the column {column!r} is not a column name")
        if isinstance(wanted, (str, int, float)) and not isinstance(wanted, bool):
            return column, str(wanted)
        raise UsageError(f"where: {column}={wanted!r}: a value is a str or a number")

    if isinstance(value, str):
        return (parse(value),)
    if isinstance(value, Mapping):
        out = []
        for column, wanted in value.items():
            many = wanted if isinstance(wanted, (list, tuple, set, frozenset)) else [wanted]
            out.extend(scalar(column, w) for w in many)
        return tuple(out)
    if isinstance(value, bytes) or not hasattr(value, "__iter__"):
        raise UsageError(f"where={value!r}: {usage}")
    out = []
    for item in value:
        if isinstance(item, str):
            out.append(parse(item))
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            out.append(scalar(*item))
        else:
            raise UsageError(f"where={value!r}: {usage}")
    return tuple(out)


def _ints(name: str, value) -> tuple[int, ...]:
    items = (value,) if isinstance(value, int) else value
    if isinstance(items, (str, bytes)) or not hasattr(items, "__iter__"):
        raise UsageError(f"{name}={value!r}: expected a whole number or a list of them")
    items = tuple(items)
    if any(isinstance(v, bool) or not hasattr(v, "__index__") for v in items):
        raise UsageError(f"{name}={value!r}: expected whole numbers")
    return tuple(int(v) for v in items)


def _plain(value):
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value
