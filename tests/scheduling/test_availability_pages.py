"""The availability pages: a technologist's week in their own time zone (right across the clock
changes), adding, editing, deleting and skipping windows, and a manager's staff week and lending."""

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from marketplace.models import Role, TechnologistProfile
from scheduling import services
from scheduling.models import AvailabilityWindow
from tests.conftest import MANAGER_PAGE, PEOPLE, World, client_for, who
from tests.factories import MembershipFactory, TechnologistProfileFactory, UserFactory

pytestmark = pytest.mark.django_db

BRUSSELS = ZoneInfo("Europe/Brussels")


def monday_in(weeks: int) -> date:
    today = timezone.now().astimezone(BRUSSELS).date()
    return today - timedelta(days=today.weekday()) + timedelta(weeks=weeks)


def at(day: date, hour: int, minute: int = 0, zone: ZoneInfo = BRUSSELS) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)


@pytest.fixture
def technologist(world: World) -> User:
    TechnologistProfileFactory(user=world.technologist, home_time_zone="Europe/Brussels")
    return world.technologist


def window_for(
    user: User, day: date, start: int = 8, end: int = 12, **kwargs
) -> AvailabilityWindow:
    return services.availability_create(
        actor=kwargs.pop("actor", user),
        technologist=user,
        starts_at=at(day, start),
        ends_at=at(day, end),
        **kwargs,
    )


def week_slots(client: Client, monday: date) -> dict[str, list[str]]:
    """The labels shown on each day of the week view, by ISO date."""
    response = client.get("/me/availability/", {"week": monday.isoformat()})
    assert response.status_code == 200
    return {
        day.day.isoformat(): [segment.label for segment in day.segments]
        for day in response.context["week"].days
    }


def add(client: Client, **data: str | list[str]) -> object:
    return client.post("/me/availability/new/", {"repeat": "once", **data})


# --- Who may see which page -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "page", ["/hospitals/{hospital}/staff/", "/hospitals/{hospital}/staff/{technologist}/lend/"]
)
@pytest.mark.parametrize("role", PEOPLE)
def test_staff_pages_are_for_the_hospitals_managers(world: World, page: str, role: str) -> None:
    url = page.format(hospital=world.hospital.pk, technologist=world.technologist.pk)
    response = client_for(who(world, role)).get(url)
    assert response.status_code == MANAGER_PAGE[role]
    if role == "anonymous":
        assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("role", PEOPLE)
def test_the_week_is_ones_own(world: World, technologist: User, role: str) -> None:
    response = client_for(who(world, role)).get("/me/availability/")
    if role == "anonymous":
        assert response["Location"].startswith("/accounts/login/")
    elif role == "technologist":
        assert response.status_code == 200
    else:  # no technologist profile: set one up first
        assert response.status_code == 302
        assert response["Location"] == "/me/technologist/"


@pytest.mark.parametrize("action", ["edit", "delete", "skip"])
@pytest.mark.parametrize("role", ["other_manager", "outsider", "local_staff", "manager"])
def test_someone_elses_window_is_not_theirs_to_change(
    world: World, technologist: User, action: str, role: str
) -> None:
    # The manager sees it (their technologist's) but may not change what nobody lent: 403.
    window = window_for(technologist, monday_in(1), rrule="FREQ=WEEKLY;BYDAY=MO")
    client = client_for(getattr(world, role))
    url = f"/availability/{window.pk}/{action}/"
    local_start = f"{monday_in(2).isoformat()}T08:00"
    response = (
        client.get(url) if action == "edit" else client.post(url, {"local_start": local_start})
    )
    assert response.status_code == (403 if role == "manager" else 404)
    window.refresh_from_db()
    assert window.exdates == []


# --- The technologist's week ----------------------------------------------------------------------


def test_a_one_off_window_is_typed_and_shown_in_the_home_time_zone(
    world: World, technologist: User
) -> None:
    TechnologistProfile.objects.filter(user=technologist).update(home_time_zone="America/New_York")
    client = client_for(technologist)
    day = monday_in(1) + timedelta(days=2)
    response = add(client, starts_at=f"{day}T09:00", ends_at=f"{day}T13:30")
    window = AvailabilityWindow.objects.get()
    new_york = ZoneInfo("America/New_York")
    assert window.starts_at == at(day, 9, zone=new_york)
    assert window.ends_at == at(day, 13, 30, zone=new_york)
    assert window.time_zone == "America/New_York"
    assert window.lending_hospital is None
    assert response["Location"] == f"/me/availability/?week={monday_in(1).isoformat()}"
    slots = week_slots(client, monday_in(1))
    assert slots[day.isoformat()] == ["09:00–13:30"]
    assert sum(len(labels) for labels in slots.values()) == 1
    page = client.get(response["Location"]).content.decode()
    assert "America/New_York" in page
    # The list under the week says the same local time as the grid, not the server's UTC.
    assert f"{day:%a} {day.day} {day:%b}, 09:00–13:30" in page


