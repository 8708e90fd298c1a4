"""Matching: for a posting, the technologists who can take it, ranked, each with a reason per
term; for a technologist, the open postings they can take, ranked the same way.

Hard filters decide who (or what) is shown at all, and agree with what `booking_invite` and
`booking_accept` let through: a verified, unexpired licence; every required exam family; the
scanner's vendor; a shared language when the posting asks some; the minimum seniority; an
availability occurrence covering the whole session; no confirmed booking within the rest buffer;
the weekly cap kept (the buffer, the cap and the week are `scheduling.workload`'s). For a
posting's candidates they are `scheduling.eligibility`'s, the same code the optimiser builds its
problem with; a technologist's postings start from `open_postings_for` and finish availability
in Python, as `scheduling.recurrence` does everywhere, because a recurrence is defined in
wall-clock time.

Soft terms order what passes; their weights are `WEIGHTS`, below. Queries per call are constant:
they do not grow with the number of technologists or postings."""

from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from copy import copy
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import (
    Count,
    DecimalField,
    Exists,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    prefetch_related_objects,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import User
from marketplace.models import (
    Hospital,
    PostingStatus,
    SessionPosting,
    TechnologistProfile,
    Urgency,
    Vendor,
)
from marketplace.selectors import open_postings_for
from scheduling import workload
from scheduling.eligibility import Fit, fits_for
from scheduling.models import (
    CONFIRMED_STATUSES,
    LIVE_STATUSES,
    OCCUPYING_STATUSES,
    AvailabilityWindow,
    Booking,
    BookingStatus,
    LedgerEntry,
)
from scheduling.recurrence import Occurrence, RecurrenceError
from scheduling.workload import hours_text

__all__ = [
    "WEIGHTS",
    "Candidate",
    "Match",
    "Reason",
    "Weights",
    "candidates_for",
    "hard_reasons",
    "matches_for",
    "soft_reasons",
]


# --- Weights ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Weights:
    """The soft terms of a match and what each is worth. A score is the sum of the points of
    its terms; hard filters add nothing (they all pass, or the match is not shown). Every term
    is bounded so that none drowns the others: a score lies between -20 and 90.

    - `urgency`: points by the posting's urgency lane (0 / 10 / 20). For a technologist it
      orders their postings; for a posting's candidates it is the same for all, and shown.
    - `per_vendor_session` × completed sessions of the technologist on scanners of the
      posting's vendor, counting at most `sessions_counted` (0..20).
    - `per_hospital_session` × completed sessions at the posting's hospital, counting at most
      `sessions_counted` (0..20).
    - `per_reciprocity_hour` × net hours of the reciprocity ledger, counting at most
      `reciprocity_hours_counted` either way (-20..20). For a posting's candidates: the hours
      the posting's hospital gave the hospital lending the candidate, minus those it received
      from it (a lender that owes the posting's hospital comes first; a candidate offering
      their own time scores 0). For a technologist: the posting hospital's hours given to the
      whole network minus those received (hospitals that gave more come first).
    - `fairness` × the share of the weekly cap still free in the session's week (0..10): at
      equal fit, whoever holds fewer confirmed hours that week ranks higher.
    """

    urgency: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType(
            {Urgency.ROUTINE: 0.0, Urgency.PRIORITY: 10.0, Urgency.URGENT: 20.0}
        )
    )
    per_vendor_session: float = 2.0
    per_hospital_session: float = 2.0
    sessions_counted: int = 10
    per_reciprocity_hour: float = 0.5
    reciprocity_hours_counted: int = 40
    fairness: float = 10.0


WEIGHTS = Weights()


# --- What a match says ------------------------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    term: str  # a stable key: "licence", "families", "vendor", ... (see WEIGHTS for soft terms)
    text: str  # human-readable, times local to the posting's site
    points: float  # this term's share of the score (0 for hard filters)


@dataclass(frozen=True)
class Candidate:
    """A technologist for one posting."""

    technologist: User
    profile: TechnologistProfile
    score: float
    reasons: list[Reason]  # hard filters first (all ✓), then the soft terms
    hours_this_week: Decimal
    lending_hospital: Hospital | None  # from the availability window that covers the session


@dataclass(frozen=True)
class Match:
    """A posting for one technologist."""

    posting: SessionPosting
    score: float
    reasons: list[Reason]


_HOURS = DecimalField(max_digits=8, decimal_places=2)


# --- A posting's candidates -------------------------------------------------------------------


