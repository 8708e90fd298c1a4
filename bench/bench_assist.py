"""How soon does a request for help raised in a cockpit reach 200 on-call seniors, each with the
notification socket of some page open, on one Daphne process (in-memory channel layer) and on
two (Redis)?

Run: `.venv/bin/python bench/bench_assist.py` (or `make bench`, which runs every bench).

Set-up, made fresh on every run:
- a throwaway database: SQLite at bench/.data/assist.sqlite3, or, when DATABASE_URL names a
  PostgreSQL server, a separate database `wescan_bench_assist` (BENCH_DB_NAME) on it, dropped at
  the end; migrated with wescan.settings.local (BENCH_SETTINGS overrides), DEBUG off;
- a scanning hospital (manager, local staff, one cockpit-ready Siemens scanner) and 4 lending
  hospitals; a junior operator (French, neuro, Siemens), lent by one of them, confirmed on the
  scanner for a neuro session starting in 5 minutes: its cockpit open (`cockpit_open`), the
  operator's join approved by local staff;
- BENCH_SENIORS (default 200) on-call seniors spread over the lending hospitals, every one
  qualified to be asked first: verified licence, seniority senior, neuro + MSK, Siemens and
  another vendor, French and Dutch, the on-call switch on, an on-call window under way now
  (`on_call_create`): half a one-off window published by themselves for neuro, half a daily
  recurring window lent by their hospital's manager, for every family on the profile;
- 40 technologists who must not be asked, each missing one filter: on-call switch off; no
  shared language (German, English); no Siemens; experienced, not senior; on call tomorrow only.
  They are connected too: a notice reaching one of them fails the run.

Every senior and decoy has a logged-in Django session (the `sessionid` cookie) and holds its
`ws/notifications/` socket open (what static/js/notifications.js keeps on every page). The
operator holds the cockpit socket (`ws/cockpit/<id>/?role=operator`), as the console page does.

Runs (BENCH_RUNS, comma-separated, default `memory,redis`), each on fresh servers:
- `memory`: one Daphne process, in-memory channel layer, Celery eager (mail sent in-process,
  to the console backend: the Daphne log): the embedded default;
- `redis`: two Daphne processes on Redis database 14 (BENCH_REDIS_DB, emptied before and after)
  of REDIS_URL's server, or of 127.0.0.1:6379 when REDIS_URL is unset and Redis answers there
  (skipped, and said so, when there is none); the mail queued for a Celery worker on that Redis
  (none runs). The operator is on process 0, the seniors alternate between the two: half the
  notices cross processes through Redis.

The load generator is a separate process (this file with `--load`), one asyncio loop, sharing
the machine's cores with the servers. It raises BENCH_REQUESTS (default 30) requests one after
another, after 2 unmeasured ones to warm up, through the cockpit socket the console page uses:
the operator sends `{"type": "assist", "payload": {"action": "request", "exam_family": "neuro",
"note": ...}}`; the relay calls `cockpit.services.assist_request`, which asks the seniors and,
once its transaction commits, pushes each one a `notification` frame (kind `assist_request`).
Once all 200 have it (or BENCH_DELIVERY_TIMEOUT seconds, default 10, passed), the operator
cancels it (`{"action": "cancel"}`): every senior gets an `assist_closed` push (what the others
see when someone accepts), and once all have it the next request goes.

Figures (`assist.<run>.<figure>`):
- p50/p95/p99/max_ms: request sent → `notification` frame received, over every delivery to
  every senior of every measured request (one machine, one clock; target p95 <= 500);
- reached: the fewest seniors a request reached, of BENCH_SENIORS (target all);
- requester_p50_ms: request sent → the operator's own `assist` event ("200 asked");
- closed_p95_ms: cancel sent → `assist_closed` at the seniors;
- ping_p50_ms / p95_vs_ping: the baseline, a `ping` → `pong` round trip on a senior's
  notification socket, measured in the same run;
- server_cpu_per_request_ms: the Daphne processes' CPU per measured request (request + cancel);
- decoys_notified: notices that reached someone who must not be asked (target 0).
A wrong answer (an `error` frame, a refused or closed socket, a request asking someone other
than the 200) fails the run; a missed target prints MISSED.

Other knobs: BENCH_CONNECT_CONCURRENCY (sockets opened at once, default 20).
"""

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from common import (
    ROOT,
    Bench,
    BenchFailure,
    Server,
    daphnes_running,
    figure,
    flush_redis,
    machine,
    percentile,
    redis_url,
    run,
    second_factor_enrol,
    server_cpu_seconds,
    session_cookie,
    tail,
)

