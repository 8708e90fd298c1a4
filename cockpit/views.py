"""The cockpit pages: the cockpits a person is due in, a booking's page with its cockpit section,
opening one from its booking, pre-approving the operator's join, and the console page itself (a
server-rendered shell that `static/js/cockpit.js` brings to life over the relay's websocket).
Every write is a service; a refused one comes back as a message on the page it was asked from."""

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.core import UnknownLocaleError
from babel.dates import get_timezone, get_timezone_location
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import dateformat, timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.mfa_required import hold_url
from accounts.models import User
from accounts.requests import AuthenticatedHttpRequest
from cockpit import rules, second_factor, selectors, services
from cockpit.models import (
    CONTROL_ROLES,
    STOP_REASON_MAX,
    CockpitSession,
    CockpitStatus,
    ExamRecord,
    Role,
)
from cockpit.simulator import PROTOCOLS
from core.errors import DomainError, NotFound, PermissionDenied
from core.pages import next_or
from marketplace.models import ExamFamily
from marketplace.selectors import technologist_profile_for
from scheduling import selectors as scheduling_selectors
from scheduling import services as scheduling_services
from scheduling.models import Booking, BookingStatus
from scheduling.views.bookings import technologist_record


def booking_time_zone(user: User, booking: Booking) -> str:
    """The wall clock a person reads a booking's times in: a technologist's home time zone,
    everyone else the scanning site's."""
    profile = technologist_profile_for(user=user)
    return profile.home_time_zone if profile else booking.posting.site.time_zone


def _local_time(moment: datetime, zone: str) -> str:
    return dateformat.format(timezone.localtime(moment, ZoneInfo(zone)), "H:i")


def _cockpit_of(booking: Booking) -> CockpitSession:
    """The booking's session, or an unsaved one to ask `roles_for` about before it exists."""
    existing = CockpitSession.objects.filter(booking=booking).first()
    return existing if existing is not None else CockpitSession(booking=booking)


def _booking_with_roles(user: User, booking_id: int) -> tuple[Booking, CockpitSession, list[str]]:
    """The booking, its cockpit (maybe unsaved) and the user's roles in it; 404 for a booking
    the user has no part in (as for another hospital's objects)."""
    booking = (
        Booking.objects.select_related(
            "posting__hospital", "posting__site", "posting__scanner", "technologist"
        )
        .filter(pk=booking_id)
        .first()
    )
    if booking is None:
        raise NotFound(_("No such booking."))
    cockpit = _cockpit_of(booking)
    roles = selectors.roles_for(user, cockpit)
    if not roles:
        raise NotFound(_("No such booking."))
    return booking, cockpit, roles


def _opens_at(booking: Booking) -> datetime:
    return booking.starts_at - selectors.OPEN_BEFORE


# --- The list -----------------------------------------------------------------------------------


@login_required
def cockpit_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The cockpits open now and those opening in the next 12 hours, with the role the viewer
    would join in."""
    user = request.user
    now = timezone.now()
    rows: list[dict[str, Any]] = []
    for booking in selectors.cockpit_bookings_due(user=user, now=now):
        cockpit = _cockpit_of(booking)
        roles = selectors.roles_for(user, cockpit)
        if not roles:
            continue
        zone = booking_time_zone(user, booking)
        rows.append(
            {
                "booking": booking,
                "cockpit": cockpit if cockpit.pk else None,
                "role": Role(roles[0]),
                "open": selectors.booking_cockpit_open(booking, now=now)
                and cockpit.status != CockpitStatus.ENDED,
                "opens_at": _local_time(_opens_at(booking), zone),
                "time_zone": zone,
            }
        )
    return render(request, "cockpit/list.html", {"rows": rows})


# --- Opening and consent ------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def booking_cockpit(request: AuthenticatedHttpRequest, booking_id: int) -> HttpResponse:
    """Open the booking's cockpit (made on first use) and go to its console."""
    booking, _cockpit, _roles = _booking_with_roles(request.user, booking_id)
    hold = second_factor.cockpit_hold(request.user, request.session)
    if hold is not None:
        return redirect(hold_url(hold, reverse("booking_cockpit", args=[booking.pk])))
    if booking.status == BookingStatus.CONFIRMED and timezone.now() < _opens_at(booking):
        zone = booking_time_zone(request.user, booking)
        messages.error(
            request,
            _(
                "This cockpit is not open yet: it opens at %(time)s (%(zone)s), 15 minutes before "
                "the booking starts."
            )
            % {"time": _local_time(_opens_at(booking), zone), "zone": zone},
        )
        return redirect(next_or(request, reverse("cockpit_list")))
    try:
        cockpit = services.cockpit_open(booking=booking)
    except DomainError as error:
        messages.error(request, error.message)
        return redirect(next_or(request, reverse("cockpit_list")))
    return redirect("cockpit_console", cockpit_id=cockpit.pk)


