"""Redis's wire protocol (RESP2) on asyncio, for the relay's own connections: the pub/sub
connection of the fan-out (`cockpit.fanout`).
"""

import asyncio
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

# How long connecting (and Redis's answer to the connection's first commands) may take.
CONNECT_TIMEOUT_S = 5.0


class RedisReplyError(Exception):
    """An error reply, as parsed (`-ERR ...`): the caller decides what it means."""


def command(*parts: str | bytes | int) -> bytes:
    """One command, encoded as Redis reads it (an array of bulk strings)."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        data = part if isinstance(part, bytes) else str(part).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def parse(buffer: bytearray, position: int) -> tuple[Any, int] | None:
    """One RESP2 reply from `position`: (reply, the position after it), None if incomplete."""
    end = buffer.find(b"\r\n", position)
    if end < 0:
        return None
    marker, line = buffer[position], bytes(buffer[position + 1 : end])
    after = end + 2
    if marker == 0x24:  # $ bulk string
        size = int(line)
        if size < 0:
            return None, after
        if len(buffer) < after + size + 2:
            return None
        return bytes(buffer[after : after + size]), after + size + 2
    if marker == 0x2A:  # * array
        count = int(line)
        items = []
        for _ in range(max(count, 0)):
            parsed = parse(buffer, after)
            if parsed is None:
                return None
            item, after = parsed
            items.append(item)
        return items, after
    if marker == 0x3A:  # : integer
        return int(line), after
    if marker == 0x2D:  # - error
        return RedisReplyError(line.decode("utf-8", "replace")), after
    return line, after  # + simple string


class RespProtocol(asyncio.Protocol):
    """A connection's replies, parsed as they arrive; each complete reply is handed to
    `on_reply` without waiting for the event loop."""

    def __init__(
        self, on_reply: Callable[[Any], None], on_lost: Callable[["RespProtocol"], None]
    ) -> None:
        self.buffer = bytearray()
        self.on_reply = on_reply
        self.on_lost = on_lost
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.on_lost(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        position = 0
        while True:
            parsed = parse(self.buffer, position)
            if parsed is None:
                break
            reply, position = parsed
            self.on_reply(reply)
        if position:
            del self.buffer[:position]


async def connect(
    url: str, on_reply: Callable[[Any], None], on_lost: Callable[[RespProtocol], None]
) -> tuple[asyncio.Transport, RespProtocol]:
    """A connection to the Redis at `url` (TLS for rediss://), with TCP keepalive: a connection
    that dies without a word (a host gone) is noticed, not waited on forever."""
    parts = urlsplit(url)
    transport, protocol = await asyncio.wait_for(
        asyncio.get_running_loop().create_connection(
            lambda: RespProtocol(on_reply, on_lost),
            parts.hostname or "127.0.0.1",
            parts.port or 6379,
            ssl=parts.scheme == "rediss" or None,
        ),
        timeout=CONNECT_TIMEOUT_S,
    )
    raw = transport.get_extra_info("socket")
    if raw is not None:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    return transport, protocol


def login(url: str) -> list[bytes]:
    """The commands a new connection sends first: AUTH when the URL has a password, SELECT
    when it names a database other than 0 (redis://host:port/db)."""
    parts = urlsplit(url)
    commands = []
    if parts.password:
        user = unquote(parts.username) if parts.username else "default"
        commands.append(command("AUTH", user, unquote(parts.password)))
    database = parts.path.strip("/")
    if database and database != "0":
        commands.append(command("SELECT", database))
    return commands
