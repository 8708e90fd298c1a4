"""How much a technologist may work: the rest buffer between two sessions, the weekly cap and
the week it is counted in. The one home of these rules: the booking services check a booking
against them, the ranking filters candidates with them and the optimiser builds its problem
from them, so the three cannot drift apart.

A week runs from Monday 00:00 to the next Monday 00:00 in the technologist's own time zone
(`TechnologistProfile.home_time_zone`); a booking counts in the week its start falls in. Only
confirmed hours count towards the cap: a pending booking promises nothing yet.

This module sits under `scheduling.models` (which takes its constants from here), so it names
the Booking model only inside the functions that query it."""

from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import (
    DateTimeField,
    DecimalField,
    Expression,
    ExpressionWrapper,
    Q,
    Sum,
)

__all__ = [
    "REST_BUFFER",
    "WEEKLY_CAP_HOURS",
    "clashing",
    "hours_by_week",
    "hours_held",
    "hours_text",
    "rest_minutes",
    "week_of",
    "week_start",
    "within_cap",
]

# Between two sessions of one technologist at least this much time passes. Kept in code, not
# settings: the PostgreSQL exclusion constraint (scheduling migration 0003) spells the same value.
REST_BUFFER = timedelta(minutes=30)
# Hours of confirmed work a technologist may hold in one week (Monday to Sunday, their zone).
WEEKLY_CAP_HOURS = Decimal("38")

_HOURS = DecimalField(max_digits=8, decimal_places=2)


def rest_minutes() -> int:
    return int(REST_BUFFER.total_seconds() // 60)


def hours_text(value: Decimal | float) -> str:
    """3, 3.5, 3.25: hours as people write them."""
    return f"{Decimal(value):.2f}".rstrip("0").rstrip(".")


# --- The week ---------------------------------------------------------------------------------


def week_of(moment: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Monday 00:00 to the next Monday 00:00 around `moment`, in `zone` (aware, in `zone`)."""
    monday = week_start(moment, zone)
    return (
        datetime.combine(monday, time(), tzinfo=zone),
        datetime.combine(monday + timedelta(days=7), time(), tzinfo=zone),
    )


def week_start(moment: datetime, zone: ZoneInfo) -> date:
    """The Monday of `moment`'s week in `zone`: the key a week is known by."""
    day = moment.astimezone(zone).date()
    return day - timedelta(days=day.weekday())


def within_cap(held: Decimal, hours: Decimal) -> bool:
    """Whether `hours` more still fit under the weekly cap with `held` already confirmed."""
    return held + hours <= WEEKLY_CAP_HOURS


# --- Clashes ----------------------------------------------------------------------------------


def clashing(start: datetime | Expression | Any, end: datetime | Expression | Any) -> Q:
    """Bookings (of whatever status the caller adds) that come within the rest buffer of
    [start, end): the two cannot both be worked. `start` and `end` are date-times, or
    expressions such as OuterRef("starts_at") when the slot is another row."""
    if isinstance(start, datetime) and isinstance(end, datetime):
        return Q(starts_at__lt=end + REST_BUFFER, ends_at__gt=start - REST_BUFFER)
    return Q(
        starts_at__lt=ExpressionWrapper(end + REST_BUFFER, output_field=DateTimeField()),
        ends_at__gt=ExpressionWrapper(start - REST_BUFFER, output_field=DateTimeField()),
    )


def clashes(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    """`clashing` for two slots in hand."""
    return a_start < b_end + REST_BUFFER and a_end > b_start - REST_BUFFER


# --- Hours held -------------------------------------------------------------------------------


def hours_held(
    *, technologist_id: int, moment: datetime, zone: ZoneInfo, excluding: int | None = None
) -> Decimal:
    """Confirmed hours the technologist holds in the week of `moment` (their zone `zone`),
    leaving out the booking `excluding` (the one being checked)."""
    from scheduling.models import CONFIRMED_STATUSES, Booking

    start, end = week_of(moment, zone)
    held = Booking.objects.filter(
        technologist_id=technologist_id,
        status__in=CONFIRMED_STATUSES,
        starts_at__gte=start,
        starts_at__lt=end,
    )
    if excluding is not None:
        held = held.exclude(pk=excluding)
    total = held.aggregate(total=Sum("hours", output_field=_HOURS))["total"]
    return Decimal(total or 0)


def hours_by_week(
    bookings: Iterable[tuple[int, datetime, Decimal]], *, zone_of: Mapping[int, str]
) -> dict[tuple[int, date], Decimal]:
    """Confirmed hours per (technologist, Monday of the week in their own zone), from their
    confirmed bookings as (technologist id, start, hours): give every one of a technologist's
    bookings in the weeks asked about (see `weeks_around`), or their totals are short.
    Technologists absent from `zone_of` are left out; one with none in a week is absent (0 h)."""
    zones: dict[str, ZoneInfo] = {}
    totals: dict[tuple[int, date], Decimal] = {}
    for user_id, starts_at, hours in bookings:
        name = zone_of.get(user_id)
        if name is None:
            continue
        zone = zones.get(name) or zones.setdefault(name, ZoneInfo(name))
        key = (user_id, week_start(starts_at, zone))
        totals[key] = totals.get(key, Decimal(0)) + hours
    return totals


def weeks_around(moments: Iterable[datetime], *, zones: Iterable[str]) -> tuple[datetime, datetime]:
    """From the earliest start to the latest end of the weeks holding `moments`, in any of
    `zones`: the span to read bookings over for `hours_by_week`."""
    moments = list(moments)
    bounds = [week_of(moment, ZoneInfo(name)) for name in set(zones) for moment in moments]
    if not bounds:
        return min(moments), min(moments)
    return min(start for start, _ in bounds), max(end for _, end in bounds)
