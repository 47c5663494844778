"""The command line: parse options, call the library, render with Rich. Each command is a few lines.

Exit codes: 0 success; 1 bad data or a failed check (one ``Error: ...`` line on stderr); 2 usage.
"""

import functools
import inspect
import os
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from . import __version__
from .errors import BceWeightsError

app = typer.Typer(
    name="bceweights",
    help="Per-class pos_weight and class weights for BCEWithLogitsLoss, counted over a whole training set.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

INPUT = "Input"
LAYOUT = "Table layout"
VALUES = "Label values"
WEIGHTS = "Weights"
OUTPUT = "Output"


class Normalize(str, Enum):
    none = "none"
    mean = "mean"
    sum = "sum"


class ZeroPositives(str, Enum):
    warn = "warn"
    error = "error"
    skip = "skip"


class Uncertain(str, Enum):
    ignore = "ignore"
    positive = "positive"
    negative = "negative"


class Missing(str, Enum):
    negative = "negative"
    ignore = "ignore"


# ---------------------------------------------------------------------------------------------------
# Console and errors


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def _stdout_console():
    from rich.console import Console

    return Console(highlight=False)


def fail(message: str) -> None:
    """One line on stderr, exit code 1."""
    _stderr_console().print(f"Error: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(1)


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the user's mistakes (``BceWeightsError``) into one line and exit code 1; ``--debug`` (or
    ``BCEWEIGHTS_DEBUG=1``) keeps the traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except BceWeightsError as exc:
            if _debug_enabled():
                raise
            fail(str(exc))
        except KeyboardInterrupt:
            _stderr_console().print("Interrupted: nothing was written.", markup=False)
            raise typer.Exit(130) from None

    return wrapper


_DEBUG = False


def _debug_enabled() -> bool:
    return _DEBUG or os.environ.get("BCEWEIGHTS_DEBUG") == "1"


# ---------------------------------------------------------------------------------------------------
# Input options, shared by every command that reads labels


def _split_list(values: list[str] | None) -> tuple[str, ...] | None:
    if not values:
        return None
    out: list[str] = []
    for value in values:
        out.extend(v.strip() for v in value.split(",") if v.strip())
    return tuple(out)


def _parse_where(values: list[str] | None) -> tuple[tuple[str, str], ...]:
    out = []
    for value in values or []:
        column, sep, wanted = value.partition("=")
        if not sep or not column.strip():
            raise typer.BadParameter(f"expected COLUMN=VALUE, got {value!r}", param_hint="--where")
        out.append((column.strip(), wanted.strip()))
    return tuple(out)


def _unescape(value: str | None) -> str | None:
    if value is None:
        return None
    return {"\\t": "\t", "tab": "\t", "space": " ", "pipe": "|"}.get(value, value)


INPUT_OPTIONS: list[inspect.Parameter] = []


def _opt(name: str, annotation: Any, default: Any = None) -> None:
    INPUT_OPTIONS.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                           annotation=annotation))


_opt("format", Annotated[Optional[str], typer.Option(
    "--format", help="Input format when the extension does not tell: csv, tsv, parquet ... "
    "e.g. [cyan]--format csv[/cyan] for labels.dat.", rich_help_panel=INPUT)])
_opt("columns", Annotated[Optional[list[str]], typer.Option(
    "--columns", "-c", help="Wide layout: the 0/1 label columns, comma-separated or repeated, e.g. "
    "[cyan]--columns Atelectasis,Cardiomegaly[/cyan]. Default: detected (numeric columns holding only "
    "0/1, -1 or blanks, id-like columns skipped).", rich_help_panel=LAYOUT)])
_opt("exclude_columns", Annotated[Optional[list[str]], typer.Option(
    "--exclude-columns", "-x", help="Columns (or, with --list-column/--class-column, labels) to leave "
    "out, e.g. [cyan]--exclude-columns 'No Finding'[/cyan].", rich_help_panel=LAYOUT)])
_opt("list_column", Annotated[Optional[str], typer.Option(
    "--list-column", "-l", help="Label-list layout: the column holding lists such as A|B|C, e.g. "
    "[cyan]--list-column 'Finding Labels'[/cyan]. A label repeated in a row counts once.",
    rich_help_panel=LAYOUT)])
_opt("separator", Annotated[Optional[str], typer.Option(
    "--separator", help="Separator inside --list-column values; default: detected among | ; , and space. "
    "e.g. [cyan]--separator ' '[/cyan] for Planet tags.", rich_help_panel=LAYOUT)])
