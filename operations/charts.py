"""Charts drawn on the server as SVG: no JavaScript, nothing fetched from elsewhere.

A `Chart` (operations.figures) becomes one `<svg role="img">` with its title and a description of
what it shows, axes, gridlines, and per series a colour AND a marker shape and dash pattern (told
apart without colour), with a legend drawing the same. Every mark carries a `<title>` with its
value (hover, screen readers), and its value is written next to it where it fits: a value that
would overlap one already written is left to the mark's title and to the table beside the chart,
which holds every number. Each mark and each value carries `data-row` (the label's index) and
`data-col` (the series' index, from 1 as in `Chart.table()`), the same coordinates as the table,
whose cells are written by the same `cell_text`: what is drawn is what the table says.

The drawing is always WIDTH units wide, however long the period: the category axis names every
n-th label (the most recent always), so two years of weeks read at a glance without scrolling.

Every label is escaped. A chart with nothing to draw says so instead of drawing empty axes. The
`viewBox` lets the drawing scale to the width of a phone."""

import math
import textwrap
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal

from django.utils import formats
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from operations.figures import Cell, Chart, week_prefix

# Okabe–Ito: told apart by people with the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")

WIDTH = 720
PLOT_HEIGHT = 240
MARGIN_LEFT = 64
MARGIN_RIGHT = 20
LEGEND_ROW = 22
AXIS_LABELS = 64  # the least room under the plot for the category labels
TICKS = 5
# The least room between two slanted category labels: with less, every n-th is written.
AXIS_LABEL_SPACING = 40
# The longest category label written under the axis (the table has it whole).
AXIS_LABEL_CHARS = 26
# About how wide a character is, in the drawing's units, for the 13px labels (bold values a
# little wider): enough to tell whether two labels would overlap.
CHAR_WIDTH = 7.0
VALUE_CHAR_WIDTH = 7.8
VALUE_HEIGHT = 17.0  # a 13px line box, ascent and descent, and a little air
# Per series, besides its colour: the marker's shape and the line's dash pattern.
SHAPES = ("circle", "square", "triangle", "diamond", "triangle-down")
DASHES = ("", "8 4", "2 3", "12 3 2 3")


def chart_width(chart: Chart) -> int:
    """The drawing's width in its own units: always WIDTH (long series are thinned, not widened)."""
    return WIDTH


def cell_text(cell: Cell) -> str:
    """A cell as the table and the chart both write it: a number without trailing noise, with
    the active language's decimal mark ("12.5", "12,5"), a dash for nothing."""
    if cell is None:
        return "—"
    if isinstance(cell, bool):
        return _("yes") if cell else _("no")
    if isinstance(cell, Decimal):
        text = format(cell, "f")
        text = text.rstrip("0").rstrip(".") if "." in text else text
        return text.replace(".", formats.get_format("DECIMAL_SEPARATOR"))
    return str(cell)


def _number(cell: Cell) -> float | None:
    if cell is None or isinstance(cell, str | bool):
        return None
    return float(cell)


