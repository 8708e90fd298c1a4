"""Matching: for a posting, the technologists who can take it, ranked, each with a reason per
term; for a technologist, the open postings they can take, ranked the same way.

Hard filters decide who (or what) is shown at all, and agree with what `booking_invite` and
`booking_accept` let through: a verified, unexpired licence; every required exam family; the
scanner's vendor; a shared language when the posting asks some; the minimum seniority; an
availability occurrence covering the whole session; no confirmed booking within the rest buffer;
the weekly cap kept. They run in the database (Exists, Subquery, annotations). Only availability
is finished in Python: windows the database says may cover the slot (one-off ones that do,
recurring ones that started before it and have not ended) are expanded for that slot alone, as
`scheduling.recurrence` does everywhere, because a recurrence is defined in wall-clock time.

Soft terms order what passes; their weights are `WEIGHTS`, below. Queries per call are constant:
they do not grow with the number of technologists or postings."""

from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import (
    Case,
    Count,
    DateTimeField,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
    prefetch_related_objects,
)
from django.db.models.functions import Coalesce, TruncWeek
from django.utils import timezone

from accounts.models import User
from marketplace.models import (
    Hospital,
    PostingStatus,
    Seniority,
    SessionPosting,
    TechnologistProfile,
    Urgency,
    Vendor,
    VendorFamiliarity,
)
from marketplace.selectors import open_postings_for
from scheduling.models import (
    CONFIRMED_STATUSES,
    LIVE_STATUSES,
    OCCUPYING_STATUSES,
    REST_BUFFER,
    WEEKLY_CAP_HOURS,
    AvailabilityWindow,
    Booking,
    BookingStatus,
    LedgerEntry,
)
from scheduling.recurrence import Occurrence, RecurrenceError

__all__ = ["WEIGHTS", "Candidate", "Match", "Reason", "Weights", "candidates_for", "matches_for"]


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


# Sums of two-decimal hours come back as binary floats on SQLite; the cap compares with this
# much slack so that 38.00 is not refused as 38.0000001. Real differences are 0.01 h or more.
_HOURS_SLACK = Decimal("0.005")
_HOURS = DecimalField(max_digits=8, decimal_places=2)


# --- A posting's candidates -------------------------------------------------------------------


def candidates_for(
    *, posting: SessionPosting, now: datetime | None = None, limit: int = 20
) -> list[Candidate]:
    """The technologists who can take this posting, best first (ties by name, then id). Those
    who already hold a live booking on it are left out (the posting page lists them apart);
    a posting that is not open, or has started, has none."""
    now = now or timezone.now()
    if posting.status != PostingStatus.OPEN or posting.starts_at <= now:
        return []
    families = [family.code for family in posting.family_list]
    languages = sorted(language.code for language in posting.language_list)
    rows = list(_candidate_rows(posting, languages=languages, now=now))
    if not rows:
        return []
    covering = _covering_windows(posting, user_ids=[row.user_id for row in rows])
    balances = _balances_with(posting.hospital_id)
    hours = posting.duration_hours
    zone = ZoneInfo(posting.site.time_zone)
    candidates = []
    for row in rows:
        found = covering.get(row.user_id)
        if found is None:
            continue
        window, occurrence = found
        held: Decimal = _annotated(row, "hours_this_week")
        hard = [
            _licence_reason(row),
            *[Reason("families", f"{code} ✓", 0) for code in families],
            _vendor_reason(posting.vendor),
            *(
                [Reason("language", f"speaks {_annotated(row, 'shared_language')} ✓", 0)]
                if languages
                else []
            ),
            _seniority_reason(row.seniority, posting.min_seniority),
            _availability_reason(occurrence, posting, zone),
            _rest_reason(),
            _cap_reason(held, hours),
        ]
        soft = [
            _urgency_reason(posting.urgency),
            _vendor_experience_reason(_annotated(row, "vendor_sessions"), posting.vendor),
            _hospital_experience_reason(_annotated(row, "hospital_sessions"), posting.hospital),
            _lender_reason(
                window.lending_hospital,
                balances.get(window.lending_hospital_id, Decimal(0)),
                posting.hospital,
            ),
            _fairness_reason(held, this_week=True),
        ]
        candidates.append(
            Candidate(
                technologist=row.user,
                profile=row,
                score=round(sum(reason.points for reason in soft), 2),
                reasons=hard + soft,
                hours_this_week=held,
                lending_hospital=window.lending_hospital,
            )
        )
    candidates.sort(
        key=lambda c: (-c.score, c.technologist.display_name.casefold(), c.technologist.pk)
    )
    return candidates[:limit]


