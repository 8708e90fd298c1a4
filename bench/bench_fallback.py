"""How soon does control fall back to local staff when the remote operator holding it loses their
link: their socket closed abruptly (no close frame: the browser crashed, the network dropped and
the server's TCP stack notices), or their socket silent (open, but no echo to the relay's probes)?

Run: `.venv/bin/python bench/bench_fallback.py` (or `make bench`, which runs every bench).

Set-up, made fresh on every run:
- a throwaway database: SQLite at bench/.data/fallback.sqlite3, or, when DATABASE_URL names a
  PostgreSQL server, a separate database `wescan_bench_fallback` (BENCH_DB_NAME) on it, dropped at
  the end; migrated with wescan.settings.local (BENCH_SETTINGS overrides), DEBUG off; the relay's
  link check as in production (COCKPIT_LINK_PROBE_S, COCKPIT_CONTROL_LINK_TIMEOUT_S: 1 s, 5 s
  unless the environment says otherwise);
- a scanning hospital with one cockpit-ready scanner and one local staff member, an operator of
  another hospital confirmed on it for a session starting in 5 minutes; its cockpit open, the
  operator's join approved, the pre-scan checklist confirmed.

Runs (BENCH_RUNS, comma-separated, default `memory,redis`), each on fresh servers:
- `memory`: one Daphne process, in-memory channel layer (the embedded default);
- `redis`: two Daphne processes on Redis database 13 (BENCH_REDIS_DB, emptied before and after)
  of REDIS_URL's server, or of 127.0.0.1:6379 when it answers there (skipped, and said so, when
  there is none); local staff on process 0, the operator on process 1: the close is seen by one
  process, the fall-back reaches local staff through Redis.

Each run, BENCH_CLOSES (default 7) times: the operator connects (answering every probe, as the
console page does), local staff grant them control, both see it; the operator's TCP connection
is aborted (no close frame); the time until local staff's socket receives the `control` event
with action `fallback` is one sample. Then BENCH_SILENCES (default 3) times the same, but the
operator's socket stays open and stops answering probes; the sample runs from its last echo.

Figures (`cockpit.<figure>`, the median of the samples; the `redis` run's carry `redis` in the
name):
- fallback_to_local_ms: abrupt close → fall-back at local staff (target <= 1 s: the close is
  noticed at once; the configured timeout is the worst case, for a close nobody sees);
- fallback_on_silence_ms: last echo → fall-back (target <= the timeout + 100 ms to deliver the
  event: the watchdog looks four times a second and falls back once the next look would be
  past the timeout).
"""

import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from common import (
    Bench,
    BenchFailure,
    daphnes_running,
    figure,
    flush_redis,
    machine,
    redis_url,
    run,
    second_factor_enrol,
    session_cookie,
)

CLOSES = int(os.environ.get("BENCH_CLOSES", "7"))
SILENCES = int(os.environ.get("BENCH_SILENCES", "3"))
REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "13"))
RUNS = [r for r in os.environ.get("BENCH_RUNS", "memory,redis").split(",") if r]
TIMEOUT = 30.0  # seconds any one step may take before the run fails
ZONE = "Europe/Brussels"


@dataclass
class Seeded:
    cockpit_id: int
    operator_id: int
    operator_session: str
    local_session: str


