"""Who must have a second factor, who has one, and whether this session passed it.

The rule of which roles must (managers, local staff, platform admins) belongs to the hospitals'
layer, which knows memberships: it registers a reader here at start-up
(`register_required_reader`), as accounts knows no hospitals. Platform admins (`is_staff`) are
known here. Sessions record how they signed in through allauth's authentication records; a
record of method "mfa" means this session passed a second factor (at sign-in, or since, by
re-authenticating or by setting one up).

`second_factor_hold` is the one rule every door asks (pages, the API, the cockpit, the
notification socket): a person who has a second factor uses WeScan only from a session that
passed it (having one elsewhere proves nothing about this session), and one who must have one
and has none sets one up first.
"""

from collections.abc import Callable
from enum import StrEnum

from allauth.account.authentication import get_authentication_records
from allauth.mfa.models import Authenticator
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest

from accounts.models import User

_required_readers: list[Callable[[User], bool]] = []


def register_required_reader(reader: Callable[[User], bool]) -> None:
    """A layer above adds a reason a person must have a second factor (a role they hold)."""
    if reader not in _required_readers:
        _required_readers.append(reader)


def second_factor_required(user: User) -> bool:
    """This person may not use WeScan (beyond setting one up) without a second factor."""
    if not user.is_authenticated:
        return False
    if user.is_staff:
        return True
    return any(reader(user) for reader in _required_readers)


def second_factor_enrolled(user: User) -> bool:
    """This person has an authenticator app or a passkey (recovery codes alone are not one)."""
    if not user.is_authenticated:
        return False
    return Authenticator.objects.filter(
        user=user, type__in=[Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]
    ).exists()


def session_passed_second_factor(request: HttpRequest) -> bool:
    """This signed-in session proved a second factor (a code, a recovery code or a passkey)."""
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        return False
    return session_records_second_factor(request.session, user)


def session_records_second_factor(session: SessionBase, user: User) -> bool:
    """The session (of a request, or of a websocket's scope) of `user` holds allauth's record of
    a second factor passed. allauth reads its records off a request; a bare one carries the
    session to it."""
    carrier = HttpRequest()
    carrier.session = session
    return any(
        record.get("method") == "mfa" for record in get_authentication_records(carrier, user)
    )


class Hold(StrEnum):
    """Why a signed-in session may not use WeScan yet."""

    SET_UP = "set_up"  # the person must have a second factor and has none
    PROVE = "prove"  # the person has one and this session has not passed it


def second_factor_hold(
    user: User, session: SessionBase, *, needed: bool | None = None
) -> Hold | None:
    """What this signed-in session of `user` must do about a second factor first, or None.
    `needed` overrides who must have one (a cockpit needs one whatever the role)."""
    if not user.is_authenticated:
        return None
    if second_factor_enrolled(user):
        return None if session_records_second_factor(session, user) else Hold.PROVE
    must = second_factor_required(user) if needed is None else needed
    return Hold.SET_UP if must else None
