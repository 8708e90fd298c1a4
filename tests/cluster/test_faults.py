"""Faults in the production settings (wescan.cluster: two Daphnes behind HAProxy, a private
PostgreSQL and Redis with nothing of Redis kept on disk, a Celery worker and beat, the scanner
agent of one live cockpit): a Daphne killed, Redis restarted, PostgreSQL restarted. The three
share one cluster, started once (tests/cluster/faults_cluster.py: each test first waits until the
cluster is whole again and the scanner agent is fresh, so their order does not matter).

The people of the cockpit (its operator and local staff) connect through the balancer and answer
the link check's probes as the page does.

- `kill -9` of the Daphne that holds the scanner agent's socket, and one person's at least. Local
  staff press STOP at once (reconnecting first if their socket was on the dead process), while
  the agent is away; the operator reconnects through the balancer with the last seq they saw.
  Then: neither person ever saw a seq go back or skip one (unless a snapshot said so), and the
  STOP reached the scanner once its agent was back on the living process: its console reports
  `stopped` after the STOP's seq.
- Redis, then PostgreSQL, stopped (PostgreSQL: a fast shutdown, every session ended), left down
  while booking traffic through the public API meets it, and started again (Redis empty: the
  relay's history, the channel layer, the cache and the broker's queue start from nothing).
  Meanwhile the API may answer 503 (saying the piece is not answering) but never 500; once it is
  back: no 500 at all, the API answers normally again, the cockpit's people get events again with
  no seq gone back and none skipped unless a snapshot said so, a STOP from local staff reaches
  the scanner (its console reports `stopped`), the database holds every booking invariant, and
  (Redis) the Celery worker answers through the broker again."""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.faults import Traffic, fault_run, stopped_after, wait_for
from tests.cluster.faults_cluster import (
    AGENT_OPTIONS,
    Seeded,
    cluster_whole,
    cockpit_people,
    seed,
    shared_cluster,
    worker_answers,
)
from tests.cluster.support import CEILING_S, Person, needs_postgres_leg, until
from wescan.cluster import Cluster, ClusterError

pytestmark = [pytest.mark.cluster, needs_postgres_leg()]


@pytest.fixture(scope="module")
def cluster(cluster_workdir: Path) -> Iterator[Cluster]:
    with shared_cluster(cluster_workdir) as running:
        yield running


@pytest.fixture(scope="module")
def seeded(cluster: Cluster) -> Seeded:
    return seed(cluster)


# --- kill -9 of a Daphne ----------------------------------------------------------------------


def seqs_in_order(person: Person) -> None:
    """Over every connection of `person`: session events numbered one after the other, never
    back, never skipping, except where a snapshot (said so) replaced what was missed."""
    last: int | None = None
    for frame in person.frames:
        kind, seq = frame["type"], frame.get("seq")
        if kind == "snapshot" or (kind == "welcome" and last is None):
            last = frame["payload"]["seq"]
        elif isinstance(seq, int):
            assert last is not None, f"{person.role}: event {seq} before the welcome"
            assert seq == last + 1, f"{person.role}: after {last} came {seq}"
            last = seq


def scanner_joined(frame: dict[str, Any]) -> bool:
    joined = frame["payload"].get("joined") or {}
    return bool(joined.get("role") == "scanner" and frame["seq"])


def agent_server(cluster: Cluster, people: list[Person]) -> str:
    """The Daphne holding the scanner agent's socket: the one session through HAProxy that is
    not a person's (the cluster runs one agent)."""
    ours = {f"src=127.0.0.1:{person.ws.local_address[1]}" for person in people if person.ws}
    others = [
        line
        for line in cluster.haproxy_command("show sess").splitlines()
        if " srv=daphne" in line and not any(f"{src} " in line for src in ours)
    ]
    assert len(others) == 1, others
    return others[0].split(" srv=")[1].split()[0]


