"""The cockpit for screen-reader and keyboard users, and in French, in real Chromium against a
real Daphne with a scanner agent: local staff reach STOP within three Tab stops from the top of
the page; the console's state is announced once per change (its live region is not rewritten
while the state holds, whatever the scanner repeats every second), an alarm once, a STOP once;
in a Belgian French browser the console's words are French and every time is the scanning
site's, 24-hour, named by its zone."""

import asyncio
import re
import time
from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from cockpit.simulator import ALARM_MESSAGES, _Alarm
from tests.browser.test_cockpit import (
    LIVE_TIMEOUT_MS,
    ScannerThread,
    _cockpit_and_token,
    _off_the_loop,
    _person,
    server,  # noqa: F401 (the fixture)
)
from tests.conftest import World
from tests.live_daphne import LiveDaphne
from tests.sessions import session_cookie

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Each live region's text, recorded after every change of it (not its attributes).
RECORD = """() => {
  window.__spoken = {};
  for (const id of ["console-status", "console-message", "cockpit-alert", "session-status"]) {
    const node = document.getElementById(id);
    window.__spoken[id] = [];
    new MutationObserver(() => window.__spoken[id].push(node.textContent))
      .observe(node, { childList: true, characterData: true, subtree: true });
  }
}"""


def _spoken(page: Page, region: str) -> list[str]:
    texts: list[str] = page.evaluate("(id) => window.__spoken[id]", region)
    # Several mutations of one write (a text node replaced) leave one text: count the changes.
    changes = [text for i, text in enumerate(texts) if i == 0 or texts[i - 1] != text]
    return changes


def _tab_stops_to_stop(page: Page, most: int) -> int | None:
    """How many Tab presses from the top of the page reach STOP (None: not within `most`)."""
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); }")
    page.evaluate("() => window.scrollTo(0, 0)")
    for presses in range(1, most + 1):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement && document.activeElement.id") == (
            "stop-button"
        ):
            return presses
    return None


def test_stop_is_in_reach_and_status_alarms_and_stop_are_announced_once(
    world: World,
    server: LiveDaphne,  # noqa: F811 (the fixture)
    new_context: Callable[..., BrowserContext],
) -> None:
    cockpit, token = _cockpit_and_token(world)
    console_url = f"{server.url}/cockpit/{cockpit.pk}/"
    with ScannerThread(server, token) as scanner:
        # Desktop width, where STOP was the 11th Tab stop.
        local = _person(
            new_context, server, world.local_staff.email, viewport={"width": 1366, "height": 900}
        )
        local.goto(console_url)
        expect(local.locator("#conn-state")).to_have_text("Live", timeout=LIVE_TIMEOUT_MS)
        expect(local.locator("#console-status")).to_have_text("Idle", timeout=LIVE_TIMEOUT_MS)

        # STOP comes right after the skip link, before the header, and stays on screen.
        assert _tab_stops_to_stop(local, 3) is not None, "STOP is not within 3 Tab stops"
        assert local.locator("#stop-button").count() == 1
        local.mouse.wheel(0, 3000)
        expect(local.locator("#stop-button")).to_be_in_viewport()
        local.evaluate("() => window.scrollTo(0, 0)")

        # Local staff take control (nobody held it), confirm the checklist and start.
        local.get_by_role("button", name="Ask for control").click()
        expect(local.locator("#control-holder")).to_contain_text("— you")
        checklist = local.locator("#checklist-form")
        checklist.get_by_label("The patient was told that the exam is run remotely").check()
        checklist.get_by_role("button", name="Confirm the checklist").click()
        expect(checklist).to_be_hidden()
        local.evaluate(RECORD)
        local.locator("#console-controls").get_by_role("button", name="Start").click()
        expect(local.locator("#console-status")).to_have_text("Running", timeout=LIVE_TIMEOUT_MS)

        # Over 3 s of an unchanged state (a delta every tick of the agent): nothing rewritten.
        message = local.locator("#console-message").text_content()
        time.sleep(3.5)
        assert _spoken(local, "console-status") == ["Running"]
        assert local.locator("#console-message").text_content() == message
        assert len(_spoken(local, "console-message")) <= 1  # its one change, at the start
        assert _spoken(local, "cockpit-alert") == []

        # A motion alarm at the scanner: the alert region speaks it once, though every state
        # the scanner sends after it still carries it.
        console = scanner.agent.console
        assert console is not None
        console.alarms.append(_Alarm("motion", ALARM_MESSAGES["motion"]))
        expect(local.locator("#alarms")).to_contain_text("Motion detected", timeout=LIVE_TIMEOUT_MS)
        time.sleep(2)
        assert _spoken(local, "cockpit-alert") == [
            "Alarm: Motion detected: images may be degraded; consider a rescan."
        ]

        # STOP: the state region says "Stopped" once; the alert region says who stopped it,
        # once. The scanner here reads the STOP a moment late, so that states it sent before
        # come between the STOP and its "stopped", as on a busy machine (where the page once
        # also announced "The scan is stopped.").
        agent = scanner.agent
        apply_stop = agent._stop

        def stop_late(seq: object, payload: object) -> None:
            asyncio.get_running_loop().call_later(0.5, apply_stop, seq, payload)

        agent._stop = stop_late  # type: ignore[method-assign]
        local.get_by_role("button", name="STOP").click()
        expect(local.locator("#console-status")).to_have_text("Stopped", timeout=LIVE_TIMEOUT_MS)
        time.sleep(2)
        assert _spoken(local, "console-status") == ["Running", "Stopped"]
        name = world.local_staff.display_name
        assert _spoken(local, "cockpit-alert") == [
            "Alarm: Motion detected: images may be degraded; consider a rescan.",
            f"STOP by {name} (local staff): the scan is stopped.",
        ]
    assert scanner.error is None, scanner.error


