"""Who gets into a cockpit session and what they see first: refusals with a clear close code, the
`welcome`, the `snapshot` or the missed events, presence, and bad frames that leave the socket
open."""

from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async

from cockpit import selectors
from cockpit import services as cockpit_services
from cockpit.models import CockpitSession
from cockpit.schemas import MAX_FRAME_BYTES
from marketplace.services.tenancy import scanner_rotate_token
from tests.cockpit.support import open_booking, open_cockpit
from tests.conftest import World

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def person(user: Any, role: str) -> dict[str, Any]:
    return {"id": user.pk, "name": user.display_name, "role": role}


@database_sync_to_async
def views(cockpit: CockpitSession) -> tuple[dict[str, Any], dict[str, Any]]:
    fresh = selectors.cockpit_get(cockpit_id=cockpit.pk)
    return selectors.session_view(fresh), selectors.control_view(fresh)


@database_sync_to_async
def token(world: World) -> str:
    return scanner_rotate_token(actor=world.manager, scanner=world.scanner)


# --- Refusals ---------------------------------------------------------------------------------


async def test_anonymous_is_closed_4401(world: World, relay: Any) -> None:
    cockpit = await database_sync_to_async(open_cockpit)(world)
    socket = await relay.person(None, cockpit.pk)
    assert await socket.closed() == 4401


@pytest.mark.parametrize("who", ["outsider", "other_manager"])
async def test_someone_without_a_part_gets_4404_as_for_no_session(
    world: World, relay: Any, who: str
) -> None:
    cockpit = await database_sync_to_async(open_cockpit)(world)
    socket = await relay.person(getattr(world, who), cockpit.pk)
    assert await socket.closed() == 4404
    missing = await relay.person(world.technologist, cockpit.pk + 1000)
    assert await missing.closed() == 4404


@pytest.mark.parametrize(
    ("who", "role"),
    [
        ("technologist", "local"),
        ("local_staff", "operator"),
        ("manager", "scanner"),
        ("manager", "x"),
    ],
)
async def test_a_role_that_is_not_yours_gets_4403(
    world: World, relay: Any, who: str, role: str
) -> None:
    cockpit = await database_sync_to_async(open_cockpit)(world)
    socket = await relay.person(getattr(world, who), cockpit.pk, role=role)
    assert await socket.closed() == 4403


async def test_a_session_not_open_yet_gets_4409(world: World, relay: Any) -> None:
    @database_sync_to_async
    def later() -> CockpitSession:
        booking = open_booking(
            world.manager, world.scanner, world.technologist, starts_in=timedelta(hours=3)
        )
        return cockpit_services.cockpit_open(booking=booking, ahead=True)

    cockpit = await later()
    socket = await relay.person(world.technologist, cockpit.pk)
    assert await socket.closed() == 4409


async def test_a_bad_device_token_gets_4401(world: World, relay: Any) -> None:
    await database_sync_to_async(open_cockpit)(world)
    await token(world)
    socket = await relay.scanner("wsd_not-the-token")
    assert await socket.closed() == 4401
    socket = await relay.scanner("")
    assert await socket.closed() == 4401


async def test_a_scanner_with_no_open_session_is_told_when_the_next_opens(
    world: World, relay: Any
) -> None:
    @database_sync_to_async
    def later() -> Any:
        return open_booking(
            world.manager, world.scanner, world.technologist, starts_in=timedelta(hours=3)
        )

    booking = await later()
    socket = await relay.scanner(await token(world))
    opens = (booking.starts_at - timedelta(minutes=15)).isoformat()
    assert await socket.recv() == {
        "type": "error",
        "seq": None,
        "payload": {
            "code": "no_session",
            "message": f"No cockpit session is open on MR 1 now; the next opens at {opens}.",
            "ref": None,
        },
    }
    assert await socket.closed() == 4404


# --- Welcome, snapshot, presence --------------------------------------------------------------


