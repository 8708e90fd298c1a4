"""A partial exam as people meet it afterwards: never plainly "Completed" on the booking page, the
lists, the API or the calendar feed; the hours it ran, not the booked ones; its STOPs and their
reasons on the booking page and the console page (every time in the scanning site's zone,
labelled), and the reason given after the fact."""

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from cockpit import services
from cockpit.models import CockpitSession, CockpitStop
from scheduling import services as scheduling_services
from scheduling.models import Booking
from tests.cockpit.support import open_booking
from tests.cockpit.test_outcome_services import console_after
from tests.conftest import World, client_for

pytestmark = pytest.mark.django_db

LABEL = "Completed — partial (2 of 7 sequences)"
BRUSSELS = ZoneInfo("Europe/Brussels")


def _text(response: Any) -> str:
    assert response.status_code == 200
    return str(response.content.decode())


@pytest.fixture
def partial(world: World, monkeypatch: pytest.MonkeyPatch) -> CockpitSession:
    """An exam that ran 45 minutes of its two booked hours: stopped by local staff after two
    sequences, then ended early."""
    booking = open_booking(
        world.manager, world.scanner, world.technologist, starts_in=timedelta(minutes=2)
    )
    cockpit = services.cockpit_open(booking=booking)
    cockpit = services.cockpit_approve_join(actor=world.local_staff, cockpit=cockpit)
    start = timezone.now().replace(second=0, microsecond=0)
    monkeypatch.setattr(timezone, "now", lambda: start)
    cockpit = services.cockpit_mark_started(cockpit=cockpit)
    monkeypatch.setattr(timezone, "now", lambda: start + timedelta(minutes=30))
    services.cockpit_stop(actor=world.local_staff, role="local", cockpit=cockpit)
    console = {**console_after("start", "start"), "status": "stopped"}
    monkeypatch.setattr(timezone, "now", lambda: start + timedelta(minutes=45))
    cockpit = services.cockpit_end_early(
        actor=world.technologist, role="operator", cockpit=cockpit, console=console
    )
    monkeypatch.undo()
    return cockpit


def _hhmm(moment: Any) -> str:
    return str(moment.astimezone(BRUSSELS).strftime("%H:%M"))


def test_the_booking_page_names_a_partial_exam_and_shows_the_hours_it_ran(
    world: World, partial: CockpitSession
) -> None:
    page = _text(client_for(world.manager).get(f"/bookings/{partial.booking_id}/"))
    assert f'id="booking-status">{LABEL}</span>' in page
    assert ">Completed</span>" not in page
    ran = f"0.75 h run, {_hhmm(partial.started_at)}–{_hhmm(partial.ended_at)}"
    assert ran in page
    assert "(2 h booked)" in page
    # Its STOP, in the site's zone; local staff may say why, after the fact.
    stop = CockpitStop.objects.get(cockpit=partial)
    assert f"{_hhmm(stop.at)} Brussels</time> STOP by {world.local_staff.display_name}" in page
    local = _text(client_for(world.local_staff).get(f"/bookings/{partial.booking_id}/"))
    assert f'action="/cockpit/{partial.pk}/stops/{stop.pk}/reason/"' in local
    operator = _text(client_for(world.technologist).get(f"/bookings/{partial.booking_id}/"))
    assert "/reason/" not in operator  # the operator did not press it


def test_the_lists_say_partial_too(world: World, partial: CockpitSession) -> None:
    hospital = _text(client_for(world.manager).get(f"/hospitals/{world.hospital.pk}/bookings/"))
    assert LABEL in hospital
    mine = _text(client_for(world.technologist).get("/me/bookings/"))
    assert LABEL in mine
    assert "0.75 h run" in mine


