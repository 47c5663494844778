"""Open Images scale (issue 16, item 5): 20,000 classes, Zipf-like frequencies, as whole processes.

    python benchmarks/openimages.py                              # 1M images, then the label-list table
    python benchmarks/openimages.py --images 9000000 --only long # the 9M-image run
    python benchmarks/openimages.py --repeat 3 --markdown out.md

* **long**: an Open Images-shaped long table ``ImageID,LabelName,Confidence``: ``--images`` images with
  about 8 labels each (1 + Poisson(7), distinct per image), classes drawn with Zipf(1) frequencies over
  20,000 ``/m/0xxxxx`` names, 60% positive (Confidence 1) and 40% verified negatives (Confidence 0), the
  rows of an image together as in Open Images' files. bceweights (``--id-column ImageID --class-column
  LabelName --confidence-column Confidence``, verified negatives), a pandas groupby and a polars
  streaming group-by side by side. Until bceweights has the long layout (``--confidence-column``),
  its row is skipped with a note.
* **lists**: a 500,000-row label-list table (``id,labels``, ``a|b|c``) over the same 20,000 classes,
  ``--list-column labels``, with pandas and polars.

Every process writes a ``.pt`` whose counts are checked against the generator's, class by class by
name; a mismatch fails the run. Reported: the median wall and CPU time of ``--repeat`` runs, the
largest peak RSS (the process tree's), and the ``.pt``'s size. Targets (issue 16): peak RSS <= 1.5 GB
and ``.pt`` <= 50 MB for bceweights, at 1M and 9M images and on the label-list table.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import _compile_package, machine, measure, versions  # noqa: E402

PEERS = [sys.executable, str(HERE / "peers_openimages.py")]
BCEWEIGHTS = [sys.executable, "-m", "bceweights"]
CLASSES = 20_000
#: Images (long) or rows (lists) generated per chunk: the generator holds one chunk (~200 MB).
CHUNK = 250_000
POSITIVE = 0.6
LONG_FLAGS = ["--id-column", "ImageID", "--class-column", "LabelName", "--confidence-column", "Confidence"]
#: pandas holds the whole table and its (class, image) groups: above this many images it would take
#: more memory than this benchmark should ask of a shared machine.
PANDAS_MAX_IMAGES = 2_000_000


# ------------------------------------------------------------------------------------------ the data


def label_names(classes: int = CLASSES, seed: int = 7) -> np.ndarray:
    """``classes`` distinct Freebase-like ids, ``/m/0`` and 5 base-36 characters (``S9``)."""
    rng = np.random.default_rng(seed)
    codes = rng.choice(36 ** 5, size=classes, replace=False)
    alphabet = np.frombuffer(b"0123456789abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
    out = np.empty((classes, 9), dtype=np.uint8)
    out[:, :4] = np.frombuffer(b"/m/0", dtype=np.uint8)
    for k in range(5):
        out[:, 4 + k] = alphabet[codes // 36 ** (4 - k) % 36]
    return out.view("S9").reshape(-1)


def zipf(classes: int = CLASSES, s: float = 1.0) -> np.ndarray:
    """Class frequencies ∝ 1 / rank^s (rank 1 the most frequent: ~9.5% of labels at 20,000 classes)."""
    p = 1.0 / np.arange(1, classes + 1) ** s
    return p / p.sum()


def _labels_per_sample(rng, samples: int, cumulative: np.ndarray, mean: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """(sample index, class) of 1 + Poisson(mean - 1) Zipf draws per sample, repeats dropped."""
    k = 1 + rng.poisson(mean - 1, samples)
    sample = np.repeat(np.arange(samples, dtype=np.int64), k)
    cls = np.minimum(np.searchsorted(cumulative, rng.random(len(sample))), len(cumulative) - 1)
    order = np.lexsort((cls, sample))
    sample, cls = sample[order], cls[order]
    keep = np.ones(len(sample), dtype=bool)
    keep[1:] = (sample[1:] != sample[:-1]) | (cls[1:] != cls[:-1])
    return sample[keep], cls[keep].astype(np.int32)


def _hex_ids(values: np.ndarray) -> np.ndarray:
    """Each uint64 as 16 lower-case hex digits, ``[n, 16]`` uint8 (Open Images' ImageID form)."""
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    shifts = np.arange(60, -1, -4, dtype=np.uint64)
    return digits[((values[:, None] >> shifts) & np.uint64(15)).astype(np.intp)]


def long_table(path: Path, images: int, seed: int = 0) -> dict:
    """The long table (see the module's text); returns the truth: classes, pos, neg, images, rows."""
    rng = np.random.default_rng(seed)
    names = label_names()
    name_bytes = names.view(np.uint8).reshape(len(names), 9)
    cumulative = np.cumsum(zipf())
    pos = np.zeros(CLASSES, dtype=np.int64)
    neg = np.zeros(CLASSES, dtype=np.int64)
    rows = 0
    with open(path, "wb") as fh:
        fh.write(b"ImageID,LabelName,Confidence\n")
        for start in range(0, images, CHUNK):
            n = min(CHUNK, images - start)
            sample, cls = _labels_per_sample(rng, n, cumulative)
            positive = rng.random(len(cls)) < POSITIVE
            pos += np.bincount(cls[positive], minlength=CLASSES)
            neg += np.bincount(cls[~positive], minlength=CLASSES)
            ids = (sample + start).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) ^ np.uint64(seed)
            line = np.empty((len(cls), 29), dtype=np.uint8)
            line[:, :16] = _hex_ids(ids)
            line[:, 16] = ord(",")
            line[:, 17:26] = name_bytes[cls]
            line[:, 26] = ord(",")
            line[:, 27] = np.where(positive, ord("1"), ord("0"))
            line[:, 28] = ord("\n")
            fh.write(line.tobytes())
            rows += len(cls)
    return {"classes": [n.decode() for n in names], "pos": pos, "neg": neg, "present": pos + neg > 0,
            "images": images, "rows": rows}