async def test_people_get_welcome_then_snapshot_then_presence(world: World, relay: Any) -> None:
    cockpit = await database_sync_to_async(open_cockpit)(world)
    session, control = await views(cockpit)
    operator = person(world.technologist, "operator")
    socket = await relay.person(world.technologist, cockpit.pk)
    assert await socket.recv_many(3) == [
        {
            "type": "welcome",
            "seq": None,
            "payload": {
                "role": "operator",
                "you": operator,
                "session": session,
                "control": control,
                "seq": 0,
                "waiting": False,
            },
        },
        {
            "type": "snapshot",
            "seq": None,
            "payload": {
                "seq": 0,
                "state": None,
                "control": control,
                "session": session,
                "presence": [],
                "chat": [],
                "links": [],
                "activity": [],
            },
        },
        {
            "type": "presence",
            "seq": 1,
            "payload": {"participants": [operator], "joined": operator, "left": None},
        },
    ]
    assert session["status"] == "waiting"
    assert control["join_approved"] is True
    assert control["controller"] is None

    # The manager of the scanning hospital observes by default, and may stand in as local staff.
    observer = await relay.person(world.manager, cockpit.pk)
    welcome = await observer.recv()
    assert (welcome["payload"]["role"], welcome["payload"]["seq"]) == ("observer", 1)
    snapshot = await observer.recv()
    assert snapshot["payload"]["presence"] == [operator]
    manager = person(world.manager, "observer")
    joined = {
        "type": "presence",
        "seq": 2,
        "payload": {"participants": [operator, manager], "joined": manager, "left": None},
    }
    assert await observer.recv() == joined
    assert await socket.recv() == joined

    await observer.disconnect()
    assert await socket.recv() == {
        "type": "presence",
        "seq": 3,
        "payload": {"participants": [operator], "joined": None, "left": manager},
    }
    await socket.silent()


async def test_the_scanner_is_attached_to_its_open_session(world: World, relay: Any) -> None:
    cockpit = await database_sync_to_async(open_cockpit)(world)
    session, control = await views(cockpit)
    operator = await relay.person(world.technologist, cockpit.pk)
    await operator.recv_many(3)
    scanner = await relay.scanner(await token(world))
    scanner_person = {"id": None, "name": "MR 1", "role": "scanner"}
    assert await scanner.recv() == {
        "type": "welcome",
        "seq": None,
        "payload": {
            "role": "scanner",
            "you": scanner_person,
            "session": session,
            "control": control,
            "seq": 1,
            "waiting": False,
        },
    }
    assert session["protocol"] == "neuro"
    assert session["id"] == cockpit.pk
    assert await operator.recv() == {
        "type": "presence",
        "seq": 2,
        "payload": {
            "participants": [person(world.technologist, "operator"), scanner_person],
            "joined": scanner_person,
            "left": None,
        },
    }
    # Presence and the scanner's own state are not for the scanner.
    await scanner.send("state", {"full": True, "state": {"status": "idle", "current": 0}})
    assert await operator.recv() == {
        "type": "state",
        "seq": 3,
        "payload": {"full": True, "state": {"status": "idle", "current": 0}},
    }
    await scanner.silent()


# --- Bad frames -------------------------------------------------------------------------------


async def test_bad_frames_get_an_error_and_the_socket_stays_open(world: World, relay: Any) -> None:
    cockpit = await database_sync_to_async(open_cockpit)(world)
    socket = await relay.person(world.technologist, cockpit.pk)
    await socket.recv_many(3)

    def error(code: str, message: str, ref: int | None = None) -> dict[str, Any]:
        return {
            "type": "error",
            "seq": None,
            "payload": {"code": code, "message": message, "ref": ref},
        }

    await socket.send_text("{not json")
    frame = await socket.recv()
    assert frame["payload"]["code"] == "malformed"
    assert frame["payload"]["message"].startswith("Frames are JSON envelopes: ")

    ref = await socket.send("launch", {})
    assert await socket.recv() == error(
        "unknown_type",
        "'launch' is not a frame this socket may send; expected one of: approve, assist, chat, "
        "checklist, close, command, confirm_contrast, control, echo, end, ping, resync, stop, "
        "stop_reason.",
        ref,
    )
    ref = await socket.send("command", {"name": "self_destruct"})
    frame = await socket.recv()
    assert (frame["payload"]["code"], frame["payload"]["ref"]) == ("invalid", ref)
    assert frame["payload"]["message"].startswith("command: 'name' must be one of: start, pause")

    ref = await socket.send("command", {"name": "move_table", "args": {"position_mm": "up"}})
    frame = await socket.recv()
    assert (frame["payload"]["code"], frame["payload"]["ref"]) == ("invalid", ref)

    ref = await socket.send("state", {"full": True, "state": {}})  # people do not send state
    assert (await socket.recv())["payload"]["code"] == "unknown_type"

    await socket.send_text(
        '{"type":"chat","seq":9,"payload":{"text":"' + "x" * MAX_FRAME_BYTES + '"}}'
    )
    assert await socket.recv() == error("too_large", f"Frames are at most {MAX_FRAME_BYTES} bytes.")
    await socket.communicator.send_to(bytes_data=b"\x00\x01")
    assert await socket.recv() == error("malformed", "Frames are JSON text, not binary.")

    ref = await socket.send("ping")
    assert await socket.recv() == {"type": "pong", "seq": None, "payload": {}}
    await socket.silent()


