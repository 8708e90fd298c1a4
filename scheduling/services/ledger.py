"""Writing the reciprocity ledger. The booking services call these inside their own transaction,
right after the move is saved, so that the booking and its entry commit or roll back together.

A completed booking credits whoever gave the hours (the lending hospital, or the independent
technologist when no hospital lent them) and debits the posting's hospital with the hours worked;
a hospital's late cancellation or its no-show (the booked technologist was there, the site was not)
debits it the booked hours. No entry when the lender is the
receiving hospital itself, nor when a member of the receiving hospital worked for it on their own
time: both are its own staff, and nothing passes between hospitals. One entry per booking and
kind (a unique constraint): recording twice changes nothing."""

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

from django.db import transaction
from django.utils import timezone

from core.audit import audit_record
from marketplace.models import Membership
from scheduling.ledger import worked_hours
from scheduling.models import Booking, BookingStatus, Initiator, LedgerEntry, LedgerKind, Side

__all__ = [
    "HelpGiven",
    "ledger_record_assist",
    "ledger_record_completed",
    "ledger_record_hospital_no_show",
    "ledger_record_late_cancellation",
]


class _InCockpit(Protocol):
    @property
    def booking(self) -> Booking: ...


class HelpGiven(Protocol):
    """A senior's help in a cockpit as the ledger reads it: the cockpit's `AssistRequest`.
    Scheduling sits below the cockpit and never imports it; the cockpit passes its own row."""

    @property
    def pk(self) -> int: ...
    @property
    def cockpit(self) -> _InCockpit: ...
    @property
    def accepted_by_id(self) -> int | None: ...
    @property
    def accepted_at(self) -> datetime | None: ...
    @property
    def ended_at(self) -> datetime | None: ...
    @property
    def senior_hospital_id(self) -> int | None: ...


@transaction.atomic
def ledger_record_completed(*, booking: Booking) -> LedgerEntry | None:
    """The hours worked on a completed booking (see `scheduling.ledger.worked_hours`: from the
    cockpit's record of start and end, at most the booked hours, the booked hours when the
    record lacks a start). None when nothing is owed: own staff, or no time worked."""
    if booking.status != BookingStatus.COMPLETED:
        return None
    hours = worked_hours(
        started_at=booking.started_at, completed_at=booking.completed_at, booked=booking.hours
    )
    return _record(
        booking,
        kind=LedgerKind.COMPLETED,
        hours=hours,
        occurred_at=booking.completed_at or timezone.now(),
    )


@transaction.atomic
def ledger_record_late_cancellation(*, booking: Booking) -> LedgerEntry | None:
    """A confirmed booking the hospital cancelled under 24 h before the start: the hospital owes
    the booked hours. A technologist's late cancellation is no entry (it is in their record of
    facts), nor is any cancellation in time."""
    if not (
        booking.status == BookingStatus.CANCELLED
        and booking.late
        and booking.cancelled_side == Initiator.HOSPITAL
    ):
        return None
    return _record(
        booking,
        kind=LedgerKind.LATE_CANCELLATION,
        hours=booking.hours,
        occurred_at=booking.closed_at or timezone.now(),
    )


@transaction.atomic
def ledger_record_hospital_no_show(*, booking: Booking) -> LedgerEntry | None:
    """The site was not there to scan (no local staff, the scanner not ready) when the booked
    technologist was: the hospital owes the booked hours, as for its late cancellation, since
    the technologist's side had kept the session free and lost it at the last moment. A
    technologist's no-show is no entry (it is in their record of facts)."""
    if not (booking.status == BookingStatus.NO_SHOW and booking.no_show_side == Side.HOSPITAL):
        return None
    return _record(
        booking,
        kind=LedgerKind.HOSPITAL_NO_SHOW,
        hours=booking.hours,
        occurred_at=booking.closed_at or timezone.now(),
    )


@transaction.atomic
def ledger_record_assist(*, assist: HelpGiven) -> LedgerEntry | None:
    """A senior's help in a cockpit: the time from accepting to the end of the help, credited to
    the senior's hospital (or to the independent senior) and debited to the scanning hospital.
    Nothing when the senior works for the scanning hospital itself. Once per request."""
    if assist.accepted_at is None or assist.ended_at is None or assist.accepted_by_id is None:
        return None
    booking = assist.cockpit.booking
    debtor = booking.posting.hospital
    seconds = Decimal((assist.ended_at - assist.accepted_at).total_seconds())
    hours = (seconds / Decimal(3600)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    lender_id = assist.senior_hospital_id
    if hours <= 0 or lender_id == debtor.pk:
        return None
    if (
        lender_id is None
        and Membership.objects.filter(user_id=assist.accepted_by_id, hospital=debtor).exists()
    ):
        return None
    entry, created = LedgerEntry.objects.get_or_create(
        assist_id=assist.pk,
        defaults={
            "booking": booking,
            "kind": LedgerKind.ASSIST,
            "creditor_hospital_id": lender_id,
            "creditor_technologist_id": None if lender_id else assist.accepted_by_id,
            "debtor_hospital": debtor,
            "hours": hours,
            "occurred_at": assist.ended_at,
        },
    )
    if created:
        _audit_entry(entry, booking=booking, hours=hours)
    return entry


def _record(
    booking: Booking, *, kind: str, hours: Decimal, occurred_at: datetime
) -> LedgerEntry | None:
    debtor = booking.posting.hospital
    lender_id = booking.lending_hospital_id
    if hours <= 0 or lender_id == debtor.pk:
        return None
    if (
        lender_id is None
        and Membership.objects.filter(user_id=booking.technologist_id, hospital=debtor).exists()
    ):
        return None
    entry, created = LedgerEntry.objects.get_or_create(
        booking=booking,
        kind=kind,
        defaults={
            "creditor_hospital_id": lender_id,
            "creditor_technologist_id": None if lender_id else booking.technologist_id,
            "debtor_hospital": debtor,
            "hours": hours,
            "occurred_at": occurred_at,
        },
    )
    if created:
        _audit_entry(entry, booking=booking, hours=hours)
    return entry


def _audit_entry(entry: LedgerEntry, *, booking: Booking, hours: Decimal) -> None:
    audit_record(
        actor=None,
        action=f"ledger.{entry.kind}",
        target=entry,
        hospital=entry.debtor_hospital,
        data={
            "booking": booking.pk,
            "hours": str(hours),
            "creditor_hospital": entry.creditor_hospital_id,
            "creditor_technologist": entry.creditor_technologist_id,
            "debtor_hospital": entry.debtor_hospital_id,
            **({"assist": entry.assist_id} if entry.assist_id else {}),
        },
    )
