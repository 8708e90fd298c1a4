"""The market bench_optimiser.py solves: 1,000 open postings, 2,000 technologists and 20,000
bookings over the next 14 days, described once (`market()`), written to a database for
`scheduling.optimiser.build.problem_for` (`seed_database()`), and judged in Python by the same
hard rules (`problem_of()`) as a cross-check. Not a benchmark itself.

What makes it a hard market, as a region short of technologists is: each posting needs an
exam family, a vendor, a minimum seniority and sometimes a language; each technologist knows a
few families and one or two vendors, works on two to four weekdays, and already holds long
confirmed shifts on most of them (what is left of their weekly cap fits one or two more
sessions). Postings cluster on weekday mornings, urgent ones as much as routine ones, so the
few who qualify for one posting are wanted by several others at the same hour.
"""

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

HOSPITALS = 20
SITES_PER_HOSPITAL = 2
SCANNERS_PER_SITE = 3
POSTINGS = 1_000
TECHNOLOGISTS = 2_000
BOOKINGS = 20_000
HORIZON_DAYS = 14
VENDORS = ["siemens", "ge", "philips", "canon", "united_imaging"]
FAMILIES = [
    "neuro",
    "msk",
    "cardiac",
    "abdominal",
    "pelvis-prostate",
    "breast",
    "paediatric",
    "angiography",
    "whole-body",
    "head-neck",
    "spine",
]
LANGUAGES = ["nl", "fr", "en", "pt", "de"]
SENIORITY = ["junior", "experienced", "senior"]
URGENCY = ["routine", "priority", "urgent"]
CAP_MINUTES = 38 * 60
REST_BUFFER = timedelta(minutes=30)
# Of each technologist's 10 bookings in the horizon: confirmed, pending, then closed ones.
CONFIRMED, PENDING = 4, 1
BOOKING_HOURS = [10, 12]
FAMILIES_KNOWN = [(2, 3), (3, 5), (4, 7)]  # by seniority
VENDORS_KNOWN = [1, 2, 3]  # by seniority
WEEKDAYS_WORKED = (3, 5)
WEEKEND_SHARE = 0.3
POSTING_SENIORITY = [6, 3, 1]  # junior, experienced, senior at least
POSTING_URGENCY = [6, 3, 1.5]  # routine, priority, urgent
TECH_SENIORITY = [4, 4, 2]


@dataclass
class Posting:
    id: int
    hospital: int
    scanner: int
    vendor: str
    starts_at: datetime
    ends_at: datetime
    families: list[str]
    languages: list[str]
    min_seniority: str
    urgency: str


@dataclass
class Tech:
    id: int
    name: str
    seniority: str
    licensed: bool
    families: set[str]
    vendors: set[str]
    languages: set[str]
    weekdays: set[int]  # 0 = Monday
    window: tuple[int, int]  # hours of the day, UTC
    lender: int | None  # the hospital lending them, None: on their own account
    vendor_sessions: dict[str, int] = field(default_factory=dict)  # completed, in the past
    hospital_sessions: dict[int, int] = field(default_factory=dict)


@dataclass
class Held:
    technologist: int
    starts_at: datetime
    ends_at: datetime
    status: str  # confirmed | pending | declined | cancelled | expired


@dataclass
class Market:
    now: datetime
    postings: list[Posting]
    techs: list[Tech]
    bookings: list[Held]
    ledger: dict[tuple[int, int], int]  # (creditor, debtor) -> hours given


