"""The label-table kernels (bceweights.fastscan) against Arrow's parse of the same chunks, in process.

    python benchmarks/scan_kernel.py                     # 4M x 50 wide CSV + 1M-row label lists
    python benchmarks/scan_kernel.py --rows 1000000 --repeat 7
    python benchmarks/scan_kernel.py --wide FILE.csv     # an existing wide 0/1 CSV (id first)

The file is cut into the reader's chunks (4 MiB of whole lines, header removed) and held in memory, so
only parsing is timed: ``scan_wide`` with 1 and 2 threads against ``pyarrow.csv.read_csv`` with the
table reader's options (label columns parsed as int8, 1 MiB blocks on all cores). Label lists:
``scan_lists`` against the reader's Arrow path (``read_csv`` of the column, ``split_pattern``,
``utf8_trim_whitespace``, blanks dropped, ``dictionary_encode``). Each pass also sums the labels per
class, and the sums are checked against the generator's truth; one more pass feeds the kernel's blocks
to ``Counts.update`` with co-occurrence on, as the reader would. Medians of ``--repeat`` passes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# As the CLI does (cli.main): OpenBLAS's spinning threads would starve the scan's threads between the
# small co-occurrence products.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import gen  # noqa: E402

CHUNK = 1 << 22
NULL_VALUES = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"]


def chunks(path: Path) -> tuple[bytes, list[bytes]]:
    """(the header line, the rest in chunks of whole lines)."""
    data = path.read_bytes()
    header, _, body = data.partition(b"\n")
    out, start = [], 0
    while start < len(body):
        stop = body.rfind(b"\n", start, start + CHUNK) + 1 or len(body)
        out.append(body[start:stop])
        start = stop
    return header, out


def timed(func, parts: list[bytes], repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = func(parts)
        times.append(time.perf_counter() - began)
    return statistics.median(times), result


def wide(path: Path, truth: dict | None, repeat: int) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from bceweights.counts import Counts
    from bceweights.fastscan import scan_wide

    header, parts = chunks(path)
    names = header.decode().split(",")
    labels = list(range(1, len(names)))
    size = sum(map(len, parts))
    print(f"wide CSV {path.name}: {size / 1e6:.0f} MB in {len(parts)} chunks, {len(labels)} label columns")

    def kernel(threads: int, counted: bool = False):
        def run(parts):
            pos = np.zeros(len(labels), np.int64)
            rows = 0
            counts = Counts(names[1:]).track_cooccurrence()
            for text in parts:
                block = scan_wide(text, delimiter=b",", num_fields=len(names), label_fields=labels,
                                  threads=threads)
                assert block is not None, "the kernel fell back on a generated chunk"
                if counted:  # what the reader then does with it: counts and co-occurrence
                    counts.update(block.view(np.uint8))
                else:
                    pos += block.sum(axis=0, dtype=np.int64)
                rows += len(block)
            return (counts.pos.astype(np.int64) if counted else pos), rows
        return run

    def arrow(parts):
        columns = names[1:]
        read = pacsv.ReadOptions(block_size=1 << 20, column_names=names)
        parse = pacsv.ParseOptions(delimiter=",", newlines_in_values=False)
        convert = pacsv.ConvertOptions(include_columns=columns, column_types={c: pa.int8() for c in columns},
                                       null_values=NULL_VALUES, strings_can_be_null=True,
                                       quoted_strings_can_be_null=True)
        pos = np.zeros(len(columns), np.int64)
        rows = 0
        for text in parts:
            table = pacsv.read_csv(pa.py_buffer(text), read_options=read, parse_options=parse,
                                   convert_options=convert).combine_chunks()
            pos += [np.frombuffer(table.column(c).chunks[0].buffers()[1], np.int8, table.num_rows).sum(
                dtype=np.int64) for c in columns]
            rows += table.num_rows
        return pos, rows

    results = {}
    for name, func in (("scan_wide, 1 thread", kernel(1)), ("scan_wide, 2 threads", kernel(2)),
                       ("pyarrow read_csv (int8 label columns)", arrow),
                       ("scan_wide, 2 threads + Counts.update", kernel(2, counted=True))):
        seconds, (pos, rows) = timed(func, parts, repeat)
        ok = "-" if truth is None else "ok" if (pos.tolist() == truth["pos"] and rows == truth["rows"]) else "WRONG"
        results[name] = seconds
        print(f"  {name:40s} {seconds:7.3f} s  {size / 2**20 / seconds:7.0f} MB/s  counts {ok}", flush=True)
    base = results["pyarrow read_csv (int8 label columns)"]
    print(f"  speed-up over Arrow: 1 thread {base / results['scan_wide, 1 thread']:.1f}x, "
          f"2 threads {base / results['scan_wide, 2 threads']:.1f}x")
    wide_variants(names, parts[:8], repeat)


def wide_variants(names: list[str], parts: list[bytes], repeat: int) -> None:
    """The first chunks changed so that the fixed-width run before the line end does not hold: -1 and
    blank labels (CheXpert-like: read field by field), a text column after the labels (the run is
    anchored at the delimiter after it)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from bceweights.fastscan import scan_wide

    labels = list(range(1, len(names)))
    variants = {
        "some -1 and blanks": ([p.replace(b",0,0,0,", b",-1,,0,", 2000) for p in parts], names, True),
        "-1 and blanks on every line": ([p.replace(b",0,0,0,", b",-1,,0,") for p in parts], names, True),
        "a text column after the labels": ([p.replace(b"\n", b",train\n") for p in parts], names + ["split"],
                                           False),
    }
    for title, (texts, columns, policy) in variants.items():
        size = sum(map(len, texts))

        def kernel(texts, columns=columns, policy=policy):
            pos = np.zeros(len(labels), np.int64)
            for text in texts:
                block = scan_wide(text, delimiter=b",", num_fields=len(columns), label_fields=labels,
                                  allow_uncertain=policy, allow_blank=policy)
                assert block is not None, "the kernel fell back on a variant chunk"
                pos += (block == 1).sum(axis=0)
            return pos

        def arrow(texts, columns=columns):
            read = pacsv.ReadOptions(block_size=1 << 20, column_names=columns)
            convert = pacsv.ConvertOptions(include_columns=columns[1:len(names)],
                                           column_types={c: pa.int8() for c in columns[1:len(names)]},
                                           null_values=NULL_VALUES, strings_can_be_null=True)
            pos = np.zeros(len(labels), np.int64)
            for text in texts:
                table = pacsv.read_csv(pa.py_buffer(text), read_options=read, convert_options=convert)
                pos += [int((table.column(c).to_numpy(zero_copy_only=False) == 1).sum())
                        for c in columns[1:len(names)]]
            return pos

        k_seconds, k_pos = timed(kernel, texts, repeat)
        a_seconds, a_pos = timed(arrow, texts, repeat)
        ok = "ok" if k_pos.tolist() == a_pos.tolist() else "DIFFER"
        print(f"  {title} ({size / 1e6:.0f} MB): scan_wide {size / 2**20 / k_seconds:.0f} MB/s, "
              f"Arrow {size / 2**20 / a_seconds:.0f} MB/s ({a_seconds / k_seconds:.1f}x), same positives: {ok}")


