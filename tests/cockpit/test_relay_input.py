"""Frames built to hurt the relay: numbers no JSON column takes, nesting that would exhaust the
parser's stack, megabyte frames, and floods. Each gets an `error` frame on the socket that sent
it, that socket stays open, and everyone else in the session carries on."""

from typing import Any

import pytest

from cockpit import consumers
from cockpit.schemas import MAX_CHAT_LENGTH, MAX_FRAME_BYTES
from cockpit.services import NOTE_MAX
from cockpit.store import HISTORY_MAX
from tests.clock import ManualClock
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


async def test_a_scanner_state_with_half_a_character_is_an_error_frame(
    world: World, room: Room
) -> None:
    """An escaped lone surrogate reads as a string that no UTF-8 holds: before, the state went on
    to the store and the sockets, and the scanner heard nothing back."""
    await room.open()
    await room.scanner.send_text(
        '{"type":"state","seq":3,"payload":{"full":true,"state":{"coil":"\\ud800"}}}'
    )
    assert await room.scanner.recv() == error(
        "malformed",
        "Frames are JSON envelopes: a \\u escape names half of a character (a lone surrogate), "
        "which is not text.",
    )
    await the_session_goes_on(world, room)


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
        "invalid", "ack: 'reason' must have at most 500 characters.", ref
    )


@pytest.mark.parametrize(
    ("kind", "payload", "message"),
    [
        (
            "chat",
            {"text": "x" * (MAX_CHAT_LENGTH + 1)},
            f"chat: 'text' must have at most {MAX_CHAT_LENGTH} characters.",
        ),
        (
            "assist",
            {"action": "request", "exam_family": "neuro", "note": "x" * (NOTE_MAX + 1)},
            f"assist: 'note' must have at most {NOTE_MAX} characters.",
        ),
    ],
)
async def test_the_longest_text_plus_one_is_an_error_frame(
    world: World, room: Room, kind: str, payload: dict[str, Any], message: str
) -> None:
    await room.open()
    ref = await room.operator.send(kind, payload)
    answer = await room.operator.recv()
    assert answer["type"] == "error"
    assert answer["payload"]["ref"] == ref
    assert answer["payload"]["message"] == message
    await the_session_goes_on(world, room)


async def test_the_longest_chat_line_is_relayed(world: World, room: Room) -> None:
    await room.open()
    await room.operator.send("chat", {"text": "x" * MAX_CHAT_LENGTH})
    relayed = await room.local.recv()
    assert (relayed["type"], relayed["payload"]["text"]) == ("chat", "x" * MAX_CHAT_LENGTH)


# --- Floods -------------------------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    frozen = ManualClock(1000.0)
    monkeypatch.setattr(consumers.frame_buckets, "clock", frozen)
    return frozen


def rate_limited(*, limits: str, retry_after: float) -> dict[str, Any]:
    """The answer to a flood (once per refill interval): the frames it drops are not read, so
    it names none of them (`ref` null)."""
    return {
        "type": "error",
        "seq": None,
        "payload": {
            "code": "rate_limited",
            "message": f"Too many frames: {limits}. Try again in {retry_after:g} s.",
            "ref": None,
            "retry_after": retry_after,
        },
    }


PERSON_LIMITS = "at most 5 a second, in bursts of 20"
FLOOD = HISTORY_MAX + 100  # before the limit, enough to push every console event out


async def test_a_chat_flood_is_refused_and_the_console_events_stay_for_a_resync(
    world: World, room: Room, clock: ManualClock
) -> None:
    await room.open()
    operator = person(world.technologist, "operator")
    local = person(world.local_staff, "local")
    await take_control(world, room)
    before = room.seq
    await room.operator.send("command", {"name": "start"})
    command = await room.everyone_gets("command", {"name": "start", "args": {}, "by": operator})
    assert await room.scanner.recv() == command
    await room.scanner.send("ack", {"ref": command["seq"], "ok": True})
    ack = await room.everyone_gets("ack", {"ref": command["seq"], "ok": True, "reason": ""})

    # Local staff send 700 chat lines at one instant: the first 20 (the burst) go out, and they
    # are told once (not 680 times) that the rest were dropped.
    for number in range(FLOOD):
        await room.local.send("chat", {"text": f"flood {number}"})
    frames = await room.local.recv_many(21)
    lines = [frame for frame in frames if frame["type"] == "chat"]
    refusals = [frame for frame in frames if frame["type"] == "error"]
    assert [line["payload"]["text"] for line in lines] == [f"flood {n}" for n in range(20)]
    assert [line["seq"] for line in lines] == list(range(room.seq + 1, room.seq + 21))
    assert refusals == [rate_limited(limits=PERSON_LIMITS, retry_after=0.2)]
    await room.local.silent()
    room.seq += 20
    for socket in (room.operator, room.observer):
        assert await socket.recv_many(20) == lines
        await socket.silent()

    # Someone back from a lost connection resyncs the console's events, then the chat.
    again = await room.relay.person(world.technologist, room.cockpit.pk, since=before)
    assert (await again.recv())["type"] == "welcome"
    assert await again.recv_many(22) == [command, ack, *lines]
    presence = await again.recv()
    assert presence["payload"]["joined"] == operator
    for socket in room.people:
        assert await socket.recv() == presence

    # Local staff's STOP is never refused: it reaches the scanner and everyone.
    await room.local.send("stop")
    stop = await room.local.recv()
    assert stop == {"type": "stop", "seq": stop["seq"], "payload": {"by": local}}
    assert await room.scanner.recv() == stop
    control = await room.local.recv()
    assert (control["type"], control["payload"]["controller"]) == ("control", local)

    # A fifth of a second later, one more line goes out.
    clock.now += 0.2
    await room.local.send("chat", {"text": "Sorry, my keyboard."})
    assert (await room.local.recv())["payload"]["text"] == "Sorry, my keyboard."
    await room.local.send("chat", {"text": "Again?"})
    assert await room.local.recv() == rate_limited(limits=PERSON_LIMITS, retry_after=0.2)


