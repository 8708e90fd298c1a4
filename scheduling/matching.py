"""Matching: for a posting, the technologists who can take it, ranked, each with a reason per
term; for a technologist, the open postings they can take, ranked the same way.

Hard filters decide who (or what) is shown at all, and agree with what `booking_invite` and
`booking_accept` let through: a verified, unexpired licence; every required exam family; the
scanner's vendor; a shared language when the posting asks some; the minimum seniority; an
availability occurrence covering the whole session; no confirmed booking within the rest buffer;
the weekly cap kept (the buffer, the cap and the week are `scheduling.workload`'s). Both ways
they are `scheduling.eligibility`'s answer, the same code the optimiser builds its problem
with.

Soft terms order what passes; their weights are `scheduling.weights.WEIGHTS`, beside the
optimiser's objective. Queries per call are constant: they do not grow with the number of
technologists or postings."""

from copy import copy
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import (
    DecimalField,
    OuterRef,
    Prefetch,
    Subquery,
    Sum,
    Value,
    prefetch_related_objects,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.functional import Promise, lazy
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

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
    LedgerEntry,
)
from scheduling.recurrence import Occurrence
from scheduling.weights import WEIGHTS, Weights
from scheduling.wording import DAY_AND_TIME, date_text, hours_text

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


# --- What a match says ------------------------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    term: str  # a stable key: "licence", "families", "vendor", ... (see WEIGHTS for soft terms)
    # Human-readable, times local to the posting's site; lazy: read in the reader's language.
    text: str | Promise
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
    booking on are left out. Who may take what is `scheduling.eligibility`'s answer, as for a
    posting's candidates: `open_postings_for` only narrows the postings it is asked about."""
    now = now or timezone.now()
    postings = list(
        open_postings_for(profile=profile, now=now, urgency=urgency, exam_family=exam_family)
    )
    if not postings:
        return []
    fits = fits_for(postings, now=now, technologists=[profile.user_id])
    balances = _network_balances({posting.hospital_id for posting in postings})
    scored = []
    for posting in postings:
        for fit in fits[posting.pk]:
            soft = [
                _urgency_reason(posting.urgency),
                _vendor_experience_reason(fit.vendor_sessions, posting.vendor),
                _hospital_experience_reason(fit.hospital_sessions, posting.hospital),
                _network_reason(posting.hospital, balances.get(posting.hospital_id, Decimal(0))),
                _fairness_reason(fit.held, this_week=False, week=fit.week),
            ]
            scored.append((round(sum(r.points for r in soft), 2), posting, fit, soft))
    scored.sort(key=lambda item: (-item[0], item[1].starts_at, item[1].pk))
    return [
        Match(
            posting=posting,
            score=score,
            reasons=hard_reasons(posting, fit, zone=ZoneInfo(posting.site.time_zone)) + soft,
        )
        for score, posting, fit, soft in scored[:limit]
    ]


def _network_balances(hospital_ids: set[int]) -> dict[int, Decimal]:
    """Per hospital: the hours it gave the network minus those it received, in one query."""
    hospital = OuterRef("pk")
    return {
        pk: Decimal(balance).quantize(Decimal("0.01"))
        for pk, balance in Hospital.objects.filter(pk__in=hospital_ids)
        .annotate(balance=_ledger_hours(creditor=hospital) - _ledger_hours(debtor=hospital))
        .values_list("pk", "balance")
    }


# --- Query pieces -----------------------------------------------------------------------------


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


# --- Reasons ----------------------------------------------------------------------------------
# Built from plain values and cached: a fortnight of the network repeats the same few facts
# (a licence date, a cap reached, an availability) over hundreds of thousands of pairs, and a
# Reason is immutable, so one object serves them all.


def _lower(text: str | Promise) -> str:
    return str(text).lower()


# A label in lower case, as it reads mid-sentence, in the reader's language.
lazy_lower = lazy(_lower, str)


@lru_cache(maxsize=8192)
def _licence_reason(until: date | None) -> Reason:
    if until is None:
        return Reason("licence", _("licence verified ✓"), 0)
    return Reason(
        "licence",
        format_lazy(_("licence verified, valid until {until} ✓"), until=date_text(until, "d M Y")),
        0,
    )


@lru_cache(maxsize=8192)
def _family_reason(code: str) -> Reason:
    return Reason("families", f"{code} ✓", 0)


@lru_cache(maxsize=8192)
def _language_reason(code: str) -> Reason:
    return Reason("language", format_lazy(_("speaks {language} ✓"), language=code), 0)


@lru_cache(maxsize=8192)
def _vendor_reason(vendor: str) -> Reason:
    return Reason("vendor", format_lazy(_("{vendor} ✓"), vendor=Vendor(vendor).label), 0)


@lru_cache(maxsize=8192)
def _seniority_reason(seniority: str, minimum: str) -> Reason:
    return Reason(
        "seniority",
        format_lazy(_("seniority {seniority} ≥ {minimum} ✓"), seniority=seniority, minimum=minimum),
        0,
    )


