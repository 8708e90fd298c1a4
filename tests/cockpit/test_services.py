"""The cockpit's rules, through its services: who may be in a session and as what, consent, the
control token, STOP, console commands, and the start and end that the ledger credits."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from cockpit import services
from cockpit.models import CockpitSession
from cockpit.selectors import access_cockpit, control_view, controlled_count, roles_for
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.models import AuditEvent
from scheduling import services as scheduling_services
from scheduling.models import LedgerEntry
from tests.cockpit.support import open_booking, open_cockpit
from tests.conftest import World
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _actions(cockpit: CockpitSession) -> list[str]:
    return list(
        AuditEvent.objects.filter(target_type="cockpit.cockpitsession", target_id=str(cockpit.pk))
        .order_by("pk")
        .values_list("action", flat=True)
    )


def test_roles_follow_the_booking_and_the_memberships(world: World) -> None:
    cockpit = open_cockpit(world)
    assert roles_for(world.technologist, cockpit) == ["operator"]
    assert roles_for(world.local_staff, cockpit) == ["local"]
    # The scanning hospital's manager watches, and may stand beside the patient too.
    assert roles_for(world.manager, cockpit) == ["observer", "local"]
    assert roles_for(world.admin, cockpit) == ["observer"]
    assert roles_for(world.other_manager, cockpit) == []
    assert roles_for(world.outsider, cockpit) == []
    for stranger in (world.other_manager, world.outsider):
        with pytest.raises(NotFound):
            access_cockpit(stranger, cockpit.pk)
    with pytest.raises(NotFound):
        access_cockpit(world.technologist, "abc")


def test_the_scanning_hospitals_manager_observes(world: World) -> None:
    """Hôpital Sainte-Claire's technologist works on the other hospital's scanner: its manager
    (the scanning side) observes and may be local; Sainte-Claire's local staff have no part."""
    booking = open_booking(world.other_manager, world.other_scanner, world.technologist)
    cockpit = services.cockpit_open(booking=booking)
    assert roles_for(world.other_manager, cockpit) == ["observer", "local"]
    assert roles_for(world.local_staff, cockpit) == []  # not at the scanning site
    # The technologist offered their own time: their hospital did not lend them, and its manager
    # has no part in this session.
    assert booking.lending_hospital is None
    assert roles_for(world.manager, cockpit) == []


def test_a_cockpit_opens_fifteen_minutes_before_the_start(world: World) -> None:
    later = open_booking(
        world.manager, world.scanner, world.technologist, starts_in=timedelta(hours=2)
    )
    with pytest.raises(Conflict, match="opens 15 minutes before"):
        services.cockpit_open(booking=later)
    assert not CockpitSession.objects.exists()
    # Ahead of the day, only to pre-approve the operator's join.
    cockpit = services.cockpit_open(booking=later, ahead=True)
    cockpit = services.cockpit_approve_join(actor=world.local_staff, cockpit=cockpit)
    assert cockpit.join_approved_by == world.local_staff
    assert services.cockpit_open(booking=later) == cockpit
    # A neuro posting gets the neuro protocol unless it asks for something else.
    assert cockpit.protocol == "neuro"


def test_the_operator_controls_only_once_local_staff_approved(world: World) -> None:
    cockpit = open_cockpit(world, approved=False)
    with pytest.raises(PermissionDenied, match="not approved your join"):
        services.control_request(actor=world.technologist, role="operator", cockpit=cockpit)
    with pytest.raises(PermissionDenied, match="local staff"):
        services.cockpit_approve_join(actor=world.technologist, cockpit=cockpit)
    cockpit = services.cockpit_approve_join(actor=world.local_staff, cockpit=cockpit)
    with pytest.raises(Conflict, match="already approved"):
        services.cockpit_approve_join(actor=world.local_staff, cockpit=cockpit)
    cockpit = services.control_request(actor=world.technologist, role="operator", cockpit=cockpit)
    assert control_view(cockpit)["controller"] == {
        "id": world.technologist.pk,
        "name": world.technologist.display_name,
        "role": "operator",
    }
    assert _actions(cockpit) == ["cockpit.join_approved", "cockpit.control_granted"]


