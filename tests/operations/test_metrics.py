"""Each figure of the dashboard on a small fixed history, counted by hand below and compared.

The period: Monday 5 to Sunday 1 November 2026, Brussels time, by week; the one before it runs
from Monday 7 September to Sunday 4 October. Brussels leaves summer time on Sunday 25 October, so
the last week is in CET and the others in CEST. "Now" is Wednesday 28 October, 12:00 UTC.

Scanners MR 1 and MR 2 at Campus Nord (Hôpital Sainte-Claire). Times below are UTC.

Postings (published, unless said):
- P1 MR 1, Tue 6 Oct 08:00, 4 h, routine, published 1 Oct 08:00 (5 days ahead). B1 completed,
  confirmed 2 Oct 08:00 (24 h, in the previous period). Cockpit 08:10-11:40 (3.5 h), exam
  completed; help requests A1 (accepted in 4 min) and A2 (widened, accepted in 10 min).
- P2 MR 2, Mon 26 Oct 07:00 (after the change), 2 h, urgent, published 01:00 (6 h ahead). B2
  completed, confirmed 03:00 (2 h). Cockpit 07:00-09:00 (2 h), exam partial, two STOPs; A3
  expired at the managers' stage, A4 cancelled unanswered.
- P3 MR 1, Tue 20 Oct 08:00, 3 h, routine, published 1 Sep (7 weeks ahead): nobody staffs it.
  B9 confirmed 10 Oct 08:00 (936 h), then cancelled late by the hospital.
- P4 MR 1, Fri 30 Oct 08:00 (after now), 4 h, routine, published 20 Oct 08:00 (10 days). B10
  confirmed 21 Oct 08:00 (24 h), then cancelled late by the technologist.
- P8 MR 2, Sun 4 Oct 22:30 UTC = Mon 5 Oct 00:30 in Brussels: in this period and its first
  week, though 4 Oct in UTC. 1 h, priority, published 10:30 (12 h ahead). B8 confirmed 12:30 UTC
  (2 h, in the previous period), a no-show of the technologist.
- P9 MR 2, Wed 14 Oct 08:00, 2 h, routine, published 13 Oct 08:00 (24 h ahead: 1-7 days). B11
  confirmed 10:00 (2 h), a no-show of the hospital.
- P10 MR 2, Wed 28 Oct 15:00, 2 h, routine, published 27 Oct: later today than now, nobody on
  it yet.
- P5 MR 2, a draft, and P6 MR 1, cancelled: counted nowhere.
- P7 MR 1 (previous period), Tue 15 Sep 08:00, 5 h, priority, published 10 Sep 08:00. B7
  completed, confirmed 18:00 (10 h); cockpit 08:00-12:00 (4 h), exam aborted, one STOP, A6
  accepted in 20 min. B13 another technologist's, cancelled late by them (never confirmed).
- A5 raised at 23:30 UTC on Sunday 1 November (00:30 on 2 November in Brussels): after the
  period.

The ledger (hours; H: Sainte-Claire, O: Scheldeland, T: a third hospital, X: an independent
technologist): L1 1 Aug O→H 10; L2 20 Sep H→O 4; L3 6 Oct H→O 3; L4 21 Oct T→H 6; L5 27 Oct
X→H 2; L6 10 Oct O→T 5; L7 1 Nov 23:30 UTC H→O 50 (after the period)."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from cockpit.models import (
    AssistRequest,
    AssistStage,
    AssistStatus,
    CockpitSession,
    CockpitStatus,
    CockpitStop,
    ExamEnding,
    ExamOutcome,
    ExamRecord,
)
from cockpit.models import (
    Role as CockpitRole,
)
from marketplace.models import (
    ExamFamily,
    Hospital,
    PostingStatus,
    Scanner,
    SessionPosting,
    Urgency,
)
from operations import coverage
from operations.dashboard import dashboard_for
from operations.figures import Dashboard, Period, Section
from scheduling.models import Booking, BookingStatus, LedgerEntry, LedgerKind
from tests.conftest import World
from tests.factories import HospitalFactory, ScannerFactory, UserFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 10, 28, 12, 0, tzinfo=UTC)
PERIOD = Period(date(2026, 10, 5), date(2026, 11, 1), "week", "Europe/Brussels")
WEEKS = ("Week of 5 Oct 2026", "Week of 12 Oct 2026", "Week of 19 Oct 2026", "Week of 26 Oct 2026")
MR1, MR2 = "Campus Nord — MR 1", "Campus Nord — MR 2"


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def d(value: str) -> Decimal:
    return Decimal(value)


@dataclass
class History:
    world: World
    mr1: Scanner
    mr2: Scanner
    third: Hospital
    independent: User


def _posting(
    world: World,
    scanner: Scanner,
    starts_at: datetime,
    hours: float,
    urgency: str,
    published_at: datetime | None,
    status: str = PostingStatus.OPEN,
) -> SessionPosting:
    return SessionPosting.objects.create(
        hospital=scanner.site.hospital,
        site=scanner.site,
        scanner=scanner,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=hours),
        vendor=scanner.vendor,
        urgency=urgency,
        status=status,
        published_at=published_at,
    )


def _booking(
    posting: SessionPosting, who: User, status: str, confirmed_at: datetime | None, **fields: Any
) -> Booking:
    return Booking.objects.create(
        posting=posting,
        technologist=who,
        status=status,
        initiated_by="hospital",
        starts_at=posting.starts_at,
        ends_at=posting.ends_at,
        hours=posting.duration_hours,
        confirmed_at=confirmed_at,
        **fields,
    )


def _cockpit(booking: Booking, started: datetime, ended: datetime, outcome: str) -> CockpitSession:
    cockpit = CockpitSession.objects.create(
        booking=booking,
        protocol="neuro",
        status=CockpitStatus.ENDED,
        started_at=started,
        ended_at=ended,
    )
    ExamRecord.objects.create(
        cockpit=cockpit, outcome=outcome, ending=ExamEnding.CLOSED, ended_at=ended
    )
    return cockpit


def _assist(
    cockpit: CockpitSession,
    created: datetime,
    status: str,
    *,
    accepted_after: timedelta | None = None,
    stage: int = AssistStage.SENIORS,
    senior: User | None = None,
    senior_hospital: Hospital | None = None,
    helped_for: timedelta | None = None,
) -> None:
    booking = cockpit.booking
    AssistRequest.objects.create(
        cockpit=cockpit,
        requested_by=booking.technologist,
        requester_role=CockpitRole.OPERATOR,
        exam_family=ExamFamily.objects.first(),
        vendor="siemens",
        status=status,
        stage=stage,
        created_at=created,
        accepted_by=senior if accepted_after is not None else None,
        accepted_at=created + accepted_after if accepted_after is not None else None,
        senior_hospital=senior_hospital,
        ended_at=(
            created + accepted_after + helped_for
            if accepted_after is not None and helped_for is not None
            else None
        ),
    )


def _entry(
    booking: Booking,
    kind: str,
    when: datetime,
    hours: int,
    debtor: Hospital,
    creditor: Hospital | None = None,
    technologist: User | None = None,
) -> None:
    LedgerEntry.objects.create(
        booking=booking,
        kind=kind,
        creditor_hospital=creditor,
        creditor_technologist=technologist,
        debtor_hospital=debtor,
        hours=Decimal(hours),
        occurred_at=when,
    )


@pytest.fixture
def history(world: World) -> History:
    mr1 = world.scanner
    mr2 = ScannerFactory(site=world.site, name="MR 2")
    worker, other_worker, senior = UserFactory(), UserFactory(), UserFactory()
    third = HospitalFactory(name="Hôpital Trois-Rivières")
    independent = UserFactory(first_name="Ana", last_name="Lopes")
    routine, priority, urgent = Urgency.ROUTINE, Urgency.PRIORITY, Urgency.URGENT

    p1 = _posting(world, mr1, at(10, 6, 8), 4, routine, at(10, 1, 8), PostingStatus.FILLED)
    b1 = _booking(p1, worker, BookingStatus.COMPLETED, at(10, 2, 8))
    c1 = _cockpit(b1, at(10, 6, 8, 10), at(10, 6, 11, 40), ExamOutcome.COMPLETED)
    _assist(  # A1: the hospital's own senior, in its own cockpit: help received, not given
        c1,
        at(10, 6, 9),
        AssistStatus.RESOLVED,
        accepted_after=timedelta(minutes=4),
        senior=senior,
        senior_hospital=world.hospital,
        helped_for=timedelta(minutes=30),
    )
    _assist(
        c1,
        at(10, 6, 10),
        AssistStatus.RESOLVED,
        accepted_after=timedelta(minutes=10),
        stage=AssistStage.WIDENED,
        senior=senior,
    )

    p2 = _posting(world, mr2, at(10, 26, 7), 2, urgent, at(10, 26, 1), PostingStatus.FILLED)
    b2 = _booking(p2, worker, BookingStatus.COMPLETED, at(10, 26, 3))
    c2 = _cockpit(b2, at(10, 26, 7), at(10, 26, 9), ExamOutcome.PARTIAL)
    _assist(c2, at(10, 26, 7, 30), AssistStatus.EXPIRED, stage=AssistStage.MANAGERS)
    _assist(c2, at(10, 26, 8), AssistStatus.CANCELLED)
    _assist(c2, at(11, 1, 23, 30), AssistStatus.CANCELLED)  # A5: 2 November in Brussels
    for minute in (30, 40):
        CockpitStop.objects.create(cockpit=c2, role=CockpitRole.LOCAL, at=at(10, 26, 8, minute))

    p3 = _posting(world, mr1, at(10, 20, 8), 3, routine, at(9, 1, 8))
    b9 = _booking(
        p3, worker, BookingStatus.CANCELLED, at(10, 10, 8), late=True, cancelled_side="hospital"
    )
    p4 = _posting(world, mr1, at(10, 30, 8), 4, routine, at(10, 20, 8))
    b10 = _booking(
        p4, worker, BookingStatus.CANCELLED, at(10, 21, 8), late=True, cancelled_side="technologist"
    )
    p8 = _posting(world, mr2, at(10, 4, 22, 30), 1, priority, at(10, 4, 10, 30))
    b8 = _booking(p8, worker, BookingStatus.NO_SHOW, at(10, 4, 12, 30), no_show_side="technologist")
    p9 = _posting(world, mr2, at(10, 14, 8), 2, routine, at(10, 13, 8), PostingStatus.FILLED)
    b11 = _booking(p9, worker, BookingStatus.NO_SHOW, at(10, 13, 10), no_show_side="hospital")
    _posting(world, mr2, at(10, 28, 15), 2, routine, at(10, 27, 8))  # P10, later today
    _posting(world, mr2, at(10, 13, 8), 3, routine, None, PostingStatus.DRAFT)
    _posting(world, mr1, at(10, 14, 8), 3, routine, at(10, 1, 8), PostingStatus.CANCELLED)

    # P11, at Scheldeland: its requests for help are Scheldeland's; the help Sainte-Claire's
    # seniors gave there is Sainte-Claire's help given.
    p11 = _posting(
        world, world.other_scanner, at(10, 15, 8), 3, routine, at(10, 10, 8), PostingStatus.FILLED
    )
    b12 = _booking(p11, worker, BookingStatus.COMPLETED, at(10, 11, 8))
    c11 = _cockpit(b12, at(10, 15, 8), at(10, 15, 11), ExamOutcome.COMPLETED)
    helped = {"senior": senior, "senior_hospital": world.hospital}
    for created, accepted, lasted in ((at(10, 15, 9), 5, 45), (at(10, 15, 10), 2, 30)):  # A7, A8
        _assist(
            c11,
            created,
            AssistStatus.RESOLVED,
            accepted_after=timedelta(minutes=accepted),
            helped_for=timedelta(minutes=lasted),
            **helped,
        )
    _assist(  # A9: a senior of Scheldeland's own, there
        c11,
        at(10, 15, 10, 40),
        AssistStatus.RESOLVED,
        accepted_after=timedelta(minutes=1),
        helped_for=timedelta(minutes=10),
        senior=senior,
        senior_hospital=world.other_hospital,
    )
    _assist(  # A10: Sainte-Claire's senior still helping: nothing credited yet
        c11,
        at(10, 15, 10, 55),
        AssistStatus.ACCEPTED,
        accepted_after=timedelta(minutes=1),
        **helped,
    )

    p7 = _posting(world, mr1, at(9, 15, 8), 5, priority, at(9, 10, 8), PostingStatus.FILLED)
    b7 = _booking(p7, worker, BookingStatus.COMPLETED, at(9, 10, 18))
    c7 = _cockpit(b7, at(9, 15, 8), at(9, 15, 12), ExamOutcome.ABORTED)
    CockpitStop.objects.create(cockpit=c7, role=CockpitRole.LOCAL, at=at(9, 15, 10))
    _assist(
        c7, at(9, 15, 9), AssistStatus.RESOLVED, accepted_after=timedelta(minutes=20), senior=senior
    )
    _booking(
        p7, other_worker, BookingStatus.CANCELLED, None, late=True, cancelled_side="technologist"
    )

    hospital, other = world.hospital, world.other_hospital
    completed, late = LedgerKind.COMPLETED, LedgerKind.LATE_CANCELLATION
    _entry(b1, completed, at(8, 1, 12), 10, debtor=hospital, creditor=other)  # L1
    _entry(b2, completed, at(9, 20, 12), 4, debtor=other, creditor=hospital)  # L2
    _entry(b7, completed, at(10, 6, 12), 3, debtor=other, creditor=hospital)  # L3
    _entry(b8, completed, at(10, 21, 12), 6, debtor=hospital, creditor=third)  # L4
    _entry(b9, completed, at(10, 27, 12), 2, debtor=hospital, technologist=independent)  # L5
    _entry(b10, completed, at(10, 10, 12), 5, debtor=third, creditor=other)  # L6
    _entry(b11, late, at(11, 1, 23, 30), 50, debtor=other, creditor=hospital)  # L7
    return History(world, mr1, mr2, third, independent)


def hospital_dashboard(history: History, period: Period = PERIOD) -> Dashboard:
    return dashboard_for(hospital=history.world.hospital, period=period, now=NOW)


def headline(section: Section) -> dict[str, tuple[Any, Any]]:
    return {value.label: (value.current, value.previous) for value in section.headline}


def chart(section: Section) -> dict[str, tuple[Any, ...]]:
    return {series.label: series.values for series in section.chart.series}


def breakdown(section: Section) -> list[tuple[Any, ...]]:
    assert section.breakdown is not None
    return list(section.breakdown.rows)


# --- The families ------------------------------------------------------------------------------


def test_sections_come_in_order_with_their_definitions(history: History) -> None:
    dashboard = hospital_dashboard(history)
    assert [s.key for s in dashboard.sections] == [
        "hours_recovered",
        "fill_rate",
        "time_to_fill",
        "reliability",
        "help",
        "cockpit",
        "reciprocity",
    ]
    assert all(len(s.definition) > 100 for s in dashboard.sections)
    assert dashboard.scope == "Hôpital Sainte-Claire"
    assert dashboard.previous == Period(
        date(2026, 9, 7), date(2026, 10, 4), "week", PERIOD.time_zone
    )
    assert dashboard.section("hours_recovered").chart.labels == WEEKS


def test_hours_recovered(history: History) -> None:
    section = hospital_dashboard(history).section("hours_recovered")
    # Exams: 3.5 h (B1) + 2 h (B2); before: 4 h (B7). Posted, of the sessions started before
    # now: P1 4, P8 1, P9 2, P3 3, P2 2 = 12 h (not P4 on Friday, nor P10 later today: their
    # exams cannot have run yet); before: P7 5 h. 5.5 / 12 = 45.83 %; 4 / 5 = 80 %.
    assert headline(section) == {
        "Exam hours run through WeScan": (d("5.5"), d("4.0")),
        "Posted hours": (d("12.0"), d("5.0")),
        "Share of posted hours": (d("45.8"), d("80.0")),
    }
    assert chart(section) == {
        "Exam hours": (d("3.5"), d("0.0"), d("0.0"), d("2.0")),
        "Posted hours": (d("5.0"), d("2.0"), d("3.0"), d("2.0")),  # P8 in the first week
    }
    # MR 1: 3.5 of 7 h (P1, P3); MR 2: 2 of 5 h (P8, P9, P2).
    assert breakdown(section) == [
        (MR1, d("3.5"), d("7.0"), d("50.0")),
        (MR2, d("2.0"), d("5.0"), d("40.0")),
    ]
    assert section.chart.table().rows[0] == (WEEKS[0], d("3.5"), d("5.0"))


def test_fill_rate(history: History) -> None:
    section = hospital_dashboard(history).section("fill_rate")
    # Started before now: P1, P8, P9, P3, P2 (P4 is after now). Staffed: all but P3 (P8 and P9
    # ended as no-shows, but were filled). Hours: 9 of 12. Before: P7, staffed.
    assert headline(section) == {
        "Fill rate (sessions)": (d("80.0"), d("100.0")),
        "Fill rate (hours)": (d("75.0"), d("100.0")),
        "Sessions published": (5, 1),
        "Fill rate, routine (sessions)": (d("66.7"), None),
        "Fill rate, priority (sessions)": (d("100.0"), d("100.0")),
        "Fill rate, urgent (sessions)": (d("100.0"), None),
    }
    assert chart(section) == {
        "All lanes": (d("100.0"), d("100.0"), d("0.0"), d("100.0")),
        "Routine": (d("100.0"), d("100.0"), d("0.0"), None),
        "Priority": (d("100.0"), None, None, None),
        "Urgent": (None, None, None, d("100.0")),
    }
    # MR 1: P1 (4 h) staffed, P3 (3 h) not; MR 2: P8, P9, P2 staffed.
    assert breakdown(section) == [
        (MR1, 2, 1, d("50.0"), d("57.1")),
        (MR2, 3, 3, d("100.0"), d("100.0")),
    ]


def test_time_to_fill(history: History) -> None:
    section = hospital_dashboard(history).section("time_to_fill")
    # Confirmed in the period: B2 2 h, B11 2 h, B10 24 h, B9 936 h. Median: between the middle
    # two (13); 90th: rank ceil(3.6) = 4 (936). Before: B8 2 h, B7 10 h and B1 24 h (confirmed
    # on 2 October): median 10, 90th rank ceil(2.7) = 3 (24).
    assert headline(section) == {
        "Median time to fill": (d("13.0"), d("10.0")),
        "90th percentile": (d("936.0"), d("24.0")),
        "Bookings confirmed": (4, 3),
    }
    assert section.chart.kind == "bar"
    assert section.chart.labels == (
        "Routine",
        "Priority",
        "Urgent",
        "Posted under 24 h ahead",
        "Posted 1-7 days ahead",
        "Posted 1-4 weeks ahead",
        "Posted over 4 weeks ahead",
    )
    # Routine: 2, 24, 936: median 24, rank ceil(2.7) = 3. Urgent: B2. Under 24 h: B2. 1-7 days:
    # B11 (posted exactly 24 h ahead). 1-4 weeks: B10. Over 4 weeks: B9.
    # How many confirmations each rests on, in the table beside the chart (not drawn).
    assert chart(section) == {
        "Median": (d("24.0"), None, d("2.0"), d("2.0"), d("2.0"), d("24.0"), d("936.0")),
        "90th percentile": (d("936.0"), None, d("2.0"), d("2.0"), d("2.0"), d("24.0"), d("936.0")),
        "Bookings confirmed": (3, 0, 1, 1, 1, 1, 1),
    }
    assert [s.label for s in section.chart.drawn] == ["Median", "90th percentile"]
    table = section.chart.table()
    assert table.columns == ("Lane or notice", "Median", "90th percentile", "Bookings confirmed")
    assert table.rows[0] == ("Routine", d("24.0"), d("936.0"), 3)
    assert "how far ahead" in section.definition
    # MR 1: B10 24, B9 936: median 480, rank ceil(1.8) = 2.
    assert breakdown(section) == [
        (MR1, 2, d("480.0"), d("936.0")),
        (MR2, 2, d("2.0"), d("2.0")),
    ]


def test_reliability(history: History) -> None:
    section = hospital_dashboard(history).section("reliability")
    assert headline(section) == {
        "Late cancellations by the hospital": (1, 0),  # B9
        "Late cancellations by the technologist": (1, 1),  # B10; before, B13
        "No-shows of the hospital": (1, 0),  # B11
        "No-shows of the technologist": (1, 0),  # B8, on 5 October in Brussels
    }
    assert chart(section) == {
        "Late cancellations by the hospital": (0, 0, 1, 0),
        "Late cancellations by the technologist": (0, 0, 0, 1),
        "No-shows of the hospital": (0, 1, 0, 0),
        "No-shows of the technologist": (1, 0, 0, 0),
    }
    assert breakdown(section) == [(MR1, 1, 1, 0, 0), (MR2, 0, 0, 1, 1)]


def test_help(history: History) -> None:
    section = hospital_dashboard(history).section("help")
    # A1-A4 (A5 is on 2 November in Brussels); accepted in 4 and 10 min; before, A6 in 20.
    assert headline(section) == {
        "Requests for help": (4, 1),
        "Median time to accept": (d("7.0"), d("20.0")),
        "90th percentile time to accept": (d("10.0"), d("20.0")),
        "Escalated": (2, 0),  # A2 widened, A3 up to the managers
        "Unanswered": (2, 0),  # A3 expired, A4 ended with nobody
        # A7 and A8, at Scheldeland: 45 and 30 min from acceptance to the end, 1.25 h (halves
        # up). Not A1 (in its own cockpit), A9 (Scheldeland's senior), A10 (still helping).
        "Help given to other hospitals": (2, 0),
        "Hours of help given": (d("1.3"), d("0.0")),
    }
    assert chart(section) == {
        "Requests": (2, 0, 0, 2),
        "Escalated": (1, 0, 0, 1),
        "Unanswered": (0, 0, 0, 2),
        "Help given": (0, 2, 0, 0),
    }
    assert section.definition.count("Help given:") == 1
    assert breakdown(section) == [(MR1, 2, d("7.0"), 1, 0), (MR2, 2, None, 1, 2)]


def test_cockpit(history: History) -> None:
    section = hospital_dashboard(history).section("cockpit")
    assert headline(section) == {
        "Exams run": (2, 1),
        "Partial": (1, 0),
        "Aborted": (0, 1),
        "STOPs": (2, 1),
    }
    assert chart(section) == {
        "Exams run": (1, 0, 0, 1),
        "Partial": (0, 0, 0, 1),
        "Aborted": (0, 0, 0, 0),
        "STOPs": (0, 0, 0, 2),
    }
    assert breakdown(section) == [(MR1, 1, 0, 0, 0), (MR2, 1, 1, 0, 2)]


def test_reciprocity_of_a_hospital(history: History) -> None:
    section = hospital_dashboard(history).section("reciprocity")
    # With O: -10 (L1), +4 (L2) = -6 at the previous end, +3 (L3) = -3. With T: -6 (L4). With
    # X: -2 (L5). L6 is not ours, L7 after the period.
    assert headline(section) == {
        "Balance at the end": (d("-11.0"), d("-6.0")),
        "Hours given": (d("3.0"), d("4.0")),
        "Hours received": (d("8.0"), d("0.0")),
    }
    assert chart(section) == {
        "All counterparts": (d("-3.0"), d("-3.0"), d("-9.0"), d("-11.0")),
        "Hôpital Trois-Rivières": (d("0.0"), d("0.0"), d("-6.0"), d("-6.0")),
        "Ziekenhuis Scheldeland": (d("-3.0"), d("-3.0"), d("-3.0"), d("-3.0")),
        "Ana Lopes": (d("0.0"), d("0.0"), d("0.0"), d("-2.0")),
    }
    assert breakdown(section) == [
        ("Ana Lopes", d("0.0"), d("2.0"), d("-2.0")),
        ("Ziekenhuis Scheldeland", d("3.0"), d("0.0"), d("-3.0")),
        ("Hôpital Trois-Rivières", d("0.0"), d("6.0"), d("-6.0")),
    ]


def test_the_network_is_broken_down_per_hospital(history: History) -> None:
    dashboard = dashboard_for(hospital=None, period=PERIOD, now=NOW)
    assert (dashboard.scope, dashboard.hospital_id) == ("The WeScan network", None)
    hours = dashboard.section("hours_recovered")
    assert breakdown(hours) == [
        ("Hôpital Sainte-Claire", d("5.5"), d("12.0"), d("45.8")),
        ("Hôpital Trois-Rivières", d("0.0"), d("0.0"), None),
        ("Ziekenhuis Scheldeland", d("3.0"), d("3.0"), d("100.0")),  # P11
    ]
    # Each hospital's row leads to its dashboard; a hospital's own rows lead nowhere.
    assert hours.breakdown is not None
    assert hours.breakdown.links == tuple(
        f"/hospitals/{pk}/dashboard/"
        for pk in (history.world.hospital.pk, history.third.pk, history.world.other_hospital.pk)
    )
    assert all(
        section.breakdown is None or section.breakdown.links == ()
        for section in hospital_dashboard(history).sections
    )
    help_ = dashboard.section("help")
    # Across the network help given is help received: every request once, where it was raised
    # (A1-A4 at Sainte-Claire, A7-A10 at Scheldeland; before, A6), and no second count.
    assert headline(help_)["Requests for help"] == (8, 1)
    assert "Help given to other hospitals" not in headline(help_)
    assert "Help given" not in chart(help_)
    assert "the help given is the help received" in help_.definition
    assert "Help given:" not in help_.definition
    assert breakdown(help_)[2][:2] == ("Ziekenhuis Scheldeland", 4)
    reciprocity = dashboard.section("reciprocity")
    # H: -10, +4 | +3 -6 -2 = -11. O: +10, -4 | +5 -3 = 8. T: -5 (L6, week of 5 Oct), +6 (L4,
    # week of 19 Oct) = 1. All entries in the
    # period: L3 3 + L4 6 + L5 2 + L6 5 = 16; before: L2 4.
    assert headline(reciprocity) == {"Hours exchanged": (d("16.0"), d("4.0"))}
    assert breakdown(reciprocity) == [
        ("Ziekenhuis Scheldeland", d("5.0"), d("3.0"), d("8.0")),
        ("Hôpital Trois-Rivières", d("6.0"), d("5.0"), d("1.0")),
        ("Hôpital Sainte-Claire", d("3.0"), d("8.0"), d("-11.0")),
    ]
    assert reciprocity.breakdown is not None
    assert reciprocity.breakdown.links == tuple(
        f"/hospitals/{pk}/dashboard/"
        for pk in (history.world.other_hospital.pk, history.third.pk, history.world.hospital.pk)
    )
    assert chart(reciprocity) == {
        "Hôpital Sainte-Claire": (d("-3.0"), d("-3.0"), d("-9.0"), d("-11.0")),
        "Ziekenhuis Scheldeland": (d("8.0"), d("8.0"), d("8.0"), d("8.0")),
        "Hôpital Trois-Rivières": (d("-5.0"), d("-5.0"), d("1.0"), d("1.0")),
    }


def test_every_definition_reads_as_plain_sentences(history: History) -> None:
    """A hospital's director reads them: whole sentences, no stray punctuation ("...starts
    in.)."), none of the code's own words."""
    network = dashboard_for(hospital=None, period=PERIOD, now=NOW)
    texts = {s.definition for s in (*hospital_dashboard(history).sections, *network.sections)}
    assert len(texts) == 9  # help and reciprocity say it their own way for the network
    for text in (*texts, coverage.DEFINITION):
        assert text.endswith("."), text
        for awkward in (".)", "..", "  ", " .", " ,", ";.", ":.", ",."):
            assert awkward not in text, (awkward, text)
        assert text.count("(") == text.count(")"), text
        for word in ("bucket", "scope", "posting", "nearest-rank"):
            assert word not in text.lower(), (word, text)
        for sentence in text.split(". "):
            assert sentence[0].isupper() or sentence[0].isdigit(), (sentence, text)


