"""Races the database must win: 20 confirms at once for one technologist on overlapping
sessions, and 20 technologists accepted at once for one session. Exactly one is confirmed; every
other thread gets a Conflict (409) and nothing else; a query afterwards finds no overlap.

Real threads, each with its own database connection (closed at the end), released together by a
barrier. On SQLite the IMMEDIATE transactions queue on the write lock (hence a test database in a
file, see wescan/settings/test.py); on PostgreSQL the row locks and constraints decide."""

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.models import Count, Exists, OuterRef

from core.errors import Conflict
from marketplace.models import PostingStatus, Role, SessionPosting
from scheduling import services
from scheduling.models import (
    CONFIRMED_STATUSES,
    OCCUPYING_STATUSES,
    REST_BUFFER,
    Booking,
    BookingStatus,
)
from tests.conftest import World
from tests.factories import MembershipFactory, ScannerFactory, UserFactory
from tests.scheduling.support import available, freeze, licensed, local, post

pytestmark = pytest.mark.django_db(transaction=True)

RACERS = 20


@pytest.fixture(autouse=True)
def _frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    freeze(monkeypatch)


class Outcome:
    def __init__(self) -> None:
        self.confirmed: list[Booking] = []
        self.refused: list[Conflict] = []
        self.failed: list[Exception] = []


def _race(calls: list[Callable[[], Booking]]) -> Outcome:
    outcome = Outcome()
    barrier = threading.Barrier(len(calls))
    lock = threading.Lock()

    def run(call: Callable[[], Booking]) -> None:
        try:
            barrier.wait(timeout=30)
            booking = call()
        except Conflict as error:
            with lock:
                outcome.refused.append(error)
        except Exception as error:
            with lock:
                outcome.failed.append(error)
        else:
            with lock:
                outcome.confirmed.append(booking)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return outcome


def _accept(actor: Any, booking: Booking) -> Callable[[], Booking]:
    return lambda: services.booking_accept(actor=actor, booking=booking)


def _overlapping_bookings() -> int:
    """Confirmed bookings of one technologist closer than the rest buffer to another one."""
    near = Booking.objects.filter(
        technologist=OuterRef("technologist"),
        status__in=OCCUPYING_STATUSES,
        starts_at__lt=OuterRef("ends_at") + REST_BUFFER,
        ends_at__gt=OuterRef("starts_at") - REST_BUFFER,
    ).exclude(pk=OuterRef("pk"))
    return Booking.objects.filter(status__in=OCCUPYING_STATUSES).filter(Exists(near)).count()


def _postings_with_two_confirmed() -> int:
    return (
        Booking.objects.filter(status__in=CONFIRMED_STATUSES)
        .values("posting")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .count()
    )


def test_twenty_overlapping_confirms_for_one_technologist(world: World) -> None:
    """Two hospitals, ten scanners each, twenty sessions on Monday morning a few minutes apart;
    the technologist applied to all, and both hospitals' managers accept at once."""
    technologist = world.technologist
    licensed(technologist)
    available(technologist)
    bookings = []
    for i in range(RACERS):
        manager, site = (
            (world.manager, world.site) if i % 2 else (world.other_manager, world.other_site)
        )
        scanner = ScannerFactory(site=site)
        posting = post(manager, scanner, local(11, 30, 8) + timedelta(minutes=5 * i))
        booking = services.booking_apply(actor=technologist, posting=posting)
        bookings.append((manager, booking))

    outcome = _race([_accept(manager, booking) for manager, booking in bookings])

    assert outcome.failed == []
    assert len(outcome.confirmed) == 1
    assert len(outcome.refused) == RACERS - 1
    assert all(error.status == 409 for error in outcome.refused)
    assert all("30 minutes of rest" in error.message for error in outcome.refused)
    assert Booking.objects.filter(status=BookingStatus.CONFIRMED).count() == 1
    assert Booking.objects.filter(status=BookingStatus.PENDING).count() == RACERS - 1
    assert _overlapping_bookings() == 0
    filled = SessionPosting.objects.filter(status=PostingStatus.FILLED)
    assert list(filled) == [outcome.confirmed[0].posting]


def test_twenty_technologists_race_for_one_posting(world: World) -> None:
    posting = post(world.manager, world.scanner, local(11, 30, 8))
    bookings = []
    for _ in range(RACERS):
        technologist = UserFactory()
        MembershipFactory(user=technologist, hospital=world.other_hospital, role=Role.TECHNOLOGIST)
        licensed(technologist)
        available(technologist)
        bookings.append(services.booking_apply(actor=technologist, posting=posting))

    outcome = _race([_accept(world.manager, booking) for booking in bookings])

    assert outcome.failed == []
    assert len(outcome.confirmed) == 1
    assert len(outcome.refused) == RACERS - 1
    assert all(error.status == 409 for error in outcome.refused)
    assert all("filled" in error.message for error in outcome.refused)
    assert Booking.objects.filter(posting=posting, status=BookingStatus.CONFIRMED).count() == 1
    assert _postings_with_two_confirmed() == 0
    assert _overlapping_bookings() == 0
    posting.refresh_from_db()
    assert posting.status == PostingStatus.FILLED
