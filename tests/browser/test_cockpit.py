"""The cockpit in real Chromium against a real Daphne process: a scanner agent publishes its
console (in a background thread with its own event loop), the operator and local staff watch it
in two browser contexts. The operator takes control and starts a sequence; the progress moves
on both screens; local staff press STOP; both see the scan stopped. Then the console on a
390 px phone."""

import asyncio
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest
from django.db import connections
from playwright.sync_api import BrowserContext, Page, WebSocket, WebSocketRoute, expect

from accounts.models import User
from cockpit.agent import ScannerAgent
from cockpit.models import CockpitSession, CockpitStatus, Role
from core.models import AuditEvent
from marketplace.services.tenancy import scanner_rotate_token
from scheduling.models import Booking, BookingStatus
from tests.browser.test_hospital_pages import PHONE, assert_fits_phone, sign_in
from tests.cockpit.support import open_cockpit, prescan_confirmed
from tests.conftest import World
from tests.factories import PASSWORD
from tests.live_daphne import LiveDaphne, live_daphne

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LIVE_TIMEOUT_MS = 15_000
# An exam stopped seconds into its 20 s localiser: nothing was done (on a very slow machine, the
# localiser alone).
ABORTED = re.compile(r"Aborted \(0 of 7 sequences done\)|Completed — partial \(1 of 7")
T = TypeVar("T")


class ScannerThread:
    """The scanner agent (cockpit.agent.ScannerAgent) for one scanner, in a background thread
    with its own event loop, against the live Daphne."""

    def __init__(self, server: LiveDaphne, token: str) -> None:
        self.agent = ScannerAgent(server.url, token, name="test-scanner", alarms=False)
        self.error: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._run, name="scanner-agent", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.agent.run(self._stop))
        except BaseException as error:  # reported by the test
            self.error = error
        finally:
            self._loop.close()

    def __enter__(self) -> "ScannerThread":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)
        assert not self._thread.is_alive(), "the scanner agent did not stop"


def _off_the_loop(make: Callable[[], T]) -> T:
    """Run `make` in a worker thread: Playwright's event loop runs in the test's thread, where the
    booking services' on-commit notification pushes (async_to_sync) cannot run."""

    def run() -> T:
        try:
            return make()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def _cockpit_and_token(world: World) -> tuple[CockpitSession, str]:
    """The cockpit of a booking that starts in five minutes (the operator's join approved),
    and a device token for its scanner's agent."""

    def make() -> tuple[CockpitSession, str]:
        cockpit = open_cockpit(world)
        return cockpit, scanner_rotate_token(actor=world.manager, scanner=world.scanner)

    return _off_the_loop(make)


@pytest.fixture
def server() -> Iterator[LiveDaphne]:
    # The Daphne process is forked: it must not inherit this process's open database
    # connection (on PostgreSQL, two processes on one socket hang the first login). Closed here;
    # each side opens its own on use.
    connections.close_all()
    with live_daphne() as (daphne,):
        yield daphne


def _person(
    new_context: Callable[..., BrowserContext], server: LiveDaphne, email: str, **options: object
) -> Page:
    page = new_context(live_sockets=True, **options).new_page()
    sign_in(page, server.url, email, PASSWORD)
    return page


def _progress(page: Page) -> float:
    return float(page.locator("#sequences li.current .bar").get_attribute("aria-valuenow") or "0")


def _wait_progress_beyond(page: Page, value: float) -> None:
    page.wait_for_function(
        "(v) => Number(document.querySelector('#sequences li.current .bar')"
        ".getAttribute('aria-valuenow')) > v",
        arg=value,
        timeout=LIVE_TIMEOUT_MS,
    )


