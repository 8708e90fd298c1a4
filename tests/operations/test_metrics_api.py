"""The dashboard's figures over the API: who may read them, the period parameters, and the same
numbers as the page's."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from cockpit.models import CockpitSession, CockpitStatus
from marketplace.models import PostingStatus, SessionPosting, Urgency
from scheduling.models import Booking, BookingStatus
from tests.conftest import PEOPLE, World, api_as, who
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # Monday 30 November, 10:00 in Brussels


@pytest.fixture(autouse=True)
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timezone, "now", lambda: NOW)


def hospital_url(world: World) -> str:
    return f"/api/v1/hospitals/{world.hospital.pk}/metrics/"


def _an_exam(world: World, starts: datetime, hours: float) -> None:
    posting = SessionPosting.objects.create(
        hospital=world.hospital,
        site=world.site,
        scanner=world.scanner,
        starts_at=starts,
        ends_at=starts + timedelta(hours=4),
        vendor=world.scanner.vendor,
        urgency=Urgency.ROUTINE,
        status=PostingStatus.FILLED,
        published_at=starts - timedelta(days=3),
    )
    booking = Booking.objects.create(
        posting=posting,
        technologist=UserFactory(),
        status=BookingStatus.COMPLETED,
        initiated_by="hospital",
        starts_at=posting.starts_at,
        ends_at=posting.ends_at,
        hours=Decimal(4),
        confirmed_at=starts - timedelta(days=2),
    )
    CockpitSession.objects.create(
        booking=booking,
        protocol="neuro",
        status=CockpitStatus.ENDED,
        started_at=starts,
        ended_at=starts + timedelta(hours=hours),
    )


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert set(body) == {"error"}
    return dict(body["error"])


# --- Who sees what -----------------------------------------------------------------------------

HOSPITAL_ANSWERS = {
    "anonymous": 401,
    "outsider": 404,
    "technologist": 404,
    "local_staff": 404,
    "manager": 200,
    "other_manager": 404,
    "admin": 200,
}
NETWORK_ANSWERS = dict.fromkeys(PEOPLE, 404) | {"anonymous": 401, "admin": 200}


@pytest.mark.parametrize("person", PEOPLE)
def test_a_hospitals_figures_are_its_managers(world: World, person: str) -> None:
    response = api_as(who(world, person)).get(hospital_url(world))
    assert response.status_code == HOSPITAL_ANSWERS[person]
    if response.status_code == 404:
        assert _error(response, 404) == {
            "code": "not_found",
            "message": "No such hospital.",
            "fields": {},
        }


@pytest.mark.parametrize("person", PEOPLE)
def test_the_networks_figures_are_the_platform_admins(world: World, person: str) -> None:
    response = api_as(who(world, person)).get("/api/v1/metrics/")
    assert response.status_code == NETWORK_ANSWERS[person]
    if response.status_code == 404:
        assert _error(response, 404)["code"] == "not_found"


def test_another_hospitals_figures_do_not_exist(world: World) -> None:
    _an_exam(world, datetime(2026, 11, 10, 8, tzinfo=UTC), 2)
    response = api_as(world.other_manager).get(hospital_url(world))
    assert _error(response, 404)["message"] == "No such hospital."
    assert "Sainte-Claire" not in response.content.decode()


# --- The answer --------------------------------------------------------------------------------


def test_the_default_period_and_the_figures(world: World) -> None:
    _an_exam(world, datetime(2026, 11, 10, 8, tzinfo=UTC), 2.25)  # this period
    _an_exam(world, datetime(2026, 8, 20, 8, tzinfo=UTC), 1.5)  # the one before
    data = api_as(world.manager).get(hospital_url(world)).json()
    assert data["scope"] == "Hôpital Sainte-Claire"
    assert data["hospital_id"] == world.hospital.pk
    # The 12 weeks ending today, in the hospital's time zone.
    assert data["period"]["start"] == "2026-09-08"
    assert data["period"]["end"] == "2026-11-30"
    assert data["period"]["granularity"] == "week"
    assert data["period"]["time_zone"] == "Europe/Brussels"
    assert data["previous"]["start"] == "2026-06-16"
    assert data["previous"]["end"] == "2026-09-07"
    assert len(data["period"]["buckets"]) == 13  # from Monday 7 September
    keys = [section["key"] for section in data["sections"]]
    assert keys == [
        "hours_recovered",
        "fill_rate",
        "time_to_fill",
        "reliability",
        "help",
        "cockpit",
        "reciprocity",
    ]
    hours = data["sections"][0]
    assert hours["headline"][0] == {
        "label": "Exam hours run through WeScan",
        "current": 2.3,  # 2 h 15 min, rounded once to a tenth
        "previous": 1.5,
        "unit": "h",
    }
    assert hours["headline"][2] == {
        "label": "Share of posted hours",
        "current": 56.3,  # 2.25 of 4 h (from the exact hours), rounded once
        "previous": 37.5,
        "unit": "%",
    }
    week = hours["chart"]["labels"].index("Week of 9 Nov 2026")
    assert hours["chart"]["series"][0]["values"][week] == 2.3
    assert hours["chart"]["table"]["rows"][week] == ["Week of 9 Nov 2026", 2.3, 4.0]
    assert hours["breakdown"] == {
        "columns": ["Scanner", "Exam hours", "Posted hours", "Share of posted hours (%)"],
        "rows": [["Campus Nord — MR 1", 2.3, 4.0, 56.3]],
        "links": [],  # a hospital's scanners lead nowhere
    }
    assert "cockpit itself recorded" in hours["definition"]
    # Nothing to take a median of: null, not 0.
    time_to_fill = data["sections"][2]["headline"][0]
    assert (time_to_fill["current"], time_to_fill["previous"]) == (
        24.0,
        24.0,
    )  # confirmed a day after publication
    help_ = data["sections"][4]["headline"][1]
    assert help_ == {
        "label": "Median time to accept",
        "current": None,
        "previous": None,
        "unit": "min",
    }


def test_period_and_granularity_from_the_query(world: World) -> None:
    _an_exam(world, datetime(2026, 3, 10, 8, tzinfo=UTC), 3)
    url = hospital_url(world) + "?start=2026-01-01&end=2026-06-30&granularity=month"
    data = api_as(world.admin).get(url).json()
    assert data["period"]["start"] == "2026-01-01"
    assert data["period"]["granularity"] == "month"
    hours = data["sections"][0]
    assert hours["chart"]["axis"] == "Month"
    assert hours["chart"]["labels"] == [
        "Jan 2026",
        "Feb 2026",
        "Mar 2026",
        "Apr 2026",
        "May 2026",
        "Jun 2026",
    ]
    assert hours["chart"]["series"][0]["values"] == [0.0, 0.0, 3.0, 0.0, 0.0, 0.0]


def test_the_network(world: World) -> None:
    _an_exam(world, datetime(2026, 11, 10, 8, tzinfo=UTC), 2)
    data = api_as(world.admin).get("/api/v1/metrics/").json()
    assert (data["scope"], data["hospital_id"]) == ("The WeScan network", None)
    hours = data["sections"][0]
    assert hours["breakdown"]["columns"][0] == "Hospital"
    assert hours["breakdown"]["rows"] == [
        ["Hôpital Sainte-Claire", 2.0, 4.0, 50.0],
        ["Ziekenhuis Scheldeland", 0.0, 0.0, None],
    ]
    # Each hospital's row leads to its dashboard.
    assert hours["breakdown"]["links"] == [
        f"/hospitals/{world.hospital.pk}/dashboard/",
        f"/hospitals/{world.other_hospital.pk}/dashboard/",
    ]
    # Time to fill says how many confirmations each median rests on, a count not drawn.
    time_to_fill = data["sections"][2]["chart"]
    assert [(s["label"], s["drawn"]) for s in time_to_fill["series"]] == [
        ("Median", True),
        ("90th percentile", True),
        ("Bookings confirmed", False),
    ]
    assert time_to_fill["table"]["columns"][-1] == "Bookings confirmed"
    assert time_to_fill["table"]["rows"][0] == ["Routine", 24.0, 24.0, 1]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("start=2026-02-30", "'start' must be a date as YYYY-MM-DD, not '2026-02-30'."),
        ("end=2026-01-01&start=2026-02-01", "'end' must not be before 'start'."),
        ("start=2020-01-01&end=2026-01-01", "The period may cover at most 731 days (two years)."),
        ("granularity=year", "'granularity' must be week or month, not 'year'."),
        # The same rule as the page and the CSV: only YYYY-MM-DD, the length bounded first, and
        # nothing unprintable said back.
        ("start=2026-W40-1", "'start' must be a date as YYYY-MM-DD, not '2026-W40-1'."),
        ("start=" + "9" * 10_000, "'start' must be a date as YYYY-MM-DD, not 10000 characters."),
        (
            "start=2026-01-0%00",
            "'start' must be a date as YYYY-MM-DD, not a text with control characters.",
        ),
    ],
)
def test_a_bad_period_is_a_400_that_says_why(world: World, query: str, message: str) -> None:
    for url in (hospital_url(world), "/api/v1/metrics/"):
        response = api_as(world.admin).get(f"{url}?{query}")
        error = _error(response, 400)
        assert error["code"] == "invalid"
        assert error["message"] == message
        assert b"\\u0000" not in response.content
        assert b"\x00" not in response.content
