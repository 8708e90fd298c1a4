"""Bookings speak each person's language: a notice to several people is written in each one's own
(their profile's choice, English otherwise), and the API refuses in the language the request
asks for. Same frozen clock and posting as the booking tests (Monday 30 November 08:00–12:00,
Brussels)."""

from typing import Any

import icalendar
import pytest
from django.test import Client
from django.utils import translation

from core.models import Notification
from marketplace.models import SessionPosting
from scheduling import services
from scheduling.optimiser.solve import greedy
from tests.conftest import World, api_as
from tests.scheduling.optimiser_support import pair, problem, session, technologist

pytestmark = pytest.mark.django_db


def test_a_confirmation_reaches_each_side_in_their_own_language(
    world: World, tech: Any, posting: SessionPosting
) -> None:
    tech.language = "fr"
    tech.save(update_fields=["language"])
    booking = services.booking_apply(actor=tech, posting=posting)
    services.booking_accept(actor=world.manager, booking=booking)

    to_tech = Notification.objects.get(recipient=tech, kind="booking.confirmed")
    assert to_tech.message == (
        f"Confirmé : {tech.display_name} à Hôpital Sainte-Claire "
        "le lun 30 nov 08:00–12:00 (Europe/Brussels)."
    )
    to_manager = Notification.objects.get(recipient=world.manager, kind="booking.applied")
    assert to_manager.message == (
        f"{tech.display_name} applied for the session on Mon 30 Nov 08:00–12:00 (Europe/Brussels)."
    )


def test_a_refusal_over_the_api_in_the_language_asked_for(
    world: World, tech: Any, posting: SessionPosting
) -> None:
    booking = services.booking_invite(actor=world.manager, posting=posting, technologist=tech)
    services.booking_accept(actor=tech, booking=booking)

    again = api_as(tech).post(
        f"/api/v1/bookings/{booking.pk}/accept/", HTTP_ACCEPT_LANGUAGE="nl-BE"
    )
    assert again.status_code == 409
    assert again.json()["error"]["message"] == (
        "Deze boeking is bevestigd; ze kan alleen aanvaard worden als ze in afwachting is."
    )
    english = api_as(tech).post(f"/api/v1/bookings/{booking.pk}/accept/")
    assert english.json()["error"]["message"] == (
        "This booking is confirmed; it can be accepted only when pending."
    )


def test_a_calendar_feed_reads_in_its_owners_language(
    world: World, tech: Any, posting: SessionPosting
) -> None:
    """A calendar app fetches the feed without anyone's cookie or profile: the feed's owner's
    language is the one it is written in."""
    tech.language = "nl"
    tech.save(update_fields=["language"])
    services.booking_invite(actor=world.manager, posting=posting, technologist=tech)

    feed = services.calendar_feed_for(user=tech)
    body = Client().get(f"/calendar/{feed.token}.ics", HTTP_ACCEPT_LANGUAGE="fr").content
    event = next(iter(icalendar.Calendar.from_ical(body).walk("VEVENT")))
    assert str(event["SUMMARY"]) == "In afwachting: Hôpital Sainte-Claire · MR 1 (op afstand)"
    assert "Boeking: In afwachting." in str(event["DESCRIPTION"])


def test_the_optimisers_reasons_are_written_in_the_language_active_while_it_solves() -> None:
    """The plan's service solves under the language of whoever asked for it."""
    u1, u2 = session(1, 0, 8, 12, "urgent"), session(2, 0, 9, 13, "urgent")
    p = problem(
        [u1, u2],
        [technologist(1, "Ana"), technologist(2, "Ben")],
        [pair(u1, 1, experience=4000), pair(u1, 2), pair(u2, 1)],
    )
    with translation.override("nl"):
        dutch = greedy(p)
    with translation.override("fr"):
        french = greedy(p)
    assert next(u.why for u in dutch.unfilled if u.session_id == 2) == (
        "De enige die in aanmerking komt, Ana, is voorgesteld voor sessie S1, die ermee overlapt."
    )
    assert next(u.why for u in french.unfilled if u.session_id == 2) == (
        "La seule personne qualifiée, Ana, est déjà sur la séance S1, qui la chevauche."
    )
