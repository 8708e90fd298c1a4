"""Six months of demo history, so that the operations dashboard tells a story from the first
`make run`: over the 26 weeks before the current one, the demo hospitals publish sessions on
their cockpit-ready scanners (all three urgency lanes, some days to weeks ahead), technologists
of other hospitals and independents are confirmed after a while, and the sessions run through
cockpits (completed, partial and aborted exams, a few STOPs), with help asked for now and then.
A few sessions are cancelled late by either side, a few are no-shows of either side, and some
find nobody and expire. Week by week the network publishes more and fills more of it: exam hours
grow from about 5 to about 40 a week, and the fill rate from under a half to about nine in ten.

The past cannot go through the services (they refuse a session that has started), so the rows
are written as the services and the cockpit would have left them, and the ledger entries as
`scheduling.services.ledger` writes them (the same kinds, hours, sides and moments), all with
bulk inserts. Deterministic (a fixed seed, times relative to the day it runs) and loaded once:
if the demo already has bookings older than eight weeks, nothing is added. Nothing is open:
every cockpit has ended with its exam record and every request for help is closed, and the
history stops before the current week, so nobody's weekly cap in the weeks ahead is touched.
Notes and reasons are about the work only."""

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import User
from cockpit.models import (
    AssistRequest,
    AssistStage,
    AssistStatus,
    CockpitSession,
    CockpitStatus,
    CockpitStop,
    ExamEnding,
    ExamOutcome,
    ExamRecord,
)
from cockpit.models import (
    Role as CockpitRole,
)
from cockpit.simulator import PROTOCOLS, protocol_for
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
    TechnologistProfile,
    Urgency,
)
from scheduling.ledger import worked_hours
from scheduling.models import (
    Booking,
    BookingStatus,
    Initiator,
    LedgerEntry,
    LedgerKind,
    Side,
)

__all__ = ["WEEKS", "HistorySummary", "demo_history_load"]

WEEKS = 26
SEED = 17
BRUSSELS = ZoneInfo("Europe/Brussels")

# Sessions a scanner can hold in a day (local time): start, hours.
SLOTS = [(time(8), 4), (time(13), 4), (time(18), 3)]

# The work a history session describes: exam families, minimum seniority, the note.
WORK: list[tuple[tuple[str, ...], str, str]] = [
    (("neuro",), Seniority.JUNIOR, "Outpatient brain list with and without contrast."),
    (("msk",), Seniority.JUNIOR, "Knee and shoulder list on standard protocols."),
    (("spine",), Seniority.JUNIOR, "Lumbar and cervical spine follow-ups, no contrast."),
    (("neuro", "msk"), Seniority.JUNIOR, "Mixed list: brain and joint exams."),
    (("cardiac",), Seniority.EXPERIENCED, "Cardiac function and late enhancement list."),
    (("abdominal",), Seniority.EXPERIENCED, "Liver list with dynamic contrast; coach breathing."),
    (("pelvis-prostate",), Seniority.EXPERIENCED, "Multiparametric prostate list."),
    (("breast",), Seniority.EXPERIENCED, "Breast list with dynamic contrast."),
]

# Reasons about the work, never about anyone scanned.
HOSPITAL_CANCELLATIONS = [
    "Scanner down for an unplanned service visit.",
    "Helium refill moved forward by the vendor; the magnet is not available.",
    "No local radiographer to position on site that day.",
]
TECHNOLOGIST_CANCELLATIONS = [
    "Called in for an urgent list at my own hospital.",
    "Unwell since last night; I cannot work the session.",
    "Network outage at home; no stable connection for the cockpit.",
]
STOP_REASONS = [
    "Coil cable reseated before the next series.",
    "Contrast line checked before the dynamic run.",
    "Table repositioned after an off-centre localiser.",
    "Paused for an ear protection check by local staff.",
    "Injector pressure alarm checked on site.",
]
ASSIST_NOTES = [
    "Fat suppression uneven over the field of view; which shim setting do you use?",
    "Breath-hold series keep ghosting; looking for a free-breathing alternative.",
    "Perfusion bolus timing unclear on this vendor's console.",
    "Diffusion shows distortion near the sinuses; second opinion on the parameters.",
    "Late enhancement inversion time: not sure the nulling is right.",
    "Coil selection for a large field of view on this scanner.",
]

