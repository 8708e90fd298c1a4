"""How fast do the API's list endpoints answer under concurrent clients, and do their SQL queries
stay constant as the page grows?

Set-up, made fresh on every run:
- a throwaway database: SQLite at bench/.data/api_lists.sqlite3, or, when DATABASE_URL names a
  PostgreSQL server, a separate database `wescan_bench` (BENCH_DB_NAME) on it, dropped at the end;
- migrated with wescan.settings.local (BENCH_SETTINGS overrides), DEBUG off;
- "Bench General": 250 sites, 10,000 scanners, 300 members, 300 invitations; two other hospitals
  with 500 scanners each that the manager must never see; 200 partner hospitals where the
  manager is a technologist (so the hospitals list has 201 rows);
- one manager with a DRF token.

Then real Daphne processes serve that database, laid out as in production (several per machine,
README "Production"): BENCH_DAPHNE_PROCESSES of them (default: one per CPU, at most 4) accept from
one shared listening socket (`daphne --fd`), without an access log (the proxy in front logs). 8
client threads (keep-alive http.client) call each list for a few seconds after a warm-up. Every
response must be 200 with the expected count, page length and fields, or the run fails. SQL queries
per request are counted in-process with the test client for page_size=50 and page_size=200: they
must not grow with the page (no N+1).

Figures per endpoint: requests/s, p50 and p95 latency, Daphne's CPU time per request (summed over
all Daphne processes), and SQL queries per request. CPU per request holds steady when other jobs
share the machine, where requests/s and latency do not (it includes SQLite's work, which runs
inside Daphne, but not PostgreSQL's, which runs in its own processes). The API root (DRF's router
index: Daphne, middleware and the token lookup, nothing else) is measured first as the fixed cost
every request pays. A missed target is marked MISSED but does not fail the run; a server failure or
a wrong response does.
"""

import hashlib
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "bench" / ".data"
sys.path.insert(0, str(ROOT))

CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "8"))
WARMUP_SECONDS = float(os.environ.get("BENCH_WARMUP_SECONDS", "1.5"))
MEASURE_SECONDS = float(os.environ.get("BENCH_SECONDS", "4"))
SERVER_START_TIMEOUT = 30.0
# Production runs one Daphne per core behind a proxy; Django runs sync views on one thread per
# process, so a single process would leave the other cores idle.
DAPHNE_PROCESSES = int(os.environ.get("BENCH_DAPHNE_PROCESSES", "") or min(os.cpu_count() or 1, 4))

HOME_SITES = 250
HOME_SCANNERS = 10_000
HOME_MEMBERS = 300  # the manager included
HOME_INVITATIONS = 300
OTHER_HOSPITALS = 2
OTHER_SITES = 20
OTHER_SCANNERS = 500
OTHER_MEMBERS = 50
OTHER_INVITATIONS = 50
PARTNER_HOSPITALS = 200

# Held against a shared 2-core machine that runs the Daphne processes (Django runs sync views on
# one thread per process) and the 8 client threads at once. Lists of 50 should sustain a small
# hospital group's integrations and pages; p95 is what a user waits for while 8 callers queue.
RPS_TARGET = 50.0
RPS_TARGET_PAGE_200 = 15.0
P95_TARGET_MS = 250.0
P95_TARGET_MS_PAGE_200 = 800.0
QUERIES_TARGET = 6
# Daphne's CPU per request (all processes together): Django runs sync views on one thread, so one
# process tops out near 1000 / cpu_ms requests/s; 20 ms is the 50 req/s above on a single core.
CPU_TARGET_MS = 20.0
CPU_TARGET_MS_PAGE_200 = 60.0

