"""Every write in a cockpit session, one function per use case. The relay (`cockpit.consumers`)
calls them through `database_sync_to_async`; each locks the session row, checks who may do what,
saves, and writes its AuditEvent in the same transaction. Who may make which move is
`cockpit.rules`' table: each service asks it (`_require`) under the row lock, and nothing else
decides. They return the session as it now is: the relay turns it into the `control` /
`approval` / `session` event that everyone sees.

After any STOP, and once local staff take the scanner back, the scanner is held locally
(`local_override`): a local staff member holds control, or nobody does (held at the console by
local staff). Only local staff's explicit grant hands it to a remote person again."""

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from accounts.models import User
from cockpit import rules
from cockpit.models import CONTROL_ROLES, CockpitSession, CockpitStatus, PrescanCheck, Role
from cockpit.schemas import MAX_CHAT_LENGTH as CHAT_MAX
from cockpit.selectors import (
    MAX_CONTROLLED,
    REMOTE_ROLES,
    booking_cockpit_open,
    cockpit_ended_reason,
    controlled_count,
    local_staff_of,
    roles_for,
    room_of,
)
from cockpit.simulator import protocol_for
from core.audit import audit_record
from core.errors import Conflict, PermissionDenied, ValidationFailed
from core.text import free_text_clean
from scheduling.models import Booking, BookingStatus
from scheduling.services import booking_start

__all__ = [
    "chat_check",
    "cockpit_approve_join",
    "cockpit_close",
    "cockpit_mark_started",
    "cockpit_open",
    "cockpit_operator_joined",
    "cockpit_stop",
    "command_record",
    "contrast_confirm",
    "control_fallback",
    "control_grant",
    "control_leave",
    "control_override",
    "control_release",
    "control_request",
    "control_take_over",
    "prescan_confirm",
]


# --- Opening and consent ----------------------------------------------------------------------


def cockpit_open(*, booking: Booking, ahead: bool = False) -> CockpitSession:
    """The booking's cockpit, made on first use with the exam protocol its posting calls for.
    Refused unless the booking is confirmed or running and its window is open; `ahead` makes it
    for any confirmed booking (to pre-approve the operator's join before the day)."""
    if ahead and booking.status == BookingStatus.CONFIRMED:
        pass
    elif not booking_cockpit_open(booking):
        existing = CockpitSession.objects.filter(booking=booking).first()
        if existing is not None:
            return existing
        raise Conflict(
            _(
                "This booking's cockpit is not open: it opens 15 minutes before a confirmed "
                "booking starts."
            )
        )
    families = booking.posting.required_exam_families.values_list("code", flat=True)
    try:
        with transaction.atomic():
            cockpit, _created = CockpitSession.objects.get_or_create(
                booking=booking, defaults={"protocol": protocol_for(list(families))}
            )
    except IntegrityError:  # opened at the same moment by someone else (the scanner, say)
        cockpit = CockpitSession.objects.get(booking=booking)
    return cockpit


@transaction.atomic
def cockpit_operator_joined(*, actor: User, cockpit: CockpitSession) -> CockpitSession:
    """The booked technologist connected to the cockpit as operator (the relay calls this on
    every join; waiting in the lobby for local staff's approval counts): the first time is
    recorded, once and for good, as the evidence that they came (`scheduling.no_shows`). The
    cockpit's row is locked first, as a no-show recorded at the same moment locks it, and the
    booking must still be open: a join never lands after the booking closed."""
    cockpit = _locked(cockpit)
    if actor.pk != cockpit.booking.technologist_id:
        raise PermissionDenied(_("Only the booked technologist joins as operator."))
    if cockpit.operator_joined_at is not None:
        return cockpit
    if cockpit.status == CockpitStatus.ENDED or not booking_cockpit_open(cockpit.booking):
        raise Conflict(_("This booking's cockpit is closed."))
    cockpit.operator_joined_at = timezone.now()
    cockpit.save(update_fields=["operator_joined_at", "updated_at"])
    _audit(actor, "cockpit.operator_joined", cockpit)
    return cockpit