# Events forced into given weeks (0 = the oldest), so that each kind is there every time.
HOSPITAL_LATE_WEEKS = (4, 12, 20)
TECHNOLOGIST_LATE_WEEKS = (6, 15, 23)
TECHNOLOGIST_NO_SHOW_WEEKS = (8, 18)
HOSPITAL_NO_SHOW_WEEKS = (10, 21)


@dataclass
class HistorySummary:
    postings: int = 0
    completed: int = 0
    unfilled: int = 0
    late_cancelled: int = 0
    no_shows: int = 0
    assists: int = 0
    exam_hours_by_week: list[Decimal] = field(default_factory=list)

    def __str__(self) -> str:
        return gettext(
            "History of the past %(weeks)s weeks: %(postings)s sessions published, "
            "%(completed)s run through cockpits, %(unfilled)s unfilled, %(late)s late "
            "cancellations, %(no_shows)s no-shows, %(assists)s requests for help."
        ) % {
            "weeks": WEEKS,
            "postings": self.postings,
            "completed": self.completed,
            "unfilled": self.unfilled,
            "late": self.late_cancelled,
            "no_shows": self.no_shows,
            "assists": self.assists,
        }


@dataclass
class _Person:
    user: User
    hospital_id: int | None
    seniority: str
    families: set[str]
    vendors: set[str]


@dataclass
class _Session:
    posting: SessionPosting
    families: tuple[str, ...]
    urgency: str
    week: int
    booking: Booking | None = None
    outcome: str = ""  # the exam's, once completed (ExamOutcome)
    event: str = ""  # hospital_late | technologist_late | technologist_no_show | hospital_no_show


def demo_history_load(
    *, hospitals: dict[str, Hospital], now: datetime | None = None
) -> HistorySummary:
    """Write the history once (see the module's docstring); an empty summary when it is there."""
    now = now or timezone.now()
    summary = HistorySummary()
    if Booking.objects.filter(
        posting__hospital__in=hospitals.values(), starts_at__lt=now - timedelta(weeks=8)
    ).exists():
        return summary
    rng = random.Random(SEED)
    scanners = list(
        Scanner.objects.select_related("site")
        .filter(site__hospital__in=hospitals.values(), cockpit_ready=True)
        .order_by("site__hospital__name", "name")
    )
    if not scanners:
        return summary
    managers = _first_by_hospital(Role.MANAGER)
    local_staff = _first_by_hospital(Role.LOCAL_STAFF)
    people = _people()
    families = {family.code: family for family in ExamFamily.objects.all()}
    this_monday = now.astimezone(BRUSSELS).date()
    this_monday -= timedelta(days=this_monday.weekday())
    first_monday = this_monday - timedelta(weeks=WEEKS)
    busy = _busy(first_monday, this_monday)

    sessions: list[_Session] = []
    for week in range(WEEKS):
        sessions += _week(
            rng,
            week=week,
            monday=first_monday + timedelta(weeks=week),
            scanners=scanners,
            managers=managers,
            busy=busy,
        )
    SessionPosting.objects.bulk_create([s.posting for s in sessions])
    through = SessionPosting.required_exam_families.through
    through.objects.bulk_create(
        [
            through(sessionposting_id=s.posting.pk, examfamily_id=families[code].pk)
            for s in sessions
            for code in s.families
            if code in families
        ]
    )
    _staff(rng, sessions, people=people, busy=busy)
    _events(sessions)
    bookings = [s.booking for s in sessions if s.booking is not None]
    for s in sessions:
        _close(rng, s)
    Booking.objects.bulk_create(bookings)
    SessionPosting.objects.bulk_update(
        [s.posting for s in sessions], ["status", "closed_at"], batch_size=500
    )
    # auto_now(_add) stamps the moment of the insert: put the history's own moments back.
    SessionPosting.objects.filter(pk__in=[s.posting.pk for s in sessions]).update(
        created_at=F("published_at")
    )
    Booking.objects.filter(pk__in=[b.pk for b in bookings]).update(
        created_at=F("confirmed_at"), updated_at=F("closed_at")
    )
    ran = [s for s in sessions if s.booking and s.booking.status == BookingStatus.COMPLETED]
    cockpits = _cockpits(rng, ran, local_staff=local_staff)
    assists = _assists(rng, ran, cockpits, people=people, families=families)
    _ledger(sessions, assists)

    summary.postings = len(sessions)
    summary.completed = len(ran)
    summary.unfilled = sum(
        1 for s in sessions if s.posting.status == PostingStatus.EXPIRED and s.booking is None
    )
    summary.late_cancelled = sum(1 for s in sessions if s.event.endswith("_late"))
    summary.no_shows = sum(1 for s in sessions if s.event.endswith("_no_show"))
    summary.assists = len(assists)
    hours = [Decimal(0)] * WEEKS
    for s in ran:
        cockpit = cockpits[s.posting.pk]
        assert cockpit.started_at is not None
        assert cockpit.ended_at is not None
        hours[s.week] += _hours(cockpit.ended_at - cockpit.started_at)
    summary.exam_hours_by_week = hours
    return summary


