"""NIfTI peers: what a user would write to count the voxels of label volumes, each as a whole process.

``python benchmarks/peers_nifti.py PEER LIST.txt OUT.pt`` (LIST.txt: one volume path a line). Every
peer histograms the volumes, then imports torch and ``torch.save``s ``{"pos_count", "neg_count"}``
(float64: per value, its voxels and the other voxels), as ``bceweights compute --mask-mode index``
does, so the harness checks every peer's counts against the others.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def _save(out: str, hist, **extra) -> None:
    import torch

    hist = np.asarray(hist, dtype=np.float64)
    payload = {"pos_count": torch.tensor(hist), "neg_count": torch.tensor(hist.sum() - hist)}
    payload.update({k: torch.tensor(v) for k, v in extra.items()})
    torch.save(payload, out)


def _add(total: np.ndarray, counts) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.int64)
    if len(counts) > len(total):
        total = np.pad(total, (0, len(counts) - len(total)))
    total[:len(counts)] += counts
    return total


def bceweights_nifti(files: list[str], out: str, backend: str | None = None) -> None:
    """bceweights.nifti: inflate (fastest installed backend) and histogram while inflating."""
    from bceweights import nifti

    total = np.zeros(0, dtype=np.int64)
    for path in files:
        total = _add(total, nifti.histogram(path, backend=backend).counts)
    _save(out, total)


def bceweights_nifti_zlib(files: list[str], out: str) -> None:
    """The same with the standard zlib (what a user without the fast-gzip extra gets)."""
    bceweights_nifti(files, out, backend="zlib")


def startup_floor(files: list[str], out: str) -> None:
    """The floor under every peer: the interpreter, NumPy, torch's import and a torch.save."""
    _save(out, [], files=np.array([len(files)]))


def inflate_floor(files: list[str], out: str) -> None:
    """The floor: inflate every volume with the fastest backend, CRC checked, and count nothing."""
    from bceweights import inflate

    size = 0
    for path in files:
        for chunk in inflate.iter_decompressed(path):
            size += len(chunk)
    _save(out, [], bytes=np.array([size]))


def nibabel_bincount(files: list[str], out: str) -> None:
    """nibabel's array (``np.asanyarray(img.dataobj)``, the stored dtype) + ``np.bincount``."""
    import nibabel as nib

    total = np.zeros(0, dtype=np.int64)
    for path in files:
        arr = np.asanyarray(nib.load(path).dataobj)
        total = _add(total, np.bincount(arr.ravel(order="K")))  # "K": no copy of the Fortran array
    _save(out, total)


def monai_bincount(files: list[str], out: str) -> None:
    """MONAI's ``LoadImage`` (its NIfTI reader, float32 by default) + ``torch.bincount``."""
    import torch
    from monai.transforms import LoadImage

    load = LoadImage(image_only=True)
    total = np.zeros(0, dtype=np.int64)
    for path in files:
        image = load(path).as_tensor()
        total = _add(total, torch.bincount(image.reshape(-1).long()).numpy())
    _save(out, total)


PEERS = {f.__name__: f for f in (bceweights_nifti, bceweights_nifti_zlib, startup_floor, inflate_floor,
                                   nibabel_bincount, monai_bincount)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("peer", choices=sorted(PEERS))
    parser.add_argument("files", help="a text file listing the volumes, one path a line")
    parser.add_argument("out")
    args = parser.parse_args(argv)
    files = [line for line in Path(args.files).read_text(encoding="utf-8").splitlines() if line.strip()]
    PEERS[args.peer](files, args.out)


if __name__ == "__main__":
    sys.exit(main())
