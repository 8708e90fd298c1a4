"""The operations API (figures and coverage), under /api/v1/."""

from django.urls import URLPattern, path

from operations.api_coverage import HospitalCoverageView

urlpatterns: list[URLPattern] = [
    path(
        "hospitals/<id:hospital_id>/coverage/",
        HospitalCoverageView.as_view(),
        name="api_hospital_coverage",
    ),
]
