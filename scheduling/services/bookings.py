"""Bookings: a technologist on a posting, from pending (invited by the hospital or applied for
by the technologist) to confirmed, in progress and completed; or out by decline, cancellation,
no-show or expiry. The posting follows: filled when a booking is confirmed, open again when a
confirmed booking is cancelled.

One service per move: lock, check the status it starts from, save with `update_fields`, audit,
tell the other side on commit. The invariants the database keeps (one confirmed booking per
posting; on PostgreSQL no technologist in two overlapping confirmed bookings, rest buffer
included) are checked here first so that the refusal can name the clash; should two moves race
past the checks, the database refuses the second and it is a 409 all the same, never a 500.

A confirm locks the booking, then its posting, then the technologist's profile. On PostgreSQL the
profile lock serialises the confirms of one person, so the overlap and weekly-cap checks read a
settled state (the exclusion constraint stays as the backstop); on SQLite the IMMEDIATE
transaction has already serialised every write."""

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext, pgettext_lazy

from accounts.models import User
from core.audit import audit_record
from core.errors import Conflict, PermissionDenied, ValidationFailed
from core.notify import notification_send
from core.text import free_text_clean
from marketplace.access import can_manage, hospitals_managed_by, require_manager
from marketplace.models import (
    Membership,
    PostingStatus,
    Role,
    SessionPosting,
    TechnologistProfile,
)
from marketplace.selectors import open_postings_for
from scheduling import workload
from scheduling.exams import (
    ExamSummary,
    booking_status_label,
    bookings_with_exam,
    exam_close,
    exam_lock,
)
from scheduling.models import (
    LIVE_STATUSES,
    OCCUPYING_STATUSES,
    Booking,
    BookingStatus,
    Initiator,
    Side,
)
from scheduling.no_shows import (
    NO_SHOW_AFTER,
    bookings_with_operator_joins,
    site_no_show_refusal,
    technologist_no_show_refusal,
)
from scheduling.selectors import Slot, availability_slots
from scheduling.services.ledger import (
    ledger_record_completed,
    ledger_record_hospital_no_show,
    ledger_record_late_cancellation,
)
from scheduling.signals import booking_closed
from scheduling.wording import hours_text, session_when

__all__ = [
    "EARLIEST_START",
    "LATE_CANCELLATION",
    "NO_SHOW_AFTER",
    "booking_accept",
    "booking_actions",
    "booking_apply",
    "booking_cancel",
    "booking_complete",
    "booking_decline",
    "booking_expire_due",
    "booking_invite",
    "booking_mark_no_show",
    "booking_mark_site_no_show",
    "booking_start",
    "bookings_close_for_cancelled_posting",
    "bookings_with_actions",
]

# A cancellation under this long before the start is late (for hospitals as for technologists).
LATE_CANCELLATION = timedelta(hours=24)
# A confirmed session can be started this long before its start, not earlier.
EARLIEST_START = timedelta(minutes=15)


# --- Opening a booking: invite or apply -------------------------------------------------------


@transaction.atomic
def booking_invite(*, actor: User, posting: SessionPosting, technologist: User) -> Booking:
    """A manager of the posting's hospital invites a technologist; they accept or decline."""
    posting = _locked_posting(posting.pk)
    require_manager(actor, posting.hospital)
    booking = _open(
        actor=actor, posting=posting, technologist=technologist, initiated_by=Initiator.HOSPITAL
    )
    _notify(
        booking,
        to=Initiator.TECHNOLOGIST,
        kind="booking.invited",
        message=format_lazy(
            gettext_lazy("{hospital} invites you to a session {when}."),
            hospital=posting.hospital.name,
            when=_when(booking),
        ),
    )
    return booking


@transaction.atomic
def booking_apply(*, actor: User, posting: SessionPosting) -> Booking:
    """A technologist applies for an open posting; a manager of its hospital accepts or not."""
    posting = _locked_posting(posting.pk)
    booking = _open(
        actor=actor, posting=posting, technologist=actor, initiated_by=Initiator.TECHNOLOGIST
    )
    _notify(
        booking,
        to=Initiator.HOSPITAL,
        kind="booking.applied",
        message=format_lazy(
            gettext_lazy("{name} applied for the session {when}."),
            name=actor.display_name,
            when=_when(booking),
        ),
    )
    return booking


