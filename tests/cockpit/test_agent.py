"""The scanner agent: against a scripted relay (a `websockets` server in the test) for the exact
frames and the reconnect rules, then against the real relay in real Daphne processes, and the
`scanner_agent` management command end to end."""

import asyncio
import contextlib
import json
import logging
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from io import StringIO
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.core.management import CommandError, call_command
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.sync.client import connect as connect_sync
from websockets.typing import Origin

from cockpit.agent import DeviceTokenRefused, ScannerAgent, endpoints
from cockpit.models import CockpitSession
from core.models import AuditEvent
from marketplace.models import Scanner
from marketplace.services.tenancy import scanner_rotate_token
from scheduling.models import BookingStatus
from tests.cockpit.conftest import session_cookie
from tests.cockpit.support import open_cockpit, prescan_confirmed
from tests.conftest import World
from tests.live_daphne import HOST, LiveDaphne, live_daphne, start_daphne

TIMEOUT = 10.0

# --- Pieces -----------------------------------------------------------------------------------


def test_endpoints_from_the_server_url() -> None:
    assert endpoints("http://127.0.0.1:8000") == (
        "ws://127.0.0.1:8000/ws/cockpit/scanner/",
        "http://127.0.0.1:8000",
    )
    assert endpoints("https://wescan.example.org/some/page") == (
        "wss://wescan.example.org/ws/cockpit/scanner/",
        "https://wescan.example.org",
    )
    assert endpoints("ws://localhost:9000/") == (
        "ws://localhost:9000/ws/cockpit/scanner/",
        "http://localhost:9000",
    )


def test_backoff_doubles_from_half_a_second_to_fifteen_with_jitter() -> None:
    agent = ScannerAgent("http://127.0.0.1:1", "t")
    for failures, base in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0)]:
        delays = {agent._backoff(failures) for _ in range(50)}
        assert all(0.8 * base <= delay <= 1.2 * base for delay in delays)
        assert len(delays) > 1  # jittered: agents that lost one server do not return in step
    assert all(12.0 <= agent._backoff(failures) <= 15.0 for failures in range(6, 30))


# --- A scripted relay -------------------------------------------------------------------------


@dataclass
class Scripted:
    """A websockets server whose handler the test writes; what each connection sent in."""

    url: str
    headers: list[dict[str, str]]


