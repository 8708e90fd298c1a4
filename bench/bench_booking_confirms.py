"""How many booking confirms per second do 8 concurrent clients get through real Daphne processes,
and does the database still hold every booking invariant afterwards?

Set-up, made fresh on every run:
- a throwaway database: SQLite at bench/.data/booking_confirms.sqlite3, or, when DATABASE_URL
  names a PostgreSQL server, a separate database `wescan_bench_confirms` (BENCH_DB_NAME) on it,
  dropped at the end; with REDIS_URL set, the channel layer and the Celery broker use Redis
  database 14 (BENCH_REDIS_DB) on that server, emptied before and after the run;
- migrated with wescan.settings.local (BENCH_SETTINGS overrides), DEBUG off;
- 3 hospitals with a manager, 2 sites (Brussels time) and 6 cockpit-ready scanners each;
- 200 technologists (home time zone Brussels, verified licence), each with daily availability
  06:00-22:00 and an API token;
- 600 open postings and 1,300 pending invitations in the coming three weeks, written in bulk
  as `posting_create(publish=True)` and `booking_invite` write them (through the services they
  take ~100 ms each here: minutes for the seed alone), then checked with the selectors
  `booking_invite` uses: each technologist qualifies for each posting they are invited to, and
  their availability covers it. The technologists work in groups of four; on two days (one in
  each of the next two weeks) a group is invited to five sessions (local time):

      08:00-12:00  all four         only one may win the posting
      10:00-14:00  two of them      overlaps the first
      12:15-16:15  the other two    15 minutes after the first: inside the 30-minute rest
      14:20-18:20  the first two    20 minutes after the second
      16:45-20:45  the other two    exactly 30 minutes after the third: both may be confirmed

  and one technologist of every fifth group is invited to ten 4-hour sessions in the third week
  (40 h): the 38 h weekly cap must refuse exactly one of them.

Measured: the invitations go into one shared queue, each group's in a block (shuffled inside,
blocks shuffled), so that the 8 requests in flight are usually clashing invitations of the same
people. BENCH_CONCURRENCY (default 8) keep-alive clients, spread evenly over the Daphne
processes (BENCH_DAPHNE_PROCESSES, default one per CPU up to 4, sharing one socket as in
production), take the next invitation and POST /api/v1/bookings/{id}/accept/ with that
technologist's token, until the queue is empty. Every answer must be 200 (the booking,
confirmed) or 409 in the API's error shape; anything else (a 5xx, a connection error) fails the
run. The API root is loaded first for a couple of seconds: it warms every process and is the
baseline for the server CPU per request.

Afterwards, in SQL straight on the database (no service, no ORM model logic):
(a) postings with more than one confirmed / in-progress / completed booking;
(b) pairs of confirmed / in-progress bookings of one technologist that overlap or are closer
    than the 30-minute rest;
(c) technologist-weeks (Monday to Sunday in the technologist's home time zone) over 38 h of
    confirmed hours;
(d) postings whose status disagrees with their bookings (filled without a confirmed booking, or
    open with one);
their sum is `booking.invariant_violations` (target 0; any violation fails the run and lists the
rows). Also counted: pending invitations that would still fit (open posting, no clash, cap kept)
although their accept was refused, `booking.wrongly_refused` (target 0); and every 200 must be a
confirmed booking in the database, every 409 a pending one.
"""

import json
import os
import queue
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from common import (
    Bench,
    BenchFailure,
    Caller,
    HttpClient,
    analyze,
    api_root_problem,
    api_token,
    connect_evenly,
    connections_each,
    figure,
    load,
    machine,
    percentile,
    run,
    server_cpu_seconds,
)

GROUP_SIZE = 4
GROUPS = 50  # 200 technologists
HOSPITALS = 3
SITES_PER_HOSPITAL = 2
SCANNERS_PER_SITE = 6
CAP_EVERY = 5  # the first technologist of every fifth group is also invited past the weekly cap
ZONE = "Europe/Brussels"
VENDORS = ("siemens", "ge", "philips")
SEED = 20_260_514

CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "8"))
BASELINE_SECONDS = float(os.environ.get("BENCH_SECONDS", "2"))
REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "14"))