# --- Who is there -----------------------------------------------------------------------------


def _first_by_hospital(role: str) -> dict[int, User]:
    found: dict[int, User] = {}
    for membership in Membership.objects.filter(role=role).select_related("user").order_by("pk"):
        found.setdefault(membership.hospital_id, membership.user)
    return found


def _people() -> list[_Person]:
    """Technologists with a verified licence, with where they work (the lender of their hours),
    their exam families and vendors."""
    hospital_of = dict(
        Membership.objects.filter(role=Role.TECHNOLOGIST).values_list("user_id", "hospital_id")
    )
    profiles = (
        TechnologistProfile.objects.filter(licence_verified_at__isnull=False)
        .select_related("user")
        .prefetch_related("exam_families", "vendor_familiarities")
        .order_by("user__email")
    )
    return [
        _Person(
            user=profile.user,
            hospital_id=hospital_of.get(profile.user_id),
            seniority=profile.seniority,
            families={family.code for family in profile.exam_families.all()},
            vendors={known.vendor for known in profile.vendor_familiarities.all()},
        )
        for profile in profiles
    ]


def _busy(first: date, last: date) -> set[tuple[str, int, date]]:
    """Scanners and technologists already taken on a day of the history's range (the demo's
    older sessions): ("scanner" | "person", id, day)."""
    taken: set[tuple[str, int, date]] = set()
    start = datetime.combine(first, time.min, tzinfo=BRUSSELS)
    end = datetime.combine(last, time.min, tzinfo=BRUSSELS)
    for scanner_id, technologist_id, starts_at in Booking.objects.filter(
        starts_at__gte=start, starts_at__lt=end
    ).values_list("posting__scanner_id", "technologist_id", "starts_at"):
        day = starts_at.astimezone(BRUSSELS).date()
        taken |= {("scanner", scanner_id, day), ("person", technologist_id, day)}
    return taken


# --- Publishing -------------------------------------------------------------------------------


