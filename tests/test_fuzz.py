"""Fuzzing the readers (issues 9 and 14): random bytes, near-valid CSVs, random mask arrays, label arrays in
every format, layout and value policy, near-valid ARFF, and malformed files of every kind (damaged,
truncated, transposed, without a class, sparse rows past the header, corrupt NIfTI). The only outcomes
allowed are the correct counts (checked against a brute force whenever the input is valid) or a
``BceWeightsError`` (whenever it is not); never another exception. A share of the cases runs the CLI
in-process, with its checks: exit 0 with the right counts in the ``.pt``, or exit 1/2 with one
``Error:`` line on stderr and no traceback. Kept to well under a minute.
"""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_masks import write_nifti

from bceweights.errors import BceWeightsError
from bceweights.spec import InputSpec

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _file(data: bytes, suffix: str) -> Path:
    handle = tempfile.NamedTemporaryFile(suffix=suffix, delete=False)
    with handle:
        handle.write(data)
    return Path(handle.name)


# ------------------------------------------------------------------------------------ random bytes


@FUZZ
@given(data=st.one_of(
    st.binary(max_size=600),
    st.text(alphabet="01,;|\t\n -.naNx\"é", max_size=400).map(str.encode),
), suffix=st.sampled_from([".csv", ".tsv", ".csv.gz", ".parquet"]),
   layout=st.sampled_from(["detect", "list", "class"]))
def test_random_bytes_give_counts_or_a_clean_error(data, suffix, layout):
    from bceweights.api import count

    if suffix == ".csv.gz" and data[:1] != b"\x1f":
        import gzip

        data = gzip.compress(data)[: max(1, len(data))]  # sometimes whole, mostly cut
    path = _file(data, suffix)
    spec = InputSpec()
    if layout != "detect":
        first = data.split(b"\n", 1)[0].decode("utf-8", "replace").split(",")[0].strip()
        spec = spec.with_(**{"list_column" if layout == "list" else "class_column": first or "x"})
    try:
        counts = count(path, spec)
    except BceWeightsError:
        return
    finally:
        path.unlink()
    assert np.all(counts.pos >= 0) and np.all(counts.neg >= 0)
    assert np.all(counts.pos + counts.neg + counts.ignored <= counts.samples + 1e-9)


# -------------------------------------------------------------------------------- near-valid CSVs


GOOD = ["0", "1", "-1", "", "0.5", "0.25", "1.0", "0.0", "nan", "NA"]
BAD = ["2", "x", "inf", "-0.5", "1e3", "yes"]


def _reference(text: str, delimiter: str, ncols: int):
    """Brute force: (pos, neg, ignored, samples) under the default policy, or None when the file is
    not valid labels (a ragged row, a value that is not a label, no data row)."""
    rows = [r for r in csv.reader(io.StringIO(text), delimiter=delimiter) if r]
    if len(rows) < 2:
        return None
    pos, neg, ign = np.zeros(ncols), np.zeros(ncols), np.zeros(ncols)
    for row in rows[1:]:
        if len(row) != ncols:
            return None
        for j, cell in enumerate(row):
            if cell in ("", "nan", "NA"):
                neg[j] += 1  # missing counts as a negative by default
            elif cell == "-1":
                ign[j] += 1  # uncertain is ignored by default
            else:
                try:
                    y = float(cell)
                except ValueError:
                    return None
                if not 0 <= y <= 1:
                    return None
                pos[j] += y
                neg[j] += 1 - y
    return pos, neg, ign, len(rows) - 1


@st.composite
def near_valid_csv(draw):
    ncols = draw(st.integers(1, 4))
    nrows = draw(st.integers(0, 30))
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    cells = st.sampled_from(GOOD)
    grid = [[draw(cells) for _ in range(ncols)] for _ in range(nrows)]
    mutation = draw(st.sampled_from(["none", "none", "bad value", "ragged", "cut", "blank lines",
                                     "no final newline", "crlf"]))
    if mutation == "bad value" and nrows:
        grid[draw(st.integers(0, nrows - 1))][draw(st.integers(0, ncols - 1))] = draw(st.sampled_from(BAD))
    lines = [delimiter.join(f"c{j}" for j in range(ncols))] + [delimiter.join(r) for r in grid]
    if mutation == "ragged" and nrows:
        i = draw(st.integers(1, nrows))
        lines[i] += delimiter + draw(st.sampled_from(GOOD))
    text = "\n".join(lines) + "\n"
    if mutation == "cut":
        text = text[: draw(st.integers(len(lines[0]) + 1, len(text)))]
    elif mutation == "blank lines":
        text = text.replace("\n", "\n\n", draw(st.integers(1, 3)))
    elif mutation == "no final newline":
        text = text.rstrip("\n")
    elif mutation == "crlf":
        text = text.replace("\n", "\r\n")
    return text, delimiter, ncols


