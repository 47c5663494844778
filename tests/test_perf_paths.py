"""The fast paths of issue 7 count exactly what the reference paths count.

The wide CSV reader parses chunks of whole lines with Arrow's multi-threaded ``read_csv``, as int8 when
it can (falling back to float64 for the rest of the file), and hands clean 0/1 batches to
``Counts.update`` as uint8 without the value policy; ``Counts.update`` has an integer path and
computes co-occurrence from the rows with two or more labels. Each is checked against a brute-force
count here, across chunk boundaries.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bceweights.api import count
from bceweights.counts import Counts
from bceweights.tables import layout
from bceweights.tables import source as tables


def _brute(y: np.ndarray) -> dict:
    """Reference counts of clean labels in [0, 1] (no NaN)."""
    y = y.astype(np.float64)
    return {"pos": y.sum(0).tolist(), "neg": (1 - y).sum(0).tolist(), "samples": len(y),
            "no_positive": int((y.sum(1) == 0).sum()), "cooc": (y.T @ y).tolist()}


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 7), st.integers(0, 300), st.floats(0.0, 1.0), st.booleans(), st.integers(0, 2**31))
def test_integer_update_equals_brute_force(classes, rows, density, transposed, seed):
    rng = np.random.default_rng(seed)
    y = (rng.random((rows, classes)) < density).astype(np.uint8)
    labels = np.ascontiguousarray(y.T).T if transposed else y  # the CSV reader hands a transposed view
    c = Counts([f"c{i}" for i in range(classes)]).track_cooccurrence()
    c.update(labels)
    want = _brute(y)
    assert c.pos.tolist() == want["pos"] and c.neg.tolist() == want["neg"]
    assert c.samples == want["samples"] and c.no_positive == want["no_positive"]
    assert c.cooccurrence.tolist() == want["cooc"]
    as_float = Counts(c.classes).track_cooccurrence()
    as_float.update(y.astype(np.float64))
    assert as_float == c


def test_cooccurrence_is_exact_beyond_float32_precision(monkeypatch):
    """float32 sums of 0/1 are exact only below 2**24: the product is taken in row slices."""
    from bceweights import counts as counts_module

    monkeypatch.setattr(counts_module, "_GRAM_ROWS", 4)
    y = np.ones((11, 2), dtype=np.uint8)
    c = Counts(["a", "b"]).track_cooccurrence()
    c.update(y)
    assert c.cooccurrence.tolist() == [[11, 11], [11, 11]]


def _write_csv(path, y: np.ndarray, cells=None) -> None:
    lines = ["id," + ",".join(f"k{j}" for j in range(y.shape[1]))]
    for i, row in enumerate(y):
        lines.append(f"{i}," + ",".join(cells(i, j, v) if cells else str(int(v)) for j, v in enumerate(row)))
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("block", [1 << 9, 1 << 12, 1 << 22])
def test_wide_chunks_count_like_numpy(tmp_path, monkeypatch, block):
    rng = np.random.default_rng(block)
    y = (rng.random((3000, 5)) < [0.5, 0.1, 0.01, 0.9, 0.0]).astype(np.uint8)
    _write_csv(tmp_path / "l.csv", y)
    monkeypatch.setattr(tables, "BLOCK_SIZE", block)
    c = count(tmp_path / "l.csv")
    want = _brute(y)
    assert c.classes == [f"k{j}" for j in range(5)]
    assert c.pos.tolist() == want["pos"] and c.neg.tolist() == want["neg"]
    assert c.samples == 3000 and c.no_positive == want["no_positive"]
    assert c.cooccurrence.tolist() == want["cooc"]


def test_soft_labels_after_clean_chunks_fall_back_to_float(tmp_path, monkeypatch):
    """int8 parsing fails on the chunk holding 0.25; that chunk and the rest are read as float64."""
    y = np.zeros((2000, 2))
    y[::3, 0] = 1
    y[1500, 1] = 0.25
    y[1900, 1] = 1
    _write_csv(tmp_path / "l.csv", y, cells=lambda i, j, v: "0.25" if v == 0.25 else str(int(v)))
    monkeypatch.setattr(tables, "BLOCK_SIZE", 1 << 10)
    c = count(tmp_path / "l.csv", columns=("k0", "k1"))
    assert c.pos.tolist() == [667.0, 1.25]
    assert c.neg.tolist() == [1333.0, 1998.75]
    assert c.soft.tolist() == [0.0, 1.0]


def test_blanks_and_uncertain_in_a_later_chunk_keep_the_policy(tmp_path, monkeypatch):
    y = np.zeros((1500, 2), dtype=int)
    y[::2, 0] = 1
    cells = {(1200, 0): "", (1300, 1): "-1", (1400, 1): "1"}
    _write_csv(tmp_path / "l.csv", y, cells=lambda i, j, v: cells.get((i, j), str(v)))
    monkeypatch.setattr(tables, "BLOCK_SIZE", 1 << 10)
    c = count(tmp_path / "l.csv", columns=("k0", "k1"))
    # row 1200 (even: a 1) is blank → a negative by default; -1 is ignored by default
    assert c.pos.tolist() == [749.0, 1.0]
    assert c.neg.tolist() == [751.0, 1498.0]
    assert c.missing.tolist() == [1.0, 0.0] and c.uncertain.tolist() == [0.0, 1.0]
    assert c.ignored.tolist() == [0.0, 1.0]


def test_bad_value_in_a_later_chunk_names_its_row(tmp_path, monkeypatch):
    y = np.zeros((1500, 2), dtype=int)
    _write_csv(tmp_path / "l.csv", y, cells=lambda i, j, v: "2" if (i, j) == (1234, 1) else str(v))
    monkeypatch.setattr(tables, "BLOCK_SIZE", 1 << 10)
    with pytest.raises(Exception, match=r"column 'k1', row 1236: value 2 is not a label"):
        count(tmp_path / "l.csv", columns=("k0", "k1"))


@pytest.mark.parametrize("ending", ["\r\n", "\n"])
def test_crlf_no_trailing_newline_and_quoted_header(tmp_path, monkeypatch, ending):
    text = ending.join(['"first label",b', *(["1,0", "0,1", "1,1"] * 400)])  # no final line end
    (tmp_path / "l.csv").write_bytes(text.encode())
    monkeypatch.setattr(tables, "BLOCK_SIZE", 1 << 9)
    c = count(tmp_path / "l.csv")
    assert c.classes == ["first label", "b"]
    assert c.pos.tolist() == [800.0, 800.0] and c.samples == 1200


def test_label_lists_across_chunks(tmp_path, monkeypatch):
    rows = ["a|b", "", "b", "c|a|c", "b|b"] * 300
    (tmp_path / "l.csv").write_text("id,tags\n" + "\n".join(f"{i},{r}" for i, r in enumerate(rows)) + "\n")
    monkeypatch.setattr(tables, "BLOCK_SIZE", 1 << 9)
    c = count(tmp_path / "l.csv", list_column="tags")
    assert c.classes == ["a", "b", "c"]
    assert c.pos.tolist() == [600.0, 900.0, 300.0]  # "c|a|c" and "b|b" count once per row
    assert c.no_positive == 300
    assert c.cooccurrence.tolist() == [[600, 300, 300], [300, 900, 0], [300, 0, 300]]


@pytest.mark.parametrize("array", [
    pa.array([1, None, 0, -1, 1], pa.int8()).slice(1),
    pa.array([0.5, None, 1.0], pa.float64()),
    pa.array(range(20), pa.uint16()).slice(7, 5),
    pa.array([None] * 9 + [1, 0], pa.int64()).slice(8),
    pa.array([], pa.int8()),
])
def test_numbers_reads_arrow_buffers_like_to_numpy(array):
    got = layout.numbers(array)
    assert np.array_equal(got, array.to_numpy(zero_copy_only=False), equal_nan=True)


def test_counting_tables_does_not_import_pandas_or_torch(tmp_path):
    """pyarrow's to_numpy and Python scalars import pandas (0.4 s, 50 MB a process)."""
    _write_csv(tmp_path / "w.csv", np.eye(3, dtype=int))
    (tmp_path / "l.csv").write_text("id,tags\n1,a|b\n2,\n3,b\n")
    code = (f"import sys; from bceweights.api import count; count({str(tmp_path / 'w.csv')!r}); "
            f"count({str(tmp_path / 'l.csv')!r}, list_column='tags'); "
            "print(sorted(m for m in ('pandas', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_line_longer_than_arrows_block_is_read(tmp_path):
    """Arrow parses a chunk in 1 MB blocks and refuses a line that straddles two of them; a chunk
    holding such a line (a 3 MB id here) is parsed again as one block."""
    y = np.zeros((4000, 2), dtype=np.uint8)
    y[::2, 0] = 1
    y[::5, 1] = 1
    lines = ["id,a,b"] + [f"{'x' * 3_000_000 if i == 2500 else i},{a},{b}" for i, (a, b) in enumerate(y)]
    (tmp_path / "long.csv").write_text("\n".join(lines) + "\n")
    c = count(tmp_path / "long.csv", columns=("a", "b"))
    assert c.samples == 4000
    assert c.pos.tolist() == [2000.0, 800.0] and c.neg.tolist() == [2000.0, 3200.0]
    assert c.cooccurrence.tolist() == [[2000, 400], [400, 800]]


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 40), st.integers(0, 3000), st.floats(0.0, 1.0), st.integers(0, 2**31))
def test_cooccurrence_by_codes_and_by_product_equals_brute_force(classes, rows, density, seed):
    """Up to 16 classes the pairs come from a histogram of row codes, above from a float32 product
    (the full one, or the rows with two or more labels); several updates change the class order."""
    rng = np.random.default_rng(seed)
    y = (rng.random((rows, classes)) < density * rng.random(classes)).astype(np.uint8)
    c = Counts([f"c{i}" for i in range(classes)]).track_cooccurrence()
    for part in np.array_split(y, 3):
        c.update(part)
    want = _brute(y)
    assert c.pos.tolist() == want["pos"] and c.neg.tolist() == want["neg"]
    assert c.samples == want["samples"] and c.no_positive == want["no_positive"]
    assert c.cooccurrence.tolist() == want["cooc"]