HOSPITAL_KEYS = frozenset({"id", "name", "city", "country", "created_at", "my_role"})
SITE_KEYS = frozenset({"id", "hospital", "name", "city", "time_zone"})
SCANNER_KEYS = frozenset(
    {
        "id",
        "hospital",
        "site",
        "name",
        "modality",
        "vendor",
        "model_name",
        "field_strength_tesla",
        "cockpit_ready",
        "has_device_token",
        "device_token_rotated_at",
    }
)
MEMBERSHIP_KEYS = frozenset(
    {"id", "hospital", "user", "user_email", "user_name", "role", "created_at"}
)
INVITATION_KEYS = frozenset(
    {
        "id",
        "hospital",
        "email",
        "role",
        "status",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
    }
)


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
        path = DATA_DIR / "api_lists.sqlite3"
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

    name = os.environ.get("BENCH_DB_NAME", "wescan_bench")
    if name == parts.path.lstrip("/"):
        raise SystemExit(f"error: refusing to use {name!r}: it is the database DATABASE_URL names")
    # Connect to the server's maintenance database: DATABASE_URL's own is left untouched.
    admin_url = urlunsplit(parts._replace(path="/postgres"))

    def run(statement: sql.Composable) -> None:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(statement)

    drop_statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    run(drop_statement)
    run(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    bench_url = urlunsplit(parts._replace(path=f"/{name}"))
    return Database(
        f"PostgreSQL {parts.hostname}:{parts.port or 5432}/{name} (dropped afterwards)",
        {"DATABASE_URL": bench_url},
        lambda: run(drop_statement),
    )


def configure_environment(database: Database) -> None:
    """One environment for this process and the Daphne child, so both see the same database."""
    os.environ.pop("DATABASE_URL", None)
    os.environ.update(database.env)
    os.environ["DJANGO_SETTINGS_MODULE"] = os.environ.get("BENCH_SETTINGS", "wescan.settings.local")
    os.environ["DJANGO_DEBUG"] = "0"  # DEBUG would keep every query in memory and slow all down
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1,localhost"
    os.environ.setdefault("LOG_LEVEL", "WARNING")


# --- Data -----------------------------------------------------------------------------------


@dataclass
class Seeded:
    token: str
    home_id: int
    visible_hospital_ids: frozenset[int]
    seconds: float


def seed() -> Seeded:
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from accounts.models import User
    from marketplace.models import (
        Hospital,
        Invitation,
        Membership,
        Modality,
        Role,
        Scanner,
        Site,
        Vendor,
    )

    started = time.perf_counter()
    now = timezone.now()
    unusable = make_password(None)  # token auth only: nobody signs in with a password here
    vendors = [v for v in Vendor.values if v != Vendor.OTHER]

    def sites_for(hospital: Any, count: int) -> list[Any]:
        return Site.objects.bulk_create(
            Site(
                hospital=hospital, name=f"Site {i:03d}", city="Leuven", time_zone="Europe/Brussels"
            )
            for i in range(count)
        )

    def scanners_for(sites: list[Any], count: int, tag: str) -> None:
        def scanner(i: int) -> Any:
            ct = i % 10 == 0
            has_token = i % 7 == 0
            return Scanner(
                site=sites[i % len(sites)],
                name=f"{'CT' if ct else 'MR'} {i // len(sites):03d}",
                modality=Modality.CT if ct else Modality.MRI,
                vendor=vendors[i % len(vendors)],
                model_name=f"Model {i % 13}",
                field_strength_tesla=None if ct else Decimal("3.00" if i % 3 else "1.50"),
                cockpit_ready=i % 4 == 0,
                device_token_hash=(
                    hashlib.sha256(f"{tag}-{i}".encode()).hexdigest() if has_token else None
                ),
                device_token_rotated_at=now if has_token else None,
            )

        Scanner.objects.bulk_create((scanner(i) for i in range(count)), batch_size=2000)

    def users(count: int, tag: str) -> list[Any]:
        return User.objects.bulk_create(
            User(
                email=f"{tag}-{i:04d}@bench.wescan.test",
                first_name="" if i % 3 == 0 else f"First{i}",
                last_name="" if i % 3 == 0 else f"Last{i}",
                password=unusable,
            )
            for i in range(count)
        )

    def invitations_for(hospital: Any, count: int, invited_by: Any, tag: str) -> None:
        def invitation(i: int) -> Any:
            return Invitation(
                hospital=hospital,
                email=f"invitee-{tag}-{i:04d}@bench.wescan.test",
                role=Role.TECHNOLOGIST if i % 2 else Role.LOCAL_STAFF,
                token_hash=hashlib.sha256(f"invitation-{tag}-{i}".encode()).hexdigest(),
                invited_by=invited_by if i % 5 else None,
                expires_at=now + timedelta(days=7) if i % 4 else now - timedelta(days=1),
                accepted_at=now if i % 9 == 0 else None,
            )

        Invitation.objects.bulk_create(invitation(i) for i in range(count))

    with transaction.atomic():
        home = Hospital.objects.create(name="Bench General", city="Leuven", country="BE")
        manager = User.objects.create(
            email="manager@bench.wescan.test",
            first_name="Mara",
            last_name="Manager",
            password=unusable,
        )
        Membership.objects.create(user=manager, hospital=home, role=Role.MANAGER)
        home_sites = sites_for(home, HOME_SITES)
        scanners_for(home_sites, HOME_SCANNERS, "home")
        Membership.objects.bulk_create(
            Membership(
                user=user,
                hospital=home,
                role=[Role.TECHNOLOGIST, Role.LOCAL_STAFF, Role.MANAGER][i % 3],
            )
            for i, user in enumerate(users(HOME_MEMBERS - 1, "home"))
        )
        invitations_for(home, HOME_INVITATIONS, manager, "home")

        for n in range(OTHER_HOSPITALS):
            other = Hospital.objects.create(name=f"Elsewhere {n}", city="Gent", country="BE")
            scanners_for(sites_for(other, OTHER_SITES), OTHER_SCANNERS, f"other{n}")
            other_users = users(OTHER_MEMBERS, f"other{n}")
            Membership.objects.bulk_create(
                Membership(
                    user=user, hospital=other, role=Role.MANAGER if i == 0 else Role.TECHNOLOGIST
                )
                for i, user in enumerate(other_users)
            )
            invitations_for(other, OTHER_INVITATIONS, other_users[0], f"other{n}")

        partners = Hospital.objects.bulk_create(
            Hospital(name=f"Partner {i:03d}", city="Brussels", country="BE")
            for i in range(PARTNER_HOSPITALS)
        )
        Membership.objects.bulk_create(
            Membership(user=manager, hospital=p, role=Role.TECHNOLOGIST) for p in partners
        )
        token = Token.objects.create(user=manager)

    from django.db import connection

    if connection.vendor == "postgresql":
        # What autovacuum does within a minute of a bulk load; without it the planner guesses.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    return Seeded(
        token=token.key,
        home_id=home.pk,
        visible_hospital_ids=frozenset([home.pk, *(p.pk for p in partners)]),
        seconds=time.perf_counter() - started,
    )


