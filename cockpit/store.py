"""The relay's shared state, in the channel layer's backing store: Redis when `REDIS_URL` is set
(so that every Daphne process sees one session), else process-local memory (the embedded mode is
one Daphne process).

Per cockpit session (keys under `cockpit.groups.store_prefix(cockpit)`):
- `seq`: the session's event counter; every event gets the next number. It never goes back: a
  publisher passes the highest seq its process has seen (`cockpit.fanout.seq_floor`), and a
  counter lost with Redis's data starts again above it (the history then no longer reaches
  back: `since` answers None, and the client gets a snapshot that says `lost`);
- `bus` (a pub/sub channel, not a key): every event, published in the same atomic step that
  numbers it, so every process's fan-out (`cockpit.fanout`) gets a session's events in seq
  order whichever process published them;
- `events` and `chat_events`: the history, as ready-to-send envelope texts, so that a client that
  missed some events gets them back at once (`since`), or a snapshot when it is too far behind.
  Chat has a history of its own: the last CHAT_HISTORY_MAX chat lines beside the last HISTORY_MAX
  other events, so that a conversation (or a flood the rate limit let through) never pushes the
  console's events out. `since` reaches back as far as both do (`events_dropped` and
  `chat_dropped`: the last seq each has let go), and merges them in seq order;
- `snapshot`: the latest full console state and the seq of the event that carried it;
- `chat`: the last CHAT_MAX chat payloads (late joiners see the conversation);
- `activity`: the last ACTIVITY_MAX entries of the activity log (joins and leaves, control,
  commands and the scanner's refusals, STOPs and their reasons, help, the session's start and
  end), each `{type, seq, at, payload}` with a trimmed payload (`activity_payload`): a reload or
  a late joiner sees what happened, as it sees the chat;
- `stop` / `control`: the seqs of the last `stop` and the last `control` event. A console command
  is published only with a fence (`publish(..., fence=...)`): refused when a STOP came after the
  command was checked, or after the last change of control (the STOP's own change of control is
  still on its way to the database). So nothing checked before a STOP reaches the scanner after
  it;
- `presence`: one entry per connected socket (channel name -> person, joined, last seen). Each
  consumer refreshes its own entry (`presence_touch`) every PRESENCE_HEARTBEAT_S while its socket
  is in the session, and only then; entries not refreshed for PRESENCE_TTL_S (their process died,
  or their socket went without removing them) are left out of the list and pruned. The times are
  read from the store's `clock` (the wall clock: shared by every process; tests move their own).

- `link`: one entry per person's socket (channel name -> user id, role, when last heard, the
  link figures last told): the link check (`cockpit.link`). The relay writes it when it hears
  the socket (at most once a probe interval) and removes it when the socket goes; a socket
  whose process died stays with its last-heard time, so that another process's watchdog sees
  its controller fall silent. Its times are read from `clock`, as presence's are.

`publish` builds an event's envelope text once: the relay sends that same text to every socket.
On Redis it is one round trip (a Lua script allocates the seq, builds the text, appends it to the
history, keeps the chat line or the console state, and PUBLISHes it on the bus); every key
expires KEY_TTL_S after the last write. In memory, `publish` hands the event to the process's
fan-out before it returns, with no await in between.
"""

import asyncio
import heapq
import json
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Protocol

import orjson
from django.conf import settings

from cockpit.fanout import Event, Fanout, memory_fanout, redis_fanout, seen_note, seq_floor
from cockpit.groups import store_key
from cockpit.resp import RedisPipe, command

HISTORY_MAX = 600
# A person at the rate limit (settings.COCKPIT_PERSON_FRAMES: 5 a second) fills this in a minute,
# about as long as the scanner's state frames (10 a second) take to fill HISTORY_MAX.
CHAT_HISTORY_MAX = 300
CHAT_MAX = 50
ACTIVITY_MAX = 200
# The events the activity log keeps (some only in part, see `activity_payload`).
ACTIVITY_EVENTS = frozenset(
    {"command", "ack", "stop", "stops", "control", "presence", "assist", "session"}
)
KEY_TTL_S = 24 * 3600
PRESENCE_HEARTBEAT_S = 10.0
PRESENCE_TTL_S = 30.0


