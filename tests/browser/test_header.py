"""The header in real Chromium, for every role and in every language: one line at 1366 px, its
menus opened and closed from the keyboard, every focus stop in it visible, and on a phone one
Menu button that opens the whole navigation, with nothing wider than the screen at 320 px.

The people are the roles of the demo (technologist, senior technologist, manager of one
hospital, manager of two, local staff, platform admin who also manages a hospital) and the one
who has every menu there is (a platform admin who manages two hospitals and is a technologist
too), with the demo's hospital names."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import cast

import pytest
from django.conf import settings
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect

from accounts.models import User
from marketplace.models import Hospital, Role, Seniority
from tests.factories import (
    HospitalFactory,
    MembershipFactory,
    TechnologistProfileFactory,
    UserFactory,
    enrol_totp,
)
from tests.sessions import session_cookie

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESKTOP: ViewportSize = {"width": 1366, "height": 768}
PHONE: ViewportSize = {"width": 390, "height": 844}
NARROWEST: ViewportSize = {"width": 320, "height": 640}
LOCALES = {"en": "en-GB", "nl": "nl-BE", "fr": "fr-BE"}


@dataclass
class People:
    by_role: dict[str, User]
    hospitals: list[Hospital]


def _person(email: str, **extra: object) -> User:
    user = cast(User, UserFactory(email=email, **extra))
    enrol_totp(user)
    return user


@pytest.fixture
def people(transactional_db: None) -> People:
    claire = cast(Hospital, HospitalFactory(name="Hôpital Sainte-Claire"))
    schelde = cast(Hospital, HospitalFactory(name="Ziekenhuis Scheldeland"))
    atlantico = cast(Hospital, HospitalFactory(name="Clínica Atlântico"))
    roles: dict[str, User] = {}

    roles["technologist"] = _person("technologist@example.org")
    TechnologistProfileFactory(user=roles["technologist"], seniority=Seniority.JUNIOR)
    MembershipFactory(user=roles["technologist"], hospital=atlantico, role=Role.TECHNOLOGIST)

    roles["senior"] = _person("senior@example.org")
    TechnologistProfileFactory(user=roles["senior"], seniority=Seniority.SENIOR)
    MembershipFactory(user=roles["senior"], hospital=claire, role=Role.TECHNOLOGIST)

    roles["manager"] = _person("manager@example.org")
    MembershipFactory(user=roles["manager"], hospital=claire, role=Role.MANAGER)

    roles["manager of two"] = _person("manager2@example.org")
    MembershipFactory(user=roles["manager of two"], hospital=claire, role=Role.MANAGER)
    MembershipFactory(user=roles["manager of two"], hospital=schelde, role=Role.MANAGER)

    roles["local staff"] = _person("local@example.org")
    MembershipFactory(user=roles["local staff"], hospital=atlantico, role=Role.LOCAL_STAFF)

    roles["platform admin"] = _person("admin@example.org", is_staff=True, is_superuser=True)
    MembershipFactory(user=roles["platform admin"], hospital=schelde, role=Role.MANAGER)

    roles["everything"] = _person("all@example.org", is_staff=True, is_superuser=True)
    TechnologistProfileFactory(user=roles["everything"], seniority=Seniority.SENIOR)
    MembershipFactory(user=roles["everything"], hospital=claire, role=Role.MANAGER)
    MembershipFactory(user=roles["everything"], hospital=schelde, role=Role.MANAGER)
    return People(by_role=roles, hospitals=[claire, schelde, atlantico])


@pytest.fixture
def open_as(browser: Browser, live_server) -> Iterator[Callable[..., Page]]:
    """A page signed in as a person (None: nobody), with the browser set to a language."""
    contexts: list[BrowserContext] = []

    def open_page(user: User | None, language: str, viewport: ViewportSize) -> Page:
        context = browser.new_context(locale=LOCALES[language], viewport=viewport)
        context.set_default_timeout(10_000)
        context.route_web_socket("**/ws/**", lambda socket: None)
        if user is not None:
            key = session_cookie(user).split("=", 1)[1]
            context.add_cookies(
                [{"name": settings.SESSION_COOKIE_NAME, "value": key, "url": live_server.url}]
            )
        contexts.append(context)
        page = context.new_page()
        response = page.goto(f"{live_server.url}/")
        assert response is not None, page.url
        assert response.status == 200, page.url
        expect(page.locator("html")).to_have_attribute("lang", language)
        return page

    yield open_page
    for context in contexts:
        context.close()


# The header's rows: the top of the brand, of each top-level item and of the bell; the header's
# height; and each top-level item's text (to say which one wrapped).
ROWS = """
() => {
  const header = document.querySelector('header.topbar');
  const items = [header.querySelector('.brand'),
                 ...header.querySelectorAll('#site-nav .nav-items > li'),
                 ...header.querySelectorAll('#notif-menu > summary')];
  return {
    height: header.getBoundingClientRect().height,
    items: items.map(el => [el.textContent.trim().replace(/\\s+/g, ' ').slice(0, 40),
                            Math.round(el.getBoundingClientRect().top),
                            Math.round(el.getBoundingClientRect().bottom)]),
  };
}
"""

# The focused element: whether it can be seen (a size, not transparent, on screen) and whether
# it shows that it has the focus (an outline).
FOCUSED = """
() => {
  const el = document.activeElement;
  const box = el.getBoundingClientRect();
  const style = getComputedStyle(el);
  return {
    name: (el.getAttribute('aria-label') || el.textContent || el.tagName).trim().slice(0, 40),
    inHeader: !!el.closest('header.topbar') || el.classList.contains('skip-link'),
    visible: box.width >= 4 && box.height >= 4 && style.opacity !== '0'
             && style.visibility !== 'hidden' && box.bottom > 0 && box.right > 0
             && box.left < innerWidth,
    outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 1,
  };
}
"""


def menu_buttons(page: Page) -> list[str]:
    return page.locator("#site-nav [data-menu-button]").evaluate_all(
        "buttons => buttons.map(b => b.getAttribute('aria-controls'))"
    )


def assert_one_line(page: Page, who: str) -> None:
    rows = page.evaluate(ROWS)
    tops = {top for _text, top, _bottom in rows["items"]}
    # Items of different heights (the bell, a button) are centred on the line: a few pixels.
    assert max(tops) - min(tops) <= 8, f"{who}: the header wraps: {rows['items']}"
    tallest = max(bottom - top for _text, top, bottom in rows["items"])
    assert rows["height"] < tallest + 40, f"{who}: the header is {rows['height']} px high"


def assert_menus_work_with_the_keyboard(page: Page, who: str) -> None:
    for list_id in menu_buttons(page):
        button = page.locator(f'[aria-controls="{list_id}"]')
        listed = page.locator(f"#{list_id}")
        expect(listed).to_be_hidden()
        button.focus()
        page.keyboard.press("Enter")
        expect(button).to_have_attribute("aria-expanded", "true")
        expect(listed).to_be_visible()
        links = listed.get_by_role("link")
        assert links.count() >= 1, f"{who}: the menu {list_id} lists nothing"
        for n in range(links.count()):
            expect(links.nth(n)).to_be_visible()
        # Tab goes into the menu, Escape closes it and gives the focus back to its button.
        page.keyboard.press("Tab")
        assert listed.evaluate("(list) => list.contains(document.activeElement)"), who
        page.keyboard.press("Escape")
        expect(listed).to_be_hidden()
        expect(button).to_be_focused()
        expect(button).to_have_attribute("aria-expanded", "false")
        # Space opens it too; pressing the button again closes it.
        page.keyboard.press(" ")
        expect(listed).to_be_visible()
        page.keyboard.press("Enter")
        expect(listed).to_be_hidden()


def assert_every_header_focus_stop_is_visible(page: Page, who: str) -> None:
    page.reload()  # the Tab order starts at the top again
    seen = []
    for _ in range(40):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if not focused["inHeader"]:
            break
        seen.append(focused["name"])
        assert focused["visible"], f"{who}: an invisible focus stop in the header: {focused}"
        assert focused["outline"], f"{who}: no visible focus on {focused['name']!r}"
    assert seen, who
    assert seen[0] == page.locator(".skip-link").inner_text(), seen


ROLES = [
    "technologist",
    "senior",
    "manager",
    "manager of two",
    "local staff",
    "platform admin",
    "everything",
]


@pytest.mark.parametrize("language", list(LOCALES))
def test_the_header_holds_one_line_at_1366_px_for_every_role(
    people: People, open_as: Callable[..., Page], language: str
) -> None:
    for role in [None, *ROLES]:
        who = f"{role or 'anonymous'} ({language})"
        page = open_as(people.by_role[role] if role else None, language, DESKTOP)
        # The phone's Menu button is no focus stop here (the old checkbox was one, unseen).
        expect(page.locator("[data-nav-button]")).to_be_hidden()
        assert_one_line(page, who)
        assert_menus_work_with_the_keyboard(page, who)
        assert_every_header_focus_stop_is_visible(page, who)
        page.close()


def test_the_skip_link_shows_when_focused_and_leads_to_the_content(
    people: People, open_as: Callable[..., Page]
) -> None:
    page = open_as(people.by_role["manager"], "en", DESKTOP)
    skip = page.locator(".skip-link")
    assert skip.evaluate("(a) => a.getBoundingClientRect().bottom <= 0"), "shown unfocused"
    page.keyboard.press("Tab")
    expect(skip).to_be_focused()
    assert skip.evaluate(
        "(a) => { const b = a.getBoundingClientRect(); return b.top >= 0 && b.height > 10; }"
    ), "the focused skip link is out of sight"
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()


def test_the_open_notifications_menu_reads_at_4_5_to_1(
    people: People, open_as: Callable[..., Page]
) -> None:
    page = open_as(people.by_role["manager"], "en", DESKTOP)
    summary = page.locator("#notif-menu > summary")
    summary.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#notif-menu")).to_have_attribute("open", "")
    ratio = summary.evaluate(CONTRAST)
    assert ratio >= 4.5, ratio
    page.keyboard.press("Escape")
    expect(page.locator("#notif-menu")).not_to_have_attribute("open", "")
    expect(summary).to_be_focused()


# The contrast of an element's text with its background (white over the header's colour when
# the element's own is transparent, as the header paints it).
CONTRAST = """
(el) => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(v => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); })
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const paint = (node) => {
    let layers = [];
    for (let n = node; n; n = n.parentElement) {
      const c = rgb(getComputedStyle(n).backgroundColor);
      if (c.length >= 3 && (c.length === 3 || c[3] > 0)) layers.push(c);
      if (c.length === 3 || (c.length === 4 && c[3] === 1)) break;
    }
    let [r, g, b] = [255, 255, 255];
    for (const c of layers.reverse()) {
      const a = c.length === 4 ? c[3] : 1;
      [r, g, b] = [c[0] * a + r * (1 - a), c[1] * a + g * (1 - a), c[2] * a + b * (1 - a)];
    }
    return [r, g, b];
  };
  const fg = lum(rgb(getComputedStyle(el).color));
  const bg = lum(paint(el));
  return (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
}
"""


@pytest.mark.parametrize("language", list(LOCALES))
def test_on_a_phone_one_button_opens_the_whole_navigation(
    people: People, open_as: Callable[..., Page], language: str
) -> None:
    for role in [None, *ROLES]:
        who = f"{role or 'anonymous'} ({language})"
        for viewport in (PHONE, NARROWEST):
            page = open_as(people.by_role[role] if role else None, language, viewport)
            nav = page.locator("#site-nav")
            button = page.locator("[data-nav-button]")
            expect(nav).to_be_hidden()
            button.focus()
            page.keyboard.press("Enter")
            expect(button).to_have_attribute("aria-expanded", "true")
            expect(nav).to_be_visible()
            items = nav.locator(".nav-items > li")
            for n in range(items.count()):
                expect(items.nth(n)).to_be_visible()
            # Every menu opens in place, and nothing is wider than the screen, all of them open.
            for list_id in menu_buttons(page):
                page.locator(f'[aria-controls="{list_id}"]').click()
                expect(page.locator(f"#{list_id}").get_by_role("link").first).to_be_visible()
                width = page.evaluate("() => document.documentElement.scrollWidth")
                assert width <= viewport["width"], f"{who}: {width} px wide with {list_id} open"
            page.keyboard.press("Escape")
            page.close()
