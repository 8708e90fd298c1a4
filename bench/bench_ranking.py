"""How fast are a posting's candidates ranked, with 2,000 technologists and 20,000 bookings in
the database, and do the SQL queries stay constant as the technologists grow?

Set-up, made fresh on every run:
- a throwaway database: SQLite at bench/.data/ranking.sqlite3, or, when DATABASE_URL names a
  PostgreSQL server, a separate database `wescan_bench_rank` (BENCH_DB_NAME) on it, dropped at
  the end; migrated with wescan.settings.local (BENCH_SETTINGS overrides), DEBUG off;
- 20 hospitals with 2 sites (Brussels and Lisbon time) and 3 scanners each, of five vendors, a
  manager each with an API token, and 300 reciprocity ledger entries between them;
- 300 open postings over the next 14 days: one required exam family (two on a fifth), languages
  asked on 30%, mixed minimum seniority and urgency;
- technologists, in two steps (500, then 1,500 more: 2,000): 3-6 exam families, 1-3 vendors,
  1-3 languages, mixed seniority and home time zone (Brussels, Lisbon); 90% with a verified
  licence; 90% with availability (weekday or daily recurring windows, some lent by a hospital,
  a tenth one-off), and 10 bookings each: 3 completed in the past, 1 confirmed in the next two
  weeks (some in the measured postings' slots: clashes and weekly hours), 6 declined, cancelled
  or expired. At 2,000 technologists: 20,000 bookings on 8,000 more (filled) postings.
All of it written with bulk_create.

Measured at each size:
1. `scheduling.matching.candidates_for`, in-process, for 40 open postings: p50/p95 ms, and
   SQL queries per call (they must not grow with the technologists);
2. GET /api/v1/postings/{id}/candidates/ on real Daphne processes (BENCH_DAPHNE_PROCESSES,
   default one per CPU up to 4, sharing one socket), BENCH_CONCURRENCY keep-alive clients
   (default 4) as that posting's manager, for a posting with a typical number of candidates:
   p50/p95 ms, requests/s, Daphne CPU per request; and SQL queries per request at limit 20
   and 100, in-process with the test client. Then the API root on the same servers and
   clients: the CPU every request costs whatever it asks (the baseline).

Targets (issue 16, eligibility judged once for all technologists with set operations):
candidates_for within 50 ms at p95 and the server within 20 ms of CPU per request, at 2,000
technologists.

Every answer is checked: HTTP 200, the posting's id, as many candidates as the selector finds
(up to the limit), scores in descending order, hard-filter reasons all ✓. A wrong answer or a
dead server fails the run; a missed target is marked MISSED but does not.
"""

import os
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from common import (
    WARMUP_SECONDS,
    Bench,
    BenchFailure,
    Caller,
    LoadResult,
    analyze,
    api_root_problem,
    api_token,
    count_queries,
    figure,
    json_answer,
    load,
    machine,
    percentile,
    run,
)

HOSPITALS = 20
SITES_PER_HOSPITAL = 2
SCANNERS_PER_SITE = 3
OPEN_POSTINGS = 300
SIZES = (500, 2_000)  # technologists
BOOKINGS_PER_TECHNOLOGIST = 10  # 3 completed, 1 confirmed, 6 closed
LEDGER_ENTRIES = 300
SELECTOR_POSTINGS = 40
SELECTOR_ROUNDS = 3
LIMITS = (20, 100)

CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "4"))
MEASURE_SECONDS = float(os.environ.get("BENCH_SECONDS", "4"))
SEED = 20_260

# A manager opening a posting waits on this list (issue 5): p95 within 150 ms.
P95_TARGET_MS = 150.0
# Eligibility judged once for all technologists, with set operations (issue 16): the selector
# within 50 ms at p95, and the server's CPU per request within 20 ms.
SELECTOR_P95_TARGET_MS = 50.0
SERVER_CPU_TARGET_MS = 20.0