def _week(
    rng: random.Random,
    *,
    week: int,
    monday: date,
    scanners: list[Scanner],
    managers: dict[int, User],
    busy: set[tuple[str, int, date]],
) -> list[_Session]:
    """One week's published sessions: more of them as the months go by."""
    progress = week / (WEEKS - 1)
    count = round(5 + 11 * progress + rng.uniform(-1, 1))
    places = [
        (scanner, day, slot)
        for scanner in scanners
        for day in range(5)
        for slot in range(len(SLOTS))
        if ("scanner", scanner.pk, monday + timedelta(days=day)) not in busy
    ]
    chosen = sorted(
        rng.sample(places, min(count, len(places))),
        key=lambda p: (p[1], p[2], p[0].pk),
    )
    sessions = []
    for scanner, day, slot in chosen:
        zone = ZoneInfo(scanner.site.time_zone)
        start, hours = SLOTS[slot]
        starts_at = datetime.combine(monday + timedelta(days=day), start, tzinfo=zone)
        urgency = rng.choices(
            [Urgency.ROUTINE, Urgency.PRIORITY, Urgency.URGENT], weights=[55, 30, 15]
        )[0]
        ahead = {
            Urgency.URGENT: timedelta(hours=rng.uniform(8, 48)),
            Urgency.PRIORITY: timedelta(days=rng.uniform(2, 8)),
            Urgency.ROUTINE: timedelta(days=rng.uniform(7, 28)),
        }[urgency]
        families, seniority, notes = WORK[rng.randrange(len(WORK))]
        hospital_id = scanner.site.hospital_id
        posting = SessionPosting(
            hospital_id=hospital_id,
            site=scanner.site,
            scanner=scanner,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(hours=hours),
            min_seniority=seniority,
            vendor=scanner.vendor,
            urgency=urgency,
            compensation=Compensation.RECIPROCITY,
            notes=notes,
            status=PostingStatus.OPEN,
            created_by=managers.get(hospital_id),
            published_at=starts_at - ahead,
        )
        sessions.append(_Session(posting=posting, families=families, urgency=urgency, week=week))
    return sessions


# --- Staffing ---------------------------------------------------------------------------------

_SENIORITY_RANK: dict[str, int] = {
    Seniority.JUNIOR: 0,
    Seniority.EXPERIENCED: 1,
    Seniority.SENIOR: 2,
}


def _staff(
    rng: random.Random,
    sessions: list[_Session],
    *,
    people: list[_Person],
    busy: set[tuple[str, int, date]],
) -> None:
    """Confirm a technologist of another hospital (or an independent) who is competent for the
    session, free that day, on more of each week's sessions as the months go by (from about
    four in ten to about nine in ten; urgent ones are the hardest to fill)."""
    by_week: dict[int, list[_Session]] = {}
    for session in sessions:
        by_week.setdefault(session.week, []).append(session)
    for week, published in by_week.items():
        target = round(len(published) * (0.42 + 0.5 * week / (WEEKS - 1)))
        order = sorted(published, key=lambda s: (s.urgency == Urgency.URGENT, rng.random()))
        for session in order:
            if target and _confirm(rng, session, people=people, busy=busy):
                target -= 1


def _confirm(
    rng: random.Random,
    session: _Session,
    *,
    people: list[_Person],
    busy: set[tuple[str, int, date]],
) -> bool:
    """A competent technologist free that day, confirmed after a wait that shortens as the
    network grows; False when nobody qualifies."""
    posting = session.posting
    progress = session.week / (WEEKS - 1)
    day = posting.starts_at.astimezone(BRUSSELS).date()
    candidates = [
        person
        for person in people
        if person.hospital_id != posting.hospital_id
        and set(session.families) <= person.families
        and posting.vendor in person.vendors
        and _SENIORITY_RANK[person.seniority] >= _SENIORITY_RANK[posting.min_seniority]
        and ("person", person.user.pk, day) not in busy
    ]
    if not candidates:
        return False
    person = rng.choice(candidates)
    busy.add(("person", person.user.pk, day))
    assert posting.published_at is not None
    lead = posting.starts_at - posting.published_at
    waits: dict[str, timedelta] = {
        Urgency.URGENT: timedelta(hours=rng.uniform(0.5, 6)),
        Urgency.PRIORITY: timedelta(hours=rng.uniform(3, 40)),
        Urgency.ROUTINE: timedelta(days=rng.uniform(0.5, 6)),
    }
    typical = waits[session.urgency] * (1.3 - 0.6 * progress)
    confirmed_at = posting.published_at + min(typical, lead * 0.8)
    hours = Decimal((posting.ends_at - posting.starts_at).total_seconds() / 3600)
    session.booking = Booking(
        posting=posting,
        technologist=person.user,
        status=BookingStatus.CONFIRMED,
        initiated_by=Initiator.HOSPITAL if rng.random() < 0.6 else Initiator.TECHNOLOGIST,
        starts_at=posting.starts_at,
        ends_at=posting.ends_at,
        hours=hours.quantize(Decimal("0.01")),
        lending_hospital_id=person.hospital_id,
        confirmed_at=confirmed_at,
    )
    return True