SENIORS = int(os.environ.get("BENCH_SENIORS", "200"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "30"))
WARMUP_REQUESTS = 2
DELIVERY_TIMEOUT = float(os.environ.get("BENCH_DELIVERY_TIMEOUT", "10"))
CONNECT_CONCURRENCY = int(os.environ.get("BENCH_CONNECT_CONCURRENCY", "20"))
REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "14"))
RUNS = [r for r in os.environ.get("BENCH_RUNS", "memory,redis").split(",") if r]
LENDING_HOSPITALS = 4
DECOYS_EACH = 8  # per way of not qualifying (DECOY_KINDS)
DECOY_KINDS = ("paused", "no_shared_language", "no_siemens", "experienced", "on_call_tomorrow")
# Within one person's burst on `ws/notifications/` (core.consumers.FRAMES: 10, then 2 a second):
# more back-to-back pings are dropped unread, as the rate limit means them to be.
PINGS = 10
# The operator asks for help and calls it off 32 times as fast as the relay answers: that is
# the path measured, not the per-person frame limit (5 a second, tested in tests/cockpit), so
# the servers this bench starts allow more.
os.environ.setdefault("COCKPIT_PERSON_FRAMES_PER_SECOND", "100")
os.environ.setdefault("COCKPIT_PERSON_FRAMES_BURST", "200")
ZONE = "Europe/Brussels"
FAMILY = "neuro"
# What juniors write; never anything about the patient.
NOTES = (
    "Motion on DWI, need help with the cardiac planes",
    "First time on this console: which coil setting for the cervical spine?",
    "Contrast timing for the perfusion sequence, not sure about the delay",
    "Artefacts on the FLAIR, would like a second pair of eyes",
)

TARGET_P95_MS = 500.0


# --- Data -----------------------------------------------------------------------------------


@dataclass
class Listener:
    who: str  # for messages: "senior017@assist.bench.example"
    session_key: str
    qualified: bool


@dataclass
class Seeded:
    cockpit_id: int
    operator_session: str
    listeners: list[Listener]

    @property
    def qualified(self) -> int:
        return sum(1 for listener in self.listeners if listener.qualified)