def test_reciprocity_names_what_the_ledger_counts(history: History) -> None:
    # A hospital's own no-shows and late cancellations count in its hours received: it says so.
    for hospital in (history.world.hospital, None):
        dashboard = dashboard_for(hospital=hospital, period=PERIOD, now=NOW)
        text = dashboard.section("reciprocity").definition
        for kind in ("hours worked", "a senior's help", "late cancellation", "no-show"):
            assert kind in text
        assert "late cancellations and no-shows" in text
        assert "hours received" in text


# --- Granularity, emptiness, size ---------------------------------------------------------------


def test_by_month(history: History) -> None:
    october = Period(date(2026, 10, 1), date(2026, 10, 31), "month", "Europe/Brussels")
    dashboard = hospital_dashboard(history, october)
    # The month before: 31 Aug - 30 Sep.
    assert dashboard.previous == Period(
        date(2026, 8, 31), date(2026, 9, 30), "month", "Europe/Brussels"
    )
    hours = dashboard.section("hours_recovered")
    assert hours.chart.labels == ("Oct 2026",)
    assert chart(hours) == {"Exam hours": (d("5.5"),), "Posted hours": (d("12.0"),)}
    assert headline(hours)["Exam hours run through WeScan"] == (d("5.5"), d("4.0"))
    cockpit = dashboard.section("cockpit")
    assert chart(cockpit) == {"Exams run": (2,), "Partial": (1,), "Aborted": (0,), "STOPs": (2,)}
    reciprocity = dashboard.section("reciprocity")
    # 1 Oct - 31 Oct: L3, L4, L5; before (31 Aug - 30 Sep): L2; L1 in the opening.
    assert chart(reciprocity)["All counterparts"] == (d("-11.0"),)
    assert headline(reciprocity)["Hours given"] == (d("3.0"), d("4.0"))


