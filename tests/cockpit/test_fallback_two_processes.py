"""Control falls back to local staff across two Daphne processes on real Redis: the operator on
process B holds control, local staff are on process A. When the operator's socket closes, B (which
sees the close) hands control to local staff; when B crashes with the operator's socket (no close
anywhere), A's watchdog sees the operator fall silent in the shared store and does it.

Needs REDIS_URL (CI's PostgreSQL + Redis leg runs it), as tests/cockpit/test_two_processes.py."""

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from cockpit.models import CockpitSession
from core.models import AuditEvent
from tests.cockpit.conftest import session_cookie
from tests.cockpit.support import open_cockpit
from tests.conftest import World
from tests.live_daphne import LiveDaphne, live_daphne

pytestmark = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"),
    reason="needs REDIS_URL: two Daphne processes share a cockpit session only through Redis "
    "(CI's PostgreSQL + Redis leg runs this test)",
)

TIMEOUT = 15.0
LINK_TIMEOUT_S = 1.0


class Client:
    """A person's browser: answers every probe at once, keeps the other frames in order."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.reader = asyncio.create_task(self.read())
        self.client_seq = 0

    async def read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for text in self.ws:
                frame = json.loads(text)
                if frame["type"] == "probe":
                    await self.send("echo", {"probe": frame["payload"]["id"]})
                else:
                    await self.frames.put(frame)

    async def send(self, kind: str, payload: dict[str, Any]) -> None:
        self.client_seq += 1
        await self.ws.send(json.dumps({"type": kind, "seq": self.client_seq, "payload": payload}))

    async def until(self, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        async with asyncio.timeout(TIMEOUT):
            while True:
                frame = await self.frames.get()
                if check(frame):
                    return frame


@contextlib.asynccontextmanager
async def client(
    server: LiveDaphne, cockpit_id: int, cookie: str, role: str
) -> AsyncIterator[Client]:
    async with connect(
        f"{server.ws_url}/ws/cockpit/{cockpit_id}/?role={role}",
        additional_headers={"Cookie": cookie},
        origin=Origin(server.url),
        proxy=None,
        open_timeout=TIMEOUT,
    ) as ws:
        person = Client(ws)
        try:
            yield person
        finally:
            person.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await person.reader


def control(action: str) -> Callable[[dict[str, Any]], bool]:
    return lambda frame: frame["type"] == "control" and frame["payload"]["action"] == action


def fallbacks(cockpit: CockpitSession) -> list[dict[str, Any]]:
    return [
        event.data
        for event in AuditEvent.objects.filter(
            action="cockpit.control_fallback", target_id=str(cockpit.pk)
        ).order_by("pk")
    ]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_closed_or_crashed_controller_hands_control_to_local_staff_across_processes(
    world: World, settings: Any
) -> None:
    settings.COCKPIT_LINK_PROBE_S = 0.2
    settings.COCKPIT_CONTROL_LINK_TIMEOUT_S = LINK_TIMEOUT_S
    from channels.db import database_sync_to_async

    cockpit = await database_sync_to_async(open_cockpit)(world)
    operator_cookie = await database_sync_to_async(session_cookie)(world.technologist)
    local_cookie = await database_sync_to_async(session_cookie)(world.local_staff)
    operator = {"id": world.technologist.pk, "name": world.technologist.display_name}
    with live_daphne(2) as (a, b):
        async with client(a, cockpit.pk, local_cookie, "local") as local:
            # The operator on B takes control, then closes the tab.
            async with client(b, cockpit.pk, operator_cookie, "operator") as remote:
                await remote.send("control", {"action": "request"})
                taken = await local.until(control("request"))
                assert taken["payload"]["controller"] == {**operator, "role": "operator"}
            closed = await local.until(control("fallback"))
            assert closed["payload"]["why"] == "their connection closed"
            assert closed["payload"]["local_override"] is True
            assert closed["payload"]["lost"] == {**operator, "role": "operator"}

            # Back on B, local staff (on A) grant control again; then B crashes.
            async with client(b, cockpit.pk, operator_cookie, "operator") as remote:
                await remote.until(lambda frame: frame["type"] == "snapshot")
                await local.send("control", {"action": "grant", "to": world.technologist.pk})
                granted = await local.until(control("grant"))
                assert granted["payload"]["controller"] == {**operator, "role": "operator"}
                await remote.until(control("grant"))
                b.kill()
                silent = await local.until(control("fallback"))
            assert silent["payload"]["why"].startswith("nothing heard from them for ")
            assert silent["payload"]["local_override"] is True

    whys = [data["why"] for data in await database_sync_to_async(fallbacks)(cockpit)]
    assert whys[0] == "their connection closed"
    assert whys[1].startswith("nothing heard from them for ")
    assert len(whys) == 2
