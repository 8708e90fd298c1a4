from typing import Any

from allauth.account.forms import LoginForm as AllauthLoginForm
from django import forms

from core.errors import Throttled


class ProfileForm(forms.Form):
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)


class LoginForm(AllauthLoginForm):
    """allauth's sign-in form; a refusal for too many failures is a form error that says when to
    come back, and `accounts.views.LoginView` answers it with 429 and Retry-After."""

    throttled: Throttled | None = None

    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()
        except Throttled as refusal:
            self.throttled = refusal
            raise forms.ValidationError(refusal.message, code=refusal.code) from None
