"""Reads of availability and on-call windows, expanded over the range asked for, and of
bookings, scoped to who may see them."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from core.errors import NotFound
from core.ids import as_id
from marketplace.access import technologists_managed_by
from marketplace.models import Membership, Role, TechnologistProfile
from scheduling.models import LIVE_STATUSES, AvailabilityWindow, Booking, OnCallWindow
from scheduling.recurrence import Occurrence


@dataclass(frozen=True)
class Slot:
    window: AvailabilityWindow
    occurrence: Occurrence


def availability_windows(
    *, technologists: Iterable[User] | QuerySet[User], range_start: datetime, range_end: datetime
) -> QuerySet[AvailabilityWindow]:
    """Windows that may have an occurrence in the range; those that are over are skipped in the
    database without being expanded."""
    return (
        AvailabilityWindow.objects.select_related("technologist", "lending_hospital")
        .filter(technologist__in=technologists, starts_at__lt=range_end)
        .filter(Q(last_ends_at__isnull=True) | Q(last_ends_at__gt=range_start))
    )


def availability_slots(
    *, technologists: Iterable[User] | QuerySet[User], range_start: datetime, range_end: datetime
) -> list[Slot]:
    slots = [
        Slot(window, occurrence)
        for window in availability_windows(
            technologists=technologists, range_start=range_start, range_end=range_end
        )
        for occurrence in window.occurrences(range_start, range_end)
    ]
    return sorted(slots, key=lambda slot: (slot.occurrence.starts_at, slot.window.pk))


def access_availability_window(user: User, window_id: int | str) -> AvailabilityWindow:
    """One's own windows, and those of the technologists one manages."""
    pk = as_id(window_id, message=_("No such availability window."))
    windows = AvailabilityWindow.objects.select_related("technologist", "lending_hospital")
    if not user.is_staff:
        windows = windows.filter(
            Q(technologist=user) | Q(technologist__in=technologists_managed_by(user))
        )
    window = windows.filter(pk=pk).first()
    if window is None:
        raise NotFound(_("No such availability window."))
    return window


def availability_people(*, user: User, technologist_id: int | None = None) -> QuerySet[User]:
    """Whose availability a person may see: their own and that of the technologists they
    manage (platform admins: everyone's), optionally narrowed to one of them."""
    people = User.objects.all()
    if not user.is_staff:
        people = people.filter(Q(pk=user.pk) | Q(pk__in=technologists_managed_by(user)))
    if technologist_id is not None:
        people = people.filter(pk=technologist_id)
    return people


def availability_window_list(
    *, user: User, technologist_id: int | None = None
) -> QuerySet[AvailabilityWindow]:
    """The windows `availability_people` may be seen for, whether or not they are over."""
    return AvailabilityWindow.objects.select_related("technologist", "lending_hospital").filter(
        technologist__in=availability_people(user=user, technologist_id=technologist_id)
    )


# --- Bookings ---------------------------------------------------------------------------------

# Hospital members who see their hospital's bookings: managers book, local staff receive the
# technologist on the day. A hospital's own technologists see only their own bookings.
BOOKING_VIEWER_ROLES = (Role.MANAGER, Role.LOCAL_STAFF)


def _bookings_visible_to(user: User) -> QuerySet[Booking]:
    bookings = Booking.objects.select_related(
        "technologist",
        "lending_hospital",
        "cancelled_by",
        "posting__hospital",
        "posting__site",
        "posting__scanner",
    )
    if user.is_staff:
        return bookings
    hospitals = Membership.objects.filter(user=user, role__in=BOOKING_VIEWER_ROLES).values(
        "hospital"
    )
    return bookings.filter(Q(technologist=user) | Q(posting__hospital__in=hospitals))


