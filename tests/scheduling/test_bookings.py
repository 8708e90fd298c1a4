"""The booking lifecycle: who may make each move, from which status, and what the posting, the
rest buffer and the weekly cap allow. Built through the services on a frozen clock: today is
Monday 23 November 2026, 09:00 UTC; the sessions are in the weeks after (Brussels time)."""

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction

from accounts.models import User
from core.errors import Conflict, PermissionDenied, ValidationFailed
from core.models import AuditEvent, Notification
from marketplace import services as marketplace_services
from marketplace.models import (
    ExamFamily,
    PostingStatus,
    SessionPosting,
    TechnologistProfile,
)
from scheduling import services
from scheduling.models import Booking, BookingStatus, Initiator
from scheduling.services import bookings as booking_services
from tests.conftest import World
from tests.factories import ScannerFactory, UserFactory
from tests.scheduling.support import (
    NOW,
    Clock,
    available,
    confirmed,
    licensed,
    local,
    post,
)

pytestmark = pytest.mark.django_db


class Notices:
    """The notices the services left, one event per move: `notices[-1]` is the last move's
    (recipient ids, {"kind", "message"})."""

    def __getitem__(self, index: int) -> tuple[list[int], dict[str, Any]]:
        events: list[tuple[list[int], dict[str, Any]]] = []
        for row in Notification.objects.order_by("pk").values("recipient_id", "kind", "message"):
            said = {"kind": row["kind"], "message": row["message"]}
            if events and events[-1][1] == said:
                events[-1][0].append(row["recipient_id"])
            else:
                events.append(([row["recipient_id"]], said))
        recipients, said = events[index]
        return sorted(recipients), said


@pytest.fixture
def notices() -> Notices:
    return Notices()


def _actions() -> list[str]:
    return list(
        AuditEvent.objects.filter(action__startswith="booking.")
        .order_by("pk")
        .values_list("action", flat=True)
    )


# --- Opening and accepting ----------------------------------------------------------------------


def test_a_manager_invites_and_the_technologist_accepts(
    world: World, tech: User, posting: SessionPosting, notices: list[Any]
) -> None:
    booking = services.booking_invite(actor=world.manager, posting=posting, technologist=tech)
    assert (booking.status, booking.initiated_by) == (BookingStatus.PENDING, Initiator.HOSPITAL)
    assert (booking.starts_at, booking.ends_at, booking.hours) == (
        posting.starts_at,
        posting.ends_at,
        Decimal("4.00"),
    )
    assert booking.lending_hospital is None  # they offered their own time
    assert notices[-1][0] == [tech.pk]
    assert "Hôpital Sainte-Claire invites you" in notices[-1][1]["message"]

    booking = services.booking_accept(actor=tech, booking=booking)
    assert booking.status == BookingStatus.CONFIRMED
    assert booking.confirmed_at == NOW
    posting.refresh_from_db()
    assert posting.status == PostingStatus.FILLED
    assert notices[-1][0] == [world.manager.pk]
    assert notices[-1][1]["kind"] == "booking.confirmed"
    assert _actions() == ["booking.invited", "booking.confirmed"]


def test_a_technologist_applies_and_a_manager_accepts(
    world: World, tech: User, posting: SessionPosting, notices: list[Any]
) -> None:
    booking = services.booking_apply(actor=tech, posting=posting)
    assert (booking.status, booking.initiated_by) == (
        BookingStatus.PENDING,
        Initiator.TECHNOLOGIST,
    )
    assert notices[-1][0] == [world.manager.pk]
    booking = services.booking_accept(actor=world.manager, booking=booking)
    assert booking.status == BookingStatus.CONFIRMED
    assert notices[-1][0] == [tech.pk]
    assert _actions() == ["booking.applied", "booking.confirmed"]


def test_a_lent_technologist_is_booked_with_the_lending_hospital(
    world: World, clock: Clock
) -> None:
    licensed(world.technologist)
    available(world.technologist, actor=world.manager)  # Sainte-Claire lends them
    other_posting = post(world.other_manager, world.other_scanner, local(12, 1, 9))
    booking = services.booking_invite(
        actor=world.other_manager, posting=other_posting, technologist=world.technologist
    )
    assert booking.lending_hospital == world.hospital


