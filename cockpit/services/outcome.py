"""The exam's outcome: every STOP (who, in which role, when, and why, said after the fact), the
way to end an exam that was stopped or cut short, and the closing summary written when a
cockpit ends however it ends (closed once finished, ended early, or its booking closed outside
the cockpit). The managers of the scanning site get an incident notice for any STOP and for an
exam that did not complete.

Who may end an exam early or give a STOP's reason is written once, in the cockpit's rule table
(`cockpit.rules`: the moves `end` and `stop_reason`); which STOP a person may explain is
`stop_reason_allowed`. The consumer and the page ask the services, which ask these."""

from datetime import datetime
from typing import Any

from django.db import transaction
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.functional import Promise, lazy
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from accounts.models import User
from cockpit.models import (
    STOP_REASON_MAX,
    CockpitSession,
    CockpitStatus,
    CockpitStop,
    ExamEnding,
    ExamOutcome,
    ExamRecord,
    Role,
)
from cockpit.outcome import outcome_of
from cockpit.services.session import (
    _CONTROL_FIELDS,
    _audit,
    _locked,
    _require,
)
from core.errors import Conflict, NotFound, PermissionDenied
from core.notify import notification_send
from core.text import free_text_clean
from marketplace.models import Membership
from marketplace.models import Role as HospitalRole
from scheduling.models import Booking, BookingStatus

__all__ = [
    "cockpit_end_early",
    "cockpit_end_for_booking",
    "exam_complete",
    "exam_record_write",
    "stop_reason_allowed",
    "stop_reason_set",
    "stop_record",
]

# Console states in which a sequence is acquiring: an exam is stopped before it is ended early.
ACQUIRING = ("running", "paused")


# --- Who may ---------------------------------------------------------------------------------


def stop_reason_allowed(*, actor: User, role: str, stop: CockpitStop) -> bool:
    """Who may say why a STOP was pressed: local staff, or whoever pressed it."""
    return role == Role.LOCAL or stop.by_id == actor.pk


# --- STOPs -----------------------------------------------------------------------------------


def stop_record(*, cockpit: CockpitSession, actor: User, role: str, at: datetime) -> CockpitStop:
    """Keep a STOP (inside the caller's transaction, `cockpit_stop`'s); the managers of the
    scanning site are told once it commits."""
    stop = CockpitStop.objects.create(cockpit=cockpit, by=actor, role=role, at=at)
    posting = cockpit.booking.posting
    _incident(
        cockpit,
        kind="cockpit.stopped",
        key=f"stop:{stop.pk}",
        message=format_lazy(
            gettext_lazy(
                "STOP pressed by {name} ({role}) on {scanner} at {site}, {time}. The reason, "
                "once given, is on the cockpit's page."
            ),
            name=actor.display_name,
            role=_lower(Role(role).label),
            scanner=posting.scanner.name,
            site=posting.site.name,
            time=_local(at, cockpit),
        ),
    )
    return stop


@transaction.atomic
def stop_reason_set(
    *, actor: User, role: str, cockpit: CockpitSession, stop_id: int, reason: str
) -> CockpitStop:
    """Say why a STOP was pressed (or say it better): during the exam or after it ended."""
    _require("stop_reason", cockpit, actor, role)
    stop = (
        CockpitStop.objects.select_for_update(of=("self",))
        .select_related("by")
        .filter(pk=stop_id, cockpit=cockpit)
        .first()
    )
    if stop is None:
        raise NotFound(_("No such STOP in this cockpit."))
    if not stop_reason_allowed(actor=actor, role=role, stop=stop):
        raise PermissionDenied(
            _("Only local staff or whoever pressed the STOP may give its reason.")
        )
    stop.reason = free_text_clean(
        reason,
        field="reason",
        max_length=STOP_REASON_MAX,
        what=pgettext("free text", "reason"),
        required=True,
    )
    stop.reason_by = actor
    stop.reason_at = timezone.now()
    stop.save(update_fields=["reason", "reason_by", "reason_at"])
    _audit(actor, "cockpit.stop_reason", cockpit, {"stop": stop.pk, "role": role})
    return stop


# --- Ending ----------------------------------------------------------------------------------


@transaction.atomic
def cockpit_end_early(
    *, actor: User, role: str, cockpit: CockpitSession, console: dict[str, Any] | None
) -> CockpitSession:
    """End an exam that was stopped or cut short (`console`: the scanner's last state, as the
    relay kept it). Nothing may be acquiring: stop it first. The booking is completed (the
    ledger credits the hours it ran) and the summary says partial or aborted."""
    cockpit = _locked(cockpit)
    _require("end", cockpit, actor, role)
    if console is not None and console.get("status") in ACQUIRING:
        raise Conflict(_("A sequence is still acquiring: stop the scan first, then end the exam."))
    # The booking's move is the operator's side (local staff do not hold bookings); the audit
    # of this service names who ended it.
    booking, record = exam_complete(
        cockpit=cockpit,
        console=console,
        ending=ExamEnding.EARLY,
        actor=actor,
        role=role,
        booking_actor=cockpit.booking.technologist,
    )
    _end(cockpit, ended_at=booking.completed_at or timezone.now())
    _audit(
        actor,
        "cockpit.ended_early",
        cockpit,
        {"role": role, "outcome": record.outcome, "hours": str(booking.hours)},
    )
    return cockpit


