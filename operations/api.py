"""The operations dashboard over the API: a hospital's figures (its managers and platform
admins) and the network's (platform admins), for a period and granularity."""

from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.requests import request_user
from marketplace.models import Hospital
from marketplace.selectors import hospital_time_zone
from operations.dashboard import (
    DEFAULT_DAYS,
    MAX_DAYS,
    access_dashboard,
    access_network_dashboard,
    dashboard_for,
    period_from,
)
from operations.figures import Dashboard
from operations.serializers import DashboardSerializer

PERIOD_PARAMETERS = [
    OpenApiParameter(
        "start",
        OpenApiTypes.DATE,
        OpenApiParameter.QUERY,
        required=False,
        description=f"The first day (YYYY-MM-DD), included. Default: {DEFAULT_DAYS} days before "
        "the end.",
    ),
    OpenApiParameter(
        "end",
        OpenApiTypes.DATE,
        OpenApiParameter.QUERY,
        required=False,
        description="The last day (YYYY-MM-DD), included. Default: today (or 12 weeks after the "
        f"start, today at most). At most {MAX_DAYS} days from the start.",
    ),
    OpenApiParameter(
        "granularity",
        OpenApiTypes.STR,
        OpenApiParameter.QUERY,
        required=False,
        enum=["week", "month"],
        description="Buckets of the charts: weeks (Monday first, the default) or months.",
    ),
]


def _answer(request: Request, *, hospital: Hospital | None, time_zone: str) -> Response:
    now = timezone.now()
    period = period_from(
        request.query_params, time_zone=time_zone, today=now.astimezone(ZoneInfo(time_zone)).date()
    )
    dashboard: Dashboard = dashboard_for(hospital=hospital, period=period, now=now)
    return Response(DashboardSerializer(dashboard).data)


class HospitalMetricsView(APIView):
    """A hospital's operations figures (per site and scanner), each with its definition, for
    the period and the one before it. Days and buckets run on the hospital's wall clock. A
    hospital you do not manage is 404, whatever your role in it."""

    @extend_schema(
        operation_id="hospital_metrics", parameters=PERIOD_PARAMETERS, responses=DashboardSerializer
    )
    def get(self, request: Request, hospital_id: int) -> Response:
        hospital = access_dashboard(request_user(request), hospital_id)
        return _answer(request, hospital=hospital, time_zone=hospital_time_zone(hospital))


class NetworkMetricsView(APIView):
    """The whole network's operations figures (per hospital), for platform admins; 404 for
    everyone else. Days and buckets run on the platform's wall clock."""

    @extend_schema(
        operation_id="network_metrics", parameters=PERIOD_PARAMETERS, responses=DashboardSerializer
    )
    def get(self, request: Request) -> Response:
        access_network_dashboard(request_user(request))
        return _answer(request, hospital=None, time_zone=settings.TIME_ZONE)
