"""Completing a booking asks the app that ran its exam (through `scheduling.exams`, without
importing it) to end the exam first, inside the same transaction, so the booking's notice names
the outcome and the hours run; a booking no exam ran for tells its booked hours."""

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection

from accounts.models import User
from core.models import Notification
from marketplace.models import SessionPosting
from scheduling import exams, services
from scheduling.exams import ExamSummary
from tests.conftest import World
from tests.scheduling.support import Clock, confirmed

pytestmark = pytest.mark.django_db


@pytest.fixture
def registered() -> Any:
    """The cockpit's reader and closer, put back after the test."""
    readers, closers, lockers = list(exams._readers), list(exams._closers), list(exams._lockers)
    yield
    exams._readers[:], exams._closers[:], exams._lockers[:] = readers, closers, lockers


def _completed_notice() -> str:
    return str(Notification.objects.get(kind="booking.completed").message)


def test_the_exam_is_closed_before_the_booking_tells_how_it_went(
    world: World, tech: User, posting: SessionPosting, clock: Clock, registered: Any
) -> None:
    booking = confirmed(world.manager, posting, tech)
    clock.now = posting.starts_at
    booking = services.booking_start(actor=tech, booking=booking)
    started = clock.now
    closed: dict[int, ExamSummary] = {}
    calls: list[tuple[int, int | None, str, bool]] = []

    def close(booking_id: int, actor_id: int | None, reason: str) -> None:
        calls.append((booking_id, actor_id, reason, connection.in_atomic_block))
        # Nothing told yet: the notice comes after the exam's summary.
        assert not Notification.objects.filter(kind="booking.completed").exists()
        closed[booking_id] = ExamSummary(
            started_at=started,
            ended_at=started + timedelta(minutes=4),
            outcome="aborted",
            label="Aborted (0 of 5 sequences done)",
            total=5,
        )

    exams.exam_reader_set(lambda ids: {pk: closed[pk] for pk in ids if pk in closed})
    exams.exam_closer_set(close)
    clock.now = started + timedelta(minutes=4)
    services.booking_complete(actor=tech, booking=booking)
    assert calls == [(booking.pk, tech.pk, "The booking was completed from its page.", True)]
    notice = _completed_notice()
    assert notice.startswith("Aborted (0 of 5 sequences done): the session at ")
    assert "ran on " in notice
    assert notice.endswith(" h booked.")
    assert "Completed" not in notice


def test_a_booking_no_exam_ran_for_tells_its_booked_hours(
    world: World, tech: User, posting: SessionPosting, clock: Clock, registered: Any
) -> None:
    exams.exam_reader_set(None)
    exams.exam_closer_set(None)
    booking = confirmed(world.manager, posting, tech)
    clock.now = posting.starts_at
    booking = services.booking_start(actor=tech, booking=booking)
    clock.now = posting.ends_at
    services.booking_complete(actor=tech, booking=booking)
    notice = _completed_notice()
    assert notice.startswith(f"Completed: the session at {posting.hospital.name} on ")
    assert "ran on" not in notice