# --- What each endpoint must answer ---------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    name: str
    path: str
    count: int
    keys: frozenset[str]
    hospital_key: str  # the result field naming the hospital, checked against what is visible
    allowed_hospitals: frozenset[int]
    page_size: int = 50
    rps_target: float = RPS_TARGET
    p95_target_ms: float = P95_TARGET_MS
    cpu_target_ms: float = CPU_TARGET_MS

    def url(self, page_size: int | None = None) -> str:
        return f"{self.path}?page_size={page_size or self.page_size}"

    def problem(self, status: int, body: bytes, page_size: int | None = None) -> str | None:
        """Why this response is wrong, or None: status, count, page length, fields, tenancy."""
        if status != 200:
            return f"{self.path}: HTTP {status}: {body[:200]!r}"
        try:
            data = json.loads(body)
        except ValueError:
            return f"{self.path}: not JSON: {body[:200]!r}"
        if not isinstance(data, dict) or not {"count", "results"} <= data.keys():
            return f"{self.path}: not a paginated list: {body[:200]!r}"
        if data["count"] != self.count:
            return f"{self.path}: count {data['count']}, expected {self.count}"
        results = data["results"]
        expected_len = min(page_size or self.page_size, self.count)
        if len(results) != expected_len:
            return f"{self.path}: {len(results)} results on page 1, expected {expected_len}"
        for row in results:
            missing = self.keys - row.keys()
            if missing:
                return f"{self.path}: result lacks {sorted(missing)}"
            if row[self.hospital_key] not in self.allowed_hospitals:
                return f"{self.path}: result from hospital {row[self.hospital_key]} leaked"
        return None


def endpoints(seeded: Seeded) -> list[Endpoint]:
    home = frozenset([seeded.home_id])
    visible = seeded.visible_hospital_ids
    scanners = Endpoint(
        "scanners_list", "/api/v1/scanners/", HOME_SCANNERS, SCANNER_KEYS, "hospital", home
    )
    return [
        Endpoint(
            "hospitals_list", "/api/v1/hospitals/", len(visible), HOSPITAL_KEYS, "id", visible
        ),
        Endpoint("sites_list", "/api/v1/sites/", HOME_SITES, SITE_KEYS, "hospital", home),
        scanners,
        Endpoint(
            "scanners_list_200",
            scanners.path,
            scanners.count,
            scanners.keys,
            "hospital",
            home,
            page_size=200,
            rps_target=RPS_TARGET_PAGE_200,
            p95_target_ms=P95_TARGET_MS_PAGE_200,
            cpu_target_ms=CPU_TARGET_MS_PAGE_200,
        ),
        Endpoint(
            "memberships_list",
            "/api/v1/memberships/",
            HOME_MEMBERS + PARTNER_HOSPITALS,
            MEMBERSHIP_KEYS,
            "hospital",
            visible,
        ),
        Endpoint(
            "invitations_list",
            "/api/v1/invitations/",
            HOME_INVITATIONS,
            INVITATION_KEYS,
            "hospital",
            home,
        ),
    ]


