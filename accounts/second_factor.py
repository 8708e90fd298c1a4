"""Who must have a second factor, who has one, and whether this session passed it.

The rule of which roles must (managers, local staff, platform admins) belongs to the hospitals'
layer, which knows memberships: it registers a reader here at start-up
(`register_required_reader`), as accounts knows no hospitals. Platform admins (`is_staff`) are
known here. Sessions record how they signed in through allauth's authentication records; a
record of method "mfa" means this session passed a second factor (at sign-in, or since, by
re-authenticating or by setting one up).
"""

from collections.abc import Callable

from allauth.account.authentication import get_authentication_records
from allauth.mfa.models import Authenticator
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
    if not user.is_authenticated:
        return False
    return any(
        record.get("method") == "mfa" for record in get_authentication_records(request, user)
    )