def _candidate_rows(
    posting: SessionPosting, *, languages: list[str], now: datetime
) -> QuerySet[TechnologistProfile]:
    """Profiles that pass every hard filter the database can judge, with what the ranking
    needs: hours confirmed in the session's week, completed sessions on this vendor and at this
    hospital, and (when languages are asked) a shared language."""
    start, end = posting.starts_at, posting.ends_at
    user = OuterRef("user_id")
    # Cheapest and most selective first (SQLite evaluates in this order): the profile's own
    # columns, its competencies, then availability and bookings.
    rows = TechnologistProfile.objects.select_related("user").filter(
        _licence_current(now), seniority__in=_at_least(posting.min_seniority)
    )
    competent = TechnologistProfile.exam_families.through.objects
    for family in posting.family_list:
        rows = rows.filter(
            Exists(competent.filter(technologistprofile_id=OuterRef("pk"), examfamily_id=family.pk))
        )
    rows = rows.filter(
        Exists(VendorFamiliarity.objects.filter(profile=OuterRef("pk"), vendor=posting.vendor))
    )
    if languages:
        speaks = TechnologistProfile.languages.through.objects.filter(
            technologistprofile_id=OuterRef("pk"), language_id__in=languages
        )
        rows = rows.annotate(
            shared_language=Subquery(speaks.order_by("language_id").values("language_id")[:1])
        ).filter(shared_language__isnull=False)
    rows = rows.filter(
        Exists(AvailabilityWindow.objects.filter(_may_cover(start, end), technologist_id=user)),
        ~Exists(
            Booking.objects.filter(
                technologist_id=user,
                status__in=OCCUPYING_STATUSES,
                starts_at__lt=end + REST_BUFFER,
                ends_at__gt=start - REST_BUFFER,
            )
        ),
    ).exclude(
        # Not correlated: the database reads the posting's live bookings once.
        user_id__in=Booking.objects.filter(posting_id=posting.pk, status__in=LIVE_STATUSES).values(
            "technologist_id"
        )
    )
    # The week is Monday to Sunday in each technologist's own time zone, as the booking
    # services count it: one bound per zone in use.
    zones = list(
        TechnologistProfile.objects.order_by().values_list("home_time_zone", flat=True).distinct()
    )
    bounds = {zone: _week_of(start, ZoneInfo(zone)) for zone in zones}
    week_start = Case(
        *[When(home_time_zone=z, then=Value(b[0])) for z, b in bounds.items()],
        output_field=DateTimeField(),
    )
    week_end = Case(
        *[When(home_time_zone=z, then=Value(b[1])) for z, b in bounds.items()],
        output_field=DateTimeField(),
    )
    held = Booking.objects.filter(
        technologist_id=user,
        status__in=CONFIRMED_STATUSES,
        starts_at__gte=OuterRef("week_start"),
        starts_at__lt=OuterRef("week_end"),
    )
    completed = Booking.objects.filter(technologist_id=user, status=BookingStatus.COMPLETED)
    return (
        rows.alias(week_start=week_start, week_end=week_end)
        .annotate(
            hours_this_week=Coalesce(
                _sum_hours(held, "technologist_id"), Value(Decimal(0)), output_field=_HOURS
            ),
            vendor_sessions=_count(completed.filter(posting__vendor=posting.vendor)),
            hospital_sessions=_count(completed.filter(posting__hospital_id=posting.hospital_id)),
        )
        .filter(hours_this_week__lte=WEEKLY_CAP_HOURS - posting.duration_hours + _HOURS_SLACK)
        .order_by()
    )


