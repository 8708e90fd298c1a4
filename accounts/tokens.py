"""Personal access tokens for the API: making, listing, revoking and using them.

A token is made on the personal access tokens page (`/account/tokens/`) from a signed-in
session, or, for people a password alone still signs in (technologists without a second factor),
by `POST /api/v1/auth/token/`. People who must have a second factor (managers, local staff,
platform admins) and people who have set one up make theirs only from a session that passed it,
and a token of theirs works only if it was made that way (one given for a password before they
set up a second factor stops working): a password alone never reaches their account. Each rule
is written here once, for the page, the API and the authentication class.

The secret (`wst_` and 43 URL-safe characters, 256 random bits) is shown once; WeScan keeps its
SHA-256 and its first twelve characters. A read token may only look (GET, HEAD, OPTIONS).
"""

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.request import Request

from accounts.models import AccessToken, TokenScope, User
from accounts.second_factor import (
    second_factor_enrolled,
    second_factor_required,
    session_passed_second_factor,
)
from core.audit import audit_record
from core.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed

SECRET_PREFIX = "wst_"  # noqa: S105 (the visible start of every secret, for secret scanners)
SHOWN_PREFIX_LENGTH = len(SECRET_PREFIX) + 8
# A secret is SECRET_PREFIX and 43 characters; anything much longer is refused unread.
SECRET_MAX_LENGTH = 100
NAME_MAX_LENGTH = 100
# How long a token lasts, in days: a person picks one; none lasts more than a year.
EXPIRY_DAYS = (7, 30, 90, 365)
# Active (neither expired nor revoked) tokens a person may hold at once.
MAX_ACTIVE_TOKENS = 50
# Tokens given for a password at the API: named so, for 30 days, with write scope; a person keeps
# the newest few (a script that signs in on every run does not pile up live credentials).
PASSWORD_TOKEN_NAME = "API sign-in"  # noqa: S105 (a name, not a secret)
PASSWORD_TOKEN_DAYS = 30
PASSWORD_TOKENS_KEPT = 5
# `last_used_at` is written at most this often per token (it is for people, not an access log).
LAST_USED_PRECISION = timedelta(minutes=1)
# What DRF's authtoken gave out before personal access tokens: a client still sending one is
# told what to do instead.
DRF_TOKEN = re.compile(r"[0-9a-f]{40}")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOKENS_PAGE = "/account/tokens/"


class TokenRefused(DomainError):
    """The token does not sign anyone in (answered 401, with WWW-Authenticate: Token)."""

    status = 401
    code = "authentication_failed"


class SecondFactorNeeded(DomainError):
    """A password alone does not give this person a token."""

    status = 403
    code = "second_factor_required"


@dataclass(frozen=True)
class NewToken:
    """A token just made, and its secret: the only time anyone sees it."""

    token: AccessToken
    secret: str


@dataclass(frozen=True)
class SessionTokenRight:
    """Whether this signed-in session may make tokens, and whether they count as made with a
    second factor. Refused, `enrolled` says whether the person has a second factor to prove
    (re-authenticate) or must set one up first."""

    allowed: bool
    with_second_factor: bool
    enrolled: bool


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_status(token: AccessToken, *, now: datetime | None = None) -> str:
    """One of "active", "expired" and "revoked"."""
    now = now or timezone.now()
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at <= now:
        return "expired"
    return "active"


def scope_allows(scope: str, method: str) -> bool:
    """A read token may only look; a write token may do whatever its owner may."""
    return scope == TokenScope.WRITE or method.upper() in SAFE_METHODS


def second_factor_guards(user: User) -> bool:
    """This person's tokens come only from a session that passed a second factor: they must
    have one, or they have set one up (then a password alone is no longer all it takes)."""
    return second_factor_required(user) or second_factor_enrolled(user)


# --- Reading ----------------------------------------------------------------------------------


def access_tokens_of(user: User) -> QuerySet[AccessToken]:
    """A person's tokens, newest first, whatever their state."""
    return AccessToken.objects.filter(user=user).order_by("-created_at", "-id")


def _active(now: datetime) -> Q:
    return Q(revoked_at__isnull=True, expires_at__gt=now)


# --- Making and revoking ----------------------------------------------------------------------


def session_token_right(request: HttpRequest) -> SessionTokenRight:
    """May the person signed in on this session make a token here, and how is it made?"""
    user = request.user
    if not isinstance(user, User):
        return SessionTokenRight(allowed=False, with_second_factor=False, enrolled=False)
    passed = session_passed_second_factor(request)
    enrolled = second_factor_enrolled(user)
    return SessionTokenRight(
        allowed=passed or not (enrolled or second_factor_required(user)),
        with_second_factor=passed,
        enrolled=enrolled,
    )


