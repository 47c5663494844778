"""Annotation formats at scale, whole processes, medians (time and peak RSS).

COCO: a COCO-train-size instances JSON read by ``json.load``, orjson (when installed), the streaming
reader of ``bceweights.readers.jsonstream``, the COCO reader's rows, and the whole ``compute`` job:

    python benchmarks/annotations.py gen /tmp/coco_train_like.json          # ~450 MB, train2017's shape
    python benchmarks/annotations.py run /tmp/coco_train_like.json [--repeat 3]

Per-image files: 40,000 YOLO label files and 17,000 VOC XML files (VOC2012's count), counted with
``--workers 1`` and ``2``:

    python benchmarks/annotations.py gen-folders /tmp/folders
    python benchmarks/annotations.py run-folders /tmp/folders [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

IMAGES = 118_287
ANNOTATIONS = 860_001
CATEGORY_IDS = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]


def generate(path: Path, images: int = IMAGES, annotations: int = ANNOTATIONS, seed: int = 0) -> None:
    """A file shaped like instances_train2017.json: polygons (about 470 bytes an annotation), 1% crowd
    annotations with RLE counts, 1% of the images without annotation, categories last."""
    rng = random.Random(seed)
    with open(path, "w") as fh:
        fh.write('{"info": {"description": "synthetic COCO-like"}, "licenses": [], "images": [')
        for i in range(images):
            fh.write(("," if i else "") + json.dumps({
                "license": 1, "file_name": f"{i:012d}.jpg", "coco_url": f"http://x/{i:012d}.jpg",
                "height": 480, "width": 640, "date_captured": "2013-11-14 17:02:52", "id": i}))
        fh.write('], "annotations": [')
        with_labels = images - images // 100
        for a in range(annotations):
            crowd = rng.random() < 0.01
            if crowd:
                seg = {"counts": [rng.randrange(1, 400) for _ in range(rng.randrange(50, 400))], "size": [480, 640]}
            else:
                seg = [[round(rng.uniform(0, 640), 2) for _ in range(2 * rng.randrange(6, 40))]]
            fh.write(("," if a else "") + json.dumps({
                "segmentation": seg, "area": round(rng.uniform(10, 9e4), 4), "iscrowd": int(crowd),
                "image_id": rng.randrange(with_labels), "bbox": [round(rng.uniform(0, 600), 2) for _ in range(4)],
                "category_id": rng.choice(CATEGORY_IDS), "id": a}))
        fh.write('], "categories": [')
        fh.write(",".join(json.dumps({"supercategory": "s", "id": c, "name": f"class {c}"}) for c in CATEGORY_IDS))
        fh.write("]}")


READERS = {
    "json.load": "import json; d = json.load(open(P)); n = len(d['annotations'])",
    "orjson": "import orjson; d = orjson.loads(open(P, 'rb').read()); n = len(d['annotations'])",
    "stream": ("from bceweights.readers import coco; ix = coco.scan(__import__('pathlib').Path(P)); "
               "n = len(ix.ann_category)"),
    "bceweights": ("from bceweights.readers import coco; from bceweights.spec import InputSpec; "
                   "from pathlib import Path; "
                   "n = sum(b.labels.shape[0] for b in coco.CocoReader().rows(Path(P), InputSpec()))"),
    # The whole job: count, the checks and per-sample weights (the second and third passes use the
    # compact index the first one kept, not the JSON).
    "compute CLI": ("import tempfile, os; from bceweights.cli import app; d = tempfile.mkdtemp(); "
                    "app(['compute', P, '-o', os.path.join(d, 'w.pt'), '--sample-weights', "
                    "os.path.join(d, 's.pt'), '-q'], standalone_mode=False); n = 0"),
}


def run(path: Path, repeat: int) -> None:
    times: dict[str, list[float]] = {k: [] for k in READERS}
    rss: dict[str, list[float]] = {k: [] for k in READERS}
    for _ in range(repeat):
        for name, code in READERS.items():
            script = (f"import resource, time; P = {str(path)!r}; t = time.perf_counter(); {code}; "
                      "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, n)")
            out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
            if out.returncode:
                print(name, "failed:", out.stderr.strip().splitlines()[-1:])
                continue
            seconds, peak, n = out.stdout.split()
            times[name].append(float(seconds))
            rss[name].append(float(peak))
    size = path.stat().st_size / 1e6
    print(f"{path} ({size:,.0f} MB), medians of {repeat}:")
    for name in READERS:
        if times[name]:
            seconds, peak = statistics.median(times[name]), statistics.median(rss[name])
            print(f"  {name:12s} {seconds:6.2f} s  peak RSS {peak:7,.0f} MB")


VOC_NAMES = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
             "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"]


def generate_folders(root: Path, yolo: int = 40_000, xml: int = 17_000, seed: int = 0) -> None:
    """``root/labels``: YOLO files, 7 boxes an image on average over 80 classes (some empty);
    ``root/Annotations``: VOC XML files of 1-4 objects, 10% of them difficult."""
    rng = random.Random(seed)
    labels, annotations = root / "labels", root / "Annotations"
    labels.mkdir(parents=True, exist_ok=True)
    annotations.mkdir(parents=True, exist_ok=True)
    for i in range(yolo):
        lines = [f"{rng.randrange(80)} " + " ".join(f"{rng.random():.6f}" for _ in range(4))
                 for _ in range(rng.choice([0, 3, 5, 7, 9, 11]))]
        (labels / f"{i:012d}.txt").write_text("".join(line + "\n" for line in lines))
    for i in range(xml):
        objects = "".join(
            f"<object><name>{rng.choice(VOC_NAMES)}</name><pose>Left</pose><truncated>0</truncated>"
            f"<difficult>{int(rng.random() < 0.1)}</difficult><bndbox><xmin>1</xmin><ymin>2</ymin>"
            "<xmax>30</xmax><ymax>40</ymax></bndbox></object>" for _ in range(rng.randrange(1, 5)))
        (annotations / f"2008_{i:06d}.xml").write_text(
            f"<annotation><folder>VOC2012</folder><filename>2008_{i:06d}.jpg</filename><size><width>500"
            f"</width><height>375</height><depth>3</depth></size><segmented>0</segmented>{objects}</annotation>")


def run_folders(root: Path, repeat: int) -> None:
    import resource

    rows = []
    for folder in ("labels", "Annotations"):
        for workers in (1, 2):
            times, peaks = [], []
            for _ in range(repeat):
                out = root / "w.pt"
                t = time.perf_counter()
                subprocess.run([sys.executable, "-m", "bceweights", "compute", str(root / folder), "-o", str(out),
                                "-q", "--no-validate", "--workers", str(workers)], check=True)
                times.append(time.perf_counter() - t)
                peaks.append(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
            rows.append((folder, workers, statistics.median(times), max(peaks)))
    for folder, workers, seconds, peak in rows:
        print(f"  {folder:12s} --workers {workers}: {seconds:6.2f} s  peak RSS {peak:5,.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["gen", "run", "gen-folders", "run-folders"])
    parser.add_argument("path", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--images", type=int, default=IMAGES)
    parser.add_argument("--annotations", type=int, default=ANNOTATIONS)
    args = parser.parse_args()
    if args.what == "gen-folders":
        generate_folders(args.path)
    elif args.what == "run-folders":
        run_folders(args.path, args.repeat)
    elif args.what == "gen":
        t = time.perf_counter()
        generate(args.path, args.images, args.annotations)
        print(f"wrote {args.path} ({args.path.stat().st_size / 1e6:,.0f} MB) in {time.perf_counter() - t:.0f} s")
    else:
        run(args.path, args.repeat)


if __name__ == "__main__":
    main()
