"""The personal access tokens page (`/account/tokens/`): a person's API tokens, making one (its
secret shown once) and revoking one. Who may make one from this session, and how it counts, is
`accounts.tokens.session_token_right`."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.text import format_lazy
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_POST

from accounts import tokens
from accounts.models import TokenScope
from accounts.requests import AuthenticatedHttpRequest
from core.errors import DomainError
from core.pages import form_error

# The page lists this many of a person's tokens, newest first (the active ones are at most
# tokens.MAX_ACTIVE_TOKENS; the rest are expired or revoked, kept for the record).
LISTED = 100


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=tokens.NAME_MAX_LENGTH,
        help_text=gettext_lazy(
            "What it is for, to tell it apart later: “Reporting script”, “My laptop”."
        ),
    )
    scope = forms.ChoiceField(
        label=gettext_lazy("Scope"),
        choices=TokenScope.choices,
        initial=TokenScope.READ,
        widget=forms.RadioSelect,
        help_text=gettext_lazy("A read token only looks (GET): enough for reports and calendars."),
    )
    expires_in_days = forms.TypedChoiceField(
        label=gettext_lazy("Expires after"),
        choices=[
            (days, format_lazy(gettext_lazy("{days} days"), days=days))
            for days in tokens.EXPIRY_DAYS
        ],
        coerce=int,
        initial=30,
    )


@login_required
def token_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    right = tokens.session_token_right(request)
    created: tokens.NewToken | None = None
    form = TokenCreateForm()
    if request.method == "POST":
        form = TokenCreateForm(request.POST)
        if not right.allowed:
            form.add_error(None, gettext("Sign in with your second factor to make a token."))
        elif form.is_valid():
            try:
                created = tokens.access_token_create(
                    user=request.user,
                    name=form.cleaned_data["name"],
                    scope=form.cleaned_data["scope"],
                    expires_in_days=form.cleaned_data["expires_in_days"],
                    with_second_factor=right.with_second_factor,
                )
            except DomainError as error:
                form_error(form, error)
            else:
                form = TokenCreateForm()
    now = timezone.now()
    listed = list(tokens.access_tokens_of(request.user)[:LISTED])
    for token in listed:
        token.status = tokens.token_status(token, now=now)  # type: ignore[attr-defined]
    response = render(
        request,
        "accounts/tokens.html",
        {
            "form": form,
            "right": right,
            "created": created,
            "tokens": listed,
            "reauthenticate_url": (
                f"{reverse('mfa_reauthenticate')}?{urlencode({'next': reverse('access_tokens')})}"
            ),
            "set_up_url": reverse("mfa_index"),
        },
        status=_status(request, right=right, created=created),
    )
    # The secret is on this page once: no cache keeps a copy.
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def token_revoke(request: AuthenticatedHttpRequest, token_id: int) -> HttpResponse:
    token = tokens.access_token_revoke(user=request.user, token_id=token_id)
    messages.success(
        request,
        gettext("“%(name)s” (%(prefix)s…) is revoked: it no longer works.")
        % {"name": token.name, "prefix": token.prefix},
    )
    return redirect("access_tokens")


def _status(
    request: AuthenticatedHttpRequest,
    *,
    right: tokens.SessionTokenRight,
    created: tokens.NewToken | None,
) -> int:
    if request.method != "POST" or created is not None:
        return 200
    return 400 if right.allowed else 403
