from django.urls import path

from core import health, views

# The list of notices, `notifications/`, is marketplace's page (see marketplace.urls).
urlpatterns = [
    # The load balancer's health check (core.health): 200 while this process serves.
    path("healthz", health.healthz, name="healthz"),
    # Where browsers report what the Content Security Policy blocked (settings' report-uri).
    path("csp-report/", views.csp_report, name="csp_report"),
    path("notifications/read-all/", views.notifications_read_all, name="notifications_read_all"),
    path(
        "notifications/<id:notification_id>/open/",
        views.notification_open,
        name="notification_open",
    ),
    path(
        "notifications/<id:notification_id>/read/",
        views.notification_read,
        name="notification_read",
    ),
]
