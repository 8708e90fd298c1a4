"""How fast and how completely does the cockpit relay carry console state from 50 scanners to the
people in their cockpits, on one Daphne process (in-memory channel layer) and on two (Redis)
behind a real load balancer, how far is that from a bare websocket relay on the same load, and
how many live sessions do the two Daphnes carry before the latency target breaks?

Set-up, made fresh on every run:
- a throwaway database: SQLite at bench/.data/cockpit.sqlite3, or, when DATABASE_URL names a
  PostgreSQL server, a separate database `wescan_bench_cockpit` (BENCH_DB_NAME) on it, dropped at
  the end; migrated with wescan.settings.local (BENCH_SETTINGS overrides), DEBUG off;
- hospitals of 10 cockpit-ready scanners each (a device token each), each hospital with a
  manager, a local staff member and a senior technologist; one technologist per scanner, lent by
  the next hospital, confirmed on it for a 2-hour session starting in 5 minutes: that many
  cockpit sessions open now (`cockpit_open`), the operator's join approved by local staff
  (`cockpit_approve_join`), the hospital's senior added as assistant. 50 sessions (5 hospitals)
  for the three runs; the ramp's ceiling (BENCH_RAMP_TO, default 300: 30 hospitals) is seeded
  when the ramp runs;
- 6 participants per session: the scanner (a lightweight publisher of this file, with the
  scanner's device token) and 5 people logged in through Django sessions (SessionStore, the
  `sessionid` cookie): operator, local, assistant, observer (manager of the scanning hospital),
  observer (manager of the lending hospital).

Four runs of the same load, each on fresh servers:
- `memory`: one Daphne process, in-memory channel layer (the embedded default); clients connect
  to it directly;
- `redis`: two Daphne processes on Redis database 13 (BENCH_REDIS_DB, emptied before and after)
  of REDIS_URL's server, or of 127.0.0.1:6379 when REDIS_URL is unset and Redis answers there
  (skipped, and said so, when there is none), behind HAProxy (the distribution's, configured as
  production runs it: wescan.cluster.haproxy_config, `balance leastconn`, health checks on
  /healthz; written to bench/.data/cockpit-redis-haproxy.cfg; on the first free port from 8300,
  BENCH_BALANCER_PORT): every client connects to the balancer, which spreads
  the sockets over the two processes, so a session's scanner and people sit on either: about
  half the frames cross processes through Redis;
- `floor`: the redis run's pieces (two Daphnes behind the same HAProxy, the same Redis) serving
  bench/floor_relay.py, which does the bare relay's work through them and nothing else (one Redis
  round trip numbers and publishes each frame; each process's pub/sub connection hands it to its
  people): what the prescribed architecture costs before any of the relay's own work (a 50-session
  steady window; no stall, no ramp);
- `bare`: bench/bare_relay.py, the `websockets` library and no Django (one process, one room per
  session, parse + number + re-serialise + broadcast): the ceiling.

The load generator is this file with `--load`: asyncio processes apart from the servers, sharing
the machine's cores with the servers, Redis and HAProxy. One process carries up to 50 sessions
(BENCH_LOAD_SESSIONS_PER_PROCESS): a single process saturates a core before two Daphnes do at
the ramp's sizes, and would then measure itself; each process's cores are printed, and a process
above 0.9 of a core is said to be saturated. The processes connect everyone, then start together
on one wall-clock time given by this process, which samples the CPU of every piece at the edges
of each window. Each scanner publishes a `state` frame 10 times a second (BENCH_HZ), staggered
over the 100 ms: a full console state (~1 KB) every 2 s, a delta of the keys that moved
(progress, times, SAR) otherwise, `sent_at` = the publisher's wall clock. People echo the relay's
link `probe` at once, as static/js/cockpit.js does. After a warm-up (BENCH_WARMUP_SECONDS,
default: until every session's history of events is full, 65 s at 10 Hz; the first `running`
state marks each session started) it measures two windows of
BENCH_SECONDS (default 60) each:
1. steady: everyone reads;
2. stalled: the lending hospital's observer of every session stops reading its socket, and so
   stops echoing probes (TCP fills, then the server's write buffer); the other 4 people go on.

Then the ramp (`redis` only, on the same servers; BENCH_RAMP=0 skips it): a fresh load of
BENCH_RAMP_FROM sessions (50), then BENCH_RAMP_STEP (25) more each step up to BENCH_RAMP_TO
(300), each a steady window of BENCH_RAMP_SECONDS (15) after a 3 s warm-up, until the people's p99
passes 50 ms or a frame is lost (or the servers answer wrongly). `max_sessions` is the last step
that held.

Figures, per run (`cockpit.<run>.<figure>`):
- delivered_per_s: state frames received by the people per second (steady window);
- p50/p95/p99_ms: scanner-to-person latency, receive time minus `sent_at` (one machine, one
  clock), over every state frame of the steady window (targets p50 <= 15, p99 <= 50);
- lost: state frames a scanner sent in a window that a reading person had not received 10 s
  after the last one was sent (dropped, or hopelessly late), plus the seqs missing from the
  session events each person saw (target 0);
- out_of_order: session events whose seq is below one the same person already had (seq going
  back at a client), summed over everyone (target 0);
- stalled_p99_ms / stalled_p99_increase: the other 4 people's p99 in the stalled window against
  theirs in the steady window (target <= +10 %);
- p99_vs_bare: the steady p99 against the bare relay's in the same invocation (target <= 3 for
  `redis`);
- server_cpu_per_frame: the server side's CPU per state frame delivered to a person, steady
  window. For `redis` the server side is the two Daphnes, Redis (INFO cpu: it is the relay's bus)
  and HAProxy; the figure is printed with and without the balancer, and the target line
  (cpu_per_frame_vs_bare, target <= 3) holds the one with everything on the server side,
  HAProxy included: a deployment pays for it, the bare relay needs none;
- cpu_per_frame_vs_floor, p99_vs_floor (`redis`): the same against the floor run: what the
  relay's own work (authentication, schema, history, snapshot, STOP fence, link probes) costs
  above the architecture it runs on;
- max_sessions (`redis`): the ramp's last step that held (target >= 150 on a 2-core machine);
- server cores per piece, load-generator cores per process, the servers' memory growth
  during the stall, and the other 4 people's p99 per 10 s of each window (SLICE_S): at a p99 of
  a few milliseconds, the stall's +10 % is a fraction of a millisecond, and the slices show
  how far one window's p99 moves on its own.
A wrong answer (an `error` frame, a refused socket, a closed connection) fails the run; a missed
target prints MISSED.
"""

