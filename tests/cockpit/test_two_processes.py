"""One cockpit session across two Daphne processes on real Redis: the scanner agent on process A,
the operator on process B. Frames flow both ways through the Redis channel layer; then B is
killed (no close frames, as in a crash), the operator reconnects to A with the last seq it saw and
gets every event it missed: the seqs it has seen are 1..N with no gap.

Needs REDIS_URL (CI's PostgreSQL + Redis leg runs it): with the in-memory layer each process
would be an island."""

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from cockpit.agent import ScannerAgent
from cockpit.models import CockpitSession
from marketplace.services.tenancy import scanner_rotate_token
from tests.cockpit.conftest import session_cookie
from tests.cockpit.support import open_cockpit, prescan_confirmed
from tests.conftest import World
from tests.live_daphne import LiveDaphne, live_daphne

pytestmark = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"),
    reason="needs REDIS_URL: two Daphne processes share a cockpit session only through Redis "
    "(CI's PostgreSQL + Redis leg runs this test)",
)

TIMEOUT = 15.0


@dataclass
class Cockpit:
    cockpit: CockpitSession
    token: str
    operator_cookie: str
    operator: dict[str, Any]


@pytest.fixture
def live_cockpit(world: World) -> Cockpit:
    cockpit = prescan_confirmed(world, open_cockpit(world))
    return Cockpit(
        cockpit=cockpit,
        token=scanner_rotate_token(actor=world.manager, scanner=world.scanner),
        operator_cookie=session_cookie(world.technologist),
        operator={
            "id": world.technologist.pk,
            "name": world.technologist.display_name,
            "role": "operator",
        },
    )


@dataclass
class Operator:
    """The operator's client: every frame it received, across its connections."""

    ws: ClientConnection
    frames: list[dict[str, Any]] = field(default_factory=list)
    client_seq: int = 0

    @property
    def seqs(self) -> list[int]:
        """The session events' seqs, in the order they arrived."""
        return [frame["seq"] for frame in self.frames if frame["seq"] is not None]

    @property
    def last_seq(self) -> int:
        return max(self.seqs, default=0)

    async def send(self, kind: str, payload: dict[str, Any]) -> int:
        self.client_seq += 1
        await self.ws.send(json.dumps({"type": kind, "seq": self.client_seq, "payload": payload}))
        return self.client_seq

    async def next(self) -> dict[str, Any]:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), TIMEOUT))
        self.frames.append(frame)
        return frame

    async def until(self, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        async with asyncio.timeout(TIMEOUT):
            while True:
                frame = await self.next()
                if check(frame):
                    return frame

    async def drain_until_closed(self) -> None:
        """Read what the dead server's socket still holds, until the connection is gone."""
        async with asyncio.timeout(TIMEOUT):
            while True:
                try:
                    await self.next()
                except ConnectionClosed:
                    return


@contextlib.asynccontextmanager
async def socket_to(
    server: LiveDaphne, cockpit_id: int, cookie: str, since: int | None = None
) -> AsyncIterator[ClientConnection]:
    query = "role=operator" + (f"&since={since}" if since is not None else "")
    async with connect(
        f"{server.ws_url}/ws/cockpit/{cockpit_id}/?{query}",
        additional_headers={"Cookie": cookie},
        origin=Origin(server.url),
        proxy=None,
        open_timeout=TIMEOUT,
    ) as ws:
        yield ws


def is_type(kind: str) -> Callable[[dict[str, Any]], bool]:
    return lambda frame: frame["type"] == kind


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_scanner_on_one_process_operator_on_the_other_then_a_crash_and_resync(
    live_cockpit: Cockpit,
) -> None:
    cockpit = live_cockpit.cockpit
    cookie = live_cockpit.operator_cookie
    with live_daphne(2) as (a, b):
        agent = ScannerAgent(a.url, live_cockpit.token, rate_hz=10, alarms=False)
        stop = asyncio.Event()
        async with socket_to(b, cockpit.pk, cookie) as ws:
            operator = Operator(ws)
            welcome = await operator.next()
            assert welcome["type"] == "welcome"
            assert welcome["payload"]["role"] == "operator"
            assert welcome["payload"]["seq"] == 0  # nothing happened in this session before
            snapshot = await operator.next()
            assert snapshot["type"] == "snapshot"
            assert snapshot["payload"]["seq"] == 0
            assert snapshot["payload"]["state"] is None

            task = asyncio.create_task(agent.run(stop))
            try:
                # A -> B: the console the agent publishes on A reaches the operator on B.
                state = await operator.until(is_type("state"))
                assert state["payload"]["full"] is True
                assert state["payload"]["state"]["protocol"] == cockpit.protocol
                assert state["payload"]["state"]["status"] == "idle"
                assert agent.session_id == cockpit.pk

                # B -> A: the operator takes control and starts the sequence; the agent on A
                # acks the command, and the ack comes back to B.
                await operator.send("control", {"action": "request"})
                control = await operator.until(is_type("control"))
                assert control["payload"]["controller"] == live_cockpit.operator
                await operator.send("command", {"name": "start", "args": {}})
                command = await operator.until(is_type("command"))
                assert command["payload"] == {
                    "name": "start",
                    "args": {},
                    "by": live_cockpit.operator,
                }
                ack = await operator.until(is_type("ack"))
                assert ack["payload"] == {"ref": command["seq"], "ok": True, "reason": ""}
                running = await operator.until(
                    lambda f: (
                        f["type"] == "state"
                        and (f["payload"].get("state") or f["payload"].get("changes") or {}).get(
                            "status"
                        )
                        == "running"
                    )
                )
                assert running["seq"] > ack["seq"]
                assert agent.commands_applied == 1

                # B dies without a word; the operator's client reads what it still holds.
                b.kill()
                await operator.drain_until_closed()
                last = operator.last_seq
                assert operator.seqs == list(range(1, last + 1))

                # Meanwhile the scan goes on, on A.
                published = agent.frames_sent
                async with asyncio.timeout(TIMEOUT):
                    while agent.frames_sent < published + 10:
                        await asyncio.sleep(0.05)

                # The client reconnects to A with the last seq it saw.
                reconnected_at = len(operator.frames)
                async with socket_to(a, cockpit.pk, cookie, since=last) as ws_a:
                    operator.ws = ws_a
                    welcome = await operator.next()
                    assert welcome["type"] == "welcome"
                    assert welcome["payload"]["role"] == "operator"
                    missed_up_to = welcome["payload"]["seq"]
                    assert missed_up_to >= last + 10
                    # Every missing event, then the live stream past the welcome.
                    await operator.until(lambda f: (f["seq"] or 0) > missed_up_to + 5)
            finally:
                stop.set()
                await asyncio.wait_for(task, TIMEOUT)

    after = operator.frames[reconnected_at:]
    assert not any(frame["type"] == "snapshot" for frame in after)  # the history reached back
    resumed = [frame["seq"] for frame in after if frame["seq"] is not None]
    assert resumed[0] == last + 1
    missed = [frame for frame in after if frame["seq"] is not None and frame["seq"] <= missed_up_to]
    assert sum(frame["type"] == "state" for frame in missed) >= 10
    seqs = operator.seqs
    assert sorted(set(seqs)) == list(range(1, max(seqs) + 1))  # nothing missing
    assert len(seqs) == len(set(seqs))  # nothing twice
