"""The relay's fan-out: how a session event reaches the sockets of this process, in seq order.

Every session event is numbered and kept by the store (`cockpit.store`) in one atomic step that
also hands it to every process:

- on Redis, the publish script PUBLISHes it on the session's bus channel
  (`store_key(prefix, "bus")`) in the same call that allocates its seq, so Redis hands a
  session's events to every subscriber in seq order whichever process published them. Each
  process (each event loop) runs ONE `RedisFanout`: one pub/sub connection of its own, a channel
  subscribed while at least one local socket is in that session, and one reader that calls each
  local socket's `event_deliver` directly, in order (no channel layer, no per-socket queue or
  task: one parse per event per process, not one per socket);
- in the embedded mode the memory store hands the event to the process's `MemoryFanout` before
  anything else can publish (no await between the seq and the hand-over).

A socket registers when it enters the session (`register`, which returns once the subscription
is confirmed: anything published after that reaches it, so a history read after it misses
nothing) and unregisters when it leaves. When the Redis connection is lost, the fan-out
reconnects with backoff, subscribes again to every channel, and asks every local socket to catch
up (`event_resync`): events may have been published meanwhile.

The bus message is `kind \\n seq \\n ended(0/1) \\n room JSON or "" \\n envelope text`: what the
consumers need, without parsing the envelope.

`seen` keeps, per session, the highest seq this process has seen: the store's publish passes it
as a floor, so that a session's counter lost with Redis's data never starts again below it.
"""

import asyncio
import contextlib
import json
import logging
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from cockpit.groups import store_key
from cockpit.resp import RedisReplyError, RespProtocol, command, connect, login

logger = logging.getLogger(__name__)

# Reconnecting to Redis: the first retry at once, then doubling up to this.
BACKOFF_MAX_S = 2.0
# How long a socket entering a session waits for Redis to confirm its subscription.
CONFIRM_TIMEOUT_S = 10.0

# The highest seq seen per session by this process (every loop's fan-out and every publisher).
seen: dict[str, int] = {}


def seq_floor(prefix: str) -> int:
    """The highest seq of the session this process has seen (0: none)."""
    return seen.get(prefix, 0)


# Sessions whose highest seq is remembered, at most (the oldest are let go beyond it).
SEEN_MAX = 20_000


def seen_note(prefix: str, seq: int) -> None:
    if seq > seen.get(prefix, 0):
        if prefix not in seen and len(seen) >= SEEN_MAX:
            del seen[next(iter(seen))]  # the session noted first: long over by now
        seen[prefix] = seq


@dataclass(frozen=True, slots=True)
class Event:
    """One session event as the sockets need it: its envelope text as built by the store."""

    prefix: str
    kind: str
    seq: int
    text: str
    ended: bool = False
    room: dict[str, Any] | None = None  # the rules' view of the session (MOVES_EVENTS)


class Listener(Protocol):
    async def event_deliver(self, event: Event) -> None:
        """Send one event to the socket (called in seq order; never blocks on the socket)."""
        ...

    def event_resync(self) -> None:
        """Events may have been missed (the bus was down): catch up from the last seq sent."""
        ...


def bus_message(kind: str, seq: int, text: str, *, ended: bool, room_text: str) -> str:
    """The bus message, as the Redis publish script builds it (tests, the memory path)."""
    return f"{kind}\n{seq}\n{'1' if ended else '0'}\n{room_text}\n{text}"


def bus_event(prefix: str, message: str) -> Event:
    kind, seq, ended, room, text = message.split("\n", 4)
    return Event(
        prefix=prefix,
        kind=kind,
        seq=int(seq),
        text=text,
        ended=ended == "1",
        room=json.loads(room) if room else None,
    )


