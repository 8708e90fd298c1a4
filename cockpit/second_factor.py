"""A cockpit needs a second factor: whoever joins one runs, or stands beside, a scanner with a
patient in it. Managers, local staff and platform admins have one before anything else
(`accounts.mfa_required`); a technologist sets one up before their first cockpit. The console
page and the relay ask this one rule."""

from accounts.models import User
from accounts.second_factor import second_factor_enrolled

MESSAGE = (
    "A cockpit runs a scanner with a patient in it: set up a second factor (an authenticator "
    "app or a passkey) under My profile before you join one."
)


def second_factor_missing(user: User) -> bool:
    return not second_factor_enrolled(user)
