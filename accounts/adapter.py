from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.auth_backends import AuthenticationBackend
from django.http import HttpRequest

from accounts import services as account_services
from accounts.language import LANGUAGE_CODES
from accounts.signals import account_signed_up
from core.client_address import client_ip


class AccountAdapter(DefaultAccountAdapter):
    """A sign-up tells the apps above (`accounts.signals.account_signed_up`: an invitation link
    followed joins the hospital at once, with the invited role).

    Password sign-ins are counted by `accounts.services.login_authenticate`, as the API token
    endpoint's are, and allauth's limits read the client address from `core.client_address`."""

    def get_client_ip(self, request: HttpRequest) -> str:
        return client_ip(request)

    def authenticate(self, request: HttpRequest, **credentials: Any) -> Any:
        # Replaces allauth's own, whose "login_failed" limit refused the right password too and
        # knew nothing of the API. Raises core.errors.Throttled: accounts.forms.LoginForm shows
        # it on the page (elsewhere, such as re-authentication, the error page does).
        # allauth's backend stashes a user whose password is right but who may not sign in
        # (inactive), so that allauth can show the "account inactive" page rather than "wrong
        # password"; keep that working.
        AuthenticationBackend.unstash_authenticated_user()
        user = account_services.login_authenticate(
            request=request,
            email=credentials.get("email") or credentials.get("username") or "",
            password=credentials.get("password") or "",
        )
        stashed = AuthenticationBackend.unstash_authenticated_user()
        return user or stashed

    def save_user(self, request: HttpRequest, user: Any, form: Any, commit: bool = True) -> Any:
        # The language chosen on sign-up (accounts.forms.SignupForm), kept before the first save.
        language = getattr(form, "cleaned_data", {}).get("language", "")
        if language in LANGUAGE_CODES:
            user.language = language
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            account_signed_up.send(sender=type(user), request=request, user=user)
        return user
