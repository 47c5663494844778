"""COCO JSON, Pascal VOC and YOLO labels: counts against plain-Python references, the streaming JSON
reader against ``json.loads``, the options, and the per-sample pass (ids, detectron2 repeat factors)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bceweights import api, readers
from bceweights.errors import BceWeightsError, InputError, UsageError
from bceweights.readers import coco, jsonstream
from bceweights.sampling import SampleOptions, sample_weights
from bceweights.spec import InputSpec

# ----------------------------------------------------------------------------------- references


def coco_reference(data: dict, *, no_crowd: bool = False) -> dict:
    """Image-level counts of a COCO dict, by a plain loop over images and categories (the rules of
    bceweights.readers.coco, written out independently)."""
    cats = sorted(data["categories"], key=lambda c: c["id"])
    images = data["images"]
    annotations = data["annotations"]
    if annotations and "segments_info" in annotations[0]:
        annotations = [{"image_id": a["image_id"], **s} for a in annotations for s in a["segments_info"]]
    plain, crowd = {}, {}
    for a in annotations:
        target = crowd if (no_crowd and a.get("iscrowd")) else plain
        target.setdefault(a["image_id"], set()).add(a["category_id"])
    pos = [0] * len(cats)
    neg = [0] * len(cats)
    ignored = [0] * len(cats)
    rows = []
    for image in images:
        present = plain.get(image["id"], set())
        verified = "neg_category_ids" in image
        negatives = set(image.get("neg_category_ids", ()))
        partial = set(image.get("not_exhaustive_category_ids", ()))
        row = []
        for j, cat in enumerate(cats):
            cid = cat["id"]
            if cid in present:
                value = 1
            elif cid in crowd.get(image["id"], set()) or cid in partial:
                value = None
            elif verified:
                value = 0 if cid in negatives else None
            else:
                value = 0
            row.append(value)
            if value == 1:
                pos[j] += 1
            elif value == 0:
                neg[j] += 1
            else:
                ignored[j] += 1
        rows.append(row)
    return {"classes": [c["name"] for c in cats], "pos": pos, "neg": neg, "ignored": ignored,
            "samples": len(images), "rows": rows}


def detectron2_repeat_factors(data: dict, threshold: float) -> list[float]:
    """detectron2's ``RepeatFactorTrainingSampler.repeat_factors_from_category_frequency``, as written
    there: f_c over images, r_c = max(1, sqrt(t / f_c)), r_i = max over the image's categories."""
    per_image = {image["id"]: set() for image in data["images"]}
    for a in data["annotations"]:
        per_image[a["image_id"]].add(a["category_id"])
    category_freq: dict[int, int] = {}
    for cat_ids in per_image.values():
        for cat_id in cat_ids:
            category_freq[cat_id] = category_freq.get(cat_id, 0) + 1
    num_images = len(per_image)
    category_rep = {c: max(1.0, math.sqrt(threshold / (v / num_images))) for c, v in category_freq.items()}
    return [max({category_rep[c] for c in per_image[image["id"]]}, default=1.0) for image in data["images"]]


def assert_counts(counts, ref: dict) -> None:
    assert counts.classes == ref["classes"]
    assert counts.samples == ref["samples"]
    assert counts.pos.tolist() == ref["pos"]
    assert counts.neg.tolist() == ref["neg"]
    assert counts.ignored.tolist() == ref["ignored"]


def cooccurrence_reference(rows: list[list]) -> np.ndarray:
    y = np.array([[1.0 if v == 1 else 0.0 for v in row] for row in rows]).reshape(len(rows), -1)
    return y.T @ y


# --------------------------------------------------------------------------------- COCO fixtures


def small_coco(*, lvis: bool = False) -> dict:
    """Ids 3, 7, 12 (non-contiguous; 12 unused), an image without annotations, a crowd-only class."""
    data = {
        "info": {"description": "test"},
        "images": [{"id": 10, "file_name": "a.jpg"}, {"id": 11, "file_name": "b.jpg"},
                   {"id": 12, "file_name": "c.jpg"}, {"id": 13, "file_name": "d.jpg"}],
        "annotations": [
            {"id": 1, "image_id": 10, "category_id": 3, "iscrowd": 0, "segmentation": [[1, 2, 3, 4, 5, 6]]},
            {"id": 2, "image_id": 10, "category_id": 3, "iscrowd": 0},
            {"id": 3, "image_id": 10, "category_id": 7, "iscrowd": 1, "segmentation": {"counts": [1, 2]}},
            {"id": 4, "image_id": 12, "category_id": 7, "iscrowd": 0},
            {"id": 5, "image_id": 13, "category_id": 3, "iscrowd": 1},
            {"id": 6, "image_id": 13, "category_id": 7, "iscrowd": 0},
        ],
        # Listed out of id order: the classes follow the ids.
        "categories": [{"id": 7, "name": "dog"}, {"id": 3, "name": "cat"}, {"id": 12, "name": "bird"}],
    }
    if lvis:
        data["images"][0]["neg_category_ids"] = [12]
        data["images"][1]["neg_category_ids"] = [3, 7]
        data["images"][1]["not_exhaustive_category_ids"] = [12]
        data["images"][2]["neg_category_ids"] = [3, 7]  # 7 is annotated there: a conflict, positive
        data["images"][2]["not_exhaustive_category_ids"] = [7]
    return data


