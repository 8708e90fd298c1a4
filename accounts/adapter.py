from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.auth_backends import AuthenticationBackend
from django.contrib import messages
from django.http import HttpRequest

from accounts import services as account_services
from core.client_address import client_ip
from core.errors import DomainError

INVITATION_SESSION_KEY = "wescan_invitation_token"


class AccountAdapter(DefaultAccountAdapter):
    """Sign-up through an invitation link joins the hospital at once, with the invited role.

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
        user = super().save_user(request, user, form, commit=commit)
        token = request.session.get(INVITATION_SESSION_KEY) if commit else None
        if token:
            from marketplace import selectors, services

            invitation = selectors.invitation_by_token(token=token)
            if invitation is not None:
                try:
                    membership = services.invitation_accept(user=user, invitation=invitation)
                except DomainError as error:
                    # The account stands; the person is told why the invitation did not apply.
                    messages.warning(request, error.message)
                else:
                    messages.success(
                        request,
                        f"Welcome to {membership.hospital.name} as "
                        f"{membership.get_role_display().lower()}.",
                    )
            request.session.pop(INVITATION_SESSION_KEY, None)
        return user