@transaction.atomic
def cockpit_end_for_booking(
    *, booking_id: int, console: dict[str, Any] | None, actor_id: int | None
) -> CockpitSession | None:
    """The booking closed outside the cockpit (cancelled, completed from its page, a no-show):
    its cockpit ends with it. A cockpit whose exam ran gets its summary from `console`. None
    when there is no cockpit, or it had ended already (the cockpit closed the booking itself)."""
    cockpit = CockpitSession.objects.filter(booking_id=booking_id).first()
    if cockpit is None:
        return None
    cockpit = _locked(cockpit)
    if cockpit.status == CockpitStatus.ENDED:
        return None
    booking = cockpit.booking
    ran = cockpit.started_at is not None and booking.status == BookingStatus.COMPLETED
    _end(cockpit, ended_at=(booking.completed_at or timezone.now()) if ran else None)
    actor = User.objects.filter(pk=actor_id).first() if actor_id else None
    if ran:
        exam_record_write(
            cockpit=cockpit, console=console, ending=ExamEnding.BOOKING, actor=actor, role=""
        )
    _audit(actor, "cockpit.ended_by_booking", cockpit, {"booking_status": booking.status})
    return cockpit


def exam_complete(
    *,
    cockpit: CockpitSession,
    console: dict[str, Any] | None,
    ending: str,
    actor: User,
    role: str,
    booking_actor: User,
) -> tuple[Booking, ExamRecord]:
    """The exam's summary, then its booking completed (inside the caller's transaction): written
    first, so that what the booking tells its two sides names the outcome ("Completed — partial
    (2 of 7 sequences)") rather than plainly "Completed"."""
    from scheduling.services import booking_complete

    record = exam_record_write(
        cockpit=cockpit, console=console, ending=ending, actor=actor, role=role
    )
    booking = booking_complete(actor=booking_actor, booking=cockpit.booking)
    if booking.completed_at is not None and record.ended_at != booking.completed_at:
        record.ended_at = booking.completed_at
        record.save(update_fields=["ended_at"])
    return booking, record


def exam_record_write(
    *,
    cockpit: CockpitSession,
    console: dict[str, Any] | None,
    ending: str,
    actor: User | None,
    role: str,
) -> ExamRecord:
    """The closing summary (inside the caller's transaction); an exam that did not complete is
    an incident the managers of the scanning site are told about."""
    outcome = outcome_of(console)
    record = ExamRecord.objects.create(
        cockpit=cockpit,
        outcome=outcome.outcome,
        sequences=outcome.sequences,
        sequences_done=outcome.done,
        sequences_total=outcome.total,
        ending=ending,
        ended_by=actor,
        ended_role=role,
        ended_at=cockpit.ended_at or timezone.now(),
    )
    if record.outcome != ExamOutcome.COMPLETED:
        posting = cockpit.booking.posting
        facts = {
            "outcome": lazy(lambda: record.label.lower(), str)(),
            "scanner": posting.scanner.name,
            "site": posting.site.name,
            "ending": _lower(ExamEnding(ending).label),
            "time": _local(record.ended_at, cockpit),
        }
        _incident(
            cockpit,
            kind=f"cockpit.exam_{record.outcome}",
            key="exam",
            message=format_lazy(
                gettext_lazy("Exam {outcome} on {scanner} at {site}: {ending} by {name}, {time}."),
                name=actor.display_name,
                **facts,
            )
            if actor is not None
            else format_lazy(
                gettext_lazy("Exam {outcome} on {scanner} at {site}: {ending}, {time}."), **facts
            ),
        )
    return record


def _end(cockpit: CockpitSession, *, ended_at: datetime | None) -> None:
    """The cockpit ends: nobody holds control any more."""
    from cockpit.services.assist import assist_close_for_cockpit

    assist_close_for_cockpit(cockpit=cockpit, now=ended_at or timezone.now())
    cockpit.ended_at = ended_at
    cockpit.status = CockpitStatus.ENDED
    cockpit.controller = None
    cockpit.controller_role = ""
    cockpit.control_requested_by = None
    cockpit.control_requested_role = ""
    cockpit.local_override = False
    cockpit.save(update_fields=["ended_at", "status", *_CONTROL_FIELDS, "updated_at"])


# --- Telling the managers --------------------------------------------------------------------


def _incident(cockpit: CockpitSession, *, kind: str, key: str, message: str | Promise) -> None:
    """An incident notice to the managers of the scanning site (stored now, pushed and mailed
    once the transaction commits; once per incident whatever runs it again)."""
    managers = Membership.objects.filter(
        hospital_id=cockpit.booking.posting.hospital_id, role=HospitalRole.MANAGER
    ).values_list("user_id", flat=True)
    notification_send(
        user_ids=managers,
        kind=kind,
        message=message,
        url=reverse("cockpit_console", args=[cockpit.pk]),
        data={"cockpit": cockpit.pk, "booking": cockpit.booking_id},
        dedupe_key_prefix=f"cockpit:{cockpit.pk}:{key}",
    )


def _lower(text: str | Promise) -> str:
    """A label in lower case, in the language it is read in (each recipient's): a lazy str."""
    return lazy(lambda: str(text).lower(), str)()


def _local(moment: datetime, cockpit: CockpitSession) -> str:
    """A moment as the scanning site reads it, 24-hour, in the reader's language:
    "3 Dec 14:05 (Europe/Brussels)" ("3 déc 14:05 (Europe/Brussels)")."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(cockpit.booking.posting.site.time_zone)
    local = moment.astimezone(zone)
    return lazy(lambda: f"{dateformat.format(local, 'j M H:i')} ({zone.key})", str)()