def candidates_for(
    *, posting: SessionPosting, now: datetime | None = None, limit: int = 20
) -> list[Candidate]:
    """The technologists who can take this posting, best first (ties by name, then id). Those
    who already hold a live booking on it are left out (the posting page lists them apart);
    a posting that is not open, or has started, has none. Who passes is
    `scheduling.eligibility`'s answer, as for the optimiser."""
    now = now or timezone.now()
    if posting.status != PostingStatus.OPEN or posting.starts_at <= now:
        return []
    # Its families and languages read once, on a copy: the caller's instance stays as it was.
    posting = copy(posting)
    prefetch_related_objects(
        [posting],
        Prefetch("required_exam_families", to_attr="prefetched_families"),
        Prefetch("languages", to_attr="prefetched_languages"),
    )
    fits = fits_for([posting], now=now)[posting.pk]
    if not fits:
        return []
    hospitals = Hospital.objects.in_bulk(
        {posting.hospital_id, *(fit.lending_hospital_id for fit in fits if fit.lending_hospital_id)}
    )
    hospital = posting.hospital
    scored = []
    for fit in fits:
        lender = hospitals.get(fit.lending_hospital_id) if fit.lending_hospital_id else None
        soft = soft_reasons(posting, fit, lender=lender, hospital=hospital)
        scored.append((round(sum(reason.points for reason in soft), 2), fit, lender, soft))
    scored.sort(key=lambda item: (-item[0], item[1].person.name.casefold(), item[1].person.user_id))
    top = scored[:limit]
    profiles = {
        profile.user_id: profile
        for profile in TechnologistProfile.objects.select_related("user").filter(
            user_id__in=[fit.person.user_id for _, fit, _, _ in top]
        )
    }
    zone = ZoneInfo(posting.site.time_zone)
    return [
        Candidate(
            technologist=profiles[fit.person.user_id].user,
            profile=profiles[fit.person.user_id],
            score=score,
            reasons=hard_reasons(posting, fit, zone=zone) + soft,
            hours_this_week=fit.held,
            lending_hospital=lender,
        )
        for score, fit, lender, soft in top
    ]


def hard_reasons(posting: SessionPosting, fit: Fit, *, zone: ZoneInfo) -> list[Reason]:
    """The hard rules `fit` passes, each as a ✓ fact (0 points), in the ranking's order.
    `zone`: the posting's site's, for the times shown."""
    return [
        _licence_reason(fit.person.licence_valid_until),
        *[_family_reason(family.code) for family in posting.family_list],
        _vendor_reason(posting.vendor),
        *([_language_reason(fit.shared_language)] if fit.shared_language else []),
        _seniority_reason(fit.person.seniority, posting.min_seniority),
        _availability_reason(fit.occurrence, posting, zone),
        _rest_reason(),
        _cap_reason(fit.held, posting.duration_hours),
    ]


def soft_reasons(
    posting: SessionPosting, fit: Fit, *, lender: Hospital | None, hospital: Hospital
) -> list[Reason]:
    """The soft terms of `fit` and their points (WEIGHTS). `lender`: the hospital of
    `fit.lending_hospital_id`; `hospital`: the posting's."""
    return [
        _urgency_reason(posting.urgency),
        _vendor_experience_reason(fit.vendor_sessions, posting.vendor),
        _hospital_experience_reason(fit.hospital_sessions, hospital),
        _lender_reason(lender, fit.balance, hospital),
        _fairness_reason(fit.held, this_week=True),
    ]


# --- A technologist's postings ----------------------------------------------------------------


