"""NIfTI label volumes: bceweights' reader against nibabel and MONAI, as whole processes.

    python benchmarks/nifti_bench.py --kits ../shared/data/kits19_nifti/data --repeat 3 --monai
    python benchmarks/run.py --only nifti            # the same, as a group of the main harness

The first ``--count`` KiTS19 segmentation volumes (sorted by case; the first 20 hold 1.18 G voxels in
6.4 MB of gzip, uint8 and one uint16) are counted by each peer of ``peers_nifti.py`` in its own
process, the peers taking turns, ``--repeat`` rounds; the table gives the median wall and CPU time
and the largest peak RSS. Every process's counts must equal nibabel + ``np.bincount``'s (exit 1 if
not). ``--profile`` adds in-process timings of inflate alone and inflate + histogram per backend.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run  # noqa: E402  (measure, check, Run, machine, versions, markdown)

PEERS = [sys.executable, str(HERE / "peers_nifti.py")]
DEFAULT_KITS = HERE.parent.parent / "shared" / "data" / "kits19_nifti" / "data"


def versions() -> str:
    import importlib.metadata as md

    found = []
    for name in ("nibabel", "zlib-ng", "isal"):
        with contextlib.suppress(md.PackageNotFoundError):
            found.append(f"{name} {md.version(name)}")
    return ", ".join(found)


def volumes(kits: Path, count: int) -> list[Path]:
    return sorted(kits.glob("case_*/segmentation.nii.gz"))[:count]


def cases(work: Path, files: list[Path], repeat: int = 3, monai: bool = False, cli: bool = True
          ) -> list[run.Run]:
    """Run every peer ``repeat`` times, taking turns; one :class:`run.Run` per peer (medians)."""
    from bceweights import inflate, nifti

    listing = work / "volumes.txt"
    listing.write_text("".join(f"{p}\n" for p in files), encoding="utf-8")
    voxels = sum(nifti.read_header(p).voxels for p in files)
    size = sum(p.stat().st_size for p in files)
    group = (f"{len(files)} KiTS19 label volumes ({voxels / 1e9:.2f} G voxels, {size / 1e6:.1f} MB of "
             f".nii.gz), one process")
    fast = inflate.backend_name()
    table = [("bceweights.nifti: inflate + histogram", "bceweights_nifti", f"backend {fast}"),
             ("bceweights.nifti, zlib backend", "bceweights_nifti_zlib", "without the fast-gzip extra"),
             ("floor: inflate only, CRC checked", "inflate_floor", f"backend {fast}; counts nothing"),
             ("floor: python + numpy + torch, torch.save", "startup_floor", "reads nothing"),
             ("nibabel + np.bincount", "nibabel_bincount", "")]
    if monai:
        table.append(("MONAI LoadImage + torch.bincount", "monai_bincount", "float32 image, .long()"))
    commands = {name: [*PEERS, peer, str(listing), str(work / f"{peer}.pt")] for name, peer, _ in table}
    outs = {name: work / f"{peer}.pt" for name, peer, _ in table}
    notes = {name: note for name, _, note in table}
    if cli:
        name = "bceweights compute, one worker, no checks"
        commands[name] = [*run.BCEWEIGHTS, "compute", *map(str, files), "-q", "--mask-mode", "index",
                          "--workers", "1", "--no-validate", "-o", str(work / "cli.pt")]
        outs[name] = work / "cli.pt"
        notes[name] = "--workers 1 --no-validate"
        name = "bceweights compute (defaults: auto mode, checks)"
        commands[name] = [*run.BCEWEIGHTS, "compute", *map(str, files), "-q", "-o", str(work / "cli-default.pt")]
        outs[name] = work / "cli-default.pt"
        notes[name] = "all cores, the checks on one sampled volume"
    names = list(commands)
    times: dict[str, list[tuple[float, float, float]]] = {n: [] for n in names}
    print(f"{group}:", flush=True)
    loads = [os.getloadavg()[0]]
    for round_ in range(repeat):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            wall, cpu, rss = run.measure(commands[name])
            times[name].append((wall, cpu, rss))
            print(f"  round {round_ + 1}: {name:48s} {wall:7.2f} s wall {cpu:7.2f} s CPU {rss:6.0f} MB",
                  flush=True)
        loads.append(os.getloadavg()[0])
        truth = _truth(outs["nibabel + np.bincount"])
        for name in names:
            if not name.startswith("floor"):
                run.check(outs[name], truth)
    print(f"  load average during the runs: {', '.join(f'{x:.1f}' for x in loads)}")
    results = []
    for name in names:
        walls, cpus, rsss = zip(*times[name])
        ok = "-" if name.startswith("floor") else "ok"
        note = notes[name] + ("; " if notes[name] else "") + "walls " + " / ".join(f"{w:.2f}" for w in walls)
        results.append(run.Run(group, name, statistics.median(walls), statistics.median(cpus), max(rsss), ok,
                               note))
    return results


def _truth(path: Path) -> dict:
    data = run._load(path)
    pos = np.asarray(data["pos_count"], dtype=np.float64)
    return {"pos": pos, "rows": float(pos.sum()), "pixels": float(pos.sum())}


def profile(files: list[Path], repeat: int = 5) -> str:
    """In-process: inflate alone and inflate + histogram, per installed backend (medians)."""
    from bceweights import inflate, nifti

    lines = ["| backend | inflate only s | inflate + histogram s |", "|---|---:|---:|"]
    samples: dict[str, tuple[list[float], list[float]]] = {}
    for _ in range(repeat):
        for backend in inflate.available_backends():
            started = time.perf_counter()
            for path in files:
                for _chunk in inflate.iter_decompressed(path, backend=backend):
                    pass
            middle = time.perf_counter()
            for path in files:
                nifti.histogram(path, backend=backend)
            done = time.perf_counter()
            only, both = samples.setdefault(backend, ([], []))
            only.append(middle - started)
            both.append(done - middle)
    for backend, (only, both) in samples.items():
        lines.append(f"| {backend} | {statistics.median(only):.3f} | {statistics.median(both):.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kits", default=str(DEFAULT_KITS), help="the kits19_nifti/data folder")
    parser.add_argument("--count", type=int, default=20, help="volumes (the first, by case)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians are reported")
    parser.add_argument("--monai", action="store_true", help="also MONAI's LoadImage (slow: minutes a round)")
    parser.add_argument("--no-cli", action="store_true", help="leave out `bceweights compute`")
    parser.add_argument("--profile", action="store_true", help="also time inflate and histogram in-process")
    parser.add_argument("--markdown", default=None, help="also write the table as Markdown to this file")
    args = parser.parse_args(argv)
    files = volumes(Path(args.kits), args.count)
    if not files:
        parser.error(f"no case_*/segmentation.nii.gz under {args.kits}")
    print(run.machine())
    print(run.versions() + ", " + versions())
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bceweights-nifti-") as tmp:
        try:
            results = cases(Path(tmp), files, args.repeat, args.monai, cli=not args.no_cli)
        except AssertionError as exc:
            print(f"FAILED: {exc}", file=sys.stderr)
            return 1
    table = run.markdown(results)
    print()
    print(table)
    text = f"{run.machine()}\n\n{run.versions()}, {versions()}\n\n{table}"
    if args.profile:
        prof = profile(files)
        print(prof)
        text += "\n" + prof
    if args.markdown:
        Path(args.markdown).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