def is_empty(chart: Chart) -> bool:
    """Nothing to draw: no labels, or not one number among the series drawn."""
    return not chart.labels or all(
        _number(value) is None for series in chart.drawn for value in series.values
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
    text = f"{value:.10g}" if value != int(value) else str(int(value))
    return text.replace(".", formats.get_format("DECIMAL_SEPARATOR"))


def _describe(chart: Chart, title: str) -> str:
    names = ", ".join(str(series.label) for series in chart.series)
    values = {"title": title, "names": names, "unit": chart.unit, "axis": str(chart.axis).lower()}
    if chart.kind == "line":
        if chart.unit:
            return _("%(title)s: line chart of %(names)s (%(unit)s) by %(axis)s") % values
        return _("%(title)s: line chart of %(names)s by %(axis)s") % values
    if chart.unit:
        return _("%(title)s: bar chart of %(names)s (%(unit)s) by %(axis)s") % values
    return _("%(title)s: bar chart of %(names)s by %(axis)s") % values


def chart_svg(chart: Chart, *, title: str) -> SafeString:
    """The chart as an inline SVG (or its empty state): safe to put in a page as it is."""
    # Only the series drawn (the counts they rest on are the table's): they come first, so a
    # mark's column is the table's.
    chart = replace(chart, series=chart.drawn)
    label = _describe(chart, title)
    if is_empty(chart):
        empty = escape(_("%(title)s: nothing to show for this period") % {"title": title})
        note = escape(_("Nothing to show for this period."))
        # Every text in it escaped above.
        return mark_safe(  # noqa: S308
            f'<svg class="chart chart-empty" role="img" viewBox="0 0 {WIDTH} 80" '
            f'aria-label="{empty}">'
            f"<title>{empty}</title>"
            f'<text x="{WIDTH / 2}" y="44" text-anchor="middle" class="empty-note">'
            f"{note}</text></svg>"
        )
    width = WIDTH
    axis = _CategoryAxis(chart)
    legend_rows = _legend_rows(chart)
    top = 12 + LEGEND_ROW * len(legend_rows) + 20  # room for a value written above the top
    height = top + PLOT_HEIGHT + axis.height
    parts = [
        f'<svg class="chart chart-{chart.kind}" role="img" viewBox="0 0 {width} {height}" '
        f'preserveAspectRatio="xMidYMin meet" aria-label="{escape(label)}">',
        f"<title>{escape(label)}</title>",
        *_legend(chart, legend_rows),
    ]
    low, high, step = _scale(chart)
    left = axis.left
    plot_width = width - left - MARGIN_RIGHT

    def y_of(value: float) -> float:
        return round(top + PLOT_HEIGHT * (high - value) / (high - low), 1)

    # Gridlines and the value axis, with its unit.
    ticks = round((high - low) / step)
    for n in range(ticks + 1):
        value = low + n * step
        y = y_of(value)
        parts.append(
            f'<line class="grid{" zero" if value == 0 else ""}" x1="{left}" y1="{y}" '
            f'x2="{width - MARGIN_RIGHT}" y2="{y}"/>'
            f'<text class="tick" x="{left - 6}" y="{y + 4}" text-anchor="end">'
            f"{_tick_text(value)}</text>"
        )
    if chart.unit:
        parts.append(
            f'<text class="unit" x="{left - 6}" y="{top - 14}" text-anchor="end">'
            f"{escape(chart.unit)}</text>"
        )
    slot = plot_width / len(chart.labels)
    parts += axis.draw(top + PLOT_HEIGHT, left, slot, width)
    values = _Values()
    if chart.kind == "line":
        parts += _lines(chart, left, slot, y_of, top + PLOT_HEIGHT, values)
    else:
        parts += _bars(chart, left, slot, y_of, y_of(0.0), values)
    parts += values.drawn
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every label and value escaped as it went in


def _legend_width(chart: Chart, index: int) -> float:
    swatch = 44 if chart.kind == "line" else 32
    return swatch + 8.5 * len(chart.series[index].label)


def _legend_rows(chart: Chart) -> list[list[int]]:
    """The series' indexes, cut into rows that fit the width (about 8 units a character)."""
    rows: list[list[int]] = [[]]
    used = 0.0
    for index in range(len(chart.series)):
        width = _legend_width(chart, index)
        if rows[-1] and used + width > WIDTH - MARGIN_LEFT:
            rows.append([])
            used = 0
        rows[-1].append(index)
        used += width
    return rows


def _legend(chart: Chart, rows: list[list[int]]) -> list[str]:
    """Each series' swatch as the chart draws it: for a line, its dash pattern and marker."""
    parts = ['<g class="legend">']
    for row, indexes in enumerate(rows):
        x = float(MARGIN_LEFT)
        y = 12 + LEGEND_ROW * row
        for index in indexes:
            series = chart.series[index]
            if chart.kind == "line":
                parts.append(
                    f'<line class="line" x1="{x}" y1="{y + 7}" x2="{x + 28}" y2="{y + 7}" '
                    f'stroke="{_colour(index)}"{_dash(index)}/>'
                    f"{_marker(index, x + 14, y + 7, 4.5)}"
                    f'<text x="{x + 34}" y="{y + 12}">{escape(series.label)}</text>'
                )
            else:
                parts.append(
                    f'<rect x="{x}" y="{y}" width="14" height="14" rx="2" '
                    f'fill="{_colour(index)}"/>'
                    f'<text x="{x + 20}" y="{y + 12}">{escape(series.label)}</text>'
                )
            x += _legend_width(chart, index)
    parts.append("</g>")
    return parts


def _colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _dash(index: int) -> str:
    dash = DASHES[index % len(DASHES)]
    return f' stroke-dasharray="{dash}"' if dash else ""


def _marker(index: int, x: float, y: float, r: float, attributes: str = "", inner: str = "") -> str:
    """Series `index`'s marker centred on (x, y): its shape tells it apart without colour."""
    shape = SHAPES[index % len(SHAPES)]
    fill = f'fill="{_colour(index)}"'
    if shape == "circle":
        opening = f'<circle cx="{x}" cy="{y}" r="{r}" {fill}{attributes}'
        return f"{opening}>{inner}</circle>"
    if shape == "square":
        side = round(r * 1.7, 1)
        opening = (
            f'<rect x="{round(x - side / 2, 1)}" y="{round(y - side / 2, 1)}" width="{side}" '
            f'height="{side}" {fill}{attributes}'
        )
        return f"{opening}>{inner}</rect>"
    size = r * 1.25
    if shape == "triangle":
        points = [(x, y - size), (x + size, y + size * 0.8), (x - size, y + size * 0.8)]
    elif shape == "triangle-down":
        points = [(x, y + size), (x + size, y - size * 0.8), (x - size, y - size * 0.8)]
    else:  # diamond
        points = [(x, y - size), (x + size, y), (x, y + size), (x - size, y)]
    coords = " ".join(f"{round(px, 1)},{round(py, 1)}" for px, py in points)
    return (
        f'<polygon points="{coords}" data-x="{x}" data-y="{y}" {fill}{attributes}>{inner}</polygon>'
    )


class _CategoryAxis:
    """The category labels under the plot: every n-th when they are many (the last one always,
    the most recent on a time axis), cut short when long, and room enough, left and under the
    plot, for the slanted ones to be read whole."""

    def __init__(self, chart: Chart) -> None:
        self.chart = chart
        count = len(chart.labels)
        slot = (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / count
        self.level = slot >= 72  # room to write them level, in up to three lines
        self.every = 1 if self.level else max(1, math.ceil(AXIS_LABEL_SPACING / slot))
        self.shown = {
            index: self._short(text)
            for index, text in enumerate(chart.labels)
            if (count - 1 - index) % self.every == 0
        }
        longest = max((len(text) for text in self.shown.values()), default=0)
        if self.level:
            self.height = float(AXIS_LABELS)
            self.left = MARGIN_LEFT
            return
        # A label slanted by 30° reaches cos 30° of its length to the left, sin 30° down.
        self.height = max(float(AXIS_LABELS), round(14 + 0.5 * CHAR_WIDTH * longest + 16, 1))
        first = min(self.shown)
        reach = 0.87 * CHAR_WIDTH * len(self.shown[first])
        self.left = max(MARGIN_LEFT, math.ceil(reach + 4 - slot * (first + 0.5)))

    def _short(self, text: str) -> str:
        # "Week of 7 Dec 2026" under a week axis is "7 Dec 2026": the table beside says it whole.
        prefix = week_prefix()
        short = text[len(prefix) :] if prefix and text.startswith(prefix) else text
        if self.level:
            return short
        return short if len(short) <= AXIS_LABEL_CHARS else short[: AXIS_LABEL_CHARS - 1] + "…"

    def draw(self, base: float, left: float, slot: float, width: int) -> list[str]:
        parts = [
            f'<line class="axis" x1="{left}" y1="{base}" x2="{width - MARGIN_RIGHT}" y2="{base}"/>'
        ]
        for index, short in self.shown.items():
            x = round(left + slot * (index + 0.5), 1)
            if self.level:
                lines = textwrap.wrap(short, int(slot // 8), max_lines=3, placeholder="…")
                spans = "".join(
                    f'<tspan x="{x}" dy="{0 if n == 0 else 15}">{escape(line)}</tspan>'
                    for n, line in enumerate(lines)
                )
                parts.append(
                    f'<text class="category" x="{x}" y="{base + 18}" text-anchor="middle">'
                    f"{spans}</text>"
                )
                continue
            parts.append(
                f'<text class="category" x="{x}" y="{base + 14}" text-anchor="end" '
                f'transform="rotate(-30 {x} {base + 14})">{escape(short)}</text>'
            )
        return parts


class _Values:
    """The values written next to their marks, each only where it overlaps none written before
    (the mark's title and the table carry the others)."""

    def __init__(self) -> None:
        self.boxes: list[tuple[float, float, float, float]] = []
        self.drawn: list[str] = []

    @staticmethod
    def box(text: str, x: float, y: float) -> tuple[float, float, float, float]:
        """Left, top, right, bottom of `text` written centred on x with its baseline at y."""
        half = VALUE_CHAR_WIDTH * len(text) / 2 + 1
        return (x - half, y - VALUE_HEIGHT + 4, x + half, y + 4)

    def fits(self, text: str, x: float, y: float) -> bool:
        left, top, right, bottom = self.box(text, x, y)
        return all(
            right <= other_left or left >= other_right or bottom <= other_top or top >= other_bottom
            for other_left, other_top, other_right, other_bottom in self.boxes
        )

    def write(self, text: str, x: float, places: list[float], attributes: str) -> None:
        """At the first of the `places` (baselines) where it fits, or not at all."""
        for y in places:
            if self.fits(text, x, y):
                self.boxes.append(self.box(text, x, y))
                self.drawn.append(
                    f'<text class="value" x="{x}" y="{y}" text-anchor="middle"{attributes}>'
                    f"{escape(text)}</text>"
                )
                return


def _mark_title(chart: Chart, row: int, col: int, value: Cell) -> str:
    unit = f" {chart.unit}" if chart.unit else ""
    series = chart.series[col]
    return escape(f"{series.label}, {chart.labels[row]}: {cell_text(value)}{unit}")


def _lines(
    chart: Chart,
    left: float,
    slot: float,
    y_of: Callable[[float], float],
    base: float,
    values: _Values,
) -> list[str]:
    parts = []
    radius: float = 4 if slot >= 12 else 2.5
    written: list[tuple[int, int, float, float]] = []  # (row, col, x, y) of each mark
    for col, series in enumerate(chart.series):
        colour = _colour(col)
        points: list[tuple[float, float] | None] = []
        for row, value in enumerate(series.values):
            number = _number(value)
            points.append(
                None if number is None else (round(left + slot * (row + 0.5), 1), y_of(number))
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
                parts.append(
                    f'<polyline class="line" stroke="{colour}"{_dash(col)} points="{coords}"/>'
                )
        for row, (point, value) in enumerate(zip(points, series.values, strict=True)):
            if point is None:
                continue
            x, y = point
            where = f' data-row="{row}" data-col="{col + 1}"'
            parts.append(
                _marker(
                    col,
                    x,
                    y,
                    radius,
                    f' class="mark"{where}',
                    f"<title>{_mark_title(chart, row, col, value)}</title>",
                )
            )
            written.append((row, col, x, y))
    # The values, the most recent first: where two would overlap, the later one is written. A
    # value the same as on both sides of it (a run of zeros) is read from the line.
    for row, col, x, y in sorted(written, key=lambda mark: (-mark[0], mark[1])):
        if _flat(chart.series[col].values, row):
            continue
        above, below = y - 8, y + 18
        places = [above, below] if _writes_above(chart, row, col) else [below, above]
        places = [p for p in places if p <= base - 2 or p == above]
        values.write(
            cell_text(chart.series[col].values[row]),
            x,
            places,
            f' fill="{_colour(col)}" data-row="{row}" data-col="{col + 1}"',
        )
    return parts


def _flat(values: tuple[Cell, ...], row: int) -> bool:
    """The value at `row` is its neighbours' on both sides (the last one is always written)."""
    if row == 0 or row == len(values) - 1:
        return False
    return values[row - 1] == values[row] == values[row + 1]


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


def _bars(
    chart: Chart,
    left: float,
    slot: float,
    y_of: Callable[[float], float],
    zero: float,
    values: _Values,
) -> list[str]:
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
            x = round(left + slot * row + (slot - group) / 2 + width * col, 1)
            y = y_of(number)
            top, height = min(y, zero), abs(zero - y)
            label_y = top - 4 if number >= 0 else top + height + 12
            parts.append(
                f'<rect class="mark" x="{x}" y="{top}" width="{round(max(width - 1, 1), 1)}" '
                f'height="{round(height, 1)}" fill="{colour}" data-row="{row}" '
                f'data-col="{col + 1}"><title>{_mark_title(chart, row, col, value)}</title></rect>'
            )
            values.write(
                cell_text(value),
                round(x + width / 2, 1),
                [label_y],
                f' data-row="{row}" data-col="{col + 1}"',
            )
    return parts
