"""Coverage ahead on a small fixed world, counted by hand: Monday 23 November 2026, 10:00 in
Brussels; the hospital's sessions of the next four weeks (23 November to 20 December) per
scanner and day, staffed / pending / short, and the unfilled ones urgent first."""

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html import unescape
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from marketplace.models import PostingStatus, Scanner, SessionPosting, Urgency
from operations import views
from operations.coverage import DAYS_AHEAD, coverage_ahead
from operations.figures import Dashboard, Period
from scheduling.models import Booking, BookingStatus, Initiator
from tests.conftest import World, api_as, client_for
from tests.factories import ScannerFactory, SiteFactory, UserFactory
from tests.factories_supply import PostingFactory

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Brussels
BRUSSELS = ZoneInfo("Europe/Brussels")


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=BRUSSELS)


def posting(
    scanner: Scanner,
    starts_at: datetime,
    hours: float,
    *,
    status: str = PostingStatus.OPEN,
    urgency: str = Urgency.ROUTINE,
) -> SessionPosting:
    return PostingFactory(
        scanner=scanner,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=hours),
        status=status,
        urgency=urgency,
    )


def booked(item: SessionPosting, technologist: User, status: str) -> Booking:
    return Booking.objects.create(
        posting=item,
        technologist=technologist,
        status=status,
        initiated_by=Initiator.HOSPITAL,
        starts_at=item.starts_at,
        ends_at=item.ends_at,
        hours=item.duration_hours,
    )


