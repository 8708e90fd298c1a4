"""How fast and how completely does the cockpit relay carry console state from 50 scanners to the
people in their cockpits, on one Daphne process (in-memory channel layer) and on two (Redis), and
how far is that from a bare websocket relay on the same load?

Set-up, made fresh on every run:
- a throwaway database: SQLite at bench/.data/cockpit.sqlite3, or, when DATABASE_URL names a
  PostgreSQL server, a separate database `wescan_bench_cockpit` (BENCH_DB_NAME) on it, dropped at
  the end; migrated with wescan.settings.local (BENCH_SETTINGS overrides), DEBUG off;
- 5 hospitals, each with a manager, a local staff member, a senior technologist and one site of
  10 cockpit-ready scanners (a device token each); 50 technologists, each lent by the next
  hospital, each confirmed on one scanner for a 2-hour session starting in 5 minutes: 50
  cockpit sessions open now (`cockpit_open`), the operator's join approved by local staff
  (`cockpit_approve_join`), the hospital's senior added as assistant;
- 6 participants per session: the scanner (a lightweight publisher of this file, with the
  scanner's device token) and 5 people logged in through Django sessions (SessionStore, the
  `sessionid` cookie): operator, local, assistant, observer (manager of the scanning hospital),
  observer (manager of the lending hospital).

Three runs of the same load, each on fresh servers:
- `memory`: one Daphne process, in-memory channel layer (the embedded default);
- `redis`: two Daphne processes on Redis database 13 (BENCH_REDIS_DB, emptied before and after)
  of REDIS_URL's server, or of 127.0.0.1:6379 when REDIS_URL is unset and Redis answers there
  (skipped, and said so, when there is none). The scanner of session i connects to process i mod
  2, its people alternate between the two: about half the frames cross processes through Redis;
- `bare`: bench/bare_relay.py, the `websockets` library and no Django (one process, one room per
  session, parse + number + re-serialise + broadcast): the ceiling.

The load generator is a separate process (this file with `--load`), one asyncio loop, sharing
the machine's cores with the servers and Redis. Each scanner publishes a `state` frame 10 times a
second (BENCH_HZ), staggered over the 100 ms: a full console state (~1 KB) every 2 s, a delta of
the keys that moved (progress, times, SAR) otherwise, `sent_at` = the publisher's wall clock. After
a warm-up (BENCH_WARMUP_SECONDS, default 3; the first `running` state marks each session started)
it measures two windows of BENCH_SECONDS (default 60) each:
1. steady: everyone reads;
2. stalled: the lending hospital's observer of every session stops reading its socket (TCP fills,
   then the server's write buffer); the other 4 people go on.

Figures, per run (`cockpit.<run>.<figure>`):
- delivered_per_s: state frames received by the people per second (steady window);
- p50/p95/p99_ms: scanner-to-person latency, receive time minus `sent_at` (one machine, one
  clock), over every state frame of the steady window (targets p50 <= 15, p99 <= 50);
- lost: state frames a scanner sent in a window that a reading person had not received 10 s
  after the last one was sent (dropped, or hopelessly late), plus the seqs missing from the
  session events each person saw (target 0);
- stalled_p99_ms / stalled_p99_increase: the other 4 people's p99 in the stalled window against
  theirs in the steady window (target <= +10 %);
- server cores, load-generator cores, and the servers' memory growth during the stall.
A wrong answer (an `error` frame, a refused socket, a closed connection) fails the run; a missed
target prints MISSED.
"""

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from common import (
    DATA_DIR,
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
    server_cpu_seconds,
    session_cookie,
    tail,
)

HOSPITALS = 5
SCANNERS_PER_HOSPITAL = 10
SESSIONS = HOSPITALS * SCANNERS_PER_HOSPITAL
ZONE = "Europe/Brussels"
HZ = float(os.environ.get("BENCH_HZ", "10"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "60"))
WARMUP = float(os.environ.get("BENCH_WARMUP_SECONDS", "3"))
FULL_EVERY_S = 2.0
DRAIN_SECONDS = 10.0
REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "13"))
# Which runs (BENCH_RUNS, comma-separated): all three by default.
RUNS = [r for r in os.environ.get("BENCH_RUNS", "memory,redis,bare").split(",") if r]
CONNECT_CONCURRENCY = 10
# The person of each session who stops reading in the stalled window (index in PEOPLE).
PEOPLE = ("operator", "local", "assistant", "observer", "observer")
STALLED = 4
STALLED_RCVBUF = 4096