@dataclass(frozen=True)
class Snapshot:
    seq: int  # the session's current seq (0: nothing happened yet)
    state: dict[str, Any] | None  # the latest full console state
    state_seq: int | None  # the seq of the event that carried it
    chat: list[dict[str, Any]]  # the last CHAT_MAX chat payloads, oldest first
    # the last ACTIVITY_MAX activity entries, oldest first
    activity: list[dict[str, Any]] = field(default_factory=list)


class RelayStore(Protocol):
    clock: Callable[[], float]  # presence times (seconds, shared by every process)

    def fanout(self) -> Fanout:
        """The fan-out that hands this store's events to this process's sockets."""
        ...

    async def publish(
        self,
        prefix: str,
        event_type: str,
        payload: dict[str, Any],
        *,
        snapshot_state: dict[str, Any] | None = None,
        fence: int | None = None,
        ended: bool = False,
        room: dict[str, Any] | None = None,
        from_frame: bool = False,
    ) -> tuple[int, str]:
        """Number the event, keep it, hand it to every process's fan-out (`cockpit.fanout`) in
        the same step, and return (seq, envelope text); (0, "") when `fence` is given and a STOP
        came after it or after the last change of control. `ended`: the session is over;
        `room`: the rules' view of the session after the change (`selectors.room_data`);
        `from_frame`: `payload` and `snapshot_state` hold only what was read from a frame
        (`frame_dumps` may write them)."""
        ...

    async def stop_seq(self, prefix: str) -> int:
        """The seq of the session's last STOP (0: none)."""
        ...

    async def forget(self, prefix: str) -> None:
        """The session ended: drop what is kept only for a live session."""
        ...

    async def since(self, prefix: str, seq: int) -> list[str] | None:
        """The envelope texts of the events after `seq`, oldest first; None when the history no
        longer reaches back that far (or `seq` is from the future: a store that was wiped)."""
        ...

    async def snapshot(self, prefix: str) -> Snapshot: ...

    async def presence_touch(
        self,
        prefix: str,
        channel: str,
        person: dict[str, Any],
        *,
        joined: float,
        now: float | None = None,
    ) -> None:
        """Add or refresh one socket's presence entry."""
        ...

    async def presence_remove(self, prefix: str, channel: str) -> bool:
        """Remove a socket's entry; True if it was there."""
        ...

    async def presence_list(self, prefix: str, *, now: float | None = None) -> list[dict[str, Any]]:
        """Who is connected (fresh entries only), in the order they joined; a person connected
        twice in the same role appears once."""
        ...

    async def presence_prune(
        self, prefix: str, *, now: float | None = None
    ) -> list[dict[str, Any]]:
        """Remove stale entries (their process died); the persons whose entries this call
        removed (so that exactly one consumer announces each departure)."""
        ...

    async def link_touch(self, prefix: str, channel: str, entry: dict[str, Any]) -> None:
        """Write one socket's link entry (`user`, `role`, `person`, `heard`, `figures`)."""
        ...

    async def link_remove(self, prefix: str, channel: str) -> None: ...

    async def link_entries(self, prefix: str) -> dict[str, dict[str, Any]]:
        """Every socket's link entry, by channel name."""
        ...


def activity_payload(event_type: str, payload: dict[str, Any]) -> dict[str, Any] | None:
    """What the activity log keeps of an event (None: nothing): joins and leaves without the
    whole presence list, the scanner's refusals (not its every acknowledgement), a STOP's reason
    once given, and the session's start and end without its facts."""
    if event_type not in ACTIVITY_EVENTS:
        return None
    if event_type == "presence":
        joined, left = payload.get("joined"), payload.get("left")
        return {"joined": joined, "left": left} if joined or left else None
    if event_type == "ack":
        return payload if payload.get("ok") is False else None
    if event_type == "stops":
        return (
            {"action": "reason", "stop": payload.get("stop")}
            if payload.get("action") == "reason"
            else None
        )
    if event_type == "session":
        outcome = payload.get("outcome") or {}
        return {
            "status": payload.get("status"),
            "outcome": {"label": outcome.get("label")} if outcome else None,
            "ended_reason": payload.get("ended_reason"),
        }
    return payload


