"""How a booking's exam went, as the app that ran it (the cockpit) records it.

Scheduling sits below the cockpit (core → accounts → marketplace → scheduling → cockpit) and never
imports it: the cockpit registers a reader when it loads (`exam_reader_set`, from its
AppConfig.ready). The booking page, the lists, the API and the calendar feed read through
`bookings_with_exam` and `booking_status_label`, so a partial or aborted exam is never shown as
plainly "Completed", and the hours shown are those the exam ran once it ran. Without a reader,
or for a booking never run in a cockpit, a booking shows its own status and booked hours."""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from scheduling.ledger import worked_hours
from scheduling.models import Booking, BookingStatus


@dataclass(frozen=True)
class ExamSummary:
    """One booking's exam: when it ran and, once it ended, how it went."""

    started_at: datetime | None
    ended_at: datetime | None
    outcome: str = ""  # "completed" | "partial" | "aborted"; "" while it runs
    label: str = ""  # e.g. "Completed — partial (3 of 5 sequences)"
    done: int = 0
    total: int = 0

    @property
    def ran(self) -> bool:
        return self.started_at is not None

    def hours(self, booked: Decimal) -> Decimal | None:
        """The hours it ran, as the ledger counts them (None until it ended)."""
        if self.started_at is None or self.ended_at is None:
            return None
        return worked_hours(started_at=self.started_at, completed_at=self.ended_at, booked=booked)


# Booking ids -> the summaries of those that have an exam record or started.
ExamReader = Callable[[Sequence[int]], dict[int, ExamSummary]]
_readers: list[ExamReader] = []


def exam_reader_set(reader: ExamReader | None) -> None:
    """The reader of exams (the cockpit's); None removes it."""
    _readers.clear()
    if reader is not None:
        _readers.append(reader)


def exam_summaries(booking_ids: Sequence[int]) -> dict[int, ExamSummary]:
    if not _readers or not booking_ids:
        return {}
    return _readers[0](list(booking_ids))


def bookings_with_exam(bookings: Iterable[Booking]) -> list[Booking]:
    """Bookings with `exam` set: their ExamSummary, or None. One query for the whole list."""
    rows = list(bookings)
    found = exam_summaries([booking.pk for booking in rows])
    for booking in rows:
        exam = found.get(booking.pk)
        booking.exam = exam  # type: ignore[attr-defined]
        booking.status_label = booking_status_label(booking)  # type: ignore[attr-defined]
        # The hours the ledger credits once the exam ended (None: the booked hours stand).
        booking.hours_ran = exam.hours(booking.hours) if exam else None  # type: ignore[attr-defined]
    return rows


def booking_exam(booking: Booking) -> ExamSummary | None:
    """The booking's exam: from `bookings_with_exam` when it ran there, else read now."""
    if not hasattr(booking, "exam"):
        booking.exam = exam_summaries([booking.pk]).get(booking.pk)  # type: ignore[attr-defined]
    exam: ExamSummary | None = getattr(booking, "exam", None)
    return exam


def booking_status_label(booking: Booking) -> str:
    """The booking's status as people read it: a completed booking whose exam was partial or
    aborted says so ("Completed — partial (3 of 5 sequences)")."""
    exam = booking_exam(booking)
    if booking.status == BookingStatus.COMPLETED and exam is not None and exam.label:
        return exam.label
    return str(booking.get_status_display())
