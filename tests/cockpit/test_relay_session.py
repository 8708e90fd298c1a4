"""A session over time: the console state relayed and kept, the exam starting and closing with
the booking, chat, and clients catching up from their last seq."""

from typing import Any

import pytest
from channels.db import database_sync_to_async

from cockpit import selectors
from cockpit.groups import store_prefix
from cockpit.models import CockpitSession
from cockpit.store import HISTORY_MAX, store
from core.models import AuditEvent
from marketplace.services.tenancy import scanner_rotate_token
from scheduling.models import Booking
from tests.cockpit.support import open_cockpit
from tests.conftest import World

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

CONSOLE = {
    "protocol": "neuro",
    "status": "idle",
    "current": 0,
    "sequences": [
        {"name": "T1 sagittal", "duration_s": 180, "status": "pending", "progress": 0.0},
        {"name": "T2 axial", "duration_s": 240, "status": "pending", "progress": 0.0},
    ],
    "table_mm": 0.0,
}


def person(user: Any, role: str) -> dict[str, Any]:
    return {"id": user.pk, "name": user.display_name, "role": role}


@database_sync_to_async
def fresh(cockpit: CockpitSession) -> tuple[CockpitSession, Booking]:
    cockpit = selectors.cockpit_get(cockpit_id=cockpit.pk)
    return cockpit, cockpit.booking


@database_sync_to_async
def views(cockpit: CockpitSession) -> tuple[dict[str, Any], dict[str, Any]]:
    cockpit = selectors.cockpit_get(cockpit_id=cockpit.pk)
    return selectors.session_view(cockpit), selectors.control_view(cockpit)


async def connect_scanner(world: World, relay: Any) -> Any:
    token = await database_sync_to_async(scanner_rotate_token)(
        actor=world.manager, scanner=world.scanner
    )
    scanner = await relay.scanner(token)
    assert (await scanner.recv())["type"] == "welcome"
    return scanner


async def test_state_is_relayed_merged_and_kept_for_late_joiners(world: World, relay: Any) -> None:
    cockpit = await database_sync_to_async(open_cockpit)(world)
    scanner = await connect_scanner(world, relay)
    operator = await relay.person(world.technologist, cockpit.pk)
    _, snapshot, _ = await operator.recv_many(3)
    assert snapshot["payload"]["state"] is None

    await scanner.send("state", {"full": True, "state": CONSOLE, "sent_at": 12.5})
    assert await operator.recv() == {
        "type": "state",
        "seq": 3,
        "payload": {"full": True, "state": CONSOLE, "sent_at": 12.5},
    }
    await scanner.send("state", {"full": False, "changes": {"table_mm": 42.0}})
    assert await operator.recv() == {
        "type": "state",
        "seq": 4,
        "payload": {"full": False, "changes": {"table_mm": 42.0}},
    }

    # A late joiner's snapshot holds the merged full state.
    local = await relay.person(world.local_staff, cockpit.pk)
    _, snapshot, _ = await local.recv_many(3)
    session, control = await views(cockpit)
    # The activity log so far: the scanner and the operator joined (each with the moment kept).
    activity = snapshot["payload"].pop("activity")
    assert [(entry["type"], entry["seq"], entry["payload"]) for entry in activity] == [
        ("presence", 1, {"joined": {"id": None, "name": "MR 1", "role": "scanner"}, "left": None}),
        ("presence", 2, {"joined": person(world.technologist, "operator"), "left": None}),
    ]
    assert all(entry["at"].endswith("+00:00") for entry in activity)
    assert snapshot == {
        "type": "snapshot",
        "seq": None,
        "payload": {
            "seq": 4,
            "state": {**CONSOLE, "table_mm": 42.0},
            "control": control,
            "session": session,
            "presence": [
                {"id": None, "name": "MR 1", "role": "scanner"},
                person(world.technologist, "operator"),
            ],
            "chat": [],
            "links": [],
        },
    }
    # The scanner reconnecting (to this or another process) resumes from the kept state:
    # a delta applies at once.
    await scanner.disconnect()
    scanner = await connect_scanner(world, relay)
    await scanner.send("state", {"full": False, "changes": {"status": "paused"}})
    local_joined, left, joined, paused = await operator.recv_many(4)
    assert local_joined["payload"]["joined"] == person(world.local_staff, "local")
    assert (left["payload"]["left"], joined["payload"]["joined"]) == (
        {"id": None, "name": "MR 1", "role": "scanner"},
        {"id": None, "name": "MR 1", "role": "scanner"},
    )
    assert paused == {
        "type": "state",
        "seq": 8,
        "payload": {"full": False, "changes": {"status": "paused"}},
    }
    kept = await store().snapshot(store_prefix(cockpit))
    assert kept.state == {**CONSOLE, "table_mm": 42.0, "status": "paused"}
    await scanner.silent()