@transaction.atomic
def cockpit_approve_join(
    *, actor: User, cockpit: CockpitSession, role: str = Role.LOCAL
) -> CockpitSession:
    """Local staff (or a manager) of the scanning hospital let the booked operator in: from now
    on the operator may take control. Also how a booking is pre-approved, ahead of the day."""
    cockpit = _locked(cockpit)
    _require("approve", cockpit, actor, role)
    cockpit.join_approved_at = timezone.now()
    cockpit.join_approved_by = actor
    cockpit.save(update_fields=["join_approved_at", "join_approved_by", "updated_at"])
    _audit(actor, "cockpit.join_approved", cockpit)
    return cockpit


# --- The control token ------------------------------------------------------------------------


@transaction.atomic
def control_request(*, actor: User, role: str, cockpit: CockpitSession) -> CockpitSession:
    """Ask for control. Free control (nobody holds it, not held locally) is granted at once,
    except to an assistant; local staff get it at once while the scanner is held locally and
    nobody holds control. Otherwise the request waits for a grant (while the scanner is held
    locally: local staff's)."""
    cockpit = _locked(cockpit)
    _require("control.request", cockpit, actor, role)
    free = cockpit.controller_id is None
    # An assistant is handed control by the operator (or local staff), never takes it free.
    if free and (role == Role.LOCAL or (not cockpit.local_override and role != Role.ASSISTANT)):
        _give_control(cockpit, actor, role)
        _audit(actor, "cockpit.control_granted", cockpit, {"to": actor.pk, "role": role})
    else:
        cockpit.control_requested_by = actor
        cockpit.control_requested_role = role
        _audit(actor, "cockpit.control_requested", cockpit, {"role": role})
    _save_control(cockpit)
    return cockpit


@transaction.atomic
def control_grant(
    *, actor: User, role: str, cockpit: CockpitSession, to_user_id: int | None = None
) -> CockpitSession:
    """The holder hands control over, or the booked operator or local staff give it (local staff
    decide at any time; the operator could take it over anyway). While the scanner is held
    locally only local staff grant it. To the person named, or to whoever asked."""
    cockpit = _locked(cockpit)
    move = "control.grant" if to_user_id is None else "control.grant_to"
    _require(move, cockpit, actor, role)
    target_id = to_user_id if to_user_id is not None else cockpit.control_requested_by_id
    if target_id is None:  # pragma: no cover - the rules refuse a grant nobody asked for
        raise ValidationFailed(_("Nobody has asked for control: name whom to grant it to."))
    if target_id == cockpit.controller_id:
        raise Conflict(_("They already hold control."))
    target = User.objects.filter(pk=target_id).first()
    target_roles = [r for r in roles_for(target, cockpit) if r in CONTROL_ROLES] if target else []
    if target is None or not target_roles:
        raise ValidationFailed(
            _("Control can go only to the operator, local staff or an assistant.")
        )
    if target_id == cockpit.control_requested_by_id and cockpit.control_requested_role:
        target_role = cockpit.control_requested_role
    else:
        target_role = target_roles[0]
    if target_role == Role.OPERATOR:
        _require_approved(cockpit)
    held = cockpit.local_override
    _give_control(cockpit, target, target_role)
    _save_control(cockpit)
    data: dict[str, Any] = {"to": target.pk, "role": target_role}
    if held:
        data["held"] = True  # local staff handed the held scanner over
    _audit(actor, "cockpit.control_granted", cockpit, data)
    return cockpit


@transaction.atomic
def control_release(
    *, actor: User, cockpit: CockpitSession, role: str | None = None
) -> CockpitSession:
    """The holder gives control up (in `role`: the relay's socket; any of theirs from a page). A
    scanner held locally stays held (nobody named): only local staff's grant hands it to a
    remote person."""
    cockpit = _locked(cockpit)
    if role is not None:
        _require("control.release", cockpit, actor, role)
    else:
        roles = roles_for(actor, cockpit)
        if not roles:
            raise Conflict(_("You do not hold control."))
        rules.require_any("control.release", room_of(cockpit), roles=roles, user_id=actor.pk)
    cockpit.controller = None
    cockpit.controller_role = ""
    _save_control(cockpit)
    _audit(actor, "cockpit.control_released", cockpit)
    return cockpit


