"""The language WeScan speaks to a person: the one chosen in their profile (or on sign-up), else
the browser's (Django's LocaleMiddleware: the language cookie, then Accept-Language).

Mails and notifications go out in the recipient's own language (`language_of`), whoever's
request made them: the chosen one, else the one their browser last asked for (remembered as
they browse), else the site's default."""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts import services
from accounts.views import remember_language, unknown_language

LANGUAGE_CODES = frozenset(code for code, _name in settings.LANGUAGES)


def language_of(person: Any) -> str:
    """The language to write to `person` in: their own choice, else their browser's last, else
    the site's default."""
    for language in (getattr(person, "language", ""), getattr(person, "browser_language", "")):
        if language in LANGUAGE_CODES:
            return str(language)
    return settings.LANGUAGE_CODE


class PersonLanguageMiddleware:
    """A signed-in person who chose a language gets it on every page, whatever their browser asks
    for (after AuthenticationMiddleware; LocaleMiddleware has activated the browser's). For one
    who chose none, the browser's language is remembered when it changes, for their mails."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        chosen = getattr(user, "language", "") if user is not None else ""
        if user is not None and user.is_authenticated:
            if chosen in LANGUAGE_CODES:
                translation.activate(chosen)
                request.LANGUAGE_CODE = chosen
            else:
                services.user_saw_browser_language(user=user, language=translation.get_language())
        return self.get_response(request)


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """The header's language switch: remembered in the profile of a signed-in person (so mails
    follow it) and in a cookie for everyone; back to the page it was pressed on."""
    code = request.POST.get("language", "")[:16]
    next_url = request.POST.get("next", "")[:2000]
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = "/"
    if code not in LANGUAGE_CODES:
        return unknown_language(request, LANGUAGE_CODES)
    if request.user.is_authenticated:
        services.user_set_language(user=request.user, language=code)
    translation.activate(code)
    return remember_language(HttpResponseRedirect(next_url), code)
