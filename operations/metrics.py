"""The operations dashboard's figures: what each one means (written once, here, and shown beside
the figure on the page, in the CSV's section and in the API), and how it is counted.

Every family is counted in the database with grouped aggregates (one query per family, or one
per table it counts), over the period and the one before it at once: each row of the
answer is one (bucket, this period or the previous one, breakdown row[, lane]) group. Medians
and 90th percentiles are taken in Python from one ordered query of the durations. Nothing is
queried per row, so the number of queries does not grow with the history.

A bucket is a week (Monday first) or a calendar month on the wall clock of the period's time
zone (the hospital's; the network's is the platform's). Its edges are midnights in that zone,
computed with the zone's rules and compared in SQL (`Scope.bucket`), so a booking at 22:30 UTC
on a Sunday in summer falls in the next Brussels week, on SQLite as on PostgreSQL. A period
starting mid-week keeps only its own days in its first bucket: the chart's buckets add up to
the headline. Rows of the previous period have no bucket: it only gives the headline's
comparison.

Figures are rounded once, where the section is built (hours and minutes to 0.1, percentages to
0.1 %, halves up): the chart, its table, the CSV and the API carry the same numbers."""

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import (
    BooleanField,
    Case,
    Count,
    DateField,
    Exists,
    F,
    FloatField,
    Func,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    When,
)
from django.db.models import (
    Value as V,
)
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cockpit.models import (
    AssistRequest,
    AssistStage,
    AssistStatus,
    CockpitSession,
    CockpitStop,
    ExamOutcome,
    ExamRecord,
)
from marketplace.models import Hospital, PostingStatus, Scanner, SessionPosting, Urgency
from operations.figures import Cell, Chart, Period, Section, Series, Table, Value
from scheduling.ledger import Counterpart, creditor_counterpart
from scheduling.models import (
    CONFIRMED_STATUSES,
    Booking,
    BookingStatus,
    Initiator,
    LedgerEntry,
    Side,
)

# --- Definitions (shown beside each figure) ---------------------------------------------------
# Written for a hospital's director: whole sentences, no internal words (posting, bucket, scope).

HOURS_RECOVERED = gettext_lazy(
    "Exam hours: the time exams ran through WeScan cockpits, from each cockpit's first "
    "sequence to its close, as the cockpit itself recorded it (not the hours booked). Only "
    "exams that both started and ended count, in the week or month they started. Posted "
    "hours: the length of the published sessions on the same scanners that have already "
    "started; later sessions are left out, since no exam can have run in them yet. "
    "Published sessions are the sessions offered on WeScan: drafts, and sessions the "
    "hospital cancelled, are left out. Each counts in the week or month it starts in. Share"
    " of posted hours: exam hours divided by posted hours."
)

FILL_RATE = gettext_lazy(
    "Of the published sessions that started in the period, up to now, the share that were "
    "staffed; later sessions are left out, since they can still be filled. A session is "
    "staffed when a technologist's booking on it was confirmed (whether the work is still "
    "to come, under way or done), or ended as a no-show: the session was filled, and who "
    "did not come is counted under Reliability. By sessions (staffed sessions divided by "
    "published sessions) and by hours (the hours of staffed sessions divided by the hours "
    "of published sessions), for all urgency lanes together and for each lane. Published "
    "sessions are the sessions offered on WeScan: drafts, and sessions the hospital "
    "cancelled, are left out. Each counts in the week or month it starts in."
)

TIME_TO_FILL = gettext_lazy(
    "How long sessions waited for a technologist: for every booking confirmed in the "
    "period, the hours from the session's publication to the confirmation. Median: half "
    "were filled faster. 90th percentile: nine in ten were filled within this time. The "
    "chart and its table show each urgency lane (routine, priority, urgent), then each "
    "notice: how far ahead of the session it was published (under 24 hours, 1 to 7 days, 1 "
    "to 4 weeks, or over 4 weeks before it started). Bookings confirmed: how many "
    "confirmations each row rests on; a session filled again after a cancellation counts "
    "once per confirmation. Empty when nothing was confirmed."
)

RELIABILITY = gettext_lazy(
    "Facts, never a score, about the bookings on sessions that start in the period. Late "
    "cancellations: a confirmed booking cancelled less than 24 hours before the session "
    "starts, by the hospital or by the technologist. No-shows of the hospital: the "
    "technologist came, but the site was not ready to scan. No-shows of the technologist: "
    "the technologist did not come, as the hospital recorded it."
)

HELP = gettext_lazy(
    "Requests for help raised in this hospital's cockpits, counted in the week or month "
    "they were raised. Time to accept: the minutes from a request to a senior's acceptance "
    "(the median and the 90th percentile of the requests accepted). Escalated: no on-call "
    "senior accepted in time, so the request was widened to experienced technologists (and,"
    " later still, the managers were alerted). Unanswered: the request expired, or ended "
    "with nobody accepting it. Requests still waiting count in neither. Help given: the "
    "requests from other hospitals' cockpits that this hospital's seniors accepted, counted"
    " in the week or month the help ended, and their hours, from acceptance to the end of "
    "the help, as the reciprocity ledger credits them. The table per scanner counts only "
    "the requests raised on this hospital's own scanners."
)