def write_json(path: Path, data, **dump) -> Path:
    path.write_text(json.dumps(data, **dump))
    return path


def test_coco_counts_classes_by_id_crowd_and_empty_images(tmp_path):
    data = small_coco()
    path = write_json(tmp_path / "instances.json", data)
    counts = api.count(path)
    ref = coco_reference(data)
    assert_counts(counts, ref)
    # Worked by hand: cat in a, d (crowd); dog in a (crowd), c, d; bird nowhere; b has no annotation.
    assert counts.classes == ["cat", "dog", "bird"]
    assert counts.pos.tolist() == [2, 3, 0] and counts.neg.tolist() == [2, 1, 4]
    assert counts.no_positive == 1
    assert np.array_equal(counts.cooccurrence, cooccurrence_reference(ref["rows"]))
    assert any("1 of 4 images have no annotation" in n for n in counts.notes)


def test_no_crowd_makes_crowd_only_pairs_neither(tmp_path):
    data = small_coco()
    path = write_json(tmp_path / "instances.json", data)
    counts = api.count(path, no_crowd=True)
    assert_counts(counts, coco_reference(data, no_crowd=True))
    # cat in d and dog in a were crowd only: neither.
    assert counts.pos.tolist() == [1, 2, 0] and counts.ignored.tolist() == [1, 1, 0]
    assert any("--no-crowd" in n for n in counts.notes)


def test_lvis_verified_negatives_and_not_exhaustive(tmp_path):
    data = small_coco(lvis=True)
    path = write_json(tmp_path / "lvis.json", data)
    counts = api.count(path)
    ref = coco_reference(data)
    assert_counts(counts, ref)
    # a: cat +, dog + (crowd), bird verified negative. b: cat, dog verified negatives, bird not exhaustive.
    # c: dog annotated (conflict with its negative list: positive), cat negative, bird unknown.
    # d: no LVIS lists: exhaustive rule.
    assert counts.pos.tolist() == [2, 3, 0]
    assert counts.neg.tolist() == [2, 1, 2]
    assert counts.ignored.tolist() == [0, 0, 2]
    assert any("annotated and listed in neg_category_ids" in n for n in counts.notes)


def test_zero_based_ids_and_panoptic_segments(tmp_path):
    data = {
        "images": [{"id": "x", "file_name": "x.jpg"}, {"id": "y", "file_name": "y.jpg"}],
        "annotations": [{"image_id": "x", "file_name": "x.png",
                         "segments_info": [{"id": 1, "category_id": 0, "iscrowd": 0},
                                           {"id": 2, "category_id": 2, "iscrowd": 1}]},
                        {"image_id": "y", "file_name": "y.png", "segments_info": []}],
        "categories": [{"id": 0, "name": "road", "isthing": 0}, {"id": 1, "name": "car", "isthing": 1},
                       {"id": 2, "name": "person", "isthing": 1}],
    }
    path = write_json(tmp_path / "panoptic.json", data, indent=2)
    assert_counts(api.count(path), coco_reference(data))
    assert_counts(api.count(path, no_crowd=True), coco_reference(data, no_crowd=True))


def test_categories_named_alike_get_their_ids(tmp_path):
    data = {"images": [{"id": 1}], "annotations": [{"image_id": 1, "category_id": 5}],
            "categories": [{"id": 5, "name": "ball"}, {"id": 9, "name": "ball"}, {"id": 2, "name": "bat"}]}
    counts = api.count(write_json(tmp_path / "c.json", data))
    assert counts.classes == ["bat", "ball (5)", "ball (9)"]
    assert counts.pos.tolist() == [0, 1, 0]