def access_token_create(
    *,
    user: User,
    name: str,
    scope: str,
    expires_in_days: int,
    with_second_factor: bool,
    by_password: bool = False,
    now: datetime | None = None,
) -> NewToken:
    """Make a token; its secret is in the answer and nowhere else."""
    now = now or timezone.now()
    name = " ".join(name.split())  # no line breaks or runs of spaces in a list of names
    fields: dict[str, list[str]] = {}
    if not name:
        fields["name"] = [_("Give the token a name, to tell it apart later.")]
    elif len(name) > NAME_MAX_LENGTH:
        fields["name"] = [_("At most %(count)s characters.") % {"count": NAME_MAX_LENGTH}]
    if scope not in TokenScope.values:
        fields["scope"] = [_("read or write.")]
    if expires_in_days not in EXPIRY_DAYS:
        fields["expires_in_days"] = [
            _("One of %(days)s days.") % {"days": ", ".join(str(d) for d in EXPIRY_DAYS)}
        ]
    if fields:
        raise ValidationFailed(_("Some fields are not valid."), fields=fields)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        # One at a time per person, so that the count below holds.
        User.objects.select_for_update().filter(pk=user.pk).first()
        if by_password:
            _password_tokens_prune(user=user, now=now)
        if AccessToken.objects.filter(_active(now), user=user).count() >= MAX_ACTIVE_TOKENS:
            raise Conflict(
                _(
                    "You hold %(count)s active tokens, the most one person may: revoke those "
                    "you no longer use on the personal access tokens page (%(page)s)."
                )
                % {"count": MAX_ACTIVE_TOKENS, "page": TOKENS_PAGE}
            )
        token = AccessToken.objects.create(
            user=user,
            name=name,
            scope=scope,
            prefix=secret[:SHOWN_PREFIX_LENGTH],
            secret_hash=secret_hash(secret),
            created_at=now,
            expires_at=now + timedelta(days=expires_in_days),
            created_with_second_factor=with_second_factor,
            by_password_sign_in=by_password,
        )
        audit_record(
            actor=user,
            action="access_token.created",
            target=token,
            data={
                "name": token.name,
                "prefix": token.prefix,
                "scope": token.scope,
                "expires_at": token.expires_at.isoformat(),
                "created_with_second_factor": with_second_factor,
                "by_password_sign_in": by_password,
            },
        )
    return NewToken(token=token, secret=secret)


def access_token_for_password(*, user: User, now: datetime | None = None) -> NewToken:
    """The token `POST /api/v1/auth/token/` gives for an e-mail address and password, to people
    whom a password alone still signs in; everyone else is sent to the tokens page."""
    if second_factor_guards(user):
        raise SecondFactorNeeded(
            _(
                "A password alone gives no API token to an account that has, or must have, a "
                "second factor. Sign in on the website with your second factor (set one up first "
                "if you have none) and make a token on the personal access tokens page (%(page)s)."
            )
            % {"page": TOKENS_PAGE}
        )
    return access_token_create(
        user=user,
        name=PASSWORD_TOKEN_NAME,
        scope=TokenScope.WRITE,
        expires_in_days=PASSWORD_TOKEN_DAYS,
        with_second_factor=False,
        by_password=True,
        now=now,
    )


def _password_tokens_prune(*, user: User, now: datetime) -> None:
    """Revoke the oldest active password-given tokens, to leave room for one more within
    PASSWORD_TOKENS_KEPT."""
    older = AccessToken.objects.filter(_active(now), user=user, by_password_sign_in=True)
    for token in older.order_by("-created_at", "-id")[PASSWORD_TOKENS_KEPT - 1 :]:
        _revoke(token, actor=user, now=now, reason="replaced by a newer sign-in")


def access_token_revoke(
    *, user: User, token_id: int, actor: User | None = None, now: datetime | None = None
) -> AccessToken:
    """Revoke one of `user`'s tokens (another person's does not exist for them), by its owner
    or, when `actor` says so, a platform admin. Once revoked it stays so; revoking it again
    changes nothing."""
    now = now or timezone.now()
    actor = actor or user
    with transaction.atomic():
        token = AccessToken.objects.select_for_update().filter(pk=token_id, user=user).first()
        if token is None:
            raise NotFound(_("No such token among yours."))
        if token.revoked_at is None:
            reason = "revoked by its owner" if actor == user else "revoked by a platform admin"
            _revoke(token, actor=actor, now=now, reason=reason)
    return token


def _revoke(token: AccessToken, *, actor: User | None, now: datetime, reason: str) -> None:
    token.revoked_at = now
    token.save(update_fields=["revoked_at"])
    audit_record(
        actor=actor,
        action="access_token.revoked",
        target=token,
        data={"name": token.name, "prefix": token.prefix, "reason": reason},
    )


