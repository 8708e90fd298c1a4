"""Every page of every role in real Chromium, in French (browser locale fr-BE), 320 CSS
pixels wide: no WCAG 2.1 A/AA violation that axe-core finds, and no breach of the Content
Security Policy on the way (the same crawl as test_csp.py's English one: tests/browser/crawl.py).
"""

from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.browser.crawl import LANGUAGES, crawl, reports, server
from tests.live_daphne import LiveDaphne

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
__all__ = ["server"]  # the crawl's live Daphne, a fixture here


def test_every_page_of_every_role_in_french_is_accessible(
    server: tuple[LiveDaphne, Path], browser: Browser
) -> None:
    daphne, log = server
    seen = crawl(daphne, browser, LANGUAGES["fr"], every_person=False)
    print(f"crawl fr: {len(seen.opened)} pages, {seen.timings}")
    seen.check()
    assert reports(log) == []
