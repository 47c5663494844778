"""The peers: what a user would write instead of bceweights, each as a whole process.

``python benchmarks/peers.py PEER INPUT OUT.pt [--procs N]``. Every peer reads the data, counts, then
imports torch and ``torch.save``s ``{"pos_count", "neg_count"}`` (float64), as the job requires, so the
harness compares whole processes and checks every peer's counts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def _label_columns(path: str) -> list[str]:
    with open(path, encoding="utf-8") as fh:
        return fh.readline().strip().split(",")[1:]  # the first column is the id


def _save(out: str, pos, neg, **extra) -> None:
    import torch

    payload = {"pos_count": torch.tensor(np.asarray(pos, dtype=np.float64)),
               "neg_count": torch.tensor(np.asarray(neg, dtype=np.float64))}
    payload.update({k: torch.tensor(v) for k, v in extra.items()})
    torch.save(payload, out)


def pandas_sum(path: str, out: str, **_) -> None:
    import pandas as pd

    df = pd.read_csv(path)
    labels = df[_label_columns(path)]
    pos = labels.sum().to_numpy()
    _save(out, pos, len(labels) - pos)


def sklearn_weights(path: str, out: str, **_) -> None:
    """``compute_class_weight("balanced")`` per column; its weight n / (2 n_k) gives the counts back."""
    import pandas as pd
    from sklearn.utils.class_weight import compute_class_weight

    df = pd.read_csv(path)
    pos, neg = [], []
    for name in _label_columns(path):
        w0, w1 = compute_class_weight("balanced", classes=np.array([0, 1]), y=df[name].to_numpy())
        pos.append(round(len(df) / (2 * w1)))
        neg.append(round(len(df) / (2 * w0)))
    _save(out, pos, neg)


def _arrow_sums(table, columns) -> tuple[np.ndarray, np.ndarray]:
    import pyarrow.compute as pc

    pos = np.array([pc.sum(table.column(c)).as_py() for c in columns], dtype=np.float64)
    return pos, table.num_rows - pos


def arrow_floor(path: str, out: str, **_) -> None:
    """The floor: Arrow's multi-threaded reader, only the label columns, as int8; column sums."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    columns = _label_columns(path)
    convert = pacsv.ConvertOptions(include_columns=columns, column_types={c: pa.int8() for c in columns})
    table = pacsv.read_csv(path, convert_options=convert)
    _save(out, *_arrow_sums(table, columns))


def arrow_plain(path: str, out: str, **_) -> None:
    """``pyarrow.csv.read_csv(path)`` as most would write it (every column, inferred types)."""
    import pyarrow.csv as pacsv

    table = pacsv.read_csv(path)
    _save(out, *_arrow_sums(table, _label_columns(path)))


def pandas_lists(path: str, out: str, **_) -> None:
    """pandas ``str.split`` + counting; a label repeated in a row counts once, as in bceweights."""
    import pandas as pd

    df = pd.read_csv(path, keep_default_na=False, dtype={"labels": str})
    labels = df["labels"].str.split("|").explode()
    pairs = labels[labels != ""].reset_index().drop_duplicates()
    counts = pairs["labels"].value_counts().sort_index()
    pos = counts.to_numpy()
    _save(out, pos, len(df) - pos, names=np.array([int(n.split("_")[1]) for n in counts.index]))


def polars_sum(path: str, out: str, **_) -> None:
    """polars ``scan_csv(...).sum()`` on the streaming engine (label columns and the row count)."""
    import polars as pl

    columns = _label_columns(path)
    sums = pl.scan_csv(path).select(pl.len().alias("__rows"), *[pl.col(c).sum() for c in columns])
    row = sums.collect(engine="streaming").row(0)
    pos = np.asarray(row[1:], dtype=np.float64)
    _save(out, pos, row[0] - pos)


def duckdb_sum(path: str, out: str, **_) -> None:
    """DuckDB ``read_csv_auto`` + ``sum`` per label column."""
    import duckdb

    columns = _label_columns(path)
    sums = ", ".join(f'sum("{c}")' for c in columns)
    row = duckdb.connect().execute(f"SELECT count(*), {sums} FROM read_csv_auto('{path}')").fetchall()[0]
    pos = np.asarray(row[1:], dtype=np.float64)
    _save(out, pos, row[0] - pos)


