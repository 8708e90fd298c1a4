"""How fast does a technologist get the open postings they qualify for, with 5,000 postings and
2,000 technologists in the database, and do the SQL queries stay constant as the page grows?

Set-up, made fresh on every run:
- a throwaway database: SQLite at bench/.data/open_postings.sqlite3, or, when DATABASE_URL names
  a PostgreSQL server, a separate database `wescan_bench_postings` (BENCH_DB_NAME) on it,
  dropped at the end;
- migrated with wescan.settings.local (BENCH_SETTINGS overrides), DEBUG off;
- 20 hospitals with 2 sites (Brussels and Lisbon time) and 6 scanners each, of five vendors;
- 5,000 postings over the next 30 days: 3,500 open, the rest drafts, filled, cancelled and
  expired ones that must never show; 1-2 required exam families each, languages on 30%;
- 2,000 technologists with 3-6 exam families, 1-3 vendors and 1-3 languages each; 90% with a
  verified licence, the rest unverified or expired (they must see nothing);
- all of it written with bulk_create, the many-to-many through rows included.

Measured:
1. the selector alone, in-process (`selectors.open_postings_for`, counted and its first page of
   20 read, as the API's paginator does) for 40 technologists: p50/p95 ms. It holds steady when
   the machine is busy, where the HTTP figures do not;
2. GET /api/v1/postings/open/ on real Daphne processes (BENCH_DAPHNE_PROCESSES, default one per
   CPU up to 4, sharing one socket as in production), BENCH_CONCURRENCY keep-alive clients
   (default 4: two requests in flight per core, spread evenly over the processes), each with
   its own technologist's token, at page_size 20 and 100: p50/p95 ms, requests/s and Daphne's
   CPU per request;
3. SQL queries per request, in-process with the test client, at page_size 20 and 100: they must
   not grow with the page (no N+1).

Every response is checked: HTTP 200, the count the selector gives for that technologist, a full
page, and every posting open, in the future, on a vendor they know, of exam families they all
have, in a language they speak when languages are asked, at their seniority or below. A wrong
answer or a dead server fails the run; a missed target is marked MISSED but does not.
"""

import os
import random
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from common import (
    WARMUP_SECONDS,
    Bench,
    BenchFailure,
    Caller,
    LoadResult,
    analyze,
    api_client,
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
POSTINGS = 5_000
OPEN_SHARE = 0.70
TECHNOLOGISTS = 2_000
LOAD_TECHNOLOGISTS = 8  # distinct tokens the HTTP clients use
SELECTOR_TECHNOLOGISTS = 40
SELECTOR_ROUNDS = 5
PAGE_SIZES = (20, 100)

CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "4"))
MEASURE_SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
SEED = 20_251

# A technologist opening the app waits on this list; 150 ms at p95 is an instant answer on a
# shared 2-core machine that also runs the clients. The selector alone gets a third of that.
P95_TARGET_MS = 150.0
SELECTOR_P95_TARGET_MS = 50.0
RPS_TARGET = 30.0
URL = "/api/v1/postings/open/"


# --- Data -----------------------------------------------------------------------------------


@dataclass
class Technologist:
    user_id: int
    profile_id: int
    seniority: str
    families: frozenset[str]  # exam family codes
    vendors: frozenset[str]
    languages: frozenset[str]
    eligible: bool
    token: str = ""
    expected_count: int = 0


@dataclass
class Seeded:
    technologists: list[Technologist]
    open_postings: int