@transaction.atomic
def control_take_over(
    *, actor: User, cockpit: CockpitSession, role: str = Role.OPERATOR
) -> CockpitSession:
    """The booked operator takes control from whoever holds it (an assistant, say). Refused
    while local staff have taken the scanner back."""
    cockpit = _locked(cockpit)
    _require("control.take_over", cockpit, actor, role)
    previous = cockpit.controller_id
    _give_control(cockpit, actor, Role.OPERATOR)
    _save_control(cockpit)
    _audit(actor, "cockpit.control_taken_over", cockpit, {"from": previous})
    return cockpit


@transaction.atomic
def control_override(
    *, actor: User, cockpit: CockpitSession, role: str = Role.LOCAL
) -> CockpitSession:
    """Local staff take the scanner back, whoever holds control."""
    cockpit = _locked(cockpit)
    _require("control.override", cockpit, actor, role)
    previous = cockpit.controller_id
    _give_control(cockpit, actor, Role.LOCAL)
    cockpit.local_override = True
    _save_control(cockpit)
    _audit(actor, "cockpit.local_override", cockpit, {"from": previous})
    return cockpit


def control_leave(*, cockpit: CockpitSession, user_id: int) -> CockpitSession:
    """Someone leaves the cockpit for good (a senior whose help is done): control they held is
    free again, and their request for it is dropped; everyone is told once this commits."""
    cockpit = _locked(cockpit)
    changed = False
    if cockpit.controller_id == user_id:
        cockpit.controller = None
        cockpit.controller_role = ""
        changed = True
    if cockpit.control_requested_by_id == user_id:
        cockpit.control_requested_by = None
        cockpit.control_requested_role = ""
        changed = True
    if changed:
        _save_control(cockpit)
        _audit(None, "cockpit.control_released", cockpit, {"left": user_id})
        cockpit_id = cockpit.pk

        def tell() -> None:
            from cockpit.broadcast import session_event_send
            from cockpit.selectors import cockpit_get, control_view

            fresh = cockpit_get(cockpit_id=cockpit_id)
            session_event_send(
                fresh, "control", {"action": "release", "by": None, **control_view(fresh)}
            )

        transaction.on_commit(tell, robust=True)
    return cockpit


# --- Link loss: control falls back to local staff ---------------------------------------------


def control_fallback(*, cockpit: CockpitSession, lost_user_id: int, why: str) -> bool:
    """The remote person holding control lost their link (`why`: their last socket closed, or
    nothing was heard from them for settings.COCKPIT_CONTROL_LINK_TIMEOUT_S): local staff hold
    the scanner from now, as after a local STOP, until they grant control again. Idempotent:
    nothing happens (False) when that person no longer holds control, or holds it as local staff.
    Every relay process that notices may call it; the row lock lets exactly one change it."""
    with transaction.atomic():
        cockpit = _locked(cockpit)
        if (
            cockpit.controller_id != lost_user_id
            or cockpit.controller_role not in REMOTE_ROLES
            or cockpit.status == CockpitStatus.ENDED
        ):
            return False
        holder = _control_hold_locally(cockpit)
        _save_control(cockpit)
        _audit(
            None,
            "cockpit.control_fallback",
            cockpit,
            {"from": lost_user_id, "why": why, "to": holder.pk if holder else None},
        )
    return True


def _control_hold_locally(cockpit: CockpitSession) -> User | None:
    """Local staff hold the scanner (`local_override`), as after their STOP: nobody remote may
    command or take it over until local staff grant control. Held by the technologist named
    beside the patient in the pre-scan checklist, if it was confirmed and they are still local
    staff here; else by local staff as a whole (no controller). The holder."""
    check = PrescanCheck.objects.filter(cockpit=cockpit).select_related("beside_patient").first()
    holder = check.beside_patient if check is not None else None
    if holder is not None and Role.LOCAL in roles_for(holder, cockpit):
        _give_control(cockpit, holder, Role.LOCAL)
    else:
        holder = None
        cockpit.controller = None
        cockpit.controller_role = ""
    cockpit.local_override = True
    return holder


