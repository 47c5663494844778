"""The command line: parse options, call the library, render with Rich. Each command is a few lines.

Exit codes: 0 success; 1 bad data or a failed check; 2 a usage mistake (an unknown option, a bad flag
value, options that conflict, a missing path, an output that is an input). Either way one
``Error: ...`` line on stderr, never a traceback (``--debug`` shows it). Warnings go to stderr, also
under ``-q``; terminal control characters from the data are escaped in everything printed.
"""

import functools
import inspect
import math
import os
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from .. import __version__
from ..errors import BceWeightsError, OptionsError, UsageError, printable
from ..report import SORT_KEYS
from .render import RichProgress


class _Group(typer.core.TyperGroup):
    """Accepts ``--debug`` after the command too (``bceweights compute x.csv --debug``): it is moved
    in front of the command, where the global option lives (up to a ``--``). Click's usage errors (a
    missing argument, an unknown option, a bad choice) are one ``Error: ...`` line and exit 2, like
    every other error, instead of a usage block and a framed panel."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from .help import tidy_app

        tidy_app(self)

    def get_command(self, ctx, name):
        from .help import tidy

        command = super().get_command(ctx, name)
        return tidy(command) if command is not None else None

    def parse_args(self, ctx, args):
        end = args.index("--") if "--" in args else len(args)
        if "--debug" in args[1:end]:
            args = ["--debug"] + [a for i, a in enumerate(args) if not (a == "--debug" and i < end)]
        return super().parse_args(ctx, args)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except Exception as exc:
            # By name: Typer has vendored Click (typer._click) since 0.2x, older ones use click's.
            name = type(exc).__name__
            if name == "NoArgsIsHelpError":
                sys.exit(2)  # the help is printed already
            if name == "Abort":
                _stderr_console().print("Aborted.", markup=False)
                sys.exit(1)
            if not (hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int)):
                raise
            # "Value error, " is how Typer's type checks word every bad value; it says nothing.
            _print_error(exc.format_message().replace("Value error, ", ""), _usage_hint(exc))
            sys.exit(exc.exit_code)
        sys.exit(code if isinstance(code, int) else 0)


def _usage_hint(exc) -> str | None:
    ctx = getattr(exc, "ctx", None)
    return f"{ctx.command_path} -h shows the usage" if ctx is not None else None


def _console(stderr: bool):
    """A Rich console that shows control characters as escapes: every string it renders (report
    lines, table cells, messages) may hold a column name, a value or a path from the data."""
    return _safe_console_class()(stderr=stderr, highlight=False)


@functools.cache
def _safe_console_class():
    from rich.console import Console

    class SafeConsole(Console):
        def render_str(self, text, **kwargs):
            # Line breaks are kept: the table's two-line headers are ours; a name's own breaks were
            # escaped with the rest of the report (outputs.printable_doc).
            return super().render_str("\n".join(printable(line) for line in text.split("\n")), **kwargs)

    return SafeConsole


def _stderr_console():
    return _console(True)


def _stdout_console():
    return _console(False)


app = typer.Typer(
    cls=_Group,
    name="bceweights",
    help="Per-class pos_weight and class weights for BCEWithLogitsLoss, counted over a whole training set.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _choices(name: str, *values: str) -> Any:
    """A str Enum of ``values`` for an option's choices (members named as the values, ``-`` as ``_``)."""
    return Enum(name, [(v.replace("-", "_"), v) for v in values], type=str)


INPUT = "Input"
LAYOUT = "Table layout"
VALUES = "Label values"
WEIGHTS = "Weights"
OUTPUT = "Output"

Normalize = _choices("Normalize", "none", "mean", "sum")
ZeroPositives = _choices("ZeroPositives", "warn", "error", "skip")
# The schemes of bceweights.weights.SCHEMES (kept in step by a test; weights.py would import NumPy).
Scheme = _choices("Scheme", "inverse", "inverse-sqrt", "effective-number", "median-frequency", "enet")
SampleReduce = _choices("SampleReduce", "max", "mean")
Uncertain = _choices("Uncertain", "ignore", "positive", "negative")
Missing = _choices("Missing", "negative", "ignore")
Negatives = _choices("Negatives", "verified", "implicit")

SAMPLING = "Per-sample weights"