async def test_first_running_state_starts_the_booking_and_close_completes_it(
    world: World, relay: Any
) -> None:
    cockpit = await database_sync_to_async(open_cockpit)(world)
    scanner = await connect_scanner(world, relay)
    operator = await relay.person(world.technologist, cockpit.pk)
    await operator.recv_many(3)
    local = await relay.person(world.local_staff, cockpit.pk)
    await local.recv_many(3)
    await operator.recv()  # presence

    await scanner.send("state", {"full": True, "state": CONSOLE})
    await operator.recv()
    await scanner.send("state", {"full": False, "changes": {"status": "running"}})
    assert (await operator.recv())["seq"] == 5
    session_event = await operator.recv()
    cockpit, booking = await fresh(cockpit)
    session, _ = await views(cockpit)
    assert session_event == {"type": "session", "seq": 6, "payload": session}
    assert session["status"] == "live"
    # The exam started: the event opens closing to the operator (once the protocol is done).
    assert operator.frames_with_moves[-1] == "session"
    assert "close" in operator.moves
    assert booking.status == "in_progress"
    assert cockpit.started_at is not None
    # Only once.
    await scanner.send("state", {"full": False, "changes": {"status": "paused"}})
    await scanner.send("state", {"full": False, "changes": {"status": "running"}})
    assert [frame["type"] for frame in await operator.recv_many(2)] == ["state", "state"]
    await local.recv_many(5)

    # Closing before the protocol is finished is refused; only the operator closes.
    ref = await operator.send("close")
    assert await operator.recv() == {
        "type": "error",
        "seq": None,
        "payload": {
            "code": "conflict",
            "message": "The protocol is not finished: run or abort every sequence first.",
            "ref": ref,
        },
    }
    ref = await local.send("close")
    assert (await local.recv())["payload"] == {
        "code": "forbidden",
        "message": "Only the booked operator closes the cockpit.",
        "ref": ref,
    }

    await scanner.send("state", {"full": False, "changes": {"status": "finished"}})
    assert (await operator.recv())["seq"] == 9
    await local.recv()
    await operator.send("close")
    ended = await operator.recv()
    cockpit, booking = await fresh(cockpit)
    session, _ = await views(cockpit)
    assert ended == {"type": "session", "seq": 10, "payload": session}
    assert await local.recv() == ended
    assert session["status"] == "ended"
    assert booking.status == "completed"
    assert cockpit.ended_at is not None
    # The scanner hears that the session ended and is let go.
    assert await scanner.recv() == ended
    assert await scanner.closed() == 4410
    # Coming back to an ended session: 4410.
    late = await relay.person(world.technologist, cockpit.pk)
    assert await late.closed() == 4410

    actions = await database_sync_to_async(
        lambda: list(
            AuditEvent.objects.filter(
                target_type="cockpit.cockpitsession", target_id=str(cockpit.pk)
            )
            .order_by("pk")
            .values_list("action", flat=True)
        )
    )()
    assert actions == [
        "cockpit.join_approved",
        "cockpit.operator_joined",
        "cockpit.started",
        "cockpit.closed",
    ]


async def test_chat_is_relayed_and_patient_data_is_refused(world: World, relay: Any) -> None:
    cockpit = await database_sync_to_async(open_cockpit)(world)
    operator = await relay.person(world.technologist, cockpit.pk)
    await operator.recv_many(3)
    observer = await relay.person(world.manager, cockpit.pk)
    await observer.recv_many(3)
    # The observer's arrival is numbered 2 (under load it may follow other frames).
    while (presence := await operator.recv())["type"] != "presence":
        pass
    assert presence["seq"] == 2

    await observer.send("chat", {"text": "  Coil change in five minutes.  "})
    frame = await operator.recv()
    assert frame == {
        "type": "chat",
        "seq": 3,
        "payload": {
            "from": person(world.manager, "observer"),
            "text": "Coil change in five minutes.",
            "at": frame["payload"]["at"],
        },
    }
    assert await observer.recv() == frame

    ref = await operator.send("chat", {"text": "Call the ward on +32 475 12 34 56"})
    error = await operator.recv()
    assert error["type"] == "error"
    assert error["payload"]["code"] == "invalid"
    assert error["payload"]["ref"] == ref
    assert "a phone number" in error["payload"]["message"]
    ref = await operator.send("chat", {"text": "   "})
    assert (await operator.recv())["payload"] == {
        "code": "invalid",
        "message": "The chat message cannot be empty.",
        "ref": ref,
    }
    await observer.silent()

    # Late joiners get the conversation in their snapshot.
    local = await relay.person(world.local_staff, cockpit.pk)
    _, snapshot, _ = await local.recv_many(3)
    assert snapshot["payload"]["chat"] == [frame["payload"]]


