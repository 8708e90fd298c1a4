"""The shapes the operations dashboard is drawn from, shared by the figures
(`operations.metrics`), the page, the CSV downloads and the API.

A `Section` is one figure family ("Scanner hours recovered", "Fill rate", ...): its definition
as written once in `operations.metrics`, the headline values for the period and the one before,
one chart, and a breakdown table (per site and scanner for a hospital, per hospital for the
network). The chart's own table (`Chart.table()`) holds exactly the numbers the chart draws, so
the page shows it beside the chart and the CSV download is that table."""

from calendar import monthrange
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from django.utils.dateformat import format as date_text
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

Granularity = Literal["week", "month"]
GRANULARITIES: tuple[Granularity, ...] = ("week", "month")

# A cell of a table or a point of a chart: a count, an amount (hours, percent), a label, or
# None where there is nothing to show (the median of no sessions).
Cell = str | int | Decimal | None


@dataclass(frozen=True)
class Period:
    """Whole days from `start` to `end`, both included, on the wall clock of `time_zone`,
    cut into weeks (Monday first) or calendar months."""

    start: date
    end: date
    granularity: Granularity
    time_zone: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def start_at(self) -> datetime:
        """The first instant of the period (midnight on `start`, local time)."""
        return datetime.combine(self.start, time(), tzinfo=ZoneInfo(self.time_zone))

    @property
    def end_at(self) -> datetime:
        """The first instant after the period (midnight after `end`, local time)."""
        return datetime.combine(
            self.end + timedelta(days=1), time(), tzinfo=ZoneInfo(self.time_zone)
        )

    def previous(self) -> "Period":
        """The period of the same length that ends the day before this one starts."""
        return Period(
            start=self.start - timedelta(days=self.days),
            end=self.start - timedelta(days=1),
            granularity=self.granularity,
            time_zone=self.time_zone,
        )

    def buckets(self) -> list[date]:
        """The first day of each week (Monday) or month that the period touches, in order."""
        if self.granularity == "week":
            first = self.start - timedelta(days=self.start.weekday())
            count = (self.end - first).days // 7 + 1
            return [first + timedelta(weeks=n) for n in range(count)]
        months = []
        day = self.start.replace(day=1)
        while day <= self.end:
            months.append(day)
            day += timedelta(days=monthrange(day.year, day.month)[1])
        return months

    def bucket_of(self, day: date) -> date:
        """The first day of the week or month `day` falls in."""
        if self.granularity == "week":
            return day - timedelta(days=day.weekday())
        return day.replace(day=1)

    def bucket_last_day(self, bucket: date) -> date:
        """The last day of the week or month that starts on `bucket`."""
        if self.granularity == "week":
            return bucket + timedelta(days=6)
        return bucket.replace(day=monthrange(bucket.year, bucket.month)[1])

    def bucket_label(self, bucket: date) -> str:
        """'Week of 7 Dec 2026' or 'Dec 2026'; a bucket the period covers only in part says which
        days it holds: 'Week of 7 Sep 2026 (from 11 Sep)', 'Nov 2026 (to 3 Nov)',
        'Week of 30 Nov 2026 (1 Dec to 3 Dec)'. The page, the CSV and the API all read it."""
        if self.granularity == "week":
            label = week_label(
                date_text(bucket, pgettext("date format of a week's first day", "j M Y"))
            )
        else:
            label = date_text(bucket, pgettext("date format of a month", "M Y"))
        starts_late = self.start > bucket
        ends_early = self.end < self.bucket_last_day(bucket)
        first, last = _day_month(self.start), _day_month(self.end)
        if starts_late and ends_early:
            return _("%(bucket)s (%(first)s to %(last)s)") % {
                "bucket": label,
                "first": first,
                "last": last,
            }
        if starts_late:
            return _("%(bucket)s (from %(first)s)") % {"bucket": label, "first": first}
        if ends_early:
            return _("%(bucket)s (to %(last)s)") % {"bucket": label, "last": last}
        return label


def _day_month(day: date) -> str:
    return date_text(day, pgettext("date format of a day in a week or month", "j M"))


def week_label(day: str) -> str:
    """'Week of 7 Dec 2026' in the active language (`day` already written)."""
    return pgettext("dashboard bucket", "Week of %(day)s") % {"day": day}


def week_prefix() -> str:
    """What a week's label says before its day, in the active language ("Week of ")."""
    return week_label("\0").split("\0")[0]


@dataclass(frozen=True)
class Value:
    """A headline figure: this period's and the previous period's."""

    label: str
    current: Cell
    previous: Cell
    unit: str  # "h", "%", "" for counts


@dataclass(frozen=True)
class Series:
    label: str
    values: tuple[Cell, ...]  # one per label of the chart
    # False for a count the drawn values rest on (how many bookings a median was taken of): it
    # is in the chart's table, its CSV and the API, but not drawn, and it is a count, never in
    # the chart's unit. Such series come after the drawn ones.
    drawn: bool = True


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    # Where each row leads, if anywhere: the network's rows per hospital link to that hospital's
    # dashboard (a path, without the period's query). Empty, or one per row (None: no link).
    links: tuple[str | None, ...] = ()


@dataclass(frozen=True)
class Chart:
    """A time series (`line`, over the period's buckets) or bars (`bar`, over categories)."""

    kind: Literal["line", "bar"]
    unit: str
    axis: str  # what the labels are: "Week", "Month", "Urgency", "Counterpart", ...
    labels: tuple[str, ...]
    series: tuple[Series, ...]

    @property
    def drawn(self) -> tuple[Series, ...]:
        """The series drawn, in order (the first ones: the table's columns 1 to n)."""
        return tuple(series for series in self.series if series.drawn)

    def table(self) -> Table:
        """Exactly the numbers drawn, then the counts they rest on (the series not drawn): one
        row per label, one column per series."""
        return Table(
            columns=(self.axis, *(series.label for series in self.series)),
            rows=tuple(
                (label, *(series.values[index] for series in self.series))
                for index, label in enumerate(self.labels)
            ),
        )


@dataclass(frozen=True)
class Section:
    key: str  # "hours_recovered", "fill_rate", "time_to_fill", "reliability", "help", ...
    title: str
    definition: str  # what the figures mean, written once in operations.metrics
    headline: tuple[Value, ...]
    chart: Chart
    breakdown: Table | None  # per site and scanner (a hospital) or per hospital (the network)


@dataclass(frozen=True)
class Dashboard:
    scope: str  # the hospital's name, or "The WeScan network"
    hospital_id: int | None  # None for the network
    period: Period
    previous: Period
    sections: tuple[Section, ...]

    def section(self, key: str) -> Section:
        for section in self.sections:
            if section.key == key:
                return section
        raise KeyError(key)