NETWORK_HELP = gettext_lazy(
    "Requests for help raised in every hospital's cockpits, counted in the week or month "
    "they were raised. Time to accept: the minutes from a request to a senior's acceptance "
    "(the median and the 90th percentile of the requests accepted). Escalated: no on-call "
    "senior accepted in time, so the request was widened to experienced technologists (and,"
    " later still, the managers were alerted). Unanswered: the request expired, or ended "
    "with nobody accepting it. Requests still waiting count in neither. Across the network,"
    " the help given is the help received: each request is counted once, where it was "
    "raised."
)

COCKPIT = gettext_lazy(
    "Exams run through the cockpits, counted when they ended, as each exam record says: all"
    " exams, the partial ones (some sequences not done) and the aborted ones. STOPs: how "
    "many times someone pressed STOP in those cockpits, usually the local staff beside the "
    "patient."
)

RECIPROCITY = gettext_lazy(
    "The reciprocity ledger between this hospital and each counterpart (another hospital or"
    " an independent technologist), all entries since the first. The ledger records four "
    "kinds of entries: hours worked (a completed booking, from the cockpit's record of its "
    "start and end); a senior's help (from acceptance to the end of the help); and a "
    "hospital's late cancellation or no-show, for which it owes the booked hours although "
    "nobody worked them. Each entry counts when the work or the help ended, or when the "
    "booking was cancelled or recorded as a no-show. Hours given are the entries in this "
    "hospital's favour; hours received, those in the counterpart's favour, including the "
    "booked hours of this hospital's own late cancellations and no-shows. Balance: hours "
    "given minus hours received; above zero, the counterpart owes this hospital hours. The "
    "chart shows the running balance at the end of each week or month, for all counterparts"
    " and for each of the largest (the rest together as 'Others'); the table shows the "
    "hours given and received in the period, and the balance at its end."
)

NETWORK_RECIPROCITY = gettext_lazy(
    "The reciprocity ledger, per hospital, all entries since the first: the hours it gave "
    "other hospitals minus the hours it received from hospitals or independent "
    "technologists. The ledger records four kinds of entries: hours worked (a completed "
    "booking, from the cockpit's record of its start and end); a senior's help (from "
    "acceptance to the end of the help); and a hospital's late cancellation or no-show, for"
    " which it owes the booked hours although nobody worked them. Each entry counts when "
    "the work or the help ended, or when the booking was cancelled or recorded as a "
    "no-show. A hospital's own late cancellations and no-shows count in its hours received."
    " The chart shows the running balance, at the end of each week or month, of the "
    "hospitals furthest from even (the rest together as 'Others'); the table shows every "
    "hospital's hours given and received in the period, and its balance at the end. Hours "
    "exchanged: all the hours the ledger recorded in the period."
)

# The lanes, in the order they are shown.
LANES: tuple[tuple[str, str | Promise], ...] = tuple(
    (str(v), label) for v, label in Urgency.choices
)

# How far ahead of the session it was posted: (label, upper bound, exclusive).
LEAD_BANDS: tuple[tuple[Promise, timedelta | None], ...] = (
    (gettext_lazy("Posted under 24 h ahead"), timedelta(hours=24)),
    (gettext_lazy("Posted 1-7 days ahead"), timedelta(days=7)),
    (gettext_lazy("Posted 1-4 weeks ahead"), timedelta(days=28)),
    (gettext_lazy("Posted over 4 weeks ahead"), None),
)

# Staffed sessions: a booking confirmed (and later worked or not yet), or a no-show.
STAFFED_STATUSES = (*CONFIRMED_STATUSES, BookingStatus.NO_SHOW)

# Counterparts drawn one by one on the reciprocity chart; the rest add up to "Others".
TOP_COUNTERPARTS = 4

TENTH = Decimal("0.1")


# --- Rounding, once -----------------------------------------------------------------------------


def tenth(value: Decimal) -> Decimal:
    """Rounded to one decimal, halves up (2.25 h is 2.3 h), as people round."""
    return value.quantize(TENTH, rounding=ROUND_HALF_UP)


def _exact(seconds: float) -> Decimal:
    """Seconds to the millisecond: SQLite's durations are differences of Julian days, off by tens
    of microseconds, which would round 75 minutes (1.25 h) down to 1.2 h there and up to 1.3 h
    on PostgreSQL."""
    return Decimal(round(seconds, 3))


def hours(seconds: float) -> Decimal:
    return tenth(_exact(seconds) / 3600)


def minutes(seconds: float) -> Decimal:
    return tenth(_exact(seconds) / 60)


def share(part: float, whole: float) -> Decimal | None:
    """Part of whole in percent; None when there is no whole to be part of."""
    if not whole:
        return None
    return tenth(Decimal(part) * 100 / Decimal(whole))


def median(values: Sequence[float]) -> float | None:
    """The middle value of sorted `values` (the mean of the two middle ones for an even count)."""
    n = len(values)
    if not n:
        return None
    middle = n // 2
    return values[middle] if n % 2 else (values[middle - 1] + values[middle]) / 2


