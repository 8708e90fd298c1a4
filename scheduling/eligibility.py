"""Who may take which open posting: the hard rules of matching, judged once for many postings
and every technologist. The ranking (`scheduling.matching.candidates_for`, one posting) and the
optimiser (`scheduling.optimiser.build.problem_for`, a fortnight of the network) both ask here,
so a rule cannot differ between them, and both agree with what `booking_invite` lets through:

- a licence on file, verified and not expired;
- every exam family the posting requires, the scanner's vendor, a shared language when the
  posting asks some, and at least the minimum seniority;
- an availability occurrence covering the whole session (the earliest, then the lowest window
  id, as `booking_invite` picks it: it decides the lending hospital);
- no confirmed booking (and, for the optimiser, no pending one either) within the rest buffer;
- the weekly cap kept in the technologist's own week (`scheduling.workload`);
- no live booking of theirs on the posting already.

Each `Fit` also carries what the soft terms need: hours held that week, completed sessions on
the vendor and at the hospital, the lending hospital and its reciprocity balance with the
posting's hospital.

Queries are constant, whatever the number of postings and technologists: each fact is read
once for all of them (competencies; clashes, live bookings and hours per week; windows;
experience; the ledger), and the rules are set operations over technologist ids per posting.
Only availability is expanded in Python, as everywhere (a recurrence is defined in wall-clock
time): each window once over the span of the postings, each distinct window shape once."""

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import CharField, Count, F, Q, Sum, Value
from django.db.models.functions import Cast
from django.utils import timezone

from marketplace.models import Seniority, SessionPosting, TechnologistProfile, VendorFamiliarity
from scheduling import workload
from scheduling.models import (
    CONFIRMED_STATUSES,
    LIVE_STATUSES,
    OCCUPYING_STATUSES,
    AvailabilityWindow,
    Booking,
    BookingStatus,
    LedgerEntry,
)
from scheduling.recurrence import Occurrence, RecurrenceError, expand

__all__ = ["Fit", "Person", "fits_for", "licence_current", "seniorities_at_least"]

# Facts are read for the technologists named while they are few; beyond, for everyone.
_IDS_IN_QUERY = 500


@dataclass(frozen=True)
class Person:
    """A technologist who may be booked at all (a current licence)."""

    user_id: int
    profile_id: int
    name: str  # the user's display name
    seniority: str
    zone: str  # home time zone: their week is counted in it
    licence_valid_until: date | None  # never None here: a current licence has an expiry date


@dataclass(frozen=True)
class Fit:
    """A technologist who passes every hard rule for one posting, with what ranking needs."""

    posting_id: int
    person: Person
    shared_language: str | None  # the first asked language they speak; None when none asked
    window_id: int  # the availability window whose occurrence covers the session
    occurrence: Occurrence
    lending_hospital_id: int | None  # from that window; None: they offer their own time
    week: date  # the session's Monday in their zone
    held: Decimal  # confirmed hours they hold that week, without this session
    vendor_sessions: int  # completed sessions on scanners of the posting's vendor
    hospital_sessions: int  # completed sessions at the posting's hospital
    balance: Decimal  # hours the posting's hospital gave the lender minus those it received


def licence_current(now: datetime) -> Q:
    """`TechnologistProfile.ineligibility_reasons` is empty: a licence number, verified, with
    an expiry date that is not past."""
    return Q(
        licence_verified_at__isnull=False,
        licence_valid_until__gte=timezone.localdate(now),
    ) & ~Q(licence_number="")


def seniorities_at_least(level: str) -> list[str]:
    """Seniorities at or above `level`."""
    return [value for value in Seniority.values if level in Seniority.at_most(value)]