_opt("class_column", Annotated[Optional[str], typer.Option(
    "--class-column", help="One-class-per-row layout: each distinct value is a class (one-vs-rest), "
    "e.g. [cyan]--class-column diagnosis[/cyan].", rich_help_panel=LAYOUT)])
_opt("no_header", Annotated[bool, typer.Option(
    "--no-header", help="The first line is data; columns are named column_1, column_2, ... "
    "e.g. [cyan]--no-header --classes-file classes.txt[/cyan].", rich_help_panel=LAYOUT)], False)
_opt("delimiter", Annotated[Optional[str], typer.Option(
    "--delimiter", "-d", help="Field delimiter; default: tab for .tsv, else detected among , tab ; | "
    "and space. e.g. [cyan]--delimiter ';'[/cyan] or [cyan]--delimiter tab[/cyan].",
    rich_help_panel=LAYOUT)])
_opt("classes_file", Annotated[Optional[Path], typer.Option(
    "--classes-file", help="A file with one class name per line: names the label columns of a file "
    "without header (in order), or picks them by name. e.g. [cyan]--classes-file CLASS_ORDER.txt[/cyan].",
    rich_help_panel=LAYOUT)])
_opt("where", Annotated[Optional[list[str]], typer.Option(
    "--where", "-w", help="Keep only rows where COLUMN equals VALUE (repeatable; values of one column "
    "are alternatives, different columns must all match), e.g. [cyan]--where split=train[/cyan].",
    rich_help_panel=LAYOUT)])
_opt("uncertain", Annotated[Uncertain, typer.Option(
    "--uncertain", help="What -1 (uncertain, CheXpert) counts as: ignore (neither), positive (U-Ones) "
    "or negative (U-Zeros). e.g. [cyan]--uncertain positive[/cyan].", rich_help_panel=VALUES)],
    Uncertain.ignore)
_opt("missing", Annotated[Missing, typer.Option(
    "--missing", help="What a blank / NaN counts as: negative (CheXpert convention) or ignore. "
    "e.g. [cyan]--missing ignore[/cyan].", rich_help_panel=VALUES)], Missing.negative)
_opt("ignore_value", Annotated[Optional[list[float]], typer.Option(
    "--ignore-value", help="A sentinel value that counts as neither positive nor negative (repeatable), "
    "e.g. [cyan]--ignore-value 9[/cyan].", rich_help_panel=VALUES)])
_opt("hard", Annotated[bool, typer.Option(
    "--hard", help="Only 0/1 are labels: a soft value such as 0.5 is an error instead of adding 0.5 "
    "to positives and negatives.", rich_help_panel=VALUES)], False)
_opt("binarize", Annotated[Optional[float], typer.Option(
    "--binarize", help="Turn every value y into y >= THRESHOLD (counts, scores), e.g. "
    "[cyan]--binarize 0.5[/cyan].", rich_help_panel=VALUES)])


def spec_from_options(opts: dict[str, Any]):
    """Build the library's :class:`InputSpec` from parsed CLI options."""
    from .policy import ValuePolicy
    from .spec import InputSpec

    policy = ValuePolicy(
        uncertain=opts.pop("uncertain").value,
        missing=opts.pop("missing").value,
        ignore_values=tuple(opts.pop("ignore_value") or ()),
        hard=opts.pop("hard"),
        binarize=opts.pop("binarize"),
    )
    return InputSpec(
        format=opts.pop("format"),
        columns=_split_list(opts.pop("columns")),
        exclude_columns=_split_list(opts.pop("exclude_columns")) or (),
        list_column=opts.pop("list_column"),
        separator=_unescape(opts.pop("separator")),
        class_column=opts.pop("class_column"),
        no_header=opts.pop("no_header"),
        delimiter=_unescape(opts.pop("delimiter")),
        classes_file=opts.pop("classes_file"),
        where=_parse_where(opts.pop("where")),
        policy=policy,
        progress=sys.stderr.isatty(),
        **{k: opts.pop(k) for k in list(opts) if k in _EXTRA_SPEC_FIELDS},
    )


#: Input options added by other modules (name → InputSpec field), built into the spec as they are.
_EXTRA_SPEC_FIELDS: set[str] = set()


