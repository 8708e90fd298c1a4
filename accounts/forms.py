from typing import Any

from allauth.account.forms import LoginForm as AllauthLoginForm
from django import forms

from core.errors import Throttled


class ProfileForm(forms.Form):
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)


class LoginForm(AllauthLoginForm):
    """allauth's sign-in form in the site's words; a refusal for too many failures is a form
    error that says when to come back, and `accounts.views.LoginView` answers it with 429 and
    Retry-After."""

    throttled: Throttled | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The site's words ("E-mail address", as on every other form), not allauth's.
        self.fields["login"].label = "E-mail address"
        if "remember" in self.fields:
            self.fields["remember"].label = "Remember me"

    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()
        except Throttled as refusal:
            self.throttled = refusal
            raise forms.ValidationError(refusal.message, code=refusal.code) from None
