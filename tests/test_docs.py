"""The docs stay true: every ```python block of docs/*.md runs, and the generated references
(docs/cli.md, docs/api.md) match the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bceweights import _docgen

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
GENERATED = {"cli.md", "api.md"}
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def python_blocks(path: Path) -> list[tuple[int, str]]:
    """(line number, code) of every ```python block of a Markdown file."""
    text = path.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in FENCE.finditer(text)]


HAND_WRITTEN = sorted(p for p in DOCS.glob("*.md") if p.name not in GENERATED)


def test_there_are_docs_to_check():
    assert (DOCS / "guide.md") in HAND_WRITTEN
    assert len(python_blocks(DOCS / "guide.md")) >= 10


@pytest.mark.parametrize("path", HAND_WRITTEN, ids=lambda p: p.name)
def test_python_blocks_run(path, tmp_path, monkeypatch):
    """The blocks of one file run in order in one namespace, in a fresh folder holding sample_data/."""
    (tmp_path / "sample_data").symlink_to(ROOT / "sample_data")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{path.stem}"}
    for line, code in python_blocks(path):
        try:
            # Padding keeps the traceback's line numbers those of the Markdown file.
            exec(compile("\n" * (line - 1) + code, str(path), "exec"), namespace)
        except Exception as exc:
            tb = exc.__traceback__
            while tb is not None and tb.tb_frame.f_code.co_filename != str(path):
                tb = tb.tb_next
            at = f"line {tb.tb_lineno}" if tb is not None else "?"
            raise AssertionError(f"{path.name}, the python block at line {line} failed at {at}: "
                                 f"{type(exc).__name__}: {exc}") from exc


def test_fence_parser_finds_blocks(tmp_path):
    md = tmp_path / "x.md"
    md.write_text("text\n```python\na = 1\n```\n```bash\nls\n```\n```python\nassert a == 1\n```\n")
    assert python_blocks(md) == [(3, "a = 1\n"), (9, "assert a == 1\n")]


def test_a_failing_block_fails(tmp_path, monkeypatch):
    md = tmp_path / "bad.md"
    md.write_text("```python\nassert 1 == 2\n```\n")
    with pytest.raises(AssertionError, match="block at line 2 failed at line 2"):
        test_python_blocks_run(md, tmp_path, monkeypatch)


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_reference_is_current(name):
    path = DOCS / name
    expected = _docgen.generated()[path]
    assert path.exists(), f"docs/{name} is missing: generate it with `{_docgen.REGENERATE}`"
    current = path.read_text(encoding="utf-8")
    if current != expected:
        diff = _first_difference(current, expected)
        pytest.fail(f"docs/{name} is stale (the CLI or the docstrings changed since it was "
                    f"generated): regenerate it with `{_docgen.REGENERATE}` and commit it.\n{diff}")


def _first_difference(old: str, new: str) -> str:
    import difflib

    lines = list(difflib.unified_diff(old.splitlines(), new.splitlines(), "in the file", "generated",
                                      lineterm="", n=1))
    return "\n".join(lines[:30])


def test_cli_reference_covers_every_command():
    import typer

    from bceweights.cli import app

    text = _docgen.cli_markdown()
    root = typer.main.get_command(app)
    names = [name for name, command in root.commands.items() if not command.hidden]
    assert "compute" in names
    for name in names:
            assert f"## `bceweights {name}`" in text
            assert f"Usage: bceweights {name}" in text


def test_help_is_plain_and_fixed_width(monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "40")
    text = _docgen.help_text("compute")
    assert "\x1b[" not in text
    assert max(len(line) for line in text.splitlines()) <= _docgen.WIDTH
    assert "--output" in text and "Usage: bceweights compute" in text
    assert text == _docgen.help_text("compute")


def test_api_reference_lists_every_public_name():
    import bceweights

    text = _docgen.api_markdown()
    for name in bceweights.__all__:
        if name != "__version__":
            assert f"### `{name}`" in text, name
    assert "count_dataset(\n    data: Any," in text
    assert " at 0x" not in text


def test_check_mode_reports_stale_files(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(_docgen, "DOCS", tmp_path)
    assert _docgen.main(["--check"]) == 1
    assert _docgen.REGENERATE in capsys.readouterr().out
    assert _docgen.main([]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["api.md", "cli.md"]
    assert _docgen.main(["--check"]) == 0