@login_required
@require_POST
def cockpit_preapprove(request: AuthenticatedHttpRequest, booking_id: int) -> HttpResponse:
    """Local staff (or a manager) of the scanning hospital approve the operator's join ahead of
    the day."""
    booking, _cockpit, roles = _booking_with_roles(request.user, booking_id)
    back = next_or(request, reverse("booking_detail", args=[booking.pk]))
    if Role.LOCAL not in roles:
        messages.error(
            request, _("Only local staff or a manager of the scanning site may approve the join.")
        )
        return redirect(back)
    try:
        cockpit = services.cockpit_open(booking=booking, ahead=True)
        services.cockpit_approve_join(actor=request.user, cockpit=cockpit)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _("%(name)s's join is approved: they may take control as soon as the cockpit opens.")
            % {"name": booking.technologist.display_name},
        )
    return redirect(back)


# --- The console --------------------------------------------------------------------------------


@login_required
def cockpit_console(request: AuthenticatedHttpRequest, cockpit_id: int) -> HttpResponse:
    """The console shell for one role; the live console is `static/js/cockpit.js`."""
    cockpit = selectors.access_cockpit(request.user, cockpit_id)
    hold = second_factor.cockpit_hold(request.user, request.session)
    if hold is not None:
        return redirect(hold_url(hold, request.get_full_path()))
    roles = selectors.roles_for(request.user, cockpit)
    role = request.GET.get("role") or roles[0]
    if role not in roles:
        choices = ", ".join(Role(r).label.lower() for r in roles)
        raise PermissionDenied(
            _("You cannot join this cockpit in that role; you may join as %(roles)s.")
            % {"roles": choices}
        )
    session = selectors.session_view(cockpit)
    session_families = {family["code"] for family in session["exam_families"]}
    # Every time the console shows is the scanning site's (where the scanner and the patient are).
    zone = cockpit.booking.posting.site.time_zone
    # The buttons the page starts with: the moves the rule table opens to this person now (the
    # live page then follows the `moves` of every frame).
    moves = rules.moves_for(selectors.room_of(cockpit), rules.Who(role, request.user.pk))
    control = selectors.control_view(cockpit)
    return render(
        request,
        "cockpit/console.html",
        {
            "cockpit": cockpit,
            "booking": cockpit.booking,
            "posting": cockpit.booking.posting,
            "session": session,
            # The protocol by its name, not its code ("neuro"); the name is the scanner's own.
            "protocol_name": PROTOCOLS[session["protocol"]].name
            if session.get("protocol") in PROTOCOLS
            else session.get("protocol", ""),
            "control": control,
            "controller_role_label": Role(control["controller"]["role"]).label
            if control["controller"] and control["controller"]["role"] in Role.values
            else "",
            "role": Role(role),
            "roles": [Role(r) for r in roles],
            "can_control": role in CONTROL_ROLES,
            "moves": moves,
            "is_open": selectors.cockpit_is_open(cockpit),
            "opens_at": _local_time(_opens_at(cockpit.booking), zone),
            "time_zone": zone,
            # Every time the cockpit shows is the scanning site's, labelled (`zone_label`).
            "site_time_zone": cockpit.booking.posting.site.time_zone,
            "zone_label": zone_label(cockpit.booking.posting.site.time_zone),
            **_outcome_context(request.user, role, cockpit),
            "socket_path": f"/ws/cockpit/{cockpit.pk}/",
            # Whom local staff may name beside the patient in the pre-scan checklist.
            "local_staff": list(selectors.local_staff_of(cockpit)) if role == Role.LOCAL else [],
            # What "Ask for help" offers: every exam family, the session's own first.
            "exam_families": [
                {"code": family.code, "name": family.label}
                for family in sorted(
                    ExamFamily.objects.all(),
                    key=lambda family: family.code not in session_families,
                )
            ],
        },
    )


# --- The exam's outcome -------------------------------------------------------------------------