class Fanout:
    """The sockets of this process, per session, and the ordered hand-over of events to them."""

    def __init__(self) -> None:
        self.listeners: dict[str, list[Listener]] = {}
        self._queue: deque[Event] = deque()
        self._draining = False
        self._drainer: asyncio.Task[None] | None = None

    async def register(self, prefix: str, listener: Listener) -> None:
        self.listeners.setdefault(prefix, []).append(listener)

    async def unregister(self, prefix: str, listener: Listener) -> None:
        listeners = self.listeners.get(prefix)
        if listeners is None or listener not in listeners:
            return
        listeners.remove(listener)
        if not listeners:
            del self.listeners[prefix]

    def hand_over(self, event: Event) -> None:
        """Take `event` now (its place in the order is taken here); it is sent to the sockets
        by a drain on the running loop, as soon as the caller yields."""
        self._queue.append(event)
        loop = asyncio.get_running_loop()
        drainer = self._drainer
        if drainer is not None and drainer.get_loop() is not loop:
            self._draining = False  # a loop that is gone (tests: each has its own)
            drainer = None
        if drainer is None or drainer.done():
            self._drainer = loop.create_task(self.drain())

    async def deliver(self, event: Event) -> None:
        """Hand `event` to the session's sockets, after every event handed over before it."""
        self._queue.append(event)
        await self.drain()

    async def drain(self) -> None:
        """Send what was handed over, oldest first (one drain at a time: a socket's send that
        yields does not let a later event overtake)."""
        if self._draining:
            return
        self._draining = True
        try:
            while self._queue:
                current = self._queue.popleft()
                seen_note(current.prefix, current.seq)
                for listener in tuple(self.listeners.get(current.prefix, ())):
                    try:
                        await listener.event_deliver(current)
                    except Exception:  # one socket's failure is not the others'
                        logger.debug("cockpit fan-out: a socket refused an event", exc_info=True)
        finally:
            self._draining = False


class MemoryFanout(Fanout):
    """The embedded mode: the memory store calls `hand_over` as it numbers each event."""


# --- Redis ------------------------------------------------------------------------------------


