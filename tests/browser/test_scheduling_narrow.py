"""The scheduling pages on a 320 px wide screen (WCAG 2.1 reflow), in French, the longest of
the three languages: no sideways scrolling on the ledger, a statement (its table stacked into
labelled rows), the availability week, a booking and the plans."""

from collections.abc import Callable

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import BrowserContext, Page

from accounts.models import User
from scheduling import services
from tests.conftest import World
from tests.scheduling.support import Clock, available, confirmed, freeze, licensed, local, post
from tests.scheduling.test_ledger import (  # noqa: F401 (fixtures)
    independent,
    lent,
    lent_by_other,
    traded,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NARROW = {"width": 320, "height": 640}
WIDER_THAN_THE_SCREEN = """() => {
  const width = document.documentElement.clientWidth + 0.5;
  return [...document.querySelectorAll("body *")]
    .filter((e) => e.getBoundingClientRect().right > width)
    .slice(0, 8)
    .map((e) => `${e.tagName}.${e.className}#${e.id}`);
}"""


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return freeze(monkeypatch)


def signed_in_page(new_context: Callable[..., BrowserContext], base_url: str, user: User) -> Page:
    """A phone signed in as `user` (the session made by the test client), who reads French."""
    user.language = "fr"
    user.save(update_fields=["language"])
    client = Client()
    client.force_login(user)
    context = new_context(viewport=NARROW)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": base_url}])
    return context.new_page()


def assert_fits(page: Page, url: str) -> None:
    response = page.goto(url)
    assert response is not None
    assert response.status == 200, url
    page.wait_for_load_state("load")
    content, screen = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert screen == NARROW["width"]
    # What sticks out, to say where to look when it fails.
    wide = page.evaluate(WIDER_THAN_THE_SCREEN)
    assert content <= screen, f"{url} is {content}px wide on a {screen}px screen: {wide}"


@pytest.mark.usefixtures("traded")
def test_the_ledger_pages_reflow_at_320_px(
    live_server, new_context: Callable[..., BrowserContext], world: World
) -> None:
    page = signed_in_page(new_context, live_server.url, world.manager)
    base = f"{live_server.url}/hospitals/{world.hospital.pk}"
    assert_fits(page, f"{base}/ledger/")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert_fits(page, f"{base}/ledger/2026-11/")
    # Stacked: each cell says which column it is, in French.
    cell = page.locator('#entries td[data-label="Solde"]').first
    assert cell.evaluate("td => getComputedStyle(td, '::before').content").startswith('"Solde')
    assert_fits(page, f"{base}/ledger/2026-12/")
    assert_fits(page, f"{live_server.url}/plans/")


def test_the_week_and_a_booking_reflow_at_320_px(
    live_server, new_context: Callable[..., BrowserContext], world: World, clock: Clock
) -> None:
    tech = world.technologist
    licensed(tech)
    available(tech)
    services.availability_create(
        actor=tech,
        technologist=tech,
        starts_at=local(12, 3, 7),
        ends_at=local(12, 3, 19),
        time_zone="Europe/Brussels",
        rrule="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
    )
    booking = confirmed(world.manager, post(world.manager, world.scanner, local(12, 3, 14)), tech)
    page = signed_in_page(new_context, live_server.url, tech)
    assert_fits(page, f"{live_server.url}/me/availability/?week=2026-12-03")
    assert_fits(page, f"{live_server.url}/me/availability/new/")
    assert_fits(page, f"{live_server.url}/bookings/{booking.pk}/")
    assert_fits(page, f"{live_server.url}/me/bookings/")
    manager = signed_in_page(new_context, live_server.url, world.manager)
    assert_fits(manager, f"{live_server.url}/bookings/{booking.pk}/")
    assert_fits(manager, f"{live_server.url}/hospitals/{world.hospital.pk}/staff/")
