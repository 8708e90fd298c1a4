import logging
from collections.abc import Callable

from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from core.api import error_body
from core.errors import DomainError
from core.outage import piece_unavailable, unavailable_response

logger = logging.getLogger("django.request")


class ApiRequestSizeLimitMiddleware:
    """Refuse an oversized API body with 413 in the API's error shape, before anything parses it.

    DRF's parsers read the request stream themselves and so never meet Django's own
    DATA_UPLOAD_MAX_MEMORY_SIZE check; this puts it back in front of them.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/") and request.method in {"POST", "PUT", "PATCH"}:
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            try:
                declared = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                declared = 0
            too_big = limit is not None and declared > limit
            if not too_big and limit is not None:
                try:
                    too_big = len(request.body) > limit
                except RequestDataTooBig:
                    too_big = True
            if too_big:
                return JsonResponse(
                    error_body(
                        "request_too_large",
                        _("The request body is larger than %(limit)s KiB.")
                        % {"limit": limit // 1024},
                    ),
                    status=413,
                )
        return self.get_response(request)


class DomainErrorMiddleware:
    """Pages: a DomainError raised by a service becomes a 4xx page saying why, never a 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code == 405
            and not request.path.startswith("/api/")
            and not response.content
        ):
            # require_POST answers an opened address with an empty page; say what to do instead.
            page = render(
                request,
                "error.html",
                {
                    "status": 405,
                    "message": _(
                        "This address is for a form's button, not a page to open. "
                        "Go back and use the button."
                    ),
                },
                status=405,
            )
            page["Allow"] = response.get("Allow", "POST")
            return page
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if (piece := piece_unavailable(exception)) is not None:
            return unavailable_response(request, piece)
        if not isinstance(exception, DomainError):
            return server_error_for_api(request, exception)
        if request.path.startswith("/api/"):
            return JsonResponse(
                error_body(exception.code, exception.message, exception.fields),
                status=exception.status,
                headers=exception.headers,
            )
        page = render(
            request,
            "error.html",
            {"status": exception.status, "message": exception.message},
            status=exception.status,
        )
        for name, value in exception.headers.items():
            page[name] = value
        return page


def server_error_for_api(request: HttpRequest, exception: Exception) -> HttpResponse | None:
    """An API client is answered in the API's error shape in every mode, never with Django's
    HTML debug page (DEBUG) or the site's error page. Logged and signalled as Django does for
    any unhandled exception (the test client re-raises it). Pages keep Django's handling."""
    if not request.path.startswith("/api/"):
        return None
    logger.error(
        "Internal Server Error: %s",
        request.path,
        exc_info=(type(exception), exception, exception.__traceback__),
        extra={"status_code": 500, "request": request},
    )
    signals.got_request_exception.send(sender=None, request=request)
    return JsonResponse(
        error_body("server_error", _("Something went wrong on our side.")), status=500
    )