import asyncio
import contextlib
import json
import math
import os
import select
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from common import (
    DATA_DIR,
    ROOT,
    Bench,
    BenchFailure,
    Server,
    balanced_daphnes,
    daphnes_running,
    figure,
    flush_redis,
    machine,
    percentile,
    redis_cpu_seconds,
    redis_url,
    rss_mb,
    run,
    second_factor_enrol,
    server_cpu_seconds,
    session_cookie,
    tail,
)

SCANNERS_PER_HOSPITAL = 10
SESSIONS = 50  # every run
ZONE = "Europe/Brussels"
HZ = float(os.environ.get("BENCH_HZ", "10"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "60"))
# The warm-up before the steady and stalled windows (BENCH_WARMUP_SECONDS): by default until
# every session's history is full (`warmup_s`), so that both windows run with the publish script
# trimming it. After 3 s, the history filled up at the end of the steady window and the stalled
# window alone paid for the trimming: the stalled p99 came out +12 % to +58 % in the last stop's
# runs, -14 % in a run with the warm-up past it (the same code). The ramp's steps warm up for
# RAMP_WARMUP_S.
WARMUP = os.environ.get("BENCH_WARMUP_SECONDS")
RAMP_WARMUP_S = 3.0
FULL_EVERY_S = 2.0
SLICE_S = 10.0  # the windows' p99 is also printed per slice of this many seconds
DRAIN_SECONDS = 10.0
REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "13"))
# Which runs (BENCH_RUNS, comma-separated): all three by default.
RUNS = [r for r in os.environ.get("BENCH_RUNS", "memory,redis,floor,bare").split(",") if r]
# The floor run's application (bench/floor_relay.py), served by the Daphnes from the project's root.
FLOOR_APPLICATION = "bench.floor_relay:application"
RAMP = os.environ.get("BENCH_RAMP", "1") != "0" and "redis" in RUNS
RAMP_FROM = int(os.environ.get("BENCH_RAMP_FROM", "50"))
RAMP_STEP = int(os.environ.get("BENCH_RAMP_STEP", "25"))
RAMP_TO = int(os.environ.get("BENCH_RAMP_TO", "300"))
RAMP_SECONDS = float(os.environ.get("BENCH_RAMP_SECONDS", "15"))
SEEDED_SESSIONS = max(SESSIONS, RAMP_TO if RAMP else 0)
SESSIONS_PER_LOAD = int(os.environ.get("BENCH_LOAD_SESSIONS_PER_PROCESS", "50"))
CONNECT_CONCURRENCY = 10
# The person of each session who stops reading in the stalled window (index in PEOPLE).
PEOPLE = ("operator", "local", "assistant", "observer", "observer")
STALLED = 4
STALLED_RCVBUF = 4096

TARGET_P50_MS = 15.0
TARGET_P99_MS = 50.0
TARGET_STALL_INCREASE = 0.10
TARGET_VS_BARE = 3.0
TARGET_MAX_SESSIONS = 150
SATURATED_CORES = 0.9


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
    return seed_sessions(SEEDED_SESSIONS)


