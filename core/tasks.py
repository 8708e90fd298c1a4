"""Celery tasks of core: the mail that goes with a stored notification. Each takes an id, loads,
and is safe to run twice; only transient SMTP or connection errors are retried. A mail that never
went out (the broker was down when it was queued, a worker died with it) is queued again by the
periodic `notification_mails_overdue`."""

import logging
import smtplib
from datetime import datetime, timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from core.models import Notification

logger = logging.getLogger(__name__)

# What a mail server or the network can fail with for a moment; anything else is a bug.
TRANSIENT_MAIL_ERRORS = (smtplib.SMTPException, ConnectionError, TimeoutError)

# The subject line per kind of notice; any other kind uses the start of its message.
SUBJECTS: dict[str, Any] = {
    "booking.invited": _("You are invited to a session"),
    "booking.applied": _("A technologist applied for your session"),
    "booking.confirmed": _("Session confirmed"),
    "booking.declined": _("Booking declined"),
    "booking.cancelled": _("Session cancelled"),
    "booking.no_show": _("No-show recorded"),
    "booking.reminder_24h": _("Reminder: a session within 24 hours"),
    "booking.reminder_1h": _("Starting soon: a session within the hour"),
    # Incidents in a cockpit, to the managers of the scanning site.
    "cockpit.stopped": _("Incident: STOP pressed in a cockpit"),
    "cockpit.exam_partial": _("Incident: an exam ended partial"),
    "cockpit.exam_aborted": _("Incident: an exam was aborted"),
}


def notification_subject(notification: Notification) -> str:
    subject = SUBJECTS.get(notification.kind)
    if subject is not None:
        subject = str(subject)  # in the language active for the recipient
    if subject is None:
        message = notification.text()
        first_line = message.splitlines()[0] if message else ""
        subject = first_line if len(first_line) <= 70 else first_line[:69].rstrip() + "…"
    return f"[WeScan] {subject}"


@shared_task(autoretry_for=TRANSIENT_MAIL_ERRORS, retry_backoff=True, max_retries=5)
def notification_mail(notification_id: int) -> bool:
    """Mail one notice to its recipient, once: the row is locked and `emailed_at` set in the same
    transaction, so a second run (or a second worker) sends nothing. An inactive recipient, or
    one without an address, is skipped. Returns whether a mail went out."""
    with transaction.atomic():
        notification = (
            # A notice another worker is mailing right now is theirs (queued again by the
            # periodic job while a slow mail server holds the first): nothing waits on its lock.
            Notification.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("recipient")
            .filter(pk=notification_id)
            .first()
        )
        if notification is None or notification.emailed_at is not None:
            return False
        recipient = notification.recipient
        if not recipient.is_active or not recipient.email:
            logger.info(
                "notification %s not mailed: recipient has no active address", notification_id
            )
            if notification.mail_due:
                notification.mail_due = False
                notification.save(update_fields=["mail_due"])
            return False
        # In the recipient's own language (their profile's, else their browser's last), whoever's
        # request sent it.
        language = (
            getattr(recipient, "language", "")
            or getattr(recipient, "browser_language", "")
            or settings.LANGUAGE_CODE
        )
        with translation.override(language):
            _send_notification_mail(notification)
        notification.emailed_at = timezone.now()
        notification.mail_due = False
        notification.save(update_fields=["emailed_at", "mail_due"])
    return True


def _send_notification_mail(notification: Notification) -> None:
    recipient = notification.recipient
    link = settings.PUBLIC_BASE_URL + notification.url if notification.url else ""
    context = {
        "name": recipient.first_name or recipient.display_name,
        "message": notification.text(),  # in the language the mail is written in
        "link": link,
        "notifications_link": settings.PUBLIC_BASE_URL + reverse("notifications"),
    }
    mail = EmailMultiAlternatives(
        subject=notification_subject(notification),
        body=render_to_string("core/email/notification.txt", context),
        to=[recipient.email],
    )
    mail.attach_alternative(render_to_string("core/email/notification.html", context), "text/html")
    mail.send()


@shared_task
def notification_mails(notification_ids: list[int]) -> int:
    """One mail task per notice, queued from a worker: a notice to hundreds (a request for help)
    costs its sender one task, not hundreds. How many were queued."""
    for notification_id in notification_ids:
        notification_mail.delay(notification_id)
    return len(notification_ids)


# A mail still owed this long after its notice was made, or after it was last queued again, is
# queued (again): a worker sends it within seconds, so by then its task was lost (the broker down
# when it was queued, a worker killed with it) or ran out of retries (the mail server away for a
# minute or more). The job runs every five minutes (CELERY_BEAT_SCHEDULE).
MAIL_OVERDUE_AFTER = timedelta(minutes=10)
# How long a mail is worth sending after its notice, by kind (the start of its name), else a day:
# past that the news is stale (a request for help answered or given up, a session begun, a
# confirmation long seen in the app), and the mail is given up, logged.
MAIL_WORTH_SENDING: dict[str, timedelta] = {
    "assist.": timedelta(minutes=30),
    "booking.reminder_1h": timedelta(hours=1),
}
MAIL_WORTH_SENDING_DEFAULT = timedelta(days=1)
# The most queued by one run, oldest first; the rest at the next.
MAIL_OVERDUE_BATCH = 1000


def _stale(now: datetime) -> Q:
    """The notices whose mail is no longer worth sending now (MAIL_WORTH_SENDING)."""
    stale = Q(created_at__lt=now - MAIL_WORTH_SENDING_DEFAULT)
    for prefix, worth in MAIL_WORTH_SENDING.items():
        stale |= Q(kind__startswith=prefix, created_at__lt=now - worth)
    return stale


@shared_task
def notification_mails_overdue() -> int:
    """Queue again each mail still owed ten minutes after its notice was made or last queued,
    and give up on those no longer worth sending. Safe beside a task of the same notice still
    running or waiting: a mail goes out once (`notification_mail`). How many were queued."""
    from core.notify import notification_mails_queue

    now = timezone.now()
    owed = Notification.objects.filter(mail_due=True)
    given_up = owed.filter(_stale(now)).update(mail_due=False)
    if given_up:
        logger.warning("%d notification mails given up: no longer worth sending", given_up)
    last_queued = Coalesce("mail_queued_at", "created_at")
    with transaction.atomic():
        notification_ids = list(
            owed.alias(last_queued=last_queued)
            .filter(last_queued__lte=now - MAIL_OVERDUE_AFTER)
            .order_by("created_at", "pk")
            .values_list("pk", flat=True)[:MAIL_OVERDUE_BATCH]
        )
        Notification.objects.filter(pk__in=notification_ids).update(mail_queued_at=now)
    if notification_ids:
        logger.warning(
            "%d notification mails queued again: not sent %s after their notice or last try",
            len(notification_ids),
            MAIL_OVERDUE_AFTER,
        )
        notification_mails_queue(notification_ids)
    return len(notification_ids)