async def test_the_scanner_is_held_to_its_own_frames(world: World, relay: Any) -> None:
    await database_sync_to_async(open_cockpit)(world)
    scanner = await relay.scanner(await token(world))
    await scanner.recv()
    ref = await scanner.send("command", {"name": "start"})
    frame = await scanner.recv()
    assert (frame["payload"]["code"], frame["payload"]["ref"]) == ("unknown_type", ref)
    ref = await scanner.send("state", {"full": False, "changes": {"status": "running"}})
    assert await scanner.recv() == {
        "type": "error",
        "seq": None,
        "payload": {
            "code": "invalid",
            "message": "Send a full state first: there is nothing to apply changes to.",
            "ref": ref,
        },
    }
    ref = await scanner.send("state", {"full": True})
    assert (await scanner.recv())["payload"] == {
        "code": "invalid",
        "message": "A full state frame carries 'state'.",
        "ref": ref,
    }
    await scanner.send("ping")
    assert await scanner.recv() == {"type": "pong", "seq": None, "payload": {}}


@pytest.mark.parametrize(
    "since",
    ["9" * 5000, "9" * 17, str(2**53), "-1", "1e3", "\uff11\uff12", "yesterday"],
    ids=["5000-digits", "17-digits", "2**53", "negative", "exponent", "fullwidth", "word"],
)
async def test_a_since_that_is_no_seq_gets_an_error_frame_then_a_snapshot(
    world: World, relay: Any, since: str
) -> None:
    """Read from the query string with its length bounded first: thousands of digits are an
    error frame like any other bad value, not a closed socket."""
    cockpit = await database_sync_to_async(open_cockpit)(world)
    socket = await relay.person(world.technologist, cockpit.pk, since=since)
    welcome, refusal, snapshot, presence = await socket.recv_many(4)
    assert (welcome["type"], snapshot["type"], presence["type"]) == (
        "welcome",
        "snapshot",
        "presence",
    )
    assert refusal == {
        "type": "error",
        "seq": None,
        "payload": {
            "code": "invalid",
            "message": "'since' is the last seq you saw: 0 to 9007199254740991.",
            "ref": None,
        },
    }
    await socket.send("ping")
    assert await socket.recv() == {"type": "pong", "seq": None, "payload": {}}


async def test_the_largest_since_is_read(world: World, relay: Any) -> None:
    cockpit = await database_sync_to_async(open_cockpit)(world)
    socket = await relay.person(world.technologist, cockpit.pk, since=str(2**53 - 1))
    # Ahead of the session (a store from another life): a snapshot, no error.
    assert [frame["type"] for frame in await socket.recv_many(3)] == [
        "welcome",
        "snapshot",
        "presence",
    ]


# --- The operator's join, kept as evidence ----------------------------------------------------


async def test_the_operators_first_join_is_recorded_even_waiting_in_the_lobby(
    world: World, relay: Any
) -> None:
    """The technologist who came and found nobody to let them in waits in the lobby: that join
    is in the database (presence does not last), the evidence either no-show reads. Observers
    and local staff joining record nothing; a second join keeps the first time."""

    @database_sync_to_async
    def joined_at(cockpit: CockpitSession) -> Any:
        return CockpitSession.objects.get(pk=cockpit.pk).operator_joined_at

    cockpit = await database_sync_to_async(open_cockpit)(world, approved=False)
    observer = await relay.person(world.manager, cockpit.pk)
    assert (await observer.recv())["payload"]["role"] == "observer"
    local = await relay.person(world.local_staff, cockpit.pk)
    assert (await local.recv())["payload"]["role"] == "local"
    assert await joined_at(cockpit) is None

    socket = await relay.person(world.technologist, cockpit.pk)
    welcome = await socket.recv()
    assert (welcome["payload"]["role"], welcome["payload"]["waiting"]) == ("operator", True)
    first = await joined_at(cockpit)
    assert first is not None
    await socket.disconnect()
    again = await relay.person(world.technologist, cockpit.pk)
    assert (await again.recv())["type"] == "welcome"
    assert await joined_at(cockpit) == first


# --- A piece not answering --------------------------------------------------------------------


async def test_while_redis_is_away_a_person_is_told_to_try_again_not_given_a_500(
    world: World, relay: Any, relay_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis

    cockpit = await database_sync_to_async(open_cockpit)(world)

    async def away(*args: Any, **kwargs: Any) -> Any:
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(type(relay_store), "snapshot", away)
    socket = await relay.person(world.technologist, cockpit.pk)
    assert await socket.recv() == {
        "type": "error",
        "seq": None,
        "payload": {
            "code": "unavailable",
            "message": "Redis is not answering just now. Please try again in a few seconds.",
            "ref": None,
        },
    }
    assert await socket.closed() == 1013
    # Once Redis answers again, the same person gets in as usual.
    monkeypatch.undo()
    again = await relay.person(world.technologist, cockpit.pk)
    assert (await again.recv())["type"] == "welcome"
