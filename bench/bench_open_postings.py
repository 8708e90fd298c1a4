"""How fast does a technologist get the open postings they qualify for, with 5,000 postings and
2,000 technologists in the database, and do the SQL queries stay constant as the page grows?

Set-up, made fresh on every run:
- a throwaway database: SQLite at bench/.data/open_postings.sqlite3, or, when DATABASE_URL names
  a PostgreSQL server, a separate database `wescan_bench_postings` (BENCH_DB_NAME) on it,
  dropped at the end;
- migrated with wescan.settings.local (BENCH_SETTINGS overrides), DEBUG off;
- 20 hospitals with 2 sites (Brussels and Lisbon time) and 6 scanners each, of five vendors;
- 5,000 postings over the next 30 days: 3,500 open, the rest drafts, filled, cancelled and
  expired ones that must never show; 1-2 required exam families each, languages on 30%;
- 2,000 technologists with 3-6 exam families, 1-3 vendors and 1-3 languages each; 90% with a
  verified licence, the rest unverified or expired (they must see nothing);
- all of it written with bulk_create, the many-to-many through rows included.

Measured:
1. the selector alone, in-process (`selectors.open_postings_for`, counted and its first page of
   20 read, as the API's paginator does) for 40 technologists: p50/p95 ms. It holds steady when
   the machine is busy, where the HTTP figures do not;
2. GET /api/v1/postings/open/ on real Daphne processes (BENCH_DAPHNE_PROCESSES, default one per
   CPU up to 4, sharing one socket as in production), BENCH_CONCURRENCY keep-alive clients
   (default 4: two requests in flight per core), each with its own technologist's token, at
   page_size 20 and 100: p50/p95 ms, requests/s and Daphne's CPU per request;
3. SQL queries per request, in-process with the test client, at page_size 20 and 100: they must
   not grow with the page (no N+1).

Every response is checked: HTTP 200, the count the selector gives for that technologist, a full
page, and every posting open, in the future, on a vendor they know, of exam families they all
have, in a language they speak when languages are asked, at their seniority or below. A wrong
answer or a dead server fails the run; a missed target is marked MISSED but does not.
"""

import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "bench" / ".data"
sys.path.insert(0, str(ROOT))

HOSPITALS = 20
SITES_PER_HOSPITAL = 2
SCANNERS_PER_SITE = 3
POSTINGS = 5_000
OPEN_SHARE = 0.70
TECHNOLOGISTS = 2_000
LOAD_TECHNOLOGISTS = 8  # distinct tokens the HTTP clients use
SELECTOR_TECHNOLOGISTS = 40
SELECTOR_ROUNDS = 5
PAGE_SIZES = (20, 100)

CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "4"))
WARMUP_SECONDS = float(os.environ.get("BENCH_WARMUP_SECONDS", "1.5"))
MEASURE_SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
SERVER_START_TIMEOUT = 30.0
DAPHNE_PROCESSES = int(os.environ.get("BENCH_DAPHNE_PROCESSES", "") or min(os.cpu_count() or 1, 4))
SEED = 20_251

# A technologist opening the app waits on this list; 150 ms at p95 is an instant answer on a
# shared 2-core machine that also runs the clients. The selector alone gets a third of that.
P95_TARGET_MS = 150.0
SELECTOR_P95_TARGET_MS = 50.0
RPS_TARGET = 30.0
URL = "/api/v1/postings/open/"
APPLICATION = "wescan.asgi:application"


class BenchFailure(Exception):
    """The server failed or answered wrongly: the figures would be worthless."""


def figure(name: str, value: str, unit: str, target: str, missed: bool = False) -> None:
    print(f"bench: {name} = {value} {unit} (target {target}){' MISSED' if missed else ''}")


