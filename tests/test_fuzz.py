"""Fuzzing the readers (issue 9): random bytes, near-valid CSVs and random mask arrays. The only outcomes
allowed are the correct counts (checked against a brute force whenever the input is valid) or a
``BceWeightsError`` (whenever it is not); never another exception. Kept to well under a minute.
"""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
