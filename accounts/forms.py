from typing import Any

from allauth.account.forms import LoginForm as AllauthLoginForm
from allauth.account.forms import SignupForm as AllauthSignupForm
from django import forms
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from core.errors import Throttled


def language_choices() -> list[tuple[str, Any]]:
    """Blank (follow the browser) and then each language in its own name, as a switch shows it."""
    return [("", _("Follow my browser")), *settings.LANGUAGES]


class LanguageSelect(forms.Select):
    """Each language's option marked with its own `lang`, since it is named in that language
    (screen readers then say "Nederlands" in Dutch); "Follow my browser" is in the page's."""

    def create_option(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(*args, **kwargs)
        if option["value"]:
            option["attrs"]["lang"] = option["value"]
        return option


class ProfileForm(forms.Form):
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    language = forms.ChoiceField(
        label=_("Language"),
        choices=language_choices,
        widget=LanguageSelect,
        required=False,
        help_text=_("Pages and mails come in this language."),
    )


class LoginForm(AllauthLoginForm):
    """allauth's sign-in form in the site's words; a refusal for too many failures is a form
    error that says when to come back, and `accounts.views.LoginView` answers it with 429 and
    Retry-After."""

    throttled: Throttled | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The site's words ("E-mail address", as on every other form), not allauth's.
        self.fields["login"].label = _("E-mail address")
        if "remember" in self.fields:
            self.fields["remember"].label = _("Remember me")

    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()
        except Throttled as refusal:
            self.throttled = refusal
            raise forms.ValidationError(refusal.message, code=refusal.code) from None


class SignupForm(AllauthSignupForm):
    """allauth's sign-up form with the language to speak to the new person (pages and mails);
    it starts on the language of the page. `accounts.adapter.AccountAdapter.save_user` keeps it."""

    language = forms.ChoiceField(
        label=_("Language"),
        choices=language_choices,
        widget=LanguageSelect,
        required=False,
        help_text=_("Pages and mails come in this language."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        current = translation.get_language() or ""
        codes = {code for code, _name in settings.LANGUAGES}
        if current not in codes:
            current = translation.get_supported_language_variant(current) if current else ""
        self.fields["language"].initial = current if current in codes else ""
        if "email" in self.fields:
            self.fields["email"].label = _("E-mail address")
