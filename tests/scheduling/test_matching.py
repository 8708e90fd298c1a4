"""Matching: who can take a posting (and which postings a technologist can take), ranked, with
reasons. Every hard filter agrees with what the booking services accept; the soft terms order
as `scheduling.weights.WEIGHTS` documents. Frozen clock: Monday 23 November 2026, 09:00 UTC;
sessions in the weeks after (Brussels time)."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from core.errors import Conflict
from marketplace.models import (
    ExamFamily,
    Hospital,
    Language,
    Role,
    Scanner,
    SessionPosting,
    TechnologistProfile,
    Vendor,
)
from scheduling import services
from scheduling.matching import WEIGHTS, candidates_for, matches_for
from scheduling.models import Booking, BookingStatus, Initiator, LedgerEntry, LedgerKind
from tests.conftest import World
from tests.factories import HospitalFactory, MembershipFactory, ScannerFactory, UserFactory
from tests.factories_supply import PostingFactory
from tests.scheduling.support import Clock, available, confirmed, licensed, local, post

pytestmark = pytest.mark.django_db


# --- Fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture
def scanner(world: World) -> Scanner:
    """MR 1, made a Siemens for every test (the factory cycles vendors)."""
    world.scanner.vendor = Vendor.SIEMENS
    world.scanner.save(update_fields=["vendor"])
    world.other_scanner.vendor = Vendor.SIEMENS
    world.other_scanner.save(update_fields=["vendor"])
    return world.scanner


@pytest.fixture
def tech(world: World, clock: Clock, scanner: Scanner) -> User:
    """The hospital's technologist: licensed (neuro, msk; fr, nl; four vendors; experienced),
    available every day 06:00–22:00 Brussels from Monday 30 November."""
    licensed(world.technologist)
    available(world.technologist)
    return world.technologist


@pytest.fixture
def posting(world: World, tech: User) -> SessionPosting:
    """Monday 30 November, 08:00–12:00 on MR 1: neuro, in Dutch or German, experienced."""
    return post(
        world.manager,
        world.scanner,
        local(11, 30, 8),
        required_exam_families=ExamFamily.objects.filter(code="neuro"),
        languages=Language.objects.filter(code__in=["nl", "de"]),
        min_seniority="experienced",
    )


def colleague(world: World, name: str, *, daily: bool = True, **profile: Any) -> User:
    """Another technologist of the hospital, licensed and (`daily`) available like `tech`."""
    user = UserFactory(email=f"{name}@example.org", first_name=name.title(), last_name="Tech")
    MembershipFactory(user=user, hospital=world.hospital, role=Role.TECHNOLOGIST)
    licensed(user, **profile)
    if daily:
        available(user)
    return user


def ranked(posting: SessionPosting, **kwargs: Any) -> list[str]:
    return [c.technologist.email for c in candidates_for(posting=posting, **kwargs)]


def texts(reasons: list[Any]) -> list[str]:
    return [reason.text for reason in reasons]


def by_term(reasons: list[Any]) -> dict[str, Any]:
    return {reason.term: reason for reason in reasons}


def completed_at(user: User, hospital: Hospital, *, vendor: str = Vendor.SIEMENS) -> Booking:
    """A session done last month at `hospital` on a scanner of `vendor` (data, not a move)."""
    scanner = ScannerFactory(site__hospital=hospital, vendor=vendor)
    start = datetime(2026, 10, 5, 8, tzinfo=UTC) + timedelta(days=Booking.objects.count())
    past = PostingFactory(scanner=scanner, starts_at=start, status="filled")
    return Booking.objects.create(
        posting=past,
        technologist=user,
        status=BookingStatus.COMPLETED,
        initiated_by=Initiator.HOSPITAL,
        starts_at=past.starts_at,
        ends_at=past.ends_at,
        hours=past.duration_hours,
    )


def ledger(creditor: Hospital, debtor: Hospital, hours: str) -> LedgerEntry:
    """`creditor` gave `debtor` these hours (written directly: the ledger service is not ours)."""
    worker = UserFactory()
    booking = completed_at(worker, debtor)
    return LedgerEntry.objects.create(
        booking=booking,
        kind=LedgerKind.COMPLETED,
        creditor_hospital=creditor,
        debtor_hospital=debtor,
        hours=Decimal(hours),
        occurred_at=booking.ends_at,
    )


# --- Who is a candidate, and why ----------------------------------------------------------------


def test_a_candidate_comes_with_a_reason_per_term(
    world: World, tech: User, posting: SessionPosting
) -> None:
    [candidate] = candidates_for(posting=posting)
    profile = TechnologistProfile.objects.get(user=tech)
    assert candidate.technologist == tech
    assert candidate.lending_hospital is None
    assert candidate.hours_this_week == Decimal("0")
    assert texts(candidate.reasons) == [
        f"licence verified, valid until {profile.licence_valid_until:%d %b %Y} ✓",
        "neuro ✓",
        "Siemens Healthineers ✓",
        "speaks nl ✓",
        "seniority experienced ≥ experienced ✓",
        "available 06:00–22:00 ✓",
        "no other session within 30 min ✓",
        "4 h of 38 that week with this session ✓",
        "routine session",
        "no session done on Siemens Healthineers yet",
        "no session done at Hôpital Sainte-Claire yet",
        "offers their own time",
        "0 of 38 h booked this week",
    ]
    hard = candidate.reasons[:8]
    assert all(reason.points == 0 for reason in hard)
    assert candidate.score == WEIGHTS.fairness == by_term(candidate.reasons)["fairness"].points


def test_every_candidate_can_be_invited(world: World, tech: User, posting: SessionPosting) -> None:
    others = [colleague(world, name) for name in ("ann", "bob", "cas")]
    candidates = candidates_for(posting=posting)
    assert {c.technologist for c in candidates} == {tech, *others}
    for candidate in candidates:
        booking = services.booking_invite(
            actor=world.manager, posting=posting, technologist=candidate.technologist
        )
        assert booking.status == BookingStatus.PENDING
    # Invited now: listed apart on the posting page, no longer among the candidates.
    assert candidates_for(posting=posting) == []


def test_only_an_open_future_posting_has_candidates(
    world: World, tech: User, posting: SessionPosting, clock: Clock
) -> None:
    assert ranked(posting) == [tech.email]
    assert ranked(posting, now=posting.starts_at) == []
    posting.status = "draft"
    assert ranked(posting) == []


def test_the_limit_keeps_the_best(world: World, tech: User, posting: SessionPosting) -> None:
    for name in ("ann", "bob", "cas"):
        colleague(world, name)
    assert len(candidates_for(posting=posting, limit=2)) == 2
    assert len(candidates_for(posting=posting)) == 4


# --- Hard filters: each one excludes, and booking_invite refuses the same person ----------------


def _unverified(world: World, tech: User) -> SessionPosting:
    TechnologistProfile.objects.filter(user=tech).update(licence_verified_at=None)
    return post(world.manager, world.scanner, local(11, 30, 8))


def _expired(world: World, tech: User) -> SessionPosting:
    yesterday = timezone.localdate() - timedelta(days=1)
    TechnologistProfile.objects.filter(user=tech).update(licence_valid_until=yesterday)
    return post(world.manager, world.scanner, local(11, 30, 8))


def _no_licence_number(world: World, tech: User) -> SessionPosting:
    TechnologistProfile.objects.filter(user=tech).update(licence_number="")
    return post(world.manager, world.scanner, local(11, 30, 8))


def _missing_family(world: World, tech: User) -> SessionPosting:
    return post(
        world.manager,
        world.scanner,
        local(11, 30, 8),
        required_exam_families=ExamFamily.objects.filter(code__in=["neuro", "cardiac"]),
    )


def _vendor(world: World, tech: User) -> SessionPosting:
    world.scanner.vendor = Vendor.UNITED_IMAGING
    world.scanner.save(update_fields=["vendor"])
    return post(world.manager, world.scanner, local(11, 30, 8))


def _language(world: World, tech: User) -> SessionPosting:
    languages = Language.objects.filter(code__in=["de", "en"])
    return post(world.manager, world.scanner, local(11, 30, 8), languages=languages)


def _seniority(world: World, tech: User) -> SessionPosting:
    return post(world.manager, world.scanner, local(11, 30, 8), min_seniority="senior")


def _part_of_the_slot(world: World, tech: User) -> SessionPosting:
    """Available 06:00–22:00 daily; the session runs on to 23:00."""
    return post(world.manager, world.scanner, local(12, 1, 19), hours=4)


def _before_the_availability(world: World, tech: User) -> SessionPosting:
    """The daily window starts on 30 November; the session is the day before."""
    return post(world.manager, world.scanner, local(11, 29, 8))


def _overlapping_booking(world: World, tech: User) -> SessionPosting:
    first = post(world.other_manager, world.other_scanner, local(11, 30, 10))
    confirmed(world.other_manager, first, tech)
    return post(world.manager, world.scanner, local(11, 30, 8))


HARD_FILTERS: list[tuple[Callable[[World, User], SessionPosting], str]] = [
    (_unverified, "licence is not on file, not verified or expired"),
    (_expired, "licence is not on file, not verified or expired"),
    (_no_licence_number, "licence is not on file, not verified or expired"),
    (_missing_family, "does not meet this session's requirements"),
    (_vendor, "does not meet this session's requirements"),
    (_language, "does not meet this session's requirements"),
    (_seniority, "does not meet this session's requirements"),
    (_part_of_the_slot, "not available for the whole session"),
    (_before_the_availability, "not available for the whole session"),
    (_overlapping_booking, "already booked on Mon 30 Nov 10:00–14:00"),
]


@pytest.mark.parametrize(
    ("setup", "refusal"), HARD_FILTERS, ids=[setup.__name__.strip("_") for setup, _ in HARD_FILTERS]
)
def test_each_hard_filter_excludes_whom_booking_refuses(
    world: World,
    tech: User,
    setup: Callable[[World, User], SessionPosting],
    refusal: str,
) -> None:
    ok = colleague(world, "ann")  # passes every filter: the list is not empty by accident
    posting = setup(world, tech)
    if setup is _vendor:
        ok_profile = TechnologistProfile.objects.get(user=ok)
        ok_profile.vendor_familiarities.create(vendor=Vendor.UNITED_IMAGING)
    if setup is _language:
        TechnologistProfile.objects.get(user=ok).languages.add(Language.objects.get(code="de"))
    if setup is _seniority:
        TechnologistProfile.objects.filter(user=ok).update(seniority="senior")
    if setup is _missing_family:
        TechnologistProfile.objects.get(user=ok).exam_families.add(
            ExamFamily.objects.get(code="cardiac")
        )
    if setup in (_part_of_the_slot, _before_the_availability):
        services.availability_create(
            actor=ok,
            technologist=ok,
            starts_at=posting.starts_at - timedelta(hours=1),
            ends_at=posting.ends_at + timedelta(hours=1),
            time_zone="Europe/Brussels",
        )
    assert ranked(posting) == [ok.email]
    with pytest.raises(Conflict, match=refusal):
        services.booking_invite(actor=world.manager, posting=posting, technologist=tech)
    services.booking_invite(actor=world.manager, posting=posting, technologist=ok)


def test_a_live_booking_on_the_posting_is_listed_apart(
    world: World, tech: User, posting: SessionPosting
) -> None:
    ann = colleague(world, "ann")
    services.booking_apply(actor=ann, posting=posting)
    assert ranked(posting) == [tech.email]
    declined = services.booking_invite(actor=world.manager, posting=posting, technologist=tech)
    services.booking_decline(actor=tech, booking=declined)
    # A declined invitation is over: they are a candidate again.
    assert ranked(posting) == [tech.email]


@pytest.mark.parametrize(("gap_minutes", "fits"), [(30, True), (29, False)])
@pytest.mark.parametrize("order", ["after", "before"])
def test_the_rest_buffer_edges(
    world: World, tech: User, scanner: Scanner, gap_minutes: int, fits: bool, order: str
) -> None:
    """A confirmed session of 10:00–14:00; the one to fill lasts two hours, after or before."""
    first = post(world.other_manager, world.other_scanner, local(11, 30, 10))
    confirmed(world.other_manager, first, tech)
    gap = timedelta(minutes=gap_minutes)
    start = first.ends_at + gap if order == "after" else first.starts_at - gap - timedelta(hours=2)
    second = post(world.manager, scanner, start, hours=2)
    assert ranked(second) == ([tech.email] if fits else [])
    if fits:
        services.booking_invite(actor=world.manager, posting=second, technologist=tech)
    else:
        with pytest.raises(Conflict, match="30 minutes of rest"):
            services.booking_invite(actor=world.manager, posting=second, technologist=tech)


def _hold(world: World, tech: User, days_and_hours: list[tuple[int, int, float]]) -> None:
    """Confirm `tech` for sessions on (month, day, hours) from 06:00, at the other hospital
    (on a scanner of their own, so that two people's sessions do not clash)."""
    scanner = ScannerFactory(site=world.other_site, vendor=Vendor.SIEMENS)
    for month, day, hours in days_and_hours:
        confirmed(
            world.other_manager,
            post(world.other_manager, scanner, local(month, day, 6), hours=hours),
            tech,
        )


@pytest.mark.parametrize(("hours", "fits"), [(4, True), (5, False)])
def test_the_weekly_cap_reached_is_allowed_exceeded_is_not(
    world: World, tech: User, scanner: Scanner, hours: int, fits: bool
) -> None:
    _hold(world, tech, [(12, 1, 12), (12, 2, 12), (12, 3, 10)])  # 34 h, Tue–Thu
    _hold(world, tech, [(12, 7, 12)])  # the next week does not count
    posting = post(world.manager, scanner, local(11, 30, 8), hours=hours)
    candidates = candidates_for(posting=posting)
    if fits:
        [candidate] = candidates
        assert candidate.hours_this_week == Decimal("34")
        reasons = by_term(candidate.reasons)
        assert reasons["weekly_cap"].text == "38 h of 38 that week with this session ✓"
        assert reasons["fairness"].text == "34 of 38 h booked this week"
        services.booking_invite(actor=world.manager, posting=posting, technologist=tech)
    else:
        assert candidates == []
        with pytest.raises(Conflict, match="weekly cap"):
            services.booking_invite(actor=world.manager, posting=posting, technologist=tech)


def test_the_week_is_the_technologists_own(world: World, clock: Clock, scanner: Scanner) -> None:
    """Monday 30 November 02:00–04:00 in Brussels is still Sunday evening in New York: the
    New Yorker's week with 37 h is the next one, the Brussels technologist's is this one."""
    brussels = colleague(world, "brussels")
    new_york = colleague(world, "newyork", home_time_zone="America/New_York")
    for who in (brussels, new_york):
        services.availability_create(
            actor=who,
            technologist=who,
            starts_at=local(11, 30, 1),
            ends_at=local(11, 30, 5),
            time_zone="Europe/Brussels",
        )
        _hold(world, who, [(12, 1, 12), (12, 2, 12), (12, 3, 12), (12, 4, 1)])  # 37 h
    posting = post(world.manager, scanner, local(11, 30, 2), hours=2)
    [candidate] = candidates_for(posting=posting)
    assert candidate.technologist == new_york
    assert candidate.hours_this_week == Decimal("0")
    services.booking_invite(actor=world.manager, posting=posting, technologist=new_york)
    with pytest.raises(Conflict, match="weekly cap"):
        services.booking_invite(actor=world.manager, posting=posting, technologist=brussels)


def test_recurring_availability_on_the_right_weekday_across_dst(
    world: World, clock: Clock, scanner: Scanner
) -> None:
    """Mondays 07:00–13:00 Brussels, set in winter time: on 29 March 2027, the day after the
    clocks go forward, it is still 07:00–13:00 on the wall clock (05:00–11:00 UTC)."""
    monday = colleague(world, "monday", daily=False)
    services.availability_create(
        actor=monday,
        technologist=monday,
        starts_at=local(11, 30, 7),
        ends_at=local(11, 30, 13),
        time_zone="Europe/Brussels",
        rrule="FREQ=WEEKLY;BYDAY=MO",
    )
    summer_monday = datetime(2027, 3, 29, 7, tzinfo=local(11, 30, 7).tzinfo)
    mr2 = ScannerFactory(site=world.site, name="MR 2", vendor=Vendor.SIEMENS)
    cases = {
        post(world.manager, scanner, local(12, 7, 8)): True,  # a Monday in winter
        post(world.manager, scanner, local(12, 8, 8)): False,  # a Tuesday
        post(world.manager, scanner, summer_monday, hours=6): True,  # 07:00–13:00 summer time
        # UTC-minded expansion would say 08:00–14:00 here, and take these wrongly:
        post(world.manager, mr2, summer_monday + timedelta(hours=5), hours=2): False,
    }
    for posting, covered in cases.items():
        assert ranked(posting) == ([monday.email] if covered else []), posting
        if covered:
            services.booking_invite(actor=world.manager, posting=posting, technologist=monday)
        else:
            with pytest.raises(Conflict, match="not available for the whole session"):
                services.booking_invite(actor=world.manager, posting=posting, technologist=monday)


# --- Soft terms: the order WEIGHTS documents ------------------------------------------------------


def test_fewer_hours_this_week_ranks_higher_at_equal_fit(
    world: World, tech: User, posting: SessionPosting
) -> None:
    busy = colleague(world, "aaron")  # first by name: only the hours put them second
    _hold(world, busy, [(12, 2, 12)])
    first, second = candidates_for(posting=posting)
    assert (first.technologist, second.technologist) == (tech, busy)
    assert by_term(second.reasons)["fairness"].text == "12 of 38 h booked this week"
    assert second.hours_this_week == Decimal("12")
    assert first.score - second.score == pytest.approx(WEIGHTS.fairness * 12 / 38, abs=0.01)


def test_ties_go_by_name(world: World, tech: User, posting: SessionPosting) -> None:
    aaron, zoe = colleague(world, "zoe"), colleague(world, "aaron")
    names = ranked(posting)
    # "Aaron Tech" before "Zoe Tech" (world.technologist's random name may fall anywhere).
    assert names.index(zoe.email) < names.index(aaron.email)


def test_experience_with_the_vendor_and_the_hospital_ranks_higher(
    world: World, tech: User, posting: SessionPosting
) -> None:
    vendor_only, both = colleague(world, "vendor"), colleague(world, "both")
    completed_at(vendor_only, world.other_hospital)
    for _ in range(3):
        completed_at(both, world.hospital)
    completed_at(both, world.hospital, vendor=Vendor.GE)  # at the hospital, another vendor
    assert ranked(posting) == [both.email, vendor_only.email, tech.email]
    [top, middle, _] = candidates_for(posting=posting)
    assert by_term(top.reasons)["vendor_experience"].text == (
        "3 sessions done on Siemens Healthineers"
    )
    assert by_term(top.reasons)["hospital_experience"].text == (
        "4 sessions done at Hôpital Sainte-Claire"
    )
    assert by_term(middle.reasons)["vendor_experience"].text == (
        "1 session done on Siemens Healthineers"
    )
    assert by_term(middle.reasons)["hospital_experience"].points == 0


def test_experience_counts_are_capped(world: World, tech: User, posting: SessionPosting) -> None:
    for _ in range(WEIGHTS.sessions_counted + 2):
        completed_at(tech, world.other_hospital)
    [candidate] = candidates_for(posting=posting)
    assert by_term(candidate.reasons)["vendor_experience"].points == (
        WEIGHTS.per_vendor_session * WEIGHTS.sessions_counted
    )


def test_a_lender_that_owes_the_posting_hospital_ranks_higher(
    world: World, clock: Clock, scanner: Scanner
) -> None:
    """Sainte-Claire gave Scheldeland 14 h more than it received; it owes Third 10 h."""
    posting = post(world.manager, scanner, local(11, 30, 8))
    third = HospitalFactory(name="Third General")
    third_manager = UserFactory(email="third-manager@example.org")
    MembershipFactory(user=third_manager, hospital=third, role=Role.MANAGER)
    ledger(world.hospital, world.other_hospital, "20")
    ledger(world.other_hospital, world.hospital, "6")
    ledger(third, world.hospital, "10")
    own = colleague(world, "own")
    lent = {}
    for hospital, manager, name in [
        (world.other_hospital, world.other_manager, "scheldeland"),
        (third, third_manager, "third"),
    ]:
        user = UserFactory(email=f"{name}@example.org", first_name=name.title())
        MembershipFactory(user=user, hospital=hospital, role=Role.TECHNOLOGIST)
        licensed(user)
        available(user, actor=manager, lending_hospital=hospital)
        lent[name] = user
    assert ranked(posting) == [lent["scheldeland"].email, own.email, lent["third"].email]
    first, middle, last = candidates_for(posting=posting)
    assert first.lending_hospital == world.other_hospital
    assert by_term(first.reasons)["reciprocity"].text == (
        "lent by Ziekenhuis Scheldeland, which owes Hôpital Sainte-Claire 14 h"
    )
    assert by_term(first.reasons)["reciprocity"].points == 14 * WEIGHTS.per_reciprocity_hour
    assert by_term(middle.reasons)["reciprocity"].text == "offers their own time"
    assert by_term(last.reasons)["reciprocity"].text == (
        "lent by Third General, which Hôpital Sainte-Claire owes 10 h"
    )
    assert by_term(last.reasons)["reciprocity"].points == -10 * WEIGHTS.per_reciprocity_hour
    # The booking records the same lender.
    booking = services.booking_invite(
        actor=world.manager, posting=posting, technologist=first.technologist
    )
    assert booking.lending_hospital == world.other_hospital


def test_urgency_is_shown_and_scored(world: World, tech: User, scanner: Scanner) -> None:
    urgent = post(world.manager, scanner, local(11, 30, 8), urgency="urgent")
    [candidate] = candidates_for(posting=urgent)
    assert by_term(candidate.reasons)["urgency"].text == "urgent session"
    assert by_term(candidate.reasons)["urgency"].points == WEIGHTS.urgency["urgent"]


# --- Queries ----------------------------------------------------------------------------------


def _queries(call: Callable[[], Any]) -> int:
    with CaptureQueriesContext(connection) as captured:
        call()
    return len(captured)


def test_queries_do_not_grow_with_the_technologists(
    world: World, tech: User, posting: SessionPosting
) -> None:
    for i in range(4):
        colleague(world, f"few{i}")
    few = _queries(lambda: candidates_for(posting=posting))
    assert len(candidates_for(posting=posting)) == 5
    for i in range(45):
        colleague(world, f"many{i}")
    many = _queries(lambda: candidates_for(posting=posting, limit=100))
    assert len(candidates_for(posting=posting, limit=100)) == 50
    assert many == few


# --- A technologist's postings ------------------------------------------------------------------


def test_matches_are_the_postings_one_can_take_with_reasons(
    world: World, tech: User, scanner: Scanner
) -> None:
    fits = post(
        world.manager, scanner, local(11, 30, 8), languages=Language.objects.filter(code="nl")
    )
    outside = post(world.manager, scanner, local(12, 1, 20))  # runs past 22:00
    cardiac = post(
        world.manager,
        scanner,
        local(12, 2, 8),
        required_exam_families=ExamFamily.objects.filter(code="cardiac"),
    )
    clash = post(world.other_manager, world.other_scanner, local(12, 3, 8))
    busy = post(world.manager, scanner, local(12, 3, 10))
    confirmed(world.manager, busy, tech)
    applied = post(world.manager, scanner, local(12, 4, 8))
    services.booking_apply(actor=tech, posting=applied)
    profile = TechnologistProfile.objects.get(user=tech)
    matches = matches_for(profile=profile)
    assert [m.posting for m in matches] == [fits]
    assert {outside, cardiac, clash, busy, applied}.isdisjoint(m.posting for m in matches)
    assert texts(matches[0].reasons) == [
        f"licence verified, valid until {profile.licence_valid_until:%d %b %Y} ✓",
        "Siemens Healthineers ✓",
        "speaks nl ✓",
        "seniority experienced ≥ junior ✓",
        "available 06:00–22:00 ✓",
        "no other session within 30 min ✓",
        "8 h of 38 that week with this session ✓",
        "routine session",
        "no session done on Siemens Healthineers yet",
        "no session done at Hôpital Sainte-Claire yet",
        "Hôpital Sainte-Claire gave as many hours as it received",
        "4 of 38 h booked in the week of 30 Nov",
    ]
    # What matches can be applied for; what does not, the service refuses.
    services.booking_apply(actor=tech, posting=fits)
    for posting, refusal in [
        (outside, "not available for the whole session"),
        (cardiac, "not meet this session's requirements"),
        (clash, "already booked"),
    ]:
        with pytest.raises(Conflict, match=refusal):
            services.booking_apply(actor=tech, posting=posting)


def test_no_matches_without_a_current_licence(world: World, tech: User, scanner: Scanner) -> None:
    post(world.manager, scanner, local(11, 30, 8))
    profile = TechnologistProfile.objects.get(user=tech)
    assert len(matches_for(profile=profile)) == 1
    profile.licence_verified_at = None
    assert matches_for(profile=profile) == []


def test_matches_rank_urgency_then_reciprocity_then_fairness(
    world: World, tech: User, scanner: Scanner
) -> None:
    """Scheldeland gave Sainte-Claire 10 h (±5 points); the week of 7 December holds 12 h."""
    ledger(world.other_hospital, world.hospital, "10")
    routine_here = post(world.manager, scanner, local(12, 1, 8))
    routine_there = post(world.other_manager, world.other_scanner, local(12, 1, 14))
    _hold(world, tech, [(12, 9, 12)])
    urgent_busy_week = post(world.manager, scanner, local(12, 10, 8), urgency="urgent")
    busy_week = post(world.manager, scanner, local(12, 11, 8))
    light_week = post(world.manager, scanner, local(12, 16, 8))
    profile = TechnologistProfile.objects.get(user=tech)
    matches = matches_for(profile=profile)
    assert [m.posting for m in matches] == [
        urgent_busy_week,  # 20 - 5 + 6.84
        routine_there,  # 5 + 10
        routine_here,  # -5 + 10, earlier than the next at the same score
        light_week,  # -5 + 10
        busy_week,  # -5 + 6.84
    ]
    reasons = {m.posting.pk: by_term(m.reasons) for m in matches}
    assert reasons[routine_there.pk]["reciprocity"].text == (
        "Ziekenhuis Scheldeland gave 10 h more than it received"
    )
    assert reasons[routine_here.pk]["reciprocity"].text == (
        "Hôpital Sainte-Claire received 10 h more than it gave"
    )
    assert reasons[busy_week.pk]["fairness"].text == "12 of 38 h booked in the week of 07 Dec"
    assert reasons[urgent_busy_week.pk]["urgency"].text == "urgent session"
    assert [m.posting for m in matches_for(profile=profile, urgency="urgent")] == [urgent_busy_week]
    assert [m.posting for m in matches_for(profile=profile, limit=2)] == [
        urgent_busy_week,
        routine_there,
    ]


def test_matches_queries_do_not_grow_with_the_postings(
    world: World, tech: User, scanner: Scanner
) -> None:
    profile = TechnologistProfile.objects.get(user=tech)
    for day in range(5):
        post(world.manager, scanner, local(12, 1 + day, 8))
    few = _queries(lambda: matches_for(profile=profile))
    assert len(matches_for(profile=profile)) == 5
    for day in range(25):
        post(world.manager, scanner, local(12, 1 + day, 14))
        post(world.other_manager, world.other_scanner, local(12, 1 + day, 14))
    many = _queries(lambda: matches_for(profile=profile))
    assert len(matches_for(profile=profile)) == 50
    assert many == few
