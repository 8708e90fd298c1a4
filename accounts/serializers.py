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
