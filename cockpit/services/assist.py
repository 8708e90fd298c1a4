"""Asking a senior colleague for help from a cockpit.

The operator or local staff raise a request (`assist_request`); the on-call seniors who qualify
(`cockpit.selectors.assist_candidates`) are told at once, live on whatever page they have open
and by mail. The first to accept joins the cockpit as assistant (`assist_accept`, race-safe: a
compare-and-set on the request's status, under its row lock); everyone else asked is told it is
taken. Unanswered, it escalates (`assist_escalate`, run by the periodic task
`cockpit.tasks.assist_escalate_due`): to experienced technologists, then the managers of the
operator's hospital. The requester cancels once solved (`assist_cancel`); an accepted request
ends when either side says so or the cockpit closes (`assist_finish`), and the assist time is
credited to the senior's hospital in the reciprocity ledger.

Every move is audited, and told to everyone in the cockpit as an `assist` session event once it
commits (`cockpit.broadcast`)."""

from datetime import datetime
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext_lazy, pgettext

from accounts.models import User
from cockpit import rules
from cockpit.broadcast import assistant_dismiss, session_event_send
from cockpit.models import (
    ASSIST_REQUESTER_ROLES,
    AssistNotice,
    AssistRequest,
    AssistStage,
    AssistStatus,
    CockpitSession,
    CockpitStatus,
    Role,
)
from cockpit.selectors import (
    COCKPIT_BOOKING_STATUSES,
    assist_candidates,
    assist_escalate_after,
    assist_managers,
    assist_view,
    assist_wanted_message,
    assist_with_graph,
    cockpit_is_open,
    on_call_window_now,
    operating_now,
    roles_for,
    room_of,
)
from cockpit.services.session import _locked, _require_live, control_leave
from core.audit import audit_record
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.notify import notification_send, push_on_commit
from core.text import free_text_clean
from marketplace.models import ExamFamily, Membership
from marketplace.models import Role as HospitalRole
from scheduling.models import BookingStatus
from scheduling.services.ledger import ledger_record_assist

__all__ = [
    "NOTE_MAX",
    "AssistTaken",
    "assist_accept",
    "assist_ask_newcomers",
    "assist_cancel",
    "assist_close_for_cockpit",
    "assist_close_stale",
    "assist_escalate",
    "assist_finish",
    "assist_request",
]

NOTE_MAX = 500


class AssistTaken(Conflict):
    """Someone else accepted first (or the request was cancelled): what the others see."""

    code = "taken"


# --- Raising a request ------------------------------------------------------------------------


@transaction.atomic
def assist_request(
    *,
    actor: User,
    role: str,
    cockpit: CockpitSession,
    exam_family: str,
    note: str = "",
    now: datetime | None = None,
) -> AssistRequest:
    """The operator or local staff ask for help with `exam_family` (a code), with a short note
    about the difficulty. One request under way (open or accepted) per cockpit at a time, and
    only while the cockpit is open."""
    now = now or timezone.now()
    cockpit = _locked(cockpit)
    if role not in ASSIST_REQUESTER_ROLES or role not in roles_for(actor, cockpit):
        raise PermissionDenied(_("Only the operator or local staff ask for help in a cockpit."))
    rules.require("assist.request", room_of(cockpit, now=now), role=role, user_id=actor.pk)
    family = ExamFamily.objects.filter(code=exam_family).first()
    if family is None:
        raise ValidationFailed(
            _("Choose the exam family you need help with."),
            fields={"exam_family": [f"No exam family {exam_family!r}."]},
        )
    note = free_text_clean(
        note, field="note", max_length=NOTE_MAX, what=pgettext("free text", "note"), one_line=True
    )
    under_way = AssistRequest.objects.filter(cockpit=cockpit, status__in=UNDER_WAY).first()
    if under_way is not None and under_way.status == AssistStatus.OPEN:
        raise Conflict(_("A request for help is already open in this cockpit; cancel it first."))
    if under_way is not None:
        raise Conflict(_("A senior is helping in this cockpit: end that with “Help done” first."))
    assist = AssistRequest.objects.create(
        cockpit=cockpit,
        requested_by=actor,
        requester_role=role,
        exam_family=family,
        vendor=cockpit.booking.posting.scanner.vendor,
        note=note,
        stage=AssistStage.SENIORS,
        stage_changed_at=now,
        created_at=now,
    )
    _tell_cockpit(assist, "requested")
    asked = _ask(assist, now=now)
    _audit(
        actor,
        "assist.requested",
        assist,
        {"exam_family": family.code, "role": role, "asked": asked},
    )
    _skip_empty_stages(assist, now=now)
    return assist