def _availability_reason(occurrence: Occurrence, posting: SessionPosting, zone: ZoneInfo) -> Reason:
    return _available(occurrence, posting.starts_at, zone)


@lru_cache(maxsize=8192)
def _available(occurrence: Occurrence, session_start: datetime, zone: ZoneInfo) -> Reason:
    start, end = occurrence.starts_at.astimezone(zone), occurrence.ends_at.astimezone(zone)
    day = session_start.astimezone(zone).date()
    if start.date() == day == end.date():
        text = format_lazy(
            _("available {start}–{end} ✓"), start=f"{start:%H:%M}", end=f"{end:%H:%M}"
        )
    else:
        text = format_lazy(
            _("available {start} – {end} ✓"),
            start=date_text(start, DAY_AND_TIME),
            end=date_text(end, DAY_AND_TIME),
        )
    return Reason("availability", text, 0)


@lru_cache(maxsize=8192)
def _rest_reason() -> Reason:
    return Reason(
        "rest",
        format_lazy(_("no other session within {minutes} min ✓"), minutes=workload.rest_minutes()),
        0,
    )


@lru_cache(maxsize=8192)
def _cap_reason(held: Decimal, hours: Decimal) -> Reason:
    return Reason(
        "weekly_cap",
        format_lazy(
            _("{hours} h of {cap} that week with this session ✓"),
            hours=hours_text(held + hours),
            cap=hours_text(workload.WEEKLY_CAP_HOURS),
        ),
        0,
    )


@lru_cache(maxsize=8192)
def _urgency_reason(urgency: str) -> Reason:
    return Reason(
        "urgency",
        format_lazy(_("{urgency} session"), urgency=lazy_lower(Urgency(urgency).label)),
        WEIGHTS.urgency.get(urgency, 0.0),
    )


@lru_cache(maxsize=8192)
def _vendor_experience_reason(done: int, vendor: str) -> Reason:
    points = WEIGHTS.per_vendor_session * min(done, WEIGHTS.sessions_counted)
    label = Vendor(vendor).label
    text = (
        format_lazy(
            ngettext_lazy("{n} session done on {vendor}", "{n} sessions done on {vendor}", done),
            n=done,
            vendor=label,
        )
        if done
        else format_lazy(_("no session done on {vendor} yet"), vendor=label)
    )
    return Reason("vendor_experience", text, points)


def _hospital_experience_reason(done: int, hospital: Hospital) -> Reason:
    return _hospital_experience(done, hospital.name)


@lru_cache(maxsize=8192)
def _hospital_experience(done: int, name: str) -> Reason:
    points = WEIGHTS.per_hospital_session * min(done, WEIGHTS.sessions_counted)
    text = (
        format_lazy(
            ngettext_lazy(
                "{n} session done at {hospital}", "{n} sessions done at {hospital}", done
            ),
            n=done,
            hospital=name,
        )
        if done
        else format_lazy(_("no session done at {hospital} yet"), hospital=name)
    )
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
        return Reason("reciprocity", _("offers their own time"), 0)
    if lender.pk == hospital.pk:
        return Reason(
            "reciprocity", format_lazy(_("{hospital}'s own staff"), hospital=hospital.name), 0
        )
    return _lent(lender.name, balance, hospital.name)


@lru_cache(maxsize=8192)
def _lent(lender: str, balance: Decimal, hospital: str) -> Reason:
    amount = hours_text(abs(balance))
    if balance > 0:
        said = _("lent by {lender}, which owes {hospital} {hours} h")
    elif balance < 0:
        said = _("lent by {lender}, which {hospital} owes {hours} h")
    else:
        said = _("lent by {lender}, even with {hospital}")
    text = format_lazy(said, lender=lender, hospital=hospital, hours=amount)
    return Reason("reciprocity", text, _reciprocity_points(balance))


def _network_reason(hospital: Hospital, balance: Decimal) -> Reason:
    """`balance`: hours `hospital` gave the network minus hours it received."""
    amount = hours_text(abs(balance))
    if balance > 0:
        said = _("{hospital} gave {hours} h more than it received")
    elif balance < 0:
        said = _("{hospital} received {hours} h more than it gave")
    else:
        said = _("{hospital} gave as many hours as it received")
    text = format_lazy(said, hospital=hospital.name, hours=amount)
    return Reason("reciprocity", text, _reciprocity_points(balance))


@lru_cache(maxsize=8192)
def _fairness_reason(held: Decimal, *, this_week: bool, week: date | None = None) -> Reason:
    free = max(Decimal(0), workload.WEEKLY_CAP_HOURS - held) / workload.WEEKLY_CAP_HOURS
    cap = hours_text(workload.WEEKLY_CAP_HOURS)
    text = (
        format_lazy(_("{hours} of {cap} h booked this week"), hours=hours_text(held), cap=cap)
        if this_week or week is None
        else format_lazy(
            _("{hours} of {cap} h booked in the week of {monday}"),
            hours=hours_text(held),
            monday=date_text(week, "d M"),
            cap=cap,
        )
    )
    return Reason(
        "fairness",
        text,
        round(WEIGHTS.fairness * float(free), 2),
    )