@st.composite
def coco_datasets(draw):
    ids = draw(st.lists(st.integers(0, 40), min_size=1, max_size=8, unique=True))
    n_images = draw(st.integers(0, 25))
    lvis = draw(st.booleans())
    images = []
    for i in range(n_images):
        image = {"id": i * 3 + 1, "file_name": f"{i:04d}.jpg"}
        if lvis and draw(st.booleans()):
            image["neg_category_ids"] = draw(st.lists(st.sampled_from(ids), max_size=4))
            if draw(st.booleans()):
                image["not_exhaustive_category_ids"] = draw(st.lists(st.sampled_from(ids), max_size=3))
        images.append(image)
    annotations = []
    if images:
        for k in range(draw(st.integers(0, 60))):
            annotations.append({"id": k, "image_id": draw(st.sampled_from(images))["id"],
                                "category_id": draw(st.sampled_from(ids)),
                                "iscrowd": int(draw(st.integers(0, 5)) == 0),
                                "segmentation": [[round(draw(st.floats(0, 640)), 2) for _ in range(6)]]})
    categories = [{"id": c, "name": f"class {c}"} for c in ids]
    order = draw(st.permutations(list(range(3))))
    parts = [("images", images), ("annotations", annotations), ("categories", categories)]
    return {"info": {"n": n_images}, **dict(parts[i] for i in order)}


@given(data=coco_datasets(), no_crowd=st.booleans(), indent=st.sampled_from([None, 1, "\t"]),
       chunk=st.sampled_from([5, 64, 1 << 22]))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_coco_counts_equal_the_reference(tmp_path, data, no_crowd, indent, chunk):
    path = write_json(tmp_path / "random.json", data, indent=indent)
    coco._cache.clear()
    previous, jsonstream.CHUNK = jsonstream.CHUNK, chunk
    try:
        if not data["images"]:
            with pytest.raises(InputError, match="no sample"):
                api.count(path, no_crowd=no_crowd)
            return
        counts = api.count(path, no_crowd=no_crowd)
    finally:
        jsonstream.CHUNK = previous
    ref = coco_reference(data, no_crowd=no_crowd)
    assert_counts(counts, ref)
    assert np.array_equal(counts.cooccurrence, cooccurrence_reference(ref["rows"]))


def test_repeat_factors_are_detectron2s(tmp_path):
    rng = np.random.default_rng(0)
    images = [{"id": i, "file_name": f"{i}.jpg"} for i in range(300)]
    # Skewed frequencies: some categories in a handful of images get factors above 1.
    cats = [1, 2, 5, 8, 13]
    p = np.array([0.7, 0.2, 0.08, 0.018, 0.002])
    annotations = [{"image_id": int(rng.integers(0, 290)), "category_id": int(rng.choice(cats, p=p)),
                    "iscrowd": 0} for _ in range(700)]
    data = {"images": images, "annotations": annotations,
            "categories": [{"id": c, "name": f"c{c}"} for c in cats]}
    path = write_json(tmp_path / "train.json", data)
    result = sample_weights(path, InputSpec(), options=SampleOptions(repeat_threshold=0.3))
    expected = detectron2_repeat_factors(data, 0.3)
    assert len(set(expected)) > 3 and max(expected) > 2  # the threshold bites
    np.testing.assert_allclose(result.repeat_factors, expected, rtol=1e-12)
    assert result.ids == [f"{i}.jpg" for i in range(300)]
    assert result.rows.tolist() == list(range(1, 301))
    by_id = sample_weights(path, InputSpec(), options=SampleOptions(id_column="id"))
    assert by_id.ids == [str(i) for i in range(300)]
    with pytest.raises(UsageError, match="--id-column image_name"):
        sample_weights(path, InputSpec(), options=SampleOptions(id_column="image_name"))


def test_coco_cli_sample_weights_and_checks(cli, tmp_path):
    path = write_json(tmp_path / "instances.json", small_coco())
    out = tmp_path / "w.pt"
    result = cli("compute", path, "-o", out, "--sample-weights", tmp_path / "s.pt", "--repeat-threshold", "0.5")
    assert result.exit_code == 0, result.stderr
    assert "PASS  sanity" in result.stdout
    import torch

    saved = torch.load(tmp_path / "s.pt", weights_only=True)
    assert saved["ids"] == ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]
    assert saved["meta"]["id_column"] == "file_name"


def test_coco_files_must_share_categories(tmp_path):
    a = write_json(tmp_path / "a.json", small_coco())
    other = small_coco()
    other["categories"].append({"id": 40, "name": "zebra"})
    b = write_json(tmp_path / "b.json", other)
    copy = write_json(tmp_path / "a_copy.json", small_coco())  # another file: the same file twice counts once
    both = api.count([a, copy])
    assert both.samples == 8
    with pytest.raises(InputError, match="differ"):
        api.count([a, b])


