"""One person's request never stalls another's: while a request carries a 1 MiB body (sent at once,
or trickled in over a second), someone else's page is answered at once, on a real Daphne.

A 200,000-character cancellation reason once held Daphne for two minutes: every page and every
scanner's socket waited. The body is bounded and checked in linear time now; this is what a user
would notice if either came back.
"""

import http.client
import statistics
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from rest_framework.authtoken.models import Token

from scheduling.models import Booking, BookingStatus
from tests.cockpit.conftest import session_cookie
from tests.cockpit.support import open_booking
from tests.conftest import World
from tests.live_daphne import HOST, LiveDaphne, live_daphne

pytestmark = pytest.mark.django_db(transaction=True)

MIB = 1024 * 1024
# What a person notices as "at once"; the old check kept them waiting for minutes.
PROMPT_S = 0.200


@pytest.fixture
def server(world: World) -> Iterator[LiveDaphne]:
    with live_daphne() as (daphne,):
        yield daphne


@pytest.fixture
def booking(world: World) -> Booking:
    return open_booking(world.manager, world.scanner, world.technologist)


def _get_login(server: LiveDaphne) -> float:
    """Seconds until someone else's sign-in page is answered (200)."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection(HOST, server.port, timeout=30)
    connection.request("GET", "/accounts/login/")
    response = connection.getresponse()
    response.read()
    connection.close()
    assert response.status == 200
    return time.perf_counter() - started


def _logins_while(server: LiveDaphne, busy: threading.Thread) -> list[float]:
    """Someone else loads the sign-in page every 50 ms from just after the big request sets off
    until a moment after it was answered (its body trickling in, then read and refused)."""
    busy.start()
    time.sleep(0.05)
    timings = []
    while busy.is_alive():
        timings.append(_get_login(server))
        time.sleep(0.05)
    timings.append(_get_login(server))
    busy.join()
    assert len(timings) >= 5, timings  # the big request was under way for a while
    return timings


def _answered_at_once(timings: list[float]) -> bool:
    """Typically within 200 ms, and never held up: a stalled server kept people waiting for
    minutes (one slow probe on a busy 2-core machine is forgiven, a stall is not)."""
    return statistics.median(timings) < PROMPT_S and max(timings) < 5 * PROMPT_S


def _send(
    server: LiveDaphne, path: str, body: bytes, headers: dict[str, str], answers: list[int]
) -> None:
    connection = http.client.HTTPConnection(HOST, server.port, timeout=60)
    connection.putrequest("POST", path)
    for name, value in {**headers, "Content-Length": str(len(body))}.items():
        connection.putheader(name, value)
    connection.endheaders()
    # Trickled in 16 pieces over about a second, as a slow uplink would.
    piece = len(body) // 16 + 1
    for start in range(0, len(body), piece):
        connection.send(body[start : start + piece])
        time.sleep(0.06)
    answers.append(connection.getresponse().status)
    connection.close()


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
    busy = threading.Thread(
        target=_send, args=(server, f"/bookings/{booking.pk}/cancel/", body, headers, answers)
    )

    assert _answered_at_once(_logins_while(server, busy))
    assert answers == [302]  # back to the booking, which says why
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CONFIRMED


def test_a_1_mib_cancellation_reason_through_the_api_stalls_nobody(
    world: World, booking: Booking, server: LiveDaphne
) -> None:
    token = Token.objects.create(user=world.manager).key
    body = b'{"reason": "' + b"a" * (MIB - 100) + b'"}'
    headers = {"Content-Type": "application/json", "Authorization": f"Token {token}"}
    answers: list[int] = []
    busy = threading.Thread(
        target=_send,
        args=(server, f"/api/v1/bookings/{booking.pk}/cancel/", body, headers, answers),
    )

    assert _answered_at_once(_logins_while(server, busy))
    assert answers == [400]
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CONFIRMED


def test_a_20_mb_form_from_anyone_stalls_nobody(world: World, server: LiveDaphne) -> None:
    """Twisted, under Daphne, once parsed every form body on its one thread before Django's
    size limit saw it: 20 MB of `&` from an anonymous client held every page for seconds."""
    body = b"&" * (20 * MIB)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    answers: list[int] = []
    busy = threading.Thread(target=_send, args=(server, "/accounts/login/", body, headers, answers))

    assert _answered_at_once(_logins_while(server, busy))
    assert answers == [403]  # no CSRF cookie: refused before the body is read