@pytest.fixture
def ahead(world: World, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    mr1 = world.scanner  # Campus Nord
    mr2 = ScannerFactory(site=world.site, name="MR 2")
    sud = ScannerFactory(site=SiteFactory(hospital=world.hospital, name="Sud"), name="MR Sud")
    one, two = UserFactory(), UserFactory()
    p = {
        # Today, MR 1: one staffed (4 h), one pending (2.5 h), one already over and short.
        "staffed": posting(mr1, at(11, 23, 12), 4, status=PostingStatus.FILLED),
        "pending": posting(mr1, at(11, 23, 17), 2.5),
        "over": posting(mr1, at(11, 23, 7), 1),
        # Tomorrow, MR 1: two short, the second urgent (a declined booking is no one on it).
        "short": posting(mr1, at(11, 24, 8), 4),
        "urgent": posting(mr1, at(11, 24, 13), 4, urgency=Urgency.URGENT),
        # MR 2: a priority one, and the last evening of the four weeks.
        "priority": posting(mr2, at(12, 10, 8), 2, urgency=Urgency.PRIORITY),
        "last": posting(mr2, at(12, 20, 23, 30), 0.5),
        # Not counted: the day after the four weeks, a draft, a cancelled one, another
        # hospital's.
        "after": posting(mr1, at(12, 21, 8), 4, urgency=Urgency.URGENT),
        "draft": posting(mr1, at(11, 25, 8), 4, status=PostingStatus.DRAFT),
        "cancelled": posting(mr1, at(11, 25, 8), 4, status=PostingStatus.CANCELLED),
        "elsewhere": posting(world.other_scanner, at(11, 25, 8), 4, urgency=Urgency.URGENT),
    }
    booked(p["staffed"], one, BookingStatus.CONFIRMED)
    booked(p["staffed"], two, BookingStatus.DECLINED)
    booked(p["pending"], one, BookingStatus.PENDING)
    booked(p["pending"], two, BookingStatus.PENDING)
    booked(p["urgent"], one, BookingStatus.DECLINED)
    booked(p["priority"], two, BookingStatus.CANCELLED)
    return {"postings": p, "scanners": [mr1, mr2, sud]}


def counts(cell: Any) -> tuple[tuple[int, Decimal], ...]:
    return tuple(
        (cell.tally(s).sessions, cell.tally(s).hours) for s in ("staffed", "pending", "short")
    )


def test_sessions_counted_per_scanner_and_day(
    world: World, ahead: dict, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(2):
        coverage = coverage_ahead(hospital=world.hospital, time_zone="Europe/Brussels", now=NOW)
    assert coverage.start == date(2026, 11, 23)
    assert coverage.end == date(2026, 12, 20)
    assert len(coverage.days) == DAYS_AHEAD
    # Every scanner has a row, one with nothing posted too, ordered by site then name.
    assert [row.scanner.name for row in coverage.rows] == ["MR 1", "MR 2", "MR Sud"]
    found = {
        (row.scanner.name, cell.day): counts(cell)
        for row in coverage.rows
        for cell in row.cells
        if cell.state != "none"
    }
    zero = (0, Decimal("0"))
    assert found == {
        ("MR 1", date(2026, 11, 23)): ((1, Decimal("4")), (1, Decimal("2.5")), (1, Decimal("1"))),
        ("MR 1", date(2026, 11, 24)): (zero, zero, (2, Decimal("8"))),
        ("MR 2", date(2026, 12, 10)): (zero, zero, (1, Decimal("2"))),
        ("MR 2", date(2026, 12, 20)): (zero, zero, (1, Decimal("0.5"))),
    }
    assert {state: (t.sessions, t.hours) for state, t in coverage.totals.items()} == {
        "staffed": (1, Decimal("4")),
        "pending": (1, Decimal("2.5")),
        "short": (5, Decimal("11.5")),
    }
    today = coverage.rows[0].cells[0]
    assert today.state == "short"  # the worst of the day gives its colour


def test_unfilled_sessions_urgent_first_then_soonest(world: World, ahead: dict) -> None:
    coverage = coverage_ahead(hospital=world.hospital, time_zone="Europe/Brussels", now=NOW)
    p = ahead["postings"]
    assert [(u.posting, u.state) for u in coverage.unfilled] == [
        (p["urgent"], "short"),
        (p["priority"], "short"),
        (p["pending"], "pending"),
        (p["short"], "short"),
        (p["last"], "short"),
    ]  # the one already over is not listed: nothing can be done about it


def test_the_same_query_count_whatever_the_size(
    world: World, ahead: dict, django_assert_num_queries: Any
) -> None:
    scanner = ahead["scanners"][2]
    for day in range(20):
        item = posting(scanner, at(11, 24, 8) + timedelta(days=day), 2)
        booked(item, UserFactory(), BookingStatus.PENDING)
    with django_assert_num_queries(2):
        coverage = coverage_ahead(hospital=world.hospital, time_zone="Europe/Brussels", now=NOW)
    assert coverage.totals["pending"].sessions == 21


@pytest.fixture
def no_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's figures are not what these tests look at."""

    def empty(*, hospital: Any, period: Period, now: datetime) -> Dashboard:
        return Dashboard(
            scope=hospital.name,
            hospital_id=hospital.pk,
            period=period,
            previous=period.previous(),
            sections=(),
        )

    monkeypatch.setattr(views, "dashboard_for", empty)


def test_the_page_shows_the_grid_in_words_and_links_each_unfilled_session(
    world: World, ahead: dict, no_figures: None
) -> None:
    response = client_for(world.manager).get(
        reverse("hospital_dashboard", args=[world.hospital.pk])
    )
    assert response.status_code == 200
    html = unescape(response.content.decode())
    coverage = html[html.index('id="coverage"') : html.index('id="period"')]
    assert "Coverage ahead: 23 Nov – 20 Dec 2026" in coverage
    assert "✓ 1 staffed (4 h)" in coverage
    assert "… 1 pending (2.5 h)" in coverage
    assert "! 5 short (11.5 h)" in coverage
    mr1 = ahead["scanners"][0].pk
    cell = re.search(
        rf'<td class="cov-cell short" data-day="2026-11-23" data-scanner="{mr1}">(.*?)</td>',
        coverage,
        re.S,
    )
    assert cell is not None
    # "· 4 h" kept together (no-break spaces): a narrow day wraps before it, never in it.
    words = re.sub(r"[ \t\n]+", " ", cell.group(1))
    assert "✓ 1 staffed ·\xa04\xa0h" in words
    assert "… 1 pending ·\xa02.5\xa0h" in words
    assert "! 1 short ·\xa01\xa0h" in words
    # Four weeks, one table each.
    assert coverage.count('<table class="coverage-grid">') == 4
    p = ahead["postings"]
    linked = re.findall(r'<tr data-posting="(\d+)">\s*<td><a href="([^"]+)">', coverage)
    order = ["urgent", "priority", "pending", "short", "last"]
    assert linked == [(str(p[k].pk), reverse("posting_detail", args=[p[k].pk])) for k in order]
    assert "Tue 24 Nov, 13:00–17:00" in coverage  # site time
    fill = reverse("hospital_plan_create", args=[world.hospital.pk])
    assert re.search(
        rf'<form method="post" action="{fill}"[^>]*>.*?Fill my open sessions', coverage, re.S
    )


def test_nothing_unfilled_says_so(
    world: World, no_figures: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    html = client_for(world.manager).get(reverse("hospital_dashboard", args=[world.hospital.pk]))
    assert "Every session of the next four weeks is staffed." in html.content.decode()
    assert "Fill my open sessions" not in html.content.decode()


# --- The API ----------------------------------------------------------------------------------


def test_api_coverage(world: World, ahead: dict) -> None:
    url = reverse("api_hospital_coverage", args=[world.hospital.pk])
    response = api_as(world.manager).get(url)
    assert response.status_code == 200
    body = response.json()
    assert (body["hospital"], body["time_zone"], body["start"], body["end"]) == (
        world.hospital.pk,
        "Europe/Brussels",
        "2026-11-23",
        "2026-12-20",
    )
    assert body["totals"]["short"] == {"sessions": 5, "hours": 11.5}
    mr1 = body["scanners"][0]
    assert (mr1["name"], mr1["site"], len(mr1["days"])) == ("MR 1", "Campus Nord", 28)
    assert mr1["days"][0] == {
        "date": "2026-11-23",
        "staffed": {"sessions": 1, "hours": 4.0},
        "pending": {"sessions": 1, "hours": 2.5},
        "short": {"sessions": 1, "hours": 1.0},
    }
    p = ahead["postings"]
    assert [u["posting"] for u in body["unfilled"]] == [
        p[k].pk for k in ("urgent", "priority", "pending", "short", "last")
    ]
    first = body["unfilled"][0]
    assert first["url"] == reverse("posting_detail", args=[p["urgent"].pk])
    assert (first["urgency"], first["state"], first["hours"]) == ("urgent", "short", 4.0)


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("outsider", 404),
        ("other_manager", 404),
        ("technologist", 404),
        ("local_staff", 404),
        ("admin", 200),
    ],
)
def test_api_coverage_by_person(world: World, name: str, status: int) -> None:
    url = reverse("api_hospital_coverage", args=[world.hospital.pk])
    assert api_as(getattr(world, name)).get(url).status_code == status
    assert api_as(None).get(url).status_code in (401, 403)


def test_api_coverage_is_in_the_schema(world: World) -> None:
    schema = api_as(world.admin).get(reverse("api_schema"), {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/hospitals/{hospital_id}/coverage/"]["get"]
    assert operation["operationId"] == "hospital_coverage"
    assert "Coverage" in schema["components"]["schemas"]
    # Hours are numbers, as in the metrics API.
    components = schema["components"]["schemas"]
    assert components["Tally"]["properties"]["hours"]["type"] == "number"
    assert components["Unfilled"]["properties"]["hours"]["type"] == "number"


def test_the_page_asks_as_many_queries_whatever_the_size(world: World, ahead: dict) -> None:
    """The real figures and the coverage: more sessions and bookings, not one query more."""
    client = client_for(world.manager)
    url = reverse("hospital_dashboard", args=[world.hospital.pk])

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    queries()  # the session's first request also records it in the list of one's sessions
    before = queries()
    scanner = ahead["scanners"][2]
    for day in range(15):
        item = posting(scanner, at(11, 24, 8) + timedelta(days=day), 2)
        booked(item, UserFactory(), BookingStatus.PENDING)
        past = posting(scanner, at(10, 1, 8) + timedelta(days=day), 2, status=PostingStatus.FILLED)
        booked(past, UserFactory(), BookingStatus.COMPLETED)
    assert queries() == before
