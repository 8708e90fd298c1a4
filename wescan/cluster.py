"""WeScan's production mode on one machine, as a hospital group runs it on several: PostgreSQL,
Redis, N Daphne processes behind HAProxy (HTTP and websockets balanced, health-checked), a Celery
worker and beat, and the scanner agents. `make cluster` runs it in the foreground:

    python -m wescan.cluster [--daphnes N] [--port P] [--workdir DIR]

and tests and benchmarks start it from Python, then pull the plug on one piece:

    config = ClusterConfig(workdir=Path("/tmp/x"), port=8400, daphnes=2,
                           postgres_port=5530, redis_port=6430)
    with Cluster(config) as cluster:       # start(): every piece up, the balancer answering
        cluster.url, cluster.ws_url        # through HAProxy
        cluster.kill_daphne(1)             # SIGKILL, as a crash; start_daphne(1) brings it back
        cluster.restart_redis()            # private instances only
        cluster.backend_states()           # {"daphne1": "DOWN", "daphne2": "UP"}

Daphne i (1..N) listens on port + i; HAProxy on port. With no `database_url` the cluster runs a
PostgreSQL 15 of its own (initdb under workdir/postgres, trust authentication on 127.0.0.1 only:
for local use), with no `redis_url` a redis-server of its own (no persistence: what Redis holds
is rebuilt or lost by design, docs/deploy.md). Each piece logs to workdir/logs/<piece>.log.
Every process runs in a process group of its own; stop() ends them all (and start() does when it
fails half-way): the balancer, the Daphnes, Celery and the agents together, then Redis and
PostgreSQL, which the others need to stop cleanly.

The production settings (wescan.settings.production) run over plain http on 127.0.0.1 with the
switches meant for one's own machine only: SECURE_SSL_REDIRECT=0, SECURE_HSTS_SECONDS=0,
SECURE_COOKIES=0, ACCOUNT_DEFAULT_HTTP_PROTOCOL=http; mail is written to files under
workdir/mail; the SECRET_KEY is generated once and kept in workdir/secret_key.
"""

