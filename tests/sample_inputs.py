"""One small input of every format the readers read, written by a function each (``KINDS``: name →
(writer, options)), for the tests that read them from object storage and on a cluster. Not a test
module."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

RNG = np.random.default_rng(16)


def wide_rows(n: int = 3000, classes: int = 5) -> np.ndarray:
    values = (RNG.random((n, classes)) < np.linspace(0.05, 0.9, classes)).astype(int).astype(object)
    values[RNG.random((n, classes)) < 0.02] = ""
    values[RNG.random((n, classes)) < 0.02] = -1
    return values


def write_csv(folder: Path, name: str = "labels.csv") -> Path:
    values = wide_rows()
    lines = ["id," + ",".join(f"c{j}" for j in range(values.shape[1]))]
    lines += [f"img{i}.jpg," + ",".join(map(str, row)) for i, row in enumerate(values)]
    path = folder / name
    path.write_text("\n".join(lines) + "\n")
    return path


def write_csv_gz(folder: Path) -> Path:
    plain = write_csv(folder, "plain.csv")
    path = folder / "labels.csv.gz"
    path.write_bytes(gzip.compress(plain.read_bytes()))
    plain.unlink()
    return path


def write_lists(folder: Path) -> Path:
    names = ["Mass", "Nodule", "Hernia", "Edema", "Zeta"]
    lines = ["Image Index,Finding Labels"]
    for i in range(2000):
        picked = [c for c in names[: 2 + (3 * i) // 2000] if RNG.random() < 0.3] or ["No Finding"]
        lines.append(f"img_{i}.png,{'|'.join(picked)}")
    path = folder / "findings.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_parquet(folder: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    y = (RNG.random((5000, 6)) < 0.3).astype(np.int8)
    table = pa.table({f"c{j}": y[:, j] for j in range(6)} | {"id": [f"x{i}" for i in range(len(y))]})
    path = folder / "labels.parquet"
    pq.write_table(table, path, row_group_size=700)
    return path


def write_npy(folder: Path) -> Path:
    path = folder / "labels.npy"
    np.save(path, (RNG.random((20_000, 7)) < 0.2).astype(np.uint8))
    return path


def write_soft_npy(folder: Path) -> Path:
    y = RNG.random((3000, 4)).round(2)
    y[RNG.random(y.shape) < 0.05] = np.nan
    path = folder / "soft.npy"
    np.save(path, y)
    return path


def write_npz(folder: Path) -> Path:
    path = folder / "labels.npz"
    np.savez_compressed(path, y=(RNG.random((4000, 5)) < 0.4).astype(np.uint8),
                        classes=np.array(["a", "b", "c", "d", "e"]))
    return path


def write_pt(folder: Path) -> Path:
    import torch

    path = folder / "labels.pt"
    torch.save({"y": torch.from_numpy((RNG.random((3000, 3)) < 0.5).astype(np.float32)),
                "classes": ["x", "y", "z"]}, path)
    return path


def write_arff(folder: Path) -> Path:
    rows = (RNG.random((400, 3)) < 0.4).astype(int)
    header = "@relation 'tiny: -C 3'\n@attribute y1 {0,1}\n@attribute y2 {0,1}\n@attribute y3 {0,1}\n" \
             "@attribute f numeric\n@data\n"
    path = folder / "t.arff"
    path.write_text(header + "".join(f"{a},{b},{c},{i / 7:.3f}\n" for i, (a, b, c) in enumerate(rows)))
    return path


def write_png_masks(folder: Path) -> Path:
    from PIL import Image

    masks = folder / "masks"
    (masks / "part2").mkdir(parents=True)
    for i in range(6):
        mask = RNG.choice([0, 1, 2, 3, 255], size=(24, 32), p=[0.5, 0.2, 0.15, 0.1, 0.05]).astype(np.uint8)
        Image.fromarray(mask).save(masks / ("part2" if i % 2 else "") / f"m{i}.png")
    (masks / "notes.md").write_text("not a label file")
    return masks


def write_tiff_masks(folder: Path) -> Path:
    tifffile = pytest.importorskip("tifffile")
    masks = folder / "tiffs"
    masks.mkdir()
    for i in range(3):
        tifffile.imwrite(masks / f"t{i}.tif", RNG.integers(0, 4, size=(16, 20), dtype=np.uint8))
    return masks


def write_npy_masks(folder: Path) -> Path:
    masks = folder / "npymasks"
    masks.mkdir()
    for i in range(4):
        np.save(masks / f"m{i}.npy", RNG.integers(0, 3, size=(12, 10), dtype=np.uint8))
    return masks


def write_nifti(folder: Path) -> Path:
    nib = pytest.importorskip("nibabel")
    volumes = folder / "volumes"
    volumes.mkdir()
    for i in range(3):
        v = RNG.choice([0, 1, 2, 9], size=(5, 7, 4), p=[0.7, 0.15, 0.1, 0.05]).astype(np.uint8)
        nib.save(nib.Nifti1Image(v, np.eye(4)), str(volumes / f"v{i}.nii.gz"))
    return volumes


def write_jsonl(folder: Path) -> Path:
    import json

    path = folder / "records.jsonl"
    names = ["cat", "dog", "bird"]
    rows = [{"id": i, "labels": [n for n in names if RNG.random() < 0.3]} for i in range(120)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def write_arrow(folder: Path) -> Path:
    import pyarrow as pa

    path = folder / "data.arrow"
    labels = pa.array([[int(c) for c in np.flatnonzero(RNG.random(4) < 0.3)] for _ in range(150)],
                      pa.list_(pa.int64()))
    table = pa.table({"text": [f"t{i}" for i in range(150)], "labels": labels})
    with pa.ipc.new_stream(path, table.schema) as writer:
        writer.write_table(table, max_chunksize=40)
    return path


def write_coco(folder: Path) -> Path:
    import json

    path = folder / "instances.json"
    categories = [{"id": 3, "name": "cat"}, {"id": 7, "name": "dog"}, {"id": 9, "name": "owl"}]
    images = [{"id": i, "file_name": f"{i:04d}.jpg"} for i in range(40)]
    annotations = [{"id": k, "image_id": int(RNG.integers(0, 40)), "category_id": int(RNG.choice([3, 7, 9])),
                    "iscrowd": 0, "bbox": [0, 0, 1, 1]} for k in range(70)]
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return path


def write_yolo(folder: Path) -> Path:
    labels = folder / "yolo"
    labels.mkdir()
    for i in range(12):
        lines = [f"{int(RNG.integers(0, 4))} 0.5 0.5 0.1 0.1" for _ in range(int(RNG.integers(0, 4)))]
        (labels / f"img{i:03d}.txt").write_text("".join(line + "\n" for line in lines))
    return labels


#: name → (writer, options): one of every format the readers read.
KINDS = {
    "csv": (write_csv, {}),
    "csv.gz": (write_csv_gz, {}),
    "label-lists": (write_lists, {"list_column": "Finding Labels"}),
    "parquet": (write_parquet, {}),
    "npy": (write_npy, {}),
    "soft-npy": (write_soft_npy, {}),
    "npz": (write_npz, {}),
    "pt": (write_pt, {}),
    "arff": (write_arff, {}),
    # Masks count in a pool of worker processes (each opens its URLs); one pool is enough to test.
    "png-masks": (write_png_masks, {"num_classes": 4, "ignore_index": (255,), "workers": 2}),
    "tiff-masks": (write_tiff_masks, {"num_classes": 4, "workers": 1}),
    "npy-masks": (write_npy_masks, {"mask_mode": "index", "num_classes": 3, "workers": 1}),
    "nifti": (write_nifti, {"num_classes": 3, "ignore_index": (9,), "workers": 1}),
    "jsonl": (write_jsonl, {"list_column": "labels"}),
    "arrow": (write_arrow, {"list_column": "labels"}),
    "coco": (write_coco, {}),
    "yolo": (write_yolo, {"workers": 1}),
}


