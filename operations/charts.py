"""Charts drawn on the server as SVG: no JavaScript, nothing fetched from elsewhere.

A `Chart` (operations.figures) becomes one `<svg role="img">` with its title and a description of
what it shows, axes, gridlines, one colour per series with a legend, and every value written next
to its mark. Each mark and each value carries `data-row` (the label's index) and `data-col` (the
series' index, from 1 as in `Chart.table()`), the same coordinates as the table beside it, whose
cells are written by the same `cell_text`: what is drawn is what the table says.

Every label is escaped. A chart with nothing to draw says so instead of drawing empty axes. The
`viewBox` lets the drawing scale to the width of a phone."""

import math
import textwrap
from collections.abc import Callable
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from operations.figures import Cell, Chart

# Okabe–Ito: told apart by people with the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")

WIDTH = 720
PLOT_HEIGHT = 240
MARGIN_LEFT = 64
MARGIN_RIGHT = 20
LEGEND_ROW = 22
AXIS_LABELS = 64  # room under the plot for the slanted category labels
TICKS = 5
# Category labels written under the axis at most; with more, every n-th (the table has all).
MAX_AXIS_LABELS = 14
# The least room a label's values get: with more labels the drawing grows wider (and the page
# lets it scroll) rather than writing numbers over each other.
LINE_SLOT = 46
BAR_SLOT_PER_SERIES = 26


def chart_width(chart: Chart) -> int:
    """The drawing's width in its own units: WIDTH, or wider for many labels."""
    slot = LINE_SLOT if chart.kind == "line" else BAR_SLOT_PER_SERIES * max(1, len(chart.series))
    return max(WIDTH, MARGIN_LEFT + MARGIN_RIGHT + slot * len(chart.labels))


def cell_text(cell: Cell) -> str:
    """A cell as the table and the chart both write it: a number without trailing noise, a dash
    for nothing."""
    if cell is None:
        return "—"
    if isinstance(cell, bool):
        return "yes" if cell else "no"
    if isinstance(cell, Decimal):
        text = format(cell, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    return str(cell)


def _number(cell: Cell) -> float | None:
    if cell is None or isinstance(cell, str | bool):
        return None
    return float(cell)


def is_empty(chart: Chart) -> bool:
    """Nothing to draw: no labels, or not one number among the series."""
    return not chart.labels or all(
        _number(value) is None for series in chart.series for value in series.values
    )


def _nice_step(span: float) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) that cuts `span` into about TICKS."""
    raw = span / (TICKS - 1)
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if factor * power >= raw:
            return factor * power
    return 10 * power  # pragma: no cover - the loop always answers


def _scale(chart: Chart) -> tuple[float, float, float]:
    """The axis' bottom, top and step: zero always in range, the extremes rounded out."""
    numbers = [n for s in chart.series for v in s.values if (n := _number(v)) is not None]
    low, high = min(0.0, *numbers), max(0.0, *numbers)
    if low == high:
        high = low + 1
    step = _nice_step(high - low)
    return math.floor(low / step) * step, math.ceil(high / step) * step, step


def _tick_text(value: float) -> str:
    return f"{value:.10g}" if value != int(value) else str(int(value))


def _describe(chart: Chart, title: str) -> str:
    kind = "Line chart" if chart.kind == "line" else "Bar chart"
    names = ", ".join(series.label for series in chart.series)
    unit = f" ({chart.unit})" if chart.unit else ""
    return f"{title}: {kind.lower()} of {names}{unit} by {chart.axis.lower()}"