def _open(
    *, actor: User, posting: SessionPosting, technologist: User, initiated_by: str
) -> Booking:
    now = timezone.now()
    themselves = actor.pk == technologist.pk
    name = technologist.display_name
    profile = TechnologistProfile.objects.filter(user=technologist).first()
    if profile is None:
        raise Conflict(
            _("You have no technologist profile yet: fill it in first.")
            if themselves
            else _("%(name)s has no technologist profile.") % {"name": name}
        )
    _check_posting_bookable(posting, now=now)
    _check_eligible(profile, actor=actor, now=now)
    if not open_postings_for(profile=profile, now=now).filter(pk=posting.pk).exists():
        raise Conflict(
            _(
                "You do not meet this session's requirements "
                "(exam families, vendor, language or seniority)."
            )
            if themselves
            else _(
                "%(name)s does not meet this session's requirements "
                "(exam families, vendor, language or seniority)."
            )
            % {"name": name}
        )
    slot = _covering_slot(technologist, posting)
    if slot is None:
        raise Conflict(
            (
                _(
                    "You are not available for the whole session %(when)s: publish "
                    "availability that covers it first."
                )
                if themselves
                else _(
                    "%(name)s is not available for the whole session %(when)s: publish "
                    "availability that covers it first."
                )
            )
            % {"name": name, "when": _when(posting)}
        )
    if Booking.objects.filter(
        posting=posting, technologist=technologist, status__in=LIVE_STATUSES
    ).exists():
        raise Conflict(
            _("You already have a booking on it.")
            if themselves
            else _("%(name)s already has a booking on it.") % {"name": name}
        )
    booking = Booking(
        posting=posting,
        technologist=technologist,
        initiated_by=initiated_by,
        starts_at=posting.starts_at,
        ends_at=posting.ends_at,
        hours=posting.duration_hours,
        lending_hospital=slot.window.lending_hospital,
    )
    _check_fits(booking, profile=profile, actor=actor)
    try:
        with transaction.atomic():
            booking.save()
    except IntegrityError:
        raise Conflict(
            _("%(name)s already has a booking on this session.") % {"name": name}
        ) from None
    audit_record(
        actor=actor,
        action=f"booking.{'invited' if initiated_by == Initiator.HOSPITAL else 'applied'}",
        target=booking,
        hospital=posting.hospital,
        data={
            "posting": posting.pk,
            "technologist": technologist.pk,
            "lending_hospital": booking.lending_hospital_id,
        },
    )
    return booking


# --- The other side answers -------------------------------------------------------------------


@transaction.atomic
def booking_accept(*, actor: User, booking: Booking) -> Booking:
    """The other side confirms: the technologist an invitation, a manager an application.
    The posting is filled; its other pending bookings stay pending but cannot be confirmed."""
    booking = _locked(booking)
    _require_other_side(actor, booking, verb="accept")
    _require_status(booking, BookingStatus.PENDING, verb="accepted")
    posting = booking.posting
    now = timezone.now()
    if posting.status == PostingStatus.FILLED:
        raise Conflict(_("This session has already been filled by another technologist."))
    _check_posting_bookable(posting, now=now)
    profile = (
        TechnologistProfile.objects.select_for_update(of=("self",))
        .filter(user_id=booking.technologist_id)
        .first()
    )
    if profile is None:  # the profile was removed since the booking was opened
        raise Conflict(
            _("%(name)s has no technologist profile.") % {"name": booking.technologist.display_name}
        )
    _check_eligible(profile, actor=actor, now=now)
    _check_fits(booking, profile=profile, actor=actor)
    booking.status = BookingStatus.CONFIRMED
    booking.confirmed_at = now
    posting.status = PostingStatus.FILLED
    try:
        with transaction.atomic():
            booking.save(update_fields=["status", "confirmed_at", "updated_at"])
            posting.save(update_fields=["status"])
    except IntegrityError as error:
        # Only a race past the checks above gets here; the database keeps the invariant.
        if "booking_no_overlap_with_rest" in str(error):
            raise Conflict(
                _("%(name)s was just confirmed for an overlapping session.")
                % {"name": booking.technologist.display_name}
            ) from None
        raise Conflict(_("This session has just been filled by another technologist.")) from None
    audit_record(
        actor=actor,
        action="booking.confirmed",
        target=booking,
        hospital=posting.hospital,
        data={"posting": posting.pk, "initiated_by": booking.initiated_by},
    )
    _notify(
        booking,
        to=booking.initiated_by,
        kind="booking.confirmed",
        message=format_lazy(
            gettext_lazy("Confirmed: {name} at {hospital} {when}."),
            name=booking.technologist.display_name,
            hospital=posting.hospital.name,
            when=_when(booking),
        ),
    )
    return booking


