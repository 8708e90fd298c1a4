from collections.abc import Iterable
from typing import Any

from allauth.account.views import LoginView as AllauthLoginView
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import get_language_from_request
from django.utils.translation import gettext as _

from accounts import services
from accounts.forms import ProfileForm
from accounts.requests import AuthenticatedHttpRequest
from core.errors import PermissionDenied
from core.pages import next_or


@login_required
def profile(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    if request.method == "POST":
        form = ProfileForm(request.POST)
        if form.is_valid():
            data = dict(form.cleaned_data)
            language = data.pop("language", "")
            services.user_update_profile(user=user, **data)
            services.user_set_language(user=user, language=language)
            # The page that follows speaks the language just chosen (or the browser's again).
            translation.activate(language or get_language_from_request(request))
            messages.success(request, _("Your profile is saved."))
            return remember_language(redirect("profile"), language)
    else:
        form = ProfileForm(
            initial={
                "first_name": user.first_name,
                "last_name": user.last_name,
                "language": user.language,
            }
        )
    return render(
        request,
        "accounts/profile.html",
        {
            "form": form,
            "memberships": user.memberships.select_related("hospital"),
            "technologist_profile": getattr(user, "technologist_profile", None),
        },
    )


def remember_language(response: HttpResponse, language: str) -> HttpResponse:
    """The browser keeps the language chosen on the profile in the same cookie as the header's
    switch (`accounts.language.set_language`), so the pages after signing out speak it too;
    following the browser again forgets it."""
    if language:
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            secure=settings.LANGUAGE_COOKIE_SECURE,
            samesite="Lax",
            httponly=True,
        )
    else:
        response.delete_cookie(settings.LANGUAGE_COOKIE_NAME, samesite="Lax")
    return response


def unknown_language(request: HttpRequest, codes: Iterable[str]) -> HttpResponse:
    """The site's error page (400) for a language switch asked for a language WeScan does not
    speak, in the language of the page it was pressed on."""
    message = _("Unknown language: choose one of %(codes)s.") % {"codes": ", ".join(sorted(codes))}
    return render(request, "error.html", {"status": 400, "message": message}, status=400)


class LoginView(AllauthLoginView):
    """allauth's sign-in page, answering 429 with Retry-After when sign-ins are held back."""

    def form_invalid(self, form: Any) -> HttpResponse:
        response = super().form_invalid(form)
        refusal = getattr(form, "throttled", None)
        if refusal is not None:
            response.status_code = refusal.status
            for name, value in refusal.headers.items():
                response[name] = value
        return response


login = LoginView.as_view()


def admin_login(request: HttpRequest) -> HttpResponse:
    """The admin's sign-in goes through WeScan's own, where failed attempts are counted (the
    admin's form took any number of guesses). A signed-in person who is not platform staff is
    told so, rather than sent round between the two pages."""
    if request.user.is_authenticated:
        if request.user.is_staff:
            return redirect(next_or(request, reverse("admin:index")))
        raise PermissionDenied(_("The admin is for platform staff; your account is not one."))
    return redirect_to_login(next_or(request, reverse("admin:index")), login_url="account_login")