# A day of a group: (start, end) in local time and who of the four is invited; on the group's
# second day the roles turn by two, so that each technologist meets an overlap and a clash
# inside the rest buffer.
DAY_PLAN: tuple[tuple[tuple[int, int], tuple[int, int], tuple[int, ...]], ...] = (
    ((8, 0), (12, 0), (0, 1, 2, 3)),  # one posting, four candidates: one may win
    ((10, 0), (14, 0), (0, 1)),  # overlaps the first
    ((12, 15), (16, 15), (2, 3)),  # 15 minutes after the first: inside the rest buffer
    ((14, 20), (18, 20), (0, 1)),  # 20 minutes after the second
    ((16, 45), (20, 45), (2, 3)),  # exactly 30 minutes after the third: allowed
)
# Ten 4-hour sessions in one week, 30 minutes apart on each day: 40 h against the 38 h cap.
CAP_PLAN = (((7, 0), (11, 0)), ((11, 30), (15, 30)))

# Held against this 2-core machine running the Daphne processes, the database and the 8 clients
# at once. A confirm is the heaviest write the product has (three row locks, the overlap and
# weekly-cap queries, the update, an audit row, a notice, the answer's serialisation); 50/s
# answers this data set's 1,300 invitations in 26 s, where a real market's Monday-morning rush is
# a few confirms a second. SQLite serialises every write on one lock across processes, so it is
# held to less.
CONFIRMS_TARGET = {"postgresql": 50.0, "sqlite": 20.0}
P95_TARGET_MS = {"postgresql": 400.0, "sqlite": 1000.0}
ACCEPT = "/api/v1/bookings/{}/accept/"


# --- Data -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Invitation:
    booking_id: int
    technologist_id: int
    token: str
    block: str  # the invitations it clashes with: "group 7 2026-12-01", "cap 35"


@dataclass
class Seeded:
    technologists: int
    postings: int
    invitations: list[Invitation]  # in queue order
    tokens: list[str]  # one per technologist
    cap_technologists: int
    first_day: date


def _local(day: date, hm: tuple[int, int]) -> datetime:
    return datetime(day.year, day.month, day.day, hm[0], hm[1], tzinfo=ZoneInfo(ZONE))


class ScannerBook:
    """Which scanner is free when: a scanner takes no two overlapping postings."""

    def __init__(self, scanners: list[Any]) -> None:
        self.scanners = scanners
        self.taken: dict[int, list[tuple[datetime, datetime]]] = {s.pk: [] for s in scanners}
        self.next = 0

    def free(self, starts_at: datetime, ends_at: datetime) -> Any:
        for offset in range(len(self.scanners)):
            scanner = self.scanners[(self.next + offset) % len(self.scanners)]
            spans = self.taken[scanner.pk]
            if all(ends_at <= start or starts_at >= end for start, end in spans):
                spans.append((starts_at, ends_at))
                self.next = (self.next + offset + 1) % len(self.scanners)
                return scanner
        raise BenchFailure(f"no scanner free {starts_at:%a %d %b %H:%M}: add scanners")


@dataclass
class Planned:
    """A posting to make, and whom its hospital invites to it."""

    scanner: Any
    starts_at: datetime
    ends_at: datetime
    invitees: list[Any]
    block: str


