"""Accounts: profile changes, and signing in with a password.

Every password sign-in, on the page (allauth, through `accounts.adapter`) or at the API token
endpoint, goes through `login_authenticate`, so that guessing through either spends the same
budget of failures. The budget is kept in the cache, in fixed windows of time, per the rules in
`LOGIN_LIMITS`; the addresses an account signs in from are remembered (hashed) in `UsualAddress`
so that an attack from elsewhere cannot lock its owner out.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from allauth.account.utils import has_verified_email
from django.conf import settings
from django.contrib.auth import authenticate
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from accounts import tokens
from accounts.models import User, UsualAddress
from core.audit import audit_record
from core.client_address import client_ip, rate_limit_address
from core.errors import DomainError, Throttled


class BadCredentials(DomainError):
    status = 400
    code = "bad_credentials"


class EmailUnverified(DomainError):
    status = 403
    code = "email_unverified"


@transaction.atomic
def user_update_profile(*, user: User, first_name: str, last_name: str) -> User:
    user.first_name = first_name.strip()
    user.last_name = last_name.strip()
    user.save(update_fields=["first_name", "last_name"])
    audit_record(actor=user, action="user.profile_updated", target=user)
    return user


def user_saw_browser_language(*, user: User, language: str) -> None:
    """Remember the language the person's browser asks for (one UPDATE, only when it changed):
    their mails follow it while they chose none (accounts.language.language_of)."""
    language = language.split("-")[0]
    if language != user.browser_language and language in dict(settings.LANGUAGES):
        User.objects.filter(pk=user.pk).update(browser_language=language)
        user.browser_language = language


def user_set_language(*, user: User, language: str) -> User:
    """The language WeScan speaks to the person, on pages and in mails (accounts.language);
    "" follows the browser."""
    if user.language != language:
        user.language = language
        user.save(update_fields=["language"])
    return user


# --- Signing in with a password ----------------------------------------------------------------


@dataclass(frozen=True)
class LoginLimit:
    """One count of failed sign-ins, and what happens when it is used up.

    `setting` names a `(failures, window in seconds)` pair. The count is kept per account (the
    e-mail address typed, whether or not it has an account: a refusal must not tell which do),
    per client address, or per both. A limit that `spares_usual_addresses` does not hold back an
    address the account has signed in from before; one that is `forgiven_on_success` starts
    again when the right password comes from the same place."""

    name: str
    setting: str
    per_account: bool
    per_address: bool
    spares_usual_addresses: bool
    forgiven_on_success: bool
    reason: Any  # lazy: said in the language of the refusal


LOGIN_LIMITS = (
    # Slows guessing from one place, the owner's own included, for a few minutes at most.
    LoginLimit(
        name="account-address",
        setting="LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS",
        per_account=True,
        per_address=True,
        spares_usual_addresses=False,
        forgiven_on_success=True,
        reason=gettext_lazy("Too many failed sign-ins to this account from your address."),
    ),
    # Guessing from many places at once: only new places are held back, so the owner carries on
    # from the addresses they signed in from before. A second factor (a later issue) relaxes
    # this: an address that has also passed the second factor can count as usual here, as a
    # guessed password alone would no longer get anyone in.
    LoginLimit(
        name="account",
        setting="LOGIN_FAILURES_PER_ACCOUNT",
        per_account=True,
        per_address=False,
        spares_usual_addresses=True,
        forgiven_on_success=False,
        reason=gettext_lazy(
            "Too many failed sign-ins to this account from elsewhere, so for now it can be "
            "signed in to only from places it was signed in from before."
        ),
    ),
    # One place guessing at many accounts. A hospital's staff share an address, and for each of
    # them it is a usual one, so they carry on.
    LoginLimit(
        name="address",
        setting="LOGIN_FAILURES_PER_ADDRESS",
        per_account=False,
        per_address=True,
        spares_usual_addresses=True,
        forgiven_on_success=False,
        reason=gettext_lazy("Too many failed sign-ins from your address."),
    ),
)


def login_authenticate(
    *, request: HttpRequest, email: str, password: str, now: datetime | None = None
) -> User | None:
    """The user whose e-mail address and password these are, or None (counted as a failure).

    Raises `Throttled` while the account or the client address has used up a budget of failures,
    before the password is even looked at: a lock that the right guess could pass would only
    tell the guesser when they had it."""
    now = now or timezone.now()
    email = email.strip().lower()
    address = rate_limit_address(client_ip(request))
    _login_refuse_if_throttled(email=email, address=address, now=now)
    user = authenticate(request, email=email, password=password)
    if isinstance(user, User):
        _login_succeeded(user=user, email=email, address=address, now=now)
        return user
    for limit in LOGIN_LIMITS:
        _failures, window = getattr(settings, limit.setting)
        key = _failures_key(limit, email=email, address=address, now=now)
        if not cache.add(key, 1, timeout=window):
            try:
                cache.incr(key)
            except ValueError:  # expired between the two calls
                cache.set(key, 1, timeout=window)
    return None


def api_token_obtain(*, request: HttpRequest, email: str, password: str) -> tokens.NewToken:
    """A new API token for the person who signs in with this e-mail address and password, when
    a password alone signs them in (`accounts.tokens.access_token_for_password`): not for
    people who must have, or have, a second factor."""
    user = login_authenticate(request=request, email=email, password=password)
    if user is None or not user.is_active:
        raise BadCredentials(_("Unknown e-mail address or wrong password."))
    verification_mandatory = settings.ACCOUNT_EMAIL_VERIFICATION == "mandatory"
    if verification_mandatory and not has_verified_email(user, user.email):
        # Told only to whoever knows the password: the state of an address is its owner's.
        raise EmailUnverified(
            _(
                "Verify your e-mail address first: follow the link in the message we sent you "
                "(signing in on the website sends a new one), then ask for a token again."
            )
        )
    return tokens.access_token_for_password(user=user)


def _login_refuse_if_throttled(*, email: str, address: str, now: datetime) -> None:
    refusals: list[tuple[float, LoginLimit]] = []
    usual: bool | None = None
    for limit in LOGIN_LIMITS:
        failures, window = getattr(settings, limit.setting)
        key = _failures_key(limit, email=email, address=address, now=now)
        if cache.get(key, 0) < failures:
            continue
        if limit.spares_usual_addresses:
            if usual is None:
                usual = _is_usual_address(email=email, address=address, now=now)
            if usual:
                continue
        refusals.append((_window_start(now, window) + window - now.timestamp(), limit))
    if refusals:
        wait, limit = max(refusals, key=lambda refusal: refusal[0])
        minutes = math.ceil(wait / 60)
        raise Throttled(
            ngettext(
                "%(reason)s Try again in %(minutes)s minute.",
                "%(reason)s Try again in %(minutes)s minutes.",
                minutes,
            )
            % {"reason": limit.reason, "minutes": minutes},
            retry_after=math.ceil(wait),
        )


@transaction.atomic
def _login_succeeded(*, user: User, email: str, address: str, now: datetime) -> None:
    UsualAddress.objects.bulk_create(
        [
            UsualAddress(
                user=user, address_hash=_address_hash(user.pk, address), last_signed_in_at=now
            )
        ],
        update_conflicts=True,
        unique_fields=["user", "address_hash"],
        update_fields=["last_signed_in_at"],
    )
    UsualAddress.objects.filter(user=user, last_signed_in_at__lt=_usual_since(now)).delete()
    for limit in LOGIN_LIMITS:
        if limit.forgiven_on_success:
            cache.delete(_failures_key(limit, email=email, address=address, now=now))


def _is_usual_address(*, email: str, address: str, now: datetime) -> bool:
    user_id = User.objects.filter(email=email).values_list("pk", flat=True).first()
    if user_id is None:
        return False
    return UsualAddress.objects.filter(
        user_id=user_id,
        address_hash=_address_hash(user_id, address),
        last_signed_in_at__gte=_usual_since(now),
    ).exists()


def _usual_since(now: datetime) -> datetime:
    return now - timedelta(days=settings.LOGIN_USUAL_ADDRESS_DAYS)


def _address_hash(user_id: int, address: str) -> str:
    # Keyed by SECRET_KEY: the four billion IPv4 addresses cannot be tried against it offline.
    return salted_hmac(
        "wescan.usual-address", f"{user_id}|{address}", algorithm="sha256"
    ).hexdigest()


def _window_start(now: datetime, window: int) -> int:
    return int(now.timestamp()) // window * window


def _failures_key(limit: LoginLimit, *, email: str, address: str, now: datetime) -> str:
    _failures, window = getattr(settings, limit.setting)
    parts = [email if limit.per_account else "", address if limit.per_address else ""]
    digest = salted_hmac("wescan.login-failures", "|".join(parts), algorithm="sha256").hexdigest()
    return f"login-failures:{limit.name}:{digest}:{_window_start(now, window)}"
