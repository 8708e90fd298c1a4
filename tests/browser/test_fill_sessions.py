"""'Fill my open sessions' in real Chromium against a real Daphne (the plan's progress over its
websocket): a manager starts the optimiser from the postings page, watches the bar, unticks one
row and sends the rest in one click; the proposed technologists find the invitations on their
bookings page, and the one whose row was unticked finds none. Then Cancel while it searches, and
the page polling the API when its socket cannot open.

The solve is the real one (scheduling.optimiser), held at a gate after its first progress report
until the test has seen the bar move: a tiny market is solved faster than a page loads."""

import re
from collections.abc import Callable, Iterator
from datetime import datetime, time, timedelta
from pathlib import Path
from time import sleep
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import pytest
from django.db import connections
from django.utils import timezone
from playwright.sync_api import BrowserContext, Page, expect

from accounts.models import User
from marketplace import services as marketplace_services
from marketplace.models import SessionPosting
from scheduling import services
from scheduling.models import Booking, BookingStatus, Plan, PlanStatus
from scheduling.services import plans
from tests.browser.test_hospital_pages import PHONE, assert_fits_phone, sign_in
from tests.conftest import World
from tests.factories import PASSWORD, UserFactory
from tests.factories_supply import LicensedTechnologistFactory
from tests.live_daphne import LiveDaphne, live_daphne
from tests.scheduling.plans_support import Progress

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BRUSSELS = ZoneInfo("Europe/Brussels")
LIVE_TIMEOUT_MS = 30_000
# How long the gated solve waits for the test at most (polls of 50 ms): a test that failed
# before opening the gate must not leave the server's solver thread waiting for ever.
GATE_POLLS = 1200


def _day(offset: int, hour: int) -> datetime:
    today = timezone.now().astimezone(BRUSSELS).date()
    return datetime.combine(today + timedelta(days=offset), time(hour), tzinfo=BRUSSELS)


def _technologist(email: str, first: str, last: str) -> User:
    """Licensed, independent, available 06:00–22:00 Brussels every day from tomorrow."""
    user = UserFactory(email=email, first_name=first, last_name=last)
    LicensedTechnologistFactory(user=user, home_time_zone="Europe/Brussels")
    services.availability_create(
        actor=user,
        technologist=user,
        starts_at=_day(1, 6),
        ends_at=_day(1, 22),
        time_zone="Europe/Brussels",
        rrule="FREQ=DAILY",
    )
    return user


def _postings(world: World) -> list[SessionPosting]:
    return [
        marketplace_services.posting_create(
            actor=world.manager,
            hospital=world.hospital,
            scanner=world.scanner,
            starts_at=_day(offset, 8),
            ends_at=_day(offset, 12),
            publish=True,
        )
        for offset in (1, 2, 3)
    ]


@pytest.fixture
def gate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The solve reports "solving" and waits until this file exists (or Cancel), then runs the
    real solver. Patched before the server forks, so the server's solve is the gated one."""
    release = tmp_path / "release"
    solve = plans._solve

    def gated(problem: Any, **options: Any) -> Any:
        options["on_progress"](Progress("solving", None, None, options["time_limit_s"], 0))
        for _ in range(GATE_POLLS):
            if release.exists() or options["should_stop"]():
                break
            sleep(0.05)  # not Event.wait: see core.threads
        return solve(problem, **options)

    monkeypatch.setattr(plans, "_solve", gated)
    return release


@pytest.fixture
def server(settings: Any, gate: Path) -> Iterator[LiveDaphne]:
    # The embedded mode: the solve runs in the server's background thread, not in the request.
    settings.PLAN_SOLVE_IN_BACKGROUND = True
    connections.close_all()
    with live_daphne() as (daphne,):
        yield daphne


def _person(
    new_context: Callable[..., BrowserContext], server: LiveDaphne, email: str, **options: Any
) -> Page:
    page = new_context(**options).new_page()
    sign_in(page, server.url, email, PASSWORD)
    return page


def _start(manager: Page, server: LiveDaphne, world: World) -> None:
    manager.goto(f"{server.url}/hospitals/{world.hospital.pk}/postings/")
    manager.get_by_role("button", name="Fill my open sessions").click()
    expect(manager).to_have_url(re.compile(r"/plans/\d+/$"))
    expect(manager.locator("#plan-phase [data-field=phase_label]")).to_have_text(
        "Searching for the best proposal", timeout=LIVE_TIMEOUT_MS
    )
    expect(manager.locator("#plan-status")).to_have_text("Running")
    expect(manager.get_by_role("progressbar")).to_be_visible()