def fits_for(
    postings: Sequence[SessionPosting],
    *,
    now: datetime,
    pending_clash: bool = False,
    technologists: Collection[int] | None = None,
) -> dict[int, list[Fit]]:
    """Per posting id, every technologist who passes the hard rules (in no set order).

    The postings are taken as given (open and future is the caller's business); their
    required families and languages are read through `family_list`/`language_list`, so
    prefetch them for many. `pending_clash`: pending bookings within the rest buffer exclude
    too (the optimiser must not propose someone for a slot they are already asked for).
    `technologists`: only these (user ids), e.g. one person's own postings."""
    if not postings:
        return {}
    asks = {
        posting.pk: (
            [family.pk for family in posting.family_list],
            sorted(language.code for language in posting.language_list),
        )
        for posting in postings
    }
    competent, knows, speaks = _competencies(postings, asks, technologists)
    # Per posting, the profiles with its vendor, all its families and one of its languages.
    competence: dict[int, set[int]] = {}
    for posting in postings:
        profiles = set(knows.get(posting.vendor, ()))
        families, asked = asks[posting.pk]
        for family in families:
            profiles &= competent.get(family, set())
        if asked:
            profiles &= set().union(*(speaks.get(code, set()) for code in asked))
        competence[posting.pk] = profiles
    if not any(competence.values()):
        return {posting.pk: [] for posting in postings}
    people = _people(
        postings,
        now=now,
        profiles=_few(set().union(*competence.values())),
        technologists=technologists,
    )
    by_profile = {person.profile_id: user_id for user_id, person in people.items()}
    at_least = {
        level: {u for u, person in people.items() if person.seniority in allowed}
        for level in Seniority.values
        for allowed in [seniorities_at_least(level)]
    }
    qualified: dict[int, set[int]] = {
        posting.pk: {by_profile[p] for p in competence[posting.pk] if p in by_profile}
        & at_least[posting.min_seniority]
        for posting in postings
    }
    if not any(qualified.values()):
        return {posting.pk: [] for posting in postings}

    blocked, held = _bookings(
        postings,
        pending_clash=pending_clash,
        people=people,
        qualified=set().union(*qualified.values()),
        technologists=technologists,
    )
    zones = {person.zone for person in people.values()}
    by_week: dict[tuple[str, date], dict[int, Decimal]] = defaultdict(dict)
    for (user_id, monday), hours in held.items():
        person = people.get(user_id)
        if person is not None:
            by_week[(person.zone, monday)][user_id] = hours
    capped_memo: dict[tuple[str, date, Decimal], set[int]] = {}
    survivors: dict[int, set[int]] = {}
    for posting in postings:
        users = qualified[posting.pk] - blocked.get(posting.pk, set())
        hours = posting.duration_hours
        for zone in zones:
            monday = workload.week_start(posting.starts_at, ZoneInfo(zone))
            key = (zone, monday, hours)
            if key not in capped_memo:
                capped_memo[key] = {
                    u
                    for u, h in by_week[(zone, monday)].items()
                    if not workload.within_cap(h, hours)
                }
            users -= capped_memo[key]
        survivors[posting.pk] = users

    if not any(survivors.values()):
        return {posting.pk: [] for posting in postings}
    covering = _covering(postings, survivors)
    vendor_done, hospital_done = _experience(postings, _few(set().union(*survivors.values())))
    balances = _balances(postings)

    fits: dict[int, list[Fit]] = {}
    for posting in postings:
        covered = covering.get((posting.starts_at, posting.ends_at), {})
        asked = asks[posting.pk][1]
        zone_weeks: dict[str, date] = {}
        found = []
        for user_id in survivors[posting.pk] & covered.keys():
            person = people[user_id]
            window_id, lender, occurrence = covered[user_id]
            week = zone_weeks.get(person.zone)
            if week is None:
                week = zone_weeks[person.zone] = workload.week_start(
                    posting.starts_at, ZoneInfo(person.zone)
                )
            found.append(
                Fit(
                    posting_id=posting.pk,
                    person=person,
                    shared_language=next(
                        (code for code in asked if person.profile_id in speaks.get(code, ())),
                        None,
                    ),
                    window_id=window_id,
                    occurrence=occurrence,
                    lending_hospital_id=lender,
                    week=week,
                    held=held.get((user_id, week), Decimal(0)),
                    vendor_sessions=vendor_done.get((user_id, posting.vendor), 0),
                    hospital_sessions=hospital_done.get((user_id, posting.hospital_id), 0),
                    balance=(
                        balances.get((posting.hospital_id, lender), Decimal(0))
                        if lender is not None
                        else Decimal(0)
                    ),
                )
            )
        fits[posting.pk] = found
    return fits


