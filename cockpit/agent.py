"""The scanner agent: runs the console simulator of one scanner and connects it to the cockpit
relay, as the real scanner-side software of a remote cockpit does.

    agent = ScannerAgent("http://127.0.0.1:8000", token)
    await agent.run(stop_event)

It connects to `ws://<host>/ws/cockpit/scanner/` with `Authorization: Device <token>` (and an
`Origin`, which the server's origin validation wants), reads the `welcome` frame (the session's id
and protocol), and runs a `Console` for that session (seeded with the session id). Then:

- it publishes `state` frames at `rate_hz`: the first after each (re)connect full, then deltas
  (the top-level keys that changed, `cockpit.simulator.diff`), a full one every `full_every`
  frames; when nothing changed, an empty delta at most every `heartbeat_s` (None: every tick).
  Every payload carries `sent_at` (time.time()), from which latency is measured;
- it applies each `command` event (`{name, args, by}`) and answers with `ack {ref: the event's
  seq, ok, reason}`, then publishes the new state at once; a command numbered below the last
  `stop` it applied is discarded (and acked as such): nothing queued before a STOP runs after it;
- it applies `stop` events at once.

It reconnects on any loss, with exponential backoff (0.5 s doubling to 15 s, with jitter). After
a reconnect to the same session it keeps its console: the scanner went on scanning meanwhile and
the relay sees it where it is now. Close codes: 4404 (no session open now) or 4409 (not open yet):
retry after `idle_retry_s`; 4410 (session ended): reconnect for the next one with a fresh console;
4401 (device token refused): stop with `DeviceTokenRefused`.
"""

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Origin

from cockpit.simulator import Console, diff

logger = logging.getLogger(__name__)

SCANNER_PATH = "/ws/cockpit/scanner/"
CLOSE_UNAUTHENTICATED = 4401
CLOSE_NO_SESSION = 4404
CLOSE_NOT_OPEN = 4409
CLOSE_ENDED = 4410


class DeviceTokenRefused(Exception):
    """The relay does not know this device token: no point in retrying."""


