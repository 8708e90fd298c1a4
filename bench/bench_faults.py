"""What does pulling the plug on one piece of the production mode cost: a Daphne killed, Redis
restarted, PostgreSQL restarted, under live cockpits and steady booking traffic?

Set-up, made fresh on every run (wescan.cluster, the production settings on this machine):
- a private PostgreSQL 15 (port BENCH_FAULTS_POSTGRES_PORT, default 5530) and Redis (6430, nothing
  kept on disk), two Daphne processes behind HAProxy (8400, Daphnes on 8401-8402), a Celery
  worker and beat, the demo's data and the scanner agents of its live cockpits (--no-alarms);
  everything under /tmp, removed at the end;
- the booking market of tests/cluster/faults.py: one hospital, 12 technologists in groups of
  three, 48 open postings on four days with ~110 clashing invitations, API tokens for all;
- every live cockpit of the demo (four) with its operator and its site's local staff connected
  through the balancer, echoing the link check's probes and reconnecting (with `since`, the last
  seq seen) when their socket closes, as cockpit.js does;
- three threads of booking traffic through the balancer with the tokens: accept a pending
  invitation, cancel a confirmed booking, invite a candidate again, ~20 ms apart, every answer
  kept.

Measured, one fault after the other on the same cluster:
1. daphne: `kill -9` of the Daphne that holds the first cockpit's operator (started again
   afterwards);
2. redis: Redis stopped, left down until the traffic has met it three times, started again empty;
3. postgres: PostgreSQL stopped (fast shutdown), left down likewise, started again.
After each, local staff of one cockpit (a different one each time) press STOP; the STOP and the
console's `stopped` must reach its people.

`faults.recovery_s.<piece>`: from the piece being back (for daphne: from the kill; the survivor
serves) until both (a) every person has received, after that moment, a session event numbered
after the last they had before the fault (the agent publishes several a second, so this is the
moment events reach them again) and (b) the API answered normally again: the last answer that was
not 200, 201 or 409 (a refused clash), to a request sent after that moment, came back; 30 normal
answers in a row end the wait. `faults.lost_events`: seqs skipped without a snapshot saying
so, over every person and fault; `faults.seq_went_back`: events or welcomes numbered at or below
one already seen; `faults.invariant_violations`: rows breaking a booking invariant
(tests/cluster/faults.py INVARIANTS) after each fault, summed; `faults.http_500`: answers 500 (or
any 5xx but the balancer's 502/504 and an outage's 503), during and after every fault.

    python bench/bench_faults.py
"""

import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.cluster.faults import (  # noqa: E402 (after the path is set)
    Market,
    Outcome,
    Person,
    Traffic,
    booking_counts,
    fault_run,
    in_cluster,
)
from wescan.cluster import Cluster, ClusterConfig  # noqa: E402

PORT = int(os.environ.get("BENCH_FAULTS_PORT", "8400"))
POSTGRES_PORT = int(os.environ.get("BENCH_FAULTS_POSTGRES_PORT", "5530"))
REDIS_PORT = int(os.environ.get("BENCH_FAULTS_REDIS_PORT", "6430"))
CEILING_S = 90.0
# A client reconnects within a second or two (cockpit.js, the agents' backoff from 0.5 s), HAProxy
# marks a dead Daphne down within its health checks: a piece's return should cost seconds.
RECOVERY_TARGET_S = 5.0


def figure(name: str, value: str, unit: str, target: str, missed: bool) -> None:
    shown = f"{value} {unit}" if unit else value
    print(f"bench: {name} = {shown} (target {target}){' MISSED' if missed else ''}")