def test_a_weekly_window_starts_on_the_first_chosen_weekday_and_repeats(
    world: World, technologist: User
) -> None:
    client = client_for(technologist)
    monday = monday_in(1)
    until = monday + timedelta(days=15)
    response = add(
        client,
        repeat="weekly",
        weekdays=["TU", "TH"],
        until=until.isoformat(),
        starts_at=f"{monday}T08:00",  # a Monday: the first occurrence is Tuesday
        ends_at=f"{monday}T12:00",
    )
    assert response.status_code == 302
    window = AvailabilityWindow.objects.get()
    assert window.rrule == f"FREQ=WEEKLY;BYDAY=TU,TH;UNTIL={until:%Y%m%d}T235959"
    assert window.starts_at == at(monday + timedelta(days=1), 8)
    for week, expected in [(1, 2), (2, 2), (3, 1), (4, 0)]:  # until the third week's Tuesday
        slots = week_slots(client, monday_in(week))
        shown = {day: labels for day, labels in slots.items() if labels}
        assert len(shown) == expected, (week, shown)
        assert all(labels == ["08:00–12:00"] for labels in shown.values())
    page = client.get("/me/availability/", {"week": monday.isoformat()}).content.decode()
    assert f"Every Tue, Thu until {until.day} {until:%b %Y}" in page


@pytest.mark.parametrize(
    ("first_monday", "change"),
    [(date(2027, 3, 22), "spring"), (date(2027, 10, 25), "autumn")],
)
def test_a_weekly_window_keeps_its_local_hour_across_the_clock_change(
    world: World, technologist: User, first_monday: date, change: str
) -> None:
    client = client_for(technologist)
    add(
        client,
        repeat="weekly",
        weekdays=["MO"],
        starts_at=f"{first_monday}T08:00",
        ends_at=f"{first_monday}T12:00",
    )
    after = first_monday + timedelta(days=7)
    assert week_slots(client, first_monday)[first_monday.isoformat()] == ["08:00–12:00"]
    assert week_slots(client, after)[after.isoformat()] == ["08:00–12:00"]
    # The week that holds the change (Sunday) still has seven days, midnight to midnight.
    assert list(week_slots(client, first_monday)) == [
        (first_monday + timedelta(days=n)).isoformat() for n in range(7)
    ]
    window = AvailabilityWindow.objects.get()
    first, second = window.occurrences(at(first_monday, 0), at(after + timedelta(days=1), 0))
    moved = second.starts_at - first.starts_at
    assert moved == timedelta(days=7, hours=-1 if change == "spring" else 1)


def test_the_week_navigation(world: World, technologist: User) -> None:
    client = client_for(technologist)
    monday = monday_in(2)
    page = client.get("/me/availability/", {"week": (monday + timedelta(days=3)).isoformat()})
    assert page.context["week"].monday == monday
    text = page.content.decode()
    assert f'href="?week={(monday - timedelta(days=7)).isoformat()}"' in text
    assert f'href="?week={(monday + timedelta(days=7)).isoformat()}"' in text
    assert client.get("/me/availability/", {"week": "next"}).context["week"].monday == monday_in(0)


