"""WeScan's page for setting up a second factor: why this person needs one, and the two ways
(an authenticator app, a passkey) that allauth's pages then carry out. It remembers where the
person was going (`?next=`, same site only) and sends them there once one is set up: allauth's
pages end on the recovery codes, whose "Continue" comes back here."""

from allauth.account.models import EmailAddress
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
