from typing import Any

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.requests import request_user
from accounts.serializers import (
    MeSerializer,
    ProfileUpdateSerializer,
    TokenRequestSerializer,
    TokenSerializer,
)
from core.client_address import ClientAddressThrottle
from core.errors import DomainError


class TokenThrottle(ClientAddressThrottle):
    scope = "token"


class BadCredentials(DomainError):
    status = 400
    code = "bad_credentials"


class TokenView(APIView):
    """Exchange an e-mail and password for an API token (send it as `Authorization: Token …`)."""

    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []
    throttle_classes = [TokenThrottle]

    @extend_schema(request=TokenRequestSerializer, responses=TokenSerializer)
    def post(self, request: Request) -> Response:
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(
            request._request,
            email=serializer.validated_data["email"].lower(),
            password=serializer.validated_data["password"],
        )
        if user is None or not user.is_active:
            raise BadCredentials("Unknown e-mail address or wrong password.")
        token, _created = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


class MeView(APIView):
    """Who you are, and the hospitals you belong to with your role in each."""

    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(_me(request)).data)

    @extend_schema(request=ProfileUpdateSerializer, responses=MeSerializer)
    def patch(self, request: Request) -> Response:
        serializer = ProfileUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        user = request_user(request)
        services.user_update_profile(
            user=user,
            first_name=serializer.validated_data.get("first_name", user.first_name),
            last_name=serializer.validated_data.get("last_name", user.last_name),
        )
        return Response(MeSerializer(_me(request)).data)


def _me(request: Request) -> Any:
    user: Any = request_user(request)
    user.memberships_list = list(user.memberships.select_related("hospital"))
    return user