def seed_sessions(count: int) -> Seeded:
    """`count` sessions: people, hospitals and scanners in bulk; the bookings as
    `booking_accept` leaves them (confirmed, posting filled); the cockpits through the cockpit
    services."""
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

    hospital_count = math.ceil(count / SCANNERS_PER_HOSPITAL)
    now = timezone.now()
    starts_at = (now + timedelta(minutes=5)).replace(microsecond=0)
    ends_at = starts_at + timedelta(hours=2)
    unusable = make_password(None)
    neuro = ExamFamily.objects.get(code="neuro")

    def users(kind: str, n: int, **extra: Any) -> list[User]:
        return User.objects.bulk_create(
            User(
                email=f"{kind}{i:02d}@cockpit.bench.example",
                first_name=kind.capitalize(),
                last_name=f"{i:02d}",
                password=unusable,
                **extra,
            )
            for i in range(n)
        )

    with transaction.atomic():
        hospitals = Hospital.objects.bulk_create(
            Hospital(name=f"Bench Cockpit Hospital {i}", city="Brussels", country="BE")
            for i in range(hospital_count)
        )
        managers = users("manager", hospital_count)
        locals_ = users("local", hospital_count)
        seniors = users("senior", hospital_count)
        technologists = users("tech", count)
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
                        user=u,
                        hospital=hospitals[(i + 1) % hospital_count],
                        role=Role.TECHNOLOGIST,
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
                site=sites[i // SCANNERS_PER_HOSPITAL],
                name=f"MR {i % SCANNERS_PER_HOSPITAL}",
                vendor="siemens",
                model_name="Bench",
                field_strength_tesla="1.50",
                cockpit_ready=True,
            )
            for i in range(count)
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
                lending_hospital=hospitals[(i + 1) % hospital_count],
                confirmed_at=now,
            )
            for i, (posting, technologist) in enumerate(zip(postings, technologists, strict=True))
        )

    second_factor_enrol([*managers, *locals_, *seniors, *technologists])
    sessions = []
    for i, (booking, scanner) in enumerate(zip(bookings, scanners, strict=True)):
        h = i // SCANNERS_PER_HOSPITAL
        lender = (i + 1) % hospital_count
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
    DATA_DIR.mkdir(parents=True, exist_ok=True)
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


@dataclass
class Side:
    """The server side of one run: each process by name (its CPU and memory are sampled), and
    the Redis server, sampled through INFO (its CPU counts as the server side's)."""

    processes: dict[str, Server]
    redis: str | None = None
    balancer: str | None = None  # the name of the balancer among `processes`

    def check_alive(self) -> None:
        for server in self.processes.values():
            server.check_alive()

    def logs(self, lines: int = 30) -> str:
        return "\n".join(f"--- {s.name}\n{tail(s.log, lines)}" for s in self.processes.values())


def plan(
    sessions: list[SessionSeed],
    run_name: str,
    port: int,
    *,
    stall: bool = True,
    seconds: float = SECONDS,
) -> dict[str, Any]:
    """Who connects where, for the load generator: everyone to `port` (one Daphne, the
    balancer, or the bare relay)."""
    period = 1 / HZ
    origin = f"http://127.0.0.1:{port}"
    specs = []
    for k, session in enumerate(sessions):
        if run_name == "bare":
            scanner: dict[str, Any] = {
                "url": f"ws://127.0.0.1:{port}/cockpit/{session.cockpit_id}/scanner"
            }
        else:
            scanner = {
                "url": f"ws://127.0.0.1:{port}/ws/cockpit/scanner/",
                "headers": {"Authorization": f"Device {session.scanner_token}"},
                "origin": origin,
            }
        people = []
        for j, person in enumerate(session.people):
            stalls = stall and j == STALLED
            if run_name == "bare":
                url = (
                    f"ws://127.0.0.1:{port}/cockpit/{session.cockpit_id}/person?role={person.role}"
                )
                people.append({"url": url, "who": person.who, "stalls": stalls})
                continue
            people.append(
                {
                    "url": f"ws://127.0.0.1:{port}/ws/cockpit/{session.cockpit_id}/?role={person.role}",
                    "headers": {"Cookie": f"sessionid={person.session_key}"},
                    "origin": origin,
                    "who": person.who,
                    "stalls": stalls,
                }
            )
        specs.append(
            {
                "id": session.cockpit_id,
                "scanner": scanner,
                "people": people,
                "offset": period * k / len(sessions),
            }
        )
    warmup = warmup_s() if stall else RAMP_WARMUP_S
    return {"sessions": specs, "hz": HZ, "seconds": seconds, "warmup": warmup, "stall": stall}


def warmup_s() -> float:
    """BENCH_WARMUP_SECONDS, or the time a session's history takes to fill at BENCH_HZ, and
    5 s."""
    from cockpit.store import HISTORY_MAX

    return float(WARMUP) if WARMUP is not None else HISTORY_MAX / HZ + 5


def cpu_sample(
    side: Side, loads: list[subprocess.Popen[str]]
) -> tuple[dict[str, float], list[float]]:
    """CPU seconds so far: of each server-side piece, and of each load process."""
    server = {name: server_cpu_seconds(s.process.pid) for name, s in side.processes.items()}
    if side.redis:
        server["redis"] = redis_cpu_seconds(side.redis)
    return server, [server_cpu_seconds(p.pid) for p in loads]


def cores_between(
    before: tuple[dict[str, float], list[float]],
    after: tuple[dict[str, float], list[float]],
    seconds: float,
) -> tuple[dict[str, float], list[float]]:
    return (
        {name: (after[0][name] - value) / seconds for name, value in before[0].items()},
        [(b - a) / seconds for a, b in zip(before[1], after[1], strict=True)],
    )


def sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


