"""The cockpit pages as people use them, on the real clock (see support.py): the list of cockpits
a person is due in, opening a booking's cockpit (refused before its window), pre-approving the
operator's join from the booking page, and the console page per role (operator, local staff, a
manager observing, another hospital and an outsider who see nothing, the anonymous visitor sent
to sign in)."""

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from accounts.models import User
from cockpit import services
from cockpit.models import CockpitSession
from cockpit.selectors import OPEN_BEFORE
from core.models import AuditEvent
from scheduling.models import Booking
from tests.cockpit.support import open_booking, open_cockpit
from tests.conftest import World, client_for
from tests.factories_supply import LicensedTechnologistFactory

pytestmark = pytest.mark.django_db


def _text(response: Any) -> str:
    return str(response.content.decode())


def _messages(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def _opens_at(booking: Booking, zone: str) -> str:
    return timezone.localtime(booking.starts_at - OPEN_BEFORE, ZoneInfo(zone)).strftime("%H:%M")


# --- The list -----------------------------------------------------------------------------------


def test_list_shows_each_person_their_role_and_when_it_opens(world: World) -> None:
    # The operator reads times in their own time zone (New York), local staff in the site's.
    LicensedTechnologistFactory(user=world.technologist, home_time_zone="America/New_York")
    now_open = open_booking(world.manager, world.scanner, world.technologist)
    later = open_booking(
        world.manager, world.scanner, world.technologist, starts_in=timedelta(hours=6)
    )
    # Beyond the next 12 hours: not listed yet.
    open_booking(world.manager, world.scanner, world.technologist, starts_in=timedelta(hours=20))

    operator = client_for(world.technologist).get("/cockpits/")
    rows = operator.context["rows"]
    assert [r["booking"] for r in rows] == [now_open, later]
    assert [r["role"] for r in rows] == ["operator", "operator"]
    assert [r["open"] for r in rows] == [True, False]
    text = _text(operator)
    assert "You join as <strong>operator</strong>" in text
    assert f'action="/bookings/{now_open.pk}/cockpit/"' in text
    assert f"opens at {_opens_at(later, 'America/New_York')}" in text
    assert "America/New_York" in text

    local = client_for(world.local_staff).get("/cockpits/")
    assert [r["role"] for r in local.context["rows"]] == ["local", "local"]
    assert "You join as <strong>local staff</strong>" in _text(local)
    assert f"opens at {_opens_at(later, 'Europe/Brussels')}" in _text(local)

    manager = client_for(world.manager).get("/cockpits/")
    assert [r["role"] for r in manager.context["rows"]] == ["observer", "observer"]

    for stranger in (world.other_manager, world.outsider):
        page = client_for(stranger).get("/cockpits/")
        assert page.context["rows"] == []
        assert "No cockpit is open now or opening in the next 12 hours." in _text(page)


def test_list_links_an_existing_cockpit_straight_to_its_console(world: World) -> None:
    cockpit = open_cockpit(world)
    text = _text(client_for(world.technologist).get("/cockpits/"))
    assert f'href="/cockpit/{cockpit.pk}/"' in text
    assert "operator's join approved" in text


def test_anonymous_visitors_are_sent_to_sign_in(world: World) -> None:
    cockpit = open_cockpit(world)
    anonymous = client_for(None)
    for url in (
        "/cockpits/",
        f"/cockpit/{cockpit.pk}/",
        f"/bookings/{cockpit.booking_id}/cockpit/",
    ):
        response = anonymous.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


# --- Opening a booking's cockpit ----------------------------------------------------------------


def test_opening_makes_the_session_and_goes_to_its_console(world: World) -> None:
    booking = open_booking(world.manager, world.scanner, world.technologist)
    response = client_for(world.technologist).post(f"/bookings/{booking.pk}/cockpit/")
    cockpit = CockpitSession.objects.get(booking=booking)
    assert response.status_code == 302
    assert response["Location"] == f"/cockpit/{cockpit.pk}/"
    assert cockpit.protocol == "neuro"
    # Local staff open the same one (GET works too: a link from a notification).
    again = client_for(world.local_staff).get(f"/bookings/{booking.pk}/cockpit/")
    assert again["Location"] == f"/cockpit/{cockpit.pk}/"
    assert CockpitSession.objects.count() == 1


def test_opening_before_the_window_is_refused_with_when_it_opens(world: World) -> None:
    booking = open_booking(
        world.manager, world.scanner, world.technologist, starts_in=timedelta(hours=3)
    )
    response = client_for(world.local_staff).post(f"/bookings/{booking.pk}/cockpit/", follow=True)
    assert response.redirect_chain[-1][0] == "/cockpits/"
    assert _messages(response) == [
        f"This cockpit is not open yet: it opens at {_opens_at(booking, 'Europe/Brussels')} "
        "(Europe/Brussels), 15 minutes before the booking starts."
    ]
    assert not CockpitSession.objects.exists()


def test_another_hospital_cannot_open_a_cockpit(world: World) -> None:
    booking = open_booking(world.manager, world.scanner, world.technologist)
    for stranger in (world.other_manager, world.outsider):
        response = client_for(stranger).post(f"/bookings/{booking.pk}/cockpit/")
        assert response.status_code == 404
    assert not CockpitSession.objects.exists()


# --- Pre-approval from the booking page ---------------------------------------------------------


def test_local_staff_pre_approve_the_operators_join_before_the_day(world: World) -> None:
    booking = open_booking(
        world.manager, world.scanner, world.technologist, starts_in=timedelta(days=2)
    )
    local = client_for(world.local_staff)
    page = _text(local.get(f"/bookings/{booking.pk}/"))
    assert 'id="booking-cockpit"' in page
    assert "Pre-approve the operator's join" in page
    assert "The cockpit opens at" in page
    assert "Open the cockpit" not in page

    approved = local.post(f"/bookings/{booking.pk}/cockpit/approve/", follow=True)
    assert _messages(approved) == [
        f"{world.technologist.display_name}'s join is approved: they may take control as soon "
        "as the cockpit opens."
    ]
    cockpit = CockpitSession.objects.get(booking=booking)
    assert cockpit.join_approved_by == world.local_staff
    assert AuditEvent.objects.filter(action="cockpit.join_approved").count() == 1
    assert "The operator's join is approved by" in _text(approved)
    assert "Pre-approve" not in _text(approved)

    twice = local.post(f"/bookings/{booking.pk}/cockpit/approve/", follow=True)
    assert _messages(twice) == ["The operator's join is already approved."]


def test_the_operator_cannot_approve_their_own_join(world: World) -> None:
    booking = open_booking(
        world.manager, world.scanner, world.technologist, starts_in=timedelta(days=2)
    )
    technologist = client_for(world.technologist)
    assert "Pre-approve" not in _text(technologist.get(f"/bookings/{booking.pk}/"))
    refused = technologist.post(f"/bookings/{booking.pk}/cockpit/approve/", follow=True)
    assert _messages(refused) == [
        "Only local staff or a manager of the scanning site may approve the join."
    ]
    assert not CockpitSession.objects.filter(join_approved_at__isnull=False).exists()
    # Another hospital's manager does not even see the booking.
    response = client_for(world.other_manager).post(f"/bookings/{booking.pk}/cockpit/approve/")
    assert response.status_code == 404


def test_booking_page_offers_to_open_the_cockpit_in_its_window(world: World) -> None:
    booking = open_booking(world.manager, world.scanner, world.technologist)
    page = _text(client_for(world.technologist).get(f"/bookings/{booking.pk}/"))
    assert f'action="/bookings/{booking.pk}/cockpit/"' in page
    assert "Open the cockpit" in page


# --- The console page ---------------------------------------------------------------------------


def test_console_page_for_the_operator(world: World) -> None:
    cockpit = open_cockpit(world)
    response = client_for(world.technologist).get(f"/cockpit/{cockpit.pk}/")
    assert response.status_code == 200
    text = _text(response)
    assert f'data-socket-path="/ws/cockpit/{cockpit.pk}/"' in text
    assert 'data-role="operator"' in text
    assert f'data-user-id="{world.technologist.pk}"' in text
    assert f'data-session-id="{cockpit.pk}"' in text
    assert "js/cockpit.js" in text
    # Without JavaScript: the session's facts, and why there is no live console.
    assert "The live console needs JavaScript" in text
    assert f"Approved by {world.local_staff.display_name}" in text
    assert "MR 1 · Campus Nord" in text
    assert 'data-control="take_over"' in text
    assert 'id="close-session"' in text
    assert 'id="stop-button"' not in text  # the large STOP is local staff's
    assert 'id="approve-join"' not in text


def test_console_page_for_local_staff_has_the_stop(world: World) -> None:
    cockpit = open_cockpit(world, approved=False)
    text = _text(client_for(world.local_staff).get(f"/cockpit/{cockpit.pk}/"))
    assert 'data-role="local"' in text
    assert 'id="stop-button"' in text
    assert 'id="approve-join"' in text
    assert 'id="confirm-contrast"' in text
    assert "Waiting for local staff to approve the operator's join" in text
    assert 'data-control="take_over"' not in text


def test_a_manager_observes_and_may_switch_to_local(world: World) -> None:
    cockpit = open_cockpit(world)
    manager = client_for(world.manager)
    text = _text(manager.get(f"/cockpit/{cockpit.pk}/"))
    assert 'data-role="observer"' in text
    assert 'href="?role=local"' in text
    assert 'id="stop-button"' not in text
    assert 'data-control="request"' not in text  # observers never hold control
    local = _text(manager.get(f"/cockpit/{cockpit.pk}/?role=local"))
    assert 'data-role="local"' in local
    assert 'id="stop-button"' in local

    refused = manager.get(f"/cockpit/{cockpit.pk}/?role=operator")
    assert refused.status_code == 403
    assert "you may join as observer, local staff" in _text(refused)


def test_other_hospitals_and_outsiders_find_no_console(world: World) -> None:
    cockpit = open_cockpit(world)
    for stranger in (world.other_manager, world.outsider):
        response = client_for(stranger).get(f"/cockpit/{cockpit.pk}/")
        assert response.status_code == 404
        assert "No such cockpit session." in _text(response)
    assert client_for(world.technologist).get("/cockpit/999999/").status_code == 404


def test_console_of_a_pre_approved_cockpit_says_when_it_opens(world: World) -> None:
    booking = open_booking(
        world.manager, world.scanner, world.technologist, starts_in=timedelta(hours=5)
    )
    client_for(world.local_staff).post(f"/bookings/{booking.pk}/cockpit/approve/")
    cockpit = CockpitSession.objects.get(booking=booking)
    text = _text(client_for(world.local_staff).get(f"/cockpit/{cockpit.pk}/"))
    assert f"it opens at {_opens_at(booking, 'Europe/Brussels')}" in text
    # Opening it before its window is still refused, even though the session exists.
    early = client_for(world.technologist).get(f"/bookings/{booking.pk}/cockpit/", follow=True)
    assert "This cockpit is not open yet" in _messages(early)[0]


def test_console_page_offers_only_the_moves_open_after_a_local_stop(world: World) -> None:
    """Issue 15: once local staff stopped the scan, the operator's page (server-rendered, before
    any frame) shows no grant, take-over or console; local staff's shows the grant to whoever
    asked."""
    cockpit = open_cockpit(world)
    senior = User.objects.create_user(email="wim.claes@example.org", first_name="Wim")
    cockpit.assistants.add(senior)
    cockpit = services.control_request(actor=world.technologist, role="operator", cockpit=cockpit)
    cockpit = services.cockpit_stop(actor=world.local_staff, role="local", cockpit=cockpit)
    cockpit = services.control_request(actor=senior, role="assistant", cockpit=cockpit)

    operator = _text(client_for(world.technologist).get(f"/cockpit/{cockpit.pk}/"))
    assert 'data-moves="control.request assist.request chat"' in operator
    assert 'data-control="grant" hidden>Grant control to Wim' in operator
    assert 'data-control="take_over" hidden>' in operator
    assert 'data-control="request">Ask for control' in operator
    assert '<div id="console-controls" hidden>' in operator
    assert "Local staff hold the scanner: only they hand control over." in operator

    local = _text(client_for(world.local_staff).get(f"/cockpit/{cockpit.pk}/"))
    assert 'data-control="grant">Grant control to Wim' in local
    assert '<div id="console-controls">' in local