def plan(technologists: list[Any], scanners: list[Any], monday: date) -> list[Planned]:
    """The sessions of every group (DAY_PLAN on two days, one in each of the next two weeks) and
    the weekly-cap sessions of every fifth group's first technologist (the third week)."""
    weekdays = [monday + timedelta(days=7 * (i // 5) + i % 5) for i in range(10)]
    cap_week = [monday + timedelta(days=14 + i) for i in range(5)]
    book = ScannerBook(scanners)
    planned = []

    def add(day: date, start: tuple[int, int], end: tuple[int, int], who: list[Any], block: str):
        starts_at, ends_at = _local(day, start), _local(day, end)
        planned.append(Planned(book.free(starts_at, ends_at), starts_at, ends_at, who, block))

    for g in range(GROUPS):
        group = technologists[g * GROUP_SIZE : (g + 1) * GROUP_SIZE]
        for turn, day_index in enumerate((g % 10, (g + 5) % 10)):
            day = weekdays[day_index]
            for start, end, roles in DAY_PLAN:
                invitees = [group[(role + 2 * turn) % GROUP_SIZE] for role in roles]
                add(day, start, end, invitees, f"group {g} {day}")
        if g % CAP_EVERY == 0:
            for day in cap_week:
                for start, end in CAP_PLAN:
                    add(day, start, end, [group[0]], f"cap {group[0].pk}")
    return planned


def seed() -> Seeded:
    """Hospitals, technologists and tokens in bulk; availability through `availability_create`;
    postings and invitations in bulk with exactly the rows `posting_create(publish=True)` and
    `booking_invite` write (through the services they took ~100 ms each on PostgreSQL here: 1,300
    invitations would be minutes), then checked with the selectors `booking_invite` uses."""
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import User
    from marketplace.models import (
        Compensation,
        ExamFamily,
        Hospital,
        Membership,
        PostingStatus,
        Role,
        Scanner,
        Seniority,
        SessionPosting,
        Site,
        TechnologistProfile,
        Urgency,
        VendorFamiliarity,
    )
    from scheduling import services
    from scheduling.models import Booking, BookingStatus, Initiator

    rng = random.Random(SEED)
    now = timezone.now()
    today = now.astimezone(ZoneInfo(ZONE)).date()
    monday = today + timedelta(days=7 - today.weekday())  # next Monday: whole weeks ahead
    unusable = make_password(None)  # token auth only
    neuro = ExamFamily.objects.get(code="neuro")

    with transaction.atomic():
        hospitals = Hospital.objects.bulk_create(
            Hospital(name=f"Bench Confirm Hospital {i}", city="Brussels", country="BE")
            for i in range(HOSPITALS)
        )
        managers = User.objects.bulk_create(
            User(
                email=f"manager{i}@confirms.bench.example",
                first_name="Manager",
                last_name=str(i),
                password=unusable,
            )
            for i in range(HOSPITALS)
        )
        Membership.objects.bulk_create(
            Membership(user=manager, hospital=hospital, role=Role.MANAGER)
            for manager, hospital in zip(managers, hospitals, strict=True)
        )
        manager_of = {h.pk: m for h, m in zip(hospitals, managers, strict=True)}
        sites = Site.objects.bulk_create(
            Site(hospital=hospital, name=f"Campus {j}", time_zone=ZONE)
            for hospital in hospitals
            for j in range(SITES_PER_HOSPITAL)
        )
        Scanner.objects.bulk_create(
            Scanner(
                site=site,
                name=f"MR {k}",
                vendor=VENDORS[k % len(VENDORS)],
                model_name="Bench",
                field_strength_tesla="1.50",
                cockpit_ready=True,
            )
            for site in sites
            for k in range(SCANNERS_PER_SITE)
        )
        # Round-robin over the hospitals, so that every hospital posts every kind of session.
        per_hospital = [
            list(Scanner.objects.filter(site__hospital=h).select_related("site__hospital"))
            for h in hospitals
        ]
        scanners = [s for row in zip(*per_hospital, strict=True) for s in row]

        technologists = User.objects.bulk_create(
            User(
                email=f"tech{i:03d}@confirms.bench.example",
                first_name="Tech",
                last_name=f"{i:03d}",
                password=unusable,
            )
            for i in range(GROUPS * GROUP_SIZE)
        )
        profiles = TechnologistProfile.objects.bulk_create(
            TechnologistProfile(
                user=user,
                seniority=Seniority.EXPERIENCED,
                years_experience=8,
                home_time_zone=ZONE,
                licence_number=f"BE-RT-C{i:04d}",
                licence_authority="SPF Santé publique (BE)",
                licence_valid_until=today + timedelta(days=400),
                licence_verified_at=now,
            )
            for i, user in enumerate(technologists)
        )
        TechnologistProfile.exam_families.through.objects.bulk_create(
            TechnologistProfile.exam_families.through(
                technologistprofile_id=profile.pk, examfamily_id=neuro.pk
            )
            for profile in profiles
        )
        VendorFamiliarity.objects.bulk_create(
            VendorFamiliarity(profile=profile, vendor=vendor)
            for profile in profiles
            for vendor in VENDORS
        )
        token_of = {user.pk: api_token(user) for user in technologists}
        for user in technologists:
            services.availability_create(
                actor=user,
                technologist=user,
                starts_at=_local(monday, (6, 0)),
                ends_at=_local(monday, (22, 0)),
                time_zone=ZONE,
                rrule="FREQ=DAILY",
            )

        planned = plan(technologists, scanners, monday)
        postings = SessionPosting.objects.bulk_create(
            SessionPosting(
                hospital_id=p.scanner.site.hospital_id,
                site=p.scanner.site,
                scanner=p.scanner,
                starts_at=p.starts_at,
                ends_at=p.ends_at,
                min_seniority=Seniority.JUNIOR,
                vendor=p.scanner.vendor,
                urgency=Urgency.ROUTINE,
                compensation=Compensation.RECIPROCITY,
                notes="Outpatient neuro list on standard protocols; local staff position.",
                status=PostingStatus.OPEN,
                created_by=manager_of[p.scanner.site.hospital_id],
                published_at=now,
            )
            for p in planned
        )
        SessionPosting.required_exam_families.through.objects.bulk_create(
            SessionPosting.required_exam_families.through(
                sessionposting_id=posting.pk, examfamily_id=neuro.pk
            )
            for posting in postings
        )
        pairs = [
            (posting, user)
            for posting, p in zip(postings, planned, strict=True)
            for user in p.invitees
        ]
        bookings = Booking.objects.bulk_create(
            (
                Booking(
                    posting=posting,
                    technologist=user,
                    status=BookingStatus.PENDING,
                    initiated_by=Initiator.HOSPITAL,
                    starts_at=posting.starts_at,
                    ends_at=posting.ends_at,
                    hours=posting.duration_hours,
                    lending_hospital=None,  # they offered their own time
                )
                for posting, user in pairs
            ),
            batch_size=500,
        )
    check_invitable(profiles, pairs)
    analyze()

    blocks: dict[str, list[Invitation]] = {}
    block_of = {posting.pk: p.block for posting, p in zip(postings, planned, strict=True)}
    for booking in bookings:
        blocks.setdefault(block_of[booking.posting_id], []).append(
            Invitation(
                booking.pk,
                booking.technologist_id,
                token_of[booking.technologist_id],
                block_of[booking.posting_id],
            )
        )
    ordered = list(blocks.values())
    for block in ordered:
        rng.shuffle(block)
    rng.shuffle(ordered)
    return Seeded(
        technologists=len(technologists),
        postings=len(postings),
        invitations=[invitation for block in ordered for invitation in block],
        tokens=[token_of[user.pk] for user in technologists],
        cap_technologists=sum(1 for block in blocks if block.startswith("cap")),
        first_day=monday,
    )


def check_invitable(profiles: list[Any], pairs: list[tuple[Any, Any]]) -> None:
    """What `booking_invite` would have checked for each invitation, with the selectors it
    uses: the technologist qualifies for the posting (`open_postings_for`: open, future,
    licence, exam families, vendor, seniority) and an occurrence of their availability covers
    the whole session (`availability_slots`)."""
    from marketplace.selectors import open_postings_for
    from scheduling.selectors import availability_slots

    postings_of: dict[int, set[int]] = {}
    for posting, user in pairs:
        postings_of.setdefault(user.pk, set()).add(posting.pk)
    for profile in profiles:
        wanted = postings_of.get(profile.user_id, set())
        found = set(
            open_postings_for(profile=profile).filter(pk__in=wanted).values_list("pk", flat=True)
        )
        if found != wanted:
            raise BenchFailure(
                f"technologist {profile.user_id} does not qualify for postings "
                f"{sorted(wanted - found)}: the seed is not what booking_invite would accept"
            )
    slots = availability_slots(
        technologists=[profile.user for profile in profiles],
        range_start=min(posting.starts_at for posting, _ in pairs),
        range_end=max(posting.ends_at for posting, _ in pairs),
    )
    covered: dict[int, list[tuple[datetime, datetime]]] = {}
    for slot in slots:
        covered.setdefault(slot.window.technologist_id, []).append(
            (slot.occurrence.starts_at, slot.occurrence.ends_at)
        )
    for posting, user in pairs:
        if not any(
            start <= posting.starts_at and posting.ends_at <= end
            for start, end in covered.get(user.pk, [])
        ):
            raise BenchFailure(f"technologist {user.pk} is not available for posting {posting.pk}")


# --- The load -------------------------------------------------------------------------------


@dataclass
class Answer:
    invitation: Invitation
    status: int
    ms: float
    refusal: str  # for a 409: filled, rest, cap or other


@dataclass
class AcceptRun:
    seconds: float = 0.0
    answers: list[Answer] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)  # 5xx, wrong answers, connection errors
    server_cores_each: list[float] = field(default_factory=list)
    connections_each: list[int] = field(default_factory=list)

    @property
    def attempts(self) -> int:
        return len(self.answers)

    def with_status(self, status: int) -> list[Answer]:
        return [answer for answer in self.answers if answer.status == status]


def post(client: HttpClient, path: str, token: str) -> tuple[int, bytes]:
    """POST with an empty body on the client's keep-alive connection, as `token`'s owner (the
    clients are shared by all technologists: each request carries its own token)."""
    headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
    try:
        client.connection.request("POST", path, body=b"", headers=headers)
        response = client.connection.getresponse()
        return response.status, response.read()
    except OSError:
        client.connection.close()
        raise


def refusal_kind(message: str) -> str:
    if "filled" in message:
        return "filled"
    if "minutes of rest" in message or "overlapping session" in message:
        return "rest"
    if "weekly cap" in message:
        return "cap"
    return "other"


def judge(invitation: Invitation, status: int, body: bytes) -> tuple[str, str | None]:
    """(the refusal kind for a 409, or ""; what is wrong with the answer, or None)."""
    where = f"POST {ACCEPT.format(invitation.booking_id)}"
    try:
        data = json.loads(body)
    except ValueError:
        return "", f"{where}: HTTP {status}, not JSON: {body[:200]!r}"
    if status == 200:
        if data.get("id") != invitation.booking_id or data.get("status") != "confirmed":
            return "", f"{where}: 200 but not the confirmed booking: {body[:200]!r}"
        return "", None
    if status == 409:
        error = data.get("error") if isinstance(data, dict) else None
        if not isinstance(error, dict) or not error.get("code") or not error.get("message"):
            return "", f"{where}: 409 not in the error shape: {body[:200]!r}"
        return refusal_kind(str(error["message"])), None
    return "", f"{where}: HTTP {status}: {body[:300]!r}"


def accept_all(bench: Bench, seeded: Seeded) -> AcceptRun:
    """Every invitation accepted once, by `CONCURRENCY` clients taking from one queue."""
    assert bench.daphnes is not None
    daphnes = bench.daphnes
    pending: queue.SimpleQueue[Invitation] = queue.SimpleQueue()
    for invitation in seeded.invitations:
        pending.put(invitation)
    clients = connect_evenly(daphnes, seeded.tokens[:CONCURRENCY])
    result = AcceptRun()
    lock = threading.Lock()
    go = threading.Event()

    def worker(client: HttpClient) -> None:
        mine: list[Answer] = []
        go.wait()
        try:
            while True:
                try:
                    invitation = pending.get_nowait()
                except queue.Empty:
                    return
                path = ACCEPT.format(invitation.booking_id)
                sent = time.perf_counter()
                try:
                    status, body = post(client, path, invitation.token)
                except OSError as exc:
                    with lock:
                        result.unexpected.append(f"POST {path}: {exc!r}")
                    continue  # http.client reconnects on the next request
                ms = (time.perf_counter() - sent) * 1000
                refusal, problem = judge(invitation, status, body)
                if problem:
                    with lock:
                        result.unexpected.append(problem)
                    continue
                mine.append(Answer(invitation, status, ms, refusal))
        finally:
            client.connection.close()
            with lock:
                result.answers.extend(mine)

    threads = [threading.Thread(target=worker, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    result.connections_each = connections_each(daphnes)
    cpu_from = [server_cpu_seconds(pid) for pid in daphnes.pids]
    started = time.perf_counter()
    go.set()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    result.server_cores_each = [
        (server_cpu_seconds(pid) - before) / result.seconds
        for pid, before in zip(daphnes.pids, cpu_from, strict=True)
    ]
    return result


# --- Afterwards: the invariants, in SQL --------------------------------------------------------


# The queries, written once for both databases. `{booking}`, `{posting}`, `{profile}`: the
# tables; `{confirmed}`, `{occupying}`: the status lists; `{rest}`: the rest buffer in seconds;
# `{cap}`: the weekly cap in hours; `{epoch:a.starts_at}`: seconds since 1970 of a column;
# `{week:a.starts_at}`: the Monday 00:00 of the column's week in the technologist's (`p`) zone.
INVARIANTS = {
    "(a) postings with more than one confirmed booking": """
        SELECT posting_id, COUNT(*) FROM {booking}
        WHERE status IN ({confirmed}) GROUP BY posting_id HAVING COUNT(*) > 1
    """,
    "(b) one technologist's confirmed bookings overlapping or within the rest": """
        SELECT a.technologist_id, a.id, b.id FROM {booking} a
        JOIN {booking} b ON b.technologist_id = a.technologist_id AND b.id > a.id
        WHERE a.status IN ({occupying}) AND b.status IN ({occupying})
        AND {epoch:a.starts_at} < {epoch:b.ends_at} + {rest}
        AND {epoch:b.starts_at} < {epoch:a.ends_at} + {rest}
    """,
    "(c) technologist-weeks over the weekly cap": """
        SELECT a.technologist_id, {week:a.starts_at}, SUM(a.hours) FROM {booking} a
        JOIN {profile} p ON p.user_id = a.technologist_id
        WHERE a.status IN ({confirmed})
        GROUP BY a.technologist_id, {week:a.starts_at} HAVING SUM(a.hours) > {cap}
    """,
    "(d) postings whose status disagrees with their bookings": """
        SELECT s.id, s.status FROM {posting} s
        WHERE (s.status = 'filled' AND NOT EXISTS (
            SELECT 1 FROM {booking} a WHERE a.posting_id = s.id AND a.status IN ({confirmed})
        )) OR (s.status = 'open' AND EXISTS (
            SELECT 1 FROM {booking} a WHERE a.posting_id = s.id AND a.status IN ({confirmed})
        ))
    """,
}
# Pending invitations that would fit now: open posting, no confirmed booking of the technologist
# within the rest buffer, the weekly cap kept.
STILL_FITTING = """
    SELECT b.id, b.technologist_id, b.posting_id FROM {booking} b
    JOIN {posting} s ON s.id = b.posting_id
    JOIN {profile} p ON p.user_id = b.technologist_id
    WHERE b.status = 'pending' AND s.status = 'open'
    AND NOT EXISTS (
        SELECT 1 FROM {booking} o
        WHERE o.technologist_id = b.technologist_id AND o.status IN ({occupying})
        AND {epoch:o.starts_at} < {epoch:b.ends_at} + {rest}
        AND {epoch:b.starts_at} < {epoch:o.ends_at} + {rest}
    )
    AND COALESCE((
        SELECT SUM(o.hours) FROM {booking} o
        WHERE o.technologist_id = b.technologist_id AND o.status IN ({confirmed})
        AND {week:o.starts_at} = {week:b.starts_at}
    ), 0) + b.hours <= {cap}
"""


class _Expression:
    """`{epoch:column}` / `{week:column}` in a query template: the vendor's SQL for it."""

    def __init__(self, template: str) -> None:
        self.template = template

    def __format__(self, column: str) -> str:
        return self.template.format(column)


def _rows(template: str) -> list[tuple[Any, ...]]:
    """Run one of the templates above. Everything put into it is a constant of this file or of
    the models (table names, statuses, the rest buffer, the cap): no outside input."""
    from django.db import connection

    from marketplace.models import SessionPosting, TechnologistProfile
    from scheduling.models import (
        CONFIRMED_STATUSES,
        OCCUPYING_STATUSES,
        REST_BUFFER,
        WEEKLY_CAP_HOURS,
        Booking,
    )

    if connection.vendor == "postgresql":
        epoch = "EXTRACT(EPOCH FROM {})"
        week = "date_trunc('week', {} AT TIME ZONE p.home_time_zone)"
    else:  # SQLite keeps UTC datetimes as text; Django registers django_datetime_trunc on it
        epoch = "CAST(ROUND((julianday({}) - 2440587.5) * 86400) AS INTEGER)"
        week = "django_datetime_trunc('week', {}, p.home_time_zone, 'UTC')"
    sql = template.format(
        booking=Booking._meta.db_table,
        posting=SessionPosting._meta.db_table,
        profile=TechnologistProfile._meta.db_table,
        confirmed=", ".join(f"'{status}'" for status in CONFIRMED_STATUSES),
        occupying=", ".join(f"'{status}'" for status in OCCUPYING_STATUSES),
        rest=int(REST_BUFFER.total_seconds()),
        cap=WEEKLY_CAP_HOURS,
        epoch=_Expression(epoch),
        week=_Expression(week),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return list(cursor.fetchall())


def invariant_violations() -> dict[str, list[tuple[Any, ...]]]:
    """Each invariant's offending rows; empty lists when the database holds them all."""
    return {name: _rows(template) for name, template in INVARIANTS.items()}


def wrongly_refused() -> list[tuple[Any, ...]]:
    """Pending invitations that would still fit. Every accept was tried once and confirmations
    only add up, so what fits now fitted when it was refused."""
    return _rows(STILL_FITTING)


def check_answers_against_database(result: AcceptRun) -> None:
    """Every 200 is a confirmed booking now, every 409 a pending one: the answers told the
    truth."""
    from scheduling.models import Booking, BookingStatus

    status_of = dict(Booking.objects.values_list("pk", "status"))
    wrong = []
    for answer in result.answers:
        expected = BookingStatus.CONFIRMED if answer.status == 200 else BookingStatus.PENDING
        actual = status_of.get(answer.invitation.booking_id)
        if actual != expected:
            wrong.append(f"booking {answer.invitation.booking_id}: {answer.status}, now {actual}")
    if wrong:
        raise BenchFailure(
            f"{len(wrong)} answers disagree with the database: {'; '.join(wrong[:5])}"
        )


# --- Main -----------------------------------------------------------------------------------


def measure(bench: Bench, seeded: Seeded) -> None:
    from django.db import connection

    vendor = connection.vendor
    print(
        f"setup: {HOSPITALS} hospitals, {HOSPITALS * SITES_PER_HOSPITAL * SCANNERS_PER_SITE} "
        f"cockpit-ready scanners; {seeded.technologists} technologists with daily availability; "
        f"{seeded.postings} open postings from {seeded.first_day:%a %d %b %Y} on; "
        f"{len(seeded.invitations)} pending invitations ({seeded.cap_technologists} "
        f"technologists invited to 40 h in one week)"
    )
    daphnes = bench.start_daphnes(seeded.tokens[0])
    redis = os.environ.get("REDIS_URL")
    print(
        f"setup: {daphnes.describe()}; channel layer and Celery "
        f"{'on ' + redis if redis else 'in-process (eager)'}; {CONCURRENCY} keep-alive clients "
        f"taking from one queue; {machine()}"
    )

    callers = [Caller(token, api_root_problem) for token in seeded.tokens[:CONCURRENCY]]
    baseline = load(daphnes, "/api/v1/", callers, concurrency=CONCURRENCY, seconds=BASELINE_SECONDS)
    daphnes.check_alive()
    if problem := baseline.problem():
        raise BenchFailure(f"the baseline failed: {problem}")
    figure("booking.api_root_rps", f"{baseline.rps:.0f}", "req/s", "— (baseline)")

    result = accept_all(bench, seeded)
    daphnes.check_alive()
    figure(
        "booking.server_errors",
        str(len(result.unexpected)),
        "answers",
        "0",
        bool(result.unexpected),
    )
    if result.unexpected:
        raise BenchFailure(
            f"{len(result.unexpected)} answers neither 200 nor 409, e.g. "
            + "\n".join(result.unexpected[:3])
        )
    if result.attempts != len(seeded.invitations):
        raise BenchFailure(f"{result.attempts} answers for {len(seeded.invitations)} invitations")

    confirmed = result.with_status(200)
    refused = result.with_status(409)
    rate = result.attempts / result.seconds
    latencies = [answer.ms for answer in result.answers]
    p95 = percentile(latencies, 95)
    figure(
        "booking.confirms_per_s",
        f"{rate:.1f}",
        "/s",
        f"≥ {CONFIRMS_TARGET[vendor]:.0f} on {vendor}",
        rate < CONFIRMS_TARGET[vendor],
    )
    figure("booking.confirmed_per_s", f"{len(confirmed) / result.seconds:.1f}", "/s", "—")
    figure("booking.accept_p50_ms", f"{percentile(latencies, 50):.1f}", "ms", "—")
    figure(
        "booking.accept_p95_ms",
        f"{p95:.1f}",
        "ms",
        f"≤ {P95_TARGET_MS[vendor]:.0f} on {vendor}",
        p95 > P95_TARGET_MS[vendor],
    )
    kinds = {
        k: sum(1 for a in refused if a.refusal == k) for k in ("filled", "rest", "cap", "other")
    }
    figure(
        "booking.refused_409",
        str(len(refused)),
        "answers",
        "— (" + ", ".join(f"{kind} {n}" for kind, n in kinds.items()) + ")",
    )
    server_cores = sum(result.server_cores_each)
    cpu_ms = server_cores * result.seconds * 1000 / max(1, result.attempts)
    figure("booking.accept_server_cpu", f"{cpu_ms:.1f}", "ms/request", "—")
    figure("booking.accept_cpu_vs_api_root", f"{cpu_ms / baseline.server_cpu_ms:.1f}", "×", "—")
    print(
        f"load: {result.attempts} accepts in {result.seconds:.1f} s ({len(confirmed)} confirmed, "
        f"{len(refused)} refused); Daphne {server_cores:.2f} cores "
        f"({' + '.join(f'{c:.2f}' for c in result.server_cores_each)}; connections "
        f"{' + '.join(map(str, result.connections_each)) or '?'}); load average "
        f"{os.getloadavg()[0]:.1f}"
    )

    check_answers_against_database(result)
    violations = invariant_violations()
    total = sum(len(rows) for rows in violations.values())
    figure("booking.invariant_violations", str(total), "rows", "0", total > 0)
    for name, rows in violations.items():
        print(f"invariant: {name}: {len(rows)}{' — ' + repr(rows[:10]) if rows else ''}")
    left = wrongly_refused()
    figure("booking.wrongly_refused", str(len(left)), "bookings", "0", bool(left))
    if left:
        print(f"refused although they fit (booking, technologist, posting): {left[:10]!r}")
    if kinds["cap"] < seeded.cap_technologists:
        bench.failures.append(
            f"the weekly cap refused {kinds['cap']} accepts; each of the "
            f"{seeded.cap_technologists} technologists invited to 40 h in one week needs one"
        )
    if total:
        bench.failures.append(f"{total} invariant violations: {violations!r}")


def use_own_redis() -> None:
    """With REDIS_URL set, this benchmark's own Redis database (BENCH_REDIS_DB), emptied: the
    Celery tasks queued without a worker must not land in anyone else's."""
    url = os.environ.get("REDIS_URL")
    if not url:
        return
    os.environ["REDIS_URL"] = urlunsplit(urlsplit(url)._replace(path=f"/{REDIS_DB}"))
    flush_redis()


def flush_redis() -> None:
    url = os.environ.get("REDIS_URL")
    if url:
        import redis

        redis.Redis.from_url(url).flushdb()


if __name__ == "__main__":
    use_own_redis()
    try:
        status = run("booking_confirms", "wescan_bench_confirms", seed, measure)
    finally:
        flush_redis()
    sys.exit(status)