@FUZZ
@given(case=near_valid_csv(), compress=st.booleans(), chunk=st.sampled_from([None, 48, 64]))
def test_near_valid_csv_counts_match_a_brute_force(case, compress, chunk, monkeypatch_session):
    from bceweights.api import count
    from bceweights.tables import source as tables

    text, delimiter, ncols = case
    data = text.encode()
    if compress:
        import gzip

        data = gzip.compress(data)
    path = _file(data, ".csv.gz" if compress else ".csv")
    spec = InputSpec(columns=tuple(f"c{j}" for j in range(ncols)), delimiter=delimiter)
    expected = _reference(text.replace("\r\n", "\n"), delimiter, ncols)
    monkeypatch_session.setattr(tables, "BLOCK_SIZE", chunk or (1 << 22))
    try:
        counts = count(path, spec)
    except BceWeightsError as exc:
        assert expected is None, f"valid input rejected: {exc}\n{text!r}"
        return
    finally:
        path.unlink()
    assert expected is not None, f"invalid input accepted:\n{text!r}"
    pos, neg, ign, samples = expected
    assert counts.classes == [f"c{j}" for j in range(ncols)]
    np.testing.assert_allclose(counts.pos, pos, atol=1e-9)
    np.testing.assert_allclose(counts.neg, neg, atol=1e-9)
    np.testing.assert_allclose(counts.ignored, ign, atol=1e-9)
    assert counts.samples == samples


@pytest.fixture(scope="module")
def monkeypatch_session():
    # hypothesis runs many examples in one test call: a module-scoped patcher, undone at the end.
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_the_reference_rejects_what_it_should():
    assert _reference("a,b\n1,2\n", ",", 2) is None
    assert _reference("a,b\n1,0,1\n", ",", 2) is None
    assert _reference("a,b\n", ",", 2) is None
    pos, neg, ign, n = _reference("a,b\n1,-1\n0.5,\n", ",", 2)
    assert (pos.tolist(), neg.tolist(), ign.tolist(), n) == ([1.5, 0], [0.5, 1], [0, 1], 2)


# ------------------------------------------------------------------------------------ mask arrays


def _mask_reference(arrays: list[np.ndarray]):
    """Index-mode counts by brute force: (pos, neg) per class id 0..max, or None when the masks are not
    valid (a negative or fractional or infinite value, mixed ranks, a rank other than 2 or 3, every
    pixel void)."""
    if len({a.ndim for a in arrays}) != 1 or arrays[0].ndim not in (2, 3):
        return None
    values = []
    for a in arrays:
        v = a.astype(np.float64).ravel()
        v = v[~np.isnan(v)]  # NaN is void
        if not np.all(np.isfinite(v)) or np.any(v != np.floor(v)) or np.any(v < 0):
            return None
        values.append(v.astype(np.int64))
    flat = np.concatenate(values)
    if flat.size == 0:
        return None
    pos = np.bincount(flat).astype(np.float64)
    return pos, flat.size - pos


mask_arrays = st.lists(
    st.tuples(
        st.sampled_from([np.uint8, np.uint16, np.int16, np.float32]),
        st.sampled_from([(3, 4), (2, 3, 4), (5,), (1, 2, 2, 2), (4, 4)]),
        st.lists(st.sampled_from([0, 0, 1, 2, 3, 7, -1, 0.5, np.nan, np.inf]), min_size=1, max_size=64),
    ),
    min_size=1, max_size=3,
)