def test_an_empty_period_has_no_medians(history: History) -> None:
    empty = Period(date(2025, 1, 6), date(2025, 1, 19), "week", "Europe/Brussels")
    dashboard = hospital_dashboard(history, empty)
    assert headline(dashboard.section("time_to_fill"))["Median time to fill"] == (None, None)
    assert headline(dashboard.section("help"))["Median time to accept"] == (None, None)
    assert headline(dashboard.section("fill_rate"))["Fill rate (sessions)"] == (None, None)
    assert chart(dashboard.section("hours_recovered"))["Exam hours"] == (d("0.0"), d("0.0"))
    assert breakdown(dashboard.section("reciprocity")) == []


def _grow(history: History, count: int) -> None:
    """More of everything on both scanners, in the period."""
    worker = UserFactory()
    for n in range(count):
        scanner = history.mr1 if n % 2 else history.mr2
        starts = at(10, 7 + n % 20, 8)
        posting = _posting(
            history.world, scanner, starts, 2, Urgency.URGENT, starts - timedelta(days=2)
        )
        booking = _booking(posting, worker, BookingStatus.COMPLETED, starts - timedelta(days=1))
        cockpit = _cockpit(booking, starts, starts + timedelta(hours=1), ExamOutcome.COMPLETED)
        _assist(cockpit, starts, AssistStatus.CANCELLED)
        CockpitStop.objects.create(cockpit=cockpit, role=CockpitRole.LOCAL, at=starts)
        _entry(
            booking,
            LedgerKind.COMPLETED,
            starts,
            1,
            debtor=history.world.hospital,
            creditor=history.third,
        )


@pytest.mark.parametrize("network", [False, True])
def test_the_number_of_queries_does_not_grow_with_the_history(
    history: History, network: bool, django_assert_num_queries: Any
) -> None:
    hospital = None if network else history.world.hospital
    counts = []
    for grow in (0, 12):
        _grow(history, grow)
        with CaptureQueriesContext(connection) as captured:
            dashboard_for(hospital=hospital, period=PERIOD, now=NOW)
        counts.append(len(captured))
    assert counts[0] == counts[1] == 12
    with django_assert_num_queries(counts[0]):
        dashboard_for(hospital=hospital, period=PERIOD, now=NOW)