@pytest.mark.parametrize("text, message", [
    ('{"images": [], "categories": []}', "no 'annotations'"),
    ('{"images": [{"id": 1}], "annotations": [], "categories": [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]}',
     "category id 1 is listed twice"),
    ('{"images": [{"id": 1}, {"id": 1}], "annotations": [], "categories": [{"id": 1, "name": "a"}]}',
     "image id 1 is listed twice"),
    ('{"images": [{"id": 1}], "annotations": [{"image_id": 2, "category_id": 1}], "categories": [{"id": 1, '
     '"name": "a"}]}', "image id 2"),
    ('{"images": [{"id": 1}], "annotations": [{"image_id": 1, "category_id": 4}], "categories": [{"id": 1, '
     '"name": "a"}]}', "category id 4"),
    ('{"images": [{"id": 1}], "annotations": [{"image_id": 1, "category_id": "1"}], "categories": []}',
     "not an integer"),
    ('{"images": [{"id": 1}], "annotations": [{"image_id": 1}], "categories": []}', "has no 'category_id'"),
    ('{"images": [{"id": 1}], "annotations": [{"image_id": 1, "category_id": 1}', "not valid JSON"),
    ('{"images": [{"id": 1}] "annotations": []}', "not valid JSON"),
    ('[{"image": "a.jpg", "labels": [1, 2]}]', "not a JSON object"),
    ('{"images": [{"id": 1}], "annotations": null, "categories": [{"id": 1, "name": "a"}]}',
     "'annotations' is not an array but NoneType"),
])
def test_bad_coco_files_are_one_line_errors(cli, tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    coco._cache.clear()
    with pytest.raises(InputError, match=message):
        api.count(path, format="coco")
    result = cli("compute", path, "--format", "coco", "-o", tmp_path / "w.pt")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr and str(path) in result.stderr


def test_coco_is_told_from_other_json_by_content(tmp_path):
    reader = readers.get("coco")
    assert reader.sniff(b'{"info": {"year": 2017}, "images": [', Path("x.json")) == 0.9
    assert reader.sniff(b'\n  {\n "images": [\n', Path("x.json")) == 0.9
    assert reader.sniff(b'{"meta": 1, "images": [{"id": 1}], "annotations": [', Path("x.json")) == 0.6
    assert reader.sniff(b'[{"image": "a.jpg", "labels": ["cat"]}]', Path("x.json")) == 0.0
    assert reader.sniff(b'{"image": "a.jpg", "labels": ["cat"]}\n{"image": "b.jpg"', Path("x.jsonl")) == 0.0
    coco_file = write_json(tmp_path / "labels.json", small_coco())
    assert readers.resolve(coco_file, InputSpec()).name == "coco"


# ------------------------------------------------------------------------------- streaming JSON


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=6), inner, max_size=5),
    max_leaves=25,
)


@given(obj=st.dictionaries(st.text(max_size=8), json_values | st.lists(json_values, max_size=6), max_size=6),
       indent=st.sampled_from([None, 0, 2]), ascii=st.booleans(), chunk=st.integers(1, 40))
@settings(max_examples=200, deadline=None)
def test_streamed_members_equal_json_loads(obj, indent, ascii, chunk):
    import io

    text = json.dumps(obj, indent=indent, ensure_ascii=ascii)
    items: list = []
    values: list = []
    previous, jsonstream.CHUNK = jsonstream.CHUNK, chunk
    try:
        stream = jsonstream.JsonStream(io.BytesIO(text.encode("utf-8")), "mem.json")
        keys = jsonstream.walk_object(stream, lambda k, v: items.append((k, v)),
                                      lambda k, v: values.append((k, v)))
    finally:
        jsonstream.CHUNK = previous
    assert keys == list(obj)
    expected_items = [(k, v) for k, value in obj.items() if isinstance(value, list) for v in value]
    assert items == expected_items
    assert values == [(k, v) for k, v in obj.items() if not isinstance(v, list)]


@given(text=st.text(max_size=60), chunk=st.integers(1, 16))
@settings(max_examples=200, deadline=None)
def test_stream_never_fails_without_an_input_error(text, chunk):
    """Any text, valid JSON or not (truncated COCO-like prefixes included): a value or InputError."""
    import io

    previous, jsonstream.CHUNK = jsonstream.CHUNK, chunk
    try:
        for candidate in (text, '{"images": [' + text, '{"a": ' + text + "}"):
            stream = jsonstream.JsonStream(io.BytesIO(candidate.encode("utf-8")), "mem.json")
            try:
                jsonstream.walk_object(stream, lambda k, v: None, lambda k, v: None)
            except InputError:
                continue
            json.loads(candidate)  # accepted: it must be a valid JSON object
    finally:
        jsonstream.CHUNK = previous


