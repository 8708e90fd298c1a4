from typing import Any

from allauth.account.views import LoginView as AllauthLoginView
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
            return redirect("profile")
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