# --- Queries per request, in-process ---------------------------------------------------------


@dataclass
class QueryCount:
    per_page_size: dict[int, int]
    slowest_ms: float
    slowest_sql: str

    @property
    def constant(self) -> bool:
        return len(set(self.per_page_size.values())) == 1


def count_queries(endpoint: Endpoint, token: str) -> QueryCount:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    client = APIClient(HTTP_HOST="127.0.0.1")
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    counts: dict[int, int] = {}
    slowest = (0.0, "")
    for page_size in (50, 200):
        client.get(endpoint.url(page_size))  # warm: first-use caches are not the endpoint's cost
        with CaptureQueriesContext(connection) as captured:
            response = client.get(endpoint.url(page_size))
        problem = endpoint.problem(response.status_code, response.content, page_size)
        if problem:
            raise BenchFailure(f"in-process: {problem}")
        counts[page_size] = len(captured)
        for query in captured.captured_queries:
            ms = float(query["time"]) * 1000
            if ms > slowest[0]:
                slowest = (ms, query["sql"])
    return QueryCount(counts, slowest[0], slowest[1])


# --- Daphne and the HTTP load ----------------------------------------------------------------


Check = Callable[[int, bytes], str | None]


class BenchFailure(Exception):
    """The server failed or answered wrongly: the figures would be worthless."""


