"""COCO, Pascal VOC and YOLO files from public datasets (../shared/data) count exactly as a plain-Python
count of the same files does, and the Dask engine gives the local engine's tensors."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import yaml

from bceweights import api
from bceweights.sampling import sample_weights
from bceweights.spec import InputSpec

pytestmark = pytest.mark.realdata
distributed = pytest.importorskip("distributed")
torch = pytest.importorskip("torch")

COCO_FILES = [
    "coco_instances/coco_tiny_zzowenzz/instances_train2017.json",
    "coco_instances/coco_tiny_zzowenzz/instances_val2017.json",
    "coco_instances/coco128_developer0hye/instances_train2017.json",
    "taco_coco_format/annotations.json",
    "coco128_segmentation/panoptic_segmentation/panoptic_train2017.json",
    "coco128_segmentation/panoptic_segmentation/panoptic_val2017.json",
    "pascal_voc/voc2012_subset_rafaelpadilla/same_images_other_formats/coco_instances_default.json",
]
RAFAEL = "pascal_voc/voc2012_subset_rafaelpadilla"


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=None, silence_logs=50)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def assert_same_tensors(local, dask) -> None:
    assert dask.counts.to_dict() == local.counts.to_dict()
    a, b = local.payload(), dask.payload()
    assert a.keys() == b.keys() and a["classes"] == b["classes"]
    for key, value in a.items():
        if isinstance(value, torch.Tensor):
            assert value.dtype == b[key].dtype and torch.equal(value, b[key]), key


def check(counts, classes, pos, neg, ignored=None, samples=None) -> None:
    assert counts.classes == list(classes)
    assert counts.pos.tolist() == list(pos)
    assert counts.neg.tolist() == list(neg)
    assert counts.ignored.tolist() == list(ignored if ignored is not None else [0] * len(classes))
    if samples is not None:
        assert counts.samples == samples


# ------------------------------------------------------------------------------------------- COCO


def coco_plain(path: Path, no_crowd: bool = False):
    """Per category (by id): images with an annotation (or panoptic segment), with json.load."""
    data = json.loads(path.read_text())
    cats = sorted(data["categories"], key=lambda c: c["id"])
    present: dict[int, set] = {c["id"]: set() for c in cats}
    crowd_only: dict[int, set] = {c["id"]: set() for c in cats}
    for a in data["annotations"]:
        for seg in a.get("segments_info", [a]):
            (crowd_only if no_crowd and seg["iscrowd"] else present)[seg["category_id"]].add(a["image_id"])
    n = len(data["images"])
    pos = [len(present[c["id"]]) for c in cats]
    ignored = [len(crowd_only[c["id"]] - present[c["id"]]) for c in cats]
    neg = [n - p - i for p, i in zip(pos, ignored)]
    return data, [c["name"] for c in cats], pos, neg, ignored


@pytest.mark.parametrize("name", COCO_FILES)
def test_coco_files_count_as_a_plain_count(shared_data, name, client):
    path = shared_data / name
    data, classes, pos, neg, ignored = coco_plain(path)
    local = api.compute(path)
    check(local.counts, classes, pos, neg, ignored, samples=len(data["images"]))
    assert_same_tensors(local, api.compute(path, engine="dask", scheduler=client))
    _, _, pos, neg, ignored = coco_plain(path, no_crowd=True)
    crowdless = api.count(path, no_crowd=True)
    check(crowdless, classes, pos, neg, ignored)
    weights = sample_weights(path, InputSpec())
    assert weights.ids == [image["file_name"] for image in data["images"]]


def test_coco128_has_two_images_without_annotations(shared_data):
    counts = api.count(shared_data / COCO_FILES[2])
    assert counts.samples == 128 and counts.no_positive == 2
    assert int((counts.pos == 0).sum()) == 9  # 71 of the 80 categories are used


def test_taco_zero_based_ids(shared_data):
    counts = api.count(shared_data / "taco_coco_format/annotations.json")
    data = json.loads((shared_data / "taco_coco_format/annotations.json").read_text())
    assert counts.classes[0] == next(c["name"] for c in data["categories"] if c["id"] == 0)
    assert counts.num_classes == 60 and int((counts.pos == 0).sum()) == 1


def test_coco_files_counted_together(shared_data, client):
    paths = [shared_data / COCO_FILES[0], shared_data / COCO_FILES[1]]
    together = api.compute(paths)
    parts = [api.count(p) for p in paths]
    assert together.counts.pos.tolist() == (parts[0].pos + parts[1].pos).tolist()
    assert together.counts.samples == 160
    assert_same_tensors(together, api.compute(paths, engine="dask", scheduler=client))


def test_coco_cli_runs_the_checks(shared_data, cli, tmp_path):
    for name in (COCO_FILES[2], COCO_FILES[4]):
        result = cli("compute", shared_data / name, "-o", tmp_path / "w.pt")
        assert result.exit_code == 0, result.stderr
        assert "FAIL" not in result.stdout


# -------------------------------------------------------------------------------------- Pascal VOC


def voc_lists_plain(folder: Path, split: str):
    files = sorted(folder.glob(f"*_{split}.txt"))
    classes = [f.name[: -len(f"_{split}.txt")] for f in files]
    values = []
    for f in files:
        values.append([int(line.split()[1]) for line in f.read_text().splitlines() if line.strip()])
    return classes, values


@pytest.mark.parametrize("split", ["trainval", "test", "train", "val"])
def test_voc2007_image_sets_count_as_a_plain_count(shared_data, split, client):
    folder = shared_data / "pascal_voc/voc2007_imagesets_main"
    classes, values = voc_lists_plain(folder, split)
    assert len(classes) == 20
    for difficult in ("ignore", "positive", "negative"):
        counts = api.count(folder, voc_split=split, difficult=difficult)
        pos = [v.count(1) + (v.count(0) if difficult == "positive" else 0) for v in values]
        neg = [v.count(-1) + (v.count(0) if difficult == "negative" else 0) for v in values]
        ignored = [v.count(0) if difficult == "ignore" else 0 for v in values]
        check(counts, classes, pos, neg, ignored, samples=len(values[0]))
    local = api.compute(folder, voc_split=split)
    assert_same_tensors(local, api.compute(folder, voc_split=split, engine="dask", scheduler=client))


def test_voc2007_trainval_totals_and_ids(shared_data):
    folder = shared_data / "pascal_voc/voc2007_imagesets_main"
    counts = api.count(folder, voc_split="trainval")
    assert counts.samples == 5011
    weights = sample_weights(folder, InputSpec(voc_split="trainval"))
    first = (folder / "aeroplane_trainval.txt").read_text().split()[::2]
    assert weights.ids == first


def xml_plain(folder: Path, difficult: str):
    images = []
    for path in sorted(folder.glob("*.xml")):
        root = ET.parse(path).getroot()
        objects = [(o.find("name").text.strip(), int(o.findtext("difficult") or 0)) for o in root.findall("object")]
        images.append(objects)
    classes = sorted({n for objects in images for n, _ in objects})
    pos, neg, ignored = [0] * len(classes), [0] * len(classes), [0] * len(classes)
    for objects in images:
        for j, c in enumerate(classes):
            plain = any(n == c and not d for n, d in objects)
            hard = any(n == c and d for n, d in objects)
            if plain or (hard and difficult == "positive"):
                pos[j] += 1
            elif hard and difficult == "ignore":
                ignored[j] += 1
            else:
                neg[j] += 1
    return classes, pos, neg, ignored, len(images)


@pytest.mark.parametrize("difficult", ["ignore", "positive", "negative"])
def test_voc_annotations_count_as_a_plain_count(shared_data, difficult, client, monkeypatch):
    folder = shared_data / RAFAEL / "Annotations"
    classes, pos, neg, ignored, n = xml_plain(folder, difficult)
    local = api.compute(folder, difficult=difficult)
    check(local.counts, classes, pos, neg, ignored, samples=n)
    from bceweights.readers import annotations

    monkeypatch.setattr(annotations, "MAX_FILES", 7)  # many partitions, each meeting classes in its order
    assert_same_tensors(local, api.compute(folder, difficult=difficult, engine="dask", scheduler=client))


def test_voc_annotations_agree_with_their_coco_and_yolo_exports(shared_data):
    """The repository exported the same boxes as COCO and YOLO, dropping 'difficult': the XML read
    with --difficult positive must give the exports' counts, class by class."""
    xml = api.count(shared_data / RAFAEL / "Annotations", difficult="positive")
    other = shared_data / RAFAEL / "same_images_other_formats"
    exported = api.count(other / "coco_instances_default.json")
    yolo = api.count(other / "yolo_format" / "obj_train_data", classes_file=other / "yolo_format" / "obj.names")
    for counts in (exported, yolo):
        assert sorted(counts.classes) == xml.classes
        assert counts.reorder(xml.classes).pos.tolist() == xml.pos.tolist()
        assert counts.samples == xml.samples == 100