TARGET_P50_MS = 15.0
TARGET_P99_MS = 50.0
TARGET_STALL_INCREASE = 0.10


# --- Data -----------------------------------------------------------------------------------


@dataclass
class Participant:
    role: str
    who: str  # for messages: "operator tech07@..."
    session_key: str


@dataclass
class SessionSeed:
    cockpit_id: int
    scanner_token: str
    people: list[Participant]


@dataclass
class Seeded:
    sessions: list[SessionSeed]


def seed() -> Seeded:
    """People, hospitals and scanners in bulk; the bookings as `booking_accept` leaves them
    (confirmed, posting filled); the cockpits through the cockpit services."""
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import User
    from cockpit import services as cockpit_services
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
    )
    from marketplace.services.tenancy import scanner_rotate_token
    from scheduling.models import Booking, BookingStatus, Initiator

    now = timezone.now()
    starts_at = (now + timedelta(minutes=5)).replace(microsecond=0)
    ends_at = starts_at + timedelta(hours=2)
    unusable = make_password(None)
    neuro = ExamFamily.objects.get(code="neuro")

    def users(kind: str, count: int, **extra: Any) -> list[User]:
        return User.objects.bulk_create(
            User(
                email=f"{kind}{i:02d}@cockpit.bench.example",
                first_name=kind.capitalize(),
                last_name=f"{i:02d}",
                password=unusable,
                **extra,
            )
            for i in range(count)
        )

    with transaction.atomic():
        hospitals = Hospital.objects.bulk_create(
            Hospital(name=f"Bench Cockpit Hospital {i}", city="Brussels", country="BE")
            for i in range(HOSPITALS)
        )
        managers = users("manager", HOSPITALS)
        locals_ = users("local", HOSPITALS)
        seniors = users("senior", HOSPITALS)
        technologists = users("tech", SESSIONS)
        Membership.objects.bulk_create(
            [
                *(
                    Membership(user=u, hospital=h, role=Role.MANAGER)
                    for u, h in zip(managers, hospitals, strict=True)
                ),
                *(
                    Membership(user=u, hospital=h, role=Role.LOCAL_STAFF)
                    for u, h in zip(locals_, hospitals, strict=True)
                ),
                *(
                    Membership(user=u, hospital=h, role=Role.TECHNOLOGIST)
                    for u, h in zip(seniors, hospitals, strict=True)
                ),
                *(
                    Membership(
                        user=u, hospital=hospitals[(i + 1) % HOSPITALS], role=Role.TECHNOLOGIST
                    )
                    for i, u in enumerate(technologists)
                ),
            ]
        )
        TechnologistProfile.objects.bulk_create(
            TechnologistProfile(
                user=user,
                seniority=Seniority.SENIOR if user in seniors else Seniority.EXPERIENCED,
                years_experience=8,
                home_time_zone=ZONE,
                licence_number=f"BE-RT-K{i:04d}",
                licence_authority="SPF Santé publique (BE)",
                licence_valid_until=now.date() + timedelta(days=400),
                licence_verified_at=now,
            )
            for i, user in enumerate([*technologists, *seniors])
        )
        sites = Site.objects.bulk_create(
            Site(hospital=hospital, name="Campus Nord", time_zone=ZONE) for hospital in hospitals
        )
        Scanner.objects.bulk_create(
            Scanner(
                site=site,
                name=f"MR {k}",
                vendor="siemens",
                model_name="Bench",
                field_strength_tesla="1.50",
                cockpit_ready=True,
            )
            for site in sites
            for k in range(SCANNERS_PER_HOSPITAL)
        )
        scanners = list(
            Scanner.objects.filter(site__in=sites).select_related("site__hospital").order_by("pk")
        )
        postings = SessionPosting.objects.bulk_create(
            SessionPosting(
                hospital_id=scanner.site.hospital_id,
                site=scanner.site,
                scanner=scanner,
                starts_at=starts_at,
                ends_at=ends_at,
                min_seniority=Seniority.JUNIOR,
                vendor=scanner.vendor,
                urgency=Urgency.ROUTINE,
                compensation=Compensation.RECIPROCITY,
                notes="Outpatient neuro list on standard protocols.",
                status=PostingStatus.FILLED,
                created_by=managers[hospitals.index(scanner.site.hospital)],
                published_at=now,
            )
            for scanner in scanners
        )
        SessionPosting.required_exam_families.through.objects.bulk_create(
            SessionPosting.required_exam_families.through(
                sessionposting_id=posting.pk, examfamily_id=neuro.pk
            )
            for posting in postings
        )
        bookings = Booking.objects.bulk_create(
            Booking(
                posting=posting,
                technologist=technologist,
                status=BookingStatus.CONFIRMED,
                initiated_by=Initiator.HOSPITAL,
                starts_at=starts_at,
                ends_at=ends_at,
                hours=posting.duration_hours,
                lending_hospital=hospitals[(i + 1) % HOSPITALS],
                confirmed_at=now,
            )
            for i, (posting, technologist) in enumerate(zip(postings, technologists, strict=True))
        )

    sessions = []
    for i, (booking, scanner) in enumerate(zip(bookings, scanners, strict=True)):
        h = i // SCANNERS_PER_HOSPITAL
        lender = (i + 1) % HOSPITALS
        booking = Booking.objects.select_related("posting", "technologist").get(pk=booking.pk)
        cockpit = cockpit_services.cockpit_open(booking=booking)
        cockpit_services.cockpit_approve_join(actor=locals_[h], cockpit=cockpit)
        cockpit.assistants.add(seniors[h])
        token = scanner_rotate_token(actor=managers[h], scanner=scanner)
        who = [technologists[i], locals_[h], seniors[h], managers[h], managers[lender]]
        sessions.append(
            SessionSeed(
                cockpit.pk,
                token,
                [
                    Participant(role, f"{role} {user.email}", session_cookie(user))
                    for role, user in zip(PEOPLE, who, strict=True)
                ],
            )
        )
    return Seeded(sessions)


