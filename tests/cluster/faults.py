"""What the fault tests (tests/cluster/test_faults_*.py) and bench/bench_faults.py share: booking
traffic through the public API, the cockpit's people with the page's reconnect, and the booking
invariants checked in SQL on the cluster's database after a fault.

- `seed_market()` runs inside the cluster (`market_seed(cluster)` calls it through `manage.py
  shell`): one hospital with a manager, 12 technologists in groups of three and 48 open postings
  on four days from the day after tomorrow, each group invited to three sessions a day that
  clash (08:00-12:00 all three; 10:00-14:00 two of them, overlapping; 12:15-16:15 one of the
  first and the third, inside the 30-minute rest). Written in bulk with the rows
  `posting_create(publish=True)` and `booking_invite` write; every person has an API token.
- `Traffic`: threads that each, in a loop, accept a pending invitation as its technologist,
  cancel a confirmed booking as the manager, or invite a candidate again, through the balancer
  with the tokens. Every answer is kept (time, method, path, status); the expected ones are 200,
  201 and 409 (a clash refused). A 500 is listed with its path and body.
- `Person`: one person's cockpit socket through the balancer, echoing the link check's probes as
  cockpit.js does, and reconnecting as cockpit.js does when the socket closes (with `since`, the
  last seq seen); `seq_check()` over all its connections: events lost (a seq skipped with no
  snapshot saying so) and seqs that went back.
- `invariant_violations()`: in SQL on the database, what the booking rules forbid (see
  INVARIANTS). PostgreSQL only, as the cluster.
"""

import asyncio
import contextlib
import http.client
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Origin

from tests.cluster.support import state_status

ZONE = "Europe/Brussels"
GROUPS = 4
GROUP_SIZE = 3
DAYS = 4
VENDORS = ("siemens", "ge", "philips")
# A day of a group: (start, end) in local time and who of the three is invited.
DAY_PLAN: tuple[tuple[tuple[int, int], tuple[int, int], tuple[int, ...]], ...] = (
    ((8, 0), (12, 0), (0, 1, 2)),
    ((10, 0), (14, 0), (0, 1)),
    ((12, 15), (16, 15), (0, 2)),
)
EXPECTED = {200, 201, 409}
# A reconnecting client waits this long between tries, as cockpit.js does at first.
RECONNECT_PAUSE_S = 0.25


# --- The market, made inside the cluster ------------------------------------------------------


