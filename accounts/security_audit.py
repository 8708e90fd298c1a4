"""The audit trail of signing in and of the means to (ASVS V7): each is an event in no hospital's
name, on the person's account (`accounts.user`), written through `core.audit.audit_record`.
Platform admins read them in the admin; the person finds those they did in their data download.

- `auth.signed_in`: a sign-in completed through allauth (password, passkey, second factor:
  allauth's `user_logged_in`, which a test client's `force_login` does not send);
- `auth.signed_out`: Django's `user_logged_out` (the person's own, the idle timeout, signing out
  everywhere);
- `auth.sign_in_failed`: a wrong password for an existing account, by an unknown actor. For an
  address with no account nothing is written: what a stranger typed is nobody's data to keep;
- `auth.second_factor_added` / `_removed`, `auth.recovery_codes_renewed`,
  `auth.recovery_code_used` and `auth.second_factor_failed` (allauth.mfa's signals): the kind of
  factor only, never a code or a secret.

Each is a short write under the chain's lock (see core.audit), in the request's transaction.
Connected once, from `AccountsConfig.ready`, by importing this module.
"""

from typing import Any

from allauth.account import signals as account_signals
from allauth.mfa import signals as mfa_signals
from allauth.mfa.models import Authenticator
from django.contrib.auth import signals as auth_signals

from accounts.models import User
from accounts.privacy import is_erased
from core.audit import audit_record

# The longest e-mail address looked up for a failed sign-in (an address is at most 254).
MAX_EMAIL_LENGTH = 254


def _record(*, actor: User | None, user: User, action: str, **data: Any) -> None:
    audit_record(actor=actor, action=action, target=user, data=data)


def signed_in(sender: object, *, user: object, **kwargs: object) -> None:
    if isinstance(user, User):
        _record(actor=user, user=user, action="auth.signed_in")


def signed_out(sender: object, *, user: object = None, **kwargs: object) -> None:
    if not isinstance(user, User):  # None for a session that was not signed in
        return
    # As the account is now: the sign-out that follows an erasure has nothing to add (and the
    # request's copy of the person still holds the address erasure took away).
    current = User.objects.filter(pk=user.pk).first()
    if current is not None and not is_erased(current):
        _record(actor=current, user=current, action="auth.signed_out")


def sign_in_failed(sender: object, *, credentials: dict[str, Any], **kwargs: object) -> None:
    typed = credentials.get("email") or credentials.get("username") or ""
    if not isinstance(typed, str) or not typed or len(typed) > MAX_EMAIL_LENGTH:
        return
    user = User.objects.filter(email__iexact=typed.strip()).first()
    if user is not None:
        _record(actor=None, user=user, action="auth.sign_in_failed")


def _factor(authenticator: object) -> str:
    return str(getattr(authenticator, "type", "") or "")


def factor_added(sender: object, *, user: object, authenticator: object, **kwargs: object) -> None:
    if isinstance(user, User):
        _record(
            actor=user, user=user, action="auth.second_factor_added", factor=_factor(authenticator)
        )


def factor_removed(
    sender: object, *, user: object, authenticator: object, **kwargs: object
) -> None:
    if isinstance(user, User):
        _record(
            actor=user,
            user=user,
            action="auth.second_factor_removed",
            factor=_factor(authenticator),
        )


def factor_reset(sender: object, *, user: object, authenticator: object, **kwargs: object) -> None:
    if isinstance(user, User):
        _record(actor=user, user=user, action="auth.recovery_codes_renewed")


def factor_used(sender: object, *, user: object, authenticator: object, **kwargs: object) -> None:
    # A code from the app or a passkey is the usual way in (the sign-in says so); a recovery
    # code is the one its owner should hear about.
    if isinstance(user, User) and _factor(authenticator) == Authenticator.Type.RECOVERY_CODES:
        _record(actor=user, user=user, action="auth.recovery_code_used")


def factor_failed(sender: object, *, user: object, authenticator: object, **kwargs: object) -> None:
    if isinstance(user, User):
        _record(
            actor=user,
            user=user,
            action="auth.second_factor_failed",
            factor=_factor(authenticator),
            reauthentication=bool(kwargs.get("reauthentication", False)),
        )


account_signals.user_logged_in.connect(signed_in, dispatch_uid="security_audit.signed_in")
auth_signals.user_logged_out.connect(signed_out, dispatch_uid="security_audit.signed_out")
auth_signals.user_login_failed.connect(sign_in_failed, dispatch_uid="security_audit.failed")
mfa_signals.authenticator_added.connect(factor_added, dispatch_uid="security_audit.added")
mfa_signals.authenticator_removed.connect(factor_removed, dispatch_uid="security_audit.removed")
mfa_signals.authenticator_reset.connect(factor_reset, dispatch_uid="security_audit.reset")
mfa_signals.authenticator_used.connect(factor_used, dispatch_uid="security_audit.used")
mfa_signals.authentication_failed.connect(factor_failed, dispatch_uid="security_audit.mfa_failed")