# --- Servers --------------------------------------------------------------------------------


def start_bare() -> Server:
    log = DATA_DIR / "cockpit-bare-relay.log"
    with contextlib.closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "bare_relay.py"), str(port)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server("bare relay", port, process, log)
    deadline = time.monotonic() + 10
    while "ready" not in log.read_text(errors="replace"):
        server.check_alive()
        if time.monotonic() > deadline:
            server.stop()
            raise BenchFailure(f"the bare relay did not start:\n{tail(log)}")
        time.sleep(0.05)
    return server


# --- The runs -------------------------------------------------------------------------------


def plan(seeded: Seeded, run_name: str, ports: list[int]) -> dict[str, Any]:
    """Who connects where, for the load generator."""
    sessions = []
    for i, session in enumerate(seeded.sessions):
        scanner_port = ports[i % len(ports)]
        if run_name == "bare":
            scanner = {"url": f"ws://127.0.0.1:{scanner_port}/cockpit/{session.cockpit_id}/scanner"}
        else:
            scanner = {
                "url": f"ws://127.0.0.1:{scanner_port}/ws/cockpit/scanner/",
                "headers": {"Authorization": f"Device {session.scanner_token}"},
                "origin": f"http://127.0.0.1:{scanner_port}",
            }
        people = []
        for j, person in enumerate(session.people):
            port = ports[(i + j + 1) % len(ports)]
            if run_name == "bare":
                url = (
                    f"ws://127.0.0.1:{port}/cockpit/{session.cockpit_id}/person?role={person.role}"
                )
                people.append({"url": url, "who": person.who, "stalls": j == STALLED})
                continue
            people.append(
                {
                    "url": f"ws://127.0.0.1:{port}/ws/cockpit/{session.cockpit_id}/?role={person.role}",
                    "headers": {"Cookie": f"sessionid={person.session_key}"},
                    "origin": f"http://127.0.0.1:{port}",
                    "who": person.who,
                    "stalls": j == STALLED,
                }
            )
        sessions.append({"id": session.cockpit_id, "scanner": scanner, "people": people})
    return {"sessions": sessions, "hz": HZ, "seconds": SECONDS, "warmup": WARMUP}


