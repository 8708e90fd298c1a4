"""The control token over the relay: request, grant, take-over, release, local override; only the
controller's commands reach the scanner; local staff's STOP reaches the scanner first and gives
them the scanner back; everything audited."""

from typing import Any

import pytest
from channels.db import database_sync_to_async

from cockpit import selectors
from cockpit.models import CockpitSession
from core.models import AuditEvent
from marketplace.services.tenancy import scanner_rotate_token
from tests.cockpit.support import open_cockpit, prescan_confirmed
from tests.conftest import World

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def person(user: Any, role: str) -> dict[str, Any]:
    return {"id": user.pk, "name": user.display_name, "role": role}


@database_sync_to_async
def control_now(cockpit: CockpitSession) -> dict[str, Any]:
    return selectors.control_view(selectors.cockpit_get(cockpit_id=cockpit.pk))


@database_sync_to_async
def stops_now(cockpit: CockpitSession) -> list[dict[str, Any]]:
    stops: list[dict[str, Any]] = selectors.outcome_view(
        selectors.cockpit_get(cockpit_id=cockpit.pk)
    )["stops"]
    return stops


@database_sync_to_async
def audit_trail(cockpit: CockpitSession) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (event.action, event.actor_label, event.data)
        for event in AuditEvent.objects.filter(
            target_type="cockpit.cockpitsession", target_id=str(cockpit.pk)
        ).order_by("pk")
    ]