def list_table(path: Path, rows: int = 500_000, seed: int = 1) -> dict:
    """``id,labels``: 1 + Poisson(7) distinct Zipf classes per row, joined by ``|``."""
    rng = np.random.default_rng(seed)
    names = [n.decode() for n in label_names()]
    cumulative = np.cumsum(zipf())
    pos = np.zeros(CLASSES, dtype=np.int64)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("id,labels\n")
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            sample, cls = _labels_per_sample(rng, n, cumulative)
            pos += np.bincount(cls, minlength=CLASSES)
            cuts = np.flatnonzero(np.diff(sample)) + 1
            fh.write("".join(f"{start + i},{'|'.join(names[c] for c in group)}\n"
                             for i, group in enumerate(np.split(cls, cuts))))
    return {"classes": names, "pos": pos, "neg": rows - pos, "present": pos > 0, "rows": rows}


# -------------------------------------------------------------------------------------- the harness


@dataclass
class Row:
    group: str
    name: str
    wall: float
    cpu: float
    rss_mb: float
    pt_mb: float | None
    ok: str
    note: str = ""


def check(out: Path, truth: dict) -> str:
    """'ok' when the ``.pt``'s counts equal the truth for every class, by name, and every class the
    data names is there (a label list names only its positives); raises otherwise."""
    import torch

    data = torch.load(out, weights_only=True)
    index = {name: i for i, name in enumerate(truth["classes"])}
    where = np.array([index[c] for c in data["classes"]])
    pos = np.asarray(data["pos_count"], dtype=np.float64).reshape(-1)
    neg = np.asarray(data["neg_count"], dtype=np.float64).reshape(-1)
    want_pos, want_neg = truth["pos"][where], truth["neg"][where]
    missing = np.setdiff1d(np.flatnonzero(truth["present"]), where)
    if missing.size or not np.array_equal(pos, want_pos) or not np.array_equal(neg, want_neg):
        raise AssertionError(f"{out.name}: counts differ from the truth ({missing.size} classes missing; "
                             f"pos {pos[:5]} want {want_pos[:5]}; neg {neg[:5]} want {want_neg[:5]})")
    return "ok"


def case(rows: list[Row], group: str, name: str, cmd: list[str], out: Path, truth: dict, repeat: int,
         note: str = "") -> Row:
    runs = [measure(cmd, 1) for _ in range(repeat)]
    ok = check(out, truth)
    row = Row(group, name, statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs),
              max(r[2] for r in runs), out.stat().st_size / 2**20 if name.startswith("bceweights") else None,
              ok, note)
    out.unlink()
    rows.append(row)
    pt = f"{row.pt_mb:7.1f} MB .pt" if row.pt_mb is not None else ""
    print(f"  {name:46s} {row.wall:7.1f} s wall {row.cpu:7.1f} s CPU {row.rss_mb:7.0f} MB RSS {pt} {ok}",
          flush=True)
    return row


