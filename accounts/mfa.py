"""WeScan's side of allauth's second factor: the adapter (how a QR code and a refusal read), and
setting one up counting as passing one.

Who must have a second factor is `accounts.second_factor`; the requirement itself (nothing
else until one is set up, or passed in this session) is `accounts.mfa_required`. Setting one up
signs out the person's other sessions: they were signed in with the password alone.
"""

import math
import re
import time
from typing import Any

from allauth.account.internal.flows.login import record_authentication
from allauth.core import context
from allauth.core.internal.cryptokit import compare_user_code
from allauth.core.internal.ratelimit import get_cache_key, get_rates
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.base.forms import AuthenticateForm as AllauthAuthenticateForm
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.signals import authenticator_added
from allauth.mfa.totp.forms import ActivateTOTPForm
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY
from allauth.mfa.webauthn.forms import AddWebAuthnForm, AuthenticateWebAuthnForm
from django import forms
from django.contrib import messages
from django.core.cache import cache
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from accounts.second_factor import second_factor_required
from accounts.sessions import sessions_end_others
from core.errors import Throttled

SECOND_FACTOR_TYPES = (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)
_XML_PROLOG = re.compile(r"^\s*<\?xml[^>]*\?>\s*")


class MFAAdapter(DefaultMFAAdapter):
    error_messages = {
        **DefaultMFAAdapter.error_messages,
        "cannot_delete_authenticator": _(
            "Your role needs a second factor, and this is your last one: add a passkey "
            "first, then remove this one."
        ),
        "recovery_code_used": _(
            "This recovery code was already used: each one works once. Type another one."
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
            request,
            gettext("Your other sessions were signed out: sign in there again."),
            fail_silently=True,
        )


class AddPasskeyForm(AddWebAuthnForm):
    """allauth's form for adding a passkey, in plain words. The choice stays (ticked at first):
    a passkey kept on the device signs in alone, after the device's fingerprint, face or PIN;
    an older security key cannot be kept that way, and still serves after the password."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        passwordless = self.fields.get("passwordless")
        if passwordless is not None:
            passwordless.label = _("Use it to sign in without a password")
            passwordless.help_text = _(
                "Then “Sign in with a passkey” signs you in with it alone; your device asks for "
                "your fingerprint, face or PIN. Untick it for a security key that cannot do "
                "this: it still works after your password."
            )
            passwordless.initial = True


class ActivateAppForm(ActivateTOTPForm):
    """Setting up an authenticator app: reloading the page keeps the secret it showed (allauth
    makes a new one each time, and the entry already scanned into the app would then never
    work). The secret lives in this session only, until a code from it is typed; allauth then
    forgets it, and a later set-up gets a new one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        shown = context.request.session.get(SECRET_SESSION_KEY)
        super().__init__(*args, **kwargs)
        if shown and not self.is_bound:
            self.secret = context.request.session[SECRET_SESSION_KEY] = shown


# allauth's own failed-code limit (account rate limit "login_failed", per person and address).
_FAILED_CODES = "login_failed"


def _code_retry_after(request: HttpRequest, user: User) -> float:
    """Seconds until allauth's failed-code limit lets `user` try again from this address: the
    oldest failure still counted leaves its window (allauth keeps each window's failures, the
    newest first, in the cache)."""
    now = time.time()
    waits = [1.0]
    for rate in get_rates(app="allauth.account", action=_FAILED_CODES):
        key = get_cache_key(
            request,
            app="allauth.account",
            action=_FAILED_CODES,
            rate=rate,
            key=f"mfa-auth-user-{user.pk}",
        )
        counted = [at for at in cache.get(key, []) if at > now - rate.duration]
        if len(counted) >= rate.amount:
            waits.append(counted[rate.amount - 1] + rate.duration - now)
    return max(waits)


def _used_recovery_code(user: User, code: str) -> bool:
    """Whether `code` is one of `user`'s recovery codes already used (allauth says only that a
    code is wrong; a person who typed one from their list deserves to know why)."""
    authenticator = Authenticator.objects.filter(
        user=user, type=Authenticator.Type.RECOVERY_CODES
    ).first()
    if authenticator is None or "used_mask" not in authenticator.data:
        return False
    codes = RecoveryCodes(authenticator)
    unused = set(codes.get_unused_codes())
    return any(
        compare_user_code(actual=code, expected=known) and known not in unused
        for known in codes.generate_codes()
    )


def _too_many_wrong(user: User) -> Throttled:
    wait = _code_retry_after(context.request, user)
    minutes = math.ceil(wait / 60)
    return Throttled(
        ngettext(
            "Too many wrong codes. Try again in %(minutes)s minute.",
            "Too many wrong codes. Try again in %(minutes)s minutes.",
            minutes,
        )
        % {"minutes": minutes},
        retry_after=wait,
    )


class AuthenticateForm(AllauthAuthenticateForm):
    """The second-factor step's code: a recovery code used before is named as such, and too
    many wrong codes is a refusal that says when to come back (`throttled`:
    `accounts.mfa_views.AuthenticateView` answers it with 429 and Retry-After)."""

    throttled: Throttled | None = None

    def clean_code(self) -> str:
        try:
            return super().clean_code()
        except forms.ValidationError as error:
            if error.code == "too_many_login_attempts":
                self.throttled = _too_many_wrong(self.user)
                raise forms.ValidationError(
                    self.throttled.message, code=self.throttled.code
                ) from None
            code = str(self.data.get("code", ""))[:64].strip()
            if error.code == "incorrect_code" and _used_recovery_code(self.user, code):
                raise MFAAdapter().validation_error("recovery_code_used") from None
            raise


class AuthenticatePasskeyForm(AuthenticateWebAuthnForm):
    """The second-factor step's passkey: allauth counts its failures with the codes'; held
    back, it says when to come back (429 with Retry-After, as for a code)."""

    throttled: Throttled | None = None

    def clean_credential(self) -> Authenticator:
        try:
            return super().clean_credential()
        except forms.ValidationError as error:
            if error.code == "too_many_login_attempts" and self.user is not None:
                self.throttled = _too_many_wrong(self.user)
                raise forms.ValidationError(
                    self.throttled.message, code=self.throttled.code
                ) from None
            raise
