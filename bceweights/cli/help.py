"""How ``--help`` reads: every option in one of seven panels, in the order a user needs them, with a
one-line text and a word for its value (no Typer type noise). The long texts written beside each option
in ``cli/__init__.py`` stay the reference: ``docs/cli.md`` shows them under each command's help."""

from __future__ import annotations

from typing import Any

#: The panels, in the order ``--help`` shows them.
PANELS = ("Input", "Table layout", "Label values", "Weights", "Output", "Report", "Execution")

#: Per option (its first long flag): (panel, the word for its value or "" for a flag, one-line help,
#: with the default where it matters). Within a panel, options show in this order.
OPTIONS: dict[str, tuple[str, str, str]] = {
    # Input
    "--format": ("Input", "NAME", "Format when the name does not tell: csv, coco, png ..."),
    "--classes-file": ("Input", "FILE", "Class names: a name a line, a YOLO .yaml or id,name .csv"),
    "--file-list": ("Input", "FILE", "A split file naming the masks (ids, paths or pairs)"),
    "--root": ("Input", "DIR", "Where --file-list entries are looked up first"),
    "--key": ("Input", "NAME", "The array of a .npz, or the tensor of a .pt dict"),
    "--class-axis": ("Input", "AXIS", "The class axis of an array, e.g. 0 for [C, N]"),
    "--label-attributes": ("Input", "NAMES", "ARFF: the label attributes, comma-separated"),
    "--voc-split": ("Input", "NAME", "Pascal VOC: the split to read, e.g. trainval"),
    # Table layout
    "--columns": ("Table layout", "NAMES", "Wide layout: the 0/1 label columns (default: found)"),
    "--exclude-columns": ("Table layout", "NAMES", "Columns, or labels, to leave out"),
    "--list-column": ("Table layout", "COLUMN", "The column of label lists such as A|B|C"),
    "--separator": ("Table layout", "CHAR", "The separator in --list-column (default: found)"),
    "--class-column": ("Table layout", "COLUMN", "One class per row (with --id-column: long layout)"),
    "--id-column": ("Table layout", "COLUMN", "Sample ids: of the long layout, of --sample-weights"),
    "--confidence-column": ("Table layout", "COLUMN", "Long layout: 1 (present) or 0 (absent)"),
    "--where": ("Table layout", "COL=VALUE", "Keep only the rows where COL equals VALUE"),
    "--no-header": ("Table layout", "", "The first line is data (columns column_1 ...)"),
    "--delimiter": ("Table layout", "CHAR", "The field delimiter (default: found), e.g. tab"),
    "--quote": ("Table layout", "CHAR", "The quote character, or none (default: \")"),
    # Label values
    "--uncertain": ("Label values", "HOW", "-1 counts as: ignore (default), positive, negative"),
    "--missing": ("Label values", "HOW", "A blank counts as: negative (default), ignore"),
    "--ignore-value": ("Label values", "VALUE", "A value that counts as neither (repeatable)"),
    "--hard": ("Label values", "", "Only 0 and 1 are labels: a soft value is an error"),
    "--binarize": ("Label values", "T", "Count a value y >= T as positive (scores)"),
    "--negatives": ("Label values", "HOW", "Long layout: verified (default) or implicit"),
    "--mask-mode": ("Label values", "MODE", "Masks: auto (default), index, binary, channels"),
    "--num-classes": ("Label values", "C", "Index masks: C classes, ids 0..C-1"),
    "--ignore-index": ("Label values", "VALUE", "A mask value that counts as neither, e.g. 255"),
    "--difficult": ("Label values", "HOW", "VOC difficult: ignore (default), positive, negative"),
    "--no-crowd": ("Label values", "", "COCO: leave crowd annotations out"),
    # Weights
    "--scheme": ("Weights", "NAME", "Class weights: inverse (default), effective-number ..."),
    "--normalize": ("Weights", "HOW", "Rescale class weights: none (default), mean, sum"),
    "--zero-positives": ("Weights", "HOW", "No positive: warn (default), skip or error"),
    "--strict": ("Weights", "", "A class without positives is an error (exit 1)"),
    "--min-count": ("Weights", "K", "Under K positives is rare: weights capped"),
    "--clip": ("Weights", "MIN:MAX", "Bound pos_weight and class weights, e.g. :50"),
    "--smoothing": ("Weights", "K", "Add K to positives and negatives, e.g. 1"),
    "--beta": ("Weights", "BETA", "β of effective-number, in [0, 1) (default 0.999)"),
    "--enet-k": ("Weights", "K", "k of enet, above 1 (default 1.02)"),
    "--sample-reduce": ("Weights", "HOW", "A sample's weight: max (default) or mean of labels"),
    "--repeat-threshold": ("Weights", "T", "Also write LVIS/detectron2 repeat factors"),
    # Output
    "--output": ("Output", "FILE", "The .pt to write (default weights.pt; - stdout)"),
    "--no-save": ("Output", "", "Print the report, write no .pt"),
    "--flat": ("Output", "", "Mask weights as [C], not [C, 1, 1]"),
    "--sample-weights": ("Output", "FILE", "Also write per-sample weights for a sampler"),
    "--quiet": ("Output", "", "No report (warnings and errors still)"),
    # Report
    "--json": ("Report", "FILE", "Write the report as JSON (- for stdout)"),
    "--markdown": ("Report", "FILE", "Write the report as Markdown"),
    "--csv": ("Report", "FILE", "Write one row per class as CSV"),
    "--plot": ("Report", "FILE", "Draw the classes to a .png, .svg or .pdf"),
    "--title": ("Report", "TEXT", "The title of the plot and the Markdown"),
    "--cooccurrence": ("Report", "FILE", "Write the label-pair counts as CSV"),
    "--sort": ("Report", "KEY", "Table order: name, count or weight"),
    "--top": ("Report", "K", "Show only the first K classes of the table"),
    # Execution
    "--engine": ("Execution", "NAME", "Where to count: local (default) or dask"),
    "--scheduler": ("Execution", "ADDRESS", "With --engine dask: a cluster's scheduler"),
    "--workers": ("Execution", "N", "Processes decoding masks (default: all cores)"),
    "--device": ("Execution", "NAME", "Loss checks on cpu (default) or cuda"),
    "--no-validate": ("Execution", "", "Skip the loss checks"),
    "--help": ("Execution", "", "Show this message and exit"),
    "--version": ("Execution", "", "Show the version and exit"),
    "--debug": ("Execution", "", "Show full tracebacks for errors"),
    "--install-completion": ("Execution", "", "Install completion for the current shell"),
    "--show-completion": ("Execution", "", "Show completion for the current shell"),
}