@dataclass
class World:
    now: datetime
    hospitals: list[int] = field(default_factory=list)
    managers: dict[int, str] = field(default_factory=dict)  # hospital id -> token
    scanners: list[tuple[int, int, int, str]] = field(default_factory=list)  # id, site, hosp, v
    open_postings: list[int] = field(default_factory=list)
    technologists: int = 0
    bookings: int = 0


def seed() -> World:
    """Hospitals, scanners, managers, the ledger, the open postings and the first 500
    technologists."""
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import User
    from marketplace.models import (
        ExamFamily,
        Hospital,
        Language,
        Membership,
        PostingStatus,
        Role,
        Scanner,
        Seniority,
        SessionPosting,
        Site,
        Urgency,
        Vendor,
    )

    rng = random.Random(SEED)
    now = timezone.now().replace(microsecond=0)
    world = World(now=now)
    vendors = [Vendor.SIEMENS, Vendor.GE, Vendor.PHILIPS, Vendor.CANON, Vendor.UNITED_IMAGING]
    family_pk = dict(ExamFamily.objects.values_list("code", "pk"))
    languages = ["nl", "fr", "en", "pt", "de", "es", "it", "tr", "ar"]
    assert Language.objects.filter(code__in=languages).count() == len(languages)
    unusable = make_password(None)
    with transaction.atomic():
        hospitals = Hospital.objects.bulk_create(
            Hospital(name=f"Rank Hospital {i:02d}", country="BE") for i in range(HOSPITALS)
        )
        world.hospitals = [h.pk for h in hospitals]
        sites = Site.objects.bulk_create(
            Site(
                hospital=hospital,
                name=f"Site {s}",
                time_zone="Europe/Brussels" if s == 0 else "Europe/Lisbon",
            )
            for hospital in hospitals
            for s in range(SITES_PER_HOSPITAL)
        )
        scanners = Scanner.objects.bulk_create(
            Scanner(
                site=site,
                name=f"MR {n}",
                vendor=vendors[(i * SCANNERS_PER_SITE + n) % len(vendors)],
                model_name="Bench",
                field_strength_tesla=Decimal("1.50"),
                cockpit_ready=True,
            )
            for i, site in enumerate(sites)
            for n in range(SCANNERS_PER_SITE)
        )
        site_hospital = {site.pk: site.hospital_id for site in sites}
        world.scanners = [(s.pk, s.site_id, site_hospital[s.site_id], s.vendor) for s in scanners]
        managers = User.objects.bulk_create(
            User(email=f"manager{i:02d}@rank.example", password=unusable) for i in range(HOSPITALS)
        )
        Membership.objects.bulk_create(
            Membership(user=user, hospital=hospital, role=Role.MANAGER)
            for user, hospital in zip(managers, hospitals, strict=True)
        )
        for user, hospital in zip(managers, hospitals, strict=True):
            world.managers[hospital.pk] = api_token(user)

        # Open postings over the next 14 days, 3-5 h, from 07:00 to 15:00 UTC.
        postings = []
        for i in range(OPEN_POSTINGS):
            scanner_id, site_id, hospital_id, vendor = world.scanners[i % len(world.scanners)]
            day = now.replace(hour=0, minute=0, second=0) + timedelta(days=1 + i % 14)
            start = day + timedelta(hours=rng.choice([7, 8, 9, 10, 12, 14]))
            postings.append(
                SessionPosting(
                    hospital_id=hospital_id,
                    site_id=site_id,
                    scanner_id=scanner_id,
                    vendor=vendor,
                    starts_at=start,
                    ends_at=start + timedelta(hours=rng.choice([3, 4, 5])),
                    min_seniority=rng.choices(list(Seniority.values), weights=[6, 3, 1])[0],
                    urgency=rng.choices(list(Urgency.values), weights=[6, 3, 1])[0],
                    status=PostingStatus.OPEN,
                    published_at=now,
                    notes="Outpatient list on standard protocols.",
                )
            )
        postings = SessionPosting.objects.bulk_create(postings)
        world.open_postings = [p.pk for p in postings]
        required = SessionPosting.required_exam_families.through
        asked = SessionPosting.languages.through
        codes = list(family_pk)
        required.objects.bulk_create(
            required(sessionposting_id=p.pk, examfamily_id=family_pk[code])
            for p in postings
            for code in rng.sample(codes, 2 if rng.random() < 0.2 else 1)
        )
        asked.objects.bulk_create(
            asked(sessionposting_id=p.pk, language_id=code)
            for p in postings
            if rng.random() < 0.3
            for code in rng.sample(languages, rng.choice([1, 2]))
        )
    _seed_ledger(world, rng)
    grow(world, SIZES[0])
    return world


