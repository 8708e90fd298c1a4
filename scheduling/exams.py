"""How a booking's exam went, as the app that ran it (the cockpit) records it.

Scheduling sits below the cockpit (core → accounts → marketplace → scheduling → cockpit) and never
imports it: the cockpit registers a reader when it loads (`exam_reader_set`, from its
AppConfig.ready). The booking page, the lists, the API and the calendar feed read through
`bookings_with_exam` and `booking_status_label`, so a partial or aborted exam is never shown as
plainly "Completed", and the hours shown are those the exam ran once it ran. Without a reader,
or for a booking never run in a cockpit, a booking shows its own status and booked hours."""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from django.utils.functional import Promise

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


# --- Closing the exam with its booking -------------------------------------------------------

# (booking_id, actor_id, reason) -> None: the app that ran the exam ends it and writes its summary,
# inside the caller's transaction.
ExamCloser = Callable[[int, int | None, str], None]
_closers: list[ExamCloser] = []


# booking_id -> None: the app that runs the exam locks its own rows of that booking.
ExamLocker = Callable[[int], None]
_lockers: list[ExamLocker] = []


def exam_closer_set(closer: ExamCloser | None, *, locker: ExamLocker | None = None) -> None:
    """Who ends a booking's exam when the booking is completed outside it (the cockpit), and
    who locks its rows first; None removes them."""
    _closers.clear()
    _lockers.clear()
    if closer is not None:
        _closers.append(closer)
    if locker is not None:
        _lockers.append(locker)


def exam_lock(booking_id: int) -> None:
    """Before the booking itself is locked (inside the caller's transaction): the exam's rows
    are locked first, in the order the exam's own moves take them (its cockpit, then the
    booking), so completing from the page and ending in the cockpit at once wait for each
    other rather than deadlock."""
    if _lockers:
        _lockers[0](booking_id)


def exam_close(booking: Booking, *, actor_id: int | None, reason: str) -> ExamSummary | None:
    """A booking completed from its page or the API: its exam ends now, inside the same
    transaction, so that what the booking then tells people names the exam's outcome and the
    hours it ran, not plainly "Completed" and the booked hours. The summary, or None when no
    exam ran (or nobody closes exams)."""
    if _closers:
        _closers[0](booking.pk, actor_id, reason)
    exam = exam_summaries([booking.pk]).get(booking.pk)
    if exam is not None and exam.ended_at is None and booking.completed_at is not None:
        # A cockpit closing its own booking ends itself just after: at the booking's completion.
        exam = replace(exam, ended_at=booking.completed_at)
    booking.exam = exam  # type: ignore[attr-defined]
    return exam


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


def booking_status_label(booking: Booking) -> str | Promise:
    """The booking's status as people read it: a completed booking whose exam was partial or
    aborted says so ("Completed — partial (3 of 5 sequences)")."""
    exam = booking_exam(booking)
    if booking.status == BookingStatus.COMPLETED and exam is not None and exam.label:
        return exam.label
    # The choice's own lazy label: a notice built from it reads in each recipient's language.
    return BookingStatus(booking.status).label
