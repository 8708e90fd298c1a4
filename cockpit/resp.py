"""Redis's wire protocol (RESP2) on asyncio, for the relay's own connections: the pub/sub
connection of the fan-out (`cockpit.fanout`) and the store's pipelined connection for its hot
calls (`RedisPipe`, used by `cockpit.store.RedisStore`).

redis-py's per-call machinery (a pool checkout under a timeout, a timeout around each send and
read, retries, its encoder) cost more CPU than Redis's own work on the relay's hot path: a
publish per scanner frame, a link entry per probe echo. `RedisPipe` writes each call at once on
one connection per event loop and matches the replies in order: many calls in flight, one
system call each way, no pool and no per-call timeout. It raises what redis-py raises, so
callers (`core.outage`, the consumer's `unavailable` frame) see no difference:
`redis.exceptions.ConnectionError` when the connection is lost or cannot be made (the next call
connects again) and `redis.exceptions.ResponseError` for an error reply.
"""

import asyncio
import contextlib
import hashlib
import socket
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

import redis.exceptions

# How long connecting (and Redis's answer to the connection's first commands) may take.
CONNECT_TIMEOUT_S = 5.0
# Scripts' encoded heads kept per connection (one per session published to; beyond this, all
# are let go and made again as needed).
HEADS_MAX = 10_000


class RedisReplyError(Exception):
    """An error reply, as parsed (`-ERR ...`): the caller decides what it means."""


def command(*parts: str | bytes | int) -> bytes:
    """One command, encoded as Redis reads it (an array of bulk strings)."""
    return b"*%d\r\n%s" % (len(parts), bulks(parts))


def bulks(parts: tuple[str | bytes | int, ...] | list[Any]) -> bytes:
    """`parts` as bulk strings, without the array's header (a command's parts made once can be
    kept, and joined to the rest with the header of the whole)."""
    encoded = [part if type(part) is bytes else str(part).encode() for part in parts]
    return b"".join([b"$%d\r\n%s\r\n" % (len(data), data) for data in encoded])


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


def _address(url: str) -> str:
    """Where the Redis at `url` is, for messages (not its password)."""
    parts = urlsplit(url)
    return f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379}"


class _Waiting:
    """A batch of commands written at once, and the replies that came back for it so far."""

    __slots__ = ("count", "future", "replies")

    def __init__(self, future: "asyncio.Future[list[Any]]", count: int) -> None:
        self.future = future
        self.count = count
        self.replies: list[Any] = []