def run_load(run_name: str, load_plan: dict[str, Any], servers: list[Server]) -> dict[str, Any]:
    """The load generator in its own process; its result, or a BenchFailure."""
    with tempfile.TemporaryDirectory() as folder:
        plan_path = Path(folder) / "plan.json"
        result_path = Path(folder) / "result.json"
        load_plan = {**load_plan, "server_pids": [s.process.pid for s in servers]}
        plan_path.write_text(json.dumps(load_plan))
        timeout = 2 * SECONDS + WARMUP + DRAIN_SECONDS + 180
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
            "server closed), e.g.\n" + "\n".join(result["problems"][:5]) + f"\n{logs}"
        )
        if "steady" not in result:  # nothing measured
            raise BenchFailure(problem)
        result["failure"] = problem
    return result


def report(run_name: str, result: dict[str, Any], ceiling: bool = False) -> None:
    steady, stalled = result["steady"], result["stalled"]
    name = f"cockpit.{run_name}"

    def target(text: str) -> str:
        return "— (ceiling)" if ceiling else text

    figure(
        f"{name}.delivered_per_s",
        f"{steady['delivered'] / steady['seconds']:.0f}",
        "frames/s",
        target(f"— ({steady['sent'] / steady['seconds']:.0f} published/s x 5 people)"),
    )
    p50, p95, p99 = (steady["latency"][k] for k in ("p50", "p95", "p99"))
    figure(
        f"{name}.p50_ms",
        f"{p50:.1f}",
        "ms",
        target(f"<= {TARGET_P50_MS:.0f}"),
        not ceiling and p50 > TARGET_P50_MS,
    )
    figure(f"{name}.p95_ms", f"{p95:.1f}", "ms", target("—"))
    figure(
        f"{name}.p99_ms",
        f"{p99:.1f}",
        "ms",
        target(f"<= {TARGET_P99_MS:.0f}"),
        not ceiling and p99 > TARGET_P99_MS,
    )
    lost = steady["lost"] + stalled["lost"] + steady["seq_missing"] + stalled["seq_missing"]
    figure(f"{name}.lost", str(lost), "frames", target("0"), not ceiling and lost > 0)
    before, after = steady["others_p99"], stalled["others_p99"]
    increase = after / before - 1 if before else float("nan")
    figure(
        f"{name}.stalled_p99_ms",
        f"{after:.1f}",
        "ms",
        target(f"— (the other 4 people; {before:.1f} ms steady)"),
    )
    figure(
        f"{name}.stalled_p99_increase",
        f"{increase * 100:+.0f}",
        "%",
        target(f"<= +{TARGET_STALL_INCREASE * 100:.0f}"),
        not ceiling and increase > TARGET_STALL_INCREASE,
    )
    cores = " + ".join(f"{c:.2f}" for c in steady["server_cores"])
    rss = [
        " + ".join(f"{mb:.0f}" for mb in result[key])
        for key in ("server_rss_mb_before_stall", "server_rss_mb_after_stall")
    ]
    print(
        f"load: {run_name}: steady window: {steady['sent']} states published, "
        f"{steady['delivered']} delivered, {steady['lost']} lost, "
        f"max {steady['latency']['max']:.0f} ms; session events: {steady['seq_missing']} missing, "
        f"{steady['reordered']} out of order, "
        f"{steady['duplicates']} repeated; stalled window: {stalled['delivered']} delivered to the "
        f"other 4, {stalled['lost']} lost; stalled sockets still open at the end "
        f"{result['stalled_open']}/{SESSIONS}; server memory {rss[0]} MB before the stall, "
        f"{rss[1]} MB after; server {cores} cores, load generator "
        f"{steady['client_cores']:.2f} cores (steady); connecting took {result['connect_s']:.1f} s"
    )


def check_started(run_name: str) -> None:
    """The relay marked every session started on its first `running` state (the contract)."""
    from cockpit.models import CockpitSession, CockpitStatus

    waiting = CockpitSession.objects.exclude(status=CockpitStatus.LIVE).count()
    if waiting:
        raise BenchFailure(f"{run_name}: {waiting} sessions not live after running states")