def chart_svg(chart: Chart, *, title: str) -> SafeString:
    """The chart as an inline SVG (or its empty state): safe to put in a page as it is."""
    label = _describe(chart, title)
    if is_empty(chart):
        # Every text in it escaped above.
        return mark_safe(  # noqa: S308
            f'<svg class="chart chart-empty" role="img" viewBox="0 0 {WIDTH} 80" '
            f'aria-label="{escape(title)}: nothing to show for this period">'
            f"<title>{escape(title)}: nothing to show for this period</title>"
            f'<text x="{WIDTH / 2}" y="44" text-anchor="middle" class="empty-note">'
            "Nothing to show for this period.</text></svg>"
        )
    width = chart_width(chart)
    legend_rows = _legend_rows(chart)
    top = 12 + LEGEND_ROW * len(legend_rows) + 20  # room for a value written above the top
    height = top + PLOT_HEIGHT + AXIS_LABELS
    # A wide drawing keeps its numbers readable: never drawn narrower than 3/4 of its units.
    floor = f' style="min-width:{round(width * 0.75)}px"' if width > WIDTH else ""
    parts = [
        f'<svg class="chart chart-{chart.kind}" role="img" viewBox="0 0 {width} {height}" '
        f'preserveAspectRatio="xMidYMin meet" aria-label="{escape(label)}"{floor}>',
        f"<title>{escape(label)}</title>",
        *_legend(chart, legend_rows),
    ]
    low, high, step = _scale(chart)
    plot_width = width - MARGIN_LEFT - MARGIN_RIGHT

    def y_of(value: float) -> float:
        return round(top + PLOT_HEIGHT * (high - value) / (high - low), 1)

    # Gridlines and the value axis, with its unit.
    ticks = round((high - low) / step)
    for n in range(ticks + 1):
        value = low + n * step
        y = y_of(value)
        parts.append(
            f'<line class="grid{" zero" if value == 0 else ""}" x1="{MARGIN_LEFT}" y1="{y}" '
            f'x2="{width - MARGIN_RIGHT}" y2="{y}"/>'
            f'<text class="tick" x="{MARGIN_LEFT - 6}" y="{y + 4}" text-anchor="end">'
            f"{_tick_text(value)}</text>"
        )
    if chart.unit:
        parts.append(
            f'<text class="unit" x="{MARGIN_LEFT - 6}" y="{top - 14}" text-anchor="end">'
            f"{escape(chart.unit)}</text>"
        )
    slot = plot_width / len(chart.labels)
    parts += _category_axis(chart, top, slot, width)
    if chart.kind == "line":
        parts += _lines(chart, slot, y_of, top + PLOT_HEIGHT)
    else:
        parts += _bars(chart, slot, y_of, y_of(0.0))
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every label and value escaped as it went in


def _legend_rows(chart: Chart) -> list[list[int]]:
    """The series' indexes, cut into rows that fit the width (about 8 units a character)."""
    rows: list[list[int]] = [[]]
    used = 0.0
    for index, series in enumerate(chart.series):
        width = 28 + 8 * len(series.label)
        if rows[-1] and used + width > WIDTH - MARGIN_LEFT:
            rows.append([])
            used = 0
        rows[-1].append(index)
        used += width
    return rows


def _legend(chart: Chart, rows: list[list[int]]) -> list[str]:
    parts = ['<g class="legend">']
    for row, indexes in enumerate(rows):
        x = float(MARGIN_LEFT)
        y = 12 + LEGEND_ROW * row
        for index in indexes:
            series = chart.series[index]
            parts.append(
                f'<rect x="{x}" y="{y}" width="14" height="14" rx="2" '
                f'fill="{_colour(index)}"/>'
                f'<text x="{x + 20}" y="{y + 12}">{escape(series.label)}</text>'
            )
            x += 28 + 8 * len(series.label)
    parts.append("</g>")
    return parts


