"""Senior assistance in real Chromium against a real Daphne process: a junior operator in a
cockpit asks for help; an on-call senior on some other page gets the banner live, and a second
one who opens WeScan only afterwards finds it too; the first accepts and lands in the cockpit as
assistant, appears in the junior's presence list and chats; the other senior's banner turns to
"Taken" live."""

import json
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone
from playwright.sync_api import BrowserContext, Page, WebSocket, expect

from accounts.models import User
from cockpit.models import AssistRequest, AssistStatus, CockpitSession
from marketplace.models import ExamFamily, Role, Seniority
from scheduling.services.on_call import on_call_create
from tests.browser.test_cockpit import LIVE_TIMEOUT_MS, _off_the_loop
from tests.browser.test_hospital_pages import sign_in
from tests.cockpit.support import open_cockpit
from tests.conftest import World
from tests.factories import PASSWORD, MembershipFactory, UserFactory, enrol_totp
from tests.factories_supply import LicensedTechnologistFactory
from tests.live_daphne import LiveDaphne, live_daphne

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NOTE = "Motion on DWI, need help with the cardiac planes"


@pytest.fixture
def server() -> Iterator[LiveDaphne]:
    # The forked server must not inherit this process's open database connection.
    connections.close_all()
    with live_daphne() as (daphne,):
        yield daphne


def _on_call_senior(world: World, first_name: str, last_name: str) -> User:
    """A verified senior of the other hospital, French and Dutch, competent in neuro on every
    vendor, on call for neuro now."""
    senior = UserFactory(
        email=f"{first_name.lower()}.{last_name.lower()}@example.org",
        first_name=first_name,
        last_name=last_name,
    )
    MembershipFactory(user=senior, hospital=world.other_hospital, role=Role.TECHNOLOGIST)
    LicensedTechnologistFactory(
        user=senior, seniority=Seniority.SENIOR, exam_families=["neuro", "msk"]
    )
    now = timezone.now()
    on_call_create(
        actor=senior,
        technologist=senior,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=4),
        exam_families=["neuro"],
    )
    enrol_totp(senior)  # a cockpit needs a second factor (they join one to assist)
    return senior


def _junior_cockpit_and_seniors(world: World) -> tuple[CockpitSession, User, User]:
    """The junior operator's neuro cockpit (opening now, join approved) and two on-call
    seniors."""

    def make() -> tuple[CockpitSession, User, User]:
        LicensedTechnologistFactory(
            user=world.technologist,
            seniority=Seniority.JUNIOR,
            exam_families=["neuro"],
            languages=["fr"],
        )
        cockpit = open_cockpit(
            world, required_exam_families=list(ExamFamily.objects.filter(code="neuro"))
        )
        return (
            cockpit,
            _on_call_senior(world, "Anna", "Claes"),
            _on_call_senior(world, "Bruno", "Peeters"),
        )

    return _off_the_loop(make)


def _signed_in_with_live_notices(
    new_context: Callable[..., BrowserContext], server: LiveDaphne, user: User, path: str
) -> Page:
    """`user` signed in, on `path`, once that page's notification socket has said hello: a
    request raised from then on reaches it."""
    page = new_context(live_sockets=True).new_page()
    sockets: list[WebSocket] = []
    greeted: list[WebSocket] = []  # the sockets that said hello

    def watch(socket: WebSocket) -> None:
        if not socket.url.endswith("/ws/notifications/"):
            return
        sockets.append(socket)

        def received(payload: str | bytes) -> None:
            if json.loads(payload).get("type") == "hello":
                greeted.append(socket)

        socket.on("framereceived", received)

    page.on("websocket", watch)
    sign_in(page, server.url, user.email, PASSWORD)
    page.wait_for_load_state("load")
    before = len(sockets)  # the sign-in's landing page has its own socket, closed on leaving
    page.goto(f"{server.url}{path}")
    deadline = time.monotonic() + LIVE_TIMEOUT_MS / 1000
    while not any(s in greeted and not s.is_closed() for s in sockets[before:]):
        assert time.monotonic() < deadline, f"{path}: the notification socket never said hello"
        page.wait_for_timeout(50)
    # A marker that a reload or a navigation would wipe: the banner must come without either.
    page.evaluate("window.stillTheSamePage = true")
    return page