@transaction.atomic
def booking_decline(*, actor: User, booking: Booking, reason: str = "") -> Booking:
    """The other side says no to an invitation or an application."""
    booking = _locked(booking)
    _require_other_side(actor, booking, verb="decline")
    _require_status(booking, BookingStatus.PENDING, verb="declined")
    reason = _clean_reason(reason)
    booking.status = BookingStatus.DECLINED
    booking.closed_at = timezone.now()
    booking.save(update_fields=["status", "closed_at", "updated_at"])
    audit_record(
        actor=actor,
        action="booking.declined",
        target=booking,
        hospital=booking.posting.hospital,
        data={"reason": reason},
    )
    _notify(
        booking,
        to=booking.initiated_by,
        kind="booking.declined",
        message=format_lazy(
            gettext_lazy("Declined: the session at {hospital} {when}."),
            hospital=booking.posting.hospital.name,
            when=_when(booking),
        ),
    )
    return booking


# --- Either side: cancel ----------------------------------------------------------------------


@transaction.atomic
def booking_cancel(*, actor: User, booking: Booking, reason: str) -> Booking:
    """Either side withdraws a pending booking or cancels a confirmed one, saying why. A
    confirmed booking cancelled under 24 h before the start is late, whoever cancels; its
    posting is open again."""
    booking = _locked(booking)
    side = _side(actor, booking)
    if booking.status not in (BookingStatus.PENDING, BookingStatus.CONFIRMED):
        raise Conflict(
            _("This booking is %(status)s; it cannot be cancelled.")
            % {"status": str(booking.get_status_display()).lower()}
        )
    reason = _clean_reason(reason)
    if not reason:
        raise ValidationFailed(
            _("Say why you cancel."), fields={"reason": [_("Give a reason for the other side.")]}
        )
    now = timezone.now()
    if booking.starts_at <= now:
        raise Conflict(_("This session has already started; it can no longer be cancelled."))
    was_confirmed = booking.status == BookingStatus.CONFIRMED
    _mark_cancelled(
        booking,
        actor=actor,
        side=side,
        reason=reason,
        now=now,
        late=was_confirmed and booking.starts_at - now < LATE_CANCELLATION,
    )
    ledger_record_late_cancellation(booking=booking)
    if was_confirmed:
        _tell_closed(booking, actor=actor, reason=f"The booking was cancelled: {reason}")
    posting = booking.posting
    if was_confirmed and posting.status == PostingStatus.FILLED:
        posting.status = PostingStatus.OPEN
        posting.save(update_fields=["status"])
    audit_record(
        actor=actor,
        action="booking.cancelled",
        target=booking,
        hospital=posting.hospital,
        data={
            "side": side,
            "was": "confirmed" if was_confirmed else "pending",
            "hours_before": str(booking.cancelled_hours_before),
            "late": booking.late,
            "reason": reason,
        },
    )
    _notify(
        booking,
        to=_other(side),
        kind="booking.cancelled",
        message=format_lazy(
            gettext_lazy(
                "Cancelled: the session at {hospital} {when}. Reason: {reason} The session is "
                "open again: its page suggests the next candidates."
            )
            if was_confirmed and side == Initiator.TECHNOLOGIST
            else gettext_lazy("Cancelled: the session at {hospital} {when}. Reason: {reason}"),
            hospital=posting.hospital.name,
            when=_when(booking),
            reason=reason,
        ),
    )
    return booking


# --- The day of the session -------------------------------------------------------------------