def matches_for(
    *,
    profile: TechnologistProfile,
    now: datetime | None = None,
    limit: int = 50,
    urgency: str | None = None,
    exam_family: str | None = None,
) -> list[Match]:
    """The open postings this technologist can take, best first (ties by start, then id).
    Nothing while their licence does not let them be booked. Postings they already hold a live
    booking on are left out."""
    now = now or timezone.now()
    user_id = profile.user_id
    windows = list(
        AvailabilityWindow.objects.filter(technologist_id=user_id)
        .filter(Q(last_ends_at__isnull=True) | Q(last_ends_at__gt=now))
        .select_related("lending_hospital")
        .order_by()
    )
    if not windows:
        return []
    zone = ZoneInfo(profile.home_time_zone)
    postings = _matching_postings(
        profile, windows=windows, now=now, urgency=urgency, exam_family=exam_family, zone=zone
    )
    if not postings:
        return []
    covering = _covering_occurrences(windows, postings)
    done: dict[tuple[str, Any], int] = {}
    for vendor, hospital_id, n in (
        Booking.objects.filter(technologist_id=user_id, status=BookingStatus.COMPLETED)
        .order_by()
        .values_list("posting__vendor", "posting__hospital_id")
        .annotate(n=Count("pk"))
    ):
        done[("vendor", vendor)] = done.get(("vendor", vendor), 0) + n
        done[("hospital", hospital_id)] = done.get(("hospital", hospital_id), 0) + n
    scored = []
    for posting in postings:
        occurrence = covering.get(posting.pk)
        held = _annotated(posting, "hours_that_week")
        if occurrence is None or not workload.within_cap(held, posting.duration_hours):
            continue
        soft = [
            _urgency_reason(posting.urgency),
            _vendor_experience_reason(done.get(("vendor", posting.vendor), 0), posting.vendor),
            _hospital_experience_reason(
                done.get(("hospital", posting.hospital_id), 0), posting.hospital
            ),
            _network_reason(posting.hospital, _annotated(posting, "network_balance")),
            _fairness_reason(held, this_week=False, week=_annotated(posting, "week")),
        ]
        scored.append((round(sum(r.points for r in soft), 2), posting, occurrence, soft))
    scored.sort(key=lambda item: (-item[0], item[1].starts_at, item[1].pk))
    top = scored[:limit]
    # Families and languages only for the postings shown: the score does not need them.
    prefetch_related_objects(
        [posting for _, posting, _, _ in top],
        Prefetch("required_exam_families", to_attr="prefetched_families"),
        Prefetch("languages", to_attr="prefetched_languages"),
    )
    spoken = set(profile.languages.values_list("code", flat=True))
    licence = _licence_reason(profile.licence_valid_until)
    matches = []
    for score, posting, occurrence, soft in top:
        asked = sorted(language.code for language in posting.language_list)
        shared = [code for code in asked if code in spoken]
        hard = [
            licence,
            *[_family_reason(family.code) for family in posting.family_list],
            _vendor_reason(posting.vendor),
            *([Reason("language", f"speaks {shared[0]} ✓", 0)] if asked and shared else []),
            _seniority_reason(profile.seniority, posting.min_seniority),
            _availability_reason(occurrence, posting, ZoneInfo(posting.site.time_zone)),
            _rest_reason(),
            _cap_reason(_annotated(posting, "hours_that_week"), posting.duration_hours),
        ]
        matches.append(Match(posting=posting, score=score, reasons=hard + soft))
    return matches


def _matching_postings(
    profile: TechnologistProfile,
    *,
    windows: list[AvailabilityWindow],
    now: datetime,
    urgency: str | None,
    exam_family: str | None,
    zone: ZoneInfo,
) -> list[SessionPosting]:
    """`open_postings_for` (licence, families, vendor, language, seniority), within the span of
    the technologist's windows, without a live booking of theirs or a confirmed one of theirs
    within the rest buffer; with the hours they hold in each posting's week (their time zone)
    and the posting hospital's balance with the network."""
    user_id = profile.user_id
    postings = (
        open_postings_for(profile=profile, now=now, urgency=urgency, exam_family=exam_family)
        .prefetch_related(None)
        .filter(starts_at__gte=min(window.starts_at for window in windows))
    )
    if all(window.last_ends_at is not None for window in windows):
        postings = postings.filter(
            ends_at__lte=max(window.last_ends_at for window in windows if window.last_ends_at)
        )
    held = (
        Booking.objects.filter(technologist_id=user_id, status__in=CONFIRMED_STATUSES)
        .annotate(week=workload.week_expression("starts_at", zone))
        .filter(week=OuterRef("week"))
    )
    hospital = OuterRef("hospital_id")
    return list(
        postings.filter(
            ~Exists(
                Booking.objects.filter(
                    posting_id=OuterRef("pk"), technologist_id=user_id, status__in=LIVE_STATUSES
                )
            ),
            ~Exists(
                Booking.objects.filter(
                    workload.clashing(OuterRef("starts_at"), OuterRef("ends_at")),
                    technologist_id=user_id,
                    status__in=OCCUPYING_STATUSES,
                )
            ),
        ).annotate(
            week=workload.week_expression("starts_at", zone),
            hours_that_week=Coalesce(
                _sum_hours(held, "technologist_id"), Value(Decimal(0)), output_field=_HOURS
            ),
            network_balance=_ledger_hours(creditor=hospital) - _ledger_hours(debtor=hospital),
        )
    )


