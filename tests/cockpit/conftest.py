"""The relay's store starts empty for every cockpit test: process memory is reset, and on Redis
the `wescan:cockpit:*` keys are deleted (runs on one Redis reuse session ids and creation times
can collide). So do the relay's rate-limit buckets (kept per cockpit id)."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import pytest_asyncio
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from accounts.models import User
from cockpit import consumers
from cockpit.fanout import redis_fanouts_close
from cockpit.groups import store_prefix
from cockpit.models import CockpitSession
from cockpit.store import MemoryStore, RedisStore, store
from tests.sessions import session_cookie
from wescan.asgi import application

# Worker threads on PostgreSQL are slower than the default second.
TIMEOUT = 5


def _delete_redis_keys(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match="wescan:cockpit:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def _empty() -> None:
    consumers.frame_buckets.reset()
    current = store()
    if isinstance(current, MemoryStore):
        current.reset()
    else:
        _delete_redis_keys(current.url)


@pytest.fixture(autouse=True)
def _empty_relay_store() -> Iterator[None]:
    _empty()
    yield
    _empty()


@pytest_asyncio.fixture
async def relay_store() -> AsyncIterator[MemoryStore | RedisStore]:
    """The store of these settings; on Redis, this test's event loop's client and fan-out are
    closed at the end (redis.asyncio clients and the fan-out belong to one loop). Async tests
    that run the relay in-process use this fixture."""
    current = store()
    yield current
    if isinstance(current, RedisStore):
        await redis_fanouts_close()
        await current.aclose()


# --- Sockets on the relay, through the real ASGI stack (origin check, session cookie) -----------


class Socket:
    """One client of the relay: frames in and out as dicts. The `moves` a frame carries (the
    moves open to this socket's person, different for each person) are taken off it and kept in
    `moves` (the last list received, as the page keeps it), so that a test compares the frames
    everyone gets whole and asserts each person's moves on their own."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self.client_seq = 0
        self.moves: list[str] | None = None
        self.frames_with_moves: list[str] = []  # the types of the frames that carried moves

    async def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        output = await self.communicator.receive_output(timeout)
        assert output["type"] == "websocket.send", f"expected a frame, got {output}"
        frame: dict[str, Any] = json.loads(output["text"])
        if "moves" in frame:
            self.moves = frame.pop("moves")
            self.frames_with_moves.append(frame["type"])
        return frame

    async def recv_many(self, count: int) -> list[dict[str, Any]]:
        return [await self.recv() for _ in range(count)]

    async def send(self, frame_type: str, payload: dict[str, Any] | None = None) -> int:
        """Send a frame with the next client seq; that seq (the `ref` of any answer)."""
        self.client_seq += 1
        await self.communicator.send_to(
            text_data=json.dumps(
                {"type": frame_type, "seq": self.client_seq, "payload": payload or {}}
            )
        )
        return self.client_seq

    async def send_text(self, text: str) -> None:
        await self.communicator.send_to(text_data=text)

    async def closed(self, timeout: float = TIMEOUT) -> int:
        """The close code the relay sent."""
        output = await self.communicator.receive_output(timeout)
        assert output["type"] == "websocket.close", f"expected a close, got {output}"
        return int(output["code"])

    async def silent(self) -> None:
        """Nothing more arrives (for a moment)."""
        assert await self.communicator.receive_nothing(timeout=0.2, interval=0.02)

    async def disconnect(self) -> None:
        await self.communicator.disconnect()


class Relay:
    """Opens sockets on the relay as people (session cookie) or as the scanner (device token)
    and disconnects them all at the end of the test."""

    def __init__(self) -> None:
        self.sockets: list[Socket] = []

    async def _open(
        self, path: str, headers: list[tuple[bytes, bytes]], through: Any = application
    ) -> Socket:
        communicator = WebsocketCommunicator(
            through,
            path,
            headers=[(b"origin", b"http://localhost"), (b"host", b"localhost"), *headers],
        )
        socket = Socket(communicator)
        self.sockets.append(socket)
        connected, _ = await communicator.connect(timeout=TIMEOUT)
        assert connected, "the relay accepts first, then closes with a code"
        return socket

    async def person(
        self,
        user: User | None,
        cockpit_id: int,
        *,
        role: str | None = None,
        since: int | str | None = None,
        through: Any = application,
        second_factor: bool = True,
    ) -> Socket:
        """A person's socket (`through`: the ASGI application it is served by), from a session
        that passed the person's second factor if they have one (not if not `second_factor`)."""
        headers = []
        if user is not None:
            cookie = await database_sync_to_async(session_cookie)(user, second_factor=second_factor)
            headers.append((b"cookie", cookie.encode()))
        query = urlencode(
            {key: value for key, value in (("role", role), ("since", since)) if value is not None}
        )
        return await self._open(
            f"/ws/cockpit/{cockpit_id}/" + (f"?{query}" if query else ""), headers, through
        )

    async def scanner(self, token: str, *, through: Any = application) -> Socket:
        return await self._open(
            "/ws/cockpit/scanner/", [(b"authorization", f"Device {token}".encode())], through
        )

    async def store_presence(self, cockpit: CockpitSession) -> list[dict[str, Any]]:
        """Who the relay's store says is connected to the session."""
        return await store().presence_list(store_prefix(cockpit))

    async def close_all(self) -> None:
        # A socket whose application was cancelled (its test timed out) answers the disconnect
        # with CancelledError: suppressed too, or the test database is not flushed after it and
        # every later test fails on its leftovers.
        for socket in self.sockets:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await socket.disconnect()


@pytest_asyncio.fixture
async def relay(relay_store: MemoryStore | RedisStore) -> AsyncIterator[Relay]:
    sockets = Relay()
    yield sockets
    await sockets.close_all()