def run_load(run_name: str, load_plan: dict[str, Any], side: Side) -> dict[str, Any]:
    """The load generator's processes (SESSIONS_PER_LOAD sessions each), started together once
    all have connected; the CPU of every piece sampled here at the windows' edges. The merged
    result, or a BenchFailure."""
    sessions = load_plan["sessions"]
    count = max(1, math.ceil(len(sessions) / SESSIONS_PER_LOAD))
    seconds, stall = load_plan["seconds"], load_plan["stall"]
    with tempfile.TemporaryDirectory() as folder:
        results = [Path(folder) / f"result-{i}.json" for i in range(count)]
        loads: list[subprocess.Popen[str]] = []
        try:
            for i in range(count):
                plan_path = Path(folder) / f"plan-{i}.json"
                plan_path.write_text(json.dumps({**load_plan, "sessions": sessions[i::count]}))
                loads.append(
                    subprocess.Popen(
                        [sys.executable, __file__, "--load", str(plan_path), str(results[i])],
                        cwd=ROOT,
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        text=True,
                    )
                )
            connected_by = time.monotonic() + 180
            for load in loads:
                assert load.stdout is not None
                ready, _, _ = select.select([load.stdout], [], [], connected_by - time.monotonic())
                line = load.stdout.readline() if ready else ""
                if line.strip() != "connected":
                    load.wait(timeout=30)
                    problems = load_problems(results)
                    side.check_alive()
                    raise BenchFailure(
                        f"{run_name}: a load process did not connect everyone: "
                        + ("\n".join(problems[:5]) or "(no answer in 180 s)")
                        + f"\n{side.logs(8)}"
                    )
            t0 = time.time() + 0.5
            for load in loads:
                assert load.stdin is not None
                load.stdin.write(f"{t0}\n")
                load.stdin.flush()
            steady_from = t0 + load_plan["warmup"]
            stall_from = steady_from + seconds
            end = stall_from + (seconds if stall else 0.0)
            sleep_until(steady_from)
            at_steady = cpu_sample(side, loads)
            sleep_until(stall_from)
            at_stall = cpu_sample(side, loads)
            rss_before = {name: rss_mb(s.process.pid) for name, s in side.processes.items()}
            at_end, rss_after = at_stall, rss_before
            if stall:
                sleep_until(end)
                at_end = cpu_sample(side, loads)
                rss_after = {name: rss_mb(s.process.pid) for name, s in side.processes.items()}
            # Each process writes its result after the drain, then closes its sockets.
            deadline = time.time() + DRAIN_SECONDS + 90
            while not all(
                path.exists() or load.poll() is not None
                for load, path in zip(loads, results, strict=True)
            ):
                if time.time() > deadline:
                    raise BenchFailure(f"{run_name}: a load process did not finish")
                time.sleep(0.2)
            for load in loads:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    load.wait(timeout=30)
        finally:
            for load in loads:
                if load.poll() is None:
                    load.kill()
                    load.wait()
        side.check_alive()
        if not all(path.exists() for path in results):
            raise BenchFailure(f"{run_name}: a load process failed\n{side.logs()}")
        parts = [json.loads(path.read_text()) for path in results]
    if any("steady" not in part for part in parts):  # nothing measured
        problems = [problem for part in parts for problem in part["problems"]]
        raise BenchFailure(f"{run_name}: " + "\n".join(problems[:5]) + f"\n{side.logs(8)}")
    result = merge(parts)
    steady_cores = cores_between(at_steady, at_stall, seconds)
    result["steady"].update(seconds=seconds, cores=steady_cores[0], load_cores=steady_cores[1])
    if stall:
        stalled_cores = cores_between(at_stall, at_end, seconds)
        result["stalled"].update(
            seconds=seconds, cores=stalled_cores[0], load_cores=stalled_cores[1]
        )
    result["rss_before_stall"], result["rss_after_stall"] = rss_before, rss_after
    if result["problems"]:
        problem = (
            f"{run_name}: {len(result['problems'])} wrong answers (error frames, sockets the "
            "server closed), e.g.\n" + "\n".join(result["problems"][:5]) + f"\n{side.logs(8)}"
        )
        result["failure"] = problem
    return result


def load_problems(paths: list[Path]) -> list[str]:
    problems: list[str] = []
    for path in paths:
        with contextlib.suppress(OSError, ValueError):
            problems += json.loads(path.read_text())["problems"]
    return problems


def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The load processes' parts as one: counts summed, latencies pooled."""

    def window(key: str) -> dict[str, Any]:
        pieces = [p[key] for p in parts if key in p]
        if not pieces:
            return {}
        latencies = [v for piece in pieces for v in piece["latencies"]]
        merged = {k: sum(piece[k] for piece in pieces) for k in ("sent", "delivered", "lost")}
        slices = [
            [v for piece in pieces for v in piece["slices"][i]]
            for i in range(min(len(piece["slices"]) for piece in pieces))
        ]
        slice_p99 = [latency_figures(values)["p99"] for values in slices]
        return {**merged, "latency": latency_figures(latencies), "slice_p99": slice_p99}

    steady, others, stalled = window("steady"), window("steady_others"), window("stalled")
    steady["others_p99"] = others["latency"]["p99"] if others else float("nan")
    if stalled:
        stalled["others_p99"] = stalled["latency"]["p99"]
    return {
        "connect_s": max(p["connect_s"] for p in parts),
        "steady": steady,
        "steady_others": others,
        "stalled": stalled,
        **{
            k: sum(p[k] for p in parts)
            for k in ("out_of_order", "seq_missing", "duplicates", "stalled_open", "echoes")
        },
        "kinds": sum((Counter(p["kinds"]) for p in parts), Counter()),
        "problems": [problem for p in parts for problem in p["problems"]],
    }


