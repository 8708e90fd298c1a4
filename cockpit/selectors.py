"""Reads of the cockpit that the pages, the relay and the tasks share: who may be in a session
and in which role, which session a scanner serves now, and how control looks from outside."""

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import User
from cockpit.models import CockpitSession, CockpitStatus, Role
from core.errors import NotFound
from marketplace.models import Membership, Scanner
from marketplace.models import Role as HospitalRole
from scheduling.models import Booking, BookingStatus

# A cockpit opens this long before its booking starts, and stays open until it is completed.
OPEN_BEFORE = timedelta(minutes=15)
# Statuses of a booking whose cockpit can be open.
COCKPIT_BOOKING_STATUSES = (BookingStatus.CONFIRMED, BookingStatus.IN_PROGRESS)
# Most cockpits one operator may hold control of at once (as syngo Virtual Cockpit allows three
# consoles).
MAX_CONTROLLED = 3


def booking_cockpit_open(booking: Booking, *, now: datetime | None = None) -> bool:
    """Open from 15 minutes before the start until the booking is completed; a confirmed booking
    whose time is over without a start is not (it can no longer be started)."""
    now = now or timezone.now()
    if booking.status == BookingStatus.IN_PROGRESS:
        return True
    return booking.status == BookingStatus.CONFIRMED and (
        booking.starts_at - OPEN_BEFORE <= now < booking.ends_at
    )


def cockpit_is_open(cockpit: CockpitSession, *, now: datetime | None = None) -> bool:
    return cockpit.status != CockpitStatus.ENDED and booking_cockpit_open(cockpit.booking, now=now)


def _with_graph(queryset: QuerySet[CockpitSession]) -> QuerySet[CockpitSession]:
    return queryset.select_related(
        "booking__posting__hospital",
        "booking__posting__site",
        "booking__posting__scanner",
        "booking__technologist",
        "booking__lending_hospital",
        "controller",
        "control_requested_by",
        "join_approved_by",
    )


def roles_for(user: User, cockpit: CockpitSession) -> list[str]:
    """Every role `user` may take in `cockpit`, the usual one first: the booked technologist
    operates; local staff of the scanning hospital are local (its managers may be too); a senior
    who answered a request for help assists; managers of either hospital (and platform admins)
    observe."""
    if not user.is_authenticated:
        return []
    booking = cockpit.booking
    roles: list[str] = []
    if booking.technologist_id == user.pk:
        roles.append(Role.OPERATOR)
    hospital_ids = [booking.posting.hospital_id]
    if booking.lending_hospital_id:
        hospital_ids.append(booking.lending_hospital_id)
    memberships = dict(
        Membership.objects.filter(user=user, hospital_id__in=hospital_ids).values_list(
            "hospital_id", "role"
        )
    )
    scanning_role = memberships.get(booking.posting.hospital_id)
    if scanning_role == HospitalRole.LOCAL_STAFF:
        roles.append(Role.LOCAL)
    if cockpit.pk is not None and cockpit.assistants.filter(pk=user.pk).exists():
        roles.append(Role.ASSISTANT)
    if user.is_staff or HospitalRole.MANAGER in memberships.values():
        roles.append(Role.OBSERVER)
    if scanning_role == HospitalRole.MANAGER:
        # A manager at the scanning site may stand beside the patient too.
        roles.append(Role.LOCAL)
    return roles


def access_cockpit(user: User, cockpit_id: int | str) -> CockpitSession:
    """The session, if `user` has any role in it; 404 otherwise (as for another hospital's
    objects)."""
    try:
        pk = int(cockpit_id)
    except (TypeError, ValueError):
        raise NotFound("No such cockpit session.") from None
    cockpit = _with_graph(CockpitSession.objects.filter(pk=pk)).first()
    if cockpit is None or not roles_for(user, cockpit):
        raise NotFound("No such cockpit session.")
    return cockpit


def cockpit_get(*, cockpit_id: int) -> CockpitSession:
    """One session with what its views need, for the relay once it has authorised the socket."""
    return _with_graph(CockpitSession.objects.filter(pk=cockpit_id)).get()