def booking_list(
    *,
    user: User,
    status: str | None = None,
    hospital_id: int | None = None,
    posting_id: int | None = None,
    technologist_id: int | None = None,
    when: str | None = None,
    now: datetime | None = None,
) -> QuerySet[Booking]:
    """Bookings the user may see: their own, and those of the hospitals where they are a manager
    or local staff (platform admins: all). `when` is "upcoming" (not over yet, soonest first)
    or "past" (over, latest first)."""
    bookings = _bookings_visible_to(user)
    if status:
        bookings = bookings.filter(status=status)
    if hospital_id is not None:
        bookings = bookings.filter(posting__hospital_id=hospital_id)
    if posting_id is not None:
        bookings = bookings.filter(posting_id=posting_id)
    if technologist_id is not None:
        bookings = bookings.filter(technologist_id=technologist_id)
    now = now or timezone.now()
    if when == "upcoming":
        bookings = bookings.filter(ends_at__gt=now).order_by("starts_at", "pk")
    elif when == "past":
        bookings = bookings.filter(ends_at__lte=now).order_by("-starts_at", "-pk")
    return bookings


def access_booking(user: User, booking_id: int | str) -> Booking:
    """One booking, if the user may see it (see `booking_list`); otherwise it does not exist."""
    pk = as_id(booking_id, message=_("No such booking."))
    booking = _bookings_visible_to(user).filter(pk=pk).first()
    if booking is None:
        raise NotFound(_("No such booking."))
    return booking


def posting_bookings(*, posting_id: int) -> QuerySet[Booking]:
    """A posting's bookings for its own page: live ones first (pending, confirmed...), then the
    closed ones, newest first within each."""
    return (
        Booking.objects.select_related("technologist", "lending_hospital", "cancelled_by")
        .filter(posting_id=posting_id)
        .order_by("-created_at", "-pk")
    )


def live_booking_posting_ids(*, technologist_id: int) -> set[int]:
    """The postings a technologist already has a live booking on (pending or confirmed)."""
    return set(
        Booking.objects.filter(
            technologist_id=technologist_id, status__in=LIVE_STATUSES
        ).values_list("posting_id", flat=True)
    )


def bookable_technologist(*, technologist_id: int) -> User:
    """Whom a manager may invite: anyone active with a technologist profile (the market is open
    to every hospital); the booking services then check what the posting asks."""
    technologist = User.objects.filter(
        pk=technologist_id, technologist_profile__isnull=False, is_active=True
    ).first()
    if technologist is None:
        raise NotFound(_("No such technologist."))
    return technologist


# --- On call -----------------------------------------------------------------------------------


def own_on_call_windows(user: User) -> QuerySet[OnCallWindow]:
    """A technologist's own on-call windows, the earliest first."""
    return (
        OnCallWindow.objects.filter(technologist=user)
        .select_related("lending_hospital")
        .prefetch_related("exam_families")
        .order_by("starts_at", "pk")
    )


def access_own_on_call_window(user: User, window_id: int | str) -> OnCallWindow:
    """One of the user's own windows; anyone else's does not exist here (404)."""
    pk = as_id(window_id, message=_("No such on-call window."))
    window = own_on_call_windows(user).filter(pk=pk).first()
    if window is None:
        raise NotFound(_("No such on-call window."))
    return window


def on_call_occurrence_now(
    *, technologist: User, now: datetime
) -> tuple[OnCallWindow, Occurrence] | None:
    """The technologist's on-call window under way now and its current occurrence, if any."""
    under_way = OnCallWindow.objects.filter(technologist=technologist, starts_at__lte=now).filter(
        Q(last_ends_at__isnull=True) | Q(last_ends_at__gt=now)
    )
    for window in under_way.order_by("starts_at", "pk"):
        if window.covers(now):
            occurrence = window.occurrences(now, now + timedelta(microseconds=1))[0]
            return window, occurrence
    return None


def on_call_status(
    *, user: User, profile: TechnologistProfile, now: datetime | None = None
) -> dict[str, Any]:
    """The switch, and whether requests for help reach the technologist now (until when)."""
    from scheduling.services.on_call import on_call_refusal

    now = now or timezone.now()
    current = on_call_occurrence_now(technologist=user, now=now)
    return {
        "paused": profile.on_call_paused,
        "on_call_now": current is not None and not profile.on_call_paused,
        "window": current[0].pk if current else None,
        "until": current[1].ends_at if current else None,
        "may_go_on_call": on_call_refusal(profile) is None,
    }