def seed() -> Seeded:
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import User
    from cockpit import services as cockpit_services
    from marketplace.models import (
        Compensation,
        Hospital,
        Membership,
        PostingStatus,
        Role,
        Scanner,
        Seniority,
        SessionPosting,
        Site,
        Urgency,
    )
    from scheduling.models import Booking, BookingStatus, Initiator

    now = timezone.now()
    with transaction.atomic():
        scanning = Hospital.objects.create(
            name="Bench Fallback Hospital", city="Ghent", country="BE"
        )
        lender = Hospital.objects.create(name="Bench Lending Hospital", city="Liège", country="BE")
        manager = User.objects.create_user("manager@fallback.bench.example", first_name="Mia")
        local = User.objects.create_user(
            "local@fallback.bench.example", first_name="Lotte", last_name="Local"
        )
        operator = User.objects.create_user(
            "operator@fallback.bench.example", first_name="Omar", last_name="Remote"
        )
        Membership.objects.create(user=manager, hospital=scanning, role=Role.MANAGER)
        Membership.objects.create(user=local, hospital=scanning, role=Role.LOCAL_STAFF)
        Membership.objects.create(user=operator, hospital=lender, role=Role.TECHNOLOGIST)
        site = Site.objects.create(hospital=scanning, name="Campus Zuid", time_zone=ZONE)
        scanner = Scanner.objects.create(
            site=site,
            name="MR 2",
            vendor="siemens",
            model_name="Bench",
            field_strength_tesla="3.00",
            cockpit_ready=True,
        )
        starts_at = (now + timedelta(minutes=5)).replace(microsecond=0)
        ends_at = starts_at + timedelta(hours=2)
        posting = SessionPosting.objects.create(
            hospital=scanning,
            site=site,
            scanner=scanner,
            starts_at=starts_at,
            ends_at=ends_at,
            min_seniority=Seniority.JUNIOR,
            vendor=scanner.vendor,
            urgency=Urgency.ROUTINE,
            compensation=Compensation.RECIPROCITY,
            notes="Outpatient knee list.",
            status=PostingStatus.FILLED,
            created_by=manager,
            published_at=now,
        )
        booking = Booking.objects.create(
            posting=posting,
            technologist=operator,
            status=BookingStatus.CONFIRMED,
            initiated_by=Initiator.HOSPITAL,
            starts_at=starts_at,
            ends_at=ends_at,
            hours=posting.duration_hours,
            lending_hospital=lender,
            confirmed_at=now,
        )
    cockpit = cockpit_services.cockpit_open(booking=booking)
    cockpit_services.cockpit_approve_join(actor=local, cockpit=cockpit)
    cockpit_services.prescan_confirm(
        actor=local,
        role="local",
        cockpit=cockpit,
        beside_patient_id=None,
        patient_informed=True,
        links=None,
    )
    # A cockpit needs a second factor (issue 18): both pass one, as at a real sign-in.
    second_factor_enrol([operator, local])
    return Seeded(cockpit.pk, operator.pk, session_cookie(operator), session_cookie(local))


# --- One person's socket ----------------------------------------------------------------------


