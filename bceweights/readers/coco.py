"""COCO JSON: instances (detection, segmentation), panoptic, and LVIS, as image-level labels.

One sample per image of ``images``, in file order; the classes are the ``categories`` ordered by id
(ids need not be contiguous nor start at 1; a category no annotation uses is a class without
positives), named by ``name`` (a name given to several ids gets its id too: ``"ball (17)"``).

* P_c: the images with an annotation of c (an instance, or a panoptic segment in ``segments_info``),
  crowd annotations included. N_c: the other images, so an image without any annotation is a negative
  of every class.
* ``--no-crowd`` leaves crowd annotations (``iscrowd: 1``) out: an image whose only annotations of c are
  crowd regions counts as **neither** for c (a crowd region of people shows people: it is no negative).
* LVIS (federated): an image with ``neg_category_ids`` lists the classes verified absent from it. There,
  N_c counts only those: a class neither annotated nor verified absent is unknown in that image and
  counts as neither (LVIS evaluates a class only on its positive and negative image sets; an
  unverified absence is not a negative). ``not_exhaustive_category_ids`` marks classes whose instances
  are not all annotated: the class is present, so an image with an annotation of it stays a positive,
  and one without counts as neither. An annotated class listed as verified absent is a positive (and
  noted). Images without ``neg_category_ids`` (plain COCO) keep the exhaustive rule above.

Sample ids (``--sample-weights``): the images' ``file_name`` (``--id-column id``: the image ids).
``--repeat-threshold t`` gives detectron2's ``RepeatFactorTrainingSampler`` factors: f_c = P_c / images,
r_c = max(1, sqrt(t / f_c)), an image's r = the max over its classes (1 without any).

Memory: the file is read in chunks and each element of ``images`` and ``annotations`` decoded on its
own (:mod:`bceweights.readers.jsonstream`), keeping only image ids, file names and one (image,
category, crowd) triple per annotation; the polygons are never held. The last files read are kept in
this compact form, so the checks and the per-sample pass do not parse the JSON again.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..counts import Counts
from ..errors import InputError, UsageError, reader_boundary
from ..locations import as_path, open  # local paths and URLs alike
from ..spec import InputSpec
from .annotations import AnnotationReader, batch_rows, label_block
from .base import Finished, LabelBatch, Partition, Progress, SameClasses

#: Top-level keys a COCO-style file starts with.
COCO_KEYS = frozenset({"info", "licenses", "images", "annotations", "categories", "type"})
#: Compact indexes of the last files read, kept for the second and third pass (checks, sample weights).
CACHE_FILES = 2

_FIRST_KEY = re.compile(rb'\s*\{\s*"((?:[^"\\]|\\.)*)"\s*:')
_SOME_KEY = re.compile(rb'"(images|annotations|categories)"\s*:\s*\[')


class CocoReader(AnnotationReader):
    """COCO instances, panoptic and LVIS JSON files: one sample per image."""

    name = "coco"
    extensions = (".json", ".json.gz")
    description = "COCO JSON (instances, panoptic, LVIS): image-level labels"
    # id_column: the sample ids --sample-weights writes (file_name or id); rows() refuses any other.
    options = frozenset({"no_crowd", "id_column"})

    def sniff(self, head: bytes, path: Path) -> float:
        """A JSON object whose first member is a COCO key (``info``, ``images`` ...), or one that
        shows an ``images`` / ``annotations`` / ``categories`` array in its first bytes."""
        head = head.removeprefix(b"\xef\xbb\xbf")
        first = _FIRST_KEY.match(head)
        if first is None:
            return 0.0
        if first.group(1).decode("utf-8", "replace") in COCO_KEYS:
            return 0.9
        return 0.6 if _SOME_KEY.search(head) else 0.0

    def count(self, partition: Partition, spec: InputSpec, progress: Progress | None = None) -> SameClasses:
        """The counts of one file; every file of a run must have the same categories."""
        (path,) = partition.paths
        counts: Counts | None = None
        for batch in self.rows(as_path(path), spec):
            if counts is None:
                counts = Counts(batch.classes)
                if spec.cooccurrence:
                    counts.track_cooccurrence()
                if progress is not None:
                    progress(batch.done)
            counts.add_batch(batch)
        if counts is None:  # no image: the categories still make the classes
            counts = Counts(_index(as_path(path)).class_names(as_path(path))[0])
            if spec.cooccurrence:
                counts.track_cooccurrence()
        return SameClasses(counts, str(path), kind="array")

    def finish(self, partial: SameClasses, spec: InputSpec) -> Finished:
        return Finished(partial.counts, spec)

    def rows(self, path: Path, spec: InputSpec, *, classes: Sequence[str] | None = None,
             id_column: str | None = None) -> Iterator[LabelBatch]:
        """The images in file order as label batches (see the module's text for the rules); ids: the
        images' ``file_name`` (``id_column="id"``: their ids)."""
        path = as_path(path)
        if id_column not in (None, "auto", "file_name", "id"):
            raise UsageError(f"--id-column {id_column}: a COCO file gives the images' file_name or id",
                             hint="pass --id-column file_name or --id-column id, or none")
        index = _index(path)
        names, renamed = index.class_names(path)
        if classes is not None and list(classes) != names:
            raise InputError(f"{path}: its categories differ from those counted; did the file change?")
        labels = index.built.get(spec.no_crowd)
        if labels is None:
            labels = index.built[spec.no_crowd] = _Labels(index, path, spec.no_crowd)
        notes = tuple(_notes(index, labels, renamed, spec.no_crowd))
        n, c = len(index.image_keys), len(names)
        per = batch_rows(c)
        done = path.stat().st_size
        for start in range(0, n, per):
            stop = min(n, start + per)
            block = labels.block(start, stop)
            ids = None
            if id_column is not None:
                ids = ([str(k) for k in index.image_keys[start:stop]] if id_column == "id"
                       else index.file_names[start:stop])
            yield LabelBatch(block, names, np.arange(start + 1, stop + 1), done=done,
                             notes=notes if start == 0 else (), ids=ids,
                             id_name="id" if id_column == "id" else "file_name")


# ------------------------------------------------------------------------------------------- the scan


@dataclass
class CocoIndex:
    """What a COCO file says about image-level labels, compactly: the images in order (their ids and
    file names), the categories, one (image id, category id, crowd) triple per annotation or panoptic
    segment, and the LVIS lists as (image position, category id) pairs."""

    image_keys: list[Any] = field(default_factory=list)
    file_names: list[str] = field(default_factory=list)
    categories: list[tuple[int, str]] = field(default_factory=list)
    ann_image: list[Any] = field(default_factory=list)
    ann_category: array = field(default_factory=lambda: array("q"))
    ann_crowd: bytearray = field(default_factory=bytearray)
    #: Per image: 1 when it has ``neg_category_ids`` (LVIS: only verified negatives count).
    verified: bytearray = field(default_factory=bytearray)
    neg_image: array = field(default_factory=lambda: array("q"))
    neg_category: array = field(default_factory=lambda: array("q"))
    partial_image: array = field(default_factory=lambda: array("q"))
    partial_category: array = field(default_factory=lambda: array("q"))
    panoptic: bool = False
    keys: list[str] = field(default_factory=list)
    #: The label codes built from this index, by ``--no-crowd`` (each pass of a run reuses them).
    built: dict[bool, Any] = field(default_factory=dict)

    def class_names(self, path: Path) -> tuple[list[str], list[str]]:
        """The class names in category-id order, and the names given to several ids (made unique)."""
        names = [name for _, name in self.categories]
        seen: dict[str, int] = {}
        for name in names:
            seen[name] = seen.get(name, 0) + 1
        twice = sorted(n for n, k in seen.items() if k > 1)
        if twice:
            names = [f"{name} ({cid})" if seen[name] > 1 else name for cid, name in self.categories]
        return names, twice


def scan(path: Path) -> CocoIndex:
    """Read a COCO JSON file into a :class:`CocoIndex` (streamed: see the module's text)."""
    from .jsonstream import JsonStream, walk_object

    index = CocoIndex()
    counters = {"images": 0, "annotations": 0, "categories": 0}
    add_image, add_annotation, add_category = _adders(index, path, counters)

    def on_item(key: str, item: Any) -> None:
        if key == "annotations":
            add_annotation(item)
        elif key == "images":
            add_image(item)
        elif key == "categories":
            add_category(item)

    def on_value(key: str, value: Any) -> None:
        if key in counters:
            raise InputError(f"{path}: {key!r} is not an array but {type(value).__name__} {str(value)[:40]!r}")

    with reader_boundary(path, "the JSON file"), _open(path) as fh:  # gzip: a bad CRC, a cut stream
        stream = JsonStream(fh, path)
        index.keys = walk_object(stream, on_item, on_value)
    for key in ("images", "annotations", "categories"):
        if index.keys.count(key) > 1:
            raise InputError(f"{path}: the member {key!r} appears twice")
    missing = [k for k in ("images", "categories", "annotations") if k not in index.keys]
    if missing:
        what = "an image-info file without labels" if missing == ["annotations"] else "not a COCO file"
        raise InputError(f"{path}: has no {' and no '.join(repr(k) for k in missing)} array ({what})",
                         hint="a COCO file holds 'images', 'annotations' and 'categories'; pass --format "
                         "for another kind of JSON")
    if not index.categories:
        raise InputError(f"{path}: its 'categories' list is empty, so there is no class to count")
    # The classes are the categories by id; the file may list them in another order.
    index.categories.sort(key=lambda pair: pair[0])
    for (a, _), (b, _) in zip(index.categories, index.categories[1:]):
        if a == b:
            raise InputError(f"{path}: the category id {a} is listed twice")
    return index


def _adders(index: CocoIndex, path: Path, counters: dict[str, int]):
    """The per-element callbacks of :func:`scan`, checking each element as it comes."""
    images, file_names, verified = index.image_keys, index.file_names, index.verified
    ann_image, ann_category, ann_crowd = index.ann_image, index.ann_category, index.ann_crowd

    def bad(what: str, number: int, message: str) -> InputError:
        return InputError(f"{path}: {what} {number:,}: {message}")

    def category_id(value: Any, what: str, number: int) -> int:
        if type(value) is not int:
            raise bad(what, number, f"the category id {value!r} is not an integer")
        return value

    def id_list(item: dict, key: str, number: int, into_image: array, into_category: array) -> bool:
        values = item.get(key)
        if values is None:
            return False
        if not isinstance(values, list):
            raise bad("image", number, f"{key} is not a list")
        position = len(images) - 1
        for value in values:
            into_category.append(category_id(value, "image", number))
            into_image.append(position)
        return True

    def add_image(item: Any) -> None:
        counters["images"] += 1
        number = counters["images"]
        if not isinstance(item, dict) or "id" not in item:
            raise bad("image", number, "not an object with an 'id'")
        key = item["id"]
        if not isinstance(key, (int, str)) or isinstance(key, bool):
            raise bad("image", number, f"the id {key!r} is not an integer or a string")
        images.append(key)
        name = item.get("file_name")
        file_names.append(str(name) if name is not None else str(key))
        lvis = id_list(item, "neg_category_ids", number, index.neg_image, index.neg_category)
        verified.append(1 if lvis else 0)
        id_list(item, "not_exhaustive_category_ids", number, index.partial_image, index.partial_category)

    def add_annotation(item: Any) -> None:
        counters["annotations"] += 1
        number = counters["annotations"]
        if type(item) is not dict:
            raise bad("annotation", number, "not an object")
        segments = item.get("segments_info")
        if segments is not None:
            index.panoptic = True
            if not isinstance(segments, list) or "image_id" not in item:
                raise bad("annotation", number, "a panoptic annotation needs 'image_id' and a "
                          "'segments_info' list")
            key = item["image_id"]
            for segment in segments:
                if type(segment) is not dict:
                    raise bad("annotation", number, "a segment is not an object")
                ann_image.append(key)
                ann_category.append(category_id(segment.get("category_id"), "annotation", number))
                ann_crowd.append(1 if segment.get("iscrowd") else 0)
            return
        try:
            key, cat = item["image_id"], item["category_id"]
        except KeyError as exc:
            raise bad("annotation", number, f"has no {exc.args[0]!r}") from None
        if type(cat) is not int:
            category_id(cat, "annotation", number)
        ann_image.append(key)
        ann_category.append(cat)
        ann_crowd.append(1 if item.get("iscrowd") else 0)

    def add_category(item: Any) -> None:
        counters["categories"] += 1
        number = counters["categories"]
        if not isinstance(item, dict) or "id" not in item or "name" not in item:
            raise bad("category", number, "not an object with an 'id' and a 'name'")
        index.categories.append((category_id(item["id"], "category", number), str(item["name"]).strip()))

    return add_image, add_annotation, add_category


def _open(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        from ..inflate import open_gzip

        return open_gzip(path)  # every member's CRC and length are checked at its end
    return open(path, "rb")


_cache: dict[tuple, CocoIndex] = {}


def _index(path: Path) -> CocoIndex:
    """The index of ``path``, from the cache while the file is unchanged."""
    try:
        st = path.stat()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the file ({exc.strerror})") from None
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    found = _cache.get(key)
    if found is None:
        found = scan(path)
        while len(_cache) >= CACHE_FILES:
            _cache.pop(next(iter(_cache)))
        _cache[key] = found
    return found


# ------------------------------------------------------------------------------------------- labels


class _Labels:
    """The (image, class) pairs of a scanned file, as sorted codes ``row * C + class``, and blocks of
    label rows built from them."""

    def __init__(self, index: CocoIndex, path: Path, no_crowd: bool) -> None:
        sorted_ids = np.array([cid for cid, _ in index.categories], dtype=np.int64)
        self.c = c = len(sorted_ids)
        self.n = len(index.image_keys)
        position: dict[Any, int] = {}
        for i, key in enumerate(index.image_keys):
            if position.setdefault(key, i) != i:
                raise InputError(f"{path}: the image id {key!r} is listed twice")
        try:
            rows = np.fromiter(map(position.__getitem__, index.ann_image), dtype=np.int64,
                               count=len(index.ann_image))
        except KeyError as exc:
            raise InputError(f"{path}: an annotation refers to the image id {exc.args[0]!r}, which is not "
                             "among the images") from None
        cols = self._classes(np.frombuffer(index.ann_category, dtype=np.int64), sorted_ids, path, "an annotation")
        crowd = np.frombuffer(bytes(index.ann_crowd), dtype=np.uint8).astype(bool)
        codes = rows * c + cols
        keep = ~crowd if no_crowd else np.ones(len(codes), dtype=bool)
        self.pos = _unique(codes[keep])
        self.crowd_only = _minus(_unique(codes[~keep]), self.pos)
        self.verified = np.frombuffer(bytes(index.verified), dtype=np.uint8).astype(bool)
        self.neg = self._pairs(index.neg_image, index.neg_category, sorted_ids, path)
        partial = self._pairs(index.partial_image, index.partial_category, sorted_ids, path)
        self.partial = _minus(partial, self.pos)
        self.conflicts = len(self.neg) - len(_minus(self.neg, self.pos))
        self.ignored = _unique(np.concatenate([self.crowd_only, self.partial]))
        self.any_verified = bool(self.verified.any())

    def _classes(self, ids: np.ndarray, sorted_ids: np.ndarray, path: Path, what: str) -> np.ndarray:
        where = np.searchsorted(sorted_ids, ids)
        bad = (where >= len(sorted_ids)) | (sorted_ids[np.minimum(where, len(sorted_ids) - 1)] != ids) \
            if len(sorted_ids) else np.ones(len(ids), dtype=bool)
        if bad.any():
            raise InputError(f"{path}: {what} uses the category id {int(ids[np.flatnonzero(bad)[0]])}, "
                             "which is not among the categories")
        return where.astype(np.int64)

    def _pairs(self, images: array, categories: array, sorted_ids: np.ndarray, path: Path) -> np.ndarray:
        if not len(images):
            return np.zeros(0, dtype=np.int64)
        cols = self._classes(np.frombuffer(categories, dtype=np.int64), sorted_ids, path,
                             "an image's LVIS list")
        return _unique(np.frombuffer(images, dtype=np.int64) * self.c + cols)

    def block(self, start: int, stop: int) -> np.ndarray:
        """Label rows ``[start, stop)``."""
        c = self.c
        lo, hi = start * c, stop * c

        def rows_cols(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            part = codes[np.searchsorted(codes, lo):np.searchsorted(codes, hi)] - lo
            return part // c, part % c

        pos = rows_cols(self.pos)
        ignored = rows_cols(self.ignored)
        unknown = np.flatnonzero(self.verified[start:stop]) if self.any_verified else ()
        neg = rows_cols(self.neg) if self.any_verified else ((), ())
        return label_block(stop - start, c, pos[0], pos[1], ignored[0], ignored[1], unknown, neg[0], neg[1])


def _unique(codes: np.ndarray) -> np.ndarray:
    """Sorted distinct values (sort and compare neighbours: NumPy 2.4's ``np.unique`` hashes, ~100x
    slower on 860,000 int64 codes: 2.5 s against 0.02 s)."""
    out = np.sort(codes)
    if len(out) > 1:
        out = out[np.concatenate([[True], out[1:] != out[:-1]])]
    return out


def _minus(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The values of sorted ``a`` that are not in sorted ``b``."""
    if not len(a) or not len(b):
        return a
    where = np.minimum(np.searchsorted(b, a), len(b) - 1)
    return a[b[where] != a]


def _notes(index: CocoIndex, labels: _Labels, renamed: list[str], no_crowd: bool) -> Iterator[str]:
    kind = "panoptic segment" if index.panoptic else "annotation"
    annotated = _unique(np.concatenate([labels.pos, labels.crowd_only]) // max(labels.c, 1))
    empty = labels.n - len(annotated)
    if empty:
        yield f"COCO: {empty:,} of {labels.n:,} images have no {kind} (samples without a positive)"
    if renamed:
        yield f"COCO: categories named alike are told apart by id: {', '.join(renamed[:5])}"
    if no_crowd and len(labels.crowd_only):
        yield (f"--no-crowd: {len(labels.crowd_only):,} (image, class) pairs with only crowd annotations "
               "count as neither")
    if labels.any_verified:
        yield (f"LVIS: {int(labels.verified.sum()):,} images list neg_category_ids; there a class counts as "
               "negative only where verified absent, else as neither")
    if len(labels.partial):
        yield (f"LVIS: {len(labels.partial):,} (image, class) pairs marked not exhaustive without an "
               "annotation count as neither")
    if labels.conflicts:
        yield (f"LVIS: {labels.conflicts:,} (image, class) pairs are annotated and listed in "
               "neg_category_ids; counted as positives")
