"""Celery tasks of core: the mail that goes with a stored notification. Each takes an id, loads,
and is safe to run twice; only transient SMTP or connection errors are retried."""

import logging
import smtplib
from typing import Any

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
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
        first_line = notification.message.splitlines()[0] if notification.message else ""
        subject = first_line if len(first_line) <= 70 else first_line[:69].rstrip() + "…"
    return f"[WeScan] {subject}"


@shared_task(autoretry_for=TRANSIENT_MAIL_ERRORS, retry_backoff=True, max_retries=5)
def notification_mail(notification_id: int) -> bool:
    """Mail one notice to its recipient, once: the row is locked and `emailed_at` set in the same
    transaction, so a second run (or a second worker) sends nothing. An inactive recipient, or
    one without an address, is skipped. Returns whether a mail went out."""
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(of=("self",))
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
        notification.save(update_fields=["emailed_at"])
    return True


def _send_notification_mail(notification: Notification) -> None:
    recipient = notification.recipient
    link = settings.PUBLIC_BASE_URL + notification.url if notification.url else ""
    context = {
        "name": recipient.first_name or recipient.display_name,
        "message": notification.message,
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