def test_only_the_other_side_accepts(world: World, tech: User, posting: SessionPosting) -> None:
    invitation = services.booking_invite(actor=world.manager, posting=posting, technologist=tech)
    for person in (world.manager, world.other_manager, world.outsider):
        with pytest.raises(PermissionDenied):
            services.booking_accept(actor=person, booking=invitation)
    services.booking_cancel(actor=world.manager, booking=invitation, reason="Wrong person")

    application = services.booking_apply(actor=tech, posting=posting)
    for person in (tech, world.other_manager, world.local_staff):
        with pytest.raises(PermissionDenied):
            services.booking_accept(actor=person, booking=application)
    assert Booking.objects.get(pk=application.pk).status == BookingStatus.PENDING


def test_the_other_side_declines(world: World, tech: User, posting: SessionPosting) -> None:
    invitation = services.booking_invite(actor=world.manager, posting=posting, technologist=tech)
    with pytest.raises(PermissionDenied):
        services.booking_decline(actor=world.manager, booking=invitation)
    invitation = services.booking_decline(actor=tech, booking=invitation, reason="On leave")
    assert (invitation.status, invitation.closed_at) == (BookingStatus.DECLINED, NOW)
    with pytest.raises(Conflict, match="declined; it can be accepted only when pending"):
        services.booking_accept(actor=tech, booking=invitation)
    with pytest.raises(Conflict):
        services.booking_decline(actor=tech, booking=invitation)

    # Declined is over: the technologist may apply afresh, and the manager declines that.
    application = services.booking_apply(actor=tech, posting=posting)
    with pytest.raises(PermissionDenied):
        services.booking_decline(actor=tech, booking=application)
    application = services.booking_decline(actor=world.manager, booking=application)
    assert application.status == BookingStatus.DECLINED
    posting.refresh_from_db()
    assert posting.status == PostingStatus.OPEN


def test_only_the_postings_managers_invite(
    world: World, tech: User, posting: SessionPosting
) -> None:
    for person in (world.other_manager, world.local_staff, tech):
        with pytest.raises(PermissionDenied):
            services.booking_invite(actor=person, posting=posting, technologist=tech)
    assert not Booking.objects.exists()


def _unverified(world: World) -> None:
    TechnologistProfile.objects.filter(user=world.technologist).update(licence_verified_at=None)


def _expired(world: World) -> None:
    TechnologistProfile.objects.filter(user=world.technologist).update(
        licence_valid_until=date(2026, 11, 22)
    )


def _no_profile(world: World) -> None:
    TechnologistProfile.objects.filter(user=world.technologist).delete()


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (_unverified, "licence"),
        (_expired, "licence"),
        (_no_profile, "no technologist profile"),
    ],
)
@pytest.mark.parametrize("side", ["invite", "apply"])
def test_an_ineligible_technologist_is_not_booked(
    world: World, tech: User, posting: SessionPosting, spoil: Any, message: str, side: str
) -> None:
    spoil(world)
    if side == "invite":
        with pytest.raises(Conflict, match=message):
            services.booking_invite(actor=world.manager, posting=posting, technologist=tech)
    else:
        with pytest.raises(Conflict, match=message):
            services.booking_apply(actor=tech, posting=posting)
    assert not Booking.objects.exists()


def test_who_does_not_qualify_is_not_booked(world: World, tech: User, clock: Clock) -> None:
    cardiac = post(
        world.manager,
        world.scanner,
        local(11, 30, 8),
        required_exam_families=ExamFamily.objects.filter(code="cardiac"),
    )
    with pytest.raises(Conflict, match="do not meet this session's requirements"):
        services.booking_apply(actor=tech, posting=cardiac)
    with pytest.raises(Conflict, match="does not meet this session's requirements"):
        services.booking_invite(actor=world.manager, posting=cardiac, technologist=tech)


