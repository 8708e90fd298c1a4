"""iCalendar (RFC 5545) feeds: a person's bookings and a hospital's sessions, built with the
`icalendar` library for the public, tokenised address `/calendar/<token>.ics`.

- Each event's UID is derived from the id of what it shows (`booking-<id>@wescan`,
  `posting-<id>@wescan`), never from its status: a calendar app updates the event it has when a
  booking is confirmed or cancelled instead of adding another.
- Times are in the scanning site's zone (DTSTART;TZID=…), with a VTIMEZONE for every zone used.
- DTSTAMP and LAST-MODIFIED are the last change; SEQUENCE counts the changes, so it only grows.
- A person's feed: their pending (TENTATIVE), confirmed, in-progress and completed (CONFIRMED)
  and cancelled (CANCELLED) bookings from 60 days back on. Declined, expired and no-show bookings
  are left out: they are not work in anyone's diary.
- A hospital's feed: its open (TENTATIVE), filled (CONFIRMED, with the booked technologist) and
  cancelled (CANCELLED) sessions from 60 days back on.
- What the work is (hospital, site, scanner, exam families), never who is scanned: a posting's
  free-text notes stay out of the feed, which ends up on calendar providers' servers."""

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, Max, Prefetch
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from icalendar import Calendar, Event, vDuration

from accounts.language import language_of
from core.models import AuditEvent
from marketplace.models import Hospital, PostingStatus, SessionPosting
from scheduling.exams import booking_status_label, bookings_with_exam
from scheduling.models import (
    CONFIRMED_STATUSES,
    Booking,
    BookingStatus,
    CalendarFeed,
)

# How far back a feed reaches; everything ahead is in it.
FEED_PAST = timedelta(days=60)
PERSON_STATUSES = (
    BookingStatus.PENDING,
    BookingStatus.CONFIRMED,
    BookingStatus.IN_PROGRESS,
    BookingStatus.COMPLETED,
    BookingStatus.CANCELLED,
)
HOSPITAL_STATUSES = (PostingStatus.OPEN, PostingStatus.FILLED, PostingStatus.CANCELLED)
EVENT_STATUS: dict[str, str] = {
    BookingStatus.PENDING: "TENTATIVE",
    BookingStatus.CANCELLED: "CANCELLED",
    PostingStatus.OPEN: "TENTATIVE",
    PostingStatus.CANCELLED: "CANCELLED",
}
# What a calendar app is told about how often to fetch again.
REFRESH = timedelta(hours=1)

# Builds an absolute address from a URL name and an id (the view passes one bound to the request).
UrlFor = Callable[[str, int], str]


def calendar_feed_by_token(*, token: str) -> CalendarFeed | None:
    if not token:
        return None
    return CalendarFeed.objects.select_related("user", "hospital").filter(token=token).first()


def feed_bookings(*, feed: CalendarFeed, now: datetime | None = None) -> list[Booking]:
    """The bookings a person's feed shows, with how their exams went. Four queries."""
    since = (now or timezone.now()) - FEED_PAST
    return bookings_with_exam(
        Booking.objects.filter(
            technologist_id=feed.user_id, status__in=PERSON_STATUSES, ends_at__gte=since
        )
        .select_related(
            "posting__hospital", "posting__site", "posting__scanner", "lending_hospital"
        )
        .prefetch_related(
            Prefetch("posting__required_exam_families", to_attr="prefetched_families")
        )
        .order_by("starts_at", "pk")
    )


def feed_postings(*, hospital: Hospital, now: datetime | None = None) -> list[SessionPosting]:
    """The sessions a hospital's feed shows, each with `feed_bookings` (its bookings that were
    ever confirmed, the technologist shown among them, with how their exams went) and
    `audit_count`/`audit_last` (its own changes). Five queries."""
    since = (now or timezone.now()) - FEED_PAST
    postings: list[SessionPosting] = list(
        SessionPosting.objects.filter(
            hospital=hospital, status__in=HOSPITAL_STATUSES, ends_at__gte=since
        )
        .select_related("hospital", "site", "scanner")
        .prefetch_related(
            Prefetch("required_exam_families", to_attr="prefetched_families"),
            Prefetch(
                "bookings",
                queryset=Booking.objects.filter(confirmed_at__isnull=False)
                .select_related("technologist")
                .order_by("pk"),
                to_attr="feed_bookings",
            ),
        )
        .order_by("starts_at", "pk")
    )
    bookings_with_exam(booking for posting in postings for booking in posting.feed_bookings)  # type: ignore[attr-defined]
    changes: dict[str, tuple[int, datetime]] = {
        row["target_id"]: (row["n"], row["last"])
        for row in AuditEvent.objects.filter(
            hospital=hospital,
            target_type=SessionPosting._meta.label_lower,
            target_id__in=[str(p.pk) for p in postings],
        )
        .values("target_id")
        .annotate(n=Count("pk"), last=Max("created_at"))
        .order_by()
    }
    for posting in postings:
        count, last = changes.get(str(posting.pk), (0, None))
        posting.audit_count = count  # type: ignore[attr-defined]
        posting.audit_last = last  # type: ignore[attr-defined]
    return postings