def _events(sessions: list[_Session]) -> None:
    """The first staffed session of each chosen week is cancelled late or is a no-show."""
    for event, weeks in (
        ("hospital_late", HOSPITAL_LATE_WEEKS),
        ("technologist_late", TECHNOLOGIST_LATE_WEEKS),
        ("technologist_no_show", TECHNOLOGIST_NO_SHOW_WEEKS),
        ("hospital_no_show", HOSPITAL_NO_SHOW_WEEKS),
    ):
        for week in weeks:
            for session in sessions:
                if session.week >= week and session.booking is not None and not session.event:
                    session.event = event
                    break


def _close(rng: random.Random, session: _Session) -> None:
    """How it ended, on the booking and its posting, as the services leave them."""
    posting, booking = session.posting, session.booking
    if booking is None:
        posting.status, posting.closed_at = PostingStatus.EXPIRED, posting.starts_at
        return
    if session.event.endswith("_late"):
        by_hospital = session.event == "hospital_late"
        before = Decimal(rng.uniform(2, 20)).quantize(Decimal("0.01"))
        booking.status = BookingStatus.CANCELLED
        booking.cancelled_side = Initiator.HOSPITAL if by_hospital else Initiator.TECHNOLOGIST
        booking.cancelled_by = posting.created_by if by_hospital else booking.technologist
        reasons = HOSPITAL_CANCELLATIONS if by_hospital else TECHNOLOGIST_CANCELLATIONS
        booking.cancel_reason = rng.choice(reasons)
        booking.cancelled_hours_before = before
        booking.late = True
        booking.closed_at = posting.starts_at - timedelta(hours=float(before))
        # Open again, and nobody took it in time.
        posting.status, posting.closed_at = PostingStatus.EXPIRED, posting.starts_at
        return
    if session.event.endswith("_no_show"):
        booking.status = BookingStatus.NO_SHOW
        booking.no_show_side = (
            Side.HOSPITAL if session.event == "hospital_no_show" else Side.TECHNOLOGIST
        )
        booking.closed_at = posting.starts_at + timedelta(minutes=rng.randint(16, 40))
        posting.status, posting.closed_at = PostingStatus.FILLED, None
        return
    booking.status = BookingStatus.COMPLETED
    posting.status, posting.closed_at = PostingStatus.FILLED, posting.ends_at
    # The cockpit's own start and end (see _cockpits) are the booking's.
    started = posting.starts_at + timedelta(minutes=rng.randint(2, 12))
    roll = rng.random()
    outcome, share = (
        (ExamOutcome.ABORTED, rng.uniform(0.1, 0.3))
        if roll < 0.04
        else (ExamOutcome.PARTIAL, rng.uniform(0.5, 0.8))
        if roll < 0.14
        else (ExamOutcome.COMPLETED, rng.uniform(0.88, 0.98))
    )
    ended = started + (posting.ends_at - started) * share
    booking.started_at, booking.completed_at, booking.closed_at = started, ended, ended
    session.outcome = outcome


# --- The cockpits -----------------------------------------------------------------------------


