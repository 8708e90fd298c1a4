"""How fast do the API's list endpoints answer under concurrent clients, and do their SQL queries
stay constant as the page grows?

Set-up, made fresh on every run:
- a throwaway database: SQLite at bench/.data/api_lists.sqlite3, or, when DATABASE_URL names a
  PostgreSQL server, a separate database `wescan_bench` (BENCH_DB_NAME) on it, dropped at the end;
- migrated with wescan.settings.local (BENCH_SETTINGS overrides), DEBUG off;
- "Bench General": 250 sites, 10,000 scanners, 300 members, 300 invitations; two other hospitals
  with 500 scanners each that the manager must never see; 200 partner hospitals where the
  manager is a technologist (so the hospitals list has 201 rows);
- one manager with an API token.

Then real Daphne processes serve that database, laid out as in production (several per machine,
README "Production"): BENCH_DAPHNE_PROCESSES of them (default: one per CPU, at most 4) accept from
one shared listening socket (`daphne --fd`), without an access log (the proxy in front logs). 8
client threads (keep-alive http.client, spread evenly over the processes) call each list for a few
seconds after a warm-up. Every response must be 200 with the expected count, page length and fields,
or the run fails. SQL queries per request are counted in-process with the test client for
page_size=50 and page_size=200: they must not grow with the page (no N+1).

Figures per endpoint: requests/s, p50 and p95 latency, Daphne's CPU time per request (summed over
all Daphne processes), and SQL queries per request. CPU per request holds steady when other jobs
share the machine, where requests/s and latency do not (it includes SQLite's work, which runs
inside Daphne, but not PostgreSQL's, which runs in its own processes). The API root (DRF's router
index: Daphne, middleware and the token lookup, nothing else) is measured first as the fixed cost
every request pays. A missed target is marked MISSED but does not fail the run; a server failure or
a wrong response does.
"""

import hashlib
import os
import sys
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from common import (
    WARMUP_SECONDS,
    Bench,
    BenchFailure,
    Caller,
    LoadResult,
    QueryCount,
    analyze,
    api_root_problem,
    api_token,
    count_queries,
    figure,
    json_answer,
    load,
    machine,
    run,
)

CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "8"))
MEASURE_SECONDS = float(os.environ.get("BENCH_SECONDS", "4"))

HOME_SITES = 250
HOME_SCANNERS = 10_000
HOME_MEMBERS = 300  # the manager included
HOME_INVITATIONS = 300
OTHER_HOSPITALS = 2
OTHER_SITES = 20
OTHER_SCANNERS = 500
OTHER_MEMBERS = 50
OTHER_INVITATIONS = 50
PARTNER_HOSPITALS = 200

# Held against a shared 2-core machine that runs the Daphne processes (Django runs sync views on
# one thread per process) and the 8 client threads at once. Lists of 50 should sustain a small
# hospital group's integrations and pages; p95 is what a user waits for while 8 callers queue.
RPS_TARGET = 50.0
RPS_TARGET_PAGE_200 = 15.0
P95_TARGET_MS = 250.0
P95_TARGET_MS_PAGE_200 = 800.0
QUERIES_TARGET = 6
# Daphne's CPU per request (all processes together): Django runs sync views on one thread, so one
# process tops out near 1000 / cpu_ms requests/s; 20 ms is the 50 req/s above on a single core.
CPU_TARGET_MS = 20.0
CPU_TARGET_MS_PAGE_200 = 60.0

HOSPITAL_KEYS = frozenset({"id", "name", "city", "country", "created_at", "my_role"})
SITE_KEYS = frozenset({"id", "hospital", "name", "city", "time_zone"})
SCANNER_KEYS = frozenset(
    {
        "id",
        "hospital",
        "site",
        "name",
        "modality",
        "vendor",
        "model_name",
        "field_strength_tesla",
        "cockpit_ready",
        "has_device_token",
        "device_token_rotated_at",
    }
)
MEMBERSHIP_KEYS = frozenset(
    {"id", "hospital", "user", "user_email", "user_name", "role", "created_at"}
)
INVITATION_KEYS = frozenset(
    {
        "id",
        "hospital",
        "email",
        "role",
        "status",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
    }
)