# --- The pre-scan checklist -------------------------------------------------------------------


@transaction.atomic
def prescan_confirm(
    *,
    actor: User,
    role: str,
    cockpit: CockpitSession,
    beside_patient_id: int | None,
    patient_informed: bool,
    links: list[dict[str, Any]] | None,
) -> CockpitSession:
    """Local staff confirm, before the first sequence, that a registered technologist of the
    scanning hospital (`beside_patient_id`; the confirming person by default) is beside the
    patient, that the patient was told the exam is run remotely, and that the link check passed.

    `links` is the relay's measure now of every remote participant connected (`person`, and
    `rtt_ms`, `jitter_ms`, `level`, None before a first round trip), or None when the relay's link
    check is off. The check fails when one of them is at `refuse`, has no figures yet, or when a
    remote person holds control without being connected; a `warn` passes, recorded as such."""
    cockpit = _locked(cockpit)
    _require("checklist.confirm", cockpit, actor, role)
    if not patient_informed:
        raise ValidationFailed(
            _("Tell the patient that the exam is run remotely, then confirm that you did."),
            fields={"patient_informed": ["Required."]},
        )
    beside = actor
    if beside_patient_id is not None and beside_patient_id != actor.pk:
        found = local_staff_of(cockpit).filter(pk=beside_patient_id).first()
        if found is None:
            raise ValidationFailed(
                _("Name a technologist of the scanning hospital's local staff."),
                fields={"beside_patient": ["Not local staff of this hospital."]},
            )
        beside = found
    level, figures = _prescan_link(cockpit, links)
    PrescanCheck.objects.create(
        cockpit=cockpit,
        confirmed_by=actor,
        beside_patient=beside,
        patient_informed=True,
        link_level=level,
        link_figures=figures,
    )
    _audit(
        actor,
        "cockpit.prescan_confirmed",
        cockpit,
        {"beside_patient": beside.pk, "patient_informed": True, "link": level, "links": figures},
    )
    return cockpit


def _prescan_link(
    cockpit: CockpitSession, links: list[dict[str, Any]] | None
) -> tuple[str, list[dict[str, Any]]]:
    """The link check's verdict (`ok`, `warn`, or `off`) and the figures it was made on; a
    Conflict saying whose link refuses it."""
    if links is None:
        return "off", []
    figures = [link for link in links if link["person"].get("role") in REMOTE_ROLES]
    for link in figures:
        name = link["person"].get("name") or _("A remote participant")
        if link.get("level") is None:
            raise Conflict(
                _("The link check has no figures for %(name)s yet: confirm again in a few seconds.")
                % {"name": name}
            )
        if link["level"] == "refuse":
            raise Conflict(
                _(
                    "The link check failed: %(name)s's link is too slow or unsteady (%(rtt)s ms "
                    "round trip, %(jitter)s ms jitter). The exam cannot be run remotely over it."
                )
                % {
                    "name": name,
                    "rtt": f"{link['rtt_ms']:g}",
                    "jitter": f"{link['jitter_ms']:g}",
                }
            )
    controller_remote = (
        cockpit.controller_id is not None and cockpit.controller_role in REMOTE_ROLES
    )
    if controller_remote and not any(
        link["person"].get("id") == cockpit.controller_id for link in figures
    ):
        raise Conflict(
            _("The link check failed: the person holding control is not connected to the cockpit.")
        )
    level = "warn" if any(link["level"] == "warn" for link in figures) else "ok"
    return level, figures


def prescan_require(cockpit: CockpitSession) -> None:
    """A sequence starts only once local staff confirmed the pre-scan checklist."""
    if not PrescanCheck.objects.filter(cockpit=cockpit).exists():
        raise Conflict(
            _(
                "Local staff have not confirmed the pre-scan checklist yet: a technologist beside "
                "the patient, the patient told the exam is run remotely, the link checked. The "
                "sequence was not started."
            )
        )


# --- Console ----------------------------------------------------------------------------------