@FUZZ
@given(specs=mask_arrays)
def test_random_mask_arrays_give_counts_or_a_clean_error(specs):
    """Files: exact counts or one clean error; ``count_dataset`` on the same masks (NaN, which files read
    as void, is refused there) gives the same counts."""
    pytest.importorskip("bceweights.readers.masks")
    from bceweights import api, count_dataset

    arrays = []
    for dtype, shape, pool in specs:
        size = int(np.prod(shape))
        values = np.resize(np.asarray(pool, dtype=np.float64), size).reshape(shape)
        if np.dtype(dtype).kind != "f":
            if not np.all(np.isfinite(values)) or np.any(values != np.floor(values)):
                values = np.nan_to_num(np.floor(values), nan=0, posinf=0)
            if np.dtype(dtype).kind == "u":
                values = np.abs(values)
        arrays.append(values.astype(dtype))
    folder = Path(tempfile.mkdtemp())
    paths = []
    for i, a in enumerate(arrays):
        np.save(folder / f"m{i}.npy", a)
        paths.append(folder / f"m{i}.npy")
    expected = _mask_reference(arrays)
    try:
        counts = api.count(paths, InputSpec(mask_mode="index", workers=1))
    except BceWeightsError as exc:
        assert expected is None, f"valid masks rejected: {exc}"
        return
    finally:
        for p in paths:
            p.unlink()
        folder.rmdir()
    assert expected is not None, "invalid masks accepted"
    pos, neg = expected
    np.testing.assert_array_equal(counts.pos, pos)
    np.testing.assert_array_equal(counts.neg, neg)
    if not any(np.isnan(a.astype(np.float64)).any() for a in arrays):
        same = count_dataset(arrays, target=lambda m: m, mode="index", progress=False).to_dict()
        files = counts.to_dict()
        same.pop("notes"), files.pop("notes")
        assert same == files


# --------------------------------------------------------------------------- multi-hot arrays (.npy/.npz/.pt)


def _policy_reference(raw: np.ndarray, policy):
    """Brute force of the value policy on ``[n, C]`` raw values: (labels with NaN where ignored,
    missing per class, uncertain per class), or None when a value is not a label."""
    labels = np.full(raw.shape, np.nan)
    for (i, j), v in np.ndenumerate(raw):
        v = float(v)
        if np.isnan(v):
            labels[i, j] = np.nan if policy.missing == "ignore" else 0.0
        elif v == -1:
            labels[i, j] = {"ignore": np.nan, "positive": 1.0, "negative": 0.0}[policy.uncertain]
        elif v in policy.ignore_values:
            labels[i, j] = np.nan
        elif policy.binarize is not None and np.isfinite(v):
            labels[i, j] = float(v >= policy.binarize)
        elif v in (0.0, 1.0) or (not policy.hard and 0 < v < 1):
            labels[i, j] = v
        else:
            return None
    return labels, np.isnan(raw).sum(axis=0), (raw == -1).sum(axis=0)


@st.composite
def label_arrays(draw):
    """A raw ``[n, C]`` array of some dtype, how it is laid out in the file, and its format."""
    n, c = draw(st.integers(0, 24)), draw(st.integers(1, 4))
    dtype = draw(st.sampled_from(["uint8", "int16", "bool", "float32", "float64"]))
    pool = {"uint8": [0, 1, 1, 2], "int16": [0, 1, 1, -1, 3], "bool": [0, 1]}.get(
        dtype, [0, 1, 1, 0, -1, np.nan, 0.25, 0.5, 2, np.inf])
    values = draw(st.lists(st.sampled_from(pool), min_size=n * c, max_size=n * c))
    raw = np.array(values, dtype=np.float64).reshape(n, c)
    layout = draw(st.sampled_from(["NC", "CN", "NTC"] if n % 2 == 0 else ["NC", "CN"]))
    fmt = draw(st.sampled_from(["npy", "npz", "npz-compressed", "pt"]))
    return raw, dtype, layout, fmt