@transaction.atomic
def booking_start(*, actor: User, booking: Booking) -> Booking:
    booking = _locked(booking)
    side = _side(actor, booking)
    _require_status(booking, BookingStatus.CONFIRMED, verb="started")
    now = timezone.now()
    if now < booking.starts_at - EARLIEST_START:
        raise Conflict(
            _("This session starts %(when)s; it can be started 15 minutes before at the earliest.")
            % {"when": _when(booking)}
        )
    if now >= booking.ends_at:
        raise Conflict(_("This session's time is over; it can no longer be started."))
    booking.status = BookingStatus.IN_PROGRESS
    booking.started_at = now
    booking.save(update_fields=["status", "started_at", "updated_at"])
    audit_record(
        actor=actor, action="booking.started", target=booking, hospital=booking.posting.hospital
    )
    _notify(
        booking,
        to=_other(side),
        kind="booking.started",
        message=format_lazy(
            gettext_lazy("Started: the session at {hospital} {when}."),
            hospital=booking.posting.hospital.name,
            when=_when(booking),
        ),
    )
    return booking


@transaction.atomic
def booking_complete(*, actor: User, booking: Booking) -> Booking:
    exam_lock(booking.pk)
    booking = _locked(booking)
    side = _side(actor, booking)
    _require_status(booking, BookingStatus.IN_PROGRESS, verb="completed")
    now = timezone.now()
    booking.status = BookingStatus.COMPLETED
    booking.completed_at = now
    booking.closed_at = now
    booking.save(update_fields=["status", "completed_at", "closed_at", "updated_at"])
    ledger_record_completed(booking=booking)
    # For the cockpit's log and its sockets, read by whoever is there: the site's English.
    reason = "The booking was completed from its page."
    # Its exam ends first (a cockpit that ran writes its summary), so what follows names the
    # outcome and the hours run. A cockpit closing its own booking has written it already.
    exam = exam_close(booking, actor_id=actor.pk, reason=reason)
    _tell_closed(booking, actor=actor, reason=reason)
    audit_record(
        actor=actor,
        action="booking.completed",
        target=booking,
        hospital=booking.posting.hospital,
        data={"hours": str(booking.hours)},
    )
    _notify(
        booking,
        to=_other(side),
        kind="booking.completed",
        # "Completed — partial (3 of 5 sequences)" and the hours it ran when an exam ran.
        message=format_lazy(
            gettext_lazy("{status}: the session at {hospital} {when}."),
            status=booking_status_label(booking),
            hospital=booking.posting.hospital.name,
            when=_when_ran(booking, exam),
        ),
    )
    return booking


@transaction.atomic
def booking_mark_no_show(*, actor: User, booking: Booking) -> Booking:
    """The hospital records that the confirmed technologist did not come, 15 minutes after the
    start at the earliest, and only if they never joined the booking's cockpit
    (`scheduling.no_shows`)."""
    # The cockpit's row first, as the operator's join locks it: a join and this no-show at
    # the same moment wait for each other, and the no-show reads the join.
    exam_lock(booking.pk)
    booking = _locked(booking)
    require_manager(actor, booking.posting.hospital)
    now = timezone.now()
    refusal = technologist_no_show_refusal(booking, now=now)
    if refusal:
        raise Conflict(refusal)
    booking.status = BookingStatus.NO_SHOW
    booking.no_show_side = Side.TECHNOLOGIST
    booking.closed_at = now
    booking.save(update_fields=["status", "no_show_side", "closed_at", "updated_at"])
    _tell_closed(
        booking, actor=actor, reason="The hospital recorded that the technologist did not come."
    )
    audit_record(
        actor=actor, action="booking.no_show", target=booking, hospital=booking.posting.hospital
    )
    _notify(
        booking,
        to=Initiator.TECHNOLOGIST,
        kind="booking.no_show",
        message=format_lazy(
            gettext_lazy("{hospital} recorded that you did not come to the session {when}."),
            hospital=booking.posting.hospital.name,
            when=_when(booking),
        ),
    )
    return booking


