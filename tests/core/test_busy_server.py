"""One person's request never stalls another's: while a request carries a big body (1 MiB, or
20 MB), someone else's sign-in page is answered, on a real Daphne, while the body is still being
sent and after it has arrived, before the big request is answered.

A 200,000-character cancellation reason once held Daphne for two minutes: every page and every
scanner's socket waited. The body is bounded and checked in linear time now; this is what a user
would notice if either came back. Decided by the order of events, not by a clock: the body is
sent in pieces, each only once someone else's page has been answered, and the big request's
answer is read only once three pages asked for after its body arrived have been answered. The
latency itself is a benchmark's figure, not a test's.
"""

import http.client
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest

from scheduling.models import Booking, BookingStatus
from tests.cockpit.conftest import session_cookie
from tests.cockpit.support import open_booking
from tests.conftest import World
from tests.factories import access_token
from tests.live_daphne import HOST, LiveDaphne, live_daphne

pytestmark = pytest.mark.django_db(transaction=True)

MIB = 1024 * 1024
# A deadline for waiting, not a speed target: only a stalled server reaches it (before the bound
# and the linear check, the sign-in page was still waiting after 30 s).
WAIT_S = 30
# The big body goes in this many pieces, someone else's page answered before each next one.
PIECES = 16
# Pages asked for after the big body arrived, answered before its own answer is read.
AFTER_BODY = 3


@pytest.fixture
def server(world: World) -> Iterator[LiveDaphne]:
    with live_daphne() as (daphne,):
        yield daphne


@pytest.fixture
def booking(world: World) -> Booking:
    return open_booking(world.manager, world.scanner, world.technologist)


@dataclass
class Progress:
    """What the other person's sign-in pages and the big request have seen, in order."""

    during_body: int = 0  # pages answered before the big body's last piece was sent
    after_body: int = 0  # pages asked for after it, answered before the big answer was read
    body_sent: bool = False
    stalled: str = ""  # where the big request waited for a page in vain
    changed: threading.Condition = field(default_factory=threading.Condition)

    def page_answered(self, asked_after_body: bool) -> None:
        with self.changed:
            if asked_after_body:
                self.after_body += 1
            elif not self.body_sent:
                self.during_body += 1
            self.changed.notify_all()

    def wait_for(self, counter: str, count: int, where: str) -> None:
        """Until `counter` (during_body or after_body) reaches `count`; noted as a stall when the
        pages stop being answered."""
        with self.changed:
            if not self.changed.wait_for(lambda: getattr(self, counter) >= count, timeout=WAIT_S):
                self.stalled = self.stalled or where


def _get_login(server: LiveDaphne) -> None:
    """Someone else's sign-in page, answered (200); a stalled server times out."""
    connection = http.client.HTTPConnection(HOST, server.port, timeout=WAIT_S)
    try:
        connection.request("GET", "/accounts/login/")
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    assert response.status == 200


def _logins_while(server: LiveDaphne, send: Callable[[Progress], None]) -> Progress:
    """Someone else loads the sign-in page again and again, from when the big request sets off
    until it has been answered."""
    progress = Progress()
    busy = threading.Thread(target=send, args=(progress,))
    busy.start()
    try:
        while busy.is_alive():
            asked_after_body = progress.body_sent
            _get_login(server)
            progress.page_answered(asked_after_body)
    finally:
        busy.join()
    return progress


def _answered_while_under_way(progress: Progress) -> bool:
    """Others were answered while the big body was coming in and while the server had it, before
    its answer: a stalled server answers nobody until it is done with the big request."""
    return (
        not progress.stalled
        and progress.during_body >= PIECES - 1
        and progress.after_body >= AFTER_BODY
    )


def _sender(
    server: LiveDaphne, path: str, body: bytes, headers: dict[str, str], answers: list[int]
) -> Callable[[Progress], None]:
    def send(progress: Progress) -> None:
        connection = http.client.HTTPConnection(HOST, server.port, timeout=WAIT_S)
        try:
            send_in_pieces(progress, connection)
        except OSError as error:  # a server that never answers: the test says so, not the thread
            progress.stalled = progress.stalled or f"the big request: {error!r}"
        finally:
            connection.close()

    def send_in_pieces(progress: Progress, connection: http.client.HTTPConnection) -> None:
        connection.putrequest("POST", path)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            connection.putheader(name, value)
        connection.endheaders()
        # In pieces, as a slow uplink would send it; the next only once someone else's page has
        # been answered since the last.
        piece = len(body) // PIECES + 1
        for sent, start in enumerate(range(0, len(body), piece)):
            if sent:
                progress.wait_for("during_body", sent, "while the body came in")
            connection.send(body[start : start + piece])
        with progress.changed:
            progress.body_sent = True
        progress.wait_for("after_body", AFTER_BODY, "once the body was in")
        answers.append(connection.getresponse().status)

    return send


def test_a_1_mib_cancellation_reason_on_the_page_stalls_nobody(
    world: World, booking: Booking, server: LiveDaphne
) -> None:
    csrf = "a" * 32
    body = urlencode({"csrfmiddlewaretoken": csrf, "reason": "a" * (MIB - 100)}).encode()
    assert MIB - 200 < len(body) <= MIB
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": f"{session_cookie(world.manager)}; csrftoken={csrf}",
    }
    answers: list[int] = []
    send = _sender(server, f"/bookings/{booking.pk}/cancel/", body, headers, answers)

    assert _answered_while_under_way(_logins_while(server, send))
    assert answers == [302]  # back to the booking, which says why
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CONFIRMED


def test_a_1_mib_cancellation_reason_through_the_api_stalls_nobody(
    world: World, booking: Booking, server: LiveDaphne
) -> None:
    token = access_token(world.manager)
    body = b'{"reason": "' + b"a" * (MIB - 100) + b'"}'
    headers = {"Content-Type": "application/json", "Authorization": f"Token {token}"}
    answers: list[int] = []
    send = _sender(server, f"/api/v1/bookings/{booking.pk}/cancel/", body, headers, answers)

    assert _answered_while_under_way(_logins_while(server, send))
    assert answers == [400]
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CONFIRMED


def test_a_20_mb_form_from_anyone_stalls_nobody(world: World, server: LiveDaphne) -> None:
    """Twisted, under Daphne, once parsed every form body on its one thread before Django's
    size limit saw it: 20 MB of `&` from an anonymous client held every page for seconds."""
    body = b"&" * (20 * MIB)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    answers: list[int] = []
    send = _sender(server, "/accounts/login/", body, headers, answers)

    assert _answered_while_under_way(_logins_while(server, send))
    assert answers == [403]  # no CSRF cookie: refused before the body is read


def test_daphne_leaves_form_bodies_unparsed() -> None:
    """Twisted's parse of the 20 MB form above held every page for 7 s: a stall shorter than
    WAIT_S, so the switch that prevents it is checked here, on a request as Daphne makes one."""
    from unittest import mock

    from daphne.http_protocol import WebRequest

    import wescan.asgi  # noqa: F401  (sets the switch, as the server does on start)

    request = WebRequest(mock.MagicMock())
    assert request._parsePOSTFormSubmission is False