def test_stream_reads_gzip_and_a_bom(tmp_path):
    import gzip

    data = small_coco()
    packed = tmp_path / "instances.json.gz"
    packed.write_bytes(gzip.compress(json.dumps(data).encode()))
    assert_counts(api.count(packed), coco_reference(data))
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + json.dumps(data).encode())
    assert_counts(api.count(bom), coco_reference(data))
    broken = tmp_path / "broken.json.gz"
    raw = bytearray(gzip.compress(json.dumps(data).encode()))
    raw[-6] ^= 0xFF  # the CRC
    broken.write_bytes(bytes(raw))
    with pytest.raises(InputError):
        api.count(broken, format="coco")


# ------------------------------------------------------------------------------------- Pascal VOC


VOC_CLASSES = ["aeroplane", "bicycle", "bird", "boat"]


def voc_lists(folder: Path, values: dict[str, dict[str, list[int]]], images: dict[str, list[str]]) -> Path:
    """ImageSets/Main files: ``values[split][class]`` per image of ``images[split]``, CRLF as VOC2007."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, per_class in values.items():
        (folder / f"{split}.txt").write_text("".join(f"{i}\n" for i in images[split]))
        for name, column in per_class.items():
            lines = "".join(f"{i} {v:2d}\r\n" for i, v in zip(images[split], column))
            (folder / f"{name}_{split}.txt").write_bytes(lines.encode())
    (folder / "class.txt").write_text("\n".join(VOC_CLASSES) + "\n")
    return folder


def random_lists(seed: int, n: int = 60):
    rng = np.random.default_rng(seed)
    images = {"train": [f"{i:06d}" for i in range(0, 2 * n, 2)], "val": [f"{i:06d}" for i in range(1, 2 * n, 2)]}
    values = {split: {c: rng.choice([1, -1, -1, -1, 0], size=n).tolist() for c in VOC_CLASSES}
              for split in images}
    return values, images


@pytest.mark.parametrize("difficult", ["ignore", "positive", "negative"])
def test_voc_lists_count_each_difficult_rule(tmp_path, difficult):
    values, images = random_lists(1)
    main = voc_lists(tmp_path / "VOC2007" / "ImageSets" / "Main", values, images)
    counts = api.count(main, voc_split="train", difficult=difficult)
    assert counts.classes == VOC_CLASSES
    assert counts.samples == 60
    for j, name in enumerate(VOC_CLASSES):
        column = values["train"][name]
        ones, zeros, minus = column.count(1), column.count(0), column.count(-1)
        want = {"ignore": (ones, minus, zeros), "positive": (ones + zeros, minus, 0),
                "negative": (ones, minus + zeros, 0)}[difficult]
        assert (counts.pos[j], counts.neg[j], counts.ignored[j]) == want
    # The VOC root reads its ImageSets/Main the same way.
    assert api.count(tmp_path / "VOC2007", voc_split="train", difficult=difficult) == counts


def test_voc_lists_need_a_split_when_there_are_several(cli, tmp_path):
    values, images = random_lists(2)
    main = voc_lists(tmp_path / "Main", values, images)
    result = cli("compute", main, "-o", tmp_path / "w.pt")
    assert result.exit_code == 2
    assert "train, val" in result.stderr and "--voc-split" in result.stderr
    result = cli("compute", main, "--voc-split", "test", "-o", tmp_path / "w.pt")
    assert result.exit_code == 2 and "its splits: train, val" in result.stderr
    one = voc_lists(tmp_path / "One", {"val": values["val"]}, images)
    assert api.count(one).samples == 60


def test_voc_lists_must_list_the_same_images(tmp_path):
    values, images = random_lists(3)
    main = voc_lists(tmp_path / "Main", values, images)
    path = main / "bird_train.txt"
    path.write_text("\n".join(path.read_text().splitlines()[:-1]) + "\n")
    with pytest.raises(InputError, match="bird_train.txt: the image '000118' of aeroplane_train.txt is not listed"):
        api.count(main, voc_split="train")
    path.write_text("000000 2\n")
    with pytest.raises(InputError, match="line 1: expected 'image_id 1|-1|0'"):
        api.count(main, voc_split="train")


def test_voc_lists_with_a_classes_file_and_sample_ids(tmp_path):
    values, images = random_lists(4)
    main = voc_lists(tmp_path / "Main", values, images)
    names = tmp_path / "some.txt"
    names.write_text("bird\naeroplane\n")
    counts = api.count(main, voc_split="val", classes_file=names)
    assert counts.classes == ["bird", "aeroplane"]
    assert counts.pos.tolist() == [values["val"]["bird"].count(1), values["val"]["aeroplane"].count(1)]
    assert any("not read: bicycle, boat" in n for n in counts.notes)
    weights = sample_weights(main, InputSpec(voc_split="val"))
    assert weights.ids == images["val"] and weights.rows.tolist() == list(range(1, 61))


def voc_xml(path: Path, filename: str, objects: list[tuple[str, int | None]], parts: bool = False) -> Path:
    body = []
    for name, difficult in objects:
        flag = "" if difficult is None else f"<difficult>{difficult}</difficult>"
        part = "<part><name>head</name><bndbox/></part>" if parts else ""
        body.append(f"<object><name>{name}</name><pose>Left</pose>{flag}<bndbox><xmin>1</xmin></bndbox>{part}"
                    "</object>")
    path.write_text(f'<?xml version="1.0"?>\n<annotation><folder>VOC</folder><filename>{filename}</filename>'
                    f"<size><width>5</width></size>{''.join(body)}</annotation>")
    return path


def xml_reference(objects_per_image: list[list[tuple[str, int | None]]], classes: list[str], difficult: str):
    pos, neg, ignored = [0] * len(classes), [0] * len(classes), [0] * len(classes)
    for objects in objects_per_image:
        for j, name in enumerate(classes):
            plain = any(n == name and not d for n, d in objects)
            hard = any(n == name and d for n, d in objects)
            if plain or (hard and difficult == "positive"):
                pos[j] += 1
            elif hard and difficult == "ignore":
                ignored[j] += 1
            else:
                neg[j] += 1
    return pos, neg, ignored


def random_annotations(folder: Path, seed: int, n: int = 40) -> list[list[tuple[str, int | None]]]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        objects = [(str(rng.choice(["person", "dog", "cat", "horse"])), [None, 0, 1][int(rng.integers(0, 3))])
                   for _ in range(int(rng.integers(0, 4)))]
        voc_xml(folder / f"2008_{i:06d}.xml", f"2008_{i:06d}.jpg", objects, parts=bool(i % 3 == 0))
        out.append(objects)
    return out


@pytest.mark.parametrize("difficult", ["ignore", "positive", "negative"])
def test_voc_xml_counts_equal_the_reference(tmp_path, difficult):
    objects = random_annotations(tmp_path / "Annotations", 5)
    counts = api.count(tmp_path / "Annotations", difficult=difficult)
    classes = sorted({n for image in objects for n, _ in image})
    assert counts.classes == classes  # sorted, as VOC's own class order; 'head' parts are no class
    assert (counts.pos.tolist(), counts.neg.tolist(), counts.ignored.tolist()) == \
        xml_reference(objects, classes, difficult)
    assert counts.samples == 40


def test_voc_xml_split_classes_file_ids_and_skipped_files(tmp_path):
    objects = random_annotations(tmp_path / "Annotations", 6)
    (tmp_path / "Annotations" / "notes.xml").write_text("<root><x/></root>")
    main = tmp_path / "ImageSets" / "Main"
    main.mkdir(parents=True)
    picked = [7, 3, 30]
    (main / "train.txt").write_text("".join(f"2008_{i:06d}\n" for i in picked))
    names = tmp_path / "classes.txt"
    names.write_text("person\ndog\ncat\nhorse\nsheep\n")
    counts = api.count(tmp_path / "Annotations", voc_split="train", classes_file=names)
    assert counts.classes == ["person", "dog", "cat", "horse", "sheep"]
    assert counts.pos.tolist() + counts.neg.tolist() + counts.ignored.tolist() == \
        sum(xml_reference([objects[i] for i in picked], counts.classes, "ignore"), [])
    weights = sample_weights(tmp_path / "Annotations", InputSpec(voc_split="train"))
    assert weights.ids == [f"2008_{i:06d}.jpg" for i in picked]
    everything = api.count(tmp_path / "Annotations")
    assert everything.samples == 40 and any("notes.xml: not a VOC annotation" in n for n in everything.notes)
    names.write_text("person\n")
    with pytest.raises(InputError, match="which .*classes.txt does not name"):
        api.count(tmp_path / "Annotations", classes_file=names)
    with pytest.raises(UsageError, match="no .*ImageSets/Main/val.txt"):
        api.count(tmp_path / "Annotations", voc_split="val")


def test_single_voc_xml_files_are_recognised_by_content(tmp_path):
    a = voc_xml(tmp_path / "a.xml", "a.jpg", [("cat", 0), ("dog", 1)])
    b = voc_xml(tmp_path / "b.xml", "b.jpg", [])
    assert readers.resolve(a, InputSpec()).name == "voc"
    counts = api.count([a, b])
    assert counts.classes == ["cat", "dog"]
    assert (counts.pos.tolist(), counts.neg.tolist(), counts.ignored.tolist()) == ([1, 0], [1, 1], [0, 1])
    bad = tmp_path / "c.xml"
    bad.write_text("<annotation><object><name>cat</name><difficult>maybe</difficult></object></annotation>")
    with pytest.raises(InputError, match="<difficult> is 'maybe'"):
        api.count(bad)
    bad.write_text("<annotation><object><name>cat</name></object>")
    with pytest.raises(InputError, match="not a readable XML file"):
        api.count(bad)


# ------------------------------------------------------------------------------------------- YOLO


def yolo_folder(folder: Path, seed: int, n: int = 50, classes: int = 6) -> list[set[int]]:
    """Label files with boxes, segments and keypoints lines, some empty; class 4 never used."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        used = [int(c) for c in rng.choice([0, 1, 2, 3, 5], size=int(rng.integers(0, 5)))]
        lines = []
        for k, c in enumerate(used):
            coords = rng.random(4 if k % 3 else 8).round(6)
            lines.append(" ".join([str(c), *map(str, coords)]))
        (folder / f"{i:012d}.txt").write_text("\n".join(lines) + ("\n" if lines and i % 2 else ""))
        out.append(set(used))
    return out