class RedisPipe:
    """One pipelined connection to Redis for one event loop. A call writes its commands at once
    (or, while connecting, queues them to be written right after the connection's first
    commands) and waits for its replies, which Redis sends in the order it read the commands:
    calls are served in the order they were made, and a call's replies never reach another."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client_id: int | None = None  # Redis's CLIENT ID of the connection (tests kill it)
        self._protocol: RespProtocol | None = None
        self._waiting: deque[_Waiting] = deque()
        self._unsent: list[bytes] = []  # written once the connection is made
        self._connecting: asyncio.Task[None] | None = None
        self._digests: dict[str, str] = {}  # a script's text -> its SHA1, as Redis names it
        # (script, keys) -> `EVALSHA sha numkeys keys...` as bulk strings: a session's publish
        # names the same script and keys for each event.
        self._heads: dict[tuple[str, tuple[str, ...]], bytes] = {}

    async def execute(self, *commands: bytes) -> list[Any]:
        """Send `commands` (from `command`) at once; their replies, in order. The first error
        reply raises ResponseError (after every reply is in: the connection stays in step)."""
        transport = self._protocol.transport if self._protocol is not None else None
        if transport is not None and transport.is_closing():
            # Its end is on its way: what waits on it fails now, and this call connects anew.
            self._lost(f"Connection to Redis at {_address(self.url)} lost")
            transport = None
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(future, len(commands)))
        payload = b"".join(commands)
        if transport is not None:
            transport.write(payload)
        else:
            self._unsent.append(payload)
            if self._connecting is None:
                self._connecting = asyncio.create_task(self._connect())
        replies = await future
        for reply in replies:
            if isinstance(reply, RedisReplyError):
                raise redis.exceptions.ResponseError(str(reply))
        return replies

    async def evalsha(self, script: str, keys: tuple[str, ...], args: list[Any]) -> Any:
        """Run a Lua script by its digest; when Redis does not know it (restarted, or its script
        cache flushed), send it whole with EVAL, which also caches it again."""
        sha = self._digests.get(script)
        if sha is None:
            sha = self._digests[script] = hashlib.sha1(
                script.encode(), usedforsecurity=False
            ).hexdigest()
        head = self._heads.get((script, keys))
        if head is None:
            if len(self._heads) >= HEADS_MAX:
                self._heads.clear()
            head = self._heads[script, keys] = bulks(("EVALSHA", sha, len(keys), *keys))
        try:
            (reply,) = await self.execute(
                b"*%d\r\n%s%s" % (3 + len(keys) + len(args), head, bulks(args))
            )
        except redis.exceptions.ResponseError as error:
            if not str(error).startswith("NOSCRIPT"):
                raise
            (reply,) = await self.execute(command("EVAL", script, len(keys), *keys, *args))
        return reply

    async def aclose(self) -> None:
        """Close the connection; calls still waiting raise ConnectionError."""
        connecting = self._connecting
        if connecting is not None:
            connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await connecting
        protocol = self._protocol
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()
        self._lost("the connection was closed")

    async def _connect(self) -> None:
        """Connect, log in, then write what was called meanwhile; on failure every waiting call
        raises ConnectionError (the next call tries again)."""
        setup = [*login(self.url), command("CLIENT", "ID")]
        hello: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        transport: asyncio.Transport | None = None
        try:
            transport, protocol = await connect(self.url, self._on_reply, self._on_lost)
            # The first replies are the set-up's: ahead of every call waiting.
            self._waiting.appendleft(_Waiting(hello, len(setup)))
            self._protocol = protocol
            unsent, self._unsent = self._unsent, []
            transport.write(b"".join(setup + unsent))
            # A Redis that takes the connection but does not answer: dropped, which fails
            # `hello` and every call waiting.
            silent = asyncio.get_running_loop().call_later(CONNECT_TIMEOUT_S, transport.abort)
            try:
                replies = await hello
            finally:
                silent.cancel()
            for reply in replies:
                if isinstance(reply, RedisReplyError):
                    raise redis.exceptions.AuthenticationError(f"Redis refused us: {reply}")
            self.client_id = replies[-1]
        except (OSError, TimeoutError, redis.exceptions.ConnectionError) as error:
            if transport is not None:
                transport.close()
            self._lost(f"Error connecting to Redis at {_address(self.url)}: {error}")
        except asyncio.CancelledError:
            if transport is not None:
                transport.close()
            raise
        finally:
            self._connecting = None

    def _on_reply(self, reply: Any) -> None:
        waiting = self._waiting[0]
        waiting.replies.append(reply)
        if len(waiting.replies) == waiting.count:
            self._waiting.popleft()
            if not waiting.future.done():  # else its caller was cancelled: nobody to tell
                waiting.future.set_result(waiting.replies)

    def _on_lost(self, protocol: RespProtocol) -> None:
        if protocol is self._protocol:
            self._lost(f"Connection to Redis at {_address(self.url)} lost")

    def _lost(self, message: str) -> None:
        """Every waiting call raises ConnectionError; the next call connects again."""
        self._protocol = None
        self._unsent = []
        waiting, self._waiting = self._waiting, deque()
        for entry in waiting:
            if not entry.future.done():
                entry.future.set_exception(redis.exceptions.ConnectionError(message))