@pytest.mark.parametrize("cooccurrence", [True, False])
def test_npy_halves_in_two_threads_count_like_one(tmp_path, monkeypatch, cooccurrence):
    from bceweights.readers import arrays

    rng = np.random.default_rng(3)
    y = (rng.random((5000, 20)) < np.geomspace(0.6, 0.001, 20)).astype(np.uint8)
    np.save(tmp_path / "y.npy", y)
    monkeypatch.setattr(arrays, "SPLIT_ROWS", 100)
    monkeypatch.setattr(arrays, "CHUNK_ELEMENTS", 20 * 1000)
    two = count(tmp_path / "y.npy", workers=2, cooccurrence=cooccurrence)
    one = count(tmp_path / "y.npy", workers=1, cooccurrence=cooccurrence)
    want = _brute(y)
    for c in (one, two):
        assert c.pos.tolist() == want["pos"] and c.neg.tolist() == want["neg"]
        assert c.samples == 5000 and c.no_positive == want["no_positive"]
        assert (c.cooccurrence.tolist() == want["cooc"]) if cooccurrence else c.cooccurrence is None


@pytest.mark.parametrize("mode", ["L", "P"])
def test_png_histogram_from_pillow_equals_bincount(tmp_path, mode):
    """8-bit grayscale and palette PNGs are histogrammed by Pillow where they decode (palette indices,
    never colours); the counts equal ``np.bincount`` of the decoded array."""
    from PIL import Image

    from bceweights.readers import maskfiles, masks
    from bceweights.spec import InputSpec

    rng = np.random.default_rng(5)
    arr = rng.choice(np.array([0, 1, 2, 7, 255], dtype=np.uint8), size=(37, 53), p=[0.6, 0.2, 0.1, 0.05, 0.05])
    im = Image.fromarray(arr, mode="L")
    if mode == "P":
        im = im.convert("P")
        im.putpalette([v for i in range(256) for v in ((255 - i) % 256, i, (3 * i) % 256)])
        arr = np.asarray(im)
    im.save(tmp_path / "m.png")
    assert Image.open(tmp_path / "m.png").mode == mode
    fast = maskfiles.file_histogram(tmp_path / "m.png", "png")
    assert fast is not None
    hist, pixels = fast.hist, fast.pixels
    assert pixels == arr.size and hist.tolist() == np.bincount(arr.ravel(), minlength=256).tolist()
    scan = masks.scan_files([tmp_path / "m.png"], InputSpec(mask_mode="index", ignore_index=(255,)))
    assert scan.hist.tolist() == hist.tolist() and scan.pixels == arr.size
    assert scan.ndims == {2: str(tmp_path / "m.png")}


