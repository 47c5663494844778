"""The printed report as a person reads it in a terminal of 80 columns (and 200): no line overflows, no
word of a header or a flag is cut, wrapped lines are indented and keep every word, the loading code
survives a copy, long lists are elided with a count. Rendered from real runs of a label table, a folder
of PNG masks and a set of NIfTI volumes, through a Rich console of that width with a forced terminal."""

from __future__ import annotations

import io
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from rich.cells import cell_len
from rich.console import Console

from bceweights import api, report
from bceweights.cli.render import _SHORT_FLAGS, _wrap_name, render_checks, render_report, wrap
from bceweights.counts import Counts
from bceweights.result import Result
from bceweights.weights import WeightOptions, compute_weights

ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: Every word a header line of the class table may hold.
HEADER_WORDS = {"class", "positives", "negatives", "prevalence", "pos_weight", "class_weight", "weight", "flags",
                "%", "of", "samples", "pixels", "voxels", "images", "ignored", "uncertain", "missing", "soft"}
FLAG_WORDS = set(report.FLAGS) | set(_SHORT_FLAGS.values())
NUMBER = re.compile(r"^[<>]?[\d,]+(\.\d+)?%?$")


def printed(doc, checks=None, *, width: int, terminal: bool = True, **kwargs) -> str:
    """What the CLI prints for ``doc`` (and its checks), colours stripped."""
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=terminal, color_system="standard" if terminal else None,
                      highlight=False)
    render_report(doc, console, show_usage="weights.pt", **kwargs)
    if checks is not None:
        render_checks(checks, console)
    return ANSI.sub("", buf.getvalue())


def table_block(text: str) -> tuple[list[str], list[str]]:
    """(header lines, row lines) of the class table: the lines above its rule, and below it up to the
    first line that is not a row (a legend or a blank line)."""
    lines = text.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("─"))
    top = rule
    while top > 0 and lines[top - 1].strip():
        top -= 1
    rows = []
    for line in lines[rule + 1:]:
        if not line.strip() or re.match(r"^[a-z-]+: ", line):
            break
        rows.append(line)
    return lines[top:rule], rows


def assert_reads_well(text: str, doc: dict, width: int) -> None:
    lines = text.splitlines()
    too_long = [line for line in lines if cell_len(line) > width]
    assert not too_long, too_long

    header, rows = table_block(text)
    words = " ".join(header).split()
    assert set(words) <= HEADER_WORDS, set(words) - HEADER_WORDS  # no "preva-", "pos_", "extre"
    for needed in ("positives", "negatives", "pos_weight"):
        assert needed in words
    assert "class_weight" in words or words.count("class") == 2 and "weight" in words
    assert "prevalence" in words or "%" in words

    # The flags of a row come after its last number; each is a whole flag (or its legend's short form).
    for row in rows:
        tokens = row.split()
        numbers = [i for i, t in enumerate(tokens) if NUMBER.match(t)]
        if numbers:
            assert set(tokens[numbers[-1] + 1:]) <= FLAG_WORDS, row
    shown_flags = {f for r in doc["classes"] for f in r["flags"] if r["class"] in text}
    legend = ""
    if shown_flags:
        first = next(i for i, line in enumerate(lines)
                     if any(line.startswith((f"{f}: ", f"{_SHORT_FLAGS[f]}: ")) for f in report.FLAGS))
        legend = " ".join([lines[first]] + [line for line in lines[first + 1:] if line.startswith("  ")][:4])
    for flag in shown_flags:
        assert f"{flag}:" in legend or f"{_SHORT_FLAGS[flag]}:" in legend

    # Summary lines wrap at spaces under an indent, and keep every word of the fact (a path longer
    # than a whole line is the only word cut, at the line's end).
    flat = "".join(text.split())
    for key, value in report.summary_lines(doc):
        assert "".join(f"{key}: {value}".split()) in flat, (key, value)
    summary = lines[:lines.index("")]
    assert all(line.startswith("  ") or re.match(r"^[a-z%][^:]*: ", line) for line in summary), summary

    # The code that loads the weights: whole lines, one statement or comment each.
    start = next(i for i, line in enumerate(lines) if line.endswith("use them with:"))
    code = []
    for line in lines[start + 1:]:
        if not line.strip():
            break
        code.append(line)
    assert code and all(line.startswith("  ") for line in code)
    compile(textwrap.dedent("\n".join(code)), "<report>", "exec")
    assert any(line.strip() == 'loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=w["pos_weight"])' for line in code)