def test_who_is_not_available_for_the_whole_session_is_not_booked(
    world: World, tech: User, clock: Clock
) -> None:
    late = post(world.manager, world.scanner, local(11, 30, 20))  # 20:00–24:00, window to 22:00
    with pytest.raises(Conflict, match="not available for the whole session"):
        services.booking_invite(actor=world.manager, posting=late, technologist=tech)
    unavailable = UserFactory()
    licensed(unavailable)  # no availability at all
    with pytest.raises(Conflict, match="You are not available"):
        services.booking_apply(actor=unavailable, posting=late)


def test_only_an_open_future_posting_takes_bookings(
    world: World, tech: User, posting: SessionPosting, clock: Clock
) -> None:
    draft = marketplace_services.posting_create(
        actor=world.manager,
        hospital=world.hospital,
        scanner=world.scanner,
        starts_at=local(12, 2, 8),
        ends_at=local(12, 2, 10),
    )
    with pytest.raises(Conflict, match="draft; it takes no bookings"):
        services.booking_apply(actor=tech, posting=draft)
    clock.now = posting.starts_at
    with pytest.raises(Conflict, match="already started"):
        services.booking_apply(actor=tech, posting=posting)


def test_one_live_booking_per_technologist_and_posting(
    world: World, tech: User, posting: SessionPosting
) -> None:
    services.booking_apply(actor=tech, posting=posting)
    with pytest.raises(Conflict, match="already has a booking"):
        services.booking_invite(actor=world.manager, posting=posting, technologist=tech)
    with pytest.raises(Conflict, match="You already have a booking"):
        services.booking_apply(actor=tech, posting=posting)
    assert Booking.objects.count() == 1


# --- The posting follows ------------------------------------------------------------------------


def test_the_posting_fills_and_opens_again_on_cancellation(
    world: World, tech: User, posting: SessionPosting
) -> None:
    colleague = UserFactory()
    licensed(colleague)
    available(colleague)
    first = services.booking_apply(actor=tech, posting=posting)
    second = services.booking_apply(actor=colleague, posting=posting)
    services.booking_accept(actor=world.manager, booking=first)
    posting.refresh_from_db()
    assert posting.status == PostingStatus.FILLED
    # The other application stays pending, but cannot be confirmed while the posting is filled.
    with pytest.raises(Conflict, match="already been filled"):
        services.booking_accept(actor=world.manager, booking=second)
    assert Booking.objects.get(pk=second.pk).status == BookingStatus.PENDING
    # Nobody else applies to a filled posting either.
    third = UserFactory()
    licensed(third)
    available(third)
    with pytest.raises(Conflict, match="filled; it takes no bookings"):
        services.booking_apply(actor=third, posting=posting)

    services.booking_cancel(actor=tech, booking=first, reason="Family emergency")
    posting.refresh_from_db()
    assert posting.status == PostingStatus.OPEN
    second = services.booking_accept(actor=world.manager, booking=second)
    assert second.status == BookingStatus.CONFIRMED
    posting.refresh_from_db()
    assert posting.status == PostingStatus.FILLED


# --- Cancelling ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ahead", "late", "hours_before"),
    [
        (timedelta(hours=23, minutes=59), True, Decimal("23.98")),
        (timedelta(hours=24, minutes=1), False, Decimal("24.02")),
    ],
)
@pytest.mark.parametrize("side", ["hospital", "technologist"])
def test_a_cancellation_under_24_hours_is_late_whoever_cancels(
    world: World,
    tech: User,
    posting: SessionPosting,
    clock: Clock,
    notices: list[Any],
    ahead: timedelta,
    late: bool,
    hours_before: Decimal,
    side: str,
) -> None:
    booking = confirmed(world.manager, posting, tech)
    clock.now = posting.starts_at - ahead
    actor = world.manager if side == "hospital" else tech
    booking = services.booking_cancel(actor=actor, booking=booking, reason="  Scanner down  ")
    assert booking.status == BookingStatus.CANCELLED
    assert (booking.cancelled_by, booking.cancel_reason) == (actor, "Scanner down")
    assert (booking.late, booking.cancelled_hours_before) == (late, hours_before)
    assert booking.closed_at == clock.now
    other_side = [tech.pk] if side == "hospital" else [world.manager.pk]
    assert notices[-1][0] == other_side
    assert "Reason: Scanner down" in notices[-1][1]["message"]
    event = AuditEvent.objects.get(action="booking.cancelled")
    assert (event.actor, event.data["side"], event.data["late"]) == (actor, side, late)


