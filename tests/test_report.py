"""The class-imbalance report: JSON figures against brute-force counts, the terminal rendering, the
Markdown / CSV / co-occurrence files, the plot, and ``bceweights report WEIGHTS.pt``."""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import struct
import time
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
    assert "Rare_Class" in first.stdout and "normalize=mean" in first.stdout
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
    assert "imbalance ratio: 1.0" in text
    assert "label pairs" not in text


def test_render_1000_classes_with_top():
    rng = np.random.default_rng(1)
    pos = rng.integers(1, 5000, 1000).astype(float)
    pos[417] = 0
    pos[123] = 0.5 * pos.min() if pos.min() > 1 else 1
    names = [f"label_{i:04d}" for i in range(1000)]
    doc = report.build_report(_result(names, pos, 10_000 - pos, samples=10_000))
    started = time.perf_counter()
    text = _render(doc, top=10)
    elapsed = time.perf_counter() - started
    table_rows = [x for x in text.splitlines() if x.startswith("label_")]
    by_count = sorted(range(1000), key=lambda i: -pos[i])[:10]
    assert [r.split()[0] for r in table_rows] == [names[i] for i in by_count]
    assert "990 more classes not shown (--top, by most positives)" in text
    rarest = int(np.argmin(np.where(pos > 0, pos, np.inf)))
    assert f"rarest class: {names[rarest]} (" in text
    assert "no positives: label_0417" in text
    assert elapsed < 2.0
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


def test_plot_200_classes_png_and_svg(tmp_path):
    pytest.importorskip("matplotlib")
    from bceweights.plot import layout, save_plot

    rng = np.random.default_rng(0)
    pos = np.floor(10 ** rng.uniform(0, 4, 200))
    pos[7] = 0
    doc = report.build_report(_result([f"class_{i}" for i in range(200)], pos, 20_000 - pos, samples=20_000))
    save_plot(doc, tmp_path / "p.png")
    width, height = _png_size(tmp_path / "p.png")
    assert 1800 <= width <= 3000 and 700 <= height <= 1500
    svg = (tmp_path / "p.svg")
    save_plot(doc, svg)
    text = svg.read_text()
    assert "<svg" in text[:1000] and text.rstrip().endswith("</svg>")
    geo = layout(200, 9)
    # names are thinned so that they never overlap: step x line height fits the bar spacing
    assert geo["rotation"] == 90 and geo["step"] >= 2


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
    assert "smoothing=1.0" in _render(report.build_report(back), width=200)


def test_legend_explains_only_the_count_columns_shown():
    counts = Counts(["background", "object"], spatial_ndim=2)
    counts.add(pos=[80, 10], neg=[10, 80], ignored=[10, 10], samples=1, pixels=100, image_count=[1, 1])
    text = _render(report.build_report(Result(counts, compute_weights(counts), {"inputs": ["m.png"]})), width=160)
    assert "ignored: counted as neither positive nor negative" in text
    assert "uncertain:" not in text and "missing:" not in text