async def measure(cluster: Cluster) -> list[Outcome]:
    market = Market.seed(cluster)
    cockpits = in_cluster(cluster, "live_cockpits")
    people: list[Person] = []
    for cockpit in cockpits:
        for role in ("operator", "local"):
            people.append(Person(cluster.url, cockpit["cockpit"], role, cockpit[role]))
    for person in people:
        await person.start(CEILING_S)
    locals_ = [person for person in people if person.role == "local"]
    print(
        f"setup: {len(market.technologists)} technologists, {len(market.candidates)} "
        f"invitations; {len(cockpits)} live cockpits, {len(people)} people connected; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs",
        flush=True,
    )
    outcomes = []
    try:
        with Traffic(cluster.url, market) as traffic:

            def kill_daphne() -> float:
                ws = people[0].ws
                assert ws is not None
                victim = cluster.server_of(ws.local_address[1]) or "daphne1"
                cluster.kill_daphne(int(victim.removeprefix("daphne")))
                return time.monotonic()

            def down_then_up(stop: Callable[[], None], start: Callable[[], None]) -> float:
                stop()
                down_from = time.monotonic()
                # Down until the traffic has met it (a condition, not a duration).
                while len(traffic.since(down_from)) < 3:
                    traffic.stopping.wait(0.05)
                start()
                return time.monotonic()

            faults = [
                ("daphne", kill_daphne),
                ("redis", lambda: down_then_up(cluster.stop_redis, cluster.start_redis)),
                ("postgres", lambda: down_then_up(cluster.stop_postgres, cluster.start_postgres)),
            ]
            for i, (piece, fault) in enumerate(faults):
                outcome = await fault_run(
                    piece=piece,
                    fault=fault,
                    database_url=cluster.database_url,
                    traffic=traffic,
                    people=people,
                    stopper=locals_[i] if i < len(locals_) else None,
                    ceiling_s=CEILING_S,
                )
                print(f"run: {outcome.describe()}", flush=True)
                for answer in outcome.http_500_during + outcome.http_500_after:
                    print(
                        f"run: {answer.status} {answer.method} {answer.path}: {answer.body[:200]!r}"
                    )
                for where in [*outcome.gaps, *outcome.went_back][:12]:
                    print(f"run: seq: {where}")
                for name, rows in outcome.invariants.items():
                    print(f"run: invariant broken: {name}: {rows[:5]}")
                outcomes.append(outcome)
                if outcome.recovery_s > RECOVERY_TARGET_S:
                    for name in ("agents", "daphne1", "daphne2"):
                        log = cluster.logs / f"{name}.log"
                        print(f"--- {name} (last lines)\n{log.read_text(errors='replace')[-1500:]}")
                if piece == "daphne":
                    for i_daphne, pid in enumerate(cluster.daphne_pids(), start=1):
                        if pid is None:
                            cluster.start_daphne(i_daphne)
            bookings = booking_counts(cluster.database_url)
            print(f"run: answers {traffic.describe()}; bookings {bookings}")
    finally:
        for person in people:
            await person.close()
    return outcomes


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="wescan-bench-faults-"))
    workdir.chmod(0o755)  # the postgres user reaches its data folder
    config = ClusterConfig(
        workdir=workdir,
        port=PORT,
        daphnes=2,
        postgres_port=POSTGRES_PORT,
        redis_port=REDIS_PORT,
        celery=True,
        agents=True,
        demo=True,
        agent_options=["--no-alarms"],
        postgres_fsync=False,
    )
    started = time.monotonic()
    try:
        with Cluster(config) as cluster:
            print(
                f"setup: cluster under {workdir}: HAProxy :{PORT}, 2 Daphnes, PostgreSQL "
                f":{POSTGRES_PORT}, Redis :{REDIS_PORT}, Celery, agents; up in "
                f"{time.monotonic() - started:.1f} s",
                flush=True,
            )
            try:
                outcomes = asyncio.run(measure(cluster))
            except AssertionError as failure:
                print(f"FAILED: {failure}")
                for name in ("daphne1", "daphne2", "agents", "redis", "postgres"):
                    log = workdir / "logs" / f"{name}.log"
                    if log.exists():
                        print(f"--- {name}\n{log.read_text(errors='replace')[-1500:]}")
                return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for outcome in outcomes:
        figure(
            f"faults.recovery_s.{outcome.piece}",
            f"{outcome.recovery_s:.2f}",
            "s",
            f"<= {RECOVERY_TARGET_S:.0f}",
            outcome.recovery_s > RECOVERY_TARGET_S,
        )
    lost = sum(outcome.lost for outcome in outcomes)
    back = sum(len(outcome.went_back) for outcome in outcomes)
    broken = sum(outcome.invariant_violations for outcome in outcomes)
    errors = sum(len(o.http_500_during) + len(o.http_500_after) for o in outcomes)
    figure("faults.lost_events", str(lost), "", "0", lost > 0)
    figure("faults.seq_went_back", str(back), "", "0", back > 0)
    figure("faults.invariant_violations", str(broken), "", "0", broken > 0)
    figure("faults.http_500", str(errors), "", "0", errors > 0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
