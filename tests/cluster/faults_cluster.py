"""The cluster the fault tests run: two Daphnes behind HAProxy on a private PostgreSQL and Redis,
the demo's data and scanner agents, and the booking market of tests/cluster/faults.py; and one
live cockpit's operator and local staff connected through the balancer."""

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.cluster.faults import Market, Person, in_cluster
from wescan.cluster import Cluster, ClusterConfig

# Waits are for conditions; this is only the ceiling after which a test fails instead of hanging.
CEILING_S = 60.0

needs_postgres_leg = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
    reason="runs in CI's PostgreSQL + Redis leg only (DATABASE_URL is not PostgreSQL here): a "
    "cluster of PostgreSQL, Redis, Daphnes and HAProxy takes tens of seconds to start",
)


@contextlib.contextmanager
def fault_cluster(
    *, port: int, postgres_port: int, redis_port: int, celery: bool
) -> Iterator[Cluster]:
    if shutil.which("haproxy") is None and not Path("/usr/sbin/haproxy").exists():
        pytest.fail("haproxy is not installed: scripts/system-packages.sh haproxy (make test does)")
    # Under /tmp, reachable by the postgres user (pytest's own temporary folders are not).
    workdir = Path(tempfile.mkdtemp(prefix="wescan-faults-"))
    workdir.chmod(0o755)
    config = ClusterConfig(
        workdir=workdir,
        port=port,
        daphnes=2,
        postgres_port=postgres_port,
        redis_port=redis_port,
        celery=celery,
        agents=True,
        demo=True,
        agent_options=["--no-alarms"],
        postgres_fsync=False,  # a throwaway database
    )
    try:
        started = time.monotonic()
        with Cluster(config) as cluster:
            print(f"cluster up in {time.monotonic() - started:.1f} s", flush=True)
            yield cluster
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.asynccontextmanager
async def cockpit_people(cluster: Cluster) -> AsyncIterator[tuple[Person, Person]]:
    """The operator and local staff of one of the demo's live cockpits, connected, welcomed and
    kept connected (as the page does) until the end."""
    cockpit = in_cluster(cluster, "live_cockpits")[0]
    operator = Person(cluster.url, cockpit["cockpit"], "operator", cockpit["operator"])
    local = Person(cluster.url, cockpit["cockpit"], "local", cockpit["local"])
    try:
        await operator.start(CEILING_S)
        await local.start(CEILING_S)
        yield operator, local
    finally:
        await operator.close()
        await local.close()


def market(cluster: Cluster) -> Market:
    started = time.monotonic()
    seeded = Market.seed(cluster)
    print(f"market seeded in {time.monotonic() - started:.1f} s", flush=True)
    return seeded