def _covering_windows(
    posting: SessionPosting, *, user_ids: list[int]
) -> dict[int, tuple[AvailabilityWindow, Occurrence]]:
    """Per technologist, the window and occurrence that cover the whole session: the earliest
    occurrence, then the lowest window id, as `booking_invite` picks it (it decides the lending
    hospital)."""
    start, end = posting.starts_at, posting.ends_at
    windows = (
        AvailabilityWindow.objects.filter(_may_cover(start, end), technologist_id__in=user_ids)
        .select_related("lending_hospital")
        # Only what expanding needs, and the lender's name: a tenth of the time goes to
        # building these rows otherwise.
        .only(
            "technologist_id",
            "starts_at",
            "ends_at",
            "time_zone",
            "rrule",
            "exdates",
            "lending_hospital__name",
        )
        .order_by()
    )
    best: dict[int, tuple[tuple[datetime, int], AvailabilityWindow, Occurrence]] = {}
    for window in windows:
        for occurrence in _occurrences(window, start, end):
            if occurrence.starts_at > start or occurrence.ends_at < end:
                continue
            key = (occurrence.starts_at, window.pk)
            kept = best.get(window.technologist_id)
            if kept is None or key < kept[0]:
                best[window.technologist_id] = (key, window, occurrence)
    return {user_id: (window, occurrence) for user_id, (_, window, occurrence) in best.items()}


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
        if occurrence is None or held + posting.duration_hours > WEEKLY_CAP_HOURS:
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
    licence = _licence_reason(profile)
    matches = []
    for score, posting, occurrence, soft in top:
        asked = sorted(language.code for language in posting.language_list)
        shared = [code for code in asked if code in spoken]
        hard = [
            licence,
            *[Reason("families", f"{family.code} ✓", 0) for family in posting.family_list],
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
    widened_end = ExpressionWrapper(OuterRef("ends_at") + REST_BUFFER, output_field=DateTimeField())
    widened_start = ExpressionWrapper(
        OuterRef("starts_at") - REST_BUFFER, output_field=DateTimeField()
    )
    held = (
        Booking.objects.filter(technologist_id=user_id, status__in=CONFIRMED_STATUSES)
        .annotate(week=TruncWeek("starts_at", tzinfo=zone))
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
                    technologist_id=user_id,
                    status__in=OCCUPYING_STATUSES,
                    starts_at__lt=widened_end,
                    ends_at__gt=widened_start,
                )
            ),
        ).annotate(
            week=TruncWeek("starts_at", tzinfo=zone),
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


def _licence_current(now: datetime) -> Q:
    """`TechnologistProfile.ineligibility_reasons` is empty: a licence number, verified, with
    an expiry date that is not past."""
    return Q(
        licence_verified_at__isnull=False,
        licence_valid_until__gte=timezone.localdate(now),
    ) & ~Q(licence_number="")


def _at_least(level: str) -> list[str]:
    """Seniorities at or above `level`."""
    return [value for value in Seniority.values if level in Seniority.at_most(value)]


def _may_cover(start: datetime, end: datetime) -> Q:
    """Windows that may have an occurrence covering [start, end): a one-off one that does, or
    a recurring one that began before the start and has not ended before the end."""
    return Q(rrule="", starts_at__lte=start, ends_at__gte=end) | (
        ~Q(rrule="")
        & Q(starts_at__lte=start)
        & (Q(last_ends_at__isnull=True) | Q(last_ends_at__gte=end))
    )


def _week_of(moment: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Monday 00:00 to the next Monday 00:00 around `moment`, in `zone`."""
    monday = moment.astimezone(zone).date()
    monday -= timedelta(days=monday.weekday())
    return (
        datetime.combine(monday, time(), tzinfo=zone),
        datetime.combine(monday + timedelta(days=7), time(), tzinfo=zone),
    )


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


def _balances_with(hospital_id: int) -> dict[int | None, Decimal]:
    """Per other hospital: the hours `hospital_id` gave it minus those it received from it, in
    one grouped query over the ledger (not one subquery per window)."""
    gave = Q(creditor_hospital_id=hospital_id)
    rows = (
        LedgerEntry.objects.filter(gave | Q(debtor_hospital_id=hospital_id))
        .exclude(creditor_hospital__isnull=True)
        .annotate(
            other=Case(When(gave, then=F("debtor_hospital_id")), default=F("creditor_hospital_id"))
        )
        .order_by()
        .values("other")
        .annotate(
            balance=Sum(Case(When(gave, then=F("hours")), default=-F("hours"), output_field=_HOURS))
        )
    )
    return {row["other"]: Decimal(row["balance"]).quantize(Decimal("0.01")) for row in rows}


def _occurrences(window: AvailabilityWindow, start: datetime, end: datetime) -> list[Occurrence]:
    if not window.is_recurring:
        return [Occurrence(window.starts_at, window.ends_at)]
    try:
        return window.occurrences(start, end)
    except RecurrenceError:  # a rule that no longer parses covers nothing
        return []


# --- Reasons ----------------------------------------------------------------------------------


def _annotated(row: object, name: str) -> Any:
    """A value the query annotated the row with."""
    return getattr(row, name)


def _hours_text(value: Decimal | float) -> str:
    return f"{Decimal(value):.2f}".rstrip("0").rstrip(".")


def _licence_reason(profile: TechnologistProfile) -> Reason:
    until = profile.licence_valid_until
    return Reason("licence", f"licence verified, valid until {until:%d %b %Y} ✓", 0)


def _vendor_reason(vendor: str) -> Reason:
    return Reason("vendor", f"{Vendor(vendor).label} ✓", 0)


def _seniority_reason(seniority: str, minimum: str) -> Reason:
    return Reason("seniority", f"seniority {seniority} ≥ {minimum} ✓", 0)


def _availability_reason(occurrence: Occurrence, posting: SessionPosting, zone: ZoneInfo) -> Reason:
    start, end = occurrence.starts_at.astimezone(zone), occurrence.ends_at.astimezone(zone)
    day = posting.starts_at.astimezone(zone).date()
    if start.date() == day == end.date():
        text = f"available {start:%H:%M}–{end:%H:%M} ✓"
    else:
        text = f"available {start:%a %d %b %H:%M} – {end:%a %d %b %H:%M} ✓"
    return Reason("availability", text, 0)


def _rest_reason() -> Reason:
    minutes = int(REST_BUFFER.total_seconds() // 60)
    return Reason("rest", f"no other session within {minutes} min ✓", 0)


def _cap_reason(held: Decimal, hours: Decimal) -> Reason:
    return Reason(
        "weekly_cap",
        f"{_hours_text(held + hours)} h of {_hours_text(WEEKLY_CAP_HOURS)} that week with this "
        "session ✓",
        0,
    )


def _urgency_reason(urgency: str) -> Reason:
    return Reason(
        "urgency", f"{Urgency(urgency).label.lower()} session", WEIGHTS.urgency.get(urgency, 0.0)
    )


def _sessions(n: int) -> str:
    return f"{n} session{'' if n == 1 else 's'}"


def _vendor_experience_reason(done: int, vendor: str) -> Reason:
    points = WEIGHTS.per_vendor_session * min(done, WEIGHTS.sessions_counted)
    label = Vendor(vendor).label
    text = f"{_sessions(done)} done on {label}" if done else f"no session done on {label} yet"
    return Reason("vendor_experience", text, points)


def _hospital_experience_reason(done: int, hospital: Hospital) -> Reason:
    points = WEIGHTS.per_hospital_session * min(done, WEIGHTS.sessions_counted)
    text = (
        f"{_sessions(done)} done at {hospital.name}"
        if done
        else f"no session done at {hospital.name} yet"
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
        return Reason("reciprocity", "offers their own time", 0)
    if lender.pk == hospital.pk:
        return Reason("reciprocity", f"{hospital.name}'s own staff", 0)
    amount = _hours_text(abs(balance))
    if balance > 0:
        text = f"lent by {lender.name}, which owes {hospital.name} {amount} h"
    elif balance < 0:
        text = f"lent by {lender.name}, which {hospital.name} owes {amount} h"
    else:
        text = f"lent by {lender.name}, even with {hospital.name}"
    return Reason("reciprocity", text, _reciprocity_points(balance))


def _network_reason(hospital: Hospital, balance: Decimal) -> Reason:
    """`balance`: hours `hospital` gave the network minus hours it received."""
    amount = _hours_text(abs(balance))
    if balance > 0:
        text = f"{hospital.name} gave {amount} h more than it received"
    elif balance < 0:
        text = f"{hospital.name} received {amount} h more than it gave"
    else:
        text = f"{hospital.name} gave as many hours as it received"
    return Reason("reciprocity", text, _reciprocity_points(balance))


def _fairness_reason(held: Decimal, *, this_week: bool, week: datetime | None = None) -> Reason:
    free = max(Decimal(0), WEEKLY_CAP_HOURS - held) / WEEKLY_CAP_HOURS
    when = "this week" if this_week or week is None else f"in the week of {week:%d %b}"
    return Reason(
        "fairness",
        f"{_hours_text(held)} h booked {when} of {_hours_text(WEEKLY_CAP_HOURS)}",
        round(WEIGHTS.fairness * float(free), 2),
    )
