"""Joining a hospital through an invitation link across a sign-up. While an anonymous visitor
follows the link through sign-up or sign-in, the session keeps its token; a sign-up then joins
the hospital at once, with the invited role, when the address signed up with is the invited one.
Accounts sits below the marketplace and knows no hospitals: the marketplace hears its
`account_signed_up` (connected in `MarketplaceConfig.ready`), sent as the account is saved."""

from typing import Any

from django.contrib import messages
from django.http import HttpRequest
from django.utils.translation import gettext as _

from accounts.models import User
from core.errors import DomainError
from marketplace import selectors, services
from marketplace.models import role_in_sentence

INVITATION_SESSION_KEY = "wescan_invitation_token"


def invitation_join_on_sign_up(
    sender: Any, *, request: HttpRequest, user: User, **kwargs: Any
) -> None:
    token = request.session.get(INVITATION_SESSION_KEY)
    if not token:
        return
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
                _("Welcome to %(hospital)s as %(role)s.")
                % {"hospital": membership.hospital.name, "role": role_in_sentence(membership.role)},
            )
    request.session.pop(INVITATION_SESSION_KEY, None)
