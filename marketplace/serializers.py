from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api import BoundedListField, IdField, StrictModelSerializer, StrictSerializer
from core.dates import validate_calendar_day
from marketplace.models import (
    Compensation,
    ExamFamily,
    Hospital,
    Invitation,
    Language,
    Membership,
    PostingStatus,
    Role,
    Scanner,
    Seniority,
    SessionPosting,
    Site,
    TechnologistProfile,
    Urgency,
    Vendor,
    validate_time_zone,
)
from marketplace.services.postings import CANCEL_REASON_MAX


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
    hospital = IdField(source="hospital_id")

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
    site = IdField(source="site_id")
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
    site = IdField(required=False)

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
        help_text=_("Shown once. Give it to the scanner agent; only a hash is kept.")
    )


class MembershipSerializer(StrictModelSerializer):
    user_email = serializers.EmailField(source="user.email", read_only=True)
    user_name = serializers.CharField(source="user.display_name", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "hospital", "user", "user_email", "user_name", "role", "created_at"]
        read_only_fields = ["id", "hospital", "user", "user_email", "user_name", "created_at"]


class InvitationSerializer(StrictModelSerializer):
    hospital = IdField(source="hospital_id")
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


# --- Vocabularies, technologists and postings -------------------------------------------------


class UTCDateTimeField(serializers.DateTimeField):
    """Given out in UTC (`…Z`) whatever time zone the request has activated; taken in only
    within the calendar WeScan works in (core.dates)."""

    default_validators = [validate_calendar_day]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("default_timezone", UTC)
        super().__init__(*args, **kwargs)


class UTCModelSerializer(serializers.ModelSerializer):
    """A read serializer whose model date-times come out in UTC."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: UTCDateTimeField,
    }


class AwareDateTimeField(UTCDateTimeField):
    """A moment in ISO 8601 with its offset (`…Z` or `…+01:00`). A wall-clock time without one
    is ambiguous across time zones, so it is refused rather than guessed; output is UTC (`…Z`)."""

    default_error_messages = {
        "naive": _("Give the time zone offset, e.g. 2027-03-22T08:00:00+01:00 or …T07:00:00Z.")
    }

    def to_internal_value(self, value: Any) -> datetime:
        moment = super().to_internal_value(value)  # refuses what is not a date and time
        parsed = parse_datetime(value.strip()) if isinstance(value, str) else value
        if isinstance(parsed, datetime) and timezone.is_naive(parsed):
            self.fail("naive")
        return moment


# More than any vocabulary a person picks from (exam families, a technologist's languages).
MAX_CODES = 50


class VocabularyCodesField(BoundedListField):
    """A list of vocabulary codes (exam families, languages) in, their rows out: at most
    MAX_CODES codes, counted before any is read, and looked up in one query. (One lookup per
    code let a 1 MiB list of 115,000 codes hold a request for 25 s.)"""

    def __init__(self, *, model: Any, unknown: Any, **kwargs: Any) -> None:
        self.model = model
        self.unknown = unknown  # "Not an exam family code: %(code)s.", lazily translated
        kwargs.setdefault("max_length", MAX_CODES)
        super().__init__(child=serializers.CharField(max_length=40), **kwargs)

    def to_internal_value(self, data: Any) -> list[Any]:
        codes = list(dict.fromkeys(super().to_internal_value(data)))
        rows = {row.code: row for row in self.model.objects.filter(code__in=codes)}
        unknown = [code for code in codes if code not in rows]
        if unknown:
            raise serializers.ValidationError(
                [str(self.unknown) % {"code": code} for code in unknown]
            )
        return [rows[code] for code in codes]

    def to_representation(self, data: Any) -> list[str]:
        items = data.all() if hasattr(data, "all") else data
        return [item.code for item in items]


# What an unknown code is told, per vocabulary (a whole sentence each, to translate).
NOT_AN_EXAM_FAMILY = _("Not an exam family code: %(code)s.")
NOT_A_LANGUAGE = _("Not an ISO 639-1 language code: %(code)s.")


def _codes(model: Any, unknown: Any, **kwargs: Any) -> Any:
    """A list of vocabulary codes (exam families, languages) in and out."""
    return VocabularyCodesField(model=model, unknown=unknown, **kwargs)


def code_list(**kwargs: Any) -> Any:
    """Vocabulary codes of a many-to-many relation, read only."""
    return serializers.SlugRelatedField(slug_field="code", many=True, read_only=True, **kwargs)


@extend_schema_field({"type": "array", "items": {"type": "string"}})
class CodeListField(serializers.Field):
    """Codes of an already loaded list of vocabulary rows (exam families, languages)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(read_only=True, **kwargs)

    def to_representation(self, value: Any) -> list[str]:
        return [item.code for item in value]


