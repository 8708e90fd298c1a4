"""The pages come in the browser's language: with Chromium set to Dutch (nl-BE) or French
(fr-BE), the sign-in page, the dashboard, a posting, a booking and a cockpit on the demo say
`<html lang>` right, show none of the UI's own English strings, and write dates as that
language does (its month and day names, the 24-hour clock).

The English strings are not a hand-kept list: they are the catalogue's own (every msgid of two
words or more whose translation differs from it, read with polib from
locale/<lang>/LC_MESSAGES/*.po). A failure names each English string found and the files that
hold it, so whoever owns that file knows what to translate."""

import io
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from html import unescape
from pathlib import Path
from zoneinfo import ZoneInfo

import polib
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django.urls import reverse
from django.utils import formats, translation
from playwright.sync_api import Browser, BrowserContext, Page

from accounts.models import User
from cockpit.models import CockpitSession, CockpitStatus
from marketplace.models import Membership, Role, SessionPosting
from scheduling.models import Booking
from tests.browser.crawl import signed_in_session

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LOCALE = Path(settings.LOCALE_PATHS[0])
BROWSER_LOCALES = {"nl": "nl-BE", "fr": "fr-BE"}
MANAGER = "manager@sainte-claire.demo"
TECHNOLOGIST = "tiago.ferreira@atlantico.demo"  # the operator of the demo's live cockpit
PLACEHOLDER = re.compile(r"%\(\w+\)[sdif]|%[sdif]|\{\w*\}|<[^>]+>")

# English dates: month and day names (capitalised, as English writes them: Dutch and French
# write theirs in lower case), and the 12-hour clock.
ENGLISH_DATES = re.compile(
    r"\b(January|February|March|April|May|June|July|August|September|October|November|December"
    r"|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
    r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|Mon|Tue|Wed|Thu|Fri|Sat|Sun)\b"
    r"|\b\d{1,2}(:\d\d)?\s?(a\.m\.|p\.m\.|AM|PM|am|pm)\b"
)


@dataclass(frozen=True)
class English:
    text: str
    where: tuple[str, ...]  # the files that hold it (the catalogue's `#:` lines)


def english_strings(language: str) -> list[English]:
    """The UI's own English strings for `language`: each msgid of 2+ words whose translation
    differs from it (an untranslated one counts: English is what the page would show); one
    with placeholders or markup gives each literal stretch of 3+ words between them."""
    found: dict[str, set[str]] = {}
    for domain in ("django", "djangojs"):
        path = LOCALE / language / "LC_MESSAGES" / f"{domain}.po"
        if not path.exists():
            continue
        for entry in polib.pofile(str(path)):
            if entry.obsolete or entry.msgstr.strip() == entry.msgid.strip():
                continue
            files = {where for where, _line in entry.occurrences}
            pieces = [unescape(p).strip(" .,:;") for p in PLACEHOLDER.split(entry.msgid)]
            whole = len(pieces) == 1
            for piece in pieces:
                piece = " ".join(piece.split())
                if len(piece.split()) >= (2 if whole else 3):
                    found.setdefault(piece, set()).update(files)
    return [English(text, tuple(sorted(files))) for text, files in sorted(found.items())]


def shown(text: str, english: English) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(english.text)}(?![\w-])", text) is not None


@dataclass
class Demo:
    sessions: dict[str, str]
    pages: dict[str, tuple[str | None, str]]  # name: (who, path)
    months: dict[str, set[int]]  # page: the months of the dates it must show


def _demo() -> Demo:
    call_command("load_demo", stdout=io.StringIO())
    manager = User.objects.get(email=MANAGER)
    technologist = User.objects.get(email=TECHNOLOGIST)
    hospital = Membership.objects.get(user=manager, role=Role.MANAGER).hospital
    postings = SessionPosting.objects.filter(hospital=hospital, status="open")
    posting = postings.order_by("starts_at").first()
    booking = Booking.objects.filter(technologist=technologist).order_by("-starts_at").first()
    cockpit = (
        CockpitSession.objects.filter(booking__technologist=technologist)
        .exclude(status=CockpitStatus.ENDED)
        .order_by("-pk")
        .first()
    )
    assert posting is not None
    assert booking is not None
    assert cockpit is not None
    months = {}
    for name, moment in (("posting", posting.starts_at), ("booking", booking.starts_at)):
        months[name] = {moment.astimezone(ZoneInfo(z)).month for z in ("UTC", "Europe/Brussels")}
    return Demo(
        sessions={
            "manager": signed_in_session(manager),
            "technologist": signed_in_session(technologist),
        },
        pages={
            "sign-in": (None, reverse("account_login")),
            "dashboard": ("technologist", reverse("home")),
            "posting": ("manager", reverse("posting_detail", args=[posting.pk])),
            "booking": ("technologist", reverse("booking_detail", args=[booking.pk])),
            "cockpit": ("technologist", reverse("cockpit_console", args=[cockpit.pk])),
        },
        months=months,
    )