def _in_range(value, flag: str, low, high, *, low_open: bool = False, high_open: bool = False):
    """A number outside its range, or not finite, is a usage error (exit 2), e.g. --beta 1, --smoothing
    inf."""
    if value is None:
        return None
    if not math.isfinite(value):
        raise typer.BadParameter(f"{value:g} is not a finite number", param_hint=flag)
    bad = ((low is not None and (value < low or (low_open and value == low)))
           or (high is not None and (value > high or (high_open and value == high))))
    if bad or value != value:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        allowed = f"{left}{'' if low is None else f'{low:g}'}, {'∞' if high is None else f'{high:g}'}{right}"
        raise typer.BadParameter(f"{value:g} is not in {allowed}", param_hint=flag)
    return value


def _clip_option(value: Optional[str]):
    """``--clip MIN:MAX`` → (min, max); a malformed value is a usage error (exit 2)."""
    if value is None:
        return None
    from ..weights import parse_clip

    try:
        return parse_clip(value)
    except BceWeightsError as exc:
        raise typer.BadParameter(exc.message, param_hint="--clip") from None


# ---------------------------------------------------------------------------------------------------
# Console and errors


def fail(message: str, code: int = 1) -> None:
    """One line on stderr, exit ``code`` (1: bad data or a failed check; 2: a usage mistake)."""
    _print_error(message)
    raise typer.Exit(code)


def _print_error(message: str, hint: str | None = None) -> None:
    """``Error: message (hint: ...)`` on one line: line breaks a library put in the message become
    spaces, other control characters escapes."""
    import re

    from ..report import elide_lists

    # One line, whatever a library put in the message; a list of 300 column names cut to a few.
    text = elide_lists(re.sub(r"[ \t\r\n]+", " ", message).strip()) + (f" (hint: {hint})" if hint else "")
    _stderr_console().print(f"Error: {printable(text)}", markup=False, soft_wrap=True)


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the user's mistakes (``BceWeightsError``) into one line and exit code 1 (2 for a
    ``UsageError``); ``--debug`` (or ``BCEWEIGHTS_DEBUG=1``) keeps the traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except BceWeightsError as exc:
            if _debug_enabled():
                raise
            fail(str(exc), 2 if isinstance(exc, UsageError) else 1)
        except KeyboardInterrupt:
            _stderr_console().print("Interrupted: no partial file was written; files being written "
                                    "were left as they were.", markup=False, soft_wrap=True)
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


def _param(name: str, annotation: Any, default: Any = None) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


INPUT_OPTIONS: list[inspect.Parameter] = []


def _opt(name: str, annotation: Any, default: Any = None) -> None:
    INPUT_OPTIONS.append(_param(name, annotation, default))


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
    "without header (in order), or picks them by name. With --list-column, --class-column or the long "
    "layout: the classes, in its order, and the names of label ids (id k: line k + 1; an id,name .csv "
    "such as Open Images' class descriptions names its ids). e.g. [cyan]--classes-file "
    "CLASS_ORDER.txt[/cyan].",
    rich_help_panel=LAYOUT)])
_opt("where", Annotated[Optional[list[str]], typer.Option(
    "--where", "-w", help="Keep only rows where COLUMN equals VALUE (repeatable; values of one column "
    "are alternatives, different columns must all match), e.g. [cyan]--where split=train[/cyan].",
    rich_help_panel=LAYOUT)])
_opt("id_column", Annotated[Optional[str], typer.Option(
    "--id-column", help="The sample id of each row. With --class-column: the long layout (Open Images), "
    "where the rows of one id, adjacent or not, are one sample. Otherwise the ids written with "
    "--sample-weights (key ids; default: the first non-label column named like an id). A file without "
    "header names a column by its 0-based position. e.g. [cyan]--id-column ImageID --class-column "
    "LabelName[/cyan].", rich_help_panel=LAYOUT)])
_opt("confidence_column", Annotated[Optional[str], typer.Option(
    "--confidence-column", help="Long layout: the column that says whether a row's class is there (1, a "
    "positive) or verified absent (0, a negative), e.g. [cyan]--confidence-column Confidence[/cyan]. "
    "Without it every row is a positive.", rich_help_panel=LAYOUT)])
_opt("negatives", Annotated[Optional[Negatives], typer.Option(
    "--negatives", help="Long layout: verified (default with --confidence-column: N_c = the ids with a 0 "
    "row of c and no 1; the other ids count as neither for c) or implicit (default without it: every id "
    "without a 1 row of c), e.g. [cyan]--negatives implicit[/cyan].", rich_help_panel=LAYOUT)])