# --- Facts, each read once ----------------------------------------------------------------------


def _people(
    postings: Sequence[SessionPosting],
    *,
    now: datetime,
    profiles: list[int] | None,
    technologists: Collection[int] | None,
) -> dict[int, Person]:
    """Technologists with a current licence and at least the lowest seniority asked, per user
    id: among `profiles` (ids) when given, and among `technologists` (user ids) when given."""
    lowest = min((posting.min_seniority for posting in postings), key=list(Seniority.values).index)
    narrowed = Q() if profiles is None else Q(pk__in=profiles)
    if technologists is not None:
        narrowed &= Q(user_id__in=technologists)
    rows = (
        TechnologistProfile.objects.filter(
            licence_current(now), narrowed, seniority__in=seniorities_at_least(lowest)
        )
        .order_by()
        .values_list(
            "user_id",
            "pk",
            "user__first_name",
            "user__last_name",
            "user__email",
            "seniority",
            "home_time_zone",
            "licence_valid_until",
        )
    )
    return {
        user_id: Person(
            user_id=user_id,
            profile_id=profile_id,
            name=f"{first} {last}".strip() or email,
            seniority=seniority,
            zone=zone,
            licence_valid_until=until,
        )
        for user_id, profile_id, first, last, email, seniority, zone, until in rows
    }


def _few(ids: Iterable[int]) -> list[int] | None:
    """The ids (of users or profiles) to name in a query, or None (read everyone's) when
    there are too many."""
    named = list(ids)
    return named if len(named) <= _IDS_IN_QUERY else None


def _competencies(
    postings: Sequence[SessionPosting],
    asks: dict[int, tuple[list[int], list[str]]],
    technologists: Collection[int] | None,
) -> tuple[dict[int, set[int]], dict[str, set[int]], dict[str, set[int]]]:
    """Who (profile ids) is competent in each family required, knows each vendor needed and
    speaks each language asked, among `technologists` (user ids) when given: one query for
    the three."""
    families = {family for needed, _ in asks.values() for family in needed}
    vendors = {posting.vendor for posting in postings}
    languages = {code for _, asked in asks.values() for code in asked}
    text = CharField()
    competent = (
        TechnologistProfile.exam_families.through.objects.filter(examfamily_id__in=families)
        .annotate(kind=Value("f", output_field=text), key=Cast("examfamily_id", text))
        # django-stubs cannot see annotations on an auto-created through model.
        .values_list("kind", "key", "technologistprofile_id")  # type: ignore[misc]
    )
    knows = (
        VendorFamiliarity.objects.filter(vendor__in=vendors)
        .annotate(kind=Value("v", output_field=text), key=F("vendor"))
        .values_list("kind", "key", "profile_id")
    )
    speaks = (
        TechnologistProfile.languages.through.objects.filter(language_id__in=languages)
        .annotate(kind=Value("l", output_field=text), key=F("language_id"))
        .values_list("kind", "key", "technologistprofile_id")  # type: ignore[misc]
    )
    if technologists is not None:
        competent = competent.filter(technologistprofile__user_id__in=technologists)
        knows = knows.filter(profile__user_id__in=technologists)
        speaks = speaks.filter(technologistprofile__user_id__in=technologists)
    found: dict[str, dict[str, set[int]]] = {
        "f": defaultdict(set),
        "v": defaultdict(set),
        "l": defaultdict(set),
    }
    for kind, key, profile_id in knows.order_by().union(
        competent.order_by(), speaks.order_by(), all=True
    ):
        found[kind][key].add(profile_id)
    return (
        {int(key): profiles for key, profiles in found["f"].items()},
        dict(found["v"]),
        dict(found["l"]),
    )


