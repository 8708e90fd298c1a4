"""Recurring windows (RFC 5545 RRULE) expanded over a query window, right across DST changes.

A recurrence is defined in wall-clock time of a time zone: "every Monday 08:00–12:00 in
Europe/Brussels" stays 08:00–12:00 local after the clocks change, so it moves by an hour in UTC.
Occurrences are computed on demand for the range asked, never stored ahead.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, rrule, rrulestr
from django.utils.translation import gettext as _

# A rule that never ends is fine; a rule expanded over more than this is refused.
MAX_OCCURRENCES_PER_QUERY = 2000
# A rule's first occurrence comes within this long of its start (29 February: four years).
FIRST_OCCURRENCE_WITHIN = timedelta(days=4 * 366)
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# "Every 100 weeks" is already no availability; a larger step only makes each step longer.
MAX_INTERVAL = 100


class RecurrenceError(ValueError):
    pass


@dataclass(frozen=True)
class Occurrence:
    starts_at: datetime  # aware, UTC
    ends_at: datetime  # aware, UTC


@lru_cache(maxsize=4096)
def parse_rule(text: str, *, first_start_local: datetime) -> rrule:
    """An RRULE value (without DTSTART), anchored at the first occurrence's local start.
    Cached: matching expands the same few rules for many people many times a second."""
    cleaned = text.strip()
    if cleaned.upper().startswith("RRULE:"):
        cleaned = cleaned[6:]
    if not cleaned:
        raise RecurrenceError(_("The rule is empty."))
    if "DTSTART" in cleaned.upper() or "\n" in cleaned:
        raise RecurrenceError(_("Give only the RRULE value, e.g. FREQ=WEEKLY;BYDAY=MO,WE."))
    try:
        rule = rrulestr(cleaned, dtstart=first_start_local, ignoretz=True)
    except (ValueError, TypeError) as error:
        raise RecurrenceError(_("Not a valid RRULE: %(error)s.") % {"error": error}) from None
    if not isinstance(rule, rrule):
        raise RecurrenceError(_("Give a single RRULE."))
    if rule._freq > 3:  # HOURLY and finer are not availability windows
        raise RecurrenceError(_("Repeat daily, weekly, monthly or yearly."))
    _refuse_parts_not_needed(rule)
    per_day = len(rule._byhour or ()) * len(rule._byminute or ()) * len(rule._bysecond or ())
    if per_day > 1:  # BYHOUR/BYMINUTE lists: the window's time is its start and end
        raise RecurrenceError(
            _(
                "A window happens at most once a day: its time is the start and end you give, "
                "not BYHOUR or BYMINUTE."
            )
        )
    # A rule that never happens (30 February) would be searched for until the year 9999, seconds
    # each time it is expanded: refused, as is one whose first occurrence is years away.
    months = rule._bymonth or range(1, 13)
    longest = max(_MONTH_DAYS[month - 1] for month in months)
    monthdays = [*(rule._bymonthday or ()), *(-day for day in rule._bynmonthday or ())]
    if monthdays and all(abs(day) > longest for day in monthdays):
        raise RecurrenceError(_("This rule names a day that its months do not have."))
    horizon = first_start_local + FIRST_OCCURRENCE_WITHIN
    until = rule._until if rule._until is not None and rule._until < horizon else horizon
    if next(occurrences_through(rule.replace(count=None), through=until), None) is None:
        raise RecurrenceError(_("This rule has no occurrence within four years of its start."))
    return rule


def _refuse_parts_not_needed(rule: rrule) -> None:
    """Windows repeat on weekdays, days of the month and months; the rest of RFC 5545 is
    refused with a reason rather than expanded (and searched) for nobody."""
    if rule._byyearday or rule._byweekno or rule._bysetpos or rule._byeaster:
        raise RecurrenceError(
            _(
                "Repeat on weekdays (BYDAY), days of the month (BYMONTHDAY) or months "
                "(BYMONTH); BYYEARDAY, BYWEEKNO, BYSETPOS and BYEASTER are not used for windows."
            )
        )
    # dateutil fails (IndexError) on a 53rd Monday of a month, or counts it from the wrong end.
    monthly = rule._freq == MONTHLY or bool(rule._bymonth)
    most = 5 if monthly else 53
    if any(abs(n) > most for _day, n in rule._bynweekday or ()):
        raise RecurrenceError(
            _("A month has at most 5 of each weekday (BYDAY=2MO).")
            if monthly
            else _("A year has at most 53 of each weekday (BYDAY=2MO).")
        )
    if rule._interval > MAX_INTERVAL:
        raise RecurrenceError(
            _("Repeat at least every %(most)s periods (INTERVAL).") % {"most": MAX_INTERVAL}
        )


# --- A calendar walk with a bound -----------------------------------------------------------
# dateutil stops a rule only at an occurrence it yields (past UNTIL or COUNT) or at the year
# 9999: a rule that yields nothing for a long while is walked, day by day for a daily rule, for
# as long. `occurrences_through` gives each expansion a budget of calendar months instead, so
# the work is bounded by the span asked for, whatever the rule.


class _WalkSpent(Exception):
    pass


class _BoundedRule(rrule):
    """The same rule, whose walk is stopped after `months` steps from one month (or one
    period, for monthly and yearly rules) to the next. dateutil re-reads `_byeaster` (refused,
    so always None here) each time its walk enters a new month or period: that read is the
    step counted."""

    def __init__(self, *, months: int, **kwargs: Any) -> None:
        self._months = months
        self._steps_left = months
        super().__init__(**kwargs)

    @property
    def _byeaster(self) -> tuple[int, ...] | None:
        self._steps_left -= 1
        if self._steps_left < 0:
            raise _WalkSpent
        return self._easter

    @_byeaster.setter
    def _byeaster(self, value: tuple[int, ...] | None) -> None:
        self._easter = value

    def _iter(self) -> Iterator[datetime]:
        self._steps_left = self._months
        try:
            yield from super()._iter()
        except _WalkSpent:
            return


def occurrences_through(rule: rrule, *, through: datetime) -> Iterator[datetime]:
    """The rule's occurrences from its start through `through` (local), in order, with the
    calendar walked no further than the month after `through`."""
    start = rule._dtstart
    months = (through.year - start.year) * 12 + through.month - start.month
    bounded = _BoundedRule(
        months=max(months, 0) + 4,  # the first month, the month after `through`, dateutil's reads
        freq=rule._freq,
        dtstart=start,
        interval=rule._interval,
        wkst=rule._wkst,
        count=rule._count,
        until=rule._until,
        **rule._original_rule,
    )
    for occurrence in bounded:
        if occurrence > through:
            return
        yield occurrence


def _fast_forward(rule: rrule, first_local: datetime, after: datetime) -> rrule:
    """The same rule anchored at a later start on its own pattern, so that expanding it near
    `after` does not step through every occurrence since the window was first published.
    Only for daily and weekly rules without COUNT or BYSETPOS: moving their start by whole
    periods (days, or weeks, times INTERVAL) of wall-clock time yields the same occurrences."""
    if rule._freq not in (DAILY, WEEKLY) or rule._count is not None or rule._bysetpos:
        return rule
    period = rule._interval * (7 if rule._freq == WEEKLY else 1)
    periods = (after - first_local).days // period - 1
    if periods <= 0:
        return rule
    return rule.replace(dtstart=first_local + timedelta(days=periods * period))


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None)


def _aware(local: datetime, zone: ZoneInfo) -> datetime:
    # In the autumn overlap the first (summer-time) reading is taken; in the spring gap zoneinfo
    # moves the time forward, as a wall clock does.
    return local.replace(tzinfo=zone).astimezone(UTC)


def expand(
    *,
    starts_at: datetime,
    ends_at: datetime,
    time_zone: str,
    rule: str = "",
    exdates: Iterable[datetime] = (),
    range_start: datetime,
    range_end: datetime,
) -> Iterator[Occurrence]:
    """Occurrences that overlap [range_start, range_end), in order.

    `starts_at`/`ends_at` are the first occurrence (aware); `exdates` are the local start times
    (naive, in `time_zone`) of occurrences that do not happen."""
    if not rule:
        if starts_at < range_end and ends_at > range_start:
            yield Occurrence(starts_at.astimezone(UTC), ends_at.astimezone(UTC))
        return
    zone = ZoneInfo(time_zone)
    first_local = _local(starts_at, zone)
    duration = _local(ends_at, zone) - first_local
    recurrence = parse_rule(rule, first_start_local=first_local)
    skipped = {moment.replace(tzinfo=None, second=0, microsecond=0) for moment in exdates}
    # Local bounds, widened by a day and by the duration so no overlapping occurrence is missed.
    after = _local(range_start, zone) - duration - timedelta(days=1)
    before = _local(range_end, zone) + timedelta(days=1)
    recurrence = _fast_forward(recurrence, first_local, after)
    count = 0
    for local_start in occurrences_through(recurrence, through=before):
        if local_start < after:
            continue
        count += 1
        if count > MAX_OCCURRENCES_PER_QUERY:
            raise RecurrenceError(_("Too many occurrences in this range; ask for a shorter one."))
        if local_start in skipped:
            continue
        occurrence = Occurrence(_aware(local_start, zone), _aware(local_start + duration, zone))
        if occurrence.starts_at < range_end and occurrence.ends_at > range_start:
            yield occurrence