# --- Escalation -------------------------------------------------------------------------------


@transaction.atomic
def assist_escalate(*, assist_id: int, now: datetime | None = None) -> AssistRequest | None:
    """One escalation step for an open request whose stage has lasted long enough; None when
    there is nothing to do (answered, cancelled, already escalated: safe to run twice)."""
    now = now or timezone.now()
    assist = _locked_assist(assist_id)
    if assist is None or assist.status != AssistStatus.OPEN:
        return None
    if assist.stage >= AssistStage.MANAGERS:
        return None
    if now - assist.stage_changed_at < assist_escalate_after():
        return None
    _tell_cockpit(assist, "escalated")
    _next_stage(assist, now=now, reason="unanswered")
    _skip_empty_stages(assist, now=now)
    return assist


@transaction.atomic
def assist_ask_newcomers(*, assist_id: int, now: datetime | None = None) -> int:
    """A widened request still unanswered: technologists who qualify for the widened stage since
    (came on call, switched on, finished their own exam) are asked too, managers alerted or not.
    How many were newly asked."""
    now = now or timezone.now()
    assist = _locked_assist(assist_id)
    if assist is None or assist.status != AssistStatus.OPEN:
        return 0
    if assist.stage < AssistStage.WIDENED:
        return 0
    asked = _ask(assist, now=now, stage=AssistStage.WIDENED)
    if asked:
        _audit(None, "assist.asked_newcomers", assist, {"stage": assist.stage, "asked": asked})
        _tell_cockpit(assist, "asked")
    return asked


def _next_stage(assist: AssistRequest, *, now: datetime, reason: str) -> None:
    assist.stage += 1
    assist.stage_changed_at = now
    assist.save(update_fields=["stage", "stage_changed_at"])
    asked = _ask(assist, now=now)
    _audit(
        None,
        "assist.escalated",
        assist,
        {"stage": assist.stage, "reason": reason, "asked": asked},
    )


def _skip_empty_stages(assist: AssistRequest, *, now: datetime) -> None:
    """Nobody at all has been asked yet: waiting three minutes for nobody helps no one, so the
    next stage comes at once."""
    while (
        assist.stage < AssistStage.MANAGERS and not assist.notices.filter(may_accept=True).exists()
    ):
        _next_stage(assist, now=now, reason="nobody qualified")


def _ask(assist: AssistRequest, *, now: datetime, stage: int | None = None) -> int:
    """Tell a stage's people (this one's by default), each person once per request; how many
    were newly told."""
    stage = assist.stage if stage is None else stage
    if stage == AssistStage.MANAGERS:
        people = list(assist_managers(assist=assist).values_list("pk", flat=True))
        may_accept = False
    else:
        people = list(
            assist_candidates(assist=assist, stage=stage, now=now).values_list("pk", flat=True)
        )
        may_accept = True
    told = set(AssistNotice.objects.filter(request=assist).values_list("user_id", flat=True))
    new = [pk for pk in people if pk not in told]
    AssistNotice.objects.bulk_create(
        [
            AssistNotice(
                request=assist,
                user_id=pk,
                stage=stage,
                may_accept=may_accept,
                notified_at=now,
            )
            for pk in new
        ],
        ignore_conflicts=True,
    )
    if new:
        _notify(assist, new, may_accept=may_accept, now=now)
    return len(new)


