"""WeScan's side of allauth's second factor: the adapter (how a QR code and a refusal read), and
setting one up counting as passing one.

Who must have a second factor is `accounts.second_factor`; the requirement itself (nothing
else until one is set up, or passed in this session) is `accounts.mfa_required`. Setting one up
signs out the person's other sessions: they were signed in with the password alone.
"""

import re
from typing import Any

from allauth.account.internal.flows.login import record_authentication
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator
from allauth.mfa.signals import authenticator_added
from django.contrib import messages
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from accounts.second_factor import second_factor_required
from accounts.sessions import sessions_end_others

SECOND_FACTOR_TYPES = (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)
_XML_PROLOG = re.compile(r"^\s*<\?xml[^>]*\?>\s*")


class MFAAdapter(DefaultMFAAdapter):
    error_messages = {
        **DefaultMFAAdapter.error_messages,
        "cannot_delete_authenticator": _(
            "Your role needs a second factor: add a passkey or another authenticator app "
            "before you remove your last one."
        ),
        "unverified_email": _(
            "Confirm your e-mail address first (follow the link we e-mailed you, or send it "
            "again from E-mail addresses); then set up your second factor."
        ),
    }

    def build_totp_svg(self, url: str) -> str:
        # Shown inline in the page (a data: image would need `img-src data:` in the CSP); the
        # XML prolog has no place inside HTML.
        return _XML_PROLOG.sub("", super().build_totp_svg(url))

    def can_delete_authenticator(self, authenticator: Authenticator) -> bool:
        """One who must have a second factor keeps at least one."""
        user = authenticator.user
        if not second_factor_required(user):
            return True
        others = Authenticator.objects.filter(user=user, type__in=SECOND_FACTOR_TYPES).exclude(
            pk=authenticator.pk
        )
        return others.exists()


@receiver(authenticator_added)
def _setting_up_is_passing(
    sender: Any, request: HttpRequest, user: User, authenticator: Authenticator, **kwargs: Any
) -> None:
    """Setting up an authenticator app (a code from it was typed) or a passkey (the browser
    signed with it) proves the factor as signing in with it would: the session records it, so
    what asks `session_passed_second_factor` (API tokens) need not send the person to sign in
    again. Recovery codes are generated, not proved.

    Every other session of the person was signed in without this factor (with the password, or
    whoever else holds it): they are signed out, their open pages stop hearing notices, and the
    person is told on the page."""
    if authenticator.type not in SECOND_FACTOR_TYPES:
        return
    record_authentication(
        request, user, "mfa", id=authenticator.pk, type=authenticator.type, enrolled=True
    )
    if sessions_end_others(request):
        messages.info(
            request, "Your other sessions were signed out: sign in there again.", fail_silently=True
        )