def measure(bench: Bench, seeded: Seeded) -> None:
    redis = redis_url(REDIS_DB)
    os.environ.pop("REDIS_URL", None)  # the parent and the `memory` run use no Redis
    print(
        f"setup: {SESSIONS} cockpit sessions open now x 6 participants (the scanner + 5 people: "
        f"{', '.join(PEOPLE)}) x {HZ:.0f} Hz state frames; {len(seeded.sessions) * 6} sockets; "
        f"windows of {SECONDS:.0f} s (steady, then the lending observer of every session "
        f"stalled) after {WARMUP:.0f} s warm-up; full state every {FULL_EVERY_S:.0f} s "
        f"({full_state_bytes()} bytes), deltas otherwise ({delta_bytes()} bytes); the load "
        f"generator is one asyncio process apart from the servers, on the same "
        f"{os.cpu_count()} CPUs; {machine()}"
    )
    daphne_runs = {"memory": (1, None), "redis": (2, redis)}
    if "redis" in RUNS and not redis:
        print("setup: no Redis (REDIS_URL unset, nothing at 127.0.0.1:6379): no redis run")
    results: dict[str, dict[str, Any]] = {}
    for run_name in RUNS:
        if run_name == "bare":
            results["bare"] = bare_run(seeded)
        elif run_name == "redis" and not redis:
            continue
        else:
            count, url = daphne_runs[run_name]
            results[run_name] = daphne_run(seeded, run_name, count, url)
        if failure := results[run_name].get("failure"):
            bench.failures.append(failure)  # the figures are printed; the other runs go on
    if "bare" in results:
        compare(results)


def daphne_run(seeded: Seeded, run_name: str, count: int, url: str | None) -> dict[str, Any]:
    with daphnes_running("cockpit", run_name, count, url) as servers:
        ports = [s.port for s in servers]
        result = run_load(run_name, plan(seeded, run_name, ports), servers)
    report(run_name, result)
    check_started(run_name)
    return result


def bare_run(seeded: Seeded) -> dict[str, Any]:
    bare = start_bare()
    try:
        print(f"setup: bare: bench/bare_relay.py, one process (pid {bare.process.pid}), websockets")
        result = run_load("bare", plan(seeded, "bare", [bare.port]), [bare])
    finally:
        bare.stop()
    report("bare", result, ceiling=True)
    return result


def cpu_per_frame_ms(steady: dict[str, Any]) -> float:
    return sum(steady["server_cores"]) * steady["seconds"] * 1000 / max(1, steady["delivered"])


def compare(results: dict[str, dict[str, Any]]) -> None:
    """Each Django run against the bare relay's ceiling, measured in the same run."""
    bare = results["bare"]["steady"]
    for run_name, result in results.items():
        if run_name == "bare":
            continue
        steady = result["steady"]
        p99 = steady["latency"]["p99"] / bare["latency"]["p99"]
        figure(f"cockpit.{run_name}.p99_vs_bare", f"{p99:.1f}", "x", "— (bare relay = 1)")
        cpu = cpu_per_frame_ms(steady)
        figure(
            f"cockpit.{run_name}.server_cpu_per_frame",
            f"{cpu:.3f}",
            "ms",
            f"— (bare {cpu_per_frame_ms(bare):.3f} ms, {cpu / cpu_per_frame_ms(bare):.1f}x)",
        )


# --- The state frames -----------------------------------------------------------------------

SEQUENCES = (
    ("Localiser", 25),
    ("T2 TSE ax", 200),
    ("FLAIR ax", 240),
    ("DWI ax", 120),
    ("SWI ax", 260),
    ("T1 3D post-contrast", 330),
)


