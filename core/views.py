from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.csrf import csrf_failure as django_csrf_failure
from django.views.decorators.cache import cache_control
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST, require_safe
from django.views.i18n import JavaScriptCatalog

from core import csp, notify
from core.api import error_body, request_user_id
from core.client_address import client_ip, rate_limit_address
from core.errors import Throttled, ValidationFailed
from core.ids import is_id, whole_number
from core.outage import unavailable_response_for_current_exception
from core.pages import next_or
from core.ratelimit import Rate, TokenBuckets


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith("/api/"):
        return api_not_found(request)
    return render(request, "error.html", {"status": 404, "message": _("Not found.")}, status=404)


@csrf_exempt  # it changes nothing, and must not answer a cookie-carrying POST with a CSRF 403
def api_not_found(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    """Any address under /api/ that no route takes (the last route of the URLconf, so that
    DEBUG's HTML 404 page never answers an API client)."""
    return JsonResponse(error_body("not_found", _("No such address in the API.")), status=404)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: an API client is told in the API's error shape (DRF's own views
    check CSRF themselves and answer so already); pages keep Django's explanation."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            error_body(
                "forbidden",
                _("CSRF check failed: %(reason)s") % {"reason": reason}
                if reason
                else _("CSRF check failed."),
            ),
            status=403,
        )
    if settings.DEBUG:
        return django_csrf_failure(request, reason=reason)  # Django's explanation, for developers
    return render(
        request,
        "error.html",
        {
            "status": 403,
            "message": _(
                "This form had expired or came from another site, so nothing was done. "
                "Go back, reload the page and send it again."
            ),
        },
        status=403,
    )


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler400. A body over the size limit is a 413 that says so (Django calls it a
    suspicious 400); an API client gets the API's error shape."""
    limit = (settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0) // 1024
    status, code, message = 400, "bad_request", _("That request was not understood.")
    if isinstance(exception, RequestDataTooBig):
        status, code = 413, "request_too_large"
        message = _("What you sent is larger than %(limit)s KiB.") % {"limit": limit}
    elif isinstance(exception, TooManyFieldsSent):
        message = _("The form sent more fields than any WeScan form has.")
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(code, message), status=status)
    return render(request, "error.html", {"status": status, "message": message}, status=status)


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's handler500, also for what failed in a middleware (loading the session, the
    signed-in person): 503 when the database or Redis is not answering."""
    if (unavailable := unavailable_response_for_current_exception(request)) is not None:
        return unavailable
    if request.path.startswith("/api/"):
        return JsonResponse(
            error_body("server_error", _("Something went wrong on our side.")), status=500
        )
    return render(request, "500.html", status=500)


# --- Notifications ------------------------------------------------------------------------------
# Opening and marking notices read. The list itself is `marketplace.views.notifications`: it
# shows each notice on the viewer's own wall clock, which only the marketplace knows.


@login_required
def notification_open(request: HttpRequest, notification_id: int) -> HttpResponse:
    """Follow a notice's link; opening it marks it read."""
    notification = notify.notification_mark_read(
        user_id=request_user_id(request), notification_id=notification_id
    )
    target = notification.url
    if not target or not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("notifications")
    return redirect(target)


@login_required
@require_POST
def notification_read(request: HttpRequest, notification_id: int) -> HttpResponse:
    notify.notification_mark_read(user_id=request_user_id(request), notification_id=notification_id)
    return redirect(next_or(request, reverse("notifications")))


@login_required
@require_POST
def notifications_read_all(request: HttpRequest) -> HttpResponse:
    raw = request.POST.get("up_to", "")
    up_to = whole_number(raw) if raw else None
    if raw and (up_to is None or not is_id(up_to)):
        raise ValidationFailed(_("'up_to' must be a notification id."))
    marked = notify.notification_mark_all_read(user_id=request_user_id(request), up_to_id=up_to)
    messages.success(
        request,
        ngettext(
            "%(count)s notification marked read.", "%(count)s notifications marked read.", marked
        )
        % {"count": marked},
    )
    return redirect(next_or(request, reverse("notifications")))


# --- Content Security Policy violation reports ----------------------------------------------

# Reports per client address: a page that breaks the policy sends one per violation at once (the
# burst), a stranger flooding the log is held to the steady rate.
report_buckets = TokenBuckets()


@csrf_exempt  # browsers send reports without a token (or a cookie, under report-to)
@require_POST
def csp_report(request: HttpRequest) -> HttpResponse:
    """Where browsers report what the Content Security Policy blocked (`report-uri` and the
    Reporting API's `report-to` bodies): each violation is logged, the answer is empty."""
    try:
        report_buckets.take(
            rate_limit_address(client_ip(request)),
            Rate.of(settings.CSP_REPORTS_PER_ADDRESS),
            what=_("violation reports"),
        )
    except Throttled as refused:
        return JsonResponse(
            error_body(refused.code, refused.message), status=429, headers=refused.headers
        )
    kind = csp.media_type(request.content_type or "")
    if kind not in csp.REPORT_TYPES:
        accepted = ", ".join(sorted(csp.REPORT_TYPES))
        return JsonResponse(
            error_body(
                "unsupported_media_type",
                _("A report is sent as one of: %(types)s.") % {"types": accepted},
            ),
            status=415,
        )
    limit: int = settings.CSP_REPORT_MAX_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    # The declared length first, then what is read: never more than the limit and one byte.
    body = b"" if declared > limit else request.read(limit + 1)
    if declared > limit or len(body) > limit:
        return JsonResponse(
            error_body(
                "request_too_large",
                _("A report is at most %(limit)s KiB.") % {"limit": limit // 1024},
            ),
            status=413,
        )
    try:
        violations = csp.violations_parse(body, content_type=kind)
    except ValidationFailed as refused:
        return JsonResponse(error_body(refused.code, refused.message), status=400)
    csp.violations_log(violations)
    return HttpResponse(status=204)


@require_GET
@cache_control(public=True, max_age=3600)
def javascript_catalog(request: HttpRequest, language: str) -> HttpResponseBase:
    """The translations of the pages' JavaScript (`gettext()` there), one static script per
    language (base.html names the page's own): inline catalogues would break the Content
    Security Policy, and the language in the address keeps caches from mixing them up."""
    if language not in dict(settings.LANGUAGES):
        raise Http404
    with translation.override(language):
        response = JavaScriptCatalog.as_view()(request)
    return response


@require_safe
@cache_control(max_age=3600, public=True)
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask every site for /favicon.ico, pages or not (a JSON answer, an error page): the
    icon every page names (base.html), instead of a 404 in the console."""
    return redirect(static("img/favicon.svg"))