class Room:
    """Operator, local staff, an observer and the scanner, connected and past their greetings."""

    def __init__(self, world: World, relay: Any) -> None:
        self.world = world
        self.relay = relay

    async def open(self, *, approved: bool = True, checklist: bool = True) -> "Room":
        """`checklist`: local staff confirmed the pre-scan checklist (before anyone connects)."""
        world = self.world
        self.cockpit = await database_sync_to_async(open_cockpit)(world, approved=approved)
        if checklist:
            await database_sync_to_async(prescan_confirmed)(world, self.cockpit)
        self.waiting = not approved
        self.operator = await self.relay.person(world.technologist, self.cockpit.pk)
        # An operator not approved yet waits in the lobby: a welcome, nothing of the session.
        await self.operator.recv_many(1 if self.waiting else 3)
        self.local = await self.relay.person(world.local_staff, self.cockpit.pk)
        await self.local.recv_many(3)
        if not self.waiting:
            await self.operator.recv()  # presence: local joined
        self.observer = await self.relay.person(world.manager, self.cockpit.pk)
        await self.observer.recv_many(3)
        if not self.waiting:
            await self.operator.recv()
        await self.local.recv()
        token = await database_sync_to_async(scanner_rotate_token)(
            actor=world.manager, scanner=world.scanner
        )
        self.scanner = await self.relay.scanner(token)
        await self.scanner.recv()  # welcome
        self.seq = 4
        for socket in self.people:
            frame = await socket.recv()
            assert (frame["type"], frame["seq"]) == ("presence", 4)
        return self

    @property
    def people(self) -> list[Any]:
        """Everyone who receives the session's events (not an operator still in the lobby)."""
        if self.waiting:
            return [self.local, self.observer]
        return [self.operator, self.local, self.observer]

    async def everyone_gets(self, event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The next session event, the same for every person in the room."""
        self.seq += 1
        expected = {"type": event_type, "seq": self.seq, "payload": payload}
        for socket in self.people:
            assert await socket.recv() == expected
        return expected

    async def control_event(self, action: str, by: dict[str, Any]) -> dict[str, Any]:
        """The next event is a `control` event showing control as the database now has it."""
        first = await self.people[0].recv()
        control = await control_now(self.cockpit)
        self.seq += 1
        expected = {
            "type": "control",
            "seq": self.seq,
            "payload": {"action": action, "by": by, **control},
        }
        if action == "stop":  # every STOP so far, the one just pressed with its id
            expected["payload"]["stops"] = await stops_now(self.cockpit)
        assert first == expected
        for socket in self.people[1:]:
            assert await socket.recv() == expected
        return control


@pytest.fixture
def room(world: World, relay: Any) -> Room:
    return Room(world, relay)


def error(code: str, message: str, ref: int) -> dict[str, Any]:
    return {"type": "error", "seq": None, "payload": {"code": code, "message": message, "ref": ref}}


async def test_request_grant_take_over_release_and_override(world: World, room: Room) -> None:
    await room.open()
    operator = person(world.technologist, "operator")
    local = person(world.local_staff, "local")

    # Free control is granted to whoever asks first.
    await room.operator.send("control", {"action": "request"})
    control = await room.control_event("request", operator)
    assert control["controller"] == operator
    assert control["requested_by"] is None

    # Local staff ask: the request waits for the holder.
    await room.local.send("control", {"action": "request"})
    control = await room.control_event("request", local)
    assert (control["controller"], control["requested_by"]) == (operator, local)

    # The holder grants it to whoever asked.
    await room.operator.send("control", {"action": "grant"})
    control = await room.control_event("grant", operator)
    assert (control["controller"], control["requested_by"]) == (local, None)

    # The booked operator takes it back (no local override: local only asked).
    await room.operator.send("control", {"action": "take_over"})
    control = await room.control_event("take_over", operator)
    assert control["controller"] == operator

    # Release: nobody holds control.
    await room.operator.send("control", {"action": "release"})
    control = await room.control_event("release", operator)
    assert control["controller"] is None

    # Local override: local staff take the scanner back ...
    await room.local.send("control", {"action": "override"})
    control = await room.control_event("override", local)
    assert (control["controller"], control["local_override"]) == (local, True)

    # ... and the operator's take-over is refused until they hand it over.
    ref = await room.operator.send("control", {"action": "take_over"})
    assert await room.operator.recv() == error(
        "conflict",
        "Local staff have taken the scanner back; ask them to hand control over to you.",
        ref,
    )
    await room.local.send("control", {"action": "grant", "to": world.technologist.pk})
    control = await room.control_event("grant", local)
    assert (control["controller"], control["local_override"]) == (operator, False)

    for socket in [*room.people, room.scanner]:
        await socket.silent()
    assert [(action, actor) for action, actor, _ in await audit_trail(room.cockpit)] == [
        ("cockpit.join_approved", world.local_staff.email),
        ("cockpit.prescan_confirmed", world.local_staff.email),
        # The operator's first connection: the evidence that they came (scheduling.no_shows).
        ("cockpit.operator_joined", world.technologist.email),
        ("cockpit.control_granted", world.technologist.email),
        ("cockpit.control_requested", world.local_staff.email),
        ("cockpit.control_granted", world.technologist.email),
        ("cockpit.control_taken_over", world.technologist.email),
        ("cockpit.control_released", world.technologist.email),
        ("cockpit.local_override", world.local_staff.email),
        ("cockpit.control_granted", world.local_staff.email),
    ]


async def test_observers_and_unapproved_operators_cannot_take_control(
    world: World, room: Room
) -> None:
    await room.open(approved=False)
    ref = await room.observer.send("control", {"action": "request"})
    assert await room.observer.recv() == error(
        "forbidden", "Observers watch the exam; they cannot hold control.", ref
    )
    # The operator waits in the lobby: the others see them waiting; they see nothing of the
    # console, and nothing they send gets in.
    presence = await room.relay.store_presence(room.cockpit)
    assert {**person(world.technologist, "operator"), "waiting": True} in presence
    for frame_type, payload in [
        ("control", {"action": "request"}),
        ("chat", {"text": "Hello?"}),
        ("command", {"name": "start"}),
    ]:
        ref = await room.operator.send(frame_type, payload)
        assert await room.operator.recv() == error(
            "waiting",
            "Local staff have not approved your join yet: the console opens when they do.",
            ref,
        )
    for socket in room.people:
        await socket.silent()

    # Local staff approve the join: everyone sees it; the operator enters with a snapshot and
    # may now ask for control.
    await room.local.send("approve")
    control = await room.control_event("approve", person(world.local_staff, "local"))
    assert control["join_approved"] is True
    assert control["join_approved_by"] == person(world.local_staff, "local")
    snapshot = await room.operator.recv()
    assert snapshot["type"] == "snapshot"
    assert snapshot["payload"]["seq"] == room.seq
    assert snapshot["payload"]["control"]["join_approved"] is True
    room.waiting = False
    await room.everyone_gets(
        "presence",
        {
            "participants": await room.relay.store_presence(room.cockpit),
            "joined": person(world.technologist, "operator"),
            "left": None,
        },
    )
    ref = await room.operator.send("approve")
    assert await room.operator.recv() == error(
        "forbidden", "Only local staff of the scanning site approve the operator's join.", ref
    )
    ref = await room.operator.send("control", {"action": "release", "to": 3})
    assert await room.operator.recv() == error("invalid", "'to' goes with 'grant' only.", ref)
    await room.operator.send("control", {"action": "request"})
    control = await room.control_event("request", person(world.technologist, "operator"))
    assert control["controller"] == person(world.technologist, "operator")


async def test_only_the_controllers_commands_reach_the_scanner(world: World, room: Room) -> None:
    await room.open()
    operator = person(world.technologist, "operator")

    # Nobody holds control yet: the operator's command is refused and never reaches the scanner.
    ref = await room.operator.send("command", {"name": "start"})
    assert await room.operator.recv() == error(
        "forbidden", "You do not hold control: ask for it first.", ref
    )
    ref = await room.observer.send("command", {"name": "start"})
    assert await room.observer.recv() == error(
        "forbidden", "Only the person holding control sends commands; observers watch.", ref
    )
    await room.scanner.silent()

    await room.operator.send("control", {"action": "request"})
    await room.control_event("request", operator)
    await room.operator.send(
        "command", {"name": "adjust", "args": {"parameter": "tr_ms", "value": 2000}}
    )
    command = await room.everyone_gets(
        "command",
        {"name": "adjust", "args": {"parameter": "tr_ms", "value": 2000.0}, "by": operator},
    )
    assert await room.scanner.recv() == command

    # Local staff hold no control: their command is refused too.
    ref = await room.local.send("command", {"name": "pause"})
    assert await room.local.recv() == error(
        "forbidden", "You do not hold control: ask for it first.", ref
    )
    await room.scanner.silent()

    # The scanner's answer reaches everyone.
    await room.scanner.send("ack", {"ref": command["seq"], "ok": False, "reason": "Out of range."})
    await room.everyone_gets("ack", {"ref": command["seq"], "ok": False, "reason": "Out of range."})
    await room.scanner.silent()

    trail = await audit_trail(room.cockpit)
    assert trail[-1] == (
        "cockpit.command",
        world.technologist.email,
        {
            "booking": room.cockpit.booking_id,
            "name": "adjust",
            "args": {"parameter": "tr_ms", "value": 2000.0},
            "role": "operator",
        },
    )
    assert [action for action, _, _ in trail].count("cockpit.command") == 1


async def test_local_stop_reaches_the_scanner_and_gives_local_control(
    world: World, room: Room
) -> None:
    await room.open()
    operator = person(world.technologist, "operator")
    local = person(world.local_staff, "local")
    await room.operator.send("control", {"action": "request"})
    await room.control_event("request", operator)
    await room.operator.send("command", {"name": "start"})
    start = await room.everyone_gets("command", {"name": "start", "args": {}, "by": operator})
    assert await room.scanner.recv() == start

    # Observers cannot stop.
    ref = await room.observer.send("stop")
    assert await room.observer.recv() == error(
        "forbidden", "Only local staff or the person holding control may stop the scan.", ref
    )

    # STOP from local staff, who do not hold control: the scanner gets it ...
    await room.local.send("stop")
    stop = await room.everyone_gets("stop", {"by": local})
    assert await room.scanner.recv() == stop
    # ... then local staff hold the scanner (override).
    control = await room.control_event("stop", local)
    assert (control["controller"], control["local_override"]) == (local, True)
    await room.scanner.silent()

    # The operator's commands and take-over are refused now.
    ref = await room.operator.send("command", {"name": "resume"})
    assert (await room.operator.recv())["payload"]["code"] == "forbidden"
    ref = await room.operator.send("control", {"action": "take_over"})
    assert await room.operator.recv() == error(
        "conflict",
        "Local staff have taken the scanner back; ask them to hand control over to you.",
        ref,
    )
    ref = await room.operator.send("stop")
    assert await room.operator.recv() == error(
        "forbidden", "Only local staff or the person holding control may stop the scan.", ref
    )
    await room.scanner.silent()

    # Local staff confirm contrast: it goes to the scanner as a command.
    await room.local.send("confirm_contrast")
    confirm = await room.everyone_gets(
        "command", {"name": "confirm_contrast", "args": {}, "by": local}
    )
    assert await room.scanner.recv() == confirm
    ref = await room.operator.send("confirm_contrast")
    assert await room.operator.recv() == error(
        "forbidden", "Only local staff beside the patient confirm contrast.", ref
    )

    trail = await audit_trail(room.cockpit)
    stops = [data for action, _, data in trail if action == "cockpit.stopped"]
    assert stops == [
        {
            "booking": room.cockpit.booking_id,
            "role": "local",
            "control_from": world.technologist.pk,
        }
    ]
    assert trail[-1][0] == "cockpit.contrast_confirmed"


async def test_the_controller_may_stop_too(world: World, room: Room) -> None:
    await room.open()
    operator = person(world.technologist, "operator")
    await room.operator.send("control", {"action": "request"})
    await room.control_event("request", operator)
    await room.operator.send("stop")
    stop = await room.everyone_gets("stop", {"by": operator})
    assert await room.scanner.recv() == stop
    # Any STOP leaves the scanner held by local staff (issue 15): the controller no longer holds
    # control, and nothing they send reaches the scanner until local staff grant it back.
    control = await room.control_event("stop", operator)
    assert (control["controller"], control["local_override"]) == (None, True)
    assert "command" not in room.operator.moves
    assert "control.take_over" not in room.operator.moves
    assert {"control.override", "control.request"} <= set(room.local.moves)
    ref = await room.operator.send("command", {"name": "resume"})
    assert await room.operator.recv() == error(
        "forbidden", "You do not hold control: ask for it first.", ref
    )
    await room.local.send("control", {"action": "grant", "to": world.technologist.pk})
    control = await room.control_event("grant", person(world.local_staff, "local"))
    assert (control["controller"], control["local_override"]) == (operator, False)
    assert "command" in room.operator.moves
    await room.operator.send("command", {"name": "resume"})
    command = await room.everyone_gets("command", {"name": "resume", "args": {}, "by": operator})
    assert await room.scanner.recv() == command
    for socket in room.people:
        await socket.silent()


async def test_a_stop_pressed_while_the_scanner_is_away_reaches_it_when_it_is_back(
    world: World, room: Room
) -> None:
    await room.open()
    local = person(world.local_staff, "local")
    await room.operator.send("control", {"action": "request"})
    await room.control_event("request", person(world.technologist, "operator"))
    await room.operator.send("command", {"name": "start"})
    command = await room.everyone_gets(
        "command", {"name": "start", "args": {}, "by": person(world.technologist, "operator")}
    )
    assert await room.scanner.recv() == command
    # The scanner's link drops; local staff press STOP.
    await room.scanner.disconnect()
    scanner_left = await room.observer.recv()
    assert scanner_left["type"] == "presence"
    assert scanner_left["payload"]["left"]["role"] == "scanner"
    await room.operator.recv()
    await room.local.recv()
    room.seq += 2
    await room.local.send("stop")
    stop = {"type": "stop", "seq": room.seq, "payload": {"by": local}}
    assert await room.operator.recv() == stop
    assert await room.observer.recv() == stop
    # Local staff get the STOP and a warning (the warning is sent straight to their socket, the
    # STOP through the group: either may come first).
    frames = await room.local.recv_many(2)
    assert stop in frames
    (warning,) = [frame for frame in frames if frame["type"] == "error"]
    assert warning["payload"]["code"] == "scanner_offline"
    assert "reaches it as soon as it reconnects" in warning["payload"]["message"]
    await room.control_event("stop", local)
    # Back, the scanner asks for what it missed since the last event it had: the STOP.
    token = await database_sync_to_async(scanner_rotate_token)(
        actor=world.manager, scanner=world.scanner
    )
    scanner = await room.relay.scanner(token)
    assert (await scanner.recv())["type"] == "welcome"
    await scanner.send("resync", {"since": command["seq"]})
    assert await scanner.recv() == stop
    await scanner.silent()


async def test_a_command_checked_before_a_stop_never_follows_it_to_the_scanner(
    relay_store: Any,
) -> None:
    """The fence in the store: a command whose control check happened before a STOP (or whose
    STOP has not yet moved control in the database) is not published after it."""
    prefix = "wescan:cockpit:test-fence"
    fence = await relay_store.stop_seq(prefix)
    assert fence == 0
    seq, _ = await relay_store.publish(prefix, "command", {"name": "start"}, fence=fence)
    assert seq == 1
    stop_seq, _ = await relay_store.publish(prefix, "stop", {"by": None})
    # Checked before the STOP: refused.
    assert await relay_store.publish(prefix, "command", {"name": "resume"}, fence=fence) == (0, "")
    # Checked after the STOP, but control has not changed since: refused too.
    late = await relay_store.stop_seq(prefix)
    assert late == stop_seq
    assert await relay_store.publish(prefix, "command", {"name": "resume"}, fence=late) == (0, "")
    # Once the STOP's change of control is published, commands flow again.
    await relay_store.publish(prefix, "control", {"action": "stop"})
    seq, text = await relay_store.publish(prefix, "command", {"name": "resume"}, fence=late)
    assert seq == stop_seq + 2
    assert text.startswith('{"type":"command","seq":')
    # Nothing refused was kept.
    assert len(await relay_store.since(prefix, 0)) == 4


async def test_nan_and_infinity_are_refused_and_the_socket_stays(world: World, room: Room) -> None:
    await room.open()
    await room.operator.send("control", {"action": "request"})
    await room.control_event("request", person(world.technologist, "operator"))
    await room.operator.send_text(
        '{"type":"command","seq":7,"payload":{"name":"adjust",'
        '"args":{"parameter":"tr_ms","value":NaN}}}'
    )
    refused = await room.operator.recv()
    assert refused["type"] == "error"
    assert refused["payload"]["code"] == "malformed"
    assert "NaN is not a number JSON allows" in refused["payload"]["message"]
    await room.scanner.send_text(
        '{"type":"state","seq":1,"payload":{"full":true,"state":{"x":Infinity}}}'
    )
    assert (await room.scanner.recv())["payload"]["code"] == "malformed"
    for socket in room.people:
        await socket.silent()
    await room.operator.send("ping")
    assert await room.operator.recv() == {"type": "pong", "seq": None, "payload": {}}


async def test_a_manager_on_an_observers_socket_makes_no_local_staff_move(
    world: World, room: Room
) -> None:
    """The scanning site's manager may join as local staff too, but on an observer's socket
    they were offered no move but chat, and none is accepted: taking the scanner back,
    confirming contrast, approving, taking over or releasing all get `error` frames, and
    nothing reaches the scanner (a trial found override and contrast accepted)."""
    await room.open()
    assert room.observer.moves == ["chat"]
    for frame_type, payload in [
        ("control", {"action": "override"}),
        ("control", {"action": "take_over"}),
        ("control", {"action": "release"}),
        ("control", {"action": "grant", "to": world.local_staff.pk}),
        ("confirm_contrast", {}),
        ("approve", {}),
        ("stop", {}),
        ("checklist", {"patient_informed": True}),
        ("end", {}),
    ]:
        ref = await room.observer.send(frame_type, payload)
        refused = await room.observer.recv()
        assert (refused["type"], refused["payload"]["code"], refused["payload"]["ref"]) == (
            "error",
            "forbidden",
            ref,
        ), (frame_type, payload, refused)
    cockpit = await database_sync_to_async(CockpitSession.objects.get)(pk=room.cockpit.pk)
    assert (cockpit.controller_id, cockpit.local_override) == (None, False)
    await room.scanner.silent()
    for socket in room.people:
        await socket.silent()