# --- Data -----------------------------------------------------------------------------------


@dataclass
class Seeded:
    token: str
    home_id: int
    visible_hospital_ids: frozenset[int]


def seed() -> Seeded:
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import User
    from marketplace.models import (
        Hospital,
        Invitation,
        Membership,
        Modality,
        Role,
        Scanner,
        Site,
        Vendor,
    )

    now = timezone.now()
    unusable = make_password(None)  # token auth only: nobody signs in with a password here
    vendors = [v for v in Vendor.values if v != Vendor.OTHER]

    def sites_for(hospital: Any, count: int) -> list[Any]:
        return Site.objects.bulk_create(
            Site(
                hospital=hospital, name=f"Site {i:03d}", city="Leuven", time_zone="Europe/Brussels"
            )
            for i in range(count)
        )

    def scanners_for(sites: list[Any], count: int, tag: str) -> None:
        def scanner(i: int) -> Any:
            ct = i % 10 == 0
            has_token = i % 7 == 0
            return Scanner(
                site=sites[i % len(sites)],
                name=f"{'CT' if ct else 'MR'} {i // len(sites):03d}",
                modality=Modality.CT if ct else Modality.MRI,
                vendor=vendors[i % len(vendors)],
                model_name=f"Model {i % 13}",
                field_strength_tesla=None if ct else Decimal("3.00" if i % 3 else "1.50"),
                cockpit_ready=i % 4 == 0,
                device_token_hash=(
                    hashlib.sha256(f"{tag}-{i}".encode()).hexdigest() if has_token else None
                ),
                device_token_rotated_at=now if has_token else None,
            )

        Scanner.objects.bulk_create((scanner(i) for i in range(count)), batch_size=2000)

    def users(count: int, tag: str) -> list[Any]:
        return User.objects.bulk_create(
            User(
                email=f"{tag}-{i:04d}@bench.wescan.test",
                first_name="" if i % 3 == 0 else f"First{i}",
                last_name="" if i % 3 == 0 else f"Last{i}",
                password=unusable,
            )
            for i in range(count)
        )

    def invitations_for(hospital: Any, count: int, invited_by: Any, tag: str) -> None:
        def invitation(i: int) -> Any:
            return Invitation(
                hospital=hospital,
                email=f"invitee-{tag}-{i:04d}@bench.wescan.test",
                role=Role.TECHNOLOGIST if i % 2 else Role.LOCAL_STAFF,
                token_hash=hashlib.sha256(f"invitation-{tag}-{i}".encode()).hexdigest(),
                invited_by=invited_by if i % 5 else None,
                expires_at=now + timedelta(days=7) if i % 4 else now - timedelta(days=1),
                accepted_at=now if i % 9 == 0 else None,
            )

        Invitation.objects.bulk_create(invitation(i) for i in range(count))

    with transaction.atomic():
        home = Hospital.objects.create(name="Bench General", city="Leuven", country="BE")
        manager = User.objects.create(
            email="manager@bench.wescan.test",
            first_name="Mara",
            last_name="Manager",
            password=unusable,
        )
        Membership.objects.create(user=manager, hospital=home, role=Role.MANAGER)
        home_sites = sites_for(home, HOME_SITES)
        scanners_for(home_sites, HOME_SCANNERS, "home")
        Membership.objects.bulk_create(
            Membership(
                user=user,
                hospital=home,
                role=[Role.TECHNOLOGIST, Role.LOCAL_STAFF, Role.MANAGER][i % 3],
            )
            for i, user in enumerate(users(HOME_MEMBERS - 1, "home"))
        )
        invitations_for(home, HOME_INVITATIONS, manager, "home")

        for n in range(OTHER_HOSPITALS):
            other = Hospital.objects.create(name=f"Elsewhere {n}", city="Gent", country="BE")
            scanners_for(sites_for(other, OTHER_SITES), OTHER_SCANNERS, f"other{n}")
            other_users = users(OTHER_MEMBERS, f"other{n}")
            Membership.objects.bulk_create(
                Membership(
                    user=user, hospital=other, role=Role.MANAGER if i == 0 else Role.TECHNOLOGIST
                )
                for i, user in enumerate(other_users)
            )
            invitations_for(other, OTHER_INVITATIONS, other_users[0], f"other{n}")

        partners = Hospital.objects.bulk_create(
            Hospital(name=f"Partner {i:03d}", city="Brussels", country="BE")
            for i in range(PARTNER_HOSPITALS)
        )
        Membership.objects.bulk_create(
            Membership(user=manager, hospital=p, role=Role.TECHNOLOGIST) for p in partners
        )
        token = api_token(manager)
    analyze()
    return Seeded(
        token=token,
        home_id=home.pk,
        visible_hospital_ids=frozenset([home.pk, *(p.pk for p in partners)]),
    )


