"""What the benchmarks under bench/ share; not a benchmark itself (`make bench` runs bench_*.py).

- `run()`: a throwaway database (SQLite under bench/.data, or a separate database on the
  PostgreSQL server DATABASE_URL names, dropped at the end), migrated with wescan.settings.local
  (BENCH_SETTINGS overrides) and DEBUG off, seeded by the benchmark, which then measures; a
  server failure or a wrong answer fails the run, a missed target only prints MISSED.
- `start_daphnes()`: real Daphne processes serving that database as production runs them (README
  "Production": several per machine behind one address): BENCH_DAPHNE_PROCESSES of them (default
  one per CPU, at most 4) accept from one shared listening socket (`daphne --fd`), without an
  access log (the proxy in front logs).
- `load()`: closed-loop keep-alive clients that check every answer, with Daphne's CPU time. They
  are spread evenly over the processes (`connect_evenly()`): on a shared socket a connection
  goes to whichever process accepts first, and a few keep-alive clients could all land on one.
- `count_queries()`: SQL queries per request, in-process with the test client, per page size.
- `figure()`: the `bench: <name> = <value> <unit> (target …)` line.

A benchmark script imports it as `common`: run as `python bench/bench_x.py`, the script's own
folder is first on sys.path.
"""

import contextlib
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "bench" / ".data"
sys.path.insert(0, str(ROOT))

WARMUP_SECONDS = float(os.environ.get("BENCH_WARMUP_SECONDS", "1.5"))
SERVER_START_TIMEOUT = 30.0
# Production runs one Daphne per core behind a proxy; Django runs sync views on one thread per
# process, so a single process would leave the other cores idle.
DAPHNE_PROCESSES = int(os.environ.get("BENCH_DAPHNE_PROCESSES", "") or min(os.cpu_count() or 1, 4))
APPLICATION = "wescan.asgi:application"

Seeded = TypeVar("Seeded")


class BenchFailure(Exception):
    """The server failed or answered wrongly: the figures would be worthless."""


def figure(name: str, value: str, unit: str, target: str, missed: bool = False) -> None:
    unit = f" {unit}" if unit else ""
    print(f"bench: {name} = {value}{unit} (target {target}){' MISSED' if missed else ''}")


def percentile(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def machine() -> str:
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"


# --- Database -------------------------------------------------------------------------------


@dataclass
class Database:
    description: str
    env: dict[str, str]
    drop: Callable[[], None]


def prepare_database(name: str, postgres_name: str) -> Database:
    """A fresh, empty database for this run; never the one the developer works in.

    SQLite bench/.data/<name>.sqlite3, or, when DATABASE_URL names a PostgreSQL server, the
    database `postgres_name` (BENCH_DB_NAME overrides) on it.
    """
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        path = DATA_DIR / f"{name}.sqlite3"
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

    db_name = os.environ.get("BENCH_DB_NAME", postgres_name)
    if db_name == parts.path.lstrip("/"):
        raise SystemExit(
            f"error: refusing to use {db_name!r}: it is the database DATABASE_URL names"
        )
    # Connect to the server's maintenance database: DATABASE_URL's own is left untouched.
    admin_url = urlunsplit(parts._replace(path="/postgres"))

    def run(statement: sql.Composed) -> None:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(statement)

    drop_statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
        sql.Identifier(db_name)
    )
    run(drop_statement)
    run(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db_name)))
    return Database(
        f"PostgreSQL {parts.hostname}:{parts.port or 5432}/{db_name} (dropped afterwards)",
        {"DATABASE_URL": urlunsplit(parts._replace(path=f"/{db_name}"))},
        lambda: run(drop_statement),
    )


def configure_environment(database: Database) -> None:
    """One environment for this process and the Daphne children, so all see the same database."""
    os.environ.pop("DATABASE_URL", None)
    os.environ.update(database.env)
    os.environ["DJANGO_SETTINGS_MODULE"] = os.environ.get("BENCH_SETTINGS", "wescan.settings.local")
    os.environ["DJANGO_DEBUG"] = "0"  # DEBUG would keep every query in memory and slow all down
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1,localhost"
    os.environ.setdefault("LOG_LEVEL", "WARNING")


