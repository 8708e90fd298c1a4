"""The periodic jobs: reminders 24 h and 1 h before a confirmed session, each once, to the
technologist and the hospital's managers; pending bookings nobody answered expire and both sides
hear of it. Time is passed to the jobs as `now`, as beat's "now" would be."""

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.core import mail

from accounts.models import User
from core.models import Notification
from marketplace.models import SessionPosting
from scheduling import services
from scheduling.models import Booking, BookingStatus
from scheduling.tasks import booking_expire_due, booking_reminders
from tests.conftest import World
from tests.factories_supply import LicensedTechnologistFactory
from tests.scheduling.support import Clock, available, confirmed

pytestmark = pytest.mark.django_db

Capture = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]


def _reminders(booking: Booking) -> list[tuple[str, int]]:
    return list(
        Notification.objects.filter(kind__startswith="booking.reminder", data__booking=booking.pk)
        .order_by("pk")
        .values_list("kind", "recipient_id")
    )


def _run(at: datetime, capture: Capture) -> int:
    with capture(execute=True):
        return booking_reminders(now=at)


def test_a_day_ahead_then_an_hour_ahead_each_once_to_both_sides(
    world: World,
    tech: User,
    posting: SessionPosting,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    booking = confirmed(world.manager, posting, tech)
    start = booking.starts_at
    both = [tech.pk, world.manager.pk]

    assert _run(start - timedelta(hours=24, minutes=5), django_capture_on_commit_callbacks) == 0
    assert _reminders(booking) == []

    assert _run(start - timedelta(hours=23, minutes=58), django_capture_on_commit_callbacks) == 2
    assert _reminders(booking) == [("booking.reminder_24h", pk) for pk in both]
    assert sorted(m.to[0] for m in mail.outbox) == sorted([tech.email, world.manager.email])
    assert {m.subject for m in mail.outbox} == {"[WeScan] Reminder: a session within 24 hours"}

    # Every later run inside the day sends nothing more, until the last hour.
    for ahead in (timedelta(hours=23, minutes=53), timedelta(hours=3), timedelta(minutes=61)):
        assert _run(start - ahead, django_capture_on_commit_callbacks) == 0
    assert _run(start - timedelta(minutes=58), django_capture_on_commit_callbacks) == 2
    assert _run(start - timedelta(minutes=53), django_capture_on_commit_callbacks) == 0
    assert _reminders(booking) == [
        *[("booking.reminder_24h", pk) for pk in both],
        *[("booking.reminder_1h", pk) for pk in both],
    ]
    assert len(mail.outbox) == 4
    # Nothing once it has started.
    assert _run(start + timedelta(minutes=1), django_capture_on_commit_callbacks) == 0

    to_tech = Notification.objects.get(kind="booking.reminder_1h", recipient=tech)
    assert to_tech.message == (
        "Starting soon: your session at Hôpital Sainte-Claire, Campus Nord, "
        "on Mon 30 Nov 08:00–12:00 (Europe/Brussels)."
    )
    assert to_tech.url == f"/bookings/{booking.pk}/"
    to_manager = Notification.objects.get(kind="booking.reminder_24h", recipient=world.manager)
    assert to_manager.message.startswith(f"Reminder: {tech.display_name} works on MR 1 at")


def test_the_technologists_reminder_is_in_their_own_time_zone(
    world: World, clock: Clock, posting: SessionPosting, django_capture_on_commit_callbacks: Capture
) -> None:
    LicensedTechnologistFactory(user=world.technologist, home_time_zone="Europe/Lisbon")
    available(world.technologist)
    booking = confirmed(world.manager, posting, world.technologist)
    _run(booking.starts_at - timedelta(hours=2), django_capture_on_commit_callbacks)
    to_tech = Notification.objects.get(recipient=world.technologist, kind="booking.reminder_24h")
    assert "on Mon 30 Nov 07:00–11:00 (Europe/Lisbon)" in to_tech.message
    to_manager = Notification.objects.get(recipient=world.manager, kind="booking.reminder_24h")
    assert "on Mon 30 Nov 08:00–12:00 (Europe/Brussels)" in to_manager.message


def test_confirmed_three_hours_ahead_gets_the_day_reminder_once_then_the_hour_one(
    world: World,
    tech: User,
    posting: SessionPosting,
    clock: Clock,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    clock.now = posting.starts_at - timedelta(hours=3)
    booking = confirmed(world.manager, posting, tech)
    assert _run(clock.now, django_capture_on_commit_callbacks) == 2
    assert _run(clock.now + timedelta(minutes=5), django_capture_on_commit_callbacks) == 0
    assert _run(posting.starts_at - timedelta(minutes=59), django_capture_on_commit_callbacks) == 2
    assert [kind for kind, _ in _reminders(booking)] == [
        "booking.reminder_24h",
        "booking.reminder_24h",
        "booking.reminder_1h",
        "booking.reminder_1h",
    ]


def test_confirmed_within_the_hour_gets_only_the_hour_reminder(
    world: World,
    tech: User,
    posting: SessionPosting,
    clock: Clock,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    clock.now = posting.starts_at - timedelta(minutes=40)
    booking = confirmed(world.manager, posting, tech)
    assert _run(clock.now, django_capture_on_commit_callbacks) == 2
    assert {kind for kind, _ in _reminders(booking)} == {"booking.reminder_1h"}


@pytest.mark.parametrize("status", ["pending", "cancelled", "in_progress"])
def test_bookings_not_confirmed_are_not_reminded(
    world: World,
    tech: User,
    posting: SessionPosting,
    clock: Clock,
    django_capture_on_commit_callbacks: Capture,
    status: str,
) -> None:
    if status == "pending":
        booking = services.booking_invite(actor=world.manager, posting=posting, technologist=tech)
    else:
        booking = confirmed(world.manager, posting, tech)
    if status == "cancelled":
        services.booking_cancel(actor=world.manager, booking=booking, reason="Scanner down")
    elif status == "in_progress":
        clock.now = posting.starts_at - timedelta(minutes=10)
        services.booking_start(actor=tech, booking=booking)
    assert _run(posting.starts_at - timedelta(minutes=5), django_capture_on_commit_callbacks) == 0
    assert _reminders(booking) == []


# --- Expiry -------------------------------------------------------------------------------------


@pytest.mark.parametrize("opened_by", ["hospital", "technologist"])
def test_an_unanswered_booking_expires_and_both_sides_hear_it_once(
    world: World,
    tech: User,
    posting: SessionPosting,
    django_capture_on_commit_callbacks: Capture,
    opened_by: str,
) -> None:
    if opened_by == "hospital":
        booking = services.booking_invite(actor=world.manager, posting=posting, technologist=tech)
    else:
        booking = services.booking_apply(actor=tech, posting=posting)
    Notification.objects.all().delete()
    after_start = posting.starts_at + timedelta(minutes=1)

    assert booking_expire_due(now=posting.starts_at - timedelta(minutes=1)) == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert booking_expire_due(now=after_start) == 1
    booking.refresh_from_db()
    assert booking.status == BookingStatus.EXPIRED
    notices = dict(
        Notification.objects.filter(kind="booking.expired").values_list("recipient_id", "message")
    )
    when = "on Mon 30 Nov 08:00–12:00 (Europe/Brussels)"
    if opened_by == "hospital":
        assert notices == {
            tech.pk: f"Expired: the invitation from Hôpital Sainte-Claire to the session {when} "
            "got no answer before it started.",
            world.manager.pk: f"Expired: your invitation to {tech.display_name} for the session "
            f"{when} got no answer before it started.",
        }
    else:
        assert notices == {
            tech.pk: "Expired: your application for the session at Hôpital Sainte-Claire "
            f"{when} got no answer before it started.",
            world.manager.pk: f"Expired: {tech.display_name}'s application for the session "
            f"{when} got no answer before it started.",
        }
    assert mail.outbox == []  # in the app only: the session has started, nothing to do now

    with django_capture_on_commit_callbacks(execute=True):
        assert booking_expire_due(now=after_start + timedelta(minutes=5)) == 0
    assert Notification.objects.filter(kind="booking.expired").count() == 2