def _covering_occurrences(
    windows: list[AvailabilityWindow], postings: list[SessionPosting]
) -> dict[int, Occurrence]:
    """Per posting, the earliest occurrence of the technologist's windows covering it whole.
    Each window is expanded once over the span of the postings."""
    range_start = min(posting.starts_at for posting in postings)
    range_end = max(posting.ends_at for posting in postings)
    slots: list[tuple[datetime, int, Occurrence]] = []
    too_long: list[AvailabilityWindow] = []
    for window in windows:
        try:
            expanded = window.occurrences(range_start, range_end)
        except RecurrenceError:  # too many occurrences over the span: one posting at a time
            too_long.append(window)
            continue
        slots += [(occurrence.starts_at, window.pk, occurrence) for occurrence in expanded]
    slots.sort(key=lambda slot: (slot[0], slot[1]))
    starts = [slot[0] for slot in slots]
    longest = max((slot[2].ends_at - slot[2].starts_at for slot in slots), default=timedelta(0))
    found: dict[int, Occurrence] = {}
    for posting in postings:
        first = bisect_left(starts, posting.starts_at - longest)
        last = bisect_right(starts, posting.starts_at)
        choices = [slot for slot in slots[first:last] if slot[2].ends_at >= posting.ends_at]
        for window in too_long:
            choices += [
                (occurrence.starts_at, window.pk, occurrence)
                for occurrence in _occurrences(window, posting.starts_at, posting.ends_at)
                if occurrence.starts_at <= posting.starts_at
                and occurrence.ends_at >= posting.ends_at
            ]
        if choices:
            found[posting.pk] = min(choices, key=lambda slot: (slot[0], slot[1]))[2]
    return found


# --- Query pieces -----------------------------------------------------------------------------


def _sum_hours(bookings: QuerySet[Booking], group: str) -> Subquery:
    return Subquery(
        bookings.order_by().values(group).annotate(total=Sum("hours")).values("total"),
        output_field=_HOURS,
    )


def _count(bookings: QuerySet[Booking]) -> Coalesce:
    counted = bookings.order_by().values("technologist_id").annotate(n=Count("pk")).values("n")[:1]
    return Coalesce(Subquery(counted), 0)


def _ledger_hours(*, creditor: Any = None, debtor: Any = None) -> Coalesce:
    """Hours in the ledger credited to `creditor` and/or debited to `debtor` (hospital ids or
    OuterRefs); 0 when none."""
    entries = LedgerEntry.objects.all()
    if creditor is not None:
        entries = entries.filter(creditor_hospital_id=creditor)
    if debtor is not None:
        entries = entries.filter(debtor_hospital_id=debtor)
    total = entries.order_by().annotate(one=Value(1)).values("one").annotate(t=Sum("hours"))
    return Coalesce(
        Subquery(total.values("t")[:1], output_field=_HOURS),
        Value(Decimal(0)),
        output_field=_HOURS,
    )


def _occurrences(window: AvailabilityWindow, start: datetime, end: datetime) -> list[Occurrence]:
    if not window.is_recurring:
        return [Occurrence(window.starts_at, window.ends_at)]
    try:
        return window.occurrences(start, end)
    except RecurrenceError:  # a rule that no longer parses covers nothing
        return []


# --- Reasons ----------------------------------------------------------------------------------
# Built from plain values and cached: a fortnight of the network repeats the same few facts
# (a licence date, a cap reached, an availability) over hundreds of thousands of pairs, and a
# Reason is immutable, so one object serves them all.


def _annotated(row: object, name: str) -> Any:
    """A value the query annotated the row with."""
    return getattr(row, name)


@lru_cache(maxsize=8192)
def _licence_reason(until: date | None) -> Reason:
    return Reason("licence", f"licence verified, valid until {until:%d %b %Y} ✓", 0)


@lru_cache(maxsize=8192)
def _family_reason(code: str) -> Reason:
    return Reason("families", f"{code} ✓", 0)


@lru_cache(maxsize=8192)
def _language_reason(code: str) -> Reason:
    return Reason("language", f"speaks {code} ✓", 0)


@lru_cache(maxsize=8192)
def _vendor_reason(vendor: str) -> Reason:
    return Reason("vendor", f"{Vendor(vendor).label} ✓", 0)


@lru_cache(maxsize=8192)
def _seniority_reason(seniority: str, minimum: str) -> Reason:
    return Reason("seniority", f"seniority {seniority} ≥ {minimum} ✓", 0)


def _availability_reason(occurrence: Occurrence, posting: SessionPosting, zone: ZoneInfo) -> Reason:
    return _available(occurrence, posting.starts_at, zone)