def test_masks_in_groups_name_the_first_bad_file_and_count_like_one_process(tmp_path, monkeypatch):
    from PIL import Image

    from bceweights import api, maskmath, readers
    from bceweights.errors import InputError
    from bceweights.readers import masks
    from bceweights.readers.base import PlanHints
    from bceweights.spec import InputSpec

    rng = np.random.default_rng(9)
    arrays = [rng.integers(0, 4, size=(16, 16), dtype=np.uint8) for _ in range(23)]
    for i, a in enumerate(arrays):
        Image.fromarray(a, mode="L").save(tmp_path / f"m{i:02d}.png")
    paths = sorted(tmp_path.glob("*.png"))
    monkeypatch.setattr(masks, "GROUP_FILES", 4)
    spec = InputSpec(mask_mode="index", workers=1)
    reader = readers.get("png")
    seen = []
    one = maskmath.MaskScan()
    for part in reader.plan(paths, spec, PlanHints(workers=1)).partitions:
        one.merge(reader.count(part, spec, lambda n, **kw: seen.append(n)))
    two = api.count(paths, mask_mode="index", workers=2)
    want = np.bincount(np.concatenate([a.ravel() for a in arrays]), minlength=256)
    assert one.hist.tolist() == want.tolist() and two.pos.tolist() == want[:4].tolist()
    assert one.files == two.samples == 23 and sum(seen) == 23 and max(seen) <= 4
    arrays[9][0, 0] = 9
    arrays[17][0, 0] = 9
    for i in (9, 17):
        Image.fromarray(arrays[i], mode="L").save(tmp_path / f"m{i:02d}.png")
    with pytest.raises(InputError, match="m09.png: value 9 is not a class id below --num-classes 4"):
        api.count(paths, mask_mode="index", num_classes=4, workers=2)


