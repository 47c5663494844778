"""Peers for the Open Images-scale benchmarks (benchmarks/openimages.py): what a user would write
instead of bceweights, each run as a whole process.

``python benchmarks/peers_openimages.py PEER INPUT OUT.pt``. Every peer reads the file, counts, imports
torch and saves ``{"classes", "pos_count", "neg_count"}`` (float64), so the harness checks every
peer's counts against the generator's by class name.

Long format (``ImageID,LabelName,Confidence``), Open Images' rules, as bceweights'
``--negatives verified`` counts them: a sample is an image; P_c = images with (c, 1); N_c = images
with (c, 0) and no (c, 1); a repeated pair counts once, a pair seen as 1 and as 0 is a positive.
Label lists (``id,labels``, ``a|b|c``): P_c = rows naming c, N_c = rows - P_c.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def _save(out: str, classes, pos, neg) -> None:
    import torch

    torch.save({"classes": [str(c) for c in classes],
                "pos_count": torch.tensor(np.asarray(pos, dtype=np.float64)),
                "neg_count": torch.tensor(np.asarray(neg, dtype=np.float64))}, out)


def pandas_long(path: str, out: str) -> None:
    """``read_csv``, then one groupby over (class, image) pairs (max: a conflicting pair is a
    positive) and one over classes."""
    import pandas as pd

    df = pd.read_csv(path, usecols=["ImageID", "LabelName", "Confidence"])
    best = df.groupby(["LabelName", "ImageID"], sort=False)["Confidence"].max()
    del df
    per = best.groupby(level=0).agg(["sum", "size"])
    _save(out, per.index, per["sum"], per["size"] - per["sum"])


def polars_long(path: str, out: str) -> None:
    """The same two group-bys in polars' streaming engine."""
    import polars as pl

    per = (pl.scan_csv(path)
           .group_by(["LabelName", "ImageID"]).agg(pl.col("Confidence").max())
           .group_by("LabelName").agg(pl.col("Confidence").sum().alias("pos"), pl.len().alias("n"))
           .collect(engine="streaming"))
    pos = per["pos"].to_numpy().astype(np.float64)
    _save(out, per["LabelName"].to_list(), pos, per["n"].to_numpy() - pos)


def pandas_lists(path: str, out: str) -> None:
    import pandas as pd

    labels = pd.read_csv(path, usecols=["labels"])["labels"]
    rows = len(labels)
    counts = labels.dropna().str.split("|").explode().value_counts()
    _save(out, counts.index, counts.to_numpy(), rows - counts.to_numpy())


def polars_lists(path: str, out: str) -> None:
    import polars as pl

    labels = pl.read_csv(path, columns=["labels"])
    rows = labels.height
    counts = (labels.lazy().select(pl.col("labels").str.split("|")).explode("labels")
              .drop_nulls().group_by("labels").len().collect())
    pos = counts["len"].to_numpy().astype(np.float64)
    _save(out, counts["labels"].to_list(), pos, rows - pos)


PEERS = {f.__name__: f for f in (pandas_long, polars_long, pandas_lists, polars_lists)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("peer", choices=sorted(PEERS))
    parser.add_argument("input")
    parser.add_argument("out")
    args = parser.parse_args(argv)
    PEERS[args.peer](args.input, args.out)


if __name__ == "__main__":
    sys.exit(main())
