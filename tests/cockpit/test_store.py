"""The relay's store, in memory and (when REDIS_URL is set) on Redis: the same behaviour."""

import json
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from django.conf import settings

from cockpit.groups import store_key
from cockpit.store import (
    ACTIVITY_MAX,
    CHAT_HISTORY_MAX,
    CHAT_MAX,
    HISTORY_MAX,
    KEY_TTL_S,
    PRESENCE_TTL_S,
    MemoryStore,
    RedisStore,
)

pytestmark = pytest.mark.asyncio

BACKENDS = ["memory", *(["redis"] if settings.REDIS_URL else [])]


@pytest_asyncio.fixture(params=BACKENDS)
async def kept(request: pytest.FixtureRequest) -> AsyncIterator[MemoryStore | RedisStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    redis_store = RedisStore(settings.REDIS_URL)
    yield redis_store
    await redis_store.aclose()


@pytest.fixture
def prefix() -> str:
    return f"wescan:cockpit:test:{uuid.uuid4().hex}"


async def test_publish_numbers_events_and_builds_the_envelope_once(
    kept: MemoryStore | RedisStore, prefix: str
) -> None:
    seq, text = await kept.publish(prefix, "chat", {"from": None, "text": "Zoë, coil ready"})
    assert seq == 1
    assert json.loads(text) == {
        "type": "chat",
        "seq": 1,
        "payload": {"from": None, "text": "Zoë, coil ready"},
    }
    seq, text = await kept.publish(prefix, "ack", {"ref": 1, "ok": True, "reason": ""})
    assert (seq, text) == (2, '{"type":"ack","seq":2,"payload":{"ref":1,"ok":true,"reason":""}}')
    # Sessions do not share counters.
    assert (await kept.publish(prefix + "x", "ack", {}))[0] == 1


async def test_since_replays_the_bounded_history_or_asks_for_a_snapshot(
    kept: MemoryStore | RedisStore, prefix: str
) -> None:
    assert await kept.since(prefix, 0) == []
    assert await kept.since(prefix, 1) is None  # ahead of the session: the store was wiped
    texts = [(await kept.publish(prefix, "ack", {"ref": n}))[1] for n in range(HISTORY_MAX + 5)]
    # Kept: seq 6 .. 605.
    assert await kept.since(prefix, HISTORY_MAX + 5) == []
    assert await kept.since(prefix, HISTORY_MAX + 2) == texts[-3:]
    assert await kept.since(prefix, 5) == texts[5:]
    assert len(texts[5:]) == HISTORY_MAX
    assert await kept.since(prefix, 4) is None
    assert await kept.since(prefix, 0) is None


async def test_chat_keeps_a_history_of_its_own_and_never_pushes_console_events_out(
    kept: MemoryStore | RedisStore, prefix: str
) -> None:
    """Before, chat lines took the console's places in one history of HISTORY_MAX events."""
    acks = [(await kept.publish(prefix, "ack", {"ref": n}))[1] for n in range(HISTORY_MAX)]
    chat = [
        (await kept.publish(prefix, "chat", {"text": f"{n}"}))[1] for n in range(CHAT_HISTORY_MAX)
    ]
    stop = (await kept.publish(prefix, "stop", {"by": None}))[1]  # lets the first ack go
    assert await kept.since(prefix, 1) == [*acks[1:], *chat, stop]
    assert await kept.since(prefix, 0) is None
    # In seq order, the console's events among the chat lines.
    line = (await kept.publish(prefix, "chat", {"text": "more"}))[1]
    ack = (await kept.publish(prefix, "ack", {"ref": -1}))[1]
    assert await kept.since(prefix, HISTORY_MAX + CHAT_HISTORY_MAX - 1) == [
        chat[-1],
        stop,
        line,
        ack,
    ]
    # The chat line just published let the oldest go: a client from before it gets a snapshot.
    assert await kept.since(prefix, HISTORY_MAX) is None
    assert await kept.since(prefix, HISTORY_MAX + 1) == [*chat[1:], stop, line, ack]


async def test_snapshot_keeps_the_latest_state_and_the_recent_chat(
    kept: MemoryStore | RedisStore, prefix: str
) -> None:
    empty = await kept.snapshot(prefix)
    assert (empty.seq, empty.state, empty.state_seq, empty.chat) == (0, None, None, [])
    state = {"status": "running", "sar": {"level": 1.2, "limit": 3.2}}
    await kept.publish(prefix, "state", {"full": True, "state": state}, snapshot_state=state)
    state["status"] = "paused"  # the caller's own dict changes afterwards: the store kept a copy
    await kept.publish(prefix, "state", {"full": False, "changes": {}})
    for number in range(CHAT_MAX + 3):
        await kept.publish(prefix, "chat", {"text": f"line {number}"})
    snapshot = await kept.snapshot(prefix)
    assert snapshot.seq == 2 + CHAT_MAX + 3
    assert snapshot.state == {"status": "running", "sar": {"level": 1.2, "limit": 3.2}}
    assert snapshot.state_seq == 1
    assert snapshot.chat == [{"text": f"line {number}"} for number in range(3, CHAT_MAX + 3)]


async def test_the_activity_log_is_kept_beside_the_chat_bounded_and_trimmed(
    kept: MemoryStore | RedisStore, prefix: str
) -> None:
    """Joins and leaves (without the whole list), commands, the scanner's refusals (not its
    every acknowledgement), STOPs, control, a STOP's reason, help, the session's start and end;
    never state frames or chat. The last ACTIVITY_MAX, each with its seq and moment."""
    someone = {"id": 7, "name": "Ann", "role": "local"}
    await kept.publish(
        prefix, "presence", {"participants": [someone], "joined": someone, "left": None}
    )
    await kept.publish(
        prefix, "presence", {"participants": [someone], "joined": None, "left": None}
    )
    await kept.publish(prefix, "state", {"full": True}, snapshot_state={"status": "idle"})
    await kept.publish(prefix, "chat", {"from": someone, "text": "Ready"})
    await kept.publish(prefix, "command", {"name": "start", "args": {}, "by": someone})
    await kept.publish(prefix, "ack", {"ref": 5, "ok": True, "reason": ""})
    await kept.publish(prefix, "ack", {"ref": 5, "ok": False, "reason": "Needs contrast"})
    await kept.publish(prefix, "stop", {"by": someone})
    await kept.publish(prefix, "stops", {"action": "stopped", "stops": []})
    await kept.publish(prefix, "stops", {"action": "reason", "stop": {"id": 1}, "stops": []})
    await kept.publish(prefix, "session", {"status": "ended", "protocol": "neuro", "outcome": None})
    snapshot = await kept.snapshot(prefix)
    assert [(entry["type"], entry["seq"], entry["payload"]) for entry in snapshot.activity] == [
        ("presence", 1, {"joined": someone, "left": None}),
        ("command", 5, {"name": "start", "args": {}, "by": someone}),
        ("ack", 7, {"ref": 5, "ok": False, "reason": "Needs contrast"}),
        ("stop", 8, {"by": someone}),
        ("stops", 10, {"action": "reason", "stop": {"id": 1}}),
        ("session", 11, {"status": "ended", "outcome": None, "ended_reason": None}),
    ]
    assert all(entry["at"].endswith("+00:00") for entry in snapshot.activity)
    for number in range(ACTIVITY_MAX + 5):
        await kept.publish(prefix, "command", {"name": "pause", "args": {}, "by": number})
    activity = (await kept.snapshot(prefix)).activity
    assert len(activity) == ACTIVITY_MAX
    assert [entry["payload"]["by"] for entry in activity] == list(range(5, ACTIVITY_MAX + 5))


async def test_presence_lists_fresh_entries_and_prunes_those_of_a_dead_process(
    kept: MemoryStore | RedisStore, prefix: str
) -> None:
    now = time.time()
    ana = {"id": 1, "name": "Ana", "role": "operator"}
    bo = {"id": 2, "name": "Bo", "role": "local"}
    await kept.presence_touch(prefix, "chan-a", ana, joined=now - 50, now=now - 40)
    await kept.presence_touch(prefix, "chan-b", bo, joined=now - 20, now=now)
    await kept.presence_touch(prefix, "chan-a2", ana, joined=now - 10, now=now)
    # chan-a was last seen 40 s ago: its process died. Ana is still here on chan-a2, once.
    assert await kept.presence_list(prefix, now=now) == [bo, ana]
    assert await kept.presence_list(prefix, now=now - 40) == [ana, bo]
    assert await kept.presence_prune(prefix, now=now) == [ana]
    assert await kept.presence_prune(prefix, now=now) == []  # announced once
    assert await kept.presence_remove(prefix, "chan-b") is True
    assert await kept.presence_remove(prefix, "chan-b") is False
    assert await kept.presence_list(prefix, now=now) == [ana]
    assert await kept.presence_list(prefix, now=now + PRESENCE_TTL_S + 1) == []


async def test_sessions_are_forgotten_a_day_after_the_last_write(
    prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing of a session outlives a day without events: Redis keys expire; the in-memory
    store (one process, the embedded mode) drops the session when the next one starts."""
    if not settings.REDIS_URL:
        memory = MemoryStore()
        await memory.publish(prefix, "chat", {"text": "hi"}, snapshot_state={"a": 1})
        later = time.monotonic() + KEY_TTL_S + 1
        monkeypatch.setattr(time, "monotonic", lambda: later)
        await memory.publish(prefix + "-next", "chat", {"text": "hello"})
        assert await memory.since(prefix, 0) == []  # a fresh, empty session
        assert (await memory.snapshot(prefix)).state is None
        assert (await memory.snapshot(prefix + "-next")).seq == 1
        return
    redis_store = RedisStore(settings.REDIS_URL)
    try:
        await redis_store.publish(prefix, "chat", {"text": "hi"}, snapshot_state={"a": 1})
        await redis_store.publish(prefix, "ack", {"ref": 1})
        await redis_store.presence_touch(prefix, "chan", {"id": 1}, joined=0)
        client = redis_store._client()[0]
        for part in ("seq", "events", "chat_events", "snapshot", "chat", "presence"):
            ttl = await client.ttl(store_key(prefix, part))
            assert KEY_TTL_S - 5 < ttl <= KEY_TTL_S, part
    finally:
        await redis_store.aclose()