# --- What each endpoint must answer ---------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    name: str
    path: str
    count: int
    keys: frozenset[str]
    hospital_key: str  # the result field naming the hospital, checked against what is visible
    allowed_hospitals: frozenset[int]
    page_size: int = 50
    rps_target: float = RPS_TARGET
    p95_target_ms: float = P95_TARGET_MS
    cpu_target_ms: float = CPU_TARGET_MS

    def url(self, page_size: int | None = None) -> str:
        return f"{self.path}?page_size={page_size or self.page_size}"

    def problem(self, status: int, body: bytes, page_size: int | None = None) -> str | None:
        """Why this response is wrong, or None: status, count, page length, fields, tenancy."""
        data, problem = json_answer(self.path, status, body)
        if problem:
            return problem
        if not isinstance(data, dict) or not {"count", "results"} <= data.keys():
            return f"{self.path}: not a paginated list: {body[:200]!r}"
        if data["count"] != self.count:
            return f"{self.path}: count {data['count']}, expected {self.count}"
        results = data["results"]
        expected_len = min(page_size or self.page_size, self.count)
        if len(results) != expected_len:
            return f"{self.path}: {len(results)} results on page 1, expected {expected_len}"
        for row in results:
            missing = self.keys - row.keys()
            if missing:
                return f"{self.path}: result lacks {sorted(missing)}"
            if row[self.hospital_key] not in self.allowed_hospitals:
                return f"{self.path}: result from hospital {row[self.hospital_key]} leaked"
        return None


def endpoints(seeded: Seeded) -> list[Endpoint]:
    home = frozenset([seeded.home_id])
    visible = seeded.visible_hospital_ids
    scanners = Endpoint(
        "scanners_list", "/api/v1/scanners/", HOME_SCANNERS, SCANNER_KEYS, "hospital", home
    )
    return [
        Endpoint(
            "hospitals_list", "/api/v1/hospitals/", len(visible), HOSPITAL_KEYS, "id", visible
        ),
        Endpoint("sites_list", "/api/v1/sites/", HOME_SITES, SITE_KEYS, "hospital", home),
        scanners,
        Endpoint(
            "scanners_list_200",
            scanners.path,
            scanners.count,
            scanners.keys,
            "hospital",
            home,
            page_size=200,
            rps_target=RPS_TARGET_PAGE_200,
            p95_target_ms=P95_TARGET_MS_PAGE_200,
            cpu_target_ms=CPU_TARGET_MS_PAGE_200,
        ),
        Endpoint(
            "memberships_list",
            "/api/v1/memberships/",
            HOME_MEMBERS + PARTNER_HOSPITALS,
            MEMBERSHIP_KEYS,
            "hospital",
            visible,
        ),
        Endpoint(
            "invitations_list",
            "/api/v1/invitations/",
            HOME_INVITATIONS,
            INVITATION_KEYS,
            "hospital",
            home,
        ),
    ]


# --- Report ---------------------------------------------------------------------------------


