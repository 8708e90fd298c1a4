"""The relay's fan-out (`cockpit.fanout`): a session's events reach every socket in seq order,
whoever publishes them and from whatever process; a socket that stops reading is shed and
caught up when it answers again; a counter lost with Redis's data never goes back; the fan-out
subscribes again after its Redis connection is killed.

In-process on the memory store, and on Redis too when REDIS_URL is set (CI's PostgreSQL + Redis
leg); the tests that need Redis say so. The link clock is the test's own: no figure here comes
from the wall clock."""

import asyncio
import contextlib
import json
import logging
import os
from typing import Any

import pytest
from channels.db import database_sync_to_async

from cockpit import link
from cockpit.fanout import Event, redis_fanout
from cockpit.groups import store_key, store_prefix
from cockpit.store import MemoryStore, RedisStore
from tests.clock import ManualClock
from tests.cockpit.support import open_cockpit, prescan_confirmed
from tests.cockpit.test_relay_control import Room
from tests.cockpit.test_relay_link import next_probe, probes_skipped  # noqa: F401 (autouse)
from tests.conftest import World

needs_redis = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (CI's PostgreSQL + Redis leg)"
)


class Recorder:
    """A listener of the fan-out: the seqs it was handed, in order; it yields now and then as
    a socket's send may."""

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.calls: list[int | str] = []  # seqs and "resync", in the order they came
        self.resyncs = 0
        self.resynced = asyncio.Event()
        self.arrived = asyncio.Event()

    async def event_deliver(self, event: Event) -> None:
        if event.seq % 3 == 0:
            await asyncio.sleep(0)
        self.seqs.append(event.seq)
        self.calls.append(event.seq)
        self.arrived.set()

    def event_resync(self) -> None:
        self.calls.append("resync")
        self.resyncs += 1
        self.resynced.set()

    async def until(self, count: int) -> None:
        async with asyncio.timeout(10):
            while len(self.seqs) < count:
                self.arrived.clear()
                await self.arrived.wait()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_concurrent_publishers_are_delivered_in_seq_order(
    world: World, relay_store: MemoryStore | RedisStore
) -> None:
    cockpit = await database_sync_to_async(open_cockpit)(world)
    prefix = store_prefix(cockpit)
    fanout = relay_store.fanout()
    first, second = Recorder(), Recorder()
    await fanout.register(prefix, first)
    await fanout.register(prefix, second)
    try:

        async def chatter(name: str) -> None:
            for number in range(40):
                await relay_store.publish(prefix, "chat", {"from": name, "text": str(number)})
                if number % 7 == 0:
                    await asyncio.sleep(0)

        await asyncio.gather(*(chatter(name) for name in ("a", "b", "c")))
        await first.until(120)
        await second.until(120)
        assert first.seqs == list(range(1, 121))
        assert second.seqs == first.seqs
    finally:
        await fanout.unregister(prefix, first)
        await fanout.unregister(prefix, second)


# --- A socket that stops reading ---------------------------------------------------------------

WINDOW = 3000
PAD = "x" * 1200  # a state frame of about 1.3 KB


