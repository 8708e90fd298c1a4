"""The exam's outcome through the services: every STOP kept with who, when and why; ending an
exam that was stopped or cut short; the summary however the cockpit ends (closed, ended early,
its booking closed outside it); the managers told; the ledger crediting the hours it ran."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from cockpit import services
from cockpit.groups import store_prefix
from cockpit.models import CockpitSession, CockpitStop, ExamRecord
from cockpit.selectors import outcome_view
from cockpit.simulator import Console
from cockpit.store import store
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.models import AuditEvent, Notification
from core.tasks import notification_subject
from scheduling import services as scheduling_services
from scheduling.models import LedgerEntry
from tests.cockpit.support import open_booking, open_cockpit
from tests.conftest import World

pytestmark = pytest.mark.django_db


def console_after(*commands: str, protocol: str = "neuro", scan_s: float = 10_000) -> Any:
    """A console state after `commands`, each given `scan_s` seconds of scanning."""
    console = Console(protocol, seed=3, now=0.0, alarms=False)
    now = 0.0
    for name in commands:
        console.apply(name, {}, now=now)
        now += scan_s
        console.tick(now)
    return console.state()


def started(world: World, **options: Any) -> CockpitSession:
    cockpit = open_cockpit(world, **options)
    return services.cockpit_mark_started(cockpit=cockpit)


def managers_told(kind: str) -> list[str]:
    return sorted(Notification.objects.filter(kind=kind).values_list("recipient__email", flat=True))


def test_every_stop_is_kept_with_who_and_when_and_the_managers_are_told(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    cockpit = started(world)
    with django_capture_on_commit_callbacks(execute=True):
        services.cockpit_stop(actor=world.local_staff, role="local", cockpit=cockpit)
    stop = CockpitStop.objects.get(cockpit=cockpit)
    assert (stop.by, stop.role, stop.reason) == (world.local_staff, "local", "")
    assert stop.at == CockpitSession.objects.get(pk=cockpit.pk).stopped_at
    assert managers_told("cockpit.stopped") == ["manager@example.org"]
    notice = Notification.objects.get(kind="cockpit.stopped")
    assert notice.message.startswith(f"STOP pressed by {world.local_staff.display_name} (local")
    assert "(Europe/Brussels)" in notice.message
    assert notification_subject(notice) == "[WeScan] Incident: STOP pressed in a cockpit"
    # The session's view lists it, in the site's zone.
    view = outcome_view(cockpit)
    assert view["time_zone"] == "Europe/Brussels"
    assert [s["id"] for s in view["stops"]] == [stop.pk]


def test_local_staff_or_whoever_pressed_it_give_a_stops_reason_after_the_fact(
    world: World,
) -> None:
    cockpit = started(world)
    services.control_request(actor=world.technologist, role="operator", cockpit=cockpit)
    services.cockpit_stop(actor=world.technologist, role="operator", cockpit=cockpit)
    stop = CockpitStop.objects.get(cockpit=cockpit)
    assert stop.role == "operator"

    given = services.stop_reason_set(
        actor=world.technologist,
        role="operator",
        cockpit=cockpit,
        stop_id=stop.pk,
        reason="  Motion artefacts on DWI, repositioning.  ",
    )
    assert (given.reason, given.reason_by) == (
        "Motion artefacts on DWI, repositioning.",
        world.technologist,
    )
    # Local staff may say it better; an observer may not; nor may one who did not press it.
    services.stop_reason_set(
        actor=world.local_staff, role="local", cockpit=cockpit, stop_id=stop.pk, reason="Coil off"
    )
    with pytest.raises(PermissionDenied, match="Only local staff or whoever pressed"):
        services.stop_reason_set(
            actor=world.manager, role="operator", cockpit=cockpit, stop_id=stop.pk, reason="x"
        )
    services.control_request(actor=world.local_staff, role="local", cockpit=cockpit)
    services.cockpit_stop(actor=world.local_staff, role="local", cockpit=cockpit)
    second = CockpitStop.objects.filter(cockpit=cockpit).latest("pk")
    with pytest.raises(PermissionDenied, match="whoever pressed"):
        services.stop_reason_set(
            actor=world.technologist,
            role="operator",
            cockpit=cockpit,
            stop_id=second.pk,
            reason="Not mine to say",
        )
    with pytest.raises(NotFound):
        services.stop_reason_set(
            actor=world.local_staff, role="local", cockpit=cockpit, stop_id=10**9, reason="x"
        )
    # Bounded, not empty, and never the patient.
    with pytest.raises(ValidationFailed, match="500 characters"):
        services.stop_reason_set(
            actor=world.local_staff,
            role="local",
            cockpit=cockpit,
            stop_id=second.pk,
            reason="x" * 1001,
        )
    with pytest.raises(ValidationFailed, match="empty"):
        services.stop_reason_set(
            actor=world.local_staff, role="local", cockpit=cockpit, stop_id=second.pk, reason=" "
        )
    with pytest.raises(ValidationFailed):
        services.stop_reason_set(
            actor=world.local_staff,
            role="local",
            cockpit=cockpit,
            stop_id=second.pk,
            reason="Patient born 12/03/1961 felt unwell",
        )
    assert CockpitStop.objects.get(pk=second.pk).reason == ""
    actions = AuditEvent.objects.filter(action="cockpit.stop_reason").count()
    assert actions == 2


def test_an_exam_stopped_early_is_ended_as_partial_and_credits_the_hours_it_ran(
    world: World, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    operator = world.outsider  # independent: the ledger credits them
    booking = open_booking(world.manager, world.scanner, operator, starts_in=timedelta(minutes=2))
    cockpit = services.cockpit_open(booking=booking)
    cockpit = services.cockpit_approve_join(actor=world.local_staff, cockpit=cockpit)
    start = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: start)
    cockpit = services.cockpit_mark_started(cockpit=cockpit)
    services.cockpit_stop(actor=world.local_staff, role="local", cockpit=cockpit)
    # Two sequences done, the third stopped part-way: the console says so.
    console = console_after("start", "start")
    console["sequences"][2].update(status="aborted", progress=0.4)
    console["status"] = "stopped"

    with pytest.raises(Conflict, match="stop the scan first"):
        services.cockpit_end_early(
            actor=world.local_staff,
            role="local",
            cockpit=cockpit,
            console={**console, "status": "running"},
        )
    for actor, role in ((world.manager, "observer"), (world.local_staff, "assistant")):
        with pytest.raises(PermissionDenied, match="operator or local staff"):
            services.cockpit_end_early(actor=actor, role=role, cockpit=cockpit, console=console)
    with pytest.raises(PermissionDenied):
        services.cockpit_end_early(
            actor=world.technologist, role="operator", cockpit=cockpit, console=console
        )

    end = start + timedelta(minutes=45)
    monkeypatch.setattr(timezone, "now", lambda: end)
    with django_capture_on_commit_callbacks(execute=True):
        cockpit = services.cockpit_end_early(
            actor=world.local_staff, role="local", cockpit=cockpit, console=console
        )
    booking.refresh_from_db()
    assert (booking.status, booking.completed_at, cockpit.ended_at) == ("completed", end, end)
    assert cockpit.status == "ended"
    assert cockpit.controller is None
    record = ExamRecord.objects.get(cockpit=cockpit)
    assert (record.outcome, record.sequences_done, record.sequences_total) == ("partial", 2, 7)
    assert [s["outcome"] for s in record.sequences] == ["done", "done", "aborted"] + ["skipped"] * 4
    assert (record.ending, record.ended_by, record.ended_role) == (
        "early",
        world.local_staff,
        "local",
    )
    assert record.label == "Completed — partial (2 of 7 sequences)"
    assert LedgerEntry.objects.get(booking=booking).hours == Decimal("0.75")
    assert managers_told("cockpit.exam_partial") == ["manager@example.org"]
    # What the booking tells the hospital names the outcome, never plainly "Completed".
    completed = Notification.objects.get(kind="booking.completed")
    assert completed.message.startswith("Completed — partial (2 of 7 sequences): the session")
    assert record.ended_at == end
    assert "cockpit.ended_early" in AuditEvent.objects.values_list("action", flat=True)
    with pytest.raises(Conflict, match="ended"):
        services.cockpit_end_early(
            actor=world.local_staff, role="local", cockpit=cockpit, console=console
        )
    # After the fact: the STOP's reason can still be given.
    stop = CockpitStop.objects.get(cockpit=cockpit)
    services.stop_reason_set(
        actor=world.local_staff, role="local", cockpit=cockpit, stop_id=stop.pk, reason="Unwell"
    )


def test_an_exam_never_started_cannot_be_ended_early(world: World) -> None:
    cockpit = open_cockpit(world)
    with pytest.raises(Conflict, match="Nothing was scanned"):
        services.cockpit_end_early(
            actor=world.technologist, role="operator", cockpit=cockpit, console=None
        )


def test_closing_a_finished_protocol_records_completed_or_partial(world: World) -> None:
    cockpit = started(world)
    finished = console_after(*["start"] * 5, protocol="msk")
    assert finished["status"] == "finished"
    services.cockpit_close(
        actor=world.technologist, cockpit=cockpit, finished=True, console=finished
    )
    record = ExamRecord.objects.get(cockpit=cockpit)
    assert (record.outcome, record.ending, record.sequences_done) == ("completed", "closed", 5)
    assert not Notification.objects.filter(kind__startswith="cockpit.exam_").exists()

    other = open_booking(
        world.manager, world.scanner, world.technologist, starts_in=timedelta(hours=3)
    )
    second = services.cockpit_open(booking=other, ahead=True)
    second = services.cockpit_approve_join(actor=world.local_staff, cockpit=second)
    # Started hours ahead of its slot (as if a sequence ran), then finished with sequences skipped.
    second.started_at, second.status = timezone.now(), "live"
    second.save(update_fields=["started_at", "status"])
    other.status, other.started_at = "in_progress", second.started_at
    other.save(update_fields=["status", "started_at"])
    skipped = console_after("start", *["next_sequence"] * 6)
    assert skipped["status"] == "finished"
    services.cockpit_close(actor=world.technologist, cockpit=second, finished=True, console=skipped)
    record = ExamRecord.objects.get(cockpit=second)
    assert (record.outcome, record.sequences_done) == ("partial", 1)


def test_a_booking_completed_from_its_page_ends_the_cockpit_with_its_summary(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    cockpit = started(world)
    prefix = store_prefix(cockpit)
    console = console_after("start", "start", "start")
    async_to_sync(store().publish)(prefix, "state", {"full": True}, snapshot_state=console)
    booking = cockpit.booking
    booking.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        scheduling_services.booking_complete(actor=world.manager, booking=booking)
    cockpit.refresh_from_db()
    booking.refresh_from_db()
    assert (cockpit.status, cockpit.ended_at) == ("ended", booking.completed_at)
    record = ExamRecord.objects.get(cockpit=cockpit)
    assert (record.outcome, record.ending, record.sequences_done) == ("partial", "booking", 3)
    assert record.ended_by == world.manager
    # Everyone in the room was told: the session ended, with the reason.
    snapshot = async_to_sync(store().since)(prefix, 1)
    assert snapshot is not None
    assert '"ended_reason":"The booking was completed from its page."' in snapshot[-1]


def test_a_booking_cancelled_outside_ends_its_cockpit_without_a_summary(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    cockpit = open_cockpit(world)
    with django_capture_on_commit_callbacks(execute=True):
        scheduling_services.booking_cancel(
            actor=world.manager, booking=cockpit.booking, reason="Scanner down for service."
        )
    cockpit.refresh_from_db()
    assert (cockpit.status, cockpit.ended_at) == ("ended", None)
    assert not ExamRecord.objects.filter(cockpit=cockpit).exists()
    texts = async_to_sync(store().since)(store_prefix(cockpit), 0)
    assert texts is not None
    assert len(texts) == 1
    assert '"ended_reason":"The booking was cancelled: Scanner down for service."' in texts[0]
