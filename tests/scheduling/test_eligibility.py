"""Eligibility judged once for many postings: the same answer as for each posting alone, with
queries that do not grow with the postings or the technologists. Frozen clock: Monday 23
November 2026, 09:00 UTC (see support.py)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Prefetch
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from marketplace.models import ExamFamily, Language, Role, SessionPosting, Urgency, Vendor
from scheduling import services
from scheduling.eligibility import Fit, fits_for
from tests.conftest import World
from tests.factories import MembershipFactory, ScannerFactory, UserFactory
from tests.scheduling.support import Clock, available, confirmed, licensed, local, post

pytestmark = pytest.mark.django_db


def person(world: World, name: str, **profile: object) -> User:
    user = UserFactory(email=f"{name}@example.org", first_name=name.title(), last_name="Tech")
    MembershipFactory(user=user, hospital=world.hospital, role=Role.TECHNOLOGIST)
    licensed(user, **profile)
    available(user)
    return user


@pytest.fixture
def postings(world: World, clock: Clock) -> list[SessionPosting]:
    """More postings than the database is told about one by one (20): mixed asks, over the
    next fortnight, on four scanners; technologists of several kinds, some busy."""
    kinds = [
        {},
        {"seniority": "junior"},
        {"exam_families": ["msk"]},
        {"languages": ["de"]},
        {"vendors": ["ge"]},
        {"home_time_zone": "America/New_York", "seniority": "senior"},
        {"home_time_zone": "Europe/Lisbon", "exam_families": ["neuro", "msk", "cardiac"]},
    ]
    people = [person(world, f"p{i}", **kind) for i, kind in enumerate(kinds)]
    scanners = [
        ScannerFactory(site=world.site, vendor=vendor)
        for vendor in (Vendor.SIEMENS, Vendor.GE, Vendor.SIEMENS, Vendor.PHILIPS)
    ]
    made = []
    neuro = ExamFamily.objects.filter(code="neuro")
    german = Language.objects.filter(code__in=["de", "nl"])
    for i in range(24):
        options: dict[str, object] = {}
        if i % 3 == 0:
            options["required_exam_families"] = neuro
        if i % 4 == 1:
            options["languages"] = german
        if i % 5 == 2:
            options["min_seniority"] = "experienced"
        options["urgency"] = [Urgency.ROUTINE, Urgency.PRIORITY, Urgency.URGENT][i % 3]
        start = local(12, 1 + i % 12, 7 + 6 * (i // 12))
        made.append(post(world.manager, scanners[i % 4], start, **options))
    # Busy: a confirmed session overlapping some, and a pending invitation on another.
    other = ScannerFactory(site=world.other_site, vendor=Vendor.SIEMENS)
    confirmed(world.other_manager, post(world.other_manager, other, local(12, 2, 9)), people[0])
    services.booking_invite(
        actor=world.other_manager,
        posting=post(world.other_manager, other, local(12, 3, 9)),
        technologist=people[1],
    )
    return made


def _key(fits: list[Fit]) -> list[tuple[object, ...]]:
    return sorted(
        (fit.person.user_id, fit.window_id, fit.occurrence, fit.week, fit.held, fit.shared_language)
        for fit in fits
    )


@pytest.mark.parametrize("pending_clash", [False, True])
def test_many_postings_at_once_give_what_each_gives_alone(
    postings: list[SessionPosting], clock: Clock, pending_clash: bool
) -> None:
    together = fits_for(postings, now=clock.now, pending_clash=pending_clash)
    assert sum(len(found) for found in together.values()) > 40
    for posting in postings:
        alone = fits_for([posting], now=clock.now, pending_clash=pending_clash)
        assert _key(together[posting.pk]) == _key(alone[posting.pk]), posting


def test_a_pending_booking_excludes_only_when_asked(
    postings: list[SessionPosting], clock: Clock
) -> None:
    busy = User.objects.get(email="p1@example.org")
    near = [p for p in postings if abs(p.starts_at - local(12, 3, 9)) < timedelta(hours=5)]
    assert near
    without = fits_for(near, now=clock.now)
    with_pending = fits_for(near, now=clock.now, pending_clash=True)
    assert any(busy.pk in {f.person.user_id for f in without[p.pk]} for p in near)
    assert all(busy.pk not in {f.person.user_id for f in with_pending[p.pk]} for p in near)


def _prefetched(postings: list[SessionPosting]) -> list[SessionPosting]:
    """As the callers read them: families and languages prefetched."""
    return list(
        SessionPosting.objects.filter(pk__in=[p.pk for p in postings])
        .prefetch_related(
            Prefetch("required_exam_families", to_attr="prefetched_families"),
            Prefetch("languages", to_attr="prefetched_languages"),
        )
        .order_by("starts_at")
    )


def test_queries_do_not_grow_with_the_postings_or_the_technologists(
    world: World, postings: list[SessionPosting], clock: Clock
) -> None:
    first, every = _prefetched(postings[:1]), _prefetched(postings)
    with CaptureQueriesContext(connection) as one:
        fits_for(first, now=clock.now)
    with CaptureQueriesContext(connection) as all_of_them:
        fits_for(every, now=clock.now)
    for i in range(10):
        person(world, f"more{i}")
    with CaptureQueriesContext(connection) as more_people:
        found = fits_for(every, now=clock.now)
    assert len(one) == len(all_of_them) == len(more_people)
    assert any(fit.person.name.startswith("More") for fits in found.values() for fit in fits)