@pytest.fixture
def shedding(settings: Any, monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    settings.COCKPIT_LINK_PROBE_S = 0.02
    settings.COCKPIT_CONTROL_LINK_TIMEOUT_S = 30.0  # no probe given up during the test
    settings.COCKPIT_SOCKET_WINDOW_BYTES = WINDOW
    clock = ManualClock(5_000.0)
    monkeypatch.setattr(link, "link_clock", clock)
    return clock


async def states(socket: Any, last: int) -> list[int]:
    """The seqs of the session events the socket receives, up to `last`."""
    seqs: list[int] = []
    while not seqs or seqs[-1] < last:
        frame = await socket.recv()
        if frame["type"] == "probe":
            continue
        if frame["seq"] is not None:
            seqs.append(frame["seq"])
    return seqs


async def arrived(socket: Any) -> list[dict[str, Any]]:
    """Every frame the socket has been sent so far, but probes."""
    frames: list[dict[str, Any]] = socket.__dict__.setdefault("held", [])[:]
    socket.__dict__["held"] = []
    queue = socket.communicator.output_queue
    while not queue.empty():
        frames.append(json.loads(queue.get_nowait()["text"]))
    return [frame for frame in frames if frame["type"] != "probe"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_socket_that_stops_reading_is_shed_then_caught_up_when_it_answers(
    world: World,
    relay: Any,
    shedding: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    room = await Room(world, relay).open()
    # Every person's socket has a probe out, sent at 5000 on the link clock.
    probes = {name: await next_probe(getattr(room, name)) for name in ("operator", "local")}
    observer_probe = await next_probe(room.observer)
    # Four seconds later the operator and local staff answer; the observer does not.
    shedding.now += 4
    for name, probe in probes.items():
        await getattr(room, name).send("echo", {"probe": probe})
    await asyncio.sleep(0.1)  # the echoes are read (their link events go out)
    caplog.set_level(logging.WARNING, logger="cockpit.consumers")

    await room.scanner.send("state", {"full": True, "state": {"status": "idle", "pad": PAD}})
    for number in range(9):
        await room.scanner.send("state", {"full": False, "changes": {"n": number, "pad": PAD}})
    operator_seqs = await states(room.operator, room.seq + 10)
    last = operator_seqs[-1]
    # The others get every event; the observer some, then nothing more: it was shed, once.
    await asyncio.sleep(0.2)
    observer_seqs = [
        frame["seq"] for frame in await arrived(room.observer) if frame["seq"] is not None
    ]
    assert observer_seqs[-1] < last
    shed = [record for record in caplog.records if "stopped reading" in record.getMessage()]
    assert len(shed) == 1

    # It answers: what it missed follows, from the history, with no gap and nothing twice.
    await room.observer.send("echo", {"probe": observer_probe})
    caught_up = await states(room.observer, last)
    seen = observer_seqs + caught_up
    assert seen == list(range(seen[0], last + 1))
    # And the live stream goes on.
    await room.scanner.send("state", {"full": False, "changes": {"n": 99}})
    assert await states(room.observer, last + 1) == [last + 1]


# --- Redis: the counter, the connection ------------------------------------------------------


@needs_redis
@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_seq_never_goes_back_when_redis_loses_the_session(
    world: World, relay: Any, relay_store: RedisStore
) -> None:
    room = await Room(world, relay).open()
    await room.operator.send("chat", {"text": "before"})
    for socket in room.people:
        assert (await socket.recv())["seq"] == 5
    # Redis loses the session's keys (a restart without its data).
    prefix = store_prefix(room.cockpit)
    client = relay_store._client()[0]
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
    await client.delete(*keys)

    # A client asking for what followed its last seq gets a snapshot that says so, at 5.
    await room.local.send("resync", {"since": 5})
    snapshot = await room.local.recv()
    assert snapshot["type"] == "snapshot"
    assert (snapshot["payload"]["seq"], snapshot["payload"]["resync"]) == (5, "lost")
    # The next event is 6, not 1: no client sees a seq it saw before.
    await room.operator.send("chat", {"text": "after"})
    for socket in room.people:
        frame = await socket.recv()
        assert (frame["type"], frame["seq"]) == ("chat", 6)


@needs_redis
@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_fanout_subscribes_again_after_its_connection_is_killed(
    world: World, relay_store: RedisStore
) -> None:
    cockpit = await database_sync_to_async(open_cockpit)(world)
    prefix = store_prefix(cockpit)
    fanout = redis_fanout(relay_store.url)
    recorder = Recorder()
    await fanout.register(prefix, recorder)
    try:
        await relay_store.publish(prefix, "chat", {"text": "one"})
        await recorder.until(1)
        client = relay_store._client()[0]
        assert fanout.client_id is not None
        killed = fanout.client_id
        assert await client.execute_command("CLIENT", "KILL", "ID", killed) == 1
        # Reconnected and subscribed again: the socket is asked to catch up.
        async with asyncio.timeout(10):
            await recorder.resynced.wait()
        assert fanout.client_id != killed
        channels = await client.execute_command("PUBSUB", "CHANNELS", store_key(prefix, "bus"))
        assert channels == [store_key(prefix, "bus")]
        await relay_store.publish(prefix, "chat", {"text": "two"})
        await recorder.until(2)
        assert recorder.seqs == [1, 2]
    finally:
        await fanout.unregister(prefix, recorder)


@needs_redis
@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_after_a_reconnection_the_sockets_resync_before_any_new_event_reaches_them(
    world: World, relay_store: RedisStore
) -> None:
    """Events published while the fan-out was away are caught up by the socket's resync: an
    event that came on the new connection before it would go out ahead of them, a gap."""
    cockpit = await database_sync_to_async(open_cockpit)(world)
    prefix = store_prefix(cockpit)
    fanout = redis_fanout(relay_store.url)
    recorder = Recorder()
    await fanout.register(prefix, recorder)
    publishing = True

    async def publish_all_along() -> None:
        while publishing:
            await relay_store.publish(prefix, "chat", {"text": "on and on"})

    try:
        await relay_store.publish(prefix, "chat", {"text": "one"})
        await recorder.until(1)
        client = relay_store._client()[0]
        killed = fanout.client_id
        publisher = asyncio.create_task(publish_all_along())
        assert await client.execute_command("CLIENT", "KILL", "ID", killed) == 1
        async with asyncio.timeout(10):
            await recorder.resynced.wait()
        await recorder.until(len(recorder.seqs) + 20)  # events of the new connection
        publishing = False
        await publisher
        resync = recorder.calls.index("resync")
        before, after = recorder.calls[:resync], recorder.calls[resync + 1 :]
        # Before the resync, only what the lost connection brought: no gap (an event of the
        # new connection there would follow those missed meanwhile); the new one's after it.
        assert before == list(range(1, len(before) + 1))
        assert after
        assert min(after) > len(before) + 1
    finally:
        publishing = False
        await fanout.unregister(prefix, recorder)


# --- Two Daphne processes on Redis -------------------------------------------------------------


@needs_redis
@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_two_processes_publishing_at_once_never_show_a_seq_going_back(world: World) -> None:
    """The scanner's states on process A, the operator chatting on B and local staff chatting
    on A, all at once: everyone, on either process, sees every event, in seq order."""
    from websockets.asyncio.client import connect
    from websockets.typing import Origin

    from cockpit.agent import ScannerAgent
    from marketplace.services.tenancy import scanner_rotate_token
    from tests.live_daphne import live_daphne
    from tests.sessions import session_cookie

    cockpit = await database_sync_to_async(lambda: prescan_confirmed(world, open_cockpit(world)))()
    token = await database_sync_to_async(scanner_rotate_token)(
        actor=world.manager, scanner=world.scanner
    )
    cookies = {
        role: await database_sync_to_async(session_cookie)(user)
        for role, user in (
            ("operator", world.technologist),
            ("local", world.local_staff),
            ("observer", world.manager),
        )
    }
    chats = 15
    with live_daphne(2) as (a, b):
        agent = ScannerAgent(a.url, token, rate_hz=20, alarms=False)
        stop = asyncio.Event()
        agent_task = asyncio.create_task(agent.run(stop))
        seqs: dict[str, list[int]] = {}
        try:
            async with contextlib.AsyncExitStack() as stack:
                sockets = {}
                for name, server, role in (
                    ("operator@b", b, "operator"),
                    ("local@a", a, "local"),
                    ("observer@a", a, "observer"),
                    ("observer@b", b, "observer"),
                ):
                    sockets[name] = await stack.enter_async_context(
                        connect(
                            f"{server.ws_url}/ws/cockpit/{cockpit.pk}/?role={role}",
                            additional_headers={"Cookie": cookies[role]},
                            origin=Origin(server.url),
                            proxy=None,
                            open_timeout=15,
                        )
                    )
                    seqs[name] = []

                async def read(name: str) -> None:
                    """Until every chat line arrived (the states keep coming meanwhile)."""
                    seen = 0
                    while seen < 2 * chats:
                        frame = json.loads(await sockets[name].recv())
                        if frame["seq"] is not None:
                            seqs[name].append(frame["seq"])
                        seen += frame["type"] == "chat"

                async def chat(name: str) -> None:
                    for number in range(chats):
                        await sockets[name].send(
                            json.dumps(
                                {
                                    "type": "chat",
                                    "seq": number + 1,
                                    "payload": {"text": f"{name} {number}"},
                                }
                            )
                        )
                        await asyncio.sleep(0)

                readers = [asyncio.create_task(read(name)) for name in sockets]
                async with asyncio.timeout(30):
                    while agent.frames_sent < 5:
                        await asyncio.sleep(0.05)
                    await asyncio.gather(chat("operator@b"), chat("local@a"))
                    await asyncio.gather(*readers)
        finally:
            stop.set()
            await asyncio.wait_for(agent_task, 15)
    for name, got in seqs.items():
        assert got == list(range(got[0], got[-1] + 1)), f"{name}: a seq went back or is missing"
