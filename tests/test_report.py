"""The class-imbalance report: JSON figures against brute-force counts, the terminal rendering, the
Markdown / CSV / co-occurrence files, the plot, and ``bceweights report WEIGHTS.pt``."""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import re
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from bceweights import report
from bceweights.api import Result
from bceweights.cli.render import render_report
from bceweights.counts import Counts
from bceweights.weights import WeightOptions, compute_weights

ANSI_COLOR = re.compile(r"\x1b\[[0-9;]*3[0-7]m|\x1b\[[0-9;]*38;")

#: 12 rows, 4 classes: A frequent, B middling, Rare_Class once, Empty never; a missing and a -1.
TABLE = """id,A,B,Rare_Class,Empty
1,1,0,0,0
2,1,1,0,0
3,1,1,1,0
4,0,0,0,0
5,1,0,0,0
6,1,1,0,0
7,0,,0,0
8,1,0,0,0
9,0,0,0,0
10,1,-1,0,0
11,1,1,0,0
12,0,0,0,0
"""


@pytest.fixture
def table(tmp_path: Path) -> Path:
    path = tmp_path / "labels.csv"
    path.write_text(TABLE)
    return path


def _brute(path: Path) -> dict[str, dict[str, float]]:
    """Positives / negatives per class by hand: 1 positive, 0 and blank negative, -1 neither."""
    rows = list(csv.DictReader(path.open()))
    out = {}
    for name in ("A", "B", "Rare_Class", "Empty"):
        values = [r[name] for r in rows]
        out[name] = {"pos": sum(v == "1" for v in values), "neg": sum(v in ("0", "") for v in values)}
    return out


def _result(classes, pos, neg, *, samples, cooc=None, **extra) -> Result:
    counts = Counts(list(classes), cooccurrence=cooc, **extra)
    counts.add(pos=pos, neg=neg, samples=samples)
    return Result(counts, compute_weights(counts), {"inputs": ["data/labels.csv"], "kind": "table"})


def _render(doc, *, width: int = 80, terminal: bool = False, **kwargs) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=terminal, highlight=False,
                      color_system="standard" if terminal else None)
    render_report(doc, console, **kwargs)
    return buf.getvalue()


def _header(text: str) -> str:
    return next(x for x in text.splitlines() if re.match(r"class\s+positives", x))


# ---------------------------------------------------------------------------------------------------
# JSON: every figure equals the counts


def test_json_figures_equal_brute_force_counts(cli, table, tmp_path):
    out = tmp_path / "w.pt"
    res = cli("compute", table, "-o", out, "--json", "-")
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    brute = _brute(table)
    rows = {r["class"]: r for r in doc["classes"]}
    assert list(rows) == ["A", "B", "Rare_Class", "Empty"]
    for name, c in brute.items():
        row = rows[name]
        assert (row["positives"], row["negatives"]) == (c["pos"], c["neg"])
        assert row["prevalence"] == pytest.approx(c["pos"] / (c["pos"] + c["neg"]))
        expected_pw = c["neg"] / c["pos"] if c["pos"] else 1.0
        assert row["pos_weight"] == pytest.approx(expected_pw, rel=1e-6)
    # inverse frequency n / (C * P); the absent class gets the largest other weight
    assert rows["Rare_Class"]["class_weight"] == pytest.approx(12 / (4 * 1))
    assert rows["Empty"]["class_weight"] == pytest.approx(rows["Rare_Class"]["class_weight"])
    assert rows["B"]["uncertain"] == 1 and rows["B"]["ignored"] == 1 and rows["B"]["missing"] == 1
    assert rows["Empty"]["flags"] == ["absent"] and rows["Rare_Class"]["flags"] == ["rare"]

    s = doc["summary"]
    total_pos = sum(c["pos"] for c in brute.values())
    assert s["samples"] == 12 and s["classes"] == 4 and s["unit"] == "sample"
    assert s["label_cardinality"] == pytest.approx(total_pos / 12)
    assert s["label_density"] == pytest.approx(total_pos / 48)
    assert s["no_positive_samples"] == 4  # rows 4, 7, 9, 12 (row 10's -1 is not a positive)
    assert s["imbalance_ratio"] == pytest.approx(8 / 1)
    assert s["rarest_class"] == {"class": "Rare_Class", "positives": 1, "negatives": 11,
                                 "prevalence": pytest.approx(1 / 12), "pos_weight": pytest.approx(11.0),
                                 "class_weight": pytest.approx(3.0)}
    assert s["most_frequent_class"]["class"] == "A"
    assert s["absent_classes"] == ["Empty"]
    assert s["flag_counts"] == {"absent": 1, "rare": 3, "no-negatives": 0, "extreme-weight": 0}  # < 10 positives
    assert s["dataset"] == "labels.csv" and s["inputs"] == [str(table)]
    assert s["options"]["policy"]["uncertain"] == "ignore"
    assert s["output"] == str(out)
    # pairs counted by hand: A+B in rows 2, 3, 6, 11; A+Rare and B+Rare in row 3
    assert doc["top_pairs"] == [{"a": "A", "b": "B", "count": 4}, {"a": "A", "b": "Rare_Class", "count": 1},
                                {"a": "B", "b": "Rare_Class", "count": 1}]
    assert doc["warnings"] and "Empty" in doc["warnings"][0]


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 6).flatmap(
    lambda n: st.lists(st.lists(st.integers(0, 1), min_size=n, max_size=n), min_size=1, max_size=30)))
