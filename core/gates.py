"""What a layer above may hold back from a signed-in person, told to core's own doors.

Core knows nothing of second factors (accounts does, above it). Accounts tells core two things:
- a request it holds (`request_hold`): the person may only do what unlocks them (set up or pass
  a second factor, sign out), so the header lists nothing of the hospitals (no navigation, no
  notices) and starts no live feed;
- why a person's websocket may not open (`register_socket_check`), asked by the notification
  socket before it joins the person's group.
"""

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest

from core.errors import DomainError

_HELD = "_wescan_held"

# A check takes the socket's scope (with its signed-in user and session) and answers the error
# the person is told when the socket may not open, or None. It runs in a sync thread (it may
# read the database).
SocketCheck = Callable[[dict[str, Any]], DomainError | None]
_socket_checks: list[SocketCheck] = []


def request_hold(request: HttpRequest) -> None:
    setattr(request, _HELD, True)


def request_held(request: HttpRequest) -> bool:
    return bool(getattr(request, _HELD, False))


def register_socket_check(check: SocketCheck) -> None:
    if check not in _socket_checks:
        _socket_checks.append(check)


def socket_refusal(scope: dict[str, Any]) -> DomainError | None:
    """Why this person's socket may not open (the first reason), or None."""
    for check in _socket_checks:
        error = check(scope)
        if error is not None:
            return error
    return None