_opt("quote", Annotated[Optional[str], typer.Option(
    "--quote", metavar="CHAR|none", help="The quote character of delimited text (default \"); none: "
    "quotes are plain text, e.g. [cyan]--quote none[/cyan] for GoEmotions' TSV, whose texts hold "
    "unbalanced quotes.", rich_help_panel=LAYOUT)])
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
    "to positives and negatives, e.g. [cyan]--hard[/cyan] for labels that must be 0 or 1.",
    rich_help_panel=VALUES)], False)
_opt("binarize", Annotated[Optional[float], typer.Option(
    "--binarize", help="Turn every value y into y >= THRESHOLD (counts, scores), e.g. "
    "[cyan]--binarize 0.5[/cyan].", rich_help_panel=VALUES)])

ARRAYS = "Arrays and masks"
MaskMode = _choices("MaskMode", "auto", "index", "binary", "channels")

_opt("key", Annotated[Optional[str], typer.Option(
    "--key", help="The array of a .npz, or the tensor of a .pt dict; default: the only one. "
    "e.g. [cyan]--key labels[/cyan].", rich_help_panel=ARRAYS)])
_opt("class_axis", Annotated[Optional[int], typer.Option(
    "--class-axis", help="The class axis of a multi-hot array (default: the last of [N, C]); every "
    "other axis is a sample axis. e.g. [cyan]--class-axis 0[/cyan] for a [C, N] array.",
    rich_help_panel=ARRAYS)])
_opt("label_attributes", Annotated[Optional[list[str]], typer.Option(
    "--label-attributes", callback=lambda v: _split_list(v),
    help="ARFF: the label attributes, comma-separated or repeated; default: the MULAN .xml beside the "
    ".arff, or MEKA's '-C n'. Classes keep the ARFF's column order. e.g. "
    "[cyan]--label-attributes amazed-suprised,happy-pleased[/cyan].", rich_help_panel=ARRAYS)])
_opt("mask_mode", Annotated[MaskMode, typer.Option(
    "--mask-mode", help="How mask values are read: index (class ids 0..C-1), binary (non-zero = foreground, one "
    "class), channels (files of [C, H, W] or [C, D, H, W] 0/1 channels), or auto: decided over the whole "
    "set and stated in the report (only 0/255 or 0/1 → binary; ids 0..K plus 255 → index, 255 void; "
    "else index). .npy/.npz/.pt files are multi-hot arrays [N, C] unless --mask-mode index, binary or "
    "channels is given: then .npy files are masks. e.g. [cyan]--mask-mode binary[/cyan] for instance "
    "masks.", rich_help_panel=ARRAYS)], MaskMode.auto)
_opt("num_classes", Annotated[Optional[int], typer.Option(
    "--num-classes", min=1, help="Index masks: the number of classes C (ids 0..C-1); default: the "
    "largest id seen + 1. e.g. [cyan]--num-classes 21[/cyan].", rich_help_panel=ARRAYS)])
_opt("ignore_index", Annotated[Optional[list[int]], typer.Option(
    "--ignore-index", help="A mask value that counts as neither positive nor negative (repeatable), e.g. "
    "[cyan]--ignore-index 255[/cyan] (VOC) or [cyan]--ignore-index 11[/cyan] (CamVid).",
    rich_help_panel=ARRAYS)])
_opt("file_list", Annotated[Optional[Path], typer.Option(
    "--file-list", help="A split file, one mask per line: an id (VOC's 2007_000032 → the mask of that "
    "name), a path, or 'image mask' pairs (CamVid: the last is the mask), looked up under --root, then "
    "under the LABELS folders. e.g. [cyan]bceweights compute VOC2012/SegmentationClass --file-list "
    "VOC2012/ImageSets/Segmentation/train.txt[/cyan].", rich_help_panel=ARRAYS)])
_opt("root", Annotated[Optional[Path], typer.Option(
    "--root", help="Where --file-list entries are looked up first (paths written for another machine "
    "are matched by their tail), e.g. [cyan]--root CamVid[/cyan].", rich_help_panel=ARRAYS)])
_opt("workers", Annotated[Optional[int], typer.Option(
    "--workers", min=1, help="Processes that decode masks; default: all cores. The counts do not depend "
    "on it. e.g. [cyan]--workers 4[/cyan].", rich_help_panel=ARRAYS)])