def _save_array(raw: np.ndarray, dtype: str, layout: str, fmt: str) -> tuple[Path, dict]:
    data = raw.astype(dtype)
    options: dict = {}
    if layout == "CN":
        data, options["class_axis"] = np.ascontiguousarray(data.T), 0
    elif layout == "NTC":
        data, options["class_axis"] = data.reshape(len(data) // 2, 2, data.shape[1]), -1
    folder = Path(tempfile.mkdtemp())
    if fmt == "npy":
        path = folder / "y.npy"
        np.save(path, data)
    elif fmt.startswith("npz"):
        path = folder / "y.npz"
        (np.savez_compressed if fmt.endswith("compressed") else np.savez)(path, labels=data, other=np.zeros(2))
        options["key"] = "labels"
    else:
        import torch

        path = folder / "y.pt"
        torch.save(torch.from_numpy(data), path)
    return path, options


@FUZZ
@given(case=label_arrays(), uncertain=st.sampled_from(["ignore", "positive", "negative"]),
       missing=st.sampled_from(["negative", "ignore"]), binarize=st.sampled_from([None, 0.5]),
       hard=st.booleans(), ignore_values=st.sampled_from([(), (2.0,)]))
def test_random_label_arrays_give_exact_counts_or_a_clean_error(case, uncertain, missing, binarize, hard,
                                                                 ignore_values):
    """Every array format, layout and value policy: the brute force's counts, or one error naming the
    file exactly when the brute force finds a value that is not a label (or no sample)."""
    from bceweights import api
    from bceweights.policy import ValuePolicy

    raw, dtype, layout, fmt = case
    policy = ValuePolicy(uncertain=uncertain, missing=missing, binarize=binarize, hard=hard,
                         ignore_values=ignore_values)
    path, options = _save_array(raw, dtype, layout, fmt)
    expected = _policy_reference(raw, policy) if len(raw) else None
    try:
        counts = api.count(path, InputSpec(policy=policy, workers=1, **options))
    except BceWeightsError as exc:
        event(f"{fmt}: refused")
        assert expected is None, f"valid labels rejected: {exc}"
        assert exc.message.startswith(str(path)) and "\n" not in str(exc)
        return
    finally:
        path.unlink()
        path.parent.rmdir()
    event(f"{fmt}: counted")
    assert expected is not None, f"invalid labels accepted:\n{raw}"
    labels, missing_count, uncertain_count = expected
    y = np.nan_to_num(labels, nan=0.0)
    valid = ~np.isnan(labels)
    assert counts.classes == [str(j) for j in range(raw.shape[1])]
    np.testing.assert_allclose(counts.pos, y.sum(axis=0), atol=1e-9)
    np.testing.assert_allclose(counts.neg, (valid * (1 - y)).sum(axis=0), atol=1e-9)
    np.testing.assert_array_equal(counts.ignored, (~valid).sum(axis=0))
    assert counts.samples == len(raw) and counts.no_positive == int((y.sum(axis=1) == 0).sum())
    if dtype.startswith("float"):  # integer 0/1 arrays skip the policy: nothing to count there
        np.testing.assert_array_equal(counts.missing, missing_count)
        np.testing.assert_array_equal(counts.uncertain, uncertain_count)
    np.testing.assert_allclose(counts.cooccurrence, y.T @ y, atol=1e-9)


# ------------------------------------------------------------------------------------------- ARFF


@st.composite
def arff_texts(draw):
    """An ARFF text with features first and labels last (MEKA ``-C -k``), dense or sparse, and what a
    reader must find: (text, labels [n, k] with NaN for '?', or None when a row is not valid)."""
    features, k = draw(st.integers(0, 3)), draw(st.integers(1, 3))
    sparse = draw(st.booleans())
    n = draw(st.integers(0, 12))
    width = features + k
    lines = [draw(st.sampled_from(["", "% a comment"])), f"@relation 'fuzz: -C -{k}'"]
    lines += [f"@attribute f{i} numeric" for i in range(features)]
    lines += [f"@attribute 'label {j}' {{0,1}}" for j in range(k)]
    lines.append("@data")
    cells = st.sampled_from(["0", "1", "1", "0", "?", "0.5"] + (["2", "x"] if draw(st.booleans()) else []))
    truth: list[list[float]] | None = []
    for _ in range(n):
        values = [draw(cells) for _ in range(k)]
        feats = [draw(st.sampled_from(["0.5", "-3", "'a b'", "?", "7"])) for _ in range(features)]
        if sparse:
            entries = [(i, v) for i, v in enumerate(feats + values) if v != "0"]
            line = "{" + ",".join(f"{i} {v}" for i, v in entries) + "}"
        else:
            line = ",".join(feats + values)
        mutation = draw(st.sampled_from(["none"] * 6 + ["ragged", "bad entry", "comment", "blank", "weight"]))
        bad = any(v in ("2", "x") for v in values)
        if mutation == "ragged" and not sparse:
            line, bad = line + ",0", True
        elif mutation == "bad entry" and sparse:
            line, bad = "{zero 1}", True
        elif mutation == "comment":
            lines.append("% between rows")
        elif mutation == "blank":
            lines.append("")
        elif mutation == "weight" and not sparse:
            line += ",{3}"  # an instance weight, which is not an attribute
        lines.append(line)
        if truth is not None:
            truth = None if bad else truth + [[np.nan if v == "?" else float(v) for v in values]]
    end = draw(st.sampled_from(["\n", "\r\n"]))
    return end.join(lines) + end, width, k, truth


@FUZZ
@given(case=arff_texts())
def test_random_arff_gives_exact_counts_or_a_clean_error(case):
    from bceweights import api

    text, _, k, truth = case
    path = _file(text.encode(), ".arff")
    try:
        counts = api.count(path)
    except BceWeightsError as exc:
        event("refused")
        assert truth is None or not truth, f"valid ARFF rejected: {exc}\n{text}"
        assert exc.message.startswith(str(path)) and "\n" not in str(exc)
        return
    finally:
        path.unlink()
    event("counted")
    assert truth, f"invalid ARFF accepted:\n{text}"
    y = np.nan_to_num(np.array(truth), nan=0.0)  # '?' is missing: a negative by default
    assert counts.classes == [f"label {j}" for j in range(k)]
    np.testing.assert_allclose(counts.pos, y.sum(axis=0), atol=1e-9)
    np.testing.assert_allclose(counts.neg, (1 - y).sum(axis=0), atol=1e-9)
    np.testing.assert_array_equal(counts.missing, np.isnan(np.array(truth)).sum(axis=0))
    assert counts.samples == len(truth)


# ------------------------------------------------------------------------- through the CLI, in-process


def _cli(*args) -> tuple[int, str, str]:
    """``bceweights ARGS`` in this process: (exit code, stdout, stderr). Exceptions propagate: a
    traceback fails the test."""
    from typer.testing import CliRunner

    from bceweights.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _assert_one_error_line(code: int, out: str, err: str) -> None:
    assert code in (1, 2), (code, out, err)
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), err


