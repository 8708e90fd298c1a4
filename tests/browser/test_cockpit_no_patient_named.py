"""In real Chromium against a real Daphne: a chat line naming the patient is refused, and it
stays in the chat box with the reason beside it, for the sender to reword; the other person
never sees it."""

from collections.abc import Callable, Iterator

import pytest
from django.db import connections
from playwright.sync_api import BrowserContext, expect

from cockpit.models import CockpitSession
from tests.browser.test_hospital_pages import sign_in
from tests.cockpit.support import open_cockpit
from tests.conftest import World
from tests.factories import PASSWORD
from tests.live_daphne import LiveDaphne, live_daphne

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LIVE_TIMEOUT_MS = 15_000


@pytest.fixture
def server() -> Iterator[LiveDaphne]:
    connections.close_all()  # the forked Daphne opens its own
    with live_daphne() as (daphne,):
        yield daphne


@pytest.fixture
def cockpit(world: World) -> CockpitSession:
    made = open_cockpit(world)
    connections.close_all()
    return made


def test_a_refused_chat_line_stays_in_the_box_with_the_reason(
    world: World,
    cockpit: CockpitSession,
    server: LiveDaphne,
    new_context: Callable[..., BrowserContext],
) -> None:
    url = f"{server.url}/cockpit/{cockpit.pk}/"
    pages = []
    for person in (world.local_staff, world.technologist):
        page = new_context(live_sockets=True).new_page()
        sign_in(page, server.url, person.email, PASSWORD)
        page.goto(url)
        expect(page.locator("#conn-state")).to_have_text("Live", timeout=LIVE_TIMEOUT_MS)
        pages.append(page)
    local, operator = pages

    line = "Mevrouw Els Peeters, claustrofobie"
    local.locator("#chat-text").fill(line)
    local.locator("#chat-form").get_by_role("button", name="Send").click()
    reason = local.locator('[data-error-for="chat"]')
    expect(reason).to_be_visible()
    expect(reason).to_contain_text("a person's name")
    expect(local.locator("#chat-text")).to_have_value(line)

    # Reworded, it goes through; the refused line never reached anyone.
    local.locator("#chat-text").fill("Claustrofobie: sedatie voorzien, head coil on")
    local.locator("#chat-form").get_by_role("button", name="Send").click()
    for page in (local, operator):
        expect(page.locator("#chat-list")).to_contain_text("sedatie voorzien")
        expect(page.locator("#chat-list")).not_to_contain_text("Peeters")
    expect(local.locator("#chat-text")).to_have_value("")
