from rest_framework import serializers

from core.api import StrictSerializer
from marketplace.models import Membership


class MyMembershipSerializer(serializers.ModelSerializer):
    hospital_name = serializers.CharField(source="hospital.name")

    class Meta:
        model = Membership
        fields = ["id", "hospital", "hospital_name", "role"]


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    is_platform_admin = serializers.BooleanField(source="is_staff")
    memberships = MyMembershipSerializer(many=True, source="memberships_list")


class ProfileUpdateSerializer(StrictSerializer):
    first_name = serializers.CharField(max_length=150, allow_blank=True)
    last_name = serializers.CharField(max_length=150, allow_blank=True)


class TokenRequestSerializer(StrictSerializer):
    email = serializers.EmailField()
    password = serializers.CharField(
        max_length=4096, style={"input_type": "password"}, trim_whitespace=False
    )


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()