# --- Rendering --------------------------------------------------------------------------------


def render_person_feed(
    *, feed: CalendarFeed, bookings: Sequence[Booking], url_for: UrlFor
) -> bytes:
    assert feed.user is not None  # the calendar_feed_one_owner constraint
    # One person reads it: in their own language, whoever's request fetches it.
    with translation.override(language_of(feed.user)):
        calendar = _calendar(_("WeScan — %(name)s's bookings") % {"name": feed.user.display_name})
        for booking in bookings:
            calendar.add_component(_booking_event(booking, url_for))
    return _finished(calendar)


def render_hospital_feed(
    *, feed: CalendarFeed, postings: Sequence[SessionPosting], url_for: UrlFor
) -> bytes:
    assert feed.hospital is not None
    # Shared by the hospital's staff, who may read different languages: the site's own.
    with translation.override(settings.LANGUAGE_CODE):
        calendar = _calendar(_("WeScan — %(hospital)s sessions") % {"hospital": feed.hospital.name})
        for posting in postings:
            calendar.add_component(_posting_event(posting, url_for))
    return _finished(calendar)


def _calendar(name: str) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", "-//WeScan//Bookings and sessions//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("name", name)
    calendar.add("x-wr-calname", name)
    calendar.add("refresh-interval", vDuration(REFRESH), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", vDuration(REFRESH))
    return calendar


def _finished(calendar: Calendar) -> bytes:
    """Add a VTIMEZONE for every zone the events use, covering their dates, ahead of them."""
    starts = [event.decoded("dtstart") for event in calendar.walk("VEVENT")]
    if starts:
        first = min(starts).date() - timedelta(days=31)
        last = max(starts).date() + timedelta(days=366)
        calendar.add_missing_timezones(first_date=first, last_date=last)
        calendar.subcomponents.sort(key=lambda component: component.name != "VTIMEZONE")
    return bytes(calendar.to_ical())


def _event(
    *,
    uid: str,
    item: Booking | SessionPosting,
    posting: SessionPosting,
    status: str,
    summary: str,
    description: list[str],
    url: str,
    created: datetime,
    modified: datetime,
    sequence: int,
) -> Event:
    zone = ZoneInfo(posting.site.time_zone)
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", modified)
    event.add("last-modified", modified)
    event.add("created", created)
    event.add("sequence", sequence)
    event.add("dtstart", item.starts_at.astimezone(zone))
    event.add("dtend", item.ends_at.astimezone(zone))
    event.add("status", status)
    event.add("transp", "TRANSPARENT" if status == "CANCELLED" else "OPAQUE")
    event.add("summary", summary)
    event.add("location", _location(posting))
    event.add("description", "\n".join([*description, _("Details: %(url)s") % {"url": url}]))
    event.add("url", url)
    return event


def _booking_event(booking: Booking, url_for: UrlFor) -> Event:
    posting = booking.posting
    hospital = posting.hospital
    state = {"TENTATIVE": "pending", "CANCELLED": "cancelled"}.get(
        EVENT_STATUS.get(booking.status, ""), ""
    )
    exam = getattr(booking, "exam", None)
    if booking.status == BookingStatus.COMPLETED and exam is not None and exam.outcome:
        state = exam.outcome if exam.outcome in ("partial", "aborted") else ""
    summary = {
        "pending": _("Pending: %(hospital)s · %(scanner)s (remote)"),
        "cancelled": _("Cancelled: %(hospital)s · %(scanner)s (remote)"),
        "partial": _("Partial: %(hospital)s · %(scanner)s (remote)"),
        "aborted": _("Aborted: %(hospital)s · %(scanner)s (remote)"),
    }.get(state, _("%(hospital)s · %(scanner)s (remote)"))
    description = [
        _("Remote MRI session for %(hospital)s, %(site)s.")
        % {"hospital": hospital.name, "site": posting.site.name},
        *_work(posting),
        _("Booking: %(status)s.") % {"status": booking_status_label(booking)},
        *_ran(booking),
    ]
    if booking.status == BookingStatus.CANCELLED:
        description.append(_cancelled(booking))
    if booking.lending_hospital is not None:
        description.append(_("Lent by %(hospital)s.") % {"hospital": booking.lending_hospital.name})
    return _event(
        uid=f"booking-{booking.pk}@wescan",
        item=booking,
        posting=posting,
        status=EVENT_STATUS.get(booking.status, "CONFIRMED"),
        summary=summary % {"hospital": hospital.name, "scanner": posting.scanner.name},
        description=description,
        url=url_for("booking_detail", booking.pk),
        created=booking.created_at,
        modified=booking_modified(booking),
        sequence=booking_sequence(booking),
    )


def _posting_event(posting: SessionPosting, url_for: UrlFor) -> Event:
    bookings: list[Booking] = getattr(posting, "feed_bookings", [])
    booked = next((b for b in bookings if b.status in CONFIRMED_STATUSES), None)
    status = EVENT_STATUS.get(posting.status, "CONFIRMED")
    if posting.status == PostingStatus.FILLED and booked is not None:
        who = booked.technologist.display_name
        summary = f"{posting.scanner.name} · {who}"
        staffed = _("Technologist: %(name)s (%(status)s).") % {
            "name": who,
            "status": str(booking_status_label(booked)).lower(),
        }
    elif posting.status == PostingStatus.CANCELLED:
        summary = _("Cancelled: %(scanner)s session") % {"scanner": posting.scanner.name}
        staffed = _("Session cancelled.")
    else:
        summary = _("%(scanner)s · needs a technologist") % {"scanner": posting.scanner.name}
        staffed = _("No technologist booked yet.")
    audit_last: datetime | None = getattr(posting, "audit_last", None)
    modified = max(
        [posting.created_at, *(booking_modified(b) for b in bookings)]
        + [moment for moment in (posting.published_at, posting.closed_at, audit_last) if moment]
    )
    sequence = max(getattr(posting, "audit_count", 1) - 1, 0) + sum(
        booking_sequence(b) for b in bookings
    )
    return _event(
        uid=f"posting-{posting.pk}@wescan",
        item=posting,
        posting=posting,
        status=status,
        summary=summary,
        description=[
            f"{posting.hospital.name}, {posting.site.name}.",
            *_work(posting),
            _("Urgency: %(urgency)s.") % {"urgency": posting.get_urgency_display()},
            staffed,
        ],
        url=url_for("posting_detail", posting.pk),
        created=posting.created_at,
        modified=modified,
        sequence=sequence,
    )


def booking_modified(booking: Booking) -> datetime:
    """When the booking last changed. A move that closes a booking sets closed_at, also where it
    does not list updated_at among the fields it saves."""
    return max(booking.updated_at, booking.closed_at or booking.updated_at)


def booking_sequence(booking: Booking) -> int:
    """How many moves the booking has made since it was opened (0 while pending): confirmed,
    started, closed (completed, cancelled, declined, no-show, expired). Only ever grows."""
    return sum(
        1 for moment in (booking.confirmed_at, booking.started_at, booking.closed_at) if moment
    )


def _work(posting: SessionPosting) -> list[str]:
    scanner = posting.scanner
    strength = (
        f", {scanner.field_strength_tesla.normalize():f} T" if scanner.field_strength_tesla else ""
    )
    families = ", ".join(f.name for f in posting.family_list) or pgettext("exam families", "any")
    return [
        _("Scanner: %(scanner)s — %(vendor)s %(model)s%(strength)s.")
        % {
            "scanner": scanner.name,
            "vendor": scanner.get_vendor_display(),
            "model": scanner.model_name,
            "strength": strength,
        },
        _("Exam families: %(families)s.") % {"families": families},
    ]


def _ran(booking: Booking) -> list[str]:
    """When the exam ran and the hours it counts for, once it ended (not the booked ones)."""
    exam = getattr(booking, "exam", None)
    hours = exam.hours(booking.hours) if exam is not None else None
    if exam is None or hours is None or exam.started_at is None or exam.ended_at is None:
        return []
    zone = ZoneInfo(booking.posting.site.time_zone)
    start, end = exam.started_at.astimezone(zone), exam.ended_at.astimezone(zone)
    return [
        _("Ran %(start)s–%(end)s (%(zone)s): %(hours)s h.")
        % {
            "start": f"{start:%H:%M}",
            "end": f"{end:%H:%M}",
            "zone": zone.key,
            "hours": formats.number_format(hours),
        }
    ]


def _location(posting: SessionPosting) -> str:
    city = f", {posting.site.city}" if posting.site.city else ""
    return f"{posting.scanner.name}, {posting.site.name}, {posting.hospital.name}{city}"


def _cancelled(booking: Booking) -> str:
    if booking.cancelled_side == "hospital":
        if booking.late:
            return _("Cancelled by the hospital (late: under 24 h before the start).")
        return _("Cancelled by the hospital.")
    if booking.cancelled_side == "technologist":
        if booking.late:
            return _("Cancelled by the technologist (late: under 24 h before the start).")
        return _("Cancelled by the technologist.")
    if booking.late:
        return _("Cancelled by someone (late: under 24 h before the start).")
    return _("Cancelled by someone.")
