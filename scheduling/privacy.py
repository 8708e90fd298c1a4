"""What scheduling holds about a person, for their download and their erasure (registered with
`accounts.privacy` in `SchedulingConfig.ready`). A technologist with a confirmed booking ahead is
not erased: the hospital counts on them, so they cancel first (or the hospital does)."""

from datetime import UTC
from typing import Any

from django.db.models import Q
from django.utils import dateformat, timezone
from django.utils.translation import ngettext

from accounts.models import User
from scheduling.models import (
    OCCUPYING_STATUSES,
    AvailabilityWindow,
    Booking,
    BookingStatus,
    CalendarFeed,
    LedgerEntry,
    OnCallWindow,
)
from scheduling.services.bookings import booking_cancel

ERASURE_CANCEL_REASON = "The technologist's account was closed."


def bookings(user: User) -> Any:
    return (
        Booking.objects.filter(technologist=user)
        .order_by("starts_at", "pk")
        .values(
            "id",
            "posting_id",
            "posting__hospital__name",
            "posting__site__name",
            "posting__scanner__name",
            "starts_at",
            "ends_at",
            "hours",
            "status",
            "initiated_by",
            "cancelled_side",
            "cancel_reason",
            "late",
            "no_show_side",
            "created_at",
            "confirmed_at",
            "started_at",
            "completed_at",
        )
    )


def ledger_entries(user: User) -> Any:
    return (
        LedgerEntry.objects.filter(Q(booking__technologist=user) | Q(creditor_technologist=user))
        .order_by("occurred_at", "pk")
        .values(
            "booking_id",
            "kind",
            "hours",
            "occurred_at",
            "creditor_hospital__name",
            "creditor_technologist_id",
            "debtor_hospital__name",
        )
    )


def _windows(model: Any, user: User) -> Any:
    return (
        model.objects.filter(technologist=user)
        .order_by("starts_at", "pk")
        .values("starts_at", "ends_at", "time_zone", "rrule", "exdates", "last_ends_at")
    )


def availability(user: User) -> Any:
    return _windows(AvailabilityWindow, user)


def on_call(user: User) -> Any:
    return _windows(OnCallWindow, user)


def calendar_feeds(user: User) -> Any:
    # Not the private address itself: it is a key, and a download travels.
    return (
        CalendarFeed.objects.filter(user=user)
        .order_by("pk")
        .values("kind", "hospital__name", "created_at", "rotated_at")
    )


def refusals(user: User) -> list[str]:
    ahead = Booking.objects.filter(
        technologist=user, status__in=OCCUPYING_STATUSES, ends_at__gt=timezone.now()
    ).order_by("starts_at")
    count = ahead.count()
    if not count:
        return []
    first = ahead.select_related("posting__hospital").first()
    assert first is not None
    return [
        ngettext(
            "You have %(count)s confirmed booking ahead (the first at %(hospital)s, %(when)s "
            "UTC): cancel it first, so that the hospital can find someone else.",
            "You have %(count)s confirmed bookings ahead (the first at %(hospital)s, %(when)s "
            "UTC): cancel them first, so that the hospital can find someone else.",
            count,
        )
        % {
            "count": count,
            "hospital": first.posting.hospital.name,
            "when": dateformat.format(first.starts_at.astimezone(UTC), "d F Y H:i"),
        }
    ]


def erase(user: User) -> None:
    """Withdraw what is ahead: pending bookings (the hospital is told), availability, on-call
    windows; and the private calendar addresses. Past bookings and the ledger stay."""
    pending = Booking.objects.filter(
        technologist=user, status=BookingStatus.PENDING, starts_at__gt=timezone.now()
    )
    for booking in pending:
        booking_cancel(actor=user, booking=booking, reason=ERASURE_CANCEL_REASON)
    AvailabilityWindow.objects.filter(technologist=user).delete()
    OnCallWindow.objects.filter(technologist=user).delete()
    CalendarFeed.objects.filter(user=user).delete()


def register() -> None:
    from accounts.privacy import (
        register_erasure_refusal,
        register_personal_data_eraser,
        register_personal_data_section,
    )

    register_personal_data_section("bookings_as_technologist", bookings)
    register_personal_data_section("ledger_entries", ledger_entries)
    register_personal_data_section("availability", availability)
    register_personal_data_section("on_call_windows", on_call)
    register_personal_data_section("calendar_feeds", calendar_feeds)
    register_erasure_refusal(refusals)
    register_personal_data_eraser("scheduling", erase)
