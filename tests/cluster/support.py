"""What the tests that run WeScan's production mode on this machine share (wescan.cluster: a
private PostgreSQL and Redis, Daphne processes behind HAProxy, the scanner agents). They run in CI's
PostgreSQL + Redis leg only: on the embedded default (the SQLite leg) they are skipped, saying
why, to keep CI within its time (a cluster takes tens of seconds to start).

`cluster_ports(n)` gives each cluster a block of free ports (HAProxy, n Daphnes, PostgreSQL,
Redis) outside the kernel's range for outgoing connections, so that tests on several xdist
workers, or a `make cluster` running meanwhile, do not collide. A `Person` is a client of the
cockpit relay through the balancer, answering the link check's probes as cockpit.js does."""

import asyncio
import json
import os
import random
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from wescan.cluster import Cluster, ClusterConfig

# Waits are for conditions; this is only the ceiling after which a test fails instead of hanging.
CEILING_S = 60.0


def needs_postgres_leg() -> pytest.MarkDecorator:
    url = os.environ.get("DATABASE_URL", "")
    return pytest.mark.skipif(
        not url.startswith(("postgres://", "postgresql://")),
        reason="runs in CI's PostgreSQL + Redis leg only (DATABASE_URL is not PostgreSQL here): "
        "a cluster of PostgreSQL, Redis, Daphnes and HAProxy takes tens of seconds to start",
    )


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_ports(count: int) -> int:
    """The first of `count` consecutive free ports, between 20000 and 30000 (below the
    kernel's ephemeral range, so no outgoing connection takes one meanwhile)."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 30000 - count)
        if all(_free(port) for port in range(base, base + count)):
            return base
    raise RuntimeError("no block of free ports between 20000 and 30000")


def cluster_config(workdir: Path, *, daphnes: int = 2, **options: Any) -> ClusterConfig:
    if shutil.which("haproxy") is None and not Path("/usr/sbin/haproxy").exists():
        pytest.fail("haproxy is not installed: scripts/system-packages.sh haproxy (make test does)")
    base = cluster_ports(daphnes + 3)
    return ClusterConfig(
        workdir=workdir,
        port=base,
        daphnes=daphnes,
        postgres_port=base + daphnes + 1,
        redis_port=base + daphnes + 2,
        postgres_fsync=False,  # a throwaway database
        **options,
    )


async def until(check: Callable[[], bool]) -> None:
    """Wait for `check` to hold (polled), failing after the ceiling."""
    async with asyncio.timeout(CEILING_S):
        while not check():
            await asyncio.sleep(0.1)


# --- People on the relay, through the balancer ----------------------------------------------


def state_status(frame: dict[str, Any]) -> str | None:
    """The console's status a `state` event carries (full or as a change), if any."""
    if frame["type"] != "state":
        return None
    payload = frame["payload"]
    state = payload.get("state") or payload.get("changes") or {}
    status = state.get("status")
    return status if isinstance(status, str) else None


@dataclass
class Person:
    """One person's client of a cockpit: every frame received over all its connections, in
    order (each connection starts with a `connected` marker), its probes echoed at once."""

    cluster: Cluster
    cockpit_id: int
    role: str
    cookie: str
    frames: list[dict[str, Any]] = field(default_factory=list)
    ws: ClientConnection | None = None
    reader: "asyncio.Task[None] | None" = None
    client_seq: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def last_seq(self) -> int:
        seqs = [f["seq"] for f in self.frames if isinstance(f.get("seq"), int)]
        return max(seqs, default=0)

    async def connect(self, since: int | None = None) -> None:
        query = f"role={self.role}" + (f"&since={since}" if since is not None else "")
        self.ws = await connect(
            f"{self.cluster.ws_url}/ws/cockpit/{self.cockpit_id}/?{query}",
            additional_headers={"Cookie": self.cookie},
            origin=Origin(self.cluster.url),
            proxy=None,
            open_timeout=CEILING_S,
        )
        self.frames.append({"type": "connected", "seq": None, "since": since})
        self.reader = asyncio.create_task(self._read(self.ws))

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                frame = json.loads(message)
                if frame["type"] == "probe":
                    probe = frame["payload"]["id"]
                    await ws.send(
                        json.dumps({"type": "echo", "seq": None, "payload": {"probe": probe}})
                    )
                    continue
                self.frames.append(frame)
                self.changed.set()
        except ConnectionClosed:
            pass
        self.frames.append({"type": "closed", "seq": None})
        self.changed.set()

    @property
    def server(self) -> str | None:
        """The Daphne HAProxy sends this person's connection to."""
        assert self.ws is not None
        return self.cluster.server_of(self.ws.local_address[1])

    @property
    def closed(self) -> bool:
        return self.reader is not None and self.reader.done()

    async def send(self, kind: str, payload: dict[str, Any]) -> None:
        assert self.ws is not None
        self.client_seq += 1
        await self.ws.send(json.dumps({"type": kind, "seq": self.client_seq, "payload": payload}))

    async def until(
        self, check: Callable[[dict[str, Any]], bool], *, after: int = 0
    ) -> dict[str, Any]:
        """The first frame that `check` accepts among those received from index `after` on
        (waiting for it)."""
        seen = after
        async with asyncio.timeout(CEILING_S):
            while True:
                for frame in self.frames[seen:]:
                    if check(frame):
                        return frame
                seen = len(self.frames)
                self.changed.clear()
                await self.changed.wait()

    async def wait_closed(self) -> None:
        assert self.reader is not None
        await asyncio.wait_for(asyncio.shield(self.reader), CEILING_S)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await asyncio.wait_for(self.reader, CEILING_S)
