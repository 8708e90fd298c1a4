"""The store's pipelined Redis connection (`cockpit.resp.RedisPipe`): calls in flight together
get their own replies, in order; Redis losing its scripts or the connection is survived the way
redis-py survived it. Needs REDIS_URL (CI's PostgreSQL + Redis leg), except where Redis is away."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import pytest
import pytest_asyncio
import redis.asyncio
import redis.exceptions
from django.conf import settings

from cockpit.resp import RedisPipe, command, login
from cockpit.store import RedisStore

needs_redis = pytest.mark.skipif(
    not settings.REDIS_URL, reason="needs REDIS_URL (CI's PostgreSQL + Redis leg)"
)


@pytest.fixture
def prefix() -> str:
    return f"wescan:cockpit:test:{uuid.uuid4().hex}"


@pytest_asyncio.fixture
async def redis_store() -> AsyncIterator[RedisStore]:
    kept = RedisStore(settings.REDIS_URL)
    yield kept
    await kept.aclose()


@pytest_asyncio.fixture
async def admin() -> AsyncIterator["redis.asyncio.Redis"]:
    """A redis-py client beside the store's connection, to do to it what Redis may do."""
    client = redis.asyncio.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    yield client
    await client.aclose()


@needs_redis
@pytest.mark.asyncio
async def test_publishes_in_flight_together_are_numbered_in_the_order_they_were_made(
    redis_store: RedisStore, prefix: str
) -> None:
    published = await asyncio.gather(
        *(redis_store.publish(prefix, "chat", {"text": f"line {n}"}) for n in range(200))
    )
    assert [seq for seq, _ in published] == list(range(1, 201))
    # Each text carries its own call's seq, and the history holds them in that order.
    assert await redis_store.since(prefix, 0) == [text for _, text in published]
    assert [text for _, text in published][7] == (
        '{"type":"chat","seq":8,"payload":{"text":"line 7"}}'
    )


@needs_redis
@pytest.mark.asyncio
async def test_a_calls_replies_never_reach_another_call(redis_store: RedisStore) -> None:
    pipe = redis_store._pipe()
    replies = await asyncio.gather(
        *(pipe.execute(command("ECHO", f"call {n}"), command("ECHO", n)) for n in range(300))
    )
    assert replies == [[f"call {n}".encode(), str(n).encode()] for n in range(300)]


@needs_redis
@pytest.mark.asyncio
async def test_an_error_reply_raises_and_the_connection_goes_on(
    redis_store: RedisStore, admin: "redis.asyncio.Redis", prefix: str
) -> None:
    await admin.set(f"{prefix}:text", "not a number")
    pipe = redis_store._pipe()
    with pytest.raises(redis.exceptions.ResponseError, match="not an integer"):
        await pipe.execute(command("INCR", f"{prefix}:text"), command("ECHO", "after"))
    assert await pipe.execute(command("ECHO", "next")) == [b"next"]
    await admin.delete(f"{prefix}:text")


@needs_redis
@pytest.mark.asyncio
async def test_a_publish_after_redis_lost_its_scripts_goes_through(
    redis_store: RedisStore, admin: "redis.asyncio.Redis", prefix: str
) -> None:
    assert (await redis_store.publish(prefix, "chat", {"text": "before"}))[0] == 1
    await admin.script_flush()  # as a restarted Redis has no script cached
    # Several in flight, each refused (NOSCRIPT) and sent again whole.
    published = await asyncio.gather(
        *(redis_store.publish(prefix, "chat", {"text": f"after {n}"}) for n in range(3))
    )
    assert sorted(seq for seq, _ in published) == [2, 3, 4]
    assert (await redis_store.publish(prefix, "chat", {"text": "later"}))[0] == 5


@needs_redis
@pytest.mark.asyncio
async def test_calls_waiting_on_a_killed_connection_fail_and_the_next_call_connects_again(
    redis_store: RedisStore, admin: "redis.asyncio.Redis", prefix: str
) -> None:
    await redis_store.publish(prefix, "chat", {"text": "before"})
    pipe = redis_store._pipe()
    killed = pipe.client_id
    assert killed is not None
    # A call Redis holds (a blocking pop on an empty list), and publishes queued behind it.
    held = asyncio.ensure_future(pipe.execute(command("BLPOP", f"{prefix}:empty", 10)))
    queued = [
        asyncio.ensure_future(redis_store.publish(prefix, "chat", {"text": "queued"}))
        for _ in range(3)
    ]
    await asyncio.sleep(0.1)
    assert await admin.execute_command("CLIENT", "KILL", "ID", killed) == 1
    for waiting in (held, *queued):
        with pytest.raises(redis.exceptions.ConnectionError):
            await waiting
    # The link entry goes through too: a new connection, and the store carries on.
    await redis_store.link_touch(prefix, "chan", {"user": 1, "heard": 0.0})
    assert pipe.client_id not in (None, killed)
    assert (await redis_store.publish(prefix, "chat", {"text": "after"}))[0] == 2
    assert await redis_store.link_entries(prefix) == {"chan": {"user": 1, "heard": 0.0}}


@pytest.mark.asyncio
async def test_an_unreachable_redis_fails_at_once_with_connection_error(prefix: str) -> None:
    away = RedisStore("redis://127.0.0.1:1/0")  # nothing listens
    started = time.monotonic()
    try:
        calls = await asyncio.gather(
            away.publish(prefix, "chat", {"text": "hello"}),
            away.link_touch(prefix, "chan", {"user": 1}),
            away.presence_touch(prefix, "chan", {"id": 1}, joined=0),
            return_exceptions=True,
        )
        assert [type(call) for call in calls] == [redis.exceptions.ConnectionError] * 3
        # The next call tries again, and fails the same way.
        with pytest.raises(redis.exceptions.ConnectionError, match=r"127\.0\.0\.1:1\b"):
            await away.publish(prefix, "chat", {"text": "again"})
    finally:
        await away.aclose()
    assert time.monotonic() - started < 2


@needs_redis
@pytest.mark.asyncio
async def test_the_connection_uses_the_database_the_url_names(
    admin: "redis.asyncio.Redis", prefix: str
) -> None:
    parts = urlsplit(settings.REDIS_URL)
    other = urlunsplit(parts._replace(path="/15"))
    pipe = RedisPipe(other)
    try:
        await pipe.execute(command("SET", f"{prefix}:where", "fifteen", "EX", 60))
        assert await admin.get(f"{prefix}:where") is None
        elsewhere = redis.asyncio.Redis.from_url(other, decode_responses=True)
        assert await elsewhere.getdel(f"{prefix}:where") == "fifteen"
        await elsewhere.aclose()
    finally:
        await pipe.aclose()


def test_a_connection_logs_in_and_selects_its_database_as_the_url_says() -> None:
    assert login("redis://127.0.0.1:6379/0") == []
    assert login("redis://127.0.0.1:6379") == []
    assert login("redis://:s%40cret@cache:6380/3") == [
        command("AUTH", "default", "s@cret"),
        command("SELECT", "3"),
    ]
    assert login("rediss://relay:pw@cache/0") == [command("AUTH", "relay", "pw")]