def test_top_pairs_match_brute_force(rows):
    y = np.array(rows, dtype=np.float64)
    names = [f"c{i}" for i in range(y.shape[1])]
    pairs = report.top_pairs(names, y.T @ y, k=100)
    expected = []
    for i, j in itertools.combinations(range(len(names)), 2):
        n = int(sum(r[i] * r[j] for r in rows))
        if n:
            expected.append((-n, i, j))
    expected.sort()
    assert [(p["a"], p["b"], p["count"]) for p in pairs] == [(names[i], names[j], -n) for n, i, j in expected]


# ---------------------------------------------------------------------------------------------------
# The .pt round trip: `report` prints what `compute` printed


@pytest.mark.parametrize("extra", [[], ["--sort", "weight", "--top", "2"]])
def test_report_from_pt_equals_compute(cli, table, tmp_path, extra):
    out = tmp_path / "w.pt"
    first = cli("compute", table, "-o", out, "--missing", "ignore", "--normalize", "mean",
                "--json", tmp_path / "a.json", "--markdown", tmp_path / "a.md", "--csv", tmp_path / "a.csv",
                *extra)
    assert first.exit_code == 0, first.stderr
    again = cli("report", out, "--json", tmp_path / "b.json", "--markdown", tmp_path / "b.md",
                "--csv", tmp_path / "b.csv", *extra)
    assert again.exit_code == 0, again.stderr
    # compute prints the report, then (possibly) its loss checks: the report part is identical
    assert again.stdout.strip() and first.stdout.startswith(again.stdout)
    assert "weights: " in again.stdout and "checks" not in again.stdout
    assert "Rare_Class" in first.stdout and "--normalize mean" in first.stdout
    for suffix in ("md", "csv"):
        assert (tmp_path / f"a.{suffix}").read_text() == (tmp_path / f"b.{suffix}").read_text()
    # compute's JSON may add the loss checks it ran ("validation"); every report figure is the same
    first_doc = json.loads((tmp_path / "a.json").read_text())
    first_doc.pop("validation", None)
    assert first_doc == json.loads((tmp_path / "b.json").read_text())


def test_report_of_a_missing_file_is_one_line(cli, tmp_path):
    res = cli("report", tmp_path / "nope.pt")
    assert res.exit_code == 2 and res.stderr.startswith("Error: ") and res.stderr.count("\n") == 1


# ---------------------------------------------------------------------------------------------------
# Terminal rendering