def analyze() -> None:
    """What autovacuum does within a minute of a bulk load; without it the planner guesses from
    empty tables. Nothing to do on SQLite."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


# --- One run --------------------------------------------------------------------------------


@dataclass
class Bench:
    """One benchmark run: its name, its database, what failed, and its Daphne processes."""

    name: str
    database: Database
    failures: list[str] = field(default_factory=list)
    daphnes: "Daphnes | None" = None

    def start_daphnes(self, probe_token: str) -> "Daphnes":
        """The servers, once the in-process work is done (its connections closed first)."""
        from django.db import connections

        connections.close_all()
        self.daphnes = start_daphnes(DAPHNE_PROCESSES, probe_token, self.name)
        return self.daphnes


def run(
    name: str,
    postgres_name: str,
    seed: Callable[[], Seeded],
    measure: Callable[[Bench, Seeded], None],
) -> int:
    """Prepare, migrate and `seed` a fresh database, print the set-up, `measure`, clean up.

    Returns the exit status: 1 when anything failed (printed as FAILED lines), else 0.
    """
    database = prepare_database(name, postgres_name)
    configure_environment(database)
    bench = Bench(name, database)
    try:
        import django

        django.setup()
        from django.core.management import call_command

        started = time.perf_counter()
        call_command("migrate", verbosity=0, interactive=False)
        migrated = time.perf_counter() - started
        started = time.perf_counter()
        seeded = seed()
        print(
            f"setup: {database.description}, settings {os.environ['DJANGO_SETTINGS_MODULE']}, "
            f"migrated in {migrated:.1f} s, seeded in {time.perf_counter() - started:.1f} s"
        )
        measure(bench, seeded)
    except BenchFailure as exc:
        bench.failures.append(str(exc))
    finally:
        if bench.daphnes is not None:
            bench.daphnes.stop()
        try:
            from django.db import connections

            connections.close_all()
        except Exception as exc:  # Django may not even be set up when the failure came early
            print(f"warning: closing connections: {exc!r}", file=sys.stderr)
        database.drop()
    for failure in bench.failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if bench.failures else 0


# --- Queries per request, in-process ---------------------------------------------------------


def api_token(user: Any) -> str:
    """The secret of a new personal access token of `user` (accounts.tokens), write scope, for a
    year, made as from a session that passed a second factor: it serves every role, managers and
    platform admins included."""
    from accounts.tokens import access_token_create

    return access_token_create(
        user=user, name="bench", scope="write", expires_in_days=365, with_second_factor=True
    ).secret


def api_client(token: str) -> Any:
    """Django's test client for the API, in this process, as the owner of `token`."""
    from rest_framework.test import APIClient

    client = APIClient(HTTP_HOST="127.0.0.1")
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@dataclass
class QueryCount:
    per_page_size: dict[int, int]
    slowest_ms: float
    slowest_sql: str

    @property
    def constant(self) -> bool:
        return len(set(self.per_page_size.values())) == 1

    @property
    def by_size(self) -> str:
        return ", ".join(f"page_size={s}: {n}" for s, n in self.per_page_size.items())