def test_control_request_grant_take_over_and_release(world: World) -> None:
    cockpit = open_cockpit(world)
    senior = UserFactory(email="senior@example.org")
    cockpit.assistants.add(senior)
    assert roles_for(senior, cockpit) == ["assistant"]
    cockpit = services.control_request(actor=world.technologist, role="operator", cockpit=cockpit)
    # Control is taken: the assistant's request waits for the holder.
    cockpit = services.control_request(actor=senior, role="assistant", cockpit=cockpit)
    assert cockpit.controller == world.technologist
    assert cockpit.control_requested_by == senior
    with pytest.raises(PermissionDenied, match="holding control"):
        services.control_grant(actor=senior, role="assistant", cockpit=cockpit)
    cockpit = services.control_grant(actor=world.technologist, role="operator", cockpit=cockpit)
    assert (cockpit.controller, cockpit.controller_role) == (senior, "assistant")
    assert cockpit.control_requested_by is None
    # The booked operator takes it back at any time (audited, with whom it was taken from).
    cockpit = services.control_take_over(actor=world.technologist, cockpit=cockpit)
    assert cockpit.controller == world.technologist
    take_over = AuditEvent.objects.get(action="cockpit.control_taken_over")
    assert take_over.actor == world.technologist
    assert take_over.data["from"] == senior.pk
    with pytest.raises(Conflict, match="already hold"):
        services.control_take_over(actor=world.technologist, cockpit=cockpit)
    with pytest.raises(PermissionDenied, match="booked operator"):
        services.control_take_over(actor=senior, cockpit=cockpit)
    cockpit = services.control_release(actor=world.technologist, cockpit=cockpit)
    assert cockpit.controller is None
    with pytest.raises(Conflict, match="do not hold"):
        services.control_release(actor=world.technologist, cockpit=cockpit)
    # Observers never hold control.
    with pytest.raises(PermissionDenied, match="Observers watch"):
        services.control_request(actor=world.manager, role="observer", cockpit=cockpit)
    # Granting to someone outside the session is refused.
    cockpit = services.control_request(actor=world.technologist, role="operator", cockpit=cockpit)
    with pytest.raises(ValidationFailed, match="only to the operator"):
        services.control_grant(
            actor=world.technologist, role="operator", cockpit=cockpit, to_user_id=world.outsider.pk
        )


def test_local_stop_and_override_win_over_the_operator(world: World) -> None:
    cockpit = open_cockpit(world)
    cockpit = services.control_request(actor=world.technologist, role="operator", cockpit=cockpit)
    cockpit = services.cockpit_stop(actor=world.local_staff, role="local", cockpit=cockpit)
    assert cockpit.stopped_at is not None
    assert (cockpit.controller, cockpit.local_override) == (world.local_staff, True)
    with pytest.raises(Conflict, match="taken the scanner back"):
        services.control_take_over(actor=world.technologist, cockpit=cockpit)
    with pytest.raises(PermissionDenied, match="do not hold control"):
        services.command_record(
            actor=world.technologist, role="operator", cockpit=cockpit, name="start", args={}
        )
    # The operator asks; local staff hand control back, and the override ends.
    cockpit = services.control_request(actor=world.technologist, role="operator", cockpit=cockpit)
    assert cockpit.controller == world.local_staff
    cockpit = services.control_grant(actor=world.local_staff, role="local", cockpit=cockpit)
    assert (cockpit.controller, cockpit.local_override) == (world.technologist, False)
    # Local staff take the scanner back without stopping it.
    cockpit = services.control_override(actor=world.local_staff, cockpit=cockpit)
    assert (cockpit.controller, cockpit.local_override) == (world.local_staff, True)
    with pytest.raises(PermissionDenied, match="local staff"):
        services.control_override(actor=world.technologist, cockpit=cockpit)
    # Only local staff or the controller stop.
    with pytest.raises(PermissionDenied, match="Only local staff or the person holding control"):
        services.cockpit_stop(actor=world.manager, role="observer", cockpit=cockpit)
    stop = AuditEvent.objects.get(action="cockpit.stopped")
    assert stop.actor == world.local_staff
    assert stop.data["control_from"] == world.technologist.pk


def test_console_commands_come_from_the_controller_only_and_are_audited(world: World) -> None:
    cockpit = open_cockpit(world)
    with pytest.raises(PermissionDenied, match="do not hold control"):
        services.command_record(
            actor=world.technologist, role="operator", cockpit=cockpit, name="start", args={}
        )
    assert not AuditEvent.objects.filter(action="cockpit.command").exists()
    cockpit = services.control_request(actor=world.technologist, role="operator", cockpit=cockpit)
    services.command_record(
        actor=world.technologist,
        role="operator",
        cockpit=cockpit,
        name="adjust",
        args={"parameter": "tr_ms", "value": 520.0},
    )
    command = AuditEvent.objects.get(action="cockpit.command")
    assert command.actor == world.technologist
    assert command.hospital == world.hospital
    assert command.data == {
        "booking": cockpit.booking_id,
        "name": "adjust",
        "args": {"parameter": "tr_ms", "value": 520.0},
        "role": "operator",
    }
    # Contrast is confirmed beside the patient.
    with pytest.raises(PermissionDenied, match="local staff"):
        services.contrast_confirm(actor=world.technologist, cockpit=cockpit)
    services.contrast_confirm(actor=world.local_staff, cockpit=cockpit)
    assert AuditEvent.objects.filter(action="cockpit.contrast_confirmed").count() == 1


