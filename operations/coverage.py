"""Coverage ahead: the next four weeks of a hospital's scanners, day by day.

Each published session (an open or filled posting) that starts from today on counts once, in its
scanner's row and on its day (the site's wall clock), as

- **staffed**: a technologist has confirmed it (a confirmed, running or completed booking);
- **pending**: not staffed, but someone is invited or has applied (only pending bookings);
- **short**: still open with nobody on it (no live booking).

The unfilled sessions (pending and short) are listed urgent first, then soonest; those already
over are left out (nothing can be done about them). Two queries whatever the size: the scanners,
and the postings with their bookings counted in the database."""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from django.db.models import Count, Q
from django.utils.translation import gettext_lazy

from marketplace.models import Hospital, PostingStatus, Scanner, SessionPosting, Urgency
from operations.charts import cell_text
from scheduling.models import CONFIRMED_STATUSES, BookingStatus

DAYS_AHEAD = 28

State = Literal["staffed", "pending", "short"]
STATES: tuple[State, ...] = ("staffed", "pending", "short")
DEFINITION = gettext_lazy(
    "The published sessions from today to four weeks ahead, per scanner and day (on the site's "
    "clock). Staffed: a technologist has confirmed. Pending: only invitations or applications "
    "so far. Short: still open, with nobody invited or applying. Hours: the sessions' posted "
    "length."
)

# Most urgent first.
_URGENCY_RANK: dict[str, int] = {Urgency.URGENT: 0, Urgency.PRIORITY: 1, Urgency.ROUTINE: 2}


@dataclass
class Tally:
    sessions: int = 0
    hours: Decimal = Decimal("0.00")

    @property
    def hours_text(self) -> str:
        """'4', '2.5': as the dashboard writes hours."""
        return cell_text(self.hours)

    def add(self, hours: Decimal) -> None:
        self.sessions += 1
        self.hours += hours


@dataclass
class Cell:
    """One scanner on one day."""

    day: date
    staffed: Tally = field(default_factory=Tally)
    pending: Tally = field(default_factory=Tally)
    short: Tally = field(default_factory=Tally)

    def tally(self, state: State) -> Tally:
        tally: Tally = getattr(self, state)
        return tally

    @property
    def state(self) -> State | Literal["none"]:
        """The worst of the day: short, else pending, else staffed (for its colour)."""
        worst_first: tuple[State, ...] = ("short", "pending", "staffed")
        for state in worst_first:
            if self.tally(state).sessions:
                return state
        return "none"


@dataclass
class Row:
    scanner: Scanner
    cells: list[Cell]


@dataclass
class Unfilled:
    posting: SessionPosting
    state: State
    starts_at: datetime  # in the site's time zone
    ends_at: datetime

    @property
    def hours_text(self) -> str:
        return cell_text(self.posting.duration_hours)


@dataclass
class Week:
    """Seven days of the grid (the page shows one table per week: readable on a phone)."""

    days: list[date]
    rows: list[Row]


@dataclass
class Coverage:
    hospital: Hospital
    time_zone: str
    days: list[date]
    rows: list[Row]
    unfilled: list[Unfilled]
    totals: dict[State, Tally]

    @property
    def start(self) -> date:
        return self.days[0]

    @property
    def end(self) -> date:
        return self.days[-1]

    @property
    def weeks(self) -> list[Week]:
        return [
            Week(
                days=self.days[first : first + 7],
                rows=[Row(row.scanner, row.cells[first : first + 7]) for row in self.rows],
            )
            for first in range(0, len(self.days), 7)
        ]


def coverage_ahead(*, hospital: Hospital, time_zone: str, now: datetime) -> Coverage:
    """The hospital's coverage from today (on `time_zone`'s wall clock) for DAYS_AHEAD days."""
    zone = ZoneInfo(time_zone)
    today = now.astimezone(zone).date()
    days = [today + timedelta(days=n) for n in range(DAYS_AHEAD)]
    # A day's margin on either side: a site in another zone may start its day earlier or later.
    window_start = datetime.combine(today - timedelta(days=1), time(), tzinfo=zone)
    window_end = datetime.combine(today + timedelta(days=DAYS_AHEAD + 1), time(), tzinfo=zone)
    scanners = list(
        Scanner.objects.filter(site__hospital=hospital)
        .select_related("site")
        .order_by("site__name", "name", "pk")
    )
    postings = (
        SessionPosting.objects.filter(
            hospital=hospital,
            status__in=(PostingStatus.OPEN, PostingStatus.FILLED),
            starts_at__gte=window_start,
            starts_at__lt=window_end,
        )
        .select_related("site", "scanner")
        .annotate(
            confirmed_count=Count("bookings", filter=Q(bookings__status__in=CONFIRMED_STATUSES)),
            pending_count=Count("bookings", filter=Q(bookings__status=BookingStatus.PENDING)),
        )
        .order_by("starts_at", "pk")
    )
    index = {day: n for n, day in enumerate(days)}
    rows = {scanner.pk: Row(scanner, [Cell(day) for day in days]) for scanner in scanners}
    totals: dict[State, Tally] = {state: Tally() for state in STATES}
    unfilled = []
    for posting in postings:
        state = _state_of(posting)
        site_zone = ZoneInfo(posting.site.time_zone)
        starts_at = posting.starts_at.astimezone(site_zone)
        day = starts_at.date()
        if state is None or day not in index or posting.scanner_id not in rows:
            continue
        hours = posting.duration_hours
        rows[posting.scanner_id].cells[index[day]].tally(state).add(hours)
        totals[state].add(hours)
        if state != "staffed" and posting.ends_at > now:
            unfilled.append(
                Unfilled(posting, state, starts_at, posting.ends_at.astimezone(site_zone))
            )
    unfilled.sort(
        key=lambda u: (_URGENCY_RANK.get(u.posting.urgency, 9), u.posting.starts_at, u.posting.pk)
    )
    return Coverage(
        hospital=hospital,
        time_zone=time_zone,
        days=days,
        rows=list(rows.values()),
        unfilled=unfilled,
        totals=totals,
    )


def _state_of(posting: SessionPosting) -> State | None:
    if posting.confirmed_count:  # type: ignore[attr-defined]
        return "staffed"
    if posting.pending_count:  # type: ignore[attr-defined]
        return "pending"
    if posting.status == PostingStatus.OPEN:
        return "short"
    return None  # filled, yet nobody confirmed: not the grid's to guess