def test_a_junior_asks_a_senior_accepts_and_joins_the_cockpit(
    world: World, server: LiveDaphne, new_context: Callable[..., BrowserContext]
) -> None:
    cockpit, anna, bruno = _junior_cockpit_and_seniors(world)
    console_url = f"{server.url}/cockpit/{cockpit.pk}/"

    anna_page = _signed_in_with_live_notices(new_context, server, anna, "/me/bookings/")
    junior = new_context(live_sockets=True).new_page()
    sign_in(junior, server.url, world.technologist.email, PASSWORD)
    junior.goto(console_url)
    expect(junior.locator("#conn-state")).to_have_text("Live", timeout=LIVE_TIMEOUT_MS)
    expect(junior.locator("#assist-state")).to_have_text("No request for help.")

    # The junior asks: family, a note about the work, send.
    junior.get_by_role("button", name="Ask for help").click()
    form = junior.locator("#assist-form")
    expect(form).to_be_visible()
    form.locator("select[name=exam_family]").select_option("neuro")
    form.locator("textarea[name=note]").fill(NOTE)
    form.get_by_role("button", name="Send request").click()
    expect(junior.locator("#assist-state")).to_contain_text(
        "Waiting for an on-call senior — 2 asked", timeout=LIVE_TIMEOUT_MS
    )
    expect(junior.locator("#assist-ask")).to_be_hidden()
    expect(junior.locator("#assist-cancel")).to_be_visible()

    # Anna gets the banner live, on the page she was on; Bruno, who opens WeScan only now,
    # finds it waiting for him too.
    bruno_page = _signed_in_with_live_notices(new_context, server, bruno, "/")
    assist = AssistRequest.objects.get(cockpit=cockpit)
    for page in (anna_page, bruno_page):
        banner = page.locator(f'#live-notices .assist-banner[data-assist-id="{assist.pk}"]')
        expect(banner).to_be_visible(timeout=LIVE_TIMEOUT_MS)
        expect(banner).to_have_attribute("role", "alert")
        expect(banner).to_contain_text("Help wanted now: Neuro")
        expect(banner).to_contain_text(NOTE)
        expect(banner.locator("button.assist-accept")).to_have_text("Accept")
        # Sound is off until they turn it on.
        expect(banner.locator("button.assist-sound")).to_have_attribute("aria-pressed", "false")
        assert page.evaluate("window.stillTheSamePage === true"), "the page was reloaded"
    expect(anna_page).to_have_url(f"{server.url}/me/bookings/")

    # Anna accepts first: she lands in the cockpit as assistant.
    anna_page.locator(f'.assist-banner[data-assist-id="{assist.pk}"] button.assist-accept').click()
    expect(anna_page).to_have_url(f"{console_url}?role=assistant")
    expect(anna_page.locator("#conn-state")).to_have_text("Live", timeout=LIVE_TIMEOUT_MS)
    expect(anna_page.locator("#assist-finish")).to_be_visible(timeout=LIVE_TIMEOUT_MS)

    # The junior sees who is helping, and Anna among the people in the cockpit.
    expect(junior.locator("#assist-state")).to_contain_text(
        "Anna Claes is helping", timeout=LIVE_TIMEOUT_MS
    )
    expect(junior.locator("#assist-cancel")).to_be_hidden()
    expect(junior.locator("#presence")).to_contain_text(
        "Anna Claes (assistant)", timeout=LIVE_TIMEOUT_MS
    )

    # Bruno's banner says it is taken, and offers nothing to accept any more.
    bruno_banner = bruno_page.locator(f'.assist-banner[data-assist-id="{assist.pk}"]')
    expect(bruno_banner).to_contain_text(
        "Taken: Anna Claes is already helping.", timeout=LIVE_TIMEOUT_MS
    )
    expect(bruno_banner.locator("button.assist-accept")).to_have_count(0)
    assert bruno_page.evaluate("window.stillTheSamePage === true"), "the page was reloaded"

    # Anna's advice reaches the junior's chat.
    anna_page.locator("#chat-text").fill("Plan the short axis from the four-chamber view")
    anna_page.locator("#chat-form").get_by_role("button", name="Send").click()
    expect(junior.locator("#chat-list")).to_contain_text(
        "Plan the short axis from the four-chamber view", timeout=LIVE_TIMEOUT_MS
    )
    expect(junior.locator("#chat-list")).to_contain_text("Anna Claes")

    assist.refresh_from_db()
    assert assist.status == AssistStatus.ACCEPTED
    assert assist.accepted_by == anna
    assert list(CockpitSession.objects.get(pk=cockpit.pk).assistants.all()) == [anna]