def p90(values: Sequence[float]) -> float | None:
    """The nearest-rank 90th percentile of sorted `values`: the smallest value with at least
    90 % of the values at or below it."""
    if not values:
        return None
    return values[math.ceil(0.9 * len(values)) - 1]


def _rounded(seconds: float | None, unit: Callable[[float], Decimal]) -> Decimal | None:
    return None if seconds is None else unit(seconds)


# --- The scope: who is counted and how the breakdown is cut --------------------------------------


@dataclass(frozen=True)
class Scope:
    """One hospital (broken down per site and scanner) or the network (per hospital), over a
    period and the one before it."""

    hospital: Hospital | None
    period: Period
    now: datetime
    rows: tuple[tuple[int, str], ...]  # breakdown rows: (scanner or hospital id, label)

    @property
    def previous(self) -> Period:
        return self.period.previous()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.period.time_zone)

    @property
    def row_axis(self) -> str:
        return _("Hospital") if self.hospital is None else _("Scanner")

    def key(self, to_posting: str) -> str:
        """The breakdown key of a row reached through `to_posting` ('' for a posting)."""
        return f"{to_posting}{'hospital_id' if self.hospital is None else 'scanner_id'}"

    def where(self, to_posting: str) -> Q:
        if self.hospital is None:
            return Q()
        return Q(**{f"{to_posting}hospital": self.hospital})

    def bucket(self, moment: str) -> Case:
        """The first day of this period's bucket `moment` falls in; None in the previous period.

        The bucket edges are midnights on the period's wall clock, computed here with the time
        zone's rules (a DST change included) and compared in SQL, the same on every database:
        SQLite's `TruncWeek`/`TruncMonth` with a time zone call Python once per row, which
        cost a third of each query at 200,000 bookings."""
        edges = [
            (max(self.period.start_at, datetime.combine(b, time(), tzinfo=self.zone)), b)
            for b in self.period.buckets()
        ]
        return Case(
            *(When(**{f"{moment}__gte": edge}, then=V(b)) for edge, b in reversed(edges)),
            default=V(None),
            output_field=DateField(),
        )

    def current(self, moment: str) -> Case:
        """True for this period, False for the previous one."""
        return Case(
            When(**{f"{moment}__gte": self.period.start_at}, then=V(True)),
            default=V(False),
            output_field=BooleanField(),
        )

    def window(self, moment: str, *, until: datetime | None = None) -> Q:
        end = self.period.end_at if until is None else min(self.period.end_at, until)
        return Q(**{f"{moment}__gte": self.previous.start_at, f"{moment}__lt": end})

    def labels(self) -> tuple[str, ...]:
        return tuple(self.period.bucket_label(b) for b in self.period.buckets())


def scope_for(*, hospital: Hospital | None, period: Period, now: datetime) -> Scope:
    """The scope and its breakdown rows: one query."""
    if hospital is None:
        rows = tuple(Hospital.objects.order_by("name").values_list("pk", "name"))
    else:
        scanners = (
            Scanner.objects.filter(site__hospital=hospital)
            .order_by("site__name", "name", "pk")
            .values_list("pk", "site__name", "name")
        )
        rows = tuple((pk, f"{site} — {name}") for pk, site, name in scanners)
    return Scope(hospital=hospital, period=period, now=now, rows=rows)


class Seconds(Func):
    """Seconds from `start` to `end`, in SQL on each database. Django's own `F(end) - F(start)`
    is a Python function per row on SQLite: at 200,000 bookings, a quarter of the dashboard's
    time over two years."""

    template = "EXTRACT(EPOCH FROM (%(expressions)s))::double precision"  # PostgreSQL
    arg_joiner = " - "
    output_field = FloatField()

    def __init__(self, end: str, start: str) -> None:
        super().__init__(F(end), F(start))

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler,
            connection,
            template="((julianday(%(expressions)s)) * 86400.0)",
            arg_joiner=") - julianday(",
            **extra,
        )


def _grouped(
    scope: Scope,
    queryset: QuerySet[Any],
    *,
    to_posting: str,
    moment: str,
    until: datetime | None = None,
    by: Sequence[str] = (),
    aggregates: Mapping[str, Any],
) -> "Tally":
    """One query: the aggregates per (bucket, period, breakdown row, *by) over both periods."""
    rows = (
        queryset.filter(scope.where(to_posting), scope.window(moment, until=until))
        .values(
            *by,
            bucket=scope.bucket(moment),
            key=F(scope.key(to_posting)),
        )
        .annotate(**aggregates)
        .order_by()
    )
    return Tally([_plain(row) for row in rows])


def _plain(row: Mapping[str, Any]) -> dict[str, Any]:
    """Durations as seconds; `current` for the rows of this period (those with a bucket)."""
    plain = {"current": row["bucket"] is not None}
    for name, value in row.items():
        if isinstance(value, timedelta):
            value = value.total_seconds()
        plain[name] = value
    return plain