def _now_text() -> str:
    """The moment an activity entry is kept, as JSON text (ISO 8601, UTC)."""
    return dumps(datetime.now(UTC).isoformat())


def envelope_text(event_type: str, seq: int, payload_text: str) -> str:
    """The envelope of a session event, built the same way as the Redis script builds it."""
    return f'{{"type":"{event_type}","seq":{seq},"payload":{payload_text}}}'


def dumps(value: Any) -> str:
    """Strict JSON: NaN and infinities are refused (ValueError) rather than sent as tokens that
    no browser parses."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def frame_dumps(value: Any) -> str:
    """`dumps` of what was read from a frame, at a tenth of its cost (orjson; a scanner's state
    frame was encoded twice, itself and the merged console, a tenth of a Daphne's time). Only
    for such values (or the console merged from them, kept in the store and read back at a
    scanner's reconnection): `core.frames.frame_loads` refused every number that is not finite,
    every integer past JavaScript's and every lone surrogate, and their keys are strings;
    orjson would write NaN as null where `dumps` refuses it, and refuses a lone surrogate."""
    return orjson.dumps(value).decode()


def _participants(entries: list[dict[str, Any]], now: float) -> list[dict[str, Any]]:
    fresh = sorted(
        (entry for entry in entries if now - entry["seen"] <= PRESENCE_TTL_S),
        key=lambda entry: entry["joined"],
    )
    seen: set[tuple[Any, ...]] = set()
    people = []
    for entry in fresh:
        person = entry["person"]
        key = (person.get("id"), person.get("role"), person.get("name"))
        if key not in seen:
            seen.add(key)
            people.append(person)
    return people


# --- Process-local memory ---------------------------------------------------------------------


@dataclass
class _History:
    """The last `size` events of one kind (seq, text), and the seq of the last one let go."""

    size: int
    events: deque[tuple[int, str]] = field(default_factory=deque)
    dropped: int = 0

    def add(self, seq: int, text: str) -> None:
        self.events.append((seq, text))
        if len(self.events) > self.size:
            self.dropped = self.events.popleft()[0]

    def after(self, seq: int) -> list[tuple[int, str]] | None:
        """The events after `seq`; None when some of them were let go."""
        if self.dropped > seq:
            return None
        return [event for event in self.events if event[0] > seq]


@dataclass
class _Session:
    seq: int = 0
    history: _History = field(default_factory=lambda: _History(HISTORY_MAX))
    chat_history: _History = field(default_factory=lambda: _History(CHAT_HISTORY_MAX))
    state: str | None = None  # JSON text: copied once per frame, parsed only for a snapshot
    state_seq: int | None = None
    chat: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=CHAT_MAX))
    activity: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=ACTIVITY_MAX))
    presence: dict[str, dict[str, Any]] = field(default_factory=dict)
    link: dict[str, dict[str, Any]] = field(default_factory=dict)
    stop_seq: int = 0
    control_seq: int = 0
    written: float = field(default_factory=time.monotonic)


class MemoryStore:
    """One Daphne process's store. Every method runs without yielding to the event loop, so a
    `publish` is atomic among the consumers of the process."""

    def __init__(self) -> None:
        self._sessions: dict[str, _Session] = {}
        self.clock: Callable[[], float] = time.time

    def reset(self) -> None:
        self._sessions.clear()

    def fanout(self) -> Fanout:
        """The process's fan-out, which `publish` hands every event to."""
        return memory_fanout()

    def _session(self, prefix: str) -> _Session:
        session = self._sessions.get(prefix)
        if session is None:
            self._sweep()
            session = self._sessions[prefix] = _Session()
        return session

    def _sweep(self) -> None:
        """Sessions not written for KEY_TTL_S are dropped, as their Redis keys would expire."""
        now = time.monotonic()
        for prefix, session in list(self._sessions.items()):
            if now - session.written > KEY_TTL_S:
                del self._sessions[prefix]

    async def stop_seq(self, prefix: str) -> int:
        return self._session(prefix).stop_seq

    async def forget(self, prefix: str) -> None:
        self._sessions.pop(prefix, None)

    async def publish(
        self,
        prefix: str,
        event_type: str,
        payload: dict[str, Any],
        *,
        snapshot_state: dict[str, Any] | None = None,
        fence: int | None = None,
        ended: bool = False,
        room: dict[str, Any] | None = None,
        from_frame: bool = False,
    ) -> tuple[int, str]:
        session = self._session(prefix)
        if fence is not None and session.stop_seq > min(fence, session.control_seq):
            return 0, ""
        encode = frame_dumps if from_frame else dumps
        payload_text = encode(payload)
        state_text = encode(snapshot_state) if snapshot_state is not None else None
        session.seq += 1
        session.written = time.monotonic()
        text = envelope_text(event_type, session.seq, payload_text)
        kept = session.chat_history if event_type == "chat" else session.history
        kept.add(session.seq, text)
        if event_type == "stop":
            session.stop_seq = session.seq
        elif event_type == "control":
            session.control_seq = session.seq
        if event_type == "chat":
            session.chat.append(payload)
        kept_activity = activity_payload(event_type, payload)
        if kept_activity is not None:
            session.activity.append(
                {
                    "type": event_type,
                    "seq": session.seq,
                    "at": json.loads(_now_text()),
                    "payload": json.loads(dumps(kept_activity)),
                }
            )
        if state_text is not None:
            # Kept as text: the caller keeps merging deltas into its own dict.
            session.state = state_text
            session.state_seq = session.seq
        seq = session.seq
        # No await between the seq and the hand-over: the process's events go out in seq order.
        memory_fanout().hand_over(
            Event(prefix=prefix, kind=event_type, seq=seq, text=text, ended=ended, room=room)
        )
        return seq, text

    async def since(self, prefix: str, seq: int) -> list[str] | None:
        session = self._session(prefix)
        if seq > session.seq:
            return None
        if seq == session.seq:
            return []
        events = session.history.after(seq)
        chat = session.chat_history.after(seq)
        if events is None or chat is None or len(events) + len(chat) != session.seq - seq:
            return None
        return [text for _, text in heapq.merge(events, chat)]

    async def snapshot(self, prefix: str) -> Snapshot:
        session = self._session(prefix)
        return Snapshot(
            seq=session.seq,
            state=json.loads(session.state) if session.state is not None else None,
            state_seq=session.state_seq,
            chat=list(session.chat),
            activity=list(session.activity),
        )

    async def presence_touch(
        self,
        prefix: str,
        channel: str,
        person: dict[str, Any],
        *,
        joined: float,
        now: float | None = None,
    ) -> None:
        self._session(prefix).presence[channel] = {
            "person": person,
            "joined": joined,
            "seen": self.clock() if now is None else now,
        }

    async def presence_remove(self, prefix: str, channel: str) -> bool:
        return self._session(prefix).presence.pop(channel, None) is not None

    async def presence_list(self, prefix: str, *, now: float | None = None) -> list[dict[str, Any]]:
        entries = list(self._session(prefix).presence.values())
        return _participants(entries, self.clock() if now is None else now)

    async def presence_prune(
        self, prefix: str, *, now: float | None = None
    ) -> list[dict[str, Any]]:
        now = self.clock() if now is None else now
        presence = self._session(prefix).presence
        stale = [key for key, entry in presence.items() if now - entry["seen"] > PRESENCE_TTL_S]
        return [presence.pop(key)["person"] for key in stale]

    async def link_touch(self, prefix: str, channel: str, entry: dict[str, Any]) -> None:
        self._session(prefix).link[channel] = dict(entry)

    async def link_remove(self, prefix: str, channel: str) -> None:
        self._session(prefix).link.pop(channel, None)

    async def link_entries(self, prefix: str) -> dict[str, dict[str, Any]]:
        return {channel: dict(entry) for channel, entry in self._session(prefix).link.items()}


# --- Redis ------------------------------------------------------------------------------------

# The histories are sorted sets scored by seq (their members, the texts, carry the seq: unique).
_PUBLISH_KEYS = (
    "seq",
    "events",
    "snapshot",
    "chat",
    "stop",
    "control",
    "chat_events",
    "events_dropped",
    "chat_dropped",
    "activity",
    "bus",
)

# KEYS: _PUBLISH_KEYS. ARGV: type, payload text, ttl, history max, chat max, "1" to keep a state
# (else "0"), state, fence ("" for none), chat history max, activity payload text ("" for none),
# the moment (JSON text), activity max, the seq floor (the highest seq the publisher's process
# has seen: a counter lost with Redis's data starts above it), "1" when the session ended (else
# "0"), the room's JSON text ("" for none). Returns the seq, or 0 when the fence refuses the
# event. The event goes on the session's bus (`cockpit.fanout.bus_message`) in the same call.
_PUBLISH = """
local ttl = tonumber(ARGV[3])
if ARGV[8] ~= '' then
  local stop = tonumber(redis.call('GET', KEYS[5]) or '0')
  local control = tonumber(redis.call('GET', KEYS[6]) or '0')
  if stop > math.min(tonumber(ARGV[8]), control) then return 0 end
end
local seq = redis.call('INCR', KEYS[1])
local floor = tonumber(ARGV[13])
if seq <= floor then
  seq = floor + 1
  redis.call('SET', KEYS[1], seq, 'EX', ttl)
end
local text = '{"type":"' .. ARGV[1] .. '","seq":' .. seq .. ',"payload":' .. ARGV[2] .. '}'
if ARGV[1] == 'stop' then redis.call('SET', KEYS[5], seq, 'EX', ttl) end
if ARGV[1] == 'control' then redis.call('SET', KEYS[6], seq, 'EX', ttl) end
local kept, dropped, size = KEYS[2], KEYS[8], tonumber(ARGV[4])
if ARGV[1] == 'chat' then kept, dropped, size = KEYS[7], KEYS[9], tonumber(ARGV[9]) end
redis.call('ZADD', kept, seq, text)
local count = redis.call('ZCARD', kept)
local excess = count - size
if excess > 0 then
  local gone = redis.call('ZRANGE', kept, excess - 1, excess - 1, 'WITHSCORES')
  redis.call('SET', dropped, gone[2], 'EX', ttl)
  redis.call('ZREMRANGEBYRANK', kept, 0, excess - 1)
end
-- The counter and the histories' lifetimes, renewed when a history starts and every 64 events
-- (not on every event: a state frame's script is most of Redis's work).
if count == 1 or seq % 64 == 1 then
  for _, key in ipairs({KEYS[1], KEYS[2], KEYS[7]}) do
    redis.call('EXPIRE', key, ttl)
  end
end
if ARGV[6] == '1' then
  redis.call('SET', KEYS[3], '{"seq":' .. seq .. ',"state":' .. ARGV[7] .. '}', 'EX', ttl)
end
if ARGV[1] == 'chat' then
  redis.call('RPUSH', KEYS[4], ARGV[2])
  redis.call('LTRIM', KEYS[4], -tonumber(ARGV[5]), -1)
  redis.call('EXPIRE', KEYS[4], ttl)
end
if ARGV[10] ~= '' then
  redis.call('RPUSH', KEYS[10], '{"type":"' .. ARGV[1] .. '","seq":' .. seq .. ',"at":' .. ARGV[11]
    .. ',"payload":' .. ARGV[10] .. '}')
  redis.call('LTRIM', KEYS[10], -tonumber(ARGV[12]), -1)
  redis.call('EXPIRE', KEYS[10], ttl)
end
redis.call('PUBLISH', KEYS[11], ARGV[1] .. '\\n' .. seq .. '\\n' .. ARGV[14] .. '\\n' .. ARGV[15]
  .. '\\n' .. text)
return seq
"""

_SINCE_KEYS = ("seq", "events", "chat_events", "events_dropped", "chat_dropped")

# KEYS: _SINCE_KEYS. ARGV: since. Returns {current seq, found (0/1), texts...}, the two
# histories merged in seq order; found only when they hold every seq after `since`.
_SINCE = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local since = tonumber(ARGV[1])
if since > current then return {current, 0} end
if since == current then return {current, 1} end
if tonumber(redis.call('GET', KEYS[4]) or '0') > since
  or tonumber(redis.call('GET', KEYS[5]) or '0') > since
  or redis.call('EXISTS', KEYS[2], KEYS[3]) == 0 then
  return {current, 0}
end
local a = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '+inf', 'WITHSCORES')
local b = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. ARGV[1], '+inf', 'WITHSCORES')
local reply = {current, 1}
local i, j = 1, 1
while i <= #a or j <= #b do
  if j > #b or (i <= #a and tonumber(a[i + 1]) < tonumber(b[j + 1])) then
    table.insert(reply, a[i])
    i = i + 2
  else
    table.insert(reply, b[j])
    j = j + 2
  end