async def test_every_person_frame_counts_and_others_keep_their_own_allowance(
    world: World, room: Room, clock: ManualClock
) -> None:
    await room.open()
    for _ in range(20):
        await room.observer.send("ping")
    assert await room.observer.recv_many(20) == [{"type": "pong", "seq": None, "payload": {}}] * 20
    await room.observer.send("resync", {"since": 0})
    assert await room.observer.recv() == rate_limited(limits=PERSON_LIMITS, retry_after=0.2)
    # The operator is another participant, with a full bucket.
    await room.operator.send("ping")
    assert await room.operator.recv() == {"type": "pong", "seq": None, "payload": {}}


async def test_the_scanner_has_its_own_bound_well_above_its_ten_frames_a_second(
    world: World, room: Room, clock: ManualClock
) -> None:
    await room.open()
    state = {"full": True, "state": {"table_mm": 0.0}}
    # Six seconds at twice the agent's rate: none refused (each frame is relayed before the
    # clock moves on).
    for _ in range(120):
        clock.now += 0.05
        await room.scanner.send("state", state)
        assert (await room.operator.recv())["type"] == "state"
    for socket in room.people[1:]:
        frames = await socket.recv_many(120)
        assert {frame["type"] for frame in frames} == {"state"}
    await room.scanner.silent()
    # A runaway agent: a burst of 100 at one instant (a second later: the bucket is full again),
    # then refusals.
    clock.now += 1
    for _ in range(100):
        await room.scanner.send("state", state)
    await room.scanner.send("state", state)
    assert await room.scanner.recv() == rate_limited(
        limits="at most 50 a second, in bursts of 100", retry_after=0.02
    )
    for socket in room.people:
        assert len(await socket.recv_many(100)) == 100
        await socket.silent()


BIG_MALFORMED = '{"type":"chat","seq":1,"payload":{"text":"' + "x" * (MAX_FRAME_BYTES - 100)
OVERSIZED = '{"type":"chat","seq":1,"payload":{"text":"' + "x" * MAX_FRAME_BYTES + '"}}'
TOO_DEEP = nested(32_000)


@pytest.mark.parametrize("frame", [BIG_MALFORMED, OVERSIZED, TOO_DEEP])
async def test_frames_that_cannot_be_read_count_against_the_sender(
    world: World, room: Room, clock: ManualClock, frame: str
) -> None:
    """A flood of refused frames (63 KB of malformed JSON, 64 KB and more, 32,000 brackets) is
    bounded like any other: past the burst they are dropped unread, with one answer."""
    await room.open()
    for _ in range(FLOOD):
        await room.operator.send_text(frame)
    answers = await room.operator.recv_many(21)
    assert {answer["payload"]["code"] for answer in answers[:20]} == {
        "malformed" if frame is BIG_MALFORMED else "too_large" if frame is OVERSIZED else "too_deep"
    }
    assert answers[20] == rate_limited(limits=PERSON_LIMITS, retry_after=0.2)
    await room.operator.silent()
    # Their bucket is empty: a well-formed frame waits its turn too.
    await room.operator.send("ping")
    await room.operator.silent()
    clock.now += 0.2
    await room.operator.send("ping")
    assert await room.operator.recv() == {"type": "pong", "seq": None, "payload": {}}


async def test_local_staff_stop_goes_through_a_flood_of_their_own_bad_frames(
    world: World, room: Room, clock: ManualClock
) -> None:
    """Local staff's frames that cannot be read, or are too long to be a STOP, use up their
    bucket; their STOP still reaches the scanner at once."""
    await room.open()
    for frame in (BIG_MALFORMED, '{"type":"stop"', '{"type":"chat","seq":1,"payload":{}}'):
        for _ in range(30):
            await room.local.send_text(frame)
    answers = await room.local.recv_many(21)
    assert answers[20] == rate_limited(limits=PERSON_LIMITS, retry_after=0.2)
    await room.local.silent()
    await room.local.send("stop")
    stop = await room.local.recv()
    assert stop == {
        "type": "stop",
        "seq": stop["seq"],
        "payload": {"by": person(world.local_staff, "local")},
    }
    assert await room.scanner.recv() == stop
    control = await room.local.recv()
    assert (control["type"], control["payload"]["action"]) == ("control", "stop")
    # A STOP padded past what is read before a token is taken needs one: dropped unread.
    await room.local.send_text('{"type":"stop","seq":9,"payload":{}}' + " " * 300)
    await room.local.silent()
    await room.scanner.silent()