class Tally:
    """Sums over the grouped rows of one query, for the headline, the chart and the breakdown."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def _pick(self, current: bool, where: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
        for row in self.rows:
            if row["current"] == current and all(row[k] == v for k, v in where.items()):
                yield row

    def total(self, field: str, *, current: bool = True, **where: Any) -> float:
        return sum((row[field] or 0 for row in self._pick(current, where)), 0)

    def per(self, by: str, field: str, **where: Any) -> dict[Any, float]:
        """This period's sums per value of `by` (bucket, key, ...)."""
        sums: dict[Any, float] = defaultdict(int)
        for row in self._pick(True, where):
            sums[row[by]] += row[field] or 0
        return sums


def _series(scope: Scope, label: str, values: Mapping[date, Cell]) -> Series:
    return Series(label, tuple(values.get(bucket) for bucket in scope.period.buckets()))


def _line(scope: Scope, unit: str, series: Sequence[Series]) -> Chart:
    axis = _("Week") if scope.period.granularity == "week" else _("Month")
    return Chart(kind="line", unit=unit, axis=axis, labels=scope.labels(), series=tuple(series))


def _count(values: Mapping[Any, float], key: Any) -> int:
    return int(values.get(key, 0))


def _counts(values: Mapping[date, float], buckets: Sequence[date]) -> dict[date, Cell]:
    return {b: int(values.get(b, 0)) for b in buckets}


def _breakdown(
    scope: Scope, columns: Sequence[str], cells: Callable[[int], tuple[Cell, ...]]
) -> Table:
    return Table(
        columns=(scope.row_axis, *columns),
        rows=tuple((label, *cells(pk)) for pk, label in scope.rows),
        links=_links(scope, [pk for pk, _label in scope.rows]),
    )


def _links(scope: Scope, keys: Sequence[int]) -> tuple[str | None, ...]:
    """The network's rows are hospitals: each leads to its dashboard. A hospital's rows (its
    scanners, its counterparts) lead nowhere."""
    if scope.hospital is not None:
        return ()
    return tuple(reverse("hospital_dashboard", args=[key]) for key in keys)


def _published_postings() -> QuerySet[SessionPosting]:
    # Named rather than excluded: the (hospital, status, starts_at) index then finds them.
    shown = [PostingStatus.OPEN, PostingStatus.FILLED, PostingStatus.EXPIRED]
    return SessionPosting.objects.filter(published_at__isnull=False, status__in=shown)


# --- Scanner hours recovered ---------------------------------------------------------------------


def hours_recovered(scope: Scope) -> Section:
    """Two queries: the cockpits' exam time, the published sessions' length."""
    exams = _grouped(
        scope,
        CockpitSession.objects.filter(started_at__isnull=False, ended_at__isnull=False),
        to_posting="booking__posting__",
        moment="started_at",
        aggregates={"seconds": Sum(Seconds("ended_at", "started_at"))},
    )
    posted = _grouped(
        scope,
        _published_postings(),
        to_posting="",
        moment="starts_at",
        until=scope.now,  # exam hours can only be past: so are the posted hours they share
        aggregates={"seconds": Sum(Seconds("ends_at", "starts_at"))},
    )
    run_now, run_before = exams.total("seconds"), exams.total("seconds", current=False)
    posted_now, posted_before = posted.total("seconds"), posted.total("seconds", current=False)
    run_by_bucket, posted_by_bucket = (
        exams.per("bucket", "seconds"),
        posted.per("bucket", "seconds"),
    )
    buckets = scope.period.buckets()
    run_by_key, posted_by_key = exams.per("key", "seconds"), posted.per("key", "seconds")
    return Section(
        key="hours_recovered",
        title=_("Scanner hours recovered"),
        definition=str(HOURS_RECOVERED),
        headline=(
            Value(_("Exam hours run through WeScan"), hours(run_now), hours(run_before), "h"),
            Value(_("Posted hours"), hours(posted_now), hours(posted_before), "h"),
            Value(
                _("Share of posted hours"),
                share(run_now, posted_now),
                share(run_before, posted_before),
                "%",
            ),
        ),
        chart=_line(
            scope,
            "h",
            [
                _series(
                    scope, _("Exam hours"), {b: hours(run_by_bucket.get(b, 0)) for b in buckets}
                ),
                _series(
                    scope,
                    _("Posted hours"),
                    {b: hours(posted_by_bucket.get(b, 0)) for b in buckets},
                ),
            ],
        ),
        breakdown=_breakdown(
            scope,
            (_("Exam hours"), _("Posted hours"), _("Share of posted hours (%)")),
            lambda pk: (
                hours(run_by_key.get(pk, 0)),
                hours(posted_by_key.get(pk, 0)),
                share(run_by_key.get(pk, 0), posted_by_key.get(pk, 0)),
            ),
        ),
    )


# --- Fill rate -----------------------------------------------------------------------------------


