"""The cluster the fault tests run (tests/cluster/support.py's `cluster_config`: free ports, two
Daphnes behind HAProxy on a private PostgreSQL and Redis, the demo's data and scanner agents), the
booking market of tests/cluster/faults.py, and one live cockpit's operator and local staff
connected through the balancer."""

import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from tests.cluster.faults import Market, Person, in_cluster
from tests.cluster.support import CEILING_S, cluster_config
from wescan.cluster import Cluster


@contextlib.contextmanager
def fault_cluster(workdir: Path, *, celery: bool) -> Iterator[Cluster]:
    config = cluster_config(
        workdir, daphnes=2, celery=celery, agents=True, demo=True, agent_options=["--no-alarms"]
    )
    started = time.monotonic()
    with Cluster(config) as cluster:
        print(f"cluster up in {time.monotonic() - started:.1f} s", flush=True)
        yield cluster


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