@contextlib.asynccontextmanager
async def scripted(
    handler: Callable[[ServerConnection, int], Awaitable[None]],
) -> AsyncIterator[Scripted]:
    headers: list[dict[str, str]] = []

    async def serve_one(connection: ServerConnection) -> None:
        assert connection.request is not None
        headers.append(dict(connection.request.headers.raw_items()))
        await handler(connection, len(headers))

    async with serve(serve_one, HOST, 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield Scripted(url=f"http://{HOST}:{port}", headers=headers)


def welcome(session_id: int, protocol: str) -> str:
    return json.dumps(
        {
            "type": "welcome",
            "seq": None,
            "payload": {
                "role": "scanner",
                "you": {"id": None, "name": "MR 1", "role": "scanner"},
                "session": {"id": session_id, "protocol": protocol, "status": "waiting"},
                "control": {},
                "seq": 0,
            },
        }
    )


def event(kind: str, seq: int, payload: dict[str, Any]) -> str:
    return json.dumps({"type": kind, "seq": seq, "payload": payload})


async def next_of(ws: ServerConnection, kind: str) -> dict[str, Any]:
    """The next frame of `kind` the agent sends (state frames in between are skipped)."""
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if frame["type"] == kind:
            return frame


async def state_where(
    ws: ServerConnection, merged: dict[str, Any], check: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """Apply the agent's state frames to `merged` until `check(merged)` holds."""
    while True:
        frame = await next_of(ws, "state")
        payload = frame["payload"]
        if payload["full"]:
            merged.clear()
            merged.update(payload["state"])
        else:
            merged.update(payload["changes"])
        if check(merged):
            return merged


@pytest.mark.asyncio
async def test_full_state_first_then_deltas_and_a_full_one_every_n_frames() -> None:
    frames: list[dict[str, Any]] = []
    done = asyncio.Event()

    async def handler(ws: ServerConnection, number: int) -> None:
        await ws.send(welcome(5, "msk"))
        for _ in range(8):
            frames.append(json.loads(await ws.recv()))
        await ws.send(event("command", 9, {"name": "start", "args": {}, "by": None}))
        frames.append(await next_of(ws, "ack"))
        frames.append(await next_of(ws, "state"))
        done.set()
        await ws.wait_closed()

    stop = asyncio.Event()
    async with scripted(handler) as relay:
        agent = ScannerAgent(relay.url, "wsd_secret", rate_hz=50, full_every=3, alarms=False)
        task = asyncio.create_task(agent.run(stop))
        await asyncio.wait_for(done.wait(), TIMEOUT)
        stop.set()
        await asyncio.wait_for(task, TIMEOUT)

    assert relay.headers[0]["Authorization"] == "Device wsd_secret"
    assert relay.headers[0]["Origin"] == relay.url
    states = frames[:8]
    assert [frame["type"] for frame in states] == ["state"] * 8
    assert [frame["seq"] for frame in states] == list(range(1, 9))  # the agent's own counter
    assert [frame["payload"]["full"] for frame in states] == [
        True,
        False,
        False,
        True,
        False,
        False,
        True,
        False,
    ]
    first = states[0]["payload"]["state"]
    assert (first["protocol"], first["status"], first["current"]) == ("msk", "idle", 0)
    # An idle console changes nothing: the deltas are empty heartbeats.
    assert all(
        frame["payload"]["changes"] == {} for frame in states if not frame["payload"]["full"]
    )
    assert all(abs(frame["payload"]["sent_at"] - time.time()) < 30 for frame in states)
    ack, after = frames[8], frames[9]
    assert ack["payload"] == {"ref": 9, "ok": True, "reason": ""}
    changes = after["payload"].get("changes") or after["payload"].get("state")
    assert changes["status"] == "running"
    assert changes["message"] == "Running 3-plane localiser."


@pytest.mark.asyncio
async def test_idle_heartbeats_are_at_most_one_a_second() -> None:
    """Decided by the agent's clock, moved by hand, not by the wall clock: the loop turns at
    20 Hz, and only the clock says when a heartbeat is due."""
    from tests.clock import ManualClock

    clock = ManualClock(1000.0)
    readings = 0

    def counted_clock() -> float:
        nonlocal readings
        readings += 1
        return clock()

    frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def handler(ws: ServerConnection, number: int) -> None:
        await ws.send(welcome(5, "neuro"))
        async for message in ws:
            frames.put_nowait(json.loads(message))

    async def turns(count: int) -> None:
        """Until the publishing loop has turned `count` more times (it reads the clock twice a
        turn)."""
        until = readings + 2 * count
        async with asyncio.timeout(TIMEOUT):
            while readings < until:
                await asyncio.sleep(0.01)

    stop = asyncio.Event()
    async with scripted(handler) as relay:
        agent = ScannerAgent(relay.url, "t", rate_hz=20, alarms=False, clock=counted_clock)
        task = asyncio.create_task(agent.run(stop))
        first = await asyncio.wait_for(frames.get(), TIMEOUT)
        # An idle console: its full state, then nothing for 20 turns within the second ...
        clock.now += 0.99
        await turns(20)
        idle = frames.qsize()
        # ... and one heartbeat once a second has passed since the full state.
        clock.now += 0.01
        heartbeat = await asyncio.wait_for(frames.get(), TIMEOUT)
        stop.set()
        await asyncio.wait_for(task, TIMEOUT)
    assert first["type"] == "state"
    assert first["payload"]["full"] is True
    assert idle == 0
    assert heartbeat["type"] == "state"
    assert heartbeat["payload"]["changes"] == {}


@pytest.mark.asyncio
async def test_commands_are_acked_and_nothing_queued_before_a_stop_runs_after_it() -> None:
    acks: list[dict[str, Any]] = []
    merged: dict[str, Any] = {}
    done = asyncio.Event()

    async def handler(ws: ServerConnection, number: int) -> None:
        await ws.send(welcome(7, "neuro"))
        await ws.send(event("command", 3, {"name": "start", "args": {}, "by": None}))
        acks.append((await next_of(ws, "ack"))["payload"])
        await state_where(ws, merged, lambda s: s["status"] == "running")
        await ws.send(event("stop", 5, {"by": {"id": 1, "name": "Local", "role": "local"}}))
        await state_where(ws, merged, lambda s: s["status"] == "stopped")
        # A command the relay numbered before the stop, arriving after it: discarded.
        await ws.send(event("command", 4, {"name": "start", "args": {}, "by": None}))
        acks.append((await next_of(ws, "ack"))["payload"])
        await ws.send(event("command", 6, {"name": "pause", "args": {}, "by": None}))
        acks.append((await next_of(ws, "ack"))["payload"])
        await ws.send(
            event("command", 8, {"name": "move_table", "args": {"position_mm": 900}, "by": None})
        )
        acks.append((await next_of(ws, "ack"))["payload"])
        await state_where(ws, merged, lambda s: s["table_mm"] == 900.0)
        done.set()
        await ws.wait_closed()

    stop = asyncio.Event()
    async with scripted(handler) as relay:
        agent = ScannerAgent(relay.url, "t", rate_hz=20, alarms=False)
        task = asyncio.create_task(agent.run(stop))
        await asyncio.wait_for(done.wait(), TIMEOUT)
        stop.set()
        await asyncio.wait_for(task, TIMEOUT)

    assert acks == [
        {"ref": 3, "ok": True, "reason": ""},
        {"ref": 4, "ok": False, "reason": "Discarded: a STOP came after this command."},
        {"ref": 6, "ok": False, "reason": "Nothing is running to pause."},
        {"ref": 8, "ok": True, "reason": ""},
    ]
    assert merged["sequences"][0]["status"] == "aborted"
    assert merged["message"] == "Table moved to 900 mm."
    assert (agent.commands_applied, agent.commands_discarded) == (3, 1)


@pytest.mark.asyncio
async def test_reconnects_resume_the_console_and_each_close_code_is_honoured(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="cockpit.agent")
    seen: dict[int, dict[str, Any]] = {}
    progress_at_drop: list[float] = []

    async def handler(ws: ServerConnection, number: int) -> None:
        merged: dict[str, Any] = {}
        if number == 1:  # session 5: start scanning, then the connection dies
            await ws.send(welcome(5, "cardiac"))
            await ws.send(event("command", 1, {"name": "start", "args": {}, "by": None}))
            await state_where(ws, merged, lambda s: s["sequences"][0]["progress"] > 0.02)
            progress_at_drop.append(merged["sequences"][0]["progress"])
            ws.transport.abort()  # no close frame, as when a server process is killed
        elif number == 2:  # session 5 again: the same console, still scanning
            await ws.send(welcome(5, "cardiac"))
            # First it asks for the STOPs it may have missed since the last event it had.
            seen[20] = json.loads(await ws.recv())
            seen[2] = json.loads(await ws.recv())
            await ws.send(event("session", 9, {"id": 5, "status": "ended"}))
            await ws.close(code=4410)
        elif number == 3:  # the next session: a fresh console
            await ws.send(welcome(6, "msk"))
            seen[3] = json.loads(await ws.recv())
            await ws.close(code=1001)  # the server goes away politely: back off and retry
        elif number == 4:
            await ws.send(
                json.dumps(
                    {
                        "type": "error",
                        "seq": None,
                        "payload": {"code": "no_session", "message": "No cockpit open now."},
                    }
                )
            )
            await ws.close(code=4404)
        else:
            await ws.close(code=4401)

    async with scripted(handler) as relay:
        agent = ScannerAgent(
            relay.url, "t", rate_hz=50, alarms=False, backoff_initial_s=0.05, idle_retry_s=0.1
        )
        with pytest.raises(DeviceTokenRefused, match="refused the device token"):
            await asyncio.wait_for(agent.run(), TIMEOUT)

    assert len(relay.headers) == 5
    assert seen[20]["type"] == "resync"
    assert seen[20]["payload"] == {"since": 1}
    resumed = seen[2]["payload"]
    assert resumed["full"] is True  # the first frame after a reconnect is whole
    assert resumed["state"]["protocol"] == "cardiac"
    assert resumed["state"]["status"] == "running"
    assert resumed["state"]["sequences"][0]["progress"] >= progress_at_drop[0]
    fresh = seen[3]["payload"]
    assert fresh["full"] is True
    assert (fresh["state"]["protocol"], fresh["state"]["status"]) == ("msk", "idle")
    assert agent.connections == 3  # welcomed three times; 4404 and 4401 never welcome
    assert agent.last_close_code == 4401
    assert "scanner agent scanner: No cockpit open now." in caplog.messages
    assert any(
        message.startswith("scanner agent scanner: no cockpit session open now (4404); retrying")
        for message in caplog.messages
    )
    assert "scanner agent scanner: session 5 ended; waiting for the next one" in caplog.messages
    assert (
        "scanner agent scanner: connected to "
        f"{agent.ws_url}, session 5 (cardiac), resuming where it was"
    ) in caplog.messages


@pytest.mark.asyncio
async def test_an_unreachable_server_is_retried_until_stopped() -> None:
    agent = ScannerAgent("http://127.0.0.1:9", "t", backoff_initial_s=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    await asyncio.sleep(0.5)
    assert not task.done()
    stop.set()
    await asyncio.wait_for(task, TIMEOUT)
    assert agent.connections == 0


# --- Against the real relay in Daphne -----------------------------------------------------------


@dataclass
class Cockpit:
    cockpit: CockpitSession
    token: str
    operator_cookie: str


@pytest.fixture
def live_cockpit(world: World) -> Cockpit:
    cockpit = prescan_confirmed(world, open_cockpit(world))
    return Cockpit(
        cockpit=cockpit,
        token=scanner_rotate_token(actor=world.manager, scanner=world.scanner),
        operator_cookie=session_cookie(world.technologist),
    )


@pytest.fixture
def server() -> Iterator[LiveDaphne]:
    with live_daphne() as (daphne,):
        yield daphne


def restart_on_the_same_port(server: LiveDaphne) -> LiveDaphne:
    """Kill the server (no close frames) and start a new process where it was."""
    server.kill()
    return start_daphne(port=server.port)


class Person:
    """A person's socket on the relay over the network, and the console as they see it."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.console: dict[str, Any] = {}
        self.client_seq = 0

    async def send(self, kind: str, payload: dict[str, Any]) -> int:
        self.client_seq += 1
        await self.ws.send(json.dumps({"type": kind, "seq": self.client_seq, "payload": payload}))
        return self.client_seq

    async def until(self, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """Read frames (keeping the console up to date) until one passes `check`."""
        async with asyncio.timeout(TIMEOUT):
            while True:
                frame = json.loads(await self.ws.recv())
                payload = frame["payload"]
                if frame["type"] == "snapshot" and payload["state"]:
                    self.console = dict(payload["state"])
                elif frame["type"] == "state":
                    if payload["full"]:
                        self.console = dict(payload["state"])
                    else:
                        self.console.update(payload["changes"])
                if check(frame):
                    return frame

    async def console_where(self, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        await self.until(lambda frame: bool(self.console) and check(self.console))
        return self.console


@contextlib.asynccontextmanager
async def person(server: LiveDaphne, cockpit_id: int, cookie: str) -> AsyncIterator[Person]:
    async with connect(
        f"{server.ws_url}/ws/cockpit/{cockpit_id}/?role=operator",
        additional_headers={"Cookie": cookie},
        origin=Origin(server.url),
        proxy=None,
    ) as ws:
        yield Person(ws)


def _current(console: dict[str, Any]) -> dict[str, Any]:
    sequence: dict[str, Any] = console["sequences"][console["current"]]
    return sequence


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_agent_on_the_real_relay_survives_a_server_restart(
    live_cockpit: Cockpit, server: LiveDaphne
) -> None:
    cockpit = live_cockpit.cockpit
    agent = ScannerAgent(server.url, live_cockpit.token, rate_hz=10, alarms=False)
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        async with person(server, cockpit.pk, live_cockpit.operator_cookie) as operator:
            welcome = await operator.until(lambda f: f["type"] == "welcome")
            assert welcome["payload"]["role"] == "operator"
            console = await operator.console_where(lambda c: c["status"] == "idle")
            assert console["protocol"] == cockpit.protocol
            assert agent.session_id == cockpit.pk

            await operator.send("control", {"action": "request"})
            control = await operator.until(lambda f: f["type"] == "control")
            assert control["payload"]["controller"]["role"] == "operator"

            ref = await operator.send("command", {"name": "start", "args": {}})
            command = await operator.until(lambda f: f["type"] == "command")
            assert command["payload"]["name"] == "start"
            ack = await operator.until(lambda f: f["type"] == "ack")
            assert ack["payload"] == {"ref": command["seq"], "ok": True, "reason": ""}
            assert ref == 2
            await operator.until(
                lambda f: f["type"] == "session" and f["payload"]["status"] == "live"
            )
            first = _current(await operator.console_where(lambda c: c["status"] == "running"))
            moved = await operator.console_where(
                lambda c: _current(c)["progress"] > first["progress"]
            )
            assert moved["current"] == 0

            # A command the console refuses is answered with its reason.
            await operator.send("command", {"name": "move_table", "args": {"position_mm": 10}})
            command = await operator.until(lambda f: f["type"] == "command")
            ack = await operator.until(lambda f: f["type"] == "ack")
            assert ack["payload"] == {
                "ref": command["seq"],
                "ok": False,
                "reason": "The table cannot move while a sequence is running; abort it or wait.",
            }
            before_restart = _current(operator.console)["progress"]

        # (No database work from this loop before the fork below: a forked server would inherit
        # asgiref's one-thread executor without its thread, and hang on its first query.)
        console_before = agent.console
        server = restart_on_the_same_port(server)
        async with asyncio.timeout(TIMEOUT):
            while agent.connections < 2:
                await asyncio.sleep(0.05)
        assert agent.console is console_before  # kept: resuming where it was
        assert agent.last_close_code == 1006  # the killed server sent no close frame

        async with person(server, cockpit.pk, live_cockpit.operator_cookie) as operator:
            resumed = await operator.console_where(
                lambda c: _current(c)["progress"] > before_restart
            )
            assert resumed["status"] == "running"
            assert resumed["protocol"] == cockpit.protocol
            assert resumed["sequences"][0]["status"] == "running"  # the same sequence, going on

        # The first running state started the exam: the booking is in progress.
        booking_status = await database_sync_to_async(
            lambda: CockpitSession.objects.get(pk=cockpit.pk).booking.status
        )()
        assert booking_status == BookingStatus.IN_PROGRESS
    finally:
        stop.set()
        await asyncio.wait_for(task, TIMEOUT)
        server.stop()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_bad_token_stops_the_agent_with_a_clear_error(
    world: World, server: LiveDaphne
) -> None:
    agent = ScannerAgent(server.url, "wsd_not-a-token")
    with pytest.raises(DeviceTokenRefused, match=r"refused the device token \(close code 4401\)"):
        await asyncio.wait_for(agent.run(), TIMEOUT)


# --- The management command -------------------------------------------------------------------


def test_the_command_needs_scanners_and_a_token(world: World) -> None:
    with pytest.raises(CommandError, match="Name the scanners"):
        call_command("scanner_agent")
    with pytest.raises(CommandError, match="No scanner with id 999999"):
        call_command("scanner_agent", "999999", "--token", "t")
    with pytest.raises(CommandError, match="No device token"):
        call_command("scanner_agent", str(world.scanner.pk), "--token", "")
    with pytest.raises(CommandError, match="A device token belongs to one scanner"):
        call_command(
            "scanner_agent", str(world.scanner.pk), str(world.other_scanner.pk), "--token", "t"
        )
    Scanner.objects.update(cockpit_ready=False)
    with pytest.raises(CommandError, match="No scanner is cockpit-ready"):
        call_command("scanner_agent", "--all-cockpit-ready", "--issue-token")


class Watcher(threading.Thread):
    """While the command runs in the test's thread: connect as the operator, wait for a state
    frame from the scanner, then send this process SIGTERM (as `kill` does to the agent)."""

    def __init__(self, server: LiveDaphne, cockpit_id: int, cookie: str) -> None:
        super().__init__(daemon=True)
        self.server, self.cockpit_id, self.cookie = server, cockpit_id, cookie
        self.state: dict[str, Any] | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            # The command's SIGTERM handler is in place once its tokens are issued: connect then.
            deadline = time.monotonic() + 20
            while not self._handler_installed() and time.monotonic() < deadline:
                time.sleep(0.05)
            while self.state is None and time.monotonic() < deadline:
                with (
                    connect_sync(
                        f"{self.server.ws_url}/ws/cockpit/{self.cockpit_id}/",
                        additional_headers={"Cookie": self.cookie},
                        origin=Origin(self.server.url),
                        proxy=None,
                    ) as ws,
                    contextlib.suppress(TimeoutError),
                ):
                    while self.state is None:
                        frame = json.loads(ws.recv(timeout=2))
                        kind, payload = frame["type"], frame["payload"]
                        if (kind == "snapshot" and payload["state"]) or (
                            kind == "state" and payload["full"]
                        ):
                            self.state = payload["state"]
        except BaseException as error:  # reported by the test
            self.error = error
        finally:
            # Only once the command's own handler is in place (never kill the test run).
            for _ in range(100):
                if self._handler_installed():
                    os.kill(os.getpid(), signal.SIGTERM)
                    break
                time.sleep(0.1)

    @staticmethod
    def _handler_installed() -> bool:
        return signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None)


@pytest.mark.django_db(transaction=True)
def test_the_command_issues_tokens_runs_every_cockpit_ready_agent_and_stops_on_sigterm(
    world: World, server: LiveDaphne
) -> None:
    cockpit = open_cockpit(world)
    cookie = session_cookie(world.technologist)
    watcher = Watcher(server, cockpit.pk, cookie)
    watcher.start()
    out = StringIO()
    call_command(
        "scanner_agent",
        "--all-cockpit-ready",
        "--issue-token",
        "--url",
        server.url,
        "--no-alarms",
        stdout=out,
    )
    watcher.join(timeout=30)
    assert watcher.error is None
    assert watcher.state is not None
    assert watcher.state["protocol"] == cockpit.protocol
    assert watcher.state["status"] == "idle"
    output = out.getvalue()
    assert f"scanner agent {world.scanner.pk} (Hôpital Sainte-Claire / MR 1)" in output
    assert output.rstrip().endswith("scanner agents stopped.")
    # One agent per cockpit-ready scanner; the other one has no session open and waits.
    assert f"scanner agent {world.other_scanner.pk} (Ziekenhuis Scheldeland / MRI A)" in output
    # A fresh token was issued for each (through the audited service), by the platform admin.
    rotations = AuditEvent.objects.filter(action="scanner.token_rotated")
    assert {(r.actor, r.target_id) for r in rotations} == {
        (world.admin, str(world.scanner.pk)),
        (world.admin, str(world.other_scanner.pk)),
    }