def listening_socket() -> socket.socket:
    """One TCP socket on a free port that every Daphne child accepts from (`daphne --fd`)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


@dataclass
class Daphnes:
    """The Daphne children serving the shared socket, and their logs."""

    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def check_alive(self) -> None:
        for i, (process, log) in enumerate(zip(self.processes, self.logs, strict=True)):
            if process.poll() is not None:
                raise BenchFailure(
                    f"daphne {i} (pid {process.pid}) exited with {process.returncode}:\n{tail(log)}"
                )

    def stop(self) -> None:
        """Terminate all, give them 10 s together, then kill whichever is left."""
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


def accepting(pid: int, socket_inode: int) -> bool:
    """Whether the process watches the listening socket in an epoll set, i.e. accepts from it.

    Answers True where /proc is missing: there, the port answering has to do.
    """
    if not Path("/proc/self/fdinfo").is_dir():
        return True
    fds = Path(f"/proc/{pid}/fd")
    target = f"socket:[{socket_inode}]"
    try:
        for fd in fds.iterdir():
            if os.readlink(fd) != "anon_inode:[eventpoll]":
                continue
            for line in Path(f"/proc/{pid}/fdinfo/{fd.name}").read_text().splitlines():
                if line.startswith("tfd:") and os.readlink(fds / line.split()[1]) == target:
                    return True
    except (OSError, IndexError):
        pass  # an fd closed under us, or the process is gone: ask again
    return False


def start_daphnes(count: int, token: str) -> tuple[Daphnes, int]:
    """`count` Daphne children on one shared socket; returns once every one of them accepts."""
    daphne = Path(sys.executable).parent / "daphne"
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    daphnes = Daphnes()
    with listening_socket() as listener:
        port = int(listener.getsockname()[1])
        inode = os.fstat(listener.fileno()).st_ino
        try:
            for i in range(count):
                log = DATA_DIR / f"daphne-{i}.log"
                with log.open("wb") as out:
                    daphnes.processes.append(
                        subprocess.Popen(
                            [
                                str(daphne),
                                "--fd",
                                str(listener.fileno()),
                                # No access log: -v 1 (the default) would write one to stdout.
                                "-v",
                                "0",
                                "wescan.asgi:application",
                            ],
                            cwd=ROOT,
                            env=os.environ.copy(),
                            stdout=out,
                            stderr=subprocess.STDOUT,
                            pass_fds=(listener.fileno(),),
                        )
                    )
                daphnes.logs.append(log)
        except BaseException:
            daphnes.stop()
            raise
    # The children hold the socket now; with our copy closed, a dead server refuses at once.
    try:
        wait_until_serving(daphnes, inode, port, token)
    except BaseException:
        daphnes.stop()
        raise
    return daphnes, port


def wait_until_serving(daphnes: Daphnes, inode: int, port: int, token: str) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    answered = False
    while time.monotonic() < deadline:
        daphnes.check_alive()
        if not answered:
            probe = HttpClient(port, token)
            try:
                status, _body = probe.get("/api/v1/me/")
            except OSError:
                time.sleep(0.1)
                continue
            finally:
                probe.connection.close()
            if status != 200:
                raise BenchFailure(
                    f"daphne answers /api/v1/me/ with HTTP {status}:\n{tail(daphnes.logs[0])}"
                )
            answered = True
        # One process answering is not enough: a child still importing Django would leave all
        # the clients' connections to the others.
        if all(accepting(pid, inode) for pid in daphnes.pids):
            return
        time.sleep(0.1)
    logs = "\n".join(f"--- {log.name}\n{tail(log)}" for log in daphnes.logs)
    raise BenchFailure(
        f"the {len(daphnes.processes)} daphne processes were not all serving within "
        f"{SERVER_START_TIMEOUT:.0f} s:\n{logs}"
    )


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class HttpClient:
    """One keep-alive connection; http.client reopens it if the server closed it."""

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
    requests: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    client_cores: float = 0.0
    server_cores_each: list[float] = field(default_factory=list)  # one per Daphne process

    @property
    def server_cores(self) -> float:
        return sum(self.server_cores_each)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def server_cpu_ms(self) -> float:
        return self.server_cores * self.seconds * 1000 / self.requests

    def percentile(self, p: int) -> float:
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[p - 1]


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU the server process has used so far (Linux), or NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def load(
    url: str,
    check: Check,
    port: int,
    token: str,
    server_pids: list[int],
    *,
    warmup: float = WARMUP_SECONDS,
    seconds: float = MEASURE_SECONDS,
) -> LoadResult:
    """CONCURRENCY closed-loop clients; only requests started after the warm-up count."""
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + seconds
    lock = threading.Lock()
    result = LoadResult(requests=0, seconds=seconds)

    def worker() -> None:
        client = HttpClient(port, token)
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
                problem = check(status, body)
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
                result.requests += len(mine)

    threads = [threading.Thread(target=worker) for _ in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, measure_from - time.perf_counter()))
    client_from = time.process_time()
    servers_from = [server_cpu_seconds(pid) for pid in server_pids]
    time.sleep(max(0.0, stop_at - time.perf_counter()))
    result.client_cores = (time.process_time() - client_from) / seconds
    result.server_cores_each = [
        (server_cpu_seconds(pid) - before) / seconds
        for pid, before in zip(server_pids, servers_from, strict=True)
    ]
    for thread in threads:
        thread.join()
    return result


def api_root_problem(status: int, body: bytes) -> str | None:
    """The baseline: DRF's API root costs what every request costs (Daphne, middleware, token)."""
    if status != 200:
        return f"/api/v1/: HTTP {status}: {body[:200]!r}"
    try:
        data = json.loads(body)
    except ValueError:
        return f"/api/v1/: not JSON: {body[:200]!r}"
    if not isinstance(data, dict) or "scanners" not in data:
        return f"/api/v1/: not the API root: {body[:200]!r}"
    return None


# --- Report ---------------------------------------------------------------------------------


def figure(name: str, value: str, unit: str, target: str, missed: bool = False) -> None:
    print(f"bench: {name} = {value} {unit} (target {target}){' MISSED' if missed else ''}")


def report(endpoint: Endpoint, result: LoadResult, queries: QueryCount | None) -> None:
    prefix = f"api_{endpoint.name}"
    p50, p95 = result.percentile(50), result.percentile(95)
    figure(
        f"{prefix}_rps",
        f"{result.rps:.0f}",
        "req/s",
        f"≥ {endpoint.rps_target:.0f}",
        result.rps < endpoint.rps_target,
    )
    figure(f"{prefix}_p50", f"{p50:.1f}", "ms", "—")
    figure(
        f"{prefix}_p95",
        f"{p95:.1f}",
        "ms",
        f"≤ {endpoint.p95_target_ms:.0f}",
        p95 > endpoint.p95_target_ms,
    )
    figure(
        f"{prefix}_server_cpu",
        f"{result.server_cpu_ms:.1f}",
        "ms/request",
        f"≤ {endpoint.cpu_target_ms:.0f}",
        result.server_cpu_ms > endpoint.cpu_target_ms,
    )
    if queries is not None:
        worst = max(queries.per_page_size.values())
        missed = not queries.constant or worst > QUERIES_TARGET
        by_size = ", ".join(f"page_size={s}: {n}" for s, n in queries.per_page_size.items())
        suffix = "" if queries.constant else f" — grows with the page ({by_size}): N+1"
        print(
            f"bench: {prefix}_queries = {worst} queries/request "
            f"(target constant, ≤ {QUERIES_TARGET}){' MISSED' if missed else ''}{suffix}"
        )