@transaction.atomic
def booking_mark_site_no_show(*, actor: User, booking: Booking) -> Booking:
    """The booked technologist records that the site was not there to scan (no local staff, the
    scanner not ready): only if they joined the booking's cockpit, 15 minutes after the start at
    the earliest and shortly after its end at the latest, while no exam has started in the
    cockpit (then the session ran); see `scheduling.no_shows`. The hospital's no-show costs it
    the booked hours in the reciprocity ledger, as its late cancellation does; its managers are
    told."""
    exam_lock(booking.pk)
    booking = _locked(booking)
    if actor.pk != booking.technologist_id:
        raise PermissionDenied(
            _("Only %(name)s, the booked technologist, may record that the site was not there.")
            % {"name": booking.technologist.display_name}
        )
    now = timezone.now()
    refusal = site_no_show_refusal(booking, now=now)
    if refusal:
        raise Conflict(refusal)
    booking.status = BookingStatus.NO_SHOW
    booking.no_show_side = Side.HOSPITAL
    booking.closed_at = now
    booking.save(update_fields=["status", "no_show_side", "closed_at", "updated_at"])
    owed = ledger_record_hospital_no_show(booking=booking)
    _tell_closed(
        booking,
        actor=actor,
        reason="The technologist recorded that the site was not there to scan.",
    )
    audit_record(
        actor=actor,
        action="booking.no_show",
        target=booking,
        hospital=booking.posting.hospital,
        data={"side": Side.HOSPITAL},
    )
    _notify(
        booking,
        to=Initiator.HOSPITAL,
        kind="booking.no_show",
        message=format_lazy(
            gettext_lazy(
                "{name} recorded that the site was not there to scan (no local staff or the "
                "scanner not ready) for the session {when}. {hours} h are owed in the ledger."
            )
            if owed is not None
            else gettext_lazy(
                "{name} recorded that the site was not there to scan (no local staff or the "
                "scanner not ready) for the session {when}."
            ),
            name=booking.technologist.display_name,
            when=_when(booking),
            hours=hours_text(owed.hours) if owed is not None else "",
        ),
    )
    return booking


def booking_expire_due(*, now: datetime | None = None) -> int:
    """Pending bookings whose start has passed: expired, and both sides told in the app. Safe to
    run again (for beat)."""
    now = now or timezone.now()
    expired = 0
    due = Booking.objects.filter(status=BookingStatus.PENDING, starts_at__lte=now)
    for booking_id in due.values_list("pk", flat=True):
        with transaction.atomic():
            booking = (
                Booking.objects.select_for_update(of=("self",))
                .select_related("technologist", "posting__hospital", "posting__site")
                .filter(pk=booking_id, status=BookingStatus.PENDING, starts_at__lte=now)
                .first()
            )
            if booking is None:
                continue
            booking.status = BookingStatus.EXPIRED
            booking.closed_at = now
            booking.save(update_fields=["status", "closed_at", "updated_at"])
            audit_record(
                actor=None,
                action="booking.expired",
                target=booking,
                hospital=booking.posting.hospital,
            )
            names = {
                "hospital": booking.posting.hospital.name,
                "name": booking.technologist.display_name,
                "when": _when(booking),
            }
            if booking.initiated_by == Initiator.HOSPITAL:
                to_technologist = gettext_lazy(
                    "Expired: the invitation from {hospital} to the session {when} got no "
                    "answer before it started."
                )
                to_hospital = gettext_lazy(
                    "Expired: your invitation to {name} for the session {when} got no answer "
                    "before it started."
                )
            else:
                to_technologist = gettext_lazy(
                    "Expired: your application for the session at {hospital} {when} got no "
                    "answer before it started."
                )
                to_hospital = gettext_lazy(
                    "Expired: {name}'s application for the session {when} got no answer "
                    "before it started."
                )
            for side, what in (
                (Initiator.TECHNOLOGIST, to_technologist),
                (Initiator.HOSPITAL, to_hospital),
            ):
                _notify(
                    booking,
                    to=side,
                    kind="booking.expired",
                    message=format_lazy(what, **names),
                )
            expired += 1
    return expired


# --- Checks -----------------------------------------------------------------------------------


def _locked_posting(posting_id: int) -> SessionPosting:
    return (
        SessionPosting.objects.select_for_update(of=("self",))
        .select_related("hospital", "site")
        .get(pk=posting_id)
    )


def _locked(booking: Booking) -> Booking:
    """The booking, then its posting, both locked: the order every booking move takes."""
    locked = (
        Booking.objects.select_for_update(of=("self",))
        .select_related("technologist")
        .get(pk=booking.pk)
    )
    locked.posting = _locked_posting(locked.posting_id)
    return locked


def _side(actor: User, booking: Booking) -> str:
    if actor.pk == booking.technologist_id:
        return Initiator.TECHNOLOGIST
    if can_manage(actor, booking.posting.hospital):
        return Initiator.HOSPITAL
    raise PermissionDenied(
        _("Only the technologist or a manager of %(hospital)s may do this.")
        % {"hospital": booking.posting.hospital.name}
    )


