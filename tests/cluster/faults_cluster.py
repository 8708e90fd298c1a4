"""The one cluster the fault tests (tests/cluster/test_faults.py) share, started once per run:
starting one costs tens of seconds of CI's time, so the Daphne kill, the Redis restart and the
PostgreSQL restart pull the plug one after the other on the same cluster, as bench/bench_faults.py
does. Two Daphnes behind HAProxy on a private PostgreSQL and Redis (tests/cluster/support.py's
`cluster_config`: free ports, fsync off), a Celery worker and beat; no demo data and no static
files (nothing here opens a page): `seed()` makes what the tests use, in one `manage.py shell`.

Each test starts with `cluster_whole()`: whatever a test before it left stopped or dead is started
again (and said so), every Daphne is UP in HAProxy, the Celery worker answers through the broker,
and the scanner agent is started afresh (a new console, idle, with the test's options) and
connected. So the tests' order does not matter, and one that fails leaves the next a whole
cluster, or the next fails in its first step saying which piece did not come back."""

import contextlib
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

from celery import Celery
from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.cluster.faults import Market, Person
from tests.cluster.support import CEILING_S, cluster_config
from wescan.cluster import Cluster, ClusterError, wait_until

# Made in the cluster's database through the services (as the tests' factories and
# tests/cockpit/support.py make it): one live cockpit (a booking on a cockpit-ready scanner that
# starts in five minutes, its cockpit open, the operator's join approved by local staff) with a
# signed-in session (second factor passed) of the operator and of local staff; and the booking
# market of tests/cluster/faults.py. The cockpit's scanner is the only cockpit-ready one: the
# cluster runs one scanner agent.
SEED = """
import json
from cockpit import services
from marketplace.models import Role
from tests.cluster.faults import seed_market
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
    "cockpit": {
        "cockpit": cockpit.pk,
        "operator": session_cookie(people[Role.TECHNOLOGIST]),
        "local": session_cookie(people[Role.LOCAL_STAFF]),
    },
    "market": seed_market(),
}))
"""

# The scanner agent's options unless a test says otherwise.
AGENT_OPTIONS = ("--no-alarms",)


@dataclasses.dataclass(frozen=True)
class Seeded:
    cockpit: dict[str, Any]  # {"cockpit": id, "operator": cookie, "local": cookie}
    market: Market


@contextlib.contextmanager
def shared_cluster(workdir: Path) -> Iterator[Cluster]:
    config = cluster_config(
        workdir,
        daphnes=2,
        celery=True,
        demo=False,
        static=False,  # no page is opened
        agents=False,  # started by cluster_whole() once the cockpit exists
        agent_options=AGENT_OPTIONS,
    )
    started = time.monotonic()
    with Cluster(config) as cluster:
        print(f"cluster up in {time.monotonic() - started:.1f} s", flush=True)
        yield cluster


def seed(cluster: Cluster) -> Seeded:
    started = time.monotonic()
    output = cluster.manage("shell", "--no-imports", "-c", SEED).stdout
    data = json.loads(output.strip().splitlines()[-1])
    print(f"cockpit and market seeded in {time.monotonic() - started:.1f} s", flush=True)
    return Seeded(cockpit=data["cockpit"], market=Market.from_data(data["market"]))


def worker_answers(cluster: Cluster) -> bool:
    """The Celery worker answers a ping through the broker (Redis). A broker connection of this
    process that Redis closed (it was restarted) counts as no answer yet. The app is not made
    this process's current one: Celery's default would send every later task of the test worker
    (invitations' mails, plans' sending) to the cluster's Redis, gone once its test is over."""
    app = Celery(broker=cluster.redis_url, set_as_current=False)
    try:
        return bool(app.control.ping(timeout=1))
    except (OSError, RedisConnectionError, OperationalError):
        return False
    finally:
        app.close()


def agent_connected(cluster: Cluster) -> bool:
    """The scanner agent, by its log since it last started, is in its cockpit's session now: the
    last thing it said about its connection is that it connected."""
    log = cluster.pieces["agents"].tail(400).splitlines()
    starts = [i for i, line in enumerate(log) if line.startswith("--- ") and "starting" in line]
    said = [
        line
        for line in log[starts[-1] if starts else 0 :]
        if "scanner agent " in line
        and any(
            words in line
            for words in (": connected to ", "connection lost", "cannot connect", "no cockpit")
        )
    ]
    return bool(said) and ": connected to " in said[-1]


def cluster_whole(cluster: Cluster, agent_options: Sequence[str] = AGENT_OPTIONS) -> None:
    """The cluster as a fault test starts from (see the module's docstring)."""
    for name in ("postgres", "redis", "celery-worker", "celery-beat"):
        if not cluster.pieces[name].alive():
            print(f"cluster: {name} was not running after the test before; starting it")
            cluster.revive(name)
    for i, pid in enumerate(cluster.daphne_pids(), 1):
        if pid is None:
            print(f"cluster: daphne{i} was not running after the test before; starting it")
            cluster.start_daphne(i)
    cluster.wait_backends_up(timeout=CEILING_S)
    cluster.stop_agents()
    cluster.config = dataclasses.replace(cluster.config, agent_options=list(agent_options))
    cluster.start_agents()
    try:
        wait_until(lambda: agent_connected(cluster), "the agent connects", timeout=CEILING_S)
        wait_until(lambda: worker_answers(cluster), "Celery answers", timeout=CEILING_S)
    except ClusterError as failure:
        logs = "\n".join(
            f"--- {name}:\n{cluster.pieces[name].tail(20)}" for name in ("agents", "celery-worker")
        )
        raise ClusterError(f"{failure}\n{logs}") from None


@contextlib.asynccontextmanager
async def cockpit_people(
    cockpit: dict[str, Any], cluster: Cluster
) -> AsyncIterator[tuple[Person, Person]]:
    """The operator and local staff of the seeded live cockpit, connected, welcomed and kept
    connected (as the page does) until the end."""
    operator = Person(cluster.url, cockpit["cockpit"], "operator", cockpit["operator"])
    local = Person(cluster.url, cockpit["cockpit"], "local", cockpit["local"])
    try:
        await operator.start(CEILING_S)
        await local.start(CEILING_S)
        yield operator, local
    finally:
        await operator.close()
        await local.close()
