"""The scheduling pages speak the person's language: Dutch for a Belgian browser asking nl-BE,
French for fr-BE, and a signed-in person's own choice (User.language) over what the browser asks.
Dates come in words of that language, times on the 24-hour clock, with the zone beside them."""

from datetime import date

import pytest
from django.test import Client

from accounts.models import User
from scheduling import services
from scheduling.models import Booking, Plan
from tests.conftest import World, client_for
from tests.scheduling.support import Clock, confirmed, local, post
from tests.scheduling.test_ledger import (  # noqa: F401 (fixtures)
    independent,
    lent,
    lent_by_other,
    traded,
)
from tests.scheduling.test_plans_pages import proposal, second  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


def _get(client: Client, url: str, language: str, **params: str) -> str:
    response = client.get(url, params, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    return str(response.content.decode())


def _main(page: str) -> str:
    """The page's own content (the header and its menu are another area's)."""
    return page[page.index("<main") : page.index("</main>")]


@pytest.fixture
def booking(world: World, tech: User, clock: Clock) -> Booking:
    """Thursday 3 December 2026, 14:00–18:00 Brussels on MR 1, confirmed."""
    return confirmed(world.manager, post(world.manager, world.scanner, local(12, 3, 14)), tech)


BOOKING_WORDS = {
    "nl-BE": (
        '<html lang="nl"',
        "De boeking",
        "Technoloog",
        "Boeking annuleren",
        "23 november 2026, 10:00",
    ),
    "fr-BE": (
        '<html lang="fr"',
        "La réservation",
        "Technologue",
        "Annuler la réservation",
        "23 novembre 2026, 10:00",
    ),
}


@pytest.mark.parametrize("language", BOOKING_WORDS)
def test_the_booking_page_in_dutch_and_french(
    world: World, booking: Booking, language: str
) -> None:
    page = _get(client_for(world.manager), f"/bookings/{booking.pk}/", language)
    for words in BOOKING_WORDS[language]:
        assert words in page
    assert "14:00" in page
    assert "18:00" in page
    assert "Europe/Brussels" in page
    assert "The booking" not in _main(page)
    assert "Cancel booking" not in _main(page)
    assert " PM" not in page
    assert " AM" not in page


AVAILABILITY_WORDS = {
    "nl-BE": (
        '<html lang="nl"',
        "Mijn beschikbaarheid",
        "Week van 30 november 2026",
        "Volgende week",
        "Beschikbaarheid toevoegen op donderdag 3 december",
    ),
    "fr-BE": (
        '<html lang="fr"',
        "Mes disponibilités",
        "Semaine du 30 novembre 2026",
        "Semaine suivante",
        "Ajouter une disponibilité le jeudi 3 décembre",
    ),
}


@pytest.mark.parametrize("language", AVAILABILITY_WORDS)
def test_the_availability_week_in_dutch_and_french(
    world: World, tech: User, clock: Clock, language: str
) -> None:
    services.availability_create(
        actor=tech,
        technologist=tech,
        starts_at=local(12, 3, 7),
        ends_at=local(12, 3, 19),
        time_zone="Europe/Brussels",
        rrule="",
    )
    page = _get(client_for(tech), "/me/availability/", language, week="2026-12-03")
    for words in AVAILABILITY_WORDS[language]:
        assert words in page
    assert "07:00–19:00" in page
    assert "My availability" not in _main(page)
    assert "Next week" not in _main(page)


LEDGER_WORDS = {
    "nl-BE": (
        '<html lang="nl"',
        "Grootboek van wederkerigheid",
        'data-label="Saldo"',
        "december 2026",
        "Ziekenhuis Scheldeland is 3,50 u verschuldigd",
    ),
    "fr-BE": (
        '<html lang="fr"',
        "Registre des heures de réciprocité",
        'data-label="Solde"',
        "décembre 2026",
        "Ziekenhuis Scheldeland doit 3,50 h",
    ),
}


@pytest.mark.usefixtures("traded")
@pytest.mark.parametrize("language", LEDGER_WORDS)
def test_the_ledger_in_dutch_and_french(world: World, language: str) -> None:
    page = _get(client_for(world.manager), f"/hospitals/{world.hospital.pk}/ledger/", language)
    for words in LEDGER_WORDS[language]:
        assert words in page
    assert "Reciprocity ledger" not in _main(page)
    assert 'data-label="Balance"' not in page


@pytest.mark.usefixtures("traded")
def test_the_ledger_statement_labels_its_stacked_cells(world: World) -> None:
    url = f"/hospitals/{world.hospital.pk}/ledger/2026-11/"
    page = _get(client_for(world.manager), url, "fr-BE")
    assert "Relevé, novembre 2026" in page
    for label in ("Date", "Séance", "Technologue", "Données", "Reçues", "Solde"):
        assert f'data-label="{label}"' in page


def test_the_persons_own_language_wins_over_the_browser(
    world: World, booking: Booking, tech: User
) -> None:
    tech.language = "fr"
    tech.save(update_fields=["language"])
    client = client_for(tech)
    booking_page = _get(client, f"/bookings/{booking.pk}/", "nl-BE")
    assert '<html lang="fr"' in booking_page
    assert "La réservation" in booking_page
    week = _get(client, "/me/availability/", "nl-BE,nl;q=0.9,en;q=0.5", week="2026-12-03")
    assert "Mes disponibilités" in week
    assert "Mijn beschikbaarheid" not in _main(week)
    assert "3 décembre" in week
    assert date(2026, 12, 3).isoformat() in week


FRENCH_HEADINGS = {
    "/me/bookings/": "Mes réservations",
    "/me/calendar/": "Mon calendrier",
    "/me/availability/new/": "Ajouter une disponibilité",
    "/plans/": "Plans",
    "/hospitals/{hospital}/bookings/": "Réservations · Hôpital Sainte-Claire",
    "/hospitals/{hospital}/staff/": "Disponibilité du personnel",
    "/hospitals/{hospital}/calendar/": "Calendrier de Hôpital Sainte-Claire",
}


@pytest.mark.parametrize("url", FRENCH_HEADINGS)
def test_the_other_scheduling_pages_in_french(world: World, tech: User, url: str) -> None:
    person = world.manager if "{hospital}" in url or url == "/plans/" else tech
    page = _get(client_for(person), url.format(hospital=world.hospital.pk), "fr-BE")
    heading = page[page.index("<h1") : page.index("</h1>")]
    assert FRENCH_HEADINGS[url] in heading


def test_a_plans_proposal_in_dutch(world: World, proposal: Plan) -> None:  # noqa: F811
    page = _get(client_for(world.manager), f"/plans/{proposal.pk}/", "nl-BE")
    main = _main(page)
    assert f"Open sessies van Hôpital Sainte-Claire: planning {proposal.pk}" in main
    assert "sessies ingevuld" in main or "sessie ingevuld" in main
    assert "uitnodigingen versturen" in main or "uitnodiging versturen" in main
    assert 'data-label="Voorgesteld"' in main
    assert "tijd Europe/Brussels" in main
    assert "Proposed technologist" not in main