@pytest.fixture
def demo(transactional_db: None) -> Demo:
    # The demo's services push notices on commit (async_to_sync): not in Playwright's thread.
    with ThreadPoolExecutor(max_workers=1) as worker:
        made = worker.submit(_demo).result()
        worker.submit(connections.close_all).result()
    return made


@pytest.fixture
def browse(browser: Browser, live_server) -> Iterator[Callable[[str, str | None], Page]]:
    contexts: list[BrowserContext] = []

    def open_page(language: str, session: str | None) -> Page:
        context = browser.new_context(locale=BROWSER_LOCALES[language], timezone_id="UTC")
        context.set_default_timeout(10_000)
        context.route_web_socket("**/ws/**", lambda socket: None)
        if session is not None:
            context.add_cookies(
                [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
            )
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


# Where a text is shown: the innermost element whose visible text holds it, as a short path
# ("header" when it is the header's, the site's navigation: base.html).
LOCATE = """
(needle) => {
  const norm = (el) => (el.innerText || '').replace(/\\s+/g, ' ');
  let el = document.body;
  for (;;) {
    const next = [...el.children].find(child => norm(child).includes(needle));
    if (!next) break;
    el = next;
  }
  const path = [];
  for (let n = el; n && n !== document.body; n = n.parentElement) {
    path.unshift(n.tagName.toLowerCase() + (n.id ? '#' + n.id : '')
      + (n.classList.length ? '.' + [...n.classList].join('.') : ''));
  }
  const short = path.length > 4 ? [path[0], '…', ...path.slice(-2)] : path;
  return short.join(' > ') || 'body';
}
"""


def month_names(language: str, months: set[int]) -> set[str]:
    """The language's own names of `months`, written out or abbreviated (as "D j M" writes them)."""
    with translation.override(language):
        return {
            formats.date_format(datetime(2026, m, 1), spelling).lower()
            for m in months
            for spelling in ("F", "M")
        }


def own_words(language: str) -> set[str]:
    """Words that are the language's own although English writes them too: its month and day
    names as Django writes them (Dutch abbreviates December "dec" as English does) and the words
    of its translations ("Mon compte" in French)."""
    with translation.override(language):
        dates = {
            formats.date_format(datetime(2026, month, day), spelling)
            for month in range(1, 13)
            for day in range(1, 8)
            for spelling in ("F", "M", "b", "D", "l")
        }
    words = set()
    for path in (Path(settings.LOCALE_PATHS[0]) / language / "LC_MESSAGES").glob("*.po"):
        for entry in polib.pofile(str(path)):
            words.update(re.findall(r"\w+", entry.msgstr))
    return {word.strip(".") for word in dates} | words


@pytest.mark.parametrize("language", list(BROWSER_LOCALES))
def test_the_pages_come_in_the_browsers_language(
    demo: Demo, browse: Callable[[str, str | None], Page], live_server, language: str
) -> None:
    strings = english_strings(language)
    ours = own_words(language)
    assert len(strings) > 20, "the catalogue is nearly empty: run `make messages`"
    problems: list[str] = []
    for name, (who, path) in demo.pages.items():
        page = browse(language, demo.sessions[who] if who else None)
        response = page.goto(live_server.url + path, wait_until="load")
        assert response is not None, f"{name}: {path}"
        assert response.status == 200, f"{name}: {path}"
        lang = page.locator("html").get_attribute("lang")
        if lang != language:
            problems.append(f"{name} ({path}): <html lang={lang!r}>")
        # What a hospital typed (a posting's notes) is in the language they wrote it in.
        page.evaluate("() => document.querySelectorAll('.notes').forEach(e => e.remove())")
        text = " ".join(page.locator("body").inner_text().split())
        for english in strings:
            if shown(text, english):
                at = page.evaluate(LOCATE, english.text)
                problems.append(
                    f"{name} ({path}): English {english.text!r} in {at} "
                    f"(the catalogue has it from {', '.join(english.where)})"
                )
        for match in sorted({m.group(0) for m in ENGLISH_DATES.finditer(text)} - ours):
            at = page.evaluate(LOCATE, match)
            problems.append(f"{name} ({path}): an English date word {match!r} in {at}")
        if name in demo.months:
            expected = month_names(language, demo.months[name])
            if not any(month in text.lower() for month in expected):
                problems.append(f"{name} ({path}): no date with the month {expected} in it")
        page.close()
    assert problems == [], "\n".join(problems)
