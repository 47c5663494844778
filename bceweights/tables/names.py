"""Class names for labels that are ids, and the columns a table is read by.

* **Named ids**: ``--classes-file`` (or ``InputSpec.class_names``, which a Hugging Face dataset settles
  from its features) fixes the class list of label lists, one class per row and the long layout: the
  classes are the file's, in its order (a class that never occurs is there, with no positive), and a
  label is one of its names or an id of one (``27`` is the 28th name of a text file; ``/m/011k07`` an
  id of an ``id,name`` CSV; see :mod:`bceweights.classnames`). A label that is neither is an error.
* **Order of classes met as they go** (lists, one class per row, the long layout without names): by
  name, and numerically when every name is an integer (``2`` before ``10``), whichever file or block
  met them first.
* **Columns by position**: in a file without header a column option may give the column's 0-based
  position, as pandas numbers the columns of ``read_csv(header=None)``: ``--list-column 1`` is the
  second column (``column_2``).
* **Hugging Face features**: a dataset's schema metadata (key ``huggingface``) describes its columns; a
  ``ClassLabel`` column holds class ids of one class per row, a ``List``/``Sequence`` of ``ClassLabel``
  label lists, both with their names.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..classnames import ClassNames, read_class_names
from ..errors import InputError, OptionsError

if TYPE_CHECKING:
    from ..spec import InputSpec
    from .source import TableSource

#: Where names given as values (``InputSpec.class_names``) say they come from, in messages.
GIVEN = Path("<class names>")


def named_classes(spec: InputSpec) -> ClassNames | None:
    """The names that label ids stand for: ``spec.class_names`` (positional ids), else the classes file;
    None when the labels are their own names."""
    if spec.class_names:
        return ClassNames(GIVEN, [str(n) for n in spec.class_names])
    if spec.classes_file is not None:
        return read_class_names(spec.classes_file)
    return None


def class_codes(spec: InputSpec, classes: Sequence[str] | None = None
                ) -> tuple[list[str], dict[str, int], ClassNames | None, set[str]]:
    """How label strings become class codes at the start of a file: ``(known classes, code of each label
    string, the names or None, label strings to drop)``.

    With names, every class of the names is known from the start (minus ``--exclude-columns``); a label
    string maps to its class by name first, then by id, and the ids and names of an excluded class are
    dropped like the excluded labels themselves. Without names, ``classes`` (a fixed list) or none."""
    named = named_classes(spec)
    if named is None:
        known = list(classes or [])
        return known, {name: i for i, name in enumerate(known)}, None, set()
    excluded = set(spec.exclude_columns)
    known = [n for n in named.names if n not in excluded]
    index = {name: i for i, name in enumerate(known)}
    code_of: dict[str, int] = {}
    drop: set[str] = set()
    ids = named.ids or {str(k): k for k in range(len(named.names))}
    for label, position in ids.items():
        name = named.names[position]
        if name in index:
            code_of[label] = index[name]
        else:
            drop.add(label)
    code_of.update(index)  # a name wins over an id spelled the same
    drop |= excluded
    return known, code_of, named, drop


def unknown_label(path: Any, row: int, label: str, named: ClassNames | None) -> InputError:
    """The error for a label outside a fixed class list."""
    if named is None:
        return InputError(f"{path}: row {row}: label '{label}' is not one of the known classes")
    source = "the class names" if named.path == GIVEN else str(named.path)
    kind = "ids of an id,name file" if named.ids else f"ids 0-{len(named.names) - 1}"
    return InputError(f"{path}: row {row}: label '{label}' is neither a class of {source} nor one of its "
                      f"{kind}", hint="check --classes-file against the labels")


def names_note(named: ClassNames, what: str) -> str:
    """The report's note on how labels were named."""
    source = "the dataset's features" if named.path == GIVEN else named.path.name
    return (f"{what}: labels are class names or ids named by {source} ({len(named.names):,} classes, "
            "in its order)")


def class_order(classes: Sequence[str], spec: InputSpec) -> list[str]:
    """The order of classes met in labels: the names' order when there are names, else by name
    (numerically when every name is an integer)."""
    named = named_classes(spec)
    if named is not None:
        excluded = set(spec.exclude_columns)
        return [n for n in named.names if n not in excluded]
    if classes and all(_is_int(c) for c in classes):
        return sorted(classes, key=int)
    return sorted(classes)


def _is_int(text: str) -> bool:
    body = text[1:] if text[:1] == "-" else text
    return body.isdigit()


