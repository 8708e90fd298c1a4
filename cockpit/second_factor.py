"""A cockpit needs a second factor, passed in the session that joins: whoever joins one runs, or
stands beside, a scanner with a patient in it. Managers, local staff and platform admins have one
before anything else (`accounts.mfa_required`); a technologist sets one up before their first
cockpit. A session signed in before its person set one up (elsewhere) has passed none and joins
nothing until it does. The console page and the relay ask this one rule
(`accounts.second_factor.second_factor_hold`, a cockpit needing one whatever the role)."""

from django.contrib.sessions.backends.base import SessionBase
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from accounts.second_factor import Hold, second_factor_hold

MESSAGE = _(
    "A cockpit runs a scanner with a patient in it: set up a second factor (an authenticator "
    "app or a passkey) under My profile before you join one."
)
PROVE_MESSAGE = _(
    "A cockpit runs a scanner with a patient in it: this session has not passed your second "
    "factor (it was signed in before you set one up). Sign in again before you join one."
)


def cockpit_hold(user: User, session: SessionBase) -> Hold | None:
    """What this session must do about a second factor before it joins a cockpit, or None."""
    return second_factor_hold(user, session, needed=True)


def refusal(hold: Hold) -> str:
    return str(MESSAGE if hold == Hold.SET_UP else PROVE_MESSAGE)