def fill_rate(scope: Scope) -> Section:
    """One query: published and staffed sessions and hours per bucket, period, row and lane."""
    staffed = Exists(Booking.objects.filter(posting=OuterRef("pk"), status__in=STAFFED_STATUSES))
    length = Seconds("ends_at", "starts_at")
    tally = _grouped(
        scope,
        _published_postings(),
        to_posting="",
        moment="starts_at",
        until=scope.now,
        by=("urgency",),
        aggregates={
            "published": Count("pk"),
            "staffed": Count("pk", filter=staffed),
            "seconds": Sum(length),
            "staffed_seconds": Sum(length, filter=staffed),
        },
    )

    def rate(current: bool, **where: Any) -> tuple[Decimal | None, Decimal | None]:
        return (
            share(
                tally.total("staffed", current=current, **where),
                tally.total("published", current=current, **where),
            ),
            share(
                tally.total("staffed_seconds", current=current, **where),
                tally.total("seconds", current=current, **where),
            ),
        )

    (by_count, by_hours), (by_count_before, by_hours_before) = rate(True), rate(False)
    buckets = scope.period.buckets()
    series = []
    lanes = [(str(name), {"urgency": lane}) for lane, name in LANES]
    for label, where in [(_("All lanes"), {}), *lanes]:
        staffed_per, published_per = (
            tally.per("bucket", "staffed", **where),
            tally.per("bucket", "published", **where),
        )
        series.append(
            _series(
                scope,
                label,
                {b: share(staffed_per.get(b, 0), published_per.get(b, 0)) for b in buckets},
            )
        )
    published_by_key, staffed_by_key = tally.per("key", "published"), tally.per("key", "staffed")
    seconds_by_key = tally.per("key", "seconds")
    staffed_seconds_by_key = tally.per("key", "staffed_seconds")
    headline = [
        Value(_("Fill rate (sessions)"), by_count, by_count_before, "%"),
        Value(_("Fill rate (hours)"), by_hours, by_hours_before, "%"),
        Value(
            _("Sessions published"),
            int(tally.total("published")),
            int(tally.total("published", current=False)),
            "",
        ),
    ]
    for lane, name in LANES:
        headline.append(
            Value(
                _("Fill rate, %(lane)s (sessions)") % {"lane": str(name).lower()},
                rate(True, urgency=lane)[0],
                rate(False, urgency=lane)[0],
                "%",
            )
        )
    return Section(
        key="fill_rate",
        title=_("Fill rate"),
        definition=str(FILL_RATE),
        headline=tuple(headline),
        chart=_line(scope, "%", series),
        breakdown=_breakdown(
            scope,
            (_("Published"), _("Staffed"), _("Fill rate (sessions, %)"), _("Fill rate (hours, %)")),
            lambda pk: (
                _count(published_by_key, pk),
                _count(staffed_by_key, pk),
                share(staffed_by_key.get(pk, 0), published_by_key.get(pk, 0)),
                share(staffed_seconds_by_key.get(pk, 0), seconds_by_key.get(pk, 0)),
            ),
        ),
    )


# --- Time to fill --------------------------------------------------------------------------------


def lead_band(ahead: float) -> str:
    """The band of a session posted `ahead` seconds before it starts."""
    for label, bound in LEAD_BANDS:
        if bound is None or ahead < bound.total_seconds():
            return str(label)
    raise AssertionError("the last band has no bound")


def time_to_fill(scope: Scope) -> Section:
    """One ordered query of every confirmation's wait, shortest first."""
    waits = (
        Booking.objects.filter(
            scope.where("posting__"),
            scope.window("confirmed_at"),
            posting__published_at__isnull=False,
        )
        .annotate(
            wait=Seconds("confirmed_at", "posting__published_at"),
            ahead=Seconds("posting__starts_at", "posting__published_at"),
        )
        .values_list(
            scope.current("confirmed_at"),
            "posting__urgency",
            scope.key("posting__"),
            "wait",
            "ahead",
        )
        .order_by("wait", "pk")
    )
    now: list[float] = []
    before: list[float] = []
    groups: dict[str, list[float]] = defaultdict(list)
    per_key: dict[int, list[float]] = defaultdict(list)
    for current, lane, key, wait, ahead in waits:
        seconds = wait
        if not current:
            before.append(seconds)
            continue
        now.append(seconds)
        groups[lane].append(seconds)
        groups[lead_band(ahead)].append(seconds)
        per_key[key].append(seconds)
    bands = tuple(str(label) for label, _bound in LEAD_BANDS)
    labels = (*(str(name) for _lane, name in LANES), *bands)
    keys = (*(lane for lane, _name in LANES), *bands)
    return Section(
        key="time_to_fill",
        title=_("Time to fill"),
        definition=str(TIME_TO_FILL),
        headline=(
            Value(
                _("Median time to fill"),
                _rounded(median(now), hours),
                _rounded(median(before), hours),
                "h",
            ),
            Value(
                _("90th percentile"), _rounded(p90(now), hours), _rounded(p90(before), hours), "h"
            ),
            Value(_("Bookings confirmed"), len(now), len(before), ""),
        ),
        chart=Chart(
            kind="bar",
            unit="h",
            axis=_("Lane or notice"),
            labels=labels,
            series=(
                Series(_("Median"), tuple(_rounded(median(groups[k]), hours) for k in keys)),
                Series(_("90th percentile"), tuple(_rounded(p90(groups[k]), hours) for k in keys)),
                Series(_("Bookings confirmed"), tuple(len(groups[k]) for k in keys), drawn=False),
            ),
        ),
        breakdown=_breakdown(
            scope,
            (_("Confirmed"), _("Median (h)"), _("90th percentile (h)")),
            lambda pk: (
                len(per_key[pk]),
                _rounded(median(per_key[pk]), hours),
                _rounded(p90(per_key[pk]), hours),
            ),
        ),
    )