def _outcome_context(user: User, role: str, cockpit: CockpitSession) -> dict[str, Any]:
    """The STOPs (each with whether this viewer may give its reason) and the exam's summary."""
    if cockpit.pk is None:
        return {"stops": [], "exam_record": None}
    stops = list(cockpit.stops.select_related("by", "reason_by").order_by("at", "pk"))
    for stop in stops:
        stop.may_give_reason = services.stop_reason_allowed(  # type: ignore[attr-defined]
            actor=user, role=role, stop=stop
        )
    return {
        "stops": stops,
        "exam_record": ExamRecord.objects.filter(cockpit=cockpit).first(),
        "stop_reason_max": STOP_REASON_MAX,
    }


def zone_label(zone: str) -> str:
    """How a time zone is named beside a time, in the reader's language: its city as CLDR
    names it ("Europe/Brussels": Brussels, Brussel, Bruxelles)."""
    try:
        return get_timezone_location(
            get_timezone(zone),
            locale=translation.to_locale(translation.get_language() or settings.LANGUAGE_CODE),
            return_city=True,
        )
    except (LookupError, UnknownLocaleError, ValueError):  # a zone or language CLDR lacks
        return zone.rsplit("/", 1)[-1].replace("_", " ")


@login_required
@require_POST
def cockpit_stop_reason(
    request: AuthenticatedHttpRequest, cockpit_id: int, stop_id: int
) -> HttpResponse:
    """Say why a STOP was pressed, during the exam or after it ended (the console page's form;
    while the console is live it sends the `stop_reason` frame instead)."""
    cockpit = selectors.access_cockpit(request.user, cockpit_id)
    roles = selectors.roles_for(request.user, cockpit)
    role = request.POST.get("role") or roles[0]
    shown_as = role if role in roles else roles[0]
    back = next_or(request, reverse("cockpit_console", args=[cockpit.pk]) + f"?role={shown_as}")
    try:
        services.stop_reason_set(
            actor=request.user,
            role=role,
            cockpit=cockpit,
            stop_id=stop_id,
            reason=request.POST.get("reason", ""),
        )
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("The STOP's reason is recorded."))
    return redirect(back)


# --- The booking page, with its "Cockpit" section -----------------------------------------------


@login_required
def booking_detail(request: AuthenticatedHttpRequest, booking_id: int) -> HttpResponse:
    """One booking with the moves open to the viewer (scheduling's) and its cockpit section.
    Here, not in scheduling: scheduling sits below the cockpit and never reads it."""
    booking = scheduling_selectors.access_booking(request.user, booking_id)
    (booking,) = scheduling_services.bookings_with_actions([booking], user=request.user)
    profile = technologist_profile_for(user=request.user)
    return render(
        request,
        "scheduling/booking_detail.html",
        {
            "booking": booking,
            "posting": booking.posting,
            "viewer_time_zone": profile.home_time_zone if profile else None,
            "is_technologist": booking.technologist_id == request.user.pk,
            "record": technologist_record(booking.technologist),
            **booking_cockpit_context(request.user, booking),
        },
    )


def booking_cockpit_context(user: User, booking: Booking) -> dict[str, Any]:
    """What the booking page shows about its cockpit: open it when its window is open; local
    staff and managers of the scanning hospital may pre-approve the operator's join ahead."""
    if booking.status not in (*selectors.COCKPIT_BOOKING_STATUSES, BookingStatus.COMPLETED):
        return {"cockpit_section": None}
    cockpit = _cockpit_of(booking)
    roles = selectors.roles_for(user, cockpit)
    if not roles:
        return {"cockpit_section": None}
    zone = booking_time_zone(user, booking)
    may_approve = (
        rules.refusal("approve", selectors.room_of(cockpit), rules.Who(Role.LOCAL, user.pk)) is None
    )
    return {
        "cockpit_section": {
            "cockpit": cockpit if cockpit.pk else None,
            **_outcome_context(user, roles[0], cockpit),
            "role": roles[0],
            "site_time_zone": booking.posting.site.time_zone,
            "zone_label": zone_label(booking.posting.site.time_zone),
            "open": selectors.booking_cockpit_open(booking)
            and cockpit.status != CockpitStatus.ENDED,
            "opens_at": _local_time(_opens_at(booking), zone),
            "time_zone": zone,
            "can_preapprove": Role.LOCAL in roles
            and booking.status == BookingStatus.CONFIRMED
            and may_approve,
        }
    }