def _counted(paths, spec: InputSpec, via_cli: bool, args: tuple = ()):
    """Counts of ``paths`` through the library, or through ``bceweights compute`` (checks included) read
    back from its ``.pt``; None after a clean refusal (asserted clean here)."""
    from bceweights import api

    if not via_cli:
        try:
            return api.count(paths, spec)
        except BceWeightsError as exc:
            assert "\n" not in str(exc)
            event("library: refused")
            return None
    import torch

    out = Path(tempfile.mkdtemp()) / "w.pt"
    try:
        code, stdout, stderr = _cli("compute", *paths, *args, "--workers", "1", "-q", "-o", out)
        if code != 0:
            _assert_one_error_line(code, stdout, stderr)
            event(f"cli: exit {code}")
            return None
        assert "Traceback" not in stdout + stderr
        saved = torch.load(out, weights_only=True)
    finally:
        out.unlink(missing_ok=True)
        out.parent.rmdir()
    event("cli: exit 0")
    return saved


def _pos_neg(counted):
    if isinstance(counted, dict):  # a .pt from the CLI
        return counted["pos_count"].numpy(), counted["neg_count"].numpy(), list(counted["classes"])
    return counted.pos, counted.neg, list(counted.classes)


# ------------------------------------------------------------------------------- malformed arrays


@st.composite
def malformed_arrays(draw):
    """A label array file, damaged or not: (bytes, suffix, CLI args, the labels [n, C] it holds when it
    is intact and valid, else None)."""
    fmt = draw(st.sampled_from(["npy", "npz", "pt"]))
    shape = draw(st.sampled_from(["ok", "ok", "wide", "no class", "no sample", "3-D"]))
    n, c = draw(st.integers(1, 12)), draw(st.integers(1, 4))
    data = {"ok": (n, c), "wide": (2, 1100), "no class": (n, 0), "no sample": (0, c), "3-D": (2, 3, c)}[shape]
    y = (np.random.default_rng(draw(st.integers(0, 2**16))).random(data) < 0.4).astype(np.uint8)
    path, options = _save_array(y.reshape(-1, y.shape[-1]) if y.ndim == 3 else y, "uint8", "NC", fmt)
    if shape == "3-D":  # saved as a 3-D array without --class-axis
        if fmt == "npy":
            np.save(path, y)
        elif fmt == "npz":
            np.savez(path, labels=y, other=np.zeros(2))
        else:
            import torch

            torch.save(torch.from_numpy(y), path)
    raw = path.read_bytes()
    path.unlink()
    path.parent.rmdir()
    damage = draw(st.sampled_from(["none", "none", "truncate", "flip", "garbage"]))
    if damage == "truncate":
        raw = raw[: draw(st.integers(0, max(0, len(raw) - 1)))]
    elif damage == "flip" and raw:
        i = draw(st.integers(0, len(raw) - 1))
        raw = raw[:i] + bytes([raw[i] ^ draw(st.integers(1, 255))]) + raw[i + 1:]
    elif damage == "garbage":
        raw = draw(st.binary(max_size=200))
    args = ("--key", options["key"]) if "key" in options else ()
    truth = y if damage == "none" and shape == "ok" else None
    return raw, f".{fmt}", args, truth, damage