def seed() -> Seeded:
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import User
    from marketplace.models import (
        Compensation,
        ExamFamily,
        Hospital,
        Language,
        PostingStatus,
        Scanner,
        Seniority,
        SessionPosting,
        Site,
        TechnologistProfile,
        Urgency,
        Vendor,
        VendorFamiliarity,
    )

    rng = random.Random(SEED)
    now = timezone.now()
    today = timezone.localdate()
    unusable = make_password(None)  # token auth only
    families = list(ExamFamily.objects.values_list("code", "pk"))
    family_pk = dict(families)
    family_codes = [code for code, _ in families]
    language_codes = ["nl", "fr", "en", "pt", "de", "es", "it", "tr", "ar"]
    assert Language.objects.filter(code__in=language_codes).count() == len(language_codes)
    vendors = [Vendor.SIEMENS, Vendor.GE, Vendor.PHILIPS, Vendor.CANON, Vendor.UNITED_IMAGING]
    seniorities = list(Seniority.values)

    with transaction.atomic():
        hospitals = Hospital.objects.bulk_create(
            Hospital(name=f"Bench Hospital {i:02d}", city="Leuven", country="BE")
            for i in range(HOSPITALS)
        )
        sites = Site.objects.bulk_create(
            Site(
                hospital=hospital,
                name=f"Site {j}",
                time_zone="Europe/Lisbon" if j % 2 else "Europe/Brussels",
            )
            for hospital in hospitals
            for j in range(SITES_PER_HOSPITAL)
        )
        scanners = Scanner.objects.bulk_create(
            Scanner(
                site=site,
                name=f"MR {k}",
                vendor=vendors[(i + k) % len(vendors)],
                model_name="Bench",
                field_strength_tesla="1.50",
                cockpit_ready=True,
            )
            for i, site in enumerate(sites)
            for k in range(SCANNERS_PER_SITE)
        )

        # Postings: 70% open and future, the rest in every other state.
        others = [
            (PostingStatus.DRAFT, 1),
            (PostingStatus.CANCELLED, 1),
            (PostingStatus.FILLED, 1),
            (PostingStatus.EXPIRED, -1),
        ]
        postings = []
        for i in range(POSTINGS):
            scanner = rng.choice(scanners)
            if i < POSTINGS * OPEN_SHARE:
                status, direction = PostingStatus.OPEN, 1
            else:
                status, direction = others[i % len(others)]
            starts_at = now + direction * timedelta(hours=rng.randint(2, 30 * 24))
            rate = rng.random() < 0.3
            postings.append(
                SessionPosting(
                    hospital_id=scanner.site.hospital_id,
                    site=scanner.site,
                    scanner=scanner,
                    starts_at=starts_at,
                    ends_at=starts_at + timedelta(hours=rng.choice([3, 4, 5])),
                    min_seniority=rng.choices(seniorities, weights=[5, 3, 2])[0],
                    vendor=scanner.vendor,
                    urgency=rng.choices(list(Urgency.values), weights=[6, 3, 1])[0],
                    compensation=Compensation.HOURLY_RATE if rate else Compensation.RECIPROCITY,
                    hourly_rate_eur="50.00" if rate else None,
                    notes="Outpatient list on standard protocols; local staff position.",
                    status=status,
                    published_at=None if status == PostingStatus.DRAFT else now,
                )
            )
        postings = SessionPosting.objects.bulk_create(postings, batch_size=1000)
        required = SessionPosting.required_exam_families.through
        asked = SessionPosting.languages.through
        required_rows, asked_rows = [], []
        for posting in postings:
            for code in rng.sample(family_codes, rng.choice([1, 1, 2])):
                required_rows.append(
                    required(sessionposting_id=posting.pk, examfamily_id=family_pk[code])
                )
            if rng.random() < 0.3:
                for code in rng.sample(language_codes, rng.choice([1, 2])):
                    asked_rows.append(asked(sessionposting_id=posting.pk, language_id=code))
        required.objects.bulk_create(required_rows, batch_size=2000)
        asked.objects.bulk_create(asked_rows, batch_size=2000)

        # Technologists: 90% verified and current, 5% unverified, 5% expired.
        users = User.objects.bulk_create(
            (
                User(email=f"tech{i:04d}@bench.example", first_name="Tech", password=unusable)
                for i in range(TECHNOLOGISTS)
            ),
            batch_size=1000,
        )
        profiles = []
        for i, user in enumerate(users):
            state = "verified" if i % 20 > 1 else ("unverified" if i % 20 == 0 else "expired")
            profiles.append(
                TechnologistProfile(
                    user=user,
                    seniority=rng.choice(seniorities),
                    years_experience=rng.randint(0, 30),
                    licence_number=f"BE-RT-{i:05d}",
                    licence_authority="SPF Santé publique (BE)",
                    licence_valid_until=today
                    + timedelta(days=-3 if state == "expired" else rng.randint(40, 900)),
                    licence_verified_at=None if state == "unverified" else now,
                )
            )
        profiles = TechnologistProfile.objects.bulk_create(profiles, batch_size=1000)
        competent = TechnologistProfile.exam_families.through
        speaks = TechnologistProfile.languages.through
        competent_rows, speaks_rows, knows_rows = [], [], []
        technologists = []
        for profile in profiles:
            tech_families = rng.sample(family_codes, rng.randint(3, 6))
            tech_vendors = rng.sample(vendors, rng.randint(1, 3))
            tech_languages = rng.sample(language_codes, rng.randint(1, 3))
            competent_rows += [
                competent(technologistprofile_id=profile.pk, examfamily_id=family_pk[code])
                for code in tech_families
            ]
            speaks_rows += [
                speaks(technologistprofile_id=profile.pk, language_id=code)
                for code in tech_languages
            ]
            knows_rows += [VendorFamiliarity(profile=profile, vendor=v) for v in tech_vendors]
            technologists.append(
                Technologist(
                    user_id=profile.user_id,
                    profile_id=profile.pk,
                    seniority=profile.seniority,
                    families=frozenset(tech_families),
                    vendors=frozenset(tech_vendors),
                    languages=frozenset(tech_languages),
                    eligible=not profile.ineligibility_reasons(),
                )
            )
        competent.objects.bulk_create(competent_rows, batch_size=2000)
        speaks.objects.bulk_create(speaks_rows, batch_size=2000)
        VendorFamiliarity.objects.bulk_create(knows_rows, batch_size=2000)
    analyze()
    open_count = SessionPosting.objects.filter(status=PostingStatus.OPEN).count()
    return Seeded(technologists, open_count)


