"""A live cockpit page keeps its signed-in session alive (accounts.sessions): the relay's
heartbeat says the person is there, at most once a minute, and closes the socket (4401, after
an `error` frame) once the session is signed out. Time for the session is `timezone.now`,
frozen after the socket joined (the cockpit opens on the real clock)."""

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from allauth.usersessions.models import UserSession
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone

from accounts.models import User
from accounts.sessions import sessions_end_for_user
from cockpit import consumers
from tests.cockpit.conftest import Relay, Socket, session_cookie
from tests.cockpit.support import open_cockpit
from tests.conftest import World
from tests.scheduling.support import Clock
from wescan.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

TIMEOUT = 5


@pytest.fixture
def beats(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    settings.SESSION_IDLE_TIMEOUT_S = 30 * 60
    monkeypatch.setattr(consumers, "PRESENCE_HEARTBEAT_S", 0.02)
    monkeypatch.setattr(consumers, "SESSION_KEEP_ALIVE_S", 0.0)


def tracked_session(user: User, seen: Any) -> str:
    """A signed-in session as the sessions page lists it; its cookie."""
    cookie = session_cookie(user)
    key = cookie.split("=", 1)[1]
    UserSession.objects.create(
        user=user, session_key=key, ip="192.0.2.1", user_agent="Firefox", last_seen_at=seen
    )
    return cookie


async def join(relay: Relay, cookie: str, cockpit_id: int) -> Socket:
    communicator = WebsocketCommunicator(
        application,
        f"/ws/cockpit/{cockpit_id}/",
        headers=[
            (b"origin", b"http://localhost"),
            (b"host", b"localhost"),
            (b"cookie", cookie.encode()),
        ],
    )
    socket = Socket(communicator)
    relay.sockets.append(socket)
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert connected
    assert [frame["type"] for frame in await socket.recv_many(3)] == [
        "welcome",
        "snapshot",
        "presence",
    ]
    return socket


def last_seen(user: User) -> Any:
    return UserSession.objects.get(user=user).last_seen_at


async def until(condition: Any, timeout: float = TIMEOUT) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await database_sync_to_async(condition)():
        assert asyncio.get_running_loop().time() < deadline, "never came true"
        await asyncio.sleep(0.02)


async def test_an_open_cockpit_keeps_its_session_seen(
    world: World, relay: Relay, beats: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    cockpit = await database_sync_to_async(open_cockpit)(world)
    start = timezone.now().replace(microsecond=0)
    cookie = await database_sync_to_async(tracked_session)(world.technologist, start)
    socket = await join(relay, cookie, cockpit.pk)
    clock = Clock(start)
    monkeypatch.setattr(timezone, "now", lambda: clock.now)

    # An hour and a half with no page request: the socket says the person is there.
    for minutes in (25, 50, 75, 100):
        clock.now = start + timedelta(minutes=minutes)
        seen = clock.now
        await until(lambda seen=seen: last_seen(world.technologist) == seen)

    key = cookie.split("=", 1)[1]
    assert await database_sync_to_async(SessionStore().exists)(key)
    await socket.silent()  # no error, no close


async def test_the_socket_closes_once_its_session_is_signed_out_everywhere(
    world: World, relay: Relay, beats: None
) -> None:
    cockpit = await database_sync_to_async(open_cockpit)(world)
    cookie = await database_sync_to_async(tracked_session)(world.technologist, timezone.now())
    socket = await join(relay, cookie, cockpit.pk)

    await database_sync_to_async(sessions_end_for_user)(user=world.technologist)

    frame = await socket.recv()
    assert frame["type"] == "error"
    assert frame["payload"]["code"] == "signed_out"
    assert await socket.closed() == 4401


async def test_a_socket_never_brings_an_idle_session_back(
    world: World, relay: Relay, beats: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    cockpit = await database_sync_to_async(open_cockpit)(world)
    start = timezone.now().replace(microsecond=0)
    cookie = await database_sync_to_async(tracked_session)(world.technologist, start)
    monkeypatch.setattr(consumers, "SESSION_KEEP_ALIVE_S", 3600.0)  # quiet while joining
    socket = await join(relay, cookie, cockpit.pk)

    # The heartbeat was held up for 31 minutes (a suspended laptop): the session idled out.
    monkeypatch.setattr(timezone, "now", lambda: start + timedelta(minutes=31))
    monkeypatch.setattr(consumers, "SESSION_KEEP_ALIVE_S", 0.0)

    frame = await socket.recv()
    assert frame["payload"]["code"] == "signed_out"
    assert await socket.closed() == 4401
    key = cookie.split("=", 1)[1]
    assert not await database_sync_to_async(SessionStore().exists)(key)
