from django.urls import path

from cockpit.consumers import CockpitConsumer
from core.consumers import NotificationConsumer

websocket_urlpatterns = [
    path("ws/notifications/", NotificationConsumer.as_asgi()),
    path("ws/cockpit/scanner/", CockpitConsumer.as_asgi(), {"scanner": True}),
    path("ws/cockpit/<id:cockpit_id>/", CockpitConsumer.as_asgi()),
]