def test_a_manager_fills_the_open_sessions_unticks_one_and_sends(
    world: World, server: LiveDaphne, gate: Path, new_context: Callable[..., BrowserContext]
) -> None:
    people = [
        _technologist("ines@example.org", "Inès", "Dupont"),
        _technologist("noor@example.org", "Noor", "Claes"),
        _technologist("lea@example.org", "Léa", "Martin"),
    ]
    postings = _postings(world)
    manager = _person(new_context, server, world.manager.email, live_sockets=True)
    frames: list[str] = []
    manager.on(
        "websocket",
        lambda socket: socket.on("framereceived", lambda frame: frames.append(str(frame))),
    )
    _start(manager, server, world)
    assert any('"status": "running"' in frame for frame in frames)  # over the plan's socket
    gate.touch()

    table = manager.locator("#plan-rows")
    expect(table).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    plan = Plan.objects.get()
    assert plan.status == PlanStatus.DONE
    rows = list(plan.rows.order_by("starts_at"))
    assert [row.posting_id for row in rows] == [posting.pk for posting in postings]
    # Fairness: three sessions, three technologists, one each.
    assert sorted(row.technologist_id for row in rows) == sorted(person.pk for person in people)
    boxes = table.get_by_role("checkbox")
    expect(boxes).to_have_count(3)
    for box in boxes.all():
        expect(box).to_be_checked()
    expect(manager.locator("#plan-week")).to_contain_text(people[0].display_name[:3])
    send = manager.get_by_role("button", name="Send 3 invitations")
    expect(send).to_be_visible()

    dropped = rows[1]
    manager.locator(f"#tick-{dropped.pk}").uncheck()
    with manager.expect_request(lambda request: request.url.endswith("/send/")) as sending:
        manager.get_by_role("button", name="Send 2 invitations").click()
    # One field for the ticked ids, however many: Django refuses forms of over 1000 fields.
    sent_form = parse_qs(sending.value.post_data or "")
    assert "row" not in sent_form
    assert sorted(sent_form["rows"][0].split(",")) == sorted([str(rows[0].pk), str(rows[2].pk)])
    expect(manager.locator(".messages")).to_contain_text("2 invitations sent.")
    expect(manager.locator(f"#row-{rows[0].pk} .outcome")).to_contain_text("Invitation sent")
    expect(manager.locator(f"#row-{dropped.pk}")).to_contain_text("not sent")

    invited = {booking.technologist_id for booking in Booking.objects.all()}
    assert invited == {rows[0].technologist_id, rows[2].technologist_id}
    assert set(Booking.objects.values_list("status", flat=True)) == {BookingStatus.PENDING}
    by_id = {person.pk: person for person in people}
    for row in (rows[0], rows[2]):
        tech = _person(new_context, server, by_id[row.technologist_id].email)
        tech.goto(f"{server.url}/me/bookings/")
        expect(tech.locator("#invitations li.booking")).to_have_count(1)
        expect(tech.locator("#invitations")).to_contain_text(world.hospital.name)
        expect(tech.locator("[data-notif-count]")).to_have_text("1")
    left_out = _person(new_context, server, by_id[dropped.technologist_id].email)
    left_out.goto(f"{server.url}/me/bookings/")
    expect(left_out.locator("#invitations li.booking")).to_have_count(0)
    expect(left_out.locator("[data-notif-count]")).to_be_hidden()


def test_cancel_while_it_searches_keeps_the_best_so_far(
    world: World, server: LiveDaphne, new_context: Callable[..., BrowserContext]
) -> None:
    _technologist("ines@example.org", "Inès", "Dupont")
    _postings(world)
    manager = _person(new_context, server, world.manager.email, live_sockets=True)
    _start(manager, server, world)
    manager.get_by_role("button", name="Cancel").click()
    expect(manager.locator("#plan-status")).to_have_text("Cancelled", timeout=LIVE_TIMEOUT_MS)
    expect(manager.locator("#plan-message")).to_contain_text("Stopped early")
    plan = Plan.objects.get()
    assert plan.status == PlanStatus.CANCELLED
    assert plan.cancelled_by == world.manager


def test_without_its_socket_the_page_polls_and_fits_a_phone(
    world: World, server: LiveDaphne, gate: Path, new_context: Callable[..., BrowserContext]
) -> None:
    _technologist("ines@example.org", "Inès", "Dupont")
    _postings(world)
    # live_sockets=False: every websocket is answered by nobody in the browser itself.
    manager = _person(new_context, server, world.manager.email, viewport=PHONE, is_mobile=True)
    _start(manager, server, world)
    assert_fits_phone(manager)
    gate.touch()
    expect(manager.locator("#plan-rows")).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(manager.locator("#plan-status")).to_have_text("Done")
    assert_fits_phone(manager)
