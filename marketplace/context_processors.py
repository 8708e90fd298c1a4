import functools
from typing import Any

from django.http import HttpRequest

from marketplace import selectors
from marketplace.invitations import INVITATION_SESSION_KEY


def pending_invitation(request: HttpRequest) -> dict[str, Any]:
    """While an anonymous visitor follows an invitation link through sign-up or sign-in, every
    page reminds them which hospital they are joining and with which address."""
    session = getattr(request, "session", None)
    user = getattr(request, "user", None)
    if session is None or (user is not None and user.is_authenticated):
        return {}
    token = session.get(INVITATION_SESSION_KEY)
    if not token:
        return {}
    invitation = selectors.invitation_by_token(token=token)
    if invitation is None or invitation.status != "pending":
        return {}
    return {"pending_invitation": invitation}


def viewer_clock(request: HttpRequest) -> dict[str, Any]:
    """`viewer_time_zone`: the wall clock of a signed-in person's own pages
    (`selectors.viewer_time_zone`), for the times in the header's notices and on the account
    pages below this app (sessions, tokens). A callable, so the template looks it up only when it
    shows a time, once a request."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"viewer_time_zone": functools.cache(lambda: selectors.viewer_time_zone(user))}