def lists(path: Path, truth: dict | None, repeat: int) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    from bceweights.fastscan import scan_lists

    header, parts = chunks(path)
    names = header.decode().split(",")
    size = sum(map(len, parts))
    print(f"label-list CSV {path.name}: {size / 1e6:.0f} MB in {len(parts)} chunks")

    def tally(pos: dict, rows: np.ndarray, codes: np.ndarray, classes: list[str]) -> None:
        # The generator never repeats a label in a row, so labels per class are the positives (the
        # truth check would catch it otherwise); the reader's de-duplication is not timed here.
        for code, count in enumerate(np.bincount(codes, minlength=len(classes))):
            pos[classes[code]] = pos.get(classes[code], 0) + int(count)

    def kernel(threads: int):
        def run(parts):
            pos: dict = {}
            rows = 0
            for text in parts:
                got = scan_lists(text, delimiter=b",", num_fields=len(names), list_field=1, separator=b"|",
                                 threads=threads)
                assert got is not None, "the kernel fell back on a generated chunk"
                tally(pos, got.rows, got.codes, got.names)
                rows += got.num_rows
            return pos, rows
        return run

    def arrow(parts):
        read = pacsv.ReadOptions(block_size=1 << 20, column_names=names)
        parse = pacsv.ParseOptions(delimiter=",", newlines_in_values=False)
        convert = pacsv.ConvertOptions(include_columns=["labels"], column_types={"labels": pa.string()},
                                       null_values=NULL_VALUES, strings_can_be_null=True,
                                       quoted_strings_can_be_null=True)
        pos: dict = {}
        rows = 0
        for text in parts:
            table = pacsv.read_csv(pa.py_buffer(text), read_options=read, parse_options=parse,
                                   convert_options=convert).combine_chunks()
            split = pc.split_pattern(table.column("labels").chunks[0], "|")
            parents = np.frombuffer(pc.list_parent_indices(split).buffers()[1], np.int64)
            flat = pc.utf8_trim_whitespace(pc.list_flatten(split))
            present = pc.and_kleene(pc.is_valid(flat), pc.cast(pc.utf8_length(flat), pa.bool_()))
            encoded = pc.dictionary_encode(flat.filter(present))
            keep = np.unpackbits(np.frombuffer(present.buffers()[1], np.uint8), count=len(present),
                                 bitorder="little").astype(bool)
            codes = np.frombuffer(encoded.indices.buffers()[1], np.int32, len(encoded))
            tally(pos, parents[:len(keep)][keep], codes, encoded.dictionary.to_pylist())
            rows += table.num_rows
        return pos, rows

    want = None if truth is None else {c: p for c, p in zip(truth["classes"], truth["pos"]) if p}
    results = {}
    for name, func in (("scan_lists, 1 thread", kernel(1)), ("scan_lists, 2 threads", kernel(2)),
                       ("pyarrow read_csv + split + encode", arrow)):
        seconds, (pos, rows) = timed(func, parts, repeat)
        ok = "-" if want is None else "ok" if (pos == want and rows == truth["rows"]) else "WRONG"
        results[name] = seconds
        print(f"  {name:40s} {seconds:7.3f} s  {size / 2**20 / seconds:7.0f} MB/s  counts {ok}", flush=True)
    base = results["pyarrow read_csv + split + encode"]
    print(f"  speed-up over Arrow: 1 thread {base / results['scan_lists, 1 thread']:.1f}x, "
          f"2 threads {base / results['scan_lists, 2 threads']:.1f}x")


