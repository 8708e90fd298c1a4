"""Availability in and out. Moments are stored and given in UTC (`…Z`); each row also shows
them in the viewer's time zone (`local_*`, named by `local_time_zone`)."""

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api import BoundedListField, IdField, StrictSerializer
from core.dates import validate_calendar_day
from marketplace.models import validate_time_zone
from marketplace.serializers import AwareDateTimeField, UTCDateTimeField, UTCModelSerializer
from scheduling.models import AvailabilityWindow
from scheduling.selectors import Slot

MAX_OCCURRENCE_RANGE = timedelta(days=62)


def _zone_for(context: Mapping[str, Any], window: AvailabilityWindow) -> ZoneInfo:
    """The viewer's zone (asked for, or their home time zone), else the window's own."""
    zone: ZoneInfo | None = context.get("display_zone")
    return zone or ZoneInfo(window.time_zone)


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).isoformat()


class AvailabilityWindowSerializer(UTCModelSerializer):
    """A window; for a recurring one `starts_at`/`ends_at` are its first occurrence."""

    technologist_name = serializers.CharField(source="technologist.display_name", read_only=True)
    lending_hospital_name = serializers.CharField(
        source="lending_hospital.name", read_only=True, default=None, allow_null=True
    )
    recurring = serializers.BooleanField(source="is_recurring", read_only=True)
    local_time_zone = serializers.SerializerMethodField()
    local_starts_at = serializers.SerializerMethodField()
    local_ends_at = serializers.SerializerMethodField()

    class Meta:
        model = AvailabilityWindow
        fields = [
            "id",
            "technologist",
            "technologist_name",
            "starts_at",
            "ends_at",
            "time_zone",
            "rrule",
            "exdates",
            "recurring",
            "last_ends_at",
            "lending_hospital",
            "lending_hospital_name",
            "local_time_zone",
            "local_starts_at",
            "local_ends_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_local_time_zone(self, window: AvailabilityWindow) -> str:
        return str(_zone_for(self.context, window))

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_local_starts_at(self, window: AvailabilityWindow) -> str:
        return _local(window.starts_at, _zone_for(self.context, window))

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_local_ends_at(self, window: AvailabilityWindow) -> str:
        return _local(window.ends_at, _zone_for(self.context, window))


class WindowWriteFields(StrictSerializer):
    starts_at = AwareDateTimeField(help_text="The (first) occurrence's start, with its offset.")
    ends_at = AwareDateTimeField(help_text="The (first) occurrence's end: at most 24 h later.")
    time_zone = serializers.CharField(
        max_length=64,
        validators=[validate_time_zone],
        required=False,
        help_text="Whose wall clock the rule follows; default: the technologist's home zone.",
    )
    rrule = serializers.CharField(
        max_length=500,
        allow_blank=True,
        required=False,
        help_text="RFC 5545 RRULE value, e.g. FREQ=WEEKLY;BYDAY=MO. Empty: once.",
    )
    exdates = BoundedListField(
        child=serializers.CharField(max_length=40),
        max_length=500,
        required=False,
        help_text="Local start times (no offset) of occurrences that do not happen, "
        "e.g. 2027-12-27T08:00.",
    )


class AvailabilityCreateSerializer(WindowWriteFields):
    technologist = IdField(
        required=False,
        help_text="The technologist's user id: yourself (default) or one you manage (lending).",
    )
    lending_hospital = IdField(
        required=False,
        allow_null=True,
        help_text="Which of your hospitals lends them, when they belong to several.",
    )


class AvailabilityUpdateSerializer(WindowWriteFields):
    """Only the fields sent are changed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False


class DisplayZoneSerializer(serializers.Serializer):
    tz = serializers.CharField(
        required=False,
        validators=[validate_time_zone],
        help_text="Show local times in this zone (default: your home time zone, else the "
        "window's own).",
    )


class AvailabilityFilterSerializer(DisplayZoneSerializer):
    technologist = IdField(required=False, help_text="Technologist's user id")


class OccurrenceQuerySerializer(AvailabilityFilterSerializer):
    start = serializers.DateTimeField(
        validators=[validate_calendar_day],
        help_text="Range start, ISO 8601 date or date-time; without an offset it is read in "
        "`tz` (UTC if none).",
    )
    end = serializers.DateTimeField(
        validators=[validate_calendar_day],
        help_text="Range end (exclusive), at most 62 days on.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": [_("The end must come after the start.")]})
        if attrs["end"] - attrs["start"] > MAX_OCCURRENCE_RANGE:
            raise serializers.ValidationError({"end": [_("Ask for at most 62 days at a time.")]})
        return attrs


class OccurrenceSerializer(serializers.Serializer):
    """One occurrence of a window, in UTC and in the viewer's time zone."""

    window = serializers.IntegerField(source="window.pk")
    technologist = serializers.IntegerField(source="window.technologist_id")
    technologist_name = serializers.CharField(source="window.technologist.display_name")
    starts_at = UTCDateTimeField(source="occurrence.starts_at")
    ends_at = UTCDateTimeField(source="occurrence.ends_at")
    local_time_zone = serializers.SerializerMethodField()
    local_starts_at = serializers.SerializerMethodField()
    local_ends_at = serializers.SerializerMethodField()
    lending_hospital = serializers.IntegerField(
        source="window.lending_hospital_id", allow_null=True
    )
    lending_hospital_name = serializers.CharField(
        source="window.lending_hospital.name", default=None, allow_null=True
    )

    def get_local_time_zone(self, slot: Slot) -> str:
        return str(_zone_for(self.context, slot.window))

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_local_starts_at(self, slot: Slot) -> str:
        return _local(slot.occurrence.starts_at, _zone_for(self.context, slot.window))

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_local_ends_at(self, slot: Slot) -> str:
        return _local(slot.occurrence.ends_at, _zone_for(self.context, slot.window))