def _bookings(
    postings: Sequence[SessionPosting],
    *,
    pending_clash: bool,
    people: dict[int, Person],
    qualified: set[int],
    technologists: Collection[int] | None,
) -> tuple[dict[int, set[int]], dict[tuple[int, date], Decimal]]:
    """From one read of the bookings that matter: per posting, who is held elsewhere within the
    rest buffer (confirmed or under way; with `pending_clash`, pending too) or already has a
    live booking on it; and the confirmed hours of the `qualified` per (technologist, week)."""
    first = min(posting.starts_at for posting in postings)
    last = max(posting.ends_at for posting in postings)
    clashing = (*OCCUPYING_STATUSES, BookingStatus.PENDING) if pending_clash else OCCUPYING_STATUSES
    weeks_from, weeks_to = workload.weeks_around(
        [posting.starts_at for posting in postings], zones={p.zone for p in people.values()}
    )
    held_by = Q(technologist_id__in=qualified) if len(qualified) <= _IDS_IN_QUERY else Q()
    whose = Q() if technologists is None else Q(technologist_id__in=technologists)
    rows = (
        Booking.objects.filter(whose)
        .filter(
            Q(workload.clashing(first, last), status__in=clashing)
            # Bookings copy their posting's times: those on these postings are in this span.
            | Q(starts_at__gte=first, starts_at__lte=last, status__in=LIVE_STATUSES)
            | Q(
                held_by,
                status__in=CONFIRMED_STATUSES,
                starts_at__gte=weeks_from,
                starts_at__lt=weeks_to,
            )
        )
        .order_by()
        .values_list("technologist_id", "posting_id", "status", "starts_at", "ends_at", "hours")
    )
    ids = {posting.pk for posting in postings}
    ordered = sorted(postings, key=lambda posting: posting.starts_at)
    starts = [posting.starts_at for posting in ordered]
    longest = max(posting.ends_at - posting.starts_at for posting in ordered)
    blocked: dict[int, set[int]] = defaultdict(set)
    confirmed = []
    for user_id, posting_id, status, starts_at, ends_at, hours in rows:
        if status in CONFIRMED_STATUSES and user_id in qualified:
            confirmed.append((user_id, starts_at, hours))
        if posting_id in ids and status in LIVE_STATUSES:
            blocked[posting_id].add(user_id)
        if status not in clashing:
            continue
        low = bisect_left(starts, starts_at - workload.REST_BUFFER - longest)
        high = bisect_left(starts, ends_at + workload.REST_BUFFER)
        for posting in ordered[low:high]:
            if workload.clashes(posting.starts_at, posting.ends_at, starts_at, ends_at):
                blocked[posting.pk].add(user_id)
    zone_of = {user_id: people[user_id].zone for user_id in qualified}
    return blocked, workload.hours_by_week(confirmed, zone_of=zone_of)


_Cover = tuple[int, int | None, Occurrence]  # window id, lending hospital id, occurrence


def _covering(
    postings: Sequence[SessionPosting], survivors: dict[int, set[int]]
) -> dict[tuple[datetime, datetime], dict[int, _Cover]]:
    """Per slot (start, end), per technologist still in the running for a posting of that
    slot: the earliest occurrence covering the whole slot, then the lowest window id."""
    slots = sorted({(posting.starts_at, posting.ends_at) for posting in postings})
    wanted: dict[tuple[datetime, datetime], set[int]] = defaultdict(set)
    for posting in postings:
        wanted[(posting.starts_at, posting.ends_at)] |= survivors[posting.pk]
    users = set().union(*wanted.values())
    if not users:
        return {}
    first, last = slots[0][0], max(end for _, end in slots)
    windows = AvailabilityWindow.objects.filter(
        Q(rrule="", starts_at__lte=slots[-1][0], ends_at__gte=first)
        | (
            ~Q(rrule="")
            & Q(starts_at__lte=slots[-1][0])
            & (Q(last_ends_at__isnull=True) | Q(last_ends_at__gte=first))
        )
    )
    if (named := _few(users)) is not None:
        windows = windows.filter(technologist_id__in=named)
    rows = windows.order_by().values_list(
        "pk",
        "technologist_id",
        "lending_hospital_id",
        "starts_at",
        "ends_at",
        "time_zone",
        "rrule",
        "exdates",
    )
    starts = [start for start, _ in slots]
    best: dict[tuple[datetime, datetime], dict[int, tuple[tuple[datetime, int], _Cover]]] = (
        defaultdict(dict)
    )
    expanded: dict[tuple[Any, ...], list[Occurrence] | None] = {}
    for pk, user_id, lender, starts_at, ends_at, zone, rule, exdates in rows:
        if user_id not in users:
            continue
        shape = (starts_at, ends_at, zone, rule, tuple(exdates))
        if shape not in expanded:
            expanded[shape] = _expand(shape, first, last)
        occurrences = expanded[shape]
        if occurrences is None:  # too many over the span: slot by slot
            occurrences = [
                occurrence for slot in slots for occurrence in _expand_or_none(shape, *slot)
            ]
        for occurrence in occurrences:
            # The slots starting within this occurrence; those that also end within it.
            low = bisect_left(starts, occurrence.starts_at)
            for index in range(low, bisect_right(starts, occurrence.ends_at)):
                slot = slots[index]
                if slot[1] > occurrence.ends_at or user_id not in wanted[slot]:
                    continue
                key = (occurrence.starts_at, pk)
                kept = best[slot].get(user_id)
                if kept is None or key < kept[0]:
                    best[slot][user_id] = (key, (pk, lender, occurrence))
    return {
        slot: {user_id: cover for user_id, (_, cover) in found.items()}
        for slot, found in best.items()
    }