def test_withdrawing_a_pending_booking_is_never_late(
    world: World, tech: User, posting: SessionPosting, clock: Clock
) -> None:
    booking = services.booking_apply(actor=tech, posting=posting)
    clock.now = posting.starts_at - timedelta(hours=1)
    booking = services.booking_cancel(actor=tech, booking=booking, reason="Found other work")
    assert (booking.status, booking.late) == (BookingStatus.CANCELLED, False)
    assert booking.cancelled_hours_before == Decimal("1.00")
    posting.refresh_from_db()
    assert posting.status == PostingStatus.OPEN


def test_refused_cancellations(
    world: World, tech: User, posting: SessionPosting, clock: Clock
) -> None:
    booking = confirmed(world.manager, posting, tech)
    with pytest.raises(ValidationFailed) as error:
        services.booking_cancel(actor=tech, booking=booking, reason="   ")
    assert "reason" in error.value.fields
    with pytest.raises(ValidationFailed, match="never the patient"):
        services.booking_cancel(actor=tech, booking=booking, reason="Patient born 12/03/1957")
    for person in (world.other_manager, world.local_staff, world.outsider):
        with pytest.raises(PermissionDenied):
            services.booking_cancel(actor=person, booking=booking, reason="Not mine")
    clock.now = posting.starts_at
    with pytest.raises(Conflict, match="already started"):
        services.booking_cancel(actor=tech, booking=booking, reason="Too late")
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CONFIRMED
    declined = services.booking_decline(
        actor=tech,
        booking=services.booking_invite(
            actor=world.manager,
            posting=post(world.manager, world.scanner, local(12, 7, 8)),
            technologist=tech,
        ),
    )
    with pytest.raises(Conflict, match="declined; it cannot be cancelled"):
        services.booking_cancel(actor=tech, booking=declined, reason="Changed my mind")


# --- Rest buffer and weekly cap -----------------------------------------------------------------


@pytest.mark.parametrize(("gap_minutes", "fits"), [(30, True), (29, False)])
@pytest.mark.parametrize("order", ["after", "before"])
def test_two_sessions_need_the_rest_buffer_between_them(
    world: World, tech: User, gap_minutes: int, fits: bool, order: str
) -> None:
    """The first session is 10:00–14:00; the second lasts two hours, after or before it."""
    first_posting = post(world.manager, world.scanner, local(11, 30, 10))
    gap = timedelta(minutes=gap_minutes)
    second_start = (
        first_posting.ends_at + gap
        if order == "after"
        else first_posting.starts_at - gap - timedelta(hours=2)
    )
    mr2 = ScannerFactory(site=world.site, name="MR 2")
    second_posting = post(world.manager, mr2, second_start, hours=2)
    first = services.booking_invite(actor=world.manager, posting=first_posting, technologist=tech)
    second = services.booking_invite(actor=world.manager, posting=second_posting, technologist=tech)
    services.booking_accept(actor=tech, booking=first)
    if fits:
        assert services.booking_accept(actor=tech, booking=second).status == "confirmed"
    else:
        with pytest.raises(Conflict, match="30 minutes of rest"):
            services.booking_accept(actor=tech, booking=second)
        assert Booking.objects.get(pk=second.pk).status == BookingStatus.PENDING
        # Once the first is cancelled, the second fits.
        services.booking_cancel(actor=tech, booking=first, reason="Swapped sessions")
        assert services.booking_accept(actor=tech, booking=second).status == "confirmed"


def test_an_overlapping_session_is_refused_at_the_invitation_too(
    world: World, tech: User, posting: SessionPosting
) -> None:
    confirmed(world.manager, posting, tech)
    clash = post(world.other_manager, world.other_scanner, posting.starts_at + timedelta(hours=1))
    with pytest.raises(Conflict, match="is already booked on Mon 30 Nov 08:00–12:00"):
        services.booking_invite(actor=world.other_manager, posting=clash, technologist=tech)


