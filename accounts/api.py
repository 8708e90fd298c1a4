from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.serializers import TokenRequestSerializer, TokenSerializer
from core.client_address import ClientAddressThrottle


class TokenThrottle(ClientAddressThrottle):
    """Requests for a token per client address, right or wrong; the failed-sign-in budget that
    the sign-in page shares is kept by `accounts.services.login_authenticate`."""

    scope = "token"


class TokenView(APIView):
    """Exchange an e-mail and password for an API token (send it as `Authorization: Token …`).

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
            403: OpenApiResponse(description="The e-mail address is not verified yet."),
            429: OpenApiResponse(
                description="Too many attempts: try again after Retry-After seconds."
            ),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token = services.api_token_obtain(
            request=request._request,
            email=serializer.validated_data["email"],
            password=serializer.validated_data["password"],
        )
        return Response({"token": token.key})
