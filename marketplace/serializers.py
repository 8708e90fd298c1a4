from rest_framework import serializers

from core.api import StrictModelSerializer, StrictSerializer
from marketplace.models import Hospital, Invitation, Membership, Role, Scanner, Site


class HospitalSerializer(StrictModelSerializer):
    my_role = serializers.SerializerMethodField()

    class Meta:
        model = Hospital
        fields = ["id", "name", "city", "country", "created_at", "my_role"]
        read_only_fields = ["id", "created_at", "my_role"]

    def get_my_role(self, hospital: Hospital) -> str | None:
        roles: dict[int, str] = self.context.get("roles", {})
        return roles.get(hospital.pk)


class SiteSerializer(StrictModelSerializer):
    hospital = serializers.IntegerField(source="hospital_id")

    class Meta:
        model = Site
        fields = ["id", "hospital", "name", "city", "time_zone"]
        read_only_fields = ["id"]


class SiteUpdateSerializer(StrictModelSerializer):
    class Meta:
        model = Site
        fields = ["name", "city", "time_zone"]
        extra_kwargs = {f: {"required": False} for f in fields}


class ScannerSerializer(StrictModelSerializer):
    site = serializers.IntegerField(source="site_id")
    hospital = serializers.IntegerField(source="site.hospital_id", read_only=True)
    has_device_token = serializers.BooleanField(read_only=True)

    class Meta:
        model = Scanner
        fields = [
            "id",
            "hospital",
            "site",
            "name",
            "modality",
            "vendor",
            "model_name",
            "field_strength_tesla",
            "cockpit_ready",
            "has_device_token",
            "device_token_rotated_at",
        ]
        read_only_fields = ["id", "hospital", "has_device_token", "device_token_rotated_at"]


class ScannerUpdateSerializer(StrictModelSerializer):
    site = serializers.IntegerField(required=False)

    class Meta:
        model = Scanner
        fields = [
            "site",
            "name",
            "modality",
            "vendor",
            "model_name",
            "field_strength_tesla",
            "cockpit_ready",
        ]
        extra_kwargs = {f: {"required": False} for f in fields}


class DeviceTokenSerializer(serializers.Serializer):
    device_token = serializers.CharField(
        help_text="Shown once. Give it to the scanner agent; only a hash is kept."
    )


class MembershipSerializer(StrictModelSerializer):
    user_email = serializers.EmailField(source="user.email", read_only=True)
    user_name = serializers.CharField(source="user.display_name", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "hospital", "user", "user_email", "user_name", "role", "created_at"]
        read_only_fields = ["id", "hospital", "user", "user_email", "user_name", "created_at"]


class InvitationSerializer(StrictModelSerializer):
    hospital = serializers.IntegerField(source="hospital_id")
    status = serializers.CharField(read_only=True)
    invited_by = serializers.EmailField(source="invited_by.email", read_only=True, default=None)

    class Meta:
        model = Invitation
        fields = [
            "id",
            "hospital",
            "email",
            "role",
            "status",
            "invited_by",
            "created_at",
            "expires_at",
            "accepted_at",
        ]
        read_only_fields = ["id", "status", "invited_by", "created_at", "expires_at", "accepted_at"]


class InvitationAcceptSerializer(StrictSerializer):
    token = serializers.CharField(max_length=200)


class RoleSerializer(StrictSerializer):
    role = serializers.ChoiceField(choices=Role.choices)