class Person:
    """A console page's socket: answers the relay's probes (until told to stop), queues the rest."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.echo = True
        self.last_echo = 0.0
        self.frames: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
        self.reader = asyncio.create_task(self.read())

    async def read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        with contextlib.suppress(ConnectionClosed):
            async for raw in self.connection:
                now = time.perf_counter()
                frame = json.loads(raw)
                if frame["type"] == "probe":
                    if self.echo:
                        await self.send("echo", {"probe": frame["payload"]["id"]})
                        self.last_echo = time.perf_counter()
                    continue
                await self.frames.put((now, frame))

    async def send(self, kind: str, payload: dict[str, Any]) -> None:
        await self.connection.send(json.dumps({"type": kind, "seq": None, "payload": payload}))

    async def until(self, check: Callable[[dict[str, Any]], bool]) -> tuple[float, dict[str, Any]]:
        async with asyncio.timeout(TIMEOUT):
            while True:
                at, frame = await self.frames.get()
                if frame["type"] == "error":
                    raise BenchFailure(f"the relay refused a frame: {frame['payload']}")
                if check(frame):
                    return at, frame

    def abort(self) -> None:
        """Gone without a close frame, as a crashed browser or a dropped network is."""
        self.connection.transport.abort()

    async def close(self) -> None:
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.reader
        with contextlib.suppress(Exception):
            await self.connection.close()


async def connect(port: int, cockpit_id: int, session: str, role: str) -> Person:
    from websockets.asyncio.client import connect as ws_connect

    connection = await ws_connect(
        f"ws://127.0.0.1:{port}/ws/cockpit/{cockpit_id}/?role={role}",
        additional_headers={"Cookie": f"sessionid={session}"},
        origin=f"http://127.0.0.1:{port}",  # type: ignore[arg-type]
        open_timeout=TIMEOUT,
        ping_interval=None,
        close_timeout=2,
    )
    person = Person(connection)
    await person.until(lambda frame: frame["type"] == "snapshot")
    return person


def control(action: str) -> Callable[[dict[str, Any]], bool]:
    return lambda frame: frame["type"] == "control" and frame["payload"]["action"] == action


async def one_loss(seeded: Seeded, local: Person, operator_port: int, how: str) -> float:
    """Grant the operator control, lose their link (`abort` or `silence`); milliseconds until
    local staff see the fall-back."""
    operator = await connect(operator_port, seeded.cockpit_id, seeded.operator_session, "operator")
    try:
        await local.send("control", {"action": "grant", "to": seeded.operator_id})
        await local.until(control("grant"))
        await operator.until(control("grant"))
        if how == "abort":
            lost_at = time.perf_counter()
            operator.abort()
        else:
            # Wait for a fresh echo, then answer no more probes.
            async with asyncio.timeout(TIMEOUT):
                seen = operator.last_echo
                while operator.last_echo == seen:
                    await asyncio.sleep(0.01)
            operator.echo = False
            lost_at = operator.last_echo
        at, frame = await local.until(control("fallback"))
        if frame["payload"]["controller"] is None or not frame["payload"]["local_override"]:
            raise BenchFailure(f"control did not go to local staff: {frame['payload']}")
        return (at - lost_at) * 1000
    finally:
        await operator.close()


async def losses(seeded: Seeded, ports: list[int]) -> dict[str, list[float]]:
    local = await connect(ports[0], seeded.cockpit_id, seeded.local_session, "local")
    try:
        closes = [await one_loss(seeded, local, ports[-1], "abort") for _ in range(CLOSES)]
        silences = [await one_loss(seeded, local, ports[-1], "silence") for _ in range(SILENCES)]
    finally:
        await local.close()
    return {"abort": closes, "silence": silences}


# --- The runs -------------------------------------------------------------------------------


def measure(bench: Bench, seeded: Seeded) -> None:
    from django.conf import settings

    redis = redis_url(REDIS_DB)
    os.environ.pop("REDIS_URL", None)
    timeout_s = float(settings.COCKPIT_CONTROL_LINK_TIMEOUT_S)
    probe_s = float(settings.COCKPIT_LINK_PROBE_S)
    print(
        f"setup: one cockpit, local staff and the operator holding control; probes every "
        f"{probe_s:g} s, control timeout {timeout_s:g} s; {CLOSES} abrupt closes and {SILENCES} "
        f"silences per run; the clients are one asyncio loop in this process, on the same "
        f"{os.cpu_count()} CPUs as the servers; {machine()}"
    )
    if "redis" in RUNS and not redis:
        print("setup: no Redis (REDIS_URL unset, nothing at 127.0.0.1:6379): no redis run")
    for run_name in RUNS:
        if run_name == "redis" and not redis:
            continue
        if run_name not in ("memory", "redis"):
            raise BenchFailure(f"BENCH_RUNS: no run {run_name!r} (memory, redis)")
        url = redis if run_name == "redis" else None
        samples = daphne_run(seeded, run_name, 2 if url else 1, url)
        name = "cockpit" if run_name == "memory" else "cockpit.redis"
        close_ms = statistics.median(samples["abort"])
        close_target = 1000
        print(
            f"{run_name}: abrupt close, ms: "
            + ", ".join(f"{v:.0f}" for v in sorted(samples["abort"]))
        )
        figure(
            f"{name}.fallback_to_local_ms",
            f"{close_ms:.0f}",
            "ms",
            f"<= {close_target:.0f}",
            missed=close_ms > close_target,
        )
        if samples["silence"]:
            silence_ms = statistics.median(samples["silence"])
            silence_target = timeout_s * 1000 + 100
            print(
                f"{run_name}: silence, ms: "
                + ", ".join(f"{v:.0f}" for v in sorted(samples["silence"]))
            )
            figure(
                f"{name}.fallback_on_silence_ms",
                f"{silence_ms:.0f}",
                "ms",
                f"<= {silence_target:.0f}",
                missed=silence_ms > silence_target,
            )
        check_audit(run_name, seeded, len(samples["abort"]) + len(samples["silence"]))


def daphne_run(seeded: Seeded, run_name: str, count: int, url: str | None) -> dict[str, Any]:
    from django.db import connections

    connections.close_all()
    with daphnes_running("fallback", run_name, count, url) as servers:
        return asyncio.run(losses(seeded, [server.port for server in servers]))


_audited = 0


def check_audit(run_name: str, seeded: Seeded, expected: int) -> None:
    """Every loss was audited once, as a fall-back from the operator."""
    global _audited
    from core.models import AuditEvent

    rows = list(
        AuditEvent.objects.filter(
            action="cockpit.control_fallback", target_id=str(seeded.cockpit_id)
        ).order_by("pk")
    )[_audited:]
    _audited += len(rows)
    if len(rows) != expected or any(row.data["from"] != seeded.operator_id for row in rows):
        raise BenchFailure(f"{run_name}: {len(rows)} fall-backs audited, {expected} expected")


if __name__ == "__main__":
    url = redis_url(REDIS_DB)
    try:
        status = run("fallback", "wescan_bench_fallback", seed, measure)
    finally:
        flush_redis(url)
    sys.exit(status)