def test_the_api_gives_the_outcome_and_the_hours_it_ran(
    world: World, partial: CockpitSession, api: APIClient
) -> None:
    api.force_authenticate(world.manager)
    detail = api.get(f"/api/v1/bookings/{partial.booking_id}/").json()
    assert (detail["status"], detail["status_label"]) == ("completed", LABEL)
    assert detail["exam"] == {
        "outcome": "partial",
        "status_label": LABEL,
        "sequences_done": 2,
        "sequences_total": 7,
        "started_at": partial.started_at.isoformat().replace("+00:00", "Z"),
        "ended_at": partial.ended_at.isoformat().replace("+00:00", "Z"),
        "hours": 0.75,
    }
    listed = api.get("/api/v1/bookings/").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    (row,) = [row for row in rows if row["id"] == partial.booking_id]
    assert row["status_label"] == LABEL
    assert row["exam"]["hours"] == 0.75


def test_the_calendar_feed_says_partial_and_when_it_ran(
    world: World, partial: CockpitSession
) -> None:
    feed = scheduling_services.calendar_feed_for(user=world.technologist)
    response = client_for(None).get(f"/calendar/{feed.token}.ics")
    (event,) = icalendar.Calendar.from_ical(response.content).walk("VEVENT")
    assert str(event["SUMMARY"]).startswith("Partial: ")
    description = str(event["DESCRIPTION"])
    assert f"Booking: {LABEL}." in description
    assert (
        f"Ran {_hhmm(partial.started_at)}–{_hhmm(partial.ended_at)} (Europe/Brussels): 0.75 h."
        in description
    )


def test_the_console_page_shows_times_in_the_sites_zone_and_takes_a_reason_afterwards(
    world: World, partial: CockpitSession
) -> None:
    page = _text(client_for(world.local_staff).get(f"/cockpit/{partial.pk}/"))
    assert 'data-time-zone="Europe/Brussels"' in page
    assert 'data-zone-label="Brussels"' in page
    assert f"{_hhmm(partial.started_at)} Brussels</time>" in page
    assert f"<strong>{LABEL}</strong> · ended early by {world.technologist.display_name}" in page
    # The operator lives in New York: the console still reads the scanner's clock, labelled.
    profile = world.technologist.technologist_profile
    profile.home_time_zone = "America/New_York"
    profile.save(update_fields=["home_time_zone"])
    remote = _text(client_for(world.technologist).get(f"/cockpit/{partial.pk}/"))
    assert 'data-time-zone="Europe/Brussels"' in remote
    assert f"{_hhmm(partial.ended_at)} Brussels</time>" in remote
    # The zone's city as the reader's language names it (CLDR).
    dutch = client_for(world.local_staff)
    dutch.cookies[settings.LANGUAGE_COOKIE_NAME] = "nl"
    page = _text(dutch.get(f"/cockpit/{partial.pk}/"))
    assert 'data-zone-label="Brussel"' in page
    assert f"{_hhmm(partial.started_at)} Brussel</time>" in page
    stop = CockpitStop.objects.get(cockpit=partial)
    url = f"/cockpit/{partial.pk}/stops/{stop.pk}/reason/"

    # The operator did not press it; an outsider sees nothing.
    refused = client_for(world.technologist).post(url, {"role": "operator", "reason": "Why not"})
    assert refused.status_code == 302
    assert client_for(world.outsider).post(url, {"reason": "x"}).status_code == 404
    response = client_for(world.local_staff).post(
        url, {"role": "local", "reason": "Patient asked to stop: claustrophobic"}, follow=True
    )
    assert "reason is recorded." in _text(response)
    stop.refresh_from_db()
    assert (stop.reason, stop.reason_by) == (
        "Patient asked to stop: claustrophobic",
        world.local_staff,
    )
    assert "— “Patient asked to stop: claustrophobic”" in _text(response)
    # A reason naming the patient is refused, the old one kept.
    response = client_for(world.local_staff).post(
        url, {"role": "local", "reason": "Dhr. Jan Janssens, 12/03/1961, unwell"}, follow=True
    )
    stop.refresh_from_db()
    assert stop.reason == "Patient asked to stop: claustrophobic"
    assert Booking.objects.get(pk=partial.booking_id).status == "completed"
