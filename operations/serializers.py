"""The dashboard as JSON (read only): the same shapes as `operations.figures`, so that the API,
the page and the CSV carry the same numbers."""

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from operations.figures import GRANULARITIES


@extend_schema_field(
    {
        "oneOf": [{"type": "number"}, {"type": "string"}],
        "nullable": True,
        "description": "A count or an amount (hours, minutes, percent: see the unit), a label, "
        "or null where there is nothing to show (the median of nothing).",
    }
)
class CellField(serializers.Field):
    """A table cell or a chart point as it is: numbers stay numbers (decimals are written as
    JSON numbers, with the one decimal they were rounded to)."""

    def to_representation(self, value: Any) -> Any:
        return value


class PeriodSerializer(serializers.Serializer):
    start = serializers.DateField(help_text=_("The first day, included."))
    end = serializers.DateField(help_text=_("The last day, included."))
    granularity = serializers.ChoiceField(choices=list(GRANULARITIES))
    time_zone = serializers.CharField(help_text=_("The wall clock days and buckets run on."))
    start_at = serializers.DateTimeField(help_text=_("Midnight starting the first day."))
    end_at = serializers.DateTimeField(help_text=_("Midnight after the last day."))
    buckets = serializers.ListField(
        child=serializers.DateField(),
        help_text=_("The first day of each week (Monday) or month the period touches."),
    )


class ValueSerializer(serializers.Serializer):
    label = serializers.CharField()  # type: ignore[assignment]  # a field named "label"
    current = CellField(help_text=_("This period's."))
    previous = CellField(help_text=_("The previous period's."))
    unit = serializers.CharField(help_text=_('"h", "min", "%" or "" for counts.'))


class SeriesSerializer(serializers.Serializer):
    label = serializers.CharField()  # type: ignore[assignment]  # a field named "label"
    values = serializers.ListField(child=CellField(), help_text=_("One per label of the chart."))
    drawn = serializers.BooleanField(
        help_text=_(
            "false for a count the drawn values rest on (how many bookings a median was "
            "taken of): in the table, not drawn, and not in the chart's unit."
        )
    )


class TableSerializer(serializers.Serializer):
    columns = serializers.ListField(child=serializers.CharField())
    rows = serializers.ListField(
        child=serializers.ListField(child=CellField()), help_text=_("One cell per column.")
    )
    links = serializers.ListField(
        child=serializers.CharField(allow_null=True),
        help_text=_(
            "Empty, or one per row: the path the row leads to (for the network, each "
            "hospital's dashboard), null for none."
        ),
    )


class ChartSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["line", "bar"])
    unit = serializers.CharField()
    axis = serializers.CharField(help_text=_("What the labels are: Week, Month, ..."))
    labels = serializers.ListField(child=serializers.CharField())
    series = SeriesSerializer(many=True)
    table = TableSerializer(help_text=_("Exactly the numbers drawn: a row per label."))


class SectionSerializer(serializers.Serializer):
    key = serializers.ChoiceField(
        choices=[
            "hours_recovered",
            "fill_rate",
            "time_to_fill",
            "reliability",
            "help",
            "cockpit",
            "reciprocity",
        ]
    )
    title = serializers.CharField()
    definition = serializers.CharField(
        help_text=_("What the figures mean and how they are counted.")
    )
    headline = ValueSerializer(many=True)
    chart = ChartSerializer()
    breakdown = TableSerializer(
        allow_null=True,
        help_text=_("Per site and scanner (a hospital) or per hospital (the network)."),
    )


class DashboardSerializer(serializers.Serializer):
    scope = serializers.CharField(help_text=_("The hospital's name, or the network."))
    hospital_id = serializers.IntegerField(allow_null=True, help_text=_("null for the network."))
    period = PeriodSerializer()
    previous = PeriodSerializer(help_text=_("The period of the same length just before."))
    sections = SectionSerializer(many=True)