async def test_resync_from_a_seq_gets_exactly_the_missing_events(world: World, relay: Any) -> None:
    cockpit = await database_sync_to_async(open_cockpit)(world)
    operator = await relay.person(world.technologist, cockpit.pk)
    await operator.recv_many(3)  # presence is seq 1
    sent = []
    for number in range(5):
        await operator.send("chat", {"text": f"line {number}"})
        sent.append(await operator.recv())
    assert [frame["seq"] for frame in sent] == [2, 3, 4, 5, 6]

    # Reconnect with ?since=3: welcome, then events 4..6, then the new presence event; no gap,
    # no duplicate, no snapshot.
    await operator.disconnect()
    again = await relay.person(world.technologist, cockpit.pk, since=3)
    welcome = await again.recv()
    assert (welcome["type"], welcome["payload"]["seq"]) == ("welcome", 7)  # 7: the leave
    frames = await again.recv_many(5)
    assert frames[:3] == sent[2:]
    assert (frames[3]["type"], frames[3]["seq"]) == ("presence", 7)
    assert frames[3]["payload"]["left"] == person(world.technologist, "operator")
    assert (frames[4]["type"], frames[4]["seq"]) == ("presence", 8)

    # `resync` on an open socket does the same.
    await again.send("resync", {"since": 5})
    assert [frame["seq"] for frame in await again.recv_many(3)] == [6, 7, 8]
    await again.send("resync", {"since": 8})
    await again.silent()

    # Too far behind the bounded history: a snapshot instead.
    prefix = store_prefix(cockpit)
    for number in range(HISTORY_MAX):
        await store().publish(prefix, "ack", {"ref": number, "ok": True, "reason": ""})
    # The store hands what it publishes to the fan-out: the open socket gets them live.
    live = await again.recv_many(HISTORY_MAX)
    assert [frame["seq"] for frame in live] == list(range(9, 9 + HISTORY_MAX))
    await again.send("resync", {"since": 7})
    snapshot = await again.recv()
    assert snapshot["type"] == "snapshot"
    assert snapshot["payload"]["seq"] == 8 + HISTORY_MAX
    assert [line["text"] for line in snapshot["payload"]["chat"]] == [
        f"line {number}" for number in range(5)
    ]
    await again.send("resync", {"since": 8})  # the oldest kept is 9: all of them, no gap
    frames = await again.recv_many(HISTORY_MAX)
    assert [frame["seq"] for frame in frames] == list(range(9, 9 + HISTORY_MAX))
    ref = await again.send("resync", {"since": -1})
    assert (await again.recv())["payload"]["ref"] == ref

    # A since from another life of the store (ahead of the session): a snapshot.
    late = await relay.person(world.local_staff, cockpit.pk, since=10**6)
    assert [frame["type"] for frame in await late.recv_many(3)] == [
        "welcome",
        "snapshot",
        "presence",
    ]
    bad = await relay.person(world.manager, cockpit.pk, since="yesterday")
    frames = await bad.recv_many(3)
    assert frames[1] == {
        "type": "error",
        "seq": None,
        "payload": {
            "code": "invalid",
            "message": "'since' is the last seq you saw: 0 to 9007199254740991.",
            "ref": None,
        },
    }
    assert frames[2]["type"] == "snapshot"


async def test_the_same_person_on_two_sockets_is_one_participant(world: World, relay: Any) -> None:
    cockpit = await database_sync_to_async(open_cockpit)(world)
    first = await relay.person(world.technologist, cockpit.pk)
    await first.recv_many(3)
    second = await relay.person(world.technologist, cockpit.pk)
    await second.recv_many(3)
    operator = person(world.technologist, "operator")
    assert await first.recv() == {
        "type": "presence",
        "seq": 2,
        "payload": {"participants": [operator], "joined": operator, "left": None},
    }