def _colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _category_axis(chart: Chart, top: float, slot: float, width: int) -> list[str]:
    every = 1 if slot >= 40 else math.ceil(len(chart.labels) / MAX_AXIS_LABELS)
    base = top + PLOT_HEIGHT
    parts = [
        f'<line class="axis" x1="{MARGIN_LEFT}" y1="{base}" x2="{width - MARGIN_RIGHT}" '
        f'y2="{base}"/>'
    ]
    for index, text in enumerate(chart.labels):
        if index % every:
            continue
        x = round(MARGIN_LEFT + slot * (index + 0.5), 1)
        # "Week of 7 Dec 2026" under a week axis is "7 Dec 2026": the table beside says it whole.
        prefix = f"{chart.axis} of "
        short = text[len(prefix) :] if text.startswith(prefix) else text
        per_line = int(slot // 8)
        if per_line >= 9:  # room to write it level, in up to three lines
            lines = textwrap.wrap(short, per_line, max_lines=3, placeholder="…")
            spans = "".join(
                f'<tspan x="{x}" dy="{0 if n == 0 else 15}">{escape(line)}</tspan>'
                for n, line in enumerate(lines)
            )
            parts.append(
                f'<text class="category" x="{x}" y="{base + 18}" text-anchor="middle">{spans}'
                "</text>"
            )
            continue
        shown = short if len(short) <= 22 else short[:21] + "…"
        parts.append(
            f'<text class="category" x="{x}" y="{base + 14}" text-anchor="end" '
            f'transform="rotate(-30 {x} {base + 14})">{escape(shown)}</text>'
        )
    return parts


def _mark_title(chart: Chart, row: int, col: int, value: Cell) -> str:
    unit = f" {chart.unit}" if chart.unit else ""
    series = chart.series[col]
    return escape(f"{series.label}, {chart.labels[row]}: {cell_text(value)}{unit}")


def _lines(chart: Chart, slot: float, y_of: Callable[[float], float], base: float) -> list[str]:
    parts = []
    for col, series in enumerate(chart.series):
        colour = _colour(col)
        points: list[tuple[float, float] | None] = []
        for row, value in enumerate(series.values):
            number = _number(value)
            points.append(
                None
                if number is None
                else (round(MARGIN_LEFT + slot * (row + 0.5), 1), y_of(number))
            )
        # A gap (no value) breaks the line rather than drawing through it.
        runs: list[list[tuple[float, float]]] = [[]]
        for point in points:
            if point is None:
                runs.append([])
            else:
                runs[-1].append(point)
        for run in runs:
            if len(run) > 1:
                coords = " ".join(f"{x},{y}" for x, y in run)
                parts.append(f'<polyline class="line" stroke="{colour}" points="{coords}"/>')
        for row, (point, value) in enumerate(zip(points, series.values, strict=True)):
            if point is None:
                continue
            x, y = point
            label_y = y - 8 if _writes_above(chart, row, col) or y + 18 >= base - 4 else y + 18
            parts.append(
                f'<circle class="mark" cx="{x}" cy="{y}" r="4" fill="{colour}" '
                f'data-row="{row}" data-col="{col + 1}"><title>'
                f"{_mark_title(chart, row, col, value)}</title></circle>"
                f'<text class="value" x="{x}" y="{label_y}" text-anchor="middle" '
                f'fill="{colour}" '
                f'data-row="{row}" data-col="{col + 1}">{escape(cell_text(value))}</text>'
            )
    return parts


def _writes_above(chart: Chart, row: int, col: int) -> bool:
    """A line's value is written above its mark when no other line is higher there (the first
    of equals), under it otherwise: two lines close together do not write over each other."""
    mine = _number(chart.series[col].values[row])
    for other, series in enumerate(chart.series):
        theirs = _number(series.values[row])
        if other == col or theirs is None or mine is None:
            continue
        if theirs > mine or (theirs == mine and other < col):
            return False
    return True


def _bars(chart: Chart, slot: float, y_of: Callable[[float], float], zero: float) -> list[str]:
    parts = []
    count = len(chart.series)
    group = slot * 0.8
    width = group / count
    for col, series in enumerate(chart.series):
        colour = _colour(col)
        for row, value in enumerate(series.values):
            number = _number(value)
            if number is None:
                continue
            x = round(MARGIN_LEFT + slot * row + (slot - group) / 2 + width * col, 1)
            y = y_of(number)
            top, height = min(y, zero), abs(zero - y)
            label_y = top - 4 if number >= 0 else top + height + 12
            parts.append(
                f'<rect class="mark" x="{x}" y="{top}" width="{round(width - 1, 1)}" '
                f'height="{round(height, 1)}" fill="{colour}" data-row="{row}" '
                f'data-col="{col + 1}"><title>{_mark_title(chart, row, col, value)}</title></rect>'
                f'<text class="value" x="{round(x + width / 2, 1)}" y="{label_y}" '
                f'text-anchor="middle" data-row="{row}" data-col="{col + 1}">'
                f"{escape(cell_text(value))}</text>"
            )
    return parts