def test_one_operator_controls_at_most_three_cockpits(world: World) -> None:
    cockpits = []
    for day in range(1, 5):
        booking = open_booking(
            world.manager, world.scanner, world.technologist, starts_in=timedelta(days=day)
        )
        cockpit = services.cockpit_open(booking=booking, ahead=True)
        cockpits.append(services.cockpit_approve_join(actor=world.local_staff, cockpit=cockpit))
    for cockpit in cockpits[:3]:
        services.control_request(actor=world.technologist, role="operator", cockpit=cockpit)
    with pytest.raises(Conflict, match="control of 3 cockpits"):
        services.control_request(actor=world.technologist, role="operator", cockpit=cockpits[3])
    services.control_release(actor=world.technologist, cockpit=cockpits[0])
    cockpit = services.control_request(
        actor=world.technologist, role="operator", cockpit=cockpits[3]
    )
    assert cockpit.controller == world.technologist


def test_the_cockpit_records_the_hours_the_ledger_credits(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An independent technologist works on Sainte-Claire's scanner: credited for the time from
    the first sequence to the close, not for the booked two hours."""
    operator = world.outsider
    booking = open_booking(world.manager, world.scanner, operator, starts_in=timedelta(minutes=2))
    cockpit = services.cockpit_open(booking=booking)
    cockpit = services.cockpit_approve_join(actor=world.local_staff, cockpit=cockpit)
    start = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: start)
    cockpit = services.cockpit_mark_started(cockpit=cockpit)
    booking.refresh_from_db()
    assert booking.status == "in_progress"
    assert booking.started_at == cockpit.started_at == start
    assert services.cockpit_mark_started(cockpit=cockpit).started_at == start  # only once
    with pytest.raises(Conflict, match="not finished"):
        services.cockpit_close(actor=operator, cockpit=cockpit, finished=False)
    end = start + timedelta(minutes=90)
    monkeypatch.setattr(timezone, "now", lambda: end)
    with pytest.raises(PermissionDenied, match="booked operator"):
        services.cockpit_close(actor=world.local_staff, cockpit=cockpit, finished=True)
    cockpit = services.cockpit_close(actor=operator, cockpit=cockpit, finished=True)
    booking.refresh_from_db()
    assert (booking.status, booking.completed_at, cockpit.ended_at) == ("completed", end, end)
    assert cockpit.status == "ended"
    entry = LedgerEntry.objects.get(booking=booking)
    assert (entry.creditor_technologist, entry.debtor_hospital) == (operator, world.hospital)
    assert entry.hours == Decimal("1.50")
    with pytest.raises(Conflict, match="ended"):
        services.control_request(actor=operator, role="operator", cockpit=cockpit)


def test_a_booking_started_by_hand_counts_the_exam_from_its_first_sequence(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "Start" pressed 10 minutes before the session (allowed from 15): the booking is in
    progress from then, but the cockpit's start, which the dashboard's exam hours and the exam's
    hours count from, is its first sequence, 15 minutes later."""
    booking = open_booking(
        world.manager, world.scanner, world.technologist, starts_in=timedelta(minutes=10)
    )
    cockpit = services.cockpit_open(booking=booking)
    pressed = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: pressed)
    scheduling_services.booking_start(actor=world.technologist, booking=booking)
    first_sequence = pressed + timedelta(minutes=15)
    monkeypatch.setattr(timezone, "now", lambda: first_sequence)
    cockpit = services.cockpit_mark_started(cockpit=cockpit)
    booking.refresh_from_db()
    assert (booking.status, booking.started_at) == ("in_progress", pressed)
    assert (cockpit.status, cockpit.started_at) == ("live", first_sequence)
    monkeypatch.setattr(timezone, "now", lambda: first_sequence + timedelta(minutes=5))
    assert services.cockpit_mark_started(cockpit=cockpit).started_at == first_sequence


def test_chat_never_carries_patient_data() -> None:
    assert services.chat_check("  Coil ready, table in.  ") == "Coil ready, table in."
    with pytest.raises(ValidationFailed, match="phone number"):
        services.chat_check("call me on +32 470 12 34 56")
    with pytest.raises(ValidationFailed, match="empty"):
        services.chat_check("   ")


