"""Coverage ahead over the API: a hospital's next four weeks per scanner and day (staffed,
pending, short), and its unfilled sessions urgent first. The hospital's managers and platform
admins, as on the dashboard page; `operations.coverage` says what each word means."""

from typing import Any

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.requests import request_user
from marketplace.selectors import hospital_time_zone
from operations import coverage
from operations.dashboard import access_dashboard


def hours_field(help_text: Any, source: str | None = None) -> serializers.DecimalField:
    """Hours as JSON numbers (4.0, 2.5), as the metrics API writes them, never strings."""
    return serializers.DecimalField(
        max_digits=9,
        decimal_places=2,
        coerce_to_string=False,
        help_text=help_text,
        source=source,
    )


class TallySerializer(serializers.Serializer):
    sessions = serializers.IntegerField()
    hours = hours_field(help_text=_("The sessions' posted hours."))


class CoverageDaySerializer(serializers.Serializer):
    date = serializers.DateField(source="day", help_text=_("The day on the site's wall clock."))
    staffed = TallySerializer(help_text=_("Sessions a technologist has confirmed."))
    pending = TallySerializer(help_text=_("Sessions with only invitations or applications."))
    short = TallySerializer(help_text=_("Open sessions with nobody invited or applying."))


class CoverageScannerSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="scanner.pk")
    name = serializers.CharField(source="scanner.name")
    site = serializers.CharField(source="scanner.site.name")
    days = CoverageDaySerializer(many=True, source="cells")


class UnfilledSerializer(serializers.Serializer):
    posting = serializers.IntegerField(source="posting.pk")
    url = serializers.SerializerMethodField(help_text=_("The posting's page."))
    scanner = serializers.IntegerField(source="posting.scanner_id")
    starts_at = serializers.DateTimeField(source="posting.starts_at")
    ends_at = serializers.DateTimeField(source="posting.ends_at")
    hours = hours_field(source="posting.duration_hours", help_text=_("The posted hours."))
    urgency = serializers.CharField(source="posting.urgency")
    state = serializers.ChoiceField(choices=["pending", "short"])

    def get_url(self, unfilled: coverage.Unfilled) -> str:
        return reverse("posting_detail", args=[unfilled.posting.pk])


class CoverageTotalsSerializer(serializers.Serializer):
    staffed = TallySerializer()
    pending = TallySerializer()
    short = TallySerializer()


class CoverageSerializer(serializers.Serializer):
    hospital = serializers.IntegerField(source="hospital.pk")
    time_zone = serializers.CharField(help_text=_("The wall clock whose today the days start on."))
    start = serializers.DateField(help_text=_("Today."))
    end = serializers.DateField(help_text=_("The last day shown (included)."))
    definition = serializers.SerializerMethodField()
    totals = CoverageTotalsSerializer()
    scanners = CoverageScannerSerializer(many=True, source="rows")
    unfilled = UnfilledSerializer(
        many=True,
        help_text=_("Pending and short sessions not yet over: urgent first, then soonest."),
    )

    def get_definition(self, _: coverage.Coverage) -> str:
        return str(coverage.DEFINITION)


class HospitalCoverageView(APIView):
    """The next four weeks of a hospital's scanners, day by day, and what is still unfilled."""

    @extend_schema(operation_id="hospital_coverage", responses=CoverageSerializer)
    def get(self, request: Request, hospital_id: int) -> Response:
        hospital = access_dashboard(request_user(request), hospital_id)
        ahead = coverage.coverage_ahead(
            hospital=hospital, time_zone=hospital_time_zone(hospital), now=timezone.now()
        )
        return Response(CoverageSerializer(ahead).data)
