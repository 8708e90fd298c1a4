"""Who did not come: the one rule for both no-shows, read by the services that record them and by
`booking_actions` (the buttons and the API's `actions`), so what is offered is what is allowed.

Evidence decides, not who clicks first. The evidence is the cockpit's own record of the booked
technologist joining it as operator (`operator_joined_at`: their first connection, even while
they wait for local staff to let them in):

- The hospital records the technologist's no-show (`Side.TECHNOLOGIST`) 15 minutes after the
  start at the earliest, while the booking is confirmed, and only if the technologist never
  joined the cockpit: once they joined, they came.
- The technologist records the site's no-show (`Side.HOSPITAL`: nobody beside the scanner, the
  scanner not ready) 15 minutes after the start at the earliest, while the booking is confirmed
  or in progress (they pressed "Start" and found nobody), only if they joined the cockpit (they
  were there), only while no exam has started in it (then the site was there), and no later than
  SITE_NO_SHOW_GRACE after the session's end: the claim is made on the day, while the hospital
  can still check it, never days later.

Scheduling sits below the cockpit and never imports it: the cockpit registers who reads its joins
(`operator_joins_reader_set`, from its AppConfig.ready), as it registers its exam reader
(`scheduling.exams`). Without a reader nobody ever joined: the site's no-show is never offered,
the hospital's always is."""

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _

from scheduling.exams import ExamSummary, booking_exam
from scheduling.models import Booking, BookingStatus

__all__ = [
    "NO_SHOW_AFTER",
    "SITE_NO_SHOW_GRACE",
    "booking_operator_joined_at",
    "bookings_with_operator_joins",
    "operator_joins_reader_set",
    "site_no_show_refusal",
    "technologist_no_show_refusal",
]

# Either no-show is recorded once this long has passed since the start.
NO_SHOW_AFTER = timedelta(minutes=15)
# The technologist records the site's no-show until this long after the session's end: time to
# give up waiting at the end of the session and say so, not to come back to it later.
SITE_NO_SHOW_GRACE = timedelta(minutes=30)

# Booking ids -> when the booked technologist first joined each booking's cockpit as operator
# (bookings whose operator never joined are left out).
OperatorJoinsReader = Callable[[Sequence[int]], dict[int, datetime]]
_readers: list[OperatorJoinsReader] = []


def operator_joins_reader_set(reader: OperatorJoinsReader | None) -> None:
    """The reader of operators' joins (the cockpit's); None removes it."""
    _readers.clear()
    if reader is not None:
        _readers.append(reader)


def _operator_joins(booking_ids: Sequence[int]) -> dict[int, datetime]:
    if not _readers or not booking_ids:
        return {}
    return _readers[0](list(booking_ids))


def bookings_with_operator_joins(bookings: Iterable[Booking]) -> list[Booking]:
    """Bookings with `operator_joined_at` read for the whole list in one query."""
    rows = list(bookings)
    joins = _operator_joins([booking.pk for booking in rows])
    for booking in rows:
        booking.operator_joined_at = joins.get(booking.pk)  # type: ignore[attr-defined]
    return rows


def booking_operator_joined_at(booking: Booking) -> datetime | None:
    """When the booked technologist first joined the booking's cockpit as operator (None:
    never): from `bookings_with_operator_joins` when read for a list, else read now."""
    if not hasattr(booking, "operator_joined_at"):
        bookings_with_operator_joins([booking])
    joined: datetime | None = getattr(booking, "operator_joined_at", None)
    return joined


def _status_refusal(booking: Booking, statuses: Sequence[str], *, verb: str) -> str | None:
    if booking.status in statuses:
        return None
    status = str(booking.get_status_display()).lower()
    labels = [str(BookingStatus(each).label).lower() for each in statuses]
    if verb == "technologist":
        return _(
            "This booking is %(status)s; it can be marked as a no-show only when %(needed)s."
        ) % {
            "status": status,
            "needed": labels[0],
        }
    return _(
        "This booking is %(status)s; it can be marked as the site's no-show only when "
        "%(needed)s or %(other)s."
    ) % {"status": status, "needed": labels[0], "other": labels[1]}


def _too_early(booking: Booking, now: datetime) -> str | None:
    if now < booking.starts_at + NO_SHOW_AFTER:
        return _("A no-show is recorded 15 minutes after the start at the earliest.")
    return None


def technologist_no_show_refusal(booking: Booking, *, now: datetime) -> str | None:
    """Why the hospital may not record now that the technologist did not come (None: it may).
    Who may (a manager of the posting's hospital) is the service's to check."""
    refusal = _status_refusal(booking, [BookingStatus.CONFIRMED], verb="technologist")
    refusal = refusal or _too_early(booking, now)
    if refusal:
        return refusal
    joined = booking_operator_joined_at(booking)
    if joined is not None:
        return _(
            "%(name)s joined this session's cockpit at %(time)s: they came, so this is no "
            "technologist's no-show. If the site was not there, the technologist records it."
        ) % {"name": booking.technologist.display_name, "time": _hhmm(joined, booking)}
    return None


def site_no_show_refusal(
    booking: Booking, *, now: datetime, exam: ExamSummary | None = None
) -> str | None:
    """Why the technologist may not record now that the site was not there (None: they may).
    `exam`: the booking's exam when already read (else read here). Who may (the booked
    technologist) is the service's to check."""
    refusal = _status_refusal(
        booking,
        [BookingStatus.CONFIRMED, BookingStatus.IN_PROGRESS],
        verb="site",
    )
    refusal = refusal or _too_early(booking, now)
    if refusal:
        return refusal
    if now > booking.ends_at + SITE_NO_SHOW_GRACE:
        return _(
            "The site's no-show is recorded on the day: at the latest %(minutes)s minutes after "
            "the session's end."
        ) % {"minutes": SITE_NO_SHOW_GRACE.seconds // 60}
    exam = exam if exam is not None else booking_exam(booking)
    if exam is not None and exam.ran:
        return _(
            "An exam has started in this session's cockpit: the site was there. End the session "
            "from the cockpit instead."
        )
    if booking_operator_joined_at(booking) is None:
        return _(
            "You never joined this session's cockpit, so nothing shows that you were there: "
            "the site's no-show is recorded by a technologist who joined the cockpit and found "
            "nobody to scan with."
        )
    return None


def _hhmm(moment: datetime, booking: Booking) -> str:
    zone = ZoneInfo(booking.posting.site.time_zone)
    return f"{moment.astimezone(zone):%H:%M}"