def cpu_note(name: str, result: LoadResult) -> None:
    each = " + ".join(f"{cores:.2f}" for cores in result.server_cores_each)
    print(
        f"load: {name}: {result.requests} requests measured; CPU used: Daphne "
        f"{result.server_cores:.2f} cores ({each}), the {CONCURRENCY} clients "
        f"{result.client_cores:.2f}, load average {os.getloadavg()[0]:.1f}"
    )


def measured(name: str, result: LoadResult, failures: list[str]) -> bool:
    if result.errors:
        failures.append(f"{name}: {result.errors[0]}")
        return False
    if len(result.latencies_ms) < 2:
        failures.append(f"{name}: only {result.requests} requests measured")
        return False
    return True


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
        print(
            f"setup: {database.description}, settings {os.environ['DJANGO_SETTINGS_MODULE']}, "
            f"migrated in {migrated:.1f} s, seeded in {seeded.seconds:.1f} s"
        )
        print(
            f"setup: manager of 1 hospital ({HOME_SITES} sites, {HOME_SCANNERS} scanners, "
            f"{HOME_MEMBERS} members, {HOME_INVITATIONS} invitations), technologist in "
            f"{PARTNER_HOSPITALS} partner hospitals; {OTHER_HOSPITALS} other hospitals "
            f"({OTHER_SCANNERS} scanners each) must stay invisible"
        )
        targets = endpoints(seeded)
        query_counts: dict[str, QueryCount] = {}
        for endpoint in targets:
            if endpoint.page_size != 50:
                continue  # same view as another entry: its queries are counted there
            counted = count_queries(endpoint, seeded.token)
            query_counts[endpoint.name] = counted
            print(
                f"queries: {endpoint.path} "
                + ", ".join(f"page_size={s}: {n}" for s, n in counted.per_page_size.items())
                + (
                    f"; slowest {counted.slowest_ms:.1f} ms: {counted.slowest_sql[:160]}"
                    if counted.slowest_sql
                    else "; every query under 1 ms"
                )
            )
        connections.close_all()

        if DAPHNE_PROCESSES < 1:
            raise BenchFailure(f"BENCH_DAPHNE_PROCESSES must be ≥ 1, not {DAPHNE_PROCESSES}")
        daphnes, port = start_daphnes(DAPHNE_PROCESSES, seeded.token)
        print(
            f"setup: {len(daphnes.processes)} daphne process"
            f"{'es' if len(daphnes.processes) > 1 else ''} sharing one socket on "
            f"127.0.0.1:{port} (pids {', '.join(map(str, daphnes.pids))}, logs "
            f"{DATA_DIR.relative_to(ROOT)}/daphne-<i>.log, no access log), "
            f"{CONCURRENCY} keep-alive clients, {WARMUP_SECONDS:g} s warm-up + "
            f"{MEASURE_SECONDS:g} s per endpoint; load average {os.getloadavg()[0]:.1f} on "
            f"{os.cpu_count()} CPUs"
        )
        baseline = load("/api/v1/", api_root_problem, port, seeded.token, daphnes.pids)
        daphnes.check_alive()
        if not measured("api_root", baseline, failures):
            raise BenchFailure("the baseline failed: no figure would mean anything")
        figure("api_root_rps", f"{baseline.rps:.0f}", "req/s", "— (baseline)")
        figure("api_root_server_cpu", f"{baseline.server_cpu_ms:.1f}", "ms/request", "— (baseline)")
        cpu_note("api_root", baseline)
        for endpoint in targets:
            result = load(endpoint.url(), endpoint.problem, port, seeded.token, daphnes.pids)
            daphnes.check_alive()
            if measured(endpoint.name, result, failures):
                report(endpoint, result, query_counts.get(endpoint.name))
                cpu_note(endpoint.name, result)
    except BenchFailure as exc:
        failures.append(str(exc))
    finally:
        if daphnes is not None:
            daphnes.stop()
        try:
            from django.db import connections

            connections.close_all()
        except Exception as exc:  # Django may not even be set up when the failure came early
            print(f"warning: closing connections: {exc!r}", file=sys.stderr)
        database.drop()
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
