"""Benchmarks: bceweights against its peers, as whole processes, on data generated in a temp dir.

    python benchmarks/run.py            # the full sizes (1M/4M-row CSVs, 500 MB .npy, 10,000 masks)
    python benchmarks/run.py --quick    # a tenth of that, in about a minute
    python benchmarks/run.py --only csv,help --repeat 3 --markdown out.md

Each case runs as its own process: wall time, CPU time (user + system, worker processes included) and
peak RSS (the largest of the process's own peak and the sampled sum over its process tree) are
reported, with the wall-time ratio to bceweights in the same group. Every process's counts are
checked against the counts the generator wrote; a mismatch fails the run (exit 1).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import gen  # noqa: E402

PEERS = [sys.executable, str(HERE / "peers.py")]
BCEWEIGHTS = [sys.executable, "-m", "bceweights"]
GROUPS = ("csv", "lists", "npy", "masks", "help", "nifti")
#: Peers whose package may be missing (the ``bench`` extra; scikit-learn), skipped with a note.
OPTIONAL_PEERS = {"polars_sum": "polars", "duckdb_sum": "duckdb", "polars_lists": "polars",
                  "duckdb_lists": "duckdb", "sklearn_weights": "sklearn"}


@dataclass
class Run:
    group: str
    name: str
    wall: float
    cpu: float
    rss_mb: float
    ok: str = "-"
    note: str = ""
    scan: float | None = None
    extra: dict = field(default_factory=dict)


class _TreeSampler(threading.Thread):
    """Samples the summed RSS of a process and its descendants (worker pools) every 20 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, threading.Event()

    def run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
            while not self.stop.is_set():
                total = root.memory_info().rss
                for child in root.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        total += child.memory_info().rss
                self.peak = max(self.peak, total)
                self.stop.wait(0.02)
        except psutil.Error:
            pass

    def finish(self) -> int:
        self.stop.set()
        self.join()
        return self.peak