# --- Reliability ---------------------------------------------------------------------------------

RELIABILITY_FIGURES: tuple[tuple[str, Promise, Q], ...] = (
    (
        "late_by_hospital",
        gettext_lazy("Late cancellations by the hospital"),
        Q(status=BookingStatus.CANCELLED, late=True, cancelled_side=Initiator.HOSPITAL),
    ),
    (
        "late_by_technologist",
        gettext_lazy("Late cancellations by the technologist"),
        Q(status=BookingStatus.CANCELLED, late=True, cancelled_side=Initiator.TECHNOLOGIST),
    ),
    (
        "no_show_hospital",
        gettext_lazy("No-shows of the hospital"),
        Q(status=BookingStatus.NO_SHOW, no_show_side=Side.HOSPITAL),
    ),
    (
        # Before the side was recorded, only the hospital recorded no-shows: the technologist's.
        "no_show_technologist",
        gettext_lazy("No-shows of the technologist"),
        Q(status=BookingStatus.NO_SHOW) & ~Q(no_show_side=Side.HOSPITAL),
    ),
)


def reliability(scope: Scope) -> Section:
    """One query: the four counts per bucket, period and row."""
    tally = _grouped(
        scope,
        Booking.objects.all(),
        to_posting="posting__",
        moment="starts_at",
        aggregates={name: Count("pk", filter=q) for name, _label, q in RELIABILITY_FIGURES},
    )
    figures = tuple((tally, name, str(label)) for name, label, _q in RELIABILITY_FIGURES)
    return _count_section(
        scope,
        key="reliability",
        title=_("Reliability, both sides"),
        definition=str(RELIABILITY),
        figures=figures,
    )


# --- Help ----------------------------------------------------------------------------------------

UNANSWERED = Q(status=AssistStatus.EXPIRED) | Q(
    accepted_by__isnull=True, status__in=[AssistStatus.RESOLVED, AssistStatus.CANCELLED]
)


def _help_given_to_others(scope: Scope) -> Tally:
    """One query, for a hospital: the help its seniors gave in other hospitals' cockpits that
    ended in either period, and its seconds from acceptance to the end (what the ledger credits
    the hospital), per bucket. Across the network help given is help received: no query."""
    hospital = scope.hospital
    if hospital is None:
        return Tally([])
    rows = (
        AssistRequest.objects.filter(
            scope.window("ended_at"), senior_hospital=hospital, accepted_at__isnull=False
        )
        .exclude(cockpit__booking__posting__hospital=hospital)
        .values(bucket=scope.bucket("ended_at"))
        .annotate(given=Count("pk"), seconds=Sum(Seconds("ended_at", "accepted_at")))
        .order_by()
    )
    return Tally([_plain(row) for row in rows])


def help_given(scope: Scope) -> Section:
    """Two queries: the counts, and every accepted request's wait, shortest first; for a
    hospital, a third: the help its seniors gave other hospitals."""
    to_posting = "cockpit__booking__posting__"
    tally = _grouped(
        scope,
        AssistRequest.objects.all(),
        to_posting=to_posting,
        moment="created_at",
        aggregates={
            "requests": Count("pk"),
            "escalated": Count("pk", filter=Q(stage__gte=AssistStage.WIDENED)),
            "unanswered": Count("pk", filter=UNANSWERED),
        },
    )
    waits = (
        AssistRequest.objects.filter(
            scope.where(to_posting), scope.window("created_at"), accepted_at__isnull=False
        )
        .annotate(wait=Seconds("accepted_at", "created_at"))
        .values_list(scope.current("created_at"), scope.key(to_posting), "wait")
        .order_by("wait", "pk")
    )
    now: list[float] = []
    before: list[float] = []
    per_key: dict[int, list[float]] = defaultdict(list)
    for current, key, wait in waits:
        (now if current else before).append(wait)
        if current:
            per_key[key].append(wait)
    counts = ("requests", "escalated", "unanswered")
    per = {name: tally.per("key", name) for name in counts}
    buckets = scope.period.buckets()
    network = scope.hospital is None
    given = _help_given_to_others(scope)
    given_headline = (
        ()
        if network
        else (
            Value(
                _("Help given to other hospitals"),
                int(given.total("given")),
                int(given.total("given", current=False)),
                "",
            ),
            Value(
                _("Hours of help given"),
                hours(given.total("seconds")),
                hours(given.total("seconds", current=False)),
                "h",
            ),
        )
    )
    given_series = (
        ()
        if network
        else (_series(scope, _("Help given"), _counts(given.per("bucket", "given"), buckets)),)
    )
    return Section(
        key="help",
        title=_("Help"),
        definition=str(NETWORK_HELP if network else HELP),
        headline=(
            Value(
                _("Requests for help"),
                int(tally.total("requests")),
                int(tally.total("requests", current=False)),
                "",
            ),
            Value(
                _("Median time to accept"),
                _rounded(median(now), minutes),
                _rounded(median(before), minutes),
                "min",
            ),
            Value(
                _("90th percentile time to accept"),
                _rounded(p90(now), minutes),
                _rounded(p90(before), minutes),
                "min",
            ),
            Value(
                _("Escalated"),
                int(tally.total("escalated")),
                int(tally.total("escalated", current=False)),
                "",
            ),
            Value(
                _("Unanswered"),
                int(tally.total("unanswered")),
                int(tally.total("unanswered", current=False)),
                "",
            ),
            *given_headline,
        ),
        chart=_line(
            scope,
            "",
            [
                *(
                    _series(scope, label, _counts(tally.per("bucket", name), buckets))
                    for name, label in (
                        ("requests", _("Requests")),
                        ("escalated", _("Escalated")),
                        ("unanswered", _("Unanswered")),
                    )
                ),
                *given_series,
            ],
        ),
        breakdown=_breakdown(
            scope,
            (_("Requests"), _("Median time to accept (min)"), _("Escalated"), _("Unanswered")),
            lambda pk: (
                _count(per["requests"], pk),
                _rounded(median(per_key[pk]), minutes),
                _count(per["escalated"], pk),
                _count(per["unanswered"], pk),
            ),
        ),
    )