def choose(seeded: Seeded) -> tuple[list[Technologist], Technologist]:
    """Technologists for the load (eligible, with more than a page of results, mixed
    seniorities) with a token each, and one ineligible technologist who must see nothing."""
    from accounts.models import User
    from marketplace import selectors
    from marketplace.models import TechnologistProfile

    rng = random.Random(SEED + 1)
    candidates = [t for t in seeded.technologists if t.eligible]
    rng.shuffle(candidates)
    chosen: list[Technologist] = []
    seniorities: dict[str, int] = {}
    for tech in candidates:
        if len(chosen) == LOAD_TECHNOLOGISTS:
            break
        if seniorities.get(tech.seniority, 0) >= LOAD_TECHNOLOGISTS // 3 + 1:
            continue
        profile = TechnologistProfile.objects.get(pk=tech.profile_id)
        tech.expected_count = selectors.open_postings_for(profile=profile).count()
        if tech.expected_count > max(PAGE_SIZES):
            chosen.append(tech)
            seniorities[tech.seniority] = seniorities.get(tech.seniority, 0) + 1
    if len(chosen) < LOAD_TECHNOLOGISTS:
        raise BenchFailure(
            f"only {len(chosen)} technologists qualify for more than {max(PAGE_SIZES)} "
            "postings: the data set does not exercise the page"
        )
    ineligible = next(t for t in seeded.technologists if not t.eligible)
    users = User.objects.in_bulk([tech.user_id for tech in [*chosen, ineligible]])
    for tech in [*chosen, ineligible]:
        tech.token = api_token(users[tech.user_id])
    return chosen, ineligible


# --- Checking answers -----------------------------------------------------------------------


def page_url(page_size: int) -> str:
    return f"{URL}?page_size={page_size}"


