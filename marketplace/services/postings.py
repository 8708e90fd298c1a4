"""Session postings: a hospital's request for a remote technologist, from draft to open to
filled, cancelled or expired. One service per move; each checks the status it starts from."""

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import dateformat, timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from accounts.models import User
from core.audit import audit_record
from core.errors import Conflict, ValidationFailed, validate_instance
from core.text import free_text_clean
from marketplace.access import require_manager
from marketplace.models import (
    Compensation,
    ExamFamily,
    Hospital,
    Language,
    PostingStatus,
    Scanner,
    SessionPosting,
)
from marketplace.signals import posting_cancelled

__all__ = [
    "CANCEL_REASON_MAX",
    "EDITABLE_POSTING_STATUSES",
    "NOTES_MAX",
    "posting_cancel",
    "posting_create",
    "posting_expire_due",
    "posting_publish",
    "posting_update",
]

EDITABLE_POSTING_STATUSES = (PostingStatus.DRAFT, PostingStatus.OPEN)
# Free-text bounds, enforced before the text is read (the form and the API say the same).
NOTES_MAX = SessionPosting._meta.get_field("notes").max_length or 2000
CANCEL_REASON_MAX = 500


def _check_posting(posting: SessionPosting, *, now: datetime) -> None:
    """Everything that makes a posting acceptable, as one ValidationFailed naming each field."""
    fields: dict[str, list[str]] = {}
    if posting.scanner.site.hospital_id != posting.hospital_id:
        fields["scanner"] = [_("No such scanner in this hospital.")]
    elif not posting.scanner.cockpit_ready:
        fields["scanner"] = [
            _("This scanner is not cockpit-ready: a remote technologist cannot operate it.")
        ]
    if posting.ends_at <= posting.starts_at:
        fields["ends_at"] = [_("The session must end after it starts.")]
    elif posting.ends_at - posting.starts_at > SessionPosting.MAX_DURATION:
        fields["ends_at"] = [_("A session lasts at most 12 hours.")]
    if posting.starts_at <= now:
        fields["starts_at"] = [_("The session cannot start in the past.")]
    elif "scanner" not in fields and "ends_at" not in fields:
        clash = (
            SessionPosting.objects.filter(
                scanner=posting.scanner,
                status__in=[PostingStatus.OPEN, PostingStatus.FILLED],
                starts_at__lt=posting.ends_at,
                ends_at__gt=posting.starts_at,
            )
            .exclude(pk=posting.pk)
            .first()
        )
        if clash is not None:
            zone = ZoneInfo(posting.scanner.site.time_zone)
            fields["starts_at"] = [
                _("%(scanner)s already has a session posted %(starts)s–%(ends)s (%(zone)s).")
                % {
                    "scanner": posting.scanner.name,
                    "starts": dateformat.format(clash.starts_at.astimezone(zone), "d M H:i"),
                    "ends": dateformat.format(clash.ends_at.astimezone(zone), "H:i"),
                    "zone": zone.key,
                }
            ]
    if posting.compensation == Compensation.HOURLY_RATE and posting.hourly_rate_eur is None:
        fields["hourly_rate_eur"] = [_("Give the hourly rate in EUR.")]
    if posting.compensation == Compensation.RECIPROCITY and posting.hourly_rate_eur is not None:
        fields["hourly_rate_eur"] = [_("Reciprocity credits carry no hourly rate.")]
    try:
        free_text_clean(
            posting.notes, field="notes", max_length=NOTES_MAX, what=pgettext("free text", "notes")
        )
    except ValidationFailed as error:
        fields.update(error.fields)
    if fields:
        message = (
            fields["notes"][0] if list(fields) == ["notes"] else _("Some fields are not valid.")
        )
        raise ValidationFailed(message, fields=fields)
    validate_instance(posting, exclude=["created_by"])


@transaction.atomic
def posting_create(
    *,
    actor: User,
    hospital: Hospital,
    scanner: Scanner,
    starts_at: datetime,
    ends_at: datetime,
    required_exam_families: Iterable[ExamFamily] = (),
    languages: Iterable[Language] = (),
    min_seniority: str = "junior",
    urgency: str = "routine",
    compensation: str = Compensation.RECIPROCITY,
    hourly_rate_eur: Decimal | None = None,
    notes: str = "",
    publish: bool = False,
) -> SessionPosting:
    require_manager(actor, hospital)
    posting = SessionPosting(
        hospital=hospital,
        site=scanner.site,
        scanner=scanner,
        starts_at=starts_at,
        ends_at=ends_at,
        min_seniority=min_seniority,
        vendor=scanner.vendor,
        urgency=urgency,
        compensation=compensation,
        hourly_rate_eur=hourly_rate_eur,
        notes=notes.strip(),
        created_by=actor,
    )
    now = timezone.now()
    _check_posting(posting, now=now)
    if publish:
        posting.status = PostingStatus.OPEN
        posting.published_at = now
    posting.save()
    posting.required_exam_families.set(required_exam_families)
    posting.languages.set(languages)
    audit_record(
        actor=actor,
        action="posting.created",
        target=posting,
        hospital=hospital,
        data={"status": posting.status, "scanner": scanner.pk},
    )
    return posting