def test_yolo_folder_with_a_yaml_mapping_counts_every_class(tmp_path):
    used = yolo_folder(tmp_path / "labels" / "train", 7)
    (tmp_path / "labels" / "train" / "classes.txt").write_text("a\nb\nc\nd\ne\nf\n")  # LabelImg writes one
    yaml = tmp_path / "data.yaml"
    yaml.write_text("path: .\nnames:\n  0: person\n  1: bicycle\n  2: car\n  3: motorcycle\n  4: airplane\n"
                    "  5: bus\n")
    counts = api.count(tmp_path / "labels" / "train", classes_file=yaml)
    assert counts.classes == ["person", "bicycle", "car", "motorcycle", "airplane", "bus"]
    assert counts.samples == 50
    assert counts.pos.tolist() == [sum(c in u for u in used) for c in range(6)]
    assert counts.neg.tolist() == [50 - sum(c in u for u in used) for c in range(6)]
    assert counts.pos[4] == 0  # airplane: named, never used
    assert counts.no_positive == sum(not u for u in used)
    assert any("classes.txt: not a YOLO label file" in n for n in counts.notes)
    weights = sample_weights(tmp_path / "labels" / "train", InputSpec(classes_file=yaml))
    assert weights.ids == [f"{i:012d}" for i in range(50)] and weights.meta["id_column"] == "label_file"
    with pytest.raises(UsageError, match="--id-column path"):
        sample_weights(tmp_path / "labels" / "train", InputSpec(classes_file=yaml),
                       options=SampleOptions(id_column="path"))