#: The arguments' one-line help.
ARGUMENTS: dict[str, str] = {
    "labels": "Label files, folders, globs or URLs (s3://, https:// ...)",
    "weights": "A .pt written by bceweights compute",
}

_ORDER = {flag: i for i, flag in enumerate(OPTIONS)}


def _flag(param: Any) -> str | None:
    return next((o for o in param.opts if o.startswith("--")), None)


def tidy_app(group: Any) -> None:
    """The app's own options (``--version``, ``--debug``, ``--help``): one-line help, no type noise;
    they keep the one panel of the app's help."""
    for param in group.params:
        flag = _flag(param)
        if flag in OPTIONS:
            _, word, text = OPTIONS[flag]
            param.details, param.help, param.metavar = param.help, text, word
    _tidy_help(group, panel=False)


def _tidy_help(command: Any, *, panel: bool = True) -> None:
    """``--help`` of ``command`` in the Execution panel (``panel``), with one line and no type."""
    make_help = command.get_help_option

    def get_help_option(ctx):
        option = make_help(ctx)
        if option is not None:
            where, word, text = OPTIONS["--help"]
            option.metavar, option.help = word, text
            if panel:
                option.rich_help_panel = where
        return option

    command.get_help_option = get_help_option


def tidy(command: Any, ctx: Any = None) -> Any:
    """Give ``command``'s options their panel, value word and one-line help (the long text kept as
    ``param.details`` for docs/cli.md), in panel order; its help option too. Returns ``command``."""
    if getattr(command, "_bceweights_tidy", False):
        return command
    for param in command.params:
        flag = _flag(param)
        if flag is None:
            word = param.metavar or param.name.upper()
            shown = word + ("..." if param.nargs != 1 else "")
            param.details, param.help, param.metavar = param.help, ARGUMENTS.get(param.name, param.help), word
            param._usage_display_name = lambda shown=shown: shown
            param.display_type_rich = lambda ctx: None
            continue
        panel, word, text = OPTIONS[flag]
        param.details = param.help
        param.help, param.rich_help_panel, param.metavar = text, panel, word
        # Defaults and ranges beside the text are noise on one line: the text says a default that
        # matters, and a value out of range is refused with the range in its message.
        param.show_default = False
        param._get_number_range_help_str = lambda: None
    command.params.sort(key=lambda p: (PANELS.index(p.rich_help_panel), _ORDER[_flag(p)]) if _flag(p) else (-1, 0))
    _tidy_help(command)
    command._bceweights_tidy = True
    return command