def count_queries(
    token: str,
    page_sizes: Sequence[int],
    url: Callable[[int], str],
    problem: Callable[[int, bytes, int], str | None],
) -> QueryCount:
    """SQL queries for one request of each page size, after one to warm up; `problem(status,
    body, page_size)` says what is wrong with an answer (a wrong answer fails the run)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = api_client(token)
    counts: dict[int, int] = {}
    slowest = (0.0, "")
    for page_size in page_sizes:
        client.get(url(page_size))  # warm: first-use caches are not the endpoint's cost
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url(page_size))
        wrong = problem(response.status_code, response.content, page_size)
        if wrong:
            raise BenchFailure(f"in-process: {wrong}")
        counts[page_size] = len(captured)
        for query in captured.captured_queries:
            ms = float(query["time"]) * 1000
            if ms > slowest[0]:
                slowest = (ms, query["sql"])
    return QueryCount(counts, slowest[0], slowest[1])


# --- Daphne ---------------------------------------------------------------------------------


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
    """The Daphne children serving the shared socket on `port`, and their logs."""

    port: int = 0
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def describe(self) -> str:
        count = len(self.processes)
        logs = self.logs[0].name.replace("-0.log", "-<i>.log") if self.logs else "-"
        return (
            f"{count} daphne process{'es' if count > 1 else ''} sharing one socket on "
            f"127.0.0.1:{self.port} (pids {', '.join(map(str, self.pids))}, logs "
            f"{DATA_DIR.relative_to(ROOT)}/{logs}, no access log)"
        )

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


def start_daphnes(count: int, probe_token: str, name: str) -> Daphnes:
    """`count` Daphne children on one shared socket; returns once every one of them accepts.
    Their logs are bench/.data/<name>-daphne-<i>.log."""
    if count < 1:
        raise BenchFailure(f"BENCH_DAPHNE_PROCESSES must be ≥ 1, not {count}")
    daphne = Path(sys.executable).parent / "daphne"
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    daphnes = Daphnes()
    with listening_socket() as listener:
        daphnes.port = int(listener.getsockname()[1])
        inode = os.fstat(listener.fileno()).st_ino
        try:
            for i in range(count):
                log = DATA_DIR / f"{name}-daphne-{i}.log"
                with log.open("wb") as out:
                    daphnes.processes.append(
                        subprocess.Popen(
                            # -v 0: no access log (-v 1, the default, writes one to stdout).
                            [str(daphne), "--fd", str(listener.fileno()), "-v", "0", APPLICATION],
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
        wait_until_serving(daphnes, inode, probe_token)
    except BaseException:
        daphnes.stop()
        raise
    return daphnes


def wait_until_serving(daphnes: Daphnes, inode: int, token: str) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    answered = False
    while time.monotonic() < deadline:
        daphnes.check_alive()
        if not answered:
            probe = HttpClient(daphnes.port, token)
            try:
                status, body = probe.get("/api/v1/me/")
            except OSError:
                time.sleep(0.1)
                continue
            finally:
                probe.connection.close()
            if status != 200:
                raise BenchFailure(
                    f"daphne answers /api/v1/me/ with HTTP {status}: {body[:200]!r}\n"
                    f"{tail(daphnes.logs[0])}"
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


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU the server process has used so far (Linux), or NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def _established(port: int) -> list[tuple[int, str]]:
    """(client port, socket) for each established connection to `port` (Linux); [] elsewhere."""
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return []
    found = []
    for line in lines:
        # sl, local address, remote address, state (01: established), ..., inode
        fields = line.split()
        if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:
            found.append((int(fields[2].rsplit(":", 1)[1], 16), f"socket:[{fields[9]}]"))
    return found


def _holders(daphnes: Daphnes, sockets: set[str]) -> dict[str, int]:
    """Which Daphne process (its index) holds each of these sockets."""
    held = {}
    for i, pid in enumerate(daphnes.pids):
        with contextlib.suppress(OSError):  # the process, or an fd, went away under us
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    if (target := os.readlink(fd)) in sockets:
                        held[target] = i
    return held


def connections_each(daphnes: Daphnes) -> list[int]:
    """The clients' established connections per Daphne process (Linux), [] elsewhere."""
    held = _holders(daphnes, {sock for _port, sock in _established(daphnes.port)})
    return [sum(1 for i in held.values() if i == n) for n in range(len(daphnes.processes))]


def process_serving(daphnes: Daphnes, client: "HttpClient") -> int | None:
    """The index of the Daphne process that accepted this client's connection, or None where
    /proc cannot tell. Waits for the accept: a connection can sit in the socket's queue."""
    client_port = client.connection.sock.getsockname()[1]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        established = _established(daphnes.port)
        if not established:
            return None
        sockets = {sock for port, sock in established if port == client_port}
        if held := _holders(daphnes, sockets):
            return next(iter(held.values()))
        time.sleep(0.002)
    raise BenchFailure(f"no daphne process accepted a connection within 5 s: {daphnes.describe()}")


