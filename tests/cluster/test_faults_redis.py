"""Redis restarted under a live cockpit and booking traffic, in the production settings
(wescan.cluster: two Daphnes behind HAProxy, private PostgreSQL and Redis with nothing kept on
disk, a Celery worker and beat, the scanner agents).

Redis is stopped, left down while the traffic meets it, and started again, empty: the relay's
history, the channel layer, the cache and the broker's queue start from nothing. Meanwhile the
API may answer 503 (saying Redis is not answering) but never 500; once it is back: no 500 at all,
the API answers normally again, the cockpit's people get events again with no seq gone back and
none skipped unless a snapshot said so, a STOP from local staff reaches the scanner (its console
reports `stopped`), the Celery worker answers through the broker again, and the database holds
every booking invariant."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery

from tests.cluster.faults import Traffic, fault_run, wait_for
from tests.cluster.faults_cluster import cockpit_people, fault_cluster, market
from tests.cluster.support import CEILING_S, needs_postgres_leg
from wescan.cluster import Cluster

pytestmark = [pytest.mark.cluster, needs_postgres_leg()]


@pytest.fixture(scope="module")
def cluster(cluster_workdir: Path) -> Iterator[Cluster]:
    with fault_cluster(cluster_workdir, celery=True) as running:
        yield running


def worker_answers(cluster: Cluster) -> bool:
    """The Celery worker answers a ping through the broker (Redis)."""
    app = Celery(broker=cluster.redis_url)
    try:
        return bool(app.control.ping(timeout=1))
    except OSError:
        return False
    finally:
        app.close()


@pytest.mark.asyncio
async def test_a_redis_restart_loses_no_event_unsaid_and_stop_still_reaches_the_scanner(
    cluster: Cluster,
) -> None:
    booking_market = market(cluster)
    async with cockpit_people(cluster) as (operator, local):
        with Traffic(cluster.url, booking_market) as traffic:

            def restart() -> float:
                cluster.stop_redis()
                down_from = time.monotonic()
                # Down until the traffic has met it a few times (a condition, not a duration).
                while len(traffic.since(down_from)) < 3:
                    traffic.stopping.wait(0.05)
                cluster.start_redis()
                return time.monotonic()

            outcome = await fault_run(
                piece="redis",
                fault=restart,
                database_url=cluster.database_url,
                traffic=traffic,
                people=[operator, local],
                stopper=local,
                ceiling_s=CEILING_S,
            )
    print(outcome.describe())
    assert outcome.http_500_after == [], "500 once Redis was back"
    assert outcome.http_500_during == [], "500 while Redis was down (503 expected)"
    assert set(outcome.statuses_during) <= {200, 201, 409, 503}, outcome.statuses_during
    assert outcome.invariants == {}
    assert outcome.went_back == []
    assert outcome.lost == 0
    assert outcome.stop_seq is not None
    try:
        await wait_for(lambda: worker_answers(cluster), "the Celery worker answers", CEILING_S)
    except AssertionError as failure:
        log = cluster.pieces["celery-worker"].tail(40)
        raise AssertionError(f"{failure}; its log:\n{log}") from None
