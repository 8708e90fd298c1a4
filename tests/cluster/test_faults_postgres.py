"""PostgreSQL restarted under a live cockpit and booking traffic, in the production settings
(wescan.cluster: two Daphnes behind HAProxy, private PostgreSQL and Redis, the scanner agents).

PostgreSQL is stopped (a fast shutdown: every session ended), left down while the traffic meets
it, and started again. Meanwhile the API may answer 503 (saying the database is not answering)
but never 500; once it is back: no 500 at all, the API answers normally again, the cockpit's
people get events again with no seq skipped or gone back, a STOP from local staff reaches the
scanner (its console reports `stopped`), and the database holds every booking invariant."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.faults import Traffic, fault_run
from tests.cluster.faults_cluster import cockpit_people, fault_cluster, market
from tests.cluster.support import CEILING_S, needs_postgres_leg
from wescan.cluster import Cluster

pytestmark = [pytest.mark.cluster, needs_postgres_leg()]


@pytest.fixture(scope="module")
def cluster(cluster_workdir: Path) -> Iterator[Cluster]:
    with fault_cluster(cluster_workdir, celery=False) as running:
        yield running


@pytest.mark.asyncio
async def test_a_postgres_restart_answers_503_not_500_and_loses_no_booking_rule_or_event(
    cluster: Cluster,
) -> None:
    booking_market = market(cluster)
    async with cockpit_people(cluster) as (operator, local):
        with Traffic(cluster.url, booking_market) as traffic:

            def restart() -> float:
                cluster.stop_postgres()
                down_from = time.monotonic()
                # Down until the traffic has met it a few times (a condition, not a duration).
                while len(traffic.since(down_from)) < 3:
                    traffic.stopping.wait(0.05)
                cluster.start_postgres()
                return time.monotonic()

            outcome = await fault_run(
                piece="postgres",
                fault=restart,
                database_url=cluster.database_url,
                traffic=traffic,
                people=[operator, local],
                stopper=local,
                ceiling_s=CEILING_S,
            )
    print(outcome.describe())
    assert outcome.http_500_after == [], "500 once PostgreSQL was back"
    assert outcome.http_500_during == [], "500 while PostgreSQL was down (503 expected)"
    assert set(outcome.statuses_during) <= {200, 201, 409, 503}, outcome.statuses_during
    assert outcome.invariants == {}
    assert outcome.went_back == []
    assert outcome.lost == 0
    assert outcome.stop_seq is not None