@FUZZ
@given(case=malformed_arrays(), via_cli=st.booleans())
def test_malformed_arrays_give_exact_counts_or_one_clean_error(case, via_cli):
    raw, suffix, args, truth, damage = case
    path = _file(raw, suffix)
    spec = InputSpec(workers=1, **({"key": args[1]} if args else {}))
    try:
        counted = _counted([path], spec, via_cli, args)
    finally:
        path.unlink()
    if counted is None:
        assert truth is None, "valid labels refused"
        return
    pos, neg, classes = _pos_neg(counted)
    if truth is not None:
        np.testing.assert_array_equal(pos, truth.sum(axis=0))
        np.testing.assert_array_equal(neg, (1 - truth).sum(axis=0))
        return
    # A damaged file that still reads (a flipped byte in an .npy's values: nothing can tell) is counted
    # as what it holds; never an intact-looking count of a transposed or empty array.
    assert damage in ("flip", "truncate") and len(classes) >= 1
    assert np.all(pos >= 0) and np.all(neg >= 0)


# ----------------------------------------------------------------------------------- malformed ARFF


@st.composite
def malformed_arff(draw):
    """A small sparse MEKA ARFF with one way of not matching its header (or none): (text, labels or
    None)."""
    width, k = 4, 2
    rows = draw(st.lists(st.lists(st.sampled_from([0, 1]), min_size=width, max_size=width), min_size=1, max_size=6))
    c_value = draw(st.sampled_from([f"-{k}", f"-{k}", f"-{k}", "30", "-9", "0", str(width)]))
    lines = [f"@relation 'fuzz: -C {c_value}'"] + [f"@attribute a{i} {{0,1}}" for i in range(width)] + ["@data"]
    for row in rows:
        lines.append("{" + ",".join(f"{i} {v}" for i, v in enumerate(row) if v) + "}")
    mutation = draw(st.sampled_from(["none", "none", "index past", "negative index", "twice", "no value",
                                     "no brace", "empty dense field"]))
    at = draw(st.integers(width + 2, len(lines) - 1))
    if mutation == "index past":
        lines[at] = lines[at].replace("}", f"{',' if lines[at] != '{}' else ''}{draw(st.integers(width, 40))} 1}}")
    elif mutation == "negative index":
        lines[at] = "{-1 1}"
    elif mutation == "twice":
        lines[at] = "{1 1,1 0}"
    elif mutation == "no value":
        lines[at] = "{2}"
    elif mutation == "no brace":
        lines[at] = lines[at].rstrip("}") or "{"
    elif mutation == "empty dense field":
        lines[at] = "1,0,,1"  # a label column (a2) left empty
    valid_c = c_value in (f"-{k}", str(width))
    labels = None
    if mutation == "none" and valid_c:
        labels = np.array(rows, dtype=np.float64)[:, -k:] if c_value.startswith("-") else np.array(rows, float)
    return "\n".join(lines) + "\n", labels


@FUZZ
@given(case=malformed_arff(), via_cli=st.booleans())
def test_malformed_arff_gives_exact_counts_or_one_clean_error(case, via_cli):
    text, labels = case
    path = _file(text.encode(), ".arff")
    try:
        counted = _counted([path], InputSpec(workers=1), via_cli)
    finally:
        path.unlink()
    if counted is None:
        assert labels is None, f"valid ARFF refused:\n{text}"
        return
    assert labels is not None, f"malformed ARFF counted:\n{text}"
    pos, neg, _ = _pos_neg(counted)
    np.testing.assert_array_equal(pos, labels.sum(axis=0))
    np.testing.assert_array_equal(neg, (1 - labels).sum(axis=0))