def _other(side: str) -> str:
    """The side that hears about what `side` did."""
    return Initiator.HOSPITAL if side == Initiator.TECHNOLOGIST else Initiator.TECHNOLOGIST


# Who may answer, by the answer: whole sentences, each translated as one.
_ONLY_TECHNOLOGIST = {
    "accept": gettext_lazy("Only %(name)s may accept this invitation."),
    "decline": gettext_lazy("Only %(name)s may decline this invitation."),
}
_ONLY_MANAGER = {
    "accept": gettext_lazy("Only a manager of %(hospital)s may accept this application."),
    "decline": gettext_lazy("Only a manager of %(hospital)s may decline this application."),
}
# A move from the wrong status, by the move (the statuses in lower case, as in a sentence).
_WRONG_STATUS = {
    "accepted": gettext_lazy(
        "This booking is %(status)s; it can be accepted only when %(needed)s."
    ),
    "declined": gettext_lazy(
        "This booking is %(status)s; it can be declined only when %(needed)s."
    ),
    "started": gettext_lazy("This booking is %(status)s; it can be started only when %(needed)s."),
    "completed": gettext_lazy(
        "This booking is %(status)s; it can be completed only when %(needed)s."
    ),
}


def _require_other_side(actor: User, booking: Booking, *, verb: str) -> None:
    if booking.initiated_by == Initiator.HOSPITAL:
        if actor.pk != booking.technologist_id:
            raise PermissionDenied(
                str(_ONLY_TECHNOLOGIST[verb]) % {"name": booking.technologist.display_name}
            )
    elif actor.pk == booking.technologist_id or not can_manage(actor, booking.posting.hospital):
        raise PermissionDenied(
            str(_ONLY_MANAGER[verb]) % {"hospital": booking.posting.hospital.name}
        )


def _require_status(booking: Booking, status: str, *, verb: str) -> None:
    if booking.status != status:
        raise Conflict(
            str(_WRONG_STATUS[verb])
            % {
                "status": str(booking.get_status_display()).lower(),
                "needed": str(BookingStatus(status).label).lower(),
            }
        )


def _check_posting_bookable(posting: SessionPosting, *, now: datetime) -> None:
    if posting.status != PostingStatus.OPEN:
        raise Conflict(
            _("This session is %(status)s; it takes no bookings.")
            % {"status": str(posting.get_status_display()).lower()}
        )
    if posting.starts_at <= now:
        raise Conflict(_("This session has already started; it takes no bookings."))


def _check_eligible(profile: TechnologistProfile, *, actor: User, now: datetime) -> None:
    reasons = profile.ineligibility_reasons(today=timezone.localdate(now))
    if not reasons:
        return
    if actor.pk == profile.user_id:
        raise Conflict(" ".join(reasons))
    raise Conflict(
        _("%(name)s cannot be booked: their licence is not on file, not verified or expired.")
        % {"name": profile.user.display_name}
    )


def _covering_slot(technologist: User, posting: SessionPosting) -> Slot | None:
    """An occurrence of the technologist's availability that covers the whole session."""
    slots = availability_slots(
        technologists=[technologist], range_start=posting.starts_at, range_end=posting.ends_at
    )
    for slot in slots:
        if (
            slot.occurrence.starts_at <= posting.starts_at
            and slot.occurrence.ends_at >= posting.ends_at
        ):
            return slot
    return None