def console_state(t: float) -> dict[str, Any]:
    """A realistic console state (the shape of cockpit/simulator.py's) `t` seconds into the
    protocol."""
    total = sum(d for _, d in SEQUENCES)
    t %= total
    sequences, current, start = [], 0, 0.0
    for i, (name, duration) in enumerate(SEQUENCES):
        if t >= start + duration:
            status, progress = "done", 1.0
        elif t >= start:
            status, progress, current = "running", round((t - start) / duration, 3), i
        else:
            status, progress = "pending", 0.0
        sequences.append(
            {
                "name": name,
                "duration_s": duration,
                "status": status,
                "progress": progress,
                "contrast": "post-contrast" in name,
            }
        )
        start += duration
    return {
        "protocol": "neuro",
        "protocol_name": "Neuro routine (brain, with contrast)",
        "status": "running",
        "current": current,
        "sequences": sequences,
        "table_mm": 1250.0,
        "table_range_mm": [0.0, 2000.0],
        "coil": "Head/Neck 20",
        "sar": {"level": round(1.1 + 0.4 * (t % 7) / 7, 2), "limit": 3.2},
        "alarms": [],
        "contrast": "none",
        "parameters": {
            "tr_ms": 2000.0,
            "te_ms": 90.0,
            "flip_angle_deg": 150.0,
            "slice_thickness_mm": 5.0,
            "slices": 24,
        },
        "limits": {
            "tr_ms": [300.0, 12000.0],
            "te_ms": [5.0, 300.0],
            "flip_angle_deg": [5.0, 180.0],
            "slice_thickness_mm": [0.8, 10.0],
            "slices": [1, 128],
        },
        "elapsed_s": round(t, 1),
        "remaining_s": round(total - t, 1),
    }


# What moves between two frames while a sequence runs (progress lives in `sequences`).
DELTA_KEYS = ("current", "sequences", "sar", "elapsed_s", "remaining_s")


def state_payload(t: float, full: bool) -> dict[str, Any]:
    state = console_state(t)
    if full:
        return {"full": True, "state": state, "sent_at": time.time()}
    return {"full": False, "changes": {k: state[k] for k in DELTA_KEYS}, "sent_at": time.time()}


def full_state_bytes() -> int:
    return len(json.dumps({"type": "state", "seq": 1, "payload": state_payload(100, True)}))


def delta_bytes() -> int:
    return len(json.dumps({"type": "state", "seq": 1, "payload": state_payload(100, False)}))


# --- The load generator (its own process) ---------------------------------------------------


@dataclass
class Person:
    session: int
    who: str
    stalls: bool
    spec: dict[str, Any]
    connection: Any = None
    last_seq: int | None = None
    # Session events seen (by seq). Two Daphne processes may deliver two events out of order
    # (each takes its seq from Redis, then publishes): that is a reorder, not a loss; a seq
    # never seen between the first and the last is.
    seen: set[int] = field(default_factory=set)
    reordered: int = 0
    duplicates: int = 0

    @property
    def seq_missing(self) -> int:
        return max(self.seen) - min(self.seen) + 1 - len(self.seen) if self.seen else 0

    latency_ms: dict[float, float] = field(default_factory=dict)  # sent_at -> latency


@dataclass
class Publisher:
    session: int
    spec: dict[str, Any]
    connection: Any = None
    sent: list[float] = field(default_factory=list)


@dataclass
class Load:
    plan: dict[str, Any]
    scanners: list[Publisher] = field(default_factory=list)
    people: list[Person] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    stall: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def problem(self, text: str) -> None:
        if len(self.problems) < 100:
            self.problems.append(text)


async def connect(spec: dict[str, Any]) -> Any:
    from websockets.asyncio.client import connect as ws_connect

    sock = None
    if spec.get("stalls"):
        # A small receive window, as a phone on a bad network has: once it stops reading, the
        # server's frames pile up on the server, not in this machine's loopback buffers.
        parts = urlsplit(spec["url"])
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, STALLED_RCVBUF)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (parts.hostname, parts.port))
    return await ws_connect(
        spec["url"],
        sock=sock,
        additional_headers=spec.get("headers"),
        origin=spec.get("origin"),
        compression=None,
        open_timeout=60,
        ping_interval=None,  # a stalled reader could not answer in time: no keep-alive here
        max_size=2**20,
        close_timeout=2,
    )


async def first_frame(connection: Any, who: str) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(await asyncio.wait_for(connection.recv(), 30))
    if frame.get("type") != "welcome":
        raise BenchFailure(f"{who}: first frame is not `welcome`: {str(frame)[:300]}")
    return frame


