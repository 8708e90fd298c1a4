"""Real Daphne processes for the tests that need websockets over the network: the browser test of
the cockpit, the scanner agent, and the two-process test on Redis.

Each process is forked from the test process (so it has the test settings: the SQLite file or
PostgreSQL test database, and the same channel layer) and serves `wescan.asgi` with static files.
Tests using it need `@pytest.mark.django_db(transaction=True)`: the server reads what the test
committed.
"""

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

from channels.testing.live import make_application
from daphne.testing import DaphneProcess
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.exceptions import SynchronousOnlyOperation
from django.db import connections
from django.test.utils import modify_settings

HOST = "127.0.0.1"
# A server that hangs while starting fails the test instead of the whole run.
STARTUP_TIMEOUT_S = 60


@dataclass
class LiveDaphne:
    process: DaphneProcess
    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}"

    def kill(self) -> None:
        """Gone at once, as a crashed server is: no close frames to its clients."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=10)

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(timeout=10)


def _setup_child() -> None:
    """In the forked server. asgiref's one-thread executor (thread-sensitive
    `database_sync_to_async`) is inherited without its worker thread once the test process has
    used it (an in-process consumer test before the fork): the server would hang on its first
    query. The child gets a fresh one. Likewise its own channel layer: an inherited Redis layer
    would share the parent's client prefix with every sibling, and the processes would take each
    other's messages off Redis (each would lose about half of its consumers' events)."""
    from concurrent.futures import ThreadPoolExecutor

    from asgiref.sync import SyncToAsync
    from channels.layers import channel_layers

    SyncToAsync.single_thread_executor = ThreadPoolExecutor(max_workers=1)
    channel_layers.backends.clear()
    _drop_inherited_connections()
    # No `set_database_connection()` (Channels' helper for a server started afresh): the fork
    # already has the test database's name, and the helper would prefix it with "test_" again.


# What the child inherited and must neither use nor close (kept referenced, never touched).
_INHERITED: list[object] = []


def _drop_inherited_connections() -> None:
    """On PostgreSQL, Django keeps a psycopg pool per database alias at class level. A forked
    server inherited the test process's pool: its idle connections are the parent's sockets (two
    processes' statements could interleave on one socket: "can't change autocommit ...
    INTRANS", or a reply read by the wrong process, and a wait for ever), and the threads that
    open new ones do not exist in the child. The child builds its own pool; the inherited one is
    set aside, never closed (closing would end the parent's connections)."""
    for alias in connections:
        wrapper = connections[alias]
        pools = getattr(type(wrapper), "_connection_pools", None)
        if pools:
            _INHERITED.append(dict(pools))
            pools.clear()


def start_daphne(port: int | None = None) -> LiveDaphne:
    """A Daphne process on `port` (by default a free one; a killed server's port to restart it
    where its clients reconnect)."""
    # The child would inherit this process's open database connections (the same socket on
    # PostgreSQL: its first request hung). Closed here, they are reopened on the next query.
    # From inside an event loop Django refuses; nothing sync is open there anyway.
    with contextlib.suppress(SynchronousOnlyOperation):
        connections.close_all()
    process = DaphneProcess(
        HOST,
        partial(make_application, static_wrapper=ASGIStaticFilesHandler),
        setup=_setup_child,
        port=port,
    )
    process.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not process.ready.wait(timeout=1):
        if not process.is_alive():
            raise RuntimeError("Daphne did not start")
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"Daphne was not listening after {STARTUP_TIMEOUT_S} s")
    return LiveDaphne(process=process, port=process.port.value)


@contextlib.contextmanager
def live_daphne(count: int = 1) -> Iterator[list[LiveDaphne]]:
    """`count` Daphne processes on free ports, stopped at the end."""
    settings_change = modify_settings(ALLOWED_HOSTS={"append": HOST})
    settings_change.enable()
    servers: list[LiveDaphne] = []
    try:
        for _ in range(count):
            servers.append(start_daphne())
        yield servers
    finally:
        for server in servers:
            server.stop()
        settings_change.disable()