def _check_fits(booking: Booking, *, profile: TechnologistProfile, actor: User) -> None:
    """No confirmed booking of the technologist within the rest buffer of this one, and the
    weekly cap kept (scheduling.workload). Confirmed bookings only: pending ones promise
    nothing yet."""
    technologist = profile.user
    clash = (
        Booking.objects.filter(
            workload.clashing(booking.starts_at, booking.ends_at),
            technologist_id=technologist.pk,
            status__in=OCCUPYING_STATUSES,
        )
        .exclude(pk=booking.pk)
        .select_related("posting__hospital", "posting__site")
        .first()
    )
    if clash is not None:
        themselves = actor.pk == technologist.pk
        raise Conflict(
            (
                _(
                    "You are already booked %(when)s at %(hospital)s; two sessions need "
                    "%(minutes)s minutes of rest between them."
                )
                if themselves
                else _(
                    "%(name)s is already booked %(when)s at %(hospital)s; two sessions need "
                    "%(minutes)s minutes of rest between them."
                )
            )
            % {
                "name": technologist.display_name,
                "when": _when(clash),
                "hospital": clash.posting.hospital.name,
                "minutes": workload.rest_minutes(),
            }
        )
    zone = ZoneInfo(profile.home_time_zone)
    held = workload.hours_held(
        technologist_id=technologist.pk, moment=booking.starts_at, zone=zone, excluding=booking.pk
    )
    if not workload.within_cap(held, booking.hours):
        monday = workload.week_start(booking.starts_at, zone)
        raise Conflict(
            (
                _(
                    "You hold %(held)s h of sessions in the week of %(monday)s; %(more)s h more "
                    "would pass the %(cap)s h weekly cap."
                )
                if actor.pk == technologist.pk
                else _(
                    "%(name)s holds %(held)s h of sessions in the week of %(monday)s; %(more)s h "
                    "more would pass the %(cap)s h weekly cap."
                )
            )
            % {
                "name": technologist.display_name,
                "held": hours_text(held),
                "monday": date_format(monday, "d M Y"),
                "more": hours_text(booking.hours),
                "cap": hours_text(workload.WEEKLY_CAP_HOURS),
            }
        )


def _mark_cancelled(
    booking: Booking, *, actor: User, side: str, reason: str, now: datetime, late: bool
) -> None:
    """Record who cancelled, why, how long before the start and whether that was late."""
    booking.status = BookingStatus.CANCELLED
    booking.cancelled_by = actor
    booking.cancelled_side = side
    booking.cancel_reason = reason
    booking.cancelled_hours_before = _hours(booking.starts_at - now)
    booking.late = late
    booking.closed_at = now
    booking.save(
        update_fields=[
            "status",
            "cancelled_by",
            "cancelled_side",
            "cancel_reason",
            "cancelled_hours_before",
            "late",
            "closed_at",
            "updated_at",
        ]
    )


def _clean_reason(reason: str) -> str:
    max_length = Booking._meta.get_field("cancel_reason").max_length
    assert max_length is not None
    return free_text_clean(
        reason, field="reason", max_length=max_length, what=pgettext("free text", "reason")
    )


# --- Telling the apps above -------------------------------------------------------------------


def _tell_closed(booking: Booking, *, actor: User | None, reason: str) -> None:
    """Once this commits, tell whoever listens (the cockpit: its open sockets) that the booking
    closed, and why."""
    booking_id, status = booking.pk, booking.status
    actor_id = actor.pk if actor is not None else None

    def send() -> None:
        booking_closed.send_robust(
            sender=Booking, booking_id=booking_id, status=status, actor_id=actor_id, reason=reason
        )

    transaction.on_commit(send, robust=True)


# --- Wording and notices ----------------------------------------------------------------------


def _when(item: Booking | SessionPosting) -> Promise:
    """'on Mon 30 Nov 08:00–12:00 (Europe/Brussels)', on the site's wall clock."""
    posting = item if isinstance(item, SessionPosting) else item.posting
    return session_when(item.starts_at, item.ends_at, posting.site.time_zone)


def _when_ran(booking: Booking, exam: ExamSummary | None) -> Promise:
    """When a completed session ran: its exam's start to end once an exam ran ("ran on Thu 03
    Dec 11:31–11:35 (Europe/Brussels), 0.07 h of the 3 h booked"), else its booked hours."""
    hours = exam.hours(booking.hours) if exam is not None else None
    if exam is None or exam.started_at is None or exam.ended_at is None or hours is None:
        return _when(booking)
    return format_lazy(
        pgettext_lazy("a session that ran", "ran {when}, {hours} h of the {booked} h booked"),
        when=session_when(exam.started_at, exam.ended_at, booking.posting.site.time_zone),
        hours=hours_text(hours),
        booked=hours_text(booking.hours),
    )


def _hours(span: timedelta) -> Decimal:
    return (Decimal(span.total_seconds()) / 3600).quantize(Decimal("0.01"))


