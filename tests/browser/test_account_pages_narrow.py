"""The account pages (profile, privacy, tokens, sessions, second factor) at 320 CSS pixels, in
French, the longest of the three: nothing scrolls sideways (WCAG 2.1 reflow)."""

from collections.abc import Callable
from urllib.parse import urlparse

import pytest
from playwright.sync_api import BrowserContext, Page

from accounts import tokens
from tests.conftest import World
from tests.sessions import password_only_client

pytestmark = pytest.mark.browser

NARROW = {"width": 320, "height": 640}
PAGES = [
    "/profile/",
    "/account/privacy/",
    "/account/tokens/",
    "/account/sessions/",
    "/accounts/2fa/",
]


def assert_fits(page: Page) -> None:
    page.wait_for_load_state("load")
    content, screen = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert screen == NARROW["width"]
    assert content <= screen, f"{page.url} is {content}px wide on a {screen}px screen"


def test_the_account_pages_fit_320_pixels_in_french(
    live_server, world: World, new_context: Callable[..., BrowserContext]
) -> None:  # type: ignore[no-untyped-def]
    person = world.technologist
    person.language = "fr"
    person.save()
    tokens.access_token_create(
        user=person,
        name="Script-de-rapports-mensuels-pour-la-direction-des-soins",
        scope="read",
        expires_in_days=30,
        with_second_factor=False,
    )
    session = str(password_only_client(person).cookies["sessionid"].value)
    context = new_context(viewport=NARROW, is_mobile=True)
    context.add_cookies(
        [
            {
                "name": "sessionid",
                "value": session,
                "domain": urlparse(live_server.url).hostname,
                "path": "/",
            }
        ]
    )
    page = context.new_page()
    for path in PAGES:
        page.goto(f"{live_server.url}{path}")
        assert page.locator("html").get_attribute("lang") == "fr"
        assert_fits(page)