def cockpit_bookings_due(*, user: User, now: datetime | None = None) -> QuerySet[Booking]:
    """Confirmed or running bookings that `user` has a part in and whose cockpit is open now or
    opens within the next 12 hours, soonest first."""
    now = now or timezone.now()
    hospitals = Membership.objects.filter(user=user).values("hospital")
    queryset = Booking.objects.filter(
        Q(status=BookingStatus.IN_PROGRESS)
        | Q(
            status=BookingStatus.CONFIRMED,
            ends_at__gt=now,
            starts_at__lte=now + timedelta(hours=12) + OPEN_BEFORE,
        )
    ).select_related("posting__hospital", "posting__site", "posting__scanner", "technologist")
    if not user.is_staff:
        queryset = queryset.filter(
            Q(technologist=user)
            | Q(posting__hospital__in=hospitals)
            | Q(lending_hospital__in=hospitals)
            | Q(cockpit__assistants=user)
        ).distinct()
    return queryset.order_by("starts_at", "pk")


def scanner_open_booking(*, scanner: Scanner, now: datetime | None = None) -> Booking | None:
    """The booking whose cockpit this scanner serves now: the one in progress, else the confirmed
    one whose window is open (the earliest)."""
    now = now or timezone.now()
    bookings = Booking.objects.filter(posting__scanner=scanner).select_related(
        "posting__hospital", "technologist"
    )
    running = bookings.filter(status=BookingStatus.IN_PROGRESS).order_by("starts_at").first()
    if running is not None:
        return running
    return (
        bookings.filter(
            status=BookingStatus.CONFIRMED,
            starts_at__lte=now + OPEN_BEFORE,
            ends_at__gt=now,
        )
        .order_by("starts_at")
        .first()
    )


def scanner_next_booking(*, scanner: Scanner, now: datetime | None = None) -> Booking | None:
    """The next confirmed booking on this scanner whose cockpit is not open yet."""
    now = now or timezone.now()
    return (
        Booking.objects.filter(
            posting__scanner=scanner,
            status=BookingStatus.CONFIRMED,
            starts_at__gt=now + OPEN_BEFORE,
        )
        .order_by("starts_at")
        .first()
    )


def controlled_count(*, user: User, exclude_id: int | None = None) -> int:
    """How many open cockpits `user` holds control of as operator."""
    queryset = CockpitSession.objects.filter(
        controller=user,
        controller_role=Role.OPERATOR,
        booking__status__in=COCKPIT_BOOKING_STATUSES,
    ).exclude(status=CockpitStatus.ENDED)
    if exclude_id is not None:
        queryset = queryset.exclude(pk=exclude_id)
    return queryset.count()


def person(user: User | None, role: str = "") -> dict[str, Any] | None:
    """How a participant appears in frames: id, name and role. Never an e-mail address to the
    other hospital: the display name only."""
    if user is None:
        return None
    return {"id": user.pk, "name": user.display_name, "role": role}


def control_view(cockpit: CockpitSession) -> dict[str, Any]:
    """The control token as every participant sees it."""
    return {
        "controller": person(cockpit.controller, cockpit.controller_role),
        "requested_by": person(cockpit.control_requested_by, cockpit.control_requested_role),
        "local_override": cockpit.local_override,
        "join_approved": cockpit.join_approved,
        "join_approved_by": person(cockpit.join_approved_by, Role.LOCAL),
    }


def session_view(cockpit: CockpitSession) -> dict[str, Any]:
    """The session's own facts: status, protocol, when the exam started and ended, the work
    (never the patient)."""
    booking = cockpit.booking
    posting = booking.posting
    return {
        "id": cockpit.pk,
        "status": cockpit.status,
        "protocol": cockpit.protocol,
        "booking": booking.pk,
        "hospital": posting.hospital.name,
        "site": posting.site.name,
        "scanner": posting.scanner.name,
        "operator": person(booking.technologist, Role.OPERATOR),
        "starts_at": booking.starts_at.isoformat(),
        "ends_at": booking.ends_at.isoformat(),
        "started_at": cockpit.started_at.isoformat() if cockpit.started_at else None,
        "ended_at": cockpit.ended_at.isoformat() if cockpit.ended_at else None,
    }