def note_event(load: Load, person: Person, frame: dict[str, Any], now: float) -> None:
    seq = frame.get("seq")
    kind = frame.get("type")
    payload = frame.get("payload") or {}
    if seq is None:
        if kind in {"welcome", "snapshot"} and isinstance(payload.get("seq"), int):
            person.last_seq = max(person.last_seq or 0, payload["seq"])
        elif kind == "error":
            load.problem(f"{person.who} (session {person.session}): error frame {payload}")
        return
    if seq in person.seen:
        person.duplicates += 1
    elif person.last_seq is not None and seq < person.last_seq:
        person.reordered += 1
    person.seen.add(seq)
    person.last_seq = seq if person.last_seq is None else max(person.last_seq, seq)
    if kind == "state":
        sent_at = payload.get("sent_at")
        if isinstance(sent_at, float):
            person.latency_ms[sent_at] = (now - sent_at) * 1000


async def read_person(load: Load, person: Person) -> None:
    from websockets.exceptions import ConnectionClosed

    try:
        while True:
            if person.stalls and load.stall.is_set():
                return  # stops reading; the socket stays open until the end
            try:
                raw = await asyncio.wait_for(person.connection.recv(), 0.5)
            except TimeoutError:
                continue
            note_event(load, person, json.loads(raw), time.time())
    except ConnectionClosed as closed:
        if not load.done.is_set():
            load.problem(f"{person.who} (session {person.session}): closed {closed}")


async def read_scanner(load: Load, scanner: Publisher) -> None:
    from websockets.exceptions import ConnectionClosed

    try:
        async for raw in scanner.connection:
            frame = json.loads(raw)
            if frame.get("type") == "error":
                load.problem(
                    f"scanner of session {scanner.session}: error frame {frame['payload']}"
                )
    except ConnectionClosed as closed:
        if not load.done.is_set():
            load.problem(f"scanner of session {scanner.session}: closed {closed}")


async def publish(load: Load, scanner: Publisher, start: float, end: float, offset: float) -> None:
    period = 1 / load.plan["hz"]
    full_every = max(1, round(FULL_EVERY_S / period))
    loop = asyncio.get_running_loop()
    at = loop.time() + (start - time.time()) + offset
    n = 0
    while time.time() < end:
        await asyncio.sleep(max(0.0, at - loop.time()))
        payload = state_payload(n * period, full=n % full_every == 0)
        await scanner.connection.send(json.dumps({"type": "state", "seq": n, "payload": payload}))
        scanner.sent.append(payload["sent_at"])
        n += 1
        at += period


def proc_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def window(
    load: Load,
    span: tuple[float, float],
    people: list[Person],
    cpu_from: tuple[list[float], float],
    cpu_to: tuple[list[float], float],
) -> dict[str, Any]:
    """The figures of one window: the state frames published in `span` (wall clock) and what
    the `people` received of them; the servers' and this process's cores meanwhile."""
    start, end = span
    seconds = end - start
    sent_by = {s.session: [t for t in s.sent if start <= t < end] for s in load.scanners}
    latencies: list[float] = []
    lost = delivered = 0
    for person in people:
        expected = sent_by[person.session]
        got = [person.latency_ms[t] for t in expected if t in person.latency_ms]
        delivered += len(got)
        lost += len(expected) - len(got)
        latencies.extend(got)
    return {
        "seconds": seconds,
        "sent": sum(len(v) for v in sent_by.values()),
        "delivered": delivered,
        "lost": lost,
        "latency": latency_figures(latencies),
        "server_cores": [
            (after - before) / seconds for before, after in zip(cpu_from[0], cpu_to[0], strict=True)
        ],
        "client_cores": (cpu_to[1] - cpu_from[1]) / seconds,
    }


def latency_figures(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "max": float("nan")}
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values),
    }


