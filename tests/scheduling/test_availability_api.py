"""Availability through the API: publishing for oneself or lending a technologist of one's
hospital, changing and deleting windows, and occurrences expanded over a range in the
viewer's time zone, right across the daylight-saving changes."""

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from core.models import AuditEvent
from marketplace.models import Role
from scheduling.models import AvailabilityWindow
from tests.conftest import PEOPLE, World, api_as, who
from tests.factories import MembershipFactory, UserFactory
from tests.factories_supply import LicensedTechnologistFactory

pytestmark = pytest.mark.django_db

BRUSSELS = ZoneInfo("Europe/Brussels")


def _next_monday_8() -> datetime:
    today = timezone.localdate()
    monday = today + timedelta(days=7 - today.weekday())
    return datetime(monday.year, monday.month, monday.day, 8, 0, tzinfo=BRUSSELS)


def _body(**overrides: Any) -> dict[str, Any]:
    start = _next_monday_8()
    return {
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=4)).isoformat(),
        "time_zone": "Europe/Brussels",
        "rrule": "FREQ=WEEKLY;BYDAY=MO",
        **overrides,
    }


def _publish(user: Any, **overrides: Any) -> Any:
    return api_as(user).post("/api/v1/availability/", _body(**overrides), format="json")


def _window(world: World, *, lent: bool = False) -> AvailabilityWindow:
    publisher = world.manager if lent else world.technologist
    response = _publish(publisher, technologist=world.technologist.pk)
    assert response.status_code == 201, response.content
    return AvailabilityWindow.objects.get(pk=response.json()["id"])


@pytest.fixture
def untouched(world: World) -> Any:
    before = (AvailabilityWindow.objects.count(), AuditEvent.objects.count())
    yield
    assert (AvailabilityWindow.objects.count(), AuditEvent.objects.count()) == before


# --- Publishing and lending ------------------------------------------------------------------


def test_a_technologist_publishes_for_themselves_without_a_lending_hospital(
    world: World,
) -> None:
    response = _publish(world.technologist)
    assert response.status_code == 201, response.content
    window = response.json()
    assert window["technologist"] == world.technologist.pk
    assert (window["lending_hospital"], window["lending_hospital_name"]) == (None, None)
    assert window["recurring"] is True
    assert window["starts_at"].endswith("Z")
    assert window["local_starts_at"].startswith(f"{_next_monday_8():%Y-%m-%d}T08:00:00+0")


def test_a_manager_lends_a_technologist_of_their_hospital(world: World) -> None:
    response = _publish(world.manager, technologist=world.technologist.pk)
    assert response.status_code == 201, response.content
    window = response.json()
    assert window["technologist"] == world.technologist.pk
    assert (window["lending_hospital"], window["lending_hospital_name"]) == (
        world.hospital.pk,
        "Hôpital Sainte-Claire",
    )
    event = AuditEvent.objects.get(action="availability.created")
    assert (event.actor, event.hospital) == (world.manager, world.hospital)


def test_another_hospitals_manager_gets_not_found(world: World, untouched: None) -> None:
    response = _publish(world.other_manager, technologist=world.technologist.pk)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_technologist_does_not_lend_themselves(world: World, untouched: None) -> None:
    response = _publish(world.technologist, lending_hospital=world.hospital.pk)
    assert response.status_code == 403
    assert "Only a manager" in response.json()["error"]["message"]


def test_a_platform_admin_names_the_lender_of_someone_in_two_hospitals(world: World) -> None:
    LicensedTechnologistFactory(user=world.technologist)
    MembershipFactory(
        user=world.technologist, hospital=world.other_hospital, role=Role.TECHNOLOGIST
    )
    unsaid = _publish(world.admin, technologist=world.technologist.pk)
    assert unsaid.status_code == 400
    assert set(unsaid.json()["error"]["fields"]) == {"lending_hospital"}
    said = _publish(
        world.admin, technologist=world.technologist.pk, lending_hospital=world.other_hospital.pk
    )
    assert said.json()["lending_hospital_name"] == "Ziekenhuis Scheldeland"


CREATE = {
    "anonymous": 401,
    "outsider": 404,
    "technologist": 201,
    "local_staff": 404,
    "manager": 201,
    "other_manager": 404,
    "admin": 201,
}