def test_an_overnight_window_shows_on_both_days(world: World, technologist: User) -> None:
    client = client_for(technologist)
    day = monday_in(1) + timedelta(days=4)
    add(client, starts_at=f"{day}T22:00", ends_at=f"{day + timedelta(days=1)}T06:00")
    slots = week_slots(client, monday_in(1))
    assert slots[day.isoformat()] == ["22:00–06:00 (+1)"]
    assert slots[(day + timedelta(days=1)).isoformat()] == ["22:00–06:00 (+1)"]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"starts_at": "{d}T12:00", "ends_at": "{d}T09:00"}, "ends_at", "must end after"),
        (
            {"starts_at": "2027-03-28T02:30", "ends_at": "2027-03-28T05:00"},
            "starts_at",
            "not exist",
        ),
        (
            {"starts_at": "{d}T08:00", "ends_at": "{d}T10:00", "repeat": "weekly"},
            "weekdays",
            "Pick",
        ),
        (
            {
                "starts_at": "{d}T08:00",
                "ends_at": "{d}T10:00",
                "repeat": "weekly",
                "weekdays": ["MO"],
                "until": "2020-01-01",
            },
            "until",
            "on or after",
        ),
        (
            {
                "starts_at": "{d}T08:00",
                "ends_at": "{d}T10:00",
                "repeat": "custom",
                "rrule": "FREQ=SOMETIMES",
            },
            "rrule",
            "Not a valid RRULE",
        ),
        ({"starts_at": "yesterday", "ends_at": "{d}T10:00"}, "starts_at", "valid date/time"),
    ],
)
def test_bad_availability_is_refused_on_its_field(
    world: World, technologist: User, data: dict, field: str, message: str
) -> None:
    day = (monday_in(1) + timedelta(days=1)).isoformat()
    filled = {
        k: [v.format(d=day) for v in value] if isinstance(value, list) else value.format(d=day)
        for k, value in data.items()
    }
    response = client_for(technologist).post("/me/availability/new/", {"repeat": "once", **filled})
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors, errors
    assert message in " ".join(errors[field])
    assert not AvailabilityWindow.objects.exists()


def test_editing_a_weekly_window_changes_every_repeat(world: World, technologist: User) -> None:
    monday = monday_in(1)
    window = window_for(technologist, monday, rrule="FREQ=WEEKLY;BYDAY=MO")
    client = client_for(technologist)
    form = client.get(f"/availability/{window.pk}/edit/").content.decode()
    assert f'value="{monday}T08:00"' in form
    checked = re.findall(r'value="(\w+)"[^>]*\bchecked\b', form)
    assert checked == ["weekly", "MO"]
    response = client.post(
        f"/availability/{window.pk}/edit/",
        {
            "repeat": "weekly",
            "weekdays": ["MO", "FR"],
            "starts_at": f"{monday}T13:00",
            "ends_at": f"{monday}T17:00",
        },
    )
    assert response.status_code == 302
    slots = week_slots(client, monday_in(2))
    assert slots[monday_in(2).isoformat()] == ["13:00–17:00"]
    assert slots[(monday_in(2) + timedelta(days=4)).isoformat()] == ["13:00–17:00"]


def test_a_custom_rule_is_kept_when_edited(world: World, technologist: User) -> None:
    monday = monday_in(1)
    window = window_for(technologist, monday, rrule="FREQ=MONTHLY;BYDAY=1MO")
    form = client_for(technologist).get(f"/availability/{window.pk}/edit/")
    assert form.context["form"].initial["repeat"] == "custom"
    assert form.context["form"].initial["rrule"] == "FREQ=MONTHLY;BYDAY=1MO"


def test_skipping_one_occurrence_keeps_the_others(world: World, technologist: User) -> None:
    monday = monday_in(1)
    window = window_for(technologist, monday, rrule="FREQ=WEEKLY;BYDAY=MO")
    client = client_for(technologist)
    page = client.get("/me/availability/", {"week": monday_in(2).isoformat()}).content.decode()
    assert f'name="local_start" value="{monday_in(2)}T08:00:00"' in page
    response = client.post(
        f"/availability/{window.pk}/skip/", {"local_start": f"{monday_in(2)}T08:00:00"}
    )
    assert response.status_code == 302
    assert week_slots(client, monday_in(2))[monday_in(2).isoformat()] == []
    assert week_slots(client, monday_in(1))[monday.isoformat()] == ["08:00–12:00"]
    assert week_slots(client, monday_in(3))[monday_in(3).isoformat()] == ["08:00–12:00"]
    # A moment that is no occurrence is refused, and nothing is recorded.
    response = client.post(
        f"/availability/{window.pk}/skip/", {"local_start": f"{monday_in(3)}T09:00"}
    )
    assert response.status_code == 400
    window.refresh_from_db()
    assert window.exdates == [f"{monday_in(2)}T08:00:00"]