async def generate(load_plan: dict[str, Any]) -> dict[str, Any]:
    load = Load(load_plan)
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    started = time.perf_counter()

    async def open_scanner(i: int, spec: dict[str, Any]) -> None:
        async with gate:
            scanner = Publisher(i, spec)
            scanner.connection = await connect(spec)
            await first_frame(scanner.connection, f"scanner of session {i}")
            load.scanners.append(scanner)

    async def open_person(i: int, spec: dict[str, Any]) -> None:
        async with gate:
            person = Person(i, spec["who"], spec["stalls"], spec)
            person.connection = await connect(spec)
            note_event(load, person, await first_frame(person.connection, person.who), time.time())
            load.people.append(person)

    sessions = load_plan["sessions"]
    await asyncio.gather(*(open_scanner(s["id"], s["scanner"]) for s in sessions))
    progress(f"{len(load.scanners)} scanners connected")
    await asyncio.gather(*(open_person(s["id"], p) for s in sessions for p in s["people"]))
    connect_s = time.perf_counter() - started
    progress(f"{len(load.people)} people connected in {connect_s:.1f} s")
    readers = [asyncio.create_task(read_person(load, p)) for p in load.people]
    readers += [asyncio.create_task(read_scanner(load, s)) for s in load.scanners]

    seconds, warmup = load_plan["seconds"], load_plan["warmup"]
    t0 = time.time() + 0.2
    steady_from = t0 + warmup
    stall_from = steady_from + seconds
    end = stall_from + seconds
    period = 1 / load_plan["hz"]
    publishers = [
        asyncio.create_task(publish(load, s, t0, end, period * k / len(load.scanners)))
        for k, s in enumerate(load.scanners)
    ]
    pids = load_plan["server_pids"]
    await asyncio.sleep(max(0.0, steady_from - time.time()))
    steady_cpu = ([server_cpu_seconds(pid) for pid in pids], time.process_time())
    await asyncio.sleep(max(0.0, stall_from - time.time()))
    stall_cpu = ([server_cpu_seconds(pid) for pid in pids], time.process_time())
    rss_before = [proc_rss_mb(pid) for pid in pids]
    load.stall.set()
    progress("steady window over; stalled window")
    await asyncio.gather(*publishers)
    progress("publishers done; draining")
    end_cpu = ([server_cpu_seconds(pid) for pid in pids], time.process_time())
    rss_after = [proc_rss_mb(pid) for pid in pids]

    # Drain: every reading person has the last state of its session, or DRAIN_SECONDS passed.
    others = [p for p in load.people if not p.stalls]
    last_sent = {s.session: s.sent[-1] for s in load.scanners if s.sent}
    deadline = time.time() + DRAIN_SECONDS
    while time.time() < deadline and any(
        last_sent.get(p.session) not in p.latency_ms for p in others
    ):
        await asyncio.sleep(0.05)

    steady = window(load, (steady_from, stall_from), load.people, steady_cpu, stall_cpu)
    stalled = window(load, (stall_from, end), others, stall_cpu, end_cpu)
    # The steady window again, for the same 4 people per session as in the stalled one.
    steady["others_p99"] = window(load, (steady_from, stall_from), others, steady_cpu, stall_cpu)[
        "latency"
    ]["p99"]
    stalled["others_p99"] = stalled["latency"]["p99"]
    # Seq continuity is checked over the whole run, for everyone up to the stall: counted once.
    steady["reordered"] = sum(p.reordered for p in load.people)
    steady["seq_missing"] = sum(p.seq_missing for p in load.people)
    steady["duplicates"] = sum(p.duplicates for p in load.people)
    stalled["reordered"] = stalled["seq_missing"] = stalled["duplicates"] = 0
    stalled_open = sum(1 for p in load.people if p.stalls and p.connection.state.name == "OPEN")
    load.done.set()
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    closing = asyncio.gather(
        *(c.connection.close() for c in [*load.people, *load.scanners]), return_exceptions=True
    )
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(closing, 20)
    return {
        "connect_s": connect_s,
        "steady": steady,
        "stalled": stalled,
        "stalled_open": stalled_open,
        "server_rss_mb_before_stall": rss_before,
        "server_rss_mb_after_stall": rss_after,
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
    Path(result_path).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--load"]:
        sys.exit(load_main(sys.argv[2], sys.argv[3]))
    url = redis_url(REDIS_DB)
    try:
        status = run("cockpit", "wescan_bench_cockpit", seed, measure)
    finally:
        flush_redis(url)
    sys.exit(status)