# ------------------------------------------------------------------------------------------- YOLO


def yolo_plain(folder: Path, names: list[str]):
    present = [set() for _ in names]
    files = sorted(folder.glob("*.txt"))
    for path in files:
        for line in path.read_text().splitlines():
            if line.strip():
                present[int(line.split()[0])].add(path.name)
    pos = [len(p) for p in present]
    return pos, [len(files) - p for p in pos], len(files)


def test_yolo_coco128_counts_as_a_plain_count(shared_data, client, monkeypatch):
    folder = shared_data / "yolo_coco128/labels/train2017"
    config = shared_data / "yolo_coco128/config.yaml"
    names = [name for _, name in sorted(yaml.safe_load(config.read_text())["names"].items())]
    pos, neg, n = yolo_plain(folder, names)
    local = api.compute(folder, classes_file=config)
    check(local.counts, names, pos, neg, samples=n)
    assert n == 128 and sum(p > 0 for p in pos) == 71
    from bceweights.readers import annotations

    monkeypatch.setattr(annotations, "MAX_FILES", 9)
    assert_same_tensors(local, api.compute(folder, classes_file=config, engine="dask", scheduler=client))
    by_id = api.count(folder)
    assert by_id.classes == [str(i) for i in range(80)] and by_id.pos.tolist() == pos
    weights = sample_weights(folder, InputSpec(classes_file=config))
    assert weights.ids == sorted(p.stem for p in folder.glob("*.txt"))