def lost_total(result: dict[str, Any]) -> int:
    return int(result["steady"]["lost"] + result["stalled"].get("lost", 0) + result["seq_missing"])


def server_cores(window: dict[str, Any], *, balancer: bool = True) -> float:
    return sum(
        c for name, c in window["cores"].items() if balancer or not name.startswith("haproxy")
    )


def cpu_per_frame_ms(window: dict[str, Any], *, balancer: bool = True) -> float:
    cores = server_cores(window, balancer=balancer)
    return cores * window["seconds"] * 1000 / max(1, window["delivered"])


def cores_text(window: dict[str, Any]) -> str:
    pieces = ", ".join(f"{name} {c:.2f}" for name, c in window["cores"].items())
    loads = " + ".join(f"{c:.2f}" for c in window["load_cores"])
    saturated = sum(1 for c in window["load_cores"] if c > SATURATED_CORES)
    note = f", {saturated} saturated" if saturated else ""
    return (
        f"server {server_cores(window):.2f} cores ({pieces}); load generator {loads} cores "
        f"({len(window['load_cores'])} process{'es' if len(window['load_cores']) > 1 else ''}"
        f"{note})"
    )


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
    lost = lost_total(result)
    figure(f"{name}.lost", str(lost), "", target("0"), not ceiling and lost > 0)
    reordered = result["out_of_order"]
    figure(f"{name}.out_of_order", str(reordered), "", target("0"), not ceiling and reordered > 0)
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
        not ceiling and not increase <= TARGET_STALL_INCREASE,
    )
    rss = [
        " + ".join(f"{mb:.0f}" for mb in result[key].values())
        for key in ("rss_before_stall", "rss_after_stall")
    ]
    print(
        f"load: {run_name}: steady window: {steady['sent']} states published, "
        f"{steady['delivered']} delivered, {steady['lost']} lost, "
        f"max {steady['latency']['max']:.0f} ms; session events: {result['seq_missing']} missing, "
        f"{reordered} out of order, {result['duplicates']} repeated; {result['echoes']} probes "
        f"echoed; stalled window: {stalled['delivered']} delivered to the other 4, "
        f"{stalled['lost']} lost; stalled sockets still open at the end "
        f"{result['stalled_open']}/{SESSIONS}; server memory {rss[0]} MB before the stall, "
        f"{rss[1]} MB after; connecting took {result['connect_s']:.1f} s"
    )
    kinds = ", ".join(f"{kind} {n}" for kind, n in result["kinds"].most_common())
    print(f"load: {run_name}: session events received over the run, by type: {kinds}")
    print(f"load: {run_name}: steady window: {cores_text(steady)}")
    print(f"load: {run_name}: stalled window: {cores_text(stalled)}")
    for name, part in (("steady", result["steady_others"]), ("stalled", stalled)):
        slices = ", ".join(f"{p99:.1f}" for p99 in part.get("slice_p99", []))
        print(
            f"load: {run_name}: {name} window, the other 4 people's p99 by {SLICE_S:g} s: {slices}"
        )


def check_started(run_name: str) -> None:
    """The relay marked every session started on its first `running` state (the contract)."""
    from cockpit.models import CockpitSession, CockpitStatus

    ids = list(CockpitSession.objects.order_by("pk").values_list("pk", flat=True)[:SESSIONS])
    waiting = CockpitSession.objects.filter(pk__in=ids).exclude(status=CockpitStatus.LIVE).count()
    if waiting:
        raise BenchFailure(f"{run_name}: {waiting} sessions not live after running states")


def measure(bench: Bench, seeded: Seeded) -> None:
    redis = redis_url(REDIS_DB)
    os.environ.pop("REDIS_URL", None)  # the parent and the `memory` run use no Redis
    print(
        f"setup: {SESSIONS} cockpit sessions open now x 6 participants (the scanner + 5 people: "
        f"{', '.join(PEOPLE)}) x {HZ:.0f} Hz state frames; {SESSIONS * 6} sockets; "
        f"windows of {SECONDS:.0f} s (steady, then the lending observer of every session "
        f"stalled) after {warmup_s():.0f} s warm-up; full state every {FULL_EVERY_S:.0f} s "
        f"({full_state_bytes()} bytes), deltas otherwise ({delta_bytes()} bytes); the load "
        f"generator: asyncio processes of up to {SESSIONS_PER_LOAD} sessions each, apart from "
        f"the servers, on the same {os.cpu_count()} CPUs; {machine()}"
    )
    if RAMP:
        print(
            f"setup: ramp ({len(seeded.sessions)} sessions seeded): from {RAMP_FROM} sessions, "
            f"{RAMP_STEP} more a step up to {RAMP_TO}, {RAMP_SECONDS:.0f} s windows, on the "
            f"redis run's servers"
        )
    if ("redis" in RUNS or "floor" in RUNS) and not redis:
        print("setup: no Redis (REDIS_URL unset, nothing at 127.0.0.1:6379): no redis or floor run")
    results: dict[str, dict[str, Any]] = {}
    ramp_steps: list[tuple[int, dict[str, Any]]] = []
    for run_name in RUNS:
        if run_name == "bare":
            results["bare"] = bare_run(seeded)
        elif run_name == "memory":
            results["memory"] = memory_run(seeded)
        elif run_name == "redis" and redis:
            results["redis"], ramp_steps = redis_run(seeded, redis)
        elif run_name == "floor" and redis:
            results["floor"] = floor_run(seeded, redis)
        else:
            continue
        if failure := results[run_name].get("failure"):
            bench.failures.append(failure)  # the figures are printed; the other runs go on
    if "bare" in results:
        compare(results)
    if RAMP and "redis" in results and not results["redis"].get("failure"):
        ramp_report(ramp_steps)  # a first step that failed holds nothing: 0