def problem_with(tech: Technologist, status: int, body: bytes, page_size: int) -> str | None:
    """None when the page is right for this technologist; else what is wrong with it."""
    from marketplace.models import Seniority

    if status == 404:
        return (
            f"{URL} answers 404: the open-postings endpoint is missing (it is "
            "PostingViewSet.open_for_me in marketplace/api.py, route postings/open/)"
        )
    data, problem = json_answer(URL, status, body)
    if problem:
        return problem
    if data.get("count") != tech.expected_count:
        return f"{URL}: count {data.get('count')}, expected {tech.expected_count} for {tech}"
    results = data.get("results")
    expected_len = min(page_size, tech.expected_count)
    if not isinstance(results, list) or len(results) != expected_len:
        got = len(results) if isinstance(results, list) else results
        return f"{URL}: {got} results on the page, expected {expected_len}"
    allowed_seniority = set(Seniority.at_most(tech.seniority))
    now = datetime.now().astimezone()
    for row in results:
        reasons = []
        if row["status"] != "open":
            reasons.append(f"status {row['status']}")
        if datetime.fromisoformat(row["starts_at"]) <= now:
            reasons.append("already started")
        if row["vendor"] not in tech.vendors:
            reasons.append(f"vendor {row['vendor']}")
        if not set(row["required_exam_families"]) <= tech.families:
            reasons.append(f"families {row['required_exam_families']}")
        if row["languages"] and not set(row["languages"]) & tech.languages:
            reasons.append(f"languages {row['languages']}")
        if row["min_seniority"] not in allowed_seniority:
            reasons.append(f"seniority {row['min_seniority']} for a {tech.seniority}")
        if reasons:
            return f"{URL}: posting {row['id']} shown to a technologist it does not fit: {reasons}"
    starts = [row["starts_at"] for row in results]
    if [datetime.fromisoformat(s) for s in starts] != sorted(
        datetime.fromisoformat(s) for s in starts
    ):
        return f"{URL}: results not in start order"
    return None


def check_ineligible(tech: Technologist, status: int, body: bytes) -> str | None:
    data, problem = json_answer(f"{URL} for an ineligible technologist", status, body)
    if problem:
        return problem
    if data.get("count") != 0 or data.get("results"):
        return f"{URL}: an ineligible technologist sees {data.get('count')} postings"
    if not data.get("ineligibility_reasons"):
        return f"{URL}: no ineligibility_reasons for an ineligible technologist"
    return None


# --- In-process: the selector -----------------------------------------------------------------


def time_selector(seeded: Seeded) -> list[float]:
    """The selector as the API uses it: count, then the first page of 20 with its prefetches."""
    from marketplace import selectors

    rng = random.Random(SEED + 2)
    eligible = [t for t in seeded.technologists if t.eligible]
    sample = rng.sample(eligible, SELECTOR_TECHNOLOGISTS)
    from accounts.models import User

    users = User.objects.in_bulk([t.user_id for t in sample])
    profiles = [selectors.technologist_profile_for(user=users[t.user_id]) for t in sample]
    timings = []
    for round_ in range(SELECTOR_ROUNDS + 1):
        for profile in profiles:
            assert profile is not None
            started = time.perf_counter()
            postings = selectors.open_postings_for(profile=profile)
            postings.count()
            list(postings[:20])
            if round_:  # the first round warms caches
                timings.append((time.perf_counter() - started) * 1000)
    return timings