def with_input_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command every input option; it receives them as one ``spec`` argument."""
    names = {p.name for p in INPUT_OPTIONS}

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        opts = {k: kwargs.pop(k) for k in list(kwargs) if k in names}
        return func(*args, spec=spec_from_options(opts), **kwargs)

    sig = inspect.signature(func)
    params = [p for p in sig.parameters.values() if p.name != "spec"]
    keyword = [p for p in params if p.kind == inspect.Parameter.KEYWORD_ONLY]
    positional = [p for p in params if p.kind != inspect.Parameter.KEYWORD_ONLY]
    wrapper.__signature__ = sig.replace(parameters=positional + keyword + INPUT_OPTIONS)  # type: ignore[attr-defined]
    hints = dict(getattr(func, "__annotations__", {}))
    hints.pop("spec", None)
    hints.update({p.name: p.annotation for p in INPUT_OPTIONS})
    wrapper.__annotations__ = hints
    return wrapper


# ---------------------------------------------------------------------------------------------------
# Progress


class RichProgress:
    """A Rich progress bar on stderr; silent when stderr is not a terminal."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
            TimeRemainingColumn(), console=_stderr_console(), transient=True,
            disable=not sys.stderr.isatty(),
        )
        self._task = None

    def __enter__(self) -> "RichProgress":
        self._progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.__exit__(*exc)

    def start(self, total: float, unit: str, description: str) -> None:
        self._task = self._progress.add_task(description, total=total)

    def advance(self, amount: float) -> None:
        if self._task is not None:
            self._progress.advance(self._task, amount)


# ---------------------------------------------------------------------------------------------------
# Commands


def _version(value: bool) -> None:
    if value:
        typer.echo(f"bceweights {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks for errors.")] = False,
) -> None:
    """Count per-class positives and negatives over a whole training set and write pos_weight and
    class weights for torch.nn.BCEWithLogitsLoss.

    Example: [cyan]bceweights compute labels.csv -o weights.pt[/cyan]
    """
    global _DEBUG
    _DEBUG = debug


@app.command()
@handle_errors
@with_input_options
def compute(
    labels: Annotated[list[str], typer.Argument(
        help="Label files, directories or globs, counted together, e.g. [cyan]train.csv[/cyan].",
        show_default=False)],
    *,
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Where to save the .pt, e.g. [cyan]-o weights.pt[/cyan].",
        rich_help_panel=OUTPUT)] = Path("weights.pt"),
    json_out: Annotated[Optional[str], typer.Option(
        "--json", help="Also write the report as JSON to FILE, or to stdout with [cyan]--json -[/cyan].",
        rich_help_panel=OUTPUT)] = None,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="Print no report, only errors.", rich_help_panel=OUTPUT)] = False,
    normalize: Annotated[Normalize, typer.Option(
        "--normalize", help="Rescale class weights: none, mean (mean 1) or sum (sum 1), e.g. "
        "[cyan]--normalize mean[/cyan].", rich_help_panel=WEIGHTS)] = Normalize.none,
    zero_positives: Annotated[ZeroPositives, typer.Option(
        "--zero-positives", help="A class with no positive: warn (pos_weight 1, class weight = the "
        "largest other), skip (class weight 0) or error (exit 1).", rich_help_panel=WEIGHTS)]
    = ZeroPositives.warn,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Turn warnings into errors (exit 1): same as --zero-positives error.",
        rich_help_panel=WEIGHTS)] = False,
    spec: Any = None,
) -> None:
    """Count labels, compute pos_weight and class weights, save them to a .pt and print the report.

    Examples:
      [cyan]bceweights compute sample_data/chest_xray_labels.csv[/cyan]
      [cyan]bceweights compute Data_Entry_2017.csv --list-column 'Finding Labels' -o cxr14.pt[/cyan]
    """
    from . import api, io, report
    from .weights import WeightOptions

    if json_out != "-":
        io.check_output_path(output)
    options = WeightOptions(normalize=normalize.value,
                            zero_positives="error" if strict else zero_positives.value)
    with RichProgress() as progress:
        result = api.compute(labels, spec, options, progress=progress)
    result.save(output)
    doc = report.build_report(result, output=str(output))
    _write_json(json_out, doc)
    if not quiet and json_out != "-":
        report.render(doc, _stdout_console(), show_usage=str(output))


def _write_json(target: str | None, doc: dict[str, Any]) -> None:
    if target is None:
        return
    from . import io, report

    text = report.to_json(doc)
    if target == "-":
        sys.stdout.write(text)
    else:
        io.write_text(target, text)


def main() -> None:
    app()