def _expand(shape: tuple[Any, ...], start: datetime, end: datetime) -> list[Occurrence] | None:
    """A window's occurrences overlapping [start, end); None when there are too many to list
    over that span (expanded per slot instead); none when its rule no longer parses."""
    starts_at, ends_at, zone, rule, exdates = shape
    try:
        return list(
            expand(
                starts_at=starts_at,
                ends_at=ends_at,
                time_zone=zone,
                rule=rule,
                exdates=[datetime.fromisoformat(value) for value in exdates],
                range_start=start,
                range_end=end,
            )
        )
    except RecurrenceError:
        return None


def _expand_or_none(shape: tuple[Any, ...], start: datetime, end: datetime) -> list[Occurrence]:
    return _expand(shape, start, end) or []


def _experience(
    postings: Sequence[SessionPosting], user_ids: list[int] | None
) -> tuple[dict[tuple[int, str], int], dict[tuple[int, int], int]]:
    """Completed sessions per (technologist, vendor) and per (technologist, hospital), for the
    vendors and hospitals of the postings: one grouped query."""
    vendors = {posting.vendor for posting in postings}
    hospitals = {posting.hospital_id for posting in postings}
    rows = (
        Booking.objects.filter(status=BookingStatus.COMPLETED)
        .filter(Q(posting__vendor__in=vendors) | Q(posting__hospital_id__in=hospitals))
        .filter(Q() if user_ids is None else Q(technologist_id__in=user_ids))
        .order_by()
        .values_list("technologist_id", "posting__vendor", "posting__hospital_id")
        .annotate(n=Count("pk"))
    )
    by_vendor: dict[tuple[int, str], int] = defaultdict(int)
    by_hospital: dict[tuple[int, int], int] = defaultdict(int)
    for user_id, vendor, hospital_id, n in rows:
        by_vendor[(user_id, vendor)] += n
        by_hospital[(user_id, hospital_id)] += n
    return by_vendor, by_hospital


def _balances(postings: Sequence[SessionPosting]) -> dict[tuple[int, int], Decimal]:
    """Per (posting hospital, other hospital): hours the first gave the second minus those it
    received from it, from one grouped query over the ledger."""
    hospitals = {posting.hospital_id for posting in postings}
    rows = (
        LedgerEntry.objects.filter(creditor_hospital__isnull=False)
        .filter(Q(creditor_hospital_id__in=hospitals) | Q(debtor_hospital_id__in=hospitals))
        .order_by()
        .values_list("creditor_hospital_id", "debtor_hospital_id")
        .annotate(total=Sum("hours"))
    )
    balances: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    for creditor, debtor, total in rows:
        hours = Decimal(total)
        balances[(creditor, debtor)] += hours
        balances[(debtor, creditor)] -= hours
    return {key: value.quantize(Decimal("0.01")) for key, value in balances.items()}