end
-- Every seq is in one of the two: fewer means the history does not reach back (a counter
-- that started again from a floor after Redis lost its data).
if #reply - 2 ~= current - since then return {current, 0} end
return reply
"""


@lru_cache(maxsize=4096)
def _publish_keys(prefix: str) -> tuple[str, ...]:
    """A session's keys for the publish script, made once per session (not once per event)."""
    return tuple(store_key(prefix, part) for part in _PUBLISH_KEYS)


def _publish_args(
    event_type: str,
    payload_text: str,
    state_text: str | None,
    fence: int | None,
    payload: dict[str, Any],
    *,
    floor: int,
    ended: bool,
    room: dict[str, Any] | None,
) -> list[Any]:
    kept_activity = activity_payload(event_type, payload)
    # The moment matters only to an activity entry: not read from the clock for each state frame.
    return [
        event_type,
        payload_text,
        KEY_TTL_S,
        HISTORY_MAX,
        CHAT_MAX,
        "0" if state_text is None else "1",
        "" if state_text is None else state_text,
        "" if fence is None else str(fence),
        CHAT_HISTORY_MAX,
        "" if kept_activity is None else dumps(kept_activity),
        "" if kept_activity is None else _now_text(),
        ACTIVITY_MAX,
        floor,
        "1" if ended else "0",
        "" if room is None else dumps(room),
    ]