def _cockpits(
    rng: random.Random, ran: list[_Session], *, local_staff: dict[int, User]
) -> dict[int, CockpitSession]:
    """Each completed session's cockpit, ended, with its exam record, and a few STOPs."""
    cockpits: dict[int, CockpitSession] = {}
    for session in ran:
        booking = session.booking
        assert booking is not None
        assert booking.started_at is not None
        cockpits[session.posting.pk] = CockpitSession(
            booking=booking,
            protocol=protocol_for(list(session.families)),
            status=CockpitStatus.ENDED,
            join_approved_at=booking.started_at - timedelta(minutes=rng.randint(3, 9)),
            join_approved_by=local_staff.get(session.posting.hospital_id),
            started_at=booking.started_at,
            ended_at=booking.completed_at,
        )
    CockpitSession.objects.bulk_create(cockpits.values())
    CockpitSession.objects.filter(pk__in=[c.pk for c in cockpits.values()]).update(
        created_at=F("join_approved_at"), updated_at=F("ended_at")
    )
    records, stops = [], []
    for index, session in enumerate(ran):
        cockpit = cockpits[session.posting.pk]
        booking = session.booking
        assert booking is not None
        assert cockpit.started_at is not None
        assert cockpit.ended_at is not None
        outcome = session.outcome
        names = [spec.name for spec in PROTOCOLS[cockpit.protocol].sequences]
        counts: dict[str, int] = {
            ExamOutcome.COMPLETED: len(names),
            ExamOutcome.PARTIAL: len(names) - rng.randint(1, 2),
            ExamOutcome.ABORTED: 0,
        }
        done = counts[outcome]
        sequences = [
            {
                "name": name,
                "outcome": "done" if i < done else "aborted" if i == done else "skipped",
                "progress": _progress(rng, i, done),
            }
            for i, name in enumerate(names)
        ]
        records.append(
            ExamRecord(
                cockpit=cockpit,
                outcome=outcome,
                sequences=sequences,
                sequences_done=done,
                sequences_total=len(names),
                ending=ExamEnding.CLOSED if outcome == ExamOutcome.COMPLETED else ExamEnding.EARLY,
                ended_by=booking.technologist,
                ended_role=CockpitRole.OPERATOR,
                ended_at=cockpit.ended_at,
            )
        )
        local = local_staff.get(session.posting.hospital_id)
        if index % 9 == 4 or outcome == ExamOutcome.ABORTED:
            span = cockpit.ended_at - cockpit.started_at
            at = cockpit.started_at + span * rng.uniform(0.2, 0.9)
            stops.append(
                CockpitStop(
                    cockpit=cockpit,
                    by=local,
                    role=CockpitRole.LOCAL,
                    at=at,
                    reason=rng.choice(STOP_REASONS),
                    reason_by=local,
                    reason_at=at + timedelta(minutes=rng.randint(1, 5)),
                )
            )
    ExamRecord.objects.bulk_create(records)
    CockpitStop.objects.bulk_create(stops)
    return cockpits


def _progress(rng: random.Random, index: int, done: int) -> float:
    """A sequence's progress: whole when done, part of the way for the one that stopped."""
    if index < done:
        return 1.0
    return round(rng.uniform(0.1, 0.7), 2) if index == done else 0.0


def _assists(
    rng: random.Random,
    ran: list[_Session],
    cockpits: dict[int, CockpitSession],
    *,
    people: list[_Person],
    families: dict[str, ExamFamily],
) -> list[AssistRequest]:
    """Help asked for in about one cockpit in five: mostly a senior of another hospital accepts
    within minutes; some wait for the request to widen (stage 2) or reach the managers (stage
    3); a few find nobody and close unanswered. All closed."""
    requests: list[AssistRequest] = []
    for index, session in enumerate(ran):
        if index % 5 != 2:
            continue
        cockpit = cockpits[session.posting.pk]
        booking = session.booking
        assert booking is not None
        assert cockpit.started_at is not None
        assert cockpit.ended_at is not None
        span = cockpit.ended_at - cockpit.started_at
        created = cockpit.started_at + span * rng.uniform(0.1, 0.4)
        family = session.families[0]
        kind = rng.choices(["seniors", "widened", "managers", "unanswered"], [70, 15, 8, 7])[0]
        if len(requests) in (3, 17):  # a couple unanswered whatever the dice say
            kind = "unanswered"
        if len(requests) in (5, 11):
            kind = "widened"
        if len(requests) in (8,):
            kind = "managers"
        stage = {"seniors": 1, "widened": 2, "managers": 3, "unanswered": 3}[kind]
        request = AssistRequest(
            cockpit=cockpit,
            requested_by=booking.technologist,
            requester_role=CockpitRole.OPERATOR,
            exam_family=families[family],
            vendor=session.posting.vendor,
            note=rng.choice(ASSIST_NOTES),
            stage=stage,
            stage_changed_at=created + timedelta(minutes=(0, 0, 5, 10)[stage]),
            created_at=created,
        )
        helper = _helper(rng, session, people=people, widened=kind == "widened")
        if helper is None and kind in ("seniors", "managers"):
            # No senior of another hospital knows this family: it widens, and is answered.
            kind, stage = "widened", AssistStage.WIDENED
            request.stage = stage
            request.stage_changed_at = created + timedelta(minutes=5)
            helper = _helper(rng, session, people=people, widened=True)
        if kind == "unanswered" or helper is None:
            request.status = AssistStatus.EXPIRED
            request.stage = AssistStage.MANAGERS
            request.stage_changed_at = created + timedelta(minutes=10)
            request.ended_at = min(created + timedelta(minutes=30), cockpit.ended_at)
        else:
            wait = {
                "seniors": rng.uniform(1, 7),
                "widened": rng.uniform(6, 12),
                "managers": rng.uniform(12, 20),
            }[kind]
            accepted = created + timedelta(minutes=wait)
            request.status = AssistStatus.RESOLVED
            request.accepted_by = helper.user
            request.accepted_at = accepted
            request.senior_hospital_id = helper.hospital_id
            request.ended_at = min(
                accepted + timedelta(minutes=rng.uniform(10, 35)), cockpit.ended_at
            )
            request.ended_by = booking.technologist
        requests.append(request)
    AssistRequest.objects.bulk_create(requests)
    return requests


