"""Server-rendered pages for bookings: a technologist's invitations and bookings, a hospital's
bookings, and the forms that invite, apply, accept, decline, cancel, start, complete and record a
no-show (of the technologist, by the hospital; of the site, by the technologist). Every move is a
service; a refused move comes back as a message on the page it was made from. One booking's own
page shows its cockpit too, so it is the cockpit's (`cockpit.views.booking_detail`)."""

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.requests import AuthenticatedHttpRequest
from core.errors import DomainError, NotFound
from core.ids import is_id, whole_number
from core.pages import next_or
from marketplace import access
from marketplace.models import TechnologistProfile
from marketplace.selectors import hospital_time_zone, technologist_profile_for
from scheduling import selectors, services
from scheduling.exams import bookings_with_exam
from scheduling.ledger import Facts, record_of_facts
from scheduling.models import Booking, BookingStatus

PAST_PAGE_SIZE = 20
# Bookings that are over whatever the clock says.
CLOSED_STATUSES = (
    BookingStatus.COMPLETED,
    BookingStatus.DECLINED,
    BookingStatus.CANCELLED,
    BookingStatus.NO_SHOW,
    BookingStatus.EXPIRED,
)

# The moves a form on a page can make, with the message shown once done.
MOVES: dict[str, tuple[Callable[..., Booking], Promise]] = {
    "accept": (services.booking_accept, gettext_lazy("Booking confirmed.")),
    "decline": (services.booking_decline, gettext_lazy("Declined.")),
    "cancel": (services.booking_cancel, gettext_lazy("Booking cancelled.")),
    "start": (services.booking_start, gettext_lazy("Session started.")),
    "complete": (services.booking_complete, gettext_lazy("Session completed.")),
    "no-show": (services.booking_mark_no_show, gettext_lazy("No-show recorded.")),
    "site-no-show": (
        services.booking_mark_site_no_show,
        gettext_lazy("Recorded: the site was not there to scan. The hospital's managers are told."),
    ),
}


@login_required
@require_POST
def booking_move(request: AuthenticatedHttpRequest, booking_id: int, move: str) -> HttpResponse:
    if move not in MOVES:
        raise NotFound(_("No such action."))
    booking = selectors.access_booking(request.user, booking_id)
    service, done = MOVES[move]
    kwargs: dict[str, Any] = {}
    if move in ("decline", "cancel"):
        kwargs["reason"] = request.POST.get("reason", "")
    try:
        booking = service(actor=request.user, booking=booking, **kwargs)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, str(done))
        if move == "cancel" and booking.late:
            messages.warning(
                request,
                _(
                    "This was a late cancellation (under 24 hours before the start): it shows "
                    "on the record of facts, and your hospital owes the booked hours in the "
                    "ledger."
                )
                if booking.cancelled_side == "hospital"
                else _(
                    "This was a late cancellation (under 24 hours before the start): it shows "
                    "on the record of facts."
                ),
            )
    return redirect(next_or(request, reverse("booking_detail", args=[booking.pk])))


# --- Opening a booking from a posting ---------------------------------------------------------


@login_required
@require_POST
def posting_invite(request: AuthenticatedHttpRequest, posting_id: int) -> HttpResponse:
    """A manager invites a technologist (one click from the ranked candidates)."""
    posting = access.access_posting(request.user, posting_id, manage=True)
    back = next_or(request, reverse("posting_detail", args=[posting.pk]))
    technologist_id = whole_number(request.POST.get("technologist", ""))
    if technologist_id is None or not is_id(technologist_id):
        messages.error(request, _("Choose a technologist to invite."))
        return redirect(back)
    technologist = selectors.bookable_technologist(technologist_id=technologist_id)
    try:
        services.booking_invite(actor=request.user, posting=posting, technologist=technologist)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _("%(name)s is invited; they will be told at once.")
            % {"name": technologist.display_name},
        )
    return redirect(back)


@login_required
@require_POST
def posting_apply(request: AuthenticatedHttpRequest, posting_id: int) -> HttpResponse:
    posting = access.access_posting(request.user, posting_id)
    back = next_or(request, reverse("posting_detail", args=[posting.pk]))
    try:
        services.booking_apply(actor=request.user, posting=posting)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _("You applied; a manager of %(hospital)s will answer.")
            % {"hospital": posting.hospital.name},
        )
    return redirect(back)


# --- A technologist's bookings ----------------------------------------------------------------


@login_required
def my_bookings(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Invitations waiting for an answer, then what is coming (confirmed, and applications
    waiting for the hospital), then the past, with the record of facts."""
    user = request.user
    profile = technologist_profile_for(user=user)
    now = timezone.now()
    mine = selectors.booking_list(user=user, technologist_id=user.pk, now=now)
    upcoming = services.bookings_with_actions(
        mine.filter(ends_at__gt=now)
        .exclude(status__in=CLOSED_STATUSES)
        .order_by("starts_at", "pk"),
        user=user,
    )
    invitations = [
        b for b in upcoming if b.status == BookingStatus.PENDING and b.initiated_by == "hospital"
    ]
    upcoming = [b for b in upcoming if b not in invitations]
    past = Paginator(_past(mine, now=now), PAST_PAGE_SIZE).get_page(request.GET.get("page"))
    past.object_list = bookings_with_exam(past.object_list)
    return render(
        request,
        "scheduling/my_bookings.html",
        {
            "profile": profile,
            "time_zone": profile.home_time_zone if profile else "UTC",
            "invitations": invitations,
            "upcoming": upcoming,
            "past": past,
            "record": technologist_record(user),
        },
    )


def _past(bookings: Any, *, now: Any) -> Any:
    """Closed bookings and those whose time is over, latest first."""
    return bookings.filter(Q(status__in=CLOSED_STATUSES) | Q(ends_at__lte=now)).order_by(
        "-starts_at", "-pk"
    )


# --- A hospital's bookings --------------------------------------------------------------------


@login_required
def hospital_bookings(request: AuthenticatedHttpRequest, hospital_id: int) -> HttpResponse:
    """Applications waiting for a manager, upcoming bookings, and the past: for the hospital's
    managers and local staff."""
    hospital = access.access_hospital(request.user, hospital_id)
    if not (
        request.user.is_staff
        or access.role_in(request.user, hospital) in selectors.BOOKING_VIEWER_ROLES
    ):
        raise NotFound(_("No such hospital."))
    now = timezone.now()
    bookings = selectors.booking_list(user=request.user, hospital_id=hospital.pk, now=now)
    live = services.bookings_with_actions(
        bookings.filter(ends_at__gt=now)
        .exclude(status__in=CLOSED_STATUSES)
        .order_by("starts_at", "pk"),
        user=request.user,
    )
    applications = [
        b for b in live if b.status == BookingStatus.PENDING and b.initiated_by == "technologist"
    ]
    past = Paginator(_past(bookings, now=now), PAST_PAGE_SIZE).get_page(request.GET.get("page"))
    past.object_list = bookings_with_exam(past.object_list)
    return render(
        request,
        "scheduling/hospital_bookings.html",
        {
            "hospital": hospital,
            "time_zone": hospital_time_zone(hospital),
            "is_manager": access.can_manage(request.user, hospital),
            "applications": applications,
            "upcoming": [b for b in live if b not in applications],
            "past": past,
            "record": record_of_facts(hospital=hospital),
        },
    )


def technologist_record(technologist: User) -> Facts | None:
    """A technologist's record of facts (None for someone without a technologist profile)."""
    if not TechnologistProfile.objects.filter(user=technologist).exists():
        return None
    return record_of_facts(technologist=technologist)