# Connections per event loop to Redis, and how long a call waits for one of them.
REDIS_CONNECTIONS = 32
REDIS_WAIT_S = 10.0


class RedisStore:
    """The store shared by every Daphne process. Connections belong to one event loop: one per
    loop (a server has one loop; each async test has its own). The hot calls (`publish`, one per
    scanner frame; `link_touch`, one per probe echo; `presence_touch`) go over a pipelined
    connection of the store's own (`cockpit.resp.RedisPipe`: redis-py's per-call machinery
    cost more than Redis's work); the rare ones over a redis.asyncio client."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )
        self._pipes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RedisPipe] = (
            weakref.WeakKeyDictionary()
        )
        self._blocking: tuple[Any, Any] | None = None
        self.clock: Callable[[], float] = time.time

    def _client(self) -> Any:
        import redis.asyncio as redis

        loop = asyncio.get_running_loop()
        entry = self._clients.get(loop)
        if entry is None:
            # A pool that waits for a free connection: with a few hundred sockets a process
            # may have more calls in flight than connections, and redis-py's default pool
            # refuses the 101st (MaxConnectionsError) rather than queueing it.
            pool = redis.BlockingConnectionPool.from_url(
                self.url,
                max_connections=REDIS_CONNECTIONS,
                timeout=REDIS_WAIT_S,
                decode_responses=True,
            )
            client = redis.Redis.from_pool(pool)  # closed with the client
            entry = (client, client.register_script(_SINCE))
            self._clients[loop] = entry
        return entry

    def _pipe(self) -> RedisPipe:
        loop = asyncio.get_running_loop()
        pipe = self._pipes.get(loop)
        if pipe is None:
            pipe = self._pipes[loop] = RedisPipe(self.url)
        return pipe

    def fanout(self) -> Fanout:
        """This event loop's subscriber to the sessions' bus channels."""
        return redis_fanout(self.url)

    async def aclose(self) -> None:
        """Close this event loop's connections (tests: before their loop goes away)."""
        loop = asyncio.get_running_loop()
        entry = self._clients.pop(loop, None)
        if entry is not None:
            await entry[0].aclose()
        pipe = self._pipes.pop(loop, None)
        if pipe is not None:
            await pipe.aclose()

    async def publish(
        self,
        prefix: str,
        event_type: str,
        payload: dict[str, Any],
        *,
        snapshot_state: dict[str, Any] | None = None,
        fence: int | None = None,
        ended: bool = False,
        room: dict[str, Any] | None = None,
        from_frame: bool = False,
    ) -> tuple[int, str]:
        encode = frame_dumps if from_frame else dumps
        payload_text = encode(payload)
        seq = await self._pipe().evalsha(
            _PUBLISH,
            _publish_keys(prefix),
            _publish_args(
                event_type,
                payload_text,
                None if snapshot_state is None else encode(snapshot_state),
                fence,
                payload,
                floor=seq_floor(prefix),
                ended=ended,
                room=room,
            ),
        )
        if not seq:
            return 0, ""
        seen_note(prefix, seq)
        # The text the script stored, built here rather than sent back (state frames are big).
        return seq, envelope_text(event_type, seq, payload_text)

    def publish_blocking(
        self,
        prefix: str,
        event_type: str,
        payload: dict[str, Any],
        *,
        ended: bool = False,
        room: dict[str, Any] | None = None,
    ) -> tuple[int, str]:
        """`publish` for sync code (services on commit, Celery tasks): a blocking client of its
        own, shared by the process's threads, so that no event loop is borrowed."""
        if self._blocking is None:
            import redis

            client = redis.Redis.from_url(self.url, decode_responses=True)
            self._blocking = (client, client.register_script(_PUBLISH))
        _, publish = self._blocking
        payload_text = dumps(payload)
        seq = publish(
            keys=_publish_keys(prefix),
            args=_publish_args(
                event_type,
                payload_text,
                None,
                None,
                payload,
                floor=seq_floor(prefix),
                ended=ended,
                room=room,
            ),
        )
        seen_note(prefix, int(seq))
        return int(seq), envelope_text(event_type, int(seq), payload_text)

    def state_blocking(self, prefix: str) -> dict[str, Any] | None:
        """The latest full console state, for sync code (the blocking client of
        `publish_blocking`)."""
        if self._blocking is None:
            import redis

            client = redis.Redis.from_url(self.url, decode_responses=True)
            self._blocking = (client, client.register_script(_PUBLISH))
        kept = self._blocking[0].get(store_key(prefix, "snapshot"))
        return json.loads(kept)["state"] if kept else None

    async def since(self, prefix: str, seq: int) -> list[str] | None:
        _, since = self._client()
        reply = await since(keys=[store_key(prefix, part) for part in _SINCE_KEYS], args=[seq])
        if not int(reply[1]):
            return None
        return list(reply[2:])

    async def snapshot(self, prefix: str) -> Snapshot:
        client, _ = self._client()
        async with client.pipeline(transaction=True) as pipe:
            pipe.get(store_key(prefix, "seq"))
            pipe.get(store_key(prefix, "snapshot"))
            pipe.lrange(store_key(prefix, "chat"), 0, -1)
            pipe.lrange(store_key(prefix, "activity"), 0, -1)
            seq, kept, chat, activity = await pipe.execute()
        state = json.loads(kept) if kept else None
        return Snapshot(
            seq=int(seq or 0),
            state=state["state"] if state else None,
            state_seq=state["seq"] if state else None,
            chat=[json.loads(line) for line in chat],
            activity=[json.loads(line) for line in activity],
        )

    async def presence_touch(
        self,
        prefix: str,
        channel: str,
        person: dict[str, Any],
        *,
        joined: float,
        now: float | None = None,
    ) -> None:
        entry = {"person": person, "joined": joined, "seen": self.clock() if now is None else now}
        await self._hash_write(store_key(prefix, "presence"), channel, entry)

    async def presence_remove(self, prefix: str, channel: str) -> bool:
        client, _ = self._client()
        return bool(await client.hdel(store_key(prefix, "presence"), channel))

    async def _entries(self, prefix: str) -> dict[str, dict[str, Any]]:
        return await self._hash_read(store_key(prefix, "presence"))

    async def _hash_read(self, key: str) -> dict[str, dict[str, Any]]:
        """Every entry of a hash, read as JSON (over the pipelined connection: the sockets'
        periodic looks at presence and links)."""
        (flat,) = await self._pipe().execute(command("HGETALL", key))
        return {flat[i].decode(): json.loads(flat[i + 1]) for i in range(0, len(flat), 2)}

    async def presence_list(self, prefix: str, *, now: float | None = None) -> list[dict[str, Any]]:
        entries = await self._entries(prefix)
        return _participants(list(entries.values()), self.clock() if now is None else now)

    async def presence_prune(
        self, prefix: str, *, now: float | None = None
    ) -> list[dict[str, Any]]:
        now = self.clock() if now is None else now
        removed = []
        for channel, entry in (await self._entries(prefix)).items():
            if now - entry["seen"] > PRESENCE_TTL_S:
                (deleted,) = await self._pipe().execute(
                    command("HDEL", store_key(prefix, "presence"), channel)
                )
                if deleted:
                    removed.append(entry["person"])
        return removed

    async def link_touch(self, prefix: str, channel: str, entry: dict[str, Any]) -> None:
        await self._hash_write(store_key(prefix, "link"), channel, entry)

    async def _hash_write(self, key: str, name: str, entry: dict[str, Any]) -> None:
        """Write one entry of a hash and renew the hash's lifetime: one round trip, without
        MULTI/EXEC around it (the two need not be atomic)."""
        await self._pipe().execute(
            command("HSET", key, name, dumps(entry)), command("EXPIRE", key, KEY_TTL_S)
        )

    async def link_remove(self, prefix: str, channel: str) -> None:
        client, _ = self._client()
        await client.hdel(store_key(prefix, "link"), channel)

    async def link_entries(self, prefix: str) -> dict[str, dict[str, Any]]:
        return await self._hash_read(store_key(prefix, "link"))

    async def stop_seq(self, prefix: str) -> int:
        client, _ = self._client()
        return int(await client.get(store_key(prefix, "stop")) or 0)

    async def forget(self, prefix: str) -> None:
        """Redis keys expire on their own (KEY_TTL_S); the history stays for late readers."""

    async def delete_all(self) -> int:
        """Delete every cockpit key (tests: runs on one Redis reuse session ids)."""
        client, _ = self._client()
        keys = [key async for key in client.scan_iter(match="wescan:cockpit:*", count=1000)]
        if keys:
            await client.delete(*keys)
        return len(keys)


_memory = MemoryStore()
_redis: dict[str, RedisStore] = {}


def store() -> MemoryStore | RedisStore:
    """The store for this process's settings: Redis when REDIS_URL is set, else memory."""
    url = getattr(settings, "REDIS_URL", "")
    if not url:
        return _memory
    redis_store = _redis.get(url)
    if redis_store is None:
        redis_store = _redis[url] = RedisStore(url)
    return redis_store