ANNOTATIONS = "Annotations (COCO, Pascal VOC, YOLO)"
Difficult = _choices("Difficult", "ignore", "positive", "negative")

_opt("no_crowd", Annotated[bool, typer.Option(
    "--no-crowd", help="COCO: leave crowd annotations (iscrowd 1) out; an image whose only annotations of a "
    "class are crowd regions counts as neither for it. e.g. [cyan]--no-crowd[/cyan].",
    rich_help_panel=ANNOTATIONS)], False)
_opt("voc_split", Annotated[Optional[str], typer.Option(
    "--voc-split", metavar="NAME", help="Pascal VOC: the split to read, the {class}_NAME.txt lists of "
    "ImageSets/Main (or, for an Annotations folder, the images of ImageSets/Main/NAME.txt), e.g. "
    "[cyan]bceweights compute VOC2007/ImageSets/Main --voc-split trainval[/cyan].",
    rich_help_panel=ANNOTATIONS)])
_opt("difficult", Annotated[Difficult, typer.Option(
    "--difficult", help="Pascal VOC: what a class with only difficult objects in an image counts as there: "
    "ignore (neither, as VOC's evaluation), positive or negative, e.g. [cyan]--difficult positive[/cyan].",
    rich_help_panel=ANNOTATIONS)], Difficult.ignore)


def spec_from_options(opts: dict[str, Any]):
    """Build the library's :class:`InputSpec` from parsed CLI options."""
    from ..policy import ValuePolicy
    from ..spec import InputSpec

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
        **_extra_spec_fields(opts),
    ).check(cli=True)


def _extra_spec_fields(opts: dict[str, Any]) -> dict[str, Any]:
    """The ``_EXTRA_SPEC_FIELDS`` options as InputSpec values: an unset option (None; Typer gives None
    for an empty list too) keeps the field's default, lists become tuples, enums their value."""
    out: dict[str, Any] = {}
    for name in [k for k in opts if k in _EXTRA_SPEC_FIELDS]:
        value = opts.pop(name)
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            value = tuple(value)
        elif isinstance(value, Enum):
            value = value.value
        out[name] = value
    return out


#: Input options added by other modules (name → InputSpec field), built into the spec as they are.
_EXTRA_SPEC_FIELDS = {"key", "class_axis", "label_attributes", "mask_mode", "num_classes", "ignore_index",
                      "file_list", "root", "workers", "id_column", "confidence_column", "negatives", "quote",
                      "no_crowd", "voc_split", "difficult"}


def _option_group(name: str, options: list[inspect.Parameter], build: Callable[[dict[str, Any]], Any]):
    """A decorator: the command shows ``options`` in place of its keyword parameter ``name`` (so
    ``--help`` keeps their order), and receives them as that one argument, ``build(parsed options)``."""
    names = {p.name for p in options}

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            opts = {k: kwargs.pop(k) for k in list(kwargs) if k in names}
            return func(*args, **kwargs, **{name: build(opts)})

        sig = inspect.signature(func)
        params = [q for p in sig.parameters.values() for q in (options if p.name == name else [p])]
        wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        hints = {k: v for k, v in func.__annotations__.items() if k != name}
        wrapper.__annotations__ = {**hints, **{p.name: p.annotation for p in options}}
        return wrapper

    return decorate


#: Every input option, received by the command as one ``spec`` argument (an InputSpec).
with_input_options = _option_group("spec", INPUT_OPTIONS, spec_from_options)


# ---------------------------------------------------------------------------------------------------
# Progress




# ---------------------------------------------------------------------------------------------------
# Commands