def connect_evenly(daphnes: Daphnes, tokens: Sequence[str]) -> list["HttpClient"]:
    """One connected keep-alive client per token, spread evenly over the Daphne processes.

    On one shared socket each new connection goes to whichever process accepts first, so a few
    keep-alive clients can all land on one process while another idles, and the figures would
    measure that luck. A client that lands on a process holding more clients than another
    reconnects, so the counts differ by one at most.
    """
    held = [0] * len(daphnes.processes)
    clients: list[HttpClient] = []
    try:
        for token in tokens:
            for _attempt in range(200):
                client = HttpClient(daphnes.port, token)
                clients.append(client)
                client.connection.connect()
                serving = process_serving(daphnes, client)
                if serving is None:  # cannot tell: take the kernel's choice
                    break
                if held[serving] == min(held):
                    held[serving] += 1
                    break
                clients.pop().connection.close()
            else:
                raise BenchFailure(
                    f"could not spread {len(tokens)} connections over {daphnes.describe()}: {held}"
                )
    except BaseException:
        for client in clients:
            client.connection.close()
        raise
    return clients


# --- The HTTP load --------------------------------------------------------------------------


class HttpClient:
    """One keep-alive connection with one user's token; http.client reopens it if the server
    closed it."""

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


Check = Callable[[int, bytes], str | None]  # (status, body) -> what is wrong, or None


@dataclass(frozen=True)
class Caller:
    """Whom a client calls as, and how its answers are checked."""

    token: str
    check: Check


@dataclass
class LoadResult:
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    client_cores: float = 0.0
    server_cores_each: list[float] = field(default_factory=list)  # one per Daphne process
    connections_each: list[int] = field(default_factory=list)  # one per Daphne process

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    @property
    def server_cores(self) -> float:
        return sum(self.server_cores_each)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def server_cpu_ms(self) -> float:
        return self.server_cores * self.seconds * 1000 / max(1, self.requests)

    @property
    def spread(self) -> str:
        """Daphne's cores in all and per process, and the clients' connections per process."""
        cores = " + ".join(f"{each:.2f}" for each in self.server_cores_each)
        connections = " + ".join(map(str, self.connections_each)) or "?"
        return f"{self.server_cores:.2f} cores ({cores}; connections {connections})"

    def percentile(self, p: int) -> float:
        return percentile(self.latencies_ms, p)

    def problem(self) -> str | None:
        """Why no figure can be drawn from this load, or None."""
        if self.errors:
            return self.errors[0]
        if self.requests < 2:
            return f"only {self.requests} requests measured"
        return None


def load(
    daphnes: Daphnes,
    url: str,
    callers: Sequence[Caller],
    *,
    concurrency: int,
    seconds: float,
    warmup: float = WARMUP_SECONDS,
) -> LoadResult:
    """`concurrency` closed-loop keep-alive clients, client i as callers[i mod len(callers)],
    spread evenly over the Daphne processes; every answer is checked, and only requests started
    after the warm-up count."""
    chosen = [callers[i % len(callers)] for i in range(concurrency)]
    clients = connect_evenly(daphnes, [caller.token for caller in chosen])
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + seconds
    lock = threading.Lock()
    result = LoadResult(seconds=seconds)

    def worker(caller: Caller, client: HttpClient) -> None:
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
                problem = caller.check(status, body)
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
        threading.Thread(target=worker, args=pair) for pair in zip(chosen, clients, strict=True)
    ]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, measure_from - time.perf_counter()))
    client_from = time.process_time()
    servers_from = [server_cpu_seconds(pid) for pid in daphnes.pids]
    result.connections_each = connections_each(daphnes)
    time.sleep(max(0.0, stop_at - time.perf_counter()))
    result.client_cores = (time.process_time() - client_from) / seconds
    result.server_cores_each = [
        (server_cpu_seconds(pid) - before) / seconds
        for pid, before in zip(daphnes.pids, servers_from, strict=True)
    ]
    for thread in threads:
        thread.join()
    return result


def json_answer(where: str, status: int, body: bytes) -> tuple[Any, str | None]:
    """The JSON of a 200 answer, or None and what is wrong with the answer."""
    if status != 200:
        return None, f"{where}: HTTP {status}: {body[:200]!r}"
    try:
        return json.loads(body), None
    except ValueError:
        return None, f"{where}: not JSON: {body[:200]!r}"