def _seed_ledger(world: World, rng: random.Random) -> None:
    """Entries need a booking: each on a past filled posting with a worker of its own."""
    from django.contrib.auth.hashers import make_password

    from accounts.models import User
    from marketplace.models import PostingStatus, SessionPosting
    from scheduling.models import Booking, BookingStatus, LedgerEntry, LedgerKind

    unusable = make_password(None)
    worker = User.objects.create(email="ledger-worker@rank.example", password=unusable)
    postings, bookings, entries = [], [], []
    for i in range(LEDGER_ENTRIES):
        scanner_id, site_id, hospital_id, vendor = rng.choice(world.scanners)
        start = world.now - timedelta(days=60, hours=i * 5)
        postings.append(
            SessionPosting(
                hospital_id=hospital_id,
                site_id=site_id,
                scanner_id=scanner_id,
                vendor=vendor,
                starts_at=start,
                ends_at=start + timedelta(hours=4),
                status=PostingStatus.FILLED,
            )
        )
    postings = SessionPosting.objects.bulk_create(postings)
    for posting in postings:
        bookings.append(
            Booking(
                posting=posting,
                technologist=worker,
                status=BookingStatus.COMPLETED,
                initiated_by="hospital",
                starts_at=posting.starts_at,
                ends_at=posting.ends_at,
                hours=Decimal("4.00"),
            )
        )
    bookings = Booking.objects.bulk_create(bookings)
    for booking in bookings:
        creditor = rng.choice([h for h in world.hospitals if h != booking.posting.hospital_id])
        entries.append(
            LedgerEntry(
                booking=booking,
                kind=LedgerKind.COMPLETED,
                creditor_hospital_id=creditor,
                debtor_hospital_id=booking.posting.hospital_id,
                hours=booking.hours,
                occurred_at=booking.ends_at,
            )
        )
    LedgerEntry.objects.bulk_create(entries)


