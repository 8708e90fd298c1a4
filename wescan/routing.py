"""The websocket addresses. The last route takes every address the others do not serve (an
unknown path, a cockpit id that is no id): closed with 4404 rather than a "No route found" error
and an HTTP 500 for the handshake."""

from django.urls import path, re_path

from cockpit.consumers import CockpitConsumer
from core.consumers import NoRouteConsumer, NotificationConsumer
from scheduling.consumers import PlanConsumer

websocket_urlpatterns = [
    path("ws/notifications/", NotificationConsumer.as_asgi()),
    path("ws/cockpit/scanner/", CockpitConsumer.as_asgi(), {"scanner": True}),
    path("ws/cockpit/<id:cockpit_id>/", CockpitConsumer.as_asgi()),
    path("ws/plans/<id:plan_id>/", PlanConsumer.as_asgi()),
    re_path(r"", NoRouteConsumer.as_asgi()),
]
