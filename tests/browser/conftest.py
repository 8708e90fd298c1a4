"""A real Chromium (Debian's, never a downloaded one) driving the live server.

One browser for the browser tests (package scope: Playwright's sync API keeps an event loop
running in this thread, which must be gone before the async consumer tests run); each test gets
a fresh context (no cookies shared between tests) and a page. A failed test leaves a screenshot
in test-artifacts/.
"""

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these, the closed network makes Chromium stall on its own background requests.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TIMEOUT_MS = 10_000


_failed = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[object]:
    report = yield
    if report.when == "call":
        item.stash[_failed] = report.failed
    return report


@pytest.fixture(autouse=True)
def _vocabulary(vocabulary: None) -> None:
    """Exam families and languages: a live-server test's flush empties the seeded tables."""


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    # Playwright's sync API runs an event loop in this thread; Django would otherwise refuse the
    # database calls the tests make between two page actions. Only for these tests: the flag
    # must not leak into the rest of the suite (the deploy check rightly refuses it).
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with _own_clock():
            driver = sync_playwright().start()
        try:
            yield driver
        finally:
            driver.stop()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


def _clock_free_environment() -> dict[str, str]:
    """This process's environment less libfaketime's (`make test-clock`)."""
    return {
        name: value
        for name, value in os.environ.items()
        if name != "LD_PRELOAD" and not name.startswith("FAKETIME")
    }


@contextlib.contextmanager
def _own_clock() -> Iterator[None]:
    """Playwright's driver and the browser are the person's side, on their own clock: under
    `make test-clock` libfaketime fakes only the server's. (Faked, the driver's timers made taps
    land mid-transition, and Chromium hangs.) The environment is whole again once the driver
    runs, for the servers the tests start."""
    saved, clock_free = dict(os.environ), _clock_free_environment()
    os.environ.clear()
    os.environ.update(clock_free)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is not installed: `make test` installs Debian's chromium")
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, env=_clock_free_environment()
    )
    yield browser
    browser.close()


@pytest.fixture
def new_context(
    browser: Browser, request: pytest.FixtureRequest
) -> Iterator[Callable[..., BrowserContext]]:
    """Open a fresh browser context (its own cookies: a separate person); all are closed at the
    end, each leaving a screenshot of its pages if the test failed."""
    contexts: list[BrowserContext] = []

    def open_context(*, live_sockets: bool = False, **options: object) -> BrowserContext:
        context = browser.new_context(locale="en-GB", **options)  # type: ignore[arg-type]
        context.set_default_timeout(TIMEOUT_MS)
        if not live_sockets:
            # The live server speaks HTTP only: answer the notification socket in the browser
            # instead of letting notifications.js knock on the server again and again. Tests
            # against a real Daphne (live_sockets=True) keep the real websockets.
            context.route_web_socket(re.compile(r"/ws/"), lambda socket: None)
        contexts.append(context)
        return context

    yield open_context
    failed = request.node.stash.get(_failed, False)
    name = re.sub(r"[^\w.-]+", "_", request.node.nodeid.split("::")[-1])
    for c, context in enumerate(contexts):
        if failed:
            ARTIFACTS.mkdir(exist_ok=True)
            for p, page in enumerate(context.pages):
                page.screenshot(path=ARTIFACTS / f"{name}-{c}-{p}.png", full_page=True)
        context.close()


@pytest.fixture
def page(new_context: Callable[..., BrowserContext]) -> Page:
    return new_context().new_page()