def test_operator_controls_and_scans_local_staff_stop(
    world: World, server: LiveDaphne, new_context: Callable[..., BrowserContext]
) -> None:
    cockpit, token = _cockpit_and_token(world)
    console_url = f"{server.url}/cockpit/{cockpit.pk}/"

    with ScannerThread(server, token) as scanner:
        operator = _person(new_context, server, world.technologist.email)
        operator.goto(console_url)
        local = _person(new_context, server, world.local_staff.email)
        local.goto(console_url)

        for page in (operator, local):
            expect(page.locator("#conn-state")).to_have_text("Live", timeout=LIVE_TIMEOUT_MS)
            expect(page.locator("#console-status")).to_have_text("Idle", timeout=LIVE_TIMEOUT_MS)
            expect(page.locator("#sequences li").first).to_contain_text("3-plane localiser")
        expect(operator.locator("#presence")).to_contain_text(
            f"{world.local_staff.display_name} (local staff)", timeout=LIVE_TIMEOUT_MS
        )
        expect(local.locator("#stop-button")).to_be_visible()
        expect(local.locator("#stop-button")).to_be_enabled()
        expect(operator.locator("#stop-button")).to_have_count(0)
        # Nobody holds control: the console buttons are not the operator's yet.
        expect(operator.locator("#console-controls")).to_be_hidden()

        operator.get_by_role("button", name="Ask for control").click()
        expect(operator.locator("#control-holder")).to_have_text(
            f"Control: {world.technologist.display_name} (operator) — you"
        )
        expect(local.locator("#control-holder")).to_have_text(
            f"Control: {world.technologist.display_name} (operator)"
        )
        expect(operator.locator("#console-controls")).to_be_visible()
        expect(local.locator("#console-controls")).to_be_hidden()
        # Each screen offers only the moves open to its role now.
        expect(operator.get_by_role("button", name="Ask for control")).to_be_hidden()
        expect(operator.get_by_role("button", name="Release control")).to_be_visible()
        expect(operator.get_by_role("button", name="Take over")).to_be_hidden()
        expect(operator.get_by_role("button", name="Close the session")).to_be_hidden()
        expect(local.get_by_role("button", name="Ask for control")).to_be_visible()
        expect(local.get_by_role("button", name="Take the scanner back")).to_be_visible()
        expect(local.get_by_role("button", name="Approve the operator's join")).to_be_hidden()
        expect(local.get_by_role("button", name="Confirm contrast")).to_be_hidden()

        # No sequence starts before local staff confirm the pre-scan checklist.
        for page in (operator, local):
            expect(page.locator("#checklist-state")).to_contain_text("Not confirmed yet")
        expect(operator.locator("#checklist-form")).to_have_count(0)
        operator.locator("#console-controls").get_by_role("button", name="Start").click()
        expect(operator.locator('[data-error-for="console"]')).to_contain_text(
            "Local staff have not confirmed the pre-scan checklist yet"
        )
        expect(operator.locator("#console-status")).to_have_text("Idle")
        checklist = local.locator("#checklist-form")
        expect(checklist.get_by_label("Registered technologist beside the patient")).to_have_value(
            str(world.local_staff.pk)
        )
        checklist.get_by_label("The patient was told that the exam is run remotely").check()
        checklist.get_by_role("button", name="Confirm the checklist").click()
        for page in (operator, local):
            expect(page.locator("#checklist-state")).to_contain_text(
                f"by {world.local_staff.display_name}: {world.local_staff.display_name} is beside "
                "the patient; the patient was told the exam is run remotely"
            )
        expect(checklist).to_be_hidden()

        operator.locator("#console-controls").get_by_role("button", name="Start").click()
        for page in (operator, local):
            expect(page.locator("#console-status")).to_have_text("Running", timeout=LIVE_TIMEOUT_MS)
            expect(page.locator("#current-sequence")).to_contain_text("Now: 3-plane localiser")
        # The progress moves, on both screens.
        for page in (operator, local):
            seen = _progress(page)
            _wait_progress_beyond(page, seen + 1)
        expect(operator.locator("#log")).to_contain_text(
            f"{world.technologist.display_name} (operator): start"
        )

        local.get_by_role("button", name="STOP").click()
        for page in (operator, local):
            expect(page.locator("#console-status")).to_have_text("Stopped", timeout=LIVE_TIMEOUT_MS)
            expect(page.locator("#scan-stopped")).to_have_text("The scan is stopped.")
            expect(page.locator("#log")).to_contain_text(
                f"STOP by {world.local_staff.display_name} (local staff)"
            )
        # Local staff now hold the scanner; the operator's console buttons are gone.
        expect(operator.locator("#control-holder")).to_contain_text(
            f"Control: {world.local_staff.display_name} (local staff)"
        )
        expect(operator.locator("#console-controls")).to_be_hidden()
        stopped_at = _progress(operator)
        time.sleep(0.5)
        assert _progress(operator) == stopped_at, "the progress froze at the STOP"

    assert scanner.error is None, scanner.error
    # The scanner itself ran the start and then the STOP.
    assert scanner.agent.commands_applied == 1
    assert scanner.agent.console is not None
    assert scanner.agent.console.state()["status"] == "stopped"
    cockpit = CockpitSession.objects.get(pk=cockpit.pk)
    assert cockpit.controller == world.local_staff
    assert cockpit.controller_role == Role.LOCAL
    assert cockpit.local_override
    actions = list(
        AuditEvent.objects.filter(action__startswith="cockpit.")
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions == [
        "cockpit.join_approved",
        "cockpit.operator_joined",  # the evidence that they came (scheduling.no_shows)
        "cockpit.control_granted",
        "cockpit.prescan_confirmed",
        "cockpit.command",
        "cockpit.started",
        "cockpit.stopped",
    ]
    # The first sequence that ran started the booking: the hours the ledger counts begin here.
    assert cockpit.status == CockpitStatus.LIVE
    assert cockpit.started_at is not None
    assert Booking.objects.get(pk=cockpit.booking_id).status == BookingStatus.IN_PROGRESS


@pytest.fixture
def link_checked_server(settings: object) -> Iterator[LiveDaphne]:
    """A Daphne whose relay probes every socket (the test settings turn the probes off) and
    hands a silent controller's control to local staff after a second."""
    settings.COCKPIT_LINK_PROBE_S = 0.2  # type: ignore[attr-defined]
    settings.COCKPIT_CONTROL_LINK_TIMEOUT_S = 1.0  # type: ignore[attr-defined]
    connections.close_all()
    with live_daphne() as (daphne,):
        yield daphne


def test_both_screens_show_the_operators_link_and_the_fallback_when_it_is_lost(
    world: World, link_checked_server: LiveDaphne, new_context: Callable[..., BrowserContext]
) -> None:
    server = link_checked_server
    cockpit, _ = _cockpit_and_token(world)
    console_url = f"{server.url}/cockpit/{cockpit.pk}/"
    operator = _person(new_context, server, world.technologist.email)
    operator.goto(console_url)
    local = _person(new_context, server, world.local_staff.email)
    local.goto(console_url)
    # The scanning hospital's manager watches in French (their profile's language).
    observer = _person(new_context, server, world.manager.email)
    User.objects.filter(pk=world.manager.pk).update(language="fr")
    observer.goto(console_url)
    name = world.technologist.display_name
    # The page echoes the relay's probes: both screens show the operator's link, measured.
    for page in (operator, local):
        expect(page.locator("#links li.link")).to_contain_text(
            re.compile(
                rf"{re.escape(name)} \(operator\).*: Good \(\d+ ms round trip, \d+ ms jitter\)"
            ),
            timeout=LIVE_TIMEOUT_MS,
        )
    operator.get_by_role("button", name="Ask for control").click()
    expect(local.locator("#control-holder")).to_have_text(f"Control: {name} (operator)")
    # The operator's browser goes away: local staff hold the scanner, and their screen says why.
    operator.context.close()
    # Whichever the relay notices first on a busy machine: the closed socket, or the silence
    # (the timeout is 1 s here).
    expect(local.locator("#control-fallback")).to_contain_text(
        re.compile(
            rf"{re.escape(name)} lost their link to the cockpit \((their connection closed|"
            r"nothing heard from them for \d+ s)\): control fell back to local staff"
        ),
        timeout=LIVE_TIMEOUT_MS,
    )
    expect(local.locator("#control-holder")).to_have_text(
        "The scanner is held by local staff: nobody controls it remotely until local staff grant "
        "control."
    )
    expect(local.locator("#log")).to_contain_text(f"{name} lost their link")
    # Each reader in their own language, not the relay's English words.
    expect(observer.locator("#log")).to_contain_text(
        re.compile(
            rf"{re.escape(name)} a perdu sa connexion au cockpit \((sa connexion s'est fermée|"
            r"aucune nouvelle depuis \d+ s)\) : la main est revenue au personnel local\. "
            r"Personne ne peut commander le scanner à distance tant que le personnel local n'a "
            r"pas rendu la main\."
        )
    )
    cockpit = CockpitSession.objects.get(pk=cockpit.pk)
    assert (cockpit.controller, cockpit.local_override) == (None, True)
    assert AuditEvent.objects.filter(action="cockpit.control_fallback").count() == 1


def test_console_fits_a_phone_with_the_stop_in_reach(
    world: World, server: LiveDaphne, new_context: Callable[..., BrowserContext]
) -> None:
    cockpit, token = _cockpit_and_token(world)
    with ScannerThread(server, token):
        phone = _person(
            new_context,
            server,
            world.local_staff.email,
            viewport=PHONE,
            is_mobile=True,
            has_touch=True,
        )
        phone.goto(f"{server.url}/cockpit/{cockpit.pk}/")
        expect(phone.locator("#console-status")).to_have_text("Idle", timeout=LIVE_TIMEOUT_MS)
        assert_fits_phone(phone)
        stop = phone.get_by_role("button", name="STOP")
        box = stop.bounding_box()
        assert box is not None
        assert box["y"] + box["height"] <= PHONE["height"], "STOP is on the first screen"
        assert box["width"] >= PHONE["width"] * 0.8, "STOP spans the phone"
        # Still in reach after scrolling down to the chat.
        phone.locator("#chat-text").scroll_into_view_if_needed()
        expect(stop).to_be_in_viewport()
        phone.locator("#chat-text").fill("Patient in, head coil on")
        phone.get_by_role("button", name="Send").tap()
        expect(phone.locator("#chat-list")).to_contain_text("Patient in, head coil on")


def test_a_lost_connection_shows_reconnecting_then_resyncs_from_the_last_seq(
    world: World, server: LiveDaphne, new_context: Callable[..., BrowserContext]
) -> None:
    cockpit, token = _cockpit_and_token(world)
    console_url = f"{server.url}/cockpit/{cockpit.pk}/"
    # The operator's cockpit socket goes through a switch the test can open: while `down` is
    # set, every attempt is closed at once, as by a server that is gone.
    down = threading.Event()
    urls: list[str] = []
    routes: list[tuple[WebSocketRoute, WebSocketRoute]] = []

    def switch(socket: WebSocketRoute) -> None:
        urls.append(socket.url)
        if down.is_set():
            socket.close(code=1012, reason="server gone")
            return
        routes.append((socket, socket.connect_to_server()))

    # What the operator's page receives, socket by socket.
    frames: dict[str, list[dict[str, object]]] = {}

    def watch(socket: WebSocket) -> None:
        if "/ws/cockpit/" in socket.url:
            received = frames.setdefault(socket.url, [])
            socket.on("framereceived", lambda payload: received.append(json.loads(payload)))

    with ScannerThread(server, token):
        operator_context = new_context(live_sockets=True)
        operator_context.route_web_socket(re.compile(r"/ws/cockpit/\d+/"), switch)
        operator = operator_context.new_page()
        operator.on("websocket", watch)
        sign_in(operator, server.url, world.technologist.email, PASSWORD)
        operator.goto(console_url)
        local = _person(new_context, server, world.local_staff.email)
        local.goto(console_url)
        for page in (operator, local):
            expect(page.locator("#conn-state")).to_have_text("Live", timeout=LIVE_TIMEOUT_MS)
            expect(page.locator("#console-status")).to_have_text("Idle", timeout=LIVE_TIMEOUT_MS)
        expect(operator.locator("#presence")).to_contain_text(world.local_staff.display_name)

        down.set()
        page_side, server_side = routes[-1]
        server_side.close(code=1001, reason="gone")
        page_side.close(code=1012, reason="server gone")
        expect(operator.locator("#conn-state")).to_contain_text("Reconnecting…")
        last_seen = int(operator.locator("#cockpit").get_attribute("data-seq") or "0")
        assert last_seen > 0

        local.locator("#chat-text").fill("Coil on, ready when you are")
        local.get_by_role("button", name="Send").click()
        expect(local.locator("#chat-list")).to_contain_text("Coil on, ready when you are")
        expect(operator.locator("#chat-list")).not_to_contain_text("Coil on")

        down.clear()
        expect(operator.locator("#conn-state")).to_have_text("Live", timeout=LIVE_TIMEOUT_MS)
        expect(operator.locator("#chat-list")).to_contain_text(
            f"{world.local_staff.display_name}", timeout=LIVE_TIMEOUT_MS
        )
        expect(operator.locator("#chat-list")).to_contain_text("Coil on, ready when you are")

    # It came back from where it was: the missing events from the last seq it had, in order,
    # with no snapshot and no gap.
    resumed = urls[-1]
    assert resumed.endswith(f"?role=operator&since={last_seen}")
    kinds = [f["type"] for f in frames[resumed]]
    assert kinds[0] == "welcome"
    assert "snapshot" not in kinds
    seqs = [int(f["seq"]) for f in frames[resumed] if isinstance(f.get("seq"), int)]
    assert seqs == list(range(last_seen + 1, last_seen + 1 + len(seqs)))
    assert "chat" in kinds


@pytest.mark.parametrize(
    ("why", "told", "where"),
    [
        (
            "shed",
            "This screen stopped keeping up, so the server paused it",
            "What happened meanwhile is listed under Activity.",
        ),
        (
            "behind",
            "This screen was away longer than the server keeps events",
            "What happened meanwhile is listed under Activity.",
        ),
        (
            # Redis lost the session's keys, the activity list among them.
            "lost",
            "The server lost the session's latest events",
            "What happened just before may be missing, from Activity too.",
        ),
    ],
)
def test_a_snapshot_that_fills_a_gap_tells_the_person_what_they_may_have_missed(
    world: World,
    server: LiveDaphne,
    new_context: Callable[..., BrowserContext],
    why: str,
    told: str,
    where: str,
) -> None:
    """The relay answers a `since` it cannot fill event by event with a snapshot that says why
    (`resync`, tests/cockpit): the console jumps, and the page says so where a screen reader
    speaks it. The server's own snapshot is passed on with `resync` set, as the relay sends it
    after a shed socket echoes again."""
    cockpit, token = _cockpit_and_token(world)

    def relay(socket: WebSocketRoute) -> None:
        server_side = socket.connect_to_server()

        def to_page(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame.get("type") == "snapshot":
                frame["payload"]["resync"] = why
                message = json.dumps(frame)
            socket.send(message)

        server_side.on_message(to_page)

    with ScannerThread(server, token):
        operator_context = new_context(live_sockets=True)
        operator_context.route_web_socket(re.compile(r"/ws/cockpit/\d+/"), relay)
        operator = operator_context.new_page()
        sign_in(operator, server.url, world.technologist.email, PASSWORD)
        operator.goto(f"{server.url}/cockpit/{cockpit.pk}/")
        expect(operator.locator("#conn-state")).to_have_text("Live", timeout=LIVE_TIMEOUT_MS)
        note = operator.get_by_role("status").filter(has_text=told)
        expect(note).to_be_visible(timeout=LIVE_TIMEOUT_MS)
        expect(note).to_contain_text(where)
        expect(operator.locator("#console-status")).to_have_text("Idle", timeout=LIVE_TIMEOUT_MS)


def test_a_plain_snapshot_shows_no_note_of_a_gap(
    world: World, server: LiveDaphne, new_context: Callable[..., BrowserContext]
) -> None:
    cockpit, token = _cockpit_and_token(world)
    with ScannerThread(server, token):
        operator = _person(new_context, server, world.technologist.email)
        operator.goto(f"{server.url}/cockpit/{cockpit.pk}/")
        expect(operator.locator("#console-status")).to_have_text("Idle", timeout=LIVE_TIMEOUT_MS)
        expect(operator.locator("#console-resynced")).to_have_text("")


def test_stop_a_reason_and_an_early_end_show_as_aborted_with_the_hours_it_ran(
    world: World, server: LiveDaphne, new_context: Callable[..., BrowserContext]
) -> None:
    """Local staff STOP the first sequence, say why, and end the exam there: every screen shows
    times in the site's zone, a reload keeps the activity log, and the booking page says the
    exam was aborted with the hours it ran, never plainly "Completed"."""
    cockpit, token = _cockpit_and_token(world)
    prescan_confirmed(world, cockpit)  # the checklist's own browser test is above
    console_url = f"{server.url}/cockpit/{cockpit.pk}/"
    with ScannerThread(server, token):
        operator = _person(new_context, server, world.technologist.email)
        operator.goto(console_url)
        local = _person(new_context, server, world.local_staff.email)
        local.goto(console_url)
        for page in (operator, local):
            expect(page.locator("#console-status")).to_have_text("Idle", timeout=LIVE_TIMEOUT_MS)
        operator.get_by_role("button", name="Ask for control").click()
        expect(operator.locator("#console-controls")).to_be_visible(timeout=LIVE_TIMEOUT_MS)
        operator.locator("#console-controls").get_by_role("button", name="Start").click()
        expect(local.locator("#console-status")).to_have_text("Running", timeout=LIVE_TIMEOUT_MS)

        local.get_by_role("button", name="STOP").click()
        expect(local.locator("#console-status")).to_have_text("Stopped", timeout=LIVE_TIMEOUT_MS)
        # The STOP is listed at once, in the site's zone; local staff may say why.
        stop_item = local.locator("#stops li.stop")
        expect(stop_item).to_contain_text(
            f"Brussels STOP by {world.local_staff.display_name} (local staff)",
            timeout=LIVE_TIMEOUT_MS,
        )
        expect(operator.locator("#stops li.stop form")).to_have_count(0)
        stop_item.get_by_label("Why was it stopped?").fill("Patient asked to stop")
        stop_item.get_by_role("button", name="Give the reason").click()
        for page in (operator, local):
            expect(page.locator("#stops")).to_contain_text(
                "“Patient asked to stop”", timeout=LIVE_TIMEOUT_MS
            )
        expect(operator.locator("#log")).to_contain_text("gave the reason for the STOP")
        assert re.search(r"^\d\d:\d\d Brussels ", operator.locator("#log li").first.inner_text())

        # A reload keeps the activity log (from the snapshot, with its times).
        local.reload()
        expect(local.locator("#console-status")).to_have_text("Stopped", timeout=LIVE_TIMEOUT_MS)
        expect(local.locator("#log")).to_contain_text(
            f"STOP by {world.local_staff.display_name} (local staff)"
        )
        expect(local.locator("#log")).to_contain_text(
            f"{world.technologist.display_name} (operator): start"
        )

        local.once("dialog", lambda dialog: dialog.accept())
        local.get_by_role("button", name="End the exam here").click()
        for page in (operator, local):
            expect(page.locator("#session-status")).to_have_text("Ended", timeout=LIVE_TIMEOUT_MS)
            expect(page.locator("#conn-state")).to_contain_text(ABORTED)

        booking = local.context.new_page()
        booking.goto(f"{server.url}/bookings/{cockpit.booking_id}/")
        expect(booking.locator("#booking-status")).to_have_text(ABORTED)
        expect(booking.locator("#booking-hours")).to_contain_text(" h run, ")
        expect(booking.locator("#booking-hours")).to_contain_text("(2 h booked)")
        expect(booking.locator("#booking-cockpit")).to_contain_text("“Patient asked to stop”")


def test_a_dutch_console_writes_numbers_and_parameters_the_dutch_way(
    world: World, server: LiveDaphne, new_context: Callable[..., BrowserContext]
) -> None:
    cockpit, token = _cockpit_and_token(world)

    def dutch() -> None:
        world.local_staff.language = "nl"
        world.local_staff.save(update_fields=["language"])

    _off_the_loop(dutch)  # the profile's language wins once signed in
    with ScannerThread(server, token):
        local = _person(new_context, server, world.local_staff.email)
        local.goto(f"{server.url}/cockpit/{cockpit.pk}/")
        expect(local.locator("#console-status")).to_have_text("Inactief", timeout=LIVE_TIMEOUT_MS)
        # A decimal comma, not the scanner's point ("0,00 van 3,2 W/kg").
        expect(local.locator("#sar")).to_have_text(re.compile(r"^\d+,\d\d van \d+,\d W/kg$"))
        expect(local.locator("#parameters dt").first).to_be_visible()
        labels = local.locator("#parameters dt").all_inner_texts()
        assert "Plakdikte (mm)" in labels, labels
        assert "TR (ms)" in labels, labels
        assert not any("_" in label for label in labels), labels
        for value in local.locator("#parameters dd").all_inner_texts():
            assert "." not in value, value
        # The protocol by its name, not its code.
        expect(local.locator("#session-facts")).not_to_contain_text("neuro")