def report(endpoint: Endpoint, result: LoadResult, queries: QueryCount | None) -> None:
    prefix = f"api_{endpoint.name}"
    p50, p95 = result.percentile(50), result.percentile(95)
    figure(
        f"{prefix}_rps",
        f"{result.rps:.0f}",
        "req/s",
        f"≥ {endpoint.rps_target:.0f}",
        result.rps < endpoint.rps_target,
    )
    figure(f"{prefix}_p50", f"{p50:.1f}", "ms", "—")
    figure(
        f"{prefix}_p95",
        f"{p95:.1f}",
        "ms",
        f"≤ {endpoint.p95_target_ms:.0f}",
        p95 > endpoint.p95_target_ms,
    )
    figure(
        f"{prefix}_server_cpu",
        f"{result.server_cpu_ms:.1f}",
        "ms/request",
        f"≤ {endpoint.cpu_target_ms:.0f}",
        result.server_cpu_ms > endpoint.cpu_target_ms,
    )
    if queries is not None:
        worst = max(queries.per_page_size.values())
        missed = not queries.constant or worst > QUERIES_TARGET
        suffix = "" if queries.constant else f" — grows with the page ({queries.by_size}): N+1"
        print(
            f"bench: {prefix}_queries = {worst} queries/request "
            f"(target constant, ≤ {QUERIES_TARGET}){' MISSED' if missed else ''}{suffix}"
        )


def cpu_note(name: str, result: LoadResult) -> None:
    print(
        f"load: {name}: {result.requests} requests measured; CPU used: Daphne "
        f"{result.spread}, the {CONCURRENCY} clients "
        f"{result.client_cores:.2f}, load average {os.getloadavg()[0]:.1f}"
    )


def measure(bench: Bench, seeded: Seeded) -> None:
    print(
        f"setup: manager of 1 hospital ({HOME_SITES} sites, {HOME_SCANNERS} scanners, "
        f"{HOME_MEMBERS} members, {HOME_INVITATIONS} invitations), technologist in "
        f"{PARTNER_HOSPITALS} partner hospitals; {OTHER_HOSPITALS} other hospitals "
        f"({OTHER_SCANNERS} scanners each) must stay invisible"
    )
    targets = endpoints(seeded)
    query_counts: dict[str, QueryCount] = {}
    for endpoint in targets:
        if endpoint.page_size != 50:
            continue  # same view as another entry: its queries are counted there
        counted = count_queries(seeded.token, (50, 200), endpoint.url, endpoint.problem)
        query_counts[endpoint.name] = counted
        print(
            f"queries: {endpoint.path} {counted.by_size}"
            + (
                f"; slowest {counted.slowest_ms:.1f} ms: {counted.slowest_sql[:160]}"
                if counted.slowest_sql
                else "; every query under 1 ms"
            )
        )

    daphnes = bench.start_daphnes(seeded.token)
    print(
        f"setup: {daphnes.describe()}, {CONCURRENCY} keep-alive clients, "
        f"{WARMUP_SECONDS:g} s warm-up + {MEASURE_SECONDS:g} s per endpoint; {machine()}"
    )
    manager = Caller(seeded.token, api_root_problem)
    baseline = load(
        daphnes, "/api/v1/", [manager], concurrency=CONCURRENCY, seconds=MEASURE_SECONDS
    )
    daphnes.check_alive()
    if problem := baseline.problem():
        bench.failures.append(f"api_root: {problem}")
        raise BenchFailure("the baseline failed: no figure would mean anything")
    figure("api_root_rps", f"{baseline.rps:.0f}", "req/s", "— (baseline)")
    figure("api_root_server_cpu", f"{baseline.server_cpu_ms:.1f}", "ms/request", "— (baseline)")
    cpu_note("api_root", baseline)
    for endpoint in targets:
        caller = Caller(seeded.token, endpoint.problem)
        result = load(
            daphnes, endpoint.url(), [caller], concurrency=CONCURRENCY, seconds=MEASURE_SECONDS
        )
        daphnes.check_alive()
        if problem := result.problem():
            bench.failures.append(f"{endpoint.name}: {problem}")
        else:
            report(endpoint, result, query_counts.get(endpoint.name))
            cpu_note(endpoint.name, result)


if __name__ == "__main__":
    sys.exit(run("api_lists", "wescan_bench", seed, measure))
