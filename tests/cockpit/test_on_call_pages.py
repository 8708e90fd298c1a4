"""The on-call page as technologists use it: a senior's switch, "on call now", the next two
weeks of their schedule and adding or deleting a window; a junior and someone without a
technologist profile are told why there is nothing to keep. The switch and "on call now"
change who a request for help reaches."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from cockpit.models import AssistNotice, AssistRequest
from cockpit.services import assist_cancel
from marketplace.models import Seniority, TechnologistProfile
from scheduling.forms import WEEKDAYS
from scheduling.models import OnCallWindow
from scheduling.services import on_call_create
from tests.cockpit.support import open_cockpit
from tests.cockpit.test_assist_pages import (
    ask,
    junior,
    on_call_senior,
    page_messages,
    technologist,
    text,
)
from tests.conftest import World, client_for

pytestmark = pytest.mark.django_db

BRUSSELS = ZoneInfo("Europe/Brussels")


def cancel(world: World, assist: AssistRequest) -> None:
    assist_cancel(actor=world.technologist, assist_id=assist.pk)


def asked(assist: AssistRequest) -> set[int]:
    """Technologists a request reached (managers excepted)."""
    return set(
        AssistNotice.objects.filter(request=assist, may_accept=True).values_list(
            "user_id", flat=True
        )
    )


# --- Who sees what ------------------------------------------------------------------------------


def test_a_senior_on_call_sees_the_switch_now_and_the_schedule(world: World) -> None:
    senior = on_call_senior("Anna Senior")
    window = OnCallWindow.objects.get(technologist=senior)
    until = window.ends_at.astimezone(BRUSSELS).strftime("%H:%M")

    response = client_for(senior).get("/me/on-call/")

    assert response.status_code == 200
    page = text(response)
    assert 'id="on-call-switch-state">On<' in page
    assert f"You are on call now, until {until}." in page
    assert "Turn on call off" in page
    for hours in ("1 hour", "2 hours", "4 hours", "8 hours"):
        assert f'value="{hours.split()[0]}">{hours}</button>' in page
    schedule = response.context["schedule"]
    assert [row["window"] for row in schedule] == [window]
    assert schedule[0]["now"] is True
    assert schedule[0]["families"] == "All your exam families"
    assert f'action="/on-call/{window.pk}/delete/"' in page
    assert 'id="add-window"' in page
    assert "Europe/Brussels" in page


def test_an_experienced_technologist_keeps_a_schedule_too(world: World) -> None:
    experienced = technologist("Eva Experienced", seniority=Seniority.EXPERIENCED)

    response = client_for(experienced).get("/me/on-call/")

    page = text(response)
    assert "No on-call window is under way now" in page
    assert "You are not on call in the next 14 days." in page
    assert "No on-call window yet." in page
    assert 'id="add-window"' in page


def test_a_weekly_window_lists_each_occurrence_of_the_next_two_weeks(world: World) -> None:
    senior = technologist("Anna Senior", families=("neuro", "msk"))
    starts = (timezone.now() + timedelta(days=1)).astimezone(BRUSSELS)
    starts = starts.replace(hour=8, minute=0, second=0, microsecond=0)
    on_call_create(
        actor=senior,
        technologist=senior,
        starts_at=starts,
        ends_at=starts.replace(hour=17),
        rrule=f"FREQ=WEEKLY;BYDAY={WEEKDAYS[starts.weekday()][0]}",
        exam_families=["msk"],
    )

    response = client_for(senior).get("/me/on-call/")

    schedule = response.context["schedule"]
    assert [row["span"] for row in schedule] == [
        f"{day:%a %-d %b}, 08:00–17:00" for day in (starts, starts + timedelta(days=7))
    ]
    assert {row["families"] for row in schedule} == {"Musculoskeletal (MSK)"}
    assert f"Every {starts:%a}" in text(response)


def test_a_junior_is_told_to_ask_from_the_cockpit(world: World) -> None:
    response = client_for(junior()).get("/me/on-call/")

    assert response.status_code == 200
    page = text(response)
    assert "As a junior, you <strong>ask</strong> for help" in page
    assert 'id="add-window"' not in page
    assert 'id="on-call-switch"' not in page


@pytest.mark.parametrize("person", ["manager", "local_staff", "outsider"])
def test_someone_without_a_technologist_profile_is_told_why(world: World, person: str) -> None:
    response = client_for(getattr(world, person)).get("/me/on-call/")

    assert response.status_code == 200
    page = text(response)
    assert "You have no technologist profile" in page
    assert 'id="add-window"' not in page


# --- The switch and "on call now" change who is asked ---------------------------------------


def test_the_switch_off_keeps_requests_away_and_on_brings_them_back(world: World) -> None:
    senior = on_call_senior("Anna Senior")
    other = on_call_senior("Bert Senior")
    cockpit = open_cockpit(world)
    client = client_for(senior)

    response = client.post("/me/on-call/switch/", {"paused": "true"}, follow=True)

    assert response.redirect_chain == [("/me/on-call/", 302)]
    assert page_messages(response) == [
        "On call is off: no request for help reaches you until you turn it on."
    ]
    assert 'id="on-call-switch-state">Off<' in text(response)
    assert TechnologistProfile.objects.get(user=senior).on_call_paused
    first = ask(world, cockpit)
    assert asked(first) == {other.pk}

    cancel(world, first)
    client.post("/me/on-call/switch/", {"paused": "false"})

    assert not TechnologistProfile.objects.get(user=senior).on_call_paused
    assert asked(ask(world, cockpit)) == {senior.pk, other.pk}


def test_the_switch_needs_on_or_off(world: World) -> None:
    senior = on_call_senior("Anna Senior")

    response = client_for(senior).post("/me/on-call/switch/", {"paused": "maybe"})

    assert response.status_code == 400
    assert "Say whether to turn the on-call switch on or off." in text(response)
    assert not TechnologistProfile.objects.get(user=senior).on_call_paused


def test_on_call_now_for_two_hours_for_one_family(world: World) -> None:
    # Bert is on call for neuro all along, so the request stays with the seniors on call.
    bert = on_call_senior("Bert Senior", families=("neuro", "msk"))
    anna = technologist("Anna Senior", families=("neuro", "msk"))
    TechnologistProfile.objects.filter(user=anna).update(on_call_paused=True)
    client = client_for(anna)

    response = client.post("/me/on-call/now/", {"hours": "2", "exam_families": ["msk"]})

    window = OnCallWindow.objects.get(technologist=anna)
    assert response.status_code == 302
    assert window.ends_at - window.starts_at == timedelta(hours=2)
    assert [family.code for family in window.exam_families.all()] == ["msk"]
    # Going on call turns the switch on.
    assert not TechnologistProfile.objects.get(user=anna).on_call_paused
    cockpit = open_cockpit(world)
    neuro = ask(world, cockpit)
    assert asked(neuro) == {bert.pk}
    cancel(world, neuro)
    assert asked(ask(world, cockpit, family="msk")) == {anna.pk, bert.pk}
    until = window.ends_at.astimezone(BRUSSELS).strftime("%H:%M")
    page = client.get("/me/on-call/")
    assert page_messages(page)[0].startswith(f"You are on call now until {until}")


def test_on_call_now_needs_one_of_the_lengths_offered(world: World) -> None:
    anna = technologist("Anna Senior")

    response = client_for(anna).post("/me/on-call/now/", {"hours": "30"})

    assert response.status_code == 400
    assert "Choose 1, 2, 4 or 8 hours." in text(response)
    assert not OnCallWindow.objects.filter(technologist=anna).exists()


def test_a_junior_cannot_go_on_call(world: World) -> None:
    young = junior()
    client = client_for(young)

    for path, data in (
        ("/me/on-call/now/", {"hours": "2"}),
        ("/me/on-call/new/", {"day": "2030-01-07", "starts": "08:00", "ends": "12:00"}),
    ):
        response = client.post(path, data, follow=True)
        assert response.redirect_chain == [("/me/on-call/", 302)]
        assert "as a junior, ask for help from the cockpit instead" in page_messages(response)[0]
    assert not OnCallWindow.objects.filter(technologist=young).exists()


# --- Adding and deleting windows ----------------------------------------------------------------


def _next_monday() -> str:
    today = timezone.now().astimezone(BRUSSELS).date()
    return (today + timedelta(days=7 - today.weekday())).isoformat()


def test_adding_a_weekly_overnight_window(world: World) -> None:
    senior = technologist("Anna Senior", families=("neuro", "msk"))
    client = client_for(senior)

    response = client.post(
        "/me/on-call/new/",
        {
            "day": _next_monday(),
            "starts": "20:00",
            "ends": "06:00",
            "repeat": "weekly",
            "weekdays": ["TU", "TH"],
            "exam_families": ["neuro"],
            "time_zone": "Europe/Brussels",
        },
        follow=True,
    )

    assert response.redirect_chain == [("/me/on-call/", 302)]
    window = OnCallWindow.objects.get(technologist=senior)
    assert window.rrule == "FREQ=WEEKLY;BYDAY=TU,TH"
    starts = window.starts_at.astimezone(BRUSSELS)
    assert (starts.strftime("%a %H:%M"), window.ends_at - window.starts_at) == (
        "Tue 20:00",
        timedelta(hours=10),
    )
    assert [family.code for family in window.exam_families.all()] == ["neuro"]
    assert window.time_zone == "Europe/Brussels"
    assert page_messages(response) == [
        f"On-call window added: {starts:%a %-d %b, %H:%M} – "
        f"{starts + timedelta(hours=10):%a %-d %b, %H:%M}, then every Tue, Thu."
    ]


def test_adding_a_window_in_another_time_zone(world: World) -> None:
    senior = technologist("Anna Senior")

    client_for(senior).post(
        "/me/on-call/new/",
        {
            "day": _next_monday(),
            "starts": "09:00",
            "ends": "13:00",
            "repeat": "once",
            "time_zone": "America/New_York",
        },
    )

    window = OnCallWindow.objects.get(technologist=senior)
    assert window.time_zone == "America/New_York"
    assert window.starts_at.astimezone(ZoneInfo("America/New_York")).hour == 9
    assert list(window.exam_families.all()) == []


def test_a_family_not_on_the_profile_is_refused(world: World) -> None:
    senior = technologist("Anna Senior", families=("neuro",))

    response = client_for(senior).post(
        "/me/on-call/new/",
        {
            "day": _next_monday(),
            "starts": "08:00",
            "ends": "12:00",
            "repeat": "once",
            "exam_families": ["cardiac"],
            "time_zone": "Europe/Brussels",
        },
    )

    assert response.status_code == 400
    assert "cardiac is not one of the available choices" in text(response)
    assert not OnCallWindow.objects.filter(technologist=senior).exists()


def test_a_bad_rule_is_refused_with_the_services_reason(world: World) -> None:
    senior = technologist("Anna Senior")

    response = client_for(senior).post(
        "/me/on-call/new/",
        {
            "day": _next_monday(),
            "starts": "08:00",
            "ends": "12:00",
            "repeat": "custom",
            "rrule": "FREQ=HOURLY",
            "time_zone": "Europe/Brussels",
        },
    )

    assert response.status_code == 400
    assert "Repeat daily, weekly, monthly or yearly." in text(response)
    assert response.context["add_form"].errors["rrule"]
    assert not OnCallWindow.objects.filter(technologist=senior).exists()


def test_a_window_in_the_past_is_refused(world: World) -> None:
    senior = technologist("Anna Senior")
    yesterday = (timezone.now().astimezone(BRUSSELS) - timedelta(days=1)).date().isoformat()

    response = client_for(senior).post(
        "/me/on-call/new/",
        {
            "day": yesterday,
            "starts": "08:00",
            "ends": "12:00",
            "repeat": "once",
            "time_zone": "Europe/Brussels",
        },
    )

    assert response.status_code == 400
    assert "This window is entirely in the past." in text(response)


def test_opening_the_add_address_shows_the_form_on_the_page(world: World) -> None:
    response = client_for(technologist("Anna Senior")).get("/me/on-call/new/")

    assert response.status_code == 302
    assert response["Location"] == "/me/on-call/#add-window"


def test_deleting_ones_own_window_and_not_anothers(world: World) -> None:
    anna = on_call_senior("Anna Senior")
    bert = on_call_senior("Bert Senior")
    annas = OnCallWindow.objects.get(technologist=anna)
    berts = OnCallWindow.objects.get(technologist=bert)
    client = client_for(anna)

    assert client.post(f"/on-call/{berts.pk}/delete/").status_code == 404
    response = client.post(f"/on-call/{annas.pk}/delete/", follow=True)

    assert page_messages(response) == ["On-call window removed."]
    assert list(OnCallWindow.objects.all()) == [berts]
    assert client_for(world.manager).post(f"/on-call/{berts.pk}/delete/").status_code == 404
