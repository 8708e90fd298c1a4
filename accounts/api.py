from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services, tokens
from accounts.models import AccessToken
from accounts.requests import request_user
from accounts.serializers import AccessTokenSerializer, TokenRequestSerializer, TokenSerializer
from core.api import for_schema
from core.client_address import ClientAddressThrottle


class TokenThrottle(ClientAddressThrottle):
    """Requests for a token per client address, right or wrong; the failed-sign-in budget that
    the sign-in page shares is kept by `accounts.services.login_authenticate`."""

    scope = "token"


class TokenView(APIView):
    """Exchange an e-mail and password for an API token (send it as `Authorization: Token …`),
    for people whom a password alone signs in: technologists who have not set up a second
    factor. The token is named "API sign-in", has write scope and lasts 30 days; each call makes
    a new one, and only the newest five stay valid. They are listed, and can be revoked, on the
    personal access tokens page (`/account/tokens/`).

    Managers, local staff, platform admins and anyone who has set up a second factor get 403:
    they make their tokens on that page, signed in with their second factor.

    Failed attempts count against the same budget as the sign-in page's: after too many, for the
    account from your address, or for the account from many addresses (then only addresses it
    has signed in from before get through), the answer is 429 with Retry-After, whatever the
    password. Where e-mail verification is mandatory, an unverified address gets 403."""

    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []
    throttle_classes = [TokenThrottle]

    @extend_schema(
        request=TokenRequestSerializer,
        responses={
            200: TokenSerializer,
            400: OpenApiResponse(description="Unknown e-mail address or wrong password."),
            403: OpenApiResponse(
                description=(
                    "The e-mail address is not verified yet (`email_unverified`), or the "
                    "account must have, or has, a second factor (`second_factor_required`): "
                    "make a token on the personal access tokens page, /account/tokens/."
                )
            ),
            409: OpenApiResponse(
                description="The person already holds the most active tokens one may (50)."
            ),
            429: OpenApiResponse(
                description="Too many attempts: try again after Retry-After seconds."
            ),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        made = services.api_token_obtain(
            request=request._request,
            email=serializer.validated_data["email"],
            password=serializer.validated_data["password"],
        )
        return Response(
            TokenSerializer(
                {
                    "token": made.secret,
                    "name": made.token.name,
                    "prefix": made.token.prefix,
                    "scope": made.token.scope,
                    "expires_at": made.token.expires_at,
                }
            ).data,
            headers={"Cache-Control": "no-store"},
        )


class MyTokensView(ListAPIView[AccessToken]):
    """Your personal access tokens, newest first, whatever their state; never their secrets.
    Tokens are made on the personal access tokens page (`/account/tokens/`), signed in: a token
    cannot make another."""

    serializer_class = AccessTokenSerializer

    def get_queryset(self) -> QuerySet[AccessToken]:
        if for_schema(self):
            return AccessToken.objects.none()
        return tokens.access_tokens_of(request_user(self.request))

    def paginate_queryset(self, queryset: Any) -> Any:
        page = super().paginate_queryset(queryset)
        for token in page if page is not None else []:
            token.status = tokens.token_status(token)
        return page


class MyTokenRevokeView(APIView):
    """Revoke one of your tokens (the one you call with, too: a script can end its own). It
    stops working at once; revoking it again changes nothing. Another person's token answers
    404. A read token may not revoke (403)."""

    @extend_schema(request=None, responses=AccessTokenSerializer, operation_id="me_token_revoke")
    def post(self, request: Request, token_id: int) -> Response:
        token = tokens.access_token_revoke(user=request_user(request), token_id=token_id)
        token.status = tokens.token_status(token)  # type: ignore[attr-defined]
        return Response(AccessTokenSerializer(token).data)
