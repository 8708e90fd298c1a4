import smtplib

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from marketplace.models import Invitation


@shared_task(
    autoretry_for=(smtplib.SMTPException, ConnectionError),
    retry_backoff=True,
    max_retries=5,
)
def invitation_send_email(invitation_id: int, token: str) -> bool:
    """Mail the invitation link. Idempotent: an invitation is mailed once, and not at all once it
    is no longer pending."""
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update(of=("self",))
            .select_related("hospital", "invited_by")
            .filter(pk=invitation_id)
            .first()
        )
        if invitation is None or invitation.email_sent_at or invitation.status != "pending":
            return False
        context = {
            "invitation": invitation,
            "link": settings.PUBLIC_BASE_URL + reverse("invitation_detail", args=[token]),
            "inviter": invitation.invited_by.display_name if invitation.invited_by else "A manager",
        }
        send_mail(
            subject=f"[WeScan] Join {invitation.hospital.name} on WeScan",
            message=render_to_string("marketplace/email/invitation.txt", context),
            from_email=None,
            recipient_list=[invitation.email],
        )
        invitation.email_sent_at = timezone.now()
        invitation.save(update_fields=["email_sent_at"])
    return True