@transaction.atomic
def posting_update(
    *,
    actor: User,
    posting: SessionPosting,
    required_exam_families: Iterable[ExamFamily] | None = None,
    languages: Iterable[Language] | None = None,
    **changes: Any,
) -> SessionPosting:
    """Change a posting while it is a draft or open and nobody is booked on it."""
    posting = _locked(posting)
    require_manager(actor, posting.hospital)
    if posting.status not in EDITABLE_POSTING_STATUSES:
        raise Conflict(
            _("This posting is %(status)s; it can no longer be changed.")
            % {"status": _status(posting)}
        )
    if posting.bookings.filter(status__in=["pending", "confirmed", "in_progress"]).exists():
        # Bookings hold the posting's times and terms: change it only while nobody is on it.
        raise Conflict(
            _("Someone is invited to or booked on this posting; it can no longer change.")
        )
    allowed = {
        "scanner",
        "starts_at",
        "ends_at",
        "min_seniority",
        "urgency",
        "compensation",
        "hourly_rate_eur",
        "notes",
    }
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise ValidationFailed(
            _("Unknown fields."), fields={f: [_("Unknown field.")] for f in unknown}
        )
    for field, value in changes.items():
        setattr(posting, field, value.strip() if field == "notes" else value)
    if "compensation" in changes and changes["compensation"] == Compensation.RECIPROCITY:
        posting.hourly_rate_eur = changes.get("hourly_rate_eur")
    posting.site = posting.scanner.site
    posting.vendor = posting.scanner.vendor
    _check_posting(posting, now=timezone.now())
    posting.save()
    if required_exam_families is not None:
        posting.required_exam_families.set(required_exam_families)
    if languages is not None:
        posting.languages.set(languages)
    audit_record(
        actor=actor,
        action="posting.updated",
        target=posting,
        hospital=posting.hospital,
        data={"fields": sorted(changes)},
    )
    return posting


@transaction.atomic
def posting_publish(*, actor: User, posting: SessionPosting) -> SessionPosting:
    posting = _locked(posting)
    require_manager(actor, posting.hospital)
    if posting.status != PostingStatus.DRAFT:
        raise Conflict(
            _("Only a draft is published; this posting is %(status)s.")
            % {"status": _status(posting)}
        )
    now = timezone.now()
    if posting.starts_at <= now:
        raise Conflict(_("This session has already started; change its time before publishing."))
    _check_posting(posting, now=now)  # still valid: nothing else posted on its scanner since
    posting.status = PostingStatus.OPEN
    posting.published_at = now
    posting.save(update_fields=["status", "published_at"])
    audit_record(actor=actor, action="posting.published", target=posting, hospital=posting.hospital)
    return posting


@transaction.atomic
def posting_cancel(*, actor: User, posting: SessionPosting, reason: str = "") -> SessionPosting:
    posting = _locked(posting)
    require_manager(actor, posting.hospital)
    if posting.status not in EDITABLE_POSTING_STATUSES:
        if posting.status == PostingStatus.FILLED:
            raise Conflict(
                _("This posting is filled; it cannot be cancelled. Cancel its booking first.")
            )
        raise Conflict(
            _("This posting is %(status)s; it cannot be cancelled.") % {"status": _status(posting)}
        )
    reason = free_text_clean(
        reason, field="reason", max_length=CANCEL_REASON_MAX, what=pgettext("free text", "reason")
    )
    posting.status = PostingStatus.CANCELLED
    posting.closed_at = timezone.now()
    posting.save(update_fields=["status", "closed_at"])
    # Scheduling (above) closes the pending bookings on it, in this transaction, and answers
    # how many (django-stubs types a receiver's answer as str | None; ours is an int).
    answers: list[tuple[Any, Any]] = posting_cancelled.send(
        sender=SessionPosting, posting=posting, actor=actor
    )
    closed = sum(answer for _receiver, answer in answers if isinstance(answer, int))
    audit_record(
        actor=actor,
        action="posting.cancelled",
        target=posting,
        hospital=posting.hospital,
        data={"reason": reason, "pending_bookings_closed": closed},
    )
    return posting


def posting_expire_due(*, now: datetime | None = None) -> int:
    """Open postings whose start has passed with nobody booked: expired. Safe to run again."""
    now = now or timezone.now()
    expired = 0
    due = SessionPosting.objects.filter(status=PostingStatus.OPEN, starts_at__lte=now)
    for posting_id in due.values_list("pk", flat=True):
        with transaction.atomic():
            posting = (
                SessionPosting.objects.select_for_update(of=("self",))
                .filter(pk=posting_id, status=PostingStatus.OPEN, starts_at__lte=now)
                .first()
            )
            if posting is None:
                continue
            posting.status = PostingStatus.EXPIRED
            posting.closed_at = now
            posting.save(update_fields=["status", "closed_at"])
            audit_record(
                actor=None, action="posting.expired", target=posting, hospital=posting.hospital
            )
            expired += 1
    return expired


def _status(posting: SessionPosting) -> str:
    """The posting's status as a sentence says it: "filled", "gevuld", "pourvue"."""
    return str(posting.get_status_display()).lower()


def _locked(posting: SessionPosting) -> SessionPosting:
    return (
        SessionPosting.objects.select_for_update(of=("self",))
        .select_related("hospital", "scanner__site")
        .get(pk=posting.pk)
    )