def test_a_booking_cancelled_outside_the_cockpit_closes_it(world: World) -> None:
    cockpit = open_cockpit(world)
    cockpit = services.control_request(actor=world.technologist, role="operator", cockpit=cockpit)
    scheduling_services.booking_cancel(
        actor=world.manager, booking=cockpit.booking, reason="Scanner down for service."
    )
    with pytest.raises(Conflict, match="booking is cancelled: the cockpit is closed"):
        services.command_record(
            actor=world.technologist, role="operator", cockpit=cockpit, name="start", args={}
        )
    with pytest.raises(Conflict, match="cockpit is closed"):
        services.control_take_over(actor=world.technologist, cockpit=cockpit)
    # The control it held no longer counts towards the operator's three.
    assert controlled_count(user=world.technologist) == 0


# --- Link loss and the pre-scan checklist -----------------------------------------------------


def test_control_falls_back_to_local_staff_once_and_only_from_a_remote_holder(
    world: World,
) -> None:
    cockpit = open_cockpit(world)
    # Nobody holds control, or local staff do: nothing to do.
    assert not services.control_fallback(
        cockpit=cockpit, lost_user_id=world.technologist.pk, why="x"
    )
    services.control_override(actor=world.local_staff, cockpit=cockpit)
    assert not services.control_fallback(
        cockpit=cockpit, lost_user_id=world.local_staff.pk, why="x"
    )
    services.control_grant(
        actor=world.local_staff, role="local", cockpit=cockpit, to_user_id=world.technologist.pk
    )
    # Someone else's link: nothing to do.
    assert not services.control_fallback(cockpit=cockpit, lost_user_id=world.manager.pk, why="x")

    assert services.control_fallback(
        cockpit=cockpit, lost_user_id=world.technologist.pk, why="their connection closed"
    )
    cockpit.refresh_from_db()
    # No checklist yet: local staff as a whole hold the scanner.
    assert (cockpit.controller, cockpit.controller_role, cockpit.local_override) == (None, "", True)
    assert not services.control_fallback(
        cockpit=cockpit, lost_user_id=world.technologist.pk, why="their connection closed"
    )
    assert _actions(cockpit).count("cockpit.control_fallback") == 1
    # The operator cannot take it back over.
    with pytest.raises(Conflict, match="taken the scanner back"):
        services.control_take_over(actor=world.technologist, cockpit=cockpit)


def test_after_the_checklist_control_falls_back_to_the_technologist_beside_the_patient(
    world: World,
) -> None:
    cockpit = open_cockpit(world)
    services.prescan_confirm(
        actor=world.local_staff,
        role="local",
        cockpit=cockpit,
        beside_patient_id=world.manager.pk,  # a manager of the scanning site may stand there
        patient_informed=True,
        links=None,
    )
    services.control_request(actor=world.technologist, role="operator", cockpit=cockpit)
    assert services.control_fallback(cockpit=cockpit, lost_user_id=world.technologist.pk, why="x")
    cockpit.refresh_from_db()
    assert (cockpit.controller, cockpit.controller_role, cockpit.local_override) == (
        world.manager,
        "local",
        True,
    )
    event = AuditEvent.objects.get(action="cockpit.control_fallback")
    assert event.data == {
        "booking": cockpit.booking_id,
        "from": world.technologist.pk,
        "why": "x",
        "to": world.manager.pk,
    }


def test_the_checklist_link_check_needs_a_connected_remote_controller(world: World) -> None:
    cockpit = open_cockpit(world)
    services.control_request(actor=world.technologist, role="operator", cockpit=cockpit)
    operator = {"id": world.technologist.pk, "name": "T", "role": "operator"}
    local = {"id": world.local_staff.pk, "name": "L", "role": "local"}
    arguments = {
        "actor": world.local_staff,
        "role": "local",
        "cockpit": cockpit,
        "beside_patient_id": None,
        "patient_informed": True,
    }
    # Only local staff's own link was measured: the remote controller is not connected.
    with pytest.raises(Conflict, match="the person holding control is not connected"):
        services.prescan_confirm(
            **arguments, links=[{"person": local, "rtt_ms": 3, "jitter_ms": 1, "level": "ok"}]
        )
    with pytest.raises(PermissionDenied, match="Only local staff"):
        services.prescan_confirm(
            **{**arguments, "actor": world.technologist, "role": "operator"}, links=None
        )
    services.prescan_confirm(
        **arguments, links=[{"person": operator, "rtt_ms": 90, "jitter_ms": 4, "level": "ok"}]
    )
    check = cockpit.prescan_check
    assert (check.link_level, check.beside_patient, check.confirmed_by) == (
        "ok",
        world.local_staff,
        world.local_staff,
    )
