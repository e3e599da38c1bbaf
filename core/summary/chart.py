"""The summary chart as a PNG: tasks by status for each leader, and progress to the year's
targets. Drawn with matplotlib's Agg backend (no display, no pyplot state) in the font shipped
in `core/fonts`, so Chinese labels never turn into tofu boxes whatever the server has."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING

from core.enums import Status
from core.summary.data import Summary
from core.summary.render import amount_text, scope_text, target_label, unit_label
from core.texts import plain, t
from core.views import Look, fmt_date, status_label

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)
# matplotlib takes most of a second to import: it is imported when a chart is first drawn.

FONT_PATH = Path(__file__).resolve().parent.parent / "fonts" / "DubanSans-Regular.otf"
FONT_FAMILY = "Duban Sans"
WIDTH, HEIGHT, DPI = 1280, 960, 160
STATUS_COLOURS = {
    Status.NOT_STARTED: "#bab0ac", Status.PREPARING: "#4e79a7", Status.SUBMITTED: "#f28e2b",
    Status.RECOMMENDED: "#edc948", Status.APPROVED: "#59a14f", Status.REJECTED: "#e15759",
    Status.WITHDRAWN: "#9c755f",
}
# rc settings are global to the process: one chart at a time.
_drawing = threading.Lock()


@cache
def _font_charmap() -> frozenset[int]:
    from matplotlib.font_manager import fontManager
    from matplotlib.ft2font import FT2Font

    fontManager.addfont(str(FONT_PATH))
    return frozenset(FT2Font(str(FONT_PATH)).get_charmap())


@contextmanager
def chart_style() -> Iterator[None]:
    """Where charts are drawn: the shipped font first (DejaVu Sans for what it lacks)."""
    import matplotlib

    _font_charmap()
    with _drawing, matplotlib.rc_context({"font.family": [FONT_FAMILY, "DejaVu Sans"]}):
        yield


def chart_png(look: Look, summary: Summary) -> bytes:
    """WIDTH × HEIGHT pixels. CPU-bound: call it in a thread from async code."""
    buffer = BytesIO()
    with chart_style():
        figure = draw(look, summary)
        figure.savefig(buffer, format="png", dpi=DPI)
    missing = missing_glyphs(figure)
    if missing:
        log.warning("the chart font lacks %d characters: %s", len(missing),
                    "".join(sorted(missing)))
    return buffer.getvalue()


def draw(look: Look, summary: Summary) -> Figure:
    """The figure, to be drawn inside `chart_style()`."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI, layout="constrained")
    scope = plain(scope_text(look.lang, summary))
    figure.suptitle(f"{scope} · {plain(fmt_date(look, summary.now))}", fontsize=11)
    status_axes, target_axes = figure.subplots(2, 1, height_ratios=[3, 2])
    _status_by_leader(status_axes, look.lang, summary)
    _targets(target_axes, look.lang, summary)
    return figure


def missing_glyphs(figure: Figure) -> set[str]:
    """Characters of the figure's texts that the chart font has no glyph for."""
    from matplotlib.text import Text

    charmap = _font_charmap()
    texts = [text.get_text() for text in figure.findobj(Text)]
    return {char for text in texts for char in text if ord(char) not in charmap}


def _status_by_leader(axes: Axes, lang: str, summary: Summary) -> None:
    from matplotlib.ticker import MaxNLocator

    axes.set_title(plain(t(lang, "chart.status_title")), fontsize=10, loc="left")
    lines = [line for line in summary.leaders if line.counts]
    if not lines:
        _empty(axes, plain(t(lang, "chart.no_tasks")))
        return
    names = [line.leader.name if line.leader else plain(t(lang, "summary_no_leader"))
             for line in lines]
    rows = range(len(lines))
    left = [0] * len(lines)
    for status in Status:
        widths = [line.counts.get(status, 0) for line in lines]
        if any(widths):
            axes.barh(rows, widths, left=left, color=STATUS_COLOURS[status],
                      label=plain(status_label(lang, status)))
            left = [a + b for a, b in zip(left, widths, strict=True)]
    axes.set_yticks(list(rows), names, fontsize=9)
    axes.invert_yaxis()  # the most urgent leader on top, as in the text
    axes.set_xlabel(plain(t(lang, "chart.tasks_axis")), fontsize=8)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend(fontsize=7, ncols=4, loc="lower right", bbox_to_anchor=(1, 1), frameon=False)
    axes.spines[["top", "right"]].set_visible(False)


def _targets(axes: Axes, lang: str, summary: Summary) -> None:
    axes.set_title(plain(t(lang, "chart.targets_title", year=summary.year)), fontsize=10,
                   loc="left")
    if not summary.targets:
        _empty(axes, plain(t(lang, "chart.no_targets")))
        return
    rows = range(len(summary.targets))
    percents = [min(p.percent or 0, 100) for p in summary.targets]
    axes.barh(rows, [100] * len(percents), color="#e8e8e8")
    axes.barh(rows, percents, color="#59a14f")
    for row, progress in zip(rows, summary.targets, strict=True):
        reached = amount_text(progress.actual) if progress.actual is not None else "—"
        label = f"{reached} / {amount_text(progress.target)}{unit_label(lang, progress)}"
        if progress.percent is not None:
            label += f"  {progress.percent}%"
        axes.text(2, row, label, va="center", fontsize=8)
    axes.set_yticks(list(rows), [plain(target_label(lang, p)) for p in summary.targets],
                    fontsize=9)
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    axes.set_xlabel(plain(t(lang, "chart.percent_axis")), fontsize=8)
    axes.spines[["top", "right"]].set_visible(False)


def _empty(axes: Axes, message: str) -> None:
    axes.text(0.5, 0.5, message, ha="center", va="center", fontsize=10,
              transform=axes.transAxes)
    axes.set_axis_off()