REPORT = "Report"
SortBy = _choices("SortBy", *SORT_KEYS)
REPORT_OPTIONS = [
    _param("json_out", Annotated[Optional[str], typer.Option(
        "--json", help="Also write the report as JSON to FILE, or to stdout with [cyan]--json -[/cyan].",
        rich_help_panel=REPORT)]),
    _param("markdown", Annotated[Optional[Path], typer.Option(
        "--markdown", help="Write the report as Markdown (for a README or model card), e.g. "
        "[cyan]--markdown balance.md[/cyan].", rich_help_panel=REPORT)]),
    _param("csv_out", Annotated[Optional[Path], typer.Option(
        "--csv", help="Write one row per class (counts, prevalence, weights, flags), e.g. "
        "[cyan]--csv classes.csv[/cyan].", rich_help_panel=REPORT)]),
    _param("plot", Annotated[Optional[Path], typer.Option(
        "--plot", help="Draw positives and pos_weight per class (log axes; rank-frequency for many "
        "classes) to a .png, .svg or .pdf, e.g. [cyan]--plot balance.png[/cyan]. Needs matplotlib (the "
        "\\[plot] extra).", rich_help_panel=REPORT)]),
    _param("title", Annotated[Optional[str], typer.Option(
        "--title", help="Title of the plot and the Markdown report (default: the dataset's name), e.g. "
        "[cyan]--title 'ChestX-ray14 train'[/cyan].", rich_help_panel=REPORT)]),
    _param("cooccurrence", Annotated[Optional[Path], typer.Option(
        "--cooccurrence", help="Write the full class x class co-occurrence counts (label tables) as CSV, "
        "e.g. [cyan]--cooccurrence pairs.csv[/cyan].", rich_help_panel=REPORT)]),
    _param("sort", Annotated[Optional[SortBy], typer.Option(
        "--sort", help="Order of the class table: name, count (most positives first) or weight (largest "
        "pos_weight, i.e. rarest, first). Default: the data's order. e.g. [cyan]--sort weight[/cyan].",
        rich_help_panel=REPORT)]),
    _param("top", Annotated[Optional[int], typer.Option(
        "--top", min=1, help="Show the first K classes of the table (by --sort, default count) and say "
        "how many are hidden, e.g. [cyan]--top 20[/cyan]. Default above 50 classes: the 10 most and the "
        "10 least frequent.", rich_help_panel=REPORT)]),
]


def _report_files(opts: dict[str, Any]):
    from ..api import ReportFiles

    sort = opts.pop("sort")
    return ReportFiles(json=opts.pop("json_out"), csv=opts.pop("csv_out"), sort=sort.value if sort else None,
                       **opts)


#: The report options, received by the command as one ``files`` argument (an api.ReportFiles).
with_report_options = _option_group("files", REPORT_OPTIONS, _report_files)

QuietOpt = Annotated[bool, typer.Option(
    "--quiet", "-q", help="Print no report, only warnings and errors (on stderr), e.g. [cyan]-q[/cyan] in a "
    "training script.",
    rich_help_panel=OUTPUT)]
WeightsArg = Annotated[Path, typer.Argument(
    help="A .pt written by [cyan]bceweights compute[/cyan], e.g. [cyan]weights.pt[/cyan].",
    metavar="WEIGHTS.pt", show_default=False)]


def _render(job, files, *, quiet: bool, name_written: bool = False) -> None:
    """Print the report (unless quiet or the JSON goes to stdout), its warnings (on stderr, always:
    ``-q`` drops the report, never a warning), then the checks. With ``-o -`` stdout carries the
    ``.pt``, so everything goes to stderr."""
    from ..io import is_stdout
    from ..outputs import printable_doc
    from .render import render_report

    pt_to_stdout = name_written and is_stdout(job.weights)
    console = _stderr_console() if pt_to_stdout else _stdout_console()
    shown = not quiet and not files.json_to_stdout
    if shown:
        doc = printable_doc({**job.report, "warnings": []})
        saved = not job.failed and job.report["summary"].get("output") is not None
        render_report(doc, console, show_usage=str(job.weights) if saved and not pt_to_stdout else None,
                      sort=files.sort, top=files.top, replaced=job.replaced,
                      unsaved=str(job.weights) if not job.failed and not saved else None)
    if job.report.get("warnings"):
        errors = _stderr_console()
        for warning in job.report["warnings"]:
            errors.print(f"warning: {warning}", markup=False, soft_wrap=True)
    if job.checks is not None:
        _print_checks(job.checks, quiet=quiet, stderr=files.json_to_stdout or pt_to_stdout)
    others = [str(p) for p in job.written if Path(p) != Path(job.weights)]
    if name_written and others and shown:
        # compute only, after its checks: `report` prints exactly the part before them.
        console.print(f"also written: {', '.join(others)}", markup=False, soft_wrap=True)


def _print_checks(checks, *, quiet: bool, stderr: bool = False) -> None:
    """One pass/fail line per check (Rich); on stderr when stdout carries JSON."""
    from .render import render_checks

    if not quiet:
        render_checks(checks, _stderr_console() if stderr else _stdout_console())


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


EXECUTION = "Execution"
Engine = _choices("Engine", "local", "dask")