def test_yolo_names_list_text_file_and_ids(tmp_path):
    used = yolo_folder(tmp_path / "labels", 8)
    yaml = tmp_path / "data.yaml"
    yaml.write_text("names: [a, b, c, d, e, f, g]\n")
    counts = api.count(tmp_path / "labels", classes_file=yaml)
    assert counts.classes == list("abcdefg") and counts.pos.tolist()[-1] == 0
    names = tmp_path / "obj.names"
    names.write_text("a\nb\nc\nd\ne\nf\n")
    assert api.count(tmp_path / "labels", classes_file=names).pos.tolist() == counts.pos.tolist()[:6]
    # Without names: the ids 0 .. the largest met, one between them unused.
    plain = api.count(tmp_path / "labels")
    assert plain.classes == ["0", "1", "2", "3", "4", "5"]
    assert plain.pos.tolist() == [sum(c in u for u in used) for c in range(6)]
    short = tmp_path / "short.names"
    short.write_text("a\nb\n")
    with pytest.raises(InputError, match=r"the class id \d is not in .*short.names \(2 classes\)"):
        api.count(tmp_path / "labels", classes_file=short)


def test_yolo_files_given_one_by_one_and_empty_ones(tmp_path):
    yolo_folder(tmp_path / "l", 9, n=12)
    (tmp_path / "l" / "empty.txt").write_text("")
    files = sorted((tmp_path / "l").glob("*.txt"))
    assert all(readers.resolve(f, InputSpec()).name == "yolo" for f in files)
    by_glob = api.count(str(tmp_path / "l" / "*.txt"))
    by_folder = api.count(tmp_path / "l")
    assert by_glob.to_dict() == by_folder.to_dict()
    assert by_glob.samples == 13


