"""Issue 15 over the relay: once local staff STOP, they hold the scanner, and only their explicit
grant hands control to a remote person. The exact path of the report: operator, local staff and
an assistant connected; local STOP; the operator's "Grant control to <assistant>" is refused and
control stays put; the assistant's request waits and its command is refused; the operator's
take-over is refused; local staff grant control to the assistant, whose Start reaches the
scanner. Every frame that changes what someone may do carries their `moves`."""

from typing import Any

import pytest
from channels.db import database_sync_to_async

from cockpit import selectors
from cockpit.models import CockpitSession
from core.models import AuditEvent
from marketplace.services.tenancy import scanner_rotate_token
from tests.cockpit.support import open_cockpit, prescan_confirmed
from tests.conftest import World
from tests.factories import UserFactory, enrol_totp

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

# The moves that move control or reach the scanner: none of them is open to a remote person
# while local staff hold the scanner.
MOVES_CONTROL = {"control.grant", "control.grant_to", "control.take_over", "command"}


def person(user: Any, role: str) -> dict[str, Any]:
    return {"id": user.pk, "name": user.display_name, "role": role}


def error(code: str, message: str, ref: int) -> dict[str, Any]:
    return {"type": "error", "seq": None, "payload": {"code": code, "message": message, "ref": ref}}


@database_sync_to_async
def control_now(cockpit: CockpitSession) -> dict[str, Any]:
    return selectors.control_view(selectors.cockpit_get(cockpit_id=cockpit.pk))


@database_sync_to_async
def with_assistant(world: World) -> tuple[CockpitSession, Any]:
    cockpit = open_cockpit(world)
    senior = UserFactory(email="wim.claes@example.org", first_name="Wim", last_name="Claes")
    enrol_totp(senior)  # a cockpit needs a second factor
    cockpit.assistants.add(senior)
    return cockpit, senior


async def drain(socket: Any) -> list[dict[str, Any]]:
    """Every frame that arrives until the socket falls quiet."""
    frames = []
    while not await socket.communicator.receive_nothing(timeout=0.2, interval=0.02):
        frames.append(await socket.recv())
    return frames


class Room:
    def __init__(self, world: World, relay: Any) -> None:
        self.world = world
        self.relay = relay

    async def open(self, *, scanner: bool = True) -> "Room":
        self.cockpit, self.senior = await with_assistant(self.world)
        # Local staff have done the pre-scan checklist: these tests are about control.
        await database_sync_to_async(prescan_confirmed)(self.world, self.cockpit)
        self.operator = await self.relay.person(self.world.technologist, self.cockpit.pk)
        self.local = await self.relay.person(self.world.local_staff, self.cockpit.pk)
        self.assistant = await self.relay.person(self.senior, self.cockpit.pk, role="assistant")
        if scanner:
            token = await database_sync_to_async(scanner_rotate_token)(
                actor=self.world.manager, scanner=self.world.scanner
            )
            self.scanner = await self.relay.scanner(token)
            await drain(self.scanner)
        # Each has its own greeting (who was here before them), then every join after theirs:
        # one presence event per person and one for the scanner.
        joins = len(self.people) + scanner
        for socket in self.people:
            while (await socket.recv())["seq"] != joins:
                pass
            await drain(socket)
        return self

    @property
    def people(self) -> list[Any]:
        return [self.operator, self.local, self.assistant]

    async def settle(self, expected: int) -> list[dict[str, Any]]:
        """The `expected` session events (the same for everyone), waited for on every socket
        however slow the machine, and then nothing more until the room falls quiet."""
        seen = []
        for socket in self.people:
            frames = []
            while sum(frame["seq"] is not None for frame in frames) < expected:
                frames.append(await socket.recv())
            seen.append(
                [frame for frame in frames + await drain(socket) if frame["seq"] is not None]
            )
        for events in seen[1:]:
            assert events == seen[0]
        assert len(seen[0]) == expected
        return seen[0]


@pytest.fixture
def room(world: World, relay: Any) -> Room:
    return Room(world, relay)