def seed_market() -> dict[str, Any]:
    """Run in the cluster's Django (manage.py shell): the market above; returns its tokens and
    ids as JSON-ready data."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import User
    from accounts.tokens import access_token_create
    from marketplace.models import (
        Compensation,
        ExamFamily,
        Hospital,
        Membership,
        PostingStatus,
        Role,
        Scanner,
        Seniority,
        SessionPosting,
        Site,
        TechnologistProfile,
        Urgency,
        VendorFamiliarity,
    )
    from scheduling import services
    from scheduling.models import Booking, BookingStatus, Initiator

    def token(user: Any) -> str:
        return access_token_create(
            user=user, name="faults", scope="write", expires_in_days=30, with_second_factor=True
        ).secret

    now = timezone.now()
    zone = ZoneInfo(ZONE)
    today = now.astimezone(zone).date()
    unusable = make_password(None)
    neuro = ExamFamily.objects.get(code="neuro")

    def local(day: Any, hm: tuple[int, int]) -> datetime:
        return datetime(day.year, day.month, day.day, hm[0], hm[1], tzinfo=zone)

    with transaction.atomic():
        hospital = Hospital.objects.create(name="Faults General", city="Brussels", country="BE")
        manager = User.objects.create(
            email="manager@faults.example", first_name="Fault", last_name="Manager"
        )
        manager.password = unusable
        manager.save(update_fields=["password"])
        Membership.objects.create(user=manager, hospital=hospital, role=Role.MANAGER)
        site = Site.objects.create(hospital=hospital, name="Fault campus", time_zone=ZONE)
        scanners = Scanner.objects.bulk_create(
            Scanner(
                site=site,
                name=f"FX {g}-{r}",
                vendor=VENDORS[(g + r) % len(VENDORS)],
                model_name="Faults",
                field_strength_tesla="1.50",
                cockpit_ready=False,  # no agent: the traffic is about bookings
            )
            for g in range(GROUPS)
            for r in range(len(DAY_PLAN))
        )
        technologists = User.objects.bulk_create(
            User(
                email=f"tech{i:02d}@faults.example",
                first_name="Tech",
                last_name=f"{i:02d}",
                password=unusable,
            )
            for i in range(GROUPS * GROUP_SIZE)
        )
        profiles = TechnologistProfile.objects.bulk_create(
            TechnologistProfile(
                user=user,
                seniority=Seniority.EXPERIENCED,
                years_experience=8,
                home_time_zone=ZONE,
                licence_number=f"BE-RT-F{i:04d}",
                licence_authority="SPF Santé publique (BE)",
                licence_valid_until=today + timedelta(days=400),
                licence_verified_at=now,
            )
            for i, user in enumerate(technologists)
        )
        TechnologistProfile.exam_families.through.objects.bulk_create(
            TechnologistProfile.exam_families.through(
                technologistprofile_id=profile.pk, examfamily_id=neuro.pk
            )
            for profile in profiles
        )
        VendorFamiliarity.objects.bulk_create(
            VendorFamiliarity(profile=profile, vendor=vendor)
            for profile in profiles
            for vendor in VENDORS
        )
        first = today + timedelta(days=1)
        for user in technologists:
            services.availability_create(
                actor=user,
                technologist=user,
                starts_at=local(first, (6, 0)),
                ends_at=local(first, (22, 0)),
                time_zone=ZONE,
                rrule="FREQ=DAILY",
            )
        planned = []  # (scanner, starts_at, ends_at, invitees)
        for g in range(GROUPS):
            group = technologists[g * GROUP_SIZE : (g + 1) * GROUP_SIZE]
            for d in range(DAYS):
                day = today + timedelta(days=2 + d)
                for r, (start, end, roles) in enumerate(DAY_PLAN):
                    scanner = scanners[g * len(DAY_PLAN) + r]
                    who = [group[(role + d) % GROUP_SIZE] for role in roles]
                    planned.append((scanner, local(day, start), local(day, end), who))
        postings = SessionPosting.objects.bulk_create(
            SessionPosting(
                hospital=hospital,
                site=site,
                scanner=scanner,
                starts_at=starts_at,
                ends_at=ends_at,
                min_seniority=Seniority.JUNIOR,
                vendor=scanner.vendor,
                urgency=Urgency.ROUTINE,
                compensation=Compensation.RECIPROCITY,
                notes="Outpatient neuro list on standard protocols.",
                status=PostingStatus.OPEN,
                created_by=manager,
                published_at=now,
            )
            for scanner, starts_at, ends_at, _who in planned
        )
        SessionPosting.required_exam_families.through.objects.bulk_create(
            SessionPosting.required_exam_families.through(
                sessionposting_id=posting.pk, examfamily_id=neuro.pk
            )
            for posting in postings
        )
        candidates = [
            (posting, user)
            for posting, (_s, _a, _b, who) in zip(postings, planned, strict=True)
            for user in who
        ]
        Booking.objects.bulk_create(
            Booking(
                posting=posting,
                technologist=user,
                status=BookingStatus.PENDING,
                initiated_by=Initiator.HOSPITAL,
                starts_at=posting.starts_at,
                ends_at=posting.ends_at,
                hours=posting.duration_hours,
                lending_hospital=None,
            )
            for posting, user in candidates
        )
    return {
        "hospital": hospital.pk,
        "manager": token(manager),
        "technologists": {str(user.pk): token(user) for user in technologists},
        "candidates": [[posting.pk, user.pk] for posting, user in candidates],
    }


def live_cockpits() -> list[dict[str, Any]]:
    """Run in the cluster's Django: the demo's live cockpits (load_demo's DEMO_LIVE), each with
    signed-in session cookies of its operator and its site's local staff."""
    from accounts.models import User
    from cockpit.models import CockpitSession
    from marketplace.models import Role
    from tests.sessions import session_cookie

    found = []
    for cockpit in CockpitSession.objects.filter(
        ended_at__isnull=True, booking__status__in=("confirmed", "in_progress")
    ).select_related("booking__posting", "booking__technologist"):
        local = (
            User.objects.filter(
                memberships__hospital_id=cockpit.booking.posting.hospital_id,
                memberships__role=Role.LOCAL_STAFF,
            )
            .order_by("pk")
            .first()
        )
        if local is None:
            continue
        found.append(
            {
                "cockpit": cockpit.pk,
                "operator": session_cookie(cockpit.booking.technologist),
                "local": session_cookie(local),
            }
        )
    return found


def in_cluster(cluster: Any, function: str) -> Any:
    """Call one of this module's seed functions inside `cluster`; its JSON answer."""
    code = (
        f"import json; from tests.cluster.faults import {function}; print(json.dumps({function}()))"
    )
    output = cluster.manage("shell", "--no-imports", "-c", code).stdout
    return json.loads(output.strip().splitlines()[-1])


@dataclass
class Market:
    hospital: int
    manager: str
    technologists: dict[int, str]
    candidates: list[tuple[int, int]]

    @classmethod
    def seed(cls, cluster: Any) -> "Market":
        return cls.from_data(in_cluster(cluster, "seed_market"))

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> "Market":
        """From what `seed_market()` returned."""
        return cls(
            hospital=data["hospital"],
            manager=data["manager"],
            technologists={int(k): v for k, v in data["technologists"].items()},
            candidates=[(p, t) for p, t in data["candidates"]],
        )


# --- Booking traffic ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    at: float  # time.monotonic() when the request was sent
    done: float  # ... and when its answer (or the failure) came
    method: str
    path: str  # the route, ids as {id}
    status: int  # 0: no HTTP answer (connection refused or reset)
    body: bytes = b""

    @property
    def normal(self) -> bool:
        return self.status in EXPECTED


class Traffic:
    """`threads` clients, each with its own keep-alive connection to the balancer, doing one
    booking move after another (see the module's docstring) until stop()."""

    def __init__(self, url: str, market: Market, *, threads: int = 3, pause_s: float = 0.02):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.market = market
        self.threads = threads
        self.pause_s = pause_s
        self.answers: list[Answer] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.workers: list[threading.Thread] = []

    def __enter__(self) -> "Traffic":
        for i in range(self.threads):
            worker = threading.Thread(target=self._run, args=(i,), name=f"traffic-{i}")
            worker.start()
            self.workers.append(worker)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.stopping.set()
        for worker in self.workers:
            worker.join(timeout=60)
        self.workers.clear()

    # --- What was answered ------------------------------------------------------------------

    def since(self, moment: float) -> list[Answer]:
        with self.lock:
            return [a for a in self.answers if a.at >= moment]

    def statuses(self, start: float = 0.0, end: float = float("inf")) -> Counter[int]:
        with self.lock:
            return Counter(a.status for a in self.answers if start <= a.at < end)

    def server_errors(self, start: float = 0.0) -> list[Answer]:
        """Every 500 (and other 5xx but the balancer's and an outage's 503) sent at or after
        `start`."""
        with self.lock:
            return [
                a
                for a in self.answers
                if a.at >= start and a.status >= 500 and a.status not in (502, 503, 504)
            ]

    def normal_run_since(self, moment: float) -> int:
        """How many answers in a row, the latest last, were normal among those sent after
        `moment` (0 if the latest was not)."""
        run = 0
        for answer in reversed(self.since(moment)):
            if not answer.normal:
                break
            run += 1
        return run

    def recovered_at(self, moment: float) -> float:
        """When the last abnormal answer among those sent after `moment` came (`moment` when
        none): from then on the API answered normally."""
        abnormal = [a.done for a in self.since(moment) if not a.normal]
        return max(abnormal, default=moment)

    def describe(self, start: float = 0.0) -> str:
        counts = self.statuses(start)
        return ", ".join(f"{status or 'no answer'}: {n}" for status, n in sorted(counts.items()))

    # --- The clients -----------------------------------------------------------------------

    def _run(self, index: int) -> None:
        rng = random.Random(index)
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        technologists = list(self.market.technologists.items())
        try:
            while not self.stopping.is_set():
                roll = rng.random()
                if roll < 0.4:
                    technologist, token = rng.choice(technologists)
                    self._accept(connection, token, rng)
                elif roll < 0.65:
                    self._cancel(connection, rng)
                else:
                    posting, technologist = rng.choice(self.market.candidates)
                    self._call(
                        connection,
                        self.market.manager,
                        "POST",
                        "/api/v1/bookings/",
                        "/api/v1/bookings/",
                        {"posting": posting, "technologist": technologist},
                    )
                self.stopping.wait(self.pause_s)
        finally:
            connection.close()

    def _accept(self, connection: http.client.HTTPConnection, token: str, rng: random.Random):
        listed = self._call(
            connection, token, "GET", "/api/v1/bookings/?status=pending", "/api/v1/bookings/"
        )
        if listed:
            booking = rng.choice(listed)
            self._call(
                connection,
                token,
                "POST",
                f"/api/v1/bookings/{booking['id']}/accept/",
                "/api/v1/bookings/{id}/accept/",
            )

    def _cancel(self, connection: http.client.HTTPConnection, rng: random.Random) -> None:
        token = self.market.manager
        listed = self._call(
            connection,
            token,
            "GET",
            f"/api/v1/bookings/?status=confirmed&hospital={self.market.hospital}",
            "/api/v1/bookings/",
        )
        if listed:
            booking = rng.choice(listed)
            self._call(
                connection,
                token,
                "POST",
                f"/api/v1/bookings/{booking['id']}/cancel/",
                "/api/v1/bookings/{id}/cancel/",
                {"reason": "The list moved to another day (fault drill)."},
            )

    def _call(
        self,
        connection: http.client.HTTPConnection,
        token: str,
        method: str,
        path: str,
        route: str,
        body: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """One request; the answer kept. For a 200 list, its results (else [])."""
        headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        sent = time.monotonic()
        try:
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            status, data = response.status, response.read()
        except (OSError, http.client.HTTPException):
            connection.close()  # http.client opens a new connection on the next request
            status, data = 0, b""
            self.stopping.wait(0.1)
        answer = Answer(
            sent, time.monotonic(), method, route, status, data if status >= 500 else b""
        )
        with self.lock:
            self.answers.append(answer)
        if status == 200 and method == "GET":
            with contextlib.suppress(ValueError, KeyError, TypeError):
                return list(json.loads(data)["results"])
        return []


# --- The booking invariants, in SQL ---------------------------------------------------------------

# What the booking rules forbid, each a query listing the offending rows (PostgreSQL).
INVARIANTS = {
    "a posting with more than one confirmed booking": """
        SELECT posting_id, COUNT(*) FROM scheduling_booking
        WHERE status IN ('confirmed', 'in_progress', 'completed')
        GROUP BY posting_id HAVING COUNT(*) > 1
    """,
    "a technologist in two confirmed bookings that overlap or leave under 30 minutes' rest": """
        SELECT a.technologist_id, a.id, b.id FROM scheduling_booking a
        JOIN scheduling_booking b ON b.technologist_id = a.technologist_id AND b.id > a.id
        WHERE a.status IN ('confirmed', 'in_progress') AND b.status IN ('confirmed', 'in_progress')
        AND a.starts_at < b.ends_at + interval '30 minutes'
        AND b.starts_at < a.ends_at + interval '30 minutes'
    """,
    "a technologist-week over the 38 h cap": """
        SELECT a.technologist_id, date_trunc('week', a.starts_at AT TIME ZONE p.home_time_zone),
               SUM(a.hours)
        FROM scheduling_booking a
        JOIN marketplace_technologistprofile p ON p.user_id = a.technologist_id
        WHERE a.status IN ('confirmed', 'in_progress', 'completed')
        GROUP BY 1, 2 HAVING SUM(a.hours) > 38
    """,
    # A no-show keeps its posting filled: the session's time has passed.
    "a posting whose status disagrees with its bookings": """
        SELECT s.id, s.status FROM marketplace_sessionposting s
        WHERE (s.status = 'filled' AND NOT EXISTS (
            SELECT 1 FROM scheduling_booking a WHERE a.posting_id = s.id
            AND a.status IN ('confirmed', 'in_progress', 'completed', 'no_show')
        )) OR (s.status = 'open' AND EXISTS (
            SELECT 1 FROM scheduling_booking a
            WHERE a.posting_id = s.id AND a.status IN ('confirmed', 'in_progress', 'completed')
        ))
    """,
    "a ledger entry its booking does not back": """
        SELECT e.id, e.kind, b.id, b.status FROM scheduling_ledgerentry e
        JOIN scheduling_booking b ON b.id = e.booking_id
        WHERE (e.kind = 'completed' AND b.status <> 'completed')
        OR (e.kind = 'late_cancellation'
            AND NOT (b.status = 'cancelled' AND b.late AND b.cancelled_side = 'hospital'))
        OR (e.kind = 'hospital_no_show'
            AND NOT (b.status = 'no_show' AND b.no_show_side = 'hospital'))
    """,
    "a booking counted twice in the ledger": """
        SELECT booking_id, kind, COUNT(*) FROM scheduling_ledgerentry
        WHERE kind <> 'assist' GROUP BY booking_id, kind HAVING COUNT(*) > 1
    """,
    "a cockpit open for a booking that will not happen": """
        SELECT c.id, b.id, b.status FROM cockpit_cockpitsession c
        JOIN scheduling_booking b ON b.id = c.booking_id
        WHERE c.status <> 'ended' AND c.ended_at IS NULL
        AND b.status IN ('cancelled', 'declined', 'expired', 'no_show')
    """,
}


def invariant_violations(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Each invariant's offending rows on the database at `database_url` (only those with
    any)."""
    import psycopg

    found: dict[str, list[tuple[Any, ...]]] = {}
    with psycopg.connect(database_url, autocommit=True) as conn:
        for name, query in INVARIANTS.items():
            rows = conn.execute(query).fetchall()
            if rows:
                found[name] = list(rows)
    return found


def booking_counts(database_url: str) -> dict[str, int]:
    """Bookings per status: what the traffic did."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute("SELECT status, COUNT(*) FROM scheduling_booking GROUP BY status")
        return dict(rows.fetchall())


# --- The cockpit's people -----------------------------------------------------------------------


@dataclass
class SeqCheck:
    lost: int = 0  # events skipped with no snapshot saying so
    back: list[str] = field(default_factory=list)  # where a seq went back or repeated
    snapshots: int = 0  # resyncs by a snapshot (said so) after the first connection
    gaps: list[str] = field(default_factory=list)  # where events were lost


def seq_check(frames: list[dict[str, Any]], start: int = 0) -> SeqCheck:
    """Over every connection of one person (each starts with a `connected` marker): session
    events numbered one after the other, never back; a snapshot replaces what was missed. Only
    what happened from frame `start` on is counted (the frames before set where it starts)."""
    check = SeqCheck()
    counted = SeqCheck()
    last: int | None = None
    connections = 0
    for index, frame in enumerate(frames):
        if index == start:
            check = counted  # from here on, problems count
        kind, seq = frame.get("type"), frame.get("seq")
        payload = frame.get("payload") or {}
        if kind == "connected":
            connections += 1
        elif kind == "welcome":
            head = payload.get("seq")
            if last is None:
                last = head
            elif isinstance(head, int) and head < last:
                check.back.append(f"welcome at seq {head} after {last}")
        elif kind == "snapshot":
            head = payload.get("seq")
            if connections > 1:
                check.snapshots += 1
            if last is not None and isinstance(head, int) and head < last:
                check.back.append(f"snapshot at seq {head} after {last}")
            last = head
        elif isinstance(seq, int):
            if last is not None and seq <= last:
                check.back.append(f"{kind} {seq} after {last}")
            elif last is not None and seq > last + 1:
                check.lost += seq - last - 1
                check.gaps.append(f"{kind} {seq} after {last} (connection {connections})")
            last = seq if last is None else max(last, seq)
    return counted


class Person:
    """One person's client of a cockpit through the balancer: every frame received over all its
    connections, in order, each connection starting with a `connected` marker; probes echoed at
    once; when the socket closes it reconnects (`since` the last seq seen), as cockpit.js does,
    until close()."""

    def __init__(self, url: str, cockpit_id: int, role: str, cookie: str) -> None:
        self.url = url
        self.ws_url = "ws" + url.removeprefix("http")
        self.cockpit_id = cockpit_id
        self.role = role
        self.cookie = cookie
        self.frames: list[dict[str, Any]] = []
        self.changed = asyncio.Event()
        self.ws: ClientConnection | None = None
        self.runner: asyncio.Task[None] | None = None
        self.closing = False
        self.client_seq = 0
        self.connections = 0
        self.connection_failures = 0

    @property
    def last_seq(self) -> int | None:
        """The last event's seq this person has (a snapshot's covers what it replaced; a
        welcome's only says where the session is, not what was received)."""
        for frame in reversed(self.frames):
            if frame.get("type") == "snapshot":
                return int(frame["payload"]["seq"])
            if isinstance(frame.get("seq"), int):
                return int(frame["seq"])
        return None

    async def start(self, ceiling_s: float) -> None:
        """Connected and welcomed (within `ceiling_s`), then kept connected in the background."""
        self.runner = asyncio.create_task(self._keep_connected())
        await self.until(lambda f: f["type"] == "welcome", ceiling_s=ceiling_s)

    async def _keep_connected(self) -> None:
        while not self.closing:
            since = self.last_seq
            query = f"role={self.role}" + (f"&since={since}" if since is not None else "")
            try:
                ws = await connect(
                    f"{self.ws_url}/ws/cockpit/{self.cockpit_id}/?{query}",
                    additional_headers={"Cookie": self.cookie},
                    origin=Origin(self.url),
                    proxy=None,
                    open_timeout=10,
                )
            except (OSError, TimeoutError, InvalidHandshake):
                self.connection_failures += 1
                await asyncio.sleep(RECONNECT_PAUSE_S)
                continue
            self.ws = ws
            self.connections += 1
            self.frames.append({"type": "connected", "seq": None, "since": since})
            try:
                async for message in ws:
                    frame = json.loads(message)
                    if frame["type"] == "probe":
                        echo = {
                            "type": "echo",
                            "seq": None,
                            "payload": {"probe": frame["payload"]["id"]},
                        }
                        await ws.send(json.dumps(echo))
                        continue
                    frame["_at"] = time.monotonic()  # when it came (the bench's recovery)
                    self.frames.append(frame)
                    self.changed.set()
            except ConnectionClosed:
                pass
            self.frames.append({"type": "closed", "seq": None, "code": ws.close_code})
            self.ws = None
            self.changed.set()
            if not self.closing:
                await asyncio.sleep(RECONNECT_PAUSE_S)

    async def send(self, kind: str, payload: dict[str, Any], ceiling_s: float) -> None:
        """Sent on the open socket (waiting for one, within `ceiling_s`)."""
        async with asyncio.timeout(ceiling_s):
            while True:
                ws = self.ws
                if ws is not None:
                    self.client_seq += 1
                    frame = {"type": kind, "seq": self.client_seq, "payload": payload}
                    try:
                        await ws.send(json.dumps(frame))
                        return
                    except ConnectionClosed:
                        pass
                await asyncio.sleep(0.05)

    async def until(
        self, check: Callable[[dict[str, Any]], bool], *, after: int = 0, ceiling_s: float
    ) -> dict[str, Any]:
        """The first frame `check` accepts among those received from index `after` on (waiting
        for it, within `ceiling_s`)."""
        seen = after
        async with asyncio.timeout(ceiling_s):
            while True:
                for frame in self.frames[seen:]:
                    if check(frame):
                        return frame
                seen = len(self.frames)
                self.changed.clear()
                await self.changed.wait()

    async def close(self) -> None:
        self.closing = True
        if self.ws is not None:
            with contextlib.suppress(ConnectionClosed):
                await self.ws.close()
        if self.runner is not None:
            self.runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.runner


def newer_event(seq: int, since: float) -> Callable[[dict[str, Any]], bool]:
    """A session event numbered after `seq` that came at or after `since` (time.monotonic()):
    events flow to this person again."""
    return lambda frame: (
        isinstance(frame.get("seq"), int) and frame["seq"] > seq and frame["_at"] >= since
    )


def stopped_after(seq: int) -> Callable[[dict[str, Any]], bool]:
    """The scanner's console reports `stopped` in an event after `seq` (the STOP's)."""
    return lambda frame: (
        isinstance(frame.get("seq"), int)
        and frame["seq"] > seq
        and state_status(frame) == "stopped"
    )


# --- One fault, from the traffic's and the people's side ------------------------------------------


@dataclass
class Outcome:
    """What one fault cost. `recovery_s`: from `since` (the piece back, or for a killed Daphne
    the kill) until both every person received, after `since`, a session event newer than the
    last they had before the fault (on a socket of before, or reconnected through the balancer),
    and the API answered normally again (the last answer that was not 200, 201 or 409 to a
    request sent after `since` came back)."""

    piece: str
    recovery_s: float
    api_recovery_s: float
    resync_s: float
    resync_each: list[str]  # "<role> <cockpit>: <s>", the slowest first
    lost: int
    gaps: list[str]  # "<role> <cockpit>: <kind> <seq> after <seq>"
    went_back: list[str]
    snapshots: int
    http_500_after: list[Answer]  # sent once the piece was back
    http_500_during: list[Answer]
    statuses_during: Counter[int]
    invariants: dict[str, list[tuple[Any, ...]]]
    stop_seq: int | None

    @property
    def invariant_violations(self) -> int:
        return sum(len(rows) for rows in self.invariants.values())

    def describe(self) -> str:
        slowest = ", ".join(self.resync_each[:3])
        return (
            f"{self.piece}: recovered in {self.recovery_s:.2f} s (API {self.api_recovery_s:.2f} s, "
            f"people {self.resync_s:.2f} s, slowest {slowest}); lost {self.lost}, went back "
            f"{len(self.went_back)}, snapshots {self.snapshots}; 500s after "
            f"{len(self.http_500_after)}, during {len(self.http_500_during)}; answers during the "
            f"fault {dict(sorted(self.statuses_during.items()))}; invariants broken "
            f"{self.invariant_violations}"
        )


class Phases:
    """Prints how long each phase of a fault took (where a slow test spends its time)."""

    def __init__(self, piece: str) -> None:
        self.piece = piece
        self.last = time.monotonic()

    def __call__(self, what: str) -> None:
        now = time.monotonic()
        print(f"{self.piece}: {what} after {now - self.last:.2f} s", flush=True)
        self.last = now


# Normal answers in a row after the fault before the API counts as back.
NORMAL_RUN = 30


async def wait_for(check: Callable[[], bool], what: str, ceiling_s: float) -> None:
    """Until `check()` holds, polling; AssertionError naming `what` after `ceiling_s`."""
    deadline = time.monotonic() + ceiling_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {ceiling_s:.0f} s: {what}")
        await asyncio.sleep(0.05)


async def fault_run(
    *,
    piece: str,
    fault: Callable[[], float],
    database_url: str,
    traffic: Traffic,
    people: list[Person],
    stopper: Person | None,
    ceiling_s: float,
) -> Outcome:
    """`fault()` (blocking, run in a thread) pulls the plug and returns the moment recovery counts
    from; then the people must get events again, `stopper` (local staff) presses STOP and both
    the STOP and the console's `stopped` reach every person of its cockpit, the API answers
    normally again, and the database holds every booking invariant."""
    phase = Phases(piece)
    await wait_for(lambda: traffic.normal_run_since(0) >= 10, "booking traffic flows", ceiling_s)
    phase("traffic flows")
    before = {id(person): (len(person.frames), person.last_seq or 0) for person in people}
    started = time.monotonic()
    since = await asyncio.to_thread(fault)
    phase("fault over")
    resynced = []
    for person in people:
        index, seq = before[id(person)]
        frame = await person.until(newer_event(seq, since), after=index, ceiling_s=ceiling_s)
        resynced.append(frame["_at"])
    phase("people resynced")
    stop_seq = None
    if stopper is not None:
        mark = len(stopper.frames)
        await stopper.send("stop", {}, ceiling_s)
        stop = await stopper.until(lambda f: f["type"] == "stop", after=mark, ceiling_s=ceiling_s)
        stop_seq = int(stop["seq"])
        for person in people:
            if person.cockpit_id == stopper.cockpit_id:
                await person.until(stopped_after(stop_seq), ceiling_s=ceiling_s)
        phase("STOP reached the scanner")
    await wait_for(
        lambda: traffic.normal_run_since(since) >= NORMAL_RUN,
        f"{NORMAL_RUN} normal API answers in a row after the {piece} fault "
        f"({traffic.describe(since)})",
        ceiling_s,
    )
    phase("API normal")
    api_back = traffic.recovered_at(since)
    checks = [seq_check(person.frames, before[id(person)][0]) for person in people]
    return Outcome(
        piece=piece,
        recovery_s=max(api_back, *resynced, since) - since,
        api_recovery_s=api_back - since,
        resync_s=max(resynced) - since,
        resync_each=[
            f"{person.role} {person.cockpit_id}: {at - since:.2f} s"
            for at, person in sorted(zip(resynced, people, strict=True), key=lambda p: -p[0])
        ],
        lost=sum(check.lost for check in checks),
        gaps=[
            f"{p.role} {p.cockpit_id}: {g}"
            for p, c in zip(people, checks, strict=True)
            for g in c.gaps
        ],
        went_back=[
            f"{p.role} {p.cockpit_id}: {b}"
            for p, c in zip(people, checks, strict=True)
            for b in c.back
        ],
        snapshots=sum(check.snapshots for check in checks),
        http_500_after=traffic.server_errors(since),
        http_500_during=[a for a in traffic.server_errors(started) if a.at < since],
        statuses_during=traffic.statuses(started, since),
        invariants=await asyncio.to_thread(invariant_violations, database_url),
        stop_seq=stop_seq,
    )