def test_render_names_the_rarest_class_weight_and_count(table, cli, tmp_path):
    res = cli("compute", table, "-o", tmp_path / "w.pt")
    line = next(x for x in res.stdout.splitlines() if x.startswith("rarest class:"))
    assert line == ("rarest class: Rare_Class (1 positive of 12 samples, 8.33%): pos_weight 11, "
                    "class weight 3")
    assert "no positives: Empty" in res.stdout
    assert "A + B: 4" in res.stdout
    # ignored / uncertain / missing appear because B has one of each
    header = _header(res.stdout)
    assert header.split() == ["class", "positives", "negatives", "prevalence", "pos_weight", "class_weight",
                              "ignored", "uncertain", "missing", "flags"]


def test_render_hides_all_zero_columns():
    doc = report.build_report(_result(["a", "b"], [3, 1], [7, 9], samples=10))
    text = _render(doc)
    header = _header(text)
    assert "ignored" not in header and "uncertain" not in header and "missing" not in header


def test_render_one_class():
    doc = report.build_report(_result(["only"], [5], [15], samples=20))
    text = _render(doc)
    assert "classes: 1" in text
    assert re.search(r"^only\s+5\s+15\s+25\.00%", text, re.M)
    # one class: no ratio of a class to itself, and the class is not called "rarest"
    assert "imbalance ratio" not in text and "rarest" not in text
    assert "class: only (5 positives of 20 samples, 25.00%): pos_weight 3, class weight 4" in text
    assert "label pairs" not in text


def test_render_1000_classes_with_top():
    rng = np.random.default_rng(1)
    pos = rng.integers(1, 5000, 1000).astype(float)
    pos[417] = 0
    pos[123] = 0.5 * pos.min() if pos.min() > 1 else 1
    names = [f"label_{i:04d}" for i in range(1000)]
    doc = report.build_report(_result(names, pos, 10_000 - pos, samples=10_000))
    text = _render(doc, top=10)
    table_rows = [x for x in text.splitlines() if x.startswith("label_")]
    by_count = sorted(range(1000), key=lambda i: -pos[i])[:10]
    assert [r.split()[0] for r in table_rows] == [names[i] for i in by_count]
    assert "990 more classes not shown (--top, by most positives)" in text
    rarest = int(np.argmin(np.where(pos > 0, pos, np.inf)))
    assert f"rarest class: {names[rarest]} (" in text
    assert "no positives: label_0417" in text
    # --sort weight --top shows the rarest first
    text = _render(doc, sort="weight", top=3)
    assert [x.split()[0] for x in text.splitlines() if x.startswith("label_")][0] == names[rarest]


def test_sort_orders():
    doc = report.build_report(_result(["b", "C", "a"], [5, 1, 9], [5, 9, 1], samples=10))
    assert [r["class"] for r in report.sorted_rows(doc, "name")] == ["a", "b", "C"]
    assert [r["class"] for r in report.sorted_rows(doc, "count")] == ["a", "b", "C"]
    assert [r["class"] for r in report.sorted_rows(doc, "weight")] == ["C", "b", "a"]
    assert [r["class"] for r in report.sorted_rows(doc)] == ["b", "C", "a"]
    rows, hidden = report.select_rows(doc, top=2)
    assert [r["class"] for r in rows] == ["a", "b"] and hidden == 1


def test_long_names_are_not_cut_when_not_a_terminal(cli, tmp_path):
    long = "Enlarged_Cardiomediastinum_with_a_very_long_descriptive_suffix_x"
    path = tmp_path / "long.csv"
    path.write_text(f"id,{long},B\n1,1,0\n2,0,1\n3,0,1\n")
    res = cli("compute", path, "-o", tmp_path / "w.pt")
    assert res.exit_code == 0, res.stderr
    assert re.search(rf"^{long}\s+1\s+2\s+33\.33%", res.stdout, re.M)
    assert "…" not in res.stdout
    assert "\x1b[" not in res.stdout  # plain text when not a terminal