import argparse
import contextlib
import csv
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_BIN = Path(os.environ.get("POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))
HOST = "127.0.0.1"
DATABASE_NAME = "wescan"
BACKEND = "daphnes"  # HAProxy's backend of Daphne processes
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 15.0
STORES = ("postgres", "redis")  # what the other pieces need, stopped after them


class ClusterError(Exception):
    """A piece did not start (its log's last lines say why), or a move the cluster refuses."""


@dataclass
class ClusterConfig:
    workdir: Path
    port: int = 8200
    daphnes: int = 2
    database_url: str | None = None  # None: a private PostgreSQL 15 under workdir
    redis_url: str | None = None  # None: a private redis-server under workdir
    postgres_port: int = 5510
    redis_port: int = 6410
    celery: bool = True
    agents: bool = True
    demo: bool = True
    # Extra arguments of `manage.py scanner_agent` (e.g. ["--no-alarms"]).
    agent_options: Sequence[str] = ()
    # collectstatic (the pages need it; a test that only uses websockets and the API may skip
    # its seconds: the pages then answer 500).
    static: bool = True
    # The private PostgreSQL's fsync: off only where losing the data on a power cut is fine
    # (throwaway test clusters); it makes migrations several times faster.
    postgres_fsync: bool = True


@dataclass
class Piece:
    """One process of the cluster, in a process group of its own, logging to its file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    user: str | None = None  # run as this OS user (PostgreSQL, when we are root)
    stop_signal: int = signal.SIGTERM
    group_stop: bool = True  # signal the whole group (else the leader, which stops the rest)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting\n".encode())
            log.flush()
            self.process = subprocess.Popen(  # noqa: S603 (argv of our own making)
                self.argv,
                cwd="/" if self.user else ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=self.user,
            )

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _signal(self, signum: int, *, group: bool) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(self.process.pid, signum)
            else:
                self.process.send_signal(signum)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """The piece's own way of stopping, then SIGKILL for whatever is left of its group."""
        self.stop_begin()
        self.stop_end(timeout)

    def stop_begin(self) -> None:
        """The piece's own way of stopping, asked for; stop_end() waits for it (so that several
        pieces stop at the same time)."""
        if self.process is not None and self.process.poll() is None:
            self._signal(self.stop_signal, group=self.group_stop)

    def stop_end(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stopped within `timeout` after stop_begin(), else killed; SIGKILL for whatever is
        left of its group."""
        if self.process is None:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout)
        self._signal(signal.SIGKILL, group=True)  # children that outlived their leader
        self.process.wait()
        self.process = None

    def kill(self) -> None:
        """Gone at once, children too, as in a crash."""
        if self.process is None:
            return
        self._signal(signal.SIGKILL, group=True)
        self.process.wait()
        self.process = None

    def said(self, text: str) -> bool:
        """`text` is in the log since the piece last started (however much it logged since)."""
        try:
            log = self.log.read_text(errors="replace")
        except FileNotFoundError:
            return False
        return text in log[log.rfind(" starting\n") :]

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def wait_until(
    check: Callable[[], bool],
    what: str,
    *,
    timeout: float = START_TIMEOUT_S,
    piece: Piece | None = None,
) -> None:
    """Poll `check` until it holds; fail (with the piece's log) when `piece` died or when
    time ran out."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if piece is not None and not piece.alive():
            raise ClusterError(f"{piece.name} exited while {what}:\n{piece.tail()}")
        if time.monotonic() > deadline:
            log = f"\n{piece.tail()}" if piece else ""
            raise ClusterError(f"timed out after {timeout:.0f} s: {what}{log}")
        time.sleep(0.1)


def http_ok(url: str, timeout: float = 2.0) -> bool:
    import http.client

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or HOST, parts.port, timeout=timeout)
    try:
        connection.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def redis_pings(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def secret_key(workdir: Path) -> str:
    """This cluster's SECRET_KEY, made once and kept (sessions outlive a restart)."""
    path = workdir / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


def haproxy_config(*, port: int, daphne_ports: Sequence[int], stats_socket: Path) -> str:
    """HAProxy in front of the Daphne processes (docs/deploy.md explains each line)."""
    servers = "\n".join(
        f"    server daphne{i} {HOST}:{daphne_port}"
        for i, daphne_port in enumerate(daphne_ports, 1)
    )
    return f"""\
global
    stats socket {stats_socket} mode 600 level admin
    log stdout format raw local0 info
    maxconn 8000
    # One thread: it forwards a few thousand websocket messages a second, which one thread
    # does for less CPU than a thread per core waking each other (measured by bench_cockpit).
    nbthread 1
    # Stopping (SIGUSR1) lets connections finish for at most this long.
    hard-stop-after 3s

defaults
    mode http
    log global
    option httplog
    option dontlognull
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    # A websocket, once upgraded, is a tunnel: open as long as its people are connected
    # (Daphne pings every 20 s, so a dead peer is found long before this).
    timeout tunnel 1h
    timeout client-fin 5s
    timeout http-request 10s
    # A connection refused by a dead Daphne is tried again on another one.
    retries 2
    option redispatch 1

frontend wescan
    bind {HOST}:{port}
    # Local http only: whatever a client says about the protocol is overwritten.
    http-request set-header X-Forwarded-Proto http
    option forwardfor
    default_backend {BACKEND}

backend {BACKEND}
    balance leastconn
    option httpchk
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host {HOST}
    http-check expect status 200
    # Checked every second; down after two failures (or at once when connections fail),
    # up again after one success.
    default-server check inter 1s fastinter 500ms downinter 500ms fall 2 rise 1
    default-server observe layer4 error-limit 1 on-error mark-down
{servers}
"""


class Cluster:
    """The pieces of `config`, started in order by start() (or `with`), stopped by stop()."""

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.workdir = config.workdir.resolve()
        self.logs = self.workdir / "logs"
        self.daphnes: list[Piece] = []
        self.pieces: dict[str, Piece] = {}
        self.started: list[str] = []  # names of what runs, in the order they started
        self.demo_output = ""
        self.env: dict[str, str] = {}
        self.database_url = config.database_url or ""
        self.redis_url = config.redis_url or ""

    # --- Addresses --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.config.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.config.port}"

    def daphne_port(self, i: int) -> int:
        """Daphne i (1..N) listens on port + i."""
        return self.config.port + i

    @property
    def stats_socket(self) -> Path:
        return self.workdir / "haproxy.sock"

    # --- Whole cluster ----------------------------------------------------------------------

    def __enter__(self) -> "Cluster":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Every piece, in order; returns when HAProxy serves and every Daphne is UP in it. On
        any failure (or Ctrl-C) what was started is stopped again before the error goes on."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        config = self.config
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        if config.database_url is None:
            self._start_private_postgres()
        else:
            database_ensure(config.database_url)
        if config.redis_url is None:
            self.redis_url = f"redis://{HOST}:{config.redis_port}/0"
            self.start_redis()
        self.env = self._environment()
        if config.static:  # before the Daphnes start: WhiteNoise reads them at its start
            self.manage("collectstatic", "--no-input", quiet=True)
        # The Daphnes and the Celery worker boot (seconds of imports) while the database is made;
        # nothing reaches the Daphnes before HAProxy starts, once it is.
        self.daphnes = [self._daphne(i) for i in range(1, config.daphnes + 1)]
        for i in range(1, config.daphnes + 1):
            self.start_daphne(i, wait_up=False)
        celery_ready = [self._start_celery_worker()] if config.celery else []
        self.manage("migrate", "--no-input", quiet=True)
        if config.demo:
            self.demo_output = self.manage("load_demo").stdout
        if config.celery:
            celery_ready.append(self._start_celery_beat())
        for i in range(1, config.daphnes + 1):
            self._wait_daphne(i)
        self._start_haproxy()
        self.wait_backends_up()
        for ready in celery_ready:
            ready()
        if config.agents:
            self.start_agents()

    def stop(self) -> None:
        """Everything this cluster started; never raises for a piece that died. The balancer,
        the Daphnes, Celery and the agents stop together (each takes up to a second), then the
        stores they need to stop cleanly (a restarted Redis or PostgreSQL is the newest piece,
        yet stopped last: a Celery worker without its broker takes seconds to give up)."""
        running = [self.pieces[name] for name in reversed(self.started) if name in self.pieces]
        others = [piece for piece in running if piece.name not in STORES]
        stores = [piece for piece in running if piece.name in STORES]
        for together in (others, stores):
            for step in (Piece.stop_begin, Piece.stop_end):
                for piece in together:
                    try:
                        step(piece)
                    except (OSError, subprocess.SubprocessError) as error:  # the others stop
                        print(f"cluster: stopping {piece.name}: {error!r}", file=sys.stderr)
        self.started.clear()

    def _run(self, piece: Piece) -> Piece:
        self.pieces[piece.name] = piece
        piece.start()
        if piece.name in self.started:
            self.started.remove(piece.name)
        self.started.append(piece.name)
        return piece

    def _base_env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "SQLITE_PATH"}
        }
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _environment(self) -> dict[str, str]:
        """What every WeScan process of the cluster runs with (and `manage()` commands)."""
        env = self._base_env()
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "wescan.settings.production",
                "SECRET_KEY": secret_key(self.workdir),
                "DATABASE_URL": self.database_url,
                "REDIS_URL": self.redis_url,
                "ALLOWED_HOSTS": f"{HOST},localhost",
                "PUBLIC_BASE_URL": self.url,
                # HAProxy appends the client's address to X-Forwarded-For.
                "TRUSTED_PROXY_COUNT": "1",
                "STATIC_ROOT": str(self.workdir / "static"),
                "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
                "EMAIL_FILE_PATH": str(self.workdir / "mail"),
                # For this machine's plain http only: never on a server people reach.
                "SECURE_SSL_REDIRECT": "0",
                "SECURE_HSTS_SECONDS": "0",
                "SECURE_COOKIES": "0",
                "ACCOUNT_DEFAULT_HTTP_PROTOCOL": "http",
            }
        )
        return env

    def manage(
        self, *args: str, quiet: bool = False, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """`manage.py <args>` against this cluster (its settings, database and Redis); its
        output is returned (and appended to logs/manage.log)."""
        if not self.env:
            raise ClusterError("the cluster's environment exists once its database does")
        command = [sys.executable, str(ROOT / "manage.py"), *args]
        if quiet:
            command.append("-v0")
        result = subprocess.run(  # noqa: S603 (argv of our own making)
            command, cwd=ROOT, env=self.env, capture_output=True, text=True, check=False
        )
        with (self.logs / "manage.log").open("a") as log:
            log.write(f"--- manage.py {' '.join(args)} -> {result.returncode}\n")
            log.write(result.stdout + result.stderr)
        if check and result.returncode != 0:
            raise ClusterError(
                f"manage.py {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout[-2000:]}{result.stderr[-4000:]}"
            )
        return result

    # --- PostgreSQL -------------------------------------------------------------------------

    def _postgres_private(self) -> bool:
        return self.config.database_url is None

    @property
    def _postgres_data(self) -> Path:
        return self.workdir / "postgres" / "data"

    def _start_private_postgres(self) -> None:
        port = self.config.postgres_port
        self.database_url = f"postgres://postgres@{HOST}:{port}/{DATABASE_NAME}"
        if not (self._postgres_data / "PG_VERSION").exists():
            self._initdb()
        self.start_postgres()
        database_ensure(self.database_url)

    def _postgres_user(self) -> str | None:
        """Root may not run PostgreSQL: its files and processes belong to `postgres`."""
        return "postgres" if os.geteuid() == 0 else None

    def _initdb(self) -> None:
        home = self._postgres_data.parent
        if home.exists():
            shutil.rmtree(home)  # a half-made cluster from an interrupted start
        home.mkdir(parents=True)
        user = self._postgres_user()
        if user:
            shutil.chown(home, user, user)
            reachable = subprocess.run(["test", "-w", str(home)], user=user, check=False)  # noqa: S603, S607
            if reachable.returncode != 0:
                raise ClusterError(
                    f"the postgres user cannot reach {home}: a folder above it is closed to "
                    "other users (e.g. /root). Choose a working folder elsewhere "
                    "(make cluster CLUSTER_WORKDIR=/var/tmp/wescan-cluster)."
                )
        with (self.logs / "postgres.log").open("ab") as log:
            result = subprocess.run(  # noqa: S603 (argv of our own making)
                [
                    str(POSTGRES_BIN / "initdb"),
                    "--pgdata",
                    str(self._postgres_data),
                    "--username",
                    "postgres",
                    "--auth",
                    "trust",  # local use: listening on 127.0.0.1 only
                    "--encoding",
                    "UTF8",
                    "--locale",
                    "C.UTF-8",
                    "--no-instructions",
                    # A throwaway cluster (fsync off) skips initdb's syncs: seconds on a slow disk.
                    *([] if self.config.postgres_fsync else ["--no-sync"]),
                ],
                cwd="/",
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                user=user,
                check=False,
            )
        if result.returncode != 0:
            raise ClusterError(
                f"initdb failed (is {home} reachable by the postgres user?):\n"
                + (self.logs / "postgres.log").read_text(errors="replace")[-2000:]
            )

    def start_postgres(self) -> None:
        self._private("postgres", self._postgres_private())
        port = self.config.postgres_port
        settings = [
            f"listen_addresses={HOST}",
            f"port={port}",
            "unix_socket_directories=",
            "max_connections=200",
        ]
        if not self.config.postgres_fsync:
            settings += ["fsync=off", "synchronous_commit=off", "full_page_writes=off"]
        argv = [str(POSTGRES_BIN / "postgres"), "-D", str(self._postgres_data)]
        for setting in settings:
            argv += ["-c", setting]
        piece = self._run(
            Piece(
                "postgres",
                argv,
                self._base_env(),
                self.logs / "postgres.log",
                user=self._postgres_user(),
                # Fast shutdown: the postmaster ends its sessions and stops the rest.
                stop_signal=signal.SIGINT,
                group_stop=False,
            )
        )
        wait_until(
            lambda: postgres_accepts(HOST, port), "PostgreSQL accepts connections", piece=piece
        )

    def stop_postgres(self, *, immediate: bool = False) -> None:
        """Fast shutdown (sessions ended, a checkpoint), or `immediate` (as a crash: recovery
        from the WAL on the next start)."""
        self._private("postgres", self._postgres_private())
        piece = self.pieces.get("postgres")
        if piece is None:
            return
        if immediate:
            piece.stop_signal = signal.SIGQUIT
        try:
            piece.stop()
        finally:
            piece.stop_signal = signal.SIGINT
        self.started.remove("postgres")

    def restart_postgres(self) -> None:
        self.stop_postgres()
        self.start_postgres()

    # --- Redis ------------------------------------------------------------------------------

    def start_redis(self) -> None:
        self._private("redis", self.config.redis_url is None)
        port = self.config.redis_port
        home = self.workdir / "redis"
        home.mkdir(exist_ok=True)
        piece = self._run(
            Piece(
                "redis",
                [
                    shutil.which("redis-server") or "redis-server",
                    "--bind",
                    HOST,
                    "--port",
                    str(port),
                    "--dir",
                    str(home),
                    # Nothing kept on disk: relay history, channel layer, broker and cache are
                    # rebuilt or lost by design (docs/deploy.md).
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--maxclients",
                    "10000",
                ],
                self._base_env(),
                self.logs / "redis.log",
            )
        )
        wait_until(lambda: redis_pings(port), "Redis answers PING", piece=piece)

    def stop_redis(self) -> None:
        self._private("redis", self.config.redis_url is None)
        piece = self.pieces.get("redis")
        if piece is not None:
            piece.stop()
            self.started.remove("redis")

    def restart_redis(self) -> None:
        self.stop_redis()
        self.start_redis()

    def _private(self, what: str, private: bool) -> None:
        if not private:
            raise ClusterError(
                f"this cluster uses a shared {what} (its URL was given): it is not the "
                "cluster's to stop or start"
            )

    # --- Daphne and HAProxy -----------------------------------------------------------------

    def _daphne(self, i: int) -> Piece:
        return Piece(
            f"daphne{i}",
            [
                sys.executable,
                "-m",
                "daphne",
                # No access log: HAProxy logs every request (and its health checks would fill it).
                "-v",
                "0",
                "-b",
                HOST,
                "-p",
                str(self.daphne_port(i)),
                "wescan.asgi:application",
            ],
            self.env,
            self.logs / f"daphne{i}.log",
        )

    def daphne_pids(self) -> list[int | None]:
        """The pid of Daphne 1..N, in order (None for one that is not running)."""
        return [piece.pid if piece.alive() else None for piece in self.daphnes]

    def _daphne_piece(self, i: int) -> Piece:
        if not 1 <= i <= len(self.daphnes):
            raise ClusterError(f"Daphnes are numbered 1..{len(self.daphnes)}, not {i}")
        return self.daphnes[i - 1]

    def kill_daphne(self, i: int) -> None:
        """SIGKILL to Daphne i (1..N): its sockets die without a close frame, as in a crash."""
        self._daphne_piece(i).kill()
        if f"daphne{i}" in self.started:
            self.started.remove(f"daphne{i}")

    def start_daphne(self, i: int, *, wait_up: bool = True) -> None:
        """Daphne i (1..N) started again; with `wait_up`, until HAProxy has it UP."""
        piece = self._daphne_piece(i)
        if piece.alive():
            raise ClusterError(f"daphne{i} is running")
        self._run(piece)
        if wait_up:
            self._wait_daphne(i)
            wait_until(
                lambda: self.backend_states().get(piece.name) == "UP",
                f"HAProxy sees {piece.name} UP",
                piece=piece,
            )

    def _wait_daphne(self, i: int) -> None:
        piece = self._daphne_piece(i)
        url = f"http://{HOST}:{self.daphne_port(i)}/healthz"
        wait_until(lambda: http_ok(url), f"{piece.name} answers {url}", piece=piece)

    def _start_haproxy(self) -> None:
        haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not Path(haproxy).exists():
            raise ClusterError("haproxy is not installed: scripts/system-packages.sh haproxy")
        config = self.workdir / "haproxy.cfg"
        config.write_text(
            haproxy_config(
                port=self.config.port,
                daphne_ports=[self.daphne_port(i) for i in range(1, self.config.daphnes + 1)],
                stats_socket=self.stats_socket,
            )
        )
        self.stats_socket.unlink(missing_ok=True)
        piece = self._run(
            Piece(
                "haproxy",
                [haproxy, "-db", "-f", str(config)],
                self._base_env(),
                self.logs / "haproxy.log",
                stop_signal=signal.SIGUSR1,  # soft stop: lets connections finish briefly
            )
        )
        wait_until(self.stats_socket.exists, "HAProxy's stats socket", piece=piece)
        wait_until(lambda: http_ok(f"{self.url}/healthz"), "HAProxy serves", piece=piece)

    def haproxy_command(self, command: str) -> str:
        """One command on HAProxy's stats socket (`show stat`, `show sess`, ...), its answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(5)
            conn.connect(str(self.stats_socket))
            conn.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def backend_stats(self) -> dict[str, dict[str, str]]:
        """HAProxy's `show stat` of each Daphne: status, scur (current connections), ..."""
        text = self.haproxy_command("show stat").lstrip("# ")
        rows = csv.DictReader(line for line in text.splitlines() if line)
        return {
            row["svname"]: row
            for row in rows
            if row["pxname"] == BACKEND and row["svname"] not in {"FRONTEND", "BACKEND"}
        }

    def backend_states(self) -> dict[str, str]:
        """HAProxy's view of each Daphne: {"daphne1": "UP", "daphne2": "DOWN", ...}."""
        return {name: row["status"].split(" ")[0] for name, row in self.backend_stats().items()}

    def wait_backends_up(self, timeout: float = START_TIMEOUT_S) -> None:
        wait_until(
            lambda: set(self.backend_states().values()) == {"UP"},
            "every Daphne UP in HAProxy",
            timeout=timeout,
            piece=self.pieces["haproxy"],
        )

    def server_of(self, client_port: int) -> str | None:
        """Which Daphne HAProxy sends the connection from 127.0.0.1:client_port to (the name in
        backend_states()), or None when it has no such connection."""
        for line in self.haproxy_command("show sess").splitlines():
            fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
            if fields.get("src") == f"{HOST}:{client_port}" and "srv" in fields:
                return fields["srv"]
        return None

    # --- Celery and the scanner agents ------------------------------------------------------

    def _celery_piece(self, name: str, *args: str) -> Piece:
        argv = [sys.executable, "-m", "celery", "-A", "wescan", *args, "--loglevel=INFO"]
        return Piece(f"celery-{name}", argv, self.env, self.logs / f"celery-{name}.log")

    def _start_celery_worker(self) -> Callable[[], None]:
        """The worker started; returns the wait until it is ready. It runs only what beat or
        the app sends: it may boot before the database is made."""
        worker = self._run(self._celery_piece("worker", "worker", "--concurrency=2"))
        return lambda: wait_until(
            lambda: worker.said(" ready."), "the Celery worker is ready", piece=worker
        )

    def _start_celery_beat(self) -> Callable[[], None]:
        """Beat started (it may send a task at once: once the data is there); returns the wait
        until it runs."""
        home = self.workdir / "celery"
        home.mkdir(exist_ok=True)
        schedule = str(home / "beat-schedule")
        beat = self._run(self._celery_piece("beat", "beat", "--schedule", schedule))
        return lambda: wait_until(
            lambda: beat.said("beat: Starting"), "Celery beat starts", piece=beat
        )

    def start_agents(self) -> None:
        """`manage.py scanner_agent --all-cockpit-ready --issue-token` against the balancer:
        the simulated console of every cockpit-ready scanner (fresh device tokens)."""
        command = [
            sys.executable,
            str(ROOT / "manage.py"),
            "scanner_agent",
            "--all-cockpit-ready",
            "--issue-token",
            "--url",
            self.url,
            *self.config.agent_options,
        ]
        piece = self._run(Piece("agents", command, self.env, self.logs / "agents.log"))
        wait_until(lambda: piece.said("scanner agent "), "the scanner agents start", piece=piece)

    def stop_agents(self) -> None:
        piece = self.pieces.get("agents")
        if piece is not None:
            piece.stop()
            if "agents" in self.started:
                self.started.remove("agents")

    def revive(self, name: str) -> None:
        """A piece that exited, started again (as systemd's Restart= would)."""
        if name == "postgres":
            self.start_postgres()
        elif name == "redis":
            self.start_redis()
        elif name.startswith("daphne"):
            self.start_daphne(int(name.removeprefix("daphne")))
        else:
            self._run(self.pieces[name])

    def dead_pieces(self) -> list[str]:
        """What was started and has exited since (without being stopped through the cluster)."""
        return [name for name in self.started if not self.pieces[name].alive()]


def postgres_accepts(host: str, port: int) -> bool:
    import psycopg

    try:
        with psycopg.connect(
            host=host, port=port, user="postgres", dbname="postgres", connect_timeout=2
        ):
            return True
    except psycopg.Error:
        return False


def database_ensure(url: str) -> None:
    """The database `url` names, created on its server when missing."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


# --- make cluster ---------------------------------------------------------------------------


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m wescan.cluster",
        description="WeScan's production mode on this machine: PostgreSQL, Redis, N Daphne "
        "processes behind HAProxy, Celery worker and beat, the scanner agents (Ctrl-C stops all).",
    )
    parser.add_argument("--daphnes", type=int, default=2)
    parser.add_argument("--port", type=int, default=8000, help="HAProxy's port (Daphne i: port+i)")
    parser.add_argument("--workdir", type=Path, default=ROOT / ".cluster")
    parser.add_argument(
        "--database-url", default=None, help="a PostgreSQL of yours (default: private)"
    )
    parser.add_argument("--redis-url", default=None, help="a Redis of yours (default: private)")
    parser.add_argument("--postgres-port", type=int, default=5440)
    parser.add_argument("--redis-port", type=int, default=6380)
    parser.add_argument("--no-celery", dest="celery", action="store_false")
    parser.add_argument("--no-agents", dest="agents", action="store_false")
    parser.add_argument("--no-demo", dest="demo", action="store_false")
    return parser.parse_args(argv)


@contextlib.contextmanager
def _signals_stop() -> Iterator[list[int]]:
    """SIGINT (Ctrl-C) and SIGTERM end the foreground wait; the signal received is recorded."""
    received: list[int] = []

    def handler(signum: int, frame: object) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def main(argv: Sequence[str] | None = None, out: IO[str] = sys.stdout) -> int:
    args = _arguments(argv)
    config = ClusterConfig(
        workdir=args.workdir,
        port=args.port,
        daphnes=args.daphnes,
        database_url=args.database_url,
        redis_url=args.redis_url,
        postgres_port=args.postgres_port,
        redis_port=args.redis_port,
        celery=args.celery,
        agents=args.agents,
        demo=args.demo,
    )
    cluster = Cluster(config)
    print(f"Starting the cluster in {cluster.workdir} (logs in {cluster.logs}) ...", file=out)
    with _signals_stop():
        try:
            cluster.start()
        except KeyboardInterrupt:
            print("Stopped while starting.", file=out)
            return 130
        except ClusterError as error:
            print(f"The cluster did not start: {error}", file=out)
            return 1
        try:
            _announce(cluster, out)
            while True:
                time.sleep(1)
                for name in cluster.dead_pieces():
                    piece = cluster.pieces[name]
                    code = piece.process.returncode if piece.process else None
                    print(f"{name} exited ({code}); starting it again (log: {piece.log})", file=out)
                    try:
                        cluster.revive(name)
                    except ClusterError as error:
                        print(f"{name} did not start again: {error}", file=out)
                        if name in cluster.started:
                            cluster.started.remove(name)
        except KeyboardInterrupt:
            print("\nStopping the cluster ...", file=out)
        finally:
            cluster.stop()
    print("Stopped.", file=out)
    return 0


def _announce(cluster: Cluster, out: IO[str]) -> None:
    config = cluster.config
    port = config.port
    if cluster.demo_output:
        print(cluster.demo_output, file=out)
    daphnes = ", ".join(f"{HOST}:{cluster.daphne_port(i)}" for i in range(1, config.daphnes + 1))
    lines = [
        "",
        f"WeScan (production settings) is serving on {cluster.url}/ and "
        f"http://localhost:{port}/  (Ctrl-C stops everything)",
        f"  HAProxy {HOST}:{port} -> {config.daphnes} Daphne processes ({daphnes})",
        f"  PostgreSQL {urlsplit(cluster.database_url).netloc.split('@')[-1]}"
        + (f" (private, in {cluster.workdir / 'postgres'})" if config.database_url is None else ""),
        f"  Redis {urlsplit(cluster.redis_url).netloc}"
        + (" (private)" if config.redis_url is None else ""),
        f"  Celery worker and beat: {'on' if config.celery else 'off'}; "
        f"scanner agents: {'on' if config.agents else 'off'}",
        f"  Mail is written to files in {cluster.workdir / 'mail'}; logs in {cluster.logs}",
    ]
    if config.demo:
        lines += [
            "Sign in with any demo login above; the password is 'wescan-demo'.",
            "Then the second factor: a code from `.venv/bin/python manage.py demo_totp` (or an "
            "app holding the demo secret above).",
            f"Passkeys work on http://localhost:{port}/ (browsers refuse them on an IP address).",
        ]
    print("\n".join(lines), file=out, flush=True)


if __name__ == "__main__":
    sys.exit(main())