@transaction.atomic
def cockpit_stop(*, actor: User, role: str, cockpit: CockpitSession) -> CockpitSession:
    """STOP. Local staff may stop at any time, whoever holds control, and then hold the scanner
    themselves; the controller may stop too, and then nobody holds control: the scanner is
    held at the console by local staff. Either way it is held locally until local staff grant
    control again. The relay sends local staff's stop to the scanner before calling this, so
    that nothing waits on the database."""
    cockpit = _locked(cockpit)
    _require("stop", cockpit, actor, role)
    cockpit.stopped_at = timezone.now()
    previous = cockpit.controller_id
    if role == Role.LOCAL:
        _give_control(cockpit, actor, Role.LOCAL)
    else:
        cockpit.controller = None
        cockpit.controller_role = ""
    cockpit.local_override = True
    cockpit.save(update_fields=["stopped_at", *_CONTROL_FIELDS, "updated_at"])
    _audit(actor, "cockpit.stopped", cockpit, {"role": role, "control_from": previous})
    from cockpit.services.outcome import stop_record

    stop_record(cockpit=cockpit, actor=actor, role=role, at=cockpit.stopped_at)
    return cockpit


@transaction.atomic
def command_record(
    *, actor: User, role: str, cockpit: CockpitSession, name: str, args: dict[str, Any]
) -> CockpitSession:
    """A console command from the person holding control: audited, then relayed to the scanner.
    Anyone else is refused and nothing reaches the scanner."""
    cockpit = _locked(cockpit)
    _require("command", cockpit, actor, role)
    if name == "start":
        prescan_require(cockpit)
    _audit(actor, "cockpit.command", cockpit, {"name": name, "args": args, "role": role})
    return cockpit


@transaction.atomic
def contrast_confirm(
    *, actor: User, cockpit: CockpitSession, role: str = Role.LOCAL
) -> CockpitSession:
    """Local staff confirm the contrast step (they are the ones beside the patient)."""
    cockpit = _locked(cockpit)
    _require("confirm_contrast", cockpit, actor, role)
    _audit(actor, "cockpit.contrast_confirmed", cockpit)
    return cockpit


def chat_check(text: str) -> str:
    """A chat line, stripped; refused when it looks like it names the patient."""
    return free_text_clean(
        text,
        field="text",
        max_length=CHAT_MAX,
        what=pgettext("free text", "chat message"),
        required=True,
    )


# --- Start and end of the exam ----------------------------------------------------------------


@transaction.atomic
def cockpit_mark_started(*, cockpit: CockpitSession) -> CockpitSession:
    """The scanner ran its first sequence: the booking is in progress from now, and this moment
    is the start the ledger counts from. Safe to call again."""
    cockpit = _locked(cockpit)
    if cockpit.started_at is not None:
        return cockpit
    booking = cockpit.booking
    if booking.status == BookingStatus.CONFIRMED:
        booking = booking_start(actor=booking.technologist, booking=booking)
    # The first sequence, now: not the booking's start, which someone may have pressed up to 15
    # minutes before the session (and before any exam ran).
    cockpit.started_at = timezone.now()
    cockpit.status = CockpitStatus.LIVE
    cockpit.save(update_fields=["started_at", "status", "updated_at"])
    _audit(None, "cockpit.started", cockpit)
    return cockpit


@transaction.atomic
def cockpit_close(
    *,
    actor: User,
    cockpit: CockpitSession,
    finished: bool,
    console: dict[str, Any] | None = None,
) -> CockpitSession:
    """The operator closes the cockpit once the protocol is finished (`finished` is the
    scanner's own last word): the booking is completed, and the ledger credits the hours from the
    first sequence to now. The summary (`cockpit.services.outcome`) is read from `console`, the
    scanner's last state: a protocol finished with sequences aborted or skipped is partial."""
    cockpit = _locked(cockpit)
    _require("close", cockpit, actor, Role.OPERATOR)
    if not finished:
        raise Conflict(_("The protocol is not finished: run or abort every sequence first."))
    from cockpit.models import ExamEnding
    from cockpit.services.outcome import exam_complete

    booking, record = exam_complete(
        cockpit=cockpit,
        console=console,
        ending=ExamEnding.CLOSED,
        actor=actor,
        role=Role.OPERATOR,
        booking_actor=actor,
    )
    from cockpit.services.assist import assist_close_for_cockpit

    assist_close_for_cockpit(cockpit=cockpit, now=booking.completed_at)
    cockpit.booking = booking
    cockpit.ended_at = booking.completed_at
    cockpit.status = CockpitStatus.ENDED
    cockpit.controller = None
    cockpit.controller_role = ""
    cockpit.control_requested_by = None
    cockpit.control_requested_role = ""
    cockpit.local_override = False
    cockpit.save(update_fields=["ended_at", "status", *_CONTROL_FIELDS, "updated_at"])
    _audit(
        actor, "cockpit.closed", cockpit, {"hours": str(booking.hours), "outcome": record.outcome}
    )
    return cockpit


