"""Celery tasks of the marketplace. Each takes ids, loads, calls a service; each is safe to run
twice, and only mail is retried, on transient SMTP or connection errors."""

import logging
import smtplib
from functools import partial

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import dateformat, timezone, translation
from django.utils.translation import gettext as _

from accounts.language import LANGUAGE_CODES, language_of
from accounts.models import User
from marketplace import services
from marketplace.models import Invitation, TechnologistProfile

logger = logging.getLogger(__name__)

# What a mail server or the network can fail with for a moment; anything else is a bug.
TRANSIENT_MAIL_ERRORS = (smtplib.SMTPException, ConnectionError, TimeoutError)


@shared_task(autoretry_for=TRANSIENT_MAIL_ERRORS, retry_backoff=True, max_retries=5)
def invitation_send_email(invitation_id: int, token: str, language: str = "") -> bool:
    """Mail the invitation link. Idempotent: an invitation is mailed once, and not at all once it
    is no longer pending.

    Written in the language of the account the address belongs to, if it has chosen one; else in
    `language`, the inviting manager's when they invited (a new address has no language yet)."""
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update(of=("self",))
            .select_related("hospital", "invited_by")
            .filter(pk=invitation_id)
            .first()
        )
        if invitation is None or invitation.email_sent_at or invitation.status != "pending":
            return False
        with translation.override(_invitation_language(invitation, language)):
            context = {
                "invitation": invitation,
                "link": settings.PUBLIC_BASE_URL + reverse("invitation_detail", args=[token]),
                "inviter": (
                    invitation.invited_by.display_name if invitation.invited_by else _("A manager")
                ),
            }
            send_mail(
                subject=_("[WeScan] Join %(hospital)s on WeScan")
                % {"hospital": invitation.hospital.name},
                message=render_to_string("marketplace/email/invitation.txt", context),
                from_email=None,
                recipient_list=[invitation.email],
            )
        invitation.email_sent_at = timezone.now()
        invitation.save(update_fields=["email_sent_at"])
    return True


def _invitation_language(invitation: Invitation, language: str) -> str:
    recipient = User.objects.filter(email__iexact=invitation.email).only("language").first()
    if recipient is not None and recipient.language in LANGUAGE_CODES:
        return language_of(recipient)
    return language if language in LANGUAGE_CODES else settings.LANGUAGE_CODE


# --- Periodic (CELERY_BEAT_SCHEDULE) -----------------------------------------------------------


@shared_task
def licence_expiry_warnings() -> int:
    """Daily: warn each technologist whose verified licence ends within 30 days, once per expiry
    date. The claim (`licence_mark_warned`) is what makes a second run send nothing; the mail goes
    out after the claim commits, from its own task that retries when the mail server fails.
    Returns how many warnings were claimed."""
    claimed = 0
    today = timezone.localdate()
    for profile_id in services.licence_expiry_warnings_due(today=today):
        with transaction.atomic():
            profile = services.licence_mark_warned(profile_id=profile_id, today=today)
            if profile is None or profile.licence_valid_until is None:
                continue  # another run claimed it first, or the licence changed meanwhile
            transaction.on_commit(
                partial(
                    licence_expiry_warning_send.delay,
                    profile.pk,
                    profile.licence_valid_until.isoformat(),
                )
            )
        claimed += 1
    return claimed


@shared_task(autoretry_for=TRANSIENT_MAIL_ERRORS, retry_backoff=True, max_retries=5)
def licence_expiry_warning_send(profile_id: int, valid_until: str) -> bool:
    """Mail one claimed warning. Sends nothing when the licence changed since the claim (a renewed
    licence gets its own warning when its time comes)."""
    profile = TechnologistProfile.objects.select_related("user").filter(pk=profile_id).first()
    if (
        profile is None
        or profile.licence_valid_until is None
        or profile.licence_valid_until.isoformat() != valid_until
        or profile.licence_expiry_warned_for != profile.licence_valid_until
    ):
        logger.info("licence warning for profile %s (%s) no longer due", profile_id, valid_until)
        return False
    with translation.override(language_of(profile.user)):
        context = {
            "profile": profile,
            "name": profile.user.first_name or profile.user.display_name,
            "link": settings.PUBLIC_BASE_URL + reverse("technologist_profile"),
        }
        send_mail(
            subject=_("[WeScan] Your licence expires on %(day)s")
            % {"day": dateformat.format(profile.licence_valid_until, "d F Y")},
            message=render_to_string("marketplace/email/licence_expiry_warning.txt", context),
            from_email=None,
            recipient_list=[profile.user.email],
        )
    return True


@shared_task
def expire_postings() -> int:
    """Every few minutes: open postings whose start has passed with nobody booked are expired
    (one audit event each, no actor). Returns how many; a second run finds none."""
    return services.posting_expire_due(now=timezone.now())