def test_deleting_a_window(world: World, technologist: User) -> None:
    window = window_for(technologist, monday_in(1))
    response = client_for(technologist).post(f"/availability/{window.pk}/delete/", follow=True)
    assert "Availability removed." in response.content.decode()
    assert not AvailabilityWindow.objects.exists()


# --- A manager's staff, and lending them ----------------------------------------------------------


def test_the_staff_week_marks_what_the_hospital_lends(world: World, technologist: User) -> None:
    monday = monday_in(1)
    window_for(technologist, monday)  # their own
    lent = window_for(
        technologist,
        monday + timedelta(days=2),
        start=13,
        end=17,
        actor=world.manager,
        lending_hospital=world.hospital,
    )
    response = client_for(world.manager).get(
        f"/hospitals/{world.hospital.pk}/staff/", {"week": monday.isoformat()}
    )
    (row,) = response.context["rows"]
    assert row["technologist"] == technologist
    days = {day.day: [s.label for s in day.segments] for day in row["week"].days}
    assert days[monday] == ["08:00–12:00"]
    assert days[monday + timedelta(days=2)] == ["13:00–17:00"]
    page = response.content.decode()
    assert f'href="/availability/{lent.pk}/edit/?next=' in page
    assert page.count('class="chip lent"') == 1
    # The technologist sees who lends them.
    own = client_for(technologist).get("/me/availability/", {"week": monday.isoformat()})
    assert "lent by Hôpital Sainte-Claire" in own.content.decode()


def test_a_manager_lends_a_technologist_in_the_hospitals_time(
    world: World, technologist: User
) -> None:
    day = monday_in(1) + timedelta(days=1)
    manager = client_for(world.manager)
    response = manager.post(
        f"/hospitals/{world.hospital.pk}/staff/{technologist.pk}/lend/",
        {
            "repeat": "weekly",
            "weekdays": ["TU"],
            "starts_at": f"{day}T07:30",
            "ends_at": f"{day}T11:30",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == (
        f"/hospitals/{world.hospital.pk}/staff/?week={monday_in(1).isoformat()}"
    )
    window = AvailabilityWindow.objects.get()
    assert window.technologist == technologist
    assert window.lending_hospital == world.hospital
    assert window.created_by == world.manager
    assert window.starts_at == at(day, 7, 30)
    assert window.starts_at.astimezone(UTC).hour == 6
    # The manager changes the lent window, then withdraws it.
    assert manager.get(f"/availability/{window.pk}/edit/").status_code == 200
    response = manager.post(f"/availability/{window.pk}/delete/")
    assert response["Location"] == f"/hospitals/{world.hospital.pk}/staff/"
    assert not AvailabilityWindow.objects.exists()


def test_lending_someone_elses_technologist_is_not_found(world: World, technologist: User) -> None:
    theirs = UserFactory()
    MembershipFactory(user=theirs, hospital=world.other_hospital, role=Role.TECHNOLOGIST)
    TechnologistProfileFactory(user=theirs)
    day = (monday_in(1) + timedelta(days=1)).isoformat()
    data = {"repeat": "once", "starts_at": f"{day}T08:00", "ends_at": f"{day}T10:00"}
    manager = client_for(world.manager)
    for person in (theirs, world.local_staff, world.other_manager):
        url = f"/hospitals/{world.hospital.pk}/staff/{person.pk}/lend/"
        assert manager.get(url).status_code == 404
        assert manager.post(url, data).status_code == 404
    # Nor through another hospital's address.
    other = f"/hospitals/{world.other_hospital.pk}/staff/{theirs.pk}/lend/"
    assert manager.post(other, data).status_code == 404
    assert not AvailabilityWindow.objects.exists()


def test_a_refused_loan_is_shown_on_the_form(world: World, technologist: User) -> None:
    day = (monday_in(1) + timedelta(days=1)).isoformat()
    response = client_for(world.manager).post(
        f"/hospitals/{world.hospital.pk}/staff/{technologist.pk}/lend/",
        {"repeat": "once", "starts_at": f"{day}T08:00", "ends_at": f"{day}T08:00"},
    )
    assert response.status_code == 400
    assert "ends_at" in response.context["form"].errors
    assert not AvailabilityWindow.objects.exists()


def test_the_list_under_the_week_names_the_week_shown(world: World, technologist: User) -> None:
    monday = monday_in(3)
    page = client_for(technologist).get("/me/availability/", {"week": monday.isoformat()})
    assert f"Week of {monday.day} {monday:%B %Y}" in page.content.decode()