def percentile(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


# --- Database -------------------------------------------------------------------------------


@dataclass
class Database:
    description: str
    env: dict[str, str]
    drop: Callable[[], None]


def prepare_database() -> Database:
    """A fresh, empty database for this run; never the one the developer works in."""
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        path = DATA_DIR / "open_postings.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return Database(
            f"SQLite {path.relative_to(ROOT)}", {"SQLITE_PATH": str(path)}, lambda: None
        )

    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        raise SystemExit(f"error: DATABASE_URL must be PostgreSQL, not {parts.scheme!r}")
    import psycopg
    from psycopg import sql

    name = os.environ.get("BENCH_DB_NAME", "wescan_bench_postings")
    if name == parts.path.lstrip("/"):
        raise SystemExit(f"error: refusing to use {name!r}: it is the database DATABASE_URL names")
    admin_url = urlunsplit(parts._replace(path="/postgres"))

    def run(statement: sql.Composable) -> None:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(statement)

    drop_statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    run(drop_statement)
    run(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return Database(
        f"PostgreSQL {parts.hostname}:{parts.port or 5432}/{name} (dropped afterwards)",
        {"DATABASE_URL": urlunsplit(parts._replace(path=f"/{name}"))},
        lambda: run(drop_statement),
    )


def configure_environment(database: Database) -> None:
    """One environment for this process and the Daphne children, so all see the same database."""
    os.environ.pop("DATABASE_URL", None)
    os.environ.update(database.env)
    os.environ["DJANGO_SETTINGS_MODULE"] = os.environ.get("BENCH_SETTINGS", "wescan.settings.local")
    os.environ["DJANGO_DEBUG"] = "0"  # DEBUG would keep every query in memory
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1,localhost"
    os.environ.setdefault("LOG_LEVEL", "WARNING")


# --- Data -----------------------------------------------------------------------------------


@dataclass
class Technologist:
    user_id: int
    profile_id: int
    seniority: str
    families: frozenset[str]  # exam family codes
    vendors: frozenset[str]
    languages: frozenset[str]
    eligible: bool
    token: str = ""
    expected_count: int = 0


@dataclass
class Seeded:
    technologists: list[Technologist]
    open_postings: int
    seconds: float


def seed() -> Seeded:
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import User
    from marketplace.models import (
        Compensation,
        ExamFamily,
        Hospital,
        Language,
        PostingStatus,
        Scanner,
        Seniority,
        SessionPosting,
        Site,
        TechnologistProfile,
        Urgency,
        Vendor,
        VendorFamiliarity,
    )

    started = time.perf_counter()
    rng = random.Random(SEED)
    now = timezone.now()
    today = timezone.localdate()
    unusable = make_password(None)  # token auth only
    families = list(ExamFamily.objects.values_list("code", "pk"))
    family_pk = dict(families)
    family_codes = [code for code, _ in families]
    language_codes = ["nl", "fr", "en", "pt", "de", "es", "it", "tr", "ar"]
    assert Language.objects.filter(code__in=language_codes).count() == len(language_codes)
    vendors = [Vendor.SIEMENS, Vendor.GE, Vendor.PHILIPS, Vendor.CANON, Vendor.UNITED_IMAGING]
    seniorities = list(Seniority.values)

    with transaction.atomic():
        hospitals = Hospital.objects.bulk_create(
            Hospital(name=f"Bench Hospital {i:02d}", city="Leuven", country="BE")
            for i in range(HOSPITALS)
        )
        sites = Site.objects.bulk_create(
            Site(
                hospital=hospital,
                name=f"Site {j}",
                time_zone="Europe/Lisbon" if j % 2 else "Europe/Brussels",
            )
            for hospital in hospitals
            for j in range(SITES_PER_HOSPITAL)
        )
        scanners = Scanner.objects.bulk_create(
            Scanner(
                site=site,
                name=f"MR {k}",
                vendor=vendors[(i + k) % len(vendors)],
                model_name="Bench",
                field_strength_tesla="1.50",
                cockpit_ready=True,
            )
            for i, site in enumerate(sites)
            for k in range(SCANNERS_PER_SITE)
        )

        # Postings: 70% open and future, the rest in every other state.
        others = [
            (PostingStatus.DRAFT, 1),
            (PostingStatus.CANCELLED, 1),
            (PostingStatus.FILLED, 1),
            (PostingStatus.EXPIRED, -1),
        ]
        postings = []
        for i in range(POSTINGS):
            scanner = rng.choice(scanners)
            if i < POSTINGS * OPEN_SHARE:
                status, direction = PostingStatus.OPEN, 1
            else:
                status, direction = others[i % len(others)]
            starts_at = now + direction * timedelta(hours=rng.randint(2, 30 * 24))
            rate = rng.random() < 0.3
            postings.append(
                SessionPosting(
                    hospital_id=scanner.site.hospital_id,
                    site=scanner.site,
                    scanner=scanner,
                    starts_at=starts_at,
                    ends_at=starts_at + timedelta(hours=rng.choice([3, 4, 5])),
                    min_seniority=rng.choices(seniorities, weights=[5, 3, 2])[0],
                    vendor=scanner.vendor,
                    urgency=rng.choices(list(Urgency.values), weights=[6, 3, 1])[0],
                    compensation=Compensation.HOURLY_RATE if rate else Compensation.RECIPROCITY,
                    hourly_rate_eur="50.00" if rate else None,
                    notes="Outpatient list on standard protocols; local staff position.",
                    status=status,
                    published_at=None if status == PostingStatus.DRAFT else now,
                )
            )
        postings = SessionPosting.objects.bulk_create(postings, batch_size=1000)
        required = SessionPosting.required_exam_families.through
        asked = SessionPosting.languages.through
        required_rows, asked_rows = [], []
        for posting in postings:
            for code in rng.sample(family_codes, rng.choice([1, 1, 2])):
                required_rows.append(
                    required(sessionposting_id=posting.pk, examfamily_id=family_pk[code])
                )
            if rng.random() < 0.3:
                for code in rng.sample(language_codes, rng.choice([1, 2])):
                    asked_rows.append(asked(sessionposting_id=posting.pk, language_id=code))
        required.objects.bulk_create(required_rows, batch_size=2000)
        asked.objects.bulk_create(asked_rows, batch_size=2000)

        # Technologists: 90% verified and current, 5% unverified, 5% expired.
        users = User.objects.bulk_create(
            (
                User(email=f"tech{i:04d}@bench.example", first_name="Tech", password=unusable)
                for i in range(TECHNOLOGISTS)
            ),
            batch_size=1000,
        )
        profiles = []
        for i, user in enumerate(users):
            state = "verified" if i % 20 > 1 else ("unverified" if i % 20 == 0 else "expired")
            profiles.append(
                TechnologistProfile(
                    user=user,
                    seniority=rng.choice(seniorities),
                    years_experience=rng.randint(0, 30),
                    licence_number=f"BE-RT-{i:05d}",
                    licence_authority="SPF Santé publique (BE)",
                    licence_valid_until=today
                    + timedelta(days=-3 if state == "expired" else rng.randint(40, 900)),
                    licence_verified_at=None if state == "unverified" else now,
                )
            )
        profiles = TechnologistProfile.objects.bulk_create(profiles, batch_size=1000)
        competent = TechnologistProfile.exam_families.through
        speaks = TechnologistProfile.languages.through
        competent_rows, speaks_rows, knows_rows = [], [], []
        technologists = []
        for profile in profiles:
            tech_families = rng.sample(family_codes, rng.randint(3, 6))
            tech_vendors = rng.sample(vendors, rng.randint(1, 3))
            tech_languages = rng.sample(language_codes, rng.randint(1, 3))
            competent_rows += [
                competent(technologistprofile_id=profile.pk, examfamily_id=family_pk[code])
                for code in tech_families
            ]
            speaks_rows += [
                speaks(technologistprofile_id=profile.pk, language_id=code)
                for code in tech_languages
            ]
            knows_rows += [VendorFamiliarity(profile=profile, vendor=v) for v in tech_vendors]
            technologists.append(
                Technologist(
                    user_id=profile.user_id,
                    profile_id=profile.pk,
                    seniority=profile.seniority,
                    families=frozenset(tech_families),
                    vendors=frozenset(tech_vendors),
                    languages=frozenset(tech_languages),
                    eligible=not profile.ineligibility_reasons(),
                )
            )
        competent.objects.bulk_create(competent_rows, batch_size=2000)
        speaks.objects.bulk_create(speaks_rows, batch_size=2000)
        VendorFamiliarity.objects.bulk_create(knows_rows, batch_size=2000)
    from django.db import connection

    if connection.vendor == "postgresql":
        # Autovacuum would gather the planner's statistics soon after such a load; do it now
        # so the plans are those of a database in use, not of empty tables.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    open_count = SessionPosting.objects.filter(status=PostingStatus.OPEN).count()
    return Seeded(technologists, open_count, time.perf_counter() - started)


def choose(seeded: Seeded) -> tuple[list[Technologist], Technologist]:
    """Technologists for the load (eligible, with more than a page of results, mixed
    seniorities) with a token each, and one ineligible technologist who must see nothing."""
    from rest_framework.authtoken.models import Token

    from marketplace import selectors
    from marketplace.models import TechnologistProfile

    rng = random.Random(SEED + 1)
    candidates = [t for t in seeded.technologists if t.eligible]
    rng.shuffle(candidates)
    chosen: list[Technologist] = []
    seniorities: dict[str, int] = {}
    for tech in candidates:
        if len(chosen) == LOAD_TECHNOLOGISTS:
            break
        if seniorities.get(tech.seniority, 0) >= LOAD_TECHNOLOGISTS // 3 + 1:
            continue
        profile = TechnologistProfile.objects.get(pk=tech.profile_id)
        tech.expected_count = selectors.open_postings_for(profile=profile).count()
        if tech.expected_count > max(PAGE_SIZES):
            chosen.append(tech)
            seniorities[tech.seniority] = seniorities.get(tech.seniority, 0) + 1
    if len(chosen) < LOAD_TECHNOLOGISTS:
        raise BenchFailure(
            f"only {len(chosen)} technologists qualify for more than {max(PAGE_SIZES)} "
            "postings: the data set does not exercise the page"
        )
    ineligible = next(t for t in seeded.technologists if not t.eligible)
    for tech in [*chosen, ineligible]:
        tech.token = Token.objects.create(user_id=tech.user_id).key
    return chosen, ineligible


# --- Checking answers -----------------------------------------------------------------------


def problem_with(tech: Technologist, status: int, body: bytes, page_size: int) -> str | None:
    """None when the page is right for this technologist; else what is wrong with it."""
    from marketplace.models import Seniority

    if status == 404:
        return (
            f"{URL} answers 404: the open-postings endpoint is missing (it is "
            "PostingViewSet.open_for_me in marketplace/api.py, route postings/open/)"
        )
    if status != 200:
        return f"{URL}: HTTP {status}: {body[:300]!r}"
    try:
        data = json.loads(body)
    except ValueError:
        return f"{URL}: not JSON: {body[:200]!r}"
    if data.get("count") != tech.expected_count:
        return f"{URL}: count {data.get('count')}, expected {tech.expected_count} for {tech}"
    results = data.get("results")
    expected_len = min(page_size, tech.expected_count)
    if not isinstance(results, list) or len(results) != expected_len:
        got = len(results) if isinstance(results, list) else results
        return f"{URL}: {got} results on the page, expected {expected_len}"
    allowed_seniority = set(Seniority.at_most(tech.seniority))
    now = datetime.now().astimezone()
    for row in results:
        reasons = []
        if row["status"] != "open":
            reasons.append(f"status {row['status']}")
        if datetime.fromisoformat(row["starts_at"]) <= now:
            reasons.append("already started")
        if row["vendor"] not in tech.vendors:
            reasons.append(f"vendor {row['vendor']}")
        if not set(row["required_exam_families"]) <= tech.families:
            reasons.append(f"families {row['required_exam_families']}")
        if row["languages"] and not set(row["languages"]) & tech.languages:
            reasons.append(f"languages {row['languages']}")
        if row["min_seniority"] not in allowed_seniority:
            reasons.append(f"seniority {row['min_seniority']} for a {tech.seniority}")
        if reasons:
            return f"{URL}: posting {row['id']} shown to a technologist it does not fit: {reasons}"
    starts = [row["starts_at"] for row in results]
    if [datetime.fromisoformat(s) for s in starts] != sorted(
        datetime.fromisoformat(s) for s in starts
    ):
        return f"{URL}: results not in start order"
    return None


def check_ineligible(tech: Technologist, status: int, body: bytes) -> str | None:
    if status != 200:
        return f"{URL} for an ineligible technologist: HTTP {status}: {body[:200]!r}"
    data = json.loads(body)
    if data.get("count") != 0 or data.get("results"):
        return f"{URL}: an ineligible technologist sees {data.get('count')} postings"
    if not data.get("ineligibility_reasons"):
        return f"{URL}: no ineligibility_reasons for an ineligible technologist"
    return None


# --- In-process: the selector and the queries per request ------------------------------------


def time_selector(seeded: Seeded) -> list[float]:
    """The selector as the API uses it: count, then the first page of 20 with its prefetches."""
    from marketplace import selectors

    rng = random.Random(SEED + 2)
    eligible = [t for t in seeded.technologists if t.eligible]
    sample = rng.sample(eligible, SELECTOR_TECHNOLOGISTS)
    from accounts.models import User

    users = User.objects.in_bulk([t.user_id for t in sample])
    profiles = [selectors.technologist_profile_for(user=users[t.user_id]) for t in sample]
    timings = []
    for round_ in range(SELECTOR_ROUNDS + 1):
        for profile in profiles:
            assert profile is not None
            started = time.perf_counter()
            postings = selectors.open_postings_for(profile=profile)
            postings.count()
            list(postings[:20])
            if round_:  # the first round warms caches
                timings.append((time.perf_counter() - started) * 1000)
    return timings


def count_queries(tech: Technologist) -> dict[int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    client = APIClient(HTTP_HOST="127.0.0.1")
    client.credentials(HTTP_AUTHORIZATION=f"Token {tech.token}")
    counts = {}
    for page_size in PAGE_SIZES:
        url = f"{URL}?page_size={page_size}"
        client.get(url)  # warm
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        problem = problem_with(tech, response.status_code, response.content, page_size)
        if problem:
            raise BenchFailure(f"in-process: {problem}")
        counts[page_size] = len(captured)
    return counts


# --- Daphne and the HTTP load ----------------------------------------------------------------


@dataclass
class Daphnes:
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def check_alive(self) -> None:
        for process, log in zip(self.processes, self.logs, strict=True):
            if process.poll() is not None:
                raise BenchFailure(
                    f"daphne (pid {process.pid}) exited with {process.returncode}:\n{tail(log)}"
                )

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 10
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start_daphnes(count: int, probe_token: str) -> tuple[Daphnes, list[int]]:
    """`count` Daphne children, each on its own socket (`daphne --fd`). The clients spread over
    them round-robin, as a proxy in front would: with one shared socket, keep-alive connections
    land where the kernel puts them, and one process can end up with all the clients."""
    daphne = Path(sys.executable).parent / "daphne"
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    daphnes = Daphnes()
    ports = []
    try:
        for i in range(count):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
                listener.bind(("127.0.0.1", 0))
                listener.listen(128)
                listener.set_inheritable(True)
                ports.append(int(listener.getsockname()[1]))
                log = DATA_DIR / f"open_postings-daphne-{i}.log"
                with log.open("wb") as out:
                    daphnes.processes.append(
                        subprocess.Popen(
                            # -v 0: no access log (the proxy in front logs).
                            [str(daphne), "--fd", str(listener.fileno()), "-v", "0", APPLICATION],
                            cwd=ROOT,
                            env=os.environ.copy(),
                            stdout=out,
                            stderr=subprocess.STDOUT,
                            pass_fds=(listener.fileno(),),
                        )
                    )
                daphnes.logs.append(log)
        wait_until_serving(daphnes, ports, probe_token)
    except BaseException:
        daphnes.stop()
        raise
    return daphnes, ports


def wait_until_serving(daphnes: Daphnes, ports: list[int], token: str) -> None:
    """Every child answers: none is still importing Django when the load starts."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    waiting = list(ports)
    while waiting and time.monotonic() < deadline:
        daphnes.check_alive()
        client = HttpClient(waiting[0], token)
        try:
            status, body = client.get("/api/v1/me/")
        except OSError:
            time.sleep(0.1)
            continue
        finally:
            client.connection.close()
        if status != 200:
            raise BenchFailure(f"daphne answers /api/v1/me/ with HTTP {status}: {body[:200]!r}")
        waiting.pop(0)
    if waiting:
        raise BenchFailure(
            f"the daphne processes were not serving within {SERVER_START_TIMEOUT:.0f} s:\n"
            + "\n".join(tail(log) for log in daphnes.logs)
        )


def server_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


class HttpClient:
    """One keep-alive connection with one technologist's token."""

    def __init__(self, port: int, token: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Authorization": f"Token {token}", "Accept": "application/json"}

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            self.connection.request("GET", path, headers=self.headers)
            response = self.connection.getresponse()
            return response.status, response.read()
        except OSError:
            self.connection.close()
            raise


@dataclass
class LoadResult:
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    server_cores_each: list[float] = field(default_factory=list)  # one per Daphne process

    @property
    def server_cores(self) -> float:
        return sum(self.server_cores_each)

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def server_cpu_ms(self) -> float:
        return self.server_cores * self.seconds * 1000 / max(1, self.requests)


Check = Callable[[Technologist, int, bytes], str | None]


def load(
    ports: list[int], techs: list[Technologist], url: str, check: Check, pids: list[int]
) -> LoadResult:
    """CONCURRENCY closed-loop clients, client i as technologist i on Daphne i mod N; every
    answer is checked."""
    start = time.perf_counter()
    measure_from = start + WARMUP_SECONDS
    stop_at = measure_from + MEASURE_SECONDS
    lock = threading.Lock()
    result = LoadResult(seconds=MEASURE_SECONDS)

    def worker(port: int, tech: Technologist) -> None:
        client = HttpClient(port, tech.token)
        mine: list[float] = []
        try:
            while (sent := time.perf_counter()) < stop_at:
                try:
                    status, body = client.get(url)
                except OSError as exc:
                    with lock:
                        result.errors.append(f"{url}: {exc!r}")
                    return
                elapsed_ms = (time.perf_counter() - sent) * 1000
                problem = check(tech, status, body)
                if problem:
                    with lock:
                        result.errors.append(problem)
                    return
                if sent >= measure_from:
                    mine.append(elapsed_ms)
        finally:
            client.connection.close()
            with lock:
                result.latencies_ms.extend(mine)

    threads = [
        threading.Thread(target=worker, args=(ports[i % len(ports)], techs[i % len(techs)]))
        for i in range(CONCURRENCY)
    ]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, measure_from - time.perf_counter()))
    cpu_from = [server_cpu_seconds(pid) for pid in pids]
    time.sleep(max(0.0, stop_at - time.perf_counter()))
    result.server_cores_each = [
        (server_cpu_seconds(pid) - before) / MEASURE_SECONDS
        for pid, before in zip(pids, cpu_from, strict=True)
    ]
    for thread in threads:
        thread.join()
    return result


def api_root_problem(tech: Technologist, status: int, body: bytes) -> str | None:
    if status != 200 or b"postings" not in body:
        return f"/api/v1/: HTTP {status}: {body[:200]!r}"
    return None


def report(
    name: str, result: LoadResult, p95_target: float | None, baseline: LoadResult | None = None
) -> None:
    p50 = percentile(result.latencies_ms, 50)
    p95 = percentile(result.latencies_ms, 95)
    figure(f"{name}_p50", f"{p50:.1f}", "ms", "—")
    if p95_target is None:
        figure(f"{name}_p95", f"{p95:.1f}", "ms", "— (baseline)")
        figure(f"{name}_rps", f"{result.rps:.0f}", "req/s", "— (baseline)")
    else:
        figure(f"{name}_p95", f"{p95:.1f}", "ms", f"≤ {p95_target:.0f}", p95 > p95_target)
        figure(
            f"{name}_rps",
            f"{result.rps:.0f}",
            "req/s",
            f"≥ {RPS_TARGET:.0f}",
            result.rps < RPS_TARGET,
        )
    figure(f"{name}_server_cpu", f"{result.server_cpu_ms:.1f}", "ms/request", "—")
    if baseline is not None:
        # Steadier than times on a shared machine: both were measured in this run.
        ratio = result.server_cpu_ms / baseline.server_cpu_ms
        figure(f"{name}_cpu_vs_api_root", f"{ratio:.1f}", "×", "—")
    each = " + ".join(f"{cores:.2f}" for cores in result.server_cores_each)
    print(
        f"load: {name}: {result.requests} requests checked; Daphne {result.server_cores:.2f} "
        f"cores ({each}); load average {os.getloadavg()[0]:.1f}"
    )


# --- Main -----------------------------------------------------------------------------------


def main() -> int:
    database = prepare_database()
    configure_environment(database)
    daphnes: Daphnes | None = None
    failures: list[str] = []
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections

        started = time.perf_counter()
        call_command("migrate", verbosity=0, interactive=False)
        migrated = time.perf_counter() - started
        seeded = seed()
        techs, ineligible = choose(seeded)
        print(
            f"setup: {database.description}, settings {os.environ['DJANGO_SETTINGS_MODULE']}, "
            f"migrated in {migrated:.1f} s, seeded in {seeded.seconds:.1f} s"
        )
        print(
            f"setup: {POSTINGS:,} postings ({seeded.open_postings:,} open) on "
            f"{HOSPITALS * SITES_PER_HOSPITAL * SCANNERS_PER_SITE} scanners of {HOSPITALS} "
            f"hospitals; {TECHNOLOGISTS:,} technologists "
            f"({sum(t.eligible for t in seeded.technologists):,} eligible); the "
            f"{len(techs)} load technologists qualify for "
            f"{min(t.expected_count for t in techs)}-{max(t.expected_count for t in techs)} "
            "postings each"
        )

        timings = time_selector(seeded)
        p50, p95 = percentile(timings, 50), percentile(timings, 95)
        figure("open_postings.selector_p50", f"{p50:.1f}", "ms", "—")
        figure(
            "open_postings.selector_p95",
            f"{p95:.1f}",
            "ms",
            f"≤ {SELECTOR_P95_TARGET_MS:.0f}",
            p95 > SELECTOR_P95_TARGET_MS,
        )
        print(
            f"selector: {len(timings)} calls (count + first page of 20) for "
            f"{SELECTOR_TECHNOLOGISTS} technologists, in-process"
        )

        from rest_framework.test import APIClient

        client = APIClient(HTTP_HOST="127.0.0.1")
        client.credentials(HTTP_AUTHORIZATION=f"Token {ineligible.token}")
        response = client.get(URL)
        problem = check_ineligible(ineligible, response.status_code, response.content)
        if response.status_code == 404:
            problem = problem_with(ineligible, 404, b"", 20)
        if problem:
            raise BenchFailure(problem)
        queries = count_queries(techs[0])
        constant = len(set(queries.values())) == 1
        by_size = ", ".join(f"page_size={s}: {n}" for s, n in queries.items())
        print(
            f"bench: open_postings.queries = {max(queries.values())} queries/request "
            f"(target constant){'' if constant else ' MISSED'} — {by_size}"
        )
        connections.close_all()

        daphnes, ports = start_daphnes(DAPHNE_PROCESSES, techs[0].token)
        print(
            f"setup: {DAPHNE_PROCESSES} daphne processes, one socket each (ports "
            f"{', '.join(map(str, ports))}, logs {DATA_DIR.relative_to(ROOT)}/"
            f"open_postings-daphne-<i>.log), {CONCURRENCY} keep-alive clients spread over them "
            f"round-robin as {min(CONCURRENCY, len(techs))} technologists, "
            f"{WARMUP_SECONDS:g} s warm-up + {MEASURE_SECONDS:g} s each; load average "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )
        # What every request costs (Daphne, middleware, the token): the API root.
        baseline = load(ports, techs, "/api/v1/", api_root_problem, daphnes.pids)
        daphnes.check_alive()
        if baseline.errors or baseline.requests < 2:
            raise BenchFailure(f"the baseline failed: {baseline.errors[:1]}")
        report("open_postings.api_root", baseline, None)
        for page_size in PAGE_SIZES:

            def check(tech: Technologist, status: int, body: bytes, size: int = page_size) -> Any:
                return problem_with(tech, status, body, size)

            url = f"{URL}?page_size={page_size}"
            result = load(ports, techs, url, check, daphnes.pids)
            daphnes.check_alive()
            if result.errors or result.requests < 2:
                failures.append(f"page_size={page_size}: {result.errors[:1] or 'no requests'}")
                continue
            report(f"open_postings.api_page{page_size}", result, P95_TARGET_MS, baseline)
    except BenchFailure as exc:
        failures.append(str(exc))
    finally:
        if daphnes is not None:
            daphnes.stop()
        try:
            from django.db import connections

            connections.close_all()
        except Exception as exc:  # Django may not be set up when the failure came early
            print(f"warning: closing connections: {exc!r}", file=sys.stderr)
        database.drop()
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