# ---------------------------------------------------------------------------------- malformed masks


def _nifti(arr: np.ndarray) -> bytes:
    folder = Path(tempfile.mkdtemp())
    path = write_nifti(folder / "v.nii", arr)
    data = path.read_bytes()
    path.unlink()
    folder.rmdir()
    return data


@st.composite
def malformed_masks(draw):
    """A mask file of some format, damaged or not: (bytes, suffix, the mask when its values are what
    the file holds, whether any damage must be caught)."""
    import gzip

    fmt = draw(st.sampled_from(["png", "tif", "nii", "nii.gz", "nii.gz"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    shape = (draw(st.integers(1, 9)), draw(st.integers(1, 9))) + ((draw(st.integers(1, 4)),) if "nii" in fmt else ())
    mask = rng.choice([0, 0, 1, 2], size=shape).astype(np.uint8)
    if fmt == "png":
        buffer = io.BytesIO()
        from PIL import Image

        Image.fromarray(mask).save(buffer, format="PNG")
        raw = buffer.getvalue()
    elif fmt == "tif":
        buffer = io.BytesIO()
        from PIL import Image

        Image.fromarray(mask).save(buffer, format="TIFF")
        raw = buffer.getvalue()
    else:
        raw = _nifti(mask)
        if fmt == "nii.gz":
            raw = gzip.compress(raw)
    damage = draw(st.sampled_from(["none", "truncate", "flip", "garbage"]))
    if damage == "truncate":
        raw = raw[: draw(st.integers(0, len(raw) - 1))]
    elif damage == "flip":
        i = draw(st.integers(0, len(raw) - 1))
        raw = raw[:i] + bytes([raw[i] ^ draw(st.integers(1, 255))]) + raw[i + 1:]
    elif damage == "garbage":
        raw = draw(st.binary(max_size=300))
    # gzip's CRC-32 covers every byte of a .nii.gz: a change is caught, or it changed nothing that counts
    # (the gzip header's time stamp); a cut NIfTI is always short of what its header promises.
    guarded = fmt == "nii.gz" or (fmt == "nii" and damage == "truncate")
    return raw, f".{fmt}", mask, damage, guarded


@FUZZ
@given(case=malformed_masks(), via_cli=st.booleans())
def test_malformed_masks_give_exact_counts_or_one_clean_error(case, via_cli):
    raw, suffix, mask, damage, guarded = case
    path = _file(raw, suffix)
    try:
        counted = _counted([path], InputSpec(workers=1, mask_mode="index", num_classes=3), via_cli,
                           ("--mask-mode", "index", "--num-classes", "3"))
    finally:
        path.unlink()
    if counted is None:
        assert damage != "none", "a valid mask refused"
        return
    pos, neg, _ = _pos_neg(counted)
    want = np.bincount(mask.ravel(), minlength=3).astype(np.float64)
    if damage == "none" or guarded:
        np.testing.assert_array_equal(pos, want)
        np.testing.assert_array_equal(neg, mask.size - want)
    else:  # a PNG or TIFF without a checksum over its pixels: what it now holds, counted consistently
        assert np.all(pos >= 0) and np.all(neg >= 0) and len(pos) == 3


# ------------------------------------------------------------------------------ tables, through the CLI


@FUZZ
@given(case=near_valid_csv())
def test_near_valid_csv_through_the_cli_counts_right_or_exits_with_one_line(case):
    text, delimiter, ncols = case
    path = _file(text.encode(), ".csv")
    columns = ",".join(f"c{j}" for j in range(ncols))
    try:
        counted = _counted([path], InputSpec(), True, ("--columns", columns, "--delimiter", delimiter))
    finally:
        path.unlink()
    expected = _reference(text.replace("\r\n", "\n"), delimiter, ncols)
    if counted is None:
        assert expected is None, f"valid table refused:\n{text!r}"
        return
    assert expected is not None, f"invalid table counted:\n{text!r}"
    pos, neg, classes = _pos_neg(counted)
    assert classes == [f"c{j}" for j in range(ncols)]
    np.testing.assert_allclose(pos, expected[0], atol=1e-6)
    np.testing.assert_allclose(neg, expected[1], atol=1e-6)