def _notify(assist: AssistRequest, user_ids: list[int], *, may_accept: bool, now: datetime) -> None:
    booking = assist.cockpit.booking
    posting = booking.posting
    who = assist.requested_by.display_name
    family = assist.exam_family.name
    facts = {
        "name": who,
        "family": family,
        "hospital": posting.hospital.name,
        "site": posting.site.name,
        "scanner": posting.scanner.name,
    }
    # Lazy: each recipient reads it in their own language (core.notify).
    message: Promise
    if may_accept:
        kind = "assist_request"
        message = assist_wanted_message(assist)
    else:
        kind = "assist_unanswered"
        minutes = int((now - assist.created_at).total_seconds() // 60)
        if minutes >= 1:
            message = format_lazy(
                ngettext_lazy(
                    "Nobody has answered {name}'s request for help with {family} at {hospital} "
                    "({site}, {scanner}) for {minutes} minute. Can someone in your team join?",
                    "Nobody has answered {name}'s request for help with {family} at {hospital} "
                    "({site}, {scanner}) for {minutes} minutes. Can someone in your team join?",
                    minutes,
                ),
                minutes=minutes,
                **facts,
            )
        else:
            message = format_lazy(
                gettext_lazy(
                    "No on-call technologist could be found for {name}'s request for help with "
                    "{family} at {hospital} ({site}, {scanner}). Can someone in your team join?"
                ),
                **facts,
            )
    data: dict[str, Any] = {
        "assist": assist.pk,
        "cockpit": assist.cockpit_id,
        "exam_family": family,
        "vendor": posting.scanner.get_vendor_display(),
        "hospital": posting.hospital.name,
        "requested_by": who,
        "note": assist.note,
        "stage": assist.stage,
        "may_accept": may_accept,
        "accept_url": reverse("assist_accept", args=[assist.pk]) if may_accept else "",
    }
    notification_send(
        user_ids=user_ids,
        kind=kind,
        message=message,
        url=reverse("assist_incoming"),
        data=data,
        dedupe_key_prefix=f"assist:{assist.pk}:{kind}",
    )


# --- Answering ---------------------------------------------------------------------------------


@transaction.atomic
def assist_accept(*, actor: User, assist_id: int, now: datetime | None = None) -> AssistRequest:
    """A technologist who was asked accepts: the first wins and joins the cockpit as assistant;
    anyone later gets AssistTaken ("taken")."""
    now = now or timezone.now()
    assist = _locked_assist(assist_id)
    notice = AssistNotice.objects.filter(request=assist, user=actor).first() if assist else None
    if assist is None or notice is None:
        raise NotFound(_("No such request for help."))
    if not notice.may_accept:
        raise PermissionDenied(
            _("Managers are alerted to find someone; a technologist who was asked accepts.")
        )
    if assist.status != AssistStatus.OPEN:
        # Waiting for the lock re-read the row, not its joins: the winner's name comes fresh.
        assist.refresh_from_db()
        raise AssistTaken(_taken_message(assist))
    _require_open(assist.cockpit, now=now)
    if operating_now(now=now).filter(technologist=actor).exists():
        raise Conflict(_("You are operating a cockpit yourself: finish that exam first."))
    window = on_call_window_now(technologist=actor, now=now)
    hospital_id = window.lending_hospital_id if window else None
    if hospital_id is None:
        # The hospital the senior works for; their own hospital when they work for the one
        # scanning (its own staff: nothing passes between hospitals).
        works_for = list(
            Membership.objects.filter(user=actor, role=HospitalRole.TECHNOLOGIST)
            .order_by("pk")
            .values_list("hospital_id", flat=True)
        )
        scanning = assist.cockpit.booking.posting.hospital_id
        hospital_id = scanning if scanning in works_for else next(iter(works_for), None)
    # The compare-and-set decides between racing accepts on any database (the row lock above
    # already serialises them on PostgreSQL).
    won = AssistRequest.objects.filter(pk=assist.pk, status=AssistStatus.OPEN).update(
        status=AssistStatus.ACCEPTED,
        accepted_by=actor,
        accepted_at=now,
        senior_hospital_id=hospital_id,
    )
    if not won:
        assist.refresh_from_db()
        raise AssistTaken(_taken_message(assist))
    assist.refresh_from_db()
    assist.cockpit.assistants.add(actor)
    _audit(actor, "assist.accepted", assist, {"stage": assist.stage, "hospital": hospital_id})
    _tell_cockpit(assist, "accepted")
    _tell_the_others(assist, except_user=actor.pk)
    return assist


def _taken_message(assist: AssistRequest) -> str:
    if assist.status in (AssistStatus.ACCEPTED, AssistStatus.RESOLVED) and assist.accepted_by:
        return _("Taken: %(name)s is already helping.") % {"name": assist.accepted_by.display_name}
    if assist.status == AssistStatus.CANCELLED:
        return _("Taken care of: the requester cancelled it (solved without help).")
    return _("This request for help is closed.")


# --- Ending ------------------------------------------------------------------------------------


@transaction.atomic
def assist_cancel(*, actor: User, assist_id: int, now: datetime | None = None) -> AssistRequest:
    """The operator or local staff call off an open request (solved meanwhile); everyone asked is
    told."""
    now = now or timezone.now()
    assist = _locked_assist(assist_id)
    if assist is None:
        raise NotFound(_("No such request for help."))
    roles = roles_for(actor, assist.cockpit)
    if not any(role in ASSIST_REQUESTER_ROLES for role in roles):
        if roles or AssistNotice.objects.filter(request=assist, user=actor).exists():
            raise PermissionDenied(_("Only the operator or local staff cancel a request for help."))
        raise NotFound(_("No such request for help."))
    room = room_of(assist.cockpit, assist=assist, now=now)
    rules.require_any("assist.cancel", room, roles=roles, user_id=actor.pk)
    assist.status = AssistStatus.CANCELLED
    assist.ended_at = now
    assist.ended_by = actor
    assist.save(update_fields=["status", "ended_at", "ended_by"])
    _audit(actor, "assist.cancelled", assist, {"stage": assist.stage})
    _tell_cockpit(assist, "cancelled")
    _tell_the_others(assist)
    return assist


@transaction.atomic
def assist_finish(*, actor: User, assist_id: int, now: datetime | None = None) -> AssistRequest:
    """An accepted request ends: the senior, the operator or local staff say the help is done.
    The assist time (accepted to now) is credited to the senior's hospital."""
    now = now or timezone.now()
    assist = _locked_assist(assist_id)
    if assist is None:
        raise NotFound(_("No such request for help."))
    roles = roles_for(actor, assist.cockpit)
    if actor.pk != assist.accepted_by_id and not any(
        role in ASSIST_REQUESTER_ROLES for role in roles
    ):
        if roles:
            raise PermissionDenied(_("Only the senior, the operator or local staff end the help."))
        raise NotFound(_("No such request for help."))
    if actor.pk == assist.accepted_by_id and Role.ASSISTANT not in roles:
        roles = [*roles, Role.ASSISTANT]  # the senior who accepted, whatever else they are
    room = room_of(assist.cockpit, assist=assist, now=now)
    rules.require_any("assist.finish", room, roles=roles, user_id=actor.pk)
    _end_accepted(assist, actor=actor, now=now)
    return assist


def assist_close_for_cockpit(*, cockpit: CockpitSession, now: datetime | None = None) -> None:
    """The cockpit is closing (inside its service's transaction): help under way ends and is
    credited; an unanswered request closes, and everyone asked is told."""
    now = now or timezone.now()
    for assist in AssistRequest.objects.select_for_update().filter(
        cockpit=cockpit, status__in=UNDER_WAY
    ):
        _close(assist, now=now)


@transaction.atomic
def assist_close_stale(*, now: datetime | None = None) -> int:
    """Requests in cockpits that closed another way (the booking completed from its page,
    cancelled, a no-show): help under way ends at the booking's end of work and is credited, and
    unanswered ones close, so that nobody is asked, nor managers alerted, for an exam that is
    over. How many."""
    now = now or timezone.now()
    stale = AssistRequest.objects.select_for_update(of=("self",)).filter(
        Q(cockpit__status=CockpitStatus.ENDED)
        | ~Q(cockpit__booking__status__in=COCKPIT_BOOKING_STATUSES)
        | Q(cockpit__booking__status=BookingStatus.CONFIRMED, cockpit__booking__ends_at__lte=now),
        status__in=UNDER_WAY,
    )
    count = 0
    for assist in stale.select_related("cockpit__booking"):
        booking = assist.cockpit.booking
        _close(assist, now=min(now, booking.completed_at or booking.closed_at or now))
        count += 1
    return count


def _close(assist: AssistRequest, *, now: datetime) -> None:
    if assist.status == AssistStatus.ACCEPTED:
        _end_accepted(assist, actor=None, now=now)
    else:
        assist.status = AssistStatus.EXPIRED
        assist.ended_at = now
        assist.save(update_fields=["status", "ended_at"])
        _audit(None, "assist.expired", assist, {"stage": assist.stage})
        _tell_cockpit(assist, "expired")
        _tell_the_others(assist)


def _end_accepted(assist: AssistRequest, *, actor: User | None, now: datetime) -> None:
    assist.status = AssistStatus.RESOLVED
    assist.ended_at = max(now, assist.accepted_at or now)
    assist.ended_by = actor
    assist.save(update_fields=["status", "ended_at", "ended_by"])
    entry = ledger_record_assist(assist=assist)
    _audit(
        actor,
        "assist.resolved",
        assist,
        {"hours": str(entry.hours) if entry else None},
    )
    # Their help is done: the senior leaves the cockpit (the relay closes their socket), and
    # hands back control if they held it or had asked for it.
    assert assist.accepted_by_id is not None
    _tell_cockpit(assist, "resolved")
    assist.cockpit.assistants.remove(assist.accepted_by_id)
    control_leave(cockpit=assist.cockpit, user_id=assist.accepted_by_id)
    transaction.on_commit(
        partial(assistant_dismiss, assist.cockpit, assist.accepted_by_id), robust=True
    )


# --- Helpers -----------------------------------------------------------------------------------

# A request in these is under way: one at a time per cockpit.
UNDER_WAY = (AssistStatus.OPEN, AssistStatus.ACCEPTED)


def _require_open(cockpit: CockpitSession, *, now: datetime) -> None:
    _require_live(cockpit)
    if not cockpit_is_open(cockpit, now=now):
        raise Conflict(
            _(
                "This cockpit is not open: ask for help from 15 minutes before the session starts "
                "until the exam ends."
            )
        )


def _locked_assist(assist_id: int) -> AssistRequest | None:
    return (
        assist_with_graph(AssistRequest.objects.select_for_update(of=("self",)))
        .filter(pk=assist_id)
        .first()
    )


def _tell_cockpit(assist: AssistRequest, action: str) -> None:
    """Once the transaction commits, tell everyone in the cockpit the request as it then is.
    Registered before the notices and mails so that the requester sees "asked" first."""
    cockpit = assist.cockpit
    assist_id = assist.pk

    def send() -> None:
        fresh = AssistRequest.objects.select_related(
            "exam_family", "requested_by", "accepted_by"
        ).get(pk=assist_id)
        session_event_send(cockpit, "assist", {"action": action, "assist": assist_view(fresh)})

    transaction.on_commit(send, robust=True)


def _tell_the_others(assist: AssistRequest, *, except_user: int | None = None) -> None:
    """Everyone asked sees the banner turn to "taken" (or "cancelled") on whatever page."""
    user_ids = [
        pk
        for pk in AssistNotice.objects.filter(request=assist).values_list("user_id", flat=True)
        if pk != except_user
    ]
    push_on_commit(
        user_ids=user_ids,
        payload={
            "kind": "assist_closed",
            "message": _taken_message(assist),
            "data": {"assist": assist.pk, "status": assist.status},
        },
    )


def _audit(
    actor: User | None, action: str, assist: AssistRequest, data: dict[str, Any] | None = None
) -> None:
    audit_record(
        actor=actor,
        action=action,
        target=assist,
        hospital=assist.cockpit.booking.posting.hospital,
        data={"cockpit": assist.cockpit_id, "booking": assist.cockpit.booking_id, **(data or {})},
    )