def column_of(src: TableSource, name: str | None) -> str | None:
    """``name``, or the column at that 0-based position of a file without header (``"1"`` → the second
    column) when no column is called ``name``."""
    if name is None or src.header or name in src.names or not name.strip().isdigit():
        return name
    position = int(name)
    if position >= len(src.names):
        raise OptionsError(f"{src.path}: column position {position} is past the last column (the file has "
                           f"{len(src.names)}, numbered from 0)")
    return src.names[position]


# ----------------------------------------------------------------------------------------- native lists

def column_type(src: TableSource, column: str):
    """The Arrow type of ``column`` where the file says (Parquet, Arrow, JSON), else None (text)."""
    schema = getattr(src, "schema", None)
    if schema is None and getattr(src, "parquet", False):
        import pyarrow.parquet as pq

        from ..locations import source
        from .source import parquet_errors

        with parquet_errors(src.path):
            schema = pq.read_schema(source(src.path))
    if schema is None or column not in schema.names:
        return None
    return schema.field(column).type


def is_list_type(kind) -> bool:
    """Whether an Arrow type is a list (the label lists of Parquet, Arrow and JSON files)."""
    if kind is None:
        return False
    import pyarrow as pa

    return pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind) \
        or pa.types.is_list_view(kind) or pa.types.is_large_list_view(kind)


# ----------------------------------------------------------------------------------- Hugging Face features

def hf_features(metadata: dict | None) -> dict[str, Any] | None:
    """The ``features`` of a Hugging Face schema's metadata (key ``huggingface``), or None."""
    if not metadata:
        return None
    raw = metadata.get(b"huggingface") or metadata.get("huggingface")
    if raw is None:
        return None
    try:
        info = json.loads(raw)
    except (ValueError, TypeError):
        return None
    features = info.get("info", {}).get("features") if isinstance(info, dict) else None
    return features if isinstance(features, dict) else None


def label_features(features: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
    """The label columns of Hugging Face features: ``{column: ("class" or "list", names)}`` for a
    ``ClassLabel`` and a list (``List``, ``Sequence``, ``LargeList`` or ``[...]``) of ``ClassLabel``."""
    out: dict[str, tuple[str, list[str]]] = {}
    for column, feature in features.items():
        names = _class_label_names(feature)
        if names is not None:
            out[column] = ("class", names)
            continue
        inner = None
        if isinstance(feature, list) and len(feature) == 1:
            inner = feature[0]
        elif isinstance(feature, dict) and feature.get("_type") in ("List", "Sequence", "LargeList"):
            inner = feature.get("feature")
        names = _class_label_names(inner)
        if names is not None:
            out[column] = ("list", names)
    return out


def _class_label_names(feature: Any) -> list[str] | None:
    if not isinstance(feature, dict) or feature.get("_type") != "ClassLabel":
        return None
    names = feature.get("names")
    if isinstance(names, list) and names:
        return [str(n) for n in names]
    count = feature.get("num_classes")
    return [str(i) for i in range(count)] if isinstance(count, int) and count > 0 else None


def dataset_spec(src: TableSource, spec: InputSpec) -> InputSpec:
    """``spec`` with what a Hugging Face dataset's features settle: without a layout option, the label
    column when exactly one column is a ``ClassLabel`` or a list of ``ClassLabel`` (as ``--list-column``
    or ``--class-column``); and the names of the chosen column's ids (unless ``--classes-file`` names
    them). Files without features leave ``spec`` as it is."""
    metadata = getattr(src, "metadata", None)
    if metadata is None and getattr(src, "parquet", False):
        import pyarrow.parquet as pq

        from ..locations import source
        from .source import parquet_errors

        with parquet_errors(src.path):
            metadata = pq.read_schema(source(src.path)).metadata
    features = hf_features(metadata)
    if not features:
        return spec
    labels = label_features(features)
    column = spec.list_column or spec.class_column
    if column is None and not spec.columns:
        if len(labels) != 1:
            if len(labels) > 1:
                raise OptionsError(f"{src.path}: several columns hold class labels ({', '.join(labels)})",
                                   hint="name the one to count with --list-column (a list of labels) or "
                                   "--class-column (one label)")
            return spec
        column, (kind, _) = next(iter(labels.items()))
        spec = spec.with_(**{"list_column" if kind == "list" else "class_column": column})
    if column in labels and spec.classes_file is None and not spec.class_names:
        spec = spec.with_(class_names=tuple(labels[column][1]))
    return spec