def test_yolo_darknet_export_with_obj_names(shared_data, cli, tmp_path):
    base = shared_data / RAFAEL / "same_images_other_formats/yolo_format"
    names = (base / "obj.names").read_text().split()
    pos, neg, n = yolo_plain(base / "obj_train_data", names)
    counts = api.count(base, classes_file=base / "obj.names")  # train.txt beside the labels: skipped
    check(counts, names, pos, neg, samples=n)
    assert any("train.txt: not a YOLO label file" in note for note in counts.notes)
    result = cli("compute", base / "obj_train_data", "--classes-file", base / "obj.names", "-o", tmp_path / "w.pt")
    assert result.exit_code == 0, result.stderr


def test_repeat_factors_on_real_coco(shared_data):
    import math

    path = shared_data / COCO_FILES[2]
    data = json.loads(path.read_text())
    per_image = {im["id"]: set() for im in data["images"]}
    for a in data["annotations"]:
        per_image[a["image_id"]].add(a["category_id"])
    freq: dict[int, int] = {}
    for cats in per_image.values():
        for c in cats:
            freq[c] = freq.get(c, 0) + 1
    rep = {c: max(1.0, math.sqrt(0.1 / (v / len(per_image)))) for c, v in freq.items()}
    expected = [max({rep[c] for c in per_image[im["id"]]}, default=1.0) for im in data["images"]]
    from bceweights.sampling import SampleOptions

    got = sample_weights(path, InputSpec(), options=SampleOptions(repeat_threshold=0.1)).repeat_factors
    np.testing.assert_allclose(got, expected, rtol=1e-12)