def test_no_class_at_all_is_an_error(cli, tmp_path):
    folder = tmp_path / "labels"
    folder.mkdir()
    for name in ("a", "b"):
        (folder / f"{name}.txt").write_text("")
    result = cli("compute", folder, "-o", tmp_path / "w.pt")
    assert result.exit_code == 1 and "name no class" in result.stderr and "Traceback" not in result.stderr
    names = tmp_path / "names.txt"
    names.write_text("cat\ndog\n")
    counts = api.count(folder, classes_file=names)
    assert counts.neg.tolist() == [2, 2] and counts.no_positive == 2
    empty = write_json(tmp_path / "c.json", {"images": [{"id": 1}], "annotations": [], "categories": []})
    result = cli("compute", empty, "-o", tmp_path / "w.pt")
    assert result.exit_code == 1 and "'categories' list is empty" in result.stderr


def test_yolo_folder_claim_leaves_tables_alone(tmp_path):
    tables = tmp_path / "tables"
    tables.mkdir()
    (tables / "train_list.txt").write_text("img1.png 0 1 0\nimg2.png 1 0 0\n")
    assert not readers.get("yolo").claims_folder(tables, InputSpec())
    multihot = tmp_path / "multihot"
    multihot.mkdir()
    (multihot / "labels.txt").write_text("0 1 0 1 1\n1 0 0 1 0\n")
    assert not readers.get("yolo").claims_folder(multihot, InputSpec())
    assert readers.resolve(multihot / "labels.txt", InputSpec()).name == "csv"
    darknet = tmp_path / "darknet"
    yolo_folder(darknet / "obj_train_data", 10, n=5)
    (darknet / "train.txt").write_text("data/obj_train_data/000000000000.jpg\n")
    assert readers.get("yolo").claims_folder(darknet, InputSpec())
    assert api.count(darknet).samples == 5


@pytest.mark.parametrize("line, message", [
    ("0 0.5 0.5 0.2", "expected 'class x y w h', found 4 fields"),
    ("-1 0.5 0.5 0.2 0.1", "is not a class id"),
    ("1 0.5 x 0.2 0.1", "'x' is not a coordinate"),
    ("1 0.5 nan 0.2 0.1", "'nan' is not a coordinate"),
])
def test_bad_yolo_lines_name_the_file_and_line(cli, tmp_path, line, message):
    folder = tmp_path / "labels"
    yolo_folder(folder, 11, n=3)
    (folder / "zz.txt").write_text("0 0.1 0.1 0.1 0.1\n" + line + "\n")
    with pytest.raises(InputError, match=message):
        api.count(folder)
    result = cli("compute", folder, "-o", tmp_path / "w.pt")
    assert result.exit_code == 1 and "zz.txt: line 2" in result.stderr and "Traceback" not in result.stderr


# ---------------------------------------------------------------------------------------- options


def test_annotation_options_are_refused_elsewhere_and_checked(cli, tmp_path, sample_data):
    result = cli("compute", sample_data / "chest_xray_labels.csv", "--no-crowd", "-o", tmp_path / "w.pt")
    assert result.exit_code == 2 and "--no-crowd does not apply" in result.stderr
    coco_file = write_json(tmp_path / "c.json", small_coco())
    result = cli("compute", coco_file, "--voc-split", "train", "-o", tmp_path / "w.pt")
    assert result.exit_code == 2 and "--voc-split does not apply to coco" in result.stderr
    result = cli("compute", coco_file, "--difficult", "maybe", "-o", tmp_path / "w.pt")
    assert result.exit_code == 2
    with pytest.raises(UsageError, match="--difficult maybe"):
        api.count(voc_xml(tmp_path / "a.xml", "a.jpg", [("cat", 1)]), difficult="maybe")


def test_the_checks_read_the_annotations_as_counted(tmp_path):
    from bceweights.engines import count_paths
    from bceweights.targets import sample_targets

    data = small_coco(lvis=True)
    path = write_json(tmp_path / "lvis.json", data)
    tally = count_paths(path, InputSpec())
    batch = sample_targets(tally, tally.counts.classes)
    ref = coco_reference(data)["rows"]
    expected = np.array([[np.nan if v is None else v for v in row] for row in ref], dtype=np.float32)
    np.testing.assert_array_equal(batch.values, expected)


def test_errors_of_partitions_are_bceweights_errors(tmp_path):
    """A broken file among many is reported by name from the worker processes."""
    folder = tmp_path / "labels"
    yolo_folder(folder, 12, n=600)
    (folder / "000000000321.txt").write_text("3 0.1 0.2\n")
    with pytest.raises(BceWeightsError, match="000000000321.txt: line 1"):
        api.count(folder, workers=2)