# --- Helpers ----------------------------------------------------------------------------------

_CONTROL_FIELDS = [
    "controller",
    "controller_role",
    "control_requested_by",
    "control_requested_role",
    "local_override",
]


def _locked(cockpit: CockpitSession) -> CockpitSession:
    return (
        CockpitSession.objects.select_for_update(of=("self",))
        .select_related(
            "booking__posting__hospital",
            "booking__posting__site",
            "booking__posting__scanner",
            "booking__technologist",
            "booking__lending_hospital",
        )
        .get(pk=cockpit.pk)
    )


def _only(role: str) -> str:
    """Why someone with no part in the cockpit may not make a move of `role`'s."""
    if role == Role.OPERATOR:
        return _("Only the booked operator may do that in this cockpit.")
    if role == Role.LOCAL:
        return _("Only local staff of the scanning site may do that in this cockpit.")
    if role == Role.ASSISTANT:
        return _("Only an assistant may do that in this cockpit.")
    return _("Only the people in this cockpit may do that.")


def _require(move: str, cockpit: CockpitSession, actor: User, role: str) -> None:
    """The rule table's word on `move` by `actor` in `role`, the session locked as it is now
    (a role the move is open to must be one the actor really has here)."""
    row = rules.MOVES[move]
    if role in row.roles:
        roles = roles_for(actor, cockpit)
        if role not in roles:
            # In the cockpit in another role: the move is not theirs; not in it at all: say who.
            if roles:
                raise row.not_your_role.exception()
            raise PermissionDenied(_only(role))
    rules.require(move, room_of(cockpit), role=role, user_id=actor.pk)


def _require_live(cockpit: CockpitSession) -> None:
    reason = cockpit_ended_reason(cockpit)
    if reason:
        raise Conflict(reason)


def _require_approved(cockpit: CockpitSession) -> None:
    if not cockpit.join_approved:
        raise PermissionDenied(
            _("Local staff have not approved your join yet: you can watch, not control.")
        )


def _give_control(cockpit: CockpitSession, user: User, role: str) -> None:
    if role == Role.OPERATOR:
        # The operator's row, locked: two requests on two cockpits at once count one after
        # the other.
        User.objects.select_for_update().filter(pk=user.pk).first()
    if (
        role == Role.OPERATOR
        and controlled_count(user=user, exclude_id=cockpit.pk) >= MAX_CONTROLLED
    ):
        raise Conflict(
            _("You already hold control of %(count)s cockpits; release one first.")
            % {"count": MAX_CONTROLLED}
        )
    cockpit.controller = user
    cockpit.controller_role = role
    if cockpit.control_requested_by_id == user.pk:
        cockpit.control_requested_by = None
        cockpit.control_requested_role = ""
    if role != Role.LOCAL:
        cockpit.local_override = False


def _save_control(cockpit: CockpitSession) -> None:
    cockpit.save(update_fields=[*_CONTROL_FIELDS, "updated_at"])


def _audit(
    actor: User | None, action: str, cockpit: CockpitSession, data: dict[str, Any] | None = None
) -> None:
    audit_record(
        actor=actor,
        action=action,
        target=cockpit,
        hospital=cockpit.booking.posting.hospital,
        data={"booking": cockpit.booking_id, **(data or {})},
    )