def report(
    name: str, result: LoadResult, p95_target: float | None, baseline: LoadResult | None = None
) -> None:
    p50, p95 = result.percentile(50), result.percentile(95)
    figure(f"{name}_p50", f"{p50:.1f}", "ms", "—")
    if p95_target is None:
        figure(f"{name}_p95", f"{p95:.1f}", "ms", "— (baseline)")
        figure(f"{name}_rps", f"{result.rps:.0f}", "req/s", "— (baseline)")
    else:
        figure(f"{name}_p95", f"{p95:.1f}", "ms", f"≤ {p95_target:.0f}", p95 > p95_target)
        figure(
            f"{name}_rps",
            f"{result.rps:.0f}",
            "req/s",
            f"≥ {RPS_TARGET:.0f}",
            result.rps < RPS_TARGET,
        )
    figure(f"{name}_server_cpu", f"{result.server_cpu_ms:.1f}", "ms/request", "—")
    if baseline is not None:
        # Steadier than times on a shared machine: both were measured in this run.
        ratio = result.server_cpu_ms / baseline.server_cpu_ms
        figure(f"{name}_cpu_vs_api_root", f"{ratio:.1f}", "×", "—")
    print(
        f"load: {name}: {result.requests} requests checked; Daphne {result.spread}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )


# --- Main -----------------------------------------------------------------------------------


def measure(bench: Bench, seeded: Seeded) -> None:
    techs, ineligible = choose(seeded)
    print(
        f"setup: {POSTINGS:,} postings ({seeded.open_postings:,} open) on "
        f"{HOSPITALS * SITES_PER_HOSPITAL * SCANNERS_PER_SITE} scanners of {HOSPITALS} "
        f"hospitals; {TECHNOLOGISTS:,} technologists "
        f"({sum(t.eligible for t in seeded.technologists):,} eligible); the "
        f"{len(techs)} load technologists qualify for "
        f"{min(t.expected_count for t in techs)}-{max(t.expected_count for t in techs)} "
        "postings each"
    )

    timings = time_selector(seeded)
    p50, p95 = percentile(timings, 50), percentile(timings, 95)
    figure("open_postings.selector_p50", f"{p50:.1f}", "ms", "—")
    figure(
        "open_postings.selector_p95",
        f"{p95:.1f}",
        "ms",
        f"≤ {SELECTOR_P95_TARGET_MS:.0f}",
        p95 > SELECTOR_P95_TARGET_MS,
    )
    print(
        f"selector: {len(timings)} calls (count + first page of 20) for "
        f"{SELECTOR_TECHNOLOGISTS} technologists, in-process"
    )

    response = api_client(ineligible.token).get(URL)
    problem = check_ineligible(ineligible, response.status_code, response.content)
    if response.status_code == 404:
        problem = problem_with(ineligible, 404, b"", 20)
    if problem:
        raise BenchFailure(problem)
    queries = count_queries(techs[0].token, PAGE_SIZES, page_url, partial(problem_with, techs[0]))
    worst = max(queries.per_page_size.values())
    print(
        f"bench: open_postings.queries = {worst} queries/request "
        f"(target constant){'' if queries.constant else ' MISSED'} — {queries.by_size}"
    )

    daphnes = bench.start_daphnes(techs[0].token)
    print(
        f"setup: {daphnes.describe()}, {CONCURRENCY} keep-alive clients as "
        f"{min(CONCURRENCY, len(techs))} technologists, {WARMUP_SECONDS:g} s warm-up + "
        f"{MEASURE_SECONDS:g} s each; {machine()}"
    )
    # What every request costs (Daphne, middleware, the token): the API root.
    callers = [Caller(tech.token, api_root_problem) for tech in techs]
    baseline = load(daphnes, "/api/v1/", callers, concurrency=CONCURRENCY, seconds=MEASURE_SECONDS)
    daphnes.check_alive()
    if problem := baseline.problem():
        raise BenchFailure(f"the baseline failed: {problem}")
    report("open_postings.api_root", baseline, None)
    for page_size in PAGE_SIZES:
        callers = [
            Caller(tech.token, partial(problem_with, tech, page_size=page_size)) for tech in techs
        ]
        result = load(
            daphnes, page_url(page_size), callers, concurrency=CONCURRENCY, seconds=MEASURE_SECONDS
        )
        daphnes.check_alive()
        if problem := result.problem():
            bench.failures.append(f"page_size={page_size}: {problem}")
            continue
        report(f"open_postings.api_page{page_size}", result, P95_TARGET_MS, baseline)


if __name__ == "__main__":
    sys.exit(run("open_postings", "wescan_bench_postings", seed, measure))