def endpoints(url: str) -> tuple[str, str]:
    """The scanner socket's URL and the Origin to send, from the server's base URL (http(s) or
    ws(s), with or without a path)."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    secure = parts.scheme in ("https", "wss")
    if not parts.netloc:
        raise ValueError(f"Not a server URL: {url!r}.")
    ws_url = f"{'wss' if secure else 'ws'}://{parts.netloc}{SCANNER_PATH}"
    origin = f"{'https' if secure else 'http'}://{parts.netloc}"
    return ws_url, origin


class ScannerAgent:
    def __init__(
        self,
        url: str,
        token: str,
        *,
        rate_hz: float = 10.0,
        full_every: int = 20,
        heartbeat_s: float | None = 1.0,
        name: str = "scanner",
        alarms: bool = True,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 15.0,
        idle_retry_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_hz <= 0:
            raise ValueError("rate_hz must be positive.")
        if full_every < 1:
            raise ValueError("full_every must be at least 1.")
        self.ws_url, self.origin = endpoints(url)
        self.token = token
        self.period = 1.0 / rate_hz
        self.full_every = full_every
        self.heartbeat_s = heartbeat_s
        self.name = name
        self.alarms = alarms
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.idle_retry_s = idle_retry_s
        self.clock = clock
        # What survives a reconnect: the session and its console, the last STOP applied.
        self.session_id: int | None = None
        self.console: Console | None = None
        self.last_stop_seq = 0
        # The session's seq the agent has heard of: its welcome's, or the last command or STOP
        # received. After a reconnect to the same session, the STOPs past it are asked for.
        self.last_event_seq = 0
        self._resync_since: int | None = None  # what the coming connection asks for
        # Counters, for logs and tests.
        self.connections = 0
        self.frames_sent = 0
        self.commands_applied = 0
        self.commands_discarded = 0
        self.last_close_code: int | None = None
        self._jitter = random.Random()
        self._wake = asyncio.Event()
        self._out_seq = 0

    # --- The connection loop ------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Serve until `stop` is set (forever without one). Raises DeviceTokenRefused when the
        relay refuses the token."""
        stop = stop or asyncio.Event()
        failures = 0
        while not stop.is_set():
            delay: float
            welcomed = self.connections
            try:
                code = await self._connect_once(stop)
            except (OSError, TimeoutError, InvalidHandshake) as error:
                if isinstance(error, InvalidStatus) and error.response.status_code == 401:
                    raise DeviceTokenRefused(self._refused_message()) from None
                failures += 1
                delay = self._backoff(failures)
                logger.warning(
                    "scanner agent %s: cannot connect to %s (%s); retrying in %.1f s",
                    self.name,
                    self.ws_url,
                    _describe(error),
                    delay,
                )
            else:
                self.last_close_code = code
                if self.connections > welcomed:
                    failures = 0  # it was up: a loss now starts the backoff again
                if stop.is_set():
                    break
                if code == CLOSE_UNAUTHENTICATED:
                    raise DeviceTokenRefused(self._refused_message())
                if code in (CLOSE_NO_SESSION, CLOSE_NOT_OPEN):
                    failures = 0
                    delay = self._jittered(self.idle_retry_s)
                    logger.info(
                        "scanner agent %s: no cockpit session open now (%s); retrying in %.0f s",
                        self.name,
                        code,
                        delay,
                    )
                elif code == CLOSE_ENDED:
                    failures = 0
                    logger.info(
                        "scanner agent %s: session %s ended; waiting for the next one",
                        self.name,
                        self.session_id,
                    )
                    self.forget_session()
                    delay = self._jittered(1.0)
                else:
                    failures += 1
                    delay = self._backoff(failures)
                    logger.warning(
                        "scanner agent %s: connection lost (close code %s); reconnecting in %.1f s",
                        self.name,
                        code,
                        delay,
                    )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)

    def forget_session(self) -> None:
        """The next session starts on a fresh console."""
        self.session_id = None
        self.console = None
        self.last_stop_seq = 0
        self.last_event_seq = 0

    def _refused_message(self) -> str:
        return (
            f"scanner agent {self.name}: the relay at {self.ws_url} refused the device token "
            "(close code 4401). Issue a new one: manage.py scanner_agent --issue-token."
        )

    def _backoff(self, failures: int) -> float:
        """0.5 s doubling to 15 s (by default), each within ±20 %, never above the cap."""
        base = min(self.backoff_max_s, self.backoff_initial_s * 2 ** (failures - 1))
        return min(self.backoff_max_s, self._jittered(base))

    def _jittered(self, seconds: float) -> float:
        return seconds * self._jitter.uniform(0.8, 1.2)

    async def _connect_once(self, stop: asyncio.Event) -> int | None:
        """One connection, served until it closes or `stop` is set; its close code."""
        async with connect(
            self.ws_url,
            origin=Origin(self.origin),
            additional_headers={"Authorization": f"Device {self.token}"},
            proxy=None,
            compression=None,
            open_timeout=10,
            ping_interval=10,
            ping_timeout=10,
            close_timeout=5,
        ) as ws:
            try:
                welcomed = await self._welcome(ws)
                if welcomed:
                    await self._serve(ws, stop)
            except ConnectionClosed:
                pass
            if stop.is_set():
                await ws.close()
        return ws.close_code

    async def _welcome(self, ws: ClientConnection) -> bool:
        """Read the first frame: `welcome` starts (or resumes) the console; an `error` (no
        session now) is logged and the relay's close follows."""
        frame = _decode(await asyncio.wait_for(ws.recv(), timeout=15))
        if frame.get("type") == "error":
            payload = frame.get("payload") or {}
            logger.info("scanner agent %s: %s", self.name, payload.get("message", payload))
            await ws.wait_closed()
            return False
        if frame.get("type") != "welcome":
            logger.warning("scanner agent %s: expected welcome, got %r", self.name, frame)
            await ws.close(code=1002, reason="expected welcome")
            return False
        session = (frame.get("payload") or {}).get("session") or {}
        welcome_seq = (frame.get("payload") or {}).get("seq")
        session_id, protocol = session.get("id"), session.get("protocol") or "neuro"
        self.connections += 1
        resumed = self.console is not None and session_id == self.session_id
        if not resumed:
            try:
                console = Console(
                    protocol, seed=session_id or 0, now=self.clock(), alarms=self.alarms
                )
            except ValueError:
                logger.warning(
                    "scanner agent %s: unknown protocol %r, running neuro", self.name, protocol
                )
                console = Console(
                    "neuro", seed=session_id or 0, now=self.clock(), alarms=self.alarms
                )
            self.console = console
            self.session_id = session_id
            self.last_stop_seq = 0
            self.last_event_seq = 0
        # Back in the same session: a STOP pressed while the link was down, even before this
        # agent ever received an event, is past the seq it last heard of.
        self._resync_since = self.last_event_seq if resumed else None
        if isinstance(welcome_seq, int):
            self.last_event_seq = max(self.last_event_seq, welcome_seq)
        logger.info(
            "scanner agent %s: connected to %s, session %s (%s), %s",
            self.name,
            self.ws_url,
            session_id,
            protocol,
            "resuming where it was" if resumed else "fresh console",
        )
        return True

    async def _serve(self, ws: ClientConnection, stop: asyncio.Event) -> None:
        if self._resync_since is not None:
            # Back in the same session: a STOP pressed while the link was down is applied now.
            await self._send(ws, "resync", {"since": self._resync_since})
        tasks = {
            asyncio.create_task(self._publish(ws)),
            asyncio.create_task(self._receive(ws)),
            asyncio.create_task(stop.wait()),
        }
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            error = task.exception()
            if error is not None:
                raise error

    async def _send(self, ws: ClientConnection, kind: str, payload: dict[str, Any]) -> None:
        """A frame numbered by the agent's own counter (the relay quotes it in its errors)."""
        self._out_seq += 1
        await ws.send(json.dumps({"type": kind, "seq": self._out_seq, "payload": payload}))

    # --- Publishing ---------------------------------------------------------------------------

    async def _publish(self, ws: ClientConnection) -> None:
        """State frames at the agent's rate (and at once after a command): full first, then
        deltas, a full one every `full_every` frames."""
        console = self.console
        assert console is not None
        last: dict[str, Any] | None = None
        last_sent_at = -float("inf")
        since_full = 0
        while True:
            console.tick(self.clock())
            state = console.state()
            now = self.clock()  # the heartbeat on the agent's clock, which a test can move
            payload: dict[str, Any] | None
            if last is None or since_full >= self.full_every:
                payload = {"full": True, "state": state}
                since_full = 0
            else:
                changes = diff(last, state)
                heartbeat = self.heartbeat_s
                if not changes and heartbeat is not None and now - last_sent_at < heartbeat:
                    payload = None
                else:
                    payload = {"full": False, "changes": changes}
            if payload is not None:
                payload["sent_at"] = time.time()
                await self._send(ws, "state", payload)
                self.frames_sent += 1
                since_full += 1
                last, last_sent_at = state, now
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.period)

    # --- Receiving ----------------------------------------------------------------------------

    async def _receive(self, ws: ClientConnection) -> None:
        async for message in ws:
            frame = _decode(message)
            kind, seq = frame.get("type"), frame.get("seq")
            payload = frame.get("payload") or {}
            if kind in ("command", "stop") and isinstance(seq, int):
                self.last_event_seq = max(self.last_event_seq, seq)
            if kind == "command":
                await self._command(ws, seq, payload)
            elif kind == "stop":
                self._stop(seq, payload)
            elif kind == "session":
                if payload.get("status") == "ended":
                    logger.info("scanner agent %s: session %s ended", self.name, payload.get("id"))
            elif kind == "error":
                logger.warning("scanner agent %s: relay error %s", self.name, payload)

    async def _command(self, ws: ClientConnection, seq: Any, payload: dict[str, Any]) -> None:
        console = self.console
        assert console is not None
        name = str(payload.get("name", ""))
        if isinstance(seq, int) and seq < self.last_stop_seq:
            self.commands_discarded += 1
            ok, reason = False, "Discarded: a STOP came after this command."
        else:
            result = console.apply(name, payload.get("args") or {}, now=self.clock())
            self.commands_applied += 1
            ok, reason = result.ok, result.reason
        logger.debug("scanner agent %s: command %s #%s -> %s %s", self.name, name, seq, ok, reason)
        if isinstance(seq, int):
            await self._send(ws, "ack", {"ref": seq, "ok": ok, "reason": reason})
        self._wake.set()

    def _stop(self, seq: Any, payload: dict[str, Any]) -> None:
        console = self.console
        assert console is not None
        if isinstance(seq, int):
            self.last_stop_seq = max(self.last_stop_seq, seq)
        console.apply("stop", {}, now=self.clock())
        logger.info("scanner agent %s: STOP (event %s) applied", self.name, seq)
        self._wake.set()


def _decode(message: str | bytes) -> dict[str, Any]:
    try:
        frame = json.loads(message)
    except ValueError:
        return {}
    return frame if isinstance(frame, dict) else {}


def _describe(error: BaseException) -> str:
    if isinstance(error, InvalidStatus):
        return f"HTTP {error.response.status_code}"
    return str(error) or type(error).__name__