def test_the_weekly_cap(world: World, tech: User, clock: Clock) -> None:
    """Three 12-hour days (36 h) and two more hours reach the 38 h cap; one hour more passes it,
    in the same week only."""
    long_days = [post(world.manager, world.scanner, local(11, 30 + d, 8), hours=12) for d in (0,)]
    long_days += [post(world.manager, world.scanner, local(12, d, 8), hours=12) for d in (1, 2)]
    thursday = post(world.manager, world.scanner, local(12, 3, 8), hours=2)
    friday = post(world.manager, world.scanner, local(12, 4, 8), hours=1)
    next_monday = post(world.manager, world.scanner, local(12, 7, 8), hours=1)
    pending = {
        p.pk: services.booking_invite(actor=world.manager, posting=p, technologist=tech)
        for p in [*long_days, thursday, friday, next_monday]
    }
    for p in [*long_days, thursday]:
        services.booking_accept(actor=tech, booking=pending[p.pk])
    with pytest.raises(Conflict, match=r"You hold 38 h .* 1 h more would pass the 38 h weekly cap"):
        services.booking_accept(actor=tech, booking=pending[friday.pk])
    with pytest.raises(Conflict, match="weekly cap"):
        services.booking_invite(
            actor=world.manager,
            posting=post(world.manager, world.scanner, local(12, 5, 8), hours=1),
            technologist=tech,
        )
    assert services.booking_accept(actor=tech, booking=pending[next_monday.pk]).status == (
        "confirmed"
    )


# --- The day of the session ---------------------------------------------------------------------


def test_start_then_complete(
    world: World, tech: User, posting: SessionPosting, clock: Clock, notices: list[Any]
) -> None:
    booking = confirmed(world.manager, posting, tech)
    clock.now = posting.starts_at - timedelta(minutes=16)
    with pytest.raises(Conflict, match="15 minutes before at the earliest"):
        services.booking_start(actor=tech, booking=booking)
    clock.now = posting.starts_at - timedelta(minutes=15)
    with pytest.raises(PermissionDenied):
        services.booking_start(actor=world.other_manager, booking=booking)
    with pytest.raises(Conflict, match="it can be completed only when in progress"):
        services.booking_complete(actor=tech, booking=booking)
    booking = services.booking_start(actor=tech, booking=booking)
    assert (booking.status, booking.started_at) == (BookingStatus.IN_PROGRESS, clock.now)
    assert notices[-1][0] == [world.manager.pk]
    with pytest.raises(Conflict):
        services.booking_start(actor=tech, booking=booking)
    with pytest.raises(Conflict, match="cannot be cancelled"):
        services.booking_cancel(actor=world.manager, booking=booking, reason="Changed plan")
    clock.now = posting.ends_at
    booking = services.booking_complete(actor=world.manager, booking=booking)
    assert (booking.status, booking.completed_at) == (BookingStatus.COMPLETED, clock.now)
    with pytest.raises(Conflict):
        services.booking_complete(actor=tech, booking=booking)
    assert _actions()[-2:] == ["booking.started", "booking.completed"]


def test_a_session_that_is_over_is_not_started(
    world: World, tech: User, posting: SessionPosting, clock: Clock
) -> None:
    booking = confirmed(world.manager, posting, tech)
    clock.now = posting.ends_at
    with pytest.raises(Conflict, match="time is over"):
        services.booking_start(actor=tech, booking=booking)


def test_the_hospital_marks_a_no_show_15_minutes_after_the_start(
    world: World, tech: User, posting: SessionPosting, clock: Clock
) -> None:
    booking = confirmed(world.manager, posting, tech)
    clock.now = posting.starts_at + timedelta(minutes=14)
    with pytest.raises(Conflict, match="15 minutes after the start"):
        services.booking_mark_no_show(actor=world.manager, booking=booking)
    clock.now = posting.starts_at + timedelta(minutes=15)
    for person in (tech, world.other_manager):
        with pytest.raises(PermissionDenied):
            services.booking_mark_no_show(actor=person, booking=booking)
    booking = services.booking_mark_no_show(actor=world.manager, booking=booking)
    assert (booking.status, booking.closed_at) == (BookingStatus.NO_SHOW, clock.now)
    with pytest.raises(Conflict):
        services.booking_start(actor=tech, booking=booking)