@pytest.mark.asyncio
async def test_a_killed_daphne_costs_no_event_and_stop_still_reaches_the_scanner(
    cluster: Cluster, seeded: Seeded
) -> None:
    # Back 3 s after a lost connection (0.5 s by default): the STOP below is pressed while the
    # agent is away, whatever the machine's speed.
    cluster_whole(cluster, agent_options=[*AGENT_OPTIONS, "--reconnect-after", "3"])
    cockpit = seeded.cockpit
    operator = Person(cluster, cockpit["cockpit"], "operator", cockpit["operator"])
    local = Person(cluster, cockpit["cockpit"], "local", cockpit["local"])
    await operator.connect()
    await local.connect()
    # The scanner's console, live through the relay, reaches both.
    await operator.until(lambda f: f["type"] == "state")
    await local.until(lambda f: f["type"] == "state")

    victim = agent_server(cluster, [operator, local])
    # leastconn spreads the three sockets over two processes: one person at least shares the
    # agent's; if not yet, local staff's socket is moved until it does.
    while victim not in (operator.server, local.server):
        await local.close()
        moved_at = len(local.frames)
        await local.connect(since=local.last_seq)
        await local.until(lambda f: f["type"] == "welcome", after=moved_at)
    survivor = next(name for name in cluster.backend_states() if name != victim)
    local_on_victim = local.server == victim
    operator_on_victim = operator.server == victim
    killed_at = len(local.frames)
    cluster.kill_daphne(int(victim.removeprefix("daphne")))

    if local_on_victim:
        await local.wait_closed()
        await local.connect(since=local.last_seq)
        assert local.server == survivor
    # STOP at once, while the scanner's agent is away.
    await local.send("stop", {})
    stop = await local.until(lambda f: f["type"] == "stop")

    if operator_on_victim:
        await operator.wait_closed()
        reconnected_at = len(operator.frames)
        await operator.connect(since=operator.last_seq)
        assert operator.server == survivor
        welcome = await operator.until(lambda f: f["type"] == "welcome", after=reconnected_at)
        assert welcome["payload"]["role"] == "operator"
    await operator.until(lambda f: f["type"] == "stop" and f["seq"] == stop["seq"])

    # The scanner applied it once its agent was back (on the survivor) and says so in its
    # state, which reaches both people.
    await local.until(stopped_after(stop["seq"]))
    back = await local.until(
        lambda f: f["type"] == "presence" and scanner_joined(f), after=killed_at
    )
    assert back["seq"] > stop["seq"], "the scanner was away when the STOP was pressed"
    await operator.until(stopped_after(stop["seq"]))
    assert agent_server(cluster, [operator, local]) == survivor
    await until(lambda: cluster.backend_states() == {victim: "DOWN", survivor: "UP"})

    with pytest.raises(ClusterError, match=r"numbered 1\.\.2"):
        cluster.start_daphne(0)  # Daphnes are numbered as HAProxy names them
    # Started again, it is back in the balancer.
    cluster.start_daphne(int(victim.removeprefix("daphne")))
    assert cluster.backend_states() == {victim: "UP", survivor: "UP"}

    await operator.close()
    await local.close()
    seqs_in_order(operator)
    seqs_in_order(local)
    snapshots = [
        f for person in (operator, local) for f in person.frames if f["type"] == "snapshot"
    ]
    assert len(snapshots) == 2, "only the first connections' snapshots: the history reached back"


# --- Redis restarted ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_redis_restart_loses_no_event_unsaid_and_stop_still_reaches_the_scanner(
    cluster: Cluster, seeded: Seeded
) -> None:
    cluster_whole(cluster)
    async with cockpit_people(seeded.cockpit, cluster) as (operator, local):
        with Traffic(cluster.url, seeded.market) as traffic:

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

    def worker_answers_supervised() -> bool:
        # The worker may exit on the restart (kombu raised AttributeError in `_connparams` while
        # acknowledging a task as the connection went, as in celery/kombu#582): in production
        # systemd's Restart=always (docs/deploy.md) starts it again, and so does this wait.
        for name in cluster.dead_pieces():
            print(f"{name} exited on the Redis restart: started again, as systemd would")
            cluster.revive(name)
        return worker_answers(cluster)

    try:
        await wait_for(worker_answers_supervised, "the Celery worker answers", CEILING_S)
    except AssertionError as failure:
        log = cluster.pieces["celery-worker"].tail(40)
        raise AssertionError(f"{failure}; its log:\n{log}") from None


# --- PostgreSQL restarted -----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_postgres_restart_answers_503_not_500_and_loses_no_booking_rule_or_event(
    cluster: Cluster, seeded: Seeded
) -> None:
    cluster_whole(cluster)
    async with cockpit_people(seeded.cockpit, cluster) as (operator, local):
        with Traffic(cluster.url, seeded.market) as traffic:

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
