"""Benchmark inputs, written with vectorised NumPy so that generating them costs seconds, not minutes.

Every generator returns the true counts (``pos`` per class and ``rows``) it wrote, so the harness can
check bceweights and every peer against the ground truth, not only against each other.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

CHUNK_ROWS = 250_000


def class_names(num_classes: int) -> list[str]:
    return [f"class_{i:02d}" for i in range(num_classes)]


def prevalences(num_classes: int) -> np.ndarray:
    # A long tail, as in real multi-label sets: from 50% down to 0.05%.
    return np.geomspace(0.5, 0.0005, num_classes)


def wide_csv(path: Path, rows: int, num_classes: int = 50, seed: int = 0) -> dict:
    """``id,class_00,...`` with 0/1 values: about 110 bytes a row for 50 classes."""
    rng = np.random.default_rng(seed)
    names = class_names(num_classes)
    prev = prevalences(num_classes).astype(np.float32)
    pos = np.zeros(num_classes, dtype=np.int64)
    width = 2 * num_classes  # "d," per class, the last comma becoming the newline
    with open(path, "wb") as fh:
        fh.write(("id," + ",".join(names) + "\n").encode())
        for start in range(0, rows, CHUNK_ROWS):
            n = min(CHUNK_ROWS, rows - start)
            bits = (rng.random((n, num_classes), dtype=np.float32) < prev).astype(np.uint8)
            pos += bits.sum(axis=0, dtype=np.int64)
            ids = np.char.mod("%d,", np.arange(start, start + n) + 1_000_000).astype("S8")
            body = np.empty((n, width), dtype=np.uint8)
            body[:, 0::2] = bits + ord("0")
            body[:, 1::2] = ord(",")
            body[:, -1] = ord("\n")
            line = np.empty((n, 8 + width), dtype=np.uint8)
            line[:, :8] = np.frombuffer(ids.tobytes(), dtype=np.uint8).reshape(n, 8)
            line[:, 8:] = body
            fh.write(line.tobytes())
    return {"classes": names, "pos": pos.tolist(), "rows": rows}


def list_csv(path: Path, rows: int, num_classes: int = 50, seed: int = 1) -> dict:
    """``id,labels`` with pipe-separated label lists (``class_03|class_17``; blank for none).

    Rows draw from a pool of distinct label sets, so the strings are built once per set, not per row.
    """
    rng = np.random.default_rng(seed)
    names = class_names(num_classes)
    pool = (rng.random((4096, num_classes)) < prevalences(num_classes) * 0.2).astype(np.uint8)
    texts = np.array(["|".join(names[j] for j in np.flatnonzero(r)) for r in pool], dtype=object)
    pos = np.zeros(num_classes, dtype=np.int64)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("id,labels\n")
        for start in range(0, rows, CHUNK_ROWS):
            n = min(CHUNK_ROWS, rows - start)
            pick = rng.integers(0, len(pool), n)
            pos += pool[pick].sum(axis=0, dtype=np.int64)
            ids = np.arange(start, start + n)
            fh.write("\n".join(f"{i},{t}" for i, t in zip(ids.tolist(), texts[pick].tolist())))
            fh.write("\n")
    return {"classes": names, "pos": pos.tolist(), "rows": rows}


def npy(path: Path, nbytes: int, num_classes: int = 50, seed: int = 2) -> dict:
    """A ``[N, C]`` uint8 multi-hot ``.npy`` of about ``nbytes``."""
    rng = np.random.default_rng(seed)
    rows = nbytes // num_classes
    prev = prevalences(num_classes).astype(np.float32)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(rows, num_classes))
    pos = np.zeros(num_classes, dtype=np.int64)
    step = 1_000_000
    for start in range(0, rows, step):
        n = min(step, rows - start)
        bits = (rng.random((n, num_classes), dtype=np.float32) < prev).astype(np.uint8)
        out[start:start + n] = bits
        pos += bits.sum(axis=0, dtype=np.int64)
    out.flush()
    del out
    return {"classes": [str(i) for i in range(num_classes)], "pos": pos.tolist(), "rows": rows}


def _mask(index: int, size: int, num_classes: int) -> np.ndarray:
    """Background plus a few filled rectangles of random classes (compresses like a real mask)."""
    rng = np.random.default_rng(10_000 + index)
    mask = np.zeros((size, size), dtype=np.uint8)
    for _ in range(int(rng.integers(1, 6))):
        y0, x0 = rng.integers(0, size - 16, 2)
        h, w = rng.integers(16, size // 2, 2)
        mask[y0:y0 + h, x0:x0 + w] = rng.integers(1, num_classes)
    return mask


def _write_masks(args: tuple[Path, int, int, int, int]) -> list[int]:
    from PIL import Image

    folder, start, stop, size, num_classes = args
    hist = np.zeros(num_classes, dtype=np.int64)
    for i in range(start, stop):
        mask = _mask(i, size, num_classes)
        hist += np.bincount(mask.ravel(), minlength=num_classes)
        Image.fromarray(mask, mode="L").save(folder / f"mask_{i:05d}.png", compress_level=1)
    return hist.tolist()


def png_masks(folder: Path, count: int, size: int = 512, num_classes: int = 6, processes: int = 2) -> dict:
    """``count`` single-channel index PNGs (values 0..num_classes-1, 0 the background)."""
    from multiprocessing import get_context

    folder.mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, count, processes * 8 + 1).astype(int)
    jobs = [(folder, int(a), int(b), size, num_classes) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    with get_context("spawn").Pool(processes) as pool:
        parts = pool.map(_write_masks, jobs)
    hist = np.sum(np.array(parts, dtype=np.int64), axis=0)
    return {"classes": [str(i) for i in range(num_classes)], "pos": hist.tolist(), "rows": count,
            "pixels": count * size * size}


def save_truth(path: Path, truth: dict) -> None:
    path.write_text(json.dumps(truth))