EngineOpt = Annotated[Engine, typer.Option(
    "--engine", help="Where the counting runs: local (this machine) or dask (a Dask cluster; needs "
    "pip install 'bceweights\\[dask]'), e.g. [cyan]--engine dask[/cyan].", rich_help_panel=EXECUTION)]
SchedulerOpt = Annotated[Optional[str], typer.Option(
    "--scheduler", help="With --engine dask: the address of an existing cluster's scheduler, e.g. "
    "[cyan]--scheduler tcp://10.0.0.5:8786[/cyan]. Default: a local cluster, one process per core.",
    rich_help_panel=EXECUTION)]


def _engine_args(engine: Engine, scheduler: Optional[str]) -> dict[str, Any]:
    if scheduler is not None and engine is not Engine.dask:
        raise typer.BadParameter("needs --engine dask", param_hint="--scheduler")
    return {"engine": engine.value, "scheduler": scheduler}


VALIDATION = "Validation"
Device = _choices("Device", "cpu", "cuda")

DeviceOpt = Annotated[Device, typer.Option(
    "--device", help="Where the loss checks run: cpu, or cuda where torch sees a GPU, e.g. "
    "[cyan]--device cuda[/cyan].",
    rich_help_panel=VALIDATION)]
NoValidateOpt = Annotated[bool, typer.Option(
    "--no-validate", help="Skip the loss checks (broadcast, numeric, balance, sanity) that run before "
    "the .pt is saved, e.g. [cyan]--no-validate[/cyan] once [cyan]bceweights validate[/cyan] has passed "
    "on the same labels.", rich_help_panel=VALIDATION)]


