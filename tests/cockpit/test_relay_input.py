"""Frames built to hurt the relay: numbers no JSON column takes, nesting that would exhaust the
parser's stack, megabyte frames, and floods. Each gets an `error` frame on the socket that sent
it, that socket stays open, and everyone else in the session carries on."""

from typing import Any

import pytest

from cockpit.schemas import MAX_FRAME_BYTES
from tests.cockpit.test_relay_control import Room, person
from tests.conftest import World

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

MEGABYTE = 1024 * 1024


@pytest.fixture
def room(world: World, relay: Any) -> Room:
    return Room(world, relay)


def error(code: str, message: str, ref: int | None = None) -> dict[str, Any]:
    return {"type": "error", "seq": None, "payload": {"code": code, "message": message, "ref": ref}}


def nested(depth: int) -> str:
    """A chat frame whose text is `depth` arrays deep: 64 KB at 32,000."""
    return '{"type":"chat","seq":1,"payload":{"text":' + "[" * depth + "]" * depth + "}}"


async def take_control(world: World, room: Room) -> None:
    await room.operator.send("control", {"action": "request"})
    await room.control_event("request", person(world.technologist, "operator"))


async def the_session_goes_on(world: World, room: Room) -> None:
    """Nothing reached anyone; the operator's socket (and everyone's) still carries events."""
    for socket in [*room.people, room.scanner]:
        await socket.silent()
    await room.operator.send("chat", {"text": "Still here."})
    chat = await room.people[0].recv()
    room.seq += 1
    assert chat == {
        "type": "chat",
        "seq": room.seq,
        "payload": {
            "from": person(world.technologist, "operator"),
            "text": "Still here.",
            "at": chat["payload"]["at"],
        },
    }
    for socket in room.people[1:]:
        assert await socket.recv() == chat


@pytest.mark.parametrize("number", ["1e999", "-1e999"])
async def test_a_number_beyond_a_float_is_an_error_frame(
    world: World, room: Room, number: str
) -> None:
    """1e999 parses to an infinity: before, the command's audit row failed on it and the socket
    died with 1011."""
    await room.open()
    await take_control(world, room)
    await room.operator.send_text(
        '{"type":"command","seq":7,"payload":{"name":"adjust",'
        f'"args":{{"parameter":"tr_ms","value":{number}}}}}}}'
    )
    assert await room.operator.recv() == error(
        "malformed", f"Frames are JSON envelopes: {number} is too large a number."
    )
    await the_session_goes_on(world, room)
    # The same command with a number a float holds reaches the scanner.
    await room.operator.send(
        "command", {"name": "adjust", "args": {"parameter": "tr_ms", "value": 1e300}}
    )
    command = await room.everyone_gets(
        "command",
        {
            "name": "adjust",
            "args": {"parameter": "tr_ms", "value": 1e300},
            "by": person(world.technologist, "operator"),
        },
    )
    assert await room.scanner.recv() == command


async def test_a_scanner_state_beyond_a_float_is_an_error_frame(world: World, room: Room) -> None:
    """Before, the state was relayed as far as the store, whose strict JSON refused it: 1011."""
    await room.open()
    await room.scanner.send_text(
        '{"type":"state","seq":3,"payload":{"full":true,"state":{"table_mm":-1e999}}}'
    )
    assert await room.scanner.recv() == error(
        "malformed", "Frames are JSON envelopes: -1e999 is too large a number."
    )
    await the_session_goes_on(world, room)
    await room.scanner.send("state", {"full": True, "state": {"table_mm": 12.5}})
    await room.everyone_gets("state", {"full": True, "state": {"table_mm": 12.5}})


async def test_an_integer_beyond_javascript_is_an_error_frame(world: World, room: Room) -> None:
    """An id too large for a database integer (OverflowError in the query, 1011 before)."""
    await room.open()
    await room.local.send_text(
        '{"type":"control","seq":1,"payload":{"action":"grant","to":' + "9" * 30 + "}}"
    )
    assert await room.local.recv() == error(
        "malformed", "Frames are JSON envelopes: integers are at most 9007199254740991 in size."
    )
    await the_session_goes_on(world, room)


async def test_a_frame_nested_32000_deep_is_an_error_frame(world: World, room: Room) -> None:
    """64 KB of brackets: before, the JSON parser ran out of stack (RecursionError, 1011)."""
    await room.open()
    frame = nested(32_000)
    assert len(frame) < MAX_FRAME_BYTES
    too_deep = error("too_deep", "Frames nest at most 32 levels deep.")
    await room.operator.send_text(frame)
    assert await room.operator.recv() == too_deep
    await room.scanner.send_text(frame.replace('"chat"', '"state"'))
    assert await room.scanner.recv() == too_deep
    await the_session_goes_on(world, room)


async def test_brackets_inside_text_do_not_count_as_nesting(world: World, room: Room) -> None:
    await room.open()
    text = '[[{{ "quoted \\" [[[ ' + "[" * 100
    await room.operator.send("chat", {"text": text})
    chat = await room.operator.recv()
    assert (chat["type"], chat["payload"]["text"]) == ("chat", text)


async def test_a_megabyte_frame_is_an_error_frame(world: World, room: Room) -> None:
    await room.open()
    padding = "x" * MEGABYTE
    too_large = error("too_large", f"Frames are at most {MAX_FRAME_BYTES} bytes.")
    await room.operator.send_text('{"type":"chat","seq":1,"payload":{"text":"' + padding + '"}}')
    assert await room.operator.recv() == too_large
    await room.scanner.send_text(
        '{"type":"state","seq":1,"payload":{"full":true,"state":{"x":"' + padding + '"}}}'
    )
    assert await room.scanner.recv() == too_large
    # Counted in bytes: 40,000 characters of two bytes each are over the cap.
    await room.local.send_text('{"type":"chat","seq":1,"payload":{"text":"' + "é" * 40_000 + '"}}')
    assert await room.local.recv() == too_large
    await the_session_goes_on(world, room)


async def test_an_acknowledgement_reason_is_bounded(world: World, room: Room) -> None:
    await room.open()
    ref = await room.scanner.send("ack", {"ref": 1, "ok": False, "reason": "x" * 501})
    assert await room.scanner.recv() == error(
        "invalid", "ack: reason: String should have at most 500 characters.", ref
    )
