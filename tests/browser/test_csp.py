"""Every page of every role in real Chromium, in English: no breach of the Content Security
Policy, and no WCAG 2.1 A/AA violation that axe-core finds (the crawl: tests/browser/crawl.py;
Dutch and French: test_accessibility_nl.py, test_accessibility_fr.py, one file each so that the
test workers share them out).

A violation of the policy is seen three ways, and any one fails the test: the
`securitypolicyviolation` event, Chromium's console, and the reports the browser sends to
/csp-report/. A canary violation at the start proves that each of the three would see one.
"""

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.browser.crawl import (
    COLLECT,
    LANGUAGES,
    REPORT_WAIT_S,
    Violations,
    crawl,
    reports,
    server,
    wait_for_reports,
)
from tests.live_daphne import LiveDaphne

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
__all__ = ["server"]  # the crawl's live Daphne, a fixture here


def test_every_page_of_every_role_keeps_to_the_policy(
    server: tuple[LiveDaphne, Path],
    browser: Browser,
    new_context: Callable[..., BrowserContext],
) -> None:
    daphne, log = server
    canaries: list[int] = []

    def before() -> None:
        canary(daphne, log, new_context)
        canaries.append(len(reports(log)))

    seen = crawl(daphne, browser, LANGUAGES["en"], every_person=True, before=before)
    print(f"crawl en: {len(seen.opened)} pages, {seen.timings}")
    seen.check()
    assert reports(log)[canaries[0] :] == []


def canary(daphne: LiveDaphne, log: Path, new_context: Callable[..., BrowserContext]) -> None:
    """One violation on purpose, watched as the visits are: an inline script put in the
    sign-in page. It does not run, and each of the three watchers sees it once."""
    violations = Violations()
    context = new_context(live_sockets=True)
    violations.watch(context)
    page = context.new_page()
    violations.watch_page(page)
    page.goto(daphne.url + "/accounts/login/", wait_until="load")
    page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.__ran = true";
          document.body.append(script);
        }"""
    )
    assert page.evaluate("() => window.__ran") is None, "an inline script ran"
    deadline = time.monotonic() + REPORT_WAIT_S
    while not (violations.events and violations.console) and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert [(e["page"], e["directive"], e["blocked"]) for e in violations.events] == [
        ("/accounts/login/", "script-src-elem", "inline")
    ]
    assert page.evaluate("() => window.__csp.length") == 1
    assert len(violations.console) == 1, violations.console
    (line,) = wait_for_reports(log, 1)
    assert line.startswith(
        'csp-violation document="/accounts/login/" directive="script-src-elem" '
    ), line
    assert 'blocked="inline"' in line, line
    context.close()


# --- Websockets -------------------------------------------------------------------------------

OPEN_SOCKET = """url => { try { new WebSocket(url); } catch (error) { return String(error); } }"""


def _socket_violations(page: Page, urls: list[str], blocked: int) -> list[dict[str, str]]:
    """Open a websocket to each of `urls` from `page`; the violations once `blocked` came."""
    for url in urls:
        assert page.evaluate(OPEN_SOCKET, url) is None
    page.wait_for_function("n => window.__csp.length >= n", arg=blocked)
    found: list[dict[str, str]] = page.evaluate("() => window.__csp")
    return found


def test_websockets_reach_this_site_only(
    live_server: Any, new_context: Callable[..., BrowserContext]
) -> None:
    """The policy's connect-src lets a page open sockets to its own host and port, and to no
    other host. Chromium matches the site's own ws: origin with 'self' alone (CSP 3): the
    explicit origin the middleware adds is for browsers that predate that rule."""
    base = live_server.url
    address = urlsplit(base)
    netloc = address.netloc
    # The same server under another name: another host to the browser.
    other = "127.0.0.1" if address.hostname == "localhost" else "localhost"
    ours = f"ws://{netloc}/ws/notifications/"
    elsewhere = [f"ws://{other}:{address.port}/ws/notifications/", "wss://wescan.example.org/ws/"]
    context = new_context(live_sockets=True)
    context.add_init_script(COLLECT)
    page = context.new_page()

    response = page.goto(f"{base}/accounts/login/")
    assert response is not None
    assert f"connect-src 'self' ws://{netloc};" in response.headers["content-security-policy"]
    found = _socket_violations(page, [ours, *elsewhere], blocked=2)
    assert [(v["directive"], v["blocked"]) for v in found] == [
        ("connect-src", elsewhere[0]),
        ("connect-src", elsewhere[1]),
    ]

    # 'self' alone, as Chromium reads it: the same host's ws: is allowed, another's is not.
    def self_only(route: Any) -> None:
        route.fulfill(
            status=200,
            content_type="text/html",
            body="<!doctype html><title>probe</title>",
            headers={"Content-Security-Policy": "connect-src 'self'"},
        )

    page.route(f"{base}/csp-probe/", self_only)
    page.goto(f"{base}/csp-probe/")
    found = _socket_violations(page, [ours, elsewhere[0]], blocked=1)
    assert [(v["directive"], v["blocked"]) for v in found] == [("connect-src", elsewhere[0])]