def access_tokens_revoke_all(
    *,
    user: User,
    actor: User | None,
    reason: str,
    password_given_only: bool = False,
    now: datetime | None = None,
) -> int:
    """Revoke every active token of `user` (only those given for a password, if asked): when
    their password changes, or their account is erased or disabled. Answers how many."""
    now = now or timezone.now()
    with transaction.atomic():
        active = AccessToken.objects.select_for_update().filter(_active(now), user=user)
        if password_given_only:
            active = active.filter(by_password_sign_in=True)
        revoked = list(active)
        for token in revoked:
            _revoke(token, actor=actor, now=now, reason=reason)
    return len(revoked)


def password_changed(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    """A new password ends the tokens the old one was exchanged for (allauth's password_changed
    and password_reset signals; connected in `AccountsConfig.ready`)."""
    access_tokens_revoke_all(
        user=user, actor=user, reason="the password changed", password_given_only=True
    )


# --- Using ------------------------------------------------------------------------------------


def access_token_authenticate(
    *, secret: str, method: str, now: datetime | None = None
) -> AccessToken:
    """The token this secret is, if it signs its owner in for a request of this `method`.

    Raises `TokenRefused` (unknown, expired, revoked, an inactive person, or made without the
    second factor its owner must have, or has set up since) or `PermissionDenied` (a read token
    asked to change)."""
    now = now or timezone.now()
    if DRF_TOKEN.fullmatch(secret):
        raise TokenRefused(
            _(
                "WeScan no longer accepts this kind of token (40 hexadecimal digits). Make a "
                "personal access token on the personal access tokens page (%(page)s); they "
                "start with wst_."
            )
            % {"page": TOKENS_PAGE}
        )
    if len(secret) > SECRET_MAX_LENGTH or not secret.startswith(SECRET_PREFIX):
        raise TokenRefused(_("Invalid token."))
    token = (
        AccessToken.objects.select_related("user").filter(secret_hash=secret_hash(secret)).first()
    )
    if token is None:
        raise TokenRefused(_("Invalid token."))
    if token.revoked_at is not None:
        raise TokenRefused(
            _(
                "This token (%(prefix)s…) was revoked. Make a new one on the personal access "
                "tokens page (%(page)s)."
            )
            % {"prefix": token.prefix, "page": TOKENS_PAGE}
        )
    if token.expires_at <= now:
        raise TokenRefused(
            _(
                "This token (%(prefix)s…) expired on %(when)s UTC. Make a new one on the "
                "personal access tokens page (%(page)s)."
            )
            % {
                "prefix": token.prefix,
                "when": f"{token.expires_at:%Y-%m-%d %H:%M}",
                "page": TOKENS_PAGE,
            }
        )
    user = token.user
    if not user.is_active:
        raise TokenRefused(_("This account is disabled."))
    if not token.created_with_second_factor and second_factor_guards(user):
        raise TokenRefused(
            _(
                "This token (%(prefix)s…) was made without a second factor, which your "
                "account requires (or has, since): sign in on the website with your second "
                "factor and make a new one on the personal access tokens page (%(page)s)."
            )
            % {"prefix": token.prefix, "page": TOKENS_PAGE}
        )
    if not scope_allows(token.scope, method):
        raise PermissionDenied(
            _(
                "This token (%(prefix)s…) has read scope: it may only look (GET, HEAD, "
                "OPTIONS). Use a token with write scope to make changes."
            )
            % {"prefix": token.prefix}
        )
    if token.last_used_at is None or token.last_used_at <= now - LAST_USED_PRECISION:
        AccessToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_PRECISION)
        ).update(last_used_at=now)
        token.last_used_at = now
    return token


class AccessTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <secret>` with a personal access token (DRF's header and keyword,
    WeScan's tokens). A refused token is a 401 that says why, with WWW-Authenticate: Token; a
    read token asked to change something, a 403."""

    keyword = "Token"

    def authenticate(self, request: Request) -> tuple[User, AccessToken] | None:
        words = get_authorization_header(request).split()
        if not words or words[0].lower() != self.keyword.lower().encode():
            return None
        if len(words) != 2:
            raise exceptions.AuthenticationFailed(
                _(
                    "Invalid token header: send `Authorization: Token <secret>`, the secret "
                    "without spaces."
                )
            )
        try:
            secret = words[1].decode("ascii")
        except UnicodeError:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
        try:
            token = access_token_authenticate(secret=secret, method=request.method or "GET")
        except TokenRefused as refusal:
            raise exceptions.AuthenticationFailed(refusal.message) from None
        except PermissionDenied as refusal:
            raise exceptions.PermissionDenied(refusal.message) from None
        # Pages get the person's own language from accounts.language.PersonLanguageMiddleware,
        # which sees session users only: a token speaks for its person too, so the API's
        # messages come in the language they chose (none chosen: the browser's, Accept-Language).
        chosen = token.user.language
        if chosen in {code for code, _name in settings.LANGUAGES}:
            translation.activate(chosen)
            request._request.LANGUAGE_CODE = chosen
        return token.user, token

    def authenticate_credentials(self, key: str) -> Any:
        raise NotImplementedError("WeScan's tokens are read by authenticate()")