@pytest.mark.parametrize("person", PEOPLE)
def test_publishing_for_a_technologist_of_sainte_claire(world: World, person: str) -> None:
    LicensedTechnologistFactory(user=world.technologist)
    response = _publish(who(world, person), technologist=world.technologist.pk)
    assert response.status_code == CREATE[person], response.content
    assert AvailabilityWindow.objects.exists() is (CREATE[person] == 201)
    if CREATE[person] == 201:
        lender = None if person == "technologist" else world.hospital.pk
        assert response.json()["lending_hospital"] == lender


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"starts_at": "2027-03-22T08:00:00"}, "starts_at"),
        ({"rrule": "FREQ=FORTNIGHTLY"}, "rrule"),
        ({"rrule": "FREQ=HOURLY"}, "rrule"),
        ({"time_zone": "Europe/Bruxelles"}, "time_zone"),
        ({"ends_at": (_next_monday_8() + timedelta(hours=25)).isoformat()}, "ends_at"),
        (
            {
                "starts_at": "2026-01-05T08:00:00+01:00",
                "ends_at": "2026-01-05T12:00:00+01:00",
                "rrule": "",
            },
            "ends_at",
        ),
        ({"exdates": ["not a date"]}, "exdates"),
        ({"technologist": "me"}, "technologist"),
        ({"lending_hospital": 999_999}, "lending_hospital"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_a_bad_window_names_the_field_and_saves_nothing(
    world: World, untouched: None, overrides: dict[str, Any], field: str
) -> None:
    response = _publish(world.technologist, **overrides)
    assert response.status_code == 400, response.content
    assert set(response.json()["error"]["fields"]) == {field}


# --- Reading, changing, deleting -------------------------------------------------------------

READ = {
    "anonymous": 401,
    "outsider": 404,
    "technologist": 200,
    "local_staff": 404,
    "manager": 200,
    "other_manager": 404,
    "admin": 200,
}


@pytest.mark.parametrize("person", PEOPLE)
def test_reading_a_window(world: World, person: str) -> None:
    window = _window(world)
    response = api_as(who(world, person)).get(f"/api/v1/availability/{window.pk}/")
    assert response.status_code == READ[person]


@pytest.mark.parametrize(
    ("person", "count"),
    [
        ("outsider", 0),
        ("technologist", 2),
        ("local_staff", 0),
        ("manager", 2),
        ("other_manager", 0),
        ("admin", 2),
    ],
)
def test_the_list_holds_ones_own_windows_and_those_of_ones_technologists(
    world: World, person: str, count: int
) -> None:
    _window(world)
    _window(world, lent=True)
    response = api_as(getattr(world, person)).get("/api/v1/availability/")
    assert response.json()["count"] == count


def test_filtering_the_list_by_technologist(world: World) -> None:
    _window(world)
    colleague = UserFactory()
    MembershipFactory(user=colleague, hospital=world.hospital, role=Role.TECHNOLOGIST)
    _publish(world.manager, technologist=colleague.pk)
    client = api_as(world.manager)
    rows = client.get("/api/v1/availability/", {"technologist": colleague.pk}).json()["results"]
    assert [row["technologist"] for row in rows] == [colleague.pk]
    assert client.get("/api/v1/availability/").json()["count"] == 2
    bad = client.get("/api/v1/availability/", {"technologist": "her"})
    assert set(bad.json()["error"]["fields"]) == {"technologist"}


def test_local_times_are_shown_in_the_zone_asked_for(world: World) -> None:
    window = _window(world)
    row = (
        api_as(world.technologist)
        .get(f"/api/v1/availability/{window.pk}/", {"tz": "America/New_York"})
        .json()
    )
    assert row["local_time_zone"] == "America/New_York"
    local = datetime.fromisoformat(row["local_starts_at"])
    assert local == _next_monday_8()
    assert local.utcoffset() in {timedelta(hours=-5), timedelta(hours=-4)}


def test_local_times_default_to_the_viewers_home_time_zone(world: World) -> None:
    LicensedTechnologistFactory(user=world.technologist, home_time_zone="Europe/Lisbon")
    window = _window(world)
    row = api_as(world.technologist).get(f"/api/v1/availability/{window.pk}/").json()
    assert row["local_time_zone"] == "Europe/Lisbon"
    assert datetime.fromisoformat(row["local_starts_at"]).hour == 7
    # A manager without a profile sees the window in its own zone.
    row = api_as(world.manager).get(f"/api/v1/availability/{window.pk}/").json()
    assert row["local_time_zone"] == "Europe/Brussels"


CHANGE_LENT = {
    "anonymous": 401,
    "outsider": 404,
    "technologist": 200,
    "local_staff": 404,
    "manager": 200,
    "other_manager": 404,
    "admin": 200,
}


@pytest.mark.parametrize("person", PEOPLE)
def test_changing_a_lent_window(world: World, person: str) -> None:
    window = _window(world, lent=True)
    response = api_as(who(world, person)).patch(
        f"/api/v1/availability/{window.pk}/", {"rrule": "FREQ=WEEKLY;BYDAY=MO,TU"}, format="json"
    )
    assert response.status_code == CHANGE_LENT[person]
    window.refresh_from_db()
    assert (window.rrule == "FREQ=WEEKLY;BYDAY=MO,TU") is (CHANGE_LENT[person] == 200)


@pytest.mark.parametrize("person", PEOPLE)
def test_deleting_a_lent_window(world: World, person: str) -> None:
    window = _window(world, lent=True)
    response = api_as(who(world, person)).delete(f"/api/v1/availability/{window.pk}/")
    expected = {**CHANGE_LENT, "technologist": 204, "manager": 204, "admin": 204}[person]
    assert response.status_code == expected
    assert AvailabilityWindow.objects.filter(pk=window.pk).exists() is (expected != 204)


def test_a_manager_does_not_change_a_window_the_technologist_published(world: World) -> None:
    window = _window(world)
    response = api_as(world.manager).patch(
        f"/api/v1/availability/{window.pk}/", {"rrule": ""}, format="json"
    )
    # They can see it (it is their technologist's), but it is not theirs to change.
    assert response.status_code == 403
    assert "Only the technologist" in response.json()["error"]["message"]
    window.refresh_from_db()
    assert window.rrule == "FREQ=WEEKLY;BYDAY=MO"


def test_a_bad_change_saves_nothing(world: World) -> None:
    window = _window(world)
    response = api_as(world.technologist).patch(
        f"/api/v1/availability/{window.pk}/", {"rrule": "FREQ=SOMETIMES"}, format="json"
    )
    assert set(response.json()["error"]["fields"]) == {"rrule"}
    window.refresh_from_db()
    assert window.rrule == "FREQ=WEEKLY;BYDAY=MO"


# --- Occurrences -----------------------------------------------------------------------------


def _mondays_8_to_12(world: World, first: str, **overrides: Any) -> None:
    body = _body(starts_at=f"{first}T08:00:00+01:00", ends_at=f"{first}T12:00:00+01:00")
    response = api_as(world.technologist).post(
        "/api/v1/availability/", {**body, **overrides}, format="json"
    )
    assert response.status_code == 201, response.content


def _occurrences(user: Any, **params: Any) -> list[dict[str, Any]]:
    response = api_as(user).get("/api/v1/availability/occurrences/", params)
    assert response.status_code == 200, response.content
    return list(response.json()["results"])


def test_a_weekly_window_keeps_its_local_hours_across_the_spring_change(world: World) -> None:
    _mondays_8_to_12(world, "2027-03-22")  # Brussels goes to UTC+2 on Sunday 28 March 2027
    rows = _occurrences(
        world.technologist, start="2027-03-21", end="2027-04-06", tz="Europe/Brussels"
    )
    assert [(r["starts_at"], r["ends_at"]) for r in rows] == [
        ("2027-03-22T07:00:00Z", "2027-03-22T11:00:00Z"),
        ("2027-03-29T06:00:00Z", "2027-03-29T10:00:00Z"),
        ("2027-04-05T06:00:00Z", "2027-04-05T10:00:00Z"),
    ]
    assert [r["local_starts_at"] for r in rows] == [
        "2027-03-22T08:00:00+01:00",
        "2027-03-29T08:00:00+02:00",
        "2027-04-05T08:00:00+02:00",
    ]
    assert {r["local_time_zone"] for r in rows} == {"Europe/Brussels"}


def test_a_weekly_window_keeps_its_local_hours_across_the_autumn_change(world: World) -> None:
    # Back to UTC+1 on Sunday 31 October 2027.
    body = {"starts_at": "2027-10-25T08:00:00+02:00", "ends_at": "2027-10-25T12:00:00+02:00"}
    _mondays_8_to_12(world, "2027-10-25", **body)
    rows = _occurrences(world.manager, start="2027-10-24T00:00:00Z", end="2027-11-09T00:00:00Z")
    assert [r["starts_at"] for r in rows] == [
        "2027-10-25T06:00:00Z",
        "2027-11-01T07:00:00Z",
        "2027-11-08T07:00:00Z",
    ]
    # Shown to a manager without a home time zone in the window's own zone.
    local_hours = [r["local_starts_at"][11:] for r in rows]
    assert local_hours == ["08:00:00+02:00", "08:00:00+01:00", "08:00:00+01:00"]


def test_occurrences_say_which_window_and_who_lends(world: World) -> None:
    lent = _window(world, lent=True)
    own = _window(world)
    start = _next_monday_8()
    rows = _occurrences(
        world.technologist,
        start=start.date().isoformat(),
        end=(start + timedelta(days=1)).date().isoformat(),
        tz="Europe/Brussels",
    )
    assert {(r["window"], r["lending_hospital"], r["lending_hospital_name"]) for r in rows} == {
        (lent.pk, world.hospital.pk, "Hôpital Sainte-Claire"),
        (own.pk, None, None),
    }
    assert {r["technologist"] for r in rows} == {world.technologist.pk}


def test_skipped_dates_have_no_occurrence(world: World) -> None:
    _mondays_8_to_12(world, "2027-03-22", exdates=["2027-03-29T08:00"])
    rows = _occurrences(world.technologist, start="2027-03-21", end="2027-04-06")
    assert [r["starts_at"][:10] for r in rows] == ["2027-03-22", "2027-04-05"]


@pytest.mark.parametrize(
    ("person", "count"),
    [
        ("outsider", 0),
        ("technologist", 3),
        ("local_staff", 0),
        ("manager", 3),
        ("other_manager", 0),
        ("admin", 3),
    ],
)
def test_occurrences_are_scoped_like_the_windows(world: World, person: str, count: int) -> None:
    _mondays_8_to_12(world, "2027-03-22")
    params = {"start": "2027-03-21", "end": "2027-04-06"}
    assert len(_occurrences(getattr(world, person), **params)) == count
    narrowed = _occurrences(getattr(world, person), technologist=world.technologist.pk, **params)
    assert len(narrowed) == count


def test_occurrences_need_a_signed_in_caller(world: World) -> None:
    response = api_as(None).get(
        "/api/v1/availability/occurrences/", {"start": "2027-03-21", "end": "2027-04-06"}
    )
    assert response.status_code == 401


def test_a_range_without_offset_is_read_in_the_zone_asked_for(world: World) -> None:
    _mondays_8_to_12(world, "2027-03-22")
    # 08:30 Brussels is 07:30Z, after the 07:00Z start: the occurrence still overlaps.
    rows = _occurrences(
        world.technologist, start="2027-03-22T11:30", end="2027-03-22T13:00", tz="Europe/Brussels"
    )
    assert len(rows) == 1
    rows = _occurrences(world.technologist, start="2027-03-22T11:30", end="2027-03-22T13:00")
    assert rows == []  # in UTC, 11:30 is after the 11:00Z end


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({}, {"start", "end"}),
        ({"start": "2027-03-01"}, {"end"}),
        ({"start": "2027-03-01", "end": "2027-05-03"}, {"end"}),  # 63 days
        ({"start": "2027-03-10", "end": "2027-03-01"}, {"end"}),
        ({"start": "soon", "end": "2027-03-01"}, {"start"}),
        ({"start": "2027-03-01", "end": "2027-03-08", "tz": "Europe/Bruxelles"}, {"tz"}),
        ({"start": "2027-03-01", "end": "2027-03-08", "technologist": "x"}, {"technologist"}),
    ],
)
def test_a_bad_range_is_refused(world: World, params: dict[str, str], fields: set[str]) -> None:
    response = api_as(world.technologist).get("/api/v1/availability/occurrences/", params)
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == fields


