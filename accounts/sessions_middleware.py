"""Signs out a session left idle longer than SESSION_IDLE_TIMEOUT_S (see `accounts.sessions`).

A page request is sent to sign in again, with a message saying why, and comes back where it
was going; an API request with only the session cookie is answered 401 in the API's error shape.
Any request of a signed-in session is activity."""

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext_lazy

from accounts.sessions import session_activity, session_idle_timeout_words
from core.api import error_body

IDLE_MESSAGE = gettext_lazy("You were signed out after {duration} without activity. Sign in again.")


class SessionIdleMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated and not session_activity(request):
            return self.signed_out(request)
        return self.get_response(request)

    def signed_out(self, request: HttpRequest) -> HttpResponse:
        text = str(IDLE_MESSAGE).format(duration=session_idle_timeout_words())
        logout(request)
        if request.path.startswith("/api/"):
            if request.headers.get("Authorization"):
                return self.get_response(request)  # a token still speaks for itself
            response = JsonResponse(error_body("session_expired", text), status=401)
            response["WWW-Authenticate"] = "Token"
            return response
        messages.info(request, text)
        target = request.get_full_path() if request.method == "GET" else request.path
        return redirect_to_login(target)