def test_no_color_is_honoured(cli, table, tmp_path):
    res = cli("compute", table, "-o", tmp_path / "w.pt", env={"FORCE_COLOR": "1", "NO_COLOR": None})
    assert ANSI_COLOR.search(res.stdout), "flags are coloured in a terminal"
    res = cli("report", tmp_path / "w.pt", env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert res.exit_code == 0
    assert not ANSI_COLOR.search(res.stdout)
    assert "absent" in res.stdout


def test_narrow_terminal_drops_the_bar_not_the_numbers():
    doc = report.build_report(_result(["alpha", "beta"], [3, 1], [7, 9], samples=10))
    wide = _render(doc, width=160, terminal=True)
    narrow = _render(doc, width=60, terminal=True)
    assert "█" in wide and "█" not in narrow
    assert "pos_weight" in narrow or "pos_wei" in narrow


def test_mask_summary_shows_images_and_pixels():
    counts = Counts(["background", "kidney", "tumor"], spatial_ndim=2)
    counts.add(pos=[9000, 900, 100], neg=[1000, 9100, 9900], samples=4, pixels=10_000,
               image_count=[4, 3, 1])
    meta = {"inputs": ["masks/a.png"], "options": {"policy": {"uncertain": "ignore", "missing": "negative"}}}
    doc = report.build_report(Result(counts, compute_weights(counts), meta))
    s = doc["summary"]
    assert (s["images"], s["pixels"], s["unit"], s["label_cardinality"]) == (4, 10_000, "pixel", None)
    assert [r["images"] for r in doc["classes"]] == [4, 3, 1]
    text = _render(doc, width=120)
    assert "images: 4" in text and "pixels: 10,000" in text
    assert "rarest class: tumor (100 pixels of 10,000 pixels, 1.00%)" in text
    assert "samples with no positive" not in text
    assert "label values" not in text  # -1 and blanks are table matters: masks hold class ids


# ---------------------------------------------------------------------------------------------------
# Files


def test_markdown_and_csv_contents(tmp_path):
    doc = report.build_report(_result(["a|b", "c"], [2, 0], [8, 10], samples=10))
    md = report.to_markdown(doc)
    assert md.startswith("## Class balance: labels.csv\n")
    assert "- **rarest class:** a\\|b (2 positives of 10 samples, 20.00%): pos_weight 4" in md
    lines = md.splitlines()
    header = lines.index("| class | positives | negatives | prevalence | pos_weight | class_weight | flags |")
    assert lines[header + 1] == "|:--|--:|--:|--:|--:|--:|:--|"
    assert lines[header + 2] == "| a\\|b | 2 | 8 | 20.00% | 4 | 2.5 | rare |"
    assert lines[header + 3] == "| c | 0 | 10 | 0.00% | 1 | 2.5 | absent |"
    assert "> **Warning:** no positive example for c" in md

    rows = list(csv.DictReader(io.StringIO(report.to_csv(doc))))
    assert list(rows[0]) == list(report.CSV_FIELDS)
    assert [r["class"] for r in rows] == ["a|b", "c"]
    assert float(rows[0]["pos_weight"]) == doc["classes"][0]["pos_weight"]
    assert (rows[0]["positives"], rows[0]["negatives"], rows[1]["flags"]) == ("2", "8", "absent")
    assert float(rows[0]["prevalence"]) == 0.2 and rows[0]["images"] == ""


def test_markdown_top_says_how_many_are_hidden():
    doc = report.build_report(_result(list("abcde"), [5, 4, 3, 2, 1], [5, 6, 7, 8, 9], samples=10))
    md = report.to_markdown(doc, sort="weight", top=2)
    assert "| e | 1 |" in md and "| d | 2 |" in md and "| a | 5 |" not in md
    assert "3 more classes not shown" in md


def test_cooccurrence_csv_is_the_full_matrix(cli, table, tmp_path):
    res = cli("compute", table, "-o", tmp_path / "w.pt", "--cooccurrence", tmp_path / "co.csv", "-q")
    assert res.exit_code == 0, res.stderr
    rows = list(csv.reader((tmp_path / "co.csv").open()))
    assert rows[0] == ["class", "A", "B", "Rare_Class", "Empty"]
    matrix = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    y = np.array([[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 0, 0], [1, 0, 0, 0], [1, 1, 0, 0],
                  [0, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(matrix, y.T @ y)
    assert [r[0] for r in rows[1:]] == ["A", "B", "Rare_Class", "Empty"]
    # the same matrix from the saved .pt, without the labels
    again = cli("report", tmp_path / "w.pt", "--cooccurrence", tmp_path / "co2.csv", "-q")
    assert again.exit_code == 0
    assert (tmp_path / "co2.csv").read_text() == (tmp_path / "co.csv").read_text()


def test_cooccurrence_without_a_matrix_is_an_error(cli, tmp_path):
    res_obj = _result(["a", "b"], [1, 2], [3, 2], samples=4)
    res_obj.save(tmp_path / "w.pt")
    res = cli("report", tmp_path / "w.pt", "--cooccurrence", tmp_path / "co.csv")
    assert res.exit_code == 1
    assert res.stderr.startswith("Error: no co-occurrence counts")
    assert not (tmp_path / "co.csv").exists()


def test_bad_plot_extension_fails_before_reading(cli, table, tmp_path):
    res = cli("compute", table, "-o", tmp_path / "w.pt", "--plot", tmp_path / "p.gif")
    assert res.exit_code == 1 and "--plot writes .png, .svg or .pdf" in res.stderr
    assert not (tmp_path / "w.pt").exists()


def test_plot_needs_matplotlib(monkeypatch, tmp_path):
    import sys

    from bceweights.errors import MissingDependency
    from bceweights.plot import check_plot_path

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingDependency, match=r'bceweights\[plot\]'):
        check_plot_path(tmp_path / "p.png")


# ---------------------------------------------------------------------------------------------------
# Plot


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_plot_png_for_5_classes_via_cli(cli, sample_data, tmp_path):
    png = tmp_path / "balance.png"
    res = cli("compute", sample_data / "chest_xray_labels.csv", "--where", "split=train",
              "-o", tmp_path / "w.pt", "--plot", png, "-q")
    assert res.exit_code == 0, res.stderr
    width, height = _png_size(png)
    assert 1200 <= width <= 2600 and 600 <= height <= 1400
    assert 20_000 < png.stat().st_size < 2_000_000
    from PIL import Image

    with Image.open(png) as im:
        im.verify()


def test_plot_100_classes_bars_png_and_svg(tmp_path):
    pytest.importorskip("matplotlib")
    from bceweights.plot import layout, save_plot

    rng = np.random.default_rng(0)
    pos = np.floor(10 ** rng.uniform(0, 4, 100))
    pos[7] = 0
    doc = report.build_report(_result([f"class_{i}" for i in range(100)], pos, 20_000 - pos, samples=20_000))
    save_plot(doc, tmp_path / "p.png")
    width, height = _png_size(tmp_path / "p.png")
    assert 1400 <= width <= 2600 and 800 <= height <= 1600
    svg = (tmp_path / "p.svg")
    save_plot(doc, svg)
    text = svg.read_text()
    assert "<svg" in text[:1000] and text.rstrip().endswith("</svg>")
    geo = layout(100, 9)
    # names are thinned so that they never overlap: step x line height fits the bar spacing
    assert geo["rotation"] == 90 and geo["step"] >= 2


def _figure(doc, **kwargs):
    pytest.importorskip("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from bceweights.plot import figure

    fig = figure(doc, **kwargs)
    FigureCanvasAgg(fig).draw()  # lays the text out, so that its extents are real
    return fig


def test_plot_bars_and_weights_in_two_panels_labels_never_meet_markers():
    pos = np.array([13_900, 9_260, 8_000, 4_380, 978, 144, 12, 0], dtype=float)
    doc = report.build_report(_result([f"finding {i}" for i in range(8)], pos, 78_468 - pos, samples=78_468))
    fig = _figure(doc, title="ChestX-ray14 train")
    bars_ax, weights_ax = fig.axes
    assert fig._suptitle.get_text() == "ChestX-ray14 train"
    # bars: the positives, most frequent first (the absent class a gap, marked on the floor)
    heights = [r.get_height() for r in bars_ax.patches]
    assert heights[:7] == sorted(pos[pos > 0], reverse=True) and math.isnan(heights[7])
    assert bars_ax.get_yscale() == "log" and weights_ax.get_yscale() == "log"
    line = weights_ax.lines[0]
    expected = sorted(doc["classes"], key=lambda r: -r["positives"])
    np.testing.assert_allclose(line.get_ydata()[:7], [r["pos_weight"] for r in expected[:7]])
    # every value label and every pos_weight marker, in display pixels: no label box holds a marker
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for ax in fig.axes for t in ax.texts]
    assert len(boxes) >= 14
    markers = weights_ax.transData.transform(np.column_stack([line.get_xdata(), line.get_ydata()]))
    for box in boxes:
        for x, y in markers[np.isfinite(markers).all(axis=1)]:
            assert not box.contains(x, y)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b)
    # the same tick labels on both log axes: 1, 10, 100, 1k ...
    labels = {t.get_text() for ax in fig.axes for t in ax.get_yticklabels() if t.get_text()}
    assert labels and all(re.fullmatch(r"[\d.]+[kM]?", t) for t in labels)


def test_plot_one_binary_mask_class_is_foreground_against_background():
    counts = Counts(["foreground"], spatial_ndim=2)
    counts.add(pos=[6_137_070], neg=[1_727_250], samples=30, pixels=7_864_320, image_count=[30])
    doc = report.build_report(Result(counts, compute_weights(counts), {"inputs": ["label/0.png", "label/1.png"]}))
    fig = _figure(doc)
    (ax,) = fig.axes
    assert [r.get_height() for r in ax.patches] == [6_137_070, 1_727_250]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["foreground", "background"]
    assert ax.get_ylabel() == "pixels"
    assert "pos_weight = background / foreground = 0.281" in ax.get_title()
    assert fig._suptitle.get_text() == "label (2 files): 1 class, 30 images, 7.86M pixels"


def test_plot_of_volumes_says_voxels_and_volumes():
    counts = Counts(["background", "kidney", "tumor"], spatial_ndim=3)
    pos = np.array([823_449_817, 5_427_625, 546_174], dtype=float)
    counts.add(pos=pos, neg=829_423_616 - pos, samples=10, pixels=829_423_616, image_count=[10, 10, 10])
    doc = report.build_report(Result(counts, compute_weights(counts), {"inputs": ["a/s.nii.gz", "b/s.nii.gz"]}))
    fig = _figure(doc)
    assert fig.axes[0].get_ylabel() == "voxels per class (log)"
    assert "10 volumes, 829M voxels" in fig._suptitle.get_text()
    words = " ".join(t.get_text() for ax in fig.axes for t in [ax.title, ax.xaxis.label, ax.yaxis.label])
    assert "pixel" not in words and "image" not in words


def test_plot_many_classes_is_rank_frequency_on_log_log_axes():
    rng = np.random.default_rng(5)
    pos = np.floor(20_000 / np.arange(1, 2001) ** 1.1)
    pos[rng.choice(2000, 5, replace=False)] = 0
    names = [f"/m/{i:05x}" for i in range(2000)]
    doc = report.build_report(_result(names, pos, 1_000_000 - pos, samples=1_000_000))
    fig = _figure(doc)
    top, bottom = fig.axes
    assert (top.get_xscale(), top.get_yscale(), bottom.get_yscale()) == ("log", "log", "log")
    curve = top.lines[0]
    present = np.sort(pos[pos > 0])[::-1]
    np.testing.assert_array_equal(curve.get_xdata(), np.arange(1, len(present) + 1))
    np.testing.assert_array_equal(curve.get_ydata(), present)
    (box,) = top.texts
    assert "most frequent: /m/00000 (20k)" in box.get_text() and "5 classes with no positives" in box.get_text()
    # the box of names sits below the curve: no point of the curve inside it
    renderer = fig.canvas.get_renderer()
    extent = box.get_bbox_patch().get_window_extent(renderer)
    points = top.transData.transform(np.column_stack([curve.get_xdata(), curve.get_ydata()]))
    assert not any(extent.contains(x, y) for x, y in points)


def test_plot_title_from_the_cli(cli, table, tmp_path):
    pytest.importorskip("matplotlib")
    svg = tmp_path / "p.svg"
    res = cli("compute", table, "-o", tmp_path / "w.pt", "--plot", svg, "--title", "Train split, v2", "-q",
              "--markdown", tmp_path / "r.md")
    assert res.exit_code == 0, res.stderr
    assert "Train split, v2" in svg.read_text()
    assert (tmp_path / "r.md").read_text().startswith("## Train split, v2\n")


# ---------------------------------------------------------------------------------------------------
# The Python API: a result as a person reads it


def test_result_to_frame_matches_the_counts(sample_data):
    import pandas as pd

    from bceweights import compute

    path = sample_data / "chest_xray_labels.csv"
    result = compute(path, where=(("split", "train"),))
    frame = result.to_frame()
    raw = pd.read_csv(path)
    raw = raw[raw["split"] == "train"]
    assert list(frame.index) == result.classes and frame.index.name == "class"
    for name in result.classes:
        assert frame.loc[name, "positives"] == (raw[name] == 1).sum()
        assert frame.loc[name, "negatives"] == ((raw[name] == 0) | raw[name].isna()).sum()
    np.testing.assert_allclose(frame["pos_weight"], frame["negatives"] / frame["positives"], rtol=1e-6)
    assert frame.loc["Hernia", "flags"] == ["rare"]
    assert "images" not in frame.columns


def test_result_report_is_the_printed_text(sample_data):
    from bceweights import compute

    result = compute(sample_data / "chest_xray_labels.csv", where=(("split", "train"),))
    text = result.report(width=80)
    assert "rarest class: Hernia (1 positive of 691 samples, 0.14%): pos_weight 690, class" in text
    assert "\x1b[" not in text and max(len(line) for line in text.splitlines()) <= 80
    rarest_only = result.report(sort="weight", top=1)
    assert re.search(r"^Hernia\s+1\s+690\s", rarest_only, re.M) and not re.search(r"^Infiltration\s", rarest_only, re.M)
    assert "7 more classes not shown (--top, by largest pos_weight)" in rarest_only


def test_result_plot_to_a_file_an_axes_or_a_figure(tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    result = _result(["a", "b", "c"], [50, 5, 0], [50, 95, 100], samples=100)
    assert result.plot(tmp_path / "p.png") == tmp_path / "p.png"
    assert _png_size(tmp_path / "p.png")[0] > 500
    fig = Figure()
    ax = fig.add_subplot()
    assert result.plot(ax, title="mine") is ax
    assert [r.get_height() for r in ax.patches][:2] == [50, 5] and ax.get_title() == "mine"
    assert isinstance(result.plot(), Figure)


def test_reprs_are_one_short_line():
    from bceweights.validate import CheckResult, ValidationReport

    names = [f"label_{i}" for i in range(20_000)]
    counts = Counts(names)
    counts.track_cooccurrence()
    counts.update(np.eye(20_000, dtype=np.uint8)[:50])
    text = repr(counts)
    assert text == ("Counts(20,000 classes: label_0, label_1, label_2, ..., label_19998, label_19999; 50 samples; "
                    "positives 0 to 1; label pairs counted)")
    result = _result(["a", "b"], [1, 30], [99, 70], samples=100)
    assert repr(result) == ("Result('labels.csv': 100 samples, 2 classes, scheme inverse; rarest 'a' (1 positive, "
                            "pos_weight 99))")
    checks = ValidationReport([CheckResult("sanity", True, "ok", warnings=["w1", "w2"]),
                               CheckResult("numeric", False, "x" * 300)], target_shape=[4, 2])
    text = repr(checks)
    assert text.startswith("ValidationReport(failed numeric; passed sanity; 2 warnings; cpu, target [4, 2]; numeric: ")
    assert len(text) < 200 and "\n" not in text


# ---------------------------------------------------------------------------------------------------
# Saving, or not


def test_no_save_prints_the_report_and_writes_no_pt(cli, table, tmp_path):
    out = tmp_path / "w.pt"
    res = cli("compute", table, "-o", out, "--no-save", "--csv", tmp_path / "c.csv")
    assert res.exit_code == 0, res.stderr
    assert not out.exists() and (tmp_path / "c.csv").is_file()
    assert "rarest class: Rare_Class" in res.stdout
    assert f"not saved (--no-save): run again without --no-save to write {out}" in res.stdout
    assert "torch.load" not in res.stdout


def test_replacing_an_existing_pt_is_said(cli, table, tmp_path):
    out = tmp_path / "w.pt"
    first = cli("compute", table, "-o", out)
    assert first.exit_code == 0 and "replaced" not in first.stdout
    again = cli("compute", table, "-o", out)
    assert again.exit_code == 0
    assert f"weights: {out} (it replaced the file of that name that was there); use them with:" in again.stdout


def test_json_has_no_nan(tmp_path):
    doc = report.build_report(_result(["a", "b"], [0, 0], [5, 5], samples=5))
    text = report.to_json(doc)
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text)["summary"]["imbalance_ratio"] is None


# ---------------------------------------------------------------------------------------------------
# Real data


@pytest.mark.realdata
def test_chexpert_dev_report_flags_fracture(cli, shared_data, tmp_path):
    path = shared_data / "chexpert_jfhealthcare" / "dev.csv"
    res = cli("compute", path, "-o", tmp_path / "w.pt", "--json", tmp_path / "r.json",
              "--sort", "weight", "--top", "5")
    assert res.exit_code == 0, res.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    import pandas as pd

    frame = pd.read_csv(path)
    rows = {r["class"]: r for r in doc["classes"]}
    for name, row in rows.items():
        col = frame[name]
        assert row["positives"] == int((col == 1).sum())
        assert row["negatives"] == int(((col == 0) | col.isna()).sum())
    assert rows["Fracture"]["flags"] == ["absent"]
    assert "no positives: Fracture" in res.stdout
    assert f"{len(rows) - 5} more classes not shown" in res.stdout


def test_weight_options_round_trip(tmp_path):
    counts = Counts(["a", "b"])
    counts.add(pos=[2, 8], neg=[8, 2], samples=10)
    options = WeightOptions(smoothing=1.0)
    result = Result(counts, compute_weights(counts, options), {"inputs": ["x.csv"]})
    result.save(tmp_path / "w.pt")
    from bceweights import io as bio
    from bceweights.api import result_from_payload

    back = result_from_payload(bio.load(tmp_path / "w.pt"))
    assert report.build_report(back) == report.build_report(result)
    assert "weight options: --scheme inverse --normalize none --zero-positives warn --smoothing 1\n" in \
        _render(report.build_report(back), width=200)


def test_legend_explains_only_the_count_columns_shown():
    counts = Counts(["background", "object"], spatial_ndim=2)
    counts.add(pos=[80, 10], neg=[10, 70], ignored=[10, 20], samples=1, pixels=100, image_count=[1, 1])
    text = _render(report.build_report(Result(counts, compute_weights(counts), {"inputs": ["m.png"]})), width=160)
    assert "ignored: counted as neither positive nor negative" in text
    assert "uncertain:" not in text and "missing:" not in text


def test_a_count_the_same_on_every_row_is_said_once():
    """Void pixels are ignored for every class alike: one summary line, not a column of equal numbers."""
    counts = Counts(["background", "object"], spatial_ndim=2)
    counts.add(pos=[80, 10], neg=[10, 80], ignored=[10, 10], samples=1, pixels=100, image_count=[1, 1])
    doc = report.build_report(Result(counts, compute_weights(counts), {"inputs": ["m.png"]}))
    text = _render(doc, width=160)
    assert "ignored on every class: 10 pixels" in text
    assert "ignored" not in _header(text).split()
    assert report.optional_columns(doc) == ["images"] and report.constant_columns(doc) == {"ignored": 10}


def test_the_readme_picture_script_records_the_report(tmp_path):
    """docs/make_pictures.py, which regenerates the README's picture of the report, still runs."""
    import importlib.util

    script = Path(__file__).parents[1] / "docs" / "make_pictures.py"
    spec = importlib.util.spec_from_file_location("make_pictures", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.report_svg(tmp_path / "r.svg")
    svg = (tmp_path / "r.svg").read_text()
    assert svg.lstrip().startswith("<svg") and "rarest&#160;class:" in svg and "PASS" in svg