def has_long_layout() -> bool:
    help_text = subprocess.run([*BCEWEIGHTS, "compute", "--help"], capture_output=True, text=True).stdout
    return "--confidence-column" in help_text


def bench_long(work: Path, images: int, repeat: int, rows: list[Row], skip: set[str]) -> None:
    path = work / f"long_{images}.csv"
    started = time.perf_counter()
    truth = long_table(path, images)
    size = path.stat().st_size
    group = (f"long table, {images:,} images x {CLASSES:,} classes: {truth['rows']:,} rows "
             f"({size / 1e6:,.0f} MB; generated in {time.perf_counter() - started:.0f} s)")
    print(f"{group}:", flush=True)
    out = work / "out.pt"
    if "bceweights" in skip:
        pass
    elif has_long_layout():
        case(rows, group, "bceweights compute (long, verified negatives)",
             [*BCEWEIGHTS, "compute", str(path), *LONG_FLAGS, "-q", "-o", str(out)], out, truth, repeat)
    else:
        print("  (bceweights: no long layout yet (--confidence-column); skipped)")
        rows.append(Row(group, "bceweights compute (long)", float("nan"), float("nan"), float("nan"), None,
                        "-", "skipped: the long-format reader (--confidence-column) has not landed"))
    if "pandas" not in skip and images <= PANDAS_MAX_IMAGES:
        case(rows, group, "pandas read_csv + groupby (pair max, class)",
             [*PEERS, "pandas_long", str(path), str(out)], out, truth, repeat)
    elif "pandas" not in skip:
        print(f"  (pandas: skipped above {PANDAS_MAX_IMAGES:,} images)")
    if "polars" not in skip:
        case(rows, group, "polars scan_csv + group_by x2 (streaming)",
             [*PEERS, "polars_long", str(path), str(out)], out, truth, repeat)
    path.unlink()


def bench_lists(work: Path, count: int, repeat: int, rows: list[Row], skip: set[str]) -> None:
    path = work / f"lists_{count}.csv"
    truth = list_table(path, count)
    group = f"label-list table, {count:,} rows x {CLASSES:,} classes ({path.stat().st_size / 1e6:,.0f} MB)"
    print(f"{group}:", flush=True)
    out = work / "out.pt"
    if "bceweights" not in skip:
        case(rows, group, "bceweights compute --list-column labels",
             [*BCEWEIGHTS, "compute", str(path), "--list-column", "labels", "-q", "-o", str(out)], out, truth,
             repeat)
    if "pandas" not in skip:
        case(rows, group, "pandas str.split + explode + value_counts",
             [*PEERS, "pandas_lists", str(path), str(out)], out, truth, repeat)
    if "polars" not in skip:
        case(rows, group, "polars str.split + explode + group_by",
             [*PEERS, "polars_lists", str(path), str(out)], out, truth, repeat)
    path.unlink()


def markdown(rows: list[Row]) -> str:
    lines: list[str] = []
    group = None
    for row in rows:
        if row.group != group:
            group = row.group
            lines += ["", f"**{group}**", "", "| process | wall s | CPU s | peak RSS MB | .pt MB | counts | note |",
                      "|---|---:|---:|---:|---:|---|---|"]
        pt = f"{row.pt_mb:.1f}" if row.pt_mb is not None else "-"
        nums = "| - | - | - " if row.wall != row.wall else f"| {row.wall:.1f} | {row.cpu:.1f} | {row.rss_mb:.0f} "
        lines.append(f"| {row.name} {nums}| {pt} | {row.ok} | {row.note} |")
    return "\n".join(lines[1:]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1_000_000)
    parser.add_argument("--list-rows", type=int, default=500_000)
    parser.add_argument("--only", default="long,lists", help="long, lists (comma-separated)")
    parser.add_argument("--skip", default="", help="processes to leave out: bceweights, pandas, polars")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None, help="where the data is written (default: a temp dir)")
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    skip = set(filter(None, args.skip.split(",")))
    _compile_package()
    print(f"machine: {machine()}\nversions: {versions()}", flush=True)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        work = Path(tmp)
        if "long" in only:
            bench_long(work, args.images, args.repeat, rows, skip)
        if "lists" in only:
            bench_lists(work, args.list_rows, args.repeat, rows, skip)
    text = f"Machine: {machine()}; {versions()}.\n\n" + markdown(rows)
    if args.markdown:
        args.markdown.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
