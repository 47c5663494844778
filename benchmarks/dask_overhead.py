"""The Dask engine's overhead against the local engine, as whole ``bceweights compute`` processes.

    python benchmarks/dask_overhead.py [--rows 4000000] [--masks 10000] [--keep DIR]

Writes the 4M-row wide CSV and the 10,000 PNG masks of the main harness (benchmarks/gen.py) to a temp
dir, runs ``bceweights compute`` with ``--engine local`` and ``--engine dask`` (a LocalCluster with one
process per core, started and stopped inside the timed process), checks that the .pt tensors are equal,
and prints a Markdown table (results: the "Dask engine" section of benchmarks/RESULTS.md).

CPU is that of the process and the children it waited for: where the local engine's mask decoders
start under a forkserver (a process that runs other threads), they are not waited for, and its CPU
column undercounts them.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen  # noqa: E402


def run(args: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and its children) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def same_tensors(a: Path, b: Path) -> bool:
    import torch

    x, y = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
    return x["classes"] == y["classes"] and all(
        torch.equal(x[k], y[k]) for k in x if isinstance(x[k], torch.Tensor))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--masks", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=2, help="runs per case; the best is reported")
    parser.add_argument("--keep", type=Path, help="write the inputs here and keep them")
    opts = parser.parse_args()
    folder = opts.keep or Path(tempfile.mkdtemp(prefix="bceweights-dask-"))
    folder.mkdir(parents=True, exist_ok=True)
    cases = []
    csv = folder / f"wide_{opts.rows}.csv"
    if not csv.exists():
        gen.wide_csv(csv, opts.rows)
    cases.append((f"wide CSV, {opts.rows:,} rows ({csv.stat().st_size / 1e6:.0f} MB)", [str(csv)]))
    masks = folder / f"masks_{opts.masks}"
    if not masks.exists():
        gen.png_masks(masks, opts.masks)
    cases.append((f"{opts.masks:,} PNG masks 512x512", [str(masks)]))
    exe = [sys.executable, "-m", "bceweights", "compute"]
    print(f"cores: {os.cpu_count()}\n")
    print("| input | local (s) | dask (s) | overhead | CPU local / dask (s) | same .pt tensors |")
    print("|---|---:|---:|---:|---:|---|")
    for name, inputs in cases:
        best = {}
        for engine in ("local", "dask"):
            out = folder / f"{engine}.pt"
            runs = [run([*exe, *inputs, "-q", "-o", str(out), "--engine", engine]) for _ in range(opts.repeat)]
            best[engine] = min(runs)
        same = same_tensors(folder / "local.pt", folder / "dask.pt")
        (lw, lc), (dw, dc) = best["local"], best["dask"]
        print(f"| {name} | {lw:.2f} | {dw:.2f} | {dw / lw:.2f}x ({dw - lw:+.1f} s) | {lc:.1f} / {dc:.1f} "
              f"| {'yes' if same else 'NO'} |")


if __name__ == "__main__":
    main()