def measure(cmd: list[str], repeat: int = 1) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MB) of ``cmd``; with ``repeat``, the best wall time and its run."""
    best = None
    # A child's peak RSS starts at its parent's on Linux (fork copies it and exec keeps it), and this
    # harness is large by now: GNU time, a tiny parent, reports the child's own peak.
    gnu_time = Path("/usr/bin/time")
    for _ in range(repeat):
        stats = tempfile.NamedTemporaryFile(suffix=".time", delete=False)
        stats.close()
        timed = [str(gnu_time), "-f", "%M %U %S", "-o", stats.name, *cmd] if gnu_time.exists() else cmd
        start = time.perf_counter()
        proc = subprocess.Popen(timed, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        sampler = _TreeSampler(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        tree_peak = sampler.finish()
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-2000:]}")
        cpu = usage.ru_utime + usage.ru_stime
        own_peak = usage.ru_maxrss * 1024
        if timed is not cmd:
            fields = Path(stats.name).read_text().split()
            own_peak = int(fields[-3]) * 1024
            cpu = float(fields[-2]) + float(fields[-1])
        os.unlink(stats.name)
        # The sampled tree includes GNU time itself (~2 MB): negligible.
        rss = max(own_peak, tree_peak) / 2**20
        if best is None or wall < best[0]:
            best = (wall, cpu, rss)
    assert best is not None
    return best


def _load(path: Path) -> dict:
    import torch

    return torch.load(path, weights_only=True)


def check(out: Path, truth: dict, by_name: bool = False) -> tuple[str, dict]:
    """'ok' when the .pt's counts equal the generator's; raises on a mismatch."""
    data = _load(out)
    pos = np.asarray(data["pos_count"], dtype=np.float64)
    neg = np.asarray(data["neg_count"], dtype=np.float64)
    want_pos = np.asarray(truth["pos"], dtype=np.float64)
    total = truth.get("pixels", truth["rows"])
    if by_name:  # label lists: classes come sorted by name, absent ones missing
        names = data.get("names")
        index = np.asarray(names) if names is not None else np.array(
            [int(c.split("_")[1]) for c in data["classes"]])
        want_pos = want_pos[index]
    if pos.shape != want_pos.shape or not np.array_equal(pos, want_pos) or not np.array_equal(
            neg, total - want_pos):
        raise AssertionError(f"{out.name}: counts differ from the truth:\n pos {pos[:8]}... want "
                             f"{want_pos[:8]}...\n neg {neg[:8]}... want {(total - want_pos)[:8]}...")
    meta = data.get("meta") or {}
    return "ok", {"seconds": meta.get("seconds")}


@dataclass
class Case:
    """One process of a group: its command, where it saves, and how its counts are checked."""

    name: str
    cmd: list[str]
    out: Path | None = None
    truth: dict | None = None
    by_name: bool = False
    note: str = ""
    size: int | None = None


class Bench:
    def __init__(self, work: Path, repeat: int, procs: int, monai: bool = False) -> None:
        self.work, self.repeat, self.procs, self.monai = work, repeat, procs, monai
        self.runs: list[Run] = []

    def group(self, group: str, cases: list[Case]) -> list[Run]:
        """Every case ``repeat`` times, the cases taking turns (each round starts one further on, so
        no case always runs first or after the same one); per case the median wall and CPU time, the
        largest peak RSS, and the median scan time the ``.pt`` records. Counts are checked every run."""
        print(f"{group}:", flush=True)
        samples: dict[str, list[tuple[float, float, float, float | None]]] = {c.name: [] for c in cases}
        loads = [os.getloadavg()[0]]
        for round_ in range(self.repeat):
            shift = round_ % len(cases)
            for case in cases[shift:] + cases[:shift]:
                wall, cpu, rss = measure(case.cmd)
                ok, info = ("-", {}) if case.truth is None or case.out is None else check(
                    case.out, case.truth, case.by_name)
                samples[case.name].append((wall, cpu, rss, info.get("seconds")))
                print(f"  round {round_ + 1}: {case.name:48s} {wall:7.2f} s wall {cpu:7.2f} s CPU {rss:6.0f} MB "
                      f"{ok}", flush=True)
            loads.append(os.getloadavg()[0])
        runs = []
        for case in cases:
            got = samples[case.name]
            walls = [g[0] for g in got]
            scans = [g[3] for g in got if g[3]]
            run = Run(group, case.name, statistics.median(walls), statistics.median(g[1] for g in got),
                      max(g[2] for g in got), "-" if case.truth is None else "ok", case.note)
            run.extra = {"walls": walls, "loads": loads}
            if scans and case.size:
                run.scan = statistics.median(scans)
                run.note = (case.note + "; " if case.note else "") + (
                    f"scan {run.scan:.2f} s = {case.size / 2**20 / run.scan:.0f} MB/s")
            runs.append(run)
        print(f"  (load average {', '.join(f'{x:.1f}' for x in loads)})", flush=True)
        self.runs += runs
        return runs

    def out(self, name: str) -> Path:
        return self.work / f"{name}.pt"

    def peers(self, table, path: Path, truth: dict, by_name: bool = False) -> list[Case]:
        cases = []
        for peer, title in table:
            if peer in OPTIONAL_PEERS and not _importable(OPTIONAL_PEERS[peer]):
                print(f"  ({title}: {OPTIONAL_PEERS[peer]} is not installed)")
                continue
            cases.append(Case(title, [*PEERS, peer, str(path), str(self.out(peer))], self.out(peer), truth,
                              by_name))
        return cases

    # ------------------------------------------------------------------------------------------- cases

    def csv(self, rows: int, slow_peers: bool = True) -> None:
        label = f"wide CSV {rows:,} rows x 50"
        path = self.work / f"wide_{rows}.csv"
        truth = gen.wide_csv(path, rows)
        size = path.stat().st_size
        cases = [Case("bceweights compute", [*BCEWEIGHTS, "compute", str(path), "-q", "-o", str(self.out("bw"))],
                      self.out("bw"), truth, size=size)]
        table = [("polars_sum", "polars scan_csv + sum (streaming)"),
                 ("duckdb_sum", "DuckDB read_csv_auto + sum"),
                 ("pandas_sum", "pandas read_csv + sum"),
                 ("arrow_floor", "pyarrow read_csv (int8, label cols) + sums"),
                 ("arrow_plain", "pyarrow read_csv(path) + sums")]
        if slow_peers:  # 15 s a run at 1M rows, 47 s at 4M
            table.append(("sklearn_weights", "scikit-learn compute_class_weight per column"))
        self.group(f"{label} ({size / 1e6:.0f} MB)", cases + self.peers(table, path, truth))
        self.scan(path, {}, truth)
        path.unlink()

    def scan(self, path: Path, options: dict, truth: dict) -> None:
        """The reader's scan alone, in one process (``bceweights.count``: read, label-table kernel on two
        threads, counts with co-occurrence; no start-up, no torch), against the same reader with the
        kernel off (Arrow parses every chunk): medians of ``repeat`` after one warm-up run."""
        size = path.stat().st_size
        for kernel in (True, False):
            # One BLAS thread, as the CLI sets it (this module has loaded NumPy, so the child must get
            # it from its environment).
            out = subprocess.run([sys.executable, __file__, "--scan-only", str(path), json.dumps(options),
                                  "1" if kernel else "0", str(self.repeat)], capture_output=True, text=True,
                                 env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
            if out.returncode != 0:
                raise RuntimeError(out.stderr[-2000:])
            got = json.loads(out.stdout)
            # Label lists hold only the classes met, sorted by name: compare the positive counts as sets.
            if sorted(p for p in got["pos"] if p) != sorted(float(p) for p in truth["pos"] if p):
                raise AssertionError(f"{path.name}: in-process counts differ from the truth")
            wall, cpu = statistics.median(got["walls"]), statistics.median(got["cpus"])
            name = "in process: bceweights.count" + ("" if kernel else ", kernel off (Arrow parses)")
            run = Run(f"scan in process, {path.name}", name, wall, cpu, got["rss"], "ok",
                      f"{size / 2**20 / wall:.0f} MB/s; runs {', '.join(f'{w:.2f}' for w in got['walls'])}")
            self.runs.append(run)
            print(f"  {name:48s} {wall:7.2f} s wall {cpu:7.2f} s CPU  {size / 2**20 / wall:6.0f} MB/s", flush=True)

    def lists(self, rows: int) -> None:
        path = self.work / f"lists_{rows}.csv"
        truth = gen.list_csv(path, rows)
        size = path.stat().st_size
        cases = [Case("bceweights compute --list-column", [*BCEWEIGHTS, "compute", str(path), "-q",
                      "--list-column", "labels", "-o", str(self.out("bwl"))], self.out("bwl"), truth,
                      by_name=True, size=size)]
        table = [("polars_lists", "polars str.split + explode + count (streaming)"),
                 ("duckdb_lists", "DuckDB string_split + unnest + count"),
                 ("pandas_lists", "pandas str.split + counting")]
        self.group(f"label-list CSV {rows:,} rows ({size / 1e6:.0f} MB)",
                   cases + self.peers(table, path, truth, by_name=True))
        self.scan(path, {"list_column": "labels"}, truth)
        path.unlink()

    def npy(self, nbytes: int) -> None:
        path = self.work / "labels.npy"
        truth = gen.npy(path, nbytes)
        size = path.stat().st_size
        self.group(f"[N, 50] uint8 .npy ({size / 1e6:.0f} MB)", [
            Case("bceweights compute", [*BCEWEIGHTS, "compute", str(path), "-q", "-o", str(self.out("bwa"))],
                 self.out("bwa"), truth, size=size),
            Case("numpy load + sum(axis=0)", [*PEERS, "numpy_npy", str(path), str(self.out("np"))],
                 self.out("np"), truth),
            Case("numpy mmap + sum(axis=0)", [*PEERS, "numpy_mmap", str(path), str(self.out("npm"))],
                 self.out("npm"), truth)])
        path.unlink()

    def masks(self, count: int) -> None:
        folder = self.work / "masks"
        started = time.perf_counter()
        truth = gen.png_masks(folder, count, processes=self.procs)
        print(f"  (generated {count} masks in {time.perf_counter() - started:.1f} s)")
        size = sum(p.stat().st_size for p in folder.iterdir())
        files = str(folder / "*.png")
        procs = str(self.procs)
        cases = [Case("bceweights compute", [*BCEWEIGHTS, "compute", files, "-q", "--mask-mode", "index",
                      "--num-classes", "6", "--workers", procs, "-o", str(self.out("bwm"))], self.out("bwm"),
                      truth, size=size),
                 Case("floor: Pillow decode only", [*PEERS, "pillow_decode", str(folder), str(self.out("pil")),
                                                    "--procs", procs]),
                 Case("Pillow decode + histogram", [*PEERS, "pillow_hist", str(folder), str(self.out("pilh")),
                                                    "--procs", procs], self.out("pilh"), truth)]
        if self.monai and _importable("monai"):
            cases.append(Case("MONAI LoadImage + torch.bincount", [*PEERS, "monai_hist", str(folder),
                              str(self.out("monai")), "--procs", procs], self.out("monai"), truth))
        self.group(f"{count:,} PNG index masks 512x512, {self.procs} processes", cases)
        shutil.rmtree(folder)

    def help(self) -> None:
        heavy = _heavy_imports([*BCEWEIGHTS, "--help"])
        exe = shutil.which("bceweights")
        cmd = [exe, "--help"] if exe else [*BCEWEIGHTS, "--help"]
        sample = HERE.parent / "sample_data" / "chest_xray_labels.csv"
        truth = _sample_truth(sample)
        self.group("start-up", [
            Case("bceweights --help", cmd, note="heavy imports: " + (", ".join(heavy) if heavy else "none")),
            Case("python -c pass (interpreter alone)", [sys.executable, "-c", "pass"]),
            Case("bceweights compute, 700-row sample CSV", [*BCEWEIGHTS, "compute", str(sample), "-q", "-o",
                 str(self.out("sample"))], self.out("sample"), truth, note="with the loss checks"),
            Case("floor: python -c 'import torch; torch.save(...)'", [sys.executable, "-c",
                 f"import torch; torch.save({{'pos_count': torch.zeros(14)}}, {str(self.out('bare'))!r})"],
                 note="interpreter, torch, save")])


def _sample_truth(path: Path) -> dict:
    """The sample CSV's counts by a plain reading (every 0/1 column), for the start-up group's check."""
    import csv

    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    names = [n for n in rows[0] if all(r[n] in ("0", "1") for r in rows)]
    return {"classes": names, "pos": [sum(int(r[n]) for r in rows) for n in names], "rows": len(rows)}


def _has_flag(flag: str) -> bool:
    out = subprocess.run([*BCEWEIGHTS, "compute", "--help"], capture_output=True, text=True,
                         env={**os.environ, "COLUMNS": "200"})
    return flag in out.stdout


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _heavy_imports(cmd: list[str]) -> list[str]:
    """The heavy packages that ``cmd`` imports (from ``python -X importtime``)."""
    out = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], capture_output=True, text=True)
    names = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in out.stderr.splitlines()
             if line.startswith("import time:")}
    return sorted(names & {"torch", "pandas", "pyarrow", "numpy", "scipy", "matplotlib", "PIL", "dask"})


def machine() -> str:
    import psutil

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next(ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{os.cpu_count()} cores ({cpu}), {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}")


def versions() -> str:
    import importlib.metadata as md

    parts = []
    for name in ("bceweights", "numpy", "pyarrow", "pandas", "scikit-learn", "torch", "pillow", "monai", "polars",
                 "duckdb"):
        with contextlib.suppress(md.PackageNotFoundError):
            parts.append(f"{name} {md.version(name)}")
    return ", ".join(parts)


def markdown(runs: list[Run]) -> str:
    lines = []
    group = None
    base = None
    for run in runs:
        if run.group != group:
            group = run.group
            base = next((r for r in runs if r.group == group and r.name.startswith("bceweights")), None)
            lines += ["", f"**{group}**", "",
                      "| process | wall s | CPU s | peak RSS MB | wall / bceweights | counts | note |",
                      "|---|---:|---:|---:|---:|---|---|"]
        ratio = f"{run.wall / base.wall:.2f}x" if base else "-"
        lines.append(f"| {run.name} | {run.wall:.2f} | {run.cpu:.2f} | {run.rss_mb:.0f} | {ratio} | "
                     f"{run.ok} | {run.note} |")
    return "\n".join(lines[1:]) + "\n"


def _compile_package() -> None:
    """Byte-compile bceweights first: with PYTHONDONTWRITEBYTECODE set (as on some machines) every
    process would otherwise compile every module again, which no installed user pays."""
    import compileall

    import bceweights

    compileall.compile_dir(str(Path(bceweights.__file__).parent), quiet=1)


def _scan_only(path: str, options: str, kernel: str, repeat: str) -> None:
    """Child of :meth:`Bench.scan`: time ``bceweights.count`` in this process, print JSON."""
    import resource

    from bceweights import count
    from bceweights.tables import layout

    if kernel == "0":
        layout.FAST_GIVE_UP = 0
    kwargs = json.loads(options)
    count(path, **kwargs)  # warm: the page cache, imports, the scan's thread pool
    walls, cpus = [], []
    for _ in range(int(repeat)):
        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        counts = count(path, **kwargs)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    # VmHWM, not ru_maxrss: Linux carries a parent's peak into ru_maxrss across fork and exec.
    with open("/proc/self/status", encoding="ascii") as fh:
        rss = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM")) / 1024
    print(json.dumps({"walls": walls, "cpus": cpus, "rss": rss, "pos": counts.pos.tolist()}))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--scan-only"]:
        _scan_only(*argv[1:5])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the sizes")
    parser.add_argument("--only", default=",".join(GROUPS), help=f"comma-separated, of {', '.join(GROUPS)}")
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds: every case runs once a round, the cases taking turns; medians are kept")
    parser.add_argument("--procs", type=int, default=os.cpu_count() or 2, help="processes for masks")
    parser.add_argument("--monai", action="store_true",
                        help="also run MONAI's LoadImage on the masks (slow: ~13x Pillow's CPU time)")
    parser.add_argument("--workdir", default=None, help="where to generate the data (default: a temp dir)")
    parser.add_argument("--markdown", default=None, help="also write the table as Markdown to this file")
    parser.add_argument("--json", default=None, help="also write the raw results as JSON to this file")
    args = parser.parse_args(argv)
    _compile_package()
    only = {g.strip() for g in args.only.split(",") if g.strip()}
    unknown = only - set(GROUPS)
    if unknown:
        parser.error(f"unknown group(s) {sorted(unknown)}; choose among {', '.join(GROUPS)}")
    scale = 10 if args.quick else 1
    print(machine())
    print(versions())
    if os.getloadavg()[0] > 0.5 * (os.cpu_count() or 1):
        print(f"warning: load average {os.getloadavg()[0]:.1f}: other work is running; times will be noisy")
    with tempfile.TemporaryDirectory(prefix="bceweights-bench-", dir=args.workdir) as tmp:
        bench = Bench(Path(tmp), args.repeat, args.procs, args.monai)
        try:
            if "help" in only:
                bench.help()
            if "csv" in only:
                bench.csv(1_000_000 // scale)
                bench.csv(4_000_000 // scale, slow_peers=False)
            if "lists" in only:
                bench.lists(1_000_000 // scale)
            if "npy" in only:
                bench.npy(500_000_000 // scale)
            if "masks" in only:
                bench.masks(10_000 // scale)
            if "nifti" in only:  # KiTS19 volumes from ../shared/data; see nifti_bench.py
                import nifti_bench

                files = nifti_bench.volumes(nifti_bench.DEFAULT_KITS, 4 if args.quick else 20)
                if files:
                    bench.runs += nifti_bench.cases(bench.work, files, args.repeat, args.monai)
                else:
                    print(f"nifti: skipped, no volumes under {nifti_bench.DEFAULT_KITS}")
        except AssertionError as exc:
            print(f"FAILED: {exc}", file=sys.stderr)
            return 1
    table = markdown(bench.runs)
    print()
    print(table)
    if args.markdown:
        Path(args.markdown).write_text(f"{machine()}\n\n{versions()}\n\n{table}", encoding="utf-8")
    if args.json:
        Path(args.json).write_text(json.dumps([r.__dict__ for r in bench.runs], indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
