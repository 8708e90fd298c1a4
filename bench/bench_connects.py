"""Does the cockpit relay keep memory, or leave presence and link entries behind, as people
connect and leave all day?

Set-up, made fresh on every run: a throwaway database as bench_cockpit.py's (SQLite
bench/.data/connects.sqlite3, or `wescan_bench_connects` on DATABASE_URL's PostgreSQL server,
dropped at the end), seeded with its seed: 5 cockpit sessions open now, each with its 5 people
(operator, local, assistant, two observers), every one with a second factor and a signed-in
session.

Runs, each on fresh servers:
- `memory`: one Daphne process on the embedded default (in-memory channel layer and store);
- `redis`: two Daphne processes on Redis database 12 (BENCH_REDIS_DB, emptied before and after)
  of REDIS_URL's server (or 127.0.0.1:6379 when it answers; skipped, and said so, without one),
  behind HAProxy (bench/common.py `balanced_daphnes`): every socket goes through the balancer.

Each run makes BENCH_CONNECTS (10,000) cockpit websocket connects through the real relay, up to
BENCH_CONNECT_CONCURRENCY (50) at a time, the people of the 5 sessions in turn. A connect counts
once the person has the `welcome`, the `snapshot` and the presence event of their own join (the
relay did all of its joining), then the client closes the socket. People echo link probes as
static/js/cockpit.js does.

Figures, per run:
- rss_growth_pct: the Daphne processes' resident memory (summed) at the end against after the
  first 500 connects (BENCH_CONNECT_WARMUP), a second after the last socket closed (target
  <= 5 %);
- connects_per_s: for the record;
- leaked: what the store still holds once everyone left: presence and link entries, read by a
  fresh person's snapshot in each session (both runs) and, on Redis, the hashes themselves
  (target 0; each leak printed).
A refused socket, an `error` frame or a connect that does not complete in 30 s fails the run.
"""

import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from bench_cockpit import PEOPLE, Seeded, seed_sessions
from common import (
    Bench,
    BenchFailure,
    Server,
    balanced_daphnes,
    daphnes_running,
    figure,
    flush_redis,
    machine,
    redis_url,
    rss_mb,
    run,
    session_cookie,
)

SESSIONS = 5
CONNECTS = int(os.environ.get("BENCH_CONNECTS", "10000"))
WARMUP = int(os.environ.get("BENCH_CONNECT_WARMUP", "500"))
CONCURRENCY = int(os.environ.get("BENCH_CONNECT_CONCURRENCY", "50"))
REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "12"))
RUNS = [r for r in os.environ.get("BENCH_RUNS", "memory,redis").split(",") if r]
CONNECT_TIMEOUT_S = 30.0
SETTLE_S = 1.0

TARGET_RSS_GROWTH = 0.05
LOCAL = PEOPLE.index("local")


def seed() -> Seeded:
    return seed_sessions(SESSIONS)


@dataclass
class Tally:
    done: int = 0
    failed: int = 0
    problems: list[str] = field(default_factory=list)  # the first few, as examples

    def problem(self, text: str) -> None:
        self.failed += 1
        if len(self.problems) < 20:
            self.problems.append(text)


