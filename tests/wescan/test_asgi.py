"""The websocket server as clients meet it, on a real Daphne process: a message over Daphne's
size limit (1 MiB) is answered with a close frame, 1009, not a dropped connection (1006)."""

import contextlib
import socket
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.sessions import InstanceSessionWrapper
from twisted.internet.protocol import Protocol
from twisted.internet.tcp import Connection
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

import wescan.asgi  # noqa: F401 (TCP connections write at once from its import on)
from tests.cockpit.conftest import session_cookie
from tests.conftest import World
from tests.live_daphne import live_daphne

TIMEOUT = 10
MEBIBYTE = 1024 * 1024


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_message_over_a_mebibyte_is_closed_with_1009(world: World) -> None:
    cookie = await database_sync_to_async(session_cookie)(world.manager)
    with live_daphne(1) as (server,):
        async with connect(
            f"{server.ws_url}/ws/notifications/",
            additional_headers={"Cookie": cookie},
            origin=Origin(server.url),
            proxy=None,
            open_timeout=TIMEOUT,
            max_size=None,
        ) as ws:
            assert '"type": "hello"' in str(await ws.recv())
            await ws.send("x" * (MEBIBYTE + 1))
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
        1009,
        f"received WebSocket message size {MEBIBYTE + 1} exceeds payload limit of {MEBIBYTE} "
        "octets",
    )


class Reactor:
    """Just the part of a reactor a connection asks to watch its socket for writing."""

    def __init__(self) -> None:
        self.writers: list[object] = []

    def addWriter(self, writer: object) -> None:
        if writer not in self.writers:
            self.writers.append(writer)

    def removeWriter(self, writer: object) -> None:
        if writer in self.writers:
            self.writers.remove(writer)


@pytest.fixture
def pair() -> Iterator[tuple[Connection, socket.socket, Reactor]]:
    """A Twisted TCP connection, the socket at its other end, and the connection's reactor."""
    server, peer = socket.socketpair()
    reactor = Reactor()
    connection = Connection(server, Protocol(), reactor)
    connection.connected = True
    peer.setblocking(False)
    with server, peer:
        yield connection, peer, reactor


def test_a_frame_to_an_idle_socket_leaves_at_once_without_waking_the_loop(
    pair: tuple[Connection, socket.socket, Reactor],
) -> None:
    connection, peer, reactor = pair
    connection.write(b"frame one")
    connection.write(b"frame two")
    assert peer.recv(100) == b"frame oneframe two"
    assert reactor.writers == []


def test_what_a_slow_reader_has_not_taken_waits_and_later_frames_queue_behind_it(
    pair: tuple[Connection, socket.socket, Reactor],
) -> None:
    connection, peer, reactor = pair
    backlog = bytes(range(256)) * 16 * 1024  # 4 MiB: more than the socket buffers hold
    connection.write(backlog)
    connection.write(b"the next frame")
    assert reactor.writers == [connection]
    received = bytearray()
    while reactor.writers:
        with contextlib.suppress(BlockingIOError):
            received += peer.recv(1024 * 1024)
        connection.doWrite()
    received += peer.recv(1024 * 1024)
    assert bytes(received) == backlog + b"the next frame"


def test_a_write_to_a_reset_socket_is_left_to_twisted_to_report(
    pair: tuple[Connection, socket.socket, Reactor],
) -> None:
    connection, peer, reactor = pair
    peer.close()
    connection.write(b"too late")
    assert reactor.writers == [connection]
    assert connection.doWrite() is not None


class Untouchable:
    """A session that fails the test if anything looks at it."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the session was looked at ({name}) for a websocket frame")


@pytest.mark.asyncio
async def test_a_websocket_frame_goes_out_without_looking_at_the_session() -> None:
    sent: list[dict[str, Any]] = []

    async def server_send(message: dict[str, Any]) -> None:
        sent.append(message)

    wrapper = InstanceSessionWrapper({"cookies": {}}, server_send)
    wrapper.scope["session"] = Untouchable()
    frame = {"type": "websocket.send", "text": '{"type":"state"}'}
    await wrapper.send(frame)
    assert sent == [frame]


class Reader:
    """A socket as the reactor sees it: how often its log prefix was asked for."""

    def __init__(self) -> None:
        self.prefixes_read = 0

    def logPrefix(self) -> str:
        self.prefixes_read += 1
        return "WebSocketProtocol,0,127.0.0.1"


def test_a_read_runs_without_twisteds_log_context_and_gives_back_what_it_returns() -> None:
    from twisted.internet import asyncioreactor
    from twisted.python import context, log

    reader = Reader()
    seen: list[dict[str, str]] = []

    def read(a: int, b: int = 0) -> int:
        seen.append(context.get(log.ILogContext))
        return a + b

    assert asyncioreactor.callWithLogger(reader, read, 2, b=3) == 5
    assert reader.prefixes_read == 0
    assert seen == [{"system": "-"}]


def test_a_readers_failure_is_logged_not_raised_into_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from twisted.internet import asyncioreactor
    from twisted.python import log

    logged: list[BaseException] = []
    monkeypatch.setattr(log, "err", lambda **kw: logged.append(sys.exc_info()[1]))  # type: ignore[arg-type]

    def failing() -> None:
        raise OSError("connection reset")

    assert asyncioreactor.callWithLogger(Reader(), failing) is None
    assert [str(error) for error in logged] == ["connection reset"]
