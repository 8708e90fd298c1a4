"""Clients that go away at any moment: while the relay sends the welcome, the snapshot, or any
event after. Daphne then refuses to send ("Attempt to send on a closed protocol"); the relay
stops serving that socket and takes it out of the session at once: no ghost stays in `presence`,
and a scanner that is gone cannot hide the "scanner offline" warning of a STOP."""

import asyncio
from typing import Any

import pytest
from autobahn.exception import Disconnected
from channels.db import database_sync_to_async

from cockpit import consumers
from cockpit.groups import store_prefix
from cockpit.store import PRESENCE_TTL_S, MemoryStore, RedisStore
from marketplace.services.tenancy import scanner_rotate_token
from tests.clock import ManualClock
from tests.cockpit.support import open_cockpit
from tests.cockpit.test_relay_control import Room
from tests.conftest import World
from wescan.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

TIMEOUT = 5


def person(user: Any, role: str) -> dict[str, Any]:
    return {"id": user.pk, "name": user.display_name, "role": role}


class GoneAfter:
    """The relay as Daphne serves a client that closes after `frames` frames reached it: every
    send after that raises autobahn's Disconnected (Daphne's socket is closing), and the
    disconnect itself reaches the application only later, if at all."""

    def __init__(self, frames: int) -> None:
        self.frames = frames

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        sent = 0

        async def daphne_send(message: dict[str, Any]) -> None:
            nonlocal sent
            if message["type"] == "websocket.send":
                if sent >= self.frames:
                    raise Disconnected("Attempt to send on a closed protocol")
                sent += 1
            await send(message)

        await application(scope, receive, daphne_send)


@pytest.fixture
def room(world: World, relay: Any) -> Room:
    return Room(world, relay)


@pytest.fixture
def clock(relay_store: MemoryStore | RedisStore, monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    frozen = ManualClock(1_000_000.0)
    monkeypatch.setattr(relay_store, "clock", frozen)
    monkeypatch.setattr(consumers, "PRESENCE_HEARTBEAT_S", 0.02)
    return frozen


async def beats() -> None:
    """Time for every socket's presence heartbeat to run a few times."""
    await asyncio.sleep(0.2)


@pytest.mark.parametrize("frames", [0, 1, 2, 3], ids=["welcome", "snapshot", "presence", "later"])
async def test_an_observer_who_closes_at_once_leaves_no_ghost(
    world: World, relay: Any, clock: ManualClock, frames: int
) -> None:
    cockpit = await database_sync_to_async(open_cockpit)(world)
    operator_socket = await relay.person(world.technologist, cockpit.pk)
    await operator_socket.recv_many(3)
    operator = person(world.technologist, "operator")
    observer = person(world.manager, "observer")

    ghost = await relay.person(
        world.manager, cockpit.pk, role="observer", through=GoneAfter(frames)
    )
    got = await ghost.recv_many(frames)
    assert [frame["type"] for frame in got] == ["welcome", "snapshot", "presence"][:frames]
    seq = 1
    if frames >= 2:  # the observer was in presence when its socket went
        seq += 1
        assert await operator_socket.recv() == {
            "type": "presence",
            "seq": seq,
            "payload": {"participants": [operator, observer], "joined": observer, "left": None},
        }
    if frames == 3:  # the next event is the first the relay cannot send it
        await operator_socket.send("chat", {"text": "Hello?"})
        seq += 1
        assert (await operator_socket.recv())["seq"] == seq
    if frames >= 2:
        seq += 1
        assert await operator_socket.recv() == {
            "type": "presence",
            "seq": seq,
            "payload": {"participants": [operator], "joined": None, "left": observer},
        }
    # The application ended without an error (Daphne logs none) ...
    await ghost.communicator.wait(TIMEOUT)
    assert await relay.store_presence(cockpit) == [operator]
    # ... and nothing keeps the observer's entry alive, 45 s later either.
    clock.now += 45
    await beats()
    assert await relay.store_presence(cockpit) == [operator]
    # Across the 45 s jump the operator's own entry may be seen stale and fresh again (on Redis
    # a prune can run before its heartbeat): whatever the operator is told, never the observer.
    while not await operator_socket.communicator.receive_nothing(timeout=0.2, interval=0.02):
        frame = await operator_socket.recv()
        assert observer not in frame["payload"].get("participants", []), frame


async def test_presence_of_a_socket_no_longer_refreshed_expires_while_the_process_lives(
    world: World, room: Room, clock: ManualClock
) -> None:
    """Sockets in the session keep their entries fresh on the presence clock; an entry left
    behind (its socket gone without a word) drops out after PRESENCE_TTL_S, announced once."""
    await room.open()
    operator = person(room.world.technologist, "operator")
    local = person(room.world.local_staff, "local")
    observer = person(room.world.manager, "observer")
    scanner = {"id": None, "name": "MR 1", "role": "scanner"}
    everyone = [operator, local, observer, scanner]
    await consumers.store().presence_touch(
        store_prefix(room.cockpit), "channel-of-a-gone-socket", {**local, "id": -1}, joined=0.0
    )
    clock.now += PRESENCE_TTL_S - 1
    await beats()
    assert await room.relay.store_presence(room.cockpit) == [{**local, "id": -1}, *everyone]
    for socket in room.people:
        await socket.silent()
    clock.now += 2
    await beats()
    assert await room.relay.store_presence(room.cockpit) == everyone
    left = await room.everyone_gets(
        "presence", {"participants": everyone, "joined": None, "left": {**local, "id": -1}}
    )
    assert left["seq"] == 5
    for socket in room.people:
        await socket.silent()


async def test_a_scanner_gone_mid_session_does_not_hide_the_scanner_offline_warning(
    world: World, relay: Any
) -> None:
    cockpit = await database_sync_to_async(open_cockpit)(world)
    local_socket = await relay.person(world.local_staff, cockpit.pk)
    await local_socket.recv_many(3)
    token = await database_sync_to_async(scanner_rotate_token)(
        actor=world.manager, scanner=world.scanner
    )
    scanner_socket = await relay.scanner(token, through=GoneAfter(1))
    assert (await scanner_socket.recv())["type"] == "welcome"
    local = person(world.local_staff, "local")
    scanner = {"id": None, "name": "MR 1", "role": "scanner"}
    joined = await local_socket.recv()
    assert joined["payload"] == {"participants": [local, scanner], "joined": scanner, "left": None}

    # The STOP is the first frame the relay cannot send the scanner: it leaves the session
    # (whether this STOP's own warning comes depends on which socket the relay serves first).
    await local_socket.send("stop")
    frames: dict[str, dict[str, Any]] = {}
    while set(frames) - {"error"} != {"stop", "control", "presence"}:
        frame = await local_socket.recv()
        assert frame["type"] not in frames
        frames[frame["type"]] = frame
    assert frames["presence"]["payload"] == {
        "participants": [local],
        "joined": None,
        "left": scanner,
    }
    await scanner_socket.communicator.wait(TIMEOUT)
    await local_socket.silent()

    # The next STOP says the scanner is not there (beside the STOP itself, which the fan-out
    # sends from its own task: either may come first).
    await local_socket.send("stop")
    first, second = await local_socket.recv_many(2)
    error, stop = (first, second) if first["type"] == "error" else (second, first)
    assert error == {
        "type": "error",
        "seq": None,
        "payload": {
            "code": "scanner_offline",
            "message": "The scanner is not connected to the cockpit right now: the STOP reaches "
            "it as soon as it reconnects. Use the console's own stop at the scanner.",
            "ref": None,
        },
    }
    assert stop == {"type": "stop", "seq": stop["seq"], "payload": {"by": local}}