def _code(model: Any, unknown: Any, **kwargs: Any) -> Any:
    return serializers.SlugRelatedField(
        slug_field="code",
        queryset=model.objects.all(),
        error_messages={"does_not_exist": _UnknownCode(unknown)},  # type: ignore[dict-item]
        **kwargs,
    )


class _UnknownCode:
    """DRF fills its messages in with `.format(value=...)`; ours name the code `%(code)s`."""

    def __init__(self, message: Any) -> None:
        self.message = message

    def format(self, **kwargs: Any) -> str:
        return str(self.message) % {"code": kwargs.get("value")}


class ExamFamilySerializer(serializers.ModelSerializer):
    class Meta:
        model = ExamFamily
        fields = ["code", "name"]
        read_only_fields = fields


class LanguageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Language
        fields = ["code", "name"]
        read_only_fields = fields


class TechnologistSerializer(UTCModelSerializer):
    """A technologist's profile. `id` is the technologist's user id, the same id availability
    and bookings use; `eligible` says whether they can be booked today and, if not, why."""

    id = serializers.IntegerField(source="user_id", read_only=True, help_text="The user id.")
    email = serializers.EmailField(source="user.email", read_only=True)
    name = serializers.CharField(source="user.display_name", read_only=True)
    exam_families = code_list()
    languages = code_list()
    vendors = serializers.SerializerMethodField()
    licence_verified = serializers.SerializerMethodField()
    eligible = serializers.SerializerMethodField()
    ineligibility_reasons = serializers.SerializerMethodField()

    class Meta:
        model = TechnologistProfile
        fields = [
            "id",
            "email",
            "name",
            "seniority",
            "years_experience",
            "exam_families",
            "languages",
            "vendors",
            "home_time_zone",
            "licence_number",
            "licence_authority",
            "licence_valid_until",
            "licence_verified",
            "licence_verified_at",
            "eligible",
            "ineligibility_reasons",
            "updated_at",
        ]
        read_only_fields = fields

    def get_vendors(self, profile: TechnologistProfile) -> list[str]:
        return [familiarity.vendor for familiarity in profile.vendor_familiarities.all()]

    def get_licence_verified(self, profile: TechnologistProfile) -> bool:
        return profile.licence_verified_at is not None

    def get_eligible(self, profile: TechnologistProfile) -> bool:
        return not profile.ineligibility_reasons()

    def get_ineligibility_reasons(self, profile: TechnologistProfile) -> list[str]:
        return profile.ineligibility_reasons()


class TechnologistProfileUpdateSerializer(StrictSerializer):
    """Only the fields sent are changed. A new licence number, authority or expiry date
    withdraws the verification until a platform admin checks it again."""

    seniority = serializers.ChoiceField(choices=Seniority.choices, required=False)
    years_experience = serializers.IntegerField(min_value=0, max_value=60, required=False)
    exam_families = _codes(ExamFamily, NOT_AN_EXAM_FAMILY, required=False)
    languages = _codes(Language, NOT_A_LANGUAGE, required=False)
    vendors = BoundedListField(
        child=serializers.ChoiceField(choices=Vendor.choices), max_length=20, required=False
    )
    home_time_zone = serializers.CharField(
        max_length=64, validators=[validate_time_zone], required=False
    )
    licence_number = serializers.CharField(max_length=64, allow_blank=True, required=False)
    licence_authority = serializers.CharField(max_length=120, allow_blank=True, required=False)
    licence_valid_until = serializers.DateField(required=False, validators=[validate_calendar_day])


