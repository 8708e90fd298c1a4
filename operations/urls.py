from django.urls import path

from operations import audit_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/", views.network_dashboard, name="network_dashboard"),
    path("dashboard/<slug:key>.csv", views.network_dashboard_csv, name="network_dashboard_csv"),
    path(
        "hospitals/<id:hospital_id>/dashboard/",
        views.hospital_dashboard,
        name="hospital_dashboard",
    ),
    path(
        "hospitals/<id:hospital_id>/dashboard/<slug:key>.csv",
        views.hospital_dashboard_csv,
        name="hospital_dashboard_csv",
    ),
    path("hospitals/<id:hospital_id>/audit/", audit_views.hospital_audit, name="hospital_audit"),
    path(
        "hospitals/<id:hospital_id>/audit.csv",
        audit_views.hospital_audit_csv,
        name="hospital_audit_csv",
    ),
]
