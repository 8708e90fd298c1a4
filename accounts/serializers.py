from rest_framework import serializers

from accounts.models import TokenScope
from core.api import StrictSerializer


class ProfileUpdateSerializer(StrictSerializer):
    first_name = serializers.CharField(max_length=150, allow_blank=True)
    last_name = serializers.CharField(max_length=150, allow_blank=True)


class TokenRequestSerializer(StrictSerializer):
    email = serializers.EmailField()
    password = serializers.CharField(
        max_length=4096, style={"input_type": "password"}, trim_whitespace=False
    )


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(
        help_text="The secret, shown this once: send it as `Authorization: Token <secret>`."
    )
    name = serializers.CharField()
    prefix = serializers.CharField(help_text="The first characters, as the tokens page shows.")
    scope = serializers.ChoiceField(choices=TokenScope.choices)
    expires_at = serializers.DateTimeField()


class AccessTokenSerializer(serializers.Serializer):
    """One of your personal access tokens, as the tokens page lists it (never its secret)."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField(help_text="The secret's first characters, to recognise it.")
    scope = serializers.ChoiceField(choices=TokenScope.choices)
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(
        allow_null=True, help_text="To the minute; null if never used."
    )
    revoked_at = serializers.DateTimeField(allow_null=True)
    created_with_second_factor = serializers.BooleanField()
    by_password_sign_in = serializers.BooleanField(
        help_text="Given by POST /api/v1/auth/token/ for a password."
    )
    status = serializers.ChoiceField(choices=["active", "expired", "revoked"])