def seed() -> Seeded:
    """People, hospitals and profiles in bulk; the booking as `booking_accept` leaves it; the
    cockpit and the on-call windows through their services."""
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import User
    from cockpit import services as cockpit_services
    from marketplace.models import (
        Compensation,
        ExamFamily,
        Hospital,
        Language,
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
    from scheduling.models import Booking, BookingStatus, Initiator
    from scheduling.services.on_call import on_call_create

    now = timezone.now()
    unusable = make_password(None)
    families = {family.code: family for family in ExamFamily.objects.all()}
    languages = {language.code: language for language in Language.objects.all()}
    profile_families = TechnologistProfile.exam_families.through
    profile_languages = TechnologistProfile.languages.through

    def users(kind: str, count: int) -> list[User]:
        return User.objects.bulk_create(
            User(
                email=f"{kind}{i:03d}@assist.bench.example",
                first_name=kind.replace("_", " ").capitalize(),
                last_name=f"{i:03d}",
                password=unusable,
            )
            for i in range(count)
        )

    with transaction.atomic():
        hospitals = Hospital.objects.bulk_create(
            Hospital(name=f"Bench Assist Hospital {i}", city="Brussels", country="BE")
            for i in range(1 + LENDING_HOSPITALS)
        )
        scanning, lenders = hospitals[0], hospitals[1:]
        managers = users("manager", len(hospitals))
        (local,) = users("local", 1)
        (operator,) = users("junior", 1)
        seniors = users("senior", SENIORS)
        decoys = {kind: users(kind, DECOYS_EACH) for kind in DECOY_KINDS}
        # Each technologist works for one lending hospital, whose manager may lend them.
        lender_of = {
            u.pk: lenders[i % LENDING_HOSPITALS]
            for i, u in enumerate([*seniors, *(u for kind in DECOY_KINDS for u in decoys[kind])])
        }
        manager_of = dict(zip((h.pk for h in hospitals), managers, strict=True))
        Membership.objects.bulk_create(
            [
                *(
                    Membership(user=u, hospital=h, role=Role.MANAGER)
                    for u, h in zip(managers, hospitals, strict=True)
                ),
                Membership(user=local, hospital=scanning, role=Role.LOCAL_STAFF),
                Membership(user=operator, hospital=lenders[0], role=Role.TECHNOLOGIST),
                *(
                    Membership(user_id=pk, hospital=h, role=Role.TECHNOLOGIST)
                    for pk, h in lender_of.items()
                ),
            ]
        )
        people: list[tuple[User, str, tuple[str, ...], tuple[str, ...]]] = [
            (operator, Seniority.JUNIOR, ("fr",), ("siemens",)),
            *((u, Seniority.SENIOR, ("fr", "nl"), ("siemens", "ge")) for u in seniors),
            *((u, Seniority.SENIOR, ("fr", "nl"), ("siemens",)) for u in decoys["paused"]),
            *(
                (u, Seniority.SENIOR, ("de", "en"), ("siemens",))
                for u in decoys["no_shared_language"]
            ),
            *((u, Seniority.SENIOR, ("fr", "nl"), ("ge", "philips")) for u in decoys["no_siemens"]),
            *((u, Seniority.EXPERIENCED, ("fr",), ("siemens",)) for u in decoys["experienced"]),
            *(
                (u, Seniority.SENIOR, ("fr", "nl"), ("siemens",))
                for u in decoys["on_call_tomorrow"]
            ),
        ]
        profiles = TechnologistProfile.objects.bulk_create(
            TechnologistProfile(
                user=user,
                seniority=seniority,
                years_experience=2 if seniority == Seniority.JUNIOR else 15,
                home_time_zone=ZONE,
                licence_number=f"BE-RT-A{i:04d}",
                licence_authority="SPF Santé publique (BE)",
                licence_valid_until=now.date() + timedelta(days=400),
                licence_verified_at=now,
            )
            for i, (user, seniority, _, _) in enumerate(people)
        )
        profile_families.objects.bulk_create(
            profile_families(technologistprofile_id=profile.pk, examfamily_id=families[code].pk)
            for profile in profiles
            for code in (FAMILY, "msk")
        )
        profile_languages.objects.bulk_create(
            profile_languages(technologistprofile_id=profile.pk, language_id=languages[code].pk)
            for profile, (_, _, codes, _) in zip(profiles, people, strict=True)
            for code in codes
        )
        VendorFamiliarity.objects.bulk_create(
            VendorFamiliarity(profile=profile, vendor=vendor)
            for profile, (_, _, _, vendors) in zip(profiles, people, strict=True)
            for vendor in vendors
        )
        TechnologistProfile.objects.filter(user__in=decoys["paused"]).update(on_call_paused=True)

        site = Site.objects.create(hospital=scanning, name="Campus Nord", time_zone=ZONE)
        scanner = Scanner.objects.create(
            site=site,
            name="MR 1",
            vendor="siemens",
            model_name="Bench",
            field_strength_tesla="1.50",
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
            notes="Outpatient neuro list on standard protocols.",
            status=PostingStatus.FILLED,
            created_by=managers[0],
            published_at=now,
        )
        posting.required_exam_families.set([families[FAMILY]])
        posting.languages.set([languages["fr"]])
        booking = Booking.objects.create(
            posting=posting,
            technologist=operator,
            status=BookingStatus.CONFIRMED,
            initiated_by=Initiator.HOSPITAL,
            starts_at=starts_at,
            ends_at=ends_at,
            hours=posting.duration_hours,
            lending_hospital=lenders[0],
            confirmed_at=now,
        )

    # On call now: a one-off window of their own for neuro (even seniors), or a daily window
    # their hospital's manager lends them for every family on the profile (odd seniors).
    daily_from = now - timedelta(days=3, hours=4)
    on_call = [
        *seniors,
        *(u for kind in DECOY_KINDS if kind != "on_call_tomorrow" for u in decoys[kind]),
    ]
    for i, user in enumerate(on_call):
        if i % 2 == 0:
            on_call_create(
                actor=user,
                technologist=user,
                starts_at=now - timedelta(hours=1),
                ends_at=now + timedelta(hours=6),
                exam_families=[FAMILY],
            )
        else:
            on_call_create(
                actor=manager_of[lender_of[user.pk].pk],
                technologist=user,
                starts_at=daily_from,
                ends_at=daily_from + timedelta(hours=12),
                rrule="FREQ=DAILY",
            )
    for user in decoys["on_call_tomorrow"]:
        on_call_create(
            actor=user,
            technologist=user,
            starts_at=now + timedelta(days=1),
            ends_at=now + timedelta(days=1, hours=8),
            exam_families=[FAMILY],
        )

    booking = Booking.objects.select_related("posting", "technologist").get(pk=booking.pk)
    cockpit = cockpit_services.cockpit_open(booking=booking)
    cockpit_services.cockpit_approve_join(actor=local, cockpit=cockpit)
    # A cockpit needs a second factor (issue 18): everyone passes one, as at a real sign-in.
    second_factor_enrol([operator, *seniors, *(u for kind in DECOY_KINDS for u in decoys[kind])])
    listeners = [Listener(u.email, session_cookie(u), True) for u in seniors]
    listeners += [
        Listener(u.email, session_cookie(u), False) for kind in DECOY_KINDS for u in decoys[kind]
    ]
    return Seeded(cockpit.pk, session_cookie(operator), listeners)


# --- Servers --------------------------------------------------------------------------------


# --- The runs -------------------------------------------------------------------------------


def plan(seeded: Seeded, ports: list[int]) -> dict[str, Any]:
    """Who connects where, for the load generator: the operator on the first process, the
    listeners alternating over all of them."""

    def socket_spec(port: int, path: str, session_key: str) -> dict[str, Any]:
        return {
            "url": f"ws://127.0.0.1:{port}{path}",
            "headers": {"Cookie": f"sessionid={session_key}"},
            "origin": f"http://127.0.0.1:{port}",
        }

    return {
        "operator": socket_spec(
            ports[0], f"/ws/cockpit/{seeded.cockpit_id}/?role=operator", seeded.operator_session
        ),
        "listeners": [
            {
                **socket_spec(ports[i % len(ports)], "/ws/notifications/", listener.session_key),
                "who": listener.who,
                "qualified": listener.qualified,
            }
            for i, listener in enumerate(seeded.listeners)
        ],
        "requests": REQUESTS,
        "warmup": WARMUP_REQUESTS,
        "family": FAMILY,
        "notes": NOTES,
        "delivery_timeout": DELIVERY_TIMEOUT,
    }


def run_load(run_name: str, load_plan: dict[str, Any], servers: list[Server]) -> dict[str, Any]:
    """The load generator in its own process; its result, or a BenchFailure."""
    with tempfile.TemporaryDirectory() as folder:
        plan_path = Path(folder) / "plan.json"
        result_path = Path(folder) / "result.json"
        load_plan = {**load_plan, "server_pids": [s.process.pid for s in servers]}
        plan_path.write_text(json.dumps(load_plan))
        timeout = (REQUESTS + WARMUP_REQUESTS) * (2 * DELIVERY_TIMEOUT + 60) + 120
        process = subprocess.Popen(
            [sys.executable, __file__, "--load", str(plan_path), str(result_path)], cwd=ROOT
        )
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise BenchFailure(
                f"{run_name}: the load generator did not finish in {timeout:.0f} s"
            ) from None
        for server in servers:
            server.check_alive()
        if process.returncode != 0 or not result_path.exists():
            logs = "\n".join(f"--- {s.name}\n{tail(s.log)}" for s in servers)
            raise BenchFailure(
                f"{run_name}: the load generator failed ({process.returncode})\n{logs}"
            )
        result: dict[str, Any] = json.loads(result_path.read_text())
    if result["problems"]:
        logs = "\n".join(f"--- {s.name}\n{tail(s.log, 8)}" for s in servers)
        problem = (
            f"{run_name}: {len(result['problems'])} wrong answers (error frames, sockets the "
            "server closed, people asked who must not be), e.g.\n"
            + "\n".join(result["problems"][:5])
            + f"\n{logs}"
        )
        if "latencies_ms" not in result:  # nothing measured
            raise BenchFailure(problem)
        result["failure"] = problem
    return result


def report(run_name: str, result: dict[str, Any], qualified: int) -> None:
    name = f"assist.{run_name}"
    latencies = result["latencies_ms"]
    if len(latencies) < 2:
        raise BenchFailure(f"{run_name}: only {len(latencies)} deliveries measured")
    p95 = percentile(latencies, 95)
    figure(f"{name}.p50_ms", f"{percentile(latencies, 50):.1f}", "ms", "—")
    figure(f"{name}.p95_ms", f"{p95:.1f}", "ms", f"<= {TARGET_P95_MS:.0f}", p95 > TARGET_P95_MS)
    figure(f"{name}.p99_ms", f"{percentile(latencies, 99):.1f}", "ms", "—")
    figure(f"{name}.max_ms", f"{max(latencies):.1f}", "ms", "—")
    reached = result["reached"]
    fewest = min(reached)
    figure(
        f"{name}.reached",
        str(fewest),
        f"of {qualified} seniors (the fewest in one request)",
        f"all {qualified}",
        fewest < qualified,
    )
    figure(
        f"{name}.requester_p50_ms",
        f"{percentile(result['requester_ms'], 50):.1f}",
        "ms",
        "— (the operator's own `assist` event)",
    )
    closed = result["closed_ms"]
    figure(
        f"{name}.closed_p95_ms",
        f"{percentile(closed, 95):.1f}" if len(closed) >= 2 else "nan",
        "ms",
        "— (cancel → `assist_closed` at the seniors)",
    )
    ping = percentile(result["ping_ms"], 50)
    figure(f"{name}.ping_p50_ms", f"{ping:.2f}", "ms", "— (baseline: ping → pong, one socket)")
    figure(f"{name}.p95_vs_ping", f"{p95 / ping:.0f}", "x", "— (ping = 1)")
    cpu = result["server_cpu_s"] * 1000 / max(1, result["measured"])
    figure(f"{name}.server_cpu_per_request_ms", f"{cpu:.1f}", "ms", "— (request + cancel)")
    decoys = result["decoys_notified"]
    figure(f"{name}.decoys_notified", str(decoys), "notices", "0", decoys > 0)
    asked = sorted(set(result["asked"]))
    spread = result["spread_ms"]
    cpu_each = " + ".join(f"{seconds:.1f}" for seconds in result["server_cpu_each"])
    print(
        f"load: {run_name}: {result['measured']} requests measured after {WARMUP_REQUESTS} to "
        f"warm up; {len(latencies)} deliveries of {result['measured'] * qualified}; the requester "
        f"saw {'/'.join(map(str, asked))} asked; first to last senior of one request "
        f"p50 {percentile(spread, 50):.0f} ms, max {max(spread):.0f} ms; server "
        f"{result['server_cpu_s']:.1f} s CPU ({cpu_each}); "
        f"load generator {result['client_cpu_s']:.1f} s CPU; connecting took "
        f"{result['connect_s']:.1f} s"
    )


def measure(bench: Bench, seeded: Seeded) -> None:
    redis = redis_url(REDIS_DB)
    os.environ.pop("REDIS_URL", None)  # the parent and the `memory` run use no Redis
    decoys = len(seeded.listeners) - seeded.qualified
    print(
        f"setup: {seeded.qualified} on-call seniors qualified for a neuro request on Siemens in "
        f"French + {decoys} technologists who must not be asked ({DECOYS_EACH} each: "
        f"{', '.join(DECOY_KINDS)}), each with `ws/notifications/` open; the operator on the "
        f"cockpit socket; {REQUESTS} requests one after another (+{WARMUP_REQUESTS} to warm up), "
        f"each cancelled once all have it; the load generator is one asyncio process apart from "
        f"the servers, on the same {os.cpu_count()} CPUs; {machine()}"
    )
    if "redis" in RUNS and not redis:
        print("setup: no Redis (REDIS_URL unset, nothing at 127.0.0.1:6379): no redis run")
    for run_name in RUNS:
        if run_name == "memory":
            result = daphne_run(seeded, run_name, 1, None)
        elif run_name == "redis":
            if not redis:
                continue
            result = daphne_run(seeded, run_name, 2, redis)
        else:
            raise BenchFailure(f"BENCH_RUNS: no run {run_name!r} (memory, redis)")
        if failure := result.get("failure"):
            bench.failures.append(failure)  # the figures are printed; the other runs go on


def daphne_run(seeded: Seeded, run_name: str, count: int, url: str | None) -> dict[str, Any]:
    from django.db import connections

    connections.close_all()  # the servers and the next run's checks open their own
    with daphnes_running("assist", run_name, count, url) as servers:
        result = run_load(run_name, plan(seeded, [s.port for s in servers]), servers)
    report(run_name, result, seeded.qualified)
    check_requests(run_name, seeded)
    return result


def check_requests(run_name: str, seeded: Seeded) -> None:
    """What the database says matches what the sockets saw: every request of the run asked the
    qualified seniors, nobody else, and was cancelled."""
    from cockpit.models import AssistNotice, AssistRequest, AssistStatus

    requests = AssistRequest.objects.filter(cockpit_id=seeded.cockpit_id)
    still_open = requests.exclude(status=AssistStatus.CANCELLED).count()
    if still_open:
        raise BenchFailure(f"{run_name}: {still_open} requests not cancelled at the end")
    qualified = {listener.who for listener in seeded.listeners if listener.qualified}
    for assist in requests:
        asked = set(
            AssistNotice.objects.filter(request=assist).values_list("user__email", flat=True)
        )
        if asked != qualified:
            raise BenchFailure(
                f"{run_name}: request {assist.pk} asked {len(asked)} people, "
                f"{len(asked & qualified)} of the {len(qualified)} qualified"
            )


# --- The load generator (its own process) ---------------------------------------------------


@dataclass
class Socket:
    who: str
    qualified: bool
    connection: Any = None
    # assist id -> receive time (wall clock), per kind of notice
    requested: dict[int, float] = field(default_factory=dict)
    closed: dict[int, float] = field(default_factory=dict)
    pongs: asyncio.Queue[float] = field(default_factory=asyncio.Queue)


@dataclass
class Load:
    plan: dict[str, Any]
    sockets: list[Socket] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    done: bool = False
    # The operator's cockpit socket: `assist` events and `error` replies, as they come.
    operator_frames: asyncio.Queue[tuple[float, dict[str, Any]]] = field(
        default_factory=asyncio.Queue
    )
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def problem(self, text: str) -> None:
        if len(self.problems) < 100:
            self.problems.append(text)


async def connect(spec: dict[str, Any]) -> Any:
    from websockets.asyncio.client import connect as ws_connect

    return await ws_connect(
        spec["url"],
        additional_headers=spec["headers"],
        origin=spec["origin"],
        compression=None,
        open_timeout=60,
        ping_interval=None,
        max_size=2**20,
        close_timeout=2,
    )


async def read_listener(load: Load, sock: Socket) -> None:
    from websockets.exceptions import ConnectionClosed

    try:
        async for raw in sock.connection:
            now = time.time()
            frame = json.loads(raw)
            kind = frame.get("type")
            payload = frame.get("payload") or {}
            if kind == "pong":
                sock.pongs.put_nowait(now)
            elif kind == "error":
                load.problem(f"{sock.who}: error frame {payload}")
            elif kind == "notification":
                data = payload.get("data") or {}
                assist = data.get("assist")
                if payload.get("kind") == "assist_request" and isinstance(assist, int):
                    if not sock.qualified:
                        load.problem(f"{sock.who} must not be asked, and was: {payload}")
                    sock.requested.setdefault(assist, now)
                    load.changed.set()
                elif payload.get("kind") == "assist_closed" and isinstance(assist, int):
                    sock.closed.setdefault(assist, now)
                    load.changed.set()
    except ConnectionClosed as closed:
        if not load.done:
            load.problem(f"{sock.who}: closed {closed}")


async def read_operator(load: Load, connection: Any) -> None:
    from websockets.exceptions import ConnectionClosed

    try:
        async for raw in connection:
            now = time.time()
            frame = json.loads(raw)
            if frame.get("type") in {"assist", "error"}:
                load.operator_frames.put_nowait((now, frame))
    except ConnectionClosed as closed:
        if not load.done:
            load.problem(f"operator: closed {closed}")


async def operator_event(load: Load, action: str, timeout: float) -> tuple[float, dict[str, Any]]:
    """The operator's next `assist` event with this action (its time and assist view); an
    `error` reply fails the run."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            received, frame = await asyncio.wait_for(
                load.operator_frames.get(), max(0.01, deadline - time.monotonic())
            )
        except TimeoutError:
            raise BenchFailure(
                f"operator: no `assist` {action} event within {timeout:.0f} s"
            ) from None
        payload = frame.get("payload") or {}
        if frame["type"] == "error":
            raise BenchFailure(f"operator: error frame {payload}")
        if payload.get("action") == action:
            return received, payload["assist"]


async def until_all(
    load: Load, sockets: list[Socket], kind: str, assist_id: int, deadline: float
) -> None:
    """Wait until every socket has had the `kind` notice ("requested" or "closed") of this
    request, or the deadline."""
    while not all(assist_id in getattr(s, kind) for s in sockets):
        load.changed.clear()
        remaining = deadline - time.time()
        if remaining <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(load.changed.wait(), remaining)


async def ping_baseline(sock: Socket, count: int) -> list[float]:
    """`ping` → `pong` round trips on one notification socket, one after another."""
    rounds = []
    for n in range(count):
        sent = time.time()
        await sock.connection.send(json.dumps({"type": "ping", "seq": n, "payload": {}}))
        received = await asyncio.wait_for(sock.pongs.get(), 10)
        rounds.append((received - sent) * 1000)
    return rounds


async def generate(load_plan: dict[str, Any]) -> dict[str, Any]:
    load = Load(load_plan)
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    started = time.perf_counter()

    async def open_listener(spec: dict[str, Any]) -> None:
        async with gate:
            sock = Socket(spec["who"], spec["qualified"])
            sock.connection = await connect(spec)
            hello = json.loads(await asyncio.wait_for(sock.connection.recv(), 30))
            if hello.get("type") != "hello":
                raise BenchFailure(f"{sock.who}: first frame is not `hello`: {str(hello)[:300]}")
            load.sockets.append(sock)

    await asyncio.gather(*(open_listener(spec) for spec in load_plan["listeners"]))
    operator = await connect(load_plan["operator"])
    welcome = json.loads(await asyncio.wait_for(operator.recv(), 30))
    if welcome.get("type") != "welcome" or welcome["payload"].get("waiting"):
        raise BenchFailure(f"operator: not let into the cockpit: {str(welcome)[:300]}")
    connect_s = time.perf_counter() - started
    progress(
        f"{len(load.sockets)} notification sockets and the operator connected in {connect_s:.1f} s"
    )
    readers = [asyncio.create_task(read_listener(load, s)) for s in load.sockets]
    readers.append(asyncio.create_task(read_operator(load, operator)))

    qualified = [s for s in load.sockets if s.qualified]
    ping_ms = await ping_baseline(qualified[0], PINGS)
    timeout = load_plan["delivery_timeout"]
    total = load_plan["warmup"] + load_plan["requests"]
    sent_at: dict[int, float] = {}
    cancelled_at: dict[int, float] = {}
    requester_ms: list[float] = []
    asked: list[int] = []
    measured_ids: list[int] = []
    pids = load_plan["server_pids"]
    cpu_from: tuple[list[float], float] = ([], 0.0)
    frame_seq = 0
    for n in range(total):
        if n == load_plan["warmup"]:
            cpu_from = ([server_cpu_seconds(pid) for pid in pids], time.process_time())
        note = load_plan["notes"][n % len(load_plan["notes"])]
        frame_seq += 1
        sent = time.time()
        await operator.send(
            json.dumps(
                {
                    "type": "assist",
                    "seq": frame_seq,
                    "payload": {
                        "action": "request",
                        "exam_family": load_plan["family"],
                        "note": note,
                    },
                }
            )
        )
        received, view = await operator_event(load, "requested", 30 + timeout)
        assist_id = int(view["id"])
        sent_at[assist_id] = sent
        await until_all(load, qualified, "requested", assist_id, sent + timeout)
        frame_seq += 1
        cancelled = time.time()
        await operator.send(
            json.dumps({"type": "assist", "seq": frame_seq, "payload": {"action": "cancel"}})
        )
        await operator_event(load, "cancelled", 30 + timeout)
        cancelled_at[assist_id] = cancelled
        await until_all(
            load,
            [s for s in load.sockets if assist_id in s.requested],
            "closed",
            assist_id,
            cancelled + timeout,
        )
        if n >= load_plan["warmup"]:
            measured_ids.append(assist_id)
            requester_ms.append((received - sent) * 1000)
            asked.append(int(view["asked"]))
        if (n + 1) % 10 == 0:
            progress(f"{n + 1} of {total} requests")
    cpu_to = ([server_cpu_seconds(pid) for pid in pids], time.process_time())
    # A late notice to a decoy would still be a wrong answer: give stragglers a moment.
    await asyncio.sleep(0.5)
    load.done = True

    latencies, closed_ms, reached, spread = [], [], [], []
    for assist_id in measured_ids:
        times = [s.requested[assist_id] for s in qualified if assist_id in s.requested]
        reached.append(len(times))
        latencies.extend((t - sent_at[assist_id]) * 1000 for t in times)
        if times:
            spread.append((max(times) - min(times)) * 1000)
        closed_ms.extend(
            (s.closed[assist_id] - cancelled_at[assist_id]) * 1000
            for s in qualified
            if assist_id in s.closed
        )
    decoys_notified = sum(len(s.requested) + len(s.closed) for s in load.sockets if not s.qualified)
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    closing = asyncio.gather(
        operator.close(), *(s.connection.close() for s in load.sockets), return_exceptions=True
    )
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(closing, 20)
    server_cpu_each = [after - before for before, after in zip(cpu_from[0], cpu_to[0], strict=True)]
    return {
        "connect_s": connect_s,
        "measured": len(measured_ids),
        "latencies_ms": latencies,
        "reached": reached,
        "spread_ms": spread,
        "requester_ms": requester_ms,
        "asked": asked,
        "closed_ms": closed_ms,
        "ping_ms": ping_ms,
        "decoys_notified": decoys_notified,
        "server_cpu_each": server_cpu_each,
        "server_cpu_s": sum(server_cpu_each),
        "client_cpu_s": cpu_to[1] - cpu_from[1],
        "problems": load.problems,
    }


def progress(text: str) -> None:
    """What the load generator is doing, for whoever watches a long run (stderr)."""
    print(f"loadgen: {text}", file=sys.stderr, flush=True)


def load_main(plan_path: str, result_path: str) -> int:
    from websockets.exceptions import WebSocketException

    load_plan = json.loads(Path(plan_path).read_text())
    try:
        result = asyncio.run(generate(load_plan))
    except (BenchFailure, OSError, TimeoutError, WebSocketException) as exc:
        result = {"problems": [f"{type(exc).__name__}: {exc}"]}
    Path(result_path).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--load"]:
        sys.exit(load_main(sys.argv[2], sys.argv[3]))
    url = redis_url(REDIS_DB)
    try:
        status = run("assist", "wescan_bench_assist", seed, measure)
    finally:
        flush_redis(url)
    sys.exit(status)