def test_a_started_session_is_no_no_show(
    world: World, tech: User, posting: SessionPosting, clock: Clock
) -> None:
    booking = confirmed(world.manager, posting, tech)
    clock.now = posting.starts_at
    services.booking_start(actor=tech, booking=booking)
    clock.now = posting.starts_at + timedelta(minutes=20)
    with pytest.raises(Conflict, match="no-show only when confirmed"):
        services.booking_mark_no_show(actor=world.manager, booking=booking)


def test_pending_bookings_expire_once_the_start_has_passed(
    world: World, tech: User, posting: SessionPosting, clock: Clock
) -> None:
    due = services.booking_apply(actor=tech, posting=posting)
    later_posting = post(world.manager, world.scanner, local(12, 2, 8))
    later = services.booking_apply(actor=tech, posting=later_posting)
    kept = confirmed(world.manager, post(world.manager, world.scanner, local(11, 30, 14)), tech)
    moment = posting.starts_at + timedelta(minutes=1)
    assert services.booking_expire_due(now=moment) == 1
    assert services.booking_expire_due(now=moment) == 0
    statuses = dict(Booking.objects.values_list("pk", "status"))
    assert statuses == {due.pk: "expired", later.pk: "pending", kept.pk: "confirmed"}
    assert AuditEvent.objects.get(action="booking.expired").actor is None


# --- What the database itself refuses -----------------------------------------------------------


def test_the_database_keeps_one_confirmed_booking_per_posting(
    world: World, tech: User, posting: SessionPosting
) -> None:
    colleague = UserFactory()
    licensed(colleague)
    available(colleague)
    first = services.booking_apply(actor=tech, posting=posting)
    second = services.booking_apply(actor=colleague, posting=posting)
    with pytest.raises(IntegrityError), transaction.atomic():
        Booking.objects.filter(pk__in=[first.pk, second.pk]).update(status="confirmed")

    # A stale read that gets past the service's checks still ends in a 409, not a 500.
    services.booking_accept(actor=world.manager, booking=first)
    SessionPosting.objects.filter(pk=posting.pk).update(status=PostingStatus.OPEN)
    with pytest.raises(Conflict, match="just been filled"):
        services.booking_accept(actor=world.manager, booking=second)


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the exclusion constraint is PostgreSQL's"
)
def test_postgresql_refuses_overlapping_confirmed_bookings(
    world: World, tech: User, posting: SessionPosting, monkeypatch: pytest.MonkeyPatch
) -> None:
    mr2 = ScannerFactory(site=world.site, name="MR 2")
    near = post(world.manager, mr2, posting.ends_at + timedelta(minutes=29), hours=2)
    apart = post(world.other_manager, world.other_scanner, posting.ends_at + timedelta(hours=1))
    bookings = [
        services.booking_invite(actor=manager, posting=p, technologist=tech)
        for manager, p in [(world.manager, posting), (world.manager, near)]
    ]
    with pytest.raises(IntegrityError, match="booking_no_overlap_with_rest"), transaction.atomic():
        Booking.objects.filter(pk__in=[b.pk for b in bookings]).update(status="confirmed")
    services.booking_accept(actor=tech, booking=bookings[0])

    # Without the service's own check, the constraint refuses, and it is still a 409.
    monkeypatch.setattr(booking_services, "_check_fits", lambda *args, **kwargs: None)
    with pytest.raises(Conflict, match="overlapping session"):
        services.booking_accept(actor=tech, booking=bookings[1])
    far = services.booking_invite(actor=world.other_manager, posting=apart, technologist=tech)
    assert services.booking_accept(actor=tech, booking=far).status == "confirmed"


def test_a_posting_with_someone_on_it_no_longer_changes(
    world: World, tech: User, posting: SessionPosting
) -> None:
    from core.errors import Conflict
    from marketplace import services as posting_services

    services.booking_invite(actor=world.manager, posting=posting, technologist=tech)
    with pytest.raises(Conflict, match="can no longer change"):
        posting_services.posting_update(actor=world.manager, posting=posting, urgency="urgent")
    posting.refresh_from_db()
    assert posting.urgency != "urgent"