# --- Cockpit -------------------------------------------------------------------------------------


def cockpit(scope: Scope) -> Section:
    """Two queries: the exam records, the STOPs."""
    to_posting = "cockpit__booking__posting__"
    exams = _grouped(
        scope,
        ExamRecord.objects.all(),
        to_posting=to_posting,
        moment="ended_at",
        aggregates={
            "exams": Count("pk"),
            "partial": Count("pk", filter=Q(outcome=ExamOutcome.PARTIAL)),
            "aborted": Count("pk", filter=Q(outcome=ExamOutcome.ABORTED)),
        },
    )
    stops = _grouped(
        scope,
        CockpitStop.objects.all(),
        to_posting=to_posting,
        moment="at",
        aggregates={"stops": Count("pk")},
    )
    figures = (
        (exams, "exams", _("Exams run")),
        (exams, "partial", _("Partial")),
        (exams, "aborted", _("Aborted")),
        (stops, "stops", _("STOPs")),
    )
    return _count_section(
        scope, key="cockpit", title=_("Cockpit"), definition=str(COCKPIT), figures=figures
    )


def _count_section(
    scope: Scope,
    *,
    key: str,
    title: str,
    definition: str,
    figures: Sequence[tuple[Tally, str, str]],
) -> Section:
    """A family of counts (each a tally's aggregate, named and labelled): the totals against the
    previous period, a line per count over the buckets, and the counts per breakdown row."""
    buckets = scope.period.buckets()
    per_key = {name: tally.per("key", name) for tally, name, _label in figures}
    return Section(
        key=key,
        title=title,
        definition=definition,
        headline=tuple(
            Value(label, int(tally.total(name)), int(tally.total(name, current=False)), "")
            for tally, name, label in figures
        ),
        chart=_line(
            scope,
            "",
            [
                _series(scope, label, _counts(tally.per("bucket", name), buckets))
                for tally, name, label in figures
            ],
        ),
        breakdown=_breakdown(
            scope,
            tuple(label for _tally, _name, label in figures),
            lambda pk: tuple(_count(per_key[name], pk) for _t, name, _label in figures),
        ),
    )


# --- Reciprocity ---------------------------------------------------------------------------------


@dataclass
class _Account:
    """One counterpart's (or, for the network, one hospital's) hours, signed: + given."""

    name: str
    opening: Decimal  # before the previous period
    previous_given: Decimal
    previous_received: Decimal
    given: Decimal
    received: Decimal
    per_bucket: dict[date, Decimal]  # this period's net per bucket

    @property
    def at_previous_end(self) -> Decimal:
        return self.opening + self.previous_given - self.previous_received

    @property
    def at_end(self) -> Decimal:
        return self.at_previous_end + self.given - self.received


def _ledger_phase(scope: Scope) -> tuple[Case, Case]:
    """0 before the previous period, 1 in it, 2 in this one; and the bucket in this one."""
    phase = Case(
        When(occurred_at__gte=scope.period.start_at, then=V(2)),
        When(occurred_at__gte=scope.previous.start_at, then=V(1)),
        default=V(0),
    )
    bucket = scope.bucket("occurred_at")
    return phase, bucket


def _account(accounts: dict[Any, _Account], key: Any, name: str) -> _Account:
    zero = Decimal("0.00")
    if key not in accounts:
        accounts[key] = _Account(name, zero, zero, zero, zero, zero, defaultdict(Decimal))
    return accounts[key]


def _post(account: _Account, phase: int, bucket: date | None, signed: Decimal) -> None:
    given, received = max(signed, Decimal(0)), max(-signed, Decimal(0))
    if phase == 0:
        account.opening += signed
    elif phase == 1:
        account.previous_given += given
        account.previous_received += received
    else:
        account.given += given
        account.received += received
        assert bucket is not None
        account.per_bucket[bucket] += signed