def memory_run(seeded: Seeded) -> dict[str, Any]:
    with daphnes_running("cockpit", "memory", 1, None) as servers:
        side = Side({"daphne": servers[0]})
        result = run_load(
            "memory", plan(seeded.sessions[:SESSIONS], "memory", servers[0].port), side
        )
    report("memory", result)
    check_started("memory")
    return result


def redis_run(seeded: Seeded, url: str) -> tuple[dict[str, Any], list[tuple[int, dict[str, Any]]]]:
    """The two Daphnes behind HAProxy: the 50-session run, then the ramp on the same servers."""
    with balanced_daphnes("cockpit", "redis", 2, url) as (servers, balancer):
        side = Side(
            {**{f"daphne {i}": s for i, s in enumerate(servers)}, "haproxy": balancer},
            redis=url,
            balancer="haproxy",
        )
        result = run_load("redis", plan(seeded.sessions[:SESSIONS], "redis", balancer.port), side)
        report("redis", result)
        check_started("redis")
        steps = ramp(seeded, balancer.port, side) if RAMP and not result.get("failure") else []
    return result, steps


def floor_run(seeded: Seeded, url: str) -> dict[str, Any]:
    """The redis run's pieces doing the bare relay's work and nothing else (a steady window)."""
    with balanced_daphnes("cockpit", "floor", 2, url, FLOOR_APPLICATION) as (servers, balancer):
        side = Side(
            {**{f"daphne {i}": s for i, s in enumerate(servers)}, "haproxy": balancer},
            redis=url,
            balancer="haproxy",
        )
        load_plan = plan(seeded.sessions[:SESSIONS], "bare", balancer.port, stall=False)
        result = run_load("floor", load_plan, side)
    steady = result["steady"]
    figure(
        "cockpit.floor.delivered_per_s",
        f"{steady['delivered'] / steady['seconds']:.0f}",
        "frames/s",
        "— (floor)",
    )
    figure("cockpit.floor.p99_ms", f"{steady['latency']['p99']:.1f}", "ms", "— (floor)")
    lost, reordered = lost_total(result), result["out_of_order"]
    figure("cockpit.floor.lost", str(lost), "", "0", lost > 0)
    figure("cockpit.floor.out_of_order", str(reordered), "", "0", reordered > 0)
    print(f"load: floor: steady window: {cores_text(steady)}")
    return result


def ramp(seeded: Seeded, port: int, side: Side) -> list[tuple[int, dict[str, Any]]]:
    """More sessions each step until p99 passes the target or a frame is lost."""
    steps: list[tuple[int, dict[str, Any]]] = []
    for count in range(RAMP_FROM, min(RAMP_TO, len(seeded.sessions)) + 1, RAMP_STEP):
        load_plan = plan(seeded.sessions[:count], "redis", port, stall=False, seconds=RAMP_SECONDS)
        try:
            result = run_load(f"redis ramp {count}", load_plan, side)
        except BenchFailure as exc:
            print(f"load: redis ramp: {count} sessions: the load failed: {str(exc)[:300]}")
            break
        steady = result["steady"]
        lost = lost_total(result)
        print(
            f"load: redis ramp: {count} sessions: p99 {steady['latency']['p99']:.1f} ms "
            f"(p50 {steady['latency']['p50']:.1f}), {steady['delivered'] / steady['seconds']:.0f} "
            f"frames/s delivered, {lost} lost, {result['out_of_order']} out of order, "
            f"{result['kinds'].get('link', 0)} link events; "
            f"{cpu_per_frame_ms(steady):.3f} ms server CPU a frame; {cores_text(steady)}"
            + (f"; wrong answers: {result['problems'][0][:200]}" if result["problems"] else "")
        )
        steps.append((count, result))
        if steady["latency"]["p99"] > TARGET_P99_MS or lost or result["problems"]:
            break
    return steps


def ramp_report(steps: list[tuple[int, dict[str, Any]]]) -> None:
    held = [
        count
        for count, result in steps
        if result["steady"]["latency"]["p99"] <= TARGET_P99_MS
        and not lost_total(result)
        and not result["problems"]
    ]
    best = max(held, default=0)
    more = " (the ramp's ceiling: it held at every step)" if len(held) == len(steps) else ""
    figure(
        "cockpit.redis.max_sessions",
        str(best),
        "",
        f">= {TARGET_MAX_SESSIONS} on this {os.cpu_count()}-core machine{more}",
        best < TARGET_MAX_SESSIONS,
    )