def prototype(path: Path, out: Path) -> None:
    """A whole process as the reader could run with the kernel: read 4 MiB chunks of whole lines,
    ``scan_wide`` on 2 threads, ``Counts`` with co-occurrence, then import torch and save the counts.
    Not the reader (no fallback, no policies): a projection of what the integration can reach."""
    from bceweights.counts import Counts
    from bceweights.fastscan import scan_wide

    started = time.perf_counter()
    with open(path, "rb") as fh:
        names = fh.readline().decode().strip().split(",")
        counts = Counts(names[1:]).track_cooccurrence()
        labels = list(range(1, len(names)))

        def count(text: bytes) -> None:
            block = scan_wide(text, delimiter=b",", num_fields=len(names), label_fields=labels, threads=2)
            if block is None:
                raise SystemExit("the kernel fell back: the prototype has no Arrow path")
            counts.update(block.view(np.uint8))

        rest = b""
        while data := fh.read(CHUNK):
            data = rest + data if rest else data
            cut = data.rfind(b"\n") + 1
            rest = data[cut:]
            if cut:
                count(data[:cut])
        if rest:
            count(rest)
    scanned = time.perf_counter() - started
    import torch

    torch.save({"pos_count": torch.tensor(counts.pos), "neg_count": torch.tensor(counts.neg),
                "meta": {"seconds": scanned}}, out)


def processes(path: Path, truth: dict, repeat: int) -> None:
    """The prototype against polars and DuckDB as whole processes, alternating, medians."""
    import subprocess

    peers = HERE / "peers.py"
    runs = {"kernel prototype (scan_wide, 2 threads)": [sys.executable, __file__, "--prototype", str(path)],
            "bceweights compute (today's Arrow reader)": [sys.executable, "-m", "bceweights", "compute",
                                                          str(path), "-q", "-o"],
            "polars scan_csv + sum (streaming)": [sys.executable, str(peers), "polars_sum", str(path)],
            "DuckDB read_csv_auto + sum": [sys.executable, str(peers), "duckdb_sum", str(path)]}
    times: dict[str, list[float]] = {name: [] for name in runs}
    with tempfile.TemporaryDirectory(prefix="bceweights-proto-") as tmp:
        for _ in range(repeat):
            for name, cmd in runs.items():
                out = Path(tmp) / "out.pt"
                began = time.perf_counter()
                subprocess.run([*cmd, str(out)], check=True, stdout=subprocess.DEVNULL)
                times[name].append(time.perf_counter() - began)
                import torch

                pos = torch.load(out, weights_only=True)["pos_count"].numpy()
                assert pos.tolist() == truth["pos"], f"{name}: counts differ from the truth"
    base = statistics.median(times["kernel prototype (scan_wide, 2 threads)"])
    print(f"whole processes on {path.name} (import torch + save included), medians of {repeat}, alternating; "
          f"load average {os.getloadavg()[0]:.1f}:")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:42s} {median:6.2f} s  ({median / base:.2f}x the prototype; runs "
              f"{', '.join(f'{v:.2f}' for v in values)})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4_000_000, help="rows of the generated wide CSV")
    parser.add_argument("--list-rows", type=int, default=1_000_000, help="rows of the label-list CSV")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--wide", type=Path, default=None, help="an existing wide CSV instead")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--processes", action="store_true",
                        help="also time the kernel prototype against polars and DuckDB as whole processes")
    parser.add_argument("--prototype", nargs=2, type=Path, metavar=("CSV", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.prototype:
        prototype(*args.prototype)
        return 0
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; medians of {args.repeat}")
    with tempfile.TemporaryDirectory(prefix="bceweights-kernel-", dir=args.workdir) as tmp:
        if args.wide:
            wide(args.wide, None, args.repeat)
        else:
            path = Path(tmp) / f"wide_{args.rows}.csv"
            truth = gen.wide_csv(path, args.rows)
            wide(path, truth, args.repeat)
            if args.processes:
                processes(path, truth, args.repeat)
            path.unlink()
        if args.list_rows:
            path = Path(tmp) / f"lists_{args.list_rows}.csv"
            truth = gen.list_csv(path, args.list_rows)
            lists(path, truth, args.repeat)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
