"""Nothing before a second factor (`accounts.second_factor.second_factor_hold`): a signed-in
person who must have one and has none is sent to set one up, whatever page they ask for; a
session of a person who has one and has not passed it in this session (signed in with the
password before the factor was set up elsewhere) is sent to pass it (allauth's
`mfa_reauthenticate`, which records it) and may reach nothing else.

Only what setting one up needs stays open: the set-up pages themselves (WeScan's and allauth's
`mfa_*`), confirming one's e-mail address (allauth lets no one add a second factor to an
unconfirmed address), confirming one's password again (allauth asks before adding one, five
minutes after signing in), signing out, static files and the browser's CSP reports. The API,
signed in by the session, answers 403 in the shared error shape instead of a redirect.

The test is "this session proved one", not "has one": a session signed in with the password
alone, before the factor was set up in another session, has proved nothing (setting one up also
signs out the person's other sessions, `accounts.mfa`). A held request is marked
(`core.gates.request_hold`) so that its page's header shows nothing of the hospitals. The API
docs are a page: a held person is redirected from them like from any page.
"""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from accounts.second_factor import Hold, second_factor_hold
from core.api import error_body
from core.errors import PermissionDenied
from core.gates import request_hold

SETUP_URL_NAME = "second_factor_setup"
PROVE_URL_NAME = "mfa_reauthenticate"
# The pages a session that has not passed its person's second factor may still reach.
# The language switch and the JavaScript's translations hold nothing of a hospital: a held page
# speaks the person's language too (and the catalogue is no page to come back to after it).
LANGUAGE_URL_NAMES = frozenset({"set_language", "javascript_catalog"})
PROVE_OPEN_URL_NAMES = frozenset({PROVE_URL_NAME, "account_logout", *LANGUAGE_URL_NAMES})
# The pages a person without a second factor may still reach (by URL name).
OPEN_URL_NAMES = frozenset(
    {
        SETUP_URL_NAME,
        "account_logout",
        "account_reauthenticate",
        "account_email",
        "account_confirm_email",
        "account_email_verification_sent",
        *LANGUAGE_URL_NAMES,
    }
)
OPEN_PATH_PREFIXES = ("/csp-report/",)
API_MESSAGE = _(
    "Your account must have a second factor (an authenticator app or a passkey) before it uses "
    "WeScan: set one up on the web, under My profile."
)
PROVE_MESSAGE = _(
    "This session has not passed your second factor (it was signed in before you set one up): "
    "sign in again, or confirm your code on the web, before it uses WeScan."
)
# API paths that are pages for a browser (answered with a redirect, not JSON).
API_PAGE_URL_NAMES = frozenset({"api_docs"})


class SecondFactorHeld(PermissionDenied):
    code = "second_factor_required"


def socket_check(scope: dict[str, Any]) -> PermissionDenied | None:
    """`core.gates`: a person's own socket (the notification feed) opens only for a session
    that may use WeScan; the same rule as the pages."""
    user = scope.get("user")
    session = scope.get("session")
    if user is None or not user.is_authenticated:
        return None
    hold = Hold.PROVE if session is None else second_factor_hold(user, session)
    if hold is None:
        return None
    return SecondFactorHeld(str(API_MESSAGE if hold == Hold.SET_UP else PROVE_MESSAGE))


def _url_name(request: HttpRequest) -> str | None:
    match = request.resolver_match
    return match.url_name if match is not None else None


def _open(request: HttpRequest, hold: Hold) -> bool:
    name = _url_name(request)
    if hold == Hold.PROVE:
        opened = name in PROVE_OPEN_URL_NAMES
    else:
        opened = name is not None and (name in OPEN_URL_NAMES or name.startswith("mfa_"))
    if opened:
        return True
    path = request.path_info
    static = "/" + settings.STATIC_URL.lstrip("/")
    return path.startswith(static) or path.startswith(OPEN_PATH_PREFIXES)


def setup_url(next_url: str) -> str:
    """The set-up page, coming back to `next_url` once a second factor is set up."""
    return f"{reverse(SETUP_URL_NAME)}?{urlencode({'next': next_url})}"


def prove_url(next_url: str) -> str:
    """allauth's page to pass one's second factor again, coming back to `next_url`."""
    return f"{reverse(PROVE_URL_NAME)}?{urlencode({'next': next_url})}"


def hold_url(hold: Hold, next_url: str) -> str:
    return setup_url(next_url) if hold == Hold.SET_UP else prove_url(next_url)


class SecondFactorRequiredMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Marked before any view (a 404 page too): a held page's header lists nothing.
        user = getattr(request, "user", None)
        hold = None
        if user is not None and user.is_authenticated:
            hold = second_factor_hold(user, request.session)
        if hold is not None:
            request_hold(request)
        request._second_factor_hold = hold  # type: ignore[attr-defined]
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        hold: Hold | None = getattr(request, "_second_factor_hold", None)
        if hold is None or _open(request, hold):
            return None
        if request.path_info.startswith("/api/") and _url_name(request) not in API_PAGE_URL_NAMES:
            if hold == Hold.SET_UP:
                return JsonResponse(
                    error_body("second_factor_required", str(API_MESSAGE)), status=403
                )
            return JsonResponse(
                error_body("second_factor_required", str(PROVE_MESSAGE)), status=403
            )
        back = request.get_full_path() if request.method == "GET" else reverse("home")
        return HttpResponseRedirect(hold_url(hold, back))