def person_spec(seeded: Seeded, k: int, port: int) -> tuple[str, dict[str, str], str]:
    session = seeded.sessions[k % len(seeded.sessions)]
    person = session.people[(k // len(seeded.sessions)) % len(session.people)]
    url = f"ws://127.0.0.1:{port}/ws/cockpit/{session.cockpit_id}/?role={person.role}"
    return url, {"Cookie": f"sessionid={person.session_key}"}, person.who


async def frames_until(connection: Any, done: Any) -> list[dict[str, Any]]:
    """Read (echoing link probes) until `done(frame)`; every frame read, or a BenchFailure."""
    seen: list[dict[str, Any]] = []
    while True:
        frame = json.loads(await connection.recv())
        if frame.get("type") == "probe":
            probe = (frame.get("payload") or {}).get("id")
            await connection.send(
                json.dumps({"type": "echo", "seq": None, "payload": {"probe": probe}})
            )
            continue
        if frame.get("type") == "error":
            raise BenchFailure(f"error frame {frame.get('payload')}")
        seen.append(frame)
        if done(frame, seen):
            return seen


async def visit(url: str, headers: dict[str, str], origin: str) -> list[dict[str, Any]]:
    """One connect: in until the relay announced this person's join, then out."""
    from websockets.asyncio.client import connect
    from websockets.typing import Origin

    async with connect(
        url,
        additional_headers=headers,
        origin=Origin(origin),
        compression=None,
        open_timeout=CONNECT_TIMEOUT_S,
        ping_interval=None,
        close_timeout=5,
        max_size=2**22,
    ) as connection:
        you: dict[str, Any] = {}

        def joined(frame: dict[str, Any], seen: list[dict[str, Any]]) -> bool:
            payload = frame.get("payload") or {}
            if frame.get("type") == "welcome":
                you.update(payload.get("you") or {})
            got_snapshot = any(f.get("type") == "snapshot" for f in seen)
            me = payload.get("joined") or {}
            return (
                got_snapshot
                and frame.get("type") == "presence"
                and me.get("id") == you.get("id")
                and me.get("role") == you.get("role")
            )

        return await asyncio.wait_for(frames_until(connection, joined), CONNECT_TIMEOUT_S)


async def connects(seeded: Seeded, port: int, first: int, count: int, tally: Tally) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)
    origin = f"http://127.0.0.1:{port}"

    async def one(k: int) -> None:
        url, headers, who = person_spec(seeded, k, port)
        async with gate:
            try:
                await visit(url, headers, origin)
                tally.done += 1
                if tally.done % 1000 == 0:
                    print(f"connects: {tally.done} done", file=sys.stderr, flush=True)
            except Exception as exc:  # any failure of one connect is reported, the others go on
                tally.problem(f"{who}: {type(exc).__name__}: {exc}")

    await asyncio.gather(*(one(k) for k in range(first, first + count)))


def fresh_cookies(seeded: Seeded) -> list[str]:
    """A new signed-in session of each session's local staff member, for the leftovers' probe."""
    from accounts.models import User

    return [
        session_cookie(User.objects.get(email=s.people[LOCAL].who.split()[-1]))
        for s in seeded.sessions
    ]


async def leftovers(seeded: Seeded, port: int, cookies: list[str]) -> list[str]:
    """What a fresh person's snapshot still shows of people who have all left."""
    origin = f"http://127.0.0.1:{port}"
    found = []
    for session, cookie in zip(seeded.sessions, cookies, strict=True):
        person = session.people[LOCAL]
        url = f"ws://127.0.0.1:{port}/ws/cockpit/{session.cockpit_id}/?role={person.role}"
        try:
            frames = await visit(url, {"Cookie": f"sessionid={cookie}"}, origin)
        except Exception as exc:  # said, and counted as unknown: the other figures stand
            found.append(f"session {session.cockpit_id}: could not look ({exc!r})")
            continue
        snapshot = next(f["payload"] for f in frames if f.get("type") == "snapshot")
        # The snapshot is built before the fresh person's own presence entry is written.
        for entry in snapshot.get("presence") or []:
            found.append(f"session {session.cockpit_id}: presence entry {entry}")
        for entry in snapshot.get("links") or []:
            found.append(f"session {session.cockpit_id}: link entry {entry}")
    return found


def redis_leftovers(url: str) -> list[str]:
    """The presence and link hashes on Redis, once everyone left (the last probe's included:
    it has gone too)."""
    import redis

    client = redis.Redis.from_url(url)
    found = []
    for key in client.scan_iter(match="*:presence"):
        if size := client.hlen(key):
            found.append(f"{key.decode()}: {size} entries {client.hkeys(key)[:3]}")
    for key in client.scan_iter(match="*:link"):
        if size := client.hlen(key):
            found.append(f"{key.decode()}: {size} entries {client.hkeys(key)[:3]}")
    return found


def rss_total(servers: list[Server]) -> float:
    return sum(rss_mb(s.process.pid) for s in servers)


def one_run(
    seeded: Seeded, run_name: str, port: int, servers: list[Server], url: str | None
) -> tuple[float, str | None]:
    """The connects on running servers; the figures; the memory growth and what failed."""
    tally = Tally()
    started = time.perf_counter()
    asyncio.run(connects(seeded, port, 0, WARMUP, tally))
    time.sleep(SETTLE_S)
    rss_warm = rss_total(servers)
    asyncio.run(connects(seeded, port, WARMUP, CONNECTS - WARMUP, tally))
    seconds = time.perf_counter() - started
    time.sleep(SETTLE_S)
    rss_end = rss_total(servers)
    for server in servers:
        server.check_alive()
    growth = rss_end / rss_warm - 1
    figure(
        f"cockpit.{run_name}.rss_growth_pct",
        f"{growth * 100:+.1f}",
        "%",
        f"<= {TARGET_RSS_GROWTH * 100:.0f} ({rss_warm:.0f} MB after {WARMUP} connects, "
        f"{rss_end:.0f} MB after {CONNECTS})",
        not growth <= TARGET_RSS_GROWTH,
    )
    figure(f"cockpit.{run_name}.connects_per_s", f"{tally.done / seconds:.0f}", "/s", "—")
    from django.db import connections

    cookies = fresh_cookies(seeded)
    connections.close_all()
    leaks = asyncio.run(leftovers(seeded, port, cookies))
    if url:
        time.sleep(SETTLE_S)  # the probes' own departure
        leaks += redis_leftovers(url)
    figure(f"cockpit.{run_name}.leaked", str(len(leaks)), "entries", "0", bool(leaks))
    for leak in leaks[:20]:
        print(f"leak: {run_name}: {leak}")
    print(
        f"load: {run_name}: {tally.done}/{CONNECTS} connects completed in {seconds:.0f} s, "
        f"{tally.failed} failed; {machine()}"
    )
    if tally.problems:
        return growth, f"{run_name}: {tally.failed} connects failed, e.g.\n" + "\n".join(
            tally.problems[:5]
        )
    return growth, None


def measure(bench: Bench, seeded: Seeded) -> None:
    redis = redis_url(REDIS_DB)
    os.environ.pop("REDIS_URL", None)  # the parent and the `memory` run use no Redis
    print(
        f"setup: {SESSIONS} cockpit sessions x {len(PEOPLE)} people; {CONNECTS} connects and "
        f"disconnects a run, {CONCURRENCY} at a time, memory measured after {WARMUP}; "
        f"{machine()}"
    )
    growths = {}
    for run_name in RUNS:
        if run_name == "memory":
            with daphnes_running("connects", "memory", 1, None) as servers:
                growth, failure = one_run(seeded, "memory", servers[0].port, servers, None)
        elif run_name == "redis" and redis:
            with balanced_daphnes("connects", "redis", 2, redis) as (servers, balancer):
                growth, failure = one_run(seeded, "redis", balancer.port, servers, redis)
        elif run_name == "redis":
            print("setup: no Redis (REDIS_URL unset, nothing at 127.0.0.1:6379): no redis run")
            continue
        else:
            raise SystemExit(f"error: unknown run {run_name!r}")
        growths[run_name] = growth
        if failure:
            bench.failures.append(failure)
    if growths:
        worst = max(growths, key=lambda name: growths[name])
        figure(
            "cockpit.rss_growth_pct",
            f"{growths[worst] * 100:+.1f}",
            "%",
            f"<= {TARGET_RSS_GROWTH * 100:.0f} (the {worst} run, the worst of "
            f"{', '.join(growths)})",
            not growths[worst] <= TARGET_RSS_GROWTH,
        )


if __name__ == "__main__":
    url = redis_url(REDIS_DB)
    try:
        status = run("connects", "wescan_bench_connects", seed, measure)
    finally:
        flush_redis(url)
    sys.exit(status)
