"""--help as a person reads it (issue 18): seven panels in the order a user needs them, one line per
option, no Typer type noise, `compute --help` short enough to read; the long texts in docs/cli.md."""

from __future__ import annotations

import re

import pytest

from bceweights import _docgen
from bceweights.cli.help import OPTIONS, PANELS

COMMANDS = [(), ("compute",), ("validate",), ("report",)]


def _help(*command: str) -> list[str]:
    return _docgen.help_text(*command).splitlines()


@pytest.mark.parametrize("command", COMMANDS)
def test_options_are_one_line_without_type_noise(command):
    lines = _help(*command)
    body = [ln for ln in lines if ln.startswith("│")]
    assert body, "\n".join(lines)
    for line in body:
        # Every row starts with its option (or argument): a wrapped text would start with spaces.
        assert re.match(r"│ (\*\s+)?[-A-Za-z]", line), line
    text = "\n".join(lines)
    for noise in ("<bool>", "<str>", "<path>", "<int", "<float", "<list", "{labels}", "[x>=", "[default:"):
        assert noise not in text, noise


def test_compute_help_panels_come_in_the_order_a_user_needs_them():
    titles = [m.group(1) for ln in _help("compute") if (m := re.match(r"╭─ (.+?) ─", ln))]
    assert titles == ["Arguments", *PANELS]


def test_compute_help_fits_150_lines_at_100_columns():
    assert len(_help("compute")) <= 150


def test_every_option_has_a_panel_and_a_line_and_docs_have_its_details():
    import typer

    from bceweights.cli import app

    root = typer.main.get_command(app)
    ctx = root.context_class(root, info_name="bceweights")
    docs = _docgen.cli_markdown()
    for name in root.list_commands(ctx):
        for param in root.get_command(ctx, name).params:
            flag = next((o for o in param.opts if o.startswith("--")), None)
            if flag is None:
                continue
            panel, word, text = OPTIONS[flag]
            assert param.rich_help_panel == panel in PANELS and param.help == text
            assert len(text) <= 60, flag  # one line at 100 columns, beside the flag and its value word
            assert f"- `{flag}`" in docs and param.details.split()[0] in docs, flag