def api_root_problem(status: int, body: bytes) -> str | None:
    """The baseline: DRF's API root costs what every request costs (Daphne, middleware, token)."""
    data, problem = json_answer("/api/v1/", status, body)
    if problem:
        return problem
    if not isinstance(data, dict) or not {"scanners", "postings"} <= data.keys():
        return f"/api/v1/: not the API root: {body[:200]!r}"
    return None


# --- One Daphne per port, Redis, sessions (the cockpit and assist benches) --------------------


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise BenchFailure(
                f"{self.name} (pid {self.process.pid}) exited with {self.process.returncode}:\n"
                f"{tail(self.log)}"
            )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_daphne(
    bench: str, index: int, run_name: str, env: dict[str, str], application: str = APPLICATION
) -> Server:
    """One Daphne process serving `application` on its own port (so that the load generator
    chooses which process each client talks to), without an access log; its output in
    bench/.data/<bench>-<run>-daphne-N."""
    daphne = Path(sys.executable).parent / "daphne"
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    log = DATA_DIR / f"{bench}-{run_name}-daphne-{index}.log"
    with listening_socket() as listener, log.open("wb") as out:
        port = int(listener.getsockname()[1])
        process = subprocess.Popen(
            [str(daphne), "--fd", str(listener.fileno()), "-v", "0", application],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            pass_fds=(listener.fileno(),),
        )
    server = Server(f"daphne {run_name} {index}", port, process, log)
    deadline = time.monotonic() + 30
    while True:
        server.check_alive()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request("GET", "/accounts/login/")
            status = connection.getresponse().status
        except OSError:
            status = 0
        finally:
            connection.close()
        if 0 < status < 500:
            return server
        if time.monotonic() > deadline:
            server.stop()
            raise BenchFailure(f"{server.name} did not serve within 30 s:\n{tail(log)}")
        time.sleep(0.2)


def redis_url(db: int) -> str | None:
    """A benchmark's Redis database `db` on REDIS_URL's server, or on 127.0.0.1:6379 when it
    answers there; None when there is no Redis."""
    import redis

    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    url = urlunsplit(urlsplit(url)._replace(path=f"/{db}"))
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        if os.environ.get("REDIS_URL"):
            raise SystemExit(f"error: REDIS_URL is set but Redis does not answer: {exc}") from None
        return None
    return url


def flush_redis(url: str | None) -> None:
    if url:
        import redis

        redis.Redis.from_url(url).flushdb()


def second_factor_enrol(users: Sequence[Any]) -> None:
    """Give each of `users` an authenticator app, as setting one up does: a cockpit (and every
    page for managers and local staff) needs one (accounts.second_factor)."""
    import pyotp
    from allauth.mfa.models import Authenticator
    from allauth.mfa.utils import encrypt

    secret = {"secret": encrypt(pyotp.random_base32())}  # what TOTP.activate stores
    Authenticator.objects.bulk_create(
        Authenticator(user=user, type=Authenticator.Type.TOTP, data=secret) for user in users
    )


def session_cookie(user: Any) -> str:
    """A signed-in Django session for `user`, for the `sessionid` cookie: what allauth's sign-in
    stores, with the password and, when the person has one, the second factor."""
    from allauth.account.internal.flows.login import record_authentication
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.http import HttpRequest

    from accounts.second_factor import second_factor_enrolled

    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    if second_factor_enrolled(user):
        carrier = HttpRequest()
        carrier.session = store
        record_authentication(carrier, user, "password", email=user.email)
        record_authentication(carrier, user, "mfa", type="totp")
    store.create()
    assert store.session_key is not None
    return store.session_key


