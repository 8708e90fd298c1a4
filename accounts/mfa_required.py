"""Nothing before a second factor: a signed-in person who must have one (`second_factor_required`)
and has none is sent to set one up, whatever page they ask for.

Only what setting one up needs stays open: the set-up pages themselves (WeScan's and allauth's
`mfa_*`), confirming one's e-mail address (allauth lets no one add a second factor to an
unconfirmed address), confirming one's password again (allauth asks before adding one, five
minutes after signing in), signing out, static files and the browser's CSP reports. The API,
signed in by the session, answers 403 in the shared error shape instead of a redirect.

The test is "has one", not "this session proved one": allauth asks everyone who has one for it
at sign-in (the only way into a session), so a session of an enrolled person passed it, or set
it up in this very session. A test's `force_login` session therefore passes only once the
person is enrolled (`tests.factories.enrol_totp`).
"""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils.http import urlencode

from accounts.second_factor import second_factor_enrolled, second_factor_required
from core.api import error_body

SETUP_URL_NAME = "second_factor_setup"
# The pages a person without a second factor may still reach (by URL name).
OPEN_URL_NAMES = frozenset(
    {
        SETUP_URL_NAME,
        "account_logout",
        "account_reauthenticate",
        "account_email",
        "account_confirm_email",
        "account_email_verification_sent",
    }
)
OPEN_PATH_PREFIXES = ("/csp-report/",)
API_MESSAGE = (
    "Your account must have a second factor (an authenticator app or a passkey) before it uses "
    "WeScan: set one up on the web, under My profile."
)


def _open(request: HttpRequest) -> bool:
    match = request.resolver_match
    name = match.url_name if match is not None else None
    if name is not None and (name in OPEN_URL_NAMES or name.startswith("mfa_")):
        return True
    path = request.path_info
    static = "/" + settings.STATIC_URL.lstrip("/")
    return path.startswith(static) or path.startswith(OPEN_PATH_PREFIXES)


def setup_url(next_url: str) -> str:
    """The set-up page, coming back to `next_url` once a second factor is set up."""
    return f"{reverse(SETUP_URL_NAME)}?{urlencode({'next': next_url})}"


class SecondFactorRequiredMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or _open(request):
            return None
        if second_factor_enrolled(user) or not second_factor_required(user):
            return None
        if request.path_info.startswith("/api/"):
            return JsonResponse(error_body("second_factor_required", API_MESSAGE), status=403)
        back = request.get_full_path() if request.method == "GET" else reverse("home")
        return HttpResponseRedirect(setup_url(back))