def test_sixty_two_days_is_allowed(world: World) -> None:
    _mondays_8_to_12(world, "2027-03-22")
    rows = _occurrences(world.technologist, start="2027-03-22", end="2027-05-23")
    assert len(rows) == 9


def test_lists_take_the_same_queries_for_one_or_twelve_windows(
    world: World, django_assert_max_num_queries: Any
) -> None:
    params = {"start": "2027-03-21", "end": "2027-04-06"}

    def get(path: str, **query: Any) -> Any:
        # A fresh user per request, as on a server: nothing cached from the last one.
        return api_as(User.objects.get(pk=world.manager.pk)).get(path, query).json()

    _mondays_8_to_12(world, "2027-03-22")
    with CaptureQueriesContext(connection) as one_list:
        get("/api/v1/availability/")
    list_queries = len(one_list)  # read now: every request clears the connection's query log
    with CaptureQueriesContext(connection) as one_expansion:
        get("/api/v1/availability/occurrences/", **params)
    expansion_queries = len(one_expansion)
    for _ in range(11):
        colleague = UserFactory()
        MembershipFactory(user=colleague, hospital=world.hospital, role=Role.TECHNOLOGIST)
        _publish(
            world.manager,
            technologist=colleague.pk,
            starts_at="2027-03-22T08:00:00+01:00",
            ends_at="2027-03-22T12:00:00+01:00",
            rrule="",
        )
    with django_assert_max_num_queries(list_queries):
        assert get("/api/v1/availability/")["count"] == 12
    with django_assert_max_num_queries(expansion_queries):
        rows = get("/api/v1/availability/occurrences/", **params)["results"]
    assert len(rows) == 3 + 11
