"""The personal data page: download what WeScan holds about me, or ask to be erased."""

import json

from django import forms
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from accounts import privacy
from accounts.requests import AuthenticatedHttpRequest
from core.errors import DomainError


class ErasureForm(forms.Form):
    password = forms.CharField(
        label=gettext_lazy("Your password"),
        max_length=4096,
        strip=False,
        widget=forms.PasswordInput,
    )
    confirmation = forms.CharField(
        label=format_lazy(
            gettext_lazy("Type {word} to confirm"), word=privacy.ERASE_CONFIRMATION_WORD
        ),
        max_length=32,
    )


def _page(request: AuthenticatedHttpRequest, form: ErasureForm, status: int = 200) -> HttpResponse:
    return render(
        request,
        "accounts/privacy.html",
        {
            "form": form,
            "refusals": privacy.erasure_refusals(user=request.user),
            "word": privacy.ERASE_CONFIRMATION_WORD,
            "section_limit": privacy.EXPORT_SECTION_LIMIT,
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "HEAD"])
def privacy_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    return _page(request, ErasureForm())


@login_required
@require_http_methods(["GET", "HEAD"])
def privacy_export(request: AuthenticatedHttpRequest) -> HttpResponse:
    data = privacy.personal_data_export(user=request.user)
    privacy.personal_data_exported(user=request.user)
    response = HttpResponse(
        json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=1),
        content_type="application/json; charset=utf-8",
    )
    name = f"wescan-my-data-{timezone.now():%Y-%m-%d}.json"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def privacy_erase(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = ErasureForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    user = request.user
    try:
        privacy.erasure_check_confirmation(
            request=request,
            user=user,
            password=form.cleaned_data["password"],
            word=form.cleaned_data["confirmation"],
        )
        privacy.account_erase(actor=user, user=user)
    except DomainError as error:
        for field, problems in error.fields.items():
            for problem in problems:
                form.add_error(field if field in form.fields else None, problem)
        if not error.fields:
            form.add_error(None, error.message)
        response = _page(request, form, status=error.status)
        for header, value in error.headers.items():  # Retry-After, when held back
            response[header] = value
        return response
    logout(request)
    messages.info(
        request,
        gettext(
            "Your account is erased: your name and e-mail address are gone from WeScan. "
            "The hours you worked stay in the hospitals' ledgers, as a former member's, and their "
            "audit trails name you by a pseudonym."
        ),
    )
    return redirect("account_login")