def bare_run(seeded: Seeded) -> dict[str, Any]:
    bare = start_bare()
    try:
        print(f"setup: bare: bench/bare_relay.py, one process (pid {bare.process.pid}), websockets")
        side = Side({"bare relay": bare})
        result = run_load("bare", plan(seeded.sessions[:SESSIONS], "bare", bare.port), side)
    finally:
        bare.stop()
    report("bare", result, ceiling=True)
    return result


def compare(results: dict[str, dict[str, Any]]) -> None:
    """Each other run against the bare relay's ceiling, measured in the same run; the redis run
    against the floor too."""
    bare = results["bare"]["steady"]
    bare_cpu = cpu_per_frame_ms(bare)
    for run_name, result in results.items():
        if run_name == "bare":
            continue
        steady = result["steady"]
        p99 = steady["latency"]["p99"] / bare["latency"]["p99"]
        cpu = cpu_per_frame_ms(steady)
        held = run_name == "redis"  # the issue holds the production run to the bare relay
        other = "— (bare relay = 1)"
        if run_name == "floor":
            other = "— (the redis run's pieces alone: what the architecture costs)"
        figure(
            f"cockpit.{run_name}.p99_vs_bare",
            f"{p99:.2f}",  # two places: 3.04 printed as "3.0" read as met beside its MISSED
            "x",
            f"<= {TARGET_VS_BARE:.0f}" if held else other,
            held and not p99 <= TARGET_VS_BARE,
        )
        if "haproxy" in steady["cores"]:
            without = cpu_per_frame_ms(steady, balancer=False)
            figure(
                f"cockpit.{run_name}.server_cpu_per_frame_without_balancer",
                f"{without:.3f}",
                "ms",
                f"— (daphnes + redis; bare {bare_cpu:.3f} ms, {without / bare_cpu:.1f}x)",
            )
        figure(
            f"cockpit.{run_name}.server_cpu_per_frame",
            f"{cpu:.3f}",
            "ms",
            f"— ({' + '.join(steady['cores'])}; bare {bare_cpu:.3f} ms)",
        )
        figure(
            f"cockpit.{run_name}.cpu_per_frame_vs_bare",
            f"{cpu / bare_cpu:.2f}",
            "x",
            f"<= {TARGET_VS_BARE:.0f}" if held else other,
            held and not cpu / bare_cpu <= TARGET_VS_BARE,
        )
    if "redis" in results and "floor" in results:
        redis, floor = results["redis"]["steady"], results["floor"]["steady"]
        figure(
            "cockpit.redis.p99_vs_floor",
            f"{redis['latency']['p99'] / floor['latency']['p99']:.2f}",
            "x",
            "— (the relay's own work: floor = 1)",
        )
        figure(
            "cockpit.redis.cpu_per_frame_vs_floor",
            f"{cpu_per_frame_ms(redis) / cpu_per_frame_ms(floor):.2f}",
            "x",
            "— (the relay's own work: floor = 1)",
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


# --- The load generator (its own processes) -------------------------------------------------


@dataclass
class Person:
    session: int
    who: str
    stalls: bool
    spec: dict[str, Any]
    connection: Any = None
    last_seq: int | None = None
    # Session events seen (by seq): a seq never seen between the first and the last is missing;
    # one below the highest already seen went back (out of order).
    seen: set[int] = field(default_factory=set)
    reordered: int = 0
    duplicates: int = 0
    echoes: int = 0
    kinds: Counter[str] = field(default_factory=Counter)  # session events received, by type

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
    stall_from: float = math.inf  # wall clock: when the stalled window begins
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
    person.kinds[str(kind)] += 1
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


def echo(frame: dict[str, Any]) -> str | None:
    """The answer to the relay's link probe, as static/js/cockpit.js sends it; None otherwise."""
    if frame.get("type") != "probe":
        return None
    probe = (frame.get("payload") or {}).get("id")
    return json.dumps({"type": "echo", "seq": None, "payload": {"probe": probe}})


async def read_person(load: Load, person: Person) -> None:
    """Read the person's socket until the end; one who stalls stops reading (and echoing) at the
    first state its scanner sent after the stall began, so that every frame of the steady window
    was read (a frame still on its way when the stall began is not counted lost), and leaves the
    socket open until the end. No timeout per frame: wait_for's task and timer on every frame
    made the load generator about a quarter more costly."""
    from websockets.exceptions import ConnectionClosed

    try:
        while True:
            raw = await person.connection.recv()
            frame = orjson.loads(raw)  # the same values as json's, for a quarter of its CPU
            if (answer := echo(frame)) is not None:
                await person.connection.send(answer)
                person.echoes += 1
                continue
            note_event(load, person, frame, time.time())
            if person.stalls and load.stall.is_set() and frame.get("type") == "state":
                sent_at = (frame.get("payload") or {}).get("sent_at")
                if isinstance(sent_at, float) and sent_at >= load.stall_from:
                    return
    except ConnectionClosed as closed:
        if not load.done.is_set():
            load.problem(f"{person.who} (session {person.session}): closed {closed}")


async def read_scanner(load: Load, scanner: Publisher) -> None:
    from websockets.exceptions import ConnectionClosed

    try:
        async for raw in scanner.connection:
            frame = orjson.loads(raw)
            if (answer := echo(frame)) is not None:
                await scanner.connection.send(answer)
            elif frame.get("type") == "error":
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


def window(load: Load, span: tuple[float, float], people: list[Person]) -> dict[str, Any]:
    """This process's part of one window: the state frames published in `span` (wall clock) and
    what the `people` received of them, with every latency (the parent pools them)."""
    start, end = span
    sent_by = {s.session: [t for t in s.sent if start <= t < end] for s in load.scanners}
    latencies: list[float] = []
    # The same latencies by SLICE_S of sending time: when in the window a p99 was made.
    slices: list[list[float]] = [[] for _ in range(max(1, math.ceil((end - start) / SLICE_S)))]
    lost = 0
    for person in people:
        for sent_at in sent_by[person.session]:
            if sent_at not in person.latency_ms:
                lost += 1
                continue
            latency = round(person.latency_ms[sent_at], 3)
            latencies.append(latency)
            slices[min(int((sent_at - start) // SLICE_S), len(slices) - 1)].append(latency)
    return {
        "sent": sum(len(v) for v in sent_by.values()),
        "delivered": len(latencies),
        "lost": lost,
        "latencies": latencies,
        "slices": slices,
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


async def generate(load_plan: dict[str, Any], result_path: Path) -> None:
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
    offsets = {s["id"]: s["offset"] for s in sessions}
    await asyncio.gather(*(open_scanner(s["id"], s["scanner"]) for s in sessions))
    progress(f"{len(load.scanners)} scanners connected")
    await asyncio.gather(*(open_person(s["id"], p) for s in sessions for p in s["people"]))
    connect_s = time.perf_counter() - started
    progress(f"{len(load.people)} people connected in {connect_s:.1f} s")
    readers = [asyncio.create_task(read_person(load, p)) for p in load.people]
    readers += [asyncio.create_task(read_scanner(load, s)) for s in load.scanners]
    # Everyone is in: the parent gives the start (the same for every load process).
    print("connected", flush=True)
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    t0 = float(line)

    seconds, warmup, stall = load_plan["seconds"], load_plan["warmup"], load_plan["stall"]
    steady_from = t0 + warmup
    stall_from = load.stall_from = steady_from + seconds
    end = stall_from + (seconds if stall else 0.0)
    publishers = [
        asyncio.create_task(publish(load, s, t0, end, offsets[s.session])) for s in load.scanners
    ]
    await asyncio.sleep(max(0.0, stall_from - time.time()))
    if stall:
        load.stall.set()
        progress("steady window over; stalled window")
    await asyncio.gather(*publishers)
    progress("publishers done; draining")

    # Drain: every reading person has the last state of its session, or DRAIN_SECONDS passed.
    others = [p for p in load.people if not p.stalls]
    last_sent = {s.session: s.sent[-1] for s in load.scanners if s.sent}
    deadline = time.time() + DRAIN_SECONDS
    while time.time() < deadline and any(
        last_sent.get(p.session) not in p.latency_ms for p in others
    ):
        await asyncio.sleep(0.05)

    result: dict[str, Any] = {
        "connect_s": connect_s,
        "steady": window(load, (steady_from, stall_from), load.people),
        # The steady window again, for the people who go on reading in the stalled one.
        "steady_others": window(load, (steady_from, stall_from), others),
    }
    if stall:
        result["stalled"] = window(load, (stall_from, end), others)
    # Seq continuity is checked over the whole run, for everyone up to the stall: counted once.
    result["out_of_order"] = sum(p.reordered for p in load.people)
    result["seq_missing"] = sum(p.seq_missing for p in load.people)
    result["duplicates"] = sum(p.duplicates for p in load.people)
    result["echoes"] = sum(p.echoes for p in load.people)
    result["kinds"] = sum((p.kinds for p in load.people), Counter())
    result["stalled_open"] = sum(
        1 for p in load.people if p.stalls and p.connection.state.name == "OPEN"
    )
    load.done.set()
    result["problems"] = load.problems
    # The figures are in: the parent reads them now, whatever closing the sockets takes.
    write_result(result_path, result)
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    connections = [p.connection for p in load.people] + [s.connection for s in load.scanners]
    closing = asyncio.gather(*(c.close() for c in connections), return_exceptions=True)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(closing, 20)


def progress(text: str) -> None:
    """What the load generator is doing, for whoever watches a long run (stderr)."""
    print(f"loadgen {os.getpid()}: {text}", file=sys.stderr, flush=True)


def write_result(path: Path, result: dict[str, Any]) -> None:
    """Whole or not at all: the parent takes the file's appearance as the result."""
    part = path.with_suffix(".part")
    part.write_text(json.dumps(result))
    part.rename(path)


def load_main(plan_path: str, result_path: str) -> int:
    from websockets.exceptions import WebSocketException

    load_plan = json.loads(Path(plan_path).read_text())
    try:
        asyncio.run(generate(load_plan, Path(result_path)))
    except (BenchFailure, OSError, TimeoutError, WebSocketException) as exc:
        if not Path(result_path).exists():
            write_result(Path(result_path), {"problems": [f"{type(exc).__name__}: {exc}"]})
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