def test_a_french_browser_reads_the_cockpit_in_french_with_the_sites_24_hour_times(
    world: World,
    server: LiveDaphne,  # noqa: F811 (the fixture)
    browser: Browser,
) -> None:
    cockpit, _token = _cockpit_and_token(world)
    cookie = _off_the_loop(lambda: session_cookie(world.local_staff)).split("=", 1)
    context = browser.new_context(locale="fr-BE", timezone_id="America/New_York")
    try:
        context.add_cookies([{"name": cookie[0], "value": cookie[1], "url": server.url}])
        page = context.new_page()
        page.goto(f"{server.url}/cockpit/{cockpit.pk}/")
        expect(page.locator("html")).to_have_attribute("lang", "fr")
        expect(page.locator("#conn-state")).to_have_text("En direct", timeout=LIVE_TIMEOUT_MS)
        # No scanner yet: the console's state, in French.
        expect(page.locator("#console-status")).to_have_text("En attente du scanner")
        expect(page.get_by_role("button", name="STOP")).to_be_enabled()
        expect(page.locator("#checklist-title")).to_have_text("Liste de contrôle avant l'examen")
        expect(page.locator("#checklist-state")).to_contain_text("Pas encore confirmée")

        page.get_by_role("button", name="Demander la main").click()
        name = re.escape(world.local_staff.display_name)
        # The activity log: the site's time, named in French (Bruxelles), 24-hour; not the
        # browser's (New York) nor a 12-hour clock.
        expect(page.locator("#log li").first).to_have_text(
            re.compile(rf"^\d\d:\d\d Bruxelles {name} \(personnel local\) a pris la main"),
            timeout=LIVE_TIMEOUT_MS,
        )
        page.get_by_label("Message").fill("Bonjour")
        page.get_by_role("button", name="Envoyer").click()
        chat_time = page.locator("#chat-list .chat-time").first
        expect(chat_time).to_have_text(re.compile(r"^\s*\d\d:\d\d Bruxelles\s*$"))
        shown = (chat_time.text_content() or "").split()[0]
        brussels = page.evaluate(
            """() => new Intl.DateTimeFormat("fr", {timeZone: "Europe/Brussels",
                 hour: "2-digit", minute: "2-digit", hourCycle: "h23"}).format(new Date())"""
        )
        assert shown[:2] == brussels[:2], (shown, brussels)
        assert not re.search(r"\b(AM|PM)\b", page.locator("#cockpit").inner_text())
    finally:
        context.close()


# Text against its background, from the computed styles (the nearest opaque background up the
# tree); large text (24px, or 18.66px bold) needs 3:1, the rest 4.5:1 (WCAG 2.1 1.4.3).
CONTRAST = """() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (node) => {
    for (let n = node; n; n = n.parentElement) {
      const c = rgb(getComputedStyle(n).backgroundColor);
      if (c.length >= 3 && (c.length < 4 || c[3] === 1)) { return c; }
    }
    return [255, 255, 255];
  };
  const failures = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const text = walker.currentNode;
    const el = text.parentElement;
    if (!text.textContent.trim() || !el.getClientRects().length) { continue; }
    const style = getComputedStyle(el);
    if (style.visibility === "hidden") { continue; }
    if (el.closest("[hidden], .visually-hidden, noscript")) { continue; }
    const fg = rgb(style.color), bg = background(el);
    const [a, b] = [lum(fg) + 0.05, lum(bg) + 0.05];
    const ratio = Math.max(a, b) / Math.min(a, b);
    const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
    const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < needed && !el.closest("button:disabled")) {
      const what = text.textContent.trim().slice(0, 40);
      failures.push(`${what} ${ratio.toFixed(2)} (${style.color} on ${bg})`);
    }
  }
  return failures;
}"""


def _fits_320(page: Page) -> None:
    page.wait_for_load_state("load")
    content, screen = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert screen == 320
    assert content <= screen, f"{page.url} is {content}px wide on a 320px screen"


@pytest.mark.parametrize("locale", ["en-GB", "fr-BE"])
def test_cockpit_pages_fit_320px_and_their_text_contrasts(
    world: World,
    server: LiveDaphne,  # noqa: F811 (the fixture)
    browser: Browser,
    locale: str,
) -> None:
    cockpit, _token = _cockpit_and_token(world)
    pages = {
        world.local_staff: [f"/cockpit/{cockpit.pk}/", "/cockpit/", "/assist/", "/assist/history/"],
        world.technologist: [f"/cockpit/{cockpit.pk}/", "/me/on-call/"],
    }
    for user, paths in pages.items():
        cookie = _off_the_loop(lambda user=user: session_cookie(user)).split("=", 1)
        context = browser.new_context(locale=locale, viewport={"width": 320, "height": 640})
        try:
            context.add_cookies([{"name": cookie[0], "value": cookie[1], "url": server.url}])
            page = context.new_page()
            for path in paths:
                page.goto(server.url + path)
                if path.startswith("/cockpit/") and path != "/cockpit/":
                    expect(page.locator("#conn-state")).to_have_attribute(
                        "class", re.compile("live"), timeout=LIVE_TIMEOUT_MS
                    )
                _fits_320(page)
                assert page.evaluate(CONTRAST) == [], path
        finally:
            context.close()