@lru_cache(maxsize=8192)
def _available(occurrence: Occurrence, session_start: datetime, zone: ZoneInfo) -> Reason:
    start, end = occurrence.starts_at.astimezone(zone), occurrence.ends_at.astimezone(zone)
    day = session_start.astimezone(zone).date()
    if start.date() == day == end.date():
        text = f"available {start:%H:%M}–{end:%H:%M} ✓"
    else:
        text = f"available {start:%a %d %b %H:%M} – {end:%a %d %b %H:%M} ✓"
    return Reason("availability", text, 0)


@lru_cache(maxsize=8192)
def _rest_reason() -> Reason:
    return Reason("rest", f"no other session within {workload.rest_minutes()} min ✓", 0)


@lru_cache(maxsize=8192)
def _cap_reason(held: Decimal, hours: Decimal) -> Reason:
    return Reason(
        "weekly_cap",
        f"{hours_text(held + hours)} h of {hours_text(workload.WEEKLY_CAP_HOURS)} that week "
        "with this session ✓",
        0,
    )


@lru_cache(maxsize=8192)
def _urgency_reason(urgency: str) -> Reason:
    return Reason(
        "urgency", f"{Urgency(urgency).label.lower()} session", WEIGHTS.urgency.get(urgency, 0.0)
    )


def _sessions(n: int) -> str:
    return f"{n} session{'' if n == 1 else 's'}"


@lru_cache(maxsize=8192)
def _vendor_experience_reason(done: int, vendor: str) -> Reason:
    points = WEIGHTS.per_vendor_session * min(done, WEIGHTS.sessions_counted)
    label = Vendor(vendor).label
    text = f"{_sessions(done)} done on {label}" if done else f"no session done on {label} yet"
    return Reason("vendor_experience", text, points)


def _hospital_experience_reason(done: int, hospital: Hospital) -> Reason:
    return _hospital_experience(done, hospital.name)


@lru_cache(maxsize=8192)
def _hospital_experience(done: int, name: str) -> Reason:
    points = WEIGHTS.per_hospital_session * min(done, WEIGHTS.sessions_counted)
    text = f"{_sessions(done)} done at {name}" if done else f"no session done at {name} yet"
    return Reason("hospital_experience", text, points)


def _reciprocity_points(hours: Decimal) -> float:
    counted = max(
        -float(WEIGHTS.reciprocity_hours_counted),
        min(float(hours), float(WEIGHTS.reciprocity_hours_counted)),
    )
    return round(WEIGHTS.per_reciprocity_hour * counted, 2)


def _lender_reason(lender: Hospital | None, balance: Decimal, hospital: Hospital) -> Reason:
    """`balance`: hours `hospital` gave `lender` minus hours it received from it."""
    if lender is None:
        return Reason("reciprocity", "offers their own time", 0)
    if lender.pk == hospital.pk:
        return Reason("reciprocity", f"{hospital.name}'s own staff", 0)
    return _lent(lender.name, balance, hospital.name)


@lru_cache(maxsize=8192)
def _lent(lender: str, balance: Decimal, hospital: str) -> Reason:
    amount = hours_text(abs(balance))
    if balance > 0:
        text = f"lent by {lender}, which owes {hospital} {amount} h"
    elif balance < 0:
        text = f"lent by {lender}, which {hospital} owes {amount} h"
    else:
        text = f"lent by {lender}, even with {hospital}"
    return Reason("reciprocity", text, _reciprocity_points(balance))


def _network_reason(hospital: Hospital, balance: Decimal) -> Reason:
    """`balance`: hours `hospital` gave the network minus hours it received."""
    amount = hours_text(abs(balance))
    if balance > 0:
        text = f"{hospital.name} gave {amount} h more than it received"
    elif balance < 0:
        text = f"{hospital.name} received {amount} h more than it gave"
    else:
        text = f"{hospital.name} gave as many hours as it received"
    return Reason("reciprocity", text, _reciprocity_points(balance))


@lru_cache(maxsize=8192)
def _fairness_reason(held: Decimal, *, this_week: bool, week: datetime | None = None) -> Reason:
    free = max(Decimal(0), workload.WEEKLY_CAP_HOURS - held) / workload.WEEKLY_CAP_HOURS
    when = "this week" if this_week or week is None else f"in the week of {week:%d %b}"
    return Reason(
        "fairness",
        f"{hours_text(held)} h booked {when} of {hours_text(workload.WEEKLY_CAP_HOURS)}",
        round(WEIGHTS.fairness * float(free), 2),
    )