def _hospital_accounts(scope: Scope) -> dict[Any, _Account]:
    """One query: the hospital's entries grouped per counterpart, phase and bucket."""
    hospital = scope.hospital
    assert hospital is not None
    phase, bucket = _ledger_phase(scope)
    rows = (
        LedgerEntry.objects.filter(
            Q(creditor_hospital=hospital) | Q(debtor_hospital=hospital),
            occurred_at__lt=scope.period.end_at,
        )
        .values("creditor_hospital_id", "creditor_technologist_id", "debtor_hospital_id")
        # Grouped by ids only; the names ride along (one per id).
        .annotate(
            phase=phase,
            bucket=bucket,
            hours=Sum("hours"),
            creditor_hospital__name=Max("creditor_hospital__name"),
            creditor_technologist__first_name=Max("creditor_technologist__first_name"),
            creditor_technologist__last_name=Max("creditor_technologist__last_name"),
            creditor_technologist__email=Max("creditor_technologist__email"),
            debtor_hospital__name=Max("debtor_hospital__name"),
        )
        .order_by()
    )
    accounts: dict[Any, _Account] = {}
    for row in rows:
        gave = row["creditor_hospital_id"] == hospital.pk
        if gave:
            other = Counterpart("hospital", row["debtor_hospital_id"], row["debtor_hospital__name"])
        else:
            other = creditor_counterpart(row)
        signed = row["hours"] if gave else -row["hours"]
        _post(_account(accounts, other.key, other.name), row["phase"], row["bucket"], signed)
    return accounts


def _network_accounts(scope: Scope) -> dict[Any, _Account]:
    """Two queries: what each hospital gave, what each received, per phase and bucket."""
    phase, bucket = _ledger_phase(scope)
    names = dict(scope.rows)
    accounts: dict[Any, _Account] = {}
    for side, sign in (("creditor_hospital_id", 1), ("debtor_hospital_id", -1)):
        rows = (
            LedgerEntry.objects.filter(
                occurred_at__lt=scope.period.end_at, **{f"{side}__isnull": False}
            )
            .values(side, phase=phase, bucket=bucket)
            .annotate(hours=Sum("hours"))
            .order_by()
        )
        for row in rows:
            key = row[side]
            _post(
                _account(accounts, key, names.get(key, str(key))),
                row["phase"],
                row["bucket"],
                sign * row["hours"],
            )
    return accounts


def reciprocity(scope: Scope) -> Section:
    network = scope.hospital is None
    accounts = _network_accounts(scope) if network else _hospital_accounts(scope)
    if network:  # every hospital has a row, even one with no entries
        for pk, name in scope.rows:
            _account(accounts, pk, name)
    keyed = sorted(accounts.items(), key=lambda item: (-item[1].at_end, item[1].name))
    ordered = [account for _key, account in keyed]
    drawn = sorted(ordered, key=lambda a: (-abs(a.at_end), a.name))[:TOP_COUNTERPARTS]
    others = [a for a in ordered if a not in drawn]
    buckets = scope.period.buckets()

    def running(group: Sequence[_Account]) -> dict[date, Cell]:
        balance = sum((a.at_previous_end for a in group), Decimal(0))
        values: dict[date, Cell] = {}
        for b in buckets:
            balance += sum((a.per_bucket.get(b, Decimal(0)) for a in group), Decimal(0))
            values[b] = tenth(balance)
        return values

    series = [] if network else [_series(scope, _("All counterparts"), running(ordered))]
    series += [_series(scope, a.name, running([a])) for a in drawn]
    if others:
        series.append(_series(scope, _("Others"), running(others)))
    given = sum((a.given for a in ordered), Decimal(0))
    received = sum((a.received for a in ordered), Decimal(0))
    given_before = sum((a.previous_given for a in ordered), Decimal(0))
    received_before = sum((a.previous_received for a in ordered), Decimal(0))
    if network:
        # Every entry has a debtor hospital: what they received is all the ledger recorded.
        headline: tuple[Value, ...] = (
            Value(_("Hours exchanged"), tenth(received), tenth(received_before), "h"),
        )
    else:
        headline = (
            Value(
                _("Balance at the end"),
                tenth(sum((a.at_end for a in ordered), Decimal(0))),
                tenth(sum((a.at_previous_end for a in ordered), Decimal(0))),
                "h",
            ),
            Value(_("Hours given"), tenth(given), tenth(given_before), "h"),
            Value(_("Hours received"), tenth(received), tenth(received_before), "h"),
        )
    return Section(
        key="reciprocity",
        title=_("Reciprocity"),
        definition=str(NETWORK_RECIPROCITY if network else RECIPROCITY),
        headline=headline,
        chart=_line(scope, "h", series),
        breakdown=Table(
            columns=(
                _("Hospital") if network else _("Counterpart"),
                _("Hours given"),
                _("Hours received"),
                _("Balance at the end (h)"),
            ),
            rows=tuple(
                (
                    a.name,
                    tenth(a.given),
                    tenth(a.received),
                    tenth(a.at_end),
                )
                for a in ordered
            ),
            links=_links(scope, [key for key, _account in keyed]),
        ),
    )


# The families in the order the dashboard shows them.
FAMILIES: tuple[Callable[[Scope], Section], ...] = (
    hours_recovered,
    fill_rate,
    time_to_fill,
    reliability,
    help_given,
    cockpit,
    reciprocity,
)
