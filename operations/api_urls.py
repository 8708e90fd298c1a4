"""The operations API (figures and coverage), under /api/v1/."""

from django.urls import URLPattern, path

from operations import api
from operations.api_audit import HospitalAuditEventsView
from operations.api_coverage import HospitalCoverageView

urlpatterns: list[URLPattern] = [
    path(
        "hospitals/<id:hospital_id>/metrics/",
        api.HospitalMetricsView.as_view(),
        name="api_hospital_metrics",
    ),
    path("metrics/", api.NetworkMetricsView.as_view(), name="api_network_metrics"),
    path(
        "hospitals/<id:hospital_id>/coverage/",
        HospitalCoverageView.as_view(),
        name="api_hospital_coverage",
    ),
    path(
        "hospitals/<id:hospital_id>/audit-events/",
        HospitalAuditEventsView.as_view(),
        name="api_hospital_audit_events",
    ),
]
