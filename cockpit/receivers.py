"""What the cockpit hears from the apps below it (connected in `CockpitConfig.ready`): a booking
closed outside the cockpit (cancelled, completed from its page or the API, a no-show) ends its
cockpit at once: everyone in it sees the session end with the reason, and the scanner's socket
is closed as when the cockpit ends itself. A booking completed that way ends its cockpit inside
its own transaction instead (`booking_exam_close`), so the booking's notice names the exam's
outcome and the hours it ran."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import transaction

from cockpit.broadcast import console_state_read, session_event_send
from cockpit.models import CockpitSession, CockpitStatus, ExamRecord
from cockpit.selectors import cockpit_get, session_view


def booking_closed_received(
    sender: Any,
    *,
    booking_id: int,
    status: str,
    actor_id: int | None,
    reason: str,
    **kwargs: Any,
) -> None:
    from cockpit.services import cockpit_end_for_booking

    cockpit = CockpitSession.objects.filter(booking_id=booking_id).first()
    if cockpit is None or cockpit.status == CockpitStatus.ENDED:
        return  # no cockpit, or it closed the booking itself
    console = console_state_read(cockpit) if cockpit.started_at is not None else None
    ended = cockpit_end_for_booking(booking_id=booking_id, console=console, actor_id=actor_id)
    if ended is None:
        return
    _ended_send(ended.pk, reason)


def booking_exam_close(booking_id: int, actor_id: int | None, reason: str) -> None:
    """The booking is being completed outside the cockpit (`scheduling.exams.exam_close`, inside
    its transaction): the cockpit ends now and writes the exam's summary, before the booking
    tells anyone how it went; the room is told once it commits. Nothing to do when the cockpit
    is closing the booking itself (its summary is written already) or had ended."""
    from cockpit.services import cockpit_end_for_booking

    cockpit = CockpitSession.objects.filter(booking_id=booking_id).first()
    if cockpit is None or cockpit.status == CockpitStatus.ENDED:
        return
    if ExamRecord.objects.filter(cockpit=cockpit).exists():
        return
    console = console_state_read(cockpit) if cockpit.started_at is not None else None
    ended = cockpit_end_for_booking(booking_id=booking_id, console=console, actor_id=actor_id)
    if ended is not None:
        cockpit_id = ended.pk
        transaction.on_commit(lambda: _ended_send(cockpit_id, reason), robust=True)


def booking_exam_lock(booking_id: int) -> None:
    """The booking is about to be completed outside the cockpit: its cockpit's row is locked
    first, as the cockpit's own moves lock it before the booking."""
    list(CockpitSession.objects.select_for_update().filter(booking_id=booking_id).values("pk"))


def _ended_send(cockpit_id: int, reason: str) -> None:
    """Everyone in the cockpit sees the session end, with the reason."""
    fresh = cockpit_get(cockpit_id=cockpit_id)
    session_event_send(
        fresh, "session", {**session_view(fresh), "ended_reason": reason}, ended=True
    )


def operator_joins(booking_ids: Sequence[int]) -> dict[int, datetime]:
    """When the booked technologist first joined each booking's cockpit as operator (the reader
    `scheduling.no_shows` asks; bookings whose operator never joined are left out). One query."""
    rows = CockpitSession.objects.filter(
        booking_id__in=booking_ids, operator_joined_at__isnull=False
    ).values_list("booking_id", "operator_joined_at")
    return {booking_id: joined for booking_id, joined in rows if joined is not None}