def market(now: datetime, seed: int = 20_261) -> Market:
    """The market, from `now` (a Monday, 00:00 UTC, for whole weeks) for 14 days."""
    rng = random.Random(seed)
    scanners = [
        (h * SITES_PER_HOSPITAL * SCANNERS_PER_SITE + k, h, VENDORS[(h + k) % len(VENDORS)])
        for h in range(HOSPITALS)
        for k in range(SITES_PER_HOSPITAL * SCANNERS_PER_SITE)
    ]
    postings = []
    for i in range(POSTINGS):
        scanner, hospital, vendor = rng.choice(scanners)
        day = rng.choices(range(HORIZON_DAYS), weights=[5, 5, 5, 5, 5, 1, 1] * 2)[0]
        start = now + timedelta(days=day, hours=rng.choice([7, 7, 8, 8, 8, 9, 12, 13]))
        hours = rng.choice([3, 4, 4, 5, 6, 8])
        postings.append(
            Posting(
                id=i + 1,
                hospital=hospital,
                scanner=scanner,
                vendor=vendor,
                starts_at=start,
                ends_at=start + timedelta(hours=hours),
                families=rng.sample(FAMILIES, 2 if rng.random() < 0.2 else 1),
                languages=rng.sample(LANGUAGES, 1) if rng.random() < 0.2 else [],
                min_seniority=rng.choices(SENIORITY, weights=POSTING_SENIORITY)[0],
                urgency=rng.choices(URGENCY, weights=POSTING_URGENCY)[0],
            )
        )
    techs = []
    for i in range(TECHNOLOGISTS):
        # Seniority brings breadth and a record: seniors know more exam families and vendors
        # and have completed more sessions, so they score highest and fit the most postings.
        level = rng.choices(range(len(SENIORITY)), weights=TECH_SENIORITY)[0]
        vendors = set(rng.sample(VENDORS, VENDORS_KNOWN[level]))
        low, high = FAMILIES_KNOWN[level]
        techs.append(
            Tech(
                id=i + 1,
                name=f"Tech {i + 1:04d}",
                seniority=SENIORITY[level],
                licensed=rng.random() < 0.95,
                families=set(rng.sample(FAMILIES, rng.randint(low, high))),
                vendors=vendors,
                languages=set(rng.sample(LANGUAGES, rng.randint(1, 3))),
                weekdays=set(rng.sample(range(5), rng.randint(*WEEKDAYS_WORKED)))
                | ({rng.choice([5, 6])} if rng.random() < WEEKEND_SHARE else set()),
                window=rng.choice([(6, 18), (7, 19), (7, 17), (6, 20)]),
                lender=rng.randrange(HOSPITALS) if rng.random() < 0.4 else None,
                vendor_sessions={v: rng.randint(0, 4 + 4 * level) for v in sorted(vendors)},
                hospital_sessions={
                    h: rng.randint(1, 3 + 3 * level)
                    for h in rng.sample(range(HOSPITALS), rng.randint(0, 1 + 2 * level))
                },
            )
        )
    bookings = []
    per_tech = BOOKINGS // TECHNOLOGISTS
    for tech in techs:
        days = [d for d in range(HORIZON_DAYS) if (d % 7) in tech.weekdays]
        for k in range(per_tech):
            day = days[k % len(days)] if k < len(days) else rng.randrange(HORIZON_DAYS)
            start = now + timedelta(days=day, hours=rng.choice([7, 7, 8, 12, 14]))
            status = (
                "confirmed"
                if k < CONFIRMED
                else "pending"
                if k < CONFIRMED + PENDING
                else rng.choice(["declined", "cancelled", "expired"])
            )
            bookings.append(
                Held(tech.id, start, start + timedelta(hours=rng.choice(BOOKING_HOURS)), status)
            )
    ledger = {
        (a, b): rng.randint(0, 60)
        for a in range(HOSPITALS)
        for b in range(HOSPITALS)
        if a != b and rng.random() < 0.5
    }
    return Market(now, postings, techs, bookings, ledger)


