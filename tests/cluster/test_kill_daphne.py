"""`kill -9` of a Daphne behind HAProxy during a live cockpit, in the production settings
(wescan.cluster: private PostgreSQL and Redis, two Daphnes, the scanner agent of one cockpit).

The operator and local staff connect through the balancer and answer the link check's probes as
the page does. The Daphne that holds the scanner agent's socket, and one person's at least, is
killed without a word. Local staff press STOP at once (reconnecting first if their socket was on
the dead process), while the agent is away; the operator reconnects through the
balancer with the last seq they saw. Then: neither person ever saw a seq go back or skip one
(unless a snapshot said so), and the STOP reached the scanner once its agent was back on the
living process: its console reports `stopped` after the STOP's seq."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.support import (
    Person,
    cluster_config,
    needs_postgres_leg,
    state_status,
    until,
)
from wescan.cluster import Cluster, ClusterError

pytestmark = [pytest.mark.cluster, needs_postgres_leg()]

# One live cockpit, made in the cluster's database through the services (as the tests'
# factories and tests/cockpit/support.py make it): a booking on a cockpit-ready scanner that
# starts in five minutes, its cockpit open, the operator's join approved by local staff; and a
# signed-in session (second factor passed) of the operator and of local staff.
SEED = """
import json
from cockpit import services
from marketplace.models import Role
from tests.cockpit.support import open_booking
from tests.factories import HospitalFactory, MembershipFactory, ScannerFactory, SiteFactory
from tests.factories import UserFactory, enrol_totp
from tests.sessions import session_cookie

hospital = HospitalFactory(name="Hôpital Sainte-Claire")
scanner = ScannerFactory(site=SiteFactory(hospital=hospital), name="MR 1", cockpit_ready=True)
people = {}
for role in (Role.MANAGER, Role.TECHNOLOGIST, Role.LOCAL_STAFF):
    people[role] = UserFactory()
    MembershipFactory(user=people[role], hospital=hospital, role=role)
    enrol_totp(people[role])
booking = open_booking(people[Role.MANAGER], scanner, people[Role.TECHNOLOGIST])
cockpit = services.cockpit_open(booking=booking)
services.cockpit_approve_join(actor=people[Role.LOCAL_STAFF], cockpit=cockpit)
print(json.dumps({
    "cockpit": cockpit.pk,
    "operator": session_cookie(people[Role.TECHNOLOGIST]),
    "local": session_cookie(people[Role.LOCAL_STAFF]),
}))
"""


@pytest.fixture(scope="module")
def cluster(cluster_workdir: Path) -> Iterator[Cluster]:
    config = cluster_config(
        cluster_workdir,
        daphnes=2,
        celery=False,
        demo=False,
        agents=False,  # started once the cockpit exists
        static=False,  # no page is opened
        # Back 3 s after a lost connection (0.5 s by default): the STOP below is pressed while
        # the agent is away, whatever the machine's speed.
        agent_options=["--no-alarms", "--reconnect-after", "3"],
    )
    with Cluster(config) as running:
        yield running


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


def stopped_after(stop_seq: int) -> Any:
    return lambda frame: (
        isinstance(frame.get("seq"), int)
        and frame["seq"] > stop_seq
        and state_status(frame) == "stopped"
    )


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
    cluster: Cluster,
) -> None:
    seed = json.loads(cluster.manage("shell", "--no-imports", "-c", SEED).stdout)
    cluster.start_agents()
    operator = Person(cluster, seed["cockpit"], "operator", seed["operator"])
    local = Person(cluster, seed["cockpit"], "local", seed["local"])
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