def grow(world: World, size: int) -> None:
    """Technologists up to `size`, with their competencies, availability and bookings."""
    from django.contrib.auth.hashers import make_password
    from django.db import transaction

    from accounts.models import User
    from marketplace.models import (
        ExamFamily,
        Membership,
        PostingStatus,
        Role,
        Seniority,
        SessionPosting,
        TechnologistProfile,
        Vendor,
        VendorFamiliarity,
    )
    from scheduling.models import AvailabilityWindow, Booking, BookingStatus

    rng = random.Random(SEED + size)
    now = world.now
    today = now.date()
    unusable = make_password(None)
    vendors = [Vendor.SIEMENS, Vendor.GE, Vendor.PHILIPS, Vendor.CANON, Vendor.UNITED_IMAGING]
    family_pk = dict(ExamFamily.objects.values_list("code", "pk"))
    languages = ["nl", "fr", "en", "pt", "de", "es", "it", "tr", "ar"]
    first, count = world.technologists, size - world.technologists
    open_slots = list(
        SessionPosting.objects.filter(pk__in=world.open_postings).values_list(
            "starts_at", "ends_at"
        )
    )
    with transaction.atomic():
        users = User.objects.bulk_create(
            (
                User(
                    email=f"tech{first + i:04d}@rank.example",
                    first_name="Tech",
                    last_name=f"{first + i:04d}",
                    password=unusable,
                )
                for i in range(count)
            ),
            batch_size=1000,
        )
        profiles = TechnologistProfile.objects.bulk_create(
            (
                TechnologistProfile(
                    user=user,
                    seniority=rng.choice(list(Seniority.values)),
                    home_time_zone="Europe/Lisbon" if i % 4 == 0 else "Europe/Brussels",
                    licence_number=f"BE-RT-{first + i:05d}",
                    licence_authority="SPF Santé publique (BE)",
                    licence_valid_until=today + timedelta(days=-3 if i % 20 == 1 else 400),
                    licence_verified_at=None if i % 20 == 0 else now,
                )
                for i, user in enumerate(users)
            ),
            batch_size=1000,
        )
        competent = TechnologistProfile.exam_families.through
        speaks = TechnologistProfile.languages.through
        competent.objects.bulk_create(
            (
                competent(technologistprofile_id=p.pk, examfamily_id=family_pk[code])
                for p in profiles
                for code in rng.sample(list(family_pk), rng.randint(3, 6))
            ),
            batch_size=2000,
        )
        speaks.objects.bulk_create(
            (
                speaks(technologistprofile_id=p.pk, language_id=code)
                for p in profiles
                for code in rng.sample(languages, rng.randint(1, 3))
            ),
            batch_size=2000,
        )
        VendorFamiliarity.objects.bulk_create(
            (
                VendorFamiliarity(profile=p, vendor=v)
                for p in profiles
                for v in rng.sample(vendors, rng.randint(1, 3))
            ),
            batch_size=2000,
        )
        # Lent technologists belong to the lending hospital.
        lenders = {user.pk: rng.choice(world.hospitals) for user in users if rng.random() < 0.4}
        Membership.objects.bulk_create(
            Membership(user_id=user_id, hospital_id=hospital_id, role=Role.TECHNOLOGIST)
            for user_id, hospital_id in lenders.items()
        )
        windows = []
        for i, user in enumerate(users):
            if i % 10 == 9:
                continue  # no availability
            lender = lenders.get(user.pk)
            first_day = now.replace(hour=0, minute=0, second=0) - timedelta(days=14)
            if i % 10 == 8:  # one-off, on one of the next days
                start = first_day + timedelta(days=14 + rng.randint(1, 14), hours=6)
                windows.append(
                    AvailabilityWindow(
                        technologist=user,
                        starts_at=start,
                        ends_at=start + timedelta(hours=12),
                        last_ends_at=start + timedelta(hours=12),
                        time_zone="Europe/Brussels",
                        lending_hospital_id=lender,
                        created_by=user,
                    )
                )
                continue
            start = first_day + timedelta(hours=rng.choice([5, 6, 7]))
            windows.append(
                AvailabilityWindow(
                    technologist=user,
                    starts_at=start,
                    ends_at=start + timedelta(hours=rng.choice([10, 12, 14])),
                    time_zone="Europe/Brussels",
                    rrule=rng.choice(["FREQ=DAILY", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"]),
                    lending_hospital_id=lender,
                    created_by=user,
                )
            )
        AvailabilityWindow.objects.bulk_create(windows, batch_size=1000)

        # Bookings: 3 completed (past), 1 confirmed (next two weeks), 6 closed. Completed and
        # confirmed ones hold a filled posting each (one confirmed booking per posting).
        filled, plans = [], []
        for user in users:
            for k in range(4):
                scanner_id, site_id, hospital_id, vendor = rng.choice(world.scanners)
                if k < 3:
                    start = now - timedelta(days=rng.randint(2, 200), hours=rng.randint(0, 8))
                    status = BookingStatus.COMPLETED
                else:  # often exactly in an open posting's slot: a clash, and weekly hours
                    slot = rng.choice(open_slots)
                    start = slot[0] + timedelta(hours=rng.choice([0, 0, 24, 48]))
                    status = BookingStatus.CONFIRMED
                hours = rng.choice([4, 6, 8, 12])
                filled.append(
                    SessionPosting(
                        hospital_id=hospital_id,
                        site_id=site_id,
                        scanner_id=scanner_id,
                        vendor=vendor,
                        starts_at=start,
                        ends_at=start + timedelta(hours=hours),
                        status=PostingStatus.FILLED,
                    )
                )
                plans.append((user, status, hours))
        filled = SessionPosting.objects.bulk_create(filled, batch_size=1000)
        bookings = [
            Booking(
                posting=posting,
                technologist=user,
                status=status,
                initiated_by="hospital",
                starts_at=posting.starts_at,
                ends_at=posting.ends_at,
                hours=Decimal(hours),
                lending_hospital_id=lenders.get(user.pk),
            )
            for posting, (user, status, hours) in zip(filled, plans, strict=True)
        ]
        closed = [BookingStatus.DECLINED, BookingStatus.CANCELLED, BookingStatus.EXPIRED]
        by_pk = dict(
            SessionPosting.objects.filter(pk__in=world.open_postings).values_list("pk", "starts_at")
        )
        for user in users:
            for posting_id in rng.sample(world.open_postings, 6):
                start = by_pk[posting_id]
                bookings.append(
                    Booking(
                        posting_id=posting_id,
                        technologist=user,
                        status=rng.choice(closed),
                        initiated_by="technologist",
                        starts_at=start,
                        ends_at=start + timedelta(hours=4),
                        hours=Decimal(4),
                    )
                )
        Booking.objects.bulk_create(bookings, batch_size=2000)
    world.technologists = size
    world.bookings = Booking.objects.exclude(technologist__email__startswith="ledger").count()
    analyze()


# --- Measuring ----------------------------------------------------------------------------------


def postings_sample(world: World) -> list[Any]:
    from marketplace.models import SessionPosting

    rng = random.Random(SEED + 7)
    ids = rng.sample(world.open_postings, SELECTOR_POSTINGS)
    return list(SessionPosting.objects.select_related("hospital", "site").filter(pk__in=ids))


def time_selector(postings: list[Any]) -> tuple[list[float], dict[int, int], set[int]]:
    """Timings of candidates_for over the postings (first round warms), the number of
    candidates each has (limit 100), and the distinct query counts per call."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from scheduling.matching import candidates_for

    timings: list[float] = []
    found: dict[int, int] = {}
    queries: set[int] = set()
    for round_ in range(SELECTOR_ROUNDS + 1):
        for posting in postings:
            started = time.perf_counter()
            if round_ == 0:
                with CaptureQueriesContext(connection) as captured:
                    candidates = candidates_for(posting=posting, limit=100)
                queries.add(len(captured))
                found[posting.pk] = len(candidates)
            else:
                candidates_for(posting=posting, limit=100)
                timings.append((time.perf_counter() - started) * 1000)
    return timings, found, queries


def problem_with(
    posting_id: int, expected: int, status: int, body: bytes, limit: int
) -> str | None:
    url = f"/api/v1/postings/{posting_id}/candidates/"
    data, problem = json_answer(url, status, body)
    if problem:
        return problem
    if data.get("posting") != posting_id:
        return f"{url}: posting {data.get('posting')}"
    results = data.get("results")
    if not isinstance(results, list) or len(results) != min(limit, expected):
        got = len(results) if isinstance(results, list) else results
        return f"{url}: {got} candidates, expected {min(limit, expected)}"
    scores = [row["score"] for row in results]
    if scores != sorted(scores, reverse=True):
        return f"{url}: scores not in descending order: {scores[:10]}"
    for row in results:
        hard = [r for r in row["reasons"] if r["points"] == 0 and r["text"].endswith("✓")]
        if len(hard) < 6:
            return f"{url}: candidate {row['technologist']['id']} lacks hard reasons: {row}"
    return None


def measure_size(bench: Bench, world: World, size: int) -> None:
    from django.db import connections

    postings = postings_sample(world)
    timings, found, queries = time_selector(postings)
    counts = sorted(found.values())
    print(
        f"setup: {world.technologists:,} technologists, {world.bookings:,} bookings, "
        f"{len(world.open_postings)} open postings; candidates per sampled posting "
        f"{counts[0]}-{counts[-1]} (median {counts[len(counts) // 2]}); {machine()}"
    )
    p50, p95 = percentile(timings, 50), percentile(timings, 95)
    figure(f"ranking.candidates_p50_ms@{size}", f"{p50:.1f}", "ms", "—")
    figure(
        f"ranking.candidates_p95_ms@{size}",
        f"{p95:.1f}",
        "ms",
        f"<= {SELECTOR_P95_TARGET_MS:.0f}",
        p95 > SELECTOR_P95_TARGET_MS,
    )
    print(f"selector: {len(timings)} calls of candidates_for(limit=100), in-process")
    figure(
        f"ranking.queries@{size}",
        "/".join(map(str, sorted(queries))),
        "queries/call",
        "constant",
        len(queries) != 1,
    )

    # The API, for a posting with a typical number of candidates.
    median = counts[len(counts) // 2]
    posting = next(p for p in postings if found[p.pk] == median)
    token = world.managers[posting.hospital_id]
    url = f"/api/v1/postings/{posting.pk}/candidates/"
    expected = found[posting.pk]
    api_queries = count_queries(
        token,
        LIMITS,
        lambda limit: f"{url}?limit={limit}",
        partial(problem_with, posting.pk, expected),
    )
    worst = max(api_queries.per_page_size.values())
    by_limit = ", ".join(f"limit={s}: {n}" for s, n in api_queries.per_page_size.items())
    figure(
        f"ranking.api_queries@{size}",
        str(worst),
        "queries/request",
        "constant",
        not api_queries.constant,
    )
    print(f"queries: {by_limit}")
    connections.close_all()
    daphnes = bench.start_daphnes(token)
    try:
        print(
            f"setup: {daphnes.describe()}, {CONCURRENCY} keep-alive clients as the manager of "
            f"posting {posting.pk} ({expected} candidates), {WARMUP_SECONDS:g} s warm-up + "
            f"{MEASURE_SECONDS:g} s"
        )
        check = partial(problem_with, posting.pk, expected, limit=20)
        result: LoadResult = load(
            daphnes,
            f"{url}?limit=20",
            [Caller(token, lambda status, body: check(status, body))],
            concurrency=CONCURRENCY,
            seconds=MEASURE_SECONDS,
        )
        daphnes.check_alive()
        if problem := result.problem():
            raise BenchFailure(f"{size} technologists: {problem}")
        p50, p95 = result.percentile(50), result.percentile(95)
        figure(f"ranking.api_p50_ms@{size}", f"{p50:.1f}", "ms", "—")
        figure(
            f"ranking.api_p95_ms@{size}",
            f"{p95:.1f}",
            "ms",
            f"<= {P95_TARGET_MS:.0f}",
            p95 > P95_TARGET_MS,
        )
        figure(f"ranking.api_rps@{size}", f"{result.rps:.0f}", "req/s", "—")
        figure(
            f"ranking.api_server_cpu@{size}",
            f"{result.server_cpu_ms:.1f}",
            "ms/request",
            f"<= {SERVER_CPU_TARGET_MS:.0f}",
            result.server_cpu_ms > SERVER_CPU_TARGET_MS,
        )
        print(f"load: {result.requests} requests checked; Daphne {result.spread}")
        # What every request costs on the same servers (Daphne, a thread and a database
        # connection per request, fresh on SQLite; middleware; the token): the part of the
        # figure above that ranking cannot lower.
        floor = load(
            daphnes,
            "/api/v1/",
            [Caller(token, api_root_problem)],
            concurrency=CONCURRENCY,
            seconds=MEASURE_SECONDS,
        )
        daphnes.check_alive()
        if problem := floor.problem():
            raise BenchFailure(f"{size} technologists, API root: {problem}")
        figure(
            f"ranking.api_root_server_cpu@{size}",
            f"{floor.server_cpu_ms:.1f}",
            "ms/request",
            "— (baseline)",
        )
    finally:
        daphnes.stop()
        bench.daphnes = None


def measure(bench: Bench, world: World) -> None:
    measure_size(bench, world, SIZES[0])
    started = time.perf_counter()
    grow(world, SIZES[1])
    print(f"setup: grown to {SIZES[1]:,} technologists in {time.perf_counter() - started:.1f} s")
    measure_size(bench, world, SIZES[1])


if __name__ == "__main__":
    sys.exit(run("ranking", "wescan_bench_rank", seed, measure))