@contextlib.contextmanager
def daphnes_running(
    bench: str, run_name: str, count: int, url: str | None, application: str = APPLICATION
) -> Iterator[list[Server]]:
    """`count` Daphne processes serving `application` for one run of `bench`: on the Redis
    channel layer at `url` (flushed before and after), else in memory; stopped however the run
    ends."""
    env = os.environ.copy()
    if url:
        env["REDIS_URL"] = url
        flush_redis(url)
    servers: list[Server] = []
    try:
        for index in range(count):
            servers.append(start_daphne(bench, index, run_name, env, application))
        print(
            f"setup: {run_name}: {count} daphne process{'es' if count > 1 else ''} "
            f"(pids {', '.join(str(s.process.pid) for s in servers)}), channel layer "
            f"{'Redis ' + url if url else 'in-memory'}"
        )
        yield servers
    finally:
        for server in servers:
            server.stop()
        flush_redis(url)


# --- The balancer in front of several Daphnes (the cockpit benches) ---------------------------

# The benches' balancer listens on the first free port from here (BENCH_BALANCER_PORT).
BALANCER_PORT = int(os.environ.get("BENCH_BALANCER_PORT", "8300"))


def free_port(first: int, count: int = 100) -> int:
    """The first port from `first` nobody listens on."""
    for port in range(first, first + count):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise BenchFailure(f"no free port in {first}-{first + count - 1}")


def start_balancer(bench: str, run_name: str, backends: Sequence[int]) -> Server:
    """HAProxy (the distribution's) in front of `backends`, configured as production runs it
    (wescan.cluster.haproxy_config), answering once every Daphne is UP in its view; its config
    and log in bench/.data/<bench>-<run>-haproxy.*."""
    import shutil

    from wescan.cluster import haproxy_config

    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(haproxy).exists():
        raise BenchFailure("no haproxy: `bash scripts/system-packages.sh haproxy`")
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    config = DATA_DIR / f"{bench}-{run_name}-haproxy.cfg"
    stats = DATA_DIR / f"{bench}-{run_name}-haproxy.sock"
    log = DATA_DIR / f"{bench}-{run_name}-haproxy.log"
    port = free_port(BALANCER_PORT)
    config.write_text(haproxy_config(port=port, daphne_ports=backends, stats_socket=stats))
    with log.open("wb") as out:
        process = subprocess.Popen(
            [haproxy, "-db", "-f", str(config)], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(f"haproxy {run_name}", port, process, log)
    deadline = time.monotonic() + 30
    while True:
        server.check_alive()
        states = balancer_states(stats)
        if len(states) == len(backends) and all(s == "UP" for s in states.values()):
            return server
        if time.monotonic() > deadline:
            server.stop()
            raise BenchFailure(f"haproxy did not see every daphne UP within 30 s: {states}")
        time.sleep(0.2)


def balancer_states(stats: Path) -> dict[str, str]:
    """HAProxy's view of its Daphnes ({"daphne0": "UP", ...}), from its stats socket."""
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2)
            sock.connect(str(stats))
            sock.sendall(b"show stat\n")
            raw = b""
            while chunk := sock.recv(65536):
                raw += chunk
    except OSError:
        return {}
    rows = [line.split(",") for line in raw.decode().splitlines() if line and line[0] != "#"]
    return {row[1]: row[17].split()[0] for row in rows if row[1].startswith("daphne")}


def redis_cpu_seconds(url: str | None) -> float:
    """The Redis server's own CPU so far (INFO cpu: user + system), or NaN without Redis."""
    if not url:
        return float("nan")
    import redis

    info = redis.Redis.from_url(url).info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def rss_mb(pid: int) -> float:
    """A process's resident memory in MB (Linux), or NaN."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


@contextlib.contextmanager
def balanced_daphnes(
    bench: str, run_name: str, count: int, url: str | None, application: str = APPLICATION
) -> Iterator[tuple[list[Server], Server]]:
    """`daphnes_running` behind HAProxy: the Daphnes, and the balancer every client talks to."""
    with daphnes_running(bench, run_name, count, url, application) as servers:
        balancer = start_balancer(bench, run_name, [s.port for s in servers])
        try:
            print(
                f"setup: {run_name}: haproxy (pid {balancer.process.pid}) on "
                f"127.0.0.1:{balancer.port}, balance leastconn over the {count} daphnes"
            )
            yield servers, balancer
        finally:
            balancer.stop()