class RedisFanout(Fanout):
    """One pub/sub connection and one reader for the sessions of this process's sockets."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.client_id: int | None = None  # Redis's CLIENT ID of the connection (tests kill it)
        self._protocol: RespProtocol | None = None
        self._connected = asyncio.Event()
        self._lost = asyncio.Event()
        self._subscribed: set[str] = set()
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        self._hello: asyncio.Future[Any] | None = None
        # Bus messages (channel, message) as they came; None where a new connection began.
        self._incoming: deque[tuple[str, str] | None] = deque()
        self._reconnecting = False  # a connection was made before: the next one resyncs
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._reader: asyncio.Task[None] | None = None

    # --- What sockets call ---

    async def register(self, prefix: str, listener: Listener) -> None:
        await super().register(prefix, listener)
        await self._subscribe(store_key(prefix, "bus"))

    async def unregister(self, prefix: str, listener: Listener) -> None:
        await super().unregister(prefix, listener)
        if prefix not in self.listeners:
            channel = store_key(prefix, "bus")
            self._subscribed.discard(channel)
            self._confirmations.pop(channel, None)
            if self._protocol is not None and self._protocol.transport is not None:
                self._protocol.transport.write(command("UNSUBSCRIBE", channel))

    async def aclose(self) -> None:
        for task in (self._runner, self._reader):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()

    # --- The connection ---

    async def _subscribe(self, channel: str) -> None:
        """Subscribe (once per channel) and wait for Redis to confirm it; when Redis is away,
        the reconnection subscribes and resyncs every socket instead."""
        self._start()
        if channel in self._subscribed:
            confirmed = self._confirmations.get(channel)
            if confirmed is not None and not confirmed.done():
                await asyncio.wait({confirmed}, timeout=CONFIRM_TIMEOUT_S)
            return
        self._subscribed.add(channel)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), CONFIRM_TIMEOUT_S)
        protocol = self._protocol
        if protocol is None or protocol.transport is None:
            return  # reconnecting: it subscribes to this channel too
        confirmed = self._confirmations.get(channel)
        if confirmed is None:  # else the connection's own SUBSCRIBE carries it
            confirmed = self._confirmations[channel] = asyncio.get_running_loop().create_future()
            protocol.transport.write(command("SUBSCRIBE", channel))
        await asyncio.wait({confirmed}, timeout=CONFIRM_TIMEOUT_S)

    def _start(self) -> None:
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run())
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read())

    async def _run(self) -> None:
        """Connect, and connect again whenever the connection is lost."""
        backoff = 0.0
        while True:
            try:
                await self._connect()
            except (OSError, RedisReplyError, TimeoutError, asyncio.CancelledError) as error:
                current = asyncio.current_task()
                if isinstance(error, asyncio.CancelledError) and current and current.cancelling():
                    raise  # closed (aclose); else a confirmation cancelled by a lost connection
                backoff = min(max(backoff * 2, 0.05), BACKOFF_MAX_S)
                logger.warning(
                    "cockpit fan-out: Redis unreachable (%s); again in %.2fs", error, backoff
                )
                await asyncio.sleep(backoff)
                continue
            backoff = 0.0
            await self._lost.wait()

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        self._lost = asyncio.Event()
        self._connected.clear()
        transport, protocol = await connect(self.url, self._on_reply, self._on_lost)
        self._protocol = protocol
        setup = [*login(self.url), command("CLIENT", "ID")]
        self._hello = loop.create_future()
        self._pending_setup = len(setup)
        transport.write(b"".join(setup))
        try:
            self.client_id = await asyncio.wait_for(self._hello, timeout=5)
            if self._reconnecting:
                # Before any message of this connection (it subscribes below): the sockets are
                # told to catch up, in order after what the lost connection brought and before
                # what this one brings, so that no live event goes out ahead of those missed.
                self._incoming.append(None)
                self._wake.set()
            self._reconnecting = True
            channels = sorted(self._subscribed)
            self._confirmations.clear()
            for channel in channels:
                self._confirmations[channel] = loop.create_future()
            if channels:
                transport.write(command("SUBSCRIBE", *channels))
                await asyncio.wait_for(
                    asyncio.gather(*(self._confirmations[channel] for channel in channels)), 10
                )
        except BaseException:
            self._protocol = None
            transport.close()
            raise
        self._connected.set()

    def _on_lost(self, protocol: RespProtocol) -> None:
        if protocol is not self._protocol:
            return  # a connection given up already
        self._protocol = None
        self._connected.clear()
        self._lost.set()
        if self._hello is not None and not self._hello.done():
            self._hello.cancel()
        for future in self._confirmations.values():
            if not future.done():
                future.cancel()

    def _on_reply(self, reply: Any) -> None:
        if isinstance(reply, list) and reply:
            kind = reply[0]
            if kind == b"message":
                self._incoming.append((reply[1].decode(), reply[2].decode()))
                self._wake.set()
            elif kind == b"subscribe":
                confirmed = self._confirmations.get(reply[1].decode())
                if confirmed is not None and not confirmed.done():
                    confirmed.set_result(None)
            return
        if self._hello is not None and not self._hello.done():
            if isinstance(reply, RedisReplyError):
                self._hello.set_exception(reply)
                return
            self._pending_setup -= 1
            if self._pending_setup == 0:
                self._hello.set_result(reply)
            return
        if isinstance(reply, RedisReplyError):
            logger.warning("cockpit fan-out: Redis said %s", reply)

    async def _read(self) -> None:
        """Hand each message to the session's sockets, in the order Redis sent them."""
        prefix_of: dict[str, str] = {}
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._incoming:
                incoming = self._incoming.popleft()
                if incoming is None:
                    logger.warning("cockpit fan-out: reconnected to Redis; sockets resync")
                    for listeners in list(self.listeners.values()):
                        for listener in tuple(listeners):
                            listener.event_resync()
                    continue
                channel, message = incoming
                prefix = prefix_of.get(channel)
                if prefix is None:
                    prefix = prefix_of[channel] = channel.removesuffix(":bus")
                    if len(prefix_of) > 10000:
                        prefix_of.clear()
                try:
                    event = bus_event(prefix, message)
                except ValueError:
                    logger.warning("cockpit fan-out: an unreadable bus message on %s", channel)
                    continue
                await self.deliver(event)


_memory = MemoryFanout()
_redis: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, RedisFanout]] = (
    weakref.WeakKeyDictionary()
)


def memory_fanout() -> MemoryFanout:
    return _memory


def redis_fanout(url: str) -> RedisFanout:
    """This event loop's fan-out for the Redis at `url` (a server has one loop; each async test
    its own)."""
    loop = asyncio.get_running_loop()
    per_url = _redis.setdefault(loop, {})
    fanout = per_url.get(url)
    if fanout is None:
        fanout = per_url[url] = RedisFanout(url)
    return fanout


async def redis_fanouts_close() -> None:
    """Close this event loop's Redis fan-outs (tests: before their loop goes away)."""
    loop = asyncio.get_running_loop()
    for fanout in _redis.pop(loop, {}).values():
        await fanout.aclose()