def problem_of(m: Market):  # -> Problem; imported late: Django must be set up
    """The Problem the hard rules give, judged in Python on the description (weeks in UTC,
    which is Lisbon's time in December, the zone of every site and technologist here): what
    the bench checks `problem_for`'s pairs against, and a quick market to tune the model on
    without a database."""
    from scheduling.matching import Reason
    from scheduling.optimiser.problem import Pair, Problem, Session, Technologist

    occupying: dict[int, list[Held]] = defaultdict(list)
    confirmed_week: dict[tuple[int, date], int] = defaultdict(int)
    fortnight: dict[int, int] = defaultdict(int)
    for b in m.bookings:
        if b.status in ("confirmed", "pending"):
            occupying[b.technologist].append(b)
        if b.status == "confirmed":
            minutes = int((b.ends_at - b.starts_at).total_seconds() // 60)
            confirmed_week[b.technologist, monday(b.starts_at)] += minutes
            fortnight[b.technologist] += minutes
    sessions = []
    pairs = []
    rank = {s: i for i, s in enumerate(SENIORITY)}
    for p in sorted(m.postings, key=lambda p: (p.starts_at, p.id)):
        minutes = int((p.ends_at - p.starts_at).total_seconds() // 60)
        sessions.append(
            Session(
                id=p.id,
                starts_at=p.starts_at,
                ends_at=p.ends_at,
                minutes=minutes,
                urgency=p.urgency,
                hospital_id=p.hospital,
                label=f"Hospital {p.hospital:02d}, MR {p.scanner}, {p.starts_at:%a %d %b %H:%M}",
            )
        )
        week = monday(p.starts_at)
        day_start = p.starts_at.replace(hour=0, minute=0)
        for t in m.techs:
            if not (
                t.licensed
                and p.vendor in t.vendors
                and rank[t.seniority] >= rank[p.min_seniority]
                and t.families.issuperset(p.families)
                and (not p.languages or t.languages & set(p.languages))
                and p.starts_at.weekday() in t.weekdays
                and day_start + timedelta(hours=t.window[0]) <= p.starts_at
                and p.ends_at <= day_start + timedelta(hours=t.window[1])
                and confirmed_week[t.id, week] + minutes <= CAP_MINUTES
                and not any(
                    b.starts_at < p.ends_at + REST_BUFFER and b.ends_at > p.starts_at - REST_BUFFER
                    for b in occupying[t.id]
                )
            ):
                continue
            given = (
                0
                if t.lender is None
                else m.ledger.get((p.hospital, t.lender), 0)
                - m.ledger.get((t.lender, p.hospital), 0)
            )
            reciprocity = round(max(-40, min(40, given)) * 0.5 * 100)
            vendor = min(t.vendor_sessions.get(p.vendor, 0), 10)
            hospital = min(t.hospital_sessions.get(p.hospital, 0), 10)
            experience = (vendor + hospital) * 2 * 100
            pairs.append(
                Pair(
                    session_id=p.id,
                    technologist_id=t.id,
                    week=week,
                    reciprocity=reciprocity,
                    experience=experience,
                    reasons=(
                        Reason("reciprocity", f"{reciprocity / 100:g} points", reciprocity / 100),
                        Reason("experience", f"{experience / 100:g} points", experience / 100),
                    ),
                )
            )
    qualified = {pair.technologist_id for pair in pairs}
    technologists = tuple(
        Technologist(
            id=t.id,
            name=t.name,
            cap_left={
                w: max(0, CAP_MINUTES - confirmed_week[t.id, w])
                for w in sorted({monday(m.now + timedelta(days=d)) for d in range(HORIZON_DAYS)})
            },
            fortnight_minutes=fortnight[t.id],
        )
        for t in m.techs
        if t.id in qualified
    )
    return Problem(
        sessions=tuple(sessions),
        technologists=technologists,
        pairs=tuple(pairs),
        rest_buffer=REST_BUFFER,
    )


def monday(moment: datetime) -> date:
    day = moment.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


# --- The same market in the database ----------------------------------------------------------

ZONE = "Europe/Lisbon"  # UTC+0 in December: the database's weeks and windows are the Python ones
BYDAY = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


def seed_database(m: Market) -> None:
    """Write the market with bulk_create: hospitals, sites and scanners; the open postings with
    their families and languages; the technologists with licences, families, languages,
    vendors, lending hospitals and weekly availability; their bookings in the horizon (each on
    a filled posting of its own); completed past sessions for experience; the ledger. A
    technologist's `lender` hospital lends them (membership and availability window)."""
    from django.contrib.auth.hashers import make_password
    from django.db import transaction

    from accounts.models import User
    from marketplace.models import (
        ExamFamily,
        Hospital,
        Membership,
        PostingStatus,
        Role,
        Scanner,
        SessionPosting,
        Site,
        TechnologistProfile,
        VendorFamiliarity,
    )
    from scheduling.models import AvailabilityWindow, Booking, LedgerEntry, LedgerKind

    rng = random.Random(7)
    unusable = make_password(None)
    family_pk = dict(ExamFamily.objects.values_list("code", "pk"))
    with transaction.atomic():
        hospitals = Hospital.objects.bulk_create(
            Hospital(name=f"Hospital {h:02d}", country="PT") for h in range(HOSPITALS)
        )
        sites = Site.objects.bulk_create(
            Site(hospital=hospital, name=f"Site {s}", time_zone=ZONE)
            for hospital in hospitals
            for s in range(SITES_PER_HOSPITAL)
        )
        scanners: list[Scanner] = []
        for h in range(len(hospitals)):
            for k in range(SITES_PER_HOSPITAL * SCANNERS_PER_SITE):
                scanners.append(
                    Scanner(
                        site=sites[h * SITES_PER_HOSPITAL + k // SCANNERS_PER_SITE],
                        name=f"MR {k + 1}",
                        vendor=VENDORS[(h + k) % len(VENDORS)],
                        model_name="Bench",
                        field_strength_tesla=Decimal("1.50"),
                        cockpit_ready=True,
                    )
                )
        scanners = Scanner.objects.bulk_create(scanners)

        def posting(scanner: int, start: datetime, end: datetime, **fields: Any) -> Any:
            s = scanners[scanner]
            return SessionPosting(
                hospital_id=hospitals[scanner // (SITES_PER_HOSPITAL * SCANNERS_PER_SITE)].pk,
                site_id=s.site_id,
                scanner=s,
                vendor=s.vendor,
                starts_at=start,
                ends_at=end,
                **fields,
            )

        open_postings = SessionPosting.objects.bulk_create(
            (
                posting(
                    p.scanner,
                    p.starts_at,
                    p.ends_at,
                    min_seniority=p.min_seniority,
                    urgency=p.urgency,
                    status=PostingStatus.OPEN,
                    published_at=m.now - timedelta(days=1),
                    notes="Outpatient list on standard protocols.",
                )
                for p in m.postings
            ),
            batch_size=1000,
        )
        required = SessionPosting.required_exam_families.through
        asked = SessionPosting.languages.through
        required.objects.bulk_create(
            required(sessionposting_id=row.pk, examfamily_id=family_pk[code])
            for row, p in zip(open_postings, m.postings, strict=True)
            for code in p.families
        )
        asked.objects.bulk_create(
            asked(sessionposting_id=row.pk, language_id=code)
            for row, p in zip(open_postings, m.postings, strict=True)
            for code in p.languages
        )

        users = User.objects.bulk_create(
            (
                User(
                    email=f"tech{t.id:04d}@optimiser.example",
                    first_name="Tech",
                    last_name=f"{t.id:04d}",
                    password=unusable,
                )
                for t in m.techs
            ),
            batch_size=1000,
        )
        user_of = {t.id: u for t, u in zip(m.techs, users, strict=True)}
        profiles = TechnologistProfile.objects.bulk_create(
            (
                TechnologistProfile(
                    user=user_of[t.id],
                    seniority=t.seniority,
                    home_time_zone=ZONE,
                    licence_number=f"PT-RT-{t.id:05d}",
                    licence_authority="ACSS (PT)",
                    licence_valid_until=m.now.date() + timedelta(days=400),
                    licence_verified_at=m.now - timedelta(days=30) if t.licensed else None,
                )
                for t in m.techs
            ),
            batch_size=1000,
        )
        competent = TechnologistProfile.exam_families.through
        speaks = TechnologistProfile.languages.through
        pairs = list(zip(m.techs, profiles, strict=True))
        competent.objects.bulk_create(
            (
                competent(technologistprofile_id=profile.pk, examfamily_id=family_pk[code])
                for t, profile in pairs
                for code in sorted(t.families)
            ),
            batch_size=2000,
        )
        speaks.objects.bulk_create(
            (
                speaks(technologistprofile_id=profile.pk, language_id=code)
                for t, profile in pairs
                for code in sorted(t.languages)
            ),
            batch_size=2000,
        )
        VendorFamiliarity.objects.bulk_create(
            (
                VendorFamiliarity(profile=profile, vendor=vendor)
                for t, profile in pairs
                for vendor in sorted(t.vendors)
            ),
            batch_size=2000,
        )
        lender_of = {t.id: hospitals[t.lender].pk for t in m.techs if t.lender is not None}
        Membership.objects.bulk_create(
            Membership(user=user_of[tid], hospital_id=hospital, role=Role.TECHNOLOGIST)
            for tid, hospital in lender_of.items()
        )
        first_monday = m.now - timedelta(days=7)
        AvailabilityWindow.objects.bulk_create(
            (
                AvailabilityWindow(
                    technologist=user_of[t.id],
                    starts_at=first_monday + timedelta(days=min(t.weekdays), hours=t.window[0]),
                    ends_at=first_monday + timedelta(days=min(t.weekdays), hours=t.window[1]),
                    time_zone=ZONE,
                    rrule="FREQ=WEEKLY;BYDAY=" + ",".join(BYDAY[d] for d in sorted(t.weekdays)),
                    lending_hospital_id=lender_of.get(t.id),
                    created_by=user_of[t.id],
                )
                for t in m.techs
            ),
            batch_size=1000,
        )

        # Bookings in the horizon, then completed ones in the past (the experience the
        # ranking counts), each on a filled posting of its own.
        held: list[tuple[int, int, datetime, datetime, str]] = []
        for b in m.bookings:
            held.append(
                (b.technologist, rng.randrange(len(scanners)), b.starts_at, b.ends_at, b.status)
            )
        per_scanner = SITES_PER_HOSPITAL * SCANNERS_PER_SITE
        for t in m.techs:
            past = m.now - timedelta(days=30)
            for vendor, count in sorted(t.vendor_sessions.items()):
                choices = [i for i, s in enumerate(scanners) if s.vendor == vendor]
                for k in range(min(count, 10)):
                    start = past - timedelta(days=k + 1, hours=rng.randint(0, 8))
                    held.append(
                        (t.id, rng.choice(choices), start, start + timedelta(hours=4), "completed")
                    )
            for hospital, count in sorted(t.hospital_sessions.items()):
                for k in range(min(count, 10)):
                    start = past - timedelta(days=40 + k, hours=rng.randint(0, 8))
                    scanner = hospital * per_scanner + rng.randrange(per_scanner)
                    held.append((t.id, scanner, start, start + timedelta(hours=4), "completed"))
        filled = SessionPosting.objects.bulk_create(
            (posting(s, start, end, status=PostingStatus.FILLED) for _, s, start, end, _ in held),
            batch_size=2000,
        )
        Booking.objects.bulk_create(
            (
                Booking(
                    posting=row,
                    technologist=user_of[tid],
                    status=status,
                    initiated_by="hospital",
                    starts_at=start,
                    ends_at=end,
                    hours=Decimal((end - start).total_seconds() / 3600).quantize(Decimal("0.01")),
                    lending_hospital_id=lender_of.get(tid),
                )
                for row, (tid, _, start, end, status) in zip(filled, held, strict=True)
            ),
            batch_size=2000,
        )

        # The ledger: one entry per (creditor, debtor) with the hours given, on a booking of
        # its own by a ledger worker.
        worker = User.objects.create(email="ledger@optimiser.example", password=unusable)
        entries = sorted(m.ledger.items())
        base = m.now - timedelta(days=90)
        ledger_postings = SessionPosting.objects.bulk_create(
            posting(
                debtor * per_scanner,
                base - timedelta(hours=5 * i),
                base - timedelta(hours=5 * i - 4),
                status=PostingStatus.FILLED,
            )
            for i, ((_, debtor), _) in enumerate(entries)
        )
        bookings = Booking.objects.bulk_create(
            Booking(
                posting=row,
                technologist=worker,
                status="completed",
                initiated_by="hospital",
                starts_at=row.starts_at,
                ends_at=row.ends_at,
                hours=Decimal(hours),
            )
            for row, (_, hours) in zip(ledger_postings, entries, strict=True)
        )
        LedgerEntry.objects.bulk_create(
            LedgerEntry(
                booking=booking,
                kind=LedgerKind.COMPLETED,
                creditor_hospital_id=hospitals[creditor].pk,
                debtor_hospital_id=hospitals[debtor].pk,
                hours=Decimal(hours),
                occurred_at=booking.ends_at,
            )
            for booking, ((creditor, debtor), hours) in zip(bookings, entries, strict=True)
        )
