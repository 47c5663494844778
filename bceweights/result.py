"""What ``compute`` returns: the counts, the weights computed from them, and what produced them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .counts import Counts
from .weights import Weights


@dataclass(repr=False)
class Result:
    """Counts, the weights computed from them, and what produced them.

    As a person reads it: :meth:`report` (the text ``compute`` prints), :meth:`to_frame` (the class
    table as a pandas DataFrame), :meth:`plot` (the ``--plot`` picture, to a file or a matplotlib Axes).
    """

    counts: Counts
    weights: Weights
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def classes(self) -> list[str]:
        return self.counts.classes

    @property
    def spatial_ndim(self) -> int:
        return self.counts.spatial_ndim

    def weight_shape(self, *, flat: bool = False) -> list[int]:
        """``[C]`` for tables and arrays (or ``flat``), ``[C, 1, 1]`` for 2-D masks, ``[C, 1, 1, 1]`` for
        3-D volumes: the shape that broadcasts over a channels-first target."""
        from .payload import weight_shape

        return weight_shape(self.counts.num_classes, self.spatial_ndim, flat=flat)

    def payload(self, *, flat: bool = False) -> dict[str, Any]:
        """The ``.pt`` dict (see :mod:`bceweights.payload` for the contract)."""
        from .payload import encode

        return encode(self.counts, self.weights, self.meta, flat=flat)

    def save(self, path: str | Path, *, flat: bool = False) -> Path:
        from .io import save

        return save(self.payload(flat=flat), path)

    def build_report(self, *, output: str | Path | None = None) -> dict[str, Any]:
        """The report as plain values: the ``--json`` document (keys in :mod:`bceweights.report`)."""
        from .report import build_report

        return build_report(self, output=None if output is None else str(output))

    def to_frame(self):
        """The per-class table as a :class:`pandas.DataFrame`, one row per class in the data's order,
        indexed by class name: ``positives``, ``negatives``, ``prevalence`` (a fraction),
        ``pos_weight``, ``class_weight`` (as saved: float32 values), ``ignored``, ``missing``,
        ``uncertain``, ``soft``, ``images`` (masks: images holding the class) and ``flags`` (a list)."""
        import pandas as pd

        rows = self.build_report()["classes"]
        columns = ["positives", "negatives", "prevalence", "pos_weight", "class_weight", "ignored", "missing",
                   "uncertain", "soft", *(["images"] if self.counts.image_count is not None else []), "flags"]
        frame = pd.DataFrame([{k: r[k] for k in columns} for r in rows], columns=columns,
                             index=pd.Index([r["class"] for r in rows], name="class"))
        for name in ("positives", "negatives", "ignored", "missing", "uncertain", "soft"):
            frame[name] = frame[name].astype("float64")
        return frame

    def report(self, *, sort: str | None = None, top: int | None = None, width: int = 100) -> str:
        """The report as ``bceweights compute`` prints it, as plain text wrapped to ``width`` columns
        (no colour). ``sort`` (name, count, weight) and ``top`` as ``--sort`` and ``--top``."""
        import io as _io

        from rich.console import Console

        from .cli.render import render_report

        buf = _io.StringIO()
        # A terminal without colour: lines wrapped to the width, no escape codes.
        console = Console(file=buf, width=width, force_terminal=True, color_system=None, highlight=False,
                          legacy_windows=False, emoji=False)
        render_report(self.build_report(), console, sort=sort, top=top)
        return "\n".join(line.rstrip() for line in buf.getvalue().splitlines()) + "\n"

    def plot(self, path_or_ax: str | Path | Any = None, *, title: str | None = None) -> Any:
        """The ``--plot`` picture. A path (.png, .svg or .pdf) writes it and returns the path; a
        matplotlib ``Axes`` gets the positives and ``pos_weight`` per class drawn into it (returned);
        ``None`` returns the :class:`matplotlib.figure.Figure`. Needs matplotlib."""
        from . import plot

        doc = self.build_report()
        if path_or_ax is None:
            return plot.figure(doc, title=title)
        if isinstance(path_or_ax, (str, Path)):
            return plot.save_plot(doc, path_or_ax, title=title)
        plot.draw(doc, path_or_ax)
        if title:
            path_or_ax.set_title(title)
        return path_or_ax

    def __repr__(self) -> str:
        from .report import fmt_weight, plural, unit_words

        c = self.counts
        positive, sample = unit_words({"unit": "pixel" if c.spatial_ndim else "sample",
                                       "spatial_ndim": c.spatial_ndim})
        name = ""
        inputs = self.meta.get("inputs") or []
        if inputs:
            from .report import dataset_name

            name = f"{dataset_name(inputs)!r}: "
        size = plural(c.samples, sample) + (f", {plural(c.pixels, positive)}" if c.spatial_ndim else "")
        text = f"Result({name}{size}, {plural(c.num_classes, 'class')}, scheme {self.weights.options.scheme}"
        present = c.pos > 0
        if present.any():
            import numpy as np

            rarest = int(np.flatnonzero(present)[np.argmin(c.pos[present])])
            text += (f"; rarest {c.classes[rarest]!r} ({plural(c.pos[rarest], positive)}, pos_weight "
                     f"{fmt_weight(float(self.weights.pos_weight[rarest]))})")
        return text + ")"

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> Result:
        """Rebuild a result from a loaded ``.pt`` (no data is re-read)."""
        from .payload import decode

        decoded = decode(data)
        return cls(decoded.counts, decoded.weights, decoded.meta)
