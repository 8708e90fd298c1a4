"""The exam's outcome over the relay: a STOP's reason given live, an exam ended early, a booking
closed from its page reaching every open socket at once, and the activity log a late joiner
or a reload gets from the snapshot."""

from typing import Any

import pytest
from channels.db import database_sync_to_async

from cockpit import selectors
from cockpit.models import CockpitSession, CockpitStop, ExamRecord
from scheduling import services as scheduling_services
from tests.cockpit.support import open_cockpit
from tests.cockpit.test_relay_session import connect_scanner, person
from tests.conftest import World

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

SEQUENCES = [
    {"name": "T1 sagittal", "duration_s": 180, "status": "done", "progress": 1.0},
    {"name": "T2 axial", "duration_s": 240, "status": "running", "progress": 0.5},
    {"name": "DWI", "duration_s": 60, "status": "pending", "progress": 0.0},
]
CONSOLE = {"protocol": "neuro", "status": "running", "current": 1, "sequences": SEQUENCES}


async def until(socket: Any, frame_type: str, limit: int = 20) -> dict[str, Any]:
    """The next frame of `frame_type` (the ones before it are skipped)."""
    for _ in range(limit):
        frame = await socket.recv()
        if frame["type"] == frame_type:
            return frame
    raise AssertionError(f"no {frame_type} frame")


async def running_room(world: World, relay: Any) -> tuple[CockpitSession, Any, Any, Any]:
    """An exam under way: the scanner runs the second sequence; operator and local staff in."""
    cockpit = await database_sync_to_async(open_cockpit)(world)
    scanner = await connect_scanner(world, relay)
    operator = await relay.person(world.technologist, cockpit.pk)
    local = await relay.person(world.local_staff, cockpit.pk)
    await scanner.send("state", {"full": True, "state": CONSOLE})
    await until(operator, "session")  # the exam started
    await until(local, "session")
    return cockpit, scanner, operator, local


async def test_a_stop_then_its_reason_reach_everyone_and_a_late_joiner_sees_the_activity(
    world: World, relay: Any
) -> None:
    cockpit, scanner, operator, local = await running_room(world, relay)
    await local.send("stop")
    assert (await until(scanner, "stop"))["payload"] == {"by": person(world.local_staff, "local")}
    control = await until(operator, "control")
    stop = await database_sync_to_async(CockpitStop.objects.get)(cockpit=cockpit)
    (listed,) = control["payload"]["stops"]
    assert listed == {
        "id": stop.pk,
        "by": person(world.local_staff, "local"),
        "at": stop.at.isoformat(),
        "reason": "",
        "reason_by": None,
        "reason_at": None,
    }
    await until(local, "control")

    # The operator did not press it: refused, the socket stays open.
    ref = await operator.send("stop_reason", {"stop": stop.pk, "reason": "Not mine"})
    assert (await until(operator, "error"))["payload"] == {
        "code": "forbidden",
        "message": "Only local staff or whoever pressed the STOP may give its reason.",
        "ref": ref,
    }
    ref = await local.send("stop_reason", {"stop": stop.pk, "reason": "Mevr. Peeters 12/03/1961"})
    refused = await until(local, "error")
    assert (refused["payload"]["code"], refused["payload"]["ref"]) == ("invalid", ref)

    await local.send("stop_reason", {"stop": stop.pk, "reason": "Patient unwell, asked to stop"})
    told = await until(operator, "stops")
    assert told["payload"]["action"] == "reason"
    assert told["payload"]["by"] == person(world.local_staff, "local")
    assert told["payload"]["stop"]["reason"] == "Patient unwell, asked to stop"
    assert told["payload"]["stops"] == [told["payload"]["stop"]]
    assert await until(local, "stops") == told

    # A late joiner (an observer) gets the activity log in its snapshot, oldest first.
    observer = await relay.person(world.manager, cockpit.pk, role="observer")
    snapshot = await until(observer, "snapshot")
    kinds = [
        (entry["type"], entry["payload"].get("action")) for entry in snapshot["payload"]["activity"]
    ]
    assert ("session", None) in kinds
    assert kinds.index(("stop", None)) < kinds.index(("control", "stop"))
    assert kinds[-1] == ("stops", "reason")
    seqs = [entry["seq"] for entry in snapshot["payload"]["activity"]]
    assert seqs == sorted(seqs)


async def test_local_staff_end_a_stopped_exam_early_and_the_scanner_is_let_go(
    world: World, relay: Any
) -> None:
    cockpit, scanner, operator, local = await running_room(world, relay)
    # Still acquiring: refused.
    ref = await local.send("end")
    assert (await until(local, "error"))["payload"] == {
        "code": "conflict",
        "message": "A sequence is still acquiring: stop the scan first, then end the exam.",
        "ref": ref,
    }
    await local.send("stop")
    await until(scanner, "stop")
    await scanner.send(
        "state",
        {
            "full": False,
            "changes": {
                "status": "stopped",
                "sequences": [SEQUENCES[0], {**SEQUENCES[1], "status": "aborted"}, SEQUENCES[2]],
            },
        },
    )
    await until(local, "state")
    await local.send("end")
    ended = await until(operator, "session")
    assert ended["payload"]["status"] == "ended"
    assert ended["payload"]["ended_by"] == person(world.local_staff, "local")
    assert ended["payload"]["outcome"]["label"] == "Completed — partial (1 of 3 sequences)"
    assert [s["outcome"] for s in ended["payload"]["outcome"]["sequences"]] == [
        "done",
        "aborted",
        "skipped",
    ]
    assert (await until(scanner, "session"))["payload"]["status"] == "ended"
    assert await scanner.closed() == 4410
    record = await database_sync_to_async(ExamRecord.objects.get)(cockpit=cockpit)
    assert (record.outcome, record.ending) == ("partial", "early")


async def test_a_booking_completed_from_its_page_reaches_the_open_sockets_at_once(
    world: World, relay: Any
) -> None:
    cockpit, scanner, operator, local = await running_room(world, relay)

    def complete() -> None:
        booking = selectors.cockpit_get(cockpit_id=cockpit.pk).booking
        scheduling_services.booking_complete(actor=world.manager, booking=booking)

    await database_sync_to_async(complete)()
    ended = await until(operator, "session")
    assert ended["payload"]["status"] == "ended"
    assert ended["payload"]["ended_reason"] == "The booking was completed from its page."
    assert ended["payload"]["outcome"]["label"] == "Completed — partial (1 of 3 sequences)"
    assert await until(local, "session") == ended
    assert (await until(scanner, "session"))["payload"]["status"] == "ended"
    assert await scanner.closed() == 4410
    # Nothing more is done in it.
    ref = await operator.send("command", {"name": "start"})
    refused = await until(operator, "error")
    assert (refused["payload"]["code"], refused["payload"]["ref"]) == ("conflict", ref)