@pytest.mark.parametrize("ignore", [(), (255,), (0, 3)])
def test_png_group_scan_equals_file_by_file(tmp_path, ignore):
    """The stacked-histogram path of a partition gives the same scan as decoding each mask and
    histogramming its array: background-only, void-only, all-ignored and mixed masks, 8-bit PNGs next
    to a 16-bit one."""
    from PIL import Image

    from bceweights import maskmath
    from bceweights.readers import masks
    from bceweights.spec import InputSpec

    rng = np.random.default_rng(11)
    fills = [0, 255, 3, None, None, 0, None]
    for i, fill in enumerate(fills):
        a = np.full((8, 9), fill, np.uint8) if fill is not None else rng.choice(
            np.array([0, 1, 3, 255], np.uint8), size=(8, 9))
        Image.fromarray(a, mode="L").save(tmp_path / f"m{i}.png")
    Image.fromarray(np.full((8, 9), 2, np.uint16)).save(tmp_path / "m9.png")  # 16-bit: not Pillow's histogram
    paths = sorted(tmp_path.glob("*.png"))
    spec = InputSpec(mask_mode="auto", ignore_index=ignore)
    group = masks.scan_files(paths, spec)
    one = maskmath.MaskScan()
    for path in paths:
        one.merge(masks.scan_file(path, "png", masks.rules_of(spec)))
    assert group.files == len(paths)
    for name in ("files", "pixels", "void_other", "fg_files", "fg_pixels", "empty_files", "only_void_files",
                 "ndims"):
        assert getattr(group, name) == getattr(one, name), name
    for name in ("hist", "images", "image_pixels", "void_images"):
        assert getattr(group, name).tolist() == getattr(one, name).tolist(), name