def polars_lists(path: str, out: str, **_) -> None:
    """polars: split, a label once per row (``list.unique``), explode, count per label."""
    import polars as pl

    frame = pl.scan_csv(path, schema_overrides={"labels": pl.String})
    label = pl.col("labels").str.split("|").list.unique().explode()
    counts = (frame.select(label).filter(pl.col("labels").is_not_null() & (pl.col("labels") != ""))
              .group_by("labels").len().sort("labels").collect(engine="streaming"))
    rows = frame.select(pl.len()).collect(engine="streaming").item()
    pos = counts["len"].to_numpy()
    _save(out, pos, rows - pos, names=np.array([int(n.split("_")[1]) for n in counts["labels"]]))


def duckdb_lists(path: str, out: str, **_) -> None:
    """DuckDB: ``string_split``, a label once per row (``list_distinct``), ``unnest``, count per label."""
    import duckdb

    source = f"read_csv_auto('{path}', types={{'labels': 'VARCHAR'}})"
    con = duckdb.connect()
    counts = con.execute(f"SELECT label, count(*) FROM (SELECT unnest(list_distinct(string_split(labels, '|'))) "
                        f"AS label FROM {source}) WHERE label <> '' GROUP BY label ORDER BY label").fetchall()
    rows = con.execute(f"SELECT count(*) FROM {source}").fetchall()[0][0]
    pos = np.array([c for _, c in counts], dtype=np.float64)
    _save(out, pos, rows - pos, names=np.array([int(n.split("_")[1]) for n, _ in counts]))


def numpy_npy(path: str, out: str, **_) -> None:
    """``np.load`` (the whole array in memory) + ``sum(axis=0)``."""
    y = np.load(path)
    pos = y.sum(axis=0, dtype=np.int64)
    _save(out, pos, y.shape[0] - pos)


def numpy_mmap(path: str, out: str, **_) -> None:
    """The same from a memory map (the cheapest NumPy can do)."""
    y = np.load(path, mmap_mode="r")
    pos = y.sum(axis=0, dtype=np.int64)
    _save(out, pos, y.shape[0] - pos)


def _decode(path: str) -> int:
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        return im.size[0] * im.size[1]


def _decode_hist(path: str) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.histogram()[:256], dtype=np.int64)


def _monai_hist(path: str) -> np.ndarray:
    import torch
    from monai.transforms import LoadImage

    image = LoadImage(image_only=True, reader="PILReader")(path)
    return torch.bincount(torch.as_tensor(image).reshape(-1).long(), minlength=256).numpy()


def _files(folder: str) -> list[str]:
    return sorted(str(p) for p in Path(folder).glob("*.png"))


def _pool_map(func, items, procs: int):
    from multiprocessing import get_context

    with get_context("fork").Pool(procs) as pool:
        return pool.map(func, items, chunksize=max(1, len(items) // (procs * 16)))


def pillow_decode(folder: str, out: str, procs: int = 2, **_) -> None:
    """The floor for masks: decode every PNG with Pillow, nothing else."""
    pixels = sum(_pool_map(_decode, _files(folder), procs))
    _save(out, [], [], pixels=np.array([pixels]))


def pillow_hist(folder: str, out: str, procs: int = 2, num_classes: int = 6, **_) -> None:
    """Decode with Pillow and take its histogram (the counting the floor leaves out)."""
    files = _files(folder)
    hist = np.sum(_pool_map(_decode_hist, files, procs), axis=0)[:num_classes]
    pixels = hist.sum()
    _save(out, hist, pixels - hist)


def monai_hist(folder: str, out: str, procs: int = 2, num_classes: int = 6, **_) -> None:
    """MONAI's ``LoadImage`` (PILReader) per mask + ``torch.bincount``."""
    files = _files(folder)
    hist = np.sum(_pool_map(_monai_hist, files, procs), axis=0)[:num_classes]
    _save(out, hist, hist.sum() - hist)


PEERS = {f.__name__: f for f in (pandas_sum, sklearn_weights, arrow_floor, arrow_plain, pandas_lists,
                                   polars_sum, duckdb_sum, polars_lists, duckdb_lists,
                                   numpy_npy, numpy_mmap, pillow_decode, pillow_hist, monai_hist)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("peer", choices=sorted(PEERS))
    parser.add_argument("input")
    parser.add_argument("out")
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--num-classes", type=int, default=6)
    args = parser.parse_args(argv)
    PEERS[args.peer](args.input, args.out, procs=args.procs, num_classes=args.num_classes)


if __name__ == "__main__":
    sys.exit(main())