@app.command()
@handle_errors
@with_report_options
@with_input_options
def compute(
    labels: Annotated[list[str], typer.Argument(
        help="Label files, directories or globs, counted together, e.g. [cyan]train.csv[/cyan]; or URLs "
        "(s3://, gs://, az://, https://, hf://; a prefix or a glob), e.g. [cyan]s3://bucket/labels/[/cyan].",
        show_default=False)],
    *,
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Where to save the .pt, e.g. [cyan]-o weights.pt[/cyan]; [cyan]-o -[/cyan] "
        "writes it to stdout (the report then goes to stderr). Never an input or another output.",
        rich_help_panel=OUTPUT)] = Path("weights.pt"),
    files: Any = None,
    quiet: QuietOpt = False,
    normalize: Annotated[Normalize, typer.Option(
        "--normalize", help="Rescale class weights: none, mean (mean 1) or sum (sum 1), e.g. "
        "[cyan]--normalize mean[/cyan].", rich_help_panel=WEIGHTS)] = Normalize.none,
    zero_positives: Annotated[ZeroPositives, typer.Option(
        "--zero-positives", help="A class with no positive (or rare, see --min-count): warn (pos_weight "
        "1, class weight = the largest other), skip (class weight 0) or error (exit 1), e.g. "
        "[cyan]--zero-positives skip[/cyan].", rich_help_panel=WEIGHTS)]
    = ZeroPositives.warn,
    strict: Annotated[bool, typer.Option(
        "--strict", help="A class without positives (or rare, with --min-count) is an error (exit 1) "
        "instead of a warning: same as --zero-positives error. e.g. [cyan]--strict[/cyan] in CI.",
        rich_help_panel=WEIGHTS)] = False,
    scheme: Annotated[Scheme, typer.Option(
        "--scheme", help="Class-weight formula (P positives, n = P + N, C classes): inverse n/(C·P); "
        "inverse-sqrt sqrt(n/P); effective-number (1-β)/(1-β^P), mean 1 (Cui 2019); median-frequency "
        "median(f)/f, f = P / pixels of the images holding the class (masks only; Eigen & Fergus); "
        "enet 1/ln(k + P/n) (ENet). e.g. [cyan]--scheme effective-number --beta 0.999[/cyan].",
        rich_help_panel=WEIGHTS)] = Scheme.inverse,
    beta: Annotated[float, typer.Option(
        "--beta", callback=lambda v: _in_range(v, "--beta", 0, 1, high_open=True),
        help="β of --scheme effective-number, in [0, 1), e.g. [cyan]--beta 0.99[/cyan].",
        rich_help_panel=WEIGHTS)] = 0.999,
    enet_k: Annotated[float, typer.Option(
        "--enet-k", callback=lambda v: _in_range(v, "--enet-k", 1, None, low_open=True),
        help="k of --scheme enet, above 1, e.g. [cyan]--enet-k 1.1[/cyan].",
        rich_help_panel=WEIGHTS)] = 1.02,
    min_count: Annotated[float, typer.Option(
        "--min-count", metavar="K", callback=lambda v: _in_range(v, "--min-count", 0, None),
        help="A class with fewer than K positives (but some) is rare and "
        "follows --zero-positives: warn caps its pos_weight and class weight at the largest of the "
        "other classes, skip gives it class weight 0, error exits 1. Default 0: off. "
        "e.g. [cyan]--min-count 10[/cyan].",
        rich_help_panel=WEIGHTS)] = 0.0,
    clip: Annotated[Optional[str], typer.Option(
        "--clip", metavar="MIN:MAX", callback=_clip_option, help="Bound pos_weight and class weights "
        "alike, applied last (after --normalize); either side may be empty, e.g. [cyan]--clip :50[/cyan]. "
        "A skipped class keeps class weight 0.", rich_help_panel=WEIGHTS)] = None,
    smoothing: Annotated[float, typer.Option(
        "--smoothing", metavar="K", callback=lambda v: _in_range(v, "--smoothing", 0, None),
        help="Add K to every class's positives and negatives before the "
        "formulas: pos_weight = (N+K)/(P+K), e.g. [cyan]--smoothing 1[/cyan] (Laplace).",
        rich_help_panel=WEIGHTS)] = 0.0,
    sample_weights: Annotated[Optional[Path], typer.Option(
        "--sample-weights", metavar="FILE.pt", help="Also write per-row weights for "
        "WeightedRandomSampler: keys weights (float64 [N], row order), rows, file_index, files, ids "
        "(with an id column), groups, group_weight, and repeat_factors with --repeat-threshold. A row "
        "weighs the largest weight of its positive labels; a row without any, the weight of the "
        "'no label' group (one more class for the scheme). e.g. [cyan]--sample-weights sampler.pt[/cyan].",
        rich_help_panel=SAMPLING)] = None,
    sample_reduce: Annotated[Optional[SampleReduce], typer.Option(
        "--sample-reduce", help="How a row combines the weights of its positive labels: max (default) "
        "or mean, e.g. [cyan]--sample-reduce mean[/cyan].", rich_help_panel=SAMPLING)] = None,
    repeat_threshold: Annotated[Optional[float], typer.Option(
        "--repeat-threshold", metavar="T",
        callback=lambda v: _in_range(v, "--repeat-threshold", 0, None, low_open=True),
        help="Also write LVIS repeat factors (key repeat_factors): r_c = max(1, sqrt(T / f_c)), f_c = "
        "fraction of rows holding c; a row takes the max over its labels (1 without any). On COCO/LVIS "
        "JSON a row is an image: detectron2's RepeatFactorTrainingSampler factors. e.g. "
        "[cyan]--repeat-threshold 0.001[/cyan].",
        rich_help_panel=SAMPLING)] = None,
    flat: Annotated[bool, typer.Option(
        "--flat", help="Save pos_weight and class_weight of masks as [C] (default: [C, 1, 1] for 2-D, "
        "[C, 1, 1, 1] for 3-D masks, which broadcast over an [N, C, H, W] / [N, C, D, H, W] target), "
        "e.g. [cyan]--flat[/cyan] when the training code reshapes the weights itself.",
        rich_help_panel=OUTPUT)] = False,
    no_save: Annotated[bool, typer.Option(
        "--no-save", help="Print the report (and write the report files asked for) without saving the "
        ".pt, e.g. [cyan]--no-save[/cyan] for a first look.", rich_help_panel=OUTPUT)] = False,
    engine: EngineOpt = Engine.local,
    scheduler: SchedulerOpt = None,
    no_validate: NoValidateOpt = False,
    device: DeviceOpt = Device.cpu,
    spec: Any = None,
) -> None:
    """Count labels, compute pos_weight and class weights, save a .pt and print the report.

    Examples:
      [cyan]bceweights compute sample_data/chest_xray_labels.csv[/cyan]
      [cyan]bceweights compute Data_Entry_2017.csv --list-column 'Finding Labels' -o cxr14.pt[/cyan]
    """
    from .. import api
    from ..weights import WeightOptions

    try:
        options = WeightOptions(scheme=scheme.value, normalize=normalize.value,
                                zero_positives="error" if strict else zero_positives.value, beta=beta,
                                enet_k=enet_k, min_count=min_count, clip=clip, smoothing=smoothing)
    except OptionsError as exc:  # a flag's value: a usage mistake, whatever the library calls it
        raise UsageError(exc.message, hint=exc.hint) from None
    job = api.run_compute(
        labels, spec, options, output=output, files=files, flat=flat, save=not no_save,
        validate=not no_validate,
        device=device.value, sample_weights=sample_weights,
        sample_options=_sample_options(sample_weights, sample_reduce, repeat_threshold, spec),
        progress=RichProgress(), **_engine_args(engine, scheduler))
    _render(job, files, quiet=quiet, name_written=True)
    job.raise_if_failed()


