"""WeScan's page for setting up a second factor: why this person needs one, and the two ways
(an authenticator app, a passkey) that allauth's pages then carry out. It remembers where the
person was going (`?next=`, same site only) and sends them there once one is set up: allauth's
pages end on the recovery codes, whose "Continue" comes back here."""

from typing import Any

from allauth.account.models import EmailAddress
from allauth.mfa.base.views import AuthenticateView as AllauthAuthenticateView
from allauth.mfa.base.views import ReauthenticateView as AllauthReauthenticateView
from allauth.mfa.models import Authenticator
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from accounts.requests import AuthenticatedHttpRequest
from accounts.second_factor import second_factor_enrolled, second_factor_required
from core.pages import next_or

NEXT_SESSION_KEY = "second_factor_next"


@login_required
def second_factor_setup(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    wanted = next_or(request, "")
    if wanted:
        request.session[NEXT_SESSION_KEY] = wanted
    if second_factor_enrolled(user):
        return redirect(request.session.pop(NEXT_SESSION_KEY, "") or reverse("mfa_index"))
    return render(
        request,
        "mfa/setup.html",
        {
            "required": second_factor_required(user),
            "going_to": request.session.get(NEXT_SESSION_KEY, ""),
            "email_unconfirmed": EmailAddress.objects.filter(user=user, verified=False).exists(),
        },
    )


class AuthenticateView(AllauthAuthenticateView):
    """allauth's second-factor step, answering 429 with Retry-After when too many wrong codes
    hold it back (`accounts.mfa.AuthenticateForm`), as the password step does."""

    def form_invalid(self, form: Any) -> HttpResponse:
        response: HttpResponse = super().form_invalid(form)
        refusal = getattr(form, "throttled", None)
        if refusal is not None:
            response.status_code = refusal.status
            for name, value in refusal.headers.items():
                response[name] = value
        return response

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(factors_held(self.stage.login.user))
        return context


authenticate = AuthenticateView.as_view()


class ReauthenticateView(AllauthReauthenticateView):
    """allauth's "confirm it is you" with a code, worded by what the person has."""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(factors_held(self.request.user))
        return context


reauthenticate = ReauthenticateView.as_view()


def factors_held(user: Any) -> dict[str, bool]:
    """What this person has decides what a second-factor page offers, and in which order."""
    types = set(Authenticator.objects.filter(user_id=user.pk).values_list("type", flat=True))
    return {
        "has_passkey": Authenticator.Type.WEBAUTHN in types,
        "has_app": Authenticator.Type.TOTP in types,
        "has_recovery_codes": Authenticator.Type.RECOVERY_CODES in types,
    }