def _notify(booking: Booking, *, to: str, kind: str, message: Promise) -> None:
    """A stored notice to one side, the technologist or the posting's managers, pushed live on
    commit. Each event happens once per booking, so it is told once per person whatever runs it
    again. The other side is mailed when a booking is opened, answered, cancelled or marked a
    no-show; the day's own moves (started, completed) and expiry stay in the app."""
    user_ids: Iterable[int]
    if to == Initiator.TECHNOLOGIST:
        user_ids = [booking.technologist_id]
    else:
        user_ids = Membership.objects.filter(
            hospital_id=booking.posting.hospital_id, role=Role.MANAGER
        ).values_list("user_id", flat=True)
    mailed = {
        "booking.invited",
        "booking.applied",
        "booking.confirmed",
        "booking.declined",
        "booking.cancelled",
        "booking.no_show",
    }
    notification_send(
        user_ids=user_ids,
        kind=kind,
        message=message,
        url=reverse("booking_detail", args=[booking.pk]),
        data={"booking": booking.pk},
        dedupe_key_prefix=f"booking:{booking.pk}:{kind}",
        mail=kind in mailed,
    )


# --- What a person may do next ----------------------------------------------------------------


def booking_actions(
    *, booking: Booking, user: User, manages: bool, now: datetime | None = None
) -> list[str]:
    """The moves open to `user` on `booking` now, by the same rules the services enforce: pages
    show these buttons and the API lists them. `manages`: the user manages the posting's
    hospital (or is a platform admin); callers work it out once for a whole list."""
    now = now or timezone.now()
    is_technologist = user.pk == booking.technologist_id
    if not (is_technologist or manages):
        return []
    actions: list[str] = []
    status = booking.status
    if status == BookingStatus.PENDING and booking.starts_at > now:
        answers = (
            is_technologist
            if booking.initiated_by == Initiator.HOSPITAL
            else manages and not is_technologist
        )
        if answers:
            actions += ["accept", "decline"]
    if status in (BookingStatus.PENDING, BookingStatus.CONFIRMED) and booking.starts_at > now:
        actions.append("cancel")
    if (
        status == BookingStatus.CONFIRMED
        and booking.starts_at - EARLIEST_START <= now < booking.ends_at
    ):
        actions.append("start")
    if manages and technologist_no_show_refusal(booking, now=now) is None:
        actions.append("no_show")
    if is_technologist and site_no_show_refusal(booking, now=now) is None:
        actions.append("site_no_show")
    if status == BookingStatus.IN_PROGRESS:
        actions.append("complete")
    return actions


def bookings_with_actions(bookings: Iterable[Booking], *, user: User) -> list[Booking]:
    """Bookings with `actions` set (see `booking_actions`): the buttons this viewer gets on
    each; and `exam` and `status_label` (`scheduling.exams`): how an exam that ran went. Which
    hospitals the viewer manages is read once for the whole list."""
    managed = set(hospitals_managed_by(user).values_list("pk", flat=True))
    now = timezone.now()
    rows = bookings_with_operator_joins(bookings_with_exam(bookings))
    for booking in rows:
        booking.actions = booking_actions(  # type: ignore[attr-defined]
            booking=booking,
            user=user,
            manages=user.is_staff or booking.posting.hospital_id in managed,
            now=now,
        )
    return rows


def bookings_close_for_cancelled_posting(*, actor: User, posting: SessionPosting) -> int:
    """A posting cancelled by its hospital takes its pending invitations and applications with
    it: each is cancelled by the hospital (never late: nobody was confirmed) and the technologist
    is told. Called inside `posting_cancel`'s transaction, the posting already locked."""
    closed = 0
    now = timezone.now()
    pending = Booking.objects.select_for_update(of=("self",)).filter(
        posting=posting, status=BookingStatus.PENDING
    )
    for booking in pending.select_related("posting__hospital", "posting__site"):
        _mark_cancelled(
            booking,
            actor=actor,
            side=Initiator.HOSPITAL,
            reason="The session was cancelled by the hospital.",
            now=now,
            late=False,
        )
        audit_record(
            actor=actor,
            action="booking.cancelled",
            target=booking,
            hospital=posting.hospital,
            data={"side": Initiator.HOSPITAL, "was": "pending", "posting_cancelled": True},
        )
        _notify(
            booking,
            to=Initiator.TECHNOLOGIST,
            kind="booking.cancelled",
            message=format_lazy(
                gettext_lazy("Cancelled: {hospital} no longer needs the session {when}."),
                hospital=posting.hospital.name,
                when=_when(booking),
            ),
        )
        closed += 1
    return closed
