"""Sessions made by a test, as if their person signed in through allauth's sign-in: with the
password and, when they have one, their second factor (allauth's authentication records, which
`accounts.second_factor_hold` reads). A session without the second-factor record of a person who
has one is held (sent to pass it, refused by the API and the sockets): the tests that mean that
sign in with the password through the real pages instead.

`client.force_login` gets the records through the autouse fixture in tests/conftest.py; a
websocket test's session cookie is `session_cookie`."""

from allauth.account.internal.flows.login import record_authentication
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.base import SessionBase
from django.contrib.sessions.backends.db import SessionStore
from django.http import HttpRequest
from django.test import Client

from accounts.models import User
from accounts.second_factor import second_factor_enrolled


def record_signed_in(session: SessionBase, user: User) -> None:
    """Write into `session` the records of a sign-in with the password and, if `user` has a
    second factor, with it (the caller saves the session)."""
    if not second_factor_enrolled(user):
        return
    carrier = HttpRequest()
    carrier.session = session
    record_authentication(carrier, user, "password", email=user.email)
    record_authentication(carrier, user, "mfa", type="totp")


def session_cookie(user: User, *, second_factor: bool = True) -> str:
    """The `Cookie` header value of a new signed-in session of `user` (with the password alone
    if not `second_factor`)."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    if second_factor:
        record_signed_in(session, user)
    session.save()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def password_only_client(user: User) -> Client:
    """A client signed in as `user` with the password alone: a session of a person who has a
    second factor that has not passed it (signed in before it was set up, elsewhere)."""
    client = Client()
    client.force_login(user)
    session = client.session
    # allauth's records of how this session signed in (AUTHENTICATION_METHODS_SESSION_KEY and
    # the user they belong to).
    session.pop("account_authentication_methods", None)
    session.pop("account_authentication_methods_user", None)
    session.save()
    return client