def run_snippet(text: str, folder: Path, monkeypatch) -> torch.nn.Module:
    """Run the printed loading code as a user pastes it, in the folder holding weights.pt."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.endswith("use them with:"))
    code = []
    for line in lines[start + 1:]:
        if not line.strip():
            break
        code.append(line)
    monkeypatch.chdir(folder)
    scope: dict = {}
    exec(textwrap.dedent("\n".join(code)), scope)  # noqa: S102 - the report's own snippet
    return scope["loss_fn"]


# ---------------------------------------------------------------------------------------------------
# A label table


def write_table(path: Path) -> Path:
    """1,500 rows, 9 classes with the names of real datasets: a frequent class, one with 1 positive
    (rare, extreme-weight), one without positives, -1 and blanks in one column, a split column."""
    rng = np.random.default_rng(0)
    names = ["No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Pleural_Thickening",
             "Pneumothorax", "Support Devices", "Hernia", "Fracture"]
    p = [0.5, 0.1, 0.12, 0.3, 0.04, 0.05, 0.3, 0.0, 0.0]
    y = (rng.random((1500, len(names))) < p).astype(int)
    y[7, 7] = 1  # Hernia: one positive
    lines = ["Path,split," + ",".join(f'"{n}"' if " " in n else n for n in names)]
    for i, row in enumerate(y):
        cells = [str(v) for v in row]
        if i % 50 == 3:
            cells[1] = "-1"
        if i % 70 == 3:
            cells[2] = ""
        lines.append(f"patient{i:05d}/view1.jpg,{'train' if i % 10 else 'valid'}," + ",".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def table_job(tmp_path):
    path = write_table(tmp_path / "train.csv")
    return api.run_compute(path, where=(("split", "train"),), output=tmp_path / "weights.pt")


@pytest.mark.parametrize("width", [80, 200])
def test_table_report_reads_well(table_job, width, tmp_path, monkeypatch):
    doc = table_job.report
    text = printed(doc, table_job.checks, width=width)
    assert_reads_well(text, doc, width)
    assert "options: --where split=train\n" in text
    assert "rarest class: Hernia (1 positive of 1,350 samples, 0.07%): pos_weight 1,349" in " ".join(text.split())
    assert "no positives: Fracture" in text
    # The legend defines rare once, with the bound the flags used.
    assert text.count("rare: fewer than 10 positives") == 1
    loss_fn = run_snippet(text, tmp_path, monkeypatch)
    target = torch.zeros(4, 9)
    assert loss_fn(torch.zeros(4, 9), target).isfinite()


def test_narrow_tables_drop_count_columns_and_say_so_and_checks_wrap_under_their_message(table_job):
    wide = printed(table_job.report, table_job.checks, width=200)
    assert "uncertain" in " ".join(table_block(wide)[0]) and "missing" in " ".join(table_block(wide)[0])
    assert "█" in wide and "Enlarged Cardiomediastinum " in wide
    text = printed(table_job.report, table_job.checks, width=80)
    header, rows = table_block(text)
    assert "uncertain" not in " ".join(header) and "█" not in text
    assert "(ignored, uncertain, missing not shown: the terminal is too narrow; see --csv)" in text
    check_lines = text[text.index("  PASS  "):].splitlines()
    assert len(check_lines) > 4
    for line in check_lines:
        assert re.match(r"^  (PASS|WARN|FAIL|SKIP)  ", line) or line.startswith(" " * 19), line


def test_the_report_section_order_with_blank_lines_between(table_job):
    text = printed(table_job.report, table_job.checks, width=80)
    blocks = [b for b in text.split("\n\n") if b.strip()]
    assert blocks[0].startswith("dataset: train.csv\n")
    starts = [next(i for i, b in enumerate(blocks) if re.search(rf"^{prefix}", b, re.M))
              for prefix in ("dataset:", "class ", "most frequent label pairs:", "warning:", "weights:", "checks \\(")]
    assert starts == list(range(6))


# ---------------------------------------------------------------------------------------------------
# A folder of masks


def test_mask_folder_report_reads_well(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    folder = tmp_path / "SegmentationClass"
    folder.mkdir()
    for i in range(6):
        m = rng.choice([0, 1, 2, 3], size=(60, 80), p=[0.85, 0.1, 0.049, 0.001]).astype(np.uint8)
        m[0, :] = 255  # a void border, as VOC draws it
        image = Image.fromarray(m, mode="P")
        image.putpalette([v for i in range(256) for v in (i, i, i)])
        image.save(folder / f"2007_{i:06d}.png")
    job = api.run_compute(folder, output=tmp_path / "weights.pt", workers=1)
    doc = job.report
    text = printed(doc, job.checks, width=80)
    assert_reads_well(text, doc, width=80)
    assert "images: 6\n" in text and "pixels: 28,800\n" in text
    # the void pixels are the same for every class: said once, not on every row
    assert "ignored on every class: 480 pixels" in text
    assert "ignored" not in " ".join(table_block(text)[0])
    assert "samples" not in " ".join(table_block(text)[0])
    loss_fn = run_snippet(text, tmp_path, monkeypatch)
    assert loss_fn(torch.zeros(2, 4, 5, 7), torch.ones(2, 4, 5, 7)).isfinite()


# ---------------------------------------------------------------------------------------------------
# A set of 3-D volumes


def test_volume_set_report_reads_well(tmp_path, monkeypatch):
    nib = pytest.importorskip("nibabel")
    rng = np.random.default_rng(2)
    for i in range(3):
        vol = rng.choice([0, 1, 2], size=(20, 24, 16), p=[0.9, 0.0995, 0.0005]).astype(np.uint8)
        case = tmp_path / "kits" / f"case_{i:05d}"
        case.mkdir(parents=True)
        nib.save(nib.Nifti1Image(vol, np.eye(4)), str(case / "segmentation.nii.gz"))
    job = api.run_compute(tmp_path / "kits", output=tmp_path / "weights.pt", workers=1)
    doc = job.report
    text = printed(doc, job.checks, width=80)
    assert_reads_well(text, doc, width=80)
    assert "volumes: 3\n" in text and "voxels: 23,040\n" in text
    assert doc["summary"]["unit"] == "voxel" and doc["summary"]["spatial_ndim"] == 3
    assert "pixel" not in text.replace("pixels", "") and "image" not in text.replace("images", "")
    assert "dataset: kits (3 files)" in text
    assert "# [3, 1, 1, 1] broadcasts over [N, C, D, H, W]" in text
    loss_fn = run_snippet(text, tmp_path, monkeypatch)
    assert loss_fn(torch.zeros(1, 3, 2, 3, 4), torch.ones(1, 3, 2, 3, 4)).isfinite()


def test_widest_numbers_and_names_fit_80_columns():
    """KiTS-sized voxel counts, every flag at once and long names: the table folds its headers at a
    space, abbreviates the flags (the legend says so) and wraps names at their word boundaries."""
    names = ["background", "kidney", "tumor", "Enlarged_Cardiomegaly_and_something_longer", "never"]
    # (the rare class is made rare by --min-count: every flag at once, on 11-digit counts)
    counts = Counts(names, spatial_ndim=3)
    pos = np.array([823_449_817, 5_427_625, 546_174, 30_000, 0], dtype=float)
    counts.add(pos=pos, neg=829_423_616 - pos, samples=210, pixels=829_423_616, image_count=[210, 209, 150, 1, 0],
               ignored=[0, 0, 5, 0, 0])
    weights = compute_weights(counts, WeightOptions(min_count=50_000))
    doc = report.build_report(Result(counts, weights, {"inputs": ["kits19/case_00000.nii.gz"]}))
    assert {f for r in doc["classes"] for f in r["flags"]} == {"absent", "rare", "extreme-weight"}
    text = printed(doc, width=80)
    assert_reads_well(text, doc, width=80)
    # the long name is split only after an underscore, and every piece of it is in the table
    _, rows = table_block(text)
    pieces = [r.split()[0] for r in rows]
    assert pieces[:3] == ["background", "kidney", "tumor"]
    assert [r[0] for r in rows if r.split()[0] in pieces[4:] and not r.startswith("never")][:1] == [" "]
    long = names[3]
    start = pieces.index(next(p for p in pieces if long.startswith(p)))
    joined, end = "", start
    while joined != long:
        assert pieces[end].endswith("_") or joined + pieces[end] == long, pieces
        joined += pieces[end]
        end += 1
    assert "828,877,442" in text and "e+" not in text


def test_wrapped_names_break_only_at_word_boundaries():
    # the lines after the first are indented by one space: a continuation, not another class
    assert _wrap_name("Personal flotation device", 10) == "Personal\n flotation\n device"
    assert _wrap_name("Isle of man tt", 11) == "Isle of man\n tt"
    assert _wrap_name("Pleural_Thickening", 18) == "Pleural_Thickening"
    assert _wrap_name("Pleural_Thickening", 12) == "Pleural_\n Thickening"
    assert _wrap_name("a/b-c.d", 3) == "a/\n b-\n c.\n d"
    # a piece longer than the column is the only thing cut
    assert _wrap_name("Enlarged_Cardiomediastinum", 12) == "Enlarged_\n Cardiomedia\n stinum"
    assert _wrap_name("東京タワー展望台", 6) == "東京タ\n ワー\n 展望\n 台"  # two cells a character


def test_wrap_keeps_every_word_and_styles():
    from rich.text import Text

    text = Text.assemble(("rarest class: ", "bold"), "Hernia (1 positive of 691 samples, 0.14%): pos_weight 690, "
                                                     "class weight 86.38")
    lines = wrap(text, 40, indent=2)
    assert [line.plain for line in lines] == ["rarest class: Hernia (1 positive of 691",
                                              "  samples, 0.14%): pos_weight 690, class",
                                              "  weight 86.38"]
    assert lines[0].spans[0].style == "bold"
    long_word = wrap(Text("x " + "y" * 25), 10, indent=2)
    assert [line.plain for line in long_word] == ["x", "  yyyyyyyy", "  yyyyyyyy", "  yyyyyyyy", "  y"]


# ---------------------------------------------------------------------------------------------------
# Long lists and many classes


def test_long_lists_are_elided_with_a_count():
    names = [f"class_{i}" for i in range(42_000)]
    counts = Counts(names[:300], notes=["wide.csv: label columns detected: " + ", ".join(names[:300])])
    counts.add(pos=np.zeros(300), neg=np.full(300, 5.0), samples=5)
    doc = report.build_report(Result(counts, compute_weights(counts), {"inputs": ["wide.csv"]}))
    doc["warnings"] = ["no positive example for " + ", ".join(names) + ": pos_weight set to 1"]
    text = printed(doc, width=80)
    assert "... and 280 more" in text  # the detection note and the absent classes
    assert "... and 41,980 more: pos_weight set to 1" in " ".join(text.split())
    assert len(text.splitlines()) < 90
    assert report.elide_lists("a, b, c", shown=1) == "a, b, c"  # a list of 3 is not cut to save one name


def test_more_than_50_classes_show_the_most_and_least_frequent_and_say_so():
    rng = np.random.default_rng(4)
    pos = rng.permutation(np.arange(1, 61)).astype(float)
    names = [f"c{i}" for i in range(60)]
    counts = Counts(names)
    counts.add(pos=pos, neg=1000 - pos, samples=1000)
    doc = report.build_report(Result(counts, compute_weights(counts), {"inputs": ["t.csv"]}))
    text = printed(doc, width=80)
    _, rows = table_block(text)
    shown = [r.split()[0] for r in rows]
    order = np.argsort(-pos, kind="stable")
    assert shown == [names[i] for i in order[:10]] + ["⋯"] + [names[i] for i in order[-10:]]
    assert "20 of 60 classes shown: the 10 most and the 10 least frequent (the default above 50 classes)" \
        in " ".join(text.split())
    assert "classes by positives (median class: 30.5):" in text
    assert "  1 to 9 " in text and "  0 " not in text  # no class without positives: the 0 row is left out
    # --top wins over the default, and --sort keeps its order for the first rows
    assert len(table_block(printed(doc, width=80, top=25))[1]) == 25
    by_weight = table_block(printed(doc, width=80, sort="weight"))[1]
    assert [r.split()[0] for r in by_weight] == [names[i] for i in order[::-1][:20]]


def test_distribution_of_positives_counts_every_class_once():
    pos = [0, 0, 1, 9, 10, 99, 100, 12_345, 2.5]
    buckets = report.positives_distribution(pos)
    assert [(b["min"], b["max"]) for b in buckets] == [(0, 0), (1, 9), (10, 99), (100, 999), (1000, 9999),
                                                       (10_000, 99_999)]
    for b in buckets:
        assert b["classes"] == sum(b["min"] <= int(p) <= b["max"] for p in pos)
    assert sum(b["classes"] for b in buckets) == len(pos)


# ---------------------------------------------------------------------------------------------------
# Words and numbers


def test_numbers_as_a_person_writes_them():
    assert report.fmt_weight(33_120.4) == "33,120" and report.fmt_weight(3.312e-6) == "0.000003312"
    assert report.fmt_pct(2.9e-5) == "<0.01%" and report.fmt_pct(0.99995) == ">99.99%"
    assert report.fmt_pct(0.0001) == "0.01%"
    assert report.plural(1, "class") == "1 class" and report.plural(12_031, "file") == "12,031 files"
    assert report.fmt_ratio(1.0) == "1" and report.fmt_ratio(26_635.0) == "26,635"


def test_every_option_in_its_cli_spelling():
    options = {"where": [["split", "train"], ["view", "PA AP"]], "no_header": True, "classes_file": "CLASS_ORDER.txt",
               "separator": " ", "ignore_index": [0, 255], "cooccurrence": False,
               "policy": {"uncertain": "positive", "missing": "ignore", "ignore_values": [9.0], "hard": True,
                          "binarize": None}}
    words = report.option_words(options)
    assert words == ["--where split=train", "--where 'view=PA AP'", "--no-header", "--classes-file CLASS_ORDER.txt",
                     "--separator ' '", "--ignore-index 0", "--ignore-index 255"]
    counts = Counts(["a", "b"])
    counts.add(pos=[1, 2], neg=[3, 2], samples=4)
    weights = compute_weights(counts, WeightOptions(clip=(None, 50.0), normalize="mean", beta=0.9))
    doc = report.build_report(Result(counts, weights, {"inputs": ["x.csv"], "options": options}))
    text = printed(doc, width=200)
    assert "weight options: --scheme inverse --normalize mean --zero-positives warn --clip :50\n" in text
    assert ("label values: -1 counts as a positive (--uncertain positive); a blank as neither (--missing ignore); "
            "9 as neither (--ignore-value 9); only 0 and 1 allowed (--hard)") in text
    for python in ("None", "True", "[", "{", "=["):
        assert python not in text.split("weight shape")[0].split("labels per sample")[1]


def test_hints_name_options_that_act_on_what_they_warn_about():
    from bceweights.validate import check_sanity

    counts = Counts(["common", "scarce"])
    counts.add(pos=[500, 1], neg=[1500, 1999], samples=2000)
    payload = Result(counts, compute_weights(counts), {}).payload()
    warnings = check_sanity(payload, counts).warnings
    pos_weight_warning = next(w for w in warnings if w.startswith("pos_weight above"))
    assert "--normalize" not in pos_weight_warning and "--clip :1000" in pos_weight_warning
    assert "pos_weight above 1,000 for 'scarce' (1,999)" in pos_weight_warning


def test_validate_hint_spells_the_recorded_options(cli, tmp_path):
    path = write_table(tmp_path / "train.csv")
    out = tmp_path / "w.pt"
    assert cli("compute", path, "--where", "split=train", "-o", out, "-q").exit_code == 0
    res = cli("validate", out, path)
    assert res.exit_code == 1
    assert "the file records --where split=train)" in res.stderr and "{" not in res.stderr


def test_an_error_listing_300_columns_is_elided(cli, tmp_path):
    names = [f"col{i}" for i in range(300)]
    path = tmp_path / "wide.csv"
    path.write_text(",".join(names) + "\n" + ",".join("1" for _ in names) + "\n")
    classes = tmp_path / "classes.txt"
    classes.write_text("a\nb\n")
    res = cli("compute", path, "--classes-file", classes, "-o", tmp_path / "w.pt")
    assert res.exit_code in (1, 2) and res.stderr.count("\n") == 1
    assert "... and 280 more" in res.stderr and "col299" not in res.stderr
