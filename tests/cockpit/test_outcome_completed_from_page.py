"""A booking completed from its page (or the API) while its cockpit ran: the exam's summary is
written before the booking tells anyone, so the hospital's notice and the booking page's
timeline name the outcome ("Aborted (0 of 5 sequences done)", "Completed — partial …") and the
hours the cockpit ran, never plainly "Completed" with the booked hours; the incident notice for
an exam that did not complete says the same."""

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from cockpit import services
from cockpit.groups import store_prefix
from cockpit.models import CockpitSession, ExamRecord
from cockpit.store import store
from core.models import Notification
from scheduling import services as scheduling_services
from tests.cockpit.support import open_booking
from tests.cockpit.test_outcome_services import console_after
from tests.conftest import World, client_for

pytestmark = pytest.mark.django_db

BRUSSELS = ZoneInfo("Europe/Brussels")


def _hhmm(moment: Any) -> str:
    return str(moment.astimezone(BRUSSELS).strftime("%H:%M"))


def _running(
    world: World, console: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> tuple[CockpitSession, Any]:
    """The cockpit of a two-hour booking, started (the clock held there) with `console` kept by
    the relay; and the moment it started."""
    booking = open_booking(
        world.manager, world.scanner, world.technologist, starts_in=timedelta(minutes=2)
    )
    cockpit = services.cockpit_open(booking=booking)
    cockpit = services.cockpit_approve_join(actor=world.local_staff, cockpit=cockpit)
    start = timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=1)
    monkeypatch.setattr(timezone, "now", lambda: start)
    cockpit = services.cockpit_mark_started(cockpit=cockpit)
    async_to_sync(store().publish)(
        store_prefix(cockpit), "state", {"full": True}, snapshot_state=console
    )
    return cockpit, start


def _complete_from_page(
    world: World, cockpit: CockpitSession, *, at: Any, monkeypatch: pytest.MonkeyPatch, capture: Any
) -> None:
    """The operator presses Complete on the booking page `at` that moment."""
    monkeypatch.setattr(timezone, "now", lambda: at)
    with capture(execute=True):
        response = client_for(world.technologist).post(f"/bookings/{cockpit.booking_id}/complete/")
    assert response.status_code in (302, 303)


def _messages(kind: str) -> list[str]:
    return list(Notification.objects.filter(kind=kind).values_list("message", flat=True))


def test_an_aborted_exam_completed_from_the_page_is_told_as_aborted_with_the_hours_run(
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    console = {**console_after(protocol="msk"), "status": "stopped"}  # no sequence finished
    cockpit, start = _running(world, console, monkeypatch)
    end = start + timedelta(minutes=4)
    _complete_from_page(
        world, cockpit, at=end, monkeypatch=monkeypatch, capture=django_capture_on_commit_callbacks
    )

    cockpit.refresh_from_db()
    record = ExamRecord.objects.get(cockpit=cockpit)
    label = "Aborted (0 of 5 sequences done)"
    assert (record.outcome, record.ending, record.label) == ("aborted", "booking", label)
    assert (cockpit.status, cockpit.ended_at, record.ended_at) == ("ended", end, end)
    # One notice of the booking, naming the outcome and the hours the cockpit ran.
    ran = f"ran on {start.astimezone(BRUSSELS):%a %d %b} {_hhmm(start)}–{_hhmm(end)}"
    assert _messages("booking.completed") == [
        f"{label}: the session at {world.hospital.name} {ran} (Europe/Brussels), "
        "0.07 h of the 2 h booked."
    ]
    # The incident notice says the same outcome; no notice says plainly "Completed".
    (incident,) = _messages("cockpit.exam_aborted")
    assert incident.startswith(f"Exam {label.lower()} on {world.scanner.name}")
    assert not [
        m for m in Notification.objects.values_list("message", flat=True) if "Completed" in m
    ]
    # The room was told the session ended, and why.
    texts = async_to_sync(store().since)(store_prefix(cockpit), 1)
    assert texts is not None
    assert '"ended_reason":"The booking was completed from its page."' in texts[-1]

    # The booking page: headed by the outcome, its timeline row too, and the hours run.
    page = client_for(world.manager).get(f"/bookings/{cockpit.booking_id}/").content.decode()
    assert f'id="booking-status">{label}</span>' in page
    assert f'<dt id="booking-completed">{label}</dt>' in page
    assert "<dt>Completed</dt>" not in page
    assert f"0.07 h run, {_hhmm(start)}–{_hhmm(end)}" in page


def test_a_partial_exam_completed_through_the_api_names_the_outcome(
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    console = {**console_after("start", "start"), "status": "stopped"}
    cockpit, start = _running(world, console, monkeypatch)
    end = start + timedelta(minutes=45)
    monkeypatch.setattr(timezone, "now", lambda: end)
    booking = cockpit.booking
    booking.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        scheduling_services.booking_complete(actor=world.manager, booking=booking)
    label = "Completed — partial (2 of 7 sequences)"
    # Told to the operator (the other side), with the hours run.
    (told,) = _messages("booking.completed")
    assert told.startswith(f"{label}: the session at {world.hospital.name} ran on ")
    assert told.endswith(
        f"{_hhmm(start)}–{_hhmm(end)} (Europe/Brussels), 0.75 h of the 2 h booked."
    )
    assert len(_messages("cockpit.exam_partial")) == 1


def test_a_fully_completed_exam_completed_from_the_page_says_completed_and_the_hours_run(
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    finished = console_after(*["start"] * 5, protocol="msk")
    assert finished["status"] == "finished"
    cockpit, start = _running(world, finished, monkeypatch)
    end = start + timedelta(minutes=90)
    _complete_from_page(
        world, cockpit, at=end, monkeypatch=monkeypatch, capture=django_capture_on_commit_callbacks
    )
    record = ExamRecord.objects.get(cockpit=cockpit)
    assert (record.outcome, record.label) == ("completed", "Completed")
    (told,) = _messages("booking.completed")
    assert told.startswith(f"Completed: the session at {world.hospital.name} ran on ")
    assert told.endswith(f"{_hhmm(start)}–{_hhmm(end)} (Europe/Brussels), 1.5 h of the 2 h booked.")
    assert not Notification.objects.filter(kind__startswith="cockpit.exam_").exists()
    page = client_for(world.manager).get(f"/bookings/{cockpit.booking_id}/").content.decode()
    assert '<dt id="booking-completed">Completed</dt>' in page
    assert f"1.50 h run, {_hhmm(start)}–{_hhmm(end)}" in page


def test_ending_early_in_the_cockpit_tells_the_hours_run_too(
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    console = {**console_after("start"), "status": "stopped"}
    cockpit, start = _running(world, console, monkeypatch)
    end = start + timedelta(minutes=30)
    monkeypatch.setattr(timezone, "now", lambda: end)
    with django_capture_on_commit_callbacks(execute=True):
        services.cockpit_end_early(
            actor=world.technologist, role="operator", cockpit=cockpit, console=console
        )
    (told,) = _messages("booking.completed")
    assert told.startswith("Completed — partial (1 of 7 sequences): the session at ")
    assert told.endswith(f"{_hhmm(start)}–{_hhmm(end)} (Europe/Brussels), 0.5 h of the 2 h booked.")
    assert ExamRecord.objects.filter(cockpit=cockpit).count() == 1