def _helper(
    rng: random.Random, session: _Session, *, people: list[_Person], widened: bool
) -> _Person | None:
    """A senior (an experienced technologist once widened) of another hospital than the
    scanner's, competent for the family, not the operator."""
    booking = session.booking
    assert booking is not None
    wanted = Seniority.EXPERIENCED if widened else Seniority.SENIOR
    found = [
        person
        for person in people
        if person.seniority == wanted
        and person.user.pk != booking.technologist_id
        and person.hospital_id != session.posting.hospital_id
        and session.families[0] in person.families
    ]
    return rng.choice(found) if found else None


# --- The ledger -------------------------------------------------------------------------------


def _ledger(sessions: list[_Session], assists: list[AssistRequest]) -> None:
    """The entries `scheduling.services.ledger` writes: the hours worked on a completed booking,
    the booked hours of a hospital's late cancellation or no-show, and a senior's help; none
    when the hours stay within one hospital."""
    entries = []
    for session in sessions:
        booking = session.booking
        if booking is None:
            continue
        if booking.status == BookingStatus.COMPLETED:
            kind = LedgerKind.COMPLETED
            hours = worked_hours(
                started_at=booking.started_at,
                completed_at=booking.completed_at,
                booked=booking.hours,
            )
        elif session.event == "hospital_late":
            kind, hours = LedgerKind.LATE_CANCELLATION, booking.hours
        elif session.event == "hospital_no_show":
            kind, hours = LedgerKind.HOSPITAL_NO_SHOW, booking.hours
        else:
            continue
        debtor = session.posting.hospital_id
        lender = booking.lending_hospital_id
        if hours <= 0 or lender == debtor:
            continue
        assert booking.closed_at is not None
        entries.append(
            LedgerEntry(
                booking=booking,
                kind=kind,
                creditor_hospital_id=lender,
                creditor_technologist_id=None if lender else booking.technologist_id,
                debtor_hospital_id=debtor,
                hours=hours,
                occurred_at=booking.completed_at or booking.closed_at,
            )
        )
    for request in assists:
        if request.accepted_at is None or request.ended_at is None:
            continue
        booking = request.cockpit.booking
        hours = _hours(request.ended_at - request.accepted_at)
        debtor = booking.posting.hospital_id
        if hours <= 0 or request.senior_hospital_id == debtor:
            continue
        entries.append(
            LedgerEntry(
                booking=booking,
                kind=LedgerKind.ASSIST,
                assist=request,
                creditor_hospital_id=request.senior_hospital_id,
                creditor_technologist_id=(
                    None if request.senior_hospital_id else request.accepted_by_id
                ),
                debtor_hospital_id=debtor,
                hours=hours,
                occurred_at=request.ended_at,
            )
        )
    LedgerEntry.objects.bulk_create(entries)
    LedgerEntry.objects.filter(pk__in=[e.pk for e in entries]).update(created_at=F("occurred_at"))


def _hours(span: timedelta) -> Decimal:
    return (Decimal(span.total_seconds()) / 3600).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