async def test_after_a_local_stop_only_local_staff_hand_control_to_the_assistant(
    world: World, room: Room
) -> None:
    await room.open()
    operator = person(world.technologist, "operator")
    local = person(world.local_staff, "local")
    assistant = person(room.senior, "assistant")
    # The welcome and the snapshot say what each may do.
    for socket in room.people:
        assert socket.frames_with_moves[:2] == ["welcome", "snapshot"]
        assert "presence" in socket.frames_with_moves

    # The operator holds control and starts the scan.
    await room.operator.send("control", {"action": "request"})
    await room.settle(1)
    assert "command" in room.operator.moves
    await room.operator.send("command", {"name": "start"})
    assert (await room.scanner.recv())["payload"]["name"] == "start"
    await room.settle(1)

    # Local staff press STOP: it reaches the scanner, and they hold it.
    await room.local.send("stop")
    assert (await room.scanner.recv())["type"] == "stop"
    events = await room.settle(2)
    assert [event["type"] for event in events] == ["stop", "control"]
    held = await control_now(room.cockpit)
    assert (held["controller"], held["local_override"]) == (local, True)
    assert not MOVES_CONTROL & set(room.operator.moves)
    assert not MOVES_CONTROL & set(room.assistant.moves)
    assert {"control.grant_to", "command", "stop"} <= set(room.local.moves)

    # The assistant asks for control: the request is recorded and waits for local staff.
    await room.assistant.send("control", {"action": "request"})
    events = await room.settle(1)
    assert events[0]["payload"]["controller"] == local
    assert events[0]["payload"]["requested_by"] == assistant
    assert "control.grant" in room.local.moves
    assert "control.grant" not in room.operator.moves  # the bug: it was offered

    # The operator's grant to the assistant (as the old page sent it, and naming them): refused.
    for payload in ({"action": "grant", "to": room.senior.pk}, {"action": "grant"}):
        ref = await room.operator.send("control", payload)
        assert await room.operator.recv() == error(
            "forbidden", "Local staff hold the scanner: only they can hand control over.", ref
        )
    # The assistant's command and the operator's take-over: refused too.
    ref = await room.assistant.send("command", {"name": "start"})
    assert await room.assistant.recv() == error(
        "forbidden", "You do not hold control: ask for it first.", ref
    )
    ref = await room.operator.send("control", {"action": "take_over"})
    assert await room.operator.recv() == error(
        "conflict",
        "Local staff have taken the scanner back; ask them to hand control over to you.",
        ref,
    )
    assert await room.settle(0) == []
    assert await room.scanner.communicator.receive_nothing(timeout=0.2)
    assert await control_now(room.cockpit) == {**held, "requested_by": assistant}

    # Local staff grant control to the assistant, who asked; the assistant's Start runs.
    await room.local.send("control", {"action": "grant"})
    events = await room.settle(1)
    assert events[0]["payload"]["action"] == "grant"
    assert (events[0]["payload"]["controller"], events[0]["payload"]["local_override"]) == (
        assistant,
        False,
    )
    assert "command" in room.assistant.moves
    await room.assistant.send("command", {"name": "start"})
    command = await room.scanner.recv()
    assert (command["type"], command["payload"]["name"], command["payload"]["by"]) == (
        "command",
        "start",
        assistant,
    )
    await room.settle(1)

    granted = await database_sync_to_async(
        lambda: list(
            AuditEvent.objects.filter(action="cockpit.control_granted")
            .order_by("pk")
            .values_list("actor__email", "data")
        )
    )()
    assert granted[-1] == (
        world.local_staff.email,
        {
            "booking": room.cockpit.booking_id,
            "to": room.senior.pk,
            "role": "assistant",
            "held": True,
        },
    )
    assert operator == person(world.technologist, "operator")


async def test_a_command_while_the_scanner_is_away_is_refused_out_loud(
    world: World, room: Room
) -> None:
    await room.open(scanner=False)
    await room.operator.send("control", {"action": "request"})
    await room.settle(1)
    ref = await room.operator.send("command", {"name": "start"})
    assert await room.operator.recv() == error(
        "scanner_offline",
        "The scanner is not connected to the cockpit: “start” was not sent. Try again once it "
        "is back.",
        ref,
    )
    assert await room.settle(0) == []  # nothing published


async def test_the_controllers_own_stop_leaves_the_scanner_held_by_local_staff(
    world: World, room: Room
) -> None:
    await room.open()
    await room.operator.send("control", {"action": "request"})
    await room.settle(1)
    # The console's own Stop button (a `stop` command) is a STOP.
    await room.operator.send("command", {"name": "stop"})
    assert (await room.scanner.recv())["type"] == "stop"
    events = await room.settle(2)
    assert [event["type"] for event in events] == ["stop", "control"]
    control = await control_now(room.cockpit)
    assert (control["controller"], control["local_override"]) == (None, True)
    # Nobody remote may move control or command; local staff may take it or hand it over.
    for socket in (room.operator, room.assistant):
        assert not MOVES_CONTROL & set(socket.moves)
    assert {"control.request", "control.override", "control.grant_to"} <= set(room.local.moves)
    # The operator's request only waits.
    await room.operator.send("control", {"action": "request"})
    events = await room.settle(1)
    assert events[0]["payload"]["controller"] is None
    assert events[0]["payload"]["requested_by"] == person(world.technologist, "operator")
    # Releasing would not free it either: there is nothing to release. Local staff grant it.
    await room.local.send("control", {"action": "grant"})
    events = await room.settle(1)
    assert events[0]["payload"]["controller"] == person(world.technologist, "operator")
    assert "command" in room.operator.moves