class TechnologistFilterSerializer(serializers.Serializer):
    hospital = IdField(required=False, help_text="Hospital id")
    verified = serializers.BooleanField(
        required=False, help_text="Only those whose licence is (true) or is not (false) verified."
    )


class PostingSerializer(UTCModelSerializer):
    hospital_name = serializers.CharField(source="hospital.name", read_only=True)
    site_name = serializers.CharField(source="site.name", read_only=True)
    site_time_zone = serializers.CharField(source="site.time_zone", read_only=True)
    scanner_name = serializers.CharField(source="scanner.name", read_only=True)
    required_exam_families = CodeListField(source="family_list")
    languages = CodeListField(source="language_list")
    duration_hours = serializers.DecimalField(max_digits=5, decimal_places=2, read_only=True)

    class Meta:
        model = SessionPosting
        fields = [
            "id",
            "hospital",
            "hospital_name",
            "site",
            "site_name",
            "site_time_zone",
            "scanner",
            "scanner_name",
            "vendor",
            "starts_at",
            "ends_at",
            "duration_hours",
            "required_exam_families",
            "languages",
            "min_seniority",
            "urgency",
            "compensation",
            "hourly_rate_eur",
            "notes",
            "status",
            "created_at",
            "published_at",
            "closed_at",
        ]
        read_only_fields = fields


class _PostingWriteFields(StrictSerializer):
    scanner = IdField(help_text="Scanner id; the site and vendor follow from it.")
    starts_at = AwareDateTimeField()
    ends_at = AwareDateTimeField(help_text="After the start, at most 12 hours later.")
    required_exam_families = _codes(ExamFamily, NOT_AN_EXAM_FAMILY, required=False)
    languages = _codes(
        Language,
        NOT_A_LANGUAGE,
        required=False,
        help_text="The technologist must speak one of them; none: any language.",
    )
    min_seniority = serializers.ChoiceField(choices=Seniority.choices, required=False)
    urgency = serializers.ChoiceField(choices=Urgency.choices, required=False)
    compensation = serializers.ChoiceField(choices=Compensation.choices, required=False)
    hourly_rate_eur = serializers.DecimalField(
        max_digits=7,
        decimal_places=2,
        min_value=Decimal("0.01"),
        allow_null=True,
        required=False,
        help_text="Required with compensation=hourly_rate, absent with reciprocity.",
    )
    notes = serializers.CharField(
        max_length=2000,
        allow_blank=True,
        required=False,
        help_text="About the work only: anything that looks like a patient identifier is refused.",
    )


class PostingCreateSerializer(_PostingWriteFields):
    hospital = IdField(help_text="Hospital id; you must manage it.")
    publish = serializers.BooleanField(
        default=False, help_text="Open it on the market at once instead of saving a draft."
    )


class PostingUpdateSerializer(_PostingWriteFields):
    """Only the fields sent are changed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False


class PostingCancelSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=CANCEL_REASON_MAX, allow_blank=True, default="")


class OpenPostingFilterSerializer(serializers.Serializer):
    urgency = serializers.ChoiceField(choices=Urgency.choices, required=False)
    exam_family = _code(
        ExamFamily, NOT_AN_EXAM_FAMILY, required=False, help_text="Exam family code, e.g. neuro."
    )
    starts_after = UTCDateTimeField(
        required=False, help_text="ISO 8601; without an offset it is read as UTC."
    )
    starts_before = UTCDateTimeField(
        required=False, help_text="ISO 8601; without an offset it is read as UTC."
    )


class PostingFilterSerializer(OpenPostingFilterSerializer):
    hospital = IdField(required=False, help_text="Hospital id")
    site = IdField(required=False, help_text="Site id")
    status = serializers.ChoiceField(choices=PostingStatus.choices, required=False)


class OpenPostingPageSerializer(serializers.Serializer):
    """A page of open postings one qualifies for, and why there are none when one may not be
    booked at all."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = PostingSerializer(many=True)
    ineligibility_reasons = serializers.ListField(
        child=serializers.CharField(),
        help_text="Empty when you can be booked; otherwise why the list is empty.",
    )


# --- Who you are, with your hospitals (/api/v1/me/) -----------------------------------------


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
