"""Typed access to the signed-in user of a request that already passed authentication.

Views behind `login_required` take an `AuthenticatedHttpRequest`; API views, whose permission
classes have already refused anonymous callers, read the user through `request_user`."""

from django.http import HttpRequest
from rest_framework.request import Request

from accounts.models import User


class AuthenticatedHttpRequest(HttpRequest):
    user: User


def request_user(request: Request | HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):
        # Unreachable behind IsAuthenticated; fail loudly rather than act as nobody.
        raise TypeError("request_user() needs an authenticated request")
    return user
