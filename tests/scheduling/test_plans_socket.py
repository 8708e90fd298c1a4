"""The plan socket `/ws/plans/<id>/` through the real ASGI stack: who may watch (every role), the
state on connect, each update the solve pushes, and bad frames answered with an error frame."""

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from core import consumers
from scheduling.models import Plan
from scheduling.services import plans
from tests.conftest import PEOPLE, World, who
from tests.sessions import session_cookie
from wescan.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

# Close codes per person for a hospital's plan, and for a network plan.
HOSPITAL_PLAN = {
    "anonymous": 4401,
    "outsider": 4404,
    "other_manager": 4404,
    "technologist": 4403,
    "local_staff": 4403,
    "manager": None,
    "admin": None,
}
NETWORK_PLAN = {**dict.fromkeys(PEOPLE, 4404), "anonymous": 4401, "admin": None}


@pytest.fixture(autouse=True)
def _full_buckets() -> Any:
    consumers.frame_buckets.reset()
    yield
    consumers.frame_buckets.reset()


@pytest.fixture(autouse=True)
def _queued(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plans stay queued: these tests are about the socket, not the solve."""
    monkeypatch.setattr(plans, "plan_solve_start", lambda plan_id: None)


def _socket(plan_id: int, cookie: str | None) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(application, f"/ws/plans/{plan_id}/", headers=headers)


async def _connect(plan_id: int, user: Any) -> tuple[WebsocketCommunicator, bool, Any]:
    """(socket, whether it stays open, the close code it got). A refused socket is accepted
    and then closed with its code: a browser sees the code only on a socket that opened."""
    cookie = await database_sync_to_async(session_cookie)(user) if user else None
    socket = _socket(plan_id, cookie)
    connected, code = await socket.connect()
    assert connected, f"the handshake was refused ({code}): a browser would not see why"
    first = await socket.receive_output()
    if first["type"] == "websocket.close":
        return socket, False, first["code"]
    # Open: the first frame goes back for the test to read.
    await socket.output_queue.put(first)
    return socket, True, None


def _plan(world: World, *, network: bool) -> Plan:
    plan, _ = plans.plan_create(
        actor=world.admin if network else world.manager,
        hospital=None if network else world.hospital,
    )
    return plan


@pytest.mark.parametrize("network", [False, True])
@pytest.mark.parametrize("person", PEOPLE)
async def test_who_may_watch_a_plan(world: World, person: str, network: bool) -> None:
    plan = await database_sync_to_async(_plan)(world, network=network)
    socket, connected, code = await _connect(plan.pk, who(world, person))
    expected = (NETWORK_PLAN if network else HOSPITAL_PLAN)[person]
    if expected is None:
        assert connected
        frame = await socket.receive_json_from()
        assert frame["type"] == "state"
        assert frame["seq"] == 1
        assert frame["payload"]["id"] == plan.pk
        assert frame["payload"]["status"] == "queued"
        await socket.disconnect()
    else:
        assert not connected
        assert code == expected


async def test_a_plan_that_does_not_exist_closes_with_4404(world: World) -> None:
    _, connected, code = await _connect(999999, world.admin)
    assert (connected, code) == (False, 4404)


async def test_updates_and_the_end_reach_the_viewer(world: World) -> None:
    plan = await database_sync_to_async(_plan)(world, network=False)
    socket, connected, _ = await _connect(plan.pk, world.manager)
    assert connected
    assert (await socket.receive_json_from())["payload"]["status"] == "queued"

    def cancel() -> None:
        plans.plan_cancel(actor=world.manager, plan=Plan.objects.get(pk=plan.pk))

    await database_sync_to_async(cancel)()
    frame = await socket.receive_json_from()
    assert frame == {
        "type": "state",
        "seq": 2,
        "payload": {
            "id": plan.pk,
            "status": "cancelled",
            "status_label": "Cancelled",
            "phase": "done",
            "phase_label": "Done",
            "quality": "",
            "objective": None,
            "bound": None,
            "seconds_left": None,
            "time_limit_s": plan.time_limit_s,
            "solutions": 0,
            "cancel_requested": True,
            "message": "Cancelled before the solve started.",
        },
    }
    await socket.disconnect()


async def test_ping_and_bad_frames(world: World) -> None:
    plan = await database_sync_to_async(_plan)(world, network=False)
    socket, connected, _ = await _connect(plan.pk, world.manager)
    assert connected
    await socket.receive_json_from()
    await socket.send_json_to({"type": "ping"})
    assert (await socket.receive_json_from())["type"] == "pong"
    await socket.send_to(text_data="{oops")
    error = await socket.receive_json_from()
    assert (error["type"], error["payload"]["code"]) == ("error", "malformed")
    await socket.send_json_to({"type": "cancel"})
    error = await socket.receive_json_from()
    assert (error["type"], error["payload"]["code"]) == ("error", "unknown_type")
    await socket.send_to(text_data="x" * 5000)
    error = await socket.receive_json_from()
    assert error["payload"]["code"] == "too_large"
    await socket.disconnect()