@app.command()
@handle_errors
@with_input_options
def validate(
    weights: WeightsArg,
    labels: Annotated[list[str], typer.Argument(
        help="The label files the weights are for (counted again), with the same options as compute.",
        show_default=False)],
    *,
    device: DeviceOpt = Device.cpu,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="Print only errors, e.g. [cyan]-q[/cyan] in CI (the exit code says pass "
        "or fail).", rich_help_panel=OUTPUT)] = False,
    engine: EngineOpt = Engine.local,
    scheduler: SchedulerOpt = None,
    spec: Any = None,
) -> None:
    """Check a .pt against its labels by running BCEWithLogitsLoss; exit 1 on any failure.

    One pass/fail line per check: sanity, broadcast, numeric, balance.

    Examples:
      [cyan]bceweights validate weights.pt sample_data/chest_xray_labels.csv --where split=train[/cyan]
      [cyan]bceweights validate cxr14.pt train_list.txt --no-header --classes-file CLASS_ORDER.txt[/cyan]
    """
    from ..api import validate_paths

    with RichProgress() as progress:
        checks = validate_paths(weights, labels, spec, device=device.value, progress=progress,
                                **_engine_args(engine, scheduler))
    _print_checks(checks, quiet=quiet)
    checks.raise_if_failed()


@app.command("report")
@handle_errors
@with_report_options
def report_command(
    weights: WeightsArg,
    *,
    files: Any = None,
    quiet: QuietOpt = False,
) -> None:
    """Print a saved .pt's report again, and write its files, without re-reading the labels.

    Examples:
      [cyan]bceweights report weights.pt --sort weight --top 20[/cyan]
      [cyan]bceweights report weights.pt --markdown balance.md --plot balance.png[/cyan]
    """
    from .. import api

    _render(api.run_report(weights, files), files, quiet=quiet)


def _sample_options(path, reduce, threshold, spec):
    """The per-sample options; None without --sample-weights, which each of their flags needs
    (``--id-column`` also serves the long layout, with --class-column)."""
    if path is None:
        for flag, value in (("--sample-reduce", reduce), ("--repeat-threshold", threshold)):
            if value is not None:
                raise typer.BadParameter("needs --sample-weights FILE.pt", param_hint=flag)
        if spec.id_column is not None and spec.class_column is None:
            raise typer.BadParameter("needs --sample-weights FILE.pt (the ids it writes) or --class-column "
                                     "(the long layout: one sample per id)", param_hint="--id-column")
        return None
    from ..sampling import SampleOptions

    return SampleOptions(reduce=(reduce or SampleReduce.max).value, repeat_threshold=threshold,
                         id_column=spec.id_column or "auto")


def main() -> None:
    # The only BLAS work is the co-occurrence product, one small matrix a batch: OpenBLAS's threads
    # spin between batches and starve Arrow's parser, 3x slower on label lists (benchmarks/RESULTS.md).
    # Set before NumPy loads, for this process only; a user's own setting wins.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        app()
    except SystemExit as exc:
        _exit(exc)
        raise
    _exit(SystemExit(0))


def _exit(exc: SystemExit) -> None:
    """Leave without the interpreter's teardown once torch is loaded: freeing torch's modules takes
    0.4-0.5 s after the work is done (benchmarks/RESULTS.md). The exit handlers still run and the
    streams are flushed first; every output file is closed by then."""
    if "torch" not in sys.modules or not isinstance(exc.code, (int, type(None))):
        return
    import atexit

    atexit._run_exitfuncs()
    import contextlib

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more can reach it
            stream.flush()
    os._exit(exc.code or 0)
